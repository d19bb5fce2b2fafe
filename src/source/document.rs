//! `{...}`: a file that is one record (stats, settings).

use std::io::Write;
use std::path::Path;

use super::input::{Input, write_atomically};
use super::{CompactFields, Feed, Layout, Record, RecordReader, SourceSpec};
use crate::error::Problem;
use crate::json::write::{write_record, write_value};
use crate::json::{JsonPath, Value};
use crate::source::Style;

pub(crate) struct DocumentReader {
    inp: Input,
    done: bool,
}

pub(crate) fn open(
    spec: &SourceSpec,
    bytes: Option<super::Bytes>,
) -> Result<Box<dyn RecordReader>, Problem> {
    let mut inp = Input::open(spec, bytes)?;
    inp.not_empty("a JSON object")?;
    if inp.sc.peek_non_ws().ok().flatten() != Some(b'{') {
        let e = inp.sc.expected("a JSON object", "");
        return Err(inp.syntax(e, JsonPath::root()));
    }
    Ok(Box::new(DocumentReader { inp, done: false }))
}

impl RecordReader for DocumentReader {
    fn next_record(&mut self) -> Option<Result<Record, Problem>> {
        if self.done || self.inp.failed {
            return None;
        }
        self.done = true;
        let path = JsonPath::root();
        let (value, vp, compact) = match self.inp.capture_record(&path, 0) {
            Ok(x) => x,
            Err(p) => return Some(Err(p)),
        };
        if let Err(p) = self.inp.end() {
            return Some(Err(p));
        }
        let origin = self.inp.origin(vp, path);
        Some(Ok(Record {
            member: 0,
            key: None,
            value,
            origin,
            compact,
        }))
    }
    fn bytes_read(&self) -> u64 {
        self.inp.sc.offset()
    }
    fn total_bytes(&self) -> u64 {
        self.inp.total
    }
    fn give_compact(&mut self, which: CompactFields) {
        self.inp.compact = which;
    }
    fn finish(self: Box<Self>) -> Result<Layout, Problem> {
        Ok(self.inp.layout(Vec::new(), false))
    }
}

/// Writes the one record of `member` at nesting `level` (`{}` when there is none).
pub(crate) fn write_body(
    out: &mut dyn Write,
    style: &Style,
    level: usize,
    member: usize,
    feed: &mut Feed,
) -> anyhow::Result<()> {
    let mut n = 0usize;
    feed(member, &mut |_key, v, texts| {
        if n > 0 {
            anyhow::bail!("a document holds one record, got a second one");
        }
        write_record(out, v, texts, style, level)?;
        n += 1;
        Ok(())
    })?;
    if n == 0 {
        write_value(out, &Value::Object(Vec::new()), style, level)?;
    }
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
