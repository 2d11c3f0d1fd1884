//! The order as stored: what was asked, where it stands, who won it. Its
//! fields are private: it is built by [`Order::open`] and changed only by
//! [`Order::decide`](super::change), so no caller sets a status by hand.

use serde::{Deserialize, Serialize};

use super::aftersales::{Complaint, Review, StoreCancellation};
use super::audit::{AuditEntry, ChangedBy, Happened};
use super::delivery::{DeliveryAddress, DeliveryChoice, DeliveryKind, DeliveryOption, default_delivery_options};
use super::money::{Bill, BillLine, Paisa, PaymentMethod, Settlement};
use super::packing::LineState;
use super::refusal::Refusal;
pub use super::status::OrderStatus;
use crate::domain::clock::Millis;
use crate::domain::demand::{DemandItem, Language};
use crate::domain::geo::GeoPoint;
use crate::domain::ids::{CustomerId, OrderId, StoreId};

/// One store's offer in the current round.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Offer {
    pub store_id: StoreId,
    /// Rounded distance from the customer, for the store to decide.
    pub distance_m: u32,
    /// The language the offer is spoken in at this store.
    #[serde(default = "language_of_older_offers")]
    pub language: Language,
    /// The store's delivery terms when it was offered the order: accepting
    /// the offer accepts these, so later edits of the profile do not change
    /// an order already won.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub delivery_options: Vec<DeliveryOption>,
}

/// Offers stored before they carried a language were spoken in English.
fn language_of_older_offers() -> Language {
    Language::En
}

/// The store that won, as revealed to the customer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Winner {
    pub store_id: StoreId,
    pub store_name: String,
    /// Where the store is (none on orders won before it was kept).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub store_location: Option<GeoPoint>,
    pub accepted_at_ms: Millis,
}

/// A store's promise of a price for the order's first line: the order came
/// from that store's promotion ("5 kg rice at 400 Tk"). Binds that store
/// alone; another store that wins a later round prices it as any order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Promise {
    pub store_id: StoreId,
    /// The most the line may cost, in paisa.
    pub price: Paisa,
}

/// The line a promotion's price is for: its order has that one item.
pub(super) const PROMISED_LINE: usize = 0;

/// What is asked for, when an order is opened.
#[derive(Debug, Clone, PartialEq)]
pub struct NewOrder {
    pub id: OrderId,
    pub customer_id: CustomerId,
    pub items: Vec<DemandItem>,
    pub location: GeoPoint,
    /// Chosen with the order, on the product's default terms until a store
    /// wins.
    pub delivery: Option<DeliveryChoice>,
    pub payment: PaymentMethod,
    /// Where to bring it; only the winning store sees it.
    pub address: Option<DeliveryAddress>,
}

/// An order and its state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Order {
    pub(super) id: OrderId,
    pub(super) customer_id: CustomerId,
    pub(super) items: Vec<DemandItem>,
    pub(super) location: GeoPoint,
    pub(super) status: OrderStatus,
    /// 1-based round number; 0 when no round was ever opened.
    pub(super) round: u32,
    /// When the current round's offers lapse (exclusive).
    pub(super) deadline_ms: Millis,
    /// Stores offered in the current round.
    pub(super) offers: Vec<Offer>,
    /// Every store offered in any round, so later rounds skip them.
    #[serde(default)]
    pub(super) tried: Vec<StoreId>,
    /// Stores that declined their offer; they may no longer accept.
    #[serde(default)]
    pub(super) declined: Vec<StoreId>,
    pub(super) winner: Option<Winner>,
    /// Why the order ended when it is unfulfilled or cancelled.
    pub(super) end_reason: Option<String>,
    pub(super) created_at_ms: Millis,
    pub(super) updated_at_ms: Millis,
    /// Grows by one with every change; pushes carry it, and storage writes
    /// a change only over the version it was decided on.
    pub(super) version: u64,
    /// The packing checklist, one state per demand line.
    #[serde(default)]
    pub(super) packing: Vec<LineState>,
    #[serde(default)]
    pub(super) delivery: Option<DeliveryChoice>,
    #[serde(default)]
    pub(super) payment: PaymentMethod,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) address: Option<DeliveryAddress>,
    /// Fixed at completion.
    #[serde(default)]
    pub(super) bill: Option<Bill>,
    #[serde(default)]
    pub(super) review: Option<Review>,
    #[serde(default)]
    pub(super) complaint: Option<Complaint>,
    /// Stores that gave the order back after winning it.
    #[serde(default)]
    pub(super) store_cancellations: Vec<StoreCancellation>,
    #[serde(default)]
    pub(super) completed_at_ms: Option<Millis>,
    /// The secret half of the order's public share link, once its customer
    /// asked for one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) share_secret: Option<String>,
    /// Every change, oldest first: written with the order, so a change and
    /// its entry land together or not at all.
    #[serde(default)]
    pub(super) audit: Vec<AuditEntry>,
    /// The radius the current round searched when sparse supply widened
    /// it (`domain::matching::search_radius_after`); `None`: the
    /// configured radius.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) search_radius_m: Option<u32>,
    /// The price its store promised, when the order came from a promotion.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) promise: Option<Promise>,
}

