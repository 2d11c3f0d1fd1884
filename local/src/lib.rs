//! The local stack: the Lambda handlers behind a local HTTP + WebSocket
//! gateway that copies API Gateway's behaviour (../shared/API-GATEWAY.md).
//!
//! Two backends run the same handlers:
//! - embedded (default): in-memory storage and an SQS-like queue whose
//!   delayed messages reach the timer handler as `SqsEvent` batches;
//! - AWS-compatible endpoint (`AWS_ENDPOINT_URL`, e.g. moto or LocalStack):
//!   the DynamoDB and SQS adapters, the queue polled like an event source
//!   mapping, and pushes through the real API Gateway management client to
//!   this gateway's own `/{stage}/@connections/{id}`.

mod events;
mod gateway;
mod management_auth;
mod sqs_poller;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use aws_credential_types::provider::ProvideCredentials;
use aws_sdk_dynamodb::types::Select;
use aws_sdk_sqs::types::QueueAttributeName;
use axum::serve::ListenerExt;
use shared::auth::TokenIssuer;
use shared::aws::{AwsResources, ensure_queue, ensure_table};
use shared::domain::clock::{Clock, SystemClock};
use shared::domain::config::{NotificationConfig, OrderingConfig};

use shared::domain::ids::{Caller, ConnectionId};
use shared::embedded::{ConnectionHub, EmbeddedNotifications, EmbeddedQueue, EmbeddedTexts};
use shared::ports::{Connection, ConnectionRepo, OfferTimers, Pusher, RepoError, Storage};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

pub use aws_credential_types::Credentials;
pub use events::STAGE;
pub use gateway::SOCKET_READ_CHUNK_BYTES;

pub use shared::wiring::EmbeddedApp;
/// The application on the AWS adapters, pushing through the local gateway.
pub type EndpointApp = shared::wiring::AwsApp;

/// API Gateway's WebSocket quotas, and the local gateway's own bounds on
/// what one socket may make it hold; configurable so tests can shorten the
/// timeouts.
#[derive(Debug, Clone, Copy)]
pub struct SocketLimits {
    pub max_frame_bytes: usize,
    pub max_message_bytes: usize,
    pub idle_timeout: Duration,
    pub max_connection_age: Duration,
    /// Frames waiting to be written to one socket (pushes and route
    /// responses); a client that lets this fill is not reading and is
    /// closed with 1008.
    pub max_queued_frames: usize,
    /// Bytes of those frames.
    pub max_queued_bytes: usize,
    /// A socket's frames being handled at once; while all are busy the
    /// gateway stops reading the socket (TCP pushes back on the client).
    pub max_in_flight: usize,
    /// Frames a second a client may send (text, binary, ping, pong) over
    /// `frame_burst`; faster, it is closed with 1008.
    pub frames_per_second: u32,
    pub frame_burst: u32,
}

impl Default for SocketLimits {
    fn default() -> Self {
        SocketLimits {
            max_frame_bytes: 32 * 1024,
            max_message_bytes: 128 * 1024,
            idle_timeout: Duration::from_secs(10 * 60),
            max_connection_age: Duration::from_secs(2 * 60 * 60),
            max_queued_frames: 256,
            max_queued_bytes: 1024 * 1024,
            max_in_flight: 16,
            frames_per_second: 50,
            frame_burst: 100,
        }
    }
}

/// Which adapters the stack runs on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Backend {
    /// In memory; no Docker, no cloud.
    Embedded,
    /// DynamoDB and SQS at the endpoint the AWS SDK is configured with
    /// (`AWS_ENDPOINT_URL`); the table and queue are created if missing.
    Endpoint { table: String, queue: String },
}

