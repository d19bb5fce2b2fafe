//! Per-request plumbing: an id (the client's `x-request-id`, or a new one) echoed in the
//! response and written to the audit log, a log line per request, and the auth decision.

use std::time::Instant;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::Shared;
use super::error::ApiError;
use crate::audit::Actor;
use crate::config::Scope;

/// The id of the request being served.
#[derive(Clone)]
pub struct RequestId(pub String);

/// A new id: random (a v4 UUID), so it says nothing of when the server started or its pid
/// (issue #18).
fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// A client's own id is taken only when it is a plain token: letters, digits, `.`, `_`, `-`,
/// `:`, at most 128 of them. Anything else (spaces, quotes, control characters) could add fields
/// to the log line it is written into, and is replaced by a new id.
fn client_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 128
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b':'))
}

/// Gives the request its id, and logs and counts it when done.
pub async fn trace(State(state): State<Shared>, mut req: Request, next: Next) -> Response {
    let id = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|s| client_id(s))
        .map(str::to_string)
        .unwrap_or_else(new_id);
    req.extensions_mut().insert(RequestId(id.clone()));
    // Two Host headers name two servers: which one a check of the first (the loopback rule)
    // and a proxy reading the second agree on is anyone's guess, so neither is taken (issue #18).
    let early = (req.headers().get_all(header::HOST).iter().count() > 1).then(|| {
        (
            axum::http::StatusCode::BAD_REQUEST,
            "a request names one host: this one has several Host headers",
        )
    });
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let t0 = Instant::now();
    let answer = match early {
        Some((status, m)) => super::error::ApiError::Refused(status, m.into()).into_response(),
        None => next.run(req).await,
    };
    let mut res = super::error::as_json(answer).await;
    let route = res.extensions().get::<super::metrics::Route>();
    let coll = route
        .and_then(|r| r.coll)
        .map(|c| state.store.schema().collections[c].name.as_str());
    state.metrics.observe(
        &method,
        route.map(|r| r.template.as_str()),
        res.status().as_u16(),
        t0.elapsed(),
        coll,
    );
    tracing::info!(
        request_id = %id,
        status = res.status().as_u16(),
        micros = t0.elapsed().as_micros() as u64,
        "{method} {path}"
    );
    if let Ok(v) = HeaderValue::from_str(&id) {
        res.headers_mut().insert("x-request-id", v);
    }
    res
}

/// Lets the request through with its [`Actor`], or answers 401 (no token, a wrong one) or 403
/// (a token whose scope does not cover the request). Reads are public unless the project
/// protects them; writes and `/_admin` always need a token (when tokens exist).
pub async fn authorize(State(state): State<Shared>, mut req: Request, next: Next) -> Response {
    let read = matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    let admin = req.uri().path().starts_with("/_admin");
    // The dashboard's page, script and style sheet hold no data, and a browser opening the
    // page has no token to send: they are served to anyone (on loopback names only, without
    // tokens), also when a link on another site leads there. The page asks for the data with
    // the user's token like any client.
    if read && super::dashboard::is_asset(req.uri().path()) {
        if !state.auth.has_tokens()
            && let Err(m) = loopback_host(&req)
        {
            return ApiError::Forbidden(m).into_response();
        }
        return next.run(req).await;
    }
    let needs = needed_scope(read, req.uri().path());
    let header = req
        .headers()
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let token = if read && !admin && !state.auth.protect_reads {
        Ok(state
            .auth
            .token(header)
            .unwrap_or((String::new(), Scope::Read)))
    } else {
        state.auth.token(header)
    };
    let name = match token {
        Ok((name, scope)) if scope >= needs => name,
        Ok((name, scope)) => {
            return ApiError::Forbidden(format!(
                "token {name} has scope {}; {} {} needs scope {} (set `scope` in [serve] tokens)",
                scope.as_str(),
                req.method(),
                req.uri().path(),
                needs.as_str()
            ))
            .into_response();
        }
        Err(m) => return ApiError::Unauthorized(m).into_response(),
    };
    if !state.auth.has_tokens() {
        if let Err(m) = loopback_host(&req) {
            return ApiError::Forbidden(m).into_response();
        }
    }
    // Another site's page may send a browser's simple requests here (a form post, or a POST
    // with an empty body, which has no content type to refuse): they carry its Origin and
    // `Sec-Fetch-Site: cross-site`. No write and no admin route takes them (issue #18).
    if !read || admin {
        if let Err(m) = same_site(&req, &state.cors) {
            return ApiError::Forbidden(m).into_response();
        }
    }
    let request_id = req
        .extensions()
        .get::<RequestId>()
        .map(|r| r.0.clone())
        .unwrap_or_default();
    if !read {
        if let Err(m) = json_body(&req) {
            return ApiError::UnsupportedMediaType(m).into_response();
        }
    }
    req.extensions_mut().insert(Actor { name, request_id });
    next.run(req).await
}

