//! `jsonlift copy --to URL`: the project's database into another one, verified row by row.

use clap::Args;

use super::ProjectArgs;
use crate::copy::{self, Options};
use crate::migrate::Progress;

#[derive(Debug, Args)]
pub struct CopyArgs {
    #[command(flatten)]
    pub project: ProjectArgs,
    /// The database to copy into: a postgres://user@host:port/db URL or a SQLite file.
    #[arg(long, value_name = "URL")]
    pub to: String,
    /// The PostgreSQL schema to copy into (default: the project's `pg_schema`, else `public`).
    #[arg(long, value_name = "NAME")]
    pub to_schema: Option<String>,
    /// Replace the jsonlift tables the target already holds (a SQLite target: the file).
    #[arg(long)]
    pub replace: bool,
    /// Print the report as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

pub fn run(a: &CopyArgs, quiet: bool) -> anyhow::Result<bool> {
    let project = a.project.load()?;
    let to = project.clone().with_database(&a.to)?;
    let to_schema = a
        .to_schema
        .as_deref()
        .unwrap_or(project.pg_schema())
        .to_string();
    let report = copy::copy(
        &project,
        to.database(),
        &to_schema,
        Options {
            replace: a.replace,
            progress: Progress::auto(quiet || a.json),
        },
    )?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else if !quiet {
        let rows: u64 = report.tables.iter().map(|(_, n)| n).sum();
        println!(
            "copied {} tables ({rows} rows), {} audit entries and {} ledger rows from {} to {}, every row verified ({:.2}s)",
            report.tables.len(),
            report.audit_entries,
            report.ledger_rows,
            report.from,
            report.to,
            report.seconds
        );
    }
    Ok(true)
}
