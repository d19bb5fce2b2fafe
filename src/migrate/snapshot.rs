//! The backup of the sources a migration takes, copied on its own thread while the load runs.
//!
//! A single-file source is parsed from the blocks of its copy as they are written (see
//! [`crate::backup::tee`]), so what is loaded is exactly what was hashed and kept, and the copy's
//! fsync overlaps the load. A folder is copied first and then read from the copy, as before.
//! The migration waits for the snapshot (complete, fsynced, manifest written) before it commits.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

use anyhow::Context;

use crate::backup::sources::{BackupError, Snapshot, prepare};
use crate::backup::tee::tee;
use crate::source::{Bytes, SourceSpec};

pub struct SourceBackup {
    dir: PathBuf,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<Result<Snapshot, BackupError>>>,
    done: Option<Snapshot>,
}

/// What to read for each source: its copy's spec, and for a file the bytes as they are copied.
pub struct Reads {
    pub specs: HashMap<usize, SourceSpec>,
    pub bytes: HashMap<usize, Bytes>,
}

impl SourceBackup {
    /// Starts copying sources `to_load` of `sources` into a new snapshot under `backup_root`.
    pub fn start(
        sources: &[SourceSpec],
        to_load: &[usize],
        project_dir: &Path,
        backup_root: &Path,
    ) -> anyhow::Result<(SourceBackup, Reads)> {
        // A collection without a source has nothing to copy.
        let list: Vec<(PathBuf, String)> = to_load
            .iter()
            .filter(|&&si| !crate::source::is_none(&sources[si]))
            .map(|&si| (sources[si].path.clone(), sources[si].display.clone()))
            .collect();
        let prepared = prepare(&list, backup_root).context("backing up the sources")?;
        let stop = Arc::new(AtomicBool::new(false));
        // A folder is loaded from its finished copy, after the whole snapshot: then no file
        // source may wait on a reader, so nothing streams.
        // So is a SQLite database (read where it lies, from its finished copy).
        let stream = to_load.iter().all(|&si| {
            !sources[si].path.is_dir()
                && !crate::source::is_sqlite(&sources[si])
                && !crate::source::is_none(&sources[si])
        });
        let mut reads = Reads {
            specs: HashMap::new(),
            bytes: HashMap::new(),
        };
        let mut taps = HashMap::new();
        for &si in to_load {
            let spec = &sources[si];
            let mut copy = spec.clone();
            if crate::source::is_none(spec) {
                reads.specs.insert(si, copy);
                continue;
            }
            copy.path = prepared.copy_path(&spec.path, project_dir);
            if stream {
                let len = std::fs::metadata(&spec.path)
                    .with_context(|| format!("reading {}", spec.display))?
                    .len();
                let (tap, feed) = tee(&stop);
                taps.insert(spec.path.clone(), tap);
                let read = Box::new(feed);
                reads.bytes.insert(si, Bytes { read, len });
            }
            reads.specs.insert(si, copy);
        }
        let dir = prepared.dir().to_path_buf();
        let (project_dir, backup_root) = (project_dir.to_path_buf(), backup_root.to_path_buf());
        let thread = std::thread::Builder::new()
            .name("jsonlift-backup".into())
            .spawn(move || prepared.fill(&list, &project_dir, &backup_root, taps))?;
        let mut backup = SourceBackup {
            dir,
            stop,
            thread: Some(thread),
            done: None,
        };
        if !stream {
            backup.wait()?;
        }
        Ok((backup, reads))
    }

    /// The snapshot folder (complete once [`SourceBackup::wait`] has returned it).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Waits until the snapshot is complete and durable.
    pub fn wait(&mut self) -> anyhow::Result<&Snapshot> {
        if let Some(t) = self.thread.take() {
            let snap = t.join().expect("the backup thread panicked");
            self.done = Some(snap.context("backing up the sources")?);
        }
        self.done
            .as_ref()
            .context("the backup of the sources failed")
    }

    /// The copy's error, if it has already failed (a reader's problem may only echo it).
    pub fn failed(&mut self) -> Option<anyhow::Error> {
        if self.thread.as_ref().is_some_and(|t| t.is_finished()) {
            return self.wait().err();
        }
        None
    }
}

impl Drop for SourceBackup {
    /// A migration that ends without waiting gives the copy up; the folder is removed by the
    /// copy itself (a failed snapshot) or by the caller.
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
