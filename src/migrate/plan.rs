//! The plan of a schema evolution: what changed in jsonlift.toml since the database's tables
//! were made, collection by collection, and how each change is applied in place (issue #17).
//! The database keeps the `[collections]` its tables were made from
//! ([`bookkeeping::saved_schema`]); the plan compares that schema with the project file's.
//! A collection is changed with `ALTER TABLE` where SQLite can do the whole change that way
//! (fields added that no record holds yet, indexes), and otherwise rebuilt: its records are
//! read, carried to the new tables and compared (see [`super::evolve`]). On PostgreSQL the
//! statements are PostgreSQL's, and far more is done in place ([`super::plan_pg`]).
//! `jsonlift plan` prints this; `migrate` applies it.

use std::collections::{BTreeSet, HashMap};

use anyhow::{Context, bail};

use indexmap::IndexMap;

use crate::config::{FieldConfig, Project};
use crate::schema::ddl::{create_indexes, create_table, quote};
use crate::schema::fingerprint::{SchemaState, schema_hash, schema_hash_without_defaults};
use crate::schema::{Column, Role, Schema, Table};
use crate::store::Dialect;
use crate::store::backend::SourceState;

/// How one collection's tables are changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// `ALTER TABLE … ADD COLUMN` and `CREATE INDEX`: the rows stay as they are.
    Alter,
    /// SQLite's table-rebuild procedure: new tables, every record carried over, old tables
    /// dropped, new ones renamed.
    Rebuild,
}

/// The change of one collection that is in both schemas.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Change {
    pub collection: String,
    #[serde(skip)]
    pub old_ci: usize,
    #[serde(skip)]
    pub new_ci: usize,
    pub mode: Mode,
    /// What changed, in words.
    pub summary: Vec<String>,
    /// The statements that change the tables (in rebuild mode, around the carrying of the
    /// records, which is said in a comment).
    pub sql: Vec<String>,
}

/// A collection jsonlift.toml no longer names: its tables are dropped (a database backup is
/// taken before).
#[derive(Debug, Clone, serde::Serialize)]
pub struct Dropped {
    pub collection: String,
    pub source: String,
    pub tables: Vec<String>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Plan {
    #[serde(skip)]
    pub old: Schema,
    #[serde(skip)]
    pub new: Schema,
    pub changes: Vec<Change>,
    pub dropped: Vec<Dropped>,
    /// New collections with a new source: loaded from their files.
    pub added: Vec<String>,
    /// The sources (of the new schema) whose collections change: their recorded schema
    /// fingerprint is replaced.
    #[serde(skip)]
    pub sources: Vec<usize>,
    /// The `[collections]` of jsonlift.toml as the database will keep them.
    #[serde(skip)]
    pub saved: String,
    /// On PostgreSQL, the schema the tables are in: the statements are PostgreSQL's, qualified
    /// with it ([`super::plan_pg`]).
    #[serde(skip)]
    pub pg_schema: Option<String>,
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty() && self.dropped.is_empty()
    }

    /// Every statement, in order, with the record carrying in comments.
    pub fn sql(&self) -> Vec<String> {
        let mut out = Vec::new();
        for c in &self.changes {
            out.push(format!(
                "-- {} ({})",
                c.collection,
                match c.mode {
                    Mode::Alter => "altered in place",
                    Mode::Rebuild => "rebuilt, records carried over",
                }
            ));
            out.extend(c.sql.iter().cloned());
        }
        for d in &self.dropped {
            out.push(format!("-- {} (dropped)", d.collection));
            for t in d.tables.iter().rev() {
                out.push(format!("DROP TABLE {}", self.qualified(t)));
            }
        }
        out
    }

    /// Table `t` as the plan's statements name it: qualified with the PostgreSQL schema.
    pub fn qualified(&self, t: &str) -> String {
        match &self.pg_schema {
            Some(s) => format!("{}.{}", quote(s), quote(t)),
            None => quote(t),
        }
    }

