//! Database backups, restore and point-in-time recovery (docs/backup.md), through the real
//! binary. Writes go through the server's record store (`jsonlift::store::Records`), the write
//! path replay uses too.
//! Faults: an altered or truncated backup, another project's backup, a moment before the first
//! backup or in the future, a full disk while backing up, a restore killed at each step, a
//! restore while a server holds the database: each leaves the live database as it was.

use std::fs;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use jsonlift::audit::Actor;
use jsonlift::config::Project as JlProject;
use jsonlift::schema::Schema;
use jsonlift::store::{Records, SqliteStore, Store};

use crate::util::*;

pub(crate) const TOML: &str = r#"
database = "app.db"

[collections.notes]
source = "notes.json"
key = "id"

[collections.notes.fields]
id = "text"
title = { type = "text", required = true }
stars = "integer"
[collections.notes.fields.items]
type = "array"
[collections.notes.fields.items.fields]
name = "text"
"#;

const NOTES: &str = r#"[
  {"id": "a", "title": "first", "stars": 1, "items": [{"name": "x"}, {"name": "y"}]},
  {"id": "b", "title": "second", "stars": 2, "items": []}
]
"#;

fn project() -> Project {
    let mut p = Project::new(TOML);
    p.db_rel = "app.db".into();
    p.write("notes.json", NOTES);
    p.migrate_ok();
    p
}

/// Writes records through the server's store: the record and its audit entry in one
/// transaction, exactly as `jsonlift serve` does for each request.
pub(crate) struct Writer {
    store: SqliteStore,
}

fn open_store(config: &Path) -> SqliteStore {
    let jp = JlProject::load(config).unwrap();
    let schema = Schema::build(&jp).unwrap();
    SqliteStore::open(&jp, schema).unwrap()
}

fn store_put(store: &SqliteStore, key: &str, record: Option<&str>) {
    let value = record.map(|r| jsonlift::json::parse(r.as_bytes(), 100).unwrap());
    let actor = Actor {
        name: "test".into(),
        request_id: String::new(),
    };
    jsonlift::store::write(store, |c| {
        let records = Records::named(store.schema(), "notes").unwrap();
        records.put(c, key, value.clone(), &actor)
    })
    .unwrap();
}

impl Writer {
    pub(crate) fn new(p: &Project) -> Writer {
        Writer {
            store: open_store(&p.config()),
        }
    }

    pub(crate) fn put(&self, key: &str, title: &str, items: &[&str]) {
        let items: Vec<String> = items
            .iter()
            .map(|n| format!("{{\"name\": \"{n}\"}}"))
            .collect();
        let rec = format!(
            "{{\"id\": \"{key}\", \"title\": \"{title}\", \"items\": [{}]}}",
            items.join(", ")
        );
        store_put(&self.store, key, Some(&rec));
    }

    fn delete(&self, key: &str) {
        store_put(&self.store, key, None);
    }
}

fn db_backups(p: &Project) -> Vec<serde_json::Value> {
    let r = p.jl(&["backups", "--json"]);
    r.ok();
    r.json()["backups"].as_array().unwrap().clone()
}

fn take_backup(p: &Project, extra: &[&str]) -> PathBuf {
    let mut args = vec!["backup"];
    args.extend_from_slice(extra);
    let r = p.jl(&args);
    r.ok();
    let path = PathBuf::from(r.stdout.trim());
    assert!(
        path.exists(),
        "backup printed {path:?}, which does not exist"
    );
    path
}

fn integrity(path: &Path) -> String {
    q1(&open_db(path), "PRAGMA integrity_check")
}

/// Every file of the live database (main, -wal) unchanged, compared by content dump.
#[track_caller]
fn assert_db_is(p: &Project, want: &[String], what: &str) {
    assert_eq!(integrity(&p.db_path()), "ok", "{what}: integrity");
    assert_eq!(&p.dump(), want, "{what}: the live database changed");
}

