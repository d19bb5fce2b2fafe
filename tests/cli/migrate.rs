//! Happy paths: one small project per storage shape. Each one migrates, lands in the expected
//! tables, verifies, exports back to the same bytes (or at least the same value), and a second
//! `migrate` is a no-op. Then the lifecycle features: reimport, dry run, --json, backups.

use std::fs;
use std::path::Path;

use crate::fixtures::*;
use crate::util::*;

/// Migrate, check the database is sound, verify, export (byte-identical when `identical`, else
/// the same value), then a second migrate that must change nothing. `sources` are the source
/// files, relative to the project folder (for folder sources: each record file).
#[track_caller]
fn lifecycle(p: &Project, sources: &[&str], identical: bool) {
    let snap = p.snapshot();
    let r = p.migrate_ok();
    p.assert_unchanged(&snap);
    assert!(
        p.db_exists(),
        "no database at {}\n{r:#?}",
        p.db_path().display()
    );
    p.assert_db_sound_on_backend();

    p.jl(&["verify"]).ok();

    let out = p.export();
    assert_export_files(&out, sources);
    for s in sources {
        if identical {
            assert_exported_identical(p, &out, s);
        } else {
            assert_exported_same_value(p, &out, s);
        }
    }

    let before = p.dump();
    let ledger = p.sql1("SELECT count(*) FROM _jsonlift_ledger");
    assert_eq!(ledger, "1", "one migration, one ledger row");
    let backups = p.backups().len();
    let r = p.jl(&["migrate"]);
    r.ok().stdout_has("already migrated");
    assert_eq!(
        p.dump(),
        before,
        "a second migrate with unchanged sources changed the database"
    );
    assert_eq!(p.sql1("SELECT count(*) FROM _jsonlift_ledger"), ledger);
    assert_eq!(p.backups().len(), backups, "a no-op migrate made a backup");
    p.assert_unchanged(&snap);
}

fn extra(db: &rusqlite::Connection, sql: &str) -> serde_json::Value {
    let text = q1(db, sql);
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("_extra is not JSON ({e}): {text}"))
}

fn pk_columns(db: &rusqlite::Connection, table: &str) -> Vec<String> {
    q(
        db,
        &format!("SELECT name FROM pragma_table_info('{table}') WHERE pk > 0 ORDER BY pk"),
    )
    .into_iter()
    .map(|r| r[0].clone())
    .collect()
}

// ---------------------------------------------------------------------------------------------
// One test per shape
// ---------------------------------------------------------------------------------------------

#[test]
fn array_with_child_tables_two_levels_deep() {
    let p = Project::on_backend(COURSES_TOML);
    p.write(COURSES_FILE, COURSES_JSON);
    lifecycle(&p, &[COURSES_FILE], true);

    let Some(db) = p.sqlite_checks(
        "array_with_child_tables_two_levels_deep",
        "the tables' layout, read from SQLite's catalog and its text of values",
    ) else {
        return;
    };
    assert_eq!(
        q(&db, "SELECT id, title, hours FROM courses ORDER BY id"),
        rows(&[&["c1", "Rust für Einsteiger", "1.5"], &["c2", "SQL", "2.0"]])
    );
    assert_eq!(pk_columns(&db, "courses"), ["id"]);
    assert_eq!(
        q(
            &db,
            "SELECT course_id, module_index, title FROM modules ORDER BY course_id, module_index"
        ),
        rows(&[
            &["c1", "0", "Basics"],
            &["c1", "1", "Traits"],
            &["c2", "0", "Select"],
            &["c2", "1", "Joins"]
        ])
    );
    assert_eq!(
        q(
            &db,
            "SELECT m.title, l._pos, l.title, l.minutes FROM lessons l JOIN modules m ON m._id = l.module_id \
             ORDER BY m.course_id, m.module_index, l._pos"
        ),
        rows(&[
            &["Basics", "0", "Hello", "5"],
            &["Basics", "1", "Variables", "10"],
            &["Select", "0", "Where", "7"]
        ])
    );
    // Children point at their parents with cascading foreign keys.
    let fk = q(
        &db,
        "SELECT \"table\", \"from\", on_delete FROM pragma_foreign_key_list('modules')",
    );
    assert!(
        fk.contains(&vec![
            "courses".into(),
            "course_id".into(),
            "CASCADE".into()
        ]),
        "{fk:?}"
    );
    let fk = q(
        &db,
        "SELECT \"table\", \"from\", on_delete FROM pragma_foreign_key_list('lessons')",
    );
    assert!(
        fk.contains(&vec![
            "modules".into(),
            "module_id".into(),
            "CASCADE".into()
        ]),
        "{fk:?}"
    );
    // Unknown fields are kept in _extra.
    let e = extra(&db, "SELECT _extra FROM courses WHERE id = 'c2'");
    assert_eq!(e["tags"], serde_json::json!(["db", "sql"]));
    assert_eq!(
        q1(&db, "SELECT _extra FROM courses WHERE id = 'c1'"),
        "NULL"
    );
}

#[test]
fn keyed_object() {
    let p = Project::on_backend(
        r#"
[collections.users]
source = "users.json"
format = "object"

[collections.users.fields]
name = { type = "text", required = true }
age = "integer"
"#,
    );
    // Python json.dump(x, f, indent=2): \u escapes for non-ASCII, no trailing newline.
    p.write(
        "users.json",
        r#"{
  "u1": {
    "name": "Anna",
    "age": 31
  },
  "u2": {
    "name": "J\u00fcrgen",
    "age": null,
    "nick": "jj"
  },
  "u3": {
    "name": "Zo\u00eb"
  }
}"#,
    );
    lifecycle(&p, &["users.json"], true);

    let Some(db) = p.sqlite_checks(
        "keyed_object",
        "the tables' layout, read from SQLite's catalog and its text of values",
    ) else {
        return;
    };
    assert_eq!(
        q(&db, "SELECT _key, name, age FROM users ORDER BY _key"),
        rows(&[
            &["u1", "Anna", "31"],
            &["u2", "Jürgen", "NULL"],
            &["u3", "Zoë", "NULL"]
        ])
    );
    assert_eq!(pk_columns(&db, "users"), ["_key"]);
    assert_eq!(
        extra(&db, "SELECT _extra FROM users WHERE _key = 'u2'")["nick"],
        "jj"
    );
}

