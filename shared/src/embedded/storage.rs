mod promotions;

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use h3o::CellIndex;

use crate::domain::account::Account;
use crate::domain::clock::Millis;
use crate::domain::customer::{HomeItem, PhoneNumber, merge_into_home};
use crate::domain::geo::{CellRange, store_crowd_slots};
use crate::domain::idempotency::IdempotencyRecord;
use crate::domain::ids::{Caller, ConnectionId, CustomerId, OrderId, StoreId};
use crate::domain::limits::{OrderAllowance, SlidingWindow, Versioned};
use crate::domain::matching::CrowdMap;
use crate::domain::notification::Device;
use crate::domain::order::{Listing, Order};
use crate::domain::sign_in::{CodeRecord, RefreshFamily, SessionCutoff};
use crate::domain::stock::StockLedger;
use crate::domain::store::{Store, StoreApplication, StoreStatus};
use crate::ports::{
    AccountRepo, ApplicationRepo, Connection, ConnectionRepo, CustomerRepo, GeoRead, IdempotencyRepo, LimitRepo,
    NotificationRepo, OrderRepo, RepoError, SignInRepo, StockRepo, StoreRepo,
};

/// Every table in memory behind one lock, so each conditional write is
/// atomic exactly like a DynamoDB conditional `UpdateItem`.
#[derive(Debug, Default)]
pub struct MemoryStorage {
    inner: Mutex<Tables>,
    /// Geo items returned by every read so far (what a match costs).
    geo_items_read: std::sync::atomic::AtomicUsize,
    /// Geo reads so far (one per category and radius a match reads).
    geo_reads: std::sync::atomic::AtomicUsize,
}

#[derive(Debug, Default)]
struct Tables {
    stores: HashMap<StoreId, Arc<Store>>,
    /// By category, (store cell at resolution 15, store): a sorted index,
    /// so the stores of a category under any coarser cell are one range
    /// (and a range's entries compare by number, not by category name).
    geo: HashMap<String, BTreeSet<(u64, StoreId)>>,
    /// Geo entries per crowd cell, by category and partition, and per fine
    /// cell, by category and fine crowd item, kept with `geo` as DynamoDB
    /// keeps its crowd items.
    crowds: HashMap<(String, CellIndex), HashMap<CellIndex, u64>>,
    orders: HashMap<OrderId, Order>,
    offers_by_store: HashMap<StoreId, BTreeSet<OrderId>>,
    orders_by_customer: HashMap<CustomerId, BTreeSet<OrderId>>,
    won_by_store: HashMap<StoreId, BTreeSet<OrderId>>,
    /// Every order by when it was placed.
    placed: BTreeSet<(Millis, OrderId)>,
    phones: HashMap<CustomerId, PhoneNumber>,
    homes: HashMap<CustomerId, (Vec<HomeItem>, BTreeSet<OrderId>)>,
    connections: HashMap<ConnectionId, Connection>,
    allowances: HashMap<CustomerId, Versioned<OrderAllowance>>,
    rate_windows: HashMap<String, Versioned<SlidingWindow>>,
    idempotency: HashMap<String, Versioned<Option<IdempotencyRecord>>>,
    accounts: HashMap<PhoneNumber, Versioned<Account>>,
    code_records: HashMap<PhoneNumber, Versioned<CodeRecord>>,
    refresh_families: HashMap<String, Versioned<Option<RefreshFamily>>>,
    session_cutoffs: HashMap<Caller, Versioned<SessionCutoff>>,
    /// Pending applications by store id (ids are time-ordered).
    applications: std::collections::BTreeMap<StoreId, StoreApplication>,
    connections_by_owner: HashMap<Caller, BTreeSet<ConnectionId>>,
    stocks: HashMap<StoreId, Versioned<StockLedger>>,
    /// Notices sent, by key, with when they may be forgotten.
    notices: HashMap<String, Millis>,
    devices: HashMap<Caller, Device>,
    receipts_opted_out: BTreeSet<CustomerId>,
    promotions: promotions::PromotionTables,
}

impl MemoryStorage {
    /// How many orders exist (for tests that check nothing was written).
    #[must_use]
    pub fn order_count(&self) -> usize {
        self.tables().orders.len()
    }

