//! `jsonlift codegen drizzle | json-schema | zod`, each checked by its real consumer on every
//! example project (`examples/*/jsonlift.toml`, found at test time), on `init`'s project for
//! tests/infer/manytomany (shared entities, which no example has) and on a project of awkward
//! names:
//!
//! - Drizzle: the schema type-checks with `tsc --strict`; through better-sqlite3 it reads every
//!   table of the migrated database (row counts equal SQLite's), its tables, columns, keys,
//!   foreign keys with their actions, uniques and indexes are the database's, every foreign key
//!   has both relations, and `findMany({ with })` gives each parent as many children as SQL
//!   counts. With `JSONLIFT_TEST_POSTGRES`, the same for the pg-core schema of every example (and
//!   the shared-entity and awkward-name projects) migrated into a PostgreSQL schema of its own,
//!   read through node-postgres and compared with information_schema.
//! - JSON Schema (ajv, strict, 2020-12, with ajv-formats) and Zod (compiled by tsc): every
//!   record the API serves is valid; records broken the ways jsonlift refuses (a required field
//!   removed, a value outside an enum or below a minimum, a bad timestamp/date/uuid, a number for
//!   a text) are not; `null` for an optional field and keys the schema does not name are.
//!
//! npm installs the packages once under target/ (`CARGO_TARGET_TMPDIR`); without node and npm
//! the tests say loudly that they were skipped.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value as J, json};

use crate::jsonserver_common::have;
use crate::postgres::{PgSchema, example_on, server};
use crate::serve::{Server, call};
use crate::util::*;

/// The consumers' side: runs the compiled code under node, prints what it saw.
const SCRIPT: &str = include_str!("codegen_ts.mjs");

/// Pinned to versions that work on Node 20 (better-sqlite3 13 crashes there).
const PACKAGES: &[&str] = &[
    "drizzle-orm@0.45",
    "better-sqlite3@12",
    "typescript@5",
    "zod@4",
    "ajv@8",
    "ajv-formats@3",
    "@types/better-sqlite3@7",
    "@types/node@20",
    // node-postgres, for the schema generated for a PostgreSQL database
    "pg@8",
    "@types/pg@8",
];

/// The packages, installed under target/ once (one test installs, the others wait; the marker
/// file is written only once npm has finished). Returns the `node_modules` folder.
fn install() -> PathBuf {
    static INSTALL: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one_at_a_time = INSTALL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("codegen-ts-npm");
    let done = dir.join("installed");
    let want = format!("{}\n", PACKAGES.join(" "));
    if fs::read_to_string(&done).ok().as_deref() != Some(&want) {
        fs::create_dir_all(&dir).unwrap();
        let started = std::time::Instant::now();
        let out = Command::new("npm")
            .args([
                "install",
                "--no-save",
                "--no-audit",
                "--no-fund",
                "--prefix",
            ])
            .arg(&dir)
            .args(PACKAGES)
            .output()
            .expect("run npm");
        assert!(
            out.status.success(),
            "npm install {} failed:\n{}",
            PACKAGES.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
        eprintln!("codegen_ts: npm install took {:.0?}", started.elapsed());
        fs::write(&done, want).unwrap();
    }
    dir.join("node_modules")
}

/// A migrated project, by name.
struct Case {
    name: String,
    p: Project,
    config: toml::Table,
}

/// Every example, and `init`'s project for the shared-entity corpus case, migrated.
fn cases() -> Vec<Case> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut dirs: Vec<PathBuf> = fs::read_dir(root.join("examples"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|d| d.join("jsonlift.toml").is_file())
        .collect();
    dirs.sort();
    assert!(!dirs.is_empty(), "no examples/*/jsonlift.toml found");
    let mut out = Vec::new();
    for d in &dirs {
        let p = Project::empty();
        copy_tree(d, &p.root);
        out.push(case(d.file_name().unwrap().to_str().unwrap(), p));
    }
    let p = Project::empty();
    copy_tree(&root.join("tests/infer/manytomany"), &p.root);
    p.jl_raw(&p.cwd, &["init".into(), p.root.display().to_string()])
        .ok();
    out.push(case("infer-manytomany", p));
    let p = Project::new(NAMES_TOML);
    p.write("text.json", NAMES_TEXT)
        .write("refs.json", NAMES_REFS);
    out.push(case("names", p));
    out
}

/// Names that are no identifiers, that become the same identifier, that are imported names
/// (`text`, `index`) or members of Drizzle's tables (`getSQL`).
const NAMES_TOML: &str = r#"
database = "names.db"

[collections.text]
source = "text.json"
key = "id"

[collections.text.fields]
id = { type = "integer", required = true }
"a-b" = "text"
a_b = "text"
getSQL = "text"
default = "text"
"2nd" = "integer"
"with space" = { type = "real", min = 0 }

[collections.text.fields.items]
type = "array"
table = "index"

[collections.text.fields.items.fields]
value = { type = "text", required = true }

[collections.refs]
source = "refs.json"
key = "id"

[collections.refs.fields]
id = { type = "integer", required = true }
text = { type = "integer", references = "text" }
"#;
const NAMES_TEXT: &str = r#"[
  {"id": 1, "a-b": "x", "a_b": "y", "getSQL": "z", "default": "d", "2nd": 2, "with space": 1.5,
   "items": [{"value": "v1"}, {"value": "v2"}]},
  {"id": 2, "items": []}
]"#;
const NAMES_REFS: &str = r#"[{"id": 10, "text": 1}, {"id": 11, "text": 1}, {"id": 12}]"#;

