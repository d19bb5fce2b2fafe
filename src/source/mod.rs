//! Source readers and writers: one per storage shape. Every reader streams (memory stays flat
//! however large the file) and yields [`Record`]s; every writer puts records back in the shape
//! and formatting the source had, which is how `export` undoes a migration.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::error::Problem;
use crate::json::{JsonPath, Value};

mod files;
pub mod folder;
pub mod prompty;

/// The shape of a collection's data (for a member of a multi-collection file: the shape of that
/// member's value).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// `[ {...}, {...} ]`
    Array,
    /// `{ "key1": {...}, "key2": {...} }`: the object key is the record key.
    Object,
    /// One object that is one record (`stats.json`, settings).
    Document,
    /// A TinyDB table: `{ "1": {...}, "2": {...} }`, keys are integer document ids.
    Tinydb,
    /// One JSON value per line.
    Jsonl,
    /// A folder of `*.json` files, one record per file.
    Folder,
    /// A folder of `.prompty` files: YAML front matter between `---` lines, then the body.
    Prompty,
}

/// What a reader needs to know about one source path.
#[derive(Debug, Clone)]
pub struct SourceSpec {
    /// Absolute path of the file or folder to read.
    pub path: PathBuf,
    /// How to name it in messages (relative to the project file).
    pub display: String,
    /// One entry for a single-collection source; several for a db.json / TinyDB file.
    pub members: Vec<MemberSpec>,
    pub limits: Limits,
}

#[derive(Debug, Clone)]
pub struct MemberSpec {
    /// Top-level key of a multi-collection file (`posts` in db.json, `_default` in TinyDB);
    /// `None` when the file holds a single collection.
    pub name: Option<String>,
    pub format: Format,
    /// Folder formats: file-name pattern (`*` and `?` wildcards), e.g. `*.json`.
    pub pattern: String,
    /// Folder formats: descend into sub-folders.
    pub recursive: bool,
    /// Prompty: the field that receives the template body.
    pub body_field: String,
}

#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Deepest nesting of arrays/objects accepted; deeper input is an error, not a stack overflow.
    pub max_depth: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { max_depth: 128 }
    }
}

/// One record read from a source.
#[derive(Debug, Clone)]
pub struct Record {
    /// Index into [`SourceSpec::members`].
    pub member: usize,
    /// The record's key in the file: the object key (`Object`), the document id (`Tinydb`), or
    /// the path of the file relative to the folder with `/` separators (`Folder`, `Prompty`).
    pub key: Option<String>,
    pub value: Value,
    pub origin: Origin,
}

/// Where a record came from, precisely enough to point at any value inside it later.
#[derive(Debug, Clone)]
pub struct Origin {
    /// The file holding the record (for folder sources, the record's own file).
    pub file: Arc<Path>,
    /// Byte offset and length of the record's JSON text in that file (for prompty: the front
    /// matter), and the 1-based line:column where it starts.
    pub offset: u64,
    pub len: u64,
    pub line: u64,
    pub col: u64,
    /// JSON path of the record inside its file: `$[12]`, `$.posts[3]`, `$._default["7"]`, `$`.
    pub path: JsonPath,
}

/// How a source file was written, kept so that `export` reproduces it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Style {
    /// Indentation unit (`"  "`, `"    "`, `"\t"`); `None` for compact output on one line.
    pub indent: Option<String>,
    /// Separator after a key (`":"` or `": "`).
    pub colon: String,
    /// Separator between items when compact (`","` or `", "`); ignored when indented.
    pub comma: String,
    /// Escape every non-ASCII character as `\uXXXX` (Python's `ensure_ascii`, TinyDB's default).
    pub ascii: bool,
    /// The file ends with a newline.
    pub trailing_newline: bool,
}

/// Everything about a source file that is not records, recorded at migration time so that
/// `export` can write the file back exactly.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Layout {
    pub style: Style,
    /// The file started with a UTF-8 byte order mark.
    pub bom: bool,
    /// Multi-collection files: the top-level keys in file order. A key that no collection maps
    /// keeps its value here as JSON text so nothing is lost.
    pub members: Vec<TopLevel>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TopLevel {
    pub key: String,
    /// `None` for a member that a collection holds; the raw JSON text otherwise.
    pub unmapped: Option<String>,
}

/// A reader of one source: pulls records one at a time.
pub trait RecordReader {
    /// The next record, or a problem. After a syntax error in a single-file source the reader
    /// returns `None` (a broken file cannot be resynchronised); a folder reader goes on with the
    /// next file.
    fn next_record(&mut self) -> Option<Result<Record, Problem>>;
    /// Bytes consumed so far (for progress).
    fn bytes_read(&self) -> u64;
    /// Total bytes to read (file size, or sum over a folder's files).
    fn total_bytes(&self) -> u64;
    /// Called after the last record: the layout of what was read.
    fn finish(self: Box<Self>) -> Result<Layout, Problem>;
}

/// Supplies the records of one member when writing a source back: calls `emit(key, value)` for
/// each record, in order.
pub type Feed<'a> = dyn FnMut(usize, &mut dyn FnMut(Option<&str>, &Value) -> anyhow::Result<()>) -> anyhow::Result<()>
    + 'a;
