//! `/_admin/`: a dashboard for people (issue #15): the collections with their counts, the live
//! sync's state and errors, recent audit entries and the backups, in a plain HTML page with its
//! script and style sheet compiled into the binary, so there is nothing to build or install.
//!
//! The page, script and style sheet hold no data, so a browser loads them without a token (a
//! navigation cannot send one); the script then asks for the data with the token the user typed,
//! like any other client of `/_admin` ([`super::request`]). The page is served with a strict
//! Content-Security-Policy: scripts and styles only from these files, no inline code, no other
//! origin, and Trusted Types, so the browser itself refuses any HTML built from a string: the
//! script writes data with `textContent` only.
//!
//! Live updates come from `GET /_admin/events`, Server-Sent Events of [`overview`]: an
//! `EventSource` cannot send an `Authorization` header, so the page reads the stream with
//! `fetch`. The stream looks every [`TICK`] at what is cheap to know (the sync's state in memory,
//! the audit log's last id) and counts the records again only when that moved.

use std::convert::Infallible;
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::error::ApiError;
use super::{Shared, blocking};
use crate::store::{Records, StoreError, read};

const PAGE: &str = include_str!("dashboard/index.html");
const SCRIPT: &str = include_str!("dashboard/dashboard.js");
const STYLE: &str = include_str!("dashboard/dashboard.css");

/// What the page may load and do: its own script, style sheet and API, nothing inline, no
/// frames around it, no forms sent anywhere, and no HTML from strings (Trusted Types).
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; \
     img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'; \
     require-trusted-types-for 'script'; trusted-types 'none'";

/// How often an open event stream looks for changes.
const TICK: Duration = Duration::from_millis(500);
/// Records changed by something the audit log does not see (a program writing to the database
/// directly; `--store json`, which keeps no audit log) still show within this long.
const RECOUNT: Duration = Duration::from_secs(30);

/// The paths of the dashboard's own files, which need no token.
pub fn is_asset(path: &str) -> bool {
    matches!(
        path,
        "/_admin" | "/_admin/" | "/_admin/dashboard.js" | "/_admin/dashboard.css"
    )
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    let mut r = (StatusCode::OK, body).into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    // A new jsonlift brings a new page: never run an old script against a new API.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    r
}

/// `GET /_admin/`: the page.
pub async fn page() -> Response {
    asset("text/html; charset=utf-8", PAGE)
}

/// `GET /_admin`: the page is at `/_admin/`, where its relative links resolve (a relative
/// redirect, so it holds behind a proxy that serves jsonlift under a path of its own).
pub async fn redirect() -> Response {
    let mut r = StatusCode::PERMANENT_REDIRECT.into_response();
    r.headers_mut()
        .insert(header::LOCATION, HeaderValue::from_static("_admin/"));
    r
}

pub async fn script() -> Response {
    asset("text/javascript; charset=utf-8", SCRIPT)
}

pub async fn style() -> Response {
    asset("text/css; charset=utf-8", STYLE)
}

/// The collections with their routes and record counts (`null` for a document), and the
/// audit log's last id.
async fn counts(s: &Shared) -> Result<(Vec<Value>, i64), ApiError> {
    let routes: Vec<String> = s
        .routes
        .iter()
        .map(|r| format!("{}/{r}", s.prefix))
        .collect();
    blocking(s, move |st| {
        let schema = st.schema();
        read(st, |tx| {
            let mut out = Vec::new();
            for (ci, c) in schema.collections.iter().enumerate() {
                let document = schema.tables[c.table].document;
                let count = match document {
                    true => None,
                    false => Some(Records::new(schema, ci).tally(tx, &[], &[])?.0),
                };
                out.push(json!({
                    "name": c.name,
                    "route": routes[ci],
                    "document": document,
                    "count": count,
                }));
            }
            Ok::<_, StoreError>((out, tx.audit_last_id()?))
        })
    })
    .await
}

async fn audit_last_id(s: &Shared) -> Result<i64, ApiError> {
    blocking(s, |st| read(st, |tx| tx.audit_last_id())).await
}

