//! Record-by-record comparison of a database with its sources: each source record is rebuilt
//! from the database and compared exactly (values, key order, number spellings); row counts of
//! every table must match what the records account for.

use std::collections::HashMap;

use super::load::{place, record_file};
use super::progress::Progress;
use super::report::Report;
use crate::error::Problem;
use crate::json::{JsonPath, Value, to_compact_string};
use crate::schema::Schema;
use crate::schema::rebuild::rebuild;
use crate::schema::shred::Cell;
use crate::source::{self, SourceSpec};
use crate::store::Tx;
use crate::store::cursor::RowCursor;
use crate::store::cursor::children_of;

/// Compares source `si`, read through `spec`, with the database. Problems go to `report`.
pub fn verify_source(
    tx: &dyn Tx,
    schema: &Schema,
    si: usize,
    spec: &SourceSpec,
    report: &mut Report,
    progress: &Progress,
) -> anyhow::Result<()> {
    let mut reader = match source::open(spec) {
        Ok(r) => r,
        Err(p) => {
            report.problem(p);
            return Ok(());
        }
    };
    let bar = progress.source(&format!("verify {}", spec.display), reader.total_bytes());
    let colls: Vec<usize> = (0..spec.members.len())
        .map(|m| {
            schema
                .collections
                .iter()
                .position(|c| c.source == si && c.member == m)
                .expect("member has a collection")
        })
        .collect();
    let mut cursors: Vec<RowCursor> = colls
        .iter()
        .map(|&c| RowCursor::new(schema, schema.collections[c].table))
        .collect();
    let mut seen: HashMap<usize, u64> = HashMap::new();
    let mut n = 0u64;
    let by_file = source::is_folder(spec);
    let mut matched = 0u64;
    while let Some(next) = reader.next_record() {
        let rec = match next {
            Ok(r) => r,
            Err(p) => {
                report.problem(p);
                continue;
            }
        };
        n += 1;
        if n % 4096 == 0 {
            bar.set(reader.bytes_read(), n);
        }
        let file = record_file(spec, rec.member, rec.key.as_deref());
        let ti = schema.collections[colls[rec.member]].table;
        let found = match by_file {
            // A folder's records are its files: matched by file name, since the order of the
            // rows is only the order files were added in (the live sync appends new ones).
            true => {
                let t = &schema.tables[ti];
                let name = Cell::Text(rec.key.clone().unwrap_or_default().into());
                match t.key_col {
                    Some(kc) => match tx.rowid_by(t, kc, &name)? {
                        Some(rowid) => {
                            matched += 1;
                            Some(tx.row(t, rowid)?)
                        }
                        None => None,
                    },
                    None => None,
                }
            }
            false => cursors[rec.member].next(tx)?,
        };
        let Some(cells): Option<Vec<Cell<'static>>> = found else {
            report.problem(place(
                &rec.origin,
                file,
                &JsonPath::root(),
                format!(
                    "this record is not in the database (table {})",
                    schema.tables[ti].name
                ),
            ));
            continue;
        };
        let mut fetch = |t: usize, parent: &Cell<'static>| {
            let rows = children_of(tx, schema, t, parent)?;
            *seen.entry(t).or_default() += rows.len() as u64;
            Ok(rows)
        };
        let (key, value) = rebuild(schema, ti, &cells, &mut fetch)?;
        if key.is_some() && key != rec.key {
            report.problem(place(
                &rec.origin,
                file.clone(),
                &JsonPath::root(),
                format!(
                    "the database has key {:?} here, the source {:?}",
                    key.unwrap_or_default(),
                    rec.key.clone().unwrap_or_default()
                ),
            ));
        }
        if let Some((path, what)) = first_difference(&rec.value, &value, JsonPath::root()) {
            report.problem(place(&rec.origin, file, &path, what));
        }
        if report.full() {
            break;
        }
    }
    bar.finish(reader.bytes_read(), n);
    if by_file {
        let t = &schema.tables[schema.collections[colls[0]].table];
        let extra = tx.count(t)?.saturating_sub(matched);
        if extra > 0 {
            report.problem(Problem::new(
                spec.display.clone(),
                format!(
                    "table {} has {extra} record(s) whose file is not in the source folder",
                    t.name
                ),
            ));
        }
        cursors.clear();
    }
    for (m, cursor) in cursors.iter_mut().enumerate() {
        let mut extra = 0u64;
        let mut first = None;
        while let Some(cells) = cursor.next(tx)? {
            let t = &schema.tables[schema.collections[colls[m]].table];
            first.get_or_insert_with(|| describe_row(t, &cells));
            extra += 1;
        }
        if extra > 0 {
            let t = &schema.tables[schema.collections[colls[m]].table];
            report.problem(Problem::new(
                spec.display.clone(),
                format!(
                    "table {} has {extra} record(s) that are not in the source (the first: {})",
                    t.name,
                    first.unwrap_or_default()
                ),
            ));
        }
    }
    if report.ok {
        for &c in &colls {
            for &t in &schema.tables_of(c)[1..] {
                let name = &schema.tables[t].name;
                if let Some(join) = schema.tables[t].join {
                    // Shared entities are fetched once per occurrence: check that each is used.
                    let crate::schema::Elements::Entities { col, .. } =
                        schema.tables[join].elements
                    else {
                        unreachable!("a join table holds entities")
                    };
                    let unused =
                        tx.unused_entities(&schema.tables[t], &schema.tables[join], col)?;
                    if unused > 0 {
                        report.problem(Problem::new(
                            spec.display.clone(),
                            format!("table {name} has {unused} row(s) that no record refers to (through {})", schema.tables[join].name),
                        ));
                    }
                    continue;
                }
                let have = tx.count(&schema.tables[t])?;
                let want = seen.get(&t).copied().unwrap_or(0);
                if have != want {
                    report.problem(Problem::new(
                        spec.display.clone(),
                        format!("child table {name} has {have} rows but the records account for {want} (rows without a parent?)"),
                    ));
                }
            }
        }
    }
    Ok(())
}

