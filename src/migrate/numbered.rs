//! Numbered SQL migrations (issue #17): files `NNN_name.sql` in the migrations folder
//! (`migrations_dir`, default `migrations/` beside jsonlift.toml), applied by `migrate` in
//! order, each once, inside the migration's transaction, and recorded with the sha256 of the
//! file ([`bookkeeping::record_migration`]). The folder and the record must agree before
//! anything runs: a file edited after it was applied, a missing one, a gap or a duplicate in
//! the numbers is refused, naming the file, with nothing changed.
//!
//! A file written by `jsonlift plan --write` starts with [`PLAN_MARK`]: it stands for the plan
//! from jsonlift.toml, which is applied at its place in the order; its statements are what the
//! plan was when written, and must still be (the review is of what runs).
//!
//! On SQLite the statements run one by one on the migration's database ([`MigrationDb`]), so
//! that a failing one is named by its line.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use sha2::{Digest, Sha256};

use crate::schema::fingerprint::hex;
use crate::store::bookkeeping::AppliedMigration;
use crate::store::sqlite_migration::{MigrationDb, is_complete_statement};

/// The first line of a file written by `jsonlift plan --write`.
pub const PLAN_MARK: &str = "-- jsonlift:plan";

#[derive(Debug, Clone)]
pub struct SqlFile {
    pub number: u32,
    /// The file name (`006_convert_legacy_media.sql`).
    pub name: String,
    pub path: PathBuf,
    pub sha256: String,
    pub text: String,
}

impl SqlFile {
    /// Whether this file stands for the plan from jsonlift.toml.
    pub fn is_plan(&self) -> bool {
        self.text.starts_with(PLAN_MARK)
    }
}

/// The migrations folder against the record of what was applied.
#[derive(Debug, Default)]
pub struct Status {
    pub applied: Vec<AppliedMigration>,
    pub pending: Vec<SqlFile>,
}

/// The `NNN_name.sql` files of `dir` by number (none when `dir` does not exist). A `.sql` file
/// named otherwise, two files with one number, or a gap in the numbers is refused.
pub fn scan(dir: &Path) -> anyhow::Result<Vec<SqlFile>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e).with_context(|| format!("reading {}", dir.display())),
    };
    let mut files = Vec::new();
    for e in entries {
        let e = e?;
        let name = e.file_name().to_string_lossy().into_owned();
        if !name.ends_with(".sql") || !e.file_type()?.is_file() {
            continue;
        }
        let digits: String = name.chars().take_while(char::is_ascii_digit).collect();
        let number = match (digits.len(), name[digits.len()..].starts_with('_')) {
            (1.., true) => digits.parse::<u32>().ok(),
            _ => None,
        };
        let Some(number) = number else {
            bail!(
                "{}: a migration's name is NNN_name.sql (a number, an underscore, a name); nothing was changed",
                e.path().display()
            );
        };
        let bytes =
            std::fs::read(e.path()).with_context(|| format!("reading {}", e.path().display()))?;
        let text = String::from_utf8(bytes.clone())
            .map_err(|_| anyhow::anyhow!("{}: not UTF-8 text", e.path().display()))?;
        files.push(SqlFile {
            number,
            name,
            path: e.path(),
            sha256: hex(&Sha256::digest(&bytes)),
            text,
        });
    }
    files.sort_by(|a, b| (a.number, &a.name).cmp(&(b.number, &b.name)));
    for w in files.windows(2) {
        if w[0].number == w[1].number {
            bail!(
                "{} and {} have the same number {}: each migration needs its own; nothing was changed",
                w[0].path.display(),
                w[1].path.display(),
                w[0].number
            );
        }
        if w[1].number != w[0].number + 1 {
            bail!(
                "{}: the numbers jump from {} to {} (no migration {}); number the migrations without gaps; nothing was changed",
                w[1].path.display(),
                w[0].number,
                w[1].number,
                w[0].number + 1
            );
        }
    }
    Ok(files)
}

/// The files of `dir` against the migrations `applied`: which remain to run. An applied file
/// that is missing or changed, or a new file numbered before an applied one, is refused.
pub fn status(dir: &Path, applied: Vec<AppliedMigration>) -> anyhow::Result<Status> {
    let files = scan(dir)?;
    for a in &applied {
        match files.iter().find(|f| f.number == a.number) {
            None => bail!(
                "migration {} ({}) was applied on {} but is no longer in {}; put it back; nothing was changed",
                a.number,
                a.name,
                a.applied_at,
                dir.display()
            ),
            Some(f) if f.sha256 != a.sha256 || f.name != a.name => bail!(
                "{} was edited after it was applied on {} (sha256 then {}, now {}); an applied migration is history: put it back as it was and write a new numbered file for the change; nothing was changed",
                f.path.display(),
                a.applied_at,
                a.sha256,
                f.sha256
            ),
            Some(_) => {}
        }
    }
    let last = applied.iter().map(|a| a.number).max();
    let pending: Vec<SqlFile> = files
        .into_iter()
        .filter(|f| !applied.iter().any(|a| a.number == f.number))
        .collect();
    if let (Some(last), Some(first)) = (last, pending.first())
        && first.number < last
    {
        bail!(
            "{} is numbered before migration {}, which was already applied; give it the next number; nothing was changed",
            first.path.display(),
            last
        );
    }
    Ok(Status { applied, pending })
}

/// The status of the project's migrations folder against the database `db`.
pub fn status_of(db: &impl MigrationDb, dir: &Path) -> anyhow::Result<Status> {
    status(dir, db.applied_migrations()?)
}

