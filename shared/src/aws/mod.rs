//! AWS adapters: DynamoDB for storage, SQS for round timers, the API
//! Gateway management API for pushes, Secrets Manager for the signing key,
//! SNS for text messages. Endpoints come from the standard
//! `AWS_ENDPOINT_URL` variables, so moto, LocalStack and AWS need no special
//! code path.

mod dynamo;
pub mod emf;
mod push;
mod resources;
mod secrets;
mod sns;
mod sqs;

pub use dynamo::{DynamoStorage, GeoReindex};
pub use push::ManagementApiPusher;
pub use resources::{ensure_platform_application, ensure_queue, ensure_table};
pub use secrets::SecretsManagerSource;
pub use sns::{SnsNotifications, SnsTexts};
pub use sqs::{SqsTimers, long_polling_client};

use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;

use crate::domain::config::ConfigError;

/// Why the AWS application could not be built.
#[derive(Debug, thiserror::Error)]
pub enum AwsSetupError {
    #[error("environment variable {0} is not set")]
    Missing(&'static str),
    #[error(transparent)]
    Config(#[from] ConfigError),
}

/// Where the adapters point.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsResources {
    pub table: String,
    pub queue_url: String,
    /// `https://{api-id}.execute-api.{region}.amazonaws.com/{stage}`.
    pub management_endpoint: String,
}

impl AwsResources {
    /// Reads `TABLE_NAME`, `TIMER_QUEUE_URL` and `WS_MANAGEMENT_ENDPOINT`.
    pub fn from_env() -> Result<Self, AwsSetupError> {
        let var = |name: &'static str| std::env::var(name).map_err(|_| AwsSetupError::Missing(name));
        Ok(AwsResources {
            table: var("TABLE_NAME")?,
            queue_url: var("TIMER_QUEUE_URL")?,
            management_endpoint: var("WS_MANAGEMENT_ENDPOINT")?,
        })
    }
}

/// How many times the SDK tries one call: the first attempt and two
/// retries (standard mode: exponential backoff with full jitter, and a
/// retry quota per process that stops retrying during an outage).
pub const MAX_ATTEMPTS: u32 = 3;
/// The first retry waits up to this long (jittered), the second up to
/// twice as long: short, because a request holds a customer who waits.
pub const INITIAL_BACKOFF: Duration = Duration::from_millis(50);
pub const MAX_BACKOFF: Duration = Duration::from_secs(1);
/// How long the SDK waits for one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// Opening a connection (TCP and TLS).
    pub connect: Duration,
    /// One attempt, from sending to the whole answer; then it is retried.
    pub attempt: Duration,
    /// One call with all its retries.
    pub operation: Duration,
}

impl Timeouts {
    /// The functions' on AWS. Connections to the regional endpoint open
    /// in milliseconds; DynamoDB and SQS answer in milliseconds, so an
    /// attempt still open after 2 s is stuck and is retried on a fresh
    /// connection. A request makes several calls in a row and the
    /// functions have 10 s (API Gateway 29 s), so no single call may take
    /// more than half the budget: the handler then answers 503
    /// `unavailable` itself instead of being killed by the Lambda timeout.
    pub const LAMBDA: Timeouts = Timeouts {
        connect: Duration::from_secs(1),
        attempt: Duration::from_secs(2),
        operation: Duration::from_secs(5),
    };

    /// The local stack's, in front of an emulator (moto, LocalStack): they
    /// handle one request at a time and accept few connections at once, so
    /// under a burst (the whole end-to-end suite on one moto) a call may
    /// queue for over 10 s, and a connection wait for the kernel's
    /// retransmitted SYN (1 s, then 3 s), with nothing wrong. Only a hung
    /// emulator is cut short.
    pub const EMULATOR: Timeouts = Timeouts {
        connect: Duration::from_secs(5),
        attempt: Duration::from_secs(60),
        operation: Duration::from_secs(180),
    };
}

/// The SDK configuration from the environment (region, credentials,
/// `AWS_ENDPOINT_URL`), with the retry settings above and the functions'
/// timeouts (docs/faults.md says why these numbers).
pub async fn sdk_config() -> aws_config::SdkConfig {
    sdk_config_with(None, Timeouts::LAMBDA).await
}

/// The same with other timeouts and, if given, another endpoint than
/// `AWS_ENDPOINT_URL` (the local stack behind the tests' fault proxy).
pub async fn sdk_config_with(endpoint: Option<&str>, timeouts: Timeouts) -> aws_config::SdkConfig {
    let loader = loader(timeouts);
    match endpoint {
        Some(endpoint) => loader.endpoint_url(endpoint).load().await,
        None => loader.load().await,
    }
}

fn loader(timeouts: Timeouts) -> aws_config::ConfigLoader {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .retry_config(
            RetryConfig::standard()
                .with_max_attempts(MAX_ATTEMPTS)
                .with_initial_backoff(INITIAL_BACKOFF)
                .with_max_backoff(MAX_BACKOFF),
        )
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(timeouts.connect)
                .operation_attempt_timeout(timeouts.attempt)
                .operation_timeout(timeouts.operation)
                .build(),
        )
}
