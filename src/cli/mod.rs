//! The command line: one module per verb, each a thin layer that calls the library and prints
//! its report. Exit codes: 0 success, 1 problems found or the command failed, 2 usage or
//! project-file errors, and a database the project names that cannot be used (unreachable,
//! refused login, missing, too old).

mod backup;
mod backups;
mod check;
mod codegen;
mod copy;
mod export;
mod infer;
mod init;
mod migrate;
mod migrations;
mod output;
mod plan;
mod restore;
pub mod serve;
mod verify;
mod watch;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use crate::backup::pg_tools::ToolError;
use crate::config::{ConfigError, Project};
use crate::migrate::Report;
use crate::store::postgres::ConnectError;

#[derive(Debug, Parser)]
#[command(
    name = "jsonlift",
    version,
    about = "Lift JSON-file storage into a real database, losslessly, and put it back."
)]
pub struct Cli {
    /// Print nothing but errors.
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// More logging (repeat for more); or set JSONLIFT_LOG=debug.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Validate every source against the schema; write nothing.
    Check(check::CheckArgs),
    /// Back up the sources, load them atomically, verify every record, record the run.
    Migrate(migrate::MigrateArgs),
    /// Show what migrate would change now that jsonlift.toml changed (--write: as a numbered file).
    Plan(plan::PlanArgs),
    /// List the numbered SQL migrations, applied and pending.
    Migrations(migrations::MigrationsArgs),
    /// Compare the database with the sources, record by record.
    Verify(verify::VerifyArgs),
    /// Write every source back from the database, in its original shape.
    Export(export::ExportArgs),
    /// Write DIR/jsonlift.toml inferred from the JSON files under DIR.
    Init(init::InitArgs),
    /// Print the project file inferred from the given files and folders.
    Infer(infer::InferArgs),
    /// Take a consistent backup of the live database into the backup folder.
    Backup(backup::BackupArgs),
    /// List the database backups; --verify re-checks them.
    Backups(backups::BackupsArgs),
    /// Replace the database by a backup, or by its state at a moment (--at).
    Restore(restore::RestoreArgs),
    /// Serve the collections as a REST API in the shapes of their source files.
    Serve(serve::ServeArgs),
    /// Generate models and validators for your app's code: drizzle, sqlalchemy, json-schema, zod.
    Codegen(codegen::CodegenArgs),
    /// Keep the database in step with the source files as they change (serve --watch without HTTP).
    Watch(watch::WatchArgs),
    /// Copy the database into another one (PostgreSQL or SQLite), verified row by row.
    Copy(copy::CopyArgs),
}

/// Options every verb that reads the project file shares.
#[derive(Debug, Args)]
pub struct ProjectArgs {
    /// The project file.
    #[arg(short, long, value_name = "FILE", default_value = "jsonlift.toml")]
    pub config: PathBuf,
    /// The database, in place of the project file's `database`: a SQLite file or a
    /// postgres://user@host:port/db URL.
    #[arg(long, value_name = "URL")]
    pub database: Option<String>,
}

impl ProjectArgs {
    pub fn load(&self) -> Result<Project, ConfigError> {
        let project = Project::load(&self.config)?;
        match &self.database {
            Some(d) => project.with_database(d),
            None => Ok(project),
        }
    }
}

/// Runs the parsed command line and maps the outcome to an exit code.
pub fn run(cli: Cli) -> ExitCode {
    let result = match &cli.command {
        Command::Check(a) => check::run(a, cli.quiet).map(|r| r.ok),
        Command::Migrate(a) => migrate::run(a, cli.quiet).map(|r| r.ok),
        Command::Plan(a) => plan::run(a, cli.quiet),
        Command::Migrations(a) => migrations::run(a).map(|_| true),
        Command::Verify(a) => verify::run(a, cli.quiet).map(|r| r.ok),
        Command::Export(a) => export::run(a, cli.quiet).map(|r| r.ok),
        Command::Init(a) => init::run(a, cli.quiet),
        Command::Infer(a) => infer::run(a),
        Command::Backup(a) => backup::run(a, cli.quiet),
        Command::Backups(a) => backups::run(a),
        Command::Restore(a) => restore::run(a, cli.quiet),
        Command::Serve(a) => serve::run(a),
        Command::Codegen(a) => codegen::run(a),
        Command::Copy(a) => copy::run(a, cli.quiet),
        Command::Watch(a) => watch::run(a, cli.quiet),
    };
    match result {
        Ok(ok) => {
            if ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        Err(e) => {
            eprintln!("error: {}", chain(&e));
            // The project names a database that cannot be used as it is, or a program it needs
            // is missing: like a project-file error, it needs the user to change something,
            // not a retry.
            if e.downcast_ref::<ConfigError>().is_some()
                || e.downcast_ref::<ConnectError>().is_some()
                || e.downcast_ref::<ToolError>().is_some()
            {
                ExitCode::from(2)
            } else {
                ExitCode::from(1)
            }
        }
    }
}

/// The error and its causes on one line each, most general first.
fn chain(e: &anyhow::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    for cause in e.chain() {
        let s = cause.to_string();
        if !parts.iter().any(|p| p.contains(&s)) {
            parts.push(s);
        }
    }
    parts.join(": ")
}

/// Prints problems with the input, compiler-style, one per line on stderr.
fn print_problems(problems: &[crate::error::Problem]) {
    for p in problems {
        eprintln!("{p}");
    }
    eprintln!("{} problem(s); nothing was written", problems.len());
}

/// Prints a finished report: JSON on stdout with `--json`; otherwise problems on stderr and a
/// summary on stdout.
pub fn finish(report: Report, json: bool, quiet: bool) -> anyhow::Result<Report> {
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        output::human(&report, quiet);
    }
    Ok(report)
}
