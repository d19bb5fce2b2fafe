//! The dashboard at `/_admin/` (issue #15) in a real browser: headless Chromium driven through
//! chromedriver, spoken to in plain WebDriver over HTTP (ureq), so no browser-automation
//! crate is needed. The page is opened on `serve --watch` of a real folder project, a token is
//! typed in, files are changed on disk, and the page must show each change by itself (its
//! event stream; the test polls the DOM with a generous deadline, never a timing assertion).
//!
//! Debian's `chromium` and `chromium-driver` are needed (.ci/run installs them); without them
//! the browser tests say loudly that they were skipped, and the checks over plain HTTP still run.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::serve::{Server, call, example};
use crate::watch::{SYNC, wait_for};

const ADMIN: &str = "dashboard-admin-token-0123";
const VIEWER: &str = "dashboard-viewer-token-0123";

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// A WebDriver session on headless Chromium, ended (and its driver stopped) when dropped.
struct Browser {
    driver: Child,
    session: String,
    agent: ureq::Agent,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// A new browser, or `None` (said loudly) when Chromium or its driver is not installed.
    fn start(test: &str) -> Option<Browser> {
        for tool in [CHROMIUM, CHROMEDRIVER] {
            if !std::path::Path::new(tool).exists() {
                eprintln!(
                    "\n!!!!!!!! SKIPPED {test}: {tool} not found (apt-get install chromium chromium-driver); the dashboard was NOT checked in a browser !!!!!!!!\n"
                );
                return None;
            }
        }
        let mut driver = Command::new(CHROMEDRIVER)
            .arg("--port=0")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let out = driver.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if let Some(rest) = line.split("started successfully on port ").nth(1) {
                    let _ = tx.send(rest.trim_end_matches('.').to_string());
                }
            }
        });
        // A watchdog, not a timing assertion: a driver that never starts fails the test.
        let port = match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(p) => p,
            Err(_) => {
                let _ = driver.kill();
                panic!("chromedriver did not say which port it listens on");
            }
        };
        let profile = tempfile::tempdir().unwrap();
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(120)))
            .build()
            .into();
        let base = format!("http://127.0.0.1:{port}");
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            // The console, to find blocked code and script errors (see `console_problems`).
            "goog:loggingPrefs": {"browser": "ALL"},
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                // No sandbox: CI runs as root, where Chromium's sandbox refuses to start.
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                         "--disable-dev-shm-usage", "--no-first-run",
                         format!("--user-data-dir={}", profile.path().display())],
            },
        }}});
        let mut b = Browser {
            driver,
            session: String::new(),
            agent,
            _profile: profile,
        };
        let v = b.send("POST", &format!("{base}/session"), Some(&caps));
        let id = v["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {v}"));
        b.session = format!("{base}/session/{id}");
        Some(b)
    }

    /// One WebDriver command; its `value`, or the test fails with the driver's message.
    fn send(&self, method: &str, url: &str, body: Option<&Value>) -> Value {
        let req = ureq::http::Request::builder()
            .method(method)
            .uri(url)
            .header("Content-Type", "application/json")
            .body(body.map(Value::to_string).unwrap_or_default())
            .unwrap();
        let mut res = self
            .agent
            .run(req)
            .unwrap_or_else(|e| panic!("{method} {url}: {e}"));
        let status = res.status().as_u16();
        let text = res.body_mut().read_to_string().unwrap();
        let v: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
        assert_eq!(status, 200, "WebDriver {method} {url} {body:?}: {text}");
        v["value"].clone()
    }

    fn command(&self, method: &str, path: &str, body: Value) -> Value {
        let body = (method == "POST").then_some(&body);
        self.send(method, &format!("{}{path}", self.session), body)
    }

    fn open(&self, url: &str) {
        self.command("POST", "/url", json!({ "url": url }));
    }

    /// Runs `script` in the page with `args` and returns what it returns.
    fn run(&self, script: &str, args: Value) -> Value {
        self.command(
            "POST",
            "/execute/sync",
            json!({"script": script, "args": args}),
        )
    }

    /// The text of the first element matching `css`, if any.
    fn text(&self, css: &str) -> Option<String> {
        let v = self.run(
            "const e = document.querySelector(arguments[0]); return e ? e.textContent : null;",
            json!([css]),
        );
        v.as_str().map(str::to_string)
    }

    /// Waits for the text of `css` to be `want`.
    #[track_caller]
    fn wait_text(&self, css: &str, want: &str) {
        wait_for(&format!("{css} showing {want:?}"), || {
            (self.text(css).as_deref() == Some(want)).then_some(())
        });
    }

    /// Waits for the text of `css` to contain `part`.
    #[track_caller]
    fn wait_contains(&self, css: &str, part: &str) {
        wait_for(&format!("{css} containing {part:?}"), || {
            self.text(css)
                .is_some_and(|t| t.contains(part))
                .then_some(())
        });
    }

    fn element(&self, css: &str) -> String {
        let v = self.command(
            "POST",
            "/element",
            json!({"using": "css selector", "value": css}),
        );
        v.as_object()
            .and_then(|o| o.values().next())
            .and_then(Value::as_str)
            .unwrap_or_else(|| panic!("no element {css}: {v}"))
            .to_string()
    }

    /// Types `text` into the field `css` as a person would (key events), then clicks `button`.
    fn type_and_click(&self, css: &str, text: &str, button: &str) {
        let field = self.element(css);
        self.command(
            "POST",
            &format!("/element/{field}/value"),
            json!({ "text": text }),
        );
        self.click(button);
    }

    fn click(&self, css: &str) {
        let b = self.element(css);
        self.command("POST", &format!("/element/{b}/click"), json!({}));
    }

    /// What the page's console says of code the Content-Security-Policy blocked (inline code,
    /// HTML from a string) and of script errors, since the last call.
    fn console_problems(&self) -> Vec<String> {
        let v = self.command("POST", "/se/log", json!({"type": "browser"}));
        v.as_array()
            .unwrap_or_else(|| panic!("no console log: {v}"))
            .iter()
            .filter(|e| matches!(e["source"].as_str(), Some("security" | "javascript")))
            .map(|e| e["message"].to_string())
            .collect()
    }

    /// How many elements match `css`.
    fn count(&self, css: &str) -> u64 {
        self.run(
            "return document.querySelectorAll(arguments[0]).length;",
            json!([css]),
        )
        .as_u64()
        .unwrap()
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            let _ = self.agent.delete(&self.session).call();
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

fn header<'a>(r: &'a crate::serve::Resp, name: &str) -> &'a str {
    r.header(name)
        .unwrap_or_else(|| panic!("no {name} header in {:?}", r.headers))
}

