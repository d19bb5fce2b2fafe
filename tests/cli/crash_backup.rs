//! Crash consistency of `backup`, `restore` and `restore --at` (issue #6, item 1: "also during
//! restore and backup"): the real binary is SIGKILLed at random moments of a calibrated run and,
//! through the `JSONLIFT_TEST_PAUSE_AT` hook, at each step of it (`backup:snapshot`;
//! `restore:prepared`, `checkpointed`, `aside`, `renamed`). After every kill:
//!
//! - the live database passes `integrity_check` and its full dump is exactly the state before or
//!   the state the command produces when left alone (for `backup`: the state before);
//! - `jsonlift backups --verify` passes: a half-written backup is never listed, so never as
//!   valid; the list holds the backups before, or those plus the new one;
//! - a re-run of the same command completes, gives the new state, and leaves no temp file.
//!
//! CI runs a few kills per command; `JSONLIFT_CRASH_BACKUP_KILLS` (per command),
//! `JSONLIFT_CRASH_BACKUP_NOTES` (database size), `JSONLIFT_CRASH_SEED` and `JSONLIFT_CRASH_BIN`
//! make the long run (RELIABILITY.md, section 1b).

use std::collections::BTreeMap;
use std::fs;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use crate::backup::{TOML, Writer};
use crate::crash::{Rng, binary, env_or, exit_of, jl_ok, seed};
use crate::util::*;

/// A project whose database holds `notes` records, one backup of it, and five writes after the
/// backup (so that a restore changes the data, and `--at` has audit entries to replay).
fn project(notes: u64) -> Project {
    let mut p = Project::new(TOML);
    p.db_rel = "app.db".into();
    let mut s = String::from("[\n");
    for i in 0..notes {
        let sep = if i + 1 < notes { "," } else { "" };
        s.push_str(&format!(
            "  {{\"id\": \"n{i}\", \"title\": \"note {i} {}\", \"stars\": {}, \"items\": [{{\"name\": \"x{i}\"}}, {{\"name\": \"y\"}}]}}{sep}\n",
            "t".repeat(40),
            i % 5
        ));
    }
    s.push_str("]\n");
    p.write("notes.json", &s);
    p.migrate_ok();
    jl_ok(&p, &["backup"], "the first backup");
    let w = Writer::new(&p);
    for i in 0..5 {
        // Audit times are to the microsecond; apart, so that `--at` falls between two entries.
        thread::sleep(Duration::from_millis(5));
        w.put(&format!("w{i}"), &format!("written {i}"), &["a"]);
    }
    drop(w);
    p
}

/// The live database and the backup folder as they are, to be put back before each trial.
struct Saved {
    dir: PathBuf,
}

fn copy_tree(from: &Path, to: &Path) {
    let _ = fs::remove_dir_all(to);
    let ok = Command::new("cp")
        .arg("-a")
        .arg(from)
        .arg(to)
        .status()
        .unwrap();
    assert!(ok.success(), "cp -a {from:?} {to:?}");
}

fn db_files(p: &Project) -> Vec<String> {
    fs::read_dir(&p.root)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|f| f.contains("app.db"))
        .collect()
}

impl Saved {
    fn take(p: &Project, name: &str) -> Saved {
        assert!(
            !p.path("app.db-wal").exists(),
            "the live database has a WAL"
        );
        let dir = p.outside(name);
        fs::create_dir_all(&dir).unwrap();
        fs::copy(p.db_path(), dir.join("app.db")).unwrap();
        copy_tree(&p.path(".jsonlift"), &dir.join("jsonlift"));
        Saved { dir }
    }

    fn put_back(&self, p: &Project) {
        for f in db_files(p) {
            fs::remove_file(p.path(&f)).unwrap();
        }
        fs::copy(self.dir.join("app.db"), p.db_path()).unwrap();
        copy_tree(&self.dir.join("jsonlift"), &p.path(".jsonlift"));
    }
}

