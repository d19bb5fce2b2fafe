//! Loading records into an open transaction: read, shred, insert, and turn every failure into a
//! problem that names the file, line:column and JSON path.

use std::borrow::Cow;
use std::collections::HashMap;
use std::io::{Read, Seek, SeekFrom};
use std::time::Instant;

use std::sync::mpsc::{Receiver, SyncSender};

use super::progress::{Progress, SourceBar};
use super::report::{CollectionReport, Report};
use super::verify::first_difference;
use crate::error::Problem;
use crate::json::{JsonPath, Value, line_col, locate};
use crate::schema::rebuild::{FetchChildren, Rows, rebuild, rebuilds_to};
use crate::schema::shred::{Cell, Ids, Row, shred};
use crate::schema::{Elements, Role, Schema};
use crate::source::{self, Format, Layout, Origin, Record, RecordReader, SourceSpec};
use crate::store::Refusal;
use crate::store::sqlite_load::{Inserted, LoadDb, RowWriter};
use crate::store::transfer::RowSink;

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
    if let Some(row) = &origin.row {
        return row.place(&file, rel, message);
    }
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

/// What the reading thread hands the writing thread, in source order.
enum Item {
    /// A record that failed to read, shred or verify in memory.
    Problem(Problem),
    /// A record shredded into rows (parent first), ready to insert.
    Rows {
        rec: Record,
        coll: usize,
        rows: Vec<Row<'static>>,
    },
}

/// Records handed over at once (one channel operation per batch, not per record): at most
/// `BATCH` records or `BATCH_BYTES` of their source text, whichever comes first; and batches in
/// flight between the two threads. Together they bound memory whatever the input's size and the
/// records' size (a batch of large nested records is a few records).
const BATCH: usize = 256;
const BATCH_BYTES: u64 = 256 << 10;
const IN_FLIGHT: usize = 4;

/// The reading thread's end of the channel.
struct Batcher {
    tx: SyncSender<Vec<Item>>,
    /// Batches the writing thread is done with, dropped here: memory is freed fastest by the
    /// thread that allocated it (a third of the writing thread's time went to remote frees).
    spent: Receiver<Vec<Item>>,
    buf: Vec<Item>,
    bytes: u64,
}

impl Batcher {
    /// Queues an item; false once the writing thread has hung up.
    fn push(&mut self, item: Item) -> bool {
        if let Item::Rows { rec, .. } = &item {
            self.bytes += rec.origin.len;
        }
        self.buf.push(item);
        (self.buf.len() < BATCH && self.bytes < BATCH_BYTES) || self.flush()
    }
    fn flush(&mut self) -> bool {
        while let Ok(spent) = self.spent.try_recv() {
            drop(spent);
        }
        self.bytes = 0;
        let batch = std::mem::replace(&mut self.buf, Vec::with_capacity(BATCH));
        batch.is_empty() || self.tx.send(batch).is_ok()
    }
}

