//! What a migration asks of the SQLite database it changes. [`SqliteMigration`] is that
//! database for the whole run: opened as the run needs it (the live file changed in place, a
//! new file built beside it and published by a rename, a scratch copy for a dry run or a
//! check), one transaction from `begin` to `commit`, and the run's steps as operations: the
//! tables made for a load, the loader's view of them ([`LoadDb`]), UNIQUE constraints and
//! indexes built after the load, references checked, rows counted, jsonlift's own tables
//! written, an evolution's tables rebuilt. The migration engine (`migrate`) decides what is
//! done and what a finding means; the SQL stays here.
//!
//! Its helpers see less: numbered SQL migrations (`migrate::numbered`, issue #17) run
//! statement by statement and recorded, and the tables of an earlier jsonlift rebuilt in the
//! current form (`migrate::upgrade`, issue #13) get [`MigrationDb`]. (PostgreSQL runs
//! numbered files whole: `migrate::postgres`.)

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::Connection;
use rusqlite::types::ValueRef;
use sha2::{Digest, Sha256};

use super::Dialect;
use super::backend::SourceState;
use super::bookkeeping::{self, AppliedMigration};
use super::bulk::{self, Deferred, Duplicate, Settings};
use super::sqlite::{self, SqliteTx, cell_from};
use super::sqlite_load::LoadDb;
use crate::audit::NewEntry;
use crate::schema::ddl::{self, create_indexes, create_table, extra_index, internal_tables, quote};
use crate::schema::shred::Cell;
use crate::schema::{Role, Schema, Table};

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

/// Turns "database is locked" into a message that says what to do; any other error names the
/// database.
pub fn locked(e: rusqlite::Error, db: &Path) -> anyhow::Error {
    match e.sqlite_error_code() {
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked) => {
            anyhow::anyhow!(
                "the database {} is locked by another process (waited busy_timeout_ms); stop the process holding it (a running `jsonlift serve`, a sqlite3 shell) or raise busy_timeout_ms in jsonlift.toml, then run again. Nothing was changed.",
                db.display()
            )
        }
        _ => anyhow::Error::new(e).context(format!("database {}", db.display())),
    }
}

/// [`locked`] for an error that may have come from SQLite.
pub fn if_locked(e: anyhow::Error, db: &Path) -> anyhow::Error {
    match e.downcast::<rusqlite::Error>() {
        Ok(e) => locked(e, db),
        Err(e) => e,
    }
}

/// What jsonlift recorded of the sources of the database at `path`, read without writing.
pub fn recorded_sources(
    path: &Path,
    busy: Duration,
) -> anyhow::Result<HashMap<String, SourceState>> {
    let conn = sqlite::open_read_only(path, busy).map_err(|e| locked(e, path))?;
    bookkeeping::sources(&conn).map_err(|e| locked(e, path))
}

/// Records `states` as the sources of the database at `path` (files that changed in bytes,
/// not in records: their new fingerprint and layout).
pub fn record_sources(path: &Path, busy: Duration, states: &[SourceState]) -> anyhow::Result<()> {
    let conn = sqlite::open(path, busy).map_err(|e| locked(e, path))?;
    for state in states {
        bookkeeping::write_source(&conn, state)?;
    }
    Ok(())
}

/// Runs `f` on the database at `path` as it is, read-only.
pub fn read_only<R>(
    path: &Path,
    busy: Duration,
    f: impl FnOnce(&dyn super::Tx) -> anyhow::Result<R>,
) -> anyhow::Result<R> {
    let conn = sqlite::open_read_only(path, busy).map_err(|e| locked(e, path))?;
    f(&SqliteTx::new(&conn))
}

/// A row whose reference points at no row ([`SqliteMigration::broken_references`]).
pub struct BrokenRef {
    pub table: String,
    pub rowid: Option<i64>,
    /// The table referred to.
    pub parent: String,
    /// The referring column, and the one it refers to.
    pub from: String,
    pub to: String,
    /// What the referring column holds (when the row has a rowid).
    pub value: Option<Cell<'static>>,
}

