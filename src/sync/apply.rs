//! Bringing the database to what a source's files say, record by record: a folder's file at a
//! time (added, changed, deleted, renamed), a single-file source by re-reading it and applying
//! the differences (records unchanged keep their rows, changed ones are updated in place, gone
//! ones deleted). Each file is one transaction through the store seam ([`crate::store::Tx`], so
//! SQLite and PostgreSQL alike), audited with actor `sync` and the file's name, and it carries
//! the file's formatting into the ledger's layout so `export` still writes it back byte for
//! byte. A file that does not read or validate changes nothing: its problem goes to
//! [`SyncState`] and its records keep their last good version.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use serde::Serialize;
use sha2::{Digest, Sha256};

use super::state::SyncState;
use crate::audit::Actor;
use crate::error::Problem;
use crate::json::Value;
use crate::migrate::load::place;
use crate::schema::Schema;
use crate::schema::shred::FieldError;
use crate::source::{self, Layout, Record, SourceSpec};
use crate::store::backend::SourceState;
use crate::store::records::Records;
use crate::store::{Store, StoreError, Tx};

/// What applying files changed, per source (the answer of `POST /_admin/sync/reload`, the
/// line printed at start).
#[derive(Debug, Default, Clone, Copy, Serialize, PartialEq, Eq)]
pub struct Changes {
    pub added: u64,
    pub changed: u64,
    pub deleted: u64,
    pub renamed: u64,
    /// Files not applied because of a problem.
    pub errors: u64,
}

impl Changes {
    pub fn add(&mut self, o: Changes) {
        self.added += o.added;
        self.changed += o.changed;
        self.deleted += o.deleted;
        self.renamed += o.renamed;
        self.errors += o.errors;
    }

    pub fn is_empty(&self) -> bool {
        *self == Changes::default()
    }
}

impl std::fmt::Display for Changes {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        write!(
            f,
            "{} added, {} changed, {} deleted, {} renamed",
            self.added, self.changed, self.deleted, self.renamed
        )?;
        if self.errors > 0 {
            write!(f, ", {} not applied", self.errors)?;
        }
        Ok(())
    }
}

/// What the sync remembers between files; one owner at a time (the engine's lock).
#[derive(Default)]
pub struct Work {
    /// The sha256 of each file as the database now holds it, by path: an event on a file whose
    /// content is the same (a touch, jsonlift's own write) is nothing to do.
    pub known: HashMap<PathBuf, [u8; 32]>,
    /// The ledger's entry of each source (its layout above all), by source index.
    pub ledger: HashMap<usize, SourceState>,
}

/// Applies files of the sources of `store` to it.
pub struct Applier<'a> {
    pub store: &'a dyn Store,
    pub state: &'a SyncState,
    pub work: &'a mut Work,
}

/// The attempts at reading a file that is being replaced (gone for a moment, or not yet
/// readable), waiting twice as long each time.
const READ_RETRIES: [u64; 5] = [10, 20, 40, 80, 160];

