//! The capabilities the domain needs from the outside world. Each method
//! returns a `Send` future so handlers can run on a multi-threaded runtime.
//! Adapters: `embedded` (in memory, for the local stack and tests) and, on
//! AWS, DynamoDB, SQS and the API Gateway management API.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use h3o::CellIndex;
use serde::{Deserialize, Serialize};

use crate::domain::account::Account;
use crate::domain::clock::Millis;
use crate::domain::customer::{HomeItem, PhoneNumber};
use crate::domain::geo::CellRange;
use crate::domain::idempotency::IdempotencyRecord;
use crate::domain::ids::{Caller, ConnectionId, CustomerId, OrderId, PromotionId, StoreId};
use crate::domain::limits::{OrderAllowance, SlidingWindow, Versioned};
use crate::domain::matching::CrowdMap;
use crate::domain::notification::{Device, DeviceToken};
use crate::domain::order::Order;
use crate::domain::order::money::{Bill, PaymentMethod, Settlement};
use crate::domain::promotion::{BuyerEntry, BuyerKey, PromotionConsent, ReceivedPromotion};
use crate::domain::sign_in::{CodeRecord, RefreshFamily, SessionCutoff};
use crate::domain::stock::StockLedger;
use crate::domain::store::{Store, StoreApplication};

/// A storage failure that is not the caller's fault (network, throttling,
/// a corrupt item). Never shown to clients.
#[derive(Debug, thiserror::Error)]
#[error("storage unavailable: {0}")]
pub struct RepoError(#[source] pub Box<dyn std::error::Error + Send + Sync>);

impl RepoError {
    pub fn msg(message: impl Into<String>) -> Self {
        RepoError(message.into().into())
    }
}

/// The stores a geo read returned, and its cost.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GeoRead {
    pub stores: Vec<Arc<Store>>,
    pub queries: usize,
    /// What the read left unread: the rest of each range it stopped short
    /// of (from the key of the last store it read, which may hold more).
    /// A range that held exactly as many as asked may be named too:
    /// DynamoDB stops at the limit without looking further.
    pub unread: Vec<CellRange>,
}

/// Store profiles and the geo index over them.
pub trait StoreRepo: Send + Sync {
    /// Creates or replaces a profile and re-indexes its location.
    fn put_store(&self, store: &Store) -> impl Future<Output = Result<(), RepoError>> + Send;
    fn get_store(&self, id: &StoreId) -> impl Future<Output = Result<Option<Store>, RepoError>> + Send;
    /// Writes `next` in place of `current` (`None`: there is no profile
    /// yet) only if the stored profile is still `current` (the same
    /// `updated_at_ms`), re-indexing its location, atomically. The listing
    /// among pending applications follows the status: it is removed in the
    /// same write once `next` is not pending. `Ok(false)` when another write
    /// came first: the caller reads again and decides again.
    fn replace_store(
        &self,
        current: Option<&Store>,
        next: &Store,
    ) -> impl Future<Output = Result<bool, RepoError>> + Send;
    /// Adds a review's stars to the store's stats (and its geo entries).
    fn record_review(&self, store: &StoreId, stars: u8) -> impl Future<Output = Result<(), RepoError>> + Send;
    /// Adds one acceptance and how long it took.
    fn record_acceptance(&self, store: &StoreId, took_ms: u64) -> impl Future<Output = Result<(), RepoError>> + Send;
    /// The stores of `category` whose resolution-15 cell lies in one of
    /// `ranges` (one query per range, all at once), at most `per_range` (at
    /// least one) of each range, in key order: the rest of a range is named in
    /// [`GeoRead::unread`]. Returns what it read and how many queries it
    /// took, so callers can measure the cost of a match.
    fn stores_in_ranges(
        &self,
        category: &str,
        ranges: &[CellRange],
        per_range: usize,
    ) -> impl Future<Output = Result<GeoRead, RepoError>> + Send;
    /// How many geo entries of `category` lie in each crowd cell (`CROWD_RESOLUTION`) of
    /// `partitions`, and in each fine cell (`FINE_CROWD_RESOLUTION`) of
    /// `fine_items` (`FINE_CROWD_ITEM_RESOLUTION`; each counted once
    /// however often named; kept with the entries by every write that adds,
    /// moves or removes one), for sizing a match's reads
    /// ([`CrowdMap::from_counts`]). May be a moment old. A partition or fine
    /// item without counts (a table from before they were kept, until `ops
    /// reindex-geo`) adds nothing; no partition's at all leave the map
    /// unknown.
    fn crowd_map(
        &self,
        category: &str,
        partitions: &[CellIndex],
        fine_items: &[CellIndex],
    ) -> impl Future<Output = Result<CrowdMap, RepoError>> + Send;
}

