//! Backups and restores while `jsonlift serve` runs (docs/backup.md, "While serving"), through
//! the real binary and HTTP: `jsonlift restore` refused while a server holds the database, the
//! `[backups] interval` schedule, the admin routes (`/_admin/backups`, `/_admin/restore`) with
//! their auth and errors, requests answered 503 during a restore, a restore refused while
//! another server holds the database, point-in-time recovery of a scripted sequence of HTTP
//! writes, and a backup taken during concurrent HTTP writes.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::serve::{Resp, Server, call, example};
use crate::util::*;

const TOKEN: &str = "backup-admin-token-for-tests";
const TOKENS: &str = "[serve]\ntokens = { ops = \"env:BACKUP_TEST_TOKEN\" }\n";

/// A migrated copy of examples/lernpfad: courses (modules and lessons nested in them) and the
/// `stats` document.
fn lernpfad(extra: &str) -> Project {
    let mut p = example("lernpfad", extra);
    p.db_rel = "lernpfad.db".into();
    p
}

fn start(p: &Project) -> Server {
    Server::start(p, &[], &[("BACKUP_TEST_TOKEN", TOKEN)])
}

/// A watchdog for things that happen in the background (a scheduled backup, a log line): not a
/// timing assertion, only a bound on how long a broken build can hang the test.
#[track_caller]
fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let t0 = Instant::now();
    while !done() {
        assert!(
            t0.elapsed() < Duration::from_secs(120),
            "gave up waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// An admin request; an action (POST) is a JSON request even when it asks for the defaults
/// (`{}`), as a browser cannot send one from another site without asking first (issue #18).
fn admin(s: &Server, method: &str, path: &str, body: Option<&str>) -> Resp {
    let body = body.or((method == "POST").then_some("{}"));
    call(method, &s.url(path), Some(TOKEN), body)
}

fn json(r: &Resp) -> serde_json::Value {
    serde_json::from_str(&r.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", r.body))
}

/// The error message of an error response (every one is `{"error": ...}`).
#[track_caller]
fn error_of(r: &Resp, status: u16) -> String {
    r.status(status);
    json(r)["error"]
        .as_str()
        .unwrap_or_else(|| panic!("no error message: {}", r.body))
        .to_string()
}

fn course(id: &str, title: &str, modules: &str) -> String {
    format!(
        r#"{{"id": "{id}", "title": "{title}", "category": "Test", "createdAt": "2026-01-02T03:04:05.000Z", "modules": [{modules}]}}"#
    )
}

const MODULES: &str = r#"{"id": "m1", "title": "One", "lessons": [{"id": "l1", "title": "L", "type": "text", "durationMinutes": 5}, {"id": "l2", "title": "Q", "type": "quiz", "quiz": {"q": [1, 2.50]}}]}, {"id": "m2", "title": "Two", "lessons": []}"#;

fn courses(p: &Project) -> u64 {
    p.sql1("SELECT count(*) FROM courses").parse().unwrap()
}

fn audit_position(p: &Project) -> i64 {
    p.sql1("SELECT max(id) FROM _jsonlift_audit")
        .parse()
        .unwrap()
}

/// Whether the database a restore kept aside is there: a file beside the SQLite database, a
/// schema on PostgreSQL.
fn aside_exists(p: &Project, aside: &str) -> bool {
    if crate::backend::on_postgres() {
        p.sql1(&format!(
            "SELECT count(*) FROM pg_namespace WHERE nspname = '{aside}'"
        )) == "1"
    } else {
        PathBuf::from(aside).exists()
    }
}

#[test]
fn cli_restore_is_refused_while_serve_runs_and_names_the_admin_route() {
    let p = lernpfad("");
    p.jl(&["backup"]).ok();
    let s = start(&p);
    // Taking a backup beside a running server is fine; replacing its database is not.
    p.jl(&["backup"]).ok();
    let live = p.db_state();
    p.jl(&["restore"])
        .failed()
        .stderr_has("jsonlift serve")
        .stderr_has("POST /_admin/restore")
        .stderr_has(&format!("pid {}", s.pid()));
    assert_eq!(p.db_state(), live, "a refused restore changes nothing");
    call("GET", &s.url("/api/courses"), None, None).status(200);
    assert_eq!(s.stop(), Some(0));
    p.jl(&["restore"]).ok();
}

#[test]
fn serve_takes_scheduled_backups_and_keeps_the_newest() {
    let p = lernpfad("[backups]\ninterval = \"1s\"\nkeep_last = 2\nkeep_daily = 0\n");
    let s = start(&p);
    call(
        "POST",
        &s.url("/api/courses"),
        None,
        Some(&course("sched", "Scheduled", "")),
    )
    .status(201);
    let written = audit_position(&p);
    let count = courses(&p);
    let mut seen = BTreeSet::new();
    let mut covered = false;
    wait_for("four scheduled backups, one after the write", || {
        let list = json(admin(&s, "GET", "/_admin/backups", None).status(200));
        for b in list["backups"].as_array().unwrap() {
            assert_eq!(b["reason"], "schedule", "{b}");
            seen.insert(b["name"].as_str().unwrap().to_string());
            covered |= b["audit_id"].as_i64().unwrap() >= written;
        }
        seen.len() >= 4 && covered
    });
    assert_eq!(s.stop(), Some(0));
    // Retention ran after each: the two newest are kept, the older ones are gone.
    let r = p.jl(&["backups", "--verify", "--json"]);
    r.ok();
    let kept: Vec<String> = r.json()["backups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            assert_eq!(b["verified"], true, "{b}");
            b["name"].as_str().unwrap().to_string()
        })
        .collect();
    assert_eq!(kept.len(), 2, "{kept:?}");
    let newest_seen: Vec<&String> = seen.iter().rev().take(2).collect();
    assert!(
        kept.iter().all(|k| k >= newest_seen[1]),
        "kept {kept:?}, seen {seen:?}"
    );
    let last = r.json()["backups"][1].clone();
    assert!(last["audit_id"].as_i64().unwrap() >= written);
    assert_eq!(
        last["counts"]["courses"], count,
        "the write is in the backup"
    );
}

#[test]
fn admin_backup_routes_need_the_token_and_take_list_and_restore() {
    let p = lernpfad(TOKENS);
    let s = start(&p);
    for (method, path) in [
        ("GET", "/_admin/backups"),
        ("POST", "/_admin/backups"),
        ("POST", "/_admin/restore"),
    ] {
        let r = call(method, &s.url(path), None, None);
        assert!(error_of(&r, 401).contains("Authorization"), "{}", r.body);
        let r = call(method, &s.url(path), Some("not-the-token-at-all"), None);
        assert!(error_of(&r, 401).contains("not valid"), "{}", r.body);
    }
    let empty = json(admin(&s, "GET", "/_admin/backups", None).status(200));
    assert_eq!(empty["backups"], serde_json::json!([]));
    let r = admin(&s, "POST", "/_admin/restore", None);
    assert!(
        error_of(&r, 422).contains("no database backups"),
        "{}",
        r.body
    );

    let before = p.db_state();
    let taken = json(admin(&s, "POST", "/_admin/backups", None).status(201));
    assert_eq!(taken["reason"], "admin");
    assert_eq!(taken["integrity"], "ok");
    assert_eq!(taken["counts"]["courses"], courses(&p));
    let name = taken["name"].as_str().unwrap().to_string();
    let list = json(admin(&s, "GET", "/_admin/backups?verify=true", None).status(200));
    assert_eq!(list["backups"][0]["name"], name.as_str());
    assert_eq!(list["backups"][0]["verified"], true);

    // Changes, then the backup restored through the running server.
    let tok = Some(TOKEN);
    call(
        "POST",
        &s.url("/api/courses"),
        tok,
        Some(&course("x", "X", MODULES)),
    )
    .status(201);
    call(
        "DELETE",
        &s.url("/api/courses/bruchrechnung-grundlagen"),
        tok,
        None,
    )
    .status(200);
    let changed = p.db_state();
    assert_ne!(changed, before);
    std::thread::sleep(Duration::from_millis(3));
    let moment = jsonlift::clock::now();
    std::thread::sleep(Duration::from_millis(3));
    call("PATCH", &s.url("/api/stats"), tok, Some(r#"{"xp": 99999}"#)).status(200);

    // Bad requests are refused before anything happens, each with a JSON error.
    for (body, status, says) in [
        (r#"{"backup": "nope"}"#, 404, "no backup named"),
        (r#"{"at": "yesterday"}"#, 400, "the request body"),
        (r#"{"at": "2999-01-01T00:00:00Z"}"#, 422, "in the future"),
        (
            r#"{"at": "2001-01-01T00:00:00Z"}"#,
            422,
            "before the first backup",
        ),
        (r#"{"when": "now"}"#, 400, "the request body"),
        (r#"{"backup": 7}"#, 400, "the request body"),
        ("[1]", 400, "the request body"),
    ] {
        let r = admin(&s, "POST", "/_admin/restore", Some(body));
        assert!(error_of(&r, status).contains(says), "{body}: {}", r.body);
    }

    let r = json(
        admin(
            &s,
            "POST",
            "/_admin/restore",
            Some(&format!(r#"{{"at": "{moment}"}}"#)),
        )
        .status(200),
    );
    assert_eq!(r["backup"], name.as_str());
    assert_eq!(r["replayed"], 2);
    assert!(aside_exists(&p, r["aside"].as_str().unwrap()), "{r}");
    assert_eq!(
        without_own_restore_entry(p.db_state()),
        changed,
        "the state at the moment"
    );
    // The backup and the restore are in the audit log with the token that asked (issue #18).
    let log = json(admin(&s, "GET", "/_admin/audit?collection=_database", None).status(200));
    let log: Vec<(String, String, String)> = log
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap().to_string(),
                e["key"].as_str().unwrap().to_string(),
                e["actor"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        log,
        [
            ("backup".to_string(), name.clone(), "ops".to_string()),
            ("restore".to_string(), name.clone(), "ops".to_string())
        ]
    );
    // The server serves the restored database and takes writes on it.
    call(
        "GET",
        &s.url("/api/courses/bruchrechnung-grundlagen"),
        None,
        None,
    )
    .status(404);
    assert_eq!(
        json(call("GET", &s.url("/api/stats"), None, None).status(200))["xp"],
        1240
    );
    let r = json(
        admin(
            &s,
            "POST",
            "/_admin/restore",
            Some(&format!(r#"{{"backup": "{name}"}}"#)),
        )
        .status(200),
    );
    assert_eq!(r["replayed"], 0);
    assert_eq!(
        without_own_restore_entry(p.db_state()),
        before,
        "the backup as it was taken"
    );
    call(
        "POST",
        &s.url("/api/courses"),
        tok,
        Some(&course("after", "After", "")),
    )
    .status(201);
    call("GET", &s.url("/api/courses/after"), None, None).status(200);
    assert_eq!(s.stop(), Some(0));

    // Serving the JSON files, there is no database to back up.
    let files = lernpfad(TOKENS);
    let s = Server::start(
        &files,
        &["--store", "json"],
        &[("BACKUP_TEST_TOKEN", TOKEN)],
    );
    for (method, path) in [("GET", "/_admin/backups"), ("POST", "/_admin/restore")] {
        let r = admin(&s, method, path, None);
        assert!(error_of(&r, 409).contains("--store json"), "{}", r.body);
    }
}

#[test]
fn admin_restore_is_refused_while_another_server_holds_the_database() {
    let p = lernpfad("");
    let a = start(&p);
    let b = start(&p);
    admin(&a, "POST", "/_admin/backups", None).status(201);
    call(
        "POST",
        &b.url("/api/courses"),
        None,
        Some(&course("b", "From B", "")),
    )
    .status(201);
    let live = p.db_state();
    let r = admin(&a, "POST", "/_admin/restore", None);
    let msg = error_of(&r, 409);
    assert!(msg.contains("other servers"), "{msg}");
    assert!(msg.contains(&format!("pid {}", b.pid())), "{msg}");
    assert!(
        !msg.contains(&format!("pid {}", a.pid())),
        "names only the others: {msg}"
    );
    assert_eq!(p.db_state(), live, "nothing changed");
    // Server A goes on serving and writing.
    call(
        "POST",
        &a.url("/api/courses"),
        None,
        Some(&course("a", "From A", "")),
    )
    .status(201);
    assert_eq!(b.stop(), Some(0));
    admin(&a, "POST", "/_admin/restore", None).status(200);
    call("GET", &a.url("/api/courses/b"), None, None).status(404);
    call("GET", &a.url("/api/courses/a"), None, None).status(404);
}

#[test]
fn requests_during_an_admin_restore_get_503_with_retry_after() {
    let p = lernpfad("");
    p.jl(&["backup"]).ok();
    let live = p.db_state();
    let s = Server::start(&p, &[], &[("JSONLIFT_TEST_PAUSE_AT", "restore:prepared")]);
    let url = s.url("/_admin/restore");
    // The restore stops at its pause (the hook sleeps); its client waits in the background.
    std::thread::spawn(move || {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        let _ = agent
            .post(&url)
            .header("Content-Type", "application/json")
            .send("{}");
    });
    wait_for("the restore to pause", || {
        s.log().contains("paused at restore:prepared")
    });
    for (method, path, body) in [
        ("GET", "/api/courses", None),
        ("GET", "/api/stats", None),
        ("POST", "/api/courses", Some(course("late", "Late", ""))),
        ("POST", "/_admin/backups", Some("{}".to_string())),
    ] {
        let r = call(method, &s.url(path), None, body.as_deref());
        assert!(error_of(&r, 503).contains("restoring"), "{}", r.body);
        assert_eq!(r.header("retry-after"), Some("1"), "{method} {path}");
    }
    let r = call("POST", &s.url("/_admin/restore"), None, Some("{}"));
    assert!(error_of(&r, 409).contains("already running"), "{}", r.body);
    // Killed mid-restore, the database is the old one (restore's own tests cover each step).
    drop(s);
    assert_eq!(p.db_state(), live);
}

/// The full state (every table, audit log included) after each step of a scripted sequence of
/// HTTP writes, with backups between; then `restore --at` each moment, latest first (a restore
/// to a moment undoes the history after it), the first ones through the running server, the
/// rest with `jsonlift restore` after it stopped.
#[test]
fn point_in_time_restore_of_http_writes_gives_the_state_at_each_moment() {
    let p = lernpfad("");
    let s = start(&p);
    admin(&s, "POST", "/_admin/backups", None).status(201);
    let mut moments: Vec<(String, Vec<String>)> = Vec::new();
    let mark = |moments: &mut Vec<(String, Vec<String>)>| {
        std::thread::sleep(Duration::from_millis(3));
        moments.push((jsonlift::clock::now(), p.db_state()));
        std::thread::sleep(Duration::from_millis(3));
    };
    let req = |method: &str, path: &str, body: Option<&str>, status: u16| {
        call(method, &s.url(path), None, body).status(status);
    };
    mark(&mut moments);
    req(
        "POST",
        "/api/courses",
        Some(&course("n1", "Nested", MODULES)),
        201,
    );
    mark(&mut moments);
    req(
        "PUT",
        "/api/courses/n1",
        Some(&course("n1", "Nested, replaced", r#"{"title": "Only"}"#)),
        200,
    );
    req(
        "PATCH",
        "/api/stats",
        Some(r#"{"xp": 1300, "streak": 13}"#),
        200,
    );
    mark(&mut moments);
    admin(&s, "POST", "/_admin/backups", None).status(201);
    req(
        "PATCH",
        "/api/courses/bruchrechnung-grundlagen",
        Some(r#"{"title": "Brüche", "estimatedHours": 4.50}"#),
        200,
    );
    req(
        "PUT",
        "/api/stats",
        Some(r#"{"xp": 5, "completedCourses": ["n1"], "badges": []}"#),
        200,
    );
    mark(&mut moments);
    req("DELETE", "/api/courses/n1", None, 200);
    req(
        "POST",
        "/api/courses/_import",
        Some(&format!(
            "[{}, {}]",
            course("i1", "Imported", MODULES),
            course("i2", "Imported too", "")
        )),
        201,
    );
    mark(&mut moments);
    admin(&s, "POST", "/_admin/backups", None).status(201);
    req("DELETE", "/api/courses/i1", None, 200);
    req(
        "POST",
        "/api/courses",
        Some(&course("last", "Last", MODULES)),
        201,
    );
    mark(&mut moments);
    let (first, rest) = moments.split_at(3);
    for (i, (at, state)) in rest.iter().enumerate().rev() {
        let r = admin(
            &s,
            "POST",
            "/_admin/restore",
            Some(&format!(r#"{{"at": "{at}"}}"#)),
        );
        r.status(200);
        assert_eq!(
            &without_own_restore_entry(p.db_state()),
            state,
            "POST /_admin/restore at moment {}",
            i + 3
        );
        call("GET", &s.url("/api/courses"), None, None).status(200);
    }
    assert_eq!(s.stop(), Some(0));
    for (i, (at, state)) in first.iter().enumerate().rev() {
        p.jl(&["restore", "--at", at]).ok();
        assert_eq!(
            &without_own_restore_entry(p.db_state()),
            state,
            "jsonlift restore --at moment {i}"
        );
    }
    p.jl(&["verify"]).ok();
}

/// Backups taken while clients keep writing: each passes integrity_check and holds exactly the
/// writes up to the audit position in its manifest (each POST is one row and one audit entry).
#[test]
fn backup_during_concurrent_http_writes_is_one_moment() {
    let p = lernpfad("");
    let s = Arc::new(start(&p));
    let (base, count) = (audit_position(&p), courses(&p));
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..2)
        .map(|w| {
            let (s, stop) = (s.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) || n < 10 {
                    let body = course(&format!("w{w}-{n}"), "Written", "");
                    call("POST", &s.url("/api/courses"), None, Some(&body)).status(201);
                    n += 1;
                }
                n
            })
        })
        .collect();
    let mut taken = Vec::new();
    for _ in 0..3 {
        taken.push(json(admin(&s, "POST", "/_admin/backups", None).status(201)));
    }
    stop.store(true, Ordering::Relaxed);
    let written: u64 = writers.into_iter().map(|w| w.join().unwrap()).sum();
    for (earlier, b) in taken.iter().enumerate() {
        let pos = b["audit_id"].as_i64().unwrap();
        // Each backup taken through the API is entered in the log after its snapshot: the
        // earlier ones' entries are in this one's range.
        let inserts = (pos - base) as u64 - earlier as u64;
        assert!(inserts <= written);
        assert_eq!(b["integrity"], "ok");
        assert_eq!(b["counts"]["courses"], count + inserts, "{b}");
        assert_eq!(b["counts"]["_jsonlift_audit"], pos as u64, "{b}");
        // The backup itself, not only its manifest, holds that moment.
        let file = PathBuf::from(b["path"].as_str().unwrap());
        if crate::backend::on_postgres() {
            assert_eq!(archive_rows(&file, "courses"), count + inserts, "{b}");
            assert_eq!(archive_rows(&file, "_jsonlift_audit"), pos as u64, "{b}");
            continue;
        }
        let db = open_db(&file);
        assert_eq!(q1(&db, "PRAGMA integrity_check"), "ok");
        assert_eq!(
            q1(&db, "SELECT count(*) FROM courses"),
            (count + inserts).to_string()
        );
        assert_eq!(
            q1(&db, "SELECT count(*) FROM _jsonlift_audit WHERE id > 0"),
            pos.to_string()
        );
    }
    p.jl(&["backups", "--verify"]).ok();
}

/// The rows of `table` in a `pg_dump` archive, read by `pg_restore` as a script (the lines of
/// its COPY block).
fn archive_rows(archive: &std::path::Path, table: &str) -> u64 {
    let out = std::process::Command::new("pg_restore")
        .args(["--data-only", "--table", table, "--file", "-"])
        .arg(archive)
        .output()
        .expect("pg_restore runs (the PostgreSQL client programs are installed with the server)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let script = String::from_utf8(out.stdout).unwrap();
    let mut lines = script.lines().skip_while(|l| !l.starts_with("COPY "));
    assert!(
        lines.next().is_some(),
        "no COPY of {table} in {}",
        archive.display()
    );
    lines.take_while(|l| *l != "\\.").count() as u64
}
