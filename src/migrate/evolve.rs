//! Schema evolution in place (issue #17): applies a [`Plan`] to the live database inside the
//! migration's transaction (SQLite here; PostgreSQL's statements through [`apply_in_place`]). The database is the truth once migrated (records edited through
//! the API live only there), so nothing is read from the source files: every record of a
//! changed collection is read from its tables under the old schema, changed as jsonlift.toml
//! says (`renamed_from`, and `default` for the fields it adds), checked under the new schema,
//! carried over (or left where it is when `ALTER TABLE` does the change), and read back under
//! the new schema and compared with what it should be. A record that the new schema refuses stops everything before a
//! single write, and every such record is listed.

use std::collections::HashMap;

use anyhow::{Context, bail};
use indexmap::IndexMap;

use sha2::Digest;

use super::numbered::{self, SqlFile};
use super::plan::{Mode, Plan, temp_name};
use crate::config::{FieldConfig, Project};
use crate::json::{JsonPath, Seg, Value};
use crate::schema::ddl::create_indexes;
use crate::schema::rebuild::{rebuild, rebuilds_to};
use crate::schema::shred::{Cell, Ids, Row, shred};
use crate::schema::statements::table_sql;
use crate::schema::{Role, Schema};
use crate::store::StoreError;
use crate::store::Tx;
use crate::store::backend::{SourceState, pages};
use crate::store::cursor::children_of;
use crate::store::sqlite_migration::SqliteMigration;

/// One record as it is and as the new schema will hold it.
pub struct Carried {
    pub rowid: i64,
    /// The record's key in its source file (object key, TinyDB id, file name), if it has one.
    pub file_key: Option<String>,
    /// How messages name the record.
    pub label: String,
    pub expected: Value,
}

/// The records of every changed collection, read and changed, by index of
/// [`Plan::changes`].
pub struct Carry {
    pub records: Vec<Vec<Carried>>,
}

/// A plan that existing records do not fit: each line names a record, a field and its value.
#[derive(Debug)]
pub struct Refused(pub Vec<String>);

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the new jsonlift.toml does not fit {} existing record(s); nothing was changed:\n  {}\nGive new required fields a `default = …`, or change these records first (through the API, or in a numbered SQL migration applied with the old jsonlift.toml)",
            self.0.len(),
            self.0.join("\n  ")
        )
    }
}

impl std::error::Error for Refused {}

/// Reads every record of the changed collections under the old schema and changes it as the
/// new jsonlift.toml says; refuses ([`Refused`]) when any does not fit the new schema.
pub fn read_and_check(tx: &dyn Tx, project: &Project, plan: &Plan) -> anyhow::Result<Carry> {
    let mut records = Vec::new();
    let mut refused = Vec::new();
    for change in &plan.changes {
        let cfg = &project.config.collections[&change.collection];
        let mut out = Vec::new();
        let nc = &plan.new.collections[change.new_ci];
        let mut unique = Uniques::default();
        for (rowid, file_key, value) in read_all(tx, &plan.old, change.old_ci)? {
            let mut expected = value;
            if let Value::Object(o) = &mut expected {
                rename(&cfg.fields, o);
                let root = &plan.new.tables[nc.table];
                let old_root = &plan.old.tables[plan.old.collections[change.old_ci].table];
                crate::schema::defaults::fill_new(
                    &plan.new,
                    &root.fields,
                    Some((&plan.old, &old_root.fields)),
                    o,
                );
            }
            let label = label(
                &plan.new,
                change.new_ci,
                rowid,
                file_key.as_deref(),
                &expected,
            );
            let mut ids = Ids::new(plan.new.tables.len());
            match shred(
                &plan.new,
                change.new_ci,
                file_key.as_deref(),
                &expected,
                &mut ids,
            ) {
                Ok(rows) => unique.add(&plan.new, &rows, out.len()),
                Err(errors) => {
                    for e in errors {
                        refused.push(format!(
                            "{} {label}: {}: {}{}",
                            change.collection,
                            e.path,
                            e.message,
                            value_at(&expected, &e.path)
                                .map(|v| format!(
                                    " (value {})",
                                    crate::json::write::to_compact_string(v)
                                ))
                                .unwrap_or_default()
                        ));
                    }
                }
            }
            out.push(Carried {
                rowid,
                file_key,
                label,
                expected,
            });
        }
        refused.extend(unique.refused(&plan.new, &change.collection, &out));
        records.push(out);
    }
    if !refused.is_empty() {
        return Err(Refused(refused).into());
    }
    Ok(Carry { records })
}

