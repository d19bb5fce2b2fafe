//! Reader/writer tests: byte-identical round trips of files as typical writers produce them,
//! and exact positions of errors.

use std::path::{Path, PathBuf};

use super::*;

fn testdata(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("src/source/testdata")
        .join(name)
}

fn member(name: Option<&str>, format: Format) -> MemberSpec {
    MemberSpec {
        name: name.map(str::to_string),
        format,
        pattern: "*.json".into(),
        recursive: false,
        body_field: "body".into(),
        sqlite: None,
    }
}

fn spec_for(path: PathBuf, members: Vec<MemberSpec>) -> SourceSpec {
    let display = path.file_name().unwrap().to_string_lossy().into_owned();
    SourceSpec {
        path,
        display,
        members,
        limits: Limits::default(),
        skip: Vec::new(),
    }
}

fn single(path: PathBuf, format: Format) -> SourceSpec {
    spec_for(path, vec![member(None, format)])
}

/// Reads everything: the records, the problems, and the layout.
fn read_all(spec: &SourceSpec) -> (Vec<Record>, Vec<Problem>, Layout) {
    let mut reader = open(spec).unwrap_or_else(|p| panic!("open: {p}"));
    let mut records = Vec::new();
    let mut problems = Vec::new();
    while let Some(r) = reader.next_record() {
        match r {
            Ok(r) => records.push(r),
            Err(p) => problems.push(p),
        }
    }
    assert_eq!(reader.bytes_read(), reader.total_bytes());
    let layout = reader.finish().unwrap();
    (records, problems, layout)
}

fn write_back(spec: &SourceSpec, layout: &Layout, records: &[Record], out: &Path) {
    let mut feed = |m: usize, emit: &mut crate::source::Emit| {
        for r in records.iter().filter(|r| r.member == m) {
            emit(r.key.as_deref(), &r.value, &[])?;
        }
        Ok(())
    };
    write_source(spec, layout, out, &mut feed).unwrap();
}

/// Reads a sample and writes it back: the bytes must be identical.
fn round_trip(spec: &SourceSpec) -> (Vec<Record>, Layout) {
    let (records, problems, layout) = read_all(spec);
    assert!(problems.is_empty(), "{problems:?}");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.json");
    write_back(spec, &layout, &records, &out);
    let want = std::fs::read(&spec.path).unwrap();
    let got = std::fs::read(&out).unwrap();
    assert!(
        want == got,
        "{}: layout {layout:?}\n--- want\n{}\n--- got\n{}",
        spec.display,
        String::from_utf8_lossy(&want),
        String::from_utf8_lossy(&got)
    );
    // Only the output is left in the folder: the temporary file was renamed.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    (records, layout)
}

fn file_with(dir: &tempfile::TempDir, name: &str, text: &[u8]) -> PathBuf {
    let p = dir.path().join(name);
    std::fs::write(&p, text).unwrap();
    p
}

/// The problems reading `text` as `format`, as `file:line:col: path: message` strings (an
/// `open` failure is the only problem).
fn problems(format: Format, text: &[u8]) -> Vec<String> {
    problems_of(vec![member(None, format)], text)
}

fn problems_of(members: Vec<MemberSpec>, text: &[u8]) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    let spec = spec_for(file_with(&dir, "f.json", text), members);
    let mut reader = match open(&spec) {
        Ok(r) => r,
        Err(p) => return vec![p.to_string()],
    };
    let mut out = Vec::new();
    while let Some(r) = reader.next_record() {
        if let Err(p) = r {
            out.push(p.to_string());
        }
    }
    out
}