/// A restore gave `want`, plus its own audit entry as the last one.
#[track_caller]
fn assert_restored(p: &Project, want: &[String], what: &str) {
    assert_eq!(integrity(&p.db_path()), "ok", "{what}: integrity");
    assert_eq!(
        without_own_restore_entry(p.dump()),
        want,
        "{what}: not the state restored"
    );
}

#[test]
fn backup_list_verify_and_restore_round_trip() {
    let p = project();
    let at_backup = p.dump();
    let plain = take_backup(&p, &[]);
    let zst = take_backup(&p, &["--compress"]);
    assert!(zst.to_string_lossy().ends_with(".db.zst"), "{zst:?}");
    let list = db_backups(&p);
    assert_eq!(list.len(), 2);
    for b in &list {
        assert_eq!(b["integrity"], "ok");
        assert_eq!(b["counts"]["notes"], 2);
        assert_eq!(b["counts"]["notes_items"], 2);
        assert!(b["audit_id"].as_i64().unwrap() >= 1, "{b}");
        assert_eq!(b["verified"], serde_json::Value::Null);
    }
    assert_eq!(integrity(&plain), "ok");
    let r = p.jl(&["backups", "--verify", "--json"]);
    r.ok();
    for b in r.json()["backups"].as_array().unwrap() {
        assert_eq!(b["verified"], true, "{b}");
    }
    p.jl(&["backups", "--verify"]).ok().stdout_has("verified");

    let w = Writer::new(&p);
    w.put("c", "third", &["z"]);
    w.delete("a");
    drop(w);
    let changed = p.dump();
    assert_ne!(changed, at_backup);
    // Restore a named (the plain) backup, then the latest (compressed): both give the state
    // at backup time, and the previous database is kept aside.
    let name = list[0]["name"].as_str().unwrap();
    let r = p.jl(&["restore", name]);
    r.ok().stdout_has("kept at");
    assert_restored(&p, &at_backup, "restore of a named backup");
    // The restore is the audit log's last entry, by the command line.
    assert_eq!(
        q(
            &p.db(),
            "SELECT collection, action, actor, json_extract(new, '$.replayed') FROM _jsonlift_audit ORDER BY id DESC LIMIT 1"
        ),
        rows(&[&["_database", "restore", "cli", "0"]])
    );
    let aside: Vec<PathBuf> = fs::read_dir(&p.root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|f| f.to_string_lossy().contains("app.db.before-restore-"))
        .collect();
    assert_eq!(aside.len(), 1, "{aside:?}");
    assert_eq!(dump_db(&aside[0]), changed, "the kept-aside database");
    p.jl(&["restore"]).ok();
    assert_restored(&p, &at_backup, "restore of the latest (compressed) backup");
    p.jl(&["verify"]).ok();
}

#[test]
fn altered_or_truncated_backup_is_refused() {
    let p = project();
    let path = take_backup(&p, &[]);
    let w = Writer::new(&p);
    w.put("c", "third", &[]);
    drop(w);
    let live = p.dump();
    let good = fs::read(&path).unwrap();
    let mut altered = good.clone();
    let mid = altered.len() / 2;
    altered[mid] ^= 0x55;
    for (what, bytes) in [
        ("altered", altered),
        ("truncated", good[..good.len() / 2].to_vec()),
    ] {
        fs::write(&path, &bytes).unwrap();
        let r = p.jl(&["backups", "--verify"]);
        r.failed().stdout_has("checksum does not match");
        let r = p.jl(&["restore"]);
        r.failed().stderr_has("checksum does not match");
        assert_db_is(&p, &live, what);
    }
}

