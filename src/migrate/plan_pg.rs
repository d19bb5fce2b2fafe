//! The statements of a schema evolution on PostgreSQL (issue #17), qualified with `pg_schema`:
//! what `jsonlift plan` prints and `plan --write` writes for a PostgreSQL project is what
//! `migrate` runs there ([`super::postgres`]).
//!
//! PostgreSQL's `ALTER TABLE` does most changes in place, which keeps what the app made on the
//! table (grants, comments, its own triggers, the views reading it) and leaves the rows where
//! they are: a field added, removed or renamed, a type changed (`USING` a cast), NOT NULL, UNIQUE,
//! CHECK and foreign keys added or dropped, indexes. Then every record whose row differs under
//! the new schema (a default filled in, a value moved out of or into `_extra`) is rewritten in
//! place, the others untouched ([`CARRY`]). Only a change of the collection's tables themselves
//! (nesting, the key, the format, a child table's columns) rebuilds its tables, and only them.

use indexmap::IndexMap;

use super::plan::{Change, Mode, field_name, index_name, renames_of, signature, temp_name};
use crate::config::FieldConfig;
use crate::schema::ddl::{self, quote};
use crate::schema::{ColType, Column, Role, Schema, Table};
use crate::store::Dialect;

/// The comment that marks, among an in-place change's statements, where the rows that differ
/// under the new schema are rewritten.
pub const CARRY: &str = "-- every record is changed as jsonlift.toml says (renames, defaults, values moved to or from _extra) and checked; the rows that differ are rewritten in place";

/// The comment that marks, among a rebuild's statements, where the records are carried over.
pub const REBUILD: &str = "-- every record is read from the old tables, changed as jsonlift.toml says, checked and written into the new ones in its order";

/// `c` (the change the SQLite plan made) as PostgreSQL does it.
pub fn change(
    mut c: Change,
    old: &Schema,
    new: &Schema,
    fields: &IndexMap<String, FieldConfig>,
    pg_schema: &str,
) -> Change {
    let q = |t: &str| format!("{}.{}", quote(pg_schema), quote(t));
    let tables = |s: &Schema, ci: usize| -> Vec<Table> {
        s.tables_of(ci)
            .into_iter()
            .map(|t| s.tables[t].clone())
            .collect()
    };
    let (ots, nts) = (tables(old, c.old_ci), tables(new, c.new_ci));
    let (oc, nc) = (&old.collections[c.old_ci], &new.collections[c.new_ci]);
    let same_tables = oc.format == nc.format
        && oc.key_field == nc.key_field
        && ots.len() == nts.len()
        && ots.iter().zip(&nts).all(|(a, b)| a.name == b.name);
    let alter = if same_tables {
        alter_sql(&ots, &nts, &renames_of(fields), pg_schema)
    } else {
        None
    };
    match alter {
        Some(sql) => {
            c.mode = Mode::Alter;
            c.sql = sql;
        }
        None => {
            c.mode = Mode::Rebuild;
            c.sql = rebuild_sql(&ots, &nts, &q);
        }
    }
    c
}

