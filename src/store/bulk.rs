//! Tables a migration fills from nothing, given their UNIQUE constraints after the load.
//!
//! SQLite keeps the index behind each UNIQUE constraint up as every row goes in: one descent
//! into a b-tree per row and constraint, at a random place when the values are random (a UUID),
//! which cost more than the load of the rows themselves on 1 M flat records. Built after the
//! load, the same index is one sorted pass. So a table whose rows are all about to be loaded is
//! created without its UNIQUE constraints ([`create`]); once the rows are in, each constraint's
//! index is built ([`build_uniques`]), which finds any duplicate (named at its record's place
//! by the caller, before anything is committed); then the table is given its own definition
//! back ([`restore_definitions`]): `sqlite_schema` holds the very `CREATE TABLE` text
//! [`create_table`] writes, and each index built stands as the automatic index SQLite makes for
//! that constraint (`sqlite_autoindex_<table>_<n>`, same columns, same order, same rows), so
//! every client, `PRAGMA integrity_check` and a later schema fingerprint see the table as if
//! it had been created whole.
//!
//! The CHECK constraints jsonlift writes (enum, minimum, maximum, boolean, a shared table's
//! types, a JSON column's `json_valid`) are left out for the load too: SQLite evaluates them per
//! row, and an `IN (…)` list of more than two values (an enum) is made into a temporary b-tree
//! at every execution of the insert statement, a tenth of the load's time on 1 M flat records;
//! `json_valid` parses the whole text again, into a copy as large. The shredder has already
//! enforced each on every value, refusing it with its JSON path, and writes a JSON column as
//! the compact text of a value it parsed. (`PRAGMA integrity_check`,
//! which the tests run, checks them all.) A `check` expression of the project file's stays: only
//! SQLite can evaluate it, and a row it refuses must not reach the rows sent to PostgreSQL.
//!
//! A UNIQUE constraint stays in the table for the load where its values arrive in order: the
//! `(parent, position)` of a child table whose parent rows are numbered by the database, whose
//! index is then appended to, not descended into, and is not worth a scan of the whole table.
//!
//! The definition is put back the way SQLite documents for changes that leave the stored
//! content valid (`PRAGMA writable_schema`, then a new schema cookie), inside the migration's
//! transaction: a failure or a kill leaves the database as before.

use anyhow::{Context, bail};
use rusqlite::Connection;

use super::Dialect;
use super::sqlite::open_in_memory;
use crate::schema::ddl::{create_table, quote};
use crate::schema::{ColType, Role, Schema, Table};

/// The UNIQUE constraints left out of a table for its load, each as its columns.
pub struct Deferred {
    pub table: usize,
    uniques: Vec<Vec<String>>,
    /// The table was created other than its definition (a UNIQUE or a CHECK left out).
    bare: bool,
}

/// Creates table `ti` for a load that fills it: without the UNIQUE constraints it need not keep
/// up as rows go in and without the CHECK constraints the shredder enforces (module docs). Its
/// primary key stays: it is what a record's key is checked against as it goes in. A table of
/// shared entities, whose rows are matched against those stored as they go in, is created whole.
pub fn create(conn: &Connection, schema: &Schema, ti: usize) -> rusqlite::Result<Deferred> {
    let t = &schema.tables[ti];
    let mut uniques: Vec<Vec<String>> = Vec::new();
    let mut left_out = false;
    let mut bare = t.clone();
    if t.join.is_none() {
        for c in bare.columns.iter_mut() {
            left_out |= c.checks.len() > c.own_checks;
            c.checks.truncate(c.own_checks);
            if c.ty == ColType::Json && c.role != Role::Meta {
                // Declared TEXT too, without its `json_valid` check.
                c.ty = ColType::Text;
                left_out = true;
            }
            if c.unique && !c.primary_key {
                c.unique = false;
                uniques.push(vec![c.name.clone()]);
            }
        }
        let in_order = appended_in_order(schema, t);
        for group in std::mem::take(&mut bare.uniques) {
            if Some(&group) == in_order.as_ref() {
                bare.uniques.push(group);
            } else if !uniques.contains(&group) {
                uniques.push(group);
            }
        }
    }
    conn.execute_batch(&create_table(&bare, Dialect::Sqlite))?;
    Ok(Deferred {
        table: ti,
        bare: left_out || !uniques.is_empty(),
        uniques,
    })
}

/// The `(parent, position)` columns of a child table whose parent's key is the number the
/// database gives each parent row: a load appends its rows in that order.
fn appended_in_order(schema: &Schema, t: &Table) -> Option<Vec<String>> {
    let parent = &schema.tables[t.parent?];
    let key = &parent.columns[parent.pk];
    if key.role != Role::Id || key.ty != ColType::Integer {
        return None;
    }
    let (p, q) = (t.parent_col?, t.pos_col?);
    Some(vec![t.columns[p].name.clone(), t.columns[q].name.clone()])
}

