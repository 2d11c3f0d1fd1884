//! Sparse supply: when fewer stores than wanted qualify within the radius,
//! a configured list of wider radii is searched round by round (and at
//! once when nobody qualifies at all), and the customer is told the radius
//! searched; off by default, when nothing changes.

use crate::common;

use common::{Api, LONG, Socket, stack};
use shared::domain::config::{OrderingConfig, RadiusSteps};

/// How long a round's end may take to arrive: its timer is an SQS message,
/// and the next round's reads and writes go through a moto that the rest
/// of the suite keeps busy (its log shows pauses of 3-6 s with no request
/// served; 20 s was once not enough).
const ROUND_WAIT: std::time::Duration = std::time::Duration::from_secs(45);

fn widening() -> OrderingConfig {
    OrderingConfig {
        stores_per_round: 2,
        // Long enough that a round's offer is accepted before it ends,
        // even where each of its reads and writes waits on a loaded moto.
        offer_window_ms: 8_000,
        sparse_radii_m: RadiusSteps::new(&[3_000, 5_000]).expect("ascending"),
        ..OrderingConfig::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn too_few_stores_near_widen_the_next_rounds_and_the_customer_is_told() {
    let stack = stack(widening()).await;
    let api = Api::new(&stack);
    api.put_store("near", "Near", 0.0, 500.0, "grocery", &["rice"]).await;
    api.put_store("mid", "Mid", 90.0, 2_600.0, "grocery", &["rice"]).await;
    api.put_store("far", "Far", 180.0, 4_500.0, "grocery", &["rice"]).await;
    let mut near = Socket::connect(&stack, "store:near").await;
    let mut mid = Socket::connect(&stack, "store:mid").await;
    let mut far = Socket::connect(&stack, "store:far").await;
    let mut customer = Socket::connect(&stack, "customer:edge").await;

    let placed = api.order("edge", "2 kg rice").await;
    assert_eq!(placed.status, 201, "{}", placed.text);
    assert_eq!(placed.body["stores_notified"], 1, "only one store within 2 km");
    assert!(
        placed.body.get("search_radius_m").is_none(),
        "round 1 searched the usual radius"
    );
    let id = placed.body["order_id"].as_str().expect("id").to_string();
    near.expect("offer", LONG).await;
    customer.expect("order_searching", LONG).await;

    // Round 1 offered one store of two wanted: round 2 searches 3 km. Its
    // timer comes through SQS, which a loaded moto can hold for seconds.
    let round2 = customer.expect("order_searching", ROUND_WAIT).await;
    assert_eq!(round2["order"]["round"], 2, "{round2}");
    assert_eq!(
        round2["order"]["search_radius_m"], 3_000,
        "the customer is told: {round2}"
    );
    assert_eq!(mid.expect("offer", ROUND_WAIT).await["offer"]["round"], 2);
    // The order's view tells its round's radius (round 3's, if a loaded
    // moto held this read past round 2's end).
    let read = api.get_order("edge", &id).await;
    let radius = if read.body["round"] == 2 { 3_000 } else { 5_000 };
    assert_eq!(read.body["search_radius_m"], radius, "{}", read.text);

    // Still one of two: round 3 searches 5 km.
    let round3 = customer.expect("order_searching", ROUND_WAIT).await;
    assert_eq!(round3["order"]["round"], 3, "{round3}");
    assert_eq!(round3["order"]["search_radius_m"], 5_000);
    assert_eq!(far.expect("offer", ROUND_WAIT).await["offer"]["round"], 3);
    let accepted = api.accept("far", &id).await;
    assert_eq!(accepted.status, 200, "{}", accepted.text);
    let after = api.get_order("edge", &id).await;
    assert!(
        after.body.get("search_radius_m").is_none(),
        "only while searching: {}",
        after.text
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nobody_near_widens_at_once_when_on_and_ends_the_order_when_off() {
    let on = stack(widening()).await;
    let api = Api::new(&on);
    api.put_store("outskirts", "Outskirts", 0.0, 2_600.0, "grocery", &["rice"])
        .await;
    let _store = Socket::connect(&on, "store:outskirts").await;
    let placed = api.order("remote", "2 kg rice").await;
    assert_eq!(placed.body["status"], "searching", "{}", placed.text);
    assert_eq!(placed.body["search_radius_m"], 3_000, "{}", placed.text);
    assert_eq!(placed.body["stores_notified"], 1);

    // Off by default: the same town, the order ends as before.
    let off = stack(OrderingConfig::default()).await;
    let api = Api::new(&off);
    api.put_store("outskirts", "Outskirts", 0.0, 2_600.0, "grocery", &["rice"])
        .await;
    let _store = Socket::connect(&off, "store:outskirts").await;
    let placed = api.order("remote", "2 kg rice").await;
    assert_eq!(placed.body["status"], "unfulfilled", "{}", placed.text);
    assert_eq!(placed.body["reason"], "no_store_nearby");
    assert!(placed.body.get("search_radius_m").is_none());
}
