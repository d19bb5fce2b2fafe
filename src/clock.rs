//! UTC timestamps in RFC 3339, without a date-time crate: jsonlift only ever writes UTC.

use std::time::{SystemTime, UNIX_EPOCH};

/// Calendar date and time of a Unix timestamp (Howard Hinnant's civil-from-days).
pub fn civil(secs: i64) -> (i64, u32, u32, u32, u32, u32) {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (
        y,
        m,
        d,
        (rem / 3600) as u32,
        (rem % 3600 / 60) as u32,
        (rem % 60) as u32,
    )
}

/// `2026-11-21T10:15:02.123456Z` for a moment.
pub fn rfc3339(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let (y, mo, day, h, mi, s) = civil(d.as_secs() as i64);
    format!(
        "{y:04}-{mo:02}-{day:02}T{h:02}:{mi:02}:{s:02}.{:06}Z",
        d.subsec_micros()
    )
}

pub fn now() -> String {
    rfc3339(SystemTime::now())
}

/// Days since the epoch of a calendar date (the inverse of the date part of [`civil`]).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = if m > 2 { m - 3 } else { m + 9 } as i64;
    let doy = (153 * mp + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Microseconds since the epoch of an RFC 3339 time (`2026-11-21T10:15:02Z`,
/// `2026-11-21T11:15:02.5+01:00`); `None` when it is not one.
pub fn parse_micros(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let t = s.get(r)?;
        t.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| t.parse().ok())?
    };
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    let mut i = 19;
    let mut micros = 0i64;
    if b[i] == b'.' {
        let start = i + 1;
        i = start;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == start {
            return None;
        }
        let frac = &s[start..i.min(start + 6)];
        micros = frac.parse::<i64>().ok()? * 10i64.pow(6 - frac.len() as u32);
    }
    let offset = match &s[i..] {
        "Z" | "z" => 0,
        o if o.len() == 6 && (o.starts_with('+') || o.starts_with('-')) && &o[3..4] == ":" => {
            let v = num(i + 1..i + 3)? * 3600 + num(i + 4..i + 6)? * 60;
            if o.starts_with('-') { -v } else { v }
        }
        _ => return None,
    };
    let secs = days_from_civil(y, mo as u32, d as u32) * 86_400 + h * 3600 + mi * 60 + sec - offset;
    Some(secs * 1_000_000 + micros)
}

/// The form [`now`] writes, for a moment in microseconds since the epoch.
pub fn from_micros(micros: i64) -> String {
    let secs = micros.div_euclid(1_000_000);
    let (y, mo, day, h, mi, s) = civil(secs);
    format!(
        "{y:04}-{mo:02}-{day:02}T{h:02}:{mi:02}:{s:02}.{:06}Z",
        micros.rem_euclid(1_000_000)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_dates() {
        assert_eq!(civil(0), (1970, 1, 1, 0, 0, 0));
        assert_eq!(civil(951_782_400), (2000, 2, 29, 0, 0, 0));
        assert_eq!(
            rfc3339(UNIX_EPOCH + std::time::Duration::from_millis(1_500)),
            "1970-01-01T00:00:01.500000Z"
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
            from_micros(parse_micros("2000-02-29T00:00:00Z").unwrap()),
            "2000-02-29T00:00:00.000000Z"
        );
        assert_eq!(parse_micros("1970-01-01T00:00:01.5Z"), Some(1_500_000));
        for bad in [
            "yesterday",
            "2026-11-21",
            "2026-13-01T00:00:00Z",
            "2026-11-21T10:15:02",
        ] {
            assert_eq!(parse_micros(bad), None, "{bad}");
        }
    }
}
