//! Where the json-server query conventions ([`super::query`], pure and in memory) meet the
//! store: the records a list request runs over (pre-selected through the columns for plain
//! `field=value` equalities, all of them otherwise; only the page's when nothing else filters
//! or sorts), a [`Resolver`] that reads the collections `_embed`/`_expand` name (only those)
//! on the same read snapshot, and the paging headers.

use std::cell::RefCell;

use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::Response;

use super::body::json_response;
use super::query::{self, FilterOp, ListQuery, Page, Parts, Relations, Resolver, UrlParts};
use super::visibility::hide_all;
use crate::json::Value;
use crate::schema::shred::Cell;
use crate::schema::{ColType, Schema};
use crate::store::records::Place;
use crate::store::{Cmp, Dialect, OrderBy, Records, StoreError, Test, Tx};

/// The collection served at `route` (or, failing that, named `name`), when it is a list of
/// records: the collections json-server would find under that db.json key.
pub fn collection_at(schema: &Schema, routes: &[String], name: &str) -> Option<usize> {
    let c = routes
        .iter()
        .position(|r| r == name)
        .or_else(|| schema.collections.iter().position(|c| c.name == name))?;
    (!Records::new(schema, c).is_document()).then_some(c)
}

/// The name json-server would know a collection by: the last segment of its route
/// (`v1/series` → `series`), from which `_embed` derives the foreign key (`seriesId`).
pub fn route_name(route: &str) -> &str {
    route.rsplit('/').next().unwrap_or(route)
}

/// Reads the collections `_embed`/`_expand` name, when they are named, on the connection of
/// the request's read. A store error is kept and reported after the query ran.
pub struct StoreResolver<'a> {
    pub schema: &'a Schema,
    pub routes: &'a [String],
    pub conn: &'a dyn Tx,
    error: RefCell<Option<StoreError>>,
}

impl<'a> StoreResolver<'a> {
    pub fn new(schema: &'a Schema, routes: &'a [String], conn: &'a dyn Tx) -> Self {
        StoreResolver {
            schema,
            routes,
            conn,
            error: RefCell::new(None),
        }
    }

    /// The first store error met while resolving, if any.
    pub fn finish(self) -> Result<(), StoreError> {
        self.error.into_inner().map_or(Ok(()), Err)
    }
}

/// Above this many values, `_embed`/`_expand` read the whole related collection rather than
/// one long `IN (…)` (SQLite caps bound parameters, and a page that large touches most rows).
const MAX_LOOKUP_VALUES: usize = 500;

impl StoreResolver<'_> {
    fn keep<T: Default>(&self, r: Result<T, StoreError>) -> T {
        r.unwrap_or_else(|e| {
            self.error.borrow_mut().get_or_insert(e);
            T::default()
        })
    }
}

impl Resolver for StoreResolver<'_> {
    fn records(&self, collection: &str) -> Option<Vec<Value>> {
        let c = collection_at(self.schema, self.routes, collection)?;
        let found = Records::new(self.schema, c).list(self.conn);
        Some(hide_all(self.schema, c, self.keep(found)))
    }

    /// Through the column (and its index) when [`Records::rowids_equal`] can tell exactly.
    fn records_matching(
        &self,
        collection: &str,
        field: &str,
        texts: &[String],
    ) -> Option<Vec<Value>> {
        let c = collection_at(self.schema, self.routes, collection)?;
        let records = Records::new(self.schema, c);
        let values: Vec<&str> = texts.iter().map(String::as_str).collect();
        let found = (|| {
            let ids = match values.len() {
                0 => Some(Vec::new()),
                n if n <= MAX_LOOKUP_VALUES => {
                    records.rowids_equal(self.conn, &[(field, values)])?
                }
                _ => None,
            };
            match ids {
                Some(ids) => records.at_rowids(self.conn, &ids),
                None => records.list(self.conn),
            }
        })();
        Some(hide_all(self.schema, c, self.keep(found)))
    }
}

/// Runs a list query on collection `c` within one read: in SQL where that gives json-server's
/// answer exactly ([`plan`]), down to `X-Total-Count` and the page's rowids, so that only the
/// page's records are built; otherwise [`query::run`], the reference, over the rows the SQL
/// part could safely select (all records when none).
pub fn run(
    schema: &Schema,
    routes: &[String],
    conn: &dyn Tx,
    c: usize,
    q: &ListQuery,
    url: &UrlParts,
) -> Result<Page, StoreError> {
    let records = Records::new(schema, c);
    let name = route_name(&routes[c]);
    let resolver = StoreResolver::new(schema, routes, conn);
    // Hidden fields are stripped before the query runs: `q` does not match inside them.
    let hide = |v| hide_all(schema, c, v);
    let page = match plan(&records, conn, &q.parts())? {
        None => query::run(q, name, hide(records.list(conn)?), &resolver, url),
        Some(plan) => match page_in_sql(&records, conn, q, &plan, url)? {
            Some((ids, total, link)) => {
                let mut items = hide(records.at_rowids(conn, &ids)?);
                query::relate(&mut items, q, name, &resolver);
                Page { items, total, link }
            }
            None => {
                let mut ids = records.select(conn, &plan.filters, &[], 0, None)?;
                if let Some(term) = ranked(&records, conn, q)? {
                    rank(&mut ids, &term);
                }
                query::run(
                    q,
                    name,
                    hide(records.at_rowids(conn, &ids)?),
                    &resolver,
                    url,
                )
            }
        },
    };
    resolver.finish()?;
    Ok(page)
}

/// The rows of a `q` search, most relevant first, when the query asks for that order
/// (`_sort=_rank`, a field no record holds: the reference's sort then keeps the order it is
/// given) and the collection's search index can give it.
fn ranked(records: &Records, tx: &dyn Tx, q: &ListQuery) -> Result<Option<Vec<i64>>, StoreError> {
    let parts = q.parts();
    match parts.q {
        Some(term) if asks_rank(&parts) && records.place(tx, RANK)? == Place::Nowhere => {
            records.search_ranked(tx, term)
        }
        _ => Ok(None),
    }
}

