//! A snapshot of the sources, taken before a migration touches anything.
//!
//! `snapshot` copies every source file (and every file of a source folder) into a new
//! timestamped folder under the backup root, hashing each file with SHA-256 in the same pass
//! that copies it, so the hash is the hash of exactly the bytes in the copy. The migration then
//! reads the copies ([`Snapshot::copy_of`]): what it loads is what was hashed, even if the
//! application writes the originals a moment later.
//!
//! Layout of a snapshot folder:
//!
//! ```text
//! <backup_root>/20261121T101502Z-3fa9c1/
//!     files/<path relative to the project folder>   sources inside the project folder
//!     external/<absolute path without its root>     sources outside it
//!     manifest.json                                 written last (temp + rename)
//! ```
//!
//! A snapshot folder without `manifest.json` is incomplete (the run was interrupted) and must not
//! be trusted. The originals are only ever opened for reading.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::tee::Tap;

/// Name of the manifest inside a snapshot folder.
pub const MANIFEST: &str = "manifest.json";
const MANIFEST_TMP: &str = "manifest.json.tmp";
/// Sub-folder holding sources inside the project folder, by their relative path.
const FILES_DIR: &str = "files";
/// Sub-folder holding sources outside the project folder, by their absolute path.
const EXTERNAL_DIR: &str = "external";
const BUF_SIZE: usize = 1 << 20;

/// Why a snapshot could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    /// A file-system operation failed.
    #[error("backup: cannot {op} {}: {source}{}", path.display(), hint_suffix(hint))]
    Io {
        /// What was being done (`"read"`, `"create"`, `"write"`, ...).
        op: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
        hint: Option<String>,
    },
    /// A source named in the project file does not exist.
    #[error("backup: source {display} not found ({}); check `source` in jsonlift.toml", path.display())]
    Missing { display: String, path: PathBuf },
    /// A source kept changing while it was copied (twice in a row; once when it was read as it
    /// was copied).
    #[error(
        "backup: {} changed while it was being copied; stop the application writing it and run again",
        path.display()
    )]
    Changed { path: PathBuf },
    /// The manifest could not be read or written.
    #[error("backup: manifest {}: {message}", path.display())]
    Manifest { path: PathBuf, message: String },
}

fn hint_suffix(hint: &Option<String>) -> String {
    match hint {
        Some(h) => format!(" ({h})"),
        None => String::new(),
    }
}

impl BackupError {
    fn io(op: &'static str, path: &Path, source: io::Error) -> BackupError {
        let hint = hint_for(&source, path);
        BackupError::Io {
            op,
            path: path.to_path_buf(),
            source,
            hint,
        }
    }
}

/// A useful next step for the common failures (shared with the database backups).
pub(crate) fn hint_for(e: &io::Error, path: &Path) -> Option<String> {
    // ENOSPC (28) and EDQUOT (122 on Linux, 69 on macOS) when the kind is not mapped.
    let full = matches!(
        e.kind(),
        io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded
    ) || matches!(e.raw_os_error(), Some(28) | Some(122));
    if full {
        return Some("disk full: free space or set backup_dir in jsonlift.toml".into());
    }
    match e.kind() {
        io::ErrorKind::PermissionDenied => Some(format!(
            "check the permissions of {}, or set backup_dir in jsonlift.toml",
            path.display()
        )),
        io::ErrorKind::ReadOnlyFilesystem => {
            Some("read-only file system: set backup_dir in jsonlift.toml".into())
        }
        _ => None,
    }
}

/// `manifest.json`: what a snapshot holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub version: u32,
    /// UTC time the snapshot was started, RFC 3339 (`2026-11-21T10:15:02Z`).
    pub created: String,
    pub project_dir: String,
    /// The sources as they were named, and where each landed.
    pub sources: Vec<ManifestSource>,
    /// Every file copied.
    pub files: Vec<ManifestEntry>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ManifestSource {
    /// Absolute path of the source.
    pub original: String,
    /// The source as the user knows it (relative to the project).
    pub display: String,
    /// Its copy, relative to the snapshot folder with `/` separators.
    pub copy: String,
    pub folder: bool,
}

/// One file of the snapshot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ManifestEntry {
    /// Absolute path of the original.
    pub original: String,
    /// The copy, relative to the snapshot folder with `/` separators.
    pub copy: String,
    pub size: u64,
    /// Lower-case hex SHA-256 of the bytes copied (empty for a `link`).
    pub sha256: String,
    /// Modification time of the original, RFC 3339 UTC with nanoseconds.
    pub mtime: String,
    /// A symbolic link inside a source folder that points outside it is not followed: the copy
    /// is a link to the same (absolute) target, recorded here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
}

/// A completed snapshot.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// The snapshot folder.
    pub dir: PathBuf,
    pub manifest: Manifest,
    /// (normalised original, absolute copy) for each source.
    roots: Vec<(PathBuf, PathBuf)>,
}

impl Snapshot {
    pub fn dir(&self) -> &Path {
        &self.dir
    }
    pub fn entries(&self) -> &[ManifestEntry] {
        &self.manifest.files
    }
    pub fn manifest_path(&self) -> PathBuf {
        self.dir.join(MANIFEST)
    }
    /// The copy of an original source path: a source file or folder given to [`snapshot`], or a
    /// path inside a source folder. `None` when the path was not part of the snapshot.
    pub fn copy_of(&self, original: &Path) -> Option<PathBuf> {
        let original = normalize(original);
        // An exact source first, then the innermost folder holding the path.
        if let Some((_, copy)) = self.roots.iter().find(|(o, _)| *o == original) {
            return Some(copy.clone());
        }
        self.roots
            .iter()
            .filter(|(o, c)| c.is_dir() && original.starts_with(o))
            .max_by_key(|(o, _)| o.components().count())
            .map(|(o, c)| c.join(original.strip_prefix(o).expect("checked by starts_with")))
    }

