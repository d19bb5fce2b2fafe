//! `verify` compares the database with the sources: a difference on either side is exit 1 with
//! the file and the JSON path of the difference. Verifying never changes anything.

use std::fs;
use std::time::{Duration, SystemTime};

use crate::fixtures::*;
use crate::util::*;

fn migrated() -> Project {
    let p = Project::on_backend(COURSES_TOML);
    p.write(COURSES_FILE, COURSES_JSON);
    p.migrate_ok();
    p
}

/// `path` occurs in `line`, not as the start of a longer name (`$[1].title` does not match
/// `$[1].titles`); a deeper path (`$[1].title[0]`) does match.
fn names_path(line: &str, path: &str) -> bool {
    line.match_indices(path).any(|(i, _)| {
        line[i + path.len()..]
            .chars()
            .next()
            .is_none_or(|c| !(c.is_alphanumeric() || c == '_'))
    })
}

/// Runs verify, expects exit 1 with a stderr line naming `file` (and `path` if given), and
/// checks verify changed neither the database nor the sources.
#[track_caller]
fn differs(p: &Project, file: &str, path: Option<&str>) -> Run {
    let before = p.db_exists().then(|| p.dump());
    let snap = p.snapshot();
    let r = p.jl(&["verify"]);
    r.failed();
    let hit = r
        .stderr
        .lines()
        .any(|l| l.contains(file) && path.is_none_or(|pp| names_path(l, pp)));
    assert!(hit, "verify should name {file} {path:?}\n{r:#?}");
    if let Some(before) = before {
        assert_eq!(p.dump(), before, "verify changed the database");
    }
    p.assert_unchanged(&snap);
    r
}

#[test]
fn clean_after_migrate_even_when_mtimes_change() {
    let p = migrated();
    p.jl(&["verify"]).ok();
    // Touching the file without changing its content is not a difference.
    let f = fs::File::options()
        .write(true)
        .open(p.path(COURSES_FILE))
        .unwrap();
    f.set_modified(SystemTime::now() + Duration::from_secs(3600))
        .unwrap();
    drop(f);
    p.jl(&["verify"]).ok();
}

// ---- the source changed -----------------------------------------------------------------------

#[test]
fn record_edited_in_the_source() {
    let p = migrated();
    p.write(
        COURSES_FILE,
        COURSES_JSON.replace("\"title\": \"SQL\"", "\"title\": \"SQL!\""),
    );
    differs(&p, COURSES_FILE, Some("$[1].title"));
}

#[test]
fn child_edited_in_the_source() {
    let p = migrated();
    p.write(
        COURSES_FILE,
        COURSES_JSON.replace("\"Variables\"", "\"Vars\""),
    );
    differs(&p, COURSES_FILE, Some("$[0].modules[0].lessons[1].title"));
}

#[test]
fn record_added_to_the_source() {
    let p = migrated();
    let grown = COURSES_JSON.strip_suffix("\n]").unwrap().to_string()
        + ",\n  {\n    \"id\": \"c3\",\n    \"title\": \"Go\"\n  }\n]";
    p.write(COURSES_FILE, grown);
    differs(&p, COURSES_FILE, Some("$[2]"));
}

#[test]
fn source_file_deleted() {
    let p = migrated();
    p.remove(COURSES_FILE);
    differs(&p, COURSES_FILE, None);
}

#[test]
fn folder_record_file_edited() {
    let p = Project::on_backend(
        r#"
[collections.profiles]
source = "profiles"
key = "id"

[collections.profiles.fields]
id = "text"
name = "text"
"#,
    );
    p.write(
        "profiles/anna.json",
        "{\n  \"id\": \"p1\",\n  \"name\": \"Anna\"\n}",
    );
    p.write(
        "profiles/ben.json",
        "{\n  \"id\": \"p2\",\n  \"name\": \"Ben\"\n}",
    );
    p.migrate_ok();
    p.jl(&["verify"]).ok();
    p.write(
        "profiles/ben.json",
        "{\n  \"id\": \"p2\",\n  \"name\": \"Benjamin\"\n}",
    );
    differs(&p, "profiles/ben.json", Some("$.name"));
}

// ---- the database changed ---------------------------------------------------------------------

#[test]
fn row_deleted_from_the_database() {
    let p = migrated();
    assert_eq!(p.exec("DELETE FROM courses WHERE id = 'c2'"), 1);
    differs(&p, COURSES_FILE, Some("$[1]"));
}

