//! `jsonlift init` and `jsonlift infer`: the project file inferred from the data alone.
//!
//! The contract: for every example (its data files only, without its jsonlift.toml) and every
//! case of the corpus under `tests/infer/`, `init` then `check`, `migrate`, `verify` and
//! `export` give back every source byte for byte. On top of that, each corpus case asserts the
//! inferences it exists for, and bad input is refused with the place and no file written.

use std::fs;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

use crate::util::*;

/// Data files of a case: JSON, JSON Lines and prompty files outside hidden folders.
fn data_files(dir: &Path) -> Vec<String> {
    list_files(dir)
        .into_iter()
        .filter(|f| !f.split('/').any(|c| c.starts_with('.')))
        .filter(|f| {
            let ext = f.rsplit('.').next().unwrap_or("").to_ascii_lowercase();
            matches!(ext.as_str(), "json" | "jsonl" | "ndjson" | "prompty")
        })
        .collect()
}

fn copy_data(from: &Path, to: &Path) {
    for rel in data_files(from) {
        let dst = to.join(&rel);
        fs::create_dir_all(dst.parent().unwrap()).unwrap();
        fs::copy(from.join(&rel), &dst).unwrap();
    }
}

fn init(p: &Project) -> Run {
    p.jl_raw(&p.cwd, &["init".into(), p.root.display().to_string()])
}

/// A project holding a copy of `case`'s data, after a successful `init`.
#[track_caller]
fn inited(case: &Path) -> (Project, toml::Table) {
    let mut p = Project::empty();
    copy_data(case, &p.root);
    init(&p).ok().stdout_has("wrote");
    let text = fs::read_to_string(p.config()).unwrap();
    let config: toml::Table = text
        .parse()
        .unwrap_or_else(|e| panic!("inferred file is not TOML: {e}\n{text}"));
    if let Some(db) = config.get("database").and_then(|d| d.as_str()) {
        p.db_rel = db.to_string();
    }
    (p, config)
}

/// init → check → migrate → verify → export, and every source comes back byte for byte.
#[track_caller]
fn round_trip(case: &Path) -> (Project, toml::Table) {
    let (p, config) = inited(case);
    let text = fs::read_to_string(p.config()).unwrap();
    let context = |what: &str| format!("{what}\n--- inferred jsonlift.toml ---\n{text}");
    let r = p.jl(&["check"]);
    assert_eq!(r.code, Some(0), "{}\n{}", context("check failed"), r.stderr);
    let r = p.jl(&["migrate"]);
    assert_eq!(
        r.code,
        Some(0),
        "{}\n{}",
        context("migrate failed"),
        r.stderr
    );
    assert_db_sound(&p.db());
    p.jl(&["verify"]).ok();
    let out = p.export();
    let sources = data_files(case);
    assert!(!sources.is_empty(), "no data files in {}", case.display());
    for s in &sources {
        let original = p.read(s);
        let exported = fs::read(out.join(s))
            .unwrap_or_else(|e| panic!("{}", context(&format!("export did not write {s}: {e}"))));
        if exported != original && !same_prompty(s, &original, &exported) {
            panic!(
                "{}",
                context(&format!(
                    "exported {s} differs from the source\n--- source ---\n{}\n--- export ---\n{}",
                    String::from_utf8_lossy(&original),
                    String::from_utf8_lossy(&exported)
                ))
            );
        }
    }
    for f in list_files(&out) {
        assert!(
            sources.contains(&f),
            "export wrote {f}, which is not a source"
        );
    }
    p.jl(&["migrate"]).ok().stdout_has("already migrated");
    (p, config)
}

/// A `.prompty` file is YAML re-emitted by the prompty writer, which does not promise the same
/// bytes (tests/cli/examples.rs holds the writer to that); what `init` must guarantee is the same
/// record: the same front matter values and the same body.
fn same_prompty(rel: &str, a: &[u8], b: &[u8]) -> bool {
    if !rel.ends_with(".prompty") {
        return false;
    }
    let parse = |x: &[u8]| {
        let t = std::str::from_utf8(x).ok()?;
        jsonlift::source::prompty::parse_prompty(t, "body", 128)
            .ok()
            .map(|d| d.value)
    };
    let (va, vb) = (parse(a), parse(b));
    va.is_some() && va == vb
}

fn cases(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir() && !p.file_name().unwrap().to_string_lossy().starts_with('.'))
        .collect();
    v.sort();
    v
}

fn corpus(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/infer")
        .join(name)
}

