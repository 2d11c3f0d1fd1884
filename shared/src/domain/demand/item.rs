//! Demand lists: what a customer asks for, with exact quantities.
//!
//! Text, speech and pictures are read by [`super::understanding`] against the
//! catalogue data file ([`super::catalogue`]); this module keeps the types
//! every other part of the service uses, and the entry points that read
//! plain text with the built-in catalogue.
//!
//! Items the catalogue does not know are kept, never dropped: they are
//! `unmatched`, named by the customer's words, tagged by those words folded
//! (so a store listing that tag still matches) and, having no category, are
//! offered to the default category's stores.

use std::fmt;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::catalogue::{Catalogue, CatalogueItem};
use super::language::Language;
use super::quantity::{AMOUNT_PATTERN, MAX_AMOUNT, Quantity, Unit, optional_amount_in_any_digits};
use super::words::{fold, phrase_key};

/// Most lines one demand list may hold.
pub const MAX_DEMAND_LINES: usize = 50;
/// Most characters in one item name.
pub const MAX_ITEM_NAME_CHARS: usize = 80;
/// Most characters in a free-text demand.
pub const MAX_DEMAND_TEXT_CHARS: usize = 2_000;

/// One line of a demand list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct DemandItem {
    /// What the customer called it, trimmed.
    pub name: String,
    /// The catalogue's Bangla name, when the line is a catalogue item, so
    /// a Bangla screen can show "চাল" where `name` says "rice".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name_bn: Option<String>,
    /// The inventory tag stores declare for it (e.g. "rice").
    pub tag: String,
    /// The store category that usually sells it, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    /// None for lines like "spices" that name no amount.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quantity: Option<Quantity>,
    /// Whether the catalogue knew it; left out of JSON when matched.
    #[serde(default, skip_serializing_if = "ItemStatus::is_matched")]
    pub status: ItemStatus,
    /// The customer's own words for the line, when they are not simply the
    /// name: unmatched and uncertain lines, and lines from a recipe.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub said: Option<String>,
    /// The recipe this line came from ("polao for 6").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recipe: Option<String>,
}

/// How well a line was understood.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ItemStatus {
    /// A catalogue item, read with certainty. `name` is its English name.
    #[default]
    Matched,
    /// A catalogue item, guessed (spelling, extra words, unsure speech):
    /// the customer should confirm it.
    Uncertain,
    /// Not understood; `name` and `said` hold the customer's words.
    Unmatched,
}

impl ItemStatus {
    #[must_use]
    pub fn is_matched(&self) -> bool {
        *self == ItemStatus::Matched
    }
}

impl DemandItem {
    /// A line of the catalogue's item `known`, as read (`status`).
    #[must_use]
    pub fn known(known: &CatalogueItem, quantity: Option<Quantity>, status: ItemStatus) -> Self {
        DemandItem {
            name: known.name.clone(),
            name_bn: Some(known.name_bn.clone()),
            tag: known.tag.clone(),
            category: Some(known.category.clone()),
            quantity,
            status,
            said: None,
            recipe: None,
        }
    }
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
    /// A picture's label names nothing: `picture` counts from 0, as the
    /// request's `pictures` do.
    #[error("picture {}: the label names nothing", .picture + 1)]
    BlankPictureLabel { picture: usize },
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
    /// The catalogue file is broken; a start-up check should have said so.
    #[error("the catalogue is unavailable: {0}")]
    CatalogueUnavailable(String),
}

impl DemandError {
    /// A stable code for clients.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            DemandError::Empty => "empty_demand",
            DemandError::TooManyLines => "too_many_lines",
            DemandError::TextTooLong => "text_too_long",
            DemandError::MissingName { .. } | DemandError::BlankPictureLabel { .. } => "missing_item_name",
            DemandError::NameTooLong { .. } => "item_name_too_long",
            DemandError::BadCharacters { .. } => "bad_characters",
            DemandError::UnknownUnit { .. } => "unknown_unit",
            DemandError::AmountOutOfRange { .. } => "amount_out_of_range",
            DemandError::HalfQuantity { .. } => "incomplete_quantity",
            DemandError::CatalogueUnavailable(_) => "catalogue_unavailable",
        }
    }
}

/// A structured line as the app sends it: `{"name": "rice", "amount": "2",
/// "unit": "kg"}`. Units arrive as text so an unknown one gets its own error.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DemandLineInput {
    pub name: String,
    /// A number, or a number as text in Latin or Bangla digits ("1.5", "১.৫").
    #[serde(default, deserialize_with = "optional_amount_in_any_digits")]
    #[schemars(extend("pattern" = AMOUNT_PATTERN))]
    pub amount: Option<Decimal>,
    #[serde(default)]
    pub unit: Option<String>,
}

