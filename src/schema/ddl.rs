//! DDL derived from the schema, per dialect.

use super::{ColType, OnDelete, Role, Schema, Table};
use crate::store::Dialect;

/// Quotes an identifier: any name a JSON key can have is a valid column name.
pub fn quote(ident: &str) -> String {
    format!("\"{}\"", ident.replace('"', "\"\""))
}

/// `CREATE TABLE` for one table, in the form every SQLite client from 3.37 on, and the ORMs
/// that reflect it, read the same way:
/// - a JSON check passes NULL itself (`json_valid(NULL)` is 0 before SQLite 3.42, which made
///   every NULL in a nullable JSON column a constraint failure there);
/// - a generated integer key is `INTEGER NOT NULL PRIMARY KEY`: still the rowid, numbered by
///   the database on insert, and not nullable, which SQLAlchemy needs to insert without it;
/// - foreign keys are table constraints, whose actions reflection reports (inline ones lose
///   them in SQLAlchemy);
/// - a position or a TinyDB doc id that the database can fill (see [`create_triggers`]) is
///   nullable, so an app may leave it out;
/// - no UNIQUE group is declared twice.
pub fn create_table(t: &Table, d: Dialect) -> String {
    let mut lines = Vec::new();
    let mut fks = Vec::new();
    for (i, c) in t.columns.iter().enumerate() {
        let natural_int_pk = c.primary_key && c.role != Role::Id;
        let mut s = format!("{} {}", quote(&c.name), d.column_type(c.ty, natural_int_pk));
        if c.primary_key {
            s.push_str(" NOT NULL PRIMARY KEY");
        } else if c.not_null && !filled_by_database(t, i) {
            s.push_str(" NOT NULL");
        }
        if c.unique && !c.primary_key {
            s.push_str(" UNIQUE");
        }
        for check in &c.checks {
            s.push_str(&format!(" CHECK ({check})"));
        }
        if c.ty == ColType::Json && c.role != Role::Meta {
            if let Some(check) = d.json_check(&quote(&c.name)) {
                if c.not_null {
                    s.push_str(&format!(" CHECK ({check})"));
                } else {
                    s.push_str(&format!(" CHECK ({} IS NULL OR {check})", quote(&c.name)));
                }
            }
        }
        if let Some(fk) = &c.references {
            fks.push(format!(
                "FOREIGN KEY ({}) REFERENCES {}({}) ON DELETE {} ON UPDATE CASCADE",
                quote(&c.name),
                quote(&fk.table),
                quote(&fk.column),
                on_delete_sql(fk.on_delete)
            ));
        }
        lines.push(s);
    }
    let mut groups: Vec<&Vec<String>> = Vec::new();
    for group in &t.uniques {
        if !groups.contains(&group) {
            groups.push(group);
        }
    }
    for group in groups {
        let cols: Vec<String> = group.iter().map(|c| quote(c)).collect();
        lines.push(format!("UNIQUE ({})", cols.join(", ")));
    }
    lines.extend(fks);
    format!(
        "CREATE TABLE {} (\n  {}\n)",
        quote(&t.name),
        lines.join(",\n  ")
    )
}

pub fn on_delete_sql(o: OnDelete) -> &'static str {
    match o {
        OnDelete::Cascade => "CASCADE",
        OnDelete::SetNull => "SET NULL",
        OnDelete::Restrict => "RESTRICT",
    }
}

/// Whether column `i` of `t` may be left out by an app, the database filling it on insert (and
/// again when set to NULL): a child row's position (the end of its parent's array) and a TinyDB
/// doc id that is not the primary key (the largest plus one, as TinyDB numbers them). A doc id
/// that is the primary key stays NOT NULL: a nullable primary key is what ORMs cannot insert
/// into.
pub fn filled_by_database(t: &Table, i: usize) -> bool {
    let c = &t.columns[i];
    Some(i) == t.pos_col || (Some(i) == t.key_col && c.ty == ColType::Integer && !c.primary_key)
}

/// Whether column `i` of `t` may hold NULL: what [`create_table`] declares, for the models
/// `codegen` writes.
pub fn nullable(t: &Table, i: usize) -> bool {
    let c = &t.columns[i];
    !c.primary_key && (!c.not_null || filled_by_database(t, i))
}

/// The triggers that fill the columns of [`filled_by_database`] when an app leaves them NULL.
/// Created with the indexes, after a migration's load (whose rows all carry them).
pub fn create_triggers(t: &Table) -> Vec<String> {
    let mut out = Vec::new();
    for i in (0..t.columns.len()).filter(|&i| filled_by_database(t, i)) {
        let col = quote(&t.columns[i].name);
        let table = quote(&t.name);
        let siblings = match t.parent_col {
            Some(p) if Some(i) == t.pos_col => {
                format!(" WHERE {q} = NEW.{q}", q = quote(&t.columns[p].name))
            }
            _ => String::new(),
        };
        let next = format!(
            "(SELECT coalesce(max({col}) + 1, {start}) FROM {table}{siblings})",
            start = if Some(i) == t.pos_col { 0 } else { 1 }
        );
        for (when, event) in [
            ("insert", "AFTER INSERT"),
            ("update", &*format!("AFTER UPDATE OF {col}")),
        ] {
            out.push(format!(
                "CREATE TRIGGER IF NOT EXISTS {} {event} ON {table} WHEN NEW.{col} IS NULL BEGIN UPDATE {table} SET {col} = {next} WHERE rowid = NEW.rowid; END",
                quote(&format!("{}_{}_default_on_{when}", t.name, t.columns[i].name)),
            ));
        }
    }
    out
}

/// `CREATE INDEX` statements for one table, then its [`create_triggers`] (created after loading,
/// which is faster, except the partial [`extra_index`], which migrate creates first).
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
    out.extend(create_triggers(t));
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

/// `CREATE TABLE` as jsonlift wrote it before issue #13 (inline references, NULL failing JSON
/// checks before SQLite 3.42, nullable generated keys). Kept only to recognise a database made
/// then: its recorded schema fingerprint is of this text, and `migrate` rewrites such tables in
/// the current form ([`create_table`]).
pub fn create_table_v1(t: &Table) -> String {
    let mut lines = Vec::new();
    for c in &t.columns {
        let natural_int_pk = c.primary_key && c.role != Role::Id;
        let mut s = format!(
            "{} {}",
            quote(&c.name),
            Dialect::Sqlite.column_type(c.ty, natural_int_pk)
        );
        // Before #13, a required JSON field and a filled-in position carried no difference.
        let not_null = match c.ty {
            ColType::Json => false,
            _ => c.not_null,
        };
        if not_null && !c.primary_key {
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
            s.push_str(&format!(" CHECK (json_valid({}))", quote(&c.name)));
        }
        if let Some(fk) = &c.references {
            s.push_str(&format!(
                " REFERENCES {}({}) ON DELETE {} ON UPDATE CASCADE",
                quote(&fk.table),
                quote(&fk.column),
                on_delete_sql(fk.on_delete)
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