/// The values of a collection's UNIQUE fields, groups and keys under the new schema, each with
/// the records that hold it: a UNIQUE constraint added over duplicates is refused listing every
/// record that holds a duplicate, on both backends (the database itself would name one pair, or
/// only the later records).
#[derive(Default)]
struct Uniques {
    /// By table: its UNIQUE column groups ([`Uniques::groups_of`]), worked out once.
    groups: HashMap<usize, Vec<Vec<usize>>>,
    /// By table, group (its place in `groups`) and value: the records holding it.
    held: HashMap<(usize, usize, Vec<String>), Vec<usize>>,
}

impl Uniques {
    /// The UNIQUE column groups of table `t` that hold record values (not the parent and position
    /// of a child row, which are unique by construction).
    fn groups_of(t: &crate::schema::Table) -> Vec<Vec<usize>> {
        let structural = |c: usize| Some(c) == t.parent_col || Some(c) == t.pos_col;
        let mut groups: Vec<Vec<usize>> = Vec::new();
        for (i, c) in t.columns.iter().enumerate() {
            if (c.unique || c.primary_key) && c.role != Role::Id && !structural(i) {
                groups.push(vec![i]);
            }
        }
        for g in &t.uniques {
            let cols: Option<Vec<usize>> = g.iter().map(|n| t.col(n)).collect();
            if let Some(cols) = cols
                && !cols.iter().any(|&c| structural(c))
                && !groups.contains(&cols)
            {
                groups.push(cols);
            }
        }
        groups
    }

    /// Records the values of record number `record`'s rows.
    fn add(&mut self, schema: &Schema, rows: &[Row], record: usize) {
        for row in rows {
            let groups = self
                .groups
                .entry(row.table)
                .or_insert_with(|| Self::groups_of(&schema.tables[row.table]));
            for (g, group) in groups.iter().enumerate() {
                let mut key = Vec::with_capacity(group.len());
                for &c in group {
                    key.push(match &row.cells[c] {
                        // SQL's UNIQUE lets any number of rows hold NULL.
                        Cell::Null => break,
                        Cell::Int(i) => format!("i{i}"),
                        Cell::Real(r) => format!("r{}", r.to_bits()),
                        Cell::Text(t) => format!("t{t}"),
                    });
                }
                if key.len() < group.len() {
                    continue;
                }
                let holders = self.held.entry((row.table, g, key)).or_default();
                if holders.last() != Some(&record) {
                    holders.push(record);
                }
            }
        }
    }

    /// A line for every record that shares a unique value with another.
    fn refused(&self, schema: &Schema, collection: &str, records: &[Carried]) -> Vec<String> {
        let mut lines: Vec<(usize, String)> = Vec::new();
        for ((t, g, key), holders) in &self.held {
            let group = &self.groups[t][*g];
            if holders.len() < 2 {
                continue;
            }
            let shown: Vec<String> = key
                .iter()
                .map(|k| match k.split_at(1) {
                    ("t", text) => {
                        crate::json::write::to_compact_string(&Value::String(text.into()))
                    }
                    ("r", bits) => f64::from_bits(bits.parse().unwrap_or_default()).to_string(),
                    (_, int) => int.to_string(),
                })
                .collect();
            let t = &schema.tables[*t];
            let names: Vec<String> = group
                .iter()
                .map(|&c| {
                    let col = &t.columns[c];
                    if t.parent.is_none() && !col.field_path.is_empty() {
                        format!("$.{}", col.field_path.join("."))
                    } else {
                        format!("{}.{}", t.name, col.name)
                    }
                })
                .collect();
            for &r in holders {
                let others: Vec<&str> = holders
                    .iter()
                    .filter(|&&o| o != r)
                    .take(3)
                    .map(|&o| records[o].label.as_str())
                    .collect();
                let more = holders.len() - 1 - others.len();
                lines.push((
                    r,
                    format!(
                        "{collection} {}: {}: not unique, the same as {}{} (value {})",
                        records[r].label,
                        names.join(", "),
                        others.join(", "),
                        if more > 0 {
                            format!(" and {more} more")
                        } else {
                            String::new()
                        },
                        shown.join(", ")
                    ),
                ));
            }
        }
        lines.sort();
        lines.into_iter().map(|(_, l)| l).collect()
    }
}

