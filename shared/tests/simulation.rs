//! A deterministic simulation of the whole system (issue 15, item 4): the
//! use cases over the embedded storage, driven by a manual clock and a
//! seeded scheduler that interleaves customers, stores, round timers,
//! fulfilment, pushes, socket churn and injected storage faults, with the
//! invariants checked after every step. `docs/simulation.md` says what is
//! simulated, what is promised and how to replay a seed:
//!
//! ```sh
//! SIM_SEED=42 SIM_DAYS=30 cargo test -p shared --test simulation -- --nocapture
//! SIM_SEEDS=2000 cargo test -p shared --release --test simulation -- --nocapture
//! ```

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};
use std::time::Instant;

use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
use rust_decimal::Decimal;
use shared::api::timer::handle_timer_batch;
use shared::domain::account::Account;
use shared::domain::clock::{Clock, ManualClock, Millis};
use shared::domain::config::OrderingConfig;
use shared::domain::customer::{HomeItem, PhoneNumber, merge_into_home};
use shared::domain::demand::{DemandItem, Quantity, Unit, parse_demand_text};
use shared::domain::geo::{CellRange, GeoPoint};
use shared::domain::idempotency::IdempotencyRecord;
use shared::domain::ids::{Caller, ConnectionId, CustomerId, OrderId, PromotionId, StoreId};
use shared::domain::limits::{OrderAllowance, SlidingWindow, Versioned};
use shared::domain::matching::CrowdMap;
use shared::domain::notification::Device;
use shared::domain::order::delivery::{DeliveryKind, DeliveryOption, default_delivery_options};
use shared::domain::order::money::{Paisa, PaymentMethod};
use shared::domain::order::packing::{LineState, PackOutcome};
use shared::domain::order::views::CustomerOrderView;
use shared::domain::order::{Order, OrderStatus, Step};
use shared::domain::promotion::{BuyerEntry, BuyerKey, PromotionConsent, ReceivedPromotion};
use shared::domain::sign_in::{CodeRecord, RefreshFamily, SessionCutoff};
use shared::domain::stock::StockLedger;
use shared::domain::store::{Store, StoreApplication, StoreProfileInput};
use shared::embedded::MemoryStorage;
use shared::ports::{
    AccountRepo, ApplicationRepo, Connection, ConnectionRepo, CustomerRepo, GeoRead, IdempotencyRepo, LimitRepo,
    NotificationRepo, OfferTimers, OrderRepo, PromotionRepo, PushError, Pusher, QueueError, RepoError, RoundTimer,
    SignInRepo, StockRepo, StoreRepo,
};
use shared::usecases::App;
use shared::usecases::ordering::OrderRequest;

// ---------------------------------------------------------------------------
// Knobs
// ---------------------------------------------------------------------------

/// Virtual days per seed and seeds per run when the environment says
/// nothing: enough for thousands of virtual days in well under a minute.
const DEFAULT_DAYS: u64 = 30;
const DEFAULT_SEEDS: u64 = 80;
/// Actions kept for the failure report.
const TRACE_TAIL: usize = 40;

const SECOND: Millis = 1_000;
const MINUTE: Millis = 60 * SECOND;
const HOUR: Millis = 60 * MINUTE;
const DAY: Millis = 24 * HOUR;
const WINDOW: Millis = MINUTE;
/// How long SQS hides a message whose handler failed.
const VISIBILITY: Millis = 30 * SECOND;
/// Receives before SQS moves a timer to the dead-letter queue.
const MAX_RECEIVES: u32 = 5;
const START: Millis = 1_800_000_000_000;
const STORES: usize = 10;
const CUSTOMERS: usize = 6;
/// Client retries of an action answered "unavailable".
const MAX_RETRIES: u32 = 3;

/// Per mille chances of each fault.
#[derive(Debug, Clone, Copy)]
struct FaultRates {
    storage: u64,
    queue: u64,
    push_failed: u64,
    push_lost: u64,
    push_duplicated: u64,
    timer_lost: u64,
    timer_duplicated: u64,
    timer_late: u64,
    timer_early: u64,
    /// A storage call yields to the other actions of its step first.
    interleave: u64,
}

const RATES: FaultRates = FaultRates {
    storage: 12,
    queue: 15,
    push_failed: 20,
    push_lost: 20,
    push_duplicated: 20,
    timer_lost: 30,
    timer_duplicated: 50,
    timer_late: 100,
    timer_early: 30,
    interleave: 500,
};

const DEMANDS: &[&str] = &[
    "1.2 kg rice, 600 g meat, spices",
    "2 kg rice",
    "1 l milk, 500 g lentils",
    "1 kg potatoes, 500 g onions, 250 g garlic",
    "2 kg rice, 1 l oil, 1 kg sugar",
    "500 g meat",
];

// ---------------------------------------------------------------------------
// A seeded random source (splitmix64: tiny, portable, stable forever)
// ---------------------------------------------------------------------------

#[derive(Debug, Clone)]
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Rng(seed)
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// 0 to `n - 1` (`n` > 0).
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    fn index(&mut self, len: usize) -> usize {
        usize::try_from(self.below(len as u64)).unwrap_or(0)
    }

    fn chance(&mut self, per_mille: u64) -> bool {
        self.below(1000) < per_mille
    }

    /// A whole number of `unit`s, 0 to `max` of them.
    fn steps(&mut self, max: u64, unit: Millis) -> Millis {
        i64::try_from(self.below(max + 1)).unwrap_or(0) * unit
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Pending once, then ready: lets the other actions of a step run, so
/// storage calls of racing use cases interleave.
struct YieldOnce(bool);

impl Future for YieldOnce {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            Poll::Ready(())
        } else {
            self.0 = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }
}

// ---------------------------------------------------------------------------
// Storage that fails on a seeded schedule
// ---------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    None,
    /// Failed; nothing was written.
    Before,
    /// Written, but the caller was told it failed (the answer was lost).
    After,
}

#[derive(Debug, Default)]
struct FaultBook {
    rng: Option<Rng>,
    armed: bool,
    /// (operation, "before"/"after") -> count.
    counts: BTreeMap<(&'static str, &'static str), u64>,
    /// Operations that failed in the current step.
    in_step: Vec<&'static str>,
    /// Faults a crash-point test asks for, in order: the next call of the
    /// named operation gets the fault, armed or not.
    script: VecDeque<(&'static str, Fault)>,
}

/// An order as written, in the order the writes were applied.
#[derive(Debug, Clone)]
struct Written {
    order: Order,
    /// The writer was told the write failed although it applied.
    told_failed: bool,
}

#[derive(Debug, Default)]
struct WriteLog {
    orders: Vec<Written>,
    /// Every `add_to_home` that applied: (customer, order, items).
    homes: Vec<(CustomerId, OrderId, Vec<HomeItem>)>,
}

/// `MemoryStorage` behind the same ports, failing chosen calls.
struct FaultyStorage {
    inner: MemoryStorage,
    book: Mutex<FaultBook>,
    log: Mutex<WriteLog>,
}

fn injected(op: &str) -> RepoError {
    RepoError::msg(format!("injected fault in {op}"))
}

impl FaultyStorage {
    fn new(seed: u64) -> Self {
        FaultyStorage {
            inner: MemoryStorage::default(),
            book: Mutex::new(FaultBook {
                rng: Some(Rng::new(seed)),
                ..FaultBook::default()
            }),
            log: Mutex::default(),
        }
    }

    async fn gate(&self, op: &'static str, write: bool) -> Fault {
        let (yield_first, fault) = {
            let mut book = lock(&self.book);
            if book.script.front().is_some_and(|(scripted, _)| *scripted == op) {
                let (_, fault) = book.script.pop_front().unwrap_or_else(|| unreachable!("looked at it"));
                return fault;
            }
            if !book.armed {
                return Fault::None;
            }
            let rng = book.rng.as_mut().unwrap_or_else(|| unreachable!("seeded at birth"));
            let yield_first = rng.chance(RATES.interleave);
            let fault = if !rng.chance(RATES.storage) {
                Fault::None
            } else if write && rng.chance(500) {
                Fault::After
            } else {
                Fault::Before
            };
            if fault != Fault::None {
                let kind = if fault == Fault::After {
                    "applied, answer lost"
                } else {
                    "failed"
                };
                *book.counts.entry((op, kind)).or_default() += 1;
                book.in_step.push(op);
            }
            (yield_first, fault)
        };
        if yield_first {
            YieldOnce(false).await;
        }
        fault
    }

    /// A read, or a write whose effect is not tracked: fails before.
    async fn plain(&self, op: &'static str, write: bool) -> Result<(), RepoError> {
        match self.gate(op, write).await {
            Fault::None => Ok(()),
            Fault::Before | Fault::After => Err(injected(op)),
        }
    }

