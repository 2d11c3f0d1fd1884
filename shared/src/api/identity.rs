//! Who is calling, decided in one place: the identity API Gateway's
//! authorizer verified. HTTP routes carry the JWT authorizer's claims
//! (`sub` = `customer:c1` or `store:s1`); WebSocket events carry the Lambda
//! authorizer's `principalId` in the same form. The local gateway verifies
//! tokens with the same code and fills in the same fields. Handlers never
//! read identity from anything a client can set directly.

use aws_lambda_events::event::apigw::{ApiGatewayV2httpRequest, ApiGatewayWebsocketProxyRequest};

use super::error::ApiError;
use crate::domain::ids::Caller;

fn parse(raw: &str) -> Result<Caller, ApiError> {
    Caller::parse(raw.trim()).map_err(|_| ApiError::unauthenticated())
}

/// The verified caller of an HTTP API request; None on a public route.
pub fn http_caller(request: &ApiGatewayV2httpRequest) -> Result<Option<Caller>, ApiError> {
    request
        .request_context
        .authorizer
        .as_ref()
        .and_then(|a| a.jwt.as_ref())
        .and_then(|jwt| jwt.claims.get("sub"))
        .map(|sub| parse(sub))
        .transpose()
}

/// The verified owner of a WebSocket connection.
pub fn ws_caller(request: &ApiGatewayWebsocketProxyRequest) -> Result<Option<Caller>, ApiError> {
    request
        .request_context
        .authorizer
        .fields
        .get("principalId")
        .and_then(|v| v.as_str())
        .map(parse)
        .transpose()
}
