//! The pieces of JavaScript (and lodash) semantics json-server's list queries rest on: how a
//! value prints (`toString`), how `<` compares a query string with a number, `parseInt`, and
//! lodash's property paths (`_.get`, `_.has`). Kept apart so each rule is tested on its own, and
//! kept under `json`, below both of its users: the API's list queries (`api::query`) and the
//! text the store's search index holds for `q` (`store::search`).

use std::borrow::Cow;
use std::cmp::Ordering;

use crate::json::{Number, Value};

/// A JSON value seen as JavaScript sees it after `JSON.parse`, plus `undefined` and the few
/// values a path can synthesize (`"abc".length`, `"abc"[0]`). Borrows from the record.
#[derive(Debug, Clone)]
pub enum Js<'a> {
    Undefined,
    Null,
    Bool(bool),
    Num(f64),
    Str(Cow<'a, str>),
    Arr(&'a [Value]),
    Obj(&'a [(String, Value)]),
}

impl<'a> Js<'a> {
    pub fn of(v: &'a Value) -> Js<'a> {
        match v {
            Value::Null => Js::Null,
            Value::Bool(b) => Js::Bool(*b),
            Value::Number(n) => Js::Num(n.as_f64()),
            Value::String(s) => Js::Str(Cow::Borrowed(s)),
            Value::Array(a) => Js::Arr(a),
            Value::Object(o) => Js::Obj(o),
        }
    }

    pub fn is_nullish(&self) -> bool {
        matches!(self, Js::Undefined | Js::Null)
    }

    /// JavaScript truthiness (objects and arrays are always truthy).
    pub fn truthy(&self) -> bool {
        match self {
            Js::Undefined | Js::Null => false,
            Js::Bool(b) => *b,
            Js::Num(f) => *f != 0.0 && !f.is_nan(),
            Js::Str(s) => !s.is_empty(),
            Js::Arr(_) | Js::Obj(_) => true,
        }
    }

    /// `String(value)`: numbers in JavaScript's canonical form (`1.0` → `1`, `1e3` → `1000`),
    /// arrays joined with `,` (null and undefined elements print empty), objects
    /// `[object Object]`.
    pub fn to_js_string(&self) -> Cow<'a, str> {
        match self {
            Js::Str(s) => s.clone(),
            _ => {
                let mut out = String::new();
                self.push_js_string(&mut out);
                Cow::Owned(out)
            }
        }
    }

    pub fn push_js_string(&self, out: &mut String) {
        match self {
            Js::Undefined => out.push_str("undefined"),
            Js::Null => out.push_str("null"),
            Js::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Js::Num(f) => out.push_str(&number_to_string(*f)),
            Js::Str(s) => out.push_str(s),
            Js::Arr(items) => {
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    if !matches!(item, Value::Null) {
                        Js::of(item).push_js_string(out);
                    }
                }
            }
            Js::Obj(_) => out.push_str("[object Object]"),
        }
    }

    /// `ToPrimitive(value, number)`: arrays and objects become their string form.
    fn to_primitive(&self) -> Js<'a> {
        match self {
            Js::Arr(_) | Js::Obj(_) => Js::Str(self.to_js_string()),
            other => other.clone(),
        }
    }

    /// `ToNumber` of a primitive.
    fn to_number(&self) -> f64 {
        match self {
            Js::Undefined => f64::NAN,
            Js::Null => 0.0,
            Js::Bool(b) => f64::from(u8::from(*b)),
            Js::Num(f) => *f,
            Js::Str(s) => string_to_number(s),
            Js::Arr(_) | Js::Obj(_) => self.to_primitive().to_number(),
        }
    }
}

/// `Number.prototype.toString()` for any double, NaN and infinities included.
pub fn number_to_string(f: f64) -> String {
    if f.is_nan() {
        "NaN".into()
    } else if f.is_infinite() {
        if f > 0.0 { "Infinity" } else { "-Infinity" }.into()
    } else {
        Number::from_f64_js(f).as_str().to_string()
    }
}

/// JavaScript's `StrWhiteSpaceChar`: what `Number("…")`, `parseInt` and `trim` skip.
pub fn is_js_space(c: char) -> bool {
    matches!(
        c,
        '\t' | '\n' | '\u{b}' | '\u{c}' | '\r' | ' ' | '\u{a0}' | '\u{1680}' | '\u{2000}'
            ..='\u{200a}'
                | '\u{2028}'
                | '\u{2029}'
                | '\u{202f}'
                | '\u{205f}'
                | '\u{3000}'
                | '\u{feff}'
    )
}

