//! Databases that outlive the project file they were made with (issue #13):
//! - drift: a field added to or removed from jsonlift.toml after the migration makes every
//!   command that reads the database refuse, naming the collection, the field and the fix, and
//!   `/_admin/health` say so;
//! - a database made by an earlier jsonlift (tests/fixtures/legacy-v1, made by 583ce63 from the
//!   lernpfad and techtree examples) has its table definitions rewritten by `migrate`, rows and
//!   edits kept, after a backup; everything else reads it as before.

use std::path::Path;

use crate::fixtures::*;
use crate::serve::{Resp, Server, call};

fn sj(r: &Resp) -> serde_json::Value {
    serde_json::from_str(&r.body).unwrap_or_else(|e| panic!("{e}: {}", r.body))
}

/// The database backups `jsonlift backups` lists.
fn db_backups(p: &Project) -> usize {
    let r = p.jl(&["backups", "--json"]);
    r.ok();
    r.json()["backups"]
        .as_array()
        .expect("a list of backups")
        .len()
}
use crate::util::*;

fn migrated() -> Project {
    let p = Project::new(COURSES_TOML);
    p.write(COURSES_FILE, COURSES_JSON);
    p.migrate_ok();
    p
}

/// The drift message: every command names the collection, the field and the fix.
#[track_caller]
fn refuses_with_drift(r: &Run, field: &str) {
    r.failed();
    r.stderr_has("jsonlift.toml and the database")
        .stderr_has(&format!("courses: field \"{field}\""))
        .stderr_has("jsonlift migrate --reimport");
}

#[test]
fn a_field_added_after_the_migration_is_refused_by_every_reader_and_invents_nothing() {
    let p = migrated();
    let toml = COURSES_TOML.replace("hours = \"real\"", "hours = \"real\"\ngenre = \"text\"");
    p.write("jsonlift.toml", &toml);
    let before = p.dump();
    let out = p.outside("export");
    for args in [
        vec!["verify"],
        vec!["export", "--out", out.to_str().unwrap()],
        vec!["backup"],
        vec!["codegen", "zod"],
    ] {
        let r = p.jl(&args);
        refuses_with_drift(&r, "genre");
        r.stderr_has("not in the database (no column courses.genre)");
    }
    assert!(!out.exists(), "export wrote files despite the drift");
    assert_eq!(db_backups(&p), 0, "backup was taken despite the drift");
    // serve refuses to start.
    let r = p.jl(&["serve", "--listen", "127.0.0.1:0"]);
    refuses_with_drift(&r, "genre");
    assert_eq!(p.dump(), before, "a refused command changed the database");
}

#[test]
fn a_field_removed_after_the_migration_is_named_as_a_column_whose_values_would_be_lost() {
    let p = migrated();
    p.write(
        "jsonlift.toml",
        COURSES_TOML.replace("hours = \"real\"\n", ""),
    );
    let r = p.jl(&["verify"]);
    r.failed()
        .stderr_has("column courses.hours is in the database but jsonlift.toml no longer names it");
}

#[test]
fn a_changed_rule_without_a_changed_column_is_drift_too() {
    let p = migrated();
    p.write(
        "jsonlift.toml",
        COURSES_TOML.replace("hours = \"real\"", "hours = { type = \"real\", min = 0 }"),
    );
    p.jl(&["verify"])
        .failed()
        .stderr_has("courses: its rules in jsonlift.toml")
        .stderr_has("jsonlift migrate --reimport");
    // The fix the message names works.
    p.jl(&["migrate", "--reimport"]).ok();
    p.jl(&["verify"]).ok();
}

#[test]
fn health_reports_drift_as_not_ok() {
    let p = migrated();
    let s = Server::start(&p, &[], &[]);
    let h = call("GET", &s.url("/_admin/health"), None, None);
    h.status(200);
    assert_eq!(sj(&h)["schema"], "ok", "{}", h.body);
    // Another process reloads the collection with a changed project file while this server
    // runs on the old one: the database no longer holds the tables the server was built for.
    p.write(
        "jsonlift.toml",
        COURSES_TOML.replace("hours = \"real\"", "hours = \"real\"\ngenre = \"text\""),
    );
    p.jl(&["migrate", "--reimport"]).ok();
    let h = call("GET", &s.url("/_admin/health"), None, None);
    h.status(503);
    let v = sj(&h);
    assert_eq!(v["status"], "degraded", "{v:?}");
    assert_eq!(v["schema"], "drift", "{v:?}");
    let drift = v["drift"].as_array().expect("a list of differences");
    assert!(
        drift
            .iter()
            .any(|d| d["collection"] == "courses" && d["field"] == "genre"),
        "{v:?}"
    );
}

fn legacy(example: &str, db: &str) -> Project {
    let p = Project::empty();
    copy_tree(
        &Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("examples")
            .join(example),
        &p.root,
    );
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/legacy-v1")
            .join(db),
        p.root.join(db),
    )
    .unwrap();
    p
}

fn schema_of(db: &rusqlite::Connection, table: &str) -> String {
    q1(
        db,
        &format!("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = '{table}'"),
    )
}

