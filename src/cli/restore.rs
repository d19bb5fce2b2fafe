//! `jsonlift restore`: put a backup back, or the state at a moment (`--at`).

use clap::Args;

use super::ProjectArgs;
use crate::backup::restore::{RestoreOptions, restore};
use crate::config::Database;

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
    };
    let (target, name, replayed, aside) = match project.database() {
        Database::Postgres(url) => {
            let r = crate::backup::postgres_restore::restore(&project, url, &opts)?;
            let aside = r.aside.map(|s| {
                format!("the previous schema is kept as {s} (DROP SCHEMA {s} CASCADE when it is no longer needed)")
            });
            (r.target, r.backup.name(), r.replayed, aside)
        }
        Database::Sqlite(_) => {
            let r = restore(&project, &opts)?;
            let aside = r
                .aside
                .map(|p| format!("the previous database is kept at {}", p.display()));
            (
                r.db.display().to_string(),
                r.backup.name(),
                r.replayed,
                aside,
            )
        }
    };
    if !quiet {
        println!(
            "restored {target} from backup {name}{}",
            match &a.at {
                Some(t) => format!(" and {replayed} audit entries, to {t}"),
                None => String::new(),
            }
        );
        if let Some(aside) = aside {
            println!("{aside}");
        }
    }
    Ok(true)
}
