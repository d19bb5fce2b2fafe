//! UTC timestamps in RFC 3339: what jsonlift writes (audit entries, ledger rows, backup names)
//! and what users give it (`restore --at`, `/_admin/audit?since=`). The calendar arithmetic and
//! the parsing are jiff's: a hand-written parser panicked on a non-ASCII offset and took
//! `2026-02-31` for a date (issue #18).

use std::time::SystemTime;

use jiff::Timestamp;
use jiff::fmt::strtime;

/// A moment as jiff sees it; times jiff cannot hold (past the year 9999) become the epoch,
/// which no clock of a running machine reads.
fn timestamp(t: SystemTime) -> Timestamp {
    Timestamp::try_from(t).unwrap_or(Timestamp::UNIX_EPOCH)
}

/// `2026-11-21T10:15:02.123456Z` for a moment (microseconds, always six digits: the text sorts
/// as the moments do).
pub fn rfc3339(t: SystemTime) -> String {
    micros_text(timestamp(t))
}

pub fn now() -> String {
    rfc3339(SystemTime::now())
}

/// `2026-11-21 10:15:02`: now, in UTC, as SQL's `CURRENT_TIMESTAMP` writes it (a field's
/// `default = "CURRENT_TIMESTAMP"`; its first ten characters are `CURRENT_DATE`).
pub fn sql_now() -> String {
    strtime::format("%Y-%m-%d %H:%M:%S", timestamp(SystemTime::now())).unwrap_or_default()
}

fn micros_text(t: Timestamp) -> String {
    // `{:.6}` truncates to microseconds, as `from_micros(parse_micros(..))` does.
    format!("{t:.6}")
}

/// `20261121T101502Z` and `2026-11-21T10:15:02Z` (whole seconds), for names of backups.
pub fn stamps(t: SystemTime) -> (String, String) {
    let t = timestamp(t);
    (
        strtime::format("%Y%m%dT%H%M%SZ", t).unwrap_or_default(),
        format!("{t:.0}"),
    )
}

/// `2026-11-21 10:15:02`: SQLite's `CURRENT_TIMESTAMP` (UTC, whole seconds), for the time
/// columns of a shared table, which the database fills in that form when an app leaves them out.
pub fn sql_time(t: SystemTime) -> String {
    strtime::format("%Y-%m-%d %H:%M:%S", timestamp(t)).unwrap_or_default()
}

/// RFC 3339 UTC with nanoseconds (`2026-11-21T10:15:02.000000005Z`), for file times, which
/// keep nanoseconds.
pub fn rfc3339_nanos(t: SystemTime) -> String {
    format!("{:.9}", timestamp(t))
}

/// Microseconds since the epoch of an RFC 3339 time (`2026-11-21T10:15:02Z`,
/// `2026-11-21T11:15:02.5+01:00`); `None` when it is not one: no offset, a date that does not
/// exist (`2026-02-31`), anything else. Never panics, whatever the text (fuzzed: `clock`).
pub fn parse_micros(s: &str) -> Option<i64> {
    // jiff also reads forms RFC 3339 does not have (`+0100`, `-05`, `[Europe/Berlin]`); the
    // shape is checked first so that what is accepted stays what the docs promise.
    let b = s.as_bytes();
    let shaped = b.len() >= 20
        && b[4] == b'-'
        && b[7] == b'-'
        && matches!(b[10], b'T' | b't' | b' ')
        && b[13] == b':'
        && b[16] == b':'
        && (s.ends_with(['Z', 'z']) || {
            let o = &b[b.len().saturating_sub(6)..];
            o.len() == 6 && matches!(o[0], b'+' | b'-') && o[3] == b':'
        });
    if !shaped {
        return None;
    }
    let t: Timestamp = s.parse().ok()?;
    Some(t.as_microsecond())
}

/// The form [`now`] writes, for a moment in microseconds since the epoch.
pub fn from_micros(micros: i64) -> String {
    micros_text(Timestamp::from_microsecond(micros).unwrap_or(Timestamp::UNIX_EPOCH))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn known_dates() {
        assert_eq!(
            rfc3339(UNIX_EPOCH + Duration::from_millis(1_500)),
            "1970-01-01T00:00:01.500000Z"
        );
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00.000000Z");
        let t = UNIX_EPOCH + Duration::new(1_795_256_102, 5);
        assert_eq!(
            stamps(t),
            ("20261121T101502Z".into(), "2026-11-21T10:15:02Z".into())
        );
        assert_eq!(rfc3339_nanos(t), "2026-11-21T10:15:02.000000005Z");
        assert_eq!(
            from_micros(951_782_400_000_000),
            "2000-02-29T00:00:00.000000Z"
        );
    }

    #[test]
    fn parses_what_it_writes_and_offsets() {
        let t = "2026-11-21T10:15:02.123456Z";
        assert_eq!(from_micros(parse_micros(t).unwrap()), t);
        assert_eq!(
            parse_micros("2026-11-21T11:15:02.123456+01:00"),
            parse_micros(t)
        );
        assert_eq!(
            parse_micros("2026-11-21T05:15:02.123456-05:00"),
            parse_micros(t)
        );
        assert_eq!(parse_micros("1970-01-01T00:00:01.5Z"), Some(1_500_000));
        assert_eq!(parse_micros("1970-01-01 00:00:01z"), Some(1_000_000));
        // Digits past microseconds are cut, not rounded (as `now()` writes them).
        assert_eq!(parse_micros("1970-01-01T00:00:00.0000019Z"), Some(1));
    }

    #[test]
    fn refuses_what_is_not_a_time_without_panicking() {
        for bad in [
            "yesterday",
            "2026-11-21",
            "2026-13-01T00:00:00Z",
            "2026-11-21T10:15:02",
            // The review's findings (issue #18): a day February does not have, an offset with
            // a multi-byte character where a digit belongs.
            "2026-02-31T00:00:00Z",
            "2026-11-21T10:15:02+0é00",
            "2026-11-21T10:15:02+é:00",
            "2026-11-21T24:00:00Z",
            "2026-11-21T10:15:02+0100",
            "2026-11-21T10:15:02.Z",
            "２０２６-11-21T10:15:02Z",
        ] {
            assert_eq!(parse_micros(bad), None, "{bad}");
        }
    }
}
