//! The order state machine: every change to an order is a [`Change`],
//! decided by [`Order::decide`] on the order as read. Storage writes the
//! result only over the version it was decided on, and a loser decides
//! again on what won, so the rules below are the only rules, stated once.

use super::actor::Actor;
use super::aftersales::{StoreCancellation, short_text};
use super::audit::{AuditEntry, ChangedBy, Happened, Packing};
use super::fulfilment::{Step, fulfil};
use super::packing::PackOutcome;
use super::refusal::Refusal;
use super::state::{CANCELLED_BY_CUSTOMER, Offer, Order, OrderStatus, Winner};
use crate::domain::clock::Millis;
use crate::domain::geo::GeoPoint;
use crate::domain::ids::StoreId;

/// What happens when a round closes unanswered, or a winner gives the
/// order back.
#[derive(Debug, Clone, PartialEq)]
pub enum NextRound {
    /// Offer to these stores until `deadline_ms`; `search_radius_m` when
    /// they were found within a widened radius (sparse supply).
    Offer {
        offers: Vec<Offer>,
        deadline_ms: Millis,
        search_radius_m: Option<u32>,
    },
    /// Give up, telling the customer why.
    Unfulfilled { reason: String },
}

/// What [`Order::decide`] made of a change.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// Write this order over the one decided on (boxed: the other case
    /// carries nothing).
    Apply(Box<Order>),
    /// The order already shows this change by this party: the party
    /// repeats the step that produced the current state (a retry whose
    /// first attempt landed but whose answer was lost), or a change that
    /// would change nothing. Nothing is written; the caller answers with
    /// the order as it is and runs the change's effects again (at least
    /// once in, exactly once in effect).
    AlreadyApplied,
}

impl Decision {
    /// The order to answer with: the one to write, or `current` as it is.
    #[must_use]
    pub fn answer(self, current: &Order) -> Order {
        match self {
            Decision::Apply(next) => *next,
            Decision::AlreadyApplied => current.clone(),
        }
    }
}

/// A change to an order.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    /// A store accepts: the order is searching, the store is offered in the
    /// current round, has not declined, and the round's deadline has not
    /// passed (so a late accept is refused even when the timer is late).
    /// `store_location` is where the customer picks the order up, revealed
    /// with the name.
    Accept {
        store_name: String,
        store_location: Option<GeoPoint>,
    },
    /// A store turns its live offer down; it may no longer accept.
    Decline,
    /// `round` closes (its timer fires, or every store it offered has
    /// declined): the order is still searching in that round and the round
    /// may close ([`Order::round_may_close`]).
    CloseRound { round: u32, next: NextRound },
    /// The customer withdraws the order before packing starts.
    Cancel,
    /// The winning store gives the order back (before hand-over), with a
    /// reason; it goes back to routing.
    GiveBack { reason: String, next: NextRound },
    /// A step after acceptance: packing, delivery, hand-over, completion,
    /// review, complaint, sharing.
    Step(Step),
}

impl Order {
    /// The order after `change` asked by `actor` at `now`, whether the
    /// order already shows it, or why not.
    pub fn decide(&self, actor: &Actor, change: &Change, now: Millis) -> Result<Decision, Refusal> {
        if self.already_shows(actor, change) {
            return Ok(Decision::AlreadyApplied);
        }
        let mut next = self.changed(actor, change, now)?;
        // A change that changes nothing (the same line packed the same way,
        // the same delivery chosen again, a share link asked for twice).
        next.updated_at_ms = self.updated_at_ms;
        next.version = self.version;
        if next == *self {
            return Ok(Decision::AlreadyApplied);
        }
        next.updated_at_ms = now;
        next.version += 1;
        next.audit.push(AuditEntry {
            version: next.version,
            at_ms: now,
            by: actor.into(),
            happened: Happened::of(change),
            status: next.status,
        });
        Ok(Decision::Apply(Box::new(next)))
    }

