//! A PostgreSQL `database` (issue #14, part 2 and 7): every verb that uses the database first
//! connects, and each way of failing — an unreachable server, a refused password, a missing
//! database, a server older than 12, TLS the server does not speak — is one message naming the
//! URL with its password masked, exit 2, nothing written.
//!
//! The password and version cases run against a fake server in this file that speaks just
//! enough of the v3 protocol; the missing-database, reachable and TLS cases against the real
//! server in `JSONLIFT_TEST_POSTGRES` (skipped loudly without it).

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::Command;
use std::sync::mpsc;
use std::time::Duration;

use crate::fixtures::*;
use crate::util::*;

/// The password the URLs in these tests carry: it must never be printed.
const SECRET: &str = "hunter2";

/// Every verb that works on the database, with what it needs besides `-c`.
fn database_verbs(out: &str) -> Vec<Vec<String>> {
    let v = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    vec![
        v(&["migrate"]),
        v(&["migrate", "--dry-run"]),
        v(&["verify"]),
        v(&["export", "--out", out]),
        v(&["backup"]),
        // Not `backups`: listing reads the backup folder alone, so it works with the server
        // down, when a list of backups is needed most.
        v(&["restore"]),
        v(&["codegen", "zod"]),
        v(&["serve", "--listen", "127.0.0.1:0"]),
    ]
}

/// The courses project with `database` set to `database`.
fn project(database: &str) -> Project {
    let p = Project::new(&format!("database = {database:?}\n{COURSES_TOML}"));
    p.write(COURSES_FILE, COURSES_JSON);
    p
}

/// `jsonlift <args[0]> -c <project> <args[1..]>` with the password sources under the test's
/// control: no `PGPASSWORD` unless given, no password file.
fn jl_env(p: &Project, args: &[String], pgpassword: Option<&str>) -> Run {
    let mut full = vec![
        args[0].clone(),
        "-c".into(),
        p.config().display().to_string(),
    ];
    full.extend(args[1..].iter().cloned());
    let mut cmd = Command::new(BIN);
    cmd.args(&full)
        .current_dir(&p.cwd)
        .env_remove("PGPASSWORD")
        .env("PGPASSFILE", p.outside("no-such-pgpass"));
    if let Some(pw) = pgpassword {
        cmd.env("PGPASSWORD", pw);
    }
    run_command(cmd, format!("jsonlift {}", full.join(" ")))
}

fn jl(p: &Project, args: &[&str]) -> Run {
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    jl_env(p, &args, None)
}

/// Exit 2, one `error:` line naming `masked_url` and saying `says`, no secret anywhere, nothing
/// on stdout, and nothing written: no database, no backup folder, no file named like the URL,
/// the sources untouched.
#[track_caller]
fn refused(p: &Project, before: &Snapshot, r: &Run, masked_url: &str, says: &str) {
    r.code(2).stderr_has(masked_url).stderr_has(says);
    assert!(
        !r.stderr.contains(SECRET) && !r.stdout.contains(SECRET),
        "the password was printed\n{r:#?}"
    );
    assert!(r.stdout.is_empty(), "stdout should be empty\n{r:#?}");
    let errors: Vec<&str> = r
        .stderr
        .lines()
        .filter(|l| l.starts_with("error:"))
        .collect();
    assert_eq!(errors.len(), 1, "one error line\n{r:#?}");
    p.assert_unchanged(before);
    p.assert_no_db();
    assert!(
        !p.path(".jsonlift").exists(),
        "a backup folder was made\n{r:#?}"
    );
    for dir in [&p.root, &p.cwd] {
        for f in walk(dir) {
            assert!(
                !f.contains("postgres") && !f.contains("127.0.0.1"),
                "a file named like the URL was made: {f}\n{r:#?}"
            );
        }
    }
}

/// Every path under `dir`, relative.
fn walk(dir: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let path = e.unwrap().path();
            out.push(path.strip_prefix(dir).unwrap().display().to_string());
            if path.is_dir() {
                stack.push(path);
            }
        }
    }
    out
}

