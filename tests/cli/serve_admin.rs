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
    match &p.pg {
        None => {
            let db = crate::util::open_db(&p.path("jsonserver.db"));
            let pages: i64 = db.query_row("PRAGMA page_count", [], |r| r.get(0)).unwrap();
            let page_size: i64 = db.query_row("PRAGMA page_size", [], |r| r.get(0)).unwrap();
            assert_eq!(get("jsonlift_db_size_bytes"), (pages * page_size) as f64);
            assert!(get("jsonlift_db_wal_size_bytes") > 0.0);
        }
        Some(_) => {
            // The schema's tables with their indexes and TOAST, in whole pages; autovacuum may
            // add a page map at any moment, so no exact figure. There is no WAL file of ours.
            let size = get("jsonlift_db_size_bytes");
            assert!(size >= 8192.0 && size % 8192.0 == 0.0, "{size}");
            assert!(!r.body.contains("jsonlift_db_wal_size_bytes"), "{}", r.body);
        }
    }
    // 3 migration entries + insert + update + delete.
    assert_eq!(get("jsonlift_audit_last_id"), 6.0);
}

/// The example projects (directories of examples/ with a jsonlift.toml).
pub fn example_names() -> Vec<String> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let mut out: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| {
            let e = e.unwrap();
            e.path()
                .join("jsonlift.toml")
                .exists()
                .then(|| e.file_name().to_string_lossy().into_owned())
        })
        .collect();
    out.sort();
    assert!(!out.is_empty(), "no example projects");
    out
}

/// The collections of a project: (name, route under the prefix, is a document).
pub fn collections(p: &crate::util::Project) -> Vec<(String, String, bool)> {
    let project = jsonlift::config::Project::load(&p.config()).unwrap();
    let schema = jsonlift::schema::Schema::build(&project).unwrap();
    let routes = jsonlift::api::routes(&project, "/api").unwrap();
    schema
        .collections
        .iter()
        .zip(routes)
        .map(|(c, r)| (c.name.clone(), r, schema.tables[c.table].document))
        .collect()
}

type J = serde_json::Value;

/// Problems of `v` against JSON Schema `s`, for the subset `/_admin/openapi.json` emits:
/// `$ref` (into the document), `type` (one or a list), `properties`, `required`,
/// `additionalProperties`, `enum`, `minimum`, `maximum`, `items`, `format` (date, date-time,
/// uuid).
fn validate(doc: &J, s: &J, v: &J, path: &str, out: &mut Vec<String>) {
    if let Some(r) = s.get("$ref").and_then(J::as_str) {
        let target = doc
            .pointer(r.trim_start_matches('#'))
            .expect("$ref resolves");
        return validate(doc, target, v, path, out);
    }
    if let Some(t) = s.get("type") {
        let types: Vec<&str> = match t {
            J::String(t) => vec![t.as_str()],
            J::Array(a) => a.iter().map(|x| x.as_str().unwrap()).collect(),
            _ => panic!("bad type {t}"),
        };
        let ok = types.iter().any(|t| match *t {
            "string" => v.is_string(),
            "integer" => v.is_i64() || v.is_u64(),
            "number" => v.is_number(),
            "boolean" => v.is_boolean(),
            "null" => v.is_null(),
            "object" => v.is_object(),
            "array" => v.is_array(),
            other => panic!("unknown type {other}"),
        });
        if !ok {
            out.push(format!("{path}: {v} is not {types:?}"));
            return;
        }
    }
    if let Some(e) = s.get("enum").and_then(J::as_array)
        && !e.contains(v)
    {
        out.push(format!("{path}: {v} not in {e:?}"));
    }
    if let (Some(m), Some(n)) = (s.get("minimum").and_then(J::as_f64), v.as_f64())
        && n < m
    {
        out.push(format!("{path}: {n} < {m}"));
    }
    if let (Some(m), Some(n)) = (s.get("maximum").and_then(J::as_f64), v.as_f64())
        && n > m
    {
        out.push(format!("{path}: {n} > {m}"));
    }
    if let (Some(f), Some(text)) = (s.get("format").and_then(J::as_str), v.as_str()) {
        let good = match f {
            "date" => jsonlift::schema::is_date(text),
            "date-time" => jsonlift::schema::is_timestamp(text),
            "uuid" => jsonlift::schema::is_uuid(text),
            _ => true,
        };
        if !good {
            out.push(format!("{path}: {text:?} is not a {f}"));
        }
    }
    if let Some(o) = v.as_object() {
        let props = s.get("properties").and_then(J::as_object);
        for r in s
            .get("required")
            .and_then(J::as_array)
            .into_iter()
            .flatten()
        {
            if !o.contains_key(r.as_str().unwrap()) {
                out.push(format!("{path}: missing {r}"));
            }
        }
        for (k, x) in o {
            match props.and_then(|p| p.get(k)) {
                Some(ps) => validate(doc, ps, x, &format!("{path}.{k}"), out),
                None if s.get("additionalProperties") == Some(&J::Bool(false)) => {
                    out.push(format!("{path}: unexpected key {k}"))
                }
                None => {}
            }
        }
    }
    if let (Some(items), Some(a)) = (s.get("items"), v.as_array()) {
        for (i, x) in a.iter().enumerate() {
            validate(doc, items, x, &format!("{path}[{i}]"), out);
        }
    }
}