fn overview_json(s: &Shared, collections: Vec<Value>, audit_last_id: i64) -> Value {
    json!({
        "collections": collections,
        "sync": super::sync::status(s),
        "audit_last_id": audit_last_id,
        "backups": s.backups.is_some(),
    })
}

/// `GET /_admin/overview`: what the dashboard shows at a glance: each collection with its
/// route and count, the live sync's state as `GET /_admin/sync` gives it (`null` without
/// `--watch`), the audit log's last id, and whether this server keeps database backups.
pub async fn overview(State(s): State<Shared>) -> Result<Response, ApiError> {
    let (collections, last) = counts(&s).await?;
    Ok(super::sync::reply(
        StatusCode::OK,
        &overview_json(&s, collections, last),
    ))
}

/// Why the overview cannot be had now, in words (the stream goes on and says when it can).
fn reason(e: &ApiError) -> String {
    match e {
        ApiError::Unavailable(m) | ApiError::Refused(_, m) => m.clone(),
        ApiError::Store(e) => e.to_string(),
        other => format!("{other:?}"),
    }
}

/// One open event stream: what it last looked at and last sent.
struct Feed {
    s: Shared,
    closing: tokio::sync::watch::Receiver<bool>,
    /// The sync's state and the audit log's last id when the records were last counted.
    mark: Option<(Value, i64)>,
    counted: Instant,
    sent: Option<String>,
}

impl Feed {
    /// The next event to send, or `None` when the server stops (the response ends, so a
    /// graceful shutdown does not wait for the stream).
    async fn next(&mut self) -> Option<Event> {
        loop {
            if self.sent.is_some() {
                tokio::select! {
                    _ = tokio::time::sleep(TICK) => {}
                    _ = self.closing.wait_for(|c| *c) => return None,
                }
            }
            if *self.closing.borrow() {
                return None;
            }
            let (kind, data) = match self.look().await {
                Ok(None) => continue,
                Ok(Some(v)) => ("overview", v.to_string()),
                Err(e) => {
                    // Counted afresh once it can be read again.
                    self.mark = None;
                    ("problem", json!({ "error": reason(&e) }).to_string())
                }
            };
            let text = format!("{kind}\n{data}");
            if self.sent.as_ref() == Some(&text) {
                continue;
            }
            self.sent = Some(text);
            return Some(Event::default().event(kind).data(data));
        }
    }

    /// The overview when something may have changed since it was last counted.
    async fn look(&mut self) -> Result<Option<Value>, ApiError> {
        let mark = (
            super::sync::status(&self.s).unwrap_or(Value::Null),
            audit_last_id(&self.s).await?,
        );
        let moved = self.mark.as_ref() != Some(&mark);
        if !moved && self.counted.elapsed() < RECOUNT && self.sent.is_some() {
            return Ok(None);
        }
        let (collections, last) = counts(&self.s).await?;
        self.counted = Instant::now();
        self.mark = Some(mark);
        Ok(Some(overview_json(&self.s, collections, last)))
    }
}

/// `GET /_admin/events`: Server-Sent Events for the dashboard: an `overview` event (the body
/// of `GET /_admin/overview`) at once and whenever it changes, a `problem` event
/// (`{"error": …}`) while it cannot be read (a restore in progress), and a comment every 15 s
/// to keep proxies from closing an idle stream. It ends when the server stops.
pub async fn events(State(s): State<Shared>) -> Response {
    let feed = Feed {
        closing: s.closing.subscribe(),
        s,
        mark: None,
        counted: Instant::now(),
        sent: None,
    };
    let stream = futures_util::stream::unfold(feed, |mut f| async move {
        let e = f.next().await?;
        Some((Ok::<_, Infallible>(e), f))
    });
    let mut r = Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response();
    // Proxies that buffer responses (nginx) would hold the events back.
    r.headers_mut()
        .insert("x-accel-buffering", HeaderValue::from_static("no"));
    r
}