/// The in-place change of a collection's tables, or `None` when its tables themselves change
/// (a bookkeeping column, the key, a child table's columns).
fn alter_sql(
    old: &[Table],
    new: &[Table],
    renames: &[(String, String)],
    pg_schema: &str,
) -> Option<Vec<String>> {
    let q = |t: &str| format!("{}.{}", quote(pg_schema), quote(t));
    // Dropping constraints and NOT NULL, by the columns' old names; then renames, added,
    // retyped and dropped columns; then the records; then the new constraints and indexes.
    let (mut pre, mut cols, mut post, mut idx) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for (k, (a, b)) in old.iter().zip(new).enumerate() {
        let structural = |t: &Table| -> Vec<String> {
            t.columns
                .iter()
                .filter(|c| c.role != Role::Field)
                .map(signature)
                .collect()
        };
        if structural(a) != structural(b)
            || signature(&a.columns[a.pk]) != signature(&b.columns[b.pk])
            || (k > 0
                && ddl::create_table(a, Dialect::Postgres)
                    != ddl::create_table(b, Dialect::Postgres))
        {
            return None;
        }
        let t = q(&b.name);
        let mut matched = Vec::new();
        for nc in b.columns.iter().filter(|c| c.role == Role::Field) {
            let name = field_name(b, nc);
            let from = renames
                .iter()
                .find(|(to, _)| *to == name)
                .map_or(name.clone(), |(_, from)| from.clone());
            let found = |n: &str| {
                a.columns
                    .iter()
                    .find(|c| c.role == Role::Field && field_name(a, c) == n)
            };
            let Some(oc) = found(&from).or_else(|| found(&name)) else {
                cols.push(format!(
                    "ALTER TABLE {t} ADD COLUMN {} {}",
                    quote(&nc.name),
                    pg_type(nc.ty)
                ));
                // The records are given the default as they are carried; the column declares
                // it afterwards, for the rows other clients insert.
                post.extend(set_default(&t, None, nc));
                post.extend(constraints(b, nc, &t, true, true, true, true));
                continue;
            };
            matched.push(oc.name.clone());
            let retyped = oc.ty != nc.ty;
            let checks = retyped || oc.checks != nc.checks;
            let unique = oc.unique != nc.unique;
            let fk = format!("{:?}", oc.references) != format!("{:?}", nc.references);
            if checks && !oc.checks.is_empty() {
                pre.push(drop_constraints(&t, 'c', &[&oc.name]));
            }
            if unique && oc.unique {
                pre.push(drop_constraints(&t, 'u', &[&oc.name]));
            }
            if fk && oc.references.is_some() {
                pre.push(drop_constraints(&t, 'f', &[&oc.name]));
            }
            if oc.not_null && !nc.not_null {
                pre.push(format!(
                    "ALTER TABLE {t} ALTER COLUMN {} DROP NOT NULL",
                    quote(&oc.name)
                ));
            }
            if oc.name != nc.name {
                cols.push(format!(
                    "ALTER TABLE {t} RENAME COLUMN {} TO {}",
                    quote(&oc.name),
                    quote(&nc.name)
                ));
            }
            if retyped {
                cols.push(format!(
                    "ALTER TABLE {t} ALTER COLUMN {c} TYPE {} USING {}",
                    pg_type(nc.ty),
                    cast(&quote(&nc.name), oc.ty, nc.ty),
                    c = quote(&nc.name)
                ));
            }
            post.extend(set_default(&t, Some(oc), nc));
            post.extend(constraints(
                b,
                nc,
                &t,
                !oc.not_null && nc.not_null,
                checks,
                unique && nc.unique,
                fk,
            ));
        }
        for oc in a.columns.iter().filter(|c| c.role == Role::Field) {
            if !matched.contains(&oc.name) {
                // Its constraints go with it; its values stay with their records (`_extra`).
                cols.push(format!("ALTER TABLE {t} DROP COLUMN {}", quote(&oc.name)));
            }
        }
        if a.uniques != b.uniques {
            for g in a.uniques.iter().filter(|g| !b.uniques.contains(g)) {
                let names: Vec<&str> = g.iter().map(String::as_str).collect();
                pre.push(drop_constraints(&t, 'u', &names));
            }
            for g in b.uniques.iter().filter(|g| !a.uniques.contains(g)) {
                let list: Vec<String> = g.iter().map(|c| quote(c)).collect();
                post.push(format!("ALTER TABLE {t} ADD UNIQUE ({})", list.join(", ")));
            }
        }
        let (oi, ni) = (
            ddl::indexes(a, Dialect::Postgres),
            ddl::indexes(b, Dialect::Postgres),
        );
        for i in oi.iter().filter(|i| !ni.contains(i)) {
            if let Some(name) = index_name(i) {
                idx.push(format!("DROP INDEX IF EXISTS {}.{name}", quote(pg_schema)));
            }
        }
        for i in ni.iter().filter(|i| !oi.contains(i)) {
            idx.push(qualify(i, &b.name, &q));
        }
    }
    let mut out = pre;
    if !cols.is_empty() || !post.is_empty() {
        out.extend(cols);
        out.push(CARRY.to_string());
        out.extend(post);
    }
    out.extend(idx);
    Some(out)
}

/// A statement of `ddl` on table `table`, the table qualified.
fn qualify(sql: &str, table: &str, q: &dyn Fn(&str) -> String) -> String {
    sql.replacen(
        &format!(" ON {} ", quote(table)),
        &format!(" ON {} ", q(table)),
        1,
    )
}

/// The column's SQL `DEFAULT` (its field's `default`) set, changed or dropped, where it differs
/// from the old column's (`None`: a column just added, which has none).
fn set_default(qt: &str, old: Option<&Column>, c: &Column) -> Option<String> {
    let sql = |c: &Column| c.default.as_ref().map(|d| d.sql(c.ty, Dialect::Postgres));
    let (was, now) = (old.and_then(sql), sql(c));
    if was == now {
        return None;
    }
    let col = quote(&c.name);
    Some(match now {
        Some(d) => format!("ALTER TABLE {qt} ALTER COLUMN {col} SET DEFAULT {d}"),
        None => format!("ALTER TABLE {qt} ALTER COLUMN {col} DROP DEFAULT"),
    })
}