/// Whether `_sort=_rank` is the one sort key.
fn asks_rank(parts: &Parts) -> bool {
    matches!(parts.sort.as_slice(), [(Some(RANK), _)])
}

/// The `_sort` key that asks for a search's most relevant records first.
const RANK: &str = "_rank";

/// Puts `ids` in the order of `ranked` (rows it lacks last, in their order).
fn rank(ids: &mut [i64], ranked: &[i64]) {
    let place: std::collections::HashMap<i64, usize> =
        ranked.iter().enumerate().map(|(i, id)| (*id, i)).collect();
    ids.sort_by_key(|id| place.get(id).copied().unwrap_or(usize::MAX));
}

/// What of a list query SQL runs ([`plan`]).
#[derive(Debug)]
struct Plan {
    /// Column tests that select exactly the rows json-server's filters keep, or a superset of
    /// them that [`query::run`] narrows down (`complete` false).
    filters: Vec<(usize, Test)>,
    /// Every filter of the query is among `filters` and there is no `q`.
    complete: bool,
    /// `_sort` as SQL order, when each key can be (and `complete`).
    order: Option<Vec<(OrderBy, ColType)>>,
}

/// 2^53: beyond it JavaScript's numbers no longer hold every integer.
const SAFE: i64 = 1 << 53;

/// Which part of a query SQL can answer exactly as json-server would, comparing with
/// JavaScript's rules; `None` when no part can (then every record is built).
///
/// The rule: a filter goes to SQL when its field is a column of a text, integer, real or
/// boolean type (top level, or a dotted path into a flattened object) and, for the values
/// given, SQL's comparison on that type gives JavaScript's answer:
/// - `=`/`_ne` (JavaScript compares `String(value)`): text as is; integers and reals when the
///   value is spelled as JavaScript prints a number (other spellings match nothing), integers
///   only below 2^53; booleans `true`/`false`;
/// - `_gte`/`_lte`/`_gt`/`_lt` (JavaScript compares numbers unless both sides are text): on
///   integer and real columns the value as JavaScript reads a number (`Number(v)`), bounds
///   below 2^53; on text columns, on SQLite only (code-point order, which is JavaScript's UTF-16
///   order unless characters from U+E000 up are compared), values without such characters;
/// - never: a text value with U+0000 or U+FFFD (PostgreSQL keeps U+0000 aside as U+FFFD),
///   `_like`, fields in JSON columns, arrays, objects or `_extra`, literal dotted keys.
///
/// An `=` that cannot go to SQL keeps the whole query in memory (json-server drops an `=` on a
/// field no record holds, which a subset of the records cannot tell), as does a `_gt`/`_lt`
/// key that some record holds whole; other filters left out are applied by [`query::run`] to
/// the rows the SQL part selected. `_sort` goes to SQL when the query is otherwise complete and
/// every key is an integer, real or boolean column; [`page_in_sql`] then checks the data.
fn plan(records: &Records, tx: &dyn Tx, parts: &Parts) -> Result<Option<Plan>, StoreError> {
    let mut filters = Vec::new();
    let mut complete = true;
    let sqlite = tx.dialect() == Dialect::Sqlite;
    // `q` narrows to the search index's candidates: exactly the matches for most terms, else
    // the reference confirms each. A ranked order is the reference's too (over the candidates).
    if let Some(q) = parts.q {
        match records.search_test(tx, q)? {
            Some(found) => {
                filters.push(found.filter);
                complete = found.exact && !asks_rank(parts);
            }
            None => complete = false,
        }
    }
    for f in &parts.filters {
        if let Some(literal) = f.literal
            && (literal.contains('.') || records.place(tx, literal)? != Place::Nowhere)
        {
            return Ok(None);
        }
        let (Some(field), Some(values)) = (f.field, &f.values) else {
            if f.op == FilterOp::Eq {
                return Ok(None);
            }
            complete = false;
            continue;
        };
        let ci = match records.place(tx, field)? {
            Place::Column(ci) => ci,
            Place::Path(ci) if f.op == FilterOp::Eq => {
                let (_, path) = records.json_path(field).expect("placed on a declared path");
                let Some(texts) = path_texts(values) else {
                    return Ok(None);
                };
                // Held by no record (json-server then drops the equality), or held as an
                // array or object somewhere (`String(["Berlin"])` is "Berlin"): the records.
                let (held, not_scalar) = records.path_kinds(tx, ci, &path)?;
                if !held || not_scalar {
                    return Ok(None);
                }
                filters.push((ci, Test::JsonText(path, texts)));
                continue;
            }
            // json-server ignores an equality on a field no record holds; every other
            // filter needs the field, so nothing passes.
            Place::Nowhere if f.op == FilterOp::Eq => continue,
            Place::Nowhere if f.op != FilterOp::Like => {
                filters.push((0, Test::In(Vec::new())));
                continue;
            }
            _ if f.op == FilterOp::Eq => return Ok(None),
            _ => {
                complete = false;
                continue;
            }
        };
        match test(records.column_type(ci), f.op, values, sqlite) {
            Some(t) => {
                // A column without any value: whether the field is held (so whether
                // json-server applies the equality) only the records can tell.
                if f.op == FilterOp::Eq && !records.any_value(tx, ci)? {
                    return Ok(None);
                }
                filters.push((ci, t));
            }
            None if f.op == FilterOp::Eq => return Ok(None),
            None => complete = false,
        }
    }
    let mut order = Some(Vec::new());
    if !complete {
        order = None;
    }
    for (field, desc) in &parts.sort {
        let Some(keys) = order.as_mut() else { break };
        let place = match field {
            Some(field) => records.place(tx, field)?,
            None => Place::Records,
        };
        match place {
            // Every record's value is `undefined`: the key orders nothing.
            Place::Nowhere => {}
            // Text: on SQLite, in JavaScript's UTF-16 order through a collation; PostgreSQL
            // keeps U+0000 aside as U+FFFD, which sorts elsewhere.
            Place::Column(ci)
                if matches!(
                    records.column_type(ci),
                    ColType::Integer | ColType::Real | ColType::Boolean
                ) || (sqlite && records.column_type(ci) == ColType::Text) =>
            {
                keys.push((
                    OrderBy {
                        col: ci,
                        desc: *desc,
                        nulls: true,
                    },
                    records.column_type(ci),
                ))
            }
            _ => order = None,
        }
    }
    Ok(Some(Plan {
        filters,
        complete,
        order,
    }))
}

