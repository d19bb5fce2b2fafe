//! `GET /_admin/openapi.json`: an OpenAPI 3.1 description of the served API, derived from the
//! schema (the single source of truth) and the configured prefix and routes, so it cannot
//! drift from what the server does. Each collection's record is a JSON Schema (2020-12, as
//! OpenAPI 3.1 uses): field types, `required`, `enum`, `minimum`/`maximum`, arrays stored in
//! child tables as arrays of their elements, and `additionalProperties` where unknown keys are
//! kept (`_extra`).

use axum::extract::State;
use axum::response::Response;
use serde_json::{Map, Value as J, json};

use super::Shared;
use super::body::json_response;
use crate::json::Value;
use crate::schema::{Elements, Field, FieldKind, ScalarType, Schema};

pub async fn get(State(s): State<Shared>) -> Response {
    let doc = document(s.store.schema(), &s.prefix, &s.routes, s.auth.has_tokens());
    // Through our own writer (serde_json's text is valid JSON, and this keeps one renderer).
    let text = serde_json::to_string(&doc).expect("a JSON value serializes");
    let v = crate::json::parse(text.as_bytes(), 10_000).unwrap_or(Value::Null);
    json_response(axum::http::StatusCode::OK, &v)
}

/// The whole OpenAPI document.
pub fn document(schema: &Schema, prefix: &str, routes: &[String], tokens: bool) -> J {
    let mut paths = Map::new();
    let mut schemas = Map::new();
    schemas.insert("Error".into(), error_schema());
    for (ci, c) in schema.collections.iter().enumerate() {
        let t = &schema.tables[c.table];
        let name = component_name(&c.name);
        schemas.insert(name.clone(), row_schema(schema, c.table));
        let record = json!({ "$ref": format!("#/components/schemas/{name}") });
        let base = format!("{prefix}/{}", routes[ci]);
        let tag = c.name.clone();
        if t.document {
            paths.insert(
                base,
                json!({
                    "get": op(&tag, &format!("The {} document", c.name), vec![], None, ok(&record), &[304, 404]),
                    "put": op(&tag, "Replace the document", vec![], Some(&record), ok(&record), &[400, 401, 412, 422]),
                    "patch": op(&tag, "Merge fields into the document", vec![], Some(&json!({"type": "object"})), ok(&record), &[400, 401, 412, 422]),
                }),
            );
            continue;
        }
        let key_schema = match t.columns[t.pk].ty {
            crate::schema::ColType::Integer => json!({"type": "integer"}),
            _ => json!({"type": "string"}),
        };
        let id = json!({"name": "id", "in": "path", "required": true, "schema": key_schema,
            "description": "The record's key"});
        let list = json!({"type": "array", "items": record});
        let mut list_params = query_params();
        list_params.extend(filter_params(schema, c.table));
        let listed = (
            "200",
            json!({
                "description": "The matching records, in source order unless sorted",
                "headers": {
                    "X-Total-Count": {"description": "Matches before paging (with _page, _limit or _end)", "schema": {"type": "integer"}},
                    "Link": {"description": "first/prev/next/last pages (with _page)", "schema": {"type": "string"}}
                },
                "content": {"application/json": {"schema": list}}
            }),
        );
        paths.insert(
            base.clone(),
            json!({
                "get": op(&tag, &format!("List {}", c.name), list_params, None, listed, &[304, 400]),
                "post": op(&tag, "Create a record (its key is generated when absent)", vec![], Some(&record),
                    created(&record), &[400, 401, 409, 415, 422]),
            }),
        );
        let imported = json!({"type": "object", "properties": {
            "imported": {"type": "integer"}, "keys": {"type": "array", "items": {"type": "string"}}}});
        paths.insert(
            format!("{base}/_import"),
            json!({"post": op(&tag, "Import records, all or nothing", vec![], Some(&list),
                created(&imported), &[400, 401, 409, 415, 422])}),
        );
        let rel = relation_params();
        paths.insert(
            format!("{base}/{{id}}"),
            json!({
                "get": op(&tag, "One record", [vec![id.clone()], rel].concat(), None, ok(&record), &[304, 404]),
                "put": op(&tag, "Replace a record", vec![id.clone()], Some(&record), ok(&record), &[400, 401, 404, 409, 412, 415, 422]),
                "patch": op(&tag, "Merge fields into a record", vec![id.clone()], Some(&json!({"type": "object"})), ok(&record), &[400, 401, 404, 409, 412, 415, 422]),
                "delete": op(&tag, "Delete a record (children per the schema's ON DELETE)", vec![id.clone()], None,
                    ok(&json!({"type": "object"})), &[401, 404, 409, 412]),
            }),
        );
        let child = json!({"name": "child", "in": "path", "required": true, "schema": {"type": "string"},
            "description": "Another collection whose `<singular>Id` field refers to this record (json-server's nested routes)"});
        paths.insert(
            format!("{base}/{{id}}/{{child}}"),
            json!({
                "get": op(&tag, "Records of another collection that refer to this one", [vec![id.clone(), child.clone()], query_params()].concat(), None,
                    ok(&json!({"type": "array", "items": {"type": "object"}})), &[400, 404]),
                "post": op(&tag, "Create a record of another collection referring to this one", vec![id, child],
                    Some(&json!({"type": "object"})), created(&json!({"type": "object"})), &[400, 401, 404, 409, 415, 422]),
            }),
        );
    }
    paths.insert(
        "/db".into(),
        json!({"get": op("admin", "Every collection, in the shape of the source db.json", vec![], None,
            ok(&json!({"type": "object"})), &[])}),
    );
    admin_paths(&mut paths);
    let mut doc = json!({
        "openapi": "3.1.0",
        "info": {
            "title": "jsonlift serve",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Collections served from the database in the shapes of their JSON source files, with json-server 0.17.4's query conventions."
        },
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer",
                "description": "A token named in [serve] tokens or JSONLIFT_TOKEN; writes and /_admin need one"}}
        }
    });
    if tokens {
        doc["security"] = json!([{}, {"bearer": []}]);
    }
    doc
}

