//! What each party is shown. Customer views never name or identify a store
//! before one has accepted; store views never carry the customer's position.

use serde::Serialize;

use super::aftersales::{Complaint, Review};
use super::delivery::{DeliveryAddress, DeliveryChoice, DeliveryKind, DeliveryOption};
use super::fulfilment::Step;
use super::money::{Bill, Paisa};
use super::packing::LineState;
use super::refusal::Refusal;
use super::state::{Order, OrderStatus, PROMISED_LINE, Winner};
use crate::domain::clock::Millis;
use crate::domain::customer::PhoneNumber;
use crate::domain::demand::item::fit_for_stores;
use crate::domain::demand::{DemandItem, offer_announcement_in};
use crate::domain::geo::GeoPoint;
use crate::domain::ids::{OrderId, StoreId};

/// The order as its customer sees it.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct CustomerOrderView {
    pub order_id: OrderId,
    pub status: OrderStatus,
    pub items: Vec<DemandItem>,
    /// Stores alerted in the current round: a count, never who.
    pub stores_notified: usize,
    pub round: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deadline_ms: Option<Millis>,
    /// While searching, when too few stores were near: the wider radius
    /// (metres) this round searched. Absent: the usual radius.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub search_radius_m: Option<u32>,
    /// Only once a store has accepted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub store: Option<RevealedStore>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The packing checklist, once a store has won: one entry per line.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub packing: Vec<PackingLine>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delivery: Option<DeliveryChoice>,
    /// What `delivery` may be chosen from now (`POST /orders/{id}/delivery`):
    /// the winning store's own terms, or the product's defaults before a
    /// store has won. Absent once the choice can no longer change.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub delivery_options: Vec<DeliveryOption>,
    /// What is owed so far (fixed at completion).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bill: Option<Bill>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub review: Option<Review>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub complaint: Option<Complaint>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<DeliveryAddress>,
    pub created_at_ms: Millis,
    pub version: u64,
}

/// One checklist line as both sides see it: "1.2 kg rice - packed".
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct PackingLine {
    pub line: usize,
    pub item: String,
    #[serde(flatten)]
    pub state: LineState,
    /// The most the winning store may charge for this line, in paisa: the
    /// price its promotion promised (the order came from it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub promised_price: Option<Paisa>,
}

fn packing_of(order: &Order) -> Vec<PackingLine> {
    let Some(winner) = &order.winner else {
        return Vec::new();
    };
    order
        .items
        .iter()
        .enumerate()
        .map(|(line, item)| PackingLine {
            line,
            item: item.to_string(),
            state: order.packing.get(line).cloned().unwrap_or_default(),
            promised_price: order.promised_price(&winner.store_id, line),
        })
        .collect()
}

/// The winning store's view of its order: now it may know where and whom
/// to deliver to.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct StoreOrderView {
    pub order_id: OrderId,
    pub status: OrderStatus,
    pub items: Vec<DemandItem>,
    pub packing: Vec<PackingLine>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delivery: Option<DeliveryChoice>,
    pub bill: Bill,
    pub customer_location: GeoPoint,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub complaint: Option<Complaint>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub customer_phone: Option<String>,
    /// Where to bring it, as the customer gave it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<DeliveryAddress>,
    pub version: u64,
}

impl StoreOrderView {
    #[must_use]
    pub fn of(order: &Order, phone: Option<&PhoneNumber>) -> Self {
        StoreOrderView {
            order_id: order.id.clone(),
            status: order.status,
            items: order.items.clone(),
            packing: packing_of(order),
            delivery: order.delivery_choice(),
            bill: order.current_bill(),
            customer_location: order.location,
            complaint: order.complaint.clone(),
            customer_phone: phone.map(|p| p.as_e164().to_string()),
            address: order.address.clone(),
            version: order.version,
        }
    }
}

/// The winning store, revealed after acceptance.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct RevealedStore {
    pub store_id: StoreId,
    pub name: String,
    /// Where to pick the order up.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<GeoPoint>,
}

impl RevealedStore {
    /// What the customer learns of the store that won.
    #[must_use]
    pub fn of(winner: &Winner) -> Self {
        RevealedStore {
            store_id: winner.store_id.clone(),
            name: winner.store_name.clone(),
            location: winner.store_location,
        }
    }
}

impl CustomerOrderView {
    #[must_use]
    pub fn of(order: &Order) -> Self {
        let searching = order.status == OrderStatus::Searching;
        CustomerOrderView {
            order_id: order.id.clone(),
            status: order.status,
            items: order.items.clone(),
            stores_notified: if searching { order.offers.len() } else { 0 },
            round: order.round,
            deadline_ms: searching.then_some(order.deadline_ms),
            search_radius_m: order.search_radius_m.filter(|_| searching),
            store: order.winner.as_ref().map(RevealedStore::of),
            reason: order.end_reason.clone(),
            packing: packing_of(order),
            delivery: order.delivery_choice(),
            delivery_options: if Step::CHOOSE_DELIVERY_STATES.contains(&order.status) {
                order.delivery_terms()
            } else {
                Vec::new()
            },
            bill: order.winner.as_ref().map(|_| order.current_bill()),
            review: order.review.clone(),
            complaint: order.complaint.clone(),
            address: order.address.clone(),
            created_at_ms: order.created_at_ms,
            version: order.version,
        }
    }
}