#[test]
fn backup_of_another_projects_schema_is_refused() {
    let p = project();
    take_backup(&p, &[]);
    let mut other = Project::new(&TOML.replace("stars = \"integer\"", "stars = \"real\""));
    other.db_rel = "app.db".into();
    other.write("notes.json", NOTES);
    other.migrate_ok();
    let foreign = take_backup(&other, &[]);
    // Put the other project's backup (and its manifest) in this project's folder, as newest.
    let dir = p.root.join(".jsonlift/backups/db");
    let stem = foreign.file_stem().unwrap().to_string_lossy().into_owned();
    let manifest = foreign.with_file_name(format!("{stem}.json"));
    fs::copy(&foreign, dir.join(foreign.file_name().unwrap())).unwrap();
    fs::copy(&manifest, dir.join(manifest.file_name().unwrap())).unwrap();
    let live = p.dump();
    let r = p.jl(&["restore", &stem]);
    r.failed().stderr_has("another schema");
    assert_db_is(&p, &live, "restore of a foreign backup");
}

#[test]
fn time_before_the_first_backup_or_in_the_future_is_refused() {
    let p = project();
    let live = p.dump();
    p.jl(&["restore", "--at", "2020-01-01T00:00:00Z"])
        .failed()
        .stderr_has("no database backups");
    take_backup(&p, &[]);
    p.jl(&["restore", "--at", "2020-01-01T00:00:00Z"])
        .failed()
        .stderr_has("before the first backup");
    p.jl(&["restore", "--at", "2999-01-01T00:00:00Z"])
        .failed()
        .stderr_has("in the future");
    // The review's findings (issue #18): an offset with a multi-byte character panicked the
    // parser; a day February does not have was taken for March 3rd.
    for bad in [
        "yesterday",
        "2026-11-21T10:15:02+0é00",
        "2026-02-31T00:00:00Z",
    ] {
        p.jl(&["restore", "--at", bad])
            .failed()
            .stderr_has("not an RFC 3339 time");
    }
    assert_db_is(&p, &live, "refused --at");
}

#[test]
fn full_disk_while_backing_up_leaves_nothing() {
    let p = project();
    let w = Writer::new(&p);
    let long = "x".repeat(2000);
    for i in 0..200 {
        w.put(&format!("k{i}"), &long, &["a", "b"]);
    }
    drop(w);
    let live = p.dump();
    let size = fs::metadata(p.db_path()).unwrap().len();
    assert!(
        size > 200_000,
        "the database should be larger than the limit: {size}"
    );
    // 100 blocks of 512 bytes: far less than the database.
    let r = p.jl_file_limit(100, &["backup"]);
    r.failed().stderr_has("cannot write the backup");
    assert_db_is(&p, &live, "a backup on a full disk");
    let left = list_files(&p.root.join(".jsonlift/backups/db"));
    assert!(
        left.is_empty(),
        "a failed backup left files behind: {left:?}"
    );
    assert!(db_backups(&p).is_empty());
}

#[test]
fn restore_is_refused_while_a_server_holds_the_database() {
    let p = project();
    take_backup(&p, &[]);
    let live = p.dump();
    let lock = jsonlift::backup::hold_server_lock(&p.db_path()).unwrap();
    p.jl(&["restore"])
        .failed()
        .stderr_has("jsonlift serve")
        .stderr_has("POST /_admin/restore");
    assert_db_is(&p, &live, "restore refused");
    drop(lock);
    p.jl(&["restore"]).ok();
}