#[test]
fn document() {
    let p = Project::on_backend(STATS_TOML);
    p.write("data/stats.json", STATS_JSON);
    lifecycle(&p, &["data/stats.json"], true);

    let Some(db) = p.sqlite_checks(
        "document",
        "the tables' layout, read from SQLite's catalog and its text of values",
    ) else {
        return;
    };
    assert_eq!(
        q(&db, "SELECT xp, streak FROM stats"),
        rows(&[&["120", "3"]])
    );
    let e = extra(&db, "SELECT _extra FROM stats");
    assert_eq!(e["ratio"], serde_json::json!(0.25));
    assert_eq!(e["badges"][0]["id"], "first");
}

#[test]
fn jsonl() {
    let p = Project::on_backend(
        r#"
[collections.events]
source = "events.jsonl"

[collections.events.fields]
kind = { type = "text", enum = ["click", "view"] }
at = "timestamp"
"#,
    );
    // Python: one json.dumps(x) + "\n" per record.
    p.write(
        "events.jsonl",
        r#"{"kind": "click", "at": "2024-05-01T10:00:00Z"}
{"kind": "view", "at": "2024-05-01 10:00:01", "extra": {"a": 1}}
{"at": "2024-05-01T10:00:02+02:00", "kind": "click", "n": 1.0}
"#,
    );
    lifecycle(&p, &["events.jsonl"], true);

    let Some(db) = p.sqlite_checks(
        "jsonl",
        "the tables' layout, read from SQLite's catalog and its text of values",
    ) else {
        return;
    };
    assert_eq!(pk_columns(&db, "events"), ["_id"]);
    assert_eq!(
        q(&db, "SELECT kind, at FROM events ORDER BY _id"),
        rows(&[
            &["click", "2024-05-01T10:00:00Z"],
            &["view", "2024-05-01 10:00:01"],
            &["click", "2024-05-01T10:00:02+02:00"]
        ])
    );
    assert_eq!(
        extra(&db, "SELECT _extra FROM events WHERE kind = 'view'")["extra"]["a"],
        1
    );
}

#[test]
fn json_server_db_json_with_an_unmapped_member() {
    let p = Project::on_backend(
        r#"
database = "app.db"

[collections.posts]
source = "db.json"
member = "posts"
key = "id"

[collections.posts.fields]
id = "integer"
title = "text"
author = "text"

[collections.comments]
source = "db.json"
member = "comments"
key = "id"

[collections.comments.fields]
id = "integer"
body = "text"
postId = { type = "integer", references = "posts" }

[collections.profile]
source = "db.json"
member = "profile"
format = "document"

[collections.profile.fields]
name = "text"
"#,
    );
    let mut p = p;
    p.db_rel = "app.db".into();
    // json-server writes JSON.stringify(db, null, 2); "settings" is mapped by no collection and
    // sits between mapped members.
    p.write(
        "db.json",
        r#"{
  "posts": [
    {
      "id": 1,
      "title": "json-server",
      "author": "typicode"
    },
    {
      "id": 2,
      "title": "lowdb",
      "author": "typicode"
    }
  ],
  "comments": [
    {
      "id": 1,
      "body": "some comment",
      "postId": 1
    },
    {
      "id": 2,
      "body": "another one",
      "postId": 1
    }
  ],
  "settings": {
    "theme": "dark",
    "pageSize": 20
  },
  "profile": {
    "name": "typicode"
  }
}"#,
    );
    lifecycle(&p, &["db.json"], true);
    assert!(!p.path("jsonlift.db").exists(), "database setting ignored");

    let Some(db) = p.sqlite_checks(
        "json_server_db_json_with_an_unmapped_member",
        "the tables' layout, read from SQLite's catalog and its text of values",
    ) else {
        return;
    };
    assert_eq!(
        q(&db, "SELECT id, title FROM posts ORDER BY id"),
        rows(&[&["1", "json-server"], &["2", "lowdb"]])
    );
    assert_eq!(
        q(&db, "SELECT id, body, postId FROM comments ORDER BY id"),
        rows(&[&["1", "some comment", "1"], &["2", "another one", "1"]])
    );
    assert_eq!(q(&db, "SELECT name FROM profile"), rows(&[&["typicode"]]));
    let fk = q(
        &db,
        "SELECT \"table\", \"from\" FROM pragma_foreign_key_list('comments')",
    );
    assert!(
        fk.contains(&vec!["posts".into(), "postId".into()]),
        "{fk:?}"
    );
}

#[test]
fn tinydb() {
    let p = Project::on_backend(
        r#"
[collections.users]
source = "db.json"
member = "_default"
format = "tinydb"

[collections.users.fields]
name = { type = "text", required = true }
email = { type = "text", unique = true }
"#,
    );
    // TinyDB's JSONStorage: json.dump(data, f) — compact with ", " / ": ", ASCII escapes, no
    // newline; a second table ("archive") that no collection maps.
    p.write("db.json", r#"{"_default": {"1": {"name": "Anna", "email": "anna@example.com"}, "2": {"name": "J\u00fcrgen", "email": "juergen@example.com", "tags": ["a"]}, "4": {"name": "Zo\u00eb", "email": null}}, "archive": {"1": {"name": "Old", "email": "old@example.com"}}}"#);
    lifecycle(&p, &["db.json"], true);

    let Some(db) = p.sqlite_checks(
        "tinydb",
        "the tables' layout, read from SQLite's catalog and its text of values",
    ) else {
        return;
    };
    assert_eq!(
        q(
            &db,
            "SELECT _doc_id, typeof(_doc_id), name, email FROM users ORDER BY _doc_id"
        ),
        rows(&[
            &["1", "integer", "Anna", "anna@example.com"],
            &["2", "integer", "Jürgen", "juergen@example.com"],
            &["4", "integer", "Zoë", "NULL"]
        ])
    );
    assert_eq!(pk_columns(&db, "users"), ["_doc_id"]);
}

#[test]
fn folder_of_json_files() {
    let p = Project::on_backend(
        r#"
[collections.profiles]
source = "profiles"
key = "id"

[collections.profiles.fields]
id = "text"
name = "text"
"#,
    );
    // One file per record, each in its own style: JSON.stringify(x, null, 2) without a newline,
    // Python json.dump(x, f, indent=4) plus a newline. Other files are not records; neither is
    // a sub-folder (recursive = false).
    p.write(
        "profiles/anna.json",
        r#"{
  "id": "p1",
  "name": "Anna",
  "langs": [
    "de",
    "en"
  ]
}"#,
    );
    p.write(
        "profiles/ben.json",
        r#"{
    "name": "Ben",
    "id": "p2",
    "age": 9
}
"#,
    );
    p.write("profiles/notes.txt", "not a record\n");
    p.write(
        "profiles/sub/carl.json",
        "{\"id\": \"p3\", \"name\": \"Carl\"}",
    );
    lifecycle(&p, &["profiles/anna.json", "profiles/ben.json"], true);

    let Some(db) = p.sqlite_checks(
        "folder_of_json_files",
        "the tables' layout, read from SQLite's catalog and its text of values",
    ) else {
        return;
    };
    assert_eq!(
        q(&db, "SELECT _file, id, name FROM profiles ORDER BY _file"),
        rows(&[&["anna.json", "p1", "Anna"], &["ben.json", "p2", "Ben"]])
    );
    assert_eq!(pk_columns(&db, "profiles"), ["id"]);
}

