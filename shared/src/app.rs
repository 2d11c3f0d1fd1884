//! The use cases: register a store, order, accept, close a round, cancel,
//! connect. Plain functions over the ports; the edge (HTTP, WebSocket, SQS)
//! calls these.

use std::sync::Arc;

use futures_util::future::join_all;
use tracing::{info, warn};

use crate::auth::TokenIssuer;
use crate::domain::clock::{Clock, Millis};
use crate::domain::config::OrderingConfig;
use crate::domain::customer::{HomeItem, PhoneNumber};
use crate::domain::demand::DemandItem;
use crate::domain::demand::demand_categories;
use crate::domain::events::{EventBody, PushEvent};
use crate::domain::fulfilment::{DeliveryChoice, PaymentMethod, Step, StepRefusal, TimeSlot};
use crate::domain::geo::{GeoPoint, search_plan};
use crate::domain::ids::{Caller, ConnectionId, CustomerId, OrderId, StoreId};
use crate::domain::matching::rank_candidates;
use crate::domain::order::{
    NO_STORE_ACCEPTED, NO_STORE_NEARBY, NextRound, Offer, Order, OrderStatus, Refusal, Transition,
};
use crate::domain::store::{DeliveryKind, Store, StorePatchInput, StoreProfileInput, default_delivery_options};
use crate::domain::views::{CustomerOrderView, OfferView, RevealedStore, ShareCard, ShareId, StoreOrderView};
use crate::payments::PaymentPorts;
use crate::ports::{
    Connection, OfferTimers, PaymentError, PushError, Pusher, QueueError, RepoError, RoundTimer, Storage,
    TransitionError,
};

