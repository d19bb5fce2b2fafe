//! The PostgreSQL database as a [`Store`] for `serve`: a pool of connections (each with its
//! prepared statements), reads in read-only snapshots, writes in serializable transactions
//! retried when PostgreSQL says another writer got there first, so several servers can share
//! one database and lose no write.

use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use super::connect::PgUrl;
use super::db::{Mode, PgConn, is_retryable};
use crate::schema::Schema;
use crate::store::{Store, StoreError, Tx};

/// How long a write keeps retrying before giving up with an error.
const RETRY_FOR: Duration = Duration::from_secs(30);
/// The most connections one server opens: requests beyond wait for one to come back. Several
/// servers share the database's `max_connections` (100 by default), so each takes a few.
const POOL_SIZE: usize = 8;

pub struct PgStore {
    url: PgUrl,
    pg_schema: String,
    schema: Schema,
    pool: Mutex<Pool>,
    returned: Condvar,
}

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
            pool: Mutex::new(Pool {
                idle: Vec::new(),
                open: 0,
            }),
            returned: Condvar::new(),
        };
        let conn = store.take()?;
        store.give_back(conn);
        Ok(store)
    }

    fn connect(&self) -> anyhow::Result<PgConn> {
        PgConn::open(&self.url, &self.pg_schema, false)
    }

    /// An idle connection, or a new one while fewer than [`POOL_SIZE`] are open; otherwise
    /// waits for one to come back.
    fn take(&self) -> Result<PgConn, StoreError> {
        let mut pool = self.pool.lock().expect("pool lock");
        loop {
            if let Some(c) = pool.idle.pop() {
                return Ok(c);
            }
            if pool.open < POOL_SIZE {
                pool.open += 1;
                drop(pool);
                return self.connect().map_err(|e| {
                    self.pool.lock().expect("pool lock").open -= 1;
                    self.returned.notify_one();
                    StoreError::from(e)
                });
            }
            pool = self.returned.wait(pool).expect("pool lock");
        }
    }

    fn give_back(&self, conn: PgConn) {
        let mut pool = self.pool.lock().expect("pool lock");
        if conn.client.is_closed() {
            pool.open -= 1;
        } else {
            pool.idle.push(conn);
        }
        self.returned.notify_one();
    }

    fn transaction(
        &self,
        mode: Mode,
        f: &mut dyn FnMut(&dyn Tx) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let mut conn = self.take()?;
        let deadline = Instant::now() + RETRY_FOR;
        let mut pause = Duration::from_millis(2);
        let result = loop {
            match conn.run(mode, |tx| f(tx)) {
                Err(e) if is_retryable(&e) && Instant::now() < deadline => {
                    tracing::debug!("serialization conflict, retrying: {e}");
                    std::thread::sleep(pause);
                    pause = (pause * 2).min(Duration::from_millis(100));
                }
                other => break other,
            }
        };
        self.give_back(conn);
        result
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
        let mut pool = self.pool.lock().expect("pool lock");
        pool.open -= pool.idle.len();
        close(std::mem::take(&mut pool.idle));
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
