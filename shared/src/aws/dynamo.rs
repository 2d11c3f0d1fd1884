//! DynamoDB adapter for the storage ports, on one table. The access
//! patterns, keys and the reasons for them are in docs/dynamodb.md.

mod promotions;

use std::collections::HashMap;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::get_item::GetItemError;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeValue, ConditionCheck, Delete, KeysAndAttributes, Put, ReturnValue, ReturnValuesOnConditionCheckFailure,
    TransactWriteItem, Update,
};
use futures_util::{StreamExt, TryStreamExt};
use h3o::CellIndex;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::domain::account::Account;
use crate::domain::clock::Millis;
use crate::domain::customer::{HomeItem, PhoneNumber, merge_into_home};
use crate::domain::figures;
use crate::domain::geo::{CROWD_RESOLUTION, CellRange, FINE_CROWD_RESOLUTION, store_crowd_slots, store_partition};
use crate::domain::idempotency::IdempotencyRecord;
use crate::domain::ids::{Caller, ConnectionId, CustomerId, OrderId, StoreId};
use crate::domain::limits::{OrderAllowance, SlidingWindow, Versioned};
use crate::domain::matching::CrowdMap;
use crate::domain::notification::Device;
use crate::domain::order::{Listing, Order};
use crate::domain::sign_in::{CodeRecord, REFRESH_LIFETIME_MS, RefreshFamily, SessionCutoff};
use crate::domain::stock::StockLedger;
use crate::domain::store::{Store, StoreApplication, StoreStatus};
use crate::ports::{
    AccountRepo, ApplicationRepo, Connection, ConnectionRepo, CustomerRepo, GeoRead, IdempotencyRepo, LimitRepo,
    NotificationRepo, OrderRepo, RepoError, SignInRepo, StockRepo, StoreRepo,
};

type Item = HashMap<String, AttributeValue>;

/// Connection records outlive API Gateway's 2-hour connection limit by a
/// margin, then DynamoDB's TTL removes any that `$disconnect` missed.
const CONNECTION_TTL_S: i64 = 2 * 3600 + 600;
/// Offer index items stay a day after their deadline, for support.
const OFFER_TTL_S: i64 = 24 * 3600;
/// How a batch read reads: strongly consistent (1 unit per 4 KB) or
/// eventually consistent (half of that, possibly a second stale).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Read {
    Consistent,
    Eventual,
}

/// BatchGetItem's limit.
const BATCH_GET_MAX: usize = 100;

/// The storage ports on one DynamoDB table (`pk`, `sk`, TTL on `ttl`).
#[derive(Debug, Clone)]
pub struct DynamoStorage {
    client: Client,
    table: String,
}

fn repo_err<E: std::error::Error + Send + Sync + 'static>(e: E) -> RepoError {
    RepoError(Box::new(e))
}

fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

fn n(value: impl ToString) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

fn to_item<T: Serialize>(value: &T) -> Result<Item, RepoError> {
    serde_dynamo::to_item(value).map_err(repo_err)
}

fn from_item<T: DeserializeOwned>(item: Item) -> Result<T, RepoError> {
    serde_dynamo::from_item(item).map_err(repo_err)
}

/// Whether a conditional `PutItem` wrote: `false` when its condition failed.
fn put_applied<O, R>(result: Result<O, SdkError<PutItemError, R>>) -> Result<bool, RepoError>
where
    R: std::fmt::Debug + Send + Sync + 'static,
{
    match result {
        Ok(_) => Ok(true),
        Err(SdkError::ServiceError(e)) if matches!(e.err(), PutItemError::ConditionalCheckFailedException(_)) => {
            Ok(false)
        }
        Err(e) => Err(repo_err(e)),
    }
}

/// How a conditional write ended.
enum Outcome {
    Written,
    /// Its condition failed; the item as it was, when the server returned
    /// it (`ReturnValuesOnConditionCheckFailure: ALL_OLD`).
    Refused(Option<Item>),
    /// The SDK gave up: it may or may not have landed.
    Failed(RepoError),
}

/// The outcome of a conditional `PutItem` sent with `ALL_OLD` on failure.
fn put_outcome<O, R>(result: Result<O, SdkError<PutItemError, R>>) -> Outcome
where
    R: std::fmt::Debug + Send + Sync + 'static,
{
    match result {
        Ok(_) => Outcome::Written,
        Err(SdkError::ServiceError(e)) => match e.into_err() {
            PutItemError::ConditionalCheckFailedException(failed) => Outcome::Refused(failed.item),
            other => Outcome::Failed(repo_err(other)),
        },
        Err(e) => Outcome::Failed(repo_err(e)),
    }
}

/// An attribute naming one write of an item (a fresh ULID per write, not
/// per attempt), so that a retried write can tell its own earlier attempt
/// from another writer's (`DynamoStorage::wrote`). Not part of any record.
const WRITE_ID: &str = "write_id";

/// Marks `item` with a new write id and returns it.
fn new_write_id(item: &mut Item) -> String {
    let id = ulid::Ulid::new().to_string();
    item.insert(WRITE_ID.into(), s(id.clone()));
    id
}

fn key(pk: String, sk: &str) -> Item {
    HashMap::from([("pk".to_string(), s(pk)), ("sk".to_string(), s(sk))])
}

fn store_key(id: &StoreId) -> Item {
    key(format!("STORE#{id}"), "PROFILE")
}

/// The city's orders are listed by the hour they were placed in, one
/// partition an hour (a city's orders an hour are far below a partition's
/// write limit), sorted by time.
fn placed_partition(at_ms: Millis) -> String {
    format!("PLACED#{}", figures::hour_of(at_ms))
}

/// Milliseconds padded to 13 digits (until the year 2286) sort as text.
fn placed_sort_key(at_ms: Millis, order: &str) -> String {
    format!("{at_ms:013}#{order}")
}

/// The journey's metrics of an order's latest change, as one EMF line on
/// stdout (CloudWatch Logs makes them metrics). Printed after the write, so
/// a write that failed counts nothing.
fn emit_metrics(order: &Order) {
    if let Some((area, metrics)) = figures::metrics_of_latest_change(order) {
        let at_ms = order.audit().last().map_or(0, |e| e.at_ms);
        println!("{}", super::emf::line(&area, &metrics, at_ms));
    }
}

/// Hour partitions of placed orders queried at once (operators' figures
/// span up to 48 hours).
const PLACED_HOURS_AT_ONCE: usize = 8;

fn order_key(id: &OrderId) -> Item {
    key(format!("ORDER#{id}"), "ORDER")
}

/// Geo index key: partition = category and resolution-6 ancestor cell
/// (`PARTITION_RESOLUTION`: about 36 km², so a city's load spreads); sort
/// key = resolution-15 cell as 16 hex digits (lexicographic = numeric order)
/// and the store id, so every cell range is one `BETWEEN`.
fn geo_key(store: &Store) -> Item {
    let cell = store.location.geo_key();
    let partition = u64::from(store_partition(store.location));
    key(
        format!("GEO#{}#{partition:016x}", store.category),
        &format!("{cell:016x}#{}", store.id),
    )
}

/// Where a geo entry is counted: category, the crowd item's cell, and the
/// cell counted in.
type CrowdSlot = (String, CellIndex, CellIndex);

/// Where `store`'s entry is counted ([`store_crowd_slots`]).
fn crowd_slots(store: &Store) -> [CrowdSlot; 2] {
    store_crowd_slots(store.location).map(|(item, cell)| (store.category.clone(), item, cell))
}

/// The crowd item of a category's partition (one number attribute per
/// cell at [`CROWD_RESOLUTION`], [`crowd_attribute`], the geo entries under
/// it), or of a fine crowd item's cell (per cell at
/// [`FINE_CROWD_RESOLUTION`]): the cell's resolution tells them apart.
fn crowd_key(category: &str, item: CellIndex) -> Item {
    key(format!("CROWD#{category}#{:016x}", u64::from(item)), "CELLS")
}

/// A top-level attribute per cell, so one `SET` adds to it atomically.
fn crowd_attribute(cell: CellIndex) -> String {
    format!("c{:x}", u64::from(cell))
}

/// The counts a crowd item holds, by cell. Counts at another resolution
/// (kept before the crowd cells were made finer, until `ops reindex-geo`
/// rewrites the item) are left out.
fn crowd_counts(item: &Item) -> impl Iterator<Item = (CellIndex, i64)> + '_ {
    item.iter().filter_map(|(name, value)| {
        let hex = name.strip_prefix('c')?;
        let cell = CellIndex::try_from(u64::from_str_radix(hex, 16).ok()?).ok()?;
        if cell.resolution() != CROWD_RESOLUTION && cell.resolution() != FINE_CROWD_RESOLUTION {
            return None;
        }
        Some((cell, value.as_n().ok()?.parse().ok()?))
    })
}

