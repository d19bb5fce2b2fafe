//! Code for the applications that live on the database, generated from the schema: an app's
//! own client (Drizzle, SQLAlchemy) and its validation (JSON Schema, Zod) then agree with the
//! tables and the record shapes jsonlift serves, without `drizzle-kit pull` or automap guessing
//! them from the database. Each target is one sibling module with one entry point,
//! `generate(&Schema, &CodegenOptions) -> String`; everything they share (names, nullability,
//! the record-shape walk) lives here. The ORM targets follow the project's database (SQLite or
//! PostgreSQL, whose DDL differs); the record shapes do not depend on it.

mod drizzle;
mod json_schema;
mod sqlalchemy;
mod zod;

use std::collections::HashSet;

use crate::json::Value;
use crate::schema::{Column, Elements, Field, FieldKind, Role, ScalarType, Schema, Table};
use crate::store::Dialect;

/// What `jsonlift codegen` can write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Target {
    /// A Drizzle ORM `schema.ts`: tables, keys, foreign keys, uniques, indexes, relations.
    Drizzle,
    /// SQLAlchemy 2.0 declarative models with relationships.
    Sqlalchemy,
    /// One JSON Schema 2020-12 document, a `$defs` entry per collection (the API's record shape).
    JsonSchema,
    /// A TypeScript module of Zod schemas for the same record shapes.
    Zod,
}

/// Where the tables live: the database's dialect and, on PostgreSQL, the schema holding them
/// (`Project::pg_schema`). The default is SQLite.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodegenOptions {
    pub dialect: Dialect,
    /// PostgreSQL's schema of the tables; `public` (the default search path) is left implicit.
    pub pg_schema: String,
}

impl Default for CodegenOptions {
    fn default() -> Self {
        CodegenOptions {
            dialect: Dialect::Sqlite,
            pg_schema: "public".into(),
        }
    }
}

impl CodegenOptions {
    /// The options for a project: its database's dialect and schema.
    pub fn for_project(project: &crate::config::Project) -> CodegenOptions {
        match project.database() {
            crate::config::Database::Sqlite(_) => CodegenOptions::default(),
            crate::config::Database::Postgres(_) => CodegenOptions {
                dialect: Dialect::Postgres,
                pg_schema: project.pg_schema().to_string(),
            },
        }
    }

    /// The schema to name in the generated code: `None` for SQLite and for `public`, which a
    /// connection finds without being told.
    pub fn named_pg_schema(&self) -> Option<&str> {
        (self.dialect == Dialect::Postgres && self.pg_schema != "public")
            .then_some(self.pg_schema.as_str())
    }
}

/// The generated source for `target`.
pub fn generate(schema: &Schema, target: Target, options: &CodegenOptions) -> String {
    match target {
        Target::Drizzle => drizzle::generate(schema, options),
        Target::Sqlalchemy => sqlalchemy::generate(schema, options),
        Target::JsonSchema => json_schema::generate(schema),
        Target::Zod => zod::generate(schema),
    }
}

// ---------------------------------------------------------------------------------------------
// Columns
// ---------------------------------------------------------------------------------------------

/// Whether column `c` of table `t` may hold NULL in the database, and so may be left out of an
/// insert: what the DDL says ([`crate::schema::ddl::nullable`]), the one place it is decided.
pub fn nullable(t: &Table, c: &Column) -> bool {
    let i = t
        .columns
        .iter()
        .position(|x| std::ptr::eq(x, c))
        .expect("a column of the table");
    crate::schema::ddl::nullable(t, i)
}

/// The unique column groups of a table as the DDL keeps them: each set of columns once, and
/// none that a single column's own `UNIQUE` or the primary key already makes unique.
pub fn unique_groups(t: &Table) -> Vec<&[String]> {
    let mut seen: Vec<Vec<&str>> = Vec::new();
    let mut out = Vec::new();
    for g in &t.uniques {
        let mut set: Vec<&str> = g.iter().map(String::as_str).collect();
        set.sort_unstable();
        set.dedup();
        if let [one] = set[..]
            && let Some(i) = t.col(one)
            && (t.columns[i].unique || t.columns[i].primary_key)
        {
            continue;
        }
        if !seen.contains(&set) {
            seen.push(set);
            out.push(g.as_slice());
        }
    }
    out
}

