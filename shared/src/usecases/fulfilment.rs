//! After acceptance: packing, delivery, hand-over, completion (paid through
//! the order's payment port, then the virtual home), reviews, complaints,
//! and the winning store's view of its order.

use tracing::warn;

use super::connections::Notifier;
use super::notices::Notices;
use super::stock::{ChangeWritten, tell_stock, write_change};
use super::{MAX_WRITE_ATTEMPTS, Unavailable, kept_changing, unavailable_from_ports};
use crate::domain::clock::Clock;
use crate::domain::customer::HomeItem;
use crate::domain::events::EventBody;
use crate::domain::ids::{Caller, OrderId, StoreId};
use crate::domain::notification::NoticeKind;
use crate::domain::order::views::{CustomerOrderView, OfferView, StoreOrderView};
use crate::domain::order::{Actor, Change, Decision, Order, OrderStatus, Refusal, Step};
use crate::payments::PaymentPorts;
use crate::ports::{
    ConnectionRepo, CustomerRepo, NotificationRepo, OrderRepo, PaymentError, PromotionRepo, Pusher, StockRepo,
    StoreRepo,
};

/// The steps after a store has won an order.
pub struct Fulfilment<'a, R, P> {
    pub(super) repo: &'a R,
    pub(super) notifier: Notifier<'a, R, P>,
    pub(super) notices: Notices<'a, R>,
    pub(super) payments: &'a PaymentPorts,
    pub(super) clock: &'a dyn Clock,
}

