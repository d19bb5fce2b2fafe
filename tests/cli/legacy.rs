//! A hand-kept SQLite database as a source, and collections without a source (issue #17, seed
//! 002): a legacy database like the media library's (`media_metadata` with seasons and episodes
//! as JSON text, cast as JSON, `thumbnails` pointing at media by id without a declared key,
//! `tautulli_snapshots`) is migrated, verified, and exported back table for table and row for
//! row (every cell compared with its storage class); `init`/`infer` read its definitions; the
//! legacy file is never written; bad JSON text is named by table, row, column and line:column;
//! migrating into the legacy file itself keeps the legacy tables (or drops them on request,
//! backed up first); a collection without a source is served, audited, backed up and exported
//! with `--all`. The main path runs on PostgreSQL too.
//!
//! Every test but those about migrating into the legacy file itself runs on both databases
//! (`JSONLIFT_TEST_BACKEND=postgres`, tests/cli/backend.rs): the legacy file is a source, and
//! the collections go into PostgreSQL and are exported back to the same SQLite tables.

use std::path::Path;

use rusqlite::Connection;

use crate::backend::{on_postgres, sqlite_only};
use crate::serve::{Server, call};
use crate::util::*;

/// The media library's legacy database at `path`: JSON text written by `JSON.stringify` (compact),
/// one payload spaced (Python's `json.dumps`), a text `null` beside SQL NULLs, reals, a BLOB, an
/// AUTOINCREMENT table with a gap in its ids, and an index.
fn legacy_db(path: &Path) {
    let c = Connection::open(path).unwrap();
    c.execute_batch(
        r#"
        CREATE TABLE media_metadata (id INTEGER PRIMARY KEY, plex_key TEXT NOT NULL UNIQUE, title TEXT NOT NULL, type TEXT, year INTEGER, rating REAL, seasons TEXT, "cast" TEXT, updated_at TEXT);
        CREATE INDEX idx_media_type ON media_metadata(type);
        CREATE TABLE thumbnails (id INTEGER PRIMARY KEY AUTOINCREMENT, media_id INTEGER NOT NULL, url TEXT, width INTEGER, data BLOB);
        CREATE TABLE tautulli_snapshots (snapshot_id TEXT PRIMARY KEY, taken_at TEXT, payload TEXT);
        INSERT INTO media_metadata VALUES
          (1, 'plex://1', 'Dark', 'show', 2017, 8.7,
           '[{"season":1,"title":"Staffel 1","episodes":[{"episode":1,"title":"Geheimnisse","runtime":51},{"episode":2,"title":"Lügen","runtime":44}]},{"season":2,"title":"Staffel 2","episodes":[{"episode":1,"title":"Anfänge und Enden","runtime":53}]}]',
           '[{"name":"Louis Hofmann","role":"Jonas"},{"name":"Lisa Vicari","role":"Martha"}]', '2025-10-23T10:00:00Z'),
          (2, 'plex://2', 'Das Boot', 'movie', 1981, 8.0, NULL, '[{"name":"Jürgen Prochnow","role":"Kapitän"}]', NULL),
          (5, 'plex://5', 'Babylon Berlin', 'show', 2017, 1e300, '[{"season":1,"title":"S1","episodes":[]}]', '[]', 'null');
        INSERT INTO thumbnails (media_id, url, width, data) VALUES (1, '/t/1.jpg', 300, x'89504e470001'), (2, '/t/2.jpg', NULL, NULL);
        DELETE FROM thumbnails WHERE id = 2;
        INSERT INTO thumbnails (media_id, url, width, data) VALUES (2, '/t/2.jpg', NULL, NULL), (5, '/t/5.jpg', 300, x'ff'), (5, '/t/gone.jpg', 1, NULL);
        DELETE FROM thumbnails WHERE url = '/t/gone.jpg';
        INSERT INTO tautulli_snapshots VALUES
          ('s1', '2025-10-20', '{"plays":12,"users":["a","b"]}'),
          ('s2', '2025-10-21', '{"plays": 3, "users": []}'),
          ('s3', '2025-10-22', 'null'),
          ('s4', '2025-10-23', NULL);
        "#,
    )
    .unwrap();
}

const TABLES: [&str; 3] = ["media_metadata", "thumbnails", "tautulli_snapshots"];

