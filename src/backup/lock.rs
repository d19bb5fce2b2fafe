//! Keeping a restore and running servers apart across processes: each `jsonlift serve` holds a
//! shared `flock` on `<db>.serve.lock` for as long as it runs ([`hold_server_lock`]); a restore
//! takes it exclusively ([`hold_restore_lock`]), so it is refused while any server runs and a
//! server cannot start in the middle of a restore. The kernel drops the lock when the process
//! dies, so a killed server never leaves a stale lock behind. A server asked to restore
//! (`POST /_admin/restore`) turns its own shared hold exclusive ([`ServerLock::make_exclusive`]),
//! which succeeds only when it is the one server left.
//!
//! The last holder to let go removes the file (it takes the lock exclusively first, so no one
//! else holds it), leaving nothing beside the database. Whoever opened the file just before it
//! was removed would then lock a file no one else can find: so every holder, after locking,
//! checks that the path still names the file it locked, and tries again on the new one if not.

use std::fs::{File, OpenOptions};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use anyhow::bail;

/// The lock file beside the database.
pub fn lock_path(db: &Path) -> PathBuf {
    let mut name = db.file_name().unwrap_or_default().to_os_string();
    name.push(".serve.lock");
    db.with_file_name(name)
}

/// Held while alive; dropping it (or the process ending) releases the lock.
#[derive(Debug)]
pub struct ServerLock {
    file: File,
    db: PathBuf,
}

impl ServerLock {
    /// For a server about to restore: turns its shared hold into the exclusive one, granted only
    /// when no other process holds the lock. When refused, the shared hold is taken again
    /// (Linux drops it while trying to convert) and the error names the other servers.
    pub fn make_exclusive(&mut self) -> anyhow::Result<()> {
        if try_flock(&self.file, libc::LOCK_EX) {
            return Ok(());
        }
        self.make_shared();
        bail!(
            "other servers use {} too: {}; stop them, then ask again (a restore needs the database to itself). Nothing was changed",
            self.db.display(),
            describe_holders(&self.db)
        )
    }

    /// Back to the shared hold of a running server. Waits while a `jsonlift restore` that
    /// slipped in between holds the lock, so the server resumes on its result.
    pub fn make_shared(&mut self) {
        if flock_waiting(&self.file, libc::LOCK_SH) && names_file(&lock_path(&self.db), &self.file)
        {
            return;
        }
        // Released in between and removed by the last other holder: hold the file now there.
        match acquire(&self.db, libc::LOCK_SH, true) {
            Ok(Some(f)) => self.file = f,
            other => tracing::error!(
                "cannot take the server lock {} again: {:?}",
                lock_path(&self.db).display(),
                other.err()
            ),
        }
    }
}

/// Opens the lock file and locks it (`op`, without waiting unless `wait`); `None` when someone
/// else holds it. Retries when the file was removed between the open and the lock.
fn acquire(db: &Path, op: libc::c_int, wait: bool) -> anyhow::Result<Option<File>> {
    loop {
        let f = open(db)?;
        let locked = if wait {
            flock_waiting(&f, op)
        } else {
            try_flock(&f, op)
        };
        if !locked {
            return Ok(None);
        }
        if names_file(&lock_path(db), &f) {
            return Ok(Some(f));
        }
    }
}

/// Whether `path` is (still) the file `f` is open on.
fn names_file(path: &Path, f: &File) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (std::fs::metadata(path), f.metadata()) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

fn flock_waiting(f: &File, op: libc::c_int) -> bool {
    // SAFETY: flock on a file descriptor we own; no memory is shared.
    while unsafe { libc::flock(f.as_raw_fd(), op) } != 0 {
        if std::io::Error::last_os_error().kind() != std::io::ErrorKind::Interrupted {
            return false;
        }
    }
    true
}

impl Drop for ServerLock {
    fn drop(&mut self) {
        // The last one out removes the file: exclusive means no one else holds it, and the
        // path must still name this file (another may already have removed and remade it).
        let path = lock_path(&self.db);
        if try_flock(&self.file, libc::LOCK_EX) && names_file(&path, &self.file) {
            let _ = std::fs::remove_file(&path);
        }
    }
}

fn open(db: &Path) -> anyhow::Result<File> {
    let path = lock_path(db);
    OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| super::db::io_error(e, "open the lock file", &path))
}