/// Applies the plan on `db`, inside the caller's transaction (foreign keys off: dropping a
/// table others refer to would otherwise cascade), then checks every record and reference.
pub fn apply(db: &SqliteMigration, plan: &Plan, carry: &Carry) -> anyhow::Result<()> {
    // A rename must not rewrite the references other tables make to the table being replaced.
    db.keeping_references(|| apply_inner(db, plan, carry))
}

fn apply_inner(db: &SqliteMigration, plan: &Plan, carry: &Carry) -> anyhow::Result<()> {
    for (change, records) in plan.changes.iter().zip(&carry.records) {
        match change.mode {
            Mode::Alter => {
                for sql in &change.sql {
                    db.run_ddl(sql)
                        .with_context(|| format!("{}: {sql}", change.collection))?;
                }
            }
            Mode::Rebuild => rebuild_collection(db, plan, change.old_ci, change.new_ci, records)
                .with_context(|| format!("rebuilding the tables of {}", change.collection))?,
        }
    }
    for d in &plan.dropped {
        for t in d.tables.iter().rev() {
            db.drop_table(t)?;
        }
    }
    check_records(&db.tx(), plan, carry)?;
    let broken = db.foreign_key_check()?;
    if !broken.is_empty() {
        let lines: Vec<String> = broken
            .iter()
            .take(50)
            .map(|(t, rowid, parent)| {
                format!(
                    "  table {t}, row {}: refers to a missing row of {parent}",
                    rowid.unwrap_or(0)
                )
            })
            .collect();
        bail!(
            "after the change, {} reference(s) point at nothing; nothing was changed:\n{}",
            broken.len(),
            lines.join("\n")
        );
    }
    Ok(())
}

/// Every record of the changed collections, read back under the new schema in its order, is
/// what it should be.
pub fn check_records(tx: &dyn Tx, plan: &Plan, carry: &Carry) -> anyhow::Result<()> {
    let new = &plan.new;
    for (change, records) in plan.changes.iter().zip(&carry.records) {
        let ti = new.collections[change.new_ci].table;
        let t = &new.tables[ti];
        let count = tx.count(t)?;
        if count != records.len() as u64 {
            bail!(
                "{}: {} records before, {count} after; nothing was changed",
                change.collection,
                records.len()
            );
        }
        let mut fetch = |t: usize, parent: &Cell<'static>| children_of(tx, new, t, parent);
        let mut records = records.iter();
        let mut check = |cells: Vec<Cell<'static>>| -> anyhow::Result<()> {
            // (As many rows as records: counted above.)
            let Some(r) = records.next() else {
                return Ok(());
            };
            if !rebuilds_to(
                new,
                ti,
                &cells,
                &mut fetch,
                r.file_key.as_deref(),
                &r.expected,
            )? {
                let (_, got) = rebuild(new, ti, &cells, &mut fetch)?;
                bail!(
                    "{} {}: reads back as {} where it should be {}; nothing was changed",
                    change.collection,
                    r.label,
                    crate::json::write::to_compact_string(&got),
                    crate::json::write::to_compact_string(&r.expected)
                );
            }
            Ok(())
        };
        pages(tx, t, &mut |_, cells| {
            check(cells).map_err(StoreError::Other)
        })?;
    }
    Ok(())
}