#[test]
fn serve_admin_openapi_names_every_route_and_every_example_record_validates() {
    for name in example_names() {
        let p = example(&name, TOKENS);
        let s = Server::start(&p, &[], &[("SERVE_TEST_TOKEN", TOKEN)]);
        call("GET", &s.url("/_admin/openapi.json"), None, None).status(401);
        let r = call("GET", &s.url("/_admin/openapi.json"), Some(TOKEN), None);
        r.status(200);
        let doc: J = serde_json::from_str(&r.body).expect("valid JSON");
        assert_eq!(doc["openapi"], "3.1.0");
        let paths = doc["paths"].as_object().unwrap();
        for admin in [
            "/db",
            "/_admin/health",
            "/_admin/metrics",
            "/_admin/openapi.json",
            "/_admin/audit",
            "/_admin/backups",
            "/_admin/restore",
        ] {
            assert!(paths.contains_key(admin), "{name}: {admin}");
        }
        let mut checked = 0;
        for (coll, route, document) in collections(&p) {
            let base = format!("/api/{route}");
            let methods = |path: &str| -> Vec<String> {
                let ops = paths
                    .get(path)
                    .unwrap_or_else(|| panic!("{name}: {path} missing"));
                ops.as_object().unwrap().keys().cloned().collect()
            };
            let record_schema = &doc["components"]["schemas"][&coll];
            assert!(record_schema.is_object(), "{name}: no schema for {coll}");
            let records: Vec<J> = if document {
                assert_eq!(methods(&base), ["get", "put", "patch"]);
                let d = call("GET", &s.url(&base), None, None);
                vec![serde_json::from_str(&d.body).unwrap()]
            } else {
                assert_eq!(methods(&base), ["get", "post"]);
                assert_eq!(methods(&format!("{base}/_import")), ["post"]);
                assert_eq!(
                    methods(&format!("{base}/{{id}}")),
                    ["get", "put", "patch", "delete"]
                );
                assert_eq!(
                    methods(&format!("{base}/{{id}}/{{child}}")),
                    ["get", "post"]
                );
                let params: Vec<&str> = paths[&base]["get"]["parameters"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|p| p["name"].as_str().unwrap())
                    .collect();
                for q in ["_page", "_limit", "_sort", "_order", "q", "_embed"] {
                    assert!(params.contains(&q), "{name}: {base} lacks {q}");
                }
                // Conditional requests (issue #18): 304 on reads, If-Match and 412 on writes.
                let one = &paths[&format!("{base}/{{id}}")];
                assert!(one["get"]["responses"]["304"].is_object(), "{name}: {base}");
                for m in ["put", "patch", "delete"] {
                    assert!(one[m]["responses"]["412"].is_object(), "{name}: {m} {base}");
                    assert!(
                        one[m]["parameters"]
                            .as_array()
                            .unwrap()
                            .iter()
                            .any(|p| p["name"] == "If-Match" && p["in"] == "header"),
                        "{name}: {m} {base} lacks If-Match"
                    );
                }
                let l = call("GET", &s.url(&base), None, None);
                l.status(200);
                serde_json::from_str::<J>(&l.body)
                    .unwrap()
                    .as_array()
                    .unwrap()
                    .clone()
            };
            assert!(!records.is_empty(), "{name}: {coll} has no records");
            for rec in &records {
                let mut problems = Vec::new();
                validate(&doc, record_schema, rec, "$", &mut problems);
                assert!(problems.is_empty(), "{name}/{coll}: {problems:#?}\n{rec:#}");
                checked += 1;
            }
            // A wrong record is caught: the validator is not vacuous.
            if let Some(req) = record_schema["required"].as_array().and_then(|r| r.first()) {
                let mut bad = records[0].clone();
                bad.as_object_mut().unwrap().remove(req.as_str().unwrap());
                let mut problems = Vec::new();
                validate(&doc, record_schema, &bad, "$", &mut problems);
                assert!(
                    !problems.is_empty(),
                    "{name}/{coll}: missing {req} not caught"
                );
            }
        }
        assert!(checked > 0);
    }
}

