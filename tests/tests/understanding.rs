//! Orders understood from what customers say: an event ("Dinner for 6 -
//! polao") reaches the stores as scaled amounts, spoken in each store's
//! language.

use crate::common;

use common::{Api, LONG, Socket, stack};
use serde_json::{Value, json};
use shared::domain::config::OrderingConfig;

fn amount_of(items: &Value, tag: &str) -> Option<(String, String)> {
    items.as_array()?.iter().find(|i| i["tag"] == tag).map(|i| {
        (
            i["quantity"]["amount"].as_str().unwrap_or_default().to_string(),
            i["quantity"]["unit"].as_str().unwrap_or_default().to_string(),
        )
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dinner_for_six_polao_reaches_stores_as_rice_and_meat() {
    let stack = stack(OrderingConfig::default()).await;
    let api = Api::new(&stack);
    let tags = ["rice", "meat", "onion", "ghee", "spices"];
    api.put_store("en-shop", "English Shop", 0.0, 300.0, "grocery", &tags)
        .await;
    api.put_store("bn-shop", "Bangla Shop", 90.0, 500.0, "grocery", &tags)
        .await;
    let bangla = api
        .call(
            "PATCH",
            "/stores/bn-shop",
            Some("store:bn-shop"),
            Some(json!({"language": "bn"}).to_string()),
        )
        .await;
    assert_eq!(bangla.status, 200, "{}", bangla.text);
    let mut english_store = Socket::connect(&stack, "store:en-shop").await;
    let mut bangla_store = Socket::connect(&stack, "store:bn-shop").await;

    // The parse route says which recipe and party size it used.
    let parsed = api
        .call(
            "POST",
            "/demand/parse",
            Some("customer:c1"),
            Some(json!({"text": "Dinner for 6 - polao"}).to_string()),
        )
        .await;
    assert_eq!(parsed.status, 200, "{}", parsed.text);
    assert_eq!(parsed.body["recipes"][0]["recipe"], "polao");
    assert_eq!(parsed.body["recipes"][0]["people"], 6);

    let created = api.order("c1", "Dinner for 6 - polao").await;
    assert_eq!(created.status, 201, "{}", created.text);
    assert_eq!(created.body["stores_notified"], 2);
    let offer = english_store.expect("offer", LONG).await;
    let items = &offer["offer"]["items"];
    assert_eq!(amount_of(items, "rice"), Some(("1.2".into(), "kg".into())));
    assert_eq!(amount_of(items, "meat"), Some(("600".into(), "g".into())));
    let speak = offer["offer"]["speak"].as_str().expect("speak");
    assert!(speak.starts_with("New order: 1.2 kg rice, 600 g meat"), "{speak}");
    let bangla_offer = bangla_store.expect("offer", LONG).await;
    let speak = bangla_offer["offer"]["speak"].as_str().expect("speak");
    assert!(speak.starts_with("নতুন অর্ডার"), "{speak}");
    assert!(speak.contains("চাল"), "{speak}");

    // Bangla input, and lines nobody understands come back, never dropped.
    let parsed = api
        .call(
            "POST",
            "/demand/parse",
            Some("customer:c1"),
            Some(json!({"text": "২ কেজি চাল, ঢেঁড়স"}).to_string()),
        )
        .await;
    assert_eq!(
        amount_of(&parsed.body["items"], "rice"),
        Some(("2".into(), "kg".into()))
    );
    assert!(
        parsed.body["items"]
            .as_array()
            .expect("items")
            .iter()
            .any(|i| i["status"] == "unmatched"),
        "{}",
        parsed.text
    );
    // Voice transcripts and picture labels go through the same understanding.
    let voice = api
        .call(
            "POST",
            "/demand/parse",
            Some("customer:c1"),
            Some(
                json!({"voice": {"transcript": "এক হালি ডিম", "language": "bn", "confidence": 0.95},
                        "pictures": [{"label": "rice bag", "count": 2}]})
                .to_string(),
            ),
        )
        .await;
    assert_eq!(voice.status, 200, "{}", voice.text);
    assert_eq!(
        amount_of(&voice.body["items"], "eggs"),
        Some(("4".into(), "piece".into()))
    );
    assert!(amount_of(&voice.body["items"], "rice").is_some(), "{}", voice.text);
}