/// The records of `change` carried in place (PostgreSQL's `ALTER TABLE`, [`super::plan_pg`]):
/// each record's row under the new schema is made and written over the one it has where it
/// differs; the other rows are not touched. A row the new table refuses is listed.
pub fn carry_in_place(
    tx: &dyn Tx,
    plan: &Plan,
    nci: usize,
    records: &[Carried],
) -> anyhow::Result<()> {
    let new = &plan.new;
    let root = new.collections[nci].table;
    let t = &new.tables[root];
    write_records(new, nci, records, &mut |r, rows| {
        let Some(row) = rows.iter().find(|row| row.table == root) else {
            return Ok(None);
        };
        if tx.row(t, r.rowid)? == row.cells {
            return Ok(None);
        }
        Ok(tx.update(t, r.rowid, &row.cells)?.err().map(|e| e.message))
    })
}

/// The records of `change` written into its tables made anew under their temporary names
/// ([`temp_name`]), in their order (a generated key keeps its value).
pub fn carry_into_new_tables(
    tx: &dyn Tx,
    plan: &Plan,
    nci: usize,
    records: &[Carried],
) -> anyhow::Result<()> {
    let mut temp = plan.new.clone();
    for t in plan.new.tables_of(nci) {
        temp.tables[t].name = temp_name(&plan.new.tables[t].name);
    }
    write_records(&temp, nci, records, &mut |_, rows| {
        for row in rows {
            if let Err(e) = tx.insert(&temp.tables[row.table], &row.cells)? {
                return Ok(Some(e.message));
            }
        }
        Ok(None)
    })
}

/// Each record as the rows of collection `nci` of `schema` (a generated key keeps its value,
/// the record's place), handed to `write`, which says what the database refused of them; every
/// refusal is listed ([`Refused`]).
fn write_records(
    schema: &Schema,
    nci: usize,
    records: &[Carried],
    write: &mut dyn FnMut(&Carried, &[Row]) -> anyhow::Result<Option<String>>,
) -> anyhow::Result<()> {
    let root = schema.collections[nci].table;
    let t = &schema.tables[root];
    let generated = t
        .id_col
        .is_some_and(|c| t.columns[c].role == Role::Id && t.pk == c);
    let mut ids = Ids::new(schema.tables.len());
    let mut refused = Vec::new();
    for r in records {
        if generated {
            ids.set_next(root, r.rowid);
        }
        let rows = shred(schema, nci, r.file_key.as_deref(), &r.expected, &mut ids)
            .map_err(|e| anyhow::anyhow!("{}: {:?}", r.label, e.first().map(|e| &e.message)))?;
        if let Some(why) = write(r, &rows)? {
            refused.push(format!(
                "{} {}: {why}",
                schema.collections[nci].name, r.label
            ));
        }
    }
    if !refused.is_empty() {
        return Err(Refused(refused).into());
    }
    Ok(())
}