/// The texts `String(value) === v` holds for at a JSON path ([`Test::JsonText`]), when only
/// a JSON string can print as `v`: `None` for a value a number, a boolean or `null` prints as
/// (`5`, `true`, `null`), an object's `[object Object]`, and U+0000 or U+FFFD (PostgreSQL).
fn path_texts(values: &[&str]) -> Option<Vec<Cell<'static>>> {
    use query::js::{number_to_string, string_to_number};
    values
        .iter()
        .map(|v| {
            let n = string_to_number(v);
            let number = n.is_finite() && number_to_string(n) == *v;
            let other = matches!(*v, "true" | "false" | "null" | "[object Object]" | "NaN")
                || v.contains(['\0', '\u{FFFD}']);
            (!number && !other).then(|| Cell::Text(v.to_string().into()))
        })
        .collect()
}

/// The SQL test for a filter `op` with `values` on a column of type `ty`, when it gives
/// JavaScript's answer exactly ([`plan`] has the rule).
fn test(ty: ColType, op: FilterOp, values: &[&str], sqlite: bool) -> Option<Test> {
    use query::js::{number_to_string, string_to_number};
    // The cell `String(value) === v` holds for, `Some(None)` when no value prints so.
    let equal = |v: &str| -> Option<Option<Cell<'static>>> {
        let n = string_to_number(v);
        let prints_so = n.is_finite() && number_to_string(n) == v;
        Some(match ty {
            ColType::Text if v.contains(['\0', '\u{FFFD}']) => return None,
            ColType::Text => Some(Cell::Text(v.to_string().into())),
            // JavaScript prints integers beyond 2^53 rounded, which SQL cannot follow.
            ColType::Integer if prints_so && n.abs() >= SAFE as f64 => return None,
            ColType::Integer => (prints_so && n.fract() == 0.0).then(|| Cell::Int(n as i64)),
            ColType::Real => prints_so.then_some(Cell::Real(n)),
            ColType::Boolean => match v {
                "true" => Some(Cell::Int(1)),
                "false" => Some(Cell::Int(0)),
                _ => None,
            },
            ColType::Json => return None,
        })
    };
    let cmp = match op {
        FilterOp::Eq | FilterOp::Ne => {
            let cells: Vec<Cell> = values
                .iter()
                .map(|v| equal(v))
                .collect::<Option<Vec<_>>>()?
                .into_iter()
                .flatten()
                .collect();
            return Some(if op == FilterOp::Eq {
                Test::In(cells)
            } else {
                Test::NotIn(cells)
            });
        }
        FilterOp::Like => return None,
        // `v <= value` is `value >= v`, and so on: the column is on the left.
        FilterOp::Gte => Cmp::Ge,
        FilterOp::Lte => Cmp::Le,
        FilterOp::Gt => Cmp::Gt,
        FilterOp::Lt => Cmp::Lt,
    };
    let mut any = Vec::new();
    for v in values {
        match ty {
            ColType::Integer | ColType::Real => {
                let n = string_to_number(v);
                if n.is_nan() {
                    continue; // compares false with everything
                }
                if n.is_infinite() {
                    // Every value is below +Infinity and above -Infinity.
                    if (n > 0.0) == matches!(cmp, Cmp::Le | Cmp::Lt) {
                        any.push(match ty {
                            ColType::Integer => (Cmp::Ge, Cell::Int(i64::MIN)),
                            _ => (Cmp::Ge, Cell::Real(f64::NEG_INFINITY)),
                        });
                    }
                    continue;
                }
                if n.abs() >= SAFE as f64 {
                    return None;
                }
                any.push(match ty {
                    // An integer compared with a fraction: with the integer next to it.
                    ColType::Integer => match cmp {
                        Cmp::Ge | Cmp::Lt => (cmp, Cell::Int(n.ceil() as i64)),
                        Cmp::Le | Cmp::Gt => (cmp, Cell::Int(n.floor() as i64)),
                    },
                    _ => (cmp, Cell::Real(n)),
                });
            }
            ColType::Text if sqlite && !v.chars().any(|c| c >= '\u{E000}' || c == '\0') => {
                any.push((cmp, Cell::Text(v.to_string().into())))
            }
            _ => return None,
        }
    }
    Some(Test::Compare(any))
}

/// The page in SQL ([`plan`]'s filters and order): its rowids, `X-Total-Count` and `Link`;
/// `None` when the data makes SQL's order differ from JavaScript's: integers beyond 2^53 in a
/// sort column (JavaScript rounds them, so some compare equal), or `null` or missing values
/// among the rows sorted (a column's NULL is both, which lodash orders apart: `null` before
/// missing) unless the page lies before them (after them, descending) with one sort key.
fn page_in_sql(
    records: &Records,
    tx: &dyn Tx,
    q: &ListQuery,
    plan: &Plan,
    url: &UrlParts,
) -> Result<Option<(Vec<i64>, Option<usize>, Option<String>)>, StoreError> {
    let Some(order) = plan.order.as_ref().filter(|_| plan.complete) else {
        return Ok(None);
    };
    // First over the whole column, which an index answers without reading the rows: only
    // when some row has NULL or a big integer there are the rows selected counted for them.
    let mut also = Vec::new();
    for (o, ty) in order {
        also.push((o.col, Test::Null));
        if *ty == ColType::Integer {
            let big = vec![(Cmp::Gt, Cell::Int(SAFE)), (Cmp::Lt, Cell::Int(-SAFE))];
            also.push((o.col, Test::Compare(big)));
        }
    }
    let mut irregular = false;
    for (col, test) in &also {
        irregular |= records.tally(tx, &[(*col, test.clone())], &[])?.0 > 0;
    }
    let (count, counts) = if irregular {
        records.tally(tx, &plan.filters, &also)?
    } else {
        let count = records.tally(tx, &plan.filters, &[])?.0;
        (count, vec![0; also.len()])
    };
    let mut nulls = 0;
    let mut i = 0;
    for (_, ty) in order {
        nulls = nulls.max(counts[i]);
        i += 1;
        if *ty == ColType::Integer {
            if counts[i] > 0 {
                return Ok(None);
            }
            i += 1;
        }
    }
    let (range, total, link) = q.window(count as usize, url);
    let range = range.start.min(range.end)..range.end;
    if nulls > 0 {
        let before = match order.as_slice() {
            [(o, _)] if !o.desc => range.end as u64 <= count - nulls,
            [_] => range.start as u64 >= nulls,
            _ => false,
        };
        if !before && !range.is_empty() {
            return Ok(None);
        }
    }
    let orders: Vec<OrderBy> = order
        .iter()
        .map(|(o, _)| OrderBy {
            nulls: nulls > 0,
            ..*o
        })
        .collect();
    let ids = if range.is_empty() {
        Vec::new()
    } else {
        records.select(
            tx,
            &plan.filters,
            &orders,
            range.start as u64,
            Some(range.len() as u64),
        )?
    };
    Ok(Some((ids, total, link)))
}

