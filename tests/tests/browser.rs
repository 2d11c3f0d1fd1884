//! The web apps in a real browser: a local stack on the chosen backend,
//! stores that applied and were approved, and tests/browser/journey.py
//! driving headless Chromium (Playwright for Python, Debian's chromium).
//! Two scenarios, each on its own stack:
//! - `journey`: the whole journey as a customer and one store (the
//!   product's 60-second offer window), watched by an operator in the
//!   console: the order on the live map, its audit trail, the figures of
//!   its area, and a waiting shop approved;
//! - `offers`: two stores and a customer on a 10-second window with one
//!   round, so a round closes unanswered within the test: a cancel while
//!   searching, a decline and an expiry, a delivery to a typed address with
//!   location denied, an offer taken by the other store, a substitute the
//!   customer takes, and a guest adding their number.
//!
//! Chromium, the Bangla font, Playwright and axe-core are installed by
//! tests/browser/setup.sh when missing; when they cannot be, this test
//! fails.

use crate::common;

use std::path::Path;
use std::process::Command;

use common::{Api, CUSTOMER_LAT, CUSTOMER_LNG, customer_point, fresh_phone, stack};
use serde_json::{Value, json};
use shared::domain::config::OrderingConfig;
use shared::domain::customer::PhoneNumber;
use shared::domain::figures::{AREA_RESOLUTION, MAP_RESOLUTION};

/// A store a shopkeeper applied for, still pending: its phone and id.
async fn applied_store(api: &Api, name: &str, east_m: f64, delivery_options: Value) -> (String, String) {
    let phone = fresh_phone();
    let session = api.sign_in(&phone, "customer").await;
    let token = session["access_token"].as_str().expect("a token");
    let at = customer_point().offset(30.0, east_m);
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
                "tags": ["rice", "lentils"],
                "language": "bn",
                "delivery_options": delivery_options,
            })),
        )
        .await;
    assert_eq!(applied.status, 202, "{}", applied.text);
    let store_id = applied.body["store_id"].as_str().expect("store id").to_string();
    (phone, store_id)
}

/// A store applied for by a shopkeeper and approved by an operator: its
/// phone and id.
async fn approved_store(api: &Api, name: &str, east_m: f64, delivery_options: Value) -> (String, String) {
    let (phone, store_id) = applied_store(api, name, east_m, delivery_options).await;
    let approved = api
        .call(
            "POST",
            &format!("/operator/stores/{store_id}/approve"),
            Some("operator:o1"),
            None,
        )
        .await;
    assert_eq!(approved.status, 200, "{}", approved.text);
    (phone, store_id)
}

/// Runs one scenario of tests/browser/journey.py against `stack`.
async fn run_scenario(scenario: &str, base_url: String, env: Vec<(&'static str, String)>) {
    // The texts the sign-in codes are read from.
    let sms_source = common::moto_endpoint().map_or_else(|| "dev".to_string(), |endpoint| format!("moto:{endpoint}"));
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let screenshots = root.join("../target/screenshots");
    let mut journey = Command::new("bash");
    journey
        .arg(root.join("browser/run.sh"))
        .arg(scenario)
        .env("BASE_URL", base_url)
        .env("SMS_SOURCE", sms_source)
        .env("CUSTOMER_LAT", CUSTOMER_LAT.to_string())
        .env("CUSTOMER_LNG", CUSTOMER_LNG.to_string())
        .env("SCREENSHOTS", &screenshots)
        .envs(env);
    // The browser runs while this runtime's workers keep serving the stack.
    let status = tokio::task::spawn_blocking(move || journey.status())
        .await
        .expect("the journey runs")
        .expect("bash starts");
    assert!(
        status.success(),
        "the browser scenario {scenario} failed ({status}); its output is above"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_customer_and_a_store_run_the_whole_journey_watched_by_an_operator_in_chromium() {
    let stack = stack(OrderingConfig::default()).await;
    let api = Api::new(&stack);
    let name = "Green Grocery";
    let pickup = json!([{"kind": "pickup", "ready_in_minutes": 15}]);
    let (phone, store_id) = approved_store(&api, name, 400.0, pickup.clone()).await;
    // The console's operator, and a shop waiting for their approval.
    let operator_phone = fresh_phone();
    stack
        .appoint_operator(&PhoneNumber::new(&operator_phone).expect("phone"))
        .await
        .expect("appointed");
    let pending = "Bhai Bhai Store";
    applied_store(&api, pending, 900.0, pickup).await;
    run_scenario(
        "journey",
        stack.http_url(),
        vec![
            ("STORE_PHONE", phone),
            ("STORE_NAME", name.to_string()),
            ("STORE_ID", store_id),
            ("OPERATOR_PHONE", operator_phone),
            ("PENDING_STORE_NAME", pending.to_string()),
            // Where the console should draw the order, and the area its
            // figures are counted in.
            ("ORDER_MAP_CELL", customer_point().cell(MAP_RESOLUTION).to_string()),
            ("ORDER_AREA", customer_point().cell(AREA_RESOLUTION).to_string()),
        ],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_stores_see_offers_declined_taken_expired_and_withdrawn_in_chromium() {
    // One short round: an offer nobody answers expires within the test.
    // Long enough for a cancel, a decline and an accept to be clicked
    // within it when Chromium and moto share a slow machine.
    let stack = stack(OrderingConfig {
        offer_window_ms: 20_000,
        max_rounds: 1,
        ..OrderingConfig::default()
    })
    .await;
    let api = Api::new(&stack);
    let both = json!([
        {"kind": "pickup", "ready_in_minutes": 15},
        {"kind": "helper_delivery", "within_minutes": 60, "fee_paisa": 4000},
    ]);
    let (first_phone, first_id) = approved_store(&api, "Rahim Store", 300.0, both.clone()).await;
    let (second_phone, second_id) = approved_store(&api, "Karim Store", 600.0, both).await;
    run_scenario(
        "offers",
        stack.http_url(),
        vec![
            ("STORE_PHONE", first_phone),
            ("STORE_NAME", "Rahim Store".to_string()),
            ("STORE_ID", first_id),
            ("OTHER_STORE_PHONE", second_phone),
            ("OTHER_STORE_NAME", "Karim Store".to_string()),
            ("OTHER_STORE_ID", second_id),
            ("CUSTOMER_PHONE", fresh_phone()),
        ],
    )
    .await;
}