    fn logged(&self, order: &Order, fault: Fault) {
        lock(&self.log).orders.push(Written {
            order: order.clone(),
            told_failed: fault == Fault::After,
        });
    }
}

impl StoreRepo for FaultyStorage {
    async fn put_store(&self, store: &Store) -> Result<(), RepoError> {
        self.plain("put_store", true).await?;
        self.inner.put_store(store).await
    }
    async fn replace_store(&self, current: Option<&Store>, next: &Store) -> Result<bool, RepoError> {
        self.plain("replace_store", true).await?;
        self.inner.replace_store(current, next).await
    }
    async fn get_store(&self, id: &StoreId) -> Result<Option<Store>, RepoError> {
        self.plain("get_store", false).await?;
        self.inner.get_store(id).await
    }
    async fn record_review(&self, store: &StoreId, stars: u8) -> Result<(), RepoError> {
        self.plain("record_review", true).await?;
        self.inner.record_review(store, stars).await
    }
    async fn record_acceptance(&self, store: &StoreId, took_ms: u64) -> Result<(), RepoError> {
        self.plain("record_acceptance", true).await?;
        self.inner.record_acceptance(store, took_ms).await
    }
    async fn stores_in_ranges(
        &self,
        category: &str,
        ranges: &[CellRange],
        per_range: usize,
    ) -> Result<GeoRead, RepoError> {
        self.plain("stores_in_ranges", false).await?;
        self.inner.stores_in_ranges(category, ranges, per_range).await
    }
    async fn crowd_map(
        &self,
        category: &str,
        partitions: &[h3o::CellIndex],
        fine_items: &[h3o::CellIndex],
    ) -> Result<CrowdMap, RepoError> {
        self.plain("crowd_map", false).await?;
        self.inner.crowd_map(category, partitions, fine_items).await
    }
}

impl OrderRepo for FaultyStorage {
    async fn insert_order(&self, order: &Order, allowance: &Versioned<OrderAllowance>) -> Result<bool, RepoError> {
        let fault = self.gate("insert_order", true).await;
        if fault == Fault::Before {
            return Err(injected("insert_order"));
        }
        let applied = self.inner.insert_order(order, allowance).await?;
        if applied {
            self.logged(order, fault);
        }
        if fault == Fault::After {
            return Err(injected("insert_order"));
        }
        Ok(applied)
    }
    async fn get_orders(&self, ids: &[OrderId]) -> Result<Vec<Order>, RepoError> {
        self.plain("get_orders", false).await?;
        self.inner.get_orders(ids).await
    }
    async fn get_order(&self, id: &OrderId) -> Result<Option<Order>, RepoError> {
        self.plain("get_order", false).await?;
        self.inner.get_order(id).await
    }
    async fn replace_order(&self, current: &Order, next: &Order) -> Result<bool, RepoError> {
        let fault = self.gate("replace_order", true).await;
        if fault == Fault::Before {
            return Err(injected("replace_order"));
        }
        let applied = self.inner.replace_order(current, next).await?;
        if applied {
            self.logged(next, fault);
        }
        if fault == Fault::After {
            return Err(injected("replace_order"));
        }
        Ok(applied)
    }
    async fn recent_orders_of_customer(
        &self,
        customer: &CustomerId,
        limit: usize,
        before: Option<&OrderId>,
    ) -> Result<Vec<Order>, RepoError> {
        self.plain("recent_orders_of_customer", false).await?;
        self.inner.recent_orders_of_customer(customer, limit, before).await
    }
    async fn orders_won_by(
        &self,
        store: &StoreId,
        limit: usize,
        before: Option<&OrderId>,
    ) -> Result<Vec<Order>, RepoError> {
        self.plain("orders_won_by", false).await?;
        self.inner.orders_won_by(store, limit, before).await
    }
    async fn orders_placed_between(
        &self,
        from_ms: Millis,
        to_ms: Millis,
        limit: usize,
    ) -> Result<Vec<Order>, RepoError> {
        self.plain("orders_placed_between", false).await?;
        self.inner.orders_placed_between(from_ms, to_ms, limit).await
    }
    async fn open_offers_for_store(&self, store: &StoreId, now: Millis) -> Result<Vec<Order>, RepoError> {
        self.plain("open_offers_for_store", false).await?;
        self.inner.open_offers_for_store(store, now).await
    }
}

impl ConnectionRepo for FaultyStorage {
    async fn put_connection(&self, connection: &Connection) -> Result<(), RepoError> {
        let fault = self.gate("put_connection", true).await;
        if fault == Fault::Before {
            return Err(injected("put_connection"));
        }
        self.inner.put_connection(connection).await?;
        if fault == Fault::After {
            return Err(injected("put_connection"));
        }
        Ok(())
    }
    async fn get_connection(&self, id: &ConnectionId) -> Result<Option<Connection>, RepoError> {
        self.plain("get_connection", false).await?;
        self.inner.get_connection(id).await
    }
    async fn delete_connection(&self, id: &ConnectionId) -> Result<Option<Connection>, RepoError> {
        let fault = self.gate("delete_connection", true).await;
        if fault == Fault::Before {
            return Err(injected("delete_connection"));
        }
        let removed = self.inner.delete_connection(id).await?;
        if fault == Fault::After {
            return Err(injected("delete_connection"));
        }
        Ok(removed)
    }
    async fn connections_of_many(&self, owners: &[Caller]) -> Result<Vec<Vec<ConnectionId>>, RepoError> {
        self.plain("connections_of_many", false).await?;
        self.inner.connections_of_many(owners).await
    }
}

impl CustomerRepo for FaultyStorage {
    async fn set_phone(&self, customer: &CustomerId, phone: &PhoneNumber) -> Result<(), RepoError> {
        self.plain("set_phone", true).await?;
        self.inner.set_phone(customer, phone).await
    }
    async fn phone_of(&self, customer: &CustomerId) -> Result<Option<PhoneNumber>, RepoError> {
        self.plain("phone_of", false).await?;
        self.inner.phone_of(customer).await
    }
    async fn add_to_home(&self, customer: &CustomerId, order: &OrderId, items: &[HomeItem]) -> Result<(), RepoError> {
        let fault = self.gate("add_to_home", true).await;
        if fault == Fault::Before {
            return Err(injected("add_to_home"));
        }
        self.inner.add_to_home(customer, order, items).await?;
        lock(&self.log)
            .homes
            .push((customer.clone(), order.clone(), items.to_vec()));
        if fault == Fault::After {
            return Err(injected("add_to_home"));
        }
        Ok(())
    }
    async fn home_of(&self, customer: &CustomerId) -> Result<Vec<HomeItem>, RepoError> {
        self.plain("home_of", false).await?;
        self.inner.home_of(customer).await
    }
    async fn set_home_item(&self, customer: &CustomerId, key: &str, item: Option<HomeItem>) -> Result<(), RepoError> {
        self.plain("set_home_item", true).await?;
        self.inner.set_home_item(customer, key, item).await
    }
}

impl LimitRepo for FaultyStorage {
    async fn order_allowance(&self, customer: &CustomerId) -> Result<Versioned<OrderAllowance>, RepoError> {
        self.plain("order_allowance", false).await?;
        self.inner.order_allowance(customer).await
    }
    async fn rate_window(&self, key: &str) -> Result<Versioned<SlidingWindow>, RepoError> {
        self.inner.rate_window(key).await
    }
    async fn replace_rate_window(&self, key: &str, version: u64, next: &SlidingWindow) -> Result<bool, RepoError> {
        self.inner.replace_rate_window(key, version, next).await
    }
}

impl IdempotencyRepo for FaultyStorage {
    async fn idempotency_record(&self, scope: &str) -> Result<Versioned<Option<IdempotencyRecord>>, RepoError> {
        self.inner.idempotency_record(scope).await
    }
    async fn replace_idempotency_record(
        &self,
        scope: &str,
        version: u64,
        next: &IdempotencyRecord,
    ) -> Result<bool, RepoError> {
        self.inner.replace_idempotency_record(scope, version, next).await
    }
}

// Sign-in and store applications are outside what the simulation drives:
// plain pass-throughs, so the wrapper is still the whole `Storage`.
impl SignInRepo for FaultyStorage {
    async fn code_record(&self, phone: &PhoneNumber) -> Result<Versioned<CodeRecord>, RepoError> {
        self.inner.code_record(phone).await
    }
    async fn replace_code_record(
        &self,
        phone: &PhoneNumber,
        version: u64,
        next: &CodeRecord,
        forget_after_ms: Millis,
    ) -> Result<bool, RepoError> {
        self.inner
            .replace_code_record(phone, version, next, forget_after_ms)
            .await
    }
    async fn refresh_family(&self, family: &str) -> Result<Versioned<Option<RefreshFamily>>, RepoError> {
        self.inner.refresh_family(family).await
    }
    async fn replace_refresh_family(
        &self,
        family: &str,
        version: u64,
        next: &RefreshFamily,
    ) -> Result<bool, RepoError> {
        self.inner.replace_refresh_family(family, version, next).await
    }
    async fn session_cutoff(&self, caller: &Caller) -> Result<Versioned<SessionCutoff>, RepoError> {
        self.inner.session_cutoff(caller).await
    }
    async fn replace_session_cutoff(
        &self,
        caller: &Caller,
        version: u64,
        next: &SessionCutoff,
    ) -> Result<bool, RepoError> {
        self.inner.replace_session_cutoff(caller, version, next).await
    }
}

impl ApplicationRepo for FaultyStorage {
    async fn insert_application(&self, application: &StoreApplication) -> Result<bool, RepoError> {
        self.inner.insert_application(application).await
    }
    async fn application(&self, store: &StoreId) -> Result<Option<StoreApplication>, RepoError> {
        self.inner.application(store).await
    }
    async fn pending_applications(
        &self,
        limit: usize,
        after: Option<&StoreId>,
    ) -> Result<Vec<StoreApplication>, RepoError> {
        self.inner.pending_applications(limit, after).await
    }
}

impl StockRepo for FaultyStorage {
    async fn stock(&self, store: &StoreId) -> Result<Versioned<StockLedger>, RepoError> {
        self.plain("stock", false).await?;
        self.inner.stock(store).await
    }
    async fn stocks_of_many(&self, stores: &[StoreId]) -> Result<Vec<StockLedger>, RepoError> {
        self.plain("stocks_of_many", false).await?;
        self.inner.stocks_of_many(stores).await
    }
    async fn replace_stock(&self, store: &StoreId, version: u64, next: &StockLedger) -> Result<bool, RepoError> {
        self.plain("replace_stock", true).await?;
        self.inner.replace_stock(store, version, next).await
    }
    async fn replace_order_and_stock(
        &self,
        current: &Order,
        next: &Order,
        store: &StoreId,
        version: u64,
        ledger: &StockLedger,
    ) -> Result<bool, RepoError> {
        let fault = self.gate("replace_order", true).await;
        if fault == Fault::Before {
            return Err(injected("replace_order"));
        }
        let applied = self
            .inner
            .replace_order_and_stock(current, next, store, version, ledger)
            .await?;
        if applied {
            self.logged(next, fault);
        }
        if fault == Fault::After {
            return Err(injected("replace_order"));
        }
        Ok(applied)
    }
}

/// Notifications are never sent in the simulation (no notifications port):
/// their records pass through without faults.
impl NotificationRepo for FaultyStorage {
    async fn claim_notice(&self, key: &str, now: Millis, keep_ms: Millis) -> Result<bool, RepoError> {
        self.inner.claim_notice(key, now, keep_ms).await
    }
    async fn put_device(&self, owner: &Caller, device: &Device) -> Result<(), RepoError> {
        self.inner.put_device(owner, device).await
    }
    async fn devices_of_many(&self, owners: &[Caller]) -> Result<Vec<Option<Device>>, RepoError> {
        self.inner.devices_of_many(owners).await
    }
    async fn receipt_phone(&self, customer: &CustomerId) -> Result<Option<PhoneNumber>, RepoError> {
        self.inner.receipt_phone(customer).await
    }
    async fn set_receipts_opt_out(&self, customer: &CustomerId, opted_out: bool) -> Result<(), RepoError> {
        self.inner.set_receipts_opt_out(customer, opted_out).await
    }
}

/// Promotions pass through: the simulation does not send any.
impl PromotionRepo for FaultyStorage {
    async fn promotion_consent(&self, customer: &CustomerId) -> Result<Versioned<PromotionConsent>, RepoError> {
        self.inner.promotion_consent(customer).await
    }
    async fn replace_promotion_consent(
        &self,
        customer: &CustomerId,
        version: u64,
        next: &PromotionConsent,
        add: &[BuyerEntry],
        remove: &[BuyerKey],
    ) -> Result<bool, RepoError> {
        self.inner
            .replace_promotion_consent(customer, version, next, add, remove)
            .await
    }
    async fn buyers(&self, keys: &[BuyerKey]) -> Result<Vec<BuyerEntry>, RepoError> {
        self.inner.buyers(keys).await
    }
    async fn deliver_promotion(&self, customer: &CustomerId, received: &ReceivedPromotion) -> Result<bool, RepoError> {
        self.inner.deliver_promotion(customer, received).await
    }
    async fn received_promotions(
        &self,
        customer: &CustomerId,
        now: Millis,
    ) -> Result<Vec<ReceivedPromotion>, RepoError> {
        self.inner.received_promotions(customer, now).await
    }
    async fn received_promotion(
        &self,
        customer: &CustomerId,
        id: &PromotionId,
    ) -> Result<Option<ReceivedPromotion>, RepoError> {
        self.inner.received_promotion(customer, id).await
    }
}

impl AccountRepo for FaultyStorage {
    async fn account(&self, phone: &PhoneNumber) -> Result<Versioned<Account>, RepoError> {
        self.inner.account(phone).await
    }
    async fn replace_account(&self, phone: &PhoneNumber, version: u64, next: &Account) -> Result<bool, RepoError> {
        self.inner.replace_account(phone, version, next).await
    }
}

// ---------------------------------------------------------------------------
// The timer queue and the push gateway, as the simulation sees them
// ---------------------------------------------------------------------------

#[derive(Debug, Default)]
struct TimerBook {
    rng: Option<Rng>,
    armed: bool,
    /// Sent since the scheduler last looked: (timer, delay).
    sent: Vec<(RoundTimer, Millis)>,
    refused: u64,
}

/// SQS as the use cases see it: takes messages (or refuses, on a seeded
/// schedule); the scheduler decides when, how often and whether each
/// arrives.
struct SimTimers(Mutex<TimerBook>);

impl OfferTimers for SimTimers {
    async fn schedule_round_close(&self, timer: &RoundTimer, delay_ms: Millis) -> Result<(), QueueError> {
        let mut book = lock(&self.0);
        if book.armed && book.rng.as_mut().is_some_and(|r| r.chance(RATES.queue)) {
            book.refused += 1;
            return Err(QueueError("injected: queue unavailable".into()));
        }
        book.sent.push((timer.clone(), delay_ms));
        Ok(())
    }
}

/// One push the system sent, as the gateway saw it.
#[derive(Debug, Clone)]
struct Attempt {
    connection: String,
    payload: String,
}

#[derive(Debug, Default)]
struct PushBook {
    rng: Option<Rng>,
    armed: bool,
    /// Sockets the client has closed (or lost): the gateway answers 410.
    gone: HashSet<String>,
    attempts: Vec<Attempt>,
    /// What reached a client, not yet read by the simulation.
    delivered: Vec<Attempt>,
    failed: u64,
    lost: u64,
    duplicated: u64,
    gone_answers: u64,
}

/// `PostToConnection`: records every push, and fails, loses or doubles
/// some on a seeded schedule.
struct SimPusher(Mutex<PushBook>);

impl Pusher for SimPusher {
    async fn close(&self, connection: &ConnectionId) -> Result<(), PushError> {
        lock(&self.0).gone.insert(connection.to_string());
        Ok(())
    }
    async fn push(&self, connection: &ConnectionId, payload: &str) -> Result<(), PushError> {
        let mut book = lock(&self.0);
        let attempt = Attempt {
            connection: connection.to_string(),
            payload: payload.to_string(),
        };
        book.attempts.push(attempt.clone());
        if book.gone.contains(connection.as_str()) {
            book.gone_answers += 1;
            return Err(PushError::Gone);
        }
        let armed = book.armed;
        let rng = book.rng.as_mut().unwrap_or_else(|| unreachable!("seeded at birth"));
        let (failed, lost, doubled) = if armed {
            (
                rng.chance(RATES.push_failed),
                rng.chance(RATES.push_lost),
                rng.chance(RATES.push_duplicated),
            )
        } else {
            (false, false, false)
        };
        if failed {
            book.failed += 1;
            return Err(PushError::Failed("injected: gateway unavailable".into()));
        }
        if lost {
            book.lost += 1;
            return Ok(());
        }
        book.delivered.push(attempt.clone());
        if doubled {
            book.duplicated += 1;
            book.delivered.push(attempt);
        }
        Ok(())
    }
}

type SimApp = App<FaultyStorage, SimTimers, SimPusher>;

// ---------------------------------------------------------------------------
// What the simulated parties do
// ---------------------------------------------------------------------------

/// Who takes a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Who {
    Customer(usize),
    Store(usize),
}

