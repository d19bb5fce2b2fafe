//! From statistics to a plan of the project file: the type of every field, required fields,
//! enums, flattened objects, child tables and JSON columns, each with the evidence for it.
//! Keys and relations are added by [`super::relations`]; names of tables and columns are settled
//! by [`name_columns`] at the end; [`super::write`] turns the plan into TOML.
//!
//! The rules (docs/infer.md explains them for users):
//! - type: the union over every non-null value. Only booleans → `boolean`; only integer literals
//!   that fit 64 bits → `integer`; numbers with fractions or exponents (with or without
//!   integers) → `real`, unless a double cannot hold one of them exactly (integers beyond 2^53,
//!   more than 17 significant digits); any integer beyond 64 bits, number beyond a double or
//!   inexact real → `json` (exact);
//!   strings that are all ISO 8601 date-times / dates / UUIDs → `timestamp` / `date` / `uuid`;
//!   other strings → `text`; several kinds (say strings and numbers) or never a value → `json`.
//! - required: present and non-null in every record (every object, for nested fields).
//! - enum: a text field with 2 to [`ENUM_MAX`] distinct values, each short, over at least
//!   [`ENUM_MIN_VALUES`] values and at least three values per distinct value, unless its name
//!   says it is an identifier or free text (`title`, `description`, ...).
//! - objects are flattened into columns when they have a stable shape (at most
//!   [`FLATTEN_MAX_FIELDS`] fields, similarity ≥ 0.6, keys that are names rather than data);
//!   otherwise they are `json`.
//! - arrays of objects are child tables (to any depth); arrays of scalars are child tables when
//!   their values repeat across records (tags: at least 4 elements and at most 3 distinct values
//!   per 4 elements) or they are lists of ids; otherwise JSON columns.

use std::collections::HashSet;

use crate::json::Value;
use crate::schema::{ScalarType, is_date, is_timestamp, is_uuid};
use crate::source::Format;

use super::stats::{ObjStats, Stats, handle_like, id_like};

pub const ENUM_MAX: usize = 10;
pub const ENUM_MIN_VALUES: u64 = 8;
pub const FLATTEN_MAX_FIELDS: usize = 24;
/// Objects are flattened only when their key sets are at least this alike.
pub const FLATTEN_MIN_SIMILARITY: f64 = 0.6;
/// Flattened objects nest at most this deep (`a.b.c` → `a_b_c`); deeper objects are JSON.
pub const FLATTEN_MAX_DEPTH: usize = 3;

/// Everything the pass learned about one collection.
#[derive(Debug, Default)]
pub struct CollectionStats {
    pub records: u64,
    pub root: ObjStats,
    /// Hashes of the record keys (object keys, document ids, file paths), for references.
    pub keys: Option<super::stats::Hashes>,
}

#[derive(Debug)]
pub struct CollectionPlan<'s> {
    pub name: String,
    pub source: String,
    pub format: Format,
    pub member: Option<String>,
    pub pattern: Option<String>,
    /// Why the source was read this way (the same for every collection of a source).
    pub source_why: String,
    /// What this collection is within its source (members of db.json and TinyDB files).
    pub shape_why: String,
    pub stats: &'s CollectionStats,
    /// The natural key field.
    pub key: Option<String>,
    pub key_note: String,
    /// Renamed bookkeeping columns (only when the default collides with a field).
    pub key_column: Option<String>,
    pub extra_column: Option<String>,
    pub node: Node<'s>,
    pub notes: Vec<String>,
}

#[derive(Debug, Default)]
pub struct Node<'s> {
    pub fields: Vec<FieldPlan<'s>>,
}

#[derive(Debug)]
pub struct FieldPlan<'s> {
    pub name: String,
    pub stats: &'s Stats,
    pub kind: Kind<'s>,
    /// Column name when it differs from the default.
    pub column: Option<String>,
    pub required: bool,
    pub unique: bool,
    pub index: bool,
    pub enumeration: Option<Vec<String>>,
    /// Foreign key target: a collection name.
    pub references: Option<String>,
    /// Write-only through the API: its name says it holds a credential ([`mark_hidden`]).
    pub hidden: bool,
    /// `on_delete` when not the default (restrict): cascade for json-server's db.json.
    pub on_delete: Option<&'static str>,
    /// The evidence, one short clause each.
    pub notes: Vec<String>,
}

