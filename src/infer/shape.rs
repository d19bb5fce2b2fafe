//! Shape detection: which reader a file needs (array, keyed object, single document, json-server
//! `db.json`, TinyDB, JSON Lines) and why.
//!
//! A file starting with `[` is an array without further ado. For a file starting with `{` the
//! probe walks the top two levels with the streaming scanner (deeper values are skipped, never
//! held whole) and keeps only bounded facts: per top-level key the kind of its value, and over the
//! objects one level down the frequency of their keys (capped) and whether the keys are TinyDB
//! document ids. [`decide`] turns those facts into a [`Detection`] with the reason in words.

use std::collections::HashMap;
use std::fs::File;
use std::path::Path;

use crate::error::Problem;
use crate::json::{ScanError, Scanner};
use crate::schema::is_uuid;

/// Top-level keys listed individually; a file with more is a keyed object or a document.
pub const MEMBER_LIST_CAP: usize = 512;
/// A top-level object holding at least this many objects (and nothing else) holds records keyed
/// by name: a collection of its own, not part of one document's row.
pub const KEYED_MEMBER_MIN: u64 = 20;
/// Distinct keys counted one level down (for shape similarity).
const KEY_FREQ_CAP: usize = 1024;
/// Containers this deep are stepped through; deeper values are skipped by a raw scan.
const STEP_DEPTH: usize = 4;

/// The kind of a value, from its first byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Object,
    Array,
    Scalar,
}

impl Kind {
    fn of(first: u8) -> Kind {
        match first {
            b'{' => Kind::Object,
            b'[' => Kind::Array,
            _ => Kind::Scalar,
        }
    }
}

/// One top-level key of an object file.
#[derive(Debug, Clone)]
pub struct MemberProbe {
    pub name: String,
    pub kind: Kind,
    /// Elements (arrays) or members (objects).
    pub len: u64,
    /// Every element (array) or member value (object) is an object.
    pub all_objects: bool,
    /// Objects: every key is a TinyDB document id (`"1"`, `"42"`).
    pub doc_ids: bool,
}

/// Key frequencies over a set of objects, capped.
#[derive(Debug, Clone, Default)]
pub struct KeyShape {
    pub objects: u64,
    pub key_total: u64,
    freq: HashMap<String, u64>,
    overflow: bool,
}

impl KeyShape {
    pub fn add_key(&mut self, k: &str) {
        self.key_total += 1;
        if let Some(n) = self.freq.get_mut(k) {
            *n += 1;
        } else if self.freq.len() < KEY_FREQ_CAP {
            self.freq.insert(k.to_string(), 1);
        } else {
            self.overflow = true;
        }
    }

    /// See [`super::stats::ObjStats::similarity`]: 1 when all objects have the same keys.
    pub fn similarity(&self) -> f64 {
        if self.overflow {
            return 0.0;
        }
        let n = self.objects;
        if n == 0 || self.key_total == 0 {
            return 1.0;
        }
        let core: Vec<u64> = self.freq.values().copied().filter(|&c| c * 2 > n).collect();
        let c: u64 = core.iter().sum();
        let missing = core.len() as u64 * n - c;
        c as f64 / (self.key_total + missing) as f64
    }
}

/// What the probe saw at the top of a file.
#[derive(Debug, Clone)]
pub enum Probe {
    /// Nothing but whitespace (and maybe a BOM).
    Empty,
    Array,
    /// A string, number, boolean or null.
    Scalar,
    /// An object; the values after it, if any, make it JSON Lines.
    Object(ObjectProbe),
}

#[derive(Debug, Clone, Default)]
pub struct ObjectProbe {
    /// Top-level keys.
    pub members: u64,
    /// The first [`MEMBER_LIST_CAP`] of them.
    pub listed: Vec<MemberProbe>,
    pub objects: u64,
    pub arrays: u64,
    pub scalars: u64,
    /// Top-level keys that look like ids (digits, UUIDs, e-mail addresses, codes with digits).
    pub id_keys: u64,
    /// The keys of the objects one level down.
    pub inner: KeyShape,
    /// Another JSON value follows the object (JSON Lines).
    pub more_values: bool,
}

