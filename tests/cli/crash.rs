//! Crash consistency of `migrate`: the real binary is SIGKILLed at random moments spread over
//! its phases (backup, load — every record is verified as it is loaded —, verify, record,
//! commit, publish), on a fresh project, on a `--reimport` over an existing database, and during
//! a schema evolution in place (issue #17). After
//! every kill the database must be absent or exactly as before (same schema and rows), or fully
//! migrated (`jsonlift verify` passes); `integrity_check` and `foreign_key_check` must be clean;
//! the sources byte-identical; and a re-run must complete.
//!
//! CI runs the quick version (10 kills on a small dataset). The long run is the same code with
//! more kills and a larger dataset, set through the environment (`reliability/crash-migrate.sh`):
//! `JSONLIFT_CRASH_KILLS` (kills per scenario; runs that finish before their moment are extra
//! trials), `JSONLIFT_CRASH_COURSES` (dataset size),
//! `JSONLIFT_CRASH_SEED`, and `JSONLIFT_CRASH_BIN` (a binary to try instead of the test build,
//! e.g. `target/release/jsonlift`).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use crate::util::*;

/// The phases `migrate` announces in its log (target `jsonlift::phase`), in order.
const PHASES: &[&str] = &[
    "backup", "load", "evolve", "verify", "record", "commit", "publish", "done",
];

pub(crate) fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