/// A copy of the live database files (a hot journal or WAL included), so that inspecting it
/// does not recover anything the re-run should meet as the kill left it.
fn live_dump(p: &Project, side: &Path, ctx: &str) -> Vec<String> {
    let _ = fs::remove_dir_all(side);
    fs::create_dir_all(side).unwrap();
    for suffix in ["", "-wal", "-journal"] {
        let from = p.path(&format!("app.db{suffix}"));
        if from.exists() {
            fs::copy(&from, side.join(format!("app.db{suffix}"))).unwrap();
        }
    }
    let db = side.join("app.db");
    assert!(db.exists(), "{ctx}: the live database is gone");
    assert_eq!(q1(&open_db(&db), "PRAGMA integrity_check"), "ok", "{ctx}");
    restore_times_masked(dump_db(&db))
}

enum Kill<'a> {
    After(Duration),
    AtStep(&'a str),
}

/// Runs `jsonlift <args>`, killed as `kill` says; whether it was really interrupted, and stderr.
fn run_killed(p: &Project, args: &[&str], kill: &Kill) -> (bool, String) {
    let mut cmd = Command::new(binary());
    cmd.arg(args[0])
        .arg("-c")
        .arg(p.config())
        .args(&args[1..])
        .current_dir(&p.cwd)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    if let Kill::AtStep(step) = kill {
        cmd.env("JSONLIFT_TEST_PAUSE_AT", step);
    }
    let mut child = cmd.spawn().unwrap();
    let err = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let reader = thread::spawn(move || {
        let mut all = String::new();
        for line in BufReader::new(err).lines() {
            let Ok(line) = line else { break };
            let _ = tx.send(line.clone());
            all.push_str(&line);
            all.push('\n');
        }
        all
    });
    match kill {
        Kill::After(d) => {
            let at = Instant::now() + *d;
            while Instant::now() < at && child.try_wait().unwrap().is_none() {
                thread::sleep(Duration::from_micros(200));
            }
        }
        // Until it says it paused (or ends without reaching the step).
        Kill::AtStep(step) => {
            while rx
                .recv()
                .is_ok_and(|l| !l.contains(&format!("paused at {step}")))
            {}
        }
    }
    let killed = child.try_wait().unwrap().is_none();
    if killed {
        child.kill().unwrap(); // SIGKILL
    }
    let status = child.wait().unwrap();
    let stderr = reader.join().unwrap();
    assert!(
        killed || status.success(),
        "jsonlift {args:?} failed:\n{stderr}"
    );
    (killed, stderr)
}

/// `backups --verify --json`: it must pass (nothing listed is broken); the names listed.
fn verified_backups(p: &Project, ctx: &str) -> Vec<String> {
    let r = exit_of(p, &["backups", "--verify", "--json"]);
    assert_eq!(
        r.code,
        Some(0),
        "{ctx}: a listed backup does not verify\n{r:#?}"
    );
    let j = r.json();
    let list = j["backups"].as_array().unwrap();
    for b in list {
        assert_eq!(b["verified"], serde_json::json!(true), "{ctx}: {b}");
    }
    list.iter()
        .map(|b| b["name"].as_str().unwrap().to_string())
        .collect()
}

/// Files a killed run may leave: temp backups (`.tmp-<pid>`) and restore temps (`.restore-<pid>`).
fn temp_files(p: &Project) -> Vec<String> {
    let mut all = list_files(&p.path(".jsonlift/backups/db"));
    all.extend(db_files(p));
    all.into_iter()
        .filter(|f| f.contains(".tmp-") || f.contains(".restore-"))
        .collect()
}

#[derive(Default)]
struct Tally {
    trials: u64,
    killed: u64,
    by_state: BTreeMap<&'static str, u64>,
    /// Kills that left a temp file the re-run then removed.
    leftovers: u64,
}

