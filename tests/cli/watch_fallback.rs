//! The fallback of `serve --watch` (issue #15, item 5), on real files: a SQLite database that
//! is corrupt at start, or deleted or corrupted while serving, makes the server answer reads
//! from the files (`state` = `fallback` in `/_admin/sync`, writes 503 with `Retry-After`),
//! rebuild the database from the files, keep the broken one aside, and go back in sync with
//! the data right. To see the fallback without racing the rebuild, a persona file is broken
//! first: the files do not migrate, so the rebuild waits until the test fixes the file.
//!
//! On PostgreSQL (tests named `postgres_*`, against `JSONLIFT_TEST_POSTGRES`): a server that
//! cannot be reached at start or goes away while serving (the project reaches it through a
//! [`Relay`] the test takes down and brings back, since the machine's server must keep running),
//! and the project's tables dropped while serving, rebuilt from the files.

use std::fs;
use std::io::ErrorKind;
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use jsonlift::json::Value;

use crate::postgres::{PgSchema, example_on};
use crate::serve::{Server, call, example};
use crate::util::*;
use crate::watch::{field, get, persona, sync_state, wait_field, wait_for};

/// The database checked every second, so a file deleted under the server is noticed quickly.
const SYNC: &str = "[sync]\ndebounce_ms = 100\ncheck_secs = 1\n";

const BROKEN: &str = "{\n  \"id\": \"broken\",\n  \"name\": \n}\n";

fn state_is(s: &Server, want: &str) -> Option<Value> {
    let v = sync_state(s);
    (field(&v, "state").as_deref() == Some(want)).then_some(v)
}

/// The files in the project folder whose names start with `prefix`.
fn files_starting(p: &Project, prefix: &str) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = fs::read_dir(&p.root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|f| {
            f.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with(prefix))
        })
        .collect();
    out.sort();
    out
}

