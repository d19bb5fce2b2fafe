//! Scheduled backups for `serve`: a thread that takes a backup every `[backups] interval`
//! (retention is applied after each), until the returned handle is dropped. Each backup holds a
//! pass of the server's gate, so it never runs during a restore the server does.

use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::Duration;

use std::sync::Arc;

use super::serving::ServerBackups;

/// Stops the schedule when dropped (and waits for a backup in progress to finish).
pub struct Schedule {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for Schedule {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Starts taking backups of the project's database on its configured interval; `None` when
/// `[backups] interval` is not set. Failures are logged and retried at the next tick.
pub fn run_schedule(server: &Arc<ServerBackups>) -> anyhow::Result<Option<Schedule>> {
    let Some(every) = server.project().backup_interval()? else {
        return Ok(None);
    };
    Ok(Some(start(server.clone(), every)))
}

fn start(server: Arc<ServerBackups>, every: Duration) -> Schedule {
    let (tx, rx) = mpsc::channel::<()>();
    let thread = std::thread::Builder::new()
        .name("jsonlift-backups".into())
        .spawn(move || {
            while let Err(RecvTimeoutError::Timeout) = rx.recv_timeout(every) {
                let _pass = server.enter_blocking();
                match server.take("schedule") {
                    Ok(e) => tracing::info!(backup = %e.data.display(), "scheduled backup taken"),
                    Err(e) => tracing::error!("scheduled backup failed: {e:#}"),
                }
            }
        })
        .expect("spawning the backup thread");
    Schedule {
        stop: Some(tx),
        thread: Some(thread),
    }
}
