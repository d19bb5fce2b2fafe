//! `.prompty` files (`Format::Prompty`): a line `---`, YAML front matter, a line `---`, then the
//! template body, kept exactly (line endings included).
//!
//! The record is the front matter as an object (keys in file order) followed by one more field,
//! the body (`body_field`, default `body`). YAML is read with `yaml-rust2`'s event parser, driven
//! here one event at a time (no recursion, so deep nesting is a problem, not a stack overflow)
//! and converted straight to [`Value`] with the line of anything that cannot be JSON.
//!
//! Writing emits the front matter with `yaml-rust2`'s emitter, then reads the result back: if it
//! does not give the same value (the emitter leaves a few strings unquoted that read back as
//! something else, such as `0o17`), the front matter is written again in a conservative form
//! (every key and string double-quoted, nested values in flow style) that always reads back
//! exactly; a record that cannot be written exactly is an error, never a silent change.

use std::path::Path;

use anyhow::{Context, bail};
use yaml_rust2::parser::{Event, Parser, Tag};
use yaml_rust2::scanner::{Marker, TScalarStyle};
use yaml_rust2::{Yaml, YamlEmitter};

use crate::error::Problem;
use crate::json::{JsonPath, Number, Value};

use super::files::{BOM, FileParser, FilesReader, Parsed, write_files};
use super::{Feed, FileLayout, Layout, RecordReader, SourceSpec, Style};

/// The default field receiving the template body.
pub const DEFAULT_BODY_FIELD: &str = "body";

/// Opens a folder of `.prompty` files for reading.
pub fn open(spec: &SourceSpec) -> Result<Box<dyn RecordReader>, Problem> {
    let parser = PromptyFiles {
        body_field: body_field(spec).to_string(),
        max_depth: spec.limits.max_depth,
    };
    Ok(Box::new(FilesReader::new(spec, parser)?))
}

/// Reads the one file `rel` of the folder (its front matter text kept for the layout).
pub(crate) fn open_one(
    spec: &SourceSpec,
    rel: &str,
    layout: &Layout,
) -> Result<Box<dyn RecordReader>, Problem> {
    let parser = PromptyFiles {
        body_field: body_field(spec).to_string(),
        max_depth: spec.limits.max_depth,
    };
    Ok(Box::new(FilesReader::one(spec, rel, parser, layout)?))
}

/// Writes each record of member 0 back to `out_dir/<key>` as a `.prompty` file: `---`, the
/// front matter from every field but the body, `---`, the body. When the layout kept the file's
/// front matter text and that text still reads as the record's front matter, it is written
/// verbatim (comments, quoting, spelling and line endings as they were); otherwise the front
/// matter is rendered from the record, the delimiters and front matter using CRLF when the body
/// does.
pub fn write(
    spec: &SourceSpec,
    layout: &Layout,
    out_dir: &Path,
    feed: &mut Feed,
) -> anyhow::Result<()> {
    let field = body_field(spec);
    let max_depth = spec.limits.max_depth;
    write_files(out_dir, layout, feed, &mut |value, file| {
        if let Some(text) = file.and_then(|f| with_head(f, value, field, max_depth)) {
            return Ok(text.into_bytes());
        }
        Ok(render(value, field, max_depth)?.into_bytes())
    })
}

/// The file as the recorded front matter text followed by the record's body, if the layout kept
/// that text and it still reads as exactly the record's front matter (same fields, same order,
/// same values). `None` when there is no such text or the record changed since.
fn with_head(
    file: &FileLayout,
    value: &Value,
    body_field: &str,
    max_depth: usize,
) -> Option<String> {
    let head = file.head.as_deref()?;
    let Value::Object(all) = value else {
        return None;
    };
    let Some(Value::String(body)) = value.get(body_field) else {
        return None;
    };
    let (_, _, body_start, _) = split(head).ok()?;
    if body_start != head.len() {
        return None;
    }
    let doc = parse_prompty(head, body_field, max_depth).ok()?;
    let Value::Object(mut read) = doc.value else {
        return None;
    };
    read.pop(); // the (empty) body
    let mine: Vec<(String, Value)> = all
        .iter()
        .filter(|(k, _)| k != body_field)
        .cloned()
        .collect();
    if Value::Object(read) != Value::Object(mine) {
        return None;
    }
    Some(format!("{head}{body}"))
}

fn body_field(spec: &SourceSpec) -> &str {
    spec.members
        .first()
        .map(|m| m.body_field.as_str())
        .filter(|f| !f.is_empty())
        .unwrap_or(DEFAULT_BODY_FIELD)
}

struct PromptyFiles {
    body_field: String,
    max_depth: usize,
}

impl FileParser for PromptyFiles {
    fn parse(&mut self, bytes: &[u8], file: &str) -> Result<Parsed, Problem> {
        let start = if bytes.starts_with(BOM) { BOM.len() } else { 0 };
        let text = std::str::from_utf8(&bytes[start..])
            .map_err(|_| Problem::new(file, "not valid UTF-8 text"))?;
        let doc = parse_prompty(text, &self.body_field, self.max_depth)
            .map_err(|e| e.into_problem(file))?;
        let head = split(text)
            .ok()
            .map(|(_, _, body_start, _)| text[..body_start].to_string());
        Ok(Parsed {
            value: doc.value,
            offset: (start + doc.front_matter.0) as u64,
            len: (doc.front_matter.1 - doc.front_matter.0) as u64,
            line: 2,
            col: 1,
            style: None,
            head,
        })
    }

    fn style(&self) -> Style {
        Style::default()
    }
}

/// A problem in a prompty text, at a 1-based line and column of the file.
#[derive(Debug, Clone, PartialEq)]
pub struct PromptyError {
    pub line: u64,
    pub col: u64,
    pub path: Option<JsonPath>,
    pub message: String,
}

impl PromptyError {
    fn at(line: u64, col: u64, message: impl Into<String>) -> PromptyError {
        PromptyError {
            line,
            col,
            path: None,
            message: message.into(),
        }
    }
    pub fn into_problem(self, file: &str) -> Problem {
        let p = Problem::new(file, self.message).at(self.line, self.col);
        match self.path {
            Some(path) => p.with_path(path),
            None => p,
        }
    }
}

/// A prompty text taken apart.
#[derive(Debug, Clone, PartialEq)]
pub struct PromptyDoc {
    /// The front matter's fields, then the body field.
    pub value: Value,
    /// Byte range of the front matter in the text.
    pub front_matter: (usize, usize),
    /// The delimiter lines end in CRLF.
    pub crlf: bool,
}

