//! Record-by-record comparison of a database with its sources: each source record is rebuilt
//! from the database and compared exactly (values, key order, number spellings); row counts of
//! every table must match what the records account for.

use std::collections::{BTreeSet, HashMap};

use super::load::{place, record_file};
use super::progress::Progress;
use super::report::Report;
use crate::config::Project;
use crate::error::Problem;
use crate::json::{JsonPath, Value, to_compact_string};
use crate::schema::rebuild::{rebuild, rebuilds_to};
use crate::schema::shred::{Cell, scalar_cell};
use crate::schema::{ColType, FieldKind, ScalarType, Schema, Table};
use crate::source::{self, Layout, Record, SourceSpec};
use crate::store::backend::Cells;
use crate::store::cursor::{RowCursor, children_of};
use crate::store::database::Db;
use crate::store::{StoreError, Tx};

/// Compares source `si`, read through `spec`, with the database. Problems go to `report`.
/// Records are matched by key where the collection has one, so a record deleted, added or
/// moved on either side is reported once, not as a difference in every record after it.
/// Settles the JSON fields that `rec` holds as text ([`Record::compact`]) against the row's
/// `cells`: one the database holds as that very text is the empty array on both sides (the
/// record's placeholder), compared no further; any other is parsed into the record, to be
/// compared as a value and reported where it differs.
fn settle_compact(t: &Table, rec: &mut Record, cells: &mut [Cell<'static>]) {
    let Value::Object(members) = &mut rec.value else {
        return;
    };
    for (i, text) in rec.compact.drain(..) {
        let col = t
            .json_col(&members[i].0)
            .expect("only JSON fields are read as text");
        match &cells[col] {
            Cell::Text(stored) if *stored == text => cells[col] = Cell::Text("[]".into()),
            _ => {
                members[i].1 =
                    crate::json::parse(text.as_bytes(), crate::json::write::COLUMN_DEPTH)
                        .expect("the compact text of a parsed value parses");
            }
        }
    }
}

/// Gives the layout of what was read when the whole source could be read.
pub fn verify_source(
    tx: &dyn Tx,
    schema: &Schema,
    si: usize,
    spec: &SourceSpec,
    report: &mut Report,
    progress: &Progress,
) -> anyhow::Result<Option<Layout>> {
    let mut reader = match source::open(spec) {
        Ok(r) => r,
        Err(p) => {
            report.problem(p);
            return Ok(None);
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
    // JSON fields are read as their compact text and compared as text (`settle_compact`).
    reader.give_compact(schema.compact_fields(&colls));
    let mut matchers: Vec<Matcher> = colls.iter().map(|&c| Matcher::new(schema, c)).collect();
    let mut tally = Tally::default();
    let mut seen: HashMap<usize, u64> = HashMap::new();
    let mut n = 0u64;
    let mut whole = true;
    while let Some(next) = reader.next_record() {
        let rec = match next {
            Ok(r) => r,
            Err(p) => {
                report.problem(p);
                whole = false;
                continue;
            }
        };
        n += 1;
        if n % 4096 == 0 {
            bar.set(reader.bytes_read(), n);
        }
        let file = record_file(spec, rec.member, rec.key.as_deref());
        let ti = schema.collections[colls[rec.member]].table;
        let matcher = &mut matchers[rec.member];
        let mut rec = rec;
        let Some(mut cells) = matcher.find(tx, &rec)? else {
            tally.only_source += 1;
            report.problem(place(
                &rec.origin,
                file,
                &JsonPath::root(),
                format!(
                    "record{} is in the source but not in the database (table {}): deleted there, or added to the source since the migration",
                    matcher.named(&rec),
                    schema.tables[ti].name
                ),
            ));
            continue;
        };
        settle_compact(&schema.tables[ti], &mut rec, &mut cells);
        // Compared in place first, as migrate does: a record that comes back is never built a
        // second time (a large JSON column is then not held twice). Child rows are counted
        // once, by the pass that reads them all.
        let mut counted: HashMap<usize, u64> = HashMap::new();
        let mut count = |t: usize, parent: &Cell<'static>| {
            let rows = children_of(tx, schema, t, parent)?;
            *counted.entry(t).or_default() += rows.len() as u64;
            Ok(rows)
        };
        if rebuilds_to(
            schema,
            ti,
            &cells,
            &mut count,
            rec.key.as_deref(),
            &rec.value,
        )? {
            for (t, k) in counted {
                *seen.entry(t).or_default() += k;
            }
            continue;
        }
        let mut fetch = |t: usize, parent: &Cell<'static>| {
            let rows = children_of(tx, schema, t, parent)?;
            *seen.entry(t).or_default() += rows.len() as u64;
            Ok(rows)
        };
        let (key, value) = rebuild(schema, ti, &cells, &mut fetch)?;
        if key.is_some() && key != rec.key {
            tally.changed += 1;
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
        } else if let Some((path, what)) = first_difference(&rec.value, &value, JsonPath::root()) {
            tally.changed += 1;
            report.problem(place(&rec.origin, file, &path, format!("changed: {what}")));
        }
        if report.full() {
            whole = false;
            break;
        }
    }
    bar.finish(reader.bytes_read(), n);
    for (m, matcher) in matchers.iter_mut().enumerate() {
        let t = &schema.tables[schema.collections[colls[m]].table];
        let folder = source::is_folder(spec);
        matcher.rest(tx, &mut |cells| {
            tally.only_db += 1;
            report.problem(Problem::new(
                spec.display.clone(),
                match folder {
                    true => format!(
                        "record {} of table {} is in the database but its file is not in the source folder: added there, or deleted from the source since the migration",
                        describe_row(t, &cells),
                        t.name
                    ),
                    false => format!(
                        "record {} of table {} is in the database but not in the source: added there, or deleted from the source since the migration",
                        describe_row(t, &cells),
                        t.name
                    ),
                },
            ));
        })?;
    }
    if tally.only_source + tally.only_db + tally.changed > 1 {
        report.problem(Problem::new(
            spec.display.clone(),
            format!(
                "in all: {} record(s) only in the source, {} only in the database, {} changed",
                tally.only_source, tally.only_db, tally.changed
            ),
        ));
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
    if !whole {
        return Ok(None);
    }
    Ok(reader.finish().map_err(|p| report.problem(p)).ok())
}

/// Of the sources `candidates` whose collections `comparable` says the database holds as the
/// project file describes them, those whose every record is what the database holds, each
/// with the layout of the file as it is now. A difference is no error here: the source is
/// simply left out.
pub fn same_content(
    project: &Project,
    schema: &Schema,
    candidates: &[usize],
    comparable: impl Fn(usize) -> bool,
) -> anyhow::Result<Vec<(usize, Layout)>> {
    let mut db = Db::open(
        project.database(),
        project.pg_schema(),
        project.busy_timeout(),
    )?;
    db.read(|tx| {
        let mut same = Vec::new();
        for &si in candidates.iter().filter(|&&si| comparable(si)) {
            let mut report = Report::new("verify", project.database_path());
            let layout = verify_source(
                tx,
                schema,
                si,
                &schema.sources[si],
                &mut report,
                &Progress::Quiet,
            )?;
            if let (true, Some(layout)) = (report.ok, layout) {
                same.push((si, layout));
            }
        }
        Ok(same)
    })
}

/// The records of one source found only on one side, or changed.
#[derive(Default)]
struct Tally {
    only_source: u64,
    only_db: u64,
    changed: u64,
}

/// Finds the row of each source record of one collection: the next row in record order while
/// the two agree, else (where the collection has a key) the row with the record's key. The rows
/// passed over on the way to a record found further on are remembered by rowid only, so memory
/// grows with what moved, not with the table.
struct Matcher<'s> {
    cursor: RowCursor<'s>,
    table: &'s Table,
    key: Key<'s>,
    /// The next row in record order, read but not yet matched.
    pending: Option<(i64, Cells)>,
    /// Rows passed over, not matched yet.
    passed: BTreeSet<i64>,
}

/// How a record's key is found, and the column that holds it.
enum Key<'s> {
    /// No key: records and rows match by position.
    Position,
    /// The record's key in the file (object member name, document id, file name).
    InFile(usize),
    /// A key field of the record.
    Field {
        name: &'s str,
        ty: ScalarType,
        col: usize,
    },
}

