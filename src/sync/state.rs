//! What the live sync is doing, for `GET /_admin/sync`, the log and `/_admin/metrics`: the
//! overall state, and per source its documents, last sync, pending events and the files that
//! are not applied because they are broken. The engine thread writes it; the API reads
//! snapshots. It knows nothing of HTTP: the API turns a [`Snapshot`] into JSON.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::time::Duration;

use crate::error::Problem;

/// The sync as a whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// The initial sync has not finished.
    Starting,
    /// Every file is applied and nothing is waiting.
    InSync,
    /// Changes are waiting or being applied.
    Syncing,
    /// Some file is broken (its record stays at its last good version); the rest is in sync.
    Degraded,
    /// The database is unusable: reads are answered from the files while it is rebuilt.
    Fallback,
}

impl Phase {
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Starting => "starting",
            Phase::InSync => "in sync",
            Phase::Syncing => "syncing",
            Phase::Degraded => "degraded",
            Phase::Fallback => "fallback",
        }
    }
}

/// One source as `/_admin/sync` shows it.
#[derive(Debug, Clone, Default)]
pub struct SourceStatus {
    /// As the project file names it (`personas`, `data/db.json`).
    pub display: String,
    pub collections: Vec<String>,
    /// Records of its collections in the database.
    pub documents: u64,
    /// When a change of it was last applied (or found unchanged), RFC 3339.
    pub last_sync: Option<String>,
    /// Files changed on disk and not yet looked at.
    pub pending: u64,
    /// The files that are not applied, by file as the problem names it.
    pub errors: BTreeMap<String, Problem>,
}

/// A copy of the state at one moment.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub phase: Phase,
    /// Why the database is not used, in [`Phase::Fallback`].
    pub fallback: Option<String>,
    pub debounce_ms: u64,
    pub sources: Vec<SourceStatus>,
}

/// Upper bounds (seconds) of the lag histogram: a file's write to the commit of its change.
const LAG_BUCKETS: [f64; 10] = [0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.5, 5.0, 10.0, 30.0];

#[derive(Default)]
struct Counters {
    /// Files (or single-file sources) whose change was committed.
    applied: u64,
    /// Files that could not be applied (broken, unreadable, refused by the database).
    errors: u64,
    lag_buckets: [u64; LAG_BUCKETS.len()],
    lag_count: u64,
    lag_sum: f64,
}

struct Inner {
    started: bool,
    fallback: Option<String>,
    busy: bool,
    sources: Vec<SourceStatus>,
    counters: Counters,
}

/// Shared between the engine (writer) and the API (reader).
pub struct SyncState {
    debounce_ms: u64,
    inner: Mutex<Inner>,
}

impl SyncState {
    pub fn new(debounce_ms: u64, sources: Vec<SourceStatus>) -> SyncState {
        SyncState {
            debounce_ms,
            inner: Mutex::new(Inner {
                started: false,
                fallback: None,
                busy: false,
                sources,
                counters: Counters::default(),
            }),
        }
    }

    fn with<T>(&self, f: impl FnOnce(&mut Inner) -> T) -> T {
        f(&mut self.inner.lock().unwrap_or_else(|e| e.into_inner()))
    }

    pub fn snapshot(&self) -> Snapshot {
        self.with(|i| {
            let errors = i.sources.iter().any(|s| !s.errors.is_empty());
            let pending = i.sources.iter().any(|s| s.pending > 0);
            let phase = if i.fallback.is_some() {
                Phase::Fallback
            } else if !i.started {
                Phase::Starting
            } else if i.busy || pending {
                Phase::Syncing
            } else if errors {
                Phase::Degraded
            } else {
                Phase::InSync
            };
            Snapshot {
                phase,
                fallback: i.fallback.clone(),
                debounce_ms: self.debounce_ms,
                sources: i.sources.clone(),
            }
        })
    }

    /// The database changed under the sync (a restore): until the sources are compared with
    /// it again it is not in sync, and the files' problems are looked at anew.
    pub fn restart(&self) {
        self.with(|i| {
            i.started = false;
            for s in &mut i.sources {
                s.errors.clear();
            }
        });
    }

    /// The initial sync is done.
    pub fn started(&self) {
        self.with(|i| i.started = true);
    }

    /// The database is unusable (`Some`: why) and reads come from the files, or it is back.
    pub fn set_fallback(&self, why: Option<String>) {
        self.with(|i| i.fallback = why);
    }

    pub fn set_busy(&self, busy: bool) {
        self.with(|i| i.busy = busy);
    }

    pub fn set_pending(&self, si: usize, n: u64) {
        self.with(|i| i.sources[si].pending = n);
    }

    /// Source `si` was looked at now and holds `documents` records.
    pub fn synced(&self, si: usize, documents: u64) {
        let now = crate::clock::now();
        self.with(|i| {
            let s = &mut i.sources[si];
            s.documents = documents;
            s.last_sync = Some(now);
        });
    }