#[test]
fn array_files_round_trip() {
    let (records, layout) = round_trip(&single(testdata("array_node.json"), Format::Array));
    assert_eq!(records.len(), 3);
    assert_eq!(layout.style.indent.as_deref(), Some("  "));
    assert!(!layout.style.trailing_newline && !layout.bom);
    let r = &records[1];
    assert_eq!(
        (r.origin.path.to_string(), r.origin.line, r.origin.col),
        ("$[1]".into(), 13, 3)
    );
    let text = std::fs::read(testdata("array_node.json")).unwrap();
    let (o, l) = (r.origin.offset as usize, r.origin.len as usize);
    assert_eq!(crate::json::parse(&text[o..o + l], 128).unwrap(), r.value);

    let (_, layout) = round_trip(&single(
        testdata("array_node_compact_nl.json"),
        Format::Array,
    ));
    assert_eq!(
        (layout.style.indent, layout.style.trailing_newline),
        (None, true)
    );
    let (records, layout) = round_trip(&single(
        testdata("array_py_indent4_bom.json"),
        Format::Array,
    ));
    assert!(layout.bom);
    assert_eq!(records[0].origin.offset, 3 + 6);
    assert_eq!((records[0].origin.line, records[0].origin.col), (2, 5));
}

#[test]
fn object_files_round_trip() {
    let (records, _) = round_trip(&single(testdata("object_node.json"), Format::Object));
    let keys: Vec<_> = records.iter().map(|r| r.key.clone().unwrap()).collect();
    // JavaScript puts integer-like keys first; the file is read in its own order.
    assert_eq!(keys, ["2", "u1", "odd key"]);
    let paths: Vec<_> = records.iter().map(|r| r.origin.path.to_string()).collect();
    assert_eq!(paths, ["$[\"2\"]", "$.u1", "$[\"odd key\"]"]);
}

#[test]
fn document_files_round_trip() {
    let (records, layout) = round_trip(&single(testdata("document_node.json"), Format::Document));
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].origin.path.to_string(), "$");
    assert_eq!(layout.style.indent.as_deref(), Some("\t"));
    let (records, layout) = round_trip(&single(testdata("document_py.json"), Format::Document));
    assert_eq!(
        records[0].value.get("big").unwrap(),
        &Value::Number(crate::json::Number::from_text_unchecked(
            "12345678901234567890"
        ))
    );
    assert_eq!(
        (layout.style.colon.as_str(), layout.style.comma.as_str()),
        (": ", ", ")
    );
}

#[test]
fn jsonl_files_round_trip() {
    let (records, _) = round_trip(&single(testdata("jsonl_node.jsonl"), Format::Jsonl));
    assert_eq!(records.len(), 3);
    assert_eq!(
        (
            records[2].origin.line,
            records[2].origin.col,
            records[2].origin.path.to_string()
        ),
        (3, 1, "$[2]".into())
    );
    let (_, layout) = round_trip(&single(testdata("jsonl_py.jsonl"), Format::Jsonl));
    assert_eq!(
        (layout.style.colon.as_str(), layout.style.comma.as_str()),
        (": ", ", ")
    );
}

#[test]
fn jsonl_blank_lines_and_crlf() {
    let dir = tempfile::tempdir().unwrap();
    let text = b"{\"a\": 1}\r\n\r\n   \n  {\"b\": [2]}  \r\n{\"c\": 3}";
    let spec = single(file_with(&dir, "x.jsonl", text), Format::Jsonl);
    let (records, probs, layout) = read_all(&spec);
    assert!(probs.is_empty());
    let got: Vec<_> = records
        .iter()
        .map(|r| (r.origin.line, r.origin.col, r.origin.offset, r.origin.len))
        .collect();
    assert_eq!(got, [(1, 1, 0, 8), (4, 3, 18, 10), (5, 1, 32, 8)]);
    assert!(!layout.style.trailing_newline);
    assert_eq!(
        problems_of(
            vec![member(None, Format::Jsonl)],
            b"{\"a\": 1}\n\n{\"b\": tru}\n{}"
        ),
        ["f.json:3:7: $[1].b: invalid literal: expected 'true'"]
    );
    assert_eq!(
        problems(Format::Jsonl, b"{}\n[1]\n"),
        ["f.json:2:1: $[1]: record is not an object (found array)"]
    );
    // An empty file is an empty collection.
    assert!(problems(Format::Jsonl, b"").is_empty());
}

