use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::sync::mpsc::UnboundedSender;

use crate::domain::clock::Millis;
use crate::domain::ids::ConnectionId;
use crate::ports::{PushError, Pusher};

/// Largest frame a push may carry, as `PostToConnection` allows.
pub const MAX_PUSH_BYTES: usize = 128 * 1024;

/// What the gateway asks a socket to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SocketCommand {
    /// Send this text frame.
    Send(String),
    /// Close the socket (`DELETE @connections/{id}`).
    Close,
}

/// What `GET @connections/{id}` reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SocketInfo {
    pub connected_at_ms: Millis,
    pub last_active_ms: Millis,
    pub source_ip: String,
    pub user_agent: String,
}

#[derive(Debug)]
struct Socket {
    sender: UnboundedSender<SocketCommand>,
    info: SocketInfo,
}

/// The open sockets of a local gateway: a push is a send on the socket's
/// channel. An unknown or closed socket is `Gone`, as API Gateway's 410.
#[derive(Debug, Clone, Default)]
pub struct ConnectionHub {
    sockets: Arc<Mutex<HashMap<ConnectionId, Socket>>>,
}

impl ConnectionHub {
    fn sockets(&self) -> MutexGuard<'_, HashMap<ConnectionId, Socket>> {
        self.sockets.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Makes a socket reachable (after its `$connect` succeeded).
    pub fn register(&self, id: ConnectionId, sender: UnboundedSender<SocketCommand>, info: SocketInfo) {
        self.sockets().insert(id, Socket { sender, info });
    }

    /// Forgets a socket; later pushes to it are `Gone`.
    pub fn unregister(&self, id: &ConnectionId) {
        self.sockets().remove(id);
    }

    /// Notes activity on a socket.
    pub fn touch(&self, id: &ConnectionId, now_ms: Millis) {
        if let Some(socket) = self.sockets().get_mut(id) {
            socket.info.last_active_ms = now_ms;
        }
    }

    /// What is known about a live socket.
    #[must_use]
    pub fn info(&self, id: &ConnectionId) -> Option<SocketInfo> {
        self.sockets().get(id).map(|s| s.info.clone())
    }

    /// Sends a command to a live socket; false if it is gone.
    pub fn command(&self, id: &ConnectionId, command: SocketCommand) -> bool {
        let sender = self.sockets().get(id).map(|s| s.sender.clone());
        sender.is_some_and(|s| s.send(command).is_ok())
    }
}

impl Pusher for ConnectionHub {
    async fn push(&self, connection: &ConnectionId, payload: &str) -> Result<(), PushError> {
        if payload.len() > MAX_PUSH_BYTES {
            return Err(PushError::Failed("payload larger than 128 KiB".into()));
        }
        if self.command(connection, SocketCommand::Send(payload.to_string())) {
            Ok(())
        } else {
            Err(PushError::Gone)
        }
    }
}
