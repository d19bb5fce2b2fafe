//! Putting a record back together from its rows: the inverse of [`super::shred`], used by
//! verify (compare with the source) and export (write the source back). Fix-ups in `_meta` are
//! trusted only while they agree with the columns, so a row edited by SQL still rebuilds sensibly.

use std::borrow::Cow;

use super::shred::Cell;
use super::{Elements, Field, FieldKind, ScalarType, Schema, Table};
use crate::json::{Number, Value, parse};

/// Rows of a table: read from the database, or borrowed from the rows of a record in memory.
pub type Rows<'r> = Vec<Cow<'r, [Cell<'static>]>>;

/// Fetches the rows of child table `table` whose parent is `parent`, ordered by position.
pub type FetchChildren<'f> = dyn FnMut(usize, &Cell<'static>) -> anyhow::Result<Rows<'f>> + 'f;

/// Rebuilds the record stored in `cells` (a row of table `ti`): its key in the file and its value.
pub fn rebuild(
    schema: &Schema,
    ti: usize,
    cells: &[Cell<'static>],
    fetch: &mut FetchChildren,
) -> anyhow::Result<(Option<String>, Value)> {
    let key = record_key(&schema.tables[ti], cells);
    let mut r = Rebuilder {
        schema,
        fetch,
        texts: None,
    };
    Ok((key, r.row(ti, cells)?))
}

/// The record's key in its file, when the table keeps it.
fn record_key(t: &Table, cells: &[Cell<'static>]) -> Option<String> {
    t.key_col.and_then(|c| match &cells[c] {
        Cell::Text(s) => Some(s.to_string()),
        Cell::Int(i) => Some(i.to_string()),
        _ => None,
    })
}

/// Top-level JSON fields of a record by name, each with the column that holds its text.
pub type TextColumns = Vec<(String, usize)>;

/// [`rebuild`] for writing the record back: its top-level JSON fields are not parsed but given
/// as the columns that hold their text (by field name), with `null` in their place in the value
/// ([`crate::source::Texts`]).
pub fn rebuild_for_writing(
    schema: &Schema,
    ti: usize,
    cells: &[Cell<'static>],
    fetch: &mut FetchChildren,
) -> anyhow::Result<(Option<String>, Value, TextColumns)> {
    let key = record_key(&schema.tables[ti], cells);
    let mut r = Rebuilder {
        schema,
        fetch,
        texts: Some((ti, Vec::new())),
    };
    let value = r.row(ti, cells)?;
    let texts = r.texts.map(|(_, t)| t).unwrap_or_default();
    Ok((key, value, texts))
}

/// Whether [`rebuild`] gives back exactly `expected` and, when the table keeps the record's key,
/// the key `key`: the same answer as building the record and comparing, but nodes in canonical
/// order are compared in place, so the common record is checked without allocating. Nodes with
/// a `_meta` key order, and JSON columns, are built and compared.
pub fn rebuilds_to(
    schema: &Schema,
    ti: usize,
    cells: &[Cell<'static>],
    fetch: &mut FetchChildren,
    key: Option<&str>,
    expected: &Value,
) -> anyhow::Result<bool> {
    let key_matches = match schema.tables[ti].key_col.map(|c| &cells[c]) {
        Some(Cell::Text(s)) => key == Some(s.as_ref()),
        Some(Cell::Int(i)) => key.is_some_and(|k| int_text_is(*i, k)),
        _ => true,
    };
    let mut r = Rebuilder {
        schema,
        fetch,
        texts: None,
    };
    Ok(key_matches && r.row_is(ti, cells, expected)?)
}

struct Rebuilder<'s, 'f, 'g> {
    schema: &'s Schema,
    fetch: &'f mut FetchChildren<'g>,
    /// For [`rebuild_for_writing`]: the record's table, and its JSON fields given as columns.
    texts: Option<(usize, TextColumns)>,
}

fn json_col(cell: &Cell) -> anyhow::Result<Option<Value>> {
    match cell {
        Cell::Text(s) => {
            Ok(Some(parse(s.as_bytes(), 10_000).map_err(|e| {
                anyhow::anyhow!("bad JSON in a column: {e}")
            })?))
        }
        _ => Ok(None),
    }
}

/// The row's `_meta` fix-ups (a table without the column has none).
fn meta_of(t: &Table, cells: &[Cell]) -> anyhow::Result<Option<Value>> {
    t.meta_col
        .map(|c| json_col(&cells[c]))
        .transpose()
        .map(Option::flatten)
}

fn member<'v>(obj: Option<&'v Value>, key: &str) -> Option<&'v Value> {
    obj.and_then(|o| o.get(key))
}

/// The unknown fields of a row, from its `_extra` column.
fn extras_of(t: &Table, cells: &[Cell]) -> anyhow::Result<Vec<(String, Value)>> {
    match t
        .extra_col
        .map(|c| json_col(&cells[c]))
        .transpose()?
        .flatten()
    {
        Some(Value::Object(o)) => Ok(o),
        _ => Ok(Vec::new()),
    }
}

/// Whether declared field `f` is in the canonical form of its node.
fn present(f: &Field, cells: &[Cell]) -> bool {
    match &f.kind {
        FieldKind::Scalar { col, .. } | FieldKind::Json { col } => cells[*col] != Cell::Null,
        FieldKind::Object { .. } | FieldKind::Child { .. } => true,
    }
}

/// Whether `_meta` says array or object field `name` was `null`.
fn null_fixup(meta: Option<&Value>, name: &str) -> bool {
    match member(meta, "z") {
        Some(Value::Array(z)) => z.iter().any(|v| v.as_str() == Some(name)),
        _ => false,
    }
}

/// The fix-ups of flattened object `name` of a node, and its unknown fields.
fn object_fixups<'m>(
    meta: Option<&'m Value>,
    name: &str,
) -> (Option<&'m Value>, Vec<(String, Value)>) {
    let m = member(member(meta, "o"), name);
    let extras = match member(m, "e") {
        Some(Value::Object(e)) => e.clone(),
        _ => Vec::new(),
    };
    (m, extras)
}

