//! What each party is shown. Customer views never name or identify a store
//! before one has accepted; store views never carry the customer's position.

use serde::Serialize;

use super::clock::Millis;
use super::demand::{DemandItem, offer_announcement_in};
use super::ids::{OrderId, StoreId};
use super::order::{Order, OrderStatus};

/// The order as its customer sees it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CustomerOrderView {
    pub order_id: OrderId,
    pub status: OrderStatus,
    pub items: Vec<DemandItem>,
    /// Stores alerted in the current round: a count, never who.
    pub stores_notified: usize,
    pub round: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deadline_ms: Option<Millis>,
    /// Only once a store has accepted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub store: Option<RevealedStore>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub created_at_ms: Millis,
    pub version: u64,
}

/// The winning store, revealed after acceptance.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RevealedStore {
    pub store_id: StoreId,
    pub name: String,
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
            store: order.winner.as_ref().map(|w| RevealedStore {
                store_id: w.store_id.clone(),
                name: w.store_name.clone(),
            }),
            reason: order.end_reason.clone(),
            created_at_ms: order.created_at_ms,
            version: order.version,
        }
    }
}

/// An offer as the store sees it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OfferView {
    pub order_id: OrderId,
    pub items: Vec<DemandItem>,
    /// The sentence to speak aloud.
    pub speak: String,
    pub round: u32,
    pub deadline_ms: Millis,
    /// Distance to the customer, rounded to 100 m.
    pub distance_m: u32,
    pub version: u64,
}

impl OfferView {
    /// The offer of `order` to `store_id`, if it holds one.
    #[must_use]
    pub fn of(order: &Order, store_id: &StoreId) -> Option<Self> {
        let offer = order.offers.iter().find(|o| &o.store_id == store_id)?;
        Some(OfferView {
            order_id: order.id.clone(),
            items: order.items.clone(),
            speak: offer_announcement_in(&order.items, offer.language),
            round: order.round,
            deadline_ms: order.deadline_ms,
            distance_m: offer.distance_m.div_ceil(100) * 100,
            version: order.version,
        })
    }
}
