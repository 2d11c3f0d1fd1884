//! Orders: their state, the one state machine that changes them, money,
//! delivery, packing, after-sales, and what each party is shown.

pub mod actor;
pub mod aftersales;
pub mod audit;
pub mod change;
pub mod delivery;
pub mod fulfilment;
pub mod money;
pub mod packing;
pub mod refusal;
pub mod state;
pub mod status;
pub mod views;

pub use actor::Actor;
pub use audit::{AuditEntry, ChangedBy, Happened};
pub use change::{Change, Decision, NextRound};
pub use fulfilment::Step;
pub use refusal::Refusal;
pub use state::{
    Listing, NO_STORE_ACCEPTED, NO_STORE_NEARBY, NewOrder, Offer, Order, OrderStatus, Promise,
    STORE_GAVE_BACK_NONE_LEFT, Winner,
};
