//! A customer cannot flood stores: open orders and orders per minute are
//! limited, and the limit answers 429 with Retry-After.

use crate::common;

use std::sync::Arc;

use common::{Api, Socket, stack, stack_with, trials};
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
        .header("content-type", "application/json")
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

/// Fires `count` orders by `customer` at once; returns the statuses.
async fn concurrent_orders(api: &Api, customer: &str, count: usize) -> Vec<u16> {
    let orders = (0..count).map(|_| api.order(customer, "rice"));
    futures_util::future::join_all(orders)
        .await
        .into_iter()
        .map(|reply| reply.status)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_open_order_limit_holds_under_concurrent_orders() {
    let stack = stack(OrderingConfig {
        max_open_orders: 3,
        max_orders_per_minute: 1_000,
        ..OrderingConfig::default()
    })
    .await;
    let api = Api::new(&stack);
    api.put_store("s1", "One", 0.0, 300.0, "grocery", &["rice"]).await;
    let _store = Socket::connect(&stack, "store:s1").await;
    let runs = trials(100, 5);
    for trial in 0..runs {
        let customer = format!("c{trial}");
        let statuses = concurrent_orders(&api, &customer, 30).await;
        let placed = statuses.iter().filter(|s| **s == 201).count();
        let limited = statuses.iter().filter(|s| **s == 429).count();
        assert_eq!((placed, limited), (3, 27), "trial {trial}: {statuses:?}");
        let history = api
            .call(
                "GET",
                "/customers/me/orders?limit=50",
                Some(&format!("customer:{customer}")),
                None,
            )
            .await;
        let searching = history.body["orders"]
            .as_array()
            .expect("orders")
            .iter()
            .filter(|o| o["status"] == "searching")
            .count();
        assert_eq!(searching, 3, "trial {trial}: never more than 3 searching");
    }
    println!("open-order limit: {runs} races of 30 concurrent orders, 3 placed in each");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_per_minute_limit_is_a_sliding_window_that_holds_under_concurrency() {
    let clock = Arc::new(ManualClock::at(1_800_000_059_000));
    let stack = stack_with(LocalOptions {
        ordering: OrderingConfig {
            max_orders_per_minute: 5,
            max_open_orders: 100,
            ..OrderingConfig::default()
        },
        clock: clock.clone(),
        ..LocalOptions::default()
    })
    .await;
    let api = Api::new(&stack);
    // Ten at once, a second before a minute boundary: five pass.
    let statuses = concurrent_orders(&api, "c1", 10).await;
    assert_eq!(statuses.iter().filter(|s| **s == 201).count(), 5, "{statuses:?}");
    // Across the boundary the window still holds them...
    clock.advance_ms(2_000);
    let limited = api.order("c1", "rice").await;
    assert_eq!(limited.status, 429, "a calendar minute would admit again here");
    // ...until a minute after they were placed.
    clock.advance_ms(58_000);
    assert_eq!(api.order("c1", "rice").await.status, 201);
}

async fn new_guest(api: &Api, device: Option<&str>) -> reqwest::Response {
    let mut request = api.http.post(format!("{}/auth/guest", api.base));
    if let Some(device) = device {
        request = request.header("x-device-id", device);
    }
    request.send().await.expect("sent")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guests_are_limited_per_device_and_per_address_and_search_one_order_at_a_time() {
    let stack = stack(OrderingConfig::default()).await;
    let api = Api::new(&stack);
    api.put_store("s1", "One", 0.0, 300.0, "grocery", &["rice"]).await;
    let _store = Socket::connect(&stack, "store:s1").await;

    // One device: three guests a day.
    for _ in 0..3 {
        assert_eq!(new_guest(&api, Some("device-0001")).await.status(), 201);
    }
    let refused = new_guest(&api, Some("device-0001")).await;
    assert_eq!(refused.status(), 429);
    assert!(refused.headers().get("retry-after").is_some());
    let bad = new_guest(&api, Some("x")).await;
    assert_eq!(bad.status(), 400, "a device id is 8 to 64 characters");

    // A guest has one searching order at a time.
    let guest: serde_json::Value = new_guest(&api, None).await.json().await.expect("json");
    let token = guest["token"].as_str().expect("token").to_string();
    let order = |token: String| {
        api.http
            .post(format!("{}/orders", api.base))
            .bearer_auth(token)
            .header("content-type", "application/json")
            .body(r#"{"text": "rice", "location": {"lat": 23.7925, "lng": 90.4078}}"#)
            .send()
    };
    assert_eq!(order(token.clone()).await.expect("sent").status(), 201);
    let second = order(token).await.expect("sent");
    assert_eq!(second.status(), 429, "a guest's second searching order");

    // One address: thirty guests in ten minutes, however many devices.
    // Every attempt counts at the address: three on the device, the one the
    // device refused, one without a device.
    let mut minted = 5;
    while minted < 30 {
        let device = format!("device-{minted:04}");
        assert_eq!(new_guest(&api, Some(&device)).await.status(), 201, "guest {minted}");
        minted += 1;
    }
    let refused = new_guest(&api, Some("device-9999")).await;
    assert_eq!(refused.status(), 429, "the 31st guest from one address");
    let body: serde_json::Value = refused.json().await.expect("json");
    assert_eq!(body["error"]["code"], "rate_limited");
}
