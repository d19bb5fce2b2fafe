//! The PostgreSQL database as a [`Store`] for `serve`: a pool of connections (each with its
//! prepared statements), reads in read-only snapshots, writes in serializable transactions
//! retried when PostgreSQL says another writer got there first, so several servers can share
//! one database and lose no write.
//!
//! The pool is this file's own, not deadpool-postgres or bb8 (which issue #14 names): both pool
//! async `tokio_postgres::Client`s, while the store seam is synchronous and its PostgreSQL `Tx`
//! ([`super::tx`]) is written against the blocking `postgres::Client`, which cannot be made from
//! a pooled `tokio_postgres::Client` (its constructor is private to that crate). Adopting either
//! means rewriting every query of `tx.rs` as async and blocking on each. The synchronous pool
//! (r2d2) retries a failed connect until its timeout, where this one fails at once on a wrong
//! password or a dropped database and waits only while the server has no free connection
//! (`ConnectError::is_busy`); and `close_connections` (a restore) drops the idle connections
//! here, which r2d2 cannot be asked to do.

use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use super::connect::{ConnectError, PgUrl};
use super::db::{Mode, PgConn, is_retryable};
use crate::schema::Schema;
use crate::store::{Store, StoreError, Tx};

/// How long a write keeps retrying before giving up with an error; also how long a request
/// waits for a connection.
const RETRY_FOR: Duration = Duration::from_secs(30);
/// The most connections one server holds open, idle or in use. Without a bound, a burst of
/// requests opened one connection each, and a few servers under load took every connection
/// the PostgreSQL server allows (`max_connections`, 100 by default): requests failed with
/// "too many clients". Requests beyond it wait for a connection, as SQLite writers wait for
/// the lock.
const POOL_SIZE: usize = 16;

pub struct PgStore {
    url: PgUrl,
    pg_schema: String,
    schema: Schema,
    pool: Mutex<Pool>,
    /// Signalled when a connection is given back or closed.
    returned: Condvar,
}

#[derive(Default)]
struct Pool {
    idle: Vec<PgConn>,
    /// Connections open, idle or in use.
    open: usize,
}

impl PgStore {
    /// Connects once, so that a bad URL or a missing table is said at start.
    pub fn open(url: &PgUrl, pg_schema: &str, schema: Schema) -> anyhow::Result<PgStore> {
        let store = PgStore {
            url: url.clone(),
            pg_schema: pg_schema.to_string(),
            schema,
            pool: Mutex::new(Pool::default()),
            returned: Condvar::new(),
        };
        let conn = store.connect()?;
        store.pool.lock().expect("pool lock").open += 1;
        store.give_back(conn);
        Ok(store)
    }

    fn connect(&self) -> anyhow::Result<PgConn> {
        PgConn::open(&self.url, &self.pg_schema, false)
    }

    /// An idle connection, or a new one while fewer than [`POOL_SIZE`] are open, or the next
    /// one given back. A server that takes no more connections for now is asked again.
    fn take(&self, deadline: Instant) -> Result<PgConn, StoreError> {
        let mut pool = self.pool.lock().expect("pool lock");
        loop {
            if let Some(c) = pool.idle.pop() {
                return Ok(c);
            }
            if pool.open < POOL_SIZE {
                pool.open += 1;
                drop(pool);
                match self.connect() {
                    Ok(c) => return Ok(c),
                    Err(e) => {
                        self.closed();
                        let busy = e
                            .downcast_ref::<ConnectError>()
                            .is_some_and(ConnectError::is_busy);
                        if !busy || Instant::now() >= deadline {
                            return Err(e.into());
                        }
                        tracing::debug!("{e}; trying again");
                        std::thread::sleep(Duration::from_millis(50));
                        pool = self.pool.lock().expect("pool lock");
                        continue;
                    }
                }
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(StoreError::Other(anyhow::anyhow!(
                    "no connection to {} became free within {RETRY_FOR:?} ({POOL_SIZE} in use)",
                    self.url
                )));
            }
            pool = self
                .returned
                .wait_timeout(pool, deadline - now)
                .expect("pool lock")
                .0;
        }
    }

