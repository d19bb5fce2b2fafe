//! A hand-kept SQLite database as a source (`format = "sqlite"`, issue #17): each collection
//! reads one table (`source_table`) or one query (`query`) of the legacy file, a row becoming a
//! record whose keys are the columns in order. Text columns that hold JSON (the fields declared
//! `array`, `object` or `json`) are parsed, so their nested arrays become child tables exactly as
//! they do from JSON files.
//!
//! The legacy file is only ever opened read-only ([`Legacy`], whose SQL is in `store::legacy`),
//! inside one read transaction so that every table is read from the same snapshot. `export` writes a
//! fresh SQLite file back: each table with its original `CREATE TABLE` and indexes, row for row in
//! the order read, each cell with its original storage class, and each JSON text exactly as it
//! was. What it takes to write a cell back exactly is recorded at migration time in the source's
//! [`Layout`] ([`SqliteLayout`]): per column the JSON style its texts were written in, and the
//! rare cell that a value alone does not give back (text `null` beside SQL NULL, JSON spaced
//! unlike the rest of its column) kept verbatim, used while the record still holds its value.

use std::collections::{BTreeMap, VecDeque};
use std::io::Read;
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{Feed, Layout, Origin, Record, RecordReader, SourceSpec, inflate};
use crate::error::Problem;
use crate::json::write::to_string_styled;
use crate::json::{JsonPath, Number, Seg, Style, Value, detect_style, line_col, locate, parse};
use crate::store::legacy::{self, Legacy, Selection, Value as Sql};

/// The first 16 bytes of every SQLite database file.
pub const MAGIC: &[u8; 16] = b"SQLite format 3\0";

/// The fingerprint of a source whose tables were dropped after its migration.
pub const DROPPED: &str = "dropped";

/// What one collection reads from the legacy file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqliteMember {
    /// The legacy table (`source_table`), or `None` for a query.
    pub table: Option<String>,
    pub query: Option<String>,
    /// The table `export` writes: the legacy table, or for a query the collection's name.
    pub name: String,
    /// Columns whose text is JSON, parsed into the record.
    pub json: Vec<String>,
}

/// What `export` needs to write the legacy file back exactly; kept in the source's layout.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SqliteLayout {
    /// One per collection, in member order.
    pub tables: Vec<TableLayout>,
    /// The legacy tables were dropped after the migration (`drop_source_tables`).
    #[serde(default)]
    pub dropped: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TableLayout {
    pub name: String,
    /// The table's `CREATE TABLE` statement as the legacy file has it (none for a query).
    pub create: Option<String>,
    /// Its `CREATE INDEX` statements.
    #[serde(default)]
    pub indexes: Vec<String>,
    pub columns: Vec<ColumnLayout>,
    /// An AUTOINCREMENT table's `sqlite_sequence` value (the largest id ever handed out, which
    /// a deleted last row leaves above the largest id there is).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sequence: Option<i64>,
    /// Cells a value does not give back, by row (0-based, in the order read) and column.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub cells: BTreeMap<u64, BTreeMap<String, SqlCell>>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ColumnLayout {
    pub name: String,
    /// The declared type (`TEXT`, `INTEGER`, ``).
    #[serde(default)]
    pub decl: String,
    /// Its text is JSON.
    #[serde(default)]
    pub json: bool,
    /// Its values are BLOBs, carried in the record as lower-case hex text.
    #[serde(default)]
    pub blob: bool,
    /// How its JSON texts are written (the first one's formatting).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub style: Option<Style>,
}

/// One SQL value exactly, as the ledger keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "value", rename_all = "lowercase")]
pub enum SqlCell {
    Null,
    Integer(i64),
    /// The shortest text that reads back as the same double.
    Real(String),
    Text(String),
    /// Hex.
    Blob(String),
}

impl SqlCell {
    fn from_sql(v: &Sql) -> SqlCell {
        match v {
            Sql::Null => SqlCell::Null,
            Sql::Integer(i) => SqlCell::Integer(*i),
            Sql::Real(f) => SqlCell::Real(format!("{f:?}")),
            Sql::Text(t) => SqlCell::Text(t.clone()),
            Sql::Blob(b) => SqlCell::Blob(hex(b)),
        }
    }
    fn to_sql(&self) -> Sql {
        match self {
            SqlCell::Null => Sql::Null,
            SqlCell::Integer(i) => Sql::Integer(*i),
            SqlCell::Real(t) => Sql::Real(t.parse().unwrap_or(f64::NAN)),
            SqlCell::Text(t) => Sql::Text(t.clone()),
            SqlCell::Blob(h) => Sql::Blob(unhex(h).unwrap_or_default()),
        }
    }
}