/// SQLite's table-rebuild procedure for one collection: its new tables are made under other
/// names and filled record by record (each root row keeps its rowid, the record's place), the
/// old tables are dropped and the new ones take their names.
fn rebuild_collection(
    db: &SqliteMigration,
    plan: &Plan,
    oci: usize,
    nci: usize,
    records: &[Carried],
) -> anyhow::Result<()> {
    let (old, new) = (&plan.old, &plan.new);
    let tables = new.tables_of(nci);
    let root = new.collections[nci].table;
    // The new schema with this collection's tables under their temporary names.
    let mut temp = new.clone();
    for &t in &tables {
        temp.tables[t].name = temp_name(&new.tables[t].name);
        temp.tables[t].sql = table_sql(&temp.tables[t]);
    }
    for &t in &tables {
        db.create_table_anew(&temp.tables[t])?;
    }
    let rt = &temp.tables[root];
    let generated = rt
        .id_col
        .is_some_and(|c| rt.columns[c].role == Role::Id && rt.pk == c);
    let mut ids = Ids::new(temp.tables.len());
    let mut refused = Vec::new();
    for r in records {
        if generated {
            ids.set_next(root, r.rowid);
        }
        let rows = shred(&temp, nci, r.file_key.as_deref(), &r.expected, &mut ids)
            .map_err(|e| anyhow::anyhow!("{}: {:?}", r.label, e.first().map(|e| &e.message)))?;
        for row in &rows {
            // The root row keeps its rowid, the record's place (a generated key is the rowid).
            let rowid = (row.table == root && !generated).then_some(r.rowid);
            if let Err(why) = db.insert_row(&temp.tables[row.table], rowid, &row.cells)? {
                refused.push(format!("{} {}: {why}", new.collections[nci].name, r.label));
                break;
            }
        }
    }
    if !refused.is_empty() {
        return Err(Refused(refused).into());
    }
    crate::backup::pause_at("evolve:carried");
    for t in old.tables_of(oci).into_iter().rev() {
        db.drop_table(&old.tables[t].name)?;
    }
    for &t in &tables {
        db.rename_table(&temp.tables[t].name, &new.tables[t].name)?;
    }
    for &t in &tables {
        db.create_indexes(&new.tables[t])?;
    }
    Ok(())
}

/// Every record of collection `ci` of `schema`, in rowid order: rowid, key in the file, value.
fn read_all(
    tx: &dyn Tx,
    schema: &Schema,
    ci: usize,
) -> anyhow::Result<Vec<(i64, Option<String>, Value)>> {
    let ti = schema.collections[ci].table;
    let t = &schema.tables[ti];
    let mut out = Vec::new();
    let mut fetch = |t: usize, parent: &Cell<'static>| children_of(tx, schema, t, parent);
    pages(tx, t, &mut |rowid, cells| {
        let (key, value) = rebuild(schema, ti, &cells, &mut fetch).map_err(StoreError::Other)?;
        out.push((rowid, key, value));
        Ok(())
    })?;
    Ok(out)
}

/// How messages name a record: its key field, its key in the file, or its generated id.
fn label(schema: &Schema, ci: usize, rowid: i64, file_key: Option<&str>, v: &Value) -> String {
    let c = &schema.collections[ci];
    if let Some(k) = c.key_field.as_deref().and_then(|k| v.get(k)) {
        return format!(
            "{}={}",
            c.key_field.as_deref().unwrap_or_default(),
            crate::json::write::to_compact_string(k)
        );
    }
    match file_key {
        Some(k) => format!("{k:?}"),
        None => format!("_id={rowid}"),
    }
}

fn value_at<'v>(v: &'v Value, path: &JsonPath) -> Option<&'v Value> {
    let mut cur = v;
    for seg in &path.0 {
        cur = match (seg, cur) {
            (Seg::Key(k), Value::Object(_)) => cur.get(k)?,
            (Seg::Index(i), Value::Array(a)) => a.get(*i)?,
            _ => return None,
        };
    }
    Some(cur)
}

/// Renames the fields of a record that jsonlift.toml declares with `renamed_from`, in place
/// (the key keeps its position), at every level the configuration describes.
pub fn rename(fields: &IndexMap<String, FieldConfig>, obj: &mut [(String, Value)]) {
    for (name, fc) in fields {
        let spec = fc.spec();
        if let Some(from) = &spec.renamed_from
            && !obj.iter().any(|(k, _)| k == name)
            && let Some(entry) = obj.iter_mut().find(|(k, _)| k == from)
        {
            entry.0 = name.clone();
        }
        if spec.fields.is_empty() {
            continue;
        }
        match obj.iter_mut().find(|(k, _)| k == name).map(|(_, v)| v) {
            Some(Value::Object(o)) => rename(&spec.fields, o),
            Some(Value::Array(items)) => {
                for item in items {
                    if let Value::Object(o) = item {
                        rename(&spec.fields, o);
                    }
                }
            }
            _ => {}
        }
    }
}

