//! `jsonlift copy --to URL`: the project's database, SQLite or PostgreSQL, into another one,
//! with its audit log, ledger and source fingerprints, verified row by row before it is
//! committed. It is the "later PostgreSQL" step of seeds 001 and 002: by then the database, not
//! the old files, holds the truth, so the copy reads the database, not the sources.
//!
//! The source is read in one snapshot; the target is written in one transaction (PostgreSQL)
//! or built beside its final name and renamed into place (SQLite), so a failure or a kill leaves
//! the target as it was. Rows go in table by table, parents first. Into PostgreSQL: binary COPY
//! (the source read and encoded on this thread, sent on another), every table read back and
//! compared with what was sent (a SHA-256 of each row with its row number, so the source is read
//! once; a table that does not match is compared cell by cell, which names the row), then keys,
//! indexes, triggers and the check of every reference. Into SQLite: inserts, indexes, the check
//! of every reference, then every table read back and compared with the source cell by cell.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, bail};

use crate::audit::Filter;
use crate::config::{Database, Project};
use crate::json::{Value, parse};
use crate::migrate::Progress;
use crate::migrate::drift;
use crate::migrate::progress::RowsBar;
use crate::schema::ddl::{self, create_table, internal_tables, quote};
use crate::schema::shred::Cell;
use crate::schema::{ColType, Schema, Table};
use crate::store::backend::{Cells, LedgerRow};
use crate::store::database::Db;
use crate::store::digest::Digest;
use crate::store::postgres::db::{PgConn, after_load_sql, create_sql, drop_sql, jsonlift_tables};
use crate::store::postgres::load::bulk_load;
use crate::store::postgres::tx::{PgTx, Statements};
use crate::store::sqlite::{self, SqliteTx};
use crate::store::{Dialect, StoreError, Tx};

/// Rows read from the source at a time.
const PAGE: usize = 4096;

#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// Replace the jsonlift tables the target already holds.
    pub replace: bool,
    pub progress: Progress,
}

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

/// A name for a database in messages: a path, or the URL with its password masked and the
/// schema.
fn describe(d: &Database, pg_schema: &str) -> String {
    match d {
        Database::Sqlite(p) => p.display().to_string(),
        Database::Postgres(u) => format!("{u} (schema {pg_schema})"),
    }
}

/// Copies the project's database into `to` (in schema `to_schema` there, on PostgreSQL).
pub fn copy(
    project: &Project,
    to: &Database,
    to_schema: &str,
    opts: Options,
) -> anyhow::Result<CopyReport> {
    let t0 = Instant::now();
    let schema = Schema::build(project)?;
    let from = describe(project.database(), project.pg_schema());
    let target = describe(to, to_schema);
    if from == target {
        bail!("{target} is the project's own database; copy to another one");
    }
    let mut source = Db::open(
        project.database(),
        project.pg_schema(),
        project.busy_timeout(),
    )?;
    let mut report = CopyReport {
        from: from.clone(),
        to: target.clone(),
        ..CopyReport::default()
    };
    source.read(|src| {
        drift::ensure(src, &schema, &from)?;
        let total: u64 = schema
            .tables
            .iter()
            .map(|t| src.count(t))
            .sum::<Result<u64, StoreError>>()?;
        let bar = opts.progress.rows(&format!("copy to {target}"), total);
        match to {
            Database::Postgres(url) => {
                let mut conn = PgConn::open(url, to_schema, true)?;
                into_postgres(src, &schema, &mut conn, opts, &mut report, &bar)
                    .with_context(|| format!("copying into {target}; nothing was changed there"))?;
            }
            Database::Sqlite(path) => {
                into_sqlite(src, &schema, path, opts, &mut report, &bar)
                    .with_context(|| format!("copying into {target}; nothing was changed there"))?;
            }
        }
        bar.finish(total);
        Ok(())
    })?;
    report.seconds = t0.elapsed().as_secs_f64();
    Ok(report)
}

/// The rows of table `t`, in record order, a page at a time.
fn rows_of<'a>(
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