/// What went wrong in a use case. The edge maps each to a status code;
/// `Storage` and `Queue` are logged and shown to clients only as 503.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("{message}")]
    Invalid {
        code: &'static str,
        message: String,
        field: Option<String>,
    },
    #[error("{what} not found")]
    NotFound { what: &'static str },
    #[error("not allowed for this caller")]
    Forbidden,
    #[error(transparent)]
    Refused(Refusal),
    /// A step after acceptance was refused.
    #[error(transparent)]
    Step(StepRefusal),
    /// Too many orders: try again after `retry_after_s`.
    #[error("{reason}")]
    RateLimited { reason: &'static str, retry_after_s: u64 },
    #[error(transparent)]
    Storage(#[from] RepoError),
    #[error(transparent)]
    Queue(#[from] QueueError),
    #[error(transparent)]
    Payment(#[from] PaymentError),
}

impl From<TransitionError> for AppError {
    fn from(e: TransitionError) -> Self {
        match e {
            TransitionError::NotFound => AppError::NotFound { what: "order" },
            TransitionError::Refused(r) => AppError::Refused(r),
            TransitionError::Repo(e) => AppError::Storage(e),
        }
    }
}

/// What a round timer did.
#[derive(Debug, Clone, PartialEq)]
pub enum RoundTimerOutcome {
    /// The round closed and the order moved to the next round or ended.
    Closed(OrderStatus),
    /// The timer was for a round that is already over: nothing changed.
    Stale,
    /// It arrived early; deliver it again after this many milliseconds.
    TooEarly { remaining_ms: Millis },
}

/// The application: ports plus configuration, built once per process.
pub struct App<S, Q, P> {
    pub storage: S,
    pub timers: Q,
    pub pusher: P,
    pub clock: Arc<dyn Clock>,
    pub config: OrderingConfig,
    /// The payment methods taken, one adapter each.
    pub payments: PaymentPorts,
    /// Signs guest tokens; only the process that issues them holds it.
    pub issuer: Option<Arc<TokenIssuer>>,
}

impl<S: Storage, Q: OfferTimers, P: Pusher> App<S, Q, P> {
    fn now(&self) -> Millis {
        self.clock.now_ms()
    }

    // ---- stores -------------------------------------------------------

    /// Creates or replaces the caller's own store profile.
    pub async fn register_store(
        &self,
        caller: &Caller,
        id: StoreId,
        input: StoreProfileInput,
    ) -> Result<Store, AppError> {
        require_store(caller, &id)?;
        let store = Store::from_profile(id, input, self.now()).map_err(|e| AppError::Invalid {
            code: "invalid_store",
            message: e.to_string(),
            field: Some(e.field.to_string()),
        })?;
        self.storage.put_store(&store).await?;
        Ok(store)
    }

    /// Changes part of the caller's own profile (e.g. open/closed).
    pub async fn update_store(&self, caller: &Caller, id: &StoreId, patch: StorePatchInput) -> Result<Store, AppError> {
        let current = self.own_store(caller, id).await?;
        let store = current.patched(patch, self.now()).map_err(|e| AppError::Invalid {
            code: "invalid_store",
            message: e.to_string(),
            field: Some(e.field.to_string()),
        })?;
        self.storage.put_store(&store).await?;
        Ok(store)
    }

    /// The caller's own profile.
    pub async fn own_store(&self, caller: &Caller, id: &StoreId) -> Result<Store, AppError> {
        require_store(caller, id)?;
        self.storage
            .get_store(id)
            .await?
            .ok_or(AppError::NotFound { what: "store" })
    }

    /// Offers the store may still accept, e.g. after a reconnect.
    pub async fn open_offers(&self, caller: &Caller, id: &StoreId) -> Result<Vec<OfferView>, AppError> {
        require_store(caller, id)?;
        let orders = self.storage.open_offers_for_store(id, self.now()).await?;
        Ok(orders.iter().filter_map(|o| OfferView::of(o, id)).collect())
    }

    // ---- orders -------------------------------------------------------

    /// Refuses an order beyond the customer's limits: orders searching at
    /// once, and orders per clock minute (counted atomically). The open
    /// count is read, so two simultaneous orders may both pass it; the
    /// per-minute counter still bounds a flood.
    async fn admit_order(&self, customer: &CustomerId, now: Millis) -> Result<(), AppError> {
        let recent = self
            .storage
            .recent_orders_of_customer(customer, self.config.max_open_orders.saturating_mul(4).max(20), None)
            .await?;
        let open: Vec<&Order> = recent.iter().filter(|o| o.status == OrderStatus::Searching).collect();
        if open.len() >= self.config.max_open_orders {
            let soonest = open.iter().map(|o| o.deadline_ms).min().unwrap_or(now);
            return Err(AppError::RateLimited {
                reason: "too many open orders: wait for one to be accepted, or cancel one",
                retry_after_s: seconds_until(now, soonest),
            });
        }
        let minute = now.div_euclid(60_000);
        if !self
            .storage
            .count_order_attempt(customer, minute, self.config.max_orders_per_minute)
            .await?
        {
            return Err(AppError::RateLimited {
                reason: "too many orders this minute",
                retry_after_s: seconds_until(now, (minute + 1) * 60_000),
            });
        }
        Ok(())
    }

    /// Opens an order and alerts the first round of stores.
    pub async fn create_order(
        &self,
        customer: &CustomerId,
        items: Vec<DemandItem>,
        location: GeoPoint,
        delivery: Option<(DeliveryKind, Option<TimeSlot>)>,
        payment: PaymentMethod,
    ) -> Result<Order, AppError> {
        let now = self.now();
        if self.payments.for_method(payment).is_none() {
            return Err(AppError::Invalid {
                code: "unsupported_payment",
                message: format!("{} is not taken yet", payment.as_str()),
                field: Some("payment".into()),
            });
        }
        // A delivery chosen with the order holds the defaults' terms until a
        // store wins; only stores that offer that kind are matched.
        let delivery = delivery
            .map(|(kind, slot)| {
                let option = kind
                    .among(&default_delivery_options())
                    .ok_or(StepRefusal::DeliveryNotOffered(kind))?;
                DeliveryChoice::new(option, slot, now)
            })
            .transpose()
            .map_err(AppError::Step)?;
        self.admit_order(customer, now).await?;
        let wanted = delivery.as_ref().map(|d| d.option.kind());
        let offers = self.choose_offers(&items, location, &[], wanted).await?;
        let mut order = Order::open(
            OrderId::generate(),
            customer.clone(),
            items,
            location,
            offers,
            now,
            self.config.offer_window_ms,
        );
        order.delivery = delivery;
        order.payment = payment;
        if order.status == OrderStatus::Searching {
            // The timer goes first: if the order write then fails, the
            // timer finds no order and does nothing; the reverse order could
            // leave an order no timer ever closes.
            self.schedule_close(&order).await?;
        }
        self.storage.insert_order(&order).await?;
        info!(order_id = %order.id, stores = order.offers.len(), "order opened");
        self.announce_round(&order, &[]).await;
        Ok(order)
    }

    /// The customer's own order. A round whose deadline has passed is closed
    /// here too, so a lost timer message cannot strand an order.
    pub async fn customer_order(&self, customer: &CustomerId, id: &OrderId) -> Result<Order, AppError> {
        let order = self.customer_owned(customer, id).await?;
        if order.status == OrderStatus::Searching && self.now() >= order.deadline_ms {
            self.close_round(id, order.round).await?;
            return self.customer_owned(customer, id).await;
        }
        Ok(order)
    }

    async fn customer_owned(&self, customer: &CustomerId, id: &OrderId) -> Result<Order, AppError> {
        match self.storage.get_order(id).await? {
            // Another customer's order is reported as missing: no existence leak.
            Some(order) if &order.customer_id == customer => Ok(order),
            _ => Err(AppError::NotFound { what: "order" }),
        }
    }

    /// A store accepts an offer. One conditional write decides the winner.
    pub async fn accept_offer(&self, store_id: &StoreId, order_id: &OrderId) -> Result<Order, AppError> {
        let store = self
            .storage
            .get_store(store_id)
            .await?
            .ok_or(AppError::NotFound { what: "store" })?;
        let transition = Transition::Accept {
            store_id: store_id.clone(),
            store_name: store.name.clone(),
            now: self.now(),
        };
        let order = match self.storage.apply_transition(order_id, &transition).await {
            Ok(order) => order,
            // A store that was never offered must not learn the order exists.
            Err(TransitionError::NotFound) => return Err(AppError::Refused(Refusal::NotOffered)),
            Err(e) => return Err(e.into()),
        };
        info!(order_id = %order.id, store_id = %store_id, "offer accepted");
        // How fast this store answered feeds its rank; the round opened one
        // window before its deadline.
        let opened = order.deadline_ms - self.config.offer_window_ms;
        let took = u64::try_from(self.now() - opened).unwrap_or(0);
        if let Err(e) = self.storage.record_acceptance(store_id, took).await {
            warn!(error = %e, "could not record acceptance speed");
        }
        let view = CustomerOrderView::of(&order);
        let revealed = RevealedStore {
            store_id: store_id.clone(),
            name: store.name,
        };
        let mut pushes = vec![
            (
                Caller::Customer(order.customer_id.clone()),
                EventBody::OrderAccepted {
                    store: revealed,
                    order: view,
                },
            ),
            (Caller::Store(store_id.clone()), EventBody::OfferWon),
        ];
        for offer in order.offers.iter().filter(|o| &o.store_id != store_id) {
            pushes.push((Caller::Store(offer.store_id.clone()), EventBody::OfferTaken));
        }
        self.push_all(&order, pushes).await;
        Ok(order)
    }

    /// A step after acceptance (packing, delivery, hand-over, completion,
    /// review), written conditionally on the version it was decided on; a
    /// racing write makes it decide again on the new state, so of two
    /// conflicting steps exactly one applies.
    pub async fn fulfil(&self, actor: &Caller, order_id: &OrderId, step: &Step) -> Result<Order, AppError> {
        for _ in 0..5 {
            let current = self
                .storage
                .get_order(order_id)
                .await?
                .ok_or(AppError::NotFound { what: "order" })?;
            let now = self.now();
            let mut next = match current.fulfil(actor, step, now) {
                Ok(next) => next,
                // Strangers learn nothing about the order.
                Err(StepRefusal::NotYours) if !self.involved(actor, &current) => {
                    return Err(AppError::NotFound { what: "order" });
                }
                Err(refusal) => return Err(AppError::Step(refusal)),
            };
            let completes = current.status != OrderStatus::Completed && next.status == OrderStatus::Completed;
            if let Some(bill) = next.bill.as_mut().filter(|_| completes) {
                // Paid before the completion is written: a refusal leaves
                // the order as it was, and a retry settles the same order id.
                let port = self
                    .payments
                    .for_method(bill.payment)
                    .ok_or_else(|| PaymentError::Declined(format!("{} is not taken", bill.payment.as_str())))?;
                bill.settlement = Some(port.settle(&current.id, bill, now).await?);
            }
            if !self.storage.replace_order(&next, current.version).await? {
                continue;
            }
            self.after_step(&next, step).await;
            return Ok(next);
        }
        Err(AppError::Storage(RepoError::msg("the order kept changing; try again")))
    }

    fn involved(&self, actor: &Caller, order: &Order) -> bool {
        match actor {
            Caller::Customer(id) => id == &order.customer_id,
            Caller::Store(id) => order.tried.contains(id),
        }
    }

    /// What follows a step: the virtual home and the review request on
    /// completion, the store's rating on a review, and pushes to both sides.
    async fn after_step(&self, order: &Order, step: &Step) {
        match step {
            Step::Complete => {
                let bought: Vec<HomeItem> = order
                    .bill
                    .iter()
                    .flat_map(|b| b.lines.iter())
                    .map(|line| {
                        let tag = order
                            .items
                            .iter()
                            .find(|i| i.name == line.name)
                            .map_or_else(|| line.name.to_lowercase(), |i| i.tag.clone());
                        HomeItem::new(&line.name, &tag, line.quantity)
                    })
                    .collect();
                if let Err(e) = self.storage.add_to_home(&order.customer_id, &order.id, &bought).await {
                    warn!(error = %e, order_id = %order.id, "could not update the virtual home");
                }
            }
            Step::Review { stars, .. } => {
                if let Some(winner) = &order.winner
                    && let Err(e) = self.storage.record_review(&winner.store_id, *stars).await
                {
                    warn!(error = %e, "could not record a review");
                }
            }
            _ => {}
        }
        let mut pushes = vec![(
            Caller::Customer(order.customer_id.clone()),
            EventBody::OrderUpdated {
                order: CustomerOrderView::of(order),
            },
        )];
        if matches!(step, Step::Complete) {
            pushes.push((Caller::Customer(order.customer_id.clone()), EventBody::ReviewRequested));
        }
        if let Some(winner) = &order.winner {
            pushes.push((
                Caller::Store(winner.store_id.clone()),
                EventBody::StoreOrderUpdated {
                    order: StoreOrderView::of(order, None),
                },
            ));
        }
        self.push_all(order, pushes).await;
    }

    /// The winning store gives the order back with a reason: it goes back to
    /// routing, to stores not yet tried (timer first, then the conditional
    /// write, as for every round).
    pub async fn store_cancel(&self, store: &StoreId, order_id: &OrderId, reason: &str) -> Result<Order, AppError> {
        let actor = Caller::Store(store.clone());
        let current = self
            .storage
            .get_order(order_id)
            .await?
            .ok_or(AppError::Refused(Refusal::NotOffered))?;
        let now = self.now();
        let offers = self
            .choose_offers(
                &current.items,
                current.location,
                &current.tried,
                current.wanted_delivery(),
            )
            .await?;
        let next_round = if offers.is_empty() {
            NextRound::Unfulfilled {
                reason: "store_cancelled_no_store_left".to_string(),
            }
        } else {
            NextRound::Offer {
                offers,
                deadline_ms: now + self.config.offer_window_ms,
            }
        };
        let next = match current.store_cancelled(&actor, reason, next_round, now) {
            Ok(next) => next,
            Err(StepRefusal::NotYours) if !self.involved(&actor, &current) => {
                return Err(AppError::Refused(Refusal::NotOffered));
            }
            Err(refusal) => return Err(AppError::Step(refusal)),
        };
        if next.status == OrderStatus::Searching {
            self.schedule_close(&next).await?;
            let stores: Vec<StoreId> = next.offers.iter().map(|o| o.store_id.clone()).collect();
            self.storage.index_offers(&next.id, &stores, next.deadline_ms).await?;
        }
        if !self.storage.replace_order(&next, current.version).await? {
            return Err(AppError::Step(StepRefusal::WrongState {
                current: "changed meanwhile; read it again",
            }));
        }
        info!(order_id = %next.id, store_id = %store, "store gave the order back");
        let mut pushes = vec![(Caller::Store(store.clone()), EventBody::OfferWithdrawn)];
        pushes.extend(self.round_pushes(&next, &[]));
        self.push_all(&next, pushes).await;
        Ok(next)
    }

    /// Orders the store holds, newest first: `limit` of them, older than
    /// `before` when given.
    pub async fn store_history(
        &self,
        caller: &Caller,
        store: &StoreId,
        limit: usize,
        before: Option<&OrderId>,
    ) -> Result<Vec<Order>, AppError> {
        require_store(caller, store)?;
        Ok(self.storage.orders_won_by(store, limit.clamp(1, 50), before).await?)
    }

    /// The customer's share link for a completed order, made on the first
    /// request and the same one after.
    pub async fn share_order(&self, customer: &CustomerId, id: &OrderId) -> Result<(ShareId, ShareCard), AppError> {
        let mut order = self.customer_owned(customer, id).await?;
        let card = ShareCard::of(&order).map_err(AppError::Step)?;
        if order.share_secret.is_none() {
            let mut bytes = [0u8; 16];
            aws_lc_rs::rand::fill(&mut bytes)
                .map_err(|_| AppError::Storage(RepoError::msg("no randomness for a share link")))?;
            let secret = format!("{:032x}", u128::from_be_bytes(bytes));
            order = self
                .fulfil(&Caller::Customer(customer.clone()), id, &Step::Share { secret })
                .await?;
        }
        let secret = order
            .share_secret
            .ok_or_else(|| AppError::Storage(RepoError::msg("a shared order lost its secret")))?;
        Ok((
            ShareId {
                order_id: order.id,
                secret,
            },
            card,
        ))
    }

    /// What a share link shows, to anyone who has it.
    pub async fn shared_order(&self, share: &ShareId) -> Result<ShareCard, AppError> {
        let not_found = AppError::NotFound { what: "share" };
        let Some(order) = self.storage.get_order(&share.order_id).await? else {
            return Err(not_found);
        };
        let matches = order.share_secret.as_ref().is_some_and(|secret| {
            aws_lc_rs::constant_time::verify_slices_are_equal(secret.as_bytes(), share.secret.as_bytes()).is_ok()
        });
        if !matches {
            return Err(not_found);
        }
        ShareCard::of(&order).map_err(|_| not_found)
    }

    /// The winning store's view of its order, with where to deliver.
    pub async fn store_order(&self, store: &StoreId, order_id: &OrderId) -> Result<StoreOrderView, AppError> {
        let order = self
            .storage
            .get_order(order_id)
            .await?
            .ok_or(AppError::Refused(Refusal::NotOffered))?;
        if order.winner.as_ref().is_none_or(|w| &w.store_id != store) {
            return Err(AppError::Forbidden);
        }
        let phone = self.storage.phone_of(&order.customer_id).await?;
        Ok(StoreOrderView::of(&order, phone.as_ref()))
    }

    /// The customer's orders, newest first: `limit` of them, older than
    /// `before` when given.
    pub async fn customer_history(
        &self,
        customer: &CustomerId,
        limit: usize,
        before: Option<&OrderId>,
    ) -> Result<Vec<Order>, AppError> {
        Ok(self
            .storage
            .recent_orders_of_customer(customer, limit.clamp(1, 50), before)
            .await?)
    }

    /// The customer's virtual home.
    pub async fn home(&self, customer: &CustomerId) -> Result<Vec<HomeItem>, AppError> {
        Ok(self.storage.home_of(customer).await?)
    }

    /// The customer edits one home item (None removes it).
    pub async fn edit_home(&self, customer: &CustomerId, key: &str, item: Option<HomeItem>) -> Result<(), AppError> {
        self.storage.set_home_item(customer, key, item).await?;
        Ok(())
    }

    /// A store turns its offer down; it can no longer accept this order.
    pub async fn decline_offer(&self, store_id: &StoreId, order_id: &OrderId) -> Result<Order, AppError> {
        let transition = Transition::Decline {
            store_id: store_id.clone(),
            now: self.now(),
        };
        match self.storage.apply_transition(order_id, &transition).await {
            Ok(order) => Ok(order),
            Err(TransitionError::NotFound) => Err(AppError::Refused(Refusal::NotOffered)),
            Err(e) => Err(e.into()),
        }
    }

    /// Attaches a phone number to the customer (a guest becomes known).
    pub async fn attach_phone(&self, customer: &CustomerId, phone: &PhoneNumber) -> Result<(), AppError> {
        self.storage.set_phone(customer, phone).await?;
        Ok(())
    }

    /// A new guest customer and their token.
    pub fn new_guest(&self) -> Result<(CustomerId, String), AppError> {
        let issuer = self
            .issuer
            .as_ref()
            .ok_or(AppError::NotFound { what: "token issuer" })?;
        let customer = CustomerId::new(format!("g-{}", ulid::Ulid::new().to_string().to_lowercase()))
            .map_err(|_| AppError::Forbidden)?;
        let token = issuer
            .issue(&Caller::Customer(customer.clone()), self.now())
            .map_err(|e| AppError::Storage(RepoError::msg(e.to_string())))?;
        Ok((customer, token))
    }

    /// The customer withdraws a searching order; offered stores are told.
    pub async fn cancel_order(&self, customer: &CustomerId, id: &OrderId) -> Result<Order, AppError> {
        let transition = Transition::Cancel {
            customer_id: customer.clone(),
            now: self.now(),
        };
        let order = match self.storage.apply_transition(id, &transition).await {
            Ok(order) => order,
            Err(TransitionError::Refused(Refusal::NotOwner)) => return Err(AppError::NotFound { what: "order" }),
            Err(e) => return Err(e.into()),
        };
        let mut pushes = vec![(
            Caller::Customer(customer.clone()),
            EventBody::OrderCancelled {
                order: CustomerOrderView::of(&order),
            },
        )];
        match &order.winner {
            // Cancelled after acceptance, before packing: only the winner cares.
            Some(winner) => pushes.push((Caller::Store(winner.store_id.clone()), EventBody::OfferWithdrawn)),
            None => {
                for offer in &order.offers {
                    pushes.push((Caller::Store(offer.store_id.clone()), EventBody::OfferWithdrawn));
                }
            }
        }
        self.push_all(&order, pushes).await;
        Ok(order)
    }

    /// Closes `round` of an order when its window has ended: offers the next
    /// stores, or ends the order. Safe to call twice or late: a round that is
    /// already closed is left alone.
    pub async fn close_round(&self, id: &OrderId, round: u32) -> Result<RoundTimerOutcome, AppError> {
        let Some(order) = self.storage.get_order(id).await? else {
            return Ok(RoundTimerOutcome::Stale);
        };
        if order.status != OrderStatus::Searching || order.round != round {
            return Ok(RoundTimerOutcome::Stale);
        }
        let now = self.now();
        if now < order.deadline_ms {
            return Ok(RoundTimerOutcome::TooEarly {
                remaining_ms: order.deadline_ms - now,
            });
        }
        let next = if round >= self.config.max_rounds {
            NextRound::Unfulfilled {
                reason: NO_STORE_ACCEPTED.to_string(),
            }
        } else {
            let offers = self
                .choose_offers(&order.items, order.location, &order.tried, order.wanted_delivery())
                .await?;
            if offers.is_empty() {
                NextRound::Unfulfilled {
                    reason: if order.tried.is_empty() {
                        NO_STORE_NEARBY
                    } else {
                        NO_STORE_ACCEPTED
                    }
                    .to_string(),
                }
            } else {
                NextRound::Offer {
                    offers,
                    deadline_ms: now + self.config.offer_window_ms,
                }
            }
        };
        if let NextRound::Offer { .. } = next {
            // Timer before write, as in create_order; if the write then
            // loses, the extra timer finds a closed round and does nothing.
            self.timers
                .schedule_round_close(
                    &RoundTimer {
                        order_id: id.clone(),
                        round: round + 1,
                    },
                    self.config.offer_window_ms,
                )
                .await?;
        }
        let transition = Transition::CloseRound { round, now, next };
        let closed = match self.storage.apply_transition(id, &transition).await {
            Ok(closed) => closed,
            Err(TransitionError::Refused(_) | TransitionError::NotFound) => return Ok(RoundTimerOutcome::Stale),
            Err(TransitionError::Repo(e)) => return Err(e.into()),
        };
        info!(order_id = %id, round, status = closed.status.as_str(), "round closed");
        self.announce_round(&closed, &order.offers).await;
        Ok(RoundTimerOutcome::Closed(closed.status))
    }

    async fn schedule_close(&self, order: &Order) -> Result<(), AppError> {
        let timer = RoundTimer {
            order_id: order.id.clone(),
            round: order.round,
        };
        self.timers
            .schedule_round_close(&timer, self.config.offer_window_ms)
            .await?;
        Ok(())
    }

    /// The next stores to offer to: best ranked, not yet tried, with a live
    /// connection.
    async fn choose_offers(
        &self,
        items: &[DemandItem],
        location: GeoPoint,
        tried: &[StoreId],
        wanted: Option<DeliveryKind>,
    ) -> Result<Vec<Offer>, AppError> {
        let ranges = search_plan(location, self.config.radius_m, self.config.max_geo_queries);
        let mut stores = Vec::new();
        for category in demand_categories(items) {
            stores.extend(self.storage.stores_in_ranges(&category, &ranges).await?.stores);
        }
        let ranked = rank_candidates(items, location, self.config.radius_m, stores, tried);
        let mut offers = Vec::with_capacity(self.config.stores_per_round);
        for candidate in ranked {
            if offers.len() == self.config.stores_per_round {
                break;
            }
            if wanted.is_some_and(|kind| kind.among(&candidate.store.delivery_options).is_none()) {
                continue;
            }
            let owner = Caller::Store(candidate.store.id.clone());
            if self.storage.connections_of(&owner).await?.is_empty() {
                continue;
            }
            offers.push(Offer {
                language: candidate.store.language,
                delivery_options: candidate.store.delivery_options,
                store_id: candidate.store.id,
                // Whole metres are plenty; the cast cannot overflow within 20 km.
                distance_m: candidate.distance_m.round() as u32,
            });
        }
        Ok(offers)
    }

    /// Tells everyone what a newly written round (or end) means for them:
    /// the previous round's stores that their offer lapsed, the new stores
    /// their offer, the customer the state.
    async fn announce_round(&self, order: &Order, previous: &[Offer]) {
        let pushes = self.round_pushes(order, previous);
        self.push_all(order, pushes).await;
    }

    /// The pushes a newly written round (or end) makes.
    fn round_pushes(&self, order: &Order, previous: &[Offer]) -> Vec<(Caller, EventBody)> {
        let mut pushes = Vec::new();
        for offer in previous {
            pushes.push((Caller::Store(offer.store_id.clone()), EventBody::OfferExpired));
        }
        let customer = Caller::Customer(order.customer_id.clone());
        let view = CustomerOrderView::of(order);
        match order.status {
            OrderStatus::Searching => {
                for offer in &order.offers {
                    if let Some(view) = OfferView::of(order, &offer.store_id) {
                        pushes.push((Caller::Store(offer.store_id.clone()), EventBody::Offer { offer: view }));
                    }
                }
                pushes.push((customer, EventBody::OrderSearching { order: view }));
            }
            _ => pushes.push((customer, EventBody::OrderUnfulfilled { order: view })),
        }
        pushes
    }

    // ---- connections and pushes ----------------------------------------

    /// Records a new socket for its owner.
    pub async fn connect(&self, id: ConnectionId, owner: Caller) -> Result<(), AppError> {
        let connection = Connection {
            id,
            owner,
            connected_at_ms: self.now(),
        };
        self.storage.put_connection(&connection).await?;
        Ok(())
    }

    /// Forgets a closed socket.
    pub async fn disconnect(&self, id: &ConnectionId) -> Result<(), AppError> {
        self.storage.delete_connection(id).await?;
        Ok(())
    }

    /// Who owns a live socket.
    pub async fn connection_owner(&self, id: &ConnectionId) -> Result<Option<Caller>, AppError> {
        Ok(self.storage.get_connection(id).await?.map(|c| c.owner))
    }

    /// Pushes a store's open offers again to one of its sockets (after a
    /// reconnect). Returns how many were sent.
    pub async fn resend_offers(&self, connection: &ConnectionId, store_id: &StoreId) -> Result<usize, AppError> {
        let orders = self.storage.open_offers_for_store(store_id, self.now()).await?;
        let mut sent = 0;
        for order in &orders {
            let Some(view) = OfferView::of(order, store_id) else {
                continue;
            };
            let event = PushEvent::new(&order.id, order.version, EventBody::Offer { offer: view });
            if self.push_to_connection(connection, &event).await {
                sent += 1;
            }
        }
        Ok(sent)
    }

    async fn push_all(&self, order: &Order, pushes: Vec<(Caller, EventBody)>) {
        let sends = pushes.into_iter().map(|(owner, body)| {
            let event = PushEvent::new(&order.id, order.version, body);
            async move { self.push_to_owner(&owner, &event).await }
        });
        join_all(sends).await;
    }

    /// Pushes to every socket of `owner`. Failures are logged, not returned:
    /// the state is already written and apps re-read it on reconnect.
    async fn push_to_owner(&self, owner: &Caller, event: &PushEvent) {
        let connections = match self.storage.connections_of(owner).await {
            Ok(c) => c,
            Err(e) => {
                warn!(error = %e, "could not look up connections for a push");
                return;
            }
        };
        join_all(connections.iter().map(|c| self.push_to_connection(c, event))).await;
    }

    async fn push_to_connection(&self, connection: &ConnectionId, event: &PushEvent) -> bool {
        let payload = match serde_json::to_string(event) {
            Ok(p) => p,
            Err(e) => {
                warn!(error = %e, "could not serialise a push");
                return false;
            }
        };
        match self.pusher.push(connection, &payload).await {
            Ok(()) => true,
            Err(PushError::Gone) => {
                // Stale: forget this connection only, and carry on.
                if let Err(e) = self.storage.delete_connection(connection).await {
                    warn!(error = %e, "could not delete a gone connection");
                }
                false
            }
            Err(PushError::Failed(e)) => {
                warn!(error = %e, connection = %connection, "push failed");
                false
            }
        }
    }
}

/// Whole seconds from `now` until `then`, at least 1 (for `Retry-After`).
fn seconds_until(now: Millis, then: Millis) -> u64 {
    u64::try_from((then - now).max(0)).unwrap_or(0).div_ceil(1000).max(1)
}

fn require_store(caller: &Caller, id: &StoreId) -> Result<(), AppError> {
    match caller {
        Caller::Store(own) if own == id => Ok(()),
        _ => Err(AppError::Forbidden),
    }
}
