//! The database side. [`Tx`] ([`backend`]) is the seam: one transaction's operations on rows
//! and on jsonlift's own tables ([`bookkeeping`]), implemented per database ([`sqlite`]; [`postgres`] reaches a PostgreSQL server and holds
//! its `Tx`).
//! [`Store`] runs reads and writes as such transactions; [`records::Records`] does the work on
//! them, so every store (the SQLite or PostgreSQL database, the JSON files themselves:
//! `migrate::json_store`, which loads them with the migration's loader) gives the same
//! validation, the same answers and the same audit log.
//!
//! The rest of jsonlift's SQLite work lives here too, as domain operations, so that the
//! modules above `store` need not use rusqlite: a legacy SQLite file as a source ([`legacy`]),
//! backup snapshots and restored files ([`sqlite_file`]), the database a migration changes
//! ([`sqlite_migration`], and its loader's view of it: [`sqlite_load`]), the JSON store's
//! in-memory database ([`memory`]), the process-wide setup ([`init`]). PostgreSQL's migration
//! transaction is [`postgres::replacement`].

pub mod backend;
pub mod bookkeeping;
pub mod bulk;
pub mod contention;
pub mod cursor;
pub mod database;
pub mod deadline;
pub mod digest;
pub mod legacy;
pub mod live;
pub mod memory;
pub mod postgres;
pub mod records;
pub mod refusal;
pub mod search;
pub mod select;
pub mod sqlite;
pub mod sqlite_file;
pub mod sqlite_load;
pub mod sqlite_migration;
#[cfg(test)]
pub mod testing;
pub mod transfer;
pub mod vfs;

use rusqlite::ErrorCode;

use crate::schema::Schema;
pub use crate::schema::dialect::Dialect;
use crate::schema::shred::FieldError;
pub use backend::{Cmp, OrderBy, Refusal, Test, Tx};
pub use live::SqliteStore;
pub use records::Records;

/// Why a store operation failed, in terms the API maps to statuses.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{collection} has no record with key {key:?}")]
    NotFound { collection: String, key: String },
    /// The data breaks the schema's rules: every problem, each at its JSON path.
    #[error("invalid record: {}", list(.0))]
    Invalid(Vec<FieldError>),
    /// The data is fine but clashes with other records: a duplicate key, a reference to a
    /// missing record, a record others still refer to.
    #[error("conflict: {}", list(.0))]
    Conflict(Vec<FieldError>),
    /// A conditional write (`If-Match`) found the record missing or at another version than
    /// the one expected: nothing was written.
    #[error("{collection} record {key:?}: {reason}")]
    Stale {
        collection: String,
        key: String,
        reason: String,
    },
    /// The request's deadline passed before the write committed: it was rolled back.
    #[error("the write took longer than the request may ({waited}); it was rolled back")]
    TimedOut { waited: String },
    #[error("database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("{0:#}")]
    Other(#[from] anyhow::Error),
    /// The store cannot take this now but will soon (the database is being rebuilt from the
    /// files: `serve --watch`'s fallback); nothing was written.
    #[error("{0}")]
    Unavailable(String),
}

fn list(errs: &[FieldError]) -> String {
    errs.iter()
        .map(|e| format!("{}: {}", e.path, e.message))
        .collect::<Vec<_>>()
        .join("; ")
}

impl StoreError {
    pub fn invalid(path: crate::json::JsonPath, message: impl Into<String>) -> StoreError {
        StoreError::Invalid(vec![FieldError {
            path,
            message: message.into(),
        }])
    }

    /// Another process holds the write lock longer than the busy timeout: worth another try.
    /// Whether the write failed because the disk (or the process's file size limit, or a quota)
    /// has no room: SQLite's SQLITE_FULL, an I/O error ENOSPC/EDQUOT/EFBIG, PostgreSQL's
    /// `disk_full` (53100). Nothing was written; writes succeed again once there is room.
    pub fn is_disk_full(&self) -> bool {
        fn sqlite_full(e: &rusqlite::Error) -> bool {
            e.sqlite_error_code() == Some(ErrorCode::DiskFull)
        }
        match self {
            StoreError::Sqlite(e) => sqlite_full(e),
            StoreError::Other(e) => e.chain().any(|c| {
                c.downcast_ref::<rusqlite::Error>().is_some_and(sqlite_full)
                    || c.downcast_ref::<std::io::Error>().is_some_and(|io| {
                        matches!(
                            io.kind(),
                            std::io::ErrorKind::StorageFull
                                | std::io::ErrorKind::QuotaExceeded
                                | std::io::ErrorKind::FileTooLarge
                        )
                    })
                    || c.downcast_ref::<::postgres::Error>()
                        .and_then(::postgres::Error::code)
                        .is_some_and(|code| *code == ::postgres::error::SqlState::DISK_FULL)
            }),
            _ => false,
        }
    }

