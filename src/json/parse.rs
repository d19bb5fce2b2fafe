//! A strict RFC 8259 parser over a byte slice.
//!
//! It is iterative (an explicit stack of open containers, never recursion), so nesting depth
//! costs heap, not stack, and the depth limit is checked before a container is opened. Errors
//! carry the byte offset of the problem and the JSON path of the value being parsed, which the
//! stack gives for free. Numbers keep their source text; object keys keep their order and must
//! be unique.

use std::collections::HashSet;
use std::fmt;
use std::hash::{BuildHasher, BuildHasherDefault, Hasher, RandomState};

use super::value::{JsonPath, Number, Seg, Value};
use super::write::{COMPACT, Style, close, separator, write_string, write_value};

/// Why a text is not the JSON we accept, and where.
#[derive(Debug, Clone, PartialEq)]
pub struct ParseError {
    /// Byte offset of the problem in the parsed slice.
    pub offset: usize,
    /// JSON path of the value being parsed when the problem was found.
    pub path: JsonPath,
    pub message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {} (at byte {})",
            self.path, self.message, self.offset
        )
    }
}

impl std::error::Error for ParseError {}

/// The UTF-8 byte order mark.
pub const BOM: &[u8] = b"\xEF\xBB\xBF";

/// Objects with more keys than this switch from a linear duplicate check to a hash set.
const LINEAR_KEYS: usize = 16;

/// Parses exactly one JSON value from `bytes` (whitespace around it and a leading UTF-8 BOM are
/// allowed). Nesting deeper than `max_depth` arrays/objects is an error.
pub fn parse(bytes: &[u8], max_depth: usize) -> Result<Value, ParseError> {
    parse_nested(bytes, max_depth, 0)
}

/// [`parse`] for a value found inside `base_depth` containers of a larger text: the limit
/// applies to the whole text, so the value itself may nest `max_depth - base_depth` levels (the
/// message still names `max_depth`).
pub fn parse_nested(
    bytes: &[u8],
    max_depth: usize,
    base_depth: usize,
) -> Result<Value, ParseError> {
    parse_with(bytes, max_depth, base_depth, &Opaque::None).map(|(v, _)| v)
}

/// Which members of a record (a top-level object) [`parse_record`] gives as compact text.
pub enum Opaque<'k> {
    None,
    /// Members with these keys.
    Keys(&'k [String]),
    /// Every member (a syntax check that needs no values).
    All,
}

impl Opaque<'_> {
    fn wants(&self, key: &str) -> bool {
        match self {
            Opaque::None => false,
            Opaque::Keys(keys) => keys.iter().any(|k| k == key),
            Opaque::All => true,
        }
    }
}

/// A member of a record given as text: its index among the record's members, and its value's
/// [`to_compact_string`](super::to_compact_string) form.
pub type CompactMember = (usize, String);

/// [`parse_nested`] for a record whose `opaque` members hold arrays or objects that are only
/// stored as JSON text: those come back as compact text, never built as a tree (a tree takes
/// about six times the text's size), and the record holds an empty array in their place. The
/// result (and any error) is exactly that of [`parse_nested`] otherwise.
pub fn parse_record(
    bytes: &[u8],
    max_depth: usize,
    base_depth: usize,
    opaque: &Opaque,
) -> Result<(Value, Vec<CompactMember>), ParseError> {
    if matches!(opaque, Opaque::None) {
        return parse_nested(bytes, max_depth, base_depth).map(|v| (v, Vec::new()));
    }
    match parse_with(bytes, max_depth, base_depth, opaque) {
        Ok(x) => Ok(x),
        // The compact path does not name problems as the tree parser does (nor tell a rare
        // hash collision from a duplicate key): the tree parser decides, and says where.
        Err(_) => parse_nested(bytes, max_depth, base_depth).map(|v| (v, Vec::new())),
    }
}

/// Writes the JSON text `text` into `out` as [`write_value`] writes its tree in `style` at
/// `level`, without building the tree (a JSON column written back into its file); the error
/// of [`parse`] when it is not JSON that parses.
pub fn write_styled(
    out: &mut Vec<u8>,
    text: &str,
    style: &Style,
    level: usize,
    max_depth: usize,
) -> Result<(), ParseError> {
    let start = out.len();
    let mut p = Parser {
        b: text.as_bytes(),
        end: text.len(),
        i: 0,
        max_depth,
        full_depth: max_depth,
        stack: Vec::new(),
        values: Vec::new(),
        members: Vec::new(),
        opaque: &Opaque::None,
        compact: Vec::new(),
    };
    p.skip_ws();
    let styled = p.styled_value(out, style, level).is_ok() && {
        p.skip_ws();
        p.i == p.end
    };
    if !styled {
        // Whatever the styled path does not take as plain JSON, the tree parser decides.
        out.truncate(start);
        let v = parse(text.as_bytes(), max_depth)?;
        write_value(out, &v, style, level).expect("writing to a Vec cannot fail");
    }
    Ok(())
}

fn parse_with(
    bytes: &[u8],
    max_depth: usize,
    base_depth: usize,
    opaque: &Opaque,
) -> Result<(Value, Vec<CompactMember>), ParseError> {
    // Validating the whole text up front is much faster than checking every string, and lets
    // the string scanner slice without re-checking. Parsing then stops at the first invalid
    // byte: reaching it is reported as "invalid UTF-8" at its offset, so errors earlier in the
    // text still win.
    // simdutf8 checks several times faster than std on non-ASCII text; std finds the place.
    let end = match simdutf8::basic::from_utf8(bytes) {
        Ok(_) => bytes.len(),
        Err(_) => std::str::from_utf8(bytes).map_or_else(|e| e.valid_up_to(), |_| bytes.len()),
    };
    let start = if bytes.starts_with(BOM) { BOM.len() } else { 0 };
    // The scratch stacks are kept per thread between calls, so parsing record after record
    // does not grow them from nothing each time.
    let scratch = SCRATCH.with(|s| s.take());
    let mut p = Parser {
        b: bytes,
        end,
        i: start,
        max_depth: max_depth.saturating_sub(base_depth),
        full_depth: max_depth,
        stack: scratch.stack,
        values: scratch.values,
        members: scratch.members,
        opaque,
        compact: Vec::new(),
    };
    let result = p.run().map_err(|e| *e);
    let compact = std::mem::take(&mut p.compact);
    p.stack.clear();
    p.values.clear();
    p.members.clear();
    // Keep modest buffers only: one huge document should not pin its scratch memory.
    if p.values.capacity() <= SCRATCH_KEEP && p.members.capacity() <= SCRATCH_KEEP {
        let kept = Scratch {
            stack: p.stack,
            values: p.values,
            members: p.members,
        };
        SCRATCH.with(|s| s.set(kept));
    }
    result.map(|v| (v, compact))
}

/// Scratch stacks of scratch size up to this many entries are kept between calls.
const SCRATCH_KEEP: usize = 4096;

#[derive(Default)]
struct Scratch {
    stack: Vec<Frame>,
    values: Vec<Value>,
    members: Vec<(String, Value)>,
}

thread_local! {
    static SCRATCH: std::cell::Cell<Scratch> = std::cell::Cell::new(Scratch::default());
}

/// The duplicate-key sets hold keyed SipHash values of the keys ([`RandomState`]), already
/// mixed, so the set does not hash them again. Keyed, because a weak or fixed hash lets keys
/// that share a prefix (`item1`, `item2`, …) or keys crafted to collide (a request body) fall
/// into one bucket, and an object of n keys then costs n² comparisons.
type KeySet = HashSet<u64, BuildHasherDefault<IdHasher>>;

