//! Databases every client can use (issue #13): each example is migrated by the real binary and
//! then used the way a Python app uses it, with the machine's own SQLite (Python's stdlib
//! `sqlite3`, 3.40 on Debian 12, older than the SQLite jsonlift bundles) and SQLAlchemy. The
//! checks are in `interop.py`, one line each: integrity and foreign keys, NULL in every nullable
//! column, a dump restored row for row, automap inserting parents with children, and the models
//! of `jsonlift codegen sqlalchemy` loading every row and relationship and inserting through
//! them. On PostgreSQL (`JSONLIFT_TEST_POSTGRES`), `interop_pg.py` checks the models generated
//! for each example migrated into a schema of its own: they map every table as the database
//! has it, load every row and relationship as SQL counts them, and insert parents with
//! children. Python packages come from a venv made once under the target dir; without
//! `python3` (or the server) the tests say loudly that they skipped.

use std::fmt::Write;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use crate::util::*;

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/cli/interop.py");

const SCRIPT_PG: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/cli/interop_pg.py");

/// The packages the checks import; `jsonschema` is for the JSON Schema target's checks,
/// psycopg (3, with its own libpq) for the models on PostgreSQL.
const PACKAGES: &[&str] = &[
    "sqlalchemy>=2.0,<3",
    "jsonschema",
    "psycopg[binary]>=3.1,<4",
];

/// A venv with [`PACKAGES`] under the target dir (made once; the other tests wait for it, and
/// it counts only once pip has finished: its marker file). `None` without `python3`.
fn python() -> Option<PathBuf> {
    static INSTALL: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one_at_a_time = INSTALL.lock().unwrap_or_else(|e| e.into_inner());
    let found = Command::new("python3")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        return None;
    }
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("interop-venv");
    let bin = dir.join("bin/python");
    let done = dir.join("installed");
    let want = PACKAGES.join("\n") + "\n";
    if fs::read_to_string(&done).ok().as_deref() != Some(want.as_str()) {
        let start = Instant::now();
        let _ = fs::remove_dir_all(&dir);
        let out = Command::new("python3")
            .args(["-m", "venv"])
            .arg(&dir)
            .output()
            .expect("run python3 -m venv");
        assert!(
            out.status.success(),
            "python3 -m venv {} failed (Debian: apt-get install python3-venv):\n{}",
            dir.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        let out = Command::new(&bin)
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
            ])
            .args(PACKAGES)
            .output()
            .expect("run pip");
        assert!(
            out.status.success(),
            "pip install {} failed:\n{}",
            PACKAGES.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
        fs::write(&done, want).unwrap();
        eprintln!(
            "interop: venv with {} made in {:.1?}",
            PACKAGES.join(", "),
            start.elapsed()
        );
    }
    Some(bin)
}

fn skipped(what: &str) {
    eprintln!(
        "!!!!!!!! SKIPPED {what}: no python3 on PATH, so nothing was checked against the system \
         SQLite and SQLAlchemy !!!!!!!!"
    );
}

/// Migrates `p`, writes its models, and runs the Python checks on the database. `Err` holds
/// the failed checks' lines (and the script's output, for the details).
fn check(python: &Path, p: &Project) -> Result<String, String> {
    p.migrate_ok();
    let models = p.outside("models.py");
    p.jl(&[
        "codegen",
        "sqlalchemy",
        "--out",
        &models.display().to_string(),
    ])
    .ok();
    let mut cmd = Command::new(python);
    cmd.arg(SCRIPT)
        .arg(p.db_path())
        .arg(&models)
        .arg(p.outside("interop-work"));
    let run = run_command(cmd, format!("python interop.py {}", p.db_path().display()));
    let failed: Vec<&str> = run
        .stdout
        .lines()
        .filter(|l| l.starts_with("FAIL"))
        .collect();
    let passed = run.stdout.lines().filter(|l| l.starts_with("PASS")).count();
    if run.code == Some(0) && failed.is_empty() && passed == 5 {
        return Ok(run.stdout);
    }
    // The failed checks' lines say what broke; the rest of the output only when a check did
    // not report at all (the script died) or Python printed a traceback.
    let mut msg = failed.join("\n");
    if failed.len() + passed < 5 {
        let _ = write!(msg, "\n--- stdout ---\n{}", run.stdout);
    }
    if !run.stderr.trim().is_empty() {
        let _ = write!(msg, "\n--- stderr ---\n{}", run.stderr);
    }
    Err(format!(
        "{msg}\n({passed} of 5 checks passed, exit {:?})",
        run.code
    ))
}

/// Runs [`check`] on each project and fails with every failure at once.
fn check_all(projects: Vec<(String, Project)>) {
    let Some(python) = python() else {
        skipped("interop");
        return;
    };
    let mut failures = Vec::new();
    for (name, p) in &projects {
        let start = Instant::now();
        match check(&python, p) {
            Ok(out) => {
                let info = out.lines().next().unwrap_or_default();
                eprintln!("interop: {name} ok in {:.1?} ({info})", start.elapsed());
            }
            Err(e) => failures.push(format!("== {name} ==\n{e}")),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} projects fail with Python's sqlite3 / SQLAlchemy:\n{}",
        failures.len(),
        projects.len(),
        failures.join("\n\n")
    );
}

