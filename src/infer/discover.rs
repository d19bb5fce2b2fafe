//! Finding the sources under a folder: JSON files (probed for their shape), JSON Lines files,
//! folders of one-record-per-file JSON, and folders of `.prompty` files.
//!
//! Rules: hidden entries (`.git`, `.jsonlift`, `.generate`), `node_modules` and `__pycache__` are
//! skipped, so are tools' JSON files (`package.json`, `tsconfig.json`, ...: [`TOOL_FILES`]) and
//! whatever `--exclude` names, each listed in the project file's comment, symbolic links to folders are not followed, and entries are visited in name order so
//! the result does not depend on the file system. A folder with `.prompty` files is one `prompty`
//! collection. A folder whose (at least two) `*.json` files each hold one object, with similar
//! fields, is one `folder` collection; otherwise each file is its own source.

use std::fs;
use std::path::{Path, PathBuf};

use crate::error::Problem;

use super::shape::{self, KeyShape, Probe};

/// A source found under the root.
#[derive(Debug, Clone)]
pub struct Found {
    pub path: PathBuf,
    /// Path relative to the project root, `/`-separated (`.` for the root itself).
    pub rel: String,
    pub kind: FoundKind,
}

#[derive(Debug, Clone)]
pub enum FoundKind {
    /// One JSON or JSON Lines file, probed.
    File { jsonl_ext: bool, probe: Probe },
    /// A folder of `*.json` files, one record each.
    Folder { files: usize, why: String },
    /// A folder of `.prompty` files.
    Prompty { files: usize },
    /// A legacy SQLite database: its tables.
    Sqlite {
        tables: Vec<super::sqlite::LegacyTable>,
    },
}

/// Whether the file starts with SQLite's header.
fn is_sqlite(p: &Path) -> bool {
    use std::io::Read;
    let mut head = [0u8; 16];
    fs::File::open(p)
        .and_then(|mut f| f.read_exact(&mut head))
        .is_ok_and(|()| &head == b"SQLite format 3\0")
}

fn ext_of(p: &Path) -> String {
    p.extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase()
}

fn skipped_name(name: &str) -> bool {
    name.starts_with('.') || name == "node_modules" || name == "__pycache__"
}

/// JSON files that configure tools rather than hold an application's data: at an application's
/// root, `init .` would otherwise make collections of them.
const TOOL_FILES: &[&str] = &[
    "package.json",
    "package-lock.json",
    "npm-shrinkwrap.json",
    "jsconfig.json",
    "composer.json",
    "composer.lock",
    "deno.json",
    "deno.lock",
    "bower.json",
    "lerna.json",
    "nx.json",
    "turbo.json",
    "angular.json",
    "tslint.json",
    "babel.config.json",
    "renovate.json",
    "vercel.json",
    "firebase.json",
    "pyrightconfig.json",
    "Pipfile.lock",
];

fn tool_file(name: &str) -> bool {
    TOOL_FILES.contains(&name)
        || (name.starts_with("tsconfig") && name.ends_with(".json"))
        || name.starts_with(".eslintrc")
}

/// What the walk leaves out beyond hidden entries: tool files, and what `--exclude` names.
#[derive(Debug, Default)]
pub struct Skips {
    /// Glob patterns (`*`, `?`) matched against an entry's name and its path from the root.
    pub exclude: Vec<String>,
    /// What was left out (path from the root) and why, in walk order.
    pub skipped: Vec<(String, &'static str)>,
}

impl Skips {
    fn excluded(&self, name: &str, rel: &str) -> bool {
        self.exclude.iter().any(|g| {
            let g: Vec<char> = g.chars().collect();
            crate::source::glob_match(&g, name) || crate::source::glob_match(&g, rel)
        })
    }

