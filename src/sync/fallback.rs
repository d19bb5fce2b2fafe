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
//! On PostgreSQL the same holds for a server that cannot be reached (at start, or a connection
//! lost while serving) and for the project's tables or schema gone (dropped under the server:
//! the check looks that every table is there). The monitor tries the server again, with the
//! same growing wait; once it answers with the tables intact the server is simply back on it.
//! Tables gone are rebuilt from the files into a schema of their own (`<schema>_rebuild`),
//! then, in one transaction, what is left of the damaged schema is renamed aside
//! (`<schema>_broken_<time>`, never dropped unless empty) and the rebuilt one takes its name.
//!
//! Who owns what: [`Switch`] is the store the sync engine (and so the API) is given; it holds
//! the database while usable and the JSON store while not. [`Monitor`] is the thread that
//! checks, rebuilds and switches back.

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
use crate::store::postgres::PgUrl;
use crate::store::postgres::connect::ConnectError;
use crate::store::postgres::store::PgStore;
use crate::store::{SqliteStore, Store, StoreError, Tx};

/// `[sync] check_secs` when not set: a broken database is noticed within half a minute even
/// when no request meets it, and the check (which reads every page) stays rare.
pub const DEFAULT_CHECK_SECS: u64 = 30;

/// The store `serve --watch` runs on: the database, or the files while it is rebuilt.
pub struct Switch {
    project: Project,
    schema: Schema,
    backend: Backend,
    db: RwLock<Option<Db>>,
    files: Mutex<Option<Arc<JsonStore>>>,
    /// Why the server answers from the files, while it does.
    why: Mutex<Option<String>>,
    engine: Mutex<Weak<Engine>>,
    kick: Mutex<Option<Sender<Msg>>>,
}

/// Where the database lives, and so how it is checked and rebuilt.
enum Backend {
    Sqlite(PathBuf),
    Postgres { url: PgUrl, pg_schema: String },
}

impl Backend {
    fn of(project: &Project) -> Backend {
        match project.database() {
            crate::config::Database::Postgres(url) => Backend::Postgres {
                url: url.clone(),
                pg_schema: project.pg_schema().to_string(),
            },
            crate::config::Database::Sqlite(p) => Backend::Sqlite(p.clone()),
        }
    }

    /// The database, for messages.
    fn name(&self) -> String {
        match self {
            Backend::Sqlite(p) => p.display().to_string(),
            Backend::Postgres { url, pg_schema } => format!("{url} (schema {pg_schema})"),
        }
    }

    /// Whether an error met on a read or write says the database itself cannot be used.
    fn broken(&self, e: &StoreError) -> bool {
        match self {
            Backend::Sqlite(_) => e.is_broken_database(),
            Backend::Postgres { .. } => crate::store::postgres::db::is_unusable(e),
        }
    }
}

/// The database in use.
#[derive(Clone)]
enum Db {
    Sqlite(Arc<SqliteStore>),
    Postgres(Arc<PgStore>),
}

impl Db {
    fn store(&self) -> &dyn Store {
        match self {
            Db::Sqlite(s) => &**s,
            Db::Postgres(s) => &**s,
        }
    }

    /// SQLite's integrity check; on PostgreSQL, that the server answers with every table.
    fn check(&self) -> Result<(), String> {
        match self {
            Db::Sqlite(s) => s.check(),
            Db::Postgres(s) => s.check(),
        }
    }
}

