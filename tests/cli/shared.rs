//! Arrays of shared entities (many-to-many): `key` on an array field stores each distinct element
//! once in its own table and the occurrences in a join table; migrate verifies, export gives the
//! files back byte for byte, and an entity whose copies differ is refused with both places.

use crate::util::*;

pub const TOML: &str = r#"
database = "films.db"

[collections.series]
source = "series.json"
key = "id"

[collections.series.fields]
id = "text"
title = "text"

[collections.series.fields.cast]
type = "array"
key = "id"
table = "people"
join_table = "series_cast"
parent_column = "series_id"
position_column = "cast_index"
entity_column = "person_id"

[collections.series.fields.cast.fields]
id = "integer"
name = { type = "text", required = true }
"#;

pub const SERIES: &str = r#"[
  {
    "id": "s1",
    "title": "Harbour",
    "cast": [
      {
        "id": 1,
        "name": "Ada",
        "born": 1970
      },
      {
        "id": 2,
        "name": "Bo"
      }
    ]
  },
  {
    "title": "Quay",
    "id": "s2",
    "cast": [
      {
        "id": 2,
        "name": "Bo"
      },
      {
        "id": 3,
        "name": "Cy",
        "roles": [
          "lead",
          1.50
        ]
      }
    ]
  },
  {
    "id": "s3",
    "title": "Empty",
    "cast": []
  }
]
"#;

fn project(series: &str) -> Project {
    let mut p = Project::new(TOML);
    p.db_rel = "films.db".into();
    p.write("series.json", series);
    p
}

#[test]
fn shared_entities_migrate_once_and_export_byte_for_byte() {
    let p = project(SERIES);
    p.migrate_ok();
    let db = p.db();
    assert_eq!(q1(&db, "SELECT count(*) FROM people"), "3");
    assert_eq!(q1(&db, "SELECT count(*) FROM series_cast"), "4");
    assert_eq!(
        q(
            &db,
            "SELECT s.title FROM series s JOIN series_cast c ON c.series_id = s.id \
             JOIN people p ON p.id = c.person_id WHERE p.name = 'Bo' ORDER BY s.id"
        ),
        rows(&[&["Harbour"], &["Quay"]])
    );
    assert_db_sound(&db);
    p.jl(&["verify"]).ok();
    let out = p.export();
    assert_exported_identical(&p, &out, "series.json");
    p.jl(&["migrate"]).ok().stdout_has("already migrated");
}

#[test]
fn a_shared_entity_whose_copies_differ_is_refused_with_both_places() {
    let p = project(
        &SERIES
            .replacen("\"Bo\"", "\"Bob\"", 2)
            .replacen("\"Bob\"", "\"Bo\"", 1),
    );
    let r = p.jl(&["migrate"]);
    r.code(1);
    let at = r.problem_at("series.json", 23, 17, Some("$[1].cast[0].name"));
    for needle in [
        "shared entity people id = 2 differs from its first occurrence",
        "series.json (record id = \"s1\") at $.cast[1]",
        "\"Bob\"",
        "\"Bo\"",
    ] {
        assert!(at.contains(needle), "{needle:?} not in {at}");
    }
    p.assert_no_db();
    // The same difference in key order is a difference too: copies must be identical.
    let p = project(&SERIES.replacen(
        "\"id\": 2,\n        \"name\": \"Bo\"",
        "\"name\": \"Bo\",\n        \"id\": 2",
        1,
    ));
    p.jl(&["check"]).code(1).stderr_has("key order differs");
}

#[test]
fn verify_finds_an_entity_no_record_uses() {
    let p = project(SERIES);
    p.migrate_ok();
    p.db()
        .execute("INSERT INTO people (id, name) VALUES (9, 'Nobody')", [])
        .unwrap();
    p.jl(&["verify"])
        .code(1)
        .stderr_has("table people has 1 row(s) that no record refers to (through series_cast)");
}
