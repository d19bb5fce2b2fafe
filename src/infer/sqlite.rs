//! What `init` and `infer` learn from a legacy SQLite database's own definitions (issue #17):
//! its tables, their primary keys, unique indexes and declared foreign keys, and which text
//! columns hold JSON (every non-empty text in them is a JSON array or object). The records
//! themselves are then read through the real reader ([`crate::source::sqlite`]) like any source,
//! so nested arrays in JSON text become child tables as they do from JSON files.

use std::path::Path;

use crate::error::Problem;
use crate::store::legacy::{self, Legacy};

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

/// The tables of the database at `path` (jsonlift's own and SQLite's left out), or a problem
/// named by `rel`. `None` for a database jsonlift made (only its tables in it), which is no
/// source.
pub fn inspect(path: &Path, rel: &str) -> Result<Option<Vec<LegacyTable>>, Problem> {
    let fail = |e: legacy::Error| Problem::new(rel, format!("cannot read the database: {e}"));
    let db = Legacy::open(path).map_err(fail)?;
    let mut out = Vec::new();
    for name in db.tables().map_err(fail)? {
        // A table a jsonlift migration made (into a legacy file, too) is no legacy table.
        if db.is_jsonlift_table(&name) {
            continue;
        }
        out.push(table(&db, &name).map_err(fail)?);
    }
    if out.is_empty() && db.has_ledger() {
        return Ok(None);
    }
    Ok(Some(out))
}

fn table(db: &Legacy, name: &str) -> legacy::Result<LegacyTable> {
    let info = db.table_info(name)?;
    let mut json = Vec::new();
    for (col, decl) in &info.columns {
        let d = decl.to_ascii_uppercase();
        if d.contains("INT") || d.contains("REAL") || d.contains("FLOA") || d.contains("DOUB") {
            continue;
        }
        // JSON: some text, and every text a well-formed array or object.
        let (texts, json_texts) = db.json_texts(name, col)?;
        if texts > 0 && texts == json_texts {
            json.push(col.clone());
        }
    }
    Ok(LegacyTable {
        name: name.to_string(),
        json,
        pk: info.pk,
        unique: info.unique,
        references: info.references,
    })
}
