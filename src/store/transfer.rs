//! A whole database written into another one (`jsonlift copy`, and a migration into
//! PostgreSQL, which builds its result in a scratch SQLite database first): what does not depend
//! on the target's kind. The rows are the backend's business ([`super::sqlite::fill_sqlite`],
//! [`super::postgres::fill`]); here are the order of the tables, jsonlift's own tables (audit
//! log, ledger, source fingerprints, what schema evolution keeps) and the verification of
//! every table, cell by cell, against the source.

use anyhow::bail;

use super::backend::{Cells, LedgerRow};
use super::{StoreError, Tx};
use crate::audit::Filter;
use crate::json::{Value, parse};
use crate::schema::shred::Cell;
use crate::schema::{ColType, Schema, Table};

/// Rows read from the source at a time, and how often progress is told.
pub const PAGE: usize = 4096;

/// Told how many more rows went in (a progress bar on a terminal).
pub type Progress<'a> = &'a dyn Fn(u64);

/// What a copy did.
#[derive(Debug, Default, serde::Serialize)]
pub struct CopyReport {
    pub from: String,
    pub to: String,
    /// Rows per table, in the order they were copied.
    pub tables: Vec<(String, u64)>,
    pub audit_entries: u64,
    pub ledger_rows: u64,
    pub seconds: f64,
}

/// Rows as a load puts them into one database, handed on to a second one: a migration into
/// PostgreSQL loads its scratch SQLite database (which finds duplicates and names their place)
/// and PostgreSQL together, instead of copying the one into the other afterwards. The rows a sink
/// takes are verified where they go (read back and compared with those sent), so the load does
/// not read them back from its own database.
pub trait RowSink {
    /// Row `rowid` (its record order) of table `t` (an index into the schema's tables), as it
    /// was stored.
    fn row(&mut self, t: usize, rowid: i64, cells: &[Cell]) -> Result<(), StoreError>;

    /// Whether the sink is the only database the rows must reach, so that the load need not
    /// store them itself: a fresh PostgreSQL schema, whose keys, indexes and references are
    /// built after the load and refuse whatever storing the rows would have refused. A refusal
    /// then fails the run, which `migrate::postgres` runs again storing them, to name the
    /// place.
    fn alone(&self) -> bool {
        false
    }
}

/// The rows of table `t`, in record order, a page at a time.
pub fn rows_of<'a>(
    src: &'a dyn Tx,
    t: &'a Table,
) -> impl Iterator<Item = Result<Cells, StoreError>> + 'a {
    let mut after = i64::MIN;
    let mut page: std::vec::IntoIter<(i64, Cells)> = Vec::new().into_iter();
    let mut done = false;
    std::iter::from_fn(move || {
        loop {
            if let Some((rowid, cells)) = page.next() {
                after = rowid;
                return Some(Ok(cells));
            }
            if done {
                return None;
            }
            match src.page(t, after, PAGE) {
                Ok(p) => {
                    done = p.len() < PAGE;
                    page = p.into_iter();
                }
                Err(e) => {
                    done = true;
                    return Some(Err(e));
                }
            }
        }
    })
}

/// Tables in creation order: each collection's, parents first.
pub fn tables_in_order(schema: &Schema) -> Vec<usize> {
    (0..schema.collections.len())
        .flat_map(|c| schema.tables_of(c))
        .collect()
}

/// What `src` added to jsonlift's own tables since it was read from `dst` (a migration run in
/// a scratch database filled from `dst`): every source fingerprint (written over), the ledger
/// rows and audit entries past `dst`'s last, the kept `[collections]`, and the numbered
/// migrations `dst` does not hold.
pub fn copy_bookkeeping_since(src: &dyn Tx, dst: &dyn Tx) -> anyhow::Result<()> {
    for s in src.sources()?.into_values() {
        dst.source_write(&s)?;
    }
    let last = dst.ledger()?.last().map_or(0, |r| r.id);
    for r in src.ledger()?.iter().filter(|r| r.id > last) {
        dst.ledger_insert(r)?;
    }
    copy_audit(src, dst, dst.audit_last_id()?)?;
    let (mut kept, held) = (src.evolution_read()?, dst.evolution_read()?);
    kept.migrations
        .retain(|m| !held.migrations.iter().any(|h| h.number == m.number));
    dst.evolution_write(&kept)?;
    Ok(())
}