fn case(name: &str, mut p: Project) -> Case {
    let config: toml::Table = fs::read_to_string(p.config()).unwrap().parse().unwrap();
    if let Some(db) = config.get("database").and_then(|d| d.as_str()) {
        p.db_rel = db.to_string();
    }
    p.migrate_ok();
    Case {
        name: name.to_string(),
        p,
        config,
    }
}

/// A folder for the TypeScript: `package.json` (ES modules), the packages, the script, and per
/// case `src/<case>/` for the generated files and `out/<case>/` for what tsc makes of them.
struct Ts {
    _tmp: tempfile::TempDir,
    root: PathBuf,
}

impl Ts {
    fn new() -> Ts {
        let node_modules = install();
        let tmp = tempfile::Builder::new()
            .prefix("jsonlift-codegen-ts-")
            .tempdir()
            .unwrap();
        let root = tmp.path().to_path_buf();
        fs::write(root.join("package.json"), r#"{"type": "module"}"#).unwrap();
        std::os::unix::fs::symlink(&node_modules, root.join("node_modules")).unwrap();
        fs::write(root.join("codegen_ts.mjs"), SCRIPT).unwrap();
        Ts { _tmp: tmp, root }
    }

    fn src(&self, case: &Case) -> PathBuf {
        self.root.join("src").join(&case.name)
    }

    fn out(&self, case: &Case) -> PathBuf {
        self.root.join("out").join(&case.name)
    }

    /// `jsonlift codegen TARGET --out src/<case>/FILE`.
    fn generate(&self, case: &Case, target: &str, file: &str) -> PathBuf {
        let dir = self.src(case);
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join(file);
        case.p
            .jl(&["codegen", target, "--out", &path.display().to_string()])
            .ok();
        let text = fs::read_to_string(&path).unwrap();
        assert!(
            !text.trim().is_empty(),
            "{}: codegen {target} wrote nothing",
            case.name
        );
        path
    }

    /// One strict type-check of every generated file, emitting JavaScript only if all pass.
    fn compile(&self, files: &[PathBuf]) {
        let mut cmd = Command::new("node");
        cmd.arg(self.root.join("node_modules/typescript/bin/tsc"))
            .args([
                "--strict",
                "--noEmitOnError",
                // drizzle-orm's own declarations for other databases need their drivers
                "--skipLibCheck",
                "--target",
                "es2022",
                "--module",
                "nodenext",
                "--moduleResolution",
                "nodenext",
                "--rootDir",
            ])
            .arg(self.root.join("src"))
            .arg("--outDir")
            .arg(self.root.join("out"))
            .args(files)
            .current_dir(&self.root);
        let r = run_command(cmd, "tsc --strict".into());
        assert_eq!(
            r.code,
            Some(0),
            "the generated TypeScript does not type-check:\n{}{}",
            r.stdout,
            r.stderr
        );
    }

    /// `node codegen_ts.mjs ARGS`: its report.
    fn node(&self, args: &[&str]) -> J {
        let mut cmd = Command::new("node");
        cmd.arg(self.root.join("codegen_ts.mjs"))
            .args(args)
            .current_dir(&self.root);
        let r = run_command(cmd, format!("node codegen_ts.mjs {}", args.join(" ")));
        assert_eq!(r.code, Some(0), "{}\n{}", r.stdout, r.stderr);
        serde_json::from_str(&r.stdout)
            .unwrap_or_else(|e| panic!("the script's report is not JSON ({e}):\n{}", r.stdout))
    }
}

fn skipped(test: &str, what: &str) -> bool {
    if have("node") && have("npm") {
        return false;
    }
    eprintln!("\n!!!!!!!! SKIPPED {test}: node/npm not found; {what} NOT checked !!!!!!!!\n");
    true
}

fn quote(ident: &str) -> String {
    format!("\"{}\"", ident.replace('"', "\"\""))
}

fn strs(v: &J) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect()
}

