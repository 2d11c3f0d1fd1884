//! The operators' console, end to end over HTTP: a journey's audit trail
//! lists every change in order with who and when (a retried accept with the
//! same `Idempotency-Key` is not doubled); the figures per area and hour
//! show the time to accept and the rates; the live activity names cells,
//! never points or people; nobody but an operator reads any of it.

use crate::common;

use std::sync::Arc;

use common::{Api, CUSTOMER_LAT, LONG, Socket, customer_point, stack_with};
use local_stack::LocalOptions;
use serde_json::{Value, json};
use shared::domain::clock::{Clock, ManualClock};
use shared::domain::config::OrderingConfig;
use shared::domain::figures::{AREA_RESOLUTION, MAP_RESOLUTION};
use shared::domain::geo::GeoPoint;

const OPERATOR: Option<&str> = Some("operator:o1");
/// The start of an hour (1 800 000 000 000 ms is a whole number of hours).
const HOUR: i64 = 1_800_000_000_000;
/// Far from every store of the test: Chattogram.
const FAR: (f64, f64) = (22.3569, 91.7832);

/// An accept sent with an `Idempotency-Key`, as a client retrying it does.
async fn accept_with_key(api: &Api, store: &str, order: &str, key: &str) -> u16 {
    api.http
        .post(format!("{}/orders/{order}/accept", api.base))
        .bearer_auth(common::token_for(&api.issuer(), &format!("store:{store}")))
        .header("idempotency-key", key)
        .send()
        .await
        .expect("sent")
        .status()
        .as_u16()
}

