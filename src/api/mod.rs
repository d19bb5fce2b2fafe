//! The HTTP API of `jsonlift serve`: the collections under a prefix in the shapes of their
//! source files, `/db`, and `/_admin`. One module per resource kind; [`error`] maps failures to
//! statuses; [`auth`] guards writes; the work happens in [`crate::store`] on blocking threads.
//! [`backups`] takes and restores database backups while serving; [`dashboard`] is the page
//! for people at `/_admin/`.

pub mod admin;
pub mod auth;
pub mod backups;
pub mod body;
pub mod collection;
pub mod conditional;
pub mod cors;
pub mod dashboard;
pub mod db;
pub mod document;
pub mod error;
pub mod jsonp;
pub mod list;
pub mod listen;
pub mod metrics;
pub mod openapi;
pub mod query;
mod request;
pub mod sync;
pub mod timeout;
pub mod visibility;

use std::sync::Arc;
use std::time::Duration;

use anyhow::bail;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};

use crate::store::{Store, StoreError};
use auth::Auth;
use error::ApiError;

/// Everything a handler needs, shared by all requests.
pub struct AppState {
    pub store: Arc<dyn Store>,
    pub auth: Auth,
    /// `""` for the root, else `/api`-like (no trailing slash).
    pub prefix: String,
    /// Route of each collection under the prefix, by collection index (`courses`, `v1/series`).
    pub routes: Vec<String>,
    pub max_depth: usize,
    /// Backups and restores of the database (none when serving the JSON files).
    pub backups: Option<Arc<crate::backup::serving::ServerBackups>>,
    /// `[serve] max_page_size`: the most records a paged list request gets.
    pub max_page_size: Option<usize>,
    /// What this process served, for `/_admin/metrics`.
    pub metrics: metrics::Metrics,
    /// Which other origins' pages may call this server ([`cors`]).
    pub cors: cors::Cors,
    /// The live file sync, when serving with `--watch` ([`sync`]).
    pub sync: Option<Arc<crate::sync::Engine>>,
    /// How long reading a body may take on the routes without a request timeout.
    pub body_timeout: Duration,
    /// Set to `true` when the server stops: responses that would never end on their own (the
    /// dashboard's event stream) end then, so the graceful shutdown does not wait for them.
    pub closing: tokio::sync::watch::Sender<bool>,
}

pub type Shared = Arc<AppState>;

/// Limits applied to every request.
pub struct Limits {
    pub max_body_bytes: usize,
    pub timeout: Duration,
    /// For the headers of a request, and for an idle connection (see [`listen`]).
    pub header_timeout: Duration,
}

/// The collection a route serves (set per route as an extension).
#[derive(Clone, Copy)]
pub struct Coll(pub usize);

/// `/api/` → `/api`, `/` → `` (served at the root), `api` → `/api`.
pub fn normalize_prefix(p: &str) -> String {
    let t = p.trim_matches('/');
    if t.is_empty() {
        String::new()
    } else {
        format!("/{t}")
    }
}

/// The route of each collection: `route` from jsonlift.toml or the collection's name. Routes
/// are checked so they cannot collide with each other or with `/db` and `/_admin`.
pub fn routes(project: &crate::config::Project, prefix: &str) -> anyhow::Result<Vec<String>> {
    // jsonlift's own routes are at /_admin whatever the prefix: collections under it would
    // collide with them (`health`, `audit`, ...), which the router refuses with a panic.
    if prefix.trim_start_matches('/').split('/').next() == Some("_admin") {
        bail!("--prefix {prefix}: /_admin holds jsonlift's own routes; choose another prefix");
    }
    let mut out: Vec<String> = Vec::new();
    for (name, c) in &project.config.collections {
        let r = c
            .route
            .as_deref()
            .unwrap_or(name)
            .trim_matches('/')
            .to_string();
        let ok = !r.is_empty()
            && r.split('/').all(|seg| {
                !seg.is_empty()
                    && !seg.starts_with('_')
                    && seg
                        .chars()
                        .all(|ch| ch.is_alphanumeric() || "-._~".contains(ch))
            });
        if !ok {
            bail!(
                "{}: collections.{name}: route {r:?} must be path segments of letters, digits, '-', '.', '_' or '~', not starting with '_'",
                project.path.display()
            );
        }
        if out.iter().any(|o| *o == r) {
            bail!(
                "{}: collections.{name}: route {r:?} is used by two collections; set `route` on one",
                project.path.display()
            );
        }
        if prefix.is_empty() && (r == "db" || r.starts_with("db/")) {
            bail!(
                "{}: collections.{name}: route \"db\" collides with GET /db when served at the root; set `route` or --prefix",
                project.path.display()
            );
        }
        out.push(r);
    }
    Ok(out)
}

