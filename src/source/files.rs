//! What the folder formats ([`super::folder`], [`super::prompty`]) share: the walker (pattern,
//! recursion, symlink rules, deterministic order), the per-file reader loop (BOM, empty files,
//! UTF-8, progress) and the safe, atomic file writing used by `export`.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, bail};

use crate::error::Problem;
use crate::json::{self, JsonPath, Value};

use super::{Feed, FileLayout, Layout, Origin, Record, RecordReader, SourceSpec, Style, inflate};

pub(crate) const BOM: &[u8] = b"\xEF\xBB\xBF";

/// What a folder format does with one file.
pub(crate) trait FileParser: Send {
    /// Parses one file's bytes (valid UTF-8, not empty; a leading BOM still in place) into a
    /// record value. `file` names the file in problems.
    fn parse(&mut self, bytes: &[u8], file: &str) -> Result<Parsed, Problem>;
    /// The style for the layout, once all files are read.
    fn style(&self) -> Style;
}

/// A parsed file: the value and where it is in the file.
pub(crate) struct Parsed {
    pub value: Value,
    pub offset: u64,
    pub len: u64,
    pub line: u64,
    pub col: u64,
    /// JSON files: how this file was written, to compare with the folder's style.
    pub style: Option<FileStyle>,
    /// Prompty: the exact text of the front matter block (delimiters included, no BOM).
    pub head: Option<String>,
}

/// The style one JSON file showed.
pub(crate) struct FileStyle {
    /// As detected, `trailing_newline` included.
    pub style: Style,
    /// The text showed whether non-ASCII characters are escaped.
    pub ascii_known: bool,
    /// The text showed any formatting at all (an empty object `{}` does not).
    pub shows_style: bool,
}

impl FileStyle {
    /// The style to write this file with, given the folder's: what the file did not show (or
    /// what does not matter in its shape) is taken from the folder, so that a file written
    /// like the folder compares equal to it.
    fn effective(&self, folder: &Style) -> Style {
        if !self.shows_style {
            return Style {
                trailing_newline: self.style.trailing_newline,
                ..folder.clone()
            };
        }
        let mut s = self.style.clone();
        if !self.ascii_known {
            s.ascii = folder.ascii;
        }
        if s.indent.is_some() {
            // Indented output puts no separator between items on one line.
            s.comma = folder.comma.clone();
        }
        s
    }
}

/// What the reader noted about one file for the layout.
struct FileNote {
    rel: String,
    bom: bool,
    style: Option<FileStyle>,
    head: Option<String>,
}

/// Reads the files of a folder one by one through a [`FileParser`]. A file that cannot be read
/// or parsed is reported and the reader goes on with the next one.
pub(crate) struct FilesReader<P: FileParser> {
    display: String,
    items: std::vec::IntoIter<Walked>,
    parser: P,
    bytes_read: u64,
    total: u64,
    /// The first file read successfully started with a BOM.
    bom: Option<bool>,
    /// One per file read successfully, in order.
    notes: Vec<FileNote>,
}

impl<P: FileParser> FilesReader<P> {
    pub(crate) fn new(spec: &SourceSpec, parser: P) -> Result<FilesReader<P>, Problem> {
        let items = walk(spec)?;
        let total = items
            .iter()
            .map(|w| match w {
                Walked::File(f) => f.size,
                Walked::Problem(_) => 0,
            })
            .sum();
        Ok(FilesReader {
            display: spec.display.clone(),
            items: items.into_iter(),
            parser,
            bytes_read: 0,
            total,
            bom: None,
            notes: Vec::new(),
        })
    }

    /// A reader of the one file `rel` of the folder (live sync: a file that changed), judged
    /// against the folder's recorded `layout`: what [`RecordReader::finish`] then lists in
    /// `files` is this file's own formatting, where it differs from the folder's.
    pub(crate) fn one(
        spec: &SourceSpec,
        rel: &str,
        parser: P,
        layout: &Layout,
    ) -> Result<FilesReader<P>, Problem> {
        let path = spec.path.join(
            safe_relative(rel)
                .map_err(|e| Problem::new(file_display(&spec.display, rel), format!("{e:#}")))?,
        );
        let size = fs::metadata(&path)
            .map_err(|e| {
                Problem::new(
                    file_display(&spec.display, rel),
                    format!("cannot read the file: {e}"),
                )
            })?
            .len();
        let item = Walked::File(WalkedFile {
            rel: rel.to_string(),
            path,
            size,
        });
        Ok(FilesReader {
            display: spec.display.clone(),
            items: vec![item].into_iter(),
            parser,
            bytes_read: 0,
            total: size,
            bom: Some(layout.bom),
            notes: Vec::new(),
        })
    }

