//! Live file sync (issue #15): `serve --watch` and `jsonlift watch` on real files, with real
//! file-system events. Each test changes files on disk the way an editor or `git checkout` does
//! and polls the API until the change shows (or fails after a generous deadline: no timed
//! assertions). Afterwards `verify` must find the database and the files identical, so the
//! layout (file names, formatting) followed too.

use std::fs;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use jsonlift::json::Value;

use crate::serve::{Server, call, example};
use crate::util::*;

/// A short debounce keeps the tests quick; the behaviour is the same at the default 500 ms.
pub const SYNC: &str = "[sync]\ndebounce_ms = 100\n";

/// Polls `f` until it gives a value, or fails the test after 60 s (a deadline for a broken
/// sync, not a measure of speed).
#[track_caller]
pub fn wait_for<T>(what: &str, f: impl FnMut() -> Option<T>) -> T {
    wait_long(what, 60, f)
}

#[track_caller]
fn wait_long<T>(what: &str, secs: u64, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f() {
            return v;
        }
        if Instant::now() > deadline {
            panic!("gave up waiting for: {what}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

pub(crate) fn get(s: &Server, path: &str) -> (u16, Value) {
    let r = call("GET", &s.url(path), None, None);
    let v = if r.body.is_empty() {
        Value::Null
    } else {
        r.value()
    };
    (r.status, v)
}

fn num(v: &Value, name: &str) -> Option<i64> {
    match v.get(name) {
        Some(Value::Number(n)) => n.as_i64(),
        _ => None,
    }
}

pub(crate) fn field(v: &Value, name: &str) -> Option<String> {
    v.get(name).and_then(Value::as_str).map(str::to_string)
}

/// Waits until `GET path` answers 200 with `name` = `want`.
#[track_caller]
pub(crate) fn wait_field(s: &Server, path: &str, name: &str, want: &str) {
    wait_for(&format!("{path} with {name} = {want:?}"), || {
        let (st, v) = get(s, path);
        (st == 200 && field(&v, name).as_deref() == Some(want)).then_some(())
    });
}

#[track_caller]
fn wait_status(s: &Server, path: &str, status: u16) {
    wait_for(&format!("{path} answering {status}"), || {
        (get(s, path).0 == status).then_some(())
    });
}

pub(crate) fn sync_state(s: &Server) -> Value {
    get(s, "/_admin/sync").1
}

pub(crate) fn persona(id: &str, name: &str) -> String {
    format!("{{\n  \"id\": \"{id}\",\n  \"name\": \"{name}\"\n}}\n")
}

/// The example's file, with its name field replaced.
fn renamed_text(p: &crate::util::Project, rel: &str, from: &str, to: &str) -> String {
    let text = String::from_utf8(p.read(rel)).unwrap();
    assert!(text.contains(from), "{rel} holds {from:?}");
    text.replace(from, to)
}

/// The personas example served with `--watch`, once in sync.
fn personas_in_sync() -> (crate::util::Project, Server) {
    let p = example("personas", SYNC);
    let s = Server::start(&p, &["--watch"], &[]);
    wait_for("the initial sync", || {
        (field(&sync_state(&s), "state").as_deref() == Some("in sync")).then_some(())
    });
    (p, s)
}

/// Renames Lena in her file, in place, and waits until the API shows it; gives the new text.
fn rename_lena_on_disk(p: &crate::util::Project, s: &Server) -> String {
    let text = renamed_text(
        p,
        "personas/lena-weber.json",
        "\"Lena Weber\"",
        "\"Lena W.\"",
    );
    p.write("personas/lena-weber.json", &text);
    wait_field(s, "/api/personas/lena-weber", "name", "Lena W.");
    text
}

#[test]
fn serve_watch_follows_edits_adds_deletes_and_renames_of_a_folder() {
    let (p, s) = personas_in_sync();

    // Written in place.
    rename_lena_on_disk(&p, &s);

    // Added, in the folder's style.
    p.write("personas/neu.json", persona("neu", "Neu Person"));
    wait_field(&s, "/api/personas/neu", "name", "Neu Person");

    // Deleted.
    p.remove("personas/sam-rivera.json");
    wait_status(&s, "/api/personas/sam-rivera", 404);

    // Renamed with its content unchanged: the same record under the new file name.
    fs::rename(
        p.path("personas/zhang-wei.json"),
        p.path("personas/zhang-wei-2.json"),
    )
    .unwrap();
    wait_for("the rename recorded", || {
        let (_, log) = get(&s, "/_admin/audit?collection=personas&key=zhang-wei");
        let Value::Array(entries) = log else {
            return None;
        };
        entries
            .iter()
            .any(|e| field(e, "request_id").as_deref() == Some("personas/zhang-wei-2.json"))
            .then_some(())
    });
    wait_field(&s, "/api/personas/zhang-wei", "id", "zhang-wei");

    // Every change audited as the sync's, with the file it came from.
    let (_, log) = get(&s, "/_admin/audit?collection=personas");
    let Value::Array(entries) = log else {
        panic!("audit: {log:?}")
    };
    let by_sync: Vec<(String, String, String)> = entries
        .iter()
        .filter(|e| field(e, "actor").as_deref() == Some("sync"))
        .map(|e| {
            (
                field(e, "action").unwrap(),
                field(e, "key").unwrap_or_default(),
                field(e, "request_id").unwrap(),
            )
        })
        .collect();
    for want in [
        ("update", "lena-weber", "personas/lena-weber.json"),
        ("insert", "neu", "personas/neu.json"),
        ("delete", "sam-rivera", "personas/sam-rivera.json"),
        ("rename", "zhang-wei", "personas/zhang-wei-2.json"),
    ] {
        let want = (want.0.to_string(), want.1.to_string(), want.2.to_string());
        assert!(by_sync.contains(&want), "{want:?} not in {by_sync:?}");
    }
    // The rename is audited as one, with the file names, and as nothing else.
    let of_rename: Vec<&Value> = entries
        .iter()
        .filter(|e| field(e, "request_id").as_deref() == Some("personas/zhang-wei-2.json"))
        .collect();
    assert_eq!(of_rename.len(), 1, "{of_rename:?}");
    let old = of_rename[0]
        .get("old")
        .map(jsonlift::json::to_compact_string);
    let new = of_rename[0]
        .get("new")
        .map(jsonlift::json::to_compact_string);
    assert!(
        old.as_deref().is_some_and(|o| o.contains("zhang-wei.json")),
        "{old:?}"
    );
    assert!(
        new.as_deref()
            .is_some_and(|n| n.contains("zhang-wei-2.json")),
        "{new:?}"
    );

    // Metrics count what was applied.
    let m = call("GET", &s.url("/_admin/metrics"), None, None).body;
    let applied: u64 = m
        .lines()
        .find_map(|l| l.strip_prefix("jsonlift_sync_events_applied_total "))
        .unwrap_or_else(|| panic!("no sync metric in\n{m}"))
        .parse()
        .unwrap();
    assert!(applied >= 4, "{applied}\n{m}");
    assert!(
        m.contains("jsonlift_sync_lag_seconds_bucket{le=\"+Inf\"}"),
        "{m}"
    );

    // A graceful stop, then the database and the files agree record by record, file names
    // and formatting included: export gives the files back byte for byte.
    assert_eq!(s.stop(), Some(0));
    p.jl(&["verify"]).ok();
    let out = p.export();
    for rel in [
        "personas/lena-weber.json",
        "personas/neu.json",
        "personas/zhang-wei-2.json",
        "prompts/persona-summary.prompty",
    ] {
        assert_exported_identical(&p, &out, rel);
    }
    assert!(!out.join("personas/zhang-wei.json").exists());
    assert!(!out.join("personas/sam-rivera.json").exists());
}

#[test]
fn every_editor_save_pattern_is_applied() {
    let p = example("personas", SYNC);
    let s = Server::start(&p, &["--watch"], &[]);
    let rel = "personas/lena-weber.json";
    let path = p.path(rel);

    // Truncate, then write (two events on one file).
    {
        use std::io::Write;
        let text = renamed_text(&p, rel, "\"Lena Weber\"", "\"Truncated\"");
        let mut f = fs::OpenOptions::new()
            .write(true)
            .truncate(true)
            .open(&path)
            .unwrap();
        f.flush().unwrap();
        std::thread::sleep(Duration::from_millis(20));
        f.write_all(text.as_bytes()).unwrap();
    }
    wait_field(&s, "/api/personas/lena-weber", "name", "Truncated");

    // Write a temporary file, then rename it over (vim, VS Code, atomic writers).
    let text = renamed_text(&p, rel, "\"Truncated\"", "\"Renamed over\"");
    let tmp = p.path("personas/.lena-weber.json.swp");
    fs::write(&tmp, &text).unwrap();
    fs::rename(&tmp, &path).unwrap();
    wait_field(&s, "/api/personas/lena-weber", "name", "Renamed over");

    // Delete, then create again.
    let text = renamed_text(&p, rel, "\"Renamed over\"", "\"Recreated\"");
    fs::remove_file(&path).unwrap();
    std::thread::sleep(Duration::from_millis(30));
    fs::write(&path, &text).unwrap();
    wait_field(&s, "/api/personas/lena-weber", "name", "Recreated");

    // A `git checkout`: 500 files added and 4 changed at once.
    for i in 0..500 {
        p.write(
            &format!("personas/burst-{i:03}.json"),
            persona(&format!("burst-{i:03}"), &format!("Burst {i}")),
        );
    }
    for f in [
        "juergen-oeztuerk",
        "sam-rivera",
        "test-persona",
        "zhang-wei",
    ] {
        p.write(&format!("personas/{f}.json"), persona(f, "Checked out"));
    }
    // A deadline for 500 transactions on a busy machine (PostgreSQL: a round trip each).
    wait_long("505 personas", 300, || {
        let (st, v) = get(&s, "/api/personas");
        match v {
            Value::Array(a) if st == 200 && a.len() == 505 => Some(()),
            _ => None,
        }
    });
    wait_field(&s, "/api/personas/zhang-wei", "name", "Checked out");
    wait_field(&s, "/api/personas/burst-499", "name", "Burst 499");
    wait_for("in sync", || {
        (field(&sync_state(&s), "state").as_deref() == Some("in sync")).then_some(())
    });
    assert_eq!(s.stop(), Some(0));
    p.jl(&["verify"]).ok();
}

#[test]
fn a_broken_file_keeps_its_record_is_reported_and_applies_once_fixed() {
    let p = example("personas", SYNC);
    let s = Server::start(&p, &["--watch"], &[]);
    let good = String::from_utf8(p.read("personas/lena-weber.json")).unwrap();

    // A syntax error on line 3.
    p.write(
        "personas/lena-weber.json",
        "{\n  \"id\": \"lena-weber\",\n  \"name\": \"Lena\" \"oops\"\n}\n",
    );
    let err = wait_for("the error in /_admin/sync", || {
        let v = sync_state(&s);
        let Some(Value::Array(sources)) = v.get("sources") else {
            return None;
        };
        sources.iter().find_map(|src| match src.get("errors") {
            Some(Value::Array(e)) if !e.is_empty() => Some(e[0].clone()),
            _ => None,
        })
    });
    assert_eq!(
        field(&err, "file").as_deref(),
        Some("personas/lena-weber.json")
    );
    assert_eq!(num(&err, "line"), Some(3), "{err:?}");
    assert!(num(&err, "column").is_some(), "{err:?}");
    wait_for("degraded", || {
        (field(&sync_state(&s), "state").as_deref() == Some("degraded")).then_some(())
    });
    // The record keeps its last good version.
    wait_field(&s, "/api/personas/lena-weber", "name", "Lena Weber");

    // Other files keep syncing meanwhile.
    p.write("personas/other.json", persona("other", "Other"));
    wait_field(&s, "/api/personas/other", "name", "Other");

    // A file that parses but breaks the schema: the JSON path of the problem is given.
    p.write(
        "personas/lena-weber.json",
        "{\n  \"id\": \"lena-weber\",\n  \"name\": \"Lena\",\n  \"demographics\": {\"age\": -4}\n}\n",
    );
    wait_for("the schema error", || {
        let v = sync_state(&s);
        let text = jsonlift::json::to_compact_string(&v);
        text.contains("$.demographics.age").then_some(())
    });
    wait_field(&s, "/api/personas/lena-weber", "name", "Lena Weber");
    assert!(
        s.log().contains("personas/lena-weber.json:4:"),
        "the log names the file and place:\n{}",
        s.log()
    );

    // Fixed: applied, and the error is gone.
    p.write(
        "personas/lena-weber.json",
        good.replace("\"Lena Weber\"", "\"Lena fixed\""),
    );
    wait_field(&s, "/api/personas/lena-weber", "name", "Lena fixed");
    wait_for("in sync again", || {
        (field(&sync_state(&s), "state").as_deref() == Some("in sync")).then_some(())
    });
}

#[test]
fn single_file_sources_apply_only_the_records_that_changed() {
    let p = example("lernpfad", SYNC);
    let s = Server::start(&p, &["--watch"], &[]);
    let text = String::from_utf8(p.read("data/courses.json")).unwrap();
    let (_, before) = get(&s, "/api/courses");
    let Value::Array(before) = before else {
        panic!()
    };
    let first = field(&before[0], "id").unwrap();
    let title = field(&before[0], "title").unwrap();
    // One title changed, written as an editor would (temp file renamed over).
    let changed = text.replacen(&format!("\"{title}\""), "\"Neuer Titel\"", 1);
    let tmp = p.path("data/.courses.json.tmp");
    fs::write(&tmp, &changed).unwrap();
    fs::rename(&tmp, p.path("data/courses.json")).unwrap();
    wait_field(&s, &format!("/api/courses/{first}"), "title", "Neuer Titel");
    // The others were not touched: the audit has one sync entry, an update of that course.
    let (_, log) = get(&s, "/_admin/audit?collection=courses");
    let Value::Array(entries) = log else { panic!() };
    let sync: Vec<(String, String)> = entries
        .iter()
        .filter(|e| field(e, "actor").as_deref() == Some("sync"))
        .map(|e| (field(e, "action").unwrap(), field(e, "key").unwrap()))
        .collect();
    assert_eq!(sync, [("update".to_string(), first.clone())]);
    // The settings document too.
    let stats = String::from_utf8(p.read("data/stats.json")).unwrap();
    assert!(stats.contains("\"streak\": "), "{stats}");
    let stats2 = stats.replacen("\"streak\": ", "\"streak\": 1", 1);
    p.write("data/stats.json", &stats2);
    wait_for("the document changed", || {
        let (_, v) = get(&s, "/api/stats");
        let now = jsonlift::json::to_compact_string(&v);
        let parsed = jsonlift::json::parse(stats2.as_bytes(), 100).unwrap();
        (now == jsonlift::json::to_compact_string(&parsed)).then_some(())
    });
    // A broken single file changes nothing and says where.
    p.write("data/courses.json", "[\n  {\"id\": 1,\n");
    wait_for("the error", || {
        let text = jsonlift::json::to_compact_string(&sync_state(&s));
        text.contains("data/courses.json").then_some(())
    });
    wait_field(&s, &format!("/api/courses/{first}"), "title", "Neuer Titel");
    p.write("data/courses.json", &changed);
    wait_for("in sync", || {
        (field(&sync_state(&s), "state").as_deref() == Some("in sync")).then_some(())
    });
    assert_eq!(s.stop(), Some(0));
    p.jl(&["verify"]).ok();
    let out = p.export();
    assert_exported_identical(&p, &out, "data/courses.json");
    assert_exported_identical(&p, &out, "data/stats.json");
}

#[test]
fn a_db_json_edit_applies_to_each_collection_it_holds() {
    let p = example("jsonserver", SYNC);
    let s = Server::start(&p, &["--watch"], &[]);
    let text = String::from_utf8(p.read("db.json")).unwrap();
    let (_, posts) = get(&s, "/api/posts");
    let Value::Array(posts) = posts else { panic!() };
    let n = posts.len();
    let title = field(&posts[0], "title").unwrap();
    p.write(
        "db.json",
        text.replacen(&format!("\"{title}\""), "\"edited in db.json\"", 1),
    );
    wait_for("the post edited", || {
        let (_, v) = get(&s, "/api/posts");
        match v {
            Value::Array(a) if a.len() == n => {
                (field(&a[0], "title").as_deref() == Some("edited in db.json")).then_some(())
            }
            _ => None,
        }
    });
    assert_eq!(s.stop(), Some(0));
    p.jl(&["verify"]).ok();
}

/// A child process killed when the test ends, whatever happened.
struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn watch_brings_the_database_to_the_files_at_start_in_one_line() {
    let p = example("personas", SYNC);
    // Changed while nothing ran: one edited, one added, one deleted.
    let text = renamed_text(
        &p,
        "personas/lena-weber.json",
        "\"Lena Weber\"",
        "\"Offline\"",
    );
    p.write("personas/lena-weber.json", &text);
    p.write("personas/offline.json", persona("offline", "Added offline"));
    p.remove("personas/test-persona.json");
    let mut child = Killed(
        Command::new(BIN)
            .args(["watch", "-c"])
            .arg(p.config())
            .current_dir(&p.cwd)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let mut out = BufReader::new(child.0.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    assert!(line.starts_with("sync: initial sync in "), "{line}");
    assert!(
        line.contains("personas: 1 added, 1 changed, 1 deleted, 0 renamed"),
        "{line}"
    );
    assert!(line.contains("prompts unchanged"), "{line}");
    // Then it follows changes, without HTTP.
    let mut ready = String::new();
    out.read_line(&mut ready).unwrap();
    assert!(ready.contains("watching"), "{ready}");
    p.write("personas/later.json", persona("later", "Later"));
    wait_for("the later file in the database", || {
        let r = p.jl(&["verify"]);
        (r.code == Some(0)).then_some(())
    });
    unsafe {
        libc::kill(child.0.id() as i32, libc::SIGTERM);
    }
    assert_eq!(child.0.wait().unwrap().code(), Some(0));
    // The ledger records the files as they are now: a migration has nothing to do.
    p.jl(&["migrate"]).ok().stdout_has("already migrated");
}

#[test]
fn the_initial_sync_of_many_files_leaves_out_only_the_bad_ones() {
    let p = example("personas", SYNC);
    // Added while nothing ran: a full pass applies them several to a transaction.
    for i in 0..40 {
        p.write(
            &format!("personas/new-{i:02}.json"),
            persona(&format!("new-{i:02}"), &format!("New {i}")),
        );
    }
    // One the database refuses (its own rule, met inside the batch's transaction), one that
    // does not parse.
    p.write(
        "personas/new-negative.json",
        "{\n  \"id\": \"new-negative\",\n  \"name\": \"N\",\n  \"demographics\": {\"age\": -4}\n}\n",
    );
    p.write(
        "personas/new-syntax.json",
        "{\n  \"id\": \"new-syntax\",\n  \"name\": \n}\n",
    );
    let s = Server::start(&p, &["--watch"], &[]);
    assert!(
        s.log()
            .contains("personas: 40 added, 0 changed, 0 deleted, 0 renamed, 2 not applied"),
        "{}",
        s.log()
    );
    for i in 0..40 {
        wait_field(
            &s,
            &format!("/api/personas/new-{i:02}"),
            "name",
            &format!("New {i}"),
        );
    }
    assert_eq!(get(&s, "/api/personas/new-negative").0, 404);
    assert_eq!(get(&s, "/api/personas/new-syntax").0, 404);
    // Each file is audited under its own name.
    let (_, log) = get(&s, "/_admin/audit?collection=personas&key=new-07");
    let text = jsonlift::json::to_compact_string(&log);
    assert!(text.contains("\"personas/new-07.json\""), "{text}");
    // Both problems are reported, at their place.
    let state = jsonlift::json::to_compact_string(&sync_state(&s));
    assert!(state.contains("$.demographics.age"), "{state}");
    assert!(state.contains("personas/new-syntax.json"), "{state}");
    assert_eq!(field(&sync_state(&s), "state").as_deref(), Some("degraded"));
}

#[test]
fn reload_rescans_and_answers_with_what_changed() {
    // A debounce far longer than the test: only the reload applies the change.
    let p = example("personas", "[sync]\ndebounce_ms = 600000\n");
    let s = Server::start(&p, &["--watch"], &[]);
    p.write("personas/reloaded.json", persona("reloaded", "By reload"));
    // An admin action needs a JSON body.
    call("POST", &s.url("/_admin/sync/reload"), None, None).status(415);
    let r = call("POST", &s.url("/_admin/sync/reload"), None, Some("{}"));
    r.status(200);
    let v = r.value();
    let Some(Value::Array(sources)) = v.get("sources") else {
        panic!("{}", r.body)
    };
    let personas = sources
        .iter()
        .find(|s| field(s, "source").as_deref() == Some("personas"))
        .unwrap();
    assert_eq!(num(personas, "added"), Some(1), "{}", r.body);
    assert_eq!(num(personas, "deleted"), Some(0));
    get(&s, "/api/personas/reloaded")
        .0
        .eq(&200)
        .then_some(())
        .unwrap();
    // --watch is for a database; the JSON store reads the files themselves.
    p.jl(&["serve", "--watch", "--store", "json"])
        .code(2)
        .stderr_has("--store json reads the files themselves");
    // Without --watch there is no sync to show.
    drop(s);
    let plain = Server::start(&p, &[], &[]);
    call("GET", &plain.url("/_admin/sync"), None, None).status(404);
}

/// The audit entries of one record, as (action, actor).
fn audit_of(s: &Server, collection: &str, key: &str) -> Vec<(String, String)> {
    let (_, log) = get(
        s,
        &format!("/_admin/audit?collection={collection}&key={key}"),
    );
    let Value::Array(entries) = log else {
        panic!("audit: {log:?}")
    };
    entries
        .iter()
        .map(|e| {
            (
                field(e, "action").unwrap(),
                field(e, "actor").unwrap_or_default(),
            )
        })
        .collect()
}

#[test]
fn api_writes_to_a_watched_folder_go_to_the_files_first() {
    let p = example("personas", SYNC);
    let s = Server::start(&p, &["--watch"], &[]);
    let rel = "personas/lena-weber.json";
    let expected = renamed_text(&p, rel, "\"Lena Weber\"", "\"Via API\"");

    // An update: the file is rewritten in its own formatting, only the field changed.
    call(
        "PATCH",
        &s.url("/api/personas/lena-weber"),
        None,
        Some(r#"{"name": "Via API"}"#),
    )
    .status(200);
    assert_eq!(String::from_utf8(p.read(rel)).unwrap(), expected);

    // An insert: a new file, in the folder's style.
    call(
        "POST",
        &s.url("/api/personas"),
        None,
        Some(r#"{"id": "api-new", "name": "From API"}"#),
    )
    .status(201);
    assert_eq!(
        String::from_utf8(p.read("personas/api-new.json")).unwrap(),
        persona("api-new", "From API")
    );

    // A delete: the file goes.
    call("DELETE", &s.url("/api/personas/sam-rivera"), None, None).status(200);
    assert!(!p.path("personas/sam-rivera.json").exists());

    // The watcher sees those files change and does not apply them again: once a later edit
    // on disk is applied (events are taken in order), the API's records have no sync entry.
    p.write("personas/marker.json", persona("marker", "Marker"));
    wait_field(&s, "/api/personas/marker", "name", "Marker");
    wait_for("in sync", || {
        (field(&sync_state(&s), "state").as_deref() == Some("in sync")).then_some(())
    });
    for key in ["lena-weber", "api-new", "sam-rivera"] {
        let log = audit_of(&s, "personas", key);
        assert!(
            log.iter().all(|(_, actor)| actor != "sync"),
            "{key}: {log:?}"
        );
        assert_eq!(log.len(), 1, "{key}: {log:?}");
    }
    assert_eq!(s.stop(), Some(0));
    p.jl(&["verify"]).ok();
}

#[test]
fn an_api_write_over_a_file_changed_on_disk_is_a_conflict_and_changes_nothing() {
    // The watcher waits longer than the test: the disk edit stays unapplied.
    let p = example("personas", "[sync]\ndebounce_ms = 600000\n");
    let s = Server::start(&p, &["--watch"], &[]);
    let rel = "personas/lena-weber.json";
    let on_disk = renamed_text(&p, rel, "\"Lena Weber\"", "\"Edited on disk\"");
    p.write(rel, &on_disk);
    let r = call(
        "PATCH",
        &s.url("/api/personas/lena-weber"),
        None,
        Some(r#"{"name": "Via API"}"#),
    );
    r.status(409);
    assert!(r.body.contains("changed on disk"), "{}", r.body);
    assert_eq!(String::from_utf8(p.read(rel)).unwrap(), on_disk);
    wait_field(&s, "/api/personas/lena-weber", "name", "Lena Weber");
    // A new record whose file appeared on disk first: the same.
    p.write("personas/dup.json", persona("dup", "On disk"));
    call(
        "POST",
        &s.url("/api/personas"),
        None,
        Some(r#"{"id": "dup", "name": "From API"}"#),
    )
    .status(409);
    assert_eq!(
        String::from_utf8(p.read("personas/dup.json")).unwrap(),
        persona("dup", "On disk")
    );
    // Once the sync has applied the disk (a reload), the write goes through.
    call("POST", &s.url("/_admin/sync/reload"), None, Some("{}")).status(200);
    call(
        "PATCH",
        &s.url("/api/personas/lena-weber"),
        None,
        Some(r#"{"name": "Via API"}"#),
    )
    .status(200);
    assert_eq!(
        String::from_utf8(p.read(rel)).unwrap(),
        on_disk.replace("\"Edited on disk\"", "\"Via API\"")
    );
}

#[test]
fn api_writes_to_a_watched_single_file_rewrite_it_in_its_formatting() {
    let p = example("lernpfad", SYNC);
    let s = Server::start(&p, &["--watch"], &[]);
    let (_, list) = get(&s, "/api/courses");
    let Value::Array(list) = list else { panic!() };
    let id = field(&list[1], "id").unwrap();
    let title = field(&list[1], "title").unwrap();
    let expected = String::from_utf8(p.read("data/courses.json"))
        .unwrap()
        .replacen(&format!("\"{title}\""), "\"API title\"", 1);
    call(
        "PATCH",
        &s.url(&format!("/api/courses/{id}")),
        None,
        Some(r#"{"title": "API title"}"#),
    )
    .status(200);
    assert_eq!(
        String::from_utf8(p.read("data/courses.json")).unwrap(),
        expected
    );
    // Once a later edit on disk is applied, the course still has only the API's entry.
    let stats = String::from_utf8(p.read("data/stats.json")).unwrap();
    p.write(
        "data/stats.json",
        stats.replacen("\"xp\": ", "\"xp\": 9", 1),
    );
    wait_for("the stats edit", || {
        let (_, v) = get(&s, "/api/stats");
        let xp = num(&v, "xp")?;
        xp.to_string().starts_with('9').then_some(())
    });
    let log = audit_of(&s, "courses", &id);
    assert_eq!(log.len(), 1, "{log:?}");
    assert_ne!(log[0].1, "sync");
    assert_eq!(s.stop(), Some(0));
    p.jl(&["verify"]).ok();
}

#[test]
fn store_json_writes_folder_sources_file_by_file() {
    let p = example("personas", "");
    let s = Server::start(&p, &["--store", "json"], &[]);
    let rel = "personas/lena-weber.json";
    let expected = renamed_text(&p, rel, "\"Lena Weber\"", "\"JSON store\"");
    let untouched = p.read("personas/zhang-wei.json");
    call(
        "PATCH",
        &s.url("/api/personas/lena-weber"),
        None,
        Some(r#"{"name": "JSON store"}"#),
    )
    .status(200);
    assert_eq!(String::from_utf8(p.read(rel)).unwrap(), expected);
    call(
        "POST",
        &s.url("/api/personas"),
        None,
        Some(r#"{"id": "json-new", "name": "New"}"#),
    )
    .status(201);
    assert_eq!(
        String::from_utf8(p.read("personas/json-new.json")).unwrap(),
        persona("json-new", "New")
    );
    call("DELETE", &s.url("/api/personas/sam-rivera"), None, None).status(200);
    assert!(!p.path("personas/sam-rivera.json").exists());
    // A prompty file is written back as .prompty.
    call(
        "PATCH",
        &s.url("/api/prompts/persona-summary.prompty"),
        None,
        Some(r#"{"description": "changed"}"#),
    )
    .status(200);
    let prompty = String::from_utf8(p.read("prompts/persona-summary.prompty")).unwrap();
    assert!(prompty.starts_with("---"), "{prompty}");
    assert!(prompty.contains("description: changed"), "{prompty}");
    // The other files are not rewritten.
    assert_eq!(p.read("personas/zhang-wei.json"), untouched);
    drop(s);
    // The database, migrated again from the files, holds exactly what the API answered.
    p.jl(&["migrate", "--reimport"]).ok();
    p.jl(&["verify"]).ok();
}

#[test]
fn store_json_serves_the_other_records_when_one_file_is_broken() {
    let p = example("personas", "");
    p.write(
        "personas/broken.json",
        "{\n  \"id\": \"broken\",\n  \"name\": \n}\n",
    );
    let s = Server::start(&p, &["--store", "json"], &[]);
    let (st, list) = get(&s, "/api/personas");
    assert_eq!(st, 200, "{list:?}");
    let Value::Array(list) = list else { panic!() };
    assert_eq!(list.len(), 5);
    wait_field(&s, "/api/personas/lena-weber", "name", "Lena Weber");
    call("GET", &s.url("/api/prompts"), None, None).status(200);
    // Reported in the log with its place.
    assert!(s.log().contains("personas/broken.json:4:1"), "{}", s.log());
    // Writes to the other records work; the broken file is neither overwritten nor deleted.
    call(
        "PATCH",
        &s.url("/api/personas/lena-weber"),
        None,
        Some(r#"{"name": "Still writable"}"#),
    )
    .status(200);
    call(
        "POST",
        &s.url("/api/personas"),
        None,
        Some(r#"{"id": "broken", "name": "Over it"}"#),
    )
    .status(409);
    assert_eq!(
        p.read("personas/broken.json"),
        b"{\n  \"id\": \"broken\",\n  \"name\": \n}\n"
    );
}

#[test]
fn store_json_sees_a_folder_file_edited_in_place_before_writing() {
    let p = example("personas", "");
    let s = Server::start(&p, &["--store", "json"], &[]);
    wait_field(&s, "/api/personas/lena-weber", "name", "Lena Weber");
    // Edited in place by someone else (the folder itself does not change).
    let rel = "personas/lena-weber.json";
    let edited = renamed_text(&p, rel, "\"Lena Weber\"", "\"Edited by hand\"");
    fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(p.path(rel))
        .and_then(|mut f| std::io::Write::write_all(&mut f, edited.as_bytes()))
        .unwrap();
    wait_field(&s, "/api/personas/lena-weber", "name", "Edited by hand");
    // A patch of another field keeps the hand edit.
    call(
        "PATCH",
        &s.url("/api/personas/lena-weber"),
        None,
        Some(r#"{"role": "Patched"}"#),
    )
    .status(200);
    let now = String::from_utf8(p.read(rel)).unwrap();
    assert!(now.contains("\"Edited by hand\""), "{now}");
    assert!(now.contains("\"Patched\""), "{now}");
}

#[test]
fn serve_migrate_watch_starts_on_files_edited_since_the_migration() {
    let p = example("personas", SYNC);
    let text = renamed_text(
        &p,
        "personas/lena-weber.json",
        "\"Lena Weber\"",
        "\"Since\"",
    );
    p.write("personas/lena-weber.json", &text);
    // `migrate` alone refuses (the sources changed); with --watch the initial sync applies them.
    let s = Server::start(&p, &["--migrate", "--watch"], &[]);
    wait_field(&s, "/api/personas/lena-weber", "name", "Since");
}

/// Issue #15: a restore while `serve --watch` runs replaces the database under the sync. The
/// sync must not go on taking the files as held by the database: it compares them with the
/// restored one, and the files (the source of truth) win where they differ.
#[test]
fn a_restore_under_watch_compares_the_files_with_the_restored_database() {
    let p = example("personas", SYNC);
    let s = Server::start(&p, &["--watch"], &[]);
    wait_for("the initial sync", || {
        (field(&sync_state(&s), "state").as_deref() == Some("in sync")).then_some(())
    });
    call("POST", &s.url("/_admin/backups"), None, Some("{}")).status(201);
    let text = renamed_text(
        &p,
        "personas/lena-weber.json",
        "\"Lena Weber\"",
        "\"Lena After Backup\"",
    );
    p.write("personas/lena-weber.json", &text);
    wait_field(&s, "/api/personas/lena-weber", "name", "Lena After Backup");
    // The backup holds "Lena Weber"; the file keeps "Lena After Backup".
    let r = call("POST", &s.url("/_admin/restore"), None, Some("{}"));
    r.status(200);
    assert!(
        field(&r.value(), "sync").is_some_and(|l| l.contains("personas: 0 added, 1 changed")),
        "{}",
        r.body
    );
    let (_, v) = get(&s, "/api/personas/lena-weber");
    assert_eq!(field(&v, "name").as_deref(), Some("Lena After Backup"));
    assert_eq!(field(&sync_state(&s), "state").as_deref(), Some("in sync"));
    // The sync goes on from the restored database.
    p.write("personas/neu.json", persona("neu", "Neu Person"));
    wait_field(&s, "/api/personas/neu", "name", "Neu Person");
    assert_eq!(s.stop(), Some(0));
    p.jl(&["verify"]).ok();
}

/// A watched record's `ETag` changes when its file changes on disk (issue #18): a write that
/// names the version read before the edit answers 412 and changes nothing; one naming the new
/// version goes through to the file.
#[test]
fn serve_watch_etag_follows_the_file() {
    use crate::serve::call_with;
    let (p, s) = personas_in_sync();
    let url = s.url("/api/personas/lena-weber");
    let etag = |r: &crate::serve::Resp| r.header("etag").expect("an ETag").to_string();
    let old = etag(&call("GET", &url, None, None));

    let text = rename_lena_on_disk(&p, &s);
    let new = etag(&call("GET", &url, None, None));
    assert_ne!(new, old, "the file changed, so did the record's version");

    let r = call_with(
        "PATCH",
        &url,
        None,
        Some(r#"{"name": "Lena Stale"}"#),
        &[("If-Match", &old)],
    );
    assert_eq!(r.status, 412, "{}", r.body);
    assert_eq!(
        String::from_utf8(p.read("personas/lena-weber.json")).unwrap(),
        text
    );
    call_with(
        "PATCH",
        &url,
        None,
        Some(r#"{"name": "Lena Fresh"}"#),
        &[("If-Match", &new)],
    )
    .status(200);
    let file = String::from_utf8(p.read("personas/lena-weber.json")).unwrap();
    assert!(file.contains("Lena Fresh"), "{file}");
}
