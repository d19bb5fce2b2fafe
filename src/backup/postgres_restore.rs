//! Putting a PostgreSQL backup back: the project's schema is replaced by the one in a `pg_dump`
//! archive, the previous schema kept aside under another name, as SQLite keeps the previous
//! file aside (`*.before-restore-*`).
//!
//! pg_restore cannot restore a schema under another name, so the swap goes the other way
//! round: the live schema is renamed aside (`<schema>_before_restore_<time>`) and an empty one
//! made under its name, in one transaction; `pg_restore --single-transaction` fills it; with
//! `--at`, the audit log read from the live schema beforehand is replayed onto it through the
//! seam's write path (`pitr::apply`) in one more transaction. If any step fails, the new schema
//! is dropped and the old one renamed back: nothing is lost, whatever failed.
//!
//! Everything that decides whether the restore can happen is done before the rename: the
//! backup's checksum and archive, its schema against the project file, the audit log to
//! replay, the client programs, and no other jsonlift session (a `serve`) on the schema.

use std::io::Write;

use anyhow::{Context, bail};

use super::manifest::{self, Entry};
use super::pg_tools::{self, Tool};
use super::postgres::verify;
use super::restore::{RestoreOptions, choose_entry};
use super::{InUse, pause_at, pitr};
use crate::audit::Entry as AuditEntry;
use crate::clock;
use crate::config::Project;
use crate::schema::Schema;
use crate::store::StoreError;
use crate::store::postgres::connect::PgUrl;
use crate::store::postgres::db::{Mode, PgConn};

/// What a PostgreSQL restore did.
#[derive(Debug)]
pub struct PgRestored {
    pub backup: Entry,
    /// The schema the previous one was renamed to (none when there was none).
    pub aside: Option<String>,
    /// Audit entries replayed (with `--at`).
    pub replayed: u64,
    /// The database and schema restored, for messages.
    pub target: String,
}

pub fn restore(
    project: &Project,
    url: &PgUrl,
    opts: &RestoreOptions,
) -> anyhow::Result<PgRestored> {
    let schema = Schema::build(project)?;
    let pg_schema = project.pg_schema();
    // The server first: an unreachable one or a refused login is said as on every verb.
    let mut conn = PgConn::open(url, pg_schema, false)?;
    let target = conn.name.clone();
    let major = conn.server_major()?;
    let tool = pg_tools::find(Tool::Restore, Some(major))?;
    let dir = manifest::folder(project);
    let all = manifest::list(&dir)?;
    let (entry, at) = choose_entry(&all, &dir, opts, true)?;
    let until = at.as_ref().map(|(t, _)| *t);
    if !entry.is_pg_dump() {
        bail!(
            "backup {} is a SQLite database; this project's database is PostgreSQL. Nothing was changed (`jsonlift copy --to URL` moves a SQLite database into PostgreSQL)",
            entry.name()
        );
    }
    verify(entry, &tool)?;
    let want = manifest::project_schema_hash(&schema);
    if entry.manifest.schema_hash != want {
        bail!(
            "backup {} holds another schema than {} describes (another project's database, or one migrated with a different jsonlift.toml); nothing was changed",
            entry.name(),
            project.path.display()
        );
    }
    let dumped = entry.manifest.pg_schema.as_deref().unwrap_or("public");
    if dumped != pg_schema {
        bail!(
            "backup {} holds PostgreSQL schema {dumped}, and the project's pg_schema is {pg_schema}; restore it with pg_schema = \"{dumped}\" (pg_restore cannot rename a schema). Nothing was changed",
            entry.name()
        );
    }
    let exists = conn.schema_exists(pg_schema)?;
    let pending = |conn: &mut PgConn, until: i64| -> anyhow::Result<Vec<AuditEntry>> {
        conn.run(Mode::Read, |tx| {
            pitr::pending(tx, entry, until).map_err(StoreError::Other)
        })
        .map_err(anyhow::Error::new)
    };
    let replay: Vec<AuditEntry> = match &at {
        // History a later restore undid: read from the schema it kept aside.
        Some((until, history)) if history.schema().is_some() => {
            let aside = history.schema().unwrap_or_default();
            if !conn.schema_exists(aside)? {
                bail!(
                    "--at {} lies in history that a later restore undid; the schema it kept aside, {aside}, held it and is gone (dropped by the backup retention, or by hand). Nothing was changed",
                    opts.at.as_deref().unwrap_or_default()
                );
            }
            pending(&mut PgConn::open(url, aside, false)?, *until)?
        }
        Some((until, _)) if exists => pending(&mut conn, *until)?,
        Some(_) => bail!(
            "--at needs the live database's audit log, and {target} does not exist; restore a backup without --at"
        ),
        None => Vec::new(),
    };
    pause_at("restore:prepared");
    refuse_if_in_use(&mut conn, url, pg_schema)?;

    // 1. The live schema aside, an empty one of the same owner under its name: one transaction.
    let aside = exists.then(|| aside_name(pg_schema));
    conn.set_aside(pg_schema, aside.as_deref())
        .with_context(|| format!("renaming schema {pg_schema} aside; nothing was changed"))?;
    pause_at("restore:aside");

    // 2. and 3. Fill it; replay. Undone as a whole if either fails.
    let filled = fill(&tool, url, entry, pg_schema).and_then(|()| {
        // A connection of its own: the names now lead to the new schema.
        let mut fresh = PgConn::open(url, pg_schema, false)?;
        // The record changes replayed (entries about backups and restores changed none).
        let n = replay
            .iter()
            .filter(|e| e.collection != crate::audit::DATABASE)
            .count() as u64;
        let logged = super::restore::restore_entry(opts, entry, n);
        fresh
            .run(Mode::Write, |tx| {
                tx.defer_references()?;
                for e in &replay {
                    pitr::apply(tx, &schema, e)
                        .with_context(|| {
                            format!("replaying audit entry {} ({} {})", e.id, e.action, e.at)
                        })
                        .map_err(StoreError::Other)?;
                }
                // The restore itself, the new schema's last entry.
                if tx.columns("_jsonlift_audit")?.is_some() {
                    tx.audit_append(&logged)?;
                }
                Ok::<_, StoreError>(())
            })
            .map_err(anyhow::Error::new)?;
        // The replayed entries came with their ids: the sequence must hand out the next ones.
        fresh.sync_audit_ids()?;
        Ok(n)
    });
    let replayed = match filled {
        Ok(n) => n,
        Err(e) => {
            let undo = conn.put_back(pg_schema, aside.as_deref());
            return Err(match undo {
                Ok(()) => e.context(format!(
                    "restoring backup {} into {target}; the previous schema is back in place, nothing was changed",
                    entry.name()
                )),
                Err(u) => e.context(format!(
                    "restoring backup {} into {target} failed, and so did putting the previous schema back ({u:#}); it is kept as schema {}: `ALTER SCHEMA {} RENAME TO {pg_schema}` after dropping the half-restored one",
                    entry.name(),
                    aside.as_deref().unwrap_or("-"),
                    aside.as_deref().unwrap_or("-"),
                )),
            });
        }
    };
    pause_at("restore:renamed");
    let record = pitr::PastRestore {
        done_at: clock::now(),
        state_at: until
            .map(clock::from_micros)
            .unwrap_or_else(|| entry.manifest.taken_at.clone()),
        aside: aside.as_ref().map(|a| format!("schema {a}")),
    };
    if let Err(e) = pitr::log_restore(&dir, &record) {
        tracing::warn!("the restore is done, but recording it failed: {e:#}");
    }
    super::postgres::drop_old_asides(project, &mut conn, &dir);
    Ok(PgRestored {
        backup: entry.clone(),
        aside,
        replayed,
        target,
    })
}

