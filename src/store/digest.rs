//! A table's rows as one SHA-256, each with its rowid, in the order met: what a bulk copy
//! computes of the rows it sends and then of the rows the target gives back (on PostgreSQL
//! `PgTx::digest`), so that every row is compared without reading the source a second time. Each cell is hashed in a form of its
//! own (a tag, then its bytes; a text with its length), so no two different tables of cells hash
//! alike short of a SHA-256 collision. A JSON text is hashed as its compact form, as the
//! cell-by-cell comparison compares JSON by value: PostgreSQL spaces out what jsonb prints.

use sha2::{Digest as _, Sha256};

use crate::json::parse;
use crate::schema::shred::Cell;
use crate::schema::{ColType, Table};

/// Bytes gathered before they are hashed: one hasher call per many rows, not per cell.
const CHUNK: usize = 64 << 10;

#[derive(Default)]
pub struct Digest {
    hash: Sha256,
    buf: Vec<u8>,
    rows: u64,
}

/// What a table's rows came to: how many, and their hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TableDigest {
    pub rows: u64,
    pub sha256: [u8; 32],
}

impl Digest {
    /// Adds one row of `t`: its rowid (record order) and its cells as the seam reads them
    /// ([`super::Tx::page`]).
    pub fn add(&mut self, t: &Table, rowid: i64, cells: &[Cell]) {
        self.rowid(rowid);
        for (c, cell) in t.columns.iter().zip(cells) {
            self.cell(c.ty, cell);
        }
        self.row_done();
    }

    /// Starts a row with its rowid; its cells follow ([`Digest::cell`]).
    pub fn rowid(&mut self, rowid: i64) {
        self.buf.extend_from_slice(&rowid.to_le_bytes());
    }

    /// Adds one cell of a column of type `ty`; [`Digest::row_done`] ends the row.
    pub fn cell(&mut self, ty: ColType, cell: &Cell) {
        match cell {
            Cell::Null => self.null(),
            Cell::Int(i) => self.int(*i),
            Cell::Real(f) => self.real(*f),
            Cell::Text(s) if ty == ColType::Json => match parse(s.as_bytes(), 10_000) {
                Ok(v) => self.tagged(4, crate::json::to_compact_string(&v).as_bytes()),
                Err(_) => self.text(s.as_bytes()),
            },
            Cell::Text(s) => self.text(s.as_bytes()),
        }
    }

    /// A cell as [`Digest::cell`] hashes it, from what it holds: NULL, an integer, a real, or a
    /// text (not a JSON value: that is hashed by value).
    pub fn null(&mut self) {
        self.buf.push(0);
    }

    pub fn int(&mut self, i: i64) {
        self.buf.push(1);
        self.buf.extend_from_slice(&i.to_le_bytes());
    }

    pub fn real(&mut self, f: f64) {
        self.buf.push(2);
        self.buf.extend_from_slice(&f.to_bits().to_le_bytes());
    }

    pub fn text(&mut self, s: &[u8]) {
        self.tagged(3, s);
    }

    fn tagged(&mut self, tag: u8, s: &[u8]) {
        self.buf.push(tag);
        self.buf.extend_from_slice(&(s.len() as u64).to_le_bytes());
        self.buf.extend_from_slice(s);
    }

    pub fn row_done(&mut self) {
        self.rows += 1;
        if self.buf.len() >= CHUNK {
            self.hash.update(&self.buf);
            self.buf.clear();
        }
    }

    pub fn finish(mut self) -> TableDigest {
        self.hash.update(&self.buf);
        TableDigest {
            rows: self.rows,
            sha256: self.hash.finalize().into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest(ty: ColType, cells: &[Cell]) -> TableDigest {
        let mut d = Digest::default();
        for (i, c) in cells.iter().enumerate() {
            d.rowid(i as i64);
            d.cell(ty, c);
            d.row_done();
        }
        d.finish()
    }

    #[test]
    fn cells_hash_by_kind_and_bits_and_json_by_value() {
        let text = |s: &str| Cell::Text(s.to_string().into());
        let t = ColType::Text;
        assert_eq!(digest(t, &[text("a")]), digest(t, &[text("a")]));
        assert_ne!(digest(t, &[text("1")]), digest(t, &[Cell::Int(1)]));
        assert_ne!(
            digest(t, &[text("ab"), text("")]),
            digest(t, &[text("a"), text("b")])
        );
        assert_ne!(digest(t, &[Cell::Null]), digest(t, &[text("")]));
        assert_ne!(
            digest(ColType::Real, &[Cell::Real(0.0)]),
            digest(ColType::Real, &[Cell::Real(-0.0)])
        );
        let j = ColType::Json;
        assert_eq!(
            digest(j, &[text(r#"{"a": [1, 2]}"#)]),
            digest(j, &[text(r#"{"a":[1,2]}"#)])
        );
        assert_ne!(
            digest(j, &[text(r#"{"a":1}"#)]),
            digest(t, &[text(r#"{"a":1}"#)])
        );
        assert_ne!(digest(j, &[text("[1]")]), digest(j, &[text("[2]")]));
        assert_eq!(digest(t, &[text("x"), text("y")]).rows, 2);
        let row = |rowid| {
            let mut d = Digest::default();
            d.rowid(rowid);
            d.cell(t, &text("x"));
            d.row_done();
            d.finish()
        };
        assert_ne!(row(1), row(2), "the rowid counts");
    }
}