#[test]
fn folder_recursive() {
    let p = Project::on_backend(
        r#"
[collections.profiles]
source = "profiles"
format = "folder"
recursive = true

[collections.profiles.fields]
name = "text"
"#,
    );
    p.write(
        "profiles/anna.json",
        r#"{
  "id": "p1",
  "name": "Anna",
  "langs": [
    "de",
    "en"
  ]
}"#,
    );
    p.write(
        "profiles/sub/carl.json",
        "{\"id\": \"p3\", \"name\": \"Carl\"}",
    );
    lifecycle(&p, &["profiles/anna.json", "profiles/sub/carl.json"], true);
    let Some(db) = p.sqlite_checks(
        "folder_recursive",
        "the tables' layout, read from SQLite's catalog and its text of values",
    ) else {
        return;
    };
    assert_eq!(
        q(&db, "SELECT _file, name FROM profiles ORDER BY _file"),
        rows(&[&["anna.json", "Anna"], &["sub/carl.json", "Carl"]])
    );
    assert_eq!(pk_columns(&db, "profiles"), ["_file"]);
}

#[test]
fn prompty_folder() {
    let p = Project::on_backend(
        r#"
[collections.prompts]
source = "prompts"
format = "prompty"

[collections.prompts.fields]
name = { type = "text", required = true }
description = "text"
model = "json"
"#,
    );
    p.write(
        "prompts/greet.prompty",
        r#"---
name: greet
description: Say hello
model:
  api: chat
  parameters:
    temperature: 0.2
---
system:
You are a friendly assistant.

user:
{{input}}
"#,
    );
    p.write(
        "prompts/summarize.prompty",
        r#"---
name: summarize
description: Summarize a text
---
Summarize: {{text}}
"#,
    );
    // Assumption: prompty files come back byte-identical (the examples test demands it anyway).
    lifecycle(
        &p,
        &["prompts/greet.prompty", "prompts/summarize.prompty"],
        true,
    );

    let Some(db) = p.sqlite_checks(
        "prompty_folder",
        "the tables' layout, read from SQLite's catalog and its text of values",
    ) else {
        return;
    };
    assert_eq!(
        q(
            &db,
            "SELECT _file, name, description FROM prompts ORDER BY _file"
        ),
        rows(&[
            &["greet.prompty", "greet", "Say hello"],
            &["summarize.prompty", "summarize", "Summarize a text"]
        ])
    );
    assert_eq!(
        q1(
            &db,
            "SELECT json_extract(model, '$.api') FROM prompts WHERE name = 'greet'"
        ),
        "chat"
    );
    assert_eq!(
        q1(
            &db,
            "SELECT json_extract(model, '$.parameters.temperature') FROM prompts WHERE name = 'greet'"
        ),
        "0.2"
    );
    // The template body lands in `body` (whether the newline after `---` is part of it is not
    // pinned down, so only the content is checked).
    let body = q1(&db, "SELECT body FROM prompts WHERE name = 'greet'");
    assert!(
        body.contains("system:\nYou are a friendly assistant.\n\nuser:\n{{input}}"),
        "{body:?}"
    );
    assert!(
        !body.contains("temperature"),
        "front matter leaked into the body: {body:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// Exactness: numbers, null vs absent, unknown fields, key order, unicode
// ---------------------------------------------------------------------------------------------

const NUMBERS_TOML: &str = r#"
[collections.py]
source = "data/py.json"
key = "id"

[collections.py.fields]
id = "integer"
r = "real"

[collections.odd]
source = "data/odd.json"
key = "id"

[collections.odd.fields]
id = "integer"
r = "real"
"#;

#[test]
fn numbers_keep_their_spelling() {
    let p = Project::on_backend(NUMBERS_TOML);
    // Python json.dump(x, f, indent=2): 1 vs 1.0, 1e+16, 1e-07, -0.0, a 20-digit integer, both
    // in a REAL column (r) and in _extra (x).
    p.write(
        "data/py.json",
        r#"[
  {
    "id": 1,
    "r": 1,
    "x": 1.0
  },
  {
    "id": 2,
    "r": 1.0,
    "x": 12345678901234567890
  },
  {
    "id": 3,
    "r": 1e+16,
    "x": 1e-07
  },
  {
    "id": 4,
    "r": -0.0,
    "x": 3.141592653589793
  },
  {
    "id": 5,
    "r": 12345678901234567890,
    "x": -1.5e+300
  }
]"#,
    );
    // Hand-written, spellings no serializer produces: the value (number text included) must
    // survive even if the layout is not reproduced.
    let odd = "[ {\"id\": 1, \"r\": 1e3, \"x\": 1E3},\n  {\"id\": 2, \"r\": 0.10, \"x\": -0},\n  {\"id\": 3, \"r\": 100e-2, \"x\": 1.5E+2 } ]\n";
    p.write("data/odd.json", odd);

    p.migrate_ok();
    p.assert_db_sound_on_backend();
    p.jl(&["verify"]).ok();
    let out = p.export();
    assert_export_files(&out, &["data/odd.json", "data/py.json"]);
    assert_exported_identical(&p, &out, "data/py.json");
    assert_exported_same_value(&p, &out, "data/odd.json");

    let Some(db) = p.sqlite_checks(
        "numbers_keep_their_spelling",
        "the tables' layout, read from SQLite's catalog and its text of values",
    ) else {
        return;
    };
    assert_eq!(
        q(
            &db,
            "SELECT id, r, typeof(r) FROM py WHERE id IN (1, 2, 3, 5) ORDER BY id"
        ),
        rows(&[
            &["1", "1.0", "real"],
            &["2", "1.0", "real"],
            &["3", "1e16", "real"],
            &["5", "1.2345678901234567e19", "real"]
        ])
    );
    assert_eq!(
        q(&db, "SELECT id, r FROM odd ORDER BY id"),
        rows(&[&["1", "1000.0"], &["2", "0.1"], &["3", "1.0"]])
    );
}

#[test]
fn null_vs_absent_unknown_fields_and_key_order() {
    let p = Project::on_backend(
        r#"
[collections.items]
source = "items.json"
key = "id"

[collections.items.fields]
id = "text"
note = "text"
n = "integer"
"#,
    );
    // JSON.stringify(x, null, 2): explicit null (a) vs absent (b), key order unlike the schema
    // and an unknown nested field (c).
    p.write(
        "items.json",
        r#"[
  {
    "id": "a",
    "note": null,
    "n": 1
  },
  {
    "id": "b",
    "n": 2
  },
  {
    "n": 3,
    "extra": {
      "z": 1,
      "a": [
        true,
        false,
        null
      ]
    },
    "id": "c",
    "note": "x"
  }
]"#,
    );
    lifecycle(&p, &["items.json"], true);

    let Some(db) = p.sqlite_checks(
        "null_vs_absent_unknown_fields_and_key_order",
        "the tables' layout, read from SQLite's catalog and its text of values",
    ) else {
        return;
    };
    assert_eq!(
        q(&db, "SELECT id, note, n FROM items ORDER BY id"),
        rows(&[&["a", "NULL", "1"], &["b", "NULL", "2"], &["c", "x", "3"]])
    );
    let e = extra(&db, "SELECT _extra FROM items WHERE id = 'c'");
    let keys: Vec<&String> = e["extra"]
        .as_object()
        .expect("extra kept as an object")
        .keys()
        .collect();
    assert_eq!(keys, ["z", "a"], "unknown fields keep their key order");
    assert_eq!(e["extra"]["a"], serde_json::json!([true, false, null]));
}

