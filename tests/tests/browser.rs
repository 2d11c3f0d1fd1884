//! The web apps in a real browser: a local stack on the chosen backend, a
//! store that applied and was approved, and tests/browser/journey.py
//! driving headless Chromium (Playwright for Python, Debian's chromium)
//! through the whole journey as a customer and that store. Chromium, the
//! Bangla font and Playwright are installed by tests/browser/setup.sh when
//! missing; when they cannot be, this test fails.

use crate::common;

use std::path::Path;
use std::process::Command;

use common::{Api, CUSTOMER_LAT, CUSTOMER_LNG, customer_point, fresh_phone, stack};
use serde_json::json;
use shared::domain::config::OrderingConfig;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_customer_and_a_store_run_the_whole_journey_in_chromium() {
    let stack = stack(OrderingConfig::default()).await;
    let api = Api::new(&stack);

    // A shopkeeper signs in, applies for a store, and an operator approves.
    let phone = fresh_phone();
    let session = api.sign_in(&phone, "customer").await;
    let token = session["access_token"].as_str().expect("a token");
    let at = customer_point().offset(30.0, 400.0);
    let name = "Green Grocery";
    let applied = api
        .call_with_token(
            "POST",
            "/store-applications",
            Some(token),
            Some(json!({
                "phone": phone,
                "name": name,
                "location": { "lat": at.lat(), "lng": at.lng() },
                "category": "grocery",
                "tags": ["rice", "dal"],
                "language": "bn",
                "delivery_options": [{"kind": "pickup", "ready_in_minutes": 15}],
            })),
        )
        .await;
    assert_eq!(applied.status, 202, "{}", applied.text);
    let store_id = applied.body["store_id"].as_str().expect("store id").to_string();
    let approved = api
        .call(
            "POST",
            &format!("/operator/stores/{store_id}/approve"),
            Some("operator:o1"),
            None,
        )
        .await;
    assert_eq!(approved.status, 200, "{}", approved.text);

    // The texts the store's sign-in code is read from.
    let sms_source = match std::env::var("AWS_ENDPOINT_URL") {
        Ok(endpoint) if std::env::var("E2E_BACKEND").as_deref() == Ok("endpoint") => format!("moto:{endpoint}"),
        _ => "dev".to_string(),
    };
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let screenshots = root.join("../target/screenshots");
    let mut journey = Command::new("bash");
    journey
        .arg(root.join("browser/run.sh"))
        .env("BASE_URL", stack.http_url())
        .env("STORE_PHONE", &phone)
        .env("STORE_NAME", name)
        .env("STORE_ID", &store_id)
        .env("SMS_SOURCE", sms_source)
        .env("CUSTOMER_LAT", CUSTOMER_LAT.to_string())
        .env("CUSTOMER_LNG", CUSTOMER_LNG.to_string())
        .env("SCREENSHOTS", &screenshots);
    // The browser runs while this runtime's workers keep serving the stack.
    let status = tokio::task::spawn_blocking(move || journey.status())
        .await
        .expect("the journey runs")
        .expect("bash starts");
    assert!(
        status.success(),
        "the browser journey failed ({status}); its output is above"
    );
}
