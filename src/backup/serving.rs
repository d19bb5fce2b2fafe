//! Backups and restores inside a running server (`/_admin/backups`, `/_admin/restore`, the
//! `[backups] interval` schedule). A restore swaps the database file, which SQLite allows only
//! when no connection is open, so every user of the database in this process (each request's
//! store work, a backup) holds a [`Pass`] of a gate while it works; a restore closes the gate,
//! waits for the passes out, closes the store's connections, turns the server lock exclusive
//! (refused while other servers hold it), restores, and opens the gate again. On PostgreSQL
//! there is no lock file: the restore itself refuses while other jsonlift processes have
//! sessions on the schema ([`super::InUse`]), and swaps the schema in one transaction.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::{OwnedRwLockReadGuard, RwLock};

use super::lock::ServerLock;
use super::restore::RestoreOptions;
use super::{InUse, Restored, TakeOptions, manifest, restore_database, take_database};
use crate::config::Project;
use crate::store::Store;

/// Leave to use the database while the server is not restoring; held for the work's duration.
pub type Pass = OwnedRwLockReadGuard<()>;

/// Why a restore asked of the server did not happen; the live database is as it was.
#[derive(Debug)]
pub enum Refused {
    /// Another restore runs in this server, or other servers hold the database.
    Busy(String),
    /// The restore itself refused (a damaged backup, a moment it cannot reach, ...).
    Failed(anyhow::Error),
}

/// One server's database, as backups and restores see it.
pub struct ServerBackups {
    project: Project,
    /// The server's hold on a SQLite database; none on PostgreSQL, which is shared by design.
    lock: Mutex<Option<ServerLock>>,
    gate: Arc<RwLock<()>>,
    restoring: AtomicBool,
}

/// Clears the "restoring" flag when the restore ends, however it ends (also when the client
/// gives up before it starts).
struct Restoring(Arc<ServerBackups>);

impl Drop for Restoring {
    fn drop(&mut self) {
        self.0.restoring.store(false, Ordering::SeqCst);
    }
}

impl ServerBackups {
    /// `lock` is the server's shared hold on a SQLite database (held for the life of the
    /// server); `None` on PostgreSQL.
    pub fn new(project: Project, lock: Option<ServerLock>) -> ServerBackups {
        ServerBackups {
            project,
            lock: Mutex::new(lock),
            gate: Arc::new(RwLock::new(())),
            restoring: AtomicBool::new(false),
        }
    }

    pub fn project(&self) -> &Project {
        &self.project
    }

    /// A pass for a request's store work, or `None` while a restore runs (or waits to).
    pub fn try_enter(&self) -> Option<Pass> {
        // Tokio's lock is write-preferring: once a restore waits, no new reader gets in.
        self.gate.clone().try_read_owned().ok()
    }

    /// A pass for the backup schedule's thread (not async): waits while a restore runs.
    pub fn enter_blocking(&self) -> tokio::sync::RwLockReadGuard<'_, ()> {
        self.gate.blocking_read()
    }

    /// Takes a backup now (call with a [`Pass`] held).
    pub fn take(&self, reason: &'static str) -> anyhow::Result<manifest::Entry> {
        take_database(
            &self.project,
            TakeOptions {
                compress: self.project.config.backups.compress,
                reason,
            },
        )
    }

    /// Restores while serving: waits for the database work in flight to finish (new requests
    /// are answered 503 meanwhile), closes `store`'s connections, and restores if this is the
    /// only server on the database. The gate opens again whatever the outcome.
    pub async fn restore(
        self: &Arc<Self>,
        opts: RestoreOptions,
        store: Arc<dyn Store>,
    ) -> Result<Restored, Refused> {
        if self.restoring.swap(true, Ordering::SeqCst) {
            return Err(Refused::Busy(
                "a restore is already running on this server; wait for it to finish".into(),
            ));
        }
        let flag = Restoring(self.clone());
        let closed = self.gate.clone().write_owned().await;
        let me = self.clone();
        tokio::task::spawn_blocking(move || {
            // Held here, so that a client giving up does not open the gate mid-restore.
            let (_closed, _flag) = (closed, flag);
            let mut lock = me.lock.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(lock) = lock.as_mut() {
                lock.make_exclusive()
                    .map_err(|e| Refused::Busy(format!("{e:#}")))?;
            }
            store.close_connections();
            let done = restore_database(
                &me.project,
                &RestoreOptions {
                    from_server: true,
                    ..opts
                },
            );
            if let Some(lock) = lock.as_mut() {
                lock.make_shared();
            }
            done.map_err(|e| match e.downcast_ref::<InUse>() {
                Some(busy) => Refused::Busy(busy.0.clone()),
                None => Refused::Failed(e),
            })
        })
        .await
        .unwrap_or_else(|e| Err(Refused::Failed(anyhow::anyhow!("the restore failed: {e}"))))
    }
}