fn into_postgres(
    src: &dyn Tx,
    schema: &Schema,
    conn: &mut PgConn,
    opts: Options,
    report: &mut CopyReport,
    bar: &RowsBar,
) -> anyhow::Result<()> {
    let existing = jsonlift_tables(&mut conn.client)?;
    if !existing.is_empty() && !opts.replace {
        bail!(
            "{} already holds jsonlift tables ({}); pass --replace to replace them",
            conn.name,
            existing.join(", ")
        );
    }
    let statements = &mut conn.statements;
    let mut tx = conn.client.transaction()?;
    fill_postgres(
        src,
        schema,
        &mut tx,
        statements,
        opts.replace,
        Some("copy"),
        report,
        bar,
    )?;
    tx.commit()?;
    Ok(())
}

/// Writes the whole database `src` into PostgreSQL inside the caller's transaction `tx`:
/// `replace` drops what jsonlift tables are there first. The ledger gets a row for `action`
/// (`copy`), or none when the caller records the run itself. Verified before it returns.
#[allow(clippy::too_many_arguments)]
pub fn fill_postgres(
    src: &dyn Tx,
    schema: &Schema,
    tx: &mut postgres::Transaction,
    statements: &mut Statements,
    replace: bool,
    action: Option<&str>,
    report: &mut CopyReport,
    bar: &RowsBar,
) -> anyhow::Result<()> {
    if replace {
        tx.batch_execute(&drop_sql(schema).join(";\n"))?;
    }
    // Tables without indexes or foreign keys: a fresh table takes its rows faster, and each
    // index and each reference is then built or checked in one pass.
    tx.batch_execute(&create_sql(schema, true).join(";\n"))?;
    phase("copy:rows");
    // Each table's rows are hashed as they are sent, and compared with the same hash of what
    // the target gives back: every row is verified without reading the source twice.
    let order = tables_in_order(schema);
    let mut sent = Vec::with_capacity(order.len());
    bulk_load(tx, |load| {
        for &ti in &order {
            let t = &schema.tables[ti];
            let mut digest = Digest::default();
            load.begin(t, true)?;
            let mut done = 0u64;
            src.each_row(t, &mut |rowid, cells| {
                digest.add(t, rowid, cells);
                load.row(t, rowid, cells)?;
                done += 1;
                if done % PAGE as u64 == 0 {
                    bar.inc(PAGE as u64);
                }
                Ok(())
            })?;
            let n = load.end()?;
            bar.inc(n % PAGE as u64);
            report.tables.push((t.name.clone(), n));
            sent.push(digest.finish());
        }
        Ok(())
    })?;
    {
        let ptx = PgTx::new(tx, statements);
        copy_bookkeeping(src, &ptx, action, report)?;
    }
    phase("copy:verify");
    {
        let ptx = PgTx::new(tx, statements);
        for (&ti, sent) in order.iter().zip(&sent) {
            let t = &schema.tables[ti];
            if ptx.digest(t)? != *sent {
                // Something differs: the table compared cell by cell says what and where (or
                // finds the cells the same by value, which is what verification asks).
                verify_table(src, &ptx, t)?;
            }
        }
        verify_bookkeeping(src, &ptx, report)?;
    }
    phase("copy:indexes");
    for sql in after_load_sql(schema) {
        tx.batch_execute(&sql).with_context(|| {
            format!("{sql}: a duplicate key, or a row referring to a row the copy does not hold?")
        })?;
    }
    for &ti in &order {
        // Keys and row numbers were given with the rows: the identity goes on after the
        // largest.
        let t = &schema.tables[ti];
        let key = if ddl::has_generated_key(t) {
            t.columns[t.pk].name.as_str()
        } else {
            ddl::PG_ROWID
        };
        tx.execute(
            &format!(
                "SELECT setval(pg_get_serial_sequence($1, $2), coalesce(max({}), 1), max({}) IS NOT NULL) FROM {}",
                quote(key),
                quote(key),
                quote(&t.name)
            ),
            &[&quote(&t.name), &key],
        )?;
    }
    for table in ["_jsonlift_audit", "_jsonlift_ledger"] {
        tx.execute(
            &format!("SELECT setval(pg_get_serial_sequence($1, 'id'), coalesce(max(id), 1), max(id) IS NOT NULL) FROM {table}"),
            &[&table],
        )?;
    }
    // The search indexes of the rows just written (any earlier ones are dropped first).
    crate::store::search::refresh(&PgTx::new(tx, statements), schema, &[], true)?;
    phase("copy:done");
    Ok(())
}

/// Marks a step of a copy in the log (`JSONLIFT_LOG=jsonlift::phase=info`), as `migrate` marks
/// its phases.
fn phase(name: &str) {
    tracing::info!(target: "jsonlift::phase", "{name}");
}

