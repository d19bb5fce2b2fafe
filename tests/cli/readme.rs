//! The README's tour says what the bundled example does (issue #16, first-run friction): its
//! sample error is what `check` prints for the edit it describes, and its list query filters the
//! example's courses (a field the records do not have would silently return them all).

use std::path::Path;

use crate::serve::{Server, call, example};
use crate::util::*;

fn readme() -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap()
}

#[test]
fn the_readme_sample_error_is_what_check_prints_for_the_edit_it_describes() {
    let text = readme();
    let block: Vec<&str> = text
        .lines()
        .skip_while(|l| !l.starts_with("A problem looks like this"))
        .skip_while(|l| *l != "```")
        .skip(1)
        .take_while(|l| *l != "```")
        .collect();
    assert_eq!(block.len(), 2, "the README's sample error block: {block:?}");
    let p = Project::empty();
    copy_tree(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/lernpfad"),
        &p.root,
    );
    let _ = std::fs::remove_file(p.path("lernpfad.db"));
    // The edit the README describes: the second course's difficulty, the third one's title.
    let json = String::from_utf8(p.read("data/courses.json")).unwrap();
    let mut v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(
        json,
        format!("{}\n", serde_json::to_string_pretty(&v).unwrap()),
        "the example is written like JSON.stringify(x, null, 2) + newline"
    );
    v[1]["difficulty"] = "Experte".into();
    v[2].as_object_mut().unwrap().shift_remove("title");
    p.write(
        "data/courses.json",
        format!("{}\n", serde_json::to_string_pretty(&v).unwrap()),
    );
    let r = p.jl(&["check"]);
    r.failed();
    for line in block {
        r.stderr_has(line);
    }
}

#[test]
fn the_readme_tour_query_filters_the_example() {
    let text = readme();
    let url = text
        .lines()
        .find(|l| l.contains("_sort=title&_page=1&_limit=5"))
        .and_then(|l| l.split('\'').nth(1))
        .expect("the tour's list query");
    let path = url.trim_start_matches("localhost:4000");
    let p = example("lernpfad", "");
    let s = Server::start(&p, &[], &[]);
    let all = call("GET", &s.url("/api/courses"), None, None);
    let all: serde_json::Value = serde_json::from_str(&all.body).unwrap();
    let r = call("GET", &s.url(path), None, None);
    r.status(200);
    let some: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    let some = some.as_array().unwrap();
    assert!(
        !some.is_empty() && some.len() < all.as_array().unwrap().len(),
        "{path} should pick some of the example's courses, not all or none: {}",
        r.body
    );
}
