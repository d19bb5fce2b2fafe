//! A SQLite database file handled whole, for backups and restores (`backup::{db, pitr,
//! restore}`): a consistent snapshot of the live database (`VACUUM INTO`), a backup opened
//! without touching it, what it holds (integrity, row counts, audit position, schema), and the
//! restored file being prepared, onto which point-in-time recovery replays the live audit log.
//! The backup code says what to do and when; how SQLite does it is here.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use rusqlite::{Connection, ErrorCode, OpenFlags};

use super::sqlite::{self, SqliteTx};
use super::{Tx, bookkeeping};
use crate::audit::Entry;

/// Why a snapshot failed, in the terms its caller advises on.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    /// The live database could not be opened.
    #[error("{0:#}")]
    Open(anyhow::Error),
    /// The copy could not be written: a full disk, an I/O error, a folder that cannot be
    /// written.
    #[error(transparent)]
    CannotWrite(rusqlite::Error),
    /// Another process held the database's lock past the busy timeout.
    #[error(transparent)]
    Busy(rusqlite::Error),
    #[error(transparent)]
    Failed(rusqlite::Error),
}

/// A consistent snapshot of the live database at `db` written to the new file `out`: `VACUUM
/// INTO` reads inside one read transaction (WAL readers do not block writers), so the copy is
/// the database at one moment.
pub fn snapshot(db: &Path, out: &Path, busy: Duration) -> Result<(), SnapshotError> {
    let src = sqlite::open_read_only(db, busy)
        .with_context(|| format!("opening {}", db.display()))
        .map_err(SnapshotError::Open)?;
    src.execute("VACUUM INTO ?1", [out.to_string_lossy()])
        .map_err(|e| match e.sqlite_error_code() {
            Some(ErrorCode::DiskFull | ErrorCode::SystemIoFailure | ErrorCode::CannotOpen) => {
                SnapshotError::CannotWrite(e)
            }
            Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => SnapshotError::Busy(e),
            _ => SnapshotError::Failed(e),
        })?;
    Ok(())
}

/// A database file opened on its own (a backup, a restore being prepared, the live database's
/// audit log read for a replay).
pub struct SqliteFile {
    conn: Connection,
}

impl SqliteFile {
    /// Opens a database file that nothing else writes (a backup, a file being prepared) without
    /// creating -wal/-shm beside it.
    pub fn open_immutable(path: &Path) -> anyhow::Result<SqliteFile> {
        let abs = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
        let mut uri = String::from("file:");
        for c in abs.to_string_lossy().chars() {
            match c {
                '%' => uri.push_str("%25"),
                '?' => uri.push_str("%3f"),
                '#' => uri.push_str("%23"),
                c => uri.push(c),
            }
        }
        uri.push_str("?immutable=1");
        let conn = Connection::open_with_flags(
            &uri,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_URI,
        )
        .with_context(|| format!("opening {}", path.display()))?;
        sqlite::configure(&conn)?;
        Ok(SqliteFile { conn })
    }

    /// Opens the restored database being prepared (a plain copy of a backup, not yet live): in
    /// rollback-journal mode while it is written, references enforced.
    pub fn open_restored(path: &Path) -> anyhow::Result<SqliteFile> {
        let conn =
            sqlite::open_plain(path).with_context(|| format!("opening {}", path.display()))?;
        conn.pragma_update(None, "journal_mode", "DELETE")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        Ok(SqliteFile { conn })
    }

    /// Opens the live database at `db` to read its audit log.
    pub fn open_live(db: &Path, busy: Duration) -> anyhow::Result<SqliteFile> {
        // A restore killed while the live database left WAL mode leaves a hot journal, which a
        // read-only connection cannot roll back ("attempt to write a readonly database"): a
        // read-write connection's first read does (giving back the database as it was).
        let journal = PathBuf::from(format!("{}-journal", db.display()));
        if journal.exists() {
            let conn =
                sqlite::open_plain(db).with_context(|| format!("opening {}", db.display()))?;
            conn.busy_timeout(busy)?;
            conn.query_row("SELECT count(*) FROM sqlite_master", [], |_| Ok(()))
                .with_context(|| format!("recovering {} from its journal", db.display()))?;
        }
        let conn = sqlite::open_read_only(db, busy)
            .with_context(|| format!("opening {}", db.display()))?;
        Ok(SqliteFile { conn })
    }

    /// `PRAGMA integrity_check`'s findings (`["ok"]` for a sound database).
    pub fn integrity_problems(&self) -> anyhow::Result<Vec<String>> {
        let mut problems = Vec::new();
        let mut stmt = self.conn.prepare("PRAGMA integrity_check")?;
        let mut rows = stmt.query([])?;
        while let Some(r) = rows.next()? {
            problems.push(r.get::<_, String>(0)?);
        }
        Ok(problems)
    }

