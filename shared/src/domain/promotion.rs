//! Offers from stores to customers ("promotions" in code, to keep them
//! apart from the order offers a store accepts): a store offers an item at
//! a price until a time; it reaches customers nearby who opted in and
//! bought that item before, and the store learns only how many. Every rule
//! about them is here: what a valid promotion is, its limits, who may
//! receive it, what the customer sees, and consent.

use h3o::Resolution;
use serde::{Deserialize, Serialize};

use super::clock::Millis;
use super::demand::DemandItem;
use super::geo::GeoPoint;
use super::ids::{CustomerId, PromotionId, StoreId};
use super::limits::Rate;
use super::order::Promise;
use super::order::money::{MAX_LINE_PRICE, Paisa};
use super::store::Store;

const DAY_MS: Millis = 24 * 3_600_000;

/// The longest a promotion may stay valid.
pub const MAX_VALIDITY_MS: Millis = 7 * DAY_MS;

/// Promotions one store may send a day: each also bounds how often a store
/// can learn a count of buyers nearby.
pub const PROMOTIONS_PER_STORE: Rate = Rate {
    max: 3,
    window_ms: DAY_MS,
};

/// Promotions one customer may receive a day; stores beyond it reach the
/// customer no more that day and do not count them.
pub const PROMOTIONS_PER_CUSTOMER: Rate = Rate {
    max: 2,
    window_ms: DAY_MS,
};

/// Buyers are indexed by the resolution-7 cell (about 5 km², edge about
/// 1.2 km) of where their order was delivered: a send reads the few cells
/// covering the store's radius, one query each per item.
pub const BUYER_CELL_RESOLUTION: Resolution = Resolution::Seven;

/// Most (cell, item) entries one customer is indexed under; beyond it new
/// purchases are not indexed (the first items bought stay reachable).
pub const MAX_INDEXED_PER_CUSTOMER: usize = 40;

/// Distances shown to customers are rounded to this, so a store's place
/// cannot be read from the label.
const DISTANCE_STEP_M: u32 = 100;

/// One entry of the buyers' index: customers who bought `tag` with an order
/// delivered in `cell`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct BuyerKey {
    pub cell: u64,
    pub tag: String,
}

/// A customer under a [`BuyerKey`], with where the order was delivered
/// (kept to check the distance; never shown to a store).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BuyerEntry {
    pub key: BuyerKey,
    pub customer: CustomerId,
    pub location: GeoPoint,
}

/// The buyer cell of a point.
#[must_use]
pub fn buyer_cell(point: GeoPoint) -> u64 {
    let cell = point.store_cell();
    u64::from(cell.parent(BUYER_CELL_RESOLUTION).unwrap_or(cell))
}

/// The index entries of a purchase: one per distinct item tag.
#[must_use]
pub fn purchase_entries(customer: &CustomerId, location: GeoPoint, tags: &[String]) -> Vec<BuyerEntry> {
    let cell = buyer_cell(location);
    let mut tags: Vec<&String> = tags.iter().filter(|t| !t.is_empty()).collect();
    tags.sort_unstable();
    tags.dedup();
    tags.into_iter()
        .map(|tag| BuyerEntry {
            key: BuyerKey { cell, tag: tag.clone() },
            customer: customer.clone(),
            location,
        })
        .collect()
}

/// Whether a customer wants promotions, and where they are indexed (so
/// opting out removes exactly those entries).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PromotionConsent {
    #[serde(default)]
    pub opted_in: bool,
    #[serde(default)]
    pub indexed: Vec<BuyerKey>,
    #[serde(default)]
    pub changed_at_ms: Millis,
}