    /// The manifest entry of source file `original` (as given to [`snapshot`]).
    pub fn entry_of(&self, original: &Path) -> Option<&ManifestEntry> {
        let original = normalize(original);
        self.manifest
            .files
            .iter()
            .find(|e| Path::new(&e.original) == original)
    }

    /// Opens an existing snapshot folder. Fails when it has no manifest (an interrupted run).
    pub fn load(dir: &Path) -> Result<Snapshot, BackupError> {
        let path = dir.join(MANIFEST);
        let text = match fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(BackupError::Manifest {
                    path,
                    message: "missing: the snapshot is incomplete".into(),
                });
            }
            Err(e) => return Err(BackupError::io("read", &path, e)),
        };
        let manifest: Manifest =
            serde_json::from_str(&text).map_err(|e| BackupError::Manifest {
                path: path.clone(),
                message: e.to_string(),
            })?;
        let roots = manifest
            .sources
            .iter()
            .map(|s| (normalize(Path::new(&s.original)), dir.join(&s.copy)))
            .collect();
        Ok(Snapshot {
            dir: dir.to_path_buf(),
            manifest,
            roots,
        })
    }
}

/// Copies `sources` (absolute path, display name) into a new folder under `backup_root`.
///
/// Sources inside `project_dir` go to `files/<relative path>`, others to
/// `external/<absolute path>`. Every file is hashed while it is copied, then fsynced; the
/// manifest is written last. On failure the incomplete snapshot folder is removed.
pub fn snapshot(
    sources: &[(PathBuf, String)],
    project_dir: &Path,
    backup_root: &Path,
) -> Result<Snapshot, BackupError> {
    prepare(sources, backup_root)?.fill(sources, project_dir, backup_root, HashMap::new())
}

/// A snapshot folder created and not yet filled: its copies' paths are known before they are
/// written, so a reader can be pointed at them while [`Prepared::fill`] runs on another thread.
pub struct Prepared {
    dir: PathBuf,
    created: String,
}

/// Checks that every source exists, then creates the snapshot folder (empty).
pub fn prepare(sources: &[(PathBuf, String)], backup_root: &Path) -> Result<Prepared, BackupError> {
    // Check every source before creating anything.
    for (path, display) in sources {
        if fs::metadata(path).is_err() {
            return Err(BackupError::Missing {
                display: display.clone(),
                path: path.clone(),
            });
        }
    }
    fs::create_dir_all(backup_root).map_err(|e| BackupError::io("create", backup_root, e))?;
    sweep_incomplete(backup_root);
    let (dir, created) = create_snapshot_dir(backup_root, SystemTime::now())?;
    Ok(Prepared { dir, created })
}

/// Marks a snapshot folder as being written by this process (on this machine) until its
/// manifest is in place, so that a run killed meanwhile leaves a folder the next one can tell
/// from a snapshot still being written.
const WRITING: &str = ".writing";
/// Prefix of a snapshot folder's temporary name, followed by the process id.
const NEW: &str = ".new-";

fn mark_writing(dir: &Path) -> Result<(), BackupError> {
    let path = dir.join(WRITING);
    fs::write(
        &path,
        format!("{} {}\n", std::process::id(), crate::process::host()),
    )
    .map_err(|e| BackupError::io("write", &path, e))
}

/// [`remove_incomplete`], saying what it removed.
pub fn sweep_incomplete(backup_root: &Path) {
    for dir in remove_incomplete(backup_root) {
        tracing::warn!(
            "removed {}: an incomplete backup of the sources, left by a run that was killed",
            dir.display()
        );
    }
}

/// Removes the snapshot folders that have no manifest and were being written by a process of
/// this machine that is gone. A folder with a manifest is complete and always kept, as is one
/// without the mark (made by an older version, or by hand) or marked by another machine.
pub fn remove_incomplete(backup_root: &Path) -> Vec<PathBuf> {
    let host = crate::process::host();
    let mut removed = Vec::new();
    let Ok(rd) = fs::read_dir(backup_root) else {
        return removed;
    };
    for e in rd.flatten() {
        let dir = e.path();
        if !e.file_type().is_ok_and(|t| t.is_dir()) || dir.join(MANIFEST).exists() {
            continue;
        }
        let name = e.file_name().to_string_lossy().into_owned();
        if let Some(rest) = name.strip_prefix(NEW) {
            // Killed before its folder got its name.
            let pid = rest.split('-').next().unwrap_or_default();
            if crate::process::gone_named(pid) && fs::remove_dir_all(&dir).is_ok() {
                removed.push(dir);
            }
            continue;
        }
        let Ok(mark) = fs::read_to_string(dir.join(WRITING)) else {
            continue;
        };
        let (pid, by) = mark
            .trim_end()
            .split_once(' ')
            .unwrap_or((mark.trim_end(), ""));
        if by == host && crate::process::gone_named(pid) && fs::remove_dir_all(&dir).is_ok() {
            removed.push(dir);
        }
    }
    removed
}

