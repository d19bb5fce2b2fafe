//! A folder of JSON files, one record per file (`Format::Folder`). The walking and per-file
//! loop are in [`super::files`], shared with [`super::prompty`].

use std::path::Path;

use crate::error::Problem;
use crate::json::{self, JsonPath, Value};

use super::files::{BOM, FileParser, FileStyle, FilesReader, Parsed, write_files};
use super::{Feed, Layout, RecordReader, SourceSpec, Style};

/// Opens a folder of JSON files for reading.
pub fn open(spec: &SourceSpec) -> Result<Box<dyn RecordReader>, Problem> {
    let parser = JsonFiles {
        max_depth: spec.limits.max_depth,
        style: None,
        style_from_empty: false,
        ascii_known: false,
    };
    Ok(Box::new(FilesReader::new(spec, parser)?))
}

/// Reads the one file `rel` of the folder, its style judged against the folder's `layout`.
pub(crate) fn open_one(
    spec: &SourceSpec,
    rel: &str,
    layout: &Layout,
) -> Result<Box<dyn RecordReader>, Problem> {
    let parser = JsonFiles {
        max_depth: spec.limits.max_depth,
        style: Some(layout.style.clone()),
        style_from_empty: false,
        ascii_known: true,
    };
    Ok(Box::new(FilesReader::one(spec, rel, parser, layout)?))
}

/// Writes each record of member 0 to `out_dir/<key>` (sub-folders created as needed) in the
/// file's own style when the layout lists one, the folder's otherwise, each through a temporary
/// file and a rename.
pub fn write(
    spec: &SourceSpec,
    layout: &Layout,
    out_dir: &Path,
    feed: &mut Feed,
) -> anyhow::Result<()> {
    let _ = spec; // everything the writer needs is in the layout
    write_files(out_dir, layout, feed, &mut |value, file| {
        let style = file.and_then(|f| f.style.as_ref()).unwrap_or(&layout.style);
        let mut out = Vec::with_capacity(256);
        json::write::write_document(&mut out, value, style, false)?;
        Ok(out)
    })
}

/// The default formatting for a folder whose style cannot be detected (no readable file).
pub fn default_style() -> Style {
    Style {
        indent: Some("  ".into()),
        colon: ": ".into(),
        comma: ",".into(),
        ascii: false,
        trailing_newline: true,
        crlf: false,
    }
}

struct JsonFiles {
    max_depth: usize,
    /// The style of the first file read successfully (the first non-empty object's, when the
    /// first files are `{}` and show no formatting).
    style: Option<Style>,
    style_from_empty: bool,
    /// Whether `ascii` was seen (a file with non-ASCII text, raw or escaped); until then it is
    /// taken from the next file that shows it.
    ascii_known: bool,
}

impl FileParser for JsonFiles {
    fn parse(&mut self, bytes: &[u8], file: &str) -> Result<Parsed, Problem> {
        let value = json::parse(bytes, self.max_depth).map_err(|e| {
            let (line, col) = json::line_col(bytes, e.offset);
            Problem::new(file, e.message)
                .at(line, col)
                .with_path(e.path)
        })?;
        let start = if bytes.starts_with(BOM) { BOM.len() } else { 0 };
        let at = json::locate(bytes, &[]).unwrap_or(start);
        let (line, col) = json::line_col(bytes, at);
        let Value::Object(fields) = &value else {
            return Err(Problem::new(
                file,
                format!("a record file must hold an object, found {}", value.kind()),
            )
            .at(line, col)
            .with_path(JsonPath::root()));
        };
        let shows_style = !fields.is_empty();
        let first = self.style.is_none() || (self.style_from_empty && shows_style);
        let detected = json::write::detect(&bytes[..bytes.len().min(64 * 1024)]);
        let mut own = detected.style.clone();
        own.trailing_newline = bytes.ends_with(b"\n");
        if first {
            self.style = Some(own.clone());
            self.style_from_empty = !shows_style;
        }
        if detected.ascii_known && !self.ascii_known {
            self.ascii_known = true;
            if let Some(style) = &mut self.style {
                style.ascii = detected.style.ascii;
            }
        }
        Ok(Parsed {
            value,
            offset: start as u64,
            len: (bytes.len() - start) as u64,
            line,
            col,
            style: Some(FileStyle {
                style: own,
                ascii_known: detected.ascii_known,
                shows_style,
            }),
            head: None,
        })
    }

