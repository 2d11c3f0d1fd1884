//! After acceptance: packing, delivery, the bill, completion and the review.
//! One function, [`Order::fulfil`], holds every allowed step after a store
//! has won and who may take it; storage writes its result conditionally on
//! the version it read, so two racing steps never both apply to the same
//! version.

use std::fmt;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::clock::Millis;
use super::demand::Quantity;
use super::ids::Caller;
use super::order::{Order, OrderStatus};
use super::store::{DeliveryKind, DeliveryOption};

/// Money in paisa (1 Taka = 100 paisa): exact integers, never floats.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Paisa(pub u64);

impl Paisa {
    /// Sums without overflow (a bill tops out far below `u64::MAX`).
    #[must_use]
    pub fn saturating_add(self, other: Paisa) -> Paisa {
        Paisa(self.0.saturating_add(other.0))
    }
}

impl fmt::Display for Paisa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:02} Taka", self.0 / 100, self.0 % 100)
    }
}

/// Largest price of one line: 1,000,000 Taka.
pub const MAX_LINE_PRICE: Paisa = Paisa(100_000_000);

/// How the customer pays, chosen with the order. Each method is taken by a
/// [`crate::ports::PaymentPort`] adapter; an order may only use a method the
/// service has an adapter for (cash on delivery, for now).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PaymentMethod {
    #[default]
    CashOnDelivery,
    /// A mobile wallet (bKash, Nagad and the like), charged at completion.
    MobileWallet,
}

impl PaymentMethod {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            PaymentMethod::CashOnDelivery => "cash_on_delivery",
            PaymentMethod::MobileWallet => "mobile_wallet",
        }
    }
}

/// How a bill was paid, recorded with it at completion.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settlement {
    pub method: PaymentMethod,
    pub state: SettlementState,
    pub amount: Paisa,
    /// The provider's own reference (a wallet's transaction id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    pub at_ms: Millis,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SettlementState {
    /// Cash handed over at the door or the counter.
    CashCollected,
    /// Charged through a provider.
    Charged,
}

/// Where one demand line stands in the packing checklist.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum LineState {
    /// Not packed yet ("in progress").
    #[default]
    Pending,
    /// Packed as asked.
    Packed { price: Paisa },
    /// Packed in a different amount.
    PartlyPacked { quantity: Quantity, price: Paisa },
    /// The store does not have it.
    Unavailable,
    /// The store offers something else instead; the customer decides.
    SubstituteOffered {
        name: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        quantity: Option<Quantity>,
        price: Paisa,
    },
    /// The customer took the substitute.
    Substituted {
        name: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        quantity: Option<Quantity>,
        price: Paisa,
    },
    /// The customer dropped it.
    Dropped,
}

impl LineState {
    fn settled(&self) -> bool {
        !matches!(self, LineState::Pending | LineState::SubstituteOffered { .. })
    }
}

/// A delivery window the customer asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimeSlot {
    pub from_ms: Millis,
    pub to_ms: Millis,
}

/// The customer's delivery choice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryChoice {
    pub option: DeliveryOption,
    /// When the customer wants it; the ETA honours it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slot: Option<TimeSlot>,
    /// When it will be ready or arrive, once the store has started packing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eta_ms: Option<Millis>,
}

impl DeliveryChoice {
    /// A choice of `option`, for `slot` if given: a slot starts in the
    /// future, ends after it starts, and within a week.
    pub fn new(option: DeliveryOption, slot: Option<TimeSlot>, now: Millis) -> Result<DeliveryChoice, StepRefusal> {
        if let Some(slot) = slot
            && (slot.from_ms < now || slot.to_ms <= slot.from_ms || slot.to_ms > now + 7 * 24 * 3_600_000)
        {
            return Err(StepRefusal::Invalid(
                "a slot starts in the future, ends after it starts, within a week",
            ));
        }
        Ok(DeliveryChoice {
            option,
            slot,
            eta_ms: None,
        })
    }

    #[must_use]
    pub fn fee(&self) -> Paisa {
        match self.option {
            DeliveryOption::Pickup { .. } => Paisa(0),
            DeliveryOption::HelperDelivery { fee_paisa, .. } => Paisa(fee_paisa),
        }
    }