/// An index of the DDL: its name and columns; `partial` for the index of rows with `_extra`
/// (`WHERE col IS NOT NULL`).
pub struct Index<'t> {
    pub name: String,
    pub columns: Vec<&'t str>,
    pub partial: bool,
}

/// The indexes [`crate::schema::ddl::create_indexes`] creates, each name once (the DDL says
/// `IF NOT EXISTS`: the first of a name wins).
pub fn indexes(t: &Table) -> Vec<Index<'_>> {
    let mut all: Vec<(Vec<&str>, bool)> = Vec::new();
    for c in &t.columns {
        if c.index && !c.unique && !c.primary_key {
            all.push((vec![c.name.as_str()], false));
        }
    }
    for g in &t.indexes {
        all.push((g.iter().map(String::as_str).collect(), false));
    }
    if let Some(e) = t.extra_col {
        all.push((vec![t.columns[e].name.as_str()], true));
    }
    let mut out: Vec<Index> = Vec::new();
    for (columns, partial) in all {
        let name = if partial {
            format!("idx_{}_{}_held", t.name, columns[0])
        } else {
            format!("idx_{}_{}", t.name, columns.join("_"))
        };
        if !out.iter().any(|i| i.name == name) {
            out.push(Index {
                name,
                columns,
                partial,
            });
        }
    }
    out
}

/// PostgreSQL's limit on the length of a name (NAMEDATALEN - 1 bytes): longer names in DDL are
/// cut to it, so the models must name indexes as the database has them.
const PG_NAME_BYTES: usize = 63;

/// `name` as PostgreSQL keeps it: cut to 63 bytes, at a character boundary as it cuts.
pub fn pg_name(name: &str) -> &str {
    let mut end = name.len().min(PG_NAME_BYTES);
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    &name[..end]
}

// ---------------------------------------------------------------------------------------------
// Names
// ---------------------------------------------------------------------------------------------

/// JavaScript's reserved words (and the few TypeScript adds), which cannot name a variable.
const RESERVED: &[&str] = &[
    "arguments",
    "await",
    "break",
    "case",
    "catch",
    "class",
    "const",
    "continue",
    "debugger",
    "default",
    "delete",
    "do",
    "else",
    "enum",
    "eval",
    "export",
    "extends",
    "false",
    "finally",
    "for",
    "function",
    "if",
    "implements",
    "import",
    "in",
    "instanceof",
    "interface",
    "let",
    "new",
    "null",
    "package",
    "private",
    "protected",
    "public",
    "return",
    "static",
    "super",
    "switch",
    "this",
    "throw",
    "true",
    "try",
    "type",
    "typeof",
    "undefined",
    "var",
    "void",
    "while",
    "with",
    "yield",
];

/// Whether `s` can be written as a bare property name: an ASCII identifier. `__proto__` is one
/// but sets the prototype in an object literal, so it never counts.
pub fn is_ident(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_' || c == '$')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$')
        && s != "__proto__"
}

/// `s` made into a variable name: other characters become `_`, a leading digit or a reserved
/// word gets a `_` in front. Different names may give the same identifier; [`Names`] tells them
/// apart.
pub fn ident(s: &str) -> String {
    let mut out = prop(s);
    if RESERVED.contains(&out.as_str()) {
        out.insert(0, '_');
    }
    out
}

/// `s` made into a property name (`t.type` is fine; only the characters matter, and
/// `__proto__`, which an object literal or `Object.assign` would take for the prototype).
pub fn prop(s: &str) -> String {
    let mut out: String = s
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '$' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if out.is_empty() || out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    if out == "__proto__" {
        out.push('_');
    }
    out
}

