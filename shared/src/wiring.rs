//! Building the application, in one place: for a Lambda process (once,
//! during init, so every event reuses the same SDK clients and
//! connections), and for the local stack on either backend.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::error::DisplayErrorContext;
use lambda_runtime::{LambdaEvent, service_fn};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::api::after::AfterAnswer;
use crate::auth::{DEFAULT_KEY_REFRESH, DEFAULT_MIN_REFETCH, KeyError, TokenIssuer, TokenVerifier};
use crate::aws::{
    AwsResources, AwsSetupError, DynamoStorage, ManagementApiPusher, SecretsManagerSource, SnsNotifications, SnsTexts,
    SqsTimers, sdk_config,
};
use crate::domain::clock::{Clock, SystemClock};
use crate::domain::config::{NotificationConfig, OrderingConfig};
use crate::domain::demand::catalogue::{Catalogue, CatalogueError};
use crate::domain::sign_in::CodeHasher;
use crate::embedded::{ConnectionHub, EmbeddedQueue, EmbeddedTexts, MemoryStorage};
use crate::jwks_url::JwksUrl;
use crate::usecases::App;

/// The application on the AWS adapters.
pub type AwsApp = App<DynamoStorage, SqsTimers, ManagementApiPusher>;
/// The application as a Lambda function runs it.
pub type LambdaApp = AwsApp;
/// The application on the embedded adapters (the local stack, tests).
pub type EmbeddedApp = App<MemoryStorage, Arc<EmbeddedQueue>, ConnectionHub>;

/// Builds the AWS clients once: DynamoDB for storage, SQS for timers, the
/// management API at `resources.management_endpoint` for pushes, SNS for
/// sign-in codes (with no sender id, and a pepper of this process until
/// [`lambda_app`] gives the deployment's).
pub fn aws_app(
    sdk: &aws_config::SdkConfig,
    resources: &AwsResources,
    clock: Arc<dyn Clock>,
    config: OrderingConfig,
    issuer: Option<Arc<TokenIssuer>>,
) -> AwsApp {
    let app = App::new(
        DynamoStorage::new(aws_sdk_dynamodb::Client::new(sdk), resources.table.clone()),
        SqsTimers::new(aws_sdk_sqs::Client::new(sdk), resources.queue_url.clone()),
        ManagementApiPusher::new(sdk, &resources.management_endpoint),
        clock,
        config,
    )
    .with_texts(Arc::new(SnsTexts::new(sdk, None)))
    .with_code_hasher(random_code_hasher());
    match issuer {
        Some(issuer) => app.with_issuer(issuer),
        None => app,
    }
}

/// The application in memory: the embedded queue's timers, the hub's
/// sockets and the local outbox of texts.
pub fn embedded_app(
    queue: Arc<EmbeddedQueue>,
    hub: ConnectionHub,
    clock: Arc<dyn Clock>,
    config: OrderingConfig,
    issuer: Arc<TokenIssuer>,
    texts: Arc<EmbeddedTexts>,
) -> EmbeddedApp {
    App::new(MemoryStorage::default(), queue, hub, clock, config)
        .with_issuer(issuer)
        .with_texts(texts)
        .with_code_hasher(random_code_hasher())
}

/// A pepper that lives as long as this process: enough for one process
/// (the local stack), never for a fleet of Lambda instances.
fn random_code_hasher() -> CodeHasher {
    CodeHasher::random().unwrap_or_else(|_| CodeHasher::new(ulid::Ulid::new().to_string().as_bytes()))
}

/// Runs a Lambda function: builds the application during init, primes
/// DynamoDB, then hands every event to `handler`. A function's `main` is
/// this one call.
///
/// # Errors
/// Init failed (configuration, key, catalogue), or the runtime stopped.
pub async fn serve<E, R, F, Fut>(handler: F) -> Result<(), lambda_runtime::Error>
where
    E: DeserializeOwned + Send,
    R: Serialize,
    F: Fn(&'static LambdaApp, E) -> Fut,
    Fut: Future<Output = R>,
{
    let app = init_lambda_app().await?;
    let handler = &handler;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<E>| async move {
        refresh_signing_key(app).await;
        Ok::<R, lambda_runtime::Error>(handler(app, event.payload).await)
    }))
    .await
}