/// Sets the connection up for the index builds after a load. SQLite's sorter sorts runs of up
/// to the page cache's size in memory: runs of 4 MiB built the indexes of 1 M flat records
/// faster than runs of 16 MiB (they sort within the CPU's caches, then merge), in less memory,
/// which also pays for one helper thread sorting beside the connection's. Returns the settings
/// it replaced, for what the migration writes afterwards (a search index, say).
pub fn prepare_index_builds(conn: &Connection) -> rusqlite::Result<Settings> {
    let before = Settings {
        cache_size: conn.query_row("PRAGMA cache_size", [], |r| r.get(0))?,
        threads: conn.query_row("PRAGMA threads", [], |r| r.get(0))?,
    };
    conn.pragma_update(None, "cache_size", -4096)?;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    conn.pragma_update(None, "threads", (cores > 1) as i64)?;
    Ok(before)
}

/// A connection's page cache and sorter threads, as [`prepare_index_builds`] found them.
pub struct Settings {
    cache_size: i64,
    threads: i64,
}

impl Settings {
    pub fn restore(self, conn: &Connection) -> rusqlite::Result<()> {
        conn.pragma_update(None, "cache_size", self.cache_size)?;
        conn.pragma_update(None, "threads", self.threads)
    }
}

/// A row whose values in a UNIQUE constraint's columns an earlier row of its table has.
pub struct Duplicate {
    pub table: usize,
    pub rowid: i64,
    /// The constraint's columns.
    pub columns: Vec<String>,
}

/// The name of the index built for UNIQUE constraint `n` of table `t` until it is renamed.
fn load_index(t: &Table, n: usize) -> String {
    format!("jsonlift_unique_{n}_{}", t.name)
}

/// Builds the index of every UNIQUE constraint left out by [`create`], in one sorted pass each.
/// Returns the duplicates (in rowid order per table; at most `limit` in all): a table with one
/// is left without that index, and the caller does not commit.
pub fn build_uniques(
    conn: &Connection,
    schema: &Schema,
    deferred: &[Deferred],
    limit: usize,
) -> anyhow::Result<Vec<Duplicate>> {
    let mut found = Vec::new();
    for d in deferred {
        let t = &schema.tables[d.table];
        for (n, cols) in d.uniques.iter().enumerate() {
            let list: Vec<String> = cols.iter().map(|c| quote(c)).collect();
            let sql = format!(
                "CREATE UNIQUE INDEX {} ON {} ({})",
                quote(&load_index(t, n)),
                quote(&t.name),
                list.join(", ")
            );
            match conn.execute_batch(&sql) {
                Ok(()) => {}
                Err(e) if crate::store::sqlite::refusal(&e).is_some() => {
                    let left = limit.saturating_sub(found.len());
                    found.extend(duplicates(conn, d.table, t, cols, left)?);
                }
                Err(e) => return Err(e.into()),
            }
        }
    }
    Ok(found)
}

/// The rows of table `t` that repeat an earlier row's values in `cols` (SQLite's rule: a NULL
/// in any of them repeats nothing), each after the first, in rowid order.
fn duplicates(
    conn: &Connection,
    ti: usize,
    t: &Table,
    cols: &[String],
    limit: usize,
) -> anyhow::Result<Vec<Duplicate>> {
    let list: Vec<String> = cols.iter().map(|c| quote(c)).collect();
    let not_null: Vec<String> = list.iter().map(|c| format!("{c} IS NOT NULL")).collect();
    // PARTITION BY compares with each column's collation, as the index does.
    let sql = format!(
        "SELECT rowid FROM (SELECT rowid, min(rowid) OVER (PARTITION BY {cols}) AS first FROM {table} WHERE {nn}) WHERE rowid <> first ORDER BY rowid LIMIT ?1",
        cols = list.join(", "),
        table = quote(&t.name),
        nn = not_null.join(" AND "),
    );
    let mut stmt = conn.prepare(&sql)?;
    let mut rows = stmt.query([limit as i64])?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        out.push(Duplicate {
            table: ti,
            rowid: r.get(0)?,
            columns: cols.to_vec(),
        });
    }
    if out.is_empty() {
        bail!(
            "table {}: SQLite refused a UNIQUE index on ({}) but no two rows repeat a value",
            t.name,
            cols.join(", ")
        );
    }
    Ok(out)
}

