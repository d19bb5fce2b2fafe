//! Records written back to their source files as a write changes them: what `serve --watch`
//! (`crate::sync::write`) and `serve --store json` (`crate::migrate::json_store`) do inside a
//! write transaction, before it commits ([`export`](super::export) writes every record; this,
//! those a write changed). A folder source gets the one file of each record written (or
//! deleted); a single-file source is written whole. Every file goes through a temporary file,
//! fsync and a rename (the source writers `export` uses), in the formatting the ledger
//! recorded, so a person's files keep their look. A [`Guard`] says whether a file may be
//! overwritten and hears of each one written.

use std::collections::BTreeMap;
use std::path::Path;

use crate::audit::Entry;
use crate::json::Value;
use crate::schema::Schema;
use crate::source::{self, Layout};
use crate::store::records::Records;
use crate::store::{StoreError, Tx};

/// Decides about the files a write touches.
pub trait Guard {
    /// May `path` (named `file` in messages) be written or deleted? `exists`: the database
    /// held a record there before this write.
    fn check(&mut self, path: &Path, file: &str, exists: bool) -> Result<(), StoreError>;
    /// `path` was written (or deleted).
    fn written(&mut self, path: &Path) -> Result<(), StoreError>;
    /// The layout recorded for source `si`, when there is one.
    fn layout(&self, si: usize) -> Option<Layout>;
    /// Whether the database is known to have held `path` (a file of a deleted record that may
    /// have changed on disk since: [`Guard::check`] decides).
    fn held(&self, _path: &Path) -> bool {
        false
    }
}

/// Writes the files of the records that `entries` (a transaction's audit entries) changed, as
/// `tx` now holds them.
pub fn write_back(
    tx: &dyn Tx,
    schema: &Schema,
    entries: &[Entry],
    guard: &mut dyn Guard,
) -> Result<(), StoreError> {
    let mut by_source: BTreeMap<usize, Vec<(usize, &Entry)>> = BTreeMap::new();
    for e in entries {
        if let Some(ci) = schema
            .collections
            .iter()
            .position(|c| c.name == e.collection)
        {
            by_source
                .entry(schema.collections[ci].source)
                .or_default()
                .push((ci, e));
        }
    }
    for (si, es) in by_source {
        let spec = &schema.sources[si];
        let layout = guard
            .layout(si)
            .unwrap_or_else(super::export::default_layout);
        let failed = |e: anyhow::Error| StoreError::Other(e.context(spec.display.clone()));
        if !source::is_folder(spec) {
            guard.check(&spec.path, &spec.display, true)?;
            super::export::write_from_db(tx, schema, si, &layout, &spec.path, None)
                .map_err(failed)?;
            if let Some(dir) = spec.path.parent() {
                crate::backup::sync_dir(dir);
            }
            guard.written(&spec.path)?;
            continue;
        }
        let mut deleted: Vec<Value> = Vec::new();
        for (ci, e) in es {
            let recs = Records::new(schema, ci);
            let Some(key) = &e.key else { continue };
            if e.action == "delete" {
                deleted.extend(e.old_value());
                continue;
            }
            let (Some(at), Some(value)) = (recs.at_of(tx, key)?, recs.get(tx, key)?) else {
                continue;
            };
            let path = spec.path.join(&at);
            guard.check(
                &path,
                &source::record_display(spec, &at),
                e.action != "insert",
            )?;
            let mut feed = |_: usize, emit: &mut source::Emit| emit(Some(&at), &value, &[]);
            source::write_source(spec, &layout, &spec.path, &mut feed).map_err(failed)?;
            if let Some(dir) = path.parent() {
                crate::backup::sync_dir(dir);
            }
            guard.written(&path)?;
        }
        if !deleted.is_empty() {
            // The deleted records' files: those of the folder the database holds no more that
            // hold a deleted record (not a broken file the database never held).
            let Some(ci) = schema.collections.iter().position(|c| c.source == si) else {
                continue;
            };
            let ats = Records::new(schema, ci).ats(tx)?;
            let files = source::folder_files(spec).map_err(|p| failed(p.into()))?;
            for rel in files.into_iter().flatten().filter(|r| !ats.contains(r)) {
                let path = spec.path.join(&rel);
                let held = guard.held(&path)
                    || source::read_folder_file(spec, &rel, &layout)
                        .is_ok_and(|(rec, _)| deleted.contains(&rec.value));
                if !held {
                    continue;
                }
                let file = source::record_display(spec, &rel);
                guard.check(&path, &file, true)?;
                std::fs::remove_file(&path)
                    .map_err(|e| failed(anyhow::anyhow!("cannot delete {file}: {e}")))?;
                if let Some(dir) = path.parent() {
                    crate::backup::sync_dir(dir);
                }
                guard.written(&path)?;
            }
        }
    }
    Ok(())
}