#[test]
fn json_server_db_round_trips() {
    let spec = spec_for(
        testdata("db_node.json"),
        vec![
            member(Some("posts"), Format::Array),
            member(Some("comments"), Format::Array),
            member(Some("profile"), Format::Document),
        ],
    );
    let (records, layout) = round_trip(&spec);
    assert_eq!(records.iter().filter(|r| r.member == 0).count(), 3);
    assert_eq!(records.iter().filter(|r| r.member == 1).count(), 2);
    let profile = records.iter().find(|r| r.member == 2).unwrap();
    assert_eq!(profile.origin.path.to_string(), "$.profile");
    assert_eq!(records[1].origin.path.to_string(), "$.posts[1]");
    let keys: Vec<_> = layout
        .members
        .iter()
        .map(|t| (t.key.as_str(), t.unmapped.as_deref()))
        .collect();
    assert_eq!(
        keys,
        [
            ("posts", None),
            ("comments", None),
            ("profile", None),
            ("version", Some("3"))
        ]
    );

    // Members no collection maps are kept and re-emitted in place, in the file's style.
    let spec = spec_for(
        testdata("db_node.json"),
        vec![member(Some("comments"), Format::Array)],
    );
    let (_, layout) = round_trip(&spec);
    assert!(
        layout.members[0]
            .unmapped
            .as_deref()
            .unwrap()
            .starts_with("[\n    {\n      \"id\": 1,")
    );
}

#[test]
fn members_missing_from_the_file_are_appended_when_writing_only_if_they_have_records() {
    let dir = tempfile::tempdir().unwrap();
    let spec = spec_for(
        file_with(
            &dir,
            "db.json",
            b"{\n  \"posts\": [\n    {\n      \"id\": 1\n    }\n  ],\n  \"x\": {\"k\": [1,2]}\n}\n",
        ),
        vec![
            member(Some("posts"), Format::Array),
            member(Some("tags"), Format::Array),
            member(Some("meta"), Format::Document),
        ],
    );
    let (records, probs, layout) = read_all(&spec);
    assert!(probs.is_empty());
    assert_eq!(records.len(), 1);
    // Empty, they stay absent: a plain round trip adds nothing.
    let out = dir.path().join("out.json");
    write_back(&spec, &layout, &records, &out);
    assert_eq!(
        std::fs::read_to_string(&out).unwrap(),
        "{\n  \"posts\": [\n    {\n      \"id\": 1\n    }\n  ],\n  \"x\": {\n    \"k\": [\n      1,\n      2\n    ]\n  }\n}\n"
    );
    // With records (written to the database since), they are appended.
    let tag = crate::json::parse(b"{\"name\": \"rust\"}", 8).unwrap();
    let mut feed = |m: usize, emit: &mut crate::source::Emit| {
        for r in records.iter().filter(|r| r.member == m) {
            emit(r.key.as_deref(), &r.value, &[])?;
        }
        if m == 1 {
            emit(None, &tag, &[])?;
        }
        Ok(())
    };
    write_source(&spec, &layout, &out, &mut feed).unwrap();
    assert_eq!(
        std::fs::read_to_string(out).unwrap(),
        "{\n  \"posts\": [\n    {\n      \"id\": 1\n    }\n  ],\n  \"x\": {\n    \"k\": [\n      1,\n      2\n    ]\n  },\n  \"tags\": [\n    {\n      \"name\": \"rust\"\n    }\n  ]\n}\n"
    );
}

#[test]
fn tinydb_round_trips() {
    let spec = spec_for(
        testdata("tinydb.json"),
        vec![
            member(Some("_default"), Format::Tinydb),
            member(Some("users"), Format::Tinydb),
            member(Some("empty"), Format::Tinydb),
        ],
    );
    let (records, layout) = round_trip(&spec);
    assert!(layout.style.ascii);
    let ids: Vec<_> = records
        .iter()
        .map(|r| (r.member, r.key.clone().unwrap(), r.origin.path.to_string()))
        .collect();
    assert_eq!(
        ids,
        [
            (0, "1".into(), "$._default[\"1\"]".into()),
            (0, "2".into(), "$._default[\"2\"]".into()),
            (0, "10".into(), "$._default[\"10\"]".into()),
            (1, "1".into(), "$.users[\"1\"]".into())
        ]
    );
    assert_eq!(records[0].value.get("name").unwrap().as_str(), Some("Zoë"));
}