    /// Whether the order stands where `change` by `actor` left it: the
    /// same party repeating the step that produced the current state. A
    /// repeat of a step the order has moved past is refused as before.
    fn already_shows(&self, actor: &Actor, change: &Change) -> bool {
        let by_winner = matches!(actor, Actor::Store(id) if self.is_won_by(id));
        let by_customer = matches!(actor, Actor::Customer(id) if id == &self.customer_id);
        match change {
            Change::Accept { .. } => by_winner && self.status == OrderStatus::Accepted,
            Change::Decline => {
                matches!(actor, Actor::Store(id) if self.declined.contains(id)) && self.status == OrderStatus::Searching
            }
            Change::Cancel => {
                by_customer
                    && self.status == OrderStatus::Cancelled
                    && self.end_reason.as_deref() == Some(CANCELLED_BY_CUSTOMER)
            }
            Change::Step(Step::HandOver) => {
                by_winner && matches!(self.status, OrderStatus::ReadyForPickup | OrderStatus::OutForDelivery)
            }
            // Who completed it is in the trail: the same party's repeat.
            Change::Step(Step::Complete) => {
                self.status == OrderStatus::Completed
                    && self
                        .audit
                        .iter()
                        .any(|entry| entry.happened == Happened::Completed && entry.by == ChangedBy::from(actor))
            }
            Change::CloseRound { .. } | Change::GiveBack { .. } | Change::Step(_) => false,
        }
    }

    /// The order after `change`, before its version and time are set.
    fn changed(&self, actor: &Actor, change: &Change, now: Millis) -> Result<Order, Refusal> {
        let next = match change {
            Change::Accept {
                store_name,
                store_location,
            } => {
                let store_id = self.offered_store(actor, now)?;
                let mut next = self.clone();
                next.status = OrderStatus::Accepted;
                next.winner = Some(Winner {
                    store_id: store_id.clone(),
                    store_name: store_name.clone(),
                    store_location: *store_location,
                    accepted_at_ms: now,
                });
                next
            }
            Change::Decline => {
                let store_id = self.offered_store(actor, now)?;
                let mut next = self.clone();
                next.declined.push(store_id.clone());
                next
            }
            Change::CloseRound { round, next: what } => {
                if *actor != Actor::Timer || self.status != OrderStatus::Searching || self.round != *round {
                    return Err(Refusal::StaleRound);
                }
                if !self.round_may_close(now) {
                    return Err(Refusal::RoundStillOpen);
                }
                let mut next = self.clone();
                next.route(what.clone());
                next
            }
            Change::Cancel => {
                if !matches!(actor, Actor::Customer(id) if id == &self.customer_id) {
                    return Err(Refusal::NotOwner);
                }
                // Before packing starts, and only then.
                if !matches!(self.status, OrderStatus::Searching | OrderStatus::Accepted) {
                    return Err(Refusal::NotSearching);
                }
                let mut next = self.clone();
                next.status = OrderStatus::Cancelled;
                next.end_reason = Some(CANCELLED_BY_CUSTOMER.to_string());
                next
            }
            Change::GiveBack { reason, next: what } => {
                let Actor::Store(store_id) = actor else {
                    return Err(Refusal::NotYours);
                };
                if !self.is_won_by(store_id) {
                    return Err(Refusal::NotYours);
                }
                if !matches!(self.status, OrderStatus::Accepted | OrderStatus::Preparing) {
                    return Err(self.wrong_state());
                }
                let mut next = self.clone();
                next.store_cancellations.push(StoreCancellation {
                    store_id: store_id.clone(),
                    reason: short_text(reason, "text")?,
                    at_ms: now,
                });
                next.winner = None;
                // The next store packs afresh, but what the customer dropped
                // stays dropped.
                let reported = self.lines_reported_by_winner();
                next.packing = self
                    .packing
                    .iter()
                    .enumerate()
                    .map(|(line, state)| state.kept_after_give_back(reported.contains(&line)))
                    .collect();
                next.status = OrderStatus::Searching;
                next.route(what.clone());
                next
            }
            Change::Step(step) => fulfil(self, actor, step, now)?,
        };
        Ok(next)
    }

