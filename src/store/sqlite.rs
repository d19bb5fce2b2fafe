//! SQLite: opening with the right pragmas, binding cells, reading rows back in record order,
//! and [`SqliteTx`], the SQLite implementation of the store seam ([`Tx`]).

use std::borrow::Cow;
use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{Connection, OpenFlags, OptionalExtension, ToSql};

use super::StoreError;
use super::backend::{
    Cells, Evolution, LedgerRow, OrderBy, Refusal, Run, SourceState, Test, Tx, Written,
};
use super::{bookkeeping, transfer};
use crate::audit::{Entry, Filter, NewEntry};

use crate::schema::ddl::{and_only, from, quote};
use crate::schema::rebuild::Rows;
use crate::schema::shred::Cell;
use crate::schema::{Schema, Table};

impl ToSql for Cell<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self {
            Cell::Null => ToSqlOutput::Borrowed(ValueRef::Null),
            Cell::Int(i) => ToSqlOutput::Borrowed(ValueRef::Integer(*i)),
            Cell::Real(f) => ToSqlOutput::Borrowed(ValueRef::Real(*f)),
            Cell::Text(s) => ToSqlOutput::Borrowed(ValueRef::Text(s.as_bytes())),
        })
    }
}

/// A cell read back from the database.
pub fn cell_from(v: ValueRef<'_>) -> Cell<'static> {
    match v {
        ValueRef::Null => Cell::Null,
        ValueRef::Integer(i) => Cell::Int(i),
        ValueRef::Real(f) => Cell::Real(f),
        ValueRef::Text(t) | ValueRef::Blob(t) => Cell::Text(match simdutf8::basic::from_utf8(t) {
            Ok(s) => s.to_owned().into(),
            Err(_) => String::from_utf8_lossy(t).into_owned().into(),
        }),
    }
}

/// A prepared statement run with a row of cells bound in place: their text is read where it
/// lies, not copied first (SQLite's `SQLITE_STATIC`; rusqlite binds every string as
/// `SQLITE_TRANSIENT`, a copy and an allocation per text cell, on the thread that bounds a
/// migration). The bindings are cleared before `execute` returns, so no pointer outlives the
/// cells.
pub struct Insert<'c> {
    conn: &'c Connection,
    stmt: std::ptr::NonNull<rusqlite::ffi::sqlite3_stmt>,
    /// The rows the last run changed, even if it failed.
    changed: u64,
}

impl<'c> Insert<'c> {
    pub fn new(conn: &'c Connection, sql: &str) -> rusqlite::Result<Insert<'c>> {
        use rusqlite::ffi;
        let mut stmt = std::ptr::null_mut();
        // SAFETY: a live handle, and the SQL's pointer and length for the call.
        let rc = unsafe {
            ffi::sqlite3_prepare_v3(
                conn.handle(),
                sql.as_ptr().cast(),
                sql.len() as std::ffi::c_int,
                ffi::SQLITE_PREPARE_PERSISTENT as std::ffi::c_uint,
                &mut stmt,
                std::ptr::null_mut(),
            )
        };
        if rc != ffi::SQLITE_OK {
            return Err(last_error(conn, rc));
        }
        let stmt = std::ptr::NonNull::new(stmt).ok_or_else(|| {
            rusqlite::Error::SqliteFailure(
                ffi::Error::new(ffi::SQLITE_MISUSE),
                Some(format!("no statement in {sql:?}")),
            )
        })?;
        Ok(Insert {
            conn,
            stmt,
            changed: 0,
        })
    }

    /// Runs the statement with `cells` as its parameters; the rows it changed.
    pub fn execute(&mut self, cells: &[Cell]) -> rusqlite::Result<u64> {
        self.execute_rows(std::iter::once(cells))
    }

    /// Runs a statement of several rows of parameters (see [`insert_rows_sql`]) with `rows`
    /// bound one after the other; the rows it changed. After a constraint violation (an
    /// `INSERT OR FAIL`), the rows before the offending one stay inserted and
    /// [`Insert::changed`] says how many they are.
    pub fn execute_rows<'x>(
        &mut self,
        rows: impl IntoIterator<Item = &'x [Cell<'x>]>,
    ) -> rusqlite::Result<u64> {
        use rusqlite::ffi;
        let stmt = self.stmt.as_ptr();
        // SAFETY: a prepared statement of this connection; text pointers stay valid until the
        // bindings are cleared below, and SQLite reads them only while stepping.
        unsafe {
            self.changed = 0;
            let mut rc = ffi::SQLITE_OK;
            let mut at: std::ffi::c_int = 0;
            // Bound in order: parameter `at` is the `at`-th cell over all the rows.
            'bind: for cells in rows {
                for c in cells {
                    at += 1;
                    rc = match c {
                        Cell::Null => ffi::sqlite3_bind_null(stmt, at),
                        Cell::Int(n) => ffi::sqlite3_bind_int64(stmt, at, *n),
                        Cell::Real(f) => ffi::sqlite3_bind_double(stmt, at, *f),
                        Cell::Text(t) => ffi::sqlite3_bind_text64(
                            stmt,
                            at,
                            t.as_ptr().cast(),
                            t.len() as u64,
                            ffi::SQLITE_STATIC(),
                            ffi::SQLITE_UTF8 as std::ffi::c_uchar,
                        ),
                    };
                    if rc != ffi::SQLITE_OK {
                        break 'bind;
                    }
                }
            }
            let wanted = ffi::sqlite3_bind_parameter_count(stmt);
            let result = if rc != ffi::SQLITE_OK {
                Err(last_error(self.conn, rc))
            } else if at != wanted {
                Err(rusqlite::Error::SqliteFailure(
                    ffi::Error::new(ffi::SQLITE_RANGE),
                    Some(format!("{at} values for {wanted} parameters")),
                ))
            } else {
                let rc = ffi::sqlite3_step(stmt);
                self.changed = ffi::sqlite3_changes64(self.conn.handle()) as u64;
                match rc {
                    ffi::SQLITE_DONE => Ok(self.changed),
                    rc => Err(last_error(self.conn, rc)),
                }
            };
            ffi::sqlite3_reset(stmt);
            ffi::sqlite3_clear_bindings(stmt);
            result
        }
    }

    /// The rows the last run changed; after a failed run, those it had changed before failing.
    pub fn changed(&self) -> u64 {
        self.changed
    }
}

