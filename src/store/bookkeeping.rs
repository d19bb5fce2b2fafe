//! jsonlift's own tables in a SQLite database: `_jsonlift_sources` (what each source was when
//! it was migrated, so a second run knows whether anything changed), `_jsonlift_ledger` (one row
//! per run) and `_jsonlift_audit` (one row per change to a record). Their DDL is
//! [`crate::schema::ddl::internal_tables`]; every statement that reads or writes them is here,
//! and the rest of jsonlift reaches them through [`super::Tx`] or these functions.
//!
//! Two more are created when first written, so a database made before them reads as one with
//! nothing recorded: `_jsonlift_schema` (the `[collections]` of jsonlift.toml the tables were
//! last made from, which a later plan compares with) and `_jsonlift_migrations` (the numbered
//! SQL files applied, with their sha256).

use std::collections::HashMap;

use rusqlite::{Connection, OptionalExtension, params};

use super::backend::{LedgerRow, Run, SourceState};
use super::sqlite::table_exists;
use crate::audit::{Entry, Filter, NewEntry};
use crate::source::Layout;

// ----- sources -------------------------------------------------------------------------------

pub fn sources(conn: &Connection) -> rusqlite::Result<HashMap<String, SourceState>> {
    if !table_exists(conn, "_jsonlift_sources")? {
        return Ok(HashMap::new());
    }
    let mut stmt = conn.prepare(
        "SELECT path, format, sha256, size, layout, records, schema_hash, migrated_at FROM _jsonlift_sources",
    )?;
    let rows = stmt.query_map([], |r| {
        let layout: String = r.get(4)?;
        Ok(SourceState {
            path: r.get(0)?,
            format: r.get(1)?,
            sha256: r.get(2)?,
            size: r.get::<_, i64>(3)? as u64,
            layout: serde_json::from_str(&layout).unwrap_or_default(),
            records: r.get::<_, i64>(5)? as u64,
            schema_hash: r.get(6)?,
            migrated_at: r.get(7)?,
        })
    })?;
    let mut out = HashMap::new();
    for row in rows {
        let s = row?;
        out.insert(s.path.clone(), s);
    }
    Ok(out)
}

/// The recorded layout (formatting, top-level order) of one source.
pub fn layout_of(conn: &Connection, path: &str) -> rusqlite::Result<Option<Layout>> {
    if !table_exists(conn, "_jsonlift_sources")? {
        return Ok(None);
    }
    let text: Option<String> = conn
        .query_row(
            "SELECT layout FROM _jsonlift_sources WHERE path = ?1",
            [path],
            |r| r.get(0),
        )
        .optional()?;
    Ok(text.and_then(|t| serde_json::from_str(&t).ok()))
}

pub fn write_source(conn: &Connection, s: &SourceState) -> anyhow::Result<()> {
    conn.execute(
        "INSERT OR REPLACE INTO _jsonlift_sources (path, format, sha256, size, layout, records, schema_hash, migrated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![s.path, s.format, s.sha256, s.size as i64, serde_json::to_string(&s.layout)?, s.records as i64, s.schema_hash, s.migrated_at],
    )?;
    Ok(())
}

/// Records that a source's tables are now defined as `schema_hash` says (an upgrade).
pub fn set_schema_hash(conn: &Connection, path: &str, schema_hash: &str) -> rusqlite::Result<()> {
    conn.execute(
        "UPDATE _jsonlift_sources SET schema_hash = ?1 WHERE path = ?2",
        params![schema_hash, path],
    )?;
    Ok(())
}

/// (path, schema_hash) of every source: which schema the database's data is in.
pub fn schema_hashes(conn: &Connection) -> rusqlite::Result<Vec<(String, String)>> {
    if !table_exists(conn, "_jsonlift_sources")? {
        return Ok(Vec::new());
    }
    let mut stmt = conn.prepare("SELECT path, schema_hash FROM _jsonlift_sources")?;
    let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
    rows.collect()
}

/// Forgets a source that no collection reads any more (its collections were dropped).
pub fn forget_source(conn: &Connection, path: &str) -> rusqlite::Result<()> {
    if table_exists(conn, "_jsonlift_sources")? {
        conn.execute("DELETE FROM _jsonlift_sources WHERE path = ?1", [path])?;
    }
    Ok(())
}

