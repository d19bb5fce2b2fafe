//! For unit tests above the store: a SQLite database reached past the seam, to lay rows out or
//! damage them by hand the way another client could, and to look at tables as they are.

use std::path::Path;

use rusqlite::Connection;

use super::sqlite::{SqliteTx, cell_from, fetch_children};
use crate::schema::Schema;
use crate::schema::rebuild::Rows;
use crate::schema::shred::Cell;

pub struct TestDb(Connection);

impl TestDb {
    /// A new database in memory, references enforced.
    pub fn in_memory() -> TestDb {
        let conn = Connection::open_in_memory().unwrap();
        conn.pragma_update(None, "foreign_keys", "ON").unwrap();
        TestDb(conn)
    }

    /// The database file at `path`, opened as another client would.
    pub fn open(path: &Path) -> TestDb {
        TestDb(Connection::open(path).unwrap())
    }

    /// Runs `sql` (statements separated by `;`); panics when it fails.
    pub fn run(&self, sql: &str) {
        self.0
            .execute_batch(sql)
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }

    /// The rows a query gives.
    pub fn rows(&self, sql: &str) -> Vec<Vec<Cell<'static>>> {
        let mut stmt = self.0.prepare(sql).unwrap();
        let n = stmt.column_count();
        stmt.query_map([], |r| {
            (0..n).map(|i| r.get_ref(i).map(cell_from)).collect()
        })
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
    }

    /// The steps of SQLite's plan for `sql` with `params` bound (`EXPLAIN QUERY PLAN`, the
    /// `detail` column), such as "SEARCH posts USING INDEX idx_posts_title (title=?)".
    pub fn query_plan(&self, sql: &str, params: &[&Cell]) -> Vec<String> {
        let mut stmt = self
            .0
            .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
            .unwrap();
        stmt.query_map(rusqlite::params_from_iter(params.iter().copied()), |r| {
            r.get(3)
        })
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
    }

    /// The rows of child table `ti` under `parent`, as a record's rebuild reads them.
    pub fn children(
        &self,
        schema: &Schema,
        ti: usize,
        parent: &Cell<'static>,
    ) -> anyhow::Result<Rows<'static>> {
        fetch_children(&self.0, schema, ti, parent)
    }

    /// The database as the seam's [`super::Tx`].
    pub fn tx(&self) -> SqliteTx<'_> {
        SqliteTx::new(&self.0)
    }
}

/// The PostgreSQL server of the tests (`JSONLIFT_TEST_POSTGRES`), or none, said loudly: test
/// `test` was then not run against PostgreSQL.
pub fn postgres_url(test: &str) -> Option<String> {
    let url = std::env::var("JSONLIFT_TEST_POSTGRES").ok();
    if url.is_none() {
        eprintln!(
            "\n!!!!!!!! SKIPPED {test}: JSONLIFT_TEST_POSTGRES is not set; NOT run against PostgreSQL !!!!!!!!\n"
        );
    }
    url
}
