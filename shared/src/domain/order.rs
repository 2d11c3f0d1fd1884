//! The order and its state machine: offer rounds, acceptance, expiry,
//! cancellation. Every change is a [`Transition`] checked by
//! [`Order::apply`]; storage adapters apply it as one conditional write.

use serde::{Deserialize, Serialize};

use super::clock::Millis;
use super::demand::DemandItem;
use super::demand::Language;
use super::fulfilment::{Bill, Complaint, DeliveryChoice, LineState, PaymentMethod, Review, StoreCancellation};
use super::geo::GeoPoint;
use super::ids::{CustomerId, OrderId, StoreId};
use super::store::{DeliveryOption, default_delivery_options};

/// Where an order stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderStatus {
    /// Offered to a round of stores; none has accepted yet.
    Searching,
    /// A store won it.
    Accepted,
    /// The store is packing it.
    Preparing,
    /// Packed; the customer collects it.
    ReadyForPickup,
    /// Packed; a helper is bringing it.
    OutForDelivery,
    /// Delivered or collected; the bill is fixed.
    Completed,
    /// The customer withdrew it while searching.
    Cancelled,
    /// No store accepted within the allowed rounds, or none was left.
    Unfulfilled,
}

impl OrderStatus {
    pub const ALL: &'static [OrderStatus] = &[
        OrderStatus::Searching,
        OrderStatus::Accepted,
        OrderStatus::Preparing,
        OrderStatus::ReadyForPickup,
        OrderStatus::OutForDelivery,
        OrderStatus::Completed,
        OrderStatus::Cancelled,
        OrderStatus::Unfulfilled,
    ];

    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            OrderStatus::Searching => "searching",
            OrderStatus::Accepted => "accepted",
            OrderStatus::Preparing => "preparing",
            OrderStatus::ReadyForPickup => "ready_for_pickup",
            OrderStatus::OutForDelivery => "out_for_delivery",
            OrderStatus::Completed => "completed",
            OrderStatus::Cancelled => "cancelled",
            OrderStatus::Unfulfilled => "unfulfilled",
        }
    }
}

/// One store's offer in the current round.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Offer {
    pub store_id: StoreId,
    /// Rounded distance from the customer, for the store to decide.
    pub distance_m: u32,
    /// The language the offer is spoken in at this store.
    #[serde(default = "super::store::default_store_language")]
    pub language: Language,
    /// The store's delivery terms when it was offered the order: accepting
    /// the offer accepts these, so later edits of the profile do not change
    /// an order already won.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub delivery_options: Vec<DeliveryOption>,
}

/// The store that won, as revealed to the customer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Winner {
    pub store_id: StoreId,
    pub store_name: String,
    pub accepted_at_ms: Millis,
}

/// An order and its routing state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Order {
    pub id: OrderId,
    pub customer_id: CustomerId,
    pub items: Vec<DemandItem>,
    pub location: GeoPoint,
    pub status: OrderStatus,
    /// 1-based round number; 0 when no round was ever opened.
    pub round: u32,
    /// When the current round's offers lapse (exclusive).
    pub deadline_ms: Millis,
    /// Stores offered in the current round.
    pub offers: Vec<Offer>,
    /// Every store offered in any round, so later rounds skip them.
    #[serde(default)]
    pub tried: Vec<StoreId>,
    /// Stores that declined their offer; they may no longer accept.
    #[serde(default)]
    pub declined: Vec<StoreId>,
    pub winner: Option<Winner>,
    /// Why the order ended when it is unfulfilled or cancelled.
    pub end_reason: Option<String>,
    pub created_at_ms: Millis,
    pub updated_at_ms: Millis,
    /// Grows by one with every change; pushes carry it.
    pub version: u64,
    /// The packing checklist, one state per demand line.
    #[serde(default)]
    pub packing: Vec<LineState>,
    #[serde(default)]
    pub delivery: Option<DeliveryChoice>,
    #[serde(default)]
    pub payment: PaymentMethod,
    /// Fixed at completion.
    #[serde(default)]
    pub bill: Option<Bill>,
    #[serde(default)]
    pub review: Option<Review>,
    #[serde(default)]
    pub complaint: Option<Complaint>,
    /// Stores that gave the order back after winning it.
    #[serde(default)]
    pub store_cancellations: Vec<StoreCancellation>,
    #[serde(default)]
    pub completed_at_ms: Option<Millis>,
    /// The secret half of the order's public share link, once its customer
    /// asked for one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub share_secret: Option<String>,
}

