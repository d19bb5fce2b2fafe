//! Field defaults (`default = …` in jsonlift.toml): what a record that lacks a field gets, when
//! it is added through the API and when a schema evolution adds the field to existing records
//! (issue #17). Records loaded from their files are taken as they are, so that they export
//! back byte for byte.

use std::collections::HashMap;

use super::{Elements, Field, FieldKind, Schema};
use crate::json::Value;

/// Gives a record the `default` of each declared field it lacks, where the canonical order
/// puts that field (after the declared fields before it, before the undeclared ones), at every
/// level the schema describes.
pub fn fill(schema: &Schema, fields: &[Field], obj: &mut Vec<(String, Value)>) {
    for (i, f) in fields.iter().enumerate() {
        if !obj.iter().any(|(k, _)| *k == f.name)
            && let Some(d) = &f.default
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
            obj.insert(at, (f.name.clone(), d.clone()));
        }
        let value = obj.iter_mut().find(|(k, _)| *k == f.name).map(|(_, v)| v);
        match (&f.kind, value) {
            (FieldKind::Object { fields: sub }, Some(Value::Object(o))) => fill(schema, sub, o),
            (FieldKind::Child { table }, Some(Value::Array(items))) => {
                let t = &schema.tables[*table];
                let sub = match t.elements {
                    Elements::Objects => &t.fields,
                    Elements::Entities { table, .. } => &schema.tables[table].fields,
                    _ => continue,
                };
                for item in items {
                    if let Value::Object(o) = item {
                        fill(schema, sub, o);
                    }
                }
            }
            _ => {}
        }
    }
}
