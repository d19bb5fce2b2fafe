//! Taking a record apart into rows: validation against the schema, typed cells, child rows, and
//! the `_meta` fix-ups that let [`super::rebuild`] give back exactly the record that came in.
//!
//! The canonical form of a node is: declared fields in schema order (a scalar whose column is
//! NULL is absent; arrays and flattened objects are always present), then the unknown fields in
//! their order. A record that deviates records only the deviation in `_meta`:
//! `k` the actual key list, `z` array/object fields that were `null`, `r` number spellings the
//! column cannot keep (`1e3`, `-0`, `4.0`), `o` fix-ups of flattened objects, `e` their unknown
//! fields. Most rows have no `_meta` at all.

use std::borrow::Cow;

use super::{Elements, Field, FieldKind, ScalarType, Schema, Shared, Table};
use crate::json::{JsonPath, Value, to_compact_string};

/// A value bound to a column.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell<'a> {
    Null,
    Int(i64),
    Real(f64),
    Text(Cow<'a, str>),
}

impl Cell<'_> {
    /// The same cell, owning its text (to hand it to another thread).
    pub fn into_owned(self) -> Cell<'static> {
        match self {
            Cell::Null => Cell::Null,
            Cell::Int(i) => Cell::Int(i),
            Cell::Real(f) => Cell::Real(f),
            Cell::Text(t) => Cell::Text(Cow::Owned(t.into_owned())),
        }
    }
    /// The same cell, owning its text.
    pub fn to_owned_cell(&self) -> Cell<'static> {
        match self {
            Cell::Null => Cell::Null,
            Cell::Int(i) => Cell::Int(*i),
            Cell::Real(f) => Cell::Real(*f),
            Cell::Text(s) => Cell::Text(Cow::Owned(s.to_string())),
        }
    }
}

/// One row to insert, cells in the table's column order.
#[derive(Debug)]
pub struct Row<'a> {
    pub table: usize,
    pub cells: Vec<Cell<'a>>,
}

impl Row<'_> {
    pub fn into_owned(self) -> Row<'static> {
        Row {
            table: self.table,
            cells: self.cells.into_iter().map(Cell::into_owned).collect(),
        }
    }
}

/// A problem inside a record, at a path relative to the record.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldError {
    pub path: JsonPath,
    pub message: String,
}

/// Hands out generated ids (`_id` of array records and child rows), one counter per table.
#[derive(Debug, Clone)]
pub struct Ids {
    next: Vec<i64>,
}

impl Ids {
    pub fn new(tables: usize) -> Ids {
        Ids {
            next: vec![1; tables],
        }
    }
    /// Continue after ids already in the database.
    pub fn start_after(&mut self, table: usize, max: i64) {
        self.next[table] = self.next[table].max(max.saturating_add(1));
    }
    /// The next id handed out for `table` is `id` (a record rewritten in place keeps its id).
    pub fn set_next(&mut self, table: usize, id: i64) {
        self.next[table] = id;
    }
    fn take(&mut self, table: usize) -> i64 {
        let id = self.next[table];
        // Saturating: past i64::MAX the insert meets its own key and is refused as a duplicate.
        self.next[table] = self.next[table].saturating_add(1);
        id
    }
}

