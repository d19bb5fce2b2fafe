//! Database backups on PostgreSQL (issue #14, item 5), against the server in
//! `JSONLIFT_TEST_POSTGRES` (each test in a schema of its own, dropped afterwards with the
//! schemas a restore kept aside; skipped loudly without it), driving the real binary and
//! `jsonlift serve`:
//! - backup, writes through the API, restore: `GET /db` is the backed-up state again, the
//!   previous schema is kept aside, and the restore is refused while a server uses the schema;
//! - the manifest holds the file's checksum and the audit position, read in the dump's own
//!   snapshot even while the API writes;
//! - `restore --at` between two writes gives the state at that moment;
//! - a corrupted backup (bytes flipped, or an archive cut short under a matching checksum) is
//!   refused by `backups --verify` and by `restore`, the database unchanged;
//! - without `pg_dump`/`pg_restore` on PATH, or with one older than the server: one message
//!   naming the program and how to install it, exit 2, nothing written.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::postgres::{PgSchema, example_on, server};
use crate::serve::{Server, call};
use crate::util::*;

/// The lernpfad example migrated into a schema of its own.
fn migrated(url: &str) -> (PgSchema, Project) {
    let pg = PgSchema::new(url);
    let p = example_on(&pg, "lernpfad");
    p.jl(&["migrate", "-q"]).ok();
    (pg, p)
}

/// `GET /db` of a server started for the read and stopped again.
fn db_state(p: &Project) -> String {
    let s = Server::start(p, &[], &[]);
    let r = call("GET", &s.url("/db"), None, None);
    r.status(200);
    r.body.clone()
}

/// The one backup in the folder: its archive and its manifest.
fn the_backup(p: &Project) -> (PathBuf, serde_json::Value) {
    let dir = p.path(".jsonlift/backups/db");
    let manifests: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    assert_eq!(manifests.len(), 1, "{manifests:?}");
    let m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&manifests[0]).unwrap()).unwrap();
    (dir.join(m["file"].as_str().unwrap()), m)
}

/// The test's schema and those a restore kept aside for it.
fn schemas(pg: &PgSchema) -> Vec<String> {
    pg.q(&format!(
        "SELECT nspname FROM pg_namespace WHERE nspname = '{0}' \
         OR nspname LIKE '{1}\\_before\\_restore\\_%' ORDER BY 1",
        pg.name,
        pg.name.replace('_', "\\_")
    ))
    .into_iter()
    .map(|r| r[0].clone().unwrap())
    .collect()
}

fn courses(pg: &PgSchema) -> Vec<Vec<Option<String>>> {
    pg.q("SELECT id, title FROM courses ORDER BY id")
}

const COURSE: &str = "/api/courses/bruchrechnung-grundlagen";