/// `Number(string)`: trimmed; empty is 0; `0x`/`0o`/`0b` integers; `Infinity`; otherwise a
/// decimal literal or NaN.
pub fn string_to_number(s: &str) -> f64 {
    let t = s.trim_matches(is_js_space);
    if t.is_empty() {
        return 0.0;
    }
    let radix = match t.get(..2) {
        Some("0x" | "0X") => 16,
        Some("0o" | "0O") => 8,
        Some("0b" | "0B") => 2,
        _ => 0,
    };
    if radix != 0 {
        let digits = &t[2..];
        if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
            return f64::NAN;
        }
        return digits.chars().fold(0.0, |acc, c| {
            acc * f64::from(radix) + f64::from(c.to_digit(radix).unwrap_or(0))
        });
    }
    let (sign, body) = match t.as_bytes()[0] {
        b'-' => (-1.0, &t[1..]),
        b'+' => (1.0, &t[1..]),
        _ => (1.0, t),
    };
    if body == "Infinity" {
        return sign * f64::INFINITY;
    }
    if is_decimal_literal(body) {
        sign * body.parse::<f64>().unwrap_or(f64::NAN)
    } else {
        f64::NAN
    }
}

/// `StrUnsignedDecimalLiteral`: `1`, `1.`, `.5`, `1.5e-3` (Rust's parser accepts more, such
/// as `inf`, so the grammar is checked first).
fn is_decimal_literal(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    let int_digits = b.iter().take_while(|c| c.is_ascii_digit()).count();
    i += int_digits;
    let mut frac_digits = 0;
    if b.get(i) == Some(&b'.') {
        i += 1;
        frac_digits = b[i..].iter().take_while(|c| c.is_ascii_digit()).count();
        i += frac_digits;
    }
    if int_digits + frac_digits == 0 {
        return false;
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        let exp = b[i..].iter().take_while(|c| c.is_ascii_digit()).count();
        if exp == 0 {
            return false;
        }
        i += exp;
    }
    i == b.len()
}

/// `parseInt(s, 10)`: leading whitespace, a sign, then as many decimal digits as there are;
/// NaN without any (`"12px"` → 12, `"1e3"` → 1, `""` → NaN).
pub fn parse_int(s: &str) -> f64 {
    let t = s.trim_start_matches(is_js_space);
    let (sign, body) = match t.as_bytes().first() {
        Some(b'-') => (-1.0, &t[1..]),
        Some(b'+') => (1.0, &t[1..]),
        _ => (1.0, t),
    };
    let digits = body.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 {
        return f64::NAN;
    }
    sign * body[..digits].parse::<f64>().unwrap_or(f64::NAN)
}

/// Strings compare by UTF-16 code units in JavaScript, which differs from Rust's byte order
/// for characters above U+FFFF against U+E000..U+FFFF.
pub fn utf16_cmp(a: &str, b: &str) -> Ordering {
    if a.is_ascii() && b.is_ascii() {
        return a.cmp(b);
    }
    a.encode_utf16().cmp(b.encode_utf16())
}

/// `a < b` with JavaScript's loose rules; `None` is the "undefined" outcome (a NaN involved),
/// which makes both `<` and `>=` false.
pub fn loose_lt(a: &Js, b: &Js) -> Option<bool> {
    let (pa, pb) = (a.to_primitive(), b.to_primitive());
    if let (Js::Str(x), Js::Str(y)) = (&pa, &pb) {
        return Some(utf16_cmp(x, y) == Ordering::Less);
    }
    let (x, y) = (pa.to_number(), pb.to_number());
    if x.is_nan() || y.is_nan() {
        None
    } else {
        Some(x < y)
    }
}

/// `a <= b`.
pub fn loose_le(a: &Js, b: &Js) -> bool {
    loose_lt(b, a) == Some(false)
}

/// `a >= b`.
pub fn loose_ge(a: &Js, b: &Js) -> bool {
    loose_lt(a, b) == Some(false)
}

