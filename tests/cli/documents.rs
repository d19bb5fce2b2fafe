//! Seed 004's own layout (issue #15, item 7): folder collections sharing one `documents` table
//! (`table = "documents"`, each with its own `type`). Each stays its own collection above the
//! store: migrate and verify, export byte for byte, CRUD through `serve` that never sees or
//! touches another type's rows, a file edited under `serve --watch` changing only its row; and
//! a declaration that cannot work refused with the key named. The same on PostgreSQL
//! (`..._on_postgres`, and the whole module in the PostgreSQL pass of `.ci/run`).

use std::path::Path;

use crate::postgres::PgSchema;
use crate::serve::{Server, call};
use crate::util::*;
use crate::watch::{SYNC, field, get, sync_state, wait_field, wait_for};

/// The personas example's folders in one `documents` table, as seed 004 has it.
const TOML: &str = r#"database = "studio.db"

[collections.personas]
source = "personas"
format = "folder"
table = "documents"
type = "persona"

[collections.prompts]
source = "prompts"
format = "prompty"
table = "documents"
type = "prompt_template"
"#;

/// A project holding the personas example's `personas/` and `prompts/` folders and [`TOML`]
/// (plus `extra`), its database on `pg` when given, else on the backend of this run.
fn project(extra: &str, pg: Option<PgSchema>) -> Project {
    let mut p = Project::new(&format!("{TOML}{extra}"));
    let ex = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/personas");
    for dir in ["personas", "prompts"] {
        copy_tree(&ex.join(dir), &p.path(dir));
    }
    p.db_rel = "studio.db".into();
    match pg {
        Some(pg) => {
            let toml = String::from_utf8(p.read("jsonlift.toml")).unwrap();
            let rest = toml.replacen("database = \"studio.db\"\n", "", 1);
            p.write("jsonlift.toml", format!("{}{rest}", pg.toml()));
            p.pg = Some(pg);
            p
        }
        None => p.on_test_backend(),
    }
}

const PERSONAS: [&str; 5] = [
    "juergen-oeztuerk.json",
    "lena-weber.json",
    "sam-rivera.json",
    "test-persona.json",
    "zhang-wei.json",
];
const PROMPTS: [&str; 3] = [
    "customer-interview.prompty",
    "feature-feedback.prompty",
    "persona-summary.prompty",
];

/// The ids of a list answer, in order.
fn ids(s: &Server, route: &str) -> Vec<String> {
    let (st, v) = get(s, route);
    assert_eq!(st, 200, "{route}: {v:?}");
    match v {
        jsonlift::json::Value::Array(a) => a
            .iter()
            .map(|r| field(r, "name").unwrap_or_default())
            .collect(),
        other => panic!("{route}: not a list: {other:?}"),
    }
}

/// Rows of the shared table by type: (type, id, name, file_path), ordered.
fn rows_of(p: &Project) -> Vec<Vec<String>> {
    p.rows("SELECT type, id, name, file_path FROM documents ORDER BY type, id")
}

fn migrate_verify_export(p: &Project) {
    p.migrate_ok();
    p.jl(&["migrate"]).ok().stdout_has("already migrated");
    p.jl(&["verify"]).ok();
    let r = rows_of(p);
    assert_eq!(r.len(), 8, "{r:?}");
    assert_eq!(
        r[0],
        [
            "persona",
            "juergen-oeztuerk.json",
            "Jürgen Öztürk",
            "personas/juergen-oeztuerk.json"
        ]
    );
    assert_eq!(
        r[5],
        [
            "prompt_template",
            "customer-interview.prompty",
            "Customer Interview",
            "prompts/customer-interview.prompty"
        ]
    );
    // The record whole in `document`, filled times in SQLite's CURRENT_TIMESTAMP form.
    let doc = p.rows(
        "SELECT document, file_modified, created_at, updated_at FROM documents WHERE id = 'lena-weber.json'",
    );
    if p.pg.is_none() {
        // (PostgreSQL's jsonb orders keys its own way; the exact text is in `_exact`.)
        let record = parse_json(doc[0][0].as_bytes());
        assert_eq!(record, parse_json(&p.read("personas/lena-weber.json")));
    }
    for stamp in &doc[0][1..] {
        assert_eq!(stamp.len(), 19, "{stamp}");
        assert_eq!(&stamp[10..11], " ", "{stamp}");
    }
    let out = p.export();
    for f in PERSONAS {
        assert_exported_identical(p, &out, &format!("personas/{f}"));
    }
    for f in PROMPTS {
        assert_exported_identical(p, &out, &format!("prompts/{f}"));
    }
    // Nothing of the table's own columns is added to the exported records.
    let exported = parse_json(&std::fs::read(out.join("personas/lena-weber.json")).unwrap());
    assert!(exported.get("file_path").is_none() && exported.get("type").is_none());
}