    /// The summary, one line per change.
    pub fn summary(&self) -> Vec<String> {
        let mut out = Vec::new();
        for c in &self.changes {
            for s in &c.summary {
                out.push(format!("{}: {s}", c.collection));
            }
        }
        for d in &self.dropped {
            out.push(format!(
                "{}: removed from jsonlift.toml; tables {} are dropped (the database backup taken before keeps them)",
                d.collection,
                d.tables.join(", ")
            ));
        }
        for a in &self.added {
            out.push(format!("{a}: new; loaded from its source file"));
        }
        out
    }
}

/// The `[collections]` (and `max_depth`, which shapes them) of the project file as TOML: what
/// the database keeps to compare a later jsonlift.toml with. The rest (tokens, database URL)
/// stays out of the database.
pub fn saved_toml(project: &Project) -> anyhow::Result<String> {
    let text = std::fs::read_to_string(&project.path)
        .with_context(|| format!("reading {}", project.path.display()))?;
    let table: toml::Table =
        toml::from_str(&text).with_context(|| format!("parsing {}", project.path.display()))?;
    // Each value inline: a table serializer would move sub-tables after plain keys, and the
    // order of fields is the order of columns and of the keys in a record.
    let mut kept = String::new();
    for key in ["max_depth", "collections"] {
        if let Some(v) = table.get(key) {
            kept.push_str(&format!("{key} = {v}\n"));
        }
    }
    Ok(kept)
}

/// The schema the database's tables were made from, rebuilt from the kept `[collections]`.
pub fn old_schema(project: &Project, saved: &str) -> anyhow::Result<Schema> {
    let old = Project::parse(&project.path, saved)
        .context("reading the jsonlift.toml the database was migrated with")?;
    Schema::build(&old).context("rebuilding the schema the database was migrated with")
}

/// The sources of `schema` whose recorded schema differs from the project file's.
pub fn changed_sources(schema: &Schema, recorded: &HashMap<String, SourceState>) -> Vec<usize> {
    super::upgrade::sources_in(schema, recorded, SchemaState::Changed)
}

/// The plan from `old` (the database's schema) to `new` (the project file's), for the
/// collections of the `changed` sources of `new` and the collections `new` no longer has.
/// `holds(collection, field)`: whether any record of the old collection holds a top-level
/// field (such a field cannot simply be added as a column: its values must move there).
pub fn build(
    project: &Project,
    old: Schema,
    new: Schema,
    changed: &[usize],
    recorded: &HashMap<String, SourceState>,
    saved: String,
    holds: &mut dyn FnMut(&Schema, usize, &str) -> anyhow::Result<bool>,
    pg_schema: Option<&str>,
) -> anyhow::Result<Plan> {
    let old = without_sql_defaults(old, recorded);
    let mut changes = Vec::new();
    let mut added = Vec::new();
    for (ci, c) in new.collections.iter().enumerate() {
        let known = recorded.contains_key(&new.sources[c.source].display);
        let old_ci = old.collections.iter().position(|o| o.name == c.name);
        match (known, old_ci) {
            (false, _) => added.push(c.name.clone()),
            (true, None) if changed.contains(&c.source) => bail!(
                "collection {} is new, but its source {} already feeds collections of the database; a collection added to a migrated source is not loaded by a plan: run `jsonlift migrate --reimport` to load that source again (edits made through the API to its other collections are then replaced)",
                c.name,
                new.sources[c.source].display
            ),
            (true, Some(oci)) if changed.contains(&c.source) => {
                let fields = &project.config.collections[&c.name].fields;
                let change = match pg_schema {
                    None => change_of(&old, oci, &new, ci, fields, holds)?,
                    Some(s) => change_of(&old, oci, &new, ci, fields, &mut |_, _, _| Ok(true))?
                        .map(|c| super::plan_pg::change(c, &old, &new, fields, s)),
                };
                if let Some(change) = change {
                    changes.push(change);
                }
            }
            _ => {}
        }
    }
    let mut dropped = Vec::new();
    for (oci, c) in old.collections.iter().enumerate() {
        if new.collections.iter().any(|n| n.name == c.name) {
            continue;
        }
        let source = old.sources[c.source].display.clone();
        if !recorded.contains_key(&source) {
            continue;
        }
        dropped.push(Dropped {
            collection: c.name.clone(),
            source,
            tables: old
                .tables_of(oci)
                .into_iter()
                .map(|t| old.tables[t].name.clone())
                .collect(),
        });
    }
    // A table of a dropped collection that a collection of the new schema now has is not
    // dropped (the collection was renamed, or moved to another source).
    let new_tables: BTreeSet<String> = new.tables.iter().map(|t| t.name.to_lowercase()).collect();
    for d in &mut dropped {
        d.tables.retain(|t| !new_tables.contains(&t.to_lowercase()));
    }
    Ok(Plan {
        old,
        new,
        changes,
        dropped,
        added,
        sources: changed.to_vec(),
        saved,
        pg_schema: pg_schema.map(str::to_string),
    })
}