#[test]
fn unicode_keys_and_values() {
    let p = Project::on_backend(
        r#"
[collections.words]
source = "words.json"
key = "wort"

[collections.words.fields]
wort = "text"
"größe" = { type = "integer", column = "groesse" }

[collections.words_py]
source = "words_py.json"
key = "wort"

[collections.words_py.fields]
wort = "text"
"größe" = { type = "integer", column = "groesse" }
"#,
    );
    // JSON.stringify (raw UTF-8, control characters escaped) and Python json.dump with its
    // default ensure_ascii (\u escapes, surrogate pairs).
    p.write(
        "words.json",
        r#"[
  {
    "wort": "Straße",
    "größe": 6,
    "注释": "street 🚗",
    "esc": "tab\there \"quoted\" back\\slash\nnew line \u0001 / slash"
  },
  {
    "wort": "日本",
    "größe": 2
  }
]"#,
    );
    p.write(
        "words_py.json",
        r#"[
  {
    "wort": "Stra\u00dfe",
    "gr\u00f6\u00dfe": 6,
    "\u6ce8\u91ca": "street \ud83d\ude97"
  }
]"#,
    );
    lifecycle(&p, &["words.json", "words_py.json"], true);

    let Some(db) = p.sqlite_checks(
        "unicode_keys_and_values",
        "the tables' layout, read from SQLite's catalog and its text of values",
    ) else {
        return;
    };
    assert_eq!(
        q(&db, "SELECT wort, groesse FROM words ORDER BY groesse"),
        rows(&[&["日本", "2"], &["Straße", "6"]])
    );
    assert_eq!(
        q(&db, "SELECT wort, groesse FROM words_py"),
        rows(&[&["Straße", "6"]])
    );
    let e = extra(&db, "SELECT _extra FROM words WHERE groesse = 6");
    assert_eq!(e["注释"], "street 🚗");
    assert_eq!(
        e["esc"],
        "tab\there \"quoted\" back\\slash\nnew line \u{1} / slash"
    );
    let e = extra(&db, "SELECT _extra FROM words_py");
    assert_eq!(e["注释"], "street 🚗");
}

#[test]
fn byte_order_mark_is_kept() {
    let p = Project::on_backend(STATS_TOML);
    p.write("data/stats.json", format!("\u{feff}{STATS_JSON}"));
    lifecycle(&p, &["data/stats.json"], true);
    assert_eq!(p.sql1("SELECT xp FROM stats"), "120");
}

// ---------------------------------------------------------------------------------------------
// Lifecycle
// ---------------------------------------------------------------------------------------------

const SMALL_TOML: &str = r#"
[collections.courses]
source = "data/courses.json"
key = "id"

[collections.courses.fields]
id = "text"
title = { type = "text", required = true }
"#;

const SMALL_V1: &str = "[\n  {\n    \"id\": \"c1\",\n    \"title\": \"Rust\"\n  }\n]";
const SMALL_V2: &str = "[\n  {\n    \"id\": \"c1\",\n    \"title\": \"Rust 2024\"\n  },\n  {\n    \"id\": \"c2\",\n    \"title\": \"Go\"\n  }\n]";

#[test]
fn changed_sources_need_reimport() {
    let p = Project::on_backend(SMALL_TOML);
    p.write(COURSES_FILE, SMALL_V1);
    p.migrate_ok();
    p.write(COURSES_FILE, SMALL_V2);
    let before = p.dump();
    let snap = p.snapshot();

    let r = p.jl(&["migrate"]);
    r.failed().stderr_has("--reimport");
    assert_eq!(p.dump(), before, "a refused migrate changed the database");
    assert_eq!(p.backups().len(), 1, "a refused migrate made a backup");
    p.assert_unchanged(&snap);

    p.jl(&["migrate", "--reimport"]).ok();
    p.assert_unchanged(&snap);
    assert_eq!(
        p.rows("SELECT id, title FROM courses ORDER BY id"),
        rows(&[&["c1", "Rust 2024"], &["c2", "Go"]])
    );
    assert_eq!(p.sql1("SELECT count(*) FROM _jsonlift_ledger"), "2");
    p.assert_db_sound_on_backend();
    assert_eq!(
        p.backups().len(),
        2,
        "the reimport backs the new sources up"
    );
    p.jl(&["verify"]).ok();
    let out = p.export();
    assert_exported_identical(&p, &out, COURSES_FILE);
    // And now it is current again.
    p.jl(&["migrate"]).ok().stdout_has("already migrated");
}

