//! What the single-file readers share: the open file and its scanner, turning scanner and
//! parser errors into [`Problem`]s with file, line:column and JSON path, capturing and parsing
//! one record, and the layout facts every file has (style, BOM, trailing newline). Also the
//! atomic file writing the writers share.

use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::path::Path;
use std::sync::Arc;

use anyhow::Context;

use super::{Bytes, CompactFields, Layout, Origin, Record, RecordReader, SourceSpec, TopLevel};
use crate::error::Problem;
use crate::json::parse::{CompactMember, Opaque, parse_record};
use crate::json::scan::{Pos, ScanError, Scanner, ValuePos, offset_pos};
use crate::json::write::detect;
use crate::json::{JsonPath, Value, line_col};

/// How much of the start of a file `detect_style` looks at.
pub(crate) const HEAD_SIZE: usize = 64 * 1024;

/// The capacity of the record buffer kept from one record to the next.
const KEPT_BUF: usize = 1 << 20;

pub(crate) struct Input {
    pub sc: Scanner<Tail>,
    pub file: Arc<Path>,
    pub display: String,
    pub total: u64,
    pub head: Vec<u8>,
    pub max_depth: usize,
    /// Reused buffer for captured values.
    pub buf: Vec<u8>,
    /// A syntax error was reported: nothing more can be read.
    pub failed: bool,
    /// Whether non-ASCII text is written as `\u` escapes (`Some(true)`) or raw (`Some(false)`),
    /// once the text has shown either; `None` while it has been all ASCII.
    pub ascii: Option<bool>,
    /// Members of records to give as text ([`Input::capture_record`]).
    pub compact: CompactFields,
}

/// The reader under the scanner: the file (or the bytes supplied for it), remembering the last
/// byte read so the file's trailing newline is known once the scanner has reached the end.
pub(crate) struct Tail {
    r: Box<dyn Read + Send>,
    last: Option<u8>,
}

impl Read for Tail {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.r.read(buf)?;
        if n > 0 {
            self.last = Some(buf[n - 1]);
        }
        Ok(n)
    }
}

impl Input {
    /// Opens `spec.path`, or reads `bytes` in its place when given.
    pub fn open(spec: &SourceSpec, bytes: Option<Bytes>) -> Result<Input, Problem> {
        let display = spec.display.clone();
        let io = |what: &str, e: std::io::Error| {
            Problem::new(display.clone(), format!("cannot {what}: {e}"))
        };
        let (mut r, total): (Box<dyn Read + Send>, u64) = match bytes {
            Some(b) => (b.read, b.len),
            None => {
                let f = File::open(&spec.path).map_err(|e| io("open the file", e))?;
                let total = f
                    .metadata()
                    .map_err(|e| io("read the file's size", e))?
                    .len();
                (Box::new(f), total)
            }
        };
        let mut head = Vec::with_capacity(HEAD_SIZE.min(total as usize));
        (&mut r)
            .take(HEAD_SIZE as u64)
            .read_to_end(&mut head)
            .map_err(|e| io("read the file", e))?;
        // The head is read again by the scanner, from memory: the input is read once, in order.
        let again: Box<dyn Read + Send> = Box::new(std::io::Cursor::new(head.clone()).chain(r));
        let mut sc = Scanner::new(Tail {
            r: again,
            last: None,
        })
        .map_err(|e| scan_problem(&display, e, JsonPath::root()))?;
        sc.set_max_depth(spec.limits.max_depth);
        let d = detect(&head);
        let ascii = d.ascii_known.then_some(d.style.ascii);
        Ok(Input {
            sc,
            file: Arc::from(spec.path.as_path()),
            display,
            total,
            head,
            max_depth: spec.limits.max_depth,
            buf: Vec::new(),
            failed: false,
            ascii,
            compact: CompactFields::None,
        })
    }

    /// A problem at `pos` with `path`.
    pub fn problem(&self, pos: Pos, path: JsonPath, message: impl Into<String>) -> Problem {
        Problem::new(self.display.clone(), message)
            .at(pos.line, pos.col)
            .with_path(path)
    }

    /// A scanner error as a problem; marks the input failed (syntax errors end the reading).
    pub fn syntax(&mut self, e: ScanError, path: JsonPath) -> Problem {
        self.failed = true;
        scan_problem(&self.display, e, path)
    }