#[test]
fn tinydb_ascii_by_default() {
    // An all-ASCII TinyDB file says nothing about ensure_ascii: TinyDB's default is assumed.
    let dir = tempfile::tempdir().unwrap();
    let spec = spec_for(
        file_with(&dir, "db.json", br#"{"_default": {"1": {"a": "b"}}}"#),
        vec![member(Some("_default"), Format::Tinydb)],
    );
    let (mut records, _, layout) = read_all(&spec);
    assert!(layout.style.ascii);
    records[0].value = Value::Object(vec![("a".into(), Value::String("é".into()))]);
    let out = dir.path().join("out.json");
    write_back(&spec, &layout, &records, &out);
    assert_eq!(
        std::fs::read_to_string(out).unwrap(),
        r#"{"_default": {"1": {"a": "\u00e9"}}}"#
    );
}

#[test]
fn tinydb_id_errors() {
    let m = || vec![member(Some("_default"), Format::Tinydb)];
    assert_eq!(
        problems_of(
            m(),
            br#"{"_default": {"1": {}, "x": {}, "-2": {}, "01": {}, "1": {}, "3": []}}"#
        ),
        [
            r#"f.json:1:24: $._default.x: TinyDB document id "x" is not a non-negative integer"#,
            r#"f.json:1:33: $._default["-2"]: TinyDB document id "-2" is not a non-negative integer"#,
            r#"f.json:1:43: $._default["01"]: TinyDB document id "01" is not a non-negative integer"#,
            r#"f.json:1:53: $._default["1"]: duplicate TinyDB document id "1""#,
            r#"f.json:1:67: $._default["3"]: TinyDB document is not an object (found array)"#,
        ]
    );
}

#[test]
fn structural_errors() {
    assert_eq!(
        problems(Format::Array, b""),
        ["f.json:1:1: $: empty file: expected a JSON array"]
    );
    assert_eq!(
        problems(Format::Array, b" \n "),
        ["f.json:2:2: $: empty file: expected a JSON array"]
    );
    assert_eq!(
        problems(Format::Array, b"{\"a\": 1}"),
        ["f.json:1:1: $: expected a JSON array, found '{'"]
    );
    assert_eq!(
        problems(Format::Document, b"[1]"),
        ["f.json:1:1: $: expected a JSON object, found '['"]
    );
    assert_eq!(
        problems(Format::Object, b"\n\n  7"),
        ["f.json:3:3: $: expected a JSON object, found '7'"]
    );
    assert_eq!(
        problems(Format::Document, b""),
        ["f.json:1:1: $: empty file: expected a JSON object"]
    );
    assert_eq!(
        problems(Format::Array, b"[{}, 1, \"x\", {}]"),
        [
            "f.json:1:6: $[1]: record is not an object (found number)",
            "f.json:1:9: $[2]: record is not an object (found string)"
        ]
    );
    assert_eq!(
        problems(Format::Object, b"{\"a\": {}, \"b\": null}"),
        ["f.json:1:16: $.b: record is not an object (found null)"]
    );
    assert_eq!(
        problems(Format::Object, b"{\"a\": {}, \"a\": {}}"),
        ["f.json:1:11: $.a: duplicate key \"a\""]
    );
    assert_eq!(
        problems(Format::Array, b"[{}, 1x]"),
        ["f.json:1:7: $[1]: unexpected 'x' after the value"]
    );
    assert_eq!(
        problems(Format::Array, b"[{}] x"),
        ["f.json:1:6: $: trailing characters after the JSON value"]
    );
    assert_eq!(
        problems(Format::Document, b"{}\n{}"),
        ["f.json:2:1: $: trailing characters after the JSON value"]
    );
    assert_eq!(
        problems(Format::Array, b"[{},\n{},]"),
        ["f.json:2:3: $: trailing comma before ']'"]
    );
}

#[test]
fn truncated_array_reports_the_end() {
    let text = b"[\n  {\n    \"id\": 1\n  },\n  {\n    \"id\": 2,\n    \"tags\": [\"a\"";
    assert_eq!(
        problems(Format::Array, text),
        ["f.json:7:17: $[1]: unexpected end of input inside an array"]
    );
    let text = b"[\n  {\"id\": 1}\n";
    assert_eq!(
        problems(Format::Array, text),
        ["f.json:3:1: $: unexpected end of input, expected ',' or ']' after array element"]
    );
    // Records before the break are still delivered.
    let dir = tempfile::tempdir().unwrap();
    let spec = single(
        file_with(&dir, "t.json", b"[{\"a\": 1}, {\"b\": "),
        Format::Array,
    );
    let mut reader = open(&spec).unwrap();
    assert!(reader.next_record().unwrap().is_ok());
    assert!(reader.next_record().unwrap().is_err());
    assert!(reader.next_record().is_none());
}

#[test]
fn errors_inside_records_point_into_the_file() {
    let text =
        "[\n  {\"ok\": true},\n  {\n    \"name\": \"é\",\n    \"x\": [1, 2,]\n  }\n]".as_bytes();
    assert_eq!(
        problems(Format::Array, text),
        ["f.json:5:15: $[1].x[2]: trailing comma before ']'"]
    );
    let text = "{\"users\": [{\"n\": \"ü\\q\"}]}".as_bytes();
    assert_eq!(
        problems_of(vec![member(Some("users"), Format::Array)], text),
        ["f.json:1:20: $.users[0].n: invalid escape '\\q' in string"]
    );
    assert_eq!(
        problems(Format::Array, b"[{\"a\": 1, \"a\": 2}]"),
        ["f.json:1:11: $[0].a: duplicate key \"a\""]
    );
    assert_eq!(
        problems(Format::Array, b"[{\"a\": \"\xFF\"}]"),
        ["f.json:1:9: $[0].a: invalid UTF-8"]
    );
}

#[test]
fn deep_nesting_is_an_error_not_a_crash() {
    let deep = vec![b'['; 100_000];
    assert_eq!(
        problems(Format::Array, &deep),
        ["f.json:1:129: $[0]: nesting deeper than 128 levels"]
    );
    let mut closed = vec![b'['; 100_000];
    closed.extend(vec![b']'; 100_000]);
    assert_eq!(
        problems(Format::Array, &closed),
        ["f.json:1:129: $[0]: nesting deeper than 128 levels"]
    );
    let mut doc = b"{\"a\":".to_vec();
    doc.extend(vec![b'['; 100_000]);
    assert_eq!(
        problems(Format::Document, &doc),
        ["f.json:1:133: $: nesting deeper than 128 levels"]
    );
}

#[test]
fn members_errors() {
    let m = || {
        vec![
            member(Some("posts"), Format::Array),
            member(Some("profile"), Format::Document),
        ]
    };
    assert_eq!(
        problems_of(
            m(),
            b"{\"posts\": {\"a\": 1}, \"profile\": [], \"posts\": []}"
        ),
        [
            "f.json:1:11: $.posts: member \"posts\" should be an array (format array), found an object",
            "f.json:1:32: $.profile: member \"profile\" should be an object (format document), found an array",
            "f.json:1:36: $.posts: duplicate key \"posts\"",
        ]
    );
    assert_eq!(
        problems_of(m(), b"[]"),
        ["f.json:1:1: $: expected a JSON object holding the collections, found '['"]
    );
    assert_eq!(
        problems_of(m(), b"{\"posts\": [{}], \"x\": [1,]}"),
        ["f.json:1:24: $.x[1]: trailing comma before ']'"]
    );
    assert_eq!(
        problems_of(m(), b"{\"posts\": [{}]} []"),
        ["f.json:1:17: $: trailing characters after the JSON value"]
    );
    assert_eq!(
        problems_of(m(), b"{\"posts\": [{}]"),
        ["f.json:1:15: $: unexpected end of input, expected ',' or '}' after object member"]
    );
}

#[test]
fn open_checks_the_spec() {
    let dir = tempfile::tempdir().unwrap();
    let p = file_with(&dir, "f.json", b"{}");
    let bad = spec_for(
        p.clone(),
        vec![
            member(Some("a"), Format::Array),
            member(None, Format::Array),
        ],
    );
    assert!(open(&bad).is_err());
    let bad = spec_for(p.clone(), vec![member(Some("a"), Format::Jsonl)]);
    assert!(open(&bad).is_err());
    let missing = single(dir.path().join("nope.json"), Format::Array);
    assert!(
        open(&missing)
            .err()
            .unwrap()
            .message
            .starts_with("cannot open the file")
    );
}

#[test]
fn guesses_formats() {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(
        guess_format(&file_with(&dir, "a.json", b"\xEF\xBB\xBF \n[1]")).unwrap(),
        Format::Array
    );
    assert_eq!(
        guess_format(&file_with(&dir, "b.json", b"  {}")).unwrap(),
        Format::Document
    );
    assert_eq!(
        guess_format(&file_with(&dir, "c.jsonl", b"{}")).unwrap(),
        Format::Jsonl
    );
    assert_eq!(
        guess_format(&file_with(&dir, "c.NDJSON", b"{}")).unwrap(),
        Format::Jsonl
    );
    assert!(
        guess_format(&file_with(&dir, "d.json", b""))
            .unwrap_err()
            .message
            .starts_with("empty file")
    );
    assert_eq!(
        guess_format(&file_with(&dir, "e.json", b" x"))
            .unwrap_err()
            .message,
        "cannot guess the format: the file starts with 'x', not '[' or '{' (set `format`)"
    );
    std::fs::create_dir(dir.path().join("f")).unwrap();
    assert_eq!(guess_format(&dir.path().join("f")).unwrap(), Format::Folder);
    std::fs::write(dir.path().join("f/x.prompty"), "---\n---\n").unwrap();
    assert_eq!(
        guess_format(&dir.path().join("f")).unwrap(),
        Format::Prompty
    );
}

#[test]
fn large_files_stream_across_buffers() {
    // Several times the scanner's buffer, with records straddling every boundary.
    let dir = tempfile::tempdir().unwrap();
    let mut text = String::from("[\n");
    let n = 20_000;
    for i in 0..n {
        if i > 0 {
            text.push_str(",\n");
        }
        text.push_str(&format!(
            "  {{\"id\": {i}, \"s\": \"é\\\"{}\", \"v\": [{i}.5, {{}}]}}",
            "x".repeat(i % 50)
        ));
    }
    text.push_str("\n]\n");
    assert!(text.len() > 4 * crate::json::scan::BUF_SIZE);
    let spec = single(file_with(&dir, "big.json", text.as_bytes()), Format::Array);
    let (records, probs, _) = read_all(&spec);
    assert!(probs.is_empty());
    assert_eq!(records.len(), n);
    for (i, r) in records.iter().enumerate().step_by(997) {
        assert_eq!(r.origin.line, i as u64 + 2);
        assert_eq!(r.origin.col, 3);
        let (o, l) = (r.origin.offset as usize, r.origin.len as usize);
        assert_eq!(
            crate::json::parse(&text.as_bytes()[o..o + l], 128).unwrap(),
            r.value
        );
    }
    let out = dir.path().join("out.json");
    write_back(&spec, &read_all(&spec).2, &records, &out);
    let back = std::fs::read(&out).unwrap();
    assert_eq!(
        crate::json::parse(&back, 128).unwrap(),
        crate::json::parse(text.as_bytes(), 128).unwrap()
    );
}

#[test]
fn ascii_evidence_past_the_head() {
    // Non-ASCII text first appears after the 64 KiB the style is detected from.
    let dir = tempfile::tempdir().unwrap();
    let filler = "x".repeat(100);
    let mut recs: Vec<String> = (0..800)
        .map(|i| format!("{{\"id\": {i}, \"s\": \"{filler}\"}}"))
        .collect();
    recs.push("{\"id\": 800, \"s\": \"caf\\u00e9 \\\\u00e9\"}".to_string());
    let escaped = format!("[{}]", recs.join(", "));
    assert!(escaped.len() > super::input::HEAD_SIZE);
    let spec = single(
        file_with(&dir, "py.json", escaped.as_bytes()),
        Format::Array,
    );
    let (records, layout) = round_trip(&spec);
    assert!(layout.style.ascii);
    assert_eq!(
        records[800].value.get("s").unwrap().as_str(),
        Some("café \\u00e9")
    );

    let raw = escaped.replace("caf\\u00e9", "café");
    let spec = single(file_with(&dir, "raw.json", raw.as_bytes()), Format::Array);
    let (_, layout) = round_trip(&spec);
    assert!(!layout.style.ascii);

    // Only an escaped backslash before "u00e9": no evidence either way.
    let neither = escaped.replace("caf\\u00e9 ", "");
    let spec = single(file_with(&dir, "n.json", neither.as_bytes()), Format::Array);
    let (_, _, layout) = read_all(&spec);
    assert!(!layout.style.ascii);

    // TinyDB: the default holds until the text says otherwise.
    let tiny = format!(
        "{{\"_default\": {{\"1\": {{\"s\": \"{}\"}}, \"2\": {{\"s\": \"é\"}}}}}}",
        "y".repeat(70_000)
    );
    let spec = spec_for(
        file_with(&dir, "t.json", tiny.as_bytes()),
        vec![member(Some("_default"), Format::Tinydb)],
    );
    let (_, layout) = round_trip(&spec);
    assert!(!layout.style.ascii);
}

#[test]
fn failed_writes_leave_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.json");
    let layout = Layout::default();
    let spec = single(out.clone(), Format::Object);
    let v = Value::Object(Vec::new());
    let mut keyless = |_m: usize, emit: &mut crate::source::Emit| emit(None, &v, &[]);
    let err = write_source(&spec, &layout, &out, &mut keyless).unwrap_err();
    assert_eq!(err.to_string(), "record 1 has no key to write it under");
    let spec = single(out.clone(), Format::Document);
    let mut two = |_m: usize, emit: &mut crate::source::Emit| {
        emit(None, &v, &[])?;
        emit(None, &v, &[])
    };
    assert!(write_source(&spec, &layout, &out, &mut two).is_err());
    let spec = spec_for(out.clone(), vec![member(Some("_default"), Format::Tinydb)]);
    let mut bad_id = |_m: usize, emit: &mut crate::source::Emit| emit(Some("x"), &v, &[]);
    assert!(write_source(&spec, &layout, &out, &mut bad_id).is_err());
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    // An existing file is only replaced by a complete one.
    std::fs::write(&out, "[1]").unwrap();
    let spec = single(out.clone(), Format::Object);
    assert!(write_source(&spec, &layout, &out, &mut keyless).is_err());
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "[1]");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
}

