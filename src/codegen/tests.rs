//! Unit tests of what the targets share (names, nullability, uniques and indexes, the record
//! shape, the string patterns, which must accept exactly what jsonlift accepts) and of each
//! target's output for small schemas. The targets' consumers check them in tests/cli/codegen_ts.rs.

use std::path::Path;

use super::*;
use crate::config::Project;
use crate::schema::{is_date, is_timestamp, is_uuid};

fn schema(toml: &str) -> Schema {
    let p = Project::parse(Path::new("/nonexistent/jsonlift.toml"), toml).unwrap();
    Schema::build(&p).unwrap()
}

fn table<'s>(s: &'s Schema, name: &str) -> &'s Table {
    s.tables.iter().find(|t| t.name == name).unwrap()
}

fn nullable_by_name(t: &Table, col: &str) -> bool {
    nullable(t, &t.columns[t.col(col).unwrap()])
}

const NESTED: &str = r#"
[collections.courses]
source = "courses.json"
format = "array"

[collections.courses.fields]
id = "integer"
title = { type = "text", required = true }
meta = { type = "json", required = true }
notes = "json"
author = { type = "object", flatten = true, fields = { name = { type = "text", required = true }, extra = { type = "json", required = true } } }
tags = { type = "array", of = "text", table = "course_tags" }

[collections.courses.fields.modules]
type = "array"
table = "modules"
unique = [["_parent", "_pos"], ["title"], ["_pos", "_parent"], ["title", "_pos"]]
indexes = [["title"], ["title"]]

[collections.courses.fields.modules.fields]
title = { type = "text", required = true, index = true }

[collections.users]
source = "db.json"
format = "tinydb"
member = "users"

[collections.users.fields]
name = { type = "text", unique = true }
"#;

#[test]
fn nullability_follows_the_planned_ddl() {
    let s = schema(NESTED);
    let courses = table(&s, "courses");
    // A generated id: NOT NULL PRIMARY KEY, numbered by the database.
    assert!(!nullable_by_name(courses, "_id"));
    assert!(!nullable_by_name(courses, "title"));
    assert!(nullable_by_name(courses, "id"));
    // JSON: NOT NULL when required at the top of the row, not inside a flattened object.
    assert!(!nullable_by_name(courses, "meta"));
    assert!(nullable_by_name(courses, "notes"));
    assert!(nullable_by_name(courses, "author_name"));
    assert!(nullable_by_name(courses, "author_extra"));
    assert!(nullable_by_name(courses, "_extra"));
    assert!(nullable_by_name(courses, "_meta"));
    let modules = table(&s, "modules");
    assert!(!nullable_by_name(modules, "_parent"));
    // Positions are filled by a trigger when left NULL; a TinyDB document id only where it is
    // not the primary key (here it is).
    assert!(nullable_by_name(modules, "_pos"));
    assert!(!nullable_by_name(table(&s, "users"), "_doc_id"));
    // Elements of an array of scalars may be null.
    assert!(nullable_by_name(table(&s, "course_tags"), "value"));
}

#[test]
fn unique_groups_and_indexes_appear_once() {
    let s = schema(NESTED);
    let modules = table(&s, "modules");
    let groups: Vec<Vec<&str>> = unique_groups(modules)
        .iter()
        .map(|g| g.iter().map(String::as_str).collect())
        .collect();
    // The builder's own (parent, position) and the declared copies of it are one group;
    // `title` alone stays (the column is not unique by itself).
    assert_eq!(
        groups,
        vec![
            vec!["_parent", "_pos"],
            vec!["title"],
            vec!["title", "_pos"]
        ]
    );
    let names: Vec<String> = indexes(modules).into_iter().map(|i| i.name).collect();
    assert_eq!(
        names,
        vec!["idx_modules_title", "idx_modules__extra_held"],
        "the DDL's IF NOT EXISTS keeps the first index of a name"
    );
    assert!(indexes(modules).last().unwrap().partial);
}

