//! A large JSON document whose members are objects keyed by name (issue #16: about a thousand
//! records of one shape under each member) is inferred as one keyed collection per member, and
//! `init` and `migrate` take no more memory than for the same records as one JSON array: before,
//! the document became one row of huge JSON columns and migrate peaked at 328 MB for 20 MB.
//!
//! A record holding one large JSON column is verified holding the record read from the file and
//! the row's text, not a second tree of the record rebuilt from the row (verify compares in
//! place, as migrate does), and the reader does not keep a large record's text for the next.
//!
//! Each command's peak is read from its own `wait4` (not the process's children as a whole), so
//! the two layouts can be compared in one test.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::process::Command;

const MEMBERS: usize = 24;
const PER_MEMBER: usize = 1000;

/// Runs jsonlift in `dir`, checks it succeeded, and gives its stdout and peak resident KiB.
fn jsonlift(dir: &Path, args: &[&str]) -> (String, i64) {
    // Waited for by `wait4` below, which also gives its peak memory.
    #[allow(clippy::zombie_processes)]
    let child = Command::new(env!("CARGO_BIN_EXE_jsonlift"))
        .args(args)
        .current_dir(dir)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id() as libc::pid_t;
    let mut stdout = child.stdout.unwrap();
    let mut text = String::new();
    std::io::Read::read_to_string(&mut stdout, &mut text).unwrap();
    // SAFETY: wait4 only writes into the status and rusage we pass.
    let (status, peak) = unsafe {
        let mut status = 0;
        let mut ru: libc::rusage = std::mem::zeroed();
        assert_eq!(libc::wait4(pid, &mut status, 0, &mut ru), pid);
        (status, ru.ru_maxrss)
    };
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "jsonlift {args:?} failed"
    );
    (text, peak)
}

/// Writes the records as Python's `json.dump(x, f, indent=2)` does: under `region_M` members
/// keyed by name (`document`), or as one array with the name as a `key` field.
fn write_places(path: &Path, document: bool) -> u64 {
    let mut w = BufWriter::new(File::create(path).unwrap());
    match document {
        true => write!(w, "{{\n  \"version\": \"2024.1\"").unwrap(),
        false => write!(w, "[").unwrap(),
    }
    let ind = if document { "    " } else { "  " };
    for m in 0..MEMBERS {
        if document {
            write!(w, ",\n  \"region_{m}\": {{").unwrap();
        }
        for i in 0..PER_MEMBER {
            let sep = if i == 0 && (document || m == 0) {
                ""
            } else {
                ","
            };
            match document {
                true => write!(w, "{sep}\n{ind}\"place-{m}-{i}\": {{").unwrap(),
                false => write!(w, "{sep}\n{ind}{{\n{ind}  \"key\": \"place-{m}-{i}\",").unwrap(),
            }
            write!(
                w,
                "\n{ind}  \"name\": \"Place {i} of region {m}\",\n{ind}  \"population\": {},\n{ind}  \"area\": {}.5,\n{ind}  \"kind\": \"{}\",\n{ind}  \"note\": \"{}\",\n{ind}  \"neighbours\": [\n{ind}    \"place-{m}-{}\",\n{ind}    \"place-{m}-{}\"\n{ind}  ]\n{ind}}}",
                i * 37 % 100_000,
                i % 977,
                ["town", "city", "village"][i % 3],
                "a description of the place long enough to be realistic ".repeat(12),
                (i + 1) % PER_MEMBER,
                (i + PER_MEMBER - 1) % PER_MEMBER,
            )
            .unwrap();
        }
        if document {
            write!(w, "\n  }}").unwrap();
        }
    }
    match document {
        true => write!(w, "\n}}").unwrap(),
        false => write!(w, "\n]").unwrap(),
    }
    w.flush().unwrap();
    std::fs::metadata(path).unwrap().len()
}

