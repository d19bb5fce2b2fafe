//! A row the database refused, explained where the user can find it: the path of the row
//! inside its record (`$.modules[1].lessons[0]`) and what was wrong, in words ("duplicate
//! code: another record already has code = \"x\""). Used by `migrate` for the rows it loads
//! and by the record store for the rows an API write makes, whatever the backend.

use super::backend::Refusal;
use crate::json::{JsonPath, Seg};
use crate::schema::shred::{Cell, Row};
use crate::schema::{Role, Schema, Table};

/// The path, relative to its record, of row `i` among a record's rows (rows come parent first,
/// and a row's parent is the nearest earlier row of the parent table).
pub fn row_path(schema: &Schema, rows: &[Row], i: usize) -> JsonPath {
    let t = &schema.tables[rows[i].table];
    if let Some(join) = t.join {
        // A shared entity sits where its join row (emitted just after it) does.
        return match (i + 1..rows.len()).find(|&j| rows[j].table == join) {
            Some(j) => row_path(schema, rows, j),
            None => JsonPath::root(),
        };
    }
    let Some(parent) = t.parent else {
        return JsonPath::root();
    };
    let pi = (0..i).rev().find(|&j| rows[j].table == parent).unwrap_or(0);
    let mut p = row_path(schema, rows, pi);
    for k in &t.parent_path {
        p.0.push(Seg::Key(k.clone()));
    }
    if let Cell::Int(pos) = rows[i].cells[t.pos_col.expect("child table")] {
        p.0.push(Seg::Index(pos as usize));
    }
    p
}

/// The path (relative to the record) and an explanation of the refusal of row `i` of a
/// record's rows.
pub fn problem(schema: &Schema, rows: &[Row], i: usize, refused: &Refusal) -> (JsonPath, String) {
    let t = &schema.tables[rows[i].table];
    let path = row_path(schema, rows, i);
    let message = match &refused.unique {
        Some(names) => duplicate(t, &rows[i].cells, names),
        None => format!("{} (in table {})", refused.message, t.name),
    };
    (path, message)
}

/// What a row of `t` holding `cells` repeats of another's, in the UNIQUE columns `names`.
pub fn duplicate(t: &Table, cells: &[Cell], names: &[String]) -> String {
    let described: Vec<String> = names
        .iter()
        .filter_map(|n| t.col(n))
        .map(|c| match &cells[c] {
            Cell::Text(s) => format!("{} = {:?}", t.columns[c].name, s),
            Cell::Int(n) => format!("{} = {n}", t.columns[c].name),
            Cell::Real(f) => format!("{} = {f}", t.columns[c].name),
            Cell::Null => format!("{} = null", t.columns[c].name),
        })
        .collect();
    // Point at the field when one declared field is the culprit; at the record otherwise.
    if let [n] = names {
        if let Some(c) = t.col(n) {
            if t.columns[c].role == Role::Field {
                return format!(
                    "duplicate {}: another record already has {}",
                    t.columns[c].name,
                    described.join(", ")
                );
            }
        }
    }
    format!(
        "duplicate key: another record already has {}",
        described.join(", ")
    )
}
