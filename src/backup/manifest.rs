//! The manifest beside each database backup: what the backup holds and how to check it. It is
//! written last (temp file, fsync, rename), so a backup without one is incomplete and ignored.
//!
//! Layout of `<backup_dir>/db/`:
//!
//! ```text
//! 20261121T101502.123456Z.db        the snapshot (or .db.zst when compressed)
//! 20261121T101502.123456Z.json      its manifest
//! ```

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::config::Project;
use crate::schema::Schema;
use crate::schema::fingerprint;
use crate::store::sqlite_file::SqliteFile;

/// What a database backup holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DbManifest {
    /// The backup file's name, in the same folder.
    pub file: String,
    /// When the snapshot started: every write committed before is in it.
    pub taken_at: String,
    /// Why it was taken: `manual`, `schedule`, `migrate-before`, `migrate-after`, `admin`.
    pub reason: String,
    /// SHA-256 and size of the backup file as stored (compressed or not).
    pub sha256: String,
    pub size: u64,
    pub compressed: bool,
    /// Size of the database itself.
    pub db_size: u64,
    /// `PRAGMA integrity_check` of the snapshot: `ok`.
    pub integrity: String,
    /// Which schema the data is in (see [`project_schema_hash`]); a restore refuses another.
    pub schema_hash: String,
    /// The last audit entry the snapshot holds (0 and none when the log is empty).
    pub audit_id: i64,
    pub audit_at: Option<String>,
    /// Rows per table.
    pub counts: BTreeMap<String, u64>,
    pub version: String,
    /// A PostgreSQL backup (`pg_dump` custom format, `.pgdump`): the schema it holds. Absent
    /// for SQLite backups, whose manifests stay as they were.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pg_schema: Option<String>,
}

/// A complete backup found in the folder.
#[derive(Debug, Clone)]
pub struct Entry {
    pub manifest: DbManifest,
    pub data: PathBuf,
    pub manifest_path: PathBuf,
}

impl Entry {
    /// The name users pass to `restore`: the file stem (`20261121T101502.123456Z`).
    pub fn name(&self) -> String {
        stem(&self.manifest_path)
    }

    /// Whether this is a PostgreSQL backup (a `pg_dump` archive) rather than a SQLite file.
    pub fn is_pg_dump(&self) -> bool {
        self.manifest.file.ends_with(".pgdump")
    }

    /// Deletes the backup (manifest first, so a half-deleted one is never listed).
    pub fn discard(&self) {
        let _ = fs::remove_file(&self.manifest_path);
        let _ = fs::remove_file(&self.data);
    }
}

/// A backup as `jsonlift backups --json` and `GET /_admin/backups` list it: the manifest, its
/// name and path, and whether it was re-checked (`verified`: null when not, `problem` when it
/// failed).
pub fn to_json(e: &Entry, verified: Option<&Result<(), String>>) -> serde_json::Value {
    let mut j = serde_json::to_value(&e.manifest).unwrap_or_default();
    j["name"] = e.name().into();
    j["path"] = e.data.display().to_string().into();
    j["verified"] = match verified {
        None => serde_json::Value::Null,
        Some(Ok(())) => true.into(),
        Some(Err(_)) => false.into(),
    };
    if let Some(Err(msg)) = verified {
        j["problem"] = msg.clone().into();
    }
    j
}

/// The backups in `dir`, each re-checked when `verify`: the list as JSON, and whether every
/// check passed.
pub fn list_json(dir: &Path, verify: bool) -> anyhow::Result<(serde_json::Value, bool)> {
    let mut ok = true;
    let mut out = Vec::new();
    let entries = list(dir)?;
    // Checking a PostgreSQL backup needs pg_restore: without it, one clear error rather than
    // every backup listed as failed.
    let pg_restore = match verify && entries.iter().any(Entry::is_pg_dump) {
        true => Some(super::pg_tools::find(super::pg_tools::Tool::Restore, None)?),
        false => None,
    };
    for e in entries {
        let checked = verify.then(|| {
            match (&pg_restore, e.is_pg_dump()) {
                (Some(tool), true) => super::postgres::verify(&e, tool),
                _ => super::db::verify(&e, None).map(|_| ()),
            }
            .map_err(|err| format!("{err:#}"))
        });
        ok &= !matches!(checked, Some(Err(_)));
        out.push(to_json(&e, checked.as_ref()));
    }
    Ok((serde_json::json!({"folder": dir, "backups": out}), ok))
}

