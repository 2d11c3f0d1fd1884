//! The HTTP API function: every HTTP route.
#![recursion_limit = "256"]

use aws_lambda_events::event::apigw::ApiGatewayV2httpRequest;
use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use shared::api::http::handle_http_request;

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let app = shared::wiring::lambda_app().await?;
    shared::wiring::prime(&app).await;
    let app = &app;
    run(service_fn(
        move |event: LambdaEvent<ApiGatewayV2httpRequest>| async move {
            Ok::<_, Error>(handle_http_request(app, event.payload).await)
        },
    ))
    .await
}
