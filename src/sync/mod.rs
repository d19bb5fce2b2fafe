//! Live file sync (`serve --watch`, `jsonlift watch`; issue #15): the files stay the source of
//! truth and the database follows them. At start an initial sync brings the database to the
//! files (a source whose size and sha256 are what the ledger recorded is left alone; any other
//! is compared record by record); then a watcher applies each change as its own transaction.
//!
//! Who owns what: [`Engine`] holds the store and the [`apply::Work`] (what the database holds
//! of each file, the ledger's layouts) behind one lock, so the watcher thread and a reload
//! (`POST /_admin/sync/reload`) never apply at the same time; [`state::SyncState`] is what they
//! report, read by the API. [`watcher`] turns file-system events into the files to look at.
//! Nothing here knows HTTP.

pub mod apply;
pub mod fallback;
pub mod state;
mod watcher;
pub mod write;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::RecvTimeoutError;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::Context;
use serde::Serialize;

use apply::{Applier, Changes, Work};
use state::{SourceStatus, SyncState};

use crate::store::{Store, StoreError};

/// `[sync] debounce_ms` when not set: an editor's save (several writes, a rename) settles well
/// within it, and a person does not wait noticeably.
pub const DEFAULT_DEBOUNCE_MS: u64 = 500;

/// What a full pass over the sources changed, per source.
#[derive(Debug, Clone, Serialize)]
pub struct SourceChanges {
    pub source: String,
    /// Left alone: the same size and sha256 as the ledger recorded.
    pub unchanged: bool,
    #[serde(flatten)]
    pub changes: Changes,
}

/// The files to look at, by source: `None` for all of them.
type Touched = BTreeMap<usize, Option<BTreeSet<String>>>;

/// The sync of one store with its sources' files.
pub struct Engine {
    store: Arc<dyn Store>,
    state: SyncState,
    work: Mutex<Work>,
    /// Set while `POST /_admin/restore` replaces the database: on PostgreSQL its tables are
    /// missing for a moment, which the fallback must not take for damage and rebuild over.
    restoring: AtomicBool,
}

impl Engine {
    pub fn new(store: Arc<dyn Store>, debounce_ms: u64) -> Result<Engine, StoreError> {
        let schema = store.schema();
        // A store that cannot be used now (the fallback) has no ledger to read: it is read
        // when the database is back ([`Engine::reload_bookkeeping`]).
        let work = match store.unusable() {
            None => work_of(&*store)?,
            Some(_) => Work::default(),
        };
        let mut sources = Vec::new();
        for (si, spec) in schema.sources.iter().enumerate() {
            sources.push(SourceStatus {
                display: spec.display.clone(),
                collections: schema.collections_of(si).map(|c| c.name.clone()).collect(),
                ..SourceStatus::default()
            });
        }
        Ok(Engine {
            store,
            state: SyncState::new(debounce_ms, sources),
            work: Mutex::new(work),
            restoring: AtomicBool::new(false),
        })
    }

    pub fn state(&self) -> &SyncState {
        &self.state
    }

