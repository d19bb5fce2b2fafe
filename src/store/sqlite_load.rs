//! The SQLite database a migration loads into, as its loader (`migrate::load`) sees it: rows
//! inserted many to a statement with their text bound in place ([`RowWriter`]), and read back
//! to prove they are stored as inserted: over a batch's rowids, record by record, or as the
//! rows a record is rebuilt from. The loader decides what goes in and what a difference means;
//! the statements and their bindings stay here.

use std::collections::HashMap;

use rusqlite::Connection;
use rusqlite::types::ValueRef;

use super::backend::Refusal;
use super::sqlite::{Insert, cell_from, fetch_children, insert_rows_sql, refusal};
use crate::json::{JsonPath, Seg};
use crate::schema::ddl::quote;
use crate::schema::rebuild::Rows;
use crate::schema::shred::{Cell, Row};
use crate::schema::{Schema, Table};

/// The migration's database, borrowed for the load.
#[derive(Clone, Copy)]
pub struct LoadDb<'c>(&'c Connection);

impl<'c> LoadDb<'c> {
    pub fn new(conn: &'c Connection) -> Self {
        LoadDb(conn)
    }

    /// A writer of rows into `schema`'s tables.
    pub fn writer(self, schema: &Schema) -> RowWriter<'c> {
        let n = schema.tables.len();
        RowWriter {
            conn: self.0,
            stmts: (0..n).map(|_| None).collect(),
            runs: (0..n).map(|_| Vec::new()).collect(),
        }
    }

    /// Does table `t` give back, over the rowids from the first to the last of `expected`,
    /// exactly those rows (rowid and cells, bit for bit), in that order (one range scan)?
    pub fn range_as_inserted<'r>(
        self,
        t: &Table,
        expected: &[(i64, &'r [Cell<'r>])],
    ) -> anyhow::Result<bool> {
        let (Some(first), Some(last)) = (expected.first(), expected.last()) else {
            return Ok(true);
        };
        let mut stmt = self.0.prepare_cached(&t.sql.by_rowid_range)?;
        let mut found = stmt.query([first.0, last.0])?;
        let mut expected = expected.iter();
        while let Some(r) = found.next()? {
            let Some(&(rowid, cells)) = expected.next() else {
                return Ok(false);
            };
            let same = r.get_ref(0)? == ValueRef::Integer(rowid)
                && cells
                    .iter()
                    .enumerate()
                    .all(|(c, cell)| r.get_ref(c + 1).is_ok_and(|v| same_cell(cell, v)));
            if !same {
                return Ok(false);
            }
        }
        Ok(expected.next().is_none())
    }

    /// Does the database hold exactly the rows of one record just inserted (the root at `rowid`,
    /// and under every row exactly its children, in order)? Counts the child rows read per
    /// table.
    pub fn record_as_inserted(
        self,
        schema: &Schema,
        rowid: i64,
        out: &[Row<'static>],
        read: &mut HashMap<usize, u64>,
    ) -> anyhow::Result<bool> {
        let conn = self.0;
        let same = |cells: &[Cell], r: &rusqlite::Row| {
            cells
                .iter()
                .enumerate()
                .all(|(i, c)| r.get_ref(i).is_ok_and(|v| same_cell(c, v)))
        };
        let root = &schema.tables[out[0].table];
        let mut stmt = conn.prepare_cached(&root.sql.by_rowid)?;
        if !stmt.query_row([rowid], |r| Ok(same(&out[0].cells, r)))? {
            return Ok(false);
        }
        for parent in out {
            let pt = &schema.tables[parent.table];
            if pt.join.is_some() {
                // A shared entity: the one stored (perhaps by an earlier record) must be this one.
                let mut stmt = conn.prepare_cached(&pt.sql.children)?;
                let mut found = stmt.query([&parent.cells[pt.pk]])?;
                match found.next()? {
                    Some(r) if same(&parent.cells, r) => {}
                    _ => return Ok(false),
                }
            }
            let key = &parent.cells[pt.pk];
            for &ct in &pt.children {
                let child = &schema.tables[ct];
                let pc = child.parent_col.expect("child table");
                let mut expected = out.iter().filter(|r| r.table == ct && r.cells[pc] == *key);
                let mut stmt = conn.prepare_cached(&child.sql.children)?;
                let mut found = stmt.query([key])?;
                while let Some(r) = found.next()? {
                    match expected.next() {
                        Some(e) if same(&e.cells, r) => *read.entry(ct).or_default() += 1,
                        _ => return Ok(false),
                    }
                }
                if expected.next().is_some() {
                    return Ok(false);
                }
            }
        }
        Ok(true)
    }

    /// The cells of row `rowid` of table `t`.
    pub fn row(self, t: &Table, rowid: i64) -> anyhow::Result<Vec<Cell<'static>>> {
        let mut stmt = self.0.prepare_cached(&t.sql.by_rowid)?;
        Ok(stmt.query_row([rowid], |r| {
            (0..t.columns.len())
                .map(|i| r.get_ref(i).map(cell_from))
                .collect::<rusqlite::Result<Vec<_>>>()
        })?)
    }

    /// The value of column `col` in row `rowid` of table `t`.
    pub fn cell(self, t: &Table, col: usize, rowid: i64) -> anyhow::Result<Cell<'static>> {
        Ok(self.0.query_row(
            &format!(
                "SELECT {} FROM {} WHERE rowid = ?1",
                quote(&t.columns[col].name),
                quote(&t.name)
            ),
            [rowid],
            |r| r.get_ref(0).map(cell_from),
        )?)
    }

    /// The children of `parent` in child table `ti` (for a shared entity's table: the entity
    /// whose key is `parent`), in position order.
    pub fn children(
        self,
        schema: &Schema,
        ti: usize,
        parent: &Cell<'static>,
    ) -> anyhow::Result<Rows<'static>> {
        fetch_children(self.0, schema, ti, parent)
    }

    /// The rowid of the first row of table `t` whose column `col` is `value`.
    pub fn first_row_with(self, t: &Table, col: usize, value: &Cell) -> anyhow::Result<i64> {
        Ok(self.0.query_row(
            &format!(
                "SELECT rowid FROM {} WHERE {} = ?1 ORDER BY rowid LIMIT 1",
                quote(&t.name),
                quote(&t.columns[col].name)
            ),
            [value],
            |r| r.get(0),
        )?)
    }

    /// The root row and path (relative to its record) of row `rowid` of table `ti`.
    pub fn root_of(
        self,
        schema: &Schema,
        mut ti: usize,
        mut rowid: i64,
    ) -> anyhow::Result<(usize, i64, JsonPath)> {
        let conn = self.0;
        let mut segs = Vec::new();
        while let Some(parent) = schema.tables[ti].parent {
            let t = &schema.tables[ti];
            let pcol = &t.columns[t.parent_col.expect("child")].name;
            let poscol = &t.columns[t.pos_col.expect("child")].name;
            let (pval, pos) = conn.query_row(
                &format!(
                    "SELECT {}, {} FROM {} WHERE rowid = ?1",
                    quote(pcol),
                    quote(poscol),
                    quote(&t.name)
                ),
                [rowid],
                |r| Ok((r.get_ref(0).map(cell_from)?, r.get::<_, i64>(1)?)),
            )?;
            segs.push(Seg::Index(pos as usize));
            for k in t.parent_path.iter().rev() {
                segs.push(Seg::Key(k.clone()));
            }
            let pt = &schema.tables[parent];
            rowid = conn.query_row(
                &format!(
                    "SELECT rowid FROM {} WHERE {} = ?1",
                    quote(&pt.name),
                    quote(&pt.columns[pt.pk].name)
                ),
                [&pval],
                |r| r.get(0),
            )?;
            ti = parent;
        }
        segs.reverse();
        Ok((ti, rowid, JsonPath(segs)))
    }
}