/// `old` with the SQL `DEFAULT`s left out of the tables of each source migrated before fields'
/// defaults were declared on their columns: those tables have none, and are rebuilt with them.
fn without_sql_defaults(mut old: Schema, recorded: &HashMap<String, SourceState>) -> Schema {
    for si in 0..old.sources.len() {
        let made_without = recorded.get(&old.sources[si].display).is_some_and(|s| {
            s.schema_hash != schema_hash(&old, si)
                && s.schema_hash == schema_hash_without_defaults(&old, si)
        });
        if !made_without {
            continue;
        }
        for ci in (0..old.collections.len()).filter(|&ci| old.collections[ci].source == si) {
            for t in old.tables_of(ci) {
                for c in &mut old.tables[t].columns {
                    c.default = None;
                }
            }
        }
    }
    old
}

/// What makes a column what it is in the database, apart from its index.
pub(super) fn signature(c: &Column) -> String {
    format!(
        "{}|{:?}|{:?}|{}|{}|{}|{:?}|{:?}|{:?}",
        c.name,
        c.ty,
        c.role,
        c.not_null,
        c.unique,
        c.primary_key,
        c.checks,
        c.references,
        c.default
    )
}

/// The field a column holds, as messages name it.
pub(super) fn field_name(t: &Table, c: &Column) -> String {
    match c.role {
        Role::Field if !c.field_path.is_empty() => match t.parent_path.is_empty() {
            true => c.field_path.join("."),
            false => format!("{}[].{}", t.parent_path.join("."), c.field_path.join(".")),
        },
        _ => format!("column {}", c.name),
    }
}

fn type_name(c: &Column) -> String {
    format!(
        "{}{}{}{}{}",
        format!("{:?}", c.ty).to_lowercase(),
        if c.not_null { ", required" } else { "" },
        match &c.default {
            Some(d) => format!(", default {}", d.sql(c.ty, Dialect::Sqlite)),
            None => String::new(),
        },
        if c.unique { ", unique" } else { "" },
        if c.checks.is_empty() {
            String::new()
        } else {
            format!(", check {}", c.checks.join(" AND "))
        }
    )
}

