//! `jsonlift verify`: compare the database with its sources.

use clap::Args;

use super::{ProjectArgs, finish};
use crate::migrate::{self, Progress, Report};

#[derive(Debug, Args)]
pub struct VerifyArgs {
    #[command(flatten)]
    pub project: ProjectArgs,
    /// Print the report as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

pub fn run(a: &VerifyArgs, quiet: bool) -> anyhow::Result<Report> {
    let project = a.project.load()?;
    let report = migrate::verify_db(&project, Progress::auto(quiet || a.json))?;
    finish(report, a.json, quiet)
}
