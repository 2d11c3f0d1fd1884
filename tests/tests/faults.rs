//! The order path through a fault-injecting proxy between the stack's AWS
//! SDK and moto (`loadgen::proxy`, docs/faults.md): throttling, 500s, slow
//! answers past the SDK's attempt timeout, connection resets, and calls
//! that acted but whose answer was lost. Clients retry as a mobile app
//! does (the same `Idempotency-Key`, after a 503 or a 409 `in_progress`).
//! Nothing may be doubled or lost: one order per placement, one winner
//! per race, the virtual home counts an order once, and every answer is a
//! success, a refusal the API documents, or a 503 `unavailable` — never a
//! 500.
//!
//! Endpoint backend only (`E2E_BACKEND=endpoint`, `--features
//! endpoint-tests`). Seeds: `FAULT_SEEDS=1,2,3` (default), each printed;
//! `FAULT_RATE_SCALE=2` doubles every rate.

use crate::common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use common::{Api, Socket};
use futures_util::StreamExt;
use loadgen::proxy::{Fault, Faults, Injected, Proxy, Scripted};
use local_stack::{Backend, LocalOptions, RunningStack};
use serde_json::{Value, json};
use shared::aws::Timeouts;
use shared::domain::config::OrderingConfig;
use tokio::sync::Barrier;

/// Held past the functions' attempt timeout (2 s), so the SDK gives up
/// first and retries.
const SLOW: Duration = Duration::from_millis(2_300);

/// The random mix: rates per call of every DynamoDB and SQS operation,
/// times `FAULT_RATE_SCALE` (default 1; 18% of calls are then broken).
fn mix(seed: u64) -> Faults {
    let scale: f64 = std::env::var("FAULT_RATE_SCALE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1.0);
    Faults {
        seed,
        rates: [
            (Fault::Throttle, 0.06),
            (Fault::ServerError, 0.03),
            (Fault::Reset, 0.03),
            (Fault::LostAnswer, 0.05),
            (Fault::Slow, 0.01),
        ]
        .into_iter()
        .map(|(fault, rate)| (fault, rate * scale))
        .collect(),
        scripted: Vec::new(),
        slow: SLOW,
        operations: vec!["dynamodb.".into(), "sqs.".into()],
    }
}

fn seeds() -> Vec<u64> {
    std::env::var("FAULT_SEEDS")
        .ok()
        .map(|s| s.split(',').filter_map(|n| n.trim().parse().ok()).collect())
        .filter(|s: &Vec<u64>| !s.is_empty())
        .unwrap_or_else(|| vec![1, 2, 3])
}

/// A stack whose adapters call moto through a new proxy (faults off),
/// with the functions' SDK timeouts.
async fn faulty_stack(ordering: OrderingConfig) -> Option<(RunningStack, Arc<Proxy>)> {
    if !matches!(common::backend(), Backend::Endpoint { .. }) {
        eprintln!("faults: endpoint backend only (E2E_BACKEND=endpoint); skipped");
        return None;
    }
    let upstream = std::env::var("AWS_ENDPOINT_URL").expect("AWS_ENDPOINT_URL");
    let proxy = loadgen::proxy::start(std::net::SocketAddr::from(([127, 0, 0, 1], 0)), &upstream)
        .await
        .expect("proxy starts");
    let stack = common::stack_with(LocalOptions {
        ordering,
        aws_endpoint: Some(proxy.url()),
        aws_timeouts: Timeouts::LAMBDA,
        ..LocalOptions::default()
    })
    .await;
    Some((stack, proxy))
}

/// Injected faults by kind, for the log.
fn by_kind(injected: &[Injected]) -> BTreeMap<&'static str, usize> {
    let mut kinds = BTreeMap::new();
    for fault in injected {
        *kinds.entry(fault.fault.name()).or_default() += 1;
    }
    kinds
}

/// What a retrying client saw.
#[derive(Debug, Default)]
struct Seen {
    /// Answers that made the client try again, by status and code.
    retried: BTreeMap<String, usize>,
}

