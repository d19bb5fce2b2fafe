//! PostgreSQL as the database (issue #14), against the server in `JSONLIFT_TEST_POSTGRES` (each
//! test in a schema of its own, dropped afterwards; skipped loudly without it):
//! - every example migrates into PostgreSQL, a second run has nothing to do, verify finds no
//!   difference and export gives back every source byte for byte;
//! - JSON values jsonb would rewrite (key order, `1e3`, `-0`) come back exactly;
//! - `copy` from SQLite into PostgreSQL and back, refused onto jsonlift tables without
//!   `--replace`, verified, the audit log and ledger with it;
//! - a reimport keeps the other collections; a failed migration leaves PostgreSQL as it was; a
//!   duplicate in a first migration is named at its file:line:column; a first migration into a
//!   fresh schema sends the rows to PostgreSQL alone, and what PostgreSQL's keys then refuse
//!   (or any problem) sends it back to storing them, which names every problem;
//! - `serve` on PostgreSQL: CRUD, the audit log, health and drift.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::serve::{Server, call};
use crate::util::*;

/// `JSONLIFT_TEST_POSTGRES`, or `None` after saying loudly that `test` was skipped.
pub fn server(test: &str) -> Option<String> {
    match std::env::var("JSONLIFT_TEST_POSTGRES") {
        Ok(u) if !u.is_empty() => Some(u),
        _ => {
            eprintln!(
                "\n!!!!!!!! SKIPPED {test}: JSONLIFT_TEST_POSTGRES is not set \
                 (e.g. postgres://postgres@127.0.0.1:5432/test); NOT run against PostgreSQL !!!!!!!!\n"
            );
            None
        }
    }
}

/// A schema of the test's own on the server, dropped when the test ends.
pub struct PgSchema {
    pub url: String,
    pub name: String,
}

