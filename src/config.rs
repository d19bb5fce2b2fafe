//! `jsonlift.toml`: parsing and path resolution. This module only reads what the user wrote;
//! [`crate::schema`] turns it into tables and rules. Every key is documented in docs/config.md.

use std::path::{Path, PathBuf};

use indexmap::IndexMap;
use serde::Deserialize;

use crate::source::Format;
use crate::store::postgres::PgUrl;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(
        "cannot read {path}: {source}\nhint: pass the project file with -c/--config, or run `jsonlift init` to write one"
    )]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
    /// A command-line option's value is unusable.
    #[error("{flag}: {message}")]
    Flag { flag: &'static str, message: String },
}

/// Where the records go: a SQLite file, or a PostgreSQL server (`postgres://…`). Its `Display`
/// is what messages show: the path, or the URL with its password masked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Database {
    Sqlite(PathBuf),
    Postgres(PgUrl),
}

impl Database {
    /// `text` as written in `database` or `--database`: a URL, or a path resolved by `resolve`.
    /// The error never repeats `text`, which may hold a password.
    fn parse(text: &str, resolve: impl FnOnce(&str) -> PathBuf) -> Result<Database, String> {
        if PgUrl::is_url(text) {
            return PgUrl::parse(text)
                .map(Database::Postgres)
                .map_err(|e| e.to_string());
        }
        if let Some(scheme) = crate::store::postgres::connect::scheme_of(text) {
            // A URL of another database would otherwise become a file named like it.
            return Err(format!(
                "a {scheme}:// URL is not a database jsonlift uses; give a SQLite file path or a postgres:// URL"
            ));
        }
        Ok(Database::Sqlite(resolve(text)))
    }
}

impl std::fmt::Display for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Database::Sqlite(p) => write!(f, "{}", p.display()),
            Database::Postgres(u) => write!(f, "{u}"),
        }
    }
}

/// The project file as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub database: Option<String>,
    /// The PostgreSQL schema the tables go in (default `public`).
    pub pg_schema: Option<String>,
    pub backup_dir: Option<String>,
    pub busy_timeout_ms: Option<u64>,
    pub max_depth: Option<usize>,
    /// After a verified migration into the SQLite source database itself, drop the legacy
    /// tables the collections read (they are in the migration's backup of the sources).
    #[serde(default)]
    pub drop_source_tables: bool,
    /// The folder of numbered SQL migrations (`NNN_name.sql`), default `migrations` beside the
    /// project file (docs/evolve.md).
    pub migrations_dir: Option<String>,
    /// Database backups: schedule and retention (docs/backup.md).
    #[serde(default)]
    pub backups: BackupsConfig,
    #[serde(default)]
    pub serve: ServeConfig,
    /// Live file sync (`serve --watch`, `watch`; docs/sync.md).
    #[serde(default)]
    pub sync: SyncConfig,
    #[serde(default)]
    pub collections: IndexMap<String, CollectionConfig>,
}

/// `[serve]`: how `jsonlift serve` exposes the collections. Command-line flags win over these.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServeConfig {
    /// Address to listen on (`127.0.0.1:4000`).
    pub listen: Option<String>,
    /// Path prefix of the collection routes (`/api`; `/` for the root, as json-server).
    pub prefix: Option<String>,
    /// Token name → token. A value `env:NAME` reads the token from environment variable NAME;
    /// a table `{ token = "...", scope = "read" | "write" | "admin" }` limits what it may do.
    #[serde(default)]
    pub tokens: IndexMap<String, TokenConfig>,
    /// Require a token for reads too.
    #[serde(default)]
    pub protect_reads: bool,
    /// Origins whose pages may call the server from a browser (`"https://app.example"`), or
    /// `"*"` for any (api::cors).
    #[serde(default)]
    pub cors_origins: Vec<String>,
    /// Largest request body accepted, in bytes.
    pub max_body_bytes: Option<usize>,
    /// The most records a paged list request (`_page`, `_limit`, `_end`) gets; 0 for no cap.
    /// Lists without paging are never capped (json-server clients load whole collections).
    pub max_page_size: Option<usize>,
    /// Longest a request may take, in seconds.
    pub request_timeout_secs: Option<u64>,
    /// Longest a client may take to send a request's headers (or stay idle between requests),
    /// in seconds; a slow client is then disconnected.
    pub header_timeout_secs: Option<u64>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CollectionConfig {
    /// The file or folder the records come from; none for a collection that lives only in the
    /// database (created empty, filled through the API).
    pub source: Option<String>,
    pub format: Option<Format>,
    pub member: Option<String>,
    /// SQLite sources: the legacy table this collection reads (`table` names its own table).
    pub source_table: Option<String>,
    /// SQLite sources: the `SELECT` this collection reads, in place of `source_table`.
    pub query: Option<String>,
    pub table: Option<String>,
    /// A folder collection sharing its `table` with others (seed 004's `documents`): the value
    /// of the table's `type` column for this collection's rows.
    #[serde(rename = "type")]
    pub doc_type: Option<String>,
    /// In a shared table: the field whose text fills the `name` column (default `name`).
    pub name_field: Option<String>,
    pub key: Option<String>,
    pub key_column: Option<String>,
    /// The API route of this collection under the prefix (`courses`, `v1/series`).
    pub route: Option<String>,
    pub extra_column: Option<String>,
    pub pattern: Option<String>,
    #[serde(default)]
    pub recursive: bool,
    pub body_field: Option<String>,
    /// Whether `q=` searches through an index (default true; `false` scans the records).
    pub search: Option<bool>,
    #[serde(default)]
    pub unique: Vec<Vec<String>>,
    #[serde(default)]
    pub indexes: Vec<Vec<String>>,
    /// The API serves the collection for reading only: writes answer 405 (docs/api.md).
    #[serde(default)]
    pub read_only: bool,
    #[serde(default)]
    pub fields: IndexMap<String, FieldConfig>,
}