    /// `file` of source `si` is applied (or gone): any problem it had is over.
    pub fn clear_error(&self, si: usize, file: &str) {
        self.with(|i| {
            i.sources[si].errors.remove(file);
        });
    }

    /// Every problem noted is over (the database was rebuilt from files that all read).
    pub fn clear_errors(&self) {
        self.with(|i| i.sources.iter_mut().for_each(|s| s.errors.clear()));
    }

    /// `file` of source `si` cannot be applied; the log says why, once per new problem.
    pub fn error(&self, si: usize, file: &str, p: Problem) {
        self.with(|i| {
            i.counters.errors += 1;
            let errors = &mut i.sources[si].errors;
            if errors.get(file) != Some(&p) {
                tracing::warn!(
                    file,
                    "sync: not applied, the record keeps its last good version: {p}"
                );
            }
            errors.insert(file.to_string(), p);
        });
    }

    /// A change was committed, `lag` after its file was written.
    pub fn applied(&self, lag: Option<Duration>) {
        self.with(|i| {
            let c = &mut i.counters;
            c.applied += 1;
            if let Some(lag) = lag {
                let secs = lag.as_secs_f64();
                c.lag_count += 1;
                c.lag_sum += secs;
                for (b, le) in c.lag_buckets.iter_mut().zip(LAG_BUCKETS) {
                    if secs <= le {
                        *b += 1;
                    }
                }
            }
        });
    }

    /// The sync's series in Prometheus' text format.
    pub fn render(&self, out: &mut String) {
        self.with(|i| {
            let c = &i.counters;
            out.push_str("# HELP jsonlift_sync_events_applied_total File changes committed to the database by the live sync.\n# TYPE jsonlift_sync_events_applied_total counter\n");
            let _ = writeln!(out, "jsonlift_sync_events_applied_total {}", c.applied);
            out.push_str("# HELP jsonlift_sync_errors_total File changes the live sync could not apply.\n# TYPE jsonlift_sync_errors_total counter\n");
            let _ = writeln!(out, "jsonlift_sync_errors_total {}", c.errors);
            out.push_str("# HELP jsonlift_sync_files_in_error Files not applied now because they are broken.\n# TYPE jsonlift_sync_files_in_error gauge\n");
            let n: usize = i.sources.iter().map(|s| s.errors.len()).sum();
            let _ = writeln!(out, "jsonlift_sync_files_in_error {n}");
            out.push_str("# HELP jsonlift_sync_lag_seconds From a file's modification to the commit of its change.\n# TYPE jsonlift_sync_lag_seconds histogram\n");
            for (b, le) in c.lag_buckets.iter().zip(LAG_BUCKETS) {
                let _ = writeln!(out, "jsonlift_sync_lag_seconds_bucket{{le=\"{le}\"}} {b}");
            }
            let _ = writeln!(
                out,
                "jsonlift_sync_lag_seconds_bucket{{le=\"+Inf\"}} {}",
                c.lag_count
            );
            let _ = writeln!(out, "jsonlift_sync_lag_seconds_sum {}", c.lag_sum);
            let _ = writeln!(out, "jsonlift_sync_lag_seconds_count {}", c.lag_count);
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state() -> SyncState {
        SyncState::new(
            500,
            vec![SourceStatus {
                display: "personas".into(),
                ..SourceStatus::default()
            }],
        )
    }

    #[test]
    fn the_phase_follows_start_work_and_errors() {
        let s = state();
        assert_eq!(s.snapshot().phase, Phase::Starting);
        s.started();
        assert_eq!(s.snapshot().phase, Phase::InSync);
        s.set_pending(0, 2);
        assert_eq!(s.snapshot().phase, Phase::Syncing);
        s.set_pending(0, 0);
        s.error(0, "personas/a.json", Problem::new("personas/a.json", "bad"));
        assert_eq!(s.snapshot().phase, Phase::Degraded);
        s.clear_error(0, "personas/a.json");
        assert_eq!(s.snapshot().phase, Phase::InSync);
        s.set_fallback(Some("gone".into()));
        assert_eq!(s.snapshot().phase, Phase::Fallback);
        s.set_fallback(None);
        assert_eq!(s.snapshot().phase, Phase::InSync);
    }

    #[test]
    fn lag_buckets_are_cumulative() {
        let s = state();
        s.applied(Some(Duration::from_millis(200)));
        s.applied(Some(Duration::from_millis(600)));
        s.applied(None);
        let mut out = String::new();
        s.render(&mut out);
        assert!(
            out.contains("jsonlift_sync_events_applied_total 3\n"),
            "{out}"
        );
        assert!(out.contains("jsonlift_sync_lag_seconds_bucket{le=\"0.1\"} 0\n"));
        assert!(out.contains("jsonlift_sync_lag_seconds_bucket{le=\"0.25\"} 1\n"));
        assert!(out.contains("jsonlift_sync_lag_seconds_bucket{le=\"0.75\"} 2\n"));
        assert!(out.contains("jsonlift_sync_lag_seconds_count 2\n"));
    }
}
