//! jsonlift lifts an application's JSON-file storage into a real database without losing a
//! byte of meaning, and can put it back.
//!
//! The modules follow the data: [`config`] reads `jsonlift.toml`; [`schema`] turns it into
//! tables, validation and the rules to take records apart and put them back together;
//! [`source`] reads and writes each storage shape through [`json`]; [`store`] holds the
//! database side; [`migrate`] runs check, migrate, verify and export.

pub mod api;
pub mod audit;
pub mod backup;
pub mod cli;
pub mod clock;
pub mod codegen;
pub mod config;
pub mod copy;
pub mod error;
pub mod infer;
pub mod json;
pub mod migrate;
pub mod process;
pub mod schema;
pub mod source;
pub mod store;
pub mod sync;
pub mod writeback;

/// The store seam holds (issue #14): only `store` talks to a database client. Every other
/// module reaches SQLite and PostgreSQL through its domain operations, so a third backend, or
/// a change of client, stays inside it. And `store` knows nothing of the modules above it
/// (the migration, backups, the HTTP API, the CLI, file sync, copy): the layers read from the
/// top down.
#[cfg(test)]
mod layering_tests {
    use std::path::{Path, PathBuf};

    fn files(dir: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                files(&p, out);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }

    #[test]
    fn no_module_above_store_uses_a_database_client_and_store_uses_none_above_it() {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut all = Vec::new();
        files(&src, &mut all);
        // A client's types and functions by their crate's paths (a module of ours named
        // `postgres`, such as `migrate::postgres`, is not the client).
        let client = regex::Regex::new(
            r"\brusqlite\b|\btokio_postgres\b|(^|[^:\w])postgres::(Client|Transaction|Error|Row|GenericClient|Statement|types|binary_copy|error|IsolationLevel|Config|NoTls)\b",
        )
        .unwrap();
        let above = regex::Regex::new(r"\bcrate::(migrate|backup|api|cli|sync|copy)\b").unwrap();
        let (mut found, mut in_store) = (Vec::new(), 0);
        for f in &all {
            let text = std::fs::read_to_string(f).unwrap();
            let test_code =
                f.to_string_lossy().ends_with("_tests.rs") || f.ends_with("store/testing.rs");
            for (n, line) in text.lines().enumerate() {
                let code = line.trim_start();
                if code.starts_with("//") {
                    continue;
                }
                if f.starts_with(src.join("store")) && !test_code && above.is_match(code) {
                    found.push(format!("{}:{}: {code}", f.display(), n + 1));
                }
                if !client.is_match(code) {
                    continue;
                }
                if f.starts_with(src.join("store")) {
                    in_store += 1;
                } else {
                    found.push(format!("{}:{}: {code}", f.display(), n + 1));
                }
            }
        }
        // The pattern does find the clients where they belong.
        assert!(in_store > 50, "{in_store} uses found in store/");
        assert!(
            found.is_empty(),
            "database clients used above `store`, or modules above it used in it:\n{}",
            found.join("\n")
        );
    }
}
