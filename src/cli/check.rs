//! `jsonlift check`: validate the sources, write nothing.

use clap::Args;

use super::{ProjectArgs, finish};
use crate::migrate::{self, Progress, Report};

#[derive(Debug, Args)]
pub struct CheckArgs {
    #[command(flatten)]
    pub project: ProjectArgs,
    /// Print the report as JSON on stdout.
    #[arg(long)]
    pub json: bool,
    /// Only check that every source parses (the fastest pass over the data).
    #[arg(long)]
    pub syntax_only: bool,
}

pub fn run(a: &CheckArgs, quiet: bool) -> anyhow::Result<Report> {
    let project = a.project.load()?;
    let report = migrate::check(&project, a.syntax_only, Progress::auto(quiet || a.json))?;
    finish(report, a.json, quiet)
}
