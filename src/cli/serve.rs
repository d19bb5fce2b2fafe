//! `jsonlift serve`: the collections as a REST API that keeps the JSON shapes. The flags are a
//! contract used by scripts outside the project; keep them stable.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;

use crate::config::ConfigError;
use clap::{Args, ValueEnum};

use super::ProjectArgs;
use crate::api::{self, AppState, Limits, auth::Auth};
use crate::backup::serving::ServerBackups;
use crate::config::Database;
use crate::migrate::json_store::JsonStore;
use crate::schema::Schema;
use crate::store::postgres::store::PgStore;
use crate::store::{SqliteStore, Store};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StoreKind {
    /// The migrated SQLite database.
    Sqlite,
    /// The JSON files themselves (the legacy mode and the way back).
    Json,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub project: ProjectArgs,
    /// Address to listen on [default: [serve] listen, or 127.0.0.1:4000]; port 0 picks a free
    /// port. The bound address is printed on stdout.
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<String>,
    /// Path prefix of the collection routes [default: [serve] prefix, or /api]; `/` serves at
    /// the root, as json-server does.
    #[arg(long, value_name = "PATH")]
    pub prefix: Option<String>,
    /// Where the records live.
    #[arg(long, value_enum, default_value = "sqlite")]
    pub store: StoreKind,
    /// Migrate first (nothing to do when already migrated), then serve: a container's entry
    /// point. Sources changed since the last migration stop the start, as `migrate` does.
    #[arg(long)]
    pub migrate: bool,
    /// Keep the database in step with the files: an initial sync at start, then every change
    /// to a source file applied as it happens ([sync] in jsonlift.toml, docs/sync.md).
    #[arg(long)]
    pub watch: bool,
}

/// `[serve] max_page_size` when not set: larger than any page a UI shows, small enough that
/// one request cannot make the server build a whole large collection by paging.
const DEFAULT_MAX_PAGE_SIZE: usize = 1000;

pub fn run(a: &ServeArgs) -> anyhow::Result<bool> {
    let project = a.project.load()?;
    // With --watch, a database migrated before is brought to the files by the initial sync:
    // files edited since are what the sync is for, not a reason to refuse to start.
    let on_postgres = matches!(project.database(), Database::Postgres(_));
    let synced_later = a.watch
        && Schema::build(&project)
            .ok()
            .and_then(|s| crate::migrate::open_existing(&project, &s).ok())
            .and_then(|mut db| db.read(|tx| Ok(tx.runs()?.0)).ok())
            .is_some_and(|runs| runs > 0);
    // With --watch, a SQLite database that is there but broken is the fallback's to rebuild
    // from the files (sync::fallback), not a migration's to fail on.
    let broken = a.watch
        && !on_postgres
        && a.store == StoreKind::Sqlite
        && project.database_path().exists()
        && crate::store::live::check_file(&project.database_path(), project.busy_timeout())
            .is_err();
    if a.migrate && a.store == StoreKind::Sqlite && !synced_later && !broken {
        let report = crate::migrate::migrate(
            &project,
            &crate::migrate::Options {
                dry_run: false,
                reimport: false,
                progress: crate::migrate::Progress::auto(true),
                database_backups: true,
            },
        )?;
        if !report.ok {
            super::output::human(&report, true);
            anyhow::bail!("the migration found problems; nothing is served");
        }
        tracing::info!("migrate: {}", report.status);
    }
    let cfg = &project.config.serve;
    let schema = Schema::build(&project)?;
    let listen = a
        .listen
        .clone()
        .or_else(|| cfg.listen.clone())
        .unwrap_or_else(|| "127.0.0.1:4000".into());
    // Usage and project-file errors exit 2, as every verb's do (the README's promise).
    let addr: SocketAddr = listen.parse().map_err(|_| ConfigError::Flag {
        flag: "--listen",
        message: format!("{listen:?}: expected an address such as 127.0.0.1:4000 or [::1]:4000"),
    })?;
    let usage = |e: anyhow::Error| project.invalid(format!("{e:#}"));
    let auth = Auth::load(cfg, std::env::var("JSONLIFT_TOKEN").ok()).map_err(usage)?;
    auth.check_listen(&addr).map_err(usage)?;
    if !auth.has_tokens() {
        tracing::warn!(
            "no tokens configured: anyone on this machine can write (set JSONLIFT_TOKEN or [serve] tokens)"
        );
    }
    let prefix = api::normalize_prefix(
        a.prefix
            .as_deref()
            .or(cfg.prefix.as_deref())
            .unwrap_or("/api"),
    );
    let routes = api::routes(&project, &prefix).map_err(usage)?;
    // Held for the life of the server, before the database is opened: `jsonlift restore`
    // refuses while it is held, and a server does not start in the middle of one.
    let lock = match a.store {
        // A PostgreSQL database is shared by design: no lock file.
        StoreKind::Sqlite if on_postgres => None,
        StoreKind::Sqlite => Some(crate::backup::hold_server_lock(&project.database_path())?),
        StoreKind::Json => None,
    };
    if a.watch && a.store == StoreKind::Json {
        return Err(usage(anyhow::anyhow!(
            "--watch keeps a database in step with the files; --store json reads the files themselves"
        ))
        .into());
    }
    // A watched database runs on the fallback's switch: the database, or the files while it
    // cannot be used (docs/sync.md).
    let switch = match (a.watch, a.store) {
        (true, StoreKind::Sqlite) => {
            let switch = crate::sync::fallback::Switch::open(&project, schema.clone())?;
            if switch.reason().is_none() {
                // The checks and warnings of an ordinary start (a schema changed since the
                // migration, tables of an earlier jsonlift).
                drop(open_database(&project, schema.clone())?);
            }
            Some(Arc::new(switch))
        }
        _ => None,
    };
    let store: Arc<dyn Store> = match (a.store, &switch) {
        (StoreKind::Sqlite, Some(sw)) => sw.clone(),
        (StoreKind::Sqlite, None) => open_database(&project, schema)?,
        (StoreKind::Json, _) => Arc::new(JsonStore::open(&project, schema)?),
    };
    let watch = match a.watch {
        true => {
            let (w, line) =
                crate::sync::Watch::start(store.clone(), super::watch::debounce(&project))?;
            tracing::info!("{line}");
            Some(w)
        }
        false => None,
    };
    let _monitor = match (&switch, &watch) {
        (Some(sw), Some(w)) => Some(crate::sync::fallback::Monitor::start(
            sw.clone(),
            &w.engine(),
            check_every(&project),
        )),
        _ => None,
    };
    // While watched, the API writes through the files (crate::sync::write).
    let store: Arc<dyn Store> = match &watch {
        Some(w) => Arc::new(crate::sync::write::WatchedStore::new(w.engine())),
        None => store,
    };
    // What `/_admin/backups`, `/_admin/restore` and the `[backups] interval` schedule need;
    // the schedule stops when the server returns.
    let backups = match a.store {
        StoreKind::Sqlite => Some(Arc::new(ServerBackups::new(project.clone(), lock))),
        StoreKind::Json => None,
    };
    let _schedule = match &backups {
        Some(b) => crate::backup::schedule::run_schedule(b)?,
        None => None,
    };
    let limits = Limits {
        max_body_bytes: cfg.max_body_bytes.unwrap_or(32 << 20),
        timeout: Duration::from_secs(cfg.request_timeout_secs.unwrap_or(30)),
        header_timeout: Duration::from_secs(cfg.header_timeout_secs.unwrap_or(10)),
    };
    let cors = api::cors::Cors::new(&cfg.cors_origins, auth.has_tokens());
    let state = Arc::new(AppState {
        store,
        auth,
        cors,
        prefix: prefix.clone(),
        routes,
        max_depth: project.max_depth(),
        backups,
        max_page_size: match cfg.max_page_size.unwrap_or(DEFAULT_MAX_PAGE_SIZE) {
            0 => None,
            n => Some(n),
        },
        metrics: Default::default(),
        sync: watch.as_ref().map(|w| w.engine()),
        body_timeout: limits.timeout,
        closing: tokio::sync::watch::channel(false).0,
    });
    let app = api::router(state.clone(), &limits);
    let header_timeout = limits.header_timeout;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("cannot listen on {addr}"))?;
        let bound = listener.local_addr()?;
        // Scripts and tests read this line to learn the port.
        println!("jsonlift serve: listening on http://{bound}{prefix}");
        use std::io::Write;
        std::io::stdout().flush()?;
        let stop = async move {
            shutdown().await;
            state.closing.send_replace(true);
        };
        api::listen::serve(listener, app, header_timeout, stop).await;
        Ok::<_, anyhow::Error>(())
    })?;
    // The watcher stops after the last request; the change being applied is committed first.
    if let Some(w) = watch {
        w.stop();
    }
    tracing::info!("shut down cleanly");
    Ok(true)
}