#[test]
fn dry_run_leaves_nothing() {
    let p = Project::on_backend(COURSES_TOML);
    p.write(COURSES_FILE, COURSES_JSON);
    let snap = p.snapshot();
    p.jl(&["migrate", "--dry-run"]).ok();
    p.assert_no_db();
    p.assert_no_backups();
    p.assert_unchanged(&snap);

    // Against an existing database, with changes pending, a dry reimport touches nothing either.
    p.migrate_ok();
    let edited = COURSES_JSON.replace("\"SQL\"", "\"SQL 2\"");
    p.write(COURSES_FILE, &edited);
    let before = p.dump();
    let backups = p.backups().len();
    let snap = p.snapshot();
    p.jl(&["migrate", "--dry-run", "--reimport"]).ok();
    assert_eq!(p.dump(), before);
    assert_eq!(p.backups().len(), backups);
    p.assert_unchanged(&snap);
}

#[test]
fn check_on_good_data_passes_and_writes_nothing() {
    let p = Project::on_backend(&format!("{COURSES_TOML}\n{STATS_TOML}"));
    p.write(COURSES_FILE, COURSES_JSON);
    p.write("data/stats.json", STATS_JSON);
    let snap = p.snapshot();
    p.jl(&["check"]).ok();
    p.jl(&["check", "--syntax-only"]).ok();
    p.assert_no_db();
    p.assert_no_backups();
    p.assert_unchanged(&snap);
}

#[test]
fn json_output() {
    let p = Project::on_backend(&format!("{COURSES_TOML}\n{STATS_TOML}"));
    p.write(COURSES_FILE, COURSES_JSON);
    p.write("data/stats.json", STATS_JSON);

    let j = p.jl(&["check", "--json"]).ok().json();
    assert_eq!(j["command"], "check");
    assert_eq!(j["ok"], true);
    assert_eq!(j["problems"], serde_json::json!([]));

    let r = p.jl(&["migrate", "--json"]);
    let j = r.ok().json();
    assert_eq!(j["command"], "migrate", "{r:#?}");
    assert_eq!(j["ok"], true, "{r:#?}");
    assert!(j["status"].is_string(), "{r:#?}");
    let db = j["database"].as_str().expect("database is a string");
    match &p.pg {
        Some(pg) => assert!(
            db.starts_with("postgres://") && db.contains(&pg.name),
            "database names the server and schema: {db}"
        ),
        None => {
            assert!(
                Path::new(db).is_absolute(),
                "database path not absolute: {db}"
            );
            assert_eq!(
                fs::canonicalize(db).unwrap(),
                p.db_path().canonicalize().unwrap()
            );
        }
    }
    assert_eq!(j["problems"], serde_json::json!([]));

    let cols = j["collections"].as_array().expect("collections array");
    assert_eq!(cols.len(), 2, "{r:#?}");
    let find = |name: &str| {
        cols.iter()
            .find(|c| c["name"] == name)
            .unwrap_or_else(|| panic!("no {name}\n{r:#?}"))
    };
    let c = find("courses");
    assert_eq!(c["table"], "courses");
    assert_eq!(c["source"], COURSES_FILE);
    assert_eq!(c["records"], 2);
    assert_eq!(
        c["child_rows"],
        serde_json::json!({"modules": 4, "lessons": 3})
    );
    let s = find("stats");
    assert_eq!(s["table"], "stats");
    assert_eq!(s["source"], "data/stats.json");
    assert_eq!(s["records"], 1);
    assert_eq!(s["child_rows"], serde_json::json!({}));

    let backup = j["backup"]
        .as_str()
        .expect("backup is a path after a migration");
    let backup = if Path::new(backup).is_absolute() {
        Path::new(backup).to_path_buf()
    } else {
        p.root.join(backup)
    };
    let backups = p.backups();
    assert_eq!(backups.len(), 1);
    assert_eq!(
        backup.canonicalize().unwrap(),
        backups[0].canonicalize().unwrap()
    );

    let j = p.jl(&["verify", "--json"]).ok().json();
    assert_eq!(j["command"], "verify");
    assert_eq!(j["ok"], true);
    assert_eq!(j["problems"], serde_json::json!([]));

    // A no-op migrate still answers in JSON, with no new backup.
    let j = p.jl(&["migrate", "--json"]).ok().json();
    assert_eq!(j["command"], "migrate");
    assert_eq!(j["ok"], true);
    assert!(
        j["backup"].is_null()
            || j["backup"]
                .as_str()
                .is_some_and(|b| p.root.join(b).exists())
    );
    assert_eq!(p.backups().len(), 1);

    // --dry-run: no backup, no database change.
    let fresh = Project::on_backend(STATS_TOML);
    fresh.write("data/stats.json", STATS_JSON);
    let j = fresh.jl(&["migrate", "--dry-run", "--json"]).ok().json();
    assert_eq!(j["ok"], true);
    assert!(j["backup"].is_null(), "dry run reports a backup: {j}");
    fresh.assert_no_db();
}

