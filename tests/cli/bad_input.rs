//! Bad input: every case must be refused with the exact place named, and must leave nothing
//! behind — no database (or, against an already migrated database, the same content), no backup
//! folder for `check` / `--dry-run`, sources byte-identical with unchanged mtimes.

use crate::util::*;

// ---------------------------------------------------------------------------------------------
// The case runner
// ---------------------------------------------------------------------------------------------

/// Where the binary must point. `anchor` locates the same place in the fixture, so a fixture
/// edit that moves it fails loudly as a fixture bug rather than as a binary bug.
struct Want {
    file: &'static str,
    pos: Option<(u64, u64)>,
    /// JSON path, or a prefix of it (`$[1]` also accepts `$[1].title`).
    path: Option<&'static str>,
    /// The problem line must also contain this (case-insensitive).
    says: Option<&'static str>,
    anchor: Option<Anchor>,
}

enum Anchor {
    /// The `nth` occurrence of these bytes in the bad version of `file`.
    At(&'static [u8], usize),
    /// The end of the bad version of `file`.
    End,
}

impl Want {
    fn at(file: &'static str, line: u64, col: u64) -> Want {
        Want {
            file,
            pos: Some((line, col)),
            path: None,
            says: None,
            anchor: None,
        }
    }
    fn nowhere(file: &'static str) -> Want {
        Want {
            file,
            pos: None,
            path: None,
            says: None,
            anchor: None,
        }
    }
    fn path(mut self, p: &'static str) -> Want {
        self.path = Some(p);
        self
    }
    fn says(mut self, s: &'static str) -> Want {
        self.says = Some(s);
        self
    }
    fn on(mut self, needle: &'static str, nth: usize) -> Want {
        self.anchor = Some(Anchor::At(needle.as_bytes(), nth));
        self
    }
    fn on_bytes(mut self, needle: &'static [u8], nth: usize) -> Want {
        self.anchor = Some(Anchor::At(needle, nth));
        self
    }
    fn at_end(mut self) -> Want {
        self.anchor = Some(Anchor::End);
        self
    }
}

struct Case {
    toml: String,
    /// A valid project (used to build the "already migrated" database).
    good: Vec<(&'static str, Vec<u8>)>,
    /// What to change to make it bad: new content, or `None` to delete the file.
    bad: Vec<(&'static str, Option<Vec<u8>>)>,
    want: Vec<Want>,
    /// Accepted exit codes.
    exit: &'static [i32],
}

impl Case {
    fn new(toml: &str, good: &[(&'static str, &[u8])]) -> Case {
        Case {
            toml: toml.to_string(),
            good: good.iter().map(|(f, b)| (*f, b.to_vec())).collect(),
            bad: Vec::new(),
            want: Vec::new(),
            exit: &[1],
        }
    }
    fn bad(mut self, file: &'static str, bytes: impl AsRef<[u8]>) -> Case {
        self.bad.push((file, Some(bytes.as_ref().to_vec())));
        self
    }
    fn gone(mut self, file: &'static str) -> Case {
        self.bad.push((file, None));
        self
    }
    fn want(mut self, w: Want) -> Case {
        self.want.push(w);
        self
    }
    fn exit(mut self, codes: &'static [i32]) -> Case {
        self.exit = codes;
        self
    }

    fn bad_bytes(&self, file: &str) -> Vec<u8> {
        self.bad
            .iter()
            .rev()
            .find(|(f, _)| *f == file)
            .and_then(|(_, b)| b.clone())
            .or_else(|| {
                self.good
                    .iter()
                    .find(|(f, _)| *f == file)
                    .map(|(_, b)| b.clone())
            })
            .unwrap_or_else(|| panic!("fixture bug: no content for {file}"))
    }

    fn project(&self, with_bad: bool) -> Project {
        let p = Project::on_backend(&self.toml);
        for (f, b) in &self.good {
            p.write(f, b);
        }
        if with_bad {
            self.apply_bad(&p);
        }
        p
    }

    fn apply_bad(&self, p: &Project) {
        for (f, b) in &self.bad {
            match b {
                Some(b) => {
                    p.write(f, b);
                }
                None => {
                    p.remove(f);
                }
            }
        }
    }

    #[track_caller]
    fn check_stderr(&self, r: &Run) {
        for w in &self.want {
            let line = match w.pos {
                Some((l, c)) => r.problem_at(w.file, l, c, w.path),
                None => {
                    let l = r.stderr.lines().find(|l| l.contains(w.file));
                    l.unwrap_or_else(|| panic!("stderr should name {}\n{r:#?}", w.file))
                        .to_string()
                }
            };
            if let Some(s) = w.says {
                assert!(
                    line.to_lowercase().contains(&s.to_lowercase()),
                    "problem line should mention {s:?}: {line}\n{r:#?}"
                );
            }
        }
    }

    #[track_caller]
    fn check_json(&self, r: &Run) {
        let j = r.json();
        assert_eq!(j["command"], "check", "{r:#?}");
        assert_eq!(j["ok"], false, "{r:#?}");
        let problems = j["problems"]
            .as_array()
            .unwrap_or_else(|| panic!("no problems array\n{r:#?}"));
        for w in &self.want {
            let hit = problems.iter().any(|p| {
                p["file"] == w.file
                    && p["message"].is_string()
                    && match w.pos {
                        Some((l, c)) => p["line"] == l && p["col"] == c,
                        None => true,
                    }
                    && match w.path {
                        Some(path) => p["path"].as_str().is_some_and(|s| {
                            s.strip_prefix(path).is_some_and(|rest| {
                                rest.is_empty() || rest.starts_with('.') || rest.starts_with('[')
                            })
                        }),
                        None => true,
                    }
            });
            assert!(
                hit,
                "--json problems lack {}:{:?} {:?}\n{r:#?}",
                w.file, w.pos, w.path
            );
        }
    }

    fn run(&self) {
        // The expected places really are where the fixture says.
        for w in &self.want {
            if let (Some(pos), Some(a)) = (w.pos, &w.anchor) {
                let bytes = self.bad_bytes(w.file);
                let found = match a {
                    Anchor::At(n, k) => locate(&bytes, n, *k),
                    Anchor::End => line_col(&bytes, bytes.len()),
                };
                assert_eq!(
                    found, pos,
                    "fixture bug: expected position of {} is wrong",
                    w.file
                );
            }
        }

        // Fresh project: check, check --json, migrate, migrate --dry-run.
        let p = self.project(true);
        let snap = p.snapshot();
        for args in [&["check"][..], &["migrate"], &["migrate", "--dry-run"]] {
            let r = p.jl(args);
            r.code_in(self.exit);
            self.check_stderr(&r);
            p.assert_no_db();
            p.assert_no_backups();
            p.assert_unchanged(&snap);
        }
        let r = p.jl(&["check", "--json"]);
        r.code_in(self.exit);
        if r.code == Some(1) {
            self.check_json(&r);
        }
        p.assert_no_db();
        p.assert_no_backups();
        p.assert_unchanged(&snap);

        // Already migrated project: the broken sources must not touch the database.
        let p = self.project(false);
        p.migrate_ok();
        let before = p.dump();
        let backups = p.backups().len();
        self.apply_bad(&p);
        let snap = p.snapshot();
        for args in [
            &["migrate", "--reimport"][..],
            &["migrate", "--reimport", "--dry-run"],
            &["migrate"],
        ] {
            let r = p.jl(args);
            r.code_in(self.exit);
            if args.len() > 1 {
                // Without --reimport the refusal may come before validation.
                self.check_stderr(&r);
            }
            assert_eq!(p.dump(), before, "{args:?} changed the database");
            assert_eq!(
                p.backups().len(),
                backups,
                "{args:?} left a backup behind on invalid sources"
            );
            p.assert_unchanged(&snap);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------------------------

const COURSES: &str = r#"
[collections.courses]
source = "data/courses.json"
key = "id"

[collections.courses.fields]
id = "text"
title = { type = "text", required = true }
level = { type = "text", enum = ["beginner", "advanced"] }
hours = "integer"
code = { type = "text", unique = true }
"#;

const F: &str = "data/courses.json";

const GOOD: &str = r#"[
  {"id": "c1", "title": "Rust", "level": "beginner", "hours": 10},
  {"id": "c2", "title": "SQL", "level": "advanced", "hours": 4}
]
"#;

fn courses() -> Case {
    Case::new(COURSES, &[(F, GOOD.as_bytes())])
}

// ---------------------------------------------------------------------------------------------
// Malformed JSON
// ---------------------------------------------------------------------------------------------

#[test]
fn missing_comma_between_records() {
    courses()
        .bad(
            F,
            r#"[
  {"id": "c1", "title": "Rust", "level": "beginner", "hours": 10}
  {"id": "c2", "title": "SQL", "level": "advanced", "hours": 4}
]
"#,
        )
        .want(Want::at(F, 3, 3).on(r#"{"id": "c2""#, 0))
        .run();
}

#[test]
fn missing_comma_between_fields() {
    courses()
        .bad(
            F,
            r#"[
  {"id": "c1", "title": "Rust", "level": "beginner", "hours": 10},
  {"id": "c2", "title": "SQL" "level": "advanced", "hours": 4}
]
"#,
        )
        .want(Want::at(F, 3, 31).on(r#""level": "advanced""#, 0))
        .run();
}

#[test]
fn truncated_file() {
    courses()
        .bad(
            F,
            r#"[
  {"id": "c1", "title": "Rust", "level": "beginner", "hours": 10},
  {"id": "c2", "title": "SQL""#,
        )
        .want(Want::at(F, 3, 30).at_end())
        .run();
}

#[test]
fn trailing_garbage_after_the_value() {
    courses()
        .bad(
            F,
            r#"[
  {"id": "c1", "title": "Rust", "level": "beginner", "hours": 10},
  {"id": "c2", "title": "SQL", "level": "advanced", "hours": 4}
]
oops
"#,
        )
        .want(Want::at(F, 5, 1).on("oops", 0))
        .run();
}

#[test]
fn invalid_utf8_bytes() {
    let mut bad = Vec::new();
    bad.extend_from_slice(
        "[\n  {\"id\": \"c1\", \"title\": \"Grüße \u{ff}\", \"level\": \"beginner\"}\n]\n"
            .as_bytes(),
    );
    // A str cannot hold a raw 0xFF: write U+00FF (C3 BF) and replace it with the lone byte.
    let at = bad.windows(2).position(|w| w == [0xC3, 0xBF]).unwrap();
    bad.splice(at..at + 2, [0xFFu8]);
    assert!(std::str::from_utf8(&bad).is_err());
    // Column counts characters: "Grüße" has two 2-byte characters before the bad byte.
    courses()
        .bad(F, &bad)
        .want(Want::at(F, 2, 32).on_bytes(&[0xFF], 0))
        .run();
}

#[test]
fn empty_file() {
    let toml = COURSES.replace("key = \"id\"", "key = \"id\"\nformat = \"array\"");
    Case::new(&toml, &[(F, GOOD.as_bytes())])
        .bad(F, "")
        .want(Want::at(F, 1, 1).at_end())
        .run();
}

#[test]
fn nesting_past_the_depth_limit() {
    // Depth counts containers from the top-level value (depth 1): here the outer array is 1,
    // the record 2, so 6 more brackets reach exactly max_depth = 8 (accepted, see the good file)
    // and the 7th bracket of the 20 opens level 9, the first one too deep.
    let toml = format!("max_depth = 8\n{COURSES}");
    let good = "[\n  {\"id\": \"c1\", \"title\": \"Rust\", \"deep\": [[[[[[1]]]]]]}\n]\n";
    let bad = format!(
        "[\n  {{\"id\": \"c1\", \"title\": \"Rust\", \"deep\": {}1{}}}\n]\n",
        "[".repeat(20),
        "]".repeat(20)
    );
    Case::new(&toml, &[(F, good.as_bytes())])
        .bad(F, bad)
        .want(Want::at(F, 2, 47).on("[[[[[[[[[[[[[[1", 0))
        .run();
}

// ---------------------------------------------------------------------------------------------
// Records that do not fit the schema
// ---------------------------------------------------------------------------------------------

#[test]
fn wrong_type_for_a_declared_field() {
    // Non-ASCII before the value: the column counts characters, not bytes.
    courses()
        .bad(
            F,
            r#"[
  {"id": "c1", "title": "Rust", "level": "beginner", "hours": 10},
  {"id": "c2", "title": "Grüße", "level": "advanced", "hours": "ten"}
]
"#,
        )
        .want(Want::at(F, 3, 64).path("$[1].hours").on(r#""ten""#, 0))
        .run();
}

#[test]
fn a_number_key_whose_type_is_not_declared_is_refused_with_a_hint_to_declare_it() {
    // `key = "id"` alone makes the key text; numeric ids are then refused on every record,
    // and the message says how to fix the project file rather than only what was found.
    let p = Project::new(
        r#"
[collections.courses]
source = "data/courses.json"
key = "id"
"#,
    );
    p.write(F, "[{\"id\": 1, \"title\": \"Rust\"}]\n");
    let before = p.snapshot();
    for cmd in ["check", "migrate"] {
        let r = p.jl(&[cmd]);
        r.code(1);
        let line = r.problem_at(F, 1, 9, Some("$[0].id"));
        assert!(line.contains("expected text, found number 1"), "{line}");
        r.stderr_has(
            "hint: `key = \"id\"` has no type in [collections.courses.fields], so it is text; declare one, e.g. id = \"integer\"",
        );
    }
    p.assert_no_db();
    p.assert_unchanged(&before);
    // Declared, the same file migrates.
    p.write(
        "jsonlift.toml",
        "[collections.courses]\nsource = \"data/courses.json\"\nkey = \"id\"\n[collections.courses.fields]\nid = \"integer\"\n",
    );
    p.migrate_ok();
}

#[test]
fn integer_too_large_for_64_bits() {
    courses()
        .bad(
            F,
            r#"[
  {"id": "c1", "title": "Rust", "level": "beginner", "hours": 12345678901234567890}
]
"#,
        )
        .want(
            Want::at(F, 2, 63)
                .path("$[0].hours")
                .on("12345678901234567890", 0),
        )
        .run();
}

#[test]
fn missing_required_field() {
    courses()
        .bad(
            F,
            r#"[
  {"id": "c1", "title": "Rust", "level": "beginner", "hours": 10},
  {"id": "c2", "level": "advanced", "hours": 4}
]
"#,
        )
        .want(
            Want::at(F, 3, 3)
                .path("$[1]")
                .says("title")
                .on(r#"{"id": "c2""#, 0),
        )
        .run();
}

#[test]
fn value_outside_the_enum() {
    courses()
        .bad(
            F,
            r#"[
  {"id": "c1", "title": "Rust", "level": "expert", "hours": 10},
  {"id": "c2", "title": "SQL", "level": "advanced", "hours": 4}
]
"#,
        )
        .want(Want::at(F, 2, 42).path("$[0].level").on(r#""expert""#, 0))
        .run();
}

#[test]
fn non_object_record_in_an_array() {
    courses()
        .bad(
            F,
            r#"[
  {"id": "c1", "title": "Rust", "level": "beginner", "hours": 10},
  42,
  {"id": "c3", "title": "Go", "level": "advanced", "hours": 2}
]
"#,
        )
        .want(Want::at(F, 3, 3).path("$[1]").on("42", 0))
        .run();
}

// ---------------------------------------------------------------------------------------------
// Keys and references
// ---------------------------------------------------------------------------------------------

#[test]
fn duplicate_record_key() {
    courses()
        .bad(
            F,
            r#"[
  {"id": "c1", "title": "Rust", "level": "beginner", "hours": 10},
  {"id": "c2", "title": "SQL", "level": "advanced", "hours": 4},
  {"id": "c1", "title": "Rust again", "level": "beginner", "hours": 3}
]
"#,
        )
        .want(Want::at(F, 4, 3).path("$[2]").on(r#"{"id": "c1""#, 1))
        .run();
}

#[test]
fn duplicate_value_in_a_unique_field() {
    courses()
        .bad(
            F,
            r#"[
  {"id": "c1", "title": "Rust", "code": "R-101"},
  {"id": "c2", "title": "SQL", "code": "S-201"},
  {"id": "c3", "title": "Rust 2", "code": "R-101"}
]
"#,
        )
        .want(Want::at(F, 4, 3).path("$[2]").on(r#"{"id": "c3""#, 0))
        .run();
}

#[test]
fn duplicate_key_inside_one_object() {
    // Assumption: reported at the repeated key (its opening quote).
    courses()
        .bad(
            F,
            r#"[
  {"id": "c1", "title": "Rust", "level": "beginner", "title": "Go"},
  {"id": "c2", "title": "SQL", "level": "advanced", "hours": 4}
]
"#,
        )
        .want(Want::at(F, 2, 54).path("$[0]").on(r#""title""#, 1))
        .run();
}

#[test]
fn reference_to_a_missing_parent() {
    let toml = r#"
[collections.users]
source = "data/users.json"
key = "id"

[collections.users.fields]
id = "text"
name = "text"

[collections.posts]
source = "data/posts.json"
key = "id"

[collections.posts.fields]
id = "integer"
author = { type = "text", references = "users" }
title = "text"
"#;
    let users =
        "[\n  {\"id\": \"u1\", \"name\": \"Anna\"},\n  {\"id\": \"u2\", \"name\": \"Ben\"}\n]\n";
    let posts = "[\n  {\"id\": 1, \"author\": \"u1\", \"title\": \"Hello\"},\n  {\"id\": 2, \"author\": \"u2\", \"title\": \"World\"}\n]\n";
    let bad = "[\n  {\"id\": 1, \"author\": \"u1\", \"title\": \"Hello\"},\n  {\"id\": 2, \"author\": \"u9\", \"title\": \"World\"}\n]\n";
    Case::new(
        toml,
        &[
            ("data/users.json", users.as_bytes()),
            ("data/posts.json", posts.as_bytes()),
        ],
    )
    .bad("data/posts.json", bad)
    .want(
        Want::at("data/posts.json", 3, 23)
            .path("$[1].author")
            .on("\"u9\"", 0),
    )
    .run();
}

// ---------------------------------------------------------------------------------------------
// Missing files and other shapes
// ---------------------------------------------------------------------------------------------

#[test]
fn missing_source_file() {
    // Assumption: a missing source is a problem with the data (exit 1), though a config error
    // (exit 2) is accepted; it has no line:col, only the file.
    courses().gone(F).want(Want::nowhere(F)).exit(&[1, 2]).run();
}

#[test]
fn problem_in_a_folder_source_names_the_record_file() {
    let toml = r#"
[collections.profiles]
source = "profiles"
key = "id"

[collections.profiles.fields]
id = "text"
name = "text"
age = "integer"
"#;
    let anna = "{\n  \"id\": \"p1\",\n  \"name\": \"Anna\",\n  \"age\": 31\n}\n";
    let ben = "{\n  \"id\": \"p2\",\n  \"name\": \"Ben\",\n  \"age\": 9\n}\n";
    let bad = "{\n  \"id\": \"p2\",\n  \"name\": \"Ben\",\n  \"age\": \"old\"\n}\n";
    Case::new(
        toml,
        &[
            ("profiles/anna.json", anna.as_bytes()),
            ("profiles/ben.json", ben.as_bytes()),
        ],
    )
    .bad("profiles/ben.json", bad)
    .want(
        Want::at("profiles/ben.json", 4, 10)
            .path("$.age")
            .on("\"old\"", 0),
    )
    .run();
}

#[test]
fn problem_in_a_tinydb_table_uses_the_document_id_in_the_path() {
    let toml = r#"
[collections.users]
source = "db.json"
member = "_default"
format = "tinydb"

[collections.users.fields]
name = "text"
email = { type = "text", required = true }
"#;
    let good = r#"{"_default": {"1": {"name": "Anna", "email": "anna@example.com"}, "2": {"name": "Ben", "email": "ben@example.com"}}}"#;
    let bad = r#"{"_default": {"1": {"name": "Anna", "email": "anna@example.com"}, "2": {"name": "Ben", "email": 42}}}"#;
    Case::new(toml, &[("db.json", good.as_bytes())])
        .bad("db.json", bad)
        .want(
            Want::at("db.json", 1, 97)
                .path(r#"$._default["2"].email"#)
                .on("42", 0),
        )
        .run();
}

#[test]
fn problem_in_a_db_json_member_names_the_member_in_the_path() {
    let toml = r#"
[collections.posts]
source = "db.json"
member = "posts"
key = "id"

[collections.posts.fields]
id = "integer"
title = "text"
"#;
    let good =
        "{\n  \"posts\": [\n    {\n      \"id\": 1,\n      \"title\": \"hello\"\n    }\n  ]\n}";
    let bad = "{\n  \"posts\": [\n    {\n      \"id\": \"one\",\n      \"title\": \"hello\"\n    }\n  ]\n}";
    Case::new(toml, &[("db.json", good.as_bytes())])
        .bad("db.json", bad)
        .want(
            Want::at("db.json", 4, 13)
                .path("$.posts[0].id")
                .on("\"one\"", 0),
        )
        .run();
}

#[test]
fn problem_in_a_jsonl_source_points_at_its_line() {
    let toml = r#"
[collections.events]
source = "events.jsonl"

[collections.events.fields]
kind = { type = "text", enum = ["click", "view"] }
"#;
    let good = "{\"kind\": \"click\"}\n{\"kind\": \"view\"}\n{\"kind\": \"click\"}\n";
    let bad = "{\"kind\": \"click\"}\n{\"kind\": \"view\"}\n{\"kind\": \"hover\"}\n";
    // The JSON path of a JSONL record is not pinned down by the contract; only the place is.
    Case::new(toml, &[("events.jsonl", good.as_bytes())])
        .bad("events.jsonl", bad)
        .want(Want::at("events.jsonl", 3, 10).on("\"hover\"", 0))
        .run();
}

// ---------------------------------------------------------------------------------------------
// check: all problems, --syntax-only
// ---------------------------------------------------------------------------------------------

#[test]
fn check_reports_every_problem_in_one_run() {
    let bad = r#"[
  {"id": "c1", "title": "Rust", "level": "beginner", "hours": "many"},
  {"id": "c2", "title": "SQL", "level": "advanced", "hours": 4},
  {"id": "c3", "title": "Go", "level": "guru", "hours": 2},
  {"id": "c4", "level": "beginner", "hours": 1}
]
"#;
    let expected = [
        (2u64, 63u64, "$[0].hours"),
        (4, 40, "$[2].level"),
        (5, 3, "$[3]"),
    ];
    assert_eq!(
        locate(bad.as_bytes(), b"\"many\"", 0),
        (2, 63),
        "fixture bug"
    );
    assert_eq!(
        locate(bad.as_bytes(), b"\"guru\"", 0),
        (4, 40),
        "fixture bug"
    );
    assert_eq!(
        locate(bad.as_bytes(), b"{\"id\": \"c4\"", 0),
        (5, 3),
        "fixture bug"
    );

    let p = Project::new(COURSES);
    p.write(F, bad);
    let snap = p.snapshot();
    let r = p.jl(&["check"]);
    r.failed();
    let lines = r.problem_lines(F);
    assert_eq!(
        lines.len(),
        3,
        "expected exactly three problem lines\n{r:#?}"
    );
    for (l, c, path) in expected {
        r.problem_at(F, l, c, Some(path));
    }
    let r = p.jl(&["check", "--json"]);
    r.failed();
    let j = r.json();
    let problems = j["problems"].as_array().expect("problems array");
    assert_eq!(problems.len(), 3, "{r:#?}");
    for (l, c, _) in expected {
        assert!(
            problems
                .iter()
                .any(|p| p["file"] == F && p["line"] == l && p["col"] == c),
            "{r:#?}"
        );
    }
    p.assert_no_db();
    p.assert_no_backups();
    p.assert_unchanged(&snap);
}

/// Rows go in many to a statement; a refused row must still be named at its own record, the
/// rows after it must still go in (and be checked), and a record refused at its root row must
/// leave none of its child rows behind (they would be refused too, as false duplicates).
#[test]
fn check_names_each_refused_row_of_a_long_array_and_nothing_else() {
    let toml = r#"
[collections.courses]
source = "data/courses.json"
key = "id"

[collections.courses.fields]
id = "text"
title = "text"

[collections.courses.fields.modules]
type = "array"
table = "modules"
fields = { code = { type = "text", unique = true }, title = "text" }
"#;
    let course = |n: usize, id: &str| {
        format!(
            r#"  {{"id": "{id}", "title": "Course {n}", "modules": [{{"code": "m{n}-0", "title": "a"}}, {{"code": "m{n}-1", "title": "b"}}, {{"code": "m{n}-2", "title": "c"}}]}}"#
        )
    };
    let mut records: Vec<String> = (0..200).map(|n| course(n, &format!("c{n}"))).collect();
    // Record 40 is record 5 again (its modules too); record 120's second module repeats a
    // code of record 7.
    records[40] = course(5, "c5");
    records[120] = records[120].replace(r#""code": "m120-1""#, r#""code": "m7-0""#);
    let bad = format!("[\n{}\n]\n", records.join(",\n"));
    let p = Project::new(toml);
    p.write("data/courses.json", &bad);
    let snap = p.snapshot();
    let r = p.jl(&["check", "--json"]);
    r.failed();
    let j = r.json();
    let problems = j["problems"].as_array().expect("problems array");
    let places: Vec<(u64, u64, &str)> = problems
        .iter()
        .map(|p| {
            (
                p["line"].as_u64().unwrap(),
                p["col"].as_u64().unwrap(),
                p["path"].as_str().unwrap(),
            )
        })
        .collect();
    let (dup, module) = (
        locate(bad.as_bytes(), br#"{"id": "c5""#, 1),
        locate(bad.as_bytes(), br#"{"code": "m7-0""#, 1),
    );
    assert_eq!((dup.0, module.0), (42, 122), "fixture bug");
    assert_eq!(
        places,
        [
            (dup.0, dup.1, "$[40]"),
            (module.0, module.1, "$[120].modules[1]")
        ],
        "{r:#?}"
    );
    let r = p.jl(&["migrate"]);
    r.failed();
    p.assert_no_db();
    p.assert_unchanged(&snap);
    // Without the two, all 200 records and 600 modules go in and verify.
    let good: Vec<String> = (0..200).map(|n| course(n, &format!("c{n}"))).collect();
    p.write("data/courses.json", format!("[\n{}\n]\n", good.join(",\n")));
    let r = p.jl(&["migrate", "--json"]);
    r.ok();
    let j = r.json();
    assert_eq!(j["collections"][0]["records"], 200, "{r:#?}");
    assert_eq!(j["collections"][0]["child_rows"]["modules"], 600, "{r:#?}");
    p.jl(&["verify"]).ok();
}

#[test]
fn check_syntax_only_skips_the_schema_but_not_the_syntax() {
    // Valid JSON that breaks the schema passes a syntax-only check ...
    let p = Project::new(COURSES);
    p.write(
        F,
        "[\n  {\"id\": \"c1\", \"level\": \"guru\", \"hours\": \"x\"}\n]\n",
    );
    p.jl(&["check", "--syntax-only"]).ok();
    p.jl(&["check"]).failed();
    // ... broken JSON does not.
    p.write(F, "[\n  {\"id\": \"c1\" \"title\": \"Rust\"}\n]\n");
    let r = p.jl(&["check", "--syntax-only"]);
    r.failed();
    r.problem_at(F, 2, 15, None);
    p.assert_no_db();
    p.assert_no_backups();
}

// ---------------------------------------------------------------------------------------------
// Usage and config errors: exit 2
// ---------------------------------------------------------------------------------------------

#[test]
fn unparsable_project_file_exits_2() {
    let p = Project::new("[collections.courses\nsource = \n");
    p.write(F, GOOD);
    for cmd in ["check", "migrate", "verify"] {
        let r = p.jl(&[cmd]);
        r.code(2).stderr_has("jsonlift.toml");
    }
    p.assert_no_db();
    p.assert_no_backups();
}

#[test]
fn invalid_field_type_in_project_file_exits_2() {
    let p = Project::new(&COURSES.replace("hours = \"integer\"", "hours = \"intgr\""));
    p.write(F, GOOD);
    let r = p.jl(&["migrate"]);
    r.code(2);
    assert!(!r.stderr.trim().is_empty(), "{r:#?}");
    p.assert_no_db();
    p.assert_no_backups();
}

#[test]
fn missing_project_file_exits_2() {
    let p = Project::empty();
    // Explicit -c to a file that does not exist.
    let r = p.jl(&["check"]);
    r.code(2);
    assert!(!r.stderr.trim().is_empty(), "{r:#?}");
    // Default ./jsonlift.toml in a folder that has none.
    let r = p.jl_raw(&p.cwd, &["migrate".to_string()]);
    r.code(2);
    p.assert_no_db();
}

#[test]
fn usage_errors_exit_2() {
    let p = Project::new(COURSES);
    p.write(F, GOOD);
    p.jl(&["migrate", "--no-such-flag"]).code(2);
    p.jl(&["frobnicate"]).code(2);
    // export without --out
    p.jl(&["export"]).code(2);
    p.assert_no_db();
}

// ---------------------------------------------------------------------------------------------
// The database locked by another process
// ---------------------------------------------------------------------------------------------

#[test]
fn database_locked_by_another_process() {
    let p = Project::new(&format!("busy_timeout_ms = 200\n{COURSES}"));
    p.write(F, GOOD);
    p.migrate_ok();
    // A real change, so that --reimport has to write.
    p.write(
        F,
        r#"[
  {"id": "c1", "title": "Rust", "level": "beginner", "hours": 10},
  {"id": "c2", "title": "SQL", "level": "advanced", "hours": 4},
  {"id": "c3", "title": "Go", "level": "advanced", "hours": 6}
]
"#,
    );
    let before = p.dump();
    let snap = p.snapshot();
    let backups = p.backups();

    let lock = p.db();
    lock.execute_batch("BEGIN EXCLUSIVE").unwrap();
    {
        // The premise: nobody else can write now.
        let other = p.db();
        other.busy_timeout(std::time::Duration::ZERO).unwrap();
        assert!(
            other.execute_batch("BEGIN IMMEDIATE").is_err(),
            "test premise: the lock is not held"
        );
    }
    let r = p.jl(&["migrate", "--reimport"]);
    lock.execute_batch("ROLLBACK").unwrap();
    drop(lock);

    r.failed().stderr_has_ci("locked");
    assert_eq!(p.dump(), before, "a failed migration changed the database");
    p.assert_unchanged(&snap);
    // The snapshot taken before the lock was met is removed with everything else.
    assert_eq!(p.backups(), backups, "a failed migration left its snapshot");

    // Once the lock is gone the same command goes through.
    p.jl(&["migrate", "--reimport"]).ok();
    assert_eq!(q1(&p.db(), "SELECT count(*) FROM courses"), "3");
}

// ---------------------------------------------------------------------------------------------
// A write error (disk full, simulated with a file-size limit)
// ---------------------------------------------------------------------------------------------

const PEOPLE: &str = r#"
[collections.people]
source = "people.json"
key = "id"

[collections.people.fields]
id = "text"
email = { type = "text", unique = true }
name = "text"
"#;

/// ~22 KB of JSON: below the 32 KiB limit (so the source can be read and backed up) but
/// the database it makes is well above it (about 57 KB plus the WAL).
fn people(n: usize) -> String {
    let recs: Vec<String> = (0..n)
        .map(|i| {
            format!(
                r#"{{"id": "r{i:04}", "email": "user{i:04}@example.com", "name": "Person {i:04}"}}"#
            )
        })
        .collect();
    format!("[{}]", recs.join(", "))
}

/// `ulimit -f 64` in dash: 64 × 512 bytes.
const LIMIT_BLOCKS: u32 = 64;

#[test]
fn write_error_on_a_new_database_leaves_nothing() {
    let data = people(300);
    assert!(
        data.len() > 15_000 && data.len() < 30_000,
        "fixture size {}",
        data.len()
    );
    let p = Project::new(PEOPLE);
    p.write("people.json", &data);
    p.jl(&["check"]).ok(); // the data itself is fine
    let snap = p.snapshot();

    let r = p.jl_file_limit(LIMIT_BLOCKS, &["migrate"]);
    r.failed();
    assert!(!r.stderr.trim().is_empty(), "{r:#?}");
    p.assert_no_db();
    p.assert_unchanged(&snap);

    // Nothing left that gets in the way: without the limit it works.
    p.migrate_ok();
    assert_eq!(q1(&p.db(), "SELECT count(*) FROM people"), "300");
}

#[test]
fn write_error_during_reimport_keeps_the_old_database() {
    let p = Project::new(PEOPLE);
    p.write("people.json", people(3));
    p.migrate_ok();
    let before = p.dump();
    p.write("people.json", people(300));
    let snap = p.snapshot();

    let r = p.jl_file_limit(LIMIT_BLOCKS, &["migrate", "--reimport"]);
    r.failed();
    assert!(!r.stderr.trim().is_empty(), "{r:#?}");
    assert_eq!(p.dump(), before, "a failed migration changed the database");
    p.assert_unchanged(&snap);

    p.jl(&["migrate", "--reimport"]).ok();
    assert_eq!(q1(&p.db(), "SELECT count(*) FROM people"), "300");
}
