//! Schema evolution in place and numbered SQL migrations (issue #17, items 2, 3 and 6): after
//! the first migration, a changed jsonlift.toml is a plan that `migrate` applies to the live
//! database, keeping the records edited through the API (made here through a real `serve`);
//! a change existing records do not fit is refused with every offender listed and nothing
//! written; a kill during an evolution leaves the old schema or the new one; numbered files
//! run in order, once, recorded with their sha256, and a folder that disagrees with the record
//! is refused.
//!
//! Every test runs on both databases (`JSONLIFT_TEST_BACKEND=postgres`, tests/cli/backend.rs);
//! what looks at SQLite itself (its file's bytes, `ALTER TABLE` leaving rows in place, the lock
//! a server holds on the file) says so loudly on the PostgreSQL pass.

use std::fs;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use crate::backend::on_postgres;
use crate::serve::{Server, call};
use crate::util::*;

const POSTS: &str = r#"[
  {"id": 1, "title": "hello", "views": 10, "tags": ["a", "b"]},
  {"id": 2, "title": "world", "views": 20, "tags": []},
  {"id": 3, "title": "third", "views": 30, "tags": ["c"]}
]
"#;

/// jsonlift.toml with these lines as the fields of `posts`.
fn toml(fields: &str) -> String {
    format!(
        "[collections.posts]\nsource = \"posts.json\"\nkey = \"id\"\n[collections.posts.fields]\n{fields}\n"
    )
}

const BASE: &str =
    "id = \"integer\"\ntitle = \"text\"\nviews = \"integer\"\ntags = { type = \"array\" }";

/// A migrated project whose posts were then edited through a real `serve`: record 1 patched,
/// record 2 deleted, record 4 added with a field jsonlift.toml does not declare (`color`).
fn edited_project() -> Project {
    let p = Project::on_backend(&toml(BASE));
    p.write("posts.json", POSTS);
    edit(&p);
    p
}