/// An item's primary key (`pk`, `sk`), as read with it.
fn key_of(item: &Item) -> Item {
    item.iter()
        .filter(|(name, _)| *name == "pk" || *name == "sk")
        .map(|(name, value)| (name.clone(), value.clone()))
        .collect()
}

fn time_to_live(seconds_from_now: i64, now_ms: Millis) -> AttributeValue {
    n(now_ms / 1000 + seconds_from_now)
}

fn string_set(ids: impl IntoIterator<Item = String>) -> Option<AttributeValue> {
    let ids: Vec<String> = ids.into_iter().collect();
    (!ids.is_empty()).then(|| AttributeValue::Ss(ids))
}

/// One write of a transaction cancelled by conditions: whether it failed
/// its own, and the item as it was (returned with the failure).
struct Cancelled {
    failed: bool,
    item: Option<Item>,
}

/// `None` when a transaction was written; `Some(reasons)` when it was
/// cancelled by conditions, with which of its writes failed theirs.
fn cancelled_by_condition<O, R>(
    result: Result<O, SdkError<TransactWriteItemsError, R>>,
) -> Result<Option<Vec<Cancelled>>, RepoError>
where
    R: std::fmt::Debug + Send + Sync + 'static,
{
    match result {
        Ok(_) => Ok(None),
        Err(SdkError::ServiceError(e)) => match e.into_err() {
            TransactWriteItemsError::TransactionCanceledException(cancelled) => {
                let reasons: Vec<Cancelled> = cancelled
                    .cancellation_reasons()
                    .iter()
                    .map(|r| Cancelled {
                        failed: r.code() == Some("ConditionalCheckFailed"),
                        item: r.item().cloned(),
                    })
                    .collect();
                if reasons.iter().any(|r| r.failed) {
                    Ok(Some(reasons))
                } else {
                    Err(repo_err(TransactWriteItemsError::TransactionCanceledException(
                        cancelled,
                    )))
                }
            }
            other => Err(repo_err(other)),
        },
        Err(e) => Err(repo_err(e)),
    }
}

/// A versioned record's item (`field` = `value`, `version` = `read + 1`,
/// `ttl`) and the condition that the stored one is still at `read`.
fn versioned_item<T: Serialize>(
    key: Item,
    field: &str,
    value: &T,
    read: u64,
    ttl: Option<AttributeValue>,
) -> Result<(Item, (&'static str, Item)), RepoError> {
    let mut item = key;
    item.insert(field.to_string(), AttributeValue::M(to_item(value)?));
    item.insert("version".into(), n(read + 1));
    if let Some(ttl) = ttl {
        item.insert("ttl".into(), ttl);
    }
    let condition = if read == 0 {
        ("attribute_not_exists(pk)", Item::new())
    } else {
        ("version = :read", Item::from([(":read".to_string(), n(read))]))
    };
    Ok((item, condition))
}

fn stock_key(store: &StoreId) -> Item {
    key(format!("STORE#{store}"), "STOCK")
}

fn allowance_key(customer: &CustomerId) -> Item {
    key(format!("CUSTOMER#{customer}"), "ALLOWANCE")
}

fn idempotency_key(scope: &str) -> Item {
    key(format!("IDEMPOTENCY#{scope}"), "RECORD")
}

/// Items about one phone number are keyed by a digest of it, so neither
/// the table's keys nor anything that prints a key or a read item (the
/// SDK's trace logs) carries the number itself.
fn phone_partition(phone: &PhoneNumber) -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, phone.as_e164().as_bytes());
    let hex: String = digest.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    format!("PHONE#{hex}")
}

/// One item per verified phone number: the roles it holds.
fn account_key(phone: &PhoneNumber) -> Item {
    key(phone_partition(phone), "ACCOUNT")
}

/// A number's sign-in code record, beside its account.
fn code_record_key(phone: &PhoneNumber) -> Item {
    key(phone_partition(phone), "SIGNIN_CODE")
}

fn refresh_family_key(family: &str) -> Item {
    key(format!("REFRESH#{family}"), "FAMILY")
}

fn session_cutoff_key(caller: &Caller) -> Item {
    key(format!("SESSIONS#{}", caller.key()), "CUTOFF")
}

/// The partition every pending application is listed under: pending
/// applications are few (an operator's queue), so one partition serves the
/// listing as one `Query`, with no scan and no index.
const PENDING_APPLICATIONS: &str = "APPLICATIONS#pending";

fn application_key(store: &StoreId) -> Item {
    key(PENDING_APPLICATIONS.to_string(), &format!("STORE#{store}"))
}

/// A rate window: the caller's key names what it counts
/// (`GUESTS#ADDRESS#…`, `SIGNIN#SEND#…`, `APPLY#…`).
fn rate_window_key(key_text: &str) -> Item {
    key(key_text.to_string(), "WINDOW")
}

/// How long a limit record outlives its last write: longer than any window.
const LIMIT_TTL_S: i64 = 2 * 24 * 3_600;