/// Checks structured lines and tags them from the catalogue. A name the
/// catalogue knows becomes its English name; another name is kept as typed
/// and marked unmatched.
pub fn demand_from_lines(lines: &[DemandLineInput]) -> Result<Vec<DemandItem>, DemandError> {
    check_line_count(lines.len())?;
    let catalogue = builtin_catalogue()?;
    lines
        .iter()
        .enumerate()
        .map(|(i, input)| {
            let line = i + 1;
            let quantity = match (&input.amount, &input.unit) {
                (None, None) => None,
                (Some(amount), unit) => {
                    let (unit, times) = match unit {
                        None => (Unit::Piece, Decimal::ONE),
                        Some(word) => structured_unit(word.trim()).ok_or_else(|| DemandError::UnknownUnit {
                            line,
                            unit: word.chars().take(20).collect(),
                        })?,
                    };
                    // Out of range either way: `item` refuses amounts past
                    // MAX_AMOUNT, and a product past Decimal's own range too.
                    let amount = amount
                        .checked_mul(times)
                        .ok_or(DemandError::AmountOutOfRange { line })?;
                    Some(Quantity { amount, unit })
                }
                (None, Some(_)) => return Err(DemandError::HalfQuantity { line }),
            };
            item(line, &input.name, quantity, catalogue)
        })
        .collect()
}

/// Units for structured lines: the usual ones, and "hali" (four pieces).
fn structured_unit(word: &str) -> Option<(Unit, Decimal)> {
    match fold(word).as_str() {
        "hali" | "হালি" => Some((Unit::Piece, Decimal::from(4))),
        _ => Unit::from_word(word).map(|u| (u, Decimal::ONE)),
    }
}

fn builtin_catalogue() -> Result<&'static Catalogue, DemandError> {
    Catalogue::builtin().map_err(|e| DemandError::CatalogueUnavailable(e.to_string()))
}

fn check_line_count(count: usize) -> Result<(), DemandError> {
    match count {
        0 => Err(DemandError::Empty),
        n if n > MAX_DEMAND_LINES => Err(DemandError::TooManyLines),
        _ => Ok(()),
    }
}

fn item(line: usize, name: &str, quantity: Option<Quantity>, catalogue: &Catalogue) -> Result<DemandItem, DemandError> {
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
    let quantity = quantity.map(Quantity::normalized);
    let known = catalogue
        .item_by_phrase(&phrase_key(name))
        .and_then(|i| catalogue.item(i));
    Ok(match known {
        Some(known) => DemandItem::known(known, quantity, ItemStatus::Matched),
        None => DemandItem {
            name: name.to_string(),
            name_bn: None,
            tag: phrase_key(name),
            category: None,
            quantity,
            status: ItemStatus::Unmatched,
            said: None,
            recipe: None,
        },
    })
}

/// The inventory tag and category for an item name, from the built-in
/// catalogue. Unknown names are their own tag (folded) with no category, so
/// a store that lists that tag can still match.
#[must_use]
pub fn catalogue_tag(name: &str) -> (String, Option<&'static str>) {
    let key = phrase_key(name);
    let known = Catalogue::builtin()
        .ok()
        .and_then(|c| c.item_by_phrase(&key).and_then(|i| c.item(i)));
    match known {
        Some(item) => (item.tag.clone(), Some(item.category.as_str())),
        None => (key, None),
    }
}

/// Words that mark an address or a person to ask for, in English,
/// romanised Bangla and Bangla: customers type them into a demand because
/// they want a delivery address.
const ADDRESS_WORDS: &[&str] = &[
    "house",
    "road",
    "rd",
    "flat",
    "floor",
    "block",
    "sector",
    "lane",
    "avenue",
    "apartment",
    "apt",
    "building",
    "holding",
    "basa",
    "bari",
    "bashay",
    "গলি",
    "বাসা",
    "বাড়ি",
    "বাসায়",
    "রোড",
    "সড়ক",
    "ফ্ল্যাট",
    "ফ্লাট",
    "তলা",
    "ব্লক",
    "সেক্টর",
    "লেন",
    "হাউস",
    "হোল্ডিং",
];