impl Prepared {
    pub fn dir(&self) -> &Path {
        &self.dir
    }
    /// Where the copy of source file `original` will be.
    pub fn copy_path(&self, original: &Path, project_dir: &Path) -> PathBuf {
        self.dir
            .join(copy_rel(&normalize(original), &normalize(project_dir)))
    }
    /// Copies the sources. A source file with a tap in `taps` (keyed by its path) hands every
    /// block to it once written; such a copy is not retried when the source changes meanwhile
    /// (its reader has the first bytes already): it fails, and the tap's reader with it.
    pub fn fill(
        self,
        sources: &[(PathBuf, String)],
        project_dir: &Path,
        backup_root: &Path,
        mut taps: HashMap<PathBuf, Tap>,
    ) -> Result<Snapshot, BackupError> {
        let taps: HashMap<PathBuf, Tap> = taps.drain().map(|(p, t)| (normalize(&p), t)).collect();
        match fill(
            &self.dir,
            self.created,
            sources,
            project_dir,
            backup_root,
            taps,
        ) {
            Ok(s) => Ok(s),
            Err(e) => {
                // Our own, just-created folder: nothing else can be in it.
                let _ = fs::remove_dir_all(&self.dir);
                Err(e)
            }
        }
    }
}

fn fill(
    dir: &Path,
    created: String,
    sources: &[(PathBuf, String)],
    project_dir: &Path,
    backup_root: &Path,
    mut taps: HashMap<PathBuf, Tap>,
) -> Result<Snapshot, BackupError> {
    let project = normalize(project_dir);
    let exclude: Vec<PathBuf> = [backup_root, dir]
        .iter()
        .filter_map(|p| fs::canonicalize(p).ok())
        .collect();
    let mut dirs = BTreeSet::new();
    let mut copied: HashSet<PathBuf> = HashSet::new();
    let mut manifest = Manifest {
        version: 1,
        created,
        project_dir: project.to_string_lossy().into_owned(),
        sources: Vec::new(),
        files: Vec::new(),
    };
    let mut roots = Vec::new();

    for (path, display) in sources {
        let original = normalize(path);
        let rel = copy_rel(&original, &project);
        let copy = dir.join(&rel);
        let meta = fs::metadata(&original).map_err(|_| BackupError::Missing {
            display: display.clone(),
            path: path.clone(),
        })?;
        let folder = meta.is_dir();
        if folder {
            ensure_dir(&copy, dir, &mut dirs)?;
            for node in walk_all(&original, &exclude)? {
                let node_rel = node.rel();
                let dst = copy.join(node_rel);
                if !copied.insert(dst.clone()) {
                    continue;
                }
                if let Some(parent) = dst.parent() {
                    ensure_dir(parent, dir, &mut dirs)?;
                }
                let src = original.join(node_rel);
                let entry = match node {
                    Node::File { .. } => copy_file_entry(&src, &dst, dir, None)?,
                    Node::Link { target, .. } => link_entry(&src, &target, &dst, dir)?,
                };
                manifest.files.push(entry);
            }
        } else if copied.insert(copy.clone()) {
            if let Some(parent) = copy.parent() {
                ensure_dir(parent, dir, &mut dirs)?;
            }
            let tap = taps.remove(&original);
            manifest
                .files
                .push(copy_file_entry(&original, &copy, dir, tap)?);
        }
        manifest.sources.push(ManifestSource {
            original: original.to_string_lossy().into_owned(),
            display: display.clone(),
            copy: slash(&rel),
            folder,
        });
        roots.push((original, copy));
    }

    // Make the folders' entries durable before the manifest says the snapshot is complete.
    for d in dirs.iter().rev() {
        sync_dir(d)?;
    }
    write_manifest(dir, &manifest)?;
    // Complete: the manifest says so, whether or not the mark's removal reaches the disk.
    let _ = fs::remove_file(dir.join(WRITING));
    if let Some(parent) = dir.parent() {
        sync_dir(parent)?;
    }
    Ok(Snapshot {
        dir: dir.to_path_buf(),
        manifest,
        roots,
    })
}

/// Where a source's copy goes, relative to the snapshot folder.
fn copy_rel(original: &Path, project: &Path) -> PathBuf {
    match original.strip_prefix(project) {
        Ok(rel) if rel.components().next().is_some() => Path::new(FILES_DIR).join(rel),
        _ => {
            let mut rel = PathBuf::from(EXTERNAL_DIR);
            for c in original.components() {
                match c {
                    Component::Normal(p) => rel.push(p),
                    // A Windows drive letter becomes a folder (`C:` -> `C`).
                    Component::Prefix(p) => rel.push(
                        p.as_os_str()
                            .to_string_lossy()
                            .replace([':', '\\', '?', '/'], ""),
                    ),
                    _ => {}
                }
            }
            rel
        }
    }
}

fn slash(p: &Path) -> String {
    let parts: Vec<String> = p
        .components()
        .filter_map(|c| match c {
            Component::Normal(s) => Some(s.to_string_lossy().into_owned()),
            _ => None,
        })
        .collect();
    parts.join("/")
}

