//! Routes of a single-document collection (`stats.json`): `GET`, `PUT` and `PATCH` on
//! `/api/<c>` itself.

use axum::Extension;
use axum::body::Bytes;
use axum::extract::State;
use axum::response::Response;

use super::body::{ok, parse_object};
use super::error::ApiError;
use super::{Coll, Shared, blocking};
use crate::audit::Actor;
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
    doc.map(|d| ok(&d))
        .ok_or_else(|| ApiError::NotFound(format!("{} has no document yet", s.routes[c])))
}

pub async fn put(
    State(s): State<Shared>,
    Extension(Coll(c)): Extension<Coll>,
    Extension(actor): Extension<Actor>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let doc = parse_object(&body, s.max_depth)?;
    let new = blocking(&s, move |st| {
        let r = Records::new(st.schema(), c);
        write(st, |conn| r.put_document(conn, doc.clone(), &actor))
    })
    .await?;
    Ok(ok(&new))
}

pub async fn patch(
    State(s): State<Shared>,
    Extension(Coll(c)): Extension<Coll>,
    Extension(actor): Extension<Actor>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let changes = parse_object(&body, s.max_depth)?;
    let new = blocking(&s, move |st| {
        let r = Records::new(st.schema(), c);
        write(st, |conn| r.patch(conn, DOC, changes.clone(), &actor))
    })
    .await?;
    Ok(ok(&new))
}
