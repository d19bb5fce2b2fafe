//! Rows in bulk: `COPY ... FROM STDIN (FORMAT binary)`, the fastest way into PostgreSQL, with
//! each value in its column's own binary form (jsonb included) and the row's `_exact` texts
//! computed as a single insert would ([`super::tx`]).
//!
//! The caller's thread reads the rows and encodes them; a thread of the load's own sends them
//! ([`bulk_load`]), so that reading the source, encoding and the server's work overlap.

use std::io::Write;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

use super::tx::{Param, params, pg_err};
use crate::schema::ddl::{PG_EXACT, PG_ROWID, has_generated_key, quote};
use crate::schema::shred::Cell;
use crate::schema::{ColType, Table};
use crate::store::StoreError;

/// Encoded rows handed to the sending thread at once, and how many such chunks may wait.
const CHUNK: usize = 256 << 10;
const IN_FLIGHT: usize = 4;

/// The binary COPY header: signature, flags, header extension length.
const HEADER: &[u8] = b"PGCOPY\n\xff\r\n\0\0\0\0\0\0\0\0\0";

enum Msg {
    /// A COPY statement to start.
    Begin(String),
    /// Encoded rows of the COPY under way.
    Data(Vec<u8>),
    /// The end of the COPY under way.
    End,
}

/// The producing end of a [`bulk_load`]: a table at a time, [`Loader::begin`], its rows
/// ([`Loader::row`]), [`Loader::end`].
pub struct Loader {
    chan: SyncSender<Msg>,
    /// Buffers the sending thread is done with, to be filled again.
    spare: Receiver<Vec<u8>>,
    buf: Vec<u8>,
    /// Whether the table under way gets its `_rowid` from the caller.
    rowid: bool,
    rows: u64,
}

/// The sending thread has stopped: its own error says why ([`bulk_load`] returns that one).
fn stopped() -> StoreError {
    StoreError::Other(anyhow::anyhow!("the COPY into PostgreSQL stopped"))
}

impl Loader {
    /// Starts the rows of table `t` (`fresh`: created in this transaction). A table that
    /// numbers its rows in a `_rowid` column (it has no generated key) takes the numbers given
    /// with each row: the database then works out no default per row.
    pub fn begin(&mut self, t: &Table, fresh: bool) -> Result<(), StoreError> {
        self.rowid = !has_generated_key(t);
        let mut cols: Vec<String> = Vec::with_capacity(t.columns.len() + 2);
        if self.rowid {
            cols.push(quote(PG_ROWID));
        }
        cols.extend(t.columns.iter().map(|c| quote(&c.name)));
        cols.push(quote(PG_EXACT));
        let sql = format!(
            "COPY {} ({}) FROM STDIN (FORMAT binary{})",
            quote(&t.name),
            cols.join(", "),
            // Rows of a table made in this transaction can be written frozen: nothing else can
            // see them before COMMIT, and reading them back (the verification) then dirties no
            // page.
            if fresh { ", FREEZE" } else { "" }
        );
        self.chan.send(Msg::Begin(sql)).map_err(|_| stopped())?;
        self.buf.extend_from_slice(HEADER);
        self.rows = 0;
        Ok(())
    }

    /// One row of the table under way, after `rowid` (its record order) in the source.
    pub fn row(&mut self, t: &Table, rowid: i64, cells: &[Cell]) -> Result<(), StoreError> {
        let values = params(t, cells)?;
        let fields = values.len() + usize::from(self.rowid);
        self.buf.extend_from_slice(&(fields as i16).to_be_bytes());
        if self.rowid {
            field(&mut self.buf, Some(&rowid.to_be_bytes()));
        }
        let types = t.columns.iter().map(|c| c.ty).chain([ColType::Text]);
        for (p, ty) in values.iter().zip(types) {
            let buf = &mut self.buf;
            match p {
                Param::Int(v) => field(buf, v.map(i64::to_be_bytes).as_ref().map(|b| &b[..])),
                Param::Real(v) => field(
                    buf,
                    v.map(|f| f.to_bits().to_be_bytes())
                        .as_ref()
                        .map(|b| &b[..]),
                ),
                Param::Bool(v) => field(buf, v.map(|b| [b as u8]).as_ref().map(|b| &b[..])),
                Param::Text(None) => field(buf, None),
                // jsonb's binary form: a version byte, then the text.
                Param::Text(Some(s)) if ty == ColType::Json => {
                    buf.extend_from_slice(&(s.len() as i32 + 1).to_be_bytes());
                    buf.push(1);
                    buf.extend_from_slice(s.as_bytes());
                }
                Param::Text(Some(s)) => field(buf, Some(s.as_bytes())),
            }
        }
        self.rows += 1;
        if self.buf.len() >= CHUNK {
            self.flush()?;
        }
        Ok(())
    }