/// Lexical normalisation: drops `.`, resolves `..` against the preceding component. Symlinks
/// are not resolved (the paths come from the project file, absolute already).
fn normalize(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

/// Creates `path` (and parents up to the snapshot folder), remembering each new folder so it can
/// be fsynced.
fn ensure_dir(path: &Path, root: &Path, dirs: &mut BTreeSet<PathBuf>) -> Result<(), BackupError> {
    if dirs.contains(path) || path == root {
        return Ok(());
    }
    fs::create_dir_all(path).map_err(|e| BackupError::io("create", path, e))?;
    let mut p = path;
    while p != root && p.starts_with(root) {
        dirs.insert(p.to_path_buf());
        match p.parent() {
            Some(parent) => p = parent,
            None => break,
        }
    }
    dirs.insert(root.to_path_buf());
    Ok(())
}

fn sync_dir(dir: &Path) -> Result<(), BackupError> {
    #[cfg(unix)]
    {
        File::open(dir)
            .and_then(|f| f.sync_all())
            .map_err(|e| BackupError::io("sync", dir, e))
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        Ok(())
    }
}

fn write_manifest(dir: &Path, manifest: &Manifest) -> Result<(), BackupError> {
    let tmp = dir.join(MANIFEST_TMP);
    let dst = dir.join(MANIFEST);
    let mut text = serde_json::to_string_pretty(manifest).map_err(|e| BackupError::Manifest {
        path: dst.clone(),
        message: e.to_string(),
    })?;
    text.push('\n');
    let mut f = File::create(&tmp).map_err(|e| BackupError::io("create", &tmp, e))?;
    f.write_all(text.as_bytes())
        .map_err(|e| BackupError::io("write", &tmp, e))?;
    f.sync_all().map_err(|e| BackupError::io("sync", &tmp, e))?;
    drop(f);
    fs::rename(&tmp, &dst).map_err(|e| BackupError::io("rename", &tmp, e))?;
    sync_dir(dir)
}

/// Creates `backup_root/<timestamp>-<random>/`, never reusing an existing folder. It appears
/// with its [`WRITING`] mark already inside (made under a temporary name, then renamed), so a
/// kill at any moment leaves either a temporary folder named after the process or a marked one.
fn create_snapshot_dir(root: &Path, now: SystemTime) -> Result<(PathBuf, String), BackupError> {
    let (stamp, created) = utc_stamp(now);
    let tmp = root.join(format!("{NEW}{}-{}", std::process::id(), short_random()));
    fs::create_dir(&tmp).map_err(|e| BackupError::io("create", &tmp, e))?;
    if let Err(e) = mark_writing(&tmp) {
        let _ = fs::remove_dir_all(&tmp);
        return Err(e);
    }
    let mut last = None;
    for _ in 0..16 {
        let dir = root.join(format!("{stamp}-{}", short_random()));
        // rename(2) would replace an empty folder of that name: never reuse one.
        if dir.exists() {
            last = Some((dir, io::ErrorKind::AlreadyExists.into()));
            continue;
        }
        match fs::rename(&tmp, &dir) {
            Ok(()) => return Ok((dir, created)),
            Err(e) => last = Some((dir, e)),
        }
    }
    let _ = fs::remove_dir_all(&tmp);
    let (dir, e) = last.expect("the loop ran");
    Err(BackupError::io("create", &dir, e))
}

/// Six hex digits, different for every call in this process and unlikely to repeat across
/// processes (no `rand` dependency for this).
fn short_random() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let local = 0u8;
    let mut h = Sha256::new();
    h.update(nanos.to_le_bytes());
    h.update(std::process::id().to_le_bytes());
    h.update(COUNTER.fetch_add(1, Ordering::Relaxed).to_le_bytes());
    h.update((&local as *const u8 as usize).to_le_bytes());
    hex(&h.finalize()[..3])
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 15) as usize] as char);
    }
    s
}

/// (`20261121T101502Z`, `2026-11-21T10:15:02Z`)
fn utc_stamp(t: SystemTime) -> (String, String) {
    crate::clock::stamps(t)
}

/// RFC 3339 UTC with nanoseconds.
fn rfc3339_nanos(t: SystemTime) -> String {
    crate::clock::rfc3339_nanos(t)
}

/// Copies `src` to the new file `dst`, hashing in the same pass; retries once when the source
/// changes meanwhile, unless the copy feeds a reader (`tap`): then it fails.
fn copy_file_entry(
    src: &Path,
    dst: &Path,
    snap: &Path,
    tap: Option<Tap>,
) -> Result<ManifestEntry, BackupError> {
    if tap.is_none() && crate::source::sqlite::is_database(src) {
        return copy_database_entry(src, dst, snap);
    }
    let attempts = if tap.is_some() { 1 } else { 2 };
    for attempt in 0..attempts {
        let before = fs::metadata(src).map_err(|e| BackupError::io("read", src, e))?;
        let mtime = before
            .modified()
            .map_err(|e| BackupError::io("read", src, e))?;
        let copied = copy_hashed(src, dst, mtime, tap.as_ref());
        let (size, sha) = match copied {
            Ok(c) => c,
            Err(e) => {
                if let Some(t) = tap {
                    t.fail(e.to_string());
                }
                return Err(e);
            }
        };
        #[cfg(test)]
        tests::AFTER_COPY.with(|hook| {
            if let Some(f) = hook.borrow_mut().as_mut() {
                f(src)
            }
        });
        let after = fs::metadata(src).map_err(|e| BackupError::io("read", src, e))?;
        let stable = size == before.len()
            && after.len() == before.len()
            && after.modified().ok() == Some(mtime);
        if stable {
            if let Some(t) = tap {
                // The reader may finish parsing while the copy is fsynced.
                t.finish();
            }
            sync_file(dst)?;
            return Ok(ManifestEntry {
                original: src.to_string_lossy().into_owned(),
                copy: slash(dst.strip_prefix(snap).unwrap_or(dst)),
                size,
                sha256: sha,
                mtime: rfc3339_nanos(mtime),
                link: None,
            });
        }
        fs::remove_file(dst).map_err(|e| BackupError::io("remove", dst, e))?;
        tracing::warn!(file = %src.display(), attempt, "source changed while copying; retrying");
    }
    let e = BackupError::Changed {
        path: src.to_path_buf(),
    };
    if let Some(t) = tap {
        t.fail(e.to_string());
    }
    Err(e)
}

