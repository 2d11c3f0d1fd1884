//! The SQS consumer that closes offer rounds.

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use tracing::{error, warn};

use crate::ports::{OfferTimers, Pusher, RoundTimer, Storage};
use crate::usecases::{App, RoundTimerOutcome};

/// Handles a batch's records at once (each closes its own order's round, so
/// they do not wait on one another: a batch of ten on slow storage takes as
/// long as its slowest record, not the sum, within the function's timeout);
/// a record that fails is reported alone (`ReportBatchItemFailures`) so SQS
/// redelivers only it.
pub async fn handle_timer_batch<S: Storage, Q: OfferTimers, P: Pusher>(
    app: &App<S, Q, P>,
    event: SqsEvent,
) -> SqsBatchResponse {
    let outcomes = futures_util::future::join_all(event.records.iter().map(|record| handle_record(app, record))).await;
    let mut response = SqsBatchResponse::default();
    for (record, outcome) in event.records.iter().zip(outcomes) {
        if let Err(reason) = outcome {
            warn!(message_id = ?record.message_id, reason, "timer message failed");
            let mut failure = BatchItemFailure::default();
            failure.item_identifier = record.message_id.clone().unwrap_or_default();
            response.batch_item_failures.push(failure);
        }
    }
    response
}

async fn handle_record<S: Storage, Q: OfferTimers, P: Pusher>(
    app: &App<S, Q, P>,
    record: &SqsMessage,
) -> Result<(), &'static str> {
    let body = record.body.as_deref().unwrap_or_default();
    let timer: RoundTimer = serde_json::from_str(body).map_err(|_| "not a round timer")?;
    match app.ordering().close_round(&timer.order_id, timer.round).await {
        Ok(RoundTimerOutcome::Closed(_) | RoundTimerOutcome::Stale) => Ok(()),
        Ok(RoundTimerOutcome::TooEarly { remaining_ms }) => {
            // Delivered before the deadline (clock skew): come back then.
            app.timers()
                .schedule_round_close(&timer, remaining_ms)
                .await
                .map_err(|e| {
                    error!(error = %e, "could not reschedule an early timer");
                    "reschedule failed"
                })
        }
        Err(e) => {
            error!(error = %e, "closing a round failed");
            Err("close failed")
        }
    }
}
