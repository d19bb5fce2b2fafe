//! Every example project in `examples/*/jsonlift.toml` must check, migrate, verify and export
//! back to byte-identical files. Examples are discovered at test time; none at all is a failure.

use std::fs;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

use crate::util::*;

/// `*` and `?` wildcards over a file name.
fn glob(pattern: &[u8], name: &[u8]) -> bool {
    match (pattern.first(), name.first()) {
        (None, None) => true,
        (Some(b'*'), _) => {
            glob(&pattern[1..], name) || (!name.is_empty() && glob(pattern, &name[1..]))
        }
        (Some(b'?'), Some(_)) => glob(&pattern[1..], &name[1..]),
        (Some(a), Some(b)) if a == b => glob(&pattern[1..], &name[1..]),
        _ => false,
    }
}

/// The source files of a project (relative paths), read from its jsonlift.toml the way the
/// contract describes: a file source is itself; a folder source is the files matching its
/// pattern (default `*.json`, `*.prompty` for prompty folders), recursively if asked.
pub fn source_files(root: &Path, config: &toml::Table) -> Vec<String> {
    let mut out = Vec::new();
    let Some(cols) = config.get("collections").and_then(|c| c.as_table()) else {
        return out;
    };
    for (_, c) in cols {
        let Some(src) = c.get("source").and_then(|s| s.as_str()) else {
            continue;
        };
        let path = root.join(src);
        if path.is_dir() {
            let recursive = c
                .get("recursive")
                .and_then(|v| v.as_bool())
                .unwrap_or(false);
            let all = list_files(&path);
            let all: Vec<&String> = all
                .iter()
                .filter(|f| recursive || !f.contains('/'))
                .collect();
            let format = c.get("format").and_then(|v| v.as_str());
            let prompty = format == Some("prompty")
                || (format.is_none() && all.iter().any(|f| f.ends_with(".prompty")));
            let default = if prompty { "*.prompty" } else { "*.json" };
            let pattern = c.get("pattern").and_then(|v| v.as_str()).unwrap_or(default);
            for f in all {
                let name = f.rsplit('/').next().unwrap();
                if glob(pattern.as_bytes(), name.as_bytes()) {
                    out.push(format!("{}/{f}", src.trim_end_matches('/')));
                }
            }
        } else {
            out.push(src.to_string());
        }
    }
    out.sort();
    out.dedup();
    out
}

fn run_example(dir: &Path) {
    let p = Project::empty();
    copy_tree(dir, &p.root);
    let text = fs::read_to_string(p.config()).unwrap();
    let config: toml::Table = text
        .parse()
        .expect("example jsonlift.toml is not valid TOML");
    let mut p = p;
    if let Some(db) = config.get("database").and_then(|d| d.as_str()) {
        p.db_rel = db.to_string();
    }
    let sources = source_files(&p.root, &config);
    assert!(!sources.is_empty(), "no sources found in {}", dir.display());
    let snap = p.snapshot();

    p.jl(&["check"]).ok();
    p.migrate_ok();
    assert!(
        p.db_path().exists(),
        "no database at {}",
        p.db_path().display()
    );
    assert_db_sound(&p.db());
    p.jl(&["verify"]).ok();
    let out = p.export();

    // Every source comes back, byte for byte ...
    for s in &sources {
        assert_exported_identical(&p, &out, s);
    }
    // ... and nothing else is written, and nothing exported differs from the original.
    for f in list_files(&out) {
        assert!(
            p.path(&f).is_file(),
            "export wrote {f}, which is not in the example"
        );
        assert_exported_identical(&p, &out, &f);
    }
    p.jl(&["migrate"]).ok().stdout_has("already migrated");
    p.assert_unchanged(&snap);
}

#[test]
fn every_example_round_trips_byte_identically() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let mut examples: Vec<PathBuf> = fs::read_dir(&root)
        .map(|rd| {
            rd.map(|e| e.unwrap().path())
                .filter(|d| d.join("jsonlift.toml").is_file())
                .collect()
        })
        .unwrap_or_default();
    examples.sort();
    assert!(
        !examples.is_empty(),
        "no examples/*/jsonlift.toml found under {}",
        root.display()
    );

    let mut failures = Vec::new();
    for ex in &examples {
        if let Err(e) = catch_unwind(AssertUnwindSafe(|| run_example(ex))) {
            let msg = e
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            failures.push(format!("== {} ==\n{msg}", ex.display()));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} examples failed:\n{}",
        failures.len(),
        examples.len(),
        failures.join("\n\n")
    );
}

#[test]
fn glob_matches_like_the_contract() {
    assert!(glob(b"*.json", b"a.json"));
    assert!(!glob(b"*.json", b"a.json.bak"));
    assert!(glob(b"p?.json", b"p1.json"));
    assert!(!glob(b"*.prompty", b"a.json"));
}
