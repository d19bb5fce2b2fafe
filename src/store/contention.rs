//! Lock contention, counted for `/_admin/metrics` (seed 003 asks to monitor it): how long
//! writes waited for the database's write lock (SQLite's `BEGIN IMMEDIATE`, which waits up to
//! the busy timeout), and how often a write was tried again after SQLITE_BUSY. Process-wide:
//! one server is one process.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

static WAITS: AtomicU64 = AtomicU64::new(0);
static WAIT_MICROS: AtomicU64 = AtomicU64::new(0);
static BUSY_RETRIES: AtomicU64 = AtomicU64::new(0);

/// A write waited `d` for the write lock (granted or not).
pub fn waited(d: Duration) {
    WAITS.fetch_add(1, Ordering::Relaxed);
    WAIT_MICROS.fetch_add(d.as_micros() as u64, Ordering::Relaxed);
}

/// A write found the database busy and is tried again.
pub fn retried() {
    BUSY_RETRIES.fetch_add(1, Ordering::Relaxed);
}

/// (lock waits, total seconds waited, retries after busy) so far.
pub fn totals() -> (u64, f64, u64) {
    (
        WAITS.load(Ordering::Relaxed),
        WAIT_MICROS.load(Ordering::Relaxed) as f64 / 1e6,
        BUSY_RETRIES.load(Ordering::Relaxed),
    )
}
