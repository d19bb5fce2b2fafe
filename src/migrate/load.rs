//! Loading records into an open transaction: read, shred, insert, and turn every failure into a
//! problem that names the file, line:column and JSON path.

use std::collections::HashMap;
use std::io::{Read, Seek, SeekFrom};
use std::time::Instant;

use rusqlite::{Connection, ErrorCode, params_from_iter};

use super::progress::Progress;
use super::report::{CollectionReport, Report};
use super::verify::first_difference;
use crate::error::Problem;
use crate::json::{JsonPath, Seg, line_col, locate};
use crate::schema::ddl::quote;
use crate::schema::rebuild::rebuild;
use crate::schema::shred::{Cell, Ids, Row, shred};
use crate::schema::{Elements, Role, Schema};
use crate::source::{self, Format, Layout, Origin, Record, SourceSpec};
use crate::store::sqlite::{cell_from, fetch_children};

/// The name of the file a record came from, as the user knows it.
pub fn record_file(spec: &SourceSpec, member: usize, key: Option<&str>) -> String {
    match (spec.members[member].format, key) {
        (Format::Folder | Format::Prompty, Some(k)) => format!("{}/{}", spec.display, k),
        _ => spec.display.clone(),
    }
}

/// A problem at `rel` inside the record at `origin`, with the exact line:column when the path
/// can be found in the record's text.
pub fn place(origin: &Origin, file: String, rel: &JsonPath, message: String) -> Problem {
    let mut line = origin.line;
    let mut col = origin.col;
    if !rel.0.is_empty() {
        if let Some(bytes) = read_span(origin) {
            if let Some(off) = locate(&bytes, &rel.0) {
                let (l, c) = line_col(&bytes, off);
                if l == 1 {
                    col += c - 1;
                } else {
                    line += l - 1;
                    col = c;
                }
            }
        }
    }
    Problem::new(file, message)
        .at(line, col)
        .with_path(origin.path.join(rel))
}

fn read_span(origin: &Origin) -> Option<Vec<u8>> {
    let mut f = std::fs::File::open(&origin.file).ok()?;
    f.seek(SeekFrom::Start(origin.offset)).ok()?;
    let mut buf = vec![0; usize::try_from(origin.len).ok()?.min(64 << 20)];
    f.read_exact(&mut buf).ok()?;
    Some(buf)
}

/// What loading one source produced.
pub struct Loaded {
    pub layout: Layout,
    pub collections: Vec<CollectionReport>,
    /// Rows inserted per table.
    pub rows: HashMap<usize, u64>,
    /// Child rows read back while verifying, per table.
    pub fetched: HashMap<usize, u64>,
}

/// Loads every record of source `si`, read through `spec` (which may point at a backup copy), into
/// the tables of its collections. Problems go to `report`; the caller rolls back if there are any.
pub fn load_source(
    conn: &Connection,
    schema: &Schema,
    si: usize,
    spec: &SourceSpec,
    ids: &mut Ids,
    report: &mut Report,
    progress: &Progress,
    verify: bool,
) -> anyhow::Result<Option<Loaded>> {
    let started = Instant::now();
    let mut reader = match source::open(spec) {
        Ok(r) => r,
        Err(p) => {
            report.problem(p);
            return Ok(None);
        }
    };
    let bar = progress.source(&spec.display, reader.total_bytes());
    let mut rows: HashMap<usize, u64> = HashMap::new();
    let mut fetched: HashMap<usize, u64> = HashMap::new();
    let mut records = vec![0u64; spec.members.len()];
    let mut stmts = HashMap::new();
    let colls: Vec<usize> = (0..spec.members.len())
        .map(|m| {
            schema
                .collections
                .iter()
                .position(|c| c.source == si && c.member == m)
                .expect("member has a collection")
        })
        .collect();
    while let Some(next) = reader.next_record() {
        let rec = match next {
            Ok(r) => r,
            Err(p) => {
                report.problem(p);
                if report.full() {
                    break;
                }
                continue;
            }
        };
        records[rec.member] += 1;
        if records[rec.member] % 4096 == 0 {
            bar.set(reader.bytes_read(), records.iter().sum());
        }
        let coll = colls[rec.member];
        match shred(schema, coll, rec.key.as_deref(), &rec.value, ids) {
            Err(errors) => {
                let file = record_file(spec, rec.member, rec.key.as_deref());
                for e in errors {
                    report.problem(place(&rec.origin, file.clone(), &e.path, e.message));
                }
            }
            Ok(out) => {
                let mut inserted = true;
                let mut root_rowid = 0;
                for (i, row) in out.iter().enumerate() {
                    let stmt = match stmts.get_mut(&row.table) {
                        Some(s) => s,
                        None => {
                            let s = conn.prepare(&schema.tables[row.table].sql.insert)?;
                            stmts.entry(row.table).or_insert(s)
                        }
                    };
                    match stmt.execute(params_from_iter(row.cells.iter())) {
                        Ok(0) if schema.tables[row.table].join.is_some() => {
                            // A shared entity stored earlier: this occurrence must be the same.
                            if let Some(p) = entity_conflict(conn, schema, spec, &rec, &out, i)? {
                                report.problem(p);
                                inserted = false;
                                break;
                            }
                        }
                        Ok(n) => *rows.entry(row.table).or_default() += n as u64,
                        Err(e) => {
                            report.problem(insert_problem(schema, spec, &rec, &out, i, e)?);
                            inserted = false;
                            break;
                        }
                    }
                    if i == 0 {
                        root_rowid = conn.last_insert_rowid();
                    }
                }
                if inserted && verify {
                    verify_record(
                        conn,
                        schema,
                        coll,
                        root_rowid,
                        spec,
                        &rec,
                        &mut fetched,
                        report,
                    )?;
                }
            }
        }
        if report.full() {
            break;
        }
    }
    bar.finish(reader.bytes_read(), records.iter().sum());
    let bytes = reader.total_bytes();
    let layout = match reader.finish() {
        Ok(l) => l,
        Err(p) => {
            report.problem(p);
            return Ok(None);
        }
    };
    let seconds = started.elapsed().as_secs_f64();
    let collections = colls
        .iter()
        .enumerate()
        .map(|(m, &c)| {
            let coll = &schema.collections[c];
            let child_rows = schema.tables_of(c)[1..]
                .iter()
                .map(|t| {
                    (
                        schema.tables[*t].name.clone(),
                        rows.get(t).copied().unwrap_or(0),
                    )
                })
                .collect();
            CollectionReport {
                name: coll.name.clone(),
                table: schema.tables[coll.table].name.clone(),
                source: spec.display.clone(),
                records: records[m],
                child_rows,
                bytes: if m == 0 { bytes } else { 0 },
                seconds,
            }
        })
        .collect();
    Ok(Some(Loaded {
        layout,
        collections,
        rows,
        fetched,
    }))
}

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

