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

use crate::auth::{KeyError, TokenIssuer, TokenVerifier};
use crate::aws::{AwsResources, AwsSetupError, DynamoStorage, ManagementApiPusher, SnsTexts, SqsTimers, sdk_config};
use crate::domain::clock::{Clock, SystemClock};
use crate::domain::config::OrderingConfig;
use crate::domain::demand::catalogue::{Catalogue, CatalogueError};
use crate::domain::sign_in::CodeHasher;
use crate::embedded::{ConnectionHub, EmbeddedQueue, EmbeddedTexts, MemoryStorage};
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

/// The deployment's pepper for sign-in codes, the same in every instance:
/// `SIGN_IN_PEPPER` if set, else derived from the signing key (a secret
/// already), else none (then no tokens are issued either, so no sign-in).
fn deployment_code_hasher(signing_key_pem: Option<&str>) -> CodeHasher {
    if let Ok(pepper) = std::env::var("SIGN_IN_PEPPER")
        && !pepper.is_empty()
    {
        return CodeHasher::new(pepper.as_bytes());
    }
    match signing_key_pem {
        Some(pem) => {
            let mut context = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
            context.update(b"sign-in code pepper\n");
            context.update(pem.as_bytes());
            CodeHasher::new(context.finish().as_ref())
        }
        None => random_code_hasher(),
    }
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
    lambda_runtime::tracing::init_default_subscriber();
    // Lives as long as the process: every event borrows it.
    let app: &'static LambdaApp = Box::leak(Box::new(lambda_app().await?));
    prime(app).await;
    let handler = &handler;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<E>| async move {
        Ok::<R, lambda_runtime::Error>(handler(app, event.payload).await)
    }))
    .await
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
    #[error(transparent)]
    Catalogue(#[from] CatalogueError),
}

/// Reads the configuration and builds the clients. The token issuer exists
/// only where `JWT_SIGNING_KEY` (PKCS#8 PEM, from a secret) is set.
pub async fn lambda_app() -> Result<LambdaApp, WiringError> {
    // Parsed and checked here, during init: a broken catalogue stops the
    // function with the bad line named, and no event pays for the parse.
    Catalogue::builtin()?;
    let resources = AwsResources::from_env()?;
    let config = OrderingConfig::from_env().map_err(AwsSetupError::from)?;
    let signing_key = std::env::var("JWT_SIGNING_KEY").ok();
    let issuer = match &signing_key {
        Some(pem) => Some(Arc::new(TokenIssuer::from_pem(pem, jwt_issuer()?)?)),
        None => None,
    };
    let sdk = sdk_config().await;
    let sender_id = std::env::var("SMS_SENDER_ID").ok();
    Ok(aws_app(&sdk, &resources, Arc::new(SystemClock), config, issuer)
        .with_texts(Arc::new(SnsTexts::new(&sdk, sender_id)))
        .with_code_hasher(deployment_code_hasher(signing_key.as_deref())))
}

fn jwt_issuer() -> Result<String, WiringError> {
    std::env::var("JWT_ISSUER").map_err(|_| WiringError::Missing("JWT_ISSUER"))
}

/// The verifier of the WebSocket authorizer: `JWT_JWKS` (the issuer's
/// public keys, as JSON) and `JWT_ISSUER`.
pub fn token_verifier() -> Result<TokenVerifier, WiringError> {
    let jwks = std::env::var("JWT_JWKS").map_err(|_| WiringError::Missing("JWT_JWKS"))?;
    let jwks = serde_json::from_str(&jwks).map_err(|e| KeyError::from_message(e.to_string()))?;
    Ok(TokenVerifier::from_jwks(&jwks, &jwt_issuer()?)?)
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