/// Starts `jsonlift restore` paused at `step`, waits until it says so, kills it with SIGKILL.
fn kill_restore_at(p: &Project, step: &str) {
    let mut child = Command::new(BIN)
        .args(["restore", "-c"])
        .arg(p.config())
        .current_dir(&p.cwd)
        .env("JSONLIFT_TEST_PAUSE_AT", format!("restore:{step}"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let mut seen = String::new();
    loop {
        let mut line = String::new();
        if err.read_line(&mut line).unwrap() == 0 {
            let _ = child.wait();
            panic!("restore ended before pausing at {step}:\n{seen}");
        }
        seen.push_str(&line);
        if line.contains(&format!("paused at restore:{step}")) {
            break;
        }
    }
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn restore_killed_at_any_step_leaves_the_old_or_the_new_database() {
    for (step, gives_new) in [
        ("prepared", false),
        ("checkpointed", false),
        ("aside", false),
        ("renamed", true),
    ] {
        let p = project();
        take_backup(&p, &[]);
        let backup_state = p.dump();
        // Live changes sit in the -wal when the restore starts, as a killed server leaves them.
        // The last connection to close would checkpoint; this one, closed last, does not.
        let keep = open_db(&p.db_path());
        keep.set_db_config(
            rusqlite::config::DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE,
            true,
        )
        .unwrap();
        q1(&keep, "SELECT count(*) FROM notes");
        let w = Writer::new(&p);
        w.put("c", "third", &["q"]);
        w.delete("b");
        drop(w);
        drop(keep);
        let wal = PathBuf::from(format!("{}-wal", p.db_path().display()));
        assert!(
            fs::metadata(&wal).is_ok_and(|m| m.len() > 0),
            "the changes should be in {wal:?}"
        );
        // Read a copy, so this does not checkpoint the -wal either.
        let copy = p.outside("copy.db");
        fs::copy(p.db_path(), &copy).unwrap();
        fs::copy(&wal, format!("{}-wal", copy.display())).unwrap();
        let live = dump_db(&copy);
        assert_ne!(live, backup_state);
        kill_restore_at(&p, step);
        if gives_new {
            assert_restored(&p, &backup_state, &format!("restore killed at {step}"));
        } else {
            assert_db_is(&p, &live, &format!("restore killed at {step}"));
        }
        // A later restore cleans up and completes.
        p.jl(&["restore"]).ok();
        assert_restored(
            &p,
            &backup_state,
            &format!("restore after a kill at {step}"),
        );
        let temps: Vec<String> = list_files(&p.root)
            .into_iter()
            .filter(|f| f.contains(".restore-"))
            .collect();
        assert!(temps.is_empty(), "temp files left: {temps:?}");
    }
}

#[test]
fn point_in_time_restore_gives_the_exact_state_at_each_moment() {
    let p = project();
    take_backup(&p, &[]);
    let w = Writer::new(&p);
    // (moment, state) after each step; a backup now and then.
    let mut moments: Vec<(String, Vec<String>)> = Vec::new();
    let mark = |moments: &mut Vec<(String, Vec<String>)>| {
        std::thread::sleep(Duration::from_millis(3));
        moments.push((jsonlift::clock::now(), p.dump()));
        std::thread::sleep(Duration::from_millis(3));
    };
    mark(&mut moments);
    w.put("c", "third", &["1", "2", "3"]);
    mark(&mut moments);
    w.put("a", "first, edited", &[]);
    mark(&mut moments);
    take_backup(&p, &["--compress"]);
    w.delete("b");
    w.put("d", "fourth", &["4"]);
    mark(&mut moments);
    w.put("c", "third, edited", &["3", "2"]);
    mark(&mut moments);
    take_backup(&p, &[]);
    w.delete("c");
    mark(&mut moments);
    drop(w);
    // Latest first: each restore keeps the audit log the earlier moments need.
    for (i, (at, state)) in moments.iter().enumerate().rev() {
        let r = p.jl(&["restore", "--at", at]);
        r.ok();
        assert_restored(&p, state, &format!("restore --at moment {i} ({at})"));
    }
    // The live database is now at moment 0: the later moments are history that restore undid,
    // read back from the database the first restore after them kept aside.
    p.jl(&["restore", "--at", &moments[3].0]).ok();
    assert_restored(&p, &moments[3].1, "--at an undone moment");
    // Writes after the restore are a new history, reachable again.
    let w = Writer::new(&p);
    w.put("n", "new history", &[]);
    drop(w);
    std::thread::sleep(Duration::from_millis(3));
    let (at, state) = (jsonlift::clock::now(), p.dump());
    take_backup(&p, &[]);
    let w = Writer::new(&p);
    w.delete("n");
    drop(w);
    p.jl(&["restore", "--at", &at]).ok();
    assert_restored(&p, &state, "--at a moment after a restore");
}

/// Issue #18 item 7: a moment that a later restore undid is reached through the database that
/// restore kept aside (write A, backup, write B, restore the backup, write C: `--at` the moment
/// after B gives A and B, without C).
#[test]
fn point_in_time_reaches_history_that_a_later_restore_undid() {
    let p = project();
    let w = Writer::new(&p);
    w.put("a", "A", &[]);
    drop(w);
    let backup = take_backup(&p, &[]);
    let w = Writer::new(&p);
    w.put("b", "B", &["1"]);
    drop(w);
    std::thread::sleep(Duration::from_millis(3));
    let (t1, with_b) = (jsonlift::clock::now(), p.dump());
    std::thread::sleep(Duration::from_millis(3));
    p.jl(&["restore", backup.to_str().unwrap()]).ok();
    let w = Writer::new(&p);
    w.put("c", "C", &[]);
    drop(w);
    std::thread::sleep(Duration::from_millis(3));
    let (t2, with_c) = (jsonlift::clock::now(), p.dump());
    std::thread::sleep(Duration::from_millis(3));
    assert_ne!(with_b, with_c);
    p.jl(&["restore", "--at", &t1]).ok();
    assert_restored(&p, &with_b, "--at the moment B was written, undone since");
    // And C, undone by that restore, is reachable in turn.
    p.jl(&["restore", "--at", &t2]).ok();
    assert_restored(&p, &with_c, "--at the moment C was written, undone since");
}

/// The databases restores keep aside follow `[backups] keep_last`/`keep_daily`: with
/// `keep_last = 1` only the newest stays, and a moment only a removed one held is refused with
/// a message that says so.
#[test]
fn databases_kept_aside_by_restores_follow_the_retention() {
    let p = Project::new(&format!(
        "{TOML}\n[backups]\nkeep_last = 1\nkeep_daily = 0\n"
    ));
    let mut p = p;
    p.db_rel = "app.db".into();
    p.write("notes.json", NOTES);
    p.migrate_ok();
    let asides = |p: &Project| -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = fs::read_dir(&p.root)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|f| f.to_string_lossy().contains("app.db.before-restore-"))
            .collect();
        v.sort();
        v
    };
    take_backup(&p, &[]);
    let w = Writer::new(&p);
    w.put("x", "undone first", &[]);
    drop(w);
    std::thread::sleep(Duration::from_millis(3));
    let first = jsonlift::clock::now();
    p.jl(&["restore"]).ok();
    for i in 0..2 {
        let w = Writer::new(&p);
        w.put("y", &format!("undone {i}"), &[]);
        drop(w);
        p.jl(&["restore"]).ok();
    }
    let kept = asides(&p);
    assert_eq!(kept.len(), 1, "only the newest aside stays: {kept:?}");
    // A backup applies the policy too; the newest aside is never removed.
    take_backup(&p, &[]);
    assert_eq!(asides(&p), kept);
    p.jl(&["restore", "--at", &first])
        .failed()
        .stderr_has("is gone (removed by the backup retention");
}

#[test]
fn point_in_time_refuses_a_reimport_in_the_range_and_an_audit_gap() {
    let p = project();
    take_backup(&p, &[]);
    let w = Writer::new(&p);
    w.put("c", "third", &[]);
    w.put("d", "fourth", &[]);
    w.put("e", "fifth", &[]);
    drop(w);
    let at = jsonlift::clock::now();
    // Remove one entry from the middle of the log: the state after it cannot be rebuilt.
    let db = p.db();
    let max: i64 = q1(&db, "SELECT max(id) FROM _jsonlift_audit")
        .parse()
        .unwrap();
    db.execute("DELETE FROM _jsonlift_audit WHERE id = ?1", [max - 1])
        .unwrap();
    drop(db);
    let live = p.dump();
    p.jl(&["restore", "--at", &at]).failed().stderr_has("gap");
    assert_db_is(&p, &live, "a gap in the audit log");

    // A reimport writes a `migrate` entry; without its own backup, replay across it is refused.
    let p = project();
    take_backup(&p, &[]);
    p.write("notes.json", NOTES.replace("second", "second, changed"));
    p.jl(&["migrate", "--reimport"]).ok();
    // Forget the backups the migration took, as if retention had removed them.
    for b in db_backups(&p) {
        if b["reason"].as_str().unwrap().starts_with("migrate") {
            let path = PathBuf::from(b["path"].as_str().unwrap());
            fs::remove_file(&path).unwrap();
            let stem = b["name"].as_str().unwrap();
            fs::remove_file(path.with_file_name(format!("{stem}.json"))).unwrap();
        }
    }
    std::thread::sleep(Duration::from_millis(3));
    let at = jsonlift::clock::now();
    let live = p.dump();
    p.jl(&["restore", "--at", &at])
        .failed()
        .stderr_has("migrate-after");
    assert_db_is(&p, &live, "a reimport in the replay range");
}

#[test]
fn reimport_takes_backups_so_restore_reaches_across_it() {
    let p = project();
    let before = p.dump();
    p.write("notes.json", NOTES.replace("second", "second, changed"));
    p.jl(&["migrate", "--reimport"]).ok();
    let list = db_backups(&p);
    let reasons: Vec<&str> = list.iter().map(|b| b["reason"].as_str().unwrap()).collect();
    assert_eq!(reasons, ["migrate-before", "migrate-after"]);
    let ledger = q1(
        &p.db(),
        "SELECT backup FROM _jsonlift_ledger ORDER BY id DESC LIMIT 1",
    );
    let ledger: serde_json::Value = serde_json::from_str(&ledger).unwrap();
    assert_eq!(ledger["database"], list[0]["path"]);
    std::thread::sleep(Duration::from_millis(3));
    let after = p.dump();
    let w = Writer::new(&p);
    w.put("z", "after the reimport", &[]);
    drop(w);
    // The state right after the reimport, and the one before it.
    let at = list[1]["taken_at"].as_str().unwrap().to_string();
    p.jl(&["restore", "--at", &at]).ok();
    assert_restored(&p, &after, "--at the reimport");
    p.jl(&["restore", list[0]["name"].as_str().unwrap()]).ok();
    assert_restored(&p, &before, "the backup before the reimport");
}

#[test]
fn backup_during_continuous_writes_is_one_consistent_moment() {
    let p = project();
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let stop = stop.clone();
        let config = p.config();
        std::thread::spawn(move || {
            let store = open_store(&config);
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) || n < 20 {
                let rec = format!(
                    "{{\"id\": \"w{n}\", \"title\": \"t\", \"items\": [{{\"name\": \"i\"}}]}}"
                );
                store_put(&store, &format!("w{n}"), Some(&rec));
                n += 1;
            }
            n
        })
    };
    let migrate_pos: i64 = q1(&p.db(), "SELECT max(id) FROM _jsonlift_audit")
        .parse()
        .unwrap();
    for _ in 0..3 {
        take_backup(&p, &[]);
    }
    stop.store(true, Ordering::Relaxed);
    let written = writer.join().unwrap();
    p.jl(&["backups", "--verify"]).ok();
    for b in db_backups(&p) {
        let pos = b["audit_id"].as_i64().unwrap();
        // Each write is one insert and one audit entry: the backup holds exactly the writes up
        // to its audit position.
        let inserts = (pos - migrate_pos) as u64;
        assert!(inserts <= written);
        assert_eq!(b["counts"]["notes"], 2 + inserts, "{b}");
        assert_eq!(b["counts"]["notes_items"], 2 + inserts, "{b}");
        let file = PathBuf::from(b["path"].as_str().unwrap());
        assert_eq!(integrity(&file), "ok");
        assert_eq!(
            q1(&open_db(&file), "SELECT count(*) FROM notes"),
            (2 + inserts).to_string()
        );
    }
}
