//! The timer dead-letter queue: round timers that failed five times (the
//! template's `maxReceiveCount`) wait there for an operator. `inspect`
//! shows what is waiting without taking it; `redrive` moves messages back
//! to the timer queue, where the offer-timer function handles them again.
//!
//! Redriving is always safe: a timer only closes the round it names, and
//! only while the order is still searching in that round, so a message
//! whose order has moved on (accepted, cancelled, a later round) is read
//! and dropped. A message sent back whose delete then fails stays in the
//! dead-letter queue and may be redriven twice; a duplicate timer changes
//! nothing either.

use aws_sdk_sqs::Client;
use aws_sdk_sqs::error::DisplayErrorContext;
use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, Message, MessageSystemAttributeName};
use shared::ports::RoundTimer;

/// How long a message taken by `redrive` stays hidden from other readers
/// while it is copied: far longer than a send and a delete take.
const REDRIVE_VISIBILITY_S: i32 = 60;

/// Why a command failed.
#[derive(Debug, thiserror::Error)]
#[error("queue {queue}: {message}")]
pub struct TimerQueueError {
    queue: String,
    message: String,
}

fn sqs_error<E: std::error::Error + 'static>(queue: &str, e: E) -> TimerQueueError {
    TimerQueueError {
        queue: queue.to_string(),
        message: DisplayErrorContext(e).to_string(),
    }
}

/// One message in the dead-letter queue, as an operator needs to see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadTimer {
    pub message_id: String,
    /// The round it would close, or None when the body is not a timer.
    pub timer: Option<RoundTimer>,
    /// How many times it has been received, the failed attempts included.
    pub receive_count: u32,
    /// When it was first sent (Unix milliseconds), if SQS says.
    pub sent_at_ms: Option<i64>,
}

fn dead_timer(message: &Message) -> DeadTimer {
    let attribute = |name: MessageSystemAttributeName| {
        message
            .attributes
            .as_ref()
            .and_then(|a| a.get(&name))
            .and_then(|v| v.parse::<i64>().ok())
    };
    DeadTimer {
        message_id: message.message_id.clone().unwrap_or_default(),
        timer: message.body.as_deref().and_then(|b| serde_json::from_str(b).ok()),
        receive_count: attribute(MessageSystemAttributeName::ApproximateReceiveCount)
            .and_then(|n| u32::try_from(n).ok())
            .unwrap_or(0),
        sent_at_ms: attribute(MessageSystemAttributeName::SentTimestamp),
    }
}

async fn receive(client: &Client, queue_url: &str, visibility_s: i32) -> Result<Vec<Message>, TimerQueueError> {
    let out = client
        .receive_message()
        .queue_url(queue_url)
        .max_number_of_messages(10)
        .visibility_timeout(visibility_s)
        .wait_time_seconds(0)
        .message_system_attribute_names(MessageSystemAttributeName::All)
        .send()
        .await
        .map_err(|e| sqs_error(queue_url, e))?;
    Ok(out.messages.unwrap_or_default())
}

/// Up to `max` messages waiting in the dead-letter queue. They are read
/// with a zero visibility timeout, so they stay available at once.
pub async fn inspect(client: &Client, dlq_url: &str, max: usize) -> Result<Vec<DeadTimer>, TimerQueueError> {
    let mut seen: Vec<DeadTimer> = Vec::new();
    // SQS answers from a sample of its servers: a few empty reads in a row
    // mean the queue is (nearly) empty.
    let mut empty_reads = 0;
    while seen.len() < max && empty_reads < 3 {
        let batch = receive(client, dlq_url, 0).await?;
        let before = seen.len();
        for message in &batch {
            let dead = dead_timer(message);
            if !seen.iter().any(|s| s.message_id == dead.message_id) {
                seen.push(dead);
            }
        }
        if seen.len() == before {
            empty_reads += 1;
        }
    }
    seen.truncate(max);
    Ok(seen)
}

/// What a redrive did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Redriven {
    /// Sent back to the timer queue and deleted from the dead-letter queue.
    pub moved: usize,
    /// Not a round timer: left in the dead-letter queue for a person.
    pub unreadable: Vec<String>,
}

/// Moves up to `max` round timers from `dlq_url` back to `queue_url`.
/// Each is sent before it is deleted, so a failure between the two leaves
/// a copy in each queue (harmless, see the module), never none.
pub async fn redrive(client: &Client, dlq_url: &str, queue_url: &str, max: usize) -> Result<Redriven, TimerQueueError> {
    let mut done = Redriven::default();
    while done.moved < max {
        let batch = receive(client, dlq_url, REDRIVE_VISIBILITY_S).await?;
        if batch.is_empty() {
            break;
        }
        let mut delete = Vec::new();
        for message in batch.into_iter().take(max - done.moved) {
            let dead = dead_timer(&message);
            let (Some(_), Some(body)) = (&dead.timer, &message.body) else {
                done.unreadable.push(dead.message_id);
                continue;
            };
            client
                .send_message()
                .queue_url(queue_url)
                .message_body(body)
                .send()
                .await
                .map_err(|e| sqs_error(queue_url, e))?;
            delete.push(
                DeleteMessageBatchRequestEntry::builder()
                    .id(format!("m{}", delete.len()))
                    .set_receipt_handle(message.receipt_handle.clone())
                    .build()
                    .map_err(|e| sqs_error(dlq_url, e))?,
            );
        }
        if delete.is_empty() {
            // Only unreadable messages are left within reach.
            break;
        }
        let deleted = client
            .delete_message_batch()
            .queue_url(dlq_url)
            .set_entries(Some(delete))
            .send()
            .await
            .map_err(|e| sqs_error(dlq_url, e))?;
        done.moved += deleted.successful.len();
        if !deleted.failed.is_empty() {
            return Err(TimerQueueError {
                queue: dlq_url.to_string(),
                message: format!(
                    "{} messages were sent back but not deleted; they may be redriven again (harmless)",
                    deleted.failed.len()
                ),
            });
        }
    }
    Ok(done)
}