fn into_sqlite(
    src: &dyn Tx,
    schema: &Schema,
    path: &Path,
    opts: Options,
    report: &mut CopyReport,
    bar: &RowsBar,
) -> anyhow::Result<()> {
    let all = tables_in_order(schema);
    fill_sqlite(
        src,
        schema,
        &all,
        path,
        opts.replace,
        Some("copy"),
        report,
        bar,
    )
}

/// Writes the database `src` into a new SQLite file at `path` (built beside it, then renamed
/// over it), verified: jsonlift's own tables, and of the schema's the `tables` given (in creation
/// order); `action` as for [`fill_postgres`].
#[allow(clippy::too_many_arguments)]
pub fn fill_sqlite(
    src: &dyn Tx,
    schema: &Schema,
    tables: &[usize],
    path: &Path,
    replace: bool,
    action: Option<&str>,
    report: &mut CopyReport,
    bar: &RowsBar,
) -> anyhow::Result<()> {
    if path.exists() && !replace {
        bail!("{} exists; pass --replace to replace it", path.display());
    }
    let name = path
        .file_name()
        .context("the target has no file name")?
        .to_string_lossy()
        .into_owned();
    let temp = path.with_file_name(format!(".{name}.jsonlift-copy-{}", std::process::id()));
    let _ = std::fs::remove_file(&temp);
    struct Remove(PathBuf);
    impl Drop for Remove {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }
    let guard = Remove(temp.clone());
    let conn = sqlite::open_plain(&temp)?;
    conn.pragma_update(None, "journal_mode", "OFF")?;
    conn.pragma_update(None, "synchronous", "OFF")?;
    conn.execute_batch("BEGIN")?;
    for sql in internal_tables(Dialect::Sqlite) {
        conn.execute_batch(&sql)?;
    }
    for &ti in tables {
        conn.execute_batch(&create_table(&schema.tables[ti], Dialect::Sqlite))?;
    }
    let stx = SqliteTx(&conn);
    for &ti in tables {
        let t = &schema.tables[ti];
        let mut n = 0u64;
        for row in rows_of(src, t) {
            if let Err(r) = stx.insert(t, &row?)? {
                bail!("table {}: the row was refused: {}", t.name, r.message);
            }
            n += 1;
            bar.inc(1);
        }
        report.tables.push((t.name.clone(), n));
    }
    copy_bookkeeping(src, &stx, action, report)?;
    for &ti in tables {
        for sql in ddl::create_indexes(&schema.tables[ti]) {
            conn.execute_batch(&sql)?;
        }
    }
    let broken: i64 = conn.query_row("SELECT count(*) FROM pragma_foreign_key_check", [], |r| {
        r.get(0)
    })?;
    if broken > 0 {
        bail!("{broken} row(s) refer to rows the copy does not hold");
    }
    verify(src, &stx, schema, tables, report)?;
    conn.execute_batch("COMMIT")?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    drop(conn);
    std::fs::File::open(&temp)?.sync_all()?;
    std::fs::rename(&temp, path)
        .with_context(|| format!("moving the copy to {}", path.display()))?;
    if let Some(dir) = path.parent() {
        let _ = std::fs::File::open(dir).and_then(|d| d.sync_all());
    }
    std::mem::forget(guard);
    Ok(())
}

/// The source fingerprints, the ledger (plus a row for `action`), what schema evolution keeps
/// and the audit log.
fn copy_bookkeeping(
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
    let mut after = 0i64;
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
        report.audit_entries += page.len() as u64;
        if page.len() < PAGE {
            break;
        }
    }
    Ok(())
}

/// Every table read back from the target, compared with the source cell by cell in record order;
/// and the bookkeeping's counts.
fn verify(
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
fn verify_table(src: &dyn Tx, dst: &dyn Tx, t: &Table) -> anyhow::Result<()> {
    {
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
    }
    Ok(())
}

/// The bookkeeping's counts in the target against the source's.
fn verify_bookkeeping(src: &dyn Tx, dst: &dyn Tx, report: &CopyReport) -> anyhow::Result<()> {
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
        (_, Cell::Real(x), Cell::Real(y)) => x.to_bits() != y.to_bits(),
        (_, x, y) => x != y,
    })
}

fn json(text: &str) -> Option<Value> {
    parse(text.as_bytes(), 10_000).ok()
}
