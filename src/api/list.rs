//! Which records a list request returns, and the headers that go with them. This is the one
//! place the json-server query conventions plug in: today it keeps plain `field=value` equality
//! (repeatable, dotted paths) and ignores every other parameter; the query module replaces
//! [`select`] (its resolver for `_embed`/`_expand` reads other collections through
//! [`crate::store::Records::list`]).

use axum::http::{HeaderValue, StatusCode};
use axum::response::Response;

use super::body::json_response;
use crate::json::Value;

/// The records to send and, for paged requests, the paging headers.
pub struct Page {
    pub items: Vec<Value>,
    /// `X-Total-Count`, when paging.
    pub total: Option<usize>,
    /// `Link`, when paging.
    pub link: Option<String>,
}

/// Applies the request's parameters to the collection's records (given in source order).
pub fn select(params: &[(String, String)], records: Vec<Value>) -> Page {
    // Parameters naming a field no record has are ignored, as json-server does.
    let mut wanted: Vec<(&str, Vec<&str>)> = Vec::new();
    for (k, v) in params {
        if k.starts_with('_') || k == "q" || !records.iter().any(|r| lookup(r, k).is_some()) {
            tracing::debug!("ignoring query parameter {k:?}");
            continue;
        }
        match wanted.iter_mut().find(|(name, _)| name == k) {
            Some((_, vals)) => vals.push(v),
            None => wanted.push((k, vec![v])),
        }
    }
    let items = records
        .into_iter()
        .filter(|r| {
            wanted.iter().all(|(k, vals)| {
                lookup(r, k).is_some_and(|x| vals.iter().any(|v| text_of(x).as_deref() == Some(v)))
            })
        })
        .collect();
    Page {
        items,
        total: None,
        link: None,
    }
}

/// The value at a dotted path (`author.name`).
fn lookup<'v>(v: &'v Value, path: &str) -> Option<&'v Value> {
    path.split('.').try_fold(v, |v, k| v.get(k))
}

/// A scalar as the text a query parameter would spell it.
fn text_of(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.as_str().to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Null => Some("null".into()),
        _ => None,
    }
}

/// The response for a page: the array, plus paging headers when there are any.
pub fn respond(page: Page) -> Response {
    let mut r = json_response(StatusCode::OK, &Value::Array(page.items));
    let h = r.headers_mut();
    if let Some(total) = page.total {
        h.insert("x-total-count", HeaderValue::from(total));
        h.insert(
            "access-control-expose-headers",
            HeaderValue::from_static("X-Total-Count, Link"),
        );
    }
    if let Some(link) = page.link.and_then(|l| HeaderValue::from_str(&l).ok()) {
        h.insert("link", link);
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equality_on_fields_and_dotted_paths() {
        let recs: Vec<Value> = [
            r#"{"id": 1, "a": {"n": "x"}, "ok": true}"#,
            r#"{"id": 2, "a": {"n": "y"}, "ok": false}"#,
            r#"{"id": 3, "a": {"n": "x"}, "ok": false}"#,
        ]
        .iter()
        .map(|t| crate::json::parse(t.as_bytes(), 10).unwrap())
        .collect();
        let p = |q: &[(&str, &str)]| -> Vec<String> {
            let q: Vec<(String, String)> = q
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect();
            select(&q, recs.clone())
                .items
                .iter()
                .map(|r| crate::json::to_compact_string(r.get("id").unwrap()))
                .collect()
        };
        assert_eq!(p(&[("a.n", "x")]), ["1", "3"]);
        assert_eq!(p(&[("a.n", "x"), ("ok", "false")]), ["3"]);
        assert_eq!(p(&[("id", "1"), ("id", "2")]), ["1", "2"]);
        assert_eq!(p(&[("nosuch", "1"), ("_sort", "id")]), ["1", "2", "3"]);
    }
}
