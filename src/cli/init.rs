//! `jsonlift init [DIR]`: write `DIR/jsonlift.toml` inferred from the JSON under DIR.

use std::path::PathBuf;

use clap::Args;

use crate::config::ConfigError;
use crate::infer;

#[derive(Debug, Args)]
pub struct InitArgs {
    /// The folder holding the JSON files; the project file is written into it.
    #[arg(value_name = "DIR", default_value = ".")]
    pub dir: PathBuf,
    /// Overwrite an existing jsonlift.toml.
    #[arg(long)]
    pub force: bool,
    /// Leave out files and folders matching GLOB (`*`, `?`; a name or a path from DIR);
    /// repeatable. Tools' files (package.json, tsconfig.json, ...) are left out already.
    #[arg(long, value_name = "GLOB")]
    pub exclude: Vec<String>,
}

/// Returns whether it succeeded; problems with the input are printed, one per line.
pub fn run(a: &InitArgs, quiet: bool) -> anyhow::Result<bool> {
    let target = a.dir.join("jsonlift.toml");
    if !a.dir.is_dir() {
        return Err(ConfigError::Invalid {
            path: a.dir.clone(),
            message: "not a folder".into(),
        }
        .into());
    }
    if target.exists() && !a.force {
        return Err(ConfigError::Invalid {
            path: target,
            message: "already exists; pass --force to overwrite it, or `jsonlift infer DIR` to print the inferred file instead".into(),
        }
        .into());
    }
    let inferred = match infer::infer_excluding(&a.dir, std::slice::from_ref(&a.dir), &a.exclude) {
        Ok(i) => i,
        Err(problems) => {
            super::print_problems(&problems);
            return Ok(false);
        }
    };
    // Through a temporary file and a rename, so a half-written project file never exists.
    let tmp = a.dir.join(".jsonlift.toml.tmp");
    std::fs::write(&tmp, &inferred.text)
        .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", tmp.display()))?;
    std::fs::rename(&tmp, &target)
        .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", target.display()))?;
    if !quiet {
        println!(
            "wrote {}: {} from {}",
            target.display(),
            infer::plan::count(inferred.collections as u64, "collection"),
            infer::plan::count(inferred.records, "record")
        );
        println!(
            "next: read it (every choice says why), then `jsonlift migrate -c {}`",
            target.display()
        );
    }
    Ok(true)
}
