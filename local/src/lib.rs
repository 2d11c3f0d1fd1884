//! The local stack: the Lambda handlers behind a local HTTP + WebSocket
//! gateway that copies API Gateway's behaviour (../shared/API-GATEWAY.md),
//! with embedded storage and an embedded SQS-like queue whose delayed
//! messages reach the timer handler as `SqsEvent` batches.

mod events;
mod gateway;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use shared::app::App;
use shared::domain::clock::{Clock, SystemClock};
use shared::domain::config::OrderingConfig;
use shared::embedded::{ConnectionHub, EmbeddedQueue, MemoryStorage};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// The application as the local stack runs it.
pub type LocalApp = App<MemoryStorage, Arc<EmbeddedQueue>, ConnectionHub>;

/// API Gateway's WebSocket quotas, kept configurable so tests can shorten
/// the timeouts.
#[derive(Debug, Clone, Copy)]
pub struct SocketLimits {
    pub max_frame_bytes: usize,
    pub max_message_bytes: usize,
    pub idle_timeout: Duration,
    pub max_connection_age: Duration,
}

impl Default for SocketLimits {
    fn default() -> Self {
        SocketLimits {
            max_frame_bytes: 32 * 1024,
            max_message_bytes: 128 * 1024,
            idle_timeout: Duration::from_secs(10 * 60),
            max_connection_age: Duration::from_secs(2 * 60 * 60),
        }
    }
}

/// How to start the stack.
#[derive(Clone)]
pub struct LocalOptions {
    /// Where to listen; port 0 picks a free port.
    pub addr: SocketAddr,
    pub ordering: OrderingConfig,
    pub sockets: SocketLimits,
    /// The SQS visibility timeout of the timer queue.
    pub visibility_timeout: Duration,
    pub clock: Arc<dyn Clock>,
}

impl Default for LocalOptions {
    fn default() -> Self {
        LocalOptions {
            addr: SocketAddr::from(([127, 0, 0, 1], 8080)),
            ordering: OrderingConfig::default(),
            sockets: SocketLimits::default(),
            visibility_timeout: Duration::from_secs(30),
            clock: Arc::new(SystemClock),
        }
    }
}

/// A running stack; dropping it stops the server and the queue poller.
pub struct RunningStack {
    pub addr: SocketAddr,
    pub app: Arc<LocalApp>,
    pub queue: Arc<EmbeddedQueue>,
    tasks: Vec<JoinHandle<()>>,
}

impl RunningStack {
    /// Base URL of the HTTP API.
    #[must_use]
    pub fn http_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// URL of the WebSocket API.
    #[must_use]
    pub fn ws_url(&self) -> String {
        format!("ws://{}{}", self.addr, gateway::WS_PATH)
    }
}

impl Drop for RunningStack {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// Starts the gateway and the timer poller.
pub async fn start(options: LocalOptions) -> std::io::Result<RunningStack> {
    let queue = Arc::new(EmbeddedQueue::new("offer-timers", options.visibility_timeout));
    let hub = ConnectionHub::default();
    let app = Arc::new(App {
        storage: MemoryStorage::default(),
        timers: Arc::clone(&queue),
        pusher: hub.clone(),
        clock: options.clock,
        config: options.ordering,
    });
    let listener = TcpListener::bind(options.addr).await?;
    let addr = listener.local_addr()?;
    let router = gateway::router(Arc::clone(&app), hub, options.sockets, addr);
    let server = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, router.into_make_service_with_connect_info::<SocketAddr>()).await {
            tracing::error!(error = %e, "gateway stopped");
        }
    });
    let poller = tokio::spawn(gateway::poll_timer_queue(Arc::clone(&app), Arc::clone(&queue)));
    Ok(RunningStack {
        addr,
        app,
        queue,
        tasks: vec![server, poller],
    })
}