/// Is the file at `path` a SQLite database (by its header)?
pub fn is_database(path: &Path) -> bool {
    let mut head = [0u8; 16];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut head))
        .is_ok()
        && &head == MAGIC
}

fn members_of(spec: &SourceSpec) -> Vec<&SqliteMember> {
    spec.members
        .iter()
        .map(|m| {
            m.sqlite
                .as_ref()
                .expect("a sqlite member says what it reads")
        })
        .collect()
}

/// How one member's rows are fetched and read.
struct Plan {
    sel: Selection,
    /// Per column: is it JSON.
    json: Vec<bool>,
    styles: Vec<Option<Style>>,
}

fn plan(db: &Legacy, m: &SqliteMember) -> legacy::Result<Plan> {
    let sel = db.select(m.table.as_deref(), m.query.as_deref())?;
    let json: Vec<bool> = sel.columns.iter().map(|c| m.json.contains(c)).collect();
    let styles = sel
        .columns
        .iter()
        .zip(&json)
        .map(|(c, is_json)| {
            is_json.then(|| {
                db.first_json_text(&sel, c)
                    .map(|t| detect_style(t.as_bytes()))
                    .unwrap_or_else(crate::json::write::compact_style)
            })
        })
        .collect();
    Ok(Plan { sel, json, styles })
}

/// The place of a record read from a row, for messages: `legacy.db: table media, rowid 3`, and
/// the JSON texts of its JSON columns, so that a value inside one is found by line:column.
#[derive(Debug)]
pub struct RowPlace {
    pub table: String,
    pub row: String,
    pub texts: Vec<(String, String)>,
}

impl RowPlace {
    fn name(&self, file: &str) -> String {
        format!("{file}: table {}, {}", self.table, self.row)
    }

    /// A problem at `rel` inside the record: in a JSON column, at its line:column in that
    /// column's text, with the path inside the text.
    pub fn place(&self, file: &str, rel: &JsonPath, message: String) -> Problem {
        if let Some(Seg::Key(col)) = rel.0.first() {
            let inner = JsonPath(rel.0[1..].to_vec());
            if let Some((_, text)) = self.texts.iter().find(|(c, _)| c == col) {
                let mut p = Problem::new(format!("{}, column {col}", self.name(file)), message);
                if let Some(off) = locate(text.as_bytes(), &inner.0) {
                    let (l, c) = line_col(text.as_bytes(), off);
                    p = p.at(l, c);
                }
                return p.with_path(inner);
            }
            return Problem::new(format!("{}, column {col}", self.name(file)), message)
                .with_path(rel.clone());
        }
        Problem::new(self.name(file), message).with_path(rel.clone())
    }
}

struct Reader {
    db: Legacy,
    file: Arc<Path>,
    display: String,
    members: Vec<SqliteMember>,
    plans: Vec<Plan>,
    current: usize,
    /// Last rowid read, or rows read (the offset), of the current member.
    cursor: i64,
    ordinal: u64,
    done: bool,
    queue: VecDeque<Result<Record, Problem>>,
    max_depth: usize,
    total: u64,
    read: u64,
    layouts: Vec<TableLayout>,
}

