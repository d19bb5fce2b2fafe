//! `jsonlift codegen TARGET`: models and validators for the app's own code, from the schema.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

use super::ProjectArgs;
use crate::codegen::{self, CodegenOptions, Target};
use crate::schema::Schema;

#[derive(Debug, Args)]
pub struct CodegenArgs {
    /// What to generate.
    #[arg(value_enum)]
    pub target: Target,
    #[command(flatten)]
    pub project: ProjectArgs,
    /// Write to FILE instead of stdout (atomically: a reader never sees half a file).
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

pub fn run(a: &CodegenArgs) -> anyhow::Result<bool> {
    let project = a.project.load()?;
    let schema = Schema::build(&project)?;
    // Models of tables the database does not have would fail in the app, not here.
    let exists = match project.database() {
        crate::config::Database::Sqlite(p) => p.exists(),
        crate::config::Database::Postgres(_) => true,
    };
    if exists {
        drop(crate::migrate::open_existing(&project, &schema)?);
    }
    let text = codegen::generate(&schema, a.target, &CodegenOptions::for_project(&project));
    match &a.out {
        None => std::io::stdout().write_all(text.as_bytes())?,
        Some(path) => {
            let dir = match path.parent() {
                Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
                _ => PathBuf::from("."),
            };
            let mut tmp = tempfile::NamedTempFile::new_in(&dir)
                .with_context(|| format!("cannot write into {}", dir.display()))?;
            tmp.write_all(text.as_bytes())?;
            tmp.persist(path)
                .with_context(|| format!("cannot write {}", path.display()))?;
        }
    }
    Ok(true)
}
