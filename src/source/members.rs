//! Files holding several collections under top-level keys: json-server's `db.json` (arrays are
//! collections, objects documents) and TinyDB files (`{"_default": {"1": {...}}, "users": ...}`).
//! Keys no collection maps are kept as raw JSON text in the layout, so nothing is lost.

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::path::Path;

use super::array::ArrayBody;
use super::input::{Input, write_atomically};
use super::object::ObjectBody;
use super::{CompactFields, Feed, Format, Layout, Record, RecordReader, SourceSpec, TopLevel};
use crate::error::Problem;
use crate::json::write::{close, separator, write_string, write_value};
use crate::json::{JsonPath, parse};

enum State {
    /// Between top-level members (`first`: right after the opening `{`).
    Between {
        first: bool,
    },
    Array(ArrayBody),
    Object(ObjectBody),
    Done,
}

pub(crate) struct MembersReader {
    inp: Input,
    formats: Vec<Format>,
    by_name: HashMap<String, usize>,
    top: Vec<TopLevel>,
    seen: HashSet<String>,
    state: State,
    tinydb: bool,
}

/// What a member's first byte says it is, for messages.
fn kind_of(first: Option<u8>) -> &'static str {
    match first {
        Some(b'{') => "an object",
        Some(b'[') => "an array",
        Some(b'"') => "a string",
        Some(b't' | b'f') => "a boolean",
        Some(b'n') => "null",
        Some(b'-' | b'0'..=b'9') => "a number",
        _ => "something else",
    }
}

/// Maps member names to their index in `spec.members`, checking the formats fit in a file.
fn member_map(spec: &SourceSpec) -> Result<HashMap<String, usize>, Problem> {
    let mut by_name = HashMap::new();
    for (i, m) in spec.members.iter().enumerate() {
        let Some(name) = &m.name else {
            return Err(Problem::new(
                spec.display.clone(),
                "a file shared by several collections needs a `member` for each of them",
            ));
        };
        if matches!(m.format, Format::Jsonl | Format::Folder | Format::Prompty) {
            return Err(Problem::new(
                spec.display.clone(),
                format!(
                    "member {name:?}: a member of a JSON file cannot have format {:?}",
                    m.format
                )
                .to_lowercase(),
            ));
        }
        if by_name.insert(name.clone(), i).is_some() {
            return Err(Problem::new(
                spec.display.clone(),
                format!("two collections read member {name:?}"),
            ));
        }
    }
    Ok(by_name)
}

pub(crate) fn open(
    spec: &SourceSpec,
    bytes: Option<super::Bytes>,
) -> Result<Box<dyn RecordReader>, Problem> {
    let by_name = member_map(spec)?;
    let mut inp = Input::open(spec, bytes)?;
    inp.not_empty("a JSON object")?;
    if inp.sc.peek_non_ws().ok().flatten() != Some(b'{') {
        let e = inp.sc.expected("a JSON object holding the collections", "");
        return Err(inp.syntax(e, JsonPath::root()));
    }
    inp.sc
        .expect(b'{')
        .map_err(|e| inp.syntax(e, JsonPath::root()))?;
    let formats: Vec<Format> = spec.members.iter().map(|m| m.format).collect();
    let tinydb = formats.iter().all(|f| *f == Format::Tinydb);
    Ok(Box::new(MembersReader {
        inp,
        formats,
        by_name,
        top: Vec::new(),
        seen: HashSet::new(),
        state: State::Between { first: true },
        tinydb,
    }))
}

impl MembersReader {
    /// Steps to the next top-level member and starts reading it. `Ok(None)`: go on (the state
    /// says where); `Ok(Some(record))` for a document member.
    fn next_member(&mut self, first: bool) -> Result<Option<Record>, Problem> {
        let inp = &mut self.inp;
        let root = JsonPath::root();
        let more = if first {
            !inp.sc.eat(b'}').map_err(|e| inp.syntax(e, root.clone()))?
        } else {
            inp.sc
                .comma_or_end(b'}')
                .map_err(|e| inp.syntax(e, root.clone()))?
        };
        if !more {
            self.state = State::Done;
            inp.end()?;
            return Ok(None);
        }
        self.state = State::Between { first: false };
        let (key, kpos) = inp.sc.read_key().map_err(|e| inp.syntax(e, root.clone()))?;
        let path = root.key(&key);
        if !self.seen.insert(key.clone()) {
            inp.capture(&path)?;
            return Err(inp.problem(kpos, path, format!("duplicate key {key:?}")));
        }
        let Some(&member) = self.by_name.get(&key) else {
            inp.capture(&path)?;
            let text = String::from_utf8(inp.buf.clone()).expect("parsed text is UTF-8");
            self.top.push(TopLevel {
                key,
                unmapped: Some(text),
            });
            return Ok(None);
        };
        self.top.push(TopLevel {
            key: key.clone(),
            unmapped: None,
        });
        let format = self.formats[member];
        let next = inp
            .sc
            .peek_non_ws()
            .map_err(|e| inp.syntax(e, path.clone()))?;
        let (want, wanted) = match format {
            Format::Array => (b'[', "an array"),
            _ => (b'{', "an object"),
        };
        if next != Some(want) {
            let pos = inp.sc.position();
            let found = kind_of(next);
            if next.is_some() {
                // Step over it (a syntax error inside still ends the reading).
                inp.sc
                    .capture_value(&mut inp.buf)
                    .map_err(|e| inp.syntax(e, path.clone()))?;
            } else {
                let e = inp.sc.expected("a JSON value", "");
                return Err(inp.syntax(e, path));
            }
            let fmt = format!("{format:?}").to_lowercase();
            return Err(inp.problem(
                pos,
                path,
                format!("member {key:?} should be {wanted} (format {fmt}), found {found}"),
            ));
        }
        match format {
            Format::Array => self.state = State::Array(ArrayBody::begin(inp, member, path)?),
            Format::Object | Format::Tinydb => {
                let body = ObjectBody::begin(inp, member, path, format == Format::Tinydb)?;
                self.state = State::Object(body);
            }
            _ => {
                let (value, vp, compact) = inp.capture_record(&path, member)?;
                let origin = inp.origin(vp, path);
                return Ok(Some(Record {
                    member,
                    key: None,
                    value,
                    origin,
                    compact,
                }));
            }
        }
        Ok(None)
    }
}

