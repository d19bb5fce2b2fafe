//! `jsonlift restore`: put a backup back, or the state at a moment (`--at`).

use clap::Args;

use super::ProjectArgs;
use crate::backup::restore::RestoreOptions;
use crate::backup::restore_database;

#[derive(Debug, Args)]
pub struct RestoreArgs {
    #[command(flatten)]
    pub project: ProjectArgs,
    /// The backup to restore (a name from `jsonlift backups`, or its path); default the latest,
    /// or with --at the latest taken at or before TIME.
    #[arg(value_name = "BACKUP")]
    pub backup: Option<String>,
    /// Restore the state at this moment (RFC 3339): a backup, then the audit log replayed.
    #[arg(long, value_name = "TIME")]
    pub at: Option<String>,
}

pub fn run(a: &RestoreArgs, quiet: bool) -> anyhow::Result<bool> {
    let project = a.project.load()?;
    let opts = RestoreOptions {
        backup: a.backup.clone(),
        at: a.at.clone(),
        from_server: false,
        actor: crate::audit::Actor {
            name: "cli".into(),
            request_id: String::new(),
        },
    };
    let r = restore_database(&project, &opts)?;
    if !quiet {
        println!(
            "restored {} from backup {}{}",
            r.target,
            r.backup.name(),
            match &a.at {
                Some(t) => format!(" and {} audit entries, to {t}", r.replayed),
                None => String::new(),
            }
        );
        if let Some(aside) = r.aside {
            println!("{}", aside.describe());
        }
    }
    Ok(true)
}
