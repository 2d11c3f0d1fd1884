//! The whole order journey over real HTTP and WebSocket connections.

use crate::common;

use common::{Api, LONG, SHORT, Socket, stack};
use serde_json::Value;
use shared::domain::config::OrderingConfig;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_order_reaches_the_right_stores_and_the_first_accept_wins() {
    let stack = stack(OrderingConfig::default()).await;
    let api = Api::new(&stack);
    // Four matching stores within 2 km, and four that must never be alerted.
    let matching = [
        ("alpha-7f3", "Alpha Bazaar", 10.0, 300.0),
        ("bravo-9k1", "Bravo Mudi Dokan", 100.0, 900.0),
        ("charlie-2m8", "Charlie Stores", 200.0, 1_400.0),
        ("delta-5q4", "Delta Grocers", 300.0, 1_900.0),
    ];
    for (id, name, bearing, distance) in matching {
        api.put_store(id, name, bearing, distance, "grocery", &["rice", "meat", "spices"])
            .await;
    }
    api.put_store("echo-far", "Echo Far Away", 45.0, 2_100.0, "grocery", &["rice", "meat"])
        .await;
    api.put_store(
        "foxtrot-closed",
        "Foxtrot Closed",
        45.0,
        200.0,
        "grocery",
        &["rice", "meat"],
    )
    .await;
    let closed = api
        .call(
            "PATCH",
            "/stores/foxtrot-closed",
            Some("store:foxtrot-closed"),
            Some(r#"{"open":false}"#.into()),
        )
        .await;
    assert_eq!(closed.status, 200, "{}", closed.text);
    api.put_store("golf-pharmacy", "Golf Pharmacy", 45.0, 100.0, "pharmacy", &["medicine"])
        .await;
    api.put_store(
        "hotel-offline",
        "Hotel Offline",
        45.0,
        150.0,
        "grocery",
        &["rice", "meat"],
    )
    .await;

    let mut stores = Vec::new();
    for (id, ..) in matching {
        stores.push((id, Socket::connect(&stack, &format!("store:{id}")).await));
    }
    let mut never = Vec::new();
    for id in ["echo-far", "foxtrot-closed", "golf-pharmacy"] {
        never.push(Socket::connect(&stack, &format!("store:{id}")).await);
    }
    let mut customer = Socket::connect(&stack, "customer:cust-1").await;

    let created = api.order("cust-1", "1.2 kg rice, 600 g meat, spices").await;
    assert_eq!(created.status, 201, "{}", created.text);
    assert_eq!(created.body["status"], "searching");
    assert_eq!(created.body["stores_notified"], 4);
    let order_id = created.body["order_id"].as_str().expect("order id").to_string();

    // Exactly the four matching stores get the alert.
    for (_, socket) in &mut stores {
        let alert = socket.expect("offer", LONG).await;
        assert_eq!(alert["order_id"], order_id.as_str());
        assert_eq!(
            alert["offer"]["speak"],
            "New order: 1.2 kg rice, 600 g meat, spices - accept now!"
        );
        let items = alert["offer"]["items"].as_array().expect("items");
        assert_eq!(items.len(), 3);
        assert_eq!(items[0]["quantity"], serde_json::json!({"amount": "1.2", "unit": "kg"}));
        assert!(
            alert["offer"]["deadline_ms"].as_i64().expect("deadline")
                > created.body["created_at_ms"].as_i64().expect("created")
        );
        assert!(alert["event_id"].is_string() && alert["version"].is_u64());
    }
    for socket in &mut never {
        socket.expect_silence(SHORT).await;
    }
    let searching = customer.expect("order_searching", LONG).await;
    assert_eq!(searching["order"]["stores_notified"], 4);

    // Before acceptance, the customer's view names no store.
    let before = api.get_order("cust-1", &order_id).await;
    assert_eq!(before.body["status"], "searching");
    let customer_payloads = vec![created.text.clone(), before.text.clone(), searching.to_string()];
    for payload in &customer_payloads {
        for (id, name, ..) in matching {
            assert!(
                !payload.contains(id) && !payload.contains(name),
                "store identity leaked: {payload}"
            );
        }
    }

    // Bravo accepts first.
    let won = api.accept("bravo-9k1", &order_id).await;
    assert_eq!(won.status, 200, "{}", won.text);
    assert_eq!(won.body["status"], "accepted");
    let accepted = customer.expect("order_accepted", LONG).await;
    assert_eq!(accepted["store"]["name"], "Bravo Mudi Dokan");
    assert_eq!(accepted["store"]["store_id"], "bravo-9k1");
    assert!(accepted["version"].as_u64() > searching["version"].as_u64());
    for (id, socket) in &mut stores {
        let expected = if *id == "bravo-9k1" { "offer_won" } else { "offer_taken" };
        let frame = socket.expect(expected, LONG).await;
        assert_eq!(frame["order_id"], order_id.as_str());
    }

    // A later accept is refused with a reason.
    let late = api.accept("alpha-7f3", &order_id).await;
    assert_eq!(
        (late.status, late.body["error"]["code"].clone()),
        (409, Value::from("offer_taken"))
    );
    // The winner's repeat is a retry of the accept that won (its answer
    // may have been lost): the same answer, and everyone is told again.
    let again = api.accept("bravo-9k1", &order_id).await;
    assert_eq!((again.status, &again.body), (200, &won.body), "{}", again.text);
    let told_again = customer.expect("order_accepted", LONG).await;
    assert_eq!(told_again["store"]["store_id"], "bravo-9k1");
    for (id, socket) in &mut stores {
        let expected = if *id == "bravo-9k1" { "offer_won" } else { "offer_taken" };
        socket.expect(expected, LONG).await;
    }
    let stranger = api.accept("echo-far", &order_id).await;
    assert_eq!(
        (stranger.status, stranger.body["error"]["code"].clone()),
        (403, Value::from("not_offered"))
    );

    // Now the order reveals its store.
    let after = api.get_order("cust-1", &order_id).await;
    assert_eq!(after.body["status"], "accepted");
    assert_eq!(after.body["store"]["name"], "Bravo Mudi Dokan");
    // Another customer cannot see it.
    assert_eq!(api.get_order("cust-2", &order_id).await.status, 404);
    for socket in &mut never {
        socket.expect_silence(SHORT).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_round_every_store_declined_moves_on_at_once_not_at_its_deadline() {
    // The default 60-second window: every wait below is far shorter.
    let stack = stack(OrderingConfig {
        stores_per_round: 1,
        ..OrderingConfig::default()
    })
    .await;
    let api = Api::new(&stack);
    api.put_store("near", "Near", 0.0, 300.0, "grocery", &["rice"]).await;
    api.put_store("far", "Far", 90.0, 700.0, "grocery", &["rice"]).await;
    let mut near = Socket::connect(&stack, "store:near").await;
    let mut far = Socket::connect(&stack, "store:far").await;
    let mut customer = Socket::connect(&stack, "customer:c1").await;
    let id = api.order("c1", "2 kg rice").await.order_id();
    near.expect("offer", LONG).await;
    let declined = api
        .call("POST", &format!("/orders/{id}/decline"), Some("store:near"), None)
        .await;
    assert_eq!(declined.status, 200, "{}", declined.text);
    let offer = far.expect("offer", LONG).await;
    assert_eq!(offer["offer"]["round"], 2, "the next store is asked at once");
    let declined = api
        .call("POST", &format!("/orders/{id}/decline"), Some("store:far"), None)
        .await;
    assert_eq!(declined.status, 200, "{}", declined.text);
    customer.expect("order_unfulfilled", LONG).await;
    assert_eq!(api.get_order("c1", &id).await.body["status"], "unfulfilled");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_while_searching_withdraws_the_alerts() {
    let stack = stack(OrderingConfig::default()).await;
    let api = Api::new(&stack);
    api.put_store("s1", "One", 0.0, 500.0, "grocery", &["rice"]).await;
    api.put_store("s2", "Two", 90.0, 500.0, "grocery", &["rice"]).await;
    let mut s1 = Socket::connect(&stack, "store:s1").await;
    let mut s2 = Socket::connect(&stack, "store:s2").await;
    let mut customer = Socket::connect(&stack, "customer:c1").await;
    let created = api.order("c1", "2 kg rice").await;
    let order_id = created.body["order_id"].as_str().expect("id").to_string();
    s1.expect("offer", LONG).await;
    s2.expect("offer", LONG).await;

    let other = api
        .call("POST", &format!("/orders/{order_id}/cancel"), Some("customer:c2"), None)
        .await;
    assert_eq!(other.status, 404);
    let cancelled = api
        .call("POST", &format!("/orders/{order_id}/cancel"), Some("customer:c1"), None)
        .await;
    assert_eq!(cancelled.status, 200, "{}", cancelled.text);
    assert_eq!(cancelled.body["status"], "cancelled");
    s1.expect("offer_withdrawn", LONG).await;
    s2.expect("offer_withdrawn", LONG).await;
    customer.expect("order_cancelled", LONG).await;
    let late = api.accept("s1", &order_id).await;
    assert_eq!(
        (late.status, late.body["error"]["code"].clone()),
        (409, Value::from("order_cancelled"))
    );
    // Cancelling again is the same step (a retry whose answer was lost):
    // the same answer, and the stores are told again.
    let twice = api
        .call("POST", &format!("/orders/{order_id}/cancel"), Some("customer:c1"), None)
        .await;
    assert_eq!((twice.status, &twice.body), (200, &cancelled.body), "{}", twice.text);
    s1.expect("offer_withdrawn", LONG).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reconnecting_store_gets_its_open_offers_again() {
    let stack = stack(OrderingConfig::default()).await;
    let api = Api::new(&stack);
    api.put_store("s1", "One", 0.0, 500.0, "grocery", &["rice"]).await;
    let mut first = Socket::connect(&stack, "store:s1").await;
    let created = api.order("c1", "2 kg rice").await;
    let order_id = created.body["order_id"].as_str().expect("id").to_string();
    let offer = first.expect("offer", LONG).await;
    // The mobile network drops the socket.
    first.stream.close(None).await.expect("closes");
    drop(first);

    let mut again = Socket::connect(&stack, "store:s1").await;
    again.send(serde_json::json!({"action": "sync"})).await;
    let resent = again.expect("offer", LONG).await;
    assert_eq!(resent["order_id"], order_id.as_str());
    assert_eq!(resent["version"], offer["version"]);
    assert!(resent["event_id"].is_string());
    let synced = again.expect("synced", LONG).await;
    assert_eq!(synced["offers_resent"], 1);

    let listed = api.call("GET", "/stores/s1/offers", Some("store:s1"), None).await;
    assert_eq!(listed.status, 200);
    assert_eq!(listed.body["offers"][0]["order_id"], order_id.as_str());
    // Only the store itself may list its offers.
    assert_eq!(
        api.call("GET", "/stores/s1/offers", Some("store:s2"), None)
            .await
            .status,
        403
    );

    // Accepting over the socket works too.
    again
        .send(serde_json::json!({"action": "accept", "order_id": order_id}))
        .await;
    let accepted = again.expect("accepted", LONG).await;
    assert_eq!(accepted["order_id"], order_id.as_str());
}