/// `GET /<c>/<id>` with `_embed`/`_expand`, within one read: `None` when no record has the key.
pub fn show(
    schema: &Schema,
    routes: &[String],
    conn: &dyn Tx,
    c: usize,
    key: &str,
    rel: &Relations,
) -> Result<Option<Value>, StoreError> {
    let Some(mut record) = Records::new(schema, c).get(conn, key)? else {
        return Ok(None);
    };
    super::visibility::hide(schema, c, &mut record);
    if rel.is_empty() {
        return Ok(Some(record));
    }
    let resolver = StoreResolver::new(schema, routes, conn);
    let record = query::show(record, rel, route_name(&routes[c]), &resolver);
    resolver.finish()?;
    Ok(Some(record))
}

/// The parts of the request json-server builds `Link` from: `http`, the `Host` header, and
/// the path and query exactly as sent.
pub fn url_parts(uri: &Uri, headers: &HeaderMap) -> UrlParts {
    UrlParts {
        protocol: "http".into(),
        host: headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or_default()
            .to_string(),
        original_url: uri
            .path_and_query()
            .map_or_else(|| uri.path().to_string(), |p| p.as_str().to_string()),
    }
}

/// The response for a page: the array, plus `X-Total-Count`, `Link` and
/// `Access-Control-Expose-Headers` exactly when json-server sends them.
pub fn respond(page: Page) -> Response {
    let expose = page.expose_headers();
    let mut r = json_response(StatusCode::OK, &Value::Array(page.items));
    let h = r.headers_mut();
    if let Some(total) = page.total {
        h.insert("x-total-count", HeaderValue::from(total));
    }
    if let Some(link) = page.link.and_then(|l| HeaderValue::from_str(&l).ok()) {
        h.insert(header::LINK, link);
    }
    if let Some(e) = expose {
        h.insert(
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static(e),
        );
    }
    r
}

#[cfg(test)]
mod tests {
    //! The column path ([`Records::list_equal`]) against the reference, [`query::run`] over
    //! every record: the same page for every query, on data built to tell them apart.

    use std::path::Path;

    use super::*;
    use crate::config::Project;
    use crate::migrate::{Options, Progress, migrate};
    use crate::store::{SqliteStore, Store, read};

    const FIELDS: &str = r#"
n = { type = "integer", index = true }
s = "text"
d = "date"
none = "integer"
ok = "boolean"
tags = { type = "array", of = "text" }
a = { type = "object", flatten = true, fields = { b = "text" } }
[collections.posts.fields.kids]
type = "array"
table = "kids"
[collections.posts.fields.kids.fields]
k = "text"
[collections.comments]
source = "db.json"
member = "comments"
key = "id"
[collections.comments.fields]
id = { type = "integer", required = true }
postId = { type = "integer", index = true }
m = { type = "object", flatten = true, fields = { n = "text" } }
"#;