/// `<schema>_before_restore_<yyyymmddthhmmss>`, within PostgreSQL's 63-byte names (a longer
/// one would be cut silently, and could meet another).
fn aside_name(pg_schema: &str) -> String {
    // To the microsecond: two restores in one second (a point-in-time restore right after
    // another) must not pick the same name.
    let stamp: String = clock::now()
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(21)
        .collect::<String>()
        .to_ascii_lowercase();
    let suffix = format!("_before_restore_{stamp}");
    let keep = 63 - suffix.len();
    let base: String = pg_schema.chars().take(keep).collect();
    format!("{base}{suffix}")
}

/// `pg_restore --single-transaction` of the archive into the (new, empty) schema. The archive's
/// own `CREATE SCHEMA` entry is left out: the schema exists already (and pg_dump writes none
/// for `public`, which initdb makes).
fn fill(tool: &pg_tools::Found, url: &PgUrl, entry: &Entry, pg_schema: &str) -> anyhow::Result<()> {
    let toc = pg_tools::list(tool, &entry.data)?;
    let mut list = tempfile::NamedTempFile::new().context("creating a temp file")?;
    let schema_entry = format!(" SCHEMA - {pg_schema} ");
    for line in toc.lines() {
        if !format!("{line} ").contains(&schema_entry) {
            writeln!(list, "{line}")?;
        }
    }
    list.flush()?;
    pg_tools::run(
        Tool::Restore,
        tool.command(url)
            .arg("--single-transaction")
            .arg("--exit-on-error")
            .arg(format!("--use-list={}", list.path().display()))
            .arg(&entry.data),
    )?;
    Ok(())
}

/// Refuses while another jsonlift process (a `serve`, a `migrate`) works on this schema: its
/// requests would fail while the schema is being replaced. Each jsonlift connection names its
/// process and schema in `application_name` ([`PgConn::application_name`]). Other applications
/// are not seen; they find the restored tables by name once the restore is done. The refusal is
/// an [`InUse`], which a server answers with 409.
fn refuse_if_in_use(conn: &mut PgConn, url: &PgUrl, pg_schema: &str) -> anyhow::Result<()> {
    let others = conn.other_jsonlift_processes(pg_schema)?;
    if others.is_empty() {
        return Ok(());
    }
    Err(InUse(format!(
        "schema {pg_schema} of {url} is in use by other servers: {} jsonlift process{} ({}); stop the `jsonlift serve` processes on it and run again, or restore through one of them with POST /_admin/restore. Nothing was changed",
        others.len(),
        if others.len() == 1 { "" } else { "es" },
        others.join("; ")
    ))
    .into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_aside_name_fits_postgres_names() {
        let n = aside_name("app");
        assert!(n.starts_with("app_before_restore_"), "{n}");
        assert_eq!(n.len(), "app_before_restore_".len() + 21, "{n}");
        assert!(
            n.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        );
        let long = "x".repeat(63);
        assert_eq!(aside_name(&long).len(), 63);
    }
}
