//! JSONP, as json-server 0.17.4 answers by default (it renders every response with Express's
//! `res.jsonp`): with `?callback=fn`, a JSON answer becomes the script
//! `/**/ typeof fn === 'function' && fn(<json>);` sent as `text/javascript`.

use axum::body::{Body, to_bytes};
use axum::extract::{Query, Request};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// The callback name of a request: the first `callback` parameter, when not empty.
fn callback(req: &Request) -> Option<String> {
    let Query(pairs) = Query::<Vec<(String, String)>>::try_from_uri(req.uri()).ok()?;
    pairs
        .into_iter()
        .find(|(k, _)| k == "callback" || k == "callback[]")
        .map(|(_, v)| v)
        .filter(|v| !v.is_empty())
}

/// Express's wrapping: the name keeps only `[`, `]`, `$`, `.` and word characters; U+2028 and
/// U+2029 (valid in JSON, not in older JavaScript) are escaped.
pub fn wrap(callback: &str, json: &str) -> String {
    let name: String = callback
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || "_[]$.".contains(*c))
        .collect();
    let json = json
        .replace('\u{2028}', "\\u2028")
        .replace('\u{2029}', "\\u2029");
    format!("/**/ typeof {name} === 'function' && {name}({json});")
}

/// Wraps JSON responses of requests that name a callback: collection reads only. `/_admin` is
/// never wrapped, since a script any site may include would read the audit log (old and new
/// records) and the backup paths through it (issue #18).
pub async fn layer(req: Request, next: Next) -> Response {
    if req.uri().path().starts_with("/_admin") {
        return next.run(req).await;
    }
    let Some(cb) = callback(&req) else {
        return next.run(req).await;
    };
    let res = next.run(req).await;
    let is_json = res
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if !is_json {
        return res;
    }
    let (mut parts, body) = res.into_parts();
    let Ok(bytes) = to_bytes(body, usize::MAX).await else {
        return axum::http::StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    let text = wrap(&cb, &String::from_utf8_lossy(&bytes));
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/javascript; charset=utf-8"),
    );
    parts.headers.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(text))
}

#[cfg(test)]
mod tests {
    #[test]
    fn wraps_like_express() {
        assert_eq!(
            super::wrap("cb<x>.y", "{\"a\": \"\u{2028}\"}"),
            "/**/ typeof cbx.y === 'function' && cbx.y({\"a\": \"\\u2028\"});"
        );
    }
}
