//! Demand lists: what a customer asks for, with exact quantities.
//!
//! The text parser here is deliberately small (number, unit, name in either
//! order); richer language understanding replaces `parse_demand_line` later
//! without changing its callers.

use std::fmt;
use std::str::FromStr;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// Most lines one demand list may hold.
pub const MAX_DEMAND_LINES: usize = 50;
/// Most characters in one item name.
pub const MAX_ITEM_NAME_CHARS: usize = 80;
/// Most characters in a free-text demand.
pub const MAX_DEMAND_TEXT_CHARS: usize = 2_000;
/// Largest amount on one line, in the line's own unit.
pub const MAX_AMOUNT: Decimal = Decimal::from_parts(10_000, 0, 0, false, 0);

/// Units a quantity may be given in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
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
    /// The unit a word names, in any of its usual spellings.
    #[must_use]
    pub fn from_word(word: &str) -> Option<Unit> {
        let unit = match word.to_lowercase().trim_end_matches('.') {
            "g" | "gm" | "gms" | "gram" | "grams" | "gr" => Unit::Gram,
            "kg" | "kgs" | "kilo" | "kilos" | "kilogram" | "kilograms" => Unit::Kilogram,
            "ml" | "millilitre" | "milliliter" | "millilitres" | "milliliters" => Unit::Millilitre,
            "l" | "ltr" | "litre" | "liter" | "litres" | "liters" => Unit::Litre,
            "pc" | "pcs" | "piece" | "pieces" => Unit::Piece,
            "dozen" | "dozens" => Unit::Dozen,
            "packet" | "packets" | "pack" | "packs" | "pkt" => Unit::Packet,
            _ => return None,
        };
        Some(unit)
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Quantity {
    pub amount: Decimal,
    pub unit: Unit,
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

/// One line of a demand list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DemandItem {
    /// What the customer called it, trimmed.
    pub name: String,
    /// The inventory tag stores declare for it (e.g. "rice").
    pub tag: String,
    /// The store category that usually sells it, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    /// None for lines like "spices" that name no amount.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quantity: Option<Quantity>,
}

impl fmt::Display for DemandItem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.quantity {
            Some(q) => write!(f, "{q} {}", self.name),
            None => f.write_str(&self.name),
        }
    }
}

/// Why a demand (or one of its lines) was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DemandError {
    #[error("the demand list is empty")]
    Empty,
    #[error("a demand list holds at most {MAX_DEMAND_LINES} lines")]
    TooManyLines,
    #[error("the demand text is longer than {MAX_DEMAND_TEXT_CHARS} characters")]
    TextTooLong,
    #[error("line {line}: the item name is missing")]
    MissingName { line: usize },
    #[error("line {line}: the item name is longer than {MAX_ITEM_NAME_CHARS} characters")]
    NameTooLong { line: usize },
    #[error("line {line}: the item name has control characters")]
    BadCharacters { line: usize },
    #[error("line {line}: unknown unit {unit:?} (use g, kg, ml, l, piece, dozen or packet)")]
    UnknownUnit { line: usize, unit: String },
    #[error("line {line}: the amount must be greater than 0 and at most {MAX_AMOUNT}")]
    AmountOutOfRange { line: usize },
    #[error("line {line}: an amount needs a unit, or a unit an amount")]
    HalfQuantity { line: usize },
}

impl DemandError {
    /// A stable code for clients.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            DemandError::Empty => "empty_demand",
            DemandError::TooManyLines => "too_many_lines",
            DemandError::TextTooLong => "text_too_long",
            DemandError::MissingName { .. } => "missing_item_name",
            DemandError::NameTooLong { .. } => "item_name_too_long",
            DemandError::BadCharacters { .. } => "bad_characters",
            DemandError::UnknownUnit { .. } => "unknown_unit",
            DemandError::AmountOutOfRange { .. } => "amount_out_of_range",
            DemandError::HalfQuantity { .. } => "incomplete_quantity",
        }
    }
}

/// A structured line as the app sends it: `{"name": "rice", "amount": "2",
/// "unit": "kg"}`. Units arrive as text so an unknown one gets its own error.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DemandLineInput {
    pub name: String,
    #[serde(default)]
    pub amount: Option<Decimal>,
    #[serde(default)]
    pub unit: Option<String>,
}

/// Checks structured lines and tags them from the catalogue.
pub fn demand_from_lines(lines: &[DemandLineInput]) -> Result<Vec<DemandItem>, DemandError> {
    check_line_count(lines.len())?;
    lines
        .iter()
        .enumerate()
        .map(|(i, input)| {
            let line = i + 1;
            let quantity = match (&input.amount, &input.unit) {
                (None, None) => None,
                (Some(amount), unit) => {
                    let unit = match unit {
                        None => Unit::Piece,
                        Some(word) => Unit::from_word(word.trim()).ok_or_else(|| DemandError::UnknownUnit {
                            line,
                            unit: word.chars().take(20).collect(),
                        })?,
                    };
                    Some(Quantity { amount: *amount, unit })
                }
                (None, Some(_)) => return Err(DemandError::HalfQuantity { line }),
            };
            item(line, &input.name, quantity)
        })
        .collect()
}

