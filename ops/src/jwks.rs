//! What the HTTP function publishes for API Gateway's JWT authorizer,
//! produced by the real handler: `GET /.well-known/openid-configuration` and
//! `GET /.well-known/jwks.json` for an issuer with a fresh key.
//! `infra/check_template.py` checks the authorizer's constraints on it.

use std::sync::Arc;
use std::time::Duration;

use aws_lambda_events::event::apigw::ApiGatewayV2httpRequest;
use serde_json::{Value, json};
use shared::api::http::handle_http_request;
use shared::auth::{KeyError, TokenIssuer};
use shared::domain::clock::SystemClock;
use shared::domain::config::OrderingConfig;
use shared::embedded::{ConnectionHub, EmbeddedQueue, EmbeddedTexts};

/// `{"openid_configuration": ..., "jwks": ...}` as the HTTP function serves
/// them for `issuer`.
///
/// # Errors
/// No key could be made, or a route did not answer 200 with JSON.
pub async fn published(issuer: &str) -> Result<Value, KeyError> {
    let app = shared::wiring::embedded_app(
        Arc::new(EmbeddedQueue::new("unused", Duration::from_secs(30))),
        ConnectionHub::default(),
        Arc::new(SystemClock),
        OrderingConfig::default(),
        Arc::new(TokenIssuer::generate(issuer)?),
        Arc::new(EmbeddedTexts::default()),
    );
    let mut out = serde_json::Map::new();
    for (name, path) in [
        ("openid_configuration", "/.well-known/openid-configuration"),
        ("jwks", "/.well-known/jwks.json"),
    ] {
        let request: ApiGatewayV2httpRequest = serde_json::from_value(json!({
            "version": "2.0",
            "routeKey": format!("GET {path}"),
            "rawPath": path,
            "rawQueryString": "",
            "headers": {},
            "requestContext": {
                "http": { "method": "GET", "path": path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "ops" },
                "stage": "$default"
            },
            "isBase64Encoded": false
        }))
        .map_err(|e| KeyError::from_message(format!("request: {e}")))?;
        let response = handle_http_request(&app, request).await;
        let body = match response.body {
            Some(aws_lambda_events::encodings::Body::Text(text)) => text,
            _ => String::new(),
        };
        if response.status_code != 200 {
            return Err(KeyError::from_message(format!(
                "{path} answered {}",
                response.status_code
            )));
        }
        let value: Value = serde_json::from_str(&body).map_err(|e| KeyError::from_message(format!("{path}: {e}")))?;
        out.insert(name.to_string(), value);
    }
    Ok(Value::Object(out))
}
