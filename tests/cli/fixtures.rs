//! Shared projects for the happy-path and verify tests.

/// Courses with modules and lessons: an array source with child tables two levels deep.
pub const COURSES_TOML: &str = r#"
[collections.courses]
source = "data/courses.json"
key = "id"

[collections.courses.fields]
id = "text"
title = { type = "text", required = true }
hours = "real"

[collections.courses.fields.modules]
type = "array"
table = "modules"
parent_column = "course_id"
position_column = "module_index"

[collections.courses.fields.modules.fields]
title = { type = "text", required = true }

[collections.courses.fields.modules.fields.lessons]
type = "array"
table = "lessons"
parent_column = "module_id"

[collections.courses.fields.modules.fields.lessons.fields]
title = "text"
minutes = "integer"
"#;

pub const COURSES_FILE: &str = "data/courses.json";

/// `JSON.stringify(x, null, 2)` output (no trailing newline). Exercises: non-ASCII text, a
/// real field written `2`, key order different from the schema (`title` before `id`), unknown
/// fields at record level (`tags`) and in a child (`video: null`), an empty child array
/// (`Traits`) next to an absent one (`Joins`).
pub const COURSES_JSON: &str = r#"[
  {
    "id": "c1",
    "title": "Rust für Einsteiger",
    "hours": 1.5,
    "modules": [
      {
        "title": "Basics",
        "lessons": [
          {
            "title": "Hello",
            "minutes": 5
          },
          {
            "title": "Variables",
            "minutes": 10
          }
        ]
      },
      {
        "title": "Traits",
        "lessons": []
      }
    ]
  },
  {
    "title": "SQL",
    "id": "c2",
    "hours": 2,
    "modules": [
      {
        "title": "Select",
        "lessons": [
          {
            "minutes": 7,
            "title": "Where",
            "video": null
          }
        ]
      },
      {
        "title": "Joins"
      }
    ],
    "tags": [
      "db",
      "sql"
    ]
  }
]"#;

/// `JSON.stringify(x, null, 2) + "\n"`: a one-row document.
pub const STATS_JSON: &str = "{\n  \"xp\": 120,\n  \"streak\": 3,\n  \"badges\": [\n    {\n      \"id\": \"first\",\n      \"at\": \"2024-05-01\"\n    }\n  ],\n  \"ratio\": 0.25\n}\n";

pub const STATS_TOML: &str = r#"
[collections.stats]
source = "data/stats.json"
format = "document"

[collections.stats.fields]
xp = { type = "integer", required = true }
streak = "integer"
"#;