#[test]
fn writes_in_the_recorded_style() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("sub/out.json");
    let rec = crate::json::parse(r#"{"id": 1, "name": "Zoë", "tags": []}"#.as_bytes(), 8).unwrap();
    let mut feed = |_m: usize, emit: &mut crate::source::Emit| {
        emit(Some("7"), &rec, &[])?;
        emit(Some("8"), &rec, &[])
    };
    let style = Style {
        indent: None,
        colon: ": ".into(),
        comma: ", ".into(),
        ascii: true,
        trailing_newline: true,
        crlf: false,
    };
    let layout = Layout {
        style,
        bom: true,
        members: Vec::new(),
        files: Default::default(),
        sqlite: None,
    };
    write_source(
        &single(out.clone(), Format::Tinydb),
        &layout,
        &out,
        &mut feed,
    )
    .unwrap();
    assert_eq!(
        std::fs::read_to_string(&out).unwrap(),
        "\u{FEFF}{\"7\": {\"id\": 1, \"name\": \"Zo\\u00eb\", \"tags\": []}, \"8\": {\"id\": 1, \"name\": \"Zo\\u00eb\", \"tags\": []}}\n"
    );
    let layout = Layout {
        style: crate::json::write::compact_style(),
        bom: false,
        members: Vec::new(),
        files: Default::default(),
        sqlite: None,
    };
    write_source(
        &single(out.clone(), Format::Jsonl),
        &layout,
        &out,
        &mut feed,
    )
    .unwrap();
    assert_eq!(
        std::fs::read_to_string(&out).unwrap(),
        "{\"id\":1,\"name\":\"Zoë\",\"tags\":[]}\n{\"id\":1,\"name\":\"Zoë\",\"tags\":[]}"
    );
}
