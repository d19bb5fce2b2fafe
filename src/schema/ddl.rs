//! DDL derived from the schema, per dialect.

use super::dialect::Dialect;
use super::{ColType, OnDelete, Role, Schema, Table};

/// Quotes an identifier: any name a JSON key can have is a valid column name.
pub fn quote(ident: &str) -> String {
    format!("\"{}\"", ident.replace('"', "\"\""))
}

/// A text as an SQL string literal (for values from jsonlift.toml, such as a shared table's
/// types; values from records are always bound).
pub fn literal(v: &str) -> String {
    format!("'{}'", v.replace('\'', "''"))
}

/// The condition selecting a collection's own rows of a table it shares with others
/// (`"type" = 'persona'`); `None` for a table of its own.
pub fn only(t: &Table) -> Option<String> {
    let sh = t.shared.as_ref()?;
    Some(format!(
        "{} = {}",
        quote(&t.columns[sh.type_col].name),
        literal(&sh.value)
    ))
}

/// `AND <only>` for a statement that already has a WHERE (empty for a table of its own).
pub fn and_only(t: &Table) -> String {
    only(t).map(|c| format!(" AND {c}")).unwrap_or_default()
}

/// What a query reads table `t` from, under the table's name: the table itself, or for a
/// collection sharing its table with others ([`super::Shared`]) only its own rows, so that
/// every read and count through it sees no other collection's (SQLite flattens the subquery:
/// the table's indexes serve it as they serve the table).
pub fn from(t: &Table, d: Dialect) -> String {
    let name = quote(&t.name);
    match only(t) {
        None => name,
        // SQLite's rowid is named to be seen outside the subquery; PostgreSQL's is a column.
        Some(c) => match d {
            Dialect::Sqlite => format!("(SELECT rowid, * FROM {name} WHERE {c}) AS {name}"),
            Dialect::Postgres => format!("(SELECT * FROM {name} WHERE {c}) AS {name}"),
        },
    }
}

/// The value at `path` inside JSON column `col`, as SQL text where it is a JSON string: the
/// expression an index on the path ([`indexes`]) is built on and a filter on it is written
/// with, spelled the same in both so that the planner takes the index.
pub fn json_text(d: Dialect, col: &str, path: &[String]) -> String {
    match d {
        Dialect::Sqlite => format!(
            "json_extract({}, {})",
            quote(col),
            literal(&sqlite_path(path))
        ),
        Dialect::Postgres => format!("({} #>> {})", quote(col), literal(&pg_path(path))),
    }
}

/// The JSON type at `path` inside `col`: SQLite's `json_type` names (`text`, `array`, ...), or
/// PostgreSQL's `jsonb_typeof` (`string`, `array`, ...); NULL where the path is absent.
pub fn json_kind(d: Dialect, col: &str, path: &[String]) -> String {
    match d {
        Dialect::Sqlite => format!("json_type({}, {})", quote(col), literal(&sqlite_path(path))),
        Dialect::Postgres => format!(
            "jsonb_typeof({} #> {})",
            quote(col),
            literal(&pg_path(path))
        ),
    }
}

/// `$."a"."b"` (keys never hold `"`: [`super::Table::json_path`]).
fn sqlite_path(path: &[String]) -> String {
    let keys: Vec<String> = path.iter().map(|k| format!(".\"{k}\"")).collect();
    format!("${}", keys.join(""))
}

