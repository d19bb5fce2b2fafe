//! Writing values back in the formatting of the file they came from.
//!
//! The layouts are those of the writers applications actually use: JavaScript's
//! `JSON.stringify(x, null, indent)` and Python's `json.dumps` (TinyDB's storage), which agree
//! on the shape of indented output and differ only in separators and `ensure_ascii`. Numbers are
//! written with the text they were read with, so a parsed file writes back byte for byte.

use serde::{Deserialize, Serialize};
use std::io::{self, Write};

/// How a JSON file was written (indentation, separators, escaping, final newline), kept so that
/// `export` reproduces it; the source readers record it, the writer here follows it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Style {
    /// Indentation unit (`"  "`, `"    "`, `"\t"`); `None` for compact output on one line.
    pub indent: Option<String>,
    /// Separator after a key (`":"` or `": "`).
    pub colon: String,
    /// Separator between items when compact (`","` or `", "`); ignored when indented.
    pub comma: String,
    /// Escape every non-ASCII character as `\uXXXX` (Python's `ensure_ascii`, TinyDB's default).
    pub ascii: bool,
    /// The file ends with a newline.
    pub trailing_newline: bool,
    /// Lines end with `\r\n` (a file written on Windows); absent in layouts recorded before.
    #[serde(default)]
    pub crlf: bool,
}

impl Style {
    /// The line ending the file was written with.
    pub fn newline(&self) -> &'static [u8] {
        if self.crlf { b"\r\n" } else { b"\n" }
    }
}

use super::parse::BOM;
use super::value::Value;

/// Writes `v` in `style`, as if nested `level` deep: the first line is not indented (the caller
/// has placed it), inner lines get `level + 1` indents and a closing bracket `level`.
pub fn write_value<W: Write + ?Sized>(
    out: &mut W,
    v: &Value,
    style: &Style,
    level: usize,
) -> io::Result<()> {
    match v {
        Value::Null => out.write_all(b"null"),
        Value::Bool(true) => out.write_all(b"true"),
        Value::Bool(false) => out.write_all(b"false"),
        Value::Number(n) => out.write_all(n.as_str().as_bytes()),
        Value::String(s) => write_string(out, s, style.ascii),
        Value::Array(items) => {
            if items.is_empty() {
                return out.write_all(b"[]");
            }
            out.write_all(b"[")?;
            for (i, item) in items.iter().enumerate() {
                separator(out, style, level + 1, i == 0)?;
                write_value(out, item, style, level + 1)?;
            }
            close(out, style, level)?;
            out.write_all(b"]")
        }
        Value::Object(members) => {
            if members.is_empty() {
                return out.write_all(b"{}");
            }
            out.write_all(b"{")?;
            for (i, (k, item)) in members.iter().enumerate() {
                separator(out, style, level + 1, i == 0)?;
                write_string(out, k, style.ascii)?;
                out.write_all(style.colon.as_bytes())?;
                write_value(out, item, style, level + 1)?;
            }
            close(out, style, level)?;
            out.write_all(b"}")
        }
    }
}

/// What goes before an element or member: a comma unless it is the first, then a newline and
/// indentation when indented.
pub(crate) fn separator<W: Write + ?Sized>(
    out: &mut W,
    style: &Style,
    level: usize,
    first: bool,
) -> io::Result<()> {
    match &style.indent {
        Some(unit) => {
            if !first {
                out.write_all(b",")?;
            }
            newline_indent(out, style.newline(), unit, level)
        }
        None if first => Ok(()),
        None => out.write_all(style.comma.as_bytes()),
    }
}

/// What goes before the closing bracket of a non-empty container.
pub(crate) fn close<W: Write + ?Sized>(out: &mut W, style: &Style, level: usize) -> io::Result<()> {
    match &style.indent {
        Some(unit) => newline_indent(out, style.newline(), unit, level),
        None => Ok(()),
    }
}

