//! Field defaults (`default = …` in jsonlift.toml): what a record that lacks a field gets, when
//! it is added through the API and when a schema evolution adds the field to existing records
//! (issue #17), and the column's SQL `DEFAULT`, so that a row another client inserts without
//! the column gets it too (issue #16). Records loaded from their files are taken as they are
//! (every column is written, NULL where the field is absent), so that they export back byte for
//! byte.
//!
//! `default = "CURRENT_TIMESTAMP"` on a timestamp field (`"CURRENT_DATE"` on a date field) is
//! the moment of the write, in UTC, in the form SQLite's `CURRENT_TIMESTAMP` writes
//! (`2026-12-07 13:15:02`; `2026-12-07`): the same text whether the API, the database's
//! `DEFAULT` (SQLite or PostgreSQL) or an evolution fills it in. Such a field cannot hold that
//! text otherwise, so the spelling is unambiguous; on any other field it is refused.

use std::collections::HashMap;

use super::dialect::Dialect;
use super::shred::scalar_cell;
use super::{ColType, Elements, Field, FieldKind, ScalarType, Schema};
use crate::json::{Value, to_compact_string};

/// A field's `default`.
#[derive(Debug, Clone, PartialEq)]
pub enum FieldDefault {
    /// This value.
    Value(Value),
    /// The moment of the write (UTC, `YYYY-MM-DD HH:MM:SS`), on a timestamp field.
    CurrentTimestamp,
    /// The day of the write (UTC, `YYYY-MM-DD`), on a date field.
    CurrentDate,
}

impl FieldDefault {
    /// The default `v` of field `f` (whose kind is final), checked as a record's value of the
    /// field would be; the error says what is wrong with it.
    pub fn of(f: &Field, v: Value) -> Result<FieldDefault, String> {
        let special = match &v {
            Value::String(s) => match s.to_ascii_uppercase().as_str() {
                "CURRENT_TIMESTAMP" => Some(FieldDefault::CurrentTimestamp),
                "CURRENT_DATE" => Some(FieldDefault::CurrentDate),
                _ => None,
            },
            _ => None,
        };
        let ty = match f.kind {
            FieldKind::Scalar { ty, .. } => Some(ty),
            _ => None,
        };
        if let Some(special) = special {
            let fits = match special {
                FieldDefault::CurrentTimestamp => ty == Some(ScalarType::Timestamp),
                _ => ty == Some(ScalarType::Date),
            };
            let (word, want) = match special {
                FieldDefault::CurrentTimestamp => ("CURRENT_TIMESTAMP", "timestamp"),
                _ => ("CURRENT_DATE", "date"),
            };
            if !fits {
                return Err(format!(
                    "{word} is the time of the write, for a field of type \"{want}\"; this field is {}: declare it `type = \"{want}\"`, or give a value of its type",
                    kind_name(f)
                ));
            }
            return Ok(special);
        }
        match (&f.kind, &v) {
            (FieldKind::Scalar { ty, .. }, _) => {
                let (cell, _) = scalar_cell(*ty, &v)?;
                if let Some(allowed) = &f.enumeration
                    && !allowed.contains(&v)
                {
                    let list: Vec<String> = allowed.iter().map(to_compact_string).collect();
                    return Err(format!(
                        "{} is not one of {}",
                        to_compact_string(&v),
                        list.join(", ")
                    ));
                }
                let n = match cell {
                    super::shred::Cell::Int(i) if *ty == ScalarType::Integer => Some(i as f64),
                    super::shred::Cell::Real(r) => Some(r),
                    _ => None,
                };
                if let Some(n) = n
                    && (f.min.is_some_and(|m| n < m) || f.max.is_some_and(|m| n > m))
                {
                    return Err(format!("{n} is outside the field's min/max"));
                }
            }
            (FieldKind::Object { .. }, Value::Object(_))
            | (FieldKind::Child { .. }, Value::Array(_)) => {}
            (FieldKind::Object { .. }, _) => {
                return Err("expected a table (the field is an object)".into());
            }
            (FieldKind::Child { .. }, _) => {
                return Err("expected a list (the field is an array)".into());
            }
            (FieldKind::Json { .. }, _) => {}
        }
        Ok(FieldDefault::Value(v))
    }

    /// The value a record written now gets.
    pub fn value(&self) -> Value {
        match self {
            FieldDefault::Value(v) => v.clone(),
            FieldDefault::CurrentTimestamp => Value::String(crate::clock::sql_now()),
            FieldDefault::CurrentDate => Value::String(crate::clock::sql_now()[..10].to_string()),
        }
    }