/// The project file for the legacy database (seasons → episodes and cast as child tables, the
/// snapshot's payload as JSON), with `head` before the collections.
fn legacy_toml(head: &str, tables: bool) -> String {
    let table = |name: &str| {
        if tables {
            format!("table = \"{name}\"\n")
        } else {
            String::new()
        }
    };
    format!(
        r#"{head}
[collections.media]
source = "legacy.db"
format = "sqlite"
source_table = "media_metadata"
{}key = "id"

[collections.media.fields]
id = "integer"
plex_key = {{ type = "text", required = true, unique = true }}
title = {{ type = "text", required = true }}
rating = "real"

[collections.media.fields.seasons]
type = "array"
table = "seasons"

[collections.media.fields.seasons.fields]
season = "integer"
title = "text"

[collections.media.fields.seasons.fields.episodes]
type = "array"
table = "episodes"

[collections.media.fields.seasons.fields.episodes.fields]
episode = "integer"
title = "text"
runtime = "integer"

[collections.media.fields.cast]
type = "array"
table = "media_cast"

[collections.media.fields.cast.fields]
name = "text"
role = "text"

[collections.thumbnails]
source = "legacy.db"
source_table = "thumbnails"
{}key = "id"

[collections.thumbnails.fields]
id = "integer"
media_id = {{ type = "integer", references = "media" }}

[collections.snapshots]
source = "legacy.db"
format = "sqlite"
source_table = "tautulli_snapshots"
key = "snapshot_id"

[collections.snapshots.fields]
snapshot_id = "text"
payload = "json"
"#,
        table("media_items"),
        table("media_thumbnails"),
    )
}

/// A project over the legacy database whose database is `db` (`head` goes first in the
/// project file; `tables`: the collections' own table names differ from the legacy ones).
/// A new database (not the legacy file itself) is on the backend of this run.
fn legacy_project(db: &str, head: &str, tables: bool) -> Project {
    let mut p = Project::new(&legacy_toml(
        &format!("database = \"{db}\"\n{head}"),
        tables,
    ));
    p.db_rel = db.into();
    legacy_db(&p.path("legacy.db"));
    if db == "legacy.db" {
        p
    } else {
        p.on_test_backend()
    }
}

/// Every row of `table` with its rowid, each cell with its storage class.
fn table_rows(db: &Connection, table: &str) -> Vec<Vec<String>> {
    let cols: Vec<String> = {
        let mut st = db
            .prepare(&format!("SELECT name FROM pragma_table_info('{table}')"))
            .unwrap();
        st.query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    };
    assert!(!cols.is_empty(), "no table {table}");
    let list: Vec<String> = cols
        .iter()
        .map(|c| format!("typeof(\"{c}\") || ':' || coalesce(quote(\"{c}\"), '')"))
        .collect();
    let sql = format!(
        "SELECT rowid || '', {} FROM \"{table}\" ORDER BY rowid",
        list.join(", ")
    );
    q(db, &sql)
}

fn schema_sql(db: &Connection, table: &str) -> Vec<Vec<String>> {
    q(
        db,
        &format!(
            "SELECT type, name, sql FROM sqlite_schema WHERE tbl_name = '{table}' ORDER BY name"
        ),
    )
}

/// Every legacy table of `a` and `b` alike: definitions, indexes, rows, cells and their types.
fn assert_same_tables(a: &Path, b: &Path) {
    let (a, b) = (open_db(a), open_db(b));
    for t in TABLES {
        assert_eq!(schema_sql(&a, t), schema_sql(&b, t), "definition of {t}");
        let rows = table_rows(&a, t);
        assert!(!rows.is_empty(), "{t} has rows");
        assert_eq!(rows, table_rows(&b, t), "rows of {t}");
    }
    // AUTOINCREMENT goes on where it was (the deleted last row's id is not handed out again).
    let seq = "SELECT name, seq FROM sqlite_sequence WHERE name IN ('media_metadata', 'thumbnails', 'tautulli_snapshots') ORDER BY name";
    assert_eq!(q(&a, seq), q(&b, seq));
    assert_eq!(q(&a, seq), rows(&[&["thumbnails", "5"]]));
}

fn file_sha(p: &Path) -> String {
    sha256_hex(&std::fs::read(p).unwrap())
}

/// The files beside the legacy database: no journal, WAL or SHM was made by reading it.
fn beside(p: &Project) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(&p.root)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("legacy.db"))
        .collect();
    v.sort();
    v
}

