//! `/_admin/backups` and `/_admin/restore`: list, take and restore database backups while
//! serving (docs/backup.md). The coordination with requests in flight and with other servers is
//! [`crate::backup::serving`]'s; this module maps it to HTTP.

use std::sync::Arc;

use axum::Extension;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;

use super::Shared;
use super::body::{json_response, parse_body};
use super::error::ApiError;
use crate::audit::Actor;
use crate::backup::manifest;
use crate::backup::restore::{RestoreOptions, find};
use crate::backup::serving::{Pass, Refused, ServerBackups};
use crate::json::{JsonPath, Value};

/// A pass for store work, or 503 while the server restores (see [`super::blocking`]).
pub fn pass(state: &Shared) -> Result<Option<Pass>, ApiError> {
    match &state.backups {
        None => Ok(None),
        Some(b) => b.try_enter().map(Some).ok_or_else(|| {
            ApiError::Unavailable("the server is restoring a backup; try again in a moment".into())
        }),
    }
}

fn server(state: &Shared) -> Result<Arc<ServerBackups>, ApiError> {
    state.backups.clone().ok_or_else(|| {
        ApiError::Refused(
            StatusCode::CONFLICT,
            "this server serves the JSON files (--store json); database backups and restores need `jsonlift serve` on the database".into(),
        )
    })
}

/// A serde value as a response, in the API's JSON style.
fn reply(status: StatusCode, v: &serde_json::Value) -> Response {
    let text = serde_json::to_string(v).unwrap_or_default();
    let value = crate::json::parse(text.as_bytes(), 64).unwrap_or(Value::Null);
    json_response(status, &value)
}

fn failed(e: impl std::fmt::Display) -> ApiError {
    ApiError::Refused(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
}

/// Runs file work (no database connection of the server's) on a blocking thread.
async fn off_thread<T: Send + 'static>(
    f: impl FnOnce() -> anyhow::Result<T> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(failed)?
        .map_err(|e| failed(format!("{e:#}")))
}

#[derive(Deserialize)]
pub struct ListParams {
    #[serde(default)]
    verify: bool,
}

/// `GET /_admin/backups[?verify=true]`: the backups, oldest first, as `jsonlift backups --json`
/// lists them; with `verify`, each re-checked (checksum, integrity, counts).
pub async fn list(
    State(s): State<Shared>,
    Query(p): Query<ListParams>,
) -> Result<Response, ApiError> {
    let dir = manifest::folder(server(&s)?.project());
    let (list, _) = off_thread(move || manifest::list_json(&dir, p.verify)).await?;
    Ok(reply(StatusCode::OK, &list))
}

/// `POST /_admin/backups`: takes a backup now (retention applied); 201 with its manifest. The
/// backup is entered in the audit log with the token that asked for it.
pub async fn take(
    State(s): State<Shared>,
    Extension(actor): Extension<Actor>,
) -> Result<Response, ApiError> {
    let b = server(&s)?;
    let pass = pass(&s)?;
    let store = s.store.clone();
    let entry = off_thread(move || {
        let _pass = pass;
        let entry = b.take("admin")?;
        let logged = crate::audit::database_entry(
            "backup",
            &entry.name(),
            &serde_json::json!({
                "reason": "admin",
                "audit_id": entry.manifest.audit_id,
                "size": entry.manifest.size,
            }),
            &actor,
        );
        store
            .write(&mut |tx| tx.audit_append(&logged))
            .map_err(|e| {
                anyhow::anyhow!(
                    "backup {} is taken, but entering it in the audit log failed: {e}",
                    entry.name()
                )
            })?;
        Ok(entry)
    })
    .await?;
    Ok(reply(StatusCode::CREATED, &manifest::to_json(&entry, None)))
}

fn field(v: &Value, name: &str) -> Result<Option<String>, ApiError> {
    match v.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(t)) => Ok(Some(t.clone())),
        Some(other) => Err(ApiError::bad_request(
            JsonPath::root().key(name),
            format!("expected a string, found {}", other.kind()),
        )),
    }
}

