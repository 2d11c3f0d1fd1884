//! Money and payment: integer paisa, the bill, how it was settled.

use std::fmt;

use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use serde::{Deserialize, Serialize};

use crate::domain::clock::Millis;
use crate::domain::demand::Quantity;

/// Money in paisa (1 Taka = 100 paisa): exact integers, never floats.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(transparent)]
pub struct Paisa(pub u64);

impl Paisa {
    /// `share` (0 to 1) of this amount, rounded up to a whole paisa.
    #[must_use]
    pub fn part(self, share: Decimal) -> Paisa {
        let part = (Decimal::from(self.0) * share.clamp(Decimal::ZERO, Decimal::ONE)).ceil();
        Paisa(part.to_u64().unwrap_or(self.0))
    }

    /// Sums without overflow (a bill tops out far below `u64::MAX`).
    #[must_use]
    pub fn saturating_add(self, other: Paisa) -> Paisa {
        Paisa(self.0.saturating_add(other.0))
    }
}

impl fmt::Display for Paisa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:02} Taka", self.0 / 100, self.0 % 100)
    }
}

/// Largest price of one line: 1,000,000 Taka.
pub const MAX_LINE_PRICE: Paisa = Paisa(100_000_000);

/// How the customer pays, chosen with the order. Each method is taken by a
/// [`crate::ports::PaymentPort`] adapter; an order may only use a method the
/// service has an adapter for (cash on delivery, for now).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum PaymentMethod {
    #[default]
    CashOnDelivery,
    /// A mobile wallet (bKash, Nagad and the like), charged at completion.
    MobileWallet,
}

impl PaymentMethod {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            PaymentMethod::CashOnDelivery => "cash_on_delivery",
            PaymentMethod::MobileWallet => "mobile_wallet",
        }
    }
}

/// How a bill was paid, recorded with it at completion.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Settlement {
    pub method: PaymentMethod,
    pub state: SettlementState,
    pub amount: Paisa,
    /// The provider's own reference (a wallet's transaction id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    pub at_ms: Millis,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SettlementState {
    /// Cash handed over at the door or the counter.
    CashCollected,
    /// Charged through a provider.
    Charged,
}

/// One billed line: what was really packed and its price.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct BillLine {
    pub name: String,
    /// The catalogue's Bangla name of a line packed as asked (none for a
    /// substitute, which the store named).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name_bn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quantity: Option<Quantity>,
    pub price: Paisa,
}

/// The bill: lines, delivery fee and total, fixed at completion.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Bill {
    pub lines: Vec<BillLine>,
    pub delivery_fee: Paisa,
    pub total: Paisa,
    pub payment: PaymentMethod,
    /// Set at completion, when the payment port has taken the total.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settlement: Option<Settlement>,
}

impl Bill {
    /// A bill of `lines` and the delivery fee, paid by `payment`.
    #[must_use]
    pub fn new(lines: Vec<BillLine>, delivery_fee: Paisa, payment: PaymentMethod) -> Bill {
        let total = lines.iter().fold(delivery_fee, |sum, l| sum.saturating_add(l.price));
        Bill {
            lines,
            delivery_fee,
            total,
            payment,
            settlement: None,
        }
    }
}
