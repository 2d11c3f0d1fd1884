//! One contract for the storage, timer-queue and push ports, run against the
//! embedded adapters always, and against the AWS adapters on an
//! AWS-compatible server (moto, started by tests/run-all.sh) when built with
//! `--features endpoint-tests`. With that feature and no server, these tests
//! fail: nothing is skipped.

use crate::common;

use std::time::Duration;

use common::{LONG, Socket};
use shared::domain::account::Role;
use shared::domain::clock::{Clock, SystemClock};
use shared::domain::customer::PhoneNumber;
use shared::domain::demand::parse_demand_text;
use shared::domain::geo::{
    CROWD_RESOLUTION, CellRange, FINE_CROWD_RESOLUTION, GeoPoint, ring_key, search_plan, store_crowd_cell,
    store_fine_crowd_cell, store_partition,
};
use shared::domain::ids::{Caller, ConnectionId, CustomerId, OrderId, StoreId};
use shared::domain::limits::{OrderLimits, Rate, Versioned};
use shared::domain::notification::{Device, DeviceToken};
use shared::domain::order::delivery::default_delivery_options;
use shared::domain::order::money::PaymentMethod;
use shared::domain::order::{Actor, Change, Decision, NewOrder, NextRound, Offer, Order, OrderStatus};
use shared::domain::sign_in::{
    CodeHasher, CodeRecord, OneTimeCode, RefreshFamily, RefreshToken, SessionCutoff, SignInLimits,
};
use shared::domain::stock::{StockCountInput, StockInput, StockLedger};
use shared::domain::store::{StatusChange, Store, StoreApplication, StoreStatus};
use shared::embedded::{ConnectionHub, EmbeddedNotifications, EmbeddedQueue, EmbeddedTexts, MemoryStorage};
use shared::ports::{Connection, Notifications, OfferTimers, PushError, Pusher, RoundTimer, Storage, TextMessages};

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
        status: shared::domain::store::StoreStatus::Active,
        suspended_reason: None,
        updated_at_ms: updated,
    }
}