impl DynamoStorage {
    #[must_use]
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        DynamoStorage {
            client,
            table: table.into(),
        }
    }

    #[must_use]
    pub fn table(&self) -> &str {
        &self.table
    }

    /// Reads one item that never exists, so the client's first connection
    /// (TLS handshake, credentials, endpoint) is made before the first event.
    /// Needs only `dynamodb:GetItem`, which every function with a table has.
    ///
    /// # Errors
    /// The SDK's error as it came; the caller decides whether it matters
    /// (priming only logs it).
    pub async fn prime(&self) -> Result<(), SdkError<GetItemError>> {
        self.client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key("PRIME".into(), "PRIME")))
            .send()
            .await?;
        Ok(())
    }

    fn order_item(order: &Order) -> Result<Item, RepoError> {
        let mut item = to_item(order)?;
        item.extend(order_key(order.id()));
        Ok(item)
    }

    /// The item of one listing of `order` (a key under its owner, naming
    /// the order; offers lapse by TTL).
    fn listing_item(order: &OrderId, listing: &Listing) -> Item {
        let mut item = match listing {
            Listing::Customer(customer) => key(format!("CUSTOMER#{customer}"), &format!("ORDER#{order}")),
            Listing::OfferedTo { store, deadline_ms } => {
                let mut item = key(format!("STORE#{store}"), &format!("OFFER#{order}"));
                item.insert("deadline_ms".into(), n(deadline_ms));
                item.insert("ttl".into(), time_to_live(OFFER_TTL_S, *deadline_ms));
                item
            }
            Listing::WonBy(store) => key(format!("STORE#{store}"), &format!("WON#{order}")),
            Listing::PlacedAt(at_ms) => key(placed_partition(*at_ms), &placed_sort_key(*at_ms, &order.to_string())),
        };
        item.insert("order_id".into(), s(order.to_string()));
        item
    }

    fn put(&self, item: Item, condition: Option<(&str, Item)>) -> Result<TransactWriteItem, RepoError> {
        let (condition, values) = condition.map_or((None, None), |(c, v)| (Some(c.to_string()), Some(v)));
        // DynamoDB refuses an empty map of values.
        let values = values.filter(|v| !v.is_empty());
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .set_return_values_on_condition_check_failure(
                condition
                    .is_some()
                    .then_some(ReturnValuesOnConditionCheckFailure::AllOld),
            )
            .set_condition_expression(condition)
            .set_expression_attribute_values(values)
            .build()
            .map_err(repo_err)?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    /// A put of `value` under `key` (as attribute `field`) at `read + 1`,
    /// only if the stored item is still at version `read` (absent for 0),
    /// as part of a transaction.
    fn versioned_put<T: Serialize>(
        &self,
        key: Item,
        field: &str,
        value: &T,
        read: u64,
        ttl: Option<AttributeValue>,
    ) -> Result<TransactWriteItem, RepoError> {
        let (item, condition) = versioned_item(key, field, value, read, ttl)?;
        self.put(item, Some(condition))
    }

    /// The same put on its own: one conditional `PutItem` (half a
    /// transaction's write cost). `Ok(false)` when the version moved on.
    async fn replace_versioned<T: Serialize>(
        &self,
        key: Item,
        field: &str,
        value: &T,
        read: u64,
        ttl: Option<AttributeValue>,
    ) -> Result<bool, RepoError> {
        let (item, (condition, values)) = versioned_item(key, field, value, read, ttl)?;
        self.put_if(item, condition, values).await
    }

    /// One conditional put: `Ok(false)` when its condition failed, unless
    /// an earlier attempt of this same put wrote it and lost its answer
    /// (the SDK then retried it into the condition; its `write_id` tells).
    async fn put_if(&self, mut item: Item, condition: &str, values: Item) -> Result<bool, RepoError> {
        let write_id = new_write_id(&mut item);
        let key = HashMap::from([
            ("pk".to_string(), item["pk"].clone()),
            ("sk".to_string(), item["sk"].clone()),
        ]);
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression(condition)
            .set_expression_attribute_values((!values.is_empty()).then_some(values))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match put_outcome(result) {
            Outcome::Written => Ok(true),
            Outcome::Refused(stored) => self.wrote(key, stored, &write_id).await,
            Outcome::Failed(e) => Err(e),
        }
    }

    /// Whether the item stored under `key` carries the `write_id` of one
    /// write: after that conditional write failed, whether an earlier
    /// attempt of it landed and only its answer was lost. The SDK retries
    /// a call whose connection broke, and the retry then fails its own
    /// condition; `PutItem` has no idempotency token, and a transaction's
    /// token only covers the SDK's own retries within ten minutes, and not
    /// on every DynamoDB-compatible server.
    /// `stored` is the item as the failed write's answer returned it; if
    /// the server did not, it is read.
    async fn wrote(&self, key: Item, stored: Option<Item>, write_id: &str) -> Result<bool, RepoError> {
        let stored = match stored {
            Some(item) => Some(item),
            None => self.get(key).await?,
        };
        Ok(stored
            .and_then(|mut stored| stored.remove(WRITE_ID))
            .is_some_and(|stored| stored == s(write_id)))
    }

    /// A conditional write of `order` settled: written (`true`), or not
    /// (`false`: the condition failed and the order stored is another
    /// write's), or an error. After a failed condition (with the order as
    /// the failure returned it: no extra call), and after an error (the SDK
    /// gave up, but an earlier attempt may have acted: read back), the
    /// write landed if the order stored carries this write's id.
    async fn settled(&self, order: &OrderId, write_id: &str, outcome: Outcome) -> Result<bool, RepoError> {
        match outcome {
            Outcome::Written => Ok(true),
            Outcome::Refused(stored) => self.wrote(order_key(order), stored, write_id).await,
            Outcome::Failed(e) => match self.wrote(order_key(order), None, write_id).await {
                Ok(true) => Ok(true),
                _ => Err(e),
            },
        }
    }

    /// A versioned record: `field` of the item under `key`, or the default
    /// at version 0.
    async fn versioned_get<T: DeserializeOwned + Default>(
        &self,
        key: Item,
        field: &str,
    ) -> Result<Versioned<T>, RepoError> {
        let Some(mut item) = self.get(key).await? else {
            return Ok(Versioned::default());
        };
        let version = item
            .get("version")
            .and_then(|v| v.as_n().ok())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let value = match item.remove(field) {
            Some(AttributeValue::M(map)) => from_item(map)?,
            _ => T::default(),
        };
        Ok(Versioned { value, version })
    }

    /// The writes that put `store` in place of `old` (`None`: no profile
    /// yet): the profile, conditional on `old`'s `updated_at_ms` (or on no
    /// profile), so two racing updates cannot orphan a geo entry; the geo
    /// entry (a full copy, status included); and, if the location or
    /// category moved, the delete of the old geo entry; and when the entry
    /// is new or changed cell, the crowd counts it left and joined.
    fn store_writes(&self, old: Option<&Store>, store: &Store) -> Result<Vec<TransactWriteItem>, RepoError> {
        let mut profile = to_item(store)?;
        profile.extend(store_key(&store.id));
        let mut geo = to_item(store)?;
        let new_geo_key = geo_key(store);
        geo.extend(new_geo_key.clone());
        let mut put_profile = Put::builder().table_name(&self.table).set_item(Some(profile));
        put_profile = match old {
            None => put_profile.condition_expression("attribute_not_exists(pk)"),
            Some(old) => put_profile
                .condition_expression("updated_at_ms = :seen")
                .expression_attribute_values(":seen", n(old.updated_at_ms)),
        };
        let mut writes = vec![
            TransactWriteItem::builder()
                .put(put_profile.build().map_err(repo_err)?)
                .build(),
            TransactWriteItem::builder()
                .put(
                    Put::builder()
                        .table_name(&self.table)
                        .set_item(Some(geo))
                        .build()
                        .map_err(repo_err)?,
                )
                .build(),
        ];
        match old {
            None => writes.extend(self.crowd_updates(None, crowd_slots(store))?),
            Some(old) => {
                let old_geo_key = geo_key(old);
                if old_geo_key != new_geo_key {
                    let delete = Delete::builder()
                        .table_name(&self.table)
                        .set_key(Some(old_geo_key))
                        .build()
                        .map_err(repo_err)?;
                    writes.push(TransactWriteItem::builder().delete(delete).build());
                    writes.extend(self.crowd_updates(Some(crowd_slots(old)), crowd_slots(store))?);
                }
            }
        }
        Ok(writes)
    }

    /// A geo entry that left `left` (`None`: a new one) for `joined`: one
    /// less there, one more here, in the same transaction as the entry
    /// (one `SET` per crowd item: a transaction may touch an item once).
    /// Nothing where it stays in its cell.
    fn crowd_updates(
        &self,
        left: Option<[CrowdSlot; 2]>,
        joined: [CrowdSlot; 2],
    ) -> Result<Vec<TransactWriteItem>, RepoError> {
        let mut deltas: std::collections::BTreeMap<CrowdSlot, i64> = Default::default();
        for (slot, delta) in left
            .into_iter()
            .flatten()
            .map(|l| (l, -1))
            .chain(joined.into_iter().map(|j| (j, 1)))
        {
            *deltas.entry(slot).or_default() += delta;
        }
        // By crowd item (category, item cell): the cells it changes.
        let mut by_item: std::collections::BTreeMap<(String, CellIndex), Vec<(CellIndex, i64)>> = Default::default();
        for ((category, item, cell), delta) in deltas {
            if delta != 0 {
                by_item.entry((category, item)).or_default().push((cell, delta));
            }
        }
        by_item
            .into_iter()
            .map(|((category, item), cells)| {
                let mut update = Update::builder()
                    .table_name(&self.table)
                    .set_key(Some(crowd_key(&category, item)))
                    .expression_attribute_values(":zero", n(0));
                let mut sets = Vec::with_capacity(cells.len());
                for (i, (cell, delta)) in cells.into_iter().enumerate() {
                    sets.push(format!("#c{i} = if_not_exists(#c{i}, :zero) + :d{i}"));
                    update = update
                        .expression_attribute_names(format!("#c{i}"), crowd_attribute(cell))
                        .expression_attribute_values(format!(":d{i}"), n(delta));
                }
                update
                    .update_expression(format!("SET {}", sets.join(", ")))
                    .build()
                    .map(|u| TransactWriteItem::builder().update(u).build())
                    .map_err(repo_err)
            })
            .collect()
    }

    async fn write_all(&self, writes: Vec<TransactWriteItem>) -> Result<(), RepoError> {
        // A transaction holds at most 100 writes; offers are far fewer.
        for chunk in writes.chunks(100) {
            self.client
                .transact_write_items()
                .set_transact_items(Some(chunk.to_vec()))
                .send()
                .await
                .map_err(repo_err)?;
        }
        Ok(())
    }

    /// One transaction: `Ok(false)` when a condition in it failed (nothing
    /// written).
    async fn write_if_conditions_hold(&self, writes: Vec<TransactWriteItem>) -> Result<bool, RepoError> {
        Ok(self.transact(writes).await?.is_none())
    }

    /// A store write ([`Self::store_writes`]), as
    /// [`Self::write_if_conditions_hold`]. Stores of one partition share
    /// its crowd item, so two written at the same moment (a city's stores
    /// registering) can cancel each other with `TransactionConflict`;
    /// nothing was written then, and the same transaction is tried again
    /// after a short pause.
    async fn write_store(&self, writes: Vec<TransactWriteItem>) -> Result<bool, RepoError> {
        const ATTEMPTS: u64 = 5;
        for attempt in 1..ATTEMPTS {
            let result = self
                .client
                .transact_write_items()
                .set_transact_items(Some(writes.clone()))
                .send()
                .await;
            let conflicted = matches!(&result, Err(SdkError::ServiceError(e)) if matches!(
                e.err(),
                TransactWriteItemsError::TransactionCanceledException(c)
                    if c.cancellation_reasons().iter().any(|r| r.code() == Some("TransactionConflict"))
                        && !c.cancellation_reasons().iter().any(|r| r.code() == Some("ConditionalCheckFailed"))
            ));
            if !conflicted {
                return Ok(cancelled_by_condition(result)?.is_none());
            }
            tokio::time::sleep(std::time::Duration::from_millis(20 * attempt)).await;
        }
        self.write_if_conditions_hold(writes).await
    }

    /// One transaction, as [`cancelled_by_condition`] reads its outcome.
    async fn transact(&self, writes: Vec<TransactWriteItem>) -> Result<Option<Vec<Cancelled>>, RepoError> {
        let result = self
            .client
            .transact_write_items()
            .set_transact_items(Some(writes))
            .send()
            .await;
        cancelled_by_condition(result)
    }

    async fn get(&self, key: Item) -> Result<Option<Item>, RepoError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key))
            .consistent_read(true)
            .send()
            .await
            .map_err(repo_err)?;
        Ok(out.item)
    }

    /// Every page of a query, and how many pages (requests) it took.
    async fn query_all(
        &self,
        condition: &str,
        names: HashMap<String, String>,
        values: Item,
        filter: Option<&str>,
    ) -> Result<(Vec<Item>, usize), RepoError> {
        let mut items = Vec::new();
        let mut start: Option<Item> = None;
        let mut requests = 0;
        loop {
            requests += 1;
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression(condition)
                .set_expression_attribute_names(Some(names.clone()))
                .set_expression_attribute_values(Some(values.clone()))
                .set_filter_expression(filter.map(str::to_string))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(repo_err)?;
            items.extend(out.items.unwrap_or_default());
            match out.last_evaluated_key {
                Some(next) if !next.is_empty() => start = Some(next),
                _ => return Ok((items, requests)),
            }
        }
    }
}

