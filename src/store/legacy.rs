//! A foreign SQLite database: the hand-kept legacy file that `format = "sqlite"` reads as a
//! source, that `init`/`infer` learn a schema from, and that `export` writes back (issue #17).
//! Its SQL lives here, below the source reader and the inference (`source::sqlite`,
//! `infer::sqlite`), which ask for tables, columns, keys and rows in their own terms.
//!
//! [`Legacy`] opens the file read-only (`SQLITE_OPEN_READ_ONLY`, `query_only`): nothing done
//! through it can change the file. [`NewFile`] builds a fresh database to put in its place
//! (inside one transaction; the caller renames it into place when complete).

use std::collections::BTreeMap;
use std::path::Path;

use rusqlite::types::{FromSql, FromSqlResult, ToSqlOutput, ValueRef};
use rusqlite::{Connection, OpenFlags, ToSql, params_from_iter};

/// Why the legacy database could not be read or written: SQLite's own words.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct Error(#[from] rusqlite::Error);

pub type Result<T> = std::result::Result<T, Error>;

/// One SQL value exactly as the file holds it, storage class included.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Integer(i64),
    Real(f64),
    Text(String),
    Blob(Vec<u8>),
}

impl ToSql for Value {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(match self {
            Value::Null => ValueRef::Null,
            Value::Integer(i) => ValueRef::Integer(*i),
            Value::Real(f) => ValueRef::Real(*f),
            Value::Text(t) => ValueRef::Text(t.as_bytes()),
            Value::Blob(b) => ValueRef::Blob(b),
        }))
    }
}

impl FromSql for Value {
    fn column_result(v: ValueRef<'_>) -> FromSqlResult<Self> {
        use rusqlite::types::Value as V;
        // rusqlite's own reading, so that a text that is not UTF-8 fails as it always has.
        Ok(match V::column_result(v)? {
            V::Null => Value::Null,
            V::Integer(i) => Value::Integer(i),
            V::Real(f) => Value::Real(f),
            V::Text(t) => Value::Text(t),
            V::Blob(b) => Value::Blob(b),
        })
    }
}

/// A row read: its rowid (a table that has one) and its cells in column order.
pub type Rows = Vec<(Option<i64>, Vec<Value>)>;

pub fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

