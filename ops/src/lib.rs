//! Operators' commands, as library functions so tests call them directly
//! (`src/main.rs` is the command line over them).
//!
//! - [`signing_key`]: create and rotate the token signing secret.
//! - [`jwks`]: the JWKS and OpenID configuration the code publishes (for
//!   the template check).

//! - [`timers`]: the timer dead-letter queue, inspected and redriven.

pub mod jwks;
pub mod signing_key;
pub mod timers;