impl Rebuilder<'_, '_, '_> {
    fn row(&mut self, ti: usize, cells: &[Cell<'static>]) -> anyhow::Result<Value> {
        let t = &self.schema.tables[ti];
        let meta = meta_of(t, cells)?;
        let extras = extras_of(t, cells)?;
        let pk = cells[t.pk].clone();
        self.node(ti, &t.fields, cells, meta.as_ref(), extras, &pk)
    }

    fn node(
        &mut self,
        ti: usize,
        fields: &[Field],
        cells: &[Cell<'static>],
        meta: Option<&Value>,
        mut extras: Vec<(String, Value)>,
        pk: &Cell<'static>,
    ) -> anyhow::Result<Value> {
        let Some(Value::Array(k)) = member(meta, "k") else {
            // The canonical order (most rows): present declared fields, then the unknown ones.
            let mut out = Vec::with_capacity(fields.len() + extras.len());
            for f in fields.iter().filter(|f| present(f, cells)) {
                let v = self.field(ti, f, cells, meta, pk, null_fixup(meta, &f.name))?;
                out.push((f.name.clone(), v));
            }
            out.append(&mut extras);
            return Ok(Value::Object(out));
        };
        let mut keys: Vec<String> = k
            .iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect();
        // Columns set since the fix-up was written (by SQL) still show up.
        for f in fields {
            let set = matches!(&f.kind, FieldKind::Scalar { col, .. } | FieldKind::Json { col } if cells[*col] != Cell::Null);
            if set && !keys.contains(&f.name) {
                keys.push(f.name.clone());
            }
        }
        for (k, _) in &extras {
            if !keys.contains(k) {
                keys.push(k.clone());
            }
        }
        let mut out = Vec::with_capacity(keys.len());
        for key in keys {
            if let Some(f) = fields.iter().find(|f| f.name == key) {
                let v = self.field(ti, f, cells, meta, pk, null_fixup(meta, &key))?;
                out.push((key, v));
            } else if let Some(i) = extras.iter().position(|(k, _)| *k == key) {
                out.push(extras.remove(i));
            }
        }
        Ok(Value::Object(out))
    }

    /// The value of declared field `f` of a node (`null_fixup`: `_meta` says it was `null`).
    fn field(
        &mut self,
        ti: usize,
        f: &Field,
        cells: &[Cell<'static>],
        meta: Option<&Value>,
        pk: &Cell<'static>,
        null_fixup: bool,
    ) -> anyhow::Result<Value> {
        Ok(match &f.kind {
            FieldKind::Scalar { ty, col } => {
                let raw = member(member(meta, "r"), &f.name).and_then(Value::as_str);
                scalar_value(*ty, &cells[*col], raw)
            }
            FieldKind::Json { col }
                if matches!(cells[*col], Cell::Text(_))
                    && self.texts.as_ref().is_some_and(|(root, _)| {
                        *root == ti
                            && self.schema.tables[ti]
                                .fields
                                .iter()
                                .any(|top| std::ptr::eq(top, f))
                    }) =>
            {
                if let Some((_, texts)) = &mut self.texts {
                    texts.push((f.name.clone(), *col));
                }
                Value::Null
            }
            FieldKind::Json { col } => json_col(&cells[*col])?.unwrap_or(Value::Null),
            FieldKind::Object { .. } | FieldKind::Child { .. } if null_fixup => Value::Null,
            FieldKind::Object { fields: sub } => {
                let (m, e) = object_fixups(meta, &f.name);
                self.node(ti, sub, cells, m, e, pk)?
            }
            FieldKind::Child { table } => self.array(*table, pk)?,
        })
    }

    fn array(&mut self, ti: usize, parent: &Cell<'static>) -> anyhow::Result<Value> {
        let rows = (self.fetch)(ti, parent)?;
        let t = &self.schema.tables[ti];
        let mut items = Vec::with_capacity(rows.len());
        for cells in rows {
            items.push(match &t.elements {
                Elements::Objects => self.row(ti, &cells)?,
                Elements::Entities { table, col } => {
                    let e = self.entity(ti, *table, &cells[*col])?;
                    self.row(*table, &e)?
                }
                Elements::Json { col } => json_col(&cells[*col])?.unwrap_or(Value::Null),
                Elements::Scalars { ty, col } => {
                    let raw = meta_of(t, &cells)?;
                    scalar_value(*ty, &cells[*col], raw.as_ref().and_then(Value::as_str))
                }
            });
        }
        Ok(Value::Array(items))
    }

    /// The row of shared-entity table `table` with key `key`, which join table `join` refers to.
    fn entity(
        &mut self,
        join: usize,
        table: usize,
        key: &Cell<'static>,
    ) -> anyhow::Result<Vec<Cell<'static>>> {
        let Some(e) = (self.fetch)(table, key)?.into_iter().next() else {
            anyhow::bail!(
                "table {} has no row with key {:?} (referred to by table {})",
                self.schema.tables[table].name,
                key,
                self.schema.tables[join].name
            );
        };
        Ok(e.into_owned())
    }
}

/// The comparing walk: each `*_is` method answers whether its building twin above would give
/// back exactly `expected`, and stops at the first difference.
impl Rebuilder<'_, '_, '_> {
    fn row_is(
        &mut self,
        ti: usize,
        cells: &[Cell<'static>],
        expected: &Value,
    ) -> anyhow::Result<bool> {
        let t = &self.schema.tables[ti];
        let meta = meta_of(t, cells)?;
        let extras = extras_of(t, cells)?;
        self.node_is(
            ti,
            &t.fields,
            cells,
            meta.as_ref(),
            extras,
            &cells[t.pk],
            expected,
        )
    }

    #[allow(clippy::too_many_arguments)]
    fn node_is(
        &mut self,
        ti: usize,
        fields: &[Field],
        cells: &[Cell<'static>],
        meta: Option<&Value>,
        extras: Vec<(String, Value)>,
        pk: &Cell<'static>,
        expected: &Value,
    ) -> anyhow::Result<bool> {
        if let Some(Value::Array(_)) = member(meta, "k") {
            // A key order fix-up is rare and has its own merging rules: build and compare.
            return Ok(self.node(ti, fields, cells, meta, extras, pk)? == *expected);
        }
        let Value::Object(entries) = expected else {
            return Ok(false);
        };
        // Canonical order: the present declared fields, then the unknown ones, then nothing.
        let mut rest = entries.iter();
        for f in fields.iter().filter(|f| present(f, cells)) {
            let Some((k, v)) = rest.next() else {
                return Ok(false);
            };
            let nulled = null_fixup(meta, &f.name);
            if *k != f.name || !self.field_is(ti, f, cells, meta, pk, nulled, v)? {
                return Ok(false);
            }
        }
        Ok(rest.as_slice() == extras.as_slice())
    }

    #[allow(clippy::too_many_arguments)]
    fn field_is(
        &mut self,
        ti: usize,
        f: &Field,
        cells: &[Cell<'static>],
        meta: Option<&Value>,
        pk: &Cell<'static>,
        null_fixup: bool,
        expected: &Value,
    ) -> anyhow::Result<bool> {
        Ok(match &f.kind {
            FieldKind::Scalar { ty, col } => {
                let raw = member(member(meta, "r"), &f.name).and_then(Value::as_str);
                scalar_is(*ty, &cells[*col], raw, expected)
            }
            FieldKind::Json { col } => json_is(&cells[*col], expected)?,
            FieldKind::Object { .. } | FieldKind::Child { .. } if null_fixup => {
                *expected == Value::Null
            }
            FieldKind::Object { fields: sub } => {
                let (m, e) = object_fixups(meta, &f.name);
                self.node_is(ti, sub, cells, m, e, pk, expected)?
            }
            FieldKind::Child { table } => self.array_is(*table, pk, expected)?,
        })
    }

    fn array_is(
        &mut self,
        ti: usize,
        parent: &Cell<'static>,
        expected: &Value,
    ) -> anyhow::Result<bool> {
        let Value::Array(items) = expected else {
            return Ok(false);
        };
        let rows = (self.fetch)(ti, parent)?;
        if rows.len() != items.len() {
            return Ok(false);
        }
        let t = &self.schema.tables[ti];
        for (cells, item) in rows.iter().zip(items) {
            let same = match &t.elements {
                Elements::Objects => self.row_is(ti, cells, item)?,
                Elements::Entities { table, col } => {
                    let e = self.entity(ti, *table, &cells[*col])?;
                    self.row_is(*table, &e, item)?
                }
                Elements::Json { col } => json_is(&cells[*col], item)?,
                Elements::Scalars { ty, col } => {
                    let raw = meta_of(t, cells)?;
                    scalar_is(
                        *ty,
                        &cells[*col],
                        raw.as_ref().and_then(Value::as_str),
                        item,
                    )
                }
            };
            if !same {
                return Ok(false);
            }
        }
        Ok(true)
    }
}

/// Whether a JSON column gives back `expected` (a NULL column gives `null`).
fn json_is(cell: &Cell, expected: &Value) -> anyhow::Result<bool> {
    // The column as the shredder writes it: equal text is an equal value, with nothing parsed.
    if let Cell::Text(s) = cell
        && crate::json::write::is_compact_text_of(expected, s)
    {
        return Ok(true);
    }
    Ok(json_col(cell)?.unwrap_or(Value::Null) == *expected)
}

/// The JSON value of a typed cell; `raw` is the source spelling of a number, used while it
/// still denotes the stored value.
pub fn scalar_value(ty: ScalarType, cell: &Cell, raw: Option<&str>) -> Value {
    match (ty, cell) {
        (_, Cell::Null) => Value::Null,
        (ScalarType::Boolean, Cell::Int(i)) => Value::Bool(*i != 0),
        (ScalarType::Integer, Cell::Int(i)) => match usable_raw(raw, *i as f64) {
            Some(r) => Value::Number(Number::from_text_unchecked(r)),
            None => Value::Number(Number::from_i64(*i)),
        },
        (ScalarType::Real, Cell::Real(_) | Cell::Int(_)) => {
            let f = match cell {
                Cell::Real(f) => *f,
                Cell::Int(i) => *i as f64,
                _ => unreachable!("matched above"),
            };
            match usable_raw(raw, f) {
                Some(r) => Value::Number(Number::from_text_unchecked(r)),
                None => Value::Number(Number::from_f64_js(f)),
            }
        }
        // A value of another type put in by hand: show it as it is.
        (_, Cell::Int(i)) => Value::Number(Number::from_i64(*i)),
        (_, Cell::Real(f)) => Value::Number(Number::from_f64_js(*f)),
        (_, Cell::Text(s)) => Value::String(s.to_string()),
    }
}

/// Whether [`scalar_value`] gives `expected`, decided without building the value.
fn scalar_is(ty: ScalarType, cell: &Cell, raw: Option<&str>, expected: &Value) -> bool {
    match (ty, cell, expected) {
        (_, Cell::Null, _) => *expected == Value::Null,
        (ScalarType::Boolean, Cell::Int(i), _) => *expected == Value::Bool(*i != 0),
        (_, Cell::Text(s), _) => expected.as_str() == Some(s.as_ref()),
        (_, _, Value::Number(n)) => number_is(ty, cell, raw, n),
        _ => false,
    }
}

/// [`scalar_is`] for a number cell and an expected number.
fn number_is(ty: ScalarType, cell: &Cell, raw: Option<&str>, n: &Number) -> bool {
    match (ty, cell) {
        (ScalarType::Integer, Cell::Int(i)) => match usable_raw(raw, *i as f64) {
            Some(r) => n.as_str() == r,
            None => int_text_is(*i, n.as_str()),
        },
        (ScalarType::Real, Cell::Real(_) | Cell::Int(_)) => {
            let f = match cell {
                Cell::Real(f) => *f,
                Cell::Int(i) => *i as f64,
                _ => unreachable!("matched above"),
            };
            match usable_raw(raw, f) {
                Some(r) => n.as_str() == r,
                None => js_text_is(f, n),
            }
        }
        (_, Cell::Int(i)) => int_text_is(*i, n.as_str()),
        (_, Cell::Real(f)) => js_text_is(*f, n),
        (_, Cell::Null | Cell::Text(_)) => false,
    }
}

/// The source spelling `raw` of a number, while it still denotes the stored value `f`.
fn usable_raw(raw: Option<&str>, f: f64) -> Option<&str> {
    raw.filter(|r| r.parse::<f64>().ok() == Some(f) && valid_number(r))
}

fn valid_number(r: &str) -> bool {
    matches!(parse(r.as_bytes(), 1), Ok(Value::Number(_)))
}

/// Whether `text` is `i`'s decimal form (what [`Number::from_i64`] writes): an optional `-`,
/// then digits without a leading zero, and no `-0`. Read digit by digit rather than formatted
/// (the formatter was 2 % of a flat migration); parsing with `str::parse` would accept `+1`.
fn int_text_is(i: i64, text: &str) -> bool {
    let (neg, digits) = match text.as_bytes() {
        [b'-', rest @ ..] => (true, rest),
        all => (false, all),
    };
    let canonical = match digits {
        [] | [b'0', _, ..] => false,
        [b'0'] => !neg,
        _ => digits.len() <= 19,
    };
    if !canonical || neg != (i < 0) {
        return false;
    }
    // 19 digits fit in a u64; i64::MIN's magnitude too.
    let mut m: u64 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return false;
        }
        m = m * 10 + u64::from(d - b'0');
    }
    m == i.unsigned_abs()
}

/// Whether [`Number::from_f64_js`] gives `n` for `f`, without formatting in the common cases.
fn js_text_is(f: f64, n: &Number) -> bool {
    if f == 0.0 {
        return n.as_str() == "0"; // both zeros are written "0"
    }
    match n.plainly_canonical_js() {
        // `n` is what its own value formats to, and formatting round-trips: so it is `f`'s
        // text exactly when it denotes `f`.
        Some(g) if f.is_finite() => g == f,
        _ => Number::from_f64_js(f) == *n,
    }
}

#[cfg(test)]
mod tests {
    use super::int_text_is;

    #[test]
    fn an_integers_text_is_exactly_its_decimal_form() {
        for i in [
            0,
            1,
            -1,
            7,
            10,
            -10,
            99,
            100,
            12345,
            i64::MAX,
            i64::MIN,
            i64::MIN + 1,
        ] {
            let text = i.to_string();
            assert!(int_text_is(i, &text), "{i}");
            for other in [i.wrapping_add(1), i.wrapping_sub(1), i.wrapping_neg()] {
                assert_eq!(int_text_is(other, &text), other == i, "{other} vs {text}");
            }
        }
        for (i, text) in [
            (0, "-0"),
            (0, ""),
            (0, "-"),
            (1, "+1"),
            (1, "01"),
            (-1, "-01"),
            (10, "1e1"),
            (1, "1.0"),
            (1, " 1"),
            (i64::MAX, "09223372036854775807"),
            (0, "18446744073709551616"),
            (-1, "18446744073709551615"),
        ] {
            assert!(!int_text_is(i, text), "{i} vs {text:?}");
        }
    }
}