fn change_of(
    old: &Schema,
    oci: usize,
    new: &Schema,
    nci: usize,
    renamed: &IndexMap<String, FieldConfig>,
    holds: &mut dyn FnMut(&Schema, usize, &str) -> anyhow::Result<bool>,
) -> anyhow::Result<Option<Change>> {
    let old_tables: Vec<&Table> = old
        .tables_of(oci)
        .into_iter()
        .map(|t| &old.tables[t])
        .collect();
    let new_tables: Vec<&Table> = new
        .tables_of(nci)
        .into_iter()
        .map(|t| &new.tables[t])
        .collect();
    let ddl_same = old_tables.len() == new_tables.len()
        && old_tables.iter().zip(&new_tables).all(|(a, b)| {
            create_table(a, Dialect::Sqlite) == create_table(b, Dialect::Sqlite)
                && create_indexes(a) == create_indexes(b)
        });
    let oc = &old.collections[oci];
    let nc = &new.collections[nci];
    if ddl_same && oc.format == nc.format && oc.key_field == nc.key_field {
        return Ok(None);
    }
    let mut summary = Vec::new();
    // Fields, by the name they have in the records.
    let fields = |tables: &[&Table]| -> Vec<(String, String, String)> {
        let mut out = Vec::new();
        for t in tables {
            for c in &t.columns {
                if c.role == Role::Field {
                    out.push((field_name(t, c), t.name.clone(), type_name(c)));
                }
            }
        }
        out
    };
    let (of, nf) = (fields(&old_tables), fields(&new_tables));
    let renames = renames_of(renamed);
    // An array's own table, by the field that holds it.
    let child_of = |ts: &[&Table], name: &str| -> Option<String> {
        ts.iter()
            .find(|t| t.parent.is_some() && t.parent_path.join(".") == name)
            .map(|t| t.name.clone())
    };
    for (name, table, ty) in &nf {
        match of.iter().find(|(n, ..)| n == name) {
            None => match renames.iter().find(|(to, _)| to == name) {
                Some((_, from)) => summary.push(format!("field {from} renamed to {name}")),
                // Said with the table it comes from, below.
                None if child_of(&old_tables, name).is_some() => {}
                None => summary.push(format!("field {name} added ({ty}, table {table})")),
            },
            Some((_, otable, oty)) => {
                if oty != ty {
                    summary.push(format!("field {name}: {oty} → {ty}"));
                }
                if otable != table {
                    summary.push(format!(
                        "field {name} moved from table {otable} to table {table}"
                    ));
                }
            }
        }
    }
    for (name, table, _) in &of {
        if nf.iter().any(|(n, ..)| n == name) || renames.iter().any(|(_, from)| from == name) {
            continue;
        }
        summary.push(match child_of(&new_tables, name) {
            Some(child) => format!(
                "field {name} moved from a JSON column of table {table} into its own table {child} (one row per element)"
            ),
            None => format!(
                "field {name} no longer declared (was in table {table}); its values stay in the records (column _extra)"
            ),
        });
    }
    let names = |ts: &[&Table]| -> Vec<String> { ts.iter().map(|t| t.name.clone()).collect() };
    for t in new_tables
        .iter()
        .filter(|t| !names(&old_tables).contains(&t.name))
    {
        let field = t.parent_path.join(".");
        if !of.iter().any(|(n, ..)| *n == field) {
            summary.push(format!(
                "table {} added (field {field} now stored as rows)",
                t.name
            ));
        }
    }
    for t in old_tables
        .iter()
        .filter(|t| !names(&new_tables).contains(&t.name))
    {
        let field = t.parent_path.join(".");
        summary.push(match nf.iter().find(|(n, ..)| *n == field) {
            Some((_, table, _)) => format!(
                "field {field} folded back from table {} into a JSON column of table {table}",
                t.name
            ),
            None => format!(
                "table {} removed (its rows fold back into their records)",
                t.name
            ),
        });
    }
    for (a, b) in old_tables
        .iter()
        .zip(&new_tables)
        .filter(|(a, b)| a.name == b.name)
    {
        for i in create_indexes(b) {
            if !create_indexes(a).contains(&i) && i.starts_with("CREATE INDEX") {
                summary.push(format!("index added: {i}"));
            }
        }
        if a.uniques != b.uniques {
            summary.push(format!(
                "unique groups of table {}: {:?} → {:?}",
                b.name, a.uniques, b.uniques
            ));
        }
    }
    if oc.key_field != nc.key_field || oc.format != nc.format {
        summary.push("key or format changed".into());
    }
    if summary.is_empty() {
        summary.push("table definitions changed".into());
    }

    // ALTER TABLE does it when only the root table changes, by columns appended that no
    // record holds yet (no value to move, none to fill) and indexes.
    let mut alter = Vec::new();
    let mut can_alter = renames.is_empty()
        && oc.format == nc.format
        && oc.key_field == nc.key_field
        && old_tables.len() == new_tables.len()
        && old_tables
            .iter()
            .zip(&new_tables)
            .all(|(a, b)| a.name == b.name);
    if can_alter {
        for (k, (a, b)) in old_tables.iter().zip(&new_tables).enumerate() {
            let old_cols: Vec<String> = a.columns.iter().map(signature).collect();
            let kept: Vec<String> = b
                .columns
                .iter()
                .filter(|c| old_cols.contains(&signature(c)))
                .map(signature)
                .collect();
            if kept != old_cols || a.uniques != b.uniques {
                can_alter = false;
                break;
            }
            let ddl = create_table(b, Dialect::Sqlite);
            for c in b
                .columns
                .iter()
                .filter(|c| !old_cols.contains(&signature(c)))
            {
                let simple = k == 0
                    && c.role == Role::Field
                    && c.field_path.len() == 1
                    && !c.not_null
                    && !c.unique
                    && !c.primary_key
                    && c.references.is_none();
                let field = b.fields.iter().find(|f| f.name == c.field_path[0]);
                if !simple
                    || field.is_none_or(|f| f.default.is_some())
                    || holds(old, oci, &c.field_path[0])?
                {
                    can_alter = false;
                    break;
                }
                let prefix = format!("{} ", quote(&c.name));
                let def = ddl
                    .lines()
                    .map(|l| l.trim().trim_end_matches(','))
                    .find(|l| l.starts_with(&prefix))
                    .context("column definition")?;
                alter.push(format!("ALTER TABLE {} ADD COLUMN {def}", quote(&b.name)));
            }
            if !can_alter {
                break;
            }
            for i in create_indexes(b) {
                if !create_indexes(a).contains(&i) {
                    alter.push(i);
                }
            }
            for i in create_indexes(a) {
                if !create_indexes(b).contains(&i)
                    && let Some(name) = index_name(&i)
                {
                    alter.push(format!("DROP INDEX IF EXISTS {name}"));
                }
            }
        }
    }
    let (mode, sql) = if can_alter {
        (Mode::Alter, alter)
    } else {
        let mut sql = Vec::new();
        for t in &new_tables {
            sql.push(create_table(t, Dialect::Sqlite).replacen(
                &quote(&t.name),
                &quote(&temp_name(&t.name)),
                1,
            ));
        }
        sql.push(format!(
            "-- every record of {} is read from the old tables, changed as jsonlift.toml says (renames, defaults), checked and written into the new ones with its rowid",
            nc.name
        ));
        for t in old_tables.iter().rev() {
            sql.push(format!("DROP TABLE {}", quote(&t.name)));
        }
        for t in &new_tables {
            sql.push(format!(
                "ALTER TABLE {} RENAME TO {}",
                quote(&temp_name(&t.name)),
                quote(&t.name)
            ));
        }
        for t in &new_tables {
            sql.extend(create_indexes(t));
        }
        sql.push(format!(
            "-- every record of {} is read back from the new tables and compared with what it was",
            nc.name
        ));
        (Mode::Rebuild, sql)
    };
    Ok(Some(Change {
        collection: nc.name.clone(),
        old_ci: oci,
        new_ci: nci,
        mode,
        summary,
        sql,
    }))
}

