//! `GET /db`: everything at once, in the shape of the original `db.json` when the collections
//! come from one (its members, in its order); otherwise an object of collections by name, each
//! in its source's shape (array, document, or object keyed by record key).

use axum::extract::State;
use axum::response::Response;

use super::body::ok;
use super::error::ApiError;
use super::{Shared, blocking, visibility};
use crate::json::Value;
use crate::source::Format;
use crate::store::{Records, StoreError, read};

pub async fn get(State(s): State<Shared>) -> Result<Response, ApiError> {
    let db = blocking(&s, |st| {
        let schema = st.schema();
        read(st, |conn| {
            let one_file = schema.sources.len() == 1 && schema.sources[0].members[0].name.is_some();
            let mut out = Vec::new();
            for (ci, c) in schema.collections.iter().enumerate() {
                let r = Records::new(schema, ci);
                // Hidden fields are left out (api/visibility.rs).
                let hide = |mut v: Value| {
                    visibility::hide(schema, ci, &mut v);
                    v
                };
                let value = match c.format {
                    Format::Document => hide(r.document(conn)?.unwrap_or(Value::Null)),
                    Format::Array | Format::Jsonl | Format::Sqlite | Format::Database => {
                        Value::Array(visibility::hide_all(schema, ci, r.list(conn)?))
                    }
                    _ => Value::Object(
                        r.list_keyed(conn)?
                            .into_iter()
                            .map(|(k, v)| (k, hide(v)))
                            .collect(),
                    ),
                };
                let name = if one_file {
                    schema.sources[0].members[c.member]
                        .name
                        .clone()
                        .unwrap_or_default()
                } else {
                    c.name.clone()
                };
                out.push((c.member, name, value));
            }
            if one_file {
                out.sort_by_key(|(m, _, _)| *m);
            }
            Ok::<_, StoreError>(Value::Object(
                out.into_iter().map(|(_, k, v)| (k, v)).collect(),
            ))
        })
    })
    .await?;
    Ok(ok(&db))
}