    /// Geo items every read so far returned, as DynamoDB would bill them.
    #[must_use]
    pub fn geo_items_read(&self) -> usize {
        self.geo_items_read.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Geo reads so far: a match's reads of one category follow one
    /// another, so for a one-category demand this is its sequential geo
    /// round trips.
    #[must_use]
    pub fn geo_reads(&self) -> usize {
        self.geo_reads.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn tables(&self) -> MutexGuard<'_, Tables> {
        // A panic while holding the lock cannot leave a half-applied write
        // (each write is a single insert), so the data is still consistent.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A store's category and its entry in that category's geo index.
fn geo_key(store: &Store) -> (String, (u64, StoreId)) {
    (store.category.clone(), (store.location.geo_key(), store.id.clone()))
}

/// Where a store's geo entry is counted: category, the counting item's
/// cell (a partition, or a fine crowd item), and the cell counted in.
type CrowdSlot = (String, CellIndex, CellIndex);

/// Where `store`'s entry is counted ([`store_crowd_slots`]).
fn crowd_slots(store: &Store) -> [CrowdSlot; 2] {
    store_crowd_slots(store.location).map(|(item, cell)| (store.category.clone(), item, cell))
}

/// Ids newest first (ULIDs sort by time), older than `before` when given.
fn newest_before<'a>(ids: &'a BTreeSet<OrderId>, before: Option<&OrderId>) -> impl Iterator<Item = &'a OrderId> {
    ids.iter().rev().filter(move |id| before.is_none_or(|b| *id < b))
}

/// Sorts before every valid store id ("-" is the smallest allowed byte).
fn lowest_store_id() -> StoreId {
    StoreId::new("-").unwrap_or_else(|_| unreachable!("'-' is a valid id"))
}

impl StoreRepo for MemoryStorage {
    async fn put_store(&self, store: &Store) -> Result<(), RepoError> {
        self.tables().put_store(store);
        Ok(())
    }

    async fn get_store(&self, id: &StoreId) -> Result<Option<Store>, RepoError> {
        Ok(self.tables().stores.get(id).map(|s| Store::clone(s)))
    }

    async fn replace_store(&self, current: Option<&Store>, next: &Store) -> Result<bool, RepoError> {
        let mut t = self.tables();
        let stored = t.stores.get(&next.id).map(|s| s.updated_at_ms);
        if stored != current.map(|c| c.updated_at_ms) {
            return Ok(false);
        }
        t.put_store(next);
        if next.status != StoreStatus::Pending {
            t.applications.remove(&next.id);
        }
        Ok(true)
    }

    async fn record_review(&self, store: &StoreId, stars: u8) -> Result<(), RepoError> {
        if let Some(s) = self.tables().stores.get_mut(store).map(Arc::make_mut) {
            s.stats.rating_sum += u64::from(stars);
            s.stats.rating_count += 1;
        }
        Ok(())
    }

    async fn record_acceptance(&self, store: &StoreId, took_ms: u64) -> Result<(), RepoError> {
        if let Some(s) = self.tables().stores.get_mut(store).map(Arc::make_mut) {
            s.stats.accept_ms_sum += took_ms;
            s.stats.accept_count += 1;
        }
        Ok(())
    }

    async fn stores_in_ranges(
        &self,
        category: &str,
        ranges: &[CellRange],
        per_range: usize,
    ) -> Result<GeoRead, RepoError> {
        let t = self.tables();
        let mut read = GeoRead::default();
        let empty = BTreeSet::new();
        let index = t.geo.get(category).unwrap_or(&empty);
        for range in ranges {
            read.queries += 1;
            let mut in_range = index
                .range((range.first, lowest_store_id())..)
                .take_while(|(cell, _)| *cell <= range.last)
                .peekable();
            let per_range = per_range.max(1);
            let mut taken = 0;
            while taken < per_range
                && let Some((cell, id)) = in_range.next()
            {
                taken += 1;
                if let Some(store) = t.stores.get(id) {
                    read.stores.push(Arc::clone(store));
                }
                if taken == per_range && in_range.peek().is_some() {
                    read.unread.push(CellRange { first: *cell, ..*range });
                }
            }
        }
        self.geo_items_read
            .fetch_add(read.stores.len(), std::sync::atomic::Ordering::Relaxed);
        self.geo_reads.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok(read)
    }

