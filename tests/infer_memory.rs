//! `jsonlift infer` streams: memory stays flat however large the input. A file of about 64 MB
//! with a key field, a reference-like field, an enum, timestamps, tags and nested arrays is
//! inferred by a process whose peak resident memory is well under the file's size.
//!
//! A test binary of its own, so that the peak reported for this process's children is the
//! inference's and nothing else's.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::process::Command;

const RECORDS: usize = 400_000;

fn max_rss_of_children_kb() -> i64 {
    // SAFETY: getrusage only writes into the struct we pass.
    unsafe {
        let mut ru: libc::rusage = std::mem::zeroed();
        assert_eq!(libc::getrusage(libc::RUSAGE_CHILDREN, &mut ru), 0);
        ru.ru_maxrss
    }
}

#[test]
fn inference_memory_stays_flat() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.json");
    let mut w = BufWriter::new(File::create(&path).unwrap());
    w.write_all(b"[\n").unwrap();
    for i in 0..RECORDS {
        let sep = if i + 1 < RECORDS { "," } else { "" };
        writeln!(
            w,
            "  {{\"id\": {i}, \"user_id\": {}, \"kind\": \"{}\", \"at\": \"2024-{:02}-{:02}T10:00:00Z\", \
             \"amount\": {}.{:02}, \"note\": \"event number {i} with some text to make records realistic\", \
             \"tags\": [\"t{}\", \"t{}\"], \"items\": [{{\"sku\": \"S{}\", \"qty\": {}}}]}}{sep}",
            i % 5000,
            ["click", "view", "buy"][i % 3],
            1 + i % 12,
            1 + i % 28,
            i % 1000,
            i % 100,
            i % 7,
            i % 11,
            i % 100,
            1 + i % 5
        )
        .unwrap();
    }
    w.write_all(b"]\n").unwrap();
    w.flush().unwrap();
    drop(w);
    let size = std::fs::metadata(&path).unwrap().len();
    assert!(size > 60 << 20, "fixture is only {size} bytes");

    let out = Command::new(env!("CARGO_BIN_EXE_jsonlift"))
        .arg("infer")
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains(&format!(
            "\"id\" is in {RECORDS}/{RECORDS} records, never null, all distinct → primary key"
        )),
        "{text}"
    );
    assert!(
        text.contains("enum = [\"click\", \"view\", \"buy\"]"),
        "{text}"
    );

    let peak_kb = max_rss_of_children_kb();
    let file_kb = (size / 1024) as i64;
    eprintln!("peak resident memory of jsonlift infer: {peak_kb} KiB for a {file_kb} KiB file");
    assert!(
        peak_kb < file_kb / 2,
        "peak resident memory {peak_kb} KiB for a {file_kb} KiB file: the input is being held"
    );
}