fn example(dir: &Path) -> Project {
    let mut p = Project::empty();
    copy_tree(dir, &p.root);
    let config: toml::Table = fs::read_to_string(p.config())
        .unwrap()
        .parse()
        .expect("example jsonlift.toml is not valid TOML");
    if let Some(db) = config.get("database").and_then(|d| d.as_str()) {
        p.db_rel = db.to_string();
    }
    p
}

#[test]
fn every_example_works_with_python_clients() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let mut dirs: Vec<PathBuf> = fs::read_dir(&root)
        .map(|rd| {
            rd.map(|e| e.unwrap().path())
                .filter(|d| d.join("jsonlift.toml").is_file())
                .collect()
        })
        .unwrap_or_default();
    dirs.sort();
    assert!(
        !dirs.is_empty(),
        "no examples/*/jsonlift.toml under {}",
        root.display()
    );
    check_all(
        dirs.iter()
            .map(|d| {
                (
                    d.file_name().unwrap().to_string_lossy().into_owned(),
                    example(d),
                )
            })
            .collect(),
    );
}

/// Names Python would trip on: a field `class`, `_id` next to `id`, a column with a space, a
/// table named like an import, a reference to another collection, a document with children,
/// TinyDB documents without a key field and a list of ids (a join table by `references`).
const AWKWARD_TOML: &str = r#"
database = "awkward.db"

[collections.Text]
source = "text.json"

[collections.Text.fields]
id = { type = "integer", required = true }
class = "text"
"my col" = { type = "text", column = "my col" }
metadata = "json"
tagIds = { type = "array", of = "integer", table = "text_tags", references = "tags.id" }

[collections.Text.fields.lines]
type = "array"
table = "text_lines"
position_column = "from"

[collections.Text.fields.lines.fields]
str = { type = "text", required = true }
import = { type = "json", required = true }

[collections.tags]
source = "db.json"
format = "tinydb"
member = "_default"

[collections.tags.fields]
id = { type = "integer", required = true, unique = true }
label = "text"

[collections.settings]
source = "settings.json"
format = "document"

[collections.settings.fields.themes]
type = "array"
of = "text"
table = "settings_themes"
"#;

#[test]
fn shared_entities_and_awkward_names_work_with_python_clients() {
    let mut films = Project::new(crate::shared::TOML);
    films.db_rel = "films.db".into();
    films.write("series.json", crate::shared::SERIES);

    let mut awkward = Project::new(AWKWARD_TOML);
    awkward.db_rel = "awkward.db".into();
    awkward.write(
        "text.json",
        r#"[{"id": 1, "class": "a", "my col": "b", "metadata": {"k": [1, 2.50]}, "tagIds": [7, 8],
             "lines": [{"str": "x", "import": {"a": 1}}, {"str": "y", "import": [true]}]},
            {"id": 2, "lines": [], "tagIds": []}]"#,
    );
    awkward.write(
        "db.json",
        r#"{"_default": {"1": {"id": 7, "label": "seven"}, "2": {"id": 8}}}"#,
    );
    awkward.write("settings.json", r#"{"themes": ["dark", "light"]}"#);
    check_all(vec![
        ("shared entities".into(), films),
        ("awkward names".into(), awkward),
    ]);
}

#[test]
fn every_example_works_with_sqlalchemy_on_postgres() {
    const TEST: &str = "every_example_works_with_sqlalchemy_on_postgres";
    let Some(url) = crate::postgres::server(TEST) else {
        return;
    };
    let Some(python) = python() else {
        skipped(TEST);
        return;
    };
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let mut names: Vec<String> = fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|d| d.join("jsonlift.toml").is_file())
        .map(|d| d.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert!(!names.is_empty(), "no examples/*/jsonlift.toml");
    let mut failures = Vec::new();
    for name in &names {
        let start = Instant::now();
        let pg = crate::postgres::PgSchema::new(&url);
        let p = crate::postgres::example_on(&pg, name);
        p.jl(&["migrate", "-q"]).ok();
        let models = p.outside("models.py");
        p.jl(&[
            "codegen",
            "sqlalchemy",
            "--out",
            &models.display().to_string(),
        ])
        .ok();
        let text = fs::read_to_string(&models).unwrap();
        assert!(
            text.contains("JSONB") && text.contains(&format!("{{\"schema\": \"{}\"}}", pg.name)),
            "{name}: not models for PostgreSQL schema {}:\n{text}",
            pg.name
        );
        let mut cmd = Command::new(&python);
        cmd.arg(SCRIPT_PG).arg(&pg.url).arg(&pg.name).arg(&models);
        let run = run_command(cmd, format!("python interop_pg.py {name}"));
        let passed = run.stdout.lines().filter(|l| l.starts_with("PASS")).count();
        if run.code == Some(0) && passed == 3 {
            eprintln!(
                "interop_pg: {name} ok in {:.1?} ({})",
                start.elapsed(),
                run.stdout.lines().last().unwrap_or_default()
            );
        } else {
            failures.push(format!(
                "== {name} ==\n{}\n--- stderr ---\n{}",
                run.stdout, run.stderr
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} examples fail with SQLAlchemy on PostgreSQL:\n{}",
        failures.len(),
        names.len(),
        failures.join("\n\n")
    );
}