    /// Whether the database itself is unusable (corrupt, not a database, gone, an I/O error):
    /// what makes `serve --watch` fall back to the files.
    pub fn is_broken_database(&self) -> bool {
        fn broken(e: &rusqlite::Error) -> bool {
            matches!(
                e.sqlite_error_code(),
                Some(
                    ErrorCode::DatabaseCorrupt
                        | ErrorCode::NotADatabase
                        | ErrorCode::SystemIoFailure
                        | ErrorCode::CannotOpen
                )
            )
        }
        if self.is_disk_full() {
            return false;
        }
        match self {
            StoreError::Sqlite(e) => broken(e),
            StoreError::Other(e) => e
                .chain()
                .any(|c| c.downcast_ref::<rusqlite::Error>().is_some_and(broken)),
            _ => false,
        }
    }

    pub fn is_busy(&self) -> bool {
        let code = match self {
            StoreError::Sqlite(e) => e.sqlite_error_code(),
            StoreError::Other(e) => e
                .downcast_ref::<rusqlite::Error>()
                .and_then(|e| e.sqlite_error_code()),
            _ => None,
        };
        matches!(
            code,
            Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked)
        )
    }
}

/// Somewhere records live: it runs reads on a consistent snapshot and writes in one
/// transaction each (committed only if the closure returns `Ok`), handing the closure a [`Tx`].
/// A closure may run more than once when the store retries after contention, so it must not
/// keep state between runs.
pub trait Store: Send + Sync {
    fn schema(&self) -> &Schema;
    fn read(&self, f: &mut dyn FnMut(&dyn Tx) -> Result<(), StoreError>) -> Result<(), StoreError>;
    fn write(&self, f: &mut dyn FnMut(&dyn Tx) -> Result<(), StoreError>)
    -> Result<(), StoreError>;
    /// Closes the connections kept for reuse (a restore needs the database closed); the next
    /// use opens new ones.
    fn close_connections(&self) {}
    /// Whether reading a record by key takes microseconds and never waits on a lock, so the
    /// API may do it without a blocking thread.
    fn point_reads_are_quick(&self) -> bool {
        false
    }
    /// The database file, when the records live in one (for its size in `/_admin/metrics`).
    fn database_file(&self) -> Option<&std::path::Path> {
        None
    }
    /// Whether the records live in a database that the project file can drift from (the JSON
    /// store reads the files themselves).
    fn is_database(&self) -> bool {
        true
    }
    /// Why the store cannot be written now, when it cannot (`serve --watch` answering from the
    /// files while the database is rebuilt): the live sync then applies nothing.
    fn unusable(&self) -> Option<String> {
        None
    }
    /// Audit entries matching `f`, oldest first.
    fn audit(&self, f: &crate::audit::Filter) -> Result<Vec<crate::audit::Entry>, StoreError> {
        let mut out = Vec::new();
        self.read(&mut |tx| {
            out = tx.audit_query(f)?;
            Ok(())
        })?;
        Ok(out)
    }
}

/// Sets up the database libraries for this process: call once at start-up, before any thread
/// or connection exists (the binary's `main` does).
pub fn init() {
    // SQLite counts every allocation under a global mutex unless told not to; nothing here
    // reads those statistics. Must come before SQLite initializes (the first connection).
    // SAFETY: a documented start-up option; the caller sets it before any thread or connection
    // exists, and a later call (SQLite initialized) only returns SQLITE_MISUSE.
    unsafe {
        rusqlite::ffi::sqlite3_config(rusqlite::ffi::SQLITE_CONFIG_MEMSTATUS, 0 as std::ffi::c_int);
    }
}

/// Runs `f` on a read snapshot and returns what it computed.
pub fn read<T>(
    store: &dyn Store,
    mut f: impl FnMut(&dyn Tx) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    let mut out = None;
    store.read(&mut |c| {
        out = Some(f(c)?);
        Ok(())
    })?;
    Ok(out.expect("the store ran the read"))
}

/// Runs `f` in one write transaction and returns what it computed.
pub fn write<T>(
    store: &dyn Store,
    mut f: impl FnMut(&dyn Tx) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    let mut out = None;
    store.write(&mut |c| {
        out = Some(f(c)?);
        Ok(())
    })?;
    Ok(out.expect("the store ran the write"))
}