impl<'s> Matcher<'s> {
    fn new(schema: &'s Schema, c: usize) -> Matcher<'s> {
        let coll = &schema.collections[c];
        let table = &schema.tables[coll.table];
        let key = match (table.key_col, &coll.key_field) {
            (Some(kc), _) => Key::InFile(kc),
            (None, Some(name)) => table
                .fields
                .iter()
                .find(|f| &f.name == name)
                .and_then(|f| match f.kind {
                    FieldKind::Scalar { ty, col } => Some(Key::Field { name, ty, col }),
                    _ => None,
                })
                .unwrap_or(Key::Position),
            (None, None) => Key::Position,
        };
        Matcher {
            cursor: RowCursor::new(schema, coll.table),
            table,
            key,
            pending: None,
            passed: BTreeSet::new(),
        }
    }

    /// The record's key as the database would hold it (`None`: no key, or none it could hold).
    fn key_of<'r>(&self, rec: &'r Record) -> Option<(usize, Cell<'r>)> {
        match self.key {
            Key::Position => None,
            Key::InFile(kc) => {
                let k = rec.key.as_deref()?;
                Some((
                    kc,
                    match self.table.columns[kc].ty {
                        ColType::Integer => Cell::Int(k.parse().ok()?),
                        _ => Cell::Text(k.into()),
                    },
                ))
            }
            Key::Field { name, ty, col } => {
                Some((col, scalar_cell(ty, rec.value.get(name)?).ok()?.0))
            }
        }
    }

