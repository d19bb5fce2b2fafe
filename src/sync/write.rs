//! API writes to a watched source go through its files (`serve --watch`): the store the API
//! is given wraps the database so that, inside each write transaction and before it commits,
//! every record the write touched is written to its file (a folder's one file, or the whole
//! single-file source) atomically, fsynced, in the formatting the ledger recorded. The files
//! therefore always hold the truth: if the commit then fails, the watcher applies the file.
//!
//! The content hash written is remembered as what the database holds ([`Work::known`]), so
//! the watcher, seeing the event, does not apply it a second time. A file whose content is not
//! what the database holds (changed on disk and not yet applied, or broken) is not overwritten:
//! the write is refused as a conflict (409) and changes nothing.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::Engine;
use super::apply::{Work, sha};
use crate::audit::{Entry, Filter};
use crate::json::JsonPath;
use crate::schema::Schema;
use crate::schema::shred::FieldError;
use crate::source;
use crate::store::records::Records;
use crate::store::{Store, StoreError, Tx};

/// The database as the API sees it while the files are watched.
pub struct WatchedStore {
    engine: Arc<Engine>,
}

impl WatchedStore {
    pub fn new(engine: Arc<Engine>) -> WatchedStore {
        WatchedStore { engine }
    }
}

fn conflict(message: String) -> StoreError {
    StoreError::Conflict(vec![FieldError {
        path: JsonPath::root(),
        message,
    }])
}

/// Refuses to overwrite (or delete) `path` unless it holds what the database holds; `exists`:
/// whether the database has a record there (an insert expects no file).
fn check_unchanged(work: &Work, path: &Path, file: &str, exists: bool) -> Result<(), StoreError> {
    let now = match std::fs::read(path) {
        Ok(b) => Some(sha(&b)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(StoreError::Other(anyhow::anyhow!("cannot read {file}: {e}"))),
    };
    let held = work.known.get(path).copied();
    match (now, exists) {
        (None, false) => Ok(()),
        (Some(_), false) => Err(conflict(format!(
            "{file} exists on disk but is not in the database yet (the sync applies it, or it is broken); read it again and retry"
        ))),
        (now, true) if now.is_some() && now == held => Ok(()),
        (None, true) => Err(conflict(format!(
            "{file} was deleted on disk since the record was read; read it again and retry"
        ))),
        _ => Err(conflict(format!(
            "{file} changed on disk since the record was read; read it again and retry"
        ))),
    }
}

/// Writes the files of the records `entries` (this transaction's audit entries) changed, as
/// the database now holds them; notes each path written in `written` and its hash in `work`.
fn through(
    tx: &dyn Tx,
    schema: &Schema,
    work: &mut Work,
    entries: &[Entry],
    written: &mut Vec<PathBuf>,
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
        let layout = match work.ledger.get(&si) {
            Some(s) => s.layout.clone(),
            None => crate::migrate::export::default_layout(),
        };
        let failed = |e: anyhow::Error| StoreError::Other(e.context(spec.display.clone()));
        if !source::is_folder(spec) {
            check_unchanged(work, &spec.path, &spec.display, true)?;
            crate::migrate::export::write_from_db(tx, schema, si, &layout, &spec.path, None)
                .map_err(failed)?;
            remember(work, &spec.path, written)?;
            continue;
        }
        let mut deleted = false;
        for (ci, e) in es {
            let recs = Records::new(schema, ci);
            let Some(key) = &e.key else { continue };
            if e.action == "delete" {
                deleted = true;
                continue;
            }
            let Some(at) = recs.at_of(tx, key)? else {
                continue;
            };
            let Some(value) = recs.get(tx, key)? else {
                continue;
            };
            let path = spec.path.join(&at);
            let file = source::record_display(spec, &at);
            check_unchanged(work, &path, &file, e.action != "insert")?;
            let mut feed = |_: usize,
                            emit: &mut dyn FnMut(
                Option<&str>,
                &crate::json::Value,
            ) -> anyhow::Result<()>| {
                emit(Some(&at), &value)
            };
            source::write_source(spec, &layout, &spec.path, &mut feed).map_err(failed)?;
            remember(work, &path, written)?;
        }
        if deleted {
            // The deleted records' files: those the database held and holds no more.
            let Some(ci) = schema.collections.iter().position(|c| c.source == si) else {
                continue;
            };
            let ats = Records::new(schema, ci).ats(tx)?;
            let gone: Vec<PathBuf> = work
                .known
                .keys()
                .filter(|p| {
                    p.strip_prefix(&spec.path)
                        .ok()
                        .and_then(|r| r.to_str())
                        .is_some_and(|rel| !ats.contains(rel))
                })
                .cloned()
                .collect();
            for path in gone {
                let rel = path.strip_prefix(&spec.path).unwrap_or(&path);
                let file = source::record_display(spec, &rel.to_string_lossy());
                check_unchanged(work, &path, &file, true)?;
                std::fs::remove_file(&path)
                    .map_err(|e| failed(anyhow::anyhow!("cannot delete {file}: {e}")))?;
                if let Some(dir) = path.parent() {
                    crate::backup::sync_dir(dir);
                }
                work.known.remove(&path);
                written.push(path);
            }
        }
    }
    Ok(())
}

/// Notes that `path` now holds what the database will hold once the transaction commits.
fn remember(work: &mut Work, path: &Path, written: &mut Vec<PathBuf>) -> Result<(), StoreError> {
    if let Some(dir) = path.parent() {
        crate::backup::sync_dir(dir);
    }
    let bytes = std::fs::read(path).map_err(|e| StoreError::Other(e.into()))?;
    work.known.insert(path.to_path_buf(), sha(&bytes));
    written.push(path.to_path_buf());
    Ok(())
}

impl Store for WatchedStore {
    fn schema(&self) -> &Schema {
        self.engine.store.schema()
    }

    fn read(&self, f: &mut dyn FnMut(&dyn Tx) -> Result<(), StoreError>) -> Result<(), StoreError> {
        self.engine.store.read(f)
    }

    fn write(
        &self,
        f: &mut dyn FnMut(&dyn Tx) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        // The sync's lock first, then the database's: the order the sync thread takes them in.
        let mut work = self.engine.lock_work();
        let schema = self.engine.store.schema();
        let mut written = Vec::new();
        let done = self.engine.store.write(&mut |tx| {
            let before = tx.audit_last_id()?;
            f(tx)?;
            let entries = tx.audit_query(&Filter {
                after_id: Some(before),
                ..Filter::default()
            })?;
            through(tx, schema, &mut work, &entries, &mut written)
        });
        if done.is_err() {
            // Files written before the failure hold the truth now: the watcher applies them.
            for p in &written {
                work.known.remove(p);
            }
        }
        done
    }

    fn close_connections(&self) {
        self.engine.store.close_connections()
    }

    fn point_reads_are_quick(&self) -> bool {
        self.engine.store.point_reads_are_quick()
    }

    fn database_file(&self) -> Option<&Path> {
        self.engine.store.database_file()
    }

    fn is_database(&self) -> bool {
        self.engine.store.is_database()
    }

    fn audit(&self, f: &Filter) -> Result<Vec<Entry>, StoreError> {
        self.engine.store.audit(f)
    }
}