#[test]
fn child_row_deleted_from_the_database() {
    let p = migrated();
    assert_eq!(p.exec("DELETE FROM lessons WHERE title = 'Variables'"), 1);
    differs(&p, COURSES_FILE, Some("$[0].modules[0].lessons"));
}

#[test]
fn row_changed_in_the_database() {
    let p = migrated();
    assert_eq!(
        p.exec("UPDATE courses SET title = 'Hacked' WHERE id = 'c2'"),
        1
    );
    differs(&p, COURSES_FILE, Some("$[1].title"));
}

#[test]
fn child_row_changed_in_the_database() {
    let p = migrated();
    assert_eq!(
        p.exec("UPDATE lessons SET minutes = 6 WHERE title = 'Hello'"),
        1
    );
    differs(&p, COURSES_FILE, Some("$[0].modules[0].lessons[0].minutes"));
}

#[test]
fn row_added_to_the_database() {
    let p = migrated();
    // A copy of c2 under a new key (copying keeps any bookkeeping columns the table may have).
    let cols = p.columns("courses");
    let select: Vec<String> = cols
        .iter()
        .map(|c| match c.as_str() {
            "id" => "'c9'".to_string(),
            "title" => "'Extra'".to_string(),
            _ => format!("\"{c}\""),
        })
        .collect();
    let quoted: Vec<String> = cols.iter().map(|c| format!("\"{c}\"")).collect();
    p.exec(&format!(
        "INSERT INTO courses ({}) SELECT {} FROM courses WHERE id = 'c2'",
        quoted.join(", "),
        select.join(", ")
    ));
    differs(&p, COURSES_FILE, None);
}

#[test]
fn json_output_lists_the_difference() {
    let p = migrated();
    p.exec("UPDATE courses SET title = 'Hacked' WHERE id = 'c2'");
    let r = p.jl(&["verify", "--json"]);
    let j = r.failed().json();
    assert_eq!(j["command"], "verify");
    assert_eq!(j["ok"], false);
    let problems = j["problems"].as_array().expect("problems array");
    assert!(
        problems.iter().any(|x| x["file"] == COURSES_FILE
            && x["path"]
                .as_str()
                .is_some_and(|s| names_path(s, "$[1].title"))
            && x["message"].is_string()),
        "{r:#?}"
    );
}

// ---- records matched by key (issue #16) -------------------------------------------------------

/// Courses in the shape of [`COURSES_TOML`] with these numbers, each with a module and a lesson.
fn courses(numbers: &[u32]) -> String {
    let courses: Vec<String> = numbers
        .iter()
        .map(|i| {
            format!(
                "  {{\n    \"id\": \"c{i}\",\n    \"title\": \"Course {i}\",\n    \"modules\": [\n      {{\n        \"title\": \"Module {i}\",\n        \"lessons\": [\n          {{\n            \"title\": \"Lesson {i}\",\n            \"minutes\": {i}\n          }}\n        ]\n      }}\n    ]\n  }}"
            )
        })
        .collect();
    format!("[\n{}\n]", courses.join(",\n"))
}

fn six_migrated() -> Project {
    let p = Project::on_backend(COURSES_TOML);
    p.write(COURSES_FILE, courses(&[1, 2, 3, 4, 5, 6]));
    p.migrate_ok();
    p.jl(&["verify"]).ok();
    p
}

/// The lines of verify's stderr that report a problem (they name the source file).
fn problem_lines(r: &Run) -> Vec<&str> {
    r.stderr
        .lines()
        .filter(|l| l.starts_with(COURSES_FILE))
        .collect()
}

#[test]
fn after_one_delete_in_the_database_only_that_record_is_reported() {
    let p = six_migrated();
    assert_eq!(p.exec("DELETE FROM courses WHERE id = 'c2'"), 1);
    let r = differs(&p, COURSES_FILE, Some("$[1]"));
    let lines = problem_lines(&r);
    assert_eq!(lines.len(), 1, "only c2 is a difference: {lines:#?}");
    assert!(
        lines[0].contains("id = \"c2\"") && lines[0].contains("not in the database"),
        "{lines:#?}"
    );
}

#[test]
fn after_one_delete_in_the_source_only_that_record_is_reported() {
    let p = six_migrated();
    p.write(COURSES_FILE, courses(&[1, 3, 4, 5, 6]));
    let r = differs(&p, COURSES_FILE, None);
    let lines = problem_lines(&r);
    assert_eq!(lines.len(), 1, "only c2 is a difference: {lines:#?}");
    assert!(
        lines[0].contains("id = \"c2\"") && lines[0].contains("not in the source"),
        "{lines:#?}"
    );
}

