//! Routes of a collection of records: `GET/POST /api/<c>`, `GET/PUT/PATCH/DELETE
//! /api/<c>/<id>`, `POST /api/<c>/_import`, and json-server's nested `GET/POST
//! /api/<c>/<id>/<other>` (the records of `<other>` whose `<singular(c)>Id` is `<id>`).

use axum::Extension;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::Response;

use super::body::{json_response, ok, parse_body, parse_object};
use super::conditional::{expect, tagged};
use super::error::ApiError;
use super::query::{ListQuery, QueryError, Relations, UrlParts, pluralize};
use super::{Coll, Shared, blocking, list, point_read, visibility};
use crate::audit::Actor;
use crate::json::{JsonPath, Number, Value};
use crate::schema::{ColType, Role, Schema};
use crate::store::{Records, StoreError, read, write};

type Params = Query<Vec<(String, String)>>;

// `Uri` is the path and query as the client sent them: the router merges the collections'
// routes rather than nesting them, so nothing is stripped (json-server's `Link` needs them).

pub async fn list(
    State(s): State<Shared>,
    Extension(Coll(c)): Extension<Coll>,
    uri: Uri,
    headers: HeaderMap,
    Query(params): Params,
) -> Result<Response, ApiError> {
    list_of(
        &s,
        c,
        move || ListQuery::parse(&params),
        list::url_parts(&uri, &headers),
    )
    .await
}

/// The page; the query is parsed on the blocking thread too, since parsing compiles its
/// `_like` patterns, which may take a while (bounded: [`super::query`]'s budget per request)
/// and must not hold up an async worker serving other requests.
async fn list_of(
    s: &Shared,
    c: usize,
    parse: impl FnOnce() -> Result<ListQuery, QueryError> + Send + 'static,
    url: UrlParts,
) -> Result<Response, ApiError> {
    let max_page = s.max_page_size;
    let routes = s.routes.clone();
    let page = blocking(s, move |st| {
        let mut q = match parse() {
            Ok(q) => q,
            Err(e) => return Ok(Err(ApiError::from(e))),
        };
        if let Err(e) = visibility::check_query(st.schema(), c, &q.parts()) {
            return Ok(Err(e));
        }
        q.max_page = max_page;
        read(st, |conn| {
            list::run(st.schema(), &routes, conn, c, &q, &url)
        })
        .map(Ok)
    })
    .await??;
    Ok(list::respond(page))
}

