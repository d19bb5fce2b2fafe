//! Test harness: a throw-away project folder (`jsonlift.toml` + data files), a runner for the
//! binary that captures exit code / stdout / stderr, and helpers to look at what the binary left
//! behind (database content, backups, source files).

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant, SystemTime};

use rusqlite::Connection;
use rusqlite::types::ValueRef;
use sha2::{Digest, Sha256};

pub const BIN: &str = env!("CARGO_BIN_EXE_jsonlift");

/// A watchdog, not a speed assertion: a hung binary fails the test instead of hanging the suite.
const WATCHDOG: Duration = Duration::from_secs(120);

// ---------------------------------------------------------------------------------------------
// Running the binary
// ---------------------------------------------------------------------------------------------

/// The outcome of one run of the binary.
#[derive(Debug)]
pub struct Run {
    pub cmd: String,
    /// `None` when the process was killed by a signal.
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    fn describe(&self) -> String {
        format!(
            "command: {}\nexit: {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}\n--------------",
            self.cmd, self.code, self.stdout, self.stderr
        )
    }

    #[track_caller]
    pub fn code(&self, code: i32) -> &Run {
        assert_eq!(
            self.code,
            Some(code),
            "unexpected exit code\n{}",
            self.describe()
        );
        self
    }

    #[track_caller]
    pub fn code_in(&self, codes: &[i32]) -> &Run {
        assert!(
            self.code.is_some_and(|c| codes.contains(&c)),
            "exit code should be one of {codes:?}\n{}",
            self.describe()
        );
        self
    }

    #[track_caller]
    pub fn ok(&self) -> &Run {
        self.code(0)
    }

    #[track_caller]
    pub fn failed(&self) -> &Run {
        self.code(1)
    }

    #[track_caller]
    pub fn stdout_has(&self, needle: &str) -> &Run {
        assert!(
            self.stdout.contains(needle),
            "stdout should contain {needle:?}\n{}",
            self.describe()
        );
        self
    }

    #[track_caller]
    pub fn stderr_has(&self, needle: &str) -> &Run {
        assert!(
            self.stderr.contains(needle),
            "stderr should contain {needle:?}\n{}",
            self.describe()
        );
        self
    }

    #[track_caller]
    pub fn stderr_has_ci(&self, needle: &str) -> &Run {
        assert!(
            self.stderr.to_lowercase().contains(&needle.to_lowercase()),
            "stderr should contain {needle:?} (any case)\n{}",
            self.describe()
        );
        self
    }

    /// Stderr lines that report a problem in `file` (`<file>:<line>:<col>: ...`).
    pub fn problem_lines(&self, file: &str) -> Vec<&str> {
        let prefix = format!("{file}:");
        self.stderr
            .lines()
            .filter(|l| {
                l.find(&prefix).is_some_and(|i| {
                    let rest = &l[i + prefix.len()..];
                    rest.starts_with(|c: char| c.is_ascii_digit())
                })
            })
            .collect()
    }

    /// Asserts a stderr line `<file>:<line>:<col>: <path>...` exists; `path` may be a prefix of
    /// the reported path (`$[1]` accepts `$[1]` and `$[1].title`). Returns the line.
    #[track_caller]
    pub fn problem_at(&self, file: &str, line: u64, col: u64, path: Option<&str>) -> String {
        let want = match path {
            Some(p) => format!("{file}:{line}:{col}: {p}"),
            None => format!("{file}:{line}:{col}: "),
        };
        let found = self.stderr.lines().find(|l| {
            l.find(&want).is_some_and(|i| {
                // The path must end here or continue as a deeper path / the message separator.
                let rest = &l[i + want.len()..];
                path.is_none()
                    || rest.starts_with(':')
                    || rest.starts_with('.')
                    || rest.starts_with('[')
            })
        });
        match found {
            Some(l) => l.to_string(),
            None => {
                panic!(
                    "stderr should have a problem line starting {want:?}\n{}",
                    self.describe()
                )
            }
        }
    }