impl RecordReader for MembersReader {
    fn next_record(&mut self) -> Option<Result<Record, Problem>> {
        loop {
            if self.inp.failed {
                return None;
            }
            let body = match &mut self.state {
                State::Done => return None,
                State::Array(body) => body.next(&mut self.inp),
                State::Object(body) => body.next(&mut self.inp),
                &mut State::Between { first } => match self.next_member(first) {
                    Ok(None) => continue,
                    Ok(Some(r)) => return Some(Ok(r)),
                    Err(p) => return Some(Err(p)),
                },
            };
            match body {
                Some(r) => return Some(r),
                None => self.state = State::Between { first: false },
            }
        }
    }
    fn bytes_read(&self) -> u64 {
        self.inp.sc.offset()
    }
    fn total_bytes(&self) -> u64 {
        self.inp.total
    }
    fn finish(self: Box<Self>) -> Result<Layout, Problem> {
        Ok(self.inp.layout(self.top, self.tinydb))
    }
    fn give_compact(&mut self, which: CompactFields) {
        self.inp.compact = which;
    }
}

pub(crate) fn write(
    spec: &SourceSpec,
    layout: &Layout,
    out_path: &Path,
    feed: &mut Feed,
) -> anyhow::Result<()> {
    let by_name = member_map(spec).map_err(|p| anyhow::anyhow!("{p}"))?;
    // The members in file order, then the collections the file did not have yet (if any
    // records).
    enum Entry<'a> {
        Unmapped(&'a str),
        Member(usize),
    }
    let mut entries: Vec<(&str, Entry)> = Vec::new();
    let mut placed = HashSet::new();
    for t in &layout.members {
        match (&t.unmapped, by_name.get(&t.key)) {
            (Some(text), _) => entries.push((&t.key, Entry::Unmapped(text))),
            (None, Some(&i)) => {
                placed.insert(i);
                entries.push((&t.key, Entry::Member(i)));
            }
            // A collection that no longer reads this member: nothing to write.
            (None, None) => {}
        }
    }
    for (i, m) in spec.members.iter().enumerate() {
        if let Some(name) = &m.name
            && !placed.contains(&i)
            && !entries.iter().any(|(k, _)| *k == name.as_str())
        {
            // Written only when it holds records now: a TinyDB table or db.json member the
            // file did not have must not appear from nowhere on a plain round trip.
            let mut any = false;
            feed(i, &mut |_, _, _| {
                any = true;
                Ok(())
            })?;
            if any {
                entries.push((name, Entry::Member(i)));
            }
        }
    }
    let style = &layout.style;
    let max_depth = spec.limits.max_depth;
    write_atomically(out_path, |out: &mut dyn Write| {
        if layout.bom {
            out.write_all(crate::json::parse::BOM)?;
        }
        out.write_all(b"{")?;
        for (n, (key, entry)) in entries.iter().enumerate() {
            separator(out, style, 1, n == 0)?;
            write_string(out, key, style.ascii)?;
            out.write_all(style.colon.as_bytes())?;
            match entry {
                Entry::Unmapped(text) => {
                    let v = parse(text.as_bytes(), max_depth).map_err(|e| {
                        anyhow::anyhow!("kept member {key:?} is not valid JSON: {e}")
                    })?;
                    write_value(out, &v, style, 1)?;
                }
                Entry::Member(i) => match spec.members[*i].format {
                    Format::Array => super::array::write_body(out, style, 1, *i, feed)?,
                    Format::Object => super::object::write_body(out, style, 1, *i, false, feed)?,
                    Format::Tinydb => super::object::write_body(out, style, 1, *i, true, feed)?,
                    _ => super::document::write_body(out, style, 1, *i, feed)?,
                },
            }
        }
        if !entries.is_empty() {
            close(out, style, 0)?;
        }
        out.write_all(b"}")?;
        if style.trailing_newline {
            out.write_all(style.newline())?;
        }
        Ok(())
    })
}