/// What `migrate` has to do besides loading sources: the plan from a changed jsonlift.toml and
/// the numbered SQL files not yet applied.
pub struct Pending {
    pub plan: Option<Plan>,
    pub sql: Vec<SqlFile>,
    /// The `[collections]` of jsonlift.toml, kept in the database by every run.
    pub saved: String,
    /// Whether the database keeps no `[collections]` yet, or other ones.
    pub save_needed: bool,
}

impl Pending {
    pub fn is_empty(&self) -> bool {
        self.plan.as_ref().is_none_or(Plan::is_empty) && self.sql.is_empty()
    }
}

/// Finds what is pending for the database `tx` (none when it does not exist yet, but the
/// numbered files): the plan for the sources `changed` (whose schema differs from the one
/// recorded), checked against the kept `[collections]`, and the numbered files to apply. On
/// PostgreSQL the plan's statements are PostgreSQL's ([`super::plan_pg`]).
pub fn prepare_on(
    project: &Project,
    schema: &Schema,
    tx: Option<&dyn Tx>,
    recorded: &HashMap<String, SourceState>,
    changed: &[usize],
) -> anyhow::Result<Pending> {
    let saved = super::plan::saved_toml(project)?;
    let dir = project.migrations_dir();
    let Some(tx) = tx else {
        return Ok(Pending {
            plan: None,
            sql: numbered::scan(&dir)?,
            saved,
            save_needed: true,
        });
    };
    let evolution = tx.evolution_read()?;
    let sql = numbered::status(&dir, evolution.migrations)?.pending;
    let kept = evolution.schema.map(|(toml, _)| toml);
    let dropped_any = kept.as_deref().is_some_and(|k| {
        super::plan::old_schema(project, k).is_ok_and(|old| {
            old.collections
                .iter()
                .any(|c| !schema.collections.iter().any(|n| n.name == c.name))
        })
    });
    // Indexes are not part of the recorded fingerprint (they hold no data): a source whose
    // collections gained or lost one is changed too.
    let mut changed = changed.to_vec();
    if let Some(old) = kept
        .as_deref()
        .and_then(|k| super::plan::old_schema(project, k).ok())
    {
        for (ci, c) in schema.collections.iter().enumerate() {
            let Some(oci) = old.collections.iter().position(|o| o.name == c.name) else {
                continue;
            };
            let indexes = |s: &Schema, ci: usize| -> Vec<Vec<String>> {
                s.tables_of(ci)
                    .into_iter()
                    .map(|t| create_indexes(&s.tables[t]))
                    .collect()
            };
            if recorded.contains_key(&schema.sources[c.source].display)
                && indexes(&old, oci) != indexes(schema, ci)
                && !changed.contains(&c.source)
            {
                changed.push(c.source);
            }
        }
    }
    let changed = &changed[..];
    let plan = if changed.is_empty() && !dropped_any {
        None
    } else {
        let Some(kept) = kept.as_deref() else {
            bail!(
                "jsonlift.toml changed since the database was migrated, and the database was migrated by a jsonlift that did not keep the jsonlift.toml it was made from, so the change cannot be planned. Put jsonlift.toml back as it was and run `jsonlift migrate` once (it keeps the file in the database and changes nothing else), then make the change again; or run `jsonlift migrate --reimport` to replace the changed collections from their files."
            );
        };
        let old = super::plan::old_schema(project, kept)?;
        let mut holds = |old: &Schema, oci: usize, field: &str| -> anyhow::Result<bool> {
            let t = &old.tables[old.collections[oci].table];
            Ok(match t.extra_col {
                Some(e) => tx.extra_holds(t, e, field)?,
                None => false,
            })
        };
        Some(super::plan::build(
            project,
            old,
            schema.clone(),
            changed,
            recorded,
            saved.clone(),
            &mut holds,
            match tx.dialect() {
                crate::store::Dialect::Postgres => Some(project.pg_schema()),
                crate::store::Dialect::Sqlite => None,
            },
        )?)
    };
    let save_needed = kept.as_deref() != Some(saved.as_str());
    Ok(Pending {
        plan,
        sql,
        saved,
        save_needed,
    })
}

