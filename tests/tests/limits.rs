//! A customer cannot flood stores: open orders and orders per minute are
//! limited, and the limit answers 429 with Retry-After.

use crate::common;

use std::sync::Arc;

use common::{Api, Socket, stack, stack_with};
use local_stack::LocalOptions;
use shared::domain::clock::ManualClock;
use shared::domain::config::OrderingConfig;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_orders_per_customer_are_limited() {
    let stack = stack(OrderingConfig {
        max_open_orders: 2,
        ..OrderingConfig::default()
    })
    .await;
    let api = Api::new(&stack);
    api.put_store("s1", "One", 0.0, 300.0, "grocery", &["rice"]).await;
    let _store = Socket::connect(&stack, "store:s1").await;
    let first = api.order("c1", "rice").await;
    let second = api.order("c1", "rice").await;
    assert_eq!((first.status, second.status), (201, 201));
    let third = api
        .http
        .post(format!("{}/orders", api.base))
        .bearer_auth(common::token_for(&stack.issuer(), "customer:c1"))
        .body(r#"{"text": "rice", "location": {"lat": 23.7925, "lng": 90.4078}}"#)
        .send()
        .await
        .expect("sent");
    assert_eq!(third.status(), 429);
    let retry_after: u64 = third
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("Retry-After in seconds");
    assert!((1..=60).contains(&retry_after), "retry after {retry_after}");
    let body: serde_json::Value = third.json().await.expect("json");
    assert_eq!(body["error"]["code"], "rate_limited");
    // Another customer is not affected; cancelling frees a slot.
    assert_eq!(api.order("c2", "rice").await.status, 201);
    let id = first.body["order_id"].as_str().expect("id");
    assert_eq!(
        api.call("POST", &format!("/orders/{id}/cancel"), Some("customer:c1"), None)
            .await
            .status,
        200
    );
    assert_eq!(api.order("c1", "rice").await.status, 201);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orders_per_minute_are_limited() {
    // A clock that stands still inside one minute, so the window cannot roll.
    let clock = Arc::new(ManualClock::at(1_800_000_030_000));
    let stack = stack_with(LocalOptions {
        ordering: OrderingConfig {
            max_orders_per_minute: 3,
            ..OrderingConfig::default()
        },
        clock: clock.clone(),
        ..LocalOptions::default()
    })
    .await;
    let api = Api::new(&stack);
    // No store nearby: each order ends at once, so only the rate counts.
    for _ in 0..3 {
        assert_eq!(api.order("c1", "rice").await.status, 201);
    }
    let limited = api.order("c1", "rice").await;
    assert_eq!(
        (limited.status, limited.body["error"]["code"].as_str()),
        (429, Some("rate_limited"))
    );
    clock.advance_ms(60_000);
    assert_eq!(
        api.order("c1", "rice").await.status,
        201,
        "the next minute admits again"
    );
}