    /// Stdout parsed as the one JSON object `--json` prints.
    #[track_caller]
    pub fn json(&self) -> serde_json::Value {
        match serde_json::from_str::<serde_json::Value>(&self.stdout) {
            Ok(v) if v.is_object() => v,
            Ok(_) => panic!("--json stdout is not an object\n{}", self.describe()),
            Err(e) => panic!(
                "--json stdout is not one JSON value: {e}\n{}",
                self.describe()
            ),
        }
    }
}

/// Runs a command with a watchdog, capturing everything.
pub fn run_command(mut cmd: Command, label: String) -> Run {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd.env_remove("RUST_LOG")
        .env("NO_COLOR", "1")
        .env("RUST_BACKTRACE", "1");
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {label}: {e}"));
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let t_out = thread::spawn(move || {
        let mut v = Vec::new();
        let _ = out.read_to_end(&mut v);
        v
    });
    let t_err = thread::spawn(move || {
        let mut v = Vec::new();
        let _ = err.read_to_end(&mut v);
        v
    });
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        if start.elapsed() > WATCHDOG {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{label} did not finish within {WATCHDOG:?}");
        }
        thread::sleep(Duration::from_millis(5));
    };
    Run {
        cmd: label,
        code: status.code(),
        stdout: String::from_utf8_lossy(&t_out.join().unwrap()).into_owned(),
        stderr: String::from_utf8_lossy(&t_err.join().unwrap()).into_owned(),
    }
}

// ---------------------------------------------------------------------------------------------
// Project folders
// ---------------------------------------------------------------------------------------------

/// A project in a temp dir: `<tmp>/proj/jsonlift.toml` plus data files. Commands run from a
/// separate empty folder `<tmp>/cwd` with `-c <abs path>`, so relative paths must resolve against
/// the project file's folder, not the working directory.
pub struct Project {
    tmp: tempfile::TempDir,
    pub root: PathBuf,
    pub cwd: PathBuf,
    /// The database file relative to the project folder (`database = ...`).
    pub db_rel: String,
    /// The PostgreSQL schema holding the project's database when the tests run on PostgreSQL
    /// ([`crate::backend`]): dropped with the project, after the temp folder.
    pub pg: Option<crate::postgres::PgSchema>,
}

impl Project {
    pub fn new(toml: &str) -> Project {
        let p = Project::empty();
        p.write("jsonlift.toml", toml);
        p
    }

    /// A project folder without a project file.
    pub fn empty() -> Project {
        let tmp = tempfile::Builder::new()
            .prefix("jsonlift-test-")
            .tempdir()
            .expect("tempdir");
        // Canonical, so it compares with absolute paths the binary prints (/tmp may be a link).
        let base = tmp.path().canonicalize().unwrap();
        let root = base.join("proj");
        let cwd = base.join("cwd");
        fs::create_dir_all(&root).unwrap();
        fs::create_dir_all(&cwd).unwrap();
        Project {
            tmp,
            root,
            cwd,
            db_rel: "jsonlift.db".into(),
            pg: None,
        }
    }

    /// A fresh path in the temp dir outside the project (for `export --out`).
    pub fn outside(&self, name: &str) -> PathBuf {
        self.tmp.path().canonicalize().unwrap().join(name)
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }

    pub fn config(&self) -> PathBuf {
        self.root.join("jsonlift.toml")
    }

    pub fn db_path(&self) -> PathBuf {
        self.root.join(&self.db_rel)
    }

    pub fn write(&self, rel: &str, bytes: impl AsRef<[u8]>) -> &Project {
        let p = self.path(rel);
        if let Some(d) = p.parent() {
            fs::create_dir_all(d).unwrap();
        }
        fs::write(&p, bytes).unwrap();
        self
    }

    pub fn remove(&self, rel: &str) -> &Project {
        fs::remove_file(self.path(rel)).unwrap();
        self
    }

    pub fn read(&self, rel: &str) -> Vec<u8> {
        fs::read(self.path(rel)).unwrap_or_else(|e| panic!("read {rel}: {e}"))
    }

    /// `jsonlift <args[0]> -c <project file> <args[1..]>` from the neutral working folder.
    pub fn jl(&self, args: &[&str]) -> Run {
        let mut full: Vec<String> = vec![
            args[0].to_string(),
            "-c".into(),
            self.config().display().to_string(),
        ];
        full.extend(args[1..].iter().map(|s| s.to_string()));
        self.jl_raw(&self.cwd, &full)
    }