/// Takes a prompty text (without BOM) apart into the record value.
pub fn parse_prompty(
    text: &str,
    body_field: &str,
    max_depth: usize,
) -> Result<PromptyDoc, PromptyError> {
    let (fm_start, fm_end, body_start, crlf) = split(text)?;
    let fm = &text[fm_start..fm_end];
    // The front matter starts on line 2 of the file.
    let mut fields = match load_yaml(fm, 2, max_depth)? {
        None => Vec::new(),
        Some((Value::Object(fields), _)) => fields,
        Some((other, mark)) => {
            return Err(PromptyError::at(
                mark.0,
                mark.1,
                format!(
                    "the front matter must be a YAML mapping (key: value lines), found {}",
                    other.kind()
                ),
            ));
        }
    };
    if fields.iter().any(|(k, _)| k == body_field) {
        let line = key_line(fm, body_field).map_or(2, |l| l + 1);
        return Err(PromptyError {
            line,
            col: 1,
            path: Some(JsonPath::root().key(body_field)),
            message: format!(
                "the front matter has a key `{body_field}`, which is the field that receives the body; rename it or set body_field in jsonlift.toml"
            ),
        });
    }
    fields.push((
        body_field.to_string(),
        Value::String(text[body_start..].to_string()),
    ));
    Ok(PromptyDoc {
        value: Value::Object(fields),
        front_matter: (fm_start, fm_end),
        crlf,
    })
}

/// The 0-based line of the first front-matter line starting with `key:` (for a message).
fn key_line(fm: &str, key: &str) -> Option<u64> {
    fm.lines()
        .position(|l| {
            let l = l.trim_start();
            l.strip_prefix(key)
                .is_some_and(|r| r.trim_start().starts_with(':'))
                || l.starts_with(&format!("\"{key}\""))
                || l.starts_with(&format!("'{key}'"))
        })
        .map(|p| p as u64 + 1)
}

fn is_delimiter(line: &str) -> bool {
    line.trim_end_matches(['\n', '\r', ' ', '\t']) == "---"
}

/// (front matter start, end, body start, CRLF delimiters) as byte offsets.
fn split(text: &str) -> Result<(usize, usize, usize, bool), PromptyError> {
    let mut lines = text.split_inclusive('\n');
    let first = lines.next().unwrap_or("");
    if !is_delimiter(first) {
        return Err(PromptyError::at(
            1,
            1,
            "no opening --- line: a .prompty file starts with YAML front matter between --- lines",
        ));
    }
    let crlf = first.ends_with("\r\n");
    let fm_start = first.len();
    let mut pos = fm_start;
    for line in lines {
        if is_delimiter(line) {
            return Ok((fm_start, pos, pos + line.len(), crlf));
        }
        pos += line.len();
    }
    Err(PromptyError::at(
        1,
        1,
        "no closing --- after the front matter",
    ))
}

// ---------------------------------------------------------------------------------------------
// YAML -> Value

/// An open collection while loading.
enum Frame {
    Seq {
        items: Vec<Value>,
        anchor: usize,
    },
    Map {
        fields: Vec<(String, Value)>,
        key: Option<String>,
        anchor: usize,
    },
}

struct Loader {
    /// Line of the file where the YAML text starts (to map the parser's lines).
    first_line: u64,
    max_depth: usize,
    stack: Vec<Frame>,
    anchors: Vec<(usize, Value, usize)>,
    /// Nodes made so far (aliases count their whole value) and the cap.
    nodes: usize,
    max_nodes: usize,
    docs: Vec<Positioned>,
    /// Where the current document's root started.
    root_mark: (u64, u64),
}

/// A value and the 1-based line and column where it starts.
type Positioned = (Value, (u64, u64));

/// Loads YAML text into a value. `None` for a text with no document (empty or only comments).
/// The value's position is returned for messages.
fn load_yaml(
    text: &str,
    first_line: u64,
    max_depth: usize,
) -> Result<Option<Positioned>, PromptyError> {
    let mut l = Loader {
        first_line,
        max_depth,
        stack: Vec::new(),
        anchors: Vec::new(),
        nodes: 0,
        // Aliases can repeat a value many times over ("billion laughs"): cap the total.
        max_nodes: 100_000 + 16 * text.len(),
        docs: Vec::new(),
        root_mark: (first_line, 1),
    };
    let mut parser = Parser::new_from_str(text);
    loop {
        let (ev, mark) = parser.next_token().map_err(|e| {
            let (line, col) = l.pos(e.marker());
            PromptyError::at(line, col, format!("YAML: {}", e.info()))
        })?;
        if ev == Event::StreamEnd {
            break;
        }
        l.event(ev, mark)?;
    }
    if l.docs.len() > 1 {
        let (line, col) = l.docs[1].1;
        return Err(PromptyError::at(
            line,
            col,
            "the front matter holds several YAML documents",
        ));
    }
    Ok(l.docs.pop())
}

impl Loader {
    fn pos(&self, m: &Marker) -> (u64, u64) {
        (self.first_line + m.line() as u64 - 1, m.col() as u64 + 1)
    }

    fn path(&self) -> JsonPath {
        let mut p = JsonPath::root();
        for f in &self.stack {
            p = match f {
                Frame::Seq { items, .. } => p.index(items.len()),
                Frame::Map { key: Some(k), .. } => p.key(k),
                Frame::Map { key: None, .. } => p,
            };
        }
        p
    }

    fn err(&self, mark: &Marker, message: impl Into<String>) -> PromptyError {
        let (line, col) = self.pos(mark);
        PromptyError {
            line,
            col,
            path: Some(self.path()),
            message: message.into(),
        }
    }

    fn event(&mut self, ev: Event, mark: Marker) -> Result<(), PromptyError> {
        match ev {
            Event::StreamStart | Event::Nothing | Event::DocumentEnd | Event::StreamEnd => Ok(()),
            Event::DocumentStart => {
                self.root_mark = self.pos(&mark);
                Ok(())
            }
            Event::Scalar(v, style, anchor, tag) => {
                self.count(&mark, 1)?;
                let value = scalar(v, style, tag.as_ref()).map_err(|m| self.err(&mark, m))?;
                self.insert(value, anchor, 0, &mark)
            }
            Event::SequenceStart(anchor, _) => {
                self.open(&mark)?;
                self.stack.push(Frame::Seq {
                    items: Vec::new(),
                    anchor,
                });
                Ok(())
            }
            Event::MappingStart(anchor, _) => {
                self.open(&mark)?;
                self.stack.push(Frame::Map {
                    fields: Vec::new(),
                    key: None,
                    anchor,
                });
                Ok(())
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let (value, anchor, depth) = match self.stack.pop() {
                    Some(Frame::Seq { items, anchor }) => {
                        let d = items.iter().map(depth_of).max().unwrap_or(0);
                        (Value::Array(items), anchor, d + 1)
                    }
                    Some(Frame::Map { fields, anchor, .. }) => {
                        let d = fields.iter().map(|(_, v)| depth_of(v)).max().unwrap_or(0);
                        (Value::Object(fields), anchor, d + 1)
                    }
                    None => return Err(self.err(&mark, "YAML: unbalanced collection end")),
                };
                self.insert(value, anchor, depth, &mark)
            }
            Event::Alias(id) => {
                let Some((_, value, depth)) = self.anchors.iter().rev().find(|(a, _, _)| *a == id)
                else {
                    return Err(self.err(&mark, "YAML: alias to an unknown anchor"));
                };
                let (value, depth) = (value.clone(), *depth);
                if self.stack.len() + depth > self.max_depth {
                    return Err(self.too_deep(&mark));
                }
                self.count(&mark, count_nodes(&value))?;
                self.insert(value, 0, depth, &mark)
            }
        }
    }

