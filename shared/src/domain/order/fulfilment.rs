//! After acceptance: packing, delivery, hand-over, completion, review,
//! complaints and sharing. One rule table ([`Step::rule`]) says who may take
//! each step and in which states; [`fulfil`] checks it once, then applies
//! the step. [`Order::decide`](super::change) calls it for `Change::Step`.

use rust_decimal::Decimal;

use super::actor::Actor;
use super::aftersales::{Complaint, Review, STARS, short_text};
use super::delivery::{DeliveryChoice, DeliveryKind, DeliveryOption, TimeSlot};
use super::money::{MAX_LINE_PRICE, Paisa};
use super::packing::{LineState, PackOutcome};
use super::refusal::Refusal;
use super::state::{Order, OrderStatus};
use crate::domain::clock::Millis;
use crate::domain::demand::MAX_AMOUNT;

/// A step after acceptance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// The winning store marks a line (and starts packing if it had not).
    Pack { line: usize, outcome: PackOutcome },
    /// The customer drops a line not packed yet.
    Drop { line: usize },
    /// The customer takes (or refuses, dropping the line) a substitute.
    AnswerSubstitute { line: usize, accept: bool },
    /// The customer picks a kind of delivery, optionally for a time slot;
    /// its minutes and fee are the winning store's (the defaults while
    /// searching, until a store wins).
    ChooseDelivery { kind: DeliveryKind, slot: Option<TimeSlot> },
    /// The store hands over: ready for pickup, or out for delivery. Every
    /// line must be settled and a delivery chosen.
    HandOver,
    /// Delivered or picked up, confirmed by the customer or the store. The
    /// bill is fixed here.
    Complete,
    /// The customer reviews a completed order, once.
    Review { stars: u8, comment: Option<String> },
    /// The customer complains or asks for a return after completion, once.
    Complain { text: String, wants_return: bool },
    /// The winning store answers the complaint.
    AnswerComplaint { text: String },
    /// The customer makes a completed order shareable with `secret`; an
    /// order that already has a share link keeps it.
    Share { secret: String },
}

/// Who may take a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Party {
    Customer,
    /// The winning store.
    Store,
    Either,
}

const PACKING: &[OrderStatus] = &[OrderStatus::Accepted, OrderStatus::Preparing];
const HANDED_OVER: &[OrderStatus] = &[OrderStatus::ReadyForPickup, OrderStatus::OutForDelivery];
const COMPLETED: &[OrderStatus] = &[OrderStatus::Completed];

impl Step {
    /// When the customer may choose (or change) pickup or delivery.
    pub const CHOOSE_DELIVERY_STATES: &'static [OrderStatus] =
        &[OrderStatus::Searching, OrderStatus::Accepted, OrderStatus::Preparing];

    /// The rule table: who may take this step, and in which states.
    fn rule(&self) -> (Party, &'static [OrderStatus]) {
        match self {
            Step::Pack { .. } => (Party::Store, PACKING),
            Step::Drop { .. } | Step::AnswerSubstitute { .. } => (Party::Customer, PACKING),
            Step::ChooseDelivery { .. } => (Party::Customer, Step::CHOOSE_DELIVERY_STATES),
            Step::HandOver => (Party::Store, &[OrderStatus::Preparing]),
            Step::Complete => (Party::Either, HANDED_OVER),
            Step::Share { .. } | Step::Review { .. } | Step::Complain { .. } => (Party::Customer, COMPLETED),
            // Only a completed order has a complaint; its absence is the
            // refusal.
            Step::AnswerComplaint { .. } => (Party::Store, OrderStatus::ALL),
        }
    }
}