/// Orders. A change is decided by [`Order::decide`] on the order as read
/// and written with [`OrderRepo::replace_order`] only if nothing else was
/// written since, so storage knows no rule of the state machine.
pub trait OrderRepo: Send + Sync {
    /// Writes a new order, its listings ([`Order::listings`]) and its
    /// customer's allowance with the order admitted, atomically, if the
    /// allowance is still at `allowance.version` (it is written at the next
    /// version). `Ok(false)` when another write to the allowance came first:
    /// the caller reads it again and decides again. Fails if the id exists.
    fn insert_order(
        &self,
        order: &Order,
        allowance: &Versioned<OrderAllowance>,
    ) -> impl Future<Output = Result<bool, RepoError>> + Send;
    /// Orders by id (consistent reads), in no particular order; missing ones
    /// are left out.
    fn get_orders(&self, ids: &[OrderId]) -> impl Future<Output = Result<Vec<Order>, RepoError>> + Send;
    /// The order as stored (a strongly consistent read).
    fn get_order(&self, id: &OrderId) -> impl Future<Output = Result<Option<Order>, RepoError>> + Send;
    /// Writes `next` in place of `current` if the stored order still has
    /// `current`'s version, together with the listings `next` gained
    /// ([`Order::new_listings_since`]), atomically. `Ok(false)` when another
    /// write came first: the caller reads again and decides again.
    fn replace_order(&self, current: &Order, next: &Order) -> impl Future<Output = Result<bool, RepoError>> + Send;
    /// The customer's most recent orders, newest first, at most `limit`,
    /// older than `before` when given (one page).
    fn recent_orders_of_customer(
        &self,
        customer: &CustomerId,
        limit: usize,
        before: Option<&OrderId>,
    ) -> impl Future<Output = Result<Vec<Order>, RepoError>> + Send;
    /// Orders `store` won, newest first, at most `limit`, older than
    /// `before` when given (one page).
    fn orders_won_by(
        &self,
        store: &StoreId,
        limit: usize,
        before: Option<&OrderId>,
    ) -> impl Future<Output = Result<Vec<Order>, RepoError>> + Send;
    /// Orders placed from `from_ms` (inclusive) to `to_ms` (exclusive),
    /// oldest first, at most `limit` (the oldest `limit`).
    fn orders_placed_between(
        &self,
        from_ms: Millis,
        to_ms: Millis,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<Order>, RepoError>> + Send;
    /// Orders offered to `store` whose window is still open at `now`.
    fn open_offers_for_store(
        &self,
        store: &StoreId,
        now: Millis,
    ) -> impl Future<Output = Result<Vec<Order>, RepoError>> + Send;
}

/// Stores' stock counts (`domain::stock`), one ledger per store, read and
/// written by version. An order change that moves a store's counts is
/// written with them in one atomic write, so the last unit is never
/// promised twice and nothing is held for an order that was not written.
pub trait StockRepo: Send + Sync {
    /// The store's ledger; nothing counted at version 0 if none.
    fn stock(&self, store: &StoreId) -> impl Future<Output = Result<Versioned<StockLedger>, RepoError>> + Send;
    /// The ledgers of `stores`, in their order (nothing counted for a store
    /// without one), in one batch read: matching asks whether candidates'
    /// counts cover the demand. May be a moment stale: the winning accept's
    /// hold is what decides.
    fn stocks_of_many(&self, stores: &[StoreId]) -> impl Future<Output = Result<Vec<StockLedger>, RepoError>> + Send;
    /// Writes `next` if the store's ledger is still at `version`;
    /// `Ok(false)` when another write came first.
    fn replace_stock(
        &self,
        store: &StoreId,
        version: u64,
        next: &StockLedger,
    ) -> impl Future<Output = Result<bool, RepoError>> + Send;
    /// [`OrderRepo::replace_order`] and [`Self::replace_stock`] as one
    /// atomic write: both conditions hold and both are written, or neither.
    /// `Ok(false)` when either moved on: the caller reads both again.
    fn replace_order_and_stock(
        &self,
        current: &Order,
        next: &Order,
        store: &StoreId,
        version: u64,
        ledger: &StockLedger,
    ) -> impl Future<Output = Result<bool, RepoError>> + Send;
}

/// A live WebSocket connection and who owns it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Connection {
    pub id: ConnectionId,
    pub owner: Caller,
    pub connected_at_ms: Millis,
}