/// Splits free text into lines (new lines, commas, semicolons, " and ") and
/// parses each.
pub fn parse_demand_text(text: &str) -> Result<Vec<DemandItem>, DemandError> {
    if text.chars().count() > MAX_DEMAND_TEXT_CHARS {
        return Err(DemandError::TextTooLong);
    }
    let lines: Vec<&str> = text
        .split(['\n', ',', ';'])
        .flat_map(|part| part.split(" and "))
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    check_line_count(lines.len())?;
    lines
        .iter()
        .enumerate()
        .map(|(i, l)| parse_demand_line(i + 1, l))
        .collect()
}

fn check_line_count(count: usize) -> Result<(), DemandError> {
    match count {
        0 => Err(DemandError::Empty),
        n if n > MAX_DEMAND_LINES => Err(DemandError::TooManyLines),
        _ => Ok(()),
    }
}

/// One line of text: "2 kg rice", "2kg rice", "rice 2 kg", "6 eggs",
/// "spices".
pub fn parse_demand_line(line: usize, text: &str) -> Result<DemandItem, DemandError> {
    let words: Vec<&str> = text.split_whitespace().collect();
    // Leading quantity: "2 kg rice", "2kg rice", "6 eggs".
    if let Some((quantity, used)) = quantity_at_start(&words) {
        return item(line, &words[used..].join(" "), Some(quantity));
    }
    // Trailing quantity: "rice 2 kg", "rice 2kg".
    if let Some((quantity, used)) = quantity_at_end(&words) {
        return item(line, &words[..words.len() - used].join(" "), Some(quantity));
    }
    item(line, text, None)
}

fn quantity_at_start(words: &[&str]) -> Option<(Quantity, usize)> {
    let first = *words.first()?;
    if let Some(q) = number_with_unit(first) {
        return Some((q, 1));
    }
    let amount = number(first)?;
    match words.get(1).and_then(|w| Unit::from_word(w)) {
        Some(unit) => Some((Quantity { amount, unit }, 2)),
        None => Some((
            Quantity {
                amount,
                unit: Unit::Piece,
            },
            1,
        )),
    }
}

fn quantity_at_end(words: &[&str]) -> Option<(Quantity, usize)> {
    let last = *words.last()?;
    if let Some(q) = number_with_unit(last) {
        return Some((q, 1));
    }
    if words.len() >= 3 {
        let unit = Unit::from_word(last)?;
        let amount = number(words[words.len() - 2])?;
        return Some((Quantity { amount, unit }, 2));
    }
    None
}

/// "2kg", "500g", "1.5l".
fn number_with_unit(word: &str) -> Option<Quantity> {
    let split = word.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
    if split == 0 {
        return None;
    }
    let (digits, unit) = word.split_at(split);
    Some(Quantity {
        amount: number(digits)?,
        unit: Unit::from_word(unit)?,
    })
}

fn number(word: &str) -> Option<Decimal> {
    match word.to_lowercase().as_str() {
        "half" => return Some(Decimal::new(5, 1)),
        "a" | "one" => return Some(Decimal::ONE),
        _ => {}
    }
    if !word.chars().all(|c| c.is_ascii_digit() || c == '.') {
        return None;
    }
    Decimal::from_str(word).ok()
}

fn item(line: usize, name: &str, quantity: Option<Quantity>) -> Result<DemandItem, DemandError> {
    let name = name.trim();
    if name.is_empty() {
        return Err(DemandError::MissingName { line });
    }
    if name.chars().count() > MAX_ITEM_NAME_CHARS {
        return Err(DemandError::NameTooLong { line });
    }
    if name.chars().any(char::is_control) {
        return Err(DemandError::BadCharacters { line });
    }
    if let Some(q) = &quantity
        && (q.amount <= Decimal::ZERO || q.amount > MAX_AMOUNT)
    {
        return Err(DemandError::AmountOutOfRange { line });
    }
    let (tag, category) = catalogue_tag(name);
    Ok(DemandItem {
        name: name.to_string(),
        tag,
        category: category.map(str::to_string),
        quantity: quantity.map(|q| Quantity {
            amount: q.amount.normalize(),
            unit: q.unit,
        }),
    })
}