/// A port on 127.0.0.1 nothing listens on: bound, then let go.
fn closed_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

#[test]
fn unreachable_server_is_named_with_the_password_masked() {
    let port = closed_port();
    let url = format!("postgres://app:{SECRET}@127.0.0.1:{port}/app");
    let masked = format!("postgres://app:***@127.0.0.1:{port}/app");
    let p = project(&url);
    let out = p.outside("export").display().to_string();
    for args in database_verbs(&out) {
        let before = p.snapshot();
        let r = jl_env(&p, &args, None);
        refused(
            &p,
            &before,
            &r,
            &masked,
            "is the server running? check host and port",
        );
        assert!(!p.outside("export").exists(), "export wrote\n{r:#?}");
    }
    // `--database` names the server the same way, and wins over the file's path.
    let p = project("app.db");
    let before = p.snapshot();
    let r = jl(&p, &["migrate", "--database", &url]);
    refused(
        &p,
        &before,
        &r,
        &masked,
        "cannot reach the PostgreSQL server",
    );
}

#[test]
fn check_stays_on_its_throwaway_sqlite_database() {
    // check connects to nothing (the server is not there) and names the URL masked.
    let port = closed_port();
    let p = project(&format!("postgres://app:{SECRET}@127.0.0.1:{port}/app"));
    let r = jl(&p, &["check", "--json"]);
    r.ok();
    assert_eq!(
        r.json()["database"],
        format!("postgres://app:***@127.0.0.1:{port}/app")
    );
    assert!(!r.stdout.contains(SECRET) && !r.stderr.contains(SECRET));
    p.assert_no_db();
}

#[test]
fn bad_urls_are_project_file_errors() {
    for (database, says) in [
        (
            format!("postgres://app:{SECRET}@db/app?application_name=x"),
            "does not read the URL parameter `application_name`",
        ),
        (
            format!("postgres://app:{SECRET}@db/app?sslmode=maybe"),
            "sslmode=maybe is not one of",
        ),
        (format!("mysql://app:{SECRET}@db/app"), "a mysql:// URL"),
    ] {
        let p = project(&database);
        let before = p.snapshot();
        let r = jl(&p, &["migrate"]);
        refused(&p, &before, &r, "jsonlift.toml: database: ", says);
        let p = project("app.db");
        let before = p.snapshot();
        let r = jl(&p, &["verify", "--database", &database]);
        refused(&p, &before, &r, "--database: ", says);
    }
}

// ---------------------------------------------------------------------------------------------
// A fake PostgreSQL server

/// What the fake server does once a client has sent its startup packet.
#[derive(Clone, Copy)]
enum Script {
    /// Asks for a cleartext password and refuses it (SQLSTATE 28P01).
    RefusePassword,
    /// Lets the client in and answers `SHOW server_version_num` with this number.
    Version(&'static str),
}

/// What the fake server was told.
#[derive(Debug, Default)]
struct Seen {
    ssl_requests: usize,
    params: Vec<(String, String)>,
    password: Option<String>,
    queries: Vec<String>,
}

/// Starts a fake server for one connection on 127.0.0.1; returns its port and what it will
/// have seen. It answers `N` to an SSLRequest, so `sslmode=require` fails against it.
fn fake_server(script: Script) -> (u16, mpsc::Receiver<Seen>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let Ok((mut s, _)) = listener.accept() else {
            return;
        };
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let mut seen = Seen::default();
        let _ = serve_one(&mut s, script, &mut seen);
        let _ = tx.send(seen);
    });
    (port, rx)
}

