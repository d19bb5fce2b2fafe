//! Putting a backup back: verify it (checksum, integrity, schema), build the new database in a
//! temp file beside the live one (replaying the audit log for `--at`), then swap it in.
//!
//! The swap survives SIGKILL at any moment: the live database is first taken out of WAL mode
//! (which folds its -wal into the main file and removes it, and needs every other connection
//! closed), then held with an exclusive lock while a hard link keeps it aside and one
//! `rename` puts the new file in its place. Before the rename the old database is whole in its
//! one file; after it the new one is, and there is no -wal of the old one that SQLite could
//! apply to the new one.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

use super::db::{io_error, open_immutable, verify};
use super::manifest::{self, Entry};
use super::{lock, pause_at, pitr, sync_dir, sync_path};
use crate::clock;
use crate::config::Project;
use crate::schema::Schema;
use crate::store::sqlite_file::SqliteFile;

#[derive(Debug, Clone, Default)]
pub struct RestoreOptions {
    /// A backup name (as `jsonlift backups` lists it) or path; the latest when `None`.
    pub backup: Option<String>,
    /// Restore the state at this RFC 3339 moment.
    pub at: Option<String>,
    /// The caller is a server that holds the server lock and has closed its connections
    /// (`POST /_admin/restore`).
    pub from_server: bool,
    /// Who asked: the token's name through the server, `cli` for `jsonlift restore`. The
    /// restored database's audit log gets an entry saying so ([`restore_entry`]).
    pub actor: crate::audit::Actor,
}

/// The audit entry a restore adds to the database it puts in place, as its last entry: which
/// backup, to which moment, how many entries were replayed, and who asked.
pub fn restore_entry(
    opts: &RestoreOptions,
    entry: &Entry,
    replayed: u64,
) -> crate::audit::NewEntry {
    let mut actor = opts.actor.clone();
    if actor.name.is_empty() {
        actor.name = "cli".into();
    }
    crate::audit::database_entry(
        "restore",
        &entry.name(),
        &serde_json::json!({
            "backup": entry.name(),
            "taken_at": entry.manifest.taken_at,
            "at": opts.at,
            "replayed": replayed,
        }),
        &actor,
    )
}

#[derive(Debug)]
pub struct Restored {
    pub backup: Entry,
    /// Where the previous database was kept.
    pub aside: Option<PathBuf>,
    /// Audit entries replayed (with `--at`).
    pub replayed: u64,
    pub db: PathBuf,
}

/// Deletes the half-built database on drop unless disarmed.
struct Temp(Option<PathBuf>);

impl Drop for Temp {
    fn drop(&mut self) {
        if let Some(p) = self.0.take() {
            for suffix in ["", "-wal", "-shm", "-journal"] {
                let _ = fs::remove_file(format!("{}{suffix}", p.display()));
            }
        }
    }
}

/// The backup named `name` (as `jsonlift backups` lists it) or at that path.
pub fn find<'a>(entries: &'a [Entry], name: &str) -> anyhow::Result<&'a Entry> {
    let p = Path::new(name);
    entries
        .iter()
        .find(|e| {
            e.name() == name
                || e.data == p
                || e.manifest_path == p
                || (p.exists()
                    && fs::canonicalize(p).ok().is_some_and(|c| {
                        Some(&c) == fs::canonicalize(&e.data).ok().as_ref()
                            || Some(&c) == fs::canonicalize(&e.manifest_path).ok().as_ref()
                    }))
        })
        .with_context(|| format!("no backup named {name:?}; `jsonlift backups` lists them"))
}

/// The backup a restore starts from, and the moment to replay to (microseconds) for `--at`:
/// the one named, else the latest (at or before `--at`) of this backend's kind (`pg`: the
/// PostgreSQL backups; else the SQLite ones). A named backup of the other kind is returned and
/// refused by its check, with a message saying so. With `--at`, also whose audit log to replay.
pub(super) fn choose_entry<'a>(
    all: &'a [Entry],
    dir: &Path,
    opts: &RestoreOptions,
    pg: bool,
) -> anyhow::Result<(&'a Entry, Option<(i64, pitr::History)>)> {
    let entries: Vec<&Entry> = all.iter().filter(|e| e.is_pg_dump() == pg).collect();
    if entries.is_empty() && opts.backup.is_none() {
        bail!(
            "there are no database backups{} in {}; take one with `jsonlift backup`",
            if pg { " of PostgreSQL" } else { "" },
            dir.display()
        );
    }
    Ok(match (&opts.backup, &opts.at) {
        (_, Some(at)) => {
            let owned: Vec<Entry> = entries.iter().map(|&e| e.clone()).collect();
            let c = pitr::choose(&owned, &pitr::past_restores(dir), at)?;
            let i = c.index;
            let e = match &opts.backup {
                Some(name) => {
                    let e = find(all, name)?;
                    if e.manifest.taken_at > entries[i].manifest.taken_at {
                        bail!(
                            "backup {} was taken after --at {at}; name an earlier one or leave it out",
                            e.name()
                        );
                    }
                    e
                }
                None => entries[i],
            };
            (e, Some((c.until, c.history)))
        }
        (Some(name), None) => (find(all, name)?, None),
        (None, None) => (*entries.last().expect("not empty"), None),
    })
}