impl StoreRepo for DynamoStorage {
    async fn put_store(&self, store: &Store) -> Result<(), RepoError> {
        let old: Option<Store> = match self.get(store_key(&store.id)).await? {
            Some(item) => Some(from_item(item)?),
            None => None,
        };
        if self.write_store(self.store_writes(old.as_ref(), store)?).await? {
            Ok(())
        } else {
            Err(RepoError::msg("the store was written meanwhile"))
        }
    }

    async fn replace_store(&self, current: Option<&Store>, next: &Store) -> Result<bool, RepoError> {
        let mut writes = self.store_writes(current, next)?;
        if next.status != StoreStatus::Pending {
            // No condition: deleting a listing that is not there is a no-op.
            let delete = Delete::builder()
                .table_name(&self.table)
                .set_key(Some(application_key(&next.id)))
                .build()
                .map_err(repo_err)?;
            writes.push(TransactWriteItem::builder().delete(delete).build());
        }
        self.write_store(writes).await
    }

    async fn get_store(&self, id: &StoreId) -> Result<Option<Store>, RepoError> {
        self.get(store_key(id)).await?.map(from_item).transpose()
    }

    async fn record_review(&self, store: &StoreId, stars: u8) -> Result<(), RepoError> {
        self.add_stats(store, "stats.rating_sum", u64::from(stars), "stats.rating_count")
            .await
    }

    async fn record_acceptance(&self, store: &StoreId, took_ms: u64) -> Result<(), RepoError> {
        self.add_stats(store, "stats.accept_ms_sum", took_ms, "stats.accept_count")
            .await
    }

    async fn stores_in_ranges(
        &self,
        category: &str,
        ranges: &[CellRange],
        per_range: usize,
    ) -> Result<GeoRead, RepoError> {
        // Every range at once: one round trip, not one per range.
        let queries = ranges.iter().map(|range| async move {
            let pk = format!("GEO#{category}#{:016x}", u64::from(range.partition));
            let lo = format!("{:016x}#", range.first);
            // '~' sorts after every character a store id may hold.
            let hi = format!("{:016x}#~", range.last);
            let Ok(limit) = i32::try_from(per_range) else {
                let values = HashMap::from([
                    (":pk".to_string(), s(pk)),
                    (":lo".to_string(), s(lo)),
                    (":hi".to_string(), s(hi)),
                ]);
                let (items, requests) = self
                    .query_all("pk = :pk AND sk BETWEEN :lo AND :hi", HashMap::new(), values, None)
                    .await?;
                return Ok((items, requests, None));
            };
            // One page of at most `per_range` items: the rest of the range
            // is left unread, from the key of the last item read on.
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk AND sk BETWEEN :lo AND :hi")
                .expression_attribute_values(":pk", s(pk))
                .expression_attribute_values(":lo", s(lo))
                .expression_attribute_values(":hi", s(hi))
                .limit(limit.max(1))
                .send()
                .await
                .map_err(repo_err)?;
            let items = out.items.unwrap_or_default();
            let unread = match out.last_evaluated_key {
                Some(next) if !next.is_empty() => {
                    let key = next
                        .get("sk")
                        .and_then(|v| v.as_s().ok())
                        .and_then(|sk| sk.split('#').next())
                        .and_then(|hex| u64::from_str_radix(hex, 16).ok())
                        .ok_or_else(|| RepoError::msg("a geo page ended at a key that is not a cell"))?;
                    Some(CellRange { first: key, ..*range })
                }
                _ => None,
            };
            Ok::<_, RepoError>((items, 1, unread))
        });
        let mut read = GeoRead::default();
        for result in futures_util::future::join_all(queries).await {
            let (items, requests, unread) = result?;
            read.queries += requests;
            read.unread.extend(unread);
            for item in items {
                read.stores.push(std::sync::Arc::new(from_item(item)?));
            }
        }
        Ok(read)
    }

    async fn crowd_map(
        &self,
        category: &str,
        partitions: &[CellIndex],
        fine_items: &[CellIndex],
    ) -> Result<CrowdMap, RepoError> {
        // A hint: eventually consistent, half a unit per item of a few KB.
        let mut partitions = partitions.to_vec();
        partitions.sort_unstable();
        partitions.dedup();
        let mut fine_items = fine_items.to_vec();
        fine_items.sort_unstable();
        fine_items.dedup();
        let keys = partitions
            .iter()
            .chain(&fine_items)
            .map(|cell| crowd_key(category, *cell))
            .collect();
        let items = self.batch_get_aligned(keys, Read::Eventual).await?;
        // Unknown where no partition asked for has counts (a fine item's
        // counts alone are read only into a map already known).
        if !partitions.is_empty() && items.iter().take(partitions.len()).all(Option::is_none) {
            return Ok(CrowdMap::default());
        }
        Ok(CrowdMap::from_counts(
            items.iter().flatten().flat_map(crowd_counts),
            &fine_items,
        ))
    }
}

impl DynamoStorage {
    /// The orders named by the newest `limit` index entries under `pk` whose
    /// sort key starts with `prefix` (order ids are ULIDs, so newest first),
    /// older than `before` when given.
    async fn newest_indexed_orders(
        &self,
        pk: String,
        prefix: &str,
        limit: usize,
        before: Option<&OrderId>,
    ) -> Result<Vec<Order>, RepoError> {
        // One key condition: the prefix up to just below `before` ('#' then
        // a ULID, so "{prefix}{before}" itself is the exclusive end).
        let upper = match before {
            Some(id) => format!("{prefix}{id}"),
            None => format!("{prefix}~"),
        };
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND sk BETWEEN :lower AND :upper")
            .expression_attribute_values(":pk", s(pk))
            .expression_attribute_values(":lower", s(prefix))
            .expression_attribute_values(":upper", s(upper))
            .scan_index_forward(false)
            .limit(i32::try_from(limit.saturating_add(1)).unwrap_or(i32::MAX))
            .send()
            .await
            .map_err(repo_err)?;
        let ids: Vec<OrderId> = out
            .items
            .unwrap_or_default()
            .iter()
            .filter_map(|i| i.get("order_id").and_then(|v| v.as_s().ok()))
            .filter_map(|id| OrderId::new(id.as_str()).ok())
            .filter(|id| before.is_none_or(|b| id < b))
            .take(limit)
            .collect();
        let mut orders = self.orders_by_id(&ids).await?;
        orders.sort_by(|a, b| b.id().cmp(a.id()));
        Ok(orders)
    }

