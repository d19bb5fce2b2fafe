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