/// Loads every record of source `si`, read through `spec` (which may point at a backup copy), into
/// the tables of its collections. Problems go to `report`; the caller rolls back if there are any.
///
/// Two threads: one reads, parses and shreds records and checks in memory that the rows rebuild
/// the record exactly; this one inserts the rows and, with `verify`, reads them back and requires
/// the very cells it inserted (rows a `sink` also takes are verified where they go instead).
/// Together that is the same guarantee as rebuilding each record from the database, at a
/// fraction of the cost on the connection's thread.
#[allow(clippy::too_many_arguments)]
pub fn load_source(
    db: LoadDb,
    schema: &Schema,
    si: usize,
    spec: &SourceSpec,
    bytes: Option<source::Bytes>,
    ids: &mut Ids,
    report: &mut Report,
    progress: &Progress,
    verify: bool,
    sink: Option<&mut dyn RowSink>,
) -> anyhow::Result<Option<Loaded>> {
    let started = Instant::now();
    let mut reader = match source::open_from(spec, bytes) {
        Ok(r) => r,
        Err(p) => {
            report.problem(p);
            return Ok(None);
        }
    };
    let bar = progress.source(&spec.display, reader.total_bytes());
    let mut rows: HashMap<usize, u64> = HashMap::new();
    let mut fetched: HashMap<usize, u64> = HashMap::new();
    let colls: Vec<usize> = (0..spec.members.len())
        .map(|m| {
            schema
                .collections
                .iter()
                .position(|c| c.source == si && c.member == m)
                .expect("member has a collection")
        })
        .collect();
    // A JSON field is stored as its compact text: read it as that, with no tree in between.
    reader.give_compact(schema.compact_fields(&colls));
    let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<Item>>(IN_FLIGHT);
    let (spent_tx, spent) = std::sync::mpsc::sync_channel::<Vec<Item>>(IN_FLIGHT + 1);
    let (reader, records) = std::thread::scope(|scope| -> anyhow::Result<_> {
        let colls = &colls;
        let bar = &bar;
        let producer = std::thread::Builder::new()
            .name("jsonlift-read".into())
            .spawn_scoped(scope, move || {
                read_rows(reader, schema, spec, colls, ids, bar, verify, (tx, spent))
            })?;
        let mut w = Writer::new(db, schema, spec, &mut rows, &mut fetched, sink);
        let mut failure = None;
        for batch in rx.iter() {
            if let Err(e) = w.batch(&batch, report, verify) {
                failure = Some(e);
            }
            let _ = spent_tx.try_send(batch);
            if failure.is_some() || report.full() {
                break;
            }
        }
        // Dropping the receiver stops the reader at its next record.
        drop(rx);
        let done = producer.join().expect("reader thread panicked");
        match failure {
            Some(e) => Err(e),
            None => Ok(done),
        }
    })?;
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

/// When row `i` (a shared entity already in its table) differs from the stored one: a problem
/// naming this occurrence and the first one, and what differs.
fn entity_conflict(
    db: LoadDb,
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
    let mut fetch = |t: usize, parent: &Cell<'static>| db.children(schema, t, parent);
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
    let first_rowid = db.first_row_with(jt, col, &key)?;
    let (root, root_rowid, first_path) = db.root_of(schema, join, first_rowid)?;
    let rt = &schema.tables[root];
    let root_key = db.cell(rt, rt.pk, root_rowid)?;
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
    let mut path = crate::store::refusal::row_path(schema, rows, i);
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

/// Explains a refused insert (a constraint the database enforces) at the record's place.
fn insert_problem(
    schema: &Schema,
    spec: &SourceSpec,
    rec: &Record,
    rows: &[Row],
    i: usize,
    refused: &Refusal,
) -> Problem {
    let file = record_file(spec, rec.member, rec.key.as_deref());
    let (path, message) = crate::store::refusal::problem(schema, rows, i, refused);
    place(&rec.origin, file, &path, message)
}

/// The reading thread: reads, parses and shreds every record, and with `verify` checks that its
/// rows rebuild it exactly. Stops early when the writing thread hangs up.
#[allow(clippy::too_many_arguments)]
fn read_rows(
    mut reader: Box<dyn RecordReader>,
    schema: &Schema,
    spec: &SourceSpec,
    colls: &[usize],
    ids: &mut Ids,
    bar: &SourceBar,
    verify: bool,
    (tx, spent): (SyncSender<Vec<Item>>, Receiver<Vec<Item>>),
) -> (Box<dyn RecordReader>, Vec<u64>) {
    let mut batch = Batcher {
        tx,
        spent,
        buf: Vec::with_capacity(BATCH),
        bytes: 0,
    };
    let mut records = vec![0u64; spec.members.len()];
    'records: while let Some(next) = reader.next_record() {
        let rec = match next {
            Ok(r) => r,
            Err(p) => {
                if !batch.push(Item::Problem(p)) {
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
        let rows: Vec<Row<'static>> = match shred(schema, coll, rec.key.as_deref(), &rec.value, ids)
        {
            Ok(out) => out.into_iter().map(Row::into_owned).collect(),
            Err(errors) => {
                let file = record_file(spec, rec.member, rec.key.as_deref());
                for e in errors {
                    let p = place(&rec.origin, file.clone(), &e.path, e.message);
                    if !batch.push(Item::Problem(p)) {
                        break 'records;
                    }
                }
                continue;
            }
        };
        if verify {
            let ti = schema.collections[coll].table;
            let children = Children::of(schema, &rows);
            let mut fetch = |t: usize, parent: &Cell<'static>| Ok(children.get(t, parent));
            let cells = &rows[0].cells;
            let key = rec.key.as_deref();
            // Compared in place; only a record that does not come back (or an error, which the
            // rebuild meets again) is rebuilt, to say what differs and where.
            let checked = match rebuilds_to(schema, ti, cells, &mut fetch, key, &rec.value) {
                Ok(true) => Ok(Vec::new()),
                _ => rebuilt_differences(schema, ti, cells, &mut fetch, spec, &rec),
            };
            match checked {
                Ok(problems) if problems.is_empty() => {}
                Ok(problems) => {
                    for p in problems {
                        if !batch.push(Item::Problem(p)) {
                            break 'records;
                        }
                    }
                    continue;
                }
                Err(e) => {
                    let file = record_file(spec, rec.member, rec.key.as_deref());
                    let p = place(&rec.origin, file, &JsonPath::root(), format!("{BUG}: {e}"));
                    if !batch.push(Item::Problem(p)) {
                        break;
                    }
                    continue;
                }
            }
        }
        let (mut rec, mut rows) = (rec, rows);
        place_compact(schema, coll, &mut rec, &mut rows[0].cells);
        if !batch.push(Item::Rows { rec, coll, rows }) {
            break;
        }
    }
    batch.flush();
    (reader, records)
}

/// Moves the JSON fields that `rec` holds as text ([`Record::compact`]) into their columns in
/// the record's row (`cells`), in place of the empty arrays that the record, its rows and
/// their in-memory check hold for them.
fn place_compact(schema: &Schema, coll: usize, rec: &mut Record, cells: &mut [Cell<'static>]) {
    let Value::Object(members) = &rec.value else {
        return;
    };
    let t = &schema.tables[schema.collections[coll].table];
    for (i, text) in rec.compact.drain(..) {
        let col = t
            .json_col(&members[i].0)
            .expect("only JSON fields are read as text");
        cells[col] = Cell::Text(Cow::Owned(text));
    }
}

/// `rec` with the JSON fields it held as text ([`place_compact`]) parsed back from `cells`,
/// the record's row as inserted: what the source holds, to compare the database with.
fn with_compact(schema: &Schema, coll: usize, rec: &Record, cells: &[Cell]) -> Option<Record> {
    let t = &schema.tables[schema.collections[coll].table];
    let Value::Object(members) = &rec.value else {
        return None;
    };
    // A member holding the placeholder whose column holds other text was read as text.
    let texts: Vec<(&str, &str)> = members
        .iter()
        .filter_map(|(k, v)| match (t.json_col(k).map(|c| &cells[c]), v) {
            (Some(Cell::Text(text)), Value::Array(a)) if a.is_empty() && text != "[]" => {
                Some((k.as_str(), text.as_ref()))
            }
            _ => None,
        })
        .collect();
    if texts.is_empty() {
        return None;
    }
    let value = source::inflate(&rec.value, &texts).ok()?.into_owned();
    Some(Record {
        value,
        origin: rec.origin.clone(),
        key: rec.key.clone(),
        compact: Vec::new(),
        ..*rec
    })
}

/// A record's rows as the database's "children of" query gives them back: by table and parent
/// (a shared entity by its key), in position order; borrowed, not copied.
struct Children<'r> {
    schema: &'r Schema,
    rows: &'r [Row<'static>],
    groups: HashMap<(usize, Parent<'r>), Vec<usize>>,
}

/// A parent key (always an integer or a text).
#[derive(Hash, PartialEq, Eq)]
enum Parent<'r> {
    Int(i64),
    Text(&'r str),
}

impl<'r> Parent<'r> {
    fn of(c: &'r Cell) -> Option<Parent<'r>> {
        match c {
            Cell::Int(i) => Some(Parent::Int(*i)),
            Cell::Text(s) => Some(Parent::Text(s)),
            _ => None,
        }
    }
}

impl<'r> Children<'r> {
    fn of(schema: &'r Schema, rows: &'r [Row<'static>]) -> Children<'r> {
        let mut groups: HashMap<_, Vec<usize>> = HashMap::new();
        // The root row is nobody's child; a record without child rows needs no index.
        for (i, r) in rows.iter().enumerate().skip(1) {
            let t = &schema.tables[r.table];
            if let Some(p) = Parent::of(&r.cells[t.parent_col.unwrap_or(t.pk)]) {
                groups.entry((r.table, p)).or_default().push(i);
            }
        }
        for ((t, _), ix) in groups.iter_mut() {
            if let Some(pos) = schema.tables[*t].pos_col {
                let at = |&i: &usize| match rows[i].cells[pos] {
                    Cell::Int(n) => n,
                    _ => i64::MAX,
                };
                if !ix.is_sorted_by_key(at) {
                    ix.sort_by_key(at);
                }
            }
        }
        Children {
            schema,
            rows,
            groups,
        }
    }

    fn get(&self, t: usize, parent: &Cell) -> Rows<'r> {
        let Some(p) = Parent::of(parent) else {
            let pc = self.schema.tables[t]
                .parent_col
                .unwrap_or(self.schema.tables[t].pk);
            return self
                .rows
                .iter()
                .filter(|r| r.table == t && r.cells[pc] == *parent)
                .map(|r| Cow::Borrowed(&r.cells[..]))
                .collect();
        };
        match self.groups.get(&(t, p)) {
            Some(ix) => ix
                .iter()
                .map(|&i| Cow::Borrowed(&self.rows[i].cells[..]))
                .collect(),
            None => Vec::new(),
        }
    }
}

/// Rows of one table inserted by one statement, at most (fewer in a wide table: a statement
/// takes at most 32,766 parameters). Starting and ending a statement per row cost the writing
/// thread about a sixth of its time on the nested benchmark.
const RUN: usize = 32;
const MAX_PARAMS: usize = 32_766;

/// The writing thread: inserts the rows of each batch and, with `verify`, requires the database
/// to give back exactly the cells inserted.
struct Writer<'c, 'a, 'k> {
    db: LoadDb<'c>,
    schema: &'a Schema,
    spec: &'a SourceSpec,
    /// The insert statements, prepared when first used.
    writer: RowWriter<'c>,
    /// Rows inserted per table.
    rows: &'a mut HashMap<usize, u64>,
    /// Child rows read back per table.
    fetched: &'a mut HashMap<usize, u64>,
    /// Per table, the rows this batch inserted: (rowid, item, row), in the order inserted.
    inserted: Vec<Vec<(i64, usize, usize)>>,
    /// Per table, the rows of the batch to insert: (item, row), in batch order.
    by_table: Vec<Vec<(usize, usize)>>,
    /// The tables in the order their rows go in ([`insert_order`]).
    order: Vec<usize>,
    /// Where each batch's rows go too, as they were stored (PostgreSQL, loaded alongside).
    sink: Option<&'k mut dyn RowSink>,
    /// The sink alone takes the rows ([`RowSink::alone`]): they are given the rowids the
    /// database would have given them (one past the last, per table; tables are fresh), and
    /// not stored here. Never with shared entities, which are matched against those stored.
    alone: bool,
    /// Per table, the last rowid given when `alone`.
    last_rowid: Vec<i64>,
}

/// Whether rows of `schema` may go to a sink alone ([`RowSink::alone`]), not stored in the
/// migration's database: only when nothing about storing them decides what goes in. Not with
/// shared entities (each is matched against the one stored) or tables shared by collections,
/// nor with a project file's own `check` expressions, which only SQLite evaluates as the
/// migration does (PostgreSQL's verdict on them could differ).
pub fn may_load_alone(schema: &Schema) -> bool {
    schema.tables.iter().all(|t| {
        t.join.is_none() && t.shared.is_none() && t.columns.iter().all(|c| c.own_checks == 0)
    })
}

/// Every table once, in the order their rows go in: a parent before its children, and a shared
/// entity's table just after its join table (a copy that differs from the stored one is told
/// apart by the first join row pointing at it, which must be in already).
fn insert_order(schema: &Schema) -> Vec<usize> {
    let mut order = Vec::with_capacity(schema.tables.len());
    let mut seen = vec![false; schema.tables.len()];
    let all = (0..schema.collections.len()).flat_map(|c| schema.tables_of(c));
    for t in all.chain(0..schema.tables.len()) {
        let entity = schema.tables[t].join;
        if entity.is_some_and(|j| !seen[j]) || std::mem::replace(&mut seen[t], true) {
            continue;
        }
        order.push(t);
        // The entity tables whose join table this is, now that it is in place.
        for (e, et) in schema.tables.iter().enumerate() {
            if et.join == Some(t) && !std::mem::replace(&mut seen[e], true) {
                order.push(e);
            }
        }
    }
    order
}

/// What became of a batch's records while their rows went in, table by table.
struct Outcome {
    /// Per item: a problem was met (in reading or inserting); its remaining rows are skipped.
    refused: Vec<bool>,
    /// Per item: the rowid of its root row.
    root: Vec<i64>,
    /// Problems, by item: those met reading, and at most one per record met inserting (the
    /// record stops there).
    problems: Vec<(usize, Problem)>,
    /// A row was refused: such a batch is checked record by record.
    row_refused: bool,
    /// A shared entity was met again: such a batch is checked record by record.
    entity_met: bool,
}

impl<'c, 'a, 'k> Writer<'c, 'a, 'k> {
    fn new(
        db: LoadDb<'c>,
        schema: &'a Schema,
        spec: &'a SourceSpec,
        rows: &'a mut HashMap<usize, u64>,
        fetched: &'a mut HashMap<usize, u64>,
        sink: Option<&'k mut dyn RowSink>,
    ) -> Self {
        let n = schema.tables.len();
        let alone = sink.as_ref().is_some_and(|s| s.alone());
        debug_assert!(!alone || may_load_alone(schema));
        Writer {
            alone,
            last_rowid: vec![0; n],
            db,
            schema,
            spec,
            writer: db.writer(schema),
            rows,
            fetched,
            inserted: vec![Vec::new(); n],
            by_table: vec![Vec::new(); n],
            order: insert_order(schema),
            sink,
        }
    }

    fn batch(&mut self, batch: &[Item], report: &mut Report, verify: bool) -> anyhow::Result<()> {
        for rows in &mut self.inserted {
            rows.clear();
        }
        let mut out = Outcome {
            refused: vec![false; batch.len()],
            root: vec![0; batch.len()],
            problems: Vec::new(),
            row_refused: false,
            entity_met: false,
        };
        for (k, item) in batch.iter().enumerate() {
            match item {
                Item::Problem(p) => {
                    out.problems.push((k, p.clone()));
                    out.refused[k] = true;
                }
                Item::Rows { rows, .. } => {
                    for (i, r) in rows.iter().enumerate() {
                        self.by_table[r.table].push((k, i));
                    }
                }
            }
        }
        // Table by table, each table's rows in batch order: the same rowids and the same
        // database as record by record, with a statement for many rows. Parents' tables come
        // first, so a record refused in its parent row leaves no child rows behind.
        for x in 0..self.order.len() {
            let t = self.order[x];
            let rows = std::mem::take(&mut self.by_table[t]);
            if self.schema.tables[t].join.is_some() {
                self.insert_entities(t, &rows, batch, &mut out)?;
            } else {
                self.insert_rows(t, &rows, batch, &mut out)?;
            }
            self.by_table[t] = rows;
            self.by_table[t].clear();
        }
        out.problems.sort_by_key(|(k, _)| *k);
        let by_record = out.entity_met || out.row_refused;
        for (_, p) in out.problems {
            report.problem(p);
        }
        for (t, ins) in self.inserted.iter().enumerate() {
            if !ins.is_empty() {
                *self.rows.entry(t).or_default() += ins.len() as u64;
            }
        }
        if let Some(sink) = self.sink.as_deref_mut() {
            // Table by table, in rowid order: the rows as stored (a record refused later fails
            // the whole run, the sink's database with it).
            for &t in &self.order {
                for &(rowid, k, i) in &self.inserted[t] {
                    if let Item::Rows { rows, .. } = &batch[k] {
                        sink.row(t, rowid, &rows[i].cells)?;
                    }
                }
            }
        }
        if !verify {
            return Ok(());
        }
        if !by_record && self.sink.is_some() {
            // The rows went to PostgreSQL too, which is what the migration fills: they are
            // verified there, read back and compared with those sent ([`RowSink`]), and the
            // scratch database is not read back as well. Each child row counts as reached
            // from its record, as the read-back would have counted it.
            for (t, ins) in self.inserted.iter().enumerate() {
                if self.schema.tables[t].parent.is_some() && !ins.is_empty() {
                    *self.fetched.entry(t).or_default() += ins.len() as u64;
                }
            }
            return Ok(());
        }
        if !by_record && self.stored_as_inserted(batch)? {
            return Ok(());
        }
        // Find the record(s) the database does not give back as inserted, and say where.
        for (k, item) in batch.iter().enumerate() {
            if let Item::Rows { rec, coll, rows } = item
                && !out.refused[k]
            {
                self.check_record(rec, *coll, rows, out.root[k], report)?;
            }
        }
        Ok(())
    }

    /// Inserts the rows `todo` of table `t`, up to [`RUN`] rows per statement, skipping the
    /// records already refused. A refused row refuses its record, and the rows after it go in
    /// with the next statement.
    fn insert_rows(
        &mut self,
        t: usize,
        todo: &[(usize, usize)],
        batch: &[Item],
        out: &mut Outcome,
    ) -> anyhow::Result<()> {
        let schema = self.schema;
        let table = &schema.tables[t];
        let most = RUN.min(MAX_PARAMS / table.columns.len().max(1)).max(1);
        // The rowid is the generated id when the table has one (`INTEGER PRIMARY KEY`);
        // otherwise SQLite hands out consecutive rowids. Either way the read-back checks it.
        let alias = table
            .columns
            .iter()
            .position(|c| c.role == Role::Id && c.primary_key);
        let rows_of = |k: usize| match &batch[k] {
            Item::Rows { rows, .. } => rows,
            Item::Problem(_) => unreachable!("only records have rows"),
        };
        let mut run: Vec<usize> = Vec::with_capacity(most);
        let mut next = 0;
        while next < todo.len() {
            run.clear();
            while run.len() < most && next < todo.len() {
                if !out.refused[todo[next].0] {
                    run.push(next);
                }
                next += 1;
            }
            let n = run.len();
            if n == 0 {
                break;
            }
            let Inserted {
                done,
                last_rowid: last,
                refused,
            } = if self.alone {
                self.last_rowid[t] += n as i64;
                Inserted {
                    done: n,
                    last_rowid: self.last_rowid[t],
                    refused: None,
                }
            } else {
                self.writer.insert(
                    t,
                    table,
                    run.iter()
                        .map(|&j| &rows_of(todo[j].0)[todo[j].1].cells[..]),
                )?
            };
            if done > n || (refused.is_none() && done != n) {
                anyhow::bail!("{BUG}: {n} rows of table {} inserted as {done}", table.name);
            }
            for (x, &j) in run[..done].iter().enumerate() {
                let (k, i) = todo[j];
                let rowid = match alias.map(|c| &rows_of(k)[i].cells[c]) {
                    Some(Cell::Int(id)) => *id,
                    _ => last - (done - 1 - x) as i64,
                };
                if i == 0 {
                    out.root[k] = rowid;
                }
                self.inserted[t].push((rowid, k, i));
            }
            if let Some(refused) = refused {
                // Refused by a constraint: say where, and go on after it.
                let (k, i) = todo[run[done]];
                let Item::Rows { rec, rows, .. } = &batch[k] else {
                    unreachable!("only records have rows")
                };
                out.problems
                    .push((k, insert_problem(schema, self.spec, rec, rows, i, &refused)));
                out.refused[k] = true;
                out.row_refused = true;
                next = run[done] + 1;
            }
        }
        Ok(())
    }

    /// Inserts the rows `todo` of a shared entity's table one by one: one stored before
    /// (perhaps by an earlier record) must be the same.
    fn insert_entities(
        &mut self,
        t: usize,
        todo: &[(usize, usize)],
        batch: &[Item],
        out: &mut Outcome,
    ) -> anyhow::Result<()> {
        let schema = self.schema;
        let table = &schema.tables[t];
        for &(k, i) in todo {
            if out.refused[k] {
                continue;
            }
            let Item::Rows { rec, rows, .. } = &batch[k] else {
                unreachable!("only records have rows")
            };
            let done = self
                .writer
                .insert(t, table, std::iter::once(&rows[i].cells[..]))?;
            let problem = match done {
                Inserted {
                    refused: Some(refused),
                    ..
                } => Some(insert_problem(schema, self.spec, rec, rows, i, &refused)),
                // Ignored: an entity with this key is stored already.
                Inserted { done: 0, .. } => {
                    out.entity_met = true;
                    entity_conflict(self.db, schema, self.spec, rec, rows, i)?
                }
                Inserted { last_rowid, .. } => {
                    if i == 0 {
                        out.root[k] = last_rowid;
                    }
                    self.inserted[t].push((last_rowid, k, i));
                    None
                }
            };
            if let Some(p) = problem {
                out.problems.push((k, p));
                out.refused[k] = true;
                out.row_refused = true;
            }
        }
        Ok(())
    }

    /// Does every table give back, over the rowids this batch inserted, exactly the rows inserted
    /// (one range scan per table)? Counts the child rows read back.
    fn stored_as_inserted(&mut self, batch: &[Item]) -> anyhow::Result<bool> {
        let mut read = Vec::new();
        let mut expected = Vec::new();
        for (t, ins) in self.inserted.iter().enumerate() {
            if ins.is_empty() {
                continue;
            }
            if !ins.windows(2).all(|w| w[0].0 < w[1].0) {
                return Ok(false);
            }
            let table = &self.schema.tables[t];
            expected.clear();
            expected.extend(ins.iter().map(|&(rowid, k, i)| match &batch[k] {
                Item::Rows { rows, .. } => (rowid, &rows[i].cells[..]),
                Item::Problem(_) => unreachable!("rows were inserted from a record"),
            }));
            if !self.db.range_as_inserted(table, &expected)? {
                return Ok(false);
            }
            if table.parent.is_some() {
                read.push((t, ins.len() as u64));
            }
        }
        for (t, n) in read {
            *self.fetched.entry(t).or_default() += n;
        }
        Ok(true)
    }

    /// One record checked on its own: the database gives back the cells inserted or, should it
    /// not (SQLite may store a value in another form), the record rebuilt from the database is
    /// compared with the source, which decides and names the place.
    fn check_record(
        &mut self,
        rec: &Record,
        coll: usize,
        out: &[Row<'static>],
        root_rowid: i64,
        report: &mut Report,
    ) -> anyhow::Result<()> {
        let (db, schema) = (self.db, self.schema);
        let mut read = HashMap::new();
        if db.record_as_inserted(schema, root_rowid, out, &mut read)? {
            for (t, n) in read {
                *self.fetched.entry(t).or_default() += n;
            }
            return Ok(());
        }
        let ti = schema.collections[coll].table;
        let t = &schema.tables[ti];
        let cells = db.row(t, root_rowid)?;
        let fetched = &mut *self.fetched;
        let mut fetch = |t: usize, parent: &Cell<'static>| {
            let rows = db.children(schema, t, parent)?;
            *fetched.entry(t).or_default() += rows.len() as u64;
            Ok(rows)
        };
        let whole = with_compact(schema, coll, rec, &out[0].cells);
        let rec = whole.as_ref().unwrap_or(rec);
        for p in rebuilt_differences(schema, ti, &cells, &mut fetch, self.spec, rec)? {
            report.problem(p);
        }
        Ok(())
    }
}

const BUG: &str =
    "verification failed, nothing was committed (please report this as a jsonlift bug)";

/// Rebuilds the record stored in `cells` (children from `fetch`) and compares it with the source
/// record exactly (key, values, key order, number spellings). A difference is a jsonlift bug,
/// and it stops the migration before anything is committed.
fn rebuilt_differences(
    schema: &Schema,
    ti: usize,
    cells: &[Cell<'static>],
    fetch: &mut FetchChildren,
    spec: &SourceSpec,
    rec: &Record,
) -> anyhow::Result<Vec<Problem>> {
    let (key, value) = rebuild(schema, ti, cells, fetch)?;
    let file = record_file(spec, rec.member, rec.key.as_deref());
    let mut problems = Vec::new();
    if key.is_some() && key != rec.key {
        problems.push(place(
            &rec.origin,
            file.clone(),
            &JsonPath::root(),
            format!("{BUG}: the database gives back key {key:?}"),
        ));
    }
    // Equal (the rule) is decided without building paths; only a difference is looked for.
    let diff = (rec.value != value)
        .then(|| first_difference(&rec.value, &value, JsonPath::root()))
        .flatten();
    if let Some((path, what)) = diff {
        problems.push(place(&rec.origin, file, &path, format!("{BUG}: {what}")));
    }
    Ok(problems)
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use std::sync::Arc;

    use super::*;
    use crate::config::Project;
    use crate::json::parse;
    use crate::store::sqlite_migration::SqliteMigration;

    const PROJECT: &str = r#"
[collections.courses]
source = "courses.json"
key = "id"
[collections.courses.fields]
id = "integer"
score = "real"
modules = { type = "array", table = "modules", fields = { title = "text" } }
"#;

    /// A throw-away database with the tables of `schema`, in its transaction.
    struct Scratch {
        db: SqliteMigration,
        _dir: tempfile::TempDir,
    }

    fn scratch(schema: &Schema) -> Scratch {
        let dir = tempfile::tempdir().unwrap();
        let db = SqliteMigration::scratch(&dir.path().join("t.db"), None).unwrap();
        db.begin_check(schema).unwrap();
        Scratch { db, _dir: dir }
    }

    /// A database holding one course with two modules, and the rows that were inserted.
    fn stored() -> (Schema, Scratch, Vec<Row<'static>>, i64) {
        let p = Project::parse(Path::new("/nonexistent/jsonlift.toml"), PROJECT).unwrap();
        let schema = Schema::build(&p).unwrap();
        let s = scratch(&schema);
        let value = parse(
            br#"{"id": 7, "score": 0.5, "modules": [{"title": "a"}, {"title": "b"}]}"#,
            64,
        )
        .unwrap();
        let mut ids = Ids::new(schema.tables.len());
        let rows: Vec<Row<'static>> = shred(&schema, 0, None, &value, &mut ids)
            .unwrap()
            .into_iter()
            .map(Row::into_owned)
            .collect();
        let mut rowid = 0;
        let mut writer = s.db.load_db().writer(&schema);
        for (i, row) in rows.iter().enumerate() {
            let t = &schema.tables[row.table];
            let done = writer
                .insert(row.table, t, std::iter::once(&row.cells[..]))
                .unwrap();
            assert_eq!((done.done, done.refused.is_none()), (1, true));
            if i == 0 {
                rowid = done.last_rowid;
            }
        }
        drop(writer);
        (schema, s, rows, rowid)
    }

    #[test]
    fn rows_read_back_as_inserted_pass_and_count_the_children() {
        let (schema, s, rows, rowid) = stored();
        let mut read = HashMap::new();
        assert!(
            s.db.load_db()
                .record_as_inserted(&schema, rowid, &rows, &mut read)
                .unwrap()
        );
        assert_eq!(read.values().sum::<u64>(), 2);
    }

    #[test]
    fn any_difference_in_the_database_fails_the_fast_check() {
        let changes = [
            "UPDATE courses SET score = 0.25",
            "UPDATE modules SET title = 'x' WHERE title = 'b'",
            "DELETE FROM modules WHERE title = 'b'",
            "INSERT INTO modules (_id, _parent, _pos, title) VALUES (99, 7, 2, 'c')",
            "UPDATE modules SET _pos = _pos + 10",
        ];
        for sql in changes {
            let (schema, s, rows, rowid) = stored();
            s.db.run_ddl(sql).unwrap();
            let mut read = HashMap::new();
            assert!(
                !s.db
                    .load_db()
                    .record_as_inserted(&schema, rowid, &rows, &mut read)
                    .unwrap(),
                "{sql}"
            );
        }
    }

    /// A batch of three courses inserted through the writer; the schema, the connection and
    /// the batch.
    fn batch_stored() -> (Schema, Scratch, Vec<Item>) {
        let p = Project::parse(Path::new("/nonexistent/jsonlift.toml"), PROJECT).unwrap();
        let schema = Schema::build(&p).unwrap();
        let s = scratch(&schema);
        let mut ids = Ids::new(schema.tables.len());
        let batch = (7..10)
            .map(|id| {
                let text = format!(
                    r#"{{"id": {id}, "score": 0.5, "modules": [{{"title": "a"}}, {{"title": "b"}}]}}"#
                );
                let value = parse(text.as_bytes(), 64).unwrap();
                let rows = shred(&schema, 0, None, &value, &mut ids)
                    .unwrap()
                    .into_iter()
                    .map(Row::into_owned)
                    .collect();
                let origin = Origin {
                    file: Arc::from(Path::new("courses.json")),
                    offset: 0,
                    len: 0,
                    line: 1,
                    col: 1,
                    path: JsonPath::root(),
                    row: None,
                };
                let rec = Record {
                    member: 0,
                    key: None,
                    value,
                    origin,
                    compact: Vec::new(),
                };
                Item::Rows { rec, coll: 0, rows }
            })
            .collect();
        (schema, s, batch)
    }

    /// A writer into `s` of the rows of the courses, counting in `rows` and `fetched`.
    fn writer<'c, 'a>(
        s: &'c Scratch,
        schema: &'a Schema,
        rows: &'a mut HashMap<usize, u64>,
        fetched: &'a mut HashMap<usize, u64>,
    ) -> Writer<'c, 'a, 'a> {
        Writer::new(
            s.db.load_db(),
            schema,
            &schema.sources[0],
            rows,
            fetched,
            None,
        )
    }

    #[test]
    fn a_batch_read_back_as_inserted_passes_in_one_scan_per_table() {
        let (schema, s, batch) = batch_stored();
        let (mut rows, mut fetched) = (HashMap::new(), HashMap::new());
        let mut w = writer(&s, &schema, &mut rows, &mut fetched);
        let mut report = Report::new("migrate", "db".into());
        w.batch(&batch, &mut report, true).unwrap();
        assert!(report.ok, "{:?}", report.problems);
        assert_eq!(rows.values().sum::<u64>(), 9);
        assert_eq!(fetched.values().sum::<u64>(), 6);
    }

    #[test]
    fn any_difference_in_the_database_fails_the_batch_check() {
        let changes = [
            "UPDATE courses SET score = 0.25 WHERE id = 8",
            "UPDATE modules SET title = 'x' WHERE rowid = 4",
            "DELETE FROM modules WHERE rowid = 6",
            "DELETE FROM courses WHERE id = 9",
            "INSERT INTO modules (_id, _parent, _pos, title) VALUES (5, 8, 2, 'c')",
            "UPDATE modules SET _pos = _pos + 10 WHERE rowid = 3",
            "UPDATE modules SET _parent = 9, _pos = 7 WHERE rowid = 1",
        ];
        for sql in changes {
            let (schema, s, batch) = batch_stored();
            let (mut rows, mut fetched) = (HashMap::new(), HashMap::new());
            let mut w = writer(&s, &schema, &mut rows, &mut fetched);
            let mut report = Report::new("migrate", "db".into());
            w.batch(&batch, &mut report, false).unwrap();
            assert!(report.ok);
            // Make room for the extra row between the batch's own rowids.
            if sql.starts_with("INSERT") {
                s.db.run_ddl("DELETE FROM modules WHERE rowid = 5").unwrap();
            }
            s.db.run_ddl(sql).unwrap();
            assert!(!w.stored_as_inserted(&batch).unwrap(), "{sql}");
        }
    }

    #[test]
    fn a_records_children_come_back_by_parent_in_position_order_and_borrowed() {
        let (schema, _db, mut rows, _) = stored();
        // The modules as the database would order them even if emitted out of order.
        rows.swap(1, 2);
        let children = Children::of(&schema, &rows);
        let mt = rows[1].table;
        let title = schema.tables[mt].col("title").unwrap();
        let modules = children.get(mt, &rows[0].cells[schema.tables[rows[0].table].pk]);
        let titles: Vec<&Cell> = modules.iter().map(|c| &c[title]).collect();
        assert_eq!(titles, [&Cell::Text("a".into()), &Cell::Text("b".into())]);
        assert!(modules.iter().all(|c| matches!(c, Cow::Borrowed(_))));
        assert!(children.get(mt, &Cell::Int(12345)).is_empty());
    }

    #[test]
    fn json_fields_read_as_text_go_into_their_columns_and_back_into_the_record() {
        let toml = "[collections.docs]\nsource = \"docs.json\"\nkey = \"id\"\n[collections.docs.fields]\nid = \"integer\"\nblob = \"json\"\n";
        let p = Project::parse(Path::new("/nonexistent/jsonlift.toml"), toml).unwrap();
        let schema = Schema::build(&p).unwrap();
        let text = br#"{"id": 1, "blob": {"a": [1, 2.50, "\u00e9"], "b": {}}, "c": [1]}"#;
        let keys = schema.compact_fields(&[0]);
        let (value, compact) = crate::json::parse::parse_record(text, 64, 0, &keys.of(0)).unwrap();
        // Only the JSON field, not the unknown `c` (kept in `_extra` from the tree).
        assert_eq!(
            compact,
            vec![(1, r#"{"a":[1,2.50,"é"],"b":{}}"#.to_string())]
        );
        let origin = Origin {
            file: Arc::from(Path::new("docs.json")),
            offset: 0,
            len: text.len() as u64,
            line: 1,
            col: 1,
            path: JsonPath::root(),
            row: None,
        };
        let mut rec = Record {
            member: 0,
            key: None,
            value,
            origin,
            compact,
        };
        let mut ids = Ids::new(schema.tables.len());
        let mut rows: Vec<Row<'static>> = shred(&schema, 0, None, &rec.value, &mut ids)
            .unwrap()
            .into_iter()
            .map(Row::into_owned)
            .collect();
        place_compact(&schema, 0, &mut rec, &mut rows[0].cells);
        let t = &schema.tables[0];
        let col = t.json_col("blob").unwrap();
        assert_eq!(
            rows[0].cells[col],
            Cell::Text(r#"{"a":[1,2.50,"é"],"b":{}}"#.into())
        );
        assert!(rec.compact.is_empty(), "moved, not copied");
        // What the source holds, to compare a database that differs with: the whole record.
        let whole = with_compact(&schema, 0, &rec, &rows[0].cells).unwrap();
        assert_eq!(whole.value, parse(text, 64).unwrap());
        // A record without text members is compared as it is.
        rows[0].cells[col] = Cell::Text("[]".into());
        assert!(with_compact(&schema, 0, &rec, &rows[0].cells).is_none());
    }
}
