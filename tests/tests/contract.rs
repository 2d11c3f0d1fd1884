//! One contract for the storage, timer-queue and push ports, run against the
//! embedded adapters always, and against the AWS adapters on an
//! AWS-compatible server (moto, started by tests/run-all.sh) when built with
//! `--features endpoint-tests`. With that feature and no server, these tests
//! fail: nothing is skipped.

use crate::common;

use std::time::Duration;

use common::{LONG, Socket};
use shared::domain::demand::parse_demand_text;
use shared::domain::geo::{GeoPoint, search_plan};
use shared::domain::ids::{Caller, ConnectionId, CustomerId, OrderId, StoreId};
use shared::domain::order::{NextRound, Offer, Order, OrderStatus, Refusal, Transition};
use shared::domain::store::{Store, default_delivery_options};
use shared::embedded::{ConnectionHub, EmbeddedQueue, MemoryStorage};
use shared::ports::{Connection, OfferTimers, PushError, Pusher, RoundTimer, Storage, TransitionError};

fn here() -> GeoPoint {
    GeoPoint::new(23.7925, 90.4078).expect("valid")
}

fn store_at(id: &str, category: &str, bearing: f64, distance_m: f64, updated: i64) -> Store {
    Store {
        id: StoreId::new(id).expect("id"),
        name: format!("Store {id}"),
        location: here().offset(bearing, distance_m),
        category: category.into(),
        tags: ["rice".to_string()].into_iter().collect(),
        open: true,
        delivery_options: default_delivery_options(),
        language: shared::domain::demand::Language::En,
        stats: Default::default(),
        updated_at_ms: updated,
    }
}

fn ids(stores: &[Store]) -> Vec<String> {
    let mut ids: Vec<String> = stores.iter().map(|s| s.id.to_string()).collect();
    ids.sort();
    ids
}

fn offers(ids: &[&str]) -> Vec<Offer> {
    ids.iter()
        .map(|id| Offer {
            store_id: StoreId::new(*id).expect("id"),
            distance_m: 400,
            language: shared::domain::demand::Language::En,
            // Round-trips through storage with the order.
            delivery_options: default_delivery_options(),
        })
        .collect()
}

fn accept(store: &str, now: i64) -> Transition {
    Transition::Accept {
        store_id: StoreId::new(store).expect("id"),
        store_name: format!("Store {store}"),
        now,
    }
}

