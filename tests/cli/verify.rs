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