/// One user action: sent with `key` until it is answered with anything but
/// a 503 `unavailable` or a 409 `in_progress` (waiting between tries as
/// `Retry-After` says), at most 12 times. Every answer is checked against the
/// OpenAPI document; a 500 fails the test.
async fn act(
    api: &Api,
    seen: &mut Seen,
    caller: &str,
    method: &str,
    path: &str,
    key: &str,
    body: Option<Value>,
) -> common::Reply {
    let mut last = None;
    for _ in 0..12 {
        let mut request = api
            .http
            .request(
                reqwest::Method::from_bytes(method.as_bytes()).expect("method"),
                format!("{}{path}", api.base),
            )
            .bearer_auth(common::token_for(&api.issuer(), caller))
            .header("idempotency-key", key);
        if let Some(body) = &body {
            request = request
                .header("content-type", "application/json")
                .body(body.to_string());
        }
        let response = request.send().await.expect("the gateway answers");
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let text = response.text().await.expect("body read");
        api.check(method, path, status, &content_type, &text).await;
        let reply = common::Reply {
            status,
            body: serde_json::from_str(&text).unwrap_or(Value::Null),
            text,
        };
        assert!(
            status != 500 && status != 502,
            "{method} {path} answered {status}: {}",
            reply.text
        );
        let code = reply.body["error"]["code"].as_str().unwrap_or_default().to_string();
        let again = matches!((status, code.as_str()), (503, "unavailable") | (409, "in_progress"));
        if !again {
            return reply;
        }
        assert!(!reply.text.contains("Exception"), "an internal detail: {}", reply.text);
        *seen.retried.entry(format!("{status} {code}")).or_default() += 1;
        // As an app would: after `Retry-After` when given (a key whose
        // first request failed and could not be released is held for its
        // 30-second lease), else shortly.
        let wait = retry_after.map_or(Duration::from_millis(200), Duration::from_secs);
        tokio::time::sleep(wait.min(Duration::from_secs(31))).await;
        last = Some(reply);
    }
    panic!(
        "{method} {path} never settled after 12 tries: {last:?}; retried {:?}",
        seen.retried
    );
}

fn order_body(text: &str) -> Value {
    json!({"text": text, "location": {"lat": common::CUSTOMER_LAT, "lng": common::CUSTOMER_LNG}})
}

/// Keeps a store's socket open (so it is matched) and counts its frames.
fn drain(socket: Socket) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut stream = socket.stream;
        while let Some(Ok(_)) = stream.next().await {}
    })
}

/// The order ids the customer's own list shows (faults off).
async fn listed_orders(api: &Api, customer: &str) -> Vec<String> {
    let list = api
        .call(
            "GET",
            "/customers/me/orders?limit=50",
            Some(&format!("customer:{customer}")),
            None,
        )
        .await;
    assert_eq!(list.status, 200, "{}", list.text);
    list.body["orders"]
        .as_array()
        .expect("orders")
        .iter()
        .map(|o| o["order_id"].as_str().expect("id").to_string())
        .collect()
}