#[test]
fn a_legacy_database_is_migrated_verified_and_exported_back_exactly() {
    let p = legacy_project("media.db", "", false);
    let sha = file_sha(&p.path("legacy.db"));
    p.migrate_ok()
        .stdout_has("migrate: migrated")
        .stdout_has("seasons 3, episodes 3, media_cast 3");
    // Nested arrays in JSON text became child tables, as from JSON files.
    assert_eq!(
        p.rows(
            "SELECT m.title, s.title, e.title FROM media m JOIN seasons s ON s._parent = m.id JOIN episodes e ON e._parent = s._id ORDER BY m.id, s._pos, e._pos"
        ),
        rows(&[
            &["Dark", "Staffel 1", "Geheimnisse"],
            &["Dark", "Staffel 1", "Lügen"],
            &["Dark", "Staffel 2", "Anfänge und Enden"],
        ])
    );
    assert_eq!(p.sql1("SELECT count(*) FROM thumbnails"), "3");
    p.jl(&["migrate"]).ok().stdout_has("already migrated");
    p.jl(&["verify"])
        .ok()
        .stdout_has("database matches the sources");
    let out = p.export();
    assert_same_tables(&p.path("legacy.db"), &out.join("legacy.db"));
    // Read, never written.
    assert_eq!(file_sha(&p.path("legacy.db")), sha);
    assert_eq!(beside(&p), ["legacy.db"]);
    // A changed legacy database is seen.
    Connection::open(p.path("legacy.db"))
        .unwrap()
        .execute("UPDATE thumbnails SET width = 301 WHERE id = 4", [])
        .unwrap();
    p.jl(&["migrate"])
        .failed()
        .stderr_has("legacy.db (its content changed since it was migrated");
}

#[test]
fn an_api_edit_goes_back_into_the_legacy_tables() {
    let p = legacy_project("media.db", "", false);
    p.migrate_ok();
    let s = Server::start(&p, &[], &[]);
    let r = call(
        "PATCH",
        &s.url("/api/media/2"),
        None,
        Some(r#"{"cast":[{"name":"Jürgen Prochnow","role":"Der Alte"}]}"#),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    drop(s);
    let out = p.export();
    let (a, b) = (
        open_db(&p.path("legacy.db")),
        open_db(&out.join("legacy.db")),
    );
    assert_eq!(
        q1(&b, "SELECT \"cast\" FROM media_metadata WHERE id = 2"),
        r#"[{"name":"Jürgen Prochnow","role":"Der Alte"}]"#
    );
    // Everything else as it was.
    let others = |db: &Connection| {
        q(
            db,
            "SELECT id, title, seasons, \"cast\", typeof(rating), rating FROM media_metadata WHERE id <> 2 ORDER BY id",
        )
    };
    assert_eq!(others(&a), others(&b));
    for t in ["thumbnails", "tautulli_snapshots"] {
        assert_eq!(table_rows(&a, t), table_rows(&b, t), "{t}");
    }
}

#[test]
fn init_and_infer_read_the_legacy_tables() {
    let p = Project::empty();
    legacy_db(&p.path("legacy.db"));
    // A declared foreign key, beside the undeclared media_id of thumbnails.
    Connection::open(p.path("legacy.db"))
        .unwrap()
        .execute_batch(
            "CREATE TABLE hero_pools (id INTEGER PRIMARY KEY, media INTEGER REFERENCES media_metadata(id), kind TEXT);
             INSERT INTO hero_pools VALUES (1, 5, 'new'), (2, 1, 'top');
             CREATE TABLE genres (slug TEXT NOT NULL UNIQUE, label TEXT);
             INSERT INTO genres VALUES ('krimi', 'Krimi'), ('scifi', 'Science-Fiction');",
        )
        .unwrap();
    let sha = file_sha(&p.path("legacy.db"));
    let root = p.root.display().to_string();
    p.jl_raw(&p.cwd, &["init".into(), root.clone()]).ok();
    let toml = String::from_utf8(p.read("jsonlift.toml")).unwrap();
    let p = p.on_test_backend();
    for want in [
        "[collections.media_metadata]\nsource = \"legacy.db\"\nformat = \"sqlite\"\nsource_table = \"media_metadata\"",
        "key \"id\": the table's primary key",
        // A unique index.
        "plex_key = { type = \"text\", required = true, unique = true }",
        // JSON text detected and parsed: a child table, and one inside it.
        "[collections.media_metadata.fields.seasons]\ntype = \"array\"\ntable = \"seasons\"",
        "[collections.media_metadata.fields.seasons.fields.episodes]",
        // A declared foreign key.
        "a foreign key to table media_metadata in the database",
        // And thumbnails.media_id, declared nowhere, found by its values (seed 002).
        "all 3 distinct values are keys of media_metadata.id (no collection is named media; the values match media_metadata, which shares the word \"media\", and no other collection) → foreign key, indexed\nmedia_id = { type = \"integer\", required = true, references = \"media_metadata\" }",
        "key = \"snapshot_id\"",
        // No primary key: a unique column never null is the key.
        "# key \"slug\": a unique index in the database, never null\nkey = \"slug\"",
    ] {
        assert!(toml.contains(want), "missing {want:?} in\n{toml}");
    }
    let printed = p.jl_raw(
        &p.cwd,
        &["infer".into(), p.path("legacy.db").display().to_string()],
    );
    printed.ok().stdout_has("source_table = \"thumbnails\"");
    // The inferred file migrates and gives the tables back.
    p.jl(&["migrate"]).ok();
    p.jl(&["verify"]).ok();
    let out = p.export();
    assert_same_tables(&p.path("legacy.db"), &out.join("legacy.db"));
    assert_eq!(file_sha(&p.path("legacy.db")), sha);
}

#[test]
fn the_legacy_file_is_only_read_even_when_it_cannot_be_written() {
    use std::os::unix::fs::PermissionsExt;
    let p = legacy_project("media.db", "", false);
    let path = p.path("legacy.db");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o444)).unwrap();
    let sha = file_sha(&path);
    let mtime = std::fs::metadata(&path).unwrap().modified().unwrap();
    p.jl(&["check"]).ok();
    p.migrate_ok();
    p.jl(&["verify"]).ok();
    p.export();
    assert_eq!(file_sha(&path), sha);
    assert_eq!(std::fs::metadata(&path).unwrap().modified().unwrap(), mtime);
    assert_eq!(beside(&p), ["legacy.db"]);
    // The backup holds a copy with the same tables.
    let copy = p.backups()[0].join("files/legacy.db");
    assert_same_tables(&path, &copy);
}

