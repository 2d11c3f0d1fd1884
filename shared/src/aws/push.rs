use aws_sdk_apigatewaymanagement::Client;
use aws_sdk_apigatewaymanagement::error::SdkError;
use aws_sdk_apigatewaymanagement::operation::delete_connection::DeleteConnectionError;
use aws_sdk_apigatewaymanagement::operation::post_to_connection::PostToConnectionError;
use aws_sdk_apigatewaymanagement::primitives::Blob;

use crate::domain::ids::ConnectionId;
use crate::ports::{PushError, Pusher};

/// Pushes through API Gateway's `PostToConnection`.
#[derive(Debug, Clone)]
pub struct ManagementApiPusher {
    client: Client,
}

impl ManagementApiPusher {
    /// `endpoint` is `https://{domain}/{stage}`; the SDK appends
    /// `/@connections/{id}`.
    #[must_use]
    pub fn new(sdk: &aws_config::SdkConfig, endpoint: &str) -> Self {
        let config = aws_sdk_apigatewaymanagement::config::Builder::from(sdk)
            .endpoint_url(endpoint)
            .build();
        ManagementApiPusher {
            client: Client::from_conf(config),
        }
    }
}

impl Pusher for ManagementApiPusher {
    async fn push(&self, connection: &ConnectionId, payload: &str) -> Result<(), PushError> {
        let result = self
            .client
            .post_to_connection()
            .connection_id(connection.as_str())
            .data(Blob::new(payload.as_bytes()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(SdkError::ServiceError(e)) if matches!(e.err(), PostToConnectionError::GoneException(_)) => {
                Err(PushError::Gone)
            }
            Err(e) => Err(PushError::Failed(Box::new(e))),
        }
    }

    async fn close(&self, connection: &ConnectionId) -> Result<(), PushError> {
        let result = self
            .client
            .delete_connection()
            .connection_id(connection.as_str())
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(SdkError::ServiceError(e)) if matches!(e.err(), DeleteConnectionError::GoneException(_)) => {
                Err(PushError::Gone)
            }
            Err(e) => Err(PushError::Failed(Box::new(e))),
        }
    }
}