impl PromotionConsent {
    /// Opted in at `now` (or still since when it was), indexed as well
    /// under `entries` (past purchases), within the cap: the record and the
    /// entries to write.
    #[must_use]
    pub fn opt_in(&self, entries: Vec<BuyerEntry>, now: Millis) -> (PromotionConsent, Vec<BuyerEntry>) {
        let mut next = PromotionConsent {
            opted_in: true,
            indexed: self.indexed.clone(),
            changed_at_ms: if self.opted_in { self.changed_at_ms } else { now },
        };
        let added = next.add(entries);
        (next, added)
    }

    /// Opted out at `now`: the record and every entry to delete.
    #[must_use]
    pub fn opt_out(&self, now: Millis) -> (PromotionConsent, Vec<BuyerKey>) {
        let next = PromotionConsent {
            opted_in: false,
            indexed: Vec::new(),
            changed_at_ms: now,
        };
        (next, self.indexed.clone())
    }

    /// A purchase to index: `None` when the customer has not opted in
    /// (nothing is written about them); else the record and the entries
    /// to write (entries already indexed are written again: their place is
    /// the latest purchase's).
    #[must_use]
    pub fn index(&self, entries: Vec<BuyerEntry>) -> Option<(PromotionConsent, Vec<BuyerEntry>)> {
        if !self.opted_in {
            return None;
        }
        let mut next = self.clone();
        let added = next.add(entries);
        Some((next, added))
    }

    /// Whether the customer may see (and order from) `received`: only
    /// while opted in, and only what reached them since they last opted
    /// in; what came before an opt-out stays hidden for good.
    #[must_use]
    pub fn shows(&self, received: &ReceivedPromotion) -> bool {
        self.opted_in && received.promotion.sent_at_ms >= self.changed_at_ms
    }

    fn add(&mut self, entries: Vec<BuyerEntry>) -> Vec<BuyerEntry> {
        let mut added = Vec::new();
        for entry in entries {
            let known = self.indexed.contains(&entry.key);
            if !known && self.indexed.len() >= MAX_INDEXED_PER_CUSTOMER {
                continue;
            }
            if !known {
                self.indexed.push(entry.key.clone());
            }
            added.push(entry);
        }
        added
    }
}

/// What a store sends.
#[derive(Debug, Clone, PartialEq)]
pub struct PromotionInput {
    pub item: DemandItem,
    pub price: Paisa,
    pub valid_until_ms: Millis,
}

/// Why a promotion was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PromotionRefusal {
    #[error("only an active store may send offers")]
    StoreNotActive,
    #[error("price must be more than 0 and at most {MAX_LINE_PRICE}")]
    PriceOutOfRange,
    #[error("valid_until_ms must be in the future")]
    NotInFuture,
    #[error("an offer is valid for at most 7 days")]
    TooLong,
    /// Turning an offer into an order after its time.
    #[error("this offer is no longer valid")]
    Expired,
}

impl PromotionRefusal {
    /// A stable code for clients.
    #[must_use]
    pub fn code(self) -> &'static str {
        match self {
            PromotionRefusal::StoreNotActive => "store_not_active",
            PromotionRefusal::PriceOutOfRange => "invalid_price",
            PromotionRefusal::NotInFuture | PromotionRefusal::TooLong => "invalid_valid_until",
            PromotionRefusal::Expired => "promotion_expired",
        }
    }

    /// The body field at fault, if one is.
    #[must_use]
    pub fn field(self) -> Option<&'static str> {
        match self {
            PromotionRefusal::PriceOutOfRange => Some("price"),
            PromotionRefusal::NotInFuture | PromotionRefusal::TooLong => Some("valid_until_ms"),
            PromotionRefusal::StoreNotActive | PromotionRefusal::Expired => None,
        }
    }
}

/// A promotion as sent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Promotion {
    pub id: PromotionId,
    pub store_id: StoreId,
    pub store_location: GeoPoint,
    pub item: DemandItem,
    pub price: Paisa,
    pub valid_until_ms: Millis,
    pub sent_at_ms: Millis,
}