/// Opens a reader over the legacy file at `spec.path`.
pub(crate) fn open(spec: &SourceSpec) -> Result<Box<dyn RecordReader>, Problem> {
    let display = spec.display.clone();
    let fail = |what: &str, e: &dyn std::fmt::Display| {
        Problem::new(display.clone(), format!("{what}: {e}"))
    };
    if !spec.path.is_file() {
        return Err(Problem::new(
            display.clone(),
            "cannot read the source: no such file",
        ));
    }
    if !is_database(&spec.path) {
        return Err(Problem::new(
            display.clone(),
            "not a SQLite database (its first bytes are not \"SQLite format 3\")",
        ));
    }
    let db = Legacy::open(&spec.path).map_err(|e| fail("cannot open the database", &e))?;
    // One snapshot for every table, however long the reading takes.
    db.begin_snapshot()
        .map_err(|e| fail("cannot read the database", &e))?;
    let members: Vec<SqliteMember> = members_of(spec).into_iter().cloned().collect();
    let mut plans = Vec::new();
    let mut layouts = Vec::new();
    for m in &members {
        let what = match &m.table {
            Some(t) => format!("table {t}"),
            None => format!("query of {}", m.name),
        };
        let p = plan(&db, m).map_err(|e| fail(&format!("cannot read {what}"), &e))?;
        for c in &m.json {
            if !p.sel.columns.contains(c) {
                return Err(Problem::new(
                    display.clone(),
                    format!(
                        "{what} has no column {c:?} (a field declared array, object or json is read from the column of its name)"
                    ),
                ));
            }
        }
        let (create, indexes) = match &m.table {
            Some(t) => db
                .table_sql(t)
                .map_err(|e| fail(&format!("cannot read {what}"), &e))?,
            None => (None, Vec::new()),
        };
        let sequence = m.table.as_ref().and_then(|t| db.sequence(t));
        let decls = match &m.table {
            Some(t) => db.declared_types(t).unwrap_or_default(),
            None => BTreeMap::new(),
        };
        layouts.push(TableLayout {
            name: m.name.clone(),
            create,
            indexes,
            columns: p
                .sel
                .columns
                .iter()
                .enumerate()
                .map(|(i, c)| ColumnLayout {
                    name: c.clone(),
                    decl: decls.get(c).cloned().unwrap_or_default(),
                    json: p.json[i],
                    blob: p.sel.blob[i],
                    style: p.styles[i].clone(),
                })
                .collect(),
            sequence,
            cells: BTreeMap::new(),
        });
        plans.push(p);
    }
    let total = std::fs::metadata(&spec.path).map(|m| m.len()).unwrap_or(0);
    Ok(Box::new(Reader {
        db,
        file: Arc::from(spec.path.as_path()),
        display,
        members,
        plans,
        current: 0,
        cursor: 0,
        ordinal: 0,
        done: false,
        queue: VecDeque::new(),
        max_depth: spec.limits.max_depth,
        total,
        read: 0,
        layouts,
    }))
}

impl Reader {
    /// Reads the next chunk of the current member into the queue; false when every member is
    /// read.
    fn fill(&mut self) -> bool {
        while !self.done {
            let Some(plan) = self.plans.get(self.current) else {
                self.done = true;
                return false;
            };
            let rows = match self.db.fetch(&plan.sel, self.cursor) {
                Ok(rows) => rows,
                Err(e) => {
                    self.done = true;
                    self.queue.push_back(Err(Problem::new(
                        self.display.clone(),
                        format!("cannot read {}: {e}", self.members[self.current].name),
                    )));
                    return true;
                }
            };
            if rows.is_empty() {
                self.current += 1;
                self.cursor = 0;
                self.ordinal = 0;
                continue;
            }
            for (rowid, cells) in rows {
                self.cursor = match rowid {
                    Some(r) => r,
                    None => self.cursor + 1,
                };
                let rec = self.record(rowid, cells);
                self.ordinal += 1;
                self.queue.push_back(rec);
            }
            return true;
        }
        false
    }

    fn record(&mut self, rowid: Option<i64>, cells: Vec<Sql>) -> Result<Record, Problem> {
        let member = self.current;
        let plan = &self.plans[member];
        let mut place = RowPlace {
            table: self.members[member].name.clone(),
            row: match rowid {
                Some(r) => format!("rowid {r}"),
                None => format!("row {}", self.ordinal + 1),
            },
            texts: Vec::new(),
        };
        let mut fields = Vec::with_capacity(cells.len());
        let mut len = 0u64;
        let layout = &mut self.layouts[member];
        for (i, cell) in cells.into_iter().enumerate() {
            let col = &plan.sel.columns[i];
            len += match &cell {
                Sql::Text(t) => t.len() as u64,
                Sql::Blob(b) => b.len() as u64,
                _ => 8,
            };
            let value = match read_cell(&cell, plan.json[i], plan.sel.blob[i], self.max_depth) {
                Ok(v) => v,
                Err(CellError::Json(e, text)) => {
                    let (l, c) = line_col(text.as_bytes(), e.offset);
                    return Err(Problem::new(
                        format!("{}, column {col}", place.name(&self.display)),
                        format!("the column's text is not valid JSON: {}", e.message),
                    )
                    .at(l, c)
                    .with_path(e.path));
                }
                Err(CellError::Other(m)) => {
                    return Err(Problem::new(
                        format!("{}, column {col}", place.name(&self.display)),
                        m,
                    ));
                }
            };
            if plan.json[i] {
                if let Sql::Text(t) = &cell {
                    place.texts.push((col.clone(), t.clone()));
                }
            }
            // A cell the value alone does not write back is kept as it is.
            let back = write_cell(&value, &layout.columns[i]);
            if !same_sql(&back, &cell) {
                layout
                    .cells
                    .entry(self.ordinal)
                    .or_default()
                    .insert(col.clone(), SqlCell::from_sql(&cell));
            }
            fields.push((col.clone(), value));
        }
        self.read += len;
        Ok(Record {
            member,
            key: None,
            value: Value::Object(fields),
            origin: Origin {
                file: self.file.clone(),
                offset: 0,
                len,
                line: 1,
                col: 1,
                path: JsonPath::root(),
                row: Some(Arc::new(place)),
            },
            compact: Vec::new(),
        })
    }
}