#[test]
fn names_are_identifiers_and_distinct() {
    assert_eq!(ident("user progress"), "user_progress");
    assert_eq!(ident("2024"), "_2024");
    assert_eq!(ident("default"), "_default");
    assert_eq!(ident("Straße"), "Stra_e");
    assert_eq!(
        prop("default"),
        "default",
        "a property may be a reserved word"
    );
    assert_eq!(prop("__proto__"), "__proto___");
    assert_eq!(prop(""), "_");
    assert_eq!(pascal("user_progress"), "UserProgress");
    assert_eq!(pascal("lesson-content 2"), "LessonContent2");
    assert_eq!(pascal("9lives"), "_9lives");
    let mut n = Names::with(&["text"]);
    assert_eq!(n.claim("text"), "text_2");
    assert_eq!(n.claim("a_b"), "a_b");
    assert_eq!(n.claim(&prop("a-b")), "a_b_2");
    assert_eq!(js_key("title"), "title");
    assert_eq!(js_key("created at"), "\"created at\"");
    assert_eq!(js_key("__proto__"), "[\"__proto__\"]");
    assert_eq!(number(0.0), "0");
    assert_eq!(number(4.5), "4.5");
}

#[test]
fn patterns_accept_exactly_what_jsonlift_accepts() {
    let cases = [
        "2024-05-01T10:00:00Z",
        "2024-05-01T10:00:00.123456+02:00",
        "2024-05-01 10:00:00",
        "2024-05-01t10:00z",
        "2024-05-01T10:00",
        "2024-02-29T23:59:60Z",
        "2000-02-29T00:00:00",
        "1900-02-29T00:00:00",
        "2024-05-01T10:00:00+0200",
        "2024-05-01T10:00:00-05",
        "2025-01-14T09:12:44.512301",
        "2024-05-0€T10:00:00Z",
        "2024-05-01",
        "2023-02-29T10:00:00Z",
        "2024-04-31T10:00:00Z",
        "2024-05-01T25:00:00Z",
        "2024-05-01T10:00:61Z",
        "2024-05-01T10:00.5",
        "2024-05-01T10:00:00.Z",
        "2024-05-01T10:00:00+24:00",
        "yesterday",
        "2024-05-01T10:00:00ZZ",
        "2024-13-01",
        "2024-12-31",
        "2400-02-29",
        "2100-02-29",
        "123e4567-e89b-12d3-a456-426614174000",
        "123E4567-E89B-12D3-A456-426614174000",
        "123e4567e89b12d3a456426614174000",
        "urn:uuid:123e4567-e89b-12d3-a456-426614174000",
    ];
    let re = |ty| regex::Regex::new(&pattern(ty).unwrap()).unwrap();
    let (ts, date, uuid) = (
        re(ScalarType::Timestamp),
        re(ScalarType::Date),
        re(ScalarType::Uuid),
    );
    for s in cases {
        assert_eq!(ts.is_match(s), is_timestamp(s), "timestamp {s:?}");
        assert_eq!(date.is_match(s), is_date(s), "date {s:?}");
        assert_eq!(uuid.is_match(s), is_uuid(s), "uuid {s:?}");
    }
    assert_eq!(pattern(ScalarType::Text), None);
}

#[test]
fn record_shape_is_what_the_api_serves() {
    let s = schema(
        r#"
[collections.posts]
source = "posts.json"
format = "array"
key = "id"

[collections.posts.fields]
id = "integer"
level = { type = "text", enum = ["a", "b"] }
views = { type = "integer", min = 0, max = 10 }
flag = { type = "boolean", min = 1 }
author = { type = "object", flatten = true, required = true, fields = { name = "text" } }
tags = { type = "array", of = "date", table = "post_tags" }

[collections.posts.fields.cast]
type = "array"
key = "pid"
table = "people"

[collections.posts.fields.cast.fields]
pid = "integer"
name = { type = "text", required = true }
"#,
    );
    let props = record_shape(&s, 0);
    let get = |n: &str| props.iter().find(|p| p.name == n).unwrap();
    // The key is required though not declared so: every stored record has one.
    assert!(get("id").required && !get("id").value.null);
    assert!(!get("level").required && get("level").value.null);
    let Shape::Scalar(v) = &get("views").value.shape else {
        panic!()
    };
    assert_eq!((v.min, v.max), (Some(0.0), Some(10.0)));
    let Shape::Scalar(f) = &get("flag").value.shape else {
        panic!()
    };
    assert_eq!(f.min, None, "bounds are checked on numbers only");
    let Shape::Object(author) = &get("author").value.shape else {
        panic!()
    };
    assert!(get("author").required && author[0].name == "name");
    let Shape::Array(tags) = &get("tags").value.shape else {
        panic!()
    };
    assert!(tags.null, "an element of an array of scalars may be null");
    assert!(matches!(
        &tags.shape,
        Shape::Scalar(Scalar {
            ty: ScalarType::Date,
            ..
        })
    ));
    let Shape::Array(cast) = &get("cast").value.shape else {
        panic!()
    };
    let Shape::Object(person) = &cast.shape else {
        panic!()
    };
    let names: Vec<(&str, bool)> = person
        .iter()
        .map(|p| (p.name.as_str(), p.required))
        .collect();
    assert_eq!(names, vec![("pid", true), ("name", true)]);
}

