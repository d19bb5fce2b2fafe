//! Per-field statistics gathered in one streaming pass over every record of a collection.
//!
//! Memory is bounded whatever the size of the input: each JSON path of the records gets one
//! [`Stats`] (counts of every kind of value, string classes, the longest string), a capped list of
//! distinct strings with their counts (for enum detection), and, only for fields that can be
//! keys or references, a capped set of 64-bit hashes of their values (for uniqueness and
//! foreign-key checks). Object nodes track at most [`FIELD_CAP`] field names and a collection at
//! most [`NODE_BUDGET`] paths in all; past that a node is reported as free-form and becomes a
//! JSON column.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};

use indexmap::IndexMap;

use crate::json::Value;
use crate::schema::{is_date, is_timestamp, is_uuid};

/// Distinct strings tracked per field for enum detection.
pub const ENUM_TRACK: usize = 16;
/// Strings longer than this are never enum values.
pub const ENUM_MAX_CHARS: usize = 48;
/// Hashes kept per key or reference candidate (64 MiB at most per field).
pub const KEY_HASH_CAP: usize = 1 << 23;
/// Hashes kept per other top-level field, a candidate key or a reference to one when its values
/// are short and distinct (256 KiB at most per field).
pub const CANDIDATE_HASH_CAP: usize = 1 << 15;
/// Strings longer than this (in bytes) are no candidate key (a name, a code, a slug is short).
pub const KEY_MAX_BYTES: usize = 64;
/// Hashes kept for the elements of arrays of scalars (tags, lists of ids).
pub const ITEM_HASH_CAP: usize = 1 << 16;
/// Field names tracked per object node.
pub const FIELD_CAP: usize = 256;
/// Paths (nodes of statistics) tracked per collection.
pub const NODE_BUDGET: usize = 20_000;
/// Ids tracked per nested node to detect objects repeated across records.
pub const SHARED_CAP: usize = 1 << 20;

/// Does a field name say it identifies something (`id`, `user_id`, `postId`, `uuid`)?
pub fn id_like(name: &str) -> bool {
    let lower = name.to_lowercase();
    matches!(
        lower.as_str(),
        "id" | "_id" | "uuid" | "guid" | "key" | "_key"
    ) || lower.ends_with("_id")
        || lower.ends_with("-id")
        || lower.ends_with("_uuid")
        || lower.ends_with("_key")
        || name.ends_with("Id")
        || name.ends_with("ID")
        || name.ends_with("Uuid")
        || name.ends_with("UUID")
        || name.ends_with("Key")
}

/// Is the name one that natural keys conventionally have (`code`, `slug`, `key`, the ISO
/// country codes `alpha_2`/`alpha_3`, world-countries' `cca2`/`cca3`/`ccn3`)? Preferred, in this
/// order, when a collection has no `id`.
pub fn key_name_rank(name: &str) -> Option<u8> {
    let lower = name.to_lowercase().replace('-', "_");
    match lower.as_str() {
        "code" | "slug" | "key" => Some(0),
        "alpha_2" | "alpha2" | "cca2" | "iso2" | "iso_2" => Some(1),
        "alpha_3" | "alpha3" | "cca3" | "iso3" | "iso_3" => Some(2),
        "ccn3" | "numeric" | "cioc" | "symbol" | "abbreviation" | "abbr" => Some(3),
        _ if lower.ends_with("_code") || lower.ends_with("code") && lower.len() > 4 => Some(4),
        _ => None,
    }
}

/// Does a field name say its values are unique handles (`email`, `slug`, `username`)?
pub fn handle_like(name: &str) -> bool {
    let lower = name.to_lowercase().replace(['-', '_'], "");
    [
        "email",
        "emailaddress",
        "mail",
        "slug",
        "username",
        "login",
        "handle",
        "sku",
        "isbn",
    ]
    .contains(&lower.as_str())
        || lower.ends_with("email")
        || lower.ends_with("slug")
        || lower.ends_with("username")
}

