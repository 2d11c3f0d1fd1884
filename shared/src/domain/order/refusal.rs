//! Why the order state machine refused a change. One type for every
//! change; the codes are part of the API.

use super::delivery::{DeliveryKind, InvalidSlot};

/// Why a change to an order was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("this store was not offered this order")]
    NotOffered,
    #[error("another store has already accepted this order")]
    OfferTaken,
    #[error("you have already accepted this order")]
    AlreadyAccepted,
    #[error("the acceptance window for this offer has closed")]
    OfferExpired,
    #[error("the customer cancelled this order")]
    OrderCancelled,
    #[error("the order can no longer be cancelled: packing has started or it has ended")]
    NotSearching,
    #[error("the round is not over yet")]
    RoundStillOpen,
    #[error("the timer belongs to a round that is already closed")]
    StaleRound,
    #[error("this order belongs to another customer")]
    NotOwner,
    #[error("you declined this offer")]
    OfferDeclined,
    /// Not this caller's order (another customer, or a store that did not win).
    #[error("not your order")]
    NotYours,
    /// The change is not allowed in the order's current state.
    #[error("not allowed while the order is {current}")]
    WrongState { current: &'static str },
    /// A review or complaint is given once; a second one conflicts with it.
    #[error("this order has been reviewed already")]
    AlreadyReviewed,
    #[error("this order has a complaint already")]
    AlreadyComplained,
    #[error("this complaint has been answered already")]
    AlreadyAnswered,
    #[error("{0}")]
    Invalid(&'static str),
    /// A step's own rule about one field of its body, named for the client.
    #[error("{field}: {rule}")]
    InvalidField { field: &'static str, rule: &'static str },
    #[error("the store does not offer {}", .0.as_str())]
    DeliveryNotOffered(DeliveryKind),
}

impl Refusal {
    #[must_use]
    pub fn code(self) -> &'static str {
        match self {
            Refusal::NotOffered => "not_offered",
            Refusal::OfferTaken => "offer_taken",
            Refusal::AlreadyAccepted => "already_accepted",
            Refusal::OfferExpired => "offer_expired",
            Refusal::OrderCancelled => "order_cancelled",
            Refusal::NotSearching => "not_searching",
            Refusal::RoundStillOpen => "round_still_open",
            Refusal::StaleRound => "stale_round",
            Refusal::NotOwner => "not_owner",
            Refusal::OfferDeclined => "offer_declined",
            Refusal::NotYours => "not_your_order",
            Refusal::WrongState { .. } => "illegal_transition",
            Refusal::AlreadyReviewed => "already_reviewed",
            Refusal::AlreadyComplained => "already_complained",
            Refusal::AlreadyAnswered => "already_answered",
            Refusal::Invalid(_) | Refusal::InvalidField { .. } => "invalid_step",
            Refusal::DeliveryNotOffered(_) => "unknown_delivery",
        }
    }
}

impl Refusal {
    /// The request field at fault, where one is.
    #[must_use]
    pub fn field(self) -> Option<&'static str> {
        match self {
            Refusal::InvalidField { field, .. } => Some(field),
            Refusal::DeliveryNotOffered(_) => Some("kind"),
            _ => None,
        }
    }
}

impl From<InvalidSlot> for Refusal {
    fn from(_: InvalidSlot) -> Self {
        Refusal::InvalidField {
            field: "slot",
            rule: "a slot starts in the future, ends after it starts, within a week",
        }
    }
}
