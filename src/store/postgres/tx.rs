//! A transaction on PostgreSQL as the store seam's [`Tx`]. What SQLite does by itself is done
//! here, so that the layers above see the same rows on either database:
//! - the record order: PostgreSQL has no rowid, so a table orders its rows by its generated key
//!   or by the `_rowid` identity column ([`ddl::rowid_column`]);
//! - the cell types: booleans are `boolean` (SQLite's 0/1), reals `double precision`;
//! - JSON columns are `jsonb`, which reorders keys and rewrites some numbers (`1e3` → `1000`):
//!   where it would, the exact text goes into the row's `_exact` column, and reading puts it
//!   back ([`exact`]), so a record comes back byte for byte.

use std::cell::RefCell;
use std::collections::HashMap;

use postgres::Statement;
use postgres::binary_copy::BinaryCopyOutRow;
use postgres::types::ToSql;

use crate::audit::{Entry, Filter, NewEntry};
use crate::json::{Value, parse};
use crate::schema::ddl::{self, PG_EXACT, quote};
use crate::schema::shred::Cell;
use crate::schema::{ColType, Table};
use crate::store::Dialect;
use crate::store::StoreError;
use crate::store::backend::{
    Cells, Evolution, LedgerRow, OrderBy, Refusal, Run, SourceState, Test, Tx, Written,
};
use crate::store::bookkeeping::AppliedMigration;
use crate::store::digest::{Digest, TableDigest};
use crate::store::select;

/// Prepared statements by SQL text, for one connection (a statement belongs to its connection).
///
/// After tables were dropped and made again in the session, PostgreSQL refuses a plan prepared
/// before ("cached plan must not change result type"). So DDL on the connection goes through
/// [`Statements::ddl`] (or [`Statements::script`], [`PgTx::ddl`]), which forget every statement
/// once it ran: nobody has to remember to.
#[derive(Default)]
pub struct Statements(HashMap<String, Statement>);

impl Statements {
    /// Runs `sql` (statements that may change tables) on the connection these statements
    /// belong to, then forgets them all, whether it succeeded or not.
    pub fn ddl(
        &mut self,
        client: &mut impl postgres::GenericClient,
        sql: &str,
    ) -> Result<(), postgres::Error> {
        let done = client.batch_execute(sql);
        self.0.clear();
        done
    }

    /// [`Statements::ddl`] for statements written by a user (a numbered SQL migration, the
    /// app's own views): the error is PostgreSQL's own message, with its detail and hint, and
    /// the character offset (1-based) in `sql` where it found the fault, when it says.
    pub fn script(
        &mut self,
        client: &mut impl postgres::GenericClient,
        sql: &str,
    ) -> Result<(), (String, Option<usize>)> {
        let done = super::db::run_located(client, sql);
        self.0.clear();
        done
    }
}

pub struct PgTx<'c, 't> {
    tx: RefCell<&'t mut postgres::Transaction<'c>>,
    cache: RefCell<&'t mut Statements>,
}

/// A bound value of the type its column has.
#[derive(Debug)]
pub(super) enum Param<'a> {
    Int(Option<i64>),
    Real(Option<f64>),
    Bool(Option<bool>),
    /// Borrowed from the cell where it can be: a bulk load binds millions.
    Text(Option<std::borrow::Cow<'a, str>>),
}

impl Param<'_> {
    pub(super) fn as_sql(&self) -> &(dyn ToSql + Sync) {
        match self {
            Param::Int(v) => v,
            Param::Real(v) => v,
            Param::Bool(v) => v,
            Param::Text(v) => v,
        }
    }
}

pub(super) fn pg_err(e: postgres::Error) -> StoreError {
    StoreError::Other(anyhow::Error::new(e))
}

/// A constraint violation as a [`Refusal`]; `None` for any other error.
pub fn refusal(e: &postgres::Error) -> Option<Refusal> {
    let db = e.as_db_error()?;
    let code = db.code().code();
    if !code.starts_with("23") {
        return None;
    }
    let message = db.message().to_string();
    let unique = (code == "23505").then(|| {
        // "Key (a, b)=(1, 2) already exists."
        db.detail()
            .and_then(|d| d.strip_prefix("Key ("))
            .and_then(|d| d.split_once(")="))
            .map(|(cols, _)| {
                cols.split(", ")
                    .map(|c| c.trim_matches('"').to_string())
                    .collect()
            })
            .unwrap_or_default()
    });
    Some(Refusal { message, unique })
}

impl<'c, 't> PgTx<'c, 't> {
    pub fn new(tx: &'t mut postgres::Transaction<'c>, cache: &'t mut Statements) -> Self {
        PgTx {
            tx: RefCell::new(tx),
            cache: RefCell::new(cache),
        }
    }

    /// Runs DDL in this transaction ([`Statements::ddl`]).
    pub fn ddl(&self, sql: &str) -> Result<(), StoreError> {
        let mut tx = self.tx.borrow_mut();
        self.cache.borrow_mut().ddl(&mut **tx, sql).map_err(pg_err)
    }

    fn statement(&self, sql: &str) -> Result<Statement, StoreError> {
        if let Some(s) = self.cache.borrow().0.get(sql) {
            return Ok(s.clone());
        }
        let s = self.tx.borrow_mut().prepare(sql).map_err(pg_err)?;
        self.cache.borrow_mut().0.insert(sql.to_string(), s.clone());
        Ok(s)
    }

