//! `/_admin`: the audit log and a health check. Both need a token.

use axum::extract::{Query, State};
use axum::response::Response;
use serde::Deserialize;

use axum::http::StatusCode;

use super::body::{json_response, ok};
use super::error::ApiError;
use super::{Shared, blocking};
use crate::audit::{self, Filter};
use crate::json::{Number, Value};
use crate::store::{StoreError, read};

#[derive(Deserialize)]
pub struct AuditParams {
    collection: Option<String>,
    key: Option<String>,
    since: Option<String>,
    after: Option<i64>,
    limit: Option<usize>,
}

/// `GET /_admin/audit?collection=&key=&since=&after=&limit=`: entries oldest first, with the
/// old and new records as JSON.
pub async fn audit(
    State(s): State<Shared>,
    Query(p): Query<AuditParams>,
) -> Result<Response, ApiError> {
    // A time, compared as one: in the log's own form (UTC, microseconds), so `…06Z` takes the
    // entries of that second and an offset means what it says; anything else is a 400, not an
    // empty list (issue #18).
    let since = match p.since.as_deref() {
        None => None,
        Some(text) => match crate::clock::parse_micros(text) {
            Some(m) => Some(crate::clock::from_micros(m)),
            None => {
                return Err(ApiError::Refused(
                    StatusCode::BAD_REQUEST,
                    format!(
                        "since={text:?} is not a time: write an RFC 3339 time, e.g. 2026-11-21T10:15:02Z or 2026-11-21T11:15:02+01:00"
                    ),
                ));
            }
        },
    };
    let f = Filter {
        collection: p.collection,
        key: p.key,
        since,
        after_id: p.after,
        limit: Some(p.limit.unwrap_or(1000).min(10_000)),
    };
    let entries = blocking(&s, move |st| st.audit(&f)).await?;
    Ok(ok(&audit::to_json(&entries)))
}