/// `[sync]`: how `serve --watch` and `watch` follow the files.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyncConfig {
    /// How long a file must stay quiet before its change is applied (default 500 ms): an
    /// editor's save is several events, applied once.
    pub debounce_ms: Option<u64>,
    /// How often `serve --watch` checks the SQLite database (`PRAGMA quick_check`, and that
    /// the file is still the one opened) to fall back to the files when it is broken (default
    /// 30 s; 0: only at start and on an I/O error).
    pub check_secs: Option<u64>,
}

/// `[backups]`: when `serve` takes database backups and how many are kept.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackupsConfig {
    /// How often `serve` takes one (`"30m"`, `"6h"`, `"1d"`); none when absent.
    pub interval: Option<String>,
    /// Keep the newest N backups (default 10).
    pub keep_last: Option<usize>,
    /// Plus the newest backup of each of the last D days (default 7).
    pub keep_daily: Option<u32>,
    /// Compress backups with zstd (default false).
    #[serde(default)]
    pub compress: bool,
}

/// A field: `title = "text"` or `title = { type = "text", required = true }`.
#[derive(Debug, Clone)]
pub enum FieldConfig {
    Short(String),
    Long(Box<FieldSpec>),
}

/// By hand rather than `#[serde(untagged)]`: an untagged enum's error says only that no form
/// matched, where a typo in a field table (`requried = true`) should be named, with the keys
/// allowed there.
/// What a token may do; each scope includes the ones before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// Reads of the collections, `/db`, and `/_admin/health`, `/metrics`, `/openapi.json`.
    Read,
    /// And writes to the collections.
    Write,
    /// And the rest of `/_admin`: the audit log, backups, restores.
    Admin,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::Write => "write",
            Scope::Admin => "admin",
        }
    }
}

/// One token of `[serve] tokens`: the token (or `env:VAR`) alone, which may do everything, or
/// with the scope it is limited to.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenConfig {
    pub token: String,
    pub scope: Scope,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ScopedToken {
    token: String,
    scope: Scope,
}

impl<'de> Deserialize<'de> for TokenConfig {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        match toml::Value::deserialize(d)? {
            toml::Value::String(token) => Ok(TokenConfig {
                token,
                scope: Scope::Admin,
            }),
            table @ toml::Value::Table(_) => ScopedToken::deserialize(table)
                .map(|t| TokenConfig {
                    token: t.token,
                    scope: t.scope,
                })
                .map_err(|e| D::Error::custom(e.message())),
            other => Err(D::Error::custom(format!(
                "a token is its value (`ci = \"env:CI_TOKEN\"`) or a table (`ci = {{ token = \"env:CI_TOKEN\", scope = \"read\" }}`, scope read, write or admin), not {}",
                other.type_str()
            ))),
        }
    }
}

