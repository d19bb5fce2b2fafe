//! Conditional requests (RFC 9110, section 13), so that a frontend can revalidate what it
//! cached and two editors cannot overwrite each other's changes unseen:
//! - every `GET` answer carries a strong `ETag`: a record's (and a document's) is its
//!   [`version`](crate::store::records::version), the same one a conditional write checks;
//!   a list's or `/db`'s is the hash of the exact bytes sent;
//! - `If-None-Match` on a `GET` answers 304 without a body when the tag still matches;
//! - `If-Match` on `PUT`, `PATCH` and `DELETE` is checked inside the write's transaction
//!   ([`Records::expect`](crate::store::Records::expect)): another version answers 412 and
//!   changes nothing;
//! - every answer says `Cache-Control: no-cache` (with `Pragma` and `Expires`), as json-server
//!   sends them: a browser revalidates instead of showing stale records.

use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use sha2::{Digest as _, Sha256};

use crate::json::Value;
use crate::store::records::{Expect, version};

/// The `ETag` of a record: its version, quoted.
pub fn tag_of(record: &Value) -> HeaderValue {
    HeaderValue::from_str(&format!("\"{}\"", version(record))).expect("hex is a header value")
}

/// `res` with the `ETag` of `record`.
pub fn tagged(mut res: Response, record: &Value) -> Response {
    res.headers_mut().insert(header::ETAG, tag_of(record));
    res
}

/// What `If-Match` asks of the record a write changes: `*` that it exists, else that its
/// version is one of the strong tags listed. A weak tag (`W/"…"`) never matches a write's
/// condition (strong comparison), so a list of only weak tags is refused with 412.
pub fn expect(headers: &HeaderMap) -> Option<Expect> {
    let mut tags = Vec::new();
    let mut any = false;
    for v in headers.get_all(header::IF_MATCH) {
        let text = String::from_utf8_lossy(v.as_bytes());
        for t in text.split(',').map(str::trim).filter(|t| !t.is_empty()) {
            if t == "*" {
                any = true;
            } else if !t.starts_with("W/") {
                tags.push(t.trim_matches('"').to_string());
            }
        }
        // A header present but empty still asks for a match (which nothing gives).
        if text.trim().is_empty() {
            tags.push(String::new());
        }
    }
    if any {
        Some(Expect::Exists)
    } else if headers.contains_key(header::IF_MATCH) {
        Some(Expect::Version(tags))
    } else {
        None
    }
}

/// Whether `If-None-Match` names `etag` (weak comparison: `W/` does not matter), or is `*`.
fn none_match_hits(headers: &HeaderMap, etag: &str) -> bool {
    let bare = |t: &str| {
        t.trim()
            .trim_start_matches("W/")
            .trim_matches('"')
            .to_string()
    };
    let ours = bare(etag);
    headers.get_all(header::IF_NONE_MATCH).iter().any(|v| {
        String::from_utf8_lossy(v.as_bytes())
            .split(',')
            .any(|t| t.trim() == "*" || bare(t) == ours)
    })
}

/// Adds `ETag` to `GET` answers that have none (from the bytes sent), answers 304 when
/// `If-None-Match` matches, and marks every answer `no-cache`.
pub async fn layer(req: Request, next: Next) -> Response {
    let read = matches!(*req.method(), Method::GET | Method::HEAD);
    let headers = read.then(|| req.headers().clone());
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    h.insert(header::EXPIRES, HeaderValue::from_static("-1"));
    let Some(headers) = headers else {
        return res;
    };
    let json = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with("application/json"));
    if res.status() != StatusCode::OK || !json {
        // A JSONP answer wraps the record in a script: not the representation tagged.
        res.headers_mut().remove(header::ETAG);
        return res;
    }
    if !res.headers().contains_key(header::ETAG) {
        let (parts, body) = res.into_parts();
        // Answers are built in memory (`body::json_response`): this only takes the bytes.
        let Ok(bytes) = axum::body::to_bytes(body, usize::MAX).await else {
            return Response::from_parts(parts, axum::body::Body::empty());
        };
        let hash = Sha256::digest(&bytes);
        let hex: String = hash[..16].iter().map(|b| format!("{b:02x}")).collect();
        res = Response::from_parts(parts, axum::body::Body::from(bytes));
        if let Ok(v) = HeaderValue::from_str(&format!("\"{hex}\"")) {
            res.headers_mut().insert(header::ETAG, v);
        }
    }
    let etag = res
        .headers()
        .get(header::ETAG)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    if etag.is_empty() || !none_match_hits(&headers, &etag) {
        return res;
    }
    let (mut parts, _) = res.into_parts();
    parts.status = StatusCode::NOT_MODIFIED;
    parts.headers.remove(header::CONTENT_TYPE);
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, axum::body::Body::empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(name: header::HeaderName, v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(name, HeaderValue::from_str(v).unwrap());
        h
    }

    #[test]
    fn if_match_lists_strong_tags_and_star() {
        assert!(expect(&HeaderMap::new()).is_none());
        assert!(matches!(
            expect(&with(header::IF_MATCH, "*")),
            Some(Expect::Exists)
        ));
        match expect(&with(header::IF_MATCH, r#""a", W/"b" ,"c""#)) {
            Some(Expect::Version(v)) => assert_eq!(v, ["a", "c"]),
            other => panic!("{other:?}"),
        }
        match expect(&with(header::IF_MATCH, r#"W/"b""#)) {
            Some(Expect::Version(v)) => assert!(v.is_empty()),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn if_none_match_compares_weakly() {
        let h = with(header::IF_NONE_MATCH, r#"W/"x", "y""#);
        assert!(none_match_hits(&h, r#""x""#));
        assert!(none_match_hits(&h, r#""y""#));
        assert!(!none_match_hits(&h, r#""z""#));
        assert!(none_match_hits(&with(header::IF_NONE_MATCH, "*"), r#""z""#));
    }
}