/// Records that a source's collections were evolved in place to `schema_hash`: the file as it
/// is now is taken as seen (the database holds the records; the file is no longer read), so
/// the next plain `migrate` has nothing to do.
pub fn set_source_evolved(
    conn: &Connection,
    path: &str,
    (size, sha256): (u64, &str),
    records: u64,
    schema_hash: &str,
    at: &str,
) -> rusqlite::Result<()> {
    conn.execute(
        "UPDATE _jsonlift_sources SET sha256 = ?1, size = ?2, records = ?3, schema_hash = ?4, migrated_at = ?5 WHERE path = ?6",
        params![sha256, size as i64, records as i64, schema_hash, at, path],
    )?;
    Ok(())
}

// ----- the project file the tables were made from -------------------------------------------

/// The `[collections]` (as TOML) the database's tables were last made from; `None` for a
/// database migrated before jsonlift kept it.
pub fn saved_schema(conn: &Connection) -> rusqlite::Result<Option<String>> {
    if !table_exists(conn, "_jsonlift_schema")? {
        return Ok(None);
    }
    conn.query_row("SELECT toml FROM _jsonlift_schema WHERE id = 1", [], |r| {
        r.get(0)
    })
    .optional()
}

/// [`saved_schema`] with the time it was kept.
pub fn saved_schema_at(conn: &Connection) -> rusqlite::Result<Option<(String, String)>> {
    if !table_exists(conn, "_jsonlift_schema")? {
        return Ok(None);
    }
    conn.query_row(
        "SELECT toml, saved_at FROM _jsonlift_schema WHERE id = 1",
        [],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
    .optional()
}

pub fn save_schema(conn: &Connection, toml: &str, at: &str) -> rusqlite::Result<()> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS _jsonlift_schema (\n  id INTEGER PRIMARY KEY CHECK (id = 1),\n  toml TEXT NOT NULL,\n  saved_at TEXT NOT NULL\n)",
    )?;
    conn.execute(
        "INSERT OR REPLACE INTO _jsonlift_schema (id, toml, saved_at) VALUES (1, ?1, ?2)",
        params![toml, at],
    )?;
    Ok(())
}

// ----- numbered SQL migrations ----------------------------------------------------------------

/// A numbered SQL file applied to the database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppliedMigration {
    pub number: u32,
    pub name: String,
    pub sha256: String,
    pub applied_at: String,
}

/// The numbered SQL files applied, by number.
pub fn applied_migrations(conn: &Connection) -> rusqlite::Result<Vec<AppliedMigration>> {
    if !table_exists(conn, "_jsonlift_migrations")? {
        return Ok(Vec::new());
    }
    let mut stmt = conn.prepare(
        "SELECT number, name, sha256, applied_at FROM _jsonlift_migrations ORDER BY number",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok(AppliedMigration {
            number: r.get(0)?,
            name: r.get(1)?,
            sha256: r.get(2)?,
            applied_at: r.get(3)?,
        })
    })?;
    rows.collect()
}

pub fn record_migration(conn: &Connection, m: &AppliedMigration) -> rusqlite::Result<()> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS _jsonlift_migrations (\n  number INTEGER PRIMARY KEY,\n  name TEXT NOT NULL,\n  sha256 TEXT NOT NULL,\n  applied_at TEXT NOT NULL\n)",
    )?;
    conn.execute(
        "INSERT INTO _jsonlift_migrations (number, name, sha256, applied_at) VALUES (?1, ?2, ?3, ?4)",
        params![m.number, m.name, m.sha256, m.applied_at],
    )?;
    Ok(())
}

// ----- runs ----------------------------------------------------------------------------------

pub fn write_run(
    conn: &Connection,
    started: &str,
    finished: &str,
    action: &str,
    schema_hash: &str,
    sources: &serde_json::Value,
    backup: Option<&str>,
) -> anyhow::Result<()> {
    conn.execute(
        "INSERT INTO _jsonlift_ledger (started_at, finished_at, action, schema_hash, sources, backup, version) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![started, finished, action, schema_hash, sources.to_string(), backup, env!("CARGO_PKG_VERSION")],
    )?;
    Ok(())
}

/// Every row of the ledger, oldest first.
pub fn ledger(conn: &Connection) -> rusqlite::Result<Vec<LedgerRow>> {
    if !table_exists(conn, "_jsonlift_ledger")? {
        return Ok(Vec::new());
    }
    let mut stmt = conn.prepare(
        "SELECT id, started_at, finished_at, action, schema_hash, sources, backup, version FROM _jsonlift_ledger ORDER BY id",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok(LedgerRow {
            id: r.get(0)?,
            started_at: r.get(1)?,
            finished_at: r.get(2)?,
            action: r.get(3)?,
            schema_hash: r.get(4)?,
            sources: r.get(5)?,
            backup: r.get(6)?,
            version: r.get(7)?,
        })
    })?;
    rows.collect()
}

