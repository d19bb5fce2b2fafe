//! One error type for every handler, mapped to a status and a JSON body here and only here:
//! storage code knows nothing of HTTP.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::body::json_response;
use super::query::QueryError;
use crate::json::{JsonPath, Value};
use crate::schema::shred::FieldError;
use crate::store::StoreError;

/// What a 503 asks the client to wait before trying again.
const RETRY_AFTER_SECS: &str = "1";

#[derive(Debug)]
pub enum ApiError {
    /// The request itself is malformed (not JSON, wrong shape): 400.
    BadRequest(Vec<FieldError>),
    /// A record or route that does not exist: 404.
    NotFound(String),
    /// Missing or wrong credentials: 401.
    Unauthorized(String),
    /// A request this server will not take from where it comes: 403.
    Forbidden(String),
    /// A body that does not say it is JSON: 415.
    UnsupportedMediaType(String),
    /// The server cannot serve this right now (it is restoring): 503 with `Retry-After`.
    Unavailable(String),
    /// Refused with this status and reason (the admin operations on backups).
    Refused(StatusCode, String),
    /// A list query json-server would fail on (its code throws): 400.
    Query(QueryError),
    Store(StoreError),
}

impl From<QueryError> for ApiError {
    fn from(e: QueryError) -> Self {
        ApiError::Query(e)
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        ApiError::Store(e)
    }
}

impl ApiError {
    pub fn bad_request(path: JsonPath, message: impl Into<String>) -> ApiError {
        ApiError::BadRequest(vec![FieldError {
            path,
            message: message.into(),
        }])
    }
}

fn problems(errs: &[FieldError]) -> Value {
    Value::Array(
        errs.iter()
            .map(|e| {
                Value::Object(vec![
                    ("path".into(), Value::String(e.path.to_string())),
                    ("message".into(), Value::String(e.message.clone())),
                ])
            })
            .collect(),
    )
}

fn body(error: &str, list: Option<&[FieldError]>) -> Value {
    let mut o = vec![("error".to_string(), Value::String(error.to_string()))];
    if let Some(l) = list {
        o.push(("problems".to_string(), problems(l)));
    }
    Value::Object(o)
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, value) = match &self {
            ApiError::BadRequest(e) => (
                StatusCode::BAD_REQUEST,
                body("the request body is not what this route takes", Some(e)),
            ),
            // json-server answers every miss with `{}`; the reason goes to the log.
            ApiError::NotFound(m) => {
                tracing::debug!("404: {m}");
                (StatusCode::NOT_FOUND, Value::Object(Vec::new()))
            }
            ApiError::Query(e) => (StatusCode::BAD_REQUEST, body(&e.to_string(), None)),
            ApiError::Unauthorized(m) => (StatusCode::UNAUTHORIZED, body(m, None)),
            ApiError::Forbidden(m) => (StatusCode::FORBIDDEN, body(m, None)),
            ApiError::UnsupportedMediaType(m) => {
                (StatusCode::UNSUPPORTED_MEDIA_TYPE, body(m, None))
            }
            ApiError::Unavailable(m) => (StatusCode::SERVICE_UNAVAILABLE, body(m, None)),
            ApiError::Refused(status, m) => (*status, body(m, None)),
            ApiError::Store(StoreError::Unavailable(m)) => {
                (StatusCode::SERVICE_UNAVAILABLE, body(m, None))
            }
            ApiError::Store(e @ StoreError::NotFound { .. }) => {
                tracing::debug!("404: {e}");
                (StatusCode::NOT_FOUND, Value::Object(Vec::new()))
            }
            ApiError::Store(StoreError::Invalid(e)) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                body("the record breaks the schema; nothing was written", Some(e)),
            ),
            ApiError::Store(StoreError::Conflict(e)) => (
                StatusCode::CONFLICT,
                body(
                    "the change clashes with other records; nothing was written",
                    Some(e),
                ),
            ),
            ApiError::Store(e @ StoreError::Stale { .. }) => (
                StatusCode::PRECONDITION_FAILED,
                body(&format!("If-Match: {e}; nothing was written"), None),
            ),
            ApiError::Store(e @ StoreError::TimedOut { .. }) => {
                tracing::warn!("{e}");
                (StatusCode::REQUEST_TIMEOUT, body(&e.to_string(), None))
            }
            ApiError::Store(e) if e.is_disk_full() => {
                tracing::error!("a write failed, the disk is full: {e}");
                (
                    StatusCode::INSUFFICIENT_STORAGE,
                    body(
                        &format!(
                            "the disk holding the database is full ({e}); nothing was written. Writes succeed again once there is room"
                        ),
                        None,
                    ),
                )
            }
            ApiError::Store(e) => {
                tracing::error!("request failed: {e}");
                let status = if e.is_busy() {
                    StatusCode::SERVICE_UNAVAILABLE
                } else {
                    StatusCode::INTERNAL_SERVER_ERROR
                };
                (status, body(&format!("{e}; nothing was written"), None))
            }
        };
        let mut r = json_response(status, &value);
        // A read-only collection (api/visibility.rs) says what it answers.
        if status == StatusCode::METHOD_NOT_ALLOWED {
            r.headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        }
        if matches!(self, ApiError::Unauthorized(_)) {
            r.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if matches!(
            self,
            ApiError::Unavailable(_) | ApiError::Store(StoreError::Unavailable(_))
        ) {
            r.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from_static(RETRY_AFTER_SECS),
            );
        }
        r
    }
}

/// Makes a plain-text error from outside the handlers (axum's rejections of a bad path, query
/// or oversized body) a JSON error body like every other, keeping its status and message.
pub async fn as_json(res: Response) -> Response {
    let status = res.status();
    // Only plain text is rewritten: our own JSON and JSONP (`text/javascript`) answers stay.
    let plain = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_none_or(|t| t.starts_with("text/plain"));
    if !(status.is_client_error() || status.is_server_error()) || !plain {
        return res;
    }
    let (mut parts, b) = res.into_parts();
    // Rejection texts are short; anything longer is cut rather than buffered.
    let text = axum::body::to_bytes(b, 4096).await.unwrap_or_default();
    let text = String::from_utf8_lossy(&text);
    let message = match text.trim() {
        "" => status.canonical_reason().unwrap_or("error").to_string(),
        t => t.to_string(),
    };
    let json = json_response(status, &body(&message, None));
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    Response::from_parts(parts, json.into_body())
}