/// CRUD through `serve`: each route sees, writes and deletes only its own type's rows.
fn crud_stays_separate(p: &Project) {
    let s = Server::start(p, &[], &[]);
    // (After the watch test: 5 personas, 3 prompts.)
    assert_eq!(ids(&s, "/api/personas").len(), 5);
    assert_eq!(ids(&s, "/api/prompts").len(), 3);
    // A key of the other collection names nothing here.
    call(
        "GET",
        &s.url("/api/personas/customer-interview.prompty"),
        None,
        None,
    )
    .status(404);
    call("GET", &s.url("/api/prompts/lena-weber.json"), None, None).status(404);
    call(
        "DELETE",
        &s.url("/api/personas/customer-interview.prompty"),
        None,
        None,
    )
    .status(404);
    call(
        "PATCH",
        &s.url("/api/prompts/lena-weber.json"),
        None,
        Some(r#"{"x":1}"#),
    )
    .status(404);
    call(
        "POST",
        &s.url("/api/personas"),
        None,
        Some(r#"{"name": "Neu Person", "role": "Tester"}"#),
    )
    .status(201);
    call(
        "PATCH",
        &s.url("/api/prompts/feature-feedback.prompty"),
        None,
        Some(r#"{"description": "changed"}"#),
    )
    .status(200);
    call("DELETE", &s.url("/api/prompts/neu.prompty"), None, None).status(200);
    assert_eq!(ids(&s, "/api/personas").len(), 6);
    assert_eq!(ids(&s, "/api/prompts").len(), 2);
    // A filter and a count see one type only.
    let r = call("GET", &s.url("/api/personas?_page=1&_limit=2"), None, None);
    assert_eq!(r.header("x-total-count"), Some("6"));
    let (_, v) = get(&s, "/api/prompts?q=Lena");
    assert!(
        matches!(v, jsonlift::json::Value::Array(ref a) if a.len() == 1),
        "{v:?}"
    );
    drop(s);
    let by_type = p.rows("SELECT type, count(*) FROM documents GROUP BY type ORDER BY type");
    assert_eq!(
        by_type,
        rows(&[&["persona", "6"], &["prompt_template", "2"]])
    );
    // The new persona's row: its type, its name, a file name as its id.
    let new = p.rows("SELECT type, name, file_path FROM documents WHERE name = 'Neu Person'");
    assert_eq!(new[0][0], "persona");
    assert!(
        new[0][2].starts_with("personas/") && new[0][2].ends_with(".json"),
        "{new:?}"
    );
    // The changed prompt kept its created_at; updated_at is set anew.
    let t = p
        .rows("SELECT created_at, updated_at FROM documents WHERE id = 'feature-feedback.prompty'");
    assert!(t[0][0] <= t[0][1], "{t:?}");
    // The audit log names each collection.
    let audit = p.rows(
        "SELECT collection, key, action FROM _jsonlift_audit WHERE action IN ('insert', 'update', 'delete') ORDER BY id",
    );
    // The watch test's file changes (the sync's), then this one's writes.
    assert_eq!(
        audit[0],
        ["personas", "lena-weber.json", "update"],
        "{audit:?}"
    );
    assert_eq!(audit[1], ["prompts", "neu.prompty", "insert"], "{audit:?}");
    let api = &audit[audit.len() - 3..];
    assert_eq!(
        (api[0][0].as_str(), api[0][2].as_str()),
        ("personas", "insert"),
        "{audit:?}"
    );
    assert_eq!(
        api[1],
        ["prompts", "feature-feedback.prompty", "update"],
        "{audit:?}"
    );
    assert_eq!(api[2], ["prompts", "neu.prompty", "delete"], "{audit:?}");

    // A backup and a restore bring back both types' rows as they were.
    p.jl(&["backup"]).ok();
    p.exec("DELETE FROM documents WHERE type = 'persona'");
    p.jl(&["restore"]).ok();
    let by_type = p.rows("SELECT type, count(*) FROM documents GROUP BY type ORDER BY type");
    assert_eq!(
        by_type,
        rows(&[&["persona", "6"], &["prompt_template", "2"]])
    );
    p.jl(&["verify"]).code(1); // the API's writes are in the database only
}

/// `serve --watch`: a file edited on disk changes its own row and no other.
fn watch_edit_changes_only_its_row(p: &Project) {
    let before = p.rows("SELECT id, document, file_modified FROM documents ORDER BY id");
    let s = Server::start(p, &["--watch"], &[]);
    wait_for("the initial sync", || {
        (field(&sync_state(&s), "state").as_deref() == Some("in sync")).then_some(())
    });
    let text = String::from_utf8(p.read("personas/lena-weber.json")).unwrap();
    p.write(
        "personas/lena-weber.json",
        text.replace("\"Lena Weber\"", "\"Lena W.\""),
    );
    wait_field(&s, "/api/personas/lena-weber.json", "name", "Lena W.");
    // A new prompt file is a prompt, not a persona.
    p.write(
        "prompts/neu.prompty",
        "---\nname: Neu\ndescription: added on disk\n---\nHallo {{name}}\n",
    );
    wait_field(&s, "/api/prompts/neu.prompty", "name", "Neu");
    call("GET", &s.url("/api/personas/neu.prompty"), None, None).status(404);
    // Renamed with its content unchanged: the record follows, under its new file name.
    std::fs::rename(
        p.path("personas/zhang-wei.json"),
        p.path("personas/zhang.json"),
    )
    .unwrap();
    wait_field(&s, "/api/personas/zhang.json", "name", "张伟 (Zhang Wei)");
    // Deleted: its row goes, the other type's rows stay.
    p.remove("prompts/persona-summary.prompty");
    wait_for("persona-summary.prompty gone", || {
        (get(&s, "/api/prompts/persona-summary.prompty").0 == 404).then_some(())
    });
    call("GET", &s.url("/api/personas/zhang-wei.json"), None, None).status(404);
    drop(s);
    let after = p.rows("SELECT id, document, file_modified FROM documents ORDER BY id");
    let changed: Vec<&String> = after
        .iter()
        .filter(|r| !before.contains(r))
        .map(|r| &r[0])
        .collect();
    assert_eq!(
        changed,
        ["lena-weber.json", "neu.prompty", "zhang.json"],
        "{after:?}"
    );
    let gone: Vec<&String> = before
        .iter()
        .filter(|r| !after.iter().any(|a| a[0] == r[0]))
        .map(|r| &r[0])
        .collect();
    assert_eq!(
        gone,
        ["persona-summary.prompty", "zhang-wei.json"],
        "{after:?}"
    );
    let lena = p.rows("SELECT type, name FROM documents WHERE id = 'lena-weber.json'");
    assert_eq!(lena, rows(&[&["persona", "Lena W."]]));
    let neu = p.rows("SELECT type, name, file_path FROM documents WHERE id = 'neu.prompty'");
    assert_eq!(
        neu,
        rows(&[&["prompt_template", "Neu", "prompts/neu.prompty"]])
    );
    p.jl(&["verify"]).ok();
}

#[test]
fn seed_004_documents_table_migrates_exports_serves_and_syncs_per_type() {
    let p = project(SYNC, None);
    migrate_verify_export(&p);
    if let Some(db) = p.sqlite_checks("seed_004_documents_table", "the table's SQLite schema") {
        // Seed 004's table: its columns, keys, CHECK and indexes.
        let cols = q(
            &db,
            "SELECT name, type, \"notnull\", pk, coalesce(dflt_value, '') FROM pragma_table_info('documents')",
        );
        assert_eq!(
            cols,
            rows(&[
                &["id", "TEXT", "1", "1", ""],
                &["type", "TEXT", "1", "0", ""],
                &["name", "TEXT", "1", "0", ""],
                &["document", "TEXT", "1", "0", ""],
                &["file_path", "TEXT", "1", "0", ""],
                &["file_modified", "TEXT", "1", "0", ""],
                &["created_at", "TEXT", "0", "0", "CURRENT_TIMESTAMP"],
                &["updated_at", "TEXT", "0", "0", "CURRENT_TIMESTAMP"],
            ])
        );
        let sql = q1(
            &db,
            "SELECT sql FROM sqlite_master WHERE name = 'documents'",
        );
        assert!(
            sql.contains(
                r#""type" TEXT NOT NULL CHECK ("type" IN ('persona', 'prompt_template'))"#
            ),
            "{sql}"
        );
        let idx = q(
            &db,
            "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'documents' AND sql IS NOT NULL ORDER BY name",
        );
        assert_eq!(
            idx,
            rows(&[
                &["idx_documents_file_path"],
                &["idx_documents_name"],
                &["idx_documents_type"]
            ])
        );
        let plan = q(
            &db,
            "EXPLAIN QUERY PLAN SELECT id FROM documents WHERE type = 'persona'",
        );
        assert!(
            format!("{plan:?}").contains("idx_documents_type"),
            "{plan:?}"
        );
        let bad = db.execute(
            "INSERT INTO documents (id, type, name, document, file_path, file_modified) VALUES ('x', 'other', 'x', '{}', 'x', 'x')",
            [],
        );
        assert!(bad.is_err(), "a type outside the list is refused");
    }
    watch_edit_changes_only_its_row(&p);
    crud_stays_separate(&p);
}

#[test]
fn seed_004_documents_table_on_postgres() {
    let Some(url) = crate::postgres::server("seed_004_documents_table_on_postgres") else {
        return;
    };
    let p = project(SYNC, Some(PgSchema::new(&url)));
    migrate_verify_export(&p);
    assert_eq!(
        p.columns("documents"),
        [
            "id",
            "type",
            "name",
            "document",
            "file_path",
            "file_modified",
            "created_at",
            "updated_at",
            "_exact"
        ]
    );
    watch_edit_changes_only_its_row(&p);
    crud_stays_separate(&p);
}

#[test]
fn a_reimport_of_one_type_keeps_the_other_types_rows() {
    let p = project("", None);
    p.migrate_ok();
    let s = Server::start(&p, &[], &[]);
    call(
        "PATCH",
        &s.url("/api/prompts/feature-feedback.prompty"),
        None,
        Some(r#"{"description": "edited through the API"}"#),
    )
    .status(200);
    drop(s);
    let text = String::from_utf8(p.read("personas/lena-weber.json")).unwrap();
    p.write(
        "personas/lena-weber.json",
        text.replace("\"Lena Weber\"", "\"Lena W.\""),
    );
    p.jl(&["migrate", "--reimport"]).ok();
    assert_eq!(
        p.rows("SELECT name FROM documents WHERE id = 'lena-weber.json'"),
        rows(&[&["Lena W."]])
    );
    // The prompts were not reloaded: the API's edit is still there.
    let doc = p.rows("SELECT document FROM documents WHERE id = 'feature-feedback.prompty'");
    assert!(doc[0][0].contains("edited through the API"), "{doc:?}");
    assert_eq!(p.rows("SELECT count(*) FROM documents"), rows(&[&["8"]]));
}

/// A type added to the shared table later (a new folder collection with `table = "documents"`):
/// the table's type check takes the new type, the new folder is loaded, and the rows of the
/// type already there, with the edits made through the API, are kept. On both databases.
#[test]
fn a_type_added_later_is_loaded_into_the_shared_table_keeping_the_others_edits() {
    let p = project("", None);
    let full = String::from_utf8(p.read("jsonlift.toml")).unwrap();
    let start = full.find("\n[collections.prompts]").unwrap();
    p.write("jsonlift.toml", &full[..start]);
    p.migrate_ok();
    let s = Server::start(&p, &[], &[]);
    call(
        "PATCH",
        &s.url("/api/personas/lena-weber.json"),
        None,
        Some(r#"{"name": "Lena W."}"#),
    )
    .status(200);
    drop(s);
    assert_eq!(
        p.rows("SELECT DISTINCT type FROM documents"),
        rows(&[&["persona"]])
    );

    p.write("jsonlift.toml", &full);
    p.jl(&["plan"])
        .ok()
        .stdout_has("prompts: new; loaded from its source file");
    p.jl(&["migrate"])
        .ok()
        .stdout_has("prompts: new; loaded from its source file");
    p.jl(&["migrate"]).ok().stdout_has("already migrated");
    p.assert_db_sound_on_backend();
    assert_eq!(
        p.rows("SELECT type, count(*) FROM documents GROUP BY type ORDER BY type"),
        rows(&[&["persona", "5"], &["prompt_template", "3"]])
    );
    assert_eq!(
        p.rows("SELECT name FROM documents WHERE id = 'lena-weber.json'"),
        rows(&[&["Lena W."]]),
        "the API's edit is kept"
    );
    // The prompts are as their files: exported byte for byte.
    let out = p.export();
    for f in PROMPTS {
        assert_eq!(
            std::fs::read(out.join("prompts").join(f)).unwrap(),
            p.read(&format!("prompts/{f}")),
            "{f}"
        );
    }
}

#[test]
fn an_inconsistent_shared_table_is_refused_naming_the_key() {
    let cases = [
        // Two collections, one type.
        (
            TOML.replace("\"prompt_template\"", "\"persona\""),
            "collections.prompts.type: \"persona\" is already the type of collections.personas",
        ),
        // A missing type.
        (
            TOML.replace("type = \"prompt_template\"\n", ""),
            "collections.prompts.type: table \"documents\" is shared",
        ),
        // A collection that is no folder.
        (
            format!(
                "{TOML}\n[collections.stats]\nsource = \"stats.json\"\nformat = \"document\"\ntable = \"documents\"\ntype = \"stats\"\n"
            ),
            "collections.stats.type: only folder collections",
        ),
        // A non-folder collection sharing the table without a type.
        (
            format!(
                "{TOML}\n[collections.stats]\nsource = \"stats.json\"\nformat = \"document\"\ntable = \"documents\"\n"
            ),
            "collections.stats.type: table \"documents\" is shared",
        ),
        // Fields of their own: the record is the document.
        (
            TOML.replace("type = \"persona\"\n", "type = \"persona\"\nkey = \"id\"\n"),
            "collections.personas.key: a collection sharing table \"documents\"",
        ),
    ];
    for (toml, want) in cases {
        let p = Project::new(&toml);
        p.write("stats.json", "{}\n");
        p.jl(&["check"]).code(2).stderr_has(want);
        p.jl(&["migrate"]).code(2).stderr_has(want);
        p.assert_no_db();
    }
}

/// Issue #15, item 6: a filter on a declared JSON path (`indexes = [["demographics.location"]]`)
/// is answered in SQL through the path's expression index, with json-server's answers: the
/// same as the in-memory reference (the project without the index) for every query here.
#[test]
fn a_declared_json_path_filter_uses_its_index_and_answers_like_the_reference() {
    let indexed = project("", None);
    let toml = String::from_utf8(indexed.read("jsonlift.toml")).unwrap();
    indexed.write(
        "jsonlift.toml",
        toml.replacen(
            "type = \"persona\"\n",
            "type = \"persona\"\nindexes = [[\"demographics.location\"], [\"role\"]]\n",
            1,
        ),
    );
    // Numbers, an array, nulls at the path: the SQL part must still give json-server's answer.
    indexed.write(
        "personas/numbers.json",
        "{\"id\": \"n\", \"name\": \"Numbers\", \"demographics\": {\"location\": 5}, \"role\": null}\n",
    );
    indexed.migrate_ok();
    let plain = project("", None);
    plain.write(
        "personas/numbers.json",
        indexed.read("personas/numbers.json"),
    );
    plain.migrate_ok();

    let queries = [
        "demographics.location=K%C3%B6ln-Porz",
        "demographics.location=M%C3%BCnchen&demographics.location=%E6%B7%B1%E5%9C%B3",
        "demographics.location=Berlin",
        "demographics.location=5",
        "demographics.location=null",
        "demographics.location=K%C3%B6ln-Porz&_sort=name&_order=desc",
        "demographics.location_ne=M%C3%BCnchen",
        "role=Schichtleiter%20Fertigung",
        "nosuch.path=1",
    ];
    let a = Server::start(&indexed, &[], &[]);
    let b = Server::start(&plain, &[], &[]);
    for q in queries {
        let ra = call("GET", &a.url(&format!("/api/personas?{q}")), None, None);
        let rb = call("GET", &b.url(&format!("/api/personas?{q}")), None, None);
        assert_eq!((ra.status, &ra.body), (rb.status, &rb.body), "{q}");
        assert_eq!(
            ra.header("x-total-count"),
            rb.header("x-total-count"),
            "{q}"
        );
    }
    let (_, v) = get(&a, "/api/personas?demographics.location=K%C3%B6ln-Porz");
    assert!(
        matches!(v, jsonlift::json::Value::Array(ref r) if r.len() == 1),
        "{v:?}"
    );
    // An array at the path: `String(["Berlin"])` is "Berlin" in json-server.
    call(
        "POST",
        &a.url("/api/personas"),
        None,
        Some(r#"{"name": "Arr", "demographics": {"location": ["Berlin"]}}"#),
    )
    .status(201);
    let (_, v) = get(&a, "/api/personas?demographics.location=Berlin");
    assert!(
        matches!(v, jsonlift::json::Value::Array(ref r) if r.len() == 1),
        "{v:?}"
    );
    drop(a);
    drop(b);

    // The index, and SQLite's plan for the filter the list runs takes it.
    let Some(db) = indexed.sqlite_checks("json_path_filter", "SQLite's query plan") else {
        return;
    };
    let sql = q1(
        &db,
        "SELECT sql FROM sqlite_master WHERE name = 'idx_documents_demographics.location'",
    );
    assert!(
        sql.contains(r#"json_extract("document", '$."demographics"."location"')"#),
        "{sql}"
    );
    let project = jsonlift::config::Project::load(&indexed.config()).unwrap();
    let schema = jsonlift::schema::Schema::build(&project).unwrap();
    let t = &schema.tables[schema.collections[0].table];
    let path = vec!["demographics".to_string(), "location".to_string()];
    let cell = jsonlift::schema::shred::Cell::Text("Köln-Porz".into());
    let filters = [(
        t.extra_col.unwrap(),
        jsonlift::store::Test::JsonText(path, vec![cell]),
    )];
    let sql = jsonlift::store::select::select(
        jsonlift::store::Dialect::Sqlite,
        t,
        &filters,
        &[],
        0,
        None,
    );
    let plan = q(
        &db,
        &format!(
            "EXPLAIN QUERY PLAN {}",
            sql.text.replace("?1", "'Köln-Porz'")
        ),
    );
    assert!(
        format!("{plan:?}").contains("USING INDEX idx_documents_demographics.location"),
        "{plan:?}"
    );
}
