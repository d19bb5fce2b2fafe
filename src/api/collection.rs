//! Routes of a collection of records: `GET/POST /api/<c>`, `GET/PUT/PATCH/DELETE
//! /api/<c>/<id>`, `POST /api/<c>/_import`, and json-server's nested `GET /api/<c>/<id>/<other>`
//! (the records of `<other>` that refer to this one).

use axum::Extension;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;

use super::body::{json_response, ok, parse_body, parse_object};
use super::error::ApiError;
use super::{Coll, Shared, blocking, list};
use crate::audit::Actor;
use crate::json::{JsonPath, Number, Value};
use crate::schema::{Role, Schema};
use crate::store::{Records, read, write};

type Params = Query<Vec<(String, String)>>;

pub async fn list(
    State(s): State<Shared>,
    Extension(Coll(c)): Extension<Coll>,
    Query(params): Params,
) -> Result<Response, ApiError> {
    list_of(&s, c, params).await
}

async fn list_of(
    s: &Shared,
    c: usize,
    params: Vec<(String, String)>,
) -> Result<Response, ApiError> {
    let records = blocking(s, move |st| {
        let r = Records::new(st.schema(), c);
        read(st, |conn| r.list(conn))
    })
    .await?;
    Ok(list::respond(list::select(&params, records)))
}

pub async fn get(
    State(s): State<Shared>,
    Extension(Coll(c)): Extension<Coll>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let key = id.clone();
    let found = blocking(&s, move |st| {
        let r = Records::new(st.schema(), c);
        read(st, |conn| r.get(conn, &key))
    })
    .await?;
    match found {
        Some(v) => Ok(ok(&v)),
        None => Err(not_found(&s, c, &id)),
    }
}

pub async fn create(
    State(s): State<Shared>,
    Extension(Coll(c)): Extension<Coll>,
    Extension(actor): Extension<Actor>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let record = parse_object(&body, s.max_depth)?;
    let (key, stored) = blocking(&s, move |st| {
        let r = Records::new(st.schema(), c);
        write(st, |conn| r.insert(conn, record.clone(), &actor))
    })
    .await?;
    let mut res = json_response(StatusCode::CREATED, &stored);
    let location = format!("{}/{}/{}", s.prefix, s.routes[c], key);
    if let Ok(v) = HeaderValue::from_str(&location) {
        res.headers_mut().insert(header::LOCATION, v);
    }
    Ok(res)
}

pub async fn replace(
    State(s): State<Shared>,
    Extension(Coll(c)): Extension<Coll>,
    Extension(actor): Extension<Actor>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let record = parse_object(&body, s.max_depth)?;
    let (_, new) = blocking(&s, move |st| {
        let r = Records::new(st.schema(), c);
        write(st, |conn| r.replace(conn, &id, record.clone(), &actor))
    })
    .await?;
    Ok(ok(&new))
}

pub async fn patch(
    State(s): State<Shared>,
    Extension(Coll(c)): Extension<Coll>,
    Extension(actor): Extension<Actor>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let changes = parse_object(&body, s.max_depth)?;
    let new = blocking(&s, move |st| {
        let r = Records::new(st.schema(), c);
        write(st, |conn| r.patch(conn, &id, changes.clone(), &actor))
    })
    .await?;
    Ok(ok(&new))
}

pub async fn delete(
    State(s): State<Shared>,
    Extension(Coll(c)): Extension<Coll>,
    Extension(actor): Extension<Actor>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    blocking(&s, move |st| {
        let r = Records::new(st.schema(), c);
        write(st, |conn| r.delete(conn, &id, &actor))
    })
    .await?;
    // json-server answers a delete with an empty object.
    Ok(ok(&Value::Object(Vec::new())))
}

pub async fn import(
    State(s): State<Shared>,
    Extension(Coll(c)): Extension<Coll>,
    Extension(actor): Extension<Actor>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let Value::Array(records) = parse_body(&body, s.max_depth)? else {
        return Err(ApiError::bad_request(
            JsonPath::root(),
            "an import is a JSON array of records",
        ));
    };
    let keys = blocking(&s, move |st| {
        let r = Records::new(st.schema(), c);
        write(st, |conn| r.import(conn, records.clone(), &actor))
    })
    .await?;
    let out = Value::Object(vec![
        (
            "imported".into(),
            Value::Number(Number::from_i64(keys.len() as i64)),
        ),
        (
            "keys".into(),
            Value::Array(keys.into_iter().map(Value::String).collect()),
        ),
    ]);
    Ok(json_response(StatusCode::CREATED, &out))
}

/// `GET /api/posts/1/comments` = `GET /api/comments?postId=1`, as json-server does it.
pub async fn nested(
    State(s): State<Shared>,
    Extension(Coll(c)): Extension<Coll>,
    Path((id, child)): Path<(String, String)>,
    Query(mut params): Params,
) -> Result<Response, ApiError> {
    let schema = s.store.schema();
    let Some((other, field)) = s
        .routes
        .iter()
        .position(|r| *r == child)
        .and_then(|o| reference_field(schema, o, c).map(|f| (o, f)))
    else {
        return Err(ApiError::NotFound(format!(
            "no collection {child:?} refers to {}",
            s.routes[c]
        )));
    };
    params.push((field, id));
    list_of(&s, other, params).await
}

/// The top-level field of collection `from` that refers to collection `to`'s records.
fn reference_field(schema: &Schema, from: usize, to: usize) -> Option<String> {
    let target = &schema.tables[schema.collections[to].table].name;
    schema.tables[schema.collections[from].table]
        .columns
        .iter()
        .find(|col| {
            col.role == Role::Field
                && col.field_path.len() == 1
                && col
                    .references
                    .as_ref()
                    .is_some_and(|fk| fk.table == *target)
        })
        .map(|col| col.field_path[0].clone())
}

fn not_found(s: &Shared, c: usize, id: &str) -> ApiError {
    ApiError::NotFound(format!("{} has no record with key {id:?}", s.routes[c]))
}