/// A 64-bit hash of a scalar as a key: strings and integers hash differently, so `"1"` and
/// `1` never match. `None` for values that cannot be keys.
pub fn key_hash(v: &Value) -> Option<u64> {
    let mut h = DefaultHasher::new();
    match v {
        Value::String(s) => {
            0u8.hash(&mut h);
            s.hash(&mut h);
        }
        Value::Number(n) => {
            1u8.hash(&mut h);
            n.as_i64()?.hash(&mut h);
        }
        _ => return None,
    }
    Some(h.finish())
}

/// The hash of a record key as the source gives it (object key, document id, file path):
/// `integer` keys hash as numbers so they match integer references.
pub fn record_key_hash(k: &str, integer: bool) -> u64 {
    let mut h = DefaultHasher::new();
    match k.parse::<i64>() {
        Ok(i) if integer => {
            1u8.hash(&mut h);
            i.hash(&mut h);
        }
        _ => {
            0u8.hash(&mut h);
            k.hash(&mut h);
        }
    }
    h.finish()
}

/// A structural hash of a whole value (key order and number spelling included).
pub fn value_hash(v: &Value) -> u64 {
    fn go(v: &Value, h: &mut DefaultHasher) {
        match v {
            Value::Null => 0u8.hash(h),
            Value::Bool(b) => (1u8, *b).hash(h),
            Value::Number(n) => (2u8, n.as_str()).hash(h),
            Value::String(s) => (3u8, s).hash(h),
            Value::Array(a) => {
                (4u8, a.len()).hash(h);
                a.iter().for_each(|x| go(x, h));
            }
            Value::Object(o) => {
                (5u8, o.len()).hash(h);
                for (k, x) in o {
                    k.hash(h);
                    go(x, h);
                }
            }
        }
    }
    let mut h = DefaultHasher::new();
    go(v, &mut h);
    h.finish()
}

/// A decimal number as (sign, significant digits, exponent): the value is
/// `sign digits × 10^exponent`, digits without leading or trailing zeros (empty for zero).
fn decimal(text: &str) -> (bool, String, i64) {
    let (neg, t) = match text.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    let (mant, exp) = match t.find(['e', 'E']) {
        Some(i) => (&t[..i], t[i + 1..].parse::<i64>().unwrap_or(0)),
        None => (t, 0),
    };
    let (int, frac) = mant.split_once('.').unwrap_or((mant, ""));
    let all: String = format!("{int}{frac}");
    let trimmed = all.trim_start_matches('0');
    let digits = trimmed.trim_end_matches('0');
    let exp = exp - frac.len() as i64 + (trimmed.len() - digits.len()) as i64;
    if digits.is_empty() {
        (false, String::new(), 0)
    } else {
        (neg, digits.to_string(), exp)
    }
}

/// Does the double `f` read from `text` hold exactly the decimal value written (its shortest
/// round-trip form has the same digits)? `0.1` and `1.50` yes; `0.1000000000000000000001` and
/// `9007199254740993.0` no.
pub fn double_keeps(text: &str, f: f64) -> bool {
    decimal(text) == decimal(&format!("{f:e}"))
}

/// A capped multiset of 64-bit hashes: enough to tell whether values are all distinct and to
/// check that one field's values all occur in another's. Hash collisions can only make values
/// look equal, so a "distinct" answer is never wrong; the chance of a false "duplicate" among a
/// million values is about 3·10⁻⁸.
#[derive(Debug, Clone)]
pub struct Hashes {
    vals: Vec<u64>,
    cap: usize,
    /// Values added.
    pub added: u64,
    /// More distinct values than the cap: the set was dropped and nothing can be concluded.
    pub capped: bool,
    sorted: bool,
    next_compact: usize,
}

/// Hash sets are first deduplicated at this size.
const COMPACT_MIN: usize = 1 << 14;

impl Hashes {
    pub fn new(cap: usize) -> Hashes {
        Hashes {
            vals: Vec::new(),
            cap,
            added: 0,
            capped: false,
            sorted: true,
            next_compact: COMPACT_MIN,
        }
    }