impl Promotion {
    /// A new promotion from `store`, checked.
    pub fn new(store: &Store, input: PromotionInput, now: Millis) -> Result<Promotion, PromotionRefusal> {
        if !store.is_active() {
            return Err(PromotionRefusal::StoreNotActive);
        }
        if input.price.0 == 0 || input.price > MAX_LINE_PRICE {
            return Err(PromotionRefusal::PriceOutOfRange);
        }
        if input.valid_until_ms <= now {
            return Err(PromotionRefusal::NotInFuture);
        }
        if input.valid_until_ms - now > MAX_VALIDITY_MS {
            return Err(PromotionRefusal::TooLong);
        }
        Ok(Promotion {
            id: PromotionId::generate(),
            store_id: store.id.clone(),
            store_location: store.location,
            item: input.item,
            price: input.price,
            valid_until_ms: input.valid_until_ms,
            sent_at_ms: now,
        })
    }

    /// The index entries to read for buyers within `radius_m`.
    #[must_use]
    pub fn buyer_keys(&self, radius_m: f64) -> Vec<BuyerKey> {
        let point = self.store_location;
        let mut keys: Vec<BuyerKey> = super::geo::cells_covering(point, radius_m, BUYER_CELL_RESOLUTION)
            .into_iter()
            .map(|cell| BuyerKey {
                cell: u64::from(cell),
                tag: self.item.tag.clone(),
            })
            .collect();
        keys.dedup();
        keys
    }

    /// The customers it may reach among `entries` read from the index:
    /// within `radius_m` of the store, each once, with how far.
    #[must_use]
    pub fn recipients(&self, entries: &[BuyerEntry], radius_m: f64) -> Vec<(CustomerId, u32)> {
        let mut found: Vec<(CustomerId, u32)> = Vec::new();
        for entry in entries {
            if entry.key.tag != self.item.tag {
                continue;
            }
            let distance = entry.location.distance_m(self.store_location);
            if distance > radius_m {
                continue;
            }
            // Whole metres are plenty; the cast cannot overflow within 20 km.
            let distance = distance.round() as u32;
            match found.iter_mut().find(|(c, _)| c == &entry.customer) {
                Some((_, d)) => *d = (*d).min(distance),
                None => found.push((entry.customer.clone(), distance)),
            }
        }
        found
    }

    /// What an order from it binds its store to: its price for the item.
    #[must_use]
    pub fn promise(&self) -> Promise {
        Promise {
            store_id: self.store_id.clone(),
            price: self.price,
        }
    }

    /// Whether it may still be turned into an order at `now`.
    pub fn usable_at(&self, now: Millis) -> Result<(), PromotionRefusal> {
        if now >= self.valid_until_ms {
            Err(PromotionRefusal::Expired)
        } else {
            Ok(())
        }
    }
}

/// A promotion in one customer's list: the promotion and how far its store
/// was from where they bought.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReceivedPromotion {
    pub promotion: Promotion,
    pub distance_m: u32,
}

/// A promotion as its customer sees it: no store id, name or place until a
/// store accepts the order it becomes; only a rounded distance.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct PromotionView {
    pub promotion_id: PromotionId,
    pub item: DemandItem,
    /// The store's price for the item, in paisa.
    pub price: Paisa,
    pub valid_until_ms: Millis,
    /// How far the shop is from where the customer bought, rounded to 100 m.
    pub distance_m: u32,
    /// Who offers it, without saying which shop: "a shop about 600 m away".
    pub from: String,
}

impl PromotionView {
    #[must_use]
    pub fn of(received: &ReceivedPromotion) -> Self {
        let rounded = received
            .distance_m
            .div_ceil(DISTANCE_STEP_M)
            .max(1)
            .saturating_mul(DISTANCE_STEP_M);
        let promotion = &received.promotion;
        PromotionView {
            promotion_id: promotion.id.clone(),
            item: promotion.item.clone(),
            price: promotion.price,
            valid_until_ms: promotion.valid_until_ms,
            distance_m: rounded,
            from: format!("a shop about {rounded} m away"),
        }
    }
}