/// Gives every table of `deferred` the definition [`create_table`] writes, its automatic
/// indexes being the ones [`build_uniques`] built (module docs).
pub fn restore_definitions(
    conn: &Connection,
    schema: &Schema,
    deferred: &[Deferred],
) -> anyhow::Result<()> {
    // (table, index as loaded, its automatic name in the full definition).
    let mut renames: Vec<(String, String, String)> = Vec::new();
    let mut definitions = Vec::new();
    let mut redundant = Vec::new();
    for d in deferred.iter().filter(|d| d.bare) {
        let t = &schema.tables[d.table];
        let full = create_table(t, Dialect::Sqlite);
        let wanted = automatic_indexes(&full, &t.name)
            .with_context(|| format!("the automatic indexes of table {}", t.name))?;
        let mut have = index_columns(conn, &t.name, "sql IS NULL")?;
        for n in 0..d.uniques.len() {
            let name = load_index(t, n);
            let cols = columns_of(conn, &name)?;
            have.push((name, cols));
        }
        for (name, cols) in have {
            match wanted.iter().find(|(_, w)| *w == cols) {
                Some((auto, _)) => renames.push((t.name.clone(), name, auto.clone())),
                // A constraint SQLite itself would not index twice (a UNIQUE group that is the
                // primary key's column): the key's index is the one.
                None => redundant.push(name),
            }
        }
        for (auto, cols) in &wanted {
            if !renames.iter().any(|(_, _, a)| a == auto) {
                bail!(
                    "table {}: no index built for its constraint on ({})",
                    t.name,
                    cols.join(", ")
                );
            }
        }
        definitions.push((t.name.clone(), full));
    }
    if definitions.is_empty() {
        return Ok(());
    }
    for name in redundant {
        conn.execute_batch(&format!("DROP INDEX {}", quote(&name)))?;
    }
    let version: i64 = conn.query_row("PRAGMA schema_version", [], |r| r.get(0))?;
    conn.execute_batch("PRAGMA writable_schema = ON")?;
    let swapped = (|| -> rusqlite::Result<()> {
        for (table, sql) in &definitions {
            conn.execute(
                "UPDATE sqlite_schema SET sql = ?2 WHERE type = 'table' AND name = ?1",
                [table, sql],
            )?;
        }
        // Through names of their own first: an automatic name may be another index's now.
        for (i, (_, from, _)) in renames.iter().enumerate() {
            conn.execute(
                "UPDATE sqlite_schema SET name = ?2 WHERE type = 'index' AND name = ?1",
                [from, &format!("jsonlift_renaming_{i}")],
            )?;
        }
        for (i, (_, _, to)) in renames.iter().enumerate() {
            conn.execute(
                "UPDATE sqlite_schema SET name = ?2, sql = NULL WHERE type = 'index' AND name = ?1",
                [&format!("jsonlift_renaming_{i}"), to],
            )?;
        }
        conn.execute_batch(&format!("PRAGMA schema_version = {}", version + 1))
    })();
    // Reloads the schema from the rows just written.
    conn.execute_batch("PRAGMA writable_schema = RESET")?;
    swapped?;
    // SQLite read the definitions back: each automatic index is the one built, on its table.
    for (table, _) in &definitions {
        let origins: Vec<(String, String)> = conn
            .prepare("SELECT name, origin FROM pragma_index_list(?1)")?
            .query_map([table], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<rusqlite::Result<_>>()?;
        for (_, _, to) in renames.iter().filter(|(t, _, _)| t == table) {
            if !origins
                .iter()
                .any(|(n, o)| n == to && (o == "u" || o == "pk"))
            {
                bail!("table {table}: index {to} is not the constraint's after the load");
            }
        }
    }
    Ok(())
}

/// The automatic indexes SQLite makes for the table `create` defines, with their columns.
fn automatic_indexes(create: &str, table: &str) -> rusqlite::Result<Vec<(String, Vec<String>)>> {
    let mem = open_in_memory()?;
    mem.execute_batch(create)?;
    index_columns(&mem, table, "sql IS NULL")
}

/// The indexes of `table` matching `filter`, in creation order, with their columns.
fn index_columns(
    conn: &Connection,
    table: &str,
    filter: &str,
) -> rusqlite::Result<Vec<(String, Vec<String>)>> {
    let names: Vec<String> = conn
        .prepare(&format!(
            "SELECT name FROM sqlite_schema WHERE type = 'index' AND tbl_name = ?1 AND {filter} ORDER BY rowid"
        ))?
        .query_map([table], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    names
        .into_iter()
        .map(|n| {
            let cols = columns_of(conn, &n)?;
            Ok((n, cols))
        })
        .collect()
}

fn columns_of(conn: &Connection, index: &str) -> rusqlite::Result<Vec<String>> {
    conn.prepare("SELECT name FROM pragma_index_info(?1) ORDER BY seqno")?
        .query_map([index], |r| r.get(0))?
        .collect()
}