    const DB: &str = r#"{"posts": [
  {"id": 1, "n": 1, "s": "1", "d": "2024-01-02", "ok": true, "tags": ["t"], "a": {"b": "x"},
   "kids": [{"k": "1"}]},
  {"id": 2, "n": 1, "s": "01", "d": "2024-01-03", "ok": false, "a": {"b": "y"}, "kids": []},
  {"id": 3, "n": 2, "s": "", "x": 1, "a": null},
  {"id": 4, "n": -0, "s": "Ä", "none": null, "ok": true, "a": {"b": "x"}},
  {"id": 5, "n": null, "s": null, "tags": []},
  {"id": 6, "s": "a b", "a.c": 1},
  {"id": 7, "n": 9007199254740993, "s": "x"},
  {"id": 8, "n": 10, "s": "1", "d": "2024-01-02"}
],
"comments": [{"id": 1, "postId": 1}, {"id": 2, "postId": 8}, {"id": 3, "postId": 1},
  {"id": 4, "postId": 4, "m": {"n": "w"}}, {"id": 5, "m.n": "z"}, {"id": 6, "postId": 7}]}"#;

    fn store(dir: &Path) -> SqliteStore {
        store_of(dir, &format!("{POSTS_HEAD}{FIELDS}"), DB)
    }

    /// A store migrated from `db` (a db.json) with project file `toml`.
    fn store_of(dir: &Path, toml: &str, db: &str) -> SqliteStore {
        std::fs::write(dir.join("jsonlift.toml"), toml).unwrap();
        std::fs::write(dir.join("db.json"), db).unwrap();
        let p = Project::load(&dir.join("jsonlift.toml")).unwrap();
        let opts = Options {
            dry_run: false,
            reimport: false,
            progress: Progress::auto(true),
            database_backups: true,
        };
        let report = migrate(&p, &opts).unwrap();
        assert!(report.ok, "{:?}\n{db}", report.problems);
        SqliteStore::open(&p, crate::schema::Schema::build(&p).unwrap()).unwrap()
    }

    /// The reference resolver: whole collections only.
    struct Everything<'a>(StoreResolver<'a>);
    impl Resolver for Everything<'_> {
        fn records(&self, collection: &str) -> Option<Vec<Value>> {
            self.0.records(collection)
        }
    }

    fn pairs(query: &str) -> Vec<(String, String)> {
        query
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|p| {
                let (k, v) = p.split_once('=').unwrap_or((p, ""));
                (k.to_string(), v.to_string())
            })
            .collect()
    }

    #[test]
    fn column_path_answers_like_the_reference() {
        let dir = tempfile::tempdir().unwrap();
        let st = store(dir.path());
        let schema = st.schema();
        let routes = vec!["posts".to_string(), "comments".to_string()];
        // (query, whether the rows are chosen through the columns; the page alone is built when
        // nothing but equalities and paging is asked)
        let cases = [
            (0, "n=1", true),
            (0, "n=1&n=10", true),
            (0, "n=0", true),
            (0, "n=-0", false),
            (0, "n=01", false),
            (0, "n=1e0", false),
            (0, "n=9007199254740992", false),
            (0, "n=1&_sort=s&_order=desc&_page=1&_limit=2", true),
            (0, "n=1&s_like=1&q=1", true),
            (0, "n=1&s=01", true),
            (0, "s=1", true),
            (0, "s=", true),
            (0, "s=%C3%84", true),
            (0, "s=a b", true),
            (0, "s=nosuch", true),
            (0, "d=2024-01-02&_embed=comments", true),
            (0, "_embed=comments", true),
            (0, "_embed=comments&_embed=posts&_page=1&_limit=4", true),
            (0, "none=1", false),
            (0, "nosuch=1", true),
            (0, "nosuch=1&_page=2&_limit=3", true),
            (0, "_page=2&_limit=3&_embed=comments", true),
            (0, "_page=9&_limit=3", true),
            (0, "_start=1&_end=4", true),
            (0, "_start=-2&_limit=5", true),
            (0, "n=1&_page=1&_limit=1", true),
            (0, "n=1&_limit=1&_sort=id&_order=desc", true),
            (0, "_limit=2&_sort=s", false),
            (0, "q=1&_page=1", true),
            (0, "s_like=1&_page=1", true),
            (0, "s_like=1&_limit=1", false),
            (0, "x=1", false),
            (0, "id=8", true),
            (0, "n_gt=1", false),
            (0, "n=1&id_lt=3", false),
            (0, "n=1&id_ne=2&_start=1&_end=5", true),
            (0, "a.b=x", true),
            (0, "a.b=x&ok=true&_page=1&_limit=1", true),
            (0, "ok=false", true),
            (0, "ok=1", true),
            (0, "tags=t", false),
            (0, "kids=1", false),
            (0, "kids.0.k=1", false),
            (0, "a=x", false),
            (0, "a.c=1", false),
            (1, "m.n=z", false),
            (1, "m.n=w&_page=1", false),
            (1, "_expand=post", true),
            (1, "_expand=post&_page=2&_limit=2", true),
            (1, "postId=1&_expand=post", true),
            (1, "_expand=post&_sort=id&_order=desc", false),
        ];
        let url = UrlParts {
            protocol: "http".into(),
            host: "h".into(),
            original_url: "/posts?x".into(),
        };
        for (c, query, pushed) in cases {
            let q = ListQuery::parse(&pairs(&query.replace("%C3%84", "Ä"))).unwrap();
            let (fast, reference, used) = read(&st, |conn| {
                let records = Records::new(schema, c);
                let used = match q.equalities() {
                    Some(e) if !e.is_empty() || q.positional() => {
                        records.rowids_equal(conn, &e)?.is_some()
                    }
                    _ => false,
                };
                let fast = run(schema, &routes, conn, c, &q, &url)?;
                let resolver = Everything(StoreResolver::new(schema, &routes, conn));
                let reference = query::run(&q, &routes[c], records.list(conn)?, &resolver, &url);
                Ok((fast, reference, used))
            })
            .unwrap();
            assert_eq!(fast, reference, "{query}");
            assert_eq!(used, pushed, "{query}: column path used");
        }
    }

    /// Which records a request builds, told without timing: one record is made unreadable, and
    /// every request that need not build it still answers.
    #[test]
    fn requests_build_only_the_records_they_answer_with() {
        let dir = tempfile::tempdir().unwrap();
        let st = store(dir.path());
        let schema = st.schema();
        let routes = vec!["posts".to_string(), "comments".to_string()];
        crate::store::testing::TestDb::open(&dir.path().join("t.db")).run(
            "PRAGMA ignore_check_constraints = ON;
             UPDATE posts SET _meta = 'not json' WHERE id = 7;",
        );
        let url = UrlParts {
            protocol: "http".into(),
            host: "h".into(),
            original_url: "/posts".into(),
        };
        let answer = |c: usize, query: &str| {
            let q = ListQuery::parse(&pairs(query)).unwrap();
            read(&st, |conn| run(schema, &routes, conn, c, &q, &url)).map(|p| p.items.len())
        };
        for (c, query, len) in [
            (0, "_page=1&_limit=3", 3),
            (0, "_page=2&_limit=3", 3),
            (0, "n=1&_embed=comments", 2),
            (0, "_start=7&_end=8", 1),
            (1, "_expand=post&_limit=3", 3),
            (1, "postId=8&_expand=post", 1),
        ] {
            let got = answer(c, query);
            assert_eq!(got.as_ref().ok(), Some(&len), "{query}: {got:?}");
        }
        assert!(answer(0, "s_like=x").is_err(), "record 7 is unreadable");
        assert!(answer(0, "_page=3&_limit=3&q=x").is_err());
        let one = read(&st, |conn| {
            show(
                schema,
                &routes,
                conn,
                0,
                "8",
                &Relations::parse(&pairs("_embed=comments")).unwrap(),
            )
        });
        assert!(one.unwrap().is_some());
    }

    /// A small seeded generator (xorshift64*): the property test below needs reproducible
    /// random data, not a crate.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
        fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
            xs[self.below(xs.len())]
        }
    }

    const PROP_FIELDS: &str = r#"
