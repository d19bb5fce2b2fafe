//! `/_admin/sync` (`serve --watch`): the live sync's state and its errors, and a full rescan
//! on demand. The work is [`crate::sync`]'s; this only turns it into HTTP. Token, same-site
//! check and the JSON body of the POST are the `/_admin` rules of [`super::request`].

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::Shared;
use super::error::ApiError;
use crate::error::Problem;
use crate::sync::Engine;

fn engine(s: &Shared) -> Result<std::sync::Arc<Engine>, ApiError> {
    s.sync.clone().ok_or_else(|| {
        ApiError::Refused(
            StatusCode::NOT_FOUND,
            "the files are not watched: start the server with `serve --watch`".into(),
        )
    })
}

pub(super) fn reply(status: StatusCode, v: &Value) -> Response {
    let mut r = (
        status,
        serde_json::to_string_pretty(v).unwrap_or_else(|_| "null".into()),
    )
        .into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    r
}

fn problem(p: &Problem) -> Value {
    json!({
        "file": p.file,
        "line": p.pos.map(|(l, _)| l),
        "column": p.pos.map(|(_, c)| c),
        "path": p.path.as_ref().map(|p| p.to_string()),
        "message": p.message,
        "text": p.to_string(),
    })
}

/// `GET /_admin/sync`: `state` (starting, in sync, syncing, degraded, fallback; `fallback`
/// says why the database is not used) and per source its
/// collections, documents, last sync, pending events and the files not applied, each with
/// file, line, column, JSON path and message.
pub async fn get(State(s): State<Shared>) -> Result<Response, ApiError> {
    engine(&s)?;
    Ok(reply(StatusCode::OK, &status(&s).unwrap_or_default()))
}

/// The body of `GET /_admin/sync`; `None` when the files are not watched.
pub fn status(s: &Shared) -> Option<Value> {
    let snap = s.sync.as_ref()?.state().snapshot();
    let sources: Vec<Value> = snap
        .sources
        .iter()
        .map(|src| {
            json!({
                "source": src.display,
                "collections": src.collections,
                "documents": src.documents,
                "last_sync": src.last_sync,
                "pending": src.pending,
                "errors": src.errors.values().map(problem).collect::<Vec<_>>(),
            })
        })
        .collect();
    Some(json!({
        "state": snap.phase.as_str(),
        "fallback": snap.fallback,
        "debounce_ms": snap.debounce_ms,
        "sources": sources,
    }))
}

/// `POST /_admin/sync/reload`: every file of every source compared with the database and
/// applied; answers with what changed, per source.
pub async fn reload(State(s): State<Shared>) -> Result<Response, ApiError> {
    let e = engine(&s)?;
    let changes = tokio::task::spawn_blocking(move || e.rescan(false))
        .await
        .map_err(|e| ApiError::Refused(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    Ok(reply(StatusCode::OK, &json!({ "sources": changes })))
}