#[test]
fn drizzle_models_keys_links_and_names() {
    let s = schema(&format!(
        "{NESTED}\n[collections.notes]\nsource = \"notes.json\"\nformat = \"array\"\nkey = \"id\"\n\n[collections.notes.fields]\nid = \"integer\"\n\"a-b\" = \"text\"\na_b = \"text\"\ngetSQL = \"text\"\ncourse = {{ type = \"integer\", references = \"courses\", on_delete = \"set null\" }}\n"
    ));
    let ts = generate(&s, Target::Drizzle, &CodegenOptions::default());
    for line in [
        "import { relations, sql } from \"drizzle-orm\";",
        "export const courses = sqliteTable(\"courses\", {",
        "  _id: integer(\"_id\").primaryKey(),",
        "  meta: text(\"meta\", { mode: \"json\" }).notNull(),",
        "  _pos: integer(\"_pos\"),",
        "  _parent: integer(\"_parent\").notNull().references((): AnySQLiteColumn => courses._id, { onDelete: \"cascade\", onUpdate: \"cascade\" }),",
        "  unique().on(t._parent, t._pos),",
        "  index(\"idx_modules_title\").on(t.title),",
        "  index(\"idx_modules__extra_held\").on(t._extra).where(sql`${t._extra} IS NOT NULL`),",
        // A natural integer key is declared on the table: an insert must give it.
        "  id: integer(\"id\").notNull(),",
        "  primaryKey({ columns: [t.id] }),",
        // A TinyDB document id that is the key: NOT NULL, an insert must give it (a nullable
        // primary key is what ORMs cannot insert into).
        "  _doc_id: integer(\"_doc_id\").notNull(),",
        "  primaryKey({ columns: [t._doc_id] }),",
        "  name: text(\"name\").unique(),",
        // Names that would collide, or shadow Drizzle's own members.
        "  a_b: text(\"a-b\"),",
        "  a_b_2: text(\"a_b\"),",
        "  getSQL_2: text(\"getSQL\"),",
        "  course: integer(\"course\").references((): AnySQLiteColumn => courses._id, { onDelete: \"set null\", onUpdate: \"cascade\" }),",
        "export const coursesRelations = relations(courses, ({ many }) => ({",
        "  modules: many(modules, { relationName: \"modules._parent\" }),",
        // `notes` is a column of courses: the relation says which column points here.
        "  notes_by_course: many(notes, { relationName: \"notes.course\" }),",
        "  parent: one(courses, { fields: [modules._parent], references: [courses._id], relationName: \"modules._parent\" }),",
        // `course` is a column: the relation takes the target's name.
        "  courses: one(courses, { fields: [notes.course], references: [courses._id], relationName: \"notes.course\" }),",
    ] {
        assert!(ts.lines().any(|l| l == line), "no line {line:?} in\n{ts}");
    }
}

#[test]
fn json_schema_allows_null_exactly_where_jsonlift_does() {
    let s = schema(NESTED);
    let doc: serde_json::Value = serde_json::from_str(&generate(
        &s,
        Target::JsonSchema,
        &CodegenOptions::default(),
    ))
    .unwrap();
    assert_eq!(
        doc["$schema"],
        "https://json-schema.org/draft/2020-12/schema"
    );
    let c = &doc["$defs"]["courses"];
    assert_eq!(c["required"], serde_json::json!(["title", "meta"]));
    assert_eq!(c["additionalProperties"], true);
    assert_eq!(c["properties"]["title"]["type"], "string");
    assert_eq!(
        c["properties"]["id"]["type"],
        serde_json::json!(["integer", "null"])
    );
    assert_eq!(
        c["properties"]["meta"],
        serde_json::json!({"not": {"type": "null"}})
    );
    assert_eq!(c["properties"]["notes"], serde_json::json!({}));
    let author = &c["properties"]["author"];
    assert_eq!(author["type"], serde_json::json!(["object", "null"]));
    assert_eq!(author["required"], serde_json::json!(["name", "extra"]));
    let tags = &c["properties"]["tags"];
    assert_eq!(tags["items"]["type"], serde_json::json!(["string", "null"]));
    let modules = &c["properties"]["modules"];
    assert_eq!(modules["items"]["required"], serde_json::json!(["title"]));
    assert!(doc["$defs"]["users"].is_object());
}