    /// The binary with exactly these arguments, run in `dir`.
    pub fn jl_raw(&self, dir: &Path, args: &[String]) -> Run {
        let mut cmd = Command::new(BIN);
        cmd.args(args).current_dir(dir);
        run_command(cmd, format!("jsonlift {}", args.join(" ")))
    }

    /// As [`jl`], under `ulimit -f <blocks>` (512-byte blocks in dash): writes past the limit fail
    /// with EFBIG, which the binary sees as an I/O error (it ignores SIGXFSZ).
    pub fn jl_file_limit(&self, blocks: u32, args: &[&str]) -> Run {
        let mut full: Vec<String> = vec![
            args[0].to_string(),
            "-c".into(),
            self.config().display().to_string(),
        ];
        full.extend(args[1..].iter().map(|s| s.to_string()));
        let mut cmd = Command::new("sh");
        cmd.arg("-c")
            .arg(format!("ulimit -f {blocks}; exec \"$0\" \"$@\""))
            .arg(BIN)
            .args(&full)
            .current_dir(&self.cwd);
        run_command(
            cmd,
            format!("(ulimit -f {blocks}) jsonlift {}", full.join(" ")),
        )
    }

    /// Runs `migrate` and insists it succeeds.
    #[track_caller]
    pub fn migrate_ok(&self) -> Run {
        let r = self.jl(&["migrate"]);
        r.ok();
        assert!(
            self.db_exists(),
            "migrate succeeded but left no database at {}\n{r:#?}",
            self.db_path().display()
        );
        r
    }

    /// Runs `export --out <fresh dir>` and returns the folder.
    #[track_caller]
    pub fn export(&self) -> PathBuf {
        let n = EXPORT_COUNTER.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let out = self.outside(&format!("export-{n}"));
        let r = self.jl(&["export", "--out", &out.display().to_string()]);
        r.ok();
        assert!(
            out.is_dir(),
            "export did not create {}\n{:?}",
            out.display(),
            r
        );
        out
    }

    /// Every file under the project except database files and `.jsonlift/`, with content and
    /// modification time.
    pub fn snapshot(&self) -> Snapshot {
        let mut files = BTreeMap::new();
        for rel in list_files(&self.root) {
            if is_db_file(&rel) || rel.starts_with(".jsonlift/") {
                continue;
            }
            let p = self.root.join(&rel);
            let meta = fs::symlink_metadata(&p).unwrap();
            // A symlink is recorded by where it points (it may point at a folder, or nowhere).
            let bytes = if meta.file_type().is_symlink() {
                fs::read_link(&p)
                    .unwrap()
                    .into_os_string()
                    .into_encoded_bytes()
            } else {
                fs::read(&p).unwrap()
            };
            files.insert(rel, (bytes, meta.modified().unwrap()));
        }
        Snapshot { files }
    }

    #[track_caller]
    pub fn assert_unchanged(&self, before: &Snapshot) {
        let now = self.snapshot();
        let a: Vec<_> = before.files.keys().collect();
        let b: Vec<_> = now.files.keys().collect();
        assert_eq!(a, b, "the set of project files changed");
        for (rel, (bytes, mtime)) in &before.files {
            let (nb, nm) = &now.files[rel];
            assert!(bytes == nb, "{rel} was modified (content differs)");
            assert_eq!(mtime, nm, "{rel} was touched (mtime changed)");
        }
    }

    /// No database (nor journal/WAL/SHM) anywhere in the project.
    #[track_caller]
    pub fn assert_no_db(&self) {
        let dbs: Vec<String> = list_files(&self.root)
            .into_iter()
            .filter(|f| is_db_file(f))
            .collect();
        assert!(dbs.is_empty(), "database files were left behind: {dbs:?}");
        assert!(!self.db_exists(), "tables were left behind in the database");
        self.assert_no_db_in_cwd();
    }

    /// Nothing was written to the working directory the commands ran in.
    #[track_caller]
    pub fn assert_no_db_in_cwd(&self) {
        let cwd_files = list_files(&self.cwd);
        assert!(
            cwd_files.is_empty(),
            "files were written to the working directory: {cwd_files:?}"
        );
    }