/// Migrates `p`, then edits its posts through a real `serve` as [`edited_project`] says.
fn edit(p: &Project) {
    p.migrate_ok();
    let s = Server::start(p, &[], &[]);
    call(
        "PATCH",
        &s.url("/api/posts/1"),
        None,
        Some(r#"{"title": "edited"}"#),
    )
    .status(200);
    call("DELETE", &s.url("/api/posts/2"), None, None).status(200);
    call(
        "POST",
        &s.url("/api/posts"),
        None,
        Some(r#"{"id": 4, "title": "new", "views": 5, "tags": ["x"], "color": "blue"}"#),
    )
    .status(201);
    s.stop();
}

/// The records of posts as `export` writes them.
fn exported(p: &Project) -> Value {
    let out = p.export();
    parse_json(&fs::read(out.join("posts.json")).unwrap())
}

fn value(text: &str) -> Value {
    parse_json(text.as_bytes())
}

/// Changes jsonlift.toml, runs `migrate`, and checks the records are `expected` and that a
/// second `migrate` has nothing to do. Returns the first run's output.
#[track_caller]
fn evolve(p: &Project, fields: &str, expected: &str) -> Run {
    p.write_toml(&toml(fields));
    let r = p.jl(&["migrate"]);
    r.ok().stdout_has("evolved in place");
    assert_eq!(exported(p), value(expected), "records after the change");
    p.jl(&["migrate"]).ok().stdout_has("already migrated");
    p.assert_db_sound_on_backend();
    r
}

/// The mode `plan --json` gives for posts.
fn planned_mode(p: &Project, fields: &str) -> String {
    p.write_toml(&toml(fields));
    let plan = p.jl(&["plan", "--json"]);
    plan.ok();
    plan.json()["changes"][0]["mode"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[test]
fn each_kind_of_evolution_keeps_the_edits_made_through_the_api() {
    let p = edited_project();
    let edited = r#"[
      {"id": 1, "title": "edited", "views": 10, "tags": ["a", "b"]},
      {"id": 3, "title": "third", "views": 30, "tags": ["c"]},
      {"id": 4, "title": "new", "views": 5, "tags": ["x"], "color": "blue"}
    ]"#;
    assert_eq!(exported(&p), value(edited));

    // A field added that a record already holds: its value moves into the new column (on
    // PostgreSQL with ALTER TABLE and that record's row rewritten in place).
    let f = format!("{BASE}\ncolor = \"text\"");
    assert_eq!(
        planned_mode(&p, &f),
        if on_postgres() { "alter" } else { "rebuild" }
    );
    evolve(&p, &f, edited);
    assert_eq!(
        p.rows("SELECT id, color, _extra FROM posts ORDER BY id"),
        rows(&[
            &["1", "NULL", "NULL"],
            &["3", "NULL", "NULL"],
            &["4", "blue", "NULL"]
        ])
    );

    // A field no record holds, and an index: ALTER TABLE, the rows untouched.
    let f = "id = \"integer\"\ntitle = \"text\"\nviews = { type = \"integer\", index = true }\ntags = { type = \"array\" }\ncolor = \"text\"\nsubtitle = \"text\"";
    assert_eq!(planned_mode(&p, f), "alter");
    let before = p.rows("SELECT id, title, views, tags, color, _extra FROM posts ORDER BY id");
    let rowids = p
        .sqlite_checks(
            "each_kind_of_evolution",
            "rows left in place by ALTER TABLE",
        )
        .map(|db| q(&db, "SELECT rowid, * FROM posts ORDER BY rowid"));
    evolve(&p, f, edited);
    assert_eq!(
        p.rows("SELECT id, title, views, tags, color, _extra FROM posts ORDER BY id"),
        before,
        "every row as it was"
    );
    assert_eq!(
        p.sql1("SELECT count(*) FROM posts WHERE subtitle IS NOT NULL"),
        "0",
        "the new column NULL"
    );
    if let Some(before) = rowids {
        let after = q(&p.db(), "SELECT rowid, * FROM posts ORDER BY rowid");
        assert_eq!(
            after
                .iter()
                .map(|r| r[..r.len() - 1].to_vec())
                .collect::<Vec<_>>(),
            before,
            "ALTER TABLE keeps every row where it was"
        );
    }
    assert!(p.columns("posts").contains(&"subtitle".to_string()));
    assert!(p.has_index("idx_posts_views"));

    // A field renamed: every record, the edited ones too, has the new name in the same place.
    let f = "id = \"integer\"\nheadline = { type = \"text\", renamed_from = \"title\" }\nviews = { type = \"integer\", index = true }\ntags = { type = \"array\" }\ncolor = \"text\"\nsubtitle = \"text\"";
    let renamed = r#"[
      {"id": 1, "headline": "edited", "views": 10, "tags": ["a", "b"]},
      {"id": 3, "headline": "third", "views": 30, "tags": ["c"]},
      {"id": 4, "headline": "new", "views": 5, "tags": ["x"], "color": "blue"}
    ]"#;
    evolve(&p, f, renamed);
    assert!(!p.columns("posts").contains(&"title".to_string()));

    // A new required field with a default: every existing record gets it.
    let f = format!("{f}\nstatus = {{ type = \"text\", required = true, default = \"draft\" }}");
    let defaulted = r#"[
      {"id": 1, "headline": "edited", "views": 10, "tags": ["a", "b"], "status": "draft"},
      {"id": 3, "headline": "third", "views": 30, "tags": ["c"], "status": "draft"},
      {"id": 4, "headline": "new", "views": 5, "tags": ["x"], "color": "blue", "status": "draft"}
    ]"#;
    evolve(&p, &f, defaulted);
    assert_eq!(
        p.sql1("SELECT count(*) FROM posts WHERE status = 'draft'"),
        "3"
    );

    // A type widened and a constraint added that every value meets.
    let f = f.replace(
        "views = { type = \"integer\", index = true }",
        "views = { type = \"real\", index = true, min = 0 }",
    );
    evolve(&p, &f, defaulted);
    assert_eq!(
        p.column_type("posts", "views"),
        if on_postgres() {
            "double precision"
        } else {
            "REAL"
        }
    );

    // Nesting: the array of tags into a child table, and back into a JSON column.
    let nested = f.replace(
        "tags = { type = \"array\" }",
        "tags = { type = \"array\", of = \"text\", table = \"post_tags\" }",
    );
    evolve(&p, &nested, defaulted);
    assert_eq!(
        p.rows("SELECT _parent, _pos, value FROM post_tags ORDER BY _parent, _pos"),
        rows(&[
            &["1", "0", "a"],
            &["1", "1", "b"],
            &["3", "0", "c"],
            &["4", "0", "x"]
        ])
    );
    evolve(&p, &f, defaulted);
    assert!(!p.has_table("post_tags"));

    // Fields removed: the one no record holds goes; the values of the other stay with their
    // records (in `_extra`).
    let f = f
        .replace("\nsubtitle = \"text\"", "")
        .replace("\ncolor = \"text\"", "");
    evolve(&p, &f, defaulted);
    let kept = p.rows("SELECT id, _extra FROM posts WHERE _extra IS NOT NULL");
    assert_eq!(kept.len(), 1, "{kept:?}");
    assert_eq!(kept[0][0], "4");
    assert_eq!(value(&kept[0][1]), value(r#"{"color":"blue"}"#));

    // Each evolution is in the ledger, and the database serves the evolved records.
    assert_eq!(
        p.sql1("SELECT count(*) FROM _jsonlift_ledger WHERE action = 'evolve'"),
        "8"
    );
    let s = Server::start(&p, &[], &[]);
    let list = call("GET", &s.url("/api/posts"), None, None);
    list.status(200);
    assert_eq!(value(&list.body), value(defaulted));
    // And new records get the default too.
    let made = call(
        "POST",
        &s.url("/api/posts"),
        None,
        Some(r#"{"id": 5, "headline": "five", "views": 1, "tags": []}"#),
    );
    made.status(201);
    assert_eq!(
        made.value().get("status").and_then(|v| v.as_str()),
        Some("draft")
    );
}

#[test]
fn a_collection_added_is_loaded_from_its_file_and_one_removed_is_dropped() {
    let p = edited_project();
    p.write("authors.json", r#"[{"name": "ann"}, {"name": "bob"}]"#);
    let with_authors = format!(
        "{}[collections.authors]\nsource = \"authors.json\"\n",
        toml(BASE)
    );
    p.write_toml(&with_authors);
    p.jl(&["plan"]).ok().stdout_has("nothing to do");
    p.jl(&["migrate"]).ok();
    assert_eq!(p.sql1("SELECT count(*) FROM authors"), "2");
    // The edits to posts are still there.
    assert_eq!(p.sql1("SELECT title FROM posts WHERE id = 1"), "edited");
    p.write_toml(&toml(BASE));
    let backups = p.jl(&["backups"]).stdout.matches("migrate-before").count();
    p.jl(&["plan"])
        .ok()
        .stdout_has("authors: removed from jsonlift.toml")
        .stdout_has(&match &p.pg {
            Some(pg) => format!("DROP TABLE \"{}\".\"authors\"", pg.name),
            None => "DROP TABLE \"authors\"".into(),
        });
    p.jl(&["migrate"]).ok().stdout_has("evolved in place");
    assert!(!p.has_table("authors"));
    // The dropped table is in the backup taken before.
    assert_eq!(
        p.jl(&["backups"]).stdout.matches("migrate-before").count(),
        backups + 1
    );
    assert_eq!(
        p.sql1("SELECT count(*) FROM _jsonlift_sources WHERE path = 'authors.json'"),
        "0"
    );
    p.jl(&["migrate"]).ok().stdout_has("already migrated");
    p.export();
}

/// The database's bytes (with its WAL; none on PostgreSQL) and its dump.
fn db_state(p: &Project) -> (Vec<u8>, Vec<String>) {
    if p.pg.is_some() {
        return (Vec::new(), p.dump());
    }
    let mut bytes = fs::read(p.db_path()).unwrap();
    if let Ok(w) = fs::read(format!("{}-wal", p.db_path().display())) {
        bytes.extend(w);
    }
    (bytes, p.dump())
}

#[test]
fn a_change_the_records_do_not_fit_is_refused_listing_every_one_and_writes_nothing() {
    let p = edited_project();
    let before = db_state(&p);
    let backups = p.jl(&["backups"]).stdout;

    // A new required field without a default.
    p.write_toml(&toml(&format!(
        "{BASE}\nstatus = {{ type = \"text\", required = true }}"
    )));
    let plan = p.jl(&["plan"]);
    plan.failed()
        .stdout_has("would refuse")
        .stdout_has("posts id=1: $: missing required field \"status\"");
    let r = p.jl(&["migrate"]);
    r.failed()
        .stderr_has("does not fit 3 existing record(s); nothing was changed")
        .stderr_has("posts id=1: $: missing required field \"status\"")
        .stderr_has("posts id=3: $: missing required field \"status\"")
        .stderr_has("posts id=4: $: missing required field \"status\"");
    assert_eq!(db_state(&p), before, "a refused change writes nothing");

    // A narrower type that existing values fail: each offender with its field and value.
    p.write_toml(&toml(&BASE.replace(
        "title = \"text\"",
        "title = { type = \"text\", enum = [\"hello\", \"third\"] }",
    )));
    let r = p.jl(&["migrate"]);
    r.failed()
        .stderr_has("does not fit 2 existing record(s)")
        .stderr_has("posts id=1: $.title:")
        .stderr_has("(value \"edited\")")
        .stderr_has("posts id=4: $.title:")
        .stderr_has("(value \"new\")");
    assert!(!r.stderr.contains("id=3"), "{}", r.stderr);
    p.write_toml(&toml(
        &BASE.replace("views = \"integer\"", "views = \"boolean\""),
    ));
    p.jl(&["migrate"])
        .failed()
        .stderr_has("posts id=3: $.views:")
        .stderr_has("(value 30)");
    assert_eq!(db_state(&p), before, "a refused change writes nothing");
    assert_eq!(
        p.jl(&["backups"]).stdout,
        backups,
        "the backup taken before a refused change is not kept"
    );

    // Put back, the database is as it was and serves.
    p.write_toml(&toml(BASE));
    p.jl(&["migrate"]).ok().stdout_has("already migrated");
}

#[test]
fn a_unique_field_over_duplicates_is_refused_listing_every_record_that_holds_one() {
    let p = Project::on_backend(&toml(BASE));
    p.write(
        "posts.json",
        r#"[
  {"id": 1, "title": "same", "views": 1, "tags": []},
  {"id": 2, "title": "other", "views": 2, "tags": []},
  {"id": 3, "title": "same", "views": 3, "tags": []},
  {"id": 4, "title": "same", "views": 4, "tags": []},
  {"id": 5, "title": "twice", "views": 5, "tags": []},
  {"id": 6, "title": "twice", "views": 6, "tags": []}
]
"#,
    );
    p.migrate_ok();
    let before = db_state(&p);
    let unique = BASE.replace(
        "title = \"text\"",
        "title = { type = \"text\", unique = true }",
    );
    p.write_toml(&toml(&unique));
    p.jl(&["plan"])
        .failed()
        .stdout_has("would refuse")
        .stdout_has("posts id=3: $.title: not unique, the same as id=1, id=4 (value \"same\")");
    // Every holder of a duplicate, the first one included, on both databases (a database's own
    // error names one pair on PostgreSQL, and only the later rows on SQLite).
    let r = p.jl(&["migrate"]);
    r.failed()
        .stderr_has("does not fit 5 existing record(s); nothing was changed")
        .stderr_has("posts id=1: $.title: not unique, the same as id=3, id=4 (value \"same\")")
        .stderr_has("posts id=4: $.title: not unique, the same as id=1, id=3 (value \"same\")")
        .stderr_has("posts id=5: $.title: not unique, the same as id=6 (value \"twice\")")
        .stderr_has("posts id=6: $.title: not unique, the same as id=5 (value \"twice\")");
    assert!(!r.stderr.contains("posts id=2"), "{}", r.stderr);
    assert_eq!(db_state(&p), before, "a refused change writes nothing");

    // With the duplicates gone through a numbered SQL migration, the same change applies.
    fs::create_dir_all(p.path("migrations")).unwrap();
    p.write(
        "migrations/001_titles.sql",
        "UPDATE posts SET title = title || '-' || id WHERE id IN (3, 4, 6);\n",
    );
    p.write_toml(&toml(BASE));
    p.jl(&["migrate"]).ok();
    p.write_toml(&toml(&unique));
    p.jl(&["migrate"]).ok().stdout_has("evolved in place");
    assert_eq!(
        exported(&p),
        value(
            r#"[
  {"id": 1, "title": "same", "views": 1, "tags": []},
  {"id": 2, "title": "other", "views": 2, "tags": []},
  {"id": 3, "title": "same-3", "views": 3, "tags": []},
  {"id": 4, "title": "same-4", "views": 4, "tags": []},
  {"id": 5, "title": "twice", "views": 5, "tags": []},
  {"id": 6, "title": "twice-6", "views": 6, "tags": []}
]"#
        )
    );
}

/// `migrate` paused at `step` (JSONLIFT_TEST_PAUSE_AT) and SIGKILLed there; whether it got there.
fn kill_at(p: &Project, step: &str) -> bool {
    let mut child = Command::new(BIN)
        .args(["migrate", "-q", "-c"])
        .arg(p.config())
        .env("JSONLIFT_TEST_PAUSE_AT", step)
        .current_dir(&p.cwd)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let err = BufReader::new(child.stderr.take().unwrap());
    let mut reached = false;
    for line in err.lines() {
        let Ok(line) = line else { break };
        if line.contains(&format!("paused at {step}")) {
            reached = true;
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    reached
}

#[test]
fn a_kill_during_an_evolution_leaves_the_old_schema_or_the_new_one() {
    let new_fields = "id = \"integer\"\nheadline = { type = \"text\", renamed_from = \"title\" }\nviews = \"integer\"\ntags = { type = \"array\", of = \"text\", table = \"post_tags\" }\nstatus = { type = \"text\", default = \"draft\" }";
    let data = |p: &Project| -> Vec<String> {
        p.dump()
            .into_iter()
            .filter(|l| !l.contains("_jsonlift_"))
            .collect()
    };
    // The state the evolution gives when left alone.
    let reference = edited_project();
    reference.write_toml(&toml(new_fields));
    reference.jl(&["migrate"]).ok();
    let new_dump = data(&reference);
    let mut steps = vec![
        ("evolve:carried", false),
        ("evolve:applied", false),
        ("evolve:committed", true),
    ];
    if on_postgres() {
        // Everything written into PostgreSQL, not yet committed.
        steps.insert(2, ("migrate:postgres-written", false));
    }
    for (step, committed) in steps {
        let p = edited_project();
        let old_dump = p.dump();
        p.write_toml(&toml(new_fields));
        assert!(kill_at(&p, step), "migrate never reached {step}");
        if let Some(db) = p.sqlite_checks("a_kill_during_an_evolution", "PRAGMA integrity_check") {
            assert_eq!(q1(&db, "PRAGMA integrity_check"), "ok", "{step}");
        }
        if committed {
            assert_eq!(
                data(&p),
                new_dump,
                "killed at {step}: the new schema, complete"
            );
        } else {
            assert_eq!(
                p.dump(),
                old_dump,
                "killed at {step}: the old schema, untouched"
            );
            assert!(p.columns("posts").contains(&"title".to_string()));
        }
        // A re-run completes (or has nothing left to do), and the records are the evolved ones.
        p.jl(&["migrate"]).ok();
        p.jl(&["migrate"]).ok().stdout_has("already migrated");
        assert_eq!(exported(&p), exported(&reference), "after {step}");
        p.assert_db_sound_on_backend();
    }
}

// ----- numbered SQL migrations ---------------------------------------------------------------

fn sql_project() -> Project {
    let p = Project::on_backend(&toml(BASE));
    p.write("posts.json", POSTS);
    p.write(
        "migrations/001_log.sql",
        "-- a table of the app's own\nCREATE TABLE app_log (n INTEGER NOT NULL);\nINSERT INTO app_log VALUES (1);\n",
    );
    p.write(
        "migrations/002_more.sql",
        "INSERT INTO app_log VALUES (2);\nUPDATE posts SET views = views + 1 WHERE id = 1;\n",
    );
    p
}

#[test]
fn numbered_migrations_run_in_order_once_and_are_recorded_with_their_sha256() {
    let p = sql_project();
    p.jl(&["migrations"])
        .ok()
        .stdout_has("pending  001_log.sql")
        .stdout_has("pending  002_more.sql");
    // The first migration applies them in its own transaction, after the load.
    p.migrate_ok()
        .stdout_has("applied: 001_log.sql")
        .stdout_has("applied: 002_more.sql");
    assert_eq!(
        p.rows("SELECT n FROM app_log ORDER BY n"),
        rows(&[&["1"], &["2"]])
    );
    assert_eq!(p.sql1("SELECT views FROM posts WHERE id = 1"), "11");
    assert_eq!(
        p.rows("SELECT number, name, sha256 FROM _jsonlift_migrations ORDER BY number"),
        rows(&[
            &[
                "1",
                "001_log.sql",
                &sha256_hex(&p.read("migrations/001_log.sql"))
            ],
            &[
                "2",
                "002_more.sql",
                &sha256_hex(&p.read("migrations/002_more.sql"))
            ],
        ])
    );
    // Once.
    p.jl(&["migrate"]).ok().stdout_has("already migrated");
    assert_eq!(p.sql1("SELECT count(*) FROM app_log"), "2");
    // A new one, on the existing database.
    p.write(
        "migrations/003_three.sql",
        "INSERT INTO app_log VALUES (3);",
    );
    let listed = p.jl(&["migrations"]);
    listed
        .ok()
        .stdout_has("applied  001_log.sql")
        .stdout_has("applied  002_more.sql")
        .stdout_has("pending  003_three.sql");
    p.jl(&["migrate"]).ok().stdout_has("applied: 003_three.sql");
    assert_eq!(
        p.rows("SELECT n FROM app_log ORDER BY n"),
        rows(&[&["1"], &["2"], &["3"]])
    );
    let json = p.jl(&["migrations", "--json"]);
    assert_eq!(json.json()["applied"].as_array().unwrap().len(), 3);
    assert_eq!(json.json()["pending"].as_array().unwrap().len(), 0);
    assert_eq!(
        p.sql1("SELECT count(*) FROM _jsonlift_ledger WHERE action = 'sql'"),
        "2",
        "one run row for the first migration's files, one for the third file"
    );
}

#[test]
fn a_trigger_with_semicolons_in_its_body_is_one_statement() {
    let p = sql_project();
    // Each database's own spelling of a trigger; PostgreSQL's body is dollar-quoted.
    p.write(
        "migrations/003_trigger.sql",
        if on_postgres() {
            "CREATE FUNCTION log_post() RETURNS trigger AS $$\nBEGIN\n  INSERT INTO app_log VALUES (NEW.id);\n  RETURN NEW;\nEND;\n$$ LANGUAGE plpgsql;\nCREATE TRIGGER post_logged AFTER UPDATE ON posts FOR EACH ROW EXECUTE FUNCTION log_post();\nUPDATE posts SET views = 0 WHERE id = 3;\n"
        } else {
            "CREATE TRIGGER post_logged AFTER UPDATE ON posts BEGIN\n  INSERT INTO app_log VALUES (NEW.id);\n  SELECT 1;\nEND;\nUPDATE posts SET views = 0 WHERE id = 3;\n"
        },
    );
    p.migrate_ok().stdout_has("applied: 003_trigger.sql");
    assert_eq!(
        p.rows("SELECT n FROM app_log ORDER BY n"),
        rows(&[&["1"], &["2"], &["3"]])
    );
}

#[test]
fn an_edited_applied_file_a_gap_or_a_duplicate_is_refused_naming_the_file() {
    let p = sql_project();
    p.migrate_ok();
    let before = db_state(&p);

    let original = p.read("migrations/002_more.sql");
    p.write(
        "migrations/002_more.sql",
        "INSERT INTO app_log VALUES (22);\n",
    );
    p.write(
        "migrations/003_three.sql",
        "INSERT INTO app_log VALUES (3);\n",
    );
    p.jl(&["migrate"])
        .failed()
        .stderr_has("002_more.sql was edited after it was applied");
    p.jl(&["migrations"]).failed().stderr_has("002_more.sql");
    assert_eq!(db_state(&p), before);
    p.write("migrations/002_more.sql", &original);

    p.remove("migrations/003_three.sql");
    p.write(
        "migrations/004_four.sql",
        "INSERT INTO app_log VALUES (4);\n",
    );
    p.jl(&["migrate"])
        .failed()
        .stderr_has("004_four.sql: the numbers jump from 2 to 4");
    assert_eq!(db_state(&p), before);

    p.remove("migrations/004_four.sql");
    p.write("migrations/003_a.sql", "INSERT INTO app_log VALUES (3);\n");
    p.write("migrations/003_b.sql", "INSERT INTO app_log VALUES (3);\n");
    p.jl(&["migrate"])
        .failed()
        .stderr_has("003_a.sql and ")
        .stderr_has("003_b.sql have the same number 3");
    assert_eq!(db_state(&p), before);

    p.remove("migrations/003_b.sql");
    p.jl(&["migrate"]).ok().stdout_has("applied: 003_a.sql");
}

#[test]
fn a_failing_file_rolls_back_everything_naming_the_file_and_line() {
    let p = Project::on_backend(&toml(BASE));
    p.write("posts.json", POSTS);
    p.migrate_ok();
    let before = db_state(&p);
    // An evolution and a good file, then a file failing at its third line.
    p.write_toml(&toml(&format!("{BASE}\ncolor = \"text\"")));
    p.write(
        "migrations/001_ok.sql",
        "UPDATE posts SET color = 'red' WHERE id = 1;\n",
    );
    p.write(
        "migrations/002_bad.sql",
        "UPDATE posts SET views = 0;\n\nUPDATE posts SET no_such_column = 1;\n",
    );
    p.jl(&["migrate"])
        .failed()
        .stderr_has(if on_postgres() {
            "002_bad.sql:3: column \"no_such_column\" of relation \"posts\" does not exist"
        } else {
            "002_bad.sql:3: no such column: no_such_column"
        })
        .stderr_has("rolled back");
    assert_eq!(db_state(&p).1, before.1, "nothing of the run is left");
    p.jl(&["migrations"])
        .ok()
        .stdout_has("pending  001_ok.sql")
        .stdout_has("pending  002_bad.sql");
    p.write("migrations/002_bad.sql", "UPDATE posts SET views = 0;\n");
    p.jl(&["migrate"]).ok().stdout_has("evolved in place");
    assert_eq!(
        p.rows("SELECT id, color, views FROM posts ORDER BY id"),
        rows(&[&["1", "red", "0"], &["2", "NULL", "0"], &["3", "NULL", "0"]])
    );
}

/// [`edited_project`] with the numbered file `001_NAME.sql` applied; and the fields of BASE with
/// title renamed to headline.
fn with_a_file_applied(name: &str, sql: &str) -> (Project, String) {
    let p = edited_project();
    p.write(&format!("migrations/001_{name}.sql"), sql);
    p.jl(&["migrate"])
        .ok()
        .stdout_has(&format!("applied: 001_{name}.sql"));
    let renamed = BASE.replace(
        "title = \"text\"",
        "headline = { type = \"text\", renamed_from = \"title\" }",
    );
    (p, renamed)
}

#[test]
fn plan_write_puts_the_plan_in_a_numbered_file_that_migrate_applies_as_written() {
    let (p, renamed) = with_a_file_applied("first", "CREATE TABLE app_log (n INTEGER);\n");
    p.write_toml(&toml(&renamed));
    p.jl(&["plan", "--write"])
        .ok()
        .stdout_has("field title renamed to headline")
        .stdout_has("written: ");
    let text = String::from_utf8(p.read("migrations/002_plan.sql")).unwrap();
    assert!(text.starts_with("-- jsonlift:plan\n"), "{text}");
    assert!(
        text.contains("-- posts: field title renamed to headline"),
        "{text}"
    );
    match &p.pg {
        // PostgreSQL's own statements, in the project's schema, that run there as written.
        Some(pg) => {
            assert!(
                text.contains(&format!(
                    "ALTER TABLE \"{}\".\"posts\" RENAME COLUMN \"title\" TO \"headline\";",
                    pg.name
                )),
                "{text}"
            );
            let mut c = pg.client();
            let mut tx = c.transaction().unwrap();
            tx.batch_execute(&text)
                .unwrap_or_else(|e| panic!("the plan file is not valid PostgreSQL: {e}\n{text}"));
            tx.rollback().unwrap();
        }
        None => assert!(
            text.contains("CREATE TABLE \"_jsonlift_evolve_posts\""),
            "{text}"
        ),
    }
    p.jl(&["migrations"])
        .ok()
        .stdout_has("pending  002_plan.sql");
    // Nothing was applied by writing it.
    assert!(p.columns("posts").contains(&"title".to_string()));

    // A plan that is no longer what jsonlift.toml says is refused.
    p.write_toml(&toml(&format!("{renamed}\ncolor = \"text\"")));
    let before = db_state(&p);
    p.jl(&["migrate"])
        .failed()
        .stderr_has("002_plan.sql was written by `jsonlift plan --write`");
    assert_eq!(db_state(&p), before);

    p.write_toml(&toml(&renamed));
    p.jl(&["migrate"])
        .ok()
        .stdout_has("evolved in place")
        .stdout_has("applied: 002_plan.sql");
    assert_eq!(p.sql1("SELECT headline FROM posts WHERE id = 1"), "edited");
    assert_eq!(
        p.sql1("SELECT sha256 FROM _jsonlift_migrations WHERE number = 2"),
        sha256_hex(&p.read("migrations/002_plan.sql"))
    );
    p.jl(&["migrations"])
        .ok()
        .stdout_has("applied  002_plan.sql");
    p.jl(&["migrate"]).ok().stdout_has("already migrated");
}

#[test]
fn a_database_from_before_the_kept_schema_is_planned_after_one_plain_migrate() {
    let p = edited_project();
    // As an earlier jsonlift left it: no `[collections]` kept.
    p.exec("DROP TABLE _jsonlift_schema");
    p.write_toml(&toml(&format!("{BASE}\ncolor = \"text\"")));
    let before = db_state(&p);
    p.jl(&["migrate"])
        .failed()
        .stderr_has("did not keep the jsonlift.toml it was made from")
        .stderr_has("Put jsonlift.toml back as it was and run `jsonlift migrate` once");
    assert_eq!(db_state(&p), before);
    p.write_toml(&toml(BASE));
    p.jl(&["migrate"]).ok().stdout_has("already migrated");
    assert_eq!(
        p.sql1("SELECT count(*) FROM _jsonlift_schema"),
        "1",
        "the plain migrate keeps the file's [collections]"
    );
    p.write_toml(&toml(&format!("{BASE}\ncolor = \"text\"")));
    p.jl(&["migrate"]).ok().stdout_has("evolved in place");
    assert_eq!(p.sql1("SELECT color FROM posts WHERE id = 4"), "blue");
}

#[test]
fn a_change_of_tables_waits_for_the_servers_to_stop() {
    let p = edited_project();
    let s = Server::start(&p, &[], &[]);
    p.write_toml(&toml(&format!("{BASE}\ncolor = \"text\"")));
    let before = p.dump();
    p.jl(&["migrate"])
        .failed()
        .stderr_has("needs every `jsonlift serve` on this database stopped");
    assert_eq!(p.dump(), before);
    // The running server still answers in the shape it started with.
    call("GET", &s.url("/api/posts/4"), None, None).status(200);
    s.stop();
    p.jl(&["migrate"]).ok().stdout_has("evolved in place");
}

#[test]
fn the_apps_own_tables_and_views_on_the_collections_survive_an_evolution() {
    let (p, renamed) = with_a_file_applied(
        "app",
        "CREATE TABLE app_notes (post_id INTEGER NOT NULL REFERENCES posts(id), note TEXT);\nINSERT INTO app_notes VALUES (1, 'first');\nCREATE VIEW post_views AS SELECT id, views FROM posts;\n",
    );
    p.write_toml(&toml(&format!("{renamed}\ncolor = \"text\"")));
    p.jl(&["migrate"]).ok().stdout_has("evolved in place");
    assert_eq!(p.sql1("SELECT color FROM posts WHERE id = 4"), "blue");
    assert_eq!(
        p.rows("SELECT id, views FROM post_views ORDER BY id"),
        rows(&[&["1", "10"], &["3", "30"], &["4", "5"]])
    );
    assert_eq!(
        p.rows("SELECT p.headline, n.note FROM app_notes n JOIN posts p ON p.id = n.post_id"),
        rows(&[&["edited", "first"]])
    );
    // The app's foreign key still holds.
    let refused = if on_postgres() {
        let mut c = p.pg.as_ref().unwrap().client();
        c.batch_execute(&format!(
            "SET search_path TO {}",
            p.pg.as_ref().unwrap().name
        ))
        .unwrap();
        c.execute("INSERT INTO app_notes VALUES (99, 'none')", &[])
            .is_err()
    } else {
        let db = p.db();
        db.execute_batch("PRAGMA foreign_keys = ON").unwrap();
        db.execute("INSERT INTO app_notes VALUES (99, 'none')", [])
            .is_err()
    };
    assert!(refused, "a note on no post was taken");
    p.jl(&["migrate"]).ok().stdout_has("already migrated");
}

// ----- PostgreSQL: ALTER TABLE in place --------------------------------------------------------

/// The project file of [`toml`] with a collection of authors beside the posts.
fn with_authors(fields: &str) -> String {
    format!(
        "{}[collections.authors]\nsource = \"authors.json\"\nkey = \"name\"\n",
        toml(fields)
    )
}

/// Whether PostgreSQL refuses `sql`, run in `pg`'s schema.
fn refused_in(pg: &crate::postgres::PgSchema, sql: &str) -> bool {
    let mut c = pg.client();
    c.batch_execute(&format!("SET search_path TO {}", pg.name))
        .unwrap();
    c.batch_execute(sql).is_err()
}

/// Runs `sql` in `pg`'s schema (as the app would on its tables).
fn sql_in(pg: &crate::postgres::PgSchema, sql: &str) {
    pg.sql(&format!("SET search_path TO {};\n{sql}", pg.name));
}

/// On PostgreSQL whatever the run (a schema of its own; `None`, said loudly, without a server):
/// [`edited_project`] with a collection of authors beside the posts.
fn edited_on_postgres(test: &str) -> Option<Project> {
    let url = crate::postgres::server(test)?;
    let pg = crate::postgres::PgSchema::new(&url);
    let mut p = Project::new(&with_authors(BASE));
    p.write(
        "jsonlift.toml",
        format!("{}{}", pg.toml(), with_authors(BASE)),
    );
    p.pg = Some(pg);
    p.write("posts.json", POSTS);
    p.write("authors.json", r#"[{"name": "ann"}, {"name": "bob"}]"#);
    edit(&p);
    Some(p)
}

/// On PostgreSQL, a plan that changes a collection and adds another (written for review with
/// `plan --write`, then applied as written) alters the changed one in place, loads the new one
/// from its file, and leaves every other table as it was: what the app made on them (a comment,
/// a grant) and their rows stay; the new collection gets its keys and foreign keys.
#[test]
fn on_postgres_a_plan_adding_a_collection_loads_it_beside_the_tables_it_keeps() {
    let Some(p) = edited_on_postgres(
        "evolve::on_postgres_a_plan_adding_a_collection_loads_it_beside_the_tables_it_keeps",
    ) else {
        return;
    };
    let pg = p.pg.as_ref().unwrap();
    sql_in(
        pg,
        "GRANT SELECT ON posts TO PUBLIC;
         COMMENT ON TABLE posts IS 'the posts';
         COMMENT ON TABLE authors IS 'the authors';",
    );
    let q1 = |sql: &str| pg.q1(sql);
    let rel = |t: &str| {
        q1(&format!(
            "SELECT oid || '/' || relfilenode || '/' || coalesce(obj_description(oid), '') FROM pg_class WHERE relname = '{t}' AND relnamespace = '{}'::regnamespace",
            pg.name
        ))
    };
    let xmins = |t: &str| {
        q1(&format!(
            "SELECT string_agg(xmin::text, ',' ORDER BY _rowid) FROM {t}"
        ))
    };
    let (posts, authors, author_rows) = (rel("posts"), rel("authors"), xmins("authors"));
    let grant = || q1("SELECT has_table_privilege('public', 'posts', 'SELECT')");
    assert_eq!(grant(), "t");

    p.write(
        "comments.json",
        r#"[{"id": 1, "post": 1, "body": "nice"}, {"id": 2, "post": 4, "body": "new one"}]"#,
    );
    let fields = format!("{BASE}\ncolor = \"text\"");
    let project = format!(
        "{}{}[collections.comments]\nsource = \"comments.json\"\nkey = \"id\"\n[collections.comments.fields]\nid = \"integer\"\npost = {{ type = \"integer\", references = \"posts\" }}\nbody = \"text\"\n",
        pg.toml(),
        with_authors(&fields)
    );
    p.write("jsonlift.toml", &project);
    p.jl(&["plan", "--write"])
        .ok()
        .stdout_has("comments: new; loaded from its source file")
        .stdout_has("written: ");
    let r = p.jl(&["migrate"]);
    r.ok()
        .stdout_has("posts: field color added")
        .stdout_has("comments: new; loaded from its source file")
        .stdout_has("applied: 001_plan.sql");
    p.jl(&["migrate"]).ok().stdout_has("already migrated");
    p.assert_db_sound_on_backend();

    // The posts altered in place keep their table, comment and grant, and the API's edits.
    assert_eq!(rel("posts"), posts);
    assert_eq!(grant(), "t");
    assert_eq!(
        exported(&p),
        value(
            r#"[
      {"id": 1, "title": "edited", "views": 10, "tags": ["a", "b"]},
      {"id": 3, "title": "third", "views": 30, "tags": ["c"]},
      {"id": 4, "title": "new", "views": 5, "tags": ["x"], "color": "blue"}
    ]"#
        )
    );
    // The authors, unchanged, are not touched: same table, same rows.
    assert_eq!((rel("authors"), xmins("authors")), (authors, author_rows));
    // The comments are in, with their key and their foreign key.
    assert_eq!(
        q1("SELECT string_agg(id || ':' || post || ':' || body, ',' ORDER BY id) FROM comments"),
        "1:1:nice,2:4:new one"
    );
    let refused = |sql: &str| refused_in(pg, sql);
    assert!(refused(
        "INSERT INTO comments (id, post, body) VALUES (3, 99, 'on no post')"
    ));
    assert!(refused(
        "INSERT INTO comments (id, post, body) VALUES (1, 1, 'same key')"
    ));
    assert_eq!(
        q1("SELECT string_agg(action, ',' ORDER BY id) FROM _jsonlift_ledger"),
        "migrate,evolve,migrate"
    );

    // A collection added alone, with no other change: loaded, and nothing else written.
    let (posts, comments) = (rel("posts"), (rel("comments"), xmins("comments")));
    p.write("topics.json", r#"[{"slug": "rust"}, {"slug": "sql"}]"#);
    p.write(
        "jsonlift.toml",
        format!("{project}[collections.topics]\nsource = \"topics.json\"\nkey = \"slug\"\n"),
    );
    p.jl(&["migrate"]).ok().stdout_has("topics");
    p.jl(&["migrate"]).ok().stdout_has("already migrated");
    p.assert_db_sound_on_backend();
    assert_eq!(rel("posts"), posts);
    assert_eq!((rel("comments"), xmins("comments")), comments);
    assert_eq!(
        q1("SELECT string_agg(slug, ',' ORDER BY slug) FROM topics"),
        "rust,sql"
    );
    assert!(refused("INSERT INTO topics (slug) VALUES ('rust')"));
}

/// On PostgreSQL, a change of nesting makes the posts' tables anew; what the app put on them
/// comes back: its grant, the comments of the table and of the columns still there, and its
/// trigger, which fires again. A trigger that no longer fits the new table refuses the change.
#[test]
fn on_postgres_tables_made_anew_keep_the_apps_grants_comments_and_triggers() {
    let Some(p) = edited_on_postgres(
        "evolve::on_postgres_tables_made_anew_keep_the_apps_grants_comments_and_triggers",
    ) else {
        return;
    };
    let pg = p.pg.as_ref().unwrap();
    sql_in(
        pg,
        "GRANT SELECT, UPDATE ON posts TO PUBLIC;
         COMMENT ON TABLE posts IS 'the posts';
         COMMENT ON COLUMN posts.title IS 'the title';
         COMMENT ON COLUMN posts.tags IS 'the tags';
         CREATE TABLE app_log (id BIGINT);
         CREATE FUNCTION log_post() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN INSERT INTO app_log VALUES (NEW.id); RETURN NEW; END $$;
         CREATE TRIGGER post_logged AFTER UPDATE ON posts FOR EACH ROW EXECUTE FUNCTION log_post();
         CREATE TRIGGER tags_logged AFTER UPDATE OF tags ON posts FOR EACH ROW EXECUTE FUNCTION log_post();",
    );
    let q1 = |sql: &str| pg.q1(sql);
    let oid = || q1("SELECT 'posts'::regclass::oid::text");
    let before = oid();
    let nested = BASE.replace(
        "tags = { type = \"array\" }",
        "tags = { type = \"array\", of = \"text\", table = \"post_tags\" }",
    );
    p.write(
        "jsonlift.toml",
        format!("{}{}", pg.toml(), with_authors(&nested)),
    );
    let plan = p.jl(&["plan", "--json"]);
    plan.ok();
    assert_eq!(plan.json()["changes"][0]["mode"], "rebuild");

    // The trigger on `tags`, a column the new table does not have, cannot be put back.
    p.jl(&["migrate"])
        .failed()
        .stderr_has("tags_logged")
        .stderr_has("no longer fits jsonlift's new tables");
    assert_eq!(oid(), before, "a refused change writes nothing");

    sql_in(pg, "DROP TRIGGER tags_logged ON posts");
    p.jl(&["migrate"]).ok().stdout_has("evolved in place");
    p.jl(&["migrate"]).ok().stdout_has("already migrated");
    assert_ne!(oid(), before, "the table was made anew");
    assert_eq!(
        q1("SELECT has_table_privilege('public', 'posts', 'UPDATE')::text"),
        "true"
    );
    assert_eq!(q1("SELECT obj_description('posts'::regclass)"), "the posts");
    assert_eq!(
        q1(
            "SELECT col_description('posts'::regclass, (SELECT attnum FROM pg_attribute WHERE attrelid = 'posts'::regclass AND attname = 'title'))"
        ),
        "the title"
    );
    assert_eq!(
        q1("SELECT count(*) FROM pg_description WHERE objoid = 'posts'::regclass"),
        "2",
        "the comment of the column that went goes with it"
    );
    sql_in(pg, "UPDATE posts SET views = views + 1 WHERE id = 3");
    assert_eq!(q1("SELECT string_agg(id::text, ',') FROM app_log"), "3");
    p.assert_db_sound_on_backend();
}

/// On PostgreSQL, each kind of change is made with ALTER TABLE on the live tables: the posts
/// table keeps its identity, what the app made on it (a grant, comments, its own trigger), and
/// every row the change does not alter (same `xmin`); the authors, unchanged, are not touched;
/// the API's edits are kept; the constraints come and go.
#[test]
fn on_postgres_each_change_alters_the_live_table_keeping_grants_comments_triggers_and_other_tables()
{
    let Some(p) = edited_on_postgres(
        "evolve::on_postgres_each_change_alters_the_live_table_keeping_grants_comments_triggers_and_other_tables",
    ) else {
        return;
    };
    let pg = p.pg.as_ref().unwrap();
    sql_in(
        pg,
        "GRANT SELECT ON posts TO PUBLIC;
         COMMENT ON TABLE posts IS 'the posts';
         COMMENT ON COLUMN posts.title IS 'the title';
         CREATE TABLE app_log (id BIGINT);
         CREATE FUNCTION log_post() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN INSERT INTO app_log VALUES (NEW.id); RETURN NEW; END $$;
         CREATE TRIGGER post_logged AFTER UPDATE ON posts FOR EACH ROW EXECUTE FUNCTION log_post();",
    );
    let q1 = |sql: &str| pg.q1(sql);
    let rel = |t: &str| {
        q1(&format!(
            "SELECT oid || '/' || relfilenode FROM pg_class WHERE relname = '{t}' AND relnamespace = '{}'::regnamespace",
            pg.name
        ))
    };
    let oid = |t: &str| rel(t).split('/').next().unwrap().to_string();
    let xmins = |t: &str| -> Vec<String> {
        q1(&format!(
            "SELECT string_agg(xmin::text, ',' ORDER BY _rowid) FROM {t}"
        ))
        .split(',')
        .map(str::to_string)
        .collect()
    };
    let refused = |sql: &str| refused_in(pg, sql);
    let column = |name: &str| {
        format!(
            "(SELECT attnum FROM pg_attribute WHERE attrelid = 'posts'::regclass AND attname = '{name}')"
        )
    };
    let constraints = |kind: &str, col: &str| {
        q1(&format!(
            "SELECT count(*) FROM pg_constraint WHERE conrelid = 'posts'::regclass AND contype = '{kind}' AND conkey = ARRAY[{}]::int2[]",
            column(col)
        ))
    };
    let nullable = |col: &str| {
        q1(&format!(
            "SELECT is_nullable FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = 'posts' AND column_name = '{col}'"
        ))
    };
    let posts = oid("posts");
    let authors = (rel("authors"), xmins("authors"));
    let step = |fields: &str, expected: &str| {
        let text = with_authors(fields);
        p.write("jsonlift.toml", format!("{}{text}", pg.toml()));
        let plan = p.jl(&["plan", "--json"]);
        plan.ok();
        assert_eq!(plan.json()["changes"][0]["mode"], "alter", "{fields}");
        p.jl(&["migrate"]).ok().stdout_has("evolved in place");
        assert_eq!(exported(&p), value(expected), "records after the change");
        p.jl(&["migrate"]).ok().stdout_has("already migrated");
        p.assert_db_sound_on_backend();
    };

    // A field renamed: the column is, and no row is written.
    let rows = xmins("posts");
    let f = BASE.replace(
        "title = \"text\"",
        "headline = { type = \"text\", renamed_from = \"title\" }",
    );
    let renamed = r#"[
      {"id": 1, "headline": "edited", "views": 10, "tags": ["a", "b"]},
      {"id": 3, "headline": "third", "views": 30, "tags": ["c"]},
      {"id": 4, "headline": "new", "views": 5, "tags": ["x"], "color": "blue"}
    ]"#;
    step(&f, renamed);
    assert_eq!(xmins("posts"), rows, "a rename writes no row");
    assert_eq!(
        q1(&format!(
            "SELECT col_description('posts'::regclass, {})",
            column("headline")
        )),
        "the title",
        "the column's comment follows it"
    );

    // A field added that one record holds (in `_extra`): only that record's row is written, so
    // the app's trigger fires for it alone.
    let f = format!("{f}\ncolor = \"text\"");
    step(&f, renamed);
    let now = xmins("posts");
    assert_eq!(
        (&now[0], &now[1]),
        (&rows[0], &rows[1]),
        "rows 1 and 3 untouched"
    );
    assert_ne!(now[2], rows[2], "row 4 rewritten");
    assert_eq!(q1("SELECT string_agg(id::text, ',') FROM app_log"), "4");
    assert_eq!(q1("SELECT color FROM posts WHERE id = 4"), "blue");

    // A new required field with a default; a type widened with a check; NOT NULL, UNIQUE and
    // an index added.
    let f = format!("{f}\nstatus = {{ type = \"text\", required = true, default = \"draft\" }}")
        .replace(
            "views = \"integer\"",
            "views = { type = \"real\", required = true, min = 0, index = true }",
        )
        .replace(
            "renamed_from = \"title\" }",
            "renamed_from = \"title\", unique = true }",
        );
    let defaulted = r#"[
      {"id": 1, "headline": "edited", "views": 10, "tags": ["a", "b"], "status": "draft"},
      {"id": 3, "headline": "third", "views": 30, "tags": ["c"], "status": "draft"},
      {"id": 4, "headline": "new", "views": 5, "tags": ["x"], "color": "blue", "status": "draft"}
    ]"#;
    step(&f, defaulted);
    assert_eq!(p.column_type("posts", "views"), "double precision");
    assert_eq!(nullable("status"), "NO");
    assert_eq!(nullable("views"), "NO");
    assert_eq!(constraints("u", "headline"), "1");
    assert_eq!(constraints("c", "views"), "1");
    assert!(p.has_index("idx_posts_views"));
    assert!(refused("UPDATE posts SET headline = 'third' WHERE id = 1"));
    assert!(refused("UPDATE posts SET views = -1 WHERE id = 1"));

    // A reference to the authors added, then every constraint dropped again.
    let f = format!("{f}\nauthor = {{ type = \"text\", references = \"authors\" }}");
    step(&f, defaulted);
    assert_eq!(constraints("f", "author"), "1");
    assert!(refused("UPDATE posts SET author = 'nobody' WHERE id = 1"));
    let f = f
        .replace("references = \"authors\"", "index = false")
        .replace(", unique = true", "")
        .replace("required = true, min = 0", "min = 1");
    step(&f, defaulted);
    assert_eq!(constraints("f", "author"), "0");
    assert_eq!(constraints("u", "headline"), "0");
    assert_eq!(nullable("views"), "YES");
    assert!(
        refused("UPDATE posts SET views = 0 WHERE id = 1"),
        "the new check"
    );

    // A field removed: its column goes, the value it held goes back to its record's `_extra`.
    let f = f.replace("\ncolor = \"text\"", "");
    step(&f, defaulted);
    assert!(!p.columns("posts").contains(&"color".to_string()));

    // The posts table is the same table, with what the app made on it; the authors were not
    // touched at all.
    assert_eq!(
        oid("posts"),
        posts,
        "the posts table was altered, not made anew"
    );
    assert_eq!(
        q1("SELECT obj_description('posts'::regclass, 'pg_class')"),
        "the posts"
    );
    assert!(
        q1("SELECT relacl::text FROM pg_class WHERE oid = 'posts'::regclass").contains("=r/"),
        "the grant to PUBLIC is kept"
    );
    assert_eq!(
        q1(
            "SELECT count(*) FROM pg_trigger WHERE tgname = 'post_logged' AND tgrelid = 'posts'::regclass"
        ),
        "1"
    );
    assert_eq!(
        (rel("authors"), xmins("authors")),
        authors,
        "an unchanged table is not rewritten"
    );
    assert_eq!(
        p.sql1("SELECT count(*) FROM _jsonlift_ledger WHERE action = 'evolve'"),
        "6"
    );
}
