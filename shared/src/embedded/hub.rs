use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::mpsc::UnboundedSender;

use crate::domain::ids::ConnectionId;
use crate::ports::{PushError, Pusher};

/// Largest frame a push may carry, as `PostToConnection` allows.
pub const MAX_PUSH_BYTES: usize = 128 * 1024;

/// The open sockets of a local gateway: a push is a send on the socket's
/// channel. An unknown or closed socket is `Gone`, as API Gateway's 410.
#[derive(Debug, Clone, Default)]
pub struct ConnectionHub {
    sockets: Arc<Mutex<HashMap<ConnectionId, UnboundedSender<String>>>>,
}

impl ConnectionHub {
    /// Makes a socket reachable (after its `$connect` succeeded).
    pub fn register(&self, id: ConnectionId, sender: UnboundedSender<String>) {
        self.sockets
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(id, sender);
    }

    /// Forgets a socket; later pushes to it are `Gone`.
    pub fn unregister(&self, id: &ConnectionId) {
        self.sockets.lock().unwrap_or_else(PoisonError::into_inner).remove(id);
    }

    /// The sender of a live socket.
    #[must_use]
    pub fn sender(&self, id: &ConnectionId) -> Option<UnboundedSender<String>> {
        self.sockets
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(id)
            .cloned()
    }
}

impl Pusher for ConnectionHub {
    async fn push(&self, connection: &ConnectionId, payload: &str) -> Result<(), PushError> {
        if payload.len() > MAX_PUSH_BYTES {
            return Err(PushError::Failed("payload larger than 128 KiB".into()));
        }
        let sender = self.sender(connection).ok_or(PushError::Gone)?;
        sender.send(payload.to_string()).map_err(|_| PushError::Gone)
    }
}
