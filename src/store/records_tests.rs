//! The record store on a migrated database: exact shapes out, validation and audit in, and
//! nothing half-done.

use std::path::Path;

use super::*;
use crate::audit::{self, Actor, Filter};
use crate::config::Project;
use crate::json::{parse, to_compact_string};
use crate::migrate::{Options, Progress, migrate};
use crate::store::sqlite::SqliteTx;
use crate::store::{SqliteStore, Store, StoreError, read, write};

const TOML: &str = r#"
database = "t.db"
[collections.courses]
source = "courses.json"
key = "id"
[collections.courses.fields]
id = { type = "text", required = true }
title = { type = "text", required = true }
hours = { type = "real", min = 0 }
[collections.courses.fields.modules]
type = "array"
table = "modules"
[collections.courses.fields.modules.fields]
name = { type = "text", required = true }
[collections.courses.fields.modules.fields.lessons]
type = "array"
table = "lessons"
[collections.courses.fields.modules.fields.lessons.fields]
title = "text"
minutes = "integer"

[collections.notes]
source = "notes.json"
key = "n"
[collections.notes.fields]
n = { type = "integer", required = true }
course = { type = "text", references = "courses", on_delete = "restrict" }

[collections.stats]
source = "stats.json"
format = "document"
[collections.stats.fields]
xp = { type = "integer", required = true }
"#;

const COURSES: &str = r#"[
  {"title": "B", "id": "b", "hours": 1.50, "modules": [{"name": "m", "lessons": [{"title": "l", "minutes": 3, "x": [1.0]}]}], "odd": {"k": 1e3}},
  {"id": "a", "title": "A", "modules": []}
]"#;