/// One command, killed `kills` times at random moments plus once at each of `steps`.
fn scenario(title: &str, p: &Project, args: &[&str], steps: &[&str]) -> Tally {
    let kills = env_or("JSONLIFT_CRASH_BACKUP_KILLS", 3);
    let seed = seed();
    let mut rng = Rng(seed);
    let saved = Saved::take(p, &format!("saved-{}", args[0]));
    let side = p.outside("inspect");
    let old = restore_times_masked(p.dump());
    let backups_before = verified_backups(p, title);
    // An undisturbed run: how long it takes and what it gives.
    let mut run = Duration::ZERO;
    for _ in 0..2 {
        saved.put_back(p);
        let t = Instant::now();
        jl_ok(p, args, &format!("{title}: calibration"));
        run = t.elapsed();
    }
    let new = restore_times_masked(p.dump());
    if args[0] == "backup" {
        assert_eq!(new, old, "a backup changed the live database");
    } else {
        assert_ne!(new, old, "{title}: the restore should change the database");
    }
    let mut tally = Tally::default();
    let mut trial = 0;
    let mut step_trials = steps.iter();
    while trial < kills * 4 + steps.len() as u64 && (tally.killed < kills + steps.len() as u64) {
        trial += 1;
        saved.put_back(p);
        let kill = match step_trials.next() {
            Some(step) => Kill::AtStep(step),
            None => Kill::After(run.mul_f64(rng.unit() * 1.1)),
        };
        let aim = match &kill {
            Kill::AtStep(s) => format!("at step {s}"),
            Kill::After(d) => format!("after {d:?} of a {run:?} run"),
        };
        let (killed, stderr) = run_killed(p, args, &kill);
        let ctx = format!(
            "{title}, seed {seed}, trial {trial}: killed {aim}: {killed}\n--- stderr ---\n{stderr}"
        );
        tally.trials += 1;
        tally.killed += killed as u64;

        let now = live_dump(p, &side, &ctx);
        let state = if now == old {
            "old"
        } else {
            assert!(
                now == new,
                "{ctx}: the live database is neither the old nor the new state"
            );
            "new"
        };
        *tally.by_state.entry(state).or_default() += 1;
        let listed = verified_backups(p, &ctx);
        assert!(
            listed.starts_with(&backups_before) && listed.len() <= backups_before.len() + 1,
            "{ctx}: backups before {backups_before:?}, now {listed:?}"
        );
        tally.leftovers += !temp_files(p).is_empty() as u64;

        // A re-run completes, gives the new state and cleans up.
        jl_ok(p, args, &ctx);
        assert_eq!(live_dump(p, &side, &ctx), new, "{ctx}: after the re-run");
        verified_backups(p, &ctx);
        let left = temp_files(p);
        assert!(left.is_empty(), "{ctx}: the re-run left {left:?}");
    }
    println!(
        "crash harness, {title}: seed {seed}, one undisturbed run {:.3}s, trials {}, killed {}, live database after the kill: {:?}, kills leaving temp files (removed by the re-run): {}",
        run.as_secs_f64(),
        tally.trials,
        tally.killed,
        tally.by_state,
        tally.leftovers
    );
    assert!(tally.killed > 0, "{title}: no run was interrupted");
    tally
}

const RESTORE_STEPS: &[&str] = &[
    "restore:prepared",
    "restore:checkpointed",
    "restore:aside",
    "restore:renamed",
];

fn notes() -> u64 {
    env_or("JSONLIFT_CRASH_BACKUP_NOTES", 2000)
}

#[test]
fn kills_during_backup_leave_the_database_and_only_complete_backups() {
    let p = project(notes());
    scenario("backup", &p, &["backup"], &["backup:snapshot"]);
}

#[test]
fn kills_during_restore_leave_the_old_database_or_the_restored_one() {
    let p = project(notes());
    scenario("restore", &p, &["restore"], RESTORE_STEPS);
}

#[test]
fn kills_during_restore_at_a_moment_leave_the_old_database_or_that_moment() {
    let p = project(notes());
    // Between the third and the fourth write after the backup.
    let at = q(
        &open_db(&p.db_path()),
        "SELECT at FROM _jsonlift_audit ORDER BY id DESC LIMIT 3",
    );
    let at = at[2][0].clone();
    scenario("restore --at", &p, &["restore", "--at", &at], RESTORE_STEPS);
}