#[test]
fn a_large_document_of_keyed_members_becomes_collections_in_flat_memory() {
    let doc = tempfile::tempdir().unwrap();
    let path = doc.path().join("world.json");
    let size = write_places(&path, true);
    assert!(size > 20_000_000, "fixture is only {size} bytes");

    let (_, doc_init) = jsonlift(doc.path(), &["init", "."]);
    let toml = std::fs::read_to_string(doc.path().join("jsonlift.toml")).unwrap();
    assert!(
        toml.contains(
            "[collections.region_0]\nsource = \"world.json\"\nformat = \"object\"\nmember = \"region_0\""
        ),
        "{toml}"
    );
    assert!(
        toml.contains("top-level keys hold objects of records keyed by name"),
        "{toml}"
    );
    assert!(!toml.contains("format = \"document\""), "{toml}");
    let (out, doc_migrate) = jsonlift(doc.path(), &["migrate"]);
    assert!(out.contains("migrate: migrated"), "{out}");
    jsonlift(doc.path(), &["verify"]);
    let back = doc.path().join("back");
    jsonlift(doc.path(), &["export", "--out", back.to_str().unwrap()]);
    assert!(
        std::fs::read(&path).unwrap() == std::fs::read(back.join("world.json")).unwrap(),
        "export gives back the document byte for byte"
    );

    // The same records as one array: what flat memory costs on this machine and build.
    let arr = tempfile::tempdir().unwrap();
    write_places(&arr.path().join("world.json"), false);
    let (_, arr_init) = jsonlift(arr.path(), &["init", "."]);
    let (_, arr_migrate) = jsonlift(arr.path(), &["migrate"]);

    eprintln!(
        "peak resident KiB for {} KiB of records: init {doc_init} (as an array {arr_init}), migrate {doc_migrate} (as an array {arr_migrate})",
        size / 1024
    );
    for (what, d, a) in [
        ("init", doc_init, arr_init),
        ("migrate", doc_migrate, arr_migrate),
    ] {
        assert!(
            d * 4 <= a * 5,
            "{what} of the document peaked at {d} KiB, of the same records as an array at {a} KiB: the document is being held"
        );
    }
}

#[test]
fn a_large_json_column_is_verified_without_a_second_copy_of_the_record() {
    let dir = tempfile::tempdir().unwrap();
    // Written as it goes (JSON.stringify(x, null, 2)): this process stays small, and a child's
    // peak starts from its parent's at fork.
    let path = dir.path().join("data.json");
    let mut w = BufWriter::new(File::create(&path).unwrap());
    write!(
        w,
        "[\n  {{\n    \"id\": 1,\n    \"title\": \"big\",\n    \"blob\": ["
    )
    .unwrap();
    // The column's text as the database holds it: the brackets, then each item and a comma.
    let mut column = 1i64;
    for i in 0..45_000 {
        let kind = ["town", "city", "village"][i % 3];
        let item = serde_json::json!({
            "name": format!("Place {i}"),
            "population": i * 37 % 100_000,
            "area": (i % 977) as f64 + 0.5,
            "kind": kind,
            "note": "a description of the place long enough to be realistic ".repeat(4),
            "neighbours": [format!("place-{}", i + 1), format!("place-{}", i + 2)],
        });
        column += serde_json::to_string(&item).unwrap().len() as i64 + 1;
        let pretty = serde_json::to_string_pretty(&item).unwrap();
        let sep = if i == 0 { "" } else { "," };
        write!(w, "{sep}\n      {}", pretty.replace('\n', "\n      ")).unwrap();
    }
    write!(w, "\n    ]\n  }}\n]\n").unwrap();
    w.flush().unwrap();
    drop(w);
    std::fs::write(
        dir.path().join("jsonlift.toml"),
        "[collections.data]\nsource = \"data.json\"\nkey = \"id\"\n[collections.data.fields]\nid = \"integer\"\ntitle = \"text\"\nblob = \"json\"\n",
    )
    .unwrap();
    assert!(column > 15_000_000, "the column is only {column} bytes");

    // What every command holds: the record read from the file.
    let (_, read) = jsonlift(dir.path(), &["check", "--syntax-only"]);
    let (_, migrate) = jsonlift(dir.path(), &["migrate"]);
    let (_, verify) = jsonlift(dir.path(), &["verify"]);
    let back = dir.path().join("back");
    let (_, export) = jsonlift(dir.path(), &["export", "--out", back.to_str().unwrap()]);
    assert!(
        std::fs::read(back.join("data.json")).unwrap() == std::fs::read(&path).unwrap(),
        "export gives back the file byte for byte"
    );
    eprintln!(
        "peak resident KiB for a {} KiB JSON column ({} KiB file): reading it {read}, migrate {migrate}, verify {verify}, export {export}",
        column / 1024,
        std::fs::metadata(&path).unwrap().len() / 1024
    );
    // Verify holds the record read and the row's text (and the parser's and the allocator's
    // scratch: measured 2.1-2.2 columns above reading); before, it also rebuilt the record from
    // the row to compare the two trees: 35 MiB more here, about 4.5 columns above reading.
    assert!(
        verify <= read + 3 * column / 1024,
        "verify peaked at {verify} KiB, reading the record at {read} KiB, for a {} KiB column: the record is held twice",
        column / 1024
    );
}
