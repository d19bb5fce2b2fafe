//! Scalar field types: what each accepts and how it is stored.

use super::ColType;
use crate::json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScalarType {
    Text,
    Integer,
    Real,
    Boolean,
    Timestamp,
    Date,
    Uuid,
}

impl ScalarType {
    pub fn parse(s: &str) -> Option<ScalarType> {
        Some(match s {
            "text" | "string" => ScalarType::Text,
            "integer" | "int" => ScalarType::Integer,
            "real" | "number" | "float" => ScalarType::Real,
            "boolean" | "bool" => ScalarType::Boolean,
            "timestamp" | "datetime" => ScalarType::Timestamp,
            "date" => ScalarType::Date,
            "uuid" => ScalarType::Uuid,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            ScalarType::Text => "text",
            ScalarType::Integer => "integer",
            ScalarType::Real => "real",
            ScalarType::Boolean => "boolean",
            ScalarType::Timestamp => "timestamp",
            ScalarType::Date => "date",
            ScalarType::Uuid => "uuid",
        }
    }

    pub fn col_type(self) -> ColType {
        match self {
            ScalarType::Integer => ColType::Integer,
            ScalarType::Real => ColType::Real,
            ScalarType::Boolean => ColType::Boolean,
            _ => ColType::Text,
        }
    }

    /// An enum value as an SQL literal for a CHECK constraint; `None` if it is not of this type.
    pub fn sql_literal(self, v: &Value) -> Option<String> {
        match (self.col_type(), v) {
            (ColType::Text, Value::String(s)) => Some(format!("'{}'", s.replace('\'', "''"))),
            (ColType::Integer, Value::Number(n)) => n.as_i64().map(|i| i.to_string()),
            (ColType::Real, Value::Number(n)) => Some(n.as_str().to_string()),
            (ColType::Boolean, Value::Bool(b)) => Some(if *b { "1" } else { "0" }.to_string()),
            _ => None,
        }
    }

    /// Checks the text of a string-typed value.
    pub fn check_text(self, s: &str) -> Result<(), String> {
        match self {
            ScalarType::Timestamp if !is_timestamp(s) => {
                Err(format!("{s:?} is not an ISO 8601 date-time (like 2024-05-01T10:00:00Z)"))
            }
            ScalarType::Date if !is_date(s) => Err(format!("{s:?} is not a date (YYYY-MM-DD)")),
            ScalarType::Uuid if !is_uuid(s) => Err(format!("{s:?} is not a UUID (8-4-4-4-12 hex digits)")),
            _ => Ok(()),
        }
    }
}

fn digits(b: &[u8]) -> bool {
    !b.is_empty() && b.iter().all(u8::is_ascii_digit)
}

fn num(b: &[u8]) -> u32 {
    b.iter().fold(0, |n, d| n * 10 + u32::from(d - b'0'))
}

pub fn is_date(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' || !digits(&b[..4]) || !digits(&b[5..7]) || !digits(&b[8..]) {
        return false;
    }
    let (y, m, d) = (num(&b[..4]), num(&b[5..7]), num(&b[8..]));
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let days = [31, if leap { 29 } else { 28 }, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    (1..=12).contains(&m) && d >= 1 && d <= days[m as usize - 1]
}

/// ISO 8601 / RFC 3339 date-times as applications write them: `T` or space separator, optional
/// seconds and fraction, optional `Z` or `±hh:mm` / `±hhmm` offset.
pub fn is_timestamp(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() < 16 || !s.is_char_boundary(10) || !is_date(&s[..10]) || !matches!(b[10], b'T' | b't' | b' ') {
        return false;
    }
    let t = &b[11..];
    let time_ok = |h: &[u8], m: &[u8]| digits(h) && digits(m) && num(h) < 24 && num(m) < 60;
    if t.len() < 5 || t[2] != b':' || !time_ok(&t[..2], &t[3..5]) {
        return false;
    }
    let mut rest = &t[5..];
    if rest.first() == Some(&b':') {
        if rest.len() < 3 || !digits(&rest[1..3]) || num(&rest[1..3]) > 60 {
            return false;
        }
        rest = &rest[3..];
        if rest.first() == Some(&b'.') {
            let n = rest[1..].iter().take_while(|c| c.is_ascii_digit()).count();
            if n == 0 {
                return false;
            }
            rest = &rest[1 + n..];
        }
    }
    match rest {
        [] | [b'Z'] | [b'z'] => true,
        [b'+' | b'-', h1, h2, b':', m1, m2] | [b'+' | b'-', h1, h2, m1, m2] => time_ok(&[*h1, *h2], &[*m1, *m2]),
        [b'+' | b'-', h1, h2] => time_ok(&[*h1, *h2], b"00"),
        _ => false,
    }
}

pub fn is_uuid(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| if matches!(i, 8 | 13 | 18 | 23) { *c == b'-' } else { c.is_ascii_hexdigit() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps() {
        for ok in [
            "2024-05-01T10:00:00Z",
            "2024-05-01T10:00:00.123456+02:00",
            "2024-05-01 10:00:00",
            "2024-05-01T10:00",
            "2024-02-29T23:59:60Z",
            "2024-05-01T10:00:00+0200",
        ] {
            assert!(is_timestamp(ok), "{ok}");
        }
        for bad in ["在深圳做跨境电商小程序的独立开发者", "2024-05-0€T10:00:00Z", "2024-05-01", "2023-02-29T10:00:00Z", "2024-05-01T25:00:00Z", "2024-05-01T10:00:00.Z", "yesterday", "2024-05-01T10:00:00ZZ"] {
            assert!(!is_timestamp(bad), "{bad}");
        }
    }

    #[test]
    fn dates_and_uuids() {
        assert!(is_date("2024-12-31"));
        assert!(!is_date("2024-13-01"));
        assert!(is_uuid("123e4567-e89b-12d3-a456-426614174000"));
        assert!(!is_uuid("123e4567e89b12d3a456426614174000"));
    }
}