#[derive(Debug)]
pub enum Kind<'s> {
    Scalar(ScalarType),
    /// A JSON column: `type = "json"`, or `type = "array"` (with `of` when the elements have one
    /// type) for arrays.
    Json {
        array: bool,
        of: Option<ScalarType>,
    },
    Flatten(Node<'s>),
    Child(Box<ChildPlan<'s>>),
}

#[derive(Debug)]
pub struct ChildPlan<'s> {
    /// The child table; for shared entities, the entity table.
    pub table: String,
    /// Set when the elements are shared entities (many-to-many).
    pub shared: Option<SharedPlan>,
    pub id_column: Option<String>,
    pub parent_column: Option<String>,
    pub position_column: Option<String>,
    pub elements: Elements<'s>,
}

/// An array of shared entities: the elements' key field, the join table and its column that
/// points at the entity table.
#[derive(Debug, Default)]
pub struct SharedPlan {
    pub key: String,
    pub join_table: String,
    pub entity_column: String,
}

#[derive(Debug)]
pub enum Elements<'s> {
    Objects(Node<'s>),
    Scalars {
        ty: ScalarType,
        value_column: Option<String>,
    },
}

impl FieldPlan<'_> {
    pub fn scalar_type(&self) -> Option<ScalarType> {
        match self.kind {
            Kind::Scalar(t) => Some(t),
            _ => None,
        }
    }
}

/// Counts with their nouns: "1 record", "3 records".
pub fn count(n: u64, what: &str) -> String {
    if n == 1 {
        format!("1 {what}")
    } else {
        format!("{n} {what}s")
    }
}

/// Singular of an English plural, for names (`courses` → `course`, `syllabi` → `syllabus`,
/// `categories` → `category`). Words that do not look plural come back unchanged.
pub fn singular(word: &str) -> String {
    let w = word;
    let lower = w.to_lowercase();
    // Words the suffix rules get wrong; matched at the end so `top_movies` works too.
    for (plural, one) in [
        ("movies", "movie"),
        ("cookies", "cookie"),
        ("zombies", "zombie"),
        ("calories", "calorie"),
        ("series", "series"),
        ("species", "species"),
        ("news", "news"),
    ] {
        if lower.ends_with(plural) {
            return format!("{}{}", &w[..w.len() - plural.len()], &one);
        }
    }
    for (suffix, repl) in [
        ("ies", "y"),
        ("sses", "ss"),
        ("shes", "sh"),
        ("ches", "ch"),
        ("xes", "x"),
        ("zzes", "zz"),
    ] {
        if lower.ends_with(suffix) && w.len() > suffix.len() + 1 {
            return format!("{}{repl}", &w[..w.len() - suffix.len()]);
        }
    }
    if lower.ends_with('i') && w.len() > 3 && !lower.ends_with("ii") {
        return format!("{}us", &w[..w.len() - 1]);
    }
    if lower.ends_with('s')
        && !lower.ends_with("ss")
        && !lower.ends_with("us")
        && !lower.ends_with("is")
        && w.len() > 2
    {
        return w[..w.len() - 1].to_string();
    }
    w.to_string()
}

/// Decides the type of a scalar-valued field; `None` when the values are not all of one scalar
/// kind (mixed, arrays, objects, out-of-range numbers, or no value at all).
pub fn scalar_type(s: &Stats) -> Option<ScalarType> {
    let nn = s.non_null();
    if nn == 0 || s.kinds() != 1 || s.arrays > 0 || s.objects > 0 {
        return None;
    }
    if s.bools == nn {
        return Some(ScalarType::Boolean);
    }
    if s.numbers() == nn {
        if s.big_ints > 0 || s.huge > 0 {
            return None;
        }
        if s.reals == 0 {
            return Some(ScalarType::Integer);
        }
        // A real column holds doubles: numbers a double cannot hold exactly stay JSON.
        return (s.inexact == 0).then_some(ScalarType::Real);
    }
    if s.timestamps == nn {
        return Some(ScalarType::Timestamp);
    }
    if s.dates == nn {
        return Some(ScalarType::Date);
    }
    if s.uuids == nn {
        return Some(ScalarType::Uuid);
    }
    Some(ScalarType::Text)
}

/// "3 strings, 2 numbers and 1 object".
fn kinds_list(s: &Stats) -> String {
    let parts: Vec<String> = [
        (s.bools, "boolean"),
        (s.numbers(), "number"),
        (s.strings, "string"),
        (s.arrays, "array"),
        (s.objects, "object"),
    ]
    .iter()
    .filter(|(n, _)| *n > 0)
    .map(|(n, w)| count(*n, w))
    .collect();
    match parts.len() {
        0 => "no values".into(),
        1 => parts[0].clone(),
        n => format!("{} and {}", parts[..n - 1].join(", "), parts[n - 1]),
    }
}