/// Connections, kept by owner so a push is a key lookup.
pub trait ConnectionRepo: Send + Sync {
    fn put_connection(&self, connection: &Connection) -> impl Future<Output = Result<(), RepoError>> + Send;
    fn get_connection(&self, id: &ConnectionId) -> impl Future<Output = Result<Option<Connection>, RepoError>> + Send;
    /// Removes the connection; returns it if it was there.
    fn delete_connection(
        &self,
        id: &ConnectionId,
    ) -> impl Future<Output = Result<Option<Connection>, RepoError>> + Send;
    /// The live connections of each of `owners`, in their order, in one
    /// batch read: matching asks whether candidates are online, and pushes
    /// find every party's sockets, in one round trip.
    fn connections_of_many(
        &self,
        owners: &[Caller],
    ) -> impl Future<Output = Result<Vec<Vec<ConnectionId>>, RepoError>> + Send;
}

/// Abuse-limit records, read and written by version so that concurrent
/// requests cannot both pass a limit (the domain decides; see
/// `domain::limits`).
pub trait LimitRepo: Send + Sync {
    /// The customer's order allowance (empty at version 0 if none).
    fn order_allowance(
        &self,
        customer: &CustomerId,
    ) -> impl Future<Output = Result<Versioned<OrderAllowance>, RepoError>> + Send;
    /// The window of events counted under `key` (guest tokens per source
    /// address or device, sign-in codes per number, store applications per
    /// applicant), empty at version 0 if none.
    fn rate_window(&self, key: &str) -> impl Future<Output = Result<Versioned<SlidingWindow>, RepoError>> + Send;
    /// Writes `next` under `key` if it is still at `version`; `Ok(false)`
    /// when another write came first.
    fn replace_rate_window(
        &self,
        key: &str,
        version: u64,
        next: &SlidingWindow,
    ) -> impl Future<Output = Result<bool, RepoError>> + Send;
}

/// Idempotency records, read and written by version (the domain decides:
/// `domain::idempotency`). `scope` names the caller and the key.
pub trait IdempotencyRepo: Send + Sync {
    /// The record under `scope`, at version 0 (and `None`) if there is none.
    fn idempotency_record(
        &self,
        scope: &str,
    ) -> impl Future<Output = Result<Versioned<Option<IdempotencyRecord>>, RepoError>> + Send;
    /// Writes `next` under `scope` if it is still at `version`; `Ok(false)`
    /// when another write came first.
    fn replace_idempotency_record(
        &self,
        scope: &str,
        version: u64,
        next: &IdempotencyRecord,
    ) -> impl Future<Output = Result<bool, RepoError>> + Send;
}

/// Accounts by verified phone number (`domain::account`): read and written
/// by version, so two sign-ins of one new number make one account.
pub trait AccountRepo: Send + Sync {
    /// The roles `phone` holds, empty at version 0 if none.
    fn account(&self, phone: &PhoneNumber) -> impl Future<Output = Result<Versioned<Account>, RepoError>> + Send;
    /// Writes `next` for `phone` if it is still at `version`; `Ok(false)`
    /// when another write came first.
    fn replace_account(
        &self,
        phone: &PhoneNumber,
        version: u64,
        next: &Account,
    ) -> impl Future<Output = Result<bool, RepoError>> + Send;
}