#[derive(Debug, thiserror::Error)]
pub enum StepError {
    /// No such order, or one the caller has no part in.
    #[error("order not found")]
    NotFound,
    #[error(transparent)]
    Refused(Refusal),
    #[error(transparent)]
    Payment(#[from] PaymentError),
    #[error(transparent)]
    Unavailable(#[from] Unavailable),
}

#[derive(Debug, thiserror::Error)]
pub enum StoreOrderError {
    /// No such order, or one this store was never offered: the same
    /// answer, so a store cannot learn which order ids exist.
    #[error("order not found")]
    NotFound,
    /// Offered, but another store won it.
    #[error(transparent)]
    NotWinner(Refusal),
    #[error(transparent)]
    Unavailable(#[from] Unavailable),
}

unavailable_from_ports!(StepError, StoreOrderError);

impl<R, P> Fulfilment<'_, R, P>
where
    R: OrderRepo + CustomerRepo + StoreRepo + ConnectionRepo + StockRepo + NotificationRepo + PromotionRepo,
    P: Pusher,
{
    /// A step after acceptance, written conditionally on the version it was
    /// decided on; a racing write makes it decide again on the new state, so
    /// of two conflicting steps exactly one applies.
    pub async fn take(&self, actor: &Caller, order_id: &OrderId, step: &Step) -> Result<Order, StepError> {
        let change = Change::Step(step.clone());
        let by = Actor::from(actor.clone());
        for _ in 0..MAX_WRITE_ATTEMPTS {
            let current = self.repo.get_order(order_id).await?.ok_or(StepError::NotFound)?;
            let now = self.clock.now_ms();
            let mut next = match current.decide(&by, &change, now) {
                Ok(Decision::Apply(next)) => *next,
                // The same party's retry of the step that produced this
                // state (its first answer was lost): answer with the order
                // and run what follows the step again.
                Ok(Decision::AlreadyApplied) => {
                    self.after_step(&current, step, Applied::Before).await?;
                    return Ok(current);
                }
                // Strangers learn nothing about the order.
                Err(Refusal::NotYours) if !involved(actor, &current) => return Err(StepError::NotFound),
                Err(refusal) => return Err(StepError::Refused(refusal)),
            };
            let completes = current.status() != OrderStatus::Completed && next.status() == OrderStatus::Completed;
            if completes {
                // Paid before the completion is written: a refusal leaves
                // the order as it was, and a retry settles the same order id.
                next = self.settle(&current, next, now).await?;
            }
            // Packing settles the winner's held stock in the same write.
            let ChangeWritten::Written(moved) = write_change(self.repo, &current, &next, None).await? else {
                continue;
            };
            tell_stock(&self.notifier, moved).await;
            // Stores still weighing the offer are told of a delivery chosen
            // meanwhile, so none accepts without knowing it must deliver.
            let renewed: Vec<(Caller, EventBody)> = next
                .offers_renewed_since(&current, now)
                .into_iter()
                .filter_map(|store| {
                    let offer = OfferView::of(&next, &store)?;
                    Some((Caller::Store(store), EventBody::Offer { offer }))
                })
                .collect();
            if !renewed.is_empty() {
                self.notifier.tell(&next, renewed).await;
            }
            self.after_step(&next, step, Applied::Now).await?;
            return Ok(next);
        }
        Err(kept_changing().into())
    }

    async fn settle(&self, current: &Order, next: Order, now: i64) -> Result<Order, StepError> {
        let Some(bill) = next.bill() else {
            return Ok(next);
        };
        let port = self
            .payments
            .for_method(bill.payment)
            .ok_or_else(|| PaymentError::Declined(format!("{} is not taken", bill.payment.as_str())))?;
        let settlement = port.settle(current.id(), bill, now).await?;
        Ok(next.settled(settlement))
    }

    /// What follows a step: the virtual home, the SMS receipt and the
    /// review request on completion, the store's rating on a review, and
    /// pushes to both sides. The receipt is claimed once per order and
    /// event, so running this again never sends it twice.
    /// A home that could not be updated fails the step as unavailable
    /// (after the pushes): the order is completed, and the party's retry
    /// with the same key is the same step, already applied, which runs this
    /// again; the home adds each order once, so nothing counts twice.
    async fn after_step(&self, order: &Order, step: &Step, applied: Applied) -> Result<(), Unavailable> {
        let mut home = Ok(());
        match step {
            Step::Complete => {
                let bought: Vec<HomeItem> = order
                    .bill()
                    .iter()
                    .flat_map(|b| b.lines.iter())
                    .map(|line| {
                        let tag = order
                            .items()
                            .iter()
                            .find(|i| i.name == line.name)
                            .map_or_else(|| line.name.to_lowercase(), |i| i.tag.clone());
                        HomeItem::new(&line.name, &tag, line.quantity).in_bangla(line.name_bn.clone())
                    })
                    .collect();
                let (added, ()) = futures_util::join!(
                    self.repo.add_to_home(order.customer_id(), order.id(), &bought),
                    self.notices.receipt(order, NoticeKind::Completed)
                );
                if let Err(e) = added {
                    warn!(error = %e, order_id = %order.id(), "could not update the virtual home; the retry will");
                    home = Err(Unavailable::from(e));
                }
                let tags: Vec<String> = bought.iter().map(|b| b.tag.clone()).collect();
                if let Err(e) =
                    super::promotions::index_purchase(self.repo, order.customer_id(), order.location(), &tags).await
                {
                    warn!(error = %e, order_id = %order.id(), "could not index a purchase for promotions");
                }
            }
            // A rating is added once, when the review is written: adding it
            // again for a repeat would count it twice.
            Step::Review { stars, .. } if applied == Applied::Now => {
                if let Some(winner) = order.winner()
                    && let Err(e) = self.repo.record_review(&winner.store_id, *stars).await
                {
                    warn!(error = %e, "could not record a review");
                }
            }
            _ => {}
        }
        let mut pushes = vec![(
            Caller::Customer(order.customer_id().clone()),
            EventBody::OrderUpdated {
                order: CustomerOrderView::of(order),
            },
        )];
        if matches!(step, Step::Complete) {
            pushes.push((
                Caller::Customer(order.customer_id().clone()),
                EventBody::ReviewRequested,
            ));
        }
        if let Some(winner) = order.winner() {
            pushes.push((
                Caller::Store(winner.store_id.clone()),
                EventBody::StoreOrderUpdated {
                    order: StoreOrderView::of(order, None),
                },
            ));
        }
        self.notifier.tell(order, pushes).await;
        home
    }

    /// The winning store's view of its order, with where to deliver.
    pub async fn store_order(&self, store: &StoreId, order_id: &OrderId) -> Result<StoreOrderView, StoreOrderError> {
        let order = self
            .repo
            .get_order(order_id)
            .await?
            .filter(|order| order.was_offered_to(store))
            .ok_or(StoreOrderError::NotFound)?;
        if !order.is_won_by(store) {
            return Err(StoreOrderError::NotWinner(Refusal::NotYours));
        }
        let phone = self.repo.phone_of(order.customer_id()).await?;
        Ok(StoreOrderView::of(&order, phone.as_ref()))
    }
}

/// Whether a step was written by this request or by an earlier one (a
/// repeat whose first answer was lost).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Applied {
    Now,
    Before,
}

/// Whether `actor` has any part in `order` (its customer, or a store it was
/// offered to), so a refusal may say more than "not found".
fn involved(actor: &Caller, order: &Order) -> bool {
    match actor {
        Caller::Customer(id) => id == order.customer_id(),
        Caller::Store(id) => order.was_offered_to(id),
        Caller::Operator(_) => false,
    }
}