/// Whether a field's name says it holds a credential: one of its words (split at `_`, `-`,
/// `.` and lower-to-upper case changes) is password, passwd, secret, token or hash, or it
/// says api key. Whole words, so that `hashtags` and `max_tokens` are not taken for one.
pub fn names_a_credential(name: &str) -> bool {
    let mut words: Vec<String> = Vec::new();
    let mut prev_lower = false;
    for ch in name.chars() {
        if matches!(ch, '_' | '-' | '.' | ' ') {
            words.push(String::new());
            prev_lower = false;
            continue;
        }
        if words.is_empty() || (ch.is_uppercase() && prev_lower) {
            words.push(String::new());
        }
        prev_lower = ch.is_lowercase() || ch.is_ascii_digit();
        if let Some(w) = words.last_mut() {
            w.extend(ch.to_lowercase());
        }
    }
    words.retain(|w| !w.is_empty());
    let secret = |w: &str| {
        matches!(
            w,
            "password" | "passwd" | "secret" | "token" | "hash" | "apikey"
        )
    };
    words.iter().any(|w| secret(w)) || words.windows(2).any(|p| p[0] == "api" && p[1] == "key")
}

/// Marks the collection's top-level text fields whose name says they hold a credential as
/// hidden: `serve` then accepts them on writes and never returns them (a TinyDB users table's
/// password hashes are not served to every client). The key is never hidden.
pub fn mark_hidden(p: &mut CollectionPlan) {
    let key = p.key.clone().unwrap_or_else(|| "id".into());
    for f in &mut p.node.fields {
        if f.name != key
            && matches!(f.kind, Kind::Scalar(ScalarType::Text))
            && names_a_credential(&f.name)
        {
            f.hidden = true;
            f.enumeration = None;
            f.notes.push(
                "hidden: the name says it holds a credential, so `serve` accepts it on writes and never returns it (remove `hidden` to serve it)".into(),
            );
        }
    }
}

/// The words for a node's objects in notes: records at the top, objects below.
#[derive(Clone, Copy)]
pub struct Ctx {
    /// Objects the field could appear in.
    pub parents: u64,
    pub noun: &'static str,
    /// Depth of flattening so far.
    pub flatten_depth: usize,
    /// Single-row document: no indexes, no enums.
    pub document: bool,
}

pub fn plan_node<'s>(o: &'s ObjStats, ctx: Ctx) -> Node<'s> {
    Node {
        fields: o
            .fields
            .iter()
            .map(|(name, s)| plan_field(name, s, ctx))
            .collect(),
    }
}

pub fn plan_field<'s>(name: &str, s: &'s Stats, ctx: Ctx) -> FieldPlan<'s> {
    let mut f = FieldPlan {
        name: name.to_string(),
        stats: s,
        kind: Kind::Json {
            array: false,
            of: None,
        },
        column: None,
        required: false,
        unique: false,
        index: false,
        enumeration: None,
        references: None,
        hidden: false,
        on_delete: None,
        notes: Vec::new(),
    };
    let nn = s.non_null();
    let presence = format!("in {}/{} {}s", s.count, ctx.parents, ctx.noun);
    f.required = ctx.parents > 0 && s.count == ctx.parents && s.nulls == 0;
    let nulls = if s.nulls > 0 {
        format!(", {} null", s.nulls)
    } else {
        String::new()
    };
    let req = if f.required {
        ", never null → required"
    } else {
        ""
    };
    f.notes.push(format!("{presence}{nulls}{req}"));
    if nn == 0 {
        f.notes.push("never has a value → json".into());
        return f;
    }
    if s.kinds() > 1 {
        f.notes.push(format!(
            "mixed: {} → json (each value kept exactly)",
            kinds_list(s)
        ));
        return f;
    }
    if s.objects > 0 {
        plan_object(&mut f, s, ctx);
        return f;
    }
    if s.arrays > 0 {
        plan_array(&mut f, s, ctx);
        return f;
    }
    match scalar_type(s) {
        None => {
            let why = if let Some(n) = &s.big_example {
                format!("{n} is beyond 64-bit integers")
            } else if let Some(n) = &s.huge_example {
                format!("{n} is beyond the range of a double")
            } else {
                let n = s.inexact_example.clone().unwrap_or_default();
                format!("{n} would lose digits as a double (real)")
            };
            f.notes.push(format!("{why} → json (kept exact)"));
        }
        Some(ty) => {
            f.kind = Kind::Scalar(ty);
            match ty {
                ScalarType::Real if s.ints > 0 => f.notes.push(format!(
                    "{} and {} → real",
                    count(s.ints, "integer"),
                    count(s.reals, "decimal")
                )),
                ScalarType::Timestamp | ScalarType::Date => {
                    let what = if ty == ScalarType::Date {
                        "dates (YYYY-MM-DD)"
                    } else {
                        "ISO 8601 date-times"
                    };
                    if ctx.document {
                        f.notes.push(format!("all {what}"));
                    } else {
                        f.index = true;
                        f.notes.push(format!("all {what} → indexed"));
                    }
                }
                ScalarType::Uuid => f.notes.push("all UUIDs".into()),
                ScalarType::Text if !ctx.document => plan_enum(&mut f, s, name),
                _ => {}
            }
        }
    }
    f
}