#[test]
fn bad_json_text_is_named_by_table_row_column_and_place_and_nothing_is_written() {
    let p = legacy_project("media.db", "", false);
    Connection::open(p.path("legacy.db"))
        .unwrap()
        .execute_batch(
            "UPDATE media_metadata SET seasons = '[{\"season\":1,\n \"episodes\":[{\"episode\":1,}]}]' WHERE id = 5;
             UPDATE media_metadata SET \"cast\" = '[{\"name\":\"A\",\"role\":7}]' WHERE id = 2;",
        )
        .unwrap();
    let sha = file_sha(&p.path("legacy.db"));
    let r = p.jl(&["migrate"]);
    r.failed()
        .stderr_has("legacy.db: table media_metadata, rowid 5, column seasons:2:26: $[0].episodes[0]: the column's text is not valid JSON: trailing comma before '}'")
        .stderr_has("legacy.db: table media_metadata, rowid 2, column cast:1:21: $[0].role: expected text, found number 7");
    assert!(!p.db_exists());
    p.assert_no_backups();
    assert_eq!(file_sha(&p.path("legacy.db")), sha);
    p.jl(&["check"])
        .failed()
        .stderr_has("rowid 5, column seasons:2:26");
}

#[test]
fn migrating_into_the_legacy_file_keeps_its_tables_or_drops_them_when_asked() {
    if sqlite_only(
        "migrating_into_the_legacy_file_keeps_its_tables_or_drops_them_when_asked",
        "the database migrated into is the legacy SQLite file itself",
    ) {
        return;
    }
    // The collections' tables may not take the legacy tables' names.
    let p = legacy_project("legacy.db", "", false);
    let original = p.outside("original.db");
    std::fs::copy(p.path("legacy.db"), &original).unwrap();
    p.jl(&["migrate"]).code(1).stderr_has(
        "collections.thumbnails: its table thumbnails would replace the legacy table thumbnails of legacy.db, the database migrated into; give the collection's table another name",
    );
    assert_same_tables(&original, &p.path("legacy.db"));
    p.assert_no_backups();

    // New tables beside the old ones, as seed 002 did.
    p.write(
        "jsonlift.toml",
        legacy_toml("database = \"legacy.db\"", true),
    );
    p.jl(&["migrate"]).ok().stdout_has("migrate: migrated");
    assert_same_tables(&original, &p.path("legacy.db"));
    assert_eq!(q1(&p.db(), "SELECT count(*) FROM media_items"), "3");
    p.jl(&["migrate"]).ok().stdout_has("already migrated");
    p.jl(&["verify"]).ok();

    // drop_source_tables: gone after the verified migration, kept in the sources' backup.
    let q2 = legacy_project("legacy.db", "drop_source_tables = true", true);
    q2.jl(&["migrate"]).ok().stdout_has("migrate: migrated");
    let tables = q(
        &q2.db(),
        "SELECT name FROM sqlite_schema WHERE type = 'table' AND name IN ('media_metadata', 'thumbnails', 'tautulli_snapshots')",
    );
    assert!(tables.is_empty(), "{tables:?}");
    assert_eq!(q1(&q2.db(), "SELECT count(*) FROM media_items"), "3");
    let copy = q2.backups()[0].join("files/legacy.db");
    assert_same_tables(&original, &copy);
    q2.jl(&["migrate"]).ok().stdout_has("already migrated");
    let out = q2.export();
    assert_same_tables(&original, &out.join("legacy.db"));
}