impl Backend {
    /// `Endpoint` when `AWS_ENDPOINT_URL` is set (table and queue names from
    /// `TABLE_NAME` and `TIMER_QUEUE_NAME`), else `Embedded`.
    #[must_use]
    pub fn from_env() -> Self {
        if std::env::var_os("AWS_ENDPOINT_URL").is_none() {
            return Backend::Embedded;
        }
        Backend::Endpoint {
            table: std::env::var("TABLE_NAME").unwrap_or_else(|_| "orders-local".into()),
            queue: std::env::var("TIMER_QUEUE_NAME").unwrap_or_else(|_| "offer-timers-local".into()),
        }
    }
}

/// How to start the stack.
#[derive(Clone)]
pub struct LocalOptions {
    /// Where to listen; port 0 picks a free port.
    pub addr: SocketAddr,
    pub backend: Backend,
    pub ordering: OrderingConfig,
    pub sockets: SocketLimits,
    /// The SQS visibility timeout of the timer queue (default 60 s, as the
    /// deployed queue: six times offer-timer's 10 s timeout).
    pub visibility_timeout: Duration,
    /// Long-polling wait of the queue poller (endpoint backend).
    pub poll_wait: Duration,
    pub clock: Arc<dyn Clock>,
    /// PKCS#8 PEM of the token signing key; a fresh key each start when
    /// None (and no secret is named).
    pub signing_key_pem: Option<String>,
    /// The Secrets Manager secret holding the signing keys
    /// (`JWT_SIGNING_SECRET_ID`), read at the configured endpoint
    /// (`AWS_ENDPOINT_URL`, e.g. moto) as the HTTP function reads it on
    /// AWS; takes precedence over `signing_key_pem`.
    pub signing_secret_id: Option<String>,
    /// How often the signing secret is re-read (`JWT_KEY_REFRESH_SECONDS`).
    pub key_refresh: Duration,
    /// The credentials `@connections` calls must be SigV4-signed with.
    /// None: the endpoint backend takes the AWS SDK's (so its own pusher
    /// passes); the embedded one takes `AWS_ACCESS_KEY_ID` and
    /// `AWS_SECRET_ACCESS_KEY` (and `AWS_SESSION_TOKEN`) if set, else a fresh
    /// random pair each start.
    pub management_credentials: Option<Credentials>,
    /// The endpoint the endpoint backend's adapters call instead of
    /// `AWS_ENDPOINT_URL` (the end-to-end tests put a fault-injecting proxy
    /// there while their own checks go straight to the server).
    pub aws_endpoint: Option<String>,
    /// Where the endpoint backend's pusher sends `PostToConnection`
    /// (`http://host:port/{stage}`) instead of this gateway's own
    /// `@connections`: the latency benchmark puts its delaying proxy there,
    /// since on AWS a push is a cloud round trip too.
    pub management_endpoint: Option<String>,
    /// The SDK's timeouts on the endpoint backend: an emulator's by
    /// default (`Timeouts::EMULATOR`); the fault tests use the functions'.
    pub aws_timeouts: shared::aws::Timeouts,
}

impl Default for LocalOptions {
    fn default() -> Self {
        LocalOptions {
            addr: SocketAddr::from(([127, 0, 0, 1], 8080)),
            backend: Backend::Embedded,
            ordering: OrderingConfig::default(),
            sockets: SocketLimits::default(),
            visibility_timeout: Duration::from_secs(60),
            poll_wait: Duration::from_secs(20),
            clock: Arc::new(SystemClock),
            signing_key_pem: None,
            signing_secret_id: None,
            key_refresh: shared::auth::DEFAULT_KEY_REFRESH,
            management_credentials: None,
            aws_endpoint: None,
            management_endpoint: None,
            aws_timeouts: shared::aws::Timeouts::EMULATOR,
        }
    }
}

