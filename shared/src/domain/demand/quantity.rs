//! Quantities: an exact decimal amount and its unit.

use std::fmt;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::words::fold;

/// Largest amount on one line, in the line's own unit.
pub const MAX_AMOUNT: Decimal = Decimal::from_parts(10_000, 0, 0, false, 0);

/// Units a quantity may be given in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
pub enum Unit {
    #[serde(rename = "g")]
    Gram,
    #[serde(rename = "kg")]
    Kilogram,
    #[serde(rename = "ml")]
    Millilitre,
    #[serde(rename = "l")]
    Litre,
    #[serde(rename = "piece")]
    Piece,
    #[serde(rename = "dozen")]
    Dozen,
    #[serde(rename = "packet")]
    Packet,
}

impl Unit {
    /// The unit a word names, in any of its usual spellings, in English,
    /// Bangla or romanised Bangla.
    #[must_use]
    pub fn from_word(word: &str) -> Option<Unit> {
        let folded = fold(word);
        let unit = match folded.trim_end_matches('.') {
            "g" | "gm" | "gms" | "gram" | "grams" | "gr" | "গ্রাম" | "গ্রামের" => Unit::Gram,
            "kg" | "kgs" | "kilo" | "kilos" | "kilogram" | "kilograms" | "keji" | "kezi" | "কেজি" | "কেজির"
            | "কিলো" => Unit::Kilogram,
            "ml" | "millilitre" | "milliliter" | "millilitres" | "milliliters" | "মিলি" | "এমএল" | "mili" => {
                Unit::Millilitre
            }
            "l" | "lit" | "ltr" | "ltrs" | "litre" | "liter" | "litres" | "liters" | "litar" | "লিটার" | "লিটারের" => {
                Unit::Litre
            }
            "pc" | "pcs" | "piece" | "pieces" | "pis" | "পিস" => Unit::Piece,
            "dozen" | "dozens" | "dozon" | "dojon" | "ডজন" => Unit::Dozen,
            "packet" | "packets" | "pack" | "packs" | "pkt" | "pkts" | "paket" | "প্যাকেট" | "প্যাকেটের" => {
                Unit::Packet
            }
            _ => return None,
        };
        Some(unit)
    }

    /// Units counted in whole ones: a recipe never asks for 2.5 packets.
    #[must_use]
    pub fn is_countable(self) -> bool {
        matches!(self, Unit::Piece | Unit::Dozen | Unit::Packet)
    }

    /// The unit this one is measured in ([`Quantity::in_base_units`]), and
    /// how many of it make one of this.
    fn base(self) -> (Decimal, Unit) {
        match self {
            Unit::Kilogram => (THOUSAND, Unit::Gram),
            Unit::Litre => (THOUSAND, Unit::Millilitre),
            Unit::Dozen => (Decimal::from(12), Unit::Piece),
            unit => (Decimal::ONE, unit),
        }
    }

    fn symbol(self, amount: Decimal) -> &'static str {
        let plural = amount != Decimal::ONE;
        match (self, plural) {
            (Unit::Gram, _) => "g",
            (Unit::Kilogram, _) => "kg",
            (Unit::Millilitre, _) => "ml",
            (Unit::Litre, _) => "l",
            (Unit::Piece, _) => "",
            (Unit::Dozen, _) => "dozen",
            (Unit::Packet, false) => "packet",
            (Unit::Packet, true) => "packets",
        }
    }
}

/// An exact amount in a unit: 1.2 kg stays 1.2 kg.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Quantity {
    pub amount: Decimal,
    pub unit: Unit,
}

const THOUSAND: Decimal = Decimal::from_parts(1_000, 0, 0, false, 0);

impl Quantity {
    /// The same amount in the unit people say it in: 1200 g is 1.2 kg,
    /// 1500 ml is 1.5 l; trailing zeros go. Never changes the amount.
    #[must_use]
    pub fn normalized(self) -> Quantity {
        let amount = self.amount.normalize();
        let (amount, unit) = match self.unit {
            Unit::Gram if amount >= THOUSAND => (amount / THOUSAND, Unit::Kilogram),
            Unit::Millilitre if amount >= THOUSAND => (amount / THOUSAND, Unit::Litre),
            unit => (amount, unit),
        };
        Quantity {
            amount: amount.normalize(),
            unit,
        }
    }

    /// This amount for `people` people, normalised. Countable units round up
    /// to whole ones, so a party never gets less than it needs.
    #[must_use]
    pub fn scaled(self, people: u32) -> Quantity {
        let amount = self.amount * Decimal::from(people);
        let amount = if self.unit.is_countable() {
            amount.ceil()
        } else {
            amount
        };
        Quantity {
            amount,
            unit: self.unit,
        }
        .normalized()
    }

    /// Whether this is no more than `other`, measured alike (grams and
    /// kilograms, millilitres and litres, pieces and dozens, packets):
    /// 0.5 kg is within 600 g, 3 dozen is not within 1 kg.
    #[must_use]
    pub fn within(self, other: Quantity) -> bool {
        let (factor, unit) = self.unit.base();
        let (other_factor, other_unit) = other.unit.base();
        // Past Decimal's range is past any amount ordered.
        match (self.amount.checked_mul(factor), other.amount.checked_mul(other_factor)) {
            (Some(amount), Some(most)) => unit == other_unit && amount <= most,
            _ => false,
        }
    }

    /// The amount in grams, millilitres, pieces or packets: what property
    /// tests compare to prove nothing is lost or invented.
    #[must_use]
    pub fn in_base_units(self) -> (Decimal, Unit) {
        let (factor, unit) = self.unit.base();
        (self.amount * factor, unit)
    }
}

impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let amount = self.amount.normalize();
        match self.unit.symbol(amount) {
            "" => write!(f, "{amount}"),
            symbol => write!(f, "{amount} {symbol}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_quantity_is_within_another_measured_alike() {
        let q = |amount: i64, scale: u32, unit: Unit| Quantity {
            amount: Decimal::new(amount, scale),
            unit,
        };
        assert!(q(5, 1, Unit::Kilogram).within(q(600, 0, Unit::Gram)));
        assert!(q(600, 0, Unit::Gram).within(q(6, 1, Unit::Kilogram)));
        assert!(q(6, 0, Unit::Piece).within(q(1, 0, Unit::Dozen)));
        assert!(!q(7, 1, Unit::Kilogram).within(q(600, 0, Unit::Gram)));
        assert!(!q(1, 0, Unit::Dozen).within(q(1, 0, Unit::Kilogram)));
        assert!(!q(1, 0, Unit::Packet).within(q(2, 0, Unit::Piece)));
        // Past Decimal's range once measured in grams: not within, no panic.
        let huge = Quantity {
            amount: Decimal::MAX,
            unit: Unit::Kilogram,
        };
        assert!(!huge.within(q(1, 0, Unit::Kilogram)));
    }
}