#[derive(Default)]
struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, _: &[u8]) {
        unreachable!("only u64 values are hashed")
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

fn key_hash(keys: &RandomState, k: &str) -> u64 {
    keys.hash_one(k)
}

/// An open container. Elements and members of all open containers live in two shared scratch
/// stacks (`Parser::values`, `Parser::members`) from `start` on, so a container's vector is
/// allocated once, at its exact size, when it closes.
enum Frame {
    Array {
        start: usize,
    },
    Object {
        start: usize,
        /// Hashes of the keys, once the object has grown past [`LINEAR_KEYS`], with the hash's
        /// key.
        seen: Option<(RandomState, KeySet)>,
    },
}

struct Parser<'a> {
    b: &'a [u8],
    /// End of the valid UTF-8 prefix (`b.len()` when the whole text is valid).
    end: usize,
    i: usize,
    /// Levels this value may nest.
    max_depth: usize,
    /// The limit as configured, for messages.
    full_depth: usize,
    stack: Vec<Frame>,
    values: Vec<Value>,
    /// Members of open objects; the last member of each holds a placeholder value while its
    /// value is being parsed.
    members: Vec<(String, Value)>,
    /// Members of the top-level object to give as text ([`parse_record`]), and those given.
    opaque: &'a Opaque<'a>,
    compact: Vec<CompactMember>,
}

/// `true` for the bytes JSON calls whitespace.
#[inline(always)]
fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\n' | b'\r' | b'\t')
}

/// Describes the byte at `i` for a message: `'}'`, `end of input`, `control character U+0001`.
pub(crate) fn describe_at(b: &[u8], i: usize) -> String {
    if i >= b.len() {
        return "end of input".to_string();
    }
    let c = b[i];
    if c < 0x20 || c == 0x7f {
        return format!("control character U+{c:04X}");
    }
    if c < 0x80 {
        return format!("'{}'", c as char);
    }
    let tail = &b[i..b.len().min(i + 4)];
    let valid = match std::str::from_utf8(tail) {
        Ok(s) => s,
        Err(e) => std::str::from_utf8(&tail[..e.valid_up_to()]).unwrap_or(""),
    };
    match valid.chars().next() {
        Some(ch) => format!("'{ch}'"),
        None => format!("byte 0x{c:02X}"),
    }
}

/// As [`describe_at`], for bytes that begin at the start of a file: a UTF-16 or UTF-32 byte
/// order mark there is named as such, with what to do about it.
pub(crate) fn describe_start(b: &[u8], i: usize) -> String {
    match foreign_encoding(b) {
        Some(enc) if i == 0 => format!(
            "a {enc} byte order mark (the file is {enc}; JSON files must be UTF-8: convert it, e.g. `iconv -f {enc} -t UTF-8`)"
        ),
        _ => describe_at(b, i),
    }
}

/// The encoding a file announces with a byte order mark other than UTF-8's (JSON is UTF-8 by
/// RFC 8259; a UTF-16 file would otherwise be reported as a stray byte 0xFF).
pub fn foreign_encoding(head: &[u8]) -> Option<&'static str> {
    if head.starts_with(b"\xFF\xFE\0\0") {
        Some("UTF-32LE")
    } else if head.starts_with(b"\0\0\xFE\xFF") {
        Some("UTF-32BE")
    } else if head.starts_with(b"\xFF\xFE") {
        Some("UTF-16LE")
    } else if head.starts_with(b"\xFE\xFF") {
        Some("UTF-16BE")
    } else {
        None
    }
}

/// Finds the first byte in `s` that is `"`, `\` or a control character (< 0x20), eight bytes at
/// a time.
#[inline(always)]
fn find_string_special(s: &[u8]) -> Option<usize> {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    let mut i = 0;
    while i + 8 <= s.len() {
        let x = u64::from_le_bytes(s[i..i + 8].try_into().unwrap());
        let q = x ^ (LO * b'"' as u64);
        let bs = x ^ (LO * b'\\' as u64);
        let zq = q.wrapping_sub(LO) & !q;
        let zb = bs.wrapping_sub(LO) & !bs;
        let ctl = x.wrapping_sub(LO * 0x20) & !x;
        let m = (zq | zb | ctl) & HI;
        if m != 0 {
            return Some(i + (m.trailing_zeros() / 8) as usize);
        }
        i += 8;
    }
    while i < s.len() {
        let c = s[i];
        if c == b'"' || c == b'\\' || c < 0x20 {
            return Some(i);
        }
        i += 1;
    }
    None
}

fn hex4(b: &[u8]) -> Option<u16> {
    let mut n: u16 = 0;
    for &c in b {
        let d = match c {
            b'0'..=b'9' => c - b'0',
            b'a'..=b'f' => c - b'a' + 10,
            b'A'..=b'F' => c - b'A' + 10,
            _ => return None,
        };
        n = n << 4 | d as u16;
    }
    Some(n)
}

enum Started {
    Scalar(Value),
    Opened,
}

impl<'a> Parser<'a> {
    /// The path of the value being parsed: one segment per open container among the first
    /// `upto` (the container's current element or key).
    fn path(&self, upto: usize) -> JsonPath {
        let mut segs = Vec::with_capacity(upto);
        for (j, f) in self.stack[..upto].iter().enumerate() {
            let above = &self.stack[j + 1..];
            match f {
                Frame::Array { start } => {
                    let end = above
                        .iter()
                        .find_map(|g| match g {
                            Frame::Array { start } => Some(*start),
                            _ => None,
                        })
                        .unwrap_or(self.values.len());
                    segs.push(Seg::Index(end - start));
                }
                Frame::Object { start, .. } => {
                    let end = above
                        .iter()
                        .find_map(|g| match g {
                            Frame::Object { start, .. } => Some(*start),
                            _ => None,
                        })
                        .unwrap_or(self.members.len());
                    if end > *start {
                        segs.push(Seg::Key(self.members[end - 1].0.clone()));
                    }
                }
            }
        }
        JsonPath(segs)
    }

    /// Errors are boxed inside the parser so that results stay small on the hot path.
    #[cold]
    fn err(&self, offset: usize, upto: usize, message: impl Into<String>) -> Box<ParseError> {
        Box::new(ParseError {
            offset,
            path: self.path(upto),
            message: message.into(),
        })
    }

    /// The error for running into the end of the valid text at `self.i`: either a truncated
    /// document or an invalid UTF-8 byte there.
    #[cold]
    fn end_err(&self, upto: usize, context: &str) -> Box<ParseError> {
        if self.end < self.b.len() {
            self.err(self.end, upto, "invalid UTF-8")
        } else {
            self.err(self.i, upto, format!("unexpected end of input {context}"))
        }
    }

    /// "expected X, found Y" at `self.i` (or the end-of-input variant).
    #[cold]
    fn expected(&self, upto: usize, what: &str, context: &str) -> Box<ParseError> {
        self.expected_at(self.i, upto, what, context)
    }

    #[cold]
    fn expected_at(&self, i: usize, upto: usize, what: &str, context: &str) -> Box<ParseError> {
        let sp = if context.is_empty() { "" } else { " " };
        if i >= self.end {
            if self.end < self.b.len() {
                return self.err(self.end, upto, "invalid UTF-8");
            }
            return self.err(
                i,
                upto,
                format!("unexpected end of input, expected {what}{sp}{context}"),
            );
        }
        self.err(
            i,
            upto,
            format!(
                "expected {what}{sp}{context}, found {}",
                describe_at(self.b, i)
            ),
        )
    }

    #[inline(always)]
    fn skip_ws(&mut self) {
        while self.i < self.end && is_ws(self.b[self.i]) {
            self.i += 1;
        }
    }

    #[inline(always)]
    fn peek(&self) -> Option<u8> {
        if self.i < self.end {
            Some(self.b[self.i])
        } else {
            None
        }
    }

