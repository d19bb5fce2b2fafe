//! Which database backups to keep: the newest `keep_last`, plus the newest of each of the last
//! `keep_daily` days (UTC). Applied after every backup; [`select`] is pure so it can be tested
//! without files or clocks.
//!
//! The databases restores kept aside (`app.db.before-restore-*` files beside a SQLite
//! database; [`asides_to_drop`] for the schemas on PostgreSQL) follow the same policy, counted
//! on their own and timed by the restore that made them, so they do not pile up.

use std::collections::HashSet;
use std::path::Path;

use super::manifest;
use crate::clock;
use crate::config::Project;

/// Defaults when `[backups]` does not say.
pub const KEEP_LAST: usize = 10;
pub const KEEP_DAILY: u32 = 7;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    pub keep_last: usize,
    pub keep_daily: u32,
}

impl Policy {
    pub fn of(project: &Project) -> Policy {
        let b = &project.config.backups;
        Policy {
            keep_last: b.keep_last.unwrap_or(KEEP_LAST),
            keep_daily: b.keep_daily.unwrap_or(KEEP_DAILY),
        }
    }
}

/// Given the backups' times (microseconds since the epoch, any order) and now, the indexes of
/// those to delete. The newest backup is always kept, whatever the policy says.
pub fn select(backups: &[i64], now: i64, policy: Policy) -> Vec<usize> {
    const DAY: i64 = 86_400_000_000;
    let mut order: Vec<usize> = (0..backups.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(backups[i]));
    let mut keep: HashSet<usize> = order
        .iter()
        .take(policy.keep_last.max(1))
        .copied()
        .collect();
    let today = now.div_euclid(DAY);
    let mut days_seen = HashSet::new();
    for &i in &order {
        let day = backups[i].div_euclid(DAY);
        if today - day < i64::from(policy.keep_daily) && days_seen.insert(day) {
            keep.insert(i);
        }
    }
    let mut out: Vec<usize> = (0..backups.len()).filter(|i| !keep.contains(i)).collect();
    out.sort_unstable();
    out
}

/// Deletes the backups in `dir` the project's policy does not keep (manifest first, so that a
/// half-deleted backup is never listed as complete).
pub fn apply(project: &Project, dir: &Path) -> anyhow::Result<Vec<String>> {
    let entries = manifest::list(dir)?;
    let times: Vec<i64> = entries
        .iter()
        .map(|e| clock::parse_micros(&e.manifest.taken_at).unwrap_or(0))
        .collect();
    let now = clock::parse_micros(&clock::now()).unwrap_or(0);
    let mut removed = Vec::new();
    for i in select(&times, now, Policy::of(project)) {
        let e = &entries[i];
        e.discard();
        tracing::info!(backup = %e.name(), "removed by the retention policy");
        removed.push(e.name());
    }
    if let crate::config::Database::Sqlite(_) = project.database() {
        remove_aside_files(project);
    }
    Ok(removed)
}

/// The time a SQLite aside's name carries (`app.db.before-restore-20261121T101502.123456Z`,
/// an RFC 3339 time without `-` and `:`), in microseconds.
fn aside_file_time(stamp: &str) -> Option<i64> {
    if !stamp.is_ascii() || stamp.len() < 16 || stamp.as_bytes()[8] != b'T' {
        return None;
    }
    let s = stamp;
    let text = format!(
        "{}-{}-{}T{}:{}:{}",
        &s[0..4],
        &s[4..6],
        &s[6..8],
        &s[9..11],
        &s[11..13],
        &s[13..]
    );
    clock::parse_micros(&text)
}

