//! Crash consistency of `jsonlift serve` (issue #6, item 2): writers change records through the
//! API and log each acknowledged write; the server is SIGKILLed at a random moment and
//! restarted, again and again. After each kill the database passes its checks (SQLite:
//! `integrity_check` and `foreign_key_check`), every acknowledged write is there with its exact
//! content and its audit entry, and replaying the audit log gives the served records.
//!
//! CI runs 5 kills. The long run (RELIABILITY.md):
//! `JSONLIFT_SERVE_CRASH_KILLS=60 JSONLIFT_SERVE_CRASH_MAX_MS=1500 cargo test --release --test cli serve_crash -- --nocapture`
//! (`JSONLIFT_SEED` repeats a run; `JSONLIFT_SERVE_CRASH_WRITERS` sets the writers, default 8).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::serve::{Server, example};
use crate::serve_harness::*;

#[test]
fn serve_crash_sigkill_loses_no_acknowledged_write() {
    let kills = env_num("JSONLIFT_SERVE_CRASH_KILLS", 5);
    let max_ms = env_num("JSONLIFT_SERVE_CRASH_MAX_MS", 400);
    let writers_n = env_num("JSONLIFT_SERVE_CRASH_WRITERS", 8) as usize;
    let seed = seed();
    eprintln!("serve crash: seed {seed} (JSONLIFT_SEED={seed} repeats this run)");
    let mut rng = Rng::new(seed);
    let p = example("jsonserver", "");
    let initial = records_of_db_json(&p.read("db.json"));
    let mut writers: Vec<Writer> = (0..writers_n).map(|i| Writer::new(i, seed)).collect();
    let checker = agent();
    let t0 = Instant::now();
    let (mut acked_total, mut unanswered_done) = (0, 0);
    for round in 0..=kills {
        let s = Server::start(&p, &[], &[]);
        // After a restart: everything acknowledged before the kill is there, and in the log.
        let c = check(&checker, &s.origin, &mut writers, &initial);
        acked_total = c.acked;
        unanswered_done += c.unanswered_done;
        eprintln!(
            "serve crash: restart {round}: {} acknowledged writes found",
            c.acked
        );
        if round == kills {
            break;
        }
        // Writers write until the server is gone; the kill comes at a random moment.
        let stop = Arc::new(AtomicBool::new(false));
        let handles: Vec<_> = writers
            .drain(..)
            .map(|mut w| {
                let origin = s.origin.clone();
                let stop = stop.clone();
                std::thread::spawn(move || {
                    let agent = agent();
                    while !stop.load(Ordering::Relaxed) && w.step(&agent, &origin).is_ok() {}
                    w
                })
            })
            .collect();
        std::thread::sleep(Duration::from_millis(20 + rng.below(max_ms)));
        drop(s); // SIGKILL, then reap
        stop.store(true, Ordering::Relaxed);
        writers = handles.into_iter().map(|h| h.join().unwrap()).collect();
        // The database as the kill left it (on SQLite, the next open recovers the WAL).
        p.assert_db_sound_on_backend();
    }
    let writes: usize = writers.iter().map(|w| w.acked.len()).sum();
    assert_eq!(acked_total, writes);
    eprintln!(
        "serve crash: {kills} kills, {writes} writes acknowledged and found with their audit entries, \
         {unanswered_done} unanswered writes found done, {:.1} s",
        t0.elapsed().as_secs_f64()
    );
    assert!(writes > 0, "the writers wrote nothing");
}