    fn run(&mut self) -> Result<Value, Box<ParseError>> {
        let v = 'value: loop {
            // Parse the start of a value at the current position.
            self.skip_ws();
            let mut v = if let Some(member) = self.opaque_member() {
                // Compact text is never longer than its source (escapes only shorten), so the
                // rest of the text bounds it: one allocation, and only what is written of it is
                // resident, where growing by doubling held each smaller copy as well.
                let mut text = Vec::with_capacity(self.end - self.i);
                self.compact_value(&mut text)?;
                let text = String::from_utf8(text).expect("compact JSON of valid UTF-8 is UTF-8");
                self.compact.push((member, text));
                Value::Array(Vec::new())
            } else {
                match self.start_value()? {
                    Started::Scalar(v) => v,
                    Started::Opened => continue 'value,
                }
            };
            // A value is complete: hand it to the enclosing container(s) until one of them
            // wants another value.
            loop {
                let n = self.stack.len();
                match self.stack.last_mut() {
                    None => break 'value v,
                    Some(&mut Frame::Array { start }) => {
                        self.values.push(v);
                        self.skip_ws();
                        match self.peek() {
                            Some(b',') => {
                                let comma = self.i;
                                self.i += 1;
                                self.skip_ws();
                                if self.peek() == Some(b']') {
                                    return Err(self.err(comma, n, "trailing comma before ']'"));
                                }
                                continue 'value;
                            }
                            Some(b']') => {
                                self.i += 1;
                                self.stack.pop();
                                v = Value::Array(self.values.drain(start..).collect());
                            }
                            _ => {
                                return Err(self.expected(
                                    n - 1,
                                    "',' or ']'",
                                    "after array element",
                                ));
                            }
                        }
                    }
                    Some(&mut Frame::Object { start, .. }) => {
                        if let Some(m) = self.members.last_mut() {
                            m.1 = v;
                        }
                        self.skip_ws();
                        match self.peek() {
                            Some(b',') => {
                                let comma = self.i;
                                self.i += 1;
                                self.skip_ws();
                                match self.peek() {
                                    Some(b'"') => {
                                        self.next_key()?;
                                        continue 'value;
                                    }
                                    Some(b'}') => {
                                        return Err(self.err(
                                            comma,
                                            n - 1,
                                            "trailing comma before '}'",
                                        ));
                                    }
                                    _ => {
                                        return Err(self.expected(
                                            n - 1,
                                            "a string key",
                                            "after ','",
                                        ));
                                    }
                                }
                            }
                            Some(b'}') => {
                                self.i += 1;
                                self.stack.pop();
                                v = Value::Object(self.members.drain(start..).collect());
                            }
                            _ => {
                                return Err(self.expected(
                                    n - 1,
                                    "',' or '}'",
                                    "after object member",
                                ));
                            }
                        }
                    }
                }
            }
        };
        self.skip_ws();
        if self.i < self.b.len() {
            if self.i >= self.end {
                return Err(self.err(self.end, 0, "invalid UTF-8"));
            }
            return Err(self.err(self.i, 0, "trailing characters after the JSON value"));
        }
        Ok(v)
    }

    /// Reads the key of the top object (at `"`), checks it is new, reads the `:` and leaves the
    /// key in the frame.
    fn next_key(&mut self) -> Result<(), Box<ParseError>> {
        let n = self.stack.len();
        let at = self.i;
        let k = self.string(n - 1)?;
        let Some(Frame::Object { start, seen }) = self.stack.last_mut() else {
            unreachable!()
        };
        let fields = &self.members[*start..];
        let dup = if let Some((keys, set)) = seen {
            !set.insert(key_hash(keys, &k)) && fields.iter().any(|(f, _)| *f == k)
        } else {
            let dup = fields.iter().any(|(f, _)| *f == k);
            if !dup && fields.len() >= LINEAR_KEYS {
                let keys = RandomState::new();
                let mut set = KeySet::default();
                set.reserve(fields.len() * 2);
                for (f, _) in fields {
                    set.insert(key_hash(&keys, f));
                }
                set.insert(key_hash(&keys, &k));
                *seen = Some((keys, set));
            }
            dup
        };
        let msg = dup.then(|| format!("duplicate key {}", quote(&k)));
        self.members.push((k, Value::Null));
        if let Some(msg) = msg {
            return Err(self.err(at, n, msg));
        }
        self.skip_ws();
        if self.peek() != Some(b':') {
            return Err(self.expected(n - 1, "':'", "after object key"));
        }
        self.i += 1;
        Ok(())
    }

    /// The index of the member whose value starts here, when it is an array or object of the
    /// top-level object that [`Parser::opaque`] wants as text.
    #[inline]
    fn opaque_member(&self) -> Option<usize> {
        if matches!(self.opaque, Opaque::None) || self.stack.len() != 1 {
            return None;
        }
        let Some(Frame::Object { start, .. }) = self.stack.last() else {
            return None;
        };
        let (key, _) = self.members.last()?;
        (matches!(self.peek(), Some(b'{' | b'[')) && self.opaque.wants(key))
            .then(|| self.members.len() - 1 - start)
    }

    /// Writes the array or object here as [`to_compact_string`](super::to_compact_string) would
    /// write its tree, without building one. Any problem is an error without a useful message:
    /// [`parse_record`] then parses the text again as a tree, which names it.
    fn compact_value(&mut self, out: &mut Vec<u8>) -> Result<(), Box<ParseError>> {
        self.styled_value(out, &COMPACT, 0)
    }

    /// Writes the value here as [`write_value`] would write its tree in `style` at `level`,
    /// without building one (errors as for [`Parser::compact_value`]).
    fn styled_value(
        &mut self,
        out: &mut Vec<u8>,
        style: &Style,
        level: usize,
    ) -> Result<(), Box<ParseError>> {
        /// An open container: an array, or an object with the hashes of its keys so far.
        type Open = Option<(RandomState, KeySet)>;
        let base = self.stack.len();
        let mut open: Vec<Open> = Vec::new();
        let fail = |p: &Parser| p.err(p.i, base, "not plain JSON");
        let io = |_| -> Box<ParseError> { unreachable!("writing to a Vec cannot fail") };
        'value: loop {
            self.skip_ws();
            // The level of the value starting here.
            let here = level + open.len();
            match self.peek() {
                Some(c @ (b'{' | b'[')) => {
                    if base + open.len() >= self.max_depth {
                        return Err(fail(self));
                    }
                    self.i += 1;
                    out.push(c);
                    self.skip_ws();
                    let close = if c == b'{' { b'}' } else { b']' };
                    if self.peek() == Some(close) {
                        self.i += 1;
                        out.push(close);
                    } else {
                        separator(out, style, here + 1, true).map_err(io)?;
                        if c == b'[' {
                            open.push(None);
                        } else {
                            let keys = RandomState::new();
                            let mut set = KeySet::default();
                            self.styled_key(&keys, &mut set, out, style)?;
                            open.push(Some((keys, set)));
                        }
                        continue 'value;
                    }
                }
                _ => match self.start_value()? {
                    Started::Scalar(v) => write_value(out, &v, style, here).map_err(io)?,
                    Started::Opened => unreachable!("containers are opened above"),
                },
            }
            // A value is complete: close containers until one wants another value.
            loop {
                // The level of the elements of the innermost open container.
                let inner = level + open.len();
                let Some(top) = open.last_mut() else {
                    return Ok(());
                };
                self.skip_ws();
                match (self.peek(), top) {
                    (Some(b','), top) => {
                        self.i += 1;
                        self.skip_ws();
                        separator(out, style, inner, false).map_err(io)?;
                        match top {
                            None if self.peek() == Some(b']') => return Err(fail(self)),
                            None => {}
                            Some((keys, set)) => self.styled_key(keys, set, out, style)?,
                        }
                        continue 'value;
                    }
                    (Some(c @ (b']' | b'}')), top) if (c == b'}') == top.is_some() => {
                        self.i += 1;
                        close(out, style, inner - 1).map_err(io)?;
                        out.push(c);
                        open.pop();
                    }
                    _ => return Err(fail(self)),
                }
            }
        }
    }

    /// A key and its colon, for [`Parser::styled_value`]; a key whose hash was seen before is
    /// an error (a duplicate, or a collision the tree parser tells apart).
    fn styled_key(
        &mut self,
        keys: &RandomState,
        set: &mut KeySet,
        out: &mut Vec<u8>,
        style: &Style,
    ) -> Result<(), Box<ParseError>> {
        // Errors here are never shown (see above): their path is the member's.
        let upto = self.stack.len();
        if self.peek() != Some(b'"') {
            return Err(self.err(self.i, upto, "not plain JSON"));
        }
        let k = self.string(upto)?;
        if !set.insert(key_hash(keys, &k)) {
            return Err(self.err(self.i, upto, "not plain JSON"));
        }
        write_string(out, &k, style.ascii).expect("writing to a Vec cannot fail");
        self.skip_ws();
        if self.peek() != Some(b':') {
            return Err(self.err(self.i, upto, "not plain JSON"));
        }
        self.i += 1;
        out.extend_from_slice(style.colon.as_bytes());
        Ok(())
    }

    fn check_depth(&self) -> Result<(), Box<ParseError>> {
        if self.stack.len() >= self.max_depth {
            return Err(self.err(
                self.i,
                self.stack.len(),
                format!("nesting deeper than {} levels", self.full_depth),
            ));
        }
        Ok(())
    }

    /// Parses a scalar, or opens a container (pushing its frame, positioned at its first
    /// element), at the current non-whitespace position.
    #[inline]
    fn start_value(&mut self) -> Result<Started, Box<ParseError>> {
        let n = self.stack.len();
        let Some(c) = self.peek() else {
            return Err(self.expected(n, "a JSON value", ""));
        };
        match c {
            b'"' => Ok(Started::Scalar(Value::String(self.string(n)?))),
            b'{' => {
                self.check_depth()?;
                self.i += 1;
                self.skip_ws();
                match self.peek() {
                    Some(b'}') => {
                        self.i += 1;
                        Ok(Started::Scalar(Value::Object(Vec::new())))
                    }
                    Some(b'"') => {
                        self.stack.push(Frame::Object {
                            start: self.members.len(),
                            seen: None,
                        });
                        self.next_key()?;
                        Ok(Started::Opened)
                    }
                    _ => Err(self.expected(n, "a string key or '}'", "after '{'")),
                }
            }
            b'[' => {
                self.check_depth()?;
                self.i += 1;
                self.skip_ws();
                if self.peek() == Some(b']') {
                    self.i += 1;
                    return Ok(Started::Scalar(Value::Array(Vec::new())));
                }
                self.stack.push(Frame::Array {
                    start: self.values.len(),
                });
                Ok(Started::Opened)
            }
            b't' => self.literal(b"true", Value::Bool(true)),
            b'f' => self.literal(b"false", Value::Bool(false)),
            b'n' => self.literal(b"null", Value::Null),
            b'-' if self.b[self.i..self.end].starts_with(b"-Infinity") => {
                Err(self.err(self.i, n, "-Infinity is not allowed in JSON"))
            }
            b'-' | b'0'..=b'9' => self.number().map(Started::Scalar),
            b'N' if self.b[self.i..self.end].starts_with(b"NaN") => {
                Err(self.err(self.i, n, "NaN is not allowed in JSON"))
            }
            b'I' if self.b[self.i..self.end].starts_with(b"Infinity") => {
                Err(self.err(self.i, n, "Infinity is not allowed in JSON"))
            }
            b'+' => Err(self.err(self.i, n, "a number cannot start with '+'")),
            b'/' => Err(self.err(self.i, n, "comments are not allowed in JSON")),
            b'\'' => Err(self.err(self.i, n, "strings must use double quotes, found '\\''")),
            _ => Err(self.expected(n, "a JSON value", "")),
        }
    }

    fn literal(&mut self, word: &[u8], v: Value) -> Result<Started, Box<ParseError>> {
        let n = self.stack.len();
        let avail = &self.b[self.i..self.end];
        if avail.starts_with(word) {
            self.i += word.len();
            return Ok(Started::Scalar(v));
        }
        if word.starts_with(avail) {
            self.i = self.end;
            return Err(self.end_err(n, &format!("inside '{}'", String::from_utf8_lossy(word))));
        }
        let name = String::from_utf8_lossy(word);
        Err(self.err(self.i, n, format!("invalid literal: expected '{name}'")))
    }

    fn number(&mut self) -> Result<Value, Box<ParseError>> {
        let n = self.stack.len();
        let b = self.b;
        let start = self.i;
        let mut i = self.i;
        if b[i] == b'-' {
            i += 1;
        }
        let digits = |mut i: usize| {
            while i < self.end && b[i].is_ascii_digit() {
                i += 1;
            }
            i
        };
        // `place`: where the digit was wanted ("" for the integer part, " after '.'", ...).
        let describe = |p: &Self, i: usize, place: &str, context: &str| -> Box<ParseError> {
            if i >= p.end && p.end == p.b.len() {
                let msg =
                    format!("unexpected end of input inside a number, expected a digit{place}");
                return p.err(i, n, msg);
            }
            p.expected_at(i, n, "a digit", context)
        };
        match b.get(i).filter(|_| i < self.end) {
            Some(b'0') => {
                i += 1;
                if i < self.end && b[i].is_ascii_digit() {
                    return Err(self.err(start, n, "numbers cannot have leading zeros"));
                }
            }
            Some(b'1'..=b'9') => i = digits(i + 1),
            _ => return Err(describe(self, i, "", "in a number")),
        }
        if i < self.end && b[i] == b'.' {
            i += 1;
            if !(i < self.end && b[i].is_ascii_digit()) {
                return Err(describe(self, i, " after '.'", "after '.' in a number"));
            }
            i = digits(i + 1);
        }
        if i < self.end && (b[i] == b'e' || b[i] == b'E') {
            i += 1;
            if i < self.end && (b[i] == b'+' || b[i] == b'-') {
                i += 1;
            }
            if !(i < self.end && b[i].is_ascii_digit()) {
                return Err(describe(
                    self,
                    i,
                    " in the exponent",
                    "in the exponent of a number",
                ));
            }
            i = digits(i + 1);
        }
        self.i = i;
        // SAFETY: the number is made of ASCII bytes only.
        let text = unsafe { std::str::from_utf8_unchecked(&b[start..i]) };
        Ok(Value::Number(Number::from_text_unchecked(text)))
    }

    /// Parses a string at `"` (the current byte). `upto` is how much of the stack the path of
    /// errors covers.
    #[inline]
    fn string(&mut self, upto: usize) -> Result<String, Box<ParseError>> {
        let b = self.b;
        let open = self.i;
        let mut i = open + 1;
        let seg_end = match find_string_special(&b[i..self.end]) {
            Some(k) => i + k,
            None => {
                self.i = self.end;
                return Err(self.end_err(upto, "inside a string"));
            }
        };
        if b[seg_end] == b'"' {
            self.i = seg_end + 1;
            // SAFETY: `b[..end]` is valid UTF-8 and both ends are at ASCII bytes.
            return Ok(unsafe { std::str::from_utf8_unchecked(&b[i..seg_end]) }.to_owned());
        }
        // Slow path: escapes (or an error).
        let mut out = String::with_capacity(seg_end - i + 16);
        let mut seg_end = seg_end;
        loop {
            // SAFETY: as above.
            out.push_str(unsafe { std::str::from_utf8_unchecked(&b[i..seg_end]) });
            i = seg_end;
            match b[i] {
                b'"' => {
                    self.i = i + 1;
                    return Ok(out);
                }
                b'\\' => {
                    i = self.escape(i, upto, &mut out)?;
                }
                c => {
                    return Err(self.err(
                        i,
                        upto,
                        format!("control character U+{c:04X} must be escaped in a string"),
                    ));
                }
            }
            seg_end = match find_string_special(&b[i..self.end]) {
                Some(k) => i + k,
                None => {
                    self.i = self.end;
                    return Err(self.end_err(upto, "inside a string"));
                }
            };
        }
    }

    /// Decodes the escape at `b[i] == '\\'` into `out`; returns the offset after it.
    fn escape(
        &mut self,
        i: usize,
        upto: usize,
        out: &mut String,
    ) -> Result<usize, Box<ParseError>> {
        let b = self.b;
        if i + 1 >= self.end {
            self.i = self.end;
            return Err(self.end_err(upto, "inside a string"));
        }
        let c = match b[i + 1] {
            b'"' => '"',
            b'\\' => '\\',
            b'/' => '/',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'u' => {
                let hi = self.hex_escape(i, upto)?;
                let mut next = i + 6;
                let ch = if (0xD800..0xDC00).contains(&hi) {
                    let lo = if b[next..self.end].starts_with(b"\\u") {
                        Some(self.hex_escape(next, upto)?)
                    } else {
                        None
                    };
                    match lo {
                        Some(lo) if (0xDC00..0xE000).contains(&lo) => {
                            next += 6;
                            let cp =
                                0x10000 + (((hi as u32) - 0xD800) << 10) + ((lo as u32) - 0xDC00);
                            char::from_u32(cp).unwrap_or('\u{FFFD}')
                        }
                        _ => {
                            return Err(self.err(
                                i,
                                upto,
                                format!("lone surrogate \\u{hi:04X} in string"),
                            ));
                        }
                    }
                } else if (0xDC00..0xE000).contains(&hi) {
                    return Err(self.err(i, upto, format!("lone surrogate \\u{hi:04X} in string")));
                } else {
                    char::from_u32(hi as u32).unwrap_or('\u{FFFD}')
                };
                out.push(ch);
                return Ok(next);
            }
            _ => {
                return Err(self.err(
                    i,
                    upto,
                    format!(
                        "invalid escape '\\{}' in string",
                        describe_at(b, i + 1).trim_matches('\'')
                    ),
                ));
            }
        };
        out.push(c);
        Ok(i + 2)
    }

    /// Reads the 4 hex digits of the `\u` escape at `b[i] == '\\'`.
    fn hex_escape(&mut self, i: usize, upto: usize) -> Result<u16, Box<ParseError>> {
        let b = self.b;
        let digits_end = (i + 6).min(self.end);
        match hex4(&b[i + 2..digits_end]) {
            Some(n) if digits_end == i + 6 => Ok(n),
            Some(_) => {
                self.i = self.end;
                Err(self.end_err(upto, "inside a string"))
            }
            None => Err(self.err(i, upto, "invalid \\u escape: expected 4 hex digits")),
        }
    }
}