    fn style(&self) -> Style {
        self.style.clone().unwrap_or_else(default_style)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json::Number;
    use crate::source::files::glob_match;
    use crate::source::{Format, Limits, MemberSpec, Record};
    use std::fs;

    fn spec(dir: &Path, display: &str, pattern: &str, recursive: bool) -> SourceSpec {
        SourceSpec {
            path: dir.to_path_buf(),
            display: display.into(),
            members: vec![MemberSpec {
                name: None,
                format: Format::Folder,
                pattern: pattern.into(),
                recursive,
                body_field: String::new(),
                sqlite: None,
            }],
            limits: Limits::default(),
            skip: Vec::new(),
        }
    }

    fn put(path: &Path, bytes: &[u8]) {
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, bytes).unwrap();
    }

    struct Read {
        records: Vec<Result<Record, Problem>>,
        layout: Layout,
        bytes_read: u64,
        total: u64,
    }

    fn read(spec: &SourceSpec) -> Read {
        let mut r = open(spec).unwrap();
        let mut records = Vec::new();
        while let Some(rec) = r.next_record() {
            records.push(rec);
        }
        let (bytes_read, total) = (r.bytes_read(), r.total_bytes());
        Read {
            records,
            layout: r.finish().unwrap(),
            bytes_read,
            total,
        }
    }

    fn keys(r: &Read) -> Vec<String> {
        r.records
            .iter()
            .map(|r| match r {
                Ok(rec) => rec.key.clone().unwrap(),
                Err(p) => format!("!{p}"),
            })
            .collect()
    }

    /// As JSON.stringify(value, null, 2) + "\n" writes it.
    const ALICE: &str = "{\n  \"id\": \"alice\",\n  \"name\": \"Alice\",\n  \"traits\": [\n    \"curious\",\n    \"kind\"\n  ],\n  \"age\": 31,\n  \"score\": 1.50\n}\n";
    const BOB: &str =
        "{\n  \"id\": \"bob\",\n  \"bio\": \"caf\u{e9} \u{1f600}\",\n  \"meta\": {}\n}\n";
    const CAROL: &str = "{\n  \"id\": \"carol\",\n  \"n\": null\n}\n";

    #[test]
    fn three_files_in_sub_folders_recursive() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("personas");
        put(&dir.join("alice.json"), ALICE.as_bytes());
        put(&dir.join("team/bob.json"), BOB.as_bytes());
        put(&dir.join("team/x/carol.json"), CAROL.as_bytes());
        put(&dir.join("team/notes.txt"), b"not json");
        put(&dir.join("team.json"), b"{\"top\": true}\n");

        let r = read(&spec(&dir, "personas", "*.json", true));
        // Byte order of relative paths: "team.json" < "team/..." ('.' < '/').
        assert_eq!(
            keys(&r),
            [
                "alice.json",
                "team.json",
                "team/bob.json",
                "team/x/carol.json"
            ]
        );
        let alice = r.records[0].as_ref().unwrap();
        assert_eq!(alice.member, 0);
        assert_eq!(
            alice.value.get("score"),
            Some(&Value::Number(Number::from_text_unchecked("1.50")))
        );
        assert_eq!(
            (
                alice.origin.offset,
                alice.origin.len,
                alice.origin.line,
                alice.origin.col
            ),
            (0, ALICE.len() as u64, 1, 1)
        );
        assert_eq!(alice.origin.path, JsonPath::root());
        let bob = r.records[2].as_ref().unwrap();
        assert_eq!(&*bob.origin.file, dir.join("team/bob.json").as_path());
        assert_eq!(
            bob.value.get("bio").unwrap().as_str(),
            Some("caf\u{e9} \u{1f600}")
        );
        assert_eq!(r.bytes_read, r.total);
        let expected: u64 = [ALICE.len(), BOB.len(), CAROL.len(), 14]
            .iter()
            .sum::<usize>() as u64;
        assert_eq!(r.total, expected);
        let style = &r.layout.style;
        assert_eq!(style.indent.as_deref(), Some("  "));
        assert_eq!(style.colon, ": ");
        assert!(style.trailing_newline && !style.ascii);
        assert!(!r.layout.bom && r.layout.members.is_empty());

