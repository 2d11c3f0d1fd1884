//! Building the application for a Lambda process: once, during init, so
//! every event reuses the same SDK clients and connections.

use crate::aws::{AwsApp, AwsResources, AwsSetupError, aws_app, sdk_config};
use crate::domain::config::OrderingConfig;

/// The application as a Lambda function runs it.
pub type LambdaApp = AwsApp;

/// Reads the configuration and builds the clients.
pub async fn lambda_app() -> Result<LambdaApp, AwsSetupError> {
    let resources = AwsResources::from_env()?;
    let config = OrderingConfig::from_env()?;
    let sdk = sdk_config().await;
    Ok(aws_app(&sdk, &resources, config))
}