    fn minutes(&self) -> i64 {
        match self.option {
            DeliveryOption::Pickup { ready_in_minutes } => i64::from(ready_in_minutes),
            DeliveryOption::HelperDelivery { within_minutes, .. } => i64::from(within_minutes),
        }
    }
}

/// One billed line: what was really packed and its price.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BillLine {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quantity: Option<Quantity>,
    pub price: Paisa,
}

/// The bill: lines, delivery fee and total, fixed at completion.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bill {
    pub lines: Vec<BillLine>,
    pub delivery_fee: Paisa,
    pub total: Paisa,
    pub payment: PaymentMethod,
    /// Set at completion, when the payment port has taken the total.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settlement: Option<Settlement>,
}

impl Bill {
    /// The bill of what was packed so far (packed and partly packed lines).
    #[must_use]
    pub fn of(order: &Order) -> Bill {
        let lines: Vec<BillLine> = order
            .items
            .iter()
            .zip(order.packing.iter().chain(std::iter::repeat(&LineState::Pending)))
            .filter_map(|(item, state)| match state {
                LineState::Packed { price } => Some(BillLine {
                    name: item.name.clone(),
                    quantity: item.quantity,
                    price: *price,
                }),
                LineState::PartlyPacked { quantity, price } => Some(BillLine {
                    name: item.name.clone(),
                    quantity: Some(*quantity),
                    price: *price,
                }),
                LineState::Substituted { name, quantity, price } => Some(BillLine {
                    name: name.clone(),
                    quantity: *quantity,
                    price: *price,
                }),
                _ => None,
            })
            .collect();
        let delivery_fee = order.delivery_choice().as_ref().map_or(Paisa(0), DeliveryChoice::fee);
        let total = lines.iter().fold(delivery_fee, |sum, l| sum.saturating_add(l.price));
        Bill {
            lines,
            delivery_fee,
            total,
            payment: order.payment,
            settlement: None,
        }
    }
}

/// After-sales: a complaint or return request and the store's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Complaint {
    pub text: String,
    /// Whether the customer asks to return items.
    pub wants_return: bool,
    pub at_ms: Millis,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answer: Option<String>,
}

/// A store that gave an order back, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoreCancellation {
    pub store_id: super::ids::StoreId,
    pub reason: String,
    pub at_ms: Millis,
}

/// A customer's review of a completed order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Review {
    pub stars: u8,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    pub at_ms: Millis,
}

/// What a store reports for one line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case", deny_unknown_fields)]
pub enum PackOutcome {
    Packed {
        price: Paisa,
    },
    PartlyPacked {
        quantity: Quantity,
        price: Paisa,
    },
    Unavailable,
    /// Something else instead, for the customer to accept or refuse.
    Substitute {
        name: String,
        quantity: Option<Quantity>,
        price: Paisa,
    },
}

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

/// Why a step was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StepRefusal {
    /// Not this caller's order (another customer, or a store that did not win).
    #[error("not your order")]
    NotYours,
    /// The step is not allowed in the order's current state.
    #[error("not allowed while the order is {current}")]
    WrongState { current: &'static str },
    #[error("{0}")]
    Invalid(&'static str),
    #[error("the store does not offer {}", .0.as_str())]
    DeliveryNotOffered(DeliveryKind),
}

impl StepRefusal {
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            StepRefusal::NotYours => "not_your_order",
            StepRefusal::WrongState { .. } => "illegal_transition",
            StepRefusal::Invalid(_) => "invalid_step",
            StepRefusal::DeliveryNotOffered(_) => "unknown_delivery",
        }
    }
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
    /// The rule table: who may take this step, and in which states.
    fn rule(&self) -> (Party, &'static [OrderStatus]) {
        match self {
            Step::Pack { .. } => (Party::Store, PACKING),
            Step::Drop { .. } | Step::AnswerSubstitute { .. } => (Party::Customer, PACKING),
            Step::ChooseDelivery { .. } => (
                Party::Customer,
                &[OrderStatus::Searching, OrderStatus::Accepted, OrderStatus::Preparing],
            ),
            Step::HandOver => (Party::Store, &[OrderStatus::Preparing]),
            Step::Complete => (Party::Either, HANDED_OVER),
            Step::Share { .. } | Step::Review { .. } | Step::Complain { .. } => (Party::Customer, COMPLETED),
            // Only a completed order has a complaint; its absence is the
            // refusal.
            Step::AnswerComplaint { .. } => (Party::Store, OrderStatus::ALL),
        }
    }
}

