//! Where the json-server query conventions ([`super::query`], pure and in memory) meet the
//! store: the records a list request runs over (pre-selected through the columns for plain
//! `field=value` equalities, all of them otherwise; only the page's when nothing else filters
//! or sorts), a [`Resolver`] that reads the collections `_embed`/`_expand` name (only those)
//! on the same read snapshot, and the paging headers.

use std::cell::RefCell;

use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::Response;

use super::body::json_response;
use super::query::{self, ListQuery, Page, Relations, Resolver, UrlParts};
use crate::json::Value;
use crate::schema::Schema;
use crate::store::{Records, StoreError, Tx};

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
        Some(self.keep(Records::new(self.schema, c).list(self.conn)))
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
        Some(self.keep(found))
    }
}

/// Runs a list query on collection `c` within one read. Plain equalities select rows through
/// the columns when that is exact ([`Records::rowids_equal`]); when nothing else filters or
/// sorts, only the page's records are built; otherwise [`query::run`] gets every candidate
/// (all records when no equality could be used). All ways give the same page
/// ([`ListQuery::equalities`], [`ListQuery::positional`] say why).
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
    let rowids = match q.equalities() {
        Some(eq) if !eq.is_empty() || q.positional() => records.rowids_equal(conn, &eq)?,
        _ => None,
    };
    let page = match rowids {
        Some(ids) if q.positional() => {
            let (range, total, link) = q.window(ids.len(), url);
            let mut items = records.at_rowids(conn, &ids[range.start.min(range.end)..range.end])?;
            query::relate(&mut items, q, name, &resolver);
            Page { items, total, link }
        }
        Some(ids) => {
            let all = records.at_rowids(conn, &ids)?;
            query::run(q, name, all, &resolver, url)
        }
        None => query::run(q, name, records.list(conn)?, &resolver, url),
    };
    resolver.finish()?;
    Ok(page)
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
    let Some(record) = Records::new(schema, c).get(conn, key)? else {
        return Ok(None);
    };
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

    const TOML: &str = r#"
database = "t.db"
[collections.posts]
source = "db.json"
member = "posts"
key = "id"
[collections.posts.fields]
id = { type = "integer", required = true }
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
        std::fs::write(dir.join("jsonlift.toml"), TOML).unwrap();
        std::fs::write(dir.join("db.json"), DB).unwrap();
        let p = Project::load(&dir.join("jsonlift.toml")).unwrap();
        let opts = Options {
            dry_run: false,
            reimport: false,
            progress: Progress::auto(true),
            database_backups: true,
        };
        assert!(migrate(&p, &opts).unwrap().ok);
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
        rusqlite::Connection::open(dir.path().join("t.db"))
            .unwrap()
            .execute_batch(
                "PRAGMA ignore_check_constraints = ON;
                 UPDATE posts SET _meta = 'not json' WHERE id = 7;",
            )
            .unwrap();
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
}