/// `user_progress` → `UserProgress`: the words of `s` (runs of ASCII letters and digits),
/// each capitalized, as an identifier.
pub fn pascal(s: &str) -> String {
    let mut out = String::new();
    for word in s.split(|c: char| !c.is_ascii_alphanumeric()) {
        let mut cs = word.chars();
        if let Some(first) = cs.next() {
            out.push(first.to_ascii_uppercase());
            out.extend(cs);
        }
    }
    ident(&out)
}

/// Identifiers handed out in one scope, each once: a name already taken gets `_2`, `_3`...
#[derive(Debug, Default)]
pub struct Names {
    taken: HashSet<String>,
}

impl Names {
    /// A scope where `reserved` (imports, helpers) are already taken.
    pub fn with(reserved: &[&str]) -> Names {
        Names {
            taken: reserved.iter().map(|s| s.to_string()).collect(),
        }
    }

    /// Takes `base` (which must be an identifier), or the first free `base_N`.
    pub fn claim(&mut self, base: &str) -> String {
        let mut name = base.to_string();
        let mut n = 2;
        while !self.taken.insert(name.clone()) {
            name = format!("{base}_{n}");
            n += 1;
        }
        name
    }

    pub fn is_taken(&self, s: &str) -> bool {
        self.taken.contains(s)
    }
}

/// A JavaScript string literal (JSON's quoting is valid JavaScript).
pub fn js_string(s: &str) -> String {
    serde_json::to_string(s).expect("a string serializes")
}

/// A property name in an object literal: bare when it can be, else quoted; `__proto__`
/// computed, so it is an own property and not the prototype.
pub fn js_key(s: &str) -> String {
    if s == "__proto__" {
        format!("[{}]", js_string(s))
    } else if is_ident(s) {
        s.to_string()
    } else {
        js_string(s)
    }
}

/// A JSON value of the schema (an enum value) as JavaScript / JSON text.
pub fn js_value(v: &Value) -> String {
    crate::json::to_compact_string(v)
}

/// A bound of `min`/`max` as a number literal: integers without a fraction.
pub fn number(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1e15 {
        format!("{}", x as i64)
    } else {
        format!("{x}")
    }
}

// ---------------------------------------------------------------------------------------------
// The record shape
// ---------------------------------------------------------------------------------------------

/// A value of a record as the API returns it and accepts it (and as the source files hold it).
#[derive(Debug, Clone, PartialEq)]
pub enum Shape {
    /// Any JSON value: a JSON column keeps whatever was written.
    Any,
    Scalar(Scalar),
    /// An object; keys it does not name are allowed (they are kept in `_extra`).
    Object(Vec<Prop>),
    Array(Box<Slot>),
}

/// A shape and whether `null` is allowed in its place.
#[derive(Debug, Clone, PartialEq)]
pub struct Slot {
    pub shape: Shape,
    pub null: bool,
}

/// A named member of an object. A required one is present and not `null`; any other may be
/// absent or `null`.
#[derive(Debug, Clone, PartialEq)]
pub struct Prop {
    pub name: String,
    pub required: bool,
    pub value: Slot,
}

/// A typed scalar with the constraints jsonlift checks on it.
#[derive(Debug, Clone, PartialEq)]
pub struct Scalar {
    pub ty: ScalarType,
    pub enumeration: Option<Vec<Value>>,
    /// Bounds, for integer and real fields only (the only ones they are checked on).
    pub min: Option<f64>,
    pub max: Option<f64>,
}

/// The members of a record of collection `ci`: its declared fields, with the record's key field
/// required (every stored record has one; only a POST may leave it out, the server fills it).
/// A hidden field (`hidden = true`) is optional whatever `required` says: the API never returns
/// it, and takes it on writes.
pub fn record_shape(schema: &Schema, ci: usize) -> Vec<Prop> {
    let t = &schema.tables[schema.collections[ci].table];
    let key = &t.columns[t.pk];
    let key_field = (key.role == Role::Field)
        .then(|| key.field_path.first())
        .flatten();
    let mut props = object(schema, &t.fields);
    for p in &mut props {
        if Some(&p.name) == key_field {
            p.required = true;
            p.value.null = false;
        }
        if schema.collections[ci].hidden.contains(&p.name) {
            p.required = false;
        }
    }
    props
}

