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