    fn too_deep(&self, mark: &Marker) -> PromptyError {
        self.err(
            mark,
            format!(
                "nested deeper than the limit of {} (max_depth)",
                self.max_depth
            ),
        )
    }

    fn count(&mut self, mark: &Marker, n: usize) -> Result<(), PromptyError> {
        self.nodes += n;
        if self.nodes > self.max_nodes {
            return Err(self.err(mark, "YAML aliases expand to too many values"));
        }
        Ok(())
    }

    /// Checks before a collection opens: depth, and that it is not used as a mapping key.
    fn open(&mut self, mark: &Marker) -> Result<(), PromptyError> {
        self.count(mark, 1)?;
        if let Some(Frame::Map { key: None, .. }) = self.stack.last() {
            return Err(self.err(mark, "mapping keys must be strings, found a collection"));
        }
        if self.stack.len() >= self.max_depth {
            return Err(self.too_deep(mark));
        }
        if self.stack.is_empty() {
            self.root_mark = self.pos(mark);
        }
        Ok(())
    }

    /// Puts a finished node into its parent (or makes it a document), remembering anchors.
    fn insert(
        &mut self,
        value: Value,
        anchor: usize,
        depth: usize,
        mark: &Marker,
    ) -> Result<(), PromptyError> {
        if anchor > 0 {
            self.anchors.push((anchor, value.clone(), depth));
        }
        match self.stack.last_mut() {
            None => {
                let at = if depth == 0 {
                    self.pos(mark)
                } else {
                    self.root_mark
                };
                self.docs.push((value, at));
                return Ok(());
            }
            Some(Frame::Seq { items, .. }) => {
                items.push(value);
                return Ok(());
            }
            Some(Frame::Map { fields, key, .. }) => {
                if let Some(k) = key.take() {
                    fields.push((k, value));
                    return Ok(());
                }
            }
        }
        // The node is a mapping key.
        let k = match value {
            Value::String(k) => k,
            other => {
                return Err(self.err(
                    mark,
                    format!(
                        "mapping keys must be strings, found {} (quote it)",
                        other.kind()
                    ),
                ));
            }
        };
        let dup = matches!(self.stack.last(),
            Some(Frame::Map { fields, .. }) if fields.iter().any(|(f, _)| *f == k));
        if dup {
            return Err(self.err(mark, format!("duplicate key {k:?}")));
        }
        if let Some(Frame::Map { key, .. }) = self.stack.last_mut() {
            *key = Some(k);
        }
        Ok(())
    }
}

fn depth_of(v: &Value) -> usize {
    match v {
        Value::Array(items) => 1 + items.iter().map(depth_of).max().unwrap_or(0),
        Value::Object(fields) => 1 + fields.iter().map(|(_, v)| depth_of(v)).max().unwrap_or(0),
        _ => 0,
    }
}

fn count_nodes(v: &Value) -> usize {
    match v {
        Value::Array(items) => 1 + items.iter().map(count_nodes).sum::<usize>(),
        Value::Object(fields) => 1 + fields.iter().map(|(_, v)| count_nodes(v)).sum::<usize>(),
        _ => 1,
    }
}

/// A scalar as `yaml-rust2`'s loader resolves it (YAML 1.2 core schema), then as JSON.
fn scalar(v: String, style: TScalarStyle, tag: Option<&Tag>) -> Result<Value, String> {
    let yaml = if style != TScalarStyle::Plain {
        Yaml::String(v)
    } else if let Some(tag) = tag {
        if tag.handle == "tag:yaml.org,2002:" {
            match tag.suffix.as_str() {
                "bool" => match v.as_str() {
                    "true" | "True" | "TRUE" => Yaml::Boolean(true),
                    "false" | "False" | "FALSE" => Yaml::Boolean(false),
                    _ => return Err(format!("{v:?} is not a boolean (!!bool)")),
                },
                "int" => match v.parse::<i64>() {
                    Ok(i) => Yaml::Integer(i),
                    Err(_) => return Err(format!("{v:?} is not an integer (!!int)")),
                },
                "float" => Yaml::Real(v),
                "null" => match v.as_str() {
                    "~" | "null" | "" => Yaml::Null,
                    _ => return Err(format!("{v:?} is not null (!!null)")),
                },
                _ => Yaml::String(v),
            }
        } else {
            Yaml::String(v)
        }
    } else {
        Yaml::from_str(&v)
    };
    Ok(match yaml {
        Yaml::Null => Value::Null,
        Yaml::Boolean(b) => Value::Bool(b),
        Yaml::Integer(i) => Value::Number(Number::from_i64(i)),
        Yaml::Real(text) => Value::Number(real(&text)?),
        Yaml::String(s) => Value::String(s),
        other => return Err(format!("unexpected YAML value {other:?}")),
    })
}

/// A YAML float as a JSON number: its own text when that is already JSON (`1.50`, `1e3`, a
/// 20-digit integer), otherwise the shortest text of its value (`.5` -> `0.5`, `+1.` -> `1.0`).
fn real(text: &str) -> Result<Number, String> {
    if is_json_number(text) {
        return Ok(Number::from_text_unchecked(text));
    }
    let f = match text {
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => f64::INFINITY,
        "-.inf" | "-.Inf" | "-.INF" => f64::NEG_INFINITY,
        ".nan" | ".NaN" | ".NAN" => f64::NAN,
        _ => text
            .parse::<f64>()
            .map_err(|_| format!("{text:?} is not a number"))?,
    };
    Number::from_f64(f).ok_or_else(|| format!("{text} is not representable in JSON"))
}

/// JSON number syntax: `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`.
fn is_json_number(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = usize::from(b.first() == Some(&b'-'));
    let digits = |i: &mut usize| {
        let start = *i;
        while *i < b.len() && b[*i].is_ascii_digit() {
            *i += 1;
        }
        *i - start
    };
    match b.get(i) {
        Some(b'0') => i += 1,
        Some(c) if c.is_ascii_digit() => {
            digits(&mut i);
        }
        _ => return false,
    }
    if b.get(i) == Some(&b'.') {
        i += 1;
        if digits(&mut i) == 0 {
            return false;
        }
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        if digits(&mut i) == 0 {
            return false;
        }
    }
    i == b.len()
}