/// The order after `step` taken by `actor` at `now`, or why not (the
/// version and time are set by [`Order::decide`]).
pub(super) fn fulfil(order: &Order, actor: &Actor, step: &Step, now: Millis) -> Result<Order, Refusal> {
    let (party, states) = step.rule();
    let is_customer = matches!(actor, Actor::Customer(id) if id == &order.customer_id);
    let is_winner = matches!(actor, Actor::Store(id) if order.is_won_by(id));
    let allowed = match party {
        Party::Customer => is_customer,
        Party::Store => is_winner,
        Party::Either => is_customer || is_winner,
    };
    if !allowed {
        return Err(Refusal::NotYours);
    }
    if !states.contains(&order.status) {
        return Err(order.wrong_state());
    }
    let mut next = order.clone();
    next.packing.resize(order.items.len(), LineState::Pending);
    // A choice made while searching takes the winner's terms.
    next.delivery = order.delivery_choice();
    match step {
        Step::Pack { line, outcome } => {
            let state = line_mut(&mut next, *line)?;
            if matches!(state, LineState::Dropped) {
                return Err(Refusal::Invalid("the customer dropped this line"));
            }
            // A price the store promised in a promotion bounds what it
            // charges for that line (a substitute is another item, which
            // the customer takes or not at its own price).
            let promised = match actor {
                Actor::Store(store) => order.promised_price(store, *line),
                _ => None,
            };
            let within = |price: Paisa, most: Option<Paisa>| match most {
                Some(most) if price > most => Err(ABOVE_PROMISED_PRICE),
                _ => checked(price),
            };
            let ordered = order.items.get(*line).and_then(|item| item.quantity);
            let reported = match outcome {
                PackOutcome::Packed { price } => LineState::Packed {
                    price: within(*price, promised)?,
                },
                PackOutcome::PartlyPacked { quantity, price } => {
                    if quantity.amount <= Decimal::ZERO || quantity.amount > MAX_AMOUNT {
                        return Err(PACKED_AMOUNT);
                    }
                    // What the bill and the customer's home are told: part
                    // of the line, not more of it or something else.
                    if let Some(ordered) = ordered
                        && !quantity.within(ordered)
                    {
                        return Err(PARTLY_PACKED_WITHIN);
                    }
                    // Part of a promised line: that part of the promise.
                    let most = promised.map(|whole| match ordered.and_then(|o| quantity.share_of(o)) {
                        Some(share) => whole.part(share),
                        None => whole,
                    });
                    LineState::PartlyPacked {
                        quantity: *quantity,
                        price: within(*price, most)?,
                    }
                }
                PackOutcome::Unavailable => LineState::Unavailable,
                PackOutcome::Substitute { name, quantity, price } => LineState::SubstituteOffered {
                    name: short_text(name, "name")?,
                    quantity: *quantity,
                    price: checked(*price)?,
                },
            };
            // A line is reported once: what the customer saw and agreed to
            // (a price, a substitute) is what the bill and the stock keep.
            // The same report again is a repeat, and changes nothing.
            if *state != LineState::Pending && *state != reported {
                return Err(Refusal::Invalid("this line is already packed or answered"));
            }
            *state = reported;
            if order.status == OrderStatus::Accepted {
                next.status = OrderStatus::Preparing;
                set_eta(&mut next, now);
            }
        }
        Step::Drop { line } => {
            let state = line_mut(&mut next, *line)?;
            match state {
                // Dropped already: a repeat, which changes nothing.
                LineState::Dropped => {}
                LineState::Pending | LineState::Unavailable | LineState::SubstituteOffered { .. } => {
                    *state = LineState::Dropped;
                }
                _ => return Err(Refusal::Invalid("this line is already packed")),
            }
        }
        Step::AnswerSubstitute { line, accept } => {
            let state = line_mut(&mut next, *line)?;
            // The same answer again is a repeat, which changes nothing.
            if matches!(
                (&*state, accept),
                (LineState::Substituted { .. }, true) | (LineState::Dropped, false)
            ) {
                return Ok(next);
            }
            let LineState::SubstituteOffered { name, quantity, price } = state.clone() else {
                return Err(Refusal::Invalid("no substitute is offered for this line"));
            };
            *state = if *accept {
                LineState::Substituted { name, quantity, price }
            } else {
                LineState::Dropped
            };
        }
        Step::ChooseDelivery { kind, slot } => {
            let option = kind
                .among(&order.delivery_terms())
                .ok_or(Refusal::DeliveryNotOffered(*kind))?;
            next.delivery = Some(DeliveryChoice::new(option, *slot, now)?);
            if order.status == OrderStatus::Preparing {
                set_eta(&mut next, now);
            }
        }
        Step::HandOver => {
            if !next.packing.iter().all(LineState::settled) {
                return Err(Refusal::Invalid("every line must be packed, unavailable or dropped"));
            }
            // Nothing to hand over (every line unavailable or dropped): the
            // customer would owe a delivery fee for nothing.
            if next.current_bill().lines.is_empty() {
                return Err(Refusal::Invalid("nothing is packed: give the order back instead"));
            }
            let Some(delivery) = &next.delivery else {
                return Err(Refusal::Invalid(
                    "the customer has not chosen pickup or delivery yet: hand over once they have",
                ));
            };
            next.status = match delivery.option {
                DeliveryOption::Pickup { .. } => OrderStatus::ReadyForPickup,
                DeliveryOption::HelperDelivery { .. } => OrderStatus::OutForDelivery,
            };
        }
        Step::Complete => {
            next.status = OrderStatus::Completed;
            next.bill = Some(next.current_bill());
            next.completed_at_ms = Some(now);
        }
        Step::Share { secret } => {
            next.share_secret = Some(order.share_secret.clone().unwrap_or_else(|| secret.clone()));
        }
        Step::Review { stars, comment } => {
            if let Some(given) = &order.review {
                // The same review again is a repeat; another one conflicts.
                let comment = comment.as_deref().map(str::trim).filter(|c| !c.is_empty());
                return if given.stars == *stars && given.comment.as_deref() == comment {
                    Ok(next)
                } else {
                    Err(Refusal::AlreadyReviewed)
                };
            }
            if !STARS.contains(stars) {
                return Err(Refusal::InvalidField {
                    field: "stars",
                    rule: "stars are 1 to 5",
                });
            }
            let comment = comment.as_ref().map(|c| c.trim().to_string()).filter(|c| !c.is_empty());
            if comment
                .as_ref()
                .is_some_and(|c| c.chars().count() > 500 || c.chars().any(char::is_control))
            {
                return Err(Refusal::InvalidField {
                    field: "comment",
                    rule: "a comment is at most 500 characters of text",
                });
            }
            next.review = Some(Review {
                stars: *stars,
                comment,
                at_ms: now,
            });
        }
        Step::Complain { text, wants_return } => {
            if let Some(given) = &order.complaint {
                // The same complaint again is a repeat; another one conflicts.
                return if given.text == text.trim() && given.wants_return == *wants_return {
                    Ok(next)
                } else {
                    Err(Refusal::AlreadyComplained)
                };
            }
            next.complaint = Some(Complaint {
                text: short_text(text, "text")?,
                wants_return: *wants_return,
                at_ms: now,
                answer: None,
            });
        }
        Step::AnswerComplaint { text } => {
            let Some(complaint) = &mut next.complaint else {
                return Err(Refusal::Invalid("there is no complaint to answer"));
            };
            // The customer has read the answer given: it is not rewritten.
            // The same answer again is a repeat.
            let answer = short_text(text, "text")?;
            if complaint.answer.as_ref().is_some_and(|given| *given != answer) {
                return Err(Refusal::AlreadyAnswered);
            }
            complaint.answer = Some(answer);
        }
    }
    Ok(next)
}

