//! The deadline of the request a write serves, so that a write the client was told timed out
//! (408) is never committed behind its back, and retries after contention end with the
//! request. The caller (the server) [`enter`]s a [`Deadline`] on the thread that runs the store
//! work; the stores ask [`may_commit`] right before COMMIT and report [`committed`] after it.
//! Whoever comes second loses: the request's timer ([`Deadline::try_abandon`]) or the commit;
//! a commit that won is waited for, and answered as usual.

use std::cell::RefCell;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::{Duration, Instant};

const PENDING: u8 = 0;
const COMMITTING: u8 = 1;
const COMMITTED: u8 = 2;
const ABANDONED: u8 = 3;

/// One request's deadline, shared by its timer and the thread doing its store work.
#[derive(Debug)]
pub struct Deadline {
    pub at: Instant,
    state: AtomicU8,
}

impl Deadline {
    pub fn new(at: Instant) -> Arc<Deadline> {
        Arc::new(Deadline {
            at,
            state: AtomicU8::new(PENDING),
        })
    }

    /// The request's time is up: no commit may start any more, unless one already started
    /// (then `false`: the caller waits for the work's own answer, which comes with the commit).
    pub fn try_abandon(&self) -> bool {
        matches!(
            self.state
                .compare_exchange(PENDING, ABANDONED, Ordering::AcqRel, Ordering::Acquire),
            Ok(_) | Err(ABANDONED)
        )
    }
}

thread_local! {
    static CURRENT: RefCell<Option<Arc<Deadline>>> = const { RefCell::new(None) };
}

/// Makes `d` the deadline of the store work this thread does until the guard is dropped.
pub fn enter(d: Option<Arc<Deadline>>) -> impl Drop {
    struct Guard;
    impl Drop for Guard {
        fn drop(&mut self) {
            CURRENT.with(|c| c.borrow_mut().take());
        }
    }
    CURRENT.with(|c| *c.borrow_mut() = d);
    Guard
}

/// Until when a store may retry after contention: `limit` from now, or just past the request's
/// deadline when that comes first. Just past: so the request's timer, not a busy error a moment
/// before it, gives the answer (408, nothing written); a commit after the deadline is refused
/// anyway ([`may_commit`]).
pub fn retry_until(limit: Duration) -> Instant {
    let own = Instant::now() + limit;
    CURRENT.with(|c| {
        c.borrow()
            .as_ref()
            .map_or(own, |d| (d.at + Duration::from_millis(50)).min(own))
    })
}

/// Whether the write about to commit may: not once its request was abandoned. `Err` says how
/// long the request had been given.
pub fn may_commit() -> Result<(), super::StoreError> {
    CURRENT.with(|c| match c.borrow().as_ref() {
        None => Ok(()),
        // From pending, or committed (a second write of the same request).
        Some(d) => d
            .state
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |s| {
                (s != ABANDONED).then_some(COMMITTING)
            })
            .map(|_| ())
            .map_err(|_| super::StoreError::TimedOut {
                waited: "its deadline passed first".into(),
            }),
    })
}

/// The COMMIT that [`may_commit`] allowed ended: `ok` whether it took.
pub fn committed(ok: bool) {
    CURRENT.with(|c| {
        if let Some(d) = c.borrow().as_ref() {
            let to = if ok { COMMITTED } else { PENDING };
            let _ = d
                .state
                .compare_exchange(COMMITTING, to, Ordering::AcqRel, Ordering::Acquire);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_timer_or_the_commit_wins_never_both() {
        let d = Deadline::new(Instant::now());
        let _g = enter(Some(d.clone()));
        may_commit().unwrap();
        assert!(!d.try_abandon(), "committing: the answer waits for it");
        committed(true);
        assert!(!d.try_abandon(), "committed: the answer says so");

        let d = Deadline::new(Instant::now());
        let _g = enter(Some(d.clone()));
        assert!(d.try_abandon());
        assert!(matches!(
            may_commit(),
            Err(crate::store::StoreError::TimedOut { .. })
        ));

        // A failed COMMIT leaves the write pending: the timer then abandons it.
        let d = Deadline::new(Instant::now());
        let _g = enter(Some(d.clone()));
        may_commit().unwrap();
        committed(false);
        assert!(d.try_abandon());
    }
}