impl Drop for Insert<'_> {
    fn drop(&mut self) {
        // SAFETY: finalized once, here.
        unsafe {
            rusqlite::ffi::sqlite3_finalize(self.stmt.as_ptr());
        }
    }
}

/// The connection's last error as rusqlite reports it (code, extended code and message).
fn last_error(conn: &Connection, rc: std::ffi::c_int) -> rusqlite::Error {
    use rusqlite::ffi;
    // SAFETY: a live handle; the message is copied before any other call on it.
    unsafe {
        let db = conn.handle();
        let code = match ffi::sqlite3_extended_errcode(db) {
            0 => rc,
            x if x & 0xff == rc & 0xff => x,
            _ => rc,
        };
        let msg = std::ffi::CStr::from_ptr(ffi::sqlite3_errmsg(db))
            .to_string_lossy()
            .into_owned();
        rusqlite::Error::SqliteFailure(ffi::Error::new(code), Some(msg))
    }
}

/// What every connection jsonlift opens is set up with:
/// - plans that do not depend on the values bound. Without this, SQLite (built with STAT4) marks
///   a statement like "the children of ?1" for re-preparation whenever ?1 changes, and re-parses
///   it on nearly every execution: a third of the load's time on nested data;
/// - double-quoted string literals off (`SQLITE_DBCONFIG_DQS_DML`/`_DDL`): otherwise a
///   double-quoted name that is no column, such as a field added to jsonlift.toml after the
///   migration, reads as a string literal and invents data instead of failing.
pub fn configure(conn: &Connection) -> rusqlite::Result<()> {
    use rusqlite::config::DbConfig;
    conn.set_db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)?;
    conn.set_db_config(DbConfig::SQLITE_DBCONFIG_DQS_DML, false)?;
    conn.set_db_config(DbConfig::SQLITE_DBCONFIG_DQS_DDL, false)?;
    conn.create_collation(JS_COLLATION, js_order)?;
    Ok(())
}

/// The collation that orders text as JavaScript's `<` does (`_sort` on a text column,
/// [`super::select`]): by UTF-16 code units. SQLite's own BINARY is UTF-8 byte order, which is
/// code point order: the two differ only between characters from U+E000 to U+FFFF and those
/// beyond U+FFFF (JavaScript sees the latter as surrogates, U+D800..U+DFFF).
pub const JS_COLLATION: &str = "jsonlift_js";

fn js_order(a: &str, b: &str) -> std::cmp::Ordering {
    if a.is_ascii() && b.is_ascii() {
        return a.cmp(b);
    }
    a.encode_utf16().cmp(b.encode_utf16())
}

/// An in-memory database set up as every other connection ([`configure`]).
pub fn open_in_memory() -> rusqlite::Result<Connection> {
    let conn = Connection::open_in_memory()?;
    configure(&conn)?;
    Ok(conn)
}

/// A connection to `path` with nothing but [`configure`] (for restore's own files).
pub fn open_plain(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open(path)?;
    configure(&conn)?;
    Ok(conn)
}

/// Opens a live database the way every jsonlift process must: foreign keys on, WAL, and a busy
/// timeout so that a short lock held by another process is waited for rather than failed on.
pub fn open(path: &Path, busy: Duration) -> rusqlite::Result<Connection> {
    set_up(Connection::open(path)?, busy)
}

/// [`open`], for a database that must be there already: a missing file is an error
/// (`SQLITE_CANTOPEN`) rather than a new empty database.
pub fn open_existing(path: &Path, busy: Duration) -> rusqlite::Result<Connection> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_URI
        | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    set_up(Connection::open_with_flags(path, flags)?, busy)
}

fn set_up(conn: Connection, busy: Duration) -> rusqlite::Result<Connection> {
    configure(&conn)?;
    conn.busy_timeout(busy)?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    Ok(conn)
}

/// Opens an existing database for reading only.
pub fn open_read_only(path: &Path, busy: Duration) -> rusqlite::Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    configure(&conn)?;
    conn.busy_timeout(busy)?;
    Ok(conn)
}

/// Opens a brand-new database file that nobody else can see yet (it is renamed into place when
/// complete): no journal and no syncs while loading, since a failure just deletes the file. Its
/// pages are written around the page cache ([`super::vfs`]): call [`super::vfs::flush`] before
/// relying on the file.
pub fn open_build(path: &Path) -> rusqlite::Result<Connection> {
    super::vfs::register()?;
    let conn = Connection::open_with_flags_and_vfs(path, OpenFlags::default(), super::vfs::NAME)?;
    configure(&conn)?;
    conn.pragma_update(None, "journal_mode", "OFF")?;
    conn.pragma_update(None, "synchronous", "OFF")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.pragma_update(None, "cache_size", BUILD_CACHE)?;
    conn.pragma_update(None, "temp_store", "FILE")?;
    Ok(conn)
}

/// The page cache of a database being built, which also bounds the memory of each index build
/// (SQLite's sorter keeps that much in memory before spilling to a temporary file): 16 MiB.
/// Rows are appended, and the indexes of UNIQUE constraints are built after the load
/// (`migrate::bulk`), so the load needs little; 32 MiB for each put the peak above 100 MB.
const BUILD_CACHE: &str = "-16384";

/// A brand-new scratch database, read once and thrown away (a migration into PostgreSQL runs
/// in one): as [`open_build`], but through the page cache, which it may never leave.
pub fn open_scratch(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open(path)?;
    configure(&conn)?;
    conn.pragma_update(None, "journal_mode", "OFF")?;
    conn.pragma_update(None, "synchronous", "OFF")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.pragma_update(None, "cache_size", BUILD_CACHE)?;
    conn.pragma_update(None, "temp_store", "FILE")?;
    Ok(conn)
}