#[test]
fn a_hidden_field_is_optional_in_the_record_shape() {
    let s = schema(
        r#"
[collections.users]
source = "users.json"
format = "array"
key = "id"

[collections.users.fields]
id = "integer"
name = { type = "text", required = true }
password = { type = "text", required = true, hidden = true }
"#,
    );
    let props = record_shape(&s, 0);
    let get = |n: &str| props.iter().find(|p| p.name == n).unwrap();
    // The API never returns it: a read type must not promise it.
    assert!(get("name").required);
    assert!(!get("password").required);
}

#[test]
fn zod_schemas_mirror_the_record_shape() {
    let s = schema(&format!(
        "{NESTED}\n[collections.json_value]\nsource = \"x.json\"\nformat = \"array\"\n\n[collections.json_value.fields]\nn = {{ type = \"integer\", enum = [1, 2], min = 0 }}\none = {{ type = \"text\", enum = [\"only\"] }}\nwhen = {{ type = \"timestamp\", required = true }}\n"
    ));
    let ts = generate(&s, Target::Zod, &CodegenOptions::default());
    for line in [
        "export const Courses = z.object({",
        "  title: z.string(),",
        "  meta: jsonPresent,",
        "  notes: jsonValue.optional(),",
        "  author: z.object({",
        "    name: z.string(),",
        "  }).passthrough().nullish(),",
        "  tags: z.array(z.string().nullable()).nullish(),",
        "export type Courses = z.infer<typeof Courses>;",
        // A collection named like a helper gets another name.
        "export const JsonValue_2 = z.object({",
        "  n: z.union([z.literal(1), z.literal(2)]).refine((v) => v >= 0).nullish(),",
        "  one: z.literal(\"only\").nullish(),",
        "  when: z.string().regex(TIMESTAMP),",
        "  json_value: JsonValue_2,",
    ] {
        assert!(ts.lines().any(|l| l == line), "no line {line:?} in\n{ts}");
    }
}

fn pg(schema: &str) -> CodegenOptions {
    CodegenOptions {
        dialect: crate::store::Dialect::Postgres,
        pg_schema: schema.into(),
    }
}

#[test]
fn drizzle_on_postgres_has_the_postgres_ddl() {
    let s = schema(&format!(
        "{NESTED}\n[collections.notes]\nsource = \"notes.json\"\nformat = \"array\"\nkey = \"id\"\n\n[collections.notes.fields]\nid = \"integer\"\nok = \"boolean\"\nratio = \"real\"\ncourse = {{ type = \"integer\", references = \"courses\", on_delete = \"set null\" }}\n"
    ));
    let ts = generate(&s, Target::Drizzle, &pg("jl_app"));
    for line in [
        "import { relations, sql } from \"drizzle-orm\";",
        "import { type AnyPgColumn, bigint, boolean, doublePrecision, index, jsonb, pgSchema, text, unique } from \"drizzle-orm/pg-core\";",
        "export const jl_appSchema = pgSchema(\"jl_app\");",
        "export const courses = jl_appSchema.table(\"courses\", {",
        // An identity: the database numbers it, an insert leaves it out.
        "  _id: bigint(\"_id\", { mode: \"number\" }).primaryKey().generatedByDefaultAsIdentity(),",
        "  meta: jsonb(\"meta\").notNull(),",
        "  _pos: bigint(\"_pos\", { mode: \"number\" }),",
        "  _parent: bigint(\"_parent\", { mode: \"number\" }).notNull().references((): AnyPgColumn => courses._id, { onDelete: \"cascade\", onUpdate: \"cascade\" }),",
        "  index(\"idx_modules__extra_held\").on(t._extra).where(sql`${t._extra} IS NOT NULL`),",
        // No rowid to alias: a natural integer key is the column's key, given by the app.
        "  id: bigint(\"id\", { mode: \"number\" }).primaryKey(),",
        "  _doc_id: bigint(\"_doc_id\", { mode: \"number\" }).primaryKey(),",
        "  ok: boolean(\"ok\"),",
        "  ratio: doublePrecision(\"ratio\"),",
        // Tables without a generated key have `_rowid` first; every table has `_exact` last.
        "  _rowid: bigint(\"_rowid\", { mode: \"number\" }).generatedByDefaultAsIdentity().unique(),",
        "  _exact: text(\"_exact\"),",
        "  course: bigint(\"course\", { mode: \"number\" }).references((): AnyPgColumn => courses._id, { onDelete: \"set null\", onUpdate: \"cascade\" }),",
    ] {
        assert!(ts.lines().any(|l| l == line), "no line {line:?} in\n{ts}");
    }
    assert!(!ts.contains("sqlite"), "{ts}");
    assert!(!ts.contains("primaryKey({"), "{ts}");
    // courses has a generated key: no `_rowid`.
    let courses = &ts[ts.find("export const courses =").unwrap()..];
    let courses = &courses[..courses.find("\n}").unwrap()];
    assert!(!courses.contains("_rowid"), "{courses}");
    assert!(
        courses.trim_end().ends_with("_exact: text(\"_exact\"),"),
        "{courses}"
    );

    // In `public`, plain pgTable.
    let ts = generate(&s, Target::Drizzle, &pg("public"));
    assert!(
        ts.contains("export const courses = pgTable(\"courses\", {"),
        "{ts}"
    );
    assert!(!ts.contains("pgSchema"), "{ts}");
}