impl Order {
    fn is_winner(&self, caller: &Caller) -> bool {
        matches!(caller, Caller::Store(id) if self.winner.as_ref().is_some_and(|w| &w.store_id == id))
    }

    fn is_customer(&self, caller: &Caller) -> bool {
        matches!(caller, Caller::Customer(id) if id == &self.customer_id)
    }

    fn line_mut(&mut self, line: usize) -> Result<&mut LineState, StepRefusal> {
        self.packing.get_mut(line).ok_or(StepRefusal::Invalid("no such line"))
    }

    fn wrong_state(&self) -> StepRefusal {
        StepRefusal::WrongState {
            current: self.status.as_str(),
        }
    }

    /// The order after `step` taken by `actor` at `now`, or why not.
    pub fn fulfil(&self, actor: &Caller, step: &Step, now: Millis) -> Result<Order, StepRefusal> {
        let (party, states) = step.rule();
        let allowed = match party {
            Party::Customer => self.is_customer(actor),
            Party::Store => self.is_winner(actor),
            Party::Either => self.is_customer(actor) || self.is_winner(actor),
        };
        if !allowed {
            return Err(StepRefusal::NotYours);
        }
        if !states.contains(&self.status) {
            return Err(self.wrong_state());
        }
        let mut next = self.clone();
        next.packing.resize(self.items.len(), LineState::Pending);
        // A choice made while searching takes the winner's terms.
        next.delivery = self.delivery_choice();
        match step {
            Step::Pack { line, outcome } => {
                let state = next.line_mut(*line)?;
                if matches!(state, LineState::Dropped) {
                    return Err(StepRefusal::Invalid("the customer dropped this line"));
                }
                *state = match outcome {
                    PackOutcome::Packed { price } => LineState::Packed {
                        price: checked(*price)?,
                    },
                    PackOutcome::PartlyPacked { quantity, price } => {
                        if quantity.amount <= Decimal::ZERO {
                            return Err(StepRefusal::Invalid("a packed amount must be above zero"));
                        }
                        LineState::PartlyPacked {
                            quantity: *quantity,
                            price: checked(*price)?,
                        }
                    }
                    PackOutcome::Unavailable => LineState::Unavailable,
                    PackOutcome::Substitute { name, quantity, price } => LineState::SubstituteOffered {
                        name: short_text(name)?,
                        quantity: *quantity,
                        price: checked(*price)?,
                    },
                };
                if self.status == OrderStatus::Accepted {
                    next.status = OrderStatus::Preparing;
                    next.set_eta(now);
                }
            }
            Step::Drop { line } => {
                let state = next.line_mut(*line)?;
                if !matches!(
                    state,
                    LineState::Pending | LineState::Unavailable | LineState::SubstituteOffered { .. }
                ) {
                    return Err(StepRefusal::Invalid("this line is already packed"));
                }
                *state = LineState::Dropped;
            }
            Step::AnswerSubstitute { line, accept } => {
                let state = next.line_mut(*line)?;
                let LineState::SubstituteOffered { name, quantity, price } = state.clone() else {
                    return Err(StepRefusal::Invalid("no substitute is offered for this line"));
                };
                *state = if *accept {
                    LineState::Substituted { name, quantity, price }
                } else {
                    LineState::Dropped
                };
            }
            Step::ChooseDelivery { kind, slot } => {
                let option = kind
                    .among(&self.delivery_terms())
                    .ok_or(StepRefusal::DeliveryNotOffered(*kind))?;
                next.delivery = Some(DeliveryChoice::new(option, *slot, now)?);
                if self.status == OrderStatus::Preparing {
                    next.set_eta(now);
                }
            }
            Step::HandOver => {
                if !next.packing.iter().all(LineState::settled) {
                    return Err(StepRefusal::Invalid(
                        "every line must be packed, unavailable or dropped",
                    ));
                }
                let Some(delivery) = &next.delivery else {
                    return Err(StepRefusal::Invalid("the customer has not chosen a delivery yet"));
                };
                next.status = match delivery.option {
                    DeliveryOption::Pickup { .. } => OrderStatus::ReadyForPickup,
                    DeliveryOption::HelperDelivery { .. } => OrderStatus::OutForDelivery,
                };
            }
            Step::Complete => {
                next.status = OrderStatus::Completed;
                next.bill = Some(Bill::of(&next));
                next.completed_at_ms = Some(now);
            }
            Step::Share { secret } => {
                next.share_secret = Some(self.share_secret.clone().unwrap_or_else(|| secret.clone()));
            }
            Step::Review { stars, comment } => {
                if self.review.is_some() {
                    return Err(StepRefusal::Invalid("this order has been reviewed already"));
                }
                if !(1..=5).contains(stars) {
                    return Err(StepRefusal::Invalid("stars are 1 to 5"));
                }
                let comment = comment.as_ref().map(|c| c.trim().to_string()).filter(|c| !c.is_empty());
                if comment
                    .as_ref()
                    .is_some_and(|c| c.chars().count() > 500 || c.chars().any(char::is_control))
                {
                    return Err(StepRefusal::Invalid("a comment is at most 500 characters of text"));
                }
                next.review = Some(Review {
                    stars: *stars,
                    comment,
                    at_ms: now,
                });
            }
            Step::Complain { text, wants_return } => {
                if self.complaint.is_some() {
                    return Err(StepRefusal::Invalid("this order has a complaint already"));
                }
                next.complaint = Some(Complaint {
                    text: short_text(text)?,
                    wants_return: *wants_return,
                    at_ms: now,
                    answer: None,
                });
            }
            Step::AnswerComplaint { text } => {
                let Some(complaint) = &mut next.complaint else {
                    return Err(StepRefusal::Invalid("there is no complaint to answer"));
                };
                complaint.answer = Some(short_text(text)?);
            }
        }
        next.updated_at_ms = now;
        next.version += 1;
        Ok(next)
    }

