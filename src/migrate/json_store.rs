//! The JSON files themselves as a [`Store`] (`serve --store json`): the legacy mode and the way
//! back. Each operation loads the sources into an in-memory SQLite database through the same
//! load path as `migrate` (cached while no jsonlift process wrote, as counted in the lock file,
//! and the files' modification times and sizes stay the same),
//! runs the very same record operation (same validation, same answers), and for a write puts
//! the changed sources back in their shape and formatting: temp file, fsync, rename. A lock
//! file beside the project file serializes writers across processes (shared for readers).
//! The audit log goes to `.jsonlift/audit.jsonl` beside the project file, one entry per line.
//! The in-memory database is a [`MemoryDb`].

use std::collections::{BTreeSet, HashMap};
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::SystemTime;

use anyhow::{Context, anyhow, bail};

use super::export::write_from_db;
use super::load::load_source;
use super::{Progress, Report};
use crate::audit::{Entry, Filter};
use crate::config::Project;
use crate::schema::Schema;
use crate::schema::ddl::{internal_tables, schema_sql};
use crate::schema::shred::Ids;
use crate::source::Layout;
use crate::store::Dialect;
use crate::store::memory::MemoryDb;
use crate::store::{Store, StoreError, Tx};

/// What identifies a version of a source without reading it: its modification time and size
/// (a folder: its newest file or sub-folder, the sum of the sizes, how many files), so an
/// edit of a folder's file in place is seen as well as one that adds or removes a file.
type Stamp = Vec<Option<(SystemTime, u64, u64)>>;

fn folder_stamp(dir: &Path) -> Option<(SystemTime, u64, u64)> {
    let mut newest = std::fs::metadata(dir).ok()?.modified().ok()?;
    let (mut size, mut files) = (0u64, 0u64);
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).ok()?.flatten() {
            let Ok(m) = std::fs::metadata(e.path()) else {
                continue;
            };
            if let Ok(t) = m.modified() {
                newest = newest.max(t);
            }
            if m.is_dir() {
                stack.push(e.path());
            } else {
                size += m.len();
                files += 1;
            }
        }
    }
    Some((newest, size, files))
}

struct Loaded {
    stamp: Stamp,
    /// The write generation of the lock file when loaded (see [`FileLock::generation`]).
    generation: u64,
    db: MemoryDb,
    layouts: HashMap<usize, Layout>,
}

pub struct JsonStore {
    schema: Schema,
    lock_path: PathBuf,
    audit_path: PathBuf,
    cache: Mutex<Option<Loaded>>,
}

/// An advisory lock on the lock file, released on drop.
struct FileLock(File);

impl FileLock {
    fn take(path: &Path, exclusive: bool) -> std::io::Result<FileLock> {
        let f = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(path)?;
        let op = if exclusive {
            libc::LOCK_EX
        } else {
            libc::LOCK_SH
        };
        // SAFETY: flock on a descriptor we own; blocks this (blocking-pool) thread until granted.
        if unsafe { libc::flock(f.as_raw_fd(), op) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(FileLock(f))
    }
}

impl FileLock {
    /// How many writes jsonlift processes have made, kept in the lock file. File times alone
    /// cannot tell a cache it is stale: they tick coarsely (a few ms on Linux), so another
    /// server's write of the same size in the same tick would go unseen and be overwritten.
    fn generation(&self) -> std::io::Result<u64> {
        let mut b = [0u8; 8];
        match self.0.read_exact_at(&mut b, 0) {
            Ok(()) => Ok(u64::from_le_bytes(b)),
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Ok(0),
            Err(e) => Err(e),
        }
    }

    /// Counts one more write (the lock must be exclusive).
    fn bump(&self) -> std::io::Result<u64> {
        let g = self.generation()?.wrapping_add(1);
        self.0.write_all_at(&g.to_le_bytes(), 0)?;
        Ok(g)
    }
}

impl Drop for FileLock {
    fn drop(&mut self) {
        // SAFETY: unlocking our own descriptor (closing it would release the lock too).
        unsafe {
            libc::flock(self.0.as_raw_fd(), libc::LOCK_UN);
        }
    }
}

impl JsonStore {
    pub fn open(project: &Project, schema: Schema) -> anyhow::Result<JsonStore> {
        // The files are the store here: a legacy database is only ever read, and a collection
        // without a source has no file to keep it in.
        for spec in &schema.sources {
            if crate::source::is_sqlite(spec) || crate::source::is_none(spec) {
                bail!(
                    "{}: --store json serves collections from their JSON files; this one is {}, so serve it from the database (the default)",
                    spec.display,
                    if crate::source::is_sqlite(spec) {
                        "a SQLite database, which jsonlift never writes"
                    } else {
                        "without a source"
                    }
                );
            }
        }
        let dir = project.root.join(".jsonlift");
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let store = JsonStore {
            schema,
            lock_path: dir.join("serve.lock"),
            audit_path: dir.join("audit.jsonl"),
            cache: Mutex::new(None),
        };
        // Load once now, so that broken sources stop the server at start with their problems.
        let lock = FileLock::take(&store.lock_path, false)?;
        let loaded = store.load(&lock).map_err(|e| anyhow!("{e}"))?;
        *store.cache.lock().expect("cache lock") = Some(loaded);
        Ok(store)
    }

