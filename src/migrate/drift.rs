//! Drift: jsonlift.toml changed after the migration, so the project file and the database
//! describe different tables. Every command that reads the database checks for it first and
//! refuses, naming the collection, the field and the command that fixes it: reading on would
//! answer for columns that are not there (once SQLite even read such a name as a string and
//! invented the data), or drop the values of columns the file no longer names.
//!
//! The recorded schema fingerprint of each source ([`schema_state`]) says whether
//! anything changed; the database's own columns (`PRAGMA table_info`) then say what.

use std::collections::HashMap;
use std::fmt;

use anyhow::bail;

use crate::schema::fingerprint::{SchemaState, schema_state};
use crate::schema::{Role, Schema, Table};
use crate::store::{StoreError, Tx};

/// One difference between the project file and the database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Drift {
    pub collection: String,
    /// The field as jsonlift.toml names it (dotted for nested ones), or the column's name when
    /// the file no longer names it.
    pub field: Option<String>,
    pub message: String,
}

impl fmt::Display for Drift {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.collection, self.message)
    }
}

/// What to do about drift, said once after the list.
pub const FIX: &str = "Run `jsonlift plan` to see how `jsonlift migrate` would change the database in place (edits made through the API kept; docs/evolve.md), or `jsonlift migrate --reimport` to rebuild these collections from their files with the new schema (edits made through the API since the migration are replaced: `jsonlift export --out DIR` saves them first), or put jsonlift.toml back as it was.";

/// The differences between `schema` and the database behind `conn`; empty when they agree (a
/// database whose tables an earlier jsonlift defined for the same schema agrees: `migrate`
/// rewrites those definitions).
pub fn check(tx: &dyn Tx, schema: &Schema) -> Result<Vec<Drift>, StoreError> {
    let recorded = tx.sources()?;
    let mut out = Vec::new();
    for (ci, c) in schema.collections.iter().enumerate() {
        let spec = &schema.sources[c.source];
        let drift = |field: Option<String>, message: String| Drift {
            collection: c.name.clone(),
            field,
            message,
        };
        let Some(state) = recorded.get(&spec.display) else {
            out.push(drift(
                None,
                format!(
                    "is in jsonlift.toml but was never migrated into this database (source {}); run `jsonlift migrate`",
                    spec.display
                ),
            ));
            continue;
        };
        // The columns are compared every time (a table changed behind jsonlift's back is
        // drift too); the recorded fingerprint tells whether the rules changed.
        let before = out.len();
        for t in schema.tables_of(ci) {
            compare_table(tx, &schema.tables[t], &mut |f, m| out.push(drift(f, m)))?;
        }
        if out.len() == before
            && schema_state(schema, c.source, &state.schema_hash) == SchemaState::Changed
        {
            out.push(drift(
                None,
                "its rules in jsonlift.toml (required, unique, enum, min/max, check, references, key, format or member) differ from those the database was migrated with".into(),
            ));
        }
    }
    Ok(out)
}

/// Refuses with every difference listed, and what to do, when there is any.
pub fn ensure(tx: &dyn Tx, schema: &Schema, db: &str) -> anyhow::Result<()> {
    let drift = check(tx, schema)?;
    if drift.is_empty() {
        return Ok(());
    }
    let lines: Vec<String> = drift.iter().map(|d| format!("  {d}")).collect();
    bail!(
        "jsonlift.toml and the database {} disagree (the schema changed after the migration):\n{}\n{FIX}",
        db,
        lines.join("\n")
    )
}

fn compare_table(
    tx: &dyn Tx,
    t: &Table,
    report: &mut dyn FnMut(Option<String>, String),
) -> Result<(), StoreError> {
    let field_of = |i: usize| {
        let c = &t.columns[i];
        match c.role {
            // A child table's fields are named from the array that holds them.
            Role::Field if !c.field_path.is_empty() => Some(match t.parent_path.is_empty() {
                true => c.field_path.join("."),
                false => format!("{}[].{}", t.parent_path.join("."), c.field_path.join(".")),
            }),
            _ => None,
        }
    };
    let Some(columns) = tx.columns(&t.name)? else {
        let what = match t.parent_path.is_empty() {
            true => format!("table {} is not in the database", t.name),
            false => format!(
                "field {:?} is stored in table {}, which is not in the database",
                t.parent_path.join("."),
                t.name
            ),
        };
        report(
            (!t.parent_path.is_empty()).then(|| t.parent_path.join(".")),
            what,
        );
        return Ok(());
    };
    let have: HashMap<String, (String, String)> = columns
        .into_iter()
        .map(|(name, ty)| (name.to_lowercase(), (name, ty)))
        .collect();
    for (i, c) in t.columns.iter().enumerate() {
        let field = field_of(i);
        let named = field.as_deref().map_or_else(
            || format!("column {:?}", c.name),
            |f| format!("field {f:?}"),
        );
        match have.get(&c.name.to_lowercase()) {
            None => report(
                field.clone(),
                format!(
                    "{named} is in jsonlift.toml but not in the database (no column {}.{})",
                    t.name, c.name
                ),
            ),
            Some((_, ty)) => {
                let want = tx
                    .dialect()
                    .column_type(c.ty, c.primary_key && c.role != Role::Id);
                if !ty.eq_ignore_ascii_case(want) {
                    report(
                        field.clone(),
                        format!(
                            "{named} is {want} in jsonlift.toml but {ty} in the database (column {}.{})",
                            t.name, c.name
                        ),
                    );
                }
            }
        }
    }
    let mut extra: Vec<&String> = have
        .iter()
        .filter(|(k, _)| !t.columns.iter().any(|c| &c.name.to_lowercase() == *k))
        .map(|(_, (name, _))| name)
        .collect();
    extra.sort();
    for name in extra {
        report(
            Some(name.clone()),
            format!(
                "column {}.{name} is in the database but jsonlift.toml no longer names it (its values would be left out of every answer and export)",
                t.name
            ),
        );
    }
    Ok(())
}
