//! The issuer's published JWKS, fetched over HTTP(S): how the WebSocket
//! authorizer gets the public keys without any access to the private ones.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt as _, Empty, Limited};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use jsonwebtoken::jwk::JwkSet;

use crate::auth::{FetchReason, KeyError, KeyFuture, KeySource, VerificationKey};

/// How long one fetch of the JWKS may take: the authorizer runs inside a
/// client's WebSocket handshake.
pub const JWKS_FETCH_TIMEOUT: Duration = Duration::from_secs(3);
/// A JWKS larger than this is not a JWKS.
const MAX_JWKS_BYTES: usize = 64 * 1024;

/// `GET {url}` for a JWKS (https, or http for the local stack).
#[derive(Debug, Clone)]
pub struct JwksUrl {
    url: http::Uri,
    client: Client<HttpsConnector<HttpConnector>, Empty<Bytes>>,
}

impl JwksUrl {
    /// A fetcher of `url` with a short timeout.
    pub fn new(url: impl AsRef<str>) -> Result<Self, KeyError> {
        let url: http::Uri = url
            .as_ref()
            .parse()
            .map_err(|e| KeyError::from_message(format!("JWKS URL {}: {e}", url.as_ref())))?;
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_native_roots(rustls::crypto::aws_lc_rs::default_provider())
            .map_err(|e| KeyError::from_message(format!("TLS roots: {e}")))?
            .https_or_http()
            .enable_http1()
            .build();
        let client = Client::builder(TokioExecutor::new()).build(connector);
        Ok(JwksUrl { url, client })
    }

    async fn get(&self) -> Result<JwkSet, KeyError> {
        let fail = |what: String| KeyError::from_message(format!("JWKS {}: {what}", self.url));
        let request = http::Request::get(self.url.clone())
            .header(http::header::ACCEPT, "application/json")
            .body(Empty::<Bytes>::new())
            .map_err(|e| fail(e.to_string()))?;
        let fetch = async {
            let response = self.client.request(request).await.map_err(|e| fail(e.to_string()))?;
            if !response.status().is_success() {
                return Err(fail(format!("status {}", response.status())));
            }
            Limited::new(response.into_body(), MAX_JWKS_BYTES)
                .collect()
                .await
                .map(|body| body.to_bytes())
                .map_err(|e| fail(e.to_string()))
        };
        let body = tokio::time::timeout(JWKS_FETCH_TIMEOUT, fetch)
            .await
            .map_err(|_| fail("timed out".into()))??;
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
