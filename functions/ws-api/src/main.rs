//! The WebSocket API function: `$connect`, `$disconnect` and every action.
#![recursion_limit = "256"]

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::wiring::serve_answering_first(shared::api::ws::answer_ws_event).await
}
