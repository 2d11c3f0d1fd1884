//! Ordering and routing: placing an order, offering it round by round to
//! the nearest fitting stores, acceptance, declines, cancellation, a winner
//! giving it back. Every change is decided by [`Order::decide`] and written
//! only over the version it was decided on.

use std::sync::{Mutex, MutexGuard, PoisonError};

use h3o::CellIndex;
use tracing::{info, warn};

use super::connections::{Notifier, Presence};
use super::notices::Notices;
use super::stock::{ChangeWritten, tell_stock, write_change};
use super::{Followup, MAX_WRITE_ATTEMPTS, Unavailable, kept_changing, unavailable_from_ports};
use crate::domain::clock::{Clock, Millis};
use crate::domain::config::OrderingConfig;
use crate::domain::demand::{DemandItem, demand_categories};
use crate::domain::events::EventBody;
use crate::domain::geo::{GeoPoint, PARTITION_RESOLUTION, cells_covering, fine_crowd_items_near, search_plan};
use crate::domain::ids::{Caller, CustomerId, OrderId, StoreId};
use crate::domain::limits::{LimitReached, OrderLimits, Versioned};
use crate::domain::matching::{
    CrowdMap, CrowdMemory, ITEMS_PER_RANGE, RankedRead, ReadFound, StoresRead, cold_first_radius, enough_nearby,
    fine_counts_worth_reading, first_radius, first_radius_before_fine_counts, next_radius, rank_read,
    search_plan_by_crowd, search_radius_after,
};
use crate::domain::notification::NoticeKind;
use crate::domain::order::delivery::{
    DeliveryAddress, DeliveryChoice, DeliveryKind, TimeSlot, default_delivery_options,
};
use crate::domain::order::money::PaymentMethod;
use crate::domain::order::views::{CustomerOrderView, OfferView, RevealedStore};
use crate::domain::order::{
    Actor, Change, Decision, NO_STORE_ACCEPTED, NO_STORE_NEARBY, NewOrder, NextRound, Offer, Order, OrderStatus,
    Promise, Refusal, STORE_GAVE_BACK_NONE_LEFT,
};
use crate::domain::stock::OutOfStock;
use crate::payments::PaymentPorts;
use crate::ports::{
    ConnectionRepo, CustomerRepo, LimitRepo, NotificationRepo, OfferTimers, OrderRepo, Pusher, RoundTimer, StockRepo,
    StoreRepo,
};

/// Candidates whose presence is read per batch, per store wanted: most
/// nearby stores are online, so one batch nearly always suffices.
const PRESENCE_BATCH_FACTOR: usize = 4;

/// Searching orders a guest may have at once.
const GUEST_MAX_OPEN_ORDERS: usize = 1;

/// Placing orders and routing them to stores.
pub struct Ordering<'a, R, Q, P> {
    pub(super) repo: &'a R,
    pub(super) timers: &'a Q,
    pub(super) notifier: Notifier<'a, R, P>,
    pub(super) notices: Notices<'a, R>,
    pub(super) config: &'a OrderingConfig,
    pub(super) payments: &'a PaymentPorts,
    pub(super) clock: &'a dyn Clock,
    pub(super) crowds: &'a Mutex<CrowdMemory>,
}

/// What the customer asks for.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderRequest {
    pub items: Vec<DemandItem>,
    pub location: GeoPoint,
    /// Chosen with the order: only stores offering that kind are matched.
    pub delivery: Option<(DeliveryKind, Option<TimeSlot>)>,
    pub payment: PaymentMethod,
    /// Where to bring it (checked); only the winning store sees it.
    pub address: Option<DeliveryAddress>,
}