pub fn table_exists(conn: &Connection, name: &str) -> rusqlite::Result<bool> {
    conn.query_row(
        "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?1",
        [name],
        |r| r.get::<_, i64>(0),
    )
    .map(|n| n > 0)
}

pub use crate::schema::statements::{
    insert_rows_sql, insert_sql, select_all_sql, select_by_rowid_sql, select_children_sql,
    select_list,
};

/// Reads the children of `parent` in child table `ti` (for a shared-entity table: the entity
/// whose key is `parent`).
pub fn fetch_children(
    conn: &Connection,
    schema: &Schema,
    ti: usize,
    parent: &Cell<'static>,
) -> anyhow::Result<Rows<'static>> {
    let t = &schema.tables[ti];
    let mut stmt = conn.prepare_cached(&t.sql.children)?;
    let n = t.columns.len();
    let rows = stmt.query_map([parent], |r| {
        (0..n)
            .map(|i| r.get_ref(i).map(cell_from))
            .collect::<rusqlite::Result<Vec<_>>>()
            .map(Cow::Owned)
    })?;
    Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
}

/// Counts the rows of a table.
/// The rows of a table made in this transaction, `inserted` of which went in and were each read
/// back: when their rowids span exactly that many values, no other row fits among them, so
/// that is the count (two lookups instead of a scan of the table's smallest index, which a
/// fresh database has just written around the page cache). Otherwise counted. `t` is what
/// the rows are read from ([`from`]: a collection's own rows of a shared table).
pub fn count_new(conn: &Connection, t: &str, inserted: u64) -> rusqlite::Result<u64> {
    let (lo, hi): (Option<i64>, Option<i64>) = conn.query_row(
        &format!("SELECT (SELECT min(rowid) FROM {t}), (SELECT max(rowid) FROM {t})"),
        [],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    let span = match (lo, hi) {
        (Some(lo), Some(hi)) => hi.abs_diff(lo).checked_add(1),
        _ => Some(0),
    };
    if span == Some(inserted) {
        return Ok(inserted);
    }
    count(conn, t)
}

/// The rows read from `t` (a quoted table name, or [`from`]).
pub fn count(conn: &Connection, t: &str) -> rusqlite::Result<u64> {
    conn.query_row(&format!("SELECT count(*) FROM {t}"), [], |r| {
        r.get::<_, i64>(0)
    })
    .map(|n| n as u64)
}

/// A transaction on a SQLite connection, as the [`Tx`] everything above the store uses. The
/// caller (a [`super::Store`], a replay) owns BEGIN and COMMIT. A pooled connection brings the
/// counts it already made ([`Tallies`]).
pub struct SqliteTx<'c>(pub &'c Connection, pub Option<&'c Tallies>);

impl<'c> SqliteTx<'c> {
    pub fn new(conn: &'c Connection) -> Self {
        SqliteTx(conn, None)
    }

    /// A deep page of a whole table in its stored order, found without `OFFSET`: where the
    /// rowids run without a gap (none was deleted: the count is `max - min + 1`), the row at
    /// offset `skip` has rowid `min + skip`, so the page starts there (one b-tree descent)
    /// instead of after stepping over `skip` rows (15 ms for the middle of a million). The
    /// count is the kept one ([`Tallies`]), the bounds two descents, all in this transaction's
    /// snapshot; any gap, filter, sort or shared table takes the general statement.
    pub(super) fn jump(
        &self,
        t: &Table,
        filters: &[(usize, Test)],
        order: &[OrderBy],
        skip: u64,
        take: Option<u64>,
    ) -> Result<Option<Vec<i64>>, StoreError> {
        const JUMP_FROM: u64 = 1000;
        let Some(take) = take else { return Ok(None) };
        if skip < JUMP_FROM || !filters.is_empty() || !order.is_empty() || t.shared.is_some() {
            return Ok(None);
        }
        let count = self.tally(t, &[], &[])?.0;
        let name = quote(&t.name);
        // Two subqueries: SQLite reads a lone min() or max() off the b-tree's edge, but scans
        // the table for both in one.
        let (min, max): (Option<i64>, Option<i64>) = self
            .0
            .prepare_cached(&format!(
                "SELECT (SELECT min(rowid) FROM {name}), (SELECT max(rowid) FROM {name})"
            ))?
            .query_row([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        let (Some(min), Some(max)) = (min, max) else {
            return Ok(None);
        };
        if (max - min + 1) as u64 != count {
            return Ok(None);
        }
        if skip >= count {
            return Ok(Some(Vec::new()));
        }
        let rowids = self
            .0
            .prepare_cached(&format!(
                "SELECT rowid FROM {name} WHERE rowid >= ?1 ORDER BY rowid LIMIT ?2"
            ))?
            .query_map([min + skip as i64, take as i64], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        Ok(Some(rowids))
    }
}

/// The counts one connection made for list queries ([`Tx::tally`]: `X-Total-Count`, which
/// takes a pass over every matching row), kept while the database stays as it was when they
/// were made, so that asking again (the next page, the same list reloaded) costs a lookup. As
/// it was: `PRAGMA data_version` unchanged (it moves with every commit by any other connection,
/// in this process or another, whatever the client) and no row changed by this connection
/// since (`sqlite3_total_changes`; its own commits leave `data_version` as it was). Both are
/// read in the transaction the count is made or served in, before it, so a count is never
/// served for a state other than the one it was made in.
#[derive(Default)]
pub struct Tallies(std::cell::RefCell<TallyState>);

#[derive(Default)]
struct TallyState {
    version: Option<(i64, u64)>,
    counts: HashMap<String, (u64, Vec<u64>)>,
    /// How many counts were made rather than served (for tests).
    made: u64,
}

/// Counts kept per connection, at most (any more start the set afresh).
const MAX_TALLIES: usize = 256;

impl Tallies {
    /// The count for statement `key` at the connection's present state, made by `count` unless
    /// it was made at that state already.
    fn get_or_make(
        &self,
        conn: &Connection,
        key: String,
        count: impl FnOnce() -> Result<(u64, Vec<u64>), StoreError>,
    ) -> Result<(u64, Vec<u64>), StoreError> {
        let data_version: i64 = conn
            .prepare_cached("PRAGMA data_version")?
            .query_row([], |r| r.get(0))?;
        let version = Some((data_version, conn.total_changes()));
        {
            let mut st = self.0.borrow_mut();
            if st.version != version {
                st.version = version;
                st.counts.clear();
            }
            if let Some(found) = st.counts.get(&key) {
                return Ok(found.clone());
            }
        }
        let made = count()?;
        let mut st = self.0.borrow_mut();
        if st.counts.len() >= MAX_TALLIES {
            st.counts.clear();
        }
        st.counts.insert(key, made.clone());
        st.made += 1;
        Ok(made)
    }

    /// How many counts were made (not served from those kept).
    #[cfg(test)]
    pub fn made(&self) -> u64 {
        self.0.borrow().made
    }
}

/// A statement and its values as one key: each value tagged with its type, text with its
/// length, so that no two different statements give the same key.
fn statement_key(sql: &super::select::Sql) -> String {
    use std::fmt::Write;
    let mut key = sql.text.clone();
    for (_, cell) in &sql.params {
        let _ = match cell {
            Cell::Null => write!(key, "\0n"),
            Cell::Int(i) => write!(key, "\0i{i}"),
            Cell::Real(r) => write!(key, "\0r{}", r.to_bits()),
            Cell::Text(t) => write!(key, "\0t{}:{t}", t.len()),
        };
    }
    key
}

/// A constraint violation as a [`Refusal`]; `None` for any other error.
pub fn refusal(e: &rusqlite::Error) -> Option<Refusal> {
    let rusqlite::Error::SqliteFailure(f, m) = e else {
        return None;
    };
    if f.code != rusqlite::ErrorCode::ConstraintViolation {
        return None;
    }
    let message = m.clone().unwrap_or_default();
    let unique = message
        .strip_prefix("UNIQUE constraint failed: ")
        .map(|cols| {
            cols.split(", ")
                .filter_map(|c| c.split_once('.').map(|x| x.1.to_string()))
                .collect()
        });
    Some(Refusal { message, unique })
}

fn written(r: rusqlite::Result<usize>) -> Written {
    match r {
        Ok(_) => Ok(Ok(())),
        Err(e) => match refusal(&e) {
            Some(r) => Ok(Err(r)),
            None => Err(e.into()),
        },
    }
}

fn cells_of(r: &rusqlite::Row, from: usize, n: usize) -> rusqlite::Result<Cells> {
    (from..from + n)
        .map(|i| r.get_ref(i).map(cell_from))
        .collect()
}

impl Tx for SqliteTx<'_> {
    fn dialect(&self) -> super::Dialect {
        super::Dialect::Sqlite
    }

    fn page(&self, t: &Table, after: i64, limit: usize) -> Result<Vec<(i64, Cells)>, StoreError> {
        let sql = format!(
            "SELECT rowid, {} FROM {} WHERE rowid > ?1 ORDER BY rowid LIMIT ?2",
            select_list(t),
            from(t, super::Dialect::Sqlite)
        );
        let mut stmt = self.0.prepare_cached(&sql)?;
        let n = t.columns.len();
        let rows = stmt.query_map(rusqlite::params![after, limit as i64], |r| {
            Ok((r.get(0)?, cells_of(r, 1, n)?))
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// One statement over the whole table, each text cell read where SQLite holds it.
    fn each_row(
        &self,
        t: &Table,
        f: &mut dyn FnMut(i64, &[Cell]) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let sql = format!(
            "SELECT rowid, {} FROM {} ORDER BY rowid",
            select_list(t),
            from(t, super::Dialect::Sqlite)
        );
        let mut stmt = self.0.prepare(&sql)?;
        let mut rows = stmt.query([])?;
        let n = t.columns.len();
        while let Some(r) = rows.next()? {
            let mut cells: Vec<Cell> = Vec::with_capacity(n);
            for i in 1..=n {
                cells.push(match r.get_ref(i)? {
                    ValueRef::Text(b) | ValueRef::Blob(b) => match simdutf8::basic::from_utf8(b) {
                        Ok(s) => Cell::Text(s.into()),
                        Err(_) => Cell::Text(String::from_utf8_lossy(b).into_owned().into()),
                    },
                    v => cell_from(v),
                });
            }
            f(r.get(0)?, &cells)?;
        }
        Ok(())
    }

    fn row(&self, t: &Table, rowid: i64) -> Result<Cells, StoreError> {
        let mut stmt = self.0.prepare_cached(&t.sql.by_rowid)?;
        Ok(stmt.query_row([rowid], |r| cells_of(r, 0, t.columns.len()))?)
    }

    fn rowid_by(&self, t: &Table, col: usize, value: &Cell) -> Result<Option<i64>, StoreError> {
        let sql = format!(
            "SELECT rowid FROM {} WHERE {} = ?1",
            from(t, super::Dialect::Sqlite),
            quote(&t.columns[col].name)
        );
        Ok(self
            .0
            .prepare_cached(&sql)?
            .query_row([value], |r| r.get(0))
            .optional()?)
    }

    fn children(&self, t: &Table, parent: &Cell) -> Result<Vec<Cells>, StoreError> {
        let mut stmt = self.0.prepare_cached(&t.sql.children)?;
        let n = t.columns.len();
        let rows = stmt.query_map([parent], |r| cells_of(r, 0, n))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    fn max_int(&self, t: &Table, col: usize) -> Result<Option<i64>, StoreError> {
        let sql = format!(
            "SELECT max({}) FROM {}",
            quote(&t.columns[col].name),
            from(t, super::Dialect::Sqlite)
        );
        Ok(self.0.prepare_cached(&sql)?.query_row([], |r| r.get(0))?)
    }

    fn cell(&self, t: &Table, rowid: i64, col: usize) -> Result<Option<Cell<'static>>, StoreError> {
        let sql = format!(
            "SELECT {} FROM {} WHERE rowid = ?1",
            quote(&t.columns[col].name),
            from(t, super::Dialect::Sqlite)
        );
        Ok(self
            .0
            .prepare_cached(&sql)?
            .query_row([rowid], |r| r.get_ref(0).map(cell_from))
            .optional()?)
    }

    fn any_value(&self, t: &Table, col: usize) -> Result<bool, StoreError> {
        let sql = format!(
            "SELECT 1 FROM {} WHERE {} IS NOT NULL LIMIT 1",
            from(t, super::Dialect::Sqlite),
            quote(&t.columns[col].name)
        );
        Ok(self
            .0
            .prepare_cached(&sql)?
            .query_row([], |_| Ok(()))
            .optional()?
            .is_some())
    }

    fn extra_holds(&self, t: &Table, extra: usize, field: &str) -> Result<bool, StoreError> {
        let col = quote(&t.columns[extra].name);
        let sql = format!(
            "SELECT 1 FROM {} WHERE {col} IS NOT NULL AND json_type({col}, ?1) IS NOT NULL LIMIT 1",
            from(t, super::Dialect::Sqlite),
        );
        let path = format!("$.\"{}\"", field.replace('"', "\\\""));
        Ok(self
            .0
            .prepare_cached(&sql)?
            .query_row([path], |_| Ok(()))
            .optional()?
            .is_some())
    }

    fn rowids_where(
        &self,
        t: &Table,
        any_of: &[(usize, Vec<Cell<'static>>)],
    ) -> Result<Vec<i64>, StoreError> {
        let mut wheres = Vec::new();
        let mut args: Vec<&Cell> = Vec::new();
        for (col, values) in any_of {
            let marks: Vec<String> = (0..values.len())
                .map(|i| format!("?{}", args.len() + i + 1))
                .collect();
            wheres.push(format!(
                "{} IN ({})",
                quote(&t.columns[*col].name),
                marks.join(", ")
            ));
            args.extend(values.iter());
        }
        let sql = format!(
            "SELECT rowid FROM {} WHERE {} ORDER BY rowid",
            from(t, super::Dialect::Sqlite),
            if wheres.is_empty() {
                "1".to_string()
            } else {
                wheres.join(" AND ")
            }
        );
        let rowids = self
            .0
            .prepare_cached(&sql)?
            .query_map(rusqlite::params_from_iter(args), |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        Ok(rowids)
    }

    fn tally(
        &self,
        t: &Table,
        filters: &[(usize, Test)],
        also: &[(usize, Test)],
    ) -> Result<(u64, Vec<u64>), StoreError> {
        let sql = super::select::tally(super::Dialect::Sqlite, t, filters, also);
        let count = || -> Result<(u64, Vec<u64>), StoreError> {
            let args = sql.params.iter().map(|(_, c)| *c);
            Ok(self.0.prepare_cached(&sql.text)?.query_row(
                rusqlite::params_from_iter(args),
                |r| {
                    let counts = (1..=also.len())
                        .map(|i| r.get::<_, i64>(i).map(|n| n as u64))
                        .collect::<rusqlite::Result<_>>()?;
                    Ok((r.get::<_, i64>(0)? as u64, counts))
                },
            )?)
        };
        match self.1 {
            Some(tallies) => tallies.get_or_make(self.0, statement_key(&sql), count),
            None => count(),
        }
    }

    fn select(
        &self,
        t: &Table,
        filters: &[(usize, Test)],
        order: &[OrderBy],
        skip: u64,
        take: Option<u64>,
    ) -> Result<Vec<i64>, StoreError> {
        if let Some(rowids) = self.jump(t, filters, order, skip, take)? {
            return Ok(rowids);
        }
        let sql = super::select::select(super::Dialect::Sqlite, t, filters, order, skip, take);
        let args = sql.params.iter().map(|(_, c)| *c);
        let rowids = self
            .0
            .prepare_cached(&sql.text)?
            .query_map(rusqlite::params_from_iter(args), |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        Ok(rowids)
    }

    fn count_equal(&self, table: &str, column: &str, value: &Cell) -> Result<u64, StoreError> {
        let sql = format!(
            "SELECT count(*) FROM {} WHERE {} = ?1",
            quote(table),
            quote(column)
        );
        let n: i64 = self
            .0
            .prepare_cached(&sql)?
            .query_row([value], |r| r.get(0))?;
        Ok(n as u64)
    }

    fn exists(&self, table: &str, column: &str, value: &Cell) -> Result<bool, StoreError> {
        let sql = format!(
            "SELECT 1 FROM {} WHERE {} = ?1",
            quote(table),
            quote(column)
        );
        Ok(self
            .0
            .prepare_cached(&sql)?
            .query_row([value], |_| Ok(()))
            .optional()?
            .is_some())
    }

    fn count(&self, t: &Table) -> Result<u64, StoreError> {
        Ok(count(self.0, &from(t, super::Dialect::Sqlite))?)
    }

    fn search_ready(&self, t: &Table) -> Result<bool, StoreError> {
        Ok(table_exists(self.0, &super::search::table_name(t))?)
    }

    fn search_create(&self, t: &Table) -> Result<(), StoreError> {
        for sql in super::search::create_sql(super::Dialect::Sqlite, t) {
            self.0.execute(&sql, [])?;
        }
        Ok(())
    }

    fn search_drop(&self, t: &Table) -> Result<(), StoreError> {
        self.0.execute(&super::search::drop_sql(t), [])?;
        Ok(())
    }

    fn search_ranked(&self, t: &Table, term: &str) -> Result<Vec<i64>, StoreError> {
        use super::search::{bound_term, ranked_sql};
        let d = super::Dialect::Sqlite;
        let rowids = self
            .0
            .prepare_cached(&ranked_sql(d, t))?
            .query_map([bound_term(d, term)], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        Ok(rowids)
    }

    fn search_put(&self, t: &Table, rowid: i64, text: Option<String>) -> Result<(), StoreError> {
        use super::search::{delete_sql, insert_sql};
        let d = super::Dialect::Sqlite;
        self.0.prepare_cached(&delete_sql(d, t))?.execute([rowid])?;
        if let Some(text) = text {
            self.0
                .prepare_cached(&insert_sql(d, t))?
                .execute(rusqlite::params![rowid, text])?;
        }
        Ok(())
    }

    fn search_fill(&self, t: &Table, rows: Vec<(i64, String)>) -> Result<(), StoreError> {
        // 256 rows: 512 parameters, far below SQLite's limit, and few distinct statements.
        const ROWS: usize = 256;
        for chunk in rows.chunks(ROWS) {
            let mut stmt = self
                .0
                .prepare_cached(&super::search::insert_rows_sql(t, chunk.len()))?;
            let params: Vec<&dyn ToSql> = chunk
                .iter()
                .flat_map(|(rowid, text)| [rowid as &dyn ToSql, text as &dyn ToSql])
                .collect();
            stmt.execute(params.as_slice())?;
        }
        Ok(())
    }

    fn unused_entities(
        &self,
        entities: &Table,
        join: &Table,
        col: usize,
    ) -> Result<u64, StoreError> {
        let sql = format!(
            "SELECT count(*) FROM {} WHERE {} NOT IN (SELECT {} FROM {})",
            quote(&entities.name),
            quote(&entities.columns[entities.pk].name),
            quote(&join.columns[col].name),
            quote(&join.name)
        );
        Ok(self.0.query_row(&sql, [], |r| r.get::<_, i64>(0))? as u64)
    }

    fn dangling(
        &self,
        table: &str,
        column: &str,
        target: &str,
        target_column: &str,
    ) -> Result<(u64, Option<String>), StoreError> {
        let sql = super::backend::dangling_sql(table, column, target, target_column);
        Ok(self.0.query_row(&sql, [], |r| {
            Ok((r.get::<_, i64>(0)? as u64, r.get::<_, Option<String>>(1)?))
        })?)
    }

    fn insert(&self, t: &Table, cells: &[Cell]) -> Written {
        let mut stmt = self.0.prepare_cached(&t.sql.insert)?;
        written(stmt.execute(rusqlite::params_from_iter(cells.iter())))
    }

    fn update(&self, t: &Table, rowid: i64, cells: &[Cell]) -> Written {
        let sets: Vec<String> = t
            .columns
            .iter()
            .map(|c| format!("{} = ?", quote(&c.name)))
            .collect();
        let sql = format!(
            "UPDATE {} SET {} WHERE rowid = {rowid}{}",
            quote(&t.name),
            sets.join(", "),
            and_only(t)
        );
        let mut stmt = self.0.prepare_cached(&sql)?;
        written(stmt.execute(rusqlite::params_from_iter(cells.iter())))
    }

    fn delete_children(&self, t: &Table, parent: &Cell) -> Result<(), StoreError> {
        let pc = &t.columns[t.parent_col.expect("child table")].name;
        self.0
            .prepare_cached(&format!(
                "DELETE FROM {} WHERE {} = ?1",
                quote(&t.name),
                quote(pc)
            ))?
            .execute([parent])?;
        Ok(())
    }

    fn delete_row(&self, t: &Table, rowid: i64) -> Result<(), StoreError> {
        self.0
            .prepare_cached(&format!(
                "DELETE FROM {} WHERE rowid = ?1{}",
                quote(&t.name),
                and_only(t)
            ))?
            .execute([rowid])?;
        Ok(())
    }

    fn defer_references(&self) -> Result<(), StoreError> {
        self.0.pragma_update(None, "defer_foreign_keys", "ON")?;
        Ok(())
    }

    fn audit_append(&self, e: &NewEntry) -> Result<(), StoreError> {
        Ok(bookkeeping::audit_append(self.0, e)?)
    }

    fn audit_insert(&self, e: &Entry) -> Result<(), StoreError> {
        Ok(bookkeeping::audit_insert(self.0, e)?)
    }

    fn audit_query(&self, f: &Filter) -> Result<Vec<Entry>, StoreError> {
        Ok(bookkeeping::audit_query(self.0, f)?)
    }

    fn audit_last_id(&self) -> Result<i64, StoreError> {
        Ok(bookkeeping::audit_position(self.0)?.0)
    }

    fn sources(&self) -> Result<HashMap<String, SourceState>, StoreError> {
        Ok(bookkeeping::sources(self.0)?)
    }

    fn runs(&self) -> Result<(i64, Option<Run>), StoreError> {
        Ok(bookkeeping::runs(self.0)?)
    }

    fn ledger(&self) -> Result<Vec<LedgerRow>, StoreError> {
        Ok(bookkeeping::ledger(self.0)?)
    }

    fn ledger_insert(&self, r: &LedgerRow) -> Result<(), StoreError> {
        Ok(bookkeeping::ledger_insert(self.0, r)?)
    }

    fn evolution_read(&self) -> Result<Evolution, StoreError> {
        Ok(Evolution {
            schema: bookkeeping::saved_schema_at(self.0)?,
            migrations: bookkeeping::applied_migrations(self.0)?,
        })
    }

    fn source_forget(&self, path: &str) -> Result<(), StoreError> {
        Ok(bookkeeping::forget_source(self.0, path)?)
    }

    fn change_tables(&self, sql: &str) -> Result<(), StoreError> {
        self.0.execute_batch(sql)?;
        self.0.flush_prepared_statement_cache();
        Ok(())
    }

    fn evolution_write(&self, e: &Evolution) -> Result<(), StoreError> {
        if let Some((toml, at)) = &e.schema {
            bookkeeping::save_schema(self.0, toml, at)?;
        }
        for m in &e.migrations {
            bookkeeping::record_migration(self.0, m)?;
        }
        Ok(())
    }

    fn source_write(&self, s: &SourceState) -> Result<(), StoreError> {
        Ok(bookkeeping::write_source(self.0, s)?)
    }

    fn columns(&self, name: &str) -> Result<Option<Vec<(String, String)>>, StoreError> {
        if !table_exists(self.0, name)? {
            return Ok(None);
        }
        let mut stmt = self
            .0
            .prepare(&format!("PRAGMA table_info({})", quote(name)))?;
        let cols = stmt
            .query_map([], |r| Ok((r.get(1)?, r.get(2)?)))?
            .collect::<rusqlite::Result<_>>()?;
        Ok(Some(cols))
    }

    fn integrity(&self) -> Result<String, StoreError> {
        Ok(self
            .0
            .query_row("PRAGMA quick_check(1)", [], |r| r.get(0))?)
    }

    fn size(&self) -> Result<Option<u64>, StoreError> {
        let pages: i64 = self.0.query_row("PRAGMA page_count", [], |r| r.get(0))?;
        let size: i64 = self.0.query_row("PRAGMA page_size", [], |r| r.get(0))?;
        Ok(Some((pages * size) as u64))
    }
}

/// Writes the database `src` into a new SQLite file at `path` (built beside it, then renamed
/// over it), verified: jsonlift's own tables, and of the schema's the `tables` given (in creation
/// order). The ledger gets a row for `action` (`copy`), or none when the caller records the run
/// itself. A failure or a kill leaves `path` as it was.
#[allow(clippy::too_many_arguments)]
pub fn fill_sqlite(
    src: &dyn Tx,
    schema: &Schema,
    tables: &[usize],
    path: &Path,
    replace: bool,
    action: Option<&str>,
    report: &mut transfer::CopyReport,
    progress: transfer::Progress,
) -> anyhow::Result<()> {
    use anyhow::{Context, bail};

    use crate::schema::ddl::{self, create_table, internal_tables};
    if path.exists() && !replace {
        bail!("{} exists; pass --replace to replace it", path.display());
    }
    let name = path
        .file_name()
        .context("the target has no file name")?
        .to_string_lossy()
        .into_owned();
    let temp = path.with_file_name(format!(".{name}.jsonlift-copy-{}", std::process::id()));
    let _ = std::fs::remove_file(&temp);
    struct Remove(std::path::PathBuf);
    impl Drop for Remove {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }
    let guard = Remove(temp.clone());
    let conn = open_plain(&temp)?;
    conn.pragma_update(None, "journal_mode", "OFF")?;
    conn.pragma_update(None, "synchronous", "OFF")?;
    conn.execute_batch("BEGIN")?;
    for sql in internal_tables(super::Dialect::Sqlite) {
        conn.execute_batch(&sql)?;
    }
    let mut made = std::collections::HashSet::new();
    for &ti in tables {
        // A table shared by several collections is made once.
        if made.insert(&schema.tables[ti].name) {
            conn.execute_batch(&create_table(&schema.tables[ti], super::Dialect::Sqlite))?;
        }
    }
    let stx = SqliteTx::new(&conn);
    for &ti in tables {
        let t = &schema.tables[ti];
        let mut n = 0u64;
        for row in transfer::rows_of(src, t) {
            if let Err(r) = stx.insert(t, &row?)? {
                bail!("table {}: the row was refused: {}", t.name, r.message);
            }
            n += 1;
            progress(1);
        }
        report.tables.push((t.name.clone(), n));
    }
    transfer::copy_bookkeeping(src, &stx, action, report)?;
    for &ti in tables {
        for sql in ddl::create_indexes(&schema.tables[ti]) {
            conn.execute_batch(&sql)?;
        }
    }
    let broken: i64 = conn.query_row("SELECT count(*) FROM pragma_foreign_key_check", [], |r| {
        r.get(0)
    })?;
    if broken > 0 {
        bail!("{broken} row(s) refer to rows the copy does not hold");
    }
    transfer::verify(src, &stx, schema, tables, report)?;
    conn.execute_batch("COMMIT")?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    drop(conn);
    std::fs::File::open(&temp)?.sync_all()?;
    std::fs::rename(&temp, path)
        .with_context(|| format!("moving the copy to {}", path.display()))?;
    if let Some(dir) = path.parent() {
        let _ = std::fs::File::open(dir).and_then(|d| d.sync_all());
    }
    std::mem::forget(guard);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rusqlite::config::DbConfig;

    /// With double-quoted string literals on, `"genre"` names no column and reads as the text
    /// 'genre' for every row: a field added to jsonlift.toml after the migration invented its
    /// values. Every way jsonlift opens a database turns them off, in queries and in DDL.
    #[test]
    fn double_quoted_names_that_are_no_column_are_errors_on_every_connection() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        {
            let c = open(&path, Duration::from_secs(1)).unwrap();
            c.execute_batch("CREATE TABLE t (a TEXT); INSERT INTO t VALUES ('x')")
                .unwrap();
        }
        let conns = [
            open(&path, Duration::from_secs(1)).unwrap(),
            open_read_only(&path, Duration::from_secs(1)).unwrap(),
            open_plain(&path).unwrap(),
            open_in_memory().unwrap(),
        ];
        for (i, c) in conns.iter().enumerate() {
            if i == 3 {
                c.execute_batch("CREATE TABLE t (a TEXT); INSERT INTO t VALUES ('x')")
                    .unwrap();
            }
            let e = c
                .query_row("SELECT \"genre\" FROM t", [], |r| r.get::<_, String>(0))
                .unwrap_err();
            assert!(
                e.to_string().contains("no such column"),
                "connection {i}: {e}"
            );
            assert!(!c.db_config(DbConfig::SQLITE_DBCONFIG_DQS_DDL).unwrap());
        }
        // The default, for comparison: what the test guards against.
        let plain = Connection::open(&path).unwrap();
        let v: String = plain
            .query_row("SELECT \"genre\" FROM t", [], |r| r.get(0))
            .unwrap();
        assert_eq!(v, "genre");
    }

    #[test]
    fn an_insert_binds_cells_in_place_and_reports_sqlites_errors_as_rusqlite_does() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "CREATE TABLE t (k TEXT PRIMARY KEY, n INTEGER, f REAL, z, CHECK (n >= 0));
             CREATE TABLE e (k TEXT PRIMARY KEY);",
        )
        .unwrap();
        let mut ins = Insert::new(&conn, "INSERT INTO t VALUES (?1, ?2, ?3, ?4)").unwrap();
        for i in 0..3 {
            // Each row's text is freed before the next is bound.
            let k = format!("key {i} é");
            let row = [
                Cell::Text(k.into()),
                Cell::Int(i),
                Cell::Real(0.5),
                Cell::Null,
            ];
            assert_eq!(ins.execute(&row).unwrap(), 1);
        }
        let got: Vec<(String, i64, f64, Option<i64>)> = conn
            .prepare("SELECT * FROM t ORDER BY k")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(got[2], ("key 2 é".into(), 2, 0.5, None));
        let dup = [
            Cell::Text("key 1 é".into()),
            Cell::Int(9),
            Cell::Null,
            Cell::Null,
        ];
        let e = ins.execute(&dup).unwrap_err();
        assert_eq!(
            e.sqlite_error_code(),
            Some(rusqlite::ErrorCode::ConstraintViolation)
        );
        assert_eq!(
            e.to_string(),
            "UNIQUE constraint failed: t.k",
            "the message constraint_problem reads"
        );
        let bad = [
            Cell::Text("x".into()),
            Cell::Int(-1),
            Cell::Null,
            Cell::Null,
        ];
        assert!(
            ins.execute(&bad)
                .unwrap_err()
                .to_string()
                .contains("CHECK constraint failed")
        );
        // After an error the statement runs again.
        let ok = [Cell::Text("y".into()), Cell::Int(1), Cell::Null, Cell::Null];
        assert_eq!(ins.execute(&ok).unwrap(), 1);
        // An insert that changes nothing says so (a shared entity met again).
        let mut once =
            Insert::new(&conn, "INSERT INTO e VALUES (?1) ON CONFLICT DO NOTHING").unwrap();
        assert_eq!(once.execute(&[Cell::Text("a".into())]).unwrap(), 1);
        assert_eq!(once.execute(&[Cell::Text("a".into())]).unwrap(), 0);
        assert!(Insert::new(&conn, "INSERT INTO nowhere VALUES (1)").is_err());
    }

    #[test]
    fn a_statement_of_many_rows_keeps_the_rows_before_a_refused_one_and_counts_them() {
        let toml = "[collections.t]\nsource = \"t.json\"\nkey = \"k\"\n[collections.t.fields]\nk = \"text\"\nn = { type = \"integer\", required = true }\n";
        let p =
            crate::config::Project::parse(Path::new("/nonexistent/jsonlift.toml"), toml).unwrap();
        let schema = Schema::build(&p).unwrap();
        let t = &schema.tables[0];
        let conn = Connection::open_in_memory().unwrap();
        for sql in crate::schema::ddl::schema_sql(&schema, crate::store::Dialect::Sqlite) {
            conn.execute_batch(&sql).unwrap();
        }
        let (k, n) = (t.col("k").unwrap(), t.col("n").unwrap());
        let row = |key: &str, v: Option<i64>| {
            let mut cells = vec![Cell::Null; t.columns.len()];
            cells[k] = Cell::Text(key.to_string().into());
            cells[n] = v.map_or(Cell::Null, Cell::Int);
            cells
        };
        conn.execute_batch("BEGIN").unwrap();
        let mut four = Insert::new(&conn, &insert_rows_sql(t, 4)).unwrap();
        let rows = [
            row("a", Some(1)),
            row("b", Some(2)),
            row("c", Some(3)),
            row("d", Some(4)),
        ];
        assert_eq!(four.execute_rows(rows.iter().map(|r| &r[..])).unwrap(), 4);
        assert_eq!(four.changed(), 4);
        assert_eq!(conn.last_insert_rowid(), 4);
        // The third row repeats a key: the first two stay, the rest do not go in.
        let rows = [
            row("e", Some(5)),
            row("f", Some(6)),
            row("a", Some(7)),
            row("g", Some(8)),
        ];
        let e = four.execute_rows(rows.iter().map(|r| &r[..])).unwrap_err();
        assert_eq!(
            e.sqlite_error_code(),
            Some(rusqlite::ErrorCode::ConstraintViolation)
        );
        assert_eq!(four.changed(), 2);
        assert_eq!(conn.last_insert_rowid(), 6);
        // A NOT NULL refuses the same way, here at the first row.
        let rows = [
            row("h", None),
            row("i", Some(9)),
            row("j", Some(9)),
            row("k", Some(9)),
        ];
        assert!(four.execute_rows(rows.iter().map(|r| &r[..])).is_err());
        assert_eq!(four.changed(), 0);
        // Too few values is an error, not a statement run with nulls.
        assert!(four.execute_rows([&row("x", Some(1))[..]]).is_err());
        conn.execute_batch("COMMIT").unwrap();
        let keys: Vec<String> = conn
            .prepare("SELECT k FROM t ORDER BY rowid")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(keys, ["a", "b", "c", "d", "e", "f"]);
    }

    #[test]
    fn a_new_tables_count_is_its_rowid_span_only_when_that_holds_exactly_the_rows_inserted() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE t (x); CREATE TABLE u (id INTEGER PRIMARY KEY);")
            .unwrap();
        assert_eq!(count_new(&conn, "t", 0).unwrap(), 0);
        conn.execute_batch("INSERT INTO t VALUES (1), (2), (3)")
            .unwrap();
        assert_eq!(count_new(&conn, "t", 3).unwrap(), 3);
        // A row more than the loader inserted is found, whichever way the span falls.
        assert_eq!(count_new(&conn, "t", 2).unwrap(), 3);
        assert_eq!(count_new(&conn, "t", 4).unwrap(), 3);
        // Keys with gaps: counted.
        conn.execute_batch("INSERT INTO u VALUES (5), (9), (-4)")
            .unwrap();
        assert_eq!(count_new(&conn, "u", 3).unwrap(), 3);
        assert_eq!(count_new(&conn, "u", 2).unwrap(), 3);
    }

    #[test]
    fn every_connection_plans_independently_of_bound_values() {
        let dir = tempfile::tempdir().unwrap();
        let build = dir.path().join("build.db");
        let live = dir.path().join("live.db");
        let qpsg = |c: &Connection| c.db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG).unwrap();
        assert!(qpsg(&open_build(&build).unwrap()));
        assert!(qpsg(&open(&live, Duration::from_secs(1)).unwrap()));
        assert!(qpsg(
            &open_read_only(&live, Duration::from_secs(1)).unwrap()
        ));
    }
}