/// The router: one set of routes per collection, `/db`, `/_admin`, and the layers that give
/// every request an id, a log line, auth, a body limit and a timeout.
pub fn router(state: Shared, limits: &Limits) -> Router {
    let mut app = Router::new()
        .route("/db", get(db::get))
        .route("/_admin/audit", get(admin::audit))
        .route("/_admin/health", get(admin::health))
        .route("/_admin/metrics", get(metrics::get))
        .route("/_admin/openapi.json", get(openapi::get))
        .route("/_admin/sync", get(sync::get))
        .route("/_admin", get(dashboard::redirect))
        .route("/_admin/", get(dashboard::page))
        .route("/_admin/dashboard.js", get(dashboard::script))
        .route("/_admin/dashboard.css", get(dashboard::style))
        .route("/_admin/overview", get(dashboard::overview))
        .route_layer(axum::middleware::from_fn(metrics::mark_route));
    for (ci, route) in state.routes.iter().enumerate() {
        let base = format!("{}/{route}", state.prefix);
        let sub =
            if state.store.schema().tables[state.store.schema().collections[ci].table].document {
                Router::new().route(
                    &base,
                    get(document::get).put(document::put).patch(document::patch),
                )
            } else {
                Router::new()
                    .route(&base, get(collection::list).post(collection::create))
                    .route(&format!("{base}/_import"), post(collection::import))
                    .route(
                        &format!("{base}/{{id}}"),
                        get(collection::get)
                            .put(collection::replace)
                            .patch(collection::patch)
                            .delete(collection::delete),
                    )
                    .route(
                        &format!("{base}/{{id}}/{{child}}"),
                        get(collection::nested).post(collection::nested_create),
                    )
            };
        // The route layer runs inside the extension, so it sees the collection.
        let sub = sub
            .route_layer(axum::middleware::from_fn(metrics::mark_route))
            .layer(axum::Extension(Coll(ci)));
        app = app.merge(sub);
    }
    // Taking and restoring a backup last as long as the database is large: no request timeout.
    let long = Router::new()
        .route("/_admin/backups", get(backups::list).post(backups::take))
        .route("/_admin/restore", post(backups::restore))
        // A full rescan reads every file: as long as the sources are large.
        .route("/_admin/sync/reload", post(sync::reload))
        // The dashboard's event stream stays open as long as the page does.
        .route("/_admin/events", get(dashboard::events))
        .route_layer(axum::middleware::from_fn(metrics::mark_route));
    app.fallback(|| async { ApiError::NotFound("no such route".into()) })
        .layer(axum::middleware::from_fn_with_state(
            limits.timeout,
            timeout::layer,
        ))
        .merge(long)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            request::authorize,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            cors::layer,
        ))
        .layer(DefaultBodyLimit::max(limits.max_body_bytes))
        .layer(axum::middleware::from_fn(jsonp::layer))
        .layer(axum::middleware::from_fn(conditional::layer))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            request::trace,
        ))
        .with_state(state)
}

/// Runs a read that touches a handful of rows (a record by key) on the async worker itself
/// when the store answers such reads in microseconds (SQLite in WAL mode: readers do not wait
/// for the writer): handing it to a blocking thread and back costs more than the read, in
/// context switches, at high concurrency. Otherwise, and for anything that may scan, use
/// [`blocking`].
pub async fn point_read<T: Send + 'static>(
    state: &Shared,
    f: impl FnOnce(&dyn Store) -> Result<T, StoreError> + Send + 'static,
) -> Result<T, ApiError> {
    if !state.store.point_reads_are_quick() {
        return blocking(state, f).await;
    }
    let _pass = backups::pass(state)?;
    f(&*state.store).map_err(ApiError::from)
}

/// Runs store work on a blocking thread (SQLite calls block), or answers 503 while the server
/// restores a backup.
pub async fn blocking<T: Send + 'static>(
    state: &Shared,
    f: impl FnOnce(&dyn Store) -> Result<T, StoreError> + Send + 'static,
) -> Result<T, ApiError> {
    let pass = backups::pass(state)?;
    let s = state.clone();
    let deadline = timeout::current();
    tokio::task::spawn_blocking(move || {
        let _pass = pass;
        let _deadline = crate::store::deadline::enter(deadline);
        f(&*s.store)
    })
    .await
    .map_err(|e| ApiError::Store(StoreError::Other(anyhow::anyhow!("worker failed: {e}"))))?
    .map_err(ApiError::from)
}