/// A whole journey under each seed's faults: placed (and placed again
/// with the same key), offered, accepted, packed, handed over, completed;
/// then one order, its winner, and the home holding its goods once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_journey_under_random_faults_keeps_every_promise() {
    for seed in seeds() {
        let Some((stack, proxy)) = faulty_stack(OrderingConfig::default()).await else {
            return;
        };
        let api = Api::new(&stack);
        let stores = ["jf-a", "jf-b", "jf-c", "jf-d"];
        for (i, id) in stores.iter().enumerate() {
            api.put_store(
                id,
                &format!("Shop {id}"),
                90.0 * i as f64,
                500.0,
                "grocery",
                &["rice", "meat"],
            )
            .await;
        }
        let drains: Vec<_> = {
            let mut sockets = Vec::new();
            for id in stores {
                sockets.push(Socket::connect(&stack, &format!("store:{id}")).await);
            }
            sockets.into_iter().map(drain).collect()
        };
        let customer = format!("jc-{seed}");
        let who = format!("customer:{customer}");
        let mut seen = Seen::default();

        println!("faults: journey, seed {seed}");
        proxy.set_faults(mix(seed));
        let body = order_body("1.2 kg rice, 600 g meat");
        let placed = act(
            &api,
            &mut seen,
            &who,
            "POST",
            "/orders",
            "tap-place-1",
            Some(body.clone()),
        )
        .await;
        assert_eq!(placed.status, 201, "seed {seed}: {}", placed.text);
        let order_id = placed.body["order_id"].as_str().expect("id").to_string();
        // The app retries the same tap later: the same order comes back.
        let again = act(&api, &mut seen, &who, "POST", "/orders", "tap-place-1", Some(body)).await;
        assert_eq!(
            (again.status, again.body["order_id"].as_str()),
            (201, Some(order_id.as_str())),
            "seed {seed}: a retried placement is the same order"
        );
        let stores_notified = placed.body["stores_notified"].as_u64().unwrap_or(0);
        assert!(stores_notified >= 1, "seed {seed}: {}", placed.text);

        // The first offered store accepts; under faults an offer may have
        // gone to fewer stores, so try each in turn.
        let mut winner = None;
        for id in stores {
            let path = format!("/orders/{order_id}/accept");
            let reply = act(
                &api,
                &mut seen,
                &format!("store:{id}"),
                "POST",
                &path,
                &format!("tap-accept-{id}"),
                None,
            )
            .await;
            match reply.status {
                200 => {
                    winner = Some(id);
                    break;
                }
                403 => assert_eq!(reply.body["error"]["code"], "not_offered", "{}", reply.text),
                other => panic!("seed {seed}: accept by {id} answered {other}: {}", reply.text),
            }
        }
        let winner = winner.expect("an offered store wins");
        let store = format!("store:{winner}");
        let chose = act(
            &api,
            &mut seen,
            &who,
            "POST",
            &format!("/orders/{order_id}/delivery"),
            "tap-delivery",
            Some(json!({"kind": "pickup"})),
        )
        .await;
        assert_eq!(chose.status, 200, "seed {seed}: {}", chose.text);
        for (line, price) in [(0, 9_600), (1, 40_000)] {
            let packed = act(
                &api,
                &mut seen,
                &store,
                "POST",
                &format!("/orders/{order_id}/pack"),
                &format!("tap-pack-{line}"),
                Some(json!({"line": line, "outcome": "packed", "price": price})),
            )
            .await;
            assert_eq!(packed.status, 200, "seed {seed}: {}", packed.text);
        }
        let out = act(
            &api,
            &mut seen,
            &store,
            "POST",
            &format!("/orders/{order_id}/handover"),
            "tap-handover",
            None,
        )
        .await;
        assert_eq!(out.status, 200, "seed {seed}: {}", out.text);
        let done = act(
            &api,
            &mut seen,
            &who,
            "POST",
            &format!("/orders/{order_id}/complete"),
            "tap-complete",
            None,
        )
        .await;
        assert_eq!(done.status, 200, "seed {seed}: {}", done.text);
        assert_eq!(done.body["bill"]["total"], 9_600 + 40_000, "seed {seed}: {}", done.text);

        let injected = proxy.take_injected();
        proxy.clear_faults();
        println!(
            "faults: journey seed {seed}: injected {} {:?}; client retries {:?}",
            injected.len(),
            by_kind(&injected),
            seen.retried
        );

        // Nothing doubled, nothing lost.
        assert_eq!(stack.stored_order_count().await.expect("count"), 1, "seed {seed}");
        assert_eq!(
            listed_orders(&api, &customer).await,
            vec![order_id.clone()],
            "seed {seed}"
        );
        let read = api.get_order(&customer, &order_id).await;
        assert_eq!(read.body["status"], "completed", "seed {seed}: {}", read.text);
        assert_eq!(read.body["store"]["store_id"], winner, "seed {seed}");
        let home = api.call("GET", "/customers/me/home", Some(&who), None).await;
        let items = home.body["items"].as_array().expect("items").clone();
        let amount = |tag: &str| {
            items
                .iter()
                .find(|i| i["tag"] == tag)
                .map(|i| (i["quantity"]["amount"].clone(), i["quantity"]["unit"].clone()))
        };
        assert_eq!(
            amount("rice"),
            Some((json!("1.2"), json!("kg"))),
            "seed {seed}: {}",
            home.text
        );
        assert_eq!(
            amount("meat"),
            Some((json!("600"), json!("g"))),
            "seed {seed}: {}",
            home.text
        );
        // The audit trail has each change once, however often it was
        // retried: one entry per version, and each step as many times as
        // it happened.
        let audit = api
            .call(
                "GET",
                &format!("/operator/orders/{order_id}/audit"),
                Some("operator:o1"),
                None,
            )
            .await;
        let entries = audit.body["entries"].as_array().expect("entries").clone();
        let versions: Vec<u64> = entries.iter().filter_map(|e| e["version"].as_u64()).collect();
        assert_eq!(
            versions,
            (1..=entries.len() as u64).collect::<Vec<_>>(),
            "seed {seed}: {}",
            audit.text
        );
        let count = |kind: &str| entries.iter().filter(|e| e["kind"] == kind).count();
        assert_eq!(
            [
                "placed",
                "accepted",
                "delivery_chosen",
                "packed",
                "handed_over",
                "completed"
            ]
            .map(count),
            [1, 1, 1, 2, 1, 1],
            "seed {seed}: {}",
            audit.text
        );
        for d in drains {
            d.abort();
        }
    }
}