    pub fn add(&mut self, h: u64) {
        self.added += 1;
        if self.capped {
            return;
        }
        self.vals.push(h);
        self.sorted = false;
        // Deduplicating whenever the set doubles keeps memory near the number of distinct
        // values (a field with 5,000 distinct values among millions stays small).
        if self.vals.len() >= self.next_compact.min(self.cap) {
            self.compact();
            self.next_compact = (self.vals.len() * 2).max(COMPACT_MIN);
            if self.vals.len() >= self.cap / 4 * 3 {
                self.capped = true;
                self.vals = Vec::new();
            }
        }
    }

    fn compact(&mut self) {
        if !self.sorted {
            self.vals.sort_unstable();
            self.vals.dedup();
            self.sorted = true;
        }
    }

    /// Sorts and deduplicates; call once the pass is over.
    pub fn finish(&mut self) {
        self.compact();
        self.vals.shrink_to_fit();
    }

    /// Distinct values (after [`Hashes::finish`]); `None` when capped.
    pub fn distinct(&self) -> Option<u64> {
        (!self.capped).then_some(self.vals.len() as u64)
    }

    /// Every value added was different from the others (`false` when unknown).
    pub fn all_distinct(&self) -> bool {
        self.distinct() == Some(self.added)
    }

    /// How many of this set's distinct values are missing from `other`; `None` when either set
    /// is capped. Both must be finished.
    pub fn missing_from(&self, other: &Hashes) -> Option<u64> {
        if self.capped || other.capped {
            return None;
        }
        Some(
            self.vals
                .iter()
                .filter(|h| other.vals.binary_search(h).is_err())
                .count() as u64,
        )
    }
}

/// Objects nested in records that carry an id: do the same ids come back, with the same
/// content? That is a shared entity (many-to-one or many-to-many), not a part of the record.
#[derive(Debug, Clone, Default)]
pub struct Shared {
    /// The id field seen in the objects.
    pub id_field: Option<String>,
    seen: HashMap<u64, u64>,
    /// Objects with an id.
    pub with_id: u64,
    /// Objects whose id was seen before.
    pub repeats: u64,
    /// Objects whose id was seen before with different content.
    pub conflicts: u64,
    pub capped: bool,
}

impl Shared {
    fn add(&mut self, obj: &[(String, Value)]) {
        let field = match &self.id_field {
            Some(f) => f.clone(),
            None => match obj
                .iter()
                .find(|(k, v)| id_like(k) && key_hash(v).is_some())
            {
                Some((k, _)) => {
                    self.id_field = Some(k.clone());
                    k.clone()
                }
                None => return,
            },
        };
        let Some(id) = obj
            .iter()
            .find(|(k, _)| *k == field)
            .and_then(|(_, v)| key_hash(v))
        else {
            return;
        };
        self.with_id += 1;
        if self.capped {
            return;
        }
        let content = obj.iter().fold(0u64, |acc, (k, v)| {
            let mut h = DefaultHasher::new();
            (acc, k, value_hash(v)).hash(&mut h);
            h.finish()
        });
        match self.seen.get(&id) {
            Some(&c) => {
                self.repeats += 1;
                if c != content {
                    self.conflicts += 1;
                }
            }
            None if self.seen.len() >= SHARED_CAP => {
                self.capped = true;
                self.seen = HashMap::new();
            }
            None => {
                self.seen.insert(id, content);
            }
        }
    }

    /// Distinct ids seen.
    pub fn distinct(&self) -> u64 {
        self.with_id - self.repeats
    }
}

/// Statistics of the values found at one JSON path.
#[derive(Debug, Clone, Default)]
pub struct Stats {
    /// Values seen (present), `null` included.
    pub count: u64,
    pub nulls: u64,
    pub bools: u64,
    /// Integer literals that fit 64 bits.
    pub ints: u64,
    /// Integer literals beyond 64 bits.
    pub big_ints: u64,
    /// Numbers with a fraction or exponent.
    pub reals: u64,
    /// Numbers beyond the range of a double (`1e400`).
    pub huge: u64,
    /// Numbers a double cannot hold exactly (integers beyond 2^53, more than 17 digits).
    pub inexact: u64,
    /// The first number of each of those kinds, for the explanation.
    pub big_example: Option<String>,
    pub huge_example: Option<String>,
    pub inexact_example: Option<String>,
    pub strings: u64,
    pub timestamps: u64,
    pub dates: u64,
    pub uuids: u64,
    /// Longest string, in characters.
    pub max_chars: usize,
    pub arrays: u64,
    pub objects: u64,
    /// Distinct strings with their counts, while there are at most [`ENUM_TRACK`] of them and
    /// none is long; `None` after that.
    pub distinct: Option<Vec<(String, u64)>>,
    /// Hashes of the scalar values, for key and reference candidates.
    pub hashes: Option<Hashes>,
    /// The hashes are dropped at the first string longer than [`KEY_MAX_BYTES`]: kept for a
    /// field that could be a key by its values alone, not by its name.
    pub short_keys: bool,
    /// The fields of the object values.
    pub obj: Option<Box<ObjStats>>,
    /// The elements of the array values.
    pub items: Option<Box<Stats>>,
    /// Most elements in one array.
    pub max_items: u64,
}

