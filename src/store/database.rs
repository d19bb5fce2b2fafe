//! The project's database, whichever backend holds it, opened for reading: one handle that runs
//! a closure in a read transaction as the seam's [`Tx`], so the commands that only read (verify,
//! export, copy's source, codegen's and backup's checks) are written once for both.

use std::path::Path;
use std::time::Duration;

use anyhow::bail;
use rusqlite::Connection;

use super::postgres::db::{Mode, PgConn};
use super::sqlite::{self, SqliteTx};
use super::{StoreError, Tx};
use crate::config::Database;

pub enum Db {
    Sqlite(Connection),
    Postgres(PgConn),
}

impl Db {
    /// Opens an existing database for reading; a SQLite file that is not there is an error
    /// that says to migrate first.
    pub fn open(database: &Database, pg_schema: &str, busy: Duration) -> anyhow::Result<Db> {
        match database {
            Database::Sqlite(path) => Ok(Db::Sqlite(open_sqlite(path, busy)?)),
            Database::Postgres(url) => Ok(Db::Postgres(PgConn::open(url, pg_schema, false)?)),
        }
    }

    /// Runs `f` in one read transaction: everything it reads is one snapshot.
    pub fn read<T>(&mut self, f: impl FnOnce(&dyn Tx) -> anyhow::Result<T>) -> anyhow::Result<T> {
        match self {
            Db::Sqlite(conn) => {
                conn.execute_batch("BEGIN")?;
                let out = f(&SqliteTx::new(conn));
                let _ = conn.execute_batch("COMMIT");
                out
            }
            Db::Postgres(pg) => pg
                .run(Mode::Read, |tx| f(tx).map_err(StoreError::Other))
                .map_err(|e| match e {
                    StoreError::Other(e) => e,
                    other => anyhow::Error::new(other),
                }),
        }
    }
}

fn open_sqlite(path: &Path, busy: Duration) -> anyhow::Result<Connection> {
    if !path.exists() {
        bail!(
            "no database at {}; run `jsonlift migrate` first",
            path.display()
        );
    }
    Ok(sqlite::open_read_only(path, busy)?)
}
