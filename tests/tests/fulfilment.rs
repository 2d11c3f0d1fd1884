//! After acceptance: packing with a line unavailable, helper delivery,
//! completion, the virtual home, the review that re-ranks stores, sharing;
//! and racing steps where exactly one applies.

use crate::common;

use std::sync::Arc;

use common::{Api, LONG, Socket, stack};
use serde_json::{Value, json};
use shared::domain::clock::Clock;
use shared::domain::config::OrderingConfig;
use tokio::sync::Barrier;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn from_acceptance_to_review_and_the_review_reranks_stores() {
    let stack = stack(OrderingConfig {
        stores_per_round: 1,
        ..OrderingConfig::default()
    })
    .await;
    let api = Api::new(&stack);
    let tags = ["rice", "meat", "spices"];
    api.put_store("near", "Near Store", 0.0, 300.0, "grocery", &tags).await;
    api.put_store("far", "Far Store", 180.0, 900.0, "grocery", &tags).await;
    let mut near = Socket::connect(&stack, "store:near").await;
    let mut far = Socket::connect(&stack, "store:far").await;
    assert_eq!(api.attach_phone("c1", "01712345678").await.status, 200);
    let mut customer = Socket::connect(&stack, "customer:c1").await;

    let created = api.order("c1", "1.2 kg rice, 600 g meat, spices").await;
    let id = created.body["order_id"].as_str().expect("id").to_string();
    near.expect("offer", LONG).await;
    assert_eq!(api.accept("near", &id).await.status, 200);
    customer.expect("order_accepted", LONG).await;

    // The customer picks helper delivery; the store packs line by line.
    let chose = api
        .step("customer:c1", &id, "delivery", Some(json!({"kind": "helper_delivery"})))
        .await;
    assert_eq!(chose.status, 200, "{}", chose.text);
    let packed = api
        .step(
            "store:near",
            &id,
            "pack",
            Some(json!({"line": 0, "outcome": "packed", "price": 9_600})),
        )
        .await;
    assert_eq!(packed.status, 200, "{}", packed.text);
    assert_eq!(packed.body["status"], "preparing");
    assert_eq!(
        packed.body["customer_phone"], "+8801712345678",
        "the winner may call the customer"
    );
    let chosen = customer.expect("order_updated", LONG).await;
    assert_eq!(chosen["order"]["delivery"]["option"]["kind"], "helper_delivery");
    let live = customer.expect("order_updated", LONG).await;
    assert_eq!(live["order"]["packing"][0]["state"], "packed");
    assert!(live["version"].as_u64() > chosen["version"].as_u64());
    assert_eq!(live["order"]["packing"][1]["state"], "pending");
    assert_eq!(live["order"]["packing"][0]["item"], "1.2 kg rice");
    // A packed line keeps its price: another report for it is refused.
    let repriced = api
        .step(
            "store:near",
            &id,
            "pack",
            Some(json!({"line": 0, "outcome": "packed", "price": 99_000})),
        )
        .await;
    assert_eq!(
        (repriced.status, repriced.body["error"]["code"].as_str()),
        (422, Some("invalid_step")),
        "{}",
        repriced.text
    );
    // More than the 600 g of meat ordered, or counted where it was weighed:
    // the bill and the customer's home would say so.
    for (amount, unit) in [("0.7", "kg"), ("3", "dozen")] {
        let wrong = json!({"line": 1, "outcome": "partly_packed", "amount": amount, "unit": unit, "price": 28_000});
        let refused = api.step("store:near", &id, "pack", Some(wrong)).await;
        assert_eq!(
            (
                refused.status,
                refused.body["error"]["code"].as_str(),
                refused.body["error"]["field"].as_str()
            ),
            (422, Some("invalid_step"), Some("amount")),
            "{amount} {unit}: {}",
            refused.text
        );
    }
    // Typed on a Bangla keyboard: "০.৪" is 0.4.
    let partly = json!({"line": 1, "outcome": "partly_packed", "amount": "০.৪", "unit": "kg", "price": 28_000});
    assert_eq!(api.step("store:near", &id, "pack", Some(partly)).await.status, 200);
    let early = api.step("store:near", &id, "handover", None).await;
    assert_eq!(
        (early.status, early.body["error"]["code"].as_str()),
        (422, Some("invalid_step")),
        "a line is pending"
    );
    assert_eq!(
        api.step(
            "store:near",
            &id,
            "pack",
            Some(json!({"line": 2, "outcome": "unavailable"}))
        )
        .await
        .status,
        200
    );
    let out = api.step("store:near", &id, "handover", None).await;
    assert_eq!(out.body["status"], "out_for_delivery", "{}", out.text);
    let early_review = api.step("customer:c1", &id, "review", Some(json!({"stars": 1}))).await;
    assert_eq!(
        (early_review.status, early_review.body["error"]["code"].as_str()),
        (409, Some("illegal_transition"))
    );
    assert!(
        early_review.body["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("out_for_delivery")
    );

    let done = api.step("customer:c1", &id, "complete", None).await;
    assert_eq!(done.status, 200, "{}", done.text);
    assert_eq!(done.body["status"], "completed");
    let bill = &done.body["bill"];
    assert_eq!(
        bill["lines"].as_array().map(Vec::len),
        Some(2),
        "the unavailable line is not billed"
    );
    assert_eq!(bill["delivery_fee"], 4_000);
    assert_eq!(bill["total"], 9_600 + 28_000 + 4_000);
    customer.expect("review_requested", LONG).await;

    // The virtual home holds what was packed, not what was asked.
    let home = api.call("GET", "/customers/me/home", Some("customer:c1"), None).await;
    let items = home.body["items"].as_array().expect("items").clone();
    let amount = |tag: &str| {
        items
            .iter()
            .find(|i| i["tag"] == tag)
            .map(|i| (i["quantity"]["amount"].clone(), i["quantity"]["unit"].clone()))
    };
    assert_eq!(amount("rice"), Some((json!("1.2"), json!("kg"))));
    assert_eq!(amount("meat"), Some((json!("0.4"), json!("kg"))));
    assert_eq!(amount("spices"), None);

    // Reviews: once, only by the customer, only after completion.
    assert_eq!(
        api.step("customer:other", &id, "review", Some(json!({"stars": 5})))
            .await
            .status,
        404
    );
    assert_eq!(
        api.step("customer:c1", &id, "review", Some(json!({"stars": 1})))
            .await
            .status,
        200
    );
    let second = api.step("customer:c1", &id, "review", Some(json!({"stars": 5}))).await;
    assert_eq!(
        (second.status, second.body["error"]["code"].as_str()),
        (409, Some("already_reviewed")),
        "a second review conflicts with the first: {}",
        second.text
    );

    // Sharing makes a public link that shows what was bought and where,
    // nothing private, to anyone who opens it.
    let share = api.step("customer:c1", &id, "share", None).await;
    assert_eq!(share.status, 200, "{}", share.text);
    let url = share.body["url"].as_str().expect("a link").to_string();
    let share_id = share.body["share_id"].as_str().expect("share id");
    assert_eq!(url, format!("{}/share/{share_id}", api.base));
    let text = share.body["text"].as_str().unwrap_or_default();
    assert!(text.contains("Near Store") && text.ends_with(&url), "{text}");
    let again = api.step("customer:c1", &id, "share", None).await;
    assert_eq!(again.body["url"].as_str(), Some(url.as_str()), "one link per order");
    let card = api.http.get(&url).send().await.expect("opens");
    assert_eq!(card.status(), 200);
    let content_type = card
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let card = card.text().await.expect("body");
    api.check("GET", url.trim_start_matches(&api.base), 200, &content_type, &card)
        .await;
    let page = api
        .http
        .get(&url)
        .header("accept", "text/html,application/xhtml+xml")
        .send()
        .await
        .expect("opens");
    assert_eq!(
        page.headers().get("content-type").and_then(|v| v.to_str().ok()),
        Some("text/html; charset=utf-8")
    );
    assert_eq!(
        page.headers().get("vary").and_then(|v| v.to_str().ok()),
        Some("Accept"),
        "caches key the page on Accept"
    );
    let page = page.text().await.expect("body");
    assert!(
        card.contains("1.2 kg rice") && page.contains("<li>1.2 kg rice</li>"),
        "{card}\n{page}"
    );
    for shown in [&card, &page] {
        for private in ["1712345678", "23.79", "90.40", "c1", "lat", "lng", "phone", "customer"] {
            assert!(!shown.contains(private), "{private} in {shown}");
        }
    }

    // History, newest first.
    let second = api.order("c1", "2 kg rice").await;
    let history = api
        .call("GET", "/customers/me/orders?limit=1", Some("customer:c1"), None)
        .await;
    assert_eq!(history.body["orders"][0]["order_id"], second.body["order_id"]);
    let before = history.body["next_before"].as_str().expect("a next page");
    let older = api
        .call(
            "GET",
            &format!("/customers/me/orders?limit=1&before={before}"),
            Some("customer:c1"),
            None,
        )
        .await;
    assert_eq!(older.body["orders"][0]["order_id"], id.as_str());

    // The one-star review moves the near store below the far one.
    let offer = far.expect("offer", LONG).await;
    assert_eq!(
        offer["order_id"], second.body["order_id"],
        "the better rated store is asked first"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_steps_apply_exactly_once() {
    let stack = stack(OrderingConfig::default()).await;
    let api = Arc::new(Api::new(&stack));
    api.put_store("s1", "One", 0.0, 300.0, "grocery", &["rice", "meat"])
        .await;
    let mut store = Socket::connect(&stack, "store:s1").await;
    for round in 0..10 {
        let customer = format!("racer-{round}");
        let created = api.order(&customer, "rice, meat").await;
        let id = created.body["order_id"].as_str().expect("id").to_string();
        store.expect("offer", LONG).await;
        assert_eq!(api.accept("s1", &id).await.status, 200);
        // Two different lines packed at once: neither update is lost.
        let barrier = Arc::new(Barrier::new(2));
        let packs: Vec<_> = (0..2)
            .map(|line| {
                let (api, barrier, id) = (Arc::clone(&api), Arc::clone(&barrier), id.clone());
                tokio::spawn(async move {
                    barrier.wait().await;
                    api.step(
                        "store:s1",
                        &id,
                        "pack",
                        Some(json!({"line": line, "outcome": "packed", "price": 100})),
                    )
                    .await
                })
            })
            .collect();
        for pack in packs {
            assert_eq!(pack.await.expect("ran").status, 200);
        }
        let who = format!("customer:{customer}");
        assert_eq!(
            api.step(&who, &id, "delivery", Some(json!({"kind": "pickup"})))
                .await
                .status,
            200
        );
        let ready = api.step("store:s1", &id, "handover", None).await;
        assert_eq!(ready.body["status"], "ready_for_pickup", "{}", ready.text);
        // Customer and store confirm at the same instant: one completes it.
        let barrier = Arc::new(Barrier::new(2));
        let completes: Vec<_> = [who.clone(), "store:s1".to_string()]
            .into_iter()
            .map(|actor| {
                let (api, barrier, id) = (Arc::clone(&api), Arc::clone(&barrier), id.clone());
                tokio::spawn(async move {
                    barrier.wait().await;
                    api.step(&actor, &id, "complete", None).await.status
                })
            })
            .collect();
        let mut statuses = Vec::new();
        for complete in completes {
            statuses.push(complete.await.expect("ran"));
        }
        statuses.sort_unstable();
        assert_eq!(statuses, [200, 409], "round {round}");
        let order = api.get_order(&customer, &id).await;
        assert_eq!(order.body["packing"].as_array().map(Vec::len), Some(2));
        assert!(
            order.body["packing"]
                .as_array()
                .expect("lines")
                .iter()
                .all(|l| l["state"] == "packed")
        );
        assert_eq!(order.body["bill"]["total"], 200);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_that_gives_an_order_back_sends_it_back_to_routing() {
    let stack = stack(OrderingConfig {
        stores_per_round: 1,
        ..OrderingConfig::default()
    })
    .await;
    let api = Api::new(&stack);
    api.put_store("first", "First Store", 0.0, 300.0, "grocery", &["rice"])
        .await;
    api.put_store("second", "Second Store", 90.0, 700.0, "grocery", &["rice"])
        .await;
    let mut first = Socket::connect(&stack, "store:first").await;
    let mut second = Socket::connect(&stack, "store:second").await;
    let mut customer = Socket::connect(&stack, "customer:c1").await;
    let created = api.order("c1", "2 kg rice").await;
    let id = created.body["order_id"].as_str().expect("id").to_string();
    first.expect("offer", LONG).await;
    assert_eq!(api.accept("first", &id).await.status, 200);
    customer.expect("order_accepted", LONG).await;

    let no_reason = api
        .step("store:first", &id, "store-cancel", Some(json!({"text": " "})))
        .await;
    assert_eq!(
        (no_reason.status, no_reason.body["error"]["field"].as_str()),
        (422, Some("text")),
        "a reason is required: {}",
        no_reason.text
    );
    // A store never offered the order learns nothing of it (404).
    assert_eq!(
        api.step("store:second", &id, "store-cancel", Some(json!({"text": "x"})))
            .await
            .status,
        404
    );
    let back = api
        .step("store:first", &id, "store-cancel", Some(json!({"text": "out of rice"})))
        .await;
    assert_eq!(back.status, 200, "{}", back.text);
    assert_eq!(back.body["status"], "searching");
    first.expect("offer_withdrawn", LONG).await;
    let offer = second.expect("offer", LONG).await;
    assert_eq!(offer["offer"]["round"], 2);
    let searching = customer.expect("order_searching", LONG).await;
    assert!(
        searching["order"].get("store").is_none(),
        "no store while searching again"
    );
    assert_eq!(
        api.accept("first", &id).await.status,
        409,
        "the store that gave it back cannot take it again"
    );
    assert_eq!(api.accept("second", &id).await.status, 200);

    // Store history: newest first, only what the store holds.
    let history = api
        .call("GET", "/stores/second/orders", Some("store:second"), None)
        .await;
    assert_eq!(history.status, 200);
    assert_eq!(history.body["orders"][0]["order_id"], id.as_str());
    let paged = api
        .call(
            "GET",
            &format!("/stores/second/orders?limit=1&before={id}"),
            Some("store:second"),
            None,
        )
        .await;
    assert_eq!(paged.body["orders"].as_array().map(Vec::len), Some(0), "nothing older");
    let first_history = api.call("GET", "/stores/first/orders", Some("store:first"), None).await;
    assert_eq!(first_history.body["orders"].as_array().map(Vec::len), Some(0));
    assert_eq!(
        api.call("GET", "/stores/second/orders", Some("store:first"), None)
            .await
            .status,
        403
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_give_back_asks_again_the_stores_that_lost_the_race() {
    let stack = stack(OrderingConfig {
        stores_per_round: 2,
        ..OrderingConfig::default()
    })
    .await;
    let api = Api::new(&stack);
    api.put_store("quick", "Quick Store", 0.0, 300.0, "grocery", &["rice"])
        .await;
    api.put_store("slow", "Slow Store", 90.0, 500.0, "grocery", &["rice"])
        .await;
    let mut quick = Socket::connect(&stack, "store:quick").await;
    let mut slow = Socket::connect(&stack, "store:slow").await;
    let mut customer = Socket::connect(&stack, "customer:c1").await;
    let id = api.order("c1", "2 kg rice").await.order_id();
    quick.expect("offer", LONG).await;
    slow.expect("offer", LONG).await;
    assert_eq!(api.accept("quick", &id).await.status, 200);
    slow.expect("offer_taken", LONG).await;
    customer.expect("order_accepted", LONG).await;

    // No store beyond the two: the one that lost the race is asked again,
    // rather than the order ending.
    let back = api
        .step("store:quick", &id, "store-cancel", Some(json!({"text": "out of rice"})))
        .await;
    assert_eq!(back.body["status"], "searching", "{}", back.text);
    let again = slow.expect("offer", LONG).await;
    assert_eq!(again["offer"]["round"], 2);
    quick.expect("offer_withdrawn", LONG).await;
    assert_eq!(
        api.accept("quick", &id).await.status,
        409,
        "never the store that gave it back"
    );
    let taken = api.accept("slow", &id).await;
    assert_eq!(taken.status, 200, "{}", taken.text);
    let order = api.get_order("c1", &id).await;
    assert_eq!(order.body["store"]["name"], "Slow Store");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_line_dropped_before_a_give_back_is_not_asked_of_the_next_store() {
    let stack = stack(OrderingConfig {
        stores_per_round: 1,
        ..OrderingConfig::default()
    })
    .await;
    let api = Api::new(&stack);
    api.put_store("first", "First Store", 0.0, 300.0, "grocery", &["rice", "oil"])
        .await;
    api.put_store("next", "Next Store", 90.0, 500.0, "grocery", &["rice", "oil"])
        .await;
    let mut first = Socket::connect(&stack, "store:first").await;
    let mut next = Socket::connect(&stack, "store:next").await;
    let id = api.order("c1", "2 kg rice, 1 l oil").await.order_id();
    let offered = first.expect("offer", LONG).await;
    assert_eq!(offered["offer"]["items"].as_array().map(Vec::len), Some(2));
    assert_eq!(api.accept("first", &id).await.status, 200);
    let dropped = api.step("customer:c1", &id, "drop", Some(json!({"line": 1}))).await;
    assert_eq!(dropped.status, 200, "{}", dropped.text);
    let back = api
        .step(
            "store:first",
            &id,
            "store-cancel",
            Some(json!({"text": "the scale broke"})),
        )
        .await;
    assert_eq!(back.body["status"], "searching", "{}", back.text);

    let again = next.expect("offer", LONG).await;
    let items: Vec<&str> = again["offer"]["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|i| i["tag"].as_str())
        .collect();
    assert_eq!(items, ["rice"], "the oil the customer dropped: {again}");
    assert_eq!(api.accept("next", &id).await.status, 200);
    let won = api.get_order("c1", &id).await;
    assert_eq!(won.body["packing"][1]["state"], "dropped", "{}", won.text);
    assert_eq!(won.body["packing"][0]["state"], "pending", "{}", won.text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivery_chosen_while_searching_is_told_to_the_stores_that_may_still_accept() {
    let stack = stack(OrderingConfig {
        stores_per_round: 3,
        ..OrderingConfig::default()
    })
    .await;
    let api = Api::new(&stack);
    api.put_store("weighing", "Weighing Store", 0.0, 300.0, "grocery", &["rice"])
        .await;
    api.put_store("declined", "Declined Store", 90.0, 500.0, "grocery", &["rice"])
        .await;
    api.put_store("pickup-only", "Pickup Only", 180.0, 400.0, "grocery", &["rice"])
        .await;
    set_delivery_options(&api, "pickup-only", json!([{"kind": "pickup", "ready_in_minutes": 20}])).await;
    let mut weighing = Socket::connect(&stack, "store:weighing").await;
    let mut declined = Socket::connect(&stack, "store:declined").await;
    let mut pickup_only = Socket::connect(&stack, "store:pickup-only").await;
    let id = api.order("c1", "2 kg rice").await.order_id();
    let first = weighing.expect("offer", LONG).await;
    assert!(first["offer"].get("delivery").is_none(), "{first}");
    declined.expect("offer", LONG).await;
    pickup_only.expect("offer", LONG).await;
    assert_eq!(api.step("store:declined", &id, "decline", None).await.status, 200);

    let chosen = api
        .step("customer:c1", &id, "delivery", Some(json!({"kind": "helper_delivery"})))
        .await;
    assert_eq!(chosen.status, 200, "{}", chosen.text);
    let again = weighing.expect("offer", LONG).await;
    assert_eq!(again["offer"]["delivery"], "helper_delivery", "{again}");
    assert!(
        again["offer"]["version"].as_u64() > first["offer"]["version"].as_u64(),
        "{first} then {again}"
    );
    declined.expect_silence(common::SHORT).await;
    pickup_only.expect_silence(common::SHORT).await;
    // The same kind again, now with a slot: nothing a store weighs changed.
    let from_ms = shared::domain::clock::SystemClock.now_ms() + 3_600_000;
    let slot = json!({"kind": "helper_delivery", "slot": {"from_ms": from_ms, "to_ms": from_ms + 3_600_000}});
    let slotted = api.step("customer:c1", &id, "delivery", Some(slot)).await;
    assert_eq!(slotted.status, 200, "{}", slotted.text);
    weighing.expect_silence(common::SHORT).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_customer_sees_what_the_winner_offers_and_a_kind_it_does_not_is_refused_by_name() {
    let stack = stack(OrderingConfig::default()).await;
    let api = Api::new(&stack);
    api.put_store("pickup-only", "Pickup Only", 0.0, 200.0, "grocery", &["rice"])
        .await;
    set_delivery_options(&api, "pickup-only", json!([{"kind": "pickup", "ready_in_minutes": 20}])).await;
    let mut store = Socket::connect(&stack, "store:pickup-only").await;
    let id = api.order("c1", "2 kg rice").await.order_id();
    let searching = api.get_order("c1", &id).await;
    assert_eq!(
        searching.body["delivery_options"].as_array().map(Vec::len),
        Some(2),
        "the defaults while searching: {}",
        searching.text
    );
    store.expect("offer", LONG).await;
    assert_eq!(api.accept("pickup-only", &id).await.status, 200);
    let won = api.get_order("c1", &id).await;
    assert!(
        won.body["store"]["location"]["lat"].is_f64(),
        "where to pick it up, with the name: {}",
        won.text
    );
    assert_eq!(
        won.body["delivery_options"],
        json!([{"kind": "pickup", "ready_in_minutes": 20}]),
        "{}",
        won.text
    );
    let helper = api
        .step("customer:c1", &id, "delivery", Some(json!({"kind": "helper_delivery"})))
        .await;
    assert_eq!(
        (
            helper.status,
            helper.body["error"]["code"].as_str(),
            helper.body["error"]["field"].as_str()
        ),
        (422, Some("unknown_delivery"), Some("kind")),
        "{}",
        helper.text
    );
    let packed = api
        .step(
            "store:pickup-only",
            &id,
            "pack",
            Some(json!({"line": 0, "outcome": "packed", "price": 13_000})),
        )
        .await;
    assert_eq!(packed.status, 200, "{}", packed.text);
    let early = api.step("store:pickup-only", &id, "handover", None).await;
    assert_eq!(early.status, 422, "{}", early.text);
    assert!(early.text.contains("pickup or delivery"), "{}", early.text);
    let pickup = api
        .step("customer:c1", &id, "delivery", Some(json!({"kind": "pickup"})))
        .await;
    assert_eq!(pickup.status, 200, "{}", pickup.text);
    assert_eq!(api.step("store:pickup-only", &id, "handover", None).await.status, 200);
    let handed = api.get_order("c1", &id).await;
    assert!(
        handed.body.get("delivery_options").is_none(),
        "chosen for good: {}",
        handed.text
    );
}

async fn set_delivery_options(api: &Api, store: &str, options: Value) {
    let patched = api
        .call(
            "PATCH",
            &format!("/stores/{store}"),
            Some(&format!("store:{store}")),
            Some(json!({ "delivery_options": options }).to_string()),
        )
        .await;
    assert_eq!(patched.status, 200, "{}", patched.text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivery_chosen_with_the_order_keeps_to_stores_offering_it_at_the_winners_fee() {
    let stack = stack(OrderingConfig::default()).await;
    let api = Api::new(&stack);
    api.put_store("pickup-only", "Pickup Only", 0.0, 200.0, "grocery", &["rice"])
        .await;
    set_delivery_options(&api, "pickup-only", json!([{"kind": "pickup", "ready_in_minutes": 20}])).await;
    api.put_store("helper", "Helper Store", 90.0, 600.0, "grocery", &["rice"])
        .await;
    set_delivery_options(
        &api,
        "helper",
        json!([
            {"kind": "pickup", "ready_in_minutes": 30},
            {"kind": "helper_delivery", "within_minutes": 45, "fee_paisa": 2_500}
        ]),
    )
    .await;
    let mut pickup_only = Socket::connect(&stack, "store:pickup-only").await;
    let mut helper = Socket::connect(&stack, "store:helper").await;
    let order_with = |delivery: Value| {
        json!({
            "text": "2 kg rice",
            "location": {"lat": common::customer_point().lat(), "lng": common::customer_point().lng()},
            "delivery": delivery,
        })
        .to_string()
    };

    // Refused before anything is written or any store alerted.
    let past_slot = api
        .call(
            "POST",
            "/orders",
            Some("customer:c1"),
            Some(order_with(
                json!({"kind": "helper_delivery", "slot": {"from_ms": 1, "to_ms": 2}}),
            )),
        )
        .await;
    assert_eq!(
        (
            past_slot.status,
            past_slot.body["error"]["code"].as_str(),
            past_slot.body["error"]["field"].as_str()
        ),
        (422, Some("invalid_step"), Some("delivery.slot")),
        "{}",
        past_slot.text
    );
    let unknown = api
        .call(
            "POST",
            "/orders",
            Some("customer:c1"),
            Some(order_with(json!({"kind": "drone"}))),
        )
        .await;
    assert_eq!(
        (unknown.status, unknown.body["error"]["code"].as_str()),
        (400, Some("invalid_body"))
    );
    let wallet = api
        .call(
            "POST",
            "/orders",
            Some("customer:c1"),
            Some(order_with(json!({"kind": "pickup"})).replace(r#""text""#, r#""payment":"mobile_wallet","text""#)),
        )
        .await;
    assert_eq!(
        (
            wallet.status,
            wallet.body["error"]["code"].as_str(),
            wallet.body["error"]["field"].as_str()
        ),
        (422, Some("unsupported_payment"), Some("payment")),
        "{}",
        wallet.text
    );
    let history = api.call("GET", "/customers/me/orders", Some("customer:c1"), None).await;
    assert_eq!(
        history.body["orders"].as_array().map(Vec::len),
        Some(0),
        "{}",
        history.text
    );

    let created = api
        .call(
            "POST",
            "/orders",
            Some("customer:c1"),
            Some(order_with(json!({"kind": "helper_delivery"}))),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    assert_eq!(
        created.body["delivery"]["option"]["fee_paisa"], 4_000,
        "the defaults' terms until a store wins"
    );
    let id = created.body["order_id"].as_str().expect("id").to_string();
    let offer = helper.expect("offer", LONG).await;
    assert_eq!(
        offer["offer"]["delivery"], "helper_delivery",
        "the store knows before it accepts that it must deliver: {offer}"
    );
    pickup_only.expect_silence(common::SHORT).await;

    assert_eq!(api.accept("helper", &id).await.status, 200);
    let won = api.get_order("c1", &id).await;
    assert_eq!(
        won.body["delivery"]["option"],
        json!({"kind": "helper_delivery", "within_minutes": 45, "fee_paisa": 2_500}),
        "the winner's own terms: {}",
        won.text
    );
    let packed = api
        .step(
            "store:helper",
            &id,
            "pack",
            Some(json!({"line": 0, "outcome": "packed", "price": 13_000})),
        )
        .await;
    assert_eq!(packed.status, 200, "{}", packed.text);
    assert_eq!(api.step("store:helper", &id, "handover", None).await.status, 200);
    let done = api.step("customer:c1", &id, "complete", None).await;
    assert_eq!(done.status, 200, "{}", done.text);
    assert_eq!(done.body["bill"]["delivery_fee"], 2_500);
    assert_eq!(done.body["bill"]["total"], 15_500);
    assert_eq!(
        done.body["bill"]["settlement"],
        json!({"method": "cash_on_delivery", "state": "cash_collected", "amount": 15_500,
               "at_ms": done.body["bill"]["settlement"]["at_ms"]}),
        "{}",
        done.text
    );
}
