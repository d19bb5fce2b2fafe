//! The live SQLite database as a [`Store`]: a small pool of connections (WAL lets readers run
//! beside the one writer), writes in `BEGIN IMMEDIATE` transactions, and patience with other
//! processes: a write that finds the database locked past the busy timeout is retried, so
//! "database is locked" never reaches a client while another server is merely busy.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::bail;
use rusqlite::Connection;

use super::{Store, StoreError, Tx, contention, deadline, sqlite};
use crate::config::Project;
use crate::schema::Schema;

/// How long a write keeps retrying a locked database before giving up with an error.
const RETRY_FOR: Duration = Duration::from_secs(60);
/// Idle connections kept for reuse.
const POOL_SIZE: usize = 16;

pub struct SqliteStore {
    path: PathBuf,
    busy: Duration,
    schema: Schema,
    /// Each with the counts it made ([`sqlite::Tallies`]).
    idle: Mutex<Vec<(Connection, sqlite::Tallies)>>,
}

impl SqliteStore {
    /// Opens the project's migrated database; every collection's table must exist.
    pub fn open(project: &Project, schema: Schema) -> anyhow::Result<SqliteStore> {
        let path = project.database_path();
        if !path.exists() {
            bail!(
                "no database at {}; run `jsonlift migrate` first",
                path.display()
            );
        }
        let store = SqliteStore {
            path,
            busy: project.busy_timeout(),
            schema,
            idle: Mutex::new(Vec::new()),
        };
        let conn = store.connect()?;
        for c in &store.schema.collections {
            let t = &store.schema.tables[c.table];
            if !sqlite::table_exists(&conn, &t.name)? {
                bail!(
                    "{}: table {} of collection {} does not exist; run `jsonlift migrate` first",
                    store.path.display(),
                    t.name,
                    c.name
                );
            }
        }
        // Databases migrated before the index existed get it now (a no-op when present); a
        // database this process may not write to is served without it.
        for t in &store.schema.tables {
            if let Some(sql) = crate::schema::ddl::extra_index(t) {
                if let Err(e) = conn.execute_batch(&sql) {
                    tracing::debug!("{}: {sql}: {e}", store.path.display());
                }
            }
        }
        store.give_back((conn, sqlite::Tallies::default()));
        Ok(store)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether the database is still usable: its file is there (connections already open
    /// would go on reading a deleted one), and a fresh connection finds it sound (`PRAGMA
    /// quick_check`, which reads every page). The error says what is wrong. A file renamed
    /// over it is not a fault: that is how a restore puts a database in place.
    pub fn check(&self) -> Result<(), String> {
        if !self.path.exists() {
            return Err(format!("{} is gone", self.path.display()));
        }
        check_file(&self.path, self.busy)
    }

    fn connect(&self) -> rusqlite::Result<Connection> {
        // Never creates the file: a database deleted under the server is an error to see, not
        // an empty database to serve.
        sqlite::open_existing(&self.path, self.busy)
    }

    fn take(&self) -> Result<(Connection, sqlite::Tallies), StoreError> {
        let pooled = self.idle.lock().expect("pool lock").pop();
        match pooled {
            Some(c) => Ok(c),
            None => Ok((self.connect()?, sqlite::Tallies::default())),
        }
    }

    fn give_back(&self, conn: (Connection, sqlite::Tallies)) {
        if !conn.0.is_autocommit() {
            return; // a transaction left open by a failure: drop the connection, rolling it back
        }
        let mut idle = self.idle.lock().expect("pool lock");
        if idle.len() < POOL_SIZE {
            idle.push(conn);
        }
    }

    /// Runs `f` inside `begin` … COMMIT, rolling back on error, retrying while locked.
    fn transaction(
        &self,
        begin: &str,
        f: &mut dyn FnMut(&dyn Tx) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let pooled = self.take()?;
        let (conn, tallies) = &pooled;
        let writes = begin != "BEGIN";
        // Counts are kept from reads only: one made in a write could count rows rolled back.
        let tallies = (!writes).then_some(tallies);
        // Retries end with the request they serve, if it ends first.
        let deadline = deadline::retry_until(RETRY_FOR);
        let mut pause = Duration::from_millis(2);
        let result = loop {
            let t0 = Instant::now();
            let begun = conn.execute_batch(begin).map_err(StoreError::from);
            if writes {
                contention::waited(t0.elapsed());
            }
            let attempt = begun
                .and_then(|_| f(&sqlite::SqliteTx(conn, tallies)))
                // A write whose request already answered 408 is rolled back, not committed.
                .and_then(|_| {
                    if writes {
                        deadline::may_commit()
                    } else {
                        Ok(())
                    }
                })
                .and_then(|_| {
                    let done = conn.execute_batch("COMMIT").map_err(StoreError::from);
                    if writes {
                        deadline::committed(done.is_ok());
                    }
                    done
                })
                .map_err(|e| with_system_error(e, conn));
            if attempt.is_err() && !conn.is_autocommit() {
                let _ = conn.execute_batch("ROLLBACK");
            }
            match attempt {
                Err(e) if e.is_busy() && Instant::now() < deadline => {
                    if writes {
                        contention::retried();
                    }
                    tracing::debug!("database busy, retrying: {e}");
                    std::thread::sleep(pause);
                    pause = (pause * 2).min(Duration::from_millis(100));
                }
                other => break other,
            }
        };
        self.give_back(pooled);
        result
    }
}

/// Whether the SQLite file at `path` opens and passes `PRAGMA quick_check`, on a connection of
/// its own (pooled ones may still hold pages read before the file broke).
pub fn check_file(path: &Path, busy: Duration) -> Result<(), String> {
    let verdict = sqlite::open_read_only(path, busy)
        .and_then(|c| c.query_row("PRAGMA quick_check(1)", [], |r| r.get::<_, String>(0)));
    match verdict {
        Ok(v) if v == "ok" => Ok(()),
        Ok(v) => Err(format!("{} fails quick_check: {v}", path.display())),
        Err(e) => Err(format!("{}: {e}", path.display())),
    }
}

/// SQLite reports a write that ran out of room as SQLITE_FULL only for ENOSPC; a quota
/// (EDQUOT) or the process's file size limit (EFBIG) come out as a bare "disk I/O error". The
/// errno it kept says which, so the error carries it and the server can say the disk is full
/// (507) instead of failing (500).
fn with_system_error(e: StoreError, conn: &Connection) -> StoreError {
    let io = match &e {
        StoreError::Sqlite(s) => {
            s.sqlite_error_code() == Some(rusqlite::ErrorCode::SystemIoFailure)
        }
        _ => false,
    };
    if !io {
        return e;
    }
    // SAFETY: a valid open connection; the call only reads its last errno.
    let errno = unsafe { rusqlite::ffi::sqlite3_system_errno(conn.handle()) };
    if ![libc::ENOSPC, libc::EDQUOT, libc::EFBIG].contains(&errno) {
        return e;
    }
    StoreError::Other(
        anyhow::Error::new(std::io::Error::from_raw_os_error(errno)).context(e.to_string()),
    )
}

impl Store for SqliteStore {
    fn schema(&self) -> &Schema {
        &self.schema
    }

    fn read(&self, f: &mut dyn FnMut(&dyn Tx) -> Result<(), StoreError>) -> Result<(), StoreError> {
        // A transaction, so that a record and its children come from one snapshot.
        self.transaction("BEGIN", f)
    }

    fn write(
        &self,
        f: &mut dyn FnMut(&dyn Tx) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        self.transaction("BEGIN IMMEDIATE", f)
    }

    fn close_connections(&self) {
        self.idle.lock().expect("pool lock").clear();
    }

    fn point_reads_are_quick(&self) -> bool {
        true
    }

    fn database_file(&self) -> Option<&Path> {
        Some(&self.path)
    }
}
