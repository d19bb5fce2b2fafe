//! `migrate` into PostgreSQL, with the guarantees it has on SQLite. The whole run is one
//! PostgreSQL transaction
//! ([`Replacement`](crate::store::postgres::fill::Replacement)) that holds the tables against other writers from
//! start to end. The migration itself runs in a scratch SQLite database, exactly as on SQLite:
//! the sources backed up, every record validated, loaded and verified against its source (a
//! duplicate or a broken reference named at its file:line:column), references checked, the
//! ledger and the audit log written, and a second run finding nothing to do.
//!
//! - Into a fresh schema (no jsonlift tables yet), every row goes into PostgreSQL with binary
//!   COPY as the scratch database takes it (`Replacement::load`): PostgreSQL's work overlaps
//!   the migration's instead of following it.
//! - Otherwise what PostgreSQL holds is first read into the scratch database (the collections
//!   whose tables still match the project file; the others are reloaded from their files
//!   anyway), and the result replaces jsonlift's tables (`Replacement::fill`).
//!
//! Either way every table PostgreSQL holds is then compared with what was sent (cell by cell
//! with the scratch database where that differs), and keys, indexes and foreign keys are built,
//! before COMMIT. A failure or a kill at any point leaves PostgreSQL as it was: nothing is
//! committed before the last step, and PostgreSQL rolls back a transaction whose client is gone.

use std::path::PathBuf;

use anyhow::Context;

use super::{Options, Report, database_name, migrate_with};
use crate::config::Project;
use crate::schema::Schema;
use crate::store::database::Db;
use crate::store::postgres::connect::PgUrl;
use crate::store::postgres::db::PgConn;
use crate::store::transfer::CopyReport;

pub fn migrate(project: &Project, opts: &Options, url: &PgUrl) -> anyhow::Result<Report> {
    let schema = Schema::build(project)?;
    let name = database_name(project);
    let mut conn = PgConn::open(url, project.pg_schema(), !opts.dry_run)?;
    let mut target = conn.replacement()?;
    let scratch = tempfile::tempdir()?;
    let scratch_db = scratch.path().join("migrate.db");
    let fresh = target.existing().is_empty();
    if !fresh {
        target
            .hold_and_read(&schema, &scratch_db)
            .with_context(|| format!("reading {name}"))?;
    }
    let local = project
        .clone()
        .with_database(&scratch_db.display().to_string())?;
    let local_opts = Options {
        database_backups: false,
        ..*opts
    };
    let written = |e: anyhow::Error| e.context(format!("writing {name}; nothing was committed"));
    let (mut report, sent) = if fresh && !opts.dry_run {
        let (report, sent) = target
            .load(&schema, |sink| {
                migrate_with(&local, &local_opts, Some(sink))
            })
            .map_err(written)?;
        (report, Some(sent))
    } else {
        (migrate_with(&local, &local_opts, None)?, None)
    };
    report.database = PathBuf::from(&name);
    if report.status != "migrated" {
        // Nothing to write: failed, a dry run, or already migrated.
        return Ok(report);
    }
    let mut source = Db::open(local.database(), local.pg_schema(), local.busy_timeout())?;
    let bar = opts.progress.rows(&format!("write {name}"), 0);
    source
        .read(|src| match &sent {
            // The rows are in: the scratch database gives jsonlift's own tables, and the
            // source to compare a table with cell by cell if it does not match.
            Some(sent) => target.finish_load(src, &schema, sent, None, &mut CopyReport::default()),
            None => target.fill(src, &schema, true, None, &mut CopyReport::default(), &|n| {
                bar.inc(n)
            }),
        })
        .map_err(written)?;
    // The crash tests kill the process here: everything is written, nothing committed.
    crate::backup::pause_at("migrate:postgres-written");
    target
        .commit()
        .with_context(|| format!("committing {name}; nothing was committed"))?;
    Ok(report)
}
