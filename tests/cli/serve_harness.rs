//! What the serve reliability harnesses share (issue #6: crash consistency, concurrent
//! writers): writers that change records through the API and remember every write the server
//! acknowledged (2xx received), and the check that the server's records and audit log agree
//! with them. Each writer owns its own comment keys and one field of the `profile` document, so
//! the expected state is exact however the writers interleave.

use std::collections::BTreeMap;
use std::time::Duration;

use jsonlift::json::{Value, parse, to_compact_string};

/// xorshift64*: reproducible randomness without a dependency; the seed is printed by each run.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// `JSONLIFT_SEED`, or one from the clock.
pub fn seed() -> u64 {
    std::env::var("JSONLIFT_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        })
}

/// A number from the environment (the long runs), or the quick default used in CI.
pub fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

pub fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        // A watchdog, not a timing assertion: a hung server fails the run instead of blocking.
        .timeout_global(Some(Duration::from_secs(120)))
        .build()
        .into()
}

/// One request with a request id; `Err` when no answer came (the server is gone).
pub fn send(
    agent: &ureq::Agent,
    method: &str,
    url: &str,
    body: Option<&str>,
    rid: &str,
) -> Result<(u16, String), String> {
    let mut b = ureq::http::Request::builder()
        .method(method)
        .uri(url)
        .header("x-request-id", rid);
    if body.is_some() {
        b = b.header("Content-Type", "application/json");
    }
    let req = b.body(body.unwrap_or("").to_string()).unwrap();
    let mut res = agent.run(req).map_err(|e| e.to_string())?;
    let status = res.status().as_u16();
    let text = res.body_mut().read_to_string().map_err(|e| e.to_string())?;
    Ok((status, text))
}

pub fn json(text: &str) -> Value {
    parse(text.as_bytes(), 1000).unwrap_or_else(|e| panic!("not JSON: {e:?}\n{text}"))
}

/// The state one writer was told is stored.
pub struct Writer {
    pub id: usize,
    rng: Rng,
    n: u64,
    /// Own comment keys → the record as last acknowledged (`None`: deleted).
    pub comments: BTreeMap<String, Option<Value>>,
    /// Own field `w<id>` of the profile document, as last acknowledged.
    pub profile: Option<Value>,
    /// Request ids of acknowledged writes: each must have its audit entry.
    pub acked: Vec<String>,
    /// What the request left unanswered (server killed) may have changed: a comment key, or
    /// `"profile"`.
    pub pending: Option<String>,
}

impl Writer {
    pub fn new(id: usize, seed: u64) -> Writer {
        Writer {
            id,
            rng: Rng::new(seed ^ (id as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15)),
            n: 0,
            comments: BTreeMap::new(),
            profile: None,
            acked: Vec::new(),
            pending: None,
        }
    }

    fn live(&self) -> Vec<String> {
        self.comments
            .iter()
            .filter(|(_, v)| v.is_some())
            .map(|(k, _)| k.clone())
            .collect()
    }