// ---------------------------------------------------------------------------------------------
// Value -> prompty text

/// The prompty text of a record: checks that it reads back to the same value.
pub fn render(value: &Value, body_field: &str, max_depth: usize) -> anyhow::Result<String> {
    let Value::Object(all) = value else {
        bail!("a prompty record must be an object, found {}", value.kind());
    };
    let body = match value.get(body_field) {
        Some(Value::String(b)) => b.as_str(),
        Some(other) => bail!(
            "the body field `{body_field}` must be a string, found {}",
            other.kind()
        ),
        None => bail!("the record has no body field `{body_field}`"),
    };
    let fields: Vec<(String, Value)> = all
        .iter()
        .filter(|(k, _)| k != body_field)
        .cloned()
        .collect();
    let mut expected = fields.clone();
    expected.push((body_field.to_string(), Value::String(body.to_string())));
    let expected = Value::Object(expected);
    let eol = if body.contains("\r\n") { "\r\n" } else { "\n" };

    let assemble = |yaml: &str| {
        let mut out = format!("---{eol}");
        for line in yaml.lines() {
            out.push_str(line);
            out.push_str(eol);
        }
        out.push_str("---");
        out.push_str(eol);
        out.push_str(body);
        out
    };
    let reads_back =
        |text: &str| parse_prompty(text, body_field, max_depth).is_ok_and(|d| d.value == expected);

    // Multi-line strings as literal blocks (`|`) first, as people write them; the emitter's
    // blocks cannot hold every string (trailing blank lines, leading spaces), so then quoted.
    for multiline in [true, false] {
        let primary = assemble(&emit_yaml(&fields, multiline).context("YAML emitter")?);
        if reads_back(&primary) {
            return Ok(primary);
        }
    }
    let conservative = assemble(&emit_quoted(&fields));
    if reads_back(&conservative) {
        return Ok(conservative);
    }
    let why = match parse_prompty(&conservative, body_field, max_depth) {
        Err(e) => e.message,
        Ok(_) => "it reads back as a different value".to_string(),
    };
    bail!("cannot write the front matter as YAML that reads back exactly: {why}")
}

/// The front matter through `yaml-rust2`'s emitter (block style, plain scalars where safe,
/// multi-line strings as literal blocks when `multiline`).
fn emit_yaml(fields: &[(String, Value)], multiline: bool) -> anyhow::Result<String> {
    if fields.is_empty() {
        return Ok(String::new());
    }
    let mut hash = yaml_rust2::yaml::Hash::new();
    for (k, v) in fields {
        hash.insert(Yaml::String(k.clone()), to_yaml(v));
    }
    let mut out = String::new();
    let mut emitter = YamlEmitter::new(&mut out);
    emitter.multiline_strings(multiline);
    emitter.dump(&Yaml::Hash(hash))?;
    let out = out
        .strip_prefix("---\n")
        .or_else(|| out.strip_prefix("---"))
        .unwrap_or(&out);
    Ok(out.to_string())
}

fn to_yaml(v: &Value) -> Yaml {
    match v {
        Value::Null => Yaml::Null,
        Value::Bool(b) => Yaml::Boolean(*b),
        Value::Number(n) => match n.as_i64() {
            Some(i) if i.to_string() == n.as_str() => Yaml::Integer(i),
            _ => Yaml::Real(n.as_str().to_string()),
        },
        Value::String(s) => Yaml::String(s.clone()),
        Value::Array(items) => Yaml::Array(items.iter().map(to_yaml).collect()),
        Value::Object(fields) => {
            let mut h = yaml_rust2::yaml::Hash::new();
            for (k, v) in fields {
                h.insert(Yaml::String(k.clone()), to_yaml(v));
            }
            Yaml::Hash(h)
        }
    }
}

/// The conservative form: one `"key": value` line per field, values in JSON-like flow style
/// with every string double-quoted and every unusual character escaped.
fn emit_quoted(fields: &[(String, Value)]) -> String {
    let mut out = String::new();
    for (k, v) in fields {
        quoted(&mut out, k);
        out.push_str(": ");
        flow(&mut out, v);
        out.push('\n');
    }
    out
}

fn flow(out: &mut String, v: &Value) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => {
            // An integer text that does not read back as itself (`-0`) is tagged as a float,
            // which keeps its text.
            let plain = match n.as_i64() {
                Some(i) => i.to_string() == n.as_str(),
                None => true,
            };
            if !plain {
                out.push_str("!!float ");
            }
            out.push_str(n.as_str());
        }
        Value::String(s) => quoted(out, s),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                flow(out, item);
            }
            out.push(']');
        }
        Value::Object(fields) => {
            out.push('{');
            for (i, (k, v)) in fields.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                quoted(out, k);
                out.push_str(": ");
                flow(out, v);
            }
            out.push('}');
        }
    }
}

