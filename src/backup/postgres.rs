//! Database backups of a PostgreSQL project: `pg_dump --format=custom` of the project's schema
//! into the same folder as SQLite backups (`<backup_dir>/db/<time>.pgdump`), with the same
//! manifest beside it, so `backups`, retention and `restore --at` treat both alike.
//!
//! What the manifest says is read in the very snapshot the dump is taken from: a REPEATABLE
//! READ transaction exports its snapshot (`pg_export_snapshot()`), reads the row counts, the
//! audit position and the schema fingerprint, and stays open while `pg_dump --snapshot` dumps
//! exactly that snapshot. A write committed meanwhile is in neither, so `restore --at` replays
//! from precisely the audit entry the dump ends with, however busy the servers are.
//!
//! The dump goes to a temp file, is fsynced, read back by `pg_restore --list` (the archive
//! must be whole and hold every table), then renamed into place; the manifest is written last.

use std::collections::BTreeMap;
use std::fs;

use anyhow::{Context, bail};

use super::db::{TakeOptions, TempFile, check_checksum, io_error, remove_stale_temps, unique_stem};
use super::manifest::{self, DbManifest, Entry, Facts};
use super::pg_tools::{self, Found, Tool};
use super::{pause_at, sync_dir, sync_path};
use crate::clock;
use crate::config::Project;
use crate::schema::ddl::quote;
use crate::store::postgres::connect::PgUrl;
use crate::store::postgres::db::PgConn;

/// Takes a backup of the project's schema into the backup folder and applies the retention
/// policy. The tools are looked for before anything is written.
pub fn take(project: &Project, url: &PgUrl, opts: TakeOptions) -> anyhow::Result<Entry> {
    let pg_schema = project.pg_schema();
    let mut conn = PgConn::open(url, pg_schema, false)?;
    let major = conn.server_major()?;
    let dump = pg_tools::find(Tool::Dump, Some(major))?;
    let restore = pg_tools::find(Tool::Restore, Some(major))?;

    let dir = manifest::folder(project);
    fs::create_dir_all(&dir).map_err(|e| io_error(e, "create", &dir))?;
    remove_stale_temps(&dir);
    let taken_at = clock::now();
    let stem = unique_stem(&dir, &taken_at);
    let file = format!("{stem}.pgdump");
    let tmp = dir.join(format!(".{file}.tmp-{}", std::process::id()));
    let guard = TempFile(Some(tmp.clone()));

    let name = conn.name.clone();
    let facts = conn.in_exported_snapshot(|snapshot, held| {
        pg_tools::run(
            Tool::Dump,
            dump.command(url)
                .arg("--format=custom")
                // Quoted: the name exactly, not a pattern.
                .arg(format!("--schema={}", quote(pg_schema)))
                .arg(format!("--snapshot={snapshot}"))
                .arg(format!("--file={}", tmp.display())),
        )
        .with_context(|| format!("backing up {name}; the database was not changed"))?;
        Ok(Facts {
            // What `pg_restore --list` says of the archive is checked after the dump;
            // PostgreSQL has no integrity_check of its own to run here.
            integrity: "ok".into(),
            schema_hash: manifest::hash_pairs(held.schema_hashes),
            audit_id: held.audit_id,
            audit_at: held.audit_at,
            counts: held.counts,
        })
    })?;
    sync_path(&tmp).map_err(|e| io_error(e, "sync", &tmp))?;
    check_archive(&restore, &tmp, pg_schema, &facts.counts)
        .context("the new backup cannot be read back; nothing was kept")?;
    pause_at("backup:snapshot");
    let (size, sha256) = super::hash_file(&tmp).map_err(|e| io_error(e, "read", &tmp))?;
    let final_path = dir.join(&file);
    fs::rename(&tmp, &final_path).map_err(|e| io_error(e, "rename", &final_path))?;
    drop(guard);
    sync_dir(&dir);
    let m = DbManifest {
        file,
        taken_at,
        reason: opts.reason.to_string(),
        sha256,
        size,
        // The custom format is compressed by pg_dump itself; the file is stored as it wrote it.
        compressed: false,
        db_size: conn.schema_size()?,
        integrity: facts.integrity,
        schema_hash: facts.schema_hash,
        audit_id: facts.audit_id,
        audit_at: facts.audit_at,
        counts: facts.counts,
        version: env!("CARGO_PKG_VERSION").to_string(),
        pg_schema: Some(pg_schema.to_string()),
    };
    let manifest_path = match manifest::write(&dir, &stem, &m) {
        Ok(p) => p,
        Err(e) => {
            let _ = fs::remove_file(&final_path);
            return Err(e);
        }
    };
    let entry = Entry {
        manifest: m,
        data: final_path,
        manifest_path,
    };
    super::retention::apply(project, &dir)?;
    drop_old_asides(project, &mut conn, &dir);
    Ok(entry)
}

/// Drops the schemas earlier restores kept aside that the retention policy no longer keeps
/// (those the restores log names and that still exist). A failure is logged: the backup
/// itself succeeded.
pub(super) fn drop_old_asides(project: &Project, conn: &mut PgConn, dir: &std::path::Path) {
    let mut existing = Vec::new();
    for r in super::pitr::past_restores(dir) {
        let Some(name) = r.aside.as_deref().and_then(|a| a.strip_prefix("schema ")) else {
            continue;
        };
        if let Ok(true) = conn.schema_exists(name) {
            existing.push((
                name.to_string(),
                clock::parse_micros(&r.done_at).unwrap_or(0),
            ));
        }
    }
    for name in super::retention::asides_to_drop(project, &existing) {
        match conn.drop_schema(&name) {
            Ok(()) => {
                tracing::info!(aside = %name, "schema kept aside by a restore dropped by the retention policy")
            }
            Err(e) => {
                tracing::warn!(aside = %name, "cannot drop an old schema kept aside by a restore: {e}")
            }
        }
    }
}

/// `pg_restore --list` reads the whole archive, which must hold the data of every table
/// `counts` names, in schema `pg_schema`.
fn check_archive(
    restore: &Found,
    file: &std::path::Path,
    pg_schema: &str,
    counts: &BTreeMap<String, u64>,
) -> anyhow::Result<()> {
    let toc = pg_tools::list(restore, file)?;
    let missing: Vec<&String> = counts
        .keys()
        .filter(|t| !toc.contains(&format!(" TABLE DATA {pg_schema} {t} ")))
        .collect();
    if !missing.is_empty() {
        bail!(
            "the archive lacks the rows of table{} {}",
            if missing.len() == 1 { "" } else { "s" },
            missing
                .iter()
                .map(|t| t.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    Ok(())
}

/// Checks a PostgreSQL backup without a server: its checksum against the manifest, then that
/// `pg_restore --list` reads the archive and finds every table the manifest counts.
pub fn verify(entry: &Entry, restore: &Found) -> anyhow::Result<()> {
    check_checksum(entry)?;
    let m = &entry.manifest;
    let schema = m.pg_schema.as_deref().unwrap_or("public");
    check_archive(restore, &entry.data, schema, &m.counts).with_context(|| {
        format!(
            "backup {} cannot be restored; use another backup",
            entry.data.display()
        )
    })
}
