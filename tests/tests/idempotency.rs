//! Retries never double an action: a creating or state-changing call with
//! an `Idempotency-Key` runs once, and its retries (also while it is still
//! running) get its answer; the same key with another request is refused.

use crate::common;

use common::{Api, LONG, Socket, stack};
use serde_json::{Value, json};
use shared::domain::config::OrderingConfig;

async fn with_key(api: &Api, caller: &str, method: &str, path: &str, key: &str, body: &Value) -> (u16, Value) {
    with_key_raw(api, caller, method, path, key, &body.to_string()).await
}

/// [`with_key`] with the body's bytes as given.
async fn with_key_raw(api: &Api, caller: &str, method: &str, path: &str, key: &str, body: &str) -> (u16, Value) {
    let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
    let reply = api
        .http
        .request(method, format!("{}{path}", api.base))
        .bearer_auth(common::token_for(&api.issuer(), caller))
        .header("content-type", "application/json")
        .header("idempotency-key", key)
        .body(body.to_string())
        .send()
        .await
        .expect("sent");
    let status = reply.status().as_u16();
    (status, reply.json().await.unwrap_or(Value::Null))
}

fn order_body(text: &str) -> Value {
    json!({"text": text, "location": {"lat": 23.7925, "lng": 90.4078}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retried_order_is_placed_once_and_a_reused_key_is_refused() {
    let stack = stack(OrderingConfig::default()).await;
    let api = Api::new(&stack);
    api.put_store("s1", "One", 0.0, 300.0, "grocery", &["rice"]).await;
    let _store = Socket::connect(&stack, "store:s1").await;
    let key = "3f2b8c1e-7d4a-4e9b-9c2f-1a5e6d7c8b90";
    let (first, placed) = with_key(&api, "customer:c1", "POST", "/orders", key, &order_body("2 kg rice")).await;
    let (again, replayed) = with_key(&api, "customer:c1", "POST", "/orders", key, &order_body("2 kg rice")).await;
    assert_eq!((first, again), (201, 201));
    assert_eq!(
        placed["order_id"], replayed["order_id"],
        "the same order, not a second one"
    );
    assert_eq!(stack.stored_order_count().await.expect("count"), 1);
    // The same request written by another encoder: keys in another order,
    // other spacing. The same action, answered the same.
    let respelled = r#"{ "location" : {"lng": 90.4078, "lat": 23.7925},  "text": "2 kg rice" }"#;
    let (third, again) = with_key_raw(&api, "customer:c1", "POST", "/orders", key, respelled).await;
    assert_eq!((third, &again["order_id"]), (201, &placed["order_id"]), "{again}");
    assert_eq!(stack.stored_order_count().await.expect("count"), 1);
    // A body giving a key twice is refused, and counts by its text: the
    // corrected body is another request, not a replay of the refusal.
    let twice = r#"{"text": "1 kg sugar", "text": "2 kg rice", "location": {"lat": 23.7925, "lng": 90.4078}}"#;
    let (refused, _) = with_key_raw(&api, "customer:c3", "POST", "/orders", "twice-tap-0001", twice).await;
    assert_eq!(refused, 400);
    let corrected = order_body("2 kg rice").to_string();
    let (fixed, answer) = with_key_raw(&api, "customer:c3", "POST", "/orders", "twice-tap-0001", &corrected).await;
    assert_eq!(
        (fixed, answer["error"]["code"].as_str()),
        (422, Some("idempotency_key_reused")),
        "{answer}"
    );
    let (reused, refusal) = with_key(&api, "customer:c1", "POST", "/orders", key, &order_body("1 kg sugar")).await;
    assert_eq!(
        (reused, refusal["error"]["code"].as_str()),
        (422, Some("idempotency_key_reused"))
    );
    // Keys are the caller's own: another customer's same key is a new action.
    let (other, _) = with_key(&api, "customer:c2", "POST", "/orders", key, &order_body("2 kg rice")).await;
    assert_eq!(other, 201);
    assert_eq!(stack.stored_order_count().await.expect("count"), 2);
    let (bad, bad_key) = with_key(&api, "customer:c1", "POST", "/orders", "no", &order_body("rice")).await;
    assert_eq!(
        (bad, bad_key["error"]["code"].as_str()),
        (400, Some("invalid_idempotency_key"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_retries_of_one_tap_place_one_order() {
    let stack = stack(OrderingConfig::default()).await;
    let api = Api::new(&stack);
    api.put_store("s1", "One", 0.0, 300.0, "grocery", &["rice"]).await;
    let _store = Socket::connect(&stack, "store:s1").await;
    for trial in 0..10 {
        let key = format!("tap-{trial:04}-retried-at-once");
        let customer = format!("customer:t{trial}");
        let body = order_body("2 kg rice");
        let tries = (0..8).map(|_| with_key(&api, &customer, "POST", "/orders", &key, &body));
        let answers = futures_util::future::join_all(tries).await;
        let ids: Vec<&Value> = answers
            .iter()
            .filter(|(s, _)| *s == 201)
            .map(|(_, b)| &b["order_id"])
            .collect();
        assert!(!ids.is_empty(), "trial {trial}: {answers:?}");
        assert!(ids.iter().all(|id| *id == ids[0]), "trial {trial}: one order id");
        for (status, body) in &answers {
            assert!(
                *status == 201 || (*status == 409 && body["error"]["code"] == "in_progress"),
                "trial {trial}: {status} {body}"
            );
        }
    }
    assert_eq!(
        stack.stored_order_count().await.expect("count"),
        10,
        "one order per tap"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retried_steps_and_accepts_act_once() {
    let stack = stack(OrderingConfig::default()).await;
    let api = Api::new(&stack);
    api.put_store("s1", "One", 0.0, 300.0, "grocery", &["rice"]).await;
    let mut store = Socket::connect(&stack, "store:s1").await;
    let placed = api.order("c1", "2 kg rice").await;
    let id = placed.body["order_id"].as_str().expect("id").to_string();
    store.expect("offer", LONG).await;
    // The accept over WebSocket, retried with its key: the same reply twice.
    let accept = json!({"action": "accept", "order_id": id, "idempotency_key": "accept-tap-0001"});
    store.send(accept.clone()).await;
    let first = store.expect("accepted", LONG).await;
    store.send(accept).await;
    let second = store.expect("accepted", LONG).await;
    assert_eq!(
        first, second,
        "the retry is answered as the first, not 'already accepted'"
    );
    // A packing step retried: applied once (the version moves once).
    let packed = json!({"line": 0, "outcome": "packed", "price": 9_600});
    let path = format!("/orders/{id}/pack");
    let (one, a) = with_key(&api, "store:s1", "POST", &path, "pack-tap-0001", &packed).await;
    let (two, b) = with_key(&api, "store:s1", "POST", &path, "pack-tap-0001", &packed).await;
    assert_eq!((one, two), (200, 200));
    assert_eq!(a, b);
    let now = api.call("GET", &format!("/orders/{id}"), Some("store:s1"), None).await;
    assert_eq!(now.body["version"], a["version"], "nothing applied twice");
}