#[derive(Debug, Clone)]
enum Action {
    /// Sim-level: the next customer arrives (and the one after is planned).
    Arrivals,
    /// Sim-level: a socket opens or closes, a store opens or closes.
    Churn,
    /// Sim-level: the fulfilment of an order takes its next step.
    Drive {
        order: usize,
    },
    Place {
        customer: usize,
        /// The placement (a tap, with its idempotency key): every attempt
        /// writes under the order id reserved for it.
        placement: usize,
        demand: usize,
        far: bool,
        delivery: Option<DeliveryKind>,
        attempt: u32,
    },
    Accept {
        store: usize,
        order: usize,
        attempt: u32,
    },
    Decline {
        store: usize,
        order: usize,
    },
    Timer {
        timer: RoundTimer,
        order: usize,
        receives: u32,
    },
    Read {
        customer: usize,
        order: usize,
    },
    Cancel {
        customer: usize,
        order: usize,
        attempt: u32,
    },
    GiveBack {
        store: usize,
        order: usize,
    },
    Step {
        who: Who,
        order: usize,
        step: Step,
        attempt: u32,
    },
    Connect {
        who: Who,
        socket: usize,
    },
    Disconnect {
        socket: usize,
        clean: bool,
    },
    SetOpen {
        store: usize,
        open: bool,
    },
}

/// What an action came to.
#[derive(Debug, Default)]
struct Outcome {
    text: String,
    /// Answered "unavailable": the client may retry.
    unavailable: bool,
    order: Option<Order>,
    /// The timer consumer reported the message failed (SQS redelivers).
    timer_failed: bool,
    /// Accepted: the order and the winner.
    accepted: bool,
    /// A step refused that must never succeed, succeeded.
    forbidden_succeeded: bool,
}

impl Outcome {
    fn said(text: impl Into<String>) -> Self {
        Outcome {
            text: text.into(),
            ..Outcome::default()
        }
    }
}

fn unavailable(text: String) -> Outcome {
    Outcome {
        text,
        unavailable: true,
        ..Outcome::default()
    }
}

fn store_id(i: usize) -> StoreId {
    StoreId::new(format!("store-{i:02}")).unwrap_or_else(|_| unreachable!("valid id"))
}

fn store_name(i: usize) -> String {
    format!("Shop {i:02} Corner")
}

fn customer_id(i: usize) -> CustomerId {
    CustomerId::new(format!("cust-{i:02}")).unwrap_or_else(|_| unreachable!("valid id"))
}

fn caller(who: Who) -> Caller {
    match who {
        Who::Customer(c) => Caller::Customer(customer_id(c)),
        Who::Store(s) => Caller::Store(store_id(s)),
    }
}

fn centre() -> GeoPoint {
    GeoPoint::new(23.7925, 90.4078).unwrap_or_else(|_| unreachable!("valid point"))
}

/// Store `i`'s delivery terms: pickup only, helper only, or the defaults.
fn store_terms(i: usize) -> Vec<DeliveryOption> {
    match i % 3 {
        0 => vec![DeliveryOption::Pickup { ready_in_minutes: 20 }],
        1 => vec![
            DeliveryOption::Pickup { ready_in_minutes: 15 },
            DeliveryOption::HelperDelivery {
                within_minutes: 45,
                fee_paisa: 2_500,
            },
        ],
        _ => default_delivery_options(),
    }
}

fn store_profile(i: usize, open: bool) -> StoreProfileInput {
    let at = centre().offset((i * 36) as f64, 150.0 + 130.0 * i as f64);
    let terms = if i % 3 == 2 {
        serde_json::Value::Null
    } else {
        serde_json::to_value(store_terms(i)).unwrap_or_default()
    };
    serde_json::from_value(serde_json::json!({
        "name": store_name(i),
        "location": {"lat": at.lat(), "lng": at.lng()},
        "category": "grocery",
        "tags": ["rice", "meat", "milk", "lentils", "potatoes", "oil"],
        "open": open,
        "delivery_options": terms,
    }))
    .unwrap_or_else(|e| panic!("store profile: {e}"))
}

/// Runs one action against the system. Pure with respect to the
/// simulation's own state: everything it learns is in the outcome.
async fn run(
    app: &SimApp,
    action: Action,
    orders: &[OrderId],
    placements: &[OrderId],
    sockets: &[ConnectionId],
) -> Outcome {
    let id = |i: usize| orders[i].clone();
    match action {
        Action::Arrivals | Action::Churn | Action::Drive { .. } => Outcome::said("sim"),
        Action::Place {
            customer,
            placement,
            demand,
            far,
            delivery,
            ..
        } => {
            let items: Vec<DemandItem> =
                parse_demand_text(DEMANDS[demand]).unwrap_or_else(|e| panic!("demand parses: {e}"));
            let location = if far {
                centre().offset(90.0, 12_000.0)
            } else {
                centre().offset((customer * 60) as f64, 300.0 + 100.0 * customer as f64)
            };
            let request = OrderRequest {
                items,
                location,
                delivery: delivery.map(|k| (k, None)),
                payment: PaymentMethod::CashOnDelivery,
                address: None,
            };
            let id = placements[placement].clone();
            match app.ordering().place(&customer_id(customer), request, id).await {
                Ok(order) => Outcome {
                    text: format!("placed: {}", order.status().as_str()),
                    order: Some(order),
                    ..Outcome::default()
                },
                Err(shared::usecases::ordering::PlaceOrderError::Unavailable(e)) => unavailable(format!("{e}")),
                Err(e) => Outcome::said(format!("refused: {e}")),
            }
        }
        Action::Accept { store, order, .. } => match app.ordering().accept(&store_id(store), &id(order)).await {
            Ok(o) => Outcome {
                text: "won".into(),
                order: Some(o),
                accepted: true,
                ..Outcome::default()
            },
            Err(shared::usecases::ordering::AcceptError::Unavailable(e)) => unavailable(format!("{e}")),
            Err(e) => Outcome::said(format!("refused: {e}")),
        },
        Action::Decline { store, order } => match app.ordering().decline(&store_id(store), &id(order)).await {
            Ok(_) => Outcome::said("declined"),
            Err(e) => Outcome::said(format!("refused: {e}")),
        },
        Action::Timer { timer, receives, .. } => {
            let mut record = SqsMessage::default();
            record.message_id = Some(format!("timer-{}-{receives}", timer.round));
            record.body = Some(serde_json::to_string(&timer).unwrap_or_default());
            let mut event = SqsEvent::default();
            event.records = vec![record];
            let response = handle_timer_batch(app, event).await;
            let failed = !response.batch_item_failures.is_empty();
            Outcome {
                text: if failed {
                    "timer failed".into()
                } else {
                    "timer done".into()
                },
                timer_failed: failed,
                ..Outcome::default()
            }
        }
        Action::Read { customer, order } => {
            match app.ordering().customer_order(&customer_id(customer), &id(order)).await {
                Ok(o) => Outcome {
                    text: format!("read: {} round {}", o.status().as_str(), o.round()),
                    order: Some(o),
                    ..Outcome::default()
                },
                Err(e) => Outcome::said(format!("read failed: {e}")),
            }
        }
        Action::Cancel { customer, order, .. } => {
            match app.ordering().cancel(&customer_id(customer), &id(order)).await {
                Ok(o) => Outcome {
                    text: "cancelled".into(),
                    order: Some(o),
                    ..Outcome::default()
                },
                Err(shared::usecases::ordering::CancelError::Unavailable(e)) => unavailable(format!("{e}")),
                Err(e) => Outcome::said(format!("refused: {e}")),
            }
        }
        Action::GiveBack { store, order } => {
            match app
                .ordering()
                .give_back(&store_id(store), &id(order), "out of stock")
                .await
            {
                Ok(o) => Outcome::said(format!("given back: {}", o.status().as_str())),
                Err(e) => Outcome::said(format!("refused: {e}")),
            }
        }
        Action::Step { who, order, step, .. } => {
            let stranger = matches!(who, Who::Store(s) if s >= STORES);
            let who = match who {
                Who::Store(s) if s >= STORES => Who::Store(s - STORES),
                w => w,
            };
            match app.fulfilment().take(&caller(who), &id(order), &step).await {
                Ok(o) => Outcome {
                    text: format!("step ok: {}", o.status().as_str()),
                    order: Some(o),
                    forbidden_succeeded: stranger,
                    ..Outcome::default()
                },
                Err(shared::usecases::fulfilment::StepError::Unavailable(e)) => unavailable(format!("{e}")),
                Err(e) => Outcome::said(format!("refused: {e}")),
            }
        }
        Action::Connect { who, socket } => {
            let socket = sockets[socket].clone();
            match app.connections().connect(socket.clone(), caller(who)).await {
                Ok(()) => {
                    if let Who::Store(s) = who {
                        match app.connections().resend_offers(&socket, &store_id(s)).await {
                            Ok(n) => Outcome::said(format!("connected, {n} offers resent")),
                            Err(e) => Outcome::said(format!("connected, resend failed: {e}")),
                        }
                    } else {
                        Outcome::said("connected")
                    }
                }
                Err(e) => Outcome::said(format!("connect failed: {e}")),
            }
        }
        Action::Disconnect { socket, clean } => {
            if clean {
                match app.connections().disconnect(&sockets[socket]).await {
                    Ok(()) => Outcome::said("disconnected"),
                    Err(e) => Outcome::said(format!("disconnect failed: {e}")),
                }
            } else {
                Outcome::said("socket lost without $disconnect")
            }
        }
        Action::SetOpen { store, open } => {
            match app
                .stores()
                .register(&caller(Who::Store(store)), store_id(store), store_profile(store, open))
                .await
            {
                Ok(_) => Outcome::said(if open { "opened" } else { "closed" }),
                Err(e) => Outcome::said(format!("profile write failed: {e}")),
            }
        }
    }
}

// ---------------------------------------------------------------------------
// The simulation
// ---------------------------------------------------------------------------

#[derive(Debug, Default)]
struct SimOrder {
    customer: usize,
    /// The winner at each version (index = version - 1).
    winners: Vec<Option<usize>>,
    /// The first winner of each round.
    round_winner: HashMap<u32, usize>,
    last: Option<Order>,
    driving: bool,
    /// Prices the store sent for each line.
    prices: HashMap<usize, Vec<u64>>,
    completed_bill: Option<String>,
    read_pending: u32,
}

#[derive(Debug)]
struct SimSocket {
    id: ConnectionId,
    owner: Who,
    open: bool,
}

