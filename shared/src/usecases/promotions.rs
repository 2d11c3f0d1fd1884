//! Promotions: a customer's consent, the index of what opted-in customers
//! bought where, a store sending a promotion (the store learns a count,
//! nothing else), a customer's list, and turning a promotion into an order
//! its store is alerted to first. The rules are in `domain::promotion`.

use futures_util::StreamExt;
use tracing::{info, warn};

use super::connections::Notifier;
use super::ordering::{OrderRequest, Ordering, PlaceOrderError};
use super::{MAX_WRITE_ATTEMPTS, Unavailable, count_in_window, kept_changing, unavailable_from_ports};
use crate::domain::clock::{Clock, Millis};
use crate::domain::config::OrderingConfig;
use crate::domain::geo::GeoPoint;
use crate::domain::ids::{Caller, CustomerId, OrderId, PromotionId, StoreId};
use crate::domain::limits::LimitReached;
use crate::domain::order::{Order, OrderStatus};
use crate::domain::promotion::{
    PROMOTIONS_PER_CUSTOMER, PROMOTIONS_PER_STORE, Promotion, PromotionEvent, PromotionEventBody, PromotionInput,
    PromotionRefusal, PromotionView, ReceivedPromotion, purchase_entries,
};
use crate::ports::{
    ConnectionRepo, CustomerRepo, LimitRepo, NotificationRepo, OfferTimers, OrderRepo, PromotionRepo, Pusher,
    RepoError, StockRepo, StoreRepo,
};

/// Recipients served at once while a promotion is sent.
const SEND_CONCURRENCY: usize = 16;

/// Completed orders read to index past purchases when a customer opts in.
const BACKFILL_ORDERS: usize = 20;

/// Promotions, for customers and stores.
pub struct Promotions<'a, R, Q, P> {
    pub(super) repo: &'a R,
    pub(super) notifier: Notifier<'a, R, P>,
    pub(super) ordering: Ordering<'a, R, Q, P>,
    pub(super) config: &'a OrderingConfig,
    pub(super) clock: &'a dyn Clock,
}

/// What a store learns of its send: how many received it, no more.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    pub promotion_id: PromotionId,
    pub recipients: usize,
    pub valid_until_ms: Millis,
}