fn plan_enum(f: &mut FieldPlan, s: &Stats, name: &str) {
    let Some(d) = &s.distinct else { return };
    let nn = s.non_null();
    if d.len() < 2
        || d.len() > ENUM_MAX
        || nn < ENUM_MIN_VALUES
        || (d.len() as u64) * 3 > nn
        || id_like(name)
        || handle_like(name)
        || prose_like(name)
    {
        return;
    }
    f.enumeration = Some(d.iter().map(|(v, _)| v.clone()).collect());
    f.index = true;
    f.notes.push(format!(
        "{} distinct values over {} → enum (CHECK) and indexed; drop `enum` if other values will come",
        d.len(),
        count(nn, "value")
    ));
}

/// Names of fields that hold free text, never an enumeration, however few values they have.
fn prose_like(name: &str) -> bool {
    let l = name.to_lowercase();
    [
        "name",
        "title",
        "description",
        "text",
        "content",
        "body",
        "summary",
        "comment",
        "message",
        "note",
        "notes",
        "question",
        "answer",
        "bio",
        "address",
        "subject",
        "caption",
        "prompt",
    ]
    .iter()
    .any(|w| l == *w || l.ends_with(&format!("_{w}")))
}

/// Keys that are data rather than names: numbers, dates, UUIDs.
fn data_key(k: &str) -> bool {
    (!k.is_empty()
        && k.bytes()
            .all(|b| b.is_ascii_digit() || b == b'-' || b == b'.'))
        || is_date(k)
        || is_timestamp(k)
        || is_uuid(k)
}

fn plan_object<'s>(f: &mut FieldPlan<'s>, s: &'s Stats, ctx: Ctx) {
    let Some(o) = &s.obj else {
        f.notes.push("objects → json".into());
        return;
    };
    let sim = o.similarity();
    let data_keys = o.fields.keys().filter(|k| data_key(k)).count();
    let why_not = if o.dropped > 0 || o.fields.len() > FLATTEN_MAX_FIELDS {
        Some(format!("objects with {}+ distinct keys", o.fields.len()))
    } else if o.fields.is_empty() {
        Some("always empty objects".to_string())
    } else if data_keys * 2 > o.fields.len() {
        Some("objects keyed by data (numbers, dates, ids)".to_string())
    } else if sim < FLATTEN_MIN_SIMILARITY {
        Some(format!("objects of varying shape (similarity {sim:.2})"))
    } else if ctx.flatten_depth >= FLATTEN_MAX_DEPTH {
        Some(format!("objects nested {} deep", ctx.flatten_depth + 1))
    } else {
        None
    };
    if let Some(why) = why_not {
        f.notes.push(format!("{why} → json"));
        return;
    }
    let sub = Ctx {
        parents: o.count,
        noun: "object",
        flatten_depth: ctx.flatten_depth + 1,
        document: ctx.document,
    };
    f.kind = Kind::Flatten(plan_node(o, sub));
    f.notes.push(format!(
        "objects with {} (similarity {sim:.2}) → flattened into columns",
        count(o.fields.len() as u64, "field")
    ));
    if let Some(sh) = &o.shared {
        if sh.repeats > 0 && sh.conflicts == 0 {
            f.notes.push(format!(
                "the same objects repeat: {} distinct {:?} values over {} objects, identical each time (many-to-one: could be its own table)",
                sh.distinct(),
                sh.id_field.clone().unwrap_or_default(),
                sh.with_id
            ));
        }
    }
}