/// A push about promotions: it carries no order, so it is not a
/// [`super::events::PushEvent`].
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct PromotionEvent {
    pub event_id: String,
    #[serde(flatten)]
    pub body: PromotionEventBody,
}

/// What happened.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum PromotionEventBody {
    /// To a customer who opted in: a shop nearby offers an item they
    /// bought before (it is in `GET /customers/me/promotions` too).
    PromotionReceived { promotion: PromotionView },
}

impl PromotionEvent {
    #[must_use]
    pub fn new(body: PromotionEventBody) -> Self {
        PromotionEvent {
            event_id: ulid::Ulid::new().to_string(),
            body,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::demand::{DemandLineInput, demand_from_lines};
    use crate::domain::store::StoreStatus;

    const NOW: Millis = 1_800_000_000_000;

    fn here() -> GeoPoint {
        GeoPoint::new(23.7925, 90.4078).expect("point")
    }

    fn rice() -> DemandItem {
        let line = DemandLineInput {
            name: "rice".into(),
            amount: None,
            unit: None,
        };
        demand_from_lines(&[line]).expect("rice").remove(0)
    }

    fn store(status: StoreStatus) -> Store {
        let mut store: Store = serde_json::from_value(serde_json::json!({
            "id": "s1", "name": "S", "location": {"lat": 23.7925, "lng": 90.4078},
            "category": "grocery", "tags": ["rice"], "open": true, "delivery_options": [],
            "updated_at_ms": 0
        }))
        .expect("store");
        store.status = status;
        store
    }

    fn input(price: u64, valid_until_ms: Millis) -> PromotionInput {
        PromotionInput {
            item: rice(),
            price: Paisa(price),
            valid_until_ms,
        }
    }

    fn customer(n: &str) -> CustomerId {
        CustomerId::new(n).expect("id")
    }

    #[test]
    fn a_promotion_has_a_price_and_a_bounded_future_validity() {
        let active = store(StoreStatus::Active);
        assert!(Promotion::new(&active, input(9_000, NOW + 3_600_000), NOW).is_ok());
        assert!(Promotion::new(&active, input(9_000, NOW + MAX_VALIDITY_MS), NOW).is_ok());
        let refused = |p, v, s: &Store| Promotion::new(s, input(p, v), NOW).err();
        assert_eq!(refused(0, NOW + 1, &active), Some(PromotionRefusal::PriceOutOfRange));
        assert_eq!(
            refused(MAX_LINE_PRICE.0 + 1, NOW + 1, &active),
            Some(PromotionRefusal::PriceOutOfRange)
        );
        assert_eq!(refused(100, NOW, &active), Some(PromotionRefusal::NotInFuture));
        assert_eq!(
            refused(100, NOW + MAX_VALIDITY_MS + 1, &active),
            Some(PromotionRefusal::TooLong)
        );
        assert_eq!(
            refused(100, NOW + 1, &store(StoreStatus::Suspended)),
            Some(PromotionRefusal::StoreNotActive)
        );
        assert_eq!(PromotionRefusal::TooLong.field(), Some("valid_until_ms"));
    }

    #[test]
    fn an_expired_promotion_cannot_become_an_order() {
        let promotion = Promotion::new(&store(StoreStatus::Active), input(100, NOW + 10), NOW).expect("valid");
        assert_eq!(promotion.usable_at(NOW + 9), Ok(()));
        assert_eq!(promotion.usable_at(NOW + 10), Err(PromotionRefusal::Expired));
    }

    #[test]
    fn recipients_are_buyers_of_the_item_within_the_radius_each_once() {
        let promotion = Promotion::new(&store(StoreStatus::Active), input(100, NOW + 10), NOW).expect("valid");
        let near = here().offset(0.0, 500.0);
        let far = here().offset(90.0, 3_000.0);
        let mut entries = purchase_entries(&customer("near"), near, &["rice".into(), "rice".into()]);
        entries.extend(purchase_entries(
            &customer("near"),
            here().offset(0.0, 900.0),
            &["rice".into()],
        ));
        entries.extend(purchase_entries(&customer("far"), far, &["rice".into()]));
        entries.extend(purchase_entries(&customer("dal"), near, &["lentils".into()]));
        assert_eq!(promotion.recipients(&entries, 2_000.0), vec![(customer("near"), 500)]);
        // Every entry near enough is under a key the send reads, in few reads.
        let keys = promotion.buyer_keys(2_000.0);
        assert!(keys.contains(&entries[0].key));
        assert!(keys.len() <= 20, "{} reads", keys.len());
    }

    #[test]
    fn consent_indexes_only_opted_in_customers_and_opting_out_removes_every_entry() {
        let entries = purchase_entries(&customer("c"), here(), &["rice".into(), "lentils".into()]);
        let never = PromotionConsent::default();
        assert_eq!(
            never.index(entries.clone()),
            None,
            "nothing is written about a customer who never opted in"
        );
        let (opted_in, written) = never.opt_in(Vec::new(), NOW);
        assert!(written.is_empty());
        let (indexed, written) = opted_in.index(entries.clone()).expect("opted in");
        assert_eq!(written, entries);
        assert_eq!(indexed.indexed.len(), 2);
        let (out, removed) = indexed.opt_out(NOW + 1);
        assert!(!out.opted_in && out.indexed.is_empty());
        assert_eq!(removed.len(), 2);
        assert_eq!(out.index(entries), None, "an opted-out customer is never indexed again");
    }

    #[test]
    fn what_came_before_an_opt_out_stays_hidden_after_opting_in_again() {
        let promotion = |sent_at_ms| ReceivedPromotion {
            promotion: Promotion::new(&store(StoreStatus::Active), input(100, NOW + 10_000), sent_at_ms)
                .expect("valid"),
            distance_m: 100,
        };
        let (first, _) = PromotionConsent::default().opt_in(Vec::new(), NOW);
        let before = promotion(NOW + 1);
        assert!(first.shows(&before));
        // Opting in again while opted in changes nothing.
        let (again, _) = first.opt_in(Vec::new(), NOW + 2);
        assert!(again.shows(&before));
        let (out, _) = again.opt_out(NOW + 3);
        assert!(!out.shows(&before));
        let (back, _) = out.opt_in(Vec::new(), NOW + 4);
        assert!(!back.shows(&before), "received before the opt-out");
        assert!(back.shows(&promotion(NOW + 5)));
    }

    #[test]
    fn the_index_of_one_customer_is_capped() {
        let (mut consent, _) = PromotionConsent::default().opt_in(Vec::new(), NOW);
        let tags: Vec<String> = (0..MAX_INDEXED_PER_CUSTOMER + 5).map(|i| format!("t{i}")).collect();
        let (next, written) = consent
            .index(purchase_entries(&customer("c"), here(), &tags))
            .expect("in");
        assert_eq!(written.len(), MAX_INDEXED_PER_CUSTOMER);
        consent = next;
        // A tag already indexed is written again (its latest place).
        let again = consent
            .index(purchase_entries(&customer("c"), here(), &["t0".into()]))
            .expect("in");
        assert_eq!(again.1.len(), 1);
    }

    #[test]
    fn customers_see_a_rounded_distance_and_no_store() {
        let promotion = Promotion::new(&store(StoreStatus::Active), input(100, NOW + 10), NOW).expect("valid");
        let view = PromotionView::of(&ReceivedPromotion {
            promotion,
            distance_m: 543,
        });
        assert_eq!((view.distance_m, view.from.as_str()), (600, "a shop about 600 m away"));
        let json = serde_json::to_string(&view).expect("json");
        assert!(!json.contains("s1") && !json.contains("23.79"), "{json}");
    }
}
