//! `jsonlift backup`: a consistent snapshot of the live database into the backup folder (a
//! SQLite copy, or a `pg_dump` archive of a PostgreSQL schema).

use clap::Args;

use super::ProjectArgs;
use crate::backup::{TakeOptions, take_database};

#[derive(Debug, Args)]
pub struct BackupArgs {
    #[command(flatten)]
    pub project: ProjectArgs,
    /// Compress with zstd (default: `[backups] compress` in jsonlift.toml).
    #[arg(long)]
    pub compress: bool,
}

pub fn run(a: &BackupArgs, quiet: bool) -> anyhow::Result<bool> {
    let project = a.project.load()?;
    // A backup of a database the project file no longer describes would restore the drift.
    drop(crate::migrate::open_existing(
        &project,
        &crate::schema::Schema::build(&project)?,
    )?);
    let opts = TakeOptions {
        compress: a.compress || project.config.backups.compress,
        reason: "manual",
    };
    let e = take_database(&project, opts)?;
    println!("{}", e.data.display());
    if !quiet {
        let m = &e.manifest;
        let rows: u64 = m
            .counts
            .iter()
            .filter(|(t, _)| !t.starts_with("_jsonlift_"))
            .map(|(_, n)| n)
            .sum();
        eprintln!(
            "backup {}: {} bytes, {rows} rows, audit position {}, integrity {}",
            e.name(),
            m.size,
            m.audit_id,
            m.integrity
        );
    }
    Ok(true)
}
