//! The SQLite statements a table is read and written with, built from the schema once per
//! table (they are used for every record): what `Table::sql` caches, and what the loader and
//! the store prepare.

use super::ddl::{and_only, from, quote};
use super::dialect::Dialect;
use super::{Table, TableSql};

/// The statements used per record, built once per table.
pub fn table_sql(t: &Table) -> TableSql {
    TableSql {
        insert: if t.join.is_some() {
            // A shared entity is stored at its first occurrence; the loader compares the others.
            format!(
                "{} ON CONFLICT ({}) DO NOTHING",
                insert_sql(t),
                quote(&t.columns[t.pk].name)
            )
        } else {
            insert_sql(t)
        },
        by_rowid: select_by_rowid_sql(t),
        by_rowid_range: format!(
            "SELECT rowid, {} FROM {} WHERE rowid BETWEEN ?1 AND ?2 ORDER BY rowid",
            select_list(t),
            from(t, Dialect::Sqlite)
        ),
        children: if t.parent_col.is_some() {
            select_children_sql(t)
        } else if t.join.is_some() {
            format!(
                "SELECT {} FROM {} WHERE {} = ?1",
                select_list(t),
                quote(&t.name),
                quote(&t.columns[t.pk].name)
            )
        } else {
            String::new()
        },
    }
}

/// One statement inserting `n` rows into `t`. `OR FAIL`: a row refused by a constraint stops
/// the statement but keeps the rows before it, so the loader can say which record was refused
/// and go on after it, and SQLite needs no statement journal to undo the rows already inserted.
pub fn insert_rows_sql(t: &Table, n: usize) -> String {
    let cols: Vec<String> = t.columns.iter().map(|c| quote(&c.name)).collect();
    let row = format!("({})", vec!["?"; t.columns.len()].join(", "));
    format!(
        "INSERT OR FAIL INTO {} ({}) VALUES {}",
        quote(&t.name),
        cols.join(", "),
        vec![row; n].join(", ")
    )
}

pub fn insert_sql(t: &Table) -> String {
    let cols: Vec<String> = t.columns.iter().map(|c| quote(&c.name)).collect();
    let params: Vec<&str> = t.columns.iter().map(|_| "?").collect();
    format!(
        "INSERT INTO {} ({}) VALUES ({})",
        quote(&t.name),
        cols.join(", "),
        params.join(", ")
    )
}

pub fn select_list(t: &Table) -> String {
    t.columns
        .iter()
        .map(|c| quote(&c.name))
        .collect::<Vec<_>>()
        .join(", ")
}

/// All rows of a root table in record order (rowid order is the order records were loaded or
/// added in).
pub fn select_all_sql(t: &Table) -> String {
    format!(
        "SELECT {} FROM {} ORDER BY rowid",
        select_list(t),
        from(t, Dialect::Sqlite)
    )
}

/// One row by rowid.
pub fn select_by_rowid_sql(t: &Table) -> String {
    format!(
        "SELECT {} FROM {} WHERE rowid = ?1{}",
        select_list(t),
        quote(&t.name),
        and_only(t)
    )
}

/// The children of one parent, in array order.
pub fn select_children_sql(t: &Table) -> String {
    let parent = &t.columns[t.parent_col.expect("child table")].name;
    let pos = &t.columns[t.pos_col.expect("child table")].name;
    format!(
        "SELECT {} FROM {} WHERE {} = ?1 ORDER BY {}",
        select_list(t),
        quote(&t.name),
        quote(parent),
        quote(pos)
    )
}
