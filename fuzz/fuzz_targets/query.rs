//! The list-query parser and evaluator on arbitrary query strings, split into pairs exactly as
//! the server does (axum's `Query` = `serde_urlencoded`), run over a small fixed set of records
//! of every JSON type: no panic, `X-Total-Count` never below the page, and without
//! `_embed`/`_expand` every item one of the records, unchanged.
#![no_main]

use std::sync::OnceLock;

use jsonlift::api::query::{self, ListQuery, Resolver, UrlParts};
use jsonlift::json::{self, Value};
use libfuzzer_sys::fuzz_target;

const RECORDS: &str = r#"[
  {"id": 1, "title": "json-server", "views": 100, "rating": 4.5, "published": true,
   "author": {"name": "typicode", "address": {"city": "Berlin"}}, "tags": ["a", "b"], "postId": 2},
  {"id": 2, "title": "JSON lift", "views": "12", "rating": null, "published": false,
   "author": null, "tags": [], "meta": {"dims": {"w": 2}, "color": "green"}},
  {"id": "3", "title": "", "views": 1e3, "rating": -0, "tags": [1, null, {"x": [true]}],
   "postId": 1, "nested": [[["deep"]]]},
  {"id": 4, "views": 0, "title": "Äpfelchen 🍎", "published": "true", "price": 12.50,
   "author": {"name": ["x", "y"]}, "empty": {}},
  {"id": 5}
]"#;

fn records() -> &'static Vec<Value> {
    static R: OnceLock<Vec<Value>> = OnceLock::new();
    R.get_or_init(|| match json::parse(RECORDS.as_bytes(), 64).unwrap() {
        Value::Array(items) => items,
        _ => unreachable!(),
    })
}

/// `posts` and `comments` are the fixed records; any other name is no collection.
struct Fixed;
impl Resolver for Fixed {
    fn records(&self, collection: &str) -> Option<Vec<Value>> {
        matches!(collection, "posts" | "comments").then(|| records().clone())
    }
}

fuzz_target!(|data: &[u8]| {
    // What `axum::extract::Query<Vec<(String, String)>>` does with the raw query string.
    let Ok(pairs) = serde_urlencoded::from_bytes::<Vec<(String, String)>>(data) else {
        return;
    };
    let Ok(q) = ListQuery::parse(&pairs) else {
        return;
    };
    let url = UrlParts {
        protocol: "http".into(),
        host: "localhost:3000".into(),
        original_url: format!("/posts?{}", String::from_utf8_lossy(data)),
    };
    let all = records();
    let page = query::run(&q, "posts", all.clone(), &Fixed, &url);
    if let Some(total) = page.total {
        assert!(total >= page.items.len(), "total {total} < {} items", page.items.len());
        assert!(total <= all.len(), "total {total} > {} records", all.len());
    }
    assert!(page.items.len() <= all.len());
    if q.relations().is_empty() {
        for item in &page.items {
            assert!(all.contains(item), "not one of the records: {item:?}");
        }
    }
});
