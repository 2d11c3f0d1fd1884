//! The parts of the load benchmark other crates use: the counting,
//! delaying and fault-injecting proxy in front of an AWS-compatible server
//! (the end-to-end `faults` suite starts it in-process).

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::panic, clippy::todo, clippy::dbg_macro))]

pub mod capacity;
pub mod proxy;
