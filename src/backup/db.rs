//! Taking a database backup: a consistent snapshot of the live database while other processes
//! keep writing. `VACUUM INTO` reads inside one read transaction (WAL readers do not block
//! writers), so the copy is the database at one moment: exactly the commits before it started.
//! The copy is written to a temp file, fsynced, checked (`integrity_check`), optionally
//! compressed, renamed into place; the manifest is written last. The SQLite side of each step
//! is a store operation ([`crate::store::sqlite_file`]).

use std::fs;
use std::io::{self, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

use super::manifest::{self, DbManifest, Entry, Facts};
use super::{pause_at, sync_dir, sync_path};
use crate::clock;
use crate::config::Project;
use crate::store::sqlite_file::{self, SnapshotError, SqliteFile};

#[derive(Debug, Clone, Copy)]
pub struct TakeOptions {
    pub compress: bool,
    /// Recorded in the manifest: `manual`, `schedule`, `migrate-before`, ...
    pub reason: &'static str,
}

/// An I/O error with the file and, for the usual causes, what to do.
pub(crate) fn io_error(e: io::Error, op: &str, path: &Path) -> anyhow::Error {
    let hint = super::sources::hint_for(&e, path)
        .map(|h| format!(" ({h})"))
        .unwrap_or_default();
    anyhow::anyhow!("cannot {op} {}: {e}{hint}", path.display())
}

/// Deletes a temp file on drop unless disarmed: a failed backup leaves nothing behind.
pub(super) struct TempFile(pub(super) Option<PathBuf>);

impl Drop for TempFile {
    fn drop(&mut self) {
        if let Some(p) = self.0.take() {
            // `VACUUM INTO` that fails part way (a full disk) may leave its journal too.
            for suffix in ["-journal", "-wal", "-shm"] {
                let _ = fs::remove_file(format!("{}{suffix}", p.display()));
            }
            let _ = fs::remove_file(p);
        }
    }
}

/// Takes a backup of the project's database into the backup folder and applies the retention
/// policy. Returns the new backup.
pub fn take(project: &Project, opts: TakeOptions) -> anyhow::Result<Entry> {
    let db = project.database_path();
    if !db.exists() {
        bail!(
            "no database at {}; run `jsonlift migrate` first",
            db.display()
        );
    }
    let dir = manifest::folder(project);
    fs::create_dir_all(&dir).map_err(|e| io_error(e, "create", &dir))?;
    remove_stale_temps(&dir);
    let taken_at = clock::now();
    let stem = unique_stem(&dir, &taken_at);
    let raw = dir.join(format!(".{stem}.db.tmp-{}", std::process::id()));
    let raw_guard = TempFile(Some(raw.clone()));
    sqlite_file::snapshot(&db, &raw, project.busy_timeout())
        .map_err(|e| snapshot_error(e, &db, &raw))?;
    sync_path(&raw).map_err(|e| io_error(e, "sync", &raw))?;
    let db_size = fs::metadata(&raw)
        .map_err(|e| io_error(e, "read", &raw))?
        .len();
    let facts = manifest::facts(&open_immutable(&raw)?)?;
    if facts.integrity != "ok" {
        bail!(
            "the snapshot of {} fails integrity_check ({}); the live database may be damaged: run `sqlite3 {} 'PRAGMA integrity_check'`",
            db.display(),
            facts.integrity,
            db.display()
        );
    }
    pause_at("backup:snapshot");
    let (file, data, _guard) = if opts.compress {
        let file = format!("{stem}.db.zst");
        let tmp = dir.join(format!(".{file}.tmp-{}", std::process::id()));
        let guard = TempFile(Some(tmp.clone()));
        compress(&raw, &tmp).map_err(|e| io_error(e, "write", &tmp))?;
        drop(raw_guard);
        (file, tmp, guard)
    } else {
        (format!("{stem}.db"), raw, raw_guard)
    };
    let (size, sha256) = super::hash_file(&data).map_err(|e| io_error(e, "read", &data))?;
    let final_path = dir.join(&file);
    fs::rename(&data, &final_path).map_err(|e| io_error(e, "rename", &final_path))?;
    let m = DbManifest {
        file,
        taken_at,
        reason: opts.reason.to_string(),
        sha256,
        size,
        compressed: opts.compress,
        db_size,
        integrity: facts.integrity,
        schema_hash: facts.schema_hash,
        audit_id: facts.audit_id,
        audit_at: facts.audit_at,
        counts: facts.counts,
        version: env!("CARGO_PKG_VERSION").to_string(),
        pg_schema: None,
    };
    let manifest_path = match manifest::write(&dir, &stem, &m) {
        Ok(p) => p,
        Err(e) => {
            let _ = fs::remove_file(&final_path);
            return Err(e);
        }
    };
    let entry = Entry {
        manifest: m,
        data: final_path,
        manifest_path,
    };
    super::retention::apply(project, &dir)?;
    Ok(entry)
}

/// `20261121T101502.123456Z` from `2026-11-21T10:15:02.123456Z`, with `-2`, `-3`... when a
/// backup of that microsecond exists.
pub(super) fn unique_stem(dir: &Path, at: &str) -> String {
    let base: String = at.chars().filter(|c| !matches!(c, '-' | ':')).collect();
    let mut stem = base.clone();
    let mut n = 1;
    while dir.join(format!("{stem}.json")).exists()
        || dir.join(format!("{stem}.db")).exists()
        || dir.join(format!("{stem}.db.zst")).exists()
        || dir.join(format!("{stem}.pgdump")).exists()
    {
        n += 1;
        stem = format!("{base}-{n}");
    }
    stem
}

/// Removes temp files of backups whose process is gone (killed mid-backup).
pub(super) fn remove_stale_temps(dir: &Path) {
    let Ok(rd) = fs::read_dir(dir) else { return };
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some((_, pid)) = name.rsplit_once(".tmp-") else {
            continue;
        };
        // `VACUUM INTO` writes the temp database through a rollback journal of its own, which a
        // kill leaves behind beside it.
        let pid = ["-journal", "-wal", "-shm"]
            .iter()
            .find_map(|s| pid.strip_suffix(s))
            .unwrap_or(pid);
        if name.starts_with('.') && crate::process::gone_named(pid) {
            let _ = fs::remove_file(e.path());
        }
    }
}

