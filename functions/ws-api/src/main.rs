//! The WebSocket API function: `$connect`, `$disconnect` and every action.
#![recursion_limit = "256"]

use aws_lambda_events::event::apigw::ApiGatewayWebsocketProxyRequest;
use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use shared::api::ws::handle_ws_event;

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let app = shared::wiring::lambda_app().await?;
    shared::wiring::prime(&app).await;
    let app = &app;
    run(service_fn(
        move |event: LambdaEvent<ApiGatewayWebsocketProxyRequest>| async move {
            Ok::<_, Error>(handle_ws_event(app, event.payload).await)
        },
    ))
    .await
}
