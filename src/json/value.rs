//! The value model shared by every module.

use std::fmt;

/// A JSON value that round-trips exactly: objects keep their key order (a `Vec`, not a map, so
/// equality is order-sensitive) and numbers keep the text they were written with.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Number(Number),
    String(String),
    Array(Vec<Value>),
    /// Keys in source order; the parser guarantees they are unique.
    Object(Vec<(String, Value)>),
}

/// A JSON number kept as its source text (already validated as JSON number syntax), so `1`,
/// `1.0`, `1e2` and `12345678901234567890` are four different numbers here, as in the file.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Number(Box<str>);

impl Number {
    /// Wraps text the caller has checked is a valid JSON number.
    pub fn from_text_unchecked(text: &str) -> Number {
        Number(text.into())
    }
    pub fn from_i64(n: i64) -> Number {
        Number(n.to_string().into())
    }
    /// Shortest text that reads back as `f`, with a `.0` on integral values (the form Python
    /// and serde_json write). `None` for NaN and infinities, which JSON cannot hold.
    pub fn from_f64(f: f64) -> Option<Number> {
        if !f.is_finite() {
            return None;
        }
        // Debug is the shortest round-trip form (1.0, 0.1, 1e20, 1e-7): all valid JSON.
        Some(Number(format!("{f:?}").into()))
    }
    /// The text JavaScript's `String(f)` gives (`4`, `0.1`, `1e+21`, `1.5e-7`): the canonical
    /// spelling of a stored real, since most JSON files are written by JavaScript.
    pub fn from_f64_js(f: f64) -> Number {
        if f == 0.0 || !f.is_finite() {
            return Number("0".into());
        }
        // In JavaScript's decimal range, Rust's shortest form is the same text.
        if (1e-6..1e21).contains(&f.abs()) {
            return Number(f.to_string().into());
        }
        let sci = format!("{:e}", f.abs()); // shortest digits: "1.5e-7", "1e21"
        let (mant, exp) = sci.split_once('e').expect("LowerExp has an exponent");
        let digits: String = mant.chars().filter(|c| *c != '.').collect();
        let k = digits.len() as i32;
        let n = exp.parse::<i32>().expect("exponent") + 1;
        let body = if k <= n && n <= 21 {
            format!("{digits}{}", "0".repeat((n - k) as usize))
        } else if 0 < n && n <= 21 {
            format!("{}.{}", &digits[..n as usize], &digits[n as usize..])
        } else if -6 < n && n <= 0 {
            format!("0.{}{digits}", "0".repeat((-n) as usize))
        } else {
            let sign = if n - 1 < 0 { '-' } else { '+' };
            let e = (n - 1).abs();
            if k == 1 {
                format!("{digits}e{sign}{e}")
            } else {
                format!("{}.{}e{sign}{e}", &digits[..1], &digits[1..])
            }
        };
        Number(if f < 0.0 { format!("-{body}") } else { body }.into())
    }
    /// Whether this text is exactly what [`Number::from_f64_js`] gives for its value, decided
    /// from the text alone where possible (the common case when loading): a plain decimal with
    /// at most 15 significant digits is the shortest form of its double.
    pub fn is_canonical_js(&self) -> bool {
        self.plainly_canonical_js().is_some() || Number::from_f64_js(self.as_f64()).0 == self.0
    }
    /// The value, when the text alone shows it is exactly what [`Number::from_f64_js`] gives for
    /// it (no formatting needed); `None` means "not shown", not "not canonical".
    pub fn plainly_canonical_js(&self) -> Option<f64> {
        let t = self.0.as_bytes();
        let body = t.strip_prefix(b"-").unwrap_or(t);
        let plain = body.first().is_some_and(u8::is_ascii_digit)
            && body.iter().all(|b| b.is_ascii_digit() || *b == b'.')
            && !(body.len() > 1 && body[0] == b'0' && body[1] != b'.')
            && !body.ends_with(b".")
            && !(body.contains(&b'.') && body.ends_with(b"0"));
        let digits = body
            .iter()
            .filter(|b| b.is_ascii_digit())
            .skip_while(|b| **b == b'0')
            .count();
        if !(plain && digits <= 15 && digits > 0) {
            return None;
        }
        let f = self.as_f64();
        (1e-6..1e21).contains(&f.abs()).then_some(f)
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
    /// True when the text is an integer literal (no fraction, no exponent).
    pub fn is_integer_form(&self) -> bool {
        !self.0.bytes().any(|b| matches!(b, b'.' | b'e' | b'E'))
    }
    /// The value as i64 when it is an integer literal that fits.
    pub fn as_i64(&self) -> Option<i64> {
        if self.is_integer_form() {
            self.0.parse().ok()
        } else {
            None
        }
    }
    pub fn as_f64(&self) -> f64 {
        self.0.parse().unwrap_or(f64::NAN)
    }
}

impl fmt::Display for Number {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Value {
    pub fn kind(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "boolean",
            Value::Number(_) => "number",
            Value::String(_) => "string",
            Value::Array(_) => "array",
            Value::Object(_) => "object",
        }
    }
    /// Looks a key up in an object (linear: records are small, and order matters more than speed).
    pub fn get(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Object(m) => m.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }
}

/// One step of a JSON path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seg {
    Key(String),
    Index(usize),
}

