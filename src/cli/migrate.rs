//! `jsonlift migrate`: the main job.

use clap::Args;

use super::{ProjectArgs, finish};
use crate::migrate::{self, Options, Progress, Report};

#[derive(Debug, Args)]
pub struct MigrateArgs {
    #[command(flatten)]
    pub project: ProjectArgs,
    /// Do everything in a temporary database and leave nothing behind.
    #[arg(long)]
    pub dry_run: bool,
    /// Replace the collections whose sources (or schema) changed since the last migration.
    #[arg(long)]
    pub reimport: bool,
    /// Print the report as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

pub fn run(a: &MigrateArgs, quiet: bool) -> anyhow::Result<Report> {
    let project = a.project.load()?;
    let opts = Options {
        dry_run: a.dry_run,
        reimport: a.reimport,
        progress: Progress::auto(quiet || a.json),
        database_backups: true,
    };
    let report = migrate::migrate(&project, &opts)?;
    finish(report, a.json, quiet)
}