/// `a === b` for values of two different records: objects and arrays are never the same
/// reference, so never equal.
pub fn strict_eq(a: &Js, b: &Js) -> bool {
    match (a, b) {
        (Js::Undefined, Js::Undefined) | (Js::Null, Js::Null) => true,
        (Js::Bool(x), Js::Bool(y)) => x == y,
        (Js::Num(x), Js::Num(y)) => x == y,
        (Js::Str(x), Js::Str(y)) => x == y,
        _ => false,
    }
}

// ---------------------------------------------------------------------------------------------
// lodash property paths
// ---------------------------------------------------------------------------------------------

/// lodash's `reIsDeepProp`: a dot, or a bracket group with no bracket inside.
fn is_deep_prop(key: &str) -> bool {
    let mut open = false;
    for c in key.chars() {
        match c {
            '.' => return true,
            '[' => open = true,
            ']' if open => return true,
            ']' => {}
            _ => {}
        }
    }
    false
}

/// lodash's `reIsPlainProp`: `^\w*$`.
fn is_plain_prop(key: &str) -> bool {
    key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// A property path as lodash resolves it (`castPath`): `author.name`, `tags[0]`, `a["b.c"]`.
#[derive(Debug, Clone, PartialEq)]
pub struct PropPath {
    pub raw: String,
    pub segs: Vec<String>,
}

impl PropPath {
    pub fn new(raw: &str) -> PropPath {
        let segs = if is_plain_prop(raw) || !is_deep_prop(raw) {
            vec![raw.to_string()]
        } else {
            string_to_path(raw)
        };
        PropPath {
            raw: raw.to_string(),
            segs,
        }
    }

    /// The segments to use on `record`: a deep-looking key that the record has as its own
    /// literal key is used whole (lodash's `isKey(value, object)`).
    fn segs_for<'p>(&'p self, record: &Value) -> Cow<'p, [String]> {
        if self.segs.len() > 1 && own(record, &self.raw).is_some() {
            Cow::Owned(vec![self.raw.clone()])
        } else {
            Cow::Borrowed(&self.segs)
        }
    }

    /// `_.get(record, path)`.
    pub fn get<'a>(&self, record: &'a Value) -> Js<'a> {
        get_segs(record, &self.segs_for(record))
    }

    /// `_.has(record, path)`: every step is an own property.
    pub fn has(&self, record: &Value) -> bool {
        let segs = self.segs_for(record);
        let mut cur = Js::of(record);
        for seg in segs.iter() {
            match own(&cur, seg) {
                Some(next) => cur = next,
                None => return false,
            }
        }
        true
    }
}

fn get_segs<'a>(record: &'a Value, segs: &[String]) -> Js<'a> {
    let mut cur = Js::of(record);
    for seg in segs {
        if cur.is_nullish() {
            return Js::Undefined;
        }
        cur = own(&cur, seg).unwrap_or(Js::Undefined);
    }
    cur
}

/// An own property of a value: object keys, array and string indexes and `length`.
/// (Inherited properties such as `constructor` are not modelled.)
fn own<'a, V: AsJs<'a>>(value: V, key: &str) -> Option<Js<'a>> {
    match value.as_js() {
        Js::Obj(pairs) => pairs.iter().find(|(k, _)| k == key).map(|(_, v)| Js::of(v)),
        Js::Arr(items) => {
            if key == "length" {
                Some(Js::Num(items.len() as f64))
            } else {
                array_index(key).and_then(|i| items.get(i)).map(Js::of)
            }
        }
        Js::Str(s) => {
            let len = s.encode_utf16().count();
            if key == "length" {
                return Some(Js::Num(len as f64));
            }
            let i = array_index(key).filter(|i| *i < len)?;
            let unit = s.encode_utf16().nth(i)?;
            // A lone surrogate cannot live in a Rust string: it prints as U+FFFD.
            Some(Js::Str(Cow::Owned(
                char::from_u32(u32::from(unit))
                    .unwrap_or('\u{fffd}')
                    .to_string(),
            )))
        }
        _ => None,
    }
}

trait AsJs<'a> {
    fn as_js(self) -> Js<'a>;
}
impl<'a> AsJs<'a> for &'a Value {
    fn as_js(self) -> Js<'a> {
        Js::of(self)
    }
}
impl<'a> AsJs<'a> for &Js<'a> {
    fn as_js(self) -> Js<'a> {
        self.clone()
    }
}

