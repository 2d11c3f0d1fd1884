//! The customer-driven order service: domain, ports, use cases, the Lambda
//! edge, and the embedded adapters of the local stack.

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::panic, clippy::todo, clippy::dbg_macro))]

pub mod api;
pub mod auth;
pub mod aws;
pub mod domain;
pub mod embedded;
pub mod jwks_url;
pub mod payments;
pub mod ports;
pub mod usecases;
pub mod wiring;
