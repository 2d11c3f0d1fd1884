//! In-process adapters for the local stack and tests: the same contracts as
//! DynamoDB, SQS and the API Gateway management API, held in memory.

mod hub;
mod notifications;
mod queue;
mod storage;
mod texts;

pub use hub::{
    ConnectionHub, MAX_PUSH_BYTES, OutboxReceiver, OutboxRefusal, OutboxSender, SocketCommand, SocketInfo, outbox,
};
pub use notifications::{EmbeddedNotifications, Sent, SentPush, SentSms};
pub use queue::{EmbeddedQueue, ReceivedMessage};
pub use storage::MemoryStorage;
pub use texts::EmbeddedTexts;
