use aws_sdk_sqs::Client;

use crate::domain::clock::Millis;
use crate::ports::{OfferTimers, QueueError, RoundTimer};

/// SQS's largest `DelaySeconds`.
const MAX_DELAY_S: i64 = 900;

/// Round timers as delayed messages on a standard queue (FIFO queues cannot
/// delay single messages).
#[derive(Debug, Clone)]
pub struct SqsTimers {
    client: Client,
    queue_url: String,
}

impl SqsTimers {
    #[must_use]
    pub fn new(client: Client, queue_url: impl Into<String>) -> Self {
        SqsTimers {
            client,
            queue_url: queue_url.into(),
        }
    }
}

/// An SQS client for long polls of `wait` (the local stack's stand-in for
/// the event source mapping; Lambda functions never poll): the attempt
/// and operation timeouts of `sdk` would cut a 20-second `ReceiveMessage`
/// short, so this client's allow the wait more.
#[must_use]
pub fn long_polling_client(sdk: &aws_config::SdkConfig, wait: std::time::Duration) -> Client {
    let attempt = sdk
        .timeout_config()
        .and_then(aws_config::timeout::TimeoutConfig::operation_attempt_timeout)
        .unwrap_or(super::Timeouts::EMULATOR.attempt)
        + wait;
    let timeouts = aws_config::timeout::TimeoutConfig::builder()
        .connect_timeout(super::Timeouts::EMULATOR.connect)
        .operation_attempt_timeout(attempt)
        .operation_timeout(attempt * super::MAX_ATTEMPTS)
        .build();
    Client::from_conf(aws_sdk_sqs::config::Builder::from(sdk).timeout_config(timeouts).build())
}

/// Whole seconds, rounded up: a timer may fire a little late (the deadline
/// condition still holds) but never early.
fn delay_seconds(delay_ms: Millis) -> i32 {
    let seconds = (delay_ms.max(0) + 999) / 1000;
    i32::try_from(seconds.min(MAX_DELAY_S)).unwrap_or(0)
}

impl OfferTimers for SqsTimers {
    async fn schedule_round_close(&self, timer: &RoundTimer, delay_ms: Millis) -> Result<(), QueueError> {
        let body = serde_json::to_string(timer).map_err(|e| QueueError(e.into()))?;
        self.client
            .send_message()
            .queue_url(&self.queue_url)
            .message_body(body)
            .delay_seconds(delay_seconds(delay_ms))
            .send()
            .await
            .map_err(|e| QueueError(e.into()))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn delays_round_up_to_whole_seconds_within_sqs_limits() {
        assert_eq!(super::delay_seconds(600), 1);
        assert_eq!(super::delay_seconds(60_000), 60);
        assert_eq!(super::delay_seconds(60_001), 61);
        assert_eq!(super::delay_seconds(-5), 0);
        assert_eq!(super::delay_seconds(10_000_000), 900);
    }
}