    /// Adds to a store's stats on its profile and its geo entry together
    /// (atomic `ADD`s in one transaction), so matching sees what reviews say.
    async fn add_stats(&self, store: &StoreId, sum_path: &str, amount: u64, count_path: &str) -> Result<(), RepoError> {
        let Some(current) = self.get_store(store).await? else {
            return Ok(());
        };
        let (sum_map, sum_field) = sum_path.split_once('.').unwrap_or(("stats", sum_path));
        let count_field = count_path.split_once('.').map_or(count_path, |(_, f)| f);
        let update = |key: Item| {
            aws_sdk_dynamodb::types::Update::builder()
                .table_name(&self.table)
                .set_key(Some(key))
                .update_expression("ADD #m.#sum :amount, #m.#count :one")
                .condition_expression("attribute_exists(pk)")
                .expression_attribute_names("#m", sum_map)
                .expression_attribute_names("#sum", sum_field)
                .expression_attribute_names("#count", count_field)
                .expression_attribute_values(":amount", n(amount))
                .expression_attribute_values(":one", n(1))
                .build()
                .map(|u| TransactWriteItem::builder().update(u).build())
                .map_err(repo_err)
        };
        self.write_all(vec![update(store_key(store))?, update(geo_key(&current))?])
            .await
    }

    /// Orders by id, read in batches (consistent), in no particular order.
    async fn orders_by_id(&self, ids: &[OrderId]) -> Result<Vec<Order>, RepoError> {
        let items = self
            .batch_get(ids.iter().map(order_key).collect(), Read::Consistent)
            .await?;
        items.into_iter().map(from_item).collect()
    }

    /// The item of each of `keys`, in their order (`None`: no such item);
    /// a key asked twice is read once.
    async fn batch_get_aligned(&self, keys: Vec<Item>, read: Read) -> Result<Vec<Option<Item>>, RepoError> {
        let id = |item: &Item| {
            let part = |name: &str| item.get(name).and_then(|v| v.as_s().ok()).cloned();
            (part("pk"), part("sk"))
        };
        let mut unique = keys.clone();
        unique.sort_by_key(id);
        unique.dedup();
        let found: HashMap<_, Item> = self
            .batch_get(unique, read)
            .await?
            .into_iter()
            .map(|item| (id(&item), item))
            .collect();
        Ok(keys.iter().map(|key| found.get(&id(key)).cloned()).collect())
    }

    /// Items by key, read in batches of 100, unprocessed keys asked again;
    /// missing items are left out.
    async fn batch_get(&self, keys: Vec<Item>, read: Read) -> Result<Vec<Item>, RepoError> {
        let mut items = Vec::with_capacity(keys.len());
        for chunk in keys.chunks(BATCH_GET_MAX) {
            let mut request = Some(
                KeysAndAttributes::builder()
                    .set_keys(Some(chunk.to_vec()))
                    .consistent_read(read == Read::Consistent)
                    .build()
                    .map_err(repo_err)?,
            );
            while let Some(keys) = request.take() {
                let out = self
                    .client
                    .batch_get_item()
                    .request_items(&self.table, keys)
                    .send()
                    .await
                    .map_err(repo_err)?;
                items.extend(
                    out.responses
                        .unwrap_or_default()
                        .remove(&self.table)
                        .unwrap_or_default(),
                );
                request = out
                    .unprocessed_keys
                    .and_then(|mut u| u.remove(&self.table))
                    .filter(|k| !k.keys().is_empty());
            }
        }
        Ok(items)
    }
}

impl DynamoStorage {
    /// The order, its listings and the allowance, in one transaction.
    async fn write_new_order(&self, order: &Order, allowance: &Versioned<OrderAllowance>) -> Result<bool, RepoError> {
        let mut item = Self::order_item(order)?;
        let write_id = new_write_id(&mut item);
        let mut writes = vec![
            self.put(item, Some(("attribute_not_exists(pk)", Item::new())))?,
            self.versioned_put(
                allowance_key(order.customer_id()),
                "allowance",
                &allowance.value,
                allowance.version,
                None,
            )?,
        ];
        for listing in order.listings() {
            writes.push(self.put(Self::listing_item(order.id(), &listing), None)?);
        }
        let reasons = match self.transact(writes).await {
            Ok(None) => return Ok(true),
            Ok(Some(reasons)) => reasons,
            Err(e) => return self.settled(order.id(), &write_id, Outcome::Failed(e)).await,
        };
        if !reasons.get(1).is_some_and(|r| r.failed) {
            // The allowance is still at the version read, so this
            // transaction never landed: the id was taken by another write.
            return Err(RepoError::msg("order id already exists"));
        }
        // The allowance moved on (the second write): by an earlier attempt
        // of this very transaction whose answer was lost if the order
        // stored is this one; else by another order: decide again.
        let stored = reasons.into_iter().next().and_then(|r| r.item);
        self.wrote(order_key(order.id()), stored, &write_id).await
    }

    /// `next` over `current` (if still at its version) with its new
    /// listings and `also` (a write that must land with it, such as the
    /// stock ledger's): one conditional put when there is nothing else, or
    /// one transaction with the order first. Every change that lands prints
    /// its journey metrics.
    async fn write_order_change(
        &self,
        current: &Order,
        next: &Order,
        also: Option<TransactWriteItem>,
    ) -> Result<bool, RepoError> {
        let written = self.write_order_change_once(current, next, also).await?;
        if written {
            emit_metrics(next);
        }
        Ok(written)
    }

    async fn write_order_change_once(
        &self,
        current: &Order,
        next: &Order,
        also: Option<TransactWriteItem>,
    ) -> Result<bool, RepoError> {
        let unchanged = (
            "version = :read",
            Item::from([(":read".to_string(), n(current.version()))]),
        );
        let listings = next.new_listings_since(current);
        let mut item = Self::order_item(next)?;
        let write_id = new_write_id(&mut item);
        if listings.is_empty() && also.is_none() {
            // One conditional put: half the cost of a transaction.
            let result = self
                .client
                .put_item()
                .table_name(&self.table)
                .set_item(Some(item))
                .condition_expression(unchanged.0)
                .set_expression_attribute_values(Some(unchanged.1))
                .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
                .send()
                .await;
            return self.settled(next.id(), &write_id, put_outcome(result)).await;
        }
        let mut writes = vec![self.put(item, Some(unchanged))?];
        writes.extend(also);
        for listing in &listings {
            writes.push(self.put(Self::listing_item(next.id(), listing), None)?);
        }
        self.transact_order_write(next.id(), &write_id, writes).await
    }

    /// An order change written as one transaction whose first write is the
    /// order's, conditioned on the version read and carrying `write_id`. A
    /// failed order condition is checked against `write_id` (an earlier
    /// attempt may have landed and lost its answer); another write's
    /// condition failing alone means nothing landed: read again, decide again.
    async fn transact_order_write(
        &self,
        order: &OrderId,
        write_id: &str,
        writes: Vec<TransactWriteItem>,
    ) -> Result<bool, RepoError> {
        let outcome = match self.transact(writes).await {
            Ok(None) => Outcome::Written,
            Ok(Some(reasons)) if !reasons.first().is_some_and(|r| r.failed) => return Ok(false),
            Ok(Some(reasons)) => Outcome::Refused(reasons.into_iter().next().and_then(|r| r.item)),
            Err(e) => Outcome::Failed(e),
        };
        self.settled(order, write_id, outcome).await
    }
}

impl OrderRepo for DynamoStorage {
    async fn insert_order(&self, order: &Order, allowance: &Versioned<OrderAllowance>) -> Result<bool, RepoError> {
        let written = self.write_new_order(order, allowance).await?;
        if written {
            emit_metrics(order);
        }
        Ok(written)
    }

    async fn get_orders(&self, ids: &[OrderId]) -> Result<Vec<Order>, RepoError> {
        self.orders_by_id(ids).await
    }

    async fn get_order(&self, id: &OrderId) -> Result<Option<Order>, RepoError> {
        self.get(order_key(id)).await?.map(from_item).transpose()
    }

    async fn recent_orders_of_customer(
        &self,
        customer: &CustomerId,
        limit: usize,
        before: Option<&OrderId>,
    ) -> Result<Vec<Order>, RepoError> {
        self.newest_indexed_orders(format!("CUSTOMER#{customer}"), "ORDER#", limit, before)
            .await
    }

    async fn orders_won_by(
        &self,
        store: &StoreId,
        limit: usize,
        before: Option<&OrderId>,
    ) -> Result<Vec<Order>, RepoError> {
        // Twice the page: entries of lost accept attempts are dropped below.
        let mut orders: Vec<Order> = self
            .newest_indexed_orders(format!("STORE#{store}"), "WON#", limit.saturating_mul(2), before)
            .await?
            .into_iter()
            .filter(|o| o.winner().as_ref().is_some_and(|w| &w.store_id == store))
            .collect();
        orders.truncate(limit);
        Ok(orders)
    }