enum CellError {
    Json(crate::json::ParseError, String),
    Other(String),
}

/// A cell as a JSON value: NULL `null`, INTEGER and REAL numbers (a REAL always with a `.` or an
/// exponent, so it goes back as REAL), TEXT a string or, in a JSON column, the value it spells,
/// BLOB hex text.
fn read_cell(cell: &Sql, json: bool, blob: bool, max_depth: usize) -> Result<Value, CellError> {
    Ok(match cell {
        Sql::Null => Value::Null,
        Sql::Integer(i) => Value::Number(Number::from_i64(*i)),
        Sql::Real(f) => {
            Value::Number(Number::from_f64(*f).ok_or_else(|| {
                CellError::Other(format!("holds {f}, which JSON cannot represent"))
            })?)
        }
        Sql::Text(t) if json => {
            parse(t.as_bytes(), max_depth).map_err(|e| CellError::Json(e, t.clone()))?
        }
        Sql::Text(t) => Value::String(t.clone()),
        Sql::Blob(b) if blob => Value::String(hex(b)),
        Sql::Blob(_) => {
            return Err(CellError::Other(
                "holds a BLOB in a column of other values; jsonlift reads a column of BLOBs only (as hex text)".into(),
            ));
        }
    })
}

/// A record's value as the cell of `col`: the inverse of [`read_cell`].
fn write_cell(v: &Value, col: &ColumnLayout) -> Sql {
    match v {
        Value::Null => Sql::Null,
        Value::String(s) if col.blob => unhex(s).map_or_else(|| Sql::Text(s.clone()), Sql::Blob),
        _ if col.json => {
            let style = col
                .style
                .clone()
                .unwrap_or_else(crate::json::write::compact_style);
            Sql::Text(to_string_styled(v, &style, 0))
        }
        Value::Bool(b) => Sql::Integer(i64::from(*b)),
        Value::Number(n) => {
            let t = n.as_str();
            if !t.contains(['.', 'e', 'E']) {
                if let Ok(i) = t.parse::<i64>() {
                    return Sql::Integer(i);
                }
            }
            t.parse::<f64>()
                .map_or_else(|_| Sql::Text(t.to_string()), Sql::Real)
        }
        Value::String(s) => Sql::Text(s.clone()),
        Value::Array(_) | Value::Object(_) => Sql::Text(crate::json::to_compact_string(v)),
    }
}

fn same_sql(a: &Sql, b: &Sql) -> bool {
    match (a, b) {
        (Sql::Real(x), Sql::Real(y)) => x.to_bits() == y.to_bits(),
        _ => a == b,
    }
}

fn hex(b: &[u8]) -> String {
    use std::fmt::Write;
    let mut s = String::with_capacity(b.len() * 2);
    for byte in b {
        let _ = write!(s, "{byte:02x}");
    }
    s
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if s.len() % 2 != 0 || !s.bytes().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).ok())
        .collect()
}

impl RecordReader for Reader {
    fn next_record(&mut self) -> Option<Result<Record, Problem>> {
        if self.queue.is_empty() && !self.fill() {
            return None;
        }
        self.queue.pop_front()
    }
    fn bytes_read(&self) -> u64 {
        self.read.min(self.total)
    }
    fn total_bytes(&self) -> u64 {
        self.total
    }
    fn finish(self: Box<Self>) -> Result<Layout, Problem> {
        self.db.end_snapshot();
        Ok(Layout {
            sqlite: Some(SqliteLayout {
                tables: self.layouts,
                dropped: false,
            }),
            ..Layout::default()
        })
    }
}

