//! The seam between what jsonlift does with records and the database that holds them. A
//! [`Tx`] is one open transaction on a backend, offering the operations records are made of:
//! rows by key, by rowid and by parent, inserts and updates that say which constraint refused
//! them, deletes, and jsonlift's own bookkeeping (the audit log, the ledger). Everything above
//! (`Records`, the API, point-in-time replay, drift) is written against it, so a backend is one
//! implementation of this trait: `sqlite.rs` today; `postgres.rs` next, with its SQL spelled in
//! the dialect.
//!
//! A "rowid" is a table's record order: SQLite's own rowid; on a backend without one, a column
//! that numbers the rows in the order they were added.

use std::collections::HashMap;

use super::StoreError;
use crate::audit::{Entry, Filter, NewEntry};
use crate::schema::Table;
use crate::schema::shred::Cell;

/// A row's cells, in the table's column order.
pub type Cells = Vec<Cell<'static>>;

/// Why the database refused a row, in terms callers turn into a problem at the record's path
/// ([`super::refusal`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Refusal {
    /// The database's own words ("UNIQUE constraint failed: courses.id").
    pub message: String,
    /// For a duplicate: the columns that must be unique together.
    pub unique: Option<Vec<String>>,
}

/// A write that a constraint may refuse: `Ok(Err(refusal))` then, the transaction still usable.
pub type Written = Result<Result<(), Refusal>, StoreError>;

/// What the ledger recorded about a source at its last migration.
#[derive(Debug, Clone)]
pub struct SourceState {
    pub path: String,
    pub format: String,
    pub sha256: String,
    pub size: u64,
    pub layout: crate::source::Layout,
    pub records: u64,
    pub schema_hash: String,
    pub migrated_at: String,
}

/// The last migration run the ledger holds.
#[derive(Debug, Clone)]
pub struct Run {
    pub action: String,
    pub started_at: String,
    pub finished_at: String,
    pub version: String,
}

/// One row of the ledger: a migration run (or a copy, an upgrade).
#[derive(Debug, Clone, PartialEq)]
pub struct LedgerRow {
    pub id: i64,
    pub started_at: String,
    pub finished_at: String,
    pub action: String,
    pub schema_hash: String,
    pub sources: String,
    pub backup: Option<String>,
    pub version: String,
}