/// What happens when a round closes unanswered.
#[derive(Debug, Clone, PartialEq)]
pub enum NextRound {
    /// Offer to these stores until `deadline_ms`.
    Offer { offers: Vec<Offer>, deadline_ms: Millis },
    /// Give up, telling the customer why.
    Unfulfilled { reason: String },
}

/// A change to an order. Storage adapters turn each into one conditional
/// write whose condition is exactly what [`Order::apply`] checks.
#[derive(Debug, Clone, PartialEq)]
pub enum Transition {
    /// A store accepts: the order is searching, the store is offered in the
    /// current round, and the round's deadline has not passed.
    Accept {
        store_id: StoreId,
        store_name: String,
        now: Millis,
    },
    /// The timer of `round` fires: the order is still searching in that round
    /// and its deadline has passed.
    CloseRound { round: u32, now: Millis, next: NextRound },
    /// The customer withdraws the order while it is searching.
    Cancel { customer_id: CustomerId, now: Millis },
    /// A store turns its live offer down: the order is searching, the store
    /// is offered in the current round, the deadline has not passed, and it
    /// has not declined already.
    Decline { store_id: StoreId, now: Millis },
}

/// Why a transition was refused. The codes are part of the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("this store was not offered this order")]
    NotOffered,
    #[error("another store has already accepted this order")]
    OfferTaken,
    #[error("you have already accepted this order")]
    AlreadyAccepted,
    #[error("the acceptance window for this offer has closed")]
    OfferExpired,
    #[error("the customer cancelled this order")]
    OrderCancelled,
    #[error("the order can no longer be cancelled: packing has started or it has ended")]
    NotSearching,
    #[error("the round is not over yet")]
    RoundStillOpen,
    #[error("the timer belongs to a round that is already closed")]
    StaleRound,
    #[error("this order belongs to another customer")]
    NotOwner,
    #[error("you declined this offer")]
    OfferDeclined,
}

impl Refusal {
    #[must_use]
    pub fn code(self) -> &'static str {
        match self {
            Refusal::NotOffered => "not_offered",
            Refusal::OfferTaken => "offer_taken",
            Refusal::AlreadyAccepted => "already_accepted",
            Refusal::OfferExpired => "offer_expired",
            Refusal::OrderCancelled => "order_cancelled",
            Refusal::NotSearching => "not_searching",
            Refusal::RoundStillOpen => "round_still_open",
            Refusal::StaleRound => "stale_round",
            Refusal::NotOwner => "not_owner",
            Refusal::OfferDeclined => "offer_declined",
        }
    }
}

impl Order {
    /// A new order searching in round 1 with `offers`, or unfulfilled at once
    /// when there is nobody to offer it to.
    #[must_use]
    pub fn open(
        id: OrderId,
        customer_id: CustomerId,
        items: Vec<DemandItem>,
        location: GeoPoint,
        offers: Vec<Offer>,
        now: Millis,
        window_ms: Millis,
    ) -> Self {
        let searching = !offers.is_empty();
        Order {
            id,
            customer_id,
            items,
            location,
            status: if searching {
                OrderStatus::Searching
            } else {
                OrderStatus::Unfulfilled
            },
            round: u32::from(searching),
            deadline_ms: if searching { now + window_ms } else { now },
            tried: offers.iter().map(|o| o.store_id.clone()).collect(),
            declined: Vec::new(),
            offers,
            winner: None,
            end_reason: (!searching).then(|| NO_STORE_NEARBY.to_string()),
            created_at_ms: now,
            updated_at_ms: now,
            version: 1,
            packing: Vec::new(),
            delivery: None,
            payment: PaymentMethod::default(),
            bill: None,
            review: None,
            complaint: None,
            store_cancellations: Vec::new(),
            completed_at_ms: None,
            share_secret: None,
        }
    }

