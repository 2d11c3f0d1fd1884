//! Offers from stores (promotions): a store offers an item at a price to
//! opted-in customers nearby who bought it before, and learns only how
//! many; customers see it live and in a list, and can turn it into an
//! order that store is alerted to first. Opted-out, far-away and other
//! buyers receive nothing; the daily limits hold under concurrent sends.

use crate::common;

use std::sync::Arc;

use common::{Api, CUSTOMER_LAT, CUSTOMER_LNG, LONG, SHORT, Socket, customer_point, stack, stack_with};
use local_stack::LocalOptions;
use serde_json::{Value, json};
use shared::domain::clock::{Clock, ManualClock, SystemClock};
use shared::domain::config::OrderingConfig;
use shared::domain::demand::demand_from_lines;
use shared::domain::ids::CustomerId;
use shared::domain::order::money::Paisa;
use shared::domain::promotion::{
    BuyerKey, PROMOTIONS_PER_CUSTOMER, PROMOTIONS_PER_STORE, Promotion, PromotionInput, ReceivedPromotion,
    purchase_entries,
};
use shared::domain::store::Store;
use shared::ports::Storage;
use tokio::sync::Barrier;

const HOUR_MS: i64 = 3_600_000;

/// Where customers far from the test's shops buy: 6 km east.
fn far_point() -> (f64, f64) {
    let far = customer_point().offset(90.0, 6_000.0);
    (far.lat(), far.lng())
}

fn here() -> (f64, f64) {
    (CUSTOMER_LAT, CUSTOMER_LNG)
}

/// `customer` orders `text` at `at`, `store` (online, the only one near)
/// wins and packs it, and the customer picks it up: a completed purchase.
async fn buy(api: &Api, customer: &str, store: &str, at: (f64, f64), text: &str) {
    let who = format!("customer:{customer}");
    let shop = format!("store:{store}");
    let body = json!({ "text": text, "location": { "lat": at.0, "lng": at.1 } });
    let created = api.call("POST", "/orders", Some(&who), Some(body.to_string())).await;
    assert_eq!(created.status, 201, "{}", created.text);
    let id = created.body["order_id"].as_str().expect("id").to_string();
    assert_eq!(api.accept(store, &id).await.status, 200);
    let packed = api
        .step(
            &shop,
            &id,
            "pack",
            Some(json!({"line": 0, "outcome": "packed", "price": 9_000})),
        )
        .await;
    assert_eq!(packed.status, 200, "{}", packed.text);
    let chose = api.step(&who, &id, "delivery", Some(json!({"kind": "pickup"}))).await;
    assert_eq!(chose.status, 200, "{}", chose.text);
    assert_eq!(api.step(&shop, &id, "handover", None).await.status, 200);
    let done = api.step(&who, &id, "complete", None).await;
    assert_eq!(done.body["status"], "completed", "{}", done.text);
}

async fn consent(api: &Api, customer: &str, opted_in: bool) {
    let reply = api
        .call(
            "PUT",
            "/customers/me/promotions/consent",
            Some(&format!("customer:{customer}")),
            Some(json!({ "opted_in": opted_in }).to_string()),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.body["opted_in"], opted_in);
}

async fn send(api: &Api, store: &str, body: Value) -> common::Reply {
    api.call(
        "POST",
        &format!("/stores/{store}/promotions"),
        Some(&format!("store:{store}")),
        Some(body.to_string()),
    )
    .await
}

fn rice_at(price: u64, valid_until_ms: i64) -> Value {
    json!({ "item": { "name": "rice", "amount": "5", "unit": "kg" }, "price": price, "valid_until_ms": valid_until_ms })
}