    async fn replace_order(&self, current: &Order, next: &Order) -> Result<bool, RepoError> {
        self.write_order_change(current, next, None).await
    }

    async fn orders_placed_between(
        &self,
        from_ms: Millis,
        to_ms: Millis,
        limit: usize,
    ) -> Result<Vec<Order>, RepoError> {
        // One query per hour, several at once, read in hour order until
        // `limit` ids are found.
        let hours = std::iter::successors(Some(figures::hour_of(from_ms)), |hour| Some(hour + figures::HOUR_MS))
            .take_while(|hour| *hour < to_ms);
        let mut pages = futures_util::stream::iter(hours)
            .map(|hour| {
                let values = HashMap::from([
                    (":pk".to_string(), s(placed_partition(hour))),
                    (":from".to_string(), s(placed_sort_key(from_ms.max(hour), ""))),
                    // `#` sorts before every digit: below the first key at `to`.
                    (
                        ":to".to_string(),
                        s(placed_sort_key(to_ms.min(hour + figures::HOUR_MS), "")),
                    ),
                ]);
                self.query_all("pk = :pk AND sk BETWEEN :from AND :to", HashMap::new(), values, None)
            })
            .buffered(PLACED_HOURS_AT_ONCE);
        let mut ids = Vec::new();
        while ids.len() < limit
            && let Some((items, _)) = pages.try_next().await?
        {
            ids.extend(
                items
                    .iter()
                    .filter_map(|i| i.get("order_id").and_then(|v| v.as_s().ok()))
                    .filter_map(|id| OrderId::new(id.as_str()).ok()),
            );
        }
        ids.truncate(limit);
        let mut orders = self.orders_by_id(&ids).await?;
        orders.sort_by_key(|o| (o.created_at_ms(), o.id().clone()));
        Ok(orders)
    }

    async fn open_offers_for_store(&self, store: &StoreId, now: Millis) -> Result<Vec<Order>, RepoError> {
        let values = HashMap::from([
            (":pk".to_string(), s(format!("STORE#{store}"))),
            (":offer".to_string(), s("OFFER#")),
            (":now".to_string(), n(now)),
        ]);
        let (items, _) = self
            .query_all(
                "pk = :pk AND begins_with(sk, :offer)",
                HashMap::new(),
                values,
                Some("deadline_ms > :now"),
            )
            .await?;
        let ids: Vec<OrderId> = items
            .iter()
            .filter_map(|i| i.get("order_id").and_then(|v| v.as_s().ok()))
            .filter_map(|id| OrderId::new(id.as_str()).ok())
            .collect();
        let mut orders: Vec<Order> = self
            .orders_by_id(&ids)
            .await?
            .into_iter()
            .filter(|o| o.is_offered_to(store, now))
            .collect();
        orders.sort_by(|a, b| a.id().cmp(b.id()));
        Ok(orders)
    }
}

fn connection_item(pk: String, sk: &str, connection: &Connection) -> Item {
    let mut item = key(pk, sk);
    item.insert("connection_id".into(), s(connection.id.to_string()));
    item.insert("owner".into(), s(connection.owner.key()));
    item.insert("connected_at_ms".into(), n(connection.connected_at_ms));
    item.insert("ttl".into(), time_to_live(CONNECTION_TTL_S, connection.connected_at_ms));
    item
}

fn connection_from_item(item: &Item) -> Option<Connection> {
    let id = ConnectionId::new(item.get("connection_id")?.as_s().ok()?.as_str()).ok()?;
    let owner = Caller::parse(item.get("owner")?.as_s().ok()?).ok()?;
    let connected_at_ms = item.get("connected_at_ms")?.as_n().ok()?.parse().ok()?;
    Some(Connection {
        id,
        owner,
        connected_at_ms,
    })
}

fn connection_key(id: &ConnectionId) -> Item {
    key(format!("CONN#{id}"), "CONN")
}

/// One item per owner lists its live connections, one attribute each
/// (`c:{id}` = when it lapses, in seconds), so the sockets of many owners
/// are one `BatchGetItem`.
fn presence_key(owner: &Caller) -> Item {
    key(format!("OWNER#{}", owner.key()), "PRESENCE")
}

const PRESENCE_PREFIX: &str = "c:";

/// The live connections a presence item lists at `now_s`.
fn present_connections(item: &Item, now_s: i64) -> Vec<ConnectionId> {
    let mut ids: Vec<ConnectionId> = item
        .iter()
        .filter_map(|(name, lapses)| {
            let id = name.strip_prefix(PRESENCE_PREFIX)?;
            let lapses: i64 = lapses.as_n().ok()?.parse().ok()?;
            (lapses > now_s).then(|| ConnectionId::new(id).ok()).flatten()
        })
        .collect();
    ids.sort();
    ids
}

impl CustomerRepo for DynamoStorage {
    async fn set_phone(&self, customer: &CustomerId, phone: &PhoneNumber) -> Result<(), RepoError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(customer_profile_key(customer)))
            .update_expression("SET phone = :phone")
            .expression_attribute_values(":phone", s(phone.as_e164()))
            .send()
            .await
            .map_err(repo_err)?;
        Ok(())
    }

    async fn add_to_home(&self, customer: &CustomerId, order: &OrderId, items: &[HomeItem]) -> Result<(), RepoError> {
        // Read, merge, write back conditionally on the version read; an
        // order already applied is a no-op, so a retry adds nothing twice.
        for _ in 0..5 {
            let (mut home, applied, version) = self.home_record(customer).await?;
            if applied.contains(&order.to_string()) {
                return Ok(());
            }
            merge_into_home(&mut home, items);
            let mut applied = applied;
            applied.push(order.to_string());
            if self.write_home(customer, &home, &applied, version).await? {
                return Ok(());
            }
        }
        Err(RepoError::msg("the virtual home kept changing; try again"))
    }

    async fn home_of(&self, customer: &CustomerId) -> Result<Vec<HomeItem>, RepoError> {
        Ok(self.home_record(customer).await?.0)
    }

    async fn set_home_item(&self, customer: &CustomerId, key: &str, item: Option<HomeItem>) -> Result<(), RepoError> {
        for _ in 0..5 {
            let (mut home, applied, version) = self.home_record(customer).await?;
            home.retain(|h| h.key != key);
            home.extend(item.clone());
            if self.write_home(customer, &home, &applied, version).await? {
                return Ok(());
            }
        }
        Err(RepoError::msg("the virtual home kept changing; try again"))
    }

    async fn phone_of(&self, customer: &CustomerId) -> Result<Option<PhoneNumber>, RepoError> {
        let item = self.get(customer_profile_key(customer)).await?;
        Ok(item.as_ref().and_then(profile_phone))
    }
}

/// The verified number on a customer's profile item, if any.
fn profile_phone(profile: &Item) -> Option<PhoneNumber> {
    let phone = profile.get("phone")?.as_s().ok()?;
    PhoneNumber::new(phone).ok()
}

fn home_key(customer: &CustomerId) -> Item {
    key(format!("CUSTOMER#{customer}"), "HOME")
}

impl DynamoStorage {
    /// The home items, the orders already added, and the record's version.
    async fn home_record(&self, customer: &CustomerId) -> Result<(Vec<HomeItem>, Vec<String>, u64), RepoError> {
        let Some(item) = self.get(home_key(customer)).await? else {
            return Ok((Vec::new(), Vec::new(), 0));
        };
        let home = match item.get("items") {
            Some(v) => serde_dynamo::from_attribute_value(v.clone()).map_err(repo_err)?,
            None => Vec::new(),
        };
        let applied = item
            .get("applied")
            .and_then(|v| v.as_ss().ok())
            .cloned()
            .unwrap_or_default();
        let version = item
            .get("home_version")
            .and_then(|v| v.as_n().ok())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        Ok((home, applied, version))
    }

    async fn write_home(
        &self,
        customer: &CustomerId,
        home: &[HomeItem],
        applied: &[String],
        version: u64,
    ) -> Result<bool, RepoError> {
        let mut item = home_key(customer);
        item.insert(
            "items".into(),
            serde_dynamo::to_attribute_value(home).map_err(repo_err)?,
        );
        if let Some(set) = string_set(applied.iter().cloned()) {
            item.insert("applied".into(), set);
        }
        item.insert("home_version".into(), n(version + 1));
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(home_version) OR home_version = :seen")
            .expression_attribute_values(":seen", n(version))
            .send()
            .await;
        put_applied(result)
    }
}

