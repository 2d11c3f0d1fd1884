//! After-sales: reviews, complaints, and stores giving an order back.

use serde::{Deserialize, Serialize};

use super::refusal::Refusal;
use crate::domain::clock::Millis;
use crate::domain::ids::StoreId;

/// After-sales: a complaint or return request and the store's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Complaint {
    pub text: String,
    /// Whether the customer asks to return items.
    pub wants_return: bool,
    pub at_ms: Millis,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answer: Option<String>,
}

/// A store that gave an order back, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct StoreCancellation {
    pub store_id: StoreId,
    pub reason: String,
    pub at_ms: Millis,
}

/// A customer's review of a completed order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Review {
    pub stars: u8,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    pub at_ms: Millis,
}

/// 1 to 1,000 characters of text, trimmed, no control characters but new
/// lines.
/// The stars a review gives.
pub const STARS: std::ops::RangeInclusive<u8> = 1..=5;

pub(super) fn short_text(text: &str, field: &'static str) -> Result<String, Refusal> {
    let text = text.trim();
    if text.is_empty() || text.chars().count() > 1_000 || text.chars().any(|c| c.is_control() && c != '\n') {
        return Err(Refusal::InvalidField {
            field,
            rule: "give 1 to 1,000 characters of text",
        });
    }
    Ok(text.to_string())
}