    fn query(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<postgres::Row>, StoreError> {
        let st = self.statement(sql)?;
        self.tx.borrow_mut().query(&st, params).map_err(pg_err)
    }

    fn execute(&self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<u64, postgres::Error> {
        let st = match self.statement(sql) {
            Ok(s) => s,
            Err(StoreError::Other(e)) => {
                return Err(e.downcast::<postgres::Error>().expect("a prepare error"));
            }
            Err(_) => unreachable!("statement() fails with postgres errors only"),
        };
        self.tx.borrow_mut().execute(&st, params)
    }

    /// Runs `sql` and turns a constraint violation into a refusal. A savepoint keeps the
    /// transaction usable after one (PostgreSQL aborts the whole transaction otherwise).
    fn write(&self, sql: &str, params: &[Param]) -> Written {
        let refs: Vec<&(dyn ToSql + Sync)> = params.iter().map(Param::as_sql).collect();
        self.tx
            .borrow_mut()
            .batch_execute("SAVEPOINT jsonlift_row")
            .map_err(pg_err)?;
        match self.execute(sql, &refs) {
            Ok(_) => {
                self.tx
                    .borrow_mut()
                    .batch_execute("RELEASE SAVEPOINT jsonlift_row")
                    .map_err(pg_err)?;
                Ok(Ok(()))
            }
            Err(e) => {
                self.tx
                    .borrow_mut()
                    .batch_execute("ROLLBACK TO SAVEPOINT jsonlift_row")
                    .map_err(pg_err)?;
                match refusal(&e) {
                    Some(r) => Ok(Err(r)),
                    None => Err(pg_err(e)),
                }
            }
        }
    }
}

impl PgTx<'_, '_> {
    /// Every row of `t` as one binary COPY reads it, handed to `f`: in record order, or
    /// (`!ordered`) in the order the rows lie, each after its rowid.
    fn copy_out(
        &self,
        t: &Table,
        ordered: bool,
        f: &mut dyn FnMut(&BinaryCopyOutRow) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        use postgres::fallible_iterator::FallibleIterator;
        let (sql, types) = copy_out_sql(t, ordered);
        let mut tx = self.tx.borrow_mut();
        let reader = tx.copy_out(&sql).map_err(pg_err)?;
        let mut rows = postgres::binary_copy::BinaryCopyOutIter::new(reader, &types);
        while let Some(row) = rows.next().map_err(pg_err)? {
            f(&row)?;
        }
        Ok(())
    }

    /// What the rows of `t` come to ([`Digest`]), each with its rowid, in the order they lie
    /// in the table: for a table filled by one COPY in this transaction, the order they were
    /// sent in, read without sorting (a table read in another order only fails to match, and
    /// the caller then compares it row by row). The COPY's bytes are hashed as they come, each
    /// value read from them in place; a row with a JSON value (hashed as its compact text) or
    /// exact texts (put back first) is made whole, and most rows have neither (`_extra` and
    /// `_meta` are NULL).
    pub fn digest(&self, t: &Table) -> Result<TableDigest, StoreError> {
        let mut d = Digest::default();
        let n = t.columns.len();
        // The JSON columns, at their place in the row read (after the rowid).
        let json: Vec<usize> = (0..n)
            .filter(|&i| t.columns[i].ty == ColType::Json)
            .map(|i| i + 1)
            .collect();
        // A scan that another one is running on the same table may start in its middle.
        self.tx
            .borrow_mut()
            .batch_execute("SET LOCAL synchronize_seqscans = off")
            .map_err(pg_err)?;
        let (sql, types) = copy_out_sql(t, false);
        let mut tx = self.tx.borrow_mut();
        let reader = tx.copy_out(&sql).map_err(pg_err)?;
        let bad = |what: &str| {
            StoreError::Other(anyhow::anyhow!("table {}: the COPY gave {what}", t.name))
        };
        each_copy_row(reader, &types, &mut |row| {
            let rowid = row.get::<i64>(0)?;
            if row.is_set(n + 1) || json.iter().any(|&i| row.is_set(i)) {
                d.add(t, rowid, &cells(t, row, 1)?);
                return Ok(());
            }
            d.rowid(rowid);
            for (i, c) in t.columns.iter().enumerate() {
                let Some(v) = row.raw(i + 1) else {
                    d.null();
                    continue;
                };
                let word = || -> Result<[u8; 8], StoreError> {
                    v.try_into().map_err(|_| bad("a number of the wrong size"))
                };
                match c.ty {
                    ColType::Integer => d.int(i64::from_be_bytes(word()?)),
                    ColType::Real => d.real(f64::from_bits(u64::from_be_bytes(word()?))),
                    // As a seam's cell: 0 or 1.
                    ColType::Boolean => d.int(i64::from(v.first().is_some_and(|&b| b != 0))),
                    ColType::Text | ColType::Json => d.text(v),
                }
            }
            d.row_done();
            Ok(())
        })?;
        Ok(d.finish())
    }
}

/// The COPY that reads `t` back in binary, and the types of its fields: the rowid first
/// unless `ordered` (then the rows come in record order), the columns as cells are read back,
/// then `_exact`.
fn copy_out_sql(t: &Table, ordered: bool) -> (String, Vec<postgres::types::Type>) {
    use postgres::types::Type;
    let rowid = ddl::rowid_column(t, Dialect::Postgres);
    let sql = if ordered {
        format!(
            "COPY (SELECT {} FROM {} ORDER BY {rowid}) TO STDOUT (FORMAT binary)",
            select_list(t),
            ddl::from(t, Dialect::Postgres),
        )
    } else {
        format!(
            "COPY (SELECT {rowid}, {} FROM {}) TO STDOUT (FORMAT binary)",
            select_list(t),
            ddl::from(t, Dialect::Postgres),
        )
    };
    let mut types: Vec<Type> = if ordered { vec![] } else { vec![Type::INT8] };
    types.extend(t.columns.iter().map(|c| match c.ty {
        ColType::Integer => Type::INT8,
        ColType::Real => Type::FLOAT8,
        ColType::Boolean => Type::BOOL,
        ColType::Text | ColType::Json => Type::TEXT,
    }));
    types.push(Type::TEXT);
    (sql, types)
}

/// A row of a binary COPY as [`each_copy_row`] reads it: its fields where they lie in the
/// buffer read.
struct CopyRow<'a> {
    buf: &'a [u8],
    fields: &'a [Option<(usize, usize)>],
    types: &'a [postgres::types::Type],
}

impl<'a> CopyRow<'a> {
    /// Field `i`'s bytes; `None` for NULL.
    fn raw(&self, i: usize) -> Option<&'a [u8]> {
        self.fields[i].map(|(a, b)| &self.buf[a..b])
    }

    fn is_set(&self, i: usize) -> bool {
        self.fields[i].is_some()
    }
}

impl Fields for CopyRow<'_> {
    fn get<'a, T: postgres::types::FromSql<'a>>(&'a self, i: usize) -> Result<T, StoreError> {
        T::from_sql_nullable(&self.types[i], self.raw(i))
            .map_err(|e| StoreError::Other(anyhow::anyhow!("reading field {i} of a COPY: {e}")))
    }
}

/// The binary COPY header: signature, flags, header extension length.
const COPY_SIGNATURE: &[u8] = b"PGCOPY\n\xff\r\n\0";

/// The rows of a binary COPY out (`COPY ... TO STDOUT (FORMAT binary)`) read from `r`, each
/// handed to `f` with its fields (as many as `types`) in place in a buffer the stream is read
/// into: no allocation per row or per value.
fn each_copy_row(
    mut r: impl std::io::Read,
    types: &[postgres::types::Type],
    f: &mut dyn FnMut(&CopyRow) -> Result<(), StoreError>,
) -> Result<(), StoreError> {
    let broken = |what: &str| StoreError::Other(anyhow::anyhow!("a binary COPY {what}"));
    let mut buf = vec![0u8; 1 << 20];
    let (mut at, mut end) = (0usize, 0usize);
    let mut header = false;
    let mut fields: Vec<Option<(usize, usize)>> = Vec::with_capacity(types.len());
    loop {
        // The whole rows read so far.
        loop {
            let have = &buf[at..end];
            if !header {
                if have.len() < COPY_SIGNATURE.len() + 8 {
                    break;
                }
                if !have.starts_with(COPY_SIGNATURE) {
                    return Err(broken("began without its signature"));
                }
                let ext = u32::from_be_bytes(have[15..19].try_into().expect("4 bytes")) as usize;
                if have.len() < 19 + ext {
                    break;
                }
                at += 19 + ext;
                header = true;
                continue;
            }
            let Some(count) = have.get(..2) else { break };
            let count = i16::from_be_bytes([count[0], count[1]]);
            if count == -1 {
                // The trailer: what follows is the end of the COPY.
                while r.read(&mut buf).map_err(|e| StoreError::Other(e.into()))? > 0 {}
                return Ok(());
            }
            if count as usize != types.len() {
                return Err(broken(&format!(
                    "row has {count} fields, {} were asked for",
                    types.len()
                )));
            }
            fields.clear();
            let mut p = 2;
            let mut whole = true;
            for _ in 0..count {
                let Some(len) = have.get(p..p + 4) else {
                    whole = false;
                    break;
                };
                let len = i32::from_be_bytes(len.try_into().expect("4 bytes"));
                p += 4;
                if len < 0 {
                    fields.push(None);
                } else if have.len() < p + len as usize {
                    whole = false;
                    break;
                } else {
                    fields.push(Some((at + p, at + p + len as usize)));
                    p += len as usize;
                }
            }
            if !whole {
                break;
            }
            f(&CopyRow {
                buf: &buf,
                fields: &fields,
                types,
            })?;
            at += p;
        }
        // More: the part row moved to the front once the buffer is mostly used, the buffer
        // grown for a row larger than it.
        if buf.len() - end < (64 << 10) {
            buf.copy_within(at..end, 0);
            end -= at;
            at = 0;
            if buf.len() - end < (64 << 10) {
                buf.resize(buf.len() * 2, 0);
            }
        }
        let got = r
            .read(&mut buf[end..])
            .map_err(|e| StoreError::Other(e.into()))?;
        if got == 0 {
            return Err(broken("ended before its trailer"));
        }
        end += got;
    }
}