#[derive(Debug, thiserror::Error)]
pub enum SendPromotionError {
    /// Another store's route.
    #[error("only the store itself may send its offers")]
    Forbidden,
    #[error("store not found")]
    UnknownStore,
    #[error(transparent)]
    Refused(PromotionRefusal),
    /// The store's daily allowance is spent.
    #[error(transparent)]
    Limited(LimitReached),
    #[error(transparent)]
    Unavailable(#[from] Unavailable),
}

#[derive(Debug, thiserror::Error)]
pub enum PromotionOrderError {
    /// Never received, another customer's, or opted out since.
    #[error("offer not found")]
    NotFound,
    #[error(transparent)]
    Refused(PromotionRefusal),
    #[error(transparent)]
    Place(PlaceOrderError),
    #[error(transparent)]
    Unavailable(#[from] Unavailable),
}

unavailable_from_ports!(SendPromotionError, PromotionOrderError);

/// A customer's promotions as listed.
#[derive(Debug, Clone, PartialEq)]
pub struct PromotionList {
    pub opted_in: bool,
    pub promotions: Vec<PromotionView>,
}

fn store_window(store: &StoreId) -> String {
    format!("PROMOTIONS#STORE#{store}")
}

fn customer_window(customer: &CustomerId) -> String {
    format!("PROMOTIONS#CUSTOMER#{customer}")
}

/// Indexes what a completed order brought, if its customer opted in
/// (nothing is written about anyone else). Failures are the caller's to
/// log: the order is complete whatever happens here.
pub(super) async fn index_purchase<R: PromotionRepo>(
    repo: &R,
    customer: &CustomerId,
    location: GeoPoint,
    tags: &[String],
) -> Result<(), RepoError> {
    let entries = purchase_entries(customer, location, tags);
    for _ in 0..MAX_WRITE_ATTEMPTS {
        let consent = repo.promotion_consent(customer).await?;
        let Some((next, add)) = consent.value.index(entries.clone()) else {
            return Ok(());
        };
        if repo
            .replace_promotion_consent(customer, consent.version, &next, &add, &[])
            .await?
        {
            return Ok(());
        }
    }
    Err(kept_changing())
}

impl<R, Q, P> Promotions<'_, R, Q, P>
where
    R: PromotionRepo + LimitRepo + StoreRepo + OrderRepo + ConnectionRepo + CustomerRepo + StockRepo + NotificationRepo,
    Q: OfferTimers,
    P: Pusher,
{
    fn now(&self) -> Millis {
        self.clock.now_ms()
    }

    /// Opts the customer in (indexing their recent completed orders) or
    /// out (removing every index entry in the same write, so no store
    /// reaches them from then on). Returns the consent as written.
    pub async fn set_consent(&self, customer: &CustomerId, opted_in: bool) -> Result<bool, Unavailable> {
        let past = if opted_in {
            self.past_purchases(customer).await?
        } else {
            Vec::new()
        };
        for _ in 0..MAX_WRITE_ATTEMPTS {
            let consent = self.repo.promotion_consent(customer).await?;
            let now = self.now();
            let written = if opted_in {
                let (next, add) = consent.value.opt_in(past.clone(), now);
                self.repo
                    .replace_promotion_consent(customer, consent.version, &next, &add, &[])
                    .await?
            } else {
                let (next, remove) = consent.value.opt_out(now);
                self.repo
                    .replace_promotion_consent(customer, consent.version, &next, &[], &remove)
                    .await?
            };
            if written {
                return Ok(opted_in);
            }
        }
        Err(kept_changing().into())
    }

    /// Index entries for the customer's recent completed orders.
    async fn past_purchases(
        &self,
        customer: &CustomerId,
    ) -> Result<Vec<crate::domain::promotion::BuyerEntry>, Unavailable> {
        let orders: Vec<Order> = self
            .repo
            .recent_orders_of_customer(customer, BACKFILL_ORDERS, None)
            .await?;
        Ok(orders
            .iter()
            .filter(|o| o.status() == OrderStatus::Completed)
            .flat_map(|o| {
                let tags: Vec<String> = o.items().iter().map(|i| i.tag.clone()).collect();
                purchase_entries(customer, o.location(), &tags)
            })
            .collect())
    }

    /// The customer's consent and the promotions still valid that they
    /// received since they last opted in (none once opted out).
    pub async fn list(&self, customer: &CustomerId) -> Result<PromotionList, Unavailable> {
        let consent = self.repo.promotion_consent(customer).await?.value;
        if !consent.opted_in {
            return Ok(PromotionList {
                opted_in: false,
                promotions: Vec::new(),
            });
        }
        let received = self.repo.received_promotions(customer, self.now()).await?;
        Ok(PromotionList {
            opted_in: true,
            promotions: received
                .iter()
                .filter(|r| consent.shows(r))
                .map(PromotionView::of)
                .collect(),
        })
    }

    /// A store sends a promotion: checked, counted against the store's day,
    /// then put in the list of each opted-in buyer nearby within their own
    /// day's allowance (others are skipped, not counted), and pushed live.
    pub async fn send(
        &self,
        caller: &Caller,
        store_id: &StoreId,
        input: PromotionInput,
    ) -> Result<Sent, SendPromotionError> {
        if !caller.is_store(store_id) {
            return Err(SendPromotionError::Forbidden);
        }
        let now = self.now();
        let store = self
            .repo
            .get_store(store_id)
            .await?
            .ok_or(SendPromotionError::UnknownStore)?;
        let promotion = Promotion::new(&store, input, now).map_err(SendPromotionError::Refused)?;
        if let Err(retry_after_ms) =
            count_in_window(self.repo, &store_window(store_id), PROMOTIONS_PER_STORE, now).await?
        {
            return Err(SendPromotionError::Limited(LimitReached::Promotions { retry_after_ms }));
        }
        let radius = self.config.radius_m;
        let entries = self.repo.buyers(&promotion.buyer_keys(radius)).await?;
        let candidates = promotion.recipients(&entries, radius);
        let delivered: Vec<Result<Option<(Caller, PromotionView)>, RepoError>> =
            futures_util::stream::iter(candidates.into_iter().map(|(customer, distance_m)| {
                let received = ReceivedPromotion {
                    promotion: promotion.clone(),
                    distance_m,
                };
                async move {
                    let delivered = self.deliver(&customer, &received, now).await?;
                    Ok(delivered.then(|| (Caller::Customer(customer), PromotionView::of(&received))))
                }
            }))
            .buffer_unordered(SEND_CONCURRENCY)
            .collect()
            .await;
        let mut reached: Vec<(Caller, PromotionView)> = Vec::new();
        for one in delivered {
            match one {
                Ok(Some(recipient)) => reached.push(recipient),
                Ok(None) => {}
                // One customer's failure is not the store's: it is not counted.
                Err(e) => warn!(error = %e, "a promotion did not reach one customer"),
            }
        }
        let pushes: Vec<(Caller, PromotionEvent)> = reached
            .into_iter()
            .map(|(owner, promotion)| {
                let event = PromotionEvent::new(PromotionEventBody::PromotionReceived { promotion });
                (owner, event)
            })
            .collect();
        self.notifier.tell_each(&pushes).await;
        info!(store_id = %store_id, promotion_id = %promotion.id, recipients = pushes.len(), "promotion sent");
        Ok(Sent {
            promotion_id: promotion.id,
            recipients: pushes.len(),
            valid_until_ms: promotion.valid_until_ms,
        })
    }

    /// One recipient: within their day's allowance and still opted in at
    /// the write (`true`), or skipped.
    async fn deliver(
        &self,
        customer: &CustomerId,
        received: &ReceivedPromotion,
        now: Millis,
    ) -> Result<bool, RepoError> {
        if count_in_window(self.repo, &customer_window(customer), PROMOTIONS_PER_CUSTOMER, now)
            .await?
            .is_err()
        {
            return Ok(false);
        }
        self.repo.deliver_promotion(customer, received).await
    }

    /// Turns a received promotion into an order of its item, placed as
    /// `placement` says (its items are the promotion's), with its store
    /// alerted first. The customer still does not learn which store until
    /// one accepts.
    pub async fn order(
        &self,
        customer: &CustomerId,
        id: &PromotionId,
        order_id: OrderId,
        placement: OrderRequest,
    ) -> Result<Order, PromotionOrderError> {
        let (consent, received) = futures_util::join!(
            self.repo.promotion_consent(customer),
            self.repo.received_promotion(customer, id)
        );
        let received = received?.ok_or(PromotionOrderError::NotFound)?;
        if !consent?.value.shows(&received) {
            return Err(PromotionOrderError::NotFound);
        }
        let promotion = received.promotion;
        promotion.usable_at(self.now()).map_err(PromotionOrderError::Refused)?;
        let promise = promotion.promise();
        let order = self
            .ordering
            .place_answering(
                customer,
                OrderRequest {
                    items: vec![promotion.item],
                    ..placement
                },
                order_id,
                promise,
            )
            .await
            .map_err(PromotionOrderError::Place)?;
        info!(order_id = %order.id(), promotion_id = %id, "promotion ordered");
        Ok(order)
    }
}