/// When row `i` (a shared entity already in its table) differs from the stored one: a problem
/// naming this occurrence and the first one, and what differs.
fn entity_conflict(
    conn: &Connection,
    schema: &Schema,
    spec: &SourceSpec,
    rec: &Record,
    rows: &[Row],
    i: usize,
) -> anyhow::Result<Option<Problem>> {
    let ti = rows[i].table;
    let t = &schema.tables[ti];
    let owned: Vec<Cell<'static>> = rows[i].cells.iter().map(Cell::to_owned_cell).collect();
    let key = owned[t.pk].clone();
    let mut fetch = |t: usize, parent: &Cell<'static>| fetch_children(conn, schema, t, parent);
    let stored = fetch(ti, &key)?;
    let Some(stored) = stored.first() else {
        anyhow::bail!(
            "table {}: a row with key {key:?} was neither inserted nor found",
            t.name
        );
    };
    let (_, first) = rebuild(schema, ti, stored, &mut fetch)?;
    let (_, this) = rebuild(schema, ti, &owned, &mut fetch)?;
    let Some((sub, what)) = first_difference(&this, &first, JsonPath::root()) else {
        return Ok(None);
    };
    let what = what
        .replace("the database", "the first")
        .replace("the source", "this one");
    let join = t.join.expect("entity tables have a join table");
    let jt = &schema.tables[join];
    let Elements::Entities { col, .. } = jt.elements else {
        unreachable!("a join table holds entities")
    };
    let first_rowid: i64 = conn.query_row(
        &format!(
            "SELECT rowid FROM {} WHERE {} = ?1 ORDER BY rowid LIMIT 1",
            quote(&jt.name),
            quote(&jt.columns[col].name)
        ),
        [&key],
        |r| r.get(0),
    )?;
    let (root, root_rowid, first_path) = super::root_of(conn, schema, join, first_rowid)?;
    let rt = &schema.tables[root];
    let root_key = conn.query_row(
        &format!(
            "SELECT {} FROM {} WHERE rowid = ?1",
            quote(&rt.columns[rt.pk].name),
            quote(&rt.name)
        ),
        [root_rowid],
        |r| r.get_ref(0).map(cell_from),
    )?;
    let coll = &schema.collections[rt.collection];
    let first_file = match root_key.clone() {
        Cell::Text(k) if rt.key_col == Some(rt.pk) => {
            record_file(&schema.sources[coll.source], coll.member, Some(&k))
        }
        _ => schema.sources[coll.source].display.clone(),
    };
    let shown = |c: &Cell| match c {
        Cell::Text(s) => format!("{s:?}"),
        Cell::Int(n) => n.to_string(),
        Cell::Real(f) => f.to_string(),
        Cell::Null => "null".into(),
    };
    let mut path = row_path(schema, rows, i);
    path.0.extend(sub.0);
    let message = format!(
        "shared entity {} {} = {} differs from its first occurrence, in {first_file} (record {} = {}) at {first_path}: {what}\nhint: a shared entity must be identical everywhere (key order and number spelling included); make the copies agree, or drop `key` from the array field to keep one copy per record",
        t.name,
        t.columns[t.pk].name,
        shown(&key),
        rt.columns[rt.pk].name,
        shown(&root_key),
    );
    let file = record_file(spec, rec.member, rec.key.as_deref());
    Ok(Some(place(&rec.origin, file, &path, message)))
}

