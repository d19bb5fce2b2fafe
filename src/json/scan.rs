//! A pull scanner over any `Read`: walks a JSON file of any size through one large buffer,
//! keeping the byte offset, line and column of where it is. Readers use it to step through the
//! structure around the records (`[`, keys, commas) and to copy each record's raw text out with
//! a fast structural scan (string/escape state and depth only); [`parse`](super::parse) does the
//! full validation of that text.

use std::fmt;
use std::io::{self, Read};

use super::parse::{BOM, describe_at, describe_start};

/// Size of the read buffer.
pub const BUF_SIZE: usize = 256 * 1024;

/// A place in the input: byte offset and 1-based line and column (in characters; a leading BOM
/// does not count).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pos {
    pub offset: u64,
    pub line: u64,
    pub col: u64,
}

impl Default for Pos {
    fn default() -> Self {
        Pos {
            offset: 0,
            line: 1,
            col: 1,
        }
    }
}

/// Where a captured value starts and how many bytes it has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ValuePos {
    pub start: Pos,
    pub len: u64,
}

/// A syntax (or read) error at a place in the input.
#[derive(Debug, Clone, PartialEq)]
pub struct ScanError {
    pub pos: Pos,
    pub message: String,
}

impl fmt::Display for ScanError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.pos.line, self.pos.col, self.message)
    }
}

impl std::error::Error for ScanError {}

/// Pull scanner over a reader. See the module documentation.
pub struct Scanner<R> {
    r: R,
    buf: Box<[u8]>,
    /// `buf[pos..len]` is read but not consumed.
    pos: usize,
    len: usize,
    eof: bool,
    /// Position of `buf[pos]`.
    at: Pos,
    bom: bool,
    /// Containers opened through [`Scanner::expect`]/[`Scanner::eat`] and not yet closed.
    depth: usize,
    max_depth: usize,
    /// Scratch stack of open brackets for `capture_value`.
    open: Vec<u8>,
    /// Scratch buffer for keys.
    key_buf: Vec<u8>,
}

/// Number of characters (UTF-8 code points) in `b`: the bytes that do not continue a sequence.
#[inline]
fn count_chars(b: &[u8]) -> u64 {
    b.iter().filter(|&&c| (c as i8) >= -0x40).count() as u64
}

#[inline(always)]
fn is_ws(c: u8) -> bool {
    matches!(c, b' ' | b'\n' | b'\r' | b'\t')
}

/// The bytes `capture_value` has to look at outside strings.
static STRUCTURAL: [bool; 256] = {
    let mut t = [false; 256];
    t[b'"' as usize] = true;
    t[b'[' as usize] = true;
    t[b']' as usize] = true;
    t[b'{' as usize] = true;
    t[b'}' as usize] = true;
    t
};

/// Bytes that end a scalar (number or literal).
#[inline(always)]
fn ends_scalar(c: u8) -> bool {
    matches!(
        c,
        b' ' | b'\n' | b'\r' | b'\t' | b',' | b']' | b'}' | b':' | b'[' | b'{' | b'"'
    )
}

impl<R: Read> Scanner<R> {
    /// A scanner over `r` with the default buffer; skips (and remembers) a leading BOM.
    pub fn new(r: R) -> Result<Scanner<R>, ScanError> {
        Self::with_capacity(r, BUF_SIZE)
    }

    /// A scanner with a buffer of `cap` bytes (at least 16).
    pub fn with_capacity(r: R, cap: usize) -> Result<Scanner<R>, ScanError> {
        let mut s = Scanner {
            r,
            buf: vec![0; cap.max(16)].into_boxed_slice(),
            pos: 0,
            len: 0,
            eof: false,
            at: Pos::default(),
            bom: false,
            depth: 0,
            max_depth: usize::MAX,
            open: Vec::new(),
            key_buf: Vec::new(),
        };
        s.fill_min(BOM.len())?;
        if s.buf[..s.len].starts_with(BOM) {
            s.bom = true;
            s.pos = BOM.len();
            s.at.offset = BOM.len() as u64;
        }
        Ok(s)
    }

    /// Nesting of arrays/objects (counting those the scanner has stepped into) beyond which
    /// [`Scanner::capture_value`] fails.
    pub fn set_max_depth(&mut self, max_depth: usize) {
        self.max_depth = max_depth;
    }