/// Figures for the report.
#[derive(Debug, Default, Clone)]
struct Figures {
    seeds: u64,
    virtual_ms: i64,
    steps: u64,
    actions: u64,
    orders: u64,
    by_status: BTreeMap<&'static str, u64>,
    accepts_won: u64,
    accepts_refused: u64,
    racing_steps: u64,
    retries: u64,
    timers_delivered: u64,
    timers_lost: u64,
    timers_duplicated: u64,
    timers_late: u64,
    timers_early: u64,
    timers_redelivered: u64,
    timers_dead_lettered: u64,
    rounds_closed_by_reads: u64,
    storage_faults: BTreeMap<String, u64>,
    queue_refusals: u64,
    pushes: u64,
    pushes_failed: u64,
    pushes_lost: u64,
    pushes_duplicated: u64,
    pushes_gone: u64,
    duplicates_dropped_by_apps: u64,
    invariant_checks: u64,
    /// New orders whose writer was told the write failed.
    placements_with_lost_answer: u64,
    /// Placements whose retry found the order an earlier attempt wrote.
    placements_found_by_retry: u64,
    /// Orders written twice for one placement, or for none (must stay 0).
    placements_doubled: u64,
    /// Completions confirmed again after every retry failed (the app keeps
    /// the tap and sends it once the service answers).
    completions_sent_later: u64,
    writes_with_lost_answer: u64,
    push_checks_skipped: u64,
    trace_digest: u64,
}

impl Figures {
    fn add(&mut self, o: &Figures) {
        macro_rules! sum { ($($f:ident),*) => { $( self.$f += o.$f; )* } }
        sum!(
            seeds,
            virtual_ms,
            steps,
            actions,
            orders,
            accepts_won,
            accepts_refused,
            racing_steps,
            retries,
            timers_delivered,
            timers_lost,
            timers_duplicated,
            timers_late,
            timers_early,
            timers_redelivered,
            timers_dead_lettered,
            rounds_closed_by_reads,
            queue_refusals,
            pushes,
            pushes_failed,
            pushes_lost,
            pushes_duplicated,
            pushes_gone,
            duplicates_dropped_by_apps,
            invariant_checks,
            placements_with_lost_answer,
            placements_found_by_retry,
            placements_doubled,
            completions_sent_later,
            writes_with_lost_answer,
            push_checks_skipped
        );
        for (k, v) in &o.by_status {
            *self.by_status.entry(k).or_default() += v;
        }
        for (k, v) in &o.storage_faults {
            *self.storage_faults.entry(k.clone()).or_default() += v;
        }
        self.trace_digest = self.trace_digest.rotate_left(7) ^ o.trace_digest;
    }
}

struct Sim {
    seed: u64,
    days: u64,
    rng: Rng,
    clock: Arc<ManualClock>,
    app: SimApp,
    queue: BTreeMap<(Millis, u64), Action>,
    next_seq: u64,
    step: u64,
    trace: VecDeque<String>,
    digest: u64,
    orders: Vec<SimOrder>,
    order_ids: Vec<OrderId>,
    index: HashMap<String, usize>,
    sockets: Vec<SimSocket>,
    socket_ids: Vec<ConnectionId>,
    socket_owner: HashMap<String, Who>,
    open: Vec<bool>,
    /// Round timers still to arrive, by (order, round).
    timers_pending: HashMap<(usize, u32), u32>,
    /// (owner, event id) each app has seen: duplicates are dropped.
    seen_events: HashSet<(String, String)>,
    /// Offers each store app has answered: (store, order, version).
    answered: HashSet<(usize, usize, u64)>,
    /// event id -> (owner, order, version, type).
    event_ids: HashMap<String, (String, String, u64, String)>,
    /// (owner, order, version, type) pushed at least once.
    pushed: HashSet<(String, String, u64, String)>,
    writes_seen: usize,
    homes_seen: usize,
    attempts_seen: usize,
    expected_home: HashMap<usize, (Vec<HomeItem>, HashSet<OrderId>)>,
    live: HashSet<usize>,
    /// (party, order, version, event type) a write of this step owes.
    pending_pushes: Vec<(Who, String, u64, &'static str)>,
    /// Orders completed by a write whose answer was lost.
    /// The order id reserved for each placement.
    placements: Vec<OrderId>,
    placement_of: HashMap<OrderId, usize>,
    /// Orders written (at version 1), with the step that wrote them.
    placed: HashMap<OrderId, u64>,
    /// Taps every retry of which failed, kept by the apps to send later.
    pending_taps: Vec<Action>,
    figures: Figures,
    ending: bool,
}

fn digest(mut h: u64, text: &str) -> u64 {
    for b in text.bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01B3);
    }
    h
}

impl Sim {
    fn new(seed: u64, days: u64) -> Self {
        let clock = Arc::new(ManualClock::at(START));
        let mut master = Rng::new(seed);
        let storage = FaultyStorage::new(master.next());
        let timers = SimTimers(Mutex::new(TimerBook {
            rng: Some(Rng::new(master.next())),
            ..TimerBook::default()
        }));
        let pusher = SimPusher(Mutex::new(PushBook {
            rng: Some(Rng::new(master.next())),
            ..PushBook::default()
        }));
        let config = OrderingConfig {
            offer_window_ms: WINDOW,
            stores_per_round: 3,
            max_rounds: 3,
            ..OrderingConfig::default()
        };
        let app = App::new(storage, timers, pusher, Arc::clone(&clock) as Arc<dyn Clock>, config);
        Sim {
            seed,
            days,
            rng: Rng::new(master.next()),
            clock,
            app,
            queue: BTreeMap::new(),
            next_seq: 0,
            step: 0,
            trace: VecDeque::new(),
            digest: 0xCBF2_9CE4_8422_2325,
            orders: Vec::new(),
            order_ids: Vec::new(),
            index: HashMap::new(),
            sockets: Vec::new(),
            socket_ids: Vec::new(),
            socket_owner: HashMap::new(),
            open: vec![true; STORES],
            timers_pending: HashMap::new(),
            seen_events: HashSet::new(),
            answered: HashSet::new(),
            event_ids: HashMap::new(),
            pushed: HashSet::new(),
            writes_seen: 0,
            homes_seen: 0,
            attempts_seen: 0,
            expected_home: HashMap::new(),
            live: HashSet::new(),
            pending_pushes: Vec::new(),
            placements: Vec::new(),
            placement_of: HashMap::new(),
            placed: HashMap::new(),
            pending_taps: Vec::new(),
            figures: Figures {
                seeds: 1,
                ..Figures::default()
            },
            ending: false,
        }
    }

    fn now(&self) -> Millis {
        self.clock.now_ms()
    }

    /// A new placement and the order id reserved for it (as the HTTP edge
    /// reserves one under the tap's idempotency key).
    fn reserve_placement(&mut self) -> usize {
        let id = OrderId::generate();
        self.placement_of.insert(id.clone(), self.placements.len());
        self.placements.push(id);
        self.placements.len() - 1
    }

    fn at(&mut self, when: Millis, action: Action) {
        if let Action::Timer { order, timer, .. } = &action {
            *self.timers_pending.entry((*order, timer.round)).or_default() += 1;
        }
        if let Action::Read { order, .. } = &action {
            self.orders[*order].read_pending += 1;
        }
        self.next_seq += 1;
        self.queue.insert((when.max(self.now()), self.next_seq), action);
    }

    fn note(&mut self, text: String) {
        self.digest = digest(self.digest, &text);
        if self.trace.len() == TRACE_TAIL {
            self.trace.pop_front();
        }
        self.trace.push_back(text);
    }

    fn fail(&self, why: &str) -> ! {
        let tail: Vec<&str> = self.trace.iter().map(String::as_str).collect();
        panic!(
            "simulation invariant broken: {why}\n  seed {} step {} virtual time +{} ms (day {})\n  replay: SIM_SEED={} SIM_DAYS={} cargo test -p shared --test simulation -- --nocapture\n  last {} actions:\n    {}",
            self.seed,
            self.step,
            self.now() - START,
            (self.now() - START) / DAY,
            self.seed,
            self.days,
            tail.len(),
            tail.join("\n    ")
        );
    }

    fn arm(&self, armed: bool) {
        lock(&self.app.storage().book).armed = armed;
        lock(&self.app.timers().0).armed = armed;
        lock(&self.app.pusher().0).armed = armed;
    }

    fn new_socket(&mut self, owner: Who) -> usize {
        let n = self.sockets.len();
        let id = ConnectionId::new(format!("sock-{n}")).unwrap_or_else(|_| unreachable!("valid id"));
        self.socket_owner.insert(id.to_string(), owner);
        self.sockets.push(SimSocket {
            id: id.clone(),
            owner,
            open: true,
        });
        self.socket_ids.push(id);
        n
    }

    fn setup(&mut self, rt: &tokio::runtime::Runtime) {
        for s in 0..STORES {
            let sockets = 1 + usize::from(self.rng.chance(300));
            let mut made = Vec::new();
            for _ in 0..sockets {
                made.push(self.new_socket(Who::Store(s)));
            }
            let app = &self.app;
            let ids: Vec<ConnectionId> = made.iter().map(|&i| self.socket_ids[i].clone()).collect();
            rt.block_on(async {
                app.stores()
                    .register(&caller(Who::Store(s)), store_id(s), store_profile(s, true))
                    .await
                    .unwrap_or_else(|e| panic!("store registers: {e}"));
                for id in ids {
                    app.connections()
                        .connect(id, caller(Who::Store(s)))
                        .await
                        .unwrap_or_else(|e| panic!("store connects: {e}"));
                }
            });
        }
        for c in 0..CUSTOMERS {
            if self.rng.chance(800) {
                let n = self.new_socket(Who::Customer(c));
                let app = &self.app;
                let id = self.socket_ids[n].clone();
                rt.block_on(async {
                    app.connections()
                        .connect(id, caller(Who::Customer(c)))
                        .await
                        .unwrap_or_else(|e| panic!("customer connects: {e}"));
                });
            }
        }
        self.at(START, Action::Arrivals);
        self.at(START + 10 * MINUTE, Action::Churn);
        self.arm(true);
    }

    /// Runs to the end: `days` of traffic, then no new customers until every
    /// order has settled.
    fn run(mut self) -> Figures {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap_or_else(|e| panic!("runtime: {e}"));
        self.setup(&rt);
        let end_of_traffic = START + i64::try_from(self.days).unwrap_or(1) * DAY;
        let hard_end = end_of_traffic + 2 * DAY;
        while let Some((&(when, _), _)) = self.queue.first_key_value() {
            if when > hard_end {
                break;
            }
            if when >= end_of_traffic {
                self.ending = true;
            }
            self.step_at(&rt, when);
        }
        self.finish(&rt);
        self.figures.virtual_ms = self.now() - START;
        self.figures.trace_digest = self.digest;
        self.figures
    }

    /// One step: every action due at `when`, run concurrently, then the
    /// invariants.
    fn step_at(&mut self, rt: &tokio::runtime::Runtime, when: Millis) {
        let now = self.now();
        if when > now {
            self.clock.advance_ms(when - now);
        }
        self.step += 1;
        self.figures.steps += 1;
        let mut batch = Vec::new();
        while let Some(entry) = self.queue.first_entry() {
            if entry.key().0 != when || batch.len() == 8 {
                break;
            }
            let action = entry.remove();
            match &action {
                Action::Timer { order, timer, .. } => {
                    if let Some(n) = self.timers_pending.get_mut(&(*order, timer.round)) {
                        *n -= 1;
                    }
                }
                Action::Read { order, .. } => self.orders[*order].read_pending -= 1,
                _ => {}
            }
            batch.push(action);
        }
        // Sim-level actions plan; the rest run against the system together.
        let mut system = Vec::new();
        for action in batch {
            match action {
                Action::Arrivals => self.plan_arrival(),
                Action::Churn => self.plan_churn(),
                Action::Drive { order } => self.drive(order),
                other => system.push(other),
            }
        }
        if system.is_empty() {
            self.check(&[]);
            return;
        }
        let accepts: Vec<usize> = system
            .iter()
            .filter_map(|a| match a {
                Action::Accept { order, .. } => Some(*order),
                _ => None,
            })
            .collect();
        if accepts.iter().enumerate().any(|(i, o)| accepts[..i].contains(o)) {
            self.figures.racing_steps += 1;
        }
        lock(&self.app.storage().book).in_step.clear();
        let outcomes = {
            let app = &self.app;
            let ids = &self.order_ids;
            let placements = &self.placements;
            let sockets = &self.socket_ids;
            let runs = system.iter().cloned().map(|a| run(app, a, ids, placements, sockets));
            rt.block_on(futures_util::future::join_all(runs))
        };
        self.figures.actions += system.len() as u64;
        for (action, outcome) in system.iter().zip(&outcomes) {
            let text = format!(
                "[{}] +{}s {} -> {}",
                self.step,
                (when - START) / 1000,
                describe(action),
                outcome.text
            );
            self.note(text);
        }
        // Noted first, so a failure found in this step's writes shows them.
        self.absorb_writes();
        let touched: Vec<(Action, Outcome)> = system.into_iter().zip(outcomes).collect();
        for (action, outcome) in &touched {
            self.after(action, outcome);
        }
        self.check(&touched);
    }

