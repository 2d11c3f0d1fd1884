//! The edge: API Gateway and SQS events in, responses out. The same
//! functions serve Lambda and the local gateway.

pub mod after;
pub mod authorizer;
pub mod bodies;
mod call;
pub mod error;
pub mod http;
mod idempotent;
pub mod identity;
pub mod operation;
pub mod promotions;
pub mod requests;
pub mod routes;
pub mod spec;
pub mod timer;
pub mod web;
pub mod ws;
