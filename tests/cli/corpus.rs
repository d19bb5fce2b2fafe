//! The hostile input corpus: every case under `tests/corpus/<case>/` (a `jsonlift.toml`, the
//! data, and `expect.toml` saying what must happen) goes through `check`, `migrate`,
//! `migrate --dry-run` and `init` of the real binary. A refused case must exit 1 or 2 (never 101
//! or a signal), never panic, name the file (and the line:column when `at` is given) and write
//! nothing: no database, no backup folder, no `jsonlift.toml` from `init`, sources untouched. An
//! accepted case (`accept = true`: valid JSON at the edges) must check, migrate, verify, and
//! export the same value (key order, number spellings, BOM).
//!
//! Inputs too big or too dynamic to commit are made here: 100 000 levels of nesting, a 100 MB
//! string, symlinks leaving a folder source, and a source rewritten while it is migrated.
//!
//! `expect.toml` keys: `why` (what the case is), `file` (the file the message names), `at`
//! (`"line:col"`), `says` (a fragment of the message, any case), `exit` (accepted codes,
//! default `[1, 2]`), `init` (`"refused"` or `"written"`: JSON that is valid but breaks the
//! case's project file is fine for `init`), `accept`.

use std::fs;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::util::*;

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus")
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Expect {
    why: String,
    #[serde(default)]
    accept: bool,
    file: Option<String>,
    at: Option<String>,
    says: Option<String>,
    exit: Option<Vec<i32>>,
    init: String,
}

/// A project holding a copy of `case` (without `expect.toml`).
fn project_of(case: &Path) -> Project {
    let p = Project::empty();
    copy_tree(case, &p.root);
    let _ = fs::remove_file(p.path("expect.toml"));
    p
}

/// The failures of one command on one case, as text (empty: fine). Collected rather than
/// asserted one by one, so one run shows every case that misbehaves.
fn refused_properly(r: &Run, e: &Expect) -> Vec<String> {
    let mut bad = Vec::new();
    let codes = e.exit.clone().unwrap_or_else(|| vec![1, 2]);
    if !r.code.is_some_and(|c| codes.contains(&c)) {
        bad.push(format!("exit {:?}, want one of {codes:?}", r.code));
    }
    if r.stderr.contains("panicked") {
        bad.push("panicked".into());
    }
    let file = e.file.as_deref().unwrap_or("");
    let place = match &e.at {
        Some(at) => format!("{file}:{at}:"),
        None => file.to_string(),
    };
    let line = r.stderr.lines().find(|l| l.contains(&place));
    match line {
        None => bad.push(format!("stderr does not name {place:?}")),
        Some(l) => {
            if let Some(s) = &e.says
                && !r.stderr.to_lowercase().contains(&s.to_lowercase())
            {
                bad.push(format!("message does not say {s:?}: {l}"));
            }
        }
    }
    bad
}

/// Nothing was written by a refused command.
fn nothing_written(p: &Project, snap: &Snapshot) -> Vec<String> {
    let mut bad = Vec::new();
    let dbs: Vec<String> = list_files(&p.root)
        .into_iter()
        .filter(|f| is_db_file(f) || f.contains("jsonlift-tmp"))
        .collect();
    if !dbs.is_empty() {
        bad.push(format!("database files left: {dbs:?}"));
    }
    if p.path(".jsonlift").exists() && !list_files(&p.path(".jsonlift")).is_empty() {
        bad.push(".jsonlift/ holds files".into());
    }
    let now = p.snapshot();
    if now.files.len() != snap.files.len()
        || now
            .files
            .iter()
            .zip(&snap.files)
            .any(|(a, b)| a.0 != b.0 || a.1.0 != b.1.0 || a.1.1 != b.1.1)
    {
        bad.push("project files changed".into());
    }
    bad
}