/// Sign-in records, read and written by version (the domain decides:
/// `domain::sign_in`): each number's code record, the windows that limit
/// codes per source address, refresh token families and each caller's
/// sign-out-everywhere cutoff. Adapters let every record lapse by itself
/// (a TTL) once it can no longer matter.
pub trait SignInRepo: Send + Sync {
    /// The number's code record, empty at version 0 if none.
    fn code_record(&self, phone: &PhoneNumber)
    -> impl Future<Output = Result<Versioned<CodeRecord>, RepoError>> + Send;
    /// Writes `next` if still at `version`; it may be forgotten after
    /// `forget_after_ms`. `Ok(false)` when another write came first.
    fn replace_code_record(
        &self,
        phone: &PhoneNumber,
        version: u64,
        next: &CodeRecord,
        forget_after_ms: Millis,
    ) -> impl Future<Output = Result<bool, RepoError>> + Send;
    /// A refresh token family by id, `None` at version 0 if unknown.
    fn refresh_family(
        &self,
        family: &str,
    ) -> impl Future<Output = Result<Versioned<Option<RefreshFamily>>, RepoError>> + Send;
    /// Writes `next` if still at `version`; it lapses at `next.expires_ms`.
    fn replace_refresh_family(
        &self,
        family: &str,
        version: u64,
        next: &RefreshFamily,
    ) -> impl Future<Output = Result<bool, RepoError>> + Send;
    /// The caller's sign-out-everywhere cutoff (0 at version 0 if never).
    fn session_cutoff(
        &self,
        caller: &Caller,
    ) -> impl Future<Output = Result<Versioned<SessionCutoff>, RepoError>> + Send;
    fn replace_session_cutoff(
        &self,
        caller: &Caller,
        version: u64,
        next: &SessionCutoff,
    ) -> impl Future<Output = Result<bool, RepoError>> + Send;
}

/// Store applications awaiting an operator, listed without a scan (one
/// partition of pending applications on DynamoDB).
pub trait ApplicationRepo: Send + Sync {
    /// Writes the application's store (pending) and its listing among the
    /// pending applications, atomically. `Ok(false)` when a store with that
    /// id exists (nothing is written).
    fn insert_application(
        &self,
        application: &StoreApplication,
    ) -> impl Future<Output = Result<bool, RepoError>> + Send;
    /// The pending application of `store`, if it is listed.
    fn application(&self, store: &StoreId) -> impl Future<Output = Result<Option<StoreApplication>, RepoError>> + Send;
    /// Pending applications, oldest first (store ids are time-ordered), at
    /// most `limit`, after the store id `after` when given (one page).
    fn pending_applications(
        &self,
        limit: usize,
        after: Option<&StoreId>,
    ) -> impl Future<Output = Result<Vec<StoreApplication>, RepoError>> + Send;
}

/// Per-customer records: the phone number and the virtual home.
pub trait CustomerRepo: Send + Sync {
    fn set_phone(
        &self,
        customer: &CustomerId,
        phone: &PhoneNumber,
    ) -> impl Future<Output = Result<(), RepoError>> + Send;
    fn phone_of(&self, customer: &CustomerId) -> impl Future<Output = Result<Option<PhoneNumber>, RepoError>> + Send;
    /// Adds what an order brought to the customer's virtual home, once per
    /// order (a repeat for the same order changes nothing).
    fn add_to_home(
        &self,
        customer: &CustomerId,
        order: &OrderId,
        items: &[HomeItem],
    ) -> impl Future<Output = Result<(), RepoError>> + Send;
    fn home_of(&self, customer: &CustomerId) -> impl Future<Output = Result<Vec<HomeItem>, RepoError>> + Send;
    /// Replaces (Some) or removes (None) one home item by key.
    fn set_home_item(
        &self,
        customer: &CustomerId,
        key: &str,
        item: Option<HomeItem>,
    ) -> impl Future<Output = Result<(), RepoError>> + Send;
}

/// What notifications outside the app need stored: which ones were sent
/// (claimed before sending, so each is sent at most once), each party's
/// push device, and whether a customer wants SMS receipts.
pub trait NotificationRepo: Send + Sync {
    /// Claims the notice under `key` (`domain::notification::Notice::key`)
    /// with one conditional write: `Ok(true)` for the first claim only.
    /// Claims may be forgotten after `keep_ms`.
    fn claim_notice(
        &self,
        key: &str,
        now: Millis,
        keep_ms: Millis,
    ) -> impl Future<Output = Result<bool, RepoError>> + Send;
    /// Records (or replaces) where pushes to `owner`'s device go.
    fn put_device(&self, owner: &Caller, device: &Device) -> impl Future<Output = Result<(), RepoError>> + Send;
    /// The device of each of `owners`, in their order, in one batch read.
    fn devices_of_many(&self, owners: &[Caller])
    -> impl Future<Output = Result<Vec<Option<Device>>, RepoError>> + Send;
    /// Where the customer's receipts go: their verified number, unless
    /// they opted out of SMS receipts (one read).
    fn receipt_phone(
        &self,
        customer: &CustomerId,
    ) -> impl Future<Output = Result<Option<PhoneNumber>, RepoError>> + Send;
    fn set_receipts_opt_out(
        &self,
        customer: &CustomerId,
        opted_out: bool,
    ) -> impl Future<Output = Result<(), RepoError>> + Send;
}