    /// The terms the winning store's offer carried; `None` before a store
    /// has won, or for an order stored before offers carried terms.
    fn winner_terms(&self) -> Option<&[DeliveryOption]> {
        let winner = self.winner.as_ref()?;
        let offer = self.offers.iter().find(|o| o.store_id == winner.store_id)?;
        (!offer.delivery_options.is_empty()).then_some(offer.delivery_options.as_slice())
    }

    /// The delivery terms the customer chooses from: the winning store's, as
    /// it accepted them, or the product's defaults before a store has won.
    #[must_use]
    pub fn delivery_terms(&self) -> Vec<DeliveryOption> {
        self.winner_terms()
            .map_or_else(default_delivery_options, <[DeliveryOption]>::to_vec)
    }

    /// The customer's delivery choice on the terms that apply now. A choice
    /// made while searching carries the defaults' minutes and fee; once a
    /// store has won, the same kind on that store's terms. `None` when the
    /// winner does not offer that kind: the customer chooses again.
    #[must_use]
    pub fn delivery_choice(&self) -> Option<DeliveryChoice> {
        let choice = self.delivery.as_ref()?;
        if self.winner.is_some() && self.winner_terms().is_none() {
            // Stored before offers carried terms: the choice was made on
            // the winner's own options then, so it stands as written.
            return Some(choice.clone());
        }
        let option = choice.option.kind().among(&self.delivery_terms())?;
        Some(DeliveryChoice {
            option,
            ..choice.clone()
        })
    }

    /// The kind of delivery the customer has chosen, which later rounds of
    /// matching keep to.
    #[must_use]
    pub fn wanted_delivery(&self) -> Option<super::store::DeliveryKind> {
        self.delivery.as_ref().map(|d| d.option.kind())
    }

    /// Whether `store_id` holds a live offer at `now`.
    #[must_use]
    pub fn is_offered_to(&self, store_id: &StoreId, now: Millis) -> bool {
        self.status == OrderStatus::Searching
            && now < self.deadline_ms
            && self.offers.iter().any(|o| &o.store_id == store_id)
            && !self.declined.contains(store_id)
    }

    /// The order after `transition`, or why it may not happen.
    pub fn apply(&self, transition: &Transition) -> Result<Order, Refusal> {
        let mut next = self.clone();
        match transition {
            Transition::Accept {
                store_id,
                store_name,
                now,
            } => {
                self.check_accept(store_id, *now)?;
                next.status = OrderStatus::Accepted;
                next.winner = Some(Winner {
                    store_id: store_id.clone(),
                    store_name: store_name.clone(),
                    accepted_at_ms: *now,
                });
                next.updated_at_ms = *now;
            }
            Transition::CloseRound { round, now, next: what } => {
                if self.status != OrderStatus::Searching || self.round != *round {
                    return Err(Refusal::StaleRound);
                }
                if *now < self.deadline_ms {
                    return Err(Refusal::RoundStillOpen);
                }
                match what {
                    NextRound::Offer { offers, deadline_ms } => {
                        next.round += 1;
                        next.deadline_ms = *deadline_ms;
                        next.tried.extend(offers.iter().map(|o| o.store_id.clone()));
                        next.offers = offers.clone();
                    }
                    NextRound::Unfulfilled { reason } => {
                        next.status = OrderStatus::Unfulfilled;
                        next.end_reason = Some(reason.clone());
                    }
                }
                next.updated_at_ms = *now;
            }
            Transition::Cancel { customer_id, now } => {
                if &self.customer_id != customer_id {
                    return Err(Refusal::NotOwner);
                }
                // Before packing starts, and only then.
                if !matches!(self.status, OrderStatus::Searching | OrderStatus::Accepted) {
                    return Err(Refusal::NotSearching);
                }
                next.status = OrderStatus::Cancelled;
                next.end_reason = Some("cancelled_by_customer".to_string());
                next.updated_at_ms = *now;
            }
            Transition::Decline { store_id, now } => {
                self.check_accept(store_id, *now)?;
                next.declined.push(store_id.clone());
                next.updated_at_ms = *now;
            }
        }
        next.version += 1;
        Ok(next)
    }