/// Removes the files restores kept aside beside the SQLite database that the policy does not
/// keep (with any -wal, -shm or -journal of theirs). A failure is logged: the backup that
/// applied the policy succeeded.
pub fn remove_aside_files(project: &Project) {
    let now = clock::parse_micros(&clock::now()).unwrap_or(0);
    let db = project.database_path();
    let (Some(dir), Some(name)) = (db.parent(), db.file_name()) else {
        return;
    };
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    let prefix = format!("{}.before-restore-", name.to_string_lossy());
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    let mut asides: Vec<(std::path::PathBuf, i64)> = rd
        .flatten()
        .filter_map(|e| {
            let file = e.file_name().to_string_lossy().into_owned();
            let t = aside_file_time(file.strip_prefix(&prefix)?)?;
            Some((e.path(), t))
        })
        .collect();
    asides.sort();
    let times: Vec<i64> = asides.iter().map(|a| a.1).collect();
    for i in select(&times, now, Policy::of(project)) {
        let path = &asides[i].0;
        for suffix in ["-wal", "-shm", "-journal", ""] {
            let p = format!("{}{suffix}", path.display());
            match std::fs::remove_file(&p) {
                Ok(()) if suffix.is_empty() => {
                    tracing::info!(aside = %p, "database kept aside by a restore removed by the retention policy")
                }
                Err(e) if suffix.is_empty() && e.kind() != std::io::ErrorKind::NotFound => {
                    tracing::warn!(aside = %p, "cannot remove an old database kept aside by a restore: {e}")
                }
                _ => {}
            }
        }
    }
}

/// Of the schemas restores kept aside on PostgreSQL (`existing`, as named in the restores log
/// [`super::pitr::past_restores`], each with the time of its restore), those the policy does
/// not keep.
pub fn asides_to_drop(project: &Project, existing: &[(String, i64)]) -> Vec<String> {
    let now = clock::parse_micros(&clock::now()).unwrap_or(0);
    let times: Vec<i64> = existing.iter().map(|a| a.1).collect();
    select(&times, now, Policy::of(project))
        .into_iter()
        .map(|i| existing[i].0.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: i64 = 3_600_000_000;
    const D: i64 = 24 * H;

    fn policy(keep_last: usize, keep_daily: u32) -> Policy {
        Policy {
            keep_last,
            keep_daily,
        }
    }

    #[test]
    fn keeps_the_last_n() {
        let now = 100 * D;
        let b: Vec<i64> = (0..5).map(|i| now - i * H).collect();
        assert_eq!(select(&b, now, policy(3, 0)), vec![3, 4]);
        assert_eq!(select(&b, now, policy(10, 0)), Vec::<usize>::new());
    }

    #[test]
    fn keeps_the_newest_of_each_recent_day() {
        let now = 100 * D + 12 * H;
        // Two a day for five days, given oldest first.
        let mut b = Vec::new();
        for day in (0..5).rev() {
            b.push(now - day * D - 2 * H);
            b.push(now - day * D - H);
        }
        // keep_last 1: today's newest; keep_daily 3: newest of today, yesterday, the day before.
        let del = select(&b, now, policy(1, 3));
        let kept: Vec<usize> = (0..b.len()).filter(|i| !del.contains(i)).collect();
        assert_eq!(kept, vec![5, 7, 9]);
    }

    #[test]
    fn reads_the_time_in_an_aside_files_name() {
        assert_eq!(
            aside_file_time("20261121T101502.123456Z"),
            clock::parse_micros("2026-11-21T10:15:02.123456Z")
        );
        assert_eq!(
            aside_file_time("20261121T101502Z"),
            clock::parse_micros("2026-11-21T10:15:02Z")
        );
        assert_eq!(aside_file_time("notatime"), None);
        assert_eq!(aside_file_time("2026é121T101502Z"), None);
    }

    #[test]
    fn never_deletes_the_newest_and_ignores_order() {
        let now = 50 * D;
        let b = vec![now - 40 * D, now - 30 * D];
        assert_eq!(select(&b, now, policy(0, 0)), vec![0]);
        assert_eq!(
            select(&[now - 30 * D, now - 40 * D], now, policy(0, 0)),
            vec![1]
        );
        assert!(select(&[], now, policy(0, 0)).is_empty());
    }
}
