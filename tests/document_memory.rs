//! A large JSON document whose members are objects keyed by name (issue #16: about a thousand
//! records of one shape under each member) is inferred as one keyed collection per member, and
//! `init` and `migrate` take no more memory than for the same records as one JSON array: before,
//! the document became one row of huge JSON columns and migrate peaked at 328 MB for 20 MB.
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