fn refusal(result: Result<Order, TransitionError>) -> Refusal {
    match result {
        Err(TransitionError::Refused(r)) => r,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

/// The storage contract every adapter must meet.
async fn storage_contract<S: Storage>(storage: &S) {
    // Stores and the geo index.
    let near = store_at("near", "grocery", 0.0, 500.0, 1);
    let far = store_at("far", "grocery", 90.0, 5_000.0, 1);
    let pharmacy = store_at("pharm", "pharmacy", 180.0, 300.0, 1);
    for s in [&near, &far, &pharmacy] {
        storage.put_store(s).await.expect("put store");
    }
    assert_eq!(storage.get_store(&near.id).await.expect("get"), Some(near.clone()));
    assert_eq!(
        storage
            .get_store(&StoreId::new("nobody").expect("id"))
            .await
            .expect("get"),
        None
    );
    let plan = search_plan(here(), 2_000.0, 8);
    let read = storage.stores_in_ranges("grocery", &plan).await.expect("geo read");
    assert_eq!(
        ids(&read.stores),
        ["near"],
        "only the grocery store within reach of the ranges"
    );
    assert!(read.queries >= plan.len());
    let read = storage.stores_in_ranges("pharmacy", &plan).await.expect("geo read");
    assert_eq!(ids(&read.stores), ["pharm"]);
    // Moving a store re-indexes it: the old place no longer finds it.
    let mut moved = near.clone();
    moved.location = here().offset(270.0, 8_000.0);
    moved.updated_at_ms = 2;
    storage.put_store(&moved).await.expect("move");
    assert!(
        storage
            .stores_in_ranges("grocery", &plan)
            .await
            .expect("read")
            .stores
            .is_empty()
    );
    let there = search_plan(moved.location, 500.0, 8);
    assert_eq!(
        ids(&storage.stores_in_ranges("grocery", &there).await.expect("read").stores),
        ["near"]
    );

    // Orders and conditional transitions.
    let order = Order::open(
        OrderId::generate(),
        CustomerId::new("c1").expect("id"),
        parse_demand_text("2 kg rice").expect("parses"),
        here(),
        offers(&["a", "b"]),
        1_000,
        60_000,
    );
    storage.insert_order(&order).await.expect("insert");
    assert!(storage.insert_order(&order).await.is_err(), "an id is written once");
    assert_eq!(storage.get_order(&order.id).await.expect("get"), Some(order.clone()));
    let open_for_a = storage
        .open_offers_for_store(&StoreId::new("a").expect("id"), 2_000)
        .await
        .expect("offers");
    assert_eq!(open_for_a.len(), 1);
    assert_eq!(open_for_a[0].id, order.id);

    assert_eq!(
        refusal(storage.apply_transition(&order.id, &accept("z", 2_000)).await),
        Refusal::NotOffered
    );
    assert_eq!(
        refusal(storage.apply_transition(&order.id, &accept("a", 61_000)).await),
        Refusal::OfferExpired,
        "the deadline is part of the condition"
    );
    let cancel_other = Transition::Cancel {
        customer_id: CustomerId::new("c2").expect("id"),
        now: 2_000,
    };
    assert_eq!(
        refusal(storage.apply_transition(&order.id, &cancel_other).await),
        Refusal::NotOwner
    );
    let won = storage
        .apply_transition(&order.id, &accept("b", 2_000))
        .await
        .expect("wins");
    assert_eq!(won, order.apply(&accept("b", 2_000)).expect("same as the domain"));
    assert_eq!(
        refusal(storage.apply_transition(&order.id, &accept("a", 2_001)).await),
        Refusal::OfferTaken
    );
    assert_eq!(
        refusal(storage.apply_transition(&order.id, &accept("b", 2_001)).await),
        Refusal::AlreadyAccepted
    );
    assert_eq!(storage.get_order(&order.id).await.expect("get"), Some(won));
    let missing = OrderId::generate();
    assert!(matches!(
        storage.apply_transition(&missing, &accept("a", 2_000)).await,
        Err(TransitionError::NotFound)
    ));

    // Closing rounds: only after the deadline, only once.
    let order = Order::open(
        OrderId::generate(),
        CustomerId::new("c1").expect("id"),
        parse_demand_text("rice").expect("parses"),
        here(),
        offers(&["a"]),
        1_000,
        60_000,
    );
    storage.insert_order(&order).await.expect("insert");
    let close = |now: i64| Transition::CloseRound {
        round: 1,
        now,
        next: NextRound::Offer {
            offers: offers(&["c", "d"]),
            deadline_ms: now + 60_000,
        },
    };
    assert_eq!(
        refusal(storage.apply_transition(&order.id, &close(60_999)).await),
        Refusal::RoundStillOpen
    );
    let round2 = storage
        .apply_transition(&order.id, &close(61_000))
        .await
        .expect("closes");
    assert_eq!(round2, order.apply(&close(61_000)).expect("same as the domain"));
    assert_eq!(round2.round, 2);
    assert_eq!(
        refusal(storage.apply_transition(&order.id, &close(61_500)).await),
        Refusal::StaleRound
    );
    let c = StoreId::new("c").expect("id");
    assert_eq!(
        storage.open_offers_for_store(&c, 62_000).await.expect("offers").len(),
        1
    );
    assert!(
        storage
            .open_offers_for_store(&StoreId::new("a").expect("id"), 62_000)
            .await
            .expect("offers")
            .iter()
            .all(|o| o.id != order.id),
        "a lapsed round lists no offer"
    );
    let end = Transition::CloseRound {
        round: 2,
        now: 121_000,
        next: NextRound::Unfulfilled {
            reason: "no_store_accepted".into(),
        },
    };
    let ended = storage.apply_transition(&order.id, &end).await.expect("ends");
    assert_eq!(ended.status, OrderStatus::Unfulfilled);
    assert_eq!(ended, round2.apply(&end).expect("same as the domain"));

    // Cancel.
    let order = Order::open(
        OrderId::generate(),
        CustomerId::new("c1").expect("id"),
        parse_demand_text("rice").expect("parses"),
        here(),
        offers(&["a"]),
        1_000,
        60_000,
    );
    storage.insert_order(&order).await.expect("insert");
    let cancel = Transition::Cancel {
        customer_id: CustomerId::new("c1").expect("id"),
        now: 2_000,
    };
    assert_eq!(
        storage
            .apply_transition(&order.id, &cancel)
            .await
            .expect("cancels")
            .status,
        OrderStatus::Cancelled
    );
    assert_eq!(
        refusal(storage.apply_transition(&order.id, &accept("a", 2_001)).await),
        Refusal::OrderCancelled
    );

    // Connections, found by owner.
    let now = shared::domain::clock::Clock::now_ms(&shared::domain::clock::SystemClock);
    let owner = Caller::Store(StoreId::new("a").expect("id"));
    for id in ["conn-1", "conn-2"] {
        storage
            .put_connection(&Connection {
                id: ConnectionId::new(id).expect("id"),
                owner: owner.clone(),
                connected_at_ms: now,
            })
            .await
            .expect("put connection");
    }
    let mut of_owner = storage.connections_of(&owner).await.expect("by owner");
    of_owner.sort();
    assert_eq!(
        of_owner.iter().map(ConnectionId::as_str).collect::<Vec<_>>(),
        ["conn-1", "conn-2"]
    );
    let conn1 = ConnectionId::new("conn-1").expect("id");
    assert_eq!(
        storage.get_connection(&conn1).await.expect("get").map(|c| c.owner),
        Some(owner.clone())
    );
    assert!(storage.delete_connection(&conn1).await.expect("delete").is_some());
    assert!(storage.delete_connection(&conn1).await.expect("delete again").is_none());
    assert_eq!(storage.connections_of(&owner).await.expect("by owner").len(), 1);
    let nobody = Caller::Customer(CustomerId::new("nobody").expect("id"));
    assert!(storage.connections_of(&nobody).await.expect("by owner").is_empty());
}

/// The timer contract: the message arrives, not before its delay.
async fn timer_contract<Q: OfferTimers>(timers: &Q, mut receive: impl AsyncFnMut() -> Vec<String>) {
    let timer = RoundTimer {
        order_id: OrderId::generate(),
        round: 2,
    };
    timers.schedule_round_close(&timer, 1_500).await.expect("scheduled");
    assert!(receive().await.is_empty(), "nothing before the delay");
    let deadline = tokio::time::Instant::now() + LONG;
    loop {
        let bodies = receive().await;
        if let Some(body) = bodies.first() {
            let got: RoundTimer = serde_json::from_str(body).expect("a round timer");
            assert_eq!(got, timer);
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "timer never arrived");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The push contract: delivered to a live connection, `Gone` for an unknown
/// one, refused over 128 KiB.
async fn push_contract<P: Pusher>(pusher: &P, live: &ConnectionId, mut next_frame: impl AsyncFnMut() -> String) {
    pusher.push(live, r#"{"type":"hello"}"#).await.expect("pushed");
    assert_eq!(next_frame().await, r#"{"type":"hello"}"#);
    let unknown = ConnectionId::new("no-such-connection").expect("id");
    assert!(matches!(pusher.push(&unknown, "{}").await, Err(PushError::Gone)));
    let too_big = "x".repeat(129 * 1024);
    assert!(matches!(pusher.push(live, &too_big).await, Err(PushError::Failed(_))));
}

#[tokio::test]
async fn embedded_storage_meets_the_contract() {
    storage_contract(&MemoryStorage::default()).await;
}

#[tokio::test]
async fn embedded_queue_meets_the_timer_contract() {
    let queue = EmbeddedQueue::new("contract", Duration::from_secs(30));
    timer_contract(&queue, async || {
        let batch = queue.receive(10, Duration::ZERO).await;
        for m in &batch {
            queue.delete(&m.receipt_handle);
        }
        batch.into_iter().map(|m| m.body).collect()
    })
    .await;
}

#[tokio::test]
async fn embedded_hub_meets_the_push_contract() {
    let hub = ConnectionHub::default();
    let (sender, mut outbox) = shared::embedded::outbox(16, shared::embedded::MAX_PUSH_BYTES);
    let id = ConnectionId::new("hub-1").expect("id");
    let info = shared::embedded::SocketInfo {
        connected_at_ms: 0,
        last_active_ms: 0,
        source_ip: "127.0.0.1".into(),
        user_agent: String::new(),
    };
    hub.register(id.clone(), sender, info);
    push_contract(&hub, &id, async || match outbox.recv().await {
        Some(shared::embedded::SocketCommand::Send(frame)) => frame,
        other => panic!("expected a frame, got {other:?}"),
    })
    .await;
}

/// The real API Gateway management client pushing through the local
/// gateway's `@connections` API to a real WebSocket, signing with the
/// stack's credentials as the SDK does.
async fn management_push_contract(sdk: aws_config::SdkConfig) {
    let stack = common::stack(shared::domain::config::OrderingConfig::default()).await;
    let sdk = sdk
        .into_builder()
        .credentials_provider(aws_sdk_sqs::config::SharedCredentialsProvider::new(
            stack.management_credentials(),
        ))
        .build();
    let sdk = &sdk;
    let mut socket = Socket::connect(&stack, "customer:contract").await;
    socket.send(serde_json::json!({"action": "whoami"})).await;
    let me = socket.expect("whoami", LONG).await;
    let live = ConnectionId::new(me["connection_id"].as_str().expect("id")).expect("id");
    let pusher = shared::aws::ManagementApiPusher::new(sdk, &stack.management_url());
    push_contract(&pusher, &live, async || {
        socket.next(LONG).await.expect("a frame").to_string()
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_management_api_client_meets_the_push_contract_with_dummy_credentials() {
    // The management client needs a region and credentials, never real
    // ones: the stack's dummy credentials are added above.
    let sdk = aws_config::SdkConfig::builder()
        .region(aws_config::Region::new("us-east-1"))
        .behavior_version(aws_config::BehaviorVersion::latest())
        .build();
    management_push_contract(sdk).await;
}

#[cfg(feature = "endpoint-tests")]
mod on_an_aws_compatible_server {
    use super::*;
    use shared::aws::{DynamoStorage, SqsTimers, ensure_queue, ensure_table, sdk_config};

    fn unique(prefix: &str) -> String {
        format!("{prefix}-{}", ulid::Ulid::new().to_string().to_lowercase())
    }

    async fn sdk() -> aws_config::SdkConfig {
        assert!(
            std::env::var_os("AWS_ENDPOINT_URL").is_some(),
            "the endpoint contract needs AWS_ENDPOINT_URL: run tests/run-all.sh, which starts moto"
        );
        sdk_config().await
    }

    #[tokio::test]
    async fn dynamodb_storage_meets_the_contract() {
        let sdk = sdk().await;
        let client = aws_sdk_dynamodb::Client::new(&sdk);
        let table = unique("contract");
        ensure_table(&client, &table).await.expect("table created");
        storage_contract(&DynamoStorage::new(client, table)).await;
    }

    #[tokio::test]
    async fn sqs_meets_the_timer_contract() {
        let sdk = sdk().await;
        let client = aws_sdk_sqs::Client::new(&sdk);
        let url = ensure_queue(&client, &unique("contract"), 30)
            .await
            .expect("queue created");
        let timers = SqsTimers::new(client.clone(), url.clone());
        timer_contract(&timers, async || {
            let out = client
                .receive_message()
                .queue_url(&url)
                .max_number_of_messages(10)
                .send()
                .await
                .expect("receive");
            let messages = out.messages.unwrap_or_default();
            for m in &messages {
                client
                    .delete_message()
                    .queue_url(&url)
                    .set_receipt_handle(m.receipt_handle.clone())
                    .send()
                    .await
                    .expect("delete");
            }
            messages.into_iter().filter_map(|m| m.body).collect()
        })
        .await;
    }
}
