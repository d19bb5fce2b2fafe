//! Backups. [`sources`] is the hashed snapshot of the source files that `migrate` takes before
//! it reads them; the other modules back up the database itself: [`db`] takes a consistent
//! snapshot of the live database, [`manifest`] describes and checks one, [`retention`] decides
//! which to keep, [`restore`] puts one back (atomically, optionally replayed to a moment by
//! [`pitr`]), [`lock`] keeps a restore and a running server apart, [`schedule`] takes them
//! periodically for `serve`, [`serving`] does both inside a running server. On PostgreSQL,
//! [`postgres`] takes and checks backups with `pg_dump` ([`pg_tools`] runs PostgreSQL's client
//! programs) and [`postgres_restore`] puts one back into the project's schema. See
//! docs/backup.md.

pub mod db;
pub mod lock;
pub mod manifest;
pub mod pg_tools;
pub mod pitr;
pub mod postgres;
pub mod postgres_restore;
pub mod restore;
pub mod retention;
pub mod schedule;
pub mod serving;
pub mod sources;
pub mod tee;

pub use db::{TakeOptions, take};
pub use lock::{ServerLock, hold_server_lock};

use std::path::PathBuf;

use crate::config::{Database, Project};
use manifest::Entry;
use restore::RestoreOptions;
pub use sources::{
    BackupError, MANIFEST, Manifest, ManifestEntry, ManifestSource, Snapshot, hash_file,
    hash_folder, snapshot,
};

/// Test hook: with `JSONLIFT_TEST_PAUSE_AT=<step>` (e.g. `restore:renamed`), the process says so
/// on stderr and sleeps at that step, so a test can kill it at exactly that moment. Not for
/// production use; unset, it costs one environment lookup.
pub(crate) fn pause_at(step: &str) {
    if std::env::var("JSONLIFT_TEST_PAUSE_AT").is_ok_and(|v| v == step) {
        eprintln!("jsonlift: paused at {step} (JSONLIFT_TEST_PAUSE_AT)");
        std::thread::sleep(std::time::Duration::from_secs(600));
    }
}

/// fsync a file by path.
pub(crate) fn sync_path(path: &std::path::Path) -> std::io::Result<()> {
    std::fs::OpenOptions::new()
        .read(true)
        .open(path)?
        .sync_all()
}

/// fsync a folder, so that a rename inside it survives a power loss.
pub(crate) fn sync_dir(dir: &std::path::Path) {
    let _ = std::fs::File::open(dir).and_then(|d| d.sync_all());
}

/// Takes a backup of the project's database, whichever it is: a SQLite copy ([`db::take`]) or
/// a `pg_dump` archive ([`postgres::take`]), into the same folder with the same manifest.
pub fn take_database(project: &Project, opts: TakeOptions) -> anyhow::Result<Entry> {
    match project.database() {
        Database::Postgres(url) => postgres::take(project, url, opts),
        Database::Sqlite(_) => db::take(project, opts),
    }
}

/// Where a restore kept the database it replaced.
#[derive(Debug, Clone)]
pub enum Aside {
    /// SQLite: the previous file, beside the live one.
    File(PathBuf),
    /// PostgreSQL: the previous schema, renamed.
    Schema(String),
}

impl Aside {
    /// What a user reads: where it is and how to be rid of it.
    pub fn describe(&self) -> String {
        match self {
            Aside::File(p) => format!("the previous database is kept at {}", p.display()),
            Aside::Schema(s) => format!(
                "the previous schema is kept as {s} (DROP SCHEMA {s} CASCADE when it is no longer needed)"
            ),
        }
    }

    /// The path or schema name, as the admin route reports it.
    pub fn name(&self) -> String {
        match self {
            Aside::File(p) => p.display().to_string(),
            Aside::Schema(s) => s.clone(),
        }
    }
}

/// What a restore did, on either database.
#[derive(Debug)]
pub struct Restored {
    pub backup: Entry,
    /// The database restored: a file path, or `database.schema` on PostgreSQL.
    pub target: String,
    pub aside: Option<Aside>,
    /// Audit entries replayed (with `--at`).
    pub replayed: u64,
}

/// A restore refused because other sessions (servers) use the database; nothing was changed.
/// A server answers it with 409, as it answers the SQLite lock held by other servers.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct InUse(pub String);

/// Restores the project's database from a backup (or to a moment, `opts.at`), whichever
/// database it is: [`restore::restore`] swaps a SQLite file, [`postgres_restore::restore`] a
/// PostgreSQL schema.
pub fn restore_database(project: &Project, opts: &RestoreOptions) -> anyhow::Result<Restored> {
    Ok(match project.database() {
        Database::Postgres(url) => {
            let r = postgres_restore::restore(project, url, opts)?;
            Restored {
                backup: r.backup,
                target: r.target,
                aside: r.aside.map(Aside::Schema),
                replayed: r.replayed,
            }
        }
        Database::Sqlite(_) => {
            let r = restore::restore(project, opts)?;
            Restored {
                backup: r.backup,
                target: r.db.display().to_string(),
                aside: r.aside.map(Aside::File),
                replayed: r.replayed,
            }
        }
    })
}