/// Size and sha256 of what the collections read from the legacy file: each table's definition
/// and every cell with its storage class, not the file's bytes, which change when the migration
/// writes into the same file or SQLite rewrites a page.
pub fn fingerprint(spec: &SourceSpec) -> std::io::Result<(u64, String)> {
    let io = |e: legacy::Error| std::io::Error::other(format!("{}: {e}", spec.display));
    if !spec.path.is_file() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            "no such file",
        ));
    }
    let db = Legacy::open(&spec.path).map_err(io)?;
    db.begin_snapshot().map_err(io)?;
    let mut h = Sha256::new();
    let mut size = 0u64;
    for m in members_of(spec) {
        h.update(m.name.as_bytes());
        h.update([0]);
        if let Some(t) = &m.table {
            let (create, indexes) = db.table_sql(t).map_err(io)?;
            if create.is_none() && all_dropped(&db, spec) {
                // Dropped after its migration (`drop_source_tables`): the ledger says so too.
                return Ok((0, DROPPED.into()));
            }
            if create.is_none() {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    format!("{} has no table {t}", spec.display),
                ));
            }
            for s in create.iter().chain(&indexes) {
                h.update(s.as_bytes());
                h.update([0]);
            }
        }
        let plan = plan(&db, m).map_err(io)?;
        let mut cursor = 0;
        loop {
            let rows = db.fetch(&plan.sel, cursor).map_err(io)?;
            if rows.is_empty() {
                break;
            }
            for (rowid, cells) in rows {
                cursor = rowid.unwrap_or(cursor + 1);
                h.update(cursor.to_le_bytes());
                for c in cells {
                    let (tag, bytes): (u8, Vec<u8>) = match c {
                        Sql::Null => (0, Vec::new()),
                        Sql::Integer(i) => (1, i.to_le_bytes().to_vec()),
                        Sql::Real(f) => (2, f.to_bits().to_le_bytes().to_vec()),
                        Sql::Text(t) => (3, t.into_bytes()),
                        Sql::Blob(b) => (4, b),
                    };
                    size += bytes.len() as u64;
                    h.update([tag]);
                    h.update((bytes.len() as u64).to_le_bytes());
                    h.update(&bytes);
                }
            }
        }
        h.update([0xff]);
    }
    db.end_snapshot();
    Ok((size, crate::schema::fingerprint::hex(&h.finalize())))
}

/// Writes the legacy file back: a fresh SQLite database at `out_path` (built beside it, fsynced,
/// renamed into place) holding each collection's table as the layout describes it, with the
/// records `feed` supplies as rows, in order.
pub(crate) fn write(
    spec: &SourceSpec,
    layout: &Layout,
    out_path: &Path,
    feed: &mut Feed,
) -> anyhow::Result<()> {
    let Some(sl) = &layout.sqlite else {
        bail!(
            "{}: the database holds no record of the legacy tables' definitions (migrate it with this version of jsonlift)",
            spec.display
        );
    };
    super::input::replace_atomically(out_path, |tmp| {
        let file = legacy::NewFile::create(tmp.path())?;
        for (member, t) in sl.tables.iter().enumerate() {
            // As the legacy file had it; a query's rows get a table of their columns.
            let made = match &t.create {
                Some(create) => file.run(create),
                None => file.create_table(
                    &t.name,
                    &t.columns
                        .iter()
                        .map(|c| (c.name.clone(), c.decl.clone()))
                        .collect::<Vec<_>>(),
                ),
            };
            made.with_context(|| format!("creating table {}", t.name))?;
            let names: Vec<String> = t.columns.iter().map(|c| c.name.clone()).collect();
            let mut st = file.inserter(&t.name, &names)?;
            let mut ordinal = 0u64;
            feed(member, &mut |_key, v, texts| {
                // Cells of a table: a JSON field goes back as the column's value.
                let v = &*inflate(v, texts)?;
                let Value::Object(fields) = v else {
                    bail!("table {}: a record is not an object", t.name);
                };
                if let Some((k, _)) = fields
                    .iter()
                    .find(|(k, _)| !t.columns.iter().any(|c| &c.name == k))
                {
                    bail!(
                        "table {}, row {}: the record has a field {k:?} the table has no column for; nothing was written",
                        t.name,
                        ordinal + 1
                    );
                }
                let kept = t.cells.get(&ordinal);
                let row: Vec<Sql> = t
                    .columns
                    .iter()
                    .map(|c| {
                        let value = fields
                            .iter()
                            .find(|(k, _)| k == &c.name)
                            .map(|(_, v)| v)
                            .unwrap_or(&Value::Null);
                        // The cell as it was, while the record still holds what it read as.
                        if let Some(cell) = kept.and_then(|k| k.get(&c.name)) {
                            let sql = cell.to_sql();
                            let back = read_cell(&sql, c.json, c.blob, usize::MAX).ok();
                            if back.as_ref() == Some(value) {
                                return sql;
                            }
                        }
                        write_cell(value, c)
                    })
                    .collect();
                st.insert(&row)?;
                ordinal += 1;
                Ok(())
            })?;
            drop(st);
            if let Some(seq) = t.sequence {
                file.set_sequence(&t.name, seq)?;
            }
            for ix in &t.indexes {
                file.run(ix)
                    .with_context(|| format!("creating an index of {}", t.name))?;
            }
        }
        file.finish()?;
        Ok(())
    })
}

