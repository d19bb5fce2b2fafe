//! `migrate` into PostgreSQL, with the guarantees it has on SQLite. The whole run is one
//! PostgreSQL transaction that holds the tables against other writers from start to end:
//! 1. what PostgreSQL holds is read into a scratch SQLite database (the collections whose
//!    tables still match the project file; the others are reloaded from their files anyway);
//! 2. the migration runs there, as on SQLite: the sources backed up, every record validated,
//!    loaded and verified against its source, references checked, the ledger and the audit log
//!    written, and a second run finding nothing to do;
//! 3. the result replaces jsonlift's tables in PostgreSQL (binary COPY; every row compared
//!    with the scratch database's, [`crate::copy`]; then keys, indexes and foreign keys) before
//!    COMMIT.
//!
//! A failure or a kill at any point leaves PostgreSQL as it was: nothing is committed before
//! the last step, and PostgreSQL rolls back a transaction whose client is gone.

use std::path::PathBuf;

use anyhow::Context;

use super::{Options, Report, database_name, migrate as migrate_sqlite};
use crate::config::Project;
use crate::copy::{CopyReport, fill_postgres, fill_sqlite};
use crate::schema::Schema;
use crate::schema::ddl::quote;
use crate::store::StoreError;
use crate::store::postgres::connect::PgUrl;
use crate::store::postgres::db::{PgConn, jsonlift_tables};
use crate::store::postgres::tx::PgTx;

pub fn migrate(project: &Project, opts: &Options, url: &PgUrl) -> anyhow::Result<Report> {
    let schema = Schema::build(project)?;
    let name = database_name(project);
    let mut conn = PgConn::open(url, project.pg_schema(), !opts.dry_run)?;
    let statements = &mut conn.statements;
    let mut tx = conn.client.transaction()?;
    let existing = jsonlift_tables(&mut tx)?;
    let scratch = tempfile::tempdir()?;
    let scratch_db = scratch.path().join("migrate.db");
    let quiet = super::Progress::Quiet.rows("", 0);
    if !existing.is_empty() {
        // Other writers wait until this run commits or rolls back (readers go on): what is read
        // now is what is replaced at the end.
        let mut tables: Vec<String> = existing.iter().map(|t| quote(t)).collect();
        let present = {
            let ptx = PgTx::new(&mut tx, statements);
            matching_tables(&ptx, &schema)?
        };
        tables.extend(present.iter().map(|&t| quote(&schema.tables[t].name)));
        tx.batch_execute(&format!(
            "LOCK TABLE {} IN EXCLUSIVE MODE",
            tables.join(", ")
        ))?;
        let ptx = PgTx::new(&mut tx, statements);
        fill_sqlite(
            &ptx,
            &schema,
            &present,
            &scratch_db,
            false,
            None,
            &mut CopyReport::default(),
            &quiet,
        )
        .with_context(|| format!("reading {name}"))?;
    }
    let local = project
        .clone()
        .with_database(&scratch_db.display().to_string())?;
    let mut report = migrate_sqlite(
        &local,
        &Options {
            database_backups: false,
            ..*opts
        },
    )?;
    report.database = PathBuf::from(&name);
    if report.status != "migrated" {
        // Nothing to write: failed, a dry run, or already migrated.
        return Ok(report);
    }
    let mut source = crate::store::database::Db::open(
        local.database(),
        local.pg_schema(),
        local.busy_timeout(),
    )?;
    let bar = opts.progress.rows(&format!("write {name}"), 0);
    source
        .read(|src| {
            fill_postgres(
                src,
                &schema,
                &mut tx,
                statements,
                true,
                None,
                &mut CopyReport::default(),
                &bar,
            )
        })
        .with_context(|| format!("writing {name}; nothing was committed"))?;
    // The crash tests kill the process here: everything is written, nothing committed.
    crate::backup::pause_at("migrate:postgres-written");
    tx.commit()
        .with_context(|| format!("committing {name}; nothing was committed"))?;
    Ok(report)
}

/// The tables of the collections whose tables PostgreSQL holds as the project file describes
/// them (every column there, of its type), in creation order.
fn matching_tables(tx: &PgTx, schema: &Schema) -> Result<Vec<usize>, StoreError> {
    use crate::store::Tx;
    let mut out = Vec::new();
    for c in 0..schema.collections.len() {
        let tables = schema.tables_of(c);
        let mut all = true;
        for &t in &tables {
            let table = &schema.tables[t];
            let have = tx.columns(&table.name)?;
            let same = have.is_some_and(|cols| {
                cols.len() == table.columns.len()
                    && table
                        .columns
                        .iter()
                        .all(|c| cols.iter().any(|(n, _)| *n == c.name))
            });
            all &= same;
        }
        if all {
            out.extend(tables);
        }
    }
    Ok(out)
}
