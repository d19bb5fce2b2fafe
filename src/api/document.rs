//! Routes of a single-document collection (`stats.json`): `GET`, `PUT` and `PATCH` on
//! `/api/<c>` itself.

use axum::Extension;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;

use super::body::{ok, parse_object};
use super::conditional::{expect, tagged};
use super::error::ApiError;
use super::{Coll, Shared, blocking, visibility};
use crate::audit::Actor;
use crate::json::JsonPath;
use crate::store::{Records, read, write};

/// The key under which a document's single row is stored.
const DOC: &str = "1";

pub async fn get(
    State(s): State<Shared>,
    Extension(Coll(c)): Extension<Coll>,
) -> Result<Response, ApiError> {
    let doc = blocking(&s, move |st| {
        let r = Records::new(st.schema(), c);
        read(st, |conn| r.document(conn))
    })
    .await?;
    doc.map(|mut d| {
        let tag = d.clone();
        visibility::hide(s.store.schema(), c, &mut d);
        tagged(ok(&d), &tag)
    })
    .ok_or_else(|| ApiError::NotFound(format!("{} has no document yet", s.routes[c])))
}

pub async fn put(
    State(s): State<Shared>,
    Extension(Coll(c)): Extension<Coll>,
    Extension(actor): Extension<Actor>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    visibility::writable(s.store.schema(), c)?;
    let doc = parse_object(&body, s.max_depth)?;
    let cond = expect(&headers);
    let new = blocking(&s, move |st| {
        let r = Records::new(st.schema(), c);
        write(st, |conn| {
            r.expect(conn, DOC, cond.as_ref())?;
            let mut doc = doc.clone();
            let old = r.document(conn)?;
            visibility::guard(st.schema(), c, old.as_ref(), &mut doc, &JsonPath::root())?;
            r.put_document(conn, doc, &actor)
        })
    })
    .await?;
    answer(&s, c, new)
}

pub async fn patch(
    State(s): State<Shared>,
    Extension(Coll(c)): Extension<Coll>,
    Extension(actor): Extension<Actor>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    visibility::writable(s.store.schema(), c)?;
    let changes = parse_object(&body, s.max_depth)?;
    let cond = expect(&headers);
    let new = blocking(&s, move |st| {
        let r = Records::new(st.schema(), c);
        write(st, |conn| {
            r.expect(conn, DOC, cond.as_ref())?;
            let mut changes = changes.clone();
            if let Some(old) = r.document(conn)? {
                visibility::guard(st.schema(), c, Some(&old), &mut changes, &JsonPath::root())?;
            }
            r.patch(conn, DOC, changes, &actor)
        })
    })
    .await?;
    answer(&s, c, new)
}

/// The document as a write left it, its hidden fields stripped; its `ETag` is the stored
/// version's, which `If-Match` compares with.
fn answer(s: &Shared, c: usize, mut doc: crate::json::Value) -> Result<Response, ApiError> {
    let tag = doc.clone();
    visibility::hide(s.store.schema(), c, &mut doc);
    Ok(tagged(ok(&doc), &tag))
}