fn stem(p: &Path) -> String {
    p.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Where the project's database backups live.
pub fn folder(project: &Project) -> PathBuf {
    project.backup_dir().join("db")
}

/// Every complete backup in `dir`, oldest first. A missing folder holds none.
pub fn list(dir: &Path) -> anyhow::Result<Vec<Entry>> {
    let rd = match fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e).with_context(|| format!("reading {}", dir.display())),
    };
    let mut out = Vec::new();
    for e in rd {
        let path = e?.path();
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        if name.starts_with('.') || !name.ends_with(".json") {
            continue;
        }
        let text = fs::read_to_string(&path)
            .with_context(|| format!("reading backup manifest {}", path.display()))?;
        let manifest: DbManifest = serde_json::from_str(&text).with_context(|| {
            format!(
                "backup manifest {} is damaged; move it away to ignore that backup",
                path.display()
            )
        })?;
        out.push(Entry {
            data: dir.join(&manifest.file),
            manifest,
            manifest_path: path,
        });
    }
    out.sort_by(|a, b| (&a.manifest.taken_at, a.name()).cmp(&(&b.manifest.taken_at, b.name())));
    Ok(out)
}

/// Writes the manifest atomically: temp file, fsync, rename, fsync the folder.
pub fn write(dir: &Path, stem: &str, m: &DbManifest) -> anyhow::Result<PathBuf> {
    let path = dir.join(format!("{stem}.json"));
    let tmp = dir.join(format!(".{stem}.json.tmp-{}", std::process::id()));
    let result = (|| -> std::io::Result<()> {
        let mut f = fs::File::create(&tmp)?;
        f.write_all(serde_json::to_string_pretty(m)?.as_bytes())?;
        f.write_all(b"\n")?;
        f.sync_all()?;
        fs::rename(&tmp, &path)
    })();
    if let Err(e) = result {
        let _ = fs::remove_file(&tmp);
        return Err(super::db::io_error(e, "write", &path));
    }
    super::sync_dir(dir);
    Ok(path)
}

/// What a database holds, as the manifest records it.
#[derive(Debug, Clone, PartialEq)]
pub struct Facts {
    pub integrity: String,
    pub schema_hash: String,
    pub audit_id: i64,
    pub audit_at: Option<String>,
    pub counts: BTreeMap<String, u64>,
}

/// Integrity, schema, audit position and row counts of an open database.
pub fn facts(db: &SqliteFile) -> anyhow::Result<Facts> {
    let problems = db.integrity_problems()?;
    let counts = db.table_counts()?;
    let (audit_id, audit_at) = db.audit_position()?;
    Ok(Facts {
        integrity: problems.join("; "),
        schema_hash: hash_pairs(db.schema_hashes()?),
        audit_id,
        audit_at,
        counts,
    })
}

/// Which schema a database's data is in: the per-source schema fingerprints its migrations
/// recorded ([`SqliteFile::schema_hashes`]), hashed. Two databases of the same project (same
/// jsonlift.toml) agree; another project's does not. This is the same fingerprint computed
/// from the project file: what a database migrated with it has.
pub fn project_schema_hash(schema: &Schema) -> String {
    hash_pairs(
        schema
            .sources
            .iter()
            .enumerate()
            .map(|(si, s)| (s.display.clone(), fingerprint::schema_hash(schema, si)))
            .collect(),
    )
}

pub(crate) fn hash_pairs(mut pairs: Vec<(String, String)>) -> String {
    pairs.sort();
    let mut h = Sha256::new();
    for (p, s) in pairs {
        h.update(format!("{p}\t{s}\n"));
    }
    fingerprint::hex(&h.finalize())
}