/// The database a migration changes, for the whole run (module docs).
pub struct SqliteMigration {
    conn: Connection,
    /// The database as messages name it (the final path of a file being built).
    shown: PathBuf,
}

impl SqliteMigration {
    /// The existing database at `path`, changed in place.
    pub fn in_place(path: &Path, busy: Duration) -> anyhow::Result<Self> {
        Ok(SqliteMigration {
            conn: sqlite::open(path, busy).map_err(|e| locked(e, path))?,
            shown: path.to_path_buf(),
        })
    }

    /// A new database at `temp`, renamed to `shown` once complete. `durable`: written through
    /// the file system layer that gets it to disk as it is built ([`super::vfs`]); otherwise
    /// a scratch file without a journal.
    pub fn new_file(temp: &Path, shown: &Path, durable: bool) -> anyhow::Result<Self> {
        let conn = if durable {
            sqlite::open_build(temp)
        } else {
            sqlite::open_scratch(temp)
        };
        Ok(SqliteMigration {
            conn: conn?,
            shown: shown.to_path_buf(),
        })
    }

    /// A throw-away database at `path` (a dry run, `check`): a copy of the database at `live`
    /// when given, so that the run sees what it would change.
    pub fn scratch(path: &Path, live: Option<(&Path, Duration)>) -> anyhow::Result<Self> {
        if let Some((live, busy)) = live {
            let from = sqlite::open_read_only(live, busy).map_err(|e| locked(e, live))?;
            from.backup(
                rusqlite::MAIN_DB,
                path,
                None::<fn(rusqlite::backup::Progress)>,
            )?;
        }
        Ok(SqliteMigration {
            conn: sqlite::open_build(path)?,
            shown: path.to_path_buf(),
        })
    }

    /// Begins the run's transaction, holding the database against other writers. Foreign keys
    /// are not enforced: they are checked after the load ([`SqliteMigration::broken_references`]).
    /// Enforced, replacing a table would delete its rows first, and ON DELETE CASCADE would
    /// take the rows of other collections that refer to it, which are not being reloaded; and
    /// each insert would open a cursor on the parent table (a tenth of a nested load), where a
    /// child's link to its parent holds by construction and is read back with the rows.
    pub fn begin(&self) -> anyhow::Result<()> {
        self.conn.pragma_update(None, "foreign_keys", "OFF")?;
        self.conn
            .execute_batch("BEGIN IMMEDIATE")
            .map_err(|e| locked(e, &self.shown))
    }

    /// Begins the transaction of `check`, with `schema`'s tables made whole.
    pub fn begin_check(&self, schema: &Schema) -> anyhow::Result<()> {
        self.conn.execute_batch("BEGIN")?;
        self.conn.pragma_update(None, "defer_foreign_keys", "ON")?;
        for sql in ddl::schema_sql(schema, Dialect::Sqlite) {
            self.conn.execute_batch(&sql)?;
        }
        Ok(())
    }

    pub fn commit(&self) -> anyhow::Result<()> {
        self.conn
            .execute_batch("COMMIT")
            .map_err(|e| locked(e, &self.shown))
    }

    /// Rolls the transaction back (a failure already being reported, its own is not).
    pub fn rollback(&self) {
        let _ = self.conn.execute_batch("ROLLBACK");
    }

    /// After the commit of a new file: puts it in WAL mode, gets every page to the file and
    /// closes it, ready to be renamed into place.
    pub fn publish(self) -> anyhow::Result<()> {
        self.conn.pragma_update(None, "journal_mode", "WAL")?;
        super::vfs::flush(&self.conn).map_err(|e| locked(e, &self.shown))?;
        self.conn.close().map_err(|(_, e)| e)?;
        Ok(())
    }

