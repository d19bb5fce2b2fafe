//! `[ {...}, {...} ]`: a file that is one array of records (also the body of an array member
//! of a db.json).

use std::io::Write;
use std::path::Path;

use super::input::{Body, BodyReader, Input, write_atomically};
use super::{Feed, Layout, Record, RecordReader, SourceSpec};
use crate::error::Problem;
use crate::json::JsonPath;
use crate::json::write::{close, separator, write_record};
use crate::source::Style;

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    /// Just inside the `[`, before the first record.
    First,
    /// After a record: a `,` or the `]` comes next.
    AfterRecord,
    Done,
}

/// Streams the records of an array whose `[` is next in the input.
pub(crate) struct ArrayBody {
    member: usize,
    base: JsonPath,
    index: usize,
    state: State,
}

impl ArrayBody {
    /// Consumes the `[` (which the caller has seen is next).
    pub fn begin(inp: &mut Input, member: usize, base: JsonPath) -> Result<ArrayBody, Problem> {
        let empty = inp.sc.expect(b'[').and_then(|()| inp.sc.eat(b']'));
        let empty = empty.map_err(|e| inp.syntax(e, base.clone()))?;
        Ok(ArrayBody {
            member,
            base,
            index: 0,
            state: if empty { State::Done } else { State::First },
        })
    }

    /// The next record, or `None` once the closing `]` is consumed (or after a syntax error).
    pub fn next(&mut self, inp: &mut Input) -> Option<Result<Record, Problem>> {
        if inp.failed {
            return None;
        }
        match self.state {
            State::Done => return None,
            State::AfterRecord => match inp.sc.comma_or_end(b']') {
                Ok(true) => {}
                Ok(false) => {
                    self.state = State::Done;
                    return None;
                }
                Err(e) => return Some(Err(inp.syntax(e, self.base.clone()))),
            },
            State::First => {}
        }
        let path = self.base.index(self.index);
        self.index += 1;
        self.state = State::AfterRecord;
        let (value, vp, compact) = match inp.capture_record(&path, self.member) {
            Ok(x) => x,
            Err(p) => return Some(Err(p)),
        };
        if let Err(p) = inp.require_object(&value, vp, &path, "record") {
            return Some(Err(p));
        }
        let origin = inp.origin(vp, path);
        Some(Ok(Record {
            member: self.member,
            key: None,
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
    let mut inp = Input::open(spec, bytes)?;
    inp.not_empty("a JSON array")?;
    if inp.sc.peek_non_ws().ok().flatten() != Some(b'[') {
        let e = inp.sc.expected("a JSON array", "");
        return Err(inp.syntax(e, JsonPath::root()));
    }
    let body = ArrayBody::begin(&mut inp, 0, JsonPath::root())?;
    Ok(Box::new(BodyReader::new(inp, body, false)))
}

impl Body for ArrayBody {
    fn next(&mut self, inp: &mut Input) -> Option<Result<Record, Problem>> {
        ArrayBody::next(self, inp)
    }
}

/// Writes the records of `member` as an array at nesting `level`.
pub(crate) fn write_body(
    out: &mut dyn Write,
    style: &Style,
    level: usize,
    member: usize,
    feed: &mut Feed,
) -> anyhow::Result<()> {
    out.write_all(b"[")?;
    let mut n = 0usize;
    feed(member, &mut |_key, v, texts| {
        separator(out, style, level + 1, n == 0)?;
        write_record(out, v, texts, style, level + 1)?;
        n += 1;
        Ok(())
    })?;
    if n > 0 {
        close(out, style, level)?;
    }
    out.write_all(b"]")?;
    Ok(())
}

pub(crate) fn write(
    _spec: &SourceSpec,
    layout: &Layout,
    out_path: &Path,
    feed: &mut Feed,
) -> anyhow::Result<()> {
    write_atomically(out_path, |out| {
        if layout.bom {
            out.write_all(crate::json::parse::BOM)?;
        }
        write_body(out, &layout.style, 0, 0, feed)?;
        if layout.style.trailing_newline {
            out.write_all(layout.style.newline())?;
        }
        Ok(())
    })
}