fn plan_array<'s>(f: &mut FieldPlan<'s>, s: &'s Stats, ctx: Ctx) {
    f.kind = Kind::Json {
        array: true,
        of: None,
    };
    let Some(it) = &s.items else {
        f.notes.push("arrays → JSON column".into());
        return;
    };
    if it.count == 0 {
        f.notes.push("always empty arrays → JSON column".into());
        return;
    }
    let n_el = count(it.count, "element");
    let n_arr = count(s.arrays, "array");
    if it.objects == it.count {
        let o = it.obj.as_ref().expect("object elements have stats");
        let sub = Ctx {
            parents: o.count,
            noun: "element",
            flatten_depth: 0,
            document: false,
        };
        let node = plan_node(o, sub);
        let mut shared = None;
        if let Some(sh) = &o.shared {
            let id = sh.id_field.clone().unwrap_or_default();
            if sh.repeats > 0 && sh.conflicts == 0 {
                let why_not = shared_blocker(sh, o.count, &id, &node);
                let what = format!(
                    "the same objects repeat across records: {} elements with {id:?} but only {} distinct, identical each time",
                    sh.with_id,
                    sh.distinct()
                );
                match why_not {
                    None => {
                        f.notes.push(format!(
                            "arrays of objects ({n_el} in {n_arr}); {what} → shared entities (many-to-many): one table row per distinct {id:?}, and a join table (parent, position, entity)"
                        ));
                        shared = Some(SharedPlan {
                            key: id,
                            ..SharedPlan::default()
                        });
                    }
                    Some(why) => f.notes.push(format!(
                        "arrays of objects ({n_el} in {n_arr}) → child table; {what}, but {why} → kept per record"
                    )),
                }
            } else if sh.repeats > 0 {
                f.notes.push(format!(
                    "arrays of objects ({n_el} in {n_arr}) → child table"
                ));
                f.notes.push(format!(
                    "{:?} values repeat ({} distinct over {}) but the objects differ → kept per record",
                    sh.id_field.clone().unwrap_or_default(),
                    sh.distinct(),
                    sh.with_id
                ));
            } else {
                f.notes.push(format!(
                    "arrays of objects ({n_el} in {n_arr}) → child table"
                ));
            }
        } else {
            f.notes.push(format!(
                "arrays of objects ({n_el} in {n_arr}) → child table"
            ));
        }
        f.kind = Kind::Child(Box::new(ChildPlan {
            table: String::new(),
            shared,
            id_column: None,
            parent_column: None,
            position_column: None,
            elements: Elements::Objects(node),
        }));
        return;
    }
    let ty = if it.nulls == 0 { scalar_type(it) } else { None };
    let Some(ty) = ty else {
        let what = if it.nulls > 0 {
            format!("{} with nulls", kinds_list(it))
        } else {
            kinds_list(it)
        };
        f.notes.push(format!("arrays of {what} → JSON column"));
        return;
    };
    f.kind = Kind::Json {
        array: true,
        of: Some(ty),
    };
    let distinct = it.hashes.as_ref().and_then(|h| h.distinct());
    let id_list = {
        let l = f.name.to_lowercase();
        l == "ids" || l.ends_with("_ids") || f.name.ends_with("Ids") || f.name.ends_with("IDs")
    };
    let keyish = matches!(
        ty,
        ScalarType::Text | ScalarType::Integer | ScalarType::Uuid | ScalarType::Date
    );
    let short = ty != ScalarType::Text || it.max_chars <= 64;
    let repeats = distinct.is_some_and(|d| it.count >= 4 && d * 4 <= it.count * 3);
    if keyish && short && (repeats || id_list) && !ctx.document {
        let why = if id_list {
            format!("a list of ids ({n_el} in {n_arr})")
        } else {
            format!(
                "{} values repeat across records ({} distinct over {n_el}, like tags)",
                ty.name(),
                distinct.unwrap_or(0)
            )
        };
        f.notes
            .push(format!("{why} → child table with an indexed value column"));
        f.kind = Kind::Child(Box::new(ChildPlan {
            table: String::new(),
            id_column: None,
            parent_column: None,
            position_column: None,
            shared: None,
            elements: Elements::Scalars {
                ty,
                value_column: None,
            },
        }));
    } else {
        let why = match distinct {
            Some(d) if d * 4 > it.count * 3 => format!("{} distinct out of {n_el}", d),
            None => "too many distinct values".to_string(),
            _ if !keyish => format!("{} elements", ty.name()),
            _ if !short => "long texts".to_string(),
            _ => format!("{n_el}"),
        };
        f.notes
            .push(format!("arrays of {} ({why}) → JSON column", ty.name()));
    }
}

/// Why repeated objects with an id cannot be stored as shared entities, if they can't: every
/// element needs the id (a text, integer or UUID), the ids must all have been tracked, and the
/// elements must not hold child tables of their own (those would be shared too).
fn shared_blocker(
    sh: &super::stats::Shared,
    elements: u64,
    id: &str,
    node: &Node,
) -> Option<String> {
    if sh.capped {
        return Some(format!(
            "more than {} distinct ids to compare",
            super::stats::SHARED_CAP
        ));
    }
    if sh.with_id < elements {
        return Some(format!(
            "{} of {elements} elements have no usable {id:?}",
            elements - sh.with_id
        ));
    }
    let key_ok = node.fields.iter().any(|f| {
        f.name == id
            && f.required
            && matches!(
                f.kind,
                Kind::Scalar(ScalarType::Integer | ScalarType::Text | ScalarType::Uuid)
            )
    });
    if !key_ok {
        return Some(format!("{id:?} is not one text or integer type"));
    }
    if has_child(node) {
        return Some("the elements hold arrays stored in tables".into());
    }
    None
}