async fn list(api: &Api, customer: &str) -> Value {
    let reply = api
        .call(
            "GET",
            "/customers/me/promotions",
            Some(&format!("customer:{customer}")),
            None,
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    reply.body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_offer_reaches_only_opted_in_buyers_nearby_and_the_store_learns_only_a_count() {
    let stack = stack(OrderingConfig::default()).await;
    let api = Api::new(&stack);
    api.put_store("shop", "Rahim Store", 0.0, 300.0, "grocery", &["rice", "lentils"])
        .await;
    // 200 m from where the far customer buys, 6 km from everyone else.
    api.put_store("farshop", "Far Store", 90.0, 6_200.0, "grocery", &["rice"])
        .await;
    let _shop_socket = Socket::connect(&stack, "store:shop").await;
    let _far_socket = Socket::connect(&stack, "store:farshop").await;

    // Opted in before buying: a rice buyer far away, a buyer of lentils
    // only, and one who opts out again after buying rice.
    for customer in ["far", "dal", "quitter"] {
        consent(&api, customer, true).await;
    }
    buy(&api, "far", "farshop", far_point(), "2 kg rice").await;
    buy(&api, "dal", "shop", here(), "1 kg lentils").await;
    buy(&api, "quitter", "shop", here(), "2 kg rice").await;
    consent(&api, "quitter", false).await;
    // Never opted in.
    buy(&api, "shy", "shop", here(), "2 kg rice").await;
    // Bought rice first, opted in afterwards: the past purchase counts.
    buy(&api, "buyer", "shop", here(), "2 kg rice").await;
    consent(&api, "buyer", true).await;

    let mut buyer = Socket::connect(&stack, "customer:buyer").await;
    let mut others = Vec::new();
    for customer in ["far", "dal", "quitter", "shy"] {
        others.push(Socket::connect(&stack, &format!("customer:{customer}")).await);
    }

    let valid_until = SystemClock.now_ms() + HOUR_MS;
    let sent = send(&api, "shop", rice_at(42_000, valid_until)).await;
    assert_eq!(sent.status, 201, "{}", sent.text);
    // Only a count reaches the store: no customer id, phone or position.
    let fields: Vec<&String> = sent.body.as_object().expect("object").keys().collect();
    assert_eq!(fields, ["promotion_id", "recipients", "valid_until_ms"]);
    assert_eq!(sent.body["recipients"], 1);
    for secret in ["buyer", "+880", &format!("{CUSTOMER_LAT}"), "lat", "lng"] {
        assert!(!sent.text.contains(secret), "{secret} in {}", sent.text);
    }

    // The buyer sees it live, without the shop's name, id or place.
    let live = buyer.expect("promotion_received", LONG).await;
    let promotion = &live["promotion"];
    assert_eq!(promotion["promotion_id"], sent.body["promotion_id"]);
    assert_eq!(promotion["item"]["tag"], "rice");
    assert_eq!(promotion["price"], 42_000);
    assert_eq!(promotion["valid_until_ms"], valid_until);
    assert_eq!(promotion["distance_m"], 300);
    assert_eq!(promotion["from"], "a shop about 300 m away");
    let frame = live.to_string();
    assert!(
        !frame.contains("shop\"") && !frame.contains("Rahim") && !frame.contains("\"lat\""),
        "{frame}"
    );
    // ...and in the list.
    let listed = list(&api, "buyer").await;
    assert_eq!(listed["opted_in"], true);
    assert_eq!(listed["promotions"].as_array().map(Vec::len), Some(1));
    assert_eq!(listed["promotions"][0]["promotion_id"], sent.body["promotion_id"]);

    // Far away, another item, opted out, never opted in: nothing.
    for socket in &mut others {
        socket.expect_silence(SHORT).await;
    }
    for customer in ["far", "dal", "quitter", "shy"] {
        let listed = list(&api, customer).await;
        assert_eq!(listed["promotions"], json!([]), "{customer}");
    }
    assert_eq!(list(&api, "quitter").await["opted_in"], false);
    assert_eq!(list(&api, "shy").await["opted_in"], false);

    // Opting out stops them at once, for good: the next send finds nobody
    // and the list is empty, even after opting in again.
    consent(&api, "buyer", false).await;
    let again = send(&api, "shop", rice_at(41_000, valid_until)).await;
    assert_eq!(again.body["recipients"], 0, "{}", again.text);
    assert_eq!(list(&api, "buyer").await["promotions"], json!([]));
    buyer.expect_silence(SHORT).await;
    consent(&api, "buyer", true).await;
    assert_eq!(list(&api, "buyer").await["promotions"], json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_offer_becomes_an_order_its_store_is_alerted_to_first_and_an_expired_one_is_refused() {
    let clock = Arc::new(ManualClock::at(SystemClock.now_ms()));
    let stack = stack_with(LocalOptions {
        ordering: OrderingConfig {
            stores_per_round: 1,
            ..OrderingConfig::default()
        },
        clock: clock.clone(),
        ..LocalOptions::default()
    })
    .await;
    let api = Api::new(&stack);
    // The rival is nearer: an ordinary order goes to it first.
    api.put_store("shop", "Rahim Store", 0.0, 500.0, "grocery", &["rice"])
        .await;
    api.put_store("rival", "Rival Store", 180.0, 200.0, "grocery", &["rice"])
        .await;
    let mut shop = Socket::connect(&stack, "store:shop").await;
    let mut rival = Socket::connect(&stack, "store:rival").await;
    consent(&api, "c1", true).await;
    buy(&api, "c1", "rival", here(), "2 kg rice").await;
    let mut customer = Socket::connect(&stack, "customer:c1").await;

    let sent = send(&api, "shop", rice_at(40_000, clock.now_ms() + HOUR_MS)).await;
    assert_eq!(sent.body["recipients"], 1, "{}", sent.text);
    let id = sent.body["promotion_id"].as_str().expect("id").to_string();
    customer.expect("promotion_received", LONG).await;
    while shop.next(SHORT).await.is_some() {}
    while rival.next(SHORT).await.is_some() {}

    let body = json!({ "location": { "lat": CUSTOMER_LAT, "lng": CUSTOMER_LNG }, "payment": "cash_on_delivery" });
    let ordered = api
        .call(
            "POST",
            &format!("/customers/me/promotions/{id}/order"),
            Some("customer:c1"),
            Some(body.to_string()),
        )
        .await;
    assert_eq!(ordered.status, 201, "{}", ordered.text);
    assert_eq!(ordered.body["stores_notified"], 1);
    assert_eq!(ordered.body["items"][0]["tag"], "rice");
    assert_eq!(ordered.body["items"][0]["quantity"]["amount"], "5");
    assert!(
        ordered.body.get("store").is_none(),
        "no store is named before acceptance"
    );
    let order_id = ordered.body["order_id"].as_str().expect("order").to_string();
    // The promoting store alone is alerted in round 1, and can win it.
    let offer = shop.expect("offer", LONG).await;
    assert_eq!(offer["order_id"], order_id.as_str());
    assert_eq!(
        offer["offer"]["promised_price"], 40_000,
        "the store is reminded of its price: {offer}"
    );
    rival.expect_silence(SHORT).await;
    assert_eq!(api.accept("shop", &order_id).await.status, 200);
    let accepted = customer.expect("order_accepted", LONG).await;
    assert_eq!(accepted["store"]["name"], "Rahim Store");

    // The promised price bounds what the store charges for the item.
    let pack_path = format!("/orders/{order_id}/pack");
    let pack = |price: u64| {
        api.call(
            "POST",
            &pack_path,
            Some("store:shop"),
            Some(json!({"line": 0, "outcome": "packed", "price": price}).to_string()),
        )
    };
    let dearer = pack(45_000).await;
    assert_eq!(
        (
            dearer.status,
            dearer.body["error"]["code"].as_str(),
            dearer.body["error"]["field"].as_str()
        ),
        (422, Some("invalid_step"), Some("price")),
        "{}",
        dearer.text
    );
    let packed = pack(38_000).await;
    assert_eq!(packed.status, 200, "{}", packed.text);
    assert_eq!(packed.body["packing"][0]["promised_price"], 40_000, "{}", packed.text);
    let seen = api
        .call("GET", &format!("/orders/{order_id}"), Some("customer:c1"), None)
        .await;
    assert_eq!(seen.body["packing"][0]["promised_price"], 40_000, "{}", seen.text);

    // An offer past its time is refused with its own code.
    let short = send(&api, "shop", rice_at(39_000, clock.now_ms() + 60_000)).await;
    assert_eq!(short.body["recipients"], 1, "{}", short.text);
    let short_id = short.body["promotion_id"].as_str().expect("id").to_string();
    clock.advance_ms(60_001);
    let late = api
        .call(
            "POST",
            &format!("/customers/me/promotions/{short_id}/order"),
            Some("customer:c1"),
            Some(body.to_string()),
        )
        .await;
    assert_eq!(
        (late.status, late.body["error"]["code"].as_str()),
        (410, Some("promotion_expired")),
        "{}",
        late.text
    );
    // Expired offers leave the list; the first (valid an hour) stays.
    let listed = list(&api, "c1").await;
    let ids: Vec<&str> = listed["promotions"]
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|p| p["promotion_id"].as_str())
        .collect();
    assert_eq!(ids, [id.as_str()]);
    // Another customer cannot order from it.
    let stranger = api
        .call(
            "POST",
            &format!("/customers/me/promotions/{id}/order"),
            Some("customer:c2"),
            Some(body.to_string()),
        )
        .await;
    assert_eq!(stranger.status, 404, "{}", stranger.text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn daily_limits_per_store_and_per_customer_hold_under_concurrent_sends() {
    let stack = stack(OrderingConfig::default()).await;
    let api = Arc::new(Api::new(&stack));
    api.put_store("a", "A", 0.0, 300.0, "grocery", &["rice"]).await;
    api.put_store("b", "B", 90.0, 300.0, "grocery", &["rice"]).await;
    let _a = Socket::connect(&stack, "store:a").await;
    let _b = Socket::connect(&stack, "store:b").await;
    consent(&api, "c1", true).await;
    buy(&api, "c1", "a", here(), "2 kg rice").await;

    let valid_until = SystemClock.now_ms() + HOUR_MS;
    let attempts = PROMOTIONS_PER_STORE.max as usize + 2;
    let barrier = Arc::new(Barrier::new(attempts));
    let sends: Vec<_> = (0..attempts)
        .map(|_| {
            let (api, barrier) = (Arc::clone(&api), Arc::clone(&barrier));
            tokio::spawn(async move {
                barrier.wait().await;
                send(&api, "a", rice_at(40_000, valid_until)).await
            })
        })
        .collect();
    let mut sent = Vec::new();
    let mut limited = 0;
    for one in sends {
        let reply = one.await.expect("ran");
        match reply.status {
            201 => sent.push(reply.body["recipients"].as_u64().expect("count")),
            429 => {
                assert_eq!(reply.body["error"]["code"], "rate_limited");
                limited += 1;
            }
            other => panic!("unexpected {other}: {}", reply.text),
        }
    }
    assert_eq!(sent.len(), PROMOTIONS_PER_STORE.max as usize, "per store per day");
    assert_eq!(limited, 2);
    // The customer received as many as a day allows, however many were sent.
    assert_eq!(sent.iter().sum::<u64>(), u64::from(PROMOTIONS_PER_CUSTOMER.max));
    // Another store reaches nobody more today: skipped, not counted.
    let other = send(&api, "b", rice_at(38_000, valid_until)).await;
    assert_eq!((other.status, other.body["recipients"].as_u64()), (201, Some(0)));
    let listed = list(&api, "c1").await;
    assert_eq!(
        listed["promotions"].as_array().map(Vec::len),
        Some(PROMOTIONS_PER_CUSTOMER.max as usize)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_offers_are_refused_naming_the_field() {
    let stack = stack(OrderingConfig::default()).await;
    let api = Api::new(&stack);
    api.put_store("a", "A", 0.0, 300.0, "grocery", &["rice"]).await;
    let now = SystemClock.now_ms();
    let cases = [
        (rice_at(0, now + HOUR_MS), 422, "invalid_price", "price"),
        (rice_at(100, now - 1), 422, "invalid_valid_until", "valid_until_ms"),
        (
            rice_at(100, now + 8 * 24 * HOUR_MS),
            422,
            "invalid_valid_until",
            "valid_until_ms",
        ),
        (
            json!({ "item": { "name": "" }, "price": 100, "valid_until_ms": now + HOUR_MS }),
            422,
            "missing_item_name",
            "item.name",
        ),
        (
            json!({ "item": { "name": "rice", "amount": "20000", "unit": "kg" }, "price": 100, "valid_until_ms": now + HOUR_MS }),
            422,
            "amount_out_of_range",
            "item.amount",
        ),
        (
            json!({ "item": { "name": "rice" }, "price": "cheap", "valid_until_ms": now + HOUR_MS }),
            400,
            "invalid_body",
            "price",
        ),
        (
            json!({ "item": { "name": "rice" }, "valid_until_ms": now + HOUR_MS }),
            400,
            "invalid_body",
            "price",
        ),
    ];
    for (body, status, code, field) in cases {
        let reply = send(&api, "a", body.clone()).await;
        assert_eq!(
            (
                reply.status,
                reply.body["error"]["code"].as_str(),
                reply.body["error"]["field"].as_str()
            ),
            (status, Some(code), Some(field)),
            "{body}: {}",
            reply.text
        );
    }
    // Only the store itself sends its offers.
    let other = api
        .call(
            "POST",
            "/stores/a/promotions",
            Some("store:b"),
            Some(rice_at(100, now + HOUR_MS).to_string()),
        )
        .await;
    assert_eq!(other.status, 403, "{}", other.text);
    let consent = api
        .call(
            "PUT",
            "/customers/me/promotions/consent",
            Some("customer:c1"),
            Some(json!({ "opted_in": "yes" }).to_string()),
        )
        .await;
    assert_eq!(
        (consent.status, consent.body["error"]["field"].as_str()),
        (400, Some("opted_in"))
    );
    let unknown = api
        .call(
            "POST",
            "/customers/me/promotions/01KAW000000000000000000000/order",
            Some("customer:c1"),
            Some(json!({ "location": { "lat": CUSTOMER_LAT, "lng": CUSTOMER_LNG } }).to_string()),
        )
        .await;
    assert_eq!(unknown.status, 404, "{}", unknown.text);
}

/// The promotion port's contract, for both adapters: consent by version
/// with the index written and removed in the same write, delivery only
/// while opted in, lists by validity.
async fn promotion_contract<S: Storage>(storage: &S) {
    let unique = ulid::Ulid::new().to_string().to_lowercase();
    let customer = CustomerId::new(format!("c-{unique}")).expect("id");
    let never = CustomerId::new(format!("n-{unique}")).expect("id");
    let tags = ["rice".to_string(), "lentils".to_string()];
    let entries = purchase_entries(&customer, customer_point(), &tags);
    let keys: Vec<BuyerKey> = entries.iter().map(|e| e.key.clone()).collect();

    let empty = storage.promotion_consent(&customer).await.expect("read");
    assert_eq!((empty.version, empty.value.opted_in), (0, false));
    let (opted_in, add) = empty.value.opt_in(entries.clone(), 1_000);
    // Two writers at one version: exactly one wins.
    let (first, second) = tokio::join!(
        storage.replace_promotion_consent(&customer, 0, &opted_in, &add, &[]),
        storage.replace_promotion_consent(&customer, 0, &opted_in, &add, &[])
    );
    assert!(
        first.expect("write") ^ second.expect("write"),
        "one of two racing writes"
    );
    let stored = storage.promotion_consent(&customer).await.expect("read");
    assert_eq!((stored.version, stored.value.clone()), (1, opted_in));
    let mut found = storage.buyers(&keys).await.expect("buyers");
    found.sort_by(|a, b| a.key.cmp(&b.key));
    let mut expected = entries.clone();
    expected.sort_by(|a, b| a.key.cmp(&b.key));
    assert_eq!(found.len(), 2);
    for (got, want) in found.iter().zip(&expected) {
        assert_eq!((&got.key, &got.customer), (&want.key, &want.customer));
        assert!(got.location.distance_m(want.location) < 0.01);
    }

    let store: Store = serde_json::from_value(json!({
        "id": "shop", "name": "Shop", "location": { "lat": CUSTOMER_LAT, "lng": CUSTOMER_LNG },
        "category": "grocery", "tags": ["rice"], "open": true, "delivery_options": [], "updated_at_ms": 0
    }))
    .expect("store");
    let rice = demand_from_lines(&[serde_json::from_value(json!({ "name": "rice" })).expect("line")])
        .expect("rice")
        .remove(0);
    let promotion = |valid_until_ms| {
        let input = PromotionInput {
            item: rice.clone(),
            price: Paisa(9_000),
            valid_until_ms,
        };
        ReceivedPromotion {
            promotion: Promotion::new(&store, input, 1_000).expect("valid"),
            distance_m: 250,
        }
    };
    let lasting = promotion(100_000);
    let brief = promotion(5_000);
    assert!(storage.deliver_promotion(&customer, &brief).await.expect("deliver"));
    assert!(storage.deliver_promotion(&customer, &lasting).await.expect("deliver"));
    assert!(
        !storage.deliver_promotion(&never, &lasting).await.expect("deliver"),
        "never opted in"
    );
    assert!(
        storage
            .received_promotions(&never, 1_000)
            .await
            .expect("list")
            .is_empty()
    );
    let listed = storage.received_promotions(&customer, 1_000).await.expect("list");
    // Newest first, by id (ULIDs: by millisecond; two sent in one
    // millisecond come in either order, by their random part).
    let mut expected = vec![lasting.clone(), brief.clone()];
    expected.sort_by(|a, b| b.promotion.id.cmp(&a.promotion.id));
    assert_eq!(listed, expected, "newest first");
    let listed = storage.received_promotions(&customer, 5_000).await.expect("list");
    assert_eq!(listed, vec![lasting.clone()], "lapsed ones are left out");
    let one = storage
        .received_promotion(&customer, &brief.promotion.id)
        .await
        .expect("read");
    assert_eq!(one, Some(brief.clone()), "a lapsed one is still read by id");

    // Opting out removes every entry in the same write; delivery stops.
    let (out, remove) = stored.value.opt_out(2_000);
    assert!(
        storage
            .replace_promotion_consent(&customer, 1, &out, &[], &remove)
            .await
            .expect("write")
    );
    assert!(storage.buyers(&keys).await.expect("buyers").is_empty());
    assert!(
        !storage
            .deliver_promotion(&customer, &promotion(100_000))
            .await
            .expect("deliver")
    );
}

#[tokio::test]
async fn embedded_storage_meets_the_promotion_contract() {
    promotion_contract(&shared::embedded::MemoryStorage::default()).await;
}

#[cfg(feature = "endpoint-tests")]
#[tokio::test]
async fn dynamodb_storage_meets_the_promotion_contract() {
    assert!(
        std::env::var_os("AWS_ENDPOINT_URL").is_some(),
        "the endpoint contract needs AWS_ENDPOINT_URL: run tests/run-all.sh, which starts moto"
    );
    let sdk = shared::aws::sdk_config().await;
    let client = aws_sdk_dynamodb::Client::new(&sdk);
    let table = format!("promotions-{}", ulid::Ulid::new().to_string().to_lowercase());
    shared::aws::ensure_table(&client, &table).await.expect("table created");
    promotion_contract(&shared::aws::DynamoStorage::new(client, table)).await;
}
