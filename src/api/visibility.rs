//! Field visibility through the API (docs/api.md, "Hidden and read-only fields"): what
//! `hidden = true` and `read_only = true` in jsonlift.toml mean for requests.
//!
//! - A hidden field is write-only: accepted on writes, stripped from every record the API
//!   returns (lists, gets, `_embed`/`_expand`, write answers, `/db`), and refused as a filter or
//!   sort key (400), since probing with `password_like=^a` would read the value out a character
//!   at a time. Records are stripped before the in-memory query engine sees them, so `q=` does
//!   not match inside them either.
//! - A read-only field cannot be set or changed by a write (422 naming the field); sending its
//!   current value back is accepted, so a GET-edit-PUT round trip works.
//! - A PUT that leaves out a hidden or read-only field keeps its stored value: the client never
//!   saw the one, and may not change the other.
//! - A read-only collection answers writes with 405 and `Allow: GET, HEAD`.
//!
//! The stored data, exports, the sync and the audit log (admin-only) are untouched: this is the
//! API's view only.

use axum::http::StatusCode;

use super::error::ApiError;
use super::query::Parts;
use crate::json::{JsonPath, Value};
use crate::schema::Schema;
use crate::schema::shred::FieldError;
use crate::store::StoreError;

/// Removes collection `c`'s hidden fields from `record`.
pub fn hide(schema: &Schema, c: usize, record: &mut Value) {
    let hidden = &schema.collections[c].hidden;
    if let (false, Value::Object(pairs)) = (hidden.is_empty(), record) {
        pairs.retain(|(k, _)| !hidden.contains(k));
    }
}

/// [`hide`] on every record.
pub fn hide_all(schema: &Schema, c: usize, mut records: Vec<Value>) -> Vec<Value> {
    for r in &mut records {
        hide(schema, c, r);
    }
    records
}

/// A list query that filters or sorts on a hidden field of collection `c`: 400. Paths the
/// query cannot name plainly (brackets) run in memory on stripped records, where the field is
/// absent.
pub fn check_query(schema: &Schema, c: usize, parts: &Parts) -> Result<(), ApiError> {
    let hidden = &schema.collections[c].hidden;
    let is_hidden = |path: Option<&str>| {
        path.and_then(|p| p.split('.').next())
            .is_some_and(|top| hidden.iter().any(|h| h == top))
    };
    let name = &schema.collections[c].name;
    if let Some(f) = parts.filters.iter().find(|f| is_hidden(f.field)) {
        return Err(ApiError::bad_request(
            JsonPath::root(),
            format!(
                "{name}: {:?} is a hidden field; it cannot be filtered on",
                f.field.unwrap_or_default()
            ),
        ));
    }
    if let Some((f, _)) = parts.sort.iter().find(|(f, _)| is_hidden(*f)) {
        return Err(ApiError::bad_request(
            JsonPath::root(),
            format!(
                "{name}: {:?} is a hidden field; it cannot be sorted on",
                f.unwrap_or_default()
            ),
        ));
    }
    Ok(())
}

/// 405 for a write to a read-only collection.
pub fn writable(schema: &Schema, c: usize) -> Result<(), ApiError> {
    let coll = &schema.collections[c];
    if coll.read_only {
        return Err(ApiError::Refused(
            StatusCode::METHOD_NOT_ALLOWED,
            format!(
                "{} is read-only (read_only = true in jsonlift.toml): it answers GET and HEAD only",
                coll.name
            ),
        ));
    }
    Ok(())
}

/// Checks a write of `new` over `old` (`None`: a new record) to collection `c`, at `at` (the
/// record's place in the body): a read-only field set or changed is refused (422); hidden and
/// read-only fields `new` leaves out keep their stored values.
pub fn guard(
    schema: &Schema,
    c: usize,
    old: Option<&Value>,
    new: &mut Value,
    at: &JsonPath,
) -> Result<(), StoreError> {
    let coll = &schema.collections[c];
    let Value::Object(pairs) = new else {
        return Ok(());
    };
    let stored = |f: &str| old.and_then(|o| o.get(f));
    let mut errors = Vec::new();
    for f in &coll.read_only_fields {
        if let Some((_, v)) = pairs.iter().find(|(k, _)| k == f)
            && stored(f) != Some(v)
        {
            errors.push(FieldError {
                path: at.key(f),
                message: format!(
                    "{f} is read-only (read_only = true in jsonlift.toml): a write may not set or change it"
                ),
            });
        }
    }
    if !errors.is_empty() {
        return Err(StoreError::Invalid(errors));
    }
    for f in coll.hidden.iter().chain(&coll.read_only_fields) {
        if let Some(v) = stored(f)
            && !pairs.iter().any(|(k, _)| k == f)
        {
            pairs.push((f.clone(), v.clone()));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json::parse;

    fn schema(dir: &std::path::Path) -> Schema {
        std::fs::write(dir.join("users.json"), "[]").unwrap();
        std::fs::write(
            dir.join("jsonlift.toml"),
            r#"
[collections.users]
source = "users.json"
[collections.users.fields]
id = "integer"
name = "text"
password = { type = "text", hidden = true }
role = { type = "text", read_only = true }
"#,
        )
        .unwrap();
        let p = crate::config::Project::load(&dir.join("jsonlift.toml")).unwrap();
        Schema::build(&p).unwrap()
    }

    fn v(s: &str) -> Value {
        parse(s.as_bytes(), 100).unwrap()
    }

    #[test]
    fn hidden_fields_are_stripped_and_kept_on_put() {
        let dir = tempfile::tempdir().unwrap();
        let s = schema(dir.path());
        let mut r = v(r#"{"id": 1, "name": "a", "password": "h", "role": "x"}"#);
        hide(&s, 0, &mut r);
        assert_eq!(r, v(r#"{"id": 1, "name": "a", "role": "x"}"#));
        // A PUT of what the client saw keeps the hidden and read-only values.
        let old = v(r#"{"id": 1, "name": "a", "password": "h", "role": "x"}"#);
        let mut new = v(r#"{"id": 1, "name": "b"}"#);
        guard(&s, 0, Some(&old), &mut new, &JsonPath::root()).unwrap();
        assert_eq!(
            new,
            v(r#"{"id": 1, "name": "b", "password": "h", "role": "x"}"#)
        );
    }

    #[test]
    fn a_read_only_field_may_be_sent_back_but_not_changed_or_set() {
        let dir = tempfile::tempdir().unwrap();
        let s = schema(dir.path());
        let old = v(r#"{"id": 1, "role": "x"}"#);
        let mut same = v(r#"{"id": 1, "role": "x"}"#);
        guard(&s, 0, Some(&old), &mut same, &JsonPath::root()).unwrap();
        let mut changed = v(r#"{"id": 1, "role": "admin"}"#);
        let e = guard(&s, 0, Some(&old), &mut changed, &JsonPath::root()).unwrap_err();
        assert!(e.to_string().contains("$.role: role is read-only"), "{e}");
        let mut set = v(r#"{"role": "x"}"#);
        assert!(guard(&s, 0, None, &mut set, &JsonPath::root()).is_err());
    }
}
