//! Pushes over WebSocket. Every event carries an id and the order's version
//! so an app can drop duplicates and out-of-order events.

use serde::Serialize;

use super::ids::OrderId;
use super::order::views::{CustomerOrderView, OfferView, RevealedStore, StoreOrderView};
use super::stock::StockView;

/// One pushed message.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct PushEvent {
    pub event_id: String,
    pub order_id: OrderId,
    pub version: u64,
    #[serde(flatten)]
    pub body: EventBody,
}

/// What happened.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EventBody {
    /// To a store: a new offer to accept before its deadline.
    Offer { offer: OfferView },
    /// To a store: another store won this order.
    OfferTaken,
    /// To a store: its round closed unanswered.
    OfferExpired,
    /// To a store: the order is no longer its to take or to pack: the
    /// customer cancelled, or (to the store that gave it back) it went
    /// back to routing.
    OfferWithdrawn,
    /// To the winning store: the order is yours.
    OfferWon,
    /// To the customer: stores are being asked.
    OrderSearching { order: CustomerOrderView },
    /// To the customer: a store accepted; its name is revealed.
    OrderAccepted {
        store: RevealedStore,
        order: CustomerOrderView,
    },
    /// To the customer: no store took it.
    OrderUnfulfilled { order: CustomerOrderView },
    /// To the customer: the cancel went through.
    OrderCancelled { order: CustomerOrderView },
    /// To the customer: packing, delivery, hand-over or completion moved on.
    OrderUpdated { order: CustomerOrderView },
    /// To the customer, after completion: please review.
    ReviewRequested,
    /// To the winning store: its order changed.
    StoreOrderUpdated { order: StoreOrderView },
}

impl PushEvent {
    #[must_use]
    pub fn new(order_id: &OrderId, version: u64, body: EventBody) -> Self {
        PushEvent {
            event_id: ulid::Ulid::new().to_string(),
            order_id: order_id.clone(),
            version,
            body,
        }
    }
}

/// A pushed message about a store rather than an order: its `version` is
/// the stock's, inside `stock`.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct StorePushEvent {
    pub event_id: String,
    #[serde(flatten)]
    pub body: StoreEventBody,
}

/// What happened at the store.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum StoreEventBody {
    /// To every device of a store: its stock counts changed (a recount, an
    /// accept holding stock, packing settling it, a release). Keep the
    /// highest `stock.version`.
    StockChanged { stock: StockView },
}

impl StorePushEvent {
    #[must_use]
    pub fn new(body: StoreEventBody) -> Self {
        StorePushEvent {
            event_id: ulid::Ulid::new().to_string(),
            body,
        }
    }
}
