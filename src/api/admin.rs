//! `/_admin`: the audit log and a health check. Both need a token.

use axum::extract::{Query, State};
use axum::response::Response;
use serde::Deserialize;

use super::body::ok;
use super::error::ApiError;
use super::{Shared, blocking};
use crate::audit::{self, Filter};
use crate::json::{Number, Value};
use crate::store::{StoreError, read};

#[derive(Deserialize)]
pub struct AuditParams {
    collection: Option<String>,
    key: Option<String>,
    since: Option<String>,
    after: Option<i64>,
    limit: Option<usize>,
}

/// `GET /_admin/audit?collection=&key=&since=&after=&limit=`: entries oldest first, with the
/// old and new records as JSON.
pub async fn audit(
    State(s): State<Shared>,
    Query(p): Query<AuditParams>,
) -> Result<Response, ApiError> {
    let f = Filter {
        collection: p.collection,
        key: p.key,
        since: p.since,
        after_id: p.after,
        limit: Some(p.limit.unwrap_or(1000).min(10_000)),
    };
    let entries = blocking(&s, move |st| st.audit(&f)).await?;
    Ok(ok(&audit::to_json(&entries)))
}

/// `GET /_admin/health`: the database answers, passes a quick integrity check, and how many
/// migration runs its ledger holds.
pub async fn health(State(s): State<Shared>) -> Result<Response, ApiError> {
    let (check, runs) = blocking(&s, |st| {
        read(st, |conn| {
            let check: String = conn.query_row("PRAGMA quick_check(1)", [], |r| r.get(0))?;
            let runs: i64 = conn
                .query_row("SELECT count(*) FROM _jsonlift_ledger", [], |r| r.get(0))
                .unwrap_or(0);
            Ok::<_, StoreError>((check, runs))
        })
    })
    .await?;
    let status = if check == "ok" { "ok" } else { "degraded" };
    Ok(ok(&Value::Object(vec![
        ("status".into(), Value::String(status.into())),
        ("integrity".into(), Value::String(check)),
        (
            "migration_runs".into(),
            Value::Number(Number::from_i64(runs)),
        ),
    ])))
}