/// Runs `f` on every case, reporting all failures at once.
fn all(cases: &[PathBuf], f: impl Fn(&Path)) {
    assert!(!cases.is_empty());
    let mut failures = Vec::new();
    for c in cases {
        if let Err(e) = catch_unwind(AssertUnwindSafe(|| f(c))) {
            let msg = e
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            failures.push(format!("== {} ==\n{msg}", c.display()));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n\n")
    );
}

/// The contract of `init`, table-driven over every example and every corpus case: `infer`
/// prints exactly what `init` writes, and init → check → migrate → verify → export gives back
/// every source byte for byte, each command exiting 0.
#[test]
fn init_migrate_export_round_trips_every_example_and_corpus_case() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut every = cases(&root.join("examples"));
    every.extend(cases(&corpus("")));
    assert!(every.len() >= 20, "{every:?}");
    all(&every, |c| {
        let (p, _) = round_trip(c);
        let written = fs::read_to_string(p.config()).unwrap();
        let r = p.jl_raw(&p.cwd, &["infer".into(), p.root.display().to_string()]);
        r.ok();
        assert_eq!(r.stdout, written, "infer and init disagree");
    });
}

// ---------------------------------------------------------------------------------------------
// What each corpus case is for

fn coll<'a>(config: &'a toml::Table, name: &str) -> &'a toml::Table {
    config["collections"]
        .get(name)
        .and_then(|c| c.as_table())
        .unwrap_or_else(|| panic!("no collection {name:?} in {config:#?}"))
}

fn field(c: &toml::Table, path: &[&str]) -> toml::Table {
    let mut t = c;
    let mut last = None;
    for (i, k) in path.iter().enumerate() {
        let f = &t["fields"][*k];
        if i + 1 == path.len() {
            last = Some(match f {
                toml::Value::String(ty) => {
                    let mut m = toml::Table::new();
                    m.insert("type".into(), toml::Value::String(ty.clone()));
                    m
                }
                toml::Value::Table(m) => m.clone(),
                other => panic!("field {k}: {other:?}"),
            });
        } else {
            t = f.as_table().unwrap();
        }
    }
    last.unwrap()
}

fn s<'a>(t: &'a toml::Table, k: &str) -> Option<&'a str> {
    t.get(k).and_then(|v| v.as_str())
}

#[test]
fn tinydb_written_by_tinydb() {
    let (p, c) = round_trip(&corpus("tinydb"));
    for (name, member) in [
        ("library", "_default"),
        ("authors", "authors"),
        ("books", "books"),
        ("loans", "loans"),
    ] {
        let t = coll(&c, name);
        assert_eq!(s(t, "format"), Some("tinydb"));
        assert_eq!(s(t, "member"), Some(member));
        assert_eq!(t.get("key"), None, "{name}: the document id is the key");
    }
    let books = coll(&c, "books");
    assert_eq!(
        s(&field(books, &["author_id"]), "references"),
        Some("authors")
    );
    assert_eq!(
        field(books, &["isbn"])
            .get("unique")
            .and_then(|v| v.as_bool()),
        Some(true)
    );
    assert_eq!(
        s(&field(books, &["tags"]), "table"),
        Some("tags"),
        "tags repeat: a child table"
    );
    assert_eq!(s(&field(books, &["editions"]), "table"), Some("editions"));
    let loans = coll(&c, "loans");
    assert_eq!(s(&field(loans, &["book_id"]), "references"), Some("books"));
    // Outside a json-server db.json, the default (restrict) stays.
    assert_eq!(field(loans, &["book_id"]).get("on_delete"), None);
    let status = field(loans, &["status"]);
    assert_eq!(status["enum"].as_array().unwrap().len(), 3);
    assert_eq!(s(&field(loans, &["lent_at"]), "type"), Some("timestamp"));
    assert_eq!(s(&field(loans, &["due"]), "type"), Some("date"));
    let db = p.db();
    assert_eq!(
        q1(
            &db,
            "SELECT count(*) FROM loans JOIN books ON books._doc_id = loans.book_id"
        ),
        "10"
    );
}