fn newline_indent<W: Write + ?Sized>(
    out: &mut W,
    newline: &[u8],
    unit: &str,
    level: usize,
) -> io::Result<()> {
    out.write_all(newline)?;
    for _ in 0..level {
        out.write_all(unit.as_bytes())?;
    }
    Ok(())
}

/// A whole file: BOM, the value at level 0, the trailing newline.
pub fn write_document<W: Write + ?Sized>(
    out: &mut W,
    v: &Value,
    style: &Style,
    bom: bool,
) -> io::Result<()> {
    if bom {
        out.write_all(BOM)?;
    }
    write_value(out, v, style, 0)?;
    if style.trailing_newline {
        out.write_all(style.newline())?;
    }
    Ok(())
}

/// The style of [`to_compact_string`]: `,` and `:`, no ASCII escaping.
pub fn compact_style() -> Style {
    Style {
        indent: None,
        colon: ":".into(),
        comma: ",".into(),
        ascii: false,
        trailing_newline: false,
        crlf: false,
    }
}

/// Made once: JSON columns are written for nearly every row.
pub(crate) static COMPACT: std::sync::LazyLock<Style> = std::sync::LazyLock::new(compact_style);

/// `v` on one line with `,` and `:` separators and no ASCII escaping (the form of JSON columns).
pub fn to_compact_string(v: &Value) -> String {
    let mut out = Vec::with_capacity(64);
    write_value(&mut out, v, &COMPACT, 0).expect("writing to a Vec cannot fail");
    // The writer only emits valid UTF-8: the value's strings plus ASCII.
    String::from_utf8(out).expect("JSON text is UTF-8")
}

/// Whether `text` is exactly [`to_compact_string`]`(v)`, found without building it: the writer's
/// output is compared as it comes and stops at the first difference.
pub fn is_compact_text_of(v: &Value, text: &str) -> bool {
    struct Matcher<'t>(&'t [u8]);
    impl Write for Matcher<'_> {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            match self.0.strip_prefix(buf) {
                Some(rest) => {
                    self.0 = rest;
                    Ok(buf.len())
                }
                None => Err(io::ErrorKind::InvalidData.into()),
            }
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }
    let mut m = Matcher(text.as_bytes());
    write_value(&mut m, v, &COMPACT, 0).is_ok() && m.0.is_empty()
}

/// How deep a JSON column's text may nest when it is read back.
pub const COLUMN_DEPTH: usize = 10_000;

/// Writes record `v` as [`write_value`] does, its members named in `texts` (placeholders in
/// `v`) written from their JSON text instead, without building their trees
/// ([`super::parse::write_styled`]).
pub fn write_record<W: Write + ?Sized>(
    out: &mut W,
    v: &Value,
    texts: &[(&str, &str)],
    style: &Style,
    level: usize,
) -> io::Result<()> {
    let Value::Object(members) = v else {
        return write_value(out, v, style, level);
    };
    if texts.is_empty() || members.is_empty() {
        return write_value(out, v, style, level);
    }
    out.write_all(b"{")?;
    for (i, (k, item)) in members.iter().enumerate() {
        separator(out, style, level + 1, i == 0)?;
        write_string(out, k, style.ascii)?;
        out.write_all(style.colon.as_bytes())?;
        match texts.iter().find(|(n, _)| n == k) {
            Some((_, text)) => {
                let mut styled = Vec::new();
                super::parse::write_styled(&mut styled, text, style, level + 1, COLUMN_DEPTH)
                    .map_err(|e| io::Error::other(format!("bad JSON in a column: {e}")))?;
                out.write_all(&styled)?;
            }
            None => write_value(out, item, style, level + 1)?,
        }
    }
    close(out, style, level)?;
    out.write_all(b"}")
}

