//! The issuer's published JWKS, fetched over HTTP(S): how the WebSocket
//! authorizer gets the public keys without any access to the private ones.

use std::time::Duration;

use jsonwebtoken::jwk::JwkSet;

use crate::auth::{FetchReason, KeyError, KeyFuture, KeySource, VerificationKey};

/// How long one fetch of the JWKS may take: the authorizer runs inside a
/// client's WebSocket handshake.
pub const JWKS_FETCH_TIMEOUT: Duration = Duration::from_secs(3);
/// A JWKS larger than this is not a JWKS.
const MAX_JWKS_BYTES: usize = 64 * 1024;

/// `GET {url}` for a JWKS.
#[derive(Debug, Clone)]
pub struct JwksUrl {
    url: String,
    client: reqwest::Client,
}

impl JwksUrl {
    /// A fetcher of `url` with a short timeout.
    pub fn new(url: impl Into<String>) -> Result<Self, KeyError> {
        // reqwest's rustls needs a process-wide crypto provider: aws-lc-rs,
        // as the AWS SDK's client uses. Installing twice is harmless.
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        let client = reqwest::Client::builder()
            .timeout(JWKS_FETCH_TIMEOUT)
            .connect_timeout(JWKS_FETCH_TIMEOUT)
            .build()
            .map_err(|e| KeyError::from_message(format!("HTTP client: {e}")))?;
        Ok(JwksUrl {
            url: url.into(),
            client,
        })
    }

    async fn get(&self) -> Result<JwkSet, KeyError> {
        let fail = |what: String| KeyError::from_message(format!("JWKS {}: {what}", self.url));
        let response = self
            .client
            .get(&self.url)
            .send()
            .await
            .map_err(|e| fail(e.to_string()))?;
        if !response.status().is_success() {
            return Err(fail(format!("status {}", response.status())));
        }
        let body = response.bytes().await.map_err(|e| fail(e.to_string()))?;
        if body.len() > MAX_JWKS_BYTES {
            return Err(fail("too large".into()));
        }
        serde_json::from_slice(&body).map_err(|e| fail(e.to_string()))
    }
}

impl KeySource for JwksUrl {
    fn fetch(&self, _reason: FetchReason) -> KeyFuture<'_, Vec<VerificationKey>> {
        Box::pin(async move {
            let jwks = self.get().await?;
            // The published set holds only valid keys: the previous one is
            // dropped from it when its overlap ends.
            Ok(jwks
                .keys
                .into_iter()
                .map(|jwk| VerificationKey { jwk, not_after_s: None })
                .collect())
        })
    }
}
