//! The fallback of `serve --watch` (issue #15, item 5): when the SQLite database cannot be
//! opened or fails its check — at start, or while serving (a periodic `PRAGMA quick_check` and
//! a look that the path still names the file opened; any read or write that meets a corrupt
//! page or an I/O error) — the server keeps answering reads from the files themselves (the
//! JSON store, as `serve --store json`), refuses writes with 503 and `Retry-After` (the
//! files are the truth, and the database about to replace the broken one is built from them:
//! a write then could land between the two), and rebuilds the database from the files in the
//! background. The new database is built beside the old one (`<db>.rebuild`), checked, and
//! renamed over it; the broken file is kept as `<db>.broken-<time>` (with its WAL) for the
//! operator, never deleted. Then the sync's bookkeeping is reloaded from the new database, a
//! rescan applies what changed meanwhile, and the server is back on the database.
//!
//! Who owns what: [`Switch`] is the store the sync engine (and so the API) is given; it holds
//! the database while usable and the JSON store while not. [`Monitor`] is the thread that
//! checks, rebuilds and switches back. SQLite only: a PostgreSQL server that goes away makes
//! requests fail, as without `--watch`.

use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, channel};
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::Context;

use super::Engine;
use crate::config::Project;
use crate::migrate::json_store::JsonStore;
use crate::schema::Schema;
use crate::store::{SqliteStore, Store, StoreError, Tx};

/// `[sync] check_secs` when not set: a broken database is noticed within half a minute even
/// when no request meets it, and the check (which reads every page) stays rare.
pub const DEFAULT_CHECK_SECS: u64 = 30;

/// The store `serve --watch` runs on: the database, or the files while it is rebuilt.
pub struct Switch {
    project: Project,
    schema: Schema,
    path: PathBuf,
    db: RwLock<Option<Arc<SqliteStore>>>,
    files: Mutex<Option<Arc<JsonStore>>>,
    /// Why the server answers from the files, while it does.
    why: Mutex<Option<String>>,
    engine: Mutex<Weak<Engine>>,
    kick: Mutex<Option<Sender<Msg>>>,
}

impl Switch {
    /// Opens the project's SQLite database and checks it; when it cannot be opened or fails
    /// the check, the switch starts on the files (which must then load).
    pub fn open(project: &Project, schema: Schema) -> anyhow::Result<Switch> {
        let path = project.database_path();
        // No file at all is a project never migrated, as without --watch: not a fallback.
        if !path.exists() {
            anyhow::bail!(
                "no database at {}; run `jsonlift migrate` first",
                path.display()
            );
        }
        // A file that does not open or fails the check is the fallback's; a sound file whose
        // tables are not what jsonlift.toml says is the usual error.
        let (db, why) = match crate::store::live::check_file(&path, project.busy_timeout()) {
            Ok(()) => (
                Some(Arc::new(SqliteStore::open(project, schema.clone())?)),
                None,
            ),
            Err(why) => (None, Some(why)),
        };
        let switch = Switch {
            project: project.clone(),
            schema,
            path,
            db: RwLock::new(db),
            files: Mutex::new(None),
            why: Mutex::new(None),
            engine: Mutex::new(Weak::new()),
            kick: Mutex::new(None),
        };
        if let Some(why) = why {
            switch
                .files()
                .map_err(|e| anyhow::anyhow!("{e}"))
                .with_context(|| {
                    format!("the database cannot be used ({why}) and the files do not load either")
                })?;
            switch.fail(why);
        }
        Ok(switch)
    }