/// `"x"` with JSON escapes, for messages.
fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// 1-based line and column of byte `offset` in `bytes`; the column counts characters (UTF-8 code
/// points), and a leading BOM is not counted.
pub fn line_col(bytes: &[u8], offset: usize) -> (u64, u64) {
    let offset = offset.min(bytes.len());
    let head = &bytes[..offset];
    let lines = memchr::memchr_iter(b'\n', head).count() as u64;
    let line_start = memchr::memrchr(b'\n', head).map_or(0, |p| p + 1);
    let mut col = head[line_start..]
        .iter()
        .filter(|&&c| c & 0xC0 != 0x80)
        .count() as u64;
    if line_start == 0 && head.starts_with(BOM) {
        col -= 1;
    }
    (lines + 1, col + 1)
}

/// Byte offset of the value at `path` inside the JSON text `bytes`, found by a tolerant walk
/// that gives up (returns `None`) at the first syntax error or when the path is not there.
pub fn locate(bytes: &[u8], path: &[Seg]) -> Option<usize> {
    let mut w = Walker {
        b: bytes,
        i: if bytes.starts_with(BOM) { BOM.len() } else { 0 },
    };
    for seg in path {
        w.ws();
        match seg {
            Seg::Index(n) => {
                if w.peek()? != b'[' {
                    return None;
                }
                w.i += 1;
                for _ in 0..*n {
                    w.ws();
                    if w.peek()? == b']' {
                        return None;
                    }
                    w.skip_value()?;
                    w.ws();
                    if w.peek()? != b',' {
                        return None;
                    }
                    w.i += 1;
                }
                w.ws();
                if w.peek()? == b']' {
                    return None;
                }
            }
            Seg::Key(k) => {
                if w.peek()? != b'{' {
                    return None;
                }
                w.i += 1;
                loop {
                    w.ws();
                    if w.peek()? != b'"' {
                        return None;
                    }
                    let key = w.key()?;
                    w.ws();
                    if w.peek()? != b':' {
                        return None;
                    }
                    w.i += 1;
                    w.ws();
                    if key == *k {
                        break;
                    }
                    w.skip_value()?;
                    w.ws();
                    if w.peek()? != b',' {
                        return None;
                    }
                    w.i += 1;
                }
            }
        }
    }
    w.ws();
    w.peek()?;
    Some(w.i)
}