    fn plan_arrival(&mut self) {
        if self.ending {
            return;
        }
        let customer = self.rng.index(CUSTOMERS);
        let demand = self.rng.index(DEMANDS.len());
        let far = self.rng.chance(80);
        let delivery = match self.rng.below(4) {
            0 => Some(DeliveryKind::Pickup),
            1 => Some(DeliveryKind::HelperDelivery),
            _ => None,
        };
        let now = self.now();
        let placement = self.reserve_placement();
        self.at(
            now,
            Action::Place {
                customer,
                placement,
                demand,
                far,
                delivery,
                attempt: 0,
            },
        );
        // A burst now and then: two customers at once.
        if self.rng.chance(150) {
            let other = (customer + 1) % CUSTOMERS;
            let placement = self.reserve_placement();
            self.at(
                now,
                Action::Place {
                    customer: other,
                    placement,
                    demand,
                    far: false,
                    delivery: None,
                    attempt: 0,
                },
            );
        }
        // Sparse days (twelve hours between customers on average): time jumps
        // from event to event, so a virtual day costs a few dozen steps.
        let gap = 5 * SECOND * (1 + i64::try_from(self.rng.below(17_280)).unwrap_or(0));
        self.at(now + gap, Action::Arrivals);
    }

    fn plan_churn(&mut self) {
        if self.ending {
            return;
        }
        let now = self.now();
        match self.rng.below(10) {
            0 => {
                let store = self.rng.index(STORES);
                let open = !self.open[store];
                self.open[store] = open;
                self.at(now, Action::SetOpen { store, open });
                if !open {
                    // Closed for a while, then open again.
                    let back = now + 5 * MINUTE * (1 + i64::try_from(self.rng.below(36)).unwrap_or(0));
                    self.open[store] = true;
                    self.at(back, Action::SetOpen { store, open: true });
                }
            }
            _ => {
                let who = if self.rng.chance(700) {
                    Who::Store(self.rng.index(STORES))
                } else {
                    Who::Customer(self.rng.index(CUSTOMERS))
                };
                let live: Vec<usize> = (0..self.sockets.len())
                    .filter(|&i| self.sockets[i].open && self.sockets[i].owner == who)
                    .collect();
                if !live.is_empty() && self.rng.chance(500) {
                    let socket = live[self.rng.index(live.len())];
                    let clean = self.rng.chance(700);
                    self.sockets[socket].open = false;
                    lock(&self.app.pusher().0)
                        .gone
                        .insert(self.sockets[socket].id.to_string());
                    self.at(now, Action::Disconnect { socket, clean });
                } else if live.len() < 3 {
                    let socket = self.new_socket(who);
                    self.at(now, Action::Connect { who, socket });
                }
            }
        }
        let gap = MINUTE * (30 + i64::try_from(self.rng.below(150)).unwrap_or(0));
        self.at(now + gap, Action::Churn);
    }

    /// The fulfilment of an order takes its next step, by whoever's turn it
    /// is (read from storage as an omniscient driver).
    fn drive(&mut self, order: usize) {
        let Some(current) = self.inner_order(order) else {
            self.orders[order].driving = false;
            return;
        };
        let now = self.now();
        let customer = self.orders[order].customer;
        let Some(winner) = current.winner().map(|w| self.store_index(&w.store_id)) else {
            self.orders[order].driving = false;
            return;
        };
        let later = now + MINUTE * (1 + i64::try_from(self.rng.below(20)).unwrap_or(0));
        let step = |who, step| Action::Step {
            who,
            order,
            step,
            attempt: 0,
        };
        match current.status() {
            OrderStatus::Accepted | OrderStatus::Preparing => {
                let roll = self.rng.below(1000);
                if current.status() == OrderStatus::Accepted && roll < 30 {
                    self.at(
                        now,
                        Action::Cancel {
                            customer,
                            order,
                            attempt: 0,
                        },
                    );
                } else if roll < 60 {
                    self.at(now, Action::GiveBack { store: winner, order });
                } else if roll < 80 {
                    // A store that did not win tries to pack: always refused.
                    let stranger = (winner + 1) % STORES + STORES;
                    let pack = Step::Pack {
                        line: 0,
                        outcome: PackOutcome::Unavailable,
                    };
                    self.at(now, step(Who::Store(stranger), pack));
                } else if current.delivery_choice().is_none() {
                    let terms = current.delivery_terms();
                    let kind = terms[self.rng.index(terms.len())].kind();
                    let choose = Step::ChooseDelivery { kind, slot: None };
                    self.at(now, step(Who::Customer(customer), choose));
                } else if let Some(line) = current
                    .packing()
                    .iter()
                    .position(|l| matches!(l, LineState::SubstituteOffered { .. }))
                {
                    let accept = self.rng.chance(700);
                    self.at(
                        now,
                        step(Who::Customer(customer), Step::AnswerSubstitute { line, accept }),
                    );
                } else if let Some(line) = (0..current.items().len())
                    .find(|&l| current.packing().get(l).is_none_or(|s| matches!(s, LineState::Pending)))
                {
                    if self.rng.chance(80) {
                        self.at(now, step(Who::Customer(customer), Step::Drop { line }));
                    } else {
                        let price = 500 * (1 + self.rng.below(100));
                        self.orders[order].prices.entry(line).or_default().push(price);
                        let outcome = match self.rng.below(10) {
                            0 => PackOutcome::Unavailable,
                            // Half of the line (a store packs part of it, never more).
                            1 => PackOutcome::PartlyPacked {
                                quantity: current.items()[line].quantity.map_or(
                                    Quantity {
                                        amount: Decimal::new(5, 1),
                                        unit: Unit::Kilogram,
                                    },
                                    |ordered| Quantity {
                                        amount: ordered.amount / Decimal::TWO,
                                        unit: ordered.unit,
                                    },
                                ),
                                price: Paisa(price),
                            },
                            2 => PackOutcome::Substitute {
                                name: "another brand".into(),
                                quantity: None,
                                price: Paisa(price),
                            },
                            _ => PackOutcome::Packed { price: Paisa(price) },
                        };
                        self.at(now, step(Who::Store(winner), Step::Pack { line, outcome }));
                    }
                } else if current.status() == OrderStatus::Accepted {
                    // Every line dropped before packing began: nothing to
                    // hand over; only a cancel (or a give-back) ends it.
                    self.at(
                        now,
                        Action::Cancel {
                            customer,
                            order,
                            attempt: 0,
                        },
                    );
                } else if current.current_bill().lines.is_empty() {
                    // Nothing packed: nothing to hand over; the store gives
                    // the order back.
                    self.at(now, Action::GiveBack { store: winner, order });
                } else {
                    self.at(now, step(Who::Store(winner), Step::HandOver));
                }
                self.at(later, Action::Drive { order });
            }
            OrderStatus::ReadyForPickup | OrderStatus::OutForDelivery => {
                // Now and then both confirm at once.
                match self.rng.below(3) {
                    0 => self.at(now, step(Who::Customer(customer), Step::Complete)),
                    1 => self.at(now, step(Who::Store(winner), Step::Complete)),
                    _ => {
                        self.at(now, step(Who::Customer(customer), Step::Complete));
                        self.at(now, step(Who::Store(winner), Step::Complete));
                    }
                }
                self.at(later, Action::Drive { order });
            }
            OrderStatus::Completed => {
                if current.review().is_none() && self.rng.chance(400) {
                    let review = Step::Review {
                        stars: 1 + u8::try_from(self.rng.below(5)).unwrap_or(0),
                        comment: None,
                    };
                    self.at(now, step(Who::Customer(customer), review));
                }
                self.orders[order].driving = false;
            }
            _ => self.orders[order].driving = false,
        }
    }

