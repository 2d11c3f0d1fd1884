//! The end-to-end suites, one module each, in one test binary: the whole
//! stack is linked once instead of once per suite, which keeps a cold
//! build's disk use and link time down. `logs.rs` stays a binary of its own
//! because it installs a process-wide log subscriber.

mod common;

#[path = "authorization.rs"]
mod authorization;
#[path = "bad_input.rs"]
mod bad_input;
#[path = "browser.rs"]
mod browser;
#[path = "console.rs"]
mod console;
#[path = "contract.rs"]
mod contract;
#[path = "expiry.rs"]
mod expiry;
#[cfg(feature = "endpoint-tests")]
#[path = "faults.rs"]
mod faults;
#[path = "fulfilment.rs"]
mod fulfilment;
#[path = "gateway_hostile.rs"]
mod gateway_hostile;
#[path = "honest_answers.rs"]
mod honest_answers;
#[path = "idempotency.rs"]
mod idempotency;
#[path = "journey.rs"]
mod journey;
#[path = "key_rotation.rs"]
mod key_rotation;
#[path = "limits.rs"]
mod limits;
#[path = "notifications.rs"]
mod notifications;
#[path = "operators.rs"]
mod operators;
#[path = "privacy.rs"]
mod privacy;
#[path = "promotions.rs"]
mod promotions;
#[path = "race.rs"]
mod race;
#[path = "resilience.rs"]
mod resilience;
#[path = "sign_in.rs"]
mod sign_in;
#[path = "sparse_supply.rs"]
mod sparse_supply;
#[path = "spec.rs"]
mod spec;
#[path = "stock.rs"]
mod stock;
#[path = "timer_redrive.rs"]
mod timer_redrive;
#[path = "understanding.rs"]
mod understanding;
#[path = "websocket.rs"]
mod websocket;