    /// Ends the table under way; returns how many rows it was sent.
    pub fn end(&mut self) -> Result<u64, StoreError> {
        self.buf.extend_from_slice(&(-1i16).to_be_bytes());
        self.flush()?;
        self.chan.send(Msg::End).map_err(|_| stopped())?;
        Ok(self.rows)
    }

    fn flush(&mut self) -> Result<(), StoreError> {
        let next = self
            .spare
            .try_recv()
            .unwrap_or_else(|_| Vec::with_capacity(CHUNK + (64 << 10)));
        let full = std::mem::replace(&mut self.buf, next);
        self.chan.send(Msg::Data(full)).map_err(|_| stopped())
    }
}

/// A field: its length and bytes, or NULL.
fn field(buf: &mut Vec<u8>, bytes: Option<&[u8]>) {
    match bytes {
        None => buf.extend_from_slice(&(-1i32).to_be_bytes()),
        Some(b) => {
            buf.extend_from_slice(&(b.len() as i32).to_be_bytes());
            buf.extend_from_slice(b);
        }
    }
}

/// Runs `produce` on this thread with a [`Loader`] whose rows a second thread sends into `tx`
/// with binary COPY, as they come. A row refused by a constraint fails its whole COPY (the
/// caller's transaction is then rolled back); the sending thread's error wins over the
/// producer's (which then only says that the COPY stopped).
pub fn bulk_load<R>(
    tx: &mut postgres::Transaction,
    produce: impl FnOnce(&mut Loader) -> Result<R, StoreError>,
) -> Result<R, StoreError> {
    let (chan, rx) = sync_channel::<Msg>(IN_FLIGHT);
    let (spare_tx, spare) = sync_channel::<Vec<u8>>(IN_FLIGHT + 1);
    std::thread::scope(|scope| {
        let sender = std::thread::Builder::new()
            .name("jsonlift-copy".into())
            .spawn_scoped(scope, move || send(tx, rx, spare_tx))
            .map_err(|e| StoreError::Other(e.into()))?;
        let mut loader = Loader {
            chan,
            spare,
            buf: Vec::with_capacity(CHUNK + (64 << 10)),
            rowid: false,
            rows: 0,
        };
        let out = produce(&mut loader);
        // Hanging up ends the sending thread (a COPY left unfinished is abandoned, and the
        // transaction with it).
        drop(loader);
        let sent = sender.join().expect("the COPY thread panicked");
        sent?;
        out
    })
}

/// The sending thread: each COPY from its `Begin` to its `End`.
fn send(
    tx: &mut postgres::Transaction,
    rx: Receiver<Msg>,
    spare: SyncSender<Vec<u8>>,
) -> Result<(), StoreError> {
    while let Ok(msg) = rx.recv() {
        let Msg::Begin(sql) = msg else {
            return Err(StoreError::Other(anyhow::anyhow!(
                "rows sent before a COPY"
            )));
        };
        let mut writer = tx.copy_in(&sql).map_err(pg_err)?;
        loop {
            match rx.recv() {
                Ok(Msg::Data(mut buf)) => {
                    writer
                        .write_all(&buf)
                        .map_err(|e| StoreError::Other(e.into()))?;
                    buf.clear();
                    let _ = spare.try_send(buf);
                }
                Ok(Msg::End) => {
                    writer.finish().map_err(pg_err)?;
                    break;
                }
                // The producer gave up (or began another COPY without ending this one).
                Ok(Msg::Begin(_)) | Err(_) => return Ok(()),
            }
        }
    }
    Ok(())
}
