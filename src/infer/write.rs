//! The project file as text: TOML meant to be read and edited, with a comment on every
//! inference giving its evidence.
//!
//! Field order is the data's order, which is also the column order and the key order records
//! are rebuilt in. Simple fields are written `name = "type"` or `name = { ... }`; a flattened
//! object or a child table needs a section of its own, and since TOML does not allow going back
//! to a table after a sub-table, every field after it in the same object is written as a section
//! too (`[collections.x.fields.created_at]`, as in the examples).

use std::fmt::Write as _;

use crate::source::Format;

use super::plan::{ChildPlan, CollectionPlan, Elements, FieldPlan, Kind, Node};

/// A TOML key: bare when it can be, quoted otherwise.
pub fn key(k: &str) -> String {
    if !k.is_empty()
        && k.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        k.to_string()
    } else {
        string(k)
    }
}

/// A TOML basic string.
pub fn string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Comment text on one line, without the characters TOML comments cannot hold.
fn comment(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() && c != '\t' { ' ' } else { c })
        .collect()
}

fn format_name(f: Format) -> &'static str {
    match f {
        Format::Array => "array",
        Format::Object => "object",
        Format::Document => "document",
        Format::Tinydb => "tinydb",
        Format::Jsonl => "jsonl",
        Format::Folder => "folder",
        Format::Prompty => "prompty",
        Format::Sqlite => "sqlite",
        Format::Database => unreachable!("init never writes a collection without a source"),
    }
}

pub struct Header<'a> {
    pub from: &'a str,
    pub database: &'a str,
    pub sources: usize,
    pub records: u64,
    /// Files and folders left out, and why.
    pub skipped: &'a [(String, &'static str)],
}

/// The whole project file.
pub fn project(h: &Header, plans: &[CollectionPlan]) -> String {
    let mut out = String::new();
    let tables: usize = plans.iter().map(|p| 1 + count_children(&p.node)).sum();
    let _ = writeln!(
        out,
        "# jsonlift project file, inferred from {} by `jsonlift init`: {} {}, {} {}, {} {}, {} {}.",
        comment(h.from),
        h.sources,
        if h.sources == 1 { "source" } else { "sources" },
        plans.len(),
        if plans.len() == 1 {
            "collection"
        } else {
            "collections"
        },
        tables,
        if tables == 1 { "table" } else { "tables" },
        h.records,
        if h.records == 1 { "record" } else { "records" },
    );
    out.push_str(
        "# Every choice below comes from a full pass over the data and says why. Edit freely;\n",
    );
    out.push_str("# `jsonlift check` validates the data against this file. The rules are in docs/infer.md.\n");
    if !h.skipped.is_empty() {
        out.push_str("# Not read (`--exclude GLOB` leaves out more):\n");
        for (path, why) in h.skipped {
            let _ = writeln!(out, "#   {} ({why})", comment(path));
        }
    }
    let _ = writeln!(out, "database = {}", string(h.database));
    let mut last_source = None;
    for p in plans {
        out.push('\n');
        if last_source != Some(&p.source) {
            let _ = writeln!(
                out,
                "# ---- {} {}",
                comment(&p.source),
                "-".repeat(80usize.saturating_sub(p.source.chars().count() + 8))
            );
            let _ = writeln!(out, "# {}", comment(&p.source_why));
            last_source = Some(&p.source);
        }
        collection(&mut out, p);
    }
    out
}

fn count_children(n: &Node) -> usize {
    n.fields
        .iter()
        .map(|f| match &f.kind {
            Kind::Flatten(sub) => count_children(sub),
            Kind::Child(c) => {
                1 + usize::from(c.shared.is_some())
                    + match &c.elements {
                        Elements::Objects(sub) => count_children(sub),
                        Elements::Scalars { .. } => 0,
                    }
            }
            _ => 0,
        })
        .sum()
}

fn collection(out: &mut String, p: &CollectionPlan) {
    if !p.shape_why.is_empty() {
        let _ = writeln!(out, "# {}", comment(&p.shape_why));
    }
    for n in &p.notes {
        let _ = writeln!(out, "# {}", comment(n));
    }
    let path = format!("collections.{}", key(&p.name));
    let _ = writeln!(out, "[{path}]");
    let _ = writeln!(out, "source = {}", string(&p.source));
    let _ = writeln!(out, "format = {}", string(format_name(p.format)));
    if let Some(m) = p.member.as_ref().filter(|_| p.format == Format::Sqlite) {
        let _ = writeln!(out, "source_table = {}", string(m));
    } else if let Some(m) = &p.member {
        let _ = writeln!(out, "member = {}", string(m));
    }
    if let Some(pat) = &p.pattern {
        let _ = writeln!(out, "pattern = {}", string(pat));
    }
    let _ = writeln!(out, "# {}", comment(&p.key_note));
    if let Some(k) = &p.key {
        let _ = writeln!(out, "key = {}", string(k));
    }
    if let Some(k) = &p.key_column {
        let _ = writeln!(out, "key_column = {}", string(k));
    }
    if let Some(e) = &p.extra_column {
        let _ = writeln!(out, "extra_column = {}", string(e));
    }
    node(out, &format!("{path}.fields"), &p.node);
}