#[test]
fn json_server_db_json() {
    let (p, c) = round_trip(&corpus("jsonserver"));
    let text = fs::read_to_string(p.config()).unwrap();
    for (name, format) in [
        ("users", "array"),
        ("posts", "array"),
        ("comments", "array"),
        ("profile", "document"),
    ] {
        let t = coll(&c, name);
        assert_eq!(s(t, "format"), Some(format), "{name}");
        assert_eq!(s(t, "member"), Some(name));
    }
    assert!(
        c["collections"].get("tags").is_none(),
        "an array of strings is not a collection"
    );
    let comments = coll(&c, "comments");
    assert_eq!(s(comments, "key"), Some("id"));
    assert_eq!(
        s(&field(comments, &["postId"]), "references"),
        Some("posts")
    );
    // json-server deletes a post's comments with it: a project made of its db.json does too
    // (issue #18), and the comment says why.
    assert_eq!(
        s(&field(comments, &["postId"]), "on_delete"),
        Some("cascade")
    );
    assert!(
        text.contains("deleting a record of posts deletes the records whose postId names it, as json-server does with its db.json"),
        "{text}"
    );
    assert_eq!(
        field(comments, &["userId"]).get("references"),
        None,
        "one userId dangles"
    );
    assert!(
        text.contains("1 of 4 distinct values are not there"),
        "{text}"
    );
    assert_eq!(
        s(&field(coll(&c, "posts"), &["userId"]), "references"),
        Some("users")
    );
    assert_eq!(
        field(coll(&c, "users"), &["email"])
            .get("unique")
            .and_then(|v| v.as_bool()),
        Some(true)
    );
    assert!(
        text.contains("many-to-one"),
        "the repeated author objects are pointed out\n{text}"
    );
    assert_eq!(q1(&p.db(), "SELECT count(*) FROM comments"), "12");
}

#[test]
fn nested_arrays_become_child_tables_to_any_depth() {
    let (p, c) = round_trip(&corpus("nested"));
    let courses = coll(&c, "courses");
    assert_eq!(s(courses, "key"), Some("id"));
    assert_eq!(s(&field(courses, &["modules"]), "table"), Some("modules"));
    assert_eq!(
        s(&field(courses, &["modules", "lessons"]), "table"),
        Some("lessons")
    );
    assert_eq!(
        s(&field(courses, &["modules", "lessons", "steps"]), "table"),
        Some("steps")
    );
    assert_eq!(
        s(
            &field(courses, &["modules", "lessons", "steps", "hints"]),
            "table"
        ),
        Some("hints")
    );
    assert_eq!(
        s(&field(courses, &["modules", "lessons", "quiz"]), "type"),
        Some("object")
    );
    assert_eq!(
        s(
            &field(
                courses,
                &["modules", "lessons", "quiz", "questions", "options"]
            ),
            "table"
        ),
        Some("options")
    );
    let db = p.db();
    assert_eq!(q1(&db, "SELECT count(*) FROM steps"), "25");
    // Steps join back to their course through every level.
    let n = q1(
        &db,
        "SELECT count(*) FROM steps s JOIN lessons l ON s.lesson_id = l._id \
         JOIN modules m ON l.module_id = m._id JOIN courses c ON m.course_id = c.id WHERE c.id = 1",
    );
    assert_eq!(n, "10");
}

#[test]
fn objects_shared_across_records_become_an_entity_table_and_a_join_table() {
    let (p, c) = round_trip(&corpus("manytomany"));
    let text = fs::read_to_string(p.config()).unwrap();
    let movies = coll(&c, "movies");
    let cast = field(movies, &["cast"]);
    assert_eq!(s(&cast, "table"), Some("cast"));
    assert_eq!(s(&cast, "key"), Some("id"));
    assert_eq!(s(&cast, "join_table"), Some("movies_cast"));
    assert_eq!(s(&cast, "entity_column"), Some("cast_id"));
    assert_eq!(s(&cast, "parent_column"), Some("movie_id"));
    assert!(text.contains("many-to-many"), "{text}");
    assert!(
        text.contains("only 4 distinct, identical each time"),
        "{text}"
    );
    let genres = field(movies, &["genres"]);
    assert_eq!(s(&genres, "of"), Some("text"));
    assert_eq!(s(&genres, "table"), Some("genres"));
    let db = p.db();
    assert_eq!(
        q1(&db, "SELECT count(*) FROM \"cast\""),
        "4",
        "deduplicated"
    );
    assert_eq!(q1(&db, "SELECT count(*) FROM movies_cast"), "8");
    assert_eq!(
        q1(
            &db,
            "SELECT group_concat(m.title, '|') FROM movies m JOIN movies_cast j ON j.movie_id = m.id \
             JOIN \"cast\" c ON c.id = j.cast_id WHERE c.name = 'Bo Brecht' ORDER BY m.id"
        ),
        "First Light|Second Wind"
    );
}

