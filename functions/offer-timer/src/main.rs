//! The offer timer function: the SQS consumer that closes offer rounds.
#![recursion_limit = "256"]

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::wiring::serve(shared::api::timer::handle_timer_batch).await
}