    /// Ready or delivered after the option's minutes from now, or at the
    /// customer's slot if that is later.
    /// The winning store gives the order back (before hand-over), with a
    /// reason; the order goes back to routing: `next` is the new round, or
    /// the end when no store is left.
    pub fn store_cancelled(
        &self,
        actor: &Caller,
        reason: &str,
        next_round: super::order::NextRound,
        now: Millis,
    ) -> Result<Order, StepRefusal> {
        let Caller::Store(store_id) = actor else {
            return Err(StepRefusal::NotYours);
        };
        if !self.is_winner(actor) {
            return Err(StepRefusal::NotYours);
        }
        if !matches!(self.status, OrderStatus::Accepted | OrderStatus::Preparing) {
            return Err(self.wrong_state());
        }
        let mut next = self.clone();
        next.store_cancellations.push(StoreCancellation {
            store_id: store_id.clone(),
            reason: short_text(reason)?,
            at_ms: now,
        });
        next.winner = None;
        next.packing.clear();
        match next_round {
            super::order::NextRound::Offer { offers, deadline_ms } => {
                next.status = OrderStatus::Searching;
                next.round += 1;
                next.deadline_ms = deadline_ms;
                next.tried.extend(offers.iter().map(|o| o.store_id.clone()));
                next.offers = offers;
            }
            super::order::NextRound::Unfulfilled { reason } => {
                next.status = OrderStatus::Unfulfilled;
                next.end_reason = Some(reason);
            }
        }
        next.updated_at_ms = now;
        next.version += 1;
        Ok(next)
    }

    fn set_eta(&mut self, now: Millis) {
        if let Some(delivery) = &mut self.delivery {
            let soonest = now + delivery.minutes() * 60_000;
            delivery.eta_ms = Some(delivery.slot.map_or(soonest, |s| s.from_ms.max(soonest)));
        }
    }
}