#[test]
fn mixed_types_and_colliding_names() {
    let (p, c) = round_trip(&corpus("mixed"));
    let r = coll(&c, "records");
    assert_eq!(r.get("key"), None, "\"_id\" repeats: no key");
    assert_eq!(s(&field(r, &["_id"]), "column"), Some("_id_2"));
    assert_eq!(s(&field(r, &["code"]), "type"), Some("json"));
    assert_eq!(s(&field(r, &["payload"]), "type"), Some("json"));
    assert_eq!(s(&field(r, &["score"]), "type"), Some("real"));
    assert_eq!(s(&field(r, &["flag"]), "type"), Some("boolean"));
    assert_eq!(s(&field(r, &["nothing"]), "type"), Some("json"));
    assert_eq!(
        s(&field(r, &["when"]), "type"),
        Some("text"),
        "a date and a date-time: text"
    );
    assert_eq!(s(&field(r, &["name"]), "column"), Some("name_2"));
    assert_eq!(s(r, "extra_column"), Some("_extra_json"));
    assert_eq!(s(&field(r, &[""]), "column"), Some("field"));
    let cols = columns(&p.db(), "records");
    for col in [
        "_id",
        "_id_2",
        "Name",
        "name_2",
        "_extra",
        "_extra_json",
        "_meta",
        "_meta_v",
        "field",
    ] {
        assert!(cols.contains(&col.to_string()), "{col} not in {cols:?}");
    }
}

#[test]
fn numbers_stay_exact() {
    let (p, c) = round_trip(&corpus("numbers"));
    let m = coll(&c, "measurements");
    for (f, ty) in [
        ("reading", "real"),
        ("count", "json"),
        ("offset", "integer"),
        ("scale", "json"),
        ("tiny", "real"),
        ("exact", "json"),
    ] {
        assert_eq!(s(&field(m, &[f]), "type"), Some(ty), "{f}");
    }
    let db = p.db();
    assert_eq!(
        q1(&db, "SELECT count FROM measurements WHERE sensor = 'a'"),
        "12345678901234567890"
    );
    assert_eq!(
        q1(&db, "SELECT exact FROM measurements WHERE sensor = 'b'"),
        "9007199254740993"
    );
}

#[test]
fn unicode_keys_values_and_file_names() {
    let (p, c) = round_trip(&corpus("unicode"));
    let w = coll(&c, "wörterbuch");
    assert_eq!(s(&field(w, &["名前"]), "type"), Some("text"));
    assert_eq!(s(&field(w, &["say \"hi\""]), "type"), Some("text"));
    assert_eq!(
        q1(
            &p.db(),
            "SELECT \"名前\" FROM \"wörterbuch\" WHERE \"a.b\" = 1"
        ),
        "猫"
    );
}

#[test]
fn byte_order_mark() {
    let (_, c) = round_trip(&corpus("bom"));
    let n = coll(&c, "notes");
    assert_eq!(s(n, "format"), Some("array"));
    assert_eq!(s(n, "key"), Some("id"));
    assert_eq!(s(&field(n, &["created"]), "type"), Some("timestamp"));
}

#[test]
fn keyed_object_and_json_lines_referring_to_it() {
    let (p, c) = round_trip(&corpus("keyed"));
    let users = coll(&c, "users");
    assert_eq!(s(users, "format"), Some("object"));
    assert_eq!(
        field(users, &["email"])
            .get("unique")
            .and_then(|v| v.as_bool()),
        Some(true)
    );
    let orders = coll(&c, "orders");
    assert_eq!(s(orders, "format"), Some("jsonl"));
    assert_eq!(s(orders, "key"), Some("order_id"));
    assert_eq!(s(&field(orders, &["user_id"]), "references"), Some("users"));
    let status = field(orders, &["status"]);
    assert_eq!(status["enum"].as_array().unwrap().len(), 3);
    assert_eq!(s(&field(orders, &["items"]), "table"), Some("items"));
    let db = p.db();
    assert_eq!(
        q1(
            &db,
            "SELECT count(*) FROM orders JOIN users ON users._key = orders.user_id"
        ),
        "12"
    );
}

#[test]
fn folder_prompty_and_document() {
    let (_, c) = round_trip(&corpus("folder"));
    let notes = coll(&c, "notes");
    assert_eq!(s(notes, "format"), Some("folder"));
    assert_eq!(
        field(notes, &["slug"])
            .get("unique")
            .and_then(|v| v.as_bool()),
        Some(true)
    );
    let (_, c) = round_trip(&corpus("prompty"));
    assert_eq!(s(coll(&c, "prompts"), "format"), Some("prompty"));
    let (_, c) = round_trip(&corpus("document"));
    let st = coll(&c, "settings");
    assert_eq!(s(st, "format"), Some("document"));
    assert_eq!(s(&field(st, &["window"]), "type"), Some("object"));
    assert_eq!(s(&field(st, &["plugins"]), "table"), Some("plugins"));
}