fn component_name(collection: &str) -> String {
    collection
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-._".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// An operation; `ok` is the success status and its response.
fn op(
    tag: &str,
    summary: &str,
    params: Vec<J>,
    body: Option<&J>,
    ok: (&str, J),
    errors: &[u16],
) -> J {
    let mut responses = Map::new();
    let mut ok = ok;
    let mut params = params;
    // Conditional requests (api::conditional): reads carry a strong ETag and answer 304 to a
    // matching If-None-Match; writes take If-Match and answer 412 on another version.
    if errors.contains(&304) || errors.contains(&412) {
        ok.1["headers"] = json!({"ETag": {"description": "The record's version (strong); a list's or /db's: of the bytes sent",
            "schema": {"type": "string"}}});
    }
    if errors.contains(&304) {
        params.push(header_param(
            "If-None-Match",
            "ETags the client holds: 304 without a body when one is current",
        ));
    }
    if errors.contains(&412) {
        params.push(header_param("If-Match", "ETags (strong) the record must still have, or `*` (it exists); else 412 and nothing is written"));
    }
    responses.insert(ok.0.to_string(), ok.1);
    for e in errors {
        if *e == 304 {
            responses.insert(
                "304".into(),
                json!({"description": "Not modified: the ETag in If-None-Match is current"}),
            );
            continue;
        }
        responses.insert(e.to_string(), error_response(*e));
        // Where a token is asked for, its scope may fall short (and a browser's cross-site
        // request is refused the same way).
        if *e == 401 {
            responses.insert("403".to_string(), error_response(403));
        }
    }
    let mut o = json!({"tags": [tag], "summary": summary, "responses": responses});
    if !params.is_empty() {
        o["parameters"] = J::Array(params);
    }
    if let Some(b) = body {
        o["requestBody"] =
            json!({"required": true, "content": {"application/json": {"schema": b}}});
    }
    o
}

fn ok(schema: &J) -> (&'static str, J) {
    (
        "200",
        json!({"description": "OK", "content": {"application/json": {"schema": schema}}}),
    )
}

fn created(schema: &J) -> (&'static str, J) {
    (
        "201",
        json!({"description": "Created (Location names the new record)",
            "content": {"application/json": {"schema": schema}}}),
    )
}

fn error_response(code: u16) -> J {
    let text = match code {
        400 => "The request is malformed (not JSON, wrong shape, a query json-server fails on)",
        401 => "A token is needed (Authorization: Bearer <token>)",
        403 => {
            "The token's scope does not cover this request, or a browser sent it from another site"
        }
        404 => "No such record or route (body `{}`, as json-server)",
        409 => "Clashes with other records (duplicate key, missing reference, referred to)",
        412 => {
            "If-Match names no current version of the record (it changed, or is gone); nothing was written"
        }
        415 => "The body is not declared application/json",
        422 => "The record breaks the schema; every problem is listed",
        503 => "Restoring a backup; retry after Retry-After seconds",
        _ => "Error",
    };
    json!({"description": text, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}})
}

