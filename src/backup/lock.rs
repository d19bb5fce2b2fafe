//! Keeping a restore and running servers apart across processes: each `jsonlift serve` holds a
//! shared `flock` on `<db>.serve.lock` for as long as it runs ([`hold_server_lock`]); a restore
//! takes it exclusively ([`hold_restore_lock`]), so it is refused while any server runs and a
//! server cannot start in the middle of a restore. The kernel drops the lock when the process
//! dies, so a killed server never leaves a stale lock behind.

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
    _file: File,
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
    let f = open(db)?;
    if !try_flock(&f, libc::LOCK_SH) {
        bail!(
            "a `jsonlift restore` is replacing {} right now; start the server when it has finished",
            db.display()
        );
    }
    Ok(ServerLock { _file: f })
}

/// For `restore`: fails while any server holds the database.
pub fn hold_restore_lock(db: &Path) -> anyhow::Result<ServerLock> {
    let f = open(db)?;
    if !try_flock(&f, libc::LOCK_EX) {
        bail!(
            "a `jsonlift serve` process is using {} (it holds {}); stop it first, or ask the running server to restore with `POST /_admin/restore`",
            db.display(),
            lock_path(db).display()
        );
    }
    Ok(ServerLock { _file: f })
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
}
