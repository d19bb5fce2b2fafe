//! Source readers and writers: one per storage shape. Every reader streams (memory stays flat
//! however large the file) and yields [`Record`]s; every writer puts records back in the shape
//! and formatting the source had, which is how `export` undoes a migration.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::error::Problem;
use crate::json::parse::{CompactMember, Opaque};
use crate::json::{JsonPath, Value};

mod array;
mod document;
mod files;
pub(crate) use files::glob_match;
pub mod folder;
mod input;
mod jsonl;
mod members;
mod object;
pub mod prompty;
pub mod sqlite;

#[cfg(test)]
mod tests;

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
    /// A table or query of a SQLite database (a hand-kept legacy database): one row, one record.
    Sqlite,
    /// No source: the collection lives only in the database (a collection without `source`).
    /// Never written in jsonlift.toml.
    #[serde(skip)]
    Database,
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
    /// Folder formats: files (relative paths) the reader leaves out — broken files that
    /// `serve --store json` answers without, so the other records are served.
    pub skip: Vec<String>,
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
    /// SQLite: the table or query read, and its JSON columns.
    pub sqlite: Option<sqlite::SqliteMember>,
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
    /// Members given as compact JSON text ([`CompactFields`]): each one's index in `value`'s
    /// object, which holds an empty array in its place, and its text.
    pub compact: Vec<CompactMember>,
}

/// Which members of each record a reader gives as compact JSON text ([`Record::compact`])
/// instead of a tree: fields stored only as JSON text, whose tree would take about six times
/// their size in memory.
#[derive(Debug, Clone, Default)]
pub enum CompactFields {
    #[default]
    None,
    /// The keys of the JSON fields, by member ([`SourceSpec::members`]).
    Keys(Vec<Vec<String>>),
    /// Every member of every record (a syntax check).
    All,
}

impl CompactFields {
    pub(crate) fn of(&self, member: usize) -> Opaque<'_> {
        match self {
            CompactFields::None => Opaque::None,
            CompactFields::Keys(by_member) => match by_member.get(member) {
                Some(keys) if !keys.is_empty() => Opaque::Keys(keys),
                _ => Opaque::None,
            },
            CompactFields::All => Opaque::All,
        }
    }
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
    /// A record read from a row of a SQLite source: its table and row, and the texts of its
    /// JSON columns (places inside a record are named by column and line:column in its text).
    pub row: Option<Arc<sqlite::RowPlace>>,
}

pub use crate::json::Style;

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
    /// Folder formats: what one file had of its own, by record key (the file's path relative
    /// to the folder, `/` separators). A JSON file is listed only when it differs from
    /// [`Layout::style`] or [`Layout::bom`]; every `.prompty` file is listed with its front
    /// matter text.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub files: BTreeMap<String, FileLayout>,
    /// SQLite sources: the tables' definitions and what it takes to write every cell back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sqlite: Option<sqlite::SqliteLayout>,
}

/// The layout of one file of a folder source, where it is not the folder's.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FileLayout {
    /// The file's own style (JSON files written differently from the folder's first file).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub style: Option<Style>,
    /// The file started with a UTF-8 byte order mark.
    #[serde(default)]
    pub bom: bool,
    /// Prompty: the exact text of the front matter block, from the opening `---` through the
    /// line ending after the closing `---`. Written back verbatim while the record's front
    /// matter still reads the same from it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub head: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TopLevel {
    pub key: String,
    /// `None` for a member that a collection holds; the raw JSON text otherwise.
    pub unmapped: Option<String>,
}

/// A reader of one source: pulls records one at a time.
pub trait RecordReader: Send {
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
    /// Gives these members of the records read from now on as text ([`Record::compact`]);
    /// readers of sources whose records are not JSON text ignore it.
    fn give_compact(&mut self, _which: CompactFields) {}
}

/// Supplies the records of one member when writing a source back: calls `emit(key, value,
/// texts)` for each record, in order.
pub type Feed<'a> = dyn FnMut(usize, &mut Emit) -> anyhow::Result<()> + 'a;

/// What a [`Feed`] calls for each record: its key, its value, and its JSON fields given as
/// [`Texts`].
pub type Emit<'e> = dyn FnMut(Option<&str>, &Value, &Texts) -> anyhow::Result<()> + 'e;

/// Top-level JSON fields of a record given as their JSON text (a column's), by key: the record's
/// value holds a placeholder in their place. Written from the text ([`write_record`]), a large
/// JSON field is never built as a tree; a writer that needs the tree [`inflate`]s the record.
pub type Texts<'t> = [(&'t str, &'t str)];

