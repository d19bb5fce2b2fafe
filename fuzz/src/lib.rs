//! Shared harness of the fuzz targets: write the input where a reader expects a file, read every
//! record, and when the whole input was accepted, write it back the way `export` does and read
//! it again: the records must be the same (values, key order, number spellings, keys).

use std::path::Path;

use jsonlift::json::Value;
use jsonlift::source::{self, Format, Layout, Limits, MemberSpec, Record, SourceSpec};

/// One member of the source under test: its top-level name (db.json/TinyDB) and format.
pub type Member = (Option<&'static str>, Format);

fn spec(path: &Path, members: &[Member], pattern: &str) -> SourceSpec {
    SourceSpec {
        path: path.to_path_buf(),
        display: "fuzz".into(),
        members: members
            .iter()
            .map(|(name, format)| MemberSpec {
                name: name.map(str::to_string),
                format: *format,
                pattern: pattern.to_string(),
                recursive: false,
                body_field: "body".into(),
                sqlite: None,
            })
            .collect(),
        limits: Limits::default(),
        skip: Vec::new(),
    }
}

/// All records and the layout, or `None` when the reader refused the input (the refusal must
/// be a problem, never a panic).
fn read(spec: &SourceSpec) -> Option<(Vec<Record>, Layout)> {
    let mut reader = source::open(spec).ok()?;
    let mut records = Vec::new();
    let mut ok = true;
    // A folder reader goes on after a bad file; a file reader stops. Bounded either way.
    while let Some(r) = reader.next_record() {
        match r {
            Ok(rec) => records.push(rec),
            Err(_) => ok = false,
        }
    }
    let layout = reader.finish().ok()?;
    ok.then_some((records, layout))
}

fn summary(records: &[Record]) -> Vec<(usize, Option<String>, Value)> {
    records
        .iter()
        .map(|r| (r.member, r.key.clone(), r.value.clone()))
        .collect()
}

/// Reads `data` as the source `members` describe (a file named `file`, or with `folder`, a
/// folder holding one file `file`), and round-trips what it accepts.
pub fn reader_round_trip(data: &[u8], members: &[Member], file: &str, folder: bool) {
    // One folder per process, reused: creating a temporary folder per input costs more than
    // the reading.
    static DIR: std::sync::OnceLock<tempfile::TempDir> = std::sync::OnceLock::new();
    let dir = DIR.get_or_init(|| tempfile::tempdir().expect("tempdir"));
    let (path, out) = if folder {
        let (src, out) = (dir.path().join("src"), dir.path().join("out"));
        let _ = std::fs::remove_dir_all(&out);
        std::fs::create_dir_all(&src).unwrap();
        std::fs::write(src.join(file), data).unwrap();
        (src, out)
    } else {
        let src = dir.path().join(file);
        std::fs::write(&src, data).unwrap();
        (src, dir.path().join(format!("out-{file}")))
    };
    let pattern = if file.ends_with(".prompty") {
        "*.prompty"
    } else {
        "*.json"
    };
    let first = spec(&path, members, pattern);
    let Some((records, layout)) = read(&first) else {
        return;
    };
    let mut feed = |member: usize, emit: &mut source::Emit| {
        for r in records.iter().filter(|r| r.member == member) {
            emit(r.key.as_deref(), &r.value, &[])?;
        }
        Ok(())
    };
    if folder {
        std::fs::create_dir_all(&out).unwrap();
    }
    source::write_source(&first, &layout, &out, &mut feed)
        .unwrap_or_else(|e| panic!("accepted input cannot be written back: {e:#}"));
    let again = spec(&out, members, pattern);
    let (back, _) = read(&again).unwrap_or_else(|| {
        panic!(
            "written back, the source no longer reads: {:?}",
            String::from_utf8_lossy(&std::fs::read(&out).unwrap_or_default())
        )
    });
    assert_eq!(
        summary(&records),
        summary(&back),
        "the records changed on a round trip"
    );
}