    fn database(&self) -> Option<Arc<SqliteStore>> {
        self.db.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The JSON store over the files, opened on first need.
    fn files(&self) -> Result<Arc<JsonStore>, StoreError> {
        let mut f = self.files.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(s) = &*f {
            return Ok(s.clone());
        }
        let s = Arc::new(JsonStore::open(&self.project, self.schema.clone())?);
        *f = Some(s.clone());
        Ok(s)
    }

    /// Why the server answers from the files now, if it does.
    pub fn reason(&self) -> Option<String> {
        self.why.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The database is broken: from now on reads go to the files, writes are refused, and the
    /// monitor rebuilds it.
    pub fn fail(&self, why: String) {
        let old = self.db.write().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(old) = old {
            old.close_connections();
        }
        {
            let mut w = self.why.lock().unwrap_or_else(|e| e.into_inner());
            if w.is_none() {
                tracing::error!(
                    "the database {} is unusable ({why}); answering reads from the files and rebuilding it from them",
                    self.path.display()
                );
            }
            *w = Some(why.clone());
        }
        if let Some(e) = self
            .engine
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .upgrade()
        {
            e.state().set_fallback(Some(why));
        }
        if let Some(k) = &*self.kick.lock().unwrap_or_else(|e| e.into_inner()) {
            let _ = k.send(Msg::Kick);
        }
    }

    fn unavailable(&self) -> StoreError {
        StoreError::Unavailable(format!(
            "the database is being rebuilt from the files ({}); reads are answered from the files, writes are refused until it is back: retry shortly",
            self.reason().unwrap_or_default()
        ))
    }
}

impl Store for Switch {
    fn schema(&self) -> &Schema {
        &self.schema
    }

    fn read(&self, f: &mut dyn FnMut(&dyn Tx) -> Result<(), StoreError>) -> Result<(), StoreError> {
        if let Some(db) = self.database() {
            match db.read(f) {
                Err(e) if e.is_broken_database() => self.fail(e.to_string()),
                other => return other,
            }
        }
        self.files()?.read(f)
    }

    fn write(
        &self,
        f: &mut dyn FnMut(&dyn Tx) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let Some(db) = self.database() else {
            return Err(self.unavailable());
        };
        match db.write(f) {
            Err(e) if e.is_broken_database() => {
                self.fail(e.to_string());
                Err(self.unavailable())
            }
            other => other,
        }
    }

    fn close_connections(&self) {
        if let Some(db) = self.database() {
            db.close_connections();
        }
    }

    fn point_reads_are_quick(&self) -> bool {
        self.database().is_some()
    }

    fn database_file(&self) -> Option<&Path> {
        Some(&self.path)
    }

    fn unusable(&self) -> Option<String> {
        self.reason()
    }

    fn audit(&self, f: &crate::audit::Filter) -> Result<Vec<crate::audit::Entry>, StoreError> {
        match self.database() {
            Some(db) => db.audit(f),
            None => Err(self.unavailable()),
        }
    }
}

/// What the monitor thread is told.
enum Msg {
    /// The switch met a broken database: rebuild now.
    Kick,
    Stop,
}

/// The thread that checks the database, rebuilds it from the files when it is broken and
/// switches back. Stops when dropped.
pub struct Monitor {
    tell: Sender<Msg>,
    thread: Option<JoinHandle<()>>,
}

impl Monitor {
    /// Starts watching over `switch` for `engine` (whose store it is): a check every `every`
    /// (none when zero), and at once when the switch reports a broken database.
    pub fn start(switch: Arc<Switch>, engine: &Arc<Engine>, every: Duration) -> Monitor {
        *switch.engine.lock().unwrap_or_else(|e| e.into_inner()) = Arc::downgrade(engine);
        engine.state().set_fallback(switch.reason());
        let (tell, told) = channel();
        *switch.kick.lock().unwrap_or_else(|e| e.into_inner()) = Some(tell.clone());
        let engine = Arc::downgrade(engine);
        let thread = std::thread::Builder::new()
            .name("jsonlift-fallback".into())
            .spawn(move || run(&switch, &engine, every, &told))
            .ok();
        Monitor { tell, thread }
    }
}

impl Drop for Monitor {
    fn drop(&mut self) {
        let _ = self.tell.send(Msg::Stop);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// How long to wait before trying a failed rebuild again (a file that does not read, say),
/// doubling up to [`REBUILD_RETRY_MAX`]: each try reads every file.
const REBUILD_RETRY: Duration = Duration::from_secs(2);
const REBUILD_RETRY_MAX: Duration = Duration::from_secs(30);

fn run(switch: &Switch, engine: &Weak<Engine>, every: Duration, told: &Receiver<Msg>) {
    let mut retry = REBUILD_RETRY;
    loop {
        let wait = match (switch.reason(), every.is_zero()) {
            (Some(_), _) => retry,
            (None, true) => Duration::from_secs(3600),
            (None, false) => every,
        };
        match told.recv_timeout(wait) {
            Ok(Msg::Kick) | Err(RecvTimeoutError::Timeout) => {}
            Ok(Msg::Stop) | Err(RecvTimeoutError::Disconnected) => return,
        }
        if switch.reason().is_none() {
            let db = switch.database().filter(|_| !every.is_zero());
            if let Some(Err(why)) = db.map(|db| db.check()) {
                switch.fail(why);
            }
            if switch.reason().is_none() {
                continue;
            }
        }
        let Some(engine) = engine.upgrade() else {
            return;
        };
        match rebuild(switch) {
            Ok((store, kept)) => {
                retry = REBUILD_RETRY;
                switch_back(switch, &engine, store, kept.as_deref());
            }
            Err(e) => {
                tracing::warn!(
                    "rebuilding the database from the files failed; trying again in {} s: {e:#}",
                    retry.as_secs()
                );
                retry = (retry * 2).min(REBUILD_RETRY_MAX);
            }
        }
    }
}

/// Builds a new database from the files beside the broken one, checks it, and renames it into
/// place, keeping the broken one aside. Returns the new store and where the old file went.
fn rebuild(switch: &Switch) -> anyhow::Result<(SqliteStore, Option<PathBuf>)> {
    let db = &switch.path;
    let fresh = sibling(db, ".rebuild");
    for p in [
        fresh.clone(),
        sibling(&fresh, "-wal"),
        sibling(&fresh, "-shm"),
    ] {
        // Only a rebuild of ours that did not finish: never the database itself.
        let _ = std::fs::remove_file(p);
    }
    let project = switch
        .project
        .clone()
        .with_database(&fresh.to_string_lossy())?;
    let report = crate::migrate::migrate(
        &project,
        &crate::migrate::Options {
            dry_run: false,
            reimport: false,
            progress: crate::migrate::Progress::Quiet,
            database_backups: false,
        },
    )?;
    if !report.ok {
        let problems: Vec<String> = report.problems.iter().map(|p| p.to_string()).collect();
        anyhow::bail!("the files do not migrate: {}", problems.join("; "));
    }
    // The new database must pass the check the old one failed before it replaces it.
    SqliteStore::open(&project, switch.schema.clone())?
        .check()
        .map_err(|e| anyhow::anyhow!("the rebuilt database {} {e}", fresh.display()))?;
    let kept = keep_aside(db)?;
    std::fs::rename(&fresh, db)
        .with_context(|| format!("renaming {} to {}", fresh.display(), db.display()))?;
    if let Some(dir) = db.parent() {
        crate::backup::sync_dir(dir);
    }
    let store = SqliteStore::open(&switch.project, switch.schema.clone())?;
    Ok((store, kept))
}

/// `<path><suffix>`.
fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// The broken database (if it is still there) gets a second name, `<db>.broken-<time>`, and
/// its WAL and shared-memory files move to that name too (a WAL left beside the new database
/// would be replayed into it). The database's own name is then free for an atomic rename.
fn keep_aside(db: &Path) -> anyhow::Result<Option<PathBuf>> {
    let stamp = crate::clock::now().replace([':', '-'], "");
    let aside = sibling(db, &format!(".broken-{stamp}"));
    let kept = match std::fs::hard_link(db, &aside) {
        Ok(()) => Some(aside.clone()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(_) => {
            std::fs::rename(db, &aside).with_context(|| {
                format!("keeping {} aside as {}", db.display(), aside.display())
            })?;
            Some(aside.clone())
        }
    };
    for suffix in ["-wal", "-shm"] {
        let from = sibling(db, suffix);
        if from.exists() {
            std::fs::rename(&from, sibling(&aside, suffix))
                .with_context(|| format!("keeping {} aside", from.display()))?;
        }
    }
    Ok(kept)
}

/// The rebuilt database takes over: the sync reloads what it knows from it and applies what
/// changed in the files while it was built; then reads and writes go to it again.
fn switch_back(switch: &Switch, engine: &Engine, store: SqliteStore, kept: Option<&Path>) {
    // The sync applies nothing until the switch is back on a database: its bookkeeping is
    // replaced first, so nothing of the broken database's is written into the new one.
    if let Err(e) = engine.reload_bookkeeping(&store) {
        tracing::warn!("sync: reading the rebuilt database's ledger: {e}");
    }
    *switch.db.write().unwrap_or_else(|e| e.into_inner()) = Some(Arc::new(store));
    *switch.why.lock().unwrap_or_else(|e| e.into_inner()) = None;
    let changes = engine.rescan(true);
    engine.state().set_fallback(None);
    let kept = match kept {
        Some(k) => format!("; the broken one is kept as {}", k.display()),
        None => String::new(),
    };
    tracing::info!(
        "the database {} is rebuilt from the files and in use again{kept}; {}",
        switch.path.display(),
        super::summary(&changes, Duration::ZERO)
    );
}
