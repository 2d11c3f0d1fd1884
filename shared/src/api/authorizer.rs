//! The WebSocket `$connect` Lambda REQUEST authorizer: the token from the
//! `token` query parameter (mobile WebSocket clients cannot always set
//! headers) or the `Authorization` header, verified by the same
//! [`TokenVerifier`] as every other path.

use aws_lambda_events::event::apigw::{
    ApiGatewayCustomAuthorizerPolicy, ApiGatewayCustomAuthorizerRequestTypeRequest, ApiGatewayCustomAuthorizerResponse,
};
use aws_lambda_events::event::iam::{IamPolicyEffect, IamPolicyStatement};
use serde_json::json;

use crate::auth::{AuthError, TokenVerifier};

/// Lambda authorizers refuse by failing with exactly this message, which
/// API Gateway turns into 401.
pub const UNAUTHORIZED: &str = "Unauthorized";

/// The token a `$connect` request carries, if any.
#[must_use]
pub fn connect_token(request: &ApiGatewayCustomAuthorizerRequestTypeRequest) -> Option<String> {
    request
        .query_string_parameters
        .first("token")
        .map(str::to_string)
        .or_else(|| {
            request
                .headers
                .get(http::header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        })
}

/// Allows the connection for the token's caller (its `principalId`, with the
/// caller in the context too), or fails with [`UNAUTHORIZED`].
pub fn authorize_connect(
    verifier: &TokenVerifier,
    request: &ApiGatewayCustomAuthorizerRequestTypeRequest,
) -> Result<ApiGatewayCustomAuthorizerResponse, AuthError> {
    let token = connect_token(request).ok_or(AuthError::Missing)?;
    let caller = verifier.verify(&token)?;
    let mut statement = IamPolicyStatement::default();
    statement.action = vec!["execute-api:Invoke".to_string()];
    statement.effect = IamPolicyEffect::Allow;
    statement.resource = vec![request.method_arn.clone().unwrap_or_else(|| "*".to_string())];
    let mut policy = ApiGatewayCustomAuthorizerPolicy::default();
    policy.version = Some("2012-10-17".to_string());
    policy.statement = vec![statement];
    let mut response = ApiGatewayCustomAuthorizerResponse::default();
    response.principal_id = Some(caller.key());
    response.policy_document = policy;
    response.context = json!({ "caller": caller.key() });
    Ok(response)
}