    fn give_back(&self, conn: PgConn) {
        if conn.client.is_closed() {
            close(vec![conn]);
            self.closed();
            return;
        }
        self.pool.lock().expect("pool lock").idle.push(conn);
        self.returned.notify_one();
    }

    /// One connection fewer is open: a waiting request may open another.
    fn closed(&self) {
        self.pool.lock().expect("pool lock").open -= 1;
        self.returned.notify_one();
    }

    fn transaction(
        &self,
        mode: Mode,
        f: &mut dyn FnMut(&dyn Tx) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let deadline = crate::store::deadline::retry_until(RETRY_FOR);
        let mut lease = Lease {
            store: self,
            conn: Some(self.take(deadline)?),
        };
        let conn = lease.conn.as_mut().expect("a leased connection");
        let mut pause = Duration::from_millis(2);
        loop {
            match conn.run(mode, |tx| f(tx)) {
                Err(e) if is_retryable(&e) && Instant::now() < deadline => {
                    tracing::debug!("serialization conflict, retrying: {e}");
                    std::thread::sleep(pause);
                    pause = (pause * 2).min(Duration::from_millis(100));
                }
                other => return other,
            }
        }
    }
}

impl PgStore {
    /// The check of `serve --watch`'s fallback: the server answers, and every table of the
    /// project (and jsonlift's ledger and audit log) is in the schema. One catalog query; `Err`
    /// says what is wrong.
    pub fn check(&self) -> Result<(), String> {
        let mut want: Vec<String> = self.schema.tables.iter().map(|t| t.name.clone()).collect();
        want.extend([
            "_jsonlift_sources".to_string(),
            "_jsonlift_audit".to_string(),
        ]);
        want.sort();
        want.dedup();
        let deadline = Instant::now() + RETRY_FOR;
        let mut lease = Lease {
            store: self,
            conn: Some(self.take(deadline).map_err(|e| e.to_string())?),
        };
        let conn = lease.conn.as_mut().expect("a leased connection");
        // Without the schema, current_schema() is NULL: every table is missing.
        let have: Vec<String> = conn
            .client
            .query(
                "SELECT tablename::text FROM pg_tables \
                 WHERE schemaname = current_schema() AND tablename = ANY($1)",
                &[&want],
            )
            .map_err(|e| format!("{}: {e}", conn.name))?
            .iter()
            .map(|r| r.get(0))
            .collect();
        let missing: Vec<&str> = want
            .iter()
            .filter(|w| !have.contains(w))
            .map(String::as_str)
            .collect();
        match missing.as_slice() {
            [] => Ok(()),
            m => Err(format!("{}: table {} is gone", conn.name, m.join(", "))),
        }
    }
}

/// A connection taken from the pool, given back when dropped, also by a panic: otherwise its
/// place in the pool would stay taken.
struct Lease<'s> {
    store: &'s PgStore,
    conn: Option<PgConn>,
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        if let Some(c) = self.conn.take() {
            self.store.give_back(c);
        }
    }
}

impl Store for PgStore {
    fn schema(&self) -> &Schema {
        &self.schema
    }

    fn read(&self, f: &mut dyn FnMut(&dyn Tx) -> Result<(), StoreError>) -> Result<(), StoreError> {
        self.transaction(Mode::Read, f)
    }

    fn write(
        &self,
        f: &mut dyn FnMut(&dyn Tx) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        self.transaction(Mode::Write, f)
    }

    fn close_connections(&self) {
        let idle = {
            let mut pool = self.pool.lock().expect("pool lock");
            let idle = std::mem::take(&mut pool.idle);
            pool.open -= idle.len();
            idle
        };
        close(idle);
        self.returned.notify_all();
    }
}

impl Drop for PgStore {
    fn drop(&mut self) {
        close(std::mem::take(
            &mut self.pool.lock().expect("pool lock").idle,
        ));
    }
}

/// Closes connections on a thread of their own: the synchronous client blocks on its own
/// runtime to close, which it may not do on one of the server's async threads.
fn close(conns: Vec<PgConn>) {
    if !conns.is_empty() {
        let _ = std::thread::spawn(move || drop(conns)).join();
    }
}