fn all_dropped(db: &Legacy, spec: &SourceSpec) -> bool {
    members_of(spec).iter().all(|m| match &m.table {
        Some(t) => db.table_sql(t).is_ok_and(|(c, _)| c.is_none()),
        None => false,
    })
}

/// The tables of the database at `path` that jsonlift did not make.
pub fn legacy_tables(path: &Path) -> legacy::Result<Vec<String>> {
    Legacy::open(path)?.legacy_tables()
}

/// Is `spec` the database at `db` itself (a migration into the legacy file)?
pub fn is_same_file(spec: &SourceSpec, db: &Path) -> bool {
    match (spec.path.canonicalize(), db.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

/// The legacy tables the collections of `spec` read (what `drop_source_tables` drops, through
/// [`legacy::drop_tables`], once the migration into that file is verified).
pub fn source_tables(spec: &SourceSpec) -> Vec<String> {
    members_of(spec)
        .into_iter()
        .filter_map(|m| m.table.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn column(json: bool, blob: bool) -> ColumnLayout {
        ColumnLayout {
            name: "c".into(),
            json,
            blob,
            style: json.then(crate::json::write::compact_style),
            ..ColumnLayout::default()
        }
    }

    /// Every cell a legacy table can hold reads as a value that writes back as the same cell,
    /// storage class included (what makes `export` exact without per-cell notes).
    #[test]
    fn cells_read_and_write_back_alike() {
        let plain = [
            Sql::Null,
            Sql::Integer(-7),
            Sql::Integer(i64::MAX),
            Sql::Real(0.1),
            Sql::Real(8.0),
            Sql::Real(1e300),
            Sql::Real(-0.0),
            Sql::Text("Lügen".into()),
            Sql::Text("42".into()),
            Sql::Text(String::new()),
        ];
        for cell in &plain {
            let v = read_cell(cell, false, false, 128).ok().unwrap();
            assert!(
                same_sql(&write_cell(&v, &column(false, false)), cell),
                "{cell:?} → {v:?}"
            );
        }
        let json = [
            Sql::Text(r#"[{"a":1,"b":[true,null]}]"#.into()),
            Sql::Text(r#"{"x":"Jürgen"}"#.into()),
            Sql::Null,
        ];
        for cell in &json {
            let v = read_cell(cell, true, false, 128).ok().unwrap();
            assert!(
                same_sql(&write_cell(&v, &column(true, false)), cell),
                "{cell:?} → {v:?}"
            );
        }
        let blob = Sql::Blob(vec![0x89, b'P', 0, 0xff]);
        let v = read_cell(&blob, false, true, 128).ok().unwrap();
        assert_eq!(v, Value::String("895000ff".into()));
        assert_eq!(write_cell(&v, &column(false, true)), blob);
        // What a value alone cannot tell apart is a note of its own (text `null` and NULL in a
        // JSON column, a spaced JSON text), kept exactly.
        for cell in [Sql::Text("null".into()), Sql::Text(r#"{"a": 1}"#.into())] {
            let v = read_cell(&cell, true, false, 128).ok().unwrap();
            assert!(!same_sql(&write_cell(&v, &column(true, false)), &cell));
            let note = SqlCell::from_sql(&cell);
            assert_eq!(note.to_sql(), cell);
        }
        assert_eq!(SqlCell::from_sql(&Sql::Real(0.1)).to_sql(), Sql::Real(0.1));
        // JSON cannot hold an infinity; a BLOB among texts is named, not guessed.
        assert!(read_cell(&Sql::Real(f64::INFINITY), false, false, 128).is_err());
        assert!(read_cell(&Sql::Blob(vec![1]), false, false, 128).is_err());
    }
}
