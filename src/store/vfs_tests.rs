use super::*;
use std::collections::HashMap;
use std::os::unix::fs::FileExt;

const PAGE: usize = 4096;

fn page(fill: u8, n: u64) -> Vec<u8> {
    let mut p = vec![fill; PAGE];
    p[..8].copy_from_slice(&n.to_le_bytes());
    p
}

#[test]
fn pages_read_back_as_last_written_whether_held_on_their_way_or_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    File::create(&path).unwrap();
    let mut h = Held::open(&path).expect("direct I/O on the test's file system");
    let file = File::open(&path).unwrap();
    let mut model: HashMap<u64, Vec<u8>> = HashMap::new();
    let (mut held_reads, mut file_reads) = (0, 0);
    // Mostly appends (SQLite's new pages), some pages written again, far jumps, and reads.
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = 0u64;
    for i in 0..6000u64 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let n = match x % 10 {
            0..=5 => {
                next += 1;
                next - 1
            }
            6 | 7 => x / 10 % next.max(1),
            8 => next + 50 + x / 10 % 200,
            _ => {
                // A read of a page written before (or never: a short read of zeroes).
                let n = x / 10 % (next + 10);
                let mut got = vec![0u8; PAGE];
                if h.read(&mut got, n * PAGE as u64).unwrap() {
                    held_reads += 1;
                } else {
                    file_reads += 1;
                    let mut at = 0;
                    while at < PAGE {
                        match file
                            .read_at(&mut got[at..], n * PAGE as u64 + at as u64)
                            .unwrap()
                        {
                            0 => break,
                            k => at += k,
                        }
                    }
                }
                let want = model.get(&n).cloned().unwrap_or_else(|| vec![0; PAGE]);
                assert!(
                    got == want,
                    "read {i}: page {n} is not the page last written"
                );
                continue;
            }
        };
        let p = page(i as u8, n);
        h.write(&p, n * PAGE as u64).unwrap();
        model.insert(n, p);
    }
    assert!(
        held_reads > 0 && file_reads > 0,
        "{held_reads} {file_reads}"
    );
    h.drain().unwrap();
    let data = std::fs::read(&path).unwrap();
    for (n, p) in &model {
        let at = *n as usize * PAGE;
        assert!(data[at..at + PAGE] == p[..], "page {n} on disk");
    }
    assert_eq!(h.close(), ffi::SQLITE_OK);
}

#[test]
fn a_write_error_is_returned_by_the_flush_and_every_call_after() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    File::create(&path).unwrap();
    // Handles open for reading only: every write fails (EBADF).
    let mut h = Held::with(File::open(&path).unwrap(), File::open(&path).unwrap()).unwrap();
    h.write(&page(1, 0), 0).unwrap(); // held, not yet written
    assert_eq!(h.drain(), Err(ffi::SQLITE_IOERR_WRITE));
    assert_eq!(
        h.write(&page(2, 1), PAGE as u64),
        Err(ffi::SQLITE_IOERR_WRITE)
    );
    assert_eq!(h.drain(), Err(ffi::SQLITE_IOERR_WRITE));
    assert_eq!(h.close(), ffi::SQLITE_IOERR_WRITE);
    assert_eq!(std::fs::metadata(&path).unwrap().len(), 0);
}

#[test]
fn a_full_disk_is_sqlite_full_and_other_errors_are_write_errors() {
    assert_eq!(
        code(&io::Error::from_raw_os_error(libc::ENOSPC)),
        ffi::SQLITE_FULL
    );
    assert_eq!(
        code(&io::Error::from_raw_os_error(libc::EFBIG)),
        ffi::SQLITE_FULL
    );
    assert_eq!(
        code(&io::Error::from_raw_os_error(libc::EIO)),
        ffi::SQLITE_IOERR_WRITE
    );
}

#[test]
fn a_run_the_file_system_refuses_to_take_directly_is_written_the_ordinary_way() {
    use std::os::unix::fs::OpenOptionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let plain = File::create(&path).unwrap();
    let direct = std::fs::OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_DIRECT)
        .open(&path)
        .unwrap();
    let mut direct = Some(direct);
    let mut b = block();
    b.0.fill(9);
    // Not on a block boundary: EINVAL.
    write_run(&mut direct, &plain, 100, &[b]).unwrap();
    assert!(direct.is_none(), "direct writing stays off once refused");
    let data = std::fs::read(&path).unwrap();
    assert_eq!(data.len(), 100 + PAGE);
    assert!(data[100..].iter().all(|&b| b == 9));
}

/// The same statements on the default VFS and on the shim, with a cache small enough that
/// SQLite writes pages out and reads them again mid-transaction.
fn build(path: &Path, shim: bool) -> Vec<String> {
    let conn = if shim {
        register().unwrap();
        Connection::open_with_flags_and_vfs(path, rusqlite::OpenFlags::default(), NAME).unwrap()
    } else {
        Connection::open(path).unwrap()
    };
    conn.execute_batch(
        "PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF; PRAGMA cache_size=20;
         CREATE TABLE t (id INTEGER PRIMARY KEY, k TEXT UNIQUE, v TEXT);
         BEGIN;
         WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 20000)
         INSERT INTO t SELECT i, hex(randomblob(8)) || i, printf('%.*c', i % 500, 'x') FROM n;
         UPDATE t SET v = v || 'y' WHERE id % 7 = 0;
         DELETE FROM t WHERE id % 11 = 0;",
    )
    .unwrap();
    let mid: String = conn
        .query_row("SELECT count(*) || ':' || sum(length(v)) FROM t", [], |r| {
            r.get(0)
        })
        .unwrap();
    conn.execute_batch(
        "COMMIT; PRAGMA journal_mode=WAL; INSERT INTO t (k, v) VALUES ('last', 'z');",
    )
    .unwrap();
    flush(&conn).unwrap();
    drop(conn);
    let conn = Connection::open(path).unwrap();
    let check: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    let mode: String = conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    let rows: String = conn
        .query_row(
            "SELECT count(*) || ':' || sum(length(v)) || ':' || sum(id) FROM t",
            [],
            |r| r.get(0),
        )
        .unwrap();
    vec![mid, check, mode, rows]
}

#[test]
fn a_database_built_through_the_shim_is_the_database_sqlite_builds_alone() {
    let dir = tempfile::tempdir().unwrap();
    let before = direct_bytes();
    let plain = build(&dir.path().join("plain.db"), false);
    let shim = build(&dir.path().join("shim.db"), true);
    assert_eq!(plain[1], "ok");
    assert_eq!(plain[2], "wal");
    assert_eq!(shim, plain);
    assert!(
        direct_bytes() - before > 1 << 20,
        "the pages went around the page cache"
    );
}
