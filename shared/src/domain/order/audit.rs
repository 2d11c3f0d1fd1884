//! The audit trail: one entry per version of an order, saying what changed,
//! who asked and when. [`Order::decide`](super::change) appends the entry of
//! each change it allows, so the trail is written with the order itself (one
//! item, one conditional write): it cannot be lost, nor doubled by a retry.

use serde::{Deserialize, Serialize};

use super::actor::Actor;
use super::delivery::DeliveryKind;
use super::status::OrderStatus;
use crate::domain::clock::Millis;
use crate::domain::ids::{CustomerId, OperatorId, StoreId};

/// Who made a change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "role", rename_all = "snake_case")]
pub enum ChangedBy {
    Customer {
        id: CustomerId,
    },
    Store {
        id: StoreId,
    },
    Operator {
        id: OperatorId,
    },
    /// The round timer (the service itself).
    Timer,
}

impl From<&Actor> for ChangedBy {
    fn from(actor: &Actor) -> Self {
        match actor {
            Actor::Customer(id) => ChangedBy::Customer { id: id.clone() },
            Actor::Store(id) => ChangedBy::Store { id: id.clone() },
            Actor::Operator(id) => ChangedBy::Operator { id: id.clone() },
            Actor::Timer => ChangedBy::Timer,
        }
    }
}

/// What a packing report said about a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Packing {
    Packed,
    PartlyPacked,
    Unavailable,
    SubstituteOffered,
}

/// What changed. Texts people wrote (reasons, comments, complaints) stay on
/// the order; the trail names the change only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Happened {
    /// The customer placed the order; it was offered to `offered_to` stores
    /// in round 1 (none: it ended unfulfilled at once).
    Placed {
        offered_to: usize,
    },
    Accepted,
    Declined,
    /// Round `round` closed unanswered; the next round went to `offered_to`
    /// stores (none: the order ended unfulfilled).
    RoundClosed {
        round: u32,
        offered_to: usize,
    },
    Cancelled,
    /// The winner gave the order back; it went to `offered_to` stores
    /// (none: it ended unfulfilled).
    GivenBack {
        offered_to: usize,
    },
    Packed {
        line: usize,
        packing: Packing,
    },
    LineDropped {
        line: usize,
    },
    SubstituteAnswered {
        line: usize,
        accepted: bool,
    },
    DeliveryChosen {
        delivery: DeliveryKind,
    },
    HandedOver,
    Completed,
    Reviewed {
        stars: u8,
    },
    Complained,
    ComplaintAnswered,
    Shared,
}

/// One change of an order: the version it made, when, by whom, what, and
/// where the order stood after it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct AuditEntry {
    pub version: u64,
    pub at_ms: Millis,
    pub by: ChangedBy,
    #[serde(flatten)]
    pub happened: Happened,
    pub status: OrderStatus,
}
