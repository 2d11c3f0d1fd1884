//! The HTTP API function: every HTTP route.
#![recursion_limit = "256"]

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::wiring::serve_answering_first(shared::api::http::answer_http_request).await
}