/// Runs the plan pending on `conn`, inside the migration's transaction, before the new
/// sources are loaded (a new collection may load into a table the plan changes, such as a new
/// `type` of a shared `documents` table): the numbered files before its `plan --write` file,
/// the plan, recorded in place of that file. [`finish`] runs the rest once the sources are
/// loaded. `prints`: the sources' fingerprints now, by source of the new schema.
pub fn run(
    db: &SqliteMigration,
    project: &Project,
    pending: &Pending,
    prints: &[(u64, String)],
    at: &str,
    report: &mut super::Report,
) -> anyhow::Result<()> {
    let plan = pending.plan.as_ref().filter(|p| !p.is_empty());
    let plan_file = pending.sql.iter().position(SqlFile::is_plan);
    if let Some(k) = plan_file {
        let f = &pending.sql[k];
        let matches = plan.is_some_and(|p| numbered::plan_matches(f, &p.summary(), &p.sql()));
        if !matches {
            bail!(
                "{} was written by `jsonlift plan --write`, but the plan from jsonlift.toml is no longer what it says (the file or jsonlift.toml changed since); write it again with `jsonlift plan --write` after removing it; nothing was changed",
                f.path.display()
            );
        }
    }
    let split = plan_file.unwrap_or(0);
    for f in &pending.sql[..split] {
        numbered::apply(db, f, at)?;
        report.sql_applied.push(f.name.clone());
    }
    if let Some(plan) = plan {
        let carry = read_and_check(&db.tx(), project, plan)?;
        apply(db, plan, &carry)?;
        crate::backup::pause_at("evolve:applied");
        record(db, plan, prints, at)?;
        report.evolved.extend(plan.summary());
    }
    if let Some(k) = plan_file {
        numbered::record(db, &pending.sql[k], at)?;
        report.sql_applied.push(pending.sql[k].name.clone());
    }
    Ok(())
}

/// After [`run`] and the load of the new sources, in the same transaction: the numbered files
/// after the plan (which may read what was loaded), the kept `[collections]`, and the ledger.
pub fn finish(
    db: &SqliteMigration,
    pending: &Pending,
    at: &str,
    (started_at, backup): (&str, Option<&str>),
    report: &mut super::Report,
) -> anyhow::Result<()> {
    let plan = pending.plan.as_ref().filter(|p| !p.is_empty());
    let after = pending
        .sql
        .iter()
        .position(SqlFile::is_plan)
        .map_or(0, |k| k + 1);
    for f in &pending.sql[after..] {
        numbered::apply(db, f, at)?;
        report.sql_applied.push(f.name.clone());
    }
    if pending.save_needed || plan.is_some() {
        db.save_schema(&pending.saved, at)?;
    }
    if plan.is_some() || !pending.sql.is_empty() {
        let (entries, hash) = ledger_entries(plan, &pending.sql);
        db.write_run(
            (started_at, &crate::clock::now()),
            if plan.is_some() { "evolve" } else { "sql" },
            &hash,
            &entries,
            backup,
        )?;
    }
    Ok(())
}

/// What the ledger says of an evolution and the numbered files run with it, and the schema
/// fingerprint it records (empty without a plan).
pub fn ledger_entries(plan: Option<&Plan>, sql: &[SqlFile]) -> (serde_json::Value, String) {
    let mut entries: Vec<serde_json::Value> = Vec::new();
    if let Some(plan) = plan {
        for c in &plan.changes {
            entries.push(
                serde_json::json!({"collection": c.collection, "mode": c.mode, "changes": c.summary}),
            );
        }
        for d in &plan.dropped {
            entries.push(serde_json::json!({"collection": d.collection, "dropped": d.tables}));
        }
    }
    for f in sql {
        entries.push(serde_json::json!({"migration": f.name, "sha256": f.sha256}));
    }
    let hash = plan.map(|p| {
        let all: String = (0..p.new.sources.len())
            .map(|si| super::plan::hash(&p.new, si))
            .collect();
        crate::schema::fingerprint::hex(&sha2::Sha256::digest(all))
    });
    (serde_json::Value::Array(entries), hash.unwrap_or_default())
}