/// Promotions (`domain::promotion`): each customer's consent, the index of
/// opted-in buyers by place and item, and each customer's received
/// promotions. Consent is read and written by version; index entries are
/// written and removed only with it, so an opt-out removes every entry in
/// the same atomic write and no purchase indexed concurrently survives it.
pub trait PromotionRepo: Send + Sync {
    /// The customer's consent (not opted in, at version 0, if none).
    fn promotion_consent(
        &self,
        customer: &CustomerId,
    ) -> impl Future<Output = Result<Versioned<PromotionConsent>, RepoError>> + Send;
    /// Writes `next` if still at `version`, with the index entries `add`
    /// put and the entries of this customer under `remove` deleted,
    /// atomically. `Ok(false)` when another write came first.
    fn replace_promotion_consent(
        &self,
        customer: &CustomerId,
        version: u64,
        next: &PromotionConsent,
        add: &[BuyerEntry],
        remove: &[BuyerKey],
    ) -> impl Future<Output = Result<bool, RepoError>> + Send;
    /// Every entry under each of `keys` (one query per key).
    fn buyers(&self, keys: &[BuyerKey]) -> impl Future<Output = Result<Vec<BuyerEntry>, RepoError>> + Send;
    /// Puts `received` in the customer's list only if their consent says
    /// opted in at the time of the write (one conditional write, so an
    /// opt-out wins every race). `Ok(false)` when not opted in.
    fn deliver_promotion(
        &self,
        customer: &CustomerId,
        received: &ReceivedPromotion,
    ) -> impl Future<Output = Result<bool, RepoError>> + Send;
    /// The customer's received promotions still valid at `now`, newest first.
    fn received_promotions(
        &self,
        customer: &CustomerId,
        now: Millis,
    ) -> impl Future<Output = Result<Vec<ReceivedPromotion>, RepoError>> + Send;
    /// One received promotion, valid or not.
    fn received_promotion(
        &self,
        customer: &CustomerId,
        id: &PromotionId,
    ) -> impl Future<Output = Result<Option<ReceivedPromotion>, RepoError>> + Send;
}

/// All storage the application needs.
pub trait Storage:
    StoreRepo
    + OrderRepo
    + ConnectionRepo
    + CustomerRepo
    + LimitRepo
    + IdempotencyRepo
    + AccountRepo
    + SignInRepo
    + ApplicationRepo
    + StockRepo
    + NotificationRepo
    + PromotionRepo
    + 'static
{
}
impl<
    T: StoreRepo
        + OrderRepo
        + ConnectionRepo
        + CustomerRepo
        + LimitRepo
        + IdempotencyRepo
        + AccountRepo
        + SignInRepo
        + ApplicationRepo
        + StockRepo
        + NotificationRepo
        + PromotionRepo
        + 'static,
> Storage for T
{
}

/// The message that closes an offer round when its window ends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoundTimer {
    pub order_id: OrderId,
    pub round: u32,
}

/// The queue could not take the message.
#[derive(Debug, thiserror::Error)]
#[error("timer queue unavailable: {0}")]
pub struct QueueError(#[source] pub Box<dyn std::error::Error + Send + Sync>);

/// Delayed delivery of round timers (SQS `DelaySeconds` on AWS).
pub trait OfferTimers: Send + Sync + 'static {
    /// Delivers `timer` to the timer consumer after `delay_ms` or a little
    /// later, at least once.
    fn schedule_round_close(
        &self,
        timer: &RoundTimer,
        delay_ms: Millis,
    ) -> impl Future<Output = Result<(), QueueError>> + Send;
}