/// Statistics of the objects found at one JSON path (or of the records themselves).
#[derive(Debug, Clone, Default)]
pub struct ObjStats {
    /// Objects seen.
    pub count: u64,
    /// Fields in a merged first-seen order: a field first seen after `a` in some object is
    /// placed right after `a`, so the order agrees with the objects that have it.
    pub fields: IndexMap<String, Stats>,
    /// Field occurrences not tracked because the node or the collection ran out of room: the
    /// keys are data, not names (a map keyed by ids or dates).
    pub dropped: u64,
    /// Number of fields summed over all objects (for shape similarity).
    pub key_total: u64,
    /// Ids repeating across objects (nested nodes only).
    pub shared: Option<Shared>,
}

/// Counts the nodes a collection's statistics use, so wild data cannot grow them without end.
#[derive(Debug)]
pub struct Budget {
    pub nodes: usize,
}

impl Default for Budget {
    fn default() -> Self {
        Budget { nodes: NODE_BUDGET }
    }
}

impl Budget {
    fn take(&mut self) -> bool {
        if self.nodes == 0 {
            return false;
        }
        self.nodes -= 1;
        true
    }
}

impl Stats {
    /// Statistics for a field named `name`; key-like names get a hash set.
    pub fn for_field(name: &str) -> Stats {
        let mut s = Stats {
            distinct: Some(Vec::new()),
            ..Stats::default()
        };
        if id_like(name) || handle_like(name) {
            s.hashes = Some(Hashes::new(KEY_HASH_CAP));
        }
        s
    }

    /// Statistics for a top-level field of the records: any field may be a candidate key or
    /// refer to one (`parent` → `code`), so each gets a hash set, a small one unless the name
    /// says key, dropped when its values are long.
    pub fn for_record_field(name: &str) -> Stats {
        let mut s = Stats::for_field(name);
        if key_name_rank(name).is_some() {
            s.hashes = Some(Hashes::new(KEY_HASH_CAP));
        }
        if s.hashes.is_none() {
            s.hashes = Some(Hashes::new(CANDIDATE_HASH_CAP));
            s.short_keys = true;
        }
        s
    }

    /// Statistics for the elements of arrays: scalars are hashed (for repeats and references).
    pub fn for_items() -> Stats {
        Stats {
            distinct: Some(Vec::new()),
            hashes: Some(Hashes::new(ITEM_HASH_CAP)),
            ..Stats::default()
        }
    }

    /// Values that are present and not null.
    pub fn non_null(&self) -> u64 {
        self.count - self.nulls
    }

    pub fn numbers(&self) -> u64 {
        self.ints + self.big_ints + self.reals + self.huge
    }

    /// How many kinds (boolean, number, string, array, object) the non-null values have.
    pub fn kinds(&self) -> usize {
        [
            self.bools,
            self.numbers(),
            self.strings,
            self.arrays,
            self.objects,
        ]
        .iter()
        .filter(|&&n| n > 0)
        .count()
    }