fn has_child(node: &Node) -> bool {
    node.fields.iter().any(|f| match &f.kind {
        Kind::Child(_) => true,
        Kind::Flatten(sub) => has_child(sub),
        _ => false,
    })
}

// ---------------------------------------------------------------------------------------------
// Names

/// Makes a name usable as a table or collection name: control characters and characters other
/// than letters, digits and `_` become `_`; names SQLite or jsonlift reserve get a prefix.
pub fn table_ident(raw: &str) -> String {
    let mut s: String = raw
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if s.is_empty() || s.chars().all(|c| c == '_') {
        s = "data".into();
    }
    if s.starts_with(|c: char| c.is_ascii_digit()) {
        s = format!("t_{s}");
    }
    let lower = s.to_lowercase();
    if lower.starts_with("sqlite_") || lower.starts_with("_jsonlift") {
        s = format!("t_{s}");
    }
    s
}

/// Hands out names unique case-insensitively (SQLite compares identifiers that way).
#[derive(Debug, Default)]
pub struct Names {
    taken: HashSet<String>,
}

impl Names {
    pub fn taken(&self, n: &str) -> bool {
        self.taken.contains(&n.to_lowercase())
    }
    pub fn reserve(&mut self, n: &str) {
        self.taken.insert(n.to_lowercase());
    }
    /// The first free name among `wanted`, `wanted_2`, `wanted_3`, ...; reserved.
    pub fn claim(&mut self, wanted: &str) -> String {
        let mut name = wanted.to_string();
        let mut i = 2;
        while self.taken(&name) {
            name = format!("{wanted}_{i}");
            i += 1;
        }
        self.reserve(&name);
        name
    }
    /// The first free name of the candidates, else a numbered form of the first.
    pub fn claim_any(&mut self, candidates: &[&str]) -> String {
        for c in candidates {
            if !c.is_empty() && !self.taken(c) {
                self.reserve(c);
                return c.to_string();
            }
        }
        self.claim(candidates[0])
    }
}

/// A column name for a field: control characters become `_`, an empty name becomes `field`.
fn column_ident(raw: &str) -> String {
    let s: String = raw
        .chars()
        .map(|c| if c.is_control() { '_' } else { c })
        .collect();
    if s.is_empty() { "field".into() } else { s }
}

/// Settles table and column names for a whole collection: child tables get a free table name
/// (the field's name, else `PARENT_FIELD`), and every column of every table a unique name.
/// Bookkeeping columns that cannot be renamed (`_id` of a root table, `_meta`, `_extra` of child
/// tables) are reserved first; fields keep their names where possible; renamable bookkeeping
/// columns (key, extra, parent, position, value) take what is left.
pub fn name_columns(c: &mut CollectionPlan, tables: &mut Names) {
    let mut cols = Names::default();
    cols.reserve("_meta");
    let generated_id = match c.format {
        Format::Document => true,
        Format::Array | Format::Jsonl => c.key.is_none(),
        _ => false,
    };
    if generated_id {
        cols.reserve("_id");
    }
    let table = c.name.clone();
    name_fields(&mut c.node, &mut cols, "", &table, tables);
    if matches!(
        c.format,
        Format::Object | Format::Tinydb | Format::Folder | Format::Prompty
    ) {
        let default = match c.format {
            Format::Tinydb => "_doc_id",
            Format::Object => "_key",
            _ => "_file",
        };
        let got = cols.claim_any(&[default, &format!("{default}_col")]);
        if got != default {
            c.key_column = Some(got);
        }
    }
    let got = cols.claim_any(&["_extra", "_extra_json"]);
    if got != "_extra" {
        c.extra_column = Some(got);
    }
}

fn name_fields(node: &mut Node, cols: &mut Names, prefix: &str, table: &str, tables: &mut Names) {
    for f in &mut node.fields {
        match &mut f.kind {
            Kind::Flatten(sub) => {
                // Sub-fields are named PREFIX + FIELD_ + name by default; the prefix follows the
                // object's own (never renamed) name.
                let p = format!("{prefix}{}_", f.name);
                name_fields(sub, cols, &p, table, tables);
            }
            Kind::Child(child) => {
                let wanted = table_ident(&f.name);
                let alt = table_ident(&format!("{table}_{}", f.name));
                child.table = tables.claim_any(&[&wanted, &alt]);
            }
            _ => {
                let default = format!("{prefix}{}", f.name);
                let wanted = column_ident(&default);
                let got = cols.claim(&wanted);
                if got != default {
                    f.column = Some(got);
                }
            }
        }
    }
}