n = { type = "integer", index = true }
r = "real"
s = "text"
ok = "boolean"
a = { type = "object", flatten = true, fields = { b = "text", c = "integer" } }
"#;

    /// SQL and the reference agree on random records (numbers past 2^53, `-0`, fractions,
    /// text with astral characters and U+E000.., empty text, `null` and missing values, an
    /// unnamed field of mixed types in `_extra`) and random queries (every operator, values
    /// spelled every way, several sort keys, every paging form): the same items in the same
    /// order, the same `X-Total-Count` and `Link`. It also requires that each way (all in
    /// SQL, SQL then memory, memory) was taken often, so that agreement is not vacuous.
    #[test]
    fn sql_answers_like_the_reference_on_random_data() {
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        let ints = [
            "0",
            "1",
            "-1",
            "2",
            "10",
            "-0",
            "3",
            "9007199254740993",
            "-9007199254740993",
            "123",
            "7",
        ];
        let reals = ["0", "-0.0", "0.5", "1", "1.5", "-2.25", "1e21", "10", "0.1"];
        let texts = [
            "",
            "a",
            "B",
            "b",
            "10",
            "9",
            " 1",
            "1",
            "é",
            "\u{E000}",
            "😀",
            "a😀",
            "a\u{FFFF}",
            "true",
            "ab",
            "Z",
        ];
        let dir = tempfile::tempdir().unwrap();
        let mut records = Vec::new();
        for id in 1..=90 {
            let mut fields = vec![format!("\"id\": {id}")];
            let mut maybe = |rng: &mut Rng, name: &str, v: String| match rng.below(6) {
                0 => {}
                1 => fields.push(format!("\"{name}\": null")),
                _ => fields.push(format!("\"{name}\": {v}")),
            };
            let v = rng.pick(&ints).to_string();
            maybe(&mut rng, "n", v);
            let v = rng.pick(&reals).to_string();
            maybe(&mut rng, "r", v);
            let v = serde_json_string(rng.pick(&texts));
            maybe(&mut rng, "s", v);
            let v = ["true", "false"][rng.below(2)].to_string();
            maybe(&mut rng, "ok", v);
            if rng.below(4) > 0 {
                let b = serde_json_string(rng.pick(&texts));
                let c = rng.pick(&ints);
                fields.push(format!("\"a\": {{\"b\": {b}, \"c\": {c}}}"));
            }
            if rng.below(5) == 0 {
                let x = ["1", "\"1\"", "true", "null", "\"b\"", "2.5"][rng.below(6)];
                fields.push(format!("\"x\": {x}"));
            }
            records.push(format!("{{{}}}", fields.join(", ")));
        }
        let db = format!("{{\"posts\": [{}]}}", records.join(",\n"));
        let st = store_of(dir.path(), &format!("{POSTS_HEAD}{PROP_FIELDS}"), &db);
        let schema = st.schema();
        let routes = vec!["posts".to_string()];
        let fields = ["n", "r", "s", "ok", "a.b", "a.c", "x", "id", "nosuch"];
        let ops = ["", "", "_ne", "_gte", "_lte", "_gt", "_lt", "_like"];
        let values: Vec<&str> = ints
            .iter()
            .chain(&reals)
            .chain(&texts)
            .chain(&[
                "false",
                "1.0",
                "abc",
                "Infinity",
                "-Infinity",
                "1e3",
                " 5 ",
                "0x10",
            ])
            .copied()
            .collect();
        let (mut sql, mut pre, mut memory) = (0, 0, 0);
        for _ in 0..2000 {
            let mut pairs: Vec<(String, String)> = Vec::new();
            for _ in 0..rng.below(3) {
                let key = format!("{}{}", rng.pick(&fields), rng.pick(&ops));
                for _ in 0..1 + rng.below(2) {
                    let v = rng.pick(&values);
                    let v = if key.ends_with("_like") { "^a" } else { v };
                    pairs.push((key.clone(), v.to_string()));
                }
            }
            if rng.below(3) > 0 {
                let keys: Vec<&str> = (0..1 + rng.below(2)).map(|_| rng.pick(&fields)).collect();
                pairs.push(("_sort".into(), keys.join(",")));
                let orders: Vec<&str> = keys
                    .iter()
                    .map(|_| rng.pick(&["asc", "desc", "DESC"]))
                    .collect();
                pairs.push(("_order".into(), orders.join(",")));
            }
            match rng.below(5) {
                0 => {
                    pairs.push(("_page".into(), (1 + rng.below(4)).to_string()));
                    pairs.push(("_limit".into(), (1 + rng.below(30)).to_string()));
                }
                1 => {
                    pairs.push(("_start".into(), (rng.below(40) as i64 - 10).to_string()));
                    pairs.push(("_end".into(), (rng.below(60) as i64 - 5).to_string()));
                }
                2 => {
                    pairs.push(("_start".into(), rng.below(30).to_string()));
                    pairs.push(("_limit".into(), rng.below(20).to_string()));
                }
                3 if rng.below(4) == 0 => pairs.push(("q".into(), "a".into())),
                _ => {}
            }
            let Ok(q) = ListQuery::parse(&pairs) else {
                continue;
            };
            let url = UrlParts {
                protocol: "http".into(),
                host: "h".into(),
                original_url: "/posts?_page=1".into(),
            };
            let (fast, reference, way) = read(&st, |conn| {
                let records = Records::new(schema, 0);
                let way = match plan(&records, conn, &q.parts())? {
                    None => 0,
                    Some(p) => match page_in_sql(&records, conn, &q, &p, &url)? {
                        Some(_) => 2,
                        None => 1,
                    },
                };
                let fast = run(schema, &routes, conn, 0, &q, &url)?;
                let resolver = Everything(StoreResolver::new(schema, &routes, conn));
                let reference = query::run(&q, "posts", records.list(conn)?, &resolver, &url);
                Ok((fast, reference, way))
            })
            .unwrap();
            assert_eq!(fast, reference, "{pairs:?}\n{db}");
            match way {
                0 => memory += 1,
                1 => pre += 1,
                _ => sql += 1,
            }
        }
        assert!(
            sql > 200 && pre > 200 && memory > 70,
            "{sql} {pre} {memory}"
        );
    }

    /// The project file of one collection `posts` keyed by an integer `id`, up to its fields.
    const POSTS_HEAD: &str = r#"