fn ids(stores: &[std::sync::Arc<Store>]) -> Vec<String> {
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

fn new_order(text: &str) -> NewOrder {
    NewOrder {
        id: OrderId::generate(),
        customer_id: CustomerId::new("c1").expect("id"),
        items: parse_demand_text(text).expect("parses"),
        location: here(),
        delivery: None,
        payment: PaymentMethod::default(),
        address: None,
    }
}

/// Writes a new order as the use case does, with its customer's allowance
/// as read (no limit decided here).
async fn insert<S: Storage>(storage: &S, order: &Order) {
    let allowance = storage.order_allowance(order.customer_id()).await.expect("read");
    assert!(storage.insert_order(order, &allowance).await.expect("insert"));
}

fn accept(order: &Order, store: &str, now: i64) -> Order {
    let by = Actor::Store(StoreId::new(store).expect("id"));
    let change = Change::Accept {
        store_name: format!("Store {store}"),
        store_location: None,
    };
    match order.decide(&by, &change, now).expect("the domain allows it") {
        Decision::Apply(next) => *next,
        Decision::AlreadyApplied => panic!("a first accept changes the order"),
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
    let read = storage
        .stores_in_ranges("grocery", &plan, usize::MAX)
        .await
        .expect("geo read");
    assert_eq!(
        ids(&read.stores),
        ["near"],
        "only the grocery store within reach of the ranges"
    );
    assert!(read.queries >= plan.len());
    let read = storage
        .stores_in_ranges("pharmacy", &plan, usize::MAX)
        .await
        .expect("geo read");
    assert_eq!(ids(&read.stores), ["pharm"]);
    // Moving a store re-indexes it: the old place no longer finds it.
    let mut moved = near.clone();
    moved.location = here().offset(270.0, 8_000.0);
    moved.updated_at_ms = 2;
    storage.put_store(&moved).await.expect("move");
    assert!(
        storage
            .stores_in_ranges("grocery", &plan, usize::MAX)
            .await
            .expect("read")
            .stores
            .is_empty()
    );
    let there = search_plan(moved.location, 500.0, 8);
    assert_eq!(
        ids(&storage
            .stores_in_ranges("grocery", &there, usize::MAX)
            .await
            .expect("read")
            .stores),
        ["near"]
    );

    // Orders: written over the version they were decided on, or not at all.
    let order = Order::open(new_order("2 kg rice"), offers(&["a", "b"]), 1_000, 60_000);
    insert(storage, &order).await;
    let current = storage.order_allowance(order.customer_id()).await.expect("read");
    assert!(
        storage.insert_order(&order, &current).await.is_err(),
        "an id is written once"
    );
    assert_eq!(storage.get_order(order.id()).await.expect("get"), Some(order.clone()));
    let a = StoreId::new("a").expect("id");
    let open_for_a = storage.open_offers_for_store(&a, 2_000).await.expect("offers");
    assert_eq!(open_for_a.len(), 1);
    assert_eq!(open_for_a[0].id(), order.id());
    let b_wins = accept(&order, "b", 2_000);
    let a_wins = accept(&order, "a", 2_000);
    assert!(
        storage.replace_order(&order, &b_wins).await.expect("writes"),
        "the first write lands"
    );
    assert!(
        !storage.replace_order(&order, &a_wins).await.expect("answers"),
        "a change decided on an old version is not written"
    );
    assert_eq!(storage.get_order(order.id()).await.expect("get"), Some(b_wins.clone()));
    let b = StoreId::new("b").expect("id");
    let won = storage.orders_won_by(&b, 10, None).await.expect("history");
    assert_eq!(
        won.iter().map(Order::id).collect::<Vec<_>>(),
        [order.id()],
        "the win is listed"
    );
    assert!(storage.orders_won_by(&a, 10, None).await.expect("history").is_empty());
    assert!(
        storage
            .open_offers_for_store(&a, 2_001)
            .await
            .expect("offers")
            .is_empty(),
        "a taken order lists no offer"
    );
    let ghost = Order::open(new_order("rice"), offers(&["a"]), 1_000, 60_000);
    assert!(
        !storage
            .replace_order(&ghost, &accept(&ghost, "a", 2_000))
            .await
            .expect("answers"),
        "nothing is written over a missing order"
    );
    assert_eq!(storage.get_order(ghost.id()).await.expect("get"), None);

    // A new round's offers are listed with the write that opens it.
    let order = Order::open(new_order("rice"), offers(&["a"]), 1_000, 60_000);
    insert(storage, &order).await;
    let close = Change::CloseRound {
        round: 1,
        next: NextRound::Offer {
            offers: offers(&["c", "d"]),
            deadline_ms: 121_000,
            search_radius_m: None,
        },
    };
    let Ok(Decision::Apply(round2)) = order.decide(&Actor::Timer, &close, 61_000) else {
        panic!("closes");
    };
    assert!(storage.replace_order(&order, &round2).await.expect("writes"));
    assert_eq!(round2.round(), 2);
    let c = StoreId::new("c").expect("id");
    assert_eq!(
        storage.open_offers_for_store(&c, 62_000).await.expect("offers").len(),
        1
    );
    assert!(
        storage
            .open_offers_for_store(&a, 62_000)
            .await
            .expect("offers")
            .iter()
            .all(|o| o.id() != order.id()),
        "a lapsed round lists no offer"
    );
    assert!(
        !storage.replace_order(&order, &round2).await.expect("answers"),
        "a duplicate timer's write finds the round closed"
    );
    let customer_orders = storage
        .recent_orders_of_customer(&CustomerId::new("c1").expect("id"), 50, None)
        .await
        .expect("history");
    assert!(customer_orders.iter().any(|o| o.id() == order.id() && o.round() == 2));

    // Orders by when they were placed, across an hour's edge, oldest first;
    // the trail written with each change comes back with the order.
    let hour = 10 * 3_600_000;
    let placed: Vec<Order> = [hour - 1_000, hour + 500, hour + 2 * 3_600_000]
        .into_iter()
        .map(|at| Order::open(new_order("rice"), offers(&["a"]), at, 60_000))
        .collect();
    for order in placed.iter().rev() {
        insert(storage, order).await;
    }
    let between = |from, to, limit| storage.orders_placed_between(from, to, limit);
    let listed = between(hour - 2_000, hour + 3 * 3_600_000, 10).await.expect("read");
    assert_eq!(listed, placed, "every one, oldest first");
    let listed = between(hour - 1_000, hour + 2 * 3_600_000, 10).await.expect("read");
    assert_eq!(listed, placed[..2], "from inclusive, to exclusive");
    let listed = between(hour - 2_000, hour + 3 * 3_600_000, 1).await.expect("read");
    assert_eq!(listed, placed[..1], "at most the limit, the oldest");
    assert!(
        between(hour + 1_000, hour + 3_600_000, 10)
            .await
            .expect("read")
            .is_empty()
    );
    let won = accept(&placed[1], "a", hour + 9_000);
    assert!(storage.replace_order(&placed[1], &won).await.expect("writes"));
    let stored = storage.get_order(won.id()).await.expect("get").expect("stored");
    assert_eq!(stored.audit(), won.audit());
    assert_eq!(stored.audit().len(), 2);

    // Racing writers decided on the same version: exactly one lands.
    for _ in 0..5 {
        let order = Order::open(new_order("rice"), offers(&["a", "b", "c", "d"]), 1_000, 60_000);
        insert(storage, &order).await;
        let attempts: Vec<Order> = ["a", "b", "c", "d"].iter().map(|s| accept(&order, s, 2_000)).collect();
        let results =
            futures_util::future::join_all(attempts.iter().map(|next| storage.replace_order(&order, next))).await;
        let landed: Vec<&Order> = results
            .into_iter()
            .zip(&attempts)
            .filter_map(|(landed, next)| landed.expect("answers").then_some(next))
            .collect();
        assert_eq!(landed.len(), 1, "one winner per race");
        assert_eq!(
            storage.get_order(order.id()).await.expect("get").as_ref(),
            Some(landed[0])
        );
        assert_eq!(landed[0].status(), OrderStatus::Accepted);
    }

    // An order is written with its customer's allowance, atomically: over a
    // stale allowance, neither is written.
    let limits = OrderLimits {
        max_open: 3,
        per_minute: 5,
    };
    let customer = CustomerId::new("c1").expect("id");
    let read = storage.order_allowance(&customer).await.expect("read");
    let first = Order::open(new_order("rice"), offers(&["a"]), 1_000, 60_000);
    let second = Order::open(new_order("rice"), offers(&["a"]), 1_000, 60_000);
    let admit = |order: &Order| Versioned {
        value: read
            .value
            .admit(order.id(), 200_000, 1_000, limits, None)
            .expect("admitted"),
        version: read.version,
    };
    assert!(storage.insert_order(&first, &admit(&first)).await.expect("writes"));
    assert!(
        !storage.insert_order(&second, &admit(&second)).await.expect("answers"),
        "decided on an allowance that moved on"
    );
    assert_eq!(
        storage.get_order(second.id()).await.expect("get"),
        None,
        "nothing half-written"
    );
    let after = storage.order_allowance(&customer).await.expect("read");
    assert_eq!(after.version, read.version + 1);
    assert!(after.value.possibly_open(1_000).contains(first.id()));
    assert_eq!(
        storage
            .get_orders(&[first.id().clone(), second.id().clone()])
            .await
            .expect("read")
            .len(),
        1
    );

    // Guest windows: replaced only over the version read.
    let key = "ADDRESS#192.0.2.7";
    let window = storage.rate_window(key).await.expect("read");
    assert_eq!(window, Versioned::default());
    let rate = Rate {
        max: 2,
        window_ms: 60_000,
    };
    let once = window.value.take(1_000, rate).expect("room");
    assert!(storage.replace_rate_window(key, 0, &once).await.expect("writes"));
    assert!(
        !storage.replace_rate_window(key, 0, &once).await.expect("answers"),
        "a stale write"
    );
    let stored = storage.rate_window(key).await.expect("read");
    assert_eq!((stored.value, stored.version), (once, 1));

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
    let mut of_owner = storage
        .connections_of_many(std::slice::from_ref(&owner))
        .await
        .expect("by owner")
        .remove(0);
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
    assert_eq!(
        storage
            .connections_of_many(std::slice::from_ref(&owner))
            .await
            .expect("by owner")
            .remove(0)
            .len(),
        1
    );
    let nobody = Caller::Customer(CustomerId::new("nobody").expect("id"));
    assert!(
        storage
            .connections_of_many(std::slice::from_ref(&nobody))
            .await
            .expect("by owner")
            .remove(0)
            .is_empty()
    );
    // Many owners at once, in their order, an owner asked twice answered twice.
    let many = storage
        .connections_of_many(&[nobody.clone(), owner.clone(), nobody, owner])
        .await
        .expect("batch");
    let sizes: Vec<usize> = many.iter().map(Vec::len).collect();
    assert_eq!(sizes, [0, 1, 0, 1]);
    assert_eq!(many[1][0].as_str(), "conn-2");
    sign_in_contract(storage).await;
    application_contract(storage).await;
}

fn application(bearing: f64) -> StoreApplication {
    let mut store = store_at(StoreId::generate().as_str(), "grocery", bearing, 400.0, 10);
    store.status = StoreStatus::Pending;
    StoreApplication {
        store,
        phone: PhoneNumber::new("01711000001").expect("phone"),
        applicant: CustomerId::new("applicant").expect("id"),
        applied_at_ms: 10,
    }
}

/// A match centred on a geo partition edge finds the stores on both sides
/// (the plan splits at the edge; each part is read in its own partition).
async fn partition_edge_contract<S: Storage>(storage: &S) {
    // The edge as stores are indexed: bisect the line from here's partition
    // centre to a neighbour's centre until the partition changes.
    let partition = store_partition(here());
    let neighbour = partition
        .grid_disk::<Vec<_>>(1)
        .into_iter()
        .find(|c| *c != partition)
        .expect("a neighbour");
    let (from, to) = (
        GeoPoint::from_cell_centre(partition),
        GeoPoint::from_cell_centre(neighbour),
    );
    let at = |t: f64| {
        GeoPoint::new(
            from.lat() + (to.lat() - from.lat()) * t,
            from.lng() + (to.lng() - from.lng()) * t,
        )
        .expect("valid")
    };
    let (mut inside, mut outside) = (0.0, 1.0);
    for _ in 0..40 {
        let mid = (inside + outside) / 2.0;
        if store_partition(at(mid)) == partition {
            inside = mid;
        } else {
            outside = mid;
        }
    }
    let edge = at(inside);
    let step = 1.0 / from.distance_m(to);
    let mut stores = Vec::new();
    for (i, t) in [
        inside - 150.0 * step,
        inside - 20.0 * step,
        outside + 20.0 * step,
        outside + 150.0 * step,
    ]
    .into_iter()
    .enumerate()
    {
        let mut store = store_at(&format!("edge-{i}"), "edgeware", 0.0, 0.0, 1);
        store.location = at(t);
        storage.put_store(&store).await.expect("put store");
        stores.push(store);
    }
    let sides: std::collections::HashSet<_> = stores.iter().map(|s| store_partition(s.location)).collect();
    assert!(sides.len() >= 2, "the stores lie on both sides of the edge");
    let plan = search_plan(edge, 500.0, 8);
    let read = storage
        .stores_in_ranges("edgeware", &plan, usize::MAX)
        .await
        .expect("geo read");
    assert_eq!(ids(&read.stores), ["edge-0", "edge-1", "edge-2", "edge-3"]);
    assert!(plan.len() <= 8);
}

/// The crowd counts of `category` the storage holds in the partitions of
/// `stores` and of `gone` (places stores left), and in their fine crowd
/// items, and what `stores` make them: one per store of the category in
/// its crowd cell, and one in its fine cell.
async fn crowd_counts<S: Storage>(
    storage: &S,
    category: &str,
    stores: &[&Store],
    gone: &[&Store],
) -> (Vec<(h3o::CellIndex, u64)>, Vec<(h3o::CellIndex, u64)>) {
    let mut expected: std::collections::BTreeMap<h3o::CellIndex, u64> = Default::default();
    for store in stores.iter().filter(|s| s.category == category) {
        *expected.entry(store_crowd_cell(store.location)).or_default() += 1;
        *expected.entry(store_fine_crowd_cell(store.location).1).or_default() += 1;
    }
    let partitions: Vec<h3o::CellIndex> = stores.iter().chain(gone).map(|s| store_partition(s.location)).collect();
    let fine_items: Vec<h3o::CellIndex> = stores
        .iter()
        .chain(gone)
        .map(|s| store_fine_crowd_cell(s.location).0)
        .collect();
    // Read apart: under a fine item read with its partition, the fine
    // cells stand in for the crowd cells.
    let map = storage.crowd_map(category, &partitions, &[]).await.expect("crowd map");
    let fine = storage
        .crowd_map(category, &[], &fine_items)
        .await
        .expect("fine counts");
    let mut cells: Vec<h3o::CellIndex> = partitions.iter().flat_map(|p| p.children(CROWD_RESOLUTION)).collect();
    cells.sort_unstable();
    cells.dedup();
    let mut fine_cells: Vec<h3o::CellIndex> = fine_items
        .iter()
        .flat_map(|item| item.children(FINE_CROWD_RESOLUTION))
        .collect();
    fine_cells.sort_unstable();
    fine_cells.dedup();
    let mut stored: Vec<(h3o::CellIndex, u64)> = cells
        .into_iter()
        .map(|c| (c, map.count(c)))
        .chain(fine_cells.into_iter().map(|c| (c, fine.count(c))))
        .filter(|(_, n)| *n > 0)
        .collect();
    stored.sort_unstable();
    (stored, expected.into_iter().collect())
}

/// A geo read finds store `id` under `now` (category, place) and not
/// under `before`, within 30 m of each place.
async fn assert_geo_entry_moved<S: Storage>(
    storage: &S,
    id: &StoreId,
    now: (&str, GeoPoint),
    before: (&str, GeoPoint),
) {
    let near = async |(category, at): (&str, GeoPoint)| {
        let read = storage
            .stores_in_ranges(category, &search_plan(at, 30.0, 8), usize::MAX)
            .await
            .expect("geo read");
        read.stores.iter().any(|s| s.id == *id)
    };
    assert!(near(now).await, "{id} is read under {now:?}");
    assert!(!near(before).await, "{id} is no longer read under {before:?}");
}

/// A read of at most `per_range` items of a range returns the first in
/// key order and names the rest of the range, from the last key it read.
async fn cut_read_contract<S: Storage>(storage: &S) {
    let mut stores: Vec<Store> = (0..5)
        .map(|i| store_at(&format!("hall-{i}"), "grocery", f64::from(i) * 72.0, 20.0, 1))
        .collect();
    for store in &stores {
        storage.put_store(store).await.expect("put store");
    }
    let key = |s: &Store| ring_key(s.location.store_cell(), 0);
    stores.sort_by_key(key);
    let plan = search_plan(here(), 100.0, 1);
    assert_eq!(plan.len(), 1, "one range holds the hall");
    let whole = storage.stores_in_ranges("grocery", &plan, 10).await.expect("read");
    assert_eq!(whole.stores.len(), 5);
    assert!(
        whole.unread.is_empty(),
        "a read that holds the range leaves nothing unread"
    );
    let cut = storage.stores_in_ranges("grocery", &plan, 2).await.expect("read");
    let mut first_two = [stores[0].id.to_string(), stores[1].id.to_string()];
    first_two.sort();
    assert_eq!(ids(&cut.stores), first_two, "the first two in key order");
    assert_eq!(cut.queries, 1, "one page");
    assert_eq!(
        cut.unread,
        [CellRange {
            first: key(&stores[1]),
            ..plan[0]
        }]
    );
    let rest = storage
        .stores_in_ranges("grocery", &cut.unread, usize::MAX)
        .await
        .expect("read the rest");
    assert_eq!(
        ids(&rest.stores).len(),
        4,
        "the last store read, then the three not read"
    );
}

/// Storage counts the geo entries per category and crowd cell with
/// every write that adds, moves or removes one: a new store, a move to
/// another cell or partition, a change of category, an application; a
/// profile written again in place, a step within the cell, or a write that
/// loses its condition changes no count.
async fn crowd_contract<S: Storage>(storage: &S) {
    let a = store_at("crowd-a", "grocery", 0.0, 100.0, 1);
    let b = store_at("crowd-b", "grocery", 0.0, 110.0, 1);
    let c = store_at("crowd-c", "pharmacy", 90.0, 100.0, 1);
    assert!(storage.replace_store(None, &a).await.expect("register"));
    storage.put_store(&b).await.expect("put");
    assert!(storage.replace_store(None, &c).await.expect("register"));
    let check = async |stores: &[&Store], gone: &[&Store], what: &str| {
        for category in ["grocery", "pharmacy"] {
            let (stored, expected) = crowd_counts(storage, category, stores, gone).await;
            assert_eq!(stored, expected, "{category} after {what}");
        }
    };
    check(&[&a, &b, &c], &[], "registering").await;
    let (stored, _) = crowd_counts(storage, "grocery", &[&a, &b], &[]).await;
    assert_eq!(
        stored.iter().map(|(_, n)| n).sum::<u64>(),
        4,
        "both groceries counted, per crowd cell and per fine cell"
    );
    let map = storage
        .crowd_map("grocery", &[store_partition(a.location)], &[])
        .await
        .expect("crowd map");
    assert!(map.is_known(), "a partition with stores has counts");
    // Read with its fine item, the partition's map counts the fine cells
    // there in place of the crowd cells.
    let (fine_item, fine_cell) = store_fine_crowd_cell(a.location);
    let refined = storage
        .crowd_map("grocery", &[store_partition(a.location)], &[fine_item])
        .await
        .expect("crowd map");
    assert_eq!(refined.fine_items(), [fine_item]);
    assert_eq!(refined.count(store_crowd_cell(a.location)), 0);
    assert!(refined.count(fine_cell) >= 1);
    assert_eq!(
        refined.items_within(a.location, 5_000.0),
        map.items_within(a.location, 5_000.0),
        "the same stores, counted finer"
    );

    // A new name: no count moves.
    let mut renamed = a.clone();
    renamed.name = "Renamed".into();
    renamed.updated_at_ms = 2;
    assert!(storage.replace_store(Some(&a), &renamed).await.expect("rename"));
    check(&[&renamed, &b, &c], &[], "a rename").await;
    // A step within its cell (a new geo entry, the same count).
    let mut stepped = renamed.clone();
    stepped.location = renamed.location.offset(45.0, 1.0);
    stepped.updated_at_ms = 3;
    assert_eq!(store_crowd_cell(stepped.location), store_crowd_cell(renamed.location));
    assert!(storage.replace_store(Some(&renamed), &stepped).await.expect("step"));
    check(&[&stepped, &b, &c], &[], "a step within the cell").await;

    // A move to another cell, then to another partition: one fewer where it
    // was, one more where it is.
    let mut moved = stepped.clone();
    moved.location = here().offset(200.0, 1_500.0);
    moved.updated_at_ms = 4;
    assert_ne!(store_crowd_cell(moved.location), store_crowd_cell(stepped.location));
    assert!(storage.replace_store(Some(&stepped), &moved).await.expect("move"));
    check(&[&moved, &b, &c], &[&stepped], "a move").await;
    // The geo entry moves with it: read where it is, not where it was.
    assert_geo_entry_moved(
        storage,
        &moved.id,
        ("grocery", moved.location),
        ("grocery", stepped.location),
    )
    .await;
    let mut far = moved.clone();
    far.location = here().offset(90.0, 9_000.0);
    far.updated_at_ms = 5;
    assert_ne!(store_partition(far.location), store_partition(moved.location));
    storage.put_store(&far).await.expect("move far");
    check(&[&far, &b, &c], &[&moved], "a move to another partition").await;

    // A change of category: counted under the new one only.
    let mut changed = b.clone();
    changed.category = "pharmacy".into();
    changed.updated_at_ms = 2;
    assert!(storage.replace_store(Some(&b), &changed).await.expect("recategorise"));
    check(&[&far, &changed, &c], &[], "a change of category").await;
    assert_geo_entry_moved(storage, &b.id, ("pharmacy", b.location), ("grocery", b.location)).await;
    // A conditional write that loses changes nothing.
    let mut lost = c.clone();
    lost.location = here().offset(0.0, 3_000.0);
    lost.updated_at_ms = 9;
    let mut stale = c.clone();
    stale.updated_at_ms = 0;
    assert!(!storage.replace_store(Some(&stale), &lost).await.expect("lost"));
    check(&[&far, &changed, &c], &[&lost], "a lost write").await;
    assert_geo_entry_moved(storage, &c.id, ("pharmacy", c.location), ("pharmacy", lost.location)).await;

    // An application counts its pending store.
    let applicant = store_at("crowd-d", "grocery", 0.0, 120.0, 1);
    let application = StoreApplication {
        store: applicant.clone(),
        phone: PhoneNumber::new("01711000009").expect("phone"),
        applicant: CustomerId::new("crowd-applicant").expect("id"),
        applied_at_ms: 1,
    };
    assert!(storage.insert_application(&application).await.expect("apply"));
    check(&[&far, &changed, &c, &applicant], &[&lost], "an application").await;
}

/// Applications and conditional store writes: an application writes its
/// pending store and its listing together; a status change is written only
/// over the profile it was decided on, and the listing leaves with the
/// pending status; the geo copy carries the status.
async fn application_contract<S: Storage>(storage: &S) {
    let (first, second) = (application(0.0), application(90.0));
    let mut expected = [first.clone(), second.clone()];
    expected.sort_by(|a, b| a.store.id.cmp(&b.store.id));
    for a in &expected {
        assert!(storage.insert_application(a).await.expect("apply"));
    }
    assert!(
        !storage.insert_application(&first).await.expect("apply again"),
        "an existing store id is not written over"
    );
    let pending = storage.pending_applications(10, None).await.expect("list");
    assert_eq!(pending, expected, "oldest (lowest id) first, the whole application");
    let page = storage.pending_applications(1, None).await.expect("page");
    assert_eq!(page, expected[..1]);
    let rest = storage
        .pending_applications(10, Some(&expected[0].store.id))
        .await
        .expect("next page");
    assert_eq!(rest, expected[1..]);
    assert_eq!(
        storage.application(&first.store.id).await.expect("get"),
        Some(first.clone())
    );
    let stored = storage.get_store(&first.store.id).await.expect("get").expect("written");
    assert_eq!(stored.status, StoreStatus::Pending);

    // A change decided on a stale profile is not written.
    let approved = stored
        .with_status(&StatusChange::Approve, 20)
        .expect("pending approves");
    let mut stale = stored.clone();
    stale.updated_at_ms = 5;
    assert!(!storage.replace_store(Some(&stale), &approved).await.expect("stale"));
    assert!(!storage.replace_store(None, &approved).await.expect("exists"));
    assert!(storage.replace_store(Some(&stored), &approved).await.expect("approve"));
    assert!(
        !storage.replace_store(Some(&stored), &approved).await.expect("again"),
        "a second writer decided on the same profile loses"
    );
    assert_eq!(storage.application(&first.store.id).await.expect("get"), None);
    let pending = storage.pending_applications(10, None).await.expect("list");
    assert_eq!(pending, std::slice::from_ref(&second));
    let plan = search_plan(here(), 2_000.0, 8);
    let read = storage
        .stores_in_ranges("grocery", &plan, usize::MAX)
        .await
        .expect("geo");
    let status_of = |id: &StoreId| read.stores.iter().find(|s| &s.id == id).map(|s| s.status);
    assert_eq!(
        status_of(&first.store.id),
        Some(StoreStatus::Active),
        "the geo copy follows"
    );
    assert_eq!(status_of(&second.store.id), Some(StoreStatus::Pending));
    let suspended = approved
        .with_status(&StatusChange::Suspend { reason: "fraud".into() }, 20)
        .expect("suspends");
    assert!(
        suspended.updated_at_ms > approved.updated_at_ms,
        "versions move forward"
    );
    assert!(
        storage
            .replace_store(Some(&approved), &suspended)
            .await
            .expect("suspend")
    );
    assert_eq!(storage.get_store(&first.store.id).await.expect("get"), Some(suspended));
    // A store with no profile yet is written only as new.
    let fresh = store_at("fresh", "pharmacy", 0.0, 100.0, 1);
    assert!(storage.replace_store(None, &fresh).await.expect("new"));
    assert!(!storage.replace_store(None, &fresh).await.expect("not new twice"));
}

/// Sign-in records: each read at the version it was written at, each
/// write conditional on it, and the first write of a record only if none
/// exists.
async fn sign_in_contract<S: Storage>(storage: &S) {
    let phone = PhoneNumber::new(&common::fresh_phone()).expect("phone");
    let empty = storage.code_record(&phone).await.expect("read");
    assert_eq!(empty, Versioned::default());
    let hasher = CodeHasher::random().expect("random");
    let code = OneTimeCode::parse("123456").expect("code");
    let pending = hasher.pending(&phone, &code, 1_000).expect("random");
    let record = CodeRecord::default()
        .send(pending, 1_000, SignInLimits::default())
        .expect("within limits");
    assert!(
        storage
            .replace_code_record(&phone, 0, &record, 2_000_000)
            .await
            .expect("write")
    );
    assert!(
        !storage
            .replace_code_record(&phone, 0, &record, 2_000_000)
            .await
            .expect("write"),
        "exists"
    );
    let read = storage.code_record(&phone).await.expect("read");
    assert_eq!((read.version, &read.value), (1, &record));
    let (used, result) = read.value.check(&hasher, &phone, &code, 1_500);
    assert_eq!(result, Ok(()));
    assert!(
        storage
            .replace_code_record(&phone, 1, &used, 2_000_000)
            .await
            .expect("write")
    );
    assert!(
        !storage
            .replace_code_record(&phone, 1, &used, 2_000_000)
            .await
            .expect("write"),
        "stale"
    );

    let window = storage.rate_window("SEND#ADDRESS#contract").await.expect("read");
    assert_eq!(window.version, 0);
    let rate = Rate {
        max: 5,
        window_ms: 60_000,
    };
    let next = window.value.take(1_000, rate).expect("room");
    assert!(
        storage
            .replace_rate_window("SEND#ADDRESS#contract", 0, &next)
            .await
            .expect("write")
    );
    assert!(
        !storage
            .replace_rate_window("SEND#ADDRESS#contract", 0, &next)
            .await
            .expect("write")
    );
    assert_eq!(
        storage.rate_window("SEND#ADDRESS#contract").await.expect("read").value,
        next
    );

    let token = RefreshToken::new_family().expect("random");
    let caller = Caller::Customer(CustomerId::new("c-contract").expect("id"));
    assert_eq!(
        storage.refresh_family(token.family()).await.expect("read"),
        Versioned::default()
    );
    let now = SystemClock.now_ms();
    let family = RefreshFamily::start(&token, caller.clone(), Some(Role::Customer), now);
    assert!(
        storage
            .replace_refresh_family(token.family(), 0, &family)
            .await
            .expect("write")
    );
    assert!(
        !storage
            .replace_refresh_family(token.family(), 0, &family)
            .await
            .expect("write")
    );
    let read = storage.refresh_family(token.family()).await.expect("read");
    assert_eq!((read.version, read.value.as_ref()), (1, Some(&family)));
    assert!(
        storage
            .replace_refresh_family(token.family(), 1, &family.revoke())
            .await
            .expect("write")
    );
    assert!(
        storage
            .refresh_family(token.family())
            .await
            .expect("read")
            .value
            .expect("kept")
            .revoked
    );

    assert_eq!(
        storage.session_cutoff(&caller).await.expect("read"),
        Versioned::default()
    );
    let cutoff = SessionCutoff { before_ms: now };
    assert!(
        storage
            .replace_session_cutoff(&caller, 0, &cutoff)
            .await
            .expect("write")
    );
    assert!(
        !storage
            .replace_session_cutoff(&caller, 0, &cutoff)
            .await
            .expect("write")
    );
    assert_eq!(storage.session_cutoff(&caller).await.expect("read").value, cutoff);
}

/// The timer contract: the message arrives, not before its delay.
/// Stock counts: read and written by version, and written with an order
/// change in one atomic write (both conditions hold, or nothing is written).
async fn stock_contract<S: Storage>(storage: &S) {
    let store = StoreId::new("stocked").expect("id");
    let none = storage.stock(&store).await.expect("read");
    assert_eq!((none.version, none.value.is_counted()), (0, false), "nothing counted");
    let input = StockInput {
        items: vec![StockCountInput {
            tag: "rice".into(),
            amount: 1.into(),
            unit: "kg".into(),
        }],
    };
    let counted = none.value.recounted(&input, 1).expect("valid");
    assert!(storage.replace_stock(&store, 0, &counted).await.expect("write"));
    assert!(
        !storage.replace_stock(&store, 0, &counted).await.expect("write"),
        "version 0 is gone"
    );
    let read = storage.stock(&store).await.expect("read");
    assert_eq!((read.version, &read.value), (1, &counted));
    let many = storage
        .stocks_of_many(&[StoreId::new("unknown").expect("id"), store.clone()])
        .await
        .expect("batch read");
    assert_eq!(many, vec![StockLedger::default(), counted.clone()]);

    // Four orders each need the last kilogram; each accept is decided on the
    // same ledger version: exactly one is written, with its hold.
    let mut orders = Vec::new();
    for _ in 0..4 {
        let order = Order::open(new_order("1 kg rice"), offers(&["stocked"]), 0, 60_000);
        insert(storage, &order).await;
        orders.push(order);
    }
    let (store_ref, read_ref) = (&store, &read);
    let attempts = orders.iter().map(|order| {
        let (store, read) = (store_ref, read_ref);
        let won = accept(order, "stocked", 10);
        let mut ledger = read.value.clone();
        assert_eq!(ledger.follow(store, order, &won), Ok(true));
        async move {
            storage
                .replace_order_and_stock(order, &won, store, read.version, &ledger)
                .await
                .expect("write")
        }
    });
    let written = futures_util::future::join_all(attempts).await;
    assert_eq!(written.iter().filter(|w| **w).count(), 1, "{written:?}");
    let after = storage.stock(&store).await.expect("read");
    assert_eq!(after.version, 2);
    assert_eq!(after.value.lines["rice"].available(), 0.into());
    for (order, written) in orders.iter().zip(&written) {
        let stored = storage.get_order(order.id()).await.expect("read").expect("exists");
        let status = if *written {
            OrderStatus::Accepted
        } else {
            OrderStatus::Searching
        };
        assert_eq!(
            stored.status(),
            status,
            "an order is written with its hold or not at all"
        );
    }
    // An order that moved on is not written, and neither is the ledger.
    let loser = orders
        .iter()
        .zip(&written)
        .find(|(_, w)| !**w)
        .map(|(o, _)| o)
        .expect("a loser");
    let stale = accept(loser, "stocked", 11);
    let Ok(Decision::Apply(moved)) = loser.decide(&Actor::Store(store.clone()), &Change::Decline, 11) else {
        panic!("a first decline changes the order");
    };
    assert!(storage.replace_order(loser, &moved).await.expect("write"));
    let mut ledger = after.value.clone();
    let rice = ledger.lines.get_mut("rice").expect("rice");
    rice.counted += rice.counted;
    assert!(
        !storage
            .replace_order_and_stock(loser, &stale, &store, after.version, &ledger)
            .await
            .expect("write")
    );
    assert_eq!(storage.stock(&store).await.expect("read"), after);
}

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

/// The text port: a text sent reaches exactly its number, word for word.
async fn text_contract<T: TextMessages>(texts: &T, sent_to: impl AsyncFn(&PhoneNumber) -> Option<String>) {
    let phone = PhoneNumber::new(&common::fresh_phone()).expect("phone");
    let other = PhoneNumber::new(&common::fresh_phone()).expect("phone");
    let text = "Your sign-in code is 424242. It expires in 5 minutes.";
    texts.send_text(&phone, text).await.expect("sent");
    assert_eq!(sent_to(&phone).await.as_deref(), Some(text));
    assert_eq!(sent_to(&other).await, None);
}

/// What notifications need stored: a notice is claimed once (and again
/// only after it may be forgotten), devices are read back by owner in one
/// batch, and receipts go to the verified number until the customer opts
/// out (and again after opting back in).
async fn notification_storage_contract<S: Storage>(storage: &S) {
    let key = format!("{}#accepted#0#customer:c1", ulid::Ulid::new());
    assert!(storage.claim_notice(&key, 1_000, 60_000).await.expect("claims"));
    assert!(
        !storage.claim_notice(&key, 2_000, 60_000).await.expect("reads"),
        "claimed once"
    );
    let other = format!("{key}-other");
    assert!(
        storage.claim_notice(&other, 2_000, 60_000).await.expect("claims"),
        "keys are apart"
    );

    let s1 = Caller::Store(StoreId::new(format!("s-{}", ulid::Ulid::new())).expect("id"));
    let s2 = Caller::Store(StoreId::new(format!("s-{}", ulid::Ulid::new())).expect("id"));
    let device = Device {
        endpoint: "arn:aws:sns:us-east-1:000000000000:endpoint/GCM/app/1".into(),
    };
    storage.put_device(&s1, &device).await.expect("stored");
    assert_eq!(
        storage
            .devices_of_many(&[s2.clone(), s1.clone(), s1.clone()])
            .await
            .expect("read"),
        vec![None, Some(device.clone()), Some(device)]
    );

    let customer = CustomerId::new(format!("c-{}", ulid::Ulid::new())).expect("id");
    assert_eq!(
        storage.receipt_phone(&customer).await.expect("read"),
        None,
        "no number yet"
    );
    let phone = PhoneNumber::new(&common::fresh_phone()).expect("phone");
    storage.set_phone(&customer, &phone).await.expect("stored");
    assert_eq!(
        storage.receipt_phone(&customer).await.expect("read"),
        Some(phone.clone())
    );
    storage.set_receipts_opt_out(&customer, true).await.expect("stored");
    assert_eq!(storage.receipt_phone(&customer).await.expect("read"), None, "opted out");
    assert_eq!(
        storage.phone_of(&customer).await.expect("read"),
        Some(phone.clone()),
        "the number stays"
    );
    storage.set_receipts_opt_out(&customer, false).await.expect("stored");
    assert_eq!(storage.receipt_phone(&customer).await.expect("read"), Some(phone));
}

/// The notification port: an SMS reaches its number word for word; a
/// device token registers an endpoint, and a push to it is recorded there.
async fn notifications_contract<N: Notifications>(notifications: &N, sent: impl AsyncFn() -> serde_json::Value) {
    let phone = PhoneNumber::new(&common::fresh_phone()).expect("phone");
    let text = format!("Receipt {}", ulid::Ulid::new());
    notifications.send_sms(&phone, &text).await.expect("sent");
    let token = DeviceToken::new(&format!("token-{}", ulid::Ulid::new())).expect("token");
    let device = notifications.register_device(&token).await.expect("registered");
    let payload = format!(r#"{{"type":"offer","n":"{}"}}"#, ulid::Ulid::new());
    notifications.push_to_device(&device, &payload).await.expect("pushed");
    let record = sent().await;
    let sms: Vec<&serde_json::Value> = record["sms"]
        .as_array()
        .expect("list")
        .iter()
        .filter(|s| s["phone_number"] == phone.as_e164())
        .collect();
    assert_eq!(sms.len(), 1);
    assert_eq!(sms[0]["message"], text.as_str());
    let pushes: Vec<&serde_json::Value> = record["push"]
        .as_array()
        .expect("list")
        .iter()
        .filter(|p| p["message"] == payload.as_str())
        .collect();
    assert_eq!(pushes.len(), 1);
    assert_eq!(pushes[0]["endpoint"], device.endpoint.as_str());
}

#[tokio::test]
async fn embedded_storage_meets_the_notification_contract() {
    notification_storage_contract(&MemoryStorage::default()).await;
}

#[tokio::test]
async fn embedded_notifications_meet_the_contract() {
    let notifications = EmbeddedNotifications::new(std::sync::Arc::new(EmbeddedTexts::default()));
    notifications_contract(&notifications, async || {
        serde_json::to_value(notifications.sent()).expect("JSON")
    })
    .await;
}

#[tokio::test]
async fn embedded_texts_meet_the_contract() {
    let texts = EmbeddedTexts::default();
    text_contract(&texts, async |phone| texts.last_text_to(phone)).await;
}

#[tokio::test]
async fn embedded_storage_meets_the_contract() {
    storage_contract(&MemoryStorage::default()).await;
}

#[tokio::test]
async fn embedded_storage_reads_at_most_the_items_asked_of_a_range() {
    cut_read_contract(&MemoryStorage::default()).await;
}

#[tokio::test]
async fn embedded_storage_counts_geo_entries_per_cell() {
    crowd_contract(&MemoryStorage::default()).await;
}

#[tokio::test]
async fn embedded_storage_meets_the_stock_contract() {
    stock_contract(&MemoryStorage::default()).await;
}

#[tokio::test]
async fn embedded_storage_finds_stores_on_both_sides_of_a_geo_partition_edge() {
    partition_edge_contract(&MemoryStorage::default()).await;
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
    hub.close(&id).await.expect("closed");
    assert_eq!(outbox.recv().await, Some(shared::embedded::SocketCommand::Close));
    let unknown = ConnectionId::new("no-such-connection").expect("id");
    assert!(matches!(hub.close(&unknown).await, Err(PushError::Gone)));
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
        socket.next_raw(LONG).await.expect("a frame").to_string()
    })
    .await;
    // DeleteConnection: the client sees the close; the id is then gone.
    pusher.close(&live).await.expect("closed");
    assert!(socket.next_raw(LONG).await.is_none(), "the socket closed");
    let deadline = tokio::time::Instant::now() + LONG;
    while !matches!(pusher.close(&live).await, Err(PushError::Gone)) {
        assert!(tokio::time::Instant::now() < deadline, "a closed socket is gone");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
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
    use shared::aws::{DynamoStorage, SnsTexts, SqsTimers, ensure_queue, ensure_table, sdk_config};

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

    /// Entries under the layout before issue 12 (resolution-3 partitions)
    /// move to the current one; an entry whose store was written since is
    /// dropped (that write indexed it already); the crowd counts are
    /// rebuilt from the entries (wrong and left-over ones replaced);
    /// running it again moves nothing and counts the same.
    #[tokio::test]
    async fn reindex_geo_moves_entries_from_the_old_partition_layout() {
        use aws_sdk_dynamodb::types::AttributeValue;
        use shared::ports::StoreRepo;
        let sdk = sdk().await;
        let client = aws_sdk_dynamodb::Client::new(&sdk);
        let table = unique("geo-reindex");
        ensure_table(&client, &table).await.expect("table created");
        let storage = DynamoStorage::new(client.clone(), table.clone());
        let kept = store_at("kept", "grocery", 0.0, 300.0, 5);
        let stale = store_at("stale", "grocery", 90.0, 300.0, 5);
        for store in [&kept, &stale] {
            storage.put_store(store).await.expect("put");
        }
        // Move both entries back to the old layout, as the old code wrote them.
        let geo_pk = |store: &Store, partition: u64| format!("GEO#{}#{partition:016x}", store.category);
        for store in [&kept, &stale] {
            let cell = store.location.store_cell();
            let old = u64::from(cell.parent(h3o::Resolution::Three).expect("coarser"));
            let new = u64::from(store_partition(store.location));
            let sk = format!("{:016x}#{}", store.location.geo_key(), store.id);
            let key = |pk: String| {
                std::collections::HashMap::from([
                    ("pk".to_string(), AttributeValue::S(pk)),
                    ("sk".to_string(), AttributeValue::S(sk.clone())),
                ])
            };
            let item = client
                .get_item()
                .table_name(&table)
                .set_key(Some(key(geo_pk(store, new))))
                .send()
                .await
                .expect("get")
                .item
                .expect("the entry under the current layout");
            let mut old_item = item.clone();
            old_item.extend(key(geo_pk(store, old)));
            client
                .put_item()
                .table_name(&table)
                .set_item(Some(old_item))
                .send()
                .await
                .expect("put old");
            client
                .delete_item()
                .table_name(&table)
                .set_key(Some(key(geo_pk(store, new))))
                .send()
                .await
                .expect("delete new");
        }
        let plan = search_plan(here(), 2_000.0, 8);
        let read = storage
            .stores_in_ranges("grocery", &plan, usize::MAX)
            .await
            .expect("read");
        assert!(
            read.stores.is_empty(),
            "old-layout entries are not found: {:?}",
            ids(&read.stores)
        );
        // The stale store is written again since (a newer profile and entry).
        let mut newer = stale.clone();
        newer.updated_at_ms = 6;
        storage.put_store(&newer).await.expect("update");

        // Counts from before they were kept right: wrong here (and one of
        // a coarser grain, as kept before the crowd cells were made finer),
        // and left over in a partition with no store.
        let crowd_item = |partition: h3o::CellIndex, cell: h3o::CellIndex, count: i64| {
            std::collections::HashMap::from([
                (
                    "pk".to_string(),
                    AttributeValue::S(format!("CROWD#grocery#{:016x}", u64::from(partition))),
                ),
                ("sk".to_string(), AttributeValue::S("CELLS".into())),
                (format!("c{:x}", u64::from(cell)), AttributeValue::N(count.to_string())),
            ])
        };
        let elsewhere = here().offset(0.0, 30_000.0);
        let coarse = kept.location.cell(h3o::Resolution::Eight);
        let mut wrong_here = crowd_item(store_partition(kept.location), store_crowd_cell(kept.location), 7);
        wrong_here.extend(crowd_item(store_partition(kept.location), coarse, 40));
        for item in [
            wrong_here,
            crowd_item(store_partition(elsewhere), store_crowd_cell(elsewhere), 3),
        ] {
            client
                .put_item()
                .table_name(&table)
                .set_item(Some(item))
                .send()
                .await
                .expect("put crowd item");
        }

        let before = storage
            .crowd_map("grocery", &[store_partition(kept.location)], &[])
            .await
            .expect("crowd map");
        assert_eq!(
            (before.count(store_crowd_cell(kept.location)), before.count(coarse)),
            (7, 0),
            "counts of another grain are not read"
        );

        let done = storage.reindex_geo().await.expect("reindex");
        assert_eq!((done.moved, done.dropped, done.current), (1, 1, 1));
        let read = storage
            .stores_in_ranges("grocery", &plan, usize::MAX)
            .await
            .expect("read");
        assert_eq!(ids(&read.stores), ["kept", "stale"]);
        let (stored, expected) = crowd_counts(&storage, "grocery", &[&kept, &newer], &[]).await;
        assert_eq!(stored, expected, "counts rebuilt from the entries");
        // The partition's crowd item, and a fine item per resolution-8 cell
        // holding a store.
        let fine_items: std::collections::BTreeSet<_> = [&kept, &newer]
            .iter()
            .map(|s| store_fine_crowd_cell(s.location).0)
            .collect();
        assert_eq!(done.crowd_items, 1 + fine_items.len());
        let left_over = storage
            .crowd_map("grocery", &[store_partition(elsewhere)], &[])
            .await
            .expect("crowd map");
        assert!(!left_over.is_known(), "a partition without entries keeps no counts");
        let again = storage.reindex_geo().await.expect("reindex again");
        assert_eq!((again.moved, again.dropped, again.current), (0, 0, 2));
        let (stored, expected) = crowd_counts(&storage, "grocery", &[&kept, &newer], &[]).await;
        assert_eq!(stored, expected, "the same counts again, not added twice");
    }

    #[tokio::test]
    async fn dynamodb_storage_reads_at_most_the_items_asked_of_a_range() {
        let sdk = sdk().await;
        let client = aws_sdk_dynamodb::Client::new(&sdk);
        let table = unique("cut-read");
        ensure_table(&client, &table).await.expect("table created");
        cut_read_contract(&DynamoStorage::new(client, table)).await;
    }

    #[tokio::test]
    async fn dynamodb_storage_counts_geo_entries_per_cell() {
        let sdk = sdk().await;
        let client = aws_sdk_dynamodb::Client::new(&sdk);
        let table = unique("crowd");
        ensure_table(&client, &table).await.expect("table created");
        crowd_contract(&DynamoStorage::new(client, table)).await;
    }

    #[tokio::test]
    async fn dynamodb_storage_finds_stores_on_both_sides_of_a_geo_partition_edge() {
        let sdk = sdk().await;
        let client = aws_sdk_dynamodb::Client::new(&sdk);
        let table = unique("geo-edge");
        ensure_table(&client, &table).await.expect("table created");
        partition_edge_contract(&DynamoStorage::new(client, table)).await;
    }

    #[tokio::test]
    async fn dynamodb_storage_meets_the_stock_contract() {
        let sdk = sdk().await;
        let client = aws_sdk_dynamodb::Client::new(&sdk);
        let table = unique("stock");
        ensure_table(&client, &table).await.expect("table created");
        stock_contract(&DynamoStorage::new(client, table)).await;
    }

    #[tokio::test]
    async fn dynamodb_storage_meets_the_notification_contract() {
        let sdk = sdk().await;
        let client = aws_sdk_dynamodb::Client::new(&sdk);
        let table = unique("contract");
        ensure_table(&client, &table).await.expect("table created");
        notification_storage_contract(&DynamoStorage::new(client, table)).await;
    }

    #[tokio::test]
    async fn sns_meets_the_notification_contract() {
        let sdk = sdk().await;
        let notifications = shared::wiring::emulated_sns_notifications(&sdk, &unique("push"))
            .await
            .expect("platform application");
        let endpoint = std::env::var("AWS_ENDPOINT_URL").expect("endpoint");
        notifications_contract(notifications.as_ref(), async || {
            reqwest::get(format!("{}/test-api/notifications", endpoint.trim_end_matches('/')))
                .await
                .expect("moto answers")
                .json()
                .await
                .expect("JSON")
        })
        .await;
    }

    #[tokio::test]
    async fn sns_meets_the_text_contract() {
        let sdk = sdk().await;
        let texts = SnsTexts::new(&sdk, Some("Orders".to_string()));
        let endpoint = std::env::var("AWS_ENDPOINT_URL").expect("endpoint");
        // What moto recorded, through tests/moto_server.py.
        text_contract(&texts, async |phone| {
            let recorded: serde_json::Value = reqwest::get(format!("{}/test-api/sms", endpoint.trim_end_matches('/')))
                .await
                .expect("moto answers")
                .json()
                .await
                .expect("JSON");
            recorded
                .as_array()?
                .iter()
                .rev()
                .filter(|sms| sms["phone_number"] == phone.as_e164())
                .find_map(|sms| sms["message"].as_str().map(str::to_string))
        })
        .await;
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
