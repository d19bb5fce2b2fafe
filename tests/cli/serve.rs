//! `jsonlift serve`: the real binary on a loopback port, driven by an HTTP client, on the bundled
//! examples (LernPfad: `/api/courses`, `/api/stats`; a json-server `db.json`). Responses must be
//! the source records' exact text shapes; writes visible, audited and atomic; every error status;
//! auth; concurrent writers on one server and on two servers sharing one database.

use std::fs;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use jsonlift::json::{Value, parse};

use crate::util::*;

/// A running `jsonlift serve`; killed when dropped.
pub struct Server {
    child: Child,
    /// `http://127.0.0.1:PORT`
    pub origin: String,
    log: std::path::PathBuf,
}

impl Server {
    /// Starts `jsonlift serve -c <project> --listen 127.0.0.1:0 <args>` and waits for the line
    /// that names the bound address.
    pub fn start(p: &Project, args: &[&str], env: &[(&str, &str)]) -> Server {
        let log = p.outside(&format!("serve-{}.log", crate::serve::unique()));
        let mut cmd = Command::new(BIN);
        cmd.arg("serve")
            .arg("-c")
            .arg(p.config())
            .args(["--listen", "127.0.0.1:0"])
            .args(args)
            .env_remove("JSONLIFT_TOKEN")
            .current_dir(&p.cwd)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(fs::File::create(&log).unwrap());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("start jsonlift serve");
        let out = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(out).read_line(&mut line);
            let _ = tx.send(line);
        });
        // A watchdog, not a timing assertion: a server that never starts fails the test.
        let line = rx
            .recv_timeout(Duration::from_secs(120))
            .unwrap_or_default();
        let Some(rest) = line
            .trim()
            .strip_prefix("jsonlift serve: listening on http://")
        else {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "serve did not start: {line:?}\n{}",
                fs::read_to_string(&log).unwrap_or_default()
            );
        };
        let addr = rest.split('/').next().unwrap().to_string();
        Server {
            child,
            origin: format!("http://{addr}"),
            log,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.origin)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGTERM, then the exit code once in-flight requests are done.
    pub fn stop(mut self) -> Option<i32> {
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
        self.child.wait().unwrap().code()
    }

    pub fn log(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

/// A response: status, headers (lowercase names), body text.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
    pub fn value(&self) -> Value {
        parse(self.body.as_bytes(), 1000)
            .unwrap_or_else(|e| panic!("response is not JSON: {e:?}\n{}", self.body))
    }
    #[track_caller]
    pub fn status(&self, s: u16) -> &Resp {
        assert_eq!(self.status, s, "unexpected status; body:\n{}", self.body);
        self
    }
    /// The `path`s of the problems listed in an error body.
    pub fn problem_paths(&self) -> Vec<String> {
        match self.value().get("problems") {
            Some(Value::Array(a)) => a
                .iter()
                .map(|p| p.get("path").and_then(Value::as_str).unwrap().to_string())
                .collect(),
            _ => Vec::new(),
        }
    }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into()
}

/// One request; `token` goes in `Authorization: Bearer`.
pub fn call(method: &str, url: &str, token: Option<&str>, body: Option<&str>) -> Resp {
    call_with(method, url, token, body, &[])
}

pub fn call_with(
    method: &str,
    url: &str,
    token: Option<&str>,
    body: Option<&str>,
    headers: &[(&str, &str)],
) -> Resp {
    let mut b = ureq::http::Request::builder().method(method).uri(url);
    if let Some(t) = token {
        b = b.header("Authorization", format!("Bearer {t}"));
    }
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    if body.is_some() {
        b = b.header("Content-Type", "application/json");
    }
    let req = b.body(body.unwrap_or("").to_string()).unwrap();
    let mut res = agent()
        .run(req)
        .unwrap_or_else(|e| panic!("{method} {url}: {e}"));
    Resp {
        status: res.status().as_u16(),
        headers: res
            .headers()
            .iter()
            .map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap_or("").to_string()))
            .collect(),
        body: res.body_mut().read_to_string().unwrap(),
    }
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for e in fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            fs::copy(e.path(), target).unwrap();
        }
    }
}

/// A migrated copy of `examples/<name>`, with `extra` appended to its jsonlift.toml; its
/// database on the backend of this run ([`crate::backend`]).
pub fn example(name: &str, extra: &str) -> Project {
    let p = Project::empty();
    let src = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples")
        .join(name);
    copy_dir(&src, &p.root);
    for e in fs::read_dir(&p.root).unwrap() {
        let n = e.unwrap().file_name().to_string_lossy().into_owned();
        if n.ends_with(".db") || n.contains(".db-") || n == ".jsonlift" {
            let _ = fs::remove_file(p.root.join(&n));
            let _ = fs::remove_dir_all(p.root.join(&n));
        }
    }
    let toml = fs::read_to_string(p.config()).unwrap();
    p.write("jsonlift.toml", format!("{toml}\n{extra}"));
    let mut p = p.on_test_backend();
    if p.pg.is_none() {
        let config: toml::Table = toml.parse().unwrap();
        p.db_rel = config["database"].as_str().unwrap().to_string();
    }
    p.jl(&["migrate", "-q"]).ok();
    p
}

fn source(p: &Project, rel: &str) -> Value {
    parse(&p.read(rel), 1000).unwrap()
}

const TOKEN: &str = "s3cret-token-for-tests";
const TOKENS: &str = "[serve]\ntokens = { ci = \"env:SERVE_TEST_TOKEN\" }\n";