impl<'de> Deserialize<'de> for FieldConfig {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        match toml::Value::deserialize(d)? {
            toml::Value::String(s) => Ok(FieldConfig::Short(s)),
            table @ toml::Value::Table(_) => FieldSpec::deserialize(table)
                .map(|s| FieldConfig::Long(Box::new(s)))
                .map_err(|e| D::Error::custom(e.message())),
            other => Err(D::Error::custom(format!(
                "a field is a type name (`title = \"text\"`) or a table (`title = {{ type = \"text\", required = true }}`), not {}",
                other.type_str()
            ))),
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldSpec {
    #[serde(rename = "type")]
    pub ty: String,
    pub column: Option<String>,
    #[serde(default)]
    pub required: bool,
    /// The value a record without this field gets: new records inserted through the API, and
    /// existing records when a plan adds the field (docs/evolve.md).
    pub default: Option<toml::Value>,
    /// The field's former name: a plan renames it in every record instead of dropping one
    /// field and adding another (docs/evolve.md).
    pub renamed_from: Option<String>,
    /// `true` on a scalar field; on an array field with a child table, lists of columns that
    /// are unique together (`[["_parent", "word"]]`).
    #[serde(default)]
    pub unique: Unique,
    #[serde(default)]
    pub index: bool,
    /// Write-only through the API: accepted on writes, never returned, not filtered or sorted
    /// on (a password hash). Top-level fields only.
    #[serde(default)]
    pub hidden: bool,
    /// Not settable through the API: a write that sets or changes it answers 422. Top-level
    /// fields only.
    #[serde(default)]
    pub read_only: bool,
    #[serde(rename = "enum")]
    pub enumeration: Option<Vec<toml::Value>>,
    pub min: Option<f64>,
    pub max: Option<f64>,
    pub check: Option<String>,
    pub references: Option<String>,
    pub on_delete: Option<String>,
    // object
    #[serde(default)]
    pub flatten: bool,
    pub prefix: Option<String>,
    // array
    pub of: Option<String>,
    pub table: Option<String>,
    pub id_column: Option<String>,
    pub parent_column: Option<String>,
    pub position_column: Option<String>,
    pub value_column: Option<String>,
    /// Array of shared entities (many-to-many): the element field that identifies an entity.
    /// The elements are stored once each in `table`, and `join_table` lists them per parent.
    pub key: Option<String>,
    pub join_table: Option<String>,
    pub entity_column: Option<String>,
    #[serde(default)]
    pub indexes: Vec<Vec<String>>,
    #[serde(default)]
    pub fields: IndexMap<String, FieldConfig>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Unique {
    Flag(bool),
    Groups(Vec<Vec<String>>),
}

impl Default for Unique {
    fn default() -> Self {
        Unique::Flag(false)
    }
}

impl FieldConfig {
    /// The long form, whichever form was written.
    pub fn spec(&self) -> FieldSpec {
        match self {
            FieldConfig::Short(ty) => FieldSpec {
                ty: ty.clone(),
                ..FieldSpec::default()
            },
            FieldConfig::Long(spec) => (**spec).clone(),
        }
    }
}

/// A loaded project file with its location.
#[derive(Debug, Clone)]
pub struct Project {
    pub path: PathBuf,
    /// The folder holding the project file: relative paths resolve against it.
    pub root: PathBuf,
    pub config: Config,
    /// `database` resolved (or `--database`, which wins: [`Project::with_database`]).
    database: Database,
}

impl Project {
    pub fn load(path: &Path) -> Result<Project, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(path, &text)
    }

    pub fn parse(path: &Path, text: &str) -> Result<Project, ConfigError> {
        let config: Config = toml::from_str(text).map_err(|e| ConfigError::Invalid {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        let abs = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
        let root = abs
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        let mut project = Project {
            path: abs,
            root,
            database: Database::Sqlite(PathBuf::new()),
            config,
        };
        let written = project.config.database.as_deref().unwrap_or("jsonlift.db");
        project.database = Database::parse(written, |p| project.resolve(p))
            .map_err(|m| project.invalid(format!("database: {m}")))?;
        if let Some(schema) = &project.config.pg_schema {
            check_pg_schema(schema).map_err(|m| project.invalid(format!("pg_schema: {m}")))?;
        }
        Ok(project)
    }

    /// The project with `--database` in place of the file's `database`. A path given on the
    /// command line is relative to the current folder, as every path there is.
    pub fn with_database(mut self, text: &str) -> Result<Project, ConfigError> {
        self.database = Database::parse(text, |p| {
            std::path::absolute(p).unwrap_or_else(|_| PathBuf::from(p))
        })
        .map_err(|message| ConfigError::Flag {
            flag: "--database",
            message,
        })?;
        Ok(self)
    }

    pub fn resolve(&self, rel: &str) -> PathBuf {
        let p = Path::new(rel);
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.root.join(p)
        }
    }

    pub fn database(&self) -> &Database {
        &self.database
    }

    /// The SQLite database file. The code that asks is the SQLite side of a verb; a project on
    /// PostgreSQL takes the other side (`Database::Postgres`), so asking is a bug.
    pub fn database_path(&self) -> PathBuf {
        match &self.database {
            Database::Sqlite(p) => p.clone(),
            Database::Postgres(u) => {
                panic!("database_path() asked of a project whose database is {u}")
            }
        }
    }

    /// The schema PostgreSQL tables go in.
    pub fn pg_schema(&self) -> &str {
        self.config.pg_schema.as_deref().unwrap_or("public")
    }

    /// The folder of numbered SQL migrations: `migrations_dir`, or `migrations` beside the
    /// project file.
    pub fn migrations_dir(&self) -> PathBuf {
        self.resolve(
            self.config
                .migrations_dir
                .as_deref()
                .unwrap_or("migrations"),
        )
    }

    pub fn backup_dir(&self) -> PathBuf {
        self.resolve(
            self.config
                .backup_dir
                .as_deref()
                .unwrap_or(".jsonlift/backups"),
        )
    }

    /// The `[backups] interval`, parsed; `None` when scheduled backups are off.
    pub fn backup_interval(&self) -> Result<Option<std::time::Duration>, ConfigError> {
        let Some(text) = self.config.backups.interval.as_deref() else {
            return Ok(None);
        };
        parse_interval(text).map(Some).ok_or_else(|| {
            self.invalid(format!(
                "[backups] interval = {text:?} is not a duration; write a number and a unit: \"30m\", \"6h\", \"1d\" (s, m, h, d)"
            ))
        })
    }

    pub fn busy_timeout(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.config.busy_timeout_ms.unwrap_or(5000))
    }

    pub fn max_depth(&self) -> usize {
        self.config.max_depth.unwrap_or(128).clamp(1, 10_000)
    }

    pub fn invalid(&self, message: impl Into<String>) -> ConfigError {
        ConfigError::Invalid {
            path: self.path.clone(),
            message: message.into(),
        }
    }
}

/// A schema name that reads the same quoted or not: PostgreSQL folds unquoted names to lower
/// case, so `MySchema` would be a different schema in psql than in jsonlift's quoted DDL.
/// `pg_` names are reserved for the system's schemas, and names are at most 63 bytes.
fn check_pg_schema(name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    let well_formed = chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if !well_formed {
        return Err(format!(
            "{name:?} is not a schema name jsonlift accepts: lower-case letters, digits and `_`, not starting with a digit"
        ));
    }
    if name.len() > 63 {
        return Err(format!(
            "{name:?} is longer than PostgreSQL's 63-byte limit for names"
        ));
    }
    if name.starts_with("pg_") {
        return Err(format!(
            "{name:?}: names starting with pg_ are reserved for PostgreSQL's own schemas"
        ));
    }
    Ok(())
}

/// `"90s"`, `"30m"`, `"6h"`, `"1d"` → a positive duration.
fn parse_interval(text: &str) -> Option<std::time::Duration> {
    let text = text.trim();
    let unit = text.chars().last()?;
    let n: u64 = text[..text.len() - unit.len_utf8()].trim().parse().ok()?;
    let secs = match unit {
        's' => n,
        'm' => n * 60,
        'h' => n * 3600,
        'd' => n * 86_400,
        _ => return None,
    };
    (secs > 0).then(|| std::time::Duration::from_secs(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A typo inside a field table names the key and the keys allowed (issue #16), not "did not
    /// match any variant of untagged enum".
    #[test]
    fn a_typo_in_a_field_table_is_named_with_the_keys_allowed() {
        let e = Project::parse(
            Path::new("/p/jsonlift.toml"),
            "[collections.c]\nsource = \"c.json\"\n[collections.c.fields]\ntitle = { type = \"text\", requried = true }\n",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("unknown field `requried`"), "{e}");
        assert!(
            e.contains("expected one of `type`, `column`, `required`"),
            "{e}"
        );
        assert!(e.contains("line 4"), "{e}");
        // Deeper too: a field of a child table.
        let e = Project::parse(
            Path::new("/p/jsonlift.toml"),
            "[collections.c]\nsource = \"c.json\"\n[collections.c.fields.items]\ntype = \"array\"\n[collections.c.fields.items.fields]\nname = { type = \"text\", uniqe = true }\n",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("unknown field `uniqe`"), "{e}");
        let e = Project::parse(
            Path::new("/p/jsonlift.toml"),
            "[collections.c]\nsource = \"c.json\"\n[collections.c.fields]\ntitle = 5\n",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("a field is a type name"), "{e}");
    }

    #[test]
    fn short_and_long_fields_in_order() {
        let p = Project::parse(
            Path::new("/p/jsonlift.toml"),
            r#"
            [collections.courses]
            source = "data/courses.json"
            key = "id"
            [collections.courses.fields]
            id = "text"
            title = { type = "text", required = true }
            [collections.courses.fields.modules]
            type = "array"
            [collections.courses.fields.modules.fields]
            name = "text"
            "#,
        )
        .unwrap();
        let c = &p.config.collections["courses"];
        let names: Vec<_> = c.fields.keys().cloned().collect();
        assert_eq!(names, ["id", "title", "modules"]);
        assert!(c.fields["title"].spec().required);
        assert_eq!(c.fields["modules"].spec().fields.len(), 1);
        assert_eq!(p.database_path(), PathBuf::from("/p/jsonlift.db"));
    }

    #[test]
    fn backup_intervals() {
        assert_eq!(
            parse_interval("30m"),
            Some(std::time::Duration::from_secs(1800))
        );
        assert_eq!(
            parse_interval("1d"),
            Some(std::time::Duration::from_secs(86_400))
        );
        for bad in ["", "0h", "10", "h", "5w"] {
            assert_eq!(parse_interval(bad), None, "{bad}");
        }
        let p = Project::parse(Path::new("j.toml"), "[backups]\ninterval = \"often\"\n").unwrap();
        assert!(
            p.backup_interval()
                .unwrap_err()
                .to_string()
                .contains("often")
        );
    }

    #[test]
    fn database_is_a_path_or_a_postgres_url() {
        let p = Project::parse(Path::new("/p/j.toml"), "database = \"data/app.db\"\n").unwrap();
        assert_eq!(
            p.database(),
            &Database::Sqlite(PathBuf::from("/p/data/app.db"))
        );
        assert_eq!(p.pg_schema(), "public");

        let p = Project::parse(
            Path::new("/p/j.toml"),
            "database = \"postgres://app:pw@db/app\"\npg_schema = \"jsonlift_2\"\n",
        )
        .unwrap();
        let Database::Postgres(u) = p.database() else {
            panic!("{:?}", p.database())
        };
        assert_eq!((u.host.as_str(), u.dbname.as_str()), ("db", "app"));
        assert_eq!(p.database().to_string(), "postgres://app:***@db:5432/app");
        assert_eq!(p.pg_schema(), "jsonlift_2");

        // --database wins, a URL or a path relative to the current folder.
        let q = p.clone().with_database("postgresql://other@h:1/x").unwrap();
        assert_eq!(q.database().to_string(), "postgresql://other@h:1/x");
        let q = p.with_database("here.db").unwrap();
        assert_eq!(q.database_path(), std::path::absolute("here.db").unwrap());

        for (toml, says) in [
            (
                "database = \"postgres://app:pw@db/app?foo=1\"",
                "database: jsonlift does not read the URL parameter `foo`",
            ),
            (
                "database = \"mysql://app:pw@db/app\"",
                "database: a mysql:// URL",
            ),
            ("pg_schema = \"Public\"", "pg_schema: \"Public\""),
            ("pg_schema = \"pg_mine\"", "reserved"),
            ("pg_schema = \"a-b\"", "lower-case letters"),
            ("pg_schema = \"\"", "lower-case letters"),
        ] {
            let e = Project::parse(Path::new("j.toml"), toml)
                .unwrap_err()
                .to_string();
            assert!(e.contains(says), "{toml}: {e}");
            assert!(!e.contains(":pw@"), "{toml}: {e}");
        }
        let e = Project::parse(Path::new("j.toml"), "")
            .unwrap()
            .with_database("postgres://app:pw@db/app?x=1")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("--database: "), "{e}");
    }

    #[test]
    fn unknown_keys_are_rejected() {
        let err = Project::parse(
            Path::new("j.toml"),
            "[collections.a]\nsource = \"a.json\"\nsorce = 1\n",
        )
        .unwrap_err();
        assert!(err.to_string().contains("sorce"), "{err}");
    }
}