/// `PATCH /api/personas/zhang-wei` with a new name.
fn rename_zhang(s: &Server, name: &str) -> crate::serve::Resp {
    let body = format!(r#"{{"name": "{name}"}}"#);
    call(
        "PATCH",
        &s.url("/api/personas/zhang-wei"),
        None,
        Some(&body),
    )
}

/// Garbage over the first 64 bytes of the database (SQLite's header): it no longer opens.
/// Returns the bytes written.
fn corrupt(db: &std::path::Path) -> Vec<u8> {
    let mut bytes = fs::read(db).unwrap();
    bytes[..64].copy_from_slice(&[b'!'; 64]);
    fs::write(db, &bytes).unwrap();
    bytes
}

/// While in fallback: reads answer from the files (an edit on disk shows at once), a write is
/// refused with 503 and Retry-After, and nothing of it reaches the files.
fn reads_from_the_files_and_refuses_writes(p: &Project, s: &Server, name: &str) {
    let rel = "personas/lena-weber.json";
    let text = String::from_utf8(p.read(rel)).unwrap();
    let current = field(&get(s, "/api/personas/lena-weber").1, "name").unwrap();
    p.write(
        rel,
        text.replace(&format!("\"{current}\""), &format!("\"{name}\"")),
    );
    wait_field(s, "/api/personas/lena-weber", "name", name);
    let (st, list) = get(s, "/api/personas");
    assert_eq!(st, 200, "{list:?}");
    let before = p.read("personas/zhang-wei.json");
    let r = rename_zhang(s, "Not now");
    assert_eq!(r.status, 503, "{}", r.body);
    assert_eq!(r.header("retry-after"), Some("1"));
    assert_eq!(p.read("personas/zhang-wei.json"), before);
}

#[test]
fn a_database_corrupt_at_start_is_served_from_the_files_and_rebuilt() {
    if crate::backend::sqlite_only("fallback at start", "the fallback is SQLite's") {
        return;
    }
    let p = example("personas", SYNC);
    let db = p.db_path();
    let bytes = corrupt(&db);
    p.write("personas/broken.json", BROKEN);

    let s = Server::start(&p, &["--watch"], &[]);
    let v = wait_for("the fallback", || state_is(&s, "fallback"));
    assert!(
        field(&v, "fallback").is_some_and(|w| w.contains("studio.db")),
        "{v:?}"
    );
    reads_from_the_files_and_refuses_writes(&p, &s, "Lena (fallback)");

    // The broken file fixed: the files migrate, the database is rebuilt and used again.
    p.write("personas/broken.json", persona("broken", "Fixed"));
    wait_for("in sync again", || state_is(&s, "in sync"));
    wait_field(&s, "/api/personas/broken", "name", "Fixed");
    wait_field(&s, "/api/personas/lena-weber", "name", "Lena (fallback)");
    // Writes work again, through the files as always while watched.
    rename_zhang(&s, "Back").status(200);
    assert!(
        String::from_utf8(p.read("personas/zhang-wei.json"))
            .unwrap()
            .contains("\"Back\"")
    );
    // The broken database is kept aside as it was, never deleted.
    let kept = files_starting(&p, "studio.db.broken-");
    let main: Vec<&PathBuf> = kept
        .iter()
        .filter(|f| {
            !f.to_string_lossy().ends_with("-wal") && !f.to_string_lossy().ends_with("-shm")
        })
        .collect();
    assert_eq!(main.len(), 1, "{kept:?}");
    assert_eq!(fs::read(main[0]).unwrap(), bytes);
    assert!(s.log().contains("rebuilt from the files"), "{}", s.log());
    assert_eq!(s.stop(), Some(0));
    // The rebuilt database and the files agree.
    p.jl(&["verify"]).ok();
}

#[test]
fn a_database_deleted_or_corrupted_while_serving_falls_back_and_is_rebuilt() {
    if crate::backend::sqlite_only("fallback while serving", "the fallback is SQLite's") {
        return;
    }
    let p = example("personas", SYNC);
    let db = p.db_path();
    let s = Server::start(&p, &["--watch"], &[]);
    wait_for("the initial sync", || state_is(&s, "in sync"));

    // Deleted while serving (the server's connections still read the unlinked file).
    p.write("personas/broken.json", BROKEN);
    wait_for("the broken file reported", || state_is(&s, "degraded"));
    fs::remove_file(&db).unwrap();
    wait_for("the fallback after the delete", || state_is(&s, "fallback"));
    reads_from_the_files_and_refuses_writes(&p, &s, "Lena (deleted)");
    p.write("personas/broken.json", persona("broken", "Fixed once"));
    wait_for("in sync after the delete", || state_is(&s, "in sync"));
    assert!(db.exists());
    wait_field(&s, "/api/personas/broken", "name", "Fixed once");
    wait_field(&s, "/api/personas/lena-weber", "name", "Lena (deleted)");

    // Corrupted while serving: garbage over the header of the rebuilt file.
    p.write("personas/broken.json", BROKEN);
    wait_for("the broken file reported", || state_is(&s, "degraded"));
    let bytes = corrupt(&db);
    wait_for("the fallback after the corruption", || {
        state_is(&s, "fallback")
    });
    reads_from_the_files_and_refuses_writes(&p, &s, "Lena (corrupted)");
    p.write("personas/broken.json", persona("broken", "Fixed twice"));
    wait_for("in sync after the corruption", || state_is(&s, "in sync"));
    wait_field(&s, "/api/personas/broken", "name", "Fixed twice");
    wait_field(&s, "/api/personas/lena-weber", "name", "Lena (corrupted)");
    // An edit on disk is applied by the sync again, and a write goes through.
    p.write("personas/sam-rivera.json", persona("sam-rivera", "Sam R."));
    wait_field(&s, "/api/personas/sam-rivera", "name", "Sam R.");
    rename_zhang(&s, "Back again").status(200);
    // The corrupted file is kept aside byte for byte.
    let kept = files_starting(&p, "studio.db.broken-");
    assert!(
        kept.iter()
            .any(|f| fs::read(f).is_ok_and(|b| b.len() > 64 && b[..64] == bytes[..64])),
        "{kept:?}"
    );
    assert_eq!(s.stop(), Some(0));
    p.jl(&["verify"]).ok();
}

/// A TCP relay to the PostgreSQL server, on a port of its own: the server as the project
/// reaches it, which the test takes away (the port closed, every connection through it cut)
/// and brings back on the same port.
struct Relay {
    port: u16,
    /// `host:port` of the real server.
    target: String,
    listening: Option<(Arc<AtomicBool>, JoinHandle<()>)>,
    streams: Arc<Mutex<Vec<TcpStream>>>,
}

impl Relay {
    /// A relay to the server of `url`, down until [`Relay::up`].
    fn new(url: &str) -> Relay {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        Relay {
            port,
            target: host_port(url).to_string(),
            listening: None,
            streams: Arc::default(),
        }
    }

    /// `url` with the relay's address in place of the server's.
    fn url(&self, url: &str) -> String {
        url.replace(host_port(url), &format!("127.0.0.1:{}", self.port))
    }

    fn up(&mut self) {
        let listener = TcpListener::bind(("127.0.0.1", self.port)).unwrap();
        listener.set_nonblocking(true).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let (halt, streams, target) = (stop.clone(), self.streams.clone(), self.target.clone());
        let thread = std::thread::spawn(move || {
            while !halt.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((client, _)) => {
                        client.set_nonblocking(false).unwrap();
                        let Ok(server) = TcpStream::connect(&target) else {
                            continue;
                        };
                        let mut held = streams.lock().unwrap();
                        held.push(client.try_clone().unwrap());
                        held.push(server.try_clone().unwrap());
                        pipe(client.try_clone().unwrap(), server.try_clone().unwrap());
                        pipe(server, client);
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {
                        std::thread::sleep(Duration::from_millis(10))
                    }
                    Err(e) => panic!("relay: {e}"),
                }
            }
        });
        self.listening = Some((stop, thread));
    }

    fn down(&mut self) {
        if let Some((stop, thread)) = self.listening.take() {
            stop.store(true, Ordering::Relaxed);
            thread.join().unwrap();
        }
        for s in self.streams.lock().unwrap().drain(..) {
            let _ = s.shutdown(Shutdown::Both);
        }
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.down();
    }
}