/// Explains a failed insert (a constraint the database enforces) at the record's place.
fn insert_problem(
    schema: &Schema,
    spec: &SourceSpec,
    rec: &Record,
    rows: &[Row],
    i: usize,
    e: rusqlite::Error,
) -> anyhow::Result<Problem> {
    let file = record_file(spec, rec.member, rec.key.as_deref());
    let Some((path, message)) = constraint_problem(schema, rows, i, &e) else {
        return Err(e.into());
    };
    Ok(place(&rec.origin, file, &path, message))
}

/// The path (relative to the record) and an explanation of a constraint violation raised while
/// inserting row `i` of a record's rows; `None` when `e` is not a constraint violation.
pub fn constraint_problem(
    schema: &Schema,
    rows: &[Row],
    i: usize,
    e: &rusqlite::Error,
) -> Option<(JsonPath, String)> {
    let (code, msg) = match e {
        rusqlite::Error::SqliteFailure(f, m) => (f.code, m.clone().unwrap_or_default()),
        _ => return None,
    };
    if code != ErrorCode::ConstraintViolation {
        return None;
    }
    let t = &schema.tables[rows[i].table];
    let path = row_path(schema, rows, i);
    let mut message = format!("{msg} (in table {})", t.name);
    if let Some(cols) = msg.strip_prefix("UNIQUE constraint failed: ") {
        let names: Vec<&str> = cols
            .split(", ")
            .filter_map(|c| c.split_once('.').map(|x| x.1))
            .collect();
        let described: Vec<String> = names
            .iter()
            .filter_map(|n| t.col(n))
            .map(|c| match &rows[i].cells[c] {
                Cell::Text(s) => format!("{} = {:?}", t.columns[c].name, s),
                Cell::Int(n) => format!("{} = {n}", t.columns[c].name),
                Cell::Real(f) => format!("{} = {f}", t.columns[c].name),
                Cell::Null => format!("{} = null", t.columns[c].name),
            })
            .collect();
        message = format!(
            "duplicate key: another record already has {}",
            described.join(", ")
        );
        // Point at the field when one declared field is the culprit; at the record otherwise.
        if let [n] = names.as_slice() {
            if let Some(c) = t.col(n) {
                if t.columns[c].role == Role::Field {
                    message = format!(
                        "duplicate {}: another record already has {}",
                        t.columns[c].name,
                        described.join(", ")
                    );
                }
            }
        }
    }
    Some((path, message))
}

/// Reads a just-inserted record back, rebuilds it from its rows and requires it to equal the
/// source record exactly (values, key order, number spellings). A difference is a jsonlift bug,
/// and it stops the migration before anything is committed.
#[allow(clippy::too_many_arguments)]
fn verify_record(
    conn: &Connection,
    schema: &Schema,
    coll: usize,
    rowid: i64,
    spec: &SourceSpec,
    rec: &Record,
    fetched: &mut HashMap<usize, u64>,
    report: &mut Report,
) -> anyhow::Result<()> {
    let ti = schema.collections[coll].table;
    let t = &schema.tables[ti];
    let mut stmt = conn.prepare_cached(&t.sql.by_rowid)?;
    let cells = stmt.query_row([rowid], |r| {
        (0..t.columns.len())
            .map(|i| r.get_ref(i).map(cell_from))
            .collect::<rusqlite::Result<Vec<_>>>()
    })?;
    let mut fetch = |t: usize, parent: &Cell<'static>| {
        let rows = fetch_children(conn, schema, t, parent)?;
        *fetched.entry(t).or_default() += rows.len() as u64;
        Ok(rows)
    };
    let (key, value) = rebuild(schema, ti, &cells, &mut fetch)?;
    let file = record_file(spec, rec.member, rec.key.as_deref());
    let bug = "verification failed, nothing was committed (please report this as a jsonlift bug)";
    if key.is_some() && key != rec.key {
        report.problem(place(
            &rec.origin,
            file.clone(),
            &JsonPath::root(),
            format!("{bug}: the database gives back key {key:?}"),
        ));
    }
    if let Some((path, what)) = first_difference(&rec.value, &value, JsonPath::root()) {
        report.problem(place(&rec.origin, file, &path, format!("{bug}: {what}")));
    }
    Ok(())
}