/// `GET /_admin/health`: the database answers, passes SQLite's quick integrity check, and what
/// the migration ledger says: the last run and, per source, whether the file changed since it
/// was migrated. Hashing the sources would take as long as they are large, so a change is
/// judged by size and modification time against the ledger. Then whether jsonlift.toml and the
/// database still describe the same tables ([`crate::migrate::drift`]). 503 when the integrity
/// check fails or the schema drifted.
pub async fn health(State(s): State<Shared>) -> Result<Response, ApiError> {
    let (check, runs, last, recorded, drift) = blocking(&s, |st| {
        // Only a database can drift from the project file; the JSON store reads the files.
        let has_db = st.is_database();
        read(st, |tx| {
            let check = tx.integrity()?;
            // A JSON store has no ledger: it reports none.
            let (runs, last) = tx.runs()?;
            let recorded = tx.sources()?;
            let drift = match has_db {
                true => crate::migrate::drift::check(tx, st.schema())?,
                false => Vec::new(),
            };
            Ok::<_, StoreError>((check, runs, last, recorded, drift))
        })
    })
    .await?;
    let healthy = check == "ok" && drift.is_empty();
    let text = |t: &str| Value::String(t.to_string());
    let last_run = match last {
        Some(run) => Value::Object(vec![
            ("action".into(), text(&run.action)),
            ("started_at".into(), text(&run.started_at)),
            ("finished_at".into(), text(&run.finished_at)),
            ("version".into(), text(&run.version)),
        ]),
        None => Value::Null,
    };
    let mut any_changed = false;
    let mut sources = Vec::new();
    for spec in &s.store.schema().sources {
        let Some((size, migrated_at)) = recorded
            .get(&spec.display)
            .map(|r| (r.size, r.migrated_at.clone()))
        else {
            continue;
        };
        let now = source_stat(&spec.path);
        let changed = match &now {
            Some((len, modified)) => {
                *len != size
                    || crate::clock::parse_micros(&migrated_at)
                        .is_some_and(|m| modified.is_some_and(|t| t > m))
            }
            None => true,
        };
        any_changed |= changed;
        let num = |n: u64| Value::Number(Number::from_i64(n as i64));
        sources.push(Value::Object(vec![
            ("path".into(), text(&spec.display)),
            ("migrated_at".into(), text(&migrated_at)),
            ("recorded_size".into(), num(size)),
            (
                "size".into(),
                now.as_ref().map_or(Value::Null, |(len, _)| num(*len)),
            ),
            (
                "modified_at".into(),
                now.and_then(|(_, m)| m)
                    .map_or(Value::Null, |m| text(&crate::clock::from_micros(m))),
            ),
            ("changed".into(), Value::Bool(changed)),
        ]));
    }
    let body = Value::Object(vec![
        (
            "status".into(),
            text(if healthy { "ok" } else { "degraded" }),
        ),
        ("database".into(), text("reachable")),
        ("integrity".into(), text(&check)),
        (
            "migration_runs".into(),
            Value::Number(Number::from_i64(runs)),
        ),
        ("last_run".into(), last_run),
        ("sources_changed".into(), Value::Bool(any_changed)),
        (
            "schema".into(),
            text(if drift.is_empty() { "ok" } else { "drift" }),
        ),
        (
            "drift".into(),
            Value::Array(
                drift
                    .iter()
                    .map(|d| {
                        Value::Object(vec![
                            ("collection".into(), text(&d.collection)),
                            ("field".into(), d.field.as_deref().map_or(Value::Null, text)),
                            ("message".into(), text(&d.message)),
                        ])
                    })
                    .collect(),
            ),
        ),
        ("sources".into(), Value::Array(sources)),
        ("disk".into(), disk(s.store.database_file())),
    ]);
    let status = if healthy {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    Ok(json_response(status, &body))
}

/// The folder of the database file and the room left on its file system (for the process:
/// what an unprivileged writer may use), so that a disk filling up is seen before writes
/// answer 507. `null` when the records are not in a file here (PostgreSQL, the JSON store).
fn disk(file: Option<&std::path::Path>) -> Value {
    let Some(dir) = file.and_then(std::path::Path::parent) else {
        return Value::Null;
    };
    let Some(free) = free_bytes(dir) else {
        return Value::Null;
    };
    Value::Object(vec![
        ("path".into(), Value::String(dir.display().to_string())),
        (
            "free_bytes".into(),
            Value::Number(Number::from_i64(free.min(i64::MAX as u64) as i64)),
        ),
    ])
}

fn free_bytes(dir: &std::path::Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(dir.as_os_str().as_bytes()).ok()?;
    let mut st = std::mem::MaybeUninit::<libc::statvfs>::uninit();
    // SAFETY: a NUL-terminated path and a buffer statvfs fills on success.
    if unsafe { libc::statvfs(c.as_ptr(), st.as_mut_ptr()) } != 0 {
        return None;
    }
    // SAFETY: statvfs returned 0, so it filled the buffer.
    let st = unsafe { st.assume_init() };
    Some(st.f_bavail as u64 * st.f_frsize as u64)
}

/// The size of a source (a folder: of every file under it) and when it last changed (a
/// folder: its newest file or directory, so an added or removed file counts), in
/// microseconds since the epoch; `None` when it cannot be read.
fn source_stat(path: &std::path::Path) -> Option<(u64, Option<i64>)> {
    let meta = std::fs::metadata(path).ok()?;
    let micros = |m: &std::fs::Metadata| {
        m.modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|d| d.as_micros() as i64)
    };
    if !meta.is_dir() {
        return Some((meta.len(), micros(&meta)));
    }
    let (mut size, mut newest) = (0u64, micros(&meta));
    let mut stack = vec![path.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).ok()?.flatten() {
            let Ok(m) = std::fs::metadata(e.path()) else {
                continue;
            };
            newest = newest.max(micros(&m));
            if m.is_dir() {
                stack.push(e.path());
            } else {
                size += m.len();
            }
        }
    }
    Some((size, newest))
}