    /// The row count of every table (SQLite's own excepted), by name.
    pub fn table_counts(&self) -> anyhow::Result<BTreeMap<String, u64>> {
        let mut counts = BTreeMap::new();
        let names: Vec<String> = self
            .conn
            .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")?
            .query_map([], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        for n in names {
            let c: i64 = self.conn.query_row(
                &format!("SELECT count(*) FROM {}", crate::schema::ddl::quote(&n)),
                [],
                |r| r.get(0),
            )?;
            counts.insert(n, c as u64);
        }
        Ok(counts)
    }

    /// The last audit entry: its id and time (0 and none when there is none).
    pub fn audit_position(&self) -> anyhow::Result<(i64, Option<String>)> {
        Ok(bookkeeping::audit_position(&self.conn)?)
    }

    /// The schema fingerprint each source's migration recorded: (source, fingerprint).
    pub fn schema_hashes(&self) -> anyhow::Result<Vec<(String, String)>> {
        Ok(bookkeeping::schema_hashes(&self.conn)?)
    }

    /// Whether the database has an audit log (a backup from before it existed has none).
    pub fn has_audit(&self) -> anyhow::Result<bool> {
        Ok(bookkeeping::has_audit(&self.conn)?)
    }

    /// The time of audit entry `id`, if there is one.
    pub fn audit_time(&self, id: i64) -> anyhow::Result<Option<String>> {
        Ok(bookkeeping::audit_time(&self.conn, id)?)
    }

    /// The audit entries after `id`, in id order, to `f` until it returns false.
    pub fn audit_after(
        &self,
        id: i64,
        f: &mut dyn FnMut(Entry) -> anyhow::Result<bool>,
    ) -> anyhow::Result<()> {
        bookkeeping::audit_after(&self.conn, id, f)
    }

    /// Runs `f` in one write transaction on this file: committed if it returns `Ok`, rolled back
    /// otherwise.
    pub fn write<T>(&self, f: impl FnOnce(&dyn Tx) -> anyhow::Result<T>) -> anyhow::Result<T> {
        self.conn.execute_batch("BEGIN IMMEDIATE")?;
        match f(&SqliteTx::new(&self.conn)) {
            Ok(out) => {
                self.conn.execute_batch("COMMIT")?;
                Ok(out)
            }
            Err(e) => {
                let _ = self.conn.execute_batch("ROLLBACK");
                Err(e)
            }
        }
    }

    /// Ends the preparation of a restored database: it goes live in WAL like every jsonlift
    /// database; closing the only connection folds and removes its -wal.
    pub fn finish_restored(self) -> anyhow::Result<()> {
        let mode: String = self
            .conn
            .query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))?;
        debug_assert_eq!(mode, "wal");
        self.conn.close().map_err(|(_, e)| e)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by the restore crash harness (tests/cli/crash_backup.rs): `restore --at` killed
    /// while the live database left WAL mode left a hot journal, and every later `restore --at`
    /// failed with "attempt to write a readonly database".
    #[test]
    fn the_live_audit_log_is_read_after_a_hot_journal_is_rolled_back() {
        let dir = tempfile::tempdir().unwrap();
        let (db, crashed) = (dir.path().join("a.db"), dir.path().join("b.db"));
        let conn = Connection::open(&db).unwrap();
        conn.execute_batch(
            "PRAGMA journal_mode=DELETE; PRAGMA cache_size=1; CREATE TABLE t(x);
             WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i < 500)
             INSERT INTO t SELECT zeroblob(1000) FROM n;",
        )
        .unwrap();
        // Mid-transaction, with the cache spilled into the file: the files a kill would leave.
        conn.execute_batch("BEGIN; UPDATE t SET x = zeroblob(900);")
            .unwrap();
        std::fs::copy(&db, &crashed).unwrap();
        std::fs::copy(
            format!("{}-journal", db.display()),
            format!("{}-journal", crashed.display()),
        )
        .unwrap();
        let read = |c: &Connection| {
            c.query_row("SELECT count(*), sum(length(x)) FROM t", [], |r| {
                Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?))
            })
        };
        let plain = sqlite::open_read_only(&crashed, Duration::from_secs(1)).unwrap();
        assert!(read(&plain).is_err(), "the copy should hold a hot journal");
        drop(plain);
        let live = SqliteFile::open_live(&crashed, Duration::from_secs(1)).unwrap();
        assert_eq!(read(&live.conn).unwrap(), (500, 500_000));
    }
}
