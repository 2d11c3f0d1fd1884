//! Quantities: an exact decimal amount and its unit.

use std::fmt;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::words::{fold, latin_digit};

/// Largest amount on one line, in the line's own unit.
pub const MAX_AMOUNT: Decimal = Decimal::from_parts(10_000, 0, 0, false, 0);

/// Units a quantity may be given in. Written by their short English names;
/// read from any word [`Unit::from_word`] knows, so a shopkeeper typing
/// "কেজি" or "পিস" into a body is understood as in a demand.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, schemars::JsonSchema)]
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

impl<'de> Deserialize<'de> for Unit {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let word = String::deserialize(deserializer)?;
        Unit::from_word(&word)
            .ok_or_else(|| serde::de::Error::custom("use g, kg, ml, l, piece, dozen or packet, or their Bangla names"))
    }
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
            "pc" | "pcs" | "piece" | "pieces" | "pis" | "পিস" | "টি" | "টা" | "টো" => Unit::Piece,
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
    /// A number, or a number as text in Latin or Bangla digits ("0.4", "০.৪").
    #[serde(deserialize_with = "amount_in_any_digits")]
    #[schemars(extend("pattern" = AMOUNT_PATTERN))]
    pub amount: Decimal,
    pub unit: Unit,
}

/// What an amount given as text may look like, as the server reads it
/// ([`amount_in_any_digits`]), for the API documents.
pub(crate) const AMOUNT_PATTERN: &str = "^\\s*-?[0-9০-৯]+(\\.[0-9০-৯]+)?([eE][0-9]+)?\\s*$";

/// An amount as [`Decimal`] reads it, and as text in Bangla digits too.
pub(crate) fn amount_in_any_digits<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Decimal, D::Error> {
    optional_amount_in_any_digits(deserializer)?.ok_or_else(|| {
        serde::de::Error::invalid_type(
            serde::de::Unexpected::Unit,
            &"a decimal number as text, such as \"1.5\"",
        )
    })
}

/// An amount, if given, as [`Decimal`] reads it, and as text in Bangla
/// digits too: a phone's Bangla keyboard types "২" into the amount field.
pub(crate) fn optional_amount_in_any_digits<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Decimal>, D::Error> {
    use serde::de::{Error, Unexpected, Visitor};

    struct Amount;
    impl<'de> Visitor<'de> for Amount {
        type Value = Option<Decimal>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a decimal number as text, such as \"1.5\"")
        }
        fn visit_none<E: Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_unit<E: Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_some<D2: serde::Deserializer<'de>>(self, inner: D2) -> Result<Self::Value, D2::Error> {
            inner.deserialize_any(self)
        }
        fn visit_u64<E: Error>(self, v: u64) -> Result<Self::Value, E> {
            Ok(Some(Decimal::from(v)))
        }
        fn visit_i64<E: Error>(self, v: i64) -> Result<Self::Value, E> {
            Ok(Some(Decimal::from(v)))
        }
        fn visit_f64<E: Error>(self, v: f64) -> Result<Self::Value, E> {
            decimal(&v.to_string())
                .map(Some)
                .map_err(|_| E::invalid_value(Unexpected::Float(v), &self))
        }
        fn visit_str<E: Error>(self, v: &str) -> Result<Self::Value, E> {
            let latin: String = v.trim().chars().map(latin_digit).collect();
            decimal(&latin)
                .map(Some)
                .map_err(|_| E::invalid_value(Unexpected::Str(v), &self))
        }
    }
    // As `Decimal`'s own reading of text.
    fn decimal(text: &str) -> Result<Decimal, rust_decimal::Error> {
        text.parse::<Decimal>().or_else(|_| Decimal::from_scientific(text))
    }
    deserializer.deserialize_option(Amount)
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

    /// What share of `whole` this is (0.2 for 1 kg of 5 kg), when both are
    /// measured alike.
    #[must_use]
    pub fn share_of(self, whole: Quantity) -> Option<Decimal> {
        let ((part, unit), (all, whole_unit)) = (self.in_base_units(), whole.in_base_units());
        (unit == whole_unit && all > Decimal::ZERO).then(|| part / all)
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
    fn a_unit_is_read_from_any_word_for_it_and_written_by_its_short_name() {
        let read = |word: &str| serde_json::from_value::<Unit>(serde_json::json!(word));
        assert_eq!(read("কেজি").ok(), Some(Unit::Kilogram));
        assert_eq!(read("লিটার").ok(), Some(Unit::Litre));
        assert_eq!(read("টি").ok(), Some(Unit::Piece));
        assert_eq!(read("kg").ok(), Some(Unit::Kilogram), "as stored");
        assert!(read("bushel").is_err());
        assert_eq!(serde_json::to_value(Unit::Kilogram).ok(), Some(serde_json::json!("kg")));
    }

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