    fn read_one(&mut self, f: WalkedFile) -> Result<Record, Problem> {
        let display = file_display(&self.display, &f.rel);
        // Progress counts what the walk measured, so it ends exactly at the total.
        self.bytes_read += f.size;
        let bytes = fs::read(&f.path)
            .map_err(|e| Problem::new(&display, format!("cannot read the file: {e}")))?;
        check_text(&bytes, &display)?;
        let parsed = self.parser.parse(&bytes, &display)?;
        let bom = bytes.starts_with(BOM);
        if self.bom.is_none() {
            self.bom = Some(bom);
        }
        self.notes.push(FileNote {
            rel: f.rel.clone(),
            bom,
            style: parsed.style,
            head: parsed.head,
        });
        Ok(Record {
            member: 0,
            key: Some(f.rel),
            value: parsed.value,
            origin: Origin {
                file: Arc::from(f.path.as_path()),
                offset: parsed.offset,
                len: parsed.len,
                line: parsed.line,
                col: parsed.col,
                path: JsonPath::root(),
                row: None,
            },
            compact: Vec::new(),
        })
    }
}

impl<P: FileParser> RecordReader for FilesReader<P> {
    fn next_record(&mut self) -> Option<Result<Record, Problem>> {
        Some(match self.items.next()? {
            Walked::Problem(p) => Err(p),
            Walked::File(f) => self.read_one(f),
        })
    }
    fn bytes_read(&self) -> u64 {
        self.bytes_read
    }
    fn total_bytes(&self) -> u64 {
        self.total
    }
    fn finish(self: Box<Self>) -> Result<Layout, Problem> {
        let style = self.parser.style();
        let bom = self.bom.unwrap_or(false);
        let mut files = BTreeMap::new();
        for note in self.notes {
            let own = note
                .style
                .map(|s| s.effective(&style))
                .filter(|s| *s != style);
            if own.is_some() || note.bom != bom || note.head.is_some() {
                let file = FileLayout {
                    style: own,
                    bom: note.bom,
                    head: note.head,
                };
                files.insert(note.rel, file);
            }
        }
        Ok(Layout {
            style,
            bom,
            members: Vec::new(),
            files,
            sqlite: None,
        })
    }
}

/// How a file inside the folder is named in messages: `personas/team/bob.json`.
pub(crate) fn file_display(folder: &str, rel: &str) -> String {
    if folder.is_empty() || folder == "." {
        rel.to_string()
    } else {
        format!("{}/{rel}", folder.trim_end_matches(['/', '\\']))
    }
}

/// The checks every folder format makes before parsing: not empty, valid UTF-8.
pub(crate) fn check_text(bytes: &[u8], file: &str) -> Result<(), Problem> {
    let start = if bytes.starts_with(BOM) { BOM.len() } else { 0 };
    let body = &bytes[start..];
    if body.iter().all(|b| b.is_ascii_whitespace()) {
        return Err(Problem::new(file, "empty file"));
    }
    if let Err(e) = std::str::from_utf8(body) {
        let (line, col) = json::line_col(bytes, start + e.valid_up_to());
        return Err(
            Problem::new(file, "not valid UTF-8 text (is the file encoded in UTF-8?)")
                .at(line, col),
        );
    }
    Ok(())
}

/// One entry of a folder walk, in relative-path order.
pub(crate) enum Walked {
    File(WalkedFile),
    /// A file that matches but cannot be read as a record (symlink leaving the folder, broken
    /// link, name that is not UTF-8).
    Problem(Problem),
}

pub(crate) struct WalkedFile {
    /// Path relative to the folder, `/` separators: the record key.
    pub rel: String,
    /// The file to open (the link itself for a symlink inside the folder).
    pub path: PathBuf,
    pub size: u64,
}