    async fn crowd_map(
        &self,
        category: &str,
        partitions: &[CellIndex],
        fine_items: &[CellIndex],
    ) -> Result<CrowdMap, RepoError> {
        let t = self.tables();
        let items: BTreeSet<CellIndex> = partitions.iter().chain(fine_items).copied().collect();
        let counts = items
            .iter()
            .filter_map(|item| t.crowds.get(&(category.to_string(), *item)))
            .flatten()
            .map(|(cell, count)| (*cell, i64::try_from(*count).unwrap_or(i64::MAX)));
        // Counts are kept from the first store on: never unknown here.
        Ok(CrowdMap::from_counts(counts, fine_items))
    }
}

impl Tables {
    fn put_store(&mut self, store: &Store) {
        let new_key = geo_key(store);
        let old = self.stores.get(&store.id).map(|old| (geo_key(old), crowd_slots(old)));
        match old {
            Some((old_key, _)) if old_key == new_key => {}
            Some(((old_category, old_entry), old_slots)) => {
                if let Some(index) = self.geo.get_mut(&old_category) {
                    index.remove(&old_entry);
                }
                for slot in old_slots {
                    self.count_crowd(slot, false);
                }
                for slot in crowd_slots(store) {
                    self.count_crowd(slot, true);
                }
            }
            None => {
                for slot in crowd_slots(store) {
                    self.count_crowd(slot, true);
                }
            }
        }
        let (category, entry) = new_key;
        self.geo.entry(category).or_default().insert(entry);
        self.stores.insert(store.id.clone(), Arc::new(store.clone()));
    }

    /// One geo entry more (`added`) or fewer in `slot`.
    fn count_crowd(&mut self, (category, item, cell): CrowdSlot, added: bool) {
        let count = self
            .crowds
            .entry((category, item))
            .or_default()
            .entry(cell)
            .or_default();
        *count = if added { *count + 1 } else { count.saturating_sub(1) };
    }

    fn list(&mut self, order: &OrderId, listings: Vec<Listing>) {
        for listing in listings {
            let index = match listing {
                Listing::PlacedAt(at_ms) => {
                    self.placed.insert((at_ms, order.clone()));
                    continue;
                }
                Listing::Customer(customer) => self.orders_by_customer.entry(customer).or_default(),
                Listing::OfferedTo { store, .. } => self.offers_by_store.entry(store).or_default(),
                Listing::WonBy(store) => self.won_by_store.entry(store).or_default(),
            };
            index.insert(order.clone());
        }
    }
}

impl OrderRepo for MemoryStorage {
    async fn insert_order(&self, order: &Order, allowance: &Versioned<OrderAllowance>) -> Result<bool, RepoError> {
        let mut t = self.tables();
        if t.orders.contains_key(order.id()) {
            return Err(RepoError::msg("order id already exists"));
        }
        let stored = t.allowances.get(order.customer_id()).map_or(0, |a| a.version);
        if stored != allowance.version {
            return Ok(false);
        }
        t.allowances.insert(
            order.customer_id().clone(),
            Versioned {
                value: allowance.value.clone(),
                version: allowance.version + 1,
            },
        );
        t.list(order.id(), order.listings());
        t.orders.insert(order.id().clone(), order.clone());
        Ok(true)
    }

    async fn get_orders(&self, ids: &[OrderId]) -> Result<Vec<Order>, RepoError> {
        let t = self.tables();
        Ok(ids.iter().filter_map(|id| t.orders.get(id).cloned()).collect())
    }

    async fn recent_orders_of_customer(
        &self,
        customer: &CustomerId,
        limit: usize,
        before: Option<&OrderId>,
    ) -> Result<Vec<Order>, RepoError> {
        let t = self.tables();
        let Some(ids) = t.orders_by_customer.get(customer) else {
            return Ok(Vec::new());
        };
        Ok(newest_before(ids, before)
            .take(limit)
            .filter_map(|id| t.orders.get(id).cloned())
            .collect())
    }

    async fn get_order(&self, id: &OrderId) -> Result<Option<Order>, RepoError> {
        Ok(self.tables().orders.get(id).cloned())
    }