database = "t.db"
[collections.posts]
source = "db.json"
member = "posts"
key = "id"
search = true
[collections.posts.fields]
id = { type = "integer", required = true }
"#;

    const SEARCH_FIELDS: &str = r#"
title = "text"
n = { type = "real", index = true }
a = { type = "object", flatten = true, fields = { b = "text" } }
"#;

    /// A random text from pieces chosen to tell case folding apart (JavaScript's
    /// `toLowerCase` against Unicode's simple folding: `İ`, `ẞ`, final `Σ`, the Kelvin sign),
    /// with quotes, FTS5 syntax and line ends.
    fn random_text(rng: &mut Rng) -> String {
        let pieces = [
            "a", "B", "ab", "Ab", "abc", "ABC", "é", "É", "İ", "i̇", "ß", "ẞ", "ss", "Σ", "σ", "ς",
            "\u{212A}", "k", "😀", "\"", "\n", " ", "OR", "*", "-", "x", "é😀", "1", "0",
        ];
        (0..rng.below(7)).map(|_| rng.pick(&pieces)).collect()
    }

    /// A random JSON value for a field: text, numbers JavaScript prints otherwise than they
    /// are written, booleans, null, and arrays and objects of them.
    fn random_json(rng: &mut Rng, depth: usize) -> String {
        match rng.below(if depth > 1 { 5 } else { 7 }) {
            0 | 1 => serde_json_string(&random_text(rng)),
            2 => rng
                .pick(&["100", "1e21", "1.50", "0", "-0", "0.1", "1e3", "12"])
                .to_string(),
            3 => rng.pick(&["true", "false"]).to_string(),
            4 => "null".to_string(),
            5 => {
                let items: Vec<String> = (0..rng.below(3))
                    .map(|_| random_json(rng, depth + 1))
                    .collect();
                format!("[{}]", items.join(", "))
            }
            _ => {
                let items: Vec<String> = (0..rng.below(3))
                    .map(|i| format!("\"k{i}\": {}", random_json(rng, depth + 1)))
                    .collect();
                format!("{{{}}}", items.join(", "))
            }
        }
    }

    fn random_record(rng: &mut Rng, id: usize) -> String {
        let mut fields = vec![format!("\"id\": {id}")];
        if rng.below(5) > 0 {
            fields.push(format!(
                "\"title\": {}",
                serde_json_string(&random_text(rng))
            ));
        }
        if rng.below(3) > 0 {
            let n = rng.pick(&["100", "1e21", "1.5", "0.1", "12", "-3", "null"]);
            fields.push(format!("\"n\": {n}"));
        }
        if rng.below(3) > 0 {
            fields.push(format!(
                "\"a\": {{\"b\": {}}}",
                serde_json_string(&random_text(rng))
            ));
        }
        for name in ["tags", "meta"] {
            if rng.below(2) > 0 {
                fields.push(format!("\"{name}\": {}", random_json(rng, 0)));
            }
        }
        format!("{{{}}}", fields.join(", "))
    }

    /// `q` through the search index and the reference agree on random records and random terms
    /// (pieces of the records' own texts, re-cased, and random ones), also after random
    /// inserts, replacements and deletes through [`Records`] (the index kept in step in the
    /// same transaction), with filters, sorts and pages alongside. It requires that the index
    /// answered most queries, and that candidates it gave were sometimes not matches (so the
    /// confirmation is exercised, not only the index).
    #[test]
    fn search_answers_like_the_reference_on_random_data() {
        let mut rng = Rng(0x2545_F491_4F6C_DD1D);
        let dir = tempfile::tempdir().unwrap();
        let records: Vec<String> = (1..=60).map(|id| random_record(&mut rng, id)).collect();
        let db = format!("{{\"posts\": [{}]}}", records.join(",\n"));
        let st = store_of(dir.path(), &format!("{POSTS_HEAD}{SEARCH_FIELDS}"), &db);
        let schema = st.schema();
        let routes = vec!["posts".to_string()];
        let actor = crate::audit::Actor {
            name: "test".into(),
            request_id: "t".into(),
        };
        let url = UrlParts {
            protocol: "http".into(),
            host: "h".into(),
            original_url: "/posts".into(),
        };
        let (mut indexed, mut confirmed_away, mut matched, mut in_sql) = (0, 0, 0, 0);
        let mut next_id = 61;
        for round in 0..1500 {
            if round % 10 == 0 {
                // A write of each kind, as the API and the sync make them.
                crate::store::write(&st, |tx| {
                    let r = Records::new(schema, 0);
                    let v = random_record(&mut rng, next_id);
                    r.insert(tx, crate::json::parse(v.as_bytes(), 64).unwrap(), &actor)?;
                    let keys: Vec<String> = r.list_keyed(tx)?.into_iter().map(|(k, _)| k).collect();
                    let k = &keys[rng.below(keys.len())];
                    let v = random_record(&mut rng, k.parse().unwrap());
                    r.replace(tx, k, crate::json::parse(v.as_bytes(), 64).unwrap(), &actor)?;
                    let k = &keys[rng.below(keys.len())];
                    if rng.below(2) == 0 {
                        r.delete(tx, k, &actor)?;
                    }
                    Ok(())
                })
                .unwrap();
                next_id += 1;
            }
            let term = match rng.below(3) {
                0 => random_text(&mut rng),
                _ => {
                    // A piece of some record's text, in another case.
                    let all = read(&st, |tx| Records::new(schema, 0).list(tx)).unwrap();
                    let text = query::search_text(&all[rng.below(all.len())]);
                    let chars: Vec<char> = text.chars().collect();
                    let from = rng.below(chars.len().max(1));
                    let len = 1 + rng.below(6);
                    let piece: String = chars.iter().skip(from).take(len).collect();
                    if rng.below(2) == 0 {
                        piece.to_uppercase()
                    } else {
                        piece
                    }
                }
            };
            let mut pairs = vec![("q".to_string(), term.clone())];
            match rng.below(4) {
                0 => pairs.push(("n_gte".into(), "1".into())),
                1 => {
                    pairs.push(("_sort".into(), "n".into()));
                    pairs.push(("_page".into(), "1".into()));
                    pairs.push(("_limit".into(), "3".into()));
                }
                _ => {}
            }
            let Ok(q) = ListQuery::parse(&pairs) else {
                continue;
            };
            let (fast, reference, candidates) = read(&st, |conn| {
                let records = Records::new(schema, 0);
                let candidates = match records.search_test(conn, q.parts().q.unwrap_or(""))? {
                    Some(found) => Some((
                        records.select(conn, &[found.filter], &[], 0, None)?.len(),
                        found.exact,
                    )),
                    None => None,
                };
                let fast = run(schema, &routes, conn, 0, &q, &url)?;
                let resolver = Everything(StoreResolver::new(schema, &routes, conn));
                let reference = query::run(&q, "posts", records.list(conn)?, &resolver, &url);
                Ok((fast, reference, candidates))
            })
            .unwrap();
            assert_eq!(fast, reference, "{pairs:?}");
            if let Some((n, exact)) = candidates {
                indexed += 1;
                let all = ListQuery::parse(&pairs[..1]).unwrap();
                let found = read(&st, |conn| run(schema, &routes, conn, 0, &all, &url)).unwrap();
                matched += usize::from(!found.items.is_empty());
                // Exact candidates are the matches; others may be more.
                assert!(
                    n == found.items.len() || !exact,
                    "{pairs:?}: {n} candidates"
                );
                in_sql += usize::from(exact);
                confirmed_away += usize::from(n > found.items.len());
            }
        }
        assert!(
            indexed > 700 && matched > 100 && in_sql > 300 && confirmed_away > 10,
            "{indexed} {matched} {in_sql} {confirmed_away}"
        );
    }

    /// A JSON string literal.
    fn serde_json_string(s: &str) -> String {
        let mut out = Vec::new();
        crate::json::write::write_string(&mut out, s, true).unwrap();
        String::from_utf8(out).unwrap()
    }

    /// Issue #15 item 6: `a.b=v` on a JSON path the project indexes runs in SQL through the
    /// path's expression index (SQLite's plan names it), with the reference's answers; values
    /// only a non-string prints as, and data with an array at the path, stay with the reference.
    #[test]
    fn a_declared_json_path_filter_runs_in_sql_through_its_index() {
        const TOML: &str = r#"
database = "t.db"
[collections.posts]
source = "db.json"
member = "posts"
key = "id"
indexes = [["p.city"], ["extra.deep"]]
[collections.posts.fields]
id = { type = "integer", required = true }
p = "json"
"#;
        let db = |arr: &str| {
            format!(
                r#"{{"posts": [
  {{"id": 1, "p": {{"city": "Berlin"}}, "extra": {{"deep": "x"}}}},
  {{"id": 2, "p": {{"city": "Köln"}}}},
  {{"id": 3, "p": {{"city": 5}}, "extra": {{"deep": 5}}}},
  {{"id": 4, "p": {{"city": null}}}},
  {{"id": 5, "p": {{}}}},
  {{"id": 6}},
  {{"id": 7, "p": {{"city": "Berlin", "zip": "10115"}}, "extra": {{"deep": "x"}}}},
  {{"id": 8, "p": {{"city": {arr}}}}}
]}}"#
            )
        };
        let url = UrlParts {
            protocol: "http".into(),
            host: "h".into(),
            original_url: "/posts".into(),
        };
        let routes = vec!["posts".to_string()];
        for (arr, cases) in [
            (
                "\"Paris\"",
                vec![
                    ("p.city=Berlin", true),
                    ("p.city=Berlin&p.city=Köln", true),
                    ("p.city=Berlin&_sort=id&_order=desc&_limit=1", true),
                    ("extra.deep=x", true),
                    ("p.city=Hamburg", true),
                    ("p.city=5", false),
                    ("p.city=null", false),
                    ("p.city=true", false),
                    ("p.city_ne=Berlin", false),
                    ("p.zip=10115", false),
                ],
            ),
            // `String(["Berlin"])` is "Berlin": an array at the path keeps the reference.
            ("[\"Berlin\"]", vec![("p.city=Berlin", false)]),
        ] {
            let dir = tempfile::tempdir().unwrap();
            let st = store_of(dir.path(), TOML, &db(arr));
            let schema = st.schema();
            let sqlite = crate::store::testing::TestDb::open(&dir.path().join("t.db"));
            for (query, in_sql) in cases {
                let q = ListQuery::parse(&pairs(query)).unwrap();
                let (fast, reference, plan) = read(&st, |conn| {
                    let records = Records::new(schema, 0);
                    let plan = plan(&records, conn, &q.parts())?;
                    let fast = run(schema, &routes, conn, 0, &q, &url)?;
                    let resolver = Everything(StoreResolver::new(schema, &routes, conn));
                    let reference = query::run(&q, "posts", records.list(conn)?, &resolver, &url);
                    Ok((fast, reference, plan))
                })
                .unwrap();
                assert_eq!(fast, reference, "{arr}: {query}");
                let filters = plan.map(|p| p.filters).unwrap_or_default();
                let pushed = filters.iter().any(|(_, t)| matches!(t, Test::JsonText(..)));
                assert_eq!(pushed, in_sql, "{arr}: {query}: {filters:?}");
                if !pushed {
                    continue;
                }
                let t = &schema.tables[schema.collections[0].table];
                let sql = crate::store::select::select(Dialect::Sqlite, t, &filters, &[], 0, None);
                let args: Vec<&Cell> = sql.params.iter().map(|(_, c)| *c).collect();
                let steps = sqlite.query_plan(&sql.text, &args);
                let field = query.split('=').next().unwrap();
                assert!(
                    steps
                        .iter()
                        .any(|s| s.contains(&format!("USING INDEX idx_posts_{field}"))),
                    "{query}: {steps:?}"
                );
            }
        }
    }
}