/// The source fingerprints, the ledger (plus a row for `action`), what schema evolution keeps
/// and the audit log.
pub fn copy_bookkeeping(
    src: &dyn Tx,
    dst: &dyn Tx,
    action: Option<&str>,
    report: &mut CopyReport,
) -> anyhow::Result<()> {
    let mut sources: Vec<_> = src.sources()?.into_values().collect();
    sources.sort_by(|a, b| a.path.cmp(&b.path));
    for s in &sources {
        dst.source_write(s)?;
    }
    let ledger = src.ledger()?;
    for r in &ledger {
        dst.ledger_insert(r)?;
    }
    // The kept `[collections]` and the applied numbered migrations: without them the copy
    // could not plan a change, and would apply the migrations again.
    dst.evolution_write(&src.evolution_read()?)?;
    report.ledger_rows = ledger.len() as u64;
    if let Some(action) = action {
        let now = crate::clock::now();
        dst.ledger_insert(&LedgerRow {
            id: ledger.last().map_or(1, |r| r.id + 1),
            started_at: now.clone(),
            finished_at: now,
            action: action.into(),
            schema_hash: ledger
                .last()
                .map(|r| r.schema_hash.clone())
                .unwrap_or_default(),
            sources: serde_json::json!({"from": report.from}).to_string(),
            backup: None,
            version: env!("CARGO_PKG_VERSION").into(),
        })?;
        report.ledger_rows += 1;
    }
    report.audit_entries += copy_audit(src, dst, 0)?;
    Ok(())
}

/// The audit entries of `src` past entry `after`, a page at a time; how many.
fn copy_audit(src: &dyn Tx, dst: &dyn Tx, mut after: i64) -> anyhow::Result<u64> {
    let mut copied = 0;
    loop {
        let page = src.audit_query(&Filter {
            after_id: Some(after),
            limit: Some(PAGE),
            ..Filter::default()
        })?;
        for e in &page {
            dst.audit_insert(e)?;
            after = e.id;
        }
        copied += page.len() as u64;
        if page.len() < PAGE {
            return Ok(copied);
        }
    }
}

/// Every table read back from the target, compared with the source cell by cell in record order;
/// and the bookkeeping's counts.
pub fn verify(
    src: &dyn Tx,
    dst: &dyn Tx,
    schema: &Schema,
    tables: &[usize],
    report: &CopyReport,
) -> anyhow::Result<()> {
    for &ti in tables {
        verify_table(src, dst, &schema.tables[ti])?;
    }
    verify_bookkeeping(src, dst, report)
}

/// Table `t` read back from the target, compared with the source cell by cell in record order.
pub fn verify_table(src: &dyn Tx, dst: &dyn Tx, t: &Table) -> anyhow::Result<()> {
    // The copy streams by (a binary COPY on PostgreSQL); the source is read alongside.
    let mut mine = rows_of(src, t);
    let mut n = 0u64;
    let mut failed = None;
    dst.scan(t, &mut |copied| {
        if failed.is_some() {
            return Ok(());
        }
        n += 1;
        let Some(row) = mine.next().transpose()? else {
            failed = Some(format!(
                "table {} has more rows in the copy than in the source",
                t.name
            ));
            return Ok(());
        };
        if let Some(col) = differs(t, &row, &copied) {
            failed = Some(format!(
                "table {}, row {n}, column {}: {:?} in the source, {:?} in the copy",
                t.name, t.columns[col].name, row[col], copied[col]
            ));
        }
        Ok(())
    })?;
    if let Some(why) = failed {
        bail!("verification failed: {why}");
    }
    if mine.next().is_some() {
        bail!(
            "verification failed: table {} has {n} rows in the copy, more in the source",
            t.name
        );
    }
    Ok(())
}

/// The bookkeeping's counts in the target against the source's.
pub fn verify_bookkeeping(src: &dyn Tx, dst: &dyn Tx, report: &CopyReport) -> anyhow::Result<()> {
    let audit = dst.audit_last_id()?;
    if audit != src.audit_last_id()? {
        bail!(
            "verification failed: the copy's audit log ends at entry {audit}, the source's does not"
        );
    }
    let ledger = dst.ledger()?.len() as u64;
    if ledger != report.ledger_rows {
        bail!(
            "verification failed: the copy's ledger has {ledger} rows, {} were written",
            report.ledger_rows
        );
    }
    Ok(())
}

/// The first column whose cells differ: JSON by value (PostgreSQL spaces its jsonb text),
/// numbers to the bit.
fn differs(t: &Table, a: &[Cell], b: &[Cell]) -> Option<usize> {
    (0..t.columns.len()).find(|&i| match (t.columns[i].ty, &a[i], &b[i]) {
        (ColType::Json, Cell::Text(x), Cell::Text(y)) => x != y && json(x) != json(y),
        // SQLite keeps no -0.0 (a REAL column may store a whole number as an integer), so
        // a zero read back from it is either; every other value, bit for bit.
        (_, Cell::Real(x), Cell::Real(y)) => {
            x.to_bits() != y.to_bits() && !(*x == 0.0 && *y == 0.0)
        }
        (_, x, y) => x != y,
    })
}

fn json(text: &str) -> Option<Value> {
    parse(text.as_bytes(), 10_000).ok()
}