/// `value` with its [`Texts`] parsed into place (borrowed when there are none).
pub fn inflate<'v>(value: &'v Value, texts: &Texts) -> anyhow::Result<std::borrow::Cow<'v, Value>> {
    if texts.is_empty() {
        return Ok(std::borrow::Cow::Borrowed(value));
    }
    let mut whole = value.clone();
    if let Value::Object(members) = &mut whole {
        for (k, v) in members.iter_mut() {
            if let Some((_, text)) = texts.iter().find(|(n, _)| n == k) {
                *v = crate::json::parse(text.as_bytes(), crate::json::write::COLUMN_DEPTH)
                    .map_err(|e| anyhow::anyhow!("bad JSON in a column: {e}"))?;
            }
        }
    }
    Ok(std::borrow::Cow::Owned(whole))
}

pub use crate::json::write::write_record;

/// Is this source a file shared by several collections (each naming its `member`)?
fn is_multi_member(spec: &SourceSpec) -> bool {
    spec.members.iter().any(|m| m.name.is_some())
}

/// Is this source a SQLite database (each collection reading a table or a query of it)?
pub fn is_sqlite(spec: &SourceSpec) -> bool {
    spec.members
        .first()
        .is_some_and(|m| m.format == Format::Sqlite)
}

/// Is this the empty stand-in source of a collection without `source`?
pub fn is_none(spec: &SourceSpec) -> bool {
    spec.members
        .first()
        .is_some_and(|m| m.format == Format::Database)
}

/// Opens a reader for `spec`, by the shape of its data.
pub fn open(spec: &SourceSpec) -> Result<Box<dyn RecordReader>, Problem> {
    open_from(spec, None)
}

/// The bytes of a single-file source supplied by the caller instead of read from its path (the
/// backup copy, handed over block by block while it is written). `len`: the file's size.
pub struct Bytes {
    pub read: Box<dyn std::io::Read + Send>,
    pub len: u64,
}

/// Like [`open`], reading `bytes` (when given) in place of the file at `spec.path`, which still
/// names the file in records' origins. A folder cannot be supplied so.
pub fn open_from(
    spec: &SourceSpec,
    bytes: Option<Bytes>,
) -> Result<Box<dyn RecordReader>, Problem> {
    if is_sqlite(spec) {
        // A database is read where it lies (a backup's copy), never as a stream of bytes.
        return sqlite::open(spec);
    }
    if is_none(spec) {
        return Ok(Box::new(Nothing));
    }
    if is_multi_member(spec) {
        return members::open(spec, bytes);
    }
    let Some(m) = spec.members.first() else {
        return Err(Problem::new(
            spec.display.clone(),
            "no collection reads this source",
        ));
    };
    if spec.members.len() > 1 {
        return Err(Problem::new(
            spec.display.clone(),
            "several collections read this file: each needs a `member`",
        ));
    }
    match m.format {
        Format::Folder | Format::Prompty if bytes.is_some() => Err(Problem::new(
            spec.display.clone(),
            "a folder's files are read from the folder",
        )),
        Format::Array => array::open(spec, bytes),
        Format::Object | Format::Tinydb => object::open(spec, bytes),
        Format::Document => document::open(spec, bytes),
        Format::Jsonl => jsonl::open(spec, bytes),
        Format::Folder => folder::open(spec),
        Format::Prompty => prompty::open(spec),
        Format::Sqlite | Format::Database => unreachable!("dispatched above"),
    }
}

/// The reader of a collection without a source: no records.
struct Nothing;

impl RecordReader for Nothing {
    fn next_record(&mut self) -> Option<Result<Record, Problem>> {
        None
    }
    fn bytes_read(&self) -> u64 {
        0
    }
    fn total_bytes(&self) -> u64 {
        0
    }
    fn finish(self: Box<Self>) -> Result<Layout, Problem> {
        Ok(Layout::default())
    }
}

/// Whether the source is a folder of files, one record each.
pub fn is_folder(spec: &SourceSpec) -> bool {
    matches!(
        spec.members.first().map(|m| m.format),
        Some(Format::Folder | Format::Prompty)
    )
}

/// One file of a folder source (live sync: a file that changed), as the folder's reader would
/// read it: the record, or its problem (file, line:column, JSON path); and the file's own
/// formatting where it differs from the folder's recorded `layout`.
pub fn read_folder_file(
    spec: &SourceSpec,
    rel: &str,
    layout: &Layout,
) -> Result<(Record, Option<FileLayout>), Problem> {
    let mut reader = match spec.members.first().map(|m| m.format) {
        Some(Format::Folder) => folder::open_one(spec, rel, layout)?,
        Some(Format::Prompty) => prompty::open_one(spec, rel, layout)?,
        _ => {
            return Err(Problem::new(spec.display.clone(), "not a folder source"));
        }
    };
    let record = reader
        .next_record()
        .unwrap_or_else(|| Err(Problem::new(spec.display.clone(), "no record read")))?;
    let mut own = reader.finish()?;
    Ok((record, own.files.remove(rel)))
}

