//! Required fields and defaults in the tables (issue #16, item 3): a required field's column is
//! NOT NULL (JSON columns too), and a field's `default = …` is its column's SQL `DEFAULT` on
//! SQLite and PostgreSQL, so that a row another client inserts without the column gets it, as
//! a record POSTed without the field does. `"CURRENT_TIMESTAMP"` is the time of the write, in
//! the same text whoever writes it. Records loaded from their files keep what they lack, and
//! export gives them back byte for byte; an evolution adding a defaulted required field fills
//! the existing records; a default the field would refuse is refused, naming the key.

use jsonlift::json::Value;
use jsonlift::schema::{is_date, is_timestamp};

use crate::backend::on_postgres;
use crate::serve::{Server, call};
use crate::util::*;

const FIELDS: &str = r#"[collections.profiles]
source = "profiles.json"
key = "id"
[collections.profiles.fields]
id = "text"
name = { type = "text", required = true }
level = { type = "text", default = "it's basic" }
score = { type = "integer", default = -3 }
ratio = { type = "real", default = 2.5 }
active = { type = "boolean", default = true }
interests = { type = "array", default = ["reading"] }
extra = { type = "json", required = true, default = { a = 1 } }
notes = "json"
created_at = { type = "timestamp", required = true, default = "CURRENT_TIMESTAMP" }
born = { type = "date", default = "CURRENT_DATE" }
address = { type = "object", flatten = true, required = true, fields = { city = { type = "text", required = true }, zip = "text" } }
maybe = { type = "object", flatten = true, fields = { city = { type = "text", required = true } } }
"#;

/// As `JSON.stringify(x, null, 2)` writes it. The second record lacks every field that may be
/// absent: it must come back without them.
const PROFILES: &str = r#"[
  {
    "id": "a",
    "name": "Ann",
    "level": "pro",
    "score": 7,
    "ratio": 0.5,
    "active": false,
    "interests": [],
    "extra": {
      "k": true
    },
    "notes": {
      "x": 1
    },
    "created_at": "2024-05-01T10:00:00Z",
    "born": "2001-02-03",
    "address": {
      "city": "Oslo",
      "zip": "0150"
    },
    "maybe": {
      "city": "Rome"
    }
  },
  {
    "id": "b",
    "name": "Bob",
    "extra": [
      1
    ],
    "created_at": "2024-05-02 11:00:00",
    "address": {
      "city": "Bergen"
    }
  }
]
"#;

/// `YYYY-MM-DD HH:MM:SS`, the form `CURRENT_TIMESTAMP` writes.
fn is_sql_timestamp(s: &str) -> bool {
    s.len() == 19 && s.as_bytes()[10] == b' ' && is_timestamp(s)
}

#[track_caller]
fn text_of<'a>(record: &'a Value, field: &str) -> &'a str {
    record
        .get(field)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("{field} is not text in {record:?}"))
}