#[test]
fn backup_holds_identical_copies_and_a_matching_manifest() {
    let p = Project::on_backend(&format!("{COURSES_TOML}\n{STATS_TOML}"));
    p.write(COURSES_FILE, COURSES_JSON);
    p.write("data/stats.json", STATS_JSON);
    p.migrate_ok();

    let backups = p.backups();
    assert_eq!(backups.len(), 1, "{backups:?}");
    let dir = &backups[0];
    let name = dir.file_name().unwrap().to_string_lossy().into_owned();
    assert!(
        name.starts_with(|c: char| c.is_ascii_digit()) && name.contains('-'),
        "backup folder should be <timestamp>-<id>: {name}"
    );
    let manifest_text =
        fs::read_to_string(dir.join("manifest.json")).expect("manifest.json in the backup");
    let _: serde_json::Value = serde_json::from_str(&manifest_text).expect("manifest.json is JSON");

    let files = list_files(dir);
    for src in [COURSES_FILE, "data/stats.json"] {
        let bytes = p.read(src);
        let copy = files
            .iter()
            .filter(|f| f.as_str() != "manifest.json")
            .find(|f| fs::read(dir.join(f)).unwrap() == bytes);
        assert!(
            copy.is_some(),
            "no byte-identical copy of {src} in {files:?}"
        );
        assert!(
            manifest_text.contains(&sha256_hex(&bytes)),
            "manifest lacks the sha256 of {src}: {manifest_text}"
        );
        assert!(
            manifest_text.contains(src),
            "manifest does not name {src}: {manifest_text}"
        );
    }
    // Every copy in the backup is accounted for by a hash in the manifest.
    for f in files.iter().filter(|f| f.as_str() != "manifest.json") {
        let h = sha256_hex(&fs::read(dir.join(f)).unwrap());
        assert!(
            manifest_text.contains(&h),
            "manifest has no sha256 for {f}: {manifest_text}"
        );
    }
}

#[test]
fn default_project_file_and_relative_paths() {
    let p = Project::new(STATS_TOML);
    p.write("data/stats.json", STATS_JSON);
    // No -c: ./jsonlift.toml in the working directory.
    let r = p.jl_raw(&p.root, &["migrate".to_string()]);
    r.ok();
    assert!(p.db_path().exists());
    p.jl_raw(&p.root, &["verify".to_string()]).ok();

    // A relative -c from elsewhere: paths resolve against the project file's folder.
    let q2 = Project::new(STATS_TOML);
    q2.write("data/stats.json", STATS_JSON);
    let rel = "../proj/jsonlift.toml".to_string();
    q2.jl_raw(&q2.cwd, &["migrate".into(), "-c".into(), rel.clone()])
        .ok();
    assert!(
        q2.db_path().exists(),
        "database not beside the project file"
    );
    q2.assert_no_db_in_cwd();
    q2.jl_raw(&q2.cwd, &["verify".into(), "--config".into(), rel])
        .ok();
}

/// SQLite gives a stored -0.0 back as 0.0, so the quick read-back check (the very cells that were
/// inserted) fails for such a record; the full rebuild then decides, and the spelling kept in
/// `_meta` makes it pass. Large and small reals, exponents and -0 all come back as written.
#[test]
fn reals_sqlite_does_not_store_bit_for_bit_still_verify() {
    let p = Project::on_backend(
        r#"
[collections.points]
source = "points.json"
key = "id"

[collections.points.fields]
id = "integer"
x = "real"
xs = { type = "array", table = "point_xs", of = "real" }
"#,
    );
    p.write(
        "points.json",
        r#"[{"id":1,"x":-0.0,"xs":[-0,0.0,-0.0]},{"id":2,"x":1e300,"xs":[5e-324,1.5E3]},{"id":3,"x":-0,"xs":[]}]"#,
    );
    lifecycle(&p, &["points.json"], true);
}

const USERS_POSTS_TOML: &str = r#"
[collections.users]
source = "users.json"
key = "id"

[collections.users.fields]
id = "text"
name = "text"

[collections.posts]
source = "posts.json"
key = "id"

[collections.posts.fields]
id = "integer"
author = { type = "text", references = "users", on_delete = "cascade" }
title = "text"
"#;