fn snapshot_error(e: SnapshotError, db: &Path, out: &Path) -> anyhow::Error {
    match e {
        SnapshotError::Open(e) => e,
        SnapshotError::CannotWrite(e) => anyhow::anyhow!(
            "cannot write the backup {}: {e} (disk full or not writable? free space or set backup_dir in jsonlift.toml); the database was not changed",
            out.display()
        ),
        SnapshotError::Busy(_) => anyhow::anyhow!(
            "the database {} stayed locked (busy_timeout_ms); try again, or raise busy_timeout_ms",
            db.display()
        ),
        e => anyhow::Error::new(e).context(format!("backing up {}", db.display())),
    }
}

fn compress(src: &Path, dst: &Path) -> io::Result<()> {
    let input = BufReader::new(fs::File::open(src)?);
    let out = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(dst)?;
    let mut w = BufWriter::new(out);
    zstd::stream::copy_encode(input, &mut w, 3)?;
    w.flush()?;
    w.into_inner().map_err(|e| e.into_error())?.sync_all()
}

/// Opens a database file that nothing else writes (a backup, a file being prepared) without
/// creating -wal/-shm beside it.
pub fn open_immutable(path: &Path) -> anyhow::Result<SqliteFile> {
    SqliteFile::open_immutable(path)
}

/// Checks a backup: its checksum, then (from a plain copy of the database: `out`, or a temp
/// file when `None`) integrity and what it holds. Returns the facts found.
pub fn verify(entry: &Entry, out: Option<&Path>) -> anyhow::Result<Facts> {
    let m = &entry.manifest;
    if entry.is_pg_dump() {
        bail!(
            "backup {} is a PostgreSQL backup (pg_dump); it restores into a project whose database is PostgreSQL, not into a SQLite file (`jsonlift copy` moves a database between the two)",
            entry.name()
        );
    }
    check_checksum(entry)?;
    let tmp;
    let plain: &Path = match out {
        Some(p) => {
            materialize(entry, p)?;
            p
        }
        None if m.compressed => {
            tmp = tempfile::NamedTempFile::new().context("creating a temp file")?;
            materialize(entry, tmp.path())?;
            tmp.path()
        }
        None => &entry.data,
    };
    let facts = manifest::facts(&open_immutable(plain)?)?;
    if facts.integrity != "ok" {
        bail!(
            "backup {} fails integrity_check: {}; use another backup",
            entry.data.display(),
            facts.integrity
        );
    }
    if facts.counts != m.counts || facts.audit_id != m.audit_id {
        bail!(
            "backup {} does not hold what its manifest says (row counts or audit position differ); use another backup",
            entry.data.display()
        );
    }
    Ok(facts)
}

/// The backup file's size and SHA-256 against its manifest.
pub(super) fn check_checksum(entry: &Entry) -> anyhow::Result<()> {
    let m = &entry.manifest;
    let (size, sha) =
        super::hash_file(&entry.data).map_err(|e| io_error(e, "read", &entry.data))?;
    if size != m.size || sha != m.sha256 {
        bail!(
            "backup {} is damaged: its checksum does not match its manifest (size {size}, manifest says {}); it was truncated or altered, use another backup",
            entry.data.display(),
            m.size
        );
    }
    Ok(())
}

/// Writes the plain database of a backup to `out` (a new file), fsynced.
pub fn materialize(entry: &Entry, out: &Path) -> anyhow::Result<()> {
    let result = (|| -> io::Result<()> {
        let mut input = BufReader::new(fs::File::open(&entry.data)?);
        let f = fs::File::create(out)?;
        let mut w = BufWriter::new(f);
        if entry.manifest.compressed {
            zstd::stream::copy_decode(input, &mut w)?;
        } else {
            io::copy(&mut input, &mut w)?;
        }
        w.flush()?;
        w.into_inner().map_err(|e| e.into_error())?.sync_all()
    })();
    result.map_err(|e| io_error(e, "write", out))?;
    if let Some(d) = out.parent() {
        sync_dir(d);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by the backup crash harness (tests/cli/crash_backup.rs): a kill during `VACUUM
    /// INTO` left the temp database's `-journal`, which the next backup did not recognize.
    #[test]
    fn stale_temps_of_a_killed_backup_are_removed_with_their_journal() {
        let dir = tempfile::tempdir().unwrap();
        // A pid no process has (above the kernel's pid_max limit of 2^22).
        let dead = 4_194_305;
        let mine = std::process::id();
        let stale = [
            format!(".a.db.tmp-{dead}"),
            format!(".a.db.tmp-{dead}-journal"),
            format!(".a.db.tmp-{dead}-wal"),
            format!(".a.db.zst.tmp-{dead}"),
        ];
        let kept = [
            format!(".b.db.tmp-{mine}"),
            format!(".b.db.tmp-{mine}-journal"),
            "c.db".to_string(),
            "c.json".to_string(),
        ];
        for f in stale.iter().chain(&kept) {
            fs::write(dir.path().join(f), b"x").unwrap();
        }
        remove_stale_temps(dir.path());
        let mut left: Vec<String> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        let mut want = kept.to_vec();
        want.sort();
        assert_eq!(left, want);
    }
}
