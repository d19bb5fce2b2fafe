//! jsonlift's tables in PostgreSQL written whole, in one transaction
//! ([`Replacement`](super::replacement::Replacement)), by
//! `copy` (from another database) and by `migrate` (from the scratch SQLite database the
//! migration runs in, or alongside it). Tables are created without keys, indexes and foreign
//! keys; the rows go in with binary COPY ([`super::load`]); every table is read back and
//! compared with what was sent (a SHA-256 of each row with its row number; a table that does
//! not match is compared cell by cell with the source, which names the row); then keys,
//! indexes, triggers and foreign keys are built, each in one pass, and the identities set past
//! the largest key. Nothing is visible to others before the transaction commits; dropped
//! without it, the transaction rolls back.

use anyhow::Context;

use super::db::{after_load_sql, create_sql, drop_sql};
use super::load::{Tee, bulk_load};
use super::tx::{PgTx, Statements};
use crate::schema::Schema;
use crate::schema::ddl::{self, quote};
use crate::store::digest::{Digest, TableDigest};
use crate::store::transfer::{
    self, CopyReport, PAGE, Progress, RowSink, copy_bookkeeping, tables_in_order,
};
use crate::store::{StoreError, Tx};

/// [`Replacement::load`](super::replacement::Replacement::load) inside the caller's transaction `tx`: the tables created without keys,
/// and every row `produce` hands to the sink sent with binary COPY as it comes; what was sent,
/// per table, for [`finish_load`].
pub(super) fn load_rows<R>(
    tx: &mut postgres::Transaction,
    statements: &mut Statements,
    schema: &Schema,
    alone: bool,
    produce: impl FnOnce(&mut dyn RowSink) -> anyhow::Result<R>,
) -> anyhow::Result<(R, Vec<TableDigest>)> {
    statements.ddl(tx, &create_sql(schema, true).join(";\n"))?;
    bulk_load(tx, |load| {
        let mut tee = Tee::new(load, schema, alone);
        Ok(match produce(&mut tee) {
            Ok(r) => {
                phase("copy:rows sent");
                tee.finish()
                    .map(|sent| (r, sent))
                    .map_err(anyhow::Error::from)
            }
            Err(e) => Err(e),
        })
    })?
}

/// Writes the whole database `src` into PostgreSQL inside the caller's transaction `tx`:
/// `replace` drops what jsonlift tables are there first. The ledger gets a row for `action`
/// (`copy`), or none when the caller records the run itself. Verified before it returns.
#[allow(clippy::too_many_arguments)]
pub(super) fn fill_postgres(
    src: &dyn Tx,
    schema: &Schema,
    tx: &mut postgres::Transaction,
    statements: &mut Statements,
    replace: bool,
    action: Option<&str>,
    report: &mut CopyReport,
    progress: Progress,
) -> anyhow::Result<()> {
    if replace {
        statements.ddl(tx, &drop_sql(schema).join(";\n"))?;
    }
    // Tables without indexes or foreign keys: a fresh table takes its rows faster, and each
    // index and each reference is then built or checked in one pass.
    statements.ddl(tx, &create_sql(schema, true).join(";\n"))?;
    phase("copy:rows");
    let sent = send_rows(src, schema, &tables_in_order(schema), tx, report, progress)?;
    finish_load(src, schema, tx, statements, &sent, action, report)
}

/// The rows of `tables` sent from `src` with binary COPY into their tables, made without keys;
/// per table of the schema, the digest of the rows sent (each row hashed as it is sent, and
/// compared with the same hash of what the target gives back: every row is verified without
/// reading the source twice).
fn send_rows(
    src: &dyn Tx,
    schema: &Schema,
    tables: &[usize],
    tx: &mut postgres::Transaction,
    report: &mut CopyReport,
    progress: Progress,
) -> anyhow::Result<Vec<TableDigest>> {
    let mut sent: Vec<TableDigest> = (0..schema.tables.len())
        .map(|_| Digest::default().finish())
        .collect();
    bulk_load(tx, |load| {
        for &ti in tables {
            let t = &schema.tables[ti];
            let mut digest = Digest::default();
            load.begin(t, true)?;
            let mut done = 0u64;
            src.each_row(t, &mut |rowid, cells| {
                digest.add(t, rowid, cells);
                load.row(t, rowid, cells)?;
                done += 1;
                if done.is_multiple_of(PAGE as u64) {
                    progress(PAGE as u64);
                }
                Ok(())
            })?;
            let n = load.end()?;
            progress(n % PAGE as u64);
            report.tables.push((t.name.clone(), n));
            sent[ti] = digest.finish();
        }
        Ok(())
    })?;
    Ok(sent)
}