/// The select list of a table: its columns as cells are read back, then `_exact`.
fn select_list(t: &Table) -> String {
    let mut cols: Vec<String> = t
        .columns
        .iter()
        .map(|c| match c.ty {
            ColType::Json => format!("{}::text", quote(&c.name)),
            _ => quote(&c.name),
        })
        .collect();
    cols.push(quote(PG_EXACT));
    cols.join(", ")
}

/// A row as read: by a query, or from a binary COPY.
trait Fields {
    fn get<'a, T: postgres::types::FromSql<'a>>(&'a self, i: usize) -> Result<T, StoreError>;
}

impl Fields for postgres::Row {
    fn get<'a, T: postgres::types::FromSql<'a>>(&'a self, i: usize) -> Result<T, StoreError> {
        self.try_get(i).map_err(pg_err)
    }
}

impl Fields for postgres::binary_copy::BinaryCopyOutRow {
    fn get<'a, T: postgres::types::FromSql<'a>>(&'a self, i: usize) -> Result<T, StoreError> {
        self.try_get(i).map_err(pg_err)
    }
}

/// A row read back as cells (from column `from` on), with the exact JSON texts put back.
fn cells(t: &Table, r: &impl Fields, from: usize) -> Result<Cells, StoreError> {
    let mut out = Vec::with_capacity(t.columns.len());
    for (i, c) in t.columns.iter().enumerate() {
        let at = from + i;
        let cell = match c.ty {
            ColType::Integer => r.get::<Option<i64>>(at)?.map_or(Cell::Null, Cell::Int),
            ColType::Real => r.get::<Option<f64>>(at)?.map_or(Cell::Null, Cell::Real),
            ColType::Boolean => r
                .get::<Option<bool>>(at)?
                .map_or(Cell::Null, |b| Cell::Int(b as i64)),
            ColType::Text => r
                .get::<Option<String>>(at)?
                .map_or(Cell::Null, |s| Cell::Text(s.into())),
            // jsonb prints its values spaced out: the compact text jsonlift writes is the same
            // value, and what a copy back into SQLite should hold.
            ColType::Json => match r.get::<Option<String>>(at)? {
                None => Cell::Null,
                Some(s) => match parse(s.as_bytes(), 10_000) {
                    Ok(v) => Cell::Text(crate::json::to_compact_string(&v).into()),
                    Err(_) => Cell::Text(s.into()),
                },
            },
        };
        out.push(cell);
    }
    let exact: Option<String> = r.get(from + t.columns.len())?;
    if let Some(exact) = exact {
        let Ok(Value::Object(texts)) = parse(exact.as_bytes(), 16) else {
            return Err(StoreError::Other(anyhow::anyhow!(
                "table {}: column {PG_EXACT} holds no object of texts: {exact}",
                t.name
            )));
        };
        for (name, text) in texts {
            let (Some(i), Value::String(text)) = (t.col(&name), text) else {
                continue;
            };
            // The exact text stands for the column's value only while it is that value: an app
            // that rewrote the column without clearing `_exact` wrote a new value, which wins.
            // A JSON column compares as jsonb does; a text column holds the text with U+FFFD for
            // each U+0000 ([`pg_text`]). (NULL there is a value jsonb refused, kept only as
            // text.)
            let same = match (&out[i], t.columns[i].ty) {
                (Cell::Text(now), ColType::Json) => exact::same_value(now, &text),
                (Cell::Text(now), _) => *now == pg_text(&text),
                _ => true,
            };
            if same {
                out[i] = Cell::Text(text.into());
            }
        }
    }
    Ok(out)
}

/// The parameters for a row's cells, and its `_exact` texts.
pub(super) fn params<'a>(t: &Table, cells: &'a [Cell]) -> Result<Vec<Param<'a>>, StoreError> {
    let mut out = Vec::with_capacity(t.columns.len() + 1);
    let mut exact: Vec<(String, Value)> = Vec::new();
    for (c, cell) in t.columns.iter().zip(cells) {
        let bad = || {
            StoreError::Other(anyhow::anyhow!(
                "table {}: column {} cannot hold {cell:?}",
                t.name,
                c.name
            ))
        };
        out.push(match (c.ty, cell) {
            (ColType::Integer, Cell::Null) => Param::Int(None),
            (ColType::Integer, Cell::Int(i)) => Param::Int(Some(*i)),
            (ColType::Real, Cell::Null) => Param::Real(None),
            (ColType::Real, Cell::Real(f)) => Param::Real(Some(*f)),
            (ColType::Real, Cell::Int(i)) => Param::Real(Some(*i as f64)),
            (ColType::Boolean, Cell::Null) => Param::Bool(None),
            (ColType::Boolean, Cell::Int(i)) => Param::Bool(Some(*i != 0)),
            (ColType::Text, Cell::Null) | (ColType::Json, Cell::Null) => Param::Text(None),
            (ColType::Text, Cell::Text(s)) if s.contains('\0') => {
                exact.push((c.name.clone(), Value::String(s.to_string())));
                Param::Text(Some(pg_text(s).into()))
            }
            (ColType::Text, Cell::Text(s)) => Param::Text(Some(std::borrow::Cow::Borrowed(s))),
            (ColType::Json, Cell::Text(s)) => match exact::kept_by_jsonb(s) {
                exact::Kept::Yes => Param::Text(Some(std::borrow::Cow::Borrowed(s))),
                exact::Kept::Reordered => {
                    exact.push((c.name.clone(), Value::String(s.to_string())));
                    Param::Text(Some(std::borrow::Cow::Borrowed(s)))
                }
                exact::Kept::Refused => {
                    exact.push((c.name.clone(), Value::String(s.to_string())));
                    Param::Text(None)
                }
            },
            _ => return Err(bad()),
        });
    }
    out.push(Param::Text((!exact.is_empty()).then(|| {
        crate::json::to_compact_string(&Value::Object(exact)).into()
    })));
    Ok(out)
}

/// `$1, $2, ...` for a row, JSON columns cast from text.
fn placeholders(t: &Table) -> String {
    let mut out: Vec<String> = t
        .columns
        .iter()
        .enumerate()
        .map(|(i, c)| match c.ty {
            ColType::Json => format!("${}::text::jsonb", i + 1),
            _ => format!("${}", i + 1),
        })
        .collect();
    out.push(format!("${}", t.columns.len() + 1));
    out.join(", ")
}

fn column_list(t: &Table) -> String {
    let mut cols: Vec<String> = t.columns.iter().map(|c| quote(&c.name)).collect();
    cols.push(quote(PG_EXACT));
    cols.join(", ")
}

/// Text as a PostgreSQL `text` can hold it. PostgreSQL refuses the character U+0000 in text,
/// which SQLite stores like any other and JSON allows (`"\u0000"`): the column gets U+FFFD in its
/// place, and the exact text goes into `_exact` ([`params`]), from where reading puts it back.
/// A comparison with such a text binds it the same way, and the caller re-checks the rows found
/// against the exact cells ([`has_nul`]), so that a U+FFFD written as such matches only itself.
fn pg_text(s: &str) -> String {
    if s.contains('\0') {
        s.replace('\0', "\u{FFFD}")
    } else {
        s.to_string()
    }
}

/// Whether a comparison with this cell may find rows holding other text ([`pg_text`]): a
/// U+0000 is compared as U+FFFD, and a U+FFFD may be a U+0000 stored.
fn has_nul(cell: &Cell) -> bool {
    matches!(cell, Cell::Text(s) if s.contains(['\0', '\u{FFFD}']))
}

