//! Reading records back on any backend: [`RowCursor`] walks a root table in record order, a
//! page at a time (no statement is held across calls, so a caller may read a record's children
//! between rows), and [`children_of`] gives `rebuild` the rows under a parent.

use std::collections::VecDeque;

use super::StoreError;
use super::backend::{Cells, Tx};
use std::borrow::Cow;

use crate::schema::rebuild::Rows;
use crate::schema::shred::Cell;
use crate::schema::{Schema, Table};

const PAGE: usize = 1024;

pub struct RowCursor<'s> {
    table: &'s Table,
    last: i64,
    buf: VecDeque<(i64, Cells)>,
    done: bool,
}

impl<'s> RowCursor<'s> {
    pub fn new(schema: &'s Schema, ti: usize) -> RowCursor<'s> {
        RowCursor {
            table: &schema.tables[ti],
            last: i64::MIN,
            buf: VecDeque::new(),
            done: false,
        }
    }

    pub fn next(&mut self, tx: &dyn Tx) -> Result<Option<Cells>, StoreError> {
        Ok(self.next_with_rowid(tx)?.map(|(_, cells)| cells))
    }

    /// The next row with its rowid.
    pub fn next_with_rowid(&mut self, tx: &dyn Tx) -> Result<Option<(i64, Cells)>, StoreError> {
        if self.buf.is_empty() && !self.done {
            let page = tx.page(self.table, self.last, PAGE)?;
            self.done = page.len() < PAGE;
            if let Some((rowid, _)) = page.last() {
                self.last = *rowid;
            }
            self.buf.extend(page);
        }
        Ok(self.buf.pop_front())
    }
}

/// The rows of child table `ti` under `parent`, as `rebuild` asks for them.
pub fn children_of(
    tx: &dyn Tx,
    schema: &Schema,
    ti: usize,
    parent: &Cell<'static>,
) -> anyhow::Result<Rows<'static>> {
    Ok(tx
        .children(&schema.tables[ti], parent)?
        .into_iter()
        .map(Cow::Owned)
        .collect())
}
