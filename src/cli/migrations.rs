//! `jsonlift migrations`: the numbered SQL migrations (docs/evolve.md), applied and pending.

use clap::Args;

use super::ProjectArgs;
use crate::config::Database;
use crate::migrate::numbered;
use crate::store::database::Db;

#[derive(Debug, Args)]
pub struct MigrationsArgs {
    #[command(flatten)]
    pub project: ProjectArgs,
    /// Print the list as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

pub fn run(a: &MigrationsArgs) -> anyhow::Result<()> {
    let project = a.project.load()?;
    let dir = project.migrations_dir();
    let applied = match project.database() {
        // Not migrated yet: every file is pending.
        Database::Sqlite(p) if !p.exists() => Vec::new(),
        database => Db::open(database, project.pg_schema(), project.busy_timeout())?
            .read(|t| Ok(t.evolution_read()?.migrations))?,
    };
    let status = numbered::status(&dir, applied)?;
    if a.json {
        let out = serde_json::json!({
            "dir": dir,
            "applied": status.applied.iter().map(|m| serde_json::json!({
                "number": m.number, "name": m.name, "sha256": m.sha256, "applied_at": m.applied_at
            })).collect::<Vec<_>>(),
            "pending": status.pending.iter().map(|f| serde_json::json!({
                "number": f.number, "name": f.name, "sha256": f.sha256
            })).collect::<Vec<_>>(),
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(());
    }
    if status.applied.is_empty() && status.pending.is_empty() {
        println!("no numbered migrations in {}", dir.display());
        return Ok(());
    }
    for m in &status.applied {
        println!("applied  {}  {}", m.name, m.applied_at);
    }
    for f in &status.pending {
        println!("pending  {}", f.name);
    }
    Ok(())
}
