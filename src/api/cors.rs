//! CORS: which other origins' pages may call this server from a browser (issue #18). A frontend
//! served by a dev server on another port (`http://localhost:5173`) is the common case, and
//! json-server grants every origin; a server on a network is stricter:
//! - a server without tokens (it listens on loopback only) grants loopback origins
//!   (`http://localhost:*`, `http://127.0.0.1:*`, `http://[::1]:*`);
//! - `[serve] cors_origins` grants more (exact origins), or every origin with `"*"`;
//! - a server with tokens grants only what `cors_origins` lists.
//!
//! Granted origins get their own origin back (and credentials); `"*"` gets `*` and never
//! credentials. Preflights are answered here, before authentication (browsers send them
//! without the token). What this grants, the cross-site check of writes lets through
//! ([`super::request`]).

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::Shared;

#[derive(Debug, Clone, Default)]
pub struct Cors {
    any: bool,
    loopback: bool,
    listed: Vec<String>,
}

/// What a list answer's headers a page may read (json-server exposes the same).
const EXPOSE: &str = "X-Total-Count, Link, Location, X-Request-Id, ETag";

impl Cors {
    pub fn new(origins: &[String], has_tokens: bool) -> Cors {
        Cors {
            any: origins.iter().any(|o| o == "*"),
            loopback: !has_tokens,
            listed: origins
                .iter()
                .filter(|o| *o != "*")
                .map(|o| o.trim_end_matches('/').to_ascii_lowercase())
                .collect(),
        }
    }

    /// Whether a page of `origin` may call this server.
    pub fn allows(&self, origin: &str) -> bool {
        let o = origin.to_ascii_lowercase();
        self.any || self.listed.contains(&o) || (self.loopback && loopback_origin(&o))
    }

    fn headers(&self, origin: &str, h: &mut HeaderMap) {
        if !self.allows(origin) {
            return;
        }
        let exact = self.listed.contains(&origin.to_ascii_lowercase())
            || (self.loopback && loopback_origin(&origin.to_ascii_lowercase()));
        if exact {
            if let Ok(v) = HeaderValue::from_str(origin) {
                h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, v);
                h.insert(
                    header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
                    HeaderValue::from_static("true"),
                );
            }
        } else {
            h.insert(
                header::ACCESS_CONTROL_ALLOW_ORIGIN,
                HeaderValue::from_static("*"),
            );
        }
        h.append(header::VARY, HeaderValue::from_static("Origin"));
    }
}

/// `http://localhost:PORT`, `http://127.0.0.1:PORT`, `http://[::1]:PORT` (any port, or none).
fn loopback_origin(o: &str) -> bool {
    let Some(rest) = o.strip_prefix("http://") else {
        return false;
    };
    let host = match rest.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => rest.split(':').next().unwrap_or(""),
    };
    matches!(host, "localhost" | "127.0.0.1" | "::1")
}

/// Answers preflights, and adds the grant to every answer to a granted origin.
pub async fn layer(State(state): State<Shared>, req: Request, next: Next) -> Response {
    let origin = req
        .headers()
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let Some(origin) = origin else {
        return next.run(req).await;
    };
    let preflight = req.method() == Method::OPTIONS
        && req
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
    if preflight {
        let mut res = StatusCode::NO_CONTENT.into_response();
        if state.cors.allows(&origin) {
            let h = res.headers_mut();
            state.cors.headers(&origin, h);
            h.insert(
                header::ACCESS_CONTROL_ALLOW_METHODS,
                HeaderValue::from_static("GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS"),
            );
            h.insert(
                header::ACCESS_CONTROL_ALLOW_HEADERS,
                HeaderValue::from_static(
                    "Authorization, Content-Type, X-Request-Id, If-Match, If-None-Match",
                ),
            );
            h.insert(
                header::ACCESS_CONTROL_MAX_AGE,
                HeaderValue::from_static("600"),
            );
        }
        return res;
    }
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    state.cors.headers(&origin, h);
    if h.contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN) {
        h.insert(
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static(EXPOSE),
        );
    }
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn who_is_granted() {
        let open = Cors::new(&[], false);
        assert!(open.allows("http://localhost:5173"));
        assert!(open.allows("http://127.0.0.1:3000"));
        assert!(open.allows("http://[::1]:8080"));
        assert!(!open.allows("http://localhost.evil.example"));
        assert!(!open.allows("https://evil.example"));
        let tokens = Cors::new(&["https://app.example".into()], true);
        assert!(tokens.allows("https://app.example"));
        assert!(!tokens.allows("http://localhost:5173"));
        assert!(Cors::new(&["*".into()], true).allows("https://anything.example"));
    }
}