/// Why the stack did not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("could not listen: {0}")]
    Listen(#[from] std::io::Error),
    #[error("could not prepare the table or queue at the configured endpoint: {0}")]
    Resources(#[from] RepoError),
    #[error(transparent)]
    Key(#[from] shared::auth::KeyError),
    #[error("no credentials for the @connections API: {0}")]
    Credentials(#[from] aws_credential_types::provider::error::CredentialsError),
    #[error(transparent)]
    Catalogue(#[from] shared::domain::demand::catalogue::CatalogueError),
    #[error(transparent)]
    Config(#[from] shared::domain::config::ConfigError),
}

enum Running {
    Embedded {
        app: Arc<EmbeddedApp>,
        queue: Arc<EmbeddedQueue>,
    },
    Endpoint {
        app: Arc<EndpointApp>,
        dynamo: aws_sdk_dynamodb::Client,
        sqs: aws_sdk_sqs::Client,
        table: String,
        queue_url: String,
    },
}

/// A running stack; dropping it stops the server and the queue poller.
pub struct RunningStack {
    pub addr: SocketAddr,
    issuer: Arc<TokenIssuer>,
    management_credentials: Credentials,
    hub: ConnectionHub,
    running: Running,
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

    /// The management API endpoint (`PostToConnection` and friends).
    #[must_use]
    pub fn management_url(&self) -> String {
        format!("http://{}/{STAGE}", self.addr)
    }

    /// The credentials `@connections` calls must be signed with (a
    /// management API client built with them passes the check).
    #[must_use]
    pub fn management_credentials(&self) -> Credentials {
        self.management_credentials.clone()
    }

    /// How many sockets the gateway holds open (tests check that closed
    /// ones leave nothing behind).
    #[must_use]
    pub fn open_sockets(&self) -> usize {
        self.hub.len()
    }

    /// A token for `caller`, signed by this stack's issuer (tests; the
    /// development route `POST /dev/tokens` does the same over HTTP).
    pub fn issue_token(&self, caller: &Caller) -> Result<String, shared::auth::KeyError> {
        self.issuer.issue(caller, SystemClock.now_ms())
    }

    /// The stack's token issuer (tests make expired tokens with it).
    #[must_use]
    pub fn issuer(&self) -> Arc<TokenIssuer> {
        Arc::clone(&self.issuer)
    }

    /// Which backend runs.
    #[must_use]
    pub fn backend_name(&self) -> &'static str {
        match self.running {
            Running::Embedded { .. } => "embedded",
            Running::Endpoint { .. } => "endpoint",
        }
    }

    /// How many orders are stored (tests check nothing was half-written).
    /// On the endpoint backend this scans the table: a test aid, never on a
    /// request path.
    pub async fn stored_order_count(&self) -> Result<usize, RepoError> {
        match &self.running {
            Running::Embedded { app, .. } => Ok(app.storage().order_count()),
            Running::Endpoint { dynamo, table, .. } => {
                let mut count = 0;
                let mut start = None;
                loop {
                    let out = dynamo
                        .scan()
                        .table_name(table)
                        .filter_expression("begins_with(pk, :order)")
                        .expression_attribute_values(
                            ":order",
                            aws_sdk_dynamodb::types::AttributeValue::S("ORDER#".into()),
                        )
                        .select(Select::Count)
                        .set_exclusive_start_key(start)
                        .send()
                        .await
                        .map_err(|e| RepoError(Box::new(e)))?;
                    count += usize::try_from(out.count).unwrap_or(0);
                    match out.last_evaluated_key {
                        Some(key) if !key.is_empty() => start = Some(key),
                        _ => return Ok(count),
                    }
                }
            }
        }
    }

    /// Puts a raw message on the timer queue, as a duplicate or stray
    /// delivery would.
    pub async fn send_timer_message(&self, body: String) -> Result<(), RepoError> {
        match &self.running {
            Running::Embedded { queue, .. } => {
                queue.send(body, Duration::ZERO);
                Ok(())
            }
            Running::Endpoint { sqs, queue_url, .. } => {
                sqs.send_message()
                    .queue_url(queue_url)
                    .message_body(body)
                    .send()
                    .await
                    .map_err(|e| RepoError(Box::new(e)))?;
                Ok(())
            }
        }
    }

    /// The SQS timer queue's URL, on the endpoint backend.
    #[must_use]
    pub fn timer_queue_url(&self) -> Option<&str> {
        match &self.running {
            Running::Embedded { .. } => None,
            Running::Endpoint { queue_url, .. } => Some(queue_url),
        }
    }

    /// Loses every pending timer message, as a lost SQS message would.
    pub async fn purge_timer_queue(&self) -> Result<(), RepoError> {
        match &self.running {
            Running::Embedded { queue, .. } => {
                queue.purge();
                Ok(())
            }
            Running::Endpoint { sqs, queue_url, .. } => {
                sqs.purge_queue()
                    .queue_url(queue_url)
                    .send()
                    .await
                    .map_err(|e| RepoError(Box::new(e)))?;
                Ok(())
            }
        }
    }

    /// Records a connection that has no socket behind it, as a missed
    /// `$disconnect` leaves.
    pub async fn record_stale_connection(&self, id: ConnectionId, owner: Caller) -> Result<(), RepoError> {
        let connection = Connection {
            id,
            owner,
            connected_at_ms: SystemClock.now_ms(),
        };
        match &self.running {
            Running::Embedded { app, .. } => app.storage().put_connection(&connection).await,
            Running::Endpoint { app, .. } => app.storage().put_connection(&connection).await,
        }
    }

    /// Makes the holder of `phone` an operator (`--operator-phone`): the
    /// same use case the deploy-time `ops add-operator` command runs.
    pub async fn appoint_operator(
        &self,
        phone: &shared::domain::customer::PhoneNumber,
    ) -> Result<shared::usecases::operators::Appointed, shared::usecases::Unavailable> {
        use shared::usecases::operators::appoint_operator;
        match &self.running {
            Running::Embedded { app, .. } => appoint_operator(app.storage(), phone).await,
            Running::Endpoint { app, .. } => appoint_operator(app.storage(), phone).await,
        }
    }

    /// The roles `phone` holds (for tests: approval grants the store).
    pub async fn account_of(
        &self,
        phone: &shared::domain::customer::PhoneNumber,
    ) -> Result<shared::domain::account::Account, RepoError> {
        use shared::ports::AccountRepo;
        match &self.running {
            Running::Embedded { app, .. } => Ok(app.storage().account(phone).await?.value),
            Running::Endpoint { app, .. } => Ok(app.storage().account(phone).await?.value),
        }
    }

    /// Whether a connection record exists.
    pub async fn connection_recorded(&self, id: &ConnectionId) -> Result<bool, RepoError> {
        match &self.running {
            Running::Embedded { app, .. } => Ok(app.storage().get_connection(id).await?.is_some()),
            Running::Endpoint { app, .. } => Ok(app.storage().get_connection(id).await?.is_some()),
        }
    }

    /// Messages on the timer queue not yet deleted (visible, in flight or
    /// delayed).
    pub async fn pending_timer_messages(&self) -> Result<usize, RepoError> {
        match &self.running {
            Running::Embedded { queue, .. } => Ok(queue.len()),
            Running::Endpoint { sqs, queue_url, .. } => {
                let out = sqs
                    .get_queue_attributes()
                    .queue_url(queue_url)
                    .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
                    .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
                    .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesDelayed)
                    .send()
                    .await
                    .map_err(|e| RepoError(Box::new(e)))?;
                Ok(out
                    .attributes
                    .unwrap_or_default()
                    .values()
                    .filter_map(|v| v.parse::<usize>().ok())
                    .sum())
            }
        }
    }
}

impl Drop for RunningStack {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// Credentials for the embedded backend: the environment's, else a random
/// pair nobody else knows.
async fn embedded_management_credentials() -> Result<Credentials, StartError> {
    if let Ok(credentials) = aws_config::environment::EnvironmentVariableCredentialsProvider::new()
        .provide_credentials()
        .await
    {
        return Ok(credentials);
    }
    let mut secret = [0_u8; 30];
    aws_lc_rs::rand::fill(&mut secret).map_err(|_| {
        aws_credential_types::provider::error::CredentialsError::not_loaded("no randomness for a local secret")
    })?;
    Ok(Credentials::new(
        format!("LOCAL{}", ulid::Ulid::new()),
        base64::Engine::encode(&base64::engine::general_purpose::STANDARD, secret),
        None,
        None,
        "local-stack",
    ))
}

fn serve(listener: TcpListener, router: axum::Router) -> JoinHandle<()> {
    tokio::spawn(async move {
        // No Nagle delay: a reply written right after a push must not wait
        // for the client's delayed ACK (API Gateway answers at once too).
        let listener = listener.tap_io(|tcp| {
            if let Err(e) = tcp.set_nodelay(true) {
                tracing::warn!(error = %e, "could not set TCP_NODELAY");
            }
        });
        if let Err(e) = axum::serve(listener, router.into_make_service_with_connect_info::<SocketAddr>()).await {
            tracing::error!(error = %e, "gateway stopped");
        }
    })
}

/// What the gateway needs besides the application, on either backend.
struct Gateway<'a> {
    hub: &'a ConnectionHub,
    sockets: SocketLimits,
    addr: SocketAddr,
    issuer: &'a Arc<TokenIssuer>,
    credentials: &'a Credentials,
    texts: Option<Arc<EmbeddedTexts>>,
    notifications: Option<Arc<EmbeddedNotifications>>,
}

/// Receipts link to the local stack itself (`TRACKING_BASE_URL` when set;
/// an unusable value stops the start, as it stops a Lambda's init).
fn local_notification_config(addr: SocketAddr) -> Result<NotificationConfig, shared::domain::config::ConfigError> {
    let base = std::env::var("TRACKING_BASE_URL").unwrap_or_else(|_| format!("http://{addr}"));
    NotificationConfig::from_lookup(|_| Some(base.clone()))
}

impl Gateway<'_> {
    /// Serves the local API Gateway for `app` on `listener`.
    fn serve<S: Storage, Q: OfferTimers, P: Pusher>(
        &self,
        listener: TcpListener,
        app: Arc<shared::usecases::App<S, Q, P>>,
    ) -> Result<JoinHandle<()>, shared::auth::KeyError> {
        let router = gateway::router(
            app,
            self.hub.clone(),
            self.sockets,
            self.addr,
            Arc::clone(self.issuer),
            management_auth::ManagementAuth::new(self.credentials.clone()),
            self.texts
                .clone()
                .zip(self.notifications.clone())
                .map(|(texts, notifications)| gateway::LocalOutbox { texts, notifications }),
        )?;
        Ok(serve(listener, router))
    }
}

/// Starts the gateway and the timer poller on the chosen backend.
pub async fn start(options: LocalOptions) -> Result<RunningStack, StartError> {
    // Checked at start-up, as a Lambda's init does (shared::wiring).
    shared::domain::demand::catalogue::Catalogue::builtin()?;
    let listener = TcpListener::bind(options.addr).await?;
    let addr = listener.local_addr()?;
    let notification_config = local_notification_config(addr)?;
    let hub = ConnectionHub::default();
    // Token times are checked against the machine's clock, as before:
    // tests that stop the ordering clock still use real tokens.
    let issuer_url = format!("http://{addr}");
    let issuer = Arc::new(match (&options.signing_secret_id, &options.signing_key_pem) {
        (Some(secret_id), _) => {
            let sdk = shared::aws::sdk_config().await;
            shared::wiring::secret_issuer(&sdk, secret_id, issuer_url, Arc::new(SystemClock), options.key_refresh)
                .await?
        }
        (None, Some(pem)) => TokenIssuer::from_pem(pem, issuer_url)?,
        (None, None) => TokenIssuer::generate(issuer_url)?,
    });
    match options.backend.clone() {
        Backend::Embedded => {
            let management_credentials = match options.management_credentials {
                Some(credentials) => credentials,
                None => embedded_management_credentials().await?,
            };
            let queue = Arc::new(EmbeddedQueue::new("offer-timers", options.visibility_timeout));
            let texts = Arc::new(EmbeddedTexts::default());
            let notifications = Arc::new(EmbeddedNotifications::new(Arc::clone(&texts)));
            let app = Arc::new(
                shared::wiring::embedded_app(
                    Arc::clone(&queue),
                    hub.clone(),
                    options.clock,
                    options.ordering,
                    Arc::clone(&issuer),
                    Arc::clone(&texts),
                )
                .with_notifications(
                    Arc::clone(&notifications) as Arc<dyn shared::ports::Notifications>,
                    notification_config,
                ),
            );
            let gateway = Gateway {
                hub: &hub,
                sockets: options.sockets,
                addr,
                issuer: &issuer,
                credentials: &management_credentials,
                texts: Some(texts),
                notifications: Some(notifications),
            };
            let server = gateway.serve(listener, Arc::clone(&app))?;
            let poller = tokio::spawn(gateway::poll_embedded_queue(Arc::clone(&app), Arc::clone(&queue)));
            Ok(RunningStack {
                addr,
                issuer,
                management_credentials,
                hub,
                running: Running::Embedded { app, queue },
                tasks: vec![server, poller],
            })
        }
        Backend::Endpoint { table, queue } => {
            let sdk = shared::aws::sdk_config_with(options.aws_endpoint.as_deref(), options.aws_timeouts).await;
            let management_credentials = match options.management_credentials {
                Some(credentials) => credentials,
                None => match sdk.credentials_provider() {
                    Some(provider) => provider.provide_credentials().await?,
                    None => {
                        return Err(aws_credential_types::provider::error::CredentialsError::not_loaded(
                            "the AWS SDK has no credentials provider",
                        )
                        .into());
                    }
                },
            };
            let dynamo = aws_sdk_dynamodb::Client::new(&sdk);
            let sqs = aws_sdk_sqs::Client::new(&sdk);
            ensure_table(&dynamo, &table).await?;
            let visibility_s = u32::try_from(options.visibility_timeout.as_secs()).unwrap_or(60);
            let queue_url = ensure_queue(&sqs, &queue, visibility_s).await?;
            let resources = AwsResources {
                table: table.clone(),
                queue_url: queue_url.clone(),
                management_endpoint: options
                    .management_endpoint
                    .clone()
                    .unwrap_or_else(|| format!("http://{addr}/{STAGE}")),
            };
            // One platform application per table, so each test's pushes are its own.
            let notifications = shared::wiring::emulated_sns_notifications(&sdk, &format!("push-{table}")).await?;
            let app = Arc::new(
                shared::wiring::aws_app(
                    &sdk,
                    &resources,
                    options.clock,
                    options.ordering,
                    Some(Arc::clone(&issuer)),
                )
                .with_notifications(notifications, notification_config),
            );
            let gateway = Gateway {
                hub: &hub,
                sockets: options.sockets,
                addr,
                issuer: &issuer,
                credentials: &management_credentials,
                // SMS and pushes go to SNS (moto keeps them); nothing local to read.
                texts: None,
                notifications: None,
            };
            let server = gateway.serve(listener, Arc::clone(&app))?;
            let region = sdk
                .region()
                .map_or_else(|| "us-east-1".to_string(), ToString::to_string);
            let source = sqs_poller::SqsSource {
                client: shared::aws::long_polling_client(&sdk, options.poll_wait),
                queue_arn: format!("arn:aws:sqs:{region}:000000000000:{queue}"),
                queue_url: queue_url.clone(),
                region,
                wait: options.poll_wait,
            };
            let poller = tokio::spawn(sqs_poller::poll_sqs_queue(Arc::clone(&app), source));
            Ok(RunningStack {
                addr,
                issuer,
                management_credentials,
                hub,
                running: Running::Endpoint {
                    app,
                    dynamo,
                    sqs,
                    table,
                    queue_url,
                },
                tasks: vec![server, poller],
            })
        }
    }
}