/// Four stores accept at the same instant under each seed's faults, each
/// retrying its own tap: exactly one is told it won, the others that the
/// offer is taken, and the order names that one winner.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn four_way_accept_races_under_random_faults_have_one_winner() {
    for seed in seeds() {
        let Some((stack, proxy)) = faulty_stack(OrderingConfig::default()).await else {
            return;
        };
        let api = Arc::new(Api::new(&stack));
        let ids: [&'static str; 4] = ["fr1", "fr2", "fr3", "fr4"];
        for (i, id) in ids.iter().enumerate() {
            api.put_store(id, &format!("Racer {id}"), 90.0 * i as f64, 400.0, "grocery", &["rice"])
                .await;
        }
        let mut drains = Vec::new();
        for id in ids {
            drains.push(drain(Socket::connect(&stack, &format!("store:{id}")).await));
        }
        let mut seen = Seen::default();
        let races = 4;
        let mut retries = BTreeMap::<String, usize>::new();
        let mut injected = Vec::new();
        for race in 0..races {
            // Placed without faults: four stores must be offered the order.
            let customer = format!("fc-{seed}-{race}");
            let created = api.order(&customer, "5 kg rice").await;
            assert_eq!(created.body["stores_notified"], 4, "{}", created.text);
            let order_id = created.body["order_id"].as_str().expect("id").to_string();
            proxy.set_faults(mix(seed * 1_000 + race));
            let barrier = Arc::new(Barrier::new(ids.len()));
            let attempts: Vec<_> = ids
                .iter()
                .map(|&id| {
                    let (api, barrier, order_id) = (Arc::clone(&api), Arc::clone(&barrier), order_id.clone());
                    tokio::spawn(async move {
                        let mut seen = Seen::default();
                        barrier.wait().await;
                        let path = format!("/orders/{order_id}/accept");
                        let key = format!("tap-accept-{race}");
                        let reply = act(&api, &mut seen, &format!("store:{id}"), "POST", &path, &key, None).await;
                        (reply, seen)
                    })
                })
                .collect();
            let mut winners = Vec::new();
            for (i, attempt) in attempts.into_iter().enumerate() {
                let (reply, their) = attempt.await.expect("attempt ran");
                for (k, v) in their.retried {
                    *retries.entry(k).or_default() += v;
                }
                match reply.status {
                    200 => winners.push(i),
                    409 => assert_eq!(
                        reply.body["error"]["code"], "offer_taken",
                        "seed {seed} race {race}: {}",
                        reply.text
                    ),
                    other => panic!("seed {seed} race {race}: {other}: {}", reply.text),
                }
            }
            injected.extend(proxy.take_injected());
            proxy.clear_faults();
            assert_eq!(winners.len(), 1, "seed {seed} race {race}: winners {winners:?}");
            let order = api.get_order(&customer, &order_id).await;
            assert_eq!(
                order.body["store"]["store_id"], ids[winners[0]],
                "seed {seed} race {race}"
            );
        }
        seen.retried = retries;
        println!(
            "faults: {races} races, seed {seed}: injected {} {:?}; client retries {:?}",
            injected.len(),
            by_kind(&injected),
            seen.retried
        );
        assert_eq!(stack.stored_order_count().await.expect("count"), races as usize);
        for d in drains {
            d.abort();
        }
    }
}

