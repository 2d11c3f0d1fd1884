use std::collections::{BTreeSet, HashMap};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::domain::clock::{Clock, Millis, SystemClock};
use crate::ports::{OfferTimers, QueueError, RoundTimer};

/// SQS's largest `DelaySeconds`.
const MAX_DELAY_MS: Millis = 900_000;

/// A standard queue in memory with SQS's delivery rules: per-message delay,
/// a visibility timeout after each receive, at-least-once delivery, and
/// delete by receipt handle.
#[derive(Debug)]
pub struct EmbeddedQueue {
    state: Mutex<QueueState>,
    arrived: Notify,
    visibility_timeout: Duration,
    arn: String,
}

#[derive(Debug, Default)]
struct QueueState {
    next_id: u64,
    messages: HashMap<u64, StoredMessage>,
    /// Every message by when it is next visible, so a receive touches only
    /// what is due, however many timers wait behind it (a busy city keeps a
    /// minute of offer timers queued).
    schedule: BTreeSet<(Instant, u64)>,
}

impl QueueState {
    fn show_at(&mut self, id: u64, at: Instant) {
        if let Some(message) = self.messages.get_mut(&id) {
            self.schedule.remove(&(message.visible_at, id));
            message.visible_at = at;
            self.schedule.insert((at, id));
        }
    }
}

fn message_id(number: u64) -> String {
    format!("local-{number:016x}")
}

fn message_number(id: &str) -> Option<u64> {
    u64::from_str_radix(id.strip_prefix("local-")?, 16).ok()
}

#[derive(Debug)]
struct StoredMessage {
    body: String,
    visible_at: Instant,
    receive_count: u32,
    sent_at_ms: Millis,
    first_received_ms: Option<Millis>,
    receipt: Option<String>,
}

/// A message as a receive returns it.
#[derive(Debug, Clone, PartialEq)]
pub struct ReceivedMessage {
    pub message_id: String,
    pub receipt_handle: String,
    pub body: String,
    pub receive_count: u32,
    pub sent_at_ms: Millis,
    pub first_received_ms: Millis,
}

impl EmbeddedQueue {
    /// A queue whose received messages come back after `visibility_timeout`
    /// unless deleted.
    #[must_use]
    pub fn new(name: &str, visibility_timeout: Duration) -> Self {
        EmbeddedQueue {
            state: Mutex::default(),
            arrived: Notify::new(),
            visibility_timeout,
            arn: format!("arn:aws:sqs:local:000000000000:{name}"),
        }
    }

    fn state(&self) -> MutexGuard<'_, QueueState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Sends `body`, visible after `delay`.
    pub fn send(&self, body: String, delay: Duration) -> String {
        let mut state = self.state();
        state.next_id += 1;
        let number = state.next_id;
        let visible_at = Instant::now() + delay;
        state.messages.insert(
            number,
            StoredMessage {
                body,
                visible_at,
                receive_count: 0,
                sent_at_ms: SystemClock.now_ms(),
                first_received_ms: None,
                receipt: None,
            },
        );
        state.schedule.insert((visible_at, number));
        drop(state);
        self.arrived.notify_waiters();
        message_id(number)
    }

    /// Up to `max` visible messages, waiting up to `wait` for the first (long
    /// polling). Each received message is hidden for the visibility timeout.
    pub async fn receive(&self, max: usize, wait: Duration) -> Vec<ReceivedMessage> {
        let give_up = Instant::now() + wait;
        loop {
            let notified = self.arrived.notified();
            let (batch, next_visible) = self.take_visible(max);
            if !batch.is_empty() {
                return batch;
            }
            let now = Instant::now();
            if now >= give_up {
                return batch;
            }
            let wake = next_visible.map_or(give_up, |t| t.min(give_up));
            tokio::select! {
                () = notified => {}
                () = tokio::time::sleep_until(wake) => {}
            }
        }
    }

    fn take_visible(&self, max: usize) -> (Vec<ReceivedMessage>, Option<Instant>) {
        let now = Instant::now();
        let hide_until = now + self.visibility_timeout;
        let mut state = self.state();
        // Oldest first among the due (numbers grow with every send), as a
        // standard queue mostly delivers.
        let mut due: Vec<u64> = state
            .schedule
            .iter()
            .take_while(|(at, _)| *at <= now)
            .map(|&(_, n)| n)
            .collect();
        due.sort_unstable();
        due.truncate(max);
        let mut batch = Vec::with_capacity(due.len());
        for number in due {
            state.show_at(number, hide_until);
            let Some(message) = state.messages.get_mut(&number) else {
                continue;
            };
            message.receive_count += 1;
            let received_ms = SystemClock.now_ms();
            let first = *message.first_received_ms.get_or_insert(received_ms);
            let id = message_id(number);
            let receipt = format!("{id}#{}", message.receive_count);
            message.receipt = Some(receipt.clone());
            batch.push(ReceivedMessage {
                message_id: id,
                receipt_handle: receipt,
                body: message.body.clone(),
                receive_count: message.receive_count,
                sent_at_ms: message.sent_at_ms,
                first_received_ms: first,
            });
        }
        let next_visible = state.schedule.first().map(|&(at, _)| at).filter(|at| *at > now);
        (batch, next_visible)
    }