    pub fn add(&mut self, v: &Value, budget: &mut Budget) {
        self.count += 1;
        let mut hashable = false;
        match v {
            Value::Null => self.nulls += 1,
            Value::Bool(_) => self.bools += 1,
            Value::Number(n) => {
                let text = n.as_str();
                if n.is_integer_form() {
                    match n.as_i64() {
                        Some(i) => {
                            self.ints += 1;
                            hashable = true;
                            if i.unsigned_abs() > 1 << 53 {
                                self.inexact += 1;
                                self.inexact_example.get_or_insert_with(|| text.to_string());
                            }
                        }
                        None => {
                            self.big_ints += 1;
                            self.big_example.get_or_insert_with(|| text.to_string());
                        }
                    }
                } else {
                    let f = n.as_f64();
                    if !f.is_finite() {
                        self.huge += 1;
                        self.huge_example.get_or_insert_with(|| text.to_string());
                    } else {
                        self.reals += 1;
                        if !double_keeps(text, f) {
                            self.inexact += 1;
                            self.inexact_example.get_or_insert_with(|| text.to_string());
                        }
                    }
                }
            }
            Value::String(s) => {
                self.strings += 1;
                hashable = true;
                // Characters are counted only when the byte length says they could matter.
                let chars = if s.len() > self.max_chars
                    || (self.distinct.is_some() && s.len() > ENUM_MAX_CHARS)
                {
                    s.chars().count()
                } else {
                    0
                };
                self.max_chars = self.max_chars.max(chars);
                let digit = s.as_bytes().first().is_some_and(u8::is_ascii_digit);
                if digit && is_timestamp(s) {
                    self.timestamps += 1;
                } else if digit && is_date(s) {
                    self.dates += 1;
                } else if s.len() == 36 && is_uuid(s) {
                    self.uuids += 1;
                }
                self.track_distinct(s, chars);
                if self.short_keys && s.len() > KEY_MAX_BYTES {
                    self.hashes = None;
                }
            }
            Value::Array(items) => {
                self.arrays += 1;
                self.max_items = self.max_items.max(items.len() as u64);
                if self.items.is_none() && budget.take() {
                    self.items = Some(Box::new(Stats::for_items()));
                }
                if let Some(st) = &mut self.items {
                    for item in items {
                        st.add(item, budget);
                    }
                }
            }
            Value::Object(fields) => {
                self.objects += 1;
                let obj = self.obj.get_or_insert_with(|| Box::new(ObjStats::nested()));
                obj.add(fields, budget);
            }
        }
        if let Some(h) = &mut self.hashes {
            if hashable {
                if let Some(k) = key_hash(v) {
                    h.add(k);
                }
            } else if !matches!(v, Value::Null) {
                // Not a scalar key: the field cannot be a key or a reference.
                self.hashes = None;
            }
        }
        if !matches!(v, Value::String(_) | Value::Null) {
            self.distinct = None;
        }
    }

    fn track_distinct(&mut self, s: &str, chars: usize) {
        let Some(d) = &mut self.distinct else { return };
        if s.len() > ENUM_MAX_CHARS && chars > ENUM_MAX_CHARS {
            self.distinct = None;
            return;
        }
        if let Some(i) = d.iter().position(|(v, _)| v == s) {
            d[i].1 += 1;
        } else if d.len() >= ENUM_TRACK {
            self.distinct = None;
        } else {
            d.push((s.to_string(), 1));
        }
    }

    /// Finishes the hash sets, recursively; call once after the pass.
    pub fn finish(&mut self) {
        if let Some(h) = &mut self.hashes {
            h.finish();
        }
        if let Some(o) = &mut self.obj {
            o.finish();
        }
        if let Some(i) = &mut self.items {
            i.finish();
        }
    }
}

impl ObjStats {
    /// Statistics for the records of a collection.
    pub fn root() -> ObjStats {
        ObjStats::default()
    }

    /// Statistics for nested objects, which also watch for shared ids.
    pub fn nested() -> ObjStats {
        ObjStats {
            shared: Some(Shared::default()),
            ..ObjStats::default()
        }
    }

