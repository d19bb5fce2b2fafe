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

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::Engine;
use super::apply::{Work, sha};
use crate::audit::{Entry, Filter};
use crate::json::JsonPath;
use crate::migrate::write_back::Guard;
use crate::schema::Schema;
use crate::schema::shred::FieldError;
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
        Err(e) => {
            return Err(StoreError::Other(anyhow::anyhow!(
                "cannot read {file}: {e}"
            )));
        }
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

/// What the sync knows of the files guards the writes: a file must hold what the database
/// holds before it is overwritten, and what is written is remembered.
struct Known<'w> {
    work: &'w mut Work,
    written: &'w mut Vec<PathBuf>,
}

impl Guard for Known<'_> {
    fn check(&mut self, path: &Path, file: &str, exists: bool) -> Result<(), StoreError> {
        check_unchanged(self.work, path, file, exists)
    }

    fn written(&mut self, path: &Path) -> Result<(), StoreError> {
        match std::fs::read(path) {
            Ok(bytes) => {
                self.work.known.insert(path.to_path_buf(), sha(&bytes));
            }
            // Deleted.
            Err(_) => {
                self.work.known.remove(path);
            }
        }
        self.written.push(path.to_path_buf());
        Ok(())
    }

    fn layout(&self, si: usize) -> Option<crate::source::Layout> {
        self.work.ledger.get(&si).map(|s| s.layout.clone())
    }

    fn held(&self, path: &Path) -> bool {
        self.work.known.contains_key(path)
    }
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
            let mut guard = Known {
                work: &mut work,
                written: &mut written,
            };
            crate::migrate::write_back::write_back(tx, schema, &entries, &mut guard)
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
