//! Databases made by an earlier jsonlift: the same schema, spelled in table definitions that
//! some clients read wrongly (issue #13: JSON checks that refuse NULL before SQLite 3.42,
//! nullable generated keys, inline foreign keys). `migrate` rewrites those tables in the current
//! form, in place and in one transaction, after a database backup: SQLite's table-rebuild
//! procedure (new table, rows copied with their rowids, old one dropped, new one renamed), every
//! table's rows compared before and after, foreign keys checked, then the recorded fingerprint
//! updated. Edits made through the API since the migration are rows like any other: kept.
//! Which tables, and in what order, is decided here; the rebuild itself is a store operation
//! ([`MigrationDb::rebuild_table`]).

use anyhow::{Context, bail};

use crate::schema::Schema;
use crate::schema::fingerprint::{SchemaState, schema_hash, schema_state};
use crate::store::backend::SourceState;
use crate::store::sqlite_migration::MigrationDb;

/// The sources whose collections are recorded with an earlier jsonlift's table definitions
/// (and otherwise unchanged): their tables are what [`rewrite`] rewrites.
pub fn sources_to_upgrade(
    schema: &Schema,
    recorded: &std::collections::HashMap<String, SourceState>,
) -> Vec<usize> {
    sources_in(schema, recorded, SchemaState::Earlier)
}

/// The recorded sources whose recorded schema compares with the project file's as `state`.
pub fn sources_in(
    schema: &Schema,
    recorded: &std::collections::HashMap<String, SourceState>,
    state: SchemaState,
) -> Vec<usize> {
    (0..schema.sources.len())
        .filter(|&si| {
            recorded
                .get(&schema.sources[si].display)
                .is_some_and(|s| schema_state(schema, si, &s.schema_hash) == state)
        })
        .collect()
}

/// Rewrites the tables of `sources` in the current form on `db`, inside the caller's
/// transaction (foreign keys must be off: dropping a table others refer to would otherwise
/// cascade). Returns the names of the tables rewritten. Any difference in the rows, or a
/// broken reference, is an error, and the caller rolls back.
pub fn rewrite(
    db: &impl MigrationDb,
    schema: &Schema,
    sources: &[usize],
) -> anyhow::Result<Vec<String>> {
    let mut done = Vec::new();
    for &si in sources {
        for (ci, _) in schema
            .collections
            .iter()
            .enumerate()
            .filter(|(_, c)| c.source == si)
        {
            for t in schema.tables_of(ci) {
                let table = &schema.tables[t];
                db.rebuild_table(table)
                    .with_context(|| format!("rewriting table {}", table.name))?;
                done.push(table.name.clone());
            }
        }
        db.set_schema_hash(&schema.sources[si].display, &schema_hash(schema, si))?;
    }
    let broken = db.broken_references()?;
    if let Some(t) = broken.iter().find(|t| done.contains(t)) {
        bail!(
            "table {t} holds a reference to a missing record (PRAGMA foreign_key_check); nothing was changed"
        );
    }
    Ok(done)
}