/// The page, script and style sheet need no token (a browser opening the page has none to
/// send), carry a strict Content-Security-Policy, and hold no inline code; the data needs an
/// admin token.
fn check_over_http(s: &Server) {
    let page = call("GET", &s.url("/_admin/"), None, None);
    assert_eq!(page.status, 200, "{}", page.body);
    assert_eq!(header(&page, "content-type"), "text/html; charset=utf-8");
    let csp = header(&page, "content-security-policy");
    for part in [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "connect-src 'self'",
        "frame-ancestors 'none'",
        "require-trusted-types-for 'script'",
    ] {
        assert!(csp.contains(part), "{part} not in {csp}");
    }
    assert!(!csp.contains("unsafe"), "{csp}");
    assert_eq!(header(&page, "x-content-type-options"), "nosniff");
    // No inline script, style or event handler: the policy would block them.
    let html = page.body.to_ascii_lowercase();
    assert!(html.contains("<script src=\"dashboard.js\" defer></script>"));
    assert_eq!(html.matches("<script").count(), 1, "{html}");
    assert!(
        !html.contains("<style") && !html.contains("style="),
        "{html}"
    );
    assert!(
        !html
            .split(|c: char| c.is_whitespace())
            .any(|w| w.starts_with("on") && w.contains('=')),
        "an inline event handler in {html}"
    );
    let js = call("GET", &s.url("/_admin/dashboard.js"), None, None);
    assert_eq!(js.status, 200);
    assert_eq!(
        header(&js, "content-type"),
        "text/javascript; charset=utf-8"
    );
    // Data is written as text, never parsed as HTML.
    for sink in [
        "innerHTML",
        "outerHTML",
        "insertAdjacentHTML",
        "document.write",
    ] {
        assert!(!js.body.contains(sink), "dashboard.js uses {sink}");
    }
    let css = call("GET", &s.url("/_admin/dashboard.css"), None, None);
    assert_eq!(css.status, 200);
    assert_eq!(header(&css, "content-type"), "text/css; charset=utf-8");

    assert_eq!(
        call("GET", &s.url("/_admin/overview"), None, None).status,
        401
    );
    let viewer = call("GET", &s.url("/_admin/events"), Some(VIEWER), None);
    assert_eq!(viewer.status, 403, "{}", viewer.body);
    let o = call("GET", &s.url("/_admin/overview"), Some(ADMIN), None);
    assert_eq!(o.status, 200, "{}", o.body);
    let o: Value = serde_json::from_str(&o.body).unwrap();
    assert_eq!(
        o["collections"][0],
        json!({"name": "personas", "route": "/api/personas", "document": false, "count": 5}),
        "{o}"
    );
    assert_eq!(o["backups"], json!(true), "{o}");
    let doc = call("GET", &s.url("/_admin/openapi.json"), Some(ADMIN), None);
    let doc: Value = serde_json::from_str(&doc.body).unwrap();
    for path in ["/_admin/overview", "/_admin/events"] {
        assert!(
            doc["paths"][path]["get"].is_object(),
            "{path} not described"
        );
    }
}

