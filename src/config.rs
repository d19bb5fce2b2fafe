//! `jsonlift.toml`: parsing and path resolution. This module only reads what the user wrote;
//! [`crate::schema`] turns it into tables and rules. Every key is documented in docs/config.md.

use std::path::{Path, PathBuf};

use indexmap::IndexMap;
use serde::Deserialize;

use crate::source::Format;

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
}

/// The project file as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub database: Option<String>,
    pub backup_dir: Option<String>,
    pub busy_timeout_ms: Option<u64>,
    pub max_depth: Option<usize>,
    /// Database backups: schedule and retention (docs/backup.md).
    #[serde(default)]
    pub backups: BackupsConfig,
    #[serde(default)]
    pub serve: ServeConfig,
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
    /// Token name → token. A value `env:NAME` reads the token from environment variable NAME.
    #[serde(default)]
    pub tokens: IndexMap<String, String>,
    /// Require a token for reads too.
    #[serde(default)]
    pub protect_reads: bool,
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
    pub source: String,
    pub format: Option<Format>,
    pub member: Option<String>,
    pub table: Option<String>,
    pub key: Option<String>,
    pub key_column: Option<String>,
    /// The API route of this collection under the prefix (`courses`, `v1/series`).
    pub route: Option<String>,
    pub extra_column: Option<String>,
    pub pattern: Option<String>,
    #[serde(default)]
    pub recursive: bool,
    pub body_field: Option<String>,
    #[serde(default)]
    pub unique: Vec<Vec<String>>,
    #[serde(default)]
    pub indexes: Vec<Vec<String>>,
    #[serde(default)]
    pub fields: IndexMap<String, FieldConfig>,
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
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum FieldConfig {
    Short(String),
    Long(Box<FieldSpec>),
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldSpec {
    #[serde(rename = "type")]
    pub ty: String,
    pub column: Option<String>,
    #[serde(default)]
    pub required: bool,
    /// `true` on a scalar field; on an array field with a child table, lists of columns that
    /// are unique together (`[["_parent", "word"]]`).
    #[serde(default)]
    pub unique: Unique,
    #[serde(default)]
    pub index: bool,
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
            message: untagged_hint(e.to_string()),
        })?;
        let abs = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
        let root = abs
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        Ok(Project {
            path: abs,
            root,
            config,
        })
    }

    pub fn resolve(&self, rel: &str) -> PathBuf {
        let p = Path::new(rel);
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.root.join(p)
        }
    }

    pub fn database_path(&self) -> PathBuf {
        self.resolve(self.config.database.as_deref().unwrap_or("jsonlift.db"))
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

/// serde's message for an untagged enum says nothing useful; say what the field forms are.
fn untagged_hint(msg: String) -> String {
    if msg.contains("did not match any variant of untagged enum FieldConfig") {
        format!(
            "{msg}\nhint: a field is either a type name (`title = \"text\"`) or a table \
             (`title = {{ type = \"text\", required = true }}`); check the key names against docs/config.md"
        )
    } else {
        msg
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn unknown_keys_are_rejected() {
        let err = Project::parse(
            Path::new("j.toml"),
            "[collections.a]\nsource = \"a.json\"\nsorce = 1\n",
        )
        .unwrap_err();
        assert!(err.to_string().contains("sorce"), "{err}");
    }
}