/// A listing an order appears in besides its own item, so that it can be
/// found by who cares about it. Storage keeps these beside the order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Listing {
    /// The customer's history.
    Customer(CustomerId),
    /// A store's open offers, until `deadline_ms`.
    OfferedTo { store: StoreId, deadline_ms: Millis },
    /// The winning store's history.
    WonBy(StoreId),
    /// The city's orders by when they were placed (operators' figures and
    /// live map).
    PlacedAt(Millis),
}

/// The reason given when no store within the radius can take the order.
pub const NO_STORE_NEARBY: &str = "no_store_nearby";
/// The reason given when every round ran out unanswered.
pub const NO_STORE_ACCEPTED: &str = "no_store_accepted";
/// The reason an order the customer cancelled ended with.
pub const CANCELLED_BY_CUSTOMER: &str = "cancelled_by_customer";
/// The reason given when the winner gave the order back and no store was left.
pub const STORE_GAVE_BACK_NONE_LEFT: &str = "store_cancelled_no_store_left";

impl Order {
    /// A new order searching in round 1 with `offers`, or unfulfilled at once
    /// when there is nobody to offer it to.
    #[must_use]
    pub fn open(new: NewOrder, offers: Vec<Offer>, now: Millis, window_ms: Millis) -> Self {
        let searching = !offers.is_empty();
        let placed = AuditEntry {
            version: 1,
            at_ms: now,
            by: ChangedBy::Customer {
                id: new.customer_id.clone(),
            },
            happened: Happened::Placed {
                offered_to: offers.len(),
            },
            status: if searching {
                OrderStatus::Searching
            } else {
                OrderStatus::Unfulfilled
            },
        };
        Order {
            id: new.id,
            customer_id: new.customer_id,
            items: new.items,
            location: new.location,
            status: if searching {
                OrderStatus::Searching
            } else {
                OrderStatus::Unfulfilled
            },
            round: u32::from(searching),
            deadline_ms: if searching { now + window_ms } else { now },
            tried: offers.iter().map(|o| o.store_id.clone()).collect(),
            declined: Vec::new(),
            offers,
            winner: None,
            end_reason: (!searching).then(|| NO_STORE_NEARBY.to_string()),
            created_at_ms: now,
            updated_at_ms: now,
            version: 1,
            packing: Vec::new(),
            delivery: new.delivery,
            payment: new.payment,
            address: new.address,
            bill: None,
            review: None,
            complaint: None,
            store_cancellations: Vec::new(),
            completed_at_ms: None,
            share_secret: None,
            audit: vec![placed],
            search_radius_m: None,
            promise: None,
        }
    }

    /// The new order's first round searched `radius_m` (wider than the
    /// configured radius: sparse supply), or the configured one (`None`).
    #[must_use]
    pub fn searched_within(mut self, radius_m: Option<u32>) -> Self {
        self.search_radius_m = radius_m;
        self
    }