/// An error report cut to a readable length.
fn short(v: &J) -> String {
    let s = v.to_string();
    match s.char_indices().nth(400) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s,
    }
}

fn sorted<T: Ord>(mut v: Vec<T>) -> Vec<T> {
    v.sort();
    v
}

/// What the Drizzle test asks of a migrated database, from its own catalog: SQLite's PRAGMAs or
/// PostgreSQL's information_schema. Lists come back sorted, so they compare as sets.
trait Catalog {
    /// The app's tables (not jsonlift's own).
    fn tables(&self) -> Vec<String>;
    /// A query's rows, each value as text; plain SQL with quoted names reads the same in both.
    fn rows(&self, sql: &str) -> Vec<Vec<String>>;
    /// The columns in order, each with whether it is NOT NULL.
    fn columns(&self, t: &str) -> Vec<(String, bool)>;
    fn primary_key(&self, t: &str) -> Vec<String>;
    /// `col -> table.col on delete ACTION on update ACTION`, actions upper-case.
    fn foreign_keys(&self, t: &str) -> Vec<Fk>;
    /// Unique constraints as column sets, each set once.
    fn uniques(&self, t: &str) -> Vec<Vec<String>>;
    /// The other indexes: `name (col,col) partial BOOL`.
    fn indexes(&self, t: &str) -> Vec<String>;
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Fk {
    col: String,
    table: String,
    to_col: String,
    on_delete: String,
    on_update: String,
}

impl std::fmt::Display for Fk {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        write!(
            f,
            "{} -> {}.{} on delete {} on update {}",
            self.col, self.table, self.to_col, self.on_delete, self.on_update
        )
    }
}

impl Catalog for rusqlite::Connection {
    fn tables(&self) -> Vec<String> {
        q(
            self,
            r"SELECT name FROM sqlite_master WHERE type = 'table'
              AND name NOT LIKE '\_jsonlift%' ESCAPE '\' AND name NOT LIKE 'sqlite\_%' ESCAPE '\'
              ORDER BY name",
        )
        .into_iter()
        .map(|r| r[0].clone())
        .collect()
    }

    fn rows(&self, sql: &str) -> Vec<Vec<String>> {
        q(self, sql)
    }

    fn columns(&self, t: &str) -> Vec<(String, bool)> {
        q(self, &format!("PRAGMA table_info({})", quote(t)))
            .into_iter()
            .map(|r| (r[1].clone(), r[3] == "1"))
            .collect()
    }

    fn primary_key(&self, t: &str) -> Vec<String> {
        sorted(
            q(self, &format!("PRAGMA table_info({})", quote(t)))
                .into_iter()
                .filter(|r| r[5] != "0")
                .map(|r| r[1].clone())
                .collect(),
        )
    }

    fn foreign_keys(&self, t: &str) -> Vec<Fk> {
        sorted(
            q(self, &format!("PRAGMA foreign_key_list({})", quote(t)))
                .into_iter()
                .map(|r| Fk {
                    col: r[3].clone(),
                    table: r[2].clone(),
                    to_col: r[4].clone(),
                    on_delete: r[6].clone(),
                    on_update: r[5].clone(),
                })
                .collect(),
        )
    }

    fn uniques(&self, t: &str) -> Vec<Vec<String>> {
        let mut out: Vec<Vec<String>> = q(self, &format!("PRAGMA index_list({})", quote(t)))
            .iter()
            .filter(|r| r[3] == "u")
            .map(|r| sorted(sqlite_index_cols(self, &r[1])))
            .collect();
        out.sort();
        out.dedup();
        out
    }

    fn indexes(&self, t: &str) -> Vec<String> {
        sorted(
            q(self, &format!("PRAGMA index_list({})", quote(t)))
                .iter()
                .filter(|r| r[3] == "c")
                .map(|r| {
                    format!(
                        "{} ({}) partial {}",
                        r[1],
                        sqlite_index_cols(self, &r[1]).join(","),
                        r[4] == "1"
                    )
                })
                .collect(),
        )
    }
}

fn sqlite_index_cols(db: &rusqlite::Connection, name: &str) -> Vec<String> {
    q(db, &format!("PRAGMA index_info({})", quote(name)))
        .into_iter()
        .map(|r| r[2].clone())
        .collect()
}

