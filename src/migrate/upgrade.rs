//! Databases made by an earlier jsonlift: the same schema, spelled in table definitions that
//! some clients read wrongly (issue #13: JSON checks that refuse NULL before SQLite 3.42,
//! nullable generated keys, inline foreign keys). `migrate` rewrites those tables in the current
//! form, in place and in one transaction, after a database backup: SQLite's table-rebuild
//! procedure (new table, rows copied with their rowids, old one dropped, new one renamed), every
//! table's rows compared before and after, foreign keys checked, then the recorded fingerprint
//! updated. Edits made through the API since the migration are rows like any other: kept.

use anyhow::{Context, bail};
use rusqlite::Connection;
use rusqlite::types::ValueRef;
use sha2::{Digest, Sha256};

use crate::schema::ddl::{create_indexes, create_table, quote};
use crate::schema::fingerprint::{SchemaState, schema_hash, schema_state};
use crate::schema::{Role, Schema, Table};
use crate::store::Dialect;
use crate::store::backend::SourceState;
use crate::store::bookkeeping;

/// The sources whose collections are recorded with an earlier jsonlift's table definitions
/// (and otherwise unchanged): their tables are what [`rewrite`] rewrites.
pub fn sources_to_upgrade(
    schema: &Schema,
    recorded: &std::collections::HashMap<String, SourceState>,
) -> Vec<usize> {
    sources_in(schema, recorded, SchemaState::Earlier)
}

/// The recorded sources whose recorded schema compares with the project file's as `state`.
pub fn sources_in(
    schema: &Schema,
    recorded: &std::collections::HashMap<String, SourceState>,
    state: SchemaState,
) -> Vec<usize> {
    (0..schema.sources.len())
        .filter(|&si| {
            recorded
                .get(&schema.sources[si].display)
                .is_some_and(|s| schema_state(schema, si, &s.schema_hash) == state)
        })
        .collect()
}

/// Rewrites the tables of `sources` in the current form on `conn`, inside the caller's
/// transaction (foreign keys must be off: dropping a table others refer to would otherwise
/// cascade). Returns the names of the tables rewritten. Any difference in the rows, or a
/// broken reference, is an error, and the caller rolls back.
pub fn rewrite(
    conn: &Connection,
    schema: &Schema,
    sources: &[usize],
) -> anyhow::Result<Vec<String>> {
    let mut done = Vec::new();
    for &si in sources {
        for (ci, _) in schema
            .collections
            .iter()
            .enumerate()
            .filter(|(_, c)| c.source == si)
        {
            for t in schema.tables_of(ci) {
                let table = &schema.tables[t];
                rewrite_table(conn, table)
                    .with_context(|| format!("rewriting table {}", table.name))?;
                done.push(table.name.clone());
            }
        }
        bookkeeping::set_schema_hash(conn, &schema.sources[si].display, &schema_hash(schema, si))?;
    }
    let mut stmt = conn.prepare("PRAGMA foreign_key_check")?;
    let broken: Vec<String> = stmt
        .query_map([], |r| r.get::<_, String>(0))?
        .collect::<rusqlite::Result<_>>()?;
    if let Some(t) = broken.iter().find(|t| done.contains(t)) {
        bail!(
            "table {t} holds a reference to a missing record (PRAGMA foreign_key_check); nothing was changed"
        );
    }
    Ok(done)
}

fn rewrite_table(conn: &Connection, t: &Table) -> anyhow::Result<()> {
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
        bail!(
            "its rows differ after the rewrite ({} rows before, {} after); nothing was changed",
            before.0,
            after.0
        );
    }
    Ok(())
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