#[test]
fn drizzle_on_postgres_names_indexes_as_postgres_cuts_them() {
    let long = "a".repeat(70);
    let s = schema(&format!(
        "[collections.things]\nsource = \"things.json\"\n\n[collections.things.fields]\n{long} = {{ type = \"text\", index = true }}\n"
    ));
    let ts = generate(&s, Target::Drizzle, &pg("public"));
    let name = format!("idx_things_{long}");
    assert!(ts.contains(&format!("index(\"{}\")", &name[..63])), "{ts}");
    let ts = generate(&s, Target::Drizzle, &CodegenOptions::default());
    assert!(ts.contains(&format!("index(\"{name}\")")), "{ts}");
}

#[test]
fn defaults_are_the_models_server_defaults() {
    let s = schema(
        r#"
[collections.posts]
source = "posts.json"

[collections.posts.fields]
status = { type = "text", required = true, default = "it's `new` ${x}" }
views = { type = "integer", default = 0 }
live = { type = "boolean", default = false }
tags = { type = "array", default = ["a"] }
at = { type = "timestamp", default = "CURRENT_TIMESTAMP" }
"#,
    );
    let pg = CodegenOptions {
        dialect: crate::store::Dialect::Postgres,
        pg_schema: "public".into(),
    };
    let drizzle = generate(&s, Target::Drizzle, &CodegenOptions::default());
    for line in [
        "  status: text(\"status\").notNull().default(sql`'it''s \\`new\\` \\${x}'`),",
        "  views: integer(\"views\").default(sql`0`),",
        "  live: integer(\"live\", { mode: \"boolean\" }).default(sql`0`),",
        "  tags: text(\"tags\", { mode: \"json\" }).default(sql`'[\"a\"]'`),",
        "  at: text(\"at\").default(sql`CURRENT_TIMESTAMP`),",
    ] {
        assert!(
            drizzle.lines().any(|l| l == line),
            "no line {line:?} in\n{drizzle}"
        );
    }
    let drizzle = generate(&s, Target::Drizzle, &pg);
    for line in [
        "  live: boolean(\"live\").default(sql`FALSE`),",
        "  tags: jsonb(\"tags\").default(sql`'[\"a\"]'::jsonb`),",
        "  at: text(\"at\").default(sql`to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS')`),",
    ] {
        assert!(
            drizzle.lines().any(|l| l == line),
            "no line {line:?} in\n{drizzle}"
        );
    }
    let py = generate(&s, Target::Sqlalchemy, &CodegenOptions::default());
    for part in [
        "server_default=text(\"'it''s `new` ${x}'\")",
        "server_default=text(\"CURRENT_TIMESTAMP\")",
        "server_default=text(\"'[\\\"a\\\"]'\")",
    ] {
        assert!(py.contains(part), "no {part:?} in\n{py}");
    }
    let py = generate(&s, Target::Sqlalchemy, &pg);
    assert!(py.contains("server_default=text(\"FALSE\")"), "{py}");
}
