//! Notifications when the app is closed: SMS receipts with the tracking
//! link on acceptance and completion (none after an opt-out), and a store
//! whose socket is closed alerted by mobile push, accepting over HTTP
//! within the window; a timer delivered again pushes nothing twice; a
//! store's push carries neither the customer's phone nor position.
//! What was sent is read from the local record (embedded backend) or from
//! what moto's SNS recorded (endpoint backend).

use crate::common;

use common::{Api, CUSTOMER_LAT, CUSTOMER_LNG, LONG, ROUND_CLOSE, SHORT, Socket, fresh_phone, stack};
use serde_json::{Value, json};
use shared::domain::config::OrderingConfig;

/// Pickup, the one line packed, handed over, completed by the customer.
async fn complete(api: &Api, customer: &str, store: &str, order: &str) {
    let customer = format!("customer:{customer}");
    let store = format!("store:{store}");
    api.step_ok(&customer, order, "delivery", Some(json!({"kind": "pickup"})))
        .await;
    let pack = json!({"line": 0, "outcome": "packed", "price": 9_000});
    api.step_ok(&store, order, "pack", Some(pack)).await;
    api.step_ok(&store, order, "handover", None).await;
    let done = api.step_ok(&customer, order, "complete", None).await;
    assert_eq!(done.body["status"], "completed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receipts_by_sms_on_acceptance_and_completion_with_the_tracking_link() {
    let stack = stack(OrderingConfig {
        stores_per_round: 1,
        ..OrderingConfig::default()
    })
    .await;
    let api = Api::new(&stack);
    api.put_store("corner", "Corner Store", 0.0, 300.0, "grocery", &["rice"])
        .await;
    let _store = Socket::connect(&stack, "store:corner").await;
    let phone = fresh_phone();
    assert_eq!(api.attach_phone("buyer", &phone).await.status, 200);

    let id = api.order("buyer", "2 kg rice").await.order_id();
    assert!(
        api.texts_mentioning(&phone, &id).await.is_empty(),
        "no receipt before a store accepts"
    );
    assert_eq!(api.accept("corner", &id).await.status, 200);
    let link = format!("{}/app/customer/?order={id}", stack.http_url());
    // The receipt follows the store's answer, not before it.
    let accepted = api.texts_mentioning_at_least(&phone, &id, 1).await;
    assert_eq!(accepted.len(), 1, "one receipt on acceptance: {accepted:?}");
    assert!(accepted[0].contains("Corner Store accepted"), "{}", accepted[0]);
    assert!(accepted[0].contains(&link), "the tracking link: {}", accepted[0]);

    complete(&api, "buyer", "corner", &id).await;
    let receipts = api.texts_mentioning(&phone, &id).await;
    assert_eq!(receipts.len(), 2, "one more on completion: {receipts:?}");
    assert!(receipts[1].contains("is complete"), "{}", receipts[1]);
    assert!(receipts[1].contains(&link), "{}", receipts[1]);

    // A repeated completion changes nothing and sends nothing.
    let again = api
        .call("POST", &format!("/orders/{id}/complete"), Some("customer:buyer"), None)
        .await;
    assert_ne!(again.status, 500, "{}", again.text);
    assert_eq!(api.texts_mentioning(&phone, &id).await.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_opted_out_customer_receives_nothing() {
    let stack = stack(OrderingConfig {
        stores_per_round: 1,
        ..OrderingConfig::default()
    })
    .await;
    let api = Api::new(&stack);
    api.put_store("quiet", "Quiet Store", 0.0, 300.0, "grocery", &["rice"])
        .await;
    let _store = Socket::connect(&stack, "store:quiet").await;
    let phone = fresh_phone();
    assert_eq!(api.attach_phone("private", &phone).await.status, 200);

    let bad = api
        .call(
            "PUT",
            "/customers/me/receipts",
            Some("customer:private"),
            Some(json!({"sms": "no"}).to_string()),
        )
        .await;
    assert_eq!(
        (bad.status, bad.body["error"]["field"].as_str()),
        (400, Some("sms")),
        "the field is named: {}",
        bad.text
    );
    let by_store = api
        .call(
            "PUT",
            "/customers/me/receipts",
            Some("store:quiet"),
            Some(json!({"sms": false}).to_string()),
        )
        .await;
    assert_eq!(by_store.status, 403, "{}", by_store.text);
    let off = api
        .call(
            "PUT",
            "/customers/me/receipts",
            Some("customer:private"),
            Some(json!({"sms": false}).to_string()),
        )
        .await;
    assert_eq!((off.status, &off.body), (200, &json!({"sms": false})), "{}", off.text);

    let id = api.order("private", "2 kg rice").await.order_id();
    assert_eq!(api.accept("quiet", &id).await.status, 200);
    complete(&api, "private", "quiet", &id).await;
    // The acceptance's followup (no receipt) ran long before the four steps
    // to completion were answered; completion's own is sent before its answer.
    assert_eq!(
        api.texts_mentioning(&phone, &id).await,
        Vec::<String>::new(),
        "no receipt after opting out"
    );
    let last = api.last_text(&phone).await.expect("the sign-in code was sent");
    assert!(
        !last.contains(&id) && !last.contains("?order="),
        "the last text to the number is still its sign-in code: {last}"
    );
}

/// Registers `store`'s device for pushes; its app then closes (no socket).
async fn register_device(api: &Api, store: &str, token: &str) {
    let reply = api
        .call(
            "PUT",
            "/devices/me",
            Some(&format!("store:{store}")),
            Some(json!({ "token": token }).to_string()),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.body, json!({"registered": true}));
}

/// Checks one push as its device gets it: an offer frame of the
/// documented shape, with no customer phone or position in it.
async fn check_store_push(api: &Api, push: &Value, phone: &str) -> Value {
    let message = push["message"].as_str().expect("a message");
    let frame: Value = serde_json::from_str(message).expect("a push is a JSON event");
    common::spec::load(api).await.check_frame(&frame);
    assert_eq!(frame["type"], "offer");
    let digits = &phone[phone.len() - 8..];
    assert!(
        !message.contains(digits),
        "no customer phone in a store push: {message}"
    );
    for coordinate in [CUSTOMER_LAT.to_string(), CUSTOMER_LNG.to_string()] {
        assert!(
            !message.contains(&coordinate),
            "no customer position in a store push: {message}"
        );
    }
    for field in ["lat", "lng", "location", "phone", "address"] {
        assert!(
            !message.contains(&format!("\"{field}\"")),
            "no {field} in a store push: {message}"
        );
    }
    frame
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_with_its_app_closed_is_alerted_by_push_and_accepts_over_http() {
    let stack = stack(OrderingConfig {
        stores_per_round: 1,
        push_offline_stores: true,
        // A closed app must open first: a longer round than a socket's.
        push_offer_window_ms: Some(90_000),
        ..OrderingConfig::default()
    })
    .await;
    let api = Api::new(&stack);
    api.put_store("asleep", "Asleep Store", 0.0, 300.0, "grocery", &["rice"])
        .await;
    let token = format!("fcm-token-{}", ulid::Ulid::new());
    register_device(&api, "asleep", &token).await;
    let bad = api
        .call(
            "PUT",
            "/devices/me",
            Some("store:asleep"),
            Some(json!({"token": "a b"}).to_string()),
        )
        .await;
    assert_eq!(
        (
            bad.status,
            bad.body["error"]["code"].as_str(),
            bad.body["error"]["field"].as_str()
        ),
        (422, Some("invalid_device_token"), Some("token")),
        "{}",
        bad.text
    );
    let phone = fresh_phone();
    assert_eq!(api.attach_phone("night", &phone).await.status, 200);

    let placed = api.order("night", "2 kg rice").await;
    assert_eq!(placed.status, 201, "{}", placed.text);
    assert_eq!(placed.body["status"], "searching", "the closed app's store is matched");
    assert_eq!(placed.body["stores_notified"], 1);
    let id = placed.order_id();
    let window = placed.body["deadline_ms"].as_i64().expect("deadline")
        - placed.body["created_at_ms"].as_i64().expect("created");
    assert_eq!(window, 90_000, "the push window is the round's countdown");

    // The push follows the customer's answer.
    let pushes = api.pushes_mentioning_at_least(&id, 1).await;
    assert_eq!(pushes.len(), 1, "one push: {pushes:?}");
    let frame = check_store_push(&api, &pushes[0], &phone).await;
    assert_eq!(frame["order_id"], id.as_str());
    assert_eq!(frame["offer"]["round"], 1);
    assert_eq!(frame["offer"]["deadline_ms"], placed.body["deadline_ms"]);
    assert_eq!(
        frame["event_id"],
        format!("{id}#offer#1#store:asleep"),
        "the event id names the notice"
    );

    // The app opens from the push and accepts over HTTP, no socket needed.
    let accepted = api.accept("asleep", &id).await;
    assert_eq!(accepted.status, 200, "{}", accepted.text);
    assert_eq!(api.get_order("night", &id).await.body["status"], "accepted");
    assert_eq!(api.pushes_mentioning(&id).await.len(), 1, "nothing pushed twice");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timer_delivered_again_does_not_push_twice() {
    let stack = stack(OrderingConfig {
        stores_per_round: 1,
        // Round 1 (a socket's store) lapses soon; round 2, which alerts a
        // closed app, lasts long enough for a loaded server.
        offer_window_ms: 3_000,
        push_offline_stores: true,
        push_offer_window_ms: Some(30_000),
        ..OrderingConfig::default()
    })
    .await;
    let api = Api::new(&stack);
    // Round 1 goes to the nearer store, online; round 2 to the closed app.
    api.put_store("awake", "Awake Store", 0.0, 200.0, "grocery", &["rice"])
        .await;
    api.put_store("dozing", "Dozing Store", 0.0, 900.0, "grocery", &["rice"])
        .await;
    let mut awake = Socket::connect(&stack, "store:awake").await;
    register_device(&api, "dozing", &format!("fcm-token-{}", ulid::Ulid::new())).await;
    let mut customer = Socket::connect(&stack, "customer:sleepy").await;

    let id = api.order("sleepy", "2 kg rice").await.order_id();
    awake.expect("offer", LONG).await;
    assert!(
        api.pushes_mentioning(&id).await.is_empty(),
        "a store online gets no push"
    );
    // The round's timer, delivered three more times (SQS delivers at least once).
    for _ in 0..3 {
        let timer = json!({ "order_id": id, "round": 1 }).to_string();
        stack.send_timer_message(timer).await.expect("timer sent");
    }
    let searching = customer.expect("order_searching", ROUND_CLOSE).await;
    let second = if searching["order"]["round"] == 2 {
        searching
    } else {
        customer.expect("order_searching", ROUND_CLOSE).await
    };
    assert_eq!(second["order"]["round"], 2, "{second}");
    // Anything the duplicates did has happened once the round is read back,
    // but the push goes out beside the customer's frame, not before it (on
    // a loaded machine moto records it later): wait for it, then for
    // anything a duplicate might send after it.
    let read = api.get_order("sleepy", &id).await;
    assert_eq!(read.body["round"], 2);
    api.pushes_mentioning_at_least(&id, 1).await;
    assert!(customer.next(SHORT).await.is_none(), "no round is opened twice");

    let pushes = api.pushes_mentioning(&id).await;
    assert_eq!(pushes.len(), 1, "one push for round 2: {pushes:?}");
    let message: Value = serde_json::from_str(pushes[0]["message"].as_str().expect("message")).expect("JSON");
    assert_eq!(message["event_id"], format!("{id}#offer#2#store:dozing"));
    assert_eq!(api.accept("dozing", &id).await.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn by_default_a_store_without_a_socket_is_neither_matched_nor_pushed() {
    let stack = stack(OrderingConfig {
        stores_per_round: 1,
        ..OrderingConfig::default()
    })
    .await;
    let api = Api::new(&stack);
    api.put_store("offline", "Offline Store", 0.0, 300.0, "grocery", &["rice"])
        .await;
    register_device(&api, "offline", &format!("fcm-token-{}", ulid::Ulid::new())).await;
    let placed = api.order("daytime", "2 kg rice").await;
    assert_eq!(placed.body["status"], "unfulfilled", "{}", placed.text);
    assert!(api.pushes_mentioning(&placed.order_id()).await.is_empty());
}