/// Why a push did not arrive.
#[derive(Debug, thiserror::Error)]
pub enum PushError {
    /// The connection is gone (HTTP 410); forget it.
    #[error("connection gone")]
    Gone,
    #[error("push failed: {0}")]
    Failed(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// Sends a frame to one connection (`PostToConnection` on AWS), or closes
/// it (`DeleteConnection`).
pub trait Pusher: Send + Sync + 'static {
    fn push(&self, connection: &ConnectionId, payload: &str) -> impl Future<Output = Result<(), PushError>> + Send;
    /// Closes the socket; the client sees the close, and `$disconnect`
    /// follows. `Gone` when it was already closed.
    fn close(&self, connection: &ConnectionId) -> impl Future<Output = Result<(), PushError>> + Send;
}

impl<T: OfferTimers> OfferTimers for std::sync::Arc<T> {
    fn schedule_round_close(
        &self,
        timer: &RoundTimer,
        delay_ms: Millis,
    ) -> impl Future<Output = Result<(), QueueError>> + Send {
        (**self).schedule_round_close(timer, delay_ms)
    }
}

/// Why a payment was not taken.
#[derive(Debug, thiserror::Error)]
pub enum PaymentError {
    /// The provider refused (no balance, a blocked account); the customer
    /// can say so. The text is the provider's short reason.
    #[error("payment declined: {0}")]
    Declined(String),
    /// The provider could not be reached; never shown to clients.
    #[error("payment provider unavailable: {0}")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// What [`PaymentPort::settle`] returns.
pub type SettleFuture<'a> = Pin<Box<dyn Future<Output = Result<Settlement, PaymentError>> + Send + 'a>>;

/// Takes the money for one payment method. Called when an order completes,
/// with the bill as fixed, before the completion is written: a refusal
/// leaves the order as it was. A racing write makes the use case decide
/// again and call `settle` again for the same order, so an adapter settles
/// each order at most once, keyed by the order id (the idempotency key a
/// wallet API takes). Object-safe, unlike the storage ports: the adapter is
/// picked per order, by the method its customer chose.
pub trait PaymentPort: Send + Sync {
    fn method(&self) -> PaymentMethod;
    fn settle<'a>(&'a self, order: &'a OrderId, bill: &'a Bill, now: Millis) -> SettleFuture<'a>;
}

/// Why a text message was not sent. Never shown to clients.
#[derive(Debug, thiserror::Error)]
#[error("text message not sent: {0}")]
pub struct TextError(#[source] pub Box<dyn std::error::Error + Send + Sync>);

/// What [`TextMessages::send_text`] returns.
pub type TextFuture<'a> = Pin<Box<dyn Future<Output = Result<(), TextError>> + Send + 'a>>;

/// Sends one SMS to one number (Amazon SNS `Publish` on AWS; the log and a
/// local outbox on the local stack). Object-safe, like [`PaymentPort`]:
/// the application holds one whatever the storage adapters are.
pub trait TextMessages: Send + Sync {
    /// Sends `text` to `to`, once; an error means it was not accepted.
    fn send_text<'a>(&'a self, to: &'a PhoneNumber, text: &'a str) -> TextFuture<'a>;
}

/// Why a notification was not sent. Never shown to clients.
#[derive(Debug, thiserror::Error)]
#[error("notification not sent: {0}")]
pub struct NotifyError(#[source] pub Box<dyn std::error::Error + Send + Sync>);

/// What [`Notifications`] methods return.
pub type NotifyFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, NotifyError>> + Send + 'a>>;

/// Reaches a party whose app is closed: an SMS to a number, a mobile push
/// to a registered device (Amazon SNS on AWS: `Publish` to a phone number,
/// `CreatePlatformEndpoint` and `Publish` to its ARN; the local stack
/// records them). Object-safe, like [`TextMessages`].
pub trait Notifications: Send + Sync {
    fn send_sms<'a>(&'a self, to: &'a PhoneNumber, text: &'a str) -> NotifyFuture<'a, ()>;
    /// Registers a device's push token: where pushes to it go from now on.
    fn register_device<'a>(&'a self, token: &'a DeviceToken) -> NotifyFuture<'a, Device>;
    /// Sends `payload` (JSON) to one device.
    fn push_to_device<'a>(&'a self, device: &'a Device, payload: &'a str) -> NotifyFuture<'a, ()>;
}
