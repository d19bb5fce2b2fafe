//! The schema's fingerprint per source: what the ledger records at each migration, so that a
//! later run, a backup or a reader can tell whether the project file still describes the
//! tables (it is a hash of their definitions). Earlier jsonlift versions spelled the same
//! tables another way; their fingerprint is recognised too ([`SchemaState::Earlier`]).

use sha2::{Digest, Sha256};

use super::Schema;
use super::ddl::{create_table, create_table_v1};
use super::dialect::Dialect;

/// A fingerprint of everything the schema says about source `si`'s collections: if it changes,
/// the tables would differ and the data must be re-imported.
pub fn schema_hash(schema: &Schema, si: usize) -> String {
    hash_with(schema, si, |t| create_table(t, Dialect::Sqlite))
}

/// The fingerprint an earlier jsonlift recorded for the same schema (its DDL spelled the same
/// tables another way): a source recorded with it needs only its table definitions rewritten.
pub fn schema_hash_v1(schema: &Schema, si: usize) -> String {
    hash_with(schema, si, create_table_v1)
}

/// The fingerprint jsonlift recorded for the same schema before a field's `default` was also
/// its column's SQL `DEFAULT` (issue #16): such tables lack the `DEFAULT`s.
pub fn schema_hash_without_defaults(schema: &Schema, si: usize) -> String {
    hash_with(schema, si, |t| {
        let mut t = t.clone();
        for c in &mut t.columns {
            c.default = None;
        }
        create_table(&t, Dialect::Sqlite)
    })
}

/// How the schema a source was recorded with compares with the project file's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SchemaState {
    Current,
    /// The same schema, in the table definitions of an earlier jsonlift.
    Earlier,
    Changed,
}

pub fn schema_state(schema: &Schema, si: usize, recorded: &str) -> SchemaState {
    if recorded == schema_hash(schema, si) {
        SchemaState::Current
    } else if recorded == schema_hash_v1(schema, si) {
        SchemaState::Earlier
    } else {
        SchemaState::Changed
    }
}

fn hash_with(schema: &Schema, si: usize, ddl: impl Fn(&super::Table) -> String) -> String {
    let mut h = Sha256::new();
    for (ci, c) in schema
        .collections
        .iter()
        .enumerate()
        .filter(|(_, c)| c.source == si)
    {
        h.update(format!(
            "{}:{:?}:{:?}\n",
            c.name, c.format, schema.sources[si].members[c.member].name
        ));
        for t in schema.tables_of(ci) {
            h.update(ddl(&schema.tables[t]));
        }
    }
    hex(&h.finalize())
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