#[test]
fn serve_lernpfad_answers_in_the_exact_source_shapes() {
    let p = example("lernpfad", "");
    let s = Server::start(&p, &[], &[]);
    let courses_text = String::from_utf8(p.read("data/courses.json")).unwrap();
    let list = call("GET", &s.url("/api/courses"), None, None);
    list.status(200);
    assert_eq!(
        list.header("content-type"),
        Some("application/json; charset=utf-8")
    );
    // Written by JSON.stringify(x, null, 2), the file is exactly the response (bar the newline).
    assert_eq!(list.body, courses_text.trim_end());
    let Value::Array(courses) = source(&p, "data/courses.json") else {
        panic!()
    };
    for c in &courses {
        let id = c.get("id").and_then(Value::as_str).unwrap();
        let one = call("GET", &s.url(&format!("/api/courses/{id}")), None, None);
        one.status(200);
        assert_eq!(one.value(), *c, "GET /api/courses/{id}");
    }
    let stats = call("GET", &s.url("/api/stats"), None, None);
    stats.status(200);
    assert_eq!(
        stats.body,
        String::from_utf8(p.read("data/stats.json"))
            .unwrap()
            .trim_end()
    );
    // Filtering by a field keeps source order.
    let cat = courses[0].get("category").and_then(Value::as_str).unwrap();
    let filtered = call(
        "GET",
        &s.url(&format!(
            "/api/courses?category={}",
            cat.replace(' ', "%20")
        )),
        None,
        None,
    );
    let want: Vec<&Value> = courses
        .iter()
        .filter(|c| c.get("category").and_then(Value::as_str) == Some(cat))
        .collect();
    let Value::Array(got) = filtered.value() else {
        panic!()
    };
    assert_eq!(got.iter().collect::<Vec<_>>(), want);
    assert_eq!(s.stop(), Some(0), "SIGTERM ends the server cleanly");
}

#[test]
fn serve_db_json_at_the_root_like_json_server() {
    let p = example("jsonserver", "");
    let s = Server::start(&p, &["--prefix", "/"], &[]);
    let db = call("GET", &s.url("/db"), None, None);
    db.status(200);
    assert_eq!(
        db.body,
        String::from_utf8(p.read("db.json")).unwrap().trim_end()
    );
    let src = source(&p, "db.json");
    let post1 = call("GET", &s.url("/posts/1"), None, None);
    post1.status(200);
    let Some(Value::Array(posts)) = src.get("posts") else {
        panic!()
    };
    assert_eq!(post1.value(), posts[0]);
    assert_eq!(
        call("GET", &s.url("/profile"), None, None).value(),
        *src.get("profile").unwrap()
    );
    // Nested: the comments that refer to post 1, in source order.
    let nested = call("GET", &s.url("/posts/1/comments"), None, None);
    nested.status(200);
    let Some(Value::Array(comments)) = src.get("comments") else {
        panic!()
    };
    let want: Vec<Value> = comments
        .iter()
        .filter(|c| c.get("postId").map(jsonlift::json::to_compact_string) == Some("1".into()))
        .cloned()
        .collect();
    assert_eq!(nested.value(), Value::Array(want));
    call("GET", &s.url("/posts/3"), None, None).status(404);
    call("GET", &s.url("/nothing/here/at/all"), None, None).status(404);
}

