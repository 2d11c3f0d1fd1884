//! The payment methods this service takes, each a [`PaymentPort`] adapter,
//! and the set of them an [`crate::app::App`] is built with.

use std::sync::Arc;

use crate::domain::clock::Millis;
use crate::domain::ids::OrderId;
use crate::domain::order::money::{Bill, PaymentMethod, Settlement, SettlementState};
use crate::ports::{PaymentPort, SettleFuture};

/// Cash handed to the store (or its helper) on delivery or pickup. Nothing
/// to call: completion, confirmed by the store or the customer, is the
/// hand-over of the cash, so settling records it.
#[derive(Debug, Clone, Copy, Default)]
pub struct CashOnDelivery;

impl PaymentPort for CashOnDelivery {
    fn method(&self) -> PaymentMethod {
        PaymentMethod::CashOnDelivery
    }

    fn settle<'a>(&'a self, _order: &'a OrderId, bill: &'a Bill, now: Millis) -> SettleFuture<'a> {
        let settlement = Settlement {
            method: PaymentMethod::CashOnDelivery,
            state: SettlementState::CashCollected,
            amount: bill.total,
            reference: None,
            at_ms: now,
        };
        Box::pin(async move { Ok(settlement) })
    }
}

/// The payment methods on offer, one adapter each.
pub struct PaymentPorts(Vec<Arc<dyn PaymentPort>>);

impl PaymentPorts {
    /// What the service takes today: cash on delivery.
    #[must_use]
    pub fn cash_on_delivery() -> Self {
        PaymentPorts(vec![Arc::new(CashOnDelivery)])
    }

    /// These adapters; a later one for the same method wins.
    #[must_use]
    pub fn of(ports: Vec<Arc<dyn PaymentPort>>) -> Self {
        PaymentPorts(ports)
    }

    /// The adapter for `method`, if the service takes it.
    #[must_use]
    pub fn for_method(&self, method: PaymentMethod) -> Option<&dyn PaymentPort> {
        self.0.iter().rev().find(|p| p.method() == method).map(AsRef::as_ref)
    }
}