/// The file's bytes; `None` when it is gone (and stays gone through the retries).
fn read_retrying(path: &Path) -> std::io::Result<Option<Vec<u8>>> {
    let mut last = None;
    for wait in READ_RETRIES {
        match std::fs::read(path) {
            Ok(b) => return Ok(Some(b)),
            Err(e) if e.kind() == ErrorKind::IsADirectory => return Ok(None),
            Err(e) => last = Some(e),
        }
        std::thread::sleep(Duration::from_millis(wait));
    }
    match last {
        Some(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Some(e) => Err(e),
        None => Ok(None),
    }
}

pub(super) fn sha(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// How long ago the file was written (the lag of the change about to be committed).
fn since_written(path: &Path) -> Option<Duration> {
    let m = std::fs::metadata(path).ok()?.modified().ok()?;
    SystemTime::now().duration_since(m).ok()
}

fn actor(file: &str) -> Actor {
    Actor {
        name: "sync".into(),
        request_id: file.to_string(),
    }
}

/// A store error of the record read from `rec` as one problem at its place in the file (the
/// first; how many more there are is said).
fn problem_of(e: StoreError, rec: Option<&Record>, file: &str) -> Problem {
    let errs: Vec<FieldError> = match e {
        StoreError::Invalid(errs) | StoreError::Conflict(errs) => errs,
        other => return Problem::new(file, other.to_string()),
    };
    let n = errs.len();
    let Some(first) = errs.into_iter().next() else {
        return Problem::new(file, "refused by the database");
    };
    let more = if n > 1 {
        format!(" (and {} more)", n - 1)
    } else {
        String::new()
    };
    let message = format!("{}{more}", first.message);
    match rec {
        Some(r) => place(&r.origin, file.to_string(), &first.path, message),
        None => Problem::new(file, message).with_path(first.path),
    }
}

/// The most files a full pass applies in one transaction: a commit (a round trip and a flush
/// on PostgreSQL) per file made the initial sync of 10,000 files take minutes there, and a
/// batch this size is still a short transaction.
const BATCH: usize = 500;

/// A batch of this many files or more refreshes the database's statistics of the collection's
/// tables ([`crate::store::Tx::refresh_statistics`]): a folder synced into a near-empty table
/// would otherwise have every later lookup by key scan the table on PostgreSQL (the initial sync
/// of 10,000 new files took 20 s there, against 0.7 s on SQLite).
const STATISTICS_AFTER: usize = 100;

/// One file of a folder to apply: its record put as read, or deleted (the file is gone).
struct Step {
    rel: String,
    /// The file's name as problems and the audit log give it.
    file: String,
    /// The record the file holds; `None`: the file is gone, and its record goes.
    rec: Option<Record>,
    /// The file's own formatting, for the ledger's layout.
    own: Option<source::FileLayout>,
    /// The file as read: its path, its sha256, how long ago it was written.
    read: Option<(PathBuf, [u8; 32], Option<Duration>)>,
}

impl Step {
    fn delete(spec: &SourceSpec, rel: &str) -> Step {
        Step {
            rel: rel.to_string(),
            file: source::record_display(spec, rel),
            rec: None,
            own: None,
            read: None,
        }
    }
}

impl<'a> Applier<'a> {
    fn schema(&self) -> &'a Schema {
        self.store.schema()
    }

    /// The collections reading source `si`, by member.
    fn collections(&self, si: usize) -> Vec<(usize, usize)> {
        self.schema()
            .collections
            .iter()
            .enumerate()
            .filter(|(_, c)| c.source == si)
            .map(|(ci, c)| (c.member, ci))
            .collect()
    }

    /// Records of source `si` in the database.
    pub fn documents(&self, si: usize) -> Result<u64, StoreError> {
        let schema = self.schema();
        let tables: Vec<usize> = schema.collections_of(si).map(|c| c.table).collect();
        crate::store::read(self.store, |tx| {
            tables
                .iter()
                .map(|&t| tx.count(&schema.tables[t]))
                .sum::<Result<u64, StoreError>>()
        })
    }

    /// Whether source `si` is as the ledger recorded it (same size and sha256): the initial
    /// sync then leaves it alone. Returns the fingerprint.
    pub fn fingerprint(&self, si: usize) -> Option<(u64, String)> {
        let spec = &self.schema().sources[si];
        if source::is_folder(spec) {
            crate::backup::hash_folder(&spec.path).ok()
        } else {
            crate::backup::hash_file(&spec.path).ok()
        }
    }

    /// Notes every file of source `si` as held by the database (the initial sync found the
    /// source as the ledger recorded it): an API write may then overwrite them.
    pub fn remember_files(&mut self, si: usize) {
        let spec = &self.schema().sources[si];
        let paths: Vec<PathBuf> = if source::is_folder(spec) {
            match source::folder_files(spec) {
                Ok(files) => files
                    .into_iter()
                    .flatten()
                    .map(|rel| spec.path.join(rel))
                    .collect(),
                Err(_) => Vec::new(),
            }
        } else {
            vec![spec.path.clone()]
        };
        for p in paths {
            if let Ok(bytes) = std::fs::read(&p) {
                self.work.known.insert(p, sha(&bytes));
            }
        }
    }

    /// Records in the ledger that source `si` is now `print` (and its layout as applied), so
    /// `migrate` and `/_admin/health` see it as in step with the database.
    pub fn settle(&mut self, si: usize, print: (u64, String)) -> Result<(), StoreError> {
        let records = self.documents(si)?;
        let Some(state) = self.work.ledger.get_mut(&si) else {
            return Ok(());
        };
        state.size = print.0;
        state.sha256 = print.1;
        state.records = records;
        state.migrated_at = crate::clock::now();
        let state = state.clone();
        crate::store::write(self.store, |tx| tx.source_write(&state))?;
        self.state.synced(si, records);
        Ok(())
    }

    /// Applies source `si`: every file (`touched` = `None`: the initial sync, a reload) or the
    /// files named (relative to a folder source; a single-file source is always read whole).
    pub fn source(&mut self, si: usize, touched: Option<&BTreeSet<String>>) -> Changes {
        let spec = self.schema().sources[si].clone();
        let out = if source::is_folder(&spec) {
            self.folder(si, &spec, touched)
        } else {
            self.single(si, &spec)
        };
        if let Ok(n) = self.documents(si) {
            self.state.synced(si, n);
        }
        out
    }

    // ----- folders ---------------------------------------------------------------------------

    fn folder(
        &mut self,
        si: usize,
        spec: &SourceSpec,
        touched: Option<&BTreeSet<String>>,
    ) -> Changes {
        let mut out = Changes::default();
        let Some(&(_, ci)) = self.collections(si).first() else {
            return out;
        };
        let recs = Records::new(self.schema(), ci);
        // The files looked at, on disk and in the database.
        let mut on_disk = BTreeSet::new();
        let in_db: Result<BTreeMap<String, Value>, StoreError> = match touched {
            None => {
                match source::folder_files(spec) {
                    Ok(files) => {
                        for f in files {
                            match f {
                                Ok(rel) => {
                                    on_disk.insert(rel);
                                }
                                Err(p) => {
                                    out.errors += 1;
                                    let file = p.file.clone();
                                    self.state.error(si, &file, p);
                                }
                            }
                        }
                    }
                    Err(p) => {
                        // The folder itself cannot be read: nothing is deleted for it.
                        out.errors += 1;
                        self.state.error(si, &spec.display, p);
                        return out;
                    }
                }
                crate::store::read(self.store, |tx| {
                    Ok(recs
                        .entries(tx)?
                        .into_iter()
                        .filter_map(|e| Some((e.at?, e.value)))
                        .collect())
                })
            }
            Some(rels) => {
                for rel in rels {
                    if spec.path.join(rel).is_file() {
                        on_disk.insert(rel.clone());
                    }
                }
                crate::store::read(self.store, |tx| {
                    let mut m = BTreeMap::new();
                    for rel in rels {
                        if let Some(v) = recs.get_at(tx, rel)? {
                            m.insert(rel.clone(), v);
                        }
                    }
                    Ok(m)
                })
            }
        };
        let mut in_db = match in_db {
            Ok(m) => m,
            Err(e) => {
                out.errors += 1;
                self.state.error(
                    si,
                    &spec.display,
                    Problem::new(&spec.display, e.to_string()),
                );
                return out;
            }
        };
        let layout = self.layout(si);
        // A new file holding exactly what a vanished one held is that file renamed.
        let new: Vec<String> = on_disk
            .iter()
            .filter(|r| !in_db.contains_key(*r))
            .cloned()
            .collect();
        let mut gone: Vec<String> = in_db
            .keys()
            .filter(|g| !on_disk.contains(*g))
            .cloned()
            .collect();
        for rel in &new {
            if gone.is_empty() {
                break;
            }
            let Ok((rec, own)) = source::read_folder_file(spec, rel, &layout) else {
                continue;
            };
            let Some(gi) = gone.iter().position(|g| in_db[g] == rec.value) else {
                continue;
            };
            let from = gone.swap_remove(gi);
            let file = source::record_display(spec, rel);
            let done = self.write_file(si, rel, Some(&from), own.clone(), &file, |tx| {
                recs.rename_at(tx, &from, rel, &actor(&file))
            });
            match done {
                Ok(_) => {
                    out.renamed += 1;
                    self.state.applied(since_written(&spec.path.join(rel)));
                    in_db.remove(&from);
                    in_db.insert(rel.clone(), rec.value);
                    self.state
                        .clear_error(si, &source::record_display(spec, &from));
                }
                Err(e) => {
                    out.errors += 1;
                    self.state
                        .error(si, &file, problem_of(e, Some(&rec), &file));
                }
            }
        }
        // Files gone: their records go.
        let gone: Vec<Step> = in_db
            .keys()
            .filter(|g| !on_disk.contains(*g))
            .map(|rel| Step::delete(spec, rel))
            .collect();
        for (_, done) in self.steps(si, &recs, gone, touched.is_none()) {
            match done {
                Ok(true) => out.deleted += 1,
                Ok(false) => {}
                Err(()) => out.errors += 1,
            }
        }
        // Touched files that vanished without a record (a broken file deleted) are fine now.
        if let Some(rels) = touched {
            for rel in rels.iter().filter(|r| !on_disk.contains(*r)) {
                self.state
                    .clear_error(si, &source::record_display(spec, rel));
                self.work.known.remove(&spec.path.join(rel));
            }
        }
        // Every file there: applied when its content is not what the database holds.
        let mut steps = Vec::new();
        for rel in &on_disk {
            match self.read_step(si, spec, rel, &layout) {
                Ok(Some(step)) => steps.push(step),
                Ok(None) => {}
                Err(()) => out.errors += 1,
            }
        }
        for (rel, done) in self.steps(si, &recs, steps, touched.is_none()) {
            match done {
                Ok(true) if in_db.contains_key(&rel) => out.changed += 1,
                Ok(true) => out.added += 1,
                Ok(false) => {}
                Err(()) => out.errors += 1,
            }
        }
        out
    }

    /// The layout the ledger holds for source `si`.
    fn layout(&self, si: usize) -> Layout {
        match self.work.ledger.get(&si) {
            Some(s) => s.layout.clone(),
            None => Layout {
                style: source::folder::default_style(),
                ..Layout::default()
            },
        }
    }

    /// One file of a folder read for applying: `Ok(None)` when there is nothing to do (its
    /// content is what the database holds, or it is gone), `Err` when it is not applied (the
    /// problem noted).
    fn read_step(
        &mut self,
        si: usize,
        spec: &SourceSpec,
        rel: &str,
        layout: &Layout,
    ) -> Result<Option<Step>, ()> {
        let file = source::record_display(spec, rel);
        let path = spec.path.join(rel);
        let bytes = match read_retrying(&path) {
            Ok(Some(b)) => b,
            // Gone between the look and the read: the next event says what became of it.
            Ok(None) => return Ok(None),
            Err(e) => {
                self.state.error(
                    si,
                    &file,
                    Problem::new(&file, format!("cannot read the file: {e}")),
                );
                return Err(());
            }
        };
        let hash = sha(&bytes);
        if self.work.known.get(&path) == Some(&hash) {
            return Ok(None);
        }
        let (rec, own) = match source::read_folder_file(spec, rel, layout) {
            Ok(r) => r,
            Err(p) => {
                self.state.error(si, &file, p);
                return Err(());
            }
        };
        let lag = since_written(&path);
        Ok(Some(Step {
            rel: rel.to_string(),
            file,
            rec: Some(rec),
            own,
            read: Some((path, hash, lag)),
        }))
    }

    /// Applies `steps` to the folder collection `recs` of source `si`: each file in its own
    /// transaction, or (`batched`: a full pass, where thousands of files may have changed) up
    /// to [`BATCH`] files in one, each audited under its own name. A batch the database
    /// refuses is applied again a file at a time, so that one file it refuses (a record that
    /// does not validate) is the only one not applied. Notes each file's outcome in the
    /// state; returns, by file, whether its record changed (`Err`: not applied).
    fn steps(
        &mut self,
        si: usize,
        recs: &Records,
        steps: Vec<Step>,
        batched: bool,
    ) -> Vec<(String, Result<bool, ()>)> {
        let mut out = Vec::with_capacity(steps.len());
        let mut rest = steps.into_iter().peekable();
        while rest.peek().is_some() {
            let chunk: Vec<Step> = match batched {
                true => rest.by_ref().take(BATCH).collect(),
                false => rest.by_ref().take(1).collect(),
            };
            let done = match chunk.len() {
                1 => None,
                _ => self.write_batch(si, recs, &chunk).ok(),
            };
            let done: Vec<Result<bool, StoreError>> = match done {
                Some(changed) => changed.into_iter().map(Ok).collect(),
                None => chunk
                    .iter()
                    .map(|step| {
                        let value = step.rec.as_ref().map(|r| r.value.clone());
                        let who = actor(&step.file);
                        self.write_file(si, &step.rel, None, step.own.clone(), &step.file, |tx| {
                            recs.put_at(tx, &step.rel, value.clone(), &who)
                        })
                    })
                    .collect(),
            };
            for (step, done) in chunk.into_iter().zip(done) {
                out.push((step.rel.clone(), self.settled(si, step, done)));
            }
        }
        out
    }

    /// Notes the outcome of one file's step in the state and in what the sync knows.
    fn settled(
        &mut self,
        si: usize,
        step: Step,
        done: Result<bool, StoreError>,
    ) -> Result<bool, ()> {
        match done {
            Ok(changed) => {
                let mut lag = None;
                if let Some((path, hash, l)) = step.read {
                    self.work.known.insert(path, hash);
                    lag = l;
                }
                self.state.clear_error(si, &step.file);
                if changed {
                    self.state.applied(lag);
                }
                Ok(changed)
            }
            Err(e) => {
                self.state
                    .error(si, &step.file, problem_of(e, step.rec.as_ref(), &step.file));
                Err(())
            }
        }
    }

    /// Applies several files' steps in one transaction, with their formatting recorded in the
    /// ledger's layout once. Returns, by step, whether its record changed.
    fn write_batch(
        &mut self,
        si: usize,
        recs: &Records,
        steps: &[Step],
    ) -> Result<Vec<bool>, StoreError> {
        let before = self.work.ledger.get(&si).cloned();
        let mut ledger = before.clone();
        if let Some(state) = &mut ledger {
            for step in steps {
                match &step.own {
                    Some(l) => state.layout.files.insert(step.rel.clone(), l.clone()),
                    None => state.layout.files.remove(&step.rel),
                };
            }
        }
        let layout_changed =
            ledger.as_ref().map(|s| &s.layout.files) != before.as_ref().map(|s| &s.layout.files);
        let changed = crate::store::write(self.store, |tx| {
            let mut changed = Vec::with_capacity(steps.len());
            for step in steps {
                let value = step.rec.as_ref().map(|r| r.value.clone());
                changed.push(recs.put_at(tx, &step.rel, value, &actor(&step.file))?);
            }
            if let (true, Some(state)) = (layout_changed || changed.contains(&true), &ledger) {
                tx.source_write(state)?;
            }
            if steps.len() >= STATISTICS_AFTER {
                for t in recs.schema.tables_of(recs.coll) {
                    tx.refresh_statistics(&recs.schema.tables[t])?;
                }
            }
            Ok(changed)
        })?;
        tracing::debug!(files = steps.len(), "sync: applied a batch");
        if let Some(state) = ledger {
            self.work.ledger.insert(si, state);
        }
        Ok(changed)
    }

    /// Runs one file's change in one transaction, with the file's own formatting recorded in
    /// the ledger's layout in the same transaction (`from`: the name it had, for a rename).
    fn write_file(
        &mut self,
        si: usize,
        rel: &str,
        from: Option<&str>,
        own: Option<source::FileLayout>,
        file: &str,
        mut f: impl FnMut(&dyn Tx) -> Result<bool, StoreError>,
    ) -> Result<bool, StoreError> {
        let mut ledger = self.work.ledger.get(&si).cloned();
        if let Some(state) = &mut ledger {
            let files = &mut state.layout.files;
            if let Some(from) = from {
                files.remove(from);
            }
            match own {
                Some(l) => {
                    files.insert(rel.to_string(), l);
                }
                None => {
                    files.remove(rel);
                }
            }
        }
        let layout_changed = ledger.as_ref().map(|s| &s.layout.files)
            != self.work.ledger.get(&si).map(|s| &s.layout.files);
        let changed = crate::store::write(self.store, |tx| {
            let changed = f(tx)?;
            if let (true, Some(state)) = (changed || layout_changed, &ledger) {
                tx.source_write(state)?;
            }
            Ok(changed)
        })?;
        tracing::debug!(file, changed, "sync: applied");
        if let Some(state) = ledger {
            self.work.ledger.insert(si, state);
        }
        Ok(changed)
    }

    // ----- single-file sources ---------------------------------------------------------------

    /// A single-file source (array, object, document, db.json, TinyDB, JSON Lines): read
    /// whole, its records compared with the database's, the differences applied in one
    /// transaction.
    fn single(&mut self, si: usize, spec: &SourceSpec) -> Changes {
        let mut out = Changes::default();
        let file = spec.display.clone();
        let bytes = match read_retrying(&spec.path) {
            Ok(Some(b)) => b,
            Ok(None) => {
                // A source file deleted for good is not taken as "delete every record".
                out.errors += 1;
                self.state.error(
                    si,
                    &file,
                    Problem::new(
                        &file,
                        "the file is gone; its records are kept until it is back",
                    ),
                );
                return out;
            }
            Err(e) => {
                out.errors += 1;
                self.state.error(
                    si,
                    &file,
                    Problem::new(&file, format!("cannot read the file: {e}")),
                );
                return out;
            }
        };
        let hash = sha(&bytes);
        if self.work.known.get(&spec.path) == Some(&hash) {
            self.state.clear_error(si, &file);
            return out;
        }
        // The file read through the same readers as `migrate`: any problem stops it whole.
        let mut reader = match source::open(spec) {
            Ok(r) => r,
            Err(p) => {
                out.errors += 1;
                self.state.error(si, &file, p);
                return out;
            }
        };
        let mut by_member: HashMap<usize, Vec<Record>> = HashMap::new();
        while let Some(r) = reader.next_record() {
            match r {
                Ok(r) => by_member.entry(r.member).or_default().push(r),
                Err(p) => {
                    out.errors += 1;
                    self.state.error(si, &file, p);
                    return out;
                }
            }
        }
        let layout = match reader.finish() {
            Ok(l) => l,
            Err(p) => {
                out.errors += 1;
                self.state.error(si, &file, p);
                return out;
            }
        };
        let lag = since_written(&spec.path);
        let mut ledger = self.work.ledger.get(&si).cloned();
        if let Some(s) = &mut ledger {
            s.layout = layout;
        }
        let colls = self.collections(si);
        let schema = self.schema();
        let who = actor(&file);
        let mut failing: Option<Record> = None;
        let done = crate::store::write(self.store, |tx| {
            let mut c = Changes::default();
            for &(member, ci) in &colls {
                let recs = Records::new(schema, ci);
                let records = by_member.get(&member).map(Vec::as_slice).unwrap_or(&[]);
                diff(tx, &recs, records, &who, &mut c, &mut failing)?;
            }
            if let Some(s) = &ledger {
                tx.source_write(s)?;
            }
            Ok(c)
        });
        match done {
            Ok(c) => {
                self.work.known.insert(spec.path.clone(), hash);
                if let Some(s) = ledger {
                    self.work.ledger.insert(si, s);
                }
                self.state.clear_error(si, &file);
                if !c.is_empty() {
                    self.state.applied(lag);
                }
                out.add(c);
            }
            Err(e) => {
                out.errors += 1;
                self.state
                    .error(si, &file, problem_of(e, failing.as_ref(), &file));
            }
        }
        out
    }
}

/// Applies the records a file holds for collection `recs` (in file order) to the database:
/// matched by the key column (object key, document id), else by the key field, else by
/// position; the record being applied when a write fails is left in `failing`.
fn diff(
    tx: &dyn Tx,
    recs: &Records,
    records: &[Record],
    who: &Actor,
    c: &mut Changes,
    failing: &mut Option<Record>,
) -> Result<(), StoreError> {
    let schema = recs.schema;
    let t = &schema.tables[schema.collections[recs.coll].table];
    if recs.is_document() {
        let Some(r) = records.first() else {
            return Ok(());
        };
        *failing = Some(r.clone());
        if recs.document(tx)?.as_ref() != Some(&r.value) {
            recs.put_document(tx, r.value.clone(), who)?;
            c.changed += 1;
        }
        return Ok(());
    }
    let entries = recs.entries(tx)?;
    if t.key_col.is_some() {
        let mut seen = BTreeSet::new();
        for r in records {
            let at = r.key.clone().unwrap_or_default();
            *failing = Some(r.clone());
            let existed = entries.iter().any(|e| e.at.as_deref() == Some(&at));
            if recs.put_at(tx, &at, Some(r.value.clone()), who)? {
                if existed {
                    c.changed += 1
                } else {
                    c.added += 1
                }
            }
            seen.insert(at);
        }
        *failing = None;
        for e in entries {
            if let Some(at) = e.at.filter(|a| !seen.contains(a)) {
                recs.put_at(tx, &at, None, who)?;
                c.deleted += 1;
            }
        }
        return Ok(());
    }
    if let Some(field) = recs.key_field() {
        let key_of = |v: &Value| match v.get(field) {
            Some(Value::String(s)) => Some(s.clone()),
            Some(Value::Number(n)) => Some(n.as_str().to_string()),
            _ => None,
        };
        let mut seen = BTreeSet::new();
        for r in records {
            *failing = Some(r.clone());
            let key = key_of(&r.value);
            let existing = key
                .as_ref()
                .and_then(|k| entries.iter().find(|e| &e.key == k));
            apply_one(tx, recs, existing, r, who, c)?;
            seen.extend(key);
        }
        *failing = None;
        for e in entries.iter().filter(|e| !seen.contains(&e.key)) {
            recs.delete(tx, &e.key, who)?;
            c.deleted += 1;
        }
        return Ok(());
    }
    // No key at all (an array of records without ids): the n-th record of the file is the
    // n-th of the collection.
    for (i, r) in records.iter().enumerate() {
        *failing = Some(r.clone());
        apply_one(tx, recs, entries.get(i), r, who, c)?;
    }
    *failing = None;
    for e in entries.iter().skip(records.len()) {
        recs.delete(tx, &e.key, who)?;
        c.deleted += 1;
    }
    Ok(())
}

/// The file's record `r` over the database's `existing` one: replaced when it differs, added
/// when there is none.
fn apply_one(
    tx: &dyn Tx,
    recs: &Records,
    existing: Option<&crate::store::records::Entry>,
    r: &Record,
    who: &Actor,
    c: &mut Changes,
) -> Result<(), StoreError> {
    match existing {
        Some(e) if e.value == r.value => {}
        Some(e) => {
            recs.replace(tx, &e.key, r.value.clone(), who)?;
            c.changed += 1;
        }
        None => {
            recs.insert(tx, r.value.clone(), who)?;
            c.added += 1;
        }
    }
    Ok(())
}