    /// The acceptance rule, with the most useful reason first. A store that
    /// was never offered the order learns nothing about its fate.
    fn check_accept(&self, store_id: &StoreId, now: Millis) -> Result<(), Refusal> {
        let ever_offered = self.tried.contains(store_id);
        if !ever_offered {
            return Err(Refusal::NotOffered);
        }
        match self.status {
            OrderStatus::Accepted
            | OrderStatus::Preparing
            | OrderStatus::ReadyForPickup
            | OrderStatus::OutForDelivery
            | OrderStatus::Completed => {
                let mine = self.winner.as_ref().is_some_and(|w| &w.store_id == store_id);
                Err(if mine {
                    Refusal::AlreadyAccepted
                } else {
                    Refusal::OfferTaken
                })
            }
            OrderStatus::Cancelled => Err(Refusal::OrderCancelled),
            OrderStatus::Unfulfilled => Err(Refusal::OfferExpired),
            OrderStatus::Searching if self.declined.contains(store_id) => Err(Refusal::OfferDeclined),
            OrderStatus::Searching if !self.is_offered_to(store_id, now) => Err(Refusal::OfferExpired),
            OrderStatus::Searching => Ok(()),
        }
    }
}

/// The reason given when no store within the radius can take the order.
pub const NO_STORE_NEARBY: &str = "no_store_nearby";
/// The reason given when every round ran out unanswered.
pub const NO_STORE_ACCEPTED: &str = "no_store_accepted";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::clock::{Clock, ManualClock};

    const WINDOW: Millis = 60_000;

    fn store(id: &str) -> StoreId {
        StoreId::new(id).expect("valid id")
    }

    fn offers(ids: &[&str]) -> Vec<Offer> {
        ids.iter()
            .map(|id| Offer {
                store_id: store(id),
                distance_m: 500,
                language: Language::En,
                delivery_options: Vec::new(),
            })
            .collect()
    }

    fn searching(clock: &ManualClock) -> Order {
        Order::open(
            OrderId::generate(),
            CustomerId::new("c1").expect("valid id"),
            vec![],
            GeoPoint::new(23.8, 90.4).expect("valid"),
            offers(&["a", "b", "c"]),
            clock.now_ms(),
            WINDOW,
        )
    }

    fn accept(id: &str, now: Millis) -> Transition {
        Transition::Accept {
            store_id: store(id),
            store_name: format!("Store {id}"),
            now,
        }
    }

    #[test]
    fn first_accept_within_the_window_wins_and_the_rest_are_refused() {
        let clock = ManualClock::at(1_000_000);
        let order = searching(&clock);
        clock.advance_ms(WINDOW - 1);
        let won = order.apply(&accept("b", clock.now_ms())).expect("b wins");
        assert_eq!(won.status, OrderStatus::Accepted);
        assert_eq!(won.version, order.version + 1);
        assert_eq!(won.apply(&accept("a", clock.now_ms())), Err(Refusal::OfferTaken));
        assert_eq!(won.apply(&accept("b", clock.now_ms())), Err(Refusal::AlreadyAccepted));
        assert_eq!(won.apply(&accept("z", clock.now_ms())), Err(Refusal::NotOffered));
    }

    #[test]
    fn an_accept_at_the_deadline_is_late_even_without_the_timer() {
        let clock = ManualClock::at(5_000);
        let order = searching(&clock);
        clock.advance_ms(WINDOW);
        assert_eq!(order.apply(&accept("a", clock.now_ms())), Err(Refusal::OfferExpired));
    }

    #[test]
    fn closing_a_round_moves_on_once_and_only_after_the_deadline() {
        let clock = ManualClock::at(0);
        let order = searching(&clock);
        let close = |now| Transition::CloseRound {
            round: 1,
            now,
            next: NextRound::Offer {
                offers: offers(&["d"]),
                deadline_ms: now + WINDOW,
            },
        };
        assert_eq!(order.apply(&close(WINDOW - 1)), Err(Refusal::RoundStillOpen));
        let round2 = order.apply(&close(WINDOW)).expect("closes");
        assert_eq!(round2.round, 2);
        assert_eq!(round2.tried.len(), 4);
        // The duplicate timer message changes nothing.
        assert_eq!(round2.apply(&close(WINDOW + 5)), Err(Refusal::StaleRound));
        // A store from round 1 is now late; the new one may accept.
        assert_eq!(round2.apply(&accept("a", WINDOW + 1)), Err(Refusal::OfferExpired));
        assert!(round2.apply(&accept("d", WINDOW + 1)).is_ok());
    }

    #[test]
    fn the_last_round_ends_unfulfilled() {
        let order = searching(&ManualClock::at(0));
        let ended = order
            .apply(&Transition::CloseRound {
                round: 1,
                now: WINDOW,
                next: NextRound::Unfulfilled {
                    reason: NO_STORE_ACCEPTED.into(),
                },
            })
            .expect("closes");
        assert_eq!(ended.status, OrderStatus::Unfulfilled);
        assert_eq!(ended.apply(&accept("a", WINDOW)), Err(Refusal::OfferExpired));
    }

    #[test]
    fn only_the_owner_cancels_and_only_while_searching() {
        let order = searching(&ManualClock::at(0));
        let other = Transition::Cancel {
            customer_id: CustomerId::new("c2").expect("valid"),
            now: 1,
        };
        assert_eq!(order.apply(&other), Err(Refusal::NotOwner));
        let cancel = Transition::Cancel {
            customer_id: CustomerId::new("c1").expect("valid"),
            now: 1,
        };
        let cancelled = order.apply(&cancel).expect("cancels");
        assert_eq!(cancelled.status, OrderStatus::Cancelled);
        assert_eq!(cancelled.apply(&cancel), Err(Refusal::NotSearching));
        assert_eq!(cancelled.apply(&accept("a", 2)), Err(Refusal::OrderCancelled));
    }

    #[test]
    fn a_store_that_declines_can_no_longer_accept() {
        let order = searching(&ManualClock::at(0));
        let decline = Transition::Decline {
            store_id: store("a"),
            now: 10,
        };
        let declined = order.apply(&decline).expect("declines");
        assert!(!declined.is_offered_to(&store("a"), 10));
        assert_eq!(declined.apply(&decline), Err(Refusal::OfferDeclined));
        assert_eq!(declined.apply(&accept("a", 11)), Err(Refusal::OfferDeclined));
        assert!(declined.apply(&accept("b", 11)).is_ok());
        let stranger = Transition::Decline {
            store_id: store("z"),
            now: 10,
        };
        assert_eq!(order.apply(&stranger), Err(Refusal::NotOffered));
    }

    #[test]
    fn no_offers_means_unfulfilled_at_once() {
        let order = Order::open(
            OrderId::generate(),
            CustomerId::new("c1").expect("valid"),
            vec![],
            GeoPoint::new(0.0, 0.0).expect("valid"),
            vec![],
            0,
            WINDOW,
        );
        assert_eq!(order.status, OrderStatus::Unfulfilled);
        assert_eq!(order.end_reason.as_deref(), Some(NO_STORE_NEARBY));
    }
}
