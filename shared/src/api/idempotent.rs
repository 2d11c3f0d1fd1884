//! One answer per idempotency key, for the HTTP routes that change state
//! and for the WebSocket `accept` action.

use super::error::{ApiError, Reply};
use crate::domain::idempotency::{IdempotencyKey, StoredAnswer};
use crate::domain::ids::OrderId;
use crate::domain::limits::whole_seconds;
use crate::ports::{OfferTimers, Pusher, Storage};
use crate::usecases::App;
use crate::usecases::idempotency::Begun;

/// A key as a client sent it, or a 400 naming it.
pub(crate) fn key(raw: &str) -> Result<IdempotencyKey, ApiError> {
    IdempotencyKey::new(raw)
        .map_err(|e| ApiError::new(400, "invalid_idempotency_key", e.to_string()).with_field("Idempotency-Key"))
}

/// Runs `work` once per key: a retry gets the first answer (also when the
/// first is still running: 409 `in_progress` with `Retry-After`), and the
/// same key with another request is refused (422). Answers of an
/// unavailable service are not kept, so a retry runs again.
/// `work` gets the order id reserved under the key (for a placement).
pub(crate) async fn once<S: Storage, Q: OfferTimers, P: Pusher, F: std::future::Future<Output = Reply>>(
    app: &App<S, Q, P>,
    scope: &str,
    fingerprint: &str,
    work: impl FnOnce(OrderId) -> F,
) -> Reply {
    let running = match app.idempotency().begin(scope, fingerprint).await? {
        Begun::Run(running) => running,
        Begun::Replay(answer) => return Ok((answer.status, answer.body)),
        Begun::InProgress { retry_after_ms } => {
            return Err(ApiError {
                retry_after_s: Some(whole_seconds(retry_after_ms)),
                ..ApiError::new(
                    409,
                    "in_progress",
                    "the first request with this Idempotency-Key is still running",
                )
            });
        }
        Begun::Reused => {
            return Err(ApiError::new(
                422,
                "idempotency_key_reused",
                "this Idempotency-Key was used for another request",
            )
            .with_field("Idempotency-Key"));
        }
    };
    let reply = work(running.reserved_order_id()).await;
    let kept = match &reply {
        Ok((status, body)) => Some(StoredAnswer {
            status: *status,
            body: body.clone(),
        }),
        // A limit or an outage passes: a retry may succeed.
        Err(e) if e.status >= 500 || e.status == 429 => None,
        Err(e) => Some(StoredAnswer {
            status: e.status,
            body: e.body(),
        }),
    };
    let idempotency = app.idempotency();
    let recorded = match kept {
        Some(answer) => idempotency.finish(running, answer).await,
        None => idempotency.release(running).await,
    };
    if let Err(e) = recorded {
        // The work is done; only a retry's replay is at stake.
        tracing::warn!(error = %e, "could not keep an idempotent answer");
    }
    reply
}
