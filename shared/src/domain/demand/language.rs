//! The languages customers and stores use.

use serde::{Deserialize, Serialize};

/// The language of a text, a transcript, or a store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Language {
    #[default]
    Bn,
    En,
}
