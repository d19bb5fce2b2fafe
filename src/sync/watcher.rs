//! File-system events, debounced, turned into the files of each source to look at. notify
//! (inotify on Linux) reports what happened; the full debouncer waits until a path has been
//! quiet for `[sync] debounce_ms`, so an editor's save (truncate and write, write a temporary
//! file and rename it over, delete and recreate) arrives as one batch. Which kind of event it
//! was matters little: the applier looks at each named file as it is now, and matches a
//! vanished file with a new one of the same content as a rename.

use std::collections::BTreeSet;
use std::path::{Component, Path, PathBuf};
use std::sync::mpsc::{Receiver, channel};
use std::time::Duration;

use anyhow::Context;
use notify_debouncer_full::notify::RecursiveMode;
use notify_debouncer_full::{
    DebounceEventResult, Debouncer, RecommendedCache, new_debouncer, notify::RecommendedWatcher,
};

use super::Touched;
use crate::schema::Schema;
use crate::source;

pub struct Watcher(Debouncer<RecommendedWatcher, RecommendedCache>);

impl Watcher {
    /// Watches every source of `schema`: a folder (with its sub-folders when the source is
    /// recursive), or the folder holding a single-file source (a file replaced by a rename is
    /// a new file, which a watch on the old one would not see).
    pub fn start(
        schema: &Schema,
        debounce: Duration,
    ) -> anyhow::Result<(Watcher, Receiver<DebounceEventResult>)> {
        let (tx, rx) = channel();
        let mut d = new_debouncer(debounce, None, tx).context("starting the file watcher")?;
        let mut roots: Vec<(PathBuf, RecursiveMode)> = Vec::new();
        for spec in &schema.sources {
            let root = if source::is_folder(spec) {
                let recursive = spec.members.first().is_some_and(|m| m.recursive);
                let mode = if recursive {
                    RecursiveMode::Recursive
                } else {
                    RecursiveMode::NonRecursive
                };
                (spec.path.clone(), mode)
            } else {
                let dir = spec
                    .path
                    .parent()
                    .map(Path::to_path_buf)
                    .unwrap_or_else(|| PathBuf::from("."));
                (dir, RecursiveMode::NonRecursive)
            };
            if !roots.contains(&root) {
                roots.push(root);
            }
        }
        for (path, mode) in &roots {
            d.watch(path, *mode)
                .with_context(|| format!("cannot watch {}", path.display()))?;
        }
        Ok((Watcher(d), rx))
    }

    /// Stops watching; the event sender goes with it.
    pub fn stop(self) {
        self.0.stop();
    }
}

/// Adds the files a batch of events names to `touched`, by source. A watcher error or an
/// overflowed queue (events were lost) makes every source be looked at whole.
pub(super) fn route(schema: &Schema, batch: DebounceEventResult, touched: &mut Touched) {
    let events = match batch {
        Ok(events) => events,
        Err(errors) => {
            for e in errors {
                tracing::warn!("sync: file watcher: {e}; rescanning");
            }
            all(schema, touched);
            return;
        }
    };
    for ev in events {
        if ev.need_rescan() {
            all(schema, touched);
            continue;
        }
        for path in &ev.paths {
            route_path(schema, path, touched);
        }
    }
}

fn all(schema: &Schema, touched: &mut Touched) {
    for si in 0..schema.sources.len() {
        touched.insert(si, None);
    }
}

fn route_path(schema: &Schema, path: &Path, touched: &mut Touched) {
    for (si, spec) in schema.sources.iter().enumerate() {
        if !source::is_folder(spec) {
            if path == spec.path {
                touched.insert(si, None);
            }
            continue;
        }
        let Ok(rest) = path.strip_prefix(&spec.path) else {
            continue;
        };
        let parts: Option<Vec<&str>> = rest
            .components()
            .map(|c| match c {
                Component::Normal(s) => s.to_str(),
                _ => None,
            })
            .collect();
        let Some(parts) = parts.filter(|p| !p.is_empty()) else {
            // The folder itself (moved, recreated): every file.
            touched.insert(si, None);
            continue;
        };
        let rel = parts.join("/");
        let recursive = spec.members.first().is_some_and(|m| m.recursive);
        if source::is_member_file(spec, &rel) {
            if let Some(Some(set)) = touched.get_mut(&si) {
                set.insert(rel);
            } else if !touched.contains_key(&si) {
                touched.insert(si, Some(BTreeSet::from([rel])));
            }
        } else if recursive && (path.is_dir() || (!path.exists() && path.extension().is_none())) {
            // A sub-folder moved in, out or away: its files are not named one by one.
            touched.insert(si, None);
        }
    }
}
