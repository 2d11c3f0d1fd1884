//! The signing secret in Secrets Manager: read by the token issuer
//! (`GetSecretValue` only), written by the operators' rotation command.

use aws_sdk_secretsmanager::Client;
use aws_sdk_secretsmanager::error::DisplayErrorContext;

use crate::auth::{KeyError, KeyFuture, SecretSource, SigningSecret};

/// Reads the signing secret by id (name or ARN).
#[derive(Debug, Clone)]
pub struct SecretsManagerSource {
    client: Client,
    secret_id: String,
}

impl SecretsManagerSource {
    #[must_use]
    pub fn new(client: Client, secret_id: impl Into<String>) -> Self {
        SecretsManagerSource {
            client,
            secret_id: secret_id.into(),
        }
    }

    /// The secret's id, as given.
    #[must_use]
    pub fn secret_id(&self) -> &str {
        &self.secret_id
    }
}

impl SecretSource for SecretsManagerSource {
    fn load(&self) -> KeyFuture<'_, SigningSecret> {
        Box::pin(async move {
            let out = self
                .client
                .get_secret_value()
                .secret_id(&self.secret_id)
                .send()
                .await
                .map_err(|e| {
                    KeyError::from_message(format!(
                        "could not read secret {}: {}",
                        self.secret_id,
                        DisplayErrorContext(&e)
                    ))
                })?;
            let text = out
                .secret_string()
                .ok_or_else(|| KeyError::from_message(format!("secret {} has no SecretString", self.secret_id)))?;
            SigningSecret::parse(text)
        })
    }
}