#[test]
fn blog_events_deep_keyed_folders_and_series() {
    let (p, c) = round_trip(&corpus("blog"));
    let tag_ids = field(coll(&c, "posts"), &["tagIds"]);
    assert_eq!(
        s(&tag_ids, "references"),
        Some("tags"),
        "ids list → join table"
    );
    assert_eq!(
        q1(
            &p.db(),
            "SELECT count(*) FROM \"tagIds\" j JOIN tags t ON t.id = j.value"
        ),
        q1(&p.db(), "SELECT count(*) FROM \"tagIds\"")
    );
    let comments = coll(&c, "comments");
    assert_eq!(
        s(&field(comments, &["userId"]), "references"),
        Some("users")
    );

    let (_, c) = round_trip(&corpus("events"));
    let e = coll(&c, "events");
    assert_eq!(s(e, "format"), Some("jsonl"));
    assert_eq!(s(&field(e, &["id"]), "type"), Some("uuid"));
    assert_eq!(s(&field(e, &["at"]), "type"), Some("timestamp"));
    assert_eq!(field(e, &["type"])["enum"].as_array().unwrap().len(), 4);
    assert_eq!(field(e, &["amount"]).get("required"), None);

    let (p, c) = round_trip(&corpus("deep"));
    let skills = field(
        coll(&c, "orgs"),
        &["departments", "teams", "members", "skills"],
    );
    assert_eq!(s(&skills, "table"), Some("skills"));
    assert_eq!(q1(&p.db(), "SELECT count(*) FROM skills"), "32");

    let (_, c) = round_trip(&corpus("numkeys"));
    assert_eq!(s(coll(&c, "stock"), "format"), Some("object"));

    let (_, c) = round_trip(&corpus("perrecord"));
    let cu = coll(&c, "customers");
    assert_eq!(s(cu, "format"), Some("folder"));
    assert_eq!(s(cu, "key"), Some("customer_id"));
    assert_eq!(s(&field(cu, &["since"]), "type"), Some("date"));

    let (p, c) = round_trip(&corpus("series"));
    let cast = field(coll(&c, "series"), &["cast"]);
    assert_eq!(s(&cast, "join_table"), Some("series_cast"));
    assert_eq!(q1(&p.db(), "SELECT count(*) FROM \"cast\""), "6");
    assert_eq!(q1(&p.db(), "SELECT count(*) FROM series_cast"), "12");
}

// ---------------------------------------------------------------------------------------------
// The command line

#[test]
fn infer_prints_what_init_writes() {
    let (p, _) = inited(&corpus("keyed"));
    let written = fs::read_to_string(p.config()).unwrap();
    let r = p.jl_raw(&p.cwd, &["infer".into(), p.root.display().to_string()]);
    r.ok();
    assert_eq!(r.stdout, written);
    // Several paths: relative to the current folder.
    let r = p.jl_raw(
        &p.root,
        &["infer".into(), "users.json".into(), "orders.jsonl".into()],
    );
    r.ok()
        .stdout_has("source = \"users.json\"")
        .stdout_has("source = \"orders.jsonl\"");
}

#[test]
fn init_refuses_to_overwrite_without_force() {
    let (p, _) = inited(&corpus("bom"));
    p.write("jsonlift.toml", "# mine\n");
    init(&p).code(2).stderr_has("--force");
    assert_eq!(p.read("jsonlift.toml"), b"# mine\n");
    p.jl_raw(
        &p.cwd,
        &[
            "init".into(),
            "--force".into(),
            p.root.display().to_string(),
        ],
    )
    .ok();
    assert!(
        String::from_utf8(p.read("jsonlift.toml"))
            .unwrap()
            .contains("[collections.notes]")
    );
}

#[test]
fn init_defaults_to_the_current_folder() {
    let p = Project::empty();
    copy_data(&corpus("bom"), &p.root);
    p.jl_raw(&p.root, &["init".into()]).ok();
    assert!(p.config().is_file());
}

#[test]
fn a_folder_without_json_is_refused() {
    let p = Project::empty();
    p.write("README.md", "# nothing here\n");
    init(&p).code(1).stderr_has("no JSON found");
    assert!(!p.config().exists());
}

#[test]
fn a_file_that_does_not_parse_is_named_with_its_place() {
    let p = Project::empty();
    p.write("good.json", "[{\"a\": 1}]");
    p.write("data/bad.json", "[\n  {\"a\": 1},\n  {\"a\": 2,}\n]\n");
    let r = init(&p);
    r.code(1);
    let lines = r.problem_lines("data/bad.json");
    assert!(
        lines.iter().any(|l| l.starts_with("data/bad.json:3:")),
        "{r:?}"
    );
    assert!(!p.config().exists());
}