/// The migrated database (SQLite or PostgreSQL) as a store, with a warning when its tables
/// were defined by an earlier jsonlift.
pub(super) fn open_database(
    project: &crate::config::Project,
    schema: Schema,
) -> anyhow::Result<Arc<dyn Store>> {
    let mut db = crate::migrate::open_existing(project, &schema)?;
    let recorded = db.read(|tx| Ok(tx.sources()?))?;
    if !crate::migrate::upgrade::sources_to_upgrade(&schema, &recorded).is_empty() {
        tracing::warn!(
            "the tables of {} were defined by an earlier jsonlift, which some clients read wrongly (SQLite before 3.42, SQLAlchemy); `jsonlift migrate` rewrites them in place, rows kept",
            crate::migrate::database_name(project)
        );
    }
    drop(db);
    let store: Arc<dyn Store> = match project.database() {
        Database::Postgres(url) => Arc::new(PgStore::open(url, project.pg_schema(), schema)?),
        Database::Sqlite(_) => Arc::new(SqliteStore::open(project, schema)?),
    };
    // A database migrated before the search index existed, or copied, gets it now; one this
    // process may not write to is searched without it (by scanning, with the same answers).
    match crate::store::write(&*store, |tx| {
        crate::store::search::ensure(tx, store.schema())
    }) {
        Ok(built) if !built.is_empty() => {
            tracing::info!("built the search index of {}", built.join(", "))
        }
        Ok(_) => {}
        Err(e) => tracing::warn!("search indexes not built, `q=` scans the records: {e}"),
    }
    Ok(store)
}

/// `[sync] check_secs`, or its default.
fn check_every(project: &crate::config::Project) -> Duration {
    Duration::from_secs(
        project
            .config
            .sync
            .check_secs
            .unwrap_or(crate::sync::fallback::DEFAULT_CHECK_SECS),
    )
}

/// Resolves on SIGINT or SIGTERM; in-flight requests then finish before the server stops.
pub(super) async fn shutdown() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term => {}
    }
}