#[test]
fn added_removed_and_changed_records_are_each_reported_once() {
    let p = six_migrated();
    p.exec("DELETE FROM courses WHERE id = 'c2'");
    p.exec("UPDATE courses SET title = 'Hacked' WHERE id = 'c5'");
    let cols = p.columns("courses");
    let select: Vec<String> = cols
        .iter()
        .map(|c| match c.as_str() {
            "id" => "'c9'".to_string(),
            _ => format!("\"{c}\""),
        })
        .collect();
    let quoted: Vec<String> = cols.iter().map(|c| format!("\"{c}\"")).collect();
    p.exec(&format!(
        "INSERT INTO courses ({}) SELECT {} FROM courses WHERE id = 'c6'",
        quoted.join(", "),
        select.join(", ")
    ));
    let r = p.jl(&["verify"]);
    r.failed();
    let lines = problem_lines(&r);
    assert_eq!(lines.len(), 4, "{lines:#?}");
    assert!(
        lines
            .iter()
            .any(|l| l.contains("$[1]") && l.contains("id = \"c2\""))
    );
    assert!(
        lines
            .iter()
            .any(|l| names_path(l, "$[4].title") && l.contains("changed"))
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains("\"c9\"") && l.contains("in the database but not in the source"))
    );
    r.stderr_has("1 record(s) only in the source, 1 only in the database, 1 changed");
}

#[test]
fn orphaned_child_rows_are_reported() {
    let p = six_migrated();
    // Another client, with foreign keys off, adds a lesson under a module that does not exist.
    assert_eq!(
        p.exec_without_foreign_keys(
            "INSERT INTO lessons (module_id, title, minutes) VALUES (987654, 'Stray', 1)"
        ),
        1
    );
    let r = differs(&p, COURSES_FILE, None);
    r.stderr_has("table lessons has 1 orphaned row(s): their module_id points at no row of modules (the first: module_id = 987654)");
}

/// A JSON field is read from the file as its compact text and compared with the column as text
/// first: the same text passes, the same value written otherwise by another client passes, and
/// a changed value is named at its path inside the field. `export` writes it back from the
/// column's text in the file's style, byte for byte.
#[test]
fn a_json_field_is_compared_as_text_then_as_a_value() {
    let p = Project::new(
        "[collections.docs]\nsource = \"data/docs.json\"\nkey = \"id\"\n[collections.docs.fields]\nid = \"integer\"\nblob = \"json\"\n\n[collections.keyed]\nsource = \"data/keyed.json\"\nformat = \"object\"\n[collections.keyed.fields]\nblob = \"json\"\n",
    );
    let docs = "[\n  {\n    \"id\": 1,\n    \"blob\": {\n      \"a\": [\n        1,\n        2.50,\n        \"\\u00e9\"\n      ],\n      \"b\": {},\n      \"c\": []\n    },\n    \"tail\": 0\n  },\n  {\n    \"id\": 2,\n    \"blob\": [\n      true\n    ]\n  }\n]\n";
    let keyed = "{\r\n\t\"k1\": {\r\n\t\t\"blob\": {\r\n\t\t\t\"x\": [\r\n\t\t\t\tnull\r\n\t\t\t]\r\n\t\t}\r\n\t}\r\n}";
    p.write("data/docs.json", docs);
    p.write("data/keyed.json", keyed);
    p.migrate_ok();
    let out = p.export();
    assert_eq!(
        fs::read_to_string(out.join("data/docs.json")).unwrap(),
        docs
    );
    assert_eq!(
        fs::read_to_string(out.join("data/keyed.json")).unwrap(),
        keyed
    );
    assert_eq!(
        q1(&p.db(), "SELECT blob FROM docs WHERE id = 1"),
        r#"{"a":[1,2.50,"é"],"b":{},"c":[]}"#
    );
    p.jl(&["verify"]).ok();
    // Equal in value, spelled otherwise by another client: not a difference.
    p.db()
        .execute_batch(
            r#"UPDATE docs SET blob = '{ "a": [1, 2.50, "é"], "b": { }, "c": [ ] }' WHERE id = 1"#,
        )
        .unwrap();
    p.jl(&["verify"]).ok();
    let out = p.export();
    assert_eq!(
        fs::read_to_string(out.join("data/docs.json")).unwrap(),
        docs
    );
    p.db()
        .execute_batch(r#"UPDATE docs SET blob = '{"a":[1,2.5,"é"],"b":{},"c":[]}' WHERE id = 1"#)
        .unwrap();
    differs(&p, "data/docs.json", Some("$[0].blob.a[1]"));
}