impl PgSchema {
    pub fn new(url: &str) -> PgSchema {
        static N: AtomicUsize = AtomicUsize::new(0);
        let name = format!(
            "jl_test_{}_{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        );
        let s = PgSchema {
            url: url.to_string(),
            name,
        };
        s.sql(&format!("DROP SCHEMA IF EXISTS {} CASCADE", s.name));
        s
    }

    pub fn client(&self) -> postgres::Client {
        postgres::Client::connect(&self.url, postgres::NoTls)
            .unwrap_or_else(|e| panic!("JSONLIFT_TEST_POSTGRES={}: {e}", self.url))
    }

    pub fn sql(&self, sql: &str) {
        self.client().batch_execute(sql).unwrap();
    }

    /// The rows of a query in this schema, each column as text.
    pub fn q(&self, sql: &str) -> Vec<Vec<Option<String>>> {
        let mut c = self.client();
        c.batch_execute(&format!("SET search_path TO {}", self.name))
            .unwrap();
        c.simple_query(sql)
            .unwrap()
            .into_iter()
            .filter_map(|m| match m {
                postgres::SimpleQueryMessage::Row(r) => {
                    Some((0..r.len()).map(|i| r.get(i).map(str::to_string)).collect())
                }
                _ => None,
            })
            .collect()
    }

    pub fn q1(&self, sql: &str) -> String {
        self.q(sql)[0][0].clone().unwrap_or_default()
    }

    /// The lines a project file needs to put its database here.
    pub fn toml(&self) -> String {
        format!(
            "database = \"{}\"\npg_schema = \"{}\"\n",
            self.url, self.name
        )
    }
}

impl Drop for PgSchema {
    fn drop(&mut self) {
        if let Ok(mut c) = postgres::Client::connect(&self.url, postgres::NoTls) {
            let _ = c.batch_execute(&format!("DROP SCHEMA IF EXISTS {} CASCADE", self.name));
            // And the schemas a restore kept aside (`<name>_before_restore_<time>`).
            let aside = format!("{}_before_restore_%", self.name).replace('_', "\\_");
            if let Ok(rows) = c.query(
                "SELECT nspname::text FROM pg_namespace WHERE nspname LIKE $1",
                &[&aside],
            ) {
                for r in rows {
                    let n: String = r.get(0);
                    let _ = c.batch_execute(&format!("DROP SCHEMA IF EXISTS \"{n}\" CASCADE"));
                }
            }
        }
    }
}

/// `examples/<name>` in a temp folder, its database on PostgreSQL in a schema of its own.
pub fn example_on(pg: &PgSchema, name: &str) -> Project {
    let p = Project::empty();
    copy_tree(
        &Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("examples")
            .join(name),
        &p.root,
    );
    for e in std::fs::read_dir(&p.root).unwrap() {
        let path = e.unwrap().path();
        let n = path.file_name().unwrap().to_string_lossy().into_owned();
        if n.ends_with(".db") || n.contains(".db-") {
            std::fs::remove_file(&path).unwrap();
        } else if n == ".jsonlift" {
            std::fs::remove_dir_all(&path).unwrap();
        }
    }
    let toml = String::from_utf8(p.read("jsonlift.toml")).unwrap();
    let toml: Vec<&str> = toml
        .lines()
        .filter(|l| !l.starts_with("database ="))
        .collect();
    p.write(
        "jsonlift.toml",
        format!("{}{}\n", pg.toml(), toml.join("\n")),
    );
    p
}

const EXAMPLES: [&str; 5] = ["lernpfad", "techtree", "profiles", "personas", "jsonserver"];

#[test]
fn every_example_migrates_verifies_and_exports_byte_for_byte_on_postgres() {
    let Some(url) = server("every_example_migrates_verifies_and_exports_byte_for_byte_on_postgres")
    else {
        return;
    };
    for name in EXAMPLES {
        let pg = PgSchema::new(&url);
        let p = example_on(&pg, name);
        p.jl(&["migrate"])
            .ok()
            .stdout_has("migrate: migrated")
            .stdout_has(&format!("(schema {})", pg.name));
        p.jl(&["migrate"]).ok().stdout_has("already migrated");
        p.jl(&["verify"]).ok();
        let out = p.export();
        let config: toml::Table =
            toml::from_str(&String::from_utf8(p.read("jsonlift.toml")).unwrap()).unwrap();
        for rel in crate::examples::source_files(&p.root, &config) {
            assert_exported_identical(&p, &out, &rel);
        }
        // No SQLite file appeared, and the ledger is in PostgreSQL.
        assert!(
            !std::fs::read_dir(&p.root).unwrap().any(|e| e
                .unwrap()
                .file_name()
                .to_string_lossy()
                .ends_with(".db")),
            "{name}: a SQLite file was written"
        );
        assert_eq!(
            pg.q1("SELECT count(*) FROM _jsonlift_ledger"),
            "1",
            "{name}"
        );
    }
}

#[test]
fn postgres_types_are_its_own_and_json_that_jsonb_would_rewrite_comes_back_exactly() {
    let Some(url) = server("postgres_types_are_its_own") else {
        return;
    };
    let pg = PgSchema::new(&url);
    let p = Project::new(&format!(
        "{}\n[collections.things]\nsource = \"things.json\"\nkey = \"id\"\n\n[collections.things.fields]\nid = \"integer\"\nok = \"boolean\"\nratio = \"real\"\ndoc = \"json\"\n",
        pg.toml()
    ));
    // As `JSON.stringify(x, null, 2)` lays a file out (jsonlift keeps that layout), with number
    // spellings and key orders jsonb does not keep.
    let text = r#"[
  {
    "id": 1,
    "ok": true,
    "ratio": 0.5,
    "doc": {
      "b": 1,
      "a": 1e3,
      "z": [
        -0,
        1.50
      ]
    }
  },
  {
    "id": 2,
    "ok": false,
    "ratio": -0.0,
    "doc": {
      "a": 1,
      "bb": "x"
    }
  }
]"#;
    p.write("things.json", text);
    p.jl(&["migrate"]).ok();
    let types = pg.q(
        "SELECT column_name, data_type FROM information_schema.columns \
         WHERE table_schema = current_schema() AND table_name = 'things' ORDER BY ordinal_position",
    );
    let types: Vec<String> = types
        .iter()
        .map(|r| format!("{}:{}", r[0].clone().unwrap(), r[1].clone().unwrap()))
        .collect();
    for want in [
        "id:bigint",
        "ok:boolean",
        "ratio:double precision",
        "doc:jsonb",
    ] {
        assert!(types.contains(&want.to_string()), "{types:?}");
    }
    // jsonb holds the value (its own key order and number spelling) for queries ...
    assert_eq!(pg.q1("SELECT doc->>'a' FROM things WHERE id = 1"), "1000");
    // ... and the exact text where jsonb would change it, only there.
    assert_eq!(
        pg.q1("SELECT count(*) FROM things WHERE _exact IS NOT NULL"),
        "1"
    );
    p.jl(&["verify"]).ok();
    let out = p.export();
    assert_exported_identical(&p, &out, "things.json");
    // An app that rewrites the column with the same value changes nothing; with another value,
    // its value is what jsonlift reads, though `_exact` still holds the old text.
    pg.sql(&format!(
        "UPDATE {}.things SET doc = doc || '{{}}'::jsonb",
        pg.name
    ));
    p.jl(&["verify"]).ok();
    pg.sql(&format!(
        "UPDATE {}.things SET doc = '{{\"new\": true}}' WHERE id = 1",
        pg.name
    ));
    let out = p.export();
    let back: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("things.json")).unwrap()).unwrap();
    assert_eq!(back[0]["doc"], serde_json::json!({"new": true}));
}