    /// How the record is named in a message: by its key field, if it has one.
    fn named(&self, rec: &Record) -> String {
        match (&self.key, self.key_of(rec)) {
            (Key::Field { name, .. }, Some((_, k))) => format!(" {name} = {}", show(&k)),
            _ => String::new(),
        }
    }

    fn next_row(&mut self, tx: &dyn Tx) -> Result<Option<(i64, Cells)>, StoreError> {
        match self.pending.take() {
            Some(p) => Ok(Some(p)),
            None => self.cursor.next_with_rowid(tx),
        }
    }

    fn find(&mut self, tx: &dyn Tx, rec: &Record) -> Result<Option<Cells>, StoreError> {
        let Some((kc, key)) = self.key_of(rec) else {
            return match self.key {
                Key::Position => Ok(self.next_row(tx)?.map(|(_, cells)| cells)),
                // A key the database could not hold: the record cannot be there.
                _ => Ok(None),
            };
        };
        if self.pending.is_none() {
            self.pending = self.cursor.next_with_rowid(tx)?;
        }
        if self
            .pending
            .as_ref()
            .is_some_and(|(_, cells)| cells[kc] == key)
        {
            return Ok(self.pending.take().map(|(_, cells)| cells));
        }
        let Some(rowid) = tx.rowid_by(self.table, kc, &key)? else {
            return Ok(None);
        };
        let ahead = self.pending.as_ref().is_some_and(|(p, _)| rowid > *p);
        if !ahead {
            // Passed over earlier (the record moved), or matched already (a key twice in the
            // source, which migrate refuses).
            self.passed.remove(&rowid);
            return Ok(Some(tx.row(self.table, rowid)?));
        }
        // Further on: the rows before it were deleted from the source, or moved.
        while let Some((r, cells)) = self.next_row(tx)? {
            if r == rowid {
                return Ok(Some(cells));
            }
            self.passed.insert(r);
        }
        Ok(Some(tx.row(self.table, rowid)?))
    }

    /// Hands `f` every row no record matched.
    fn rest(&mut self, tx: &dyn Tx, f: &mut dyn FnMut(Cells)) -> Result<(), StoreError> {
        for rowid in std::mem::take(&mut self.passed) {
            f(tx.row(self.table, rowid)?);
        }
        while let Some((_, cells)) = self.next_row(tx)? {
            f(cells);
        }
        Ok(())
    }
}

fn show(c: &Cell) -> String {
    match c {
        Cell::Text(s) => format!("{s:?}"),
        Cell::Int(i) => i.to_string(),
        Cell::Real(r) => r.to_string(),
        Cell::Null => "null".into(),
    }
}

/// Rows that point at nothing: a reference (a child row's parent, a field's foreign key) whose
/// target row is not there, as rows written by another client with foreign keys off are.
pub fn dangling_rows(tx: &dyn Tx, schema: &Schema, report: &mut Report) -> anyhow::Result<()> {
    for t in &schema.tables {
        for c in &t.columns {
            let Some(fk) = &c.references else { continue };
            let (n, first) = tx.dangling(&t.name, &c.name, &fk.table, &fk.column)?;
            if n == 0 {
                continue;
            }
            let coll = &schema.collections[t.collection];
            report.problem(Problem::new(
                schema.sources[coll.source].display.clone(),
                format!(
                    "table {} has {n} orphaned row(s): their {} points at no row of {} (the first: {} = {}); written with foreign keys off? No record of collection {} holds them",
                    t.name,
                    c.name,
                    fk.table,
                    c.name,
                    first.unwrap_or_default(),
                    coll.name
                ),
            ));
        }
    }
    Ok(())
}

fn describe_row(t: &Table, cells: &[Cell]) -> String {
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
