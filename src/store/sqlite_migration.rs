//! What the migration's helpers ask of the SQLite database they change, inside the migration's
//! transaction: numbered SQL migrations (`migrate::numbered`, issue #17) run statement by
//! statement and recorded, and the tables of an earlier jsonlift rebuilt in the current form
//! (`migrate::upgrade`, issue #13). The migration engine hands those helpers the connection it
//! holds; [`MigrationDb`] is all they may do with it, so they read as migration steps and the
//! SQL stays here. (PostgreSQL runs numbered files whole: `migrate::postgres`.)

use rusqlite::Connection;
use rusqlite::types::ValueRef;
use sha2::{Digest, Sha256};

use super::Dialect;
use super::bookkeeping::{self, AppliedMigration};
use crate::schema::ddl::{create_indexes, create_table, quote};
use crate::schema::{Role, Table};

/// Whether `sql` ends a statement by SQLite's own test (a `;` outside strings, comments and
/// trigger bodies).
pub fn is_complete_statement(sql: &str) -> bool {
    let Ok(c) = std::ffi::CString::new(sql) else {
        return false;
    };
    // SAFETY: a NUL-terminated string that lives across the call.
    unsafe { rusqlite::ffi::sqlite3_complete(c.as_ptr()) != 0 }
}

/// The migration's SQLite database, as its helpers see it.
pub trait MigrationDb {
    /// Runs one statement of a numbered migration; SQLite's message when it fails.
    fn run_statement(&self, sql: &str) -> Result<(), String>;
    /// The numbered migrations applied so far.
    fn applied_migrations(&self) -> anyhow::Result<Vec<AppliedMigration>>;
    /// Records that a numbered migration was applied.
    fn record_migration(&self, m: &AppliedMigration) -> anyhow::Result<()>;
    /// Rebuilds table `t` in its current form (SQLite's table-rebuild procedure: new table,
    /// rows copied with their rowids, old one dropped, new one renamed, indexes made again),
    /// failing when its rows differ after. Foreign keys must be off (dropping a table others
    /// refer to would otherwise cascade).
    fn rebuild_table(&self, t: &Table) -> anyhow::Result<()>;
    /// Records the schema fingerprint of source `path`.
    fn set_schema_hash(&self, path: &str, schema_hash: &str) -> anyhow::Result<()>;
    /// The tables holding a reference to a missing row (`PRAGMA foreign_key_check`).
    fn broken_references(&self) -> anyhow::Result<Vec<String>>;
}

impl MigrationDb for Connection {
    fn run_statement(&self, sql: &str) -> Result<(), String> {
        self.execute_batch(sql).map_err(|e| e.to_string())
    }

    fn applied_migrations(&self) -> anyhow::Result<Vec<AppliedMigration>> {
        Ok(bookkeeping::applied_migrations(self)?)
    }

    fn record_migration(&self, m: &AppliedMigration) -> anyhow::Result<()> {
        Ok(bookkeeping::record_migration(self, m)?)
    }

    fn rebuild_table(&self, t: &Table) -> anyhow::Result<()> {
        let before = fingerprint(self, &t.name)?;
        let temp = format!("_jsonlift_upgrade_{}", t.name);
        let ddl = create_table(t, Dialect::Sqlite);
        let ddl = ddl.replacen(&quote(&t.name), &quote(&temp), 1);
        self.execute_batch(&format!("DROP TABLE IF EXISTS {}; {ddl}", quote(&temp)))?;
        let cols: Vec<String> = t.columns.iter().map(|c| quote(&c.name)).collect();
        let cols = cols.join(", ");
        // The rowid is the record order: it is copied too (a generated key is the rowid itself).
        let rowid = if t
            .columns
            .iter()
            .any(|c| c.role == Role::Id && c.primary_key)
        {
            ""
        } else {
            "rowid, "
        };
        self.execute_batch(&format!(
            "INSERT INTO {} ({rowid}{cols}) SELECT {rowid}{cols} FROM {};
             DROP TABLE {};
             ALTER TABLE {} RENAME TO {};",
            quote(&temp),
            quote(&t.name),
            quote(&t.name),
            quote(&temp),
            quote(&t.name)
        ))?;
        for sql in create_indexes(t) {
            self.execute_batch(&sql)?;
        }
        let after = fingerprint(self, &t.name)?;
        if before != after {
            anyhow::bail!(
                "its rows differ after the rewrite ({} rows before, {} after); nothing was changed",
                before.0,
                after.0
            );
        }
        Ok(())
    }

    fn set_schema_hash(&self, path: &str, schema_hash: &str) -> anyhow::Result<()> {
        Ok(bookkeeping::set_schema_hash(self, path, schema_hash)?)
    }

    fn broken_references(&self) -> anyhow::Result<Vec<String>> {
        let mut stmt = self.prepare("PRAGMA foreign_key_check")?;
        let broken = stmt
            .query_map([], |r| r.get::<_, String>(0))?
            .collect::<rusqlite::Result<_>>()?;
        Ok(broken)
    }
}

/// The number of rows and a hash of every value, with its type, in rowid order.
fn fingerprint(conn: &Connection, table: &str) -> rusqlite::Result<(u64, [u8; 32])> {
    let mut stmt = conn.prepare(&format!(
        "SELECT rowid, * FROM {} ORDER BY rowid",
        quote(table)
    ))?;
    let n = stmt.column_count();
    let mut rows = stmt.query([])?;
    let mut h = Sha256::new();
    let mut count = 0;
    while let Some(r) = rows.next()? {
        count += 1;
        for i in 0..n {
            match r.get_ref(i)? {
                ValueRef::Null => h.update([0]),
                ValueRef::Integer(v) => {
                    h.update([1]);
                    h.update(v.to_le_bytes());
                }
                ValueRef::Real(v) => {
                    h.update([2]);
                    h.update(v.to_bits().to_le_bytes());
                }
                ValueRef::Text(b) => {
                    h.update([3]);
                    h.update((b.len() as u64).to_le_bytes());
                    h.update(b);
                }
                ValueRef::Blob(b) => {
                    h.update([4]);
                    h.update((b.len() as u64).to_le_bytes());
                    h.update(b);
                }
            }
        }
    }
    Ok((count, h.finalize().into()))
}