#[test]
fn a_broken_object_file_is_named_with_its_place() {
    let p = Project::empty();
    p.write("settings.json", "{\n  \"a\": 1,\n  \"b\" 2\n}\n");
    let r = init(&p);
    r.code(1).stderr_has("settings.json:3:7");
    assert!(!p.config().exists());
}

#[test]
fn records_that_are_not_objects_are_refused_with_their_path() {
    let p = Project::empty();
    p.write("items.json", "[\n  {\"a\": 1},\n  {\"a\": 2},\n  42\n]\n");
    let r = init(&p);
    r.code(1)
        .stderr_has("items.json:4:3: $[2]:")
        .stderr_has("not an object");
    assert!(!p.config().exists());
}

#[test]
fn a_scalar_file_is_refused() {
    let p = Project::empty();
    p.write("n.json", "42\n");
    init(&p).code(1).stderr_has("n.json:1:1");
    assert!(!p.config().exists());
}

#[test]
fn a_bad_file_in_a_folder_of_records_is_named() {
    let p = Project::empty();
    p.write("people/a.json", "{\"name\": \"a\", \"age\": 1}\n");
    p.write("people/b.json", "{\"name\": \"b\", \"age\": 2}\n");
    p.write("people/c.json", "{\"name\": \"c\", \"age\": }\n");
    let r = init(&p);
    r.code(1).stderr_has("people/c.json:1:");
    assert!(!p.config().exists());
}

#[test]
fn the_written_file_explains_itself() {
    let (p, _) = inited(&corpus("keyed"));
    let text = fs::read_to_string(p.config()).unwrap();
    for needle in [
        "records keyed by the object key",
        "\"order_id\" is in 12/12 records, never null, all distinct → primary key",
        "3 distinct values over 12 values → enum",
        "all 3 distinct values are keys of users._key → foreign key",
        "docs/infer.md",
    ] {
        assert!(text.contains(needle), "{needle:?} not in\n{text}");
    }
}

#[test]
fn json_lines_with_a_record_of_another_shape_are_refused() {
    let p = Project::empty();
    p.write("log.jsonl", "{\"a\": 1}\n{\"a\": 2}\n[3]\n{\"a\": \n");
    let r = init(&p);
    r.code(1)
        .stderr_has("log.jsonl:3:1: $[2]: record is not an object (found array)")
        .stderr_has("log.jsonl:4:");
    assert!(!p.config().exists());
    let r = p.jl_raw(&p.root, &["infer".into(), "log.jsonl".into()]);
    r.code(1);
    assert_eq!(r.stdout, "", "nothing printed on bad input");
}

