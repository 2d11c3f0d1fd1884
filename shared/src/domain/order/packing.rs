//! The packing checklist: where each demand line stands, and what a store
//! reports for one.

use serde::{Deserialize, Serialize};

use super::money::Paisa;
use crate::domain::demand::Quantity;

/// Where one demand line stands in the packing checklist.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum LineState {
    /// Not packed yet ("in progress").
    #[default]
    Pending,
    /// Packed as asked.
    Packed { price: Paisa },
    /// Packed in a different amount.
    PartlyPacked { quantity: Quantity, price: Paisa },
    /// The store does not have it.
    Unavailable,
    /// The store offers something else instead; the customer decides.
    SubstituteOffered {
        name: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        quantity: Option<Quantity>,
        price: Paisa,
    },
    /// The customer took the substitute.
    Substituted {
        name: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        quantity: Option<Quantity>,
        price: Paisa,
    },
    /// The customer dropped it.
    Dropped,
}

impl LineState {
    pub(super) fn settled(&self) -> bool {
        !matches!(self, LineState::Pending | LineState::SubstituteOffered { .. })
    }

    /// The line when its order is given back: the rest is to pack again by
    /// whichever store wins next, and a line the customer dropped stays
    /// dropped, unless the store that gave it back had reported it first
    /// (`store_reported`): then the customer turned down that store's
    /// substitute or let its missing line go, and the next store may have
    /// the item itself.
    pub(super) fn kept_after_give_back(&self, store_reported: bool) -> LineState {
        match self {
            LineState::Dropped if !store_reported => LineState::Dropped,
            _ => LineState::Pending,
        }
    }
}

/// What a store reports for one line, in the API's own shape:
/// `{"outcome": "packed", "price": 9600}`,
/// `{"outcome": "partly_packed", "amount": "0.4", "unit": "kg", "price": 28000}`,
/// `{"outcome": "unavailable"}`,
/// `{"outcome": "substitute", "name": "basmati rice", "price": 15000}`; prices in paisa.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum PackOutcome {
    Packed {
        price: Paisa,
    },
    /// Packed in part: at most the amount asked, measured alike.
    PartlyPacked {
        #[serde(flatten)]
        quantity: Quantity,
        price: Paisa,
    },
    Unavailable,
    /// Something else instead, for the customer to accept or refuse.
    Substitute {
        name: String,
        #[serde(flatten)]
        quantity: Option<Quantity>,
        price: Paisa,
    },
}