/// A YAML double-quoted scalar; anything YAML does not print (or might take for a line break)
/// is escaped.
fn quoted(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{0}'..='\u{1f}'
            | '\u{7f}'..='\u{9f}'
            | '\u{2028}'
            | '\u{2029}'
            | '\u{feff}'
            | '\u{fffe}'
            | '\u{ffff}' => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::{Format, Limits, MemberSpec};
    use std::fs;
    use std::path::PathBuf;

    fn parse(text: &str) -> Result<Value, PromptyError> {
        parse_prompty(text, "body", 128).map(|d| d.value)
    }

    fn s(v: &str) -> Value {
        Value::String(v.into())
    }
    fn n(v: &str) -> Value {
        Value::Number(Number::from_text_unchecked(v))
    }
    fn obj(fields: &[(&str, Value)]) -> Value {
        Value::Object(
            fields
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
        )
    }

    pub(crate) fn spec(dir: &Path, display: &str, pattern: &str, recursive: bool) -> SourceSpec {
        SourceSpec {
            path: dir.to_path_buf(),
            display: display.into(),
            members: vec![MemberSpec {
                name: None,
                format: Format::Prompty,
                pattern: pattern.into(),
                recursive,
                body_field: "body".into(),
                sqlite: None,
            }],
            limits: Limits::default(),
            skip: Vec::new(),
        }
    }

    const TYPICAL: &str = "---
name: Basic Prompt
description: A basic prompt that uses the chat API to answer questions
authors:
  - Jane Doe
  - \"John O'Hara\"
model:
  api: chat
  configuration:
    type: azure_openai
    azure_deployment: gpt-35-turbo
  parameters:
    max_tokens: 3000
    temperature: 0.7
    stop: ~
sample:
  firstName: Jane
  question: 'What is 2 + 2?'
  tags: [math, \"easy\"]
version: 1.0
draft: false
---
system:
You are an AI assistant who helps people find information.

# Customer
You are helping {{firstName}} to find answers to their questions.

user:
{{question}}
";

    #[test]
    fn reads_a_typical_file() {
        let v = parse(TYPICAL).unwrap();
        let Value::Object(fields) = &v else { panic!() };
        let keys: Vec<&str> = fields.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            keys,
            [
                "name",
                "description",
                "authors",
                "model",
                "sample",
                "version",
                "draft",
                "body"
            ]
        );
        assert_eq!(
            v.get("authors"),
            Some(&Value::Array(vec![s("Jane Doe"), s("John O'Hara")]))
        );
        let model = v.get("model").unwrap();
        let params = model.get("parameters").unwrap();
        assert_eq!(params.get("max_tokens"), Some(&n("3000")));
        assert_eq!(params.get("temperature"), Some(&n("0.7")));
        assert_eq!(params.get("stop"), Some(&Value::Null));
        assert_eq!(
            v.get("sample").unwrap().get("question"),
            Some(&s("What is 2 + 2?"))
        );
        assert_eq!(v.get("version"), Some(&n("1.0")));
        assert_eq!(v.get("draft"), Some(&Value::Bool(false)));
        let body = v.get("body").unwrap().as_str().unwrap();
        assert!(body.starts_with("system:\nYou are an AI"));
        assert!(body.ends_with("{{question}}\n"));
        assert_eq!(TYPICAL.len() - TYPICAL.find("system:").unwrap(), body.len());

        // Written back and read again: the same value.
        let text = render(&v, "body", 128).unwrap();
        assert_eq!(parse(&text).unwrap(), v);
        assert!(text.starts_with("---\nname: Basic Prompt\n"), "{text}");
        assert!(text.contains("\n---\nsystem:\n"));
    }

    #[test]
    fn crlf_files() {
        let text = "---\r\nname: x\r\nlist:\r\n  - 1\r\n---\r\nline one\r\nline two\r\n";
        let doc = parse_prompty(text, "body", 128).unwrap();
        assert!(doc.crlf);
        assert_eq!(doc.value.get("body"), Some(&s("line one\r\nline two\r\n")));
        assert_eq!(doc.value.get("name"), Some(&s("x")));
        let out = render(&doc.value, "body", 128).unwrap();
        assert_eq!(out, text);
    }

    #[test]
    fn edge_layouts() {
        // Empty front matter, body without final newline, closing line at the end of the file.
        assert_eq!(parse("---\n---\nhi").unwrap(), obj(&[("body", s("hi"))]));
        assert_eq!(
            parse("---\n# only a comment\n---\n").unwrap(),
            obj(&[("body", s(""))])
        );
        assert_eq!(
            parse("---\na: 1\n---").unwrap(),
            obj(&[("a", n("1")), ("body", s(""))])
        );
        // Trailing blanks on delimiter lines are tolerated; the body keeps everything.
        assert_eq!(
            parse("--- \na: b\n---  \n\n  x\n---\n").unwrap(),
            obj(&[("a", s("b")), ("body", s("\n  x\n---\n"))])
        );
        assert_eq!(
            render(&obj(&[("body", s("hi"))]), "body", 128).unwrap(),
            "---\n---\nhi"
        );
    }

    #[test]
    fn yaml_to_json_conversion() {
        let v = parse(
            "---\n\
             i: 42\nneg: -3\nhex: 0x1F\nbig: 12345678901234567890\n\
             f: 1.5\nf2: 1.50\nexp: 1e3\nhalf: .5\n\
             t: true\nT: True\nnul: null\ntilde: ~\nempty:\n\
             str: !!str 123\nquoted: \"true\"\nflt: !!float 2\n\
             anchor: &a {x: [1, 2]}\nalias: *a\n\
             folded: >\n  one\n  two\n\
             literal: |\n  one\n  two\n\
             unicode: \"caf\\u00e9 日本\"\n\
             ---\n",
        )
        .unwrap();
        let expect = obj(&[
            ("i", n("42")),
            ("neg", n("-3")),
            ("hex", n("31")),
            ("big", n("12345678901234567890")),
            ("f", n("1.5")),
            ("f2", n("1.50")),
            ("exp", n("1e3")),
            ("half", n("0.5")),
            ("t", Value::Bool(true)),
            ("T", Value::Bool(true)),
            ("nul", Value::Null),
            ("tilde", Value::Null),
            ("empty", Value::Null),
            ("str", s("123")),
            ("quoted", s("true")),
            ("flt", n("2")),
            ("anchor", obj(&[("x", Value::Array(vec![n("1"), n("2")]))])),
            ("alias", obj(&[("x", Value::Array(vec![n("1"), n("2")]))])),
            ("folded", s("one two\n")),
            ("literal", s("one\ntwo\n")),
            ("unicode", s("café 日本")),
            ("body", s("")),
        ]);
        assert_eq!(v, expect);
    }

    fn err(text: &str) -> PromptyError {
        match parse_prompty(text, "body", 128) {
            Err(e) => e,
            Ok(v) => panic!("expected an error, got {v:?}"),
        }
    }

    #[test]
    fn problems_have_lines() {
        let e = err("name: x\n---\nbody");
        assert_eq!((e.line, e.col), (1, 1));
        assert!(e.message.contains("no opening ---"), "{}", e.message);

        let e = err("---\nname: x\nbody\n");
        assert_eq!(e.line, 1);
        assert_eq!(e.message, "no closing --- after the front matter");

        // Broken YAML: the YAML error's line is mapped to the file's line.
        let e = err("---\nname: x\ndesc: [unclosed\nother: 1\n---\nbody\n");
        assert!(e.message.starts_with("YAML:"), "{}", e.message);
        assert!(e.line >= 3 && e.line <= 5, "{e:?}");
        let e = err("---\na: 1\n  b: 2\n---\n");
        assert_eq!(e.line, 3, "{e:?}");

        let e = err("---\n- a\n- b\n---\n");
        assert!(
            e.message.contains("must be a YAML mapping"),
            "{}",
            e.message
        );
        assert_eq!(e.line, 2);
        let e = err("---\njust text\n---\n");
        assert!(e.message.contains("found string"), "{}", e.message);

        let e = err("---\nname: x\n1: one\n---\n");
        assert!(
            e.message.contains("keys must be strings, found number"),
            "{}",
            e.message
        );
        assert_eq!((e.line, e.col), (3, 1));
        let e = err("---\nname: x\n? [a]\n: one\n---\n");
        assert!(e.message.contains("keys must be strings"), "{}", e.message);

        let e = err("---\nm:\n  x: .inf\n---\n");
        assert!(
            e.message.contains("not representable in JSON"),
            "{}",
            e.message
        );
        assert_eq!((e.line, e.col), (3, 6));
        assert_eq!(e.path.unwrap().to_string(), "$.m.x");
        let e = err("---\nx: [1, .nan]\n---\n");
        assert_eq!(e.path.unwrap().to_string(), "$.x[1]");

        let e = err("---\na: 1\nbody: 2\n---\n");
        assert!(e.message.contains("`body`"), "{}", e.message);
        assert_eq!(e.line, 3);

        let e = err("---\na: 1\na: 2\n---\n");
        assert!(e.message.contains("duplicate key"), "{}", e.message);
        assert_eq!(e.line, 3);

        let e = err("---\nx: !!int abc\n---\n");
        assert!(e.message.contains("not an integer"), "{}", e.message);

        let e = err("---\na: 1\n...\nb: 2\n---\n");
        assert!(e.message.contains("several YAML documents") || e.message.starts_with("YAML"));
    }

    #[test]
    fn deep_nesting_and_alias_bombs_are_problems() {
        let deep = format!(
            "---\nx: {}1{}\n---\n",
            "[".repeat(100_000),
            "]".repeat(100_000)
        );
        let e = err(&deep);
        // yaml-rust2's own recursion guard may stop it first: either way a problem, not a crash.
        assert!(
            e.message.contains("deeper than the limit") || e.message.contains("recursion limit"),
            "{}",
            e.message
        );
        let e = err(&format!(
            "---\nx: {}1{}\n---\n",
            "[".repeat(129),
            "]".repeat(129)
        ));
        assert!(e.message.contains("deeper than the limit"), "{}", e.message);
        assert!(
            parse(&format!(
                "---\nx: {}1{}\n---\n",
                "[".repeat(127),
                "]".repeat(127)
            ))
            .is_ok()
        );
        let block: String = (0..200)
            .map(|i| format!("{}- \n", " ".repeat(i * 2)))
            .collect();
        let e = err(&format!("---\nx:\n{block}---\n"));
        assert!(
            e.message.contains("deeper") || e.message.starts_with("YAML"),
            "{}",
            e.message
        );

        let mut bomb = String::from("---\na0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..12 {
            let p = i - 1;
            bomb.push_str(&format!(
                "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
            ));
        }
        bomb.push_str("---\n");
        let e = err(&bomb);
        assert!(e.message.contains("too many values"), "{}", e.message);
    }

    /// A small deterministic generator of awkward values.
    struct Gen(u64);
    impl Gen {
        fn next(&mut self) -> u64 {
            self.0 = self
                .0
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            self.0 >> 33
        }
        fn pick<'a>(&mut self, from: &[&'a str]) -> &'a str {
            from[self.next() as usize % from.len()]
        }
        fn value(&mut self, depth: usize) -> Value {
            let kind = self.next() % if depth > 3 { 5 } else { 8 };
            match kind {
                0 => Value::Null,
                1 => Value::Bool(self.next().is_multiple_of(2)),
                2 => n(self.pick(NUMBERS)),
                3 | 4 => s(self.pick(STRINGS)),
                5 => Value::Array(
                    (0..self.next() % 4)
                        .map(|_| self.value(depth + 1))
                        .collect(),
                ),
                _ => self.object(depth + 1, 4),
            }
        }
        fn object(&mut self, depth: usize, max: u64) -> Value {
            let mut fields: Vec<(String, Value)> = Vec::new();
            for _ in 0..self.next() % (max + 1) {
                let k = self.pick(STRINGS).to_string();
                if fields.iter().all(|(f, _)| *f != k) && k != "body" {
                    let v = self.value(depth);
                    fields.push((k, v));
                }
            }
            Value::Object(fields)
        }
    }

    const NUMBERS: &[&str] = &[
        "1",
        "1.5",
        "-3",
        "0",
        "-0",
        "1e20",
        "1E-7",
        "2.5e+3",
        "12345678901234567890",
        "-9223372036854775808",
        "0.1",
        "-0.0",
        "1.0",
        "1.50",
        "100",
    ];
    const STRINGS: &[&str] = &[
        "plain",
        "true",
        "false",
        "True",
        "123",
        "-5",
        "1.5",
        "1e3",
        "null",
        "Null",
        "~",
        "",
        "a: b",
        "a:b",
        "# not a comment",
        "a #b",
        " leading",
        "trailing ",
        "multi\nline",
        "multi\nline\n",
        "two\n\nblank",
        "crlf\r\nline",
        "tab\there",
        "yes",
        "no",
        "on",
        "0o17",
        "0x1F",
        "+12",
        "+.inf",
        ".inf",
        "-.inf",
        ".nan",
        ".5",
        "1.",
        "---",
        "...",
        "- item",
        "? q",
        ": c",
        "[a, b]",
        "{a: b}",
        "*alias",
        "&anchor",
        "!tag",
        "%dir",
        "@at",
        "`tick",
        "|",
        ">",
        "'single'",
        "\"double\"",
        "back\\slash",
        "café",
        "日本語",
        "emoji 😀",
        "nel\u{85}x",
        "ls\u{2028}x",
        "del\u{7f}x",
        "bom\u{feff}x",
        "nul\u{0}x",
        "bell\u{7}",
        "2024-05-01",
        "2024-05-01T10:00:00Z",
        "key",
        "name",
        "body2",
        "=",
        "<<",
        "a,b",
    ];

    #[test]
    fn read_of_write_is_identity() {
        let mut g = Gen(7);
        for i in 0..1500 {
            let mut v = g.object(0, 6);
            let body = match i % 4 {
                0 => "plain body\n".to_string(),
                1 => "crlf body\r\nline 2\r\n".to_string(),
                2 => String::new(),
                _ => format!("{}\n---\n{}", g.pick(STRINGS), g.pick(STRINGS)),
            };
            if let Value::Object(f) = &mut v {
                f.push(("body".into(), s(&body)));
            }
            let text =
                render(&v, "body", 128).unwrap_or_else(|e| panic!("cannot write {v:?}: {e}"));
            let back = parse(&text).unwrap_or_else(|e| panic!("{e:?} in\n{text}"));
            assert_eq!(back, v, "\n{text}");
        }
    }

    #[test]
    fn falls_back_to_quoted_yaml_only_when_needed() {
        let text = render(
            &obj(&[("a", s("x")), ("b", s("0o17")), ("body", s(""))]),
            "body",
            128,
        );
        // yaml-rust2 writes 0o17 unquoted, which reads back as 15: the quoted form is used.
        assert_eq!(text.unwrap(), "---\n\"a\": \"x\"\n\"b\": \"0o17\"\n---\n");
        let text = render(
            &obj(&[("a", s("x")), ("n", n("-0")), ("body", s(""))]),
            "body",
            128,
        );
        assert_eq!(text.unwrap(), "---\n\"a\": \"x\"\n\"n\": !!float -0\n---\n");
        let text = render(
            &obj(&[
                ("a", s("x")),
                ("l", Value::Array(vec![n("1")])),
                ("body", s("")),
            ]),
            "body",
            128,
        );
        assert_eq!(text.unwrap(), "---\na: x\nl:\n  - 1\n---\n");
    }

    #[test]
    fn specific_values_round_trip() {
        let v = obj(&[
            ("one", n("1")),
            ("one_half", n("1.5")),
            ("minus_three", n("-3")),
            ("t", s("true")),
            ("num", s("123")),
            ("nul", s("null")),
            ("empty", s("")),
            ("colon", s("a: b")),
            ("lines", s("first\nsecond\n")),
            (
                "nested",
                obj(&[(
                    "list",
                    Value::Array(vec![obj(&[("a", n("1"))]), Value::Array(vec![])]),
                )]),
            ),
            ("map", obj(&[])),
            ("uni", s("Grüße, 世界")),
            ("body", s("Hello {{name}}\n")),
        ]);
        let text = render(&v, "body", 128).unwrap();
        assert_eq!(parse(&text).unwrap(), v, "{text}");
        assert!(text.contains("t: \"true\"\n"), "{text}");
        assert!(text.contains("num: \"123\"\n"), "{text}");
        assert!(text.contains("one_half: 1.5\n"), "{text}");
        assert!(text.contains("lines: |\n  first\n  second\n"), "{text}");
        // A string a literal block cannot hold exactly is quoted instead.
        let v = obj(&[("a", s("x\n\n")), ("b", s("  lead\nx")), ("body", s(""))]);
        let text = render(&v, "body", 128).unwrap();
        assert_eq!(parse(&text).unwrap(), v, "{text}");
        assert!(text.starts_with("---\na: \"x\\n\\n\"\n"), "{text}");
    }

    #[test]
    fn records_that_cannot_be_written() {
        assert!(render(&s("x"), "body", 128).is_err());
        assert!(render(&obj(&[("a", n("1"))]), "body", 128).is_err());
        assert!(render(&obj(&[("body", n("1"))]), "body", 128).is_err());
    }

    fn write_file(path: &Path, bytes: &[u8]) {
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, bytes).unwrap();
    }

    fn read_all(
        spec: &SourceSpec,
    ) -> (
        Vec<Result<crate::source::Record, Problem>>,
        Layout,
        u64,
        u64,
    ) {
        let mut r = open(spec).unwrap();
        let mut out = Vec::new();
        while let Some(rec) = r.next_record() {
            out.push(rec);
        }
        let (read, total) = (r.bytes_read(), r.total_bytes());
        (out, r.finish().unwrap(), read, total)
    }

    #[test]
    fn reads_a_folder_and_reports_bad_files() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("prompts");
        write_file(&dir.join("b.prompty"), b"---\nname: b\n---\nBody B\n");
        write_file(
            &dir.join("a.prompty"),
            b"\xEF\xBB\xBF---\nname: a\n---\nBody A\n",
        );
        write_file(&dir.join("c.prompty"), b"---\nname: [\n---\n");
        write_file(&dir.join("d.prompty"), b"");
        write_file(&dir.join("e.prompty"), b"---\nname: \xff\n---\n");
        write_file(&dir.join("notes.txt"), b"ignored");
        write_file(&dir.join("sub/f.prompty"), b"---\nname: f\n---\n");
        let (recs, layout, read, total) = read_all(&spec(&dir, "prompts", "*.prompty", false));
        assert_eq!(recs.len(), 5);
        let a = recs[0].as_ref().unwrap();
        assert_eq!(a.key.as_deref(), Some("a.prompty"));
        assert_eq!(a.value, obj(&[("name", s("a")), ("body", s("Body A\n"))]));
        assert_eq!(
            (a.origin.offset, a.origin.len, a.origin.line, a.origin.col),
            (7, 8, 2, 1)
        );
        assert_eq!(&*a.origin.file, dir.join("a.prompty").as_path());
        assert!(layout.bom);
        assert_eq!(recs[1].as_ref().unwrap().key.as_deref(), Some("b.prompty"));
        let c = recs[2].as_ref().unwrap_err();
        assert_eq!(c.file, "prompts/c.prompty");
        assert!(c.pos.is_some() && c.message.starts_with("YAML"), "{c}");
        let d = recs[3].as_ref().unwrap_err();
        assert_eq!(
            (d.file.as_str(), d.message.as_str()),
            ("prompts/d.prompty", "empty file")
        );
        let e = recs[4].as_ref().unwrap_err();
        assert_eq!(e.file, "prompts/e.prompty");
        assert_eq!(e.pos, Some((2, 7)));
        assert!(e.message.contains("UTF-8"));
        assert_eq!(read, total);
        let sizes: u64 = ["a", "b", "c", "d", "e"]
            .iter()
            .map(|f| {
                fs::metadata(dir.join(format!("{f}.prompty")))
                    .unwrap()
                    .len()
            })
            .sum();
        assert_eq!(total, sizes);
    }

    #[cfg(unix)]
    #[test]
    fn symlinks_leaving_the_folder_are_problems() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("prompts");
        write_file(&dir.join("a.prompty"), b"---\nname: a\n---\n");
        write_file(
            &tmp.path().join("outside/x.prompty"),
            b"---\nname: x\n---\n",
        );
        std::os::unix::fs::symlink(tmp.path().join("outside/x.prompty"), dir.join("x.prompty"))
            .unwrap();
        std::os::unix::fs::symlink("a.prompty", dir.join("alias.prompty")).unwrap();
        std::os::unix::fs::symlink(tmp.path().join("outside"), dir.join("outdir")).unwrap();
        let (recs, ..) = read_all(&spec(&dir, "prompts", "*.prompty", true));
        let keys: Vec<String> = recs
            .iter()
            .map(|r| match r {
                Ok(r) => r.key.clone().unwrap(),
                Err(p) => format!(
                    "{}: {}",
                    p.file,
                    p.message.split(' ').take(4).collect::<Vec<_>>().join(" ")
                ),
            })
            .collect();
        assert_eq!(
            keys,
            [
                "a.prompty",
                "alias.prompty",
                "prompts/outdir: symlink leaves the source",
                "prompts/x.prompty: symlink leaves the source",
            ]
        );
    }

    /// Written by hand: a comment, quoting, a folded block, scalars the emitter would spell
    /// differently, CRLF line endings.
    const HANDWRITTEN: &str = "---\r\n# Interview prompt, reviewed 2024-11\r\nname: 'Customer interview'\r\ndescription: >\r\n  Asks a persona about\r\n  a product feature.\r\nmodel:\r\n  api: chat\r\n  configuration:\r\n    api_version: 2024-10-21   # pinned\r\n    azure_deployment: \"gpt-4o\"\r\n  parameters: {temperature: 0.20, max_tokens: 800}\r\nversion: 1.2\r\ntags: [ interview,  \"beta\" ]\r\n---\r\nsystem:\r\nYou are {{persona}}.\r\n";

    fn feed_of(
        recs: &[crate::source::Record],
    ) -> impl FnMut(usize, &mut crate::source::Emit) -> anyhow::Result<()> + '_ {
        move |_, emit| {
            recs.iter()
                .try_for_each(|r| emit(r.key.as_deref(), &r.value, &[]))
        }
    }

    #[test]
    fn front_matter_text_is_kept_while_it_matches() {
        let tmp = tempfile::tempdir().unwrap();
        let src = tmp.path().join("prompts");
        write_file(&src.join("a.prompty"), HANDWRITTEN.as_bytes());
        let mut with_bom = b"\xEF\xBB\xBF".to_vec();
        with_bom.extend_from_slice(b"---\nname:   \"b\"   # quoted\n---\nBody\n");
        write_file(&src.join("sub/b.prompty"), &with_bom);
        let sp = spec(&src, "prompts", "*.prompty", true);
        let (recs, layout, ..) = read_all(&sp);
        let recs: Vec<_> = recs.into_iter().map(Result::unwrap).collect();
        let a = &recs[0].value;
        assert_eq!(a.get("version"), Some(&n("1.2")));
        assert_eq!(
            a.get("description"),
            Some(&s("Asks a persona about a product feature.\n"))
        );
        let head_end = HANDWRITTEN.find("---\r\nsystem").unwrap() + 5;
        let fa = &layout.files["a.prompty"];
        assert_eq!(fa.head.as_deref(), Some(&HANDWRITTEN[..head_end]));
        assert!(!fa.bom && fa.style.is_none());
        let fb = &layout.files["sub/b.prompty"];
        assert!(fb.bom);
        assert_eq!(
            fb.head.as_deref(),
            Some("---\nname:   \"b\"   # quoted\n---\n")
        );

        // Through the database as JSON, then back to files: byte for byte.
        let layout: Layout =
            serde_json::from_str(&serde_json::to_string(&layout).unwrap()).unwrap();
        let out = tmp.path().join("out");
        write(&sp, &layout, &out, &mut feed_of(&recs)).unwrap();
        assert_eq!(
            String::from_utf8(fs::read(out.join("a.prompty")).unwrap()).unwrap(),
            HANDWRITTEN
        );
        assert_eq!(fs::read(out.join("sub/b.prompty")).unwrap(), with_bom);

        // A body edited in the database keeps the front matter text.
        let mut edited = recs.clone();
        if let Value::Object(f) = &mut edited[0].value {
            f.last_mut().unwrap().1 = s("new body\r\n");
        }
        let out2 = tmp.path().join("out2");
        write(&sp, &layout, &out2, &mut feed_of(&edited)).unwrap();
        assert_eq!(
            String::from_utf8(fs::read(out2.join("a.prompty")).unwrap()).unwrap(),
            format!("{}new body\r\n", &HANDWRITTEN[..head_end])
        );
    }

    #[test]
    fn an_edited_front_matter_is_rendered_again() {
        let tmp = tempfile::tempdir().unwrap();
        let src = tmp.path().join("prompts");
        write_file(&src.join("a.prompty"), HANDWRITTEN.as_bytes());
        let sp = spec(&src, "prompts", "*.prompty", false);
        let (recs, layout, ..) = read_all(&sp);
        let recs: Vec<_> = recs.into_iter().map(Result::unwrap).collect();
        let Value::Object(orig) = &recs[0].value else {
            panic!()
        };

        let check = |value: Value, name: &str| {
            let mut edited = recs.clone();
            edited[0].value = value.clone();
            let out = tmp.path().join(name);
            write(&sp, &layout, &out, &mut feed_of(&edited)).unwrap();
            let text = String::from_utf8(fs::read(out.join("a.prompty")).unwrap()).unwrap();
            assert!(
                !text.contains("# pinned"),
                "stale front matter written:\n{text}"
            );
            assert_eq!(parse(&text).unwrap(), value, "{text}");
        };

        // A value changed (the same text would read back as 1.2).
        let mut fields = orig.clone();
        fields.iter_mut().find(|(k, _)| k == "version").unwrap().1 = n("1.3");
        check(Value::Object(fields), "changed");
        // A field removed.
        let fields: Vec<_> = orig.iter().filter(|(k, _)| k != "tags").cloned().collect();
        check(Value::Object(fields), "removed");
        // The same fields in another order.
        let mut fields = orig.clone();
        fields.swap(0, 1);
        check(Value::Object(fields), "reordered");
        // A nested value changed.
        let mut fields = orig.clone();
        if let Value::Object(model) = &mut fields.iter_mut().find(|(k, _)| k == "model").unwrap().1
        {
            model[0].1 = s("completion");
        }
        check(Value::Object(fields), "nested");
    }

    #[test]
    fn write_then_read_a_folder() {
        let tmp = tempfile::tempdir().unwrap();
        let src = tmp.path().join("prompts");
        write_file(&src.join("basic.prompty"), TYPICAL.as_bytes());
        write_file(
            &src.join("team/crlf.prompty"),
            b"---\r\nname: c\r\n---\r\nHi\r\n",
        );
        write_file(
            &src.join("team/deep/x.prompty"),
            b"---\nname: x\nn: 1.5\n---\n",
        );
        let sp = spec(&src, "prompts", "*.prompty", true);
        let (recs, layout, ..) = read_all(&sp);
        let recs: Vec<_> = recs.into_iter().map(Result::unwrap).collect();
        let keys: Vec<_> = recs.iter().map(|r| r.key.clone().unwrap()).collect();
        assert_eq!(
            keys,
            ["basic.prompty", "team/crlf.prompty", "team/deep/x.prompty"]
        );

        let out = tmp.path().join("out");
        let mut feed = |m: usize, emit: &mut crate::source::Emit| {
            assert_eq!(m, 0);
            for r in &recs {
                emit(r.key.as_deref(), &r.value, &[])?;
            }
            Ok(())
        };
        write(&sp, &layout, &out, &mut feed).unwrap();
        assert_eq!(
            fs::read(out.join("team/crlf.prompty")).unwrap(),
            b"---\r\nname: c\r\n---\r\nHi\r\n"
        );
        let (again, ..) = read_all(&spec(&out, "out", "*.prompty", true));
        let again: Vec<_> = again.into_iter().map(Result::unwrap).collect();
        assert_eq!(again.len(), 3);
        for (a, b) in recs.iter().zip(&again) {
            assert_eq!((&a.key, &a.value), (&b.key, &b.value));
        }

        // Keys that would leave the folder are refused.
        for bad in [
            "../x.prompty",
            "/etc/x.prompty",
            "a\\b.prompty",
            "a//b.prompty",
        ] {
            let v = obj(&[("body", s(""))]);
            let mut feed = |_: usize, emit: &mut crate::source::Emit| emit(Some(bad), &v, &[]);
            assert!(write(&sp, &layout, &out, &mut feed).is_err(), "{bad}");
        }
        let _ = PathBuf::new();
    }
}
