//! `GET /_admin/metrics`: Prometheus text exposition of what this server process did (requests
//! and latencies by route template and status, successful writes by collection and action) and
//! what the database is now (file and WAL size, audit log position). Routes are labelled by
//! their template (`/api/courses/{id}`), never the raw path, so the number of series stays
//! bounded whatever clients request. Hand-written: the format is a few lines of text.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::Duration;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::error::ApiError;
use super::{Coll, Shared, blocking};
use crate::store::{StoreError, read};

/// Upper bounds (seconds) of the latency histogram buckets.
pub const BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// The label of requests no route matched (their paths are not labels: unbounded).
pub const UNMATCHED: &str = "unmatched";

#[derive(Default)]
struct Histogram {
    /// Non-cumulative counts per bucket; the last slot is `+Inf`.
    buckets: [u64; BUCKETS.len() + 1],
    sum: f64,
    count: u64,
}

#[derive(Default)]
struct Counts {
    /// (method, route template, status) → latencies.
    requests: BTreeMap<(String, String, u16), Histogram>,
    /// (collection, action) → successful write requests.
    writes: BTreeMap<(String, &'static str), u64>,
}

/// The counters of one server process (they start at zero with the process, as Prometheus
/// counters may).
#[derive(Default)]
pub struct Metrics {
    counts: Mutex<Counts>,
}

/// The route template a request matched and the collection it serves, carried on its response
/// to [`Metrics::observe`].
#[derive(Clone)]
pub struct Route {
    pub template: MatchedPath,
    pub coll: Option<usize>,
}

/// Copies the matched route template (and collection) onto the response: the outer layers
/// only see the response, and the template is known only once routing is done.
pub async fn mark_route(req: Request, next: Next) -> Response {
    let matched = req.extensions().get::<MatchedPath>().cloned();
    let coll = req.extensions().get::<Coll>().map(|c| c.0);
    let mut res = next.run(req).await;
    if let Some(template) = matched {
        res.extensions_mut().insert(Route { template, coll });
    }
    res
}

/// The write a successful request made: `insert`, `replace`, `update`, `delete` or `import`.
fn write_action(method: &Method, route: &str) -> Option<&'static str> {
    Some(match *method {
        Method::POST if route.ends_with("/_import") => "import",
        Method::POST => "insert",
        Method::PUT => "replace",
        Method::PATCH => "update",
        Method::DELETE => "delete",
        _ => return None,
    })
}

/// The method as a label: HTTP's own methods by name, anything a client made up as `other`
/// (a 4,000-character method became a series of its own, one per request: issue #18).
fn method_label(m: &Method) -> &'static str {
    match *m {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        Method::CONNECT => "CONNECT",
        Method::TRACE => "TRACE",
        _ => "other",
    }
}

impl Metrics {
    /// Counts a finished request. `collection` is the collection a write changed, if any.
    pub fn observe(
        &self,
        method: &Method,
        route: Option<&str>,
        status: u16,
        elapsed: Duration,
        collection: Option<&str>,
    ) {
        let secs = elapsed.as_secs_f64();
        let slot = BUCKETS
            .iter()
            .position(|b| secs <= *b)
            .unwrap_or(BUCKETS.len());
        let route = route.unwrap_or(UNMATCHED);
        let mut c = self.counts.lock().expect("metrics lock");
        let h = c
            .requests
            .entry((method_label(method).to_string(), route.to_string(), status))
            .or_default();
        h.buckets[slot] += 1;
        h.sum += secs;
        h.count += 1;
        if let (Some(coll), true) = (collection, (200..300).contains(&status)) {
            if let Some(action) = write_action(method, route) {
                *c.writes.entry((coll.to_string(), action)).or_default() += 1;
            }
        }
    }

    /// The process's counters in the text exposition format.
    fn render(&self, out: &mut String) {
        let c = self.counts.lock().expect("metrics lock");
        out.push_str("# HELP jsonlift_http_requests_total Requests answered, by method, route template and status.\n");
        out.push_str("# TYPE jsonlift_http_requests_total counter\n");
        for ((m, r, s), h) in &c.requests {
            let _ = writeln!(
                out,
                "jsonlift_http_requests_total{{method=\"{}\",route=\"{}\",status=\"{s}\"}} {}",
                esc(m),
                esc(r),
                h.count
            );
        }
        out.push_str("# HELP jsonlift_http_request_duration_seconds Time from request to response, by method, route template and status.\n");
        out.push_str("# TYPE jsonlift_http_request_duration_seconds histogram\n");
        for ((m, r, s), h) in &c.requests {
            let labels = format!("method=\"{}\",route=\"{}\",status=\"{s}\"", esc(m), esc(r));
            let mut cumulative = 0;
            for (i, le) in BUCKETS.iter().map(|b| b.to_string()).enumerate() {
                cumulative += h.buckets[i];
                let _ = writeln!(
                    out,
                    "jsonlift_http_request_duration_seconds_bucket{{{labels},le=\"{le}\"}} {cumulative}"
                );
            }
            let _ = writeln!(
                out,
                "jsonlift_http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}",
                h.count
            );
            let _ = writeln!(
                out,
                "jsonlift_http_request_duration_seconds_sum{{{labels}}} {}",
                h.sum
            );
            let _ = writeln!(
                out,
                "jsonlift_http_request_duration_seconds_count{{{labels}}} {}",
                h.count
            );
        }
        out.push_str(
            "# HELP jsonlift_writes_total Successful write requests, by collection and action.\n",
        );
        out.push_str("# TYPE jsonlift_writes_total counter\n");
        for ((coll, action), n) in &c.writes {
            let _ = writeln!(
                out,
                "jsonlift_writes_total{{collection=\"{}\",action=\"{action}\"}} {n}",
                esc(coll)
            );
        }
    }
}