fn run_case(case: &Path) -> Vec<String> {
    let name = case.file_name().unwrap().to_string_lossy().into_owned();
    let text = fs::read_to_string(case.join("expect.toml")).unwrap();
    let e: Expect = toml::from_str(&text).unwrap_or_else(|err| panic!("{name}/expect.toml: {err}"));
    let mut failures = Vec::new();
    let mut note = |what: &str, r: Option<&Run>, bad: Vec<String>| {
        for b in bad {
            let detail = r.map_or(String::new(), |r| {
                format!(" [exit {:?}] stderr: {}", r.code, r.stderr.trim())
            });
            failures.push(format!("{name} ({}): {what}: {b}{detail}", e.why));
        }
    };

    let p = project_of(case);
    if e.accept {
        for args in [&["check"][..], &["migrate"], &["verify"]] {
            let r = p.jl(args);
            let mut bad = Vec::new();
            if r.code != Some(0) {
                bad.push(format!("exit {:?}, want 0", r.code));
            }
            note(&args.join(" "), Some(&r), bad);
        }
        if p.db_path().exists() {
            let out = p.outside("export");
            let r = p.jl(&["export", "--out", &out.display().to_string()]);
            let mut bad = Vec::new();
            for rel in list_files(&p.root) {
                if is_db_file(&rel) || rel.starts_with(".jsonlift/") || rel == "jsonlift.toml" {
                    continue;
                }
                // The same value (key order and number spellings included) and the same BOM;
                // the layout of hand-written files need not come back byte for byte.
                let orig = p.read(&rel);
                match fs::read(out.join(&rel)) {
                    Err(err) => bad.push(format!("{rel} was not exported: {err}")),
                    Ok(back) if back == orig => {}
                    Ok(back) => {
                        if back.starts_with(b"\xEF\xBB\xBF") != orig.starts_with(b"\xEF\xBB\xBF")
                            || parse_json(&back) != parse_json(&orig)
                        {
                            bad.push(format!(
                                "{rel} does not come back as the same value:\n{}",
                                String::from_utf8_lossy(&back)
                            ));
                        }
                    }
                }
            }
            note("export", Some(&r), bad);
        }
    } else {
        let snap = p.snapshot();
        for args in [&["check"][..], &["migrate"], &["migrate", "--dry-run"]] {
            let r = p.jl(args);
            let mut bad = refused_properly(&r, &e);
            bad.extend(nothing_written(&p, &snap));
            note(&args.join(" "), Some(&r), bad);
        }
    }

    // init on the data alone.
    let q = project_of(case);
    fs::remove_file(q.config()).unwrap();
    let snap = q.snapshot();
    let r = q.jl_raw(&q.cwd, &["init".into(), q.root.display().to_string()]);
    let mut bad = Vec::new();
    if r.stderr.contains("panicked") {
        bad.push("panicked".into());
    }
    match e.init.as_str() {
        "written" => {
            if r.code != Some(0) || !q.config().exists() {
                bad.push(format!("exit {:?}, want 0 and a project file", r.code));
            }
        }
        "refused" => {
            if !r.code.is_some_and(|c| c == 1 || c == 2) {
                bad.push(format!("exit {:?}, want 1 or 2", r.code));
            }
            if q.config().exists() {
                bad.push("wrote jsonlift.toml".into());
            }
            if let Some(f) = &e.file
                && !r.stderr.contains(f.as_str())
            {
                bad.push(format!("stderr does not name {f}"));
            }
            bad.extend(nothing_written(&q, &snap));
        }
        other => panic!("{name}/expect.toml: init = {other:?}"),
    }
    note("init", Some(&r), bad);
    failures
}