    /// The order came from `promise`'s promotion.
    #[must_use]
    pub fn promised(mut self, promise: Option<Promise>) -> Self {
        self.promise = promise;
        self
    }

    /// The most `store` may charge for `line`, if it promised a price for it.
    #[must_use]
    pub fn promised_price(&self, store: &StoreId, line: usize) -> Option<Paisa> {
        self.promise
            .as_ref()
            .filter(|p| &p.store_id == store && line == PROMISED_LINE)
            .map(|p| p.price)
    }

    /// The radius the current round searched when it was widened.
    #[must_use]
    pub fn search_radius_m(&self) -> Option<u32> {
        self.search_radius_m
    }

    #[must_use]
    pub fn id(&self) -> &OrderId {
        &self.id
    }

    #[must_use]
    pub fn customer_id(&self) -> &CustomerId {
        &self.customer_id
    }

    #[must_use]
    pub fn items(&self) -> &[DemandItem] {
        &self.items
    }

    /// The lines the customer still wants, with their line numbers: every
    /// line but those the customer dropped. A store asked after a give-back
    /// is matched, offered and holds stock for these alone.
    pub fn wanted_lines(&self) -> impl Iterator<Item = (usize, &DemandItem)> {
        self.items
            .iter()
            .enumerate()
            .filter(|(line, _)| !matches!(self.packing.get(*line), Some(LineState::Dropped)))
    }

    /// The stores to tell again of their offer after `before` became this
    /// order at `now`: when the customer chose another kind of delivery
    /// while searching, each store that may still accept and offers that
    /// kind (a store that does not keeps its offer as it was; winning it,
    /// the customer chooses again).
    #[must_use]
    pub fn offers_renewed_since(&self, before: &Order, now: Millis) -> Vec<StoreId> {
        let Some(kind) = self.wanted_delivery().filter(|k| Some(*k) != before.wanted_delivery()) else {
            return Vec::new();
        };
        self.offers
            .iter()
            .filter(|offer| self.is_offered_to(&offer.store_id, now))
            .filter(|offer| offer.delivery_options.is_empty() || kind.among(&offer.delivery_options).is_some())
            .map(|offer| offer.store_id.clone())
            .collect()
    }

    /// The lines the current winner has reported on (packed, partly
    /// packed, unavailable, a substitute), by the trail since it accepted.
    #[must_use]
    pub(super) fn lines_reported_by_winner(&self) -> Vec<usize> {
        self.audit
            .iter()
            .rev()
            .take_while(|entry| entry.happened != Happened::Accepted)
            .filter_map(|entry| match entry.happened {
                Happened::Packed { line, .. } => Some(line),
                _ => None,
            })
            .collect()
    }

    /// [`Self::wanted_lines`] without their numbers.
    #[must_use]
    pub fn wanted_items(&self) -> Vec<DemandItem> {
        self.wanted_lines().map(|(_, item)| item.clone()).collect()
    }

    #[must_use]
    pub fn location(&self) -> GeoPoint {
        self.location
    }

    #[must_use]
    pub fn status(&self) -> OrderStatus {
        self.status
    }

    #[must_use]
    pub fn round(&self) -> u32 {
        self.round
    }

    #[must_use]
    pub fn deadline_ms(&self) -> Millis {
        self.deadline_ms
    }

    /// The current round's offers.
    #[must_use]
    pub fn offers(&self) -> &[Offer] {
        &self.offers
    }

    /// Every store offered in any round.
    #[must_use]
    pub fn tried(&self) -> &[StoreId] {
        &self.tried
    }

    /// The stores the next round passes over: every store tried before.
    /// When the winner gives the order back, the stores of its round that
    /// lost the race to it, and did not decline, may be asked again (ranked
    /// with the rest): they were ready for it moments ago, and ending the
    /// order while they are near would fail the customer.
    #[must_use]
    pub fn passed_over(&self) -> Vec<StoreId> {
        let Some(winner) = &self.winner else {
            return self.tried.clone();
        };
        let lost_the_race = |store: &StoreId| {
            store != &winner.store_id
                && !self.declined.contains(store)
                && self.offers.iter().any(|o| &o.store_id == store)
        };
        self.tried.iter().filter(|s| !lost_the_race(s)).cloned().collect()
    }