    /// Forgets what the sync knew of the database and reads it again from `from` (a database
    /// rebuilt from the files, about to replace the engine's): its ledger, and no file known.
    pub fn reload_bookkeeping(&self, from: &dyn Store) -> Result<(), StoreError> {
        let fresh = work_of(from)?;
        *self.lock_work() = fresh;
        // The new database was built from files that all read: any problem noted is over.
        self.state.clear_errors();
        Ok(())
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// Says that a restore is replacing the database (`true`), or is over.
    pub fn set_restoring(&self, on: bool) {
        self.restoring.store(on, Ordering::SeqCst);
    }

    pub fn is_restoring(&self) -> bool {
        self.restoring.load(Ordering::SeqCst)
    }

    fn lock_work(&self) -> std::sync::MutexGuard<'_, Work> {
        self.work.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn with_applier<T>(&self, f: impl FnOnce(&mut Applier) -> T) -> T {
        let mut work = self.lock_work();
        let mut a = Applier {
            store: &*self.store,
            state: &self.state,
            work: &mut work,
        };
        f(&mut a)
    }

    /// Every source compared with the database and brought to its files. `initial`: a source
    /// whose size and sha256 are what the ledger recorded is left alone (the start); otherwise
    /// every file is looked at (a reload).
    pub fn rescan(&self, initial: bool) -> Vec<SourceChanges> {
        if let Some(why) = self.store.unusable() {
            tracing::debug!("sync: not rescanning, the database is unusable: {why}");
            return Vec::new();
        }
        self.state.set_busy(true);
        let out = self.with_applier(|a| {
            let mut out = Vec::new();
            for (si, spec) in a.store.schema().sources.iter().enumerate() {
                let print = a.fingerprint(si);
                let same = print.as_ref().is_some_and(|(size, sha)| {
                    a.work
                        .ledger
                        .get(&si)
                        .is_some_and(|s| s.size == *size && s.sha256 == *sha)
                });
                let changes = if initial && same {
                    a.remember_files(si);
                    if let Ok(n) = a.documents(si) {
                        a.state.synced(si, n);
                    }
                    Changes::default()
                } else {
                    a.source(si, None)
                };
                if let Some(p) = print.filter(|_| !same || !initial) {
                    settle(a, si, p);
                }
                out.push(SourceChanges {
                    source: spec.display.clone(),
                    unchanged: initial && same,
                    changes,
                });
            }
            out
        });
        self.state.set_busy(false);
        out
    }

    /// The database was replaced under the sync (a restore through `POST /_admin/restore`): what
    /// the sync remembered (the files the database held, the ledger) describes the old one.
    /// It is read again from the restored database and the sources compared with it as at start
    /// (those the restored ledger records as they are now are left alone; the others brought
    /// to the files, which stay the source of truth). Returns what changed.
    pub fn restored(&self) -> Result<Vec<SourceChanges>, StoreError> {
        let recorded = crate::store::read(&*self.store, |tx| tx.sources())?;
        {
            let mut work = self.lock_work();
            *work = Work::default();
            for (si, spec) in self.store.schema().sources.iter().enumerate() {
                if let Some(s) = recorded.get(&spec.display) {
                    work.ledger.insert(si, s.clone());
                }
            }
        }
        self.state.restart();
        let out = self.rescan(true);
        self.state.started();
        Ok(out)
    }

    /// Applies the files an event batch named; stops between files when `stop` is set.
    fn apply(&self, touched: Touched, stop: &AtomicBool) {
        // While the database is rebuilt from the files, changes are left to the rescan that
        // follows the rebuild.
        if self.store.unusable().is_some() {
            return;
        }
        for (si, t) in &touched {
            self.state
                .set_pending(*si, t.as_ref().map_or(1, |t| t.len() as u64));
        }
        self.state.set_busy(true);
        self.with_applier(|a| {
            for (si, t) in &touched {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let c = a.source(*si, t.as_ref());
                if !c.is_empty() {
                    tracing::info!(source = %a.store.schema().sources[*si].display, "sync: {c}");
                }
                a.state.set_pending(*si, 0);
            }
        });
        for si in touched.keys() {
            self.state.set_pending(*si, 0);
        }
        self.state.set_busy(false);
    }
}

/// What the sync starts from: the ledger's entry of each source as `store` holds it.
fn work_of(store: &dyn Store) -> Result<Work, StoreError> {
    let recorded = crate::store::read(store, |tx| tx.sources())?;
    let mut work = Work::default();
    for (si, spec) in store.schema().sources.iter().enumerate() {
        if let Some(s) = recorded.get(&spec.display) {
            work.ledger.insert(si, s.clone());
        }
    }
    Ok(work)
}

fn settle(a: &mut Applier, si: usize, print: (u64, String)) {
    if let Err(e) = a.settle(si, print) {
        tracing::warn!("sync: cannot record the source in the ledger: {e}");
    }
}

impl Engine {
    /// Records sources `sis` in the ledger as they are now (hashing a large folder takes a
    /// while: done once the files have been quiet for [`SETTLE_AFTER`], not after each change).
    fn settle_sources(&self, sis: &BTreeSet<usize>) {
        if self.store.unusable().is_some() {
            return;
        }
        self.with_applier(|a| {
            for &si in sis {
                if let Some(p) = a.fingerprint(si) {
                    settle(a, si, p);
                }
            }
        });
    }
}

/// How long the files must be quiet before the ledger records them.
const SETTLE_AFTER: Duration = Duration::from_secs(2);

/// The one line the initial sync is reported in.
pub fn summary(changes: &[SourceChanges], took: Duration) -> String {
    let parts: Vec<String> = changes
        .iter()
        .map(|c| {
            if c.unchanged {
                format!("{} unchanged", c.source)
            } else {
                format!("{}: {}", c.source, c.changes)
            }
        })
        .collect();
    format!(
        "sync: initial sync in {} ms: {}",
        took.as_millis(),
        parts.join("; ")
    )
}

/// A running sync: the watcher, and the thread applying what it reports. [`Watch::stop`]
/// (or dropping it) stops the watcher and waits for the file in flight to be committed.
pub struct Watch {
    engine: Arc<Engine>,
    stop: Arc<AtomicBool>,
    watcher: Option<watcher::Watcher>,
    thread: Option<JoinHandle<()>>,
}

impl Watch {
    /// Starts watching the sources of `store`, runs the initial sync, then applies changes
    /// in the background. Returns the running sync and the initial sync's line.
    pub fn start(store: Arc<dyn Store>, debounce: Duration) -> anyhow::Result<(Watch, String)> {
        let engine = Arc::new(
            Engine::new(store, debounce.as_millis() as u64)
                .context("reading the ledger for the sync")?,
        );
        // Watching starts before the initial sync, so a change made during it is not missed.
        let (w, events) = watcher::Watcher::start(engine.store.schema(), debounce)?;
        let started = Instant::now();
        let initial = engine.rescan(true);
        let line = summary(&initial, started.elapsed());
        engine.state.started();
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (engine, stop) = (engine.clone(), stop.clone());
            std::thread::Builder::new()
                .name("jsonlift-sync".into())
                .spawn(move || {
                    let schema = engine.store.schema();
                    let mut unsettled = BTreeSet::new();
                    // Ends when the watcher is stopped (its sender dropped).
                    loop {
                        let first = if unsettled.is_empty() {
                            match events.recv() {
                                Ok(e) => e,
                                Err(_) => break,
                            }
                        } else {
                            match events.recv_timeout(SETTLE_AFTER) {
                                Ok(e) => e,
                                Err(RecvTimeoutError::Timeout) => {
                                    engine.settle_sources(&unsettled);
                                    unsettled.clear();
                                    continue;
                                }
                                Err(RecvTimeoutError::Disconnected) => break,
                            }
                        };
                        let mut touched = Touched::new();
                        watcher::route(schema, first, &mut touched);
                        while let Ok(more) = events.try_recv() {
                            watcher::route(schema, more, &mut touched);
                        }
                        if stop.load(Ordering::Relaxed) {
                            break;
                        }
                        unsettled.extend(touched.keys().copied());
                        engine.apply(touched, &stop);
                    }
                    engine.settle_sources(&unsettled);
                })
                .context("starting the sync thread")?
        };
        Ok((
            Watch {
                engine,
                stop,
                watcher: Some(w),
                thread: Some(thread),
            },
            line,
        ))
    }

    pub fn engine(&self) -> Arc<Engine> {
        self.engine.clone()
    }

    /// Stops watching; the file being applied is committed first.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(w) = self.watcher.take() {
            w.stop();
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        self.shutdown();
    }
}
