//! The record write path point-in-time replay goes through: put a record (replacing the one
//! with the same key, children included) or delete one, plus its `_jsonlift_audit` row, in the
//! caller's transaction.
//!
//! Interim: `jsonlift serve`'s store module owns this path once it is merged; replay must then
//! call it instead ([`super::pitr::apply`] is the one place to change) so that a replayed write
//! lands exactly as the server wrote it.

use anyhow::{Context, bail};
use rusqlite::{Connection, OptionalExtension, params, params_from_iter};

use crate::json::{Value, parse, to_compact_string};
use crate::schema::Schema;
use crate::schema::ddl::quote;
use crate::schema::rebuild::rebuild;
use crate::schema::shred::{Ids, shred};
use crate::store::sqlite::{cell_from, fetch_children};

/// One `_jsonlift_audit` row.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEntry {
    pub id: i64,
    pub at: String,
    pub collection: String,
    pub key: Option<String>,
    pub action: String,
    pub old: Option<String>,
    pub new: Option<String>,
    pub actor: Option<String>,
    pub request_id: Option<String>,
}

fn collection(schema: &Schema, name: &str) -> anyhow::Result<usize> {
    schema
        .collections
        .iter()
        .position(|c| c.name == name)
        .with_context(|| format!("collection {name:?} is not in jsonlift.toml"))
}

/// The root table and its key column of a collection that has keys.
fn keyed(schema: &Schema, ci: usize) -> anyhow::Result<(usize, String)> {
    let ti = schema.collections[ci].table;
    let t = &schema.tables[ti];
    let key = match t.key_col {
        Some(k) => Some(k),
        // A key field inside the record is the table's primary key.
        None => schema.collections[ci].key_field.as_ref().map(|_| t.pk),
    };
    let Some(k) = key else {
        bail!(
            "collection {} has no key; records without a key cannot be written by key",
            schema.collections[ci].name
        );
    };
    Ok((ti, t.columns[k].name.clone()))
}

/// The record stored under `key`, as JSON text in its source shape, and its rowid.
pub fn get(
    conn: &Connection,
    schema: &Schema,
    coll: &str,
    key: &str,
) -> anyhow::Result<Option<(i64, String)>> {
    let ci = collection(schema, coll)?;
    let (ti, kc) = keyed(schema, ci)?;
    let t = &schema.tables[ti];
    let cols: Vec<String> = t.columns.iter().map(|c| quote(&c.name)).collect();
    let sql = format!(
        "SELECT rowid, {} FROM {} WHERE {} = ?1",
        cols.join(", "),
        quote(&t.name),
        quote(&kc)
    );
    let row = conn
        .query_row(&sql, [key], |r| {
            let rowid: i64 = r.get(0)?;
            let cells = (1..=t.columns.len())
                .map(|i| r.get_ref(i).map(cell_from))
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok((rowid, cells))
        })
        .optional()?;
    let Some((rowid, cells)) = row else {
        return Ok(None);
    };
    let mut fetch =
        |t: usize, p: &crate::schema::shred::Cell<'static>| fetch_children(conn, schema, t, p);
    let (_, value) = rebuild(schema, ti, &cells, &mut fetch)?;
    Ok(Some((rowid, to_compact_string(&value))))
}