/// A partly packed amount's own rules, about the `amount` field.
const PACKED_AMOUNT: Refusal = Refusal::InvalidField {
    field: "amount",
    rule: "a packed amount is above zero and at most 10000",
};
const PARTLY_PACKED_WITHIN: Refusal = Refusal::InvalidField {
    field: "amount",
    rule: "a partly packed amount is at most the amount ordered, in a unit like its own",
};

const ABOVE_PROMISED_PRICE: Refusal = Refusal::InvalidField {
    field: "price",
    rule: "at most the price your offer promised for this item",
};

fn line_mut(order: &mut Order, line: usize) -> Result<&mut LineState, Refusal> {
    order.packing.get_mut(line).ok_or(Refusal::InvalidField {
        field: "line",
        rule: "no such line",
    })
}

/// Ready or delivered after the option's minutes from now, or at the
/// customer's slot if that is later.
fn set_eta(order: &mut Order, now: Millis) {
    if let Some(delivery) = &mut order.delivery {
        let soonest = now + delivery.minutes() * 60_000;
        delivery.eta_ms = Some(delivery.slot.map_or(soonest, |s| s.from_ms.max(soonest)));
    }
}

fn checked(price: Paisa) -> Result<Paisa, Refusal> {
    if price > MAX_LINE_PRICE {
        Err(Refusal::InvalidField {
            field: "price",
            rule: "a line costs at most 1,000,000 Taka",
        })
    } else {
        Ok(price)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::demand::{Language, Quantity, Unit, parse_demand_text};
    use crate::domain::geo::GeoPoint;
    use crate::domain::ids::{Caller, CustomerId, OrderId, StoreId};
    use crate::domain::order::change::{Change, Decision};
    use crate::domain::order::money::PaymentMethod;
    use crate::domain::order::state::{NewOrder, Offer};
    use proptest::prelude::*;

    impl Order {
        /// A step by `actor`, as the use cases ask for it.
        fn fulfil(&self, actor: &Caller, step: &Step, now: Millis) -> Result<Order, Refusal> {
            self.decide(&Actor::from(actor.clone()), &Change::Step(step.clone()), now)
                .map(|d| d.answer(self))
        }
    }

    fn customer() -> Caller {
        Caller::Customer(CustomerId::new("c1").expect("id"))
    }

    fn store(id: &str) -> Caller {
        Caller::Store(StoreId::new(id).expect("id"))
    }

    /// Accepted, and the customer chose helper delivery at 2 s.
    fn helper_chosen() -> Order {
        let helper = Step::ChooseDelivery {
            kind: DeliveryKind::HelperDelivery,
            slot: None,
        };
        accepted().fulfil(&customer(), &helper, 2_000).expect("chooses")
    }

    fn accepted() -> Order {
        accepted_with(Vec::new())
    }

    /// Accepted by s1, whose offer carried `delivery_options` (the defaults
    /// when empty).
    fn accepted_with(delivery_options: Vec<DeliveryOption>) -> Order {
        accept(searching_with(delivery_options))
    }

    fn accept(order: Order) -> Order {
        order
            .decide(
                &Actor::Store(StoreId::new("s1").expect("id")),
                &Change::Accept {
                    store_name: "Green Grocery".into(),
                    store_location: None,
                },
                1_000,
            )
            .expect("accepted")
            .answer(&order)
    }

    /// Offered to s1 only, whose offer carried `delivery_options`.
    fn searching_with(delivery_options: Vec<DeliveryOption>) -> Order {
        Order::open(
            NewOrder {
                id: OrderId::generate(),
                customer_id: CustomerId::new("c1").expect("id"),
                items: parse_demand_text("1.2 kg rice, 600 g meat, spices").expect("parses"),
                location: GeoPoint::new(23.8, 90.4).expect("valid"),
                delivery: None,
                payment: PaymentMethod::default(),
                address: None,
            },
            vec![Offer {
                store_id: StoreId::new("s1").expect("id"),
                distance_m: 300,
                language: Language::En,
                delivery_options,
            }],
            0,
            60_000,
        )
    }

    #[test]
    fn a_promised_price_bounds_the_promising_store_on_its_line_alone() {
        use crate::domain::order::state::Promise;
        let s1 = StoreId::new("s1").expect("id");
        let promised = accept(searching_with(Vec::new()).promised(Some(Promise {
            store_id: s1.clone(),
            price: Paisa(10_000),
        })));
        let pack = |line, outcome| Step::Pack { line, outcome };
        assert_eq!(
            promised.fulfil(
                &store("s1"),
                &pack(0, PackOutcome::Packed { price: Paisa(10_001) }),
                2_000
            ),
            Err(ABOVE_PROMISED_PRICE)
        );
        assert!(
            promised
                .fulfil(
                    &store("s1"),
                    &pack(0, PackOutcome::Packed { price: Paisa(10_000) }),
                    2_000
                )
                .is_ok()
        );
        let substitute = PackOutcome::Substitute {
            name: "basmati rice".into(),
            quantity: None,
            price: Paisa(15_000),
        };
        assert!(
            promised.fulfil(&store("s1"), &pack(0, substitute), 2_000).is_ok(),
            "another item"
        );
        // Part of the line (0.3 of 1.2 kg): that part of the promise.
        let part = |price| PackOutcome::PartlyPacked {
            quantity: Quantity {
                amount: Decimal::new(3, 1),
                unit: Unit::Kilogram,
            },
            price: Paisa(price),
        };
        assert_eq!(
            promised.fulfil(&store("s1"), &pack(0, part(2_501)), 2_000),
            Err(ABOVE_PROMISED_PRICE)
        );
        assert!(promised.fulfil(&store("s1"), &pack(0, part(2_500)), 2_000).is_ok());
        assert!(
            promised
                .fulfil(
                    &store("s1"),
                    &pack(1, PackOutcome::Packed { price: Paisa(90_000) }),
                    2_000
                )
                .is_ok()
        );
        assert_eq!(
            promised.promised_price(&StoreId::new("s2").expect("id"), 0),
            None,
            "binds its store alone"
        );
    }

    #[test]
    fn a_line_the_customer_dropped_stays_dropped_when_the_order_is_given_back() {
        use crate::domain::demand::DemandItem;
        use crate::domain::order::change::NextRound;
        use crate::domain::order::views::OfferView;
        let basmati = PackOutcome::Substitute {
            name: "basmati".into(),
            quantity: None,
            price: Paisa(9_000),
        };
        let packing = accept(searching_with(Vec::new()))
            .fulfil(
                &store("s1"),
                &Step::Pack {
                    line: 0,
                    outcome: PackOutcome::Unavailable,
                },
                2_000,
            )
            .and_then(|o| o.fulfil(&customer(), &Step::Drop { line: 1 }, 3_000))
            .and_then(|o| {
                o.fulfil(
                    &store("s1"),
                    &Step::Pack {
                        line: 2,
                        outcome: basmati,
                    },
                    3_100,
                )
            })
            .and_then(|o| o.fulfil(&customer(), &Step::AnswerSubstitute { line: 2, accept: false }, 3_200))
            .expect("packs and drops");
        assert_eq!(packing.packing()[2], LineState::Dropped, "a substitute turned down");
        let next_store = Offer {
            store_id: StoreId::new("s2").expect("id"),
            distance_m: 400,
            language: Language::En,
            delivery_options: Vec::new(),
        };
        let give_back = Change::GiveBack {
            reason: "the scale broke".into(),
            next: NextRound::Offer {
                offers: vec![next_store],
                deadline_ms: 64_000,
                search_radius_m: None,
            },
        };
        let routed = packing
            .decide(&Actor::Store(StoreId::new("s1").expect("id")), &give_back, 4_000)
            .expect("gives back")
            .answer(&packing);
        assert_eq!(
            routed.packing(),
            [LineState::Pending, LineState::Dropped, LineState::Pending],
            "the giver's reports are gone, and so is the drop of its turned-down substitute (the next store may have the item); the customer's own drop is not"
        );
        let tags = |items: &[DemandItem]| items.iter().map(|i| i.tag.clone()).collect::<Vec<_>>();
        assert_eq!(tags(&routed.wanted_items()), ["rice", "spices"]);
        let offer = OfferView::of(&routed, &StoreId::new("s2").expect("id")).expect("offered");
        assert_eq!(
            tags(&offer.items),
            ["rice", "spices"],
            "the next store is not asked for meat"
        );
        assert!(!offer.speak.contains("meat"), "{}", offer.speak);
    }

    #[test]
    fn a_choice_made_while_searching_takes_the_winners_terms_or_is_chosen_again() {
        let c = customer();
        let pickup_only = vec![DeliveryOption::Pickup { ready_in_minutes: 20 }];
        let helper = Step::ChooseDelivery {
            kind: DeliveryKind::HelperDelivery,
            slot: None,
        };
        let chose = searching_with(pickup_only).fulfil(&c, &helper, 500).expect("chooses");
        assert_eq!(
            chose.delivery_choice().map(|d| d.fee()),
            Some(Paisa(4_000)),
            "the defaults while searching"
        );
        let won = accept(chose);
        assert_eq!(won.delivery_choice(), None, "the winner does not deliver");
        assert_eq!(
            won.fulfil(&c, &helper, 2_000).map(|_| ()),
            Err(Refusal::DeliveryNotOffered(DeliveryKind::HelperDelivery))
        );
        let pickup = Step::ChooseDelivery {
            kind: DeliveryKind::Pickup,
            slot: None,
        };
        let chose = won.fulfil(&c, &pickup, 2_000).expect("chooses pickup");
        assert_eq!(
            chose.delivery_choice().map(|d| d.option),
            Some(DeliveryOption::Pickup { ready_in_minutes: 20 })
        );
        // An order stored before offers carried terms keeps its choice.
        let mut legacy = accept(searching_with(Vec::new()));
        legacy.delivery = Some(DeliveryChoice {
            option: DeliveryOption::HelperDelivery {
                within_minutes: 30,
                fee_paisa: 2_000,
            },
            slot: None,
            eta_ms: None,
        });
        assert_eq!(legacy.delivery_choice().map(|d| d.fee()), Some(Paisa(2_000)));
        let helper_terms = vec![DeliveryOption::HelperDelivery {
            within_minutes: 45,
            fee_paisa: 2_500,
        }];
        let chose = searching_with(helper_terms).fulfil(&c, &helper, 500).expect("chooses");
        assert_eq!(accept(chose).delivery_choice().map(|d| d.fee()), Some(Paisa(2_500)));
    }

    #[test]
    fn the_whole_way_from_accepted_to_reviewed() {
        let s1 = store("s1");
        let c = customer();
        let o = helper_chosen();
        let o = o
            .fulfil(
                &s1,
                &Step::Pack {
                    line: 0,
                    outcome: PackOutcome::Packed { price: Paisa(9_600) },
                },
                3_000,
            )
            .expect("packs");
        assert_eq!(o.status, OrderStatus::Preparing);
        assert_eq!(o.delivery.as_ref().and_then(|d| d.eta_ms), Some(3_000 + 3_600_000));
        assert_eq!(
            o.fulfil(&s1, &Step::HandOver, 3_500),
            Err(Refusal::Invalid("every line must be packed, unavailable or dropped"))
        );
        let half = Quantity {
            amount: Decimal::new(4, 1),
            unit: Unit::Kilogram,
        };
        // Past any amount a line may hold: refused, not overflowed.
        let huge = Step::Pack {
            line: 1,
            outcome: PackOutcome::PartlyPacked {
                quantity: Quantity {
                    amount: Decimal::MAX,
                    unit: Unit::Kilogram,
                },
                price: Paisa(28_000),
            },
        };
        assert_eq!(o.fulfil(&s1, &huge, 4_000), Err(PACKED_AMOUNT));
        // More than the 600 g ordered, or counted where it was weighed: refused.
        for (amount, unit) in [(Decimal::new(7, 1), Unit::Kilogram), (Decimal::ONE, Unit::Dozen)] {
            let wrong = Step::Pack {
                line: 1,
                outcome: PackOutcome::PartlyPacked {
                    quantity: Quantity { amount, unit },
                    price: Paisa(28_000),
                },
            };
            assert_eq!(
                o.fulfil(&s1, &wrong, 4_000),
                Err(PARTLY_PACKED_WITHIN),
                "{amount} {unit:?}"
            );
        }
        let o = o
            .fulfil(
                &s1,
                &Step::Pack {
                    line: 1,
                    outcome: PackOutcome::PartlyPacked {
                        quantity: half,
                        price: Paisa(28_000),
                    },
                },
                4_000,
            )
            .expect("packs");
        let o = o
            .fulfil(
                &s1,
                &Step::Pack {
                    line: 2,
                    outcome: PackOutcome::Unavailable,
                },
                4_500,
            )
            .expect("packs");
        // The same line result again changes nothing: already applied.
        let again = Step::Pack {
            line: 2,
            outcome: PackOutcome::Unavailable,
        };
        assert_eq!(
            o.decide(&Actor::from(s1.clone()), &Change::Step(again), 4_600),
            Ok(Decision::AlreadyApplied)
        );
        // Another report for a reported line is refused: not re-priced.
        let repriced = Step::Pack {
            line: 0,
            outcome: PackOutcome::Packed { price: Paisa(99_000) },
        };
        assert_eq!(
            o.fulfil(&s1, &repriced, 4_600),
            Err(Refusal::Invalid("this line is already packed or answered"))
        );
        let o = o.fulfil(&s1, &Step::HandOver, 5_000).expect("hands over");
        assert_eq!(o.status, OrderStatus::OutForDelivery);
        assert_eq!(
            o.fulfil(
                &c,
                &Step::Review {
                    stars: 5,
                    comment: None
                },
                5_500
            ),
            Err(Refusal::WrongState {
                current: "out_for_delivery"
            })
        );
        let done = o.fulfil(&c, &Step::Complete, 6_000).expect("completes");
        // The share card says what the order took, not a fixed boast.
        let card = crate::domain::order::views::ShareCard::of(&done).expect("a completed order");
        let took_ms = done.winner.as_ref().map(|w| w.accepted_at_ms - done.created_at_ms);
        assert_eq!(took_ms, Some(1_000), "{card:?}");
        assert!(
            card.text.ends_with("- a shop took my order within a second."),
            "{}",
            card.text
        );
        let decide = |order: &Order, by: &Caller, step: &Step, now| {
            order.decide(&Actor::from(by.clone()), &Change::Step(step.clone()), now)
        };
        // A repeat by the party that took the step is that step, already
        // applied (a retry whose answer was lost), and writes nothing.
        assert_eq!(decide(&done, &c, &Step::Complete, 6_200), Ok(Decision::AlreadyApplied));
        assert_eq!(decide(&o, &s1, &Step::HandOver, 5_200), Ok(Decision::AlreadyApplied));
        let unavailable = Step::Pack {
            line: 2,
            outcome: PackOutcome::Unavailable,
        };
        assert_eq!(
            decide(&o, &s1, &unavailable, 5_200),
            Err(Refusal::WrongState {
                current: "out_for_delivery"
            })
        );
        let bill = done.bill.clone().expect("fixed at completion");
        assert_eq!(bill.total, Paisa(9_600 + 28_000 + 4_000));
        assert_eq!(bill.lines.len(), 2, "the unavailable line is not billed");
        assert_eq!(bill.lines[1].quantity, Some(half), "billed as packed, not as asked");
        // The other side confirming later is not a repeat: refused.
        assert_eq!(
            done.fulfil(&s1, &Step::Complete, 6_500),
            Err(Refusal::WrongState { current: "completed" })
        );
        assert_eq!(
            done.fulfil(&store("s2"), &Step::Complete, 6_500),
            Err(Refusal::NotYours)
        );
        // Sharing: only its customer, only once completed, one secret.
        let share = |secret: &str| Step::Share { secret: secret.into() };
        assert_eq!(
            o.fulfil(&c, &share("a"), 6_000),
            Err(Refusal::WrongState {
                current: "out_for_delivery"
            })
        );
        assert_eq!(done.fulfil(&s1, &share("a"), 6_500), Err(Refusal::NotYours));
        let shared = done.fulfil(&c, &share("a"), 6_500).expect("shares");
        let again = shared.fulfil(&c, &share("b"), 6_600).expect("shares");
        assert_eq!(again.share_secret.as_deref(), Some("a"), "the first link stays");
        let other = Caller::Customer(CustomerId::new("c2").expect("id"));
        assert_eq!(
            done.fulfil(
                &other,
                &Step::Review {
                    stars: 4,
                    comment: None
                },
                7_000
            ),
            Err(Refusal::NotYours)
        );
        let reviewed = done
            .fulfil(
                &c,
                &Step::Review {
                    stars: 4,
                    comment: Some("quick".into()),
                },
                7_000,
            )
            .expect("reviews");
        assert_eq!(
            reviewed.fulfil(
                &c,
                &Step::Review {
                    stars: 5,
                    comment: None
                },
                8_000
            ),
            Err(Refusal::AlreadyReviewed),
            "once per order"
        );
        // The same review again is a repeat of it (a retry whose answer was lost).
        let same_review = Step::Review {
            stars: 4,
            comment: Some(" quick ".into()),
        };
        assert_eq!(decide(&reviewed, &c, &same_review, 8_000), Ok(Decision::AlreadyApplied));
        let complain = Step::Complain {
            text: "the rice was wet".into(),
            wants_return: false,
        };
        let complained = reviewed.fulfil(&c, &complain, 8_000).expect("complains");
        assert_eq!(decide(&complained, &c, &complain, 9_000), Ok(Decision::AlreadyApplied));
        let another = Step::Complain {
            text: "and the oil leaked".into(),
            wants_return: true,
        };
        assert_eq!(
            complained.fulfil(&c, &another, 9_000),
            Err(Refusal::AlreadyComplained),
            "one complaint per order"
        );
        let answer = |text: &str| Step::AnswerComplaint { text: text.into() };
        let answered = complained
            .fulfil(&store("s1"), &answer("we will replace it"), 9_500)
            .expect("answers");
        assert_eq!(
            answered.fulfil(&store("s1"), &answer("no, we will not"), 9_600),
            Err(Refusal::AlreadyAnswered),
            "one answer per complaint"
        );
        assert_eq!(
            decide(&answered, &store("s1"), &answer("we will replace it"), 9_600),
            Ok(Decision::AlreadyApplied)
        );
    }

    #[test]
    fn nothing_packed_is_not_handed_over() {
        let s1 = store("s1");
        let mut o = helper_chosen();
        for line in 0..o.items.len() {
            o = o
                .fulfil(
                    &s1,
                    &Step::Pack {
                        line,
                        outcome: PackOutcome::Unavailable,
                    },
                    3_000,
                )
                .expect("reports");
        }
        assert_eq!(
            o.fulfil(&s1, &Step::HandOver, 3_500),
            Err(Refusal::Invalid("nothing is packed: give the order back instead")),
            "no delivery fee for an empty bag"
        );
    }

    #[test]
    fn a_substitute_waits_for_the_customer_and_is_billed_when_taken() {
        let c = customer();
        let s1 = store("s1");
        let o = helper_chosen();
        let basmati = PackOutcome::Substitute {
            name: "basmati rice".into(),
            quantity: None,
            price: Paisa(15_000),
        };
        let o = o
            .fulfil(
                &s1,
                &Step::Pack {
                    line: 0,
                    outcome: basmati,
                },
                3_000,
            )
            .expect("offers");
        let o = o
            .fulfil(
                &s1,
                &Step::Pack {
                    line: 1,
                    outcome: PackOutcome::Unavailable,
                },
                3_000,
            )
            .expect("packs");
        let o = o
            .fulfil(
                &s1,
                &Step::Pack {
                    line: 2,
                    outcome: PackOutcome::Unavailable,
                },
                3_000,
            )
            .expect("packs");
        assert!(
            o.fulfil(&s1, &Step::HandOver, 3_500).is_err(),
            "the customer has not answered"
        );
        assert_eq!(
            o.fulfil(&s1, &Step::AnswerSubstitute { line: 0, accept: true }, 3_600),
            Err(Refusal::NotYours)
        );
        let o = o
            .fulfil(&c, &Step::AnswerSubstitute { line: 0, accept: true }, 3_600)
            .expect("takes it");
        // The same answer again, and a drop repeated, are repeats.
        let repeat = |order: &Order, step: Step| order.decide(&Actor::from(c.clone()), &Change::Step(step), 3_650);
        assert_eq!(
            repeat(&o, Step::AnswerSubstitute { line: 0, accept: true }),
            Ok(Decision::AlreadyApplied)
        );
        let dropped = o.fulfil(&c, &Step::Drop { line: 1 }, 3_650).expect("drops");
        assert_eq!(repeat(&dropped, Step::Drop { line: 1 }), Ok(Decision::AlreadyApplied));
        // What the customer agreed to stays: the line is not packed anew.
        for outcome in [PackOutcome::Packed { price: Paisa(99_000) }, PackOutcome::Unavailable] {
            assert_eq!(
                o.fulfil(&s1, &Step::Pack { line: 0, outcome }, 3_650),
                Err(Refusal::Invalid("this line is already packed or answered"))
            );
        }
        let o = o.fulfil(&s1, &Step::HandOver, 3_700).expect("hands over");
        let bill = o
            .fulfil(&c, &Step::Complete, 4_000)
            .expect("completes")
            .bill
            .expect("bill");
        assert_eq!(bill.lines[0].name, "basmati rice");
        assert_eq!(bill.total, Paisa(15_000 + 4_000));
    }

    #[test]
    fn a_time_slot_is_honoured_in_the_eta() {
        let c = customer();
        let slot = TimeSlot {
            from_ms: 10_000_000,
            to_ms: 11_000_000,
        };
        let o = accepted()
            .fulfil(
                &c,
                &Step::ChooseDelivery {
                    kind: DeliveryKind::HelperDelivery,
                    slot: Some(slot),
                },
                2_000,
            )
            .expect("chooses");
        let o = o
            .fulfil(
                &store("s1"),
                &Step::Pack {
                    line: 0,
                    outcome: PackOutcome::Unavailable,
                },
                3_000,
            )
            .expect("packs");
        assert_eq!(o.delivery.and_then(|d| d.eta_ms), Some(10_000_000));
        let past = TimeSlot {
            from_ms: 1_000,
            to_ms: 1_500,
        };
        assert!(
            accepted()
                .fulfil(
                    &c,
                    &Step::ChooseDelivery {
                        kind: DeliveryKind::HelperDelivery,
                        slot: Some(past)
                    },
                    2_000
                )
                .is_err()
        );
    }

    #[test]
    fn illegal_steps_name_the_current_state() {
        let c = customer();
        let s1 = store("s1");
        let o = accepted();
        assert_eq!(
            o.fulfil(&s1, &Step::HandOver, 2_000),
            Err(Refusal::WrongState { current: "accepted" })
        );
        assert_eq!(
            o.fulfil(&c, &Step::Complete, 2_000),
            Err(Refusal::WrongState { current: "accepted" })
        );
        assert_eq!(
            o.fulfil(
                &c,
                &Step::Pack {
                    line: 0,
                    outcome: PackOutcome::Unavailable
                },
                2_000
            ),
            Err(Refusal::NotYours)
        );
        assert_eq!(o.fulfil(&s1, &Step::Drop { line: 0 }, 2_000), Err(Refusal::NotYours));
        let dropped = o.fulfil(&c, &Step::Drop { line: 2 }, 2_000).expect("drops");
        assert!(
            dropped
                .fulfil(
                    &s1,
                    &Step::Pack {
                        line: 2,
                        outcome: PackOutcome::Unavailable
                    },
                    2_100
                )
                .is_err()
        );
    }

    proptest! {
        /// The bill's total is always the sum of its lines plus the fee.
        #[test]
        fn the_total_is_the_lines_plus_the_fee(
            prices in prop::collection::vec(0u64..=100_000_000, 3),
            // Grams, within the smallest line ordered (600 g).
            amounts in prop::collection::vec(1i64..=600, 3),
            outcomes in prop::collection::vec(0u8..3, 3),
            fee in 0u64..100_000,
        ) {
            let s1 = store("s1");
            let mut o = accepted_with(vec![DeliveryOption::HelperDelivery { within_minutes: 60, fee_paisa: fee }])
                .fulfil(&customer(), &Step::ChooseDelivery { kind: DeliveryKind::HelperDelivery, slot: None }, 2_000)
                .expect("chooses");
            for line in 0..3 {
                let outcome = match outcomes[line] {
                    0 => PackOutcome::Packed { price: Paisa(prices[line]) },
                    1 => PackOutcome::PartlyPacked {
                        quantity: Quantity { amount: Decimal::new(amounts[line], 3), unit: Unit::Kilogram },
                        price: Paisa(prices[line]),
                    },
                    _ => PackOutcome::Unavailable,
                };
                o = o.fulfil(&s1, &Step::Pack { line, outcome }, 3_000).expect("packs");
            }
            let handed = o.fulfil(&s1, &Step::HandOver, 4_000);
            if outcomes.iter().all(|&k| k == 2) {
                prop_assert!(handed.is_err(), "nothing packed is not handed over");
                return Ok(());
            }
            let done = handed.expect("hands over")
                .fulfil(&s1, &Step::Complete, 5_000).expect("completes");
            let bill = done.bill.expect("bill");
            let sum: u64 = bill.lines.iter().map(|l| l.price.0).sum();
            prop_assert_eq!(bill.total.0, sum + bill.delivery_fee.0);
            prop_assert_eq!(bill.delivery_fee.0, fee);
            let expected: u64 = (0..3).filter(|l| outcomes[*l] < 2).map(|l| prices[l]).sum();
            prop_assert_eq!(sum, expected);
        }
    }
}
