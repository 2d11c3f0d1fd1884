use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::sync::Notify;
use tokio::sync::mpsc::{self, error::TrySendError};

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

impl SocketCommand {
    fn bytes(&self) -> usize {
        match self {
            SocketCommand::Send(frame) => frame.len(),
            SocketCommand::Close => 0,
        }
    }
}

/// A socket's outgoing queue, bounded in frames and in bytes, so that a
/// client that does not read cannot make the gateway hold its frames
/// without end. A send that finds it full is refused and raises the
/// overflow signal: the socket's pump then closes the socket.
#[must_use]
pub fn outbox(max_frames: usize, max_bytes: usize) -> (OutboxSender, OutboxReceiver) {
    let (tx, rx) = mpsc::channel(max_frames.max(1));
    let queued = Arc::new(AtomicUsize::new(0));
    let overflow = Arc::new(Notify::new());
    (
        OutboxSender {
            tx,
            queued: Arc::clone(&queued),
            max_bytes,
            overflow: Arc::clone(&overflow),
        },
        OutboxReceiver { rx, queued, overflow },
    )
}

/// Why a command was not queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutboxRefusal {
    /// The socket's pump has stopped.
    Closed,
    /// The queue is full: the client is not reading. The socket is being
    /// closed.
    Full,
}

/// The sending half of a socket's [`outbox`]; clones share the bound.
#[derive(Debug, Clone)]
pub struct OutboxSender {
    tx: mpsc::Sender<SocketCommand>,
    queued: Arc<AtomicUsize>,
    max_bytes: usize,
    overflow: Arc<Notify>,
}

impl OutboxSender {
    /// Queues a command without waiting.
    pub fn send(&self, command: SocketCommand) -> Result<(), OutboxRefusal> {
        let bytes = command.bytes();
        let reserved = self
            .queued
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |q| {
                q.checked_add(bytes).filter(|total| *total <= self.max_bytes)
            })
            .is_ok();
        if !reserved {
            self.overflow.notify_one();
            return Err(OutboxRefusal::Full);
        }
        match self.tx.try_send(command) {
            Ok(()) => Ok(()),
            Err(e) => {
                self.queued.fetch_sub(bytes, Ordering::AcqRel);
                match e {
                    TrySendError::Full(_) => {
                        self.overflow.notify_one();
                        Err(OutboxRefusal::Full)
                    }
                    TrySendError::Closed(_) => Err(OutboxRefusal::Closed),
                }
            }
        }
    }
}

/// The receiving half of a socket's [`outbox`], held by the socket's pump.
#[derive(Debug)]
pub struct OutboxReceiver {
    rx: mpsc::Receiver<SocketCommand>,
    queued: Arc<AtomicUsize>,
    overflow: Arc<Notify>,
}

impl OutboxReceiver {
    /// The next command; None once every sender is gone.
    pub async fn recv(&mut self) -> Option<SocketCommand> {
        let command = self.rx.recv().await?;
        self.queued.fetch_sub(command.bytes(), Ordering::AcqRel);
        Some(command)
    }

    /// Signalled once a send found the queue full (`notified().await`).
    #[must_use]
    pub fn overflow_signal(&self) -> Arc<Notify> {
        Arc::clone(&self.overflow)
    }

    /// Bytes of frames queued and not yet taken.
    #[must_use]
    pub fn queued_bytes(&self) -> usize {
        self.queued.load(Ordering::Acquire)
    }
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
    sender: OutboxSender,
    info: SocketInfo,
}

/// The open sockets of a local gateway: a push is a send on the socket's
/// bounded [`outbox`]. An unknown or closed socket is `Gone`, as API
/// Gateway's 410; so is one whose outbox is full, which is being closed
/// for not reading (and forgotten at once).
#[derive(Debug, Clone, Default)]
pub struct ConnectionHub {
    sockets: Arc<Mutex<HashMap<ConnectionId, Socket>>>,
}

impl ConnectionHub {
    fn sockets(&self) -> MutexGuard<'_, HashMap<ConnectionId, Socket>> {
        self.sockets.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Makes a socket reachable (after its `$connect` succeeded).
    pub fn register(&self, id: ConnectionId, sender: OutboxSender, info: SocketInfo) {
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

    /// Sends a command to a live socket; false if it is gone, or its
    /// outbox is full (it is then forgotten: the socket is being closed).
    pub fn command(&self, id: &ConnectionId, command: SocketCommand) -> bool {
        let sender = self.sockets().get(id).map(|s| s.sender.clone());
        let Some(sender) = sender else {
            return false;
        };
        if sender.send(command).is_ok() {
            return true;
        }
        self.unregister(id);
        false
    }

    /// How many sockets are registered.
    #[must_use]
    pub fn len(&self) -> usize {
        self.sockets().len()
    }

    /// Whether no socket is registered.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.sockets().is_empty()
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

    async fn close(&self, connection: &ConnectionId) -> Result<(), PushError> {
        if self.command(connection, SocketCommand::Close) {
            Ok(())
        } else {
            Err(PushError::Gone)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_outbox_is_bounded_in_frames_and_bytes_and_signals_overflow() {
        let (sender, mut receiver) = outbox(3, 10);
        let overflow = receiver.overflow_signal();
        assert_eq!(sender.send(SocketCommand::Send("12345".into())), Ok(()));
        assert_eq!(sender.send(SocketCommand::Send("12345".into())), Ok(()));
        assert_eq!(receiver.queued_bytes(), 10);
        // Over the byte bound.
        assert_eq!(sender.send(SocketCommand::Send("1".into())), Err(OutboxRefusal::Full));
        overflow.notified().await;
        assert_eq!(sender.send(SocketCommand::Close), Ok(()));
        // Over the frame bound.
        assert_eq!(sender.send(SocketCommand::Close), Err(OutboxRefusal::Full));
        assert_eq!(receiver.recv().await, Some(SocketCommand::Send("12345".into())));
        assert_eq!(receiver.queued_bytes(), 5);
        assert_eq!(sender.send(SocketCommand::Send("12345".into())), Ok(()));
        drop(receiver);
        assert_eq!(sender.send(SocketCommand::Close), Err(OutboxRefusal::Closed));
    }

    #[tokio::test]
    async fn a_full_outbox_makes_the_socket_gone() {
        let hub = ConnectionHub::default();
        let (sender, _receiver) = outbox(1, MAX_PUSH_BYTES);
        let id = ConnectionId::new("slow").expect("id");
        let info = SocketInfo {
            connected_at_ms: 0,
            last_active_ms: 0,
            source_ip: String::new(),
            user_agent: String::new(),
        };
        hub.register(id.clone(), sender, info);
        assert!(hub.push(&id, "one").await.is_ok());
        assert!(matches!(hub.push(&id, "two").await, Err(PushError::Gone)));
        assert!(hub.info(&id).is_none());
        assert!(hub.is_empty());
    }
}