/// How [`Tx::select`] tests one column; a row with NULL there never passes.
#[derive(Debug, Clone, PartialEq)]
pub enum Test {
    /// Holds one of these values (none given: no row passes).
    In(Vec<Cell<'static>>),
    /// Holds a value, none of these.
    NotIn(Vec<Cell<'static>>),
    /// Holds a value that compares so with at least one of these (none given: no row passes).
    Compare(Vec<(Cmp, Cell<'static>)>),
    /// Holds NULL (the one test a NULL passes).
    Null,
    /// The JSON column holds at this path a JSON string that is one of these texts (none
    /// given: no row passes); through the expression index on the path, when declared.
    JsonText(Vec<String>, Vec<Cell<'static>>),
    /// The JSON column holds at this path a value other than a string, number, boolean or
    /// null (an array or an object), or cannot say (PostgreSQL: JSON jsonb refused, kept only
    /// as exact text).
    JsonNotScalar(Vec<String>),
    /// The JSON column holds a value at this path (`null` included).
    JsonHeld(Vec<String>),
    /// The row's text in the collection's search index ([`super::search`]) contains this term
    /// (the value bound, from [`super::search::bound_term`]); the column is not looked at.
    Search(Cell<'static>),
}

/// A comparison of a column's value (left) with a given one (right).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Cmp {
    Lt,
    Le,
    Gt,
    Ge,
}

impl Cmp {
    pub fn sql(self) -> &'static str {
        match self {
            Cmp::Lt => "<",
            Cmp::Le => "<=",
            Cmp::Gt => ">",
            Cmp::Ge => ">=",
        }
    }
}

/// One key of [`Tx::select`]'s order: a column, descending or not. Rows whose column is NULL
/// come after the others ascending, before them descending; ties keep the table's rowid order.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OrderBy {
    pub col: usize,
    pub desc: bool,
    /// Whether rows with NULL there may be among those selected: when not, the backend may
    /// leave NULL's place unsaid (and walk the column's index).
    pub nulls: bool,
}

/// One open transaction. Methods take `&self`: a record's rebuild reads children while its own
/// row is in hand.
/// What [`Tx::evolution_read`] gives: the kept `[collections]` and the applied migrations.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Evolution {
    /// The kept TOML and when it was kept.
    pub schema: Option<(String, String)>,
    pub migrations: Vec<super::bookkeeping::AppliedMigration>,
}

pub trait Tx {
    /// The SQL spelling of this database (its column types, for comparing with the schema).
    fn dialect(&self) -> crate::store::Dialect;

    // ----- rows ------------------------------------------------------------------------------

    /// Up to `limit` rows of `t` after rowid `after`, in rowid order, with their rowids.
    fn page(&self, t: &Table, after: i64, limit: usize) -> Result<Vec<(i64, Cells)>, StoreError>;
    /// The row with this rowid.
    fn row(&self, t: &Table, rowid: i64) -> Result<Cells, StoreError>;
    /// Every row of `t`, in record order, handed to `f` one by one (a backend with a faster
    /// way to stream a whole table than [`Tx::page`] uses it).
    fn scan(
        &self,
        t: &Table,
        f: &mut dyn FnMut(Cells) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        pages(self, t, &mut |_, cells| f(cells))
    }
    /// Every row of `t` in record order with its rowid, handed to `f` with its cells borrowed
    /// where the backend can (a bulk copy reads every row once and keeps none).
    fn each_row(
        &self,
        t: &Table,
        f: &mut dyn FnMut(i64, &[Cell]) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        pages(self, t, &mut |rowid, cells| f(rowid, &cells))
    }
    /// The rows with these rowids, in the order given (one round trip where the backend can).
    fn rows(&self, t: &Table, rowids: &[i64]) -> Result<Vec<Cells>, StoreError> {
        rowids.iter().map(|&r| self.row(t, r)).collect()
    }
    /// The rowid of the row whose column `col` holds `value` (a key or unique column).
    fn rowid_by(&self, t: &Table, col: usize, value: &Cell) -> Result<Option<i64>, StoreError>;
    /// The rows of child table `t` under `parent` (for a shared-entity table: the entity whose
    /// key is `parent`), in array order.
    fn children(&self, t: &Table, parent: &Cell) -> Result<Vec<Cells>, StoreError>;
    /// The largest integer in column `col`.
    fn max_int(&self, t: &Table, col: usize) -> Result<Option<i64>, StoreError>;
    /// Column `col` of the row with this rowid.
    fn cell(&self, t: &Table, rowid: i64, col: usize) -> Result<Option<Cell<'static>>, StoreError>;
    /// Whether any row holds a value (not NULL) in column `col`.
    fn any_value(&self, t: &Table, col: usize) -> Result<bool, StoreError>;
    /// Whether any row's overflow column (`extra`) holds top-level key `field`.
    fn extra_holds(&self, t: &Table, extra: usize, field: &str) -> Result<bool, StoreError>;
    /// The rowids, in order, of the rows whose every listed column holds one of its values.
    fn rowids_where(
        &self,
        t: &Table,
        any_of: &[(usize, Vec<Cell<'static>>)],
    ) -> Result<Vec<i64>, StoreError>;
    /// How many rows of `t` pass every test of `filters` (column, test), and of those, how many
    /// also pass each test of `also` (one count each): one pass, through the indexes the
    /// filters can use.
    fn tally(
        &self,
        t: &Table,
        filters: &[(usize, Test)],
        also: &[(usize, Test)],
    ) -> Result<(u64, Vec<u64>), StoreError>;
    /// The rowids of the rows of `t` that pass every test of `filters`, in `order` (then rowid
    /// order), `skip` of them left out and at most `take` given.
    fn select(
        &self,
        t: &Table,
        filters: &[(usize, Test)],
        order: &[OrderBy],
        skip: u64,
        take: Option<u64>,
    ) -> Result<Vec<i64>, StoreError>;
    /// How many rows of table `table` hold `value` in column `column` (by name: the far end of
    /// a foreign key).
    fn count_equal(&self, table: &str, column: &str, value: &Cell) -> Result<u64, StoreError>;
    /// Whether a row of `table` holds `value` in `column`.
    fn exists(&self, table: &str, column: &str, value: &Cell) -> Result<bool, StoreError>;
    /// How many rows table `t` has.
    fn count(&self, t: &Table) -> Result<u64, StoreError>;
    /// Whether root table `t` has its search index ([`super::search`]).
    fn search_ready(&self, t: &Table) -> Result<bool, StoreError>;
    /// Creates `t`'s search index, empty (replacing any).
    fn search_create(&self, t: &Table) -> Result<(), StoreError>;
    /// Drops `t`'s search index, if any.
    fn search_drop(&self, t: &Table) -> Result<(), StoreError>;
    /// The rows of `t` whose indexed text contains `term`, most relevant first.
    fn search_ranked(&self, t: &Table, term: &str) -> Result<Vec<i64>, StoreError>;
    /// Makes row `rowid`'s text in `t`'s index be `text` (`None`: removes it).
    fn search_put(&self, t: &Table, rowid: i64, text: Option<String>) -> Result<(), StoreError>;
    /// Adds these rows' texts to `t`'s index, which holds none of them yet (an index being
    /// built): in as few statements as the backend can (a multi-row INSERT, a COPY).
    fn search_fill(&self, t: &Table, rows: Vec<(i64, String)>) -> Result<(), StoreError> {
        for (rowid, text) in rows {
            self.search_put(t, rowid, Some(text))?;
        }
        Ok(())
    }
    /// How many rows of shared-entity table `entities` no row of its join table `join` points
    /// at (through the join table's column `col`).
    fn unused_entities(
        &self,
        entities: &Table,
        join: &Table,
        col: usize,
    ) -> Result<u64, StoreError>;

    /// How many rows of `table` hold in `column` a value that no row of `target` holds in
    /// `target_column` (rows another client wrote with foreign keys off), and the smallest
    /// such value as text.
    fn dangling(
        &self,
        table: &str,
        column: &str,
        target: &str,
        target_column: &str,
    ) -> Result<(u64, Option<String>), StoreError>;

    /// Adds a row at the end of `t`.
    fn insert(&self, t: &Table, cells: &[Cell]) -> Written;
    /// Rewrites the row with this rowid in place.
    fn update(&self, t: &Table, rowid: i64, cells: &[Cell]) -> Written;
    /// Deletes the rows of child table `t` under `parent` (their own children go with them).
    fn delete_children(&self, t: &Table, parent: &Cell) -> Result<(), StoreError>;
    /// Deletes the row with this rowid (its children go with it).
    fn delete_row(&self, t: &Table, rowid: i64) -> Result<(), StoreError>;
    /// References are checked at commit from now on, not statement by statement (a record's
    /// rows go in before the caller checks what they point at, with paths).
    fn defer_references(&self) -> Result<(), StoreError>;

    // ----- jsonlift's own tables -------------------------------------------------------------

    /// Appends an audit entry, stamped with its own id.
    fn audit_append(&self, e: &NewEntry) -> Result<(), StoreError>;
    /// Enters an entry exactly as it was logged elsewhere, id included (replay).
    fn audit_insert(&self, e: &Entry) -> Result<(), StoreError>;
    /// Entries matching `f`, oldest first.
    fn audit_query(&self, f: &Filter) -> Result<Vec<Entry>, StoreError>;
    /// The newest audit entry's id (0 for none).
    fn audit_last_id(&self) -> Result<i64, StoreError>;
    /// What the ledger says of each source, by path (empty before any migration).
    fn sources(&self) -> Result<HashMap<String, SourceState>, StoreError>;
    /// How many runs the ledger holds, and the last one.
    fn runs(&self) -> Result<(i64, Option<Run>), StoreError>;
    /// Every row of the ledger, oldest first.
    fn ledger(&self) -> Result<Vec<LedgerRow>, StoreError>;
    /// Enters a ledger row as it is, id included (a copy of another database's).
    fn ledger_insert(&self, r: &LedgerRow) -> Result<(), StoreError>;
    /// Records what a source was when it was migrated (replacing what was recorded).
    fn source_write(&self, s: &SourceState) -> Result<(), StoreError>;
    /// The kept `[collections]` (with the time it was kept) and the numbered SQL migrations
    /// applied (issue #17): what a later plan compares with and must not apply again.
    fn evolution_read(&self) -> Result<Evolution, StoreError>;
    /// Enters them as they are (a copy of another database's).
    fn evolution_write(&self, e: &Evolution) -> Result<(), StoreError>;
    /// Forgets what was recorded of a source (its collections were dropped).
    fn source_forget(&self, path: &str) -> Result<(), StoreError>;

    /// Runs statements that change the tables (a schema evolution's, written for this
    /// database); what was prepared for the tables before is forgotten.
    fn change_tables(&self, sql: &str) -> Result<(), StoreError>;

    /// After many rows were written into table `t` at once (a sync pass over a folder):
    /// PostgreSQL plans a prepared statement once for the size it knew the table at, so a
    /// lookup by key planned on a near-empty table scans the whole table ever after; its
    /// statistics are refreshed, which plans the statements again. SQLite chooses its indexes
    /// by rule: nothing to do.
    fn refresh_statistics(&self, _t: &Table) -> Result<(), StoreError> {
        Ok(())
    }

    // ----- the database itself ---------------------------------------------------------------

    /// The columns (name, declared type) of table `name`; `None` when there is no such table.
    fn columns(&self, name: &str) -> Result<Option<Vec<(String, String)>>, StoreError>;
    /// The database's own integrity check: `ok`, or the first problem.
    fn integrity(&self) -> Result<String, StoreError>;
    /// The database's size in bytes, where it can say.
    fn size(&self) -> Result<Option<u64>, StoreError>;
}

/// The query of [`Tx::dangling`], the same on both backends.
pub fn dangling_sql(table: &str, column: &str, target: &str, target_column: &str) -> String {
    use crate::schema::ddl::quote;
    let (c, tc) = (quote(column), quote(target_column));
    format!(
        "SELECT count(*), min(CAST(r.{c} AS TEXT)) FROM {} r WHERE r.{c} IS NOT NULL AND NOT EXISTS (SELECT 1 FROM {} t WHERE t.{tc} = r.{c})",
        quote(table),
        quote(target)
    )
}

/// Every row of `t` in record order with its rowid, read a page of [`Tx::page`] at a time (so
/// `f` may run other statements through `tx` meanwhile, which a streamed [`Tx::each_row`] may
/// not allow).
pub fn pages<T: Tx + ?Sized>(
    tx: &T,
    t: &Table,
    f: &mut dyn FnMut(i64, Cells) -> Result<(), StoreError>,
) -> Result<(), StoreError> {
    const PAGE: usize = 4096;
    let mut after = i64::MIN;
    loop {
        let page = tx.page(t, after, PAGE)?;
        let n = page.len();
        for (rowid, cells) in page {
            after = rowid;
            f(rowid, cells)?;
        }
        if n < PAGE {
            return Ok(());
        }
    }
}