pub fn ledger_insert(conn: &Connection, r: &LedgerRow) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT INTO _jsonlift_ledger (id, started_at, finished_at, action, schema_hash, sources, backup, version) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![r.id, r.started_at, r.finished_at, r.action, r.schema_hash, r.sources, r.backup, r.version],
    )?;
    Ok(())
}

/// How many runs the ledger holds, and the last one.
pub fn runs(conn: &Connection) -> rusqlite::Result<(i64, Option<Run>)> {
    if !table_exists(conn, "_jsonlift_ledger")? {
        return Ok((0, None));
    }
    let n = conn.query_row("SELECT count(*) FROM _jsonlift_ledger", [], |r| r.get(0))?;
    let last = conn
        .query_row(
            "SELECT action, started_at, finished_at, version FROM _jsonlift_ledger ORDER BY id DESC LIMIT 1",
            [],
            |r| {
                Ok(Run {
                    action: r.get(0)?,
                    started_at: r.get(1)?,
                    finished_at: r.get(2)?,
                    version: r.get(3)?,
                })
            },
        )
        .optional()?;
    Ok((n, last))
}

// ----- audit ---------------------------------------------------------------------------------

pub fn audit_append(conn: &Connection, e: &NewEntry) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT INTO _jsonlift_audit (at, collection, key, action, old, new, actor, request_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?
    .execute(params![
        e.at,
        e.collection,
        e.key,
        e.action,
        e.old,
        e.new,
        e.actor,
        e.request_id
    ])?;
    Ok(())
}

/// Inserts an entry as it was logged, id included.
pub fn audit_insert(conn: &Connection, e: &Entry) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT INTO _jsonlift_audit (id, at, collection, key, action, old, new, actor, request_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?
    .execute(params![
        e.id,
        e.at,
        e.collection,
        e.key,
        e.action,
        e.old,
        e.new,
        e.actor,
        e.request_id
    ])?;
    Ok(())
}

/// The columns every audit query selects, in the order [`read_entry`] reads them.
const COLUMNS: &str = "id, at, collection, key, action, old, new, actor, request_id";

fn read_entry(r: &rusqlite::Row) -> rusqlite::Result<Entry> {
    Ok(Entry {
        id: r.get(0)?,
        at: r.get(1)?,
        collection: r.get(2)?,
        key: r.get(3)?,
        action: r.get(4)?,
        old: r.get(5)?,
        new: r.get(6)?,
        actor: r.get(7)?,
        request_id: r.get(8)?,
    })
}

/// Entries matching `f`, oldest first.
pub fn audit_query(conn: &Connection, f: &Filter) -> rusqlite::Result<Vec<Entry>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM _jsonlift_audit \
         WHERE (?1 IS NULL OR collection = ?1) AND (?2 IS NULL OR key = ?2) \
         AND (?3 IS NULL OR at >= ?3) AND (?4 IS NULL OR id > ?4) ORDER BY id LIMIT ?5"
    ))?;
    let limit = f.limit.map(|n| n as i64).unwrap_or(-1);
    let rows = stmt.query_map(
        params![f.collection, f.key, f.since, f.after_id, limit],
        read_entry,
    )?;
    rows.collect()
}

/// Walks the entries after `id`, oldest first, one at a time (a replay may be long).
pub fn audit_after(
    conn: &Connection,
    id: i64,
    f: &mut dyn FnMut(Entry) -> anyhow::Result<bool>,
) -> anyhow::Result<()> {
    let mut stmt = conn.prepare(&format!(
        "SELECT {COLUMNS} FROM _jsonlift_audit WHERE id > ?1 ORDER BY id"
    ))?;
    let mut rows = stmt.query([id])?;
    while let Some(r) = rows.next()? {
        if !f(read_entry(r)?)? {
            break;
        }
    }
    Ok(())
}

/// The time of entry `id`, if there is one.
pub fn audit_time(conn: &Connection, id: i64) -> rusqlite::Result<Option<String>> {
    conn.query_row("SELECT at FROM _jsonlift_audit WHERE id = ?1", [id], |r| {
        r.get(0)
    })
    .optional()
}

/// The last audit entry: its id and time (0 and none when there is none).
pub fn audit_position(conn: &Connection) -> rusqlite::Result<(i64, Option<String>)> {
    if !table_exists(conn, "_jsonlift_audit")? {
        return Ok((0, None));
    }
    Ok(conn
        .query_row(
            "SELECT id, at FROM _jsonlift_audit ORDER BY id DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?
        .unwrap_or((0, None)))
}

/// Whether the database has an audit log at all.
pub fn has_audit(conn: &Connection) -> rusqlite::Result<bool> {
    table_exists(conn, "_jsonlift_audit")
}