/// The constraints of column `c` of `t` to add: NOT NULL, its CHECKs, UNIQUE, its foreign key.
fn constraints(
    t: &Table,
    c: &Column,
    qt: &str,
    not_null: bool,
    checks: bool,
    unique: bool,
    fk: bool,
) -> Vec<String> {
    let col = quote(&c.name);
    let mut out = Vec::new();
    if not_null && c.not_null {
        out.push(format!("ALTER TABLE {qt} ALTER COLUMN {col} SET NOT NULL"));
    }
    if checks {
        for check in &c.checks {
            // A boolean is its own type on PostgreSQL (as `ddl::create_table` says).
            if c.ty == ColType::Boolean && *check == format!("{col} IN (0, 1)") {
                continue;
            }
            out.push(format!("ALTER TABLE {qt} ADD CHECK ({check})"));
        }
    }
    if unique && c.unique {
        out.push(format!("ALTER TABLE {qt} ADD UNIQUE ({col})"));
    }
    if fk && c.references.is_some() {
        let prefix = format!("ALTER TABLE {} ADD FOREIGN KEY ({col})", quote(&t.name));
        for f in ddl::add_foreign_keys(t) {
            if let Some(rest) = f.strip_prefix(&prefix) {
                out.push(format!("ALTER TABLE {qt} ADD FOREIGN KEY ({col}){rest}"));
            }
        }
    }
    out
}

/// Drops the constraints of kind `kind` (`c`heck, `u`nique, `f`oreign key) of table `qt` on
/// exactly the columns `cols`, found by their columns in the catalog: PostgreSQL named them
/// when the table was made, and a column renamed since keeps the name it gave.
fn drop_constraints(qt: &str, kind: char, cols: &[&str]) -> String {
    let lit = |s: &str| format!("'{}'", s.replace('\'', "''"));
    let list: Vec<String> = cols.iter().map(|c| lit(c)).collect();
    format!(
        "DO $$ DECLARE c text; BEGIN FOR c IN SELECT conname FROM pg_constraint WHERE conrelid = {}::regclass AND contype = '{kind}' AND (SELECT array_agg(attname::text ORDER BY attname::text) FROM pg_attribute WHERE attrelid = conrelid AND attnum = ANY(conkey)) = (SELECT array_agg(x ORDER BY x) FROM unnest(ARRAY[{}]::text[]) x) LOOP EXECUTE format({}, c); END LOOP; END $$",
        lit(qt),
        list.join(", "),
        lit(&format!("ALTER TABLE {qt} DROP CONSTRAINT %I"))
    )
}

fn pg_type(ty: ColType) -> &'static str {
    Dialect::Postgres.column_type(ty, false)
}

/// How a column of type `from` becomes one of type `to` (the values are those every record
/// passed the new schema with; a row whose cells still differ is rewritten after).
fn cast(col: &str, from: ColType, to: ColType) -> String {
    use ColType::*;
    let ty = pg_type(to);
    match (from, to) {
        (Json, Json) => col.to_string(),
        (Json, _) => format!("({col} #>> '{{}}')::{ty}"),
        (_, Json) => format!("to_jsonb({col})"),
        (Boolean, Integer | Real) => format!("{col}::int::{ty}"),
        (Integer | Real, Boolean) => format!("{col} <> 0"),
        _ => format!("{col}::{ty}"),
    }
}

/// The collection's tables made anew: under other names without keys, filled, the old ones
/// dropped (what other tables and views had on them is put back), renamed, then keys, foreign
/// keys and indexes.
fn rebuild_sql(old: &[Table], new: &[Table], q: &dyn Fn(&str) -> String) -> Vec<String> {
    let mut sql = Vec::new();
    for t in new {
        sql.push(ddl::create_table_bare(t).replacen(&quote(&t.name), &q(&temp_name(&t.name)), 1));
    }
    sql.push(REBUILD.to_string());
    for t in old.iter().rev() {
        sql.push(format!("DROP TABLE {} CASCADE", q(&t.name)));
    }
    for t in new {
        sql.push(format!(
            "ALTER TABLE {} RENAME TO {}",
            q(&temp_name(&t.name)),
            quote(&t.name)
        ));
    }
    let on = |s: &str, t: &Table| {
        s.replacen(
            &format!("ALTER TABLE {} ", quote(&t.name)),
            &format!("ALTER TABLE {} ", q(&t.name)),
            1,
        )
    };
    for t in new {
        sql.extend(ddl::add_keys(t).iter().map(|s| on(s, t)));
    }
    for t in new {
        sql.extend(ddl::add_foreign_keys(t).iter().map(|s| on(s, t)));
        sql.extend(
            ddl::indexes(t, Dialect::Postgres)
                .iter()
                .map(|s| qualify(s, &t.name, q)),
        );
    }
    sql.push("-- the foreign keys of other tables into these tables, and the views reading them, are put back as they were".to_string());
    sql
}