/// Reloading a collection others refer to leaves theirs alone: ON DELETE CASCADE is for
/// deleting a record (the API), not for replacing the table a reimport reloads. A reimport
/// that would leave a reference pointing nowhere is refused, with the database unchanged.
#[test]
fn reimporting_a_referenced_collection_keeps_the_records_that_refer_to_it() {
    let p = Project::on_backend(USERS_POSTS_TOML);
    p.write(
        "users.json",
        r#"[{"id": "u1", "name": "Anna"}, {"id": "u2", "name": "Ben"}]"#,
    );
    p.write(
        "posts.json",
        "[\n  {\"id\": 1, \"author\": \"u1\", \"title\": \"Hello\"},\n  {\"id\": 2, \"author\": \"u2\", \"title\": \"World\"}\n]\n",
    );
    p.migrate_ok();

    p.write(
        "users.json",
        r#"[{"id": "u1", "name": "Anna"}, {"id": "u2", "name": "Ben"}, {"id": "u3", "name": "Cy"}]"#,
    );
    p.jl(&["migrate", "--reimport"]).ok();
    assert_eq!(p.sql1("SELECT count(*) FROM users"), "3");
    assert_eq!(
        p.rows("SELECT id, author FROM posts ORDER BY id"),
        rows(&[&["1", "u1"], &["2", "u2"]]),
        "the reimport of users took the posts with it"
    );
    p.assert_db_sound_on_backend();
    p.jl(&["verify"]).ok();

    // u2 gone while post 2 still names it: refused, at the reference, nothing changed.
    p.write("users.json", r#"[{"id": "u1", "name": "Anna"}]"#);
    let before = p.dump();
    p.jl(&["migrate", "--reimport"])
        .failed()
        .stderr_has("posts.json: table posts: author = \"u2\" points at no record of users");
    assert_eq!(p.dump(), before, "a refused reimport changed the database");
}

/// `export` shows its progress like the other long commands (issue #16): on a terminal a bar,
/// otherwise a line per source (and one every few seconds on a long one); `-q` silences it.
#[test]
fn export_reports_progress_per_source_without_a_terminal() {
    let p = Project::on_backend(crate::fixtures::COURSES_TOML);
    p.write(crate::fixtures::COURSES_FILE, crate::fixtures::COURSES_JSON);
    p.migrate_ok();
    let out = p.outside("export-progress");
    let r = p.jl(&["export", "--out", &out.display().to_string()]);
    r.ok().stderr_has("export data/courses.json: 2 rows in ");
    let out = p.outside("export-quiet");
    let r = p.jl(&["export", "-q", "--out", &out.display().to_string()]);
    r.ok();
    assert!(!r.stderr.contains("rows in"), "{r:#?}");
}

/// A file written with CRLF line endings (world-countries' countries.json is one) comes back
/// byte for byte (issue #16: the line ending was lost); so does one of each shape.
#[test]
fn crlf_line_endings_are_kept_on_export() {
    let p = Project::on_backend(
        "[collections.countries]\nsource = \"countries.json\"\nkey = \"cca3\"\n\n[collections.countries.fields]\ncca3 = \"text\"\nname = \"text\"\n\n[collections.settings]\nsource = \"settings.json\"\nformat = \"document\"\n\n[collections.people]\nsource = \"people.json\"\nformat = \"object\"\n",
    );
    let crlf = |s: &str| s.replace('\n', "\r\n");
    let countries = crlf(
        "[\n  {\n    \"cca3\": \"DEU\",\n    \"name\": \"Germany\",\n    \"borders\": [\n      \"AUT\",\n      \"CHE\"\n    ]\n  },\n  {\n    \"cca3\": \"FRA\",\n    \"name\": \"France\"\n  }\n]\n",
    );
    let settings = crlf("{\n    \"theme\": \"dark\",\n    \"size\": 12\n}\n");
    let people = crlf("{\"a\": {\"n\": 1}, \"b\": {\"n\": 2}}\n");
    p.write("countries.json", &countries);
    p.write("settings.json", &settings);
    p.write("people.json", &people);
    p.migrate_ok();
    p.jl(&["verify"]).ok();
    let out = p.export();
    for rel in ["countries.json", "settings.json", "people.json"] {
        assert_exported_identical(&p, &out, rel);
    }
}

/// Issue #16: a hand-formatted file (one record per line) comes back from `export`
/// re-indented, equal in value. Copied back over the source, it is not a change: `migrate`
/// compares the content with the database instead of refusing on the new fingerprint, records
/// it, and from then on `export` gives back the file as it now is. A real change is still
/// refused.
#[test]
fn exported_files_copied_back_are_not_a_change() {
    let p = Project::on_backend(COURSES_TOML);
    let hand = "[\n  {\"id\": \"c1\", \"title\": \"Rust\", \"modules\": [{\"title\": \"Intro\", \"lessons\": [{\"title\": \"Hello\", \"minutes\": 5}]}]},\n  {\"id\": \"c2\", \"title\": \"SQL\"}\n]\n";
    p.write(COURSES_FILE, hand);
    p.migrate_ok();
    let out = p.export();
    let exported = fs::read(out.join(COURSES_FILE)).unwrap();
    assert_ne!(exported, hand.as_bytes(), "the layout is re-indented");
    p.write(COURSES_FILE, &exported);
    // Everything but the recorded fingerprint stays as it was.
    let records = || -> Vec<String> {
        p.dump()
            .into_iter()
            .filter(|l| !l.contains("_jsonlift_sources"))
            .collect()
    };
    let before = records();
    p.jl(&["migrate"])
        .ok()
        .stdout_has("already migrated; sources written again with the same content");
    assert_eq!(records(), before, "no record was reloaded");
    p.jl(&["verify"]).ok();
    p.jl(&["migrate"]).ok().stdout_has("already migrated");
    assert_exported_identical(&p, &p.export(), COURSES_FILE);

    // Equal in value, written compactly: not a change either.
    let compact = String::from_utf8(exported)
        .unwrap()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join("");
    p.write(COURSES_FILE, &compact);
    p.jl(&["migrate"]).ok().stdout_has("already migrated");

    // A different value is.
    p.write(COURSES_FILE, compact.replace("\"SQL\"", "\"SQL 2\""));
    p.jl(&["migrate"])
        .code(1)
        .stderr_has("sources changed since the last migration");
}

/// A migration fills each table before building the indexes of its UNIQUE constraints and
/// before checking its CHECK constraints (src/store/bulk.rs). A duplicate or a broken check is
/// still named at its record's file:line:column with its path (in a child table too, and in a
/// UNIQUE group), before anything is committed: on a fresh database and on a reimport, which
/// keeps the database as it was.
const UNIQUE_TOML: &str = r#"
[collections.courses]
source = "data/courses.json"
key = "id"
unique = [["title", "year"]]

[collections.courses.fields]
id = "text"
title = "text"
year = { type = "integer", check = "year >= 2000" }
code = { type = "text", unique = true }
level = { type = "text", enum = ["intro", "core", "advanced"] }

[collections.courses.fields.modules]
type = "array"
table = "modules"

[collections.courses.fields.modules.fields]
slug = { type = "text", unique = true }
title = { type = "text", check = "length(title) < 20" }

[collections.courses.fields.modules.fields.lessons]
type = "array"
table = "lessons"
fields = { title = "text", minutes = { type = "integer", check = "minutes > 0" } }
"#;

fn unique_courses(repeat: Option<(&str, &str)>) -> String {
    let mut courses: Vec<String> = (0..50)
        .map(|n| {
            format!(
                r#"  {{"id": "c{n}", "title": "Course {n}", "year": 2020, "code": "K-{n}", "level": "core", "modules": [{{"slug": "m{n}-a", "title": "A", "lessons": [{{"title": "L1", "minutes": 5}}]}}, {{"slug": "m{n}-b", "title": "B", "lessons": [{{"title": "L2", "minutes": 6}}, {{"title": "L3", "minutes": 7}}]}}]}}"#
            )
        })
        .collect();
    if let Some((from, to)) = repeat {
        courses[40] = courses[40].replace(from, to);
    }
    format!("[\n{}\n]\n", courses.join(",\n"))
}

#[test]
fn duplicates_are_named_at_their_place_when_unique_indexes_are_built_after_the_load() {
    let cases = [
        // A child row repeats an earlier record's module slug.
        (
            (r#""slug": "m40-b""#, r#""slug": "m7-a""#),
            "data/courses.json:42:COL: $[40].modules[1]: duplicate slug: another record already has slug = \"m7-a\"",
        ),
        // A UNIQUE column of the record itself.
        (
            (r#""code": "K-40""#, r#""code": "K-3""#),
            "data/courses.json:42:3: $[40]: duplicate code: another record already has code = \"K-3\"",
        ),
        // A UNIQUE group.
        (
            (r#""title": "Course 40""#, r#""title": "Course 9""#),
            "data/courses.json:42:3: $[40]: duplicate key: another record already has title = \"Course 9\", year = 2020",
        ),
        // A CHECK of the user's on the record's own row.
        (
            (
                r#""year": 2020, "code": "K-40""#,
                r#""year": 1999, "code": "K-40""#,
            ),
            "data/courses.json:42:3: $[40]: CHECK constraint failed: year >= 2000 (in table courses)",
        ),
        // A CHECK on a child row.
        (
            (
                r#""slug": "m40-b", "title": "B""#,
                r#""slug": "m40-b", "title": "Far too long a title""#,
            ),
            "data/courses.json:42:COL: $[40].modules[1]: CHECK constraint failed: length(title) < 20 (in table modules)",
        ),
    ];
    for ((from, to), want) in cases {
        // The second module of record 40 (line 42) starts at this column.
        let bad = unique_courses(Some((from, to)));
        let line = bad.lines().nth(41).unwrap();
        let col = line.rfind(r#"{"slug""#).unwrap() + 1;
        let want = want.replace("COL", &col.to_string());
        let want = want.as_str();
        let p = Project::on_backend(UNIQUE_TOML);
        p.write("data/courses.json", &bad);
        let snap = p.snapshot();
        p.jl(&["migrate"]).failed().stderr_has(want);
        p.assert_no_db();
        p.assert_no_backups();
        p.assert_unchanged(&snap);

        // Already migrated: a reimport of the broken file changes nothing.
        p.write("data/courses.json", unique_courses(None));
        p.migrate_ok();
        let before = p.dump();
        p.write("data/courses.json", unique_courses(Some((from, to))));
        p.jl(&["migrate", "--reimport"]).failed().stderr_has(want);
        assert_eq!(p.dump(), before, "a refused reimport changed the database");
    }
}

/// The tables a migration builds without their UNIQUE and CHECK constraints and gives them
/// back after the load are defined exactly as if created whole: the same CREATE TABLE text,
/// SQLite's automatic index for each constraint (same names, columns and origin as a table
/// created from that text; `lessons` kept its `(parent, position)` one through the load), every
/// index consistent with its rows, and the constraints enforced for any client.
#[test]
fn tables_loaded_before_their_unique_indexes_are_defined_as_if_created_whole() {
    let p = Project::new(UNIQUE_TOML);
    p.write("data/courses.json", unique_courses(None));
    p.migrate_ok();
    let db = p.db();
    assert_eq!(q1(&db, "PRAGMA integrity_check"), "ok");
    assert_eq!(q1(&db, "SELECT count(*) FROM lessons"), "150");
    let fresh = rusqlite::Connection::open_in_memory().unwrap();
    for table in ["courses", "modules", "lessons"] {
        let sql = q1(
            &db,
            &format!("SELECT sql FROM sqlite_schema WHERE type = 'table' AND name = '{table}'"),
        );
        assert!(sql.contains("UNIQUE"), "{table}: {sql}");
        assert!(sql.contains("CHECK ("), "{table}: {sql}");
        fresh.execute_batch(&sql).unwrap();
        let indexes = |c: &rusqlite::Connection| {
            q(
                c,
                &format!(
                    "SELECT l.name, l.\"unique\", l.origin, group_concat(i.name, ',') FROM pragma_index_list('{table}') l, pragma_index_info(l.name) i WHERE l.origin <> 'c' GROUP BY l.name ORDER BY l.name"
                ),
            )
        };
        let made = indexes(&fresh);
        assert!(!made.is_empty(), "{table} has automatic indexes");
        assert_eq!(indexes(&db), made, "{table}: the automatic indexes");
    }
    assert_eq!(
        q1(
            &db,
            "SELECT count(*) FROM sqlite_schema WHERE name LIKE 'jsonlift_unique%' OR name LIKE 'jsonlift_renaming%'"
        ),
        "0"
    );
    // Enforced for another client, as declared.
    let e = db
        .execute_batch(
            "INSERT INTO modules (_parent, _pos, slug, title) VALUES ('c1', 9, 'm3-a', 'dup')",
        )
        .unwrap_err();
    assert!(
        e.to_string()
            .contains("UNIQUE constraint failed: modules.slug"),
        "{e}"
    );
    for (insert, want) in [
        (
            "INSERT INTO courses (id, title, year, code) VALUES ('c99', 'T', 1990, 'K-99')",
            "CHECK constraint failed: year >= 2000",
        ),
        (
            "INSERT INTO courses (id, title, year, code, level) VALUES ('c99', 'T', 2020, 'K-99', 'expert')",
            "CHECK constraint failed",
        ),
        (
            "INSERT INTO lessons (_parent, _pos, title, minutes) VALUES (1, 0, 'dup', 3)",
            "UNIQUE constraint failed: lessons._parent, lessons._pos",
        ),
        // A JSON column's check, left out for the load too.
        (
            "INSERT INTO courses (id, title, year, code, _extra) VALUES ('c99', 'T', 2020, 'K-99', '{oops')",
            "CHECK constraint failed: _extra",
        ),
    ] {
        let e = db.execute_batch(insert).unwrap_err();
        assert!(e.to_string().contains(want), "{insert}: {e}");
    }
    drop(db);
    // jsonlift itself finds nothing changed: no drift, nothing to do, the same records.
    p.jl(&["verify"]).ok();
    p.jl(&["migrate"]).ok().stdout_has("already migrated");
}

/// A run killed while it backed up the sources leaves a snapshot folder without manifest. The
/// next run removes it even when it has nothing to load (it used to stay until a run that
/// loaded something); a folder marked by a process still alive is kept.
#[test]
fn an_incomplete_backup_of_a_killed_run_is_removed_by_a_run_with_nothing_to_do() {
    let p = Project::new(UNIQUE_TOML);
    p.write("data/courses.json", unique_courses(None));
    p.migrate_ok();
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .unwrap()
        .trim()
        .to_string();
    let mut child = std::process::Command::new("true").spawn().unwrap();
    child.wait().unwrap();
    let dead = child.id();
    let alive = std::process::id();
    for (name, pid) in [
        ("20261207T000000Z-killed", dead),
        ("20261207T000001Z-alive", alive),
    ] {
        p.write(
            &format!(".jsonlift/backups/{name}/.writing"),
            format!("{pid} {host}\n"),
        );
        p.write(&format!(".jsonlift/backups/{name}/data/courses.json"), "[");
    }
    p.jl(&["migrate"]).ok().stdout_has("already migrated");
    assert!(
        !p.path(".jsonlift/backups/20261207T000000Z-killed").exists(),
        "the killed run's snapshot is left"
    );
    assert!(
        p.path(".jsonlift/backups/20261207T000001Z-alive/.writing")
            .exists(),
        "a snapshot still being written was removed"
    );
}
