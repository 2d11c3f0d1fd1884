//! The domain: plain Rust, no AWS types.

pub mod account;
pub mod clock;
pub mod config;
pub mod customer;
pub mod demand;
pub mod events;
pub mod figures;
pub mod geo;
pub mod idempotency;
pub mod ids;
pub mod limits;
pub mod matching;
pub mod notification;
pub mod order;
pub mod promotion;
pub mod sign_in;
pub mod stock;
pub mod store;