    fn store_index(&self, id: &StoreId) -> usize {
        id.as_str()
            .strip_prefix("store-")
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| self.fail(&format!("unknown store {id}")))
    }

    fn inner_order(&self, order: usize) -> Option<Order> {
        let id = self.order_ids[order].clone();
        let storage = &self.app.storage().inner;
        poll_now(storage.get_order(&id)).ok().flatten()
    }

    /// Registers orders and checks every write the storage applied.
    fn absorb_writes(&mut self) {
        let writes: Vec<Written> = {
            let log = lock(&self.app.storage().log);
            log.orders[self.writes_seen..].to_vec()
        };
        self.writes_seen += writes.len();
        for written in writes {
            let key = written.order.id().to_string();
            let order = match self.index.get(&key) {
                Some(&i) => i,
                None => {
                    let i = self.orders.len();
                    let customer = written
                        .order
                        .customer_id()
                        .as_str()
                        .strip_prefix("cust-")
                        .and_then(|n| n.parse().ok())
                        .unwrap_or(0);
                    self.index.insert(key, i);
                    self.order_ids.push(written.order.id().clone());
                    self.orders.push(SimOrder {
                        customer,
                        ..SimOrder::default()
                    });
                    self.figures.orders += 1;
                    i
                }
            };
            if written.told_failed {
                self.figures.writes_with_lost_answer += 1;
                if written.order.version() == 1 {
                    // The customer was told the order failed; the retry
                    // carries the same reserved id and must find it.
                    self.figures.placements_with_lost_answer += 1;
                }
            }
            if written.order.version() == 1 {
                let id = written.order.id().clone();
                if !self.placement_of.contains_key(&id) || self.placed.insert(id, self.step).is_some() {
                    self.figures.placements_doubled += 1;
                    self.fail(&format!(
                        "order {order}: written as new twice, or under an id no placement reserved (a doubled placement)"
                    ));
                }
            }
            self.check_write(order, &written);
        }
    }

    /// Invariants of one applied write, against the state it replaced.
    fn check_write(&mut self, order: usize, written: &Written) {
        self.figures.invariant_checks += 1;
        let next = &written.order;
        let previous = self.orders[order].last.clone();
        let expected_version = previous.as_ref().map_or(1, |p| p.version() + 1);
        if next.version() != expected_version {
            self.fail(&format!(
                "order {order}: version {} written after {} (a lost update)",
                next.version(),
                expected_version - 1
            ));
        }
        // The trail has one entry per version, in order, at non-decreasing
        // times, ending with this write's status: nothing lost or doubled
        // through lost answers and retries.
        let trail = next.audit();
        let versions_in_order = trail.iter().zip(1..).all(|(e, v)| e.version == v);
        if trail.len() as u64 != next.version()
            || !versions_in_order
            || trail.windows(2).any(|w| w[1].at_ms < w[0].at_ms)
            || trail.last().map(|e| e.status) != Some(next.status())
        {
            self.fail(&format!(
                "order {order}: audit trail of {} entries does not match version {}",
                trail.len(),
                next.version()
            ));
        }
        if let Some(p) = &previous {
            if matches!(p.status(), OrderStatus::Cancelled | OrderStatus::Unfulfilled) {
                self.fail(&format!(
                    "order {order}: changed after it ended {}",
                    p.status().as_str()
                ));
            }
            if p.status() == OrderStatus::Completed && next.status() != OrderStatus::Completed {
                self.fail(&format!("order {order}: left completed"));
            }
            if next.round() < p.round() || !p.tried().iter().all(|s| next.tried().contains(s)) {
                self.fail(&format!("order {order}: rounds or tried stores went back"));
            }
        }
        let winner = next.winner().map(|w| self.store_index(&w.store_id));
        let post_acceptance = matches!(
            next.status(),
            OrderStatus::Accepted
                | OrderStatus::Preparing
                | OrderStatus::ReadyForPickup
                | OrderStatus::OutForDelivery
                | OrderStatus::Completed
        );
        if post_acceptance != winner.is_some() && next.status() != OrderStatus::Cancelled {
            self.fail(&format!(
                "order {order}: status {} with winner {winner:?}",
                next.status().as_str()
            ));
        }
        if let (Some(w), Some(details)) = (winner, next.winner()) {
            // No accept at or after the deadline, none before the round.
            if details.accepted_at_ms >= next.deadline_ms() || details.accepted_at_ms < next.deadline_ms() - WINDOW {
                self.fail(&format!(
                    "order {order}: store {w} accepted at +{} ms, round open [{}, {}) ms",
                    details.accepted_at_ms - START,
                    next.deadline_ms() - WINDOW - START,
                    next.deadline_ms() - START
                ));
            }
            if !next.offers().iter().any(|o| o.store_id == details.store_id) {
                self.fail(&format!("order {order}: winner {w} was not offered this round"));
            }
            let first = *self.orders[order].round_winner.entry(next.round()).or_insert(w);
            if first != w {
                self.fail(&format!(
                    "order {order}: two winners in round {}: stores {first} and {w}",
                    next.round()
                ));
            }
        }
        if next.status() == OrderStatus::Searching && next.deadline_ms() > self.now() + WINDOW {
            self.fail(&format!("order {order}: a deadline beyond one window"));
        }
        if next.status() == OrderStatus::Completed {
            self.check_bill(order, next);
        }
        self.orders[order].winners.push(winner);
        self.expect_pushes(order, previous.as_ref(), written);
        self.orders[order].last = Some(next.clone());
        if post_acceptance && next.status() != OrderStatus::Completed && !self.orders[order].driving {
            self.orders[order].driving = true;
            let now = self.now();
            self.at(now + MINUTE, Action::Drive { order });
        }
        if next.status() == OrderStatus::Completed && !self.orders[order].driving && next.review().is_none() {
            self.orders[order].driving = true;
            let now = self.now();
            self.at(now + HOUR, Action::Drive { order });
        }
        if next.status() == OrderStatus::Searching {
            self.live.insert(order);
        } else {
            self.live.remove(&order);
        }
    }

    /// Bills equal what was packed plus the fee, and stay fixed.
    fn check_bill(&mut self, order: usize, next: &Order) {
        let Some(bill) = next.bill() else {
            self.fail(&format!("order {order}: completed without a bill"));
        };
        let mut lines = Vec::new();
        for (line, (item, state)) in next.items().iter().zip(next.packing()).enumerate() {
            let (name, quantity, price) = match state {
                LineState::Packed { price } => (item.name.clone(), item.quantity, *price),
                LineState::PartlyPacked { quantity, price } => (item.name.clone(), Some(*quantity), *price),
                LineState::Substituted { name, quantity, price } => (name.clone(), *quantity, *price),
                _ => continue,
            };
            if !self.orders[order]
                .prices
                .get(&line)
                .is_some_and(|p| p.contains(&price.0))
            {
                self.fail(&format!(
                    "order {order}: line {line} billed {} which no store asked",
                    price.0
                ));
            }
            lines.push((name, quantity, price.0));
        }
        let billed: Vec<_> = bill
            .lines
            .iter()
            .map(|l| (l.name.clone(), l.quantity, l.price.0))
            .collect();
        if billed != lines {
            self.fail(&format!("order {order}: bill lines {billed:?} but packed {lines:?}"));
        }
        let winner = next.winner().map_or(0, |w| self.store_index(&w.store_id));
        let fee = next.delivery_choice().map_or(0, |d| {
            let terms = if winner % 3 == 2 {
                default_delivery_options()
            } else {
                store_terms(winner)
            };
            match d.option.kind().among(&terms) {
                Some(DeliveryOption::HelperDelivery { fee_paisa, .. }) => fee_paisa,
                Some(DeliveryOption::Pickup { .. }) => 0,
                None => self.fail(&format!("order {order}: delivery not among the winner's terms")),
            }
        });
        let total: u64 = lines.iter().map(|l| l.2).sum::<u64>() + fee;
        if bill.delivery_fee.0 != fee || bill.total.0 != total {
            self.fail(&format!(
                "order {order}: bill total {} fee {}, packed + fee = {total} (fee {fee})",
                bill.total.0, bill.delivery_fee.0
            ));
        }
        if bill.settlement.as_ref().is_none_or(|s| s.amount != bill.total) {
            self.fail(&format!("order {order}: settled amount differs from the bill"));
        }
        let fixed = serde_json::to_string(bill).unwrap_or_default();
        match &self.orders[order].completed_bill {
            Some(first) if *first != fixed => self.fail(&format!("order {order}: the bill changed after completion")),
            Some(_) => {}
            None => self.orders[order].completed_bill = Some(fixed),
        }
    }

    /// What each party must be told of a write, recorded to be checked once
    /// the step's pushes are in.
    fn expect_pushes(&mut self, order: usize, previous: Option<&Order>, written: &Written) {
        let next = &written.order;
        let customer = Who::Customer(self.orders[order].customer);
        let mut expected: Vec<(Who, &'static str)> = Vec::new();
        let status = next.status();
        let was = previous.map(Order::status);
        match status {
            OrderStatus::Searching
                if was != Some(OrderStatus::Searching) || previous.is_some_and(|p| p.round() != next.round()) =>
            {
                expected.push((customer, "order_searching"));
                for offer in next.offers() {
                    expected.push((Who::Store(self.store_index(&offer.store_id)), "offer"));
                }
            }
            OrderStatus::Searching => {}
            OrderStatus::Accepted if was == Some(OrderStatus::Searching) => {
                expected.push((customer, "order_accepted"));
                if let Some(w) = next.winner() {
                    expected.push((Who::Store(self.store_index(&w.store_id)), "offer_won"));
                }
            }
            OrderStatus::Unfulfilled => expected.push((customer, "order_unfulfilled")),
            OrderStatus::Cancelled => expected.push((customer, "order_cancelled")),
            _ => {
                expected.push((customer, "order_updated"));
                if let Some(w) = next.winner() {
                    expected.push((Who::Store(self.store_index(&w.store_id)), "store_order_updated"));
                }
            }
        }
        if written.told_failed {
            // The writer was told it failed, so it told nobody: apps learn
            // it on their next read (see docs/simulation.md).
            self.figures.push_checks_skipped += 1;
            return;
        }
        for (who, kind) in expected {
            self.pending_pushes
                .push((who, next.id().to_string(), next.version(), kind));
        }
    }

    /// Client reactions to an action's outcome: retries, follow-ups, and
    /// the checks that hold right after it.
    fn after(&mut self, action: &Action, outcome: &Outcome) {
        let now = self.now();
        let retry_at = |attempt: u32| now + 5 * SECOND * i64::from(attempt + 1);
        match action {
            Action::Place {
                customer,
                placement,
                demand,
                far,
                delivery,
                attempt,
            } => {
                if let Some(order) = &outcome.order
                    && order.id() != &self.placements[*placement]
                {
                    self.fail(&format!(
                        "placement {placement} answered with another order than the one reserved for it"
                    ));
                }
                let written_at = self.placed.get(&self.placements[*placement]).copied();
                if outcome.order.is_none() && !outcome.unavailable && written_at.is_some() {
                    self.fail(&format!(
                        "placement {placement}: its order was written, and its retry was refused: {}",
                        outcome.text
                    ));
                }
                if outcome.order.is_some() && written_at.is_some_and(|step| step < self.step) {
                    self.figures.placements_found_by_retry += 1;
                }
                if outcome.unavailable && *attempt < MAX_RETRIES {
                    self.figures.retries += 1;
                    let again = Action::Place {
                        customer: *customer,
                        placement: *placement,
                        demand: *demand,
                        far: *far,
                        delivery: *delivery,
                        attempt: attempt + 1,
                    };
                    self.at(retry_at(*attempt), again);
                }
                if let Some(order) = outcome.order.as_ref().filter(|o| o.status() == OrderStatus::Searching) {
                    let i = self.index_of(order.id());
                    if self.rng.chance(80) {
                        let when = now + self.rng.steps(24, 5 * SECOND);
                        self.at(
                            when,
                            Action::Cancel {
                                customer: *customer,
                                order: i,
                                attempt: 0,
                            },
                        );
                    }
                    if self.rng.chance(300) {
                        let when = now + self.rng.steps(48, 5 * SECOND);
                        self.at(
                            when,
                            Action::Read {
                                customer: *customer,
                                order: i,
                            },
                        );
                    }
                }
            }
            Action::Accept { store, order, attempt } => {
                if outcome.accepted {
                    self.figures.accepts_won += 1;
                } else if outcome.unavailable && *attempt < MAX_RETRIES {
                    self.figures.retries += 1;
                    let again = Action::Accept {
                        store: *store,
                        order: *order,
                        attempt: attempt + 1,
                    };
                    self.at(retry_at(*attempt), again);
                } else {
                    self.figures.accepts_refused += 1;
                }
            }
            Action::Cancel {
                customer,
                order,
                attempt,
            } if outcome.unavailable && *attempt < MAX_RETRIES => {
                self.figures.retries += 1;
                let again = Action::Cancel {
                    customer: *customer,
                    order: *order,
                    attempt: attempt + 1,
                };
                self.at(retry_at(*attempt), again);
            }
            Action::Step {
                who,
                order,
                step,
                attempt,
            } => {
                if outcome.forbidden_succeeded {
                    self.fail(&format!("order {order}: a store that did not win took a step"));
                }
                if outcome.unavailable && *attempt >= MAX_RETRIES && matches!(step, Step::Complete) {
                    self.pending_taps.push(Action::Step {
                        who: *who,
                        order: *order,
                        step: step.clone(),
                        attempt: 0,
                    });
                }
                if outcome.unavailable && *attempt < MAX_RETRIES {
                    self.figures.retries += 1;
                    let again = Action::Step {
                        who: *who,
                        order: *order,
                        step: step.clone(),
                        attempt: attempt + 1,
                    };
                    self.at(retry_at(*attempt), again);
                }
            }
            Action::Timer { timer, order, receives } => {
                self.figures.timers_delivered += 1;
                if outcome.timer_failed {
                    if receives + 1 < MAX_RECEIVES {
                        self.figures.timers_redelivered += 1;
                        let again = Action::Timer {
                            timer: timer.clone(),
                            order: *order,
                            receives: receives + 1,
                        };
                        self.at(now + VISIBILITY, again);
                    } else {
                        self.figures.timers_dead_lettered += 1;
                    }
                } else if *order != usize::MAX
                    && let Some(o) = self.inner_order(*order)
                    && o.status() == OrderStatus::Searching
                    && o.round() == timer.round
                    && o.deadline_ms() <= now
                {
                    self.fail(&format!(
                        "order {order}: the timer of round {} was acknowledged but the overdue round is open",
                        timer.round
                    ));
                }
            }
            Action::Read { order, .. } => {
                if let Some(read) = &outcome.order {
                    self.check_customer_sees(*order, read, "a read");
                    if let Some(o) = self.inner_order(*order)
                        && o.status() == OrderStatus::Searching
                        && o.deadline_ms() <= now
                    {
                        self.fail(&format!(
                            "order {order}: read by its customer, the overdue round stayed open"
                        ));
                    }
                }
            }
            _ => {}
        }
    }

    fn index_of(&self, id: &OrderId) -> usize {
        self.index
            .get(id.as_str())
            .copied()
            .unwrap_or_else(|| self.fail(&format!("order {id} answered but never written")))
    }

    /// A customer's view names a store only once that store has won.
    fn check_customer_sees(&self, order: usize, read: &Order, what: &str) {
        let view = serde_json::to_string(&CustomerOrderView::of(read)).unwrap_or_default();
        let winner = read.winner().map(|w| self.store_index(&w.store_id));
        if let Some(s) = mentioned_store(&view)
            && Some(s) != winner
        {
            self.fail(&format!(
                "order {order}: {what} showed its customer store {s} (winner {winner:?})"
            ));
        }
    }

    /// The invariants after a step, and what it set in motion.
    fn check(&mut self, touched: &[(Action, Outcome)]) {
        self.figures.invariant_checks += 1;
        self.schedule_timers();
        self.check_pushes(touched);
        self.react_to_deliveries();
        self.check_homes();
        self.check_liveness();
    }

    /// Timers the system sent this step, with their fates: on time, early,
    /// late, twice, or never.
    fn schedule_timers(&mut self) {
        let sent = std::mem::take(&mut lock(&self.app.timers().0).sent);
        let now = self.now();
        for (timer, delay) in sent {
            let order = self.index.get(timer.order_id.as_str()).copied().unwrap_or(usize::MAX);
            if self.rng.chance(RATES.timer_lost) {
                self.figures.timers_lost += 1;
                continue;
            }
            let mut due = now + delay;
            if self.rng.chance(RATES.timer_early) {
                self.figures.timers_early += 1;
                due -= self.rng.steps(5, 5 * SECOND) + 5 * SECOND;
            } else if self.rng.chance(RATES.timer_late) {
                self.figures.timers_late += 1;
                due += self.rng.steps(36, 5 * SECOND) + 5 * SECOND;
            }
            if self.rng.chance(RATES.timer_duplicated) {
                self.figures.timers_duplicated += 1;
                let again = due + self.rng.steps(12, 5 * SECOND);
                let copy = Action::Timer {
                    timer: timer.clone(),
                    order,
                    receives: 0,
                };
                self.at(again, copy);
            }
            self.at(
                due,
                Action::Timer {
                    timer,
                    order,
                    receives: 0,
                },
            );
        }
    }

    /// Every push carries a fresh event id; none shows a customer a store
    /// before it won; every party a write owes an event was sent it.
    fn check_pushes(&mut self, touched: &[(Action, Outcome)]) {
        let attempts: Vec<Attempt> = {
            let book = lock(&self.app.pusher().0);
            book.attempts[self.attempts_seen..].to_vec()
        };
        self.attempts_seen += attempts.len();
        for attempt in &attempts {
            self.figures.pushes += 1;
            let Some(owner) = self.socket_owner.get(&attempt.connection).copied() else {
                self.fail(&format!("a push to an unknown socket {}", attempt.connection));
            };
            let event: serde_json::Value = serde_json::from_str(&attempt.payload)
                .unwrap_or_else(|e| self.fail(&format!("a push that is not JSON: {e}")));
            let event_id = event["event_id"].as_str().unwrap_or_default().to_string();
            let order_id = event["order_id"].as_str().unwrap_or_default().to_string();
            let version = event["version"].as_u64().unwrap_or(0);
            let kind = event["type"].as_str().unwrap_or_default().to_string();
            if event_id.is_empty() {
                self.fail(&format!("a {kind} push without an event id"));
            }
            let party = format!("{owner:?}");
            let what = (party.clone(), order_id.clone(), version, kind.clone());
            match self.event_ids.get(&event_id) {
                Some(first) if *first != what => {
                    self.fail(&format!("event id {event_id} reused: first {first:?}, now {what:?}"))
                }
                Some(_) => {}
                None => {
                    self.event_ids.insert(event_id, what.clone());
                }
            }
            if let Who::Customer(_) = owner
                && let Some(s) = mentioned_store(&attempt.payload)
            {
                let order = self.index.get(&order_id).copied();
                let winner = order.and_then(|o| {
                    let at = usize::try_from(version).unwrap_or(0).checked_sub(1)?;
                    self.orders[o].winners.get(at).copied().flatten()
                });
                if winner != Some(s) {
                    self.fail(&format!(
                        "a {kind} push of order {order:?} v{version} showed its customer store {s} (winner {winner:?})"
                    ));
                }
            }
            self.pushed.insert(what);
        }
        let owed = std::mem::take(&mut self.pending_pushes);
        if owed.is_empty() {
            return;
        }
        let lookups_failed = lock(&self.app.storage().book).in_step.contains(&"connections_of_many");
        if lookups_failed {
            // The pushes' socket lookup failed: nobody was told; apps catch
            // up on their next read (docs/simulation.md).
            self.figures.push_checks_skipped += owed.len() as u64;
            return;
        }
        let churned: Vec<Who> = touched
            .iter()
            .filter_map(|(a, _)| match a {
                Action::Connect { who, .. } => Some(*who),
                Action::Disconnect { socket, .. } => Some(self.sockets[*socket].owner),
                _ => None,
            })
            .collect();
        for (who, order_id, version, kind) in owed {
            if churned.contains(&who) {
                self.figures.push_checks_skipped += 1;
                continue;
            }
            // A party whose every socket turned out gone had no client to
            // tell; the lookup after the step says who still has one.
            let online = poll_now(self.app.storage().inner.connections_of_many(&[caller(who)]))
                .is_ok_and(|found| found.iter().any(|s| !s.is_empty()));
            if !online {
                continue;
            }
            self.figures.invariant_checks += 1;
            if !self
                .pushed
                .contains(&(format!("{who:?}"), order_id.clone(), version, kind.to_string()))
            {
                let order = self.index.get(&order_id).copied();
                self.fail(&format!("{who:?} was never sent {kind} of order {order:?} v{version}"));
            }
        }
    }

    /// Apps read what reached them: stores answer offers (dropping
    /// duplicates by event id).
    fn react_to_deliveries(&mut self) {
        let mut delivered = std::mem::take(&mut lock(&self.app.pusher().0).delivered);
        // In an order of the simulation's own (generated ids and event ids
        // differ between runs), so a replay draws the same numbers.
        delivered.sort_by_cached_key(|push| {
            let event: serde_json::Value = serde_json::from_str(&push.payload).unwrap_or_default();
            let order = event["order_id"].as_str().and_then(|id| self.index.get(id).copied());
            (
                order,
                event["version"].as_u64(),
                push.connection.clone(),
                event["type"].to_string(),
            )
        });
        let now = self.now();
        for push in delivered {
            let Some(owner) = self.socket_owner.get(&push.connection).copied() else {
                continue;
            };
            let event: serde_json::Value = serde_json::from_str(&push.payload).unwrap_or_default();
            let event_id = event["event_id"].as_str().unwrap_or_default().to_string();
            if !self.seen_events.insert((push.connection.clone(), event_id)) {
                self.figures.duplicates_dropped_by_apps += 1;
                continue;
            }
            let Who::Store(store) = owner else {
                continue;
            };
            if event["type"] != "offer" {
                continue;
            }
            let Some(order) = event["order_id"].as_str().and_then(|id| self.index.get(id).copied()) else {
                continue;
            };
            let version = event["version"].as_u64().unwrap_or(0);
            if !self.answered.insert((store, order, version)) {
                continue;
            }
            let delay = if self.rng.chance(300) {
                0
            } else {
                self.rng.steps(14, 5 * SECOND)
            };
            match self.rng.below(1000) {
                0..550 => self.at(
                    now + delay,
                    Action::Accept {
                        store,
                        order,
                        attempt: 0,
                    },
                ),
                550..750 => self.at(now + delay, Action::Decline { store, order }),
                _ => {}
            }
        }
    }

    /// The virtual home counts each completed order once.
    fn check_homes(&mut self) {
        let added: Vec<(CustomerId, OrderId, Vec<HomeItem>)> = {
            let log = lock(&self.app.storage().log);
            log.homes[self.homes_seen..].to_vec()
        };
        self.homes_seen += added.len();
        for (customer, order, items) in added {
            let c: usize = customer
                .as_str()
                .strip_prefix("cust-")
                .and_then(|n| n.parse().ok())
                .unwrap_or(0);
            let (home, counted) = self.expected_home.entry(c).or_default();
            if counted.insert(order) {
                merge_into_home(home, &items);
            }
            let expected = serde_json::to_string(home).unwrap_or_default();
            let stored = poll_now(self.app.storage().inner.home_of(&customer)).unwrap_or_default();
            self.figures.invariant_checks += 1;
            if serde_json::to_string(&stored).unwrap_or_default() != expected {
                self.fail(&format!(
                    "customer {c}: the virtual home does not count each completed order once"
                ));
            }
        }
    }

    /// Every searching order has a future deadline, or an overdue round
    /// whose timer is still on its way; if every timer of the round was
    /// lost, the customer's next read closes it.
    fn check_liveness(&mut self) {
        let now = self.now();
        let mut live: Vec<usize> = self.live.iter().copied().collect();
        live.sort_unstable();
        for order in live {
            self.figures.invariant_checks += 1;
            let Some(o) = self.inner_order(order) else { continue };
            if o.status() != OrderStatus::Searching {
                continue;
            }
            if o.deadline_ms() > now + WINDOW {
                self.fail(&format!("order {order}: searching with a deadline beyond one window"));
            }
            if o.deadline_ms() > now {
                continue;
            }
            let timer_coming = self.timers_pending.get(&(order, o.round())).is_some_and(|n| *n > 0);
            if !timer_coming && self.orders[order].read_pending == 0 {
                self.figures.rounds_closed_by_reads += 1;
                let customer = self.orders[order].customer;
                let when = now + self.rng.steps(24, 5 * SECOND) + 5 * SECOND;
                self.at(when, Action::Read { customer, order });
            }
        }
    }

    /// After the last day: faults off, every customer reads each searching
    /// order until it settles; then no order may be left searching.
    fn finish(&mut self, rt: &tokio::runtime::Runtime) {
        self.arm(false);
        let taps = std::mem::take(&mut self.pending_taps);
        self.figures.completions_sent_later += taps.len() as u64;
        if !taps.is_empty() {
            let now = self.now();
            for tap in taps {
                self.at(now, tap);
            }
            self.step_at(rt, now);
        }
        for _ in 0..(3 * 3) {
            let mut live: Vec<usize> = self.live.iter().copied().collect();
            if live.is_empty() {
                break;
            }
            live.sort_unstable();
            self.clock.advance_ms(WINDOW + SECOND);
            let reads: Vec<Action> = live
                .iter()
                .map(|&order| Action::Read {
                    customer: self.orders[order].customer,
                    order,
                })
                .collect();
            for action in reads {
                self.at(self.now(), action);
            }
            let now = self.now();
            self.step_at(rt, now);
            while let Some((&(when, _), _)) = self.queue.first_key_value() {
                if when > now {
                    break;
                }
                self.step_at(rt, when);
            }
        }
        let mut statuses = BTreeMap::new();
        for (i, o) in self.orders.iter().enumerate() {
            let Some(last) = &o.last else { continue };
            if last.status() == OrderStatus::Searching {
                self.fail(&format!("order {i}: still searching after the end"));
            }
            *statuses.entry(last.status().as_str()).or_insert(0) += 1;
        }
        self.figures.by_status = statuses;
        let log = lock(&self.app.storage().log);
        let homed: HashSet<&OrderId> = log.homes.iter().map(|(_, o, _)| o).collect();
        for (i, o) in self.orders.iter().enumerate() {
            let Some(last) = o.last.as_ref().filter(|l| l.status() == OrderStatus::Completed) else {
                continue;
            };
            if !homed.contains(last.id()) {
                self.fail(&format!("order {i}: completed but never added to the virtual home"));
            }
        }
        drop(log);
        let book = lock(&self.app.storage().book);
        for ((op, kind), n) in &book.counts {
            *self.figures.storage_faults.entry(format!("{op} {kind}")).or_default() += n;
        }
        drop(book);
        self.figures.queue_refusals = lock(&self.app.timers().0).refused;
        let pushes = lock(&self.app.pusher().0);
        self.figures.pushes_failed = pushes.failed;
        self.figures.pushes_lost = pushes.lost;
        self.figures.pushes_duplicated = pushes.duplicated;
        self.figures.pushes_gone = pushes.gone_answers;
    }
}

