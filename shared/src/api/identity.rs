//! Who is calling, decided in one place.
//!
//! In order: an API Gateway authorizer's verified identity (JWT claim `sub`
//! or a Lambda authorizer's `principalId`, each in `kind:id` form), then the
//! development identity (`x-caller` header, or `caller` query parameter on a
//! WebSocket `$connect`). The security work replaces the development path
//! with verified tokens without touching the handlers.

use aws_lambda_events::event::apigw::{ApiGatewayV2httpRequest, ApiGatewayWebsocketProxyRequest};
use http::HeaderMap;

use super::error::ApiError;
use crate::domain::ids::Caller;

/// Header carrying the development identity, e.g. `x-caller: store:s1`.
pub const CALLER_HEADER: &str = "x-caller";

fn parse(raw: &str) -> Result<Caller, ApiError> {
    Caller::parse(raw.trim()).map_err(|_| {
        ApiError::new(
            401,
            "bad_identity",
            "identity must look like customer:<id> or store:<id>",
        )
    })
}

fn from_headers(headers: &HeaderMap) -> Option<Result<Caller, ApiError>> {
    let value = headers.get(CALLER_HEADER)?;
    Some(value.to_str().map_err(|_| ApiError::unauthenticated()).and_then(parse))
}

/// The caller of an HTTP API request, if any identity was given.
pub fn http_caller(request: &ApiGatewayV2httpRequest) -> Result<Option<Caller>, ApiError> {
    let verified = request
        .request_context
        .authorizer
        .as_ref()
        .and_then(|a| a.jwt.as_ref())
        .and_then(|jwt| jwt.claims.get("sub"));
    if let Some(sub) = verified {
        return parse(sub).map(Some);
    }
    from_headers(&request.headers).transpose()
}

/// The owner of a WebSocket being opened (`$connect`).
pub fn ws_connect_caller(request: &ApiGatewayWebsocketProxyRequest) -> Result<Option<Caller>, ApiError> {
    let principal = request
        .request_context
        .authorizer
        .fields
        .get("principalId")
        .and_then(|v| v.as_str());
    if let Some(principal) = principal {
        return parse(principal).map(Some);
    }
    if let Some(found) = from_headers(&request.headers) {
        return found.map(Some);
    }
    request.query_string_parameters.first("caller").map(parse).transpose()
}