/// Settles the names inside a child table (after its own table name is known).
pub fn name_child_columns(child: &mut ChildPlan, parent_table: &str, tables: &mut Names) {
    let mut cols = Names::default();
    cols.reserve("_meta");
    let table = child.table.clone();
    let parent_col = format!("{}_id", singular(parent_table));
    let pos_col = format!("{}_index", singular(&table));
    if let Some(sh) = &mut child.shared {
        // The entity table holds the fields; the join table its own columns only.
        let Elements::Objects(node) = &mut child.elements else {
            unreachable!("shared entities are objects")
        };
        cols.reserve("_extra");
        name_fields(node, &mut cols, "", &table, tables);
        let join = tables.claim_any(&[&format!("{parent_table}_{table}")]);
        let mut jcols = Names::default();
        jcols.reserve("_meta");
        jcols.reserve("_id");
        child.parent_column = Some(jcols.claim_any(&[&parent_col, "_parent"]));
        child.position_column = Some(jcols.claim_any(&[&pos_col, "_pos"]));
        let key_col = node
            .fields
            .iter()
            .find(|f| f.name == sh.key)
            .and_then(|f| f.column.clone())
            .unwrap_or_else(|| sh.key.clone());
        sh.entity_column = jcols.claim(&format!("{}_{key_col}", singular(&table)));
        sh.join_table = join;
        return;
    }
    match &mut child.elements {
        Elements::Objects(node) => {
            cols.reserve("_extra");
            name_fields(node, &mut cols, "", &table, tables);
        }
        Elements::Scalars { value_column, .. } => {
            let got = cols.claim_any(&["value", "_value"]);
            if got != "value" {
                *value_column = Some(got);
            }
        }
    }
    let id = cols.claim_any(&["_id", "_rowid"]);
    if id != "_id" {
        child.id_column = Some(id);
    }
    child.parent_column = Some(cols.claim_any(&[&parent_col, "_parent"]));
    child.position_column = Some(cols.claim_any(&[&pos_col, "_pos"]));
    if let Elements::Objects(node) = &mut child.elements {
        descend(node, &table, tables);
    }
}

fn descend(node: &mut Node, table: &str, tables: &mut Names) {
    for f in &mut node.fields {
        match &mut f.kind {
            Kind::Flatten(sub) => descend(sub, table, tables),
            Kind::Child(child) => name_child_columns(child, table, tables),
            _ => {}
        }
    }
}

/// Names every table and column of a collection (see [`name_columns`]).
pub fn name_collection(c: &mut CollectionPlan, tables: &mut Names) {
    name_columns(c, tables);
    let table = c.name.clone();
    descend(&mut c.node, &table, tables);
}