/// The parameters of a statement of [`select`], each bound for the column it is compared with.
fn bind<'a>(t: &Table, sql: &select::Sql<'a>) -> Result<Vec<Param<'a>>, StoreError> {
    sql.params
        .iter()
        .map(|(col, c)| match col {
            Some(col) => param_for(t, *col, c),
            // A search term: text.
            None => Ok(params_one(ColType::Text, c)),
        })
        .collect()
}

/// The parameter for one cell compared with column `col` (a key, a foreign key, a filter).
fn param_for<'a>(t: &Table, col: usize, cell: &'a Cell) -> Result<Param<'a>, StoreError> {
    let mut p = params_one(t.columns[col].ty, cell);
    if let Param::Text(Some(_)) = p {
        if t.columns[col].ty == ColType::Json {
            p = Param::Text(None);
        }
    }
    Ok(p)
}

fn params_one<'a>(ty: ColType, cell: &'a Cell) -> Param<'a> {
    match (ty, cell) {
        (ColType::Integer, Cell::Int(i)) => Param::Int(Some(*i)),
        (ColType::Integer, Cell::Null) => Param::Int(None),
        (ColType::Real, Cell::Real(f)) => Param::Real(Some(*f)),
        (ColType::Real, Cell::Int(i)) => Param::Real(Some(*i as f64)),
        (ColType::Real, Cell::Null) => Param::Real(None),
        (ColType::Boolean, Cell::Int(i)) => Param::Bool(Some(*i != 0)),
        (ColType::Boolean, Cell::Null) => Param::Bool(None),
        (_, Cell::Text(s)) => Param::Text(Some(pg_text(s).into())),
        (_, Cell::Int(i)) => Param::Text(Some(i.to_string().into())),
        (_, Cell::Real(f)) => Param::Text(Some(f.to_string().into())),
        (_, Cell::Null) => Param::Text(None),
    }
}

/// A column by name in the schema's tables is not known here: a comparison by name binds the
/// value as the type it has.
fn param_untyped<'a>(cell: &'a Cell) -> Param<'a> {
    match cell {
        Cell::Int(i) => Param::Int(Some(*i)),
        Cell::Real(f) => Param::Real(Some(*f)),
        Cell::Text(s) => Param::Text(Some(pg_text(s).into())),
        Cell::Null => Param::Text(None),
    }
}

impl Tx for PgTx<'_, '_> {
    fn dialect(&self) -> Dialect {
        Dialect::Postgres
    }

    fn page(&self, t: &Table, after: i64, limit: usize) -> Result<Vec<(i64, Cells)>, StoreError> {
        let rowid = ddl::rowid_column(t, Dialect::Postgres);
        let sql = format!(
            "SELECT {rowid}, {} FROM {} WHERE {rowid} > $1 ORDER BY {rowid} LIMIT $2",
            select_list(t),
            ddl::from(t, Dialect::Postgres)
        );
        let rows = self.query(&sql, &[&after, &(limit as i64)])?;
        rows.iter()
            .map(|r| Ok((r.try_get(0).map_err(pg_err)?, cells(t, r, 1)?)))
            .collect()
    }

    /// One binary COPY of the whole table: far faster than pages of queries for a copy's
    /// verification, which reads every row back.
    fn scan(
        &self,
        t: &Table,
        f: &mut dyn FnMut(Cells) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        self.copy_out(t, true, &mut |row| f(cells(t, row, 0)?))
    }

    fn row(&self, t: &Table, rowid: i64) -> Result<Cells, StoreError> {
        let sql = format!(
            "SELECT {} FROM {} WHERE {} = $1",
            select_list(t),
            ddl::from(t, Dialect::Postgres),
            ddl::rowid_column(t, Dialect::Postgres)
        );
        let rows = self.query(&sql, &[&rowid])?;
        match rows.first() {
            Some(r) => cells(t, r, 0),
            None => Err(StoreError::Other(anyhow::anyhow!(
                "table {}: no row {rowid}",
                t.name
            ))),
        }
    }

    /// In pages of one query each: a filtered list asks for thousands of records, and a round
    /// trip per record made it a hundred times slower than on SQLite.
    fn rows(&self, t: &Table, rowids: &[i64]) -> Result<Vec<Cells>, StoreError> {
        let rowid = ddl::rowid_column(t, Dialect::Postgres);
        let sql = format!(
            "SELECT {rowid}, {} FROM {} WHERE {rowid} = ANY($1)",
            select_list(t),
            ddl::from(t, Dialect::Postgres)
        );
        let mut out = Vec::with_capacity(rowids.len());
        for chunk in rowids.chunks(4096) {
            let rows = self.query(&sql, &[&chunk])?;
            let mut by_id = std::collections::HashMap::with_capacity(rows.len());
            for r in &rows {
                by_id.insert(r.try_get::<_, i64>(0).map_err(pg_err)?, cells(t, r, 1)?);
            }
            for id in chunk {
                out.push(by_id.remove(id).ok_or_else(|| {
                    StoreError::Other(anyhow::anyhow!("table {}: no row {id}", t.name))
                })?);
            }
        }
        Ok(out)
    }

    fn rowid_by(&self, t: &Table, col: usize, value: &Cell) -> Result<Option<i64>, StoreError> {
        let sql = format!(
            "SELECT {} FROM {} WHERE {} = $1",
            ddl::rowid_column(t, Dialect::Postgres),
            ddl::from(t, Dialect::Postgres),
            quote(&t.columns[col].name)
        );
        let p = param_for(t, col, value)?;
        let rows = self.query(&sql, &[p.as_sql()])?;
        for r in &rows {
            let rowid: i64 = r.try_get(0).map_err(pg_err)?;
            if !has_nul(value) || self.row(t, rowid)?[col] == *value {
                return Ok(Some(rowid));
            }
        }
        Ok(None)
    }

    fn children(&self, t: &Table, parent: &Cell) -> Result<Vec<Cells>, StoreError> {
        let (col, order) = match (t.parent_col, t.pos_col) {
            (Some(p), Some(pos)) => (p, format!(" ORDER BY {}", quote(&t.columns[pos].name))),
            _ => (t.pk, String::new()),
        };
        let sql = format!(
            "SELECT {} FROM {} WHERE {} = $1{order}",
            select_list(t),
            quote(&t.name),
            quote(&t.columns[col].name)
        );
        let p = param_for(t, col, parent)?;
        let rows = self.query(&sql, &[p.as_sql()])?;
        rows.iter().map(|r| cells(t, r, 0)).collect()
    }

    fn max_int(&self, t: &Table, col: usize) -> Result<Option<i64>, StoreError> {
        let sql = format!(
            "SELECT max({}) FROM {}",
            quote(&t.columns[col].name),
            quote(&t.name)
        );
        let rows = self.query(&sql, &[])?;
        rows[0].try_get(0).map_err(pg_err)
    }

