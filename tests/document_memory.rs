//! A large JSON document whose members are objects keyed by name (issue #16: about a thousand
//! records of one shape under each member) is inferred as one keyed collection per member, and
//! `init` and `migrate` take no more memory than for the same records as one JSON array: before,
//! the document became one row of huge JSON columns and migrate peaked at 328 MB for 20 MB.
//!
//! A record holding one large JSON column is read, migrated and verified with the column as its
//! compact text, never as a tree of the value (which takes several times its text), and the
//! reader does not keep a large record's text for the next.
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

/// Whether two files hold the same bytes, read a piece at a time: this process's peak is where
/// every child's peak starts (the kernel counts the memory a child shared before its `exec`).
fn same_bytes(a: &Path, b: &Path) -> bool {
    use std::io::Read;
    let (mut a, mut b) = (File::open(a).unwrap(), File::open(b).unwrap());
    let (mut x, mut y) = (vec![0u8; 1 << 16], vec![0u8; 1 << 16]);
    loop {
        let n = a.read(&mut x).unwrap();
        if b.read_exact(&mut y[..n]).is_err() || x[..n] != y[..n] {
            return false;
        }
        if n == 0 {
            return b.read(&mut y).unwrap() == 0;
        }
    }
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
        same_bytes(&path, &back.join("world.json")),
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
        // Measured within 1.0-1.2 of each other; the document held as a tree would add about
        // five times its 20 MB.
        assert!(
            d * 2 <= a * 3,
            "{what} of the document peaked at {d} KiB, of the same records as an array at {a} KiB: the document is being held"
        );
    }
}

/// Writes a record whose JSON field `blob` holds `items` small objects, as `JSON.stringify(x)`
/// does (a compact file, so that its text is about the column's), with the project file; gives
/// the column's size (its compact text, as the database holds it).
fn write_column(dir: &Path, items: usize) -> u64 {
    // Written as it goes: this process stays small, and a child's peak starts from its
    // parent's at fork.
    let mut w = BufWriter::new(File::create(dir.join("data.json")).unwrap());
    write!(w, "[{{\"id\":1,\"title\":\"big\",\"blob\":[").unwrap();
    // The brackets, then each item and a comma.
    let mut column = 1;
    for i in 0..items {
        // Small values: a tree of them takes about ten times their text.
        let item = format!("{{\"n\":{i},\"t\":[{i},{},true,null]}}", i % 7);
        column += item.len() as u64 + 1;
        let sep = if i == 0 { "" } else { "," };
        write!(w, "{sep}{item}").unwrap();
    }
    write!(w, "]}}]").unwrap();
    w.flush().unwrap();
    std::fs::write(
        dir.join("jsonlift.toml"),
        "[collections.data]\nsource = \"data.json\"\nkey = \"id\"\n[collections.data.fields]\nid = \"integer\"\ntitle = \"text\"\nblob = \"json\"\n",
    )
    .unwrap();
    column
}

/// The peaks (KiB) of reading, migrating, verifying and exporting the project in `dir`; checks
/// that export gives back the file byte for byte.
fn peaks(dir: &Path) -> [i64; 4] {
    let (_, read) = jsonlift(dir, &["check", "--syntax-only"]);
    let (_, migrate) = jsonlift(dir, &["migrate"]);
    let (_, verify) = jsonlift(dir, &["verify"]);
    let back = dir.join("back");
    let (_, export) = jsonlift(dir, &["export", "--out", back.to_str().unwrap()]);
    assert!(
        same_bytes(&back.join("data.json"), &dir.join("data.json")),
        "export gives back the file byte for byte"
    );
    [read, migrate, verify, export]
}

#[test]
fn a_large_json_column_is_read_stored_and_verified_as_text_not_as_a_tree() {
    let dir = tempfile::tempdir().unwrap();
    let column = write_column(dir.path(), 500_000);
    let file = std::fs::metadata(dir.path().join("data.json"))
        .unwrap()
        .len();
    assert!(column > 15_000_000, "the column is only {column} bytes");
    let big = peaks(dir.path());
    // The same commands on a small column: what the process takes anyway.
    let small = tempfile::tempdir().unwrap();
    write_column(small.path(), 10);
    let base = peaks(small.path());
    eprintln!(
        "peak resident KiB for a {} KiB JSON column ({} KiB file), and for a small one: reading it {} ({}), migrate {} ({}), verify {} ({}), export {} ({})",
        column / 1024,
        file / 1024,
        big[0],
        base[0],
        big[1],
        base[1],
        big[2],
        base[2],
        big[3],
        base[3],
    );
    // A JSON field is read as its compact text and written back from the column's text, never
    // as a tree, which takes about ten times the text here. What is held is the record's text
    // as read (or written), the column's text and SQLite's copies of it. Measured over the
    // small column's peaks in the debug build, in columns: reading 2.2, migrate 4.2, verify
    // 3.5, export 3.5; with the field as a tree (before): 10.4, 15.3, 12.0 and 10.7.
    for (what, peak, base) in [
        ("reading", big[0], base[0]),
        ("migrate", big[1], base[1]),
        ("verify", big[2], base[2]),
        ("export", big[3], base[3]),
    ] {
        let over = (peak - base) * 1024;
        assert!(
            over <= 6 * column as i64,
            "{what} took {over} bytes more for a {column}-byte JSON column: a tree of it is being held"
        );
    }
}