/// The scope a request needs: reads `read` (also of the server's health, metrics and API
/// description, for monitoring), writes `write`, the rest of `/_admin` (audit log, backups,
/// restores) `admin`.
fn needed_scope(read: bool, path: &str) -> Scope {
    match path.strip_prefix("/_admin") {
        Some("/health" | "/metrics" | "/openapi.json") if read => Scope::Read,
        Some(_) => Scope::Admin,
        None if read => Scope::Read,
        None => Scope::Write,
    }
}

/// A server without tokens trusts whoever reaches it, which loopback limits to this machine,
/// but a web page can reach it too through DNS rebinding (its own name made to resolve to
/// 127.0.0.1, so the browser treats the requests as same-origin). Such requests carry that
/// name in `Host`; only loopback names are served.
fn loopback_host(req: &Request) -> Result<(), String> {
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .or_else(|| req.uri().host())
        .unwrap_or("");
    let name = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => host.rsplit_once(':').map_or(host, |(h, _)| h),
    };
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    let ok = name == "localhost"
        || name.ends_with(".localhost")
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    if ok {
        Ok(())
    } else {
        Err(format!(
            "Host {host:?} is not this machine: a server without tokens answers only to localhost, 127.0.0.1 or [::1]; set JSONLIFT_TOKEN or [serve] tokens to serve other names"
        ))
    }
}

/// A body must be declared JSON (`application/json` or a `+json` type). Besides being honest,
/// this keeps other web sites out: a browser sends a cross-site POST of `text/plain` or a form
/// without asking, but one declaring JSON only after a CORS preflight this server never grants,
/// which matters most for a loopback server without tokens.
/// Refuses a request a browser sent from another site: `Sec-Fetch-Site: cross-site`, or an
/// `Origin` whose host and port are not the ones the request was sent to; unless its origin is
/// one CORS grants.
fn same_site(req: &Request, cors: &super::cors::Cors) -> Result<(), String> {
    let h = req.headers();
    // An origin the project grants (CORS) may write, from wherever its pages are served.
    if let Some(o) = h.get(header::ORIGIN).and_then(|v| v.to_str().ok()) {
        if cors.allows(o) {
            return Ok(());
        }
    }
    if h.get("sec-fetch-site")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("cross-site"))
    {
        return Err("a request another site's page sent (Sec-Fetch-Site: cross-site) cannot write or reach /_admin".into());
    }
    let Some(origin) = h.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return Ok(()); // not from a browser's page (curl, a server), or a same-origin GET
    };
    let host = h
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let origin_host = origin
        .split_once("://")
        .map_or("", |(_, rest)| rest.split('/').next().unwrap_or(""));
    if origin == "null" || !origin_host.eq_ignore_ascii_case(host) {
        return Err(format!(
            "a request from another origin ({origin}) cannot write or reach /_admin"
        ));
    }
    Ok(())
}

fn json_body(req: &Request) -> Result<(), String> {
    let h = req.headers();
    let empty = h.get(header::TRANSFER_ENCODING).is_none()
        && h.get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .is_none_or(|n| n.trim() == "0");
    // An admin action is a JSON request even when it asks for the defaults (`{}`): a browser
    // cannot send that from another site without asking first (CORS preflight).
    let admin_action = req.uri().path().starts_with("/_admin") && *req.method() == Method::POST;
    if empty && !admin_action {
        return Ok(()); // nothing to read; the route says whether it wanted a body
    }
    let ty = h
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let essence = ty
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
    {
        return Ok(());
    }
    Err(if ty.is_empty() {
        "the body needs `Content-Type: application/json`".to_string()
    } else {
        format!("the body is {ty:?}; send it as `Content-Type: application/json`")
    })
}