/// A SQL string literal.
fn lit(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

impl Catalog for PgSchema {
    fn tables(&self) -> Vec<String> {
        self.rows(
            r"SELECT table_name FROM information_schema.tables
              WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'
              AND table_name NOT LIKE '\_jsonlift%' ORDER BY table_name",
        )
        .into_iter()
        .map(|r| r[0].clone())
        .collect()
    }

    fn rows(&self, sql: &str) -> Vec<Vec<String>> {
        self.q(sql)
            .into_iter()
            .map(|r| r.into_iter().map(|v| v.unwrap_or_default()).collect())
            .collect()
    }

    fn columns(&self, t: &str) -> Vec<(String, bool)> {
        self.rows(&format!(
            "SELECT column_name, is_nullable FROM information_schema.columns
             WHERE table_schema = current_schema() AND table_name = {}
             ORDER BY ordinal_position",
            lit(t)
        ))
        .into_iter()
        .map(|r| (r[0].clone(), r[1] == "NO"))
        .collect()
    }

    fn primary_key(&self, t: &str) -> Vec<String> {
        self.constraints(t, "PRIMARY KEY")
            .into_iter()
            .flatten()
            .collect()
    }

    fn foreign_keys(&self, t: &str) -> Vec<Fk> {
        sorted(
            self.rows(&format!(
                "SELECT k.column_name, u.table_name, u.column_name, r.delete_rule, r.update_rule
                 FROM information_schema.referential_constraints r
                 JOIN information_schema.key_column_usage k
                   ON k.constraint_schema = r.constraint_schema AND k.constraint_name = r.constraint_name
                 JOIN information_schema.constraint_column_usage u
                   ON u.constraint_schema = r.constraint_schema AND u.constraint_name = r.constraint_name
                 WHERE k.table_schema = current_schema() AND k.table_name = {}",
                lit(t)
            ))
            .into_iter()
            .map(|r| Fk {
                col: r[0].clone(),
                table: r[1].clone(),
                to_col: r[2].clone(),
                on_delete: r[3].clone(),
                on_update: r[4].clone(),
            })
            .collect(),
        )
    }

    fn uniques(&self, t: &str) -> Vec<Vec<String>> {
        let mut out = self.constraints(t, "UNIQUE");
        out.dedup();
        out
    }

    fn indexes(&self, t: &str) -> Vec<String> {
        // information_schema has no indexes: pg_index, without those of constraints.
        sorted(
            self.rows(&format!(
                "SELECT c.relname, i.indpred IS NOT NULL,
                   (SELECT string_agg(a.attname, ',' ORDER BY k.n)
                      FROM unnest(i.indkey::int2[]) WITH ORDINALITY k(attnum, n)
                      JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum)
                 FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
                 WHERE i.indrelid = (quote_ident(current_schema()) || '.' || quote_ident({}))::regclass
                   AND NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conindid = i.indexrelid)",
                lit(t)
            ))
            .into_iter()
            .map(|r| format!("{} ({}) partial {}", r[0], r[2], r[1] == "t"))
            .collect(),
        )
    }
}

impl PgSchema {
    /// The column sets of table `t`'s constraints of one kind, each sorted.
    fn constraints(&self, t: &str, kind: &str) -> Vec<Vec<String>> {
        let mut by_name: std::collections::BTreeMap<String, Vec<String>> = Default::default();
        for r in self.rows(&format!(
            "SELECT c.constraint_name, k.column_name
             FROM information_schema.table_constraints c
             JOIN information_schema.key_column_usage k
               ON k.constraint_schema = c.constraint_schema AND k.constraint_name = c.constraint_name
              AND k.table_name = c.table_name
             WHERE c.table_schema = current_schema() AND c.table_name = {} AND c.constraint_type = {}",
            lit(t),
            lit(kind)
        )) {
            by_name.entry(r[0].clone()).or_default().push(r[1].clone());
        }
        sorted(by_name.into_values().map(sorted).collect())
    }
}