fn describe_row(t: &crate::schema::Table, cells: &[Cell]) -> String {
    match &cells[t.pk] {
        Cell::Text(s) => format!("{} = {:?}", t.columns[t.pk].name, s),
        Cell::Int(i) => format!("{} = {i}", t.columns[t.pk].name),
        other => format!("{other:?}"),
    }
}

fn short(v: &Value) -> String {
    let s = to_compact_string(v);
    if s.chars().count() > 60 {
        format!("{}…", s.chars().take(60).collect::<String>())
    } else {
        s
    }
}

/// The first place where `db` (rebuilt from the database) differs from `src`, and how.
pub fn first_difference(src: &Value, db: &Value, path: JsonPath) -> Option<(JsonPath, String)> {
    match (src, db) {
        (Value::Object(a), Value::Object(b)) => {
            for (i, (k, v)) in a.iter().enumerate() {
                match b.get(i) {
                    Some((k2, v2)) if k2 == k => {
                        if let Some(d) = first_difference(v, v2, path.key(k)) {
                            return Some(d);
                        }
                    }
                    Some((k2, _)) => {
                        let msg = if b.iter().any(|(x, _)| x == k) {
                            format!(
                                "key order differs: the source has {k:?} here, the database {k2:?}"
                            )
                        } else {
                            format!("the database lacks {k:?} (it has {k2:?} here)")
                        };
                        return Some((path, msg));
                    }
                    None => return Some((path.key(k), format!("the database lacks {k:?}"))),
                }
            }
            b.get(a.len()).map(|(k, v)| {
                (
                    path,
                    format!(
                        "the database has {k:?} = {} that the source lacks",
                        short(v)
                    ),
                )
            })
        }
        (Value::Array(a), Value::Array(b)) => {
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                if let Some(d) = first_difference(x, y, path.index(i)) {
                    return Some(d);
                }
            }
            (a.len() != b.len()).then(|| {
                (
                    path,
                    format!("the source has {} items, the database {}", a.len(), b.len()),
                )
            })
        }
        (a, b) if a == b => None,
        (a, b) => Some((
            path,
            format!("the source has {}, the database {}", short(a), short(b)),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json::parse;

    fn v(s: &str) -> Value {
        parse(s.as_bytes(), 64).unwrap()
    }

    #[test]
    fn differences_are_located() {
        let d = first_difference(
            &v(r#"{"a":[1,{"b":2}]}"#),
            &v(r#"{"a":[1,{"b":3}]}"#),
            JsonPath::root(),
        )
        .unwrap();
        assert_eq!(d.0.to_string(), "$.a[1].b");
        let d = first_difference(
            &v(r#"{"a":1,"b":2}"#),
            &v(r#"{"b":2,"a":1}"#),
            JsonPath::root(),
        )
        .unwrap();
        assert!(d.1.contains("key order"), "{}", d.1);
        let d = first_difference(&v(r#"{"a":1.0}"#), &v(r#"{"a":1}"#), JsonPath::root()).unwrap();
        assert_eq!(d.1, "the source has 1.0, the database 1");
        assert!(first_difference(&v(r#"{"a":[]}"#), &v(r#"{"a":[]}"#), JsonPath::root()).is_none());
    }
}
