//! The WebSocket `$connect` authorizer: verifies the token with the same
//! code as the local gateway, with the public keys the issuer publishes.

use aws_lambda_events::event::apigw::ApiGatewayCustomAuthorizerRequestTypeRequest;
use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use shared::api::authorizer::authorize_connect;

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::wiring::init_logging();
    let verifier = shared::wiring::token_verifier().await?;
    let verifier = &verifier;
    run(service_fn(
        move |event: LambdaEvent<ApiGatewayCustomAuthorizerRequestTypeRequest>| async move {
            // A bad token is a Deny policy (API Gateway answers 403); only a
            // fault fails the invocation.
            authorize_connect(verifier, &event.payload).await.map_err(Error::from)
        },
    ))
    .await
}