pub async fn get(
    State(s): State<Shared>,
    Extension(Coll(c)): Extension<Coll>,
    Path(id): Path<String>,
    Query(params): Params,
) -> Result<Response, ApiError> {
    // A bad `_expand` only matters (json-server: 500) when there is a record to expand.
    let parsed = Relations::parse(&params);
    let rel = parsed.clone().unwrap_or_default();
    let key = id.clone();
    let routes = s.routes.clone();
    // `_embed`/`_expand` may read many records: only a plain get is a point read.
    let show = move |st: &dyn crate::store::Store| {
        read(st, |conn| {
            list::show(st.schema(), &routes, conn, c, &key, &rel)
        })
    };
    let plain = parsed.as_ref().is_ok_and(|r| r.is_empty());
    let found = if plain {
        point_read(&s, show).await?
    } else {
        blocking(&s, show).await?
    };
    match found {
        // The record itself: tagged with its version, which `If-Match` on a write checks.
        Some(v) if plain => Ok(tagged(ok(&v), &v)),
        Some(v) => {
            parsed?;
            Ok(ok(&v))
        }
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
    create_in(&s, c, record, actor).await
}

async fn create_in(
    s: &Shared,
    c: usize,
    record: Value,
    actor: Actor,
) -> Result<Response, ApiError> {
    visibility::writable(s.store.schema(), c)?;
    let (key, mut stored) = blocking(s, move |st| {
        let r = Records::new(st.schema(), c);
        let mut record = record;
        visibility::guard(st.schema(), c, None, &mut record, &JsonPath::root())?;
        write(st, |conn| r.insert(conn, record.clone(), &actor))
    })
    .await?;
    let tag = stored.clone();
    visibility::hide(s.store.schema(), c, &mut stored);
    let mut res = tagged(json_response(StatusCode::CREATED, &stored), &tag);
    let location = format!("{}/{}/{}", s.prefix, s.routes[c], key);
    if let Ok(v) = HeaderValue::from_str(&location) {
        res.headers_mut().insert(header::LOCATION, v);
    }
    // As json-server sends it, so browser code may read `Location`.
    res.headers_mut().insert(
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static("Location"),
    );
    Ok(res)
}

pub async fn replace(
    State(s): State<Shared>,
    Extension(Coll(c)): Extension<Coll>,
    Extension(actor): Extension<Actor>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    visibility::writable(s.store.schema(), c)?;
    let record = parse_object(&body, s.max_depth)?;
    let cond = expect(&headers);
    let (_, mut new) = blocking(&s, move |st| {
        let r = Records::new(st.schema(), c);
        write(st, |conn| {
            r.expect(conn, &id, cond.as_ref())?;
            let mut record = record.clone();
            if let Some(old) = r.get(conn, &id)? {
                visibility::guard(st.schema(), c, Some(&old), &mut record, &JsonPath::root())?;
            }
            r.replace(conn, &id, record, &actor)
        })
    })
    .await?;
    let tag = new.clone();
    visibility::hide(s.store.schema(), c, &mut new);
    Ok(tagged(ok(&new), &tag))
}

pub async fn patch(
    State(s): State<Shared>,
    Extension(Coll(c)): Extension<Coll>,
    Extension(actor): Extension<Actor>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    visibility::writable(s.store.schema(), c)?;
    let changes = parse_object(&body, s.max_depth)?;
    let cond = expect(&headers);
    let mut new = blocking(&s, move |st| {
        let r = Records::new(st.schema(), c);
        write(st, |conn| {
            r.expect(conn, &id, cond.as_ref())?;
            let mut changes = changes.clone();
            if let Some(old) = r.get(conn, &id)? {
                visibility::guard(st.schema(), c, Some(&old), &mut changes, &JsonPath::root())?;
            }
            r.patch(conn, &id, changes, &actor)
        })
    })
    .await?;
    let tag = new.clone();
    visibility::hide(s.store.schema(), c, &mut new);
    Ok(tagged(ok(&new), &tag))
}

pub async fn delete(
    State(s): State<Shared>,
    Extension(Coll(c)): Extension<Coll>,
    Extension(actor): Extension<Actor>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    visibility::writable(s.store.schema(), c)?;
    let cond = expect(&headers);
    blocking(&s, move |st| {
        let r = Records::new(st.schema(), c);
        write(st, |conn| {
            r.expect(conn, &id, cond.as_ref())?;
            r.delete(conn, &id, &actor)
        })
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
    visibility::writable(s.store.schema(), c)?;
    let Value::Array(mut records) = parse_body(&body, s.max_depth)? else {
        return Err(ApiError::bad_request(
            JsonPath::root(),
            "an import is a JSON array of records",
        ));
    };
    let keys = blocking(&s, move |st| {
        let r = Records::new(st.schema(), c);
        let mut refused = Vec::new();
        for (i, record) in records.iter_mut().enumerate() {
            let at = JsonPath::root().index(i);
            if let Err(StoreError::Invalid(e)) =
                visibility::guard(st.schema(), c, None, record, &at)
            {
                refused.extend(e);
            }
        }
        if !refused.is_empty() {
            return Err(StoreError::Invalid(refused));
        }
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

/// The collection a nested route names (`comments` in `/posts/1/comments`) and the foreign
/// key json-server derives from the parent's route: `<singular(parent)>Id` (`postId`).
fn nested_target(s: &Shared, c: usize, child: &str) -> Result<(usize, String), ApiError> {
    let other = list::collection_at(s.store.schema(), &s.routes, child).ok_or_else(|| {
        ApiError::NotFound(format!("no collection {child:?} (in a nested route)"))
    })?;
    let parent = list::route_name(&s.routes[c]);
    Ok((
        other,
        format!("{}{FOREIGN_KEY_SUFFIX}", pluralize::singular(parent)),
    ))
}

/// json-server's `--foreignKeySuffix` default.
const FOREIGN_KEY_SUFFIX: &str = "Id";

/// `GET /api/posts/1/comments` = `GET /api/comments?postId=1`, as json-server does it (the
/// parent need not exist; the other parameters apply as on the list).
pub async fn nested(
    State(s): State<Shared>,
    Extension(Coll(c)): Extension<Coll>,
    uri: Uri,
    headers: HeaderMap,
    Path((id, child)): Path<(String, String)>,
    Query(params): Params,
) -> Result<Response, ApiError> {
    let (other, _) = nested_target(&s, c, &child)?;
    let parent = list::route_name(&s.routes[c]).to_string();
    list_of(
        &s,
        other,
        move || ListQuery::parse_nested(&params, &parent, &id, FOREIGN_KEY_SUFFIX),
        list::url_parts(&uri, &headers),
    )
    .await
}

/// `POST /api/posts/1/comments` = `POST /api/comments` with `postId` set to 1, as json-server
/// does it (it keeps the field's place when the body has it, else adds it at the end). The
/// value is a number when the field's column holds integers and the id is one, else the text
/// of the id (json-server always stores the text).
pub async fn nested_create(
    State(s): State<Shared>,
    Extension(Coll(c)): Extension<Coll>,
    Extension(actor): Extension<Actor>,
    Path((id, child)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let (other, field) = nested_target(&s, c, &child)?;
    let Value::Object(mut pairs) = parse_object(&body, s.max_depth)? else {
        unreachable!("parse_object gives an object")
    };
    let value = foreign_key_value(s.store.schema(), other, &field, &id);
    match pairs.iter_mut().find(|(k, _)| *k == field) {
        Some((_, v)) => *v = value,
        None => pairs.push((field, value)),
    }
    create_in(&s, other, Value::Object(pairs), actor).await
}

/// The id from the URL as the value of top-level field `field` of collection `c`.
fn foreign_key_value(schema: &Schema, c: usize, field: &str, id: &str) -> Value {
    let integer = schema.tables[schema.collections[c].table]
        .columns
        .iter()
        .any(|col| {
            col.role == Role::Field
                && col.field_path.len() == 1
                && col.field_path[0] == field
                && col.ty == ColType::Integer
        });
    match id.parse::<i64>() {
        Ok(n) if integer && n.to_string() == id => Value::Number(Number::from_i64(n)),
        _ => Value::String(id.to_string()),
    }
}

fn not_found(s: &Shared, c: usize, id: &str) -> ApiError {
    ApiError::NotFound(format!("{} has no record with key {id:?}", s.routes[c]))
}
