//! What a customer asks for: quantities, languages, the catalogue, and
//! understanding typed, spoken and pictured demands.

pub mod catalogue;
pub mod item;
pub mod language;
pub mod quantity;
pub mod understanding;
pub mod words;

pub use item::{
    DEFAULT_CATEGORY, DemandError, DemandItem, DemandLineInput, ItemStatus, MAX_DEMAND_LINES, MAX_DEMAND_TEXT_CHARS,
    MAX_ITEM_NAME_CHARS, demand_categories, demand_from_lines, offer_announcement, offer_announcement_in,
};
pub use language::Language;
pub use quantity::{MAX_AMOUNT, Quantity, Unit};
pub use understanding::parse_demand_text;