/// The statements of a SQL file, each with the line it starts on.
pub fn statements(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut start = 0;
    for (i, _) in text.match_indices(';') {
        let candidate = &text[start..=i];
        if is_complete_statement(candidate) {
            out.push((first_line(text, start), candidate.trim().to_string()));
            start = i + 1;
        }
    }
    let rest = text[start..].trim();
    if !only_comments(rest) {
        out.push((first_line(text, start), rest.to_string()));
    }
    out
}

/// The line of the first thing after `start` that is neither blank nor a `--` comment.
fn first_line(text: &str, start: usize) -> usize {
    let mut at = start;
    loop {
        let rest = &text[at..];
        let trimmed = rest.trim_start();
        at += rest.len() - trimmed.len();
        if trimmed.starts_with("--") {
            at += trimmed.find('\n').unwrap_or(trimmed.len());
        } else {
            break;
        }
    }
    text[..at].matches('\n').count() + 1
}

fn only_comments(sql: &str) -> bool {
    sql.lines()
        .map(str::trim)
        .all(|l| l.is_empty() || l.starts_with("--"))
}

/// Runs one file's statements on `db` (inside the caller's transaction) and records it. A
/// statement that fails is named by file and line.
pub fn apply(db: &impl MigrationDb, f: &SqlFile, at: &str) -> anyhow::Result<()> {
    run_statements(f, |sql| db.run_statement(sql))?;
    record(db, f, at)
}

/// Runs one file's statements, each with `exec` (on either database); a statement that fails
/// is named by file and line.
pub fn run_statements(
    f: &SqlFile,
    mut exec: impl FnMut(&str) -> Result<(), String>,
) -> anyhow::Result<()> {
    for (line, sql) in statements(&f.text) {
        if only_comments(&sql) {
            continue;
        }
        exec(&sql).map_err(|e| {
            anyhow::anyhow!(
                "{}:{line}: {e}\n  in: {}\nEverything this migration did was rolled back.",
                f.path.display(),
                sql.lines()
                    .find(|l| !l.trim().starts_with("--"))
                    .unwrap_or(&sql)
                    .trim()
            )
        })?;
    }
    Ok(())
}

/// Runs a whole file at once with `exec` (PostgreSQL, whose statements may hold `;` in
/// dollar-quoted bodies, which only the server splits right). `exec` fails with the message
/// and the character offset where the server found the fault (1-based), turned here into the
/// file's line.
pub fn run_whole(
    f: &SqlFile,
    exec: impl FnOnce(&str) -> Result<(), (String, Option<usize>)>,
) -> anyhow::Result<()> {
    exec(&f.text).map_err(|(e, at)| {
        let line = at.map_or(String::new(), |at| {
            let upto: String = f.text.chars().take(at.saturating_sub(1)).collect();
            format!(":{}", upto.matches('\n').count() + 1)
        });
        anyhow::anyhow!(
            "{}{line}: {e}\nEverything this migration did was rolled back.",
            f.path.display()
        )
    })
}

/// What the ledger keeps of `f` once applied.
pub fn applied(f: &SqlFile, at: &str) -> AppliedMigration {
    AppliedMigration {
        number: f.number,
        name: f.name.clone(),
        sha256: f.sha256.clone(),
        applied_at: at.to_string(),
    }
}

/// Records that `f` was applied.
pub fn record(db: &impl MigrationDb, f: &SqlFile, at: &str) -> anyhow::Result<()> {
    db.record_migration(&applied(f, at))
}

/// The text `plan --write` writes: the mark, the summary as comments, the statements.
pub fn plan_file(summary: &[String], sql: &[String]) -> String {
    let mut out = format!(
        "{PLAN_MARK}\n-- Written by `jsonlift plan --write` for review. `jsonlift migrate` applies the plan from\n-- jsonlift.toml here, in order, and refuses if it is no longer what this file says\n-- (edit jsonlift.toml and write the plan again, rather than this file).\n--\n"
    );
    for s in summary {
        out.push_str(&format!("-- {s}\n"));
    }
    out.push('\n');
    for s in sql {
        out.push_str(s);
        if !s.starts_with("--") {
            out.push(';');
        }
        out.push('\n');
    }
    out
}

/// Whether a plan file still says what the plan from jsonlift.toml does now.
pub fn plan_matches(f: &SqlFile, summary: &[String], sql: &[String]) -> bool {
    f.text == plan_file(summary, sql)
}

/// The next file name in `dir` for a migration called `name`.
pub fn next_name(files: &[SqlFile], applied: &[AppliedMigration], name: &str) -> String {
    let last = files
        .iter()
        .map(|f| f.number)
        .chain(applied.iter().map(|a| a.number))
        .max()
        .unwrap_or(0);
    format!("{:03}_{name}.sql", last + 1)
}

#[cfg(test)]
mod tests {
    use super::statements;

    #[test]
    fn statements_are_split_where_sqlite_ends_them_and_know_their_line() {
        let text = "-- header\nCREATE TABLE t (a TEXT);\n\nINSERT INTO t VALUES ('x;y');\n/* c; */ UPDATE t\n  SET a = 'z';\nCREATE TRIGGER r AFTER INSERT ON t BEGIN UPDATE t SET a = 1; END;\n-- trailing comment\n";
        let got: Vec<(usize, String)> = statements(text);
        let lines: Vec<usize> = got.iter().map(|(l, _)| *l).collect();
        assert_eq!(lines, vec![2, 4, 5, 7], "{got:?}");
        assert!(got[1].1.contains("'x;y'"));
        assert!(got[3].1.ends_with("END;"), "{got:?}");
    }
}