/// Synonyms to inventory tag and category. A small built-in table until the
/// catalogue becomes a data file.
const CATALOGUE: &[(&[&str], &str, &str)] = &[
    (&["rice", "chal", "chaal", "চাল"], "rice", "grocery"),
    (&["meat", "beef", "mutton", "goat", "mangsho", "মাংস"], "meat", "meat"),
    (&["chicken", "murgi", "মুরগি"], "chicken", "meat"),
    (&["fish", "mach", "মাছ"], "fish", "fish"),
    (&["spices", "spice", "masala", "moshla", "মসলা"], "spices", "grocery"),
    (&["oil", "soybean oil", "tel", "তেল"], "oil", "grocery"),
    (&["sugar", "chini", "চিনি"], "sugar", "grocery"),
    (&["salt", "lobon", "লবণ"], "salt", "grocery"),
    (&["egg", "eggs", "dim", "ডিম"], "eggs", "grocery"),
    (&["onion", "onions", "piaj", "peyaj", "পেঁয়াজ"], "onion", "grocery"),
    (&["potato", "potatoes", "alu", "aloo", "আলু"], "potato", "grocery"),
    (&["lentils", "lentil", "dal", "daal", "ডাল"], "lentils", "grocery"),
    (&["flour", "atta", "আটা"], "flour", "grocery"),
    (&["milk", "dudh", "দুধ"], "milk", "grocery"),
    (&["tea", "cha", "চা"], "tea", "grocery"),
    (&["biscuits", "biscuit"], "biscuits", "grocery"),
    (&["paracetamol", "napa", "medicine", "ঔষধ"], "medicine", "pharmacy"),
];

/// The inventory tag and category for an item name. Unknown names are their
/// own tag (lower-cased) with no category, so a store that lists that tag
/// can still match.
#[must_use]
pub fn catalogue_tag(name: &str) -> (String, Option<&'static str>) {
    let key = name.trim().to_lowercase();
    for (synonyms, tag, category) in CATALOGUE {
        if synonyms.contains(&key.as_str()) {
            return ((*tag).to_string(), Some(category));
        }
    }
    (key, None)
}

/// The store category for items the catalogue does not know: the general
/// neighbourhood store.
pub const DEFAULT_CATEGORY: &str = "grocery";

/// The store categories a demand needs, each once.
#[must_use]
pub fn demand_categories(items: &[DemandItem]) -> Vec<String> {
    let mut categories: Vec<String> = items
        .iter()
        .map(|i| i.category.clone().unwrap_or_else(|| DEFAULT_CATEGORY.to_string()))
        .collect();
    categories.sort();
    categories.dedup();
    categories
}

/// The sentence a store's device speaks aloud for a new offer.
#[must_use]
pub fn offer_announcement(items: &[DemandItem]) -> String {
    let list: Vec<String> = items.iter().map(ToString::to_string).collect();
    format!("New order: {} - accept now!", list.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(amount: &str, unit: Unit) -> Option<Quantity> {
        Some(Quantity {
            amount: Decimal::from_str(amount).expect("decimal"),
            unit,
        })
    }

    #[test]
    fn parses_the_usual_shapes() {
        let cases = [
            ("2 kg rice", "rice", q("2", Unit::Kilogram)),
            ("2kg rice", "rice", q("2", Unit::Kilogram)),
            ("rice 2kg", "rice", q("2", Unit::Kilogram)),
            ("rice 2 kg", "rice", q("2", Unit::Kilogram)),
            ("600 g meat", "meat", q("600", Unit::Gram)),
            ("1.2 kg rice", "rice", q("1.2", Unit::Kilogram)),
            ("6 eggs", "eggs", q("6", Unit::Piece)),
            ("1.5 litre oil", "oil", q("1.5", Unit::Litre)),
            ("2 packets biscuits", "biscuits", q("2", Unit::Packet)),
            ("half kg onion", "onion", q("0.5", Unit::Kilogram)),
            ("spices", "spices", None),
        ];
        for (text, tag, quantity) in cases {
            let item = parse_demand_line(1, text).expect(text);
            assert_eq!(item.tag, tag, "{text}");
            assert_eq!(item.quantity, quantity, "{text}");
        }
    }

    #[test]
    fn splits_lists_and_keeps_amounts_exact() {
        let items = parse_demand_text("1.2 kg rice, 600 g meat and spices").expect("parses");
        let shown: Vec<String> = items.iter().map(ToString::to_string).collect();
        assert_eq!(shown, ["1.2 kg rice", "600 g meat", "spices"]);
        assert_eq!(
            offer_announcement(&items),
            "New order: 1.2 kg rice, 600 g meat, spices - accept now!"
        );
    }

    #[test]
    fn refuses_bad_lines() {
        assert_eq!(parse_demand_text("  ,\n"), Err(DemandError::Empty));
        assert_eq!(
            parse_demand_text("0 kg rice"),
            Err(DemandError::AmountOutOfRange { line: 1 })
        );
        let lines = vec![DemandLineInput {
            name: "rice".into(),
            amount: Some(Decimal::ONE),
            unit: Some("bushel".into()),
        }];
        assert!(matches!(
            demand_from_lines(&lines),
            Err(DemandError::UnknownUnit { line: 1, .. })
        ));
        let many = "rice\n".repeat(MAX_DEMAND_LINES + 1);
        assert_eq!(parse_demand_text(&many), Err(DemandError::TooManyLines));
    }
}
