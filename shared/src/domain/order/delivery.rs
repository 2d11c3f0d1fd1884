//! How an order reaches the customer: the store's terms and the
//! customer's choice.

use serde::{Deserialize, Serialize};

use super::money::Paisa;
use crate::domain::clock::Millis;

/// How a store hands over an order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum DeliveryOption {
    /// The customer collects; ready within the given minutes.
    Pickup { ready_in_minutes: u32 },
    /// A local helper brings it within the given minutes for a fee in paisa.
    HelperDelivery { within_minutes: u32, fee_paisa: u64 },
}

impl DeliveryOption {
    #[must_use]
    pub fn kind(&self) -> DeliveryKind {
        match self {
            DeliveryOption::Pickup { .. } => DeliveryKind::Pickup,
            DeliveryOption::HelperDelivery { .. } => DeliveryKind::HelperDelivery,
        }
    }
}

/// Which way of handing over a customer wants, before knowing the store's
/// own terms (its minutes and fee) for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryKind {
    Pickup,
    HelperDelivery,
}

impl DeliveryKind {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryKind::Pickup => "pickup",
            DeliveryKind::HelperDelivery => "helper_delivery",
        }
    }

    /// This kind among `options`, the store's own terms for it.
    #[must_use]
    pub fn among(self, options: &[DeliveryOption]) -> Option<DeliveryOption> {
        options.iter().find(|o| o.kind() == self).cloned()
    }
}

/// The product's defaults: pickup in 30 minutes, free; helper delivery in
/// one hour for 40 Taka.
#[must_use]
pub fn default_delivery_options() -> Vec<DeliveryOption> {
    vec![
        DeliveryOption::Pickup { ready_in_minutes: 30 },
        DeliveryOption::HelperDelivery {
            within_minutes: 60,
            fee_paisa: 4_000,
        },
    ]
}

/// A delivery window the customer asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct TimeSlot {
    pub from_ms: Millis,
    pub to_ms: Millis,
}

/// The customer's delivery choice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct DeliveryChoice {
    pub option: DeliveryOption,
    /// When the customer wants it; the ETA honours it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slot: Option<TimeSlot>,
    /// When it will be ready or arrive, once the store has started packing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eta_ms: Option<Millis>,
}

impl DeliveryChoice {
    /// A choice of `option`, for `slot` if given: a slot starts in the
    /// future, ends after it starts, and within a week.
    pub fn new(option: DeliveryOption, slot: Option<TimeSlot>, now: Millis) -> Result<DeliveryChoice, InvalidSlot> {
        if let Some(slot) = slot
            && (slot.from_ms < now || slot.to_ms <= slot.from_ms || slot.to_ms > now + 7 * 24 * 3_600_000)
        {
            return Err(InvalidSlot);
        }
        Ok(DeliveryChoice {
            option,
            slot,
            eta_ms: None,
        })
    }

    #[must_use]
    pub fn fee(&self) -> Paisa {
        match self.option {
            DeliveryOption::Pickup { .. } => Paisa(0),
            DeliveryOption::HelperDelivery { fee_paisa, .. } => Paisa(fee_paisa),
        }
    }

    pub(super) fn minutes(&self) -> i64 {
        match self.option {
            DeliveryOption::Pickup { ready_in_minutes } => i64::from(ready_in_minutes),
            DeliveryOption::HelperDelivery { within_minutes, .. } => i64::from(within_minutes),
        }
    }
}

/// A time slot that is past, empty, or more than a week ahead.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a slot starts in the future, ends after it starts, within a week")]
pub struct InvalidSlot;