fn object(schema: &Schema, fields: &[Field]) -> Vec<Prop> {
    fields
        .iter()
        .map(|f| Prop {
            name: f.name.clone(),
            required: f.required,
            value: Slot {
                shape: field_shape(schema, f),
                null: !f.required,
            },
        })
        .collect()
}

fn field_shape(schema: &Schema, f: &Field) -> Shape {
    match &f.kind {
        FieldKind::Scalar { ty, .. } => {
            let numeric = matches!(ty, ScalarType::Integer | ScalarType::Real);
            Shape::Scalar(Scalar {
                ty: *ty,
                enumeration: f.enumeration.clone(),
                min: f.min.filter(|_| numeric),
                max: f.max.filter(|_| numeric),
            })
        }
        FieldKind::Json { .. } => Shape::Any,
        FieldKind::Object { fields } => Shape::Object(object(schema, fields)),
        FieldKind::Child { table } => {
            let t = &schema.tables[*table];
            let items = match &t.elements {
                Elements::Objects => Slot {
                    shape: Shape::Object(object(schema, &t.fields)),
                    null: false,
                },
                Elements::Entities { table: e, .. } => Slot {
                    shape: Shape::Object(object(schema, &schema.tables[*e].fields)),
                    null: false,
                },
                // An element may be null (the row's value is NULL); no enum or bounds apply.
                Elements::Scalars { ty, .. } => Slot {
                    shape: Shape::Scalar(Scalar {
                        ty: *ty,
                        enumeration: None,
                        min: None,
                        max: None,
                    }),
                    null: true,
                },
                Elements::Json { .. } => Slot {
                    shape: Shape::Any,
                    null: true,
                },
            };
            Shape::Array(Box::new(items))
        }
    }
}

/// The text jsonlift accepts as a `date` (`YYYY-MM-DD`, a day of the Gregorian calendar), as a
/// regular expression that JavaScript (with or without the `u` flag) and JSON Schema read alike.
pub const DATE_RE: &str = concat!(
    r"(?:\d{4}-(?:(?:0[13578]|1[02])-(?:0[1-9]|[12]\d|3[01])|(?:0[469]|11)-(?:0[1-9]|[12]\d|30)",
    r"|02-(?:0[1-9]|1\d|2[0-8]))",
    r"|(?:\d{2}(?:0[48]|[2468][048]|[13579][26])|(?:[02468][048]|[13579][26])00)-02-29)"
);

/// The rest of a `timestamp` after its date: `T`, `t` or a space, `hh:mm`, optional seconds
/// (up to a leap second 60) with an optional fraction, then an optional `Z` or offset
/// (`±hh`, `±hhmm`, `±hh:mm`). Wider than JSON Schema's `date-time` (RFC 3339 wants the seconds
/// and the offset), as applications write them: Python's `isoformat()` has no offset.
pub const TIME_RE: &str = r"[Tt ](?:[01]\d|2[0-3]):[0-5]\d(?::(?:[0-5]\d|60)(?:\.\d+)?)?(?:[Zz]|[+-](?:[01]\d|2[0-3])(?::?[0-5]\d)?)?";

pub const UUID_RE: &str =
    r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}";

/// The whole-string pattern of a string type that has one.
pub fn pattern(ty: ScalarType) -> Option<String> {
    match ty {
        ScalarType::Date => Some(format!("^{DATE_RE}$")),
        ScalarType::Timestamp => Some(format!("^{DATE_RE}{TIME_RE}$")),
        ScalarType::Uuid => Some(format!("^{UUID_RE}$")),
        _ => None,
    }
}

#[cfg(test)]
mod tests;
