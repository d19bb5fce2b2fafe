//! Which database backups to keep: the newest `keep_last`, plus the newest of each of the last
//! `keep_daily` days (UTC). Applied after every backup; [`select`] is pure so it can be tested
//! without files or clocks.

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
    Ok(removed)
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