#[test]
fn serve_admin_health_reports_integrity_ledger_and_changed_sources() {
    for (name, file) in [("jsonserver", "db.json"), ("personas", "personas/new.json")] {
        let p = example(name, TOKENS);
        let s = Server::start(&p, &[], &[("SERVE_TEST_TOKEN", TOKEN)]);
        let health = || -> J {
            let r = call("GET", &s.url("/_admin/health"), Some(TOKEN), None);
            r.status(200);
            serde_json::from_str(&r.body).unwrap()
        };
        let h = health();
        assert_eq!(h["status"], "ok", "{h:#}");
        assert_eq!(h["database"], "reachable");
        assert_eq!(h["integrity"], "ok");
        assert_eq!(h["migration_runs"], 1);
        assert_eq!(h["last_run"]["action"], "migrate");
        assert_eq!(h["sources_changed"], false, "{h:#}");
        let sources = h["sources"].as_array().unwrap();
        assert!(!sources.is_empty());
        for src in sources {
            assert_eq!(src["size"], src["recorded_size"], "{name}: {src}");
            assert_eq!(src["changed"], false, "{name}: {src}");
        }
        // A change to a source after the migration shows (a new file in a folder source, an
        // edit of a file source).
        if name == "jsonserver" {
            let mut text = p.read(file);
            text.extend_from_slice(b"\n");
            p.write(file, text);
        } else {
            p.write(file, "{\"id\": \"new\", \"name\": \"New\"}\n");
        }
        let h = health();
        assert_eq!(h["sources_changed"], true, "{name}: {h:#}");
        assert_eq!(
            h["sources"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|s| s["changed"] == true)
                .count(),
            1,
            "{name}: {h:#}"
        );
    }
}

#[test]
fn serve_max_page_size_caps_paged_lists_only() {
    let p = example("jsonserver", "[serve]\nmax_page_size = 3\n");
    let s = Server::start(&p, &[], &[]);
    let count = |query: &str| -> (usize, Option<String>, Option<String>) {
        let r = call("GET", &s.url(&format!("/api/posts{query}")), None, None);
        r.status(200);
        let v: J = serde_json::from_str(&r.body).unwrap();
        (
            v.as_array().unwrap().len(),
            r.header("x-total-count").map(str::to_string),
            r.header("link").map(str::to_string),
        )
    };
    // Unpaged: every record, as json-server gives them.
    assert_eq!(count(""), (4, None, None));
    assert_eq!(count("?_limit=10").0, 3);
    assert_eq!(count("?_limit=10").1.as_deref(), Some("4"));
    assert_eq!(count("?_limit=2").0, 2);
    assert_eq!(count("?_start=0&_end=10").0, 3);
    assert_eq!(count("?_start=2&_end=10").0, 2);
    // Pages of the capped size, and links that walk them.
    let (n, total, link) = count("?_page=1&_limit=10");
    assert_eq!((n, total.as_deref()), (3, Some("4")));
    let link = link.unwrap();
    assert!(link.contains("_page=2&_limit=10>; rel=\"next\""), "{link}");
    assert!(link.contains("_page=2&_limit=10>; rel=\"last\""), "{link}");
    assert_eq!(count("?_page=2&_limit=10").0, 1);
    // Filtered and sorted lists (built in memory) are capped the same way.
    assert_eq!(count("?_sort=views&_limit=10").0, 3);
    drop(s);

    // 0: no cap.
    let p = example("jsonserver", "[serve]\nmax_page_size = 0\n");
    let s = Server::start(&p, &[], &[]);
    let r = call("GET", &s.url("/api/posts?_limit=10"), None, None);
    assert_eq!(
        serde_json::from_str::<J>(&r.body)
            .unwrap()
            .as_array()
            .unwrap()
            .len(),
        4
    );
}

