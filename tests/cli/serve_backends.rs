//! `serve` answers the same on SQLite and on PostgreSQL (issue #14, item 5): the same project
//! migrated into each, two servers, the same requests in the same order, and every answer
//! compared byte for byte (status, body, `Location`, `X-Total-Count`, `Link` with the host
//! normalised; in `/_admin` answers, the times of day left out). The requests: json-server's
//! whole query table and its writes on the merged parity db.json; the jsonserver example's
//! script; and a project made to be refused every way (duplicate keys and unique values, a
//! unique pair, unique child rows, missing and restricting references, `set null`, enums,
//! bounds, imports that fail late), with booleans, integers beyond 2^53, reals, text that
//! sorts differently by collation, and U+0000, which PostgreSQL's text cannot hold.
//!
//! Needs `JSONLIFT_TEST_POSTGRES` (skipped loudly without); the serve suite itself also runs on
//! PostgreSQL with `JSONLIFT_TEST_BACKEND=postgres` ([`crate::backend`]).

use std::path::Path;

use jsonlift::json::{Value, parse, to_compact_string};

use crate::postgres::{PgSchema, server};
use crate::serve::{Server, call_with};
use crate::util::*;

/// The same project twice: as written (its database a SQLite file) and with its database in a
/// schema of `pg`.
fn both(files: &[(&str, &[u8])], pg: &PgSchema) -> (Project, Project) {
    let make = |toml_prefix: &str| {
        let p = Project::empty();
        for (rel, bytes) in files {
            if *rel == "jsonlift.toml" {
                let text = String::from_utf8(bytes.to_vec()).unwrap();
                let rest: Vec<&str> = text
                    .lines()
                    .filter(|l| toml_prefix.is_empty() || !l.starts_with("database ="))
                    .collect();
                p.write(rel, format!("{toml_prefix}{}\n", rest.join("\n")));
            } else {
                p.write(rel, bytes);
            }
        }
        p.jl(&["migrate", "-q"]).ok();
        p
    };
    (make(""), make(&pg.toml()))
}