impl ConnectionRepo for DynamoStorage {
    async fn put_connection(&self, connection: &Connection) -> Result<(), RepoError> {
        let by_id = Put::builder()
            .table_name(&self.table)
            .set_item(Some(connection_item(
                format!("CONN#{}", connection.id),
                "CONN",
                connection,
            )))
            .build()
            .map_err(repo_err)?;
        let listed = aws_sdk_dynamodb::types::Update::builder()
            .table_name(&self.table)
            .set_key(Some(presence_key(&connection.owner)))
            .update_expression("SET #conn = :lapses, #ttl = :lapses")
            .expression_attribute_names("#conn", format!("{PRESENCE_PREFIX}{}", connection.id))
            .expression_attribute_names("#ttl", "ttl")
            .expression_attribute_values(":lapses", time_to_live(CONNECTION_TTL_S, connection.connected_at_ms))
            .build()
            .map_err(repo_err)?;
        self.write_all(vec![
            TransactWriteItem::builder().put(by_id).build(),
            TransactWriteItem::builder().update(listed).build(),
        ])
        .await
    }

    async fn get_connection(&self, id: &ConnectionId) -> Result<Option<Connection>, RepoError> {
        Ok(self
            .get(connection_key(id))
            .await?
            .as_ref()
            .and_then(connection_from_item))
    }

    async fn delete_connection(&self, id: &ConnectionId) -> Result<Option<Connection>, RepoError> {
        let out = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(connection_key(id)))
            .return_values(ReturnValue::AllOld)
            .send()
            .await
            .map_err(repo_err)?;
        let Some(connection) = out.attributes.as_ref().and_then(connection_from_item) else {
            return Ok(None);
        };
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(presence_key(&connection.owner)))
            .update_expression("REMOVE #conn")
            .expression_attribute_names("#conn", format!("{PRESENCE_PREFIX}{id}"))
            .send()
            .await
            .map_err(repo_err)?;
        Ok(Some(connection))
    }

    async fn connections_of_many(&self, owners: &[Caller]) -> Result<Vec<Vec<ConnectionId>>, RepoError> {
        let now_s = crate::domain::clock::Clock::now_ms(&crate::domain::clock::SystemClock) / 1000;
        let keys = owners.iter().map(presence_key).collect();
        Ok(self
            .batch_get_aligned(keys, Read::Consistent)
            .await?
            .iter()
            .map(|item| item.as_ref().map(|i| present_connections(i, now_s)).unwrap_or_default())
            .collect())
    }
}

impl StockRepo for DynamoStorage {
    async fn stock(&self, store: &StoreId) -> Result<Versioned<StockLedger>, RepoError> {
        self.versioned_get(stock_key(store), "stock").await
    }

    async fn stocks_of_many(&self, stores: &[StoreId]) -> Result<Vec<StockLedger>, RepoError> {
        let keys = stores.iter().map(stock_key).collect();
        // Eventually consistent (half the units, and a missing ledger is
        // the common case): matching only screens candidates; the winning
        // accept's hold, conditioned on the ledger's version, decides.
        self.batch_get_aligned(keys, Read::Eventual)
            .await?
            .into_iter()
            .map(|item| match item.and_then(|mut i| i.remove("stock")) {
                Some(AttributeValue::M(map)) => from_item(map),
                _ => Ok(StockLedger::default()),
            })
            .collect()
    }

    async fn replace_stock(&self, store: &StoreId, version: u64, next: &StockLedger) -> Result<bool, RepoError> {
        self.replace_versioned(stock_key(store), "stock", next, version, None)
            .await
    }

    async fn replace_order_and_stock(
        &self,
        current: &Order,
        next: &Order,
        store: &StoreId,
        version: u64,
        ledger: &StockLedger,
    ) -> Result<bool, RepoError> {
        // Only the ledger's condition failing: its version moved, and this
        // transaction never landed; both are read again.
        let ledger = self.versioned_put(stock_key(store), "stock", ledger, version, None)?;
        self.write_order_change(current, next, Some(ledger)).await
    }
}

impl LimitRepo for DynamoStorage {
    async fn order_allowance(&self, customer: &CustomerId) -> Result<Versioned<OrderAllowance>, RepoError> {
        self.versioned_get(allowance_key(customer), "allowance").await
    }

    async fn rate_window(&self, key: &str) -> Result<Versioned<SlidingWindow>, RepoError> {
        self.versioned_get(rate_window_key(key), "window").await
    }

    async fn replace_rate_window(&self, key: &str, version: u64, next: &SlidingWindow) -> Result<bool, RepoError> {
        let ttl = n(now_s() + LIMIT_TTL_S);
        self.replace_versioned(rate_window_key(key), "window", next, version, Some(ttl))
            .await
    }
}

fn application_from_item(mut item: Item) -> Result<StoreApplication, RepoError> {
    match item.remove("application") {
        Some(AttributeValue::M(map)) => from_item(map),
        _ => Err(RepoError::msg("an application item without its application")),
    }
}

impl ApplicationRepo for DynamoStorage {
    async fn insert_application(&self, application: &StoreApplication) -> Result<bool, RepoError> {
        let mut writes = self.store_writes(None, &application.store)?;
        let mut listing = application_key(&application.store.id);
        listing.insert("application".into(), AttributeValue::M(to_item(application)?));
        writes.push(self.put(listing, None)?);
        self.write_store(writes).await
    }

    async fn application(&self, store: &StoreId) -> Result<Option<StoreApplication>, RepoError> {
        self.get(application_key(store))
            .await?
            .map(application_from_item)
            .transpose()
    }

    async fn pending_applications(
        &self,
        limit: usize,
        after: Option<&StoreId>,
    ) -> Result<Vec<StoreApplication>, RepoError> {
        let after = after.map_or_else(|| "STORE#".to_string(), |id| format!("STORE#{id}"));
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND sk > :after")
            .expression_attribute_values(":pk", s(PENDING_APPLICATIONS))
            .expression_attribute_values(":after", s(after))
            .limit(i32::try_from(limit.clamp(1, 100)).unwrap_or(100))
            .consistent_read(true)
            .send()
            .await
            .map_err(repo_err)?;
        out.items
            .unwrap_or_default()
            .into_iter()
            .map(application_from_item)
            .collect()
    }
}

impl AccountRepo for DynamoStorage {
    async fn account(&self, phone: &PhoneNumber) -> Result<Versioned<Account>, RepoError> {
        self.versioned_get(account_key(phone), "account").await
    }

    async fn replace_account(&self, phone: &PhoneNumber, version: u64, next: &Account) -> Result<bool, RepoError> {
        self.replace_versioned(account_key(phone), "account", next, version, None)
            .await
    }
}

impl IdempotencyRepo for DynamoStorage {
    async fn idempotency_record(&self, scope: &str) -> Result<Versioned<Option<IdempotencyRecord>>, RepoError> {
        let read: Versioned<Option<IdempotencyRecord>> = self.versioned_get(idempotency_key(scope), "record").await?;
        Ok(read)
    }

    async fn replace_idempotency_record(
        &self,
        scope: &str,
        version: u64,
        next: &IdempotencyRecord,
    ) -> Result<bool, RepoError> {
        // DynamoDB's TTL removes the record some time after it expires.
        let ttl = n(next.expires_ms / 1000);
        self.replace_versioned(idempotency_key(scope), "record", next, version, Some(ttl))
            .await
    }
}

fn now_s() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(0))
}

impl SignInRepo for DynamoStorage {
    async fn code_record(&self, phone: &PhoneNumber) -> Result<Versioned<CodeRecord>, RepoError> {
        self.versioned_get(code_record_key(phone), "record").await
    }

    async fn replace_code_record(
        &self,
        phone: &PhoneNumber,
        version: u64,
        next: &CodeRecord,
        forget_after_ms: Millis,
    ) -> Result<bool, RepoError> {
        let ttl = n(forget_after_ms / 1000 + 1);
        self.replace_versioned(code_record_key(phone), "record", next, version, Some(ttl))
            .await
    }

    async fn refresh_family(&self, family: &str) -> Result<Versioned<Option<RefreshFamily>>, RepoError> {
        self.versioned_get(refresh_family_key(family), "family").await
    }

    async fn replace_refresh_family(
        &self,
        family: &str,
        version: u64,
        next: &RefreshFamily,
    ) -> Result<bool, RepoError> {
        // Reads check expiry themselves; TTL only tidies up.
        let ttl = n(next.expires_ms / 1000 + 1);
        self.replace_versioned(refresh_family_key(family), "family", next, version, Some(ttl))
            .await
    }

