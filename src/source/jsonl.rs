//! JSON Lines: one record per line; blank lines are skipped and CRLF line ends accepted.

use std::path::Path;

use super::input::{Input, write_atomically};
use super::{CompactFields, Feed, Layout, Record, RecordReader, SourceSpec};
use crate::error::Problem;
use crate::json::parse::parse_record;
use crate::json::scan::{ValuePos, offset_pos};
use crate::json::write::write_record;
use crate::json::{JsonPath, line_col};

pub(crate) struct JsonlReader {
    inp: Input,
    index: usize,
}

pub(crate) fn open(
    spec: &SourceSpec,
    bytes: Option<super::Bytes>,
) -> Result<Box<dyn RecordReader>, Problem> {
    let inp = Input::open(spec, bytes)?;
    Ok(Box::new(JsonlReader { inp, index: 0 }))
}

impl RecordReader for JsonlReader {
    fn next_record(&mut self) -> Option<Result<Record, Problem>> {
        let inp = &mut self.inp;
        loop {
            if inp.failed {
                return None;
            }
            let start = match inp.sc.read_line(&mut inp.buf) {
                Ok(Some(p)) => p,
                Ok(None) => return None,
                Err(e) => return Some(Err(inp.syntax(e, JsonPath::root()))),
            };
            let Some(first) = inp
                .buf
                .iter()
                .position(|c| !matches!(c, b' ' | b'\t' | b'\r'))
            else {
                continue;
            };
            let path = JsonPath::root().index(self.index);
            self.index += 1;
            // The record's text: the line without its leading and trailing blanks.
            let last = inp
                .buf
                .iter()
                .rposition(|c| !matches!(c, b' ' | b'\t' | b'\r'))
                .unwrap_or(first);
            let (l, c) = line_col(&inp.buf, first);
            let vp = ValuePos {
                start: offset_pos(start, first as u64, l, c),
                len: (last + 1 - first) as u64,
            };
            let (value, compact) =
                match parse_record(&inp.buf, inp.max_depth, 0, &inp.compact.of(0)) {
                    Ok(v) => {
                        inp.note_ascii();
                        v
                    }
                    Err(e) => {
                        inp.failed = true;
                        let (l, c) = line_col(&inp.buf, e.offset);
                        let pos = offset_pos(start, e.offset as u64, l, c);
                        return Some(Err(inp.problem(pos, path.join(&e.path), e.message)));
                    }
                };
            if let Err(p) = inp.require_object(&value, vp, &path, "record") {
                return Some(Err(p));
            }
            let origin = inp.origin(vp, path);
            return Some(Ok(Record {
                member: 0,
                key: None,
                value,
                origin,
                compact,
            }));
        }
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
        let mut layout = self.inp.layout(Vec::new(), false);
        layout.style.indent = None;
        Ok(layout)
    }
}

pub(crate) fn write(
    _spec: &SourceSpec,
    layout: &Layout,
    out_path: &Path,
    feed: &mut Feed,
) -> anyhow::Result<()> {
    let mut style = layout.style.clone();
    style.indent = None;
    write_atomically(out_path, |out| {
        if layout.bom {
            out.write_all(crate::json::parse::BOM)?;
        }
        let mut n = 0usize;
        feed(0, &mut |_key, v, texts| {
            if n > 0 {
                out.write_all(style.newline())?;
            }
            write_record(out, v, texts, &style, 0)?;
            n += 1;
            Ok(())
        })?;
        if n > 0 && style.trailing_newline {
            out.write_all(style.newline())?;
        }
        Ok(())
    })
}