/// Walks `spec.path` for files whose name matches `spec.members[0].pattern`, descending when
/// `recursive`. Sorted by relative path (byte order). A symlink (to a file or folder) is
/// followed only when its target lies inside the folder; one that leads outside is a problem
/// and is not followed. Folders reached twice through links inside the folder are walked once
/// per path, but a link back to a folder being walked (a cycle) is skipped.
pub(crate) fn walk(spec: &SourceSpec) -> Result<Vec<Walked>, Problem> {
    let member = spec.members.first();
    let pattern = member
        .map(|m| m.pattern.as_str())
        .filter(|p| !p.is_empty())
        .unwrap_or("*");
    let recursive = member.is_some_and(|m| m.recursive);
    let meta = fs::metadata(&spec.path)
        .map_err(|e| Problem::new(&spec.display, format!("cannot open the source folder: {e}")))?;
    if !meta.is_dir() {
        return Err(Problem::new(&spec.display, "the source is not a folder"));
    }
    let root = fs::canonicalize(&spec.path)
        .map_err(|e| Problem::new(&spec.display, format!("cannot open the source folder: {e}")))?;
    let pattern: Vec<char> = pattern.chars().collect();
    let mut w = Walker {
        display: &spec.display,
        root: &root,
        pattern: &pattern,
        recursive,
        stack: vec![root.clone()],
        out: Vec::new(),
    };
    w.dir(&spec.path, "")?;
    let mut out = w.out;
    out.retain(|(rel, _)| !spec.skip.contains(rel));
    out.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    Ok(out.into_iter().map(|(_, w)| w).collect())
}

struct Walker<'a> {
    display: &'a str,
    root: &'a Path,
    pattern: &'a [char],
    recursive: bool,
    /// Canonical folders being walked (for cycles).
    stack: Vec<PathBuf>,
    out: Vec<(String, Walked)>,
}

impl Walker<'_> {
    fn problem(&mut self, rel: String, message: &str) {
        let p = Problem::new(file_display(self.display, &rel), message);
        self.out.push((rel, Walked::Problem(p)));
    }

    fn dir(&mut self, dir: &Path, rel: &str) -> Result<(), Problem> {
        let here = if rel.is_empty() {
            self.display.to_string()
        } else {
            file_display(self.display, rel)
        };
        let read_err =
            |e: std::io::Error| Problem::new(&here, format!("cannot read the folder: {e}"));
        let mut entries = Vec::new();
        for entry in fs::read_dir(dir).map_err(read_err)? {
            let entry = entry.map_err(read_err)?;
            entries.push(entry);
        }
        for entry in entries {
            let path = entry.path();
            let os_name = entry.file_name();
            let name = os_name.to_string_lossy().into_owned();
            let child_rel = if rel.is_empty() {
                name.clone()
            } else {
                format!("{rel}/{name}")
            };
            let Ok(ftype) = entry.file_type() else {
                self.problem(child_rel, "cannot read the file type");
                continue;
            };
            let matches = glob_match(self.pattern, &name);
            let (is_dir, is_file) = if ftype.is_symlink() {
                match fs::canonicalize(&path) {
                    Err(_) => {
                        if matches {
                            self.problem(child_rel, "broken symlink: its target does not exist");
                        }
                        continue;
                    }
                    Ok(target) => {
                        let Ok(meta) = fs::metadata(&target) else {
                            continue;
                        };
                        let wanted =
                            (meta.is_file() && matches) || (meta.is_dir() && self.recursive);
                        if !target.starts_with(self.root) {
                            if wanted {
                                self.problem(
                                    child_rel,
                                    &format!(
                                        "symlink leaves the source folder (it points to {}); not followed",
                                        target.display()
                                    ),
                                );
                            }
                            continue;
                        }
                        if meta.is_dir() && self.stack.contains(&target) {
                            tracing::debug!(link = %path.display(), "symlink cycle skipped");
                            continue;
                        }
                        (meta.is_dir(), meta.is_file())
                    }
                }
            } else {
                (ftype.is_dir(), ftype.is_file())
            };
            if is_dir {
                if self.recursive {
                    if os_name.to_str().is_none() {
                        self.problem(child_rel, "folder name is not valid UTF-8");
                        continue;
                    }
                    let canon = fs::canonicalize(&path).unwrap_or_else(|_| path.clone());
                    self.stack.push(canon);
                    // An unreadable sub-folder is reported; the walk goes on.
                    if let Err(p) = self.dir(&path, &child_rel) {
                        self.out.push((child_rel, Walked::Problem(p)));
                    }
                    self.stack.pop();
                }
            } else if is_file && matches {
                if os_name.to_str().is_none() {
                    self.problem(child_rel, "file name is not valid UTF-8");
                    continue;
                }
                match fs::metadata(&path) {
                    Ok(m) => self.out.push((
                        child_rel.clone(),
                        Walked::File(WalkedFile {
                            rel: child_rel,
                            path,
                            size: m.len(),
                        }),
                    )),
                    Err(e) => self.problem(child_rel, &format!("cannot read the file: {e}")),
                }
            }
        }
        Ok(())
    }
}

