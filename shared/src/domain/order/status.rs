//! Where an order stands.

use serde::{Deserialize, Serialize};

/// Where an order stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum OrderStatus {
    /// Offered to a round of stores; none has accepted yet.
    Searching,
    /// A store won it.
    Accepted,
    /// The store is packing it.
    Preparing,
    /// Packed; the customer collects it.
    ReadyForPickup,
    /// Packed; a helper is bringing it.
    OutForDelivery,
    /// Delivered or collected; the bill is fixed.
    Completed,
    /// The customer withdrew it while searching.
    Cancelled,
    /// No store accepted within the allowed rounds, or none was left.
    Unfulfilled,
}

impl OrderStatus {
    pub const ALL: &'static [OrderStatus] = &[
        OrderStatus::Searching,
        OrderStatus::Accepted,
        OrderStatus::Preparing,
        OrderStatus::ReadyForPickup,
        OrderStatus::OutForDelivery,
        OrderStatus::Completed,
        OrderStatus::Cancelled,
        OrderStatus::Unfulfilled,
    ];

    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            OrderStatus::Searching => "searching",
            OrderStatus::Accepted => "accepted",
            OrderStatus::Preparing => "preparing",
            OrderStatus::ReadyForPickup => "ready_for_pickup",
            OrderStatus::OutForDelivery => "out_for_delivery",
            OrderStatus::Completed => "completed",
            OrderStatus::Cancelled => "cancelled",
            OrderStatus::Unfulfilled => "unfulfilled",
        }
    }
}