pub(crate) fn binary() -> PathBuf {
    std::env::var_os("JSONLIFT_CRASH_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(BIN))
}

/// splitmix64: reproducible from the printed seed, no dependency.
pub(crate) struct Rng(pub(crate) u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    pub(crate) fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

pub(crate) fn seed() -> u64 {
    std::env::var("JSONLIFT_CRASH_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        })
}

// ---------------------------------------------------------------------------------------------
// The dataset: three sources (a nested array, a folder, JSON Lines) with references between them
// ---------------------------------------------------------------------------------------------

const SCHOOL: &str = r#"
database = "school.db"

[collections.users]
source = "data/users"
format = "folder"
key = "id"

[collections.users.fields]
id = "text"
name = { type = "text", required = true }

[collections.courses]
source = "data/courses.json"
key = "id"

[collections.courses.fields]
id = "text"
title = { type = "text", required = true }
teacher = { type = "text", references = "users" }
level = { type = "text", enum = ["beginner", "intermediate", "advanced"] }
hours = "integer"

[collections.courses.fields.modules]
type = "array"
table = "modules"
parent_column = "course_id"

[collections.courses.fields.modules.fields]
title = "text"

[collections.courses.fields.modules.fields.lessons]
type = "array"
table = "lessons"
parent_column = "module_id"

[collections.courses.fields.modules.fields.lessons.fields]
title = "text"
minutes = "integer"

[collections.events]
source = "data/events.jsonl"

[collections.events.fields]
course = { type = "text", references = "courses" }
at = "timestamp"
score = "real"
"#;

/// Writes version `version` of the dataset (`courses` courses, a tenth as many users, twice as
/// many events). Version 2 renames every 7th course, adds 5% more records and one user.
fn write_dataset(p: &Project, courses: u64, version: u64) {
    let users = courses / 10 + 1 + (version - 1);
    let courses = courses + (version - 1) * courses / 20;
    let _ = fs::remove_dir_all(p.path("data"));
    for u in 0..users {
        p.write(
            &format!("data/users/u{u:05}.json"),
            format!("{{\n  \"id\": \"u{u}\",\n  \"name\": \"Lehrerin Nr. {u} – Grüße\",\n  \"since\": {}\n}}\n", 2000 + u % 25),
        );
    }
    let levels = ["beginner", "intermediate", "advanced"];
    let mut out = String::from("[\n");
    for c in 0..courses {
        let renamed = version > 1 && c % 7 == 0;
        let title = if renamed {
            format!("Kurs {c} (überarbeitet)")
        } else {
            format!("Kurs {c}: Datenbanken für Einsteiger")
        };
        let _ = write!(
            out,
            "  {{\n    \"id\": \"c{c}\",\n    \"title\": \"{title}\",\n    \"teacher\": \"u{}\",\n    \"level\": \"{}\",\n    \"hours\": {},\n    \"rating\": {},\n    \"modules\": [",
            c % users,
            levels[(c % 3) as usize],
            c % 40,
            if c % 5 == 0 {
                "4.0".to_string()
            } else {
                format!("{}.5", c % 5)
            },
        );
        let modules = 3 + c % 4;
        for m in 0..modules {
            let _ = write!(
                out,
                "{}\n      {{\n        \"title\": \"Modul {m}\",\n        \"lessons\": [",
                if m == 0 { "" } else { "," }
            );
            for l in 0..(2 + (c + m) % 4) {
                let _ = write!(
                    out,
                    "{}\n          {{\"title\": \"Lektion {l} — SQL, JSON & \\\"Schlüssel\\\"\", \"minutes\": {}, \"body\": \"{}\"}}",
                    if l == 0 { "" } else { "," },
                    5 + (c * 7 + l) % 55,
                    "Text ".repeat(((c + l) % 9) as usize)
                );
            }
            out.push_str("\n        ]\n      }");
        }
        out.push_str("\n    ]\n  }");
        out.push_str(if c + 1 < courses { ",\n" } else { "\n" });
    }
    out.push_str("]\n");
    p.write("data/courses.json", out);
    let mut ev = String::new();
    for e in 0..courses * 2 {
        let _ = writeln!(
            ev,
            "{{\"course\": \"c{}\", \"at\": \"2024-05-{:02}T10:{:02}:00Z\", \"score\": {}, \"v\": {version}}}",
            e % courses,
            1 + e % 28,
            e % 60,
            if e % 11 == 0 {
                "1e2".to_string()
            } else {
                format!("{}.25", e % 100)
            }
        );
    }
    p.write("data/events.jsonl", ev);
}

/// sha256 of every source file, by path.
fn source_hashes(p: &Project) -> BTreeMap<String, String> {
    list_files(&p.path("data"))
        .into_iter()
        .map(|rel| {
            let h = sha256_hex(&fs::read(p.path("data").join(&rel)).unwrap());
            (rel, h)
        })
        .collect()
}

/// Removes the database, its companions, half-built databases and backups.
fn reset(p: &Project) {
    for f in list_files(&p.root) {
        if f.starts_with("school.db") || f.starts_with(".school.db") {
            fs::remove_file(p.path(&f)).unwrap();
        }
    }
    let _ = fs::remove_dir_all(p.path(".jsonlift"));
}

fn db_files(p: &Project) -> Vec<String> {
    list_files(&p.root)
        .into_iter()
        .filter(|f| f.starts_with("school.db") || f.starts_with(".school.db"))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// One run of `migrate`, killed at a moment or left to finish
// ---------------------------------------------------------------------------------------------

struct Outcome {
    /// The last phase announced before the kill (`done` when it finished first).
    phase: String,
    killed: bool,
    code: Option<i32>,
    stderr: String,
    /// When each phase started, from the start of the process.
    starts: Vec<(String, Duration)>,
}

/// When to kill: `delay` after the process announced `phase` (`start`: after it was started).
struct Moment {
    phase: String,
    delay: Duration,
}

fn run_migrate(p: &Project, args: &[&str], kill: Option<&Moment>) -> Outcome {
    let mut cmd = Command::new(binary());
    cmd.arg("migrate")
        .arg("-c")
        .arg(p.config())
        .args(args)
        .current_dir(&p.cwd)
        .env("JSONLIFT_LOG", "jsonlift::phase=info")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let t0 = Instant::now();
    let mut child = cmd.spawn().expect("start jsonlift migrate");
    let err = child.stderr.take().unwrap();
    // Lines are timestamped as they arrive and passed on at once, so a kill can follow a phase
    // announcement within microseconds; every line written before a kill is still read.
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let reader = thread::spawn(move || {
        let mut lines = Vec::new();
        for line in BufReader::new(err).lines() {
            let Ok(line) = line else { break };
            let _ = tx.send(line.clone());
            lines.push((line, t0.elapsed()));
        }
        lines
    });
    let mut killed = false;
    if let Some(m) = kill {
        let marker = format!("jsonlift::phase: {}", m.phase);
        let mut from = (m.phase == "start").then_some(t0);
        while from.is_none() {
            match rx.recv() {
                Ok(line) if line.ends_with(&marker) => from = Some(Instant::now()),
                Ok(_) => {}
                Err(_) => break, // the process ended before announcing the phase
            }
        }
        if let Some(from) = from {
            let at = from + m.delay;
            while Instant::now() < at && child.try_wait().unwrap().is_none() {
                thread::sleep(Duration::from_micros(100).min(at - Instant::now().min(at)));
            }
            if child.try_wait().unwrap().is_none() {
                child.kill().unwrap(); // SIGKILL
                killed = true;
            }
        }
    }
    let status = child.wait().unwrap();
    let lines = reader.join().unwrap();
    let mut starts = Vec::new();
    for (line, t) in &lines {
        if let Some(i) = line.find("jsonlift::phase: ") {
            starts.push((line[i + "jsonlift::phase: ".len()..].trim().to_string(), *t));
        }
    }
    Outcome {
        phase: if killed {
            starts
                .last()
                .map_or("start".to_string(), |(p, _)| p.clone())
        } else {
            "done".into()
        },
        killed,
        code: status.code(),
        stderr: lines
            .into_iter()
            .map(|(l, _)| l)
            .collect::<Vec<_>>()
            .join("\n"),
        starts,
    }
}

/// Phase windows of an undisturbed run: (phase, start, end).
fn calibrate(p: &Project, args: &[&str], prepare: &dyn Fn()) -> Vec<(String, Duration, Duration)> {
    let mut best = None;
    for _ in 0..2 {
        prepare();
        let o = run_migrate(p, args, None);
        assert_eq!(o.code, Some(0), "calibration run failed:\n{}", o.stderr);
        best = Some(o);
    }
    let o = best.unwrap();
    let mut windows = Vec::new();
    let mut prev = ("start".to_string(), Duration::ZERO);
    for (name, at) in o.starts {
        windows.push((prev.0, prev.1, at));
        prev = (name, at);
    }
    windows.retain(|w| w.0 != "done");
    windows
}

// ---------------------------------------------------------------------------------------------
// After a kill
// ---------------------------------------------------------------------------------------------

/// A copy of the database files to inspect, so that opening it (which recovers a hot WAL) does
/// not change what the re-run will find.
fn inspect_copy(p: &Project, side: &Path) -> PathBuf {
    let _ = fs::remove_dir_all(side);
    fs::create_dir_all(side).unwrap();
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let from = p.path(&format!("school.db{suffix}"));
        if from.exists() {
            fs::copy(&from, side.join(format!("school.db{suffix}"))).unwrap();
        }
    }
    side.join("school.db")
}

#[track_caller]
fn assert_integrity(db: &Path, ctx: &str) {
    let conn = open_db(db);
    assert_eq!(q1(&conn, "PRAGMA integrity_check"), "ok", "{ctx}");
    let fk = q(&conn, "PRAGMA foreign_key_check");
    assert!(fk.is_empty(), "{ctx}: foreign_key_check reports {fk:?}");
}

fn dump_hash(db: &Path) -> String {
    sha256_hex(dump_db(db).join("\n").as_bytes())
}

/// The hash of the collections' tables (their definitions and rows), without jsonlift's own,
/// which record when each run happened.
fn data_hash(db: &Path) -> String {
    let lines: Vec<String> = dump_db(db)
        .into_iter()
        .filter(|l| !l.contains("_jsonlift_"))
        .collect();
    sha256_hex(lines.join("\n").as_bytes())
}

#[derive(Default)]
struct Tally {
    trials: u64,
    killed: u64,
    by_phase: BTreeMap<String, u64>,
    by_state: BTreeMap<&'static str, u64>,
    incomplete_backups: u64,
}

impl Tally {
    fn print(&self, title: &str, seed: u64, courses: u64, bytes: u64, run: &Duration) {
        let mut s = format!(
            "crash harness, {title}: seed {seed}, {courses} courses ({:.1} MB of sources), one undisturbed run {:.2}s\n  trials {}, killed mid-run {}\n  kills by phase:",
            bytes as f64 / 1e6,
            run.as_secs_f64(),
            self.trials,
            self.killed
        );
        for ph in PHASES.iter().chain(["start"].iter()) {
            if let Some(n) = self.by_phase.get(*ph) {
                let _ = write!(s, " {ph} {n},");
            }
        }
        s.push_str("\n  database after the kill:");
        for (k, n) in &self.by_state {
            let _ = write!(s, " {k} {n},");
        }
        let _ = write!(
            s,
            "\n  snapshot folders left incomplete (no manifest): {}",
            self.incomplete_backups
        );
        println!("{s}");
    }
}

/// Picks a moment: a phase of the calibrated run at random, then a moment inside it (measured
/// from the phase's announcement, so that phases of a millisecond are hit too); one trial in
/// four picks a moment anywhere in the run (and a little past it).
fn pick(rng: &mut Rng, windows: &[(String, Duration, Duration)]) -> Moment {
    let total = windows.last().map_or(Duration::ZERO, |w| w.2);
    if rng.below(4) == 0 || windows.is_empty() {
        return Moment {
            phase: "start".into(),
            delay: total.mul_f64(rng.unit() * 1.1),
        };
    }
    let w = &windows[rng.below(windows.len() as u64) as usize];
    Moment {
        phase: w.0.clone(),
        delay: (w.2 - w.1).mul_f64(rng.unit()),
    }
}

fn incomplete_backups(p: &Project) -> u64 {
    let Ok(rd) = fs::read_dir(p.path(".jsonlift/backups")) else {
        return 0;
    };
    // Source snapshots only: database backups are in `db/`, with manifests of their own.
    rd.filter(|e| {
        let e = e.as_ref().unwrap();
        e.path().is_dir() && e.file_name() != "db" && !e.path().join("manifest.json").exists()
    })
    .count() as u64
}

/// `jsonlift <args[0]> -c <project> <args[1..]>` with the binary under test.
pub(crate) fn exit_of(p: &Project, args: &[&str]) -> Run {
    let mut full = vec![
        args[0].to_string(),
        "-c".into(),
        p.config().display().to_string(),
    ];
    full.extend(args[1..].iter().map(|s| s.to_string()));
    let mut cmd = Command::new(binary());
    cmd.args(&full).current_dir(&p.cwd);
    run_command(cmd, format!("jsonlift {}", full.join(" ")))
}

#[track_caller]
pub(crate) fn jl_ok(p: &Project, args: &[&str], ctx: &str) {
    let r = exit_of(p, args);
    assert_eq!(r.code, Some(0), "{ctx}\n{r:#?}");
    assert!(!r.stderr.contains("panicked"), "{ctx}\n{r:#?}");
}

/// Runs the scenario: `prepare` sets the project to its state before the migration, `args` are
/// the migrate arguments, `before` the dump hash of the database before (None: no database),
/// `after` the [`data_hash`] the migration must give (None: whatever `jsonlift verify` passes).
fn scenario(
    title: &str,
    p: &Project,
    args: &[&str],
    prepare: &dyn Fn(),
    (before, after): (Option<&str>, Option<&str>),
) {
    let kills = env_or("JSONLIFT_CRASH_KILLS", 5);
    let courses = env_or("JSONLIFT_CRASH_COURSES", 150);
    let seed = seed();
    let mut rng = Rng(seed);
    let sources = source_hashes(p);
    let bytes: u64 = list_files(&p.path("data"))
        .iter()
        .map(|f| fs::metadata(p.path("data").join(f)).unwrap().len())
        .sum();
    let windows = calibrate(p, args, prepare);
    let run = windows.last().map_or(Duration::ZERO, |w| w.2);
    let side = p.outside("inspect");
    let mut tally = Tally::default();
    // A run that finishes before its moment is checked like the others but does not count as
    // a kill: trials go on until `kills` runs were really interrupted (or four times as many
    // trials were made).
    let mut trial = 0;
    while tally.killed < kills && trial < kills * 4 {
        trial += 1;
        prepare();
        let at = pick(&mut rng, &windows);
        let o = run_migrate(p, args, Some(&at));
        let ctx = format!(
            "{title}, seed {seed}, trial {trial}: aimed at {:?} after {}, killed in phase {} (exit {:?})\n--- stderr ---\n{}",
            at.delay, at.phase, o.phase, o.code, o.stderr
        );
        assert!(!o.stderr.contains("panicked"), "{ctx}");
        if !o.killed {
            assert_eq!(o.code, Some(0), "{ctx}");
        }
        tally.trials += 1;
        tally.killed += o.killed as u64;
        *tally.by_phase.entry(o.phase.clone()).or_default() += 1;
        tally.incomplete_backups += incomplete_backups(p);

        // The sources are never touched.
        assert_eq!(source_hashes(p), sources, "{ctx}: the sources changed");

        // The database: absent or as before, or complete.
        let state = if !p.path("school.db").exists() {
            assert!(before.is_none(), "{ctx}: the old database is gone");
            "absent"
        } else {
            let copy = inspect_copy(p, &side);
            assert_integrity(&copy, &ctx);
            if before.is_some_and(|h| h == dump_hash(&copy)) {
                "as before"
            } else if let Some(after) = after {
                assert_eq!(
                    data_hash(&copy),
                    after,
                    "{ctx}\nthe database changed but is not the complete new one"
                );
                "fully migrated"
            } else {
                let r = exit_of(p, &["verify"]);
                assert_eq!(
                    r.code,
                    Some(0),
                    "{ctx}\nthe database changed but does not verify:\n{r:#?}"
                );
                "fully migrated"
            }
        };
        *tally.by_state.entry(state).or_default() += 1;

        // A re-run completes, and leaves a verified database and no half-built file.
        jl_ok(p, &[&["migrate"][..], args].concat(), &ctx);
        match after {
            Some(after) => assert_eq!(data_hash(&inspect_copy(p, &side)), after, "{ctx}"),
            None => jl_ok(p, &["verify"], &ctx),
        }
        assert_integrity(&inspect_copy(p, &side), &ctx);
        let left: Vec<String> = db_files(p)
            .into_iter()
            .filter(|f| f.contains("jsonlift-tmp"))
            .collect();
        assert!(
            left.is_empty(),
            "{ctx}: half-built databases left: {left:?}"
        );
        assert_eq!(
            incomplete_backups(p),
            0,
            "{ctx}: the re-run left the killed run's incomplete backup"
        );
        assert_eq!(source_hashes(p), sources, "{ctx}: the sources changed");
    }
    tally.print(title, seed, courses, bytes, &run);
    assert!(
        tally.killed > 0,
        "no run was interrupted: the calibrated moments all came after the end"
    );
}

#[test]
fn kills_during_a_fresh_migrate_leave_no_database_or_a_complete_one() {
    let p = Project::new(SCHOOL);
    write_dataset(&p, env_or("JSONLIFT_CRASH_COURSES", 150), 1);
    scenario("fresh migrate", &p, &[], &|| reset(&p), (None, None));
}

/// A project migrated from version 1 of the dataset, a copy of its database aside (each trial
/// starts from it), and that database's dump hash.
fn migrated_v1(courses: u64) -> (Project, PathBuf, String) {
    let p = Project::new(SCHOOL);
    write_dataset(&p, courses, 1);
    jl_ok(&p, &["migrate"], "migrating version 1");
    let saved = p.outside("v1.db");
    fs::copy(p.path("school.db"), &saved).unwrap();
    assert!(
        !p.path("school.db-wal").exists(),
        "the first migration left a WAL"
    );
    let before = dump_hash(&saved);
    (p, saved, before)
}

#[test]
fn kills_during_a_reimport_leave_the_old_database_or_the_new_one() {
    let courses = env_or("JSONLIFT_CRASH_COURSES", 150);
    let (p, saved, before) = migrated_v1(courses);
    write_dataset(&p, courses, 2);
    let prepare = || {
        reset(&p);
        fs::copy(&saved, p.path("school.db")).unwrap();
    };
    scenario(
        "reimport",
        &p,
        &["--reimport"],
        &prepare,
        (Some(before.as_str()), None),
    );
}

/// [`kills_during_an_evolution_leave_the_old_schema_or_the_new_one`] on PostgreSQL, where the
/// evolution alters the live tables in one transaction (issue #17): after a kill at any moment
/// the schema holds the old tables and rows exactly, or exactly the new ones (no table of the
/// evolution left behind), and a re-run completes.
#[test]
fn kills_during_an_evolution_on_postgres_leave_the_old_schema_or_the_new_one() {
    let Some(url) = crate::postgres::server(
        "crash::kills_during_an_evolution_on_postgres_leave_the_old_schema_or_the_new_one",
    ) else {
        return;
    };
    let kills = env_or("JSONLIFT_CRASH_KILLS", 5);
    let courses = env_or("JSONLIFT_CRASH_COURSES", 150);
    let pg = crate::postgres::PgSchema::new(&url);
    let head = pg.toml();
    let on_pg = |toml: &str| format!("{head}{}", toml.replace("database = \"school.db\"\n", ""));
    let evolved = on_pg(&evolved_school());
    let mut p = Project::new(&on_pg(SCHOOL));
    p.pg = Some(pg);
    let pg = p.pg.as_ref().unwrap();
    write_dataset(&p, courses, 1);
    let sources = source_hashes(&p);
    // Version 1 migrated, and jsonlift.toml evolved: the state each trial starts from.
    let prepare = || {
        pg.sql(&format!("DROP SCHEMA IF EXISTS {} CASCADE", pg.name));
        reset(&p);
        p.write("jsonlift.toml", on_pg(SCHOOL));
        jl_ok(&p, &["migrate"], "migrating version 1");
        p.write("jsonlift.toml", &evolved);
    };
    // The collections' tables and rows (jsonlift's own tables record when each run happened).
    let data = |p: &Project| -> String {
        let lines: Vec<String> = p
            .dump()
            .into_iter()
            .filter(|l| !l.contains("_jsonlift_"))
            .collect();
        sha256_hex(lines.join("\n").as_bytes())
    };
    prepare();
    let old = data(&p);
    jl_ok(&p, &["migrate"], "the evolution");
    let after = data(&p);
    assert_ne!(after, old);
    let windows = calibrate(&p, &[], &prepare);
    let seed = seed();
    let mut rng = Rng(seed);
    let (mut killed, mut trial) = (0, 0);
    let mut by_state: BTreeMap<&str, u64> = BTreeMap::new();
    while killed < kills && trial < kills * 4 {
        trial += 1;
        prepare();
        let before = sha256_hex(p.dump().join("\n").as_bytes());
        let at = pick(&mut rng, &windows);
        let o = run_migrate(&p, &[], Some(&at));
        let ctx = format!(
            "evolution on PostgreSQL, seed {seed}, trial {trial}: aimed at {:?} after {}, killed in phase {} (exit {:?})\n--- stderr ---\n{}",
            at.delay, at.phase, o.phase, o.code, o.stderr
        );
        assert!(!o.stderr.contains("panicked"), "{ctx}");
        if !o.killed {
            assert_eq!(o.code, Some(0), "{ctx}");
        }
        killed += o.killed as u64;
        let now = p.dump();
        let state = if sha256_hex(now.join("\n").as_bytes()) == before {
            "as before"
        } else {
            assert_eq!(
                data(&p),
                after,
                "{ctx}\nthe schema changed but is not the complete new one"
            );
            "fully evolved"
        };
        *by_state.entry(state).or_default() += 1;
        assert!(
            !now.iter().any(|l| l.contains("_jsonlift_evolve_")),
            "{ctx}: a table of the evolution was left behind"
        );
        jl_ok(&p, &["migrate"], &ctx);
        assert_eq!(data(&p), after, "{ctx}: the re-run");
        jl_ok(&p, &["migrate"], &ctx);
        assert_eq!(source_hashes(&p), sources, "{ctx}: the sources changed");
    }
    println!(
        "crash harness, evolution on PostgreSQL: seed {seed}, {courses} courses, {trial} trials, {killed} killed mid-run; after the kill: {by_state:?}"
    );
    assert!(killed > 0, "no run was interrupted");
}

/// SCHOOL with a field renamed, one added with a default, and an index.
fn evolved_school() -> String {
    SCHOOL
        .replace(
            "hours = \"integer\"",
            "duration_hours = { type = \"integer\", renamed_from = \"hours\" }\nstatus = { type = \"text\", default = \"active\" }",
        )
        .replace(
            "level = { type = \"text\",",
            "level = { type = \"text\", index = true,",
        )
}

/// Issue #17: a kill at any moment of a schema evolution (a field renamed, one added with a
/// default, an index: the courses and their modules and lessons carried into rebuilt tables)
/// leaves the old schema and rows, or exactly the new ones: never a mix.
#[test]
fn kills_during_an_evolution_leave_the_old_schema_or_the_new_one() {
    let (p, saved, before) = migrated_v1(env_or("JSONLIFT_CRASH_COURSES", 150));
    p.write("jsonlift.toml", evolved_school());
    let prepare = || {
        reset(&p);
        fs::copy(&saved, p.path("school.db")).unwrap();
    };
    // The new state, from an undisturbed run.
    prepare();
    jl_ok(&p, &["migrate"], "the evolution");
    let after = data_hash(&p.path("school.db"));
    assert_ne!(after, data_hash(&saved));
    scenario(
        "evolution",
        &p,
        &[],
        &prepare,
        (Some(before.as_str()), Some(after.as_str())),
    );
}