    fn stamp(&self) -> Stamp {
        self.schema
            .sources
            .iter()
            .map(|s| {
                if crate::source::is_folder(s) {
                    return folder_stamp(&s.path);
                }
                let m = std::fs::metadata(&s.path).ok()?;
                Some((m.modified().ok()?, m.len(), 0))
            })
            .collect()
    }

    /// Every source, loaded into a fresh in-memory database. A broken file of a folder
    /// source is left out (and logged), so the other records are still served; a broken
    /// single-file source stops the load, since what follows its error cannot be read.
    fn load(&self, lock: &FileLock) -> Result<Loaded, StoreError> {
        let mut specs = self.schema.sources.clone();
        loop {
            let (loaded, problems) = self.load_specs(lock, &specs)?;
            if problems.is_empty() {
                return Ok(loaded.expect("loaded without problems"));
            }
            // Each problem a file of a folder source: leave those files out and load again.
            let mut skipped = false;
            let mut fatal = Vec::new();
            for p in &problems {
                let in_folder = specs.iter_mut().find(|sp| {
                    crate::source::is_folder(sp) && p.file.starts_with(&format!("{}/", sp.display))
                });
                match in_folder {
                    Some(sp) => {
                        let rel = p.file[sp.display.len() + 1..].to_string();
                        if !sp.skip.contains(&rel) {
                            tracing::warn!("--store json: left out, not served: {p}");
                            sp.skip.push(rel);
                            skipped = true;
                        }
                    }
                    None => fatal.push(p.to_string()),
                }
            }
            if !fatal.is_empty() || !skipped {
                let lines: Vec<String> = problems.iter().map(|p| p.to_string()).collect();
                return Err(anyhow!(
                    "the JSON sources have problems (run `jsonlift check`):\n{}",
                    lines.join("\n")
                )
                .into());
            }
        }
    }

    /// One load of `specs`: the loaded database, or the problems found.
    fn load_specs(
        &self,
        lock: &FileLock,
        specs: &[crate::source::SourceSpec],
    ) -> Result<(Option<Loaded>, Vec<crate::error::Problem>), StoreError> {
        let stamp = self.stamp();
        let generation = lock.generation().map_err(anyhow::Error::from)?;
        let db = MemoryDb::create(
            schema_sql(&self.schema, Dialect::Sqlite)
                .into_iter()
                .chain(internal_tables(Dialect::Sqlite)),
        )?;
        let mut ids = Ids::new(self.schema.tables.len());
        let mut report = Report::new("serve", PathBuf::new());
        let mut layouts = HashMap::new();
        let loaded = db.load(|conn| {
            for (si, spec) in specs.iter().enumerate() {
                if let Some(l) = load_source(
                    conn,
                    &self.schema,
                    si,
                    spec,
                    None,
                    &mut ids,
                    &mut report,
                    &Progress::auto(true),
                    false,
                    None,
                )? {
                    layouts.insert(si, l.layout);
                }
            }
            Ok(report.ok)
        })?;
        if !loaded {
            return Ok((None, report.problems));
        }
        Ok((
            Some(Loaded {
                stamp,
                generation,
                db,
                layouts,
            }),
            Vec::new(),
        ))
    }

    /// The cached load, refreshed when another server wrote or a source changed on disk.
    fn with_loaded<T>(
        &self,
        lock: &FileLock,
        f: impl FnOnce(&mut Loaded) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut cache = self.cache.lock().expect("cache lock");
        let generation = lock.generation().map_err(anyhow::Error::from)?;
        if cache
            .as_ref()
            .is_none_or(|l| l.generation != generation || l.stamp != self.stamp())
        {
            *cache = Some(self.load(lock)?);
        }
        f(cache.as_mut().expect("loaded above"))
    }

    /// Writes single-file source `si` back atomically: a temp file beside it, fsync, rename.
    fn put_back(&self, loaded: &Loaded, si: usize) -> anyhow::Result<()> {
        let spec = &self.schema.sources[si];
        let name = spec
            .path
            .file_name()
            .context("source has no file name")?
            .to_string_lossy();
        let tmp = spec
            .path
            .with_file_name(format!(".{name}.jsonlift-tmp-{}", std::process::id()));
        let layout = loaded
            .layouts
            .get(&si)
            .cloned()
            .unwrap_or_else(super::export::default_layout);
        let result = write_from_db(&loaded.db.tx(), &self.schema, si, &layout, &tmp, None)
            .and_then(|_| {
                File::open(&tmp)?.sync_all()?;
                std::fs::rename(&tmp, &spec.path)?;
                if let Some(dir) = spec.path.parent() {
                    let _ = File::open(dir).and_then(|d| d.sync_all());
                }
                Ok(())
            });
        if result.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        result
    }