    pub fn add(&mut self, obj: &[(String, Value)], budget: &mut Budget) {
        self.count += 1;
        self.key_total += obj.len() as u64;
        if let Some(s) = &mut self.shared {
            s.add(obj);
        }
        // Where the previous key of this object sits in `fields`: a new key goes right after it.
        let mut prev: Option<usize> = None;
        for (k, v) in obj {
            // Most objects list their keys in the order already known: try the next slot before
            // hashing the key.
            let guess = prev.map_or(0, |p| p + 1);
            let hit = self
                .fields
                .get_index(guess)
                .is_some_and(|(name, _)| name == k);
            let found = if hit {
                Some(guess)
            } else {
                self.fields.get_index_of(k.as_str())
            };
            let idx = match found {
                Some(i) => i,
                None => {
                    if self.fields.len() >= FIELD_CAP || !budget.take() {
                        self.dropped += 1;
                        continue;
                    }
                    let at = prev.map_or(0, |p| p + 1);
                    // Records' own fields (no watch for shared ids) may be candidate keys.
                    let stats = match self.shared {
                        None => Stats::for_record_field(k),
                        Some(_) => Stats::for_field(k),
                    };
                    self.fields.shift_insert(at, k.clone(), stats);
                    at
                }
            };
            self.fields[idx].add(v, budget);
            prev = Some(idx);
        }
    }

    /// How alike the objects' key sets are, from 0 to 1: the "core" keys are those present in
    /// more than half of the objects; the score is (core-key occurrences) / (occurrences of all
    /// keys + core keys missing from objects). 1 when every object has the same keys.
    pub fn similarity(&self) -> f64 {
        if self.dropped > 0 {
            return 0.0;
        }
        let n = self.count;
        if n == 0 || self.key_total == 0 {
            return 1.0;
        }
        let core: Vec<u64> = self
            .fields
            .values()
            .map(|s| s.count)
            .filter(|&c| c * 2 > n)
            .collect();
        let c: u64 = core.iter().sum();
        let missing = core.len() as u64 * n - c;
        c as f64 / (self.key_total + missing) as f64
    }