    /// The transaction as the store seam's [`super::Tx`].
    pub fn tx(&self) -> SqliteTx<'_> {
        SqliteTx::new(&self.conn)
    }

    /// The database as the loader sees it.
    pub fn load_db(&self) -> LoadDb<'_> {
        LoadDb::new(&self.conn)
    }

    /// Before a load: references checked at COMMIT, not statement by statement, and jsonlift's
    /// own tables made where missing.
    pub fn prepare_load(&self) -> anyhow::Result<()> {
        self.conn.pragma_update(None, "defer_foreign_keys", "ON")?;
        for sql in internal_tables(Dialect::Sqlite) {
            self.conn.execute_batch(&sql)?;
        }
        Ok(())
    }

    /// Makes the tables of collection `ci` anew for its load. A table shared with other
    /// collections keeps their rows (only this one's go); the others are dropped and created
    /// for a load ([`bulk::create`]: their UNIQUE constraints, pushed to `deferred`, come
    /// back after it).
    pub fn make_tables(
        &self,
        schema: &Schema,
        ci: usize,
        deferred: &mut Vec<Deferred>,
    ) -> anyhow::Result<()> {
        let conn = &self.conn;
        let tables = schema.tables_of(ci);
        let kept = |t: usize| -> rusqlite::Result<bool> {
            let t = &schema.tables[t];
            Ok(t.shared.is_some() && sqlite::table_exists(conn, &t.name)?)
        };
        for &t in tables.iter().rev() {
            let tt = &schema.tables[t];
            conn.execute_batch(&match (kept(t)?, ddl::only(tt)) {
                (true, Some(only)) => format!("DELETE FROM {} WHERE {only}", quote(&tt.name)),
                _ => format!("DROP TABLE IF EXISTS {}", quote(&tt.name)),
            })?;
        }
        for &t in &tables {
            if kept(t)? {
                continue;
            }
            deferred.push(bulk::create(conn, schema, t)?);
            // Kept up as rows go in, at no cost while they hold no unnamed keys; built
            // afterwards it would be a scan of the whole table.
            if let Some(sql) = extra_index(&schema.tables[t]) {
                conn.execute_batch(&sql)?;
            }
        }
        Ok(())
    }

    /// Sets the connection up for building indexes ([`bulk::prepare_index_builds`]); give the
    /// settings back to [`SqliteMigration::end_index_builds`].
    pub fn begin_index_builds(&self) -> anyhow::Result<Settings> {
        Ok(bulk::prepare_index_builds(&self.conn)?)
    }

    pub fn end_index_builds(&self, settings: Settings) -> anyhow::Result<()> {
        Ok(settings.restore(&self.conn)?)
    }

    /// The UNIQUE constraints left out for the load, built ([`bulk::build_uniques`]).
    pub fn build_uniques(
        &self,
        schema: &Schema,
        deferred: &[Deferred],
        limit: usize,
    ) -> anyhow::Result<Vec<Duplicate>> {
        bulk::build_uniques(&self.conn, schema, deferred, limit)
    }

    /// The loaded tables given their full definitions ([`bulk::restore_definitions`]).
    pub fn restore_definitions(
        &self,
        schema: &Schema,
        deferred: &[Deferred],
    ) -> anyhow::Result<()> {
        bulk::restore_definitions(&self.conn, schema, deferred)
    }

    /// Builds the indexes of table `t`, one sorted pass each.
    pub fn create_indexes(&self, t: &Table) -> anyhow::Result<()> {
        for sql in create_indexes(t) {
            self.conn.execute_batch(&sql)?;
        }
        Ok(())
    }

    /// The rows of its collection that table `t` holds (a shared table holds other collections'
    /// too). `inserted`: every one was inserted by this run, that many ([`sqlite::count_new`]).
    pub fn count(&self, t: &Table, inserted: Option<u64>) -> anyhow::Result<u64> {
        let from = ddl::from(t, Dialect::Sqlite);
        Ok(match inserted {
            Some(n) => sqlite::count_new(&self.conn, &from, n)?,
            None => sqlite::count(&self.conn, &from)?,
        })
    }

    /// The rows whose references point at no row, in `only` these tables or in all, at most
    /// `at_most` of them.
    pub fn broken_references(
        &self,
        only: Option<&[&str]>,
        at_most: usize,
    ) -> anyhow::Result<Vec<BrokenRef>> {
        let conn = &self.conn;
        let names: Vec<Option<&str>> = match only {
            Some(ts) => ts.iter().map(|&t| Some(t)).collect(),
            None => vec![None],
        };
        let mut violations = Vec::new();
        'tables: for name in names {
            // Columns: table, rowid, parent, fkid. NULL: every table.
            let mut stmt = conn.prepare("SELECT * FROM pragma_foreign_key_check(?1)")?;
            let mut rows = stmt.query([name])?;
            while let Some(r) = rows.next()? {
                violations.push((
                    r.get::<_, String>(0)?,
                    r.get::<_, Option<i64>>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, i64>(3)?,
                ));
                if violations.len() >= at_most {
                    break 'tables;
                }
            }
        }
        let mut out = Vec::with_capacity(violations.len());
        for (table, rowid, parent, fkid) in violations {
            let (from, to): (String, String) = conn.query_row(
                "SELECT \"from\", \"to\" FROM pragma_foreign_key_list(?1) WHERE id = ?2",
                rusqlite::params![table, fkid],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?;
            let value = match rowid {
                Some(rowid) => Some(conn.query_row(
                    &format!(
                        "SELECT {} FROM {} WHERE rowid = ?1",
                        quote(&from),
                        quote(&table)
                    ),
                    [rowid],
                    |r| r.get_ref(0).map(cell_from),
                )?),
                None => None,
            };
            out.push(BrokenRef {
                table,
                rowid,
                parent,
                from,
                to,
                value,
            });
        }
        Ok(out)
    }

    /// Every reference that points at no row, as (table, rowid, table referred to).
    pub fn foreign_key_check(&self) -> anyhow::Result<Vec<(String, Option<i64>, String)>> {
        let mut stmt = self.conn.prepare("PRAGMA foreign_key_check")?;
        let broken = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
            .collect::<rusqlite::Result<_>>()?;
        Ok(broken)
    }

    // ----- jsonlift's own tables ([`bookkeeping`]) ---------------------------------------------

    pub fn sources(&self) -> anyhow::Result<HashMap<String, SourceState>> {
        Ok(bookkeeping::sources(&self.conn)?)
    }

    pub fn write_source(&self, s: &SourceState) -> anyhow::Result<()> {
        bookkeeping::write_source(&self.conn, s)
    }

    pub fn forget_source(&self, path: &str) -> anyhow::Result<()> {
        Ok(bookkeeping::forget_source(&self.conn, path)?)
    }

    /// Records that a source's collections were evolved in place ([`bookkeeping::set_source_evolved`]).
    pub fn set_source_evolved(
        &self,
        path: &str,
        print: (u64, &str),
        records: u64,
        schema_hash: &str,
        at: &str,
    ) -> anyhow::Result<()> {
        Ok(bookkeeping::set_source_evolved(
            &self.conn,
            path,
            print,
            records,
            schema_hash,
            at,
        )?)
    }

    pub fn save_schema(&self, toml: &str, at: &str) -> anyhow::Result<()> {
        Ok(bookkeeping::save_schema(&self.conn, toml, at)?)
    }

    pub fn audit_append(&self, e: &NewEntry) -> anyhow::Result<()> {
        Ok(bookkeeping::audit_append(&self.conn, e)?)
    }

    /// A row of the ledger for this run ([`bookkeeping::write_run`]).
    pub fn write_run(
        &self,
        (started, finished): (&str, &str),
        action: &str,
        schema_hash: &str,
        sources: &serde_json::Value,
        backup: Option<&str>,
    ) -> anyhow::Result<()> {
        bookkeeping::write_run(
            &self.conn,
            started,
            finished,
            action,
            schema_hash,
            sources,
            backup,
        )
    }

    /// Drops a legacy SQLite source's tables from the database itself.
    pub fn drop_legacy_tables(&self, tables: &[String]) -> anyhow::Result<()> {
        Ok(super::legacy::drop_tables(&self.conn, tables)?)
    }

    // ----- an evolution's changes ---------------------------------------------------------------

    /// Runs `f` with `ALTER TABLE … RENAME` leaving the references other tables make to the
    /// renamed table as they are (a table replaced keeps the references made to it).
    pub fn keeping_references<R>(
        &self,
        f: impl FnOnce() -> anyhow::Result<R>,
    ) -> anyhow::Result<R> {
        self.conn.pragma_update(None, "legacy_alter_table", "ON")?;
        let result = f();
        self.conn.pragma_update(None, "legacy_alter_table", "OFF")?;
        result
    }

    /// Runs a statement of a plan jsonlift wrote.
    pub fn run_ddl(&self, sql: &str) -> anyhow::Result<()> {
        Ok(self.conn.execute_batch(sql)?)
    }

    pub fn drop_table(&self, name: &str) -> anyhow::Result<()> {
        self.run_ddl(&format!("DROP TABLE IF EXISTS {}", quote(name)))
    }

    /// Creates table `t` whole, replacing one of its name.
    pub fn create_table_anew(&self, t: &Table) -> anyhow::Result<()> {
        self.run_ddl(&format!(
            "DROP TABLE IF EXISTS {0}; {1}",
            quote(&t.name),
            create_table(t, Dialect::Sqlite)
        ))
    }

    pub fn rename_table(&self, from: &str, to: &str) -> anyhow::Result<()> {
        self.run_ddl(&format!(
            "ALTER TABLE {} RENAME TO {}",
            quote(from),
            quote(to)
        ))
    }

    /// Inserts a row into table `t`, at `rowid` when given; `Err` with SQLite's message when a
    /// constraint refuses it.
    pub fn insert_row(
        &self,
        t: &Table,
        rowid: Option<i64>,
        cells: &[Cell],
    ) -> anyhow::Result<Result<(), String>> {
        let res = match rowid {
            Some(rowid) => {
                let cols: Vec<String> = t.columns.iter().map(|c| quote(&c.name)).collect();
                let sql = format!(
                    "INSERT INTO {} (rowid, {}) VALUES (?{})",
                    quote(&t.name),
                    cols.join(", "),
                    ", ?".repeat(cols.len())
                );
                let mut stmt = self.conn.prepare_cached(&sql)?;
                let mut params: Vec<&dyn rusqlite::ToSql> = vec![&rowid];
                params.extend(cells.iter().map(|c| c as &dyn rusqlite::ToSql));
                stmt.execute(params.as_slice())
            }
            None => {
                let mut stmt = self.conn.prepare_cached(&t.sql.insert)?;
                stmt.execute(rusqlite::params_from_iter(cells.iter()))
            }
        };
        match res {
            Ok(_) => Ok(Ok(())),
            Err(e) if sqlite::refusal(&e).is_some() => Ok(Err(e.to_string())),
            Err(e) => Err(e.into()),
        }
    }
}

