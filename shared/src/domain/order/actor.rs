//! Who asks for a change to an order.

use crate::domain::ids::{Caller, CustomerId, OperatorId, StoreId};

/// Who asks for a change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    Customer(CustomerId),
    Store(StoreId),
    /// Someone who runs the service: no order rule lets an operator change
    /// an order, so every change they ask for is refused.
    Operator(OperatorId),
    /// The round timer (the service itself).
    Timer,
}

impl From<Caller> for Actor {
    fn from(caller: Caller) -> Self {
        match caller {
            Caller::Customer(id) => Actor::Customer(id),
            Caller::Store(id) => Actor::Store(id),
            Caller::Operator(id) => Actor::Operator(id),
        }
    }
}
