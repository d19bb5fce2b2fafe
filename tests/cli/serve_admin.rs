//! `/_admin/metrics`, `/_admin/openapi.json`, `/_admin/health` and `[serve] max_page_size` on a
//! real server: exact counters, a parseable exposition, an OpenAPI document that names every
//! served route and whose schemas accept every example record.

use std::collections::BTreeMap;

use crate::serve::{Server, call, example};

const TOKEN: &str = "s3cret-token-for-admin-tests";
const TOKENS: &str = "[serve]\ntokens = { ci = \"env:SERVE_TEST_TOKEN\" }\n";

/// The samples of a Prometheus text exposition: `name{labels}` → value. Panics on a line that
/// is neither a comment (`# HELP`/`# TYPE` with a known type) nor a sample.
fn parse_exposition(text: &str) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# ") {
            let mut w = rest.split(' ');
            match w.next() {
                Some("HELP") => assert!(w.next().is_some(), "{line}"),
                Some("TYPE") => {
                    assert!(w.next().is_some(), "{line}");
                    let ty = w.next().unwrap_or("");
                    assert!(
                        ["counter", "gauge", "histogram", "summary", "untyped"].contains(&ty),
                        "{line}"
                    );
                }
                _ => panic!("bad comment line {line:?}"),
            }
            continue;
        }
        let (series, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("{line:?}"));
        let name_end = series.find('{').unwrap_or(series.len());
        let name = &series[..name_end];
        assert!(
            !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'),
            "bad metric name in {line:?}"
        );
        if name_end < series.len() {
            assert!(series.ends_with('}'), "{line:?}");
        }
        let v: f64 = match value {
            "+Inf" => f64::INFINITY,
            v => v
                .parse()
                .unwrap_or_else(|_| panic!("bad value in {line:?}")),
        };
        assert!(
            out.insert(series.to_string(), v).is_none(),
            "duplicate {series}"
        );
    }
    out
}

#[test]
fn serve_admin_metrics_count_requests_by_route_template_exactly() {
    let p = example("jsonserver", TOKENS);
    let s = Server::start(&p, &[], &[("SERVE_TEST_TOKEN", TOKEN)]);
    call("GET", &s.url("/_admin/metrics"), None, None).status(401);
    for id in [1, 2, 1] {
        call("GET", &s.url(&format!("/api/posts/{id}")), None, None).status(200);
    }
    call("GET", &s.url("/api/posts/999"), None, None).status(404);
    call("GET", &s.url("/no/such/thing"), None, None).status(404);
    let body = Some(r#"{"title": "metrics"}"#);
    call("POST", &s.url("/api/posts"), Some(TOKEN), body).status(201);
    call(
        "POST",
        &s.url("/api/posts"),
        Some(TOKEN),
        Some(r#"{"views": -1}"#),
    )
    .status(422);
    call(
        "PATCH",
        &s.url("/api/profile"),
        Some(TOKEN),
        Some(r#"{"bio": "b"}"#),
    )
    .status(200);
    call("DELETE", &s.url("/api/comments/1"), Some(TOKEN), None).status(200);

    let r = call("GET", &s.url("/_admin/metrics"), Some(TOKEN), None);
    r.status(200);
    assert!(
        r.header("content-type")
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
    let m = parse_exposition(&r.body);
    let get = |k: &str| *m.get(k).unwrap_or_else(|| panic!("no {k} in\n{}", r.body));
    let by_id = r#"method="GET",route="/api/posts/{id}",status="200""#;
    assert_eq!(
        get(&format!("jsonlift_http_requests_total{{{by_id}}}")),
        3.0
    );
    assert_eq!(
        get(r#"jsonlift_http_requests_total{method="GET",route="/api/posts/{id}",status="404"}"#),
        1.0
    );
    // Unmatched paths share one label: a client cannot create series at will.
    assert_eq!(
        get(r#"jsonlift_http_requests_total{method="GET",route="unmatched",status="404"}"#),
        1.0
    );
    assert_eq!(
        get(&format!(
            "jsonlift_http_request_duration_seconds_bucket{{{by_id},le=\"+Inf\"}}"
        )),
        3.0
    );
    assert_eq!(
        get(&format!(
            "jsonlift_http_request_duration_seconds_count{{{by_id}}}"
        )),
        3.0
    );
    // Buckets are cumulative and end at the count.
    let buckets: Vec<f64> = m
        .iter()
        .filter(|(k, _)| {
            k.starts_with("jsonlift_http_request_duration_seconds_bucket{") && k.contains(by_id)
        })
        .map(|(_, v)| *v)
        .collect();
    assert_eq!(buckets.len(), 15);
    assert!(m.keys().any(|k| k.contains(r#"le="0.0005""#)));
    // Refused before routing (the 401 of the first scrape): counted, without a route.
    assert_eq!(
        get(r#"jsonlift_http_requests_total{method="GET",route="unmatched",status="401"}"#),
        1.0
    );
    assert_eq!(
        get(r#"jsonlift_writes_total{collection="posts",action="insert"}"#),
        1.0
    );
    assert_eq!(
        get(r#"jsonlift_writes_total{collection="profile",action="update"}"#),
        1.0
    );
    assert_eq!(
        get(r#"jsonlift_writes_total{collection="comments",action="delete"}"#),
        1.0
    );
    assert_eq!(
        m.keys()
            .filter(|k| k.starts_with("jsonlift_writes_total"))
            .count(),
        3
    );
    let db = crate::util::open_db(&p.path("jsonserver.db"));
    let pages: i64 = db.query_row("PRAGMA page_count", [], |r| r.get(0)).unwrap();
    let page_size: i64 = db.query_row("PRAGMA page_size", [], |r| r.get(0)).unwrap();
    assert_eq!(get("jsonlift_db_size_bytes"), (pages * page_size) as f64);
    assert!(get("jsonlift_db_wal_size_bytes") > 0.0);
    // 3 migration entries + insert + update + delete.
    assert_eq!(get("jsonlift_audit_last_id"), 6.0);
}
