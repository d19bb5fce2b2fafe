//! Scheduled backups for `serve`: a thread that takes a backup every `[backups] interval`
//! (retention is applied after each), until the returned handle is dropped.

use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::Duration;

use super::db::{TakeOptions, take};
use crate::config::Project;

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
pub fn run_schedule(project: &Project) -> anyhow::Result<Option<Schedule>> {
    let Some(every) = project.backup_interval()? else {
        return Ok(None);
    };
    Ok(Some(start(project.clone(), every)))
}

fn start(project: Project, every: Duration) -> Schedule {
    let (tx, rx) = mpsc::channel::<()>();
    let compress = project.config.backups.compress;
    let thread = std::thread::Builder::new()
        .name("jsonlift-backups".into())
        .spawn(move || {
            while let Err(RecvTimeoutError::Timeout) = rx.recv_timeout(every) {
                let opts = TakeOptions {
                    compress,
                    reason: "schedule",
                };
                match take(&project, opts) {
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