/// The placement's write acts but its answer is lost (the SDK retries it),
/// and then the order write of an accept: one order, its winner told so,
/// and the pushes sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_whose_answers_were_lost_count_once() {
    let Some((stack, proxy)) = faulty_stack(OrderingConfig::default()).await else {
        return;
    };
    let api = Api::new(&stack);
    api.put_store("lost-a", "Lost A", 0.0, 300.0, "grocery", &["rice"])
        .await;
    let store_socket = Socket::connect(&stack, "store:lost-a").await;
    let mut customer_socket = Socket::connect(&stack, "customer:lc").await;
    let mut seen = Seen::default();
    let lost = |operation: &str, nth| Scripted {
        operation: operation.into(),
        nth,
        fault: Fault::LostAnswer,
    };

    // The first transaction after this is the order's insert.
    proxy.set_faults(Faults::scripted(vec![lost("dynamodb.TransactWriteItems", 1)], SLOW));
    let placed = act(
        &api,
        &mut seen,
        "customer:lc",
        "POST",
        "/orders",
        "tap-lost-1",
        Some(order_body("5 kg rice")),
    )
    .await;
    assert_eq!(placed.status, 201, "{}", placed.text);
    assert_eq!(proxy.take_injected().len(), 1, "the insert's answer was lost");
    let order_id = placed.body["order_id"].as_str().expect("id").to_string();
    proxy.clear_faults();
    assert_eq!(stack.stored_order_count().await.expect("count"), 1);
    assert_eq!(listed_orders(&api, "lc").await, vec![order_id.clone()]);

    // The accept's order write (a transaction: the order and its winner's
    // listing) acts; its answer is lost.
    let mut store_socket = store_socket;
    store_socket.expect("offer", common::LONG).await;
    proxy.set_faults(Faults::scripted(vec![lost("dynamodb.TransactWriteItems", 1)], SLOW));
    let path = format!("/orders/{order_id}/accept");
    let won = act(&api, &mut seen, "store:lost-a", "POST", &path, "tap-lost-2", None).await;
    assert_eq!(proxy.take_injected().len(), 1, "the accept's answer was lost");
    proxy.clear_faults();
    assert_eq!(won.status, 200, "the store that won is told so: {}", won.text);
    store_socket.expect("offer_won", common::LONG).await;
    customer_socket.expect("order_accepted", common::LONG).await;

    // A step's single conditional put (packing) acts; its answer is lost.
    proxy.set_faults(Faults::scripted(vec![lost("dynamodb.PutItem", 2)], SLOW));
    let packed = act(
        &api,
        &mut seen,
        "store:lost-a",
        "POST",
        &format!("/orders/{order_id}/pack"),
        "tap-lost-3",
        Some(json!({"line": 0, "outcome": "packed", "price": 30_000})),
    )
    .await;
    let injected = proxy.take_injected();
    proxy.clear_faults();
    assert_eq!(packed.status, 200, "{}; injected {injected:?}", packed.text);
    println!("faults: lost answers: client retries {:?}", seen.retried);
}

/// The placement's transaction acts, its answer is lost, and the SDK's
/// next attempts are throttled until it gives up: the adapter reads the
/// order back, finds it written, and the customer gets one order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_placement_that_landed_before_its_retries_failed_is_one_order() {
    let Some((stack, proxy)) = faulty_stack(OrderingConfig::default()).await else {
        return;
    };
    let api = Api::new(&stack);
    api.put_store("landed-a", "Landed A", 0.0, 300.0, "grocery", &["rice"])
        .await;
    let store = drain(Socket::connect(&stack, "store:landed-a").await);
    let mut seen = Seen::default();
    let transaction = |nth, fault| Scripted {
        operation: "dynamodb.TransactWriteItems".into(),
        nth,
        fault,
    };
    let mut script = vec![transaction(1, Fault::LostAnswer)];
    script.extend((2..=6).map(|nth| transaction(nth, Fault::Throttle)));
    proxy.set_faults(Faults::scripted(script, SLOW));
    let placed = act(
        &api,
        &mut seen,
        "customer:landed",
        "POST",
        "/orders",
        "tap-landed-1",
        Some(order_body("5 kg rice")),
    )
    .await;
    let injected = proxy.take_injected();
    proxy.clear_faults();
    assert_eq!(placed.status, 201, "{}", placed.text);
    assert_eq!(
        injected.len(),
        3,
        "one lost answer, then throttled to the last attempt: {injected:?}"
    );
    assert_eq!(stack.stored_order_count().await.expect("count"), 1);
    let order_id = placed.body["order_id"].as_str().expect("id").to_string();
    assert_eq!(listed_orders(&api, "landed").await, vec![order_id]);
    println!("faults: landed placement: client retries {:?}", seen.retried);
    store.abort();
}