impl Switch {
    /// Opens the project's database and checks it; when it cannot be opened or fails the
    /// check (on PostgreSQL: the server cannot be reached), the switch starts on the files
    /// (which must then load).
    pub fn open(project: &Project, schema: Schema) -> anyhow::Result<Switch> {
        let backend = Backend::of(project);
        let (db, why) = match &backend {
            Backend::Sqlite(path) => open_sqlite(project, &schema, path)?,
            Backend::Postgres { url, pg_schema } => {
                match PgStore::open(url, pg_schema, schema.clone()) {
                    Ok(s) => (Some(Db::Postgres(Arc::new(s))), None),
                    // A server away is the fallback's; a refused login or a database that
                    // does not exist is a project to fix, as without --watch.
                    Err(e) if is_away(&e) => (None, Some(format!("{e:#}"))),
                    Err(e) => return Err(e),
                }
            }
        };
        let switch = Switch {
            project: project.clone(),
            schema,
            backend,
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

    fn database(&self) -> Option<Db> {
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
            old.store().close_connections();
        }
        {
            let mut w = self.why.lock().unwrap_or_else(|e| e.into_inner());
            if w.is_none() {
                tracing::error!(
                    "the database {} is unusable ({why}); answering reads from the files until it is back (rebuilt from them if need be)",
                    self.backend.name()
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

    /// Whether an error met on a read or write says the database cannot be used; not while
    /// a restore replaces it (tables missing then are the restore's doing).
    fn broken(&self, e: &StoreError) -> bool {
        self.backend.broken(e) && !self.restoring()
    }

    fn restoring(&self) -> bool {
        self.engine
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .upgrade()
            .is_some_and(|e| e.is_restoring())
    }

    fn unavailable(&self) -> StoreError {
        StoreError::Unavailable(format!(
            "the database cannot be used now ({}); reads are answered from the files, writes are refused until it is back: retry shortly",
            self.reason().unwrap_or_default()
        ))
    }
}

/// The SQLite database at `path` when it opens and passes the check; else why not.
fn open_sqlite(
    project: &Project,
    schema: &Schema,
    path: &Path,
) -> anyhow::Result<(Option<Db>, Option<String>)> {
    // No file at all is a project never migrated, as without --watch: not a fallback.
    if !path.exists() {
        anyhow::bail!(
            "no database at {}; run `jsonlift migrate` first",
            path.display()
        );
    }
    // A file that does not open or fails the check is the fallback's; a sound file whose
    // tables are not what jsonlift.toml says is the usual error.
    Ok(
        match crate::store::live::check_file(path, project.busy_timeout()) {
            Ok(()) => (
                Some(Db::Sqlite(Arc::new(SqliteStore::open(
                    project,
                    schema.clone(),
                )?))),
                None,
            ),
            Err(why) => (None, Some(why)),
        },
    )
}

/// Whether opening a PostgreSQL store failed because the server is away (not reachable, or
/// taking no connections now), which it may not be in a moment.
fn is_away(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<ConnectError>().is_some_and(|c| {
            matches!(
                c,
                ConnectError::Unreachable { .. } | ConnectError::Busy { .. }
            )
        })
    })
}

impl Store for Switch {
    fn schema(&self) -> &Schema {
        &self.schema
    }

    fn read(&self, f: &mut dyn FnMut(&dyn Tx) -> Result<(), StoreError>) -> Result<(), StoreError> {
        if let Some(db) = self.database() {
            match db.store().read(f) {
                Err(e) if self.broken(&e) => self.fail(e.to_string()),
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
        match db.store().write(f) {
            Err(e) if self.broken(&e) => {
                self.fail(e.to_string());
                Err(self.unavailable())
            }
            other => other,
        }
    }

    fn close_connections(&self) {
        if let Some(db) = self.database() {
            db.store().close_connections();
        }
    }

    fn point_reads_are_quick(&self) -> bool {
        self.database()
            .is_some_and(|db| db.store().point_reads_are_quick())
    }

    fn database_file(&self) -> Option<&Path> {
        match &self.backend {
            Backend::Sqlite(p) => Some(p),
            Backend::Postgres { .. } => None,
        }
    }

    fn unusable(&self) -> Option<String> {
        self.reason()
    }

    fn audit(&self, f: &crate::audit::Filter) -> Result<Vec<crate::audit::Entry>, StoreError> {
        match self.database() {
            Some(db) => db.store().audit(f),
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
            let db = switch
                .database()
                .filter(|_| !every.is_zero() && !switch.restoring());
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
        let back = match &switch.backend {
            Backend::Sqlite(path) => rebuild_sqlite(switch, path),
            Backend::Postgres { url, pg_schema } => back_on_postgres(switch, url, pg_schema),
        };
        match back {
            Ok((db, how)) => {
                retry = REBUILD_RETRY;
                switch_back(switch, &engine, db, &how);
            }
            Err(e) => {
                tracing::warn!(
                    "the database is not back yet; trying again in {} s: {e:#}",
                    retry.as_secs()
                );
                retry = (retry * 2).min(REBUILD_RETRY_MAX);
            }
        }
    }
}

/// The files migrated into the project with `project` (another database or schema), which
/// must then pass the check the broken one failed.
fn migrate_files(project: &Project) -> anyhow::Result<()> {
    let report = crate::migrate::migrate(
        project,
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
    Ok(())
}

/// Builds a new database from the files beside the broken one, checks it, and renames it into
/// place, keeping the broken one aside. Returns the new store and what became of the old file.
fn rebuild_sqlite(switch: &Switch, db: &Path) -> anyhow::Result<(Db, String)> {
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
    migrate_files(&project)?;
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
    let how = match kept {
        Some(k) => format!(
            "is rebuilt from the files; the broken one is kept as {}",
            k.display()
        ),
        None => "is rebuilt from the files".to_string(),
    };
    Ok((Db::Sqlite(Arc::new(store)), how))
}

/// PostgreSQL again: when the server answers with every table there, it is used as it is
/// (it was away, not damaged). Otherwise the files are migrated into `<schema>_rebuild`,
/// checked, and swapped in for the damaged schema, which is kept aside.
fn back_on_postgres(switch: &Switch, url: &PgUrl, pg_schema: &str) -> anyhow::Result<(Db, String)> {
    use crate::store::postgres::db::{schema_named, swap_schema};
    // While the server is away there is nothing to rebuild, nor anything to rebuild into.
    let store = PgStore::open(url, pg_schema, switch.schema.clone())?;
    if store.check().is_ok() {
        return Ok((Db::Postgres(Arc::new(store)), "is reachable again".into()));
    }
    drop(store);
    let fresh = schema_named(pg_schema, "_rebuild");
    // Only a rebuild of ours that did not finish: never the project's schema.
    crate::store::postgres::db::drop_schema(url, &fresh)?;
    let mut project = switch.project.clone();
    project.config.pg_schema = Some(fresh.clone());
    migrate_files(&project)?;
    PgStore::open(url, &fresh, switch.schema.clone())?
        .check()
        .map_err(|e| anyhow::anyhow!("the rebuilt schema {e}"))?;
    let stamp: String = crate::clock::now()
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(21)
        .collect::<String>()
        .to_ascii_lowercase();
    let aside = schema_named(pg_schema, &format!("_broken_{stamp}"));
    let kept = swap_schema(url, &fresh, pg_schema, &aside)?;
    let store = PgStore::open(url, pg_schema, switch.schema.clone())?;
    let how = match kept {
        true => format!(
            "is rebuilt from the files; what was left of the damaged schema is kept as schema {aside}"
        ),
        false => "is rebuilt from the files".to_string(),
    };
    Ok((Db::Postgres(Arc::new(store)), how))
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

/// The database (rebuilt, or back) takes over: the sync reloads what it knows from it and
/// applies what changed in the files meanwhile; then reads and writes go to it again. `how`:
/// what became of it, for the log.
fn switch_back(switch: &Switch, engine: &Engine, db: Db, how: &str) {
    // The sync applies nothing until the switch is back on a database: its bookkeeping is
    // replaced first, so nothing of the broken database's is written into the new one.
    if let Err(e) = engine.reload_bookkeeping(db.store()) {
        tracing::warn!("sync: reading the database's ledger: {e}");
    }
    *switch.db.write().unwrap_or_else(|e| e.into_inner()) = Some(db);
    *switch.why.lock().unwrap_or_else(|e| e.into_inner()) = None;
    let changes = engine.rescan(true);
    engine.state().set_fallback(None);
    tracing::info!(
        "the database {} {how} and in use again; {}",
        switch.backend.name(),
        super::summary(&changes, Duration::ZERO)
    );
}