/// A label value escaped as the format asks (backslash, double quote, newline).
fn esc(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// What the database is now: read on each scrape (cheap pragmas and a stat).
struct DbFacts {
    size: u64,
    audit_last_id: i64,
}

/// `GET /_admin/metrics`.
pub async fn get(State(s): State<Shared>) -> Result<Response, ApiError> {
    let facts = blocking(&s, |st| {
        read(st, |tx| {
            Ok::<_, StoreError>(DbFacts {
                size: tx.size()?.unwrap_or(0),
                audit_last_id: tx.audit_last_id()?,
            })
        })
    })
    .await?;
    let mut out = String::new();
    s.metrics.render(&mut out);
    // Every database has a size (SQLite: page_count * page_size; PostgreSQL: the schema's
    // tables with their indexes and TOAST); only a SQLite file has a WAL file beside it.
    if s.store.is_database() {
        out.push_str("# HELP jsonlift_db_size_bytes Size of the database: page_count * page_size (SQLite), the schema's tables and indexes (PostgreSQL).\n# TYPE jsonlift_db_size_bytes gauge\n");
        let _ = writeln!(out, "jsonlift_db_size_bytes {}", facts.size);
    }
    if let Some(path) = s.store.database_file() {
        let mut wal = path.as_os_str().to_owned();
        wal.push("-wal");
        let wal = std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0);
        out.push_str("# HELP jsonlift_db_wal_size_bytes Size of the write-ahead log file.\n# TYPE jsonlift_db_wal_size_bytes gauge\n");
        let _ = writeln!(out, "jsonlift_db_wal_size_bytes {wal}");
    }
    // Lock contention (seed 003): the SQLite stores count it (crate::store::contention).
    if s.store.database_file().is_some() {
        let (waits, waited, retries) = crate::store::contention::totals();
        out.push_str("# HELP jsonlift_db_write_lock_wait_seconds Time writes spent waiting for the database's write lock (BEGIN IMMEDIATE, up to the busy timeout each).\n# TYPE jsonlift_db_write_lock_wait_seconds summary\n");
        let _ = writeln!(out, "jsonlift_db_write_lock_wait_seconds_sum {waited}");
        let _ = writeln!(out, "jsonlift_db_write_lock_wait_seconds_count {waits}");
        out.push_str("# HELP jsonlift_db_busy_retries_total Writes tried again after the database stayed locked past the busy timeout (SQLITE_BUSY).\n# TYPE jsonlift_db_busy_retries_total counter\n");
        let _ = writeln!(out, "jsonlift_db_busy_retries_total {retries}");
    }
    out.push_str("# HELP jsonlift_audit_last_id Id of the newest audit log entry (all processes).\n# TYPE jsonlift_audit_last_id gauge\n");
    let _ = writeln!(out, "jsonlift_audit_last_id {}", facts.audit_last_id);
    if let Some(sync) = &s.sync {
        sync.state().render(&mut out);
    }
    let mut res = out.into_response();
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    Ok(res)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_cumulative_and_labels_escaped() {
        let m = Metrics::default();
        let get = Method::GET;
        m.observe(&get, Some("/a/{id}"), 200, Duration::from_micros(300), None);
        m.observe(&get, Some("/a/{id}"), 200, Duration::from_millis(3), None);
        m.observe(&get, Some("/a/{id}"), 200, Duration::from_secs(20), None);
        m.observe(&Method::POST, Some("/a\"b"), 201, Duration::ZERO, Some("a"));
        m.observe(&Method::POST, Some("/a\"b"), 422, Duration::ZERO, Some("a"));
        let mut out = String::new();
        m.render(&mut out);
        let get_labels = "method=\"GET\",route=\"/a/{id}\",status=\"200\"";
        for (le, n) in [
            ("0.0005", 1),
            ("0.0025", 1),
            ("0.005", 2),
            ("10", 2),
            ("+Inf", 3),
        ] {
            let line = format!(
                "jsonlift_http_request_duration_seconds_bucket{{{get_labels},le=\"{le}\"}} {n}\n"
            );
            assert!(out.contains(&line), "{line} in\n{out}");
        }
        assert!(out.contains(
            "jsonlift_http_requests_total{method=\"POST\",route=\"/a\\\"b\",status=\"201\"} 1\n"
        ));
        assert!(out.contains("jsonlift_writes_total{collection=\"a\",action=\"insert\"} 1\n"));
    }
}