        // Not recursive: only the top folder.
        let r = read(&spec(&dir, "personas", "*.json", false));
        assert_eq!(keys(&r), ["alice.json", "team.json"]);
        // Another pattern.
        let r = read(&spec(&dir, "personas", "?o?.json", true));
        assert_eq!(keys(&r), ["team/bob.json"]);
    }

    #[test]
    fn write_reproduces_the_files() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("personas");
        put(&dir.join("alice.json"), ALICE.as_bytes());
        put(&dir.join("team/bob.json"), BOB.as_bytes());
        put(&dir.join("team/x/carol.json"), CAROL.as_bytes());
        let sp = spec(&dir, "personas", "*.json", true);
        let r = read(&sp);
        let records: Vec<Record> = r.records.into_iter().map(Result::unwrap).collect();
        let out = tmp.path().join("export");
        let mut feed = |m: usize, emit: &mut crate::source::Emit| {
            assert_eq!(m, 0);
            records
                .iter()
                .try_for_each(|r| emit(r.key.as_deref(), &r.value, &[]))
        };
        write(&sp, &r.layout, &out, &mut feed).unwrap();
        for f in ["alice.json", "team/bob.json", "team/x/carol.json"] {
            assert_eq!(
                fs::read(out.join(f)).unwrap(),
                fs::read(dir.join(f)).unwrap(),
                "{f}"
            );
        }
        // No temporary files left behind.
        let names: Vec<_> = fs::read_dir(&out)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 2, "{names:?}");

        // Compact files with a BOM and no final newline come back the same way.
        let dir2 = tmp.path().join("compact");
        put(&dir2.join("a.json"), b"\xEF\xBB\xBF{\"a\":1,\"b\":[1,2]}");
        put(&dir2.join("b.json"), b"\xEF\xBB\xBF{\"c\":\"\\u00e9\"}");
        let sp2 = spec(&dir2, "compact", "*.json", false);
        let r2 = read(&sp2);
        assert!(r2.layout.bom);
        let a = r2.records[0].as_ref().unwrap();
        assert_eq!((a.origin.offset, a.origin.line, a.origin.col), (3, 1, 1));
        let recs2: Vec<Record> = r2.records.into_iter().map(Result::unwrap).collect();
        let out2 = tmp.path().join("export2");
        let mut feed2 = |_: usize, emit: &mut crate::source::Emit| {
            recs2
                .iter()
                .try_for_each(|r| emit(r.key.as_deref(), &r.value, &[]))
        };
        write(&sp2, &r2.layout, &out2, &mut feed2).unwrap();
        for f in ["a.json", "b.json"] {
            assert_eq!(
                fs::read(out2.join(f)).unwrap(),
                fs::read(dir2.join(f)).unwrap(),
                "{f}"
            );
        }
    }

    #[test]
    fn files_written_in_different_styles_export_byte_identically() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("people");
        // JSON.stringify(x, null, 2) + "\n"
        let p1 = "{\n  \"id\": \"p1\",\n  \"name\": \"Ada\",\n  \"tags\": [\n    \"a\",\n    \"b\"\n  ]\n}\n";
        // Python json.dump(x, f, indent=4): ensure_ascii, no final newline
        let p2 = "{\n    \"id\": \"p2\",\n    \"name\": \"B\\u00e9a\",\n    \"tags\": [\n        \"x\"\n    ]\n}";
        // Python json.dumps(x): compact with spaces, BOM added by some editor
        let p3 = "\u{feff}{\"id\": \"p3\", \"name\": \"Carl\", \"tags\": [\"y\", \"z\"]}";
        put(&dir.join("p1.json"), p1.as_bytes());
        put(&dir.join("sub/p2.json"), p2.as_bytes());
        put(&dir.join("sub/p3.json"), p3.as_bytes());
        // A file written like the first one adds nothing to the layout.
        put(&dir.join("p4.json"), b"{\n  \"id\": \"p4\"\n}\n");
        // Nor does an empty object, which looks the same in every style.
        put(&dir.join("p5.json"), b"{}\n");
        let sp = spec(&dir, "people", "*.json", true);
        let r = read(&sp);
        assert_eq!(r.layout.style.indent.as_deref(), Some("  "));
        assert!(!r.layout.bom);
        let listed: Vec<&str> = r.layout.files.keys().map(String::as_str).collect();
        assert_eq!(listed, ["sub/p2.json", "sub/p3.json"]);
        let f2 = &r.layout.files["sub/p2.json"];
        let s2 = f2.style.as_ref().unwrap();
        assert_eq!(s2.indent.as_deref(), Some("    "));
        assert!(s2.ascii && !s2.trailing_newline && !f2.bom && f2.head.is_none());
        let f3 = &r.layout.files["sub/p3.json"];
        let s3 = f3.style.as_ref().unwrap();
        assert_eq!(
            (s3.indent.as_deref(), s3.colon.as_str(), s3.comma.as_str()),
            (None, ": ", ", ")
        );
        assert!(f3.bom);

        // The layout goes through the database as JSON.
        let stored = serde_json::to_string(&r.layout).unwrap();
        let layout: Layout = serde_json::from_str(&stored).unwrap();
        assert_eq!(layout, r.layout);

        let records: Vec<Record> = r.records.into_iter().map(Result::unwrap).collect();
        let out = tmp.path().join("export");
        let mut feed = |_: usize, emit: &mut crate::source::Emit| {
            records
                .iter()
                .try_for_each(|r| emit(r.key.as_deref(), &r.value, &[]))
        };
        write(&sp, &layout, &out, &mut feed).unwrap();
        for f in [
            "p1.json",
            "sub/p2.json",
            "sub/p3.json",
            "p4.json",
            "p5.json",
        ] {
            assert_eq!(
                String::from_utf8(fs::read(out.join(f)).unwrap()).unwrap(),
                String::from_utf8(fs::read(dir.join(f)).unwrap()).unwrap(),
                "{f}"
            );
        }

        // A uniform folder records no per-file layouts, and a layout stored before they
        // existed (no `files`) still reads.
        let uniform = read(&spec(&dir, "people", "p?.json", false));
        assert!(uniform.layout.files.is_empty());
        assert!(
            !serde_json::to_string(&uniform.layout)
                .unwrap()
                .contains("files")
        );
        let old: Layout = serde_json::from_str(
            r#"{"style":{"indent":"  ","colon":": ","comma":", ","ascii":false,"trailing_newline":true},"bom":false,"members":[]}"#,
        )
        .unwrap();
        assert_eq!(old, uniform.layout);
    }

    #[test]
    fn bad_files_are_problems_and_reading_goes_on() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("personas");
        put(&dir.join("a_ok.json"), b"{\"ok\": 1}");
        put(
            &dir.join("b_broken.json"),
            b"{\n  \"name\": \"x\",\n  \"traits\": [\"a\", tru]\n}\n",
        );
        put(&dir.join("c_empty.json"), b"");
        put(&dir.join("d_blank.json"), b"\xEF\xBB\xBF  \n");
        put(&dir.join("e_latin1.json"), b"{\"name\": \"caf\xe9\"}");
        put(&dir.join("f_array.json"), b"\n  [1, 2]\n");
        put(&dir.join("g_dup.json"), b"{\"a\": 1,\n \"a\": 2}");
        put(&dir.join("h_ok.json"), b"\xEF\xBB\xBF  {\"ok\": 2}\n");
        let r = read(&spec(&dir, "data/personas", "*.json", false));
        assert_eq!(r.records.len(), 8);
        assert!(r.records[0].is_ok());
        let p = |i: usize| r.records[i].as_ref().unwrap_err().clone();

        let b = p(1);
        assert_eq!(b.file, "data/personas/b_broken.json");
        assert_eq!(b.pos.map(|(l, _)| l), Some(3), "{b}");
        assert_eq!(
            b.path.as_ref().map(|p| p.to_string()).as_deref(),
            Some("$.traits[1]"),
            "{b}"
        );

        for (i, file) in [(2, "c_empty.json"), (3, "d_blank.json")] {
            let e = p(i);
            assert_eq!(e.file, format!("data/personas/{file}"));
            assert_eq!(e.message, "empty file");
        }

        let e = p(4);
        assert_eq!(e.file, "data/personas/e_latin1.json");
        assert!(e.message.contains("UTF-8"), "{e}");
        assert_eq!(e.pos, Some((1, 14)));

        let f = p(5);
        assert!(
            f.message.contains("must hold an object, found array"),
            "{f}"
        );
        assert_eq!(f.pos, Some((2, 3)));

        let g = p(6);
        assert_eq!(g.pos.map(|(l, _)| l), Some(2), "{g}");

        let h = r.records[7].as_ref().unwrap();
        assert_eq!((h.origin.offset, h.origin.line, h.origin.col), (3, 1, 3));
        assert_eq!(r.bytes_read, r.total);
    }

    #[test]
    fn missing_folder_or_a_file_is_a_problem() {
        let tmp = tempfile::tempdir().unwrap();
        let err = open(&spec(&tmp.path().join("nope"), "nope", "*.json", false))
            .err()
            .unwrap();
        assert_eq!(err.file, "nope");
        put(&tmp.path().join("f.json"), b"{}");
        let err = open(&spec(&tmp.path().join("f.json"), "f.json", "*.json", false))
            .err()
            .unwrap();
        assert!(err.message.contains("not a folder"), "{err}");
    }

    #[cfg(unix)]
    #[test]
    fn symlinks() {
        use std::os::unix::fs::symlink;
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("personas");
        put(&dir.join("a.json"), b"{\"a\": 1}");
        put(&dir.join("sub/b.json"), b"{\"b\": 1}");
        put(&tmp.path().join("outside/secret.json"), b"{\"secret\": 1}");
        symlink(
            tmp.path().join("outside/secret.json"),
            dir.join("leak.json"),
        )
        .unwrap();
        symlink(tmp.path().join("outside"), dir.join("leakdir")).unwrap();
        symlink("../a.json", dir.join("sub/inner.json")).unwrap();
        symlink("..", dir.join("sub/loop")).unwrap();
        symlink("missing.json", dir.join("broken.json")).unwrap();
        let r = read(&spec(&dir, "personas", "*.json", true));
        let k = keys(&r);
        assert_eq!(k[0], "a.json");
        assert!(
            k[1].starts_with("!personas/broken.json: broken symlink"),
            "{}",
            k[1]
        );
        assert!(
            k[2].starts_with("!personas/leak.json: symlink leaves the source folder"),
            "{}",
            k[2]
        );
        assert!(
            k[3].starts_with("!personas/leakdir: symlink leaves the source folder"),
            "{}",
            k[3]
        );
        // The link inside the folder is followed; the loop back up is not walked forever.
        assert_eq!(&k[4..], ["sub/b.json", "sub/inner.json"]);
        let inner = r.records[5].as_ref().unwrap();
        assert_eq!(inner.value, r.records[0].as_ref().unwrap().value);
        let leaked = r
            .records
            .iter()
            .flatten()
            .any(|r| r.value.get("secret").is_some());
        assert!(!leaked);
        // Not recursive: a folder link is not looked at.
        let r = read(&spec(&dir, "personas", "*.json", false));
        assert_eq!(keys(&r).len(), 3);
    }

    #[cfg(unix)]
    #[test]
    fn an_unreadable_sub_folder_is_a_problem() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("personas");
        put(&dir.join("a.json"), b"{}");
        put(&dir.join("locked/b.json"), b"{}");
        put(&dir.join("z.json"), b"{}");
        let locked = dir.join("locked");
        fs::set_permissions(&locked, fs::Permissions::from_mode(0o000)).unwrap();
        let readable = fs::read_dir(&locked).is_ok(); // root reads anything
        let r = read(&spec(&dir, "personas", "*.json", true));
        fs::set_permissions(&locked, fs::Permissions::from_mode(0o755)).unwrap();
        if readable {
            assert_eq!(keys(&r), ["a.json", "locked/b.json", "z.json"]);
        } else {
            let k = keys(&r);
            assert_eq!((k[0].as_str(), k[2].as_str()), ("a.json", "z.json"));
            assert!(
                k[1].starts_with("!personas/locked: cannot read the folder"),
                "{}",
                k[1]
            );
        }
    }

    #[test]
    fn write_refuses_keys_that_leave_the_folder() {
        let tmp = tempfile::tempdir().unwrap();
        let sp = spec(tmp.path(), "x", "*.json", false);
        let layout = Layout {
            style: default_style(),
            ..Layout::default()
        };
        let v = Value::Object(vec![]);
        for bad in [
            Some("../evil.json"),
            Some("a/../../evil.json"),
            Some("/tmp/evil.json"),
            Some("a\\b.json"),
            Some(""),
            Some("a//b.json"),
            None,
        ] {
            let mut feed = |_: usize, emit: &mut crate::source::Emit| emit(bad, &v, &[]);
            let e = write(&sp, &layout, &tmp.path().join("out"), &mut feed);
            assert!(e.is_err(), "{bad:?}");
        }
        assert!(!tmp.path().join("evil.json").exists());
    }

    #[test]
    fn glob() {
        let m = |p: &str, n: &str| glob_match(&p.chars().collect::<Vec<_>>(), n);
        assert!(m("*.json", "a.json"));
        assert!(m("*.json", ".json"));
        assert!(!m("*.json", "a.json5"));
        assert!(!m("*.json", "a.jsonl"));
        assert!(m("*", "anything"));
        assert!(m("a*b*c", "aXXbYYc"));
        assert!(m("a*b*c", "abc"));
        assert!(!m("a*b*c", "acb"));
        assert!(m("?.json", "é.json"));
        assert!(!m("?.json", "ab.json"));
        assert!(m("**x", "x"));
        assert!(m("*a*", "banana"));
        assert!(!m("*.JSON", "a.json"));
        assert!(m("user-??.json", "user-01.json"));
    }
}
