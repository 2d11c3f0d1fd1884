//! The timer dead-letter queue, as an operator meets it: round timers that
//! failed wait there; `ops timer-dlq` lists them and `ops redrive-timers`
//! moves them back (the `ops` crate's own functions, called here). A
//! redriven timer closes its round if the order still waits in it, and
//! changes nothing once the order has moved on, so redriving is safe.
//!
//! SQS only: runs with `--features endpoint-tests` against moto.

#[cfg(feature = "endpoint-tests")]
mod against_sqs {
    use std::time::Duration;

    use serde_json::json;
    use shared::domain::config::OrderingConfig;

    use crate::common::{Api, LONG, ROUND_CLOSE, Socket, stack};

    async fn sqs() -> aws_sdk_sqs::Client {
        aws_sdk_sqs::Client::new(&shared::aws::sdk_config().await)
    }

    async fn new_queue(client: &aws_sdk_sqs::Client) -> String {
        let name = format!("timers-dlq-{}", ulid::Ulid::new().to_string().to_lowercase());
        client
            .create_queue()
            .queue_name(name)
            .send()
            .await
            .expect("queue created")
            .queue_url
            .expect("url")
    }

    async fn dead_letter(client: &aws_sdk_sqs::Client, dlq: &str, order_id: &str, round: u32) {
        client
            .send_message()
            .queue_url(dlq)
            .message_body(json!({ "order_id": order_id, "round": round }).to_string())
            .send()
            .await
            .expect("sent");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_redriven_timer_closes_its_round_once_and_is_harmless_after() {
        let stack = stack(OrderingConfig {
            // Long enough that round 2's offer is still open when s2
            // accepts, with one moto serving the whole suite.
            offer_window_ms: 8_000,
            stores_per_round: 1,
            ..OrderingConfig::default()
        })
        .await;
        let queue_url = stack.timer_queue_url().expect("an SQS timer queue").to_string();
        let client = sqs().await;
        let dlq = new_queue(&client).await;

        let api = Api::new(&stack);
        api.put_store("s1", "One", 0.0, 300.0, "grocery", &["rice"]).await;
        api.put_store("s2", "Two", 0.0, 600.0, "grocery", &["rice"]).await;
        let mut s1 = Socket::connect(&stack, "store:s1").await;
        let mut s2 = Socket::connect(&stack, "store:s2").await;
        let created = api.order("c1", "rice").await;
        assert_eq!(created.status, 201, "{}", created.text);
        let order_id = created.body["order_id"].as_str().expect("id").to_string();
        s1.expect("offer", LONG).await;

        // The round's timer failed its attempts and sits in the DLQ.
        stack.purge_timer_queue().await.expect("purged");
        dead_letter(&client, &dlq, &order_id, 1).await;
        tokio::time::sleep(Duration::from_millis(8_300)).await;

        let waiting = ops::timers::inspect(&client, &dlq, 10).await.expect("inspected");
        assert_eq!(waiting.len(), 1, "{waiting:?}");
        let timer = waiting[0].timer.clone().expect("a round timer");
        assert_eq!((timer.order_id.as_str(), timer.round), (order_id.as_str(), 1));
        // Inspecting leaves it there.
        assert_eq!(ops::timers::inspect(&client, &dlq, 10).await.expect("again").len(), 1);

        // Redriven, it closes round 1 with nobody reading the order: the
        // next store is alerted.
        let moved = ops::timers::redrive(&client, &dlq, &queue_url, 10)
            .await
            .expect("redriven");
        assert_eq!(moved.moved, 1);
        assert!(moved.unreadable.is_empty());
        assert!(ops::timers::inspect(&client, &dlq, 10).await.expect("empty").is_empty());
        s2.expect("offer", ROUND_CLOSE).await;
        s1.expect("offer_expired", LONG).await;
        assert_eq!(api.accept("s2", &order_id).await.status, 200);
        let accepted = api.get_order("c1", &order_id).await;
        assert_eq!(accepted.body["status"], "accepted");

        // The same timer again, and junk beside it, after the order moved on.
        dead_letter(&client, &dlq, &order_id, 1).await;
        client
            .send_message()
            .queue_url(&dlq)
            .message_body("not a timer")
            .send()
            .await
            .expect("sent");
        let again = ops::timers::redrive(&client, &dlq, &queue_url, 10)
            .await
            .expect("redriven");
        assert_eq!(again.moved, 1);
        assert_eq!(again.unreadable.len(), 1, "junk is left for a person");
        // Both timers (the redriven one and round 2's own, due at round 2's
        // deadline) are consumed ...
        for _ in 0..300 {
            if stack.pending_timer_messages().await.expect("counted") == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(stack.pending_timer_messages().await.expect("counted"), 0);
        // ... and the order is as it was: same status, same version.
        let after = api.get_order("c1", &order_id).await;
        assert_eq!(after.body["status"], "accepted");
        assert_eq!(after.body["version"], accepted.body["version"]);
        // Nobody hears about round 1 again.
        s1.expect_silence(Duration::from_millis(300)).await;
    }
}
