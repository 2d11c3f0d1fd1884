//! Who asks for a change to an order.

use crate::domain::ids::{Caller, CustomerId, StoreId};

/// Who asks for a change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    Customer(CustomerId),
    Store(StoreId),
    /// The round timer (the service itself).
    Timer,
}

impl From<Caller> for Actor {
    fn from(caller: Caller) -> Self {
        match caller {
            Caller::Customer(id) => Actor::Customer(id),
            Caller::Store(id) => Actor::Store(id),
        }
    }
}
