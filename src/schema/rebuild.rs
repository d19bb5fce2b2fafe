//! Putting a record back together from its rows: the inverse of [`super::shred`], used by
//! verify (compare with the source) and export (write the source back). Fix-ups in `_meta` are
//! trusted only while they agree with the columns, so a row edited by SQL still rebuilds sensibly.

use super::shred::Cell;
use super::{Elements, Field, FieldKind, ScalarType, Schema};
use crate::json::{Number, Value, parse};

/// Fetches the rows of child table `table` whose parent is `parent`, ordered by position.
pub type FetchChildren<'f> =
    dyn FnMut(usize, &Cell<'static>) -> anyhow::Result<Vec<Vec<Cell<'static>>>> + 'f;

/// Rebuilds the record stored in `cells` (a row of table `ti`): its key in the file and its value.
pub fn rebuild(
    schema: &Schema,
    ti: usize,
    cells: &[Cell<'static>],
    fetch: &mut FetchChildren,
) -> anyhow::Result<(Option<String>, Value)> {
    let t = &schema.tables[ti];
    let key = t.key_col.and_then(|c| match &cells[c] {
        Cell::Text(s) => Some(s.to_string()),
        Cell::Int(i) => Some(i.to_string()),
        _ => None,
    });
    Ok((key, Rebuilder { schema, fetch }.row(ti, cells)?))
}

struct Rebuilder<'s, 'f, 'g> {
    schema: &'s Schema,
    fetch: &'f mut FetchChildren<'g>,
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

fn member<'v>(obj: Option<&'v Value>, key: &str) -> Option<&'v Value> {
    obj.and_then(|o| o.get(key))
}

impl Rebuilder<'_, '_, '_> {
    fn row(&mut self, ti: usize, cells: &[Cell<'static>]) -> anyhow::Result<Value> {
        let t = &self.schema.tables[ti];
        let meta = json_col(&cells[t.meta_col])?;
        let extras = match t
            .extra_col
            .map(|c| json_col(&cells[c]))
            .transpose()?
            .flatten()
        {
            Some(Value::Object(o)) => o,
            _ => Vec::new(),
        };
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
        let present = |f: &Field| match &f.kind {
            FieldKind::Scalar { col, .. } | FieldKind::Json { col } => cells[*col] != Cell::Null,
            FieldKind::Object { .. } | FieldKind::Child { .. } => true,
        };
        let nulls = |name: &str| match member(meta, "z") {
            Some(Value::Array(z)) => z.iter().any(|v| v.as_str() == Some(name)),
            _ => false,
        };
        let Some(Value::Array(k)) = member(meta, "k") else {
            // The canonical order (most rows): present declared fields, then the unknown ones.
            let mut out = Vec::with_capacity(fields.len() + extras.len());
            for f in fields.iter().filter(|f| present(f)) {
                let v = self.field(ti, f, cells, meta, pk, nulls(&f.name))?;
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
                let v = self.field(ti, f, cells, meta, pk, nulls(&key))?;
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
            FieldKind::Json { col } => json_col(&cells[*col])?.unwrap_or(Value::Null),
            FieldKind::Object { .. } | FieldKind::Child { .. } if null_fixup => Value::Null,
            FieldKind::Object { fields: sub } => {
                let m = member(member(meta, "o"), &f.name);
                let e = match member(m, "e") {
                    Some(Value::Object(e)) => e.clone(),
                    _ => Vec::new(),
                };
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
                    let entity = (self.fetch)(*table, &cells[*col])?;
                    let Some(e) = entity.first() else {
                        anyhow::bail!(
                            "table {} has no row with key {:?} (referred to by table {})",
                            self.schema.tables[*table].name,
                            cells[*col],
                            t.name
                        );
                    };
                    self.row(*table, e)?
                }
                Elements::Json { col } => json_col(&cells[*col])?.unwrap_or(Value::Null),
                Elements::Scalars { ty, col } => {
                    let raw = json_col(&cells[t.meta_col])?;
                    scalar_value(*ty, &cells[*col], raw.as_ref().and_then(Value::as_str))
                }
            });
        }
        Ok(Value::Array(items))
    }
}

/// The JSON value of a typed cell; `raw` is the source spelling of a number, used while it
/// still denotes the stored value.
pub fn scalar_value(ty: ScalarType, cell: &Cell, raw: Option<&str>) -> Value {
    match (ty, cell) {
        (_, Cell::Null) => Value::Null,
        (ScalarType::Boolean, Cell::Int(i)) => Value::Bool(*i != 0),
        (ScalarType::Integer, Cell::Int(i)) => match raw {
            Some(r) if r.parse::<f64>().ok() == Some(*i as f64) && valid_number(r) => {
                Value::Number(Number::from_text_unchecked(r))
            }
            _ => Value::Number(Number::from_i64(*i)),
        },
        (ScalarType::Real, Cell::Real(_) | Cell::Int(_)) => {
            let f = match cell {
                Cell::Real(f) => *f,
                Cell::Int(i) => *i as f64,
                _ => unreachable!("matched above"),
            };
            match raw {
                Some(r) if r.parse::<f64>().ok() == Some(f) && valid_number(r) => {
                    Value::Number(Number::from_text_unchecked(r))
                }
                _ => Value::Number(Number::from_f64_js(f)),
            }
        }
        // A value of another type put in by hand: show it as it is.
        (_, Cell::Int(i)) => Value::Number(Number::from_i64(*i)),
        (_, Cell::Real(f)) => Value::Number(Number::from_f64_js(*f)),
        (_, Cell::Text(s)) => Value::String(s.to_string()),
    }
}

fn valid_number(r: &str) -> bool {
    matches!(parse(r.as_bytes(), 1), Ok(Value::Number(_)))
}
