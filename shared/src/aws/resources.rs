//! Creating the table and queue when they are missing (local stack and
//! tests; on AWS the template creates them).

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType, TimeToLiveSpecification,
};
use aws_sdk_sqs::types::QueueAttributeName;

use crate::ports::RepoError;

fn err<E: std::error::Error + Send + Sync + 'static>(e: E) -> RepoError {
    RepoError(Box::new(e))
}

/// Creates the single table (`pk`/`sk` strings, on-demand, TTL on `ttl`) if
/// it does not exist. The same definition as infra/ and localstack/.
pub async fn ensure_table(client: &aws_sdk_dynamodb::Client, table: &str) -> Result<(), RepoError> {
    let exists = client.describe_table().table_name(table).send().await;
    if exists.is_ok() {
        return Ok(());
    }
    let attribute = |name: &str| {
        AttributeDefinition::builder()
            .attribute_name(name)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .map_err(err)
    };
    let key = |name: &str, kind: KeyType| {
        KeySchemaElement::builder()
            .attribute_name(name)
            .key_type(kind)
            .build()
            .map_err(err)
    };
    client
        .create_table()
        .table_name(table)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(attribute("pk")?)
        .attribute_definitions(attribute("sk")?)
        .key_schema(key("pk", KeyType::Hash)?)
        .key_schema(key("sk", KeyType::Range)?)
        .send()
        .await
        .map_err(err)?;
    client
        .update_time_to_live()
        .table_name(table)
        .time_to_live_specification(
            TimeToLiveSpecification::builder()
                .enabled(true)
                .attribute_name("ttl")
                .build()
                .map_err(err)?,
        )
        .send()
        .await
        .map_err(err)?;
    Ok(())
}

/// Creates the standard timer queue if missing; returns its URL.
pub async fn ensure_queue(
    client: &aws_sdk_sqs::Client,
    name: &str,
    visibility_timeout_s: u32,
) -> Result<String, RepoError> {
    let created = client
        .create_queue()
        .queue_name(name)
        .attributes(QueueAttributeName::VisibilityTimeout, visibility_timeout_s.to_string())
        .send()
        .await
        .map_err(err)?;
    created
        .queue_url
        .ok_or_else(|| RepoError::msg("CreateQueue returned no URL"))
}

/// Creates (or finds: SNS answers the same ARN for the same name) a push
/// platform application named `name`, for the local stack on an emulator;
/// on AWS the deployment's FCM or APNs application is made once by hand
/// (infra/README.md) and named by `PUSH_PLATFORM_APPLICATION_ARN`.
///
/// # Errors
/// SNS refused or could not be reached.
pub async fn ensure_platform_application(client: &aws_sdk_sns::Client, name: &str) -> Result<String, RepoError> {
    let created = client
        .create_platform_application()
        .name(name)
        .platform("GCM")
        .attributes("PlatformCredential", "local-emulator-credential")
        .send()
        .await
        .map_err(err)?;
    created
        .platform_application_arn
        .ok_or_else(|| RepoError::msg("CreatePlatformApplication returned no ARN"))
}
