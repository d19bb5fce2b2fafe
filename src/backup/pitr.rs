//! Point-in-time recovery: the latest backup at or before the moment, then the audit log
//! replayed on top of it (entries after the backup's position, up to the moment, in id order).
//! Every write jsonlift makes records the whole new record in `_jsonlift_audit`, so replaying
//! them gives the exact state at that moment, audit rows included.

use std::path::Path;

use anyhow::{Context, bail};
use rusqlite::Connection;

use super::manifest::{DbManifest, Entry};
use crate::audit::{Entry as AuditEntry, Log};
use crate::clock;
use crate::schema::Schema;
use crate::store::Records;
use crate::store::Tx;
use crate::store::bookkeeping;
use crate::store::sqlite;
use crate::store::sqlite::SqliteTx;

/// A restore that went back in time: the history between `state_at` and `done_at` is no longer
/// in the live database's audit log (it is in the database kept `aside`).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PastRestore {
    pub done_at: String,
    pub state_at: String,
    pub aside: Option<String>,
}

/// The restores log beside the backups.
pub fn restores_log(dir: &Path) -> std::path::PathBuf {
    dir.join("restores.jsonl")
}

/// The restores done so far (a torn last line is ignored).
pub fn past_restores(dir: &Path) -> Vec<PastRestore> {
    std::fs::read_to_string(restores_log(dir))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// Records a restore, so that later `--at` requests know which history it undid.
pub fn log_restore(dir: &Path, r: &PastRestore) -> anyhow::Result<()> {
    use std::io::Write;
    let path = restores_log(dir);
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .map_err(|e| super::db::io_error(e, "write", &path))?;
    writeln!(f, "{}", serde_json::to_string(r)?)?;
    f.sync_all()?;
    Ok(())
}

/// Where a point-in-time restore reads the history it replays.
#[derive(Debug, Clone, PartialEq)]
pub enum History {
    /// The live database's audit log.
    Live,
    /// The database a later restore kept aside (as [`PastRestore::aside`] names it: a file
    /// path on SQLite, `schema NAME` on PostgreSQL): it was the live one at the moment asked
    /// for, and its audit log still holds the history that restore undid.
    Aside(String),
}

impl History {
    /// The schema name of a PostgreSQL aside (`schema NAME` in the restores log).
    pub fn schema(&self) -> Option<&str> {
        match self {
            History::Aside(a) => a.strip_prefix("schema "),
            History::Live => None,
        }
    }
}

/// What [`choose`] decided: the backup to start from, the moment, and whose audit log leads
/// there.
#[derive(Debug, Clone, PartialEq)]
pub struct Choice {
    pub index: usize,
    pub until: i64,
    pub history: History,
}

/// `TIME` parsed, checked against now, the backups and past restores: the backup to start
/// from, the moment in microseconds, and the audit log to replay.
///
/// A moment in history that a later restore undid is still reachable: the database that was
/// live at that moment is the one the first restore after it kept aside, and its audit log
/// runs up to that restore. A moment outside every undone stretch is read from the live log.
pub fn choose(entries: &[Entry], restores: &[PastRestore], time: &str) -> anyhow::Result<Choice> {
    let t = clock::parse_micros(time).with_context(|| {
        format!("--at {time:?} is not an RFC 3339 time; write it like 2026-11-21T10:15:02Z or 2026-11-21T11:15:02.5+01:00")
    })?;
    let now = clock::parse_micros(&clock::now()).unwrap_or(i64::MAX);
    if t > now {
        bail!(
            "--at {time} is in the future (now is {}); nothing was changed",
            clock::from_micros(now)
        );
    }
    let first = entries
        .first()
        .context("there are no database backups yet; take one with `jsonlift backup`")?;
    let micros = |s: &str| clock::parse_micros(s).unwrap_or(0);
    let mut undone = Vec::new();
    let mut in_undone = false;
    for r in restores {
        let (state, done) = (micros(&r.state_at), micros(&r.done_at));
        in_undone |= state < t && t < done;
        if done <= t {
            undone.push((state, done));
        }
    }
    let history = if in_undone {
        // The first restore after the moment replaced the database that was live then.
        let next = restores
            .iter()
            .filter(|r| micros(&r.done_at) > t)
            .min_by_key(|r| micros(&r.done_at))
            .expect("an undone stretch ends with a restore after the moment");
        let Some(aside) = &next.aside else {
            bail!(
                "--at {time} lies in the history undone by the restore at {}, and there was no database before that restore to keep aside. Nothing was changed",
                next.done_at
            );
        };
        if aside.strip_prefix("schema ").is_none() && !Path::new(aside).exists() {
            bail!(
                "--at {time} lies in the history undone by the restore at {} (which went back to {}); the database it kept aside at {aside} held it, and is gone (removed by the backup retention, or by hand). Nothing was changed",
                next.done_at,
                next.state_at
            );
        }
        History::Aside(aside.clone())
    } else {
        History::Live
    };
    let mut best = None;
    for (i, e) in entries.iter().enumerate() {
        let b = micros(&e.manifest.taken_at);
        // Backups of an undone history do not lead to this moment.
        if b <= t && !undone.iter().any(|&(s, d)| s < b && b < d) {
            best = Some(i);
        }
    }
    match best {
        Some(index) => Ok(Choice {
            index,
            until: t,
            history,
        }),
        None => bail!(
            "--at {time} is before the first backup (taken at {}); the earliest moment that can be restored is {}. Nothing was changed",
            first.manifest.taken_at,
            first.manifest.taken_at
        ),
    }
}

/// Appends `e` (a restore's own entry, [`super::restore::restore_entry`]) to the audit log of
/// `target`, the restored database before it goes live. A backup from before the audit log
/// existed has none to append to.
pub fn log_database_entry(target: &Connection, e: &crate::audit::NewEntry) -> anyhow::Result<()> {
    if !bookkeeping::has_audit(target)? {
        return Ok(());
    }
    target.execute_batch("BEGIN IMMEDIATE")?;
    SqliteTx::new(target).audit_append(e)?;
    target.execute_batch("COMMIT")?;
    Ok(())
}

/// Replays onto `target` (the restored backup, not yet live) the entries of the live database's
/// audit log after `from`'s position up to `until`. Returns how many were applied.
pub fn replay(
    live: &Connection,
    target: &Connection,
    schema: &Schema,
    from: &Entry,
    until: i64,
) -> anyhow::Result<u64> {
    let m: &DbManifest = &from.manifest;
    if !bookkeeping::has_audit(live)? {
        bail!("the live database has no audit log to replay; restore a backup without --at");
    }
    // The live log must be the continuation of the backup's: same entry at its position.
    if m.audit_id > 0 {
        let at = bookkeeping::audit_time(live, m.audit_id)?;
        if at != m.audit_at {
            bail!(
                "the audit log of the live database does not continue from backup {} (entry {} differs: the database was restored or replaced since); restore --at a moment after the newest restore, or restore that backup as it is",
                from.name(),
                m.audit_id
            );
        }
    }
    let until_text = clock::from_micros(until);
    let mut expected = m.audit_id + 1;
    let mut applied = 0u64;
    target.execute_batch("BEGIN IMMEDIATE")?;
    bookkeeping::audit_after(live, m.audit_id, &mut |e| {
        if e.id != expected {
            bail!(
                "the audit log has a gap: entries {expected} to {} are missing (deleted by hand?), so the state after {} cannot be rebuilt; restore a backup taken after the gap",
                e.id - 1,
                e.at
            );
        }
        expected += 1;
        // Fixed-width UTC text compares like the moments it names.
        if clock::parse_micros(&e.at).is_none_or(|a| a > until) {
            return Ok(true);
        }
        if e.action == "migrate" {
            bail!(
                "a migration (reimport of {}) at {} lies between backup {} and {until_text}; the audit log cannot replay it. Restore from the backup that migration took (`jsonlift backups` lists it as migrate-after), then --at from there",
                e.collection,
                e.at,
                from.name()
            );
        }
        apply(&SqliteTx::new(target), schema, &e)
            .with_context(|| format!("replaying audit entry {} ({} {})", e.id, e.action, e.at))?;
        // What was replayed is the record changes; entries about backups and restores are
        // re-entered too, but changed nothing.
        applied += u64::from(e.collection != crate::audit::DATABASE);
        Ok(true)
    })?;
    target.execute_batch("COMMIT")?;
    Ok(applied)
}

/// The entries of the live audit log (read through `live`, any backend) that `--at` replays
/// onto backup `from`: those after its position up to `until`, in id order, checked as
/// [`replay`] checks them (the log continues the backup's, no gap, no reimport in between).
/// Read before anything changes, so a refusal leaves the database as it was.
pub fn pending(live: &dyn Tx, from: &Entry, until: i64) -> anyhow::Result<Vec<AuditEntry>> {
    let m: &DbManifest = &from.manifest;
    if live.columns("_jsonlift_audit")?.is_none() {
        bail!("the live database has no audit log to replay; restore a backup without --at");
    }
    let page = |after: i64, limit: Option<usize>| {
        live.audit_query(&crate::audit::Filter {
            after_id: Some(after),
            limit,
            ..Default::default()
        })
    };
    if m.audit_id > 0 {
        let at = page(m.audit_id - 1, Some(1))?
            .into_iter()
            .find(|e| e.id == m.audit_id)
            .map(|e| e.at);
        if at != m.audit_at {
            bail!(
                "the audit log of the live database does not continue from backup {} (entry {} differs: the database was restored or replaced since); restore --at a moment after the newest restore, or restore that backup as it is",
                from.name(),
                m.audit_id
            );
        }
    }
    let until_text = clock::from_micros(until);
    let mut out = Vec::new();
    let mut expected = m.audit_id + 1;
    for e in page(m.audit_id, None)? {
        if e.id != expected {
            bail!(
                "the audit log has a gap: entries {expected} to {} are missing (deleted by hand?), so the state after {} cannot be rebuilt; restore a backup taken after the gap",
                e.id - 1,
                e.at
            );
        }
        expected += 1;
        if clock::parse_micros(&e.at).is_none_or(|a| a > until) {
            break;
        }
        if e.action == "migrate" {
            bail!(
                "a migration (reimport of {}) at {} lies between backup {} and {until_text}; the audit log cannot replay it. Restore from the backup that migration took (`jsonlift backups` lists it as migrate-after), then --at from there",
                e.collection,
                e.at,
                from.name()
            );
        }
        out.push(e);
    }
    Ok(out)
}

/// Applies one audit entry: its record change through the store's write path (the one the
/// server used), entered in the log as the original row.
pub fn apply(tx: &dyn Tx, schema: &Schema, e: &AuditEntry) -> anyhow::Result<()> {
    // A backup or a restore changed no record: the entry goes back into the log as it was.
    if e.collection == crate::audit::DATABASE {
        tx.audit_insert(e)?;
        return Ok(());
    }
    let records = Records::named(schema, &e.collection)
        .with_context(|| format!("collection {:?} is not in jsonlift.toml", e.collection))?;
    // Documents have no key in the log; the store names their single record "1".
    let key = e.key.as_deref().unwrap_or("1");
    if e.action == "rename" {
        records
            .rename_logged(tx, key, e)
            .map_err(|err| anyhow::anyhow!("{err}"))?;
        return Ok(());
    }
    let record = match e.action.as_str() {
        "insert" | "update" | "import" => Some(
            e.new_value()
                .with_context(|| format!("audit entry {} has no readable new record", e.id))?,
        ),
        "delete" => None,
        other => bail!(
            "audit entry {} has action {other:?}, which this version cannot replay",
            e.id
        ),
    };
    records
        .put_logged(tx, key, record, Log::Original(e))
        .map_err(|err| anyhow::anyhow!("{err}"))?;
    Ok(())
}

/// Opens the live database to read its audit log, if there is one.
pub fn open_live(db: &Path, busy: std::time::Duration) -> anyhow::Result<Connection> {
    if !db.exists() {
        bail!(
            "--at needs the live database's audit log, and there is no database at {}; restore a backup without --at",
            db.display()
        );
    }
    // A restore killed while the live database left WAL mode leaves a hot journal, which a
    // read-only connection cannot roll back ("attempt to write a readonly database"): a
    // read-write connection's first read does (giving back the database as it was).
    let journal = std::path::PathBuf::from(format!("{}-journal", db.display()));
    if journal.exists() {
        let conn = crate::store::sqlite::open_plain(db)
            .with_context(|| format!("opening {}", db.display()))?;
        conn.busy_timeout(busy)?;
        conn.query_row("SELECT count(*) FROM sqlite_master", [], |_| Ok(()))
            .with_context(|| format!("recovering {} from its journal", db.display()))?;
    }
    sqlite::open_read_only(db, busy).with_context(|| format!("opening {}", db.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// Found by the restore crash harness (tests/cli/crash_backup.rs): `restore --at` killed
    /// while the live database left WAL mode left a hot journal, and every later `restore --at`
    /// failed with "attempt to write a readonly database".
    #[test]
    fn the_live_audit_log_is_read_after_a_hot_journal_is_rolled_back() {
        let dir = tempfile::tempdir().unwrap();
        let (db, crashed) = (dir.path().join("a.db"), dir.path().join("b.db"));
        let conn = Connection::open(&db).unwrap();
        conn.execute_batch(
            "PRAGMA journal_mode=DELETE; PRAGMA cache_size=1; CREATE TABLE t(x);
             WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i < 500)
             INSERT INTO t SELECT zeroblob(1000) FROM n;",
        )
        .unwrap();
        // Mid-transaction, with the cache spilled into the file: the files a kill would leave.
        conn.execute_batch("BEGIN; UPDATE t SET x = zeroblob(900);")
            .unwrap();
        std::fs::copy(&db, &crashed).unwrap();
        std::fs::copy(
            format!("{}-journal", db.display()),
            format!("{}-journal", crashed.display()),
        )
        .unwrap();
        let read = |c: &Connection| {
            c.query_row("SELECT count(*), sum(length(x)) FROM t", [], |r| {
                Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?))
            })
        };
        let plain = sqlite::open_read_only(&crashed, Duration::from_secs(1)).unwrap();
        assert!(read(&plain).is_err(), "the copy should hold a hot journal");
        drop(plain);
        let live = open_live(&crashed, Duration::from_secs(1)).unwrap();
        assert_eq!(read(&live).unwrap(), (500, 500_000));
    }
}