    /// The expression of the column's `DEFAULT` in dialect `d`, for a column of type `ty`.
    /// PostgreSQL's timestamps are text like every other value of a timestamp field (what the
    /// records hold, kept as written), so `now()` is written as that text.
    pub fn sql(&self, ty: ColType, d: Dialect) -> String {
        let pg = d == Dialect::Postgres;
        let text = |s: &str| format!("'{}'", s.replace('\'', "''"));
        match (self, pg) {
            (FieldDefault::CurrentTimestamp, false) => "CURRENT_TIMESTAMP".into(),
            (FieldDefault::CurrentDate, false) => "CURRENT_DATE".into(),
            (FieldDefault::CurrentTimestamp, true) => {
                "to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS')".into()
            }
            (FieldDefault::CurrentDate, true) => {
                "to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD')".into()
            }
            (FieldDefault::Value(v), _) => match (ty, v) {
                (ColType::Json, v) if pg => format!("{}::jsonb", text(&to_compact_string(v))),
                (ColType::Json, v) => text(&to_compact_string(v)),
                (ColType::Boolean, Value::Bool(b)) if pg => {
                    if *b { "TRUE" } else { "FALSE" }.into()
                }
                (ColType::Boolean, Value::Bool(b)) => if *b { "1" } else { "0" }.into(),
                // A JSON number's text is an SQL numeric literal in both dialects.
                (ColType::Integer | ColType::Real, Value::Number(n)) => n.as_str().to_string(),
                (_, Value::String(s)) => text(s),
                // Checked against the field's type when the schema was built.
                (_, other) => text(&to_compact_string(other)),
            },
        }
    }
}

fn kind_name(f: &Field) -> &'static str {
    match f.kind {
        FieldKind::Scalar { ty, .. } => ty.name(),
        FieldKind::Json { .. } => "json",
        FieldKind::Object { .. } => "an object",
        FieldKind::Child { .. } => "an array",
    }
}

/// Gives a record the `default` of each declared field it lacks, where the canonical order
/// puts that field (after the declared fields before it, before the undeclared ones), at every
/// level the schema describes: a record added through the API.
pub fn fill(schema: &Schema, fields: &[Field], obj: &mut Vec<(String, Value)>) {
    fill_new(schema, fields, None, obj);
}

/// [`fill`] for an evolution from `old` (the schema and the fields of the same node there): only
/// fields the old schema did not have are filled. A record that lacked a field it already had
/// stays as it is (its file did not have it; a changed `default` is for new records).
pub fn fill_new(
    schema: &Schema,
    fields: &[Field],
    old: Option<(&Schema, &[Field])>,
    obj: &mut Vec<(String, Value)>,
) {
    for (i, f) in fields.iter().enumerate() {
        // In an evolution: the field as the old schema had it (`None`: new, so is all in it).
        let before = old.map(|(os, of)| (os, of.iter().find(|o| o.name == f.name)));
        if !obj.iter().any(|(k, _)| *k == f.name)
            && let Some(d) = &f.default
            && !matches!(before, Some((_, Some(_))))
        {
            let later: HashMap<&str, ()> = fields[i + 1..]
                .iter()
                .map(|f| (f.name.as_str(), ()))
                .collect();
            let declared = |k: &str| fields.iter().any(|f| f.name == k);
            let at = obj
                .iter()
                .position(|(k, _)| later.contains_key(k.as_str()) || !declared(k))
                .unwrap_or(obj.len());
            obj.insert(at, (f.name.clone(), d.value()));
        }
        let old_sub = |sub: for<'a> fn(&'a Schema, &'a Field) -> Option<&'a [Field]>| {
            before.map(|(os, b)| (os, b.and_then(|b| sub(os, b)).unwrap_or(&[])))
        };
        let value = obj.iter_mut().find(|(k, _)| *k == f.name).map(|(_, v)| v);
        match (&f.kind, value) {
            (FieldKind::Object { fields: sub }, Some(Value::Object(o))) => {
                fill_new(schema, sub, old_sub(object_fields), o)
            }
            (FieldKind::Child { table }, Some(Value::Array(items))) => {
                let Some(sub) = element_fields(schema, *table) else {
                    continue;
                };
                let old = old_sub(child_fields);
                for item in items {
                    if let Value::Object(o) = item {
                        fill_new(schema, sub, old, o);
                    }
                }
            }
            _ => {}
        }
    }
}

fn object_fields<'s>(_: &'s Schema, f: &'s Field) -> Option<&'s [Field]> {
    match &f.kind {
        FieldKind::Object { fields } => Some(fields),
        _ => None,
    }
}

fn child_fields<'s>(s: &'s Schema, f: &'s Field) -> Option<&'s [Field]> {
    match f.kind {
        FieldKind::Child { table } => element_fields(s, table),
        _ => None,
    }
}

/// The fields of the objects a child table holds.
fn element_fields(schema: &Schema, table: usize) -> Option<&[Field]> {
    let t = &schema.tables[table];
    match t.elements {
        Elements::Objects => Some(&t.fields),
        Elements::Entities { table, .. } => Some(&schema.tables[table].fields),
        _ => None,
    }
}