#[test]
fn drop_source_tables_never_drops_from_another_database() {
    let q3 = legacy_project("media.db", "drop_source_tables = true", false);
    let sha = file_sha(&q3.path("legacy.db"));
    q3.jl(&["migrate"])
        .code(1)
        .stderr_has("drop_source_tables = true drops the legacy tables from the database migrated into, and legacy.db is another file");
    assert!(!q3.db_exists());
    assert_eq!(file_sha(&q3.path("legacy.db")), sha);
}

#[test]
fn a_collection_without_a_source_is_served_audited_backed_up_and_exported_with_all() {
    let mut p = Project::new(&format!(
        "{}\n[collections.users]\nkey = \"id\"\n\n[collections.users.fields]\nid = \"integer\"\nemail = {{ type = \"text\", required = true, unique = true }}\n",
        legacy_toml("database = \"media.db\"", false)
    ));
    p.db_rel = "media.db".into();
    legacy_db(&p.path("legacy.db"));
    let p = p.on_test_backend();
    p.migrate_ok().stdout_has("(no source: users)");
    assert_eq!(p.sql1("SELECT count(*) FROM users"), "0");
    p.jl(&["migrate"]).ok().stdout_has("already migrated");
    let s = Server::start(&p, &[], &[]);
    let r = call(
        "POST",
        &s.url("/api/users"),
        None,
        Some(r#"{"id":1,"email":"ann@example.org","name":"Ann"}"#),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    // Validated like any other.
    let r = call("POST", &s.url("/api/users"), None, Some(r#"{"id":2}"#));
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(
        r.body.contains("missing required field \\\"email\\\""),
        "{}",
        r.body
    );
    let r = call("GET", &s.url("/api/users"), None, None);
    assert_eq!(
        parse_json(r.body.as_bytes()),
        parse_json(br#"[{"id":1,"email":"ann@example.org","name":"Ann"}]"#)
    );
    let audit = call("GET", &s.url("/_admin/audit?collection=users"), None, None);
    assert!(
        audit.body.contains("\"collection\": \"users\"") && audit.body.contains("ann@example.org"),
        "{}",
        audit.body
    );
    drop(s);
    // A second migrate leaves it alone (nothing to reload it from).
    p.jl(&["migrate"]).ok().stdout_has("already migrated");
    assert_eq!(p.sql1("SELECT email FROM users"), "ann@example.org");
    p.jl(&["verify"]).ok();
    // Backed up with the database.
    p.jl(&["backup"]).ok();
    if p.sqlite_checks(
        "a_collection_without_a_source",
        "the rows of the SQLite backup file",
    )
    .is_some()
    {
        let backup = list_files(&p.root.join(".jsonlift/backups/db"))
            .into_iter()
            .find(|f| f.ends_with(".db"))
            .expect("a database backup");
        let b = open_db(&p.root.join(".jsonlift/backups/db").join(backup));
        assert_eq!(q1(&b, "SELECT email FROM users"), "ann@example.org");
    }
    // export skips it; --all writes it as an array named after the collection.
    let out = p.export();
    assert!(!out.join("users.json").exists());
    let all = p.outside("all");
    p.jl(&["export", "--out", &all.display().to_string(), "--all"])
        .ok();
    assert_eq!(
        String::from_utf8(std::fs::read(all.join("users.json")).unwrap()).unwrap(),
        "[\n  {\n    \"id\": 1,\n    \"email\": \"ann@example.org\",\n    \"name\": \"Ann\"\n  }\n]\n"
    );
    assert_same_tables(&p.path("legacy.db"), &all.join("legacy.db"));
}

#[test]
fn a_legacy_database_migrates_into_postgres() {
    let Some(url) = crate::postgres::server("a_legacy_database_migrates_into_postgres") else {
        return;
    };
    let pg = crate::postgres::PgSchema::new(&url);
    let p = Project::new(&format!(
        "{}\n[collections.users]\nkey = \"id\"\n[collections.users.fields]\nid = \"integer\"\n",
        legacy_toml(&pg.toml(), false)
    ));
    legacy_db(&p.path("legacy.db"));
    let sha = file_sha(&p.path("legacy.db"));
    p.jl(&["migrate"])
        .ok()
        .stdout_has("migrate: migrated")
        .stdout_has("seasons 3, episodes 3, media_cast 3");
    assert_eq!(
        pg.q1("SELECT string_agg(e.title, ',' ORDER BY s._pos, e._pos) FROM episodes e JOIN seasons s ON e._parent = s._id"),
        "Geheimnisse,Lügen,Anfänge und Enden"
    );
    p.jl(&["migrate"]).ok().stdout_has("already migrated");
    p.jl(&["verify"]).ok();
    let s = Server::start(&p, &[], &[]);
    let r = call("POST", &s.url("/api/users"), None, Some(r#"{"id":7}"#));
    assert_eq!(r.status, 201, "{}", r.body);
    drop(s);
    let all = p.outside("all");
    p.jl(&["export", "--out", &all.display().to_string(), "--all"])
        .ok();
    assert_same_tables(&p.path("legacy.db"), &all.join("legacy.db"));
    assert_eq!(
        std::fs::read(all.join("users.json")).unwrap(),
        b"[\n  {\n    \"id\": 7\n  }\n]\n"
    );
    assert_eq!(file_sha(&p.path("legacy.db")), sha);
}

#[test]
fn a_query_reads_a_collection_and_export_writes_it_as_a_table() {
    let mut p = Project::new(
        r#"database = "media.db"

[collections.shows]
source = "legacy.db"
format = "sqlite"
query = "SELECT id, title, seasons FROM media_metadata WHERE type = 'show' ORDER BY id"
key = "id"

[collections.shows.fields]
id = "integer"

[collections.shows.fields.seasons]
type = "array"
table = "seasons"

[collections.shows.fields.seasons.fields]
season = "integer"
"#,
    );
    p.db_rel = "media.db".into();
    legacy_db(&p.path("legacy.db"));
    let p = p.on_test_backend();
    p.migrate_ok().stdout_has("seasons 3");
    assert_eq!(
        p.rows(if on_postgres() {
            "SELECT id, _extra->>'title' FROM shows ORDER BY id"
        } else {
            "SELECT id, json_extract(_extra, '$.title') FROM shows ORDER BY id"
        }),
        rows(&[&["1", "Dark"], &["5", "Babylon Berlin"]])
    );
    p.jl(&["migrate"]).ok().stdout_has("already migrated");
    p.jl(&["verify"]).ok();
    let out = p.export();
    let (a, b) = (
        open_db(&p.path("legacy.db")),
        open_db(&out.join("legacy.db")),
    );
    assert_eq!(
        q(
            &a,
            "SELECT id, title, seasons FROM media_metadata WHERE type = 'show' ORDER BY id"
        ),
        q(&b, "SELECT id, title, seasons FROM shows ORDER BY rowid")
    );
    // Neither `source_table` nor `query`, or both: said so.
    p.write_toml("[collections.x]\nsource = \"legacy.db\"\nformat = \"sqlite\"\n");
    p.jl(&["check"])
        .code(2)
        .stderr_has("collections.x: a SQLite source needs `source_table = \"TABLE\"` or `query = \"SELECT ...\"` (one of them)");
}