/// Copies one direction of a relayed connection until either side closes.
fn pipe(mut from: TcpStream, mut to: TcpStream) {
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut from, &mut to);
        let _ = to.shutdown(Shutdown::Both);
    });
}

/// The `host:port` of a `postgres://user@host:port/db` URL.
fn host_port(url: &str) -> &str {
    let rest = &url[url.find('@').map_or("postgres://".len(), |i| i + 1)..];
    &rest[..rest.find('/').unwrap_or(rest.len())]
}

/// The personas example on a schema of the test server, migrated, with the fast sync and
/// check; and its project file's text.
fn personas_on_postgres(pg: &PgSchema) -> (Project, String) {
    let p = example_on(pg, "personas");
    let toml = format!(
        "{}\n{SYNC}",
        String::from_utf8(p.read("jsonlift.toml")).unwrap()
    );
    p.write("jsonlift.toml", &toml);
    p.jl(&["migrate", "-q"]).ok();
    (p, toml)
}

/// The schemas the fallback kept aside for `pg`.
fn kept_aside(pg: &PgSchema) -> Vec<String> {
    pg.q(&format!(
        "SELECT nspname FROM pg_namespace WHERE nspname LIKE '{}\\_broken\\_%' ORDER BY 1",
        pg.name
    ))
    .into_iter()
    .map(|r| r[0].clone().unwrap())
    .collect()
}

#[test]
fn postgres_server_unreachable_at_start_or_while_serving_is_waited_for_on_the_files() {
    let Some(url) = crate::postgres::server(
        "postgres_server_unreachable_at_start_or_while_serving_is_waited_for_on_the_files",
    ) else {
        return;
    };
    let pg = PgSchema::new(&url);
    let (p, toml) = personas_on_postgres(&pg);
    // From now on the project reaches the server through the relay, which is down.
    let mut relay = Relay::new(&url);
    p.write("jsonlift.toml", toml.replace(&url, &relay.url(&url)));

    let s = Server::start(&p, &["--watch"], &[]);
    let v = wait_for("the fallback at start", || state_is(&s, "fallback"));
    assert!(
        field(&v, "fallback").is_some_and(|w| w.contains("cannot reach")),
        "{v:?}"
    );
    reads_from_the_files_and_refuses_writes(&p, &s, "Lena (server away)");

    // The server answers: the tables are sound, so they are used as they are, with the edit
    // made meanwhile applied.
    relay.up();
    wait_for("in sync once the server answers", || {
        state_is(&s, "in sync")
    });
    wait_field(&s, "/api/personas/lena-weber", "name", "Lena (server away)");
    rename_zhang(&s, "Back").status(200);

    // Gone while serving: every connection cut, the port closed.
    relay.down();
    wait_for("the fallback while serving", || state_is(&s, "fallback"));
    reads_from_the_files_and_refuses_writes(&p, &s, "Lena (gone again)");
    relay.up();
    wait_for("in sync again", || state_is(&s, "in sync"));
    wait_field(&s, "/api/personas/lena-weber", "name", "Lena (gone again)");
    assert!(s.log().contains("is reachable again"), "{}", s.log());
    // Nothing was rebuilt: no schema kept aside.
    assert_eq!(kept_aside(&pg), Vec::<String>::new());
    assert_eq!(s.stop(), Some(0));
    p.jl(&["verify"]).ok();
}