struct Walker<'a> {
    b: &'a [u8],
    i: usize,
}

impl Walker<'_> {
    fn ws(&mut self) {
        while self.i < self.b.len() && is_ws(self.b[self.i]) {
            self.i += 1;
        }
    }
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }
    /// Skips a string at `"`; returns its raw inner bytes.
    fn skip_string(&mut self) -> Option<&[u8]> {
        let start = self.i + 1;
        let mut i = start;
        loop {
            let k = memchr::memchr2(b'"', b'\\', self.b.get(i..)?)?;
            i += k;
            if self.b[i] == b'\\' {
                i += 2;
            } else {
                self.i = i + 1;
                return Some(&self.b[start..i]);
            }
        }
    }
    /// Reads a key at `"`, decoded (so escaped keys compare equal to the plain form).
    fn key(&mut self) -> Option<String> {
        let start = self.i;
        self.skip_string()?;
        match parse(&self.b[start..self.i], 1) {
            Ok(Value::String(s)) => Some(s),
            _ => None,
        }
    }
    fn skip_value(&mut self) -> Option<()> {
        let mut depth = 0usize;
        loop {
            self.ws();
            match self.peek()? {
                b'"' => {
                    self.skip_string()?;
                }
                b'[' | b'{' => {
                    depth += 1;
                    self.i += 1;
                }
                b']' | b'}' => {
                    depth = depth.checked_sub(1)?;
                    self.i += 1;
                }
                b',' | b':' if depth > 0 => self.i += 1,
                _ => {
                    let s = self.i;
                    while self.i < self.b.len()
                        && !matches!(
                            self.b[self.i],
                            b',' | b']' | b'}' | b':' | b' ' | b'\n' | b'\r' | b'\t'
                        )
                    {
                        self.i += 1;
                    }
                    if self.i == s {
                        return None;
                    }
                }
            }
            if depth == 0 {
                return Some(());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Result<Value, ParseError> {
        parse(s.as_bytes(), 128)
    }
    fn e(s: &[u8]) -> (usize, String, String) {
        let err = parse(s, 128).expect_err("should fail");
        (err.offset, err.path.to_string(), err.message)
    }
    fn num(s: &str) -> Value {
        Value::Number(Number::from_text_unchecked(s))
    }
    fn obj(kv: Vec<(&str, Value)>) -> Value {
        Value::Object(kv.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
    }

    #[test]
    fn scalars() {
        assert_eq!(p("null").unwrap(), Value::Null);
        assert_eq!(p(" true ").unwrap(), Value::Bool(true));
        assert_eq!(p("false").unwrap(), Value::Bool(false));
        assert_eq!(p("\"hi\"").unwrap(), Value::String("hi".into()));
        for n in [
            "0",
            "-0",
            "1.0",
            "1e+21",
            "-12.5E-3",
            "12345678901234567890",
            "0.000001",
        ] {
            assert_eq!(p(n).unwrap(), num(n), "{n}");
        }
    }

    #[test]
    fn containers_keep_order() {
        let v = p(r#"{"b": [1, {"x": null}, []], "a": {}, "c": "s"}"#).unwrap();
        assert_eq!(
            v,
            obj(vec![
                (
                    "b",
                    Value::Array(vec![
                        num("1"),
                        obj(vec![("x", Value::Null)]),
                        Value::Array(vec![])
                    ])
                ),
                ("a", Value::Object(vec![])),
                ("c", Value::String("s".into())),
            ])
        );
    }

    #[test]
    fn escapes_and_unicode() {
        let v = p(r#""a\"b\\c\/d\b\f\n\r\t\u0041\u00e9\u20ac\ud83d\ude00 é😀""#).unwrap();
        assert_eq!(
            v,
            Value::String("a\"b\\c/d\u{8}\u{c}\n\r\tAé€😀 é😀".into())
        );
    }

    #[test]
    fn bom_is_skipped() {
        assert_eq!(
            parse(b"\xEF\xBB\xBF[1]", 8).unwrap(),
            Value::Array(vec![num("1")])
        );
    }

    #[test]
    fn trailing_characters() {
        assert_eq!(
            e(b"[1] x"),
            (
                4,
                "$".into(),
                "trailing characters after the JSON value".into()
            )
        );
        assert_eq!(
            e(b"1 2"),
            (
                2,
                "$".into(),
                "trailing characters after the JSON value".into()
            )
        );
    }

    #[test]
    fn empty_input() {
        assert_eq!(
            e(b""),
            (
                0,
                "$".into(),
                "unexpected end of input, expected a JSON value".into()
            )
        );
        assert_eq!(
            e(b"  \n"),
            (
                3,
                "$".into(),
                "unexpected end of input, expected a JSON value".into()
            )
        );
    }

    #[test]
    fn separators() {
        assert_eq!(
            e(b"[1, 2}"),
            (
                5,
                "$".into(),
                "expected ',' or ']' after array element, found '}'".into()
            )
        );
        assert_eq!(
            e(br#"{"a": [{"b": 1 "c": 2}]}"#),
            (
                15,
                "$.a[0]".into(),
                "expected ',' or '}' after object member, found '\"'".into()
            )
        );
        assert_eq!(
            e(br#"{"a" 1}"#),
            (
                5,
                "$".into(),
                "expected ':' after object key, found '1'".into()
            )
        );
        assert_eq!(
            e(b"{1:2}"),
            (
                1,
                "$".into(),
                "expected a string key or '}' after '{', found '1'".into()
            )
        );
        assert_eq!(
            e(br#"{"a":1,2}"#),
            (
                7,
                "$".into(),
                "expected a string key after ',', found '2'".into()
            )
        );
        assert_eq!(
            e(b"[1,"),
            (
                3,
                "$[1]".into(),
                "unexpected end of input, expected a JSON value".into()
            )
        );
        assert_eq!(
            e(b"[1"),
            (
                2,
                "$".into(),
                "unexpected end of input, expected ',' or ']' after array element".into()
            )
        );
        assert_eq!(
            e(b"[,1]"),
            (1, "$[0]".into(), "expected a JSON value, found ','".into())
        );
    }

    #[test]
    fn trailing_commas() {
        assert_eq!(
            e(b"[1, 2,]"),
            (5, "$[2]".into(), "trailing comma before ']'".into())
        );
        assert_eq!(
            e(br#"{"a": [{"x":1,}]}"#),
            (13, "$.a[0]".into(), "trailing comma before '}'".into())
        );
    }

    #[test]
    fn non_json_values() {
        assert_eq!(
            e(b"[NaN]"),
            (1, "$[0]".into(), "NaN is not allowed in JSON".into())
        );
        assert_eq!(
            e(b"[-Infinity]"),
            (1, "$[0]".into(), "-Infinity is not allowed in JSON".into())
        );
        assert_eq!(
            e(b"Infinity"),
            (0, "$".into(), "Infinity is not allowed in JSON".into())
        );
        assert_eq!(
            e(b"+1"),
            (0, "$".into(), "a number cannot start with '+'".into())
        );
        assert_eq!(
            e(b"[1] // c"),
            (
                4,
                "$".into(),
                "trailing characters after the JSON value".into()
            )
        );
        assert_eq!(
            e(b"/* c */ 1"),
            (0, "$".into(), "comments are not allowed in JSON".into())
        );
        assert_eq!(
            e(b"{'a': 1}"),
            (
                1,
                "$".into(),
                "expected a string key or '}' after '{', found '''".into()
            )
        );
        assert_eq!(
            e(b"['a']"),
            (
                1,
                "$[0]".into(),
                "strings must use double quotes, found '\\''".into()
            )
        );
        assert_eq!(
            e(b"tru"),
            (
                3,
                "$".into(),
                "unexpected end of input inside 'true'".into()
            )
        );
        assert_eq!(
            e(b"[trux]"),
            (1, "$[0]".into(), "invalid literal: expected 'true'".into())
        );
        assert_eq!(
            e(b"nul!"),
            (0, "$".into(), "invalid literal: expected 'null'".into())
        );
    }

    #[test]
    fn numbers_strict() {
        assert_eq!(
            e(b"01"),
            (0, "$".into(), "numbers cannot have leading zeros".into())
        );
        assert_eq!(
            e(b"[-01]"),
            (1, "$[0]".into(), "numbers cannot have leading zeros".into())
        );
        assert_eq!(
            e(b"1."),
            (
                2,
                "$".into(),
                "unexpected end of input inside a number, expected a digit after '.'".into()
            )
        );
        assert_eq!(
            e(b"1.e5"),
            (
                2,
                "$".into(),
                "expected a digit after '.' in a number, found 'e'".into()
            )
        );
        assert_eq!(
            e(b".5"),
            (0, "$".into(), "expected a JSON value, found '.'".into())
        );
        assert_eq!(
            e(b"1e"),
            (
                2,
                "$".into(),
                "unexpected end of input inside a number, expected a digit in the exponent".into()
            )
        );
        assert_eq!(
            e(b"[1e+]"),
            (
                4,
                "$[0]".into(),
                "expected a digit in the exponent of a number, found ']'".into()
            )
        );
        assert_eq!(
            e(b"-"),
            (
                1,
                "$".into(),
                "unexpected end of input inside a number, expected a digit".into()
            )
        );
        assert_eq!(
            e(b"[- 1]"),
            (
                2,
                "$[0]".into(),
                "expected a digit in a number, found ' '".into()
            )
        );
        assert_eq!(
            e(b"0x10"),
            (
                1,
                "$".into(),
                "trailing characters after the JSON value".into()
            )
        );
    }

    #[test]
    fn strings_strict() {
        assert_eq!(
            e(b"[\"a\tb\"]"),
            (
                3,
                "$[0]".into(),
                "control character U+0009 must be escaped in a string".into()
            )
        );
        assert_eq!(
            e(b"{\"k\": \"a\\qb\"}"),
            (8, "$.k".into(), "invalid escape '\\q' in string".into())
        );
        assert_eq!(
            e(br#"["\u12G4"]"#),
            (
                2,
                "$[0]".into(),
                "invalid \\u escape: expected 4 hex digits".into()
            )
        );
        assert_eq!(
            e(br#""abc"#),
            (
                4,
                "$".into(),
                "unexpected end of input inside a string".into()
            )
        );
        assert_eq!(
            e(br#""ab\"#),
            (
                4,
                "$".into(),
                "unexpected end of input inside a string".into()
            )
        );
        assert_eq!(
            e(br#""ab\u12"#),
            (
                7,
                "$".into(),
                "unexpected end of input inside a string".into()
            )
        );
        assert_eq!(
            e(br#"{"ab"#),
            (
                4,
                "$".into(),
                "unexpected end of input inside a string".into()
            )
        );
    }

    #[test]
    fn surrogates() {
        assert_eq!(
            e(br#"["\uD800"]"#),
            (2, "$[0]".into(), "lone surrogate \\uD800 in string".into())
        );
        assert_eq!(
            e(br#"["x\ud800\u0041"]"#),
            (3, "$[0]".into(), "lone surrogate \\uD800 in string".into())
        );
        assert_eq!(
            e(br#"["\uDC00"]"#),
            (2, "$[0]".into(), "lone surrogate \\uDC00 in string".into())
        );
        assert_eq!(p(r#""\uD834\uDD1E""#).unwrap(), Value::String("𝄞".into()));
    }

    #[test]
    fn invalid_utf8() {
        assert_eq!(
            e(b"[\"a\xFFb\"]"),
            (3, "$[0]".into(), "invalid UTF-8".into())
        );
        assert_eq!(e(b"[1, \xC3]"), (4, "$[1]".into(), "invalid UTF-8".into()));
        assert_eq!(e(b"[1] \xC3"), (4, "$".into(), "invalid UTF-8".into()));
        assert_eq!(
            e(b"\"\xED\xA0\x80\""),
            (1, "$".into(), "invalid UTF-8".into())
        );
        // An earlier syntax error still wins.
        assert_eq!(
            e(b"[1 2, \xFF]").2,
            "expected ',' or ']' after array element, found '2'"
        );
    }

    #[test]
    fn duplicate_keys() {
        assert_eq!(
            e(br#"{"x": 1, "x": 2}"#),
            (9, "$.x".into(), "duplicate key \"x\"".into())
        );
        // Escapes are decoded before comparing.
        assert_eq!(
            e(br#"{"a":{"x": 1, "\u0078": 2}}"#).2,
            "duplicate key \"x\""
        );
        // Past the linear threshold the hash set takes over.
        let mut s = String::from("{");
        for i in 0..40 {
            s.push_str(&format!("\"k{i}\": {i},"));
        }
        let ok = format!("{}\"k40\": 0}}", s);
        assert!(p(&ok).is_ok());
        let dup = format!("{}\"k17\": 0}}", s);
        let err = p(&dup).unwrap_err();
        assert_eq!(err.message, "duplicate key \"k17\"");
        assert_eq!(err.offset, dup.rfind("\"k17\"").unwrap());
        let dup = format!("{}\"k3\": 0}}", s);
        assert_eq!(p(&dup).unwrap_err().message, "duplicate key \"k3\"");
    }

    #[test]
    fn keys_that_share_a_prefix_spread_over_the_duplicate_sets_buckets() {
        // A hash set finds its bucket from the low bits and its tag from the top 7 bits. The
        // FxHash-style hash used before gave `item0000`…`item4095` (one 8-byte word each) the
        // same low 32 bits, so every key probed one chain and an object of 500,000 such keys
        // took 74 s to parse.
        let keys = RandomState::new();
        let hashes: Vec<u64> = (0..4096)
            .map(|i| key_hash(&keys, &format!("item{i:04}")))
            .collect();
        let buckets: HashSet<u64> = hashes.iter().map(|h| h & 0xfff).collect();
        let tags: HashSet<u64> = hashes.iter().map(|h| h >> 57).collect();
        // Uniform hashes fill about 2,590 of 4,096 buckets and all 128 tags.
        assert!(buckets.len() > 2000, "{} buckets", buckets.len());
        assert!(tags.len() > 120, "{} tags", tags.len());
        // And such an object parses, its last key still checked.
        let mut s = String::from("{");
        for i in 0..20_000 {
            s.push_str(&format!("\"item{i}\":{i},"));
        }
        let dup = format!("{s}\"item19999\":0}}");
        assert_eq!(p(&dup).unwrap_err().message, "duplicate key \"item19999\"");
    }

    #[test]
    fn depth_limit() {
        assert!(parse(b"[[[]]]", 3).is_ok());
        assert_eq!(
            parse(b"[[[[]]]]", 3).unwrap_err(),
            ParseError {
                offset: 3,
                path: JsonPath(vec![Seg::Index(0), Seg::Index(0), Seg::Index(0)]),
                message: "nesting deeper than 3 levels".into()
            }
        );
        assert_eq!(
            parse(br#"{"a":{"b":{}}}"#, 2).unwrap_err().message,
            "nesting deeper than 2 levels"
        );
        assert!(parse_nested(b"[[]]", 3, 1).is_ok());
        assert_eq!(
            parse_nested(b"[[[]]]", 3, 1).unwrap_err().message,
            "nesting deeper than 3 levels"
        );
        let deep = vec![b'['; 100_000];
        let err = parse(&deep, 10_000).unwrap_err();
        assert_eq!(err.offset, 10_000);
        assert_eq!(err.message, "nesting deeper than 10000 levels");
        let mut ok = vec![b'['; 10_000];
        ok.extend(vec![b']'; 10_000]);
        assert!(parse(&ok, 10_000).is_ok());
    }

    #[test]
    fn error_paths() {
        let err = p(r#"{"modules": [{}, {}, {"title": tru}]}"#).unwrap_err();
        assert_eq!(err.path.to_string(), "$.modules[2].title");
        assert_eq!(err.message, "invalid literal: expected 'true'");
        assert_eq!(err.offset, 31);
    }

    #[test]
    fn display() {
        let err = p("[1,]").unwrap_err();
        assert_eq!(
            err.to_string(),
            "$[1]: trailing comma before ']' (at byte 2)"
        );
    }

    #[test]
    fn string_scanner() {
        for s in [
            "",
            "a",
            "abcdefgh",
            "abcdefg\"",
            "abcdefgh\\",
            "é€😀abc\u{1}",
            "0123456789abcdef\"",
        ] {
            let expect = s.bytes().position(|c| c == b'"' || c == b'\\' || c < 0x20);
            assert_eq!(find_string_special(s.as_bytes()), expect, "{s:?}");
        }
    }

    #[test]
    fn line_col_counts_chars() {
        let t = "{\n  \"é😀\": x\n}".as_bytes();
        let x = t.iter().position(|&c| c == b'x').unwrap();
        assert_eq!(line_col(t, x), (2, 9));
        assert_eq!(line_col(t, 0), (1, 1));
        assert_eq!(line_col(b"\xEF\xBB\xBF[", 3), (1, 1));
        assert_eq!(line_col(b"ab\r\ncd", 5), (2, 2));
        assert_eq!(line_col(b"ab", 99), (1, 3));
    }

    #[test]
    fn locate_paths() {
        let t = br#"{"a": [10, {"b": "x\"y"}, [1, [2]]], "c\u0064": {"e": true}, "z": 0}"#;
        let at = |path: Vec<Seg>| locate(t, &path);
        let pos = |s: &str| t.windows(s.len()).position(|w| w == s.as_bytes());
        assert_eq!(at(vec![]), Some(0));
        assert_eq!(at(vec![Seg::Key("a".into())]), pos("[10"));
        assert_eq!(at(vec![Seg::Key("a".into()), Seg::Index(0)]), pos("10"));
        assert_eq!(
            at(vec![
                Seg::Key("a".into()),
                Seg::Index(1),
                Seg::Key("b".into())
            ]),
            pos("\"x")
        );
        assert_eq!(
            at(vec![
                Seg::Key("a".into()),
                Seg::Index(2),
                Seg::Index(1),
                Seg::Index(0)
            ]),
            pos("2]")
        );
        assert_eq!(
            at(vec![Seg::Key("cd".into()), Seg::Key("e".into())]),
            pos("true")
        );
        assert_eq!(at(vec![Seg::Key("z".into())]), pos("0}"));
        assert_eq!(at(vec![Seg::Key("a".into()), Seg::Index(3)]), None);
        assert_eq!(at(vec![Seg::Key("nope".into())]), None);
        assert_eq!(at(vec![Seg::Index(0)]), None);
        // Tolerant: a broken tail after the target does not matter, one before it does.
        assert_eq!(locate(b"[1, 2, oops", &[Seg::Index(1)]), Some(4));
        assert_eq!(locate(b"[1, \"unterminated", &[Seg::Index(2)]), None);
        assert_eq!(
            locate(b"\xEF\xBB\xBF {\"a\": 1}", &[Seg::Key("a".into())]),
            Some(10)
        );
    }

    #[test]
    fn utf16_and_utf32_byte_order_marks_are_named_at_the_start_only() {
        assert_eq!(foreign_encoding(b"\xFF\xFE[\0"), Some("UTF-16LE"));
        assert_eq!(foreign_encoding(b"\xFE\xFF\0["), Some("UTF-16BE"));
        assert_eq!(foreign_encoding(b"\xFF\xFE\0\0[\0\0\0"), Some("UTF-32LE"));
        assert_eq!(foreign_encoding(b"\0\0\xFE\xFF"), Some("UTF-32BE"));
        assert_eq!(foreign_encoding(b"\xEF\xBB\xBF["), None);
        let start = describe_start(b"\xFF\xFE[\0", 0);
        assert!(start.contains("UTF-16LE byte order mark"), "{start}");
        assert!(start.contains("iconv"), "{start}");
        // Further in, the same bytes are just bytes.
        assert_eq!(describe_start(b"[\xFF\xFE", 1), "byte 0xFF");
        assert_eq!(describe_at(b"\xFF\xFE", 0), "byte 0xFF");
    }
}

#[cfg(test)]
mod compact_tests {
    use super::*;
    use crate::json::to_compact_string;

    /// `parse_record` with `opaque` agrees with `parse_nested` on `text`: the same error, or
    /// the same record once the compact members are parsed back into place, each member's text
    /// being exactly `to_compact_string` of its value.
    fn agrees(text: &[u8], max_depth: usize, opaque: &Opaque) -> usize {
        let tree = parse_nested(text, max_depth, 0);
        let got = parse_record(text, max_depth, 0, opaque);
        let (mut v, compact) = match (tree.clone(), got) {
            (Err(a), Err(b)) => {
                assert_eq!(a, b, "{}", String::from_utf8_lossy(text));
                return 0;
            }
            (Ok(_), Ok(x)) => x,
            (a, b) => panic!("{a:?} vs {b:?} on {}", String::from_utf8_lossy(text)),
        };
        let tree = tree.unwrap();
        let (Value::Object(members), Value::Object(want)) = (&mut v, &tree) else {
            assert!(compact.is_empty());
            assert_eq!(v, tree);
            return 0;
        };
        for (i, text) in &compact {
            assert_eq!(members[*i].1, Value::Array(Vec::new()), "placeholder");
            assert_eq!(*text, to_compact_string(&want[*i].1));
            members[*i].1 = parse(text.as_bytes(), max_depth).unwrap();
        }
        assert_eq!(v, tree);
        compact.len()
    }

    #[test]
    fn json_text_is_written_styled_as_its_tree_would_be() {
        let styles = [
            COMPACT.clone(),
            crate::json::detect_style(b"[\n  {\n    \"a\": 1\n  }\n]\n"),
            crate::json::detect_style(b"[\r\n\t{\"a\": 1, \"b\": 2}\r\n]"),
            crate::json::detect_style(b"[{\"a\": \"\\u00e9\", \"b\": 2}]"),
        ];
        let texts: &[&str] = &[
            r#"{"a":{"b":[1,2.50,-0,1e+9,true,false,null]},"c":"x"}"#,
            r#"{ "a" : [ ] , "b" : { } , "c" : [ [ ] , { } , [ { } ] ] }"#,
            r#"["\"\\\/\b\f\n\r\t","\u0000\u001f\u007f\u00e9\u20ac","\ud83d\ude00","é€😀"]"#,
            r#"{"k":{"\u0061":1,"b\"":2,"\\":3,"\n":4}}"#,
            "[1,[2,[3,[4]]],{\"x\":{\"y\":[{}]}}]",
            "\"just a string\"",
            "12.50",
            "null",
            // Not plain JSON: the tree parser's error, or (a `SQLite` client's spelling) its tree.
            r#"{"a":1,"a":2}"#,
            r#"[1,2,]"#,
            r#"[1] x"#,
            r#"[[[[[[[[1]]]]]]]]"#,
            "",
        ];
        for style in &styles {
            for level in [0, 2] {
                for t in texts {
                    let mut out = b"prefix".to_vec();
                    let got = write_styled(&mut out, t, style, level, 6);
                    match parse(t.as_bytes(), 6) {
                        Ok(v) => {
                            let mut want = b"prefix".to_vec();
                            write_value(&mut want, &v, style, level).unwrap();
                            assert!(got.is_ok(), "{t}");
                            assert_eq!(
                                String::from_utf8(out).unwrap(),
                                String::from_utf8(want).unwrap(),
                                "{t} in {style:?} at {level}"
                            );
                        }
                        Err(e) => assert_eq!(got.unwrap_err(), e, "{t}"),
                    }
                }
            }
        }
    }

    #[test]
    fn compact_members_are_the_compact_text_of_their_trees() {
        let cases: &[&str] = &[
            r#"{"a": {"b": [1, 2.50, -0, 1e+9, 1E-2, true, false, null]}, "c": "x"}"#,
            r#"{"a": [], "b": {}, "c": [[], {}, [{}]], "d": { } , "e": [ ] }"#,
            r#"{"s": ["\"\\\/\b\f\n\r\t", "\u0000\u001f\u007f\u00e9\u20ac", "\ud83d\ude00", "é€😀"]}"#,
            r#"{"k": {"\u0061": 1, "b\"": 2, "\\": 3, "\n": 4}}"#,
            "{\"ws\":\t[ 1 ,\r\n 2 ] , \"x\" : {\"y\" :\n{}}}",
            r#"{"big": {"k0":0,"k1":1,"k2":2,"k3":3,"k4":4,"k5":5,"k6":6,"k7":7,"k8":8,"k9":9,"k10":10,"k11":11,"k12":12,"k13":13,"k14":14,"k15":15,"k16":16,"k17":17}}"#,
            // Problems: each must be the tree parser's error, at its place.
            r#"{"a": {"x": 1, "x": 2}}"#,
            r#"{"a": {"x": 1, "\u0078": 2}}"#,
            r#"{"a": [1, 2,]}"#,
            r#"{"a": {"x": 1,}}"#,
            r#"{"a": [1 2]}"#,
            r#"{"a": {"x" 1}}"#,
            r#"{"a": {1: 2}}"#,
            r#"{"a": ["\ud800"]}"#,
            r#"{"a": ["\x"]}"#,
            "{\"a\": [\"\u{1}\"]}",
            r#"{"a": [01]}"#,
            r#"{"a": [1.]}"#,
            r#"{"a": [tru]}"#,
            r#"{"a": [1]"#,
            r#"{"a": [1]} x"#,
            r#"{"a": [[[[[[1]]]]]]}"#,
            r#"{"a": [1], "a": [2]}"#,
            r#"[{"a": [1]}]"#,
            r#"{"a": 1, "b": "text", "c": null}"#,
        ];
        let mut given = 0;
        for c in cases {
            for opaque in [Opaque::All, Opaque::Keys(&["a".to_string()])] {
                for depth in [4, 128] {
                    given += agrees(c.as_bytes(), depth, &opaque);
                }
            }
        }
        assert!(given > 20, "{given} members given as text");
        // Invalid UTF-8 inside a member.
        agrees(b"{\"a\": [\"\xff\"]}", 128, &Opaque::All);
        // Files written by programs in many styles.
        for e in
            std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/src/json/testdata")).unwrap()
        {
            let text = std::fs::read(e.unwrap().path()).unwrap();
            let text = format!("{{\"doc\": {}}}", String::from_utf8_lossy(&text));
            if parse(text.as_bytes(), 128).is_ok() {
                assert_eq!(agrees(text.as_bytes(), 128, &Opaque::All), 1);
            }
        }
    }
}