/// Shreds one record of a collection into rows (parent before children). Every problem in the
/// record is reported, not only the first.
pub fn shred<'a>(
    schema: &Schema,
    collection: usize,
    key: Option<&'a str>,
    value: &'a Value,
    ids: &mut Ids,
) -> Result<Vec<Row<'a>>, Vec<FieldError>> {
    let ti = schema.collections[collection].table;
    let t = &schema.tables[ti];
    let mut s = Shredder {
        schema,
        ids,
        out: Vec::new(),
        errors: Vec::new(),
    };
    let Value::Object(obj) = value else {
        return Err(vec![FieldError {
            path: JsonPath::root(),
            message: format!("expected an object, found {}", value.kind()),
        }]);
    };
    let mut cells = vec![Cell::Null; t.columns.len()];
    if let Some(c) = t.id_col {
        cells[c] = Cell::Int(if t.document { 1 } else { s.ids.take(ti) });
    }
    if let Some(c) = t.key_col {
        let k = key.unwrap_or_default();
        cells[c] = if t.columns[c].ty == super::ColType::Integer {
            match k.parse::<i64>() {
                Ok(n) if n >= 0 && n.to_string() == k => Cell::Int(n),
                _ => {
                    s.errors.push(FieldError {
                        path: JsonPath::root(),
                        message: format!("document id {k:?} is not a non-negative integer"),
                    });
                    Cell::Null
                }
            }
        } else {
            Cell::Text(Cow::Borrowed(k))
        };
    }
    s.row(ti, t, obj, cells, &JsonPath::root());
    if let (Some(sh), Some(row)) = (&t.shared, s.out.first_mut()) {
        derive(
            schema,
            collection,
            sh,
            key.unwrap_or_default(),
            obj,
            &mut row.cells,
        );
    }
    if s.errors.is_empty() {
        Ok(s.out)
    } else {
        Err(s.errors)
    }
}

/// Fills the columns of a shared table's row that are not the record ([`Shared`]): its type;
/// its name (the `name_field`'s text, else the file name without extension); the file's path
/// from jsonlift.toml's folder; the file's modification time (the time of the write for a
/// record with no file yet); and `created_at`/`updated_at`, now (a rewrite keeps the row's
/// `created_at`: `Records` puts it back).
fn derive(
    schema: &Schema,
    collection: usize,
    sh: &Shared,
    key: &str,
    obj: &[(String, Value)],
    cells: &mut [Cell],
) {
    let text = |s: String| Cell::Text(Cow::Owned(s));
    let name = match obj.iter().find(|(k, _)| *k == sh.name_field) {
        Some((_, Value::String(n))) => n.clone(),
        _ => {
            let file = key.rsplit('/').next().unwrap_or(key);
            file.rsplit_once('.')
                .map_or(file, |(stem, _)| stem)
                .to_string()
        }
    };
    let source = &schema.sources[schema.collections[collection].source];
    let modified = std::fs::metadata(source.path.join(key))
        .and_then(|m| m.modified())
        .unwrap_or_else(|_| std::time::SystemTime::now());
    let now = crate::clock::sql_time(std::time::SystemTime::now());
    cells[sh.type_col] = text(sh.value.clone());
    cells[sh.name_col] = text(name);
    cells[sh.path_col] = text(format!("{}/{key}", sh.folder));
    cells[sh.modified_col] = text(crate::clock::sql_time(modified));
    cells[sh.created_col] = text(now.clone());
    cells[sh.updated_col] = text(now);
}

struct Shredder<'s, 'a> {
    schema: &'s Schema,
    ids: &'s mut Ids,
    out: Vec<Row<'a>>,
    errors: Vec<FieldError>,
}

#[derive(Default)]
struct NodeMeta {
    keys: Option<Vec<String>>,
    nulls: Vec<String>,
    raw: Vec<(String, String)>,
    nested: Vec<(String, NodeMeta)>,
    extras: Vec<(String, Value)>,
}

impl NodeMeta {
    fn is_empty(&self) -> bool {
        self.keys.is_none()
            && self.nulls.is_empty()
            && self.raw.is_empty()
            && self.nested.is_empty()
            && self.extras.is_empty()
    }

    fn to_value(&self) -> Value {
        let strs =
            |v: &[String]| Value::Array(v.iter().map(|s| Value::String(s.clone())).collect());
        let mut o = Vec::new();
        if let Some(k) = &self.keys {
            o.push(("k".to_string(), strs(k)));
        }
        if !self.nulls.is_empty() {
            o.push(("z".to_string(), strs(&self.nulls)));
        }
        if !self.raw.is_empty() {
            let r = self
                .raw
                .iter()
                .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                .collect();
            o.push(("r".to_string(), Value::Object(r)));
        }
        if !self.nested.is_empty() {
            let n = self
                .nested
                .iter()
                .map(|(k, m)| (k.clone(), m.to_value()))
                .collect();
            o.push(("o".to_string(), Value::Object(n)));
        }
        if !self.extras.is_empty() {
            o.push(("e".to_string(), Value::Object(self.extras.clone())));
        }
        Value::Object(o)
    }
}