/// Compares what Drizzle saw (`report`, from codegen_ts.mjs) with the database's catalog: the
/// tables, per table the rows Drizzle read against the database's count, columns in order,
/// NOT NULL, the primary key, foreign keys with their actions, uniques and indexes; then every
/// foreign key's two relations, and what the relational query gives against SQL's counts.
/// Returns how many relations were checked.
fn compare_drizzle(report: &J, db: &dyn Catalog, what: &str, say: &mut dyn FnMut(String)) -> usize {
    let tables = db.tables();
    let models = report["tables"].as_array().unwrap();
    let names = sorted(
        models
            .iter()
            .map(|t| t["name"].as_str().unwrap().to_string())
            .collect(),
    );
    if names != tables {
        say(format!(
            "the schema's tables are {names:?}, the database's {tables:?}"
        ));
    }
    for m in models {
        let t = m["name"].as_str().unwrap();
        if !tables.iter().any(|x| x == t) {
            continue;
        }
        let count: u64 = db.rows(&format!("SELECT count(*) FROM {}", quote(t)))[0][0]
            .parse()
            .unwrap();
        if m["rows"] != json!(count) {
            say(format!(
                "{t}: Drizzle read {} rows, {what} counts {count}",
                m["rows"]
            ));
        }
        let model_cols = m["columns"].as_array().unwrap();
        // Columns in order, and the primary key.
        let info = db.columns(t);
        let cols: Vec<&String> = info.iter().map(|(n, _)| n).collect();
        let theirs: Vec<&str> = model_cols
            .iter()
            .map(|c| c["name"].as_str().unwrap())
            .collect();
        if cols != theirs {
            say(format!(
                "{t}: columns {theirs:?}, the database has {cols:?}"
            ));
        }
        // NOT NULL exactly where the database has it: what an insert may leave out.
        for ((name, not_null), c) in info.iter().zip(model_cols) {
            if *not_null != (c["notNull"] == json!(true)) {
                say(format!(
                    "{t}.{name}: notNull {} in the model, NOT NULL {not_null} in the database",
                    c["notNull"]
                ));
            }
        }
        let pk = db.primary_key(t);
        let mut model_pk: Vec<String> = model_cols
            .iter()
            .filter(|c| c["primary"] == json!(true))
            .map(|c| c["name"].as_str().unwrap().to_string())
            .collect();
        for k in m["primaryKeys"].as_array().unwrap() {
            model_pk.extend(strs(k));
        }
        if sorted(model_pk.clone()) != pk {
            say(format!(
                "{t}: primary key {model_pk:?}, the database's {pk:?}"
            ));
        }
        // Foreign keys and their actions.
        let fks: Vec<String> = db.foreign_keys(t).iter().map(Fk::to_string).collect();
        let model_fks = sorted(
            m["foreignKeys"]
                .as_array()
                .unwrap()
                .iter()
                .map(|f| {
                    let up = |k: &str| f[k].as_str().unwrap_or("no action").to_uppercase();
                    Fk {
                        col: strs(&f["columns"]).join(","),
                        table: f["table"].as_str().unwrap().to_string(),
                        to_col: strs(&f["foreignColumns"]).join(","),
                        on_delete: up("onDelete"),
                        on_update: up("onUpdate"),
                    }
                    .to_string()
                })
                .collect(),
        );
        if fks != model_fks {
            say(format!(
                "{t}: foreign keys {model_fks:?}, the database's {fks:?}"
            ));
        }
        // Unique constraints (as column sets) and indexes (by name, columns, partial).
        let uniques = db.uniques(t);
        let mut model_uniques: Vec<Vec<String>> = m["uniques"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| sorted(strs(u)))
            .chain(
                model_cols
                    .iter()
                    .filter(|c| c["unique"] == json!(true))
                    .map(|c| vec![c["name"].as_str().unwrap().to_string()]),
            )
            .collect();
        model_uniques.sort();
        if uniques != model_uniques {
            say(format!(
                "{t}: unique {model_uniques:?}, the database's {uniques:?}"
            ));
        }
        let indexes = db.indexes(t);
        let model_indexes = sorted(
            m["indexes"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| {
                    format!(
                        "{} ({}) partial {}",
                        i["name"].as_str().unwrap(),
                        strs(&i["columns"]).join(","),
                        i["partial"]
                    )
                })
                .collect(),
        );
        if indexes != model_indexes {
            say(format!(
                "{t}: indexes {model_indexes:?}, the database's {indexes:?}"
            ));
        }
    }

    // Every foreign key has a relation each way, every relation is a foreign key, and the
    // relational query gives what SQL gives.
    let rels = report["relations"].as_array().unwrap();
    let find = |table: &str, kind: &str, target: &str, col: &str, tcol: &str| {
        rels.iter().find(|r| {
            r["table"] == json!(table)
                && r["kind"] == json!(kind)
                && r["target"] == json!(target)
                && strs(&r["columns"]) == [col]
                && strs(&r["targetColumns"]) == [tcol]
        })
    };
    let mut expected = 0;
    for t in &tables {
        for fk in db.foreign_keys(t) {
            let (parent, col, pcol) = (&fk.table, &fk.col, &fk.to_col);
            let (qc, qp) = (quote(t), quote(parent));
            expected += 2;
            match find(t, "one", parent, col, pcol) {
                None => say(format!(
                    "no one() relation for {t}.{col} -> {parent}.{pcol}"
                )),
                Some(r) => {
                    let sql = format!(
                        "SELECT count(*) FROM {qc} c JOIN {qp} p ON p.{} = c.{}",
                        quote(pcol),
                        quote(col)
                    );
                    let n: u64 = db.rows(&sql)[0][0].parse().unwrap();
                    if r["matched"] != json!(n) {
                        say(format!(
                            "{t}.{}: {} rows found their {parent}, SQL joins {n}",
                            r["relation"], r["matched"]
                        ));
                    }
                }
            }
            match find(parent, "many", t, pcol, col) {
                None => say(format!("no many() relation on {parent} for {t}.{col}")),
                Some(r) => {
                    let sql = format!(
                        "SELECT p.{pc}, (SELECT count(*) FROM {qc} c WHERE c.{c} = p.{pc}) FROM {qp} p",
                        pc = quote(pcol),
                        c = quote(col)
                    );
                    let want = sorted(
                        db.rows(&sql)
                            .into_iter()
                            .map(|r| (r[0].clone(), r[1].clone()))
                            .collect(),
                    );
                    let got = sorted(
                        r["counts"]
                            .as_array()
                            .unwrap()
                            .iter()
                            .map(|x| (x[0].as_str().unwrap().to_string(), x[1].to_string()))
                            .collect(),
                    );
                    if got != want {
                        say(format!(
                            "{parent}.{}: findMany with children gives (key, children) {got:?}, SQL counts {want:?}",
                            r["relation"]
                        ));
                    }
                }
            }
        }
    }
    if rels.len() != expected {
        say(format!(
            "{} relations for {} foreign keys (2 each): {rels:?}",
            rels.len(),
            expected / 2
        ));
    }
    rels.len()
}

