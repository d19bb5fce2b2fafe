//! What `init` and `infer` learn from a legacy SQLite database's own definitions (issue #17):
//! its tables, their primary keys, unique indexes and declared foreign keys, and which text
//! columns hold JSON (every non-empty text in them is a JSON array or object). The records
//! themselves are then read through the real reader ([`crate::source::sqlite`]) like any source,
//! so nested arrays in JSON text become child tables as they do from JSON files.

use std::path::Path;

use rusqlite::Connection;

use crate::error::Problem;
use crate::source::sqlite::{is_jsonlift_table, open_read_only, quote};

/// One table of the legacy database.
#[derive(Debug, Clone)]
pub struct LegacyTable {
    pub name: String,
    /// Columns whose every non-empty text is a JSON array or object.
    pub json: Vec<String>,
    /// The primary key, when it is one column.
    pub pk: Option<String>,
    /// Columns with a one-column UNIQUE constraint or unique index.
    pub unique: Vec<String>,
    /// Declared foreign keys of one column: (column, referenced table).
    pub references: Vec<(String, String)>,
}

/// Whether jsonlift's ledger is in the database.
fn has_ledger(conn: &Connection) -> bool {
    conn.query_row(
        "SELECT 1 FROM sqlite_schema WHERE name = '_jsonlift_sources'",
        [],
        |_| Ok(()),
    )
    .is_ok()
}

/// The tables of the database at `path` (jsonlift's own and SQLite's left out), or a problem
/// named by `rel`. `None` for a database jsonlift made (only its tables in it), which is no
/// source.
pub fn inspect(path: &Path, rel: &str) -> Result<Option<Vec<LegacyTable>>, Problem> {
    let fail = |e: rusqlite::Error| Problem::new(rel, format!("cannot read the database: {e}"));
    let names = crate::source::sqlite::tables(path).map_err(fail)?;
    let conn = open_read_only(path).map_err(fail)?;
    let mut out = Vec::new();
    for name in names {
        // A table a jsonlift migration made (into a legacy file, too) is no legacy table.
        if is_jsonlift_table(&conn, &name) {
            continue;
        }
        out.push(table(&conn, &name).map_err(fail)?);
    }
    if out.is_empty() && has_ledger(&conn) {
        return Ok(None);
    }
    Ok(Some(out))
}

fn table(conn: &Connection, name: &str) -> rusqlite::Result<LegacyTable> {
    let mut cols: Vec<(String, String, i64)> = Vec::new();
    {
        let mut st = conn.prepare(&format!("PRAGMA table_info({})", quote(name)))?;
        let rows = st.query_map([], |r| Ok((r.get(1)?, r.get(2)?, r.get(5)?)))?;
        for r in rows {
            cols.push(r?);
        }
    }
    let pks: Vec<&String> = cols.iter().filter(|c| c.2 > 0).map(|c| &c.0).collect();
    let pk = (pks.len() == 1).then(|| pks[0].clone());
    let mut unique = Vec::new();
    {
        let mut st = conn.prepare(&format!("PRAGMA index_list({})", quote(name)))?;
        let idx: Vec<(String, bool, String)> = st
            .query_map([], |r| Ok((r.get(1)?, r.get(2)?, r.get(3)?)))?
            .collect::<rusqlite::Result<_>>()?;
        for (index, is_unique, origin) in idx {
            if !is_unique || origin == "pk" {
                continue;
            }
            let mut st = conn.prepare(&format!("PRAGMA index_info({})", quote(&index)))?;
            let on: Vec<Option<String>> = st
                .query_map([], |r| r.get(2))?
                .collect::<rusqlite::Result<_>>()?;
            if let [Some(c)] = on.as_slice() {
                if !unique.contains(c) {
                    unique.push(c.clone());
                }
            }
        }
    }
    let mut references = Vec::new();
    {
        let mut st = conn.prepare(&format!("PRAGMA foreign_key_list({})", quote(name)))?;
        let fks: Vec<(i64, String, String)> = st
            .query_map([], |r| Ok((r.get(0)?, r.get(2)?, r.get(3)?)))?
            .collect::<rusqlite::Result<_>>()?;
        for (id, target, from) in &fks {
            // One-column keys only: a composite one is no field's reference.
            if fks.iter().filter(|f| f.0 == *id).count() == 1 {
                references.push((from.clone(), target.clone()));
            }
        }
    }
    let mut json = Vec::new();
    for (col, decl, _) in &cols {
        let d = decl.to_ascii_uppercase();
        if d.contains("INT") || d.contains("REAL") || d.contains("FLOA") || d.contains("DOUB") {
            continue;
        }
        // JSON: some text, and every text a well-formed array or object.
        let (texts, json_texts): (i64, i64) = conn.query_row(
            &format!(
                "SELECT count(*), count(*) FILTER (WHERE json_valid(x) AND json_type(x) IN ('array', 'object')) FROM (SELECT {} AS x FROM {}) WHERE typeof(x) = 'text'",
                quote(col),
                quote(name)
            ),
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        if texts > 0 && texts == json_texts {
            json.push(col.clone());
        }
    }
    Ok(LegacyTable {
        name: name.to_string(),
        json,
        pk,
        unique,
        references,
    })
}