/// The name of the index a `CREATE INDEX` statement makes.
pub(super) fn index_name(sql: &str) -> Option<&str> {
    let rest = sql.strip_prefix("CREATE INDEX IF NOT EXISTS ")?;
    rest.split(" ON ").next()
}

/// The name a table is built under before it replaces `name`.
pub fn temp_name(name: &str) -> String {
    format!("_jsonlift_evolve_{name}")
}

/// `(new name, old name)` of every field with `renamed_from` in `fields`, named as
/// [`field_name`] names them.
pub fn renames_of(fields: &IndexMap<String, FieldConfig>) -> Vec<(String, String)> {
    let mut out = Vec::new();
    walk_renames(fields, "", &mut out);
    out
}

fn walk_renames(fields: &IndexMap<String, FieldConfig>, at: &str, out: &mut Vec<(String, String)>) {
    for (name, fc) in fields {
        let spec = fc.spec();
        if let Some(from) = &spec.renamed_from {
            out.push((format!("{at}{name}"), format!("{at}{from}")));
        }
        match spec.ty.as_str() {
            "object" => walk_renames(&spec.fields, &format!("{at}{name}."), out),
            "array" => walk_renames(&spec.fields, &format!("{at}{name}[]."), out),
            _ => {}
        }
    }
}

/// The schema fingerprint of `si` in `schema` (what the ledger records after the plan).
pub fn hash(schema: &Schema, si: usize) -> String {
    schema_hash(schema, si)
}
