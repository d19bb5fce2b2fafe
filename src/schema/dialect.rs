//! SQL differences between the databases jsonlift writes to. Everything that generates SQL asks
//! the dialect rather than hard-coding one database's spelling.

use super::ColType;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

impl Dialect {
    /// Column type for `ty`. `natural_int_pk`: an integer natural key declared PRIMARY KEY.
    pub fn column_type(self, ty: ColType, natural_int_pk: bool) -> &'static str {
        match (self, ty) {
            // SQLite makes a column typed exactly `INTEGER PRIMARY KEY` an alias of the rowid,
            // which would order the table by key. The rowid is the record order (the order of
            // the source array), so a natural integer key is typed `INT`: same affinity, no alias.
            (Dialect::Sqlite, ColType::Integer) if natural_int_pk => "INT",
            (Dialect::Sqlite, ColType::Integer | ColType::Boolean) => "INTEGER",
            (Dialect::Sqlite, ColType::Real) => "REAL",
            (Dialect::Sqlite, ColType::Text | ColType::Json) => "TEXT",
            (Dialect::Postgres, ColType::Integer) => "BIGINT",
            (Dialect::Postgres, ColType::Boolean) => "BOOLEAN",
            (Dialect::Postgres, ColType::Real) => "DOUBLE PRECISION",
            (Dialect::Postgres, ColType::Text) => "TEXT",
            // jsonb, which PostgreSQL users index and query; it reorders keys and rewrites
            // numbers, so the backend keeps the exact text beside it where it differs
            // (`ddl::PG_EXACT`).
            (Dialect::Postgres, ColType::Json) => "JSONB",
        }
    }

    /// A CHECK that a JSON column holds valid JSON, where the type does not already ensure it.
    pub fn json_check(self, quoted_col: &str) -> Option<String> {
        match self {
            Dialect::Sqlite => Some(format!("json_valid({quoted_col})")),
            Dialect::Postgres => None,
        }
    }

    /// The n-th (1-based) bind parameter.
    pub fn param(self, n: usize) -> String {
        match self {
            Dialect::Sqlite => "?".to_string(),
            Dialect::Postgres => format!("${n}"),
        }
    }
}