impl<'s, 'a> Shredder<'s, 'a> {
    fn err(&mut self, path: JsonPath, message: String) {
        self.errors.push(FieldError { path, message });
    }

    /// Fills and emits the row of an object stored in table `ti`, then its children.
    fn row(
        &mut self,
        ti: usize,
        t: &'s Table,
        obj: &'a [(String, Value)],
        mut cells: Vec<Cell<'a>>,
        path: &JsonPath,
    ) {
        let slot = self.out.len();
        self.out.push(Row {
            table: ti,
            cells: Vec::new(),
        });
        let pk = self.pk_cell(t, obj, &cells);
        let mut extras = Vec::new();
        let meta = self.node(t, &t.fields, obj, &mut cells, &pk, path, &mut extras);
        if let Some(c) = t.extra_col {
            // A shared table's `document` is the whole record, `{}` too.
            if !extras.is_empty() || t.shared.is_some() {
                cells[c] = Cell::Text(Cow::Owned(to_compact_string(&Value::Object(extras))));
            }
        }
        // A table without `_meta` (shared) declares no field: nothing deviates from the order.
        if let (false, Some(c)) = (meta.is_empty(), t.meta_col) {
            cells[c] = Cell::Text(Cow::Owned(to_compact_string(&meta.to_value())));
        }
        self.out[slot].cells = cells;
    }