    /// Deletes a received message; a stale receipt handle deletes nothing.
    pub fn delete(&self, receipt_handle: &str) -> bool {
        let mut state = self.state();
        let Some(number) = message_number(receipt_handle.split('#').next().unwrap_or_default()) else {
            return false;
        };
        let current = state.messages.get(&number).and_then(|m| m.receipt.as_deref()) == Some(receipt_handle);
        if current && let Some(message) = state.messages.remove(&number) {
            state.schedule.remove(&(message.visible_at, number));
        }
        current
    }

    /// Drops every message, as SQS `PurgeQueue` does.
    pub fn purge(&self) {
        let mut state = self.state();
        state.messages.clear();
        state.schedule.clear();
    }

    /// Messages not yet deleted.
    #[must_use]
    pub fn len(&self) -> usize {
        self.state().messages.len()
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The batch as the SQS event source mapping hands it to Lambda.
    #[must_use]
    pub fn to_event(&self, batch: &[ReceivedMessage]) -> SqsEvent {
        let mut event = SqsEvent::default();
        event.records = batch
            .iter()
            .map(|m| {
                let mut record = SqsMessage::default();
                record.message_id = Some(m.message_id.clone());
                record.receipt_handle = Some(m.receipt_handle.clone());
                record.body = Some(m.body.clone());
                record.attributes = HashMap::from([
                    ("ApproximateReceiveCount".to_string(), m.receive_count.to_string()),
                    ("SentTimestamp".to_string(), m.sent_at_ms.to_string()),
                    (
                        "ApproximateFirstReceiveTimestamp".to_string(),
                        m.first_received_ms.to_string(),
                    ),
                    ("SenderId".to_string(), "LOCAL".to_string()),
                ]);
                record.event_source = Some("aws:sqs".to_string());
                record.event_source_arn = Some(self.arn.clone());
                record.aws_region = Some("local".to_string());
                record
            })
            .collect();
        event
    }

    /// Deletes what the handler reported as done, as the event source
    /// mapping does with `ReportBatchItemFailures`: listed failures stay
    /// (and come back after the visibility timeout); an unknown identifier
    /// fails the whole batch.
    pub fn settle(&self, batch: &[ReceivedMessage], response: &SqsBatchResponse) {
        let failed: Vec<&str> = response
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.as_str())
            .collect();
        let known = failed.iter().all(|id| batch.iter().any(|m| m.message_id == *id));
        if !known {
            return;
        }
        for message in batch.iter().filter(|m| !failed.contains(&m.message_id.as_str())) {
            self.delete(&message.receipt_handle);
        }
    }
}

impl OfferTimers for EmbeddedQueue {
    async fn schedule_round_close(&self, timer: &RoundTimer, delay_ms: Millis) -> Result<(), QueueError> {
        let body = serde_json::to_string(timer).map_err(|e| QueueError(e.into()))?;
        let delay = u64::try_from(delay_ms.clamp(0, MAX_DELAY_MS)).unwrap_or(0);
        self.send(body, Duration::from_millis(delay));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lambda_events::event::sqs::BatchItemFailure;

    #[tokio::test(start_paused = true)]
    async fn delays_hides_and_redelivers_like_sqs() {
        let queue = EmbeddedQueue::new("timers", Duration::from_secs(30));
        queue.send("a".into(), Duration::from_secs(60));
        queue.send("b".into(), Duration::ZERO);
        let first = queue.receive(10, Duration::from_secs(1)).await;
        assert_eq!(first.len(), 1);
        assert_eq!(first[0].body, "b");
        // "b" is reported failed: it stays, hidden for the visibility timeout.
        let mut failure = BatchItemFailure::default();
        failure.item_identifier = first[0].message_id.clone();
        let mut response = SqsBatchResponse::default();
        response.batch_item_failures = vec![failure];
        queue.settle(&first, &response);
        assert_eq!(queue.len(), 2);
        let next = queue.receive(10, Duration::from_secs(40)).await;
        assert_eq!(next[0].body, "b");
        assert_eq!(next[0].receive_count, 2);
        queue.settle(&next, &SqsBatchResponse::default());
        // "a" arrives only after its delay.
        let late = queue.receive(10, Duration::from_secs(60)).await;
        assert_eq!(late[0].body, "a");
        assert!(!queue.delete(&first[0].receipt_handle), "stale receipt");
        assert!(queue.delete(&late[0].receipt_handle));
        assert!(queue.is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn the_due_come_oldest_first_in_batches_and_the_waiting_stay_hidden() {
        let queue = EmbeddedQueue::new("timers", Duration::from_secs(30));
        for n in 0..1_000 {
            queue.send(format!("later {n}"), Duration::from_secs(60));
        }
        queue.send("x".into(), Duration::from_millis(20));
        queue.send("y".into(), Duration::ZERO);
        queue.send("z".into(), Duration::ZERO);
        tokio::time::advance(Duration::from_millis(30)).await;
        let first = queue.receive(2, Duration::ZERO).await;
        let bodies: Vec<&str> = first.iter().map(|m| m.body.as_str()).collect();
        assert_eq!(bodies, ["x", "y"], "oldest sent first among the due");
        let rest = queue.receive(10, Duration::ZERO).await;
        assert_eq!(rest.len(), 1);
        assert_eq!(rest[0].body, "z");
        assert!(queue.receive(10, Duration::from_secs(1)).await.is_empty());
        for m in first.iter().chain(&rest) {
            assert!(queue.delete(&m.receipt_handle));
        }
        let later = queue.receive(10, Duration::from_secs(61)).await;
        assert_eq!(later.len(), 10);
        assert_eq!(later[0].body, "later 0");
        assert_eq!(queue.len(), 1_000);
    }
}