fn serve_one(s: &mut TcpStream, script: Script, seen: &mut Seen) -> std::io::Result<()> {
    // Startup packets have no type byte: length, then a code or the protocol version.
    let body = loop {
        let body = read_untyped(s)?;
        if body[..4] == 80877103u32.to_be_bytes() {
            seen.ssl_requests += 1;
            s.write_all(b"N")?;
            continue;
        }
        break body;
    };
    let mut fields = body[4..]
        .split(|&b| b == 0)
        .map(|f| String::from_utf8_lossy(f).into_owned());
    while let (Some(k), Some(v)) = (fields.next(), fields.next()) {
        if k.is_empty() {
            break;
        }
        seen.params.push((k, v));
    }
    match script {
        Script::RefusePassword => {
            send(s, b'R', &3i32.to_be_bytes())?; // AuthenticationCleartextPassword
            let (tag, body) = read_typed(s)?;
            assert_eq!(tag, b'p', "expected a PasswordMessage");
            seen.password = Some(cstr(&body));
            let user = seen
                .params
                .iter()
                .find(|(k, _)| k == "user")
                .map(|(_, v)| v.clone())
                .unwrap_or_default();
            send_error(
                s,
                "28P01",
                &format!("password authentication failed for user \"{user}\""),
            )
        }
        Script::Version(num) => {
            send(s, b'R', &0i32.to_be_bytes())?; // AuthenticationOk
            for (k, v) in [
                ("server_version", "11.22"),
                ("server_version_num", num),
                ("client_encoding", "UTF8"),
                ("server_encoding", "UTF8"),
            ] {
                send(s, b'S', format!("{k}\0{v}\0").as_bytes())?;
            }
            send(s, b'K', &[0, 0, 0, 42, 0, 0, 0, 7])?; // BackendKeyData
            send(s, b'Z', b"I")?;
            loop {
                let (tag, body) = read_typed(s)?;
                match tag {
                    b'Q' => {
                        seen.queries.push(cstr(&body));
                        answer_show(s, num)?;
                    }
                    // Terminate
                    b'X' => return Ok(()),
                    other => panic!("the fake server got message {:?}", other as char),
                }
            }
        }
    }
}

/// RowDescription, DataRow, CommandComplete, ReadyForQuery: one text column, one row.
fn answer_show(s: &mut TcpStream, value: &str) -> std::io::Result<()> {
    let mut t = Vec::new();
    t.extend(1i16.to_be_bytes());
    t.extend(b"server_version_num\0");
    t.extend(0i32.to_be_bytes()); // table oid
    t.extend(0i16.to_be_bytes()); // column number
    t.extend(25i32.to_be_bytes()); // text
    t.extend((-1i16).to_be_bytes());
    t.extend((-1i32).to_be_bytes());
    t.extend(0i16.to_be_bytes()); // text format
    send(s, b'T', &t)?;
    let mut d = Vec::new();
    d.extend(1i16.to_be_bytes());
    d.extend((value.len() as i32).to_be_bytes());
    d.extend(value.as_bytes());
    send(s, b'D', &d)?;
    send(s, b'C', b"SHOW\0")?;
    send(s, b'Z', b"I")
}

fn send_error(s: &mut TcpStream, code: &str, message: &str) -> std::io::Result<()> {
    let body = format!("SFATAL\0VFATAL\0C{code}\0M{message}\0\0");
    send(s, b'E', body.as_bytes())
}

fn send(s: &mut TcpStream, tag: u8, body: &[u8]) -> std::io::Result<()> {
    let mut m = vec![tag];
    m.extend(((body.len() + 4) as i32).to_be_bytes());
    m.extend(body);
    s.write_all(&m)
}

fn read_untyped(s: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    let mut len = [0u8; 4];
    s.read_exact(&mut len)?;
    let mut body = vec![0u8; i32::from_be_bytes(len) as usize - 4];
    s.read_exact(&mut body)?;
    Ok(body)
}

fn read_typed(s: &mut TcpStream) -> std::io::Result<(u8, Vec<u8>)> {
    let mut tag = [0u8; 1];
    s.read_exact(&mut tag)?;
    Ok((tag[0], read_untyped(s)?))
}

fn cstr(b: &[u8]) -> String {
    String::from_utf8_lossy(b.split(|&c| c == 0).next().unwrap_or(b)).into_owned()
}