    async fn session_cutoff(&self, caller: &Caller) -> Result<Versioned<SessionCutoff>, RepoError> {
        self.versioned_get(session_cutoff_key(caller), "cutoff").await
    }

    async fn replace_session_cutoff(
        &self,
        caller: &Caller,
        version: u64,
        next: &SessionCutoff,
    ) -> Result<bool, RepoError> {
        // Every family older than the cutoff has expired by then.
        let ttl = n((next.before_ms + REFRESH_LIFETIME_MS) / 1000 + 1);
        self.replace_versioned(session_cutoff_key(caller), "cutoff", next, version, Some(ttl))
            .await
    }
}

/// One item per notice sent (`domain::notification::Notice::key`), written
/// only if absent: the claim that makes each notice go out at most once.
fn notice_key(notice: &str) -> Item {
    key(format!("NOTICE#{notice}"), "NOTICE")
}

/// Beside the owner's presence item: where pushes to its device go.
fn device_key(owner: &Caller) -> Item {
    key(format!("OWNER#{}", owner.key()), "DEVICE")
}

fn customer_profile_key(customer: &CustomerId) -> Item {
    key(format!("CUSTOMER#{customer}"), "PROFILE")
}

impl NotificationRepo for DynamoStorage {
    async fn claim_notice(&self, notice: &str, now: Millis, keep_ms: Millis) -> Result<bool, RepoError> {
        let mut item = notice_key(notice);
        item.insert("ttl".into(), time_to_live(keep_ms / 1000, now));
        self.put_if(item, "attribute_not_exists(pk)", Item::new()).await
    }

    async fn put_device(&self, owner: &Caller, device: &Device) -> Result<(), RepoError> {
        let mut item = device_key(owner);
        item.insert("endpoint".into(), s(device.endpoint.clone()));
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(repo_err)?;
        Ok(())
    }

    async fn devices_of_many(&self, owners: &[Caller]) -> Result<Vec<Option<Device>>, RepoError> {
        let keys = owners.iter().map(device_key).collect();
        Ok(self
            .batch_get_aligned(keys, Read::Consistent)
            .await?
            .iter()
            .map(|item| {
                let endpoint = item.as_ref()?.get("endpoint")?.as_s().ok()?;
                Some(Device {
                    endpoint: endpoint.clone(),
                })
            })
            .collect())
    }

    async fn receipt_phone(&self, customer: &CustomerId) -> Result<Option<PhoneNumber>, RepoError> {
        let Some(item) = self.get(customer_profile_key(customer)).await? else {
            return Ok(None);
        };
        if item.get("receipts_opt_out").and_then(|v| v.as_bool().ok()) == Some(&true) {
            return Ok(None);
        }
        Ok(profile_phone(&item))
    }

    async fn set_receipts_opt_out(&self, customer: &CustomerId, opted_out: bool) -> Result<(), RepoError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(customer_profile_key(customer)))
            .update_expression("SET receipts_opt_out = :out")
            .expression_attribute_values(":out", AttributeValue::Bool(opted_out))
            .send()
            .await
            .map_err(repo_err)?;
        Ok(())
    }
}

/// What [`DynamoStorage::reindex_geo`] did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct GeoReindex {
    /// Entries moved to the key the current layout gives them.
    pub moved: usize,
    /// Old entries deleted alone: the store was written since, and that
    /// write indexed it under the current layout already.
    pub dropped: usize,
    /// Entries already under the current layout.
    pub current: usize,
    /// Crowd items written afresh from the entries counted (one per
    /// category and partition that holds any).
    pub crowd_items: usize,
}

impl DynamoStorage {
    /// Moves geo index entries written under an older partition layout
    /// (resolution-3 cells before issue 12) to the current one
    /// (docs/dynamodb.md, "Moving to a new partition layout"). Scans the
    /// geo entries; each whose key is not the one its store has now is
    /// written under the new key and deleted under the old in one
    /// transaction, conditioned on the store's profile not having moved on
    /// (`updated_at_ms`, as every store write is). Then it counts the
    /// entries afresh and overwrites the crowd items with those counts
    /// ([`Self::recount_crowds`]). Safe to repeat and to run while the
    /// service serves.
    pub async fn reindex_geo(&self) -> Result<GeoReindex, RepoError> {
        let mut done = GeoReindex::default();
        for item in self.scan_prefixed(&["GEO#"]).await? {
            let old_key = key_of(&item);
            let store: Store = from_item(item.clone())?;
            let new_key = geo_key(&store);
            if old_key == new_key {
                done.current += 1;
                continue;
            }
            let mut moved = item;
            moved.extend(new_key);
            let check = ConditionCheck::builder()
                .table_name(&self.table)
                .set_key(Some(store_key(&store.id)))
                .condition_expression("updated_at_ms = :seen")
                .expression_attribute_values(":seen", n(store.updated_at_ms))
                .build()
                .map_err(repo_err)?;
            let put = Put::builder()
                .table_name(&self.table)
                .set_item(Some(moved))
                .build()
                .map_err(repo_err)?;
            let delete = Delete::builder()
                .table_name(&self.table)
                .set_key(Some(old_key.clone()))
                .build()
                .map_err(repo_err)?;
            let writes = vec![
                TransactWriteItem::builder().condition_check(check).build(),
                TransactWriteItem::builder().put(put).build(),
                TransactWriteItem::builder().delete(delete).build(),
            ];
            if self.write_if_conditions_hold(writes).await? {
                done.moved += 1;
            } else {
                self.client
                    .delete_item()
                    .table_name(&self.table)
                    .set_key(Some(old_key))
                    .send()
                    .await
                    .map_err(repo_err)?;
                done.dropped += 1;
            }
        }
        done.crowd_items = self.recount_crowds().await?;
        Ok(done)
    }

    /// Counts the geo entries under their current keys per category,
    /// partition and crowd cell, and per fine crowd item and fine cell, puts
    /// each crowd item with those counts in place of what it held, and
    /// deletes crowd items of places left with no entry. Returns the items put. A store write
    /// landing between the scan and the put is missed by the count: run
    /// it when stores are quiet, or again.
    async fn recount_crowds(&self) -> Result<usize, RepoError> {
        let mut counts: HashMap<(String, CellIndex), HashMap<CellIndex, i64>> = HashMap::new();
        let mut stale: Vec<Item> = Vec::new();
        for item in self.scan_prefixed(&["GEO#", "CROWD#"]).await? {
            let key = key_of(&item);
            if key
                .get("pk")
                .and_then(|pk| pk.as_s().ok())
                .is_some_and(|pk| pk.starts_with("CROWD#"))
            {
                stale.push(key);
                continue;
            }
            let store: Store = from_item(item)?;
            if geo_key(&store) != key {
                continue;
            }
            for (category, item, cell) in crowd_slots(&store) {
                *counts.entry((category, item)).or_default().entry(cell).or_default() += 1;
            }
        }
        let written = counts.len();
        for ((category, partition), cells) in counts {
            let item_key = crowd_key(&category, partition);
            stale.retain(|k| *k != item_key);
            let mut item = item_key;
            item.extend(cells.into_iter().map(|(cell, count)| (crowd_attribute(cell), n(count))));
            self.client
                .put_item()
                .table_name(&self.table)
                .set_item(Some(item))
                .send()
                .await
                .map_err(repo_err)?;
        }
        for key in stale {
            self.client
                .delete_item()
                .table_name(&self.table)
                .set_key(Some(key))
                .send()
                .await
                .map_err(repo_err)?;
        }
        Ok(written)
    }

    /// Every item whose partition key starts with one of `prefixes` (a
    /// consistent scan of the table: operators' one-offs only).
    async fn scan_prefixed(&self, prefixes: &[&str]) -> Result<Vec<Item>, RepoError> {
        let filter = (0..prefixes.len())
            .map(|i| format!("begins_with(pk, :p{i})"))
            .collect::<Vec<_>>()
            .join(" OR ");
        let values: Item = prefixes
            .iter()
            .enumerate()
            .map(|(i, prefix)| (format!(":p{i}"), s(*prefix)))
            .collect();
        let mut items = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let page = self
                .client
                .scan()
                .table_name(&self.table)
                .filter_expression(&filter)
                .set_expression_attribute_values(Some(values.clone()))
                .set_exclusive_start_key(start.take())
                .consistent_read(true)
                .send()
                .await
                .map_err(repo_err)?;
            items.extend(page.items.unwrap_or_default());
            match page.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => return Ok(items),
            }
        }
    }
}