/// The `(kind, role, at offset from placing)` of each entry.
fn trail(audit: &Value, placed: i64) -> Vec<(String, String, i64)> {
    audit["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .map(|e| {
            (
                e["kind"].as_str().expect("kind").to_string(),
                e["by"]["role"].as_str().expect("role").to_string(),
                e["at_ms"].as_i64().expect("at") - placed,
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operators_see_the_audit_trail_figures_and_live_cells_of_a_journey() {
    let clock = Arc::new(ManualClock::at(HOUR + 60_000));
    let stack = stack_with(LocalOptions {
        ordering: OrderingConfig {
            stores_per_round: 2,
            ..OrderingConfig::default()
        },
        clock: clock.clone(),
        ..LocalOptions::default()
    })
    .await;
    let api = Api::new(&stack);
    api.put_store("near", "Near Store", 0.0, 300.0, "grocery", &["rice"])
        .await;
    api.put_store("next", "Next Store", 90.0, 500.0, "grocery", &["rice"])
        .await;
    let mut near = Socket::connect(&stack, "store:near").await;
    let mut next = Socket::connect(&stack, "store:next").await;

    // A journey: placed, declined by one, accepted by the other (retried
    // with the same key), picked up, completed, reviewed.
    let placed_at = clock.now_ms();
    let placed = api.order("c1", "2 kg rice").await;
    assert_eq!(placed.status, 201, "{}", placed.text);
    let id = placed.body["order_id"].as_str().expect("id").to_string();
    near.expect("offer", LONG).await;
    next.expect("offer", LONG).await;
    clock.advance_ms(5_000);
    api.step_ok("store:near", &id, "decline", None).await;
    clock.advance_ms(7_000);
    let key = "6b1f0c7e-2a4d-4f3b-8e9a-0c1d2e3f4a5b";
    assert_eq!(accept_with_key(&api, "next", &id, key).await, 200);
    assert_eq!(
        accept_with_key(&api, "next", &id, key).await,
        200,
        "the retry gets the same answer"
    );
    clock.advance_ms(1_000);
    api.step_ok("customer:c1", &id, "delivery", Some(json!({"kind": "pickup"})))
        .await;
    clock.advance_ms(60_000);
    api.step_ok(
        "store:next",
        &id,
        "pack",
        Some(json!({"line": 0, "outcome": "packed", "price": 16_000})),
    )
    .await;
    clock.advance_ms(60_000);
    api.step_ok("store:next", &id, "handover", None).await;
    clock.advance_ms(20 * 60_000);
    api.step_ok("customer:c1", &id, "complete", None).await;
    clock.advance_ms(1_000);
    api.step_ok("customer:c1", &id, "review", Some(json!({"stars": 5})))
        .await;
    let completed_after = 5_000 + 7_000 + 1_000 + 60_000 + 60_000 + 20 * 60_000;

    // And one far from every store: unfulfilled at once.
    let far_body = json!({"text": "1 kg dal", "location": {"lat": FAR.0, "lng": FAR.1}});
    let far = api
        .call("POST", "/orders", Some("customer:c2"), Some(far_body.to_string()))
        .await;
    assert_eq!(far.body["status"], "unfulfilled", "{}", far.text);
    let far_id = far.body["order_id"].as_str().expect("id").to_string();
    let far_at = clock.now_ms();

    // The trail: every change once, in order, with who and when.
    let audit = api
        .call("GET", &format!("/operator/orders/{id}/audit"), OPERATOR, None)
        .await;
    assert_eq!(audit.status, 200, "{}", audit.text);
    let s = |kind: &str, role: &str, at: i64| (kind.to_string(), role.to_string(), at);
    assert_eq!(
        trail(&audit.body, placed_at),
        [
            s("placed", "customer", 0),
            s("declined", "store", 5_000),
            s("accepted", "store", 12_000),
            s("delivery_chosen", "customer", 13_000),
            s("packed", "store", 73_000),
            s("handed_over", "store", 133_000),
            s("completed", "customer", completed_after),
            s("reviewed", "customer", completed_after + 1_000),
        ]
    );
    let entries = audit.body["entries"].as_array().expect("entries");
    let versions: Vec<u64> = entries.iter().filter_map(|e| e["version"].as_u64()).collect();
    assert_eq!(versions, (1..=8).collect::<Vec<u64>>());
    assert_eq!(entries[0]["offered_to"], 2);
    assert_eq!(entries[0]["by"]["id"], "c1");
    assert_eq!(
        (entries[1]["by"]["id"].as_str(), entries[2]["by"]["id"].as_str()),
        (Some("near"), Some("next"))
    );
    assert_eq!(entries[2]["status"], "accepted");
    assert_eq!(entries[3]["delivery"], "pickup");
    assert_eq!(entries[7]["stars"], 5);
    assert_eq!(audit.body["status"], "completed");
    let far_audit = api
        .call("GET", &format!("/operator/orders/{far_id}/audit"), OPERATOR, None)
        .await;
    assert_eq!(trail(&far_audit.body, far_at), [s("placed", "customer", 0)]);
    assert_eq!(
        (
            far_audit.body["entries"][0]["offered_to"].as_u64(),
            far_audit.body["entries"][0]["status"].as_str()
        ),
        (Some(0), Some("unfulfilled"))
    );

    // Figures of that hour, per area.
    let figures = api
        .call(
            "GET",
            &format!("/operator/figures?from={HOUR}&to={}", HOUR + 3_600_000),
            OPERATOR,
            None,
        )
        .await;
    assert_eq!(figures.status, 200, "{}", figures.text);
    let near_area = customer_point().cell(AREA_RESOLUTION).to_string();
    let far_area = GeoPoint::new(FAR.0, FAR.1)
        .expect("point")
        .cell(AREA_RESOLUTION)
        .to_string();
    let rows = figures.body["rows"].as_array().expect("rows");
    assert_eq!(rows.len(), 2, "{}", figures.text);
    let row = |area: &str| rows.iter().find(|r| r["area"] == area).expect("a row per area").clone();
    let here = row(&near_area);
    assert_eq!(here["hour_start_ms"], HOUR);
    assert_eq!(
        (
            here["orders"].as_u64(),
            here["accepted"].as_u64(),
            here["completed"].as_u64()
        ),
        (Some(1), Some(1), Some(1))
    );
    assert_eq!(
        (here["accept_p50_ms"].as_i64(), here["accept_p90_ms"].as_i64()),
        (Some(12_000), Some(12_000))
    );
    assert_eq!(
        (here["acceptance_rate"].as_f64(), here["unfulfilled_rate"].as_f64()),
        (Some(1.0), Some(0.0))
    );
    assert_eq!(here["average_fulfilment_ms"].as_i64(), Some(completed_after));
    let there = row(&far_area);
    assert_eq!(
        (there["orders"].as_u64(), there["unfulfilled"].as_u64()),
        (Some(1), Some(1))
    );
    assert_eq!(
        (there["acceptance_rate"].as_f64(), there["unfulfilled_rate"].as_f64()),
        (Some(0.0), Some(1.0))
    );
    assert_eq!(there["accept_p50_ms"], Value::Null);
    assert_eq!(figures.body["promised_fulfilment_ms"], 30 * 60_000);
    let areas = figures.body["areas"].as_array().expect("areas");
    assert_eq!(areas.len(), 2);
    assert!(areas.iter().all(|a| a["boundary"].as_array().map(Vec::len) == Some(6)));
    // Another hour has none of them.
    let before = api
        .call(
            "GET",
            &format!("/operator/figures?from={}&to={HOUR}", HOUR - 3_600_000),
            OPERATOR,
            None,
        )
        .await;
    assert_eq!(before.body["rows"], json!([]), "{}", before.text);

    // The live map: demands, offers, acceptances and endings, as cells.
    let activity = api
        .call(
            "GET",
            &format!("/operator/activity?since={}", placed_at - 1),
            OPERATOR,
            None,
        )
        .await;
    assert_eq!(activity.status, 200, "{}", activity.text);
    let near_cell = customer_point().cell(MAP_RESOLUTION).to_string();
    let far_cell = GeoPoint::new(FAR.0, FAR.1)
        .expect("point")
        .cell(MAP_RESOLUTION)
        .to_string();
    let seen: Vec<(String, String, i64)> = activity.body["events"]
        .as_array()
        .expect("events")
        .iter()
        .map(|e| {
            (
                e["kind"].as_str().expect("kind").to_string(),
                e["cell"].as_str().expect("cell").to_string(),
                e["at_ms"].as_i64().expect("at") - placed_at,
            )
        })
        .collect();
    let far_offset = far_at - placed_at;
    assert_eq!(
        seen,
        [
            ("demand".to_string(), near_cell.clone(), 0),
            ("offer".to_string(), near_cell.clone(), 0),
            ("accepted".to_string(), near_cell.clone(), 12_000),
            ("demand".to_string(), far_cell.clone(), far_offset),
            ("unfulfilled".to_string(), far_cell.clone(), far_offset),
        ]
    );
    assert_eq!(activity.body["events"][1]["stores"], 2);
    for event in activity.body["events"].as_array().expect("events") {
        let mut keys: Vec<&String> = event.as_object().expect("object").keys().collect();
        keys.retain(|k| !["kind", "cell", "at_ms", "stores", "order_id"].contains(&k.as_str()));
        assert!(keys.is_empty(), "an event carries a cell and a time only: {event}");
    }
    for private in [
        format!("{CUSTOMER_LAT}"),
        format!("{}", FAR.0),
        "\"c1\"".into(),
        "\"c2\"".into(),
    ] {
        assert!(
            !activity.text.contains(&private),
            "the feed leaks {private}: {}",
            activity.text
        );
    }
    let cells: Vec<&str> = activity.body["cells"]
        .as_array()
        .expect("cells")
        .iter()
        .filter_map(|c| c["cell"].as_str())
        .collect();
    assert_eq!(cells.len(), 2);
    assert!(cells.contains(&near_cell.as_str()) && cells.contains(&far_cell.as_str()));
    assert_eq!(activity.body["now_ms"], clock.now_ms());
    // Polling on from the answer's time: nothing new.
    let later = api
        .call(
            "GET",
            &format!("/operator/activity?since={}", clock.now_ms()),
            OPERATOR,
            None,
        )
        .await;
    assert_eq!(later.body["events"], json!([]), "{}", later.text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_operators_read_the_console_and_bad_ranges_name_their_field() {
    let clock = Arc::new(ManualClock::at(HOUR + 60_000));
    let stack = stack_with(LocalOptions {
        clock: clock.clone(),
        ..LocalOptions::default()
    })
    .await;
    let api = Api::new(&stack);
    let placed = api.order("c1", "2 kg rice").await;
    let id = placed.body["order_id"].as_str().expect("id").to_string();
    let audit = format!("/operator/orders/{id}/audit");
    for who in ["customer:c1", "store:s1"] {
        for path in [audit.as_str(), "/operator/figures", "/operator/activity"] {
            let refused = api.call("GET", path, Some(who), None).await;
            assert_eq!(
                (refused.status, refused.body["error"]["code"].as_str()),
                (403, Some("forbidden")),
                "{who} {path}: {}",
                refused.text
            );
        }
    }
    assert_eq!(api.call("GET", &audit, None, None).await.status, 401);
    let missing = api
        .call(
            "GET",
            "/operator/orders/01J00000000000000000000000/audit",
            OPERATOR,
            None,
        )
        .await;
    assert_eq!(
        (missing.status, missing.body["error"]["code"].as_str()),
        (404, Some("not_found"))
    );
    let now = clock.now_ms();
    for (path, status, code, field) in [
        (
            "/operator/figures?from=yesterday".to_string(),
            400,
            "invalid_time",
            "from",
        ),
        ("/operator/figures?to=-5".to_string(), 400, "invalid_time", "to"),
        (
            format!("/operator/figures?from={now}&to={}", now - 3_600_000),
            400,
            "invalid_range",
            "from",
        ),
        (
            format!("/operator/figures?from={}&to={now}", now - 49 * 3_600_000),
            400,
            "invalid_range",
            "to",
        ),
        ("/operator/activity?since=1.5".to_string(), 400, "invalid_time", "since"),
        (
            format!("/operator/activity?since={}", now - 4 * 3_600_000),
            400,
            "invalid_range",
            "since",
        ),
    ] {
        let refused = api.call("GET", &path, OPERATOR, None).await;
        assert_eq!(
            (
                refused.status,
                refused.body["error"]["code"].as_str(),
                refused.body["error"]["field"].as_str()
            ),
            (status, Some(code), Some(field)),
            "{path}: {}",
            refused.text
        );
    }
}