#[test]
fn an_earlier_database_is_read_as_before_and_upgraded_in_place_by_migrate_with_its_edits() {
    let mut p = legacy("lernpfad", "lernpfad.db");
    p.db_rel = "lernpfad.db".into();
    let db = p.db();
    assert!(schema_of(&db, "modules").contains("CHECK (json_valid(\"_extra\"))"));
    // An edit made through the API (or any client) since that migration.
    db.execute(
        "UPDATE courses SET title = 'Edited since' WHERE rowid = 2",
        [],
    )
    .unwrap();
    let rows_before = dump_db(&p.db_path());
    drop(db);
    // Readers take it as it is: the same schema, spelled the earlier way.
    p.jl(&["verify"]).failed().stderr_has("title");
    // A dry run says what it would do and does nothing.
    p.jl(&["migrate", "--dry-run"])
        .ok()
        .stdout_has("rewritten in the current form")
        .stdout_has("courses, modules, lessons, stats");
    assert_eq!(dump_db(&p.db_path()), rows_before);
    assert_eq!(db_backups(&p), 0);

    let r = p.jl(&["migrate"]);
    r.ok()
        .stdout_has("already migrated; table definitions upgraded")
        .stdout_has("courses, modules, lessons, stats");
    let db = p.db();
    for t in ["courses", "modules", "lessons", "stats"] {
        let sql = schema_of(&db, t);
        assert!(
            sql.contains("IS NULL OR json_valid(\"_extra\")"),
            "{t} not rewritten: {sql}"
        );
        assert!(!sql.contains("NOT NULL REFERENCES"), "{sql}");
    }
    assert!(schema_of(&db, "modules").contains(
        "FOREIGN KEY (\"course_id\") REFERENCES \"courses\"(\"id\") ON DELETE CASCADE ON UPDATE CASCADE"
    ));
    assert!(schema_of(&db, "modules").contains("\"_id\" INTEGER NOT NULL PRIMARY KEY"));
    assert_eq!(q1(&db, "PRAGMA integrity_check"), "ok");
    assert_eq!(
        q1(&db, "SELECT count(*) FROM pragma_foreign_key_check"),
        "0"
    );
    // The indexes came back with their tables.
    assert_eq!(
        q1(
            &db,
            "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name = 'idx_courses_category_difficulty'"
        ),
        "1"
    );
    assert_eq!(
        q1(
            &db,
            "SELECT action FROM _jsonlift_ledger ORDER BY id DESC LIMIT 1"
        ),
        "upgrade"
    );
    drop(db);
    // Every row as it was, the edit included (the dump lists table definitions too: compare
    // the rows only).
    let rows = |d: Vec<String>| -> Vec<String> {
        d.into_iter()
            .filter(|l| l.starts_with("row ") && !l.starts_with("row _jsonlift_"))
            .collect()
    };
    assert_eq!(rows(dump_db(&p.db_path())), rows(rows_before));
    // A backup of the database before the rewrite.
    assert_eq!(db_backups(&p), 1);
    // The second run has nothing to do; the edit is still the one difference from the files.
    p.jl(&["migrate"]).ok().stdout_has("already migrated (");
    let v = p.jl(&["verify"]);
    v.failed().stderr_has("title");
    assert_eq!(v.problem_lines("data/courses.json").len(), 1, "{v:#?}");
}

#[test]
fn an_earlier_tinydb_database_is_upgraded_and_exports_byte_for_byte() {
    let mut p = legacy("techtree", "techtree.db");
    p.db_rel = "techtree.db".into();
    p.jl(&["migrate"])
        .ok()
        .stdout_has("table definitions upgraded")
        .stdout_has("user_progress");
    let db = p.db();
    assert_eq!(q1(&db, "PRAGMA integrity_check"), "ok");
    // No UNIQUE group twice any more.
    let modules = schema_of(&db, "modules");
    assert_eq!(
        modules
            .matches("UNIQUE (\"syllabus_id\", \"module_index\")")
            .count(),
        1,
        "{modules}"
    );
    drop(db);
    p.jl(&["verify"]).ok();
    let out = p.export();
    assert_exported_identical(&p, &out, "techtree.json");
}

/// An app writing the tables with its own client leaves out what docs/own-code.md says it may:
/// generated ids, positions, `_extra` and `_meta`. Its rows are records like any other: the
/// positions are filled at the end of each array, and `export` writes them back (in the
/// canonical form: a row without `_meta` has its child arrays, empty or not).
#[test]
fn rows_an_app_inserts_without_ids_or_positions_are_records_like_any_other() {
    let p = migrated();
    let db = p.db();
    db.execute_batch(
        "PRAGMA foreign_keys = ON;
         INSERT INTO courses (id, title) VALUES ('c3', 'Added by the app');
         INSERT INTO modules (course_id, title) VALUES ('c3', 'First'), ('c3', 'Second');
         INSERT INTO modules (course_id, title) VALUES ('c1', 'Appended');
         INSERT INTO lessons (module_id, title) VALUES (last_insert_rowid(), 'L');",
    )
    .unwrap();
    assert_eq!(
        q(
            &db,
            "SELECT course_id, module_index, title FROM modules WHERE course_id IN ('c1', 'c3') ORDER BY course_id, module_index"
        ),
        rows(&[
            &["c1", "0", "Basics"],
            &["c1", "1", "Traits"],
            &["c1", "2", "Appended"],
            &["c3", "0", "First"],
            &["c3", "1", "Second"],
        ])
    );
    drop(db);
    let out = p.export();
    let courses: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join(COURSES_FILE)).unwrap()).unwrap();
    let courses = courses.as_array().unwrap();
    assert_eq!(courses.len(), 3);
    assert_eq!(
        courses[2],
        serde_json::json!({"id": "c3", "title": "Added by the app",
            "modules": [{"title": "First", "lessons": []}, {"title": "Second", "lessons": []}]})
    );
    let c1_modules = courses[0]["modules"].as_array().unwrap();
    assert_eq!(
        c1_modules[2],
        serde_json::json!({"title": "Appended", "lessons": [{"title": "L"}]})
    );
    // verify names the records that differ from the files (the app's additions).
    p.jl(&["verify"]).failed().stderr_has(COURSES_FILE);
}
