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
use crate::schema::{ColType, Schema, Table};
use crate::store::StoreError;
use crate::store::digest::{Digest, TableDigest};
use crate::store::transfer::RowSink;

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
        encode_row(&mut self.buf, t, self.rowid.then_some(rowid), cells)?;
        self.rows += 1;
        if self.buf.len() >= CHUNK {
            self.flush()?;
        }
        Ok(())
    }

    /// Rows of the table under way, encoded by [`encode_row`] (as many as `rows`).
    fn rows_encoded(&mut self, bytes: &[u8], rows: u64) -> Result<(), StoreError> {
        self.buf.extend_from_slice(bytes);
        self.rows += rows;
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

/// One row of `t` in binary COPY form: its `_rowid` first when the table numbers its rows
/// (`rowid`), then its columns, then `_exact`.
fn encode_row(
    buf: &mut Vec<u8>,
    t: &Table,
    rowid: Option<i64>,
    cells: &[Cell],
) -> Result<(), StoreError> {
    let values = params(t, cells)?;
    let fields = values.len() + usize::from(rowid.is_some());
    buf.extend_from_slice(&(fields as i16).to_be_bytes());
    if let Some(rowid) = rowid {
        field(buf, Some(&rowid.to_be_bytes()));
    }
    let types = t.columns.iter().map(|c| c.ty).chain([ColType::Text]);
    for (p, ty) in values.iter().zip(types) {
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
    Ok(())
}

/// Rows gathered per table from a load that goes table by table in batches (the migration's),
/// each table's sent with a COPY of its own once [`TEE_FLUSH`] of them are waiting: a
/// [`RowSink`] that loads PostgreSQL alongside another database. Each table's rows are hashed
/// as they come, in the order sent, for [`super::replacement::Replacement::finish_load`] to compare
/// with what PostgreSQL gives back.
pub struct Tee<'l, 's> {
    load: &'l mut Loader,
    schema: &'s Schema,
    tables: Vec<Pending>,
    /// [`RowSink::alone`].
    alone: bool,
}

/// Encoded rows of a table gathered before one COPY sends them.
const TEE_FLUSH: usize = 1 << 20;

#[derive(Default)]
struct Pending {
    buf: Vec<u8>,
    waiting: u64,
    digest: Digest,
}

impl<'l, 's> Tee<'l, 's> {
    pub fn new(load: &'l mut Loader, schema: &'s Schema, alone: bool) -> Self {
        Tee {
            load,
            schema,
            alone,
            tables: (0..schema.tables.len())
                .map(|_| Pending::default())
                .collect(),
        }
    }

    fn send(&mut self, t: usize) -> Result<(), StoreError> {
        let p = &mut self.tables[t];
        if p.waiting == 0 {
            return Ok(());
        }
        self.load.begin(&self.schema.tables[t], true)?;
        self.load.rows_encoded(&p.buf, p.waiting)?;
        self.load.end()?;
        p.buf.clear();
        p.waiting = 0;
        Ok(())
    }

    /// Sends what is still waiting; gives each table's digest of the rows sent (index: the
    /// schema's tables).
    pub fn finish(mut self) -> Result<Vec<TableDigest>, StoreError> {
        for t in 0..self.tables.len() {
            self.send(t)?;
        }
        Ok(self.tables.into_iter().map(|p| p.digest.finish()).collect())
    }
}

impl RowSink for Tee<'_, '_> {
    fn row(&mut self, t: usize, rowid: i64, cells: &[Cell]) -> Result<(), StoreError> {
        let table = &self.schema.tables[t];
        let p = &mut self.tables[t];
        p.digest.add(table, rowid, cells);
        let numbered = !has_generated_key(table);
        encode_row(&mut p.buf, table, numbered.then_some(rowid), cells)?;
        p.waiting += 1;
        if p.buf.len() >= TEE_FLUSH {
            self.send(t)?;
        }
        Ok(())
    }

    fn alone(&self) -> bool {
        self.alone
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