/// Applies a plan made for PostgreSQL ([`super::plan_pg`]) through `tx`, inside the caller's
/// transaction: its statements in order, the records carried where they say, the dropped
/// collections' tables dropped; then every record read back and compared. `dependents`: what
/// other tables and views had on the tables rebuilt, put back once they are
/// ([`crate::store::postgres::db::dependents`]).
pub fn apply_in_place(
    tx: &dyn Tx,
    plan: &Plan,
    carry: &Carry,
    dependents: &[String],
) -> anyhow::Result<()> {
    for (change, records) in plan.changes.iter().zip(&carry.records) {
        for sql in &change.sql {
            if sql == super::plan_pg::CARRY {
                carry_in_place(tx, plan, change.new_ci, records)?;
                crate::backup::pause_at("evolve:carried");
            } else if sql == super::plan_pg::REBUILD {
                carry_into_new_tables(tx, plan, change.new_ci, records)?;
                crate::backup::pause_at("evolve:carried");
            } else if !sql.starts_with("--") {
                tx.change_tables(sql)
                    .with_context(|| format!("{}: {sql}", change.collection))?;
            }
        }
    }
    for sql in dependents {
        tx.change_tables(sql).map_err(|e| {
            anyhow::anyhow!(
                "{sql}: {e}\nthe app's own table or view no longer fits jsonlift's new tables; change it in a numbered SQL migration first; nothing was changed"
            )
        })?;
    }
    for d in &plan.dropped {
        for t in d.tables.iter().rev() {
            tx.change_tables(&format!("DROP TABLE IF EXISTS {}", plan.qualified(t)))?;
        }
    }
    check_records(tx, plan, carry)
}

/// Records an evolution applied through `tx` (PostgreSQL): the new schema of the evolved
/// sources (their files as they were recorded: the database holds the records), the dropped
/// collections' sources forgotten, the kept `[collections]` and the `plan --write` file.
pub fn record_on(
    tx: &dyn Tx,
    plan: &Plan,
    plan_file: Option<&SqlFile>,
    at: &str,
) -> anyhow::Result<()> {
    let new = &plan.new;
    let recorded = tx.sources()?;
    for &si in &plan.sources {
        let Some(state) = recorded.get(&new.sources[si].display) else {
            continue;
        };
        let mut state = state.clone();
        state.records = 0;
        for c in new.collections_of(si) {
            state.records += tx.count(&new.tables[c.table])?;
        }
        state.schema_hash = super::plan::hash(new, si);
        state.migrated_at = at.to_string();
        tx.source_write(&state)?;
    }
    for d in &plan.dropped {
        if !new.sources.iter().any(|s| s.display == d.source) {
            tx.source_forget(&d.source)?;
        }
    }
    tx.evolution_write(&crate::store::backend::Evolution {
        schema: Some((plan.saved.clone(), at.to_string())),
        migrations: plan_file
            .map(|f| numbered::applied(f, at))
            .into_iter()
            .collect(),
    })?;
    Ok(())
}

/// Records the new schema of the evolved sources (and the files as they are now: the database
/// holds the records), and forgets the sources of dropped collections.
fn record(
    db: &SqliteMigration,
    plan: &Plan,
    prints: &[(u64, String)],
    at: &str,
) -> anyhow::Result<()> {
    let tx = db.tx();
    let new = &plan.new;
    for &si in &plan.sources {
        let mut records = 0;
        for c in new.collections_of(si) {
            records += tx.count(&new.tables[c.table])?;
        }
        db.set_source_evolved(
            &new.sources[si].display,
            (prints[si].0, &prints[si].1),
            records,
            &super::plan::hash(new, si),
            at,
        )?;
    }
    for d in &plan.dropped {
        if !new.sources.iter().any(|s| s.display == d.source) {
            db.forget_source(&d.source)?;
        }
    }
    Ok(())
}
