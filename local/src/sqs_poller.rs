//! A Lambda event source mapping for a real (or moto, or LocalStack) SQS
//! queue: long polling, batches of up to 10, `ReportBatchItemFailures`:
//! delete what succeeded, leave failures to come back after the visibility
//! timeout.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
use aws_sdk_sqs::Client;
use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, Message, MessageSystemAttributeName};
use shared::api::timer::handle_timer_batch;
use shared::ports::{OfferTimers, Pusher, Storage};
use shared::usecases::App;
use tracing::{error, warn};

/// Where to poll and how.
#[derive(Debug, Clone)]
pub struct SqsSource {
    pub client: Client,
    pub queue_url: String,
    pub queue_arn: String,
    pub region: String,
    pub wait: Duration,
}

fn to_record(message: &Message, source: &SqsSource) -> SqsMessage {
    let mut record = SqsMessage::default();
    record.message_id = message.message_id.clone();
    record.receipt_handle = message.receipt_handle.clone();
    record.body = message.body.clone();
    record.md5_of_body = message.md5_of_body.clone();
    record.attributes = message
        .attributes
        .clone()
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k.as_str().to_string(), v))
        .collect::<HashMap<_, _>>();
    record.event_source = Some("aws:sqs".into());
    record.event_source_arn = Some(source.queue_arn.clone());
    record.aws_region = Some(source.region.clone());
    record
}

/// Polls forever; run it as a task and abort it to stop.
pub async fn poll_sqs_queue<S: Storage, Q: OfferTimers, P: Pusher>(app: Arc<App<S, Q, P>>, source: SqsSource) {
    let wait_s = i32::try_from(source.wait.as_secs()).unwrap_or(20).clamp(0, 20);
    loop {
        let received = source
            .client
            .receive_message()
            .queue_url(&source.queue_url)
            .max_number_of_messages(10)
            .wait_time_seconds(wait_s)
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .send()
            .await;
        let messages = match received {
            Ok(out) => out.messages.unwrap_or_default(),
            Err(e) => {
                warn!(error = %e, "receive from the timer queue failed; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        if messages.is_empty() {
            continue;
        }
        let mut event = SqsEvent::default();
        event.records = messages.iter().map(|m| to_record(m, &source)).collect();
        let invoke_app = Arc::clone(&app);
        let response = match tokio::spawn(async move { handle_timer_batch(&invoke_app, event).await }).await {
            Ok(response) => response,
            Err(e) => {
                error!(error = %e, "timer handler failed; batch will be redelivered");
                continue;
            }
        };
        let failed: Vec<&str> = response
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.as_str())
            .collect();
        let known = failed
            .iter()
            .all(|id| messages.iter().any(|m| m.message_id.as_deref() == Some(*id)));
        if !known {
            // An unknown identifier fails the whole batch.
            continue;
        }
        let entries: Vec<DeleteMessageBatchRequestEntry> = messages
            .iter()
            .enumerate()
            .filter(|(_, m)| !failed.contains(&m.message_id.as_deref().unwrap_or_default()))
            .filter_map(|(i, m)| {
                DeleteMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .set_receipt_handle(m.receipt_handle.clone())
                    .build()
                    .ok()
            })
            .collect();
        if entries.is_empty() {
            continue;
        }
        if let Err(e) = source
            .client
            .delete_message_batch()
            .queue_url(&source.queue_url)
            .set_entries(Some(entries))
            .send()
            .await
        {
            warn!(error = %e, "could not delete handled timer messages; they will be redelivered harmlessly");
        }
    }
}