/// The request: `{"backup": NAME, "at": TIME}`, both optional (no body: the latest backup).
fn restore_options(body: &Bytes, actor: Actor) -> Result<RestoreOptions, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(RestoreOptions {
            actor,
            ..Default::default()
        });
    }
    let v = parse_body(body, 8)?;
    let Value::Object(fields) = &v else {
        return Err(ApiError::bad_request(
            JsonPath::root(),
            format!(
                "expected an object like {{\"backup\": NAME, \"at\": TIME}}, found {}",
                v.kind()
            ),
        ));
    };
    if let Some((k, _)) = fields.iter().find(|(k, _)| k != "backup" && k != "at") {
        return Err(ApiError::bad_request(
            JsonPath::root().key(k),
            "unknown field; a restore takes \"backup\" (a name from GET /_admin/backups) and \"at\" (an RFC 3339 time)",
        ));
    }
    let opts = RestoreOptions {
        backup: field(&v, "backup")?,
        at: field(&v, "at")?,
        from_server: true,
        actor,
    };
    if let Some(at) = &opts.at {
        if crate::clock::parse_micros(at).is_none() {
            return Err(ApiError::bad_request(
                JsonPath::root().key("at"),
                format!(
                    "{at:?} is not an RFC 3339 time; write it like 2026-11-21T10:15:02Z or 2026-11-21T11:15:02.5+01:00"
                ),
            ));
        }
    }
    Ok(opts)
}

/// The largest body `POST /_admin/restore` reads: `{"backup": NAME, "at": TIME}`.
const RESTORE_BODY_LIMIT: usize = 64 << 10;

/// Tells the sync a restore is running, for as long as it is held.
struct Restoring(std::sync::Arc<crate::sync::Engine>);

impl Restoring {
    fn new(engine: std::sync::Arc<crate::sync::Engine>) -> Restoring {
        engine.set_restoring(true);
        Restoring(engine)
    }
}

impl Drop for Restoring {
    fn drop(&mut self) {
        self.0.set_restoring(false);
    }
}

/// `POST /_admin/restore`: restores a backup (or the state at a moment) while serving. Requests
/// get 503 meanwhile; refused (409) while other servers hold the database. 200 with what was
/// restored.
pub async fn restore(
    State(s): State<Shared>,
    Extension(actor): Extension<Actor>,
    body: axum::body::Body,
) -> Result<Response, ApiError> {
    let b = server(&s)?;
    // This route has no request timeout (a restore lasts as long as the database is large),
    // but its body is a few bytes: reading it gets the request timeout, so a client trickling
    // it cannot hold the connection (and a restore's place) forever.
    let body = match tokio::time::timeout(
        s.body_timeout,
        axum::body::to_bytes(body, RESTORE_BODY_LIMIT),
    )
    .await
    {
        Ok(Ok(b)) => b,
        Ok(Err(e)) => {
            return Err(ApiError::Refused(
                StatusCode::BAD_REQUEST,
                format!("the body could not be read (at most {RESTORE_BODY_LIMIT} bytes): {e}"),
            ));
        }
        Err(_) => {
            return Err(ApiError::Refused(
                StatusCode::REQUEST_TIMEOUT,
                format!(
                    "the body did not arrive within {} s ([serve] timeout); nothing was restored",
                    s.body_timeout.as_secs_f64()
                ),
            ));
        }
    };
    let opts = restore_options(&body, actor)?;
    if let Some(name) = opts.backup.clone() {
        let dir = manifest::folder(b.project());
        let entries = off_thread(move || manifest::list(&dir)).await?;
        // An admin route names what is missing (collection routes answer `{}` like json-server).
        find(&entries, &name)
            .map_err(|e| ApiError::Refused(StatusCode::NOT_FOUND, format!("{e:#}")))?;
    }
    let at = opts.at.clone();
    // While watched, the fallback must not take the database being replaced for a broken one
    // (until the restore ends, or this request is dropped).
    let restoring = s.sync.clone().map(Restoring::new);
    let r = b.restore(opts, s.store.clone()).await;
    drop(restoring);
    let r = r.map_err(|e| match e {
        Refused::Busy(m) => ApiError::Refused(StatusCode::CONFLICT, m),
        Refused::Failed(e) => ApiError::Refused(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("the restore was refused: {e:#}"),
        ),
    })?;
    tracing::warn!(backup = %r.backup.name(), at = ?at, "database restored");
    // With `--watch` the files stay the source of truth: the sync compares them with the
    // restored database, which it no longer knows (src/sync/mod.rs, `Engine::restored`).
    let mut sync = None;
    if let Some(engine) = s.sync.clone() {
        let started = std::time::Instant::now();
        // The restore is done whatever happens here: a failure is reported, not an error.
        let line = match off_thread(move || engine.restored().map_err(anyhow::Error::new)).await {
            Ok(changes) => crate::sync::summary(&changes, started.elapsed()),
            Err(e) => format!(
                "sync: comparing the files with the restored database failed ({e:?}); POST /_admin/sync/reload tries again"
            ),
        };
        tracing::info!("after the restore, {line}");
        sync = Some(line);
    }
    Ok(reply(
        StatusCode::OK,
        &serde_json::json!({
            "restored": r.target,
            "backup": r.backup.name(),
            "at": at,
            "replayed": r.replayed,
            "aside": r.aside.as_ref().map(|a| a.name()),
            "sync": sync,
        }),
    ))
}