    /// Fails unless the file has something other than whitespace in it.
    pub fn not_empty(&mut self, expected: &str) -> Result<(), Problem> {
        match self.sc.peek_non_ws() {
            Ok(Some(_)) => Ok(()),
            Ok(None) => {
                self.failed = true;
                let pos = self.sc.position();
                Err(self.problem(
                    pos,
                    JsonPath::root(),
                    format!("empty file: expected {expected}"),
                ))
            }
            Err(e) => Err(self.syntax(e, JsonPath::root())),
        }
    }

    /// Captures the next value's text into `self.buf` and parses it. Syntax errors mark the
    /// input failed.
    pub fn capture(&mut self, path: &JsonPath) -> Result<(Value, ValuePos), Problem> {
        self.capture_as(path, &Opaque::None)
            .map(|(v, vp, _)| (v, vp))
    }

    /// [`Input::capture`] for a record of `member`: the members that [`Input::compact`] names
    /// come as text.
    pub fn capture_record(
        &mut self,
        path: &JsonPath,
        member: usize,
    ) -> Result<(Value, ValuePos, Vec<CompactMember>), Problem> {
        let compact = std::mem::take(&mut self.compact);
        let got = self.capture_as(path, &compact.of(member));
        self.compact = compact;
        got
    }

    fn capture_as(
        &mut self,
        path: &JsonPath,
        opaque: &Opaque,
    ) -> Result<(Value, ValuePos, Vec<CompactMember>), Problem> {
        let depth = self.sc.depth();
        let vp = match self.sc.capture_value(&mut self.buf) {
            Ok(vp) => vp,
            Err(e) => return Err(self.syntax(e, path.clone())),
        };
        match parse_record(&self.buf, self.max_depth, depth, opaque) {
            Ok((v, compact)) => {
                self.note_ascii();
                if self.buf.capacity() > KEPT_BUF {
                    // A large record's text is not kept for the next records: it would stay
                    // beside the record's tree, and its column texts, while they are stored.
                    self.buf = Vec::new();
                }
                Ok((v, vp, compact))
            }
            Err(mut e) => {
                self.failed = true;
                if depth > 0 && e.message == "trailing characters after the JSON value" {
                    // Inside a container (`[1x]`) this is not the end of the document.
                    let found = crate::json::parse::describe_at(&self.buf, e.offset);
                    e.message = format!("unexpected {found} after the value");
                }
                let (l, c) = line_col(&self.buf, e.offset);
                let pos = offset_pos(vp.start, e.offset as u64, l, c);
                Err(self.problem(pos, path.join(&e.path), e.message))
            }
        }
    }

    /// Looks for the first evidence of how non-ASCII text is written, in `self.buf` (text that
    /// parsed), when the head of the file had none.
    pub fn note_ascii(&mut self) {
        if self.ascii.is_some() {
            return;
        }
        if self.buf.iter().fold(0u8, |a, &b| a | b) >= 0x80 {
            self.ascii = Some(false);
            return;
        }
        // All ASCII: a `\u` escape of a non-ASCII character says the writer escapes them.
        let b = &self.buf[..];
        for k in memchr::memmem::find_iter(b, b"\\u") {
            // Only a backslash that starts an escape (not one escaped itself) counts.
            let before = b[..k].iter().rev().take_while(|&&c| c == b'\\').count();
            let hex = b
                .get(k + 2..k + 6)
                .and_then(|h| std::str::from_utf8(h).ok());
            let code = hex.and_then(|h| u16::from_str_radix(h, 16).ok());
            if before % 2 == 0 && code.is_some_and(|n| n >= 0x80) {
                self.ascii = Some(true);
                return;
            }
        }
    }

    pub fn origin(&self, vp: ValuePos, path: JsonPath) -> Origin {
        Origin {
            file: self.file.clone(),
            offset: vp.start.offset,
            len: vp.len,
            line: vp.start.line,
            col: vp.start.col,
            path,
            row: None,
        }
    }

    /// Checks that a record is an object.
    pub fn require_object(
        &self,
        v: &Value,
        vp: ValuePos,
        path: &JsonPath,
        what: &str,
    ) -> Result<(), Problem> {
        match v {
            Value::Object(_) => Ok(()),
            other => Err(self.problem(
                vp.start,
                path.clone(),
                format!("{what} is not an object (found {})", other.kind()),
            )),
        }
    }