#[test]
fn postgres_tables_dropped_while_serving_are_rebuilt_from_the_files() {
    let Some(url) =
        crate::postgres::server("postgres_tables_dropped_while_serving_are_rebuilt_from_the_files")
    else {
        return;
    };
    let pg = PgSchema::new(&url);
    let (p, _) = personas_on_postgres(&pg);
    let s = Server::start(&p, &["--watch"], &[]);
    wait_for("the initial sync", || state_is(&s, "in sync"));

    // A broken file first, so the rebuild waits until the test has seen the fallback.
    p.write("personas/broken.json", BROKEN);
    wait_for("the broken file reported", || state_is(&s, "degraded"));
    pg.sql(&format!("DROP TABLE {}.personas CASCADE", pg.name));
    let v = wait_for("the fallback", || state_is(&s, "fallback"));
    assert!(
        field(&v, "fallback").is_some_and(|w| w.contains("personas")),
        "{v:?}"
    );
    reads_from_the_files_and_refuses_writes(&p, &s, "Lena (table dropped)");

    // Fixed: the files migrate into a new schema, which takes the project's schema's place.
    p.write("personas/broken.json", persona("broken", "Fixed"));
    wait_for("in sync again", || state_is(&s, "in sync"));
    wait_field(&s, "/api/personas/broken", "name", "Fixed");
    wait_field(
        &s,
        "/api/personas/lena-weber",
        "name",
        "Lena (table dropped)",
    );
    rename_zhang(&s, "Back").status(200);
    assert!(
        String::from_utf8(p.read("personas/zhang-wei.json"))
            .unwrap()
            .contains("\"Back\"")
    );
    // What was left of the damaged schema is kept aside, its other tables as they were.
    let kept = kept_aside(&pg);
    assert_eq!(kept.len(), 1, "{kept:?}");
    let prompts = pg.q1(&format!("SELECT count(*) FROM {}.prompts", kept[0]));
    assert_eq!(prompts, pg.q1("SELECT count(*) FROM prompts"));
    assert_ne!(prompts, "0");
    assert!(s.log().contains("rebuilt from the files"), "{}", s.log());
    assert_eq!(s.stop(), Some(0));
    p.jl(&["verify"]).ok();
    for k in kept {
        pg.sql(&format!("DROP SCHEMA {k} CASCADE"));
    }
}

/// A folder synced at once (a batch of 100 files or more) refreshes PostgreSQL's statistics of
/// the collection's table: a lookup by key planned while the table was near-empty would
/// otherwise scan the whole table for every file that follows (the initial sync of 10,000 new
/// files took 20 s there; BENCHMARKS.md).
#[test]
fn postgres_a_folder_synced_at_once_refreshes_the_statistics_of_its_table() {
    let Some(url) = crate::postgres::server(
        "postgres_a_folder_synced_at_once_refreshes_the_statistics_of_its_table",
    ) else {
        return;
    };
    let pg = PgSchema::new(&url);
    let (p, _) = personas_on_postgres(&pg);
    let analyzed = || {
        pg.q1(
            "SELECT analyze_count::text FROM pg_stat_user_tables WHERE schemaname = current_schema() AND relname = 'personas'",
        )
    };
    assert_eq!(analyzed(), "0");
    for i in 0..150 {
        p.write(
            &format!("personas/many-{i:03}.json"),
            crate::watch::persona(&format!("many-{i:03}"), &format!("Many {i}")),
        );
    }
    let s = Server::start(&p, &["--watch"], &[]);
    wait_for("in sync", || state_is(&s, "in sync"));
    wait_field(&s, "/api/personas/many-149", "name", "Many 149");
    assert_eq!(s.stop(), Some(0));
    p.jl(&["verify"]).ok();
    assert_ne!(analyzed(), "0", "the table's statistics were refreshed");
}