fn short_text(text: &str) -> Result<String, StepRefusal> {
    let text = text.trim();
    if text.is_empty() || text.chars().count() > 1_000 || text.chars().any(|c| c.is_control() && c != '\n') {
        return Err(StepRefusal::Invalid("give 1 to 1,000 characters of text"));
    }
    Ok(text.to_string())
}

fn checked(price: Paisa) -> Result<Paisa, StepRefusal> {
    if price > MAX_LINE_PRICE {
        Err(StepRefusal::Invalid("a line costs at most 1,000,000 Taka"))
    } else {
        Ok(price)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::demand::Language;
    use crate::domain::demand::{Unit, parse_demand_text};
    use crate::domain::geo::GeoPoint;
    use crate::domain::ids::{CustomerId, OrderId, StoreId};
    use crate::domain::order::{Offer, Transition};
    use proptest::prelude::*;

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
            .apply(&Transition::Accept {
                store_id: StoreId::new("s1").expect("id"),
                store_name: "Green Grocery".into(),
                now: 1_000,
            })
            .expect("accepted")
    }

    /// Offered to s1 only, whose offer carried `delivery_options`.
    fn searching_with(delivery_options: Vec<DeliveryOption>) -> Order {
        Order::open(
            OrderId::generate(),
            CustomerId::new("c1").expect("id"),
            parse_demand_text("1.2 kg rice, 600 g meat, spices").expect("parses"),
            GeoPoint::new(23.8, 90.4).expect("valid"),
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
            Err(StepRefusal::DeliveryNotOffered(DeliveryKind::HelperDelivery))
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
            Err(StepRefusal::Invalid(
                "every line must be packed, unavailable or dropped"
            ))
        );
        let half = Quantity {
            amount: Decimal::new(4, 1),
            unit: Unit::Kilogram,
        };
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
            Err(StepRefusal::WrongState {
                current: "out_for_delivery"
            })
        );
        let done = o.fulfil(&c, &Step::Complete, 6_000).expect("completes");
        let bill = done.bill.clone().expect("fixed at completion");
        assert_eq!(bill.total, Paisa(9_600 + 28_000 + 4_000));
        assert_eq!(bill.lines.len(), 2, "the unavailable line is not billed");
        assert_eq!(bill.lines[1].quantity, Some(half), "billed as packed, not as asked");
        assert_eq!(
            done.fulfil(&s1, &Step::Complete, 6_500),
            Err(StepRefusal::WrongState { current: "completed" })
        );
        assert_eq!(
            done.fulfil(&store("s2"), &Step::Complete, 6_500),
            Err(StepRefusal::NotYours)
        );
        // Sharing: only its customer, only once completed, one secret.
        let share = |secret: &str| Step::Share { secret: secret.into() };
        assert_eq!(
            o.fulfil(&c, &share("a"), 6_000),
            Err(StepRefusal::WrongState {
                current: "out_for_delivery"
            })
        );
        assert_eq!(done.fulfil(&s1, &share("a"), 6_500), Err(StepRefusal::NotYours));
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
            Err(StepRefusal::NotYours)
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
        assert!(
            reviewed
                .fulfil(
                    &c,
                    &Step::Review {
                        stars: 5,
                        comment: None
                    },
                    8_000
                )
                .is_err(),
            "once per order"
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
            Err(StepRefusal::NotYours)
        );
        let o = o
            .fulfil(&c, &Step::AnswerSubstitute { line: 0, accept: true }, 3_600)
            .expect("takes it");
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
            Err(StepRefusal::WrongState { current: "accepted" })
        );
        assert_eq!(
            o.fulfil(&c, &Step::Complete, 2_000),
            Err(StepRefusal::WrongState { current: "accepted" })
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
            Err(StepRefusal::NotYours)
        );
        assert_eq!(
            o.fulfil(&s1, &Step::Drop { line: 0 }, 2_000),
            Err(StepRefusal::NotYours)
        );
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
            amounts in prop::collection::vec(1i64..1_000_000, 3),
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
            let done = o.fulfil(&s1, &Step::HandOver, 4_000).expect("hands over")
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