/// The query a list request makes for json-server's `_page` (is it a field of some record?).
fn extra_plan(p: &crate::util::Project) -> String {
    let db = crate::util::open_db(&p.path("jsonserver.db"));
    let mut stmt = db
        .prepare(
            "EXPLAIN QUERY PLAN SELECT 1 FROM posts WHERE _extra IS NOT NULL AND json_type(_extra, '$.\"_page\"') IS NOT NULL LIMIT 1",
        )
        .unwrap();
    let rows: Vec<String> = stmt
        .query_map([], |r| r.get::<_, String>(3))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    rows.join("\n")
}

#[test]
fn serve_finds_unnamed_keys_through_a_partial_index_not_a_scan() {
    if crate::backend::sqlite_only(
        "serve_finds_unnamed_keys_through_a_partial_index_not_a_scan",
        "it reads SQLite's query plan; the answer itself is checked by serve_a_parameter_some_record_holds_is_a_filter",
    ) {
        return;
    }
    let p = example("jsonserver", "");
    assert!(
        extra_plan(&p).contains("USING COVERING INDEX idx_posts__extra_held"),
        "{}",
        extra_plan(&p)
    );
    // A database migrated before the index existed gets it when served.
    crate::util::open_db(&p.path("jsonserver.db"))
        .execute_batch("DROP INDEX idx_posts__extra_held")
        .unwrap();
    assert!(extra_plan(&p).contains("SCAN posts"), "{}", extra_plan(&p));
    let _s = Server::start(&p, &[], &[]);
    assert!(extra_plan(&p).contains("USING COVERING INDEX idx_posts__extra_held"));
}

#[test]
fn serve_a_parameter_some_record_holds_is_a_filter() {
    let p = example("jsonserver", "");
    let s = Server::start(&p, &[], &[]);
    // `_page` names no field of the schema: until a record holds it, it pages.
    let r = call("GET", &s.url("/api/posts?_page=1"), None, None);
    let v: J = serde_json::from_str(&r.body).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 4, "{}", r.body);
    // A record that holds `_page` (in its unnamed fields) turns the parameter into a filter.
    call(
        "POST",
        &s.url("/api/posts"),
        None,
        Some(r#"{"title": "t", "_page": "1"}"#),
    )
    .status(201);
    let r = call("GET", &s.url("/api/posts?_page=1"), None, None);
    let v: J = serde_json::from_str(&r.body).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 1, "{}", r.body);
}