/// Does an object key look like an id rather than a field name?
pub fn key_looks_like_id(k: &str) -> bool {
    !k.is_empty()
        && k.len() <= 80
        && !k.contains(char::is_whitespace)
        && (k.bytes().any(|b| b.is_ascii_digit()) || is_uuid(k) || k.contains('@'))
}

/// TinyDB writes document ids as `str(int)`.
pub fn is_doc_id(k: &str) -> bool {
    !k.is_empty()
        && k.bytes().all(|b| b.is_ascii_digit())
        && (k == "0" || !k.starts_with('0'))
        && k.parse::<u64>().is_ok()
}

fn scan_problem(display: &str, e: ScanError) -> Problem {
    Problem::new(display, e.message).at(e.pos.line, e.pos.col)
}

/// Probes a JSON file (not JSON Lines, which needs no probe).
pub fn probe(path: &Path, display: &str, max_depth: usize) -> Result<Probe, Problem> {
    let f = File::open(path)
        .map_err(|e| Problem::new(display, format!("cannot open the file: {e}")))?;
    let mut sc = Scanner::new(f).map_err(|e| scan_problem(display, e))?;
    sc.set_max_depth(max_depth);
    probe_scanner(&mut sc).map_err(|e| scan_problem(display, e))
}

fn probe_scanner<R: std::io::Read>(sc: &mut Scanner<R>) -> Result<Probe, ScanError> {
    match sc.peek_non_ws()? {
        None => return Ok(Probe::Empty),
        Some(b'[') => return Ok(Probe::Array),
        Some(b'{') => {}
        Some(_) => return Ok(Probe::Scalar),
    }
    let mut p = ObjectProbe::default();
    let mut buf = Vec::new();
    sc.expect(b'{')?;
    if !sc.eat(b'}')? {
        loop {
            let (name, _) = sc.read_key()?;
            p.members += 1;
            if key_looks_like_id(&name) {
                p.id_keys += 1;
            }
            let first = sc
                .peek_non_ws()?
                .ok_or_else(|| sc.error_here("unexpected end of input, expected a value"))?;
            let mut m = MemberProbe {
                name,
                kind: Kind::of(first),
                len: 0,
                all_objects: true,
                doc_ids: true,
            };
            match m.kind {
                Kind::Object => {
                    p.objects += 1;
                    p.inner.objects += 1;
                    sc.expect(b'{')?;
                    if !sc.eat(b'}')? {
                        loop {
                            let (k, _) = sc.read_key()?;
                            m.len += 1;
                            p.inner.add_key(&k);
                            m.doc_ids &= is_doc_id(&k);
                            let f = sc.peek_non_ws()?;
                            m.all_objects &= f == Some(b'{');
                            skip(sc, &mut buf, 2)?;
                            if !sc.comma_or_end(b'}')? {
                                break;
                            }
                        }
                    }
                }
                Kind::Array => {
                    p.arrays += 1;
                    m.doc_ids = false;
                    sc.expect(b'[')?;
                    if !sc.eat(b']')? {
                        loop {
                            m.len += 1;
                            let f = sc.peek_non_ws()?;
                            m.all_objects &= f == Some(b'{');
                            skip(sc, &mut buf, 2)?;
                            if !sc.comma_or_end(b']')? {
                                break;
                            }
                        }
                    }
                }
                Kind::Scalar => {
                    p.scalars += 1;
                    m.doc_ids = false;
                    m.all_objects = false;
                    skip(sc, &mut buf, 1)?;
                }
            }
            if p.listed.len() < MEMBER_LIST_CAP {
                p.listed.push(m);
            }
            if !sc.comma_or_end(b'}')? {
                break;
            }
        }
    }
    p.more_values = matches!(sc.peek_non_ws()?, Some(b'{' | b'['));
    Ok(Probe::Object(p))
}