/// Stops the server with the page's event stream open: it must end the stream and exit 0
/// (killed after a minute otherwise, so a stream that holds the shutdown fails the test
/// instead of hanging it).
fn stop_with_the_page_open(s: Server) {
    let pid = s.pid() as i32;
    let done = Arc::new(AtomicBool::new(false));
    let flag = done.clone();
    std::thread::spawn(move || {
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if flag.load(Ordering::SeqCst) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        if !flag.load(Ordering::SeqCst) {
            // SAFETY: a plain signal to the server this test started (and has not reaped).
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
    });
    let code = s.stop();
    done.store(true, Ordering::SeqCst);
    assert_eq!(
        code,
        Some(0),
        "serve did not stop cleanly while the dashboard's event stream was open"
    );
}

#[test]
fn dashboard_shows_file_edits_live_in_a_browser() {
    const TEST: &str = "dashboard_shows_file_edits_live_in_a_browser";
    let tokens = format!(
        "[serve]\ntokens = {{ admin = \"env:DASHBOARD_TEST_TOKEN\", viewer = {{ token = \"{VIEWER}\", scope = \"read\" }} }}\n"
    );
    let p = example("personas", &format!("{SYNC}{tokens}"));
    let s = Server::start(&p, &["--watch"], &[("DASHBOARD_TEST_TOKEN", ADMIN)]);
    check_over_http(&s);
    let Some(b) = Browser::start(TEST) else {
        return;
    };

    // `/_admin` leads to the page, which asks for a token before showing anything.
    b.open(&s.url("/_admin"));
    wait_for("the page at /_admin/", || {
        let path = b.run("return location.pathname;", json!([]));
        (path == json!("/_admin/")).then_some(())
    });
    b.wait_contains("#message", "needs `Authorization: Bearer <token>`");
    assert_eq!(b.count("#collections tr"), 0);

    // A token without the admin scope is refused, and the page says why.
    b.type_and_click("#token", VIEWER, "#use-token");
    b.wait_contains("#message", "token viewer has scope read");
    assert_eq!(b.count("#collections tr"), 0);

    // The admin token: collections with their counts, the sync's state, the audit log.
    b.type_and_click("#token", ADMIN, "#use-token");
    b.wait_text("tr[data-collection=personas] .count", "5");
    b.wait_text("tr[data-collection=prompts] .count", "3");
    b.wait_text("#sync-state", "in sync");
    b.wait_text("#live", "live");
    wait_for("the migration in the audit log", || {
        (b.count("#audit tr[data-actor=migration]") == 2).then_some(())
    });
    assert!(
        b.run(
            "return document.getElementById('message').hidden;",
            json!([])
        ) == json!(true),
        "{:?}",
        b.text("#message")
    );

    // A file added on disk shows up by itself: the count, and the change in the audit log.
    p.write(
        "personas/neu.json",
        "{\n  \"id\": \"neu\",\n  \"name\": \"Neu Person\"\n}\n",
    );
    b.wait_text("tr[data-collection=personas] .count", "6");
    b.wait_text("tr[data-source=personas] td.num", "6");
    wait_for("the sync's insert in the audit log", || {
        (b.count("#audit tr[data-actor=sync][data-key=neu]") == 1).then_some(())
    });
    // ... and a file deleted.
    p.remove("personas/sam-rivera.json");
    b.wait_text("tr[data-collection=personas] .count", "5");

    // A broken file: the sync is degraded and the page names the file and the place, as
    // text: a file name that looks like HTML stays text.
    p.write("personas/<img src=x>.json", "{ \"id\": ");
    b.wait_text("#sync-state", "degraded");
    b.wait_contains("#sync-errors li .place", "personas/<img src=x>.json:1:");
    assert_eq!(b.count("#sync-errors img, #audit img, img"), 0);
    b.wait_text("tr[data-collection=personas] .count", "5");

    // Fixed, it applies, and the page is in sync again.
    p.write(
        "personas/<img src=x>.json",
        "{\n  \"id\": \"<img src=x>\",\n  \"name\": \"Fixed\"\n}\n",
    );
    b.wait_text("#sync-state", "in sync");
    b.wait_text("tr[data-collection=personas] .count", "6");
    assert_eq!(b.count("#sync-errors li[data-file]"), 0);
    assert_eq!(b.count("img"), 0);

    // A backup taken from the page is listed, and entered in the audit log.
    b.wait_contains("#backups", "no backups yet");
    b.click("#take-backup");
    wait_for("the backup listed", || {
        (b.count("#backups tr[data-backup]") == 1).then_some(())
    });
    b.wait_contains("#audit", "_database");

    // The token is kept for the tab: a reload shows the data without asking again.
    b.open(&s.url("/_admin/"));
    b.wait_text("tr[data-collection=personas] .count", "6");
    assert_eq!(b.console_problems(), Vec::<String>::new());

    stop_with_the_page_open(s);
}

#[test]
fn dashboard_without_watch_says_the_files_are_not_watched() {
    const TEST: &str = "dashboard_without_watch_says_the_files_are_not_watched";
    // No tokens: a loopback server, where the page needs none either.
    let p = example("personas", "");
    let s = Server::start(&p, &[], &[]);
    let Some(b) = Browser::start(TEST) else {
        return;
    };
    b.open(&s.url("/_admin/"));
    b.wait_text("tr[data-collection=personas] .count", "5");
    b.wait_text("#sync-state", "not watching");
    b.wait_contains("#sync-note", "serve --watch");
    b.wait_text("#live", "live");
    // A write through the API shows up too: the stream follows the audit log.
    let r = call(
        "POST",
        &s.url("/api/personas"),
        None,
        Some(r#"{"id": "api-made", "name": "From the API"}"#),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    b.wait_text("tr[data-collection=personas] .count", "6");
    wait_for("the API's insert in the audit log", || {
        (b.count("#audit tr[data-actor=anonymous][data-key=api-made]") == 1).then_some(())
    });
    assert_eq!(b.console_problems(), Vec::<String>::new());
    stop_with_the_page_open(s);
}