    #[must_use]
    pub fn winner(&self) -> Option<&Winner> {
        self.winner.as_ref()
    }

    #[must_use]
    pub fn end_reason(&self) -> Option<&str> {
        self.end_reason.as_deref()
    }

    #[must_use]
    pub fn created_at_ms(&self) -> Millis {
        self.created_at_ms
    }

    #[must_use]
    pub fn version(&self) -> u64 {
        self.version
    }

    #[must_use]
    pub fn payment(&self) -> PaymentMethod {
        self.payment
    }

    /// Where to bring it, for the customer and the winning store only.
    #[must_use]
    pub fn address(&self) -> Option<&DeliveryAddress> {
        self.address.as_ref()
    }

    /// The bill as fixed at completion.
    #[must_use]
    pub fn bill(&self) -> Option<&Bill> {
        self.bill.as_ref()
    }

    #[must_use]
    pub fn review(&self) -> Option<&Review> {
        self.review.as_ref()
    }

    #[must_use]
    pub fn complaint(&self) -> Option<&Complaint> {
        self.complaint.as_ref()
    }

    #[must_use]
    pub fn packing(&self) -> &[LineState] {
        &self.packing
    }

    /// Every change of the order, oldest first.
    #[must_use]
    pub fn audit(&self) -> &[AuditEntry] {
        &self.audit
    }

    /// When the order was completed, if it was.
    #[must_use]
    pub fn completed_at_ms(&self) -> Option<Millis> {
        self.completed_at_ms
    }

    #[must_use]
    pub fn share_secret(&self) -> Option<&str> {
        self.share_secret.as_deref()
    }

    /// Whether `store` won this order.
    #[must_use]
    pub fn is_won_by(&self, store: &StoreId) -> bool {
        self.winner.as_ref().is_some_and(|w| &w.store_id == store)
    }

    /// Whether the current round may close: its deadline has passed, or
    /// every store it offered has declined, so no one is left to answer it
    /// and the customer need not wait out the window.
    #[must_use]
    pub fn round_may_close(&self, now: Millis) -> bool {
        now >= self.deadline_ms
            || (!self.offers.is_empty() && self.offers.iter().all(|o| self.declined.contains(&o.store_id)))
    }

    /// Whether `store` was ever offered this order (in any round).
    #[must_use]
    pub fn was_offered_to(&self, store: &StoreId) -> bool {
        self.tried.contains(store)
    }

    /// The terms the winning store's offer carried; `None` before a store
    /// has won, or for an order stored before offers carried terms.
    fn winner_terms(&self) -> Option<&[DeliveryOption]> {
        let winner = self.winner.as_ref()?;
        let offer = self.offers.iter().find(|o| o.store_id == winner.store_id)?;
        (!offer.delivery_options.is_empty()).then_some(offer.delivery_options.as_slice())
    }

    /// The delivery terms the customer chooses from: the winning store's, as
    /// it accepted them, or the product's defaults before a store has won.
    #[must_use]
    pub fn delivery_terms(&self) -> Vec<DeliveryOption> {
        self.winner_terms()
            .map_or_else(default_delivery_options, <[DeliveryOption]>::to_vec)
    }

    /// The customer's delivery choice on the terms that apply now. A choice
    /// made while searching carries the defaults' minutes and fee; once a
    /// store has won, the same kind on that store's terms. `None` when the
    /// winner does not offer that kind: the customer chooses again.
    #[must_use]
    pub fn delivery_choice(&self) -> Option<DeliveryChoice> {
        let choice = self.delivery.as_ref()?;
        if self.winner.is_some() && self.winner_terms().is_none() {
            // Stored before offers carried terms: the choice was made on
            // the winner's own options then, so it stands as written.
            return Some(choice.clone());
        }
        let option = choice.option.kind().among(&self.delivery_terms())?;
        Some(DeliveryChoice {
            option,
            ..choice.clone()
        })
    }