/// A canonical array index (`0`, `17`; not `01`, `-1`, `1.0`).
fn array_index(key: &str) -> Option<usize> {
    let canonical = !key.is_empty()
        && key.bytes().all(|b| b.is_ascii_digit())
        && (key == "0" || !key.starts_with('0'));
    if canonical { key.parse().ok() } else { None }
}

/// lodash's `stringToPath` (the `rePropName` walk): `a.b[0]["c.d"]` → `a`, `b`, `0`, `c.d`;
/// empty segments for `a..b` and a leading dot.
pub fn string_to_path(s: &str) -> Vec<String> {
    let c: Vec<char> = s.chars().collect();
    let n = c.len();
    let mut out = Vec::new();
    if c.first() == Some(&'.') {
        out.push(String::new());
    }
    let is_sep = |ch: char| matches!(ch, '.' | '[' | ']');
    // `(?=(?:\.|\[\])(?:\.|\[\]|$))` at position i.
    let token_len = |i: usize| -> Option<usize> {
        match c.get(i) {
            Some('.') => Some(1),
            Some('[') if c.get(i + 1) == Some(&']') => Some(2),
            _ => None,
        }
    };
    let mut i = 0;
    while i < n {
        if !is_sep(c[i]) {
            let start = i;
            while i < n && !is_sep(c[i]) {
                i += 1;
            }
            out.push(c[start..i].iter().collect());
            continue;
        }
        if c[i] == '['
            && let Some((seg, end)) = bracket_segment(&c, i)
        {
            out.push(seg);
            i = end;
            continue;
        }
        if let Some(len) = token_len(i)
            && (i + len == n || token_len(i + len).is_some())
        {
            out.push(String::new());
        }
        i += 1;
    }
    out
}