    /// The input started with a UTF-8 byte order mark (skipped).
    /// The reader being scanned.
    pub fn reader(&self) -> &R {
        &self.r
    }

    pub fn bom(&self) -> bool {
        self.bom
    }

    /// Where the scanner is: the next unconsumed byte.
    pub fn position(&self) -> Pos {
        self.at
    }

    /// Bytes consumed so far (including a BOM).
    pub fn offset(&self) -> u64 {
        self.at.offset
    }

    /// Containers the scanner has stepped into and not left.
    pub fn depth(&self) -> usize {
        self.depth
    }

    /// An error at the current position.
    pub fn error_here(&self, message: impl Into<String>) -> ScanError {
        ScanError {
            pos: self.at,
            message: message.into(),
        }
    }

    fn io_error(&self, e: io::Error) -> ScanError {
        self.error_here(format!("read error: {e}"))
    }

    /// Moves the unconsumed bytes to the front and reads more after them. Returns whether any
    /// byte was read.
    fn refill(&mut self) -> Result<bool, ScanError> {
        if self.eof {
            return Ok(false);
        }
        if self.pos > 0 {
            self.buf.copy_within(self.pos..self.len, 0);
            self.len -= self.pos;
            self.pos = 0;
        }
        if self.len == self.buf.len() {
            // Callers only refill with a nearly empty buffer, so this does not happen; growing
            // is the safe answer if it ever does.
            let mut v = std::mem::take(&mut self.buf).into_vec();
            v.resize(v.len() * 2, 0);
            self.buf = v.into_boxed_slice();
        }
        loop {
            match self.r.read(&mut self.buf[self.len..]) {
                Ok(0) => {
                    self.eof = true;
                    return Ok(false);
                }
                Ok(n) => {
                    self.len += n;
                    return Ok(true);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(self.io_error(e)),
            }
        }
    }

    /// Makes at least `n` unconsumed bytes available, unless the input ends first.
    fn fill_min(&mut self, n: usize) -> Result<(), ScanError> {
        while self.len - self.pos < n {
            if !self.refill()? {
                break;
            }
        }
        Ok(())
    }

    /// Consumes `n` available bytes, keeping the position up to date.
    #[inline]
    fn advance(&mut self, n: usize) {
        let region = &self.buf[self.pos..self.pos + n];
        match memchr::memrchr(b'\n', region) {
            Some(last) => {
                self.at.line += memchr::memchr_iter(b'\n', region).count() as u64;
                self.at.col = 1 + count_chars(&region[last + 1..]);
            }
            None => self.at.col += count_chars(region),
        }
        self.at.offset += n as u64;
        self.pos += n;
    }

    /// Describes the next byte for a message (`'}'`, `end of input`).
    fn describe_next(&mut self) -> String {
        // A multi-byte character may straddle the buffer's end; a failed read shows as the end.
        let _ = self.fill_min(4);
        if self.at.offset == 0 {
            describe_start(&self.buf[..self.len], self.pos)
        } else {
            describe_at(&self.buf[..self.len], self.pos)
        }
    }

    /// Skips whitespace and returns the next byte without consuming it (`None` at the end).
    pub fn peek_non_ws(&mut self) -> Result<Option<u8>, ScanError> {
        loop {
            let start = self.pos;
            let mut j = start;
            while j < self.len && is_ws(self.buf[j]) {
                j += 1;
            }
            self.advance(j - start);
            if self.pos < self.len {
                return Ok(Some(self.buf[self.pos]));
            }
            if !self.refill()? {
                return Ok(None);
            }
        }
    }

    fn consume_byte(&mut self, c: u8) {
        self.advance(1);
        match c {
            b'[' | b'{' => self.depth += 1,
            b']' | b'}' => self.depth = self.depth.saturating_sub(1),
            _ => {}
        }
    }

    /// Consumes `c` (after whitespace) if it is next; tells whether it was.
    pub fn eat(&mut self, c: u8) -> Result<bool, ScanError> {
        if self.peek_non_ws()? == Some(c) {
            self.consume_byte(c);
            return Ok(true);
        }
        Ok(false)
    }

    /// Consumes `c` (after whitespace) or fails with "expected 'c' <context>, found ...".
    pub fn expect_in(&mut self, c: u8, context: &str) -> Result<(), ScanError> {
        if self.eat(c)? {
            return Ok(());
        }
        Err(self.expected(&format!("'{}'", c as char), context))
    }

    /// Consumes `c` (after whitespace) or fails.
    pub fn expect(&mut self, c: u8) -> Result<(), ScanError> {
        self.expect_in(c, "")
    }

    /// "expected WHAT CONTEXT, found X" (or its end-of-input form) at the next non-blank byte.
    pub fn expected(&mut self, what: &str, context: &str) -> ScanError {
        let sp = if context.is_empty() { "" } else { " " };
        match self.peek_non_ws() {
            Err(e) => e,
            Ok(None) => self.error_here(format!(
                "unexpected end of input, expected {what}{sp}{context}"
            )),
            Ok(Some(_)) => {
                let found = self.describe_next();
                self.error_here(format!("expected {what}{sp}{context}, found {found}"))
            }
        }
    }

    /// After an element or member: consumes `,` (returns `true`: another follows) or `end`
    /// (returns `false`). A `,` directly followed by `end` is a trailing-comma error.
    pub fn comma_or_end(&mut self, end: u8) -> Result<bool, ScanError> {
        let what = if end == b']' {
            "after array element"
        } else {
            "after object member"
        };
        match self.peek_non_ws()? {
            Some(b',') => {
                let comma = self.at;
                self.consume_byte(b',');
                if self.peek_non_ws()? == Some(end) {
                    return Err(ScanError {
                        pos: comma,
                        message: format!("trailing comma before '{}'", end as char),
                    });
                }
                Ok(true)
            }
            Some(c) if c == end => {
                self.consume_byte(c);
                Ok(false)
            }
            _ => Err(self.expected(&format!("',' or '{}'", end as char), what)),
        }
    }

    /// Reads an object key (a string, decoded) and the `:` after it. Returns the key and where
    /// it starts.
    pub fn read_key(&mut self) -> Result<(String, Pos), ScanError> {
        if self.peek_non_ws()? != Some(b'"') {
            return Err(self.expected("a string key", ""));
        }
        let mut raw = std::mem::take(&mut self.key_buf);
        let vp = self.capture_value(&mut raw);
        let key = vp.and_then(|vp| self.decode_key(&raw, vp));
        self.key_buf = raw;
        let (key, start) = key?;
        self.expect_in(b':', "after object key")?;
        Ok((key, start))
    }

    fn decode_key(&self, raw: &[u8], vp: ValuePos) -> Result<(String, Pos), ScanError> {
        let key = match super::parse::parse(raw, 1) {
            Ok(super::Value::String(s)) => s,
            Ok(_) => unreachable!("a captured string parses as a string"),
            Err(e) => {
                let (l, c) = super::parse::line_col(raw, e.offset);
                return Err(ScanError {
                    pos: offset_pos(vp.start, e.offset as u64, l, c),
                    message: e.message,
                });
            }
        };
        Ok((key, vp.start))
    }

    /// Copies the raw text of the next complete JSON value into `out` (cleared first) and
    /// consumes it. The scan follows strings, escapes and bracket depth only; the text still has
    /// to be parsed. Fails at the end of input inside the value, when no value starts here, or
    /// when the value nests deeper than the limit.
    pub fn capture_value(&mut self, out: &mut Vec<u8>) -> Result<ValuePos, ScanError> {
        out.clear();
        let first = match self.peek_non_ws()? {
            None => return Err(self.error_here("unexpected end of input, expected a JSON value")),
            Some(c) => c,
        };
        let start = self.at;
        if matches!(first, b',' | b']' | b'}' | b':') {
            return Err(self.expected("a JSON value", ""));
        }
        if !matches!(first, b'"' | b'[' | b'{') {
            // A number or literal: runs to the next delimiter (or the end of input).
            loop {
                let mut j = self.pos;
                while j < self.len && !ends_scalar(self.buf[j]) {
                    j += 1;
                }
                out.extend_from_slice(&self.buf[self.pos..j]);
                self.advance(j - self.pos);
                if self.pos < self.len || !self.refill()? {
                    break;
                }
            }
            return Ok(ValuePos {
                start,
                len: out.len() as u64,
            });
        }
        // The open brackets of the value, innermost last.
        let mut open = std::mem::take(&mut self.open);
        open.clear();
        let mut in_str = false;
        // Bytes to skip at the start of the next chunk (an escape split across chunks).
        let mut carry = 0usize;
        loop {
            let mut j = self.pos + carry;
            let mut done = false;
            while j < self.len {
                if in_str {
                    match memchr::memchr2(b'"', b'\\', &self.buf[j..self.len]) {
                        None => j = self.len,
                        Some(k) => {
                            j += k;
                            if self.buf[j] == b'\\' {
                                j += 2;
                            } else {
                                j += 1;
                                in_str = false;
                                if open.is_empty() {
                                    done = true;
                                    break;
                                }
                            }
                        }
                    }
                    continue;
                }
                // Skip the bytes that do not matter to the structure (most of them).
                while j < self.len && !STRUCTURAL[self.buf[j] as usize] {
                    j += 1;
                }
                if j == self.len {
                    break;
                }
                match self.buf[j] {
                    b'"' => in_str = true,
                    c @ (b'[' | b'{') => {
                        open.push(c);
                        if self.depth.saturating_add(open.len()) > self.max_depth {
                            out.extend_from_slice(&self.buf[self.pos..j]);
                            self.advance(j - self.pos);
                            return Err(self.error_here(format!(
                                "nesting deeper than {} levels",
                                self.max_depth
                            )));
                        }
                    }
                    b']' | b'}' => {
                        open.pop();
                        if open.is_empty() {
                            j += 1;
                            done = true;
                            break;
                        }
                    }
                    _ => {}
                }
                j += 1;
            }
            let end = j.min(self.len);
            carry = j - end;
            out.extend_from_slice(&self.buf[self.pos..end]);
            self.advance(end - self.pos);
            if done {
                self.open = open;
                return Ok(ValuePos {
                    start,
                    len: out.len() as u64,
                });
            }
            if !self.refill()? {
                let what = match (in_str, open.last()) {
                    (true, _) => "a string",
                    (false, Some(b'[')) => "an array",
                    _ => "an object",
                };
                return Err(self.error_here(format!("unexpected end of input inside {what}")));
            }
        }
    }

    /// Reads one line (without its `\n` and a `\r` before it) into `out`, cleared first.
    /// Returns where the line starts, or `None` at the end of input.
    pub fn read_line(&mut self, out: &mut Vec<u8>) -> Result<Option<Pos>, ScanError> {
        out.clear();
        if self.pos == self.len && !self.refill()? {
            return Ok(None);
        }
        let start = self.at;
        loop {
            match memchr::memchr(b'\n', &self.buf[self.pos..self.len]) {
                Some(k) => {
                    out.extend_from_slice(&self.buf[self.pos..self.pos + k]);
                    self.advance(k + 1);
                    break;
                }
                None => {
                    out.extend_from_slice(&self.buf[self.pos..self.len]);
                    self.advance(self.len - self.pos);
                    if !self.refill()? {
                        break;
                    }
                }
            }
        }
        if out.last() == Some(&b'\r') {
            out.pop();
        }
        Ok(Some(start))
    }

    /// Checks that only whitespace is left.
    pub fn expect_end(&mut self) -> Result<(), ScanError> {
        match self.peek_non_ws()? {
            None => Ok(()),
            Some(_) => Err(self.error_here("trailing characters after the JSON value")),
        }
    }
}

/// The position `rel` bytes into a value that starts at `start`, given the relative 1-based
/// line and column of that byte within the value's text.
pub fn offset_pos(start: Pos, rel: u64, rel_line: u64, rel_col: u64) -> Pos {
    if rel_line == 1 {
        Pos {
            offset: start.offset + rel,
            line: start.line,
            col: start.col + rel_col - 1,
        }
    } else {
        Pos {
            offset: start.offset + rel,
            line: start.line + rel_line - 1,
            col: rel_col,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sc(text: &[u8], cap: usize) -> Scanner<&[u8]> {
        Scanner::with_capacity(text, cap).unwrap()
    }

    /// Every capture must be the same whatever the buffer size.
    fn captures(text: &[u8], cap: usize) -> Vec<(Vec<u8>, ValuePos)> {
        let mut s = sc(text, cap);
        let mut out = Vec::new();
        s.expect(b'[').unwrap();
        let mut v = Vec::new();
        if s.eat(b']').unwrap() {
            return out;
        }
        loop {
            let p = s.capture_value(&mut v).unwrap();
            out.push((v.clone(), p));
            if !s.comma_or_end(b']').unwrap() {
                break;
            }
        }
        s.expect_end().unwrap();
        out
    }

    #[test]
    fn captures_values_across_buffer_sizes() {
        let text = "\u{FEFF}[ {\"a\": \"x]\\\"}\", \"b\": [1, {\"c\": null}]},\n  \"é😀\\\\\", 12.5e3 ,true,\n[[]], {}, \"\\u00e9\"]\n".as_bytes();
        let reference = captures(text, 1 << 16);
        let raw: Vec<String> = reference
            .iter()
            .map(|(v, _)| String::from_utf8(v.clone()).unwrap())
            .collect();
        assert_eq!(
            raw,
            vec![
                r#"{"a": "x]\"}", "b": [1, {"c": null}]}"#,
                "\"é😀\\\\\"",
                "12.5e3",
                "true",
                "[[]]",
                "{}",
                "\"\\u00e9\""
            ]
        );
        assert_eq!(
            reference[0].1,
            ValuePos {
                start: Pos {
                    offset: 5,
                    line: 1,
                    col: 3
                },
                len: 37
            }
        );
        assert_eq!(
            reference[1].1.start,
            Pos {
                offset: 46,
                line: 2,
                col: 3
            }
        );
        // The column counts characters: "é😀\\" is 6 characters but 10 bytes.
        assert_eq!(
            reference[2].1.start,
            Pos {
                offset: 58,
                line: 2,
                col: 11
            }
        );
        assert_eq!(reference[4].1.start.line, 3);
        for cap in [16, 17, 19, 23, 32, 64] {
            assert_eq!(captures(text, cap), reference, "buffer {cap}");
        }
    }

    #[test]
    fn bom_and_positions() {
        let mut s = sc(b"\xEF\xBB\xBF\n  [1]", 16);
        assert!(s.bom());
        assert_eq!(s.peek_non_ws().unwrap(), Some(b'['));
        assert_eq!(
            s.position(),
            Pos {
                offset: 6,
                line: 2,
                col: 3
            }
        );
        let s = sc(b"[1]", 16);
        assert!(!s.bom());
    }

    #[test]
    fn errors() {
        let mut v = Vec::new();
        let mut s = sc(b"[\n  {\"a\": [1, 2", 16);
        s.expect(b'[').unwrap();
        let e = s.capture_value(&mut v).unwrap_err();
        assert_eq!(
            e,
            ScanError {
                pos: Pos {
                    offset: 15,
                    line: 2,
                    col: 14
                },
                message: "unexpected end of input inside an array".into()
            }
        );
        let mut s = sc(b"[\"abc", 16);
        s.expect(b'[').unwrap();
        assert_eq!(
            s.capture_value(&mut v).unwrap_err().message,
            "unexpected end of input inside a string"
        );
        let mut s = sc(b"[{\"a\": 1", 16);
        s.expect(b'[').unwrap();
        assert_eq!(
            s.capture_value(&mut v).unwrap_err().message,
            "unexpected end of input inside an object"
        );
        let mut s = sc(b"  {}", 16);
        let e = s.expect_in(b'[', "at the start of the file").unwrap_err();
        assert_eq!(
            e.to_string(),
            "1:3: expected '[' at the start of the file, found '{'"
        );
        let mut s = sc(b"[1 2]", 16);
        s.expect(b'[').unwrap();
        s.capture_value(&mut v).unwrap();
        let e = s.comma_or_end(b']').unwrap_err();
        assert_eq!(
            e.to_string(),
            "1:4: expected ',' or ']' after array element, found '2'"
        );
        let mut s = sc(b"[1,\n ]", 16);
        s.expect(b'[').unwrap();
        s.capture_value(&mut v).unwrap();
        assert_eq!(
            s.comma_or_end(b']').unwrap_err().to_string(),
            "1:3: trailing comma before ']'"
        );
        let mut s = sc(b"[,", 16);
        s.expect(b'[').unwrap();
        assert_eq!(
            s.capture_value(&mut v).unwrap_err().to_string(),
            "1:2: expected a JSON value, found ','"
        );
        let mut s = sc(b"[1] x", 16);
        s.expect(b'[').unwrap();
        s.capture_value(&mut v).unwrap();
        s.comma_or_end(b']').unwrap();
        assert_eq!(
            s.expect_end().unwrap_err().to_string(),
            "1:5: trailing characters after the JSON value"
        );
        let mut s = sc("{\"é\" 1}".as_bytes(), 16);
        s.expect(b'{').unwrap();
        assert_eq!(
            s.read_key().unwrap_err().to_string(),
            "1:6: expected ':' after object key, found '1'"
        );
        let mut s = sc(b"{\"a\\q\": 1}", 16);
        s.expect(b'{').unwrap();
        assert_eq!(
            s.read_key().unwrap_err().to_string(),
            "1:4: invalid escape '\\q' in string"
        );
        let mut s = sc("[é]".as_bytes(), 16);
        s.expect(b'[').unwrap();
        assert_eq!(
            s.expected("x", "").to_string(),
            "1:2: expected x, found 'é'"
        );
    }

    #[test]
    fn keys() {
        let mut s = sc(b"{ \"a\\u0062\" : 1, \"c\":2}", 16);
        s.expect(b'{').unwrap();
        assert_eq!(s.depth(), 1);
        let (k, p) = s.read_key().unwrap();
        assert_eq!((k.as_str(), p.col), ("ab", 3));
        let mut v = Vec::new();
        s.capture_value(&mut v).unwrap();
        assert!(s.comma_or_end(b'}').unwrap());
        assert_eq!(s.read_key().unwrap().0, "c");
        s.capture_value(&mut v).unwrap();
        assert!(!s.comma_or_end(b'}').unwrap());
        assert_eq!(s.depth(), 0);
    }

    #[test]
    fn depth_limit_without_recursion() {
        let mut text = vec![b'['; 100_000];
        text.extend(vec![b']'; 100_000]);
        let mut s = Scanner::new(&text[..]).unwrap();
        s.set_max_depth(128);
        s.expect(b'[').unwrap();
        let mut v = Vec::new();
        let e = s.capture_value(&mut v).unwrap_err();
        assert_eq!(
            e,
            ScanError {
                pos: Pos {
                    offset: 128,
                    line: 1,
                    col: 129
                },
                message: "nesting deeper than 128 levels".into()
            }
        );
        // Without a limit the structural scan copes with any depth.
        let mut s = Scanner::new(&text[..]).unwrap();
        s.capture_value(&mut v).unwrap();
        assert_eq!(v.len(), 200_000);
    }

    #[test]
    fn lines() {
        let mut s = sc(b"{\"a\":1}\r\n\n  \r\n[2]", 16);
        let mut v = Vec::new();
        let mut got = Vec::new();
        while let Some(p) = s.read_line(&mut v).unwrap() {
            got.push((String::from_utf8(v.clone()).unwrap(), p.line, p.offset));
        }
        assert_eq!(
            got,
            vec![
                ("{\"a\":1}".into(), 1, 0),
                ("".into(), 2, 9),
                ("  ".into(), 3, 10),
                ("[2]".into(), 4, 14)
            ]
        );
        let mut s = sc(b"a\n", 16);
        assert!(s.read_line(&mut v).unwrap().is_some());
        assert!(s.read_line(&mut v).unwrap().is_none());
    }

    #[test]
    fn offset_positions() {
        let start = Pos {
            offset: 100,
            line: 5,
            col: 7,
        };
        assert_eq!(
            offset_pos(start, 3, 1, 4),
            Pos {
                offset: 103,
                line: 5,
                col: 10
            }
        );
        assert_eq!(
            offset_pos(start, 30, 3, 2),
            Pos {
                offset: 130,
                line: 7,
                col: 2
            }
        );
    }
}
