//! The request timeout (`[serve] timeout`), which a write's commit respects: when the time runs
//! out before the write commits, the request answers 408 and the write is rolled back
//! ([`crate::store::deadline`]); when its COMMIT had already started, the request waits for it
//! and answers as usual, late. So a 408 always means nothing was written, and retries after
//! contention end with the request.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::error::ApiError;
use crate::store::deadline::Deadline;

tokio::task_local! {
    /// The deadline of the request the current task serves.
    static DEADLINE: Arc<Deadline>;
}

/// The current request's deadline, for the thread that does its store work.
pub fn current() -> Option<Arc<Deadline>> {
    DEADLINE.try_with(Arc::clone).ok()
}

pub async fn layer(State(limit): State<Duration>, req: Request, next: Next) -> Response {
    let d = Deadline::new(Instant::now() + limit);
    let work = DEADLINE.scope(d.clone(), next.run(req));
    tokio::pin!(work);
    tokio::select! {
        res = &mut work => res,
        () = tokio::time::sleep(limit) => {
            if d.try_abandon() {
                ApiError::Refused(
                    StatusCode::REQUEST_TIMEOUT,
                    format!(
                        "the request took longer than the server allows ({} s, [serve] timeout); nothing was written",
                        limit.as_secs_f64()
                    ),
                )
                .into_response()
            } else {
                // Its write is committing: the answer says how that went.
                work.await
            }
        }
    }
}