/// Runs a Lambda function whose events may leave work after their answer
/// ([`AfterAnswer`]: an accept's pushes, receipt and statistics), as
/// [`serve`] otherwise. The answer goes back to API Gateway as soon as the
/// handler has it; the work then runs on while an internal extension
/// (Lambda Extensions API, `INVOKE` events) holds the invocation open until
/// it is done, so the environment is never frozen with pushes half sent.
/// Lambda returns a function's response when the runtime posts it, even
/// while extensions are still running.
///
/// # Errors
/// Init failed (configuration, key, catalogue, the extension's
/// registration), or the runtime stopped.
pub async fn serve_answering_first<E, R, F, Fut>(handler: F) -> Result<(), lambda_runtime::Error>
where
    E: DeserializeOwned + Send,
    R: Serialize,
    F: Fn(&'static LambdaApp, E) -> Fut,
    Fut: Future<Output = (R, AfterAnswer<'static>)>,
{
    let app = init_lambda_app().await?;
    // One `()` per invocation, sent once its followups are done; the
    // extension's INVOKE event waits for it (one invocation at a time).
    let (done, followed_up) = tokio::sync::mpsc::unbounded_channel::<()>();
    let followed_up = Arc::new(tokio::sync::Mutex::new(followed_up));
    let extension = lambda_extension::Extension::new()
        .with_extension_name("after-answer")
        .with_events(&["INVOKE"])
        .with_events_processor(lambda_extension::service_fn(move |_: lambda_extension::LambdaEvent| {
            let followed_up = Arc::clone(&followed_up);
            async move {
                followed_up.lock().await.recv().await;
                Ok::<(), lambda_extension::Error>(())
            }
        }))
        // Before the runtime's first request for an event: init ends there.
        .register()
        .await?;
    let handler = &handler;
    let runtime = lambda_runtime::run(service_fn(move |event: LambdaEvent<E>| {
        let finished = FollowedUp(done.clone());
        async move {
            refresh_signing_key(app).await;
            let (response, after) = handler(app, event.payload).await;
            if !after.is_empty() {
                tokio::spawn(async move {
                    after.run().await;
                    drop(finished);
                });
            }
            Ok::<R, lambda_runtime::Error>(response)
        }
    }));
    tokio::try_join!(runtime, extension.run())?;
    Ok(())
}

/// Tells the extension an invocation's followups are done when dropped:
/// also when there were none, or the handler panicked.
struct FollowedUp(tokio::sync::mpsc::UnboundedSender<()>);

impl Drop for FollowedUp {
    fn drop(&mut self) {
        // The extension gone means the process is ending anyway.
        let _ = self.0.send(());
    }
}

/// Logging, the application (it lives as long as the process: every event
/// borrows it) and DynamoDB primed, during init.
async fn init_lambda_app() -> Result<&'static LambdaApp, lambda_runtime::Error> {
    init_logging();
    let app: &'static LambdaApp = Box::leak(Box::new(lambda_app().await?));
    prime(app).await;
    Ok(app)
}

/// Picks up a rotated signing key (a no-op until the refresh interval has
/// passed since the last read).
async fn refresh_signing_key(app: &LambdaApp) {
    if let Some(issuer) = app.identity().issuer() {
        issuer.refresh_if_due().await;
    }
}

/// Why a function could not start.
#[derive(Debug, thiserror::Error)]
pub enum WiringError {
    #[error(transparent)]
    Aws(#[from] AwsSetupError),
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error("environment variable {0} is not set")]
    Missing(&'static str),
    #[error("environment variable {0} is not valid")]
    Invalid(&'static str),
    #[error(transparent)]
    Catalogue(#[from] CatalogueError),
}

/// Reads the configuration and builds the clients. The token issuer exists
/// only where `JWT_SIGNING_SECRET_ID` names the signing secret in Secrets
/// Manager: it is read here, during init, and re-read at most every
/// `JWT_KEY_REFRESH_SECONDS` (default 300). No key material passes through
/// the environment.
pub async fn lambda_app() -> Result<LambdaApp, WiringError> {
    // Parsed and checked here, during init: a broken catalogue stops the
    // function with the bad line named, and no event pays for the parse.
    Catalogue::builtin()?;
    let resources = AwsResources::from_env()?;
    let config = OrderingConfig::from_env().map_err(AwsSetupError::from)?;
    let sdk = sdk_config().await;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let (issuer, hasher) = match std::env::var("JWT_SIGNING_SECRET_ID") {
        Ok(secret_id) => {
            let issuer = secret_issuer(&sdk, &secret_id, jwt_issuer()?, Arc::clone(&clock), key_refresh()?).await?;
            let hasher = CodeHasher::new(&issuer.sign_in_pepper());
            (Some(Arc::new(issuer)), hasher)
        }
        // No tokens are issued, so nobody signs in either.
        Err(_) => (None, random_code_hasher()),
    };
    let sender_id = std::env::var("SMS_SENDER_ID").ok();
    let notification_config =
        NotificationConfig::from_lookup(|name| std::env::var(name).ok()).map_err(AwsSetupError::from)?;
    let notifications = sns_notifications(
        &sdk,
        sender_id.clone(),
        std::env::var("PUSH_PLATFORM_APPLICATION_ARN").ok(),
    );
    Ok(aws_app(&sdk, &resources, clock, config, issuer)
        .with_texts(Arc::new(SnsTexts::new(&sdk, sender_id)))
        .with_notifications(notifications, notification_config)
        .with_code_hasher(hasher))
}

/// SNS notifications for the local stack on an emulator (moto records
/// what is sent): the platform application `name` is made if missing.
///
/// # Errors
/// SNS could not be reached.
pub async fn emulated_sns_notifications(
    sdk: &aws_config::SdkConfig,
    name: &str,
) -> Result<Arc<SnsNotifications>, crate::ports::RepoError> {
    let arn = crate::aws::ensure_platform_application(&aws_sdk_sns::Client::new(sdk), name).await?;
    Ok(sns_notifications(sdk, None, Some(arn)))
}

/// Receipts by SMS and offers by mobile push through SNS: texts with the
/// sender id `SMS_SENDER_ID`, pushes to endpoints of the platform
/// application `PUSH_PLATFORM_APPLICATION_ARN` (none: devices cannot
/// register, and no store is alerted by push).
#[must_use]
pub fn sns_notifications(
    sdk: &aws_config::SdkConfig,
    sender_id: Option<String>,
    platform_application_arn: Option<String>,
) -> Arc<SnsNotifications> {
    Arc::new(SnsNotifications::new(
        SnsTexts::new(sdk, sender_id),
        platform_application_arn,
    ))
}

/// An issuer that reads its keys from the Secrets Manager secret
/// `secret_id` now and at most every `refresh` afterwards.
///
/// # Errors
/// The secret could not be read or holds no valid RSA key.
pub async fn secret_issuer(
    sdk: &aws_config::SdkConfig,
    secret_id: &str,
    issuer: String,
    clock: Arc<dyn Clock>,
    refresh: Duration,
) -> Result<TokenIssuer, KeyError> {
    let source = SecretsManagerSource::new(aws_sdk_secretsmanager::Client::new(sdk), secret_id);
    TokenIssuer::from_source(Arc::new(source), issuer, clock, refresh).await
}

fn jwt_issuer() -> Result<String, WiringError> {
    std::env::var("JWT_ISSUER").map_err(|_| WiringError::Missing("JWT_ISSUER"))
}

/// `JWT_KEY_REFRESH_SECONDS`: how often keys are re-read (default 300).
/// How often the signing secret (and the authorizer's JWKS) is re-read:
/// `JWT_KEY_REFRESH_SECONDS`, 300 s by default.
///
/// # Errors
/// The variable is set but is not a number of seconds.
pub fn key_refresh() -> Result<Duration, WiringError> {
    match std::env::var("JWT_KEY_REFRESH_SECONDS") {
        Ok(text) => text
            .trim()
            .parse::<u64>()
            .map(Duration::from_secs)
            .map_err(|_| WiringError::Invalid("JWT_KEY_REFRESH_SECONDS")),
        Err(_) => Ok(DEFAULT_KEY_REFRESH),
    }
}

/// Where the issuer publishes its keys: `JWT_JWKS_URL`, by default
/// `{JWT_ISSUER}/.well-known/jwks.json`.
fn jwks_url() -> Result<String, WiringError> {
    match std::env::var("JWT_JWKS_URL") {
        Ok(url) => Ok(url),
        Err(_) => Ok(format!("{}/.well-known/jwks.json", jwt_issuer()?.trim_end_matches('/'))),
    }
}

/// The verifier of the WebSocket authorizer: the issuer's published JWKS
/// (no access to the private keys), fetched now, again every
/// `JWT_KEY_REFRESH_SECONDS` and on an unknown key id (at most every 10 s).
///
/// # Errors
/// Configuration missing, or the JWKS could not be fetched during init.
pub async fn token_verifier() -> Result<TokenVerifier, WiringError> {
    let source = JwksUrl::new(jwks_url()?)?;
    Ok(TokenVerifier::from_source(
        Arc::new(source),
        &jwt_issuer()?,
        Arc::new(SystemClock),
        key_refresh()?,
        DEFAULT_MIN_REFETCH,
    )
    .await?)
}

/// How long priming may hold up init: well inside Lambda's 10 s init limit,
/// and long enough for a TLS handshake to a regional endpoint.
const PRIME_TIMEOUT: Duration = Duration::from_secs(2);

/// Makes the first DynamoDB call during init, so the first event does not
/// pay for the TLS handshake, credential resolution and endpoint resolution.
/// A failure or timeout is logged and ignored: the function still starts,
/// and the first event simply connects as it would have. Set
/// `NO_INIT_PRIMING` (any value) to skip it, e.g. to measure what it costs.
pub async fn prime(app: &LambdaApp) {
    if std::env::var("NO_INIT_PRIMING").is_ok() {
        return;
    }
    let started = Instant::now();
    match tokio::time::timeout(PRIME_TIMEOUT, app.storage().prime()).await {
        Ok(Ok(())) => tracing::debug!(elapsed_ms = started.elapsed().as_millis(), "primed DynamoDB"),
        Ok(Err(e)) => tracing::warn!(error = %DisplayErrorContext(&e), "priming DynamoDB failed; continuing"),
        Err(_) => tracing::warn!(
            timeout_ms = PRIME_TIMEOUT.as_millis(),
            "priming DynamoDB timed out; continuing"
        ),
    }
}

/// The log filter for `directives` (`RUST_LOG`'s syntax), with the AWS SDK
/// held at DEBUG whatever is asked: at TRACE it prints every request and
/// response body, and those carry phone numbers, codes and tokens.
#[must_use]
pub fn log_filter(directives: &str) -> tracing_subscriber::EnvFilter {
    let filter = tracing_subscriber::EnvFilter::new(directives);
    [
        "aws_smithy_runtime",
        "aws_smithy_runtime_api",
        "aws_smithy_http",
        "aws_sdk_dynamodb",
        "aws_sdk_sqs",
        "aws_sdk_sns",
    ]
    .into_iter()
    .filter_map(|target| format!("{target}=debug").parse().ok())
    .fold(filter, tracing_subscriber::EnvFilter::add_directive)
}

/// Lambda's logging as `lambda_runtime` sets it up (level from
/// `AWS_LAMBDA_LOG_LEVEL`, else `RUST_LOG`, else INFO; JSON when
/// `AWS_LAMBDA_LOG_FORMAT` says so), through [`log_filter`].
pub fn init_logging() {
    let directives = std::env::var("AWS_LAMBDA_LOG_LEVEL")
        .or_else(|_| std::env::var("RUST_LOG"))
        .unwrap_or_else(|_| "info".to_string());
    let logs = tracing_subscriber::fmt()
        .with_target(false)
        .without_time()
        .with_env_filter(log_filter(&directives));
    let json = std::env::var("AWS_LAMBDA_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json"));
    // A second init (a test that set its own) is not an error worth failing for.
    let _ = if json { logs.json().try_init() } else { logs.try_init() };
}
