//! The offer timer function: the SQS consumer that closes offer rounds.
#![recursion_limit = "256"]

use aws_lambda_events::event::sqs::SqsEvent;
use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use shared::api::timer::handle_timer_batch;

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let app = shared::wiring::lambda_app().await?;
    shared::wiring::prime(&app).await;
    let app = &app;
    run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        Ok::<_, Error>(handle_timer_batch(app, event.payload).await)
    }))
    .await
}