    /// The value children of this row point at.
    fn pk_cell(&self, t: &Table, obj: &'a [(String, Value)], cells: &[Cell<'a>]) -> Cell<'a> {
        if t.columns[t.pk].role != super::Role::Field {
            return cells[t.pk].clone();
        }
        let name = &t.columns[t.pk].field_path[0];
        match obj.iter().find(|(k, _)| k == name).map(|(_, v)| v) {
            Some(Value::String(s)) => Cell::Text(Cow::Borrowed(s)),
            Some(Value::Number(n)) => n.as_i64().map(Cell::Int).unwrap_or(Cell::Null),
            _ => Cell::Null,
        }
    }

    /// Shreds the fields of one object node into `cells`; returns its fix-ups. Unknown fields go
    /// to `extras`.
    #[allow(clippy::too_many_arguments)]
    fn node(
        &mut self,
        t: &'s Table,
        fields: &'s [Field],
        obj: &'a [(String, Value)],
        cells: &mut Vec<Cell<'a>>,
        pk: &Cell<'a>,
        path: &JsonPath,
        extras: &mut Vec<(String, Value)>,
    ) -> NodeMeta {
        let mut meta = NodeMeta::default();
        let mut seen = vec![false; fields.len()];
        // Whether each declared field is present in canonical form after storing.
        let mut canon = vec![false; fields.len()];
        let mut actual: Vec<&'a str> = Vec::with_capacity(obj.len());
        // Keys mostly come in the declared order: look where the last one left off first.
        let mut next = 0;
        for (k, v) in obj {
            actual.push(k);
            let found = match fields.get(next) {
                Some(f) if f.name == *k => Some(next),
                _ => fields.iter().position(|f| &f.name == k),
            };
            let Some(i) = found else {
                extras.push((k.clone(), v.clone()));
                continue;
            };
            seen[i] = true;
            next = i + 1;
            let f = &fields[i];
            // Built only when needed: most fields are valid scalars.
            let fpath = || path.key(k);
            canon[i] = match &f.kind {
                FieldKind::Scalar { ty, col } => {
                    if matches!(v, Value::Null) {
                        if f.required {
                            self.err(fpath(), format!("{k:?} is required and must not be null"));
                        }
                        false
                    } else {
                        if let Some(cell) = self.scalar(*ty, f, v, path, k, &mut meta) {
                            cells[*col] = cell;
                        } else if *col == t.pk
                            && let Some(hint) = &t.untyped_key
                            && let Some(e) = self.errors.last_mut()
                        {
                            e.message.push_str(hint);
                        }
                        true
                    }
                }
                FieldKind::Json { col } => {
                    if f.required && matches!(v, Value::Null) {
                        self.err(fpath(), format!("{k:?} is required and must not be null"));
                    }
                    cells[*col] = Cell::Text(Cow::Owned(to_compact_string(v)));
                    true
                }
                FieldKind::Object { fields: sub } => {
                    match v {
                        Value::Object(o) => {
                            let mut sub_extras = Vec::new();
                            let mut m = self.node(t, sub, o, cells, pk, &fpath(), &mut sub_extras);
                            m.extras = sub_extras;
                            if !m.is_empty() {
                                meta.nested.push((k.clone(), m));
                            }
                        }
                        Value::Null if !f.required => meta.nulls.push(k.clone()),
                        other => self.err(
                            fpath(),
                            format!("expected an object, found {}", describe(other)),
                        ),
                    }
                    true
                }
                FieldKind::Child { table } => {
                    match v {
                        Value::Array(items) => self.children(*table, items, pk, &fpath()),
                        Value::Null if !f.required => meta.nulls.push(k.clone()),
                        other => self.err(
                            fpath(),
                            format!("expected an array, found {}", describe(other)),
                        ),
                    }
                    true
                }
            };
        }
        for (i, f) in fields.iter().enumerate() {
            if !seen[i] {
                if f.required
                    || t.columns[t.pk].field_path.first() == Some(&f.name) && path.0.is_empty()
                {
                    self.err(path.clone(), format!("missing required field {:?}", f.name));
                }
                // Absent arrays and objects are present in canonical form: note the absence.
            }
        }
        let canonical = fields
            .iter()
            .enumerate()
            .filter(|(i, f)| {
                canon[*i]
                    || (!seen[*i]
                        && matches!(f.kind, FieldKind::Object { .. } | FieldKind::Child { .. }))
            })
            .map(|(_, f)| f.name.as_str())
            .chain(extras.iter().map(|(k, _)| k.as_str()));
        if !canonical.eq(actual.iter().copied()) {
            meta.keys = Some(actual.iter().map(|s| s.to_string()).collect());
        }
        meta
    }

    /// A typed cell for a scalar, with enum/min/max checks and the raw spelling when needed.
    fn scalar(
        &mut self,
        ty: ScalarType,
        f: &Field,
        v: &'a Value,
        parent: &JsonPath,
        key: &str,
        meta: &mut NodeMeta,
    ) -> Option<Cell<'a>> {
        if let Some(allowed) = &f.enumeration {
            if !allowed.contains(v) {
                let list: Vec<String> = allowed.iter().map(to_compact_string).collect();
                self.err(
                    parent.key(key),
                    format!("{} is not one of {}", to_compact_string(v), list.join(", ")),
                );
                return None;
            }
        }
        let (cell, raw) = match scalar_cell(ty, v) {
            Ok(x) => x,
            Err(m) => {
                self.err(parent.key(key), m);
                return None;
            }
        };
        if let Some(r) = raw {
            meta.raw.push((key.to_string(), r));
        }
        let n = match &cell {
            Cell::Int(i) if ty == ScalarType::Integer => Some(*i as f64),
            Cell::Real(r) => Some(*r),
            _ => None,
        };
        if let Some(n) = n {
            if f.min.is_some_and(|m| n < m) || f.max.is_some_and(|m| n > m) {
                let bound = |b: Option<f64>| b.map(|x| x.to_string()).unwrap_or_else(|| "…".into());
                self.err(
                    parent.key(key),
                    format!("{n} is outside [{}, {}]", bound(f.min), bound(f.max)),
                );
                return None;
            }
        }
        Some(cell)
    }

    /// Rows of a child table for the elements of an array.
    fn children(&mut self, ti: usize, items: &'a [Value], parent: &Cell<'a>, path: &JsonPath) {
        let t = &self.schema.tables[ti];
        for (i, item) in items.iter().enumerate() {
            let ipath = path.index(i);
            let mut cells = vec![Cell::Null; t.columns.len()];
            cells[t.id_col.expect("child tables have ids")] = Cell::Int(self.ids.take(ti));
            cells[t.parent_col.expect("child tables have a parent column")] = parent.clone();
            cells[t.pos_col.expect("child tables have a position")] = Cell::Int(i as i64);
            match (&t.elements, item) {
                (Elements::Objects, Value::Object(o)) => self.row(ti, t, o, cells, &ipath),
                (Elements::Entities { table, col }, Value::Object(o)) => {
                    // The entity, then the join row pointing at it; the loader stores an
                    // entity once and requires later occurrences to be identical.
                    let e = &self.schema.tables[*table];
                    cells[*col] = self.pk_cell(e, o, &[]);
                    let ecells = vec![Cell::Null; e.columns.len()];
                    self.row(*table, e, o, ecells, &ipath);
                    self.out.push(Row { table: ti, cells });
                }
                (Elements::Objects | Elements::Entities { .. }, other) => self.err(
                    ipath,
                    format!("expected an object, found {}", describe(other)),
                ),
                (Elements::Json { col }, v) => {
                    cells[*col] = Cell::Text(Cow::Owned(to_compact_string(v)));
                    self.out.push(Row { table: ti, cells });
                }
                (Elements::Scalars { col, .. }, Value::Null) => {
                    let _ = col;
                    self.out.push(Row { table: ti, cells });
                }
                (Elements::Scalars { ty, col }, v) => match scalar_cell(*ty, v) {
                    Ok((cell, raw)) => {
                        cells[*col] = cell;
                        if let (Some(r), Some(m)) = (raw, t.meta_col) {
                            cells[m] = Cell::Text(Cow::Owned(to_compact_string(&Value::String(r))));
                        }
                        self.out.push(Row { table: ti, cells });
                    }
                    Err(m) => self.err(ipath, m),
                },
            }
        }
    }
}