fn try_flock(f: &File, op: libc::c_int) -> bool {
    // SAFETY: flock on a file descriptor we own; no memory is shared.
    unsafe { libc::flock(f.as_raw_fd(), op | libc::LOCK_NB) == 0 }
}

/// For `serve`: hold this for the life of the server. Fails while a restore is replacing the
/// database.
pub fn hold_server_lock(db: &Path) -> anyhow::Result<ServerLock> {
    let Some(f) = acquire(db, libc::LOCK_SH, false)? else {
        bail!(
            "a `jsonlift restore` is replacing {} right now; start the server when it has finished",
            db.display()
        );
    };
    Ok(ServerLock {
        file: f,
        db: db.to_path_buf(),
    })
}

/// For `restore`: fails while any server holds the database.
pub fn hold_restore_lock(db: &Path) -> anyhow::Result<ServerLock> {
    let Some(f) = acquire(db, libc::LOCK_EX, false)? else {
        bail!(
            "a `jsonlift serve` process is using {} (it holds {}: {}); stop it first, or ask the running server to restore with `POST /_admin/restore`",
            db.display(),
            lock_path(db).display(),
            describe_holders(db)
        );
    };
    Ok(ServerLock {
        file: f,
        db: db.to_path_buf(),
    })
}

/// The other processes holding the lock, as `pid 123 (jsonlift serve -c ...)`, from Linux's
/// /proc/locks; a general phrase where that cannot tell.
fn describe_holders(db: &Path) -> String {
    let list: Vec<String> = holders(&lock_path(db))
        .into_iter()
        .map(|pid| {
            let cmd = std::fs::read(format!("/proc/{pid}/cmdline"))
                .map(|b| {
                    b.split(|&c| c == 0)
                        .filter(|a| !a.is_empty())
                        .map(|a| String::from_utf8_lossy(a).into_owned())
                        .collect::<Vec<_>>()
                        .join(" ")
                })
                .unwrap_or_default();
            if cmd.is_empty() {
                format!("pid {pid}")
            } else {
                format!("pid {pid} ({cmd})")
            }
        })
        .collect();
    if list.is_empty() {
        "another `jsonlift serve` process".into()
    } else {
        list.join(", ")
    }
}

/// Pids of other processes holding a `flock` on `path` (Linux: /proc/locks lists each lock as
/// `N: FLOCK ADVISORY READ|WRITE PID MAJ:MIN:INODE 0 EOF`; waiters are marked `->`).
fn holders(path: &Path) -> Vec<u32> {
    use std::os::unix::fs::MetadataExt;
    let Ok(meta) = std::fs::metadata(path) else {
        return Vec::new();
    };
    let Ok(locks) = std::fs::read_to_string("/proc/locks") else {
        return Vec::new();
    };
    let me = std::process::id();
    let mut out = Vec::new();
    for line in locks.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 6 || f[1] != "FLOCK" {
            continue;
        }
        let (Ok(pid), Some(ino)) = (f[4].parse::<u32>(), f[5].rsplit(':').next()) else {
            continue;
        };
        if ino.parse::<u64>().ok() == Some(meta.ino()) && pid != me && !out.contains(&pid) {
            out.push(pid);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn servers_share_a_restore_excludes() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("x.db");
        let a = hold_server_lock(&db).unwrap();
        let b = hold_server_lock(&db).unwrap();
        let err = hold_restore_lock(&db).unwrap_err().to_string();
        assert!(err.contains("POST /_admin/restore"), "{err}");
        drop((a, b));
        let r = hold_restore_lock(&db).unwrap();
        assert!(hold_server_lock(&db).is_err());
        drop(r);
        hold_server_lock(&db).unwrap();
    }

    #[test]
    fn a_server_turns_exclusive_only_when_it_is_the_only_one() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("x.db");
        let mut a = hold_server_lock(&db).unwrap();
        let b = hold_server_lock(&db).unwrap();
        // Both holds are this process's: the message names no pid but says why.
        let err = a.make_exclusive().unwrap_err().to_string();
        assert!(err.contains("other servers use"), "{err}");
        // Refused, the shared hold is back: a restore is still kept out.
        assert!(hold_restore_lock(&db).is_err());
        drop(b);
        a.make_exclusive().unwrap();
        assert!(
            hold_server_lock(&db).is_err(),
            "exclusive keeps servers out"
        );
        a.make_shared();
        let c = hold_server_lock(&db).unwrap();
        drop((a, c));
        hold_restore_lock(&db).unwrap();
    }
}