/// Leaves out what differs from moment to moment, not from database to database: the times of
/// `/_admin` answers; and the room on the database file's disk in `/_admin/health`, which only
/// a database in a file here has (`null` on PostgreSQL).
fn scrub(v: Value) -> Value {
    const TIMES: [&str; 5] = [
        "at",
        "migrated_at",
        "modified_at",
        "started_at",
        "finished_at",
    ];
    match v {
        Value::Object(fields) => Value::Object(
            fields
                .into_iter()
                .filter(|(k, _)| !TIMES.contains(&k.as_str()) && k != "disk")
                .map(|(k, v)| (k, scrub(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(scrub).collect()),
        other => other,
    }
}

/// One answer, as compared.
fn answer(s: &Server, i: usize, method: &str, path: &str, body: Option<&str>) -> String {
    let rid = format!("step-{i}");
    let r = call_with(method, &s.url(path), None, body, &[("x-request-id", &rid)]);
    let host = s.origin.trim_start_matches("http://");
    let header = |n: &str| {
        r.header(n)
            .map(|v| v.replace(host, "HOST"))
            .unwrap_or_default()
    };
    let text = if path.starts_with("/_admin") {
        match parse(r.body.as_bytes(), 1000) {
            Ok(v) => to_compact_string(&scrub(v)),
            Err(_) => r.body.clone(),
        }
    } else {
        r.body.clone()
    };
    format!(
        "{} location={} total={} link={}\n{text}",
        r.status,
        header("location"),
        header("x-total-count"),
        header("link")
    )
}

/// Sends each request to both servers in turn; the differences, described.
fn differences(
    sqlite: &Server,
    pg: &Server,
    steps: &[(&str, String, Option<String>)],
) -> Vec<String> {
    let mut out = Vec::new();
    for (i, (method, path, body)) in steps.iter().enumerate() {
        let a = answer(sqlite, i, method, path, body.as_deref());
        let b = answer(pg, i, method, path, body.as_deref());
        if a != b {
            // Long answers: from a little before the first difference.
            let at = a.bytes().zip(b.bytes()).take_while(|(x, y)| x == y).count();
            let from = a.floor_char_boundary(at.saturating_sub(300));
            let (a, b) = (&a[from..], &b[b.floor_char_boundary(from)..]);
            out.push(format!(
                "step {i}: {method} {path} {}\n--- SQLite ---\n{a}\n--- PostgreSQL ---\n{b}",
                body.as_deref().unwrap_or("")
            ));
        }
    }
    out
}

fn step(method: &str, path: &str, body: Option<&str>) -> (&'static str, String, Option<String>) {
    let m: &'static str = match method {
        "GET" => "GET",
        "POST" => "POST",
        "PUT" => "PUT",
        "PATCH" => "PATCH",
        "DELETE" => "DELETE",
        other => panic!("{other}"),
    };
    (m, path.to_string(), body.map(str::to_string))
}

#[track_caller]
fn assert_none(what: &str, diffs: Vec<String>) {
    assert!(
        diffs.is_empty(),
        "{what}: {} answers differ between SQLite and PostgreSQL:\n\n{}",
        diffs.len(),
        diffs.join("\n\n")
    );
}

#[test]
fn serve_answers_json_servers_queries_and_writes_alike_on_sqlite_and_postgres() {
    let Some(url) = server("serve_answers_json_servers_queries_and_writes_alike") else {
        return;
    };
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let db = to_compact_string(&Value::Object(crate::jsonserver_common::merged_db()));
    let toml = std::fs::read(root.join("tests/jsonserver/jsonlift.toml")).unwrap();
    let pg = PgSchema::new(&url);
    let (a, b) = both(&[("db.json", db.as_bytes()), ("jsonlift.toml", &toml)], &pg);
    let sa = Server::start(&a, &["--prefix", "/"], &[]);
    let sb = Server::start(&b, &["--prefix", "/"], &[]);
    let mut steps = Vec::new();
    for url in crate::jsonserver_common::SAME {
        steps.push(step("GET", url, None));
    }
    for (ours, _) in crate::jsonserver_common::EXTENSIONS {
        steps.push(step("GET", ours, None));
    }
    for url in crate::jsonserver_common::JSON_SERVER_FAILS {
        steps.push(step("GET", url, None));
    }
    for s in crate::jsonserver_parity::WRITES {
        steps.push(step(s.method, s.url, s.body));
    }
    for url in ["/db", "/_admin/audit", "/_admin/health"] {
        steps.push(step("GET", url, None));
    }
    assert!(steps.len() > 150, "{}", steps.len());
    assert_none("json-server's table", differences(&sa, &sb, &steps));
}

#[test]
fn serve_answers_the_jsonserver_example_alike_on_sqlite_and_postgres() {
    let Some(url) = server("serve_answers_the_jsonserver_example_alike") else {
        return;
    };
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/jsonserver");
    let pg = PgSchema::new(&url);
    let (a, b) = both(
        &[
            ("db.json", &std::fs::read(root.join("db.json")).unwrap()),
            (
                "jsonlift.toml",
                &std::fs::read(root.join("jsonlift.toml")).unwrap(),
            ),
        ],
        &pg,
    );
    let sa = Server::start(&a, &[], &[]);
    let sb = Server::start(&b, &[], &[]);
    let steps = vec![
        step("GET", "/api/posts", None),
        step(
            "POST",
            "/api/posts",
            Some(r#"{"title": "Neu", "rating": 4.50, "odd": 1e3, "big": 12345678901234567890}"#),
        ),
        step(
            "POST",
            "/api/posts",
            Some(r#"{"title": 5, "views": -1, "rating": 9, "author": {"name": 1}}"#),
        ),
        step("POST", "/api/posts", Some(r#"{"id": 2, "title": "dup"}"#)),
        step("POST", "/api/posts", Some(r#"{"title": "x",}"#)),
        step("PUT", "/api/posts/2", Some(r#"{"id": 3, "title": "x"}"#)),
        step(
            "PUT",
            "/api/posts/4",
            Some(r#"{"title": "Ersetzt", "extra": [1.0]}"#),
        ),
        step("PATCH", "/api/posts/2", Some(r#"{"views": 13}"#)),
        step(
            "POST",
            "/api/comments",
            Some(r#"{"body": "b", "postId": 99}"#),
        ),
        step(
            "POST",
            "/api/comments",
            Some(r#"{"body": "b", "postId": 2}"#),
        ),
        step(
            "POST",
            "/api/posts/1/comments",
            Some(r#"{"body": "nested"}"#),
        ),
        step("DELETE", "/api/posts/1", None),
        step("DELETE", "/api/posts/1", None),
        step(
            "PATCH",
            "/api/profile",
            Some(r#"{"bio": null, "new": {"b": 1, "a": 2}}"#),
        ),
        step(
            "POST",
            "/api/posts/_import",
            Some(r#"[{"title": "ok"}, {"title": 5}, {"id": 2, "title": "dup"}]"#),
        ),
        step(
            "POST",
            "/api/posts/_import",
            Some(r#"[{"title": "ok"}, {"id": 70, "title": "b"}, {"id": 70, "title": "again"}]"#),
        ),
        step(
            "POST",
            "/api/comments/_import",
            Some(r#"[{"body": "i", "postId": 4}, {"body": "j", "postId": 404}]"#),
        ),
        step(
            "POST",
            "/api/comments/_import",
            Some(r#"[{"body": "i", "postId": 4}]"#),
        ),
        step(
            "POST",
            "/api/posts/_import",
            Some(r#"[{"title": "a"}, {"id": 70, "title": "b"}]"#),
        ),
        // U+0000, which SQLite stores and PostgreSQL's text refuses, in a text column, in a
        // field the schema does not name, in a key, and looked for.
        step(
            "POST",
            "/api/posts",
            Some(r#"{"title": "nul \u0000 in text", "note": "a\u0000b"}"#),
        ),
        step(
            "POST",
            "/api/posts",
            Some(r#"{"title": "replacement \ufffd in text"}"#),
        ),
        step("GET", "/api/posts?title=nul%20%00%20in%20text", None),
        step("GET", "/api/posts?title=nul%20%EF%BF%BD%20in%20text", None),
        step(
            "GET",
            "/api/posts?title=replacement%20%00%20in%20text",
            None,
        ),
        step("GET", "/api/posts?note=a%00b", None),
        step("GET", "/api/posts?note=zzz", None),
        step("GET", "/api/posts?author.name=%00", None),
        step("GET", "/api/posts/%00", None),
        step(
            "POST",
            "/api/posts",
            Some(r#"{"id": 9223372036854775807, "title": "max"}"#),
        ),
        step("POST", "/api/posts", Some(r#"{"title": "next"}"#)),
        step("POST", "/api/posts/_import", Some(r#"[{"title": "next"}]"#)),
        step("DELETE", "/api/posts/9223372036854775807", None),
        step("POST", "/api/posts", Some(r#"{"title": "next"}"#)),
        step("GET", "/api/posts?_sort=title", None),
        step(
            "GET",
            "/api/posts?_sort=views&_order=desc&_page=1&_limit=2",
            None,
        ),
        step("GET", "/api/posts?q=e&_start=1&_end=3", None),
        step("GET", "/api/comments?postId=2&_embed=post", None),
        step("GET", "/api/posts?_embed=comments", None),
        step("GET", "/db", None),
        step("GET", "/_admin/audit", None),
        step("GET", "/_admin/health", None),
    ];
    assert_none("the jsonserver example", differences(&sa, &sb, &steps));
}

const LIBRARY_TOML: &str = r#"database = "library.db"

[collections.authors]
source = "authors.json"
key = "id"

[collections.authors.fields]
id = "integer"
handle = { type = "text", required = true, unique = true }
name = "text"
active = "boolean"
born = "date"
karma = "integer"

[collections.books]
source = "books.json"
key = "isbn"
unique = [["title", "year"]]

[collections.books.fields]
isbn = "text"
title = { type = "text", required = true }
year = { type = "integer", min = 1400, max = 2100 }
authorId = { type = "integer", references = "authors", on_delete = "restrict" }
editorId = { type = "integer", references = "authors", on_delete = "set null" }
genre = { type = "text", enum = ["novel", "poetry", "essay"] }
price = "real"
tags = { type = "array", of = "text" }

[collections.books.fields.chapters]
type = "array"
table = "chapters"
unique = [["_parent", "title"]]

[collections.books.fields.chapters.fields]
title = "text"
pages = "integer"
"#;

const AUTHORS: &str = r#"[
  {"id": 1, "handle": "ada", "name": "Ada Lovelace", "active": true, "born": "1815-12-10", "karma": 9007199254740993},
  {"id": 2, "handle": "bob", "name": "bob", "active": false, "karma": -5},
  {"id": 3, "handle": "Zoë", "name": "Émile", "active": true, "karma": 0, "note": "extra field"},
  {"id": 4, "handle": "_x", "name": "álvaro", "active": null},
  {"id": 5, "handle": "B", "name": "Bob", "active": true}
]
"#;

const BOOKS: &str = r#"[
  {"isbn": "978-1", "title": "Notes", "year": 1843, "authorId": 1, "editorId": 2, "genre": "essay", "price": 4.50, "tags": ["math", "engines"], "chapters": [{"title": "I", "pages": 10}, {"title": "II", "pages": 12}]},
  {"isbn": "978-2", "title": "poems", "year": 1900, "authorId": 3, "genre": "poetry", "price": 1e1, "tags": []},
  {"isbn": "978-3", "title": "Ärger", "year": 2001, "authorId": 2, "editorId": 2, "chapters": []}
]
"#;

#[test]
fn serve_refuses_and_answers_alike_on_sqlite_and_postgres() {
    let Some(url) = server("serve_refuses_and_answers_alike") else {
        return;
    };
    let pg = PgSchema::new(&url);
    let (a, b) = both(
        &[
            ("jsonlift.toml", LIBRARY_TOML.as_bytes()),
            ("authors.json", AUTHORS.as_bytes()),
            ("books.json", BOOKS.as_bytes()),
        ],
        &pg,
    );
    let sa = Server::start(&a, &[], &[]);
    let sb = Server::start(&b, &[], &[]);
    let steps = vec![
        // Reads: booleans, big integers, text sorted as json-server sorts it (not by the
        // database's collation).
        step("GET", "/api/authors", None),
        step("GET", "/api/authors?active=true", None),
        step("GET", "/api/authors?active=false", None),
        step("GET", "/api/authors?active=null", None),
        step("GET", "/api/authors?karma=9007199254740993", None),
        step("GET", "/api/authors?karma_gte=0", None),
        step("GET", "/api/authors?_sort=name", None),
        step("GET", "/api/authors?_sort=handle&_order=desc", None),
        step("GET", "/api/authors?name_like=^b", None),
        step("GET", "/api/authors?q=%C3%A9", None),
        step("GET", "/api/authors?note=extra%20field", None),
        step("GET", "/api/books?_sort=title", None),
        step("GET", "/api/books?tags=math,engines", None),
        step("GET", "/api/books?price=10", None),
        step("GET", "/api/books/978-1", None),
        // Refusals, each with its status, paths and words.
        step(
            "POST",
            "/api/authors",
            Some(r#"{"id": 6, "handle": "ada"}"#),
        ),
        step(
            "POST",
            "/api/authors",
            Some(r#"{"id": 1, "handle": "new"}"#),
        ),
        step("POST", "/api/authors", Some(r#"{"id": 6}"#)),
        step(
            "POST",
            "/api/authors",
            Some(r#"{"id": 6, "handle": "x", "active": "yes", "born": "1815-02-31"}"#),
        ),
        step("PATCH", "/api/authors/2", Some(r#"{"handle": "ada"}"#)),
        step("PUT", "/api/authors/2", Some(r#"{"handle": "Zoë"}"#)),
        step(
            "POST",
            "/api/books",
            Some(r#"{"isbn": "978-9", "title": "Notes", "year": 1843}"#),
        ),
        step(
            "POST",
            "/api/books",
            Some(r#"{"isbn": "978-9", "title": "x", "authorId": 99}"#),
        ),
        step(
            "POST",
            "/api/books",
            Some(r#"{"isbn": "978-9", "title": "x", "editorId": 98, "authorId": 97}"#),
        ),
        step(
            "POST",
            "/api/books",
            Some(r#"{"isbn": "978-9", "title": "x", "genre": "epic", "year": 1000}"#),
        ),
        step(
            "POST",
            "/api/books",
            Some(
                r#"{"isbn": "978-9", "title": "x", "chapters": [{"title": "A"}, {"title": "B"}, {"title": "A"}]}"#,
            ),
        ),
        step(
            "POST",
            "/api/books",
            Some(r#"{"isbn": "978-1", "title": "again"}"#),
        ),
        step("DELETE", "/api/authors/1", None),
        step(
            "POST",
            "/api/books/_import",
            Some(
                r#"[{"isbn": "978-10", "title": "t1"}, {"isbn": "978-11", "title": "t2", "authorId": 1}, {"isbn": "978-10", "title": "t3"}]"#,
            ),
        ),
        step(
            "POST",
            "/api/books/_import",
            Some(
                r#"[{"isbn": "978-10", "title": "t1"}, {"isbn": "978-11", "title": "Notes", "year": 1843}]"#,
            ),
        ),
        step(
            "POST",
            "/api/books/_import",
            Some(
                r#"[{"isbn": "978-10", "title": "t1"}, {"isbn": "978-11", "title": "t2", "authorId": 77}]"#,
            ),
        ),
        step("GET", "/api/books", None),
        // Writes that go through.
        step(
            "POST",
            "/api/authors",
            Some(r#"{"handle": "gen", "active": false, "karma": -9223372036854775808}"#),
        ),
        step("DELETE", "/api/authors/2", None),
        step("GET", "/api/books", None),
        step(
            "PATCH",
            "/api/books/978-1",
            Some(r#"{"chapters": [{"title": "II", "pages": 1}, {"title": "I"}], "price": 0.1}"#),
        ),
        step(
            "PUT",
            "/api/books/978-2",
            Some(
                r#"{"title": "poems", "year": 1900, "authorId": 3, "tags": ["b", "a"], "z": {"b": 1, "a": [1e3, -0]}}"#,
            ),
        ),
        step(
            "POST",
            "/api/books/_import",
            Some(
                r#"[{"isbn": "978-10", "title": "t1", "chapters": [{"title": "x"}]}, {"isbn": "978-11", "title": "t2", "authorId": 1}]"#,
            ),
        ),
        step("DELETE", "/api/authors/3", None),
        step("DELETE", "/api/books/978-2", None),
        step("DELETE", "/api/authors/3", None),
        step("GET", "/api/authors?_sort=karma", None),
        step("GET", "/api/books?_embed=chapters", None),
        step("GET", "/db", None),
        step("GET", "/_admin/audit", None),
        step("GET", "/_admin/health", None),
    ];
    assert_none("the library project", differences(&sa, &sb, &steps));
    drop((sa, sb));
    // And both databases give the files back the same (export reads through the same seam).
    let (ea, eb) = (a.export(), b.export());
    for f in ["authors.json", "books.json"] {
        assert_eq!(
            std::fs::read_to_string(ea.join(f)).unwrap(),
            std::fs::read_to_string(eb.join(f)).unwrap(),
            "{f}"
        );
    }
}