    /// Moves to the next round, or ends the order unfulfilled.
    fn route(&mut self, next: NextRound) {
        match next {
            NextRound::Offer {
                offers,
                deadline_ms,
                search_radius_m,
            } => {
                self.round += 1;
                self.deadline_ms = deadline_ms;
                self.search_radius_m = search_radius_m;
                for offer in &offers {
                    // A store asked again after a give-back is tried once.
                    if !self.tried.contains(&offer.store_id) {
                        self.tried.push(offer.store_id.clone());
                    }
                }
                self.offers = offers;
            }
            NextRound::Unfulfilled { reason } => {
                self.status = OrderStatus::Unfulfilled;
                self.end_reason = Some(reason);
            }
        }
    }

    /// The store asking, if it holds a live offer; else the most useful
    /// reason. A store that was never offered the order learns nothing
    /// about its fate.
    fn offered_store<'a>(&self, actor: &'a Actor, now: Millis) -> Result<&'a StoreId, Refusal> {
        let Actor::Store(store_id) = actor else {
            return Err(Refusal::NotOffered);
        };
        if !self.tried.contains(store_id) {
            return Err(Refusal::NotOffered);
        }
        match self.status {
            OrderStatus::Accepted
            | OrderStatus::Preparing
            | OrderStatus::ReadyForPickup
            | OrderStatus::OutForDelivery
            | OrderStatus::Completed => Err(if self.is_won_by(store_id) {
                Refusal::AlreadyAccepted
            } else {
                Refusal::OfferTaken
            }),
            OrderStatus::Cancelled => Err(Refusal::OrderCancelled),
            OrderStatus::Unfulfilled => Err(Refusal::OfferExpired),
            OrderStatus::Searching if self.declined.contains(store_id) => Err(Refusal::OfferDeclined),
            OrderStatus::Searching if !self.is_offered_to(store_id, now) => Err(Refusal::OfferExpired),
            OrderStatus::Searching => Ok(store_id),
        }
    }
}

fn offered_to(next: &NextRound) -> usize {
    match next {
        NextRound::Offer { offers, .. } => offers.len(),
        NextRound::Unfulfilled { .. } => 0,
    }
}