#[derive(Debug, thiserror::Error)]
pub enum PlaceOrderError {
    #[error("{} is not taken yet", .0.as_str())]
    UnsupportedPayment(PaymentMethod),
    /// The delivery chosen with the order is not possible.
    #[error(transparent)]
    Refused(Refusal),
    /// Over a limit: try again later.
    #[error(transparent)]
    Limited(LimitReached),
    #[error(transparent)]
    Unavailable(#[from] Unavailable),
}

#[derive(Debug, thiserror::Error)]
pub enum ReadOrderError {
    /// No such order, or another customer's (the same answer: no leak).
    #[error("order not found")]
    NotFound,
    #[error(transparent)]
    Unavailable(#[from] Unavailable),
}

#[derive(Debug, thiserror::Error)]
pub enum AcceptError {
    #[error("store not found")]
    UnknownStore,
    /// A pending or suspended store cannot accept.
    #[error("this store is not active")]
    NotActive,
    #[error(transparent)]
    Refused(Refusal),
    /// The store's own counts cannot cover the order.
    #[error(transparent)]
    OutOfStock(OutOfStock),
    #[error(transparent)]
    Unavailable(#[from] Unavailable),
}

/// Declining and giving back fail the same ways.
#[derive(Debug, thiserror::Error)]
pub enum StoreRoutingError {
    /// Giving back an order the store was never offered (or none).
    #[error("order not found")]
    NotFound,
    #[error(transparent)]
    Refused(Refusal),
    #[error(transparent)]
    Unavailable(#[from] Unavailable),
}

#[derive(Debug, thiserror::Error)]
pub enum CancelError {
    #[error("order not found")]
    NotFound,
    #[error(transparent)]
    Refused(Refusal),
    #[error(transparent)]
    Unavailable(#[from] Unavailable),
}

unavailable_from_ports!(
    PlaceOrderError,
    ReadOrderError,
    AcceptError,
    StoreRoutingError,
    CancelError
);

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

impl<'a, R, Q, P> Ordering<'a, R, Q, P>
where
    R: StoreRepo + OrderRepo + LimitRepo + ConnectionRepo + CustomerRepo + StockRepo + NotificationRepo,
    Q: OfferTimers,
    P: Pusher,
{
    fn now(&self) -> Millis {
        self.clock.now_ms()
    }

    /// Held only for a lookup or an insert, never across an await.
    fn crowd_memory(&self) -> MutexGuard<'_, CrowdMemory> {
        self.crowds.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Opens an order and alerts the first round of stores. The customer's
    /// allowance is read while stores are matched, decided in the domain,
    /// and written with the order in one atomic write, so concurrent orders
    /// cannot pass a limit together: a lost race decides again.
    ///
    /// The order is written under `id`, which a retry of the same placement
    /// (the same idempotency key) carries again: a retry whose first
    /// attempt wrote the order but was told it failed finds that order
    /// (listed in the allowance it reads anyway, or refused as an id taken)
    /// and answers with it, telling its stores again, instead of placing a
    /// second one.
    pub async fn place(
        &self,
        customer: &CustomerId,
        request: OrderRequest,
        id: OrderId,
    ) -> Result<Order, PlaceOrderError> {
        let (order, followup) = self.place_then(customer, request, id).await?;
        followup.run().await;
        Ok(order)
    }

    /// As [`Self::place`], answering once the order is written, with the
    /// alerts to its stores and customer left to run after the answer.
    pub async fn place_then(
        &self,
        customer: &CustomerId,
        request: OrderRequest,
        id: OrderId,
    ) -> Result<(Order, Followup<'a>), PlaceOrderError> {
        self.place_routed(customer, request, id, None).await
    }

    /// Places an order that answers a store's promotion: that store alone
    /// is alerted in round 1 (if it can still trade and offers the kind of
    /// delivery chosen; else the order is matched as any other), bound by
    /// the price it promised, and later rounds go to the nearest others as
    /// usual.
    pub async fn place_answering(
        &self,
        customer: &CustomerId,
        request: OrderRequest,
        id: OrderId,
        promise: Promise,
    ) -> Result<Order, PlaceOrderError> {
        let (order, followup) = self.place_routed(customer, request, id, Some(promise)).await?;
        followup.run().await;
        Ok(order)
    }

    async fn place_routed(
        &self,
        customer: &CustomerId,
        request: OrderRequest,
        id: OrderId,
        promise: Option<Promise>,
    ) -> Result<(Order, Followup<'a>), PlaceOrderError> {
        let first = promise.as_ref().map(|p| &p.store_id);
        let now = self.now();
        if self.payments.for_method(request.payment).is_none() {
            return Err(PlaceOrderError::UnsupportedPayment(request.payment));
        }
        // A delivery chosen with the order holds the defaults' terms until a
        // store wins; only stores that offer that kind are matched.
        let delivery = request
            .delivery
            .map(|(kind, slot)| {
                let option = kind
                    .among(&default_delivery_options())
                    .ok_or(Refusal::DeliveryNotOffered(kind))?;
                Ok::<_, Refusal>(DeliveryChoice::new(option, slot, now)?)
            })
            .transpose()
            .map_err(PlaceOrderError::Refused)?;
        let wanted = delivery.as_ref().map(|d| d.option.kind());
        let customer_sockets = Caller::Customer(customer.clone());
        // Read together: the allowance, the stores, and (for guest ids
        // only) whether the guest has verified a number.
        let (allowance, chosen, limits) = futures_util::join!(
            self.repo.order_allowance(customer),
            // Boxed, as are the other matching futures below: matching nests
            // deep (rounds, radii, batches), and a debug build's stack is small.
            Box::pin(self.first_round(first, &request.items, request.location, wanted, &customer_sockets)),
            self.limits_for(customer)
        );
        let (mut allowance, (offers, presence, radius), limits) = (allowance?, chosen?, limits?);
        if allowance.value.admitted(&id)
            && let Some(order) = self.placed_before(customer, &id).await?
        {
            return Ok((order, Followup::none()));
        }
        let new = NewOrder {
            id,
            customer_id: customer.clone(),
            items: request.items,
            location: request.location,
            delivery,
            payment: request.payment,
            address: request.address,
        };
        let window_ms = self.round_window_ms(&offers, &presence);
        let order = Order::open(new, offers, now, window_ms)
            .searched_within(radius)
            .promised(promise);
        let searching = order.status() == OrderStatus::Searching;
        // An order that found nobody never counts as open.
        let until_ms = if searching {
            now + self.config.longest_search_ms()
        } else {
            now
        };
        let mut timer_sent = false;
        for _ in 0..MAX_WRITE_ATTEMPTS {
            let still_searching = if allowance.value.at_open_limit(now, limits) {
                Some(self.still_searching(&allowance.value.possibly_open(now)).await?)
            } else {
                None
            };
            let admitted = allowance
                .value
                .admit(order.id(), until_ms, now, limits, still_searching.as_deref())
                .map_err(PlaceOrderError::Limited)?;
            if searching && !timer_sent {
                // The timer goes first: if the order write then fails, the
                // timer finds no order and does nothing; the reverse order
                // could leave an order no timer ever closes.
                self.schedule_close(&order).await?;
                timer_sent = true;
            }
            let write = Versioned {
                value: admitted,
                version: allowance.version,
            };
            let inserted = match self.repo.insert_order(&order, &write).await {
                Ok(inserted) => inserted,
                // Unsettled, or the id is taken: by this placement's own
                // earlier attempt if the order stored under it is ours.
                Err(e) => match self.placed_before(customer, order.id()).await {
                    Ok(Some(placed)) => return Ok((placed, Followup::none())),
                    _ => return Err(Unavailable::from(e).into()),
                },
            };
            if inserted {
                info!(order_id = %order.id(), stores = order.offers().len(), "order opened");
                let (notifier, notices, told) = (self.notifier, self.notices, order.clone());
                let followup = Followup::new(async move {
                    futures_util::join!(
                        notifier.tell_knowing(&told, round_pushes(&told, &[]), &presence),
                        notices.alert_offline_stores(&told, &presence)
                    );
                });
                return Ok((order, followup));
            }
            allowance = self.repo.order_allowance(customer).await?;
        }
        Err(kept_changing().into())
    }

    /// The order an earlier attempt of this placement wrote under `id`, if
    /// any, its placement's pushes sent again (its answer, and maybe its
    /// pushes, were lost with that attempt); they are sent only while the
    /// order is as placed: a later change told everyone what it changed.
    async fn placed_before(&self, customer: &CustomerId, id: &OrderId) -> Result<Option<Order>, Unavailable> {
        let Some(order) = self.repo.get_order(id).await?.filter(|o| o.customer_id() == customer) else {
            return Ok(None);
        };
        info!(order_id = %id, "placement retried: the order was already written");
        if order.version() == 1 {
            self.notifier.tell(&order, round_pushes(&order, &[])).await;
        }
        Ok(Some(order))
    }

    /// Guests have proven nothing about who they are: one searching order
    /// at a time. A guest who verified a number (`POST /auth/upgrade`)
    /// keeps their id and is a known customer from then on: only guest ids
    /// pay the read that tells.
    async fn limits_for(&self, customer: &CustomerId) -> Result<OrderLimits, Unavailable> {
        let unverified_guest = customer.is_guest() && self.repo.phone_of(customer).await?.is_none();
        let max_open = if unverified_guest {
            self.config.max_open_orders.min(GUEST_MAX_OPEN_ORDERS)
        } else {
            self.config.max_open_orders
        };
        Ok(OrderLimits {
            max_open,
            per_minute: self.config.max_orders_per_minute,
        })
    }

    /// Which of `ids` are still searching, with their current deadlines.
    async fn still_searching(&self, ids: &[OrderId]) -> Result<Vec<(OrderId, Millis)>, Unavailable> {
        Ok(self
            .repo
            .get_orders(ids)
            .await?
            .into_iter()
            .filter(|o| o.status() == OrderStatus::Searching)
            .map(|o| (o.id().clone(), o.deadline_ms()))
            .collect())
    }

    /// The customer's own order. A round that may close (its deadline has
    /// passed, or every store declined) is closed here too, so a lost timer
    /// message cannot strand an order.
    pub async fn customer_order(&self, customer: &CustomerId, id: &OrderId) -> Result<Order, ReadOrderError> {
        let order = self.owned_by(customer, id).await?;
        if order.status() == OrderStatus::Searching && order.round_may_close(self.now()) {
            self.close_round(id, order.round()).await?;
            return self.owned_by(customer, id).await;
        }
        Ok(order)
    }

    async fn owned_by(&self, customer: &CustomerId, id: &OrderId) -> Result<Order, ReadOrderError> {
        match self.repo.get_order(id).await? {
            // Another customer's order is reported as missing: no existence leak.
            Some(order) if order.customer_id() == customer => Ok(order),
            _ => Err(ReadOrderError::NotFound),
        }
    }

    /// A store accepts an offer, telling everyone before it answers
    /// ([`Self::accept_then`] answers first).
    pub async fn accept(&self, store_id: &StoreId, order_id: &OrderId) -> Result<Order, AcceptError> {
        let (order, followup) = self.accept_then(store_id, order_id).await?;
        followup.run().await;
        Ok(order)
    }

    /// A store accepts an offer: the store's name and the order are read
    /// together, and one conditional write decides the winner. The store's
    /// standing comes with the profile read it needs anyway (for its name),
    /// so refusing a pending or suspended store costs no round trip.
    /// Answers once the write has landed, with what is left to do:
    /// telling the customer, the winner and the losers, the store's counts
    /// and speed, the receipt (the winner's answer needs none of it).
    pub async fn accept_then(
        &self,
        store_id: &StoreId,
        order_id: &OrderId,
    ) -> Result<(Order, Followup<'a>), AcceptError> {
        // The store's counts come with the same round trip: an accept that
        // wins holds stock in the write that wins.
        let (store, order, stock) = futures_util::join!(
            self.repo.get_store(store_id),
            self.repo.get_order(order_id),
            self.repo.stock(store_id)
        );
        let store = store?.ok_or(AcceptError::UnknownStore)?;
        if !store.is_active() {
            return Err(AcceptError::NotActive);
        }
        let mut read = order?;
        let mut stock = Some(stock?);
        let mut read_presence: Option<Presence> = None;
        let actor = Actor::Store(store_id.clone());
        let change = Change::Accept {
            store_name: store.name.clone(),
            store_location: Some(store.location),
        };
        let (notifier, notices, repo) = (self.notifier, self.notices, self.repo);
        for _ in 0..MAX_WRITE_ATTEMPTS {
            // A store that was never offered must not learn the order exists.
            let current = read.take().ok_or(AcceptError::Refused(Refusal::NotOffered))?;
            let next = match current
                .decide(&actor, &change, self.now())
                .map_err(AcceptError::Refused)?
            {
                Decision::Apply(next) => *next,
                // The winner's retry: its first attempt won, but its answer
                // was lost. Everyone is told again; the speed was recorded
                // (or lost) with the first attempt and is not counted twice.
                Decision::AlreadyApplied => {
                    info!(order_id = %current.id(), store_id = %store_id, "offer accepted again by its winner");
                    let pushes = accepted_pushes(&current, store_id);
                    let told = current.clone();
                    // The receipt is claimed once per order and event, so
                    // asking again sends it only if the first attempt did not.
                    let followup = Followup::new(async move {
                        futures_util::join!(
                            notifier.tell(&told, pushes),
                            notices.receipt(&told, NoticeKind::Accepted)
                        );
                    });
                    return Ok((current, followup));
                }
            };
            let pushes = accepted_pushes(&next, store_id);
            // Whom to tell is known before the write: their sockets are read
            // in the same round trip as the write, so the losers hear it one
            // round trip after it lands, not two.
            let (written, presence) =
                futures_util::join!(write_change(self.repo, &current, &next, stock.take()), async {
                    match read_presence.take() {
                        Some(known) => known,
                        None => self.notifier.presence_of(pushes.iter().map(|(owner, _)| owner)).await,
                    }
                });
            let moved = match written? {
                ChangeWritten::Written(moved) => moved,
                ChangeWritten::OutOfStock(short) => return Err(AcceptError::OutOfStock(short)),
                ChangeWritten::Lost => {
                    read_presence = Some(presence);
                    read = self.repo.get_order(order_id).await?;
                    continue;
                }
            };
            info!(order_id = %next.id(), store_id = %store_id, "offer accepted");
            let took = u64::try_from(self.now() - next.round_opened_at(self.config.offer_window_ms)).unwrap_or(0);
            let told = next.clone();
            let winner = store_id.clone();
            let followup = Followup::new(async move {
                // How fast this store answered feeds its rank in later matches.
                let (recorded, (), (), ()) = futures_util::join!(
                    repo.record_acceptance(&winner, took),
                    notifier.tell_knowing(&told, pushes, &presence),
                    tell_stock(&notifier, moved),
                    notices.receipt(&told, NoticeKind::Accepted)
                );
                if let Err(e) = recorded {
                    warn!(error = %e, "could not record acceptance speed");
                }
            });
            return Ok((next, followup));
        }
        Err(kept_changing().into())
    }

    /// A store turns its offer down; it can no longer accept this order.
    pub async fn decline(&self, store_id: &StoreId, order_id: &OrderId) -> Result<Order, StoreRoutingError> {
        let actor = Actor::Store(store_id.clone());
        for _ in 0..MAX_WRITE_ATTEMPTS {
            let current = self
                .repo
                .get_order(order_id)
                .await?
                .ok_or(StoreRoutingError::Refused(Refusal::NotOffered))?;
            let now = self.now();
            let next = match current
                .decide(&actor, &Change::Decline, now)
                .map_err(StoreRoutingError::Refused)?
            {
                Decision::Apply(next) => *next,
                // A retry whose answer was lost: what follows runs again.
                Decision::AlreadyApplied => {
                    self.close_if_all_declined(&current, now).await;
                    return Ok(current);
                }
            };
            if self.repo.replace_order(&current, &next).await? {
                self.close_if_all_declined(&next, now).await;
                return Ok(next);
            }
        }
        Err(kept_changing().into())
    }

    /// Every store of the round said no: the round closes now, not at its
    /// deadline. Best effort: its timer (or the customer's next read)
    /// closes it if this fails.
    async fn close_if_all_declined(&self, order: &Order, now: Millis) {
        if order.status() == OrderStatus::Searching
            && order.round_may_close(now)
            && let Err(e) = Box::pin(self.close_round(order.id(), order.round())).await
        {
            warn!(order_id = %order.id(), error = %e, "could not close a round every store declined");
        }
    }

    /// The customer withdraws an order before packing starts; offered
    /// stores (or the winner) are told.
    pub async fn cancel(&self, customer: &CustomerId, id: &OrderId) -> Result<Order, CancelError> {
        let actor = Actor::Customer(customer.clone());
        for _ in 0..MAX_WRITE_ATTEMPTS {
            let current = self.repo.get_order(id).await?.ok_or(CancelError::NotFound)?;
            let next = match current.decide(&actor, &Change::Cancel, self.now()) {
                Ok(Decision::Apply(next)) => *next,
                // The customer's retry of a cancel that landed: tell again.
                Ok(Decision::AlreadyApplied) => {
                    self.notifier.tell(&current, cancelled_pushes(&current)).await;
                    return Ok(current);
                }
                Err(Refusal::NotOwner) => return Err(CancelError::NotFound),
                Err(refusal) => return Err(CancelError::Refused(refusal)),
            };
            let ChangeWritten::Written(moved) = write_change(self.repo, &current, &next, None).await? else {
                continue;
            };
            tell_stock(&self.notifier, moved).await;
            self.notifier.tell(&next, cancelled_pushes(&next)).await;
            return Ok(next);
        }
        Err(kept_changing().into())
    }

    /// Closes `round` of an order when it may close (its window has ended,
    /// or every store it offered declined): offers the next
    /// stores, or ends the order. Safe to call twice or late: a round that is
    /// already closed is left alone.
    pub async fn close_round(&self, id: &OrderId, round: u32) -> Result<RoundTimerOutcome, Unavailable> {
        for _ in 0..MAX_WRITE_ATTEMPTS {
            let Some(current) = self.repo.get_order(id).await? else {
                return Ok(RoundTimerOutcome::Stale);
            };
            let now = self.now();
            if current.status() != OrderStatus::Searching || current.round() != round {
                return Ok(RoundTimerOutcome::Stale);
            }
            if !current.round_may_close(now) {
                return Ok(RoundTimerOutcome::TooEarly {
                    remaining_ms: current.deadline_ms() - now,
                });
            }
            let (next_round, presence) = if round >= self.config.max_rounds {
                let end = NextRound::Unfulfilled {
                    reason: NO_STORE_ACCEPTED.to_string(),
                };
                (end, Presence::new())
            } else {
                let reason = if current.tried().is_empty() {
                    NO_STORE_NEARBY
                } else {
                    NO_STORE_ACCEPTED
                };
                Box::pin(self.next_round(&current, now, reason)).await?
            };
            let change = Change::CloseRound {
                round,
                next: next_round,
            };
            let Ok(Decision::Apply(next)) = current.decide(&Actor::Timer, &change, now) else {
                return Ok(RoundTimerOutcome::Stale);
            };
            // Timer before write, as for a new order; if the write then
            // loses, the extra timer finds a closed round and does nothing.
            self.schedule_close_if_searching(&current, &next).await?;
            if !self.repo.replace_order(&current, &next).await? {
                continue;
            }
            info!(order_id = %id, round, status = next.status().as_str(), "round closed");
            // The sockets matching read for the new stores are not read again.
            futures_util::join!(
                self.notifier
                    .tell_knowing(&next, round_pushes(&next, current.offers()), &presence),
                self.notices.alert_offline_stores(&next, &presence)
            );
            return Ok(RoundTimerOutcome::Closed(next.status()));
        }
        Err(kept_changing().into())
    }

    /// The winning store gives the order back with a reason: it goes back to
    /// routing, to the stores its round offered that did not decline and to
    /// stores not yet tried ([`Order::passed_over`]; timer first, then the
    /// write, as for every round).
    pub async fn give_back(
        &self,
        store: &StoreId,
        order_id: &OrderId,
        reason: &str,
    ) -> Result<Order, StoreRoutingError> {
        let actor = Actor::Store(store.clone());
        for _ in 0..MAX_WRITE_ATTEMPTS {
            let current = self
                .repo
                .get_order(order_id)
                .await?
                .ok_or(StoreRoutingError::NotFound)?;
            if !current.was_offered_to(store) {
                // Strangers learn nothing, as for every step after acceptance.
                return Err(StoreRoutingError::NotFound);
            }
            let now = self.now();
            let (next_round, presence) = Box::pin(self.next_round(&current, now, STORE_GAVE_BACK_NONE_LEFT)).await?;
            let change = Change::GiveBack {
                reason: reason.to_string(),
                next: next_round,
            };
            // A store that gave the order back is no longer its winner, so
            // its repeat is refused rather than already applied.
            let Decision::Apply(next) = current
                .decide(&actor, &change, now)
                .map_err(StoreRoutingError::Refused)?
            else {
                return Ok(current);
            };
            self.schedule_close_if_searching(&current, &next).await?;
            let ChangeWritten::Written(moved) = write_change(self.repo, &current, &next, None).await? else {
                continue;
            };
            tell_stock(&self.notifier, moved).await;
            info!(order_id = %next.id(), store_id = %store, "store gave the order back");
            let mut pushes = vec![(Caller::Store(store.clone()), EventBody::OfferWithdrawn)];
            pushes.extend(round_pushes(&next, &[]));
            futures_util::join!(
                self.notifier.tell_knowing(&next, pushes, &presence),
                self.notices.alert_offline_stores(&next, &presence)
            );
            return Ok(*next);
        }
        Err(kept_changing().into())
    }

    /// The next round for `order`: the next stores, or the end with
    /// `reason_if_none` when none is left; with the sockets matching read,
    /// for the pushes that follow.
    async fn next_round(
        &self,
        order: &Order,
        now: Millis,
        reason_if_none: &str,
    ) -> Result<(NextRound, Presence), Unavailable> {
        let radius = search_radius_after(
            self.config.radius_m,
            self.config.sparse_radii_m.as_slice(),
            order.search_radius_m(),
            order.offers().len(),
            self.config.stores_per_round,
        );
        let (offers, presence, radius) = self
            .choose_widening(
                &order.wanted_items(),
                order.location(),
                &order.passed_over(),
                order.wanted_delivery(),
                None,
                radius,
            )
            .await?;
        let next = if offers.is_empty() {
            NextRound::Unfulfilled {
                reason: reason_if_none.to_string(),
            }
        } else {
            NextRound::Offer {
                deadline_ms: now + self.round_window_ms(&offers, &presence),
                offers,
                search_radius_m: radius,
            }
        };
        Ok((next, presence))
    }

    /// The round's window: longer when it alerts a store by push
    /// ([`OrderingConfig::round_window_ms`]), i.e. offers a store with no
    /// live socket.
    fn round_window_ms(&self, offers: &[Offer], presence: &Presence) -> Millis {
        let by_push = offers.iter().any(|offer| {
            presence
                .get(&Caller::Store(offer.store_id.clone()))
                .is_none_or(Vec::is_empty)
        });
        self.config.round_window_ms(by_push)
    }

    async fn schedule_close_if_searching(&self, current: &Order, next: &Order) -> Result<(), Unavailable> {
        if next.status() == OrderStatus::Searching && next.round() != current.round() {
            self.schedule_close(next).await?;
        }
        Ok(())
    }

    async fn schedule_close(&self, order: &Order) -> Result<(), Unavailable> {
        let timer = RoundTimer {
            order_id: order.id().clone(),
            round: order.round(),
        };
        // The round's own window (longer when it alerted a store by push).
        let delay_ms = (order.deadline_ms() - self.now()).max(0);
        self.timers.schedule_round_close(&timer, delay_ms).await?;
        Ok(())
    }

    /// [`Self::choose_offers`] within `radius_m` (`None`: the configured
    /// radius), and while nobody is found there, within the next wider
    /// radius of sparse supply ([`search_radius_after`]), if any. Returns
    /// the radius searched last too (`None`: the configured one).
    async fn choose_widening(
        &self,
        items: &[DemandItem],
        location: GeoPoint,
        tried: &[StoreId],
        wanted: Option<DeliveryKind>,
        also: Option<&Caller>,
        mut radius_m: Option<u32>,
    ) -> Result<(Vec<Offer>, Presence, Option<u32>), Unavailable> {
        let base = self.config.radius_m;
        let mut presence = Presence::new();
        let mut also = also;
        loop {
            let searched = radius_m.map_or(base, f64::from);
            let (offers, read) =
                Box::pin(self.choose_offers(items, location, tried, wanted, also.take(), searched)).await?;
            presence.extend(read);
            // Nobody found: the next wider radius, if sparse supply has one.
            let wider = search_radius_after(base, self.config.sparse_radii_m.as_slice(), radius_m, 0, 1);
            if !offers.is_empty() || wider == radius_m {
                if radius_m.is_some() {
                    info!(
                        radius_m = searched,
                        stores = offers.len(),
                        "sparse supply: searched wider"
                    );
                }
                return Ok((offers, presence, radius_m));
            }
            radius_m = wider;
        }
    }

    /// Round 1's stores: `first` alone when it may be offered the order,
    /// else the usual choice.
    async fn first_round(
        &self,
        first: Option<&StoreId>,
        items: &[DemandItem],
        location: GeoPoint,
        wanted: Option<DeliveryKind>,
        customer: &Caller,
    ) -> Result<(Vec<Offer>, Presence, Option<u32>), Unavailable> {
        let store = match first {
            Some(id) => self.repo.get_store(id).await?,
            None => None,
        };
        let Some(store) = store.filter(|s| s.is_matchable() && s.delivers(wanted)) else {
            return self
                .choose_widening(items, location, &[], wanted, Some(customer), None)
                .await;
        };
        let owners = [Caller::Store(store.id.clone()), customer.clone()];
        let found = self.repo.connections_of_many(&owners).await?;
        let offer = store.offer(store.location.distance_m(location));
        Ok((vec![offer], owners.into_iter().zip(found).collect(), None))
    }

    /// The next stores to offer to: best ranked, not yet tried, offering
    /// the wanted kind of delivery, with a live connection. Stores are read
    /// near first (every category and range at once) and farther only while
    /// too few qualify near by or too few of those are online; whether
    /// candidates are online is read in batches, best first, with `also`'s
    /// sockets in the first batch (for the pushes that follow). Returns the
    /// offers and the sockets read.
    async fn choose_offers(
        &self,
        items: &[DemandItem],
        location: GeoPoint,
        tried: &[StoreId],
        wanted: Option<DeliveryKind>,
        also: Option<&Caller>,
        radius_m: f64,
    ) -> Result<(Vec<Offer>, Presence), Unavailable> {
        let wanted_count = self.config.stores_per_round;
        let categories = demand_categories(items);
        let mut presence = Presence::new();
        let mut also = also.cloned();
        let mut offers = Vec::with_capacity(wanted_count);
        let now = self.now();
        // The partitions the whole radius touches: their crowd maps size
        // every read of the match. Covered at the partitions' own coarse
        // resolution, not through the whole radius's search plan (hundreds
        // of fine cells on every match).
        let partitions = cells_covering(location, radius_m, PARTITION_RESOLUTION);
        // The crowd around the customer's point, worked out once for every
        // radius the match weighs: `None` until the map is recalled or
        // read, `Some(None)` where storage keeps no counts.
        let around = |crowd: &CrowdMap| crowd.near(location, radius_m);
        let mut crowd_here = self
            .crowd_memory()
            .recall_near(&categories, &partitions, now, location, radius_m);
        // Remembered: the first read sized at this very point. Not: the
        // smallest first read, and in the same round trip the crowd map that
        // sizes the next ones.
        let mut radii = vec![match &crowd_here {
            Some(near) => first_radius(radius_m, near.as_ref()),
            None => cold_first_radius(radius_m),
        }];
        // The fine counts around the customer's point size the small reads
        // of a crowded place. Where the maps are remembered but not those,
        // and the place is crowded, they are read beside the first read,
        // for the reads after it and the matches after this one.
        // Worked out only where they may be read: a place not known, or a
        // crowded one remembered.
        let fine_items = match &crowd_here {
            None => fine_crowd_items_near(location),
            Some(Some(_)) if fine_counts_worth_reading(radii[0]) => fine_crowd_items_near(location),
            Some(_) => Vec::new(),
        };
        let mut fine_missing = match &crowd_here {
            Some(Some(_)) if !fine_items.is_empty() => {
                self.crowd_memory().fine_items_missing(&categories, &fine_items, now)
            }
            _ => Vec::new(),
        };
        if !fine_missing.is_empty() {
            radii[0] = first_radius_before_fine_counts(radius_m, radii[0]);
        }
        // The map itself, for planning reads through its gaps: looked up
        // only where it matters (below).
        let mut crowd_map: Option<CrowdMap> = None;
        let mut step = 0;
        while let Some(&radius) = radii.get(step) {
            step += 1;
            // A read reads through the gaps the map expects to hold the
            // fewest items, not those of least area: beside a market, a gap
            // of little area can hold hundreds of its shops.
            if crowd_map.is_none()
                && let Some(Some(near)) = &crowd_here
                && near.plans_by_map(step == 1, radius)
            {
                crowd_map = self.crowd_memory().recall(&categories, &partitions, now);
            }
            let ranges = match &crowd_map {
                Some(map) => search_plan_by_crowd(location, radius, self.config.max_geo_queries, map),
                None => search_plan(location, radius, self.config.max_geo_queries),
            };
            // The first read is sized by the map, and bounded for a crowd
            // far denser than it says; a wider one is read whole, to find
            // the stores a demand needs wherever they are within it.
            let per_range = if step == 1 { ITEMS_PER_RANGE } else { usize::MAX };
            let reads = futures_util::future::join_all(
                categories
                    .iter()
                    .map(|c| self.repo.stores_in_ranges(c, &ranges, per_range)),
            );
            let reads = if crowd_here.is_none() {
                let (reads, map) =
                    futures_util::join!(reads, self.crowd_map(&categories, &partitions, &fine_items, now));
                crowd_here = Some(around(&map));
                crowd_map = map.is_known().then_some(map);
                reads
            } else if !fine_missing.is_empty() {
                let (reads, ()) = futures_util::join!(reads, self.fine_crowd_map(&categories, &fine_missing));
                fine_missing.clear();
                if let Some(refined) =
                    self.crowd_memory()
                        .recall_near(&categories, &partitions, now, location, radius_m)
                {
                    crowd_here = Some(refined);
                }
                crowd_map = None;
                reads
            } else {
                reads.await
            };
            let (mut stores, mut unread) = (Vec::new(), Vec::new());
            for read in reads {
                let read = read?;
                stores.extend(read.stores);
                unread.extend(read.unread);
            }
            // A read crowded beyond what the map expected is remembered,
            // to size the next first reads near it.
            let read = StoresRead::measure(location, stores);
            if let Some(Some(near)) = &crowd_here {
                let expected = near.items_within(radius);
                self.crowd_memory().remember_seen(&read, radius, expected, now);
            }
            // A read cut short ranks the stores where it read everything,
            // or, where too few lie there, as read.
            let RankedRead {
                candidates,
                items: found_items,
                cut_short,
            } = rank_read(items, radius, &unread, read, tried, wanted, wanted_count);
            // How far to read next is decided by the map and this read; a
            // read cut short with too few is read again whole.
            if let Some(near) = &crowd_here
                && radius < radius_m
            {
                let found = ReadFound {
                    items: found_items,
                    candidates: candidates.len(),
                };
                radii.push(next_radius(radius_m, near.as_ref(), radius, found, wanted_count));
            } else if cut_short && !enough_nearby(candidates.len(), wanted_count) {
                radii.push(radius);
            }
            let widest = step == radii.len();
            if !widest && !enough_nearby(candidates.len(), wanted_count) {
                continue;
            }
            // Chosen afresh from this read: a wider read ranks every store again.
            offers.clear();
            let batch = (wanted_count * PRESENCE_BATCH_FACTOR).max(1);
            for chunk in candidates.chunks(batch) {
                let mut owners: Vec<Caller> = chunk
                    .iter()
                    .map(|c| Caller::Store(c.store.id.clone()))
                    .filter(|owner| !presence.contains_key(owner))
                    .collect();
                owners.extend(also.take());
                // Whether their counts cover the demand is read in the same
                // round trip as whether they are online.
                let ids: Vec<StoreId> = chunk.iter().map(|c| c.store.id.clone()).collect();
                let (found, stocks) = futures_util::join!(
                    async {
                        if owners.is_empty() {
                            Ok(Vec::new())
                        } else {
                            self.repo.connections_of_many(&owners).await
                        }
                    },
                    self.repo.stocks_of_many(&ids)
                );
                presence.extend(owners.into_iter().zip(found?));
                let stocks = stocks?;
                // Open stores whose app is closed, reachable by push (when
                // that is on): read in one batch per chunk.
                let offline: Vec<StoreId> = ids
                    .iter()
                    .filter(|id| presence.get(&Caller::Store((*id).clone())).is_none_or(Vec::is_empty))
                    .cloned()
                    .collect();
                let by_push = self.notices.reachable_by_push(&offline).await?;
                for (candidate, stock) in chunk.iter().zip(&stocks) {
                    if offers.len() == wanted_count {
                        break;
                    }
                    let owner = Caller::Store(candidate.store.id.clone());
                    let reachable =
                        presence.get(&owner).is_some_and(|c| !c.is_empty()) || by_push.contains(&candidate.store.id);
                    if !reachable || !stock.covers(items) {
                        continue;
                    }
                    offers.push(candidate.store.offer(candidate.distance_m));
                }
                if offers.len() == wanted_count {
                    break;
                }
            }
            if offers.len() == wanted_count {
                break;
            }
            // Too few offered from the whole radius, read cut short: the
            // stores it left unread are weighed too.
            if cut_short && step == radii.len() {
                radii.push(radius);
            }
        }
        if let Some(also) = also {
            let found = self.repo.connections_of_many(std::slice::from_ref(&also)).await?;
            presence.extend(std::iter::once(also).zip(found));
        }
        Ok((offers, presence))
    }

    /// The crowd map of `categories` over `partitions`, with the fine counts
    /// of `fine_items`, remembered for the matches after this one. Only a
    /// hint for how far to read: when it cannot be read the match goes on
    /// without it (and it is not remembered, so the next match tries
    /// again).
    async fn crowd_map(
        &self,
        categories: &[String],
        partitions: &[CellIndex],
        fine_items: &[CellIndex],
        now: Millis,
    ) -> CrowdMap {
        let maps = categories
            .iter()
            .map(|c| self.repo.crowd_map(c, partitions, fine_items));
        let mut read = Vec::with_capacity(categories.len());
        for (category, map) in categories.iter().zip(futures_util::future::join_all(maps).await) {
            match map {
                Ok(map) => read.push((category, map)),
                Err(e) => {
                    warn!(error = %e, "crowd map unread: the match reads as if it were unknown");
                    return CrowdMap::default();
                }
            }
        }
        let mut memory = self.crowd_memory();
        let mut crowd = CrowdMap::default();
        for (category, map) in read {
            memory.remember(category, partitions, &map, now);
            crowd.merge(&map);
        }
        crowd
    }

    /// The fine counts of `fine_items` for `categories`, added to their
    /// remembered maps. A hint too: when they cannot be read, the maps go
    /// on without them.
    async fn fine_crowd_map(&self, categories: &[String], fine_items: &[CellIndex]) {
        let maps = categories.iter().map(|c| self.repo.crowd_map(c, &[], fine_items));
        for (category, map) in categories.iter().zip(futures_util::future::join_all(maps).await) {
            match map {
                Ok(map) => self.crowd_memory().remember_fine(category, &map),
                Err(e) => warn!(error = %e, "fine crowd counts unread: the map goes on without them"),
            }
        }
    }
}

/// An acceptance told: the customer who won a store, the store that won,
/// the round's other stores that the offer is taken.
fn accepted_pushes(order: &Order, winner: &StoreId) -> Vec<(Caller, EventBody)> {
    let mut pushes = Vec::new();
    if let Some(w) = order.winner() {
        let revealed = RevealedStore::of(w);
        pushes.push((
            Caller::Customer(order.customer_id().clone()),
            EventBody::OrderAccepted {
                store: revealed,
                order: CustomerOrderView::of(order),
            },
        ));
    }
    pushes.push((Caller::Store(winner.clone()), EventBody::OfferWon));
    for offer in order.offers().iter().filter(|o| &o.store_id != winner) {
        pushes.push((Caller::Store(offer.store_id.clone()), EventBody::OfferTaken));
    }
    pushes
}

/// A cancellation told: the customer, and the winner (cancelled after
/// acceptance, before packing: only the winner cares) or the round's stores.
fn cancelled_pushes(order: &Order) -> Vec<(Caller, EventBody)> {
    let mut pushes = vec![(
        Caller::Customer(order.customer_id().clone()),
        EventBody::OrderCancelled {
            order: CustomerOrderView::of(order),
        },
    )];
    match order.winner() {
        Some(winner) => pushes.push((Caller::Store(winner.store_id.clone()), EventBody::OfferWithdrawn)),
        None => {
            for offer in order.offers() {
                pushes.push((Caller::Store(offer.store_id.clone()), EventBody::OfferWithdrawn));
            }
        }
    }
    pushes
}

/// What a newly written round (or end) means for everyone: the previous
/// round's stores that their offer lapsed, the new stores their offer, the
/// customer the state.
fn round_pushes(order: &Order, previous: &[Offer]) -> Vec<(Caller, EventBody)> {
    let mut pushes = Vec::new();
    for offer in previous {
        pushes.push((Caller::Store(offer.store_id.clone()), EventBody::OfferExpired));
    }
    let customer = Caller::Customer(order.customer_id().clone());
    let view = CustomerOrderView::of(order);
    match order.status() {
        OrderStatus::Searching => {
            for offer in order.offers() {
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