/// `\[(?:(-?\d+(?:\.\d+)?)|(["'])((?:(?!\2)[^\\]|\\.)*?)\2)\]` at `c[i] == '['`: the segment
/// and the index after the closing bracket.
fn bracket_segment(c: &[char], i: usize) -> Option<(String, usize)> {
    let mut j = i + 1;
    // A number.
    let num_start = j;
    if c.get(j) == Some(&'-') {
        j += 1;
    }
    let digits = c[j.min(c.len())..]
        .iter()
        .take_while(|d| d.is_ascii_digit())
        .count();
    if digits > 0 {
        j += digits;
        let int_end = j;
        if c.get(j) == Some(&'.') {
            let frac = c[j + 1..].iter().take_while(|d| d.is_ascii_digit()).count();
            if frac > 0 && c.get(j + 1 + frac) == Some(&']') {
                return Some((c[num_start..j + 1 + frac].iter().collect(), j + 2 + frac));
            }
        }
        if c.get(int_end) == Some(&']') {
            return Some((c[num_start..int_end].iter().collect(), int_end + 1));
        }
        return None;
    }
    // A quoted string with backslash escapes.
    let quote = *c.get(i + 1)?;
    if quote != '"' && quote != '\'' {
        return None;
    }
    let mut j = i + 2;
    let mut seg = String::new();
    while j < c.len() {
        if c[j] == quote {
            return (c.get(j + 1) == Some(&']')).then_some((seg, j + 2));
        }
        if c[j] == '\\' {
            // reEscapeChar: `\x` → `x`.
            if let Some(next) = c.get(j + 1) {
                seg.push(*next);
                j += 2;
                continue;
            }
            return None;
        }
        seg.push(c[j]);
        j += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json::parse;

    fn v(text: &str) -> Value {
        parse(text.as_bytes(), 64).unwrap()
    }

    #[test]
    fn to_string_prints_as_javascript() {
        for (json, js) in [
            ("1.0", "1"),
            ("1e3", "1000"),
            ("-0", "0"),
            ("0.1", "0.1"),
            ("1e21", "1e+21"),
            ("12345678901234567890", "12345678901234567000"),
            ("1e400", "Infinity"),
            ("true", "true"),
            ("[1,null,[2,\"a\"],{}]", "1,,2,a,[object Object]"),
            ("{\"a\":1}", "[object Object]"),
            ("[]", ""),
            ("\"x\"", "x"),
        ] {
            assert_eq!(Js::of(&v(json)).to_js_string(), js, "{json}");
        }
    }

    #[test]
    fn string_to_number_follows_the_spec() {
        for (s, n) in [
            ("", 0.0),
            ("  12  ", 12.0),
            ("\u{a0}7\u{feff}", 7.0),
            ("0x1F", 31.0),
            ("0b11", 3.0),
            ("1e3", 1000.0),
            (".5", 0.5),
            ("5.", 5.0),
            ("-Infinity", f64::NEG_INFINITY),
            ("+3", 3.0),
        ] {
            assert_eq!(string_to_number(s), n, "{s:?}");
        }
        for s in ["abc", "1,2", "inf", "-0x10", "1e", "Infinityx", "e5", "."] {
            assert!(string_to_number(s).is_nan(), "{s:?}");
        }
    }

    #[test]
    fn parse_int_takes_leading_digits() {
        assert_eq!(parse_int(" 12px"), 12.0);
        assert_eq!(parse_int("1e3"), 1.0);
        assert_eq!(parse_int("-3"), -3.0);
        assert_eq!(parse_int("0x10"), 0.0);
        assert_eq!(parse_int("5,6"), 5.0);
        assert!(parse_int("").is_nan());
        assert!(parse_int("abc").is_nan());
        assert!(parse_int("undefined").is_nan());
    }

    #[test]
    fn loose_comparison_coerces_like_javascript() {
        let s = |x: &'static str| Js::Str(Cow::Borrowed(x));
        // Number against string: numeric.
        assert!(loose_le(&s("10"), &Js::Num(100.0)));
        assert!(!loose_le(&s("10"), &Js::Num(9.0)));
        // Two strings: code units, so "10" < "9".
        assert!(loose_le(&s("10"), &s("9")));
        // NaN makes both directions false.
        assert!(!loose_le(&s("abc"), &Js::Num(1.0)));
        assert!(!loose_ge(&s("abc"), &Js::Num(1.0)));
        // Empty string is 0; booleans are 0/1; null is 0.
        assert!(loose_le(&s(""), &Js::Num(0.0)));
        assert!(loose_le(&s("1"), &Js::Bool(true)));
        assert!(!loose_le(&s("true"), &Js::Bool(true)));
        assert!(loose_ge(&s("0"), &Js::Null));
        // Arrays compare as their joined text.
        let arr = v("[\"b\",\"c\"]");
        assert!(loose_le(&s("b"), &Js::of(&arr)));
        // UTF-16 order: U+FF5E sorts after U+1F600's lead surrogate (D83D).
        assert_eq!(utf16_cmp("\u{ff5e}", "😀"), Ordering::Greater);
        assert_eq!("\u{ff5e}".cmp("😀"), Ordering::Less);
    }

    #[test]
    fn paths_resolve_like_lodash() {
        assert_eq!(string_to_path("a.b"), ["a", "b"]);
        assert_eq!(string_to_path("a[0].b"), ["a", "0", "b"]);
        assert_eq!(string_to_path("a[\"b.c\"]"), ["a", "b.c"]);
        assert_eq!(string_to_path(".a"), ["", "a"]);
        assert_eq!(string_to_path("a..b"), ["a", "", "b"]);
        assert_eq!(string_to_path("a[-1.5]"), ["a", "-1.5"]);
        let rec = v(r#"{"author":{"name":"ana"},"a.b":1,"tags":["x","y"],"t":"héllo","n":null}"#);
        let p = |s: &str| PropPath::new(s);
        assert_eq!(p("author.name").get(&rec).to_js_string(), "ana");
        assert!(p("author.name").has(&rec));
        assert!(!p("author.mail").has(&rec));
        assert_eq!(p("a.b").get(&rec).to_js_string(), "1");
        assert_eq!(p("tags.1").get(&rec).to_js_string(), "y");
        assert_eq!(p("tags.length").get(&rec).to_js_string(), "2");
        assert!(p("tags.length").has(&rec));
        assert!(!p("tags.01").has(&rec));
        assert_eq!(p("t.length").get(&rec).to_js_string(), "5");
        assert_eq!(p("t.1").get(&rec).to_js_string(), "é");
        assert!(p("n").has(&rec));
        assert!(!p("n.x").has(&rec));
        assert!(matches!(p("n.x").get(&rec), Js::Undefined));
    }
}