pub fn restore(project: &Project, opts: &RestoreOptions) -> anyhow::Result<Restored> {
    let db = project.database_path();
    let _lock = if opts.from_server {
        None
    } else {
        Some(lock::hold_restore_lock(&db)?)
    };
    let schema = Schema::build(project)?;
    let dir = manifest::folder(project);
    let all = manifest::list(&dir)?;
    let (entry, at) = choose_entry(&all, &dir, opts, false)?;
    let until = at.as_ref().map(|(t, _)| *t);
    let name = db
        .file_name()
        .context("database path has no file name")?
        .to_string_lossy()
        .into_owned();
    let folder = db
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    fs::create_dir_all(&folder).map_err(|e| io_error(e, "create", &folder))?;
    remove_stale(&folder, &name);
    let tmp = folder.join(format!(".{name}.restore-{}", std::process::id()));
    let mut guard = Temp(Some(tmp.clone()));

    let facts = verify(entry, Some(&tmp))?;
    let want = manifest::project_schema_hash(&schema);
    if facts.schema_hash != want || entry.manifest.schema_hash != want {
        bail!(
            "backup {} holds another schema than {} describes (another project's database, or one migrated with a different jsonlift.toml); nothing was changed",
            entry.name(),
            project.path.display()
        );
    }
    let mut replayed = 0;
    {
        let target = SqliteFile::open_restored(&tmp)?;
        if let Some((until, history)) = &at {
            // The history undone by a later restore is read from the database it kept aside.
            let source = match history {
                pitr::History::Live => db.clone(),
                pitr::History::Aside(path) => PathBuf::from(path),
            };
            let live = pitr::open_live(&source, project.busy_timeout())?;
            replayed = pitr::replay(&live, &target, &schema, entry, *until)?;
        }
        // Part of the new database from the moment it is in place.
        pitr::log_database_entry(&target, &restore_entry(opts, entry, replayed))?;
        // The new database starts in WAL like every jsonlift database.
        target.finish_restored()?;
    }
    sync_path(&tmp).map_err(|e| io_error(e, "sync", &tmp))?;
    if until.is_some() {
        let check = manifest::facts(&open_immutable(&tmp)?)?;
        if check.integrity != "ok" {
            bail!(
                "the replayed database fails integrity_check: {}; nothing was changed",
                check.integrity
            );
        }
    }
    pause_at("restore:prepared");
    let aside = swap(&db, &tmp, project.busy_timeout())?;
    guard.0 = None;
    let record = pitr::PastRestore {
        done_at: clock::now(),
        state_at: until
            .map(clock::from_micros)
            .unwrap_or_else(|| entry.manifest.taken_at.clone()),
        aside: aside.as_ref().map(|a| a.display().to_string()),
    };
    if let Err(e) = pitr::log_restore(&dir, &record) {
        tracing::warn!("the restore is done, but recording it failed: {e:#}");
    }
    super::retention::remove_aside_files(project);
    Ok(Restored {
        backup: entry.clone(),
        aside,
        replayed,
        db,
    })
}

/// Replaces `db` by `new` atomically, keeping the old one aside. See the module comment.
fn swap(db: &Path, new: &Path, busy: std::time::Duration) -> anyhow::Result<Option<PathBuf>> {
    let dir = db.parent().unwrap_or(Path::new("."));
    if !db.exists() {
        for suffix in ["-wal", "-shm", "-journal"] {
            let _ = fs::remove_file(format!("{}{suffix}", db.display()));
        }
        fs::rename(new, db).map_err(|e| io_error(e, "rename", db))?;
        sync_dir(dir);
        return Ok(None);
    }
    let live = crate::store::sqlite::open_plain(db)
        .with_context(|| format!("opening {}", db.display()))?;
    live.busy_timeout(busy)?;
    let in_use = || {
        anyhow::anyhow!(
            "the database {} is open in another process (a `jsonlift serve`, a sqlite3 shell, an application); close it and run again. Nothing was changed",
            db.display()
        )
    };
    // Leaving WAL mode checkpoints everything into the main file and deletes the -wal; SQLite
    // refuses while any other connection is open.
    let mode: String = live
        .query_row("PRAGMA journal_mode=DELETE", [], |r| r.get(0))
        .map_err(|_| in_use())?;
    if mode != "delete" {
        return Err(in_use());
    }
    pause_at("restore:checkpointed");
    // Nobody may open or write it until the swap is done.
    live.execute_batch("BEGIN EXCLUSIVE")
        .map_err(|_| in_use())?;
    for suffix in ["-wal", "-journal"] {
        let p = PathBuf::from(format!("{}{suffix}", db.display()));
        if p.exists() {
            bail!(
                "{} exists while the database is locked exclusively; inspect it before restoring. Nothing was changed",
                p.display()
            );
        }
    }
    let _ = fs::remove_file(format!("{}-shm", db.display()));
    let stamp: String = clock::now()
        .chars()
        .filter(|c| !matches!(c, '-' | ':'))
        .collect();
    let name = db.file_name().unwrap_or_default().to_string_lossy();
    let aside = db.with_file_name(format!("{name}.before-restore-{stamp}"));
    if fs::hard_link(db, &aside).is_err() {
        fs::copy(db, &aside).map_err(|e| io_error(e, "copy the database to", &aside))?;
        sync_path(&aside).map_err(|e| io_error(e, "sync", &aside))?;
    }
    sync_dir(dir);
    pause_at("restore:aside");
    fs::rename(new, db).map_err(|e| io_error(e, "rename", db))?;
    sync_dir(dir);
    pause_at("restore:renamed");
    let _ = live.execute_batch("ROLLBACK");
    drop(live);
    Ok(Some(aside))
}

/// Removes temp databases of restores whose process is gone.
fn remove_stale(dir: &Path, name: &str) {
    let prefix = format!(".{name}.restore-");
    let Ok(rd) = fs::read_dir(dir) else { return };
    for e in rd.flatten() {
        let file = e.file_name().to_string_lossy().into_owned();
        let Some(pid) = file.strip_prefix(&prefix) else {
            continue;
        };
        if crate::process::gone_named(pid.split('-').next().unwrap_or_default()) {
            let _ = fs::remove_file(e.path());
        }
    }
}