fn project(dir: &Path) -> (Project, SqliteStore) {
    std::fs::write(dir.join("jsonlift.toml"), TOML).unwrap();
    std::fs::write(dir.join("courses.json"), COURSES).unwrap();
    std::fs::write(dir.join("notes.json"), r#"[{"n": 1, "course": "a"}]"#).unwrap();
    std::fs::write(dir.join("stats.json"), r#"{"xp": 5, "extra": true}"#).unwrap();
    let p = Project::load(&dir.join("jsonlift.toml")).unwrap();
    let opts = Options {
        dry_run: false,
        reimport: false,
        progress: Progress::auto(true),
        database_backups: true,
    };
    let r = migrate(&p, &opts).unwrap();
    assert!(r.ok, "{r:?}");
    let schema = crate::schema::Schema::build(&p).unwrap();
    let store = SqliteStore::open(&p, schema).unwrap();
    (p, store)
}

fn v(text: &str) -> Value {
    parse(text.as_bytes(), 100).unwrap()
}

fn actor() -> Actor {
    Actor {
        name: "tester".into(),
        request_id: "r1".into(),
    }
}

fn courses(s: &dyn Store) -> Records<'_> {
    Records::named(s.schema(), "courses").unwrap()
}

#[test]
fn records_come_back_in_their_source_shape() {
    let dir = tempfile::tempdir().unwrap();
    let (_, store) = project(dir.path());
    let c = courses(&store);
    let got = read(&store, |conn| c.get(conn, "b")).unwrap().unwrap();
    let source = match v(COURSES) {
        Value::Array(a) => a,
        _ => unreachable!(),
    };
    assert_eq!(to_compact_string(&got), to_compact_string(&source[0]));
    let all = read(&store, |conn| c.list(conn)).unwrap();
    assert_eq!(all, source);
    assert_eq!(read(&store, |conn| c.get(conn, "zz")).unwrap(), None);
    let stats = Records::named(store.schema(), "stats").unwrap();
    assert_eq!(
        read(&store, |conn| stats.document(conn)).unwrap(),
        Some(v(r#"{"xp": 5, "extra": true}"#))
    );
}

#[test]
fn writes_round_trip_and_are_audited_in_the_same_transaction() {
    let dir = tempfile::tempdir().unwrap();
    let (_, store) = project(dir.path());
    let c = courses(&store);
    let rec = v(
        r#"{"id": "c", "title": "C", "zz": null, "modules": [{"name": "x", "lessons": [{"minutes": 7, "title": "t"}]}], "hours": 2.0}"#,
    );
    let (key, stored) = write(&store, |conn| c.insert(conn, rec.clone(), &actor())).unwrap();
    assert_eq!((key.as_str(), &stored), ("c", &rec));
    assert_eq!(
        read(&store, |conn| c.get(conn, "c")).unwrap(),
        Some(rec.clone())
    );
    // Replace keeps the place in the list; patch merges top-level fields in place.
    let new = v(r#"{"title": "C2", "modules": [{"name": "y", "lessons": []}]}"#);
    write(&store, |conn| c.replace(conn, "c", new.clone(), &actor())).unwrap();
    let patched = write(&store, |conn| {
        c.patch(conn, "b", v(r#"{"title": "B2", "more": [1]}"#), &actor())
    })
    .unwrap();
    assert_eq!(patched.get("title"), Some(&Value::String("B2".into())));
    assert_eq!(
        to_compact_string(patched.get("odd").unwrap()),
        r#"{"k":1e3}"#
    );
    let keys: Vec<String> = read(&store, |conn| c.list_keyed(conn))
        .unwrap()
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    assert_eq!(keys, ["b", "a", "c"]);
    assert_eq!(
        read(&store, |conn| c.get(conn, "c")).unwrap().unwrap(),
        // The body had no key: it goes last, as json-server's PUT puts `id`.
        v(r#"{"title": "C2", "modules": [{"name": "y", "lessons": []}], "id": "c"}"#)
    );
    let old = write(&store, |conn| c.delete(conn, "c", &actor())).unwrap();
    assert_eq!(old.get("title"), Some(&Value::String("C2".into())));
    // No orphaned child rows remain.
    let orphans: i64 = count(
        &store,
        "SELECT count(*) FROM lessons WHERE _parent NOT IN (SELECT _id FROM modules)",
    );
    assert_eq!(orphans, 0);
    let log = read(&store, |conn| {
        Ok(conn.audit_query(&Filter {
            collection: Some("courses".into()),
            ..Filter::default()
        })?)
    })
    .unwrap();
    let actions: Vec<(&str, Option<&str>)> = log
        .iter()
        .map(|e| (e.action.as_str(), e.key.as_deref()))
        .collect();
    assert_eq!(
        actions,
        [
            ("migrate", None),
            ("insert", Some("c")),
            ("update", Some("c")),
            ("update", Some("b")),
            ("delete", Some("c"))
        ]
    );
    assert_eq!(log[1].new_value(), Some(rec));
    assert_eq!(
        log[2].old.as_deref().map(|s| s.contains("\"hours\":2.0")),
        Some(true)
    );
    assert_eq!(log[4].new, None);
    assert!(
        log.iter()
            .skip(1)
            .all(|e| e.actor.as_deref() == Some("tester"))
    );
}

#[test]
fn every_problem_is_reported_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let (_, store) = project(dir.path());
    let c = courses(&store);
    let bad = v(r#"{"id": "d", "hours": -1, "modules": [{"lessons": [{"minutes": "x"}]}]}"#);
    let err = write(&store, |conn| c.insert(conn, bad.clone(), &actor())).unwrap_err();
    let StoreError::Invalid(errs) = err else {
        panic!("{err:?}")
    };
    let paths: Vec<String> = errs.iter().map(|e| e.path.to_string()).collect();
    assert!(paths.contains(&"$".to_string()), "{paths:?}"); // missing title
    assert!(paths.contains(&"$.hours".to_string()), "{paths:?}");
    assert!(paths.contains(&"$.modules[0]".to_string()), "{paths:?}");
    assert!(
        paths.contains(&"$.modules[0].lessons[0].minutes".to_string()),
        "{paths:?}"
    );
    // A failure after rows were written rolls back the rows and the audit entry together.
    let notes = Records::named(store.schema(), "notes").unwrap();
    let err = write(&store, |conn| {
        c.insert(conn, v(r#"{"id": "e", "title": "E"}"#), &actor())?;
        notes.insert(conn, v(r#"{"n": 2, "course": "nope"}"#), &actor())
    })
    .unwrap_err();
    assert!(
        matches!(&err, StoreError::Conflict(e) if e[0].path.to_string() == "$.course"),
        "{err:?}"
    );
    assert_eq!(read(&store, |conn| c.get(conn, "e")).unwrap(), None);
    let n: i64 = count(
        &store,
        "SELECT count(*) FROM _jsonlift_audit WHERE action != 'migrate'",
    );
    assert_eq!(n, 0);
    // Restricted deletes and duplicates are conflicts.
    let err = write(&store, |conn| c.delete(conn, "a", &actor())).unwrap_err();
    assert!(
        matches!(&err, StoreError::Conflict(e) if e[0].message.contains("notes")),
        "{err:?}"
    );
    let err = write(&store, |conn| {
        c.insert(conn, v(r#"{"id": "a", "title": "A"}"#), &actor())
    })
    .unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    // The key in the body must be the key written to.
    let err = write(&store, |conn| {
        c.replace(conn, "a", v(r#"{"id": "b", "title": "x"}"#), &actor())
    })
    .unwrap_err();
    assert!(
        matches!(&err, StoreError::Invalid(e) if e[0].path.to_string() == "$.id"),
        "{err:?}"
    );
    let err = write(&store, |conn| c.delete(conn, "zz", &actor())).unwrap_err();
    assert!(matches!(err, StoreError::NotFound { .. }), "{err:?}");
}

#[test]
fn keys_are_generated_and_imports_are_all_or_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (_, store) = project(dir.path());
    let notes = Records::named(store.schema(), "notes").unwrap();
    let (key, rec) = write(&store, |conn| {
        notes.insert(conn, v(r#"{"course": "b"}"#), &actor())
    })
    .unwrap();
    assert_eq!(key, "2");
    assert_eq!(to_compact_string(&rec), r#"{"n":2,"course":"b"}"#);
    let c = courses(&store);
    let (key, _) = write(&store, |conn| {
        c.insert(conn, v(r#"{"title": "U"}"#), &actor())
    })
    .unwrap();
    assert!(crate::schema::is_uuid(&key), "{key}");
    let batch = vec![
        v(r#"{"n": 10}"#),
        v(r#"{"n": 11, "course": "nope"}"#),
        v(r#"{"n": "x"}"#),
    ];
    let err = write(&store, |conn| notes.import(conn, batch.clone(), &actor())).unwrap_err();
    let StoreError::Invalid(errs) = err else {
        panic!("{err:?}")
    };
    let paths: Vec<String> = errs.iter().map(|e| e.path.to_string()).collect();
    assert_eq!(paths, ["$[2].n", "$[1].course"]);
    assert_eq!(read(&store, |conn| notes.get(conn, "10")).unwrap(), None);
    let keys = write(&store, |conn| {
        notes.import(conn, vec![v(r#"{"n": 10}"#), v(r#"{}"#)], &actor())
    })
    .unwrap();
    assert_eq!(keys, ["10", "11"]);
    let log = read(&store, |conn| {
        Ok(conn.audit_query(&Filter {
            key: Some("11".into()),
            ..Filter::default()
        })?)
    })
    .unwrap();
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].action, "import");
}

#[test]
fn put_replays_an_entry_on_a_plain_connection() {
    let dir = tempfile::tempdir().unwrap();
    let (p, store) = project(dir.path());
    let c = courses(&store);
    let conn = crate::store::sqlite::open(&p.database_path(), p.busy_timeout()).unwrap();
    let tx = rusqlite::Transaction::new_unchecked(&conn, rusqlite::TransactionBehavior::Immediate)
        .unwrap();
    let rec = v(r#"{"id": "z", "title": "Z", "modules": [{"name": "n"}]}"#);
    c.put(&SqliteTx::new(&tx), "z", Some(rec.clone()), &actor())
        .unwrap();
    c.put(&SqliteTx::new(&tx), "b", None, &actor()).unwrap();
    let stats = Records::named(store.schema(), "stats").unwrap();
    stats
        .put_document(&SqliteTx::new(&tx), v(r#"{"xp": 9}"#), &actor())
        .unwrap();
    tx.commit().unwrap();
    assert_eq!(read(&store, |conn| c.get(conn, "z")).unwrap(), Some(rec));
    assert_eq!(read(&store, |conn| c.get(conn, "b")).unwrap(), None);
    assert_eq!(
        read(&store, |conn| stats.document(conn)).unwrap(),
        Some(v(r#"{"xp": 9}"#))
    );
}

#[test]
fn put_logged_original_enters_exactly_the_original_rows() {
    let dir = tempfile::tempdir().unwrap();
    let (_p, store) = project(dir.path());
    let c = courses(&store);
    let stats = Records::named(store.schema(), "stats").unwrap();
    let log = |conn: &dyn crate::store::Tx| -> Result<Vec<audit::Entry>, StoreError> {
        Ok(conn.audit_query(&Filter::default())?)
    };
    let before = read(&store, log).unwrap();
    let next = before.last().unwrap().id + 1;
    // Entries as another database logged them: other times, actors, request ids.
    let entry =
        |i: i64, coll: &str, key: Option<&str>, action: &str, new: Option<&str>| audit::Entry {
            id: next + i,
            at: format!("2020-01-02T03:04:0{i}.000000Z"),
            collection: coll.into(),
            key: key.map(str::to_string),
            action: action.into(),
            old: None,
            new: new.map(str::to_string),
            actor: Some(format!("someone-{i}")),
            request_id: Some(format!("req-{i}")),
        };
    let entries = [
        entry(
            0,
            "courses",
            Some("z"),
            "insert",
            Some(r#"{"id":"z","title":"Z"}"#),
        ),
        entry(
            1,
            "courses",
            Some("z"),
            "update",
            Some(r#"{"id":"z","title":"Z2"}"#),
        ),
        entry(2, "courses", Some("gone"), "delete", None),
        entry(3, "stats", None, "update", Some(r#"{"xp":7}"#)),
    ];
    write(&store, |conn| {
        for e in &entries {
            let r = Records::named(store.schema(), &e.collection).unwrap();
            r.put_logged(
                conn,
                e.key.as_deref().unwrap_or("1"),
                e.new_value(),
                Log::Original(e),
            )?;
        }
        Ok(())
    })
    .unwrap();
    let after = read(&store, log).unwrap();
    assert_eq!(&after[..before.len()], &before[..]);
    assert_eq!(
        &after[before.len()..],
        &entries[..],
        "exactly the original rows"
    );
    assert_eq!(
        read(&store, |conn| c.get(conn, "z")).unwrap(),
        Some(v(r#"{"id":"z","title":"Z2"}"#))
    );
    assert_eq!(
        read(&store, |conn| stats.document(conn)).unwrap(),
        Some(v(r#"{"xp":7}"#))
    );
}

/// One number from SQL run straight on the store's database file.
fn count(store: &SqliteStore, sql: &str) -> i64 {
    let c = rusqlite::Connection::open(store.path()).unwrap();
    c.query_row(sql, [], |r| r.get(0)).unwrap()
}

/// A folder collection keyed by a field, the file name in `file`: what the live sync writes.
fn folder_project(dir: &Path) -> SqliteStore {
    let toml = r#"
database = "f.db"
[collections.people]
source = "people"
format = "folder"
key = "id"
key_column = "file"
[collections.people.fields]
id = { type = "text", required = true }
name = "text"
"#;
    std::fs::write(dir.join("jsonlift.toml"), toml).unwrap();
    std::fs::create_dir(dir.join("people")).unwrap();
    std::fs::write(dir.join("people/a.json"), r#"{"id": "a", "name": "A"}"#).unwrap();
    std::fs::write(dir.join("people/b.json"), r#"{"id": "b", "name": "B"}"#).unwrap();
    let p = Project::load(&dir.join("jsonlift.toml")).unwrap();
    let opts = Options {
        dry_run: false,
        reimport: false,
        progress: Progress::auto(true),
        database_backups: false,
    };
    assert!(migrate(&p, &opts).unwrap().ok);
    SqliteStore::open(&p, crate::schema::Schema::build(&p).unwrap()).unwrap()
}

#[test]
fn records_by_file_are_updated_in_place_renamed_and_rekeyed() {
    let dir = tempfile::tempdir().unwrap();
    let store = folder_project(dir.path());
    let people = Records::named(store.schema(), "people").unwrap();
    let who = actor();
    let audited = || store.audit(&Filter::default()).unwrap().len();
    let n0 = audited();
    // The same record: nothing written, nothing audited.
    let same = write(&store, |tx| {
        people.put_at(tx, "a.json", Some(v(r#"{"id": "a", "name": "A"}"#)), &who)
    });
    assert!(!same.unwrap());
    assert_eq!(audited(), n0);
    // Changed: updated in place (still first).
    write(&store, |tx| {
        people.put_at(tx, "a.json", Some(v(r#"{"id": "a", "name": "A2"}"#)), &who)
    })
    .unwrap();
    let keys = |s: &SqliteStore| -> Vec<(Option<String>, String)> {
        read(s, |tx| people.entries(tx))
            .unwrap()
            .into_iter()
            .map(|e| (e.at, e.key))
            .collect()
    };
    let at = |f: &str, k: &str| (Some(f.to_string()), k.to_string());
    assert_eq!(keys(&store), [at("a.json", "a"), at("b.json", "b")]);
    // Renamed: the same row under its new file name.
    assert!(write(&store, |tx| people.rename_at(tx, "b.json", "c.json", &who)).unwrap());
    assert_eq!(keys(&store), [at("a.json", "a"), at("c.json", "b")]);
    // Another file claiming key b: a conflict, nothing changed.
    let dup = write(&store, |tx| {
        people.put_at(tx, "d.json", Some(v(r#"{"id": "b"}"#)), &who)
    });
    assert!(matches!(dup, Err(StoreError::Conflict(_))), "{dup:?}");
    // The key edited in the file: deleted under the old key, added under the new one.
    write(&store, |tx| {
        people.put_at(tx, "a.json", Some(v(r#"{"id": "z", "name": "Z"}"#)), &who)
    })
    .unwrap();
    assert_eq!(keys(&store), [at("c.json", "b"), at("a.json", "z")]);
    // A file gone: its record goes.
    assert!(write(&store, |tx| people.put_at(tx, "c.json", None, &who)).unwrap());
    assert!(!write(&store, |tx| people.put_at(tx, "c.json", None, &who)).unwrap());
    assert_eq!(keys(&store), [at("a.json", "z")]);
    let log: Vec<_> = store
        .audit(&Filter::default())
        .unwrap()
        .into_iter()
        .skip(n0)
        .collect();
    let actions: Vec<&str> = log.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, ["update", "rename", "delete", "insert", "delete"]);
    // The rename says which file became which, not an update with the same record twice.
    let rename = &log[1];
    assert_eq!(rename.key.as_deref(), Some("b"));
    assert_eq!(rename.old.as_deref(), Some(r#"{"file":"b.json"}"#));
    assert_eq!(rename.new.as_deref(), Some(r#"{"file":"c.json"}"#));
    // Point-in-time recovery replays it on a database where b is still at b.json: the file
    // name moves, the entry goes into the log as it was.
    let dir2 = tempfile::tempdir().unwrap();
    let other = folder_project(dir2.path());
    write(&other, |tx| {
        crate::backup::pitr::apply(tx, other.schema(), rename).map_err(StoreError::Other)
    })
    .unwrap();
    assert_eq!(keys(&other), [at("a.json", "a"), at("c.json", "b")]);
    let replayed = other.audit(&Filter::default()).unwrap();
    assert_eq!(replayed.last(), Some(rename));
}

/// The search index is filled a page of texts at a time (`search_fill`): every record's text
/// goes in once, across the batches' edges.
#[test]
fn the_search_index_holds_every_record_once() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("jsonlift.toml"), TOML).unwrap();
    let many: Vec<String> = (0..1300)
        .map(|i| format!(r#"{{"id": "c{i}", "title": "Title {i:05} End"}}"#))
        .collect();
    std::fs::write(d.join("courses.json"), format!("[{}]", many.join(","))).unwrap();
    std::fs::write(d.join("notes.json"), "[]").unwrap();
    std::fs::write(d.join("stats.json"), r#"{"xp": 5}"#).unwrap();
    let p = Project::load(&d.join("jsonlift.toml")).unwrap();
    let opts = Options {
        dry_run: false,
        reimport: false,
        progress: Progress::auto(true),
        database_backups: false,
    };
    assert!(migrate(&p, &opts).unwrap().ok);
    let store = SqliteStore::open(&p, crate::schema::Schema::build(&p).unwrap()).unwrap();
    let records = courses(&store);
    write(&store, |tx| records.search_build(tx)).unwrap();
    let t = records.table();
    read(&store, |tx| {
        let mut all = tx.search_ranked(t, " end")?;
        assert_eq!(all.len(), 1300);
        all.sort();
        all.dedup();
        assert_eq!(all.len(), 1300, "a text entered twice");
        for i in [0, 255, 256, 1023, 1024, 1299] {
            let found = tx.search_ranked(t, &format!("title {i:05} "))?;
            assert_eq!(found.len(), 1, "title {i:05}");
            let row = tx.row(t, found[0])?;
            assert!(
                row.contains(&Cell::Text(format!("c{i}").into())),
                "title {i:05}: {row:?}"
            );
        }
        Ok(())
    })
    .unwrap();
}

/// The opcodes of `sql`, as `EXPLAIN` lists them.
fn opcodes(conn: &rusqlite::Connection, sql: &str) -> Vec<String> {
    let mut stmt = conn.prepare(&format!("EXPLAIN {sql}")).unwrap();
    let ops = stmt.query_map([], |r| r.get::<_, String>(1)).unwrap();
    ops.collect::<Result<_, _>>().unwrap()
}

/// `X-Total-Count` of an unfiltered list is SQLite's count from the b-tree pages (the `Count`
/// opcode), not a step through every row, which any `WHERE` (even `1 = 1`) makes it.
#[test]
fn a_whole_table_is_counted_from_its_pages() {
    let dir = tempfile::tempdir().unwrap();
    let (_, store) = project(dir.path());
    let schema = store.schema();
    let t = &schema.tables[schema.collections[0].table];
    let conn = rusqlite::Connection::open(store.path()).unwrap();
    let whole = super::super::select::tally(crate::store::Dialect::Sqlite, t, &[], &[]);
    assert!(
        opcodes(&conn, &whole.text).contains(&"Count".to_string()),
        "{}",
        whole.text
    );
    let filters = [(0, crate::store::Test::Null)];
    let some = super::super::select::tally(crate::store::Dialect::Sqlite, t, &filters, &[]);
    assert!(!opcodes(&conn, &some.text).contains(&"Count".to_string()));
}

/// A pooled connection's counts ([`super::super::sqlite::Tallies`]) are served again only while
/// nothing changed: a write by another client (a plain connection, as Python's `sqlite3` or the
/// `sqlite3` shell would make it) or by the connection itself makes them anew.
#[test]
fn kept_counts_go_with_any_clients_write() {
    use super::super::sqlite::Tallies;
    let dir = tempfile::tempdir().unwrap();
    let (_, store) = project(dir.path());
    let schema = store.schema();
    let notes = &schema.tables[schema.collections[1].table];
    let conn = super::super::sqlite::open(store.path(), std::time::Duration::from_secs(5)).unwrap();
    let tallies = Tallies::default();
    let count = || {
        conn.execute_batch("BEGIN").unwrap();
        let n = SqliteTx(&conn, Some(&tallies))
            .tally(notes, &[], &[])
            .unwrap()
            .0;
        conn.execute_batch("COMMIT").unwrap();
        n
    };
    assert_eq!((count(), tallies.made()), (1, 1));
    assert_eq!((count(), tallies.made()), (1, 1), "served again");
    let other = rusqlite::Connection::open(store.path()).unwrap();
    other.execute("DELETE FROM notes", []).unwrap();
    assert_eq!((count(), tallies.made()), (0, 2), "another client deleted");
    assert_eq!((count(), tallies.made()), (0, 2));
    let notes_records = Records::named(schema, "notes").unwrap();
    conn.execute_batch("BEGIN IMMEDIATE").unwrap();
    notes_records
        .insert(&SqliteTx::new(&conn), v(r#"{"n": 2}"#), &actor())
        .unwrap();
    conn.execute_batch("COMMIT").unwrap();
    assert_eq!(
        (count(), tallies.made()),
        (1, 3),
        "the connection itself inserted"
    );
    // The same through the store's own pool, whichever connection serves each step.
    let through_store = || read(&store, |tx| tx.tally(notes, &[], &[])).unwrap().0;
    assert_eq!(through_store(), 1);
    other.execute("DELETE FROM notes", []).unwrap();
    assert_eq!(through_store(), 0);
    write(&store, |tx| {
        notes_records.insert(tx, v(r#"{"n": 3}"#), &actor())
    })
    .unwrap();
    assert_eq!(through_store(), 1);
}

/// A deep page of a whole table in stored order ([`SqliteTx::jump`]) is the page the general
/// `OFFSET` statement gives, whether the rowids run without a gap (the jump is taken) or not
/// (a deleted row: it is not), at the edges and past the end.
#[test]
fn a_deep_page_found_by_rowid_is_the_page_offset_gives() {
    let dir = tempfile::tempdir().unwrap();
    let (_, store) = project(dir.path());
    let schema = store.schema();
    let notes = &schema.tables[schema.collections[1].table];
    let conn = super::super::sqlite::open(store.path(), std::time::Duration::from_secs(5)).unwrap();
    conn.execute_batch(
        "WITH RECURSIVE k(n) AS (SELECT 2 UNION ALL SELECT n + 1 FROM k WHERE n < 2600) \
         INSERT INTO notes (n) SELECT n FROM k",
    )
    .unwrap();
    let general = |skip: u64| -> Vec<i64> {
        let sql = super::super::select::select(
            crate::store::Dialect::Sqlite,
            notes,
            &[],
            &[],
            skip,
            Some(20),
        );
        let mut stmt = conn.prepare(&sql.text).unwrap();
        stmt.query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    };
    let check = |gapless: bool| {
        let tx = SqliteTx::new(&conn);
        for skip in [1000, 1001, 1777, 2579, 2580, 2599, 2600, 5000] {
            let jumped = tx.jump(notes, &[], &[], skip, Some(20)).unwrap();
            assert_eq!(jumped.is_some(), gapless, "skip {skip}");
            assert_eq!(
                tx.select(notes, &[], &[], skip, Some(20)).unwrap(),
                general(skip),
                "skip {skip}"
            );
        }
        // Shallow pages, filters and sorts keep the general statement.
        assert!(tx.jump(notes, &[], &[], 999, Some(20)).unwrap().is_none());
        let n = notes.columns.iter().position(|c| c.name == "n").unwrap();
        let sorted = [OrderBy {
            col: n,
            desc: true,
            nulls: false,
        }];
        assert!(
            tx.jump(notes, &[], &sorted, 1500, Some(20))
                .unwrap()
                .is_none()
        );
    };
    check(true);
    conn.execute_batch("DELETE FROM notes WHERE n = 1500")
        .unwrap();
    check(false);
}