/// Writes the fields of an object node under `[path]` (`path` ends in `.fields`).
fn node(out: &mut String, path: &str, n: &Node) {
    if n.fields.is_empty() {
        return;
    }
    let mut sections = false;
    let mut header_written = false;
    for f in &n.fields {
        let fpath = format!("{path}.{}", key(&f.name));
        let needs_section = matches!(f.kind, Kind::Flatten(_) | Kind::Child(_));
        if needs_section || sections {
            sections = true;
            out.push('\n');
            notes(out, f);
            let _ = writeln!(out, "[{fpath}]");
            for (k, v) in attributes(f) {
                let _ = writeln!(out, "{k} = {v}");
            }
            match &f.kind {
                Kind::Flatten(sub) => node(out, &format!("{fpath}.fields"), sub),
                Kind::Child(c) => {
                    if let Elements::Objects(sub) = &c.elements {
                        node(out, &format!("{fpath}.fields"), sub);
                    }
                }
                _ => {}
            }
        } else {
            if !header_written {
                out.push('\n');
                let _ = writeln!(out, "[{path}]");
                header_written = true;
            }
            notes(out, f);
            let attrs = attributes(f);
            if attrs.len() == 1 {
                let _ = writeln!(out, "{} = {}", key(&f.name), attrs[0].1);
            } else {
                let inner: Vec<String> = attrs.iter().map(|(k, v)| format!("{k} = {v}")).collect();
                let _ = writeln!(out, "{} = {{ {} }}", key(&f.name), inner.join(", "));
            }
        }
    }
}

fn notes(out: &mut String, f: &FieldPlan) {
    if !f.notes.is_empty() {
        let _ = writeln!(
            out,
            "# {}: {}",
            comment(&display_name(&f.name)),
            comment(&f.notes.join("; "))
        );
    }
}

/// A field name for a comment: bare when it is a plain word, quoted otherwise.
fn display_name(name: &str) -> String {
    let plain = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || c == '_' || c == '-');
    if plain {
        name.to_string()
    } else {
        format!("{name:?}")
    }
}

/// The key/value pairs of a field's long form, `type` first.
fn attributes(f: &FieldPlan) -> Vec<(String, String)> {
    let mut a: Vec<(String, String)> = Vec::new();
    let s = |x: &str| string(x);
    match &f.kind {
        Kind::Scalar(t) => a.push(("type".into(), s(t.name()))),
        Kind::Json { array: false, .. } => a.push(("type".into(), s("json"))),
        Kind::Json { array: true, of } => {
            a.push(("type".into(), s("array")));
            if let Some(t) = of {
                a.push(("of".into(), s(t.name())));
            }
        }
        Kind::Flatten(_) => {
            a.push(("type".into(), s("object")));
            a.push(("flatten".into(), "true".into()));
        }
        Kind::Child(c) => {
            a.push(("type".into(), s("array")));
            child_attributes(&mut a, c);
        }
    }
    if let Some(c) = &f.column {
        a.push(("column".into(), s(c)));
    }
    if f.required {
        a.push(("required".into(), "true".into()));
    }
    if f.unique {
        a.push(("unique".into(), "true".into()));
    }
    if let Some(vals) = &f.enumeration {
        let list: Vec<String> = vals.iter().map(|v| s(v)).collect();
        a.push(("enum".into(), format!("[{}]", list.join(", "))));
    }
    if let Some(r) = &f.references {
        a.push(("references".into(), s(r)));
        if let Some(o) = f.on_delete {
            a.push(("on_delete".into(), s(o)));
        }
    }
    if f.index && f.references.is_none() {
        a.push(("index".into(), "true".into()));
    }
    if f.hidden {
        a.push(("hidden".into(), "true".into()));
    }
    a
}

fn child_attributes(a: &mut Vec<(String, String)>, c: &ChildPlan) {
    if let Elements::Scalars { ty, .. } = &c.elements {
        a.push(("of".into(), string(ty.name())));
    }
    a.push(("table".into(), string(&c.table)));
    if let Some(sh) = &c.shared {
        a.push(("key".into(), string(&sh.key)));
        a.push(("join_table".into(), string(&sh.join_table)));
        a.push(("entity_column".into(), string(&sh.entity_column)));
    }
    if let Some(x) = &c.id_column {
        a.push(("id_column".into(), string(x)));
    }
    if let Some(x) = &c.parent_column {
        a.push(("parent_column".into(), string(x)));
    }
    if let Some(x) = &c.position_column {
        a.push(("position_column".into(), string(x)));
    }
    if let Elements::Scalars { value_column, .. } = &c.elements {
        if let Some(x) = value_column {
            a.push(("value_column".into(), string(x)));
        }
        let v = value_column.as_deref().unwrap_or("value");
        a.push(("indexes".into(), format!("[[{}]]", string(v))));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_strings() {
        assert_eq!(key("title"), "title");
        assert_eq!(key("odd key"), "\"odd key\"");
        assert_eq!(key("名前"), "\"名前\"");
        assert_eq!(key(""), "\"\"");
        assert_eq!(string("a\"b\\c\n\u{1}"), "\"a\\\"b\\\\c\\n\\u0001\"");
        let v: toml::Value =
            toml::from_str(&format!("x = {}", string("a\"b\\c\n\u{1}\u{7f}é"))).unwrap();
        assert_eq!(v["x"].as_str(), Some("a\"b\\c\n\u{1}\u{7f}é"));
    }
}