/// What one insert statement did.
pub struct Inserted {
    /// The rows that went in, in order, before any refused one.
    pub done: usize,
    /// The rowid of the last row that went in.
    pub last_rowid: i64,
    /// The constraint that refused row `done`, when one did.
    pub refused: Option<Refusal>,
}

/// The insert statements of each table, prepared when first used and kept for the load.
pub struct RowWriter<'c> {
    conn: &'c Connection,
    /// The insert statement of each table (one row; `INSERT OR IGNORE` for a shared entity).
    stmts: Vec<Option<Insert<'c>>>,
    /// Per table, the statement inserting `n` rows at index `n - 2`.
    runs: Vec<Vec<Option<Insert<'c>>>>,
}

impl RowWriter<'_> {
    /// Inserts `rows` of table `ti` (`t`) with one statement. A row refused by a constraint
    /// stops the statement there: the rows before it stay in.
    pub fn insert<'x>(
        &mut self,
        ti: usize,
        t: &Table,
        rows: impl ExactSizeIterator<Item = &'x [Cell<'x>]>,
    ) -> anyhow::Result<Inserted> {
        let conn = self.conn;
        let n = rows.len();
        let stmt = if n == 1 {
            prepared(&mut self.stmts[ti], conn, || t.sql.insert.clone())?
        } else {
            let slots = &mut self.runs[ti];
            if slots.len() < n - 1 {
                slots.resize_with(n - 1, || None);
            }
            prepared(&mut slots[n - 2], conn, || insert_rows_sql(t, n))?
        };
        let result = stmt.execute_rows(rows);
        let done = stmt.changed() as usize;
        let refused = match result {
            Ok(_) => None,
            Err(e) => Some(refusal(&e).ok_or(e)?),
        };
        Ok(Inserted {
            done,
            last_rowid: conn.last_insert_rowid(),
            refused,
        })
    }
}

/// The statement in `slot`, prepared from `sql` when first used.
fn prepared<'s, 'c>(
    slot: &'s mut Option<Insert<'c>>,
    conn: &'c Connection,
    sql: impl FnOnce() -> String,
) -> rusqlite::Result<&'s mut Insert<'c>> {
    match slot {
        Some(s) => Ok(s),
        slot => Ok(slot.insert(Insert::new(conn, &sql())?)),
    }
}

/// A cell and a stored value are the same, bit for bit.
fn same_cell(c: &Cell, v: ValueRef) -> bool {
    match (c, v) {
        (Cell::Null, ValueRef::Null) => true,
        (Cell::Int(a), ValueRef::Integer(b)) => *a == b,
        (Cell::Real(a), ValueRef::Real(b)) => a.to_bits() == b.to_bits(),
        (Cell::Text(a), ValueRef::Text(b)) => a.as_bytes() == b,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_compare_bit_for_bit() {
        assert!(same_cell(&Cell::Real(0.5), ValueRef::Real(0.5)));
        // SQLite gives back -0.0 as 0.0: the fast check fails and the rebuild decides.
        assert!(!same_cell(&Cell::Real(-0.0), ValueRef::Real(0.0)));
        assert!(!same_cell(&Cell::Int(1), ValueRef::Real(1.0)));
        assert!(!same_cell(&Cell::Text("1".into()), ValueRef::Integer(1)));
        assert!(same_cell(&Cell::Null, ValueRef::Null));
    }
}