/// Outcomes the adapter cannot settle: a write lands, its answer is lost,
/// and every read that would find it fails too, so the request answers 503
/// and releases its key. The app's retry with the same key is the same
/// step: the placement finds the order written under the id reserved with
/// its key (one order, its store offered it), and the completion is the
/// completion already applied (200 with the order, not 409), whose effects
/// run again: the home holds the goods once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_after_an_unsettled_outcome_gets_the_step_it_took() {
    let Some((stack, proxy)) = faulty_stack(OrderingConfig::default()).await else {
        return;
    };
    let api = Api::new(&stack);
    api.put_store("unsettled-a", "Unsettled A", 0.0, 300.0, "grocery", &["rice"])
        .await;
    let mut store_socket = Socket::connect(&stack, "store:unsettled-a").await;
    let mut seen = Seen::default();
    let nth = |operation: &str, nth, fault| Scripted {
        operation: operation.into(),
        nth,
        fault,
    };
    let customer = "customer:unsettled";

    // The insert's answer is lost and its SDK retries are throttled; the
    // read-backs (the adapter's, then the use case's) are throttled too.
    // The first GetItem is the allowance, read before the write.
    let mut script = vec![nth("dynamodb.TransactWriteItems", 1, Fault::LostAnswer)];
    script.extend((2..=3).map(|n| nth("dynamodb.TransactWriteItems", n, Fault::Throttle)));
    script.extend((2..=7).map(|n| nth("dynamodb.GetItem", n, Fault::Throttle)));
    proxy.set_faults(Faults::scripted(script, SLOW));
    let placed = act(
        &api,
        &mut seen,
        customer,
        "POST",
        "/orders",
        "tap-unsettled-1",
        Some(order_body("2 kg rice")),
    )
    .await;
    let injected = proxy.take_injected();
    proxy.clear_faults();
    assert_eq!(placed.status, 201, "{}; injected {injected:?}", placed.text);
    assert!(
        seen.retried.contains_key("503 unavailable"),
        "the first attempt could not settle: {:?}; injected {injected:?}",
        seen.retried
    );
    let order_id = placed.body["order_id"].as_str().expect("id").to_string();
    assert_eq!(stack.stored_order_count().await.expect("count"), 1, "placed once");
    assert_eq!(listed_orders(&api, "unsettled").await, vec![order_id.clone()]);
    let offer = store_socket.expect("offer", common::LONG).await;
    assert_eq!(offer["order_id"], order_id.as_str(), "the retry told the store");

    let path = |step: &str| format!("/orders/{order_id}/{step}");
    let steps = [
        ("store:unsettled-a", "accept", None),
        (customer, "delivery", Some(json!({"kind": "pickup"}))),
        (
            "store:unsettled-a",
            "pack",
            Some(json!({"line": 0, "outcome": "packed", "price": 14_000})),
        ),
        ("store:unsettled-a", "handover", None),
    ];
    for (n, (who, step, body)) in steps.into_iter().enumerate() {
        let reply = act(
            &api,
            &mut seen,
            who,
            "POST",
            &path(step),
            &format!("tap-unsettled-s{n}"),
            body,
        )
        .await;
        assert_eq!(reply.status, 200, "{step}: {}", reply.text);
    }

    // The completion's put lands, its answer is lost, its retries are
    // throttled, and the adapter's read-back too (GetItem 1 is the read
    // the completion is decided on).
    let mut script = vec![nth("dynamodb.PutItem", 1, Fault::LostAnswer)];
    script.extend((2..=3).map(|n| nth("dynamodb.PutItem", n, Fault::Throttle)));
    script.extend((2..=4).map(|n| nth("dynamodb.GetItem", n, Fault::Throttle)));
    proxy.set_faults(Faults::scripted(script, SLOW));
    let before = seen.retried.get("503 unavailable").copied().unwrap_or(0);
    let done = act(
        &api,
        &mut seen,
        customer,
        "POST",
        &path("complete"),
        "tap-unsettled-done",
        None,
    )
    .await;
    let injected = proxy.take_injected();
    proxy.clear_faults();
    assert_eq!(
        done.status, 200,
        "the retry is the completion it took: {}; injected {injected:?}",
        done.text
    );
    assert_eq!(done.body["status"], "completed");
    assert!(
        seen.retried.get("503 unavailable").copied().unwrap_or(0) > before,
        "the first attempt could not settle: injected {injected:?}"
    );
    // The store that completes later is told 409: only a repeat by the
    // party that took the step is the step.
    let by_store = api
        .call("POST", &path("complete"), Some("store:unsettled-a"), None)
        .await;
    assert_eq!(
        (by_store.status, by_store.body["error"]["code"].clone()),
        (409, json!("illegal_transition"))
    );
    let home = api.call("GET", "/customers/me/home", Some(customer), None).await;
    assert_eq!(home.status, 200, "{}", home.text);
    let items = home.body["items"].as_array().expect("items");
    assert_eq!(items.len(), 1, "{}", home.text);
    assert_eq!(items[0]["quantity"]["amount"], "2", "{}", home.text);
    println!("faults: unsettled outcomes: client retries {:?}", seen.retried);
}