impl MigrationDb for SqliteMigration {
    fn run_statement(&self, sql: &str) -> Result<(), String> {
        self.conn.execute_batch(sql).map_err(|e| e.to_string())
    }

    fn applied_migrations(&self) -> anyhow::Result<Vec<AppliedMigration>> {
        Ok(bookkeeping::applied_migrations(&self.conn)?)
    }

    fn record_migration(&self, m: &AppliedMigration) -> anyhow::Result<()> {
        Ok(bookkeeping::record_migration(&self.conn, m)?)
    }

    fn rebuild_table(&self, t: &Table) -> anyhow::Result<()> {
        let conn = &self.conn;
        let before = fingerprint(conn, &t.name)?;
        let temp = format!("_jsonlift_upgrade_{}", t.name);
        let ddl = create_table(t, Dialect::Sqlite);
        let ddl = ddl.replacen(&quote(&t.name), &quote(&temp), 1);
        conn.execute_batch(&format!("DROP TABLE IF EXISTS {}; {ddl}", quote(&temp)))?;
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
        conn.execute_batch(&format!(
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
            conn.execute_batch(&sql)?;
        }
        let after = fingerprint(conn, &t.name)?;
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
        Ok(bookkeeping::set_schema_hash(&self.conn, path, schema_hash)?)
    }

    fn broken_references(&self) -> anyhow::Result<Vec<String>> {
        Ok(self
            .foreign_key_check()?
            .into_iter()
            .map(|(table, _, _)| table)
            .collect())
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