/// The files of a folder source, by path relative to it (`/` separators), in the order the
/// reader takes them; a file that cannot be read as a record is its problem.
pub fn folder_files(spec: &SourceSpec) -> Result<Vec<Result<String, Problem>>, Problem> {
    Ok(files::walk(spec)?
        .into_iter()
        .map(|w| match w {
            files::Walked::File(f) => Ok(f.rel),
            files::Walked::Problem(p) => Err(p),
        })
        .collect())
}

pub(crate) use files::is_member_file;

/// How a file of a folder source is named in messages and the sync's status:
/// `personas/team/bob.json`.
pub fn record_display(spec: &SourceSpec, rel: &str) -> String {
    files::file_display(&spec.display, rel)
}

/// Writes the records `feed` supplies back to `out_path` in the shape of `spec` and the
/// formatting `layout` recorded: through a temporary file in the same folder, fsynced, then
/// renamed into place.
pub fn write_source(
    spec: &SourceSpec,
    layout: &Layout,
    out_path: &Path,
    feed: &mut Feed,
) -> anyhow::Result<()> {
    if is_sqlite(spec) {
        return sqlite::write(spec, layout, out_path, feed);
    }
    if is_multi_member(spec) {
        return members::write(spec, layout, out_path, feed);
    }
    let Some(m) = spec.members.first() else {
        anyhow::bail!("{}: no collection reads this source", spec.display);
    };
    match m.format {
        Format::Array => array::write(spec, layout, out_path, feed),
        Format::Object | Format::Tinydb => object::write(spec, layout, out_path, feed),
        Format::Document => document::write(spec, layout, out_path, feed),
        Format::Jsonl => jsonl::write(spec, layout, out_path, feed),
        Format::Folder => folder::write(spec, layout, out_path, feed),
        Format::Prompty => prompty::write(spec, layout, out_path, feed),
        // A collection without a source, written out on request (`export --all`): an array.
        Format::Database => array::write(spec, layout, out_path, feed),
        Format::Sqlite => unreachable!("dispatched above"),
    }
}

/// Guesses a source's format when the project file does not say (see docs/config.md): a folder
/// is `folder`, or `prompty` when it holds `.prompty` files; `.jsonl`/`.ndjson` files are
/// `jsonl`; otherwise the first byte that is not whitespace (after a BOM) decides: `[` is
/// `array`, `{` is `document`.
pub fn guess_format(path: &Path) -> Result<Format, Problem> {
    use std::io::Read;
    let display = path.display().to_string();
    let meta = std::fs::metadata(path)
        .map_err(|e| Problem::new(display.clone(), format!("cannot read: {e}")))?;
    if meta.is_dir() {
        let entries = std::fs::read_dir(path)
            .map_err(|e| Problem::new(display.clone(), format!("cannot list the folder: {e}")))?;
        let prompty = entries.flatten().any(|e| {
            e.path()
                .extension()
                .is_some_and(|x| x.eq_ignore_ascii_case("prompty"))
        });
        return Ok(if prompty {
            Format::Prompty
        } else {
            Format::Folder
        });
    }
    let ext = path
        .extension()
        .and_then(|x| x.to_str())
        .map(|x| x.to_ascii_lowercase());
    if matches!(ext.as_deref(), Some("jsonl" | "ndjson")) {
        return Ok(Format::Jsonl);
    }
    if sqlite::is_database(path) {
        return Ok(Format::Sqlite);
    }
    let mut f = std::fs::File::open(path)
        .map_err(|e| Problem::new(display.clone(), format!("cannot open: {e}")))?;
    let mut head = [0u8; 4096];
    let mut skip = 0; // the BOM, in the first chunk
    let mut first = true;
    loop {
        let n = f
            .read(&mut head)
            .map_err(|e| Problem::new(display.clone(), format!("cannot read: {e}")))?;
        if n == 0 {
            return Err(Problem::new(
                display,
                "empty file: cannot guess its format (set `format`)",
            ));
        }
        if first && head[..n].starts_with(crate::json::parse::BOM) {
            skip = 3;
        }
        let at_start = first;
        first = false;
        let at = head[..n]
            .iter()
            .enumerate()
            .skip(skip)
            .position(|(_, c)| !matches!(c, b' ' | b'\n' | b'\r' | b'\t'));
        if let Some(k) = at {
            return match head[skip + k] {
                b'[' => Ok(Format::Array),
                b'{' => Ok(Format::Document),
                _ => {
                    let found = if at_start {
                        crate::json::parse::describe_start(&head[..n], skip + k)
                    } else {
                        crate::json::parse::describe_at(&head[..n], skip + k)
                    };
                    Err(Problem::new(
                        display,
                        format!(
                            "cannot guess the format: the file starts with {found}, not '[' or '{{' (set `format`)"
                        ),
                    ))
                }
            };
        }
        skip = 0;
    }
}