/// An action for the trace: sim indices only, never the generated ids, so
/// a replay prints (and digests) the same text.
fn describe(action: &Action) -> String {
    match action {
        Action::Timer { timer, order, receives } => {
            format!(
                "Timer {{ order: {order}, round: {}, receives: {receives} }}",
                timer.round
            )
        }
        other => format!("{other:?}"),
    }
}

/// The store a payload names (by id or by name), if any.
fn mentioned_store(payload: &str) -> Option<usize> {
    static NEEDLES: std::sync::OnceLock<Vec<(String, String)>> = std::sync::OnceLock::new();
    let needles = NEEDLES.get_or_init(|| {
        (0..STORES)
            .map(|s| (format!("\"{}\"", store_id(s)), store_name(s)))
            .collect()
    });
    needles
        .iter()
        .position(|(id, name)| payload.contains(id.as_str()) || payload.contains(name.as_str()))
}

/// Polls a future that never waits (the embedded storage's) once.
fn poll_now<F: Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    let mut cx = Context::from_waker(std::task::Waker::noop());
    match future.as_mut().poll(&mut cx) {
        Poll::Ready(v) => v,
        Poll::Pending => unreachable!("the embedded storage never waits"),
    }
}

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.trim().parse().ok())
}

fn report(figures: &Figures, took: std::time::Duration) {
    let days = figures.virtual_ms as f64 / DAY as f64;
    eprintln!(
        "simulation: {} seeds, {days:.0} virtual days, {} steps, {} actions, {} orders {:?}, {} invariant checks, in {:.1} s",
        figures.seeds,
        figures.steps,
        figures.actions,
        figures.orders,
        figures.by_status,
        figures.invariant_checks,
        took.as_secs_f64()
    );
    eprintln!(
        "  accepts won {} refused {}, racing steps {}, client retries {}",
        figures.accepts_won, figures.accepts_refused, figures.racing_steps, figures.retries
    );
    eprintln!(
        "  timers: delivered {} lost {} duplicated {} late {} early {} redelivered {} dead-lettered {}; rounds closed by a read {}; queue refusals {}",
        figures.timers_delivered,
        figures.timers_lost,
        figures.timers_duplicated,
        figures.timers_late,
        figures.timers_early,
        figures.timers_redelivered,
        figures.timers_dead_lettered,
        figures.rounds_closed_by_reads,
        figures.queue_refusals
    );
    eprintln!(
        "  pushes: sent {} failed {} lost {} duplicated {} gone {}; duplicates dropped by apps {}",
        figures.pushes,
        figures.pushes_failed,
        figures.pushes_lost,
        figures.pushes_duplicated,
        figures.pushes_gone,
        figures.duplicates_dropped_by_apps
    );
    let faults: u64 = figures.storage_faults.values().sum();
    eprintln!("  storage faults: {faults} {:?}", figures.storage_faults);
    eprintln!(
        "  answers lost after the write: {} (new orders among them: {}; placements whose retry found their order: {}; doubled placements: {}); push checks waived after a failed lookup or a lost answer: {}; completions sent again after the last day: {}",
        figures.writes_with_lost_answer,
        figures.placements_with_lost_answer,
        figures.placements_found_by_retry,
        figures.placements_doubled,
        figures.push_checks_skipped,
        figures.completions_sent_later
    );
}