fn seen(rx: &mpsc::Receiver<Seen>) -> Seen {
    rx.recv_timeout(Duration::from_secs(60))
        .expect("the fake server saw no connection")
}

#[test]
fn wrong_password_is_refused_without_printing_it() {
    let (port, rx) = fake_server(Script::RefusePassword);
    let p = project(&format!("postgres://app:{SECRET}@127.0.0.1:{port}/app"));
    let before = p.snapshot();
    let r = jl(&p, &["migrate"]);
    refused(
        &p,
        &before,
        &r,
        &format!("postgres://app:***@127.0.0.1:{port}/app"),
        "password authentication failed for user \"app\" (with the password in the URL); set the password in the URL, PGPASSWORD or ~/.pgpass",
    );
    let s = seen(&rx);
    assert_eq!(s.password.as_deref(), Some(SECRET), "{s:?}");
    assert!(s.params.contains(&("user".into(), "app".into())), "{s:?}");
    assert!(
        s.params.contains(&("database".into(), "app".into())),
        "{s:?}"
    );
    // On this machine the default is libpq's `allow`: no TLS asked for, and a wrong password
    // is not tried again with it.
    assert_eq!(s.ssl_requests, 0, "{s:?}");
    assert!(
        rx.recv_timeout(std::time::Duration::from_millis(300))
            .is_err(),
        "a second connection was made"
    );
}

/// `sslmode=prefer` written in the URL asks for TLS first and goes on without it, as libpq does.
#[test]
fn sslmode_prefer_asks_for_tls_first() {
    let (port, rx) = fake_server(Script::RefusePassword);
    let p = project(&format!(
        "postgres://app:{SECRET}@127.0.0.1:{port}/app?sslmode=prefer"
    ));
    let before = p.snapshot();
    let r = jl(&p, &["migrate"]);
    refused(
        &p,
        &before,
        &r,
        &format!("postgres://app:***@127.0.0.1:{port}/app?sslmode=prefer"),
        "password authentication failed",
    );
    assert_eq!(seen(&rx).ssl_requests, 1);
}

#[test]
fn password_from_pgpassword_is_sent_and_named_as_the_source() {
    let (port, rx) = fake_server(Script::RefusePassword);
    let p = project(&format!("postgres://app@127.0.0.1:{port}/app"));
    let before = p.snapshot();
    let r = jl_env(&p, &["backup".to_string()], Some(SECRET));
    refused(
        &p,
        &before,
        &r,
        &format!("postgres://app@127.0.0.1:{port}/app"),
        "(with the password in PGPASSWORD)",
    );
    assert_eq!(seen(&rx).password.as_deref(), Some(SECRET));
}

#[test]
fn server_older_than_12_is_refused() {
    let (port, rx) = fake_server(Script::Version("110022"));
    let p = project("app.db");
    let url = format!("postgresql://app:{SECRET}@127.0.0.1:{port}/app?sslmode=prefer");
    let before = p.snapshot();
    let r = jl(&p, &["verify", "--database", &url]);
    refused(
        &p,
        &before,
        &r,
        &format!("postgresql://app:***@127.0.0.1:{port}/app?sslmode=prefer"),
        "the server runs PostgreSQL 11.22; jsonlift needs PostgreSQL 12 or later",
    );
    let s = seen(&rx);
    assert_eq!(s.queries, ["SHOW server_version_num"], "{s:?}");
}

#[test]
fn sslmode_require_against_a_server_without_tls() {
    // The fake server answers `N` to the SSLRequest: require must not go on in the clear.
    let (port, rx) = fake_server(Script::Version("150000"));
    let p = project(&format!(
        "postgres://app:{SECRET}@127.0.0.1:{port}/app?sslmode=require"
    ));
    let before = p.snapshot();
    let r = jl(
        &p,
        &["export", "--out", &p.outside("out").display().to_string()],
    );
    refused(
        &p,
        &before,
        &r,
        &format!("postgres://app:***@127.0.0.1:{port}/app?sslmode=require: TLS failed"),
        "the server does not accept TLS connections",
    );
    let s = seen(&rx);
    assert_eq!(
        (s.ssl_requests, s.password),
        (1, None),
        "nothing after the refusal"
    );
}