impl Happened {
    /// What `change` is, as the trail tells it.
    #[must_use]
    pub fn of(change: &Change) -> Self {
        match change {
            Change::Accept { .. } => Happened::Accepted,
            Change::Decline => Happened::Declined,
            Change::CloseRound { round, next } => Happened::RoundClosed {
                round: *round,
                offered_to: offered_to(next),
            },
            Change::Cancel => Happened::Cancelled,
            Change::GiveBack { next, .. } => Happened::GivenBack {
                offered_to: offered_to(next),
            },
            Change::Step(step) => match step {
                Step::Pack { line, outcome } => Happened::Packed {
                    line: *line,
                    packing: match outcome {
                        PackOutcome::Packed { .. } => Packing::Packed,
                        PackOutcome::PartlyPacked { .. } => Packing::PartlyPacked,
                        PackOutcome::Unavailable => Packing::Unavailable,
                        PackOutcome::Substitute { .. } => Packing::SubstituteOffered,
                    },
                },
                Step::Drop { line } => Happened::LineDropped { line: *line },
                Step::AnswerSubstitute { line, accept } => Happened::SubstituteAnswered {
                    line: *line,
                    accepted: *accept,
                },
                Step::ChooseDelivery { kind, .. } => Happened::DeliveryChosen { delivery: *kind },
                Step::HandOver => Happened::HandedOver,
                Step::Complete => Happened::Completed,
                Step::Review { stars, .. } => Happened::Reviewed { stars: *stars },
                Step::Complain { .. } => Happened::Complained,
                Step::AnswerComplaint { .. } => Happened::ComplaintAnswered,
                Step::Share { .. } => Happened::Shared,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::clock::{Clock, ManualClock};
    use crate::domain::demand::Language;
    use crate::domain::geo::GeoPoint;
    use crate::domain::ids::{CustomerId, OrderId};
    use crate::domain::order::actor::Actor;
    use crate::domain::order::money::PaymentMethod;
    use crate::domain::order::state::{Listing, NO_STORE_ACCEPTED, NO_STORE_NEARBY, NewOrder};

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

    fn new_order(customer: &str) -> NewOrder {
        NewOrder {
            id: OrderId::generate(),
            customer_id: CustomerId::new(customer).expect("valid id"),
            items: vec![],
            location: GeoPoint::new(23.8, 90.4).expect("valid"),
            delivery: None,
            payment: PaymentMethod::default(),
            address: None,
        }
    }

    fn searching(clock: &ManualClock) -> Order {
        Order::open(new_order("c1"), offers(&["a", "b", "c"]), clock.now_ms(), WINDOW)
    }

    /// A change and who asks for it.
    type Asked = (Actor, Change);

    fn accept(id: &str) -> Asked {
        (
            Actor::Store(store(id)),
            Change::Accept {
                store_name: format!("Store {id}"),
                store_location: None,
            },
        )
    }

    fn close(round: u32, next: NextRound) -> Asked {
        (Actor::Timer, Change::CloseRound { round, next })
    }

    impl Order {
        fn apply(&self, (actor, change): &Asked, now: Millis) -> Result<Order, Refusal> {
            self.decide(actor, change, now).map(|d| d.answer(self))
        }
    }

    #[test]
    fn first_accept_within_the_window_wins_and_the_rest_are_refused() {
        let clock = ManualClock::at(1_000_000);
        let order = searching(&clock);
        clock.advance_ms(WINDOW - 1);
        let won = order.apply(&accept("b"), clock.now_ms()).expect("b wins");
        assert_eq!(won.status, OrderStatus::Accepted);
        assert_eq!(won.version, order.version + 1);
        assert_eq!(won.apply(&accept("a"), clock.now_ms()), Err(Refusal::OfferTaken));
        // The winner's repeat (a retry) is the same step, already applied.
        assert_eq!(
            won.decide(&accept("b").0, &accept("b").1, clock.now_ms()),
            Ok(Decision::AlreadyApplied)
        );
        assert_eq!(won.apply(&accept("z"), clock.now_ms()), Err(Refusal::NotOffered));
    }

    #[test]
    fn an_accept_at_the_deadline_is_late_even_without_the_timer() {
        let clock = ManualClock::at(5_000);
        let order = searching(&clock);
        clock.advance_ms(WINDOW);
        assert_eq!(order.apply(&accept("a"), clock.now_ms()), Err(Refusal::OfferExpired));
    }

    #[test]
    fn closing_a_round_moves_on_once_and_only_after_the_deadline() {
        let clock = ManualClock::at(0);
        let order = searching(&clock);
        let to_d = |now| {
            close(
                1,
                NextRound::Offer {
                    offers: offers(&["d"]),
                    deadline_ms: now + WINDOW,
                    search_radius_m: None,
                },
            )
        };
        assert_eq!(order.apply(&to_d(WINDOW - 1), WINDOW - 1), Err(Refusal::RoundStillOpen));
        let round2 = order.apply(&to_d(WINDOW), WINDOW).expect("closes");
        assert_eq!(round2.round, 2);
        assert_eq!(round2.tried.len(), 4);
        // The duplicate timer message changes nothing.
        assert_eq!(round2.apply(&to_d(WINDOW + 5), WINDOW + 5), Err(Refusal::StaleRound));
        // Only the timer closes a round.
        let by_store = (Actor::Store(store("a")), to_d(WINDOW).1);
        assert_eq!(order.apply(&by_store, WINDOW), Err(Refusal::StaleRound));
        // A store from round 1 is now late; the new one may accept.
        assert_eq!(round2.apply(&accept("a"), WINDOW + 1), Err(Refusal::OfferExpired));
        assert!(round2.apply(&accept("d"), WINDOW + 1).is_ok());
    }

    #[test]
    fn the_last_round_ends_unfulfilled() {
        let order = searching(&ManualClock::at(0));
        let unfulfilled = NextRound::Unfulfilled {
            reason: NO_STORE_ACCEPTED.into(),
        };
        let ended = order.apply(&close(1, unfulfilled), WINDOW).expect("closes");
        assert_eq!(ended.status, OrderStatus::Unfulfilled);
        assert_eq!(ended.apply(&accept("a"), WINDOW), Err(Refusal::OfferExpired));
    }

    #[test]
    fn only_the_owner_cancels_and_only_before_packing() {
        let order = searching(&ManualClock::at(0));
        let other = (Actor::Customer(CustomerId::new("c2").expect("valid")), Change::Cancel);
        assert_eq!(order.apply(&other, 1), Err(Refusal::NotOwner));
        let cancel = (Actor::Customer(CustomerId::new("c1").expect("valid")), Change::Cancel);
        let cancelled = order.apply(&cancel, 1).expect("cancels");
        assert_eq!(cancelled.status, OrderStatus::Cancelled);
        assert_eq!(cancelled.decide(&cancel.0, &cancel.1, 1), Ok(Decision::AlreadyApplied));
        assert_eq!(cancelled.apply(&accept("a"), 2), Err(Refusal::OrderCancelled));
    }

    #[test]
    fn a_store_that_declines_can_no_longer_accept() {
        let order = searching(&ManualClock::at(0));
        let decline = (Actor::Store(store("a")), Change::Decline);
        let declined = order.apply(&decline, 10).expect("declines");
        assert!(!declined.is_offered_to(&store("a"), 10));
        assert_eq!(
            declined.decide(&decline.0, &decline.1, 10),
            Ok(Decision::AlreadyApplied)
        );
        assert_eq!(declined.apply(&accept("a"), 11), Err(Refusal::OfferDeclined));
        assert!(declined.apply(&accept("b"), 11).is_ok());
        let stranger = (Actor::Store(store("z")), Change::Decline);
        assert_eq!(order.apply(&stranger, 10), Err(Refusal::NotOffered));
    }

    #[test]
    fn the_winner_gives_back_and_the_order_routes_on() {
        let order = searching(&ManualClock::at(0));
        let won = order.apply(&accept("a"), 10).expect("a wins");
        let give_back = |who: &str| {
            (
                Actor::Store(store(who)),
                Change::GiveBack {
                    reason: "out of rice".into(),
                    next: NextRound::Offer {
                        offers: offers(&["e"]),
                        deadline_ms: 20 + WINDOW,
                        search_radius_m: None,
                    },
                },
            )
        };
        assert_eq!(won.apply(&give_back("b"), 20), Err(Refusal::NotYours));
        let routed = won.apply(&give_back("a"), 20).expect("gives back");
        assert_eq!(routed.status, OrderStatus::Searching);
        assert_eq!((routed.round, routed.winner.clone()), (2, None));
        assert_eq!(routed.store_cancellations.len(), 1);
        assert!(routed.apply(&accept("e"), 21).is_ok());
        assert_eq!(routed.apply(&accept("a"), 21), Err(Refusal::OfferExpired));
    }

    #[test]
    fn a_round_every_store_declined_closes_before_its_deadline() {
        let order = searching(&ManualClock::at(0));
        let next = || NextRound::Unfulfilled {
            reason: "no_store_accepted".into(),
        };
        let decline = |who: &str| (Actor::Store(store(who)), Change::Decline);
        let two_said_no = order
            .apply(&decline("a"), 10)
            .and_then(|o| o.apply(&decline("b"), 11))
            .expect("declines");
        assert!(!two_said_no.round_may_close(12), "c may still answer");
        assert_eq!(two_said_no.apply(&close(1, next()), 12), Err(Refusal::RoundStillOpen));
        let all_said_no = two_said_no.apply(&decline("c"), 13).expect("declines");
        assert!(all_said_no.round_may_close(14));
        let closed = all_said_no.apply(&close(1, next()), 14).expect("closes at once");
        assert_eq!(closed.status, OrderStatus::Unfulfilled);
    }

    #[test]
    fn a_give_back_asks_again_the_stores_that_lost_the_race_but_not_the_giver_or_a_decliner() {
        let order = searching(&ManualClock::at(0));
        assert_eq!(
            order.passed_over(),
            [store("a"), store("b"), store("c")],
            "a round closing"
        );
        let declined = order
            .apply(&(Actor::Store(store("c")), Change::Decline), 5)
            .expect("c declines");
        let won = declined.apply(&accept("a"), 10).expect("a wins");
        assert_eq!(
            won.passed_over(),
            [store("a"), store("c")],
            "b lost the race: asked again"
        );
        let routed = won
            .apply(
                &(
                    Actor::Store(store("a")),
                    Change::GiveBack {
                        reason: "out of rice".into(),
                        next: NextRound::Offer {
                            offers: offers(&["b", "e"]),
                            deadline_ms: 20 + WINDOW,
                            search_radius_m: None,
                        },
                    },
                ),
                20,
            )
            .expect("gives back");
        assert_eq!(
            routed.tried(),
            [store("a"), store("b"), store("c"), store("e")],
            "each once"
        );
        assert!(routed.apply(&accept("b"), 21).is_ok(), "b may take it now");
        assert_eq!(routed.passed_over(), routed.tried(), "no winner: every store tried");
    }

    #[test]
    fn every_change_raises_the_version_once() {
        let order = searching(&ManualClock::at(0));
        let won = order.apply(&accept("a"), 10).expect("a wins");
        assert_eq!((order.version, won.version), (1, 2));
        assert_eq!(won.updated_at_ms, 10);
    }

    #[test]
    fn a_round_opens_when_the_trail_says_whatever_its_window() {
        let order = searching(&ManualClock::at(1_000));
        // A round that alerted by push lasts longer than the offer window:
        // its start is still when it was placed.
        assert_eq!(order.round_opened_at(WINDOW / 2), 1_000);
        let routed = order
            .apply(
                &close(
                    1,
                    NextRound::Offer {
                        offers: offers(&["d"]),
                        deadline_ms: 1_000 + 3 * WINDOW,
                        search_radius_m: None,
                    },
                ),
                1_000 + WINDOW + 7,
            )
            .expect("routes");
        assert_eq!(routed.round_opened_at(WINDOW), 1_000 + WINDOW + 7);
    }

    #[test]
    fn every_change_leaves_one_audit_entry_saying_who_and_what() {
        use crate::domain::order::audit::{ChangedBy, Happened};
        let order = searching(&ManualClock::at(0));
        let declined = order
            .apply(&(Actor::Store(store("a")), Change::Decline), 5)
            .expect("declines");
        let routed = declined
            .apply(
                &close(
                    1,
                    NextRound::Offer {
                        offers: offers(&["d"]),
                        deadline_ms: 2 * WINDOW,
                        search_radius_m: None,
                    },
                ),
                WINDOW,
            )
            .expect("closes");
        let won = routed.apply(&accept("d"), WINDOW + 7).expect("d wins");
        let trail: Vec<(u64, Millis, ChangedBy, Happened)> = won
            .audit()
            .iter()
            .map(|e| (e.version, e.at_ms, e.by.clone(), e.happened.clone()))
            .collect();
        assert_eq!(
            trail,
            [
                (
                    1,
                    0,
                    ChangedBy::Customer {
                        id: CustomerId::new("c1").expect("id")
                    },
                    Happened::Placed { offered_to: 3 }
                ),
                (2, 5, ChangedBy::Store { id: store("a") }, Happened::Declined),
                (
                    3,
                    WINDOW,
                    ChangedBy::Timer,
                    Happened::RoundClosed {
                        round: 1,
                        offered_to: 1
                    }
                ),
                (4, WINDOW + 7, ChangedBy::Store { id: store("d") }, Happened::Accepted),
            ]
        );
        assert_eq!(won.audit().last().map(|e| e.status), Some(OrderStatus::Accepted));
        // A refused change leaves no entry (there is no new order at all).
        assert!(won.apply(&accept("a"), WINDOW + 8).is_err());
    }

    #[test]
    fn listings_follow_the_state() {
        let order = searching(&ManualClock::at(0));
        assert_eq!(order.listings().len(), 5, "the customer, the city and three offers");
        let won = order.apply(&accept("b"), 10).expect("b wins");
        assert_eq!(won.new_listings_since(&order), vec![Listing::WonBy(store("b"))]);
    }

    #[test]
    fn no_offers_means_unfulfilled_at_once() {
        let order = Order::open(new_order("c1"), vec![], 0, WINDOW);
        assert_eq!(order.status, OrderStatus::Unfulfilled);
        assert_eq!(order.end_reason.as_deref(), Some(NO_STORE_NEARBY));
    }
}