/// A SQLite database (a legacy database read as a source) is copied through SQLite's backup
/// API, which gives a consistent copy of a live database, its write-ahead log included; the
/// manifest hashes the copy.
fn copy_database_entry(src: &Path, dst: &Path, snap: &Path) -> Result<ManifestEntry, BackupError> {
    let before = fs::metadata(src).map_err(|e| BackupError::io("read", src, e))?;
    let mtime = before
        .modified()
        .map_err(|e| BackupError::io("read", src, e))?;
    crate::store::legacy::copy_database(src, dst)
        .map_err(|e| BackupError::io("copy", src, io::Error::other(e)))?;
    sync_file(dst)?;
    let (size, sha256) = hash_file(dst).map_err(|e| BackupError::io("read", dst, e))?;
    Ok(ManifestEntry {
        original: src.to_string_lossy().into_owned(),
        copy: slash(dst.strip_prefix(snap).unwrap_or(dst)),
        size,
        sha256,
        mtime: rfc3339_nanos(mtime),
        link: None,
    })
}

fn sync_file(path: &Path) -> Result<(), BackupError> {
    OpenOptions::new()
        .write(true)
        .open(path)
        .and_then(|f| f.sync_all())
        .map_err(|e| BackupError::io("sync", path, e))
}

/// One pass: read a large block, hash it, write it (and hand it to `tap`). The copy gets the
/// original's mtime; it is not fsynced here.
fn copy_hashed(
    src: &Path,
    dst: &Path,
    mtime: SystemTime,
    tap: Option<&Tap>,
) -> Result<(u64, String), BackupError> {
    let mut input = File::open(src).map_err(|e| BackupError::io("read", src, e))?;
    let output = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(dst)
        .map_err(|e| BackupError::io("create", dst, e))?;
    let mut out = crate::writeback::Unbuffered::new(dst, &output);
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; BUF_SIZE];
    let mut size = 0u64;
    // Written so far and handed to the disk already (the fsync after the copy waits less).
    let mut flushed = 0u64;
    let mut feeding = tap;
    loop {
        if tap.is_some_and(Tap::stopped) {
            let e = io::Error::other("the migration stopped");
            return Err(BackupError::io("copy", src, e));
        }
        if let Some(t) = feeding {
            buf = t.buffer(BUF_SIZE);
        }
        let n = match input.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(BackupError::io("read", src, e)),
        };
        hasher.update(&buf[..n]);
        out.write(&buf[..n])
            .map_err(|e| BackupError::io("write", dst, e))?;
        size += n as u64;
        if size - flushed >= crate::writeback::STEP {
            // Only what went through the cache (no direct I/O here) is still to be written.
            crate::writeback::start(&output, flushed, size - flushed);
            flushed = size;
        }
        if let Some(t) = feeding {
            buf.truncate(n);
            if !t.send(std::mem::take(&mut buf)) {
                // The reader stopped early (its source has a problem): finish the copy alone.
                feeding = None;
                buf = vec![0u8; BUF_SIZE];
            }
        }
    }
    out.finish().map_err(|e| BackupError::io("write", dst, e))?;
    output
        .set_modified(mtime)
        .map_err(|e| BackupError::io("set the time of", dst, e))?;
    Ok((size, hex(&hasher.finalize())))
}

fn link_entry(
    src: &Path,
    target: &Path,
    dst: &Path,
    snap: &Path,
) -> Result<ManifestEntry, BackupError> {
    #[cfg(unix)]
    std::os::unix::fs::symlink(target, dst).map_err(|e| BackupError::io("create", dst, e))?;
    #[cfg(not(unix))]
    return Err(BackupError::io(
        "copy the symbolic link",
        src,
        io::Error::new(
            io::ErrorKind::Unsupported,
            "symbolic links need a Unix system",
        ),
    ));
    #[allow(unreachable_code)]
    let mtime = fs::symlink_metadata(src)
        .and_then(|m| m.modified())
        .unwrap_or(UNIX_EPOCH);
    Ok(ManifestEntry {
        original: src.to_string_lossy().into_owned(),
        copy: slash(dst.strip_prefix(snap).unwrap_or(dst)),
        size: 0,
        sha256: String::new(),
        mtime: rfc3339_nanos(mtime),
        link: Some(target.to_string_lossy().into_owned()),
    })
}

/// Size and lower-case hex SHA-256 of a file.
pub fn hash_file(path: &Path) -> io::Result<(u64, String)> {
    let mut f = File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; BUF_SIZE];
    let mut size = 0u64;
    loop {
        let n = match f.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        hasher.update(&buf[..n]);
        size += n as u64;
    }
    Ok((size, hex(&hasher.finalize())))
}

/// Total size and SHA-256 of a folder: over its files sorted by relative path (`/`
/// separators, byte order), each contributing `path NUL sha256 LF`; a symbolic link that leaves
/// the folder contributes `path NUL -> target LF` instead of being followed. Two folders hash the
/// same exactly when they hold the same files with the same bytes.
pub fn hash_folder(path: &Path) -> io::Result<(u64, String)> {
    let nodes = walk_all(path, &[]).map_err(|e| match e {
        BackupError::Io { source, .. } => source,
        other => io::Error::other(other.to_string()),
    })?;
    let mut hasher = Sha256::new();
    let mut total = 0u64;
    for node in nodes {
        let rel = slash(node.rel());
        hasher.update(rel.as_bytes());
        hasher.update([0u8]);
        match node {
            Node::File { rel, .. } => {
                let (size, sha) = hash_file(&path.join(rel))?;
                total += size;
                hasher.update(sha.as_bytes());
            }
            Node::Link { target, .. } => {
                hasher.update(b"-> ");
                hasher.update(target.to_string_lossy().as_bytes());
            }
        }
        hasher.update(b"\n");
    }
    Ok((total, hex(&hasher.finalize())))
}