/// The values of an enum as JSON values, for the written file.
pub fn enum_values(f: &FieldPlan) -> Vec<Value> {
    f.enumeration
        .iter()
        .flatten()
        .map(|s| Value::String(s.clone()))
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn credential_names_are_whole_words() {
        for yes in [
            "password",
            "passwordHash",
            "password_hash",
            "hash",
            "api_key",
            "apiKey",
            "ApiKey",
            "apikey",
            "client_secret",
            "accessToken",
            "refresh-token",
            "PASSWORD",
            "passwd",
        ] {
            assert!(super::names_a_credential(yes), "{yes}");
        }
        for no in [
            "hashtags",
            "max_tokens",
            "tokens",
            "name",
            "keyword",
            "passage",
            "secretary",
        ] {
            assert!(!super::names_a_credential(no), "{no}");
        }
    }

    use super::*;
    use crate::infer::stats::Budget;
    use crate::json::parse;

    fn stats(records: &[&str]) -> ObjStats {
        let mut o = ObjStats::root();
        let mut b = Budget::default();
        for r in records {
            let Value::Object(f) = parse(r.as_bytes(), 64).unwrap() else {
                panic!()
            };
            o.add(&f, &mut b);
        }
        o.finish();
        o
    }

    fn ctx(n: u64) -> Ctx {
        Ctx {
            parents: n,
            noun: "record",
            flatten_depth: 0,
            document: false,
        }
    }

    fn kind_name(f: &FieldPlan) -> String {
        match &f.kind {
            Kind::Scalar(t) => t.name().to_string(),
            Kind::Json { array: false, .. } => "json".into(),
            Kind::Json { array: true, of } => {
                format!("array-json:{}", of.map(|t| t.name()).unwrap_or("-"))
            }
            Kind::Flatten(_) => "flatten".into(),
            Kind::Child(c) => match c.elements {
                Elements::Objects(_) => "child".into(),
                Elements::Scalars { ty, .. } => format!("child:{}", ty.name()),
            },
        }
    }

    #[test]
    fn types_from_the_union_of_values() {
        let o = stats(&[
            r#"{"i": 1, "r": 1.0, "m": 1, "b": true, "big": 12345678901234567890, "t": "2024-05-01T10:00:00Z", "s": "x", "n": null, "o": {"a": 1}, "free": {"2024-01-01": 1}}"#,
            r#"{"i": 2, "r": 2, "m": "one", "b": false, "big": 2, "t": "2024-05-01", "s": "y", "n": null, "o": {"a": 2, "b": 3}, "free": {"2024-01-02": 1}}"#,
        ]);
        let node = plan_node(&o, ctx(2));
        let got: Vec<(String, String, bool)> = node
            .fields
            .iter()
            .map(|f| (f.name.clone(), kind_name(f), f.required))
            .collect();
        let want = [
            ("i", "integer", true),
            ("r", "real", true),
            ("m", "json", true),
            ("b", "boolean", true),
            ("big", "json", true),
            ("t", "text", true),
            ("s", "text", true),
            ("n", "json", false),
            ("o", "flatten", true),
            ("free", "json", true),
        ];
        let want: Vec<(String, String, bool)> = want
            .iter()
            .map(|(a, b, c)| (a.to_string(), b.to_string(), *c))
            .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn enums_need_many_values() {
        let many: Vec<String> = (0..12)
            .map(|i| format!(r#"{{"level": "{}", "name": "n{i}"}}"#, ["a", "b"][i % 2]))
            .collect();
        let refs: Vec<&str> = many.iter().map(String::as_str).collect();
        let o = stats(&refs);
        let node = plan_node(&o, ctx(12));
        assert_eq!(
            node.fields[0].enumeration,
            Some(vec!["a".to_string(), "b".to_string()])
        );
        assert!(node.fields[0].index);
        assert_eq!(node.fields[1].enumeration, None);
        let few = stats(&[r#"{"level": "a"}"#, r#"{"level": "b"}"#]);
        assert_eq!(plan_node(&few, ctx(2)).fields[0].enumeration, None);
    }

    #[test]
    fn arrays() {
        let o = stats(&[
            r#"{"tags": ["a", "b"], "goals": ["learn x", "learn y"], "mods": [{"t": 1, "ls": [{"q": [{"z": 1}]}]}], "mixed": [1, "a"], "e": [], "ids": [1, 2]}"#,
            r#"{"tags": ["a"], "goals": ["learn z"], "mods": [], "mixed": [], "e": [], "ids": [3]}"#,
            r#"{"tags": ["b", "a"], "goals": ["learn w"], "mods": [{"t": 2, "ls": []}], "mixed": [], "e": [], "ids": []}"#,
        ]);
        let node = plan_node(&o, ctx(3));
        let got: Vec<String> = node.fields.iter().map(kind_name).collect();
        assert_eq!(
            got,
            [
                "child:text",
                "array-json:text",
                "child",
                "array-json:-",
                "array-json:-",
                "child:integer"
            ]
        );
        // three levels deep
        let Kind::Child(c) = &node.fields[2].kind else {
            panic!()
        };
        let Elements::Objects(n2) = &c.elements else {
            panic!()
        };
        let Kind::Child(c2) = &n2.fields[1].kind else {
            panic!()
        };
        let Elements::Objects(n3) = &c2.elements else {
            panic!()
        };
        assert_eq!(kind_name(&n3.fields[0]), "child");
    }

    #[test]
    fn singulars() {
        for (p, s) in [
            ("courses", "course"),
            ("syllabi", "syllabus"),
            ("categories", "category"),
            ("users", "user"),
            ("status", "status"),
            ("boxes", "box"),
            ("data", "data"),
            ("user_progress", "user_progress"),
            ("movies", "movie"),
            ("top_movies", "top_movie"),
            ("series", "series"),
        ] {
            assert_eq!(singular(p), s, "{p}");
        }
    }

    #[test]
    fn names_are_unique_case_insensitively() {
        let mut n = Names::default();
        n.reserve("_id");
        assert_eq!(n.claim("_ID"), "_ID_2");
        assert_eq!(n.claim("name"), "name");
        assert_eq!(n.claim("Name"), "Name_2");
        assert_eq!(table_ident("my-data 2"), "my_data_2");
        assert_eq!(table_ident("sqlite_x"), "t_sqlite_x");
        assert_eq!(table_ident("2024"), "t_2024");
    }
}
