//! JSON in and out of HTTP with jsonlift's own value model, so that key order and number
//! spellings pass through untouched (serde_json would normalize them). Responses are indented
//! by two spaces, as json-server writes them.

use axum::body::Bytes;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::error::ApiError;
use crate::json::{JsonPath, Value, parse};
use crate::source::Style;

/// The request body as a JSON value (400 with the place of the error when it is not JSON).
pub fn parse_body(bytes: &Bytes, max_depth: usize) -> Result<Value, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request(
            JsonPath::root(),
            "the request has no body; send a JSON value",
        ));
    }
    parse(bytes, max_depth).map_err(|e| {
        let (line, col) = crate::json::line_col(bytes, e.offset);
        ApiError::bad_request(
            e.path.clone(),
            format!("not valid JSON at line {line}, column {col}: {}", e.message),
        )
    })
}

/// The body as an object (a record), or 400.
pub fn parse_object(bytes: &Bytes, max_depth: usize) -> Result<Value, ApiError> {
    let v = parse_body(bytes, max_depth)?;
    match v {
        Value::Object(_) => Ok(v),
        other => Err(ApiError::bad_request(
            JsonPath::root(),
            format!("expected a JSON object, found {}", other.kind()),
        )),
    }
}

fn style() -> Style {
    Style {
        indent: Some("  ".into()),
        colon: ": ".into(),
        comma: ",".into(),
        ascii: false,
        trailing_newline: false,
        crlf: false,
    }
}

/// The text of a response body.
pub fn to_text(v: &Value) -> String {
    crate::json::write::to_string_styled(v, &style(), 0)
}

pub fn json_response(status: StatusCode, v: &Value) -> Response {
    let mut r = (status, to_text(v)).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    r
}

/// 200 with a JSON body.
pub fn ok(v: &Value) -> Response {
    json_response(StatusCode::OK, v)
}