/// Whether `rel` (relative to the folder, `/` separators) names a file the folder source
/// reads: its name matches the pattern, and it is at the top unless the source is recursive.
pub(crate) fn is_member_file(spec: &SourceSpec, rel: &str) -> bool {
    let member = spec.members.first();
    let pattern: Vec<char> = member
        .map(|m| m.pattern.as_str())
        .filter(|p| !p.is_empty())
        .unwrap_or("*")
        .chars()
        .collect();
    let recursive = member.is_some_and(|m| m.recursive);
    let name = rel.rsplit('/').next().unwrap_or(rel);
    (recursive || !rel.contains('/')) && safe_relative(rel).is_ok() && glob_match(&pattern, name)
}

/// File-name matching with `*` (any run of characters, possibly empty) and `?` (one
/// character). Everything else matches itself, case-sensitively.
pub(crate) fn glob_match(pattern: &[char], name: &str) -> bool {
    let name: Vec<char> = name.chars().collect();
    let (mut p, mut n) = (0, 0);
    // Where the last `*` was and how much of the name it has taken so far.
    let mut star: Option<(usize, usize)> = None;
    while n < name.len() {
        if p < pattern.len() && (pattern[p] == '?' || pattern[p] == name[n]) {
            p += 1;
            n += 1;
        } else if p < pattern.len() && pattern[p] == '*' {
            star = Some((p, n));
            p += 1;
        } else if let Some((sp, sn)) = star {
            // Let the `*` take one more character and try again.
            p = sp + 1;
            n = sn + 1;
            star = Some((sp, sn + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|&c| c == '*')
}

/// Checks that a record key is a relative path that stays inside the output folder.
pub(crate) fn safe_relative(key: &str) -> anyhow::Result<PathBuf> {
    if key.is_empty() {
        bail!("empty file name");
    }
    if key.contains('\\') {
        bail!("file name {key:?} contains a backslash; use / between folders");
    }
    if key.starts_with('/') || Path::new(key).is_absolute() {
        bail!("file name {key:?} is an absolute path");
    }
    if key.contains('\0') {
        bail!("file name {key:?} contains a NUL character");
    }
    let mut out = PathBuf::new();
    for part in key.split('/') {
        match part {
            ".." => bail!("file name {key:?} leaves the folder (..)"),
            "" | "." => bail!("file name {key:?} has an empty or . component"),
            _ => out.push(part),
        }
    }
    Ok(out)
}

/// Writes `bytes` to `path` through a temporary file in the same folder and a rename, so a
/// reader never sees half a file.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp = tempfile::Builder::new()
        .prefix(".jsonlift-")
        .suffix(".tmp")
        .tempfile_in(dir)
        .with_context(|| format!("cannot create a temporary file in {}", dir.display()))?;
    tmp.write_all(bytes)
        .and_then(|()| tmp.as_file().sync_all())
        .with_context(|| format!("cannot write {}", path.display()))?;
    tmp.persist(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

/// The export loop shared by the folder formats: each record of member 0 goes to
/// `out_dir/<key>` as the bytes `render` makes of it (given the file's own layout, if the
/// layout lists one), after a BOM when the file (or else the folder) had one.
pub(crate) fn write_files(
    out_dir: &Path,
    layout: &Layout,
    feed: &mut Feed,
    render: &mut dyn FnMut(&Value, Option<&FileLayout>) -> anyhow::Result<Vec<u8>>,
) -> anyhow::Result<()> {
    fs::create_dir_all(out_dir).with_context(|| format!("cannot create {}", out_dir.display()))?;
    feed(0, &mut |key, value, texts| {
        // A file of its own per record: its JSON fields are written from the tree.
        let value = &*inflate(value, texts)?;
        let Some(key) = key else {
            bail!("a record has no file name")
        };
        let rel = safe_relative(key).with_context(|| format!("record {key:?}"))?;
        let path = out_dir.join(rel);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        let file = layout.files.get(key);
        let bom = file.map_or(layout.bom, |f| f.bom);
        let mut bytes = if bom { BOM.to_vec() } else { Vec::new() };
        bytes.extend(render(value, file).with_context(|| format!("record {key:?}"))?);
        write_atomic(&path, &bytes)
    })
}