/// Two findings of the security review (issue #18): a method a client made up is counted as
/// `other`, not as a series of its own per request; and `/_admin` is never wrapped as JSONP
/// (a script any site may include would read the audit log through it), while collection reads
/// still are, as json-server does.
#[test]
fn serve_made_up_methods_are_other_and_admin_is_never_jsonp() {
    use std::io::{Read, Write};
    let p = example("jsonserver", "");
    let s = Server::start(&p, &[], &[]);
    let addr = s.origin.trim_start_matches("http://").to_string();
    let method = "X".repeat(300);
    let mut conn = std::net::TcpStream::connect(&addr).unwrap();
    write!(
        conn,
        "{method} /api/posts HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    let _ = conn.read_to_string(&mut answer);
    let metrics = call("GET", &s.url("/_admin/metrics"), None, None);
    metrics.status(200);
    assert!(
        !metrics.body.contains(&method),
        "a made-up method became a label"
    );
    assert!(
        metrics.body.contains("method=\"other\""),
        "{}",
        metrics.body
    );
    let audit = call("GET", &s.url("/_admin/audit?callback=steal"), None, None);
    audit.status(200);
    assert!(!audit.body.contains("steal("), "{}", audit.body);
    assert!(
        audit
            .header("content-type")
            .is_some_and(|c| c.starts_with("application/json")),
        "{:?}",
        audit.headers
    );
    let posts = call("GET", &s.url("/api/posts?callback=show"), None, None);
    assert!(posts.body.contains("show("), "{}", posts.body);
}

/// `/_admin/audit?since=` compares times, not texts (issue #18): the entries of the second a
/// `…06Z` names are in, an offset means what it says, and a text that is no time is a 400.
#[test]
fn serve_audit_since_is_a_time() {
    let p = example("jsonserver", "");
    let s = Server::start(&p, &[], &[]);
    call(
        "POST",
        &s.url("/api/posts"),
        None,
        Some(r#"{"title": "t"}"#),
    )
    .status(201);
    let all = call("GET", &s.url("/_admin/audit"), None, None);
    let all: serde_json::Value = serde_json::from_str(&all.body).unwrap();
    let last = all.as_array().unwrap().last().unwrap()["at"]
        .as_str()
        .unwrap()
        .to_string();
    // The entry's own second, without the fraction: the entry is at or after it.
    let second = format!("{}Z", &last[..19]);
    let got = call(
        "GET",
        &s.url(&format!("/_admin/audit?since={second}")),
        None,
        None,
    );
    got.status(200);
    assert!(
        got.body.contains("\"insert\""),
        "since={second}: {}",
        got.body
    );
    // The same moment written with an offset.
    let hour: u32 = last[11..13].parse().unwrap();
    let shifted = format!(
        "{}T{:02}{}+01:00",
        &last[..10],
        (hour + 1) % 24,
        &last[13..19]
    );
    if hour < 23 {
        let got = call(
            "GET",
            &s.url(&format!(
                "/_admin/audit?since={}",
                shifted.replace('+', "%2B")
            )),
            None,
            None,
        );
        got.status(200);
        assert!(
            got.body.contains("\"insert\""),
            "since={shifted}: {}",
            got.body
        );
    }
    for garbage in [
        "yesterday",
        "2026-02-31T00:00:00Z",
        "2026-11-21T10:15:02%2B0%C3%A900",
    ] {
        let bad = call(
            "GET",
            &s.url(&format!("/_admin/audit?since={garbage}")),
            None,
            None,
        );
        bad.status(400);
        assert!(
            bad.body.contains("is not a time"),
            "{garbage}: {}",
            bad.body
        );
    }
}

/// Request ids (issue #18): a client's id with spaces or quotes, which would add fields to the
/// log line, is replaced by a new one; a plain one is kept; a new id is random (it no longer
/// shows the server's start time and pid).
#[test]
fn serve_request_ids_cannot_inject_log_fields() {
    let p = example("jsonserver", "");
    let s = Server::start(&p, &[], &[]);
    let evil = "x status=200 user=admin";
    let r = crate::serve::call_with(
        "GET",
        &s.url("/api/posts/1"),
        None,
        None,
        &[("x-request-id", evil)],
    );
    r.status(200);
    let given = r.header("x-request-id").unwrap_or_default().to_string();
    assert_ne!(given, evil);
    assert!(!s.log().contains("user=admin"), "{}", s.log());
    let plain = crate::serve::call_with(
        "GET",
        &s.url("/api/posts/1"),
        None,
        None,
        &[("x-request-id", "req-42.a_b:c")],
    );
    assert_eq!(plain.header("x-request-id"), Some("req-42.a_b:c"));
    let a = call("GET", &s.url("/api/posts/1"), None, None);
    let b = call("GET", &s.url("/api/posts/1"), None, None);
    let (a, b) = (
        a.header("x-request-id").unwrap(),
        b.header("x-request-id").unwrap(),
    );
    assert_eq!(a.len(), 36, "a v4 UUID: {a}");
    assert!(!a.contains(&format!("{:x}", s.pid())), "{a} shows the pid");
    assert_ne!(a[..8], b[..8], "ids share a prefix: {a} {b}");
}

/// A request with two Host headers is refused (issue #18): the loopback check reads one, a
/// proxy might route by the other.
#[test]
fn serve_refuses_two_host_headers() {
    use std::io::{Read, Write};
    let p = example("jsonserver", "");
    let s = Server::start(&p, &[], &[]);
    let addr = s.origin.trim_start_matches("http://").to_string();
    let mut conn = std::net::TcpStream::connect(&addr).unwrap();
    write!(
        conn,
        "GET /api/posts/1 HTTP/1.1\r\nHost: {addr}\r\nHost: evil.example\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    let _ = conn.read_to_string(&mut answer);
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(answer.contains("several Host headers"), "{answer}");
    call("GET", &s.url("/api/posts/1"), None, None).status(200);
}

/// Cross-site requests (issue #18): another site's page could make a tokenless server take
/// backups (evicting the operator's) or restore the latest one, with a POST whose empty body
/// skipped the content-type check. Writes and /_admin refuse a browser's cross-site request
/// (its Origin, `Sec-Fetch-Site: cross-site`); an admin action needs a JSON body; same-site
/// requests and clients without an Origin (curl, servers) go on as before.
#[test]
fn serve_refuses_cross_site_writes_and_admin_requests() {
    use crate::serve::call_with;
    let p = example("jsonserver", "");
    let s = Server::start(&p, &[], &[]);
    let host = s.origin.trim_start_matches("http://").to_string();
    let post = |headers: &[(&str, &str)]| {
        call_with(
            "POST",
            &s.url("/api/posts"),
            None,
            Some(r#"{"title": "x"}"#),
            headers,
        )
    };
    post(&[("origin", "http://evil.example")]).status(403);
    post(&[("sec-fetch-site", "cross-site")]).status(403);
    post(&[("origin", "null")]).status(403);
    post(&[
        ("origin", &format!("http://{host}")),
        ("sec-fetch-site", "same-origin"),
    ])
    .status(201);
    post(&[]).status(201);
    // The admin routes, reads included.
    call_with(
        "GET",
        &s.url("/_admin/audit"),
        None,
        None,
        &[("sec-fetch-site", "cross-site")],
    )
    .status(403);
    call_with(
        "POST",
        &s.url("/_admin/restore"),
        None,
        Some("{}"),
        &[("origin", "http://evil.example")],
    )
    .status(403);
    // An admin action with an empty body and no content type is no admin action.
    let r = call_with("POST", &s.url("/_admin/restore"), None, None, &[]);
    r.status(415);
    // Collection reads stay open to any page, as json-server's are.
    call_with(
        "GET",
        &s.url("/api/posts"),
        None,
        None,
        &[("origin", "http://evil.example")],
    )
    .status(200);
}

/// CORS (issue #18): a frontend on another port of this machine may call a tokenless server
/// (its preflight is answered, its answers carry its origin); other origins are granted only
/// through `cors_origins`, a token-protected server grants only those, and `"*"` never comes
/// with credentials.
#[test]
fn serve_cors_grants_loopback_frontends_and_the_listed_origins() {
    use crate::serve::call_with;
    let header = |r: &crate::serve::Resp, h: &str| r.header(h).map(str::to_string);
    let preflight = |s: &Server, origin: &str| {
        call_with(
            "OPTIONS",
            &s.url("/api/posts"),
            None,
            None,
            &[
                ("origin", origin),
                ("access-control-request-method", "POST"),
                ("access-control-request-headers", "content-type"),
            ],
        )
    };
    let p = example("jsonserver", "");
    let s = Server::start(&p, &[], &[]);
    let dev = "http://localhost:5173";
    let pre = preflight(&s, dev);
    pre.status(204);
    assert_eq!(
        header(&pre, "access-control-allow-origin").as_deref(),
        Some(dev)
    );
    assert!(
        header(&pre, "access-control-allow-methods")
            .unwrap()
            .contains("PATCH")
    );
    let r = call_with(
        "POST",
        &s.url("/api/posts"),
        None,
        Some(r#"{"title": "x"}"#),
        &[("origin", dev)],
    );
    r.status(201);
    assert_eq!(
        header(&r, "access-control-allow-origin").as_deref(),
        Some(dev)
    );
    assert!(
        header(&r, "access-control-expose-headers")
            .unwrap()
            .contains("X-Total-Count")
    );
    let evil = preflight(&s, "https://evil.example");
    assert_eq!(header(&evil, "access-control-allow-origin"), None);
    drop(s);

    // With tokens: only the listed origins.
    let p = example(
        "jsonserver",
        "[serve]\ntokens = { app = \"env:CORS_TEST_TOKEN\" }\ncors_origins = [\"https://app.example\"]\n",
    );
    let token = "a-token-of-sixteen-chars";
    let s = Server::start(&p, &[], &[("CORS_TEST_TOKEN", token)]);
    assert_eq!(
        header(&preflight(&s, dev), "access-control-allow-origin"),
        None
    );
    call_with(
        "POST",
        &s.url("/api/posts"),
        Some(token),
        Some(r#"{"title": "x"}"#),
        &[("origin", dev)],
    )
    .status(403);
    let app = "https://app.example";
    assert_eq!(
        header(&preflight(&s, app), "access-control-allow-origin").as_deref(),
        Some(app)
    );
    call_with(
        "POST",
        &s.url("/api/posts"),
        Some(token),
        Some(r#"{"title": "x"}"#),
        &[("origin", app)],
    )
    .status(201);
    drop(s);

    // Any origin: `*`, and no credentials with it.
    let p = example("jsonserver", "[serve]\ncors_origins = [\"*\"]\n");
    let s = Server::start(&p, &[], &[]);
    let r = call_with(
        "GET",
        &s.url("/api/posts/1"),
        None,
        None,
        &[("origin", "https://any.example")],
    );
    assert_eq!(
        header(&r, "access-control-allow-origin").as_deref(),
        Some("*")
    );
    assert_eq!(header(&r, "access-control-allow-credentials"), None);
}

/// A full disk (issue #18): a write that finds no room answers 507 with a JSON error that says
/// so (not a bare 500), is logged as an error with its cause, writes nothing, and writes
/// succeed again once there is room; `/_admin/health` shows the room left. The disk is made
/// "full" by lowering the server's file size limit (`prlimit`, soft limit only): SQLite's
/// write past it is cut short, as on a full disk.
#[test]
fn serve_full_disk_answers_507_and_writes_resume_once_there_is_room() {
    if crate::backend::sqlite_only(
        "serve_full_disk_answers_507_and_writes_resume_once_there_is_room",
        "the file size limit bounds the SQLite file; PostgreSQL's disk is the server's",
    ) {
        return;
    }
    let p = example("jsonserver", "");
    let s = Server::start(&p, &[], &[]);
    let health = call("GET", &s.url("/_admin/health"), None, None);
    health.status(200);
    let h: serde_json::Value = serde_json::from_str(&health.body).unwrap();
    assert!(h["disk"]["free_bytes"].as_u64().unwrap() > 0, "{h}");
    assert_eq!(
        h["disk"]["path"].as_str().unwrap(),
        p.db_path().parent().unwrap().to_str().unwrap()
    );

    let count = || -> usize {
        let r = call("GET", &s.url("/api/posts?_page=1&_limit=1"), None, None);
        r.status(200);
        r.header("x-total-count").unwrap().parse().unwrap()
    };
    let before = count();
    let size = |suffix: &str| {
        std::fs::metadata(format!("{}{suffix}", p.db_path().display()))
            .map(|m| m.len())
            .unwrap_or(0)
    };
    let room = size("").max(size("-wal")) + 64 * 1024;
    let limit = |soft: &str| {
        let ok = std::process::Command::new("prlimit")
            .args([
                "--pid",
                &s.pid().to_string(),
                &format!("--fsize={soft}:unlimited"),
            ])
            .status()
            .expect("prlimit (util-linux) runs");
        assert!(ok.success());
    };
    limit(&room.to_string());
    let big = "x".repeat(20_000);
    let mut written = 0;
    let full = loop {
        let r = call(
            "POST",
            &s.url("/api/posts"),
            None,
            Some(&format!(r#"{{"title": "{big}", "views": {written}}}"#)),
        );
        if r.status != 201 {
            break r;
        }
        written += 1;
        assert!(written < 500, "the file size limit never stopped a write");
    };
    full.status(507);
    let msg: serde_json::Value = serde_json::from_str(&full.body).unwrap();
    let msg = msg["error"].as_str().unwrap();
    assert!(
        msg.contains("the disk holding the database is full")
            && msg.contains("nothing was written"),
        "{msg}"
    );
    assert!(s.log().contains("the disk is full"), "{}", s.log());
    assert_eq!(count(), before + written, "the refused write left nothing");

    limit("unlimited");
    call(
        "POST",
        &s.url("/api/posts"),
        None,
        Some(r#"{"title": "room again"}"#),
    )
    .status(201);
    assert_eq!(count(), before + written + 1);
}
