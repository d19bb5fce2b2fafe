//! `jsonlift copy --to URL`: the project's database, SQLite or PostgreSQL, into another one,
//! with its audit log, ledger and source fingerprints, verified row by row before it is
//! committed. It is the "later PostgreSQL" step of seeds 001 and 002: by then the database, not
//! the old files, holds the truth, so the copy reads the database, not the sources.
//!
//! The source is read in one snapshot; the target is written in one transaction (PostgreSQL)
//! or built beside its final name and renamed into place (SQLite), so a failure or a kill leaves
//! the target as it was. Rows go in table by table, parents first. Into PostgreSQL: binary COPY
//! (the source read and encoded on this thread, sent on another), every table read back and
//! compared with what was sent (a SHA-256 of each row with its row number, so the source is read
//! once; a table that does not match is compared cell by cell, which names the row), then keys,
//! indexes, triggers and the check of every reference. Into SQLite: inserts, indexes, the check
//! of every reference, then every table read back and compared with the source cell by cell.

use std::path::Path;
use std::time::Instant;

use anyhow::{Context, bail};

use crate::config::{Database, Project};
use crate::migrate::Progress;
use crate::migrate::drift;
use crate::migrate::progress::RowsBar;
use crate::schema::Schema;
use crate::store::database::Db;
use crate::store::postgres::db::PgConn;
use crate::store::sqlite::fill_sqlite;
pub use crate::store::transfer::CopyReport;
use crate::store::transfer::tables_in_order;
use crate::store::{StoreError, Tx};

#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// Replace the jsonlift tables the target already holds.
    pub replace: bool,
    pub progress: Progress,
}

/// A name for a database in messages: a path, or the URL with its password masked and the
/// schema.
fn describe(d: &Database, pg_schema: &str) -> String {
    match d {
        Database::Sqlite(p) => p.display().to_string(),
        Database::Postgres(u) => format!("{u} (schema {pg_schema})"),
    }
}

/// Copies the project's database into `to` (in schema `to_schema` there, on PostgreSQL).
pub fn copy(
    project: &Project,
    to: &Database,
    to_schema: &str,
    opts: Options,
) -> anyhow::Result<CopyReport> {
    let t0 = Instant::now();
    let schema = Schema::build(project)?;
    let from = describe(project.database(), project.pg_schema());
    let target = describe(to, to_schema);
    if from == target {
        bail!("{target} is the project's own database; copy to another one");
    }
    let mut source = Db::open(
        project.database(),
        project.pg_schema(),
        project.busy_timeout(),
    )?;
    let mut report = CopyReport {
        from: from.clone(),
        to: target.clone(),
        ..CopyReport::default()
    };
    source.read(|src| {
        drift::ensure(src, &schema, &from)?;
        let total: u64 = schema
            .tables
            .iter()
            .map(|t| src.count(t))
            .sum::<Result<u64, StoreError>>()?;
        let bar = opts.progress.rows(&format!("copy to {target}"), total);
        match to {
            Database::Postgres(url) => {
                let mut conn = PgConn::open(url, to_schema, true)?;
                into_postgres(src, &schema, &mut conn, opts, &mut report, &bar)
                    .with_context(|| format!("copying into {target}; nothing was changed there"))?;
            }
            Database::Sqlite(path) => {
                into_sqlite(src, &schema, path, opts, &mut report, &bar)
                    .with_context(|| format!("copying into {target}; nothing was changed there"))?;
            }
        }
        bar.finish(total);
        Ok(())
    })?;
    report.seconds = t0.elapsed().as_secs_f64();
    Ok(report)
}

fn into_postgres(
    src: &dyn Tx,
    schema: &Schema,
    conn: &mut PgConn,
    opts: Options,
    report: &mut CopyReport,
    bar: &RowsBar,
) -> anyhow::Result<()> {
    let name = conn.name.clone();
    let mut rep = conn.replacement()?;
    if !rep.existing().is_empty() && !opts.replace {
        bail!(
            "{name} already holds jsonlift tables ({}); pass --replace to replace them",
            rep.existing().join(", ")
        );
    }
    rep.fill(src, schema, opts.replace, Some("copy"), report, &|n| {
        bar.inc(n)
    })?;
    rep.commit()?;
    Ok(())
}

fn into_sqlite(
    src: &dyn Tx,
    schema: &Schema,
    path: &Path,
    opts: Options,
    report: &mut CopyReport,
    bar: &RowsBar,
) -> anyhow::Result<()> {
    let all = tables_in_order(schema);
    fill_sqlite(
        src,
        schema,
        &all,
        path,
        opts.replace,
        Some("copy"),
        report,
        &|n| bar.inc(n),
    )
}
