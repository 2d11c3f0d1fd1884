//! The WebSocket API function: `$connect`, `$disconnect` and every action.
#![recursion_limit = "256"]

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::wiring::serve(shared::api::ws::handle_ws_event).await
}