#[test]
fn codegen_drizzle_reads_every_table_and_relation_of_every_example() {
    if skipped(
        "codegen_drizzle_reads_every_table_and_relation_of_every_example",
        "the generated Drizzle schema",
    ) {
        return;
    }
    let ts = Ts::new();
    let cases = cases();
    let files: Vec<PathBuf> = cases
        .iter()
        .map(|c| ts.generate(c, "drizzle", "schema.ts"))
        .collect();
    ts.compile(&files);
    let mut problems = Vec::new();
    let mut relations_seen = 0;
    for c in &cases {
        let report = ts.node(&[
            "drizzle",
            &ts.out(c).display().to_string(),
            &c.p.db_path().display().to_string(),
        ]);
        let mut say = |m: String| problems.push(format!("{}: {m}", c.name));
        relations_seen += compare_drizzle(&report, &c.p.db(), "SQLite", &mut say);
    }
    assert!(
        relations_seen > 0,
        "no example has a foreign key: the relations were not exercised"
    );
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// [`cases`] on PostgreSQL: each project's database line replaced by a schema of its own on
/// the test server, then migrated there. The schemas are dropped with the returned values.
fn pg_cases(url: &str) -> Vec<(Case, PgSchema)> {
    let mut out = Vec::new();
    let mut add = |name: &str, p: Project, pg: PgSchema| {
        p.jl(&["migrate", "-q"]).ok();
        let config: toml::Table = fs::read_to_string(p.config()).unwrap().parse().unwrap();
        out.push((
            Case {
                name: name.to_string(),
                p,
                config,
            },
            pg,
        ));
    };
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut dirs: Vec<String> = fs::read_dir(root.join("examples"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|d| d.join("jsonlift.toml").is_file())
        .map(|d| d.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    dirs.sort();
    assert!(!dirs.is_empty(), "no examples/*/jsonlift.toml found");
    for d in &dirs {
        let pg = PgSchema::new(url);
        let p = example_on(&pg, d);
        add(d, p, pg);
    }
    // Shared entities (init's project) and awkward names, moved onto PostgreSQL the same way.
    let on_pg = |p: &Project, pg: &PgSchema| {
        let toml = String::from_utf8(p.read("jsonlift.toml")).unwrap();
        let rest: Vec<&str> = toml
            .lines()
            .filter(|l| !l.starts_with("database ="))
            .collect();
        p.write(
            "jsonlift.toml",
            format!("{}{}\n", pg.toml(), rest.join("\n")),
        );
    };
    let pg = PgSchema::new(url);
    let p = Project::empty();
    copy_tree(&root.join("tests/infer/manytomany"), &p.root);
    p.jl_raw(&p.cwd, &["init".into(), p.root.display().to_string()])
        .ok();
    on_pg(&p, &pg);
    add("infer-manytomany", p, pg);
    let pg = PgSchema::new(url);
    let p = Project::new(NAMES_TOML);
    p.write("text.json", NAMES_TEXT)
        .write("refs.json", NAMES_REFS);
    on_pg(&p, &pg);
    add("names", p, pg);
    out
}

#[test]
fn codegen_drizzle_on_postgres_reads_every_table_and_relation_of_every_example() {
    const TEST: &str =
        "codegen_drizzle_on_postgres_reads_every_table_and_relation_of_every_example";
    let Some(url) = server(TEST) else { return };
    if skipped(TEST, "the generated Drizzle schema for PostgreSQL") {
        return;
    }
    let ts = Ts::new();
    let cases = pg_cases(&url);
    let files: Vec<PathBuf> = cases
        .iter()
        .map(|(c, _)| ts.generate(c, "drizzle", "schema.ts"))
        .collect();
    for (f, (c, pg)) in files.iter().zip(&cases) {
        let text = fs::read_to_string(f).unwrap();
        assert!(
            text.contains(&format!("pgSchema(\"{}\")", pg.name)) && !text.contains("sqlite"),
            "{}: not a pg-core schema in {}:\n{text}",
            c.name,
            pg.name
        );
    }
    ts.compile(&files);
    let mut problems = Vec::new();
    let mut relations_seen = 0;
    for (c, pg) in &cases {
        let report = ts.node(&["drizzle-pg", &ts.out(c).display().to_string(), &pg.url]);
        let mut say = |m: String| problems.push(format!("{}: {m}", c.name));
        relations_seen += compare_drizzle(&report, pg, "PostgreSQL", &mut say);
    }
    assert!(
        relations_seen > 0,
        "no example has a foreign key: the relations were not exercised"
    );
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// A record broken (or not) the way the project file says jsonlift refuses (or keeps) it.
struct Mutation {
    collection: String,
    field: String,
    /// `None`: the field is removed.
    value: Option<J>,
    valid: bool,
    why: &'static str,
}

/// The changes to make to the first record of collection `name` (declared `cc`), and whether
/// each must still be valid: read from the project file, not from the generated schemas.
fn mutations(name: &str, cc: &toml::Table) -> Vec<Mutation> {
    let mut out = Vec::new();
    let mut m = |field: &str, value: Option<J>, valid: bool, why: &'static str| {
        if !out.iter().any(|x: &Mutation| x.why == why) {
            out.push(Mutation {
                collection: name.into(),
                field: field.into(),
                value,
                valid,
                why,
            });
        }
    };
    let key = cc.get("key").and_then(|k| k.as_str());
    let Some(fields) = cc.get("fields").and_then(|f| f.as_table()) else {
        return out;
    };
    for (f, spec) in fields {
        let (ty, spec) = match spec {
            toml::Value::String(s) => (s.as_str(), toml::Table::new()),
            toml::Value::Table(t) => (
                t.get("type").and_then(|v| v.as_str()).unwrap_or(""),
                t.clone(),
            ),
            _ => continue,
        };
        let required = spec.get("required").and_then(|v| v.as_bool()) == Some(true);
        if required {
            m(f, None, false, "a required field removed");
        }
        if let Some(toml::Value::Array(e)) = spec.get("enum")
            && e.iter().all(|v| v.is_str())
        {
            m(
                f,
                Some(json!("§ not one of them")),
                false,
                "a value outside the enum",
            );
        }
        let min = spec
            .get("min")
            .and_then(|v| v.as_float().or(v.as_integer().map(|i| i as f64)));
        if let (Some(min), "integer" | "real") = (min, ty) {
            m(
                f,
                Some(json!(min - 1.0)),
                false,
                "a number below the minimum",
            );
        }
        match ty {
            "timestamp" => m(
                f,
                Some(json!("yesterday at noon")),
                false,
                "a bad timestamp",
            ),
            "date" => m(
                f,
                Some(json!("2023-02-29")),
                false,
                "a day not in the calendar",
            ),
            "uuid" => m(f, Some(json!("not-a-uuid")), false, "a bad uuid"),
            "text" => m(f, Some(json!(42)), false, "a number for a text field"),
            _ => {}
        }
        let scalar = matches!(
            ty,
            "text" | "integer" | "real" | "boolean" | "timestamp" | "date" | "uuid"
        );
        if scalar && !required && key != Some(f.as_str()) {
            m(f, Some(J::Null), true, "null for an optional field");
        }
    }
    m(
        "x-not-in-the-schema",
        Some(json!({"kept": [1, "two"]})),
        true,
        "a key the schema does not name",
    );
    out
}

#[test]
fn codegen_json_schema_and_zod_accept_every_record_and_reject_broken_ones() {
    if skipped(
        "codegen_json_schema_and_zod_accept_every_record_and_reject_broken_ones",
        "the generated JSON Schema and Zod schemas",
    ) {
        return;
    }
    let ts = Ts::new();
    let cases = cases();
    let files: Vec<PathBuf> = cases
        .iter()
        .map(|c| ts.generate(c, "zod", "zod.ts"))
        .collect();
    ts.compile(&files);
    let mut problems = Vec::new();
    let mut kinds = std::collections::BTreeSet::<&str>::new();
    for c in &cases {
        let out = ts.out(c);
        fs::copy(
            ts.generate(c, "json-schema", "schema.json"),
            out.join("schema.json"),
        )
        .unwrap();
        // The records, as the API serves them.
        let server = Server::start(&c.p, &["--prefix", "/api"], &[]);
        let collections = c.config["collections"].as_table().unwrap();
        let mut records = Vec::new();
        let mut muts = Vec::new();
        for (name, cc) in collections {
            let cc = cc.as_table().unwrap();
            let route = cc.get("route").and_then(|r| r.as_str()).unwrap_or(name);
            let r = call("GET", &server.url(&format!("/api/{route}")), None, None);
            assert_eq!(r.status, 200, "{}: GET /api/{route}: {}", c.name, r.body);
            let doc = cc.get("format").and_then(|f| f.as_str()) == Some("document");
            let body = if doc {
                format!("[{}]", r.body)
            } else {
                r.body.clone()
            };
            let n = serde_json::from_str::<J>(&body)
                .unwrap()
                .as_array()
                .unwrap()
                .len();
            records.push(format!("{}: {body}", serde_json::to_string(name).unwrap()));
            if n > 0 {
                muts.extend(mutations(name, cc));
            }
        }
        drop(server);
        kinds.extend(muts.iter().map(|m| m.why));
        fs::write(
            out.join("records.json"),
            format!("{{{}}}", records.join(",\n")),
        )
        .unwrap();
        let list: Vec<J> = muts
            .iter()
            .map(|m| {
                let mut j = json!({"collection": m.collection, "field": m.field, "valid": m.valid, "why": m.why});
                match &m.value {
                    None => j["op"] = json!("delete"),
                    Some(v) => {
                        j["op"] = json!("set");
                        j["value"] = v.clone();
                    }
                }
                j
            })
            .collect();
        fs::write(out.join("mutations.json"), J::Array(list).to_string()).unwrap();
        assert!(
            muts.iter().any(|m| m.value.is_none()),
            "{}: no collection with records has a required field, so no record was checked to \
             fail without one: give the example one",
            c.name
        );

        let report = ts.node(&["records", &out.display().to_string()]);
        let mut say = |m: String| problems.push(format!("{}: {m}", c.name));
        let names = sorted(collections.keys().cloned().collect::<Vec<_>>());
        for (what, key) in [("JSON Schema $defs", "defs"), ("Zod collections", "zod")] {
            if sorted(strs(&report[key])) != names {
                say(format!(
                    "{what} are {}, the collections {names:?}",
                    report[key]
                ));
            }
        }
        for (name, r) in report["collections"].as_object().unwrap() {
            for f in r["failures"].as_array().unwrap() {
                say(format!(
                    "{name}: record {} the API serves is refused: JSON Schema {}, Zod {}",
                    f["index"],
                    short(&f["jsonSchemaErrors"]),
                    short(&f["zodErrors"])
                ));
            }
        }
        for r in report["mutations"].as_array().unwrap() {
            for v in ["jsonSchema", "zod"] {
                if r[v] != r["valid"] {
                    say(format!(
                        "{}.{} ({}): {v} says valid = {}, jsonlift says {}; {}",
                        r["collection"].as_str().unwrap(),
                        r["field"].as_str().unwrap(),
                        r["why"].as_str().unwrap(),
                        r[v],
                        r["valid"],
                        short(&r[format!("{v}Errors")])
                    ));
                }
            }
        }
    }
    // Every kind of broken (and kept) record was tried somewhere, so none is checked vacuously.
    let all = [
        "a required field removed",
        "a value outside the enum",
        "a number below the minimum",
        "a bad timestamp",
        "a day not in the calendar",
        "a bad uuid",
        "a number for a text field",
        "null for an optional field",
        "a key the schema does not name",
    ];
    for k in all {
        assert!(kinds.contains(k), "no example let the test try {k:?}");
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