/// At an application's root, `init .` leaves out tools' JSON files (issue #16: package.json,
/// package-lock.json and tsconfig.json became collections), and `--exclude` more; the project
/// file's comment lists what was left out and why.
#[test]
fn init_at_an_apps_root_leaves_out_tool_files_and_what_exclude_names() {
    let p = Project::empty();
    p.write(
        "package.json",
        r#"{"name": "app", "version": "1.0.0", "dependencies": {}}"#,
    );
    p.write(
        "package-lock.json",
        r#"{"name": "app", "lockfileVersion": 3, "packages": {}}"#,
    );
    p.write("tsconfig.json", r#"{"compilerOptions": {"strict": true}}"#);
    p.write(
        "data/courses.json",
        r#"[{"id": "a", "title": "A"}, {"id": "b", "title": "B"}]"#,
    );
    p.write("fixtures/sample.json", r#"[{"x": 1}]"#);
    let r = p.jl_raw(
        &p.cwd,
        &[
            "init".into(),
            p.root.display().to_string(),
            "--exclude".into(),
            "fixtures".into(),
        ],
    );
    r.ok();
    let text = String::from_utf8(p.read("jsonlift.toml")).unwrap();
    let config: toml::Table = toml::from_str(&text).unwrap();
    let collections: Vec<&String> = config["collections"].as_table().unwrap().keys().collect();
    assert_eq!(collections, ["courses"], "{text}");
    for (path, why) in [
        ("package.json", "a tool's configuration"),
        ("package-lock.json", "a tool's configuration"),
        ("tsconfig.json", "a tool's configuration"),
        ("fixtures", "--exclude"),
    ] {
        assert!(
            text.lines()
                .any(|l| l.starts_with('#') && l.contains(path) && l.contains(why)),
            "the comment should list {path} ({why}):\n{text}"
        );
    }
    p.jl(&["migrate", "-q"]).ok();
}

/// A member whose name is no identifier (pycountry's `{"3166-2": [...]}` in iso3166-2.json)
/// names its collection after the file (issue #16: it became `t_3166_2`), and the comment says
/// so; among several such members, the file's name and the member's.
#[test]
fn a_member_named_like_no_identifier_is_named_after_its_file() {
    let p = Project::empty();
    p.write(
        "iso3166-2.json",
        r#"{"3166-2": [{"code": "AD-02", "name": "Canillo"}, {"code": "AD-03", "name": "Encamp"}]}"#,
    );
    p.write(
        "codes.json",
        r#"{"639-1": [{"a": "de"}, {"a": "en"}], "639-3": [{"a": "deu"}, {"a": "eng"}]}"#,
    );
    init(&p).ok();
    let text = String::from_utf8(p.read("jsonlift.toml")).unwrap();
    let config: toml::Table = toml::from_str(&text).unwrap();
    let mut names: Vec<&String> = config["collections"].as_table().unwrap().keys().collect();
    names.sort();
    assert_eq!(names, ["codes_639_1", "codes_639_3", "iso3166_2"], "{text}");
    assert!(
        text.contains("named after the file, as the member's name is no identifier"),
        "{text}"
    );
    p.jl(&["migrate", "-q"]).ok();
}

/// `infer` on a SQLite file reads its tables (issue #17; it said "the file holds a single scalar
/// value" before issue #16), and on a database jsonlift made says what that is.
#[test]
fn infer_on_a_sqlite_file_reads_its_tables_or_says_what_it_is() {
    let p = Project::new("database = \"made.db\"\n[collections.notes]\nsource = \"notes.json\"\n");
    let db = p.path("legacy.db");
    rusqlite::Connection::open(&db)
        .unwrap()
        .execute_batch(
            "CREATE TABLE media (id INTEGER PRIMARY KEY, title TEXT); CREATE TABLE empty (x TEXT)",
        )
        .unwrap();
    let r = p.jl_raw(&p.cwd, &["infer".into(), db.display().to_string()]);
    r.ok()
        .stdout_has("[collections.media]\n")
        .stdout_has("format = \"sqlite\"\nsource_table = \"media\"")
        .stdout_has("source_table = \"empty\"");
    p.write("notes.json", "[{\"id\": 1}]");
    p.jl(&["migrate"]).ok();
    let r = p.jl_raw(
        &p.cwd,
        &["infer".into(), p.path("made.db").display().to_string()],
    );
    r.failed()
        .stderr_has("made.db: this is a database jsonlift made")
        .stderr_has("jsonlift copy");
}

/// Issue #17, seed 002: `thumbnails.media_id` names no collection (the media are in
/// `media_metadata`), so the reference is found by its values: every one is a key of
/// media_metadata, and of shows too, where the shared word "media" decides. A field whose values
/// two collections hold alike, with no word to tell them apart, gets no foreign key.
#[test]
fn a_reference_whose_name_names_no_collection_is_found_by_its_values() {
    let mut p = Project::empty();
    p.write(
        "media_metadata.json",
        r#"[{"id": 1, "title": "Dark"}, {"id": 2, "title": "Das Boot"}, {"id": 5, "title": "Babylon Berlin"}]"#,
    );
    p.write(
        "shows.json",
        r#"[{"id": 1, "name": "a"}, {"id": 2, "name": "b"}, {"id": 5, "name": "c"}, {"id": 7, "name": "d"}]"#,
    );
    p.write(
        "thumbnails.json",
        r#"[{"id": 10, "media_id": 1, "url": "/t/1.jpg"}, {"id": 11, "media_id": 2, "url": "/t/2.jpg"}, {"id": 12, "media_id": 5, "url": "/t/5.jpg"}, {"id": 13, "media_id": 5, "url": "/t/6.jpg"}]"#,
    );
    p.write(
        "orders.json",
        r#"[{"id": 100, "vendor_id": 1}, {"id": 101, "vendor_id": 2}]"#,
    );
    init(&p).ok();
    let text = fs::read_to_string(p.config()).unwrap();
    let c: toml::Table = text.parse().unwrap();
    for (collection, name, target) in [
        ("thumbnails", "media_id", Some("media_metadata")),
        ("orders", "vendor_id", None),
    ] {
        let f = field(coll(&c, collection), &[name]);
        assert_eq!(s(&f, "references"), target, "{collection}.{name}\n{text}");
    }
    assert!(
        text.contains("# media_id: in 4/4 records, never null → required; all 3 distinct values are keys of media_metadata.id (no collection is named media; the values match media_metadata and 1 other collection, and media_metadata shares most words with \"media\") → foreign key, indexed"),
        "{text}"
    );
    if let Some(db) = c.get("database").and_then(|d| d.as_str()) {
        p.db_rel = db.to_string();
    }
    p.migrate_ok();
    // The foreign key holds in the database.
    assert_eq!(
        q1(
            &p.db(),
            "SELECT count(*) FROM thumbnails JOIN media_metadata m ON m.id = thumbnails.media_id"
        ),
        "4"
    );
    assert_eq!(
        q1(
            &p.db(),
            "SELECT count(*) FROM pragma_foreign_key_list('thumbnails') WHERE \"table\" = 'media_metadata'"
        ),
        "1"
    );
}

/// Candidate keys (issue #16): files shaped like pycountry's iso3166-1/iso3166-2 and npm's
/// world-countries have no `id`. The conventional key names become primary keys (`alpha_2`,
/// `code`, `cca2`), the other distinct short fields UNIQUE, and references are found by their
/// values, self-references included (`parent` → `code`, `borders[]` → `cca3`); each comment
/// says why. The data migrates, the foreign keys hold, and export gives back every byte (CRLF
/// included).
#[test]
fn candidate_keys_unique_fields_and_references_to_them() {
    let (p, c) = round_trip(&corpus("countries"));
    let text = String::from_utf8(p.read("jsonlift.toml")).unwrap();
    let unique = |coll: &toml::Table, f: &str| {
        field(coll, &[f]).get("unique").and_then(|v| v.as_bool()) == Some(true)
    };

    let c1 = coll(&c, "iso3166_1");
    assert_eq!(s(c1, "key"), Some("alpha_2"), "{text}");
    for f in ["alpha_3", "numeric", "name", "flag"] {
        assert!(unique(c1, f), "{f} should be unique\n{text}");
    }
    assert!(!unique(c1, "official_name"), "not in every record\n{text}");
    assert!(text.contains("\"alpha_2\" is in 12/12 records, never null, all distinct, a conventional key name → primary key (preferred to \"alpha_3\""), "{text}");

    let c2 = coll(&c, "iso3166_2");
    assert_eq!(s(c2, "key"), Some("code"), "{text}");
    assert_eq!(
        s(&field(c2, &["parent"]), "references"),
        Some("iso3166_2"),
        "{text}"
    );
    assert!(
        text.contains(
            "are values of the candidate key iso3166_2.code, this collection's own → foreign key"
        ),
        "{text}"
    );
    assert!(!unique(c2, "type"), "{text}");

    let w = coll(&c, "countries");
    assert_eq!(s(w, "key"), Some("cca2"), "{text}");
    for f in ["cca3", "ccn3", "cioc"] {
        assert!(unique(w, f), "{f} should be unique\n{text}");
    }
    let borders = field(w, &["borders"]);
    assert_eq!(s(&borders, "references"), Some("countries.cca3"), "{text}");

    // The database holds them as keys: a subdivision's parent and a border are found by join.
    let db = p.db();
    assert_eq!(
        q1(
            &db,
            "SELECT p.name FROM iso3166_2 c JOIN iso3166_2 p ON p.code = c.parent WHERE c.code = 'GB-LND'"
        ),
        "England"
    );
    assert_eq!(
        q1(
            &db,
            "SELECT count(*) FROM borders b JOIN countries c ON c.cca3 = b.value"
        ),
        "24"
    );
    assert!(q(&db, "PRAGMA foreign_key_check").is_empty());
}

/// Distinct values alone make no UNIQUE in a handful of records (names may repeat later), nor
/// a primary key of a field whose name does not say key; integers are never matched to keys by
/// value.
#[test]
fn few_records_and_plain_names_make_no_candidate_key() {
    let p = Project::empty();
    p.write(
        "people.json",
        r#"[{"name": "Ann", "age": 31, "code": "a"}, {"name": "Ben", "age": 42, "code": "b"}, {"name": "Cy", "age": 3, "code": "c"}]"#,
    );
    p.write(
        "rooms.json",
        r#"[{"label": "Hall", "size": 3}, {"label": "Den", "size": 31}, {"label": "Loft", "size": 42}]"#,
    );
    init(&p).ok();
    let text = String::from_utf8(p.read("jsonlift.toml")).unwrap();
    let c: toml::Table = toml::from_str(&text).unwrap();
    let people = coll(&c, "people");
    assert_eq!(s(people, "key"), Some("code"), "{text}");
    assert_eq!(field(people, &["name"]).get("unique"), None, "{text}");
    let rooms = coll(&c, "rooms");
    assert_eq!(s(rooms, "key"), None, "{text}");
    assert_eq!(field(rooms, &["size"]).get("references"), None, "{text}");
    p.jl(&["migrate", "-q"]).ok();
}
