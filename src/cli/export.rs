//! `jsonlift export`: write the sources back from the database.

use std::path::PathBuf;

use clap::Args;

use super::{ProjectArgs, finish};
use crate::migrate::{Progress, Report, export};

#[derive(Debug, Args)]
pub struct ExportArgs {
    #[command(flatten)]
    pub project: ProjectArgs,
    /// Folder to write into; each source goes to its path relative to the project file.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Print the report as JSON on stdout.
    #[arg(long)]
    pub json: bool,
    /// Also write each collection without a source, as a JSON array in DIR/<collection>.json.
    #[arg(long)]
    pub all: bool,
}

pub fn run(a: &ExportArgs, quiet: bool) -> anyhow::Result<Report> {
    let project = a.project.load()?;
    let report = export::export_with(&project, &a.out, Progress::auto(quiet || a.json), a.all)?;
    finish(report, a.json, quiet)
}
