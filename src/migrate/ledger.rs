//! jsonlift's own bookkeeping in the database: what each source was when it was migrated (so a
//! second run knows whether anything changed), one ledger row per run, and audit entries.

use std::collections::HashMap;

use rusqlite::{Connection, OptionalExtension, params};
use sha2::{Digest, Sha256};

use crate::schema::Schema;
use crate::schema::ddl::{create_table, create_table_v1};
use crate::source::Layout;
use crate::store::Dialect;
use crate::store::sqlite::table_exists;

/// A source as it was recorded at its last migration.
#[derive(Debug, Clone)]
pub struct SourceState {
    pub path: String,
    pub format: String,
    pub sha256: String,
    pub size: u64,
    pub layout: Layout,
    pub records: u64,
    pub schema_hash: String,
}

/// A fingerprint of everything the schema says about source `si`'s collections: if it changes,
/// the tables would differ and the data must be re-imported.
pub fn schema_hash(schema: &Schema, si: usize) -> String {
    hash_with(schema, si, |t| create_table(t, Dialect::Sqlite))
}

/// The fingerprint an earlier jsonlift recorded for the same schema (its DDL spelled the same
/// tables another way): a source recorded with it needs only its table definitions rewritten.
pub fn schema_hash_v1(schema: &Schema, si: usize) -> String {
    hash_with(schema, si, create_table_v1)
}

/// How the schema a source was recorded with compares with the project file's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SchemaState {
    Current,
    /// The same schema, in the table definitions of an earlier jsonlift.
    Earlier,
    Changed,
}

pub fn schema_state(schema: &Schema, si: usize, recorded: &str) -> SchemaState {
    if recorded == schema_hash(schema, si) {
        SchemaState::Current
    } else if recorded == schema_hash_v1(schema, si) {
        SchemaState::Earlier
    } else {
        SchemaState::Changed
    }
}

fn hash_with(schema: &Schema, si: usize, ddl: impl Fn(&crate::schema::Table) -> String) -> String {
    let mut h = Sha256::new();
    for (ci, c) in schema
        .collections
        .iter()
        .enumerate()
        .filter(|(_, c)| c.source == si)
    {
        h.update(format!(
            "{}:{:?}:{:?}\n",
            c.name, c.format, schema.sources[si].members[c.member].name
        ));
        for t in schema.tables_of(ci) {
            h.update(ddl(&schema.tables[t]));
        }
    }
    hex(&h.finalize())
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub fn read_sources(conn: &Connection) -> anyhow::Result<HashMap<String, SourceState>> {
    if !table_exists(conn, "_jsonlift_sources")? {
        return Ok(HashMap::new());
    }
    let mut stmt = conn.prepare(
        "SELECT path, format, sha256, size, layout, records, schema_hash FROM _jsonlift_sources",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get(1)?,
            r.get(2)?,
            r.get::<_, i64>(3)?,
            r.get::<_, String>(4)?,
            r.get::<_, i64>(5)?,
            r.get(6)?,
        ))
    })?;
    let mut out = HashMap::new();
    for row in rows {
        let (path, format, sha256, size, layout, records, schema_hash) = row?;
        let layout: Layout = serde_json::from_str(&layout).unwrap_or_default();
        out.insert(
            path.clone(),
            SourceState {
                path,
                format,
                sha256,
                size: size as u64,
                layout,
                records: records as u64,
                schema_hash,
            },
        );
    }
    Ok(out)
}

pub fn layout_of(conn: &Connection, path: &str) -> anyhow::Result<Option<Layout>> {
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

pub fn write_source(conn: &Connection, s: &SourceState, at: &str) -> anyhow::Result<()> {
    conn.execute(
        "INSERT OR REPLACE INTO _jsonlift_sources (path, format, sha256, size, layout, records, schema_hash, migrated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![s.path, s.format, s.sha256, s.size as i64, serde_json::to_string(&s.layout)?, s.records as i64, s.schema_hash, at],
    )?;
    Ok(())
}

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

/// The audit entry a migration writes for each collection it loads.
pub fn audit_migration(
    conn: &Connection,
    at: &str,
    collection: &str,
    summary: &serde_json::Value,
) -> anyhow::Result<()> {
    conn.execute(
        "INSERT INTO _jsonlift_audit (at, collection, key, action, old, new, actor, request_id) VALUES (?1, ?2, NULL, 'migrate', NULL, ?3, 'migration', NULL)",
        params![at, collection, summary.to_string()],
    )?;
    Ok(())
}
