//! The WebSocket `$connect` Lambda REQUEST authorizer: the token from the
//! `token` query parameter, verified by the same [`TokenVerifier`] as every
//! other path. Only there: browsers cannot set headers on a WebSocket, and
//! the template's identity source is that parameter, so API Gateway answers
//! 401 to a handshake that carries the token in a header instead.
//!
//! A missing, forged or expired token is answered with a Deny policy, which
//! API Gateway turns into 403; only a fault (the keys could not be fetched)
//! is an error (500), so the function's Errors alarm means a real fault.
//! (With the template's identity source, `route.request.querystring.token`,
//! API Gateway itself answers 401 to a request with no token at all,
//! without calling the authorizer.)

use aws_lambda_events::event::apigw::{
    ApiGatewayCustomAuthorizerPolicy, ApiGatewayCustomAuthorizerRequestTypeRequest, ApiGatewayCustomAuthorizerResponse,
};
use aws_lambda_events::event::iam::{IamPolicyEffect, IamPolicyStatement};
use serde_json::json;

use crate::auth::{AuthError, TokenVerifier};

/// The `principalId` of a denied request (it names nobody).
pub const DENIED_PRINCIPAL: &str = "anonymous";

/// The authorizer could not decide: the verification keys were needed and
/// could not be fetched.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the authorizer could not decide: {0}")]
pub struct AuthorizerFault(AuthError);

/// The token a `$connect` request carries, if any.
#[must_use]
pub fn connect_token(request: &ApiGatewayCustomAuthorizerRequestTypeRequest) -> Option<String> {
    request.query_string_parameters.first("token").map(str::to_string)
}

/// Whether an authorizer's answer allows the request.
#[must_use]
pub fn is_allowed(response: &ApiGatewayCustomAuthorizerResponse) -> bool {
    !response.policy_document.statement.is_empty()
        && response
            .policy_document
            .statement
            .iter()
            .all(|s| s.effect == IamPolicyEffect::Allow)
}

fn policy(
    request: &ApiGatewayCustomAuthorizerRequestTypeRequest,
    principal: String,
    effect: IamPolicyEffect,
) -> ApiGatewayCustomAuthorizerResponse {
    let mut statement = IamPolicyStatement::default();
    statement.action = vec!["execute-api:Invoke".to_string()];
    statement.effect = effect;
    statement.resource = vec![request.method_arn.clone().unwrap_or_else(|| "*".to_string())];
    let mut policy = ApiGatewayCustomAuthorizerPolicy::default();
    policy.version = Some("2012-10-17".to_string());
    policy.statement = vec![statement];
    let mut response = ApiGatewayCustomAuthorizerResponse::default();
    response.principal_id = Some(principal);
    response.policy_document = policy;
    response
}

/// Allows the connection for the token's caller (its `principalId`, with the
/// caller in the context too), or denies it; fails only on a fault.
pub async fn authorize_connect(
    verifier: &TokenVerifier,
    request: &ApiGatewayCustomAuthorizerRequestTypeRequest,
) -> Result<ApiGatewayCustomAuthorizerResponse, AuthorizerFault> {
    let Some(token) = connect_token(request) else {
        return Ok(policy(request, DENIED_PRINCIPAL.into(), IamPolicyEffect::Deny));
    };
    match verifier.verify_fresh(&token).await {
        Ok(caller) => {
            let mut response = policy(request, caller.key(), IamPolicyEffect::Allow);
            response.context = json!({ "caller": caller.key() });
            Ok(response)
        }
        Err(fault @ AuthError::KeysUnavailable) => Err(AuthorizerFault(fault)),
        Err(AuthError::Missing | AuthError::Invalid | AuthError::Expired) => {
            Ok(policy(request, DENIED_PRINCIPAL.into(), IamPolicyEffect::Deny))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::TokenIssuer;
    use crate::domain::clock::{Clock, SystemClock};
    use crate::domain::ids::{Caller, StoreId};

    fn request(token: Option<&str>) -> ApiGatewayCustomAuthorizerRequestTypeRequest {
        let mut query = serde_json::Map::new();
        if let Some(token) = token {
            query.insert("token".into(), json!(token));
        }
        serde_json::from_value(json!({
            "type": "REQUEST",
            "methodArn": "arn:aws:execute-api:eu-west-1:123:api/prod/$connect",
            "headers": {},
            "queryStringParameters": query,
            "requestContext": {}
        }))
        .expect("event")
    }

    #[tokio::test]
    async fn bad_tokens_are_denied_not_errors() {
        let issuer = TokenIssuer::generate("https://auth.test").expect("key");
        let verifier = issuer.verifier().expect("verifier");
        let store = Caller::Store(StoreId::new("s1").expect("id"));
        let good = issuer.issue(&store, SystemClock.now_ms()).expect("token");
        let allowed = authorize_connect(&verifier, &request(Some(&good)))
            .await
            .expect("answer");
        assert!(is_allowed(&allowed));
        assert_eq!(allowed.principal_id.as_deref(), Some("store:s1"));

        let expired = issuer
            .issue_with_lifetime(&store, SystemClock.now_ms() - 7_200_000, 60)
            .expect("token");
        for token in [None, Some("garbage"), Some(expired.as_str())] {
            let denied = authorize_connect(&verifier, &request(token))
                .await
                .expect("a Deny, not an error");
            assert!(!is_allowed(&denied), "{token:?}");
            assert_eq!(denied.policy_document.statement[0].effect, IamPolicyEffect::Deny);
            assert_eq!(denied.principal_id.as_deref(), Some(DENIED_PRINCIPAL));
        }
    }
}