/// `{"a","b"}`, a text array.
fn pg_path(path: &[String]) -> String {
    let keys: Vec<String> = path
        .iter()
        .map(|k| format!("\"{}\"", k.replace('\\', "\\\\")))
        .collect();
    format!("{{{}}}", keys.join(","))
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
/// - no UNIQUE group is declared twice;
/// - a field's `default` is the column's `DEFAULT`, so that a row another client inserts
///   without it gets it too ([`super::defaults`]).
pub fn create_table(t: &Table, d: Dialect) -> String {
    table_sql(t, d, true)
}

/// [`create_table`] on PostgreSQL without the foreign keys, the primary key and the UNIQUE
/// constraints, for a table about to be filled in bulk: each index is then built in one sorted
/// pass by [`add_keys`] and each reference checked in one pass by [`add_foreign_keys`], not row
/// by row (an index kept up during a COPY cost a third of the server's time).
pub fn create_table_bare(t: &Table) -> String {
    table_sql(t, Dialect::Postgres, false)
}

/// The primary key and UNIQUE constraints [`create_table_bare`] left out, added to a filled
/// table (PostgreSQL): the same constraints under the same names as [`create_table`] declares.
pub fn add_keys(t: &Table) -> Vec<String> {
    let mut adds = Vec::new();
    if !has_generated_key(t) {
        adds.push(format!("ADD UNIQUE ({})", quote(PG_ROWID)));
    }
    for c in &t.columns {
        if c.primary_key {
            adds.push(format!("ADD PRIMARY KEY ({})", quote(&c.name)));
        } else if c.unique {
            adds.push(format!("ADD UNIQUE ({})", quote(&c.name)));
        }
    }
    for group in unique_groups(t) {
        let cols: Vec<String> = group.iter().map(|c| quote(c)).collect();
        adds.push(format!("ADD UNIQUE ({})", cols.join(", ")));
    }
    adds.into_iter()
        .map(|a| format!("ALTER TABLE {} {a}", quote(&t.name)))
        .collect()
}

/// The table's UNIQUE groups, each once.
fn unique_groups(t: &Table) -> Vec<&Vec<String>> {
    let mut groups: Vec<&Vec<String>> = Vec::new();
    for group in &t.uniques {
        if !groups.contains(&group) {
            groups.push(group);
        }
    }
    groups
}

/// The foreign keys of [`create_table`], added to a filled table (PostgreSQL).
pub fn add_foreign_keys(t: &Table) -> Vec<String> {
    foreign_keys(t, Dialect::Postgres)
        .into_iter()
        .map(|fk| format!("ALTER TABLE {} ADD {fk}", quote(&t.name)))
        .collect()
}

fn foreign_keys(t: &Table, d: Dialect) -> Vec<String> {
    t.columns
        .iter()
        .filter_map(|c| {
            let fk = c.references.as_ref()?;
            Some(format!(
                "FOREIGN KEY ({}) REFERENCES {}({}) ON DELETE {} ON UPDATE CASCADE{}",
                quote(&c.name),
                quote(&fk.table),
                quote(&fk.column),
                on_delete_sql(fk.on_delete),
                // So that a record's rows may go in before the rows they point at are checked.
                if d == Dialect::Postgres {
                    " DEFERRABLE INITIALLY IMMEDIATE"
                } else {
                    ""
                }
            ))
        })
        .collect()
}

/// `full`: with foreign keys and keys; else without both (a PostgreSQL table for a bulk load).
fn table_sql(t: &Table, d: Dialect, full: bool) -> String {
    let pg = d == Dialect::Postgres;
    // The key and UNIQUE constraints, unless added after a bulk load ([`add_keys`]).
    let keys = |s: &str| if full { s.to_string() } else { String::new() };
    let mut lines = Vec::new();
    if pg && !has_generated_key(t) {
        // PostgreSQL has no rowid: this column numbers the rows in the order they were added.
        lines.push(format!(
            "{} BIGINT GENERATED BY DEFAULT AS IDENTITY{}",
            quote(PG_ROWID),
            keys(" UNIQUE")
        ));
    }
    for (i, c) in t.columns.iter().enumerate() {
        let natural_int_pk = c.primary_key && c.role != Role::Id;
        let mut s = format!("{} {}", quote(&c.name), d.column_type(c.ty, natural_int_pk));
        if pg && c.primary_key && c.role == Role::Id {
            s.push_str(" GENERATED BY DEFAULT AS IDENTITY");
            s.push_str(&keys(" PRIMARY KEY"));
        } else if c.primary_key {
            s.push_str(" NOT NULL");
            s.push_str(&keys(" PRIMARY KEY"));
        } else if c.not_null && !filled_by_database(t, i) {
            s.push_str(" NOT NULL");
        }
        if let Some(default) = &c.default {
            s.push_str(&format!(" DEFAULT {}", default.sql(c.ty, d)));
        }
        if c.unique && !c.primary_key {
            s.push_str(&keys(" UNIQUE"));
        }
        for check in &c.checks {
            // A boolean is its own type there: 0/1 is SQLite's spelling of it.
            if pg && c.ty == ColType::Boolean && *check == format!("{} IN (0, 1)", quote(&c.name)) {
                continue;
            }
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
        lines.push(s);
    }
    if pg {
        // The exact text of JSON values that jsonb would store otherwise (key order, number
        // spellings): `{"column": "text", ...}`, NULL for most rows.
        lines.push(format!("{} TEXT", quote(PG_EXACT)));
    }
    if full {
        for group in unique_groups(t) {
            let cols: Vec<String> = group.iter().map(|c| quote(c)).collect();
            lines.push(format!("UNIQUE ({})", cols.join(", ")));
        }
        lines.extend(foreign_keys(t, d));
    }
    format!(
        "CREATE TABLE {} (\n  {}\n)",
        quote(&t.name),
        lines.join(",\n  ")
    )
}

/// On PostgreSQL, the column that numbers a table's rows in the order they were added, where
/// no generated key does ([`has_generated_key`]).
pub const PG_ROWID: &str = "_rowid";
/// On PostgreSQL, the column holding the exact text of JSON values jsonb would not keep as
/// written.
pub const PG_EXACT: &str = "_exact";

/// Whether the table's key is a generated integer (`_id`): it is then also the row order.
pub fn has_generated_key(t: &Table) -> bool {
    t.columns
        .iter()
        .any(|c| c.role == Role::Id && c.primary_key)
}

/// The column that orders a table's rows as they were added, in dialect `d`.
pub fn rowid_column(t: &Table, d: Dialect) -> String {
    match d {
        Dialect::Sqlite => "rowid".into(),
        Dialect::Postgres => match t
            .columns
            .iter()
            .find(|c| c.role == Role::Id && c.primary_key)
        {
            Some(c) => quote(&c.name),
            None => quote(PG_ROWID),
        },
    }
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
    triggers(t, Dialect::Sqlite)
}

/// [`create_triggers`] in dialect `d`. PostgreSQL's trigger fills the value before the row is
/// written, through a function of its own.
pub fn triggers(t: &Table, d: Dialect) -> Vec<String> {
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
        let name = |when: &str| {
            quote(&format!(
                "{}_{}_default_on_{when}",
                t.name, t.columns[i].name
            ))
        };
        match d {
            Dialect::Sqlite => {
                for (when, event) in [
                    ("insert", "AFTER INSERT".to_string()),
                    ("update", format!("AFTER UPDATE OF {col}")),
                ] {
                    out.push(format!(
                        "CREATE TRIGGER IF NOT EXISTS {} {event} ON {table} WHEN NEW.{col} IS NULL BEGIN UPDATE {table} SET {col} = {next} WHERE rowid = NEW.rowid; END",
                        name(when),
                    ));
                }
            }
            Dialect::Postgres => {
                let f = name("write");
                // The body names the table unqualified: pinned to the search_path it is created
                // with (jsonlift's connection puts `pg_schema` there), it finds the table from
                // an app's connection too, which does not (and may have a table of the same
                // name in `public`).
                out.push(format!(
                    "CREATE OR REPLACE FUNCTION {f}() RETURNS trigger LANGUAGE plpgsql SET search_path FROM CURRENT AS $$ BEGIN IF NEW.{col} IS NULL THEN NEW.{col} := {next}; END IF; RETURN NEW; END $$"
                ));
                out.push(format!(
                    "CREATE OR REPLACE TRIGGER {f} BEFORE INSERT OR UPDATE OF {col} ON {table} FOR EACH ROW EXECUTE FUNCTION {f}()"
                ));
            }
        }
    }
    out
}

/// `CREATE INDEX` statements for one table, then its [`create_triggers`] (created after loading,
/// which is faster, except the partial [`extra_index`], which migrate creates first).
pub fn create_indexes(t: &Table) -> Vec<String> {
    indexes(t, Dialect::Sqlite)
}

/// [`create_indexes`] in dialect `d`.
pub fn indexes(t: &Table, d: Dialect) -> Vec<String> {
    let mut out = Vec::new();
    let mut add = |cols: &[String]| {
        let name = format!("idx_{}_{}", t.name, cols.join("_"));
        // A path into JSON is indexed by the expression a filter on it is written with.
        let list: Vec<String> = cols
            .iter()
            .map(|c| match t.json_path(c) {
                Some((col, path)) => json_text(d, &t.columns[col].name, &path),
                None => quote(c),
            })
            .collect();
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
    out.extend(triggers(t, d));
    out
}

/// A partial index of the rows that hold keys the schema does not name: whether any record
/// holds such a key (json-server's `_page` is one a list request asks about every time) is
/// then found without scanning the table, and costs nothing while no record has one.
pub fn extra_index(t: &Table) -> Option<String> {
    // A shared table's `document` holds every record: every row would be in it.
    if t.shared.is_some() {
        return None;
    }
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
            if !s.creates(t) {
                continue;
            }
            out.push(create_table(&s.tables[t], d));
            out.extend(indexes(&s.tables[t], d));
        }
    }
    out
}

/// jsonlift's own tables: the source layouts, the run ledger and the audit log.
pub fn internal_tables(d: Dialect) -> Vec<String> {
    let (id, int) = match d {
        Dialect::Sqlite => ("INTEGER PRIMARY KEY", "INTEGER"),
        Dialect::Postgres => ("BIGSERIAL PRIMARY KEY", "BIGINT"),
    };
    vec![
        format!("CREATE TABLE IF NOT EXISTS _jsonlift_sources (\n  path TEXT NOT NULL PRIMARY KEY,\n  format TEXT NOT NULL,\n  sha256 TEXT NOT NULL,\n  size {int} NOT NULL,\n  layout TEXT NOT NULL,\n  records {int} NOT NULL,\n  schema_hash TEXT NOT NULL,\n  migrated_at TEXT NOT NULL\n)"),
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
