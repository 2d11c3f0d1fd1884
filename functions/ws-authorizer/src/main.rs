//! The WebSocket `$connect` authorizer: verifies the token with the same
//! code as the local gateway.

use aws_lambda_events::event::apigw::ApiGatewayCustomAuthorizerRequestTypeRequest;
use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use shared::api::authorizer::{UNAUTHORIZED, authorize_connect};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let verifier = shared::wiring::token_verifier()?;
    let verifier = &verifier;
    run(service_fn(
        move |event: LambdaEvent<ApiGatewayCustomAuthorizerRequestTypeRequest>| async move {
            // Failing with exactly "Unauthorized" makes API Gateway answer 401.
            authorize_connect(verifier, &event.payload).map_err(|_| Error::from(UNAUTHORIZED))
        },
    ))
    .await
}