    pub fn finish(&mut self) {
        for s in self.fields.values_mut() {
            s.finish();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json::parse;

    fn v(s: &str) -> Value {
        parse(s.as_bytes(), 64).unwrap()
    }

    fn collect(records: &[&str]) -> ObjStats {
        let mut o = ObjStats::root();
        let mut b = Budget::default();
        for r in records {
            let Value::Object(f) = v(r) else { panic!() };
            o.add(&f, &mut b);
        }
        o.finish();
        o
    }

    #[test]
    fn kinds_and_classes() {
        let o = collect(&[
            r#"{"id": 1, "n": 1.5, "big": 12345678901234567890, "t": "2024-05-01T10:00:00Z", "d": "2024-05-01", "u": "123e4567-e89b-12d3-a456-426614174000", "x": null}"#,
            r#"{"id": 2, "n": 2, "big": 1, "t": "2024-05-02 10:00", "d": "2024-05-02", "u": "123e4567-e89b-12d3-a456-426614174001", "x": "s"}"#,
        ]);
        let f = &o.fields;
        assert_eq!((f["id"].ints, f["id"].count), (2, 2));
        assert!(f["id"].hashes.as_ref().unwrap().all_distinct());
        assert_eq!((f["n"].reals, f["n"].ints), (1, 1));
        assert_eq!((f["big"].big_ints, f["big"].ints), (1, 1));
        assert_eq!(
            f["big"].big_example.as_deref(),
            Some("12345678901234567890")
        );
        assert_eq!(f["t"].timestamps, 2);
        assert_eq!(f["d"].dates, 2);
        assert_eq!(f["u"].uuids, 2);
        assert_eq!((f["x"].nulls, f["x"].strings), (1, 1));
    }

    #[test]
    fn doubles_that_keep_the_decimal() {
        for (t, keeps) in [
            ("0.1", true),
            ("1.50", true),
            ("1e3", true),
            ("-0.0", true),
            ("1.7976931348623157e308", true),
            ("2.5E-8", true),
            ("0.1000000000000000000001", false),
            ("9007199254740993.0", false),
            ("3.141592653589793238", false),
        ] {
            assert_eq!(double_keeps(t, t.parse().unwrap()), keeps, "{t}");
        }
        let o = collect(&[r#"{"a": 9007199254740993, "b": 9007199254740992}"#]);
        assert_eq!(o.fields["a"].inexact, 1);
        assert_eq!(o.fields["b"].inexact, 0);
    }

    #[test]
    fn merged_field_order() {
        let o = collect(&[
            r#"{"a": 1, "c": 3}"#,
            r#"{"a": 1, "b": 2, "c": 3}"#,
            r#"{"z": 0, "a": 1}"#,
        ]);
        let names: Vec<_> = o.fields.keys().cloned().collect();
        assert_eq!(names, ["z", "a", "b", "c"]);
    }

    #[test]
    fn distinct_values_and_hashes() {
        let recs: Vec<String> = (0..40)
            .map(|i| {
                format!(
                    r#"{{"id": "k{i}", "level": "{}", "user_id": {}}}"#,
                    ["a", "b", "c"][i % 3],
                    i % 5
                )
            })
            .collect();
        let refs: Vec<&str> = recs.iter().map(String::as_str).collect();
        let o = collect(&refs);
        let level = o.fields["level"].distinct.as_ref().unwrap();
        assert_eq!(level.len(), 3);
        assert_eq!(level[0], ("a".to_string(), 14));
        assert!(o.fields["id"].hashes.as_ref().unwrap().all_distinct());
        let uid = o.fields["user_id"].hashes.as_ref().unwrap();
        assert!(!uid.all_distinct());
        assert_eq!(uid.distinct(), Some(5));
        assert!(
            o.fields["id"].distinct.is_none(),
            "40 distinct values are past the cap"
        );
    }

    #[test]
    fn hashes_cap_and_subset() {
        let mut a = Hashes::new(16);
        for i in 0..8 {
            a.add(i);
        }
        let mut b = Hashes::new(16);
        for i in 0..20 {
            b.add(i % 10);
        }
        a.finish();
        b.finish();
        assert!(a.all_distinct());
        assert!(!b.all_distinct());
        assert_eq!(a.missing_from(&b), Some(0));
        assert_eq!(b.missing_from(&a), Some(2));
        let mut c = Hashes::new(16);
        for i in 0..100 {
            c.add(i);
        }
        c.finish();
        assert!(c.capped);
        assert_eq!(c.missing_from(&a), None);
        assert!(!c.all_distinct());
    }

    #[test]
    fn nested_arrays_and_shared_ids() {
        let o = collect(&[
            r#"{"cast": [{"id": 1, "name": "A"}, {"id": 2, "name": "B"}], "tags": ["x", "y"]}"#,
            r#"{"cast": [{"id": 1, "name": "A"}], "tags": ["x"]}"#,
        ]);
        let items = o.fields["cast"].items.as_ref().unwrap();
        assert_eq!(items.objects, 3);
        let sh = items.obj.as_ref().unwrap().shared.as_ref().unwrap();
        assert_eq!(
            (sh.with_id, sh.repeats, sh.conflicts, sh.distinct()),
            (3, 1, 0, 2)
        );
        let tags = o.fields["tags"].items.as_ref().unwrap();
        assert_eq!(tags.hashes.as_ref().unwrap().distinct(), Some(2));
        assert_eq!(tags.strings, 3);
    }

    #[test]
    fn similarity_scores() {
        let same = collect(&[r#"{"a":1,"b":2}"#, r#"{"a":1,"b":2}"#]);
        assert_eq!(same.similarity(), 1.0);
        let disjoint = collect(&[r#"{"a":1}"#, r#"{"b":2}"#]);
        assert_eq!(disjoint.similarity(), 0.0);
        let mostly = collect(&[r#"{"a":1,"b":2}"#, r#"{"a":1,"b":2,"c":3}"#, r#"{"a":1}"#]);
        assert!(mostly.similarity() > 0.6, "{}", mostly.similarity());
    }

    #[test]
    fn field_cap_drops_data_keys() {
        let mut big = String::from("{");
        for i in 0..(FIELD_CAP + 10) {
            if i > 0 {
                big.push(',');
            }
            big.push_str(&format!("\"k{i}\": {i}"));
        }
        big.push('}');
        let o = collect(&[&big]);
        assert_eq!(o.fields.len(), FIELD_CAP);
        assert_eq!(o.dropped, 10);
        assert_eq!(o.similarity(), 0.0);
    }
}