/// Seeds `first..first + count`, spread over the machine's cores (at most
/// two: CI shares its machine).
fn run_seeds(first: u64, count: u64, days: u64) -> Figures {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(2) as u64;
    let mut total = Figures::default();
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                scope.spawn(move || {
                    let mut figures = Figures::default();
                    let mut seed = first + t;
                    while seed < first + count {
                        figures.add(&Sim::new(seed, days).run());
                        seed += threads;
                    }
                    figures
                })
            })
            .collect();
        for handle in handles {
            match handle.join() {
                Ok(figures) => total.add(&figures),
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
    });
    total
}

#[test]
fn simulated_days_keep_every_promise() {
    let days = env_u64("SIM_DAYS").unwrap_or(DEFAULT_DAYS).max(1);
    let (first, count) = match env_u64("SIM_SEED") {
        Some(seed) => (seed, env_u64("SIM_SEEDS").unwrap_or(1)),
        None => (0, env_u64("SIM_SEEDS").unwrap_or(DEFAULT_SEEDS)),
    };
    let started = Instant::now();
    let figures = run_seeds(first, count, days);
    report(&figures, started.elapsed());
    assert_eq!(figures.seeds, count);
    assert!(
        figures.accepts_won > 0 && figures.timers_delivered > 0,
        "the simulation did something"
    );
}

#[test]
fn a_seed_replays_exactly() {
    let first = Sim::new(7, 10).run();
    let again = Sim::new(7, 10).run();
    assert_eq!(
        (first.trace_digest, first.steps, first.orders, first.pushes),
        (again.trace_digest, again.steps, again.orders, again.pushes),
        "the same seed took another path: something outside the seed steers the simulation"
    );
}

// ---------------------------------------------------------------------------
// Crash points: the handler fails at one chosen call, and the order still
// reaches a correct end with every party told.
// ---------------------------------------------------------------------------

/// An app with two open stores and the customer connected, no random faults.
fn crash_point_app(rt: &tokio::runtime::Runtime) -> SimApp {
    let clock = Arc::new(ManualClock::at(START));
    let app = App::new(
        FaultyStorage::new(1),
        SimTimers(Mutex::new(TimerBook {
            rng: Some(Rng::new(2)),
            ..TimerBook::default()
        })),
        SimPusher(Mutex::new(PushBook {
            rng: Some(Rng::new(3)),
            ..PushBook::default()
        })),
        clock as Arc<dyn Clock>,
        OrderingConfig::default(),
    );
    rt.block_on(async {
        for s in 0..2 {
            app.stores()
                .register(&caller(Who::Store(s)), store_id(s), store_profile(s, true))
                .await
                .unwrap_or_else(|e| panic!("registers: {e}"));
        }
        for (n, who) in [Who::Store(0), Who::Store(1), Who::Customer(0)].into_iter().enumerate() {
            let socket = ConnectionId::new(format!("sock-{n}")).unwrap_or_else(|_| unreachable!("valid id"));
            app.connections()
                .connect(socket, caller(who))
                .await
                .unwrap_or_else(|e| panic!("connects: {e}"));
        }
    });
    app
}

fn script(app: &SimApp, op: &'static str, fault: Fault) {
    lock(&app.storage().book).script.push_back((op, fault));
}

fn rice_request() -> OrderRequest {
    OrderRequest {
        items: parse_demand_text("2 kg rice").unwrap_or_else(|e| panic!("parses: {e}")),
        location: centre().offset(0.0, 300.0),
        delivery: None,
        payment: PaymentMethod::CashOnDelivery,
        address: None,
    }
}

/// The types of the pushes that reached socket `n`.
fn pushed_to(app: &SimApp, n: usize) -> Vec<String> {
    let socket = format!("sock-{n}");
    lock(&app.pusher().0)
        .delivered
        .iter()
        .filter(|a| a.connection == socket)
        .filter_map(|a| serde_json::from_str::<serde_json::Value>(&a.payload).ok())
        .map(|v| v["type"].as_str().unwrap_or_default().to_string())
        .collect()
}

fn orders_of_customer(app: &SimApp, rt: &tokio::runtime::Runtime) -> Vec<Order> {
    rt.block_on(app.storage().inner.recent_orders_of_customer(&customer_id(0), 50, None))
        .unwrap_or_else(|e| panic!("reads: {e}"))
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap_or_else(|e| panic!("runtime: {e}"))
}

#[test]
fn crash_after_the_timer_before_the_order_is_written() {
    let rt = runtime();
    let app = crash_point_app(&rt);
    let id = OrderId::generate();
    script(&app, "insert_order", Fault::Before);
    let first = rt.block_on(app.ordering().place(&customer_id(0), rice_request(), id.clone()));
    assert!(
        matches!(first, Err(shared::usecases::ordering::PlaceOrderError::Unavailable(_))),
        "the write failed: {first:?}"
    );
    // The timer went first, for an order that does not exist: harmless.
    let sent = std::mem::take(&mut lock(&app.timers().0).sent);
    assert_eq!(sent.len(), 1, "one timer sent before the write");
    let mut record = SqsMessage::default();
    record.message_id = Some("timer-of-nothing".into());
    record.body = Some(serde_json::to_string(&sent[0].0).unwrap_or_default());
    let mut event = SqsEvent::default();
    event.records = vec![record];
    let answer = rt.block_on(handle_timer_batch(&app, event));
    assert!(answer.batch_item_failures.is_empty(), "acknowledged");
    assert!(orders_of_customer(&app, &rt).is_empty(), "the timer created nothing");
    assert!(pushed_to(&app, 0).is_empty(), "and told no store of an order");
    // The app's retry, with the same key (so the same reserved id): placed once.
    let placed = rt
        .block_on(app.ordering().place(&customer_id(0), rice_request(), id.clone()))
        .unwrap_or_else(|e| panic!("the retry places it: {e}"));
    assert_eq!(placed.id(), &id);
    assert_eq!(orders_of_customer(&app, &rt).len(), 1);
    assert!(
        pushed_to(&app, 0).contains(&"offer".to_string()),
        "the stores are offered it"
    );
}

#[test]
fn crash_after_the_order_is_written_before_the_pushes() {
    let rt = runtime();
    let app = crash_point_app(&rt);
    let id = OrderId::generate();
    // The order lands, its answer is lost, and so is the read that would
    // have found it: the handler ends there, and nothing after the write runs.
    script(&app, "insert_order", Fault::After);
    script(&app, "get_order", Fault::Before);
    let first = rt.block_on(app.ordering().place(&customer_id(0), rice_request(), id.clone()));
    assert!(first.is_err(), "told it failed: {first:?}");
    assert_eq!(orders_of_customer(&app, &rt).len(), 1, "but it was written");
    assert!(
        pushed_to(&app, 0).is_empty() && pushed_to(&app, 1).is_empty(),
        "and no store was told"
    );
    // The retry with the same key finds the order and tells its stores.
    let again = rt
        .block_on(app.ordering().place(&customer_id(0), rice_request(), id.clone()))
        .unwrap_or_else(|e| panic!("the retry answers with the order: {e}"));
    assert_eq!((again.id(), again.version()), (&id, 1));
    assert_eq!(orders_of_customer(&app, &rt).len(), 1, "not placed twice");
    for store in 0..2 {
        assert_eq!(pushed_to(&app, store), vec!["offer".to_string()], "store {store}");
    }
    assert!(pushed_to(&app, 2).contains(&"order_searching".to_string()));
    // A store that missed the push would also find the offer on reconnect
    // (`resend_offers`); here both were told by the retry.
}

#[test]
fn a_completion_whose_home_update_failed_reaches_the_home_once_on_retry() {
    let rt = runtime();
    let app = crash_point_app(&rt);
    let customer = caller(Who::Customer(0));
    let id = OrderId::generate();
    rt.block_on(async {
        let order = app
            .ordering()
            .place(&customer_id(0), rice_request(), id.clone())
            .await
            .unwrap_or_else(|e| panic!("places: {e}"));
        let winner = order.offers()[0].store_id.clone();
        let shop = Caller::Store(winner.clone());
        app.ordering()
            .accept(&winner, &id)
            .await
            .unwrap_or_else(|e| panic!("accepts: {e}"));
        let steps = [
            (
                customer.clone(),
                Step::ChooseDelivery {
                    kind: DeliveryKind::Pickup,
                    slot: None,
                },
            ),
            (
                shop.clone(),
                Step::Pack {
                    line: 0,
                    outcome: PackOutcome::Packed { price: Paisa(14_000) },
                },
            ),
            (shop.clone(), Step::HandOver),
        ];
        for (who, step) in steps {
            app.fulfilment()
                .take(&who, &id, &step)
                .await
                .unwrap_or_else(|e| panic!("{step:?}: {e}"));
        }
    });
    script(&app, "add_to_home", Fault::Before);
    let first = rt.block_on(app.fulfilment().take(&customer, &id, &Step::Complete));
    assert!(
        matches!(first, Err(shared::usecases::fulfilment::StepError::Unavailable(_))),
        "a home not updated fails the step as retryable: {first:?}"
    );
    let home = |app: &SimApp| {
        rt.block_on(app.home().items(&customer_id(0)))
            .unwrap_or_else(|e| panic!("{e}"))
    };
    assert!(home(&app).is_empty());
    // The retry is the same step, already applied: the home is updated,
    // and a further retry counts nothing twice.
    for _ in 0..2 {
        let done = rt
            .block_on(app.fulfilment().take(&customer, &id, &Step::Complete))
            .unwrap_or_else(|e| panic!("the retry answers with the order: {e}"));
        assert_eq!(done.status(), OrderStatus::Completed);
        let items = home(&app);
        assert_eq!(items.len(), 1, "{items:?}");
        assert_eq!(items[0].quantity.map(|q| q.amount), Some(Decimal::from(2)), "{items:?}");
    }
    assert_eq!(
        pushed_to(&app, 2).iter().filter(|t| *t == "review_requested").count(),
        3,
        "every attempt told the customer"
    );
}
