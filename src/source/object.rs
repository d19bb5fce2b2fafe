//! `{ "key1": {...}, "key2": {...} }`: records keyed by the object key, and TinyDB tables
//! (`{"1": {...}}`), whose keys are integer document ids.

use std::collections::HashSet;
use std::io::Write;
use std::path::Path;

use super::input::{Body, BodyReader, Input, write_atomically};
use super::{Feed, Format, Layout, Record, RecordReader, SourceSpec};
use crate::error::Problem;
use crate::json::JsonPath;
use crate::json::write::{close, separator, write_record, write_string};
use crate::source::Style;

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    First,
    AfterRecord,
    Done,
}

/// Is `k` a TinyDB document id as TinyDB writes them (`str(int)`, non-negative)?
pub(crate) fn is_doc_id(k: &str) -> bool {
    !k.is_empty()
        && k.bytes().all(|b| b.is_ascii_digit())
        && (k == "0" || !k.starts_with('0'))
        && k.parse::<u64>().is_ok()
}

/// Streams the records of an object whose `{` is next in the input.
pub(crate) struct ObjectBody {
    member: usize,
    base: JsonPath,
    tinydb: bool,
    seen: HashSet<String>,
    state: State,
}

impl ObjectBody {
    pub fn begin(
        inp: &mut Input,
        member: usize,
        base: JsonPath,
        tinydb: bool,
    ) -> Result<ObjectBody, Problem> {
        let empty = inp.sc.expect(b'{').and_then(|()| inp.sc.eat(b'}'));
        let empty = empty.map_err(|e| inp.syntax(e, base.clone()))?;
        let state = if empty { State::Done } else { State::First };
        Ok(ObjectBody {
            member,
            base,
            tinydb,
            seen: HashSet::new(),
            state,
        })
    }

    pub fn next(&mut self, inp: &mut Input) -> Option<Result<Record, Problem>> {
        if inp.failed {
            return None;
        }
        match self.state {
            State::Done => return None,
            State::AfterRecord => match inp.sc.comma_or_end(b'}') {
                Ok(true) => {}
                Ok(false) => {
                    self.state = State::Done;
                    return None;
                }
                Err(e) => return Some(Err(inp.syntax(e, self.base.clone()))),
            },
            State::First => {}
        }
        self.state = State::AfterRecord;
        let (key, kpos) = match inp.sc.read_key() {
            Ok(k) => k,
            Err(e) => return Some(Err(inp.syntax(e, self.base.clone()))),
        };
        let path = self.base.key(&key);
        let (value, vp, compact) = match inp.capture_record(&path, self.member) {
            Ok(x) => x,
            Err(p) => return Some(Err(p)),
        };
        if self.tinydb && !is_doc_id(&key) {
            let msg = format!("TinyDB document id {key:?} is not a non-negative integer");
            return Some(Err(inp.problem(kpos, path, msg)));
        }
        if !self.seen.insert(key.clone()) {
            let msg = if self.tinydb {
                format!("duplicate TinyDB document id {key:?}")
            } else {
                format!("duplicate key {key:?}")
            };
            return Some(Err(inp.problem(kpos, path, msg)));
        }
        let what = if self.tinydb {
            "TinyDB document"
        } else {
            "record"
        };
        if let Err(p) = inp.require_object(&value, vp, &path, what) {
            return Some(Err(p));
        }
        let origin = inp.origin(vp, path);
        Some(Ok(Record {
            member: self.member,
            key: Some(key),
            value,
            origin,
            compact,
        }))
    }
}

pub(crate) fn open(
    spec: &SourceSpec,
    bytes: Option<super::Bytes>,
) -> Result<Box<dyn RecordReader>, Problem> {
    let tinydb = spec.members[0].format == Format::Tinydb;
    let mut inp = Input::open(spec, bytes)?;
    inp.not_empty("a JSON object")?;
    if inp.sc.peek_non_ws().ok().flatten() != Some(b'{') {
        let e = inp.sc.expected("a JSON object", "");
        return Err(inp.syntax(e, JsonPath::root()));
    }
    let body = ObjectBody::begin(&mut inp, 0, JsonPath::root(), tinydb)?;
    Ok(Box::new(BodyReader::new(inp, body, tinydb)))
}

impl Body for ObjectBody {
    fn next(&mut self, inp: &mut Input) -> Option<Result<Record, Problem>> {
        ObjectBody::next(self, inp)
    }
}

/// Writes the records of `member` as an object keyed by their keys, at nesting `level`.
pub(crate) fn write_body(
    out: &mut dyn Write,
    style: &Style,
    level: usize,
    member: usize,
    tinydb: bool,
    feed: &mut Feed,
) -> anyhow::Result<()> {
    out.write_all(b"{")?;
    let mut n = 0usize;
    feed(member, &mut |key, v, texts| {
        let Some(key) = key else {
            anyhow::bail!("record {} has no key to write it under", n + 1);
        };
        if tinydb && !is_doc_id(key) {
            anyhow::bail!("TinyDB document id {key:?} is not a non-negative integer");
        }
        separator(out, style, level + 1, n == 0)?;
        write_string(out, key, style.ascii)?;
        out.write_all(style.colon.as_bytes())?;
        write_record(out, v, texts, style, level + 1)?;
        n += 1;
        Ok(())
    })?;
    if n > 0 {
        close(out, style, level)?;
    }
    out.write_all(b"}")?;
    Ok(())
}

pub(crate) fn write(
    spec: &SourceSpec,
    layout: &Layout,
    out_path: &Path,
    feed: &mut Feed,
) -> anyhow::Result<()> {
    let tinydb = spec
        .members
        .first()
        .is_some_and(|m| m.format == Format::Tinydb);
    write_atomically(out_path, |out| {
        if layout.bom {
            out.write_all(crate::json::parse::BOM)?;
        }
        write_body(out, &layout.style, 0, 0, tinydb, feed)?;
        if layout.style.trailing_newline {
            out.write_all(layout.style.newline())?;
        }
        Ok(())
    })
}