/// A JSON path such as `$.courses[3].modules[0]["odd key"]`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JsonPath(pub Vec<Seg>);

impl JsonPath {
    pub fn root() -> JsonPath {
        JsonPath(Vec::new())
    }
    pub fn key(&self, k: &str) -> JsonPath {
        let mut p = self.clone();
        p.0.push(Seg::Key(k.to_string()));
        p
    }
    pub fn index(&self, i: usize) -> JsonPath {
        let mut p = self.clone();
        p.0.push(Seg::Index(i));
        p
    }
    /// This path followed by `rest`.
    pub fn join(&self, rest: &JsonPath) -> JsonPath {
        let mut p = self.clone();
        p.0.extend(rest.0.iter().cloned());
        p
    }
}

impl fmt::Display for JsonPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("$")?;
        for seg in &self.0 {
            match seg {
                Seg::Index(i) => write!(f, "[{i}]")?,
                Seg::Key(k) => {
                    let plain = !k.is_empty()
                        && !k.starts_with(|c: char| c.is_ascii_digit())
                        && k.chars().all(|c| c.is_alphanumeric() || c == '_');
                    if plain {
                        write!(f, ".{k}")?
                    } else {
                        write!(f, "[{k:?}]")?
                    }
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_keep_their_text() {
        let a = Number::from_text_unchecked("1");
        let b = Number::from_text_unchecked("1.0");
        assert_ne!(a, b);
        assert_eq!(a.as_i64(), Some(1));
        assert_eq!(b.as_i64(), None);
        assert_eq!(
            Number::from_text_unchecked("12345678901234567890").as_i64(),
            None
        );
        assert_eq!(Number::from_f64(1.0).unwrap().as_str(), "1.0");
        assert_eq!(Number::from_f64(0.1).unwrap().as_str(), "0.1");
        assert!(Number::from_f64(f64::NAN).is_none());
        for (f, js) in [
            (4.0, "4"),
            (0.1, "0.1"),
            (1e21, "1e+21"),
            (1e20, "100000000000000000000"),
            (1.5e-7, "1.5e-7"),
            (0.000001, "0.000001"),
            (-2.5, "-2.5"),
            (123.456, "123.456"),
            (1.2345e22, "1.2345e+22"),
        ] {
            assert_eq!(Number::from_f64_js(f).as_str(), js);
            assert!(Number::from_f64_js(f).is_canonical_js(), "{js}");
        }
        for t in [
            "4.0",
            "1e3",
            "-0",
            "0.10",
            "1.5E+3",
            "12345678901234567890",
            "0.0000001",
        ] {
            assert!(!Number::from_text_unchecked(t).is_canonical_js(), "{t}");
        }
        for t in ["4", "0.1", "-2.5", "123456789012345", "0.000001"] {
            assert!(Number::from_text_unchecked(t).is_canonical_js(), "{t}");
        }
    }

    /// What the text alone promises must hold: checks that compare a stored real with a source
    /// number rely on it instead of formatting.
    #[test]
    fn plainly_canonical_numbers_are_what_formatting_gives() {
        let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = move |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        let mut shown = 0;
        for _ in 0..200_000 {
            let len = 1 + next(19) as usize;
            let mut t: String = (0..len)
                .map(|_| char::from(b'0' + next(10) as u8))
                .collect();
            if next(2) == 0 {
                t.insert(next(len as u64) as usize + 1, '.');
                t = t.trim_end_matches('.').to_string();
            }
            if next(3) == 0 {
                t.insert(0, '-');
            }
            let n = Number::from_text_unchecked(&t);
            if let Some(f) = n.plainly_canonical_js() {
                shown += 1;
                assert_eq!(Number::from_f64_js(f).as_str(), t);
                assert_eq!(f, n.as_f64());
            }
        }
        assert!(shown > 10_000, "only {shown} shown");
        for t in [
            ".5",
            "0",
            "-0",
            "05",
            "5.",
            "0.50",
            "1e5",
            "0.0000001",
            "1234567890123456",
        ] {
            assert!(
                Number::from_text_unchecked(t)
                    .plainly_canonical_js()
                    .is_none(),
                "{t}"
            );
        }
    }

    #[test]
    fn object_equality_is_order_sensitive() {
        let a = Value::Object(vec![("a".into(), Value::Null), ("b".into(), Value::Null)]);
        let b = Value::Object(vec![("b".into(), Value::Null), ("a".into(), Value::Null)]);
        assert_ne!(a, b);
    }

    #[test]
    fn paths_display() {
        let p = JsonPath::root()
            .key("courses")
            .index(3)
            .key("odd key")
            .key("ok_1");
        assert_eq!(p.to_string(), r#"$.courses[3]["odd key"].ok_1"#);
    }
}