#[test]
fn every_corpus_case_is_refused_cleanly_or_round_trips() {
    let mut cases: Vec<PathBuf> = fs::read_dir(corpus_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    cases.sort();
    assert!(cases.len() >= 60, "the corpus has {} cases", cases.len());
    let failures: Vec<String> = cases.iter().flat_map(|c| run_case(c)).collect();
    assert!(
        failures.is_empty(),
        "{} failure(s):\n{}",
        failures.len(),
        failures.join("\n")
    );
}

// ---------------------------------------------------------------------------------------------
// Inputs made at test time
// ---------------------------------------------------------------------------------------------

const ITEMS: &str = r#"
[collections.items]
source = "items.json"
key = "id"

[collections.items.fields]
id = "text"
name = "text"
"#;

/// Runs `check`, `migrate`, `migrate --dry-run` and `init` on a project that must be refused,
/// and asserts the common promises: exit 1 or 2, no panic, `place` named, nothing written.
#[track_caller]
fn assert_refused_everywhere(p: &Project, place: &str, says: &str) {
    let e = Expect {
        why: String::new(),
        accept: false,
        file: Some(place.to_string()),
        at: None,
        says: Some(says.to_string()),
        exit: None,
        init: "refused".into(),
    };
    let snap = p.snapshot();
    for args in [&["check"][..], &["migrate"], &["migrate", "--dry-run"]] {
        let r = p.jl(args);
        let mut bad = refused_properly(&r, &e);
        bad.extend(nothing_written(p, &snap));
        assert!(bad.is_empty(), "{args:?}: {bad:?}\n{r:#?}");
    }
}

/// `init` on a copy of the project's data without its project file: refused, naming `place`,
/// writing nothing.
#[track_caller]
fn assert_init_refuses(p: &Project, place: &str) {
    let q = Project::empty();
    copy_tree(&p.root, &q.root);
    let _ = fs::remove_file(q.config());
    let snap = q.snapshot();
    let r = q.jl_raw(&q.cwd, &["init".into(), q.root.display().to_string()]);
    r.code_in(&[1, 2]);
    assert!(!r.stderr.contains("panicked"), "{r:#?}");
    assert!(r.stderr.contains(place), "init should name {place}\n{r:#?}");
    assert!(!q.config().exists(), "init wrote a project file\n{r:#?}");
    assert!(nothing_written(&q, &snap).is_empty(), "{r:#?}");
}

#[test]
fn nesting_100_000_levels_deep_is_refused_at_the_depth_limit_without_overflowing_the_stack() {
    for (open, close) in [("[", "]"), ("{\"a\": ", "}")] {
        let p = Project::new(ITEMS);
        let deep = format!(
            "[\n  {{\"id\": \"a\", \"name\": \"x\", \"deep\": {}1{}}}\n]\n",
            open.repeat(100_000),
            close.repeat(100_000)
        );
        p.write("items.json", &deep);
        // Depth 1 is the array, 2 the record: the 127th bracket of "deep" opens level 129
        // (for "[", occurrence 0 is the outer array).
        let (line, col) = if open == "[" {
            locate(deep.as_bytes(), b"[", 127)
        } else {
            locate(deep.as_bytes(), b"{\"a\"", 126)
        };
        assert_refused_everywhere(&p, &format!("items.json:{line}:{col}:"), "deep");
        assert_init_refuses(&p, "items.json");
    }
    // The same at the top level, where no record has begun.
    let p = Project::new(ITEMS);
    p.write(
        "items.json",
        format!("{}{}", "[".repeat(100_000), "]".repeat(100_000)),
    );
    assert_refused_everywhere(&p, "items.json:1:", "deep");
}

#[test]
fn a_100_mb_string_migrates_and_verifies_with_memory_bounded_by_the_record() {
    let p = Project::new(ITEMS);
    let mut data = Vec::with_capacity(100 << 20);
    data.extend_from_slice(b"[\n  {\"id\": \"big\", \"name\": \"");
    data.resize(data.len() + (100 << 20), b'x');
    data.extend_from_slice("\u{e4}\"},\n  {\"id\": \"small\", \"name\": \"y\"}\n]\n".as_bytes());
    p.write("items.json", &data);
    drop(data);
    p.jl(&["check"]).ok();
    p.migrate_ok();
    p.jl(&["verify"]).ok();
    assert_eq!(
        q1(&p.db(), "SELECT length(name) FROM items WHERE id = 'big'"),
        ((100 << 20) + 1).to_string()
    );
}

#[test]
fn a_symlink_leaving_a_folder_source_is_refused_and_not_followed() {
    let p = Project::new(
        r#"
[collections.notes]
source = "notes"
format = "folder"
recursive = true

[collections.notes.fields]
title = "text"
"#,
    );
    p.write("notes/a.json", "{\"title\": \"A\"}\n");
    let secret = p.outside("secret.json");
    fs::write(&secret, "{\"title\": \"secret\"}\n").unwrap();
    std::os::unix::fs::symlink(&secret, p.path("notes/evil.json")).unwrap();
    assert_refused_everywhere(&p, "notes/evil.json", "leaves the source folder");

    // `..` as a folder link: the parent of the source folder.
    fs::remove_file(p.path("notes/evil.json")).unwrap();
    std::os::unix::fs::symlink("..", p.path("notes/up")).unwrap();
    assert_refused_everywhere(&p, "notes/up", "leaves the source folder");

    // `init` walks the same tree: it must end, and never take the links' targets as data.
    std::os::unix::fs::symlink(&secret, p.path("notes/evil.json")).unwrap();
    let q = Project::empty();
    copy_tree(&p.root, &q.root);
    fs::remove_file(q.config()).unwrap();
    let r = q.jl_raw(&q.cwd, &["init".into(), q.root.display().to_string()]);
    r.code_in(&[0, 1, 2]);
    assert!(!r.stderr.contains("panicked"), "{r:#?}");
    if let Ok(toml) = fs::read_to_string(q.config()) {
        assert!(
            !toml.contains("secret"),
            "init read through a link:\n{toml}"
        );
    }
}

/// Starts `migrate` and calls `act` once it announces `phase`; returns the run's exit code and
/// stderr.
fn migrate_acting_at(p: &Project, phase: &str, act: impl FnOnce()) -> (Option<i32>, String) {
    use std::io::{BufRead, BufReader};
    let mut child = std::process::Command::new(BIN)
        .args(["migrate", "-c"])
        .arg(p.config())
        .current_dir(&p.cwd)
        .env("JSONLIFT_LOG", "jsonlift::phase=info")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut act = Some(act);
    let mut stderr = String::new();
    for line in BufReader::new(child.stderr.take().unwrap()).lines() {
        let line = line.unwrap();
        if line.ends_with(&format!("jsonlift::phase: {phase}"))
            && let Some(a) = act.take()
        {
            a();
        }
        stderr.push_str(&line);
        stderr.push('\n');
    }
    (child.wait().unwrap().code(), stderr)
}

fn people(tag: &str, n: usize) -> String {
    let recs: Vec<String> = (0..n)
        .map(|i| format!("  {{\"id\": \"p{i}\", \"name\": \"{tag} {i}\"}}"))
        .collect();
    format!("[\n{}\n]\n", recs.join(",\n"))
}

#[test]
fn a_source_changed_while_it_is_backed_up_is_refused_or_loaded_whole() {
    // The change lands just as the backup starts, or as the load starts (a file source is
    // loaded from its copy block by block while the copy is written). A new database has
    // nothing to compare with, so the sources are hashed once, while backed up: whichever whole
    // version the backup holds is what is loaded. Should the file change during the copy,
    // migrate refuses and leaves nothing.
    for phase in ["backup", "load", "backup", "load", "backup", "load"] {
        let p = Project::new(ITEMS);
        let old = people("old", 20_000);
        let new = people("new", 20_000);
        p.write("items.json", &old);
        let (code, stderr) = migrate_acting_at(&p, phase, || {
            p.write("items.json", &new);
        });
        assert!(!stderr.contains("panicked"), "{stderr}");
        match code {
            Some(0) => {
                let backup = p.backups().pop().unwrap();
                let loaded = fs::read(backup.join("files/items.json")).unwrap();
                assert!(loaded == old.as_bytes() || loaded == new.as_bytes());
                p.write("items.json", &loaded);
                p.jl(&["verify"]).ok();
            }
            Some(1) => {
                // The writer here truncates, then writes (not atomically): the copy may read
                // the file changed, or half written, which is refused as the broken JSON it is.
                assert!(
                    stderr.contains("items.json")
                        && (stderr.contains("changed") || stderr.contains("nothing was written")),
                    "{stderr}"
                );
                p.assert_no_db();
                p.assert_no_backups();
            }
            other => panic!("exit {other:?}\n{stderr}"),
        }
    }
}

#[test]
fn a_source_rewritten_in_place_during_migrate_is_never_loaded_half_old_half_new() {
    // A writer truncates and rewrites the file in two halves, over and over: the file is often
    // torn. Each migrate must load one whole version or refuse, leaving nothing.
    // With the format given, an empty moment of the file is a problem in it (exit 1), not a
    // format that cannot be guessed (exit 2).
    let p = Project::new(&ITEMS.replace("key = \"id\"", "key = \"id\"\nformat = \"array\""));
    let versions = [people("one", 5000), people("two", 5000)];
    p.write("items.json", &versions[0]);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let (stop, path, versions) = (stop.clone(), p.path("items.json"), versions.clone());
        std::thread::spawn(move || {
            use std::io::Write;
            let mut n = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let v = versions[n % 2].as_bytes();
                let mut f = fs::File::create(&path).unwrap();
                f.write_all(&v[..v.len() / 2]).unwrap();
                std::thread::sleep(std::time::Duration::from_millis(1));
                f.write_all(&v[v.len() / 2..]).unwrap();
                drop(f);
                std::thread::sleep(std::time::Duration::from_millis(2));
                n += 1;
            }
        })
    };
    let mut outcomes = Vec::new();
    for _ in 0..8 {
        let _ = fs::remove_file(p.db_path());
        let _ = fs::remove_dir_all(p.path(".jsonlift"));
        let r = p.jl(&["migrate"]);
        assert!(!r.stderr.contains("panicked"), "{r:#?}");
        r.code_in(&[0, 1]);
        if r.code == Some(0) {
            // Exactly one version: the names all carry the same tag.
            let tags = q(&p.db(), "SELECT DISTINCT substr(name, 1, 3) FROM items");
            assert_eq!(tags.len(), 1, "a mix of versions was loaded: {tags:?}");
            assert_eq!(q1(&p.db(), "SELECT count(*) FROM items"), "5000");
            outcomes.push("loaded");
        } else {
            assert!(!p.db_path().exists(), "{r:#?}");
            let left: Vec<_> = p.backups();
            assert!(
                left.is_empty(),
                "a refused migrate left backups {left:?}\n{r:#?}"
            );
            outcomes.push("refused");
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    writer.join().unwrap();
    println!("rewritten during migrate: {outcomes:?}");
}

#[test]
fn a_broken_source_stops_its_own_copy_feed_and_no_other() {
    // Each file source is read from its backup copy as the copy is written. The first source
    // breaks early, so its reader stops long before its copy ends; the copy must still finish
    // on its own and the second source must load from its copy untroubled: the only problem
    // reported is the real one, and nothing is left behind.
    let p = Project::new(
        r#"
[collections.a]
source = "a.json"
key = "id"
[collections.a.fields]
id = "text"
name = "text"

[collections.b]
source = "b.json"
key = "id"
[collections.b.fields]
id = "text"
name = "text"
"#,
    );
    let big = people("x", 60_000);
    p.write("a.json", big.replacen("\"name\"", "\"name\" oops", 1));
    p.write("b.json", &big);
    let r = p.jl(&["migrate"]);
    assert_eq!(r.code, Some(1), "{}", r.stderr);
    assert!(r.stderr.contains("a.json:2:"), "{}", r.stderr);
    assert!(
        r.stderr.contains("read b.json: 60000 records"),
        "{}",
        r.stderr
    );
    assert!(
        !r.stderr.lines().any(|l| l.starts_with("b.json")),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains("backup"), "{}", r.stderr);
    p.assert_no_db();
    p.assert_no_backups();
    // Fixed, the same project migrates, and the backup holds both files whole.
    p.write("a.json", &big);
    p.jl(&["migrate"]).ok();
    let backup = p.backups().pop().unwrap();
    for f in ["a.json", "b.json"] {
        assert_eq!(
            fs::read(backup.join("files").join(f)).unwrap(),
            big.as_bytes()
        );
    }
}