fn error_schema() -> J {
    json!({"type": "object", "properties": {
        "error": {"type": "string"},
        "problems": {"type": "array", "items": {"type": "object", "required": ["path", "message"],
            "properties": {"path": {"type": "string", "description": "JSON path in the body"}, "message": {"type": "string"}}}}
    }})
}

fn header_param(name: &str, description: &str) -> J {
    json!({"name": name, "in": "header", "required": false, "schema": {"type": "string"}, "description": description})
}

fn param(name: &str, ty: &str, description: &str) -> J {
    json!({"name": name, "in": "query", "required": false, "schema": {"type": ty}, "description": description})
}

fn relation_params() -> Vec<J> {
    vec![
        param(
            "_embed",
            "string",
            "Include the records of another collection that refer to each record (repeatable)",
        ),
        param(
            "_expand",
            "string",
            "Include the record each record refers to (repeatable)",
        ),
    ]
}

/// json-server's list parameters.
fn query_params() -> Vec<J> {
    let mut v = vec![
        param("q", "string", "Full-text search over every string"),
        param(
            "_sort",
            "string",
            "Fields to sort by, comma-separated or repeated",
        ),
        param("_order", "string", "asc or desc, per _sort field"),
        param("_page", "integer", "Page number (with _limit, default 10)"),
        param(
            "_limit",
            "integer",
            "Records per page, or the most to return (capped by [serve] max_page_size)",
        ),
        param("_start", "integer", "First index of a slice"),
        param("_end", "integer", "End index of a slice"),
    ];
    v.extend(relation_params());
    v
}

/// A filter parameter per top-level scalar field, with json-server's operator suffixes in
/// its description (they cannot be listed as parameters without multiplying them by six).
fn filter_params(schema: &Schema, table: usize) -> Vec<J> {
    let t = &schema.tables[table];
    let mut out = Vec::new();
    for f in &t.fields {
        if let FieldKind::Scalar { ty, .. } = &f.kind {
            let mut p = param(
                &f.name,
                "string",
                &format!(
                    "Equal to (repeat for any of); also {0}_ne, {0}_gt, {0}_gte, {0}_lt, {0}_lte, {0}_like (a regular expression)",
                    f.name
                ),
            );
            p["schema"] = scalar(*ty);
            out.push(p);
        }
    }
    out
}

fn scalar(ty: ScalarType) -> J {
    match ty {
        ScalarType::Text => json!({"type": "string"}),
        ScalarType::Integer => json!({"type": "integer"}),
        ScalarType::Real => json!({"type": "number"}),
        ScalarType::Boolean => json!({"type": "boolean"}),
        ScalarType::Timestamp => json!({"type": "string", "format": "date-time"}),
        ScalarType::Date => json!({"type": "string", "format": "date"}),
        ScalarType::Uuid => json!({"type": "string", "format": "uuid"}),
    }
}

fn to_json(v: &Value) -> J {
    serde_json::from_str(&crate::json::write::to_compact_string(v)).unwrap_or(J::Null)
}

/// An object node: its fields as properties. `additional` says whether unknown keys are kept.
fn object_schema(schema: &Schema, fields: &[Field], additional: bool) -> J {
    let mut props = Map::new();
    let mut required = Vec::new();
    for f in fields {
        props.insert(f.name.clone(), field_schema(schema, f));
        if f.required {
            required.push(J::String(f.name.clone()));
        }
    }
    let mut o = json!({"type": "object", "properties": props});
    if !required.is_empty() {
        o["required"] = J::Array(required);
    }
    o["additionalProperties"] = J::Bool(additional);
    o
}

