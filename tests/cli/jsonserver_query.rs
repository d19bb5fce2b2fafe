//! Differential test of `jsonlift::api::query` against the real json-server 0.17.4: the same
//! db.json (examples/jsonserver/db.json plus tests/jsonserver/db.json, with mixed types, nulls,
//! number forms, unicode and relations) is served by json-server on loopback, the shared table
//! of query strings (`jsonserver_common`) is fired at it, and each answer (status, body as
//! parsed JSON with key order, `X-Total-Count`, `Link`) must equal what our `run`/`show` give on
//! the same records. `jsonserver_parity` fires the same table at the real `jsonlift serve`.
//!
//! json-server is installed with npm into a cache dir under target/ the first time; without
//! node or npm the test says so loudly and passes (it cannot compare with nothing).

use jsonlift::api::query::{self, ListQuery, Relations, Resolver, UrlParts};
use jsonlift::json::{self, Value};

use crate::jsonserver_common::*;

/// The collections of the merged db.json, for our side.
struct Db(Vec<(String, Value)>);

impl Resolver for Db {
    fn records(&self, collection: &str) -> Option<Vec<Value>> {
        match self.0.iter().find(|(k, _)| k == collection) {
            Some((_, Value::Array(items))) => Some(items.clone()),
            _ => None,
        }
    }
}

/// What jsonlift answers for `url`, routed the way json-server routes it.
fn ours(db: &Db, host: &str, url: &str) -> Answer {
    let (path, query) = url.split_once('?').unwrap_or((url, ""));
    let pairs = pairs(query);
    let segs: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let parts = UrlParts {
        protocol: "http".into(),
        host: host.into(),
        original_url: url.into(),
    };
    let error = |e: query::QueryError| Answer {
        status: 500,
        body: Some(Value::String(e.to_string())),
        total: None,
        link: None,
    };
    let list = |collection: &str, q: Result<ListQuery, query::QueryError>| {
        let Some(records) = db.records(collection) else {
            return not_found();
        };
        match q {
            Ok(q) => {
                let page = query::run(&q, collection, records, db, &parts);
                Answer {
                    status: 200,
                    body: Some(Value::Array(page.items)),
                    total: page.total.map(|t| t.to_string()),
                    link: page.link,
                }
            }
            Err(e) => error(e),
        }
    };
    match segs.as_slice() {
        [c] => list(c, ListQuery::parse(&pairs)),
        [c, id] => {
            let Some(records) = db.records(c) else {
                return not_found();
            };
            let found = records.into_iter().find(|r| {
                r.get("id")
                    .is_some_and(|v| query::js::Js::of(v).to_js_string() == *id)
            });
            match (found, Relations::parse(&pairs)) {
                (None, _) => not_found(),
                (Some(_), Err(e)) => error(e),
                (Some(r), Ok(rel)) => Answer {
                    status: 200,
                    body: Some(query::show(r, &rel, c, db)),
                    total: None,
                    link: None,
                },
            }
        }
        [parent, id, c] => list(c, ListQuery::parse_nested(&pairs, parent, id, "Id")),
        _ => not_found(),
    }
}

#[test]
fn jsonserver_query_parity() {
    if !have("node") || !have("npm") {
        eprintln!(
            "\n!!!!!!!! SKIPPED jsonserver_query_parity: node/npm not found; \
             json-server 0.17.4 parity NOT checked !!!!!!!!\n"
        );
        return;
    }
    assert!(SAME.len() + EXTENSIONS.len() >= 80);
    let bin = install_json_server();
    let tmp = tempfile::tempdir().unwrap();
    let pairs = merged_db();
    let db_path = tmp.path().join("db.json");
    std::fs::write(
        &db_path,
        json::to_compact_string(&Value::Object(pairs.clone())),
    )
    .unwrap();
    let db = Db(pairs);
    let (_server, port) = start(&bin, &db_path);
    let host = format!("127.0.0.1:{port}");
    let mut failures = Vec::new();
    for url in SAME {
        let theirs = get(port, url);
        let ours = ours(&db, &host, url);
        if !same(&ours, &theirs) {
            failures.push(format!(
                "{url}\n json-server: {}\n jsonlift:    {}",
                show(&theirs),
                show(&ours)
            ));
        }
    }
    for (our_url, their_url) in EXTENSIONS {
        let theirs = get(port, their_url);
        let ours = ours(&db, &host, our_url);
        if !same(&ours, &theirs) {
            failures.push(format!(
                "{our_url} (vs json-server {their_url})\n json-server: {}\n jsonlift:    {}",
                show(&theirs),
                show(&ours)
            ));
        }
    }
    for url in JSON_SERVER_FAILS {
        let theirs = get(port, url);
        let ours = ours(&db, &host, url);
        if theirs.status != 500 || ours.status != 200 {
            failures.push(format!(
                "{url}: expected json-server to fail (500) and jsonlift to answer (200)\n json-server: {}\n jsonlift:    {}",
                show(&theirs),
                show(&ours)
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} queries differ from json-server 0.17.4:\n\n{}",
        failures.len(),
        SAME.len() + EXTENSIONS.len(),
        failures.join("\n\n")
    );
}