    async fn orders_won_by(
        &self,
        store: &StoreId,
        limit: usize,
        before: Option<&OrderId>,
    ) -> Result<Vec<Order>, RepoError> {
        let t = self.tables();
        let Some(ids) = t.won_by_store.get(store) else {
            return Ok(Vec::new());
        };
        Ok(newest_before(ids, before)
            .filter_map(|id| t.orders.get(id))
            .filter(|o| o.is_won_by(store))
            .take(limit)
            .cloned()
            .collect())
    }

    async fn replace_order(&self, current: &Order, next: &Order) -> Result<bool, RepoError> {
        let mut t = self.tables();
        match t.orders.get(next.id()) {
            Some(stored) if stored.version() == current.version() => {
                t.list(next.id(), next.new_listings_since(current));
                t.orders.insert(next.id().clone(), next.clone());
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn orders_placed_between(
        &self,
        from_ms: Millis,
        to_ms: Millis,
        limit: usize,
    ) -> Result<Vec<Order>, RepoError> {
        let t = self.tables();
        Ok(t.placed
            .iter()
            .skip_while(|(at, _)| *at < from_ms)
            .take_while(|(at, _)| *at < to_ms)
            .take(limit)
            .filter_map(|(_, id)| t.orders.get(id).cloned())
            .collect())
    }

    async fn open_offers_for_store(&self, store: &StoreId, now: Millis) -> Result<Vec<Order>, RepoError> {
        let mut t = self.tables();
        let Some(ids) = t.offers_by_store.get(store).cloned() else {
            return Ok(Vec::new());
        };
        let mut open = Vec::new();
        let mut lapsed = Vec::new();
        for id in ids {
            match t.orders.get(&id) {
                Some(order) if order.is_offered_to(store, now) => open.push(order.clone()),
                _ => lapsed.push(id),
            }
        }
        if let Some(set) = t.offers_by_store.get_mut(store) {
            for id in lapsed {
                set.remove(&id);
            }
        }
        Ok(open)
    }
}

impl StockRepo for MemoryStorage {
    async fn stock(&self, store: &StoreId) -> Result<Versioned<StockLedger>, RepoError> {
        Ok(self.tables().stocks.get(store).cloned().unwrap_or_default())
    }

    async fn stocks_of_many(&self, stores: &[StoreId]) -> Result<Vec<StockLedger>, RepoError> {
        let t = self.tables();
        Ok(stores
            .iter()
            .map(|s| t.stocks.get(s).map(|v| v.value.clone()).unwrap_or_default())
            .collect())
    }

    async fn replace_stock(&self, store: &StoreId, version: u64, next: &StockLedger) -> Result<bool, RepoError> {
        Ok(replace_at(
            &mut self.tables().stocks,
            store.clone(),
            version,
            next.clone(),
        ))
    }

    async fn replace_order_and_stock(
        &self,
        current: &Order,
        next: &Order,
        store: &StoreId,
        version: u64,
        ledger: &StockLedger,
    ) -> Result<bool, RepoError> {
        // Both conditions are checked under the one lock before either write.
        let mut t = self.tables();
        let order_unchanged = t
            .orders
            .get(next.id())
            .is_some_and(|o| o.version() == current.version());
        if !order_unchanged || !replace_at(&mut t.stocks, store.clone(), version, ledger.clone()) {
            return Ok(false);
        }
        t.list(next.id(), next.new_listings_since(current));
        t.orders.insert(next.id().clone(), next.clone());
        Ok(true)
    }
}

impl CustomerRepo for MemoryStorage {
    async fn set_phone(&self, customer: &CustomerId, phone: &PhoneNumber) -> Result<(), RepoError> {
        self.tables().phones.insert(customer.clone(), phone.clone());
        Ok(())
    }

    async fn phone_of(&self, customer: &CustomerId) -> Result<Option<PhoneNumber>, RepoError> {
        Ok(self.tables().phones.get(customer).cloned())
    }

    async fn add_to_home(&self, customer: &CustomerId, order: &OrderId, items: &[HomeItem]) -> Result<(), RepoError> {
        let mut t = self.tables();
        let (home, applied) = t.homes.entry(customer.clone()).or_default();
        if applied.insert(order.clone()) {
            merge_into_home(home, items);
        }
        Ok(())
    }

    async fn home_of(&self, customer: &CustomerId) -> Result<Vec<HomeItem>, RepoError> {
        Ok(self
            .tables()
            .homes
            .get(customer)
            .map(|(h, _)| h.clone())
            .unwrap_or_default())
    }

    async fn set_home_item(&self, customer: &CustomerId, key: &str, item: Option<HomeItem>) -> Result<(), RepoError> {
        let mut t = self.tables();
        let (home, _) = t.homes.entry(customer.clone()).or_default();
        home.retain(|h| h.key != key);
        home.extend(item);
        Ok(())
    }
}

impl ConnectionRepo for MemoryStorage {
    async fn put_connection(&self, connection: &Connection) -> Result<(), RepoError> {
        let mut t = self.tables();
        t.connections_by_owner
            .entry(connection.owner.clone())
            .or_default()
            .insert(connection.id.clone());
        t.connections.insert(connection.id.clone(), connection.clone());
        Ok(())
    }

    async fn get_connection(&self, id: &ConnectionId) -> Result<Option<Connection>, RepoError> {
        Ok(self.tables().connections.get(id).cloned())
    }

    async fn delete_connection(&self, id: &ConnectionId) -> Result<Option<Connection>, RepoError> {
        let mut t = self.tables();
        let removed = t.connections.remove(id);
        if let Some(connection) = &removed
            && let Some(set) = t.connections_by_owner.get_mut(&connection.owner)
        {
            set.remove(id);
            if set.is_empty() {
                t.connections_by_owner.remove(&connection.owner);
            }
        }
        Ok(removed)
    }

    async fn connections_of_many(&self, owners: &[Caller]) -> Result<Vec<Vec<ConnectionId>>, RepoError> {
        let t = self.tables();
        Ok(owners
            .iter()
            .map(|owner| {
                t.connections_by_owner
                    .get(owner)
                    .map(|ids| ids.iter().cloned().collect())
                    .unwrap_or_default()
            })
            .collect())
    }
}

impl LimitRepo for MemoryStorage {
    async fn order_allowance(&self, customer: &CustomerId) -> Result<Versioned<OrderAllowance>, RepoError> {
        Ok(self.tables().allowances.get(customer).cloned().unwrap_or_default())
    }

    async fn rate_window(&self, key: &str) -> Result<Versioned<SlidingWindow>, RepoError> {
        Ok(self.tables().rate_windows.get(key).cloned().unwrap_or_default())
    }

    async fn replace_rate_window(&self, key: &str, version: u64, next: &SlidingWindow) -> Result<bool, RepoError> {
        Ok(replace_at(
            &mut self.tables().rate_windows,
            key.to_string(),
            version,
            next.clone(),
        ))
    }
}

impl ApplicationRepo for MemoryStorage {
    async fn insert_application(&self, application: &StoreApplication) -> Result<bool, RepoError> {
        let mut t = self.tables();
        let id = &application.store.id;
        if t.stores.contains_key(id) {
            return Ok(false);
        }
        t.put_store(&application.store);
        t.applications.insert(id.clone(), application.clone());
        Ok(true)
    }

    async fn application(&self, store: &StoreId) -> Result<Option<StoreApplication>, RepoError> {
        Ok(self.tables().applications.get(store).cloned())
    }

    async fn pending_applications(
        &self,
        limit: usize,
        after: Option<&StoreId>,
    ) -> Result<Vec<StoreApplication>, RepoError> {
        let t = self.tables();
        Ok(t.applications
            .iter()
            .filter(|(id, _)| after.is_none_or(|a| *id > a))
            .take(limit)
            .map(|(_, a)| a.clone())
            .collect())
    }
}

impl AccountRepo for MemoryStorage {
    async fn account(&self, phone: &PhoneNumber) -> Result<Versioned<Account>, RepoError> {
        Ok(self.tables().accounts.get(phone).cloned().unwrap_or_default())
    }

    async fn replace_account(&self, phone: &PhoneNumber, version: u64, next: &Account) -> Result<bool, RepoError> {
        let mut t = self.tables();
        if t.accounts.get(phone).map_or(0, |r| r.version) != version {
            return Ok(false);
        }
        let value = Versioned {
            value: next.clone(),
            version: version + 1,
        };
        t.accounts.insert(phone.clone(), value);
        Ok(true)
    }
}

impl IdempotencyRepo for MemoryStorage {
    async fn idempotency_record(&self, scope: &str) -> Result<Versioned<Option<IdempotencyRecord>>, RepoError> {
        Ok(self.tables().idempotency.get(scope).cloned().unwrap_or_default())
    }

    async fn replace_idempotency_record(
        &self,
        scope: &str,
        version: u64,
        next: &IdempotencyRecord,
    ) -> Result<bool, RepoError> {
        let mut t = self.tables();
        if t.idempotency.get(scope).map_or(0, |r| r.version) != version {
            return Ok(false);
        }
        let value = Versioned {
            value: Some(next.clone()),
            version: version + 1,
        };
        t.idempotency.insert(scope.to_string(), value);
        Ok(true)
    }
}

/// Writes `value` at `version + 1` under `key` if the stored one is still
/// at `version` (0: absent), as a conditional write does.
fn replace_at<K: std::hash::Hash + Eq, V>(map: &mut HashMap<K, Versioned<V>>, key: K, version: u64, value: V) -> bool {
    if map.get(&key).map_or(0, |r| r.version) != version {
        return false;
    }
    map.insert(
        key,
        Versioned {
            value,
            version: version + 1,
        },
    );
    true
}

impl SignInRepo for MemoryStorage {
    async fn code_record(&self, phone: &PhoneNumber) -> Result<Versioned<CodeRecord>, RepoError> {
        Ok(self.tables().code_records.get(phone).cloned().unwrap_or_default())
    }

    async fn replace_code_record(
        &self,
        phone: &PhoneNumber,
        version: u64,
        next: &CodeRecord,
        _forget_after_ms: Millis,
    ) -> Result<bool, RepoError> {
        Ok(replace_at(
            &mut self.tables().code_records,
            phone.clone(),
            version,
            next.clone(),
        ))
    }

    async fn refresh_family(&self, family: &str) -> Result<Versioned<Option<RefreshFamily>>, RepoError> {
        Ok(self.tables().refresh_families.get(family).cloned().unwrap_or_default())
    }

    async fn replace_refresh_family(
        &self,
        family: &str,
        version: u64,
        next: &RefreshFamily,
    ) -> Result<bool, RepoError> {
        Ok(replace_at(
            &mut self.tables().refresh_families,
            family.to_string(),
            version,
            Some(next.clone()),
        ))
    }

    async fn session_cutoff(&self, caller: &Caller) -> Result<Versioned<SessionCutoff>, RepoError> {
        Ok(self.tables().session_cutoffs.get(caller).cloned().unwrap_or_default())
    }

    async fn replace_session_cutoff(
        &self,
        caller: &Caller,
        version: u64,
        next: &SessionCutoff,
    ) -> Result<bool, RepoError> {
        Ok(replace_at(
            &mut self.tables().session_cutoffs,
            caller.clone(),
            version,
            *next,
        ))
    }
}

impl NotificationRepo for MemoryStorage {
    async fn claim_notice(&self, key: &str, now: Millis, keep_ms: Millis) -> Result<bool, RepoError> {
        let mut t = self.tables();
        if t.notices.get(key).is_some_and(|&forget_at| forget_at > now) {
            return Ok(false);
        }
        t.notices.insert(key.to_string(), now + keep_ms);
        Ok(true)
    }

    async fn put_device(&self, owner: &Caller, device: &Device) -> Result<(), RepoError> {
        self.tables().devices.insert(owner.clone(), device.clone());
        Ok(())
    }

    async fn devices_of_many(&self, owners: &[Caller]) -> Result<Vec<Option<Device>>, RepoError> {
        let t = self.tables();
        Ok(owners.iter().map(|owner| t.devices.get(owner).cloned()).collect())
    }

    async fn receipt_phone(&self, customer: &CustomerId) -> Result<Option<PhoneNumber>, RepoError> {
        let t = self.tables();
        if t.receipts_opted_out.contains(customer) {
            return Ok(None);
        }
        Ok(t.phones.get(customer).cloned())
    }

    async fn set_receipts_opt_out(&self, customer: &CustomerId, opted_out: bool) -> Result<(), RepoError> {
        let mut t = self.tables();
        if opted_out {
            t.receipts_opted_out.insert(customer.clone());
        } else {
            t.receipts_opted_out.remove(customer);
        }
        Ok(())
    }
}