/// New collections (`collections` of `schema`) written from `src` into a PostgreSQL schema
/// whose other tables stay as they are, inside `tx`: a plan that adds collections to a
/// migrated database loads them without rewriting the tables it changed in place, which keep
/// what the app made on them (grants, comments, triggers). Their tables are made and filled,
/// what `src` added to jsonlift's own tables is copied, the new tables are read back and
/// compared with what was sent, then get their keys, indexes and foreign keys, identities and
/// search indexes.
pub(super) fn add_collections(
    src: &dyn Tx,
    schema: &Schema,
    collections: &[usize],
    tx: &mut postgres::Transaction,
    statements: &mut Statements,
    progress: Progress,
) -> anyhow::Result<()> {
    let tables: Vec<usize> = collections
        .iter()
        .flat_map(|&c| schema.tables_of(c))
        .collect();
    let made: Vec<String> = tables
        .iter()
        .filter(|&&t| schema.creates(t))
        .map(|&t| ddl::create_table_bare(&schema.tables[t]))
        .collect();
    statements.ddl(tx, &made.join(";\n"))?;
    phase("copy:rows");
    let mut report = CopyReport::default();
    let sent = send_rows(src, schema, &tables, tx, &mut report, progress)?;
    phase("copy:bookkeeping");
    transfer::copy_bookkeeping_since(src, &PgTx::new(tx, statements))?;
    phase("copy:verify");
    verify_tables(src, &PgTx::new(tx, statements), schema, &tables, &sent)?;
    keys_and_identities(schema, &tables, tx, statements)?;
    phase("copy:search");
    crate::store::search::refresh(&PgTx::new(tx, statements), schema, collections, false)?;
    phase("copy:done");
    Ok(())
}

/// Each of `tables` read back and compared with what was `sent` (cell by cell with `src`
/// where that differs, which names the row).
fn verify_tables(
    src: &dyn Tx,
    ptx: &PgTx,
    schema: &Schema,
    tables: &[usize],
    sent: &[TableDigest],
) -> anyhow::Result<()> {
    for &ti in tables {
        let t = &schema.tables[ti];
        tracing::debug!(target: "jsonlift::phase", "verify {}", t.name);
        if ptx.digest(t)? != sent[ti] {
            tracing::debug!(
                "table {}: the rows read back differ from those sent",
                t.name
            );
            // Something differs: the table compared cell by cell says what and where
            // (or finds the cells the same by value, which is what verification asks).
            transfer::verify_table(src, ptx, t)?;
        }
    }
    Ok(())
}

/// The keys, indexes and foreign keys of `tables`, filled, each built in one pass; then their
/// identities (and those of the audit log and the ledger) set past the largest key.
fn keys_and_identities(
    schema: &Schema,
    tables: &[usize],
    tx: &mut postgres::Transaction,
    statements: &mut Statements,
) -> anyhow::Result<()> {
    phase("copy:indexes");
    for sql in after_load_sql(schema, tables) {
        tracing::debug!(target: "jsonlift::phase", "{sql}");
        statements.ddl(tx, &sql).with_context(|| {
            format!("{sql}: a duplicate key, or a row referring to a row the copy does not hold?")
        })?;
    }
    phase("copy:sequences");
    for &ti in tables {
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
    Ok(())
}

/// After the rows (of [`load_rows`] or [`fill_postgres`]), inside `tx`: jsonlift's own tables
/// copied from `src`, every table read back and compared with what was `sent` (cell by
/// cell with `src` where that differs), then keys, indexes and foreign keys, and the
/// identities set past the largest key.
pub(super) fn finish_load(
    src: &dyn Tx,
    schema: &Schema,
    tx: &mut postgres::Transaction,
    statements: &mut Statements,
    sent: &[TableDigest],
    action: Option<&str>,
    report: &mut CopyReport,
) -> anyhow::Result<()> {
    let order = tables_in_order(schema);
    phase("copy:bookkeeping");
    {
        let ptx = PgTx::new(tx, statements);
        copy_bookkeeping(src, &ptx, action, report)?;
    }
    phase("copy:verify");
    {
        let ptx = PgTx::new(tx, statements);
        verify_tables(src, &ptx, schema, &order, sent)?;
        transfer::verify_bookkeeping(src, &ptx, report)?;
    }
    keys_and_identities(schema, &order, tx, statements)?;
    phase("copy:search");
    // The search indexes of the rows just written (any earlier ones are dropped first).
    crate::store::search::refresh(&PgTx::new(tx, statements), schema, &[], true)?;
    phase("copy:done");
    Ok(())
}

/// Marks a step in the log (`JSONLIFT_LOG=jsonlift::phase=info`), as `migrate` marks its
/// phases.
fn phase(name: &str) {
    tracing::info!(target: "jsonlift::phase", "{name}");
}

/// The tables of the collections whose tables PostgreSQL holds as the project file describes
/// them (every column there, of its type), in creation order.
pub(super) fn matching_tables(tx: &PgTx, schema: &Schema) -> Result<Vec<usize>, StoreError> {
    let mut out = Vec::new();
    for c in 0..schema.collections.len() {
        let tables = schema.tables_of(c);
        let mut all = true;
        for &t in &tables {
            let table = &schema.tables[t];
            let have = tx.columns(&table.name)?;
            let same = have.is_some_and(|cols| {
                cols.len() == table.columns.len()
                    && table
                        .columns
                        .iter()
                        .all(|c| cols.iter().any(|(n, _)| *n == c.name))
            });
            all &= same;
        }
        if all {
            out.extend(tables);
        }
    }
    Ok(out)
}
