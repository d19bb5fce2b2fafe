//! SQLite: opening with the right pragmas, binding cells, and reading rows back in record order.

use std::borrow::Cow;
use std::path::Path;
use std::time::Duration;

use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{Connection, OpenFlags, ToSql};

use crate::schema::ddl::quote;
use crate::schema::rebuild::Rows;
use crate::schema::shred::Cell;
use crate::schema::{Schema, Table, TableSql};

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

/// Plans that do not depend on the values bound. Without this, SQLite (built with STAT4) marks a
/// statement like "the children of ?1" for re-preparation whenever ?1 changes, and re-parses
/// it on nearly every execution: a third of the load's time on nested data.
fn stable_plans(conn: &Connection) -> rusqlite::Result<()> {
    conn.set_db_config(
        rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
        true,
    )?;
    Ok(())
}

/// Opens a live database the way every jsonlift process must: foreign keys on, WAL, and a busy
/// timeout so that a short lock held by another process is waited for rather than failed on.
pub fn open(path: &Path, busy: Duration) -> rusqlite::Result<Connection> {
    let conn = Connection::open(path)?;
    stable_plans(&conn)?;
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
    stable_plans(&conn)?;
    conn.busy_timeout(busy)?;
    Ok(conn)
}

/// Opens a brand-new database file that nobody else can see yet (it is renamed into place when
/// complete): no journal and no syncs while loading, since a failure just deletes the file.
pub fn open_build(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open(path)?;
    stable_plans(&conn)?;
    conn.pragma_update(None, "journal_mode", "OFF")?;
    conn.pragma_update(None, "synchronous", "OFF")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.pragma_update(None, "cache_size", "-32768")?; // 32 MiB: bounded memory whatever the input
    conn.pragma_update(None, "temp_store", "FILE")?;
    Ok(conn)
}

/// The statements used per record, built once per table.
pub fn table_sql(t: &Table) -> TableSql {
    TableSql {
        insert: if t.join.is_some() {
            // A shared entity is stored at its first occurrence; the loader compares the others.
            format!(
                "{} ON CONFLICT ({}) DO NOTHING",
                insert_sql(t),
                quote(&t.columns[t.pk].name)
            )
        } else {
            insert_sql(t)
        },
        by_rowid: select_by_rowid_sql(t),
        by_rowid_range: format!(
            "SELECT rowid, {} FROM {} WHERE rowid BETWEEN ?1 AND ?2 ORDER BY rowid",
            select_list(t),
            quote(&t.name)
        ),
        children: if t.parent_col.is_some() {
            select_children_sql(t)
        } else if t.join.is_some() {
            format!(
                "SELECT {} FROM {} WHERE {} = ?1",
                select_list(t),
                quote(&t.name),
                quote(&t.columns[t.pk].name)
            )
        } else {
            String::new()
        },
    }
}

pub fn table_exists(conn: &Connection, name: &str) -> rusqlite::Result<bool> {
    conn.query_row(
        "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?1",
        [name],
        |r| r.get::<_, i64>(0),
    )
    .map(|n| n > 0)
}

pub fn insert_sql(t: &Table) -> String {
    let cols: Vec<String> = t.columns.iter().map(|c| quote(&c.name)).collect();
    let params: Vec<&str> = t.columns.iter().map(|_| "?").collect();
    format!(
        "INSERT INTO {} ({}) VALUES ({})",
        quote(&t.name),
        cols.join(", "),
        params.join(", ")
    )
}

fn select_list(t: &Table) -> String {
    t.columns
        .iter()
        .map(|c| quote(&c.name))
        .collect::<Vec<_>>()
        .join(", ")
}

/// All rows of a root table in record order (rowid order is the order records were loaded or
/// added in).
pub fn select_all_sql(t: &Table) -> String {
    format!(
        "SELECT {} FROM {} ORDER BY rowid",
        select_list(t),
        quote(&t.name)
    )
}

/// One row by rowid.
pub fn select_by_rowid_sql(t: &Table) -> String {
    format!(
        "SELECT {} FROM {} WHERE rowid = ?1",
        select_list(t),
        quote(&t.name)
    )
}

/// The children of one parent, in array order.
pub fn select_children_sql(t: &Table) -> String {
    let parent = &t.columns[t.parent_col.expect("child table")].name;
    let pos = &t.columns[t.pos_col.expect("child table")].name;
    format!(
        "SELECT {} FROM {} WHERE {} = ?1 ORDER BY {}",
        select_list(t),
        quote(&t.name),
        quote(parent),
        quote(pos)
    )
}

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
pub fn count(conn: &Connection, table: &str) -> rusqlite::Result<u64> {
    conn.query_row(&format!("SELECT count(*) FROM {}", quote(table)), [], |r| {
        r.get::<_, i64>(0)
    })
    .map(|n| n as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rusqlite::config::DbConfig;

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