#[test]
fn restore_gives_back_the_backed_up_state_and_keeps_the_previous_schema_aside() {
    let Some(url) = server("restore_gives_back_the_backed_up_state_on_postgres") else {
        return;
    };
    let (pg, p) = migrated(&url);
    let s = Server::start(&p, &[], &[]);
    let before = call("GET", &s.url("/db"), None, None).body;
    // Taken while the server runs.
    let r = p.jl(&["backup"]);
    r.ok().stdout_has(".pgdump");
    let (file, m) = the_backup(&p);
    assert!(file.starts_with(p.path(".jsonlift/backups/db")));
    // The manifest: the archive's checksum and size, the audit position the dump holds.
    let bytes = std::fs::read(&file).unwrap();
    assert_eq!(m["sha256"], sha256_hex(&bytes));
    assert_eq!(m["size"], bytes.len());
    assert_eq!(m["pg_schema"], pg.name.as_str());
    assert_eq!(
        m["audit_id"].to_string(),
        pg.q1("SELECT max(id) FROM _jsonlift_audit")
    );
    assert_eq!(
        m["audit_at"].as_str().unwrap(),
        pg.q1("SELECT at FROM _jsonlift_audit ORDER BY id DESC LIMIT 1")
    );
    assert_eq!(
        m["counts"]["courses"].to_string(),
        pg.q1("SELECT count(*) FROM courses")
    );
    p.jl(&["backups", "--verify"]).ok().stdout_has("verified");

    // Writes through the API.
    call(
        "PATCH",
        &s.url(COURSE),
        None,
        Some(r#"{"title": "Edited"}"#),
    )
    .status(200);
    call(
        "DELETE",
        &s.url("/api/courses/chinesisch-a1-schriftzeichen"),
        None,
        None,
    )
    .status(200);
    let after = call("GET", &s.url("/db"), None, None).body;
    assert_ne!(after, before);
    let edited = courses(&pg);

    // Refused while the server works on the schema: nothing changes.
    p.jl(&["restore"])
        .failed()
        .stderr_has("in use by")
        .stderr_has("stop the `jsonlift serve`");
    assert_eq!(schemas(&pg), vec![pg.name.clone()]);
    assert_eq!(call("GET", &s.url("/db"), None, None).body, after);
    drop(s);

    let r = p.jl(&["restore"]);
    r.ok()
        .stdout_has(&format!("(schema {}) from backup", pg.name))
        .stdout_has("the previous schema is kept as");
    assert_eq!(
        db_state(&p),
        before,
        "the restore did not give back the backup"
    );
    p.jl(&["verify", "-q"]).ok();
    // The previous schema, with the edits, is kept aside under the name the message gives.
    let kept = schemas(&pg);
    assert_eq!(kept.len(), 2, "{kept:?}");
    let aside = &kept[1];
    assert!(aside.starts_with(&format!("{}_before_restore_", pg.name)));
    assert!(r.stdout.contains(aside.as_str()), "{}", r.stdout);
    assert_eq!(
        pg.q(&format!(
            "SELECT id, title FROM {aside}.courses ORDER BY id"
        )),
        edited
    );
    // The restored database takes writes, its audit log going on from the backup's and the
    // restore's own entry.
    let s = Server::start(&p, &[], &[]);
    call("PATCH", &s.url(COURSE), None, Some(r#"{"title": "Again"}"#)).status(200);
    assert_eq!(
        pg.q1("SELECT max(id) FROM _jsonlift_audit"),
        (m["audit_id"].as_i64().unwrap() + 2).to_string()
    );
}

#[test]
fn a_backup_taken_while_the_api_writes_is_one_snapshot() {
    let Some(url) = server("a_backup_taken_while_the_api_writes_is_one_snapshot") else {
        return;
    };
    let (pg, p) = migrated(&url);
    let s = Server::start(&p, &[], &[]);
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (stop, origin) = (stop.clone(), s.url("/api/courses"));
        std::thread::spawn(move || {
            let mut n = 0;
            while !stop.load(Ordering::SeqCst) {
                let body = format!(
                    r#"{{"id": "w{n}", "title": "written {n}", "createdAt": "2024-01-01T00:00:00Z"}}"#
                );
                let r = call("POST", &origin, None, Some(&body));
                assert!(r.status == 201, "{}", r.body);
                n += 1;
            }
            n
        })
    };
    std::thread::sleep(Duration::from_millis(300));
    p.jl(&["backup", "-q"]).ok();
    std::thread::sleep(Duration::from_millis(200));
    stop.store(true, Ordering::SeqCst);
    let written = writer.join().unwrap();
    assert!(written > 5, "the writer hardly wrote ({written})");
    drop(s);
    let (_, m) = the_backup(&p);
    p.jl(&["restore", "-q"]).ok();
    // What the archive holds is what the manifest counted, and its last audit entry is the
    // manifest's position: one snapshot.
    for (table, n) in m["counts"].as_object().unwrap() {
        // Less the entry the restore added about itself.
        let own = i64::from(table == "_jsonlift_audit");
        assert_eq!(
            pg.q1(&format!("SELECT count(*) - {own} FROM \"{table}\"")),
            n.to_string(),
            "{table}"
        );
    }
    assert_eq!(
        pg.q1("SELECT max(id) FROM _jsonlift_audit WHERE action <> 'restore'"),
        m["audit_id"].to_string()
    );
    let inserted: i64 = pg
        .q1("SELECT count(*) FROM _jsonlift_audit WHERE action = 'insert'")
        .parse()
        .unwrap();
    assert_eq!(
        pg.q1("SELECT count(*) FROM courses WHERE id LIKE 'w%'"),
        inserted.to_string()
    );
}

#[test]
fn restore_at_a_moment_between_two_writes_gives_the_state_then() {
    let Some(url) = server("restore_at_between_two_writes_on_postgres") else {
        return;
    };
    let (pg, p) = migrated(&url);
    p.jl(&["backup", "-q"]).ok();
    let s = Server::start(&p, &[], &[]);
    call("PATCH", &s.url(COURSE), None, Some(r#"{"title": "First"}"#)).status(200);
    call(
        "POST",
        &s.url("/api/courses"),
        None,
        Some(r#"{"id": "neu", "title": "Neu", "createdAt": "2024-01-01T00:00:00Z"}"#),
    )
    .status(201);
    let then = call("GET", &s.url("/db"), None, None).body;
    std::thread::sleep(Duration::from_millis(20));
    let at = jsonlift::clock::now();
    std::thread::sleep(Duration::from_millis(20));
    call(
        "PATCH",
        &s.url(COURSE),
        None,
        Some(r#"{"title": "Second"}"#),
    )
    .status(200);
    call("DELETE", &s.url("/api/courses/neu"), None, None).status(200);
    assert_ne!(call("GET", &s.url("/db"), None, None).body, then);
    drop(s);
    p.jl(&["restore", "--at", &at])
        .ok()
        .stdout_has(&format!("and 2 audit entries, to {at}"));
    assert_eq!(db_state(&p), then);
    // The replayed log is the live log up to that moment, and goes on from there.
    assert_eq!(
        pg.q1("SELECT string_agg(action || ' by ' || actor, ',' ORDER BY id) FROM _jsonlift_audit WHERE action <> 'migrate'"),
        "update by anonymous,insert by anonymous,restore by cli"
    );
    let s = Server::start(&p, &[], &[]);
    call("PATCH", &s.url(COURSE), None, Some(r#"{"title": "Third"}"#)).status(200);
    drop(s);
    assert_eq!(
        pg.q1("SELECT max(id) - count(*) FROM _jsonlift_audit"),
        "0",
        "audit ids are not contiguous"
    );
}

/// Issue #18 item 7 on PostgreSQL: write A, back up, write B, restore the backup, write C;
/// `--at` the moment after B reads the history the restore undid from the schema it kept aside,
/// and gives A and B. With `keep_last = 1` only the newest kept-aside schema stays.
#[test]
fn restore_at_reaches_history_a_later_restore_undid_on_postgres() {
    let Some(url) = server("restore_at_across_a_restore_on_postgres") else {
        return;
    };
    let (pg, p) = migrated(&url);
    let toml = String::from_utf8(p.read("jsonlift.toml")).unwrap();
    p.write(
        "jsonlift.toml",
        format!("{toml}\n[backups]\nkeep_last = 1\nkeep_daily = 0\n"),
    );
    let s = Server::start(&p, &[], &[]);
    call("PATCH", &s.url(COURSE), None, Some(r#"{"title": "A"}"#)).status(200);
    drop(s);
    p.jl(&["backup", "-q"]).ok();
    let (backup, _) = the_backup(&p);
    let s = Server::start(&p, &[], &[]);
    call("PATCH", &s.url(COURSE), None, Some(r#"{"title": "B"}"#)).status(200);
    let with_b = call("GET", &s.url("/db"), None, None).body;
    drop(s);
    std::thread::sleep(Duration::from_millis(20));
    let t1 = jsonlift::clock::now();
    std::thread::sleep(Duration::from_millis(20));
    p.jl(&["restore", backup.to_str().unwrap()]).ok();
    let s = Server::start(&p, &[], &[]);
    call("PATCH", &s.url(COURSE), None, Some(r#"{"title": "C"}"#)).status(200);
    drop(s);
    assert!(db_state(&p).contains("\"C\""));
    p.jl(&["restore", "--at", &t1]).ok();
    assert_eq!(db_state(&p), with_b);
    // Two restores made two kept-aside schemas; the retention left the newest.
    assert_eq!(schemas(&pg).len(), 2, "{:?}", schemas(&pg));
}

/// Flips a byte in the middle of a file.
fn flip(path: &Path) {
    let mut b = std::fs::read(path).unwrap();
    let i = b.len() / 2;
    b[i] ^= 0xff;
    std::fs::write(path, b).unwrap();
}

#[test]
fn a_corrupted_backup_is_refused_by_verify_and_by_restore_with_nothing_changed() {
    let Some(url) = server("a_corrupted_backup_is_refused_on_postgres") else {
        return;
    };
    let (pg, p) = migrated(&url);
    p.jl(&["backup", "-q"]).ok();
    pg.sql(&format!("UPDATE {}.courses SET title = 'live'", pg.name));
    let live = courses(&pg);
    let (file, m) = the_backup(&p);
    let good = std::fs::read(&file).unwrap();

    // Bytes altered: the checksum says so.
    flip(&file);
    p.jl(&["backups", "--verify"])
        .code(1)
        .stdout_has("FAILED")
        .stdout_has("checksum does not match");
    p.jl(&["restore"]).failed().stderr_has("is damaged");
    assert_eq!(courses(&pg), live);
    assert_eq!(schemas(&pg), vec![pg.name.clone()]);

    // Cut short, with a manifest made to match: pg_restore cannot read it.
    let cut = &good[..good.len() / 2];
    std::fs::write(&file, cut).unwrap();
    let mut m2 = m.clone();
    m2["sha256"] = sha256_hex(cut).into();
    m2["size"] = cut.len().into();
    let manifest = file.with_extension("json");
    std::fs::write(&manifest, serde_json::to_string_pretty(&m2).unwrap()).unwrap();
    p.jl(&["backups", "--verify"])
        .code(1)
        .stdout_has("FAILED")
        .stdout_has("pg_restore");
    p.jl(&["restore"]).failed().stderr_has("cannot be restored");
    assert_eq!(courses(&pg), live);
    assert_eq!(schemas(&pg), vec![pg.name.clone()]);

    // The good one restores.
    std::fs::write(&file, &good).unwrap();
    std::fs::write(&manifest, serde_json::to_string_pretty(&m).unwrap()).unwrap();
    p.jl(&["backups", "--verify"]).ok();
    p.jl(&["restore", "-q"]).ok();
    assert_ne!(courses(&pg), live);
}

/// `jsonlift ARGS` with PATH set to `path` alone.
fn jl_path(p: &Project, path: &Path, args: &[&str]) -> Run {
    let mut full = vec![
        args[0].to_string(),
        "-c".into(),
        p.config().display().to_string(),
    ];
    full.extend(args[1..].iter().map(|s| s.to_string()));
    let mut cmd = std::process::Command::new(BIN);
    cmd.args(&full).current_dir(&p.cwd).env("PATH", path);
    run_command(
        cmd,
        format!("PATH={} jsonlift {}", path.display(), full.join(" ")),
    )
}

#[test]
fn missing_or_old_client_programs_are_named_with_exit_2_and_nothing_written() {
    let Some(url) = server("missing_or_old_client_programs_on_postgres") else {
        return;
    };
    let (pg, p) = migrated(&url);
    let empty = p.outside("empty-bin");
    std::fs::create_dir_all(&empty).unwrap();
    let folder = p.path(".jsonlift/backups/db");
    let major = pg.q1("SHOW server_version_num").parse::<u32>().unwrap() / 10_000;

    let r = jl_path(&p, &empty, &["backup"]);
    r.code(2)
        .stderr_has("pg_dump was not found on PATH")
        .stderr_has(&format!("apt-get install postgresql-client-{major}"));
    assert!(!folder.exists(), "a backup folder was made");

    // One older than the server: pg_dump would refuse it.
    let old = p.outside("old-bin");
    std::fs::create_dir_all(&old).unwrap();
    for tool in ["pg_dump", "pg_restore"] {
        let f = old.join(tool);
        std::fs::write(&f, format!("#!/bin/sh\necho '{tool} (PostgreSQL) 11.22'\n")).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    jl_path(&p, &old, &["backup"])
        .code(2)
        .stderr_has("is version 11.22, older than the server")
        .stderr_has(&format!("postgresql-client-{major}"));
    assert!(!folder.exists(), "a backup folder was made");

    // With a backup there, restore and backups --verify need pg_restore.
    p.jl(&["backup", "-q"]).ok();
    pg.sql(&format!("UPDATE {}.courses SET title = 'live'", pg.name));
    let live = courses(&pg);
    let listed = std::fs::read_dir(&folder).unwrap().count();
    for args in [&["restore"][..], &["backups", "--verify"]] {
        jl_path(&p, &empty, args)
            .code(2)
            .stderr_has("pg_restore was not found on PATH");
        assert_eq!(courses(&pg), live);
        assert_eq!(schemas(&pg), vec![pg.name.clone()]);
        assert_eq!(std::fs::read_dir(&folder).unwrap().count(), listed);
    }
    // Listing needs no program.
    jl_path(&p, &empty, &["backups"]).ok().stdout_has("manual");
}