    /// The source snapshot folders (`.jsonlift/backups/*` but `db/`, which holds the database
    /// backups), sorted.
    pub fn backups(&self) -> Vec<PathBuf> {
        let dir = self.root.join(".jsonlift/backups");
        let mut v: Vec<PathBuf> = match fs::read_dir(&dir) {
            Ok(rd) => rd
                .map(|e| e.unwrap().path())
                .filter(|p| !p.ends_with("db"))
                .collect(),
            Err(_) => Vec::new(),
        };
        v.sort();
        v
    }

    #[track_caller]
    pub fn assert_no_backups(&self) {
        let b = self.backups();
        assert!(b.is_empty(), "backup folders were left behind: {b:?}");
        let dot = self.root.join(".jsonlift");
        if dot.exists() {
            let left = list_files(&dot);
            assert!(left.is_empty(), ".jsonlift/ holds files: {left:?}");
        }
    }

    pub fn db(&self) -> Connection {
        open_db(&self.db_path())
    }

    /// Schema and every row of every table, normalised (rows sorted), for before/after checks.
    /// The database's full state for "nothing changed" comparisons: SQLite's schema and rows,
    /// or on the PostgreSQL run ([`crate::backend`]) the schema's tables and rows.
    pub fn dump(&self) -> Vec<String> {
        if self.pg.is_some() {
            return self.db_state();
        }
        dump_db(&self.db_path())
    }
}

static EXPORT_COUNTER: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

pub struct Snapshot {
    pub files: BTreeMap<String, (Vec<u8>, SystemTime)>,
}

pub fn is_db_file(rel: &str) -> bool {
    let name = rel.rsplit('/').next().unwrap_or(rel);
    [
        ".db",
        ".db-wal",
        ".db-shm",
        ".db-journal",
        ".sqlite",
        ".sqlite3",
    ]
    .iter()
    .any(|s| name.ends_with(s))
}