#[test]
fn copy_into_postgres_and_back_keeps_every_row_the_audit_log_and_the_ledger() {
    let Some(url) = server("copy_into_postgres_and_back") else {
        return;
    };
    let p = crate::serve::example("techtree", "");
    // An edit through the API, so the audit log has more than the migration's entries.
    {
        let s = Server::start(&p, &[], &[]);
        call(
            "PATCH",
            &s.url("/api/users/21636369-8b52-4b4a-97b7-50923ceb3ffd"),
            None,
            Some(r#"{"name": "Edited"}"#),
        )
        .status(200);
    }
    let pg = PgSchema::new(&url);
    let to = format!("--to={url}");
    let schema = format!("--to-schema={}", pg.name);
    let r = p.jl(&["copy", &to, &schema]);
    r.ok().stdout_has("every row verified");
    let sqlite_rows = |db: &Path| -> Vec<String> {
        dump_db(db)
            .into_iter()
            // The search index is derived from the rows: a copy into SQLite leaves it to
            // `serve` to build (docs/config.md).
            .filter(|l| {
                l.starts_with("row ")
                    && !l.starts_with("row _jsonlift_ledger")
                    && !l.starts_with("row _jsonlift_search_")
            })
            .collect()
    };
    let before = sqlite_rows(&p.path("techtree.db"));
    let audit = q1(
        &open_db(&p.path("techtree.db")),
        "SELECT count(*) FROM _jsonlift_audit",
    );
    assert_eq!(pg.q1("SELECT count(*) FROM _jsonlift_audit"), audit);
    assert_eq!(
        pg.q1("SELECT action FROM _jsonlift_ledger ORDER BY id DESC LIMIT 1"),
        "copy"
    );
    // A second copy onto jsonlift tables is refused, and changes nothing.
    p.jl(&["copy", &to, &schema])
        .failed()
        .stderr_has("already holds jsonlift tables")
        .stderr_has("--replace");
    p.jl(&["copy", &to, &schema, "--replace"]).ok();
    // And back: the PostgreSQL database (as the project's, with --database) into a new file.
    let back = p.outside("back.db");
    let pgp = Project::empty();
    copy_tree(&p.root, &pgp.root);
    pgp.write(
        "jsonlift.toml",
        format!(
            "{}{}",
            pg.toml(),
            String::from_utf8(p.read("jsonlift.toml"))
                .unwrap()
                .lines()
                .filter(|l| !l.starts_with("database ="))
                .collect::<Vec<_>>()
                .join("\n")
        ),
    );
    pgp.jl(&["copy", &format!("--to={}", back.display())])
        .ok()
        .stdout_has("every row verified");
    assert_eq!(sqlite_rows(&back), before, "the round trip changed rows");
    // The copy is a database jsonlift reads like its own.
    pgp.jl(&["verify", &format!("--database={}", back.display())])
        .code_in(&[0, 1]);
}

#[test]
fn a_failed_migration_leaves_postgres_as_it_was_and_a_reimport_keeps_the_other_collections() {
    let Some(url) = server("a_failed_migration_leaves_postgres_as_it_was") else {
        return;
    };
    let pg = PgSchema::new(&url);
    let p = example_on(&pg, "lernpfad");
    // A first migration loads PostgreSQL as its scratch database takes the rows: a duplicate
    // is still named at its place in the file, and no table is left behind.
    let good = String::from_utf8(p.read("data/courses.json")).unwrap();
    p.write(
        "data/courses.json",
        good.replacen(
            "\"chinesisch-a1-schriftzeichen\"",
            "\"bruchrechnung-grundlagen\"",
            1,
        ),
    );
    p.jl(&["migrate"])
        .failed()
        .stderr_has("data/courses.json:84:3: $[1]: duplicate id")
        .stderr_has("bruchrechnung-grundlagen");
    let tables = format!(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = '{}'",
        pg.name
    );
    assert_eq!(pg.q1(&tables), "0");
    p.write("data/courses.json", &good);
    p.jl(&["migrate", "-q"]).ok();
    let snapshot = || pg.q("SELECT id, title FROM courses ORDER BY id");
    let stats = || pg.q1("SELECT xp FROM stats");
    let (courses, xp) = (snapshot(), stats());
    // A broken source: refused with its place, nothing written.
    p.write("data/courses.json", b"[{\"id\": \"x\", ");
    p.jl(&["migrate", "--reimport"])
        .failed()
        .stderr_has("data/courses.json");
    assert_eq!(snapshot(), courses);
    assert_eq!(pg.q1("SELECT count(*) FROM _jsonlift_ledger"), "1");
    // A reimport of courses alone: stats keeps what it has (an edit made in the database).
    p.write("data/courses.json", &good);
    pg.sql(&format!("UPDATE {}.stats SET xp = 4242", pg.name));
    let text = good.replacen("\"title\": \"", "\"title\": \"New ", 1);
    p.write("data/courses.json", text);
    p.jl(&["migrate"]).failed().stderr_has("--reimport");
    p.jl(&["migrate", "--reimport"]).ok().stdout_has("migrated");
    assert_ne!(snapshot(), courses);
    assert_eq!(stats(), "4242");
    assert_ne!(xp, "4242");
    assert_eq!(
        pg.q1("SELECT action FROM _jsonlift_ledger ORDER BY id DESC LIMIT 1"),
        "reimport"
    );
    p.jl(&["verify", "-q"])
        .failed()
        .stderr_has("data/stats.json");
}

#[test]
fn serve_on_postgres_reads_writes_audits_and_reports_drift() {
    let Some(url) = server("serve_on_postgres") else {
        return;
    };
    let pg = PgSchema::new(&url);
    let p = example_on(&pg, "jsonserver");
    p.jl(&["migrate", "-q"]).ok();
    let s = Server::start(&p, &[], &[]);
    let posts = call("GET", &s.url("/api/posts"), None, None);
    posts.status(200);
    let r = call(
        "POST",
        &s.url("/api/posts"),
        None,
        Some(r#"{"title": "on postgres", "views": 7}"#),
    );
    r.status(201);
    let created: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    let id = created["id"].to_string();
    call(
        "PATCH",
        &s.url(&format!("/api/posts/{id}")),
        None,
        Some(r#"{"views": 8}"#),
    )
    .status(200);
    let got = call("GET", &s.url(&format!("/api/posts/{id}")), None, None);
    got.status(200);
    let got: serde_json::Value = serde_json::from_str(&got.body).unwrap();
    assert_eq!(got["views"], 8);
    assert_eq!(got["title"], "on postgres");
    let list = call(
        "GET",
        &s.url("/api/posts?views_gte=8&_sort=views"),
        None,
        None,
    );
    list.status(200);
    assert!(list.body.contains("on postgres"), "{}", list.body);
    call("DELETE", &s.url(&format!("/api/posts/{id}")), None, None).status(200);
    call("GET", &s.url(&format!("/api/posts/{id}")), None, None).status(404);
    // Every write is in the audit log, in PostgreSQL.
    assert_eq!(
        pg.q1("SELECT string_agg(action, ',' ORDER BY id) FROM _jsonlift_audit WHERE collection = 'posts'"),
        "migrate,insert,update,delete"
    );
    let h = call("GET", &s.url("/_admin/health"), None, None);
    h.status(200);
    assert!(h.body.contains("\"schema\": \"ok\""), "{}", h.body);
    // A column dropped behind the server's back is drift.
    pg.sql(&format!("ALTER TABLE {}.posts DROP COLUMN views", pg.name));
    let h = call("GET", &s.url("/_admin/health"), None, None);
    h.status(503);
    assert!(h.body.contains("\"drift\""), "{}", h.body);
    drop(s);
    p.jl(&["verify"]).failed().stderr_has("views");
}

/// `jsonlift <args>` on `p`, SIGKILLed once it says it paused at `step`.
fn killed_at(p: &Project, step: &str, args: &[&str]) {
    use std::io::{BufRead, BufReader};
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_jsonlift"));
    cmd.arg(args[0])
        .arg("-c")
        .arg(p.config())
        .args(&args[1..])
        .env("JSONLIFT_TEST_PAUSE_AT", step)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let err = BufReader::new(child.stderr.take().unwrap());
    let mut seen = String::new();
    for line in err.lines() {
        let line = line.unwrap();
        seen.push_str(&line);
        seen.push('\n');
        if line.contains("paused at") {
            break;
        }
    }
    assert!(
        seen.contains(&format!("paused at {step}")),
        "never paused:\n{seen}"
    );
    child.kill().unwrap();
    child.wait().unwrap();
}

/// A migration killed with everything written but not committed leaves PostgreSQL as it was,
/// holds no lock, and the next run completes: a first migration leaves no table, a reimport
/// leaves the earlier data.
#[test]
fn a_migration_killed_before_commit_leaves_postgres_as_it_was() {
    let Some(url) = server("a_migration_killed_before_commit_leaves_postgres_as_it_was") else {
        return;
    };
    let pg = PgSchema::new(&url);
    let p = example_on(&pg, "lernpfad");
    killed_at(&p, "migrate:postgres-written", &["migrate"]);
    assert_eq!(
        pg.q1(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = current_schema()"
        ),
        "0"
    );
    p.jl(&["migrate", "-q"]).ok();
    let before = pg.q("SELECT id, title FROM courses ORDER BY id");
    let text = String::from_utf8(p.read("data/courses.json"))
        .unwrap()
        .replacen("\"title\": \"", "\"title\": \"Changed ", 1);
    p.write("data/courses.json", text);
    killed_at(&p, "migrate:postgres-written", &["migrate", "--reimport"]);
    assert_eq!(pg.q("SELECT id, title FROM courses ORDER BY id"), before);
    assert_eq!(pg.q1("SELECT count(*) FROM _jsonlift_ledger"), "1");
    // The killed run's lock went with its connection: the next run is not kept waiting.
    p.jl(&["migrate", "-q", "--reimport"]).ok();
    assert_ne!(pg.q("SELECT id, title FROM courses ORDER BY id"), before);
}

/// A database of the test's own on the server, for what reaches past a schema (an event
/// trigger), dropped when the test ends.
struct PgDatabase {
    /// The server's URL with this database in it.
    url: String,
    name: String,
    admin: String,
}

impl PgDatabase {
    fn new(admin: &str) -> PgDatabase {
        let name = format!("jl_test_db_{}", std::process::id());
        let (base, query) = match admin.split_once('?') {
            Some((b, q)) => (b, format!("?{q}")),
            None => (admin, String::new()),
        };
        let (server, _) = base.rsplit_once('/').expect("a URL naming its database");
        let mut c = postgres::Client::connect(admin, postgres::NoTls).unwrap();
        // Each on its own: a batch of statements is one transaction, which these refuse.
        c.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .unwrap();
        c.batch_execute(&format!("CREATE DATABASE {name}")).unwrap();
        PgDatabase {
            url: format!("{server}/{name}{query}"),
            name,
            admin: admin.to_string(),
        }
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        if let Ok(mut c) = postgres::Client::connect(&self.admin, postgres::NoTls) {
            let _ = c.batch_execute(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ));
        }
    }
}

/// Every table named `lessons` gets, as it is made, a trigger that runs `public.jl_alter()` on
/// each row on its way in: PostgreSQL itself then stores something other than what was sent.
const ALTER_LESSONS: &str = "
CREATE FUNCTION public.jl_alter() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;
CREATE FUNCTION public.jl_hook() RETURNS event_trigger LANGUAGE plpgsql AS $$
DECLARE r record;
BEGIN
  FOR r IN SELECT * FROM pg_event_trigger_ddl_commands() WHERE command_tag = 'CREATE TABLE' LOOP
    IF r.object_identity LIKE '%.lessons' THEN
      EXECUTE format('CREATE TRIGGER jl_alter BEFORE INSERT ON %s FOR EACH ROW EXECUTE FUNCTION public.jl_alter()', r.object_identity);
    END IF;
  END LOOP;
END $$;
CREATE EVENT TRIGGER jl_hook ON ddl_command_end EXECUTE FUNCTION public.jl_hook();
";

#[test]
fn a_value_postgresql_changes_on_the_way_in_fails_verification_and_nothing_is_committed() {
    let Some(url) = server("a_value_postgresql_changes_on_the_way_in") else {
        return;
    };
    let db = PgDatabase::new(&url);
    let pg = PgSchema::new(&db.url);
    pg.sql(ALTER_LESSONS);
    let alter = |body: &str| {
        pg.sql(&format!(
            "CREATE OR REPLACE FUNCTION public.jl_alter() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN {body} RETURN NEW; END $$"
        ))
    };
    let tables = format!(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = '{}'",
        pg.name
    );
    let p = example_on(&pg, "lernpfad");
    // A first migration (the rows sent as the scratch database takes them): each kind of
    // column, a JSON one by value.
    for (column, body) in [
        ("title", "NEW.title := NEW.title || '!';"),
        (
            "duration_minutes",
            "NEW.duration_minutes := NEW.duration_minutes + 1;",
        ),
        ("completed", "NEW.completed := NOT NEW.completed;"),
        ("quiz", "NEW.quiz := NEW.quiz || '[1]';"),
    ] {
        alter(body);
        p.jl(&["migrate"])
            .failed()
            .stderr_has("verification failed: table lessons, row ")
            .stderr_has(&format!("column {column}:"))
            .stderr_has("nothing was committed");
        assert_eq!(pg.q1(&tables), "0", "{column}: tables left behind");
    }
    // A reimport (the tables written again from the scratch database).
    alter("");
    p.jl(&["migrate", "-q"]).ok();
    let titles = || pg.q("SELECT title FROM lessons ORDER BY 1");
    let before = titles();
    alter("NEW.title := NEW.title || '!';");
    let text = String::from_utf8(p.read("data/courses.json"))
        .unwrap()
        .replacen("\"title\": \"", "\"title\": \"New ", 1);
    p.write("data/courses.json", text);
    p.jl(&["migrate", "--reimport"])
        .failed()
        .stderr_has("verification failed: table lessons, row ")
        .stderr_has("column title:");
    assert_eq!(titles(), before);
    // `copy` from a SQLite database.
    let s = Project::empty();
    copy_tree(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/lernpfad"),
        &s.root,
    );
    let _ = std::fs::remove_file(s.path("lernpfad.db"));
    let _ = std::fs::remove_dir_all(s.path(".jsonlift"));
    s.jl(&["migrate", "-q"]).ok();
    let to = PgSchema::new(&db.url);
    s.jl(&[
        "copy",
        &format!("--to={}", db.url),
        &format!("--to-schema={}", to.name),
    ])
    .failed()
    .stderr_has("verification failed: table lessons, row ")
    .stderr_has("column title:");
    assert_eq!(
        to.q1(&format!(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = '{}'",
            to.name
        )),
        "0"
    );
}

/// A first migration into a fresh schema sends the rows to PostgreSQL without storing them in
/// the scratch database as well; PostgreSQL's keys and references, built after the load, then
/// catch what storing them would have, and the run starts again storing them, so every problem
/// is still named at its place, all of them together, and nothing is left behind.
#[test]
fn a_fresh_schema_is_loaded_alone_and_every_problem_still_has_its_place() {
    let Some(url) = server("a_fresh_schema_is_loaded_alone") else {
        return;
    };
    let pg = PgSchema::new(&url);
    let p = Project::empty();
    p.write(
        "jsonlift.toml",
        format!(
            "{}backup_dir = \"backups\"\n\
             [collections.authors]\nsource = \"authors.json\"\nkey = \"id\"\n\
             [collections.authors.fields]\nid = \"integer\"\nname = {{ type = \"text\", required = true }}\n\
             [collections.posts]\nsource = \"posts.json\"\nkey = \"id\"\n\
             [collections.posts.fields]\nid = \"integer\"\nauthor = {{ type = \"integer\", references = \"authors\" }}\n\
             tags = {{ type = \"array\", table = \"post_tags\", fields = {{ tag = \"text\" }} }}\n",
            pg.toml()
        ),
    );
    p.write(
        "authors.json",
        "[\n  {\"id\": 1, \"name\": \"Ada\"},\n  {\"id\": 2, \"name\": \"Grace\"}\n]\n",
    );
    let posts = |rows: &[&str]| format!("[\n  {}\n]\n", rows.join(",\n  "));
    let good = posts(&[
        r#"{"id": 10, "author": 1, "tags": [{"tag": "a"}, {"tag": "b"}]}"#,
        r#"{"id": 11, "author": 2, "tags": [{"tag": "c"}]}"#,
        r#"{"id": 12, "author": 1, "tags": []}"#,
    ]);
    let jl = |args: &[&str]| {
        let mut cmd = std::process::Command::new(BIN);
        cmd.arg(args[0])
            .arg("-c")
            .arg(p.config())
            .args(&args[1..])
            .env("JSONLIFT_LOG", "jsonlift::migrate::postgres=info");
        run_command(cmd, format!("jsonlift {}", args.join(" ")))
    };
    let again = "loading again, the rows stored on the way";
    let tables = format!(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = '{}'",
        pg.name
    );
    let snapshots = || {
        std::fs::read_dir(p.path("backups"))
            .map(|d| d.count())
            .unwrap_or(0)
    };

    // A duplicate key and a reference to no author: PostgreSQL refuses the keys it builds,
    // and the second run names both at their lines, as a run into SQLite does.
    p.write(
        "posts.json",
        posts(&[
            r#"{"id": 10, "author": 1, "tags": [{"tag": "a"}]}"#,
            r#"{"id": 11, "author": 7, "tags": []}"#,
            r#"{"id": 10, "author": 2, "tags": []}"#,
        ]),
    );
    let r = jl(&["migrate"]);
    r.failed()
        .stderr_has("posts.json:4:3: $[2]: duplicate id")
        .stderr_has(again);
    assert_eq!(pg.q1(&tables), "0", "tables left behind");
    assert_eq!(snapshots(), 0, "a snapshot of a run that failed was kept");
    p.write(
        "posts.json",
        posts(&[
            r#"{"id": 10, "author": 1, "tags": []}"#,
            r#"{"id": 11, "author": 7, "tags": []}"#,
        ]),
    );
    jl(&["migrate"])
        .failed()
        .stderr_has("posts.json:3:24: $[1].author: author = 7 points at no record of authors")
        .stderr_has(again);
    assert_eq!(pg.q1(&tables), "0", "tables left behind");

    // A problem the reading finds (a text for a number) beside one only the keys find (a
    // duplicate): both are listed in one run.
    p.write(
        "posts.json",
        posts(&[
            r#"{"id": 10, "author": "one", "tags": []}"#,
            r#"{"id": 11, "author": 2, "tags": []}"#,
            r#"{"id": 11, "author": 2, "tags": []}"#,
        ]),
    );
    jl(&["migrate"])
        .failed()
        .stderr_has("posts.json:2:24: $[0].author: expected integer")
        .stderr_has("posts.json:4:3: $[2]: duplicate id")
        .stderr_has("problems found; loading again");
    assert_eq!(pg.q1(&tables), "0", "tables left behind");
    assert_eq!(snapshots(), 0, "a snapshot of a run that failed was kept");

    // Good data: loaded alone (no second run), every row in place, in record order, verified.
    p.write("posts.json", &good);
    let r = jl(&["migrate"]);
    r.ok().stdout_has("migrated");
    assert!(!r.stderr.contains(again), "{}", r.stderr);
    assert_eq!(snapshots(), 1);
    assert_eq!(
        pg.q("SELECT p.id::text, t.tag FROM posts p JOIN post_tags t ON t._parent = p.id ORDER BY p.id, t._pos"),
        [["10", "a"], ["10", "b"], ["11", "c"]]
            .iter()
            .map(|r| r.iter().map(|c| Some(c.to_string())).collect::<Vec<_>>())
            .collect::<Vec<_>>()
    );
    p.jl(&["verify", "-q"]).ok();
    p.jl(&["migrate"]).ok().stdout_has("already migrated");
    // The keys PostgreSQL built hold for the app's writes too.
    let refused = |sql: &str| {
        let mut c = pg.client();
        c.batch_execute(&format!("SET search_path TO {}", pg.name))
            .unwrap();
        c.batch_execute(sql).is_err()
    };
    assert!(refused("INSERT INTO posts (id, author) VALUES (12, 2)"));
    assert!(refused("INSERT INTO posts (id, author) VALUES (13, 99)"));
    assert!(!refused("INSERT INTO posts (id, author) VALUES (13, 2)"));
}