    fn append_audit(&self, entries: &[Entry]) -> anyhow::Result<()> {
        let first = match File::open(&self.audit_path) {
            Ok(f) => BufReader::new(f).lines().count() as i64 + 1,
            Err(_) => 1,
        };
        let mut f = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.audit_path)
            .with_context(|| format!("opening {}", self.audit_path.display()))?;
        let mut text = String::new();
        for (i, e) in entries.iter().enumerate() {
            let mut e = e.clone();
            e.id = first + i as i64;
            text.push_str(&serde_json::to_string(&e)?);
            text.push('\n');
        }
        f.write_all(text.as_bytes())?;
        f.sync_data()?;
        Ok(())
    }
}

/// The layouts the files were loaded with, for writing folder records back: each file is
/// what was loaded (the cache reloads when a source changes), so any may be written.
struct Layouts<'l>(&'l HashMap<usize, Layout>);

impl super::write_back::Guard for Layouts<'_> {
    /// A new record's file must not exist yet (a broken file left out of the load has that
    /// name, or another process just wrote one).
    fn check(&mut self, path: &Path, file: &str, exists: bool) -> Result<(), StoreError> {
        if !exists && path.exists() {
            return Err(StoreError::Conflict(vec![
                crate::schema::shred::FieldError {
                    path: crate::json::JsonPath::root(),
                    message: format!(
                        "{file} already exists on disk (a file that cannot be read is not served); fix or remove it first"
                    ),
                },
            ]));
        }
        Ok(())
    }
    fn written(&mut self, _: &Path) -> Result<(), StoreError> {
        Ok(())
    }
    fn layout(&self, si: usize) -> Option<Layout> {
        self.0.get(&si).cloned()
    }
}

impl Store for JsonStore {
    fn schema(&self) -> &Schema {
        &self.schema
    }

    fn is_database(&self) -> bool {
        false
    }

    fn read(&self, f: &mut dyn FnMut(&dyn Tx) -> Result<(), StoreError>) -> Result<(), StoreError> {
        let lock = FileLock::take(&self.lock_path, false).map_err(anyhow::Error::from)?;
        self.with_loaded(&lock, |l| f(&l.db.tx()))
    }

    fn write(
        &self,
        f: &mut dyn FnMut(&dyn Tx) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let lock = FileLock::take(&self.lock_path, true).map_err(anyhow::Error::from)?;
        self.with_loaded(&lock, |l| {
            let before = l.db.tx().audit_last_id()?;
            let shared: &Loaded = l;
            let done = shared.db.write(|tx| {
                // Counted before the files change: a crash in between makes others reload, at
                // worst for nothing.
                let generation = lock.bump().map_err(anyhow::Error::from)?;
                f(tx)?;
                let entries = tx.audit_query(&Filter {
                    after_id: Some(before),
                    ..Filter::default()
                })?;
                let touched: BTreeSet<usize> = entries
                    .iter()
                    .filter_map(|e| {
                        self.schema
                            .collections
                            .iter()
                            .find(|c| c.name == e.collection)
                    })
                    .map(|c| c.source)
                    .collect();
                // Folders: the files of the records written (write_back); single files:
                // written whole.
                let (folders, files): (Vec<usize>, Vec<usize>) = touched
                    .into_iter()
                    .partition(|&si| crate::source::is_folder(&self.schema.sources[si]));
                if !folders.is_empty() {
                    let mut guard = Layouts(&shared.layouts);
                    super::write_back::write_back(tx, &self.schema, &entries, &mut guard)?;
                }
                for si in files {
                    self.put_back(shared, si)?;
                }
                self.append_audit(&entries)?;
                Ok(generation)
            });
            match done {
                Ok(generation) => {
                    l.generation = generation;
                    l.stamp = self.stamp();
                    Ok(())
                }
                Err(e) => {
                    // A source may have been written before a later one failed: reload from disk.
                    l.stamp = Vec::new();
                    Err(e)
                }
            }
        })
    }

    fn audit(&self, filter: &Filter) -> Result<Vec<Entry>, StoreError> {
        let _lock = FileLock::take(&self.lock_path, false).map_err(anyhow::Error::from)?;
        let Ok(file) = File::open(&self.audit_path) else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        for line in BufReader::new(file).lines() {
            let e: Entry = serde_json::from_str(&line.map_err(anyhow::Error::from)?)
                .map_err(anyhow::Error::from)?;
            let keep = filter
                .collection
                .as_ref()
                .is_none_or(|c| *c == e.collection)
                && filter
                    .key
                    .as_ref()
                    .is_none_or(|k| Some(k) == e.key.as_ref())
                && filter.since.as_ref().is_none_or(|s| e.at >= *s)
                && filter.after_id.is_none_or(|a| e.id > a);
            if keep {
                out.push(e);
            }
            if filter.limit.is_some_and(|n| out.len() >= n) {
                break;
            }
        }
        Ok(out)
    }
}