/// A file found in a source folder.
enum Node {
    /// A regular file, or a symlink resolving to a file inside the folder (copied as content).
    File { rel: PathBuf },
    /// A symlink resolving outside the folder (or nowhere): kept as a link, never followed.
    Link { rel: PathBuf, target: PathBuf },
}

impl Node {
    fn rel(&self) -> &Path {
        match self {
            Node::File { rel } | Node::Link { rel, .. } => rel,
        }
    }
}

/// Every file under `root`, sorted by relative path (`/`-joined, byte order). Symlinks to
/// files or folders inside `root` are followed (each folder once, so link cycles end); links
/// leaving `root` are returned as links. Folders in `exclude` (canonical paths: the backup
/// folder itself when it lies inside a source folder) and special files are skipped.
fn walk_all(root: &Path, exclude: &[PathBuf]) -> Result<Vec<Node>, BackupError> {
    let canon_root = fs::canonicalize(root).map_err(|e| BackupError::io("read", root, e))?;
    let mut out = Vec::new();
    let mut stack = vec![canon_root.clone()];
    walk_dir(
        root,
        Path::new(""),
        &canon_root,
        exclude,
        &mut stack,
        &mut out,
    )?;
    out.sort_by_cached_key(|n| slash(n.rel()));
    Ok(out)
}

