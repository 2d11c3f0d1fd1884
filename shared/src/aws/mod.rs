//! AWS adapters: DynamoDB for storage, SQS for round timers, the API
//! Gateway management API for pushes, Secrets Manager for the signing key,
//! SNS for text messages. Endpoints come from the standard
//! `AWS_ENDPOINT_URL` variables, so moto, LocalStack and AWS need no special
//! code path.

mod dynamo;
mod push;
mod resources;
mod secrets;
mod sns;
mod sqs;

pub use dynamo::DynamoStorage;
pub use push::ManagementApiPusher;
pub use resources::{ensure_queue, ensure_table};
pub use secrets::SecretsManagerSource;
pub use sns::SnsTexts;
pub use sqs::SqsTimers;

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

/// The SDK configuration from the environment (region, credentials,
/// `AWS_ENDPOINT_URL`).
pub async fn sdk_config() -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest()).load().await
}