/// `v` in `style` at `level`, as a string.
pub fn to_string_styled(v: &Value, style: &Style, level: usize) -> String {
    let mut out = Vec::with_capacity(64);
    write_value(&mut out, v, style, level).expect("writing to a Vec cannot fail");
    String::from_utf8(out).expect("JSON text is UTF-8")
}

/// Does byte `c` need escaping (not counting non-ASCII in ASCII mode)?
#[inline(always)]
fn needs_escape(c: u8) -> bool {
    c < 0x20 || c == b'"' || c == b'\\'
}

/// Writes `s` as a JSON string with minimal escapes (as `JSON.stringify` and Python's
/// `json.dumps`): `\"`, `\\`, `\b \f \n \r \t`, other control characters as `\u00xx`; with
/// `ascii`, also DEL and every non-ASCII character as lowercase `\uxxxx` (surrogate pairs above
/// U+FFFF), exactly like `ensure_ascii=True`.
pub fn write_string<W: Write + ?Sized>(out: &mut W, s: &str, ascii: bool) -> io::Result<()> {
    out.write_all(b"\"")?;
    let b = s.as_bytes();
    let mut start = 0;
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if !(needs_escape(c) || (ascii && c >= 0x7f)) {
            i += 1;
            continue;
        }
        out.write_all(&b[start..i])?;
        match c {
            b'"' => out.write_all(b"\\\"")?,
            b'\\' => out.write_all(b"\\\\")?,
            b'\n' => out.write_all(b"\\n")?,
            b'\r' => out.write_all(b"\\r")?,
            b'\t' => out.write_all(b"\\t")?,
            0x08 => out.write_all(b"\\b")?,
            0x0c => out.write_all(b"\\f")?,
            c if c < 0x80 => write!(out, "\\u{:04x}", c)?,
            _ => {
                // ASCII mode, a non-ASCII character: decode it from the (valid UTF-8) string.
                let ch = s[i..].chars().next().expect("inside the string");
                let mut units = [0u16; 2];
                for u in ch.encode_utf16(&mut units) {
                    write!(out, "\\u{:04x}", u)?;
                }
                i += ch.len_utf8();
                start = i;
                continue;
            }
        }
        i += 1;
        start = i;
    }
    out.write_all(&b[start..])?;
    out.write_all(b"\"")
}

/// What [`detect_style`] saw, with whether the text said anything about `ascii`.
pub(crate) struct Detected {
    pub style: Style,
    /// The text had non-ASCII characters, raw or escaped, so `style.ascii` is known rather
    /// than a default.
    pub ascii_known: bool,
}

/// Works out how a file was written from its first bytes (64 KiB is plenty): the indentation
/// unit (the whitespace of the first indented line divided by its depth; `None` when nothing
/// inside a container starts a new line), the separator after keys, the separator between
/// items on one line, and `ascii` when non-ASCII characters appear only as `\u` escapes.
/// `trailing_newline` is left `false`: only the end of the file tells.
pub fn detect_style(head: &[u8]) -> Style {
    detect(head).style
}