/// Relative paths (with `/`) of all files under `dir`, sorted.
pub fn list_files(dir: &Path) -> Vec<String> {
    fn walk(base: &Path, dir: &Path, out: &mut Vec<String>) {
        let Ok(rd) = fs::read_dir(dir) else { return };
        for e in rd {
            let e = e.unwrap();
            let p = e.path();
            if e.file_type().unwrap().is_dir() {
                walk(base, &p, out);
            } else {
                let rel = p.strip_prefix(base).unwrap();
                out.push(
                    rel.components()
                        .map(|c| c.as_os_str().to_string_lossy())
                        .collect::<Vec<_>>()
                        .join("/"),
                );
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// Copies a folder tree (skipping databases and `.jsonlift/`); symlinks are copied as links.
pub fn copy_tree(from: &Path, to: &Path) {
    for rel in list_files(from) {
        if is_db_file(&rel) || rel.starts_with(".jsonlift/") {
            continue;
        }
        let (src, dst) = (from.join(&rel), to.join(&rel));
        fs::create_dir_all(dst.parent().unwrap()).unwrap();
        match fs::read_link(&src) {
            Ok(target) => std::os::unix::fs::symlink(target, &dst).unwrap(),
            Err(_) => {
                fs::copy(&src, &dst).unwrap();
            }
        }
    }
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// 1-based line and column (in characters) of byte offset `off` in `text`.
pub fn line_col(text: &[u8], off: usize) -> (u64, u64) {
    let before = &text[..off];
    let line = 1 + before.iter().filter(|&&b| b == b'\n').count() as u64;
    let start = before
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |i| i + 1);
    let col = 1 + before[start..]
        .iter()
        .filter(|&&b| (b & 0xC0) != 0x80)
        .count() as u64;
    (line, col)
}

/// Position of the `nth` (0-based) occurrence of `needle` in `text`.
#[track_caller]
pub fn locate(text: &[u8], needle: &[u8], nth: usize) -> (u64, u64) {
    let mut found = 0;
    for i in 0..=text.len().saturating_sub(needle.len()) {
        if &text[i..i + needle.len()] == needle {
            if found == nth {
                return line_col(text, i);
            }
            found += 1;
        }
    }
    panic!(
        "fixture bug: {:?} occurrence {nth} not found",
        String::from_utf8_lossy(needle)
    );
}

// ---------------------------------------------------------------------------------------------
// Database helpers
// ---------------------------------------------------------------------------------------------

#[track_caller]
pub fn open_db(path: &Path) -> Connection {
    assert!(path.exists(), "database {} does not exist", path.display());
    Connection::open(path).unwrap_or_else(|e| panic!("open {}: {e}", path.display()))
}

fn render(v: ValueRef<'_>) -> String {
    match v {
        ValueRef::Null => "NULL".into(),
        ValueRef::Integer(i) => i.to_string(),
        ValueRef::Real(f) => format!("{f:?}"),
        ValueRef::Text(t) => String::from_utf8_lossy(t).into_owned(),
        ValueRef::Blob(b) => {
            format!(
                "x'{}'",
                b.iter().map(|x| format!("{x:02x}")).collect::<String>()
            )
        }
    }
}

/// Rows of a query, each column rendered as text (`NULL`, `1`, `1.5`, `abc`).
#[track_caller]
pub fn q(db: &Connection, sql: &str) -> Vec<Vec<String>> {
    let mut st = db
        .prepare(sql)
        .unwrap_or_else(|e| panic!("prepare {sql}: {e}"));
    let n = st.column_count();
    let rows = st
        .query_map([], |r| {
            (0..n)
                .map(|i| r.get_ref(i).map(render))
                .collect::<Result<Vec<_>, _>>()
        })
        .unwrap_or_else(|e| panic!("query {sql}: {e}"));
    rows.map(|r| r.unwrap()).collect()
}

/// A single value.
#[track_caller]
pub fn q1(db: &Connection, sql: &str) -> String {
    let rows = q(db, sql);
    assert_eq!(rows.len(), 1, "{sql} returned {rows:?}");
    assert_eq!(rows[0].len(), 1, "{sql} returned {rows:?}");
    rows[0][0].clone()
}

/// Expected rows for comparison with [`q`].
pub fn rows(r: &[&[&str]]) -> Vec<Vec<String>> {
    r.iter()
        .map(|row| row.iter().map(|s| s.to_string()).collect())
        .collect()
}

/// Whether a line of a dump is the audit entry a restore adds about itself (issue #18).
pub fn is_restore_entry(line: &str) -> bool {
    line.starts_with("row _jsonlift_audit: ")
        && line.contains(" | _database | ")
        && line.contains(" | restore | ")
}

/// The state a restore left, less the audit entry it added about itself, which must be the
/// last entry of the log: what remains is the state restored.
#[track_caller]
pub fn without_own_restore_entry(state: Vec<String>) -> Vec<String> {
    let id = |l: &str| -> i64 {
        l.strip_prefix("row _jsonlift_audit: ")
            .and_then(|r| r.split(" | ").next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(i64::MIN)
    };
    let last = state
        .iter()
        .enumerate()
        .filter(|(_, l)| l.starts_with("row _jsonlift_audit: "))
        .max_by_key(|(_, l)| id(l))
        .map(|(i, _)| i)
        .expect("an audit log");
    assert!(
        is_restore_entry(&state[last]),
        "the last audit entry is not the restore's own: {}",
        state[last]
    );
    let mut state = state;
    state.remove(last);
    state
}

/// A dump with the times of restores' own audit entries masked: two restores of the same
/// backup give the same state but for when they ran.
pub fn restore_times_masked(state: Vec<String>) -> Vec<String> {
    state
        .into_iter()
        .map(|l| {
            if !is_restore_entry(&l) {
                return l;
            }
            let mut cells: Vec<&str> = l.split(" | ").collect();
            cells[1] = "<restore time>";
            cells.join(" | ")
        })
        .collect()
}

pub fn dump_db(path: &Path) -> Vec<String> {
    let db = open_db(path);
    let mut out = Vec::new();
    let schema = q(
        &db,
        "SELECT type, name, tbl_name, ifnull(sql, '') FROM sqlite_master ORDER BY type, name",
    );
    let mut tables = Vec::new();
    for s in &schema {
        out.push(format!("schema {}", s.join(" | ")));
        if s[0] == "table" {
            tables.push(s[1].clone());
        }
    }
    for t in tables {
        // A search index by what it holds, not by how FTS5 laid it out: its shadow tables'
        // blobs differ between equal indexes written in another order.
        let index = t.starts_with("_jsonlift_search_");
        let virtual_table = schema
            .iter()
            .any(|s| s[1] == t && s[3].starts_with("CREATE VIRTUAL TABLE"));
        if index && !virtual_table {
            continue;
        }
        let columns = if index { "rowid, *" } else { "*" };
        let mut r: Vec<String> = q(
            &db,
            &format!("SELECT {columns} FROM \"{}\"", t.replace('"', "\"\"")),
        )
        .into_iter()
        .map(|row| format!("row {t}: {}", row.join(" | ")))
        .collect();
        r.sort();
        out.extend(r);
    }
    out
}

/// The checks every successful migration must pass: no dangling foreign keys, WAL mode.
#[track_caller]
pub fn assert_db_sound(db: &Connection) {
    let fk = q(db, "PRAGMA foreign_key_check");
    assert!(fk.is_empty(), "foreign_key_check reports {fk:?}");
    assert_eq!(q1(db, "PRAGMA journal_mode"), "wal");
    assert_eq!(q1(db, "PRAGMA integrity_check"), "ok");
}

/// Columns of a table.
pub fn columns(db: &Connection, table: &str) -> Vec<String> {
    q(db, &format!("PRAGMA table_info(\"{table}\")"))
        .into_iter()
        .map(|r| r[1].clone())
        .collect()
}

// ---------------------------------------------------------------------------------------------
// A tiny order- and spelling-preserving JSON reader for "same value" comparisons
// ---------------------------------------------------------------------------------------------

pub use jsonlift::json::Value;

/// Parses JSON into [`Value`] keeping key order and number text. Panics on invalid input.
#[track_caller]
pub fn parse_json(text: &[u8]) -> Value {
    let text = std::str::from_utf8(text).expect("exported JSON is not UTF-8");
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut p = Parser {
        s: text.as_bytes(),
        i: 0,
    };
    let v = p.value();
    p.ws();
    assert!(p.i == p.s.len(), "trailing data at byte {}", p.i);
    v
}

/// JSONL: one value per non-empty line.
pub fn parse_jsonl(text: &[u8]) -> Vec<Value> {
    text.split(|&b| b == b'\n')
        .filter(|l| !l.iter().all(|b| b.is_ascii_whitespace()))
        .map(parse_json)
        .collect()
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn ws(&mut self) {
        while self.i < self.s.len() && matches!(self.s[self.i], b' ' | b'\t' | b'\n' | b'\r') {
            self.i += 1;
        }
    }
    fn eat(&mut self, b: u8) {
        self.ws();
        assert_eq!(
            self.s.get(self.i),
            Some(&b),
            "expected {:?} at byte {}",
            b as char,
            self.i
        );
        self.i += 1;
    }
    fn value(&mut self) -> Value {
        self.ws();
        match self.s[self.i] {
            b'{' => {
                self.i += 1;
                let mut m = Vec::new();
                self.ws();
                if self.s[self.i] == b'}' {
                    self.i += 1;
                    return Value::Object(m);
                }
                loop {
                    self.ws();
                    let k = self.string();
                    self.eat(b':');
                    let v = self.value();
                    m.push((k, v));
                    self.ws();
                    let c = self.s[self.i];
                    self.i += 1;
                    match c {
                        b',' => continue,
                        b'}' => return Value::Object(m),
                        _ => panic!("bad object at byte {}", self.i - 1),
                    }
                }
            }
            b'[' => {
                self.i += 1;
                let mut a = Vec::new();
                self.ws();
                if self.s[self.i] == b']' {
                    self.i += 1;
                    return Value::Array(a);
                }
                loop {
                    a.push(self.value());
                    self.ws();
                    let c = self.s[self.i];
                    self.i += 1;
                    match c {
                        b',' => continue,
                        b']' => return Value::Array(a),
                        _ => panic!("bad array at byte {}", self.i - 1),
                    }
                }
            }
            b'"' => Value::String(self.string()),
            b't' => self.lit("true", Value::Bool(true)),
            b'f' => self.lit("false", Value::Bool(false)),
            b'n' => self.lit("null", Value::Null),
            _ => {
                let start = self.i;
                while self.i < self.s.len()
                    && matches!(
                        self.s[self.i],
                        b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9'
                    )
                {
                    self.i += 1;
                }
                assert!(self.i > start, "unexpected byte at {start}");
                let t = std::str::from_utf8(&self.s[start..self.i]).unwrap();
                Value::Number(jsonlift::json::Number::from_text_unchecked(t))
            }
        }
    }
    fn lit(&mut self, word: &str, v: Value) -> Value {
        assert!(
            self.s[self.i..].starts_with(word.as_bytes()),
            "bad literal at byte {}",
            self.i
        );
        self.i += word.len();
        v
    }
    fn hex4(&mut self) -> u32 {
        let h = std::str::from_utf8(&self.s[self.i..self.i + 4]).unwrap();
        self.i += 4;
        u32::from_str_radix(h, 16).unwrap()
    }
    fn string(&mut self) -> String {
        assert_eq!(self.s[self.i], b'"', "expected string at byte {}", self.i);
        self.i += 1;
        let mut out = String::new();
        loop {
            let start = self.i;
            while self.s[self.i] != b'"' && self.s[self.i] != b'\\' {
                self.i += 1;
            }
            out.push_str(std::str::from_utf8(&self.s[start..self.i]).unwrap());
            let c = self.s[self.i];
            self.i += 1;
            if c == b'"' {
                return out;
            }
            let e = self.s[self.i];
            self.i += 1;
            match e {
                b'"' => out.push('"'),
                b'\\' => out.push('\\'),
                b'/' => out.push('/'),
                b'b' => out.push('\u{8}'),
                b'f' => out.push('\u{c}'),
                b'n' => out.push('\n'),
                b'r' => out.push('\r'),
                b't' => out.push('\t'),
                b'u' => {
                    let hi = self.hex4();
                    let cp =
                        if (0xD800..0xDC00).contains(&hi) && self.s[self.i..].starts_with(b"\\u") {
                            self.i += 2;
                            let lo = self.hex4();
                            0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
                        } else {
                            hi
                        };
                    out.push(char::from_u32(cp).unwrap_or('\u{fffd}'));
                }
                _ => panic!("bad escape at byte {}", self.i - 1),
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Export comparisons
// ---------------------------------------------------------------------------------------------

/// The exported file `rel` is byte-identical to the project's source `rel`.
#[track_caller]
pub fn assert_exported_identical(p: &Project, out: &Path, rel: &str) {
    let orig = p.read(rel);
    let exported = fs::read(out.join(rel)).unwrap_or_else(|e| panic!("export has no {rel}: {e}"));
    if orig != exported {
        panic!(
            "exported {rel} differs from the source\n--- source ---\n{}\n--- export ---\n{}\n---",
            String::from_utf8_lossy(&orig),
            String::from_utf8_lossy(&exported)
        );
    }
}

/// The exported file parses to the same value (key order, number spellings) as the source.
#[track_caller]
pub fn assert_exported_same_value(p: &Project, out: &Path, rel: &str) {
    let orig = p.read(rel);
    let exported = fs::read(out.join(rel)).unwrap_or_else(|e| panic!("export has no {rel}: {e}"));
    let (a, b) = if rel.ends_with(".jsonl") || rel.ends_with(".ndjson") {
        (
            Value::Array(parse_jsonl(&orig)),
            Value::Array(parse_jsonl(&exported)),
        )
    } else {
        (parse_json(&orig), parse_json(&exported))
    };
    assert_eq!(
        a,
        b,
        "exported {rel} is not the same value\n--- source ---\n{}\n--- export ---\n{}\n---",
        String::from_utf8_lossy(&orig),
        String::from_utf8_lossy(&exported)
    );
}

/// The export folder holds exactly these files.
#[track_caller]
pub fn assert_export_files(out: &Path, expected: &[&str]) {
    let got = list_files(out);
    let mut want: Vec<String> = expected.iter().map(|s| s.to_string()).collect();
    want.sort();
    assert_eq!(got, want, "export wrote a different set of files");
}

// ---------------------------------------------------------------------------------------------
// Self-tests of the harness (they need no binary)
// ---------------------------------------------------------------------------------------------

mod selftest {
    use super::*;

    #[test]
    fn line_col_counts_characters_not_bytes() {
        let t = "ab\n  \"Grüße\": x".as_bytes();
        assert_eq!(locate(t, b"x", 0), (2, 12));
        assert_eq!(line_col(t, t.len()), (2, 13));
        assert_eq!(line_col(b"", 0), (1, 1));
    }

    #[test]
    fn parse_json_keeps_order_and_number_text() {
        let a = parse_json(br#"{"b": 1.0, "a": [1e3, "\u00fc\ud83d\ude97\n"]}"#);
        let b = parse_json("{\"b\":1.0,\"a\":[1e3,\"ü🚗\\n\"]}".as_bytes());
        assert_eq!(a, b);
        assert_ne!(
            a,
            parse_json(r#"{"a": [1e3, "ü🚗\n"], "b": 1.0}"#.as_bytes())
        );
        assert_ne!(a, parse_json(r#"{"b": 1, "a": [1e3, "ü🚗\n"]}"#.as_bytes()));
        assert_ne!(
            a,
            parse_json(r#"{"b": 1.0, "a": [1000, "ü🚗\n"]}"#.as_bytes())
        );
    }

    #[test]
    fn problem_lines_match_exact_places_only() {
        let r = Run {
            cmd: String::new(),
            code: Some(1),
            stdout: String::new(),
            stderr: "error: 2 problems\ndata/a.json:3:14: $[10].title: expected text\ndata/a.json:4:1: $[2]: missing field \"x\"\n"
                .into(),
        };
        assert_eq!(r.problem_lines("data/a.json").len(), 2);
        r.problem_at("data/a.json", 3, 14, Some("$[10].title"));
        r.problem_at("data/a.json", 3, 14, Some("$[10]"));
        r.problem_at("data/a.json", 4, 1, None);
        let miss =
            |l, c, p| std::panic::catch_unwind(|| r.problem_at("data/a.json", l, c, p)).is_err();
        assert!(miss(3, 14, Some("$[1]")));
        assert!(miss(3, 1, None));
        assert!(miss(4, 1, Some("$[2].x")));
    }

    #[test]
    fn dump_and_lock_premises_hold() {
        let p = Project::empty();
        let db = Connection::open(p.db_path()).unwrap();
        db.execute_batch(
            "PRAGMA journal_mode = wal; CREATE TABLE t (id TEXT PRIMARY KEY, v REAL) WITHOUT ROWID;
             INSERT INTO t VALUES ('a', 1), ('b', NULL);",
        )
        .unwrap();
        drop(db);
        let before = p.dump();
        assert!(before.iter().any(|l| l == "row t: a | 1.0"), "{before:?}");
        assert_db_sound(&p.db());
        let lock = p.db();
        lock.execute_batch("BEGIN EXCLUSIVE").unwrap();
        let other = p.db();
        other.busy_timeout(Duration::from_millis(10)).unwrap();
        assert!(
            other.execute("UPDATE t SET v = 2", []).is_err(),
            "EXCLUSIVE does not block writers"
        );
        assert_eq!(p.dump(), before, "readers still read under the lock");
        lock.execute_batch("ROLLBACK").unwrap();
        other
            .execute("UPDATE t SET v = 2 WHERE id = 'a'", [])
            .unwrap();
        assert_ne!(p.dump(), before);
    }

    #[test]
    fn file_size_limit_premise_holds() {
        // dash's ulimit -f counts 512-byte blocks: 64 blocks stop a write at 32 KiB.
        let p = Project::empty();
        let mut cmd = Command::new("sh");
        cmd.arg("-c")
            .arg("ulimit -f 64; exec \"$0\" \"$@\"")
            .arg("sh")
            .arg("-c")
            .arg("trap '' XFSZ; head -c 40000 /dev/zero > big; echo rc=$?")
            .current_dir(&p.root);
        let r = run_command(cmd, "ulimit probe".into());
        assert_eq!(fs::metadata(p.path("big")).unwrap().len(), 32768, "{r:?}");
        assert!(!r.stdout.contains("rc=0"), "{r:?}");
    }
}
