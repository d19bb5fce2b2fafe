//! One PostgreSQL transaction that changes jsonlift's tables as a whole: `copy` replacing them
//! with another database's, and `migrate` holding them from its first read to its COMMIT
//! (numbered SQL files, an evolution in place, the load, the rewrite). Its operations are the
//! steps those commands take; the transaction and its prepared statements stay in here, so
//! that neither command touches the client. Nothing is visible to others before
//! [`Replacement::commit`]; dropped without it, the transaction rolls back (and PostgreSQL
//! rolls back the transaction of a client that is gone).

use std::path::Path;

use super::db::{PgConn, dependents, drop_sql, jsonlift_tables, other_sessions, sync_id_sequence};
use super::fill::{add_collections, fill_postgres, finish_load, load_rows, matching_tables};
use super::tx::{PgTx, Statements};
use crate::schema::Schema;
use crate::schema::ddl::quote;
use crate::store::backend::LedgerRow;
use crate::store::digest::TableDigest;
use crate::store::transfer::{CopyReport, Progress, RowSink};
use crate::store::{StoreError, Tx};

pub struct Replacement<'c> {
    tx: postgres::Transaction<'c>,
    statements: &'c mut Statements,
    /// jsonlift's own tables the schema held when the transaction began.
    existing: Vec<String>,
}

impl PgConn {
    /// Begins a [`Replacement`].
    pub fn replacement(&mut self) -> Result<Replacement<'_>, StoreError> {
        let PgConn {
            client, statements, ..
        } = self;
        let mut tx = client.transaction().map_err(pg)?;
        let existing = jsonlift_tables(&mut tx).map_err(pg)?;
        Ok(Replacement {
            tx,
            statements,
            existing,
        })
    }
}

fn pg(e: postgres::Error) -> StoreError {
    StoreError::Other(e.into())
}

impl<'c> Replacement<'c> {
    /// jsonlift's own tables (`_jsonlift_*`) the schema held at the start: none in a fresh one.
    pub fn existing(&self) -> &[String] {
        &self.existing
    }

    /// The transaction as the store seam's [`Tx`] (the ledger, the sources, the schema kept).
    pub fn tx(&mut self) -> PgTx<'c, '_> {
        PgTx::new(&mut self.tx, self.statements)
    }

    /// Holds jsonlift's own tables, and those of the collections whose tables still match
    /// `schema` ([`matching_tables`]), against other writers until this transaction ends
    /// (readers go on): what is read now is what is replaced at the end. Gives those tables.
    pub fn hold(&mut self, schema: &Schema) -> anyhow::Result<Vec<usize>> {
        let present = matching_tables(&self.tx(), schema)?;
        let mut tables: Vec<String> = self.existing.iter().map(|t| quote(t)).collect();
        tables.extend(present.iter().map(|&t| quote(&schema.tables[t].name)));
        self.tx.batch_execute(&format!(
            "LOCK TABLE {} IN EXCLUSIVE MODE",
            tables.join(", ")
        ))?;
        Ok(present)
    }

    /// The tables of the collections whose tables match `schema` now.
    pub fn matching(&mut self, schema: &Schema) -> Result<Vec<usize>, StoreError> {
        matching_tables(&self.tx(), schema)
    }

    /// Writes what jsonlift's own tables and the tables `present` of `schema` hold into a new
    /// SQLite database at `path`.
    pub fn read_into(
        &mut self,
        schema: &Schema,
        present: &[usize],
        path: &Path,
    ) -> anyhow::Result<()> {
        crate::store::sqlite::fill_sqlite(
            &self.tx(),
            schema,
            present,
            path,
            false,
            None,
            &mut CopyReport::default(),
            &|_| {},
        )
    }

    /// The other jsonlift processes working on `pg_schema` ([`other_sessions`]).
    pub fn other_sessions(
        &mut self,
        pg_schema: &str,
        grace: std::time::Duration,
    ) -> anyhow::Result<Vec<String>> {
        Ok(other_sessions(&mut self.tx, pg_schema, grace)?)
    }

    /// What dropping `tables` would take from the app's own tables and views, as the
    /// statements that put it back ([`dependents`]).
    pub fn dependents(&mut self, tables: &[String]) -> anyhow::Result<Vec<String>> {
        Ok(dependents(&mut self.tx, tables)?)
    }

    /// Runs statements a user wrote (a numbered SQL file, an app's view put back): PostgreSQL's
    /// message and the 1-based offset in `sql` where it found the fault.
    pub fn script(&mut self, sql: &str) -> Result<(), (String, Option<usize>)> {
        self.statements.script(&mut self.tx, sql)
    }

    /// Drops every table `schema` describes, and jsonlift's own.
    pub fn drop_tables(&mut self, schema: &Schema) -> anyhow::Result<()> {
        Ok(self
            .statements
            .ddl(&mut self.tx, &drop_sql(schema).join(";\n"))?)
    }

    /// Appends `row` to the ledger as its next entry (its `id` is set past the last one's), the
    /// ledger's id sequence kept past it.
    pub fn ledger_append(&mut self, mut row: LedgerRow) -> anyhow::Result<()> {
        let tx = self.tx();
        row.id = tx.ledger()?.last().map_or(1, |r| r.id + 1);
        tx.ledger_insert(&row)?;
        Ok(sync_id_sequence(&mut self.tx, "_jsonlift_ledger")?)
    }

    /// Creates `schema`'s tables (and jsonlift's own) for a load, and runs `produce` with a
    /// [`RowSink`] whose rows go into them with binary COPY as they come (sent by a thread of
    /// their own, so that producing them and PostgreSQL's work on them overlap). Gives what
    /// `produce` gave and, per table of the schema, the digest of the rows sent, for
    /// [`Replacement::finish_load`]. `alone`: the sink says the rows need go nowhere else
    /// ([`RowSink::alone`]).
    pub fn load<R>(
        &mut self,
        schema: &Schema,
        alone: bool,
        produce: impl FnOnce(&mut dyn RowSink) -> anyhow::Result<R>,
    ) -> anyhow::Result<(R, Vec<TableDigest>)> {
        load_rows(&mut self.tx, self.statements, schema, alone, produce)
    }

    /// Writes the whole database `src` in ([`fill_postgres`]).
    pub fn fill(
        &mut self,
        src: &dyn Tx,
        schema: &Schema,
        replace: bool,
        action: Option<&str>,
        report: &mut CopyReport,
        progress: Progress,
    ) -> anyhow::Result<()> {
        fill_postgres(
            src,
            schema,
            &mut self.tx,
            self.statements,
            replace,
            action,
            report,
            progress,
        )
    }

    /// Writes the new `collections` of `schema` from `src`, leaving the other tables as they
    /// are ([`add_collections`]).
    pub fn add_collections(
        &mut self,
        src: &dyn Tx,
        schema: &Schema,
        collections: &[usize],
        progress: Progress,
    ) -> anyhow::Result<()> {
        add_collections(
            src,
            schema,
            collections,
            &mut self.tx,
            self.statements,
            progress,
        )
    }

    /// After the rows of [`Replacement::load`] ([`finish_load`]).
    pub fn finish_load(
        &mut self,
        src: &dyn Tx,
        schema: &Schema,
        sent: &[TableDigest],
        action: Option<&str>,
        report: &mut CopyReport,
    ) -> anyhow::Result<()> {
        finish_load(
            src,
            schema,
            &mut self.tx,
            self.statements,
            sent,
            action,
            report,
        )
    }

    /// Makes it all visible at once.
    pub fn commit(self) -> Result<(), StoreError> {
        self.tx.commit().map_err(pg)
    }
}