fn sql_str(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// What a table declares of itself (what `init` turns into a collection).
#[derive(Debug, Clone, Default)]
pub struct TableInfo {
    /// (name, declared type), in column order.
    pub columns: Vec<(String, String)>,
    /// The primary key, when it is one column.
    pub pk: Option<String>,
    /// Columns with a one-column UNIQUE constraint or unique index.
    pub unique: Vec<String>,
    /// Declared foreign keys of one column: (column, referenced table).
    pub references: Vec<(String, String)>,
}

/// How one table's or query's rows are fetched, a chunk at a time ([`Legacy::fetch`]).
#[derive(Debug, Clone)]
pub struct Selection {
    /// `SELECT` of a chunk: `?1` the last rowid (rowid tables) or the offset.
    sql: String,
    /// The `FROM` of the table or query.
    from: String,
    /// Whether rows come with their rowid (a table that has one).
    pub rowid: bool,
    pub columns: Vec<String>,
    /// Per column: it holds BLOBs and nothing else but NULL.
    pub blob: Vec<bool>,
}

/// A legacy database opened for reading only.
pub struct Legacy {
    conn: Connection,
}

impl Legacy {
    /// Opens the database at `path` for reading only: nothing jsonlift does through it can
    /// change the file.
    pub fn open(path: &Path) -> Result<Legacy> {
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.pragma_update(None, "query_only", true)?;
        Ok(Legacy { conn })
    }

    /// From now until [`Legacy::end_snapshot`], everything is read from one snapshot, however
    /// long the reading takes.
    pub fn begin_snapshot(&self) -> Result<()> {
        Ok(self.conn.execute_batch("BEGIN")?)
    }

    pub fn end_snapshot(&self) {
        let _ = self.conn.execute_batch("COMMIT");
    }

    /// The tables, jsonlift's bookkeeping and SQLite's own excepted, in the order made.
    pub fn tables(&self) -> Result<Vec<String>> {
        let mut st = self.conn.prepare(
            "SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' AND name NOT LIKE '\\_jsonlift\\_%' ESCAPE '\\' ORDER BY rowid",
        )?;
        Ok(st
            .query_map([], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?)
    }

    /// The tables jsonlift did not make.
    pub fn legacy_tables(&self) -> Result<Vec<String>> {
        Ok(self
            .tables()?
            .into_iter()
            .filter(|t| !self.is_jsonlift_table(t))
            .collect())
    }

    /// jsonlift's own tables carry its `_meta` column: any other table is a legacy one.
    pub fn is_jsonlift_table(&self, table: &str) -> bool {
        self.conn
            .query_row(
                &format!(
                    "SELECT 1 FROM pragma_table_info({}) WHERE name = '_meta'",
                    sql_str(table)
                ),
                [],
                |_| Ok(()),
            )
            .is_ok()
    }

    /// Whether jsonlift's ledger is in the database (a database jsonlift migrated into).
    pub fn has_ledger(&self) -> bool {
        self.conn
            .query_row(
                "SELECT 1 FROM sqlite_schema WHERE name = '_jsonlift_sources'",
                [],
                |_| Ok(()),
            )
            .is_ok()
    }

    /// The columns, keys and references table `name` declares.
    pub fn table_info(&self, name: &str) -> Result<TableInfo> {
        let conn = &self.conn;
        let mut cols: Vec<(String, String, i64)> = Vec::new();
        {
            let mut st = conn.prepare(&format!("PRAGMA table_info({})", quote(name)))?;
            let rows = st.query_map([], |r| Ok((r.get(1)?, r.get(2)?, r.get(5)?)))?;
            for r in rows {
                cols.push(r?);
            }
        }
        let pks: Vec<&String> = cols.iter().filter(|c| c.2 > 0).map(|c| &c.0).collect();
        let pk = (pks.len() == 1).then(|| pks[0].clone());
        let mut unique = Vec::new();
        {
            let mut st = conn.prepare(&format!("PRAGMA index_list({})", quote(name)))?;
            let idx: Vec<(String, bool, String)> = st
                .query_map([], |r| Ok((r.get(1)?, r.get(2)?, r.get(3)?)))?
                .collect::<rusqlite::Result<_>>()?;
            for (index, is_unique, origin) in idx {
                if !is_unique || origin == "pk" {
                    continue;
                }
                let mut st = conn.prepare(&format!("PRAGMA index_info({})", quote(&index)))?;
                let on: Vec<Option<String>> = st
                    .query_map([], |r| r.get(2))?
                    .collect::<rusqlite::Result<_>>()?;
                if let [Some(c)] = on.as_slice() {
                    if !unique.contains(c) {
                        unique.push(c.clone());
                    }
                }
            }
        }
        let mut references = Vec::new();
        {
            let mut st = conn.prepare(&format!("PRAGMA foreign_key_list({})", quote(name)))?;
            let fks: Vec<(i64, String, String)> = st
                .query_map([], |r| Ok((r.get(0)?, r.get(2)?, r.get(3)?)))?
                .collect::<rusqlite::Result<_>>()?;
            for (id, target, from) in &fks {
                // One-column keys only: a composite one is no field's reference.
                if fks.iter().filter(|f| f.0 == *id).count() == 1 {
                    references.push((from.clone(), target.clone()));
                }
            }
        }
        Ok(TableInfo {
            columns: cols.into_iter().map(|(n, d, _)| (n, d)).collect(),
            pk,
            unique,
            references,
        })
    }

    /// How many texts column `col` of `table` holds, and how many of them are a well-formed
    /// JSON array or object.
    pub fn json_texts(&self, table: &str, col: &str) -> Result<(i64, i64)> {
        Ok(self.conn.query_row(
            &format!(
                "SELECT count(*), count(*) FILTER (WHERE json_valid(x) AND json_type(x) IN ('array', 'object')) FROM (SELECT {} AS x FROM {}) WHERE typeof(x) = 'text'",
                quote(col),
                quote(table)
            ),
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?)
    }

    /// How to read the rows of `table`, or of `query` when there is no table.
    pub fn select(&self, table: Option<&str>, query: Option<&str>) -> Result<Selection> {
        const CHUNK: i64 = 256;
        let conn = &self.conn;
        let from = match (table, query) {
            (Some(t), _) => quote(t),
            (None, Some(q)) => format!("({})", q.trim().trim_end_matches(';')),
            (None, None) => unreachable!("the schema requires source_table or query"),
        };
        let columns: Vec<String> = conn
            .prepare(&format!("SELECT * FROM {from} LIMIT 0"))?
            .column_names()
            .into_iter()
            .map(str::to_string)
            .collect();
        let rowid = table.is_some()
            && conn
                .prepare(&format!("SELECT rowid FROM {from} LIMIT 0"))
                .is_ok()
            && !columns.iter().any(|c| c.eq_ignore_ascii_case("rowid"));
        let list = columns
            .iter()
            .map(|c| quote(c))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = if rowid {
            format!(
                "SELECT rowid, {list} FROM {from} WHERE rowid > ?1 ORDER BY rowid LIMIT {CHUNK}"
            )
        } else {
            format!("SELECT {list} FROM {from} LIMIT {CHUNK} OFFSET ?1")
        };
        // A column of BLOBs is carried as hex text; one that mixes BLOBs with other values is
        // reported row by row when read. One scan counts both for every column.
        let counts: Vec<String> = columns
            .iter()
            .map(|c| {
                let c = quote(c);
                format!("count(*) FILTER (WHERE typeof({c}) = 'blob'), count(*) FILTER (WHERE typeof({c}) NOT IN ('blob', 'null'))")
            })
            .collect();
        let blob: Vec<bool> = if columns.is_empty() {
            Vec::new()
        } else {
            conn.query_row(
                &format!("SELECT {} FROM {from}", counts.join(", ")),
                [],
                |r| {
                    (0..columns.len())
                        .map(
                            |i| Ok(r.get::<_, i64>(2 * i)? > 0 && r.get::<_, i64>(2 * i + 1)? == 0),
                        )
                        .collect()
                },
            )?
        };
        Ok(Selection {
            sql,
            from,
            rowid,
            columns,
            blob,
        })
    }

    /// The first text of column `col` of the selection that starts like a JSON array or object.
    pub fn first_json_text(&self, sel: &Selection, col: &str) -> Option<String> {
        self.conn
            .query_row(
                &format!(
                    "SELECT x FROM (SELECT {} AS x FROM {}) WHERE typeof(x) = 'text' AND (x LIKE '[%' OR x LIKE '{{%') LIMIT 1",
                    quote(col),
                    sel.from
                ),
                [],
                |r| r.get(0),
            )
            .ok()
    }

    /// The next chunk of the selection's rows after `cursor` (the last rowid read, or the rows
    /// read so far); empty when all are read.
    pub fn fetch(&self, sel: &Selection, cursor: i64) -> Result<Rows> {
        let mut st = self.conn.prepare_cached(&sel.sql)?;
        let n = sel.columns.len();
        let skip = usize::from(sel.rowid);
        let rows = st.query_map([cursor], |r| {
            let rowid = if sel.rowid { Some(r.get(0)?) } else { None };
            let cells = (0..n)
                .map(|i| r.get::<_, Value>(i + skip))
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok((rowid, cells))
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// A table's `CREATE TABLE` (none: no such table) and `CREATE INDEX` statements (not the
    /// automatic indexes of its UNIQUE and PRIMARY KEY constraints, which the `CREATE TABLE`
    /// makes again).
    pub fn table_sql(&self, table: &str) -> Result<(Option<String>, Vec<String>)> {
        let create: Option<String> = self
            .conn
            .query_row(
                "SELECT sql FROM sqlite_schema WHERE type = 'table' AND name = ?1 COLLATE NOCASE",
                [table],
                |r| r.get(0),
            )
            .ok();
        let mut st = self.conn.prepare(
            "SELECT sql FROM sqlite_schema WHERE type = 'index' AND tbl_name = ?1 COLLATE NOCASE AND sql IS NOT NULL ORDER BY rowid",
        )?;
        let indexes = st
            .query_map([table], |r| r.get(0))?
            .collect::<rusqlite::Result<Vec<String>>>()?;
        Ok((create, indexes))
    }

    /// An AUTOINCREMENT table's `sqlite_sequence` value.
    pub fn sequence(&self, table: &str) -> Option<i64> {
        self.conn
            .query_row(
                "SELECT seq FROM sqlite_sequence WHERE name = ?1",
                [table],
                |r| r.get(0),
            )
            .ok()
    }

    /// The declared type of each column of `table`, by name.
    pub fn declared_types(&self, table: &str) -> Result<BTreeMap<String, String>> {
        let mut st = self
            .conn
            .prepare(&format!("PRAGMA table_info({})", quote(table)))?;
        Ok(st
            .query_map([], |r| Ok((r.get::<_, String>(1)?, r.get::<_, String>(2)?)))?
            .collect::<rusqlite::Result<_>>()?)
    }
}

/// A fresh database being written (the legacy file given back by `export`), all of it in one
/// transaction until [`NewFile::finish`].
pub struct NewFile {
    conn: Connection,
}

impl NewFile {
    pub fn create(path: &Path) -> Result<NewFile> {
        let conn = Connection::open(path)?;
        conn.execute_batch("BEGIN")?;
        Ok(NewFile { conn })
    }

    /// Runs statements as the legacy file had them (`CREATE TABLE`, `CREATE INDEX`).
    pub fn run(&self, sql: &str) -> Result<()> {
        Ok(self.conn.execute_batch(sql)?)
    }

    /// Creates `table` with `columns` (name, declared type).
    pub fn create_table(&self, table: &str, columns: &[(String, String)]) -> Result<()> {
        let cols: Vec<String> = columns
            .iter()
            .map(|(name, decl)| format!("{} {decl}", quote(name)).trim().to_string())
            .collect();
        self.run(&format!(
            "CREATE TABLE {} ({})",
            quote(table),
            cols.join(", ")
        ))
    }

    /// Inserts rows of `columns` into `table`.
    pub fn inserter(&self, table: &str, columns: &[String]) -> Result<Inserter<'_>> {
        let sql = format!(
            "INSERT INTO {} ({}) VALUES ({})",
            quote(table),
            columns
                .iter()
                .map(|c| quote(c))
                .collect::<Vec<_>>()
                .join(", "),
            vec!["?"; columns.len()].join(", ")
        );
        Ok(Inserter(self.conn.prepare(&sql)?))
    }

    /// Sets an AUTOINCREMENT table's `sqlite_sequence` value.
    pub fn set_sequence(&self, table: &str, seq: i64) -> Result<()> {
        self.conn.execute(
            "UPDATE sqlite_sequence SET seq = ?1 WHERE name = ?2",
            rusqlite::params![seq, table],
        )?;
        Ok(())
    }

    /// Commits and closes the file.
    pub fn finish(self) -> Result<()> {
        self.conn.execute_batch("COMMIT")?;
        self.conn.close().map_err(|(_, e)| e)?;
        Ok(())
    }
}

pub struct Inserter<'c>(rusqlite::Statement<'c>);

impl Inserter<'_> {
    pub fn insert(&mut self, row: &[Value]) -> Result<()> {
        self.0.execute(params_from_iter(row))?;
        Ok(())
    }
}

/// A consistent copy of the database at `src` in the new file `dst`, through SQLite's backup
/// API from a read-only connection: a byte copy of a live database may be torn, and misses
/// what its write-ahead log holds. The copy is in rollback-journal mode, so it can be read
/// read-only wherever it is.
pub fn copy_database(src: &Path, dst: &Path) -> Result<()> {
    let from = Legacy::open(src)?.conn;
    let mut to = Connection::open(dst)?;
    {
        let b = rusqlite::backup::Backup::new(&from, &mut to)?;
        b.run_to_completion(1024, std::time::Duration::ZERO, None)?;
    }
    to.pragma_update(None, "journal_mode", "DELETE")?;
    to.close().map_err(|(_, e)| e)?;
    Ok(())
}

/// Drops `tables` inside the transaction open on `conn` (the migration's, on the database that
/// is itself the legacy file: `drop_source_tables`).
pub fn drop_tables(conn: &Connection, tables: &[String]) -> Result<()> {
    for t in tables {
        conn.execute_batch(&format!("DROP TABLE {}", quote(t)))?;
    }
    Ok(())
}