    fn cell(&self, t: &Table, rowid: i64, col: usize) -> Result<Option<Cell<'static>>, StoreError> {
        match self.row(t, rowid) {
            Ok(mut cells) => Ok(Some(cells.swap_remove(col))),
            Err(_) => Ok(None),
        }
    }

    fn any_value(&self, t: &Table, col: usize) -> Result<bool, StoreError> {
        let sql = format!(
            "SELECT 1 FROM {} WHERE {} IS NOT NULL LIMIT 1",
            ddl::from(t, Dialect::Postgres),
            quote(&t.columns[col].name)
        );
        Ok(!self.query(&sql, &[])?.is_empty())
    }

    fn extra_holds(&self, t: &Table, extra: usize, field: &str) -> Result<bool, StoreError> {
        let col = &t.columns[extra].name;
        let sql = format!(
            "SELECT 1 FROM {} WHERE {} ? $1 LIMIT 1",
            ddl::from(t, Dialect::Postgres),
            quote(col)
        );
        if !field.contains('\0') && !self.query(&sql, &[&field])?.is_empty() {
            return Ok(true);
        }
        // Overflow objects jsonb refused (a U+0000 in them) are only in `_exact`, as text: few
        // rows, read one by one (`_exact` is not cast to jsonb in SQL: the exact text of a
        // text column may hold U+0000, which jsonb refuses too).
        let sql = format!(
            "SELECT {exact} FROM {} WHERE {} IS NULL AND {exact} IS NOT NULL",
            ddl::from(t, Dialect::Postgres),
            quote(col),
            exact = quote(PG_EXACT)
        );
        for r in self.query(&sql, &[])? {
            let texts: String = r.try_get(0).map_err(pg_err)?;
            let Ok(Value::Object(texts)) = parse(texts.as_bytes(), 16) else {
                continue;
            };
            let Some((_, Value::String(text))) = texts.iter().find(|(k, _)| k == col) else {
                continue;
            };
            if let Ok(Value::Object(fields)) = parse(text.as_bytes(), 10_000)
                && fields.iter().any(|(k, _)| k == field)
            {
                return Ok(true);
            }
        }
        Ok(false)
    }

    fn rowids_where(
        &self,
        t: &Table,
        any_of: &[(usize, Vec<Cell<'static>>)],
    ) -> Result<Vec<i64>, StoreError> {
        let mut wheres = Vec::new();
        let mut params = Vec::new();
        for (col, values) in any_of {
            let mut marks = Vec::new();
            for v in values {
                params.push(param_for(t, *col, v)?);
                marks.push(format!("${}", params.len()));
            }
            wheres.push(format!(
                "{} IN ({})",
                quote(&t.columns[*col].name),
                marks.join(", ")
            ));
        }
        let rowid = ddl::rowid_column(t, Dialect::Postgres);
        let sql = format!(
            "SELECT {rowid} FROM {} WHERE {} ORDER BY {rowid}",
            ddl::from(t, Dialect::Postgres),
            if wheres.is_empty() {
                "true".to_string()
            } else {
                wheres.join(" AND ")
            }
        );
        let refs: Vec<&(dyn ToSql + Sync)> = params.iter().map(Param::as_sql).collect();
        let rowids = self
            .query(&sql, &refs)?
            .iter()
            .map(|r| r.try_get(0).map_err(pg_err))
            .collect::<Result<Vec<i64>, _>>()?;
        if !any_of.iter().any(|(_, vs)| vs.iter().any(has_nul)) {
            return Ok(rowids);
        }
        // A text with U+0000 was compared approximately: keep the rows that hold exactly one
        // of the values in every column.
        let mut exact = Vec::with_capacity(rowids.len());
        for rowid in rowids {
            let cells = self.row(t, rowid)?;
            if any_of
                .iter()
                .all(|(col, vs)| vs.iter().any(|v| *v == cells[*col]))
            {
                exact.push(rowid);
            }
        }
        Ok(exact)
    }

    fn tally(
        &self,
        t: &Table,
        filters: &[(usize, Test)],
        also: &[(usize, Test)],
    ) -> Result<(u64, Vec<u64>), StoreError> {
        let sql = select::tally(Dialect::Postgres, t, filters, also);
        let params = bind(t, &sql)?;
        let refs: Vec<&(dyn ToSql + Sync)> = params.iter().map(Param::as_sql).collect();
        let rows = self.query(&sql.text, &refs)?;
        let row = rows
            .first()
            .ok_or_else(|| StoreError::Other(anyhow::anyhow!("count(*) gave no row")))?;
        let n = |i: usize| row.try_get::<_, i64>(i).map(|n| n as u64).map_err(pg_err);
        Ok((n(0)?, (1..=also.len()).map(n).collect::<Result<_, _>>()?))
    }

    fn select(
        &self,
        t: &Table,
        filters: &[(usize, Test)],
        order: &[OrderBy],
        skip: u64,
        take: Option<u64>,
    ) -> Result<Vec<i64>, StoreError> {
        let sql = select::select(Dialect::Postgres, t, filters, order, skip, take);
        let params = bind(t, &sql)?;
        let refs: Vec<&(dyn ToSql + Sync)> = params.iter().map(Param::as_sql).collect();
        self.query(&sql.text, &refs)?
            .iter()
            .map(|r| r.try_get(0).map_err(pg_err))
            .collect()
    }

    fn count_equal(&self, table: &str, column: &str, value: &Cell) -> Result<u64, StoreError> {
        let sql = format!(
            "SELECT count(*) FROM {} WHERE {} = $1",
            quote(table),
            quote(column)
        );
        let p = param_untyped(value);
        let n: i64 = self.query(&sql, &[p.as_sql()])?[0]
            .try_get(0)
            .map_err(pg_err)?;
        Ok(n as u64)
    }

    fn exists(&self, table: &str, column: &str, value: &Cell) -> Result<bool, StoreError> {
        let sql = format!(
            "SELECT 1 FROM {} WHERE {} = $1 LIMIT 1",
            quote(table),
            quote(column)
        );
        let p = param_untyped(value);
        Ok(!self.query(&sql, &[p.as_sql()])?.is_empty())
    }

    fn count(&self, t: &Table) -> Result<u64, StoreError> {
        let sql = format!("SELECT count(*) FROM {}", ddl::from(t, Dialect::Postgres));
        let n: i64 = self.query(&sql, &[])?[0].try_get(0).map_err(pg_err)?;
        Ok(n as u64)
    }

    fn search_ready(&self, t: &Table) -> Result<bool, StoreError> {
        let name = crate::store::search::table_name(t);
        let rows = self.query(
            "SELECT 1 FROM information_schema.tables \
             WHERE table_schema = current_schema() AND table_name = $1",
            &[&name],
        )?;
        Ok(!rows.is_empty())
    }

    fn search_create(&self, t: &Table) -> Result<(), StoreError> {
        for sql in crate::store::search::create_sql(Dialect::Postgres, t) {
            self.ddl(&sql)?;
        }
        Ok(())
    }

    fn search_drop(&self, t: &Table) -> Result<(), StoreError> {
        self.ddl(&crate::store::search::drop_sql(t))
    }

    fn search_ranked(&self, t: &Table, term: &str) -> Result<Vec<i64>, StoreError> {
        use crate::store::search::{bound_term, ranked_sql};
        let d = Dialect::Postgres;
        let term = bound_term(d, term);
        self.query(&ranked_sql(d, t), &[&term])?
            .iter()
            .map(|r| r.try_get(0).map_err(pg_err))
            .collect()
    }

    fn search_put(&self, t: &Table, rowid: i64, text: Option<String>) -> Result<(), StoreError> {
        use crate::store::search::{delete_sql, insert_sql, stored_text};
        let d = Dialect::Postgres;
        self.execute(&delete_sql(d, t), &[&rowid]).map_err(pg_err)?;
        if let Some(text) = text {
            let text = stored_text(d, text);
            self.execute(&insert_sql(d, t), &[&rowid, &text])
                .map_err(pg_err)?;
        }
        Ok(())
    }

    fn search_fill(&self, t: &Table, rows: Vec<(i64, String)>) -> Result<(), StoreError> {
        use crate::store::search::{copy_sql, stored_text};
        use postgres::binary_copy::BinaryCopyInWriter;
        use postgres::types::Type;
        let mut tx = self.tx.borrow_mut();
        let sink = tx.copy_in(&copy_sql(t)).map_err(pg_err)?;
        let mut writer = BinaryCopyInWriter::new(sink, &[Type::INT8, Type::TEXT]);
        for (rowid, text) in rows {
            let text = stored_text(Dialect::Postgres, text);
            writer.write(&[&rowid, &text]).map_err(pg_err)?;
        }
        writer.finish().map_err(pg_err)?;
        Ok(())
    }

    fn unused_entities(
        &self,
        entities: &Table,
        join: &Table,
        col: usize,
    ) -> Result<u64, StoreError> {
        let sql = format!(
            "SELECT count(*) FROM {} e WHERE NOT EXISTS (SELECT 1 FROM {} j WHERE j.{} = e.{})",
            quote(&entities.name),
            quote(&join.name),
            quote(&join.columns[col].name),
            quote(&entities.columns[entities.pk].name)
        );
        let n: i64 = self.query(&sql, &[])?[0].try_get(0).map_err(pg_err)?;
        Ok(n as u64)
    }

    fn dangling(
        &self,
        table: &str,
        column: &str,
        target: &str,
        target_column: &str,
    ) -> Result<(u64, Option<String>), StoreError> {
        let sql = crate::store::backend::dangling_sql(table, column, target, target_column);
        let row = &self.query(&sql, &[])?[0];
        let n: i64 = row.try_get(0).map_err(pg_err)?;
        Ok((n as u64, row.try_get(1).map_err(pg_err)?))
    }

    fn insert(&self, t: &Table, cells: &[Cell]) -> Written {
        let conflict = match t.join {
            // A shared entity is stored at its first occurrence.
            Some(_) => format!(" ON CONFLICT ({}) DO NOTHING", quote(&t.columns[t.pk].name)),
            None => String::new(),
        };
        let sql = format!(
            "INSERT INTO {} ({}) VALUES ({}){conflict}",
            quote(&t.name),
            column_list(t),
            placeholders(t)
        );
        let params = params(t, cells)?;
        let done = self.write(&sql, &params)?;
        if done.is_ok() && ddl::has_generated_key(t) {
            // The key was given: the identity must not hand it out again to another client.
            let sql = format!(
                "SELECT setval(pg_get_serial_sequence($1, $2), greatest((SELECT max({}) FROM {}), 1))",
                quote(&t.columns[t.pk].name),
                quote(&t.name)
            );
            self.query(&sql, &[&quote(&t.name), &t.columns[t.pk].name])?;
        }
        Ok(done)
    }

    fn update(&self, t: &Table, rowid: i64, cells: &[Cell]) -> Written {
        let mut sets: Vec<String> = t
            .columns
            .iter()
            .enumerate()
            .map(|(i, c)| match c.ty {
                ColType::Json => format!("{} = ${}::text::jsonb", quote(&c.name), i + 1),
                _ => format!("{} = ${}", quote(&c.name), i + 1),
            })
            .collect();
        sets.push(format!("{} = ${}", quote(PG_EXACT), t.columns.len() + 1));
        let sql = format!(
            "UPDATE {} SET {} WHERE {} = {rowid}{}",
            quote(&t.name),
            sets.join(", "),
            ddl::rowid_column(t, Dialect::Postgres),
            ddl::and_only(t)
        );
        let params = params(t, cells)?;
        self.write(&sql, &params)
    }

    fn delete_children(&self, t: &Table, parent: &Cell) -> Result<(), StoreError> {
        let pc = t.parent_col.expect("child table");
        let sql = format!(
            "DELETE FROM {} WHERE {} = $1",
            quote(&t.name),
            quote(&t.columns[pc].name)
        );
        let p = param_for(t, pc, parent)?;
        self.execute(&sql, &[p.as_sql()]).map_err(pg_err)?;
        Ok(())
    }

    fn delete_row(&self, t: &Table, rowid: i64) -> Result<(), StoreError> {
        let sql = format!(
            "DELETE FROM {} WHERE {} = $1{}",
            quote(&t.name),
            ddl::rowid_column(t, Dialect::Postgres),
            ddl::and_only(t)
        );
        self.execute(&sql, &[&rowid]).map_err(pg_err)?;
        Ok(())
    }

    fn defer_references(&self) -> Result<(), StoreError> {
        self.tx
            .borrow_mut()
            .batch_execute("SET CONSTRAINTS ALL DEFERRED")
            .map_err(pg_err)
    }

    fn audit_append(&self, e: &NewEntry) -> Result<(), StoreError> {
        // The id is the largest plus one, read in this transaction, as SQLite numbers its rows:
        // not the table's sequence, whose numbers are handed out before commit. With those, a
        // rolled-back write (a refused import) left a gap, and of two writers the one with the
        // larger id could commit first, so that a reader following the log with `after=`
        // skipped the other's entry for good. Two writers reading the same largest id conflict
        // and one is retried ([`super::db::is_retryable`]): entries are numbered in commit order.
        self.execute(
            "INSERT INTO _jsonlift_audit (id, at, collection, key, action, old, new, actor, request_id) \
             VALUES ((SELECT coalesce(max(id), 0) + 1 FROM _jsonlift_audit), $1, $2, $3, $4, $5, $6, $7, $8)",
            &[&e.at, &e.collection, &e.key, &e.action, &e.old, &e.new, &e.actor, &e.request_id],
        )
        .map_err(pg_err)?;
        Ok(())
    }

    fn audit_insert(&self, e: &Entry) -> Result<(), StoreError> {
        self.execute(
            "INSERT INTO _jsonlift_audit (id, at, collection, key, action, old, new, actor, request_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            &[&e.id, &e.at, &e.collection, &e.key, &e.action, &e.old, &e.new, &e.actor, &e.request_id],
        )
        .map_err(pg_err)?;
        Ok(())
    }

    fn audit_query(&self, f: &Filter) -> Result<Vec<Entry>, StoreError> {
        let limit = f.limit.map(|n| n as i64);
        let rows = self.query(
            "SELECT id, at, collection, key, action, old, new, actor, request_id FROM _jsonlift_audit \
             WHERE ($1::text IS NULL OR collection = $1) AND ($2::text IS NULL OR key = $2) \
             AND ($3::text IS NULL OR at >= $3) AND ($4::bigint IS NULL OR id > $4) ORDER BY id LIMIT $5",
            &[&f.collection, &f.key, &f.since, &f.after_id, &limit],
        )?;
        rows.iter()
            .map(|r| {
                Ok(Entry {
                    id: r.try_get(0).map_err(pg_err)?,
                    at: r.try_get(1).map_err(pg_err)?,
                    collection: r.try_get(2).map_err(pg_err)?,
                    key: r.try_get(3).map_err(pg_err)?,
                    action: r.try_get(4).map_err(pg_err)?,
                    old: r.try_get(5).map_err(pg_err)?,
                    new: r.try_get(6).map_err(pg_err)?,
                    actor: r.try_get(7).map_err(pg_err)?,
                    request_id: r.try_get(8).map_err(pg_err)?,
                })
            })
            .collect()
    }

    fn audit_last_id(&self) -> Result<i64, StoreError> {
        let rows = self.query("SELECT coalesce(max(id), 0) FROM _jsonlift_audit", &[])?;
        rows[0].try_get(0).map_err(pg_err)
    }

    fn sources(&self) -> Result<HashMap<String, SourceState>, StoreError> {
        if self.columns("_jsonlift_sources")?.is_none() {
            return Ok(HashMap::new());
        }
        let rows = self.query(
            "SELECT path, format, sha256, size, layout, records, schema_hash, migrated_at FROM _jsonlift_sources",
            &[],
        )?;
        let mut out = HashMap::new();
        for r in rows {
            let layout: String = r.try_get(4).map_err(pg_err)?;
            let s = SourceState {
                path: r.try_get(0).map_err(pg_err)?,
                format: r.try_get(1).map_err(pg_err)?,
                sha256: r.try_get(2).map_err(pg_err)?,
                size: r.try_get::<_, i64>(3).map_err(pg_err)? as u64,
                layout: serde_json::from_str(&layout).unwrap_or_default(),
                records: r.try_get::<_, i64>(5).map_err(pg_err)? as u64,
                schema_hash: r.try_get(6).map_err(pg_err)?,
                migrated_at: r.try_get(7).map_err(pg_err)?,
            };
            out.insert(s.path.clone(), s);
        }
        Ok(out)
    }

    fn runs(&self) -> Result<(i64, Option<Run>), StoreError> {
        if self.columns("_jsonlift_ledger")?.is_none() {
            return Ok((0, None));
        }
        let n: i64 = self.query("SELECT count(*) FROM _jsonlift_ledger", &[])?[0]
            .try_get(0)
            .map_err(pg_err)?;
        let last = self
            .query(
                "SELECT action, started_at, finished_at, version FROM _jsonlift_ledger ORDER BY id DESC LIMIT 1",
                &[],
            )?
            .first()
            .map(|r| {
                Ok::<_, StoreError>(Run {
                    action: r.try_get(0).map_err(pg_err)?,
                    started_at: r.try_get(1).map_err(pg_err)?,
                    finished_at: r.try_get(2).map_err(pg_err)?,
                    version: r.try_get(3).map_err(pg_err)?,
                })
            })
            .transpose()?;
        Ok((n, last))
    }

    fn ledger(&self) -> Result<Vec<LedgerRow>, StoreError> {
        if self.columns("_jsonlift_ledger")?.is_none() {
            return Ok(Vec::new());
        }
        let rows = self.query(
            "SELECT id, started_at, finished_at, action, schema_hash, sources, backup, version FROM _jsonlift_ledger ORDER BY id",
            &[],
        )?;
        rows.iter()
            .map(|r| {
                Ok(LedgerRow {
                    id: r.try_get(0).map_err(pg_err)?,
                    started_at: r.try_get(1).map_err(pg_err)?,
                    finished_at: r.try_get(2).map_err(pg_err)?,
                    action: r.try_get(3).map_err(pg_err)?,
                    schema_hash: r.try_get(4).map_err(pg_err)?,
                    sources: r.try_get(5).map_err(pg_err)?,
                    backup: r.try_get(6).map_err(pg_err)?,
                    version: r.try_get(7).map_err(pg_err)?,
                })
            })
            .collect()
    }

    fn ledger_insert(&self, r: &LedgerRow) -> Result<(), StoreError> {
        self.execute(
            "INSERT INTO _jsonlift_ledger (id, started_at, finished_at, action, schema_hash, sources, backup, version) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            &[&r.id, &r.started_at, &r.finished_at, &r.action, &r.schema_hash, &r.sources, &r.backup, &r.version],
        )
        .map_err(pg_err)?;
        Ok(())
    }

    fn evolution_read(&self) -> Result<Evolution, StoreError> {
        let mut out = Evolution::default();
        if self.columns("_jsonlift_schema")?.is_some() {
            let rows = self.query(
                "SELECT toml, saved_at FROM _jsonlift_schema WHERE id = 1",
                &[],
            )?;
            if let Some(r) = rows.first() {
                out.schema = Some((r.try_get(0).map_err(pg_err)?, r.try_get(1).map_err(pg_err)?));
            }
        }
        if self.columns("_jsonlift_migrations")?.is_some() {
            let rows = self.query(
                "SELECT number, name, sha256, applied_at FROM _jsonlift_migrations ORDER BY number",
                &[],
            )?;
            for r in &rows {
                out.migrations.push(AppliedMigration {
                    number: r.try_get::<_, i64>(0).map_err(pg_err)? as u32,
                    name: r.try_get(1).map_err(pg_err)?,
                    sha256: r.try_get(2).map_err(pg_err)?,
                    applied_at: r.try_get(3).map_err(pg_err)?,
                });
            }
        }
        Ok(out)
    }

    fn evolution_write(&self, e: &Evolution) -> Result<(), StoreError> {
        if let Some((toml, at)) = &e.schema {
            self.ddl("CREATE TABLE IF NOT EXISTS _jsonlift_schema (id BIGINT PRIMARY KEY CHECK (id = 1), toml TEXT NOT NULL, saved_at TEXT NOT NULL)")?;
            self.execute(
                "INSERT INTO _jsonlift_schema (id, toml, saved_at) VALUES (1, $1, $2) ON CONFLICT (id) DO UPDATE SET toml = EXCLUDED.toml, saved_at = EXCLUDED.saved_at",
                &[toml, at],
            )
            .map_err(pg_err)?;
        }
        if !e.migrations.is_empty() {
            self.ddl("CREATE TABLE IF NOT EXISTS _jsonlift_migrations (number BIGINT PRIMARY KEY, name TEXT NOT NULL, sha256 TEXT NOT NULL, applied_at TEXT NOT NULL)")?;
        }
        for m in &e.migrations {
            self.execute(
                "INSERT INTO _jsonlift_migrations (number, name, sha256, applied_at) VALUES ($1, $2, $3, $4)",
                &[&i64::from(m.number), &m.name, &m.sha256, &m.applied_at],
            )
            .map_err(pg_err)?;
        }
        Ok(())
    }

    fn source_forget(&self, path: &str) -> Result<(), StoreError> {
        self.execute("DELETE FROM _jsonlift_sources WHERE path = $1", &[&path])
            .map_err(pg_err)?;
        Ok(())
    }

    fn refresh_statistics(&self, t: &Table) -> Result<(), StoreError> {
        self.ddl(&format!("ANALYZE {}", quote(&t.name)))
    }

    fn change_tables(&self, sql: &str) -> Result<(), StoreError> {
        // Through `ddl`, which forgets the statements prepared on the tables changed here.
        self.ddl(sql)
    }

    fn source_write(&self, s: &SourceState) -> Result<(), StoreError> {
        let layout = serde_json::to_string(&s.layout).map_err(anyhow::Error::from)?;
        self.execute(
            "INSERT INTO _jsonlift_sources (path, format, sha256, size, layout, records, schema_hash, migrated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
             ON CONFLICT (path) DO UPDATE SET format = EXCLUDED.format, sha256 = EXCLUDED.sha256, size = EXCLUDED.size, layout = EXCLUDED.layout, records = EXCLUDED.records, schema_hash = EXCLUDED.schema_hash, migrated_at = EXCLUDED.migrated_at",
            &[&s.path, &s.format, &s.sha256, &(s.size as i64), &layout, &(s.records as i64), &s.schema_hash, &s.migrated_at],
        )
        .map_err(pg_err)?;
        Ok(())
    }

    fn columns(&self, name: &str) -> Result<Option<Vec<(String, String)>>, StoreError> {
        // In the schema the connection's search_path puts first (`pg_schema`).
        let rows = self.query(
            "SELECT column_name::text, upper(data_type::text) FROM information_schema.columns \
             WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position",
            &[&name],
        )?;
        if rows.is_empty() {
            return Ok(None);
        }
        let cols = rows
            .iter()
            .map(|r| Ok((r.try_get(0).map_err(pg_err)?, r.try_get(1).map_err(pg_err)?)))
            .collect::<Result<Vec<(String, String)>, StoreError>>()?;
        // The columns only PostgreSQL's tables have are the backend's, not the schema's.
        Ok(Some(
            cols.into_iter()
                .filter(|(n, _)| n != ddl::PG_ROWID && n != PG_EXACT)
                .collect(),
        ))
    }

    fn integrity(&self) -> Result<String, StoreError> {
        // PostgreSQL checks its pages itself; that it answers is the check.
        self.query("SELECT 1", &[])?;
        Ok("ok".into())
    }

    fn size(&self) -> Result<Option<u64>, StoreError> {
        let n: i64 = self.query(
            "SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0)::bigint FROM pg_class c \
             JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = current_schema() AND c.relkind = 'r'",
            &[],
        )?[0]
            .try_get(0)
            .map_err(pg_err)?;
        Ok(Some(n as u64))
    }
}

/// Whether jsonb keeps a JSON text as written, value for value.
pub mod exact {
    use crate::json::{Value, parse};

    pub enum Kept {
        /// jsonb gives back the same keys in the same order and the same number spellings.
        Yes,
        /// The value goes in, but comes back other than written: keep the text beside it.
        Reordered,
        /// jsonb refuses it (a `\u0000` in a string): the text alone is kept.
        Refused,
    }

    pub fn kept_by_jsonb(text: &str) -> Kept {
        let Ok(v) = parse(text.as_bytes(), 10_000) else {
            return Kept::Refused;
        };
        let mut kept = Kept::Yes;
        walk(&v, &mut kept);
        kept
    }

    fn walk(v: &Value, kept: &mut Kept) {
        if matches!(kept, Kept::Refused) {
            return;
        }
        match v {
            Value::String(s) => {
                if s.contains('\0') {
                    *kept = Kept::Refused;
                }
            }
            Value::Number(n) => {
                if !numeric_form(n.as_str()) {
                    *kept = Kept::Reordered;
                }
            }
            Value::Array(items) => items.iter().for_each(|i| walk(i, kept)),
            Value::Object(fields) => {
                // jsonb orders keys by length, then byte by byte.
                let in_order = fields
                    .windows(2)
                    .all(|w| (w[0].0.len(), w[0].0.as_bytes()) < (w[1].0.len(), w[1].0.as_bytes()));
                if !in_order {
                    *kept = Kept::Reordered;
                }
                for (k, v) in fields {
                    if k.contains('\0') {
                        *kept = Kept::Refused;
                    }
                    walk(v, kept);
                }
            }
            Value::Null | Value::Bool(_) => {}
        }
    }

    /// Whether two JSON texts are the same value as jsonb sees it: objects whatever their key
    /// order, numbers by their decimal value (`1e3` is `1000`, `1.50` is `1.5`).
    pub fn same_value(a: &str, b: &str) -> bool {
        match (parse(a.as_bytes(), 10_000), parse(b.as_bytes(), 10_000)) {
            (Ok(a), Ok(b)) => same(&a, &b),
            _ => a == b,
        }
    }

    fn same(a: &Value, b: &Value) -> bool {
        match (a, b) {
            (Value::Object(x), Value::Object(y)) => {
                x.len() == y.len()
                    && x.iter().all(|(k, v)| {
                        y.iter()
                            .find(|(k2, _)| k2 == k)
                            .is_some_and(|(_, w)| same(v, w))
                    })
            }
            (Value::Array(x), Value::Array(y)) => {
                x.len() == y.len() && x.iter().zip(y).all(|(v, w)| same(v, w))
            }
            (Value::Number(x), Value::Number(y)) => decimal(x.as_str()) == decimal(y.as_str()),
            _ => a == b,
        }
    }

    /// A number's exact decimal value: (negative, significant digits, exponent), zero as one.
    fn decimal(s: &str) -> (bool, String, i64) {
        let (neg, s) = match s.strip_prefix('-') {
            Some(r) => (true, r),
            None => (false, s),
        };
        let (mantissa, exp) = match s.split_once(['e', 'E']) {
            Some((m, e)) => (m, e.trim_start_matches('+').parse::<i64>().unwrap_or(0)),
            None => (s, 0),
        };
        let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
        let digits = format!("{int}{frac}");
        let mut exp = exp - frac.len() as i64;
        let trimmed = digits.trim_start_matches('0');
        let mut digits = trimmed.to_string();
        while digits.ends_with('0') {
            digits.pop();
            exp += 1;
        }
        if digits.is_empty() {
            return (false, String::new(), 0);
        }
        (neg, digits, exp)
    }

    /// The spelling PostgreSQL's numeric prints a number in: no exponent, no `+`, no leading
    /// zeros, and no negative zero.
    fn numeric_form(s: &str) -> bool {
        let digits = s.strip_prefix('-').unwrap_or(s);
        let (int, frac) = match digits.split_once('.') {
            Some((i, f)) => (i, Some(f)),
            None => (digits, None),
        };
        let plain = |d: &str| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit());
        let int_ok = plain(int) && (int == "0" || !int.starts_with('0'));
        let frac_ok = frac.is_none_or(plain);
        let zero =
            int.bytes().all(|b| b == b'0') && frac.is_none_or(|f| f.bytes().all(|b| b == b'0'));
        int_ok && frac_ok && !(s.starts_with('-') && zero)
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        fn yes(t: &str) -> bool {
            matches!(kept_by_jsonb(t), Kept::Yes)
        }

        #[test]
        fn what_jsonb_keeps_as_written() {
            assert!(yes(r#"{"a":1,"bb":[1.50,"x",null,true],"ccc":{"d":-2}}"#));
            assert!(yes("0.0"));
            // Key order: by length, then bytes.
            assert!(!yes(r#"{"b":1,"a":2}"#));
            assert!(!yes(r#"{"aa":1,"b":2}"#));
            // Number spellings numeric rewrites.
            for n in ["1e3", "1E3", "-0", "-0.0", "01", "1.5e300"] {
                assert!(!yes(n), "{n}");
            }
            assert!(matches!(kept_by_jsonb(r#""a\u0000b""#), Kept::Refused));
        }

        #[test]
        fn same_value_as_jsonb_sees_it() {
            assert!(same_value(r#"{"b":1,"a":1e3}"#, r#"{"a": 1000, "b": 1}"#));
            assert!(same_value("1.50", "1.5"));
            assert!(same_value("-0", "0"));
            assert!(same_value("[1,{\"x\":\"y\"}]", "[1, {\"x\": \"y\"}]"));
            assert!(!same_value(r#"{"a":1}"#, r#"{"a":2}"#));
            assert!(!same_value("12345678901234567890", "12345678901234567891"));
            assert!(!same_value(r#"{"a":1}"#, r#"{"a":1,"b":2}"#));
            assert!(!same_value("[1,2]", "[2,1]"));
        }
    }
}

#[cfg(test)]
mod statement_tests {
    use super::*;
    use crate::store::postgres::connect::PgUrl;
    use crate::store::postgres::db::PgConn;

    /// Found on `migrate` after an evolution on PostgreSQL: a statement prepared before its
    /// table was dropped and made again with another column type failed with "cached plan
    /// must not change result type". DDL through the store forgets the statements by itself.
    #[test]
    fn a_table_made_again_is_read_with_fresh_statements() {
        let Some(url) =
            crate::store::testing::postgres_url("a_table_made_again_is_read_with_fresh_statements")
        else {
            return;
        };
        let url = PgUrl::parse(&url).unwrap();
        let name = format!("jl_unit_{}", std::process::id());
        let mut conn = PgConn::open(&url, &name, true).unwrap();
        let read = |tx: &mut postgres::Transaction, st: &mut Statements| {
            let rows = PgTx::new(tx, st).query("SELECT * FROM t", &[])?;
            Ok::<_, StoreError>(rows.len())
        };
        let result = (|| {
            let mut tx = conn.client.transaction().unwrap();
            let st = &mut conn.statements;
            st.ddl(
                &mut tx,
                "CREATE TABLE t (a BIGINT); INSERT INTO t VALUES (1)",
            )
            .unwrap();
            assert_eq!(read(&mut tx, st)?, 1);
            st.ddl(
                &mut tx,
                "DROP TABLE t; CREATE TABLE t (a TEXT, b TEXT); INSERT INTO t VALUES ('x', 'y')",
            )
            .unwrap();
            assert_eq!(read(&mut tx, st)?, 1);
            // Through the seam, as an evolution does.
            PgTx::new(&mut tx, st).ddl("DROP TABLE t; CREATE TABLE t (c BOOLEAN)")?;
            assert_eq!(read(&mut tx, st)?, 0);
            Ok::<_, StoreError>(())
        })();
        conn.client
            .batch_execute(&format!("DROP SCHEMA {name} CASCADE"))
            .unwrap();
        result.unwrap();
    }
}