/// Skips one value without holding it: containers near the top are stepped through, deeper
/// ones (parts of one record) and scalars are scanned raw.
fn skip<R: std::io::Read>(
    sc: &mut Scanner<R>,
    buf: &mut Vec<u8>,
    depth: usize,
) -> Result<(), ScanError> {
    match sc.peek_non_ws()? {
        Some(b'{') if depth < STEP_DEPTH => {
            sc.expect(b'{')?;
            if sc.eat(b'}')? {
                return Ok(());
            }
            loop {
                sc.read_key()?;
                skip(sc, buf, depth + 1)?;
                if !sc.comma_or_end(b'}')? {
                    return Ok(());
                }
            }
        }
        Some(b'[') if depth < STEP_DEPTH => {
            sc.expect(b'[')?;
            if sc.eat(b']')? {
                return Ok(());
            }
            loop {
                skip(sc, buf, depth + 1)?;
                if !sc.comma_or_end(b']')? {
                    return Ok(());
                }
            }
        }
        _ => {
            sc.capture_value(buf)?;
            Ok(())
        }
    }
}

/// The reader a file needs.
#[derive(Debug, Clone, PartialEq)]
pub enum Shape {
    Array,
    Jsonl,
    Document,
    /// Records keyed by the top-level keys (`format = "object"`).
    Keyed,
    /// TinyDB tables: one collection per table.
    Tinydb {
        tables: Vec<String>,
    },
    /// json-server `db.json`: arrays of objects are collections, objects are documents; other
    /// keys are kept verbatim by the reader. In a document, objects holding many objects keyed
    /// by name are collections too (`keyed`: `format = "object"` with a `member`).
    Members {
        arrays: Vec<String>,
        documents: Vec<String>,
        verbatim: Vec<String>,
        keyed: Vec<String>,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Detection {
    pub shape: Shape,
    /// Why, in words, for the comment in the project file.
    pub why: String,
}

fn names(list: &[String]) -> String {
    let shown: Vec<String> = list.iter().take(6).map(|s| format!("{s:?}")).collect();
    let more = if list.len() > 6 {
        format!(" and {} more", list.len() - 6)
    } else {
        String::new()
    };
    format!("{}{more}", shown.join(", "))
}

fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// Decides the shape of a probed file. `jsonl_ext`: the file is named `*.jsonl`/`*.ndjson`.
pub fn decide(probe: &Probe, jsonl_ext: bool, display: &str) -> Result<Detection, Problem> {
    if jsonl_ext {
        return Ok(Detection {
            shape: Shape::Jsonl,
            why: "the .jsonl/.ndjson name: one JSON value per line".into(),
        });
    }
    let p = match probe {
        Probe::Empty => {
            return Err(Problem::new(
                display,
                "the file is empty: there is nothing to infer a schema from",
            ));
        }
        Probe::Scalar => {
            return Err(Problem::new(display, "the file holds a single scalar value, not records: jsonlift migrates objects (an array of objects, an object, ...)").at(1, 1));
        }
        Probe::Array => {
            return Ok(Detection {
                shape: Shape::Array,
                why: "the file is a JSON array: one record per element".into(),
            });
        }
        Probe::Object(p) => p,
    };
    if p.more_values {
        return Ok(Detection {
            shape: Shape::Jsonl,
            why: "several JSON values follow one another: JSON Lines, one record per line".into(),
        });
    }
    let n = p.members;
    if n == 0 {
        return Ok(Detection {
            shape: Shape::Document,
            why: "an empty object: one document (one row)".into(),
        });
    }
    let complete = n as usize == p.listed.len();
    let all_tables = complete
        && p.listed
            .iter()
            .all(|m| m.kind == Kind::Object && m.doc_ids && m.all_objects);
    let has_default = p.listed.iter().any(|m| m.name == "_default");
    let any_docs = p.listed.iter().any(|m| m.len > 0);
    if all_tables && (has_default || any_docs) {
        let tables: Vec<String> = p.listed.iter().map(|m| m.name.clone()).collect();
        let why = format!(
            "every top-level value is an object keyed by integer document ids ({}): a TinyDB file, one collection per table",
            names(&tables)
        );
        return Ok(Detection {
            shape: Shape::Tinydb { tables },
            why,
        });
    }
    let record_arrays: Vec<&MemberProbe> = p
        .listed
        .iter()
        .filter(|m| m.kind == Kind::Array && m.all_objects)
        .collect();
    // A document whose members are objects keyed by name, each holding many records (a 20 MB
    // file of a thousand records under each member): one collection per member, not one row
    // with huge JSON columns. Its scalars stay verbatim in the file's layout.
    let keyed: Vec<String> = p
        .listed
        .iter()
        .filter(|m| m.kind == Kind::Object && m.all_objects && m.len >= KEYED_MEMBER_MIN)
        .map(|m| m.name.clone())
        .collect();
    let db_json = p.scalars == 0 && record_arrays.iter().any(|m| m.len > 0);
    if complete && (db_json || !keyed.is_empty()) {
        let arrays: Vec<String> = record_arrays.iter().map(|m| m.name.clone()).collect();
        let documents: Vec<String> = p
            .listed
            .iter()
            .filter(|m| m.kind == Kind::Object && !keyed.contains(&m.name))
            .map(|m| m.name.clone())
            .collect();
        let verbatim: Vec<String> = p
            .listed
            .iter()
            .filter(|m| m.kind == Kind::Scalar || (m.kind == Kind::Array && !m.all_objects))
            .map(|m| m.name.clone())
            .collect();
        let mut why = match keyed.is_empty() {
            true => format!("top-level keys hold arrays of objects ({})", names(&arrays)),
            false => format!(
                "top-level keys hold objects of records keyed by name ({}, at least {KEYED_MEMBER_MIN} objects each)",
                names(&keyed)
            ),
        };
        if !keyed.is_empty() && !arrays.is_empty() {
            why.push_str(&format!(", arrays of objects ({})", names(&arrays)));
        }
        if !documents.is_empty() {
            why.push_str(&format!(" and objects ({})", names(&documents)));
        }
        why.push_str(match keyed.is_empty() {
            true => ": a json-server style db.json, one collection per key",
            false => ": one collection per key",
        });
        if !verbatim.is_empty() {
            let what = if keyed.is_empty() {
                " of non-objects"
            } else {
                ""
            };
            why.push_str(&format!(
                "; {}{what} stay verbatim in the file's layout",
                names(&verbatim)
            ));
        }
        return Ok(Detection {
            shape: Shape::Members {
                arrays,
                documents,
                verbatim,
                keyed,
            },
            why,
        });
    }
    let sim = p.inner.similarity();
    if n >= 2 && p.objects == n && sim >= 0.5 && (p.id_keys == n || n >= 3) {
        let keys = if p.id_keys == n {
            "that look like ids"
        } else {
            ""
        };
        let why = format!(
            "{} {keys}, each holding an object, with similar fields (similarity {sim:.2}): records keyed by the object key",
            plural(n, "top-level key", "top-level keys")
        )
        .replace("  ", " ");
        return Ok(Detection {
            shape: Shape::Keyed,
            why,
        });
    }
    let why = if p.objects == n && n >= 2 {
        format!(
            "{} holding objects of different shapes (similarity {sim:.2}): one document (one row)",
            plural(n, "key", "keys")
        )
    } else if p.objects == n && n == 1 {
        "a single key holding an object: one document (one row)".to_string()
    } else {
        format!(
            "one object with {} of mixed kinds: one document (one row)",
            plural(n, "field", "fields")
        )
    };
    Ok(Detection {
        shape: Shape::Document,
        why,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn detect(text: &str) -> Shape {
        let mut sc = Scanner::with_capacity(text.as_bytes(), 16).unwrap();
        let p = probe_scanner(&mut sc).unwrap();
        decide(&p, false, "t.json").unwrap().shape
    }

    #[test]
    fn shapes() {
        assert_eq!(detect("[1]"), Shape::Array);
        assert_eq!(
            detect(r#"{"a": 1, "b": [1, 2], "c": {"x": 1}}"#),
            Shape::Document
        );
        assert_eq!(detect("{}"), Shape::Document);
        assert_eq!(
            detect(r#"{"u1": {"name": "a", "age": 3}, "u2": {"name": "b", "age": 4}}"#),
            Shape::Keyed
        );
        assert_eq!(
            detect(r#"{"alice": {"age": 3}, "bob": {"age": 4}, "carol": {"age": 5}}"#),
            Shape::Keyed
        );
        assert_eq!(
            detect(r#"{"window": {"w": 1, "h": 2}, "editor": {"font": "x"}}"#),
            Shape::Document
        );
        assert_eq!(
            detect(r#"{"_default": {"1": {"a": 1}, "2": {"a": 2}}, "users": {}}"#),
            Shape::Tinydb {
                tables: vec!["_default".into(), "users".into()]
            }
        );
        assert_eq!(
            detect(r#"{"_default": {}}"#),
            Shape::Tinydb {
                tables: vec!["_default".into()]
            }
        );
        assert_eq!(
            detect(
                r#"{"posts": [{"id": 1}], "comments": [], "profile": {"name": "x"}, "tags": ["a"]}"#
            ),
            Shape::Members {
                arrays: vec!["posts".into(), "comments".into()],
                documents: vec!["profile".into()],
                verbatim: vec!["tags".into()],
                keyed: vec![]
            }
        );
        let many = |prefix: &str| {
            let records: Vec<String> = (0..KEYED_MEMBER_MIN)
                .map(|i| format!(r#""{prefix}{i}": {{"name": "n{i}"}}"#))
                .collect();
            format!("{{{}}}", records.join(", "))
        };
        assert_eq!(
            detect(&format!(
                r#"{{"version": "1", "countries": {}, "languages": {}, "meta": {{"a": 1}}}}"#,
                many("c"),
                many("l")
            )),
            Shape::Members {
                arrays: vec![],
                documents: vec!["meta".into()],
                verbatim: vec!["version".into()],
                keyed: vec!["countries".into(), "languages".into()]
            }
        );
        assert_eq!(detect("{\"a\": 1}\n{\"a\": 2}\n"), Shape::Jsonl);
    }

    #[test]
    fn deep_values_are_skipped() {
        let deep = format!(
            r#"{{"a": {{"b": {}1{} }}, "c": "{}"}}"#,
            "[".repeat(50),
            "]".repeat(50),
            "x".repeat(1000)
        );
        assert_eq!(detect(&deep), Shape::Document);
    }

    #[test]
    fn syntax_errors_have_positions() {
        let mut sc = Scanner::new("{\"a\": 1,\n \"b\" 2}".as_bytes()).unwrap();
        let e = probe_scanner(&mut sc).unwrap_err();
        assert_eq!((e.pos.line, e.pos.col), (2, 6), "{e}");
    }

    #[test]
    fn scalars_and_empty_files_are_refused() {
        for (text, msg) in [("42", "scalar"), ("  ", "empty")] {
            let mut sc = Scanner::new(text.as_bytes()).unwrap();
            let p = probe_scanner(&mut sc).unwrap();
            let e = decide(&p, false, "t.json").unwrap_err();
            assert!(e.message.contains(msg), "{e}");
        }
    }
}