    /// Checks that only whitespace follows the top-level value.
    pub fn end(&mut self) -> Result<(), Problem> {
        match self.sc.expect_end() {
            Ok(()) => Ok(()),
            Err(e) => Err(self.syntax(e, JsonPath::root())),
        }
    }

    /// The layout of the file. `tinydb`: a TinyDB file, which Python writes with
    /// `ensure_ascii=True` unless the text shows otherwise.
    pub fn layout(&self, members: Vec<TopLevel>, tinydb: bool) -> Layout {
        let mut style = detect(&self.head).style;
        // TinyDB writes with json.dumps' default, ensure_ascii=True.
        style.ascii = self.ascii.unwrap_or(tinydb);
        // Called once the scanner has reached the end of the input.
        style.trailing_newline = self.sc.reader().last == Some(b'\n');
        Layout {
            style,
            bom: self.sc.bom(),
            members,
            files: Default::default(),
            sqlite: None,
        }
    }
}

pub(crate) fn scan_problem(display: &str, e: ScanError, path: JsonPath) -> Problem {
    Problem::new(display.to_string(), e.message)
        .at(e.pos.line, e.pos.col)
        .with_path(path)
}

/// Writes a file through a temporary file in the target folder: written, flushed, fsynced, then
/// renamed over `out_path`, so a failure never leaves a half-written file behind.
pub(crate) fn write_atomically(
    out_path: &Path,
    body: impl FnOnce(&mut dyn Write) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    replace_atomically(out_path, |tmp| {
        let mut w = BufWriter::with_capacity(256 * 1024, tmp.as_file_mut());
        body(&mut w)?;
        w.flush()
            .with_context(|| format!("cannot write {}", out_path.display()))
    })
}

/// Makes `out_path` through a temporary file in its folder that `build` fills (by its handle or
/// its path: a SQLite database is written by a connection), then fsyncs it and renames it over
/// `out_path`; the temporary file is removed on failure.
pub(crate) fn replace_atomically(
    out_path: &Path,
    build: impl FnOnce(&mut tempfile::NamedTempFile) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let dir = match out_path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut tmp = tempfile::Builder::new()
        .prefix(".jsonlift-")
        .suffix(".tmp")
        .tempfile_in(&dir)
        .with_context(|| format!("cannot create a temporary file in {}", dir.display()))?;
    build(&mut tmp)?;
    tmp.as_file()
        .sync_all()
        .with_context(|| format!("cannot sync {}", out_path.display()))?;
    tmp.persist(out_path)
        .map_err(|e| e.error)
        .with_context(|| format!("cannot replace {}", out_path.display()))?;
    // Make the rename itself durable.
    #[cfg(unix)]
    if let Ok(d) = File::open(&dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// The records of a file's top-level array or keyed object, one at a time.
pub(crate) trait Body: Send {
    fn next(&mut self, inp: &mut Input) -> Option<Result<Record, Problem>>;
}

/// The reader of a file holding one top-level array or keyed object (`tinydb`: the file is a
/// TinyDB table, which its layout records).
pub(crate) struct BodyReader<B> {
    inp: Input,
    body: B,
    tinydb: bool,
    ended: bool,
}

impl<B: Body> BodyReader<B> {
    pub fn new(inp: Input, body: B, tinydb: bool) -> BodyReader<B> {
        BodyReader {
            inp,
            body,
            tinydb,
            ended: false,
        }
    }
}

impl<B: Body> RecordReader for BodyReader<B> {
    fn next_record(&mut self) -> Option<Result<Record, Problem>> {
        if let Some(r) = self.body.next(&mut self.inp) {
            return Some(r);
        }
        if self.inp.failed || self.ended {
            return None;
        }
        // After the last record: only whitespace may follow.
        self.ended = true;
        self.inp.end().err().map(Err)
    }
    fn bytes_read(&self) -> u64 {
        self.inp.sc.offset()
    }
    fn total_bytes(&self) -> u64 {
        self.inp.total
    }
    fn finish(self: Box<Self>) -> Result<Layout, Problem> {
        Ok(self.inp.layout(Vec::new(), self.tinydb))
    }
    fn give_compact(&mut self, which: CompactFields) {
        self.inp.compact = which;
    }
}