    /// Whether to leave out the entry `name` at `rel` (a file when `file`), noting why.
    fn skip(&mut self, name: &str, rel: &str, file: bool) -> bool {
        let why = if self.excluded(name, rel) {
            "--exclude"
        } else if file && tool_file(name) {
            "a tool's configuration, not data"
        } else {
            return false;
        };
        self.skipped.push((rel.to_string(), why));
        true
    }
}

/// The path of `p` relative to `root` with `/` separators (`.` for the root); absolute when
/// outside it.
pub fn relative(root: &Path, p: &Path) -> String {
    match p.strip_prefix(root) {
        Ok(r) if r.as_os_str().is_empty() => ".".to_string(),
        Ok(r) => r
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join("/"),
        Err(_) => p.display().to_string(),
    }
}

/// Walks `dir` (recursively) for sources. Problems (unreadable folders, files that do not
/// parse far enough to probe) are collected, not fatal, so every one is reported.
pub fn walk(
    root: &Path,
    dir: &Path,
    max_depth: usize,
    out: &mut Vec<Found>,
    problems: &mut Vec<Problem>,
    skips: &mut Skips,
) {
    let rel_dir = relative(root, dir);
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) => {
            problems.push(Problem::new(
                &rel_dir,
                format!("cannot list the folder: {e}"),
            ));
            return;
        }
    };
    let mut files = Vec::new();
    let mut dirs = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if skipped_name(&name) {
            continue;
        }
        let Ok(ft) = entry.file_type() else { continue };
        let path = entry.path();
        if skips.skip(&name, &relative(root, &path), !ft.is_dir()) {
            continue;
        }
        if ft.is_dir() {
            dirs.push(path);
        } else if ft.is_file() || (ft.is_symlink() && path.is_file()) {
            files.push(path);
        }
    }
    files.sort();
    dirs.sort();
    let prompty = files.iter().filter(|p| ext_of(p) == "prompty").count();
    let json: Vec<&PathBuf> = files.iter().filter(|p| ext_of(p) == "json").collect();
    let mut probes = Vec::new();
    for p in &json {
        let rel = relative(root, p);
        match shape::probe(p, &rel, max_depth) {
            Ok(pr) => probes.push((p.to_path_buf(), rel, pr)),
            Err(e) => problems.push(e),
        }
    }
    if prompty > 0 {
        out.push(Found {
            path: dir.to_path_buf(),
            rel: rel_dir.clone(),
            kind: FoundKind::Prompty { files: prompty },
        });
    }
    match folder_of_records(&probes) {
        Some(why) if prompty == 0 && probes.len() == json.len() => {
            out.push(Found {
                path: dir.to_path_buf(),
                rel: rel_dir.clone(),
                kind: FoundKind::Folder {
                    files: probes.len(),
                    why,
                },
            });
        }
        _ => {
            for (path, rel, probe) in probes {
                out.push(Found {
                    path,
                    rel,
                    kind: FoundKind::File {
                        jsonl_ext: false,
                        probe,
                    },
                });
            }
        }
    }
    for p in files
        .iter()
        .filter(|p| matches!(ext_of(p).as_str(), "jsonl" | "ndjson"))
    {
        out.push(Found {
            path: p.clone(),
            rel: relative(root, p),
            kind: FoundKind::File {
                jsonl_ext: true,
                probe: Probe::Empty,
            },
        });
    }
    // Legacy SQLite databases (a database jsonlift made, the project's own, is passed over).
    for p in files.iter().filter(|p| {
        matches!(ext_of(p).as_str(), "db" | "sqlite" | "sqlite3" | "db3") && is_sqlite(p)
    }) {
        let rel = relative(root, p);
        match super::sqlite::inspect(p, &rel) {
            Ok(Some(tables)) if !tables.is_empty() => out.push(Found {
                path: p.clone(),
                rel,
                kind: FoundKind::Sqlite { tables },
            }),
            Ok(_) => {}
            Err(e) => problems.push(e),
        }
    }
    for d in dirs {
        walk(root, &d, max_depth, out, problems, skips);
    }
}

/// Whether the probed files of one folder are one record each, of one kind: at least two files,
/// each a single object that is not itself a multi-collection file, with similar top-level keys.
fn folder_of_records(probes: &[(PathBuf, String, Probe)]) -> Option<String> {
    if probes.len() < 2 {
        return None;
    }
    let mut keys = KeyShape::default();
    for (_, rel, p) in probes {
        let Probe::Object(o) = p else { return None };
        if o.more_values || o.members as usize != o.listed.len() {
            return None;
        }
        match shape::decide(p, false, rel) {
            Ok(d) if matches!(d.shape, shape::Shape::Document | shape::Shape::Keyed) => {}
            _ => return None,
        }
        keys.objects += 1;
        for m in &o.listed {
            keys.add_key(&m.name);
        }
    }
    let sim = keys.similarity();
    (sim >= 0.5).then(|| {
        format!("{} *.json files, each one object with similar top-level keys (similarity {sim:.2}): a folder of records, one per file", probes.len())
    })
}

/// Looks at one path given on the command line: a folder is walked, a file is probed alone
/// (never grouped with its neighbours).
pub fn examine(
    root: &Path,
    path: &Path,
    max_depth: usize,
    out: &mut Vec<Found>,
    problems: &mut Vec<Problem>,
    skips: &mut Skips,
) {
    let rel = relative(root, path);
    let meta = match fs::metadata(path) {
        Ok(m) => m,
        Err(e) => {
            problems.push(Problem::new(&rel, format!("cannot read: {e}")));
            return;
        }
    };
    if meta.is_dir() {
        walk(root, path, max_depth, out, problems, skips);
        return;
    }
    let ext = ext_of(path);
    if ext == "prompty" {
        problems.push(Problem::new(
            &rel,
            "a .prompty file is read as part of its folder: pass the folder instead",
        ));
        return;
    }
    if is_sqlite(path) {
        match super::sqlite::inspect(path, &rel) {
            Ok(Some(tables)) if tables.is_empty() => problems.push(Problem::new(
                &rel,
                "a SQLite database without tables: nothing to read",
            )),
            Ok(Some(tables)) => out.push(Found {
                path: path.to_path_buf(),
                rel,
                kind: FoundKind::Sqlite { tables },
            }),
            // Said plainly rather than "a single scalar value".
            Ok(None) => problems.push(Problem::new(
                &rel,
                "this is a database jsonlift made (it holds only jsonlift's tables), not a source: it goes elsewhere with `jsonlift copy --to URL`",
            )),
            Err(p) => problems.push(p),
        }
        return;
    }
    let jsonl_ext = matches!(ext.as_str(), "jsonl" | "ndjson");
    let probe = if jsonl_ext {
        Ok(Probe::Empty)
    } else {
        shape::probe(path, &rel, max_depth)
    };
    match probe {
        Ok(probe) => out.push(Found {
            path: path.to_path_buf(),
            rel,
            kind: FoundKind::File { jsonl_ext, probe },
        }),
        Err(e) => problems.push(e),
    }
}
