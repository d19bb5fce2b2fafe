//! A SQLite database in memory, for the JSON files as a store (`serve --store json`,
//! `migrate::json_store`): each load of the files goes into one through the migration's loader,
//! and the record operations then run on it as on any database. This is its SQLite side: made
//! with the schema's tables, loaded in one transaction with references checked at its end,
//! written in transactions that roll back on failure.

use rusqlite::Connection;

use super::sqlite::{self, SqliteTx};
use super::{StoreError, Tx};

pub struct MemoryDb {
    conn: Connection,
}

impl MemoryDb {
    /// A new database with the statements of `ddl` run, references enforced.
    pub fn create(ddl: impl IntoIterator<Item = String>) -> Result<MemoryDb, StoreError> {
        let conn = sqlite::open_in_memory()?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        for sql in ddl {
            conn.execute_batch(&sql)?;
        }
        Ok(MemoryDb { conn })
    }

    /// Loads rows in one transaction, references checked at its end: `load` writes through the
    /// database it is given (the migration's loader does) and says whether to keep what it
    /// wrote (`Ok(true)`) or roll it back (`Ok(false)`, which this returns too).
    pub fn load(
        &self,
        load: impl FnOnce(super::sqlite_load::LoadDb) -> Result<bool, StoreError>,
    ) -> Result<bool, StoreError> {
        self.conn.execute_batch("BEGIN")?;
        self.conn.pragma_update(None, "defer_foreign_keys", "ON")?;
        match load(super::sqlite_load::LoadDb::new(&self.conn)) {
            Ok(true) => {
                self.conn.execute_batch("COMMIT")?;
                Ok(true)
            }
            other => {
                let _ = self.conn.execute_batch("ROLLBACK");
                other
            }
        }
    }

    /// The database as the seam's [`Tx`], outside any transaction of its own (each statement
    /// its own, or inside [`MemoryDb::write`]'s).
    pub fn tx(&self) -> SqliteTx<'_> {
        SqliteTx::new(&self.conn)
    }

    /// Runs `f` in one write transaction: committed if it returns `Ok`, rolled back otherwise
    /// (and when the commit fails).
    pub fn write<T>(
        &self,
        f: impl FnOnce(&dyn Tx) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.conn.execute_batch("BEGIN IMMEDIATE")?;
        let done = f(&SqliteTx::new(&self.conn))
            .and_then(|out| Ok(self.conn.execute_batch("COMMIT").map(|()| out)?));
        if done.is_err() {
            let _ = self.conn.execute_batch("ROLLBACK");
        }
        done
    }
}