#[test]
fn serve_writes_are_visible_atomic_and_audited() {
    let p = example("jsonserver", TOKENS);
    let s = Server::start(&p, &[], &[("SERVE_TEST_TOKEN", TOKEN)]);
    let t = Some(TOKEN);
    let rid = [("x-request-id", "req-42")];
    // POST without an id: the next integer, placed first; number spellings kept.
    let created = call_with(
        "POST",
        &s.url("/api/posts"),
        t,
        Some(r#"{"title": "Neu", "rating": 4.50, "views": 1, "odd": 1e3}"#),
        &rid,
    );
    created.status(201);
    assert_eq!(
        created.body,
        "{\n  \"id\": 6,\n  \"title\": \"Neu\",\n  \"rating\": 4.50,\n  \"views\": 1,\n  \"odd\": 1e3\n}"
    );
    assert_eq!(created.header("location"), Some("/api/posts/6"));
    assert_eq!(created.header("x-request-id"), Some("req-42"));
    assert_eq!(
        call("GET", &s.url("/api/posts/6"), None, None).body,
        created.body
    );
    // PUT replaces (in place, key from the URL, put last when the body has none, as
    // json-server does), PATCH merges top-level fields.
    call(
        "PUT",
        &s.url("/api/posts/6"),
        t,
        Some(r#"{"title": "Ersetzt", "tags": ["a"]}"#),
    )
    .status(200);
    let patched = call(
        "PATCH",
        &s.url("/api/posts/6"),
        t,
        Some(r#"{"views": 2, "title": "Gepatcht"}"#),
    );
    patched.status(200);
    assert_eq!(
        jsonlift::json::to_compact_string(&patched.value()),
        r#"{"title":"Gepatcht","tags":["a"],"id":6,"views":2}"#
    );
    let doc = call(
        "PATCH",
        &s.url("/api/profile"),
        t,
        Some(r#"{"bio": "neu"}"#),
    );
    doc.status(200);
    assert_eq!(
        jsonlift::json::to_compact_string(&doc.value()),
        r#"{"name":"typicode","bio":"neu","location":"Paris"}"#
    );
    // DELETE cascades to the comments of the post, as the schema says.
    call("DELETE", &s.url("/api/posts/1"), t, None)
        .status(200)
        .body
        .contains("{}")
        .then_some(())
        .unwrap();
    call("GET", &s.url("/api/posts/1"), None, None).status(404);
    let left = call("GET", &s.url("/api/comments?postId=1"), None, None);
    assert_eq!(left.value(), Value::Array(Vec::new()));
    // Import: all or nothing.
    let bad = call(
        "POST",
        &s.url("/api/posts/_import"),
        t,
        Some(r#"[{"title": "ok"}, {"title": 5}, {"id": 2, "title": "dup"}]"#),
    );
    bad.status(422);
    assert_eq!(bad.problem_paths(), ["$[1].title", "$[2].id"]);
    call("GET", &s.url("/api/posts/7"), None, None).status(404);
    let good = call(
        "POST",
        &s.url("/api/posts/_import"),
        t,
        Some(r#"[{"title": "a"}, {"id": 70, "title": "b"}]"#),
    );
    good.status(201);
    assert_eq!(
        jsonlift::json::to_compact_string(&good.value()),
        r#"{"imported":2,"keys":["7","70"]}"#
    );
    // The audit log has every change with actor and request id, old and new records.
    call("GET", &s.url("/_admin/audit"), None, None).status(401);
    let log = call(
        "GET",
        &s.url("/_admin/audit?collection=posts&key=6"),
        t,
        None,
    );
    log.status(200);
    let Value::Array(entries) = log.value() else {
        panic!()
    };
    let actions: Vec<&str> = entries
        .iter()
        .map(|e| e.get("action").and_then(Value::as_str).unwrap())
        .collect();
    assert_eq!(actions, ["insert", "update", "update"]);
    assert_eq!(
        entries[0].get("request_id").and_then(Value::as_str),
        Some("req-42")
    );
    assert_eq!(entries[0].get("actor").and_then(Value::as_str), Some("ci"));
    assert_eq!(entries[0].get("new"), Some(&created.value()));
    assert_eq!(entries[2].get("new"), Some(&patched.value()));
    let all = call("GET", &s.url("/_admin/audit"), t, None).value();
    let Value::Array(all) = all else { panic!() };
    let count = |a: &str| {
        all.iter()
            .filter(|e| e.get("action").and_then(Value::as_str) == Some(a))
            .count()
    };
    assert_eq!(
        (
            count("migrate"),
            count("insert"),
            count("update"),
            count("delete"),
            count("import")
        ),
        (3, 1, 3, 1, 2)
    );
    let since = entries[1].get("at").and_then(Value::as_str).unwrap();
    let later = call(
        "GET",
        &s.url(&format!("/_admin/audit?collection=posts&since={since}")),
        t,
        None,
    )
    .value();
    let Value::Array(later) = later else { panic!() };
    assert!(
        later.len() >= 4 && later.len() < all.len(),
        "{}",
        later.len()
    );
    let health = call("GET", &s.url("/_admin/health"), t, None);
    health.status(200);
    assert!(
        health.body.contains("\"integrity\": \"ok\""),
        "{}",
        health.body
    );
}

#[test]
fn serve_reports_every_error_with_its_status() {
    let p = example("jsonserver", "[serve]\nmax_body_bytes = 4096\n");
    let s = Server::start(&p, &[], &[]);
    let post = |body: &str| call("POST", &s.url("/api/posts"), None, Some(body));
    // 400: not JSON (with the place), not an object, no body.
    let r = post(r#"{"title": "x",}"#);
    r.status(400);
    assert!(r.body.contains("line 1, column"), "{}", r.body);
    post("[1]").status(400);
    call("POST", &s.url("/api/posts"), None, None).status(400);
    call("POST", &s.url("/api/posts/_import"), None, Some("{}")).status(400);
    // 422: every problem, with its path.
    let r = post(r#"{"title": 5, "views": -1, "rating": 9, "author": {"name": 1}}"#);
    r.status(422);
    assert_eq!(
        r.problem_paths(),
        ["$.title", "$.views", "$.rating", "$.author.name"]
    );
    let r = call(
        "PUT",
        &s.url("/api/posts/2"),
        None,
        Some(r#"{"id": 3, "title": "x"}"#),
    );
    r.status(422);
    assert_eq!(r.problem_paths(), ["$.id"]);
    // 404: missing records, on every verb.
    call("GET", &s.url("/api/posts/99"), None, None).status(404);
    call("GET", &s.url("/api/posts/abc"), None, None).status(404);
    call(
        "PUT",
        &s.url("/api/posts/99"),
        None,
        Some(r#"{"title": "x"}"#),
    )
    .status(404);
    call(
        "PATCH",
        &s.url("/api/posts/99"),
        None,
        Some(r#"{"title": "x"}"#),
    )
    .status(404);
    call("DELETE", &s.url("/api/posts/99"), None, None).status(404);
    call("GET", &s.url("/api/nope"), None, None).status(404);
    // 409: duplicate key, reference to a missing record.
    let r = post(r#"{"id": 2, "title": "dup"}"#);
    r.status(409);
    assert_eq!(r.problem_paths(), ["$.id"]);
    let r = call(
        "POST",
        &s.url("/api/comments"),
        None,
        Some(r#"{"body": "x", "postId": 999}"#),
    );
    r.status(409);
    assert_eq!(r.problem_paths(), ["$.postId"]);
    // 413: a body over the limit.
    let big = format!(r#"{{"title": "{}"}}"#, "x".repeat(8000));
    call("POST", &s.url("/api/posts"), None, Some(&big)).status(413);
    // Nothing of the above was written.
    let Value::Array(posts) = call("GET", &s.url("/api/posts"), None, None).value() else {
        panic!()
    };
    assert_eq!(posts.len(), 4);
    let r = call("GET", &s.url("/db"), None, None);
    assert_eq!(
        r.body,
        String::from_utf8(p.read("db.json")).unwrap().trim_end()
    );
}

#[test]
fn serve_requires_tokens_for_writes_and_admin() {
    let p = example("jsonserver", TOKENS);
    let s = Server::start(
        &p,
        &[],
        &[
            ("SERVE_TEST_TOKEN", TOKEN),
            ("JSONLIFT_TOKEN", "another-token-from-env"),
        ],
    );
    let body = Some(r#"{"title": "x"}"#);
    let r = call("POST", &s.url("/api/posts"), None, body);
    r.status(401);
    assert_eq!(r.header("www-authenticate"), Some("Bearer"));
    call(
        "POST",
        &s.url("/api/posts"),
        Some("wrong-token-wrong-token"),
        body,
    )
    .status(401);
    call("DELETE", &s.url("/api/posts/1"), Some("nope"), None).status(401);
    call("GET", &s.url("/_admin/health"), None, None).status(401);
    call("GET", &s.url("/api/posts/1"), None, None).status(200);
    call("POST", &s.url("/api/posts"), Some(TOKEN), body).status(201);
    call(
        "POST",
        &s.url("/api/posts"),
        Some("another-token-from-env"),
        body,
    )
    .status(201);
    let log = call(
        "GET",
        &s.url("/_admin/audit?collection=posts"),
        Some(TOKEN),
        None,
    );
    let actors: Vec<String> = match log.value() {
        Value::Array(a) => a
            .iter()
            .filter_map(|e| e.get("actor").and_then(Value::as_str).map(str::to_string))
            .collect(),
        _ => panic!(),
    };
    assert_eq!(actors, ["migration", "ci", "env"]);
    drop(s);

    // Protected reads.
    let p = example(
        "jsonserver",
        "[serve]\nprotect_reads = true\ntokens = { ci = \"env:SERVE_TEST_TOKEN\" }\n",
    );
    let s = Server::start(&p, &[], &[("SERVE_TEST_TOKEN", TOKEN)]);
    call("GET", &s.url("/api/posts/1"), None, None).status(401);
    call("GET", &s.url("/db"), None, None).status(401);
    call("GET", &s.url("/api/posts/1"), Some(TOKEN), None).status(200);
    drop(s);

    // No token: refuses to listen beyond loopback, and says how to fix it.
    let p = example("jsonserver", "");
    // A usage error: exit 2, as the README says of every one.
    p.jl(&["serve", "--listen", "0.0.0.0:0"])
        .code(2)
        .stderr_has("refusing to listen on 0.0.0.0:0 without a token")
        .stderr_has("JSONLIFT_TOKEN");
    // A token from the environment is enough to listen anywhere.
    let mut cmd = Command::new(BIN);
    cmd.args(["serve", "-c"])
        .arg(p.config())
        .args(["--listen", "0.0.0.0:0"])
        .env("JSONLIFT_TOKEN", "0123456789abcdefXYZ")
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut child = cmd.spawn().unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let _ = child.kill();
    let _ = child.wait();
    assert!(line.contains("listening on http://0.0.0.0:"), "{line}");
}

/// Token scopes (issue #18): a `read` token reads (protected reads included) and may look at
/// health, metrics and the API description; a `write` token also writes, with its name in the
/// audit log; only an `admin` token (or one given without a scope) reaches the audit log,
/// backups and restores. A token whose scope falls short gets 403 naming what is needed.
#[test]
fn serve_token_scopes_limit_what_a_token_may_do() {
    const READER: &str = "reader-token-0123456789";
    const WRITER: &str = "writer-token-0123456789";
    let p = example(
        "jsonserver",
        "[serve]\nprotect_reads = true\ntokens = { dash = { token = \"env:READER\", scope = \"read\" }, app = { token = \"env:WRITER\", scope = \"write\" }, ops = \"env:SERVE_TEST_TOKEN\" }\n",
    );
    let s = Server::start(
        &p,
        &[],
        &[
            ("READER", READER),
            ("WRITER", WRITER),
            ("SERVE_TEST_TOKEN", TOKEN),
        ],
    );
    let body = Some(r#"{"title": "scoped"}"#);
    for t in [READER, WRITER, TOKEN] {
        call("GET", &s.url("/api/posts/1"), Some(t), None).status(200);
        call("GET", &s.url("/db"), Some(t), None).status(200);
        call("GET", &s.url("/_admin/health"), Some(t), None).status(200);
        call("GET", &s.url("/_admin/metrics"), Some(t), None).status(200);
        call("GET", &s.url("/_admin/openapi.json"), Some(t), None).status(200);
    }
    let r = call("POST", &s.url("/api/posts"), Some(READER), body);
    r.status(403);
    assert!(
        r.body.contains("token dash has scope read")
            && r.body.contains("POST /api/posts needs scope write"),
        "{}",
        r.body
    );
    call("DELETE", &s.url("/api/posts/1"), Some(READER), None).status(403);
    call("POST", &s.url("/api/posts"), Some(WRITER), body).status(201);
    for (method, path) in [
        ("GET", "/_admin/audit"),
        ("GET", "/_admin/backups"),
        ("POST", "/_admin/backups"),
        ("POST", "/_admin/restore"),
    ] {
        for t in [READER, WRITER] {
            let r = call(
                method,
                &s.url(path),
                Some(t),
                (method == "POST").then_some("{}"),
            );
            r.status(403);
            assert!(
                r.body.contains("needs scope admin"),
                "{method} {path}: {}",
                r.body
            );
        }
    }
    // Nothing the refused requests asked for happened.
    call("GET", &s.url("/api/posts/1"), Some(READER), None).status(200);
    let log = call(
        "GET",
        &s.url("/_admin/audit?collection=posts"),
        Some(TOKEN),
        None,
    );
    log.status(200);
    let actors: Vec<String> = match log.value() {
        Value::Array(a) => a
            .iter()
            .filter_map(|e| e.get("actor").and_then(Value::as_str).map(str::to_string))
            .collect(),
        _ => panic!(),
    };
    assert_eq!(actors, ["migration", "app"]);
    call("GET", &s.url("/_admin/backups"), Some(TOKEN), None).status(200);

    drop(s);

    // A scope that does not exist is a project-file error, exit 2, that names the choices.
    let toml = String::from_utf8(p.read("jsonlift.toml")).unwrap();
    p.write("jsonlift.toml", toml.replace("\"read\"", "\"root\""));
    p.jl(&["serve"])
        .code(2)
        .stderr_has("root")
        .stderr_has("admin");
}

#[test]
fn serve_configured_routes_keep_the_apps_paths() {
    // Seed 002: /api/v1/series/:id returns a series with seasons, episodes and cast.
    let p = Project::new(
        r#"
database = "media.db"
[collections.series]
source = "series.json"
key = "id"
route = "v1/series"
[collections.series.fields]
id = "integer"
title = "text"
[collections.series.fields.seasons]
type = "array"
table = "seasons"
[collections.series.fields.seasons.fields]
number = "integer"
[collections.series.fields.seasons.fields.episodes]
type = "array"
table = "episodes"
[collections.series.fields.seasons.fields.episodes.fields]
title = "text"
[collections.series.fields.cast]
type = "array"
table = "cast_members"
[collections.series.fields.cast.fields]
name = "text"
"#,
    )
    .on_test_backend();
    let series = r#"[
  {
    "id": 7,
    "title": "Dark",
    "seasons": [
      {
        "number": 1,
        "episodes": [
          {
            "title": "Secrets"
          },
          {
            "title": "Lies",
            "runtime": 51.0
          }
        ]
      }
    ],
    "cast": [
      {
        "name": "Louis Hofmann"
      }
    ]
  }
]"#;
    p.write("series.json", series);
    p.jl(&["migrate", "-q"]).ok();
    let s = Server::start(&p, &[], &[]);
    let one = call("GET", &s.url("/api/v1/series/7"), None, None);
    one.status(200);
    let Value::Array(want) = parse(series.as_bytes(), 100).unwrap() else {
        panic!()
    };
    assert_eq!(one.value(), want[0]);
    call("GET", &s.url("/api/series/7"), None, None).status(404);
    // A bad route is refused at start, naming the key.
    let bad =
        Project::new("[collections.a]\nsource = \"a.json\"\nroute = \"_x\"\n").on_test_backend();
    bad.write("a.json", "[]");
    bad.jl(&["migrate", "-q"]).ok();
    bad.jl(&["serve", "--listen", "127.0.0.1:0"])
        .code(2)
        .stderr_has("collections.a: route \"_x\"");
    // So is a token too short to be one, and an address that is none.
    let p = example("jsonserver", "");
    let mut cmd = Command::new(BIN);
    cmd.args(["serve", "-c"])
        .arg(p.config())
        .args(["--listen", "127.0.0.1:0"])
        .env("JSONLIFT_TOKEN", "short");
    crate::util::run_command(cmd, "serve with a short token".into())
        .code(2)
        .stderr_has("at least 16 characters");
    p.jl(&["serve", "--listen", "nowhere"])
        .code(2)
        .stderr_has("--listen");
    // A prefix under /_admin would put collections among jsonlift's own routes (it panicked at
    // start with a collection routed at `health`: issue #18).
    p.jl(&["serve", "--listen", "127.0.0.1:0", "--prefix", "/_admin"])
        .code(2)
        .stderr_has("/_admin holds jsonlift's own routes");
}

#[test]
fn serve_concurrent_writers_on_two_servers_lose_nothing() {
    const THREADS: usize = 4;
    const WRITES: usize = 25;
    let p = example("jsonserver", "");
    let a = Server::start(&p, &[], &[]);
    let b = Server::start(&p, &[], &[]);
    let origins = [a.origin.clone(), b.origin.clone()];
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let origins = origins.clone();
            std::thread::spawn(move || {
                let mut ids = Vec::new();
                for i in 0..WRITES {
                    let url = format!("{}/api/comments", origins[(t + i) % 2]);
                    let body = format!(r#"{{"body": "t{t} w{i}", "postId": 2}}"#);
                    let r = call("POST", &url, None, Some(&body));
                    r.status(201);
                    ids.push(jsonlift::json::to_compact_string(
                        r.value().get("id").unwrap(),
                    ));
                    // Every other write also patches the shared profile document.
                    if i % 2 == 0 {
                        let url = format!("{}/api/profile", origins[(t + i + 1) % 2]);
                        call("PATCH", &url, None, Some(&format!(r#"{{"t{t}": {i}}}"#))).status(200);
                    }
                }
                ids
            })
        })
        .collect();
    let mut ids: Vec<String> = handles
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), THREADS * WRITES, "every insert got its own id");
    let Value::Array(comments) = call("GET", &a.url("/api/comments?postId=2"), None, None).value()
    else {
        panic!()
    };
    assert_eq!(comments.len(), THREADS * WRITES + 1);
    for t in 0..THREADS {
        for i in 0..WRITES {
            let want = format!("t{t} w{i}");
            assert!(
                comments
                    .iter()
                    .any(|c| c.get("body").and_then(Value::as_str) == Some(&want)),
                "{want} is missing"
            );
        }
    }
    let profile = call("GET", &b.url("/api/profile"), None, None).value();
    for t in 0..THREADS {
        let last = (0..WRITES).filter(|i| i % 2 == 0).max().unwrap();
        assert_eq!(
            profile
                .get(&format!("t{t}"))
                .map(jsonlift::json::to_compact_string),
            Some(last.to_string())
        );
    }
    let Value::Array(log) = call(
        "GET",
        &a.url("/_admin/audit?collection=comments"),
        None,
        None,
    )
    .value() else {
        panic!()
    };
    let inserts = log
        .iter()
        .filter(|e| e.get("action").and_then(Value::as_str) == Some("insert"))
        .count();
    assert_eq!(inserts, THREADS * WRITES);
    let logs = a.log() + &b.log();
    assert!(!logs.contains("locked"), "{logs}");
}

/// The same requests, in order, against a server.
fn script(s: &Server) -> Vec<(u16, String)> {
    let steps: &[(&str, &str, Option<&str>)] = &[
        ("GET", "/api/posts", None),
        ("GET", "/api/posts/2", None),
        (
            "POST",
            "/api/posts",
            Some(r#"{"title": "Neu", "rating": 4.50}"#),
        ),
        ("POST", "/api/posts", Some(r#"{"title": 5}"#)),
        (
            "PUT",
            "/api/posts/4",
            Some(r#"{"title": "Ersetzt", "extra": [1.0]}"#),
        ),
        ("PATCH", "/api/posts/2", Some(r#"{"views": 13}"#)),
        (
            "POST",
            "/api/comments",
            Some(r#"{"body": "b", "postId": 99}"#),
        ),
        (
            "POST",
            "/api/comments",
            Some(r#"{"body": "b", "postId": 2}"#),
        ),
        ("DELETE", "/api/posts/1", None),
        ("DELETE", "/api/posts/1", None),
        ("PATCH", "/api/profile", Some(r#"{"bio": null}"#)),
        (
            "POST",
            "/api/comments/_import",
            Some(r#"[{"body": "i", "postId": 4}]"#),
        ),
        ("GET", "/api/comments?postId=2", None),
        ("GET", "/db", None),
    ];
    steps
        .iter()
        .map(|(m, path, body)| {
            let r = call(m, &s.url(path), None, *body);
            (r.status, r.body)
        })
        .collect()
}

#[test]
fn serve_json_store_answers_exactly_like_the_database() {
    let db = example("jsonserver", "");
    let files = example("jsonserver", "");
    let before = files.read("db.json");
    let a = Server::start(&db, &[], &[]);
    let b = Server::start(&files, &["--store", "json"], &[]);
    let (x, y) = (script(&a), script(&b));
    for (i, (l, r)) in x.iter().zip(&y).enumerate() {
        assert_eq!(l, r, "step {i}: sqlite and json stores differ");
    }
    // The file was rewritten in its own formatting, and holds what /db says.
    let after = String::from_utf8(files.read("db.json")).unwrap();
    assert_ne!(after.as_bytes(), before.as_slice());
    assert_eq!(after.trim_end(), x.last().unwrap().1);
    // Its audit log is a JSON Lines file beside the project file.
    let log = call("GET", &b.url("/_admin/audit?collection=posts"), None, None).value();
    let Value::Array(log) = log else { panic!() };
    let actions: Vec<&str> = log
        .iter()
        .map(|e| e.get("action").and_then(Value::as_str).unwrap())
        .collect();
    assert_eq!(actions, ["insert", "update", "update", "delete"]);
    assert_eq!(
        fs::read_to_string(files.path(".jsonlift/audit.jsonl"))
            .unwrap()
            .lines()
            .count(),
        7
    );
    // A change made to the file by someone else is seen by the next request.
    let edited = after.replace("\"Ersetzt\"", "\"Von Hand\"");
    files.write("db.json", &edited);
    let r = call("GET", &b.url("/api/posts/4"), None, None);
    assert!(r.body.contains("Von Hand"), "{}", r.body);
}

#[test]
fn serve_json_store_two_servers_lose_no_write() {
    if crate::backend::sqlite_only(
        "serve_json_store_two_servers_lose_no_write",
        "the JSON store serves the files; no database is involved",
    ) {
        return;
    }
    const THREADS: usize = 4;
    const WRITES: usize = 10;
    let p = example("jsonserver", "");
    let a = Server::start(&p, &["--store", "json"], &[]);
    let b = Server::start(&p, &["--store", "json"], &[]);
    let origins = [a.origin.clone(), b.origin.clone()];
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let origins = origins.clone();
            std::thread::spawn(move || {
                for i in 0..WRITES {
                    let url = format!("{}/api/comments", origins[(t + i) % 2]);
                    let body = format!(r#"{{"body": "t{t} w{i}", "postId": 2}}"#);
                    call("POST", &url, None, Some(&body)).status(201);
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let file = parse(&p.read("db.json"), 100).unwrap();
    let Some(Value::Array(comments)) = file.get("comments") else {
        panic!()
    };
    assert_eq!(comments.len(), 4 + THREADS * WRITES);
    let mut ids: Vec<String> = comments
        .iter()
        .map(|c| jsonlift::json::to_compact_string(c.get("id").unwrap()))
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 4 + THREADS * WRITES);
}

/// The lock file a server holds beside the database goes with the last server (issue #16: it
/// was left behind, even by a server that refused to start).
#[test]
fn serve_leaves_no_lock_file_behind() {
    if crate::backend::sqlite_only(
        "serve_leaves_no_lock_file_behind",
        "the lock file sits beside a SQLite database; PostgreSQL is shared by design",
    ) {
        return;
    }
    let p = example("jsonserver", "");
    let lock = p.path("jsonserver.db.serve.lock");
    let a = Server::start(&p, &[], &[]);
    let b = Server::start(&p, &[], &[]);
    assert!(lock.exists(), "a running server holds {}", lock.display());
    a.stop();
    assert!(lock.exists(), "the other server still holds it");
    // A restore is refused while a server runs, through the same file.
    p.jl(&["restore"]).failed().stderr_has("jsonlift serve");
    b.stop();
    assert!(
        !lock.exists(),
        "the last server out leaves {}",
        lock.display()
    );
    // A server that refuses to start leaves nothing either.
    p.jl(&["serve", "--listen", "0.0.0.0:0"]).code(2);
    assert!(!lock.exists());
    p.jl(&["backup", "-q"]).ok();
    p.jl(&["restore", "-q"]).ok();
    assert!(!lock.exists(), "restore leaves its lock file behind");
}

/// `serve --migrate`, the container's entry point (issue #16): on a fresh project it migrates
/// and serves; on a migrated one the migration has nothing to do; sources changed since stop the
/// start, as `migrate` refuses them, and nothing is served.
#[test]
fn serve_migrate_migrates_then_serves_and_refuses_changed_sources() {
    let p = Project::empty();
    copy_dir(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/jsonserver"),
        &p.root,
    );
    let _ = fs::remove_file(p.path("jsonserver.db"));
    let s = Server::start(&p, &["--migrate"], &[]);
    call("GET", &s.url("/api/posts/1"), None, None).status(200);
    drop(s);
    assert!(p.path("jsonserver.db").exists());
    let s = Server::start(&p, &["--migrate"], &[]);
    assert!(s.log().contains("already migrated"), "{}", s.log());
    call("GET", &s.url("/api/posts"), None, None).status(200);
    drop(s);
    let text = String::from_utf8(p.read("db.json")).unwrap().replacen(
        "\"title\": \"",
        "\"title\": \"Changed ",
        1,
    );
    p.write("db.json", text);
    p.jl(&["serve", "--migrate", "--listen", "127.0.0.1:0"])
        .failed()
        .stderr_has("sources changed since the last migration");
}

/// A record of a folder collection is a file in its folder: a key that would name a file
/// outside it (`../../escaped`) is refused with 422 and nothing is stored (issue #18: it was
/// taken, and `export` then failed).
#[test]
fn serve_refuses_folder_keys_that_leave_the_folder() {
    let p = example("personas", "");
    let s = Server::start(&p, &[], &[]);
    for id in ["../../escaped", "/etc/x", "a//b", "./a"] {
        let body = format!(r#"{{"id": {id:?}, "name": "x"}}"#);
        let r = call("POST", &s.url("/api/personas"), None, Some(&body));
        r.status(422);
        assert!(
            r.body
                .contains("no file name inside the collection's folder"),
            "{}",
            r.body
        );
    }
    call(
        "POST",
        &s.url("/api/personas"),
        None,
        Some(r#"{"id": "sub/ok", "name": "x"}"#),
    )
    .status(201);
    drop(s);
    let out = p.export();
    assert!(out.join("personas/sub/ok.json").exists());
}

/// Issue #18 item 5: `hidden` fields are write-only (accepted, never returned, not filtered,
/// sorted or searched on, kept by a PUT that leaves them out, exported as stored);
/// `read_only` fields cannot be set or changed (422 naming the field); a read-only
/// collection answers writes with 405 and `Allow`.
#[test]
fn serve_hides_hidden_fields_and_guards_read_only_ones() {
    let p = Project::new(&format!(
        r#"
database = "jsonlift.db"
[collections.users]
source = "users.json"
key = "id"
[collections.users.fields]
id = "integer"
name = "text"
password = {{ type = "text", hidden = true }}
role = {{ type = "text", read_only = true }}
[collections.logs]
source = "logs.json"
key = "id"
read_only = true
[collections.logs.fields]
id = "integer"
msg = "text"
{TOKENS}"#
    ))
    .on_test_backend();
    p.write(
        "users.json",
        r#"[
  {"id": 1, "name": "ann", "password": "hash-of-ann", "role": "admin"},
  {"id": 2, "name": "bob", "password": "hash-of-bob", "role": "user"}
]
"#,
    )
    .write("logs.json", "[{\"id\": 1, \"msg\": \"started\"}]\n");
    p.migrate_ok();
    let s = Server::start(&p, &[], &[("SERVE_TEST_TOKEN", TOKEN)]);
    let t = Some(TOKEN);
    let get = |path: &str| call("GET", &s.url(path), t, None);
    for path in [
        "/api/users",
        "/api/users/1",
        "/api/users?_page=1&_limit=1",
        "/api/users?name=ann",
        "/db",
    ] {
        let r = get(path);
        r.status(200);
        assert!(
            !r.body.contains("hash-of"),
            "{path} served a hidden value: {}",
            r.body
        );
        assert!(!r.body.contains("password"), "{path}: {}", r.body);
        assert!(
            r.body.contains("ann") || path.contains("_limit"),
            "{path}: {}",
            r.body
        );
    }
    assert!(get("/api/users/1").body.contains("\"role\": \"admin\""));
    // Probing a hidden field by filter or sort is refused; `q` does not look inside it.
    for probe in [
        "password_like=%5Ehash",
        "password=hash-of-ann",
        "password_ne=x",
        "_sort=password",
        "_sort=name,password",
    ] {
        let r = get(&format!("/api/users?{probe}"));
        r.status(400);
        assert!(r.body.contains("hidden field"), "{probe}: {}", r.body);
    }
    assert_eq!(get("/api/users?q=hash-of").body, "[]");
    // Writes take a hidden field and do not answer with it.
    let created = call(
        "POST",
        &s.url("/api/users"),
        t,
        Some(r#"{"name": "cem", "password": "hash-of-cem"}"#),
    );
    created.status(201);
    assert!(!created.body.contains("hash-of"), "{}", created.body);
    // Nor does the search index a write keeps in step.
    assert_eq!(get("/api/users?q=hash-of-cem").body, "[]");
    assert_ne!(get("/api/users?q=cem").body, "[]");
    // A read-only field may not be set or changed; sending its value back is fine.
    let r = call(
        "POST",
        &s.url("/api/users"),
        t,
        Some(r#"{"name": "dan", "role": "admin"}"#),
    );
    r.status(422);
    assert_eq!(r.problem_paths(), vec!["$.role"]);
    let r = call(
        "PATCH",
        &s.url("/api/users/2"),
        t,
        Some(r#"{"role": "admin"}"#),
    );
    r.status(422);
    assert!(r.body.contains("role is read-only"), "{}", r.body);
    // A PUT of what a client saw (no password) keeps the stored hash and role.
    let put = call(
        "PUT",
        &s.url("/api/users/1"),
        t,
        Some(r#"{"name": "ann2", "role": "admin"}"#),
    );
    put.status(200);
    assert!(!put.body.contains("hash-of"), "{}", put.body);
    call(
        "PATCH",
        &s.url("/api/users/2"),
        t,
        Some(r#"{"name": "bob2", "role": "user"}"#),
    )
    .status(200);
    // A read-only collection: reads answer, writes are 405 with Allow.
    get("/api/logs").status(200);
    for (method, path, body) in [
        ("POST", "/api/logs", Some(r#"{"msg": "x"}"#)),
        ("PUT", "/api/logs/1", Some(r#"{"msg": "x"}"#)),
        ("PATCH", "/api/logs/1", Some(r#"{"msg": "x"}"#)),
        ("DELETE", "/api/logs/1", None),
        ("POST", "/api/logs/_import", Some(r#"[{"msg": "x"}]"#)),
    ] {
        let r = call(method, &s.url(path), t, body);
        r.status(405);
        assert_eq!(r.header("allow"), Some("GET, HEAD"), "{method} {path}");
        assert!(r.body.contains("read-only"), "{}", r.body);
    }
    drop(s);
    // Exports carry the stored values, hidden ones included.
    let out = p.export();
    let users = String::from_utf8(fs::read(out.join("users.json")).unwrap()).unwrap();
    for want in ["hash-of-ann", "hash-of-bob", "hash-of-cem", "ann2", "bob2"] {
        assert!(
            users.contains(want),
            "{want} missing from the export:\n{users}"
        );
    }
    let logs = String::from_utf8(fs::read(out.join("logs.json")).unwrap()).unwrap();
    assert!(!logs.contains("\"x\""), "{logs}");
}

/// `init` on a TinyDB users file marks the password hash hidden (its comment says why), so
/// `serve` never answers with it.
#[test]
fn serve_does_not_serve_the_password_hashes_of_an_initialized_tinydb() {
    let p = Project::empty();
    p.write(
        "users.json",
        r#"{"users": {"1": {"name": "ann", "email": "ann@example.org", "password_hash": "pbkdf2:sha256:600000$ab$0123"}, "2": {"name": "bob", "email": "bob@example.org", "password_hash": "pbkdf2:sha256:600000$cd$4567"}}}"#,
    );
    p.jl_raw(&p.cwd, &["init".into(), p.root.display().to_string()])
        .ok();
    let toml = String::from_utf8(p.read("jsonlift.toml")).unwrap();
    assert!(toml.contains("format = \"tinydb\""), "{toml}");
    assert!(
        toml.contains("password_hash = { type = \"text\", required = true, hidden = true }"),
        "{toml}"
    );
    assert!(
        toml.contains("# password_hash: ") && toml.contains("never returns it"),
        "the comment says why: {toml}"
    );
    p.jl(&["migrate"]).ok();
    let s = Server::start(&p, &[], &[]);
    for path in ["/api/users", "/api/users/1", "/db"] {
        let r = call("GET", &s.url(path), None, None);
        r.status(200);
        assert!(r.body.contains("ann@example.org"), "{path}: {}", r.body);
        assert!(
            !r.body.contains("pbkdf2"),
            "{path} served a hash: {}",
            r.body
        );
    }
}

/// `q=` (json-server's case-insensitive substring of any leaf) answers through the search
/// index, which every API write keeps in step in its own transaction: found after POST, moved
/// by PUT and PATCH, gone after DELETE and after a cascade. Emptying the index behind the
/// server's back makes `q=` miss (so the index is what answers), and `search = false` drops
/// it at start and scans instead, with the same answers. `_sort=_rank` puts the record where
/// the term weighs most first. Runs on both backends.
#[test]
fn serve_q_searches_through_an_index_kept_in_step_with_writes() {
    let p = example("jsonserver", TOKENS);
    let env = [("SERVE_TEST_TOKEN", TOKEN)];
    let t = Some(TOKEN);
    let ids = |s: &Server, coll: &str, query: &str| -> Vec<i64> {
        let r = call("GET", &s.url(&format!("/api/{coll}?{query}")), None, None);
        r.status(200);
        match r.value() {
            Value::Array(items) => items
                .iter()
                .map(|v| {
                    jsonlift::json::to_compact_string(v.get("id").unwrap())
                        .parse()
                        .unwrap()
                })
                .collect(),
            other => panic!("{other:?}"),
        }
    };
    // Asked for (a db.json collection has none by default): `serve` builds it at start.
    let toml = String::from_utf8(p.read("jsonlift.toml")).unwrap();
    p.write(
        "jsonlift.toml",
        toml.replace(
            "[collections.posts]\n",
            "[collections.posts]\nsearch = true\n",
        ),
    );
    let s = Server::start(&p, &[], &env);
    // Any leaf, nested and in arrays, numbers as JavaScript prints them.
    assert_eq!(ids(&s, "posts", "q=TYPICODE"), vec![1]);
    assert_eq!(ids(&s, "posts", "q=h%C3%84u%C3%9F"), vec![2]); // "hÄuß"
    assert_eq!(ids(&s, "posts", "q=sqlite"), vec![2]);
    assert_eq!(ids(&s, "posts", "q=100"), vec![1]);
    assert_eq!(ids(&s, "posts", "q=js"), vec![1, 2, 4]); // too short for the index: scanned
    assert_eq!(
        ids(&s, "posts", "q=json&published=true&_sort=views"),
        vec![2, 1]
    );
    assert_eq!(ids(&s, "comments", "q=WATCH"), vec![5]);
    let created = call(
        "POST",
        &s.url("/api/posts"),
        t,
        Some(r#"{"title": "Zebra crossing", "tags": ["Stripes"]}"#),
    );
    created.status(201);
    assert_eq!(ids(&s, "posts", "q=zebra"), vec![6]);
    assert_eq!(ids(&s, "posts", "q=stripes"), vec![6]);
    call(
        "PUT",
        &s.url("/api/posts/6"),
        t,
        Some(r#"{"title": "Okapi"}"#),
    )
    .status(200);
    assert_eq!(ids(&s, "posts", "q=zebra"), Vec::<i64>::new());
    assert_eq!(ids(&s, "posts", "q=okapi"), vec![6]);
    call(
        "PATCH",
        &s.url("/api/posts/6"),
        t,
        Some(r#"{"title": "Gnu"}"#),
    )
    .status(200);
    assert_eq!(ids(&s, "posts", "q=okapi"), Vec::<i64>::new());
    call("DELETE", &s.url("/api/posts/6"), t, None).status(200);
    assert_eq!(ids(&s, "posts", "q=gnu"), Vec::<i64>::new());
    // Deleting post 1 takes its comments along (on_delete = cascade).
    call("DELETE", &s.url("/api/posts/1"), t, None).status(200);
    assert_eq!(ids(&s, "comments", "q=WATCH"), Vec::<i64>::new());
    // Ranked: the post whose text is most about the term first, whatever the storage order.
    for title in [
        "kiwi notes on many other fruits and trees",
        "kiwi kiwi kiwi",
    ] {
        let body = format!(r#"{{"title": "{title}"}}"#);
        call("POST", &s.url("/api/posts"), t, Some(&body)).status(201);
    }
    assert_eq!(ids(&s, "posts", "q=kiwi"), vec![6, 7]);
    assert_eq!(ids(&s, "posts", "q=kiwi&_sort=_rank"), vec![7, 6]);
    assert_eq!(ids(&s, "posts", "q=kiwi&_sort=_rank&_limit=1"), vec![7]);
    drop(s);
    // The index is what answers: emptied behind the server's back, `q=` finds nothing.
    p.exec("DELETE FROM _jsonlift_search_posts");
    let s = Server::start(&p, &[], &env);
    assert_eq!(ids(&s, "posts", "q=kiwi"), Vec::<i64>::new());
    drop(s);
    // Turned off: dropped at start; the records are scanned, with json-server's answers.
    let toml = String::from_utf8(p.read("jsonlift.toml")).unwrap();
    let toml = toml.replace("search = true\n", "search = false\n");
    p.write("jsonlift.toml", toml);
    let s = Server::start(&p, &[], &env);
    assert_eq!(ids(&s, "posts", "q=kiwi"), vec![6, 7]);
    assert_eq!(ids(&s, "posts", "q=kiwi&_sort=_rank"), vec![6, 7]);
}
