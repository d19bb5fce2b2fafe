//! One error type for every handler, mapped to a status and a JSON body here and only here:
//! storage code knows nothing of HTTP.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::body::json_response;
use super::query::QueryError;
use crate::json::{JsonPath, Value};
use crate::schema::shred::FieldError;
use crate::store::StoreError;

#[derive(Debug)]
pub enum ApiError {
    /// The request itself is malformed (not JSON, wrong shape): 400.
    BadRequest(Vec<FieldError>),
    /// A record or route that does not exist: 404.
    NotFound(String),
    /// Missing or wrong credentials: 401.
    Unauthorized(String),
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
        if matches!(self, ApiError::Unauthorized(_)) {
            r.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        r
    }
}
