//! Unanswered offers: the round closes when its timer fires, the order moves
//! to the next stores, then ends unfulfilled; late accepts are refused.

use crate::common;

use std::time::Duration;

use common::{Api, LONG, ROUND_CLOSE, SHORT, Socket, stack};
use serde_json::Value;
use shared::domain::config::OrderingConfig;
use shared::ports::RoundTimer;

/// Short beside the real 60 s, and long enough on a busy moto: the round's
/// timer is sent before the order is written, and a timer that finds no
/// order yet is dropped (a read of the order would close the round).
fn short_window(stores_per_round: usize, max_rounds: u32) -> OrderingConfig {
    OrderingConfig {
        offer_window_ms: 3_000,
        stores_per_round,
        max_rounds,
        ..OrderingConfig::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unanswered_rounds_move_on_and_end_unfulfilled() {
    let stack = stack(short_window(2, 2)).await;
    let api = Api::new(&stack);
    // Nearest first among equals: s1, s2 in round 1, s3 in round 2.
    api.put_store("s1", "One", 0.0, 300.0, "grocery", &["rice"]).await;
    api.put_store("s2", "Two", 90.0, 600.0, "grocery", &["rice"]).await;
    api.put_store("s3", "Three", 180.0, 900.0, "grocery", &["rice"]).await;
    let mut s1 = Socket::connect(&stack, "store:s1").await;
    let mut s2 = Socket::connect(&stack, "store:s2").await;
    let mut s3 = Socket::connect(&stack, "store:s3").await;
    let mut customer = Socket::connect(&stack, "customer:c1").await;

    let created = api.order("c1", "2 kg rice").await;
    assert_eq!(created.body["stores_notified"], 2);
    let order_id = created.body["order_id"].as_str().expect("id").to_string();
    s1.expect("offer", LONG).await;
    s2.expect("offer", LONG).await;
    s3.expect_silence(SHORT).await;
    customer.expect("order_searching", LONG).await;

    // The timer closes round 1: s1 and s2 lapse, s3 gets round 2.
    s1.expect("offer_expired", ROUND_CLOSE).await;
    s2.expect("offer_expired", LONG).await;
    let offer = s3.expect("offer", LONG).await;
    assert_eq!(offer["offer"]["round"], 2);
    let round2 = customer.expect("order_searching", LONG).await;
    assert_eq!(round2["order"]["round"], 2);
    assert_eq!(round2["order"]["stores_notified"], 1);

    let late = api.accept("s1", &order_id).await;
    assert_eq!(
        (late.status, late.body["error"]["code"].clone()),
        (409, Value::from("offer_expired"))
    );

    // Round 2 is the last: the order ends unfulfilled and the customer is told.
    s3.expect("offer_expired", ROUND_CLOSE).await;
    let ended = customer.expect("order_unfulfilled", LONG).await;
    assert_eq!(ended["order"]["status"], "unfulfilled");
    assert_eq!(ended["order"]["reason"], "no_store_accepted");
    let too_late = api.accept("s3", &order_id).await;
    assert_eq!(
        (too_late.status, too_late.body["error"]["code"].clone()),
        (409, Value::from("offer_expired"))
    );
    let status = api.get_order("c1", &order_id).await;
    assert_eq!(status.body["status"], "unfulfilled");
    let version = status.body["version"].clone();

    // A duplicate (late) delivery of either timer changes nothing.
    for round in [1, 2] {
        let timer = RoundTimer {
            order_id: shared::domain::ids::OrderId::new(order_id.clone()).expect("id"),
            round,
        };
        stack
            .send_timer_message(serde_json::to_string(&timer).expect("json"))
            .await
            .expect("sent");
    }
    // Wait until the poller has consumed both (deleted after handling).
    let deadline = tokio::time::Instant::now() + ROUND_CLOSE;
    while stack.pending_timer_messages().await.expect("counted") > 0 {
        assert!(tokio::time::Instant::now() < deadline, "timer messages not consumed");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let unchanged = api.get_order("c1", &order_id).await;
    assert_eq!(unchanged.body["version"], version);
    assert_eq!(unchanged.body["status"], "unfulfilled");
    customer.expect_silence(SHORT).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_store_left_ends_the_order_early() {
    let stack = stack(short_window(4, 3)).await;
    let api = Api::new(&stack);
    api.put_store("only", "Only Store", 0.0, 500.0, "grocery", &["rice"])
        .await;
    let mut store = Socket::connect(&stack, "store:only").await;
    let mut customer = Socket::connect(&stack, "customer:c1").await;
    let created = api.order("c1", "rice").await;
    assert_eq!(created.body["stores_notified"], 1);
    store.expect("offer", LONG).await;
    // After round 1 nobody untried is left within 2 km.
    let ended = customer.expect("order_unfulfilled", ROUND_CLOSE).await;
    assert_eq!(ended["order"]["round"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_order_with_no_store_nearby_is_unfulfilled_at_once() {
    let stack = stack(OrderingConfig::default()).await;
    let api = Api::new(&stack);
    api.put_store("far", "Far Store", 0.0, 2_100.0, "grocery", &["rice"])
        .await;
    let _far = Socket::connect(&stack, "store:far").await;
    let created = api.order("c1", "rice").await;
    assert_eq!(created.status, 201);
    assert_eq!(created.body["status"], "unfulfilled");
    assert_eq!(created.body["reason"], "no_store_nearby");
}