/// The object stored in each row of `table`; unknown keys are kept when it has `_extra`.
fn row_schema(schema: &Schema, table: usize) -> J {
    let t = &schema.tables[table];
    object_schema(schema, &t.fields, t.extra_col.is_some())
}

/// A field's schema; a field that is not required may also be `null`.
fn field_schema(schema: &Schema, f: &Field) -> J {
    let mut s = match &f.kind {
        FieldKind::Scalar { ty, .. } => {
            let mut s = scalar(*ty);
            if let Some(e) = &f.enumeration {
                let mut list: Vec<J> = e.iter().map(to_json).collect();
                if !f.required {
                    list.push(J::Null);
                }
                s["enum"] = J::Array(list);
            }
            if let Some(m) = f.min {
                s["minimum"] = json!(m);
            }
            if let Some(m) = f.max {
                s["maximum"] = json!(m);
            }
            s
        }
        FieldKind::Json { .. } => return json!({}),
        // Unknown keys of a flattened object are kept with the record.
        FieldKind::Object { fields } => object_schema(schema, fields, true),
        FieldKind::Child { table } => {
            let t = &schema.tables[*table];
            let items = match &t.elements {
                Elements::Objects => row_schema(schema, *table),
                Elements::Entities { table: e, .. } => row_schema(schema, *e),
                Elements::Scalars { ty, .. } => nullable(scalar(*ty)),
                Elements::Json { .. } => json!({}),
            };
            json!({"type": "array", "items": items})
        }
    };
    if !f.required {
        s = nullable(s);
    }
    s
}

/// The schema with `null` added to its type.
fn nullable(mut s: J) -> J {
    if let Some(J::String(t)) = s.get("type").cloned() {
        s["type"] = json!([t, "null"]);
    }
    s
}

fn admin_paths(paths: &mut Map<String, J>) {
    let any = json!({"type": "object"});
    let text = (
        "200",
        json!({"description": "Prometheus text exposition", "content": {"text/plain": {"schema": {"type": "string"}}}}),
    );
    for (path, method, summary, res) in [
        (
            "/_admin/health",
            "get",
            "Database reachable, quick integrity check, migration ledger state",
            ok(&any),
        ),
        (
            "/_admin/metrics",
            "get",
            "Requests, latencies, writes, database size",
            text,
        ),
        ("/_admin/openapi.json", "get", "This document", ok(&any)),
        (
            "/_admin/audit",
            "get",
            "Audit log entries, oldest first",
            ok(&json!({"type": "array", "items": any})),
        ),
        (
            "/_admin/backups",
            "get",
            "Backups of the database",
            ok(&any),
        ),
        ("/_admin/backups", "post", "Take a backup now", ok(&any)),
        (
            "/_admin/overview",
            "get",
            "Collections with their counts, the live sync's state, the audit log's last id",
            ok(&any),
        ),
        (
            "/_admin/events",
            "get",
            "The overview as Server-Sent Events, whenever it changes",
            (
                "200",
                json!({"description": "Server-Sent Events: `overview` and `problem`", "content": {"text/event-stream": {"schema": {"type": "string"}}}}),
            ),
        ),
        (
            "/_admin/restore",
            "post",
            "Restore a backup while serving",
            ok(&any),
        ),
    ] {
        let mut params = Vec::new();
        if path == "/_admin/audit" {
            for (n, t, d) in [
                ("collection", "string", "Only this collection"),
                ("key", "string", "Only this record"),
                ("since", "string", "Entries at or after this RFC 3339 time"),
                ("after", "integer", "Entries with a larger id"),
                ("limit", "integer", "At most this many (default 1000)"),
            ] {
                params.push(param(n, t, d));
            }
        }
        let mut o = op("admin", summary, params, None, res, &[401]);
        o["security"] = json!([{"bearer": []}]);
        let entry = paths.entry(path.to_string()).or_insert_with(|| json!({}));
        entry[method] = o;
    }
}