/// An offer as the store sees it.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct OfferView {
    pub order_id: OrderId,
    pub items: Vec<DemandItem>,
    /// The sentence to speak aloud.
    pub speak: String,
    pub round: u32,
    pub deadline_ms: Millis,
    /// Distance to the customer, rounded to 100 m.
    pub distance_m: u32,
    /// The kind of delivery the customer chose with the order, if any: the
    /// store knows before it accepts whether it must deliver.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delivery: Option<DeliveryKind>,
    /// The price, in paisa, this store promised in the promotion the order
    /// came from: the most it may charge for the item if it wins.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub promised_price: Option<Paisa>,
    pub version: u64,
}

impl OfferView {
    /// The offer of `order` to `store_id`, if it holds one.
    #[must_use]
    pub fn of(order: &Order, store_id: &StoreId) -> Option<Self> {
        let offer = order.offers.iter().find(|o| &o.store_id == store_id)?;
        // Before a store wins: only what is safe to show every offered store.
        let items: Vec<DemandItem> = order
            .wanted_lines()
            .map(|(_, item)| item)
            .filter(|i| fit_for_stores(i))
            .cloned()
            .collect();
        Some(OfferView {
            order_id: order.id.clone(),
            speak: offer_announcement_in(&items, offer.language),
            items,
            round: order.round,
            deadline_ms: order.deadline_ms,
            distance_m: offer.distance_m.div_ceil(100) * 100,
            delivery: order.wanted_delivery(),
            promised_price: order.promised_price(store_id, PROMISED_LINE),
            version: order.version,
        })
    }
}

/// A public link to a completed order's share card: `{order_id}.{secret}`,
/// the secret 128 random bits in hex that only the customer's share request
/// made, so knowing an order id (as every offered store does) is not enough.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShareId {
    pub order_id: OrderId,
    pub secret: String,
}

impl ShareId {
    /// Reads a link's id; `None` for anything not of the form above.
    #[must_use]
    pub fn parse(raw: &str) -> Option<ShareId> {
        let (order, secret) = raw.split_once('.')?;
        let hex = secret.len() == 32 && secret.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        let order_id = OrderId::new(order).ok()?;
        hex.then(|| ShareId {
            order_id,
            secret: secret.to_string(),
        })
    }
}

impl std::fmt::Display for ShareId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.order_id, self.secret)
    }
}

/// What a customer may share about a completed order: what was bought and
/// from which store; never their address, phone or position.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct ShareCard {
    pub text: String,
    pub store_name: String,
    pub items: Vec<String>,
}

impl ShareCard {
    /// Only a completed order can be shared.
    pub fn of(order: &Order) -> Result<ShareCard, Refusal> {
        let (Some(bill), Some(winner), OrderStatus::Completed) = (&order.bill, &order.winner, order.status) else {
            return Err(Refusal::WrongState {
                current: order.status.as_str(),
            });
        };
        let items: Vec<String> = bill
            .lines
            .iter()
            .map(|l| match &l.quantity {
                Some(q) => format!("{q} {}", l.name),
                None => l.name.clone(),
            })
            .collect();
        // What the order took, as it took it: a claim the card can stand by.
        let waited_s = u64::try_from(winner.accepted_at_ms - order.created_at_ms)
            .unwrap_or(0)
            .div_ceil(1_000);
        let took = match waited_s {
            0..=1 => "a shop took my order within a second".to_string(),
            2..=59 => format!("a shop took my order in {waited_s} seconds"),
            60..=119 => "a shop took my order in about a minute".to_string(),
            s => format!("a shop took my order in {} minutes", s.div_ceil(60)),
        };
        Ok(ShareCard {
            text: format!("I got {} from {} - {took}.", items.join(", "), winner.store_name),
            store_name: winner.store_name.clone(),
            items,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_share_id_is_an_order_id_and_32_lowercase_hex_digits() {
        let secret = "0123456789abcdef0123456789abcdef";
        let share = ShareId::parse(&format!("01KAW0000000000000000000AB.{secret}")).expect("parses");
        assert_eq!(share.secret, secret);
        assert_eq!(share.to_string(), format!("01KAW0000000000000000000AB.{secret}"));
        for bad in [
            "01KAW0000000000000000000AB",
            "01KAW0000000000000000000AB.",
            "01KAW0000000000000000000AB.0123456789ABCDEF0123456789ABCDEF",
            "01KAW0000000000000000000AB.0123456789abcdef0123456789abcde",
            "01KAW0000000000000000000AB.0123456789abcdef0123456789abcdef0",
            ".0123456789abcdef0123456789abcdef",
            "a b.0123456789abcdef0123456789abcdef",
        ] {
            assert_eq!(ShareId::parse(bad), None, "{bad}");
        }
    }
}