fn walk_dir(
    dir: &Path,
    rel: &Path,
    canon_root: &Path,
    exclude: &[PathBuf],
    stack: &mut Vec<PathBuf>,
    out: &mut Vec<Node>,
) -> Result<(), BackupError> {
    let rd = fs::read_dir(dir).map_err(|e| BackupError::io("read the folder", dir, e))?;
    let mut names = Vec::new();
    for entry in rd {
        let entry = entry.map_err(|e| BackupError::io("read the folder", dir, e))?;
        names.push(entry.file_name());
    }
    names.sort();
    for name in names {
        let path = dir.join(&name);
        let child_rel = rel.join(&name);
        let meta = fs::symlink_metadata(&path).map_err(|e| BackupError::io("read", &path, e))?;
        let (is_dir, is_file) = if meta.file_type().is_symlink() {
            match fs::canonicalize(&path) {
                Ok(target) if target.starts_with(canon_root) => {
                    let m = fs::metadata(&target).map_err(|e| BackupError::io("read", &path, e))?;
                    if m.is_dir() && stack.contains(&target) {
                        continue; // a link back to a folder being walked: a cycle
                    }
                    (m.is_dir(), m.is_file())
                }
                Ok(target) => {
                    out.push(Node::Link {
                        rel: child_rel,
                        target,
                    });
                    continue;
                }
                Err(_) => {
                    let target =
                        fs::read_link(&path).map_err(|e| BackupError::io("read", &path, e))?;
                    out.push(Node::Link {
                        rel: child_rel,
                        target,
                    });
                    continue;
                }
            }
        } else {
            (meta.is_dir(), meta.is_file())
        };
        if is_dir {
            let canon = fs::canonicalize(&path).map_err(|e| BackupError::io("read", &path, e))?;
            if exclude.contains(&canon) {
                continue;
            }
            stack.push(canon);
            walk_dir(&path, &child_rel, canon_root, exclude, stack, out)?;
            stack.pop();
        } else if is_file {
            out.push(Node::File { rel: child_rel });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;
    use std::process::Command;

    type Hook = Option<Box<dyn FnMut(&Path)>>;

    thread_local! {
        /// Runs after each copy, before the source is checked again (to simulate a writer).
        pub(super) static AFTER_COPY: RefCell<Hook> = const { RefCell::new(None) };
    }

    fn write(path: &Path, bytes: &[u8]) {
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, bytes).unwrap();
    }

    fn sha256sum(path: &Path) -> Option<String> {
        let out = Command::new("sha256sum").arg(path).output().ok()?;
        let text = String::from_utf8(out.stdout).ok()?;
        Some(text.split_whitespace().next()?.to_string())
    }

    fn mtime(path: &Path) -> SystemTime {
        fs::metadata(path).unwrap().modified().unwrap()
    }

    #[test]
    fn a_source_is_found_by_any_spelling_of_its_path() {
        // Project files name sources like `../data/x.json`: the migration must find the hash
        // taken while copying, not hash the copy again.
        let tmp = tempfile::tempdir().unwrap();
        let project = tmp.path().join("proj");
        write(&tmp.path().join("data/x.json"), b"[1]");
        fs::create_dir_all(&project).unwrap();
        let spelled = project.join("../data/x.json");
        let snap = snapshot(
            &[(spelled.clone(), "x.json".into())],
            &project,
            &tmp.path().join("b"),
        )
        .unwrap();
        let entry = snap.entry_of(&spelled).expect("found by the path as given");
        assert_eq!(
            Some(entry),
            snap.entry_of(&tmp.path().join("data/./x.json"))
        );
        assert_eq!(entry.size, 3);
    }

    #[test]
    fn only_unfinished_snapshots_of_dead_runs_on_this_machine_are_removed() {
        let root = tempfile::tempdir().unwrap();
        let src = root.path().join("a.json");
        fs::write(&src, "[]").unwrap();
        let sources = vec![(src, "a.json".to_string())];
        let backups = root.path().join("backups");
        let dead = {
            let mut child = Command::new("true").spawn().unwrap();
            let pid = child.id();
            child.wait().unwrap();
            pid
        };
        let host = crate::process::host();
        let folder = |name: &str, mark: Option<String>, manifest: bool| {
            let d = backups.join(name);
            fs::create_dir_all(d.join("files")).unwrap();
            fs::write(d.join("files/a.json"), "[").unwrap();
            if let Some(m) = mark {
                fs::write(d.join(WRITING), m).unwrap();
            }
            if manifest {
                fs::write(d.join(MANIFEST), "{}").unwrap();
            }
            d
        };
        let killed = folder("1-killed", Some(format!("{dead} {host}\n")), false);
        let finished = folder("2-finished", Some(format!("{dead} {host}\n")), true);
        let running = folder(
            "3-running",
            Some(format!("{} {host}\n", std::process::id())),
            false,
        );
        let elsewhere = folder("4-elsewhere", Some(format!("{dead} not-{host}\n")), false);
        let unmarked = folder("5-unmarked", None, false);
        let unnamed = folder(&format!("{NEW}{dead}-abc123"), None, false);
        let unnamed_live = folder(&format!("{NEW}{}-abc123", std::process::id()), None, false);

        // The next snapshot clears the killed run's folder, and only that.
        let snap = snapshot(&sources, root.path(), &backups).unwrap();
        assert!(!killed.exists() && !unnamed.exists());
        for kept in [&finished, &running, &elsewhere, &unmarked, &unnamed_live] {
            assert!(kept.join("files/a.json").exists(), "{}", kept.display());
        }
        // A finished snapshot carries no mark; one being written does.
        assert!(!snap.dir().join(WRITING).exists());
        let p = prepare(&sources, &backups).unwrap();
        let mark = fs::read_to_string(p.dir().join(WRITING)).unwrap();
        assert_eq!(mark, format!("{} {host}\n", std::process::id()));
        assert!(remove_incomplete(&backups).is_empty(), "ours is alive");
    }

    #[test]
    fn snapshot_of_a_file_and_a_folder() {
        let tmp = tempfile::tempdir().unwrap();
        let project = tmp.path().join("proj");
        let data = project.join("data/courses.json");
        write(&data, b"[{\"id\": 1}]\n");
        let personas = project.join("personas");
        write(
            &personas.join("alice.json"),
            "{\"name\": \"Al\u{ee}ce\"}".as_bytes(),
        );
        write(&personas.join("team/bob.json"), b"{\"name\": \"Bob\"}\r\n");
        let big: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
        write(&personas.join("big.bin"), &big);
        let before: Vec<(PathBuf, Vec<u8>, SystemTime)> = [
            &data,
            &personas.join("alice.json"),
            &personas.join("team/bob.json"),
        ]
        .iter()
        .map(|p| (p.to_path_buf(), fs::read(p).unwrap(), mtime(p)))
        .collect();

        let root = project.join(".jsonlift/backups");
        let sources = vec![
            (data.clone(), "data/courses.json".to_string()),
            (personas.clone(), "personas".to_string()),
        ];
        let snap = snapshot(&sources, &project, &root).unwrap();

        let name = snap
            .dir()
            .file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .to_string();
        assert_eq!(name.len(), "20261121T101502Z-abcdef".len(), "{name}");
        assert_eq!(&name[8..9], "T");
        assert_eq!(&name[15..17], "Z-");
        assert!(snap.manifest_path().is_file());
        assert!(!snap.dir().join(MANIFEST_TMP).exists());

        // The copies: same bytes, same mtime, laid out by relative path.
        let copy = snap.copy_of(&data).unwrap();
        assert_eq!(copy, snap.dir().join("files/data/courses.json"));
        assert_eq!(fs::read(&copy).unwrap(), fs::read(&data).unwrap());
        assert_eq!(mtime(&copy), mtime(&data));
        let pcopy = snap.copy_of(&personas).unwrap();
        assert_eq!(pcopy, snap.dir().join("files/personas"));
        assert_eq!(
            snap.copy_of(&personas.join("team/bob.json")).unwrap(),
            pcopy.join("team/bob.json")
        );
        assert_eq!(fs::read(pcopy.join("big.bin")).unwrap(), big);
        assert!(snap.copy_of(&project.join("other.json")).is_none());

        // The manifest: every file, hashes equal to sha256sum's and to hash_file's.
        let copies: Vec<&str> = snap.entries().iter().map(|e| e.copy.as_str()).collect();
        assert_eq!(
            copies,
            [
                "files/data/courses.json",
                "files/personas/alice.json",
                "files/personas/big.bin",
                "files/personas/team/bob.json"
            ]
        );
        for e in snap.entries() {
            let original = Path::new(&e.original);
            let (size, sha) = hash_file(original).unwrap();
            assert_eq!((e.size, &e.sha256), (size, &sha), "{}", e.original);
            if let Some(expected) = sha256sum(original) {
                assert_eq!(e.sha256, expected);
            }
            assert!(e.mtime.ends_with('Z') && e.mtime.contains('T'));
        }
        let loaded = Snapshot::load(snap.dir()).unwrap();
        assert_eq!(loaded.manifest, snap.manifest);
        assert_eq!(loaded.copy_of(&data), snap.copy_of(&data));

        // Originals untouched.
        for (p, bytes, t) in before {
            assert_eq!(fs::read(&p).unwrap(), bytes);
            assert_eq!(mtime(&p), t);
        }

        // A second snapshot never reuses the folder; the backup folder inside the project is
        // not copied into itself when the project folder is a source.
        let snap2 = snapshot(
            &[(project.clone(), ".".to_string())],
            &tmp.path().join("elsewhere"),
            &root,
        )
        .unwrap();
        assert_ne!(snap2.dir(), snap.dir());
        assert!(
            snap2
                .entries()
                .iter()
                .all(|e| !e.original.contains(".jsonlift"))
        );
        assert_eq!(snap2.entries().len(), 4);
        assert!(snap2.entries()[0].copy.starts_with("external/"));
    }

    #[test]
    fn folder_hash_matches_the_copy() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("p");
        write(&dir.join("a.json"), b"{}");
        write(&dir.join("a/b.json"), b"[]");
        let (size, h1) = hash_folder(&dir).unwrap();
        assert_eq!(size, 4);
        let snap = snapshot(
            &[(dir.clone(), "p".into())],
            tmp.path(),
            &tmp.path().join("bk"),
        )
        .unwrap();
        assert_eq!(
            hash_folder(&snap.copy_of(&dir).unwrap()).unwrap(),
            (size, h1.clone())
        );
        write(&dir.join("a/b.json"), b"[1]");
        assert_ne!(hash_folder(&dir).unwrap().1, h1);
    }

    #[cfg(unix)]
    #[test]
    fn symlinks_in_a_folder() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("p");
        write(&dir.join("a.json"), b"{}");
        write(&tmp.path().join("secret.json"), b"{\"s\":1}");
        std::os::unix::fs::symlink("a.json", dir.join("inside.json")).unwrap();
        std::os::unix::fs::symlink(tmp.path().join("secret.json"), dir.join("out.json")).unwrap();
        std::os::unix::fs::symlink("..", dir.join("up")).unwrap();
        std::os::unix::fs::symlink(".", dir.join("loop")).unwrap();
        let snap = snapshot(
            &[(dir.clone(), "p".into())],
            tmp.path(),
            &tmp.path().join("bk"),
        )
        .unwrap();
        let copy = snap.copy_of(&dir).unwrap();
        // Inside: copied as content. Outside: kept as a link, not followed.
        assert_eq!(fs::read(copy.join("inside.json")).unwrap(), b"{}");
        assert!(
            !fs::symlink_metadata(copy.join("inside.json"))
                .unwrap()
                .is_symlink()
        );
        assert!(
            fs::symlink_metadata(copy.join("out.json"))
                .unwrap()
                .is_symlink()
        );
        let out = snap
            .entries()
            .iter()
            .find(|e| e.copy.ends_with("out.json"))
            .unwrap();
        assert!(out.link.is_some() && out.sha256.is_empty());
        assert!(snap.entries().iter().all(|e| !e.copy.contains("loop/")));
        assert!(
            snap.entries()
                .iter()
                .any(|e| e.copy.ends_with("/up") && e.link.is_some())
        );
    }

    #[test]
    fn a_missing_source_is_named() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("bk");
        let err = snapshot(
            &[(tmp.path().join("nope.json"), "data/nope.json".into())],
            tmp.path(),
            &root,
        )
        .unwrap_err();
        assert!(matches!(err, BackupError::Missing { .. }));
        assert!(err.to_string().contains("data/nope.json"), "{err}");
        // Nothing half-made is left behind.
        assert!(!root.exists() || fs::read_dir(&root).unwrap().next().is_none());
    }

    #[test]
    fn a_source_changing_during_the_copy() {
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("busy.json");
        write(&file, b"[]");
        let root = tmp.path().join("bk");

        // Changes once: the retry succeeds and the copy holds the new bytes.
        let mut left = 1;
        AFTER_COPY.with(|h| {
            *h.borrow_mut() = Some(Box::new(move |p: &Path| {
                if left > 0 {
                    left -= 1;
                    fs::write(p, b"[1]").unwrap();
                }
            }))
        });
        let snap = snapshot(&[(file.clone(), "busy.json".into())], tmp.path(), &root).unwrap();
        assert_eq!(fs::read(snap.copy_of(&file).unwrap()).unwrap(), b"[1]");
        assert_eq!(snap.entries()[0].size, 3);

        // Changes every time: a clear error naming the file, and no half-made snapshot.
        let mut n = 0u32;
        AFTER_COPY.with(|h| {
            *h.borrow_mut() = Some(Box::new(move |p: &Path| {
                n += 1;
                fs::write(p, "x".repeat(n as usize + 3)).unwrap();
            }))
        });
        let err = snapshot(&[(file.clone(), "busy.json".into())], tmp.path(), &root).unwrap_err();
        AFTER_COPY.with(|h| *h.borrow_mut() = None);
        assert!(matches!(err, BackupError::Changed { .. }));
        let text = err.to_string();
        assert!(
            text.contains("busy.json") && text.contains("changed"),
            "{text}"
        );
        assert_eq!(fs::read_dir(&root).unwrap().count(), 1);
    }

    #[test]
    fn errors_carry_a_hint() {
        let e = BackupError::io(
            "write",
            Path::new("/b/x.json"),
            io::Error::from_raw_os_error(28),
        );
        let text = e.to_string();
        assert!(
            text.contains("/b/x.json") && text.contains("backup_dir"),
            "{text}"
        );
    }

    #[test]
    fn dates() {
        let t = UNIX_EPOCH + std::time::Duration::new(1_795_256_102, 5);
        assert_eq!(utc_stamp(t).0, "20261121T101502Z");
        assert_eq!(rfc3339_nanos(t), "2026-11-21T10:15:02.000000005Z");
    }
}