    /// The kind of delivery the customer has chosen, which later rounds of
    /// matching keep to.
    #[must_use]
    pub fn wanted_delivery(&self) -> Option<DeliveryKind> {
        self.delivery.as_ref().map(|d| d.option.kind())
    }

    /// Whether `store_id` holds a live offer at `now`.
    #[must_use]
    pub fn is_offered_to(&self, store_id: &StoreId, now: Millis) -> bool {
        self.status == OrderStatus::Searching
            && now < self.deadline_ms
            && self.offers.iter().any(|o| &o.store_id == store_id)
            && !self.declined.contains(store_id)
    }

    /// When the current round opened, as the trail says (placing, a round
    /// closed, a give-back): rounds differ in length once some alert by
    /// push. An order from before trails: one window before its deadline.
    #[must_use]
    pub fn round_opened_at(&self, window_ms: Millis) -> Millis {
        self.audit
            .iter()
            .rev()
            .find(|entry| {
                matches!(
                    entry.happened,
                    Happened::Placed { .. } | Happened::RoundClosed { .. } | Happened::GivenBack { .. }
                )
            })
            .map_or(self.deadline_ms - window_ms, |entry| entry.at_ms)
    }

    /// The bill so far: the fixed one once completed, else what was packed
    /// (packed, partly packed and substituted lines) plus the delivery fee.
    #[must_use]
    pub fn current_bill(&self) -> Bill {
        if let Some(bill) = &self.bill {
            return bill.clone();
        }
        let lines: Vec<BillLine> = self
            .items
            .iter()
            .zip(self.packing.iter().chain(std::iter::repeat(&LineState::Pending)))
            .filter_map(|(item, state)| match state {
                LineState::Packed { price } => Some(BillLine {
                    name: item.name.clone(),
                    name_bn: item.name_bn.clone(),
                    quantity: item.quantity,
                    price: *price,
                }),
                LineState::PartlyPacked { quantity, price } => Some(BillLine {
                    name: item.name.clone(),
                    name_bn: item.name_bn.clone(),
                    quantity: Some(*quantity),
                    price: *price,
                }),
                LineState::Substituted { name, quantity, price } => Some(BillLine {
                    name: name.clone(),
                    name_bn: None,
                    quantity: *quantity,
                    price: *price,
                }),
                _ => None,
            })
            .collect();
        let fee = self.delivery_choice().as_ref().map_or(Paisa(0), DeliveryChoice::fee);
        Bill::new(lines, fee, self.payment)
    }

    /// Every listing this order belongs in now. Storage writes, with each
    /// change, those of the new state that the old one did not have.
    #[must_use]
    pub fn listings(&self) -> Vec<Listing> {
        let mut listings = vec![
            Listing::Customer(self.customer_id.clone()),
            Listing::PlacedAt(self.created_at_ms),
        ];
        if self.status == OrderStatus::Searching {
            listings.extend(self.offers.iter().map(|o| Listing::OfferedTo {
                store: o.store_id.clone(),
                deadline_ms: self.deadline_ms,
            }));
        }
        if let Some(winner) = &self.winner {
            listings.push(Listing::WonBy(winner.store_id.clone()));
        }
        listings
    }

    /// The listings `self` belongs in that `before` did not.
    #[must_use]
    pub fn new_listings_since(&self, before: &Order) -> Vec<Listing> {
        let old = before.listings();
        self.listings().into_iter().filter(|l| !old.contains(l)).collect()
    }

    pub(super) fn wrong_state(&self) -> Refusal {
        Refusal::WrongState {
            current: self.status.as_str(),
        }
    }

    /// The completed order with its bill's settlement: the payment port
    /// settles between deciding the completion and writing it.
    #[must_use]
    pub fn settled(mut self, settlement: Settlement) -> Order {
        if let Some(bill) = &mut self.bill {
            bill.settlement = Some(settlement);
        }
        self
    }
}