/// Puts `record` (JSON text) under `key`, replacing any record with that key in place (it keeps
/// its position). Returns the previous record's JSON.
pub fn put(
    conn: &Connection,
    schema: &Schema,
    coll: &str,
    key: &str,
    record: &str,
) -> anyhow::Result<Option<String>> {
    let ci = collection(schema, coll)?;
    let (ti, kc) = keyed(schema, ci)?;
    let value: Value = parse(record.as_bytes(), 10_000)
        .map_err(|e| anyhow::anyhow!("record {coll}/{key} is not JSON: {e}"))?;
    let old = get(conn, schema, coll, key)?;
    let t = &schema.tables[ti];
    if old.is_some() {
        conn.execute(
            &format!("DELETE FROM {} WHERE {} = ?1", quote(&t.name), quote(&kc)),
            [key],
        )?;
    }
    let mut ids = Ids::new(schema.tables.len());
    for tj in schema.tables_of(ci) {
        let max: i64 = conn.query_row(
            &format!(
                "SELECT coalesce(max(rowid), 0) FROM {}",
                quote(&schema.tables[tj].name)
            ),
            [],
            |r| r.get(0),
        )?;
        ids.start_after(tj, max);
    }
    let key_in_record = schema.collections[ci].key_field.is_some();
    let rows = shred(
        schema,
        ci,
        (!key_in_record).then_some(key),
        &value,
        &mut ids,
    )
    .map_err(|errs| {
        let msgs: Vec<String> = errs
            .iter()
            .map(|e| format!("{}: {}", e.path, e.message))
            .collect();
        anyhow::anyhow!(
            "record {coll}/{key} does not fit the schema: {}",
            msgs.join("; ")
        )
    })?;
    for (i, row) in rows.iter().enumerate() {
        let mut stmt = conn.prepare_cached(&schema.tables[row.table].sql.insert)?;
        stmt.execute(params_from_iter(row.cells.iter()))?;
        if i == 0 {
            if let Some((old_rowid, _)) = &old {
                let new_rowid = conn.last_insert_rowid();
                if new_rowid != *old_rowid {
                    conn.execute(
                        &format!("UPDATE {} SET rowid = ?1 WHERE rowid = ?2", quote(&t.name)),
                        params![old_rowid, new_rowid],
                    )?;
                }
            }
        }
    }
    Ok(old.map(|(_, j)| j))
}

/// Deletes the record under `key` (children go with it). Returns it, if there was one.
pub fn delete(
    conn: &Connection,
    schema: &Schema,
    coll: &str,
    key: &str,
) -> anyhow::Result<Option<String>> {
    let ci = collection(schema, coll)?;
    let (ti, kc) = keyed(schema, ci)?;
    let old = get(conn, schema, coll, key)?;
    conn.execute(
        &format!(
            "DELETE FROM {} WHERE {} = ?1",
            quote(&schema.tables[ti].name),
            quote(&kc)
        ),
        [key],
    )?;
    Ok(old.map(|(_, j)| j))
}

/// Appends an audit row (with its own id when `e.id` > 0, the next one otherwise).
pub fn append_audit(conn: &Connection, e: &AuditEntry) -> anyhow::Result<i64> {
    conn.execute(
        "INSERT INTO _jsonlift_audit (id, at, collection, key, action, old, new, actor, request_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        params![
            (e.id > 0).then_some(e.id),
            e.at,
            e.collection,
            e.key,
            e.action,
            e.old,
            e.new,
            e.actor,
            e.request_id
        ],
    )?;
    Ok(conn.last_insert_rowid())
}

/// One write as a client makes it: the record change and its audit row in one
/// `BEGIN IMMEDIATE` transaction. `record` `None` deletes.
pub fn write(
    conn: &Connection,
    schema: &Schema,
    coll: &str,
    key: &str,
    record: Option<&str>,
    actor: &str,
) -> anyhow::Result<i64> {
    conn.execute_batch("BEGIN IMMEDIATE")?;
    let result = (|| {
        let (action, old) = match record {
            Some(r) => {
                let old = put(conn, schema, coll, key, r)?;
                (if old.is_some() { "update" } else { "insert" }, old)
            }
            None => ("delete", delete(conn, schema, coll, key)?),
        };
        append_audit(
            conn,
            &AuditEntry {
                id: 0,
                at: crate::clock::now(),
                collection: coll.to_string(),
                key: Some(key.to_string()),
                action: action.to_string(),
                old,
                new: record.map(str::to_string),
                actor: Some(actor.to_string()),
                request_id: None,
            },
        )
    })();
    match result {
        Ok(id) => {
            conn.execute_batch("COMMIT")?;
            Ok(id)
        }
        Err(e) => {
            let _ = conn.execute_batch("ROLLBACK");
            Err(e)
        }
    }
}