/// Whether a line the catalogue did not know may reach stores before one
/// has won the order: not if it holds a phone-number-like run of digits or
/// reads like an address. Understood items always may.
#[must_use]
pub fn fit_for_stores(item: &DemandItem) -> bool {
    if item.status != ItemStatus::Unmatched {
        return true;
    }
    let text = item.said.as_deref().unwrap_or(&item.name);
    let digits = text
        .chars()
        .filter(|c| c.is_ascii_digit() || ('০'..='৯').contains(c))
        .count();
    let folded = fold(text);
    let addressy = folded
        .split(|c: char| !c.is_alphanumeric())
        .any(|word| ADDRESS_WORDS.contains(&word));
    digits < 7 && !addressy
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

/// The sentence a store's device speaks aloud for a new offer, in English.
#[must_use]
pub fn offer_announcement(items: &[DemandItem]) -> String {
    offer_announcement_in(items, Language::En)
}

/// The sentence a store's device speaks aloud, in the store's language:
/// "New order: 1.2 kg rice, 600 g meat - accept now!" or
/// "নতুন অর্ডার: দেড় কেজি চাল, ৬০০ গ্রাম মাংস - এখনই গ্রহণ করুন!".
#[must_use]
pub fn offer_announcement_in(items: &[DemandItem], language: Language) -> String {
    match language {
        Language::En => {
            let list: Vec<String> = items.iter().map(ToString::to_string).collect();
            format!("New order: {} - accept now!", list.join(", "))
        }
        Language::Bn => {
            let list: Vec<String> = items
                .iter()
                .map(|item| {
                    // A catalogue item carries its Bangla name; a line the
                    // catalogue did not know is said in the customer's words.
                    let name = item.name_bn.as_deref().unwrap_or(&item.name);
                    match &item.quantity {
                        Some(q) => format!("{} {name}", say_quantity_bn(*q)),
                        None => name.to_string(),
                    }
                })
                .collect();
            format!("নতুন অর্ডার: {} - এখনই গ্রহণ করুন!", list.join(", "))
        }
    }
}

/// An amount the way it is said in Bangla: "দেড় কেজি", "আধা লিটার",
/// "সাড়ে ৩ কেজি", "৬০০ গ্রাম", "৬টি".
#[must_use]
pub fn say_quantity_bn(quantity: Quantity) -> String {
    let amount = quantity.amount.normalize();
    let half = Decimal::new(5, 1);
    let number = if amount == half {
        "আধা".to_string()
    } else if amount == Decimal::new(15, 1) {
        "দেড়".to_string()
    } else if amount == Decimal::new(25, 1) {
        "আড়াই".to_string()
    } else if amount > Decimal::from(3) && amount.fract() == half {
        format!("সাড়ে {}", bangla_digits(&amount.trunc().to_string()))
    } else {
        bangla_digits(&amount.to_string())
    };
    match quantity.unit {
        Unit::Gram => format!("{number} গ্রাম"),
        Unit::Kilogram => format!("{number} কেজি"),
        Unit::Millilitre => format!("{number} মিলি"),
        Unit::Litre => format!("{number} লিটার"),
        Unit::Piece => format!("{number}টি"),
        Unit::Dozen => format!("{number} ডজন"),
        Unit::Packet => format!("{number} প্যাকেট"),
    }
}

/// ASCII digits as Bangla digits.
#[must_use]
pub fn bangla_digits(text: &str) -> String {
    text.chars()
        .map(|c| match c.to_digit(10) {
            Some(d) => char::from_u32(u32::from('০') + d).unwrap_or(c),
            None => c,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use super::*;
    use crate::domain::demand::understanding::parse_demand_text;

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
            let items = parse_demand_text(text).expect(text);
            let item = &items[0];
            assert_eq!(items.len(), 1, "{text}");
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
        // Four pieces a hali, past Decimal's range: out of range, not a panic.
        let hali = vec![DemandLineInput {
            name: "eggs".into(),
            amount: Some(Decimal::MAX),
            unit: Some("hali".into()),
        }];
        assert_eq!(demand_from_lines(&hali), Err(DemandError::AmountOutOfRange { line: 1 }));
        let many = "rice\n".repeat(MAX_DEMAND_LINES + 1);
        assert_eq!(parse_demand_text(&many), Err(DemandError::TooManyLines));
    }

    #[test]
    fn a_line_s_amount_is_read_in_latin_or_bangla_digits_as_text_or_number() {
        let amount = |json: &str| {
            serde_json::from_str::<DemandLineInput>(&format!(r#"{{"name": "rice", {json}}}"#)).map(|line| line.amount)
        };
        let exact = |text: &str| Some(Decimal::from_str(text).expect("decimal"));
        for (json, expected) in [
            (r#""amount": "2""#, exact("2")),
            (r#""amount": "২""#, exact("2")),
            (r#""amount": " ১.৫ ""#, exact("1.5")),
            (r#""amount": 2"#, exact("2")),
            (r#""amount": 0.25"#, exact("0.25")),
            (r#""amount": null"#, None),
            (r#""unit": "kg""#, None),
        ] {
            assert_eq!(amount(json).expect(json), expected, "{json}");
        }
        for json in [
            r#""amount": "two""#,
            r#""amount": "২ kg""#,
            r#""amount": true"#,
            r#""amount": []"#,
        ] {
            let error = amount(json).expect_err(json).to_string();
            assert!(error.contains("a decimal number as text"), "{json}: {error}");
        }
    }
}
