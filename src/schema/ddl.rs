//! DDL derived from the schema, per dialect.

use super::{ColType, OnDelete, Role, Schema, Table};
use crate::store::Dialect;

/// Quotes an identifier: any name a JSON key can have is a valid column name.
pub fn quote(ident: &str) -> String {
    format!("\"{}\"", ident.replace('"', "\"\""))
}

/// `CREATE TABLE` for one table.
pub fn create_table(t: &Table, d: Dialect) -> String {
    let mut lines = Vec::new();
    for c in &t.columns {
        let natural_int_pk = c.primary_key && c.role != Role::Id;
        let mut s = format!("{} {}", quote(&c.name), d.column_type(c.ty, natural_int_pk));
        if c.not_null && !c.primary_key {
            s.push_str(" NOT NULL");
        }
        if c.primary_key {
            s.push_str(if c.role == Role::Id {
                " PRIMARY KEY"
            } else {
                " NOT NULL PRIMARY KEY"
            });
        }
        if c.unique && !c.primary_key {
            s.push_str(" UNIQUE");
        }
        for check in &c.checks {
            s.push_str(&format!(" CHECK ({check})"));
        }
        if c.ty == ColType::Json && c.role != Role::Meta {
            if let Some(check) = d.json_check(&quote(&c.name)) {
                s.push_str(&format!(" CHECK ({check})"));
            }
        }
        if let Some(fk) = &c.references {
            let on_delete = match fk.on_delete {
                OnDelete::Cascade => "CASCADE",
                OnDelete::SetNull => "SET NULL",
                OnDelete::Restrict => "RESTRICT",
            };
            s.push_str(&format!(
                " REFERENCES {}({}) ON DELETE {on_delete} ON UPDATE CASCADE",
                quote(&fk.table),
                quote(&fk.column)
            ));
        }
        lines.push(s);
    }
    for group in &t.uniques {
        let cols: Vec<String> = group.iter().map(|c| quote(c)).collect();
        lines.push(format!("UNIQUE ({})", cols.join(", ")));
    }
    format!(
        "CREATE TABLE {} (\n  {}\n)",
        quote(&t.name),
        lines.join(",\n  ")
    )
}

/// `CREATE INDEX` statements for one table (created after loading, which is faster, except the
/// partial [`extra_index`], which migrate creates first).
pub fn create_indexes(t: &Table) -> Vec<String> {
    let mut out = Vec::new();
    let mut add = |cols: &[String]| {
        let name = format!("idx_{}_{}", t.name, cols.join("_"));
        let list: Vec<String> = cols.iter().map(|c| quote(c)).collect();
        out.push(format!(
            "CREATE INDEX IF NOT EXISTS {} ON {} ({})",
            quote(&name),
            quote(&t.name),
            list.join(", ")
        ));
    };
    for c in &t.columns {
        if c.index && !c.unique && !c.primary_key {
            add(std::slice::from_ref(&c.name));
        }
    }
    for group in &t.indexes {
        add(group);
    }
    out.extend(extra_index(t));
    out
}

/// A partial index of the rows that hold keys the schema does not name: whether any record
/// holds such a key (json-server's `_page` is one a list request asks about every time) is
/// then found without scanning the table, and costs nothing while no record has one.
pub fn extra_index(t: &Table) -> Option<String> {
    let extra = &t.columns[t.extra_col?].name;
    Some(format!(
        "CREATE INDEX IF NOT EXISTS {} ON {} ({q}) WHERE {q} IS NOT NULL",
        quote(&format!("idx_{}_{extra}_held", t.name)),
        quote(&t.name),
        q = quote(extra)
    ))
}

/// The whole schema's DDL, in creation order (parents before children).
pub fn schema_sql(s: &Schema, d: Dialect) -> Vec<String> {
    let mut out = Vec::new();
    for c in 0..s.collections.len() {
        for t in s.tables_of(c) {
            out.push(create_table(&s.tables[t], d));
            out.extend(create_indexes(&s.tables[t]));
        }
    }
    out
}

/// jsonlift's own tables: the source layouts, the run ledger and the audit log.
pub fn internal_tables(d: Dialect) -> Vec<String> {
    let id = match d {
        Dialect::Sqlite => "INTEGER PRIMARY KEY",
        Dialect::Postgres => "BIGSERIAL PRIMARY KEY",
    };
    vec![
        "CREATE TABLE IF NOT EXISTS _jsonlift_sources (\n  path TEXT NOT NULL PRIMARY KEY,\n  format TEXT NOT NULL,\n  sha256 TEXT NOT NULL,\n  size INTEGER NOT NULL,\n  layout TEXT NOT NULL,\n  records INTEGER NOT NULL,\n  schema_hash TEXT NOT NULL,\n  migrated_at TEXT NOT NULL\n)".to_string(),
        format!("CREATE TABLE IF NOT EXISTS _jsonlift_ledger (\n  id {id},\n  started_at TEXT NOT NULL,\n  finished_at TEXT NOT NULL,\n  action TEXT NOT NULL,\n  schema_hash TEXT NOT NULL,\n  sources TEXT NOT NULL,\n  backup TEXT,\n  version TEXT NOT NULL\n)"),
        format!("CREATE TABLE IF NOT EXISTS _jsonlift_audit (\n  id {id},\n  at TEXT NOT NULL,\n  collection TEXT NOT NULL,\n  key TEXT,\n  action TEXT NOT NULL,\n  old TEXT,\n  new TEXT,\n  actor TEXT,\n  request_id TEXT\n)"),
        "CREATE INDEX IF NOT EXISTS idx_jsonlift_audit_collection_key ON _jsonlift_audit (collection, key)".to_string(),
        "CREATE INDEX IF NOT EXISTS idx_jsonlift_audit_at ON _jsonlift_audit (at)".to_string(),
    ]
}