    /// One write: insert, replace, patch or delete one of its comments, or patch the profile.
    /// `Err` when the server did not answer; a status other than 2xx panics (the writes are
    /// all valid, so any refusal is a defect: a 5xx, "database is locked", a lost key).
    pub fn step(&mut self, agent: &ureq::Agent, origin: &str) -> Result<(), String> {
        self.n += 1;
        let n = self.n;
        let rid = format!("w{}-{n}", self.id);
        let live = self.live();
        let dice = self.rng.below(100);
        let (method, path, body, target) = if dice < 10 {
            (
                "PATCH",
                "/api/profile".to_string(),
                Some(format!(r#"{{"w{}": {n}}}"#, self.id)),
                "profile".to_string(),
            )
        } else if live.is_empty() || dice < 45 {
            let key = (self.id as u64 * 10_000_000 + 1000 + n).to_string();
            (
                "POST",
                "/api/comments".into(),
                Some(format!(
                    r#"{{"id": {key}, "body": "w{} n{n} ü", "postId": 2, "meta": {{"n": {n}, "x": [1.50, "a", null]}}}}"#,
                    self.id
                )),
                key,
            )
        } else {
            let key = live[self.rng.below(live.len() as u64) as usize].clone();
            let url = format!("/api/comments/{key}");
            match dice % 3 {
                0 => ("DELETE", url, None, key),
                1 => (
                    "PUT",
                    url,
                    Some(format!(
                        r#"{{"body": "replaced n{n}", "postId": 4, "email": "w{}@x.de"}}"#,
                        self.id
                    )),
                    key,
                ),
                _ => (
                    "PATCH",
                    url,
                    Some(format!(r#"{{"body": "patched n{n}", "likes": {n}}}"#)),
                    key,
                ),
            }
        };
        self.pending = Some(target.clone());
        let (status, text) = send(
            agent,
            method,
            &format!("{origin}{path}"),
            body.as_deref(),
            &rid,
        )?;
        assert!(
            (200..300).contains(&status),
            "{method} {path} {body:?} ({rid}): {status}\n{text}"
        );
        self.pending = None;
        self.acked.push(rid);
        if target == "profile" {
            self.profile = json(&text).get(&format!("w{}", self.id)).cloned();
        } else if method == "DELETE" {
            self.comments.insert(target, None);
        } else {
            self.comments.insert(target, Some(json(&text)));
        }
        Ok(())
    }
}

/// Every record of each collection, by key (the profile document under `""`).
pub type Records = BTreeMap<String, BTreeMap<String, Value>>;

/// The records of a json-server `db.json`.
pub fn records_of_db_json(text: &[u8]) -> Records {
    let db = parse(text, 1000).unwrap();
    let mut out = Records::new();
    for c in ["posts", "comments"] {
        let Some(Value::Array(a)) = db.get(c) else {
            panic!("no {c}")
        };
        out.insert(
            c.into(),
            a.iter()
                .map(|r| (to_compact_string(r.get("id").unwrap()), r.clone()))
                .collect(),
        );
    }
    out.insert(
        "profile".into(),
        [(String::new(), db.get("profile").unwrap().clone())].into(),
    );
    out
}

/// What the server serves now.
pub fn served(agent: &ureq::Agent, origin: &str) -> Records {
    let (_, text) = send(agent, "GET", &format!("{origin}/db"), None, "check-db").unwrap();
    records_of_db_json(text.as_bytes())
}

/// Every audit entry, oldest first (paged through `after`).
pub fn audit(agent: &ureq::Agent, origin: &str) -> Vec<Value> {
    let mut all = Vec::new();
    let mut after = 0i64;
    loop {
        let url = format!("{origin}/_admin/audit?after={after}&limit=10000");
        let (status, text) = send(agent, "GET", &url, None, "check-audit").unwrap();
        assert_eq!(status, 200, "{text}");
        let Value::Array(page) = json(&text) else {
            panic!()
        };
        let Some(last) = page.last() else { break };
        after = to_compact_string(last.get("id").unwrap()).parse().unwrap();
        all.extend(page);
    }
    all
}

/// Figures of one check.
#[derive(Default, Debug)]
pub struct Checked {
    /// Acknowledged writes whose audit entry was found.
    pub acked: usize,
    /// Records and document fields compared with what their writer was last told.
    pub compared: usize,
    /// Writes answered by nobody that had nevertheless been done (kept: they are in the log).
    pub unanswered_done: usize,
}

/// The served data is what the writers were last told, bar an unanswered write (which may or
/// may not have happened: its writer adopts what is there); every acknowledged write has its
/// audit entry; and replaying the audit log's `new` values over `initial` gives exactly the
/// served records.
pub fn check(
    agent: &ureq::Agent,
    origin: &str,
    writers: &mut [Writer],
    initial: &Records,
) -> Checked {
    let now = served(agent, origin);
    let mut got = Checked::default();
    for w in writers.iter_mut() {
        let pending = w.pending.take();
        for (key, want) in w.comments.iter_mut() {
            let have = now["comments"].get(key);
            if have != want.as_ref() {
                assert_eq!(
                    pending.as_deref(),
                    Some(key.as_str()),
                    "writer {}: comment {key} is {have:?}, acknowledged as {want:?}",
                    w.id
                );
                got.unanswered_done += 1;
                *want = have.cloned();
            }
            got.compared += 1;
        }
        if let Some(key) = pending.as_ref().filter(|k| *k != "profile") {
            // An insert that was done but never answered.
            if let (Some(have), false) = (now["comments"].get(key), w.comments.contains_key(key)) {
                w.comments.insert(key.clone(), Some(have.clone()));
                got.unanswered_done += 1;
            }
        }
        let field = format!("w{}", w.id);
        let have = now["profile"][""].get(&field);
        if have != w.profile.as_ref() {
            assert_eq!(
                pending.as_deref(),
                Some("profile"),
                "writer {}: profile.{field} is {have:?}, acknowledged as {:?}",
                w.id,
                w.profile
            );
            w.profile = have.cloned();
            got.unanswered_done += 1;
        }
        got.compared += 1;
    }
    // Nothing else changed: every comment is either one of the source's or a writer's.
    let owned: usize = writers
        .iter()
        .map(|w| w.comments.values().filter(|v| v.is_some()).count())
        .sum();
    assert_eq!(now["comments"].len(), initial["comments"].len() + owned);
    assert_eq!(now["posts"], initial["posts"]);

    let log = audit(agent, origin);
    let ids: std::collections::HashSet<&str> = log
        .iter()
        .filter_map(|e| e.get("request_id").and_then(Value::as_str))
        .collect();
    for w in writers.iter() {
        for rid in &w.acked {
            assert!(ids.contains(rid.as_str()), "no audit entry for {rid}");
            got.acked += 1;
        }
    }
    let mut replayed = initial.clone();
    for e in &log {
        let action = e.get("action").and_then(Value::as_str).unwrap();
        if action == "migrate" {
            continue;
        }
        let coll = e.get("collection").and_then(Value::as_str).unwrap();
        let key = e
            .get("key")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let records = replayed.get_mut(coll).unwrap();
        match e.get("new") {
            Some(Value::Null) | None => {
                records.remove(&key);
            }
            Some(v) => {
                records.insert(key, v.clone());
            }
        }
    }
    assert!(
        replayed == now,
        "replaying the audit log does not give the served records"
    );
    got
}
