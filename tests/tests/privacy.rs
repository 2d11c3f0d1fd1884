//! Before a store accepts, nothing the customer receives (answers, errors,
//! pushes) names, identifies or locates any store; and no offer tells a
//! store where the customer is or their phone number.

use crate::common;

use common::{Api, LONG, ROUND_CLOSE, SHORT, Socket, customer_point, stack};
use serde_json::json;
use shared::domain::config::OrderingConfig;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_customer_facing_payload_before_acceptance_reveals_a_store() {
    let stack = stack(OrderingConfig {
        offer_window_ms: 3_000,
        stores_per_round: 2,
        ..OrderingConfig::default()
    })
    .await;
    let api = Api::new(&stack);
    let stores = [
        ("kx7-alpha", "Karwan Bazar Traders", 20.0, 350.0),
        ("kx7-bravo", "Bravo Mudi Dokan", 140.0, 700.0),
        ("kx7-charlie", "Charlie Grocers", 260.0, 1_100.0),
    ];
    let mut secrets: Vec<String> = Vec::new();
    let mut sockets = Vec::new();
    for (id, name, bearing, distance) in stores {
        let reply = api
            .put_store(id, name, bearing, distance, "grocery", &["rice", "meat"])
            .await;
        let location = &reply.body["location"];
        secrets.push(id.to_string());
        secrets.push(name.to_string());
        for axis in ["lat", "lng"] {
            // The first five decimals place a shop within a metre or two.
            let value = location[axis].as_f64().expect("coordinate");
            secrets.push(format!("{value:.5}"));
        }
        sockets.push(Socket::connect(&stack, &format!("store:{id}")).await);
    }
    let phone = "01912345678";
    assert_eq!(api.attach_phone("cust-p", phone).await.status, 200);
    let mut customer = Socket::connect(&stack, "customer:cust-p").await;
    let mut seen_by_customer: Vec<String> = Vec::new();

    let parsed = api
        .call(
            "POST",
            "/demand/parse",
            Some("customer:cust-p"),
            Some(json!({"text": "1.2 kg rice, 600 g meat"}).to_string()),
        )
        .await;
    seen_by_customer.push(parsed.text);
    let created = api.order("cust-p", "1.2 kg rice, 600 g meat").await;
    seen_by_customer.push(created.text.clone());
    let id = created.body["order_id"].as_str().expect("id").to_string();
    // Round 1 lapses, round 2 starts: the customer hears about both. The
    // second waits on a real timer message (SQS delays in whole seconds)
    // through one moto serving the whole suite, hence the longer wait.
    seen_by_customer.push(customer.expect("order_searching", LONG).await.to_string());
    seen_by_customer.push(customer.expect("order_searching", ROUND_CLOSE).await.to_string());
    for path in [
        format!("/orders/{id}"),
        format!("/orders/{id}/accept"),
        "/stores/kx7-alpha".to_string(),
    ] {
        for method in ["GET", "POST"] {
            seen_by_customer.push(api.call(method, &path, Some("customer:cust-p"), None).await.text);
        }
    }
    customer.send(json!({"action": "sync"})).await;
    seen_by_customer.push(customer.expect("synced", LONG).await.to_string());
    customer.send(json!({"action": "whoami"})).await;
    seen_by_customer.push(customer.expect("whoami", LONG).await.to_string());

    for payload in &seen_by_customer {
        for secret in &secrets {
            assert!(
                !payload.contains(secret.as_str()),
                "{secret:?} leaked to the customer: {payload}"
            );
        }
    }
    assert!(seen_by_customer.len() >= 10);

    // Offers carry no customer position or phone.
    let here = customer_point();
    let customer_secrets = [
        format!("{:.5}", here.lat()),
        format!("{:.5}", here.lng()),
        phone[1..].to_string(),
        "cust-p".to_string(),
    ];
    for socket in &mut sockets {
        while let Some(frame) = socket.next(SHORT).await {
            let text = frame.to_string();
            for secret in &customer_secrets {
                assert!(!text.contains(secret.as_str()), "{secret:?} leaked to a store: {text}");
            }
        }
        assert!(!socket.seen.is_empty(), "every store saw at least one event");
    }
}