/// A short description of a value for messages: its kind and, for scalars, the value.
pub fn describe(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => format!("boolean {b}"),
        Value::Number(n) => format!("number {n}"),
        Value::String(s) if s.chars().count() > 40 => {
            format!("string {:?}…", s.chars().take(40).collect::<String>())
        }
        Value::String(s) => format!("string {s:?}"),
        Value::Array(_) => "an array".into(),
        Value::Object(_) => "an object".into(),
    }
}

/// Converts a non-null value to a cell of `ty`, with the raw number text when the canonical
/// spelling of the stored value differs from the source.
pub fn scalar_cell(ty: ScalarType, v: &Value) -> Result<(Cell<'_>, Option<String>), String> {
    let expected = || format!("expected {}, found {}", ty.name(), describe(v));
    match (ty, v) {
        (ScalarType::Boolean, Value::Bool(b)) => Ok((Cell::Int(i64::from(*b)), None)),
        (ScalarType::Integer, Value::Number(n)) => {
            if !n.is_integer_form() {
                return Err(format!("expected integer, found number {n}"));
            }
            let i = n.as_i64().ok_or_else(|| {
                format!("{n} does not fit a 64-bit integer; declare the field as `real` or `json`")
            })?;
            let t = n.as_str();
            let digits = t.strip_prefix('-').unwrap_or(t);
            let canonical = t != "-0" && !(digits.len() > 1 && digits.starts_with('0'));
            let raw = (!canonical).then(|| t.to_string());
            Ok((Cell::Int(i), raw))
        }
        (ScalarType::Real, Value::Number(n)) => {
            let f = n.as_f64();
            if !f.is_finite() {
                return Err(format!(
                    "{n} is out of range for a real; declare the field as `json` to keep it exact"
                ));
            }
            let raw = (!n.is_canonical_js()).then(|| n.as_str().to_string());
            Ok((Cell::Real(f), raw))
        }
        (ScalarType::Text, Value::String(s)) => Ok((Cell::Text(Cow::Borrowed(s)), None)),
        (ScalarType::Timestamp | ScalarType::Date | ScalarType::Uuid, Value::String(s)) => {
            ty.check_text(s)?;
            Ok((Cell::Text(Cow::Borrowed(s)), None))
        }
        _ => Err(expected()),
    }
}