/// What the defaults give a record that lacks every defaulted field, timestamps aside.
#[track_caller]
fn assert_defaulted(record: &Value) {
    let compact = |f: &str| jsonlift::json::to_compact_string(record.get(f).unwrap());
    assert_eq!(compact("level"), r#""it's basic""#, "{record:?}");
    assert_eq!(compact("score"), "-3");
    assert_eq!(compact("ratio"), "2.5");
    assert_eq!(compact("active"), "true");
    assert_eq!(compact("interests"), r#"["reading"]"#);
    assert_eq!(compact("extra"), r#"{"a":1}"#);
    assert!(
        is_sql_timestamp(text_of(record, "created_at")),
        "{record:?}"
    );
    assert!(is_date(text_of(record, "born")), "{record:?}");
}

#[test]
fn defaults_are_the_columns_sql_default_and_required_fields_are_not_null() {
    let p = Project::on_backend(FIELDS);
    p.write("profiles.json", PROFILES);
    p.migrate_ok();
    p.jl(&["verify"]).ok();
    // Records loaded from their file keep what they lack: the same bytes come back.
    let out = p.export();
    assert_eq!(
        String::from_utf8(std::fs::read(out.join("profiles.json")).unwrap()).unwrap(),
        PROFILES
    );

    // (column, NOT NULL, DEFAULT as the database reports it)
    let expected: Vec<(&str, bool, Option<&str>)> = if on_postgres() {
        vec![
            ("name", true, None),
            ("level", false, Some("'it''s basic'::text")),
            ("score", false, Some("'-3'::integer")),
            ("ratio", false, Some("2.5")),
            ("active", false, Some("true")),
            ("interests", false, Some("'[\"reading\"]'::jsonb")),
            ("extra", true, Some("'{\"a\": 1}'::jsonb")),
            ("notes", false, None),
            (
                "created_at",
                true,
                Some("to_char((now() AT TIME ZONE 'UTC'::text), 'YYYY-MM-DD HH24:MI:SS'::text)"),
            ),
            (
                "born",
                false,
                Some("to_char((now() AT TIME ZONE 'UTC'::text), 'YYYY-MM-DD'::text)"),
            ),
            ("address_city", true, None),
            ("address_zip", false, None),
            ("maybe_city", false, None),
        ]
    } else {
        vec![
            ("name", true, None),
            ("level", false, Some("'it''s basic'")),
            ("score", false, Some("-3")),
            ("ratio", false, Some("2.5")),
            ("active", false, Some("1")),
            ("interests", false, Some("'[\"reading\"]'")),
            ("extra", true, Some("'{\"a\":1}'")),
            ("notes", false, None),
            ("created_at", true, Some("CURRENT_TIMESTAMP")),
            ("born", false, Some("CURRENT_DATE")),
            ("address_city", true, None),
            ("address_zip", false, None),
            ("maybe_city", false, None),
        ]
    };
    let sql = if on_postgres() {
        "SELECT column_name, is_nullable, coalesce(column_default, '-') FROM information_schema.columns \
         WHERE table_schema = current_schema() AND table_name = 'profiles' ORDER BY ordinal_position"
    } else {
        "SELECT name, CASE \"notnull\" WHEN 1 THEN 'NO' ELSE 'YES' END, coalesce(dflt_value, '-') \
         FROM pragma_table_info('profiles') ORDER BY cid"
    };
    let got = p.rows(sql);
    for (col, not_null, default) in &expected {
        let row = got
            .iter()
            .find(|r| r[0] == *col)
            .unwrap_or_else(|| panic!("no column {col} in {got:?}"));
        assert_eq!(
            (row[1].as_str(), row[2].as_str()),
            (if *not_null { "NO" } else { "YES" }, default.unwrap_or("-")),
            "column {col}"
        );
    }
    if !on_postgres() {
        // The table's text, as sqlite_master keeps it and other clients read it.
        let ddl = p.sql1("SELECT sql FROM sqlite_master WHERE name = 'profiles'");
        for line in [
            "\"level\" TEXT DEFAULT 'it''s basic'",
            "\"extra\" TEXT NOT NULL DEFAULT '{\"a\":1}' CHECK (json_valid(\"extra\"))",
            "\"created_at\" TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP",
        ] {
            assert!(ddl.contains(line), "{line} not in\n{ddl}");
        }
    }

    // Another client (sqlite3, psql) inserts a row without the defaulted columns.
    p.exec("INSERT INTO profiles (id, name, address_city) VALUES ('c', 'Cid', 'Pisa')");
    let s = Server::start(&p, &[], &[]);
    let c = call("GET", &s.url("/api/profiles/c"), None, None);
    c.status(200);
    assert_defaulted(&c.value());

    // A record POSTed without them gets the same.
    let made = call(
        "POST",
        &s.url("/api/profiles"),
        None,
        Some(r#"{"id": "d", "name": "Dee", "address": {"city": "Lund"}}"#),
    );
    made.status(201);
    assert_defaulted(&made.value());
    // Stored as returned.
    let d = call("GET", &s.url("/api/profiles/d"), None, None).value();
    assert_eq!(d, made.value());
    assert_eq!(
        p.sql1("SELECT level FROM profiles WHERE id = 'd'"),
        "it's basic"
    );
    // A value given is kept.
    let given = call(
        "POST",
        &s.url("/api/profiles"),
        None,
        Some(
            r#"{"id": "e", "name": "Eve", "created_at": "2020-01-01T00:00:00Z", "address": {"city": "Aix"}}"#,
        ),
    );
    given.status(201);
    assert_eq!(
        text_of(&given.value(), "created_at"),
        "2020-01-01T00:00:00Z"
    );
    s.stop();

    // A required column stays required for other clients.
    let refused = if on_postgres() {
        p.pg.as_ref()
            .unwrap()
            .client()
            .batch_execute(&format!(
                "SET search_path TO {}; INSERT INTO profiles (id, name, address_city, extra) VALUES ('f', 'F', 'X', NULL)",
                p.pg.as_ref().unwrap().name
            ))
            .map_err(|e| format!("{e:?}"))
    } else {
        open_db(&p.db_path())
            .execute(
                "INSERT INTO profiles (id, name, address_city, extra) VALUES ('f', 'F', 'X', NULL)",
                [],
            )
            .map(|_| ())
            .map_err(|e| e.to_string())
    };
    let err = refused.expect_err("NULL into a required JSON column");
    // SQLite: "NOT NULL constraint failed", PostgreSQL: "violates not-null constraint".
    assert!(
        err.to_lowercase().replace('-', " ").contains("not null"),
        "{err}"
    );
}

#[test]
fn a_default_the_field_would_refuse_is_refused_naming_the_key() {
    for (field, says) in [
        (
            "n = { type = \"integer\", default = \"CURRENT_TIMESTAMP\" }",
            "CURRENT_TIMESTAMP is the time of the write, for a field of type \"timestamp\"; this field is integer",
        ),
        (
            "n = { type = \"text\", default = \"current_date\" }",
            "CURRENT_DATE is the time of the write, for a field of type \"date\"; this field is text",
        ),
        (
            "n = { type = \"integer\", default = \"soon\" }",
            "expected integer, found string \"soon\"",
        ),
        (
            "n = { type = \"timestamp\", default = \"tomorrow\" }",
            "\"tomorrow\" is not an ISO 8601 date-time",
        ),
        (
            "n = { type = \"text\", enum = [\"a\", \"b\"], default = \"c\" }",
            "\"c\" is not one of \"a\", \"b\"",
        ),
        (
            "n = { type = \"integer\", min = 0, default = -1 }",
            "-1 is outside the field's min/max",
        ),
        (
            "n = { type = \"array\", of = \"text\", table = \"p_n\", default = \"x\" }",
            "expected a list",
        ),
    ] {
        let p = Project::new(&format!(
            "[collections.p]\nsource = \"p.json\"\n[collections.p.fields]\n{field}\n"
        ));
        p.write("p.json", "[]");
        p.jl(&["migrate"])
            .code(2)
            .stderr_has("collections.p.fields.n.default: ")
            .stderr_has(says);
        p.assert_no_db();
    }
}

#[test]
fn an_evolution_adds_a_required_field_with_a_default_to_every_record() {
    let base = "[collections.posts]\nsource = \"posts.json\"\nkey = \"id\"\n[collections.posts.fields]\nid = \"integer\"\ntitle = \"text\"\n";
    let p = Project::on_backend(base);
    p.write(
        "posts.json",
        r#"[{"id": 1, "title": "a"}, {"id": 2, "title": "b"}]"#,
    );
    p.migrate_ok();
    p.write_toml(&format!(
        "{base}status = {{ type = \"text\", required = true, default = \"draft\" }}\nadded_at = {{ type = \"timestamp\", required = true, default = \"CURRENT_TIMESTAMP\" }}\n"
    ));
    p.jl(&["plan"])
        .ok()
        .stdout_has("field status added (text, required, default 'draft', table posts)")
        .stdout_has(
            "field added_at added (text, required, default CURRENT_TIMESTAMP, table posts)",
        );
    p.jl(&["migrate"]).ok().stdout_has("evolved in place");
    assert_eq!(
        p.rows("SELECT id, status FROM posts ORDER BY id"),
        rows(&[&["1", "draft"], &["2", "draft"]])
    );
    for r in p.rows("SELECT added_at FROM posts") {
        assert!(is_sql_timestamp(&r[0]), "{r:?}");
    }
    // The evolved table declares the defaults: another client's row gets them.
    p.exec("INSERT INTO posts (id, title) VALUES (3, 'c')");
    assert_eq!(p.sql1("SELECT status FROM posts WHERE id = 3"), "draft");
    assert!(is_sql_timestamp(
        &p.sql1("SELECT added_at FROM posts WHERE id = 3")
    ));
    p.jl(&["migrate"]).ok().stdout_has("already migrated");
    // A changed default is the column's from then on; the records keep the values they hold.
    p.write_toml(&format!(
        "{base}status = {{ type = \"text\", required = true, default = \"review\" }}\nadded_at = {{ type = \"timestamp\", required = true, default = \"CURRENT_TIMESTAMP\" }}\n"
    ));
    p.jl(&["migrate"]).ok();
    p.exec("INSERT INTO posts (id, title) VALUES (4, 'd')");
    assert_eq!(
        p.rows("SELECT id, status FROM posts ORDER BY id"),
        rows(&[
            &["1", "draft"],
            &["2", "draft"],
            &["3", "draft"],
            &["4", "review"]
        ])
    );
    p.jl(&["migrate"]).ok().stdout_has("already migrated");
}

#[test]
fn a_database_made_before_defaults_were_declared_on_columns_is_rebuilt_with_them() {
    let toml = "[collections.posts]\nsource = \"posts.json\"\nkey = \"id\"\n[collections.posts.fields]\nid = \"integer\"\nstatus = { type = \"text\", required = true, default = \"draft\" }\nlevel = { type = \"text\", default = \"low\" }\n";
    let p = Project::on_backend(toml);
    if crate::backend::sqlite_only(
        "a_database_made_before_defaults_were_declared_on_columns_is_rebuilt_with_them",
        "it rewrites SQLite's catalog to make the table as an earlier jsonlift did",
    ) {
        return;
    }
    // The second record lacks `level`, and must keep lacking it.
    let posts = r#"[{"id":1,"status":"live","level":"high"},{"id":2,"status":"live"}]"#;
    p.write("posts.json", posts);
    p.migrate_ok();
    // The table and its fingerprint as a jsonlift without SQL defaults recorded them.
    let project = jsonlift::config::Project::load(&p.config()).unwrap();
    let schema = jsonlift::schema::Schema::build(&project).unwrap();
    let earlier = jsonlift::schema::fingerprint::schema_hash_without_defaults(&schema, 0);
    let db = open_db(&p.db_path());
    db.execute_batch(&format!(
        "PRAGMA writable_schema = ON;
         UPDATE sqlite_master SET sql = replace(replace(sql, ' DEFAULT ''draft''', ''), ' DEFAULT ''low''', '') WHERE name = 'posts';
         PRAGMA writable_schema = OFF;
         UPDATE _jsonlift_sources SET schema_hash = '{earlier}';"
    ))
    .unwrap();
    drop(db);
    assert!(
        !p.sql1("SELECT sql FROM sqlite_master WHERE name = 'posts'")
            .contains("DEFAULT")
    );

    p.jl(&["plan"])
        .ok()
        .stdout_has("field status: text, required → text, required, default 'draft'");
    p.jl(&["migrate"]).ok().stdout_has("evolved in place");
    assert!(
        p.sql1("SELECT sql FROM sqlite_master WHERE name = 'posts'")
            .contains("\"status\" TEXT NOT NULL DEFAULT 'draft'")
    );
    assert_eq!(
        p.rows("SELECT id, status, level FROM posts ORDER BY id"),
        rows(&[&["1", "live", "high"], &["2", "live", "NULL"]])
    );
    p.jl(&["migrate"]).ok().stdout_has("already migrated");
    p.jl(&["verify"]).ok();
    assert_eq!(
        std::fs::read_to_string(p.export().join("posts.json")).unwrap(),
        posts
    );
}