pub(crate) fn detect(head: &[u8]) -> Detected {
    let mut indent: Option<Option<String>> = None;
    let mut colon: Option<&str> = None;
    let mut comma: Option<&str> = None;
    let mut raw_non_ascii = false;
    let mut escaped_non_ascii = false;
    let mut depth = 0usize;
    let mut crlf = None;
    let mut i = if head.starts_with(BOM) { BOM.len() } else { 0 };
    while i < head.len() {
        if head[i] == b'\n' && crlf.is_none() {
            crlf = Some(i > 0 && head[i - 1] == b'\r');
        }
        match head[i] {
            b'"' => {
                i += 1;
                while i < head.len() && head[i] != b'"' {
                    if head[i] == b'\\' {
                        if head.get(i + 1) == Some(&b'u') {
                            let hex = head
                                .get(i + 2..i + 6)
                                .and_then(|h| std::str::from_utf8(h).ok());
                            if hex
                                .and_then(|h| u16::from_str_radix(h, 16).ok())
                                .is_some_and(|n| n >= 0x80)
                            {
                                escaped_non_ascii = true;
                            }
                        }
                        i += 2;
                        continue;
                    }
                    if head[i] >= 0x80 {
                        raw_non_ascii = true;
                    }
                    i += 1;
                }
            }
            b'[' | b'{' => depth += 1,
            b']' | b'}' => depth = depth.saturating_sub(1),
            b':' if colon.is_none() => {
                colon = Some(if head.get(i + 1) == Some(&b' ') {
                    ": "
                } else {
                    ":"
                });
            }
            b',' if comma.is_none() => match head.get(i + 1) {
                Some(b' ') => comma = Some(", "),
                Some(b'\n' | b'\r') | None => {}
                Some(_) => comma = Some(","),
            },
            b'\n' if indent.is_none() && depth > 0 => {
                let mut j = i + 1;
                while j < head.len() && (head[j] == b' ' || head[j] == b'\t') {
                    j += 1;
                }
                // The first line inside a container is either an element (at `depth`) or, for
                // an empty container spread over lines, its closing bracket (at `depth - 1`).
                let ws = &head[i + 1..j];
                let level = if matches!(head.get(j), Some(b']' | b'}')) {
                    depth - 1
                } else {
                    depth
                };
                indent = Some(Some(if ws.is_empty() {
                    String::new() // Python's indent=0: newlines, no indentation
                } else if ws[0] == b'\t' {
                    "\t".to_string()
                } else {
                    " ".repeat((ws.len() / level.max(1)).max(1))
                }));
            }
            _ => {}
        }
        i += 1;
    }
    if indent.is_none() && colon.is_none() && comma.is_none() {
        // Nothing to go by (`[]`, `{}`, a scalar): JSON.stringify(x, null, 2), the most common
        // writer of such files, is the best guess, and an empty container looks the same in
        // every style.
        indent = Some(Some("  ".to_string()));
    }
    let colon = colon.unwrap_or(": ");
    // Writers pair their separators: `": "` goes with `", "` (Python's default), `":"` with
    // `","` (JSON.stringify, compact dumps).
    let comma = comma.unwrap_or(if colon == ": " { ", " } else { "," });
    let ascii = escaped_non_ascii && !raw_non_ascii;
    Detected {
        style: Style {
            indent: indent.flatten(),
            colon: colon.to_string(),
            comma: comma.to_string(),
            ascii,
            trailing_newline: false,
            crlf: crlf.unwrap_or(false),
        },
        ascii_known: escaped_non_ascii || raw_non_ascii,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json::parse;
    use std::path::Path;

    #[test]
    fn compact_text_is_recognised_exactly_without_being_built() {
        for text in [
            r#"{"a":[1,2.50,-0,1e400],"b":{"é":"x\"y\u0001"},"c":null}"#,
            "[]",
            "\"\"",
            "true",
        ] {
            let v = parse(text.as_bytes(), 64).unwrap();
            assert_eq!(to_compact_string(&v), text);
            assert!(is_compact_text_of(&v, text), "{text}");
            // A prefix, a longer text: no.
            assert!(!is_compact_text_of(&v, &text[..text.len() - 1]));
            assert!(!is_compact_text_of(&v, &format!("{text} ")));
        }
        // Another spelling of the same value, or another value: no.
        let v = parse(br#"{"a": 1}"#, 64).unwrap();
        assert!(!is_compact_text_of(&v, r#"{"a": 1}"#));
        assert!(!is_compact_text_of(&v, r#"{"a":2}"#));
    }

    fn roundtrip(name: &str) {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("src/json/testdata")
            .join(name);
        let text = std::fs::read(&path).unwrap();
        let v = parse(&text, 128).unwrap();
        let mut style = detect_style(&text);
        style.trailing_newline = text.ends_with(b"\n");
        let mut out = Vec::new();
        write_document(&mut out, &v, &style, text.starts_with(BOM)).unwrap();
        if out != text {
            panic!(
                "{name}: style {style:?}\n--- expected\n{}\n--- got\n{}",
                String::from_utf8_lossy(&text),
                String::from_utf8_lossy(&out)
            );
        }
    }

    #[test]
    fn node_samples_round_trip() {
        for f in [
            "node_indent2.json",
            "node_indent2_nl.json",
            "node_indent4.json",
            "node_tab.json",
            "node_compact.json",
            "node_array.json",
        ] {
            roundtrip(f);
        }
    }

    #[test]
    fn python_samples_round_trip() {
        for f in [
            "py_default.json",
            "py_default_utf8.json",
            "py_indent2.json",
            "py_indent4_utf8.json",
            "py_indent0.json",
            "py_compact.json",
            "tinydb.json",
        ] {
            roundtrip(f);
        }
    }

    #[test]
    fn detects_styles() {
        let s = detect_style(b"{\n  \"a\": [\n    1,\n    2\n  ]\n}");
        assert_eq!((s.indent.as_deref(), s.colon.as_str()), (Some("  "), ": "));
        let s = detect_style(b"[\n    {\"a\":1}]");
        assert_eq!(s.indent.as_deref(), Some("    "));
        let s = detect_style(b"{\"a\": {\n\t\t\"b\": 1}}");
        assert_eq!(s.indent.as_deref(), Some("\t"));
        let s = detect_style(b"{\"a\":1,\"b\":2}");
        assert_eq!(
            (s.indent, s.colon.as_str(), s.comma.as_str()),
            (None, ":", ",")
        );
        let s = detect_style(b"{\"a\": 1, \"b\": 2}");
        assert_eq!((s.colon.as_str(), s.comma.as_str()), (": ", ", "));
        // Separators inside strings do not count.
        let s = detect_style(b"{\"a, b: c\\\"\":1,\"x\":2}");
        assert_eq!((s.colon.as_str(), s.comma.as_str()), (":", ","));
        // An empty container spread over lines.
        let s = detect_style(b"{\n  \"a\": [\n  ]\n}");
        assert_eq!(s.indent.as_deref(), Some("  "));
        assert!(detect_style(b"[\"caf\\u00e9\"]").ascii);
        assert!(!detect_style("[\"café\", \"caf\\u00e9\"]".as_bytes()).ascii);
        assert!(!detect_style(b"[\"\\u0041\"]").ascii);
        assert!(detect_style(b"\xEF\xBB\xBF[\"\\ud83d\\ude00\"]").ascii);
    }

    #[test]
    fn escaping() {
        let v = Value::String("a\"\\/\u{8}\u{c}\n\r\t\u{1}\u{1f}\u{7f}é😀\u{2028}".into());
        assert_eq!(
            to_compact_string(&v),
            "\"a\\\"\\\\/\\b\\f\\n\\r\\t\\u0001\\u001f\u{7f}é😀\u{2028}\""
        );
        let mut out = Vec::new();
        write_string(&mut out, "\u{7f}é😀\u{2028}x", true).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "\"\\u007f\\u00e9\\ud83d\\ude00\\u2028x\""
        );
    }

    #[test]
    fn compact_and_levels() {
        let v = parse(br#"{"a": [1, {"b": []}, {}], "c": "d"}"#, 16).unwrap();
        assert_eq!(to_compact_string(&v), r#"{"a":[1,{"b":[]},{}],"c":"d"}"#);
        let style = Style {
            indent: Some("  ".into()),
            colon: ": ".into(),
            comma: ",".into(),
            ..Style::default()
        };
        assert_eq!(
            to_string_styled(&v, &style, 1),
            "{\n    \"a\": [\n      1,\n      {\n        \"b\": []\n      },\n      {}\n    ],\n    \"c\": \"d\"\n  }"
        );
    }
}