// ---------------------------------------------------------------------------------------------
// The real server

/// `JSONLIFT_TEST_POSTGRES`, or `None` after saying loudly that `test` was skipped.
fn real_server(test: &str) -> Option<String> {
    match std::env::var("JSONLIFT_TEST_POSTGRES") {
        Ok(u) if !u.is_empty() => Some(u),
        _ => {
            eprintln!(
                "\n!!!!!!!! SKIPPED {test}: JSONLIFT_TEST_POSTGRES is not set \
                 (e.g. postgres://postgres@127.0.0.1:5432/test); NOT run against PostgreSQL !!!!!!!!\n"
            );
            None
        }
    }
}

/// `url` with another database name and the query replaced by `query`.
fn with_db(url: &str, dbname: &str, query: &str) -> String {
    let base = url.split('?').next().unwrap();
    let (head, _) = base.rsplit_once('/').expect("the URL names a database");
    format!("{head}/{dbname}{query}")
}

/// The real server's version as jsonlift prints it, and whether it has TLS on.
fn server_facts(url: &str) -> (String, bool) {
    let mut c = postgres::Client::connect(url, postgres::NoTls)
        .unwrap_or_else(|e| panic!("JSONLIFT_TEST_POSTGRES={url}: {e}"));
    let num: u32 = c
        .query_one("SELECT current_setting('server_version_num')::int", &[])
        .unwrap()
        .get::<_, i32>(0) as u32;
    let ssl: String = c.query_one("SHOW ssl", &[]).unwrap().get(0);
    (
        jsonlift::store::postgres::ServerVersion(num).to_string(),
        ssl == "on",
    )
}

#[test]
fn missing_database_says_how_to_create_it() {
    let Some(url) = real_server("missing_database_says_how_to_create_it") else {
        return;
    };
    let name = format!("jsonlift_no_such_db_{}", std::process::id());
    let p = project(&with_db(&url, &name, ""));
    let before = p.snapshot();
    let r = jl(&p, &["migrate"]);
    refused(
        &p,
        &before,
        &r,
        &format!("/{name}: database \"{name}\" does not exist"),
        "create it with `createdb ",
    );
}

#[test]
fn sslmode_against_the_real_server() {
    let Some(url) = real_server("sslmode_against_the_real_server") else {
        return;
    };
    let (_, has_tls) = server_facts(&url);
    let dbname = url
        .split('?')
        .next()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .to_string();
    // In a schema nothing is in: a reached server says the tables are missing (exit 1).
    let p = Project::new(&format!(
        "database = \"app.db\"\npg_schema = \"jl_no_such_schema_{}\"\n{COURSES_TOML}",
        std::process::id()
    ));
    p.write(COURSES_FILE, COURSES_JSON);
    let require = with_db(&url, &dbname, "?sslmode=require");
    let before = p.snapshot();
    let r = jl(&p, &["verify", "--database", &require]);
    if has_tls {
        // Encrypted, certificate not checked (libpq's `require`): the server is reached.
        r.code(1)
            .stderr_has("?sslmode=require (schema jl_no_such_schema_")
            .stderr_has("was never migrated into this database");
        assert!(!r.stderr.contains("TLS failed"), "{r:#?}");
        p.assert_unchanged(&before);
        // A local server's certificate is not signed by a public authority: verify-full fails.
        let full = with_db(&url, &dbname, "?sslmode=verify-full");
        let r = jl(&p, &["verify", "--database", &full]);
        refused(
            &p,
            &before,
            &r,
            "?sslmode=verify-full: TLS failed",
            "use sslmode=require to encrypt without checking it",
        );
    } else {
        refused(
            &p,
            &before,
            &r,
            "?sslmode=require: TLS failed",
            "the server does not accept TLS connections",
        );
    }
}
