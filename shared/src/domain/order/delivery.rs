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

/// Where to bring an order, as Dhaka addresses are given: numbers where
/// there are numbers, and landmarks; plus a note for the rider. Shown to
/// the winning store only, after it has accepted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DeliveryAddress {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub house: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub road: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub area: Option<String>,
    /// "Opposite the mosque", "behind Rahim's tea stall".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub landmark: Option<String>,
    /// For the rider: "ring twice", "ask for Karim at the gate".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// Most characters in one part of an address.
pub const MAX_ADDRESS_PART_CHARS: usize = 200;

/// Which part of an address was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{field}: give up to 200 characters of text, and at least one part of the address")]
pub struct InvalidAddress {
    pub field: &'static str,
}

impl DeliveryAddress {
    /// Trimmed parts, empty ones dropped; each up to 200 characters with no
    /// control characters; at least one part given.
    pub fn checked(self) -> Result<DeliveryAddress, InvalidAddress> {
        let part = |field: &'static str, value: Option<String>| -> Result<Option<String>, InvalidAddress> {
            let Some(value) = value.map(|v| v.trim().to_string()).filter(|v| !v.is_empty()) else {
                return Ok(None);
            };
            if value.chars().count() > MAX_ADDRESS_PART_CHARS || value.chars().any(char::is_control) {
                return Err(InvalidAddress { field });
            }
            Ok(Some(value))
        };
        let address = DeliveryAddress {
            house: part("address.house", self.house)?,
            road: part("address.road", self.road)?,
            area: part("address.area", self.area)?,
            landmark: part("address.landmark", self.landmark)?,
            note: part("address.note", self.note)?,
        };
        if address == DeliveryAddress::default() {
            return Err(InvalidAddress { field: "address" });
        }
        Ok(address)
    }
}
