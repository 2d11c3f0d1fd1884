//! Live stock, optional per store: what a store has counted of each item
//! (by inventory tag), what accepted orders hold of it, and what packing
//! sold. Every rule about stock is stated here, once: a recount, and what
//! each order change does to the counts ([`StockLedger::follow`]). Storage
//! writes the ledger in the same atomic write as the order change it
//! follows, over the version it was decided on.
//!
//! Amounts are kept in a base unit (grams, millilitres, pieces, packets), so
//! a count in kg covers a line in g. For every item, always:
//! `reserved + sold + available = counted`, and `available >= 0`.

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::clock::Millis;
use super::demand::{DemandItem, Quantity, Unit};
use super::ids::StoreId;
use super::order::packing::LineState;
use super::order::{Order, OrderStatus};
use super::store::{MAX_LABEL_CHARS, inventory_tag};

/// Most items one store may count.
pub const MAX_STOCK_ITEMS: usize = 500;
/// Largest count of one item, in the unit it is given in.
pub const MAX_STOCK_AMOUNT: Decimal = Decimal::from_parts(1_000_000, 0, 0, false, 0);

/// One counted item, in its base unit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StockLine {
    pub unit: Unit,
    /// What the store counted at its last recount.
    pub counted: Decimal,
    /// Held by accepted orders not packed yet.
    pub reserved: Decimal,
    /// Packed since the last recount.
    pub sold: Decimal,
}

impl StockLine {
    /// What may still be promised.
    #[must_use]
    pub fn available(&self) -> Decimal {
        self.counted - self.reserved - self.sold
    }
}

/// What one accepted order holds of one line's item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hold {
    /// The demand line (0-based) the hold is for.
    pub line: usize,
    pub tag: String,
    /// In the item's base unit.
    pub amount: Decimal,
}

/// A store's counts and the holds on them. The default (nothing counted)
/// is a store without counts: tags alone decide for it, as before.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StockLedger {
    /// By inventory tag.
    #[serde(default)]
    pub lines: BTreeMap<String, StockLine>,
    /// By order id: what each accepted, unpacked order holds.
    #[serde(default)]
    pub holds: BTreeMap<String, Vec<Hold>>,
    #[serde(default)]
    pub updated_at_ms: Millis,
}

/// The item a line needs and the store cannot cover.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not enough {tag} in stock")]
pub struct OutOfStock {
    pub tag: String,
}

/// One count a store sends: `{"tag": "rice", "amount": "5", "unit": "kg"}`.
/// Units arrive as text so an unknown one gets its own error.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StockCountInput {
    /// The inventory tag, as in the store's `tags`.
    pub tag: String,
    /// What is on the shelf now, including what accepted orders hold and
    /// is not packed yet: a number, or a number as text in Latin or Bangla
    /// digits.
    #[serde(deserialize_with = "crate::domain::demand::quantity::amount_in_any_digits")]
    #[schemars(extend("pattern" = crate::domain::demand::quantity::AMOUNT_PATTERN))]
    pub amount: Decimal,
    /// g, kg, ml, l, piece, dozen or packet.
    pub unit: String,
}

/// Every count a store keeps; items left out are no longer counted.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StockInput {
    pub items: Vec<StockCountInput>,
}

/// Why a recount was refused; `field` names the offending field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {problem}")]
pub struct InvalidStock {
    pub field: String,
    pub problem: String,
}

fn invalid(field: String, problem: impl Into<String>) -> InvalidStock {
    InvalidStock {
        field,
        problem: problem.into(),
    }
}

/// The amount a line needs of its item in base units, when the line names
/// an amount in a unit comparable to `unit`.
fn need_in(quantity: Option<Quantity>, unit: Unit) -> Option<Decimal> {
    let (amount, base) = quantity?.in_base_units();
    (base == unit).then_some(amount)
}

impl StockLedger {
    /// Whether the store counts anything: a store without counts behaves
    /// as if stock did not exist.
    #[must_use]
    pub fn is_counted(&self) -> bool {
        !self.lines.is_empty()
    }

    /// What `items` need of counted items: (line, tag, amount). Lines with
    /// no amount, of an item the store does not count, or in a unit its
    /// count cannot be compared with (kg against pieces) are left to tags.
    fn needs<'i>(&self, lines: impl IntoIterator<Item = (usize, &'i DemandItem)>) -> Vec<Hold> {
        lines
            .into_iter()
            .filter_map(|(line, item)| {
                let counted = self.lines.get(&item.tag)?;
                let amount = need_in(item.quantity, counted.unit)?;
                Some(Hold {
                    line,
                    tag: item.tag.clone(),
                    amount,
                })
            })
            .collect()
    }

    /// The first item `items` need more of than is available, if any. Two
    /// lines of one item add up.
    fn shortfall(&self, needs: &[Hold]) -> Option<OutOfStock> {
        let mut wanted: BTreeMap<&str, Decimal> = BTreeMap::new();
        for hold in needs {
            *wanted.entry(hold.tag.as_str()).or_default() += hold.amount;
        }
        wanted
            .into_iter()
            .find(|(tag, amount)| self.lines.get(*tag).is_none_or(|l| l.available() < *amount))
            .map(|(tag, _)| OutOfStock { tag: tag.to_string() })
    }

    /// Whether the store's counts cover every line of `items` (matching
    /// skips a store whose counts cannot).
    #[must_use]
    pub fn covers(&self, items: &[DemandItem]) -> bool {
        self.shortfall(&self.needs(items.iter().enumerate())).is_none()
    }

    /// Holds what `order` still wants (a dropped line needs nothing), all
    /// or nothing. Holding for an order
    /// that already holds changes nothing.
    fn reserve(&mut self, order: &Order) -> Result<(), OutOfStock> {
        let id = order.id().as_str();
        if self.holds.contains_key(id) {
            return Ok(());
        }
        let needs = self.needs(order.wanted_lines());
        if let Some(short) = self.shortfall(&needs) {
            return Err(short);
        }
        if needs.is_empty() {
            return Ok(());
        }
        for hold in &needs {
            if let Some(line) = self.lines.get_mut(&hold.tag) {
                line.reserved += hold.amount;
            }
        }
        self.holds.insert(id.to_string(), needs);
        Ok(())
    }

    /// Ends one hold: `sold` of it (at most all of it) is sold, the rest is
    /// available again.
    fn end_hold(&mut self, hold: &Hold, sold: Decimal) {
        if let Some(line) = self.lines.get_mut(&hold.tag) {
            let sold = sold.clamp(Decimal::ZERO, hold.amount);
            line.reserved -= hold.amount;
            line.sold += sold;
        }
    }

    /// Releases everything `order` holds.
    fn release(&mut self, order: &str) {
        for hold in self.holds.remove(order).unwrap_or_default() {
            self.end_hold(&hold, Decimal::ZERO);
        }
    }

    /// Settles the holds of `order` whose line packing has decided: a
    /// packed line sells what it held, a partly packed one sells what was
    /// packed and releases the rest, an unavailable, substituted or dropped
    /// line releases it all. Pending lines keep holding.
    fn settle(&mut self, order: &str, packing: &[LineState]) {
        let Some(holds) = self.holds.remove(order) else {
            return;
        };
        let mut kept = Vec::new();
        for hold in holds {
            let sold = match packing.get(hold.line) {
                None | Some(LineState::Pending) => {
                    kept.push(hold);
                    continue;
                }
                Some(LineState::Packed { .. }) => hold.amount,
                Some(LineState::PartlyPacked { quantity, .. }) => {
                    let unit = self.lines.get(&hold.tag).map(|l| l.unit);
                    // Packed in a unit the count cannot compare: as asked.
                    unit.and_then(|u| need_in(Some(*quantity), u)).unwrap_or(hold.amount)
                }
                Some(_) => Decimal::ZERO,
            };
            self.end_hold(&hold, sold);
        }
        if !kept.is_empty() {
            self.holds.insert(order.to_string(), kept);
        }
    }

    /// The store's counts after `before` became `after` at store `store`
    /// (`Ok(false)`: the change does not touch them): the store winning it
    /// holds what the order needs (refused when the counts cannot cover
    /// it); packing settles the holds; a cancel, a give-back or an end
    /// without completion releases them.
    pub fn follow(&mut self, store: &StoreId, before: &Order, after: &Order) -> Result<bool, OutOfStock> {
        let id = after.id().as_str();
        let was = self.clone();
        if after.is_won_by(store) && !before.is_won_by(store) {
            self.reserve(after)?;
        }
        let ended = matches!(after.status(), OrderStatus::Cancelled | OrderStatus::Unfulfilled);
        if ended || !after.is_won_by(store) {
            self.release(id);
        } else {
            self.settle(id, after.packing());
        }
        Ok(*self != was)
    }

    /// The store that an order change may move the stock of: the winner
    /// before or after it, when the winner, the packing or the status
    /// changed. `None`: the change leaves every count alone.
    #[must_use]
    pub fn store_concerned<'a>(before: &'a Order, after: &'a Order) -> Option<&'a StoreId> {
        let winner = before.winner().or(after.winner()).map(|w| &w.store_id)?;
        let moved = before.winner() != after.winner()
            || before.packing() != after.packing()
            || before.status() != after.status();
        moved.then_some(winner)
    }

    /// The ledger after the store counted again: each listed item is on
    /// the shelf in the amount given (what accepted orders hold included),
    /// sales since the last count start from zero, and items left out are
    /// no longer counted (their holds end: those orders go on uncounted).
    /// A count below what orders hold, or a change of an item's kind of
    /// unit while orders hold it, is refused.
    pub fn recounted(&self, input: &StockInput, now: Millis) -> Result<StockLedger, InvalidStock> {
        if input.items.len() > MAX_STOCK_ITEMS {
            return Err(invalid("items".into(), format!("at most {MAX_STOCK_ITEMS} items")));
        }
        let mut lines: BTreeMap<String, StockLine> = BTreeMap::new();
        let mut names = std::collections::BTreeSet::new();
        for (i, count) in input.items.iter().enumerate() {
            let at = |field: &str| format!("items[{i}].{field}");
            let tag = count.tag.trim();
            if tag.is_empty() || tag.chars().count() > MAX_LABEL_CHARS || tag.chars().any(char::is_control) {
                return Err(invalid(at("tag"), "1 to 80 characters of text"));
            }
            // The same item named twice is a slip; two items orders ask
            // for under one tag are not (below).
            if !names.insert(crate::domain::demand::words::phrase_key(tag)) {
                return Err(invalid(at("tag"), "listed twice"));
            }
            // Counted under the tag orders carry ("dal" is `lentils`).
            let tag = inventory_tag(tag);
            if tag.is_empty() {
                return Err(invalid(at("tag"), "the name of an item, with letters"));
            }
            let unit = Unit::from_word(count.unit.trim())
                .ok_or_else(|| invalid(at("unit"), "use g, kg, ml, l, piece, dozen or packet"))?;
            if count.amount < Decimal::ZERO || count.amount > MAX_STOCK_AMOUNT {
                return Err(invalid(at("amount"), format!("from 0 to {MAX_STOCK_AMOUNT}")));
            }
            let (mut counted, unit) = Quantity {
                amount: count.amount,
                unit,
            }
            .in_base_units();
            // Items orders ask for under one tag count together: "beef 10
            // kg" and "mutton 5 kg" are 15 kg of `meat`.
            if let Some(before) = lines.get(&tag) {
                if before.unit != unit {
                    return Err(invalid(
                        at("unit"),
                        format!("counted with another line as {tag}, in another kind of unit"),
                    ));
                }
                counted += before.counted;
            }
            let (reserved, held_unit) = self
                .lines
                .get(&tag)
                .map_or((Decimal::ZERO, unit), |l| (l.reserved, l.unit));
            if reserved > Decimal::ZERO && held_unit != unit {
                return Err(invalid(
                    at("unit"),
                    "accepted orders hold this item in another kind of unit",
                ));
            }
            if counted < reserved {
                return Err(invalid(
                    at("amount"),
                    format!(
                        "accepted orders still hold {} {}",
                        reserved.normalize(),
                        base_symbol(unit)
                    ),
                ));
            }
            let line = StockLine {
                unit,
                counted,
                reserved,
                sold: Decimal::ZERO,
            };
            lines.insert(tag, line);
        }
        let mut holds = self.holds.clone();
        for order_holds in holds.values_mut() {
            order_holds.retain(|h| lines.contains_key(&h.tag));
        }
        holds.retain(|_, h| !h.is_empty());
        Ok(StockLedger {
            lines,
            holds,
            updated_at_ms: now.max(self.updated_at_ms + 1),
        })
    }
}

fn base_symbol(unit: Unit) -> &'static str {
    match unit {
        Unit::Gram | Unit::Kilogram => "g",
        Unit::Millilitre | Unit::Litre => "ml",
        Unit::Packet => "packet",
        Unit::Piece | Unit::Dozen => "piece",
    }
}

/// One counted item as a store sees it, in its base unit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct StockItemView {
    pub tag: String,
    /// `g`, `ml`, `piece` or `packet`.
    pub unit: Unit,
    pub counted: Decimal,
    pub reserved: Decimal,
    pub sold: Decimal,
    pub available: Decimal,
}

/// A store's stock: every counted item (none: the store keeps no counts),
/// and the version a push carries so an app keeps the newest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct StockView {
    pub store_id: StoreId,
    pub version: u64,
    pub items: Vec<StockItemView>,
}

impl StockView {
    #[must_use]
    pub fn of(store_id: &StoreId, ledger: &StockLedger, version: u64) -> Self {
        StockView {
            store_id: store_id.clone(),
            version,
            items: ledger
                .lines
                .iter()
                .map(|(tag, l)| StockItemView {
                    tag: tag.clone(),
                    unit: l.unit,
                    counted: l.counted.normalize(),
                    reserved: l.reserved.normalize(),
                    sold: l.sold.normalize(),
                    available: l.available().normalize(),
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::domain::demand::{ItemStatus, Language};
    use crate::domain::geo::GeoPoint;
    use crate::domain::ids::{CustomerId, OrderId, StoreId};
    use crate::domain::order::money::{Paisa, PaymentMethod};
    use crate::domain::order::packing::PackOutcome;
    use crate::domain::order::{Actor, Change, Decision, NO_STORE_ACCEPTED, NewOrder, NextRound, Offer, Step};

    const WINDOW: Millis = 60_000;

    fn store() -> StoreId {
        StoreId::new("s1").expect("id")
    }

    fn line(tag: &str, amount: i64, scale: u32, unit: Unit) -> DemandItem {
        DemandItem {
            name: tag.into(),
            name_bn: None,
            tag: tag.into(),
            category: Some("grocery".into()),
            quantity: Some(Quantity {
                amount: Decimal::new(amount, scale),
                unit,
            }),
            status: ItemStatus::Matched,
            said: None,
            recipe: None,
        }
    }

    fn searching(items: Vec<DemandItem>) -> Order {
        let new = NewOrder {
            id: OrderId::generate(),
            customer_id: CustomerId::new("c1").expect("id"),
            items,
            location: GeoPoint::new(23.8, 90.4).expect("point"),
            delivery: None,
            payment: PaymentMethod::default(),
            address: None,
        };
        let offer = Offer {
            store_id: store(),
            distance_m: 100,
            language: Language::En,
            delivery_options: Vec::new(),
        };
        Order::open(new, vec![offer], 0, WINDOW)
    }

    fn counted(items: &[(&str, i64, &str)]) -> StockLedger {
        let input = StockInput {
            items: items
                .iter()
                .map(|(tag, amount, unit)| StockCountInput {
                    tag: (*tag).into(),
                    amount: Decimal::from(*amount),
                    unit: (*unit).into(),
                })
                .collect(),
        };
        StockLedger::default().recounted(&input, 1).expect("valid counts")
    }

    fn as_store() -> Actor {
        Actor::Store(store())
    }

    /// Applies `change` to the order and the ledger together, as the use
    /// cases do: both or neither.
    fn step(ledger: &mut StockLedger, order: &mut Order, actor: &Actor, change: &Change, now: Millis) -> bool {
        // A repeat the order already shows changes nothing: not applied.
        let Ok(Decision::Apply(next)) = order.decide(actor, change, now) else {
            return false;
        };
        let next = *next;
        let mut trial = ledger.clone();
        if trial.follow(&store(), order, &next).is_err() {
            return false;
        }
        *ledger = trial;
        *order = next;
        true
    }

    fn accept() -> Change {
        Change::Accept {
            store_name: "S1".into(),
            store_location: None,
        }
    }

    fn pack(line: usize, outcome: PackOutcome) -> Change {
        Change::Step(Step::Pack { line, outcome })
    }

    fn invariant_holds(ledger: &StockLedger) -> Result<(), TestCaseError> {
        for (tag, l) in &ledger.lines {
            prop_assert_eq!(l.reserved + l.sold + l.available(), l.counted, "{}", tag);
            prop_assert!(l.available() >= Decimal::ZERO, "{} available {}", tag, l.available());
            let held: Decimal = ledger
                .holds
                .values()
                .flatten()
                .filter(|h| &h.tag == tag)
                .map(|h| h.amount)
                .sum();
            prop_assert_eq!(held, l.reserved, "{}", tag);
        }
        Ok(())
    }

    #[test]
    fn the_last_kilogram_is_promised_once() {
        let mut ledger = counted(&[("rice", 1, "kg")]);
        let mut first = searching(vec![line("rice", 1, 0, Unit::Kilogram)]);
        let second = searching(vec![line("rice", 1000, 0, Unit::Gram)]);
        assert!(ledger.covers(first.items()) && ledger.covers(second.items()));
        assert!(step(&mut ledger, &mut first, &as_store(), &accept(), 10));
        let won = second
            .decide(&as_store(), &accept(), 11)
            .map(|decision| decision.answer(&second))
            .expect("the order allows it");
        assert_eq!(
            ledger.clone().follow(&store(), &second, &won),
            Err(OutOfStock { tag: "rice".into() })
        );
        assert!(!ledger.covers(second.items()));
        assert_eq!(ledger.lines["rice"].available(), Decimal::ZERO);
    }

    #[test]
    fn packing_sells_what_was_packed_and_releases_the_rest() {
        let mut ledger = counted(&[("rice", 5, "kg"), ("oil", 2, "l"), ("eggs", 2, "dozen")]);
        let mut order = searching(vec![
            line("rice", 2, 0, Unit::Kilogram),
            line("oil", 1, 0, Unit::Litre),
            line("eggs", 12, 0, Unit::Piece),
            line("salt", 1, 0, Unit::Kilogram),
        ]);
        assert!(step(&mut ledger, &mut order, &as_store(), &accept(), 10));
        assert_eq!(ledger.lines["rice"].reserved, Decimal::from(2000));
        assert_eq!(ledger.lines["eggs"].reserved, Decimal::from(12));
        let partly = PackOutcome::PartlyPacked {
            quantity: Quantity {
                amount: Decimal::new(15, 1),
                unit: Unit::Kilogram,
            },
            price: Paisa(100),
        };
        assert!(step(&mut ledger, &mut order, &as_store(), &pack(0, partly), 20));
        assert_eq!(ledger.lines["rice"].sold, Decimal::from(1500));
        assert_eq!(ledger.lines["rice"].available(), Decimal::from(3500));
        assert!(step(
            &mut ledger,
            &mut order,
            &as_store(),
            &pack(1, PackOutcome::Unavailable),
            21
        ));
        assert_eq!(ledger.lines["oil"].available(), Decimal::from(2000));
        let packed = PackOutcome::Packed { price: Paisa(100) };
        assert!(step(&mut ledger, &mut order, &as_store(), &pack(2, packed), 22));
        assert_eq!(ledger.lines["eggs"].sold, Decimal::from(12));
        assert!(ledger.holds.is_empty());
    }

    #[test]
    fn cancel_give_back_and_the_end_release_what_is_held() {
        let customer = Actor::Customer(CustomerId::new("c1").expect("id"));
        for change in [
            (customer, Change::Cancel),
            (
                as_store(),
                Change::GiveBack {
                    reason: "shelf empty".into(),
                    next: NextRound::Unfulfilled {
                        reason: NO_STORE_ACCEPTED.into(),
                    },
                },
            ),
        ] {
            let mut ledger = counted(&[("rice", 3, "kg")]);
            let mut order = searching(vec![line("rice", 3, 0, Unit::Kilogram)]);
            assert!(step(&mut ledger, &mut order, &as_store(), &accept(), 10));
            assert_eq!(ledger.lines["rice"].available(), Decimal::ZERO);
            assert!(step(&mut ledger, &mut order, &change.0, &change.1, 20), "{change:?}");
            assert_eq!(ledger.lines["rice"].available(), Decimal::from(3000), "{change:?}");
        }
    }

    #[test]
    fn a_count_in_the_shopkeepers_words_covers_what_orders_ask_for() {
        let ledger = counted(&[
            ("dal", 3, "kg"),
            ("ডিম", 2, "dozen"),
            ("beef", 10, "kg"),
            ("mutton", 5, "kg"),
        ]);
        let tags: Vec<&str> = ledger.lines.keys().map(String::as_str).collect();
        assert_eq!(tags, ["eggs", "lentils", "meat"]);
        assert_eq!(
            ledger.lines["meat"].counted,
            Decimal::from(15_000),
            "beef and mutton count together"
        );
        let asked = crate::domain::demand::parse_demand_text("2 kg lentils, 12 eggs").expect("parses");
        assert!(ledger.covers(&asked));
        for too_much in ["4 kg dal", "30 eggs", "16 kg beef"] {
            let asked = crate::domain::demand::parse_demand_text(too_much).expect("parses");
            assert!(!ledger.covers(&asked), "{too_much}");
        }
    }

    #[test]
    fn stores_without_counts_and_uncounted_lines_are_left_to_tags() {
        let mut none = StockLedger::default();
        let mut order = searching(vec![line("rice", 50, 0, Unit::Kilogram)]);
        assert!(none.covers(order.items()));
        assert!(step(&mut none, &mut order, &as_store(), &accept(), 10));
        assert_eq!(none, StockLedger::default());
        // Counted in pieces, asked in kg: the count cannot say; tags decide.
        let ledger = counted(&[("eggs", 1, "piece")]);
        assert!(ledger.covers(&[line("eggs", 1, 0, Unit::Kilogram), line("salt", 9, 0, Unit::Kilogram)]));
        assert!(!ledger.covers(&[line("eggs", 2, 0, Unit::Piece)]));
    }

    #[test]
    fn a_recount_names_the_field_at_fault_and_keeps_the_holds() {
        let mut ledger = counted(&[("rice", 3, "kg")]);
        let mut order = searching(vec![line("rice", 2, 0, Unit::Kilogram)]);
        assert!(step(&mut ledger, &mut order, &as_store(), &accept(), 10));
        let input = |items: Vec<(&str, Decimal, &str)>| StockInput {
            items: items
                .into_iter()
                .map(|(tag, amount, unit)| StockCountInput {
                    tag: tag.into(),
                    amount,
                    unit: unit.into(),
                })
                .collect(),
        };
        let refused = |items, field: &str| {
            let e = ledger.recounted(&input(items), 20).expect_err("refused");
            assert_eq!(e.field, field, "{e}");
        };
        refused(vec![("rice", Decimal::ONE, "kg")], "items[0].amount");
        refused(vec![("rice", Decimal::from(5), "piece")], "items[0].unit");
        refused(vec![("oil", Decimal::ONE, "cups")], "items[0].unit");
        refused(vec![("oil", Decimal::NEGATIVE_ONE, "l")], "items[0].amount");
        refused(vec![(" ", Decimal::ONE, "l")], "items[0].tag");
        refused(
            vec![("oil", Decimal::ONE, "l"), ("OIL", Decimal::ONE, "l")],
            "items[1].tag",
        );
        let again = ledger
            .recounted(&input(vec![("Rice", Decimal::from(2500), "g")]), 20)
            .expect("recounts");
        let rice = &again.lines["rice"];
        assert_eq!(
            (rice.counted, rice.reserved, rice.available()),
            (Decimal::from(2500), Decimal::from(2000), Decimal::from(500))
        );
        let dropped = again.recounted(&input(vec![]), 30).expect("stops counting");
        assert!(!dropped.is_counted() && dropped.holds.is_empty());
    }

    /// What happens next at the store, to one of a few orders.
    #[derive(Debug, Clone)]
    enum Event {
        Accept(usize),
        Pack(usize, usize, u8, i64),
        Cancel(usize),
        GiveBack(usize),
        Expire(usize),
        Recount(i64),
    }

    fn event() -> impl Strategy<Value = Event> {
        prop_oneof![
            (0..4usize).prop_map(Event::Accept),
            (0..4usize, 0..2usize, 0..3u8, 1..3_000i64).prop_map(|(o, l, how, g)| Event::Pack(o, l, how, g)),
            (0..4usize).prop_map(Event::Cancel),
            (0..4usize).prop_map(Event::GiveBack),
            (0..4usize).prop_map(Event::Expire),
            (0..6i64).prop_map(Event::Recount),
        ]
    }

    proptest! {
        /// For any interleaving of accepts, packs, cancels, give-backs,
        /// expiries and recounts at one store: reserved + sold + available
        /// = counted for every item, nothing goes below zero, and what is
        /// reserved is exactly what the orders hold.
        #[test]
        fn reserved_plus_sold_plus_available_is_the_count(
            amounts in prop::collection::vec((1..3_000i64, 1..3_000i64), 4),
            events in prop::collection::vec(event(), 1..40),
        ) {
            let mut ledger = counted(&[("rice", 4, "kg"), ("oil", 3, "l")]);
            let mut orders: Vec<Order> = amounts
                .iter()
                .map(|(rice, oil)| searching(vec![line("rice", *rice, 0, Unit::Gram), line("oil", *oil, 0, Unit::Millilitre)]))
                .collect();
            let customer = Actor::Customer(CustomerId::new("c1").expect("id"));
            let mut now = 10;
            for event in events {
                now += 1;
                match event {
                    Event::Accept(o) => {
                        let fits = ledger.covers(orders[o].items());
                        let searching = orders[o].status() == OrderStatus::Searching;
                        let won = step(&mut ledger, &mut orders[o], &as_store(), &accept(), now);
                        // An order within its window is won exactly when the counts cover it.
                        prop_assert_eq!(won, searching && fits);
                    }
                    Event::Pack(o, line, how, grams) => {
                        let outcome = match how {
                            0 => PackOutcome::Packed { price: Paisa(1) },
                            1 => PackOutcome::PartlyPacked {
                                quantity: Quantity { amount: Decimal::from(grams), unit: if line == 0 { Unit::Gram } else { Unit::Millilitre } },
                                price: Paisa(1),
                            },
                            _ => PackOutcome::Unavailable,
                        };
                        step(&mut ledger, &mut orders[o], &as_store(), &pack(line, outcome), now);
                    }
                    Event::Cancel(o) => {
                        step(&mut ledger, &mut orders[o], &customer, &Change::Cancel, now);
                    }
                    Event::GiveBack(o) => {
                        let change = Change::GiveBack {
                            reason: "sold out".into(),
                            next: NextRound::Unfulfilled { reason: NO_STORE_ACCEPTED.into() },
                        };
                        step(&mut ledger, &mut orders[o], &as_store(), &change, now);
                    }
                    Event::Expire(o) => {
                        let round = orders[o].round();
                        let change = Change::CloseRound { round, next: NextRound::Unfulfilled { reason: NO_STORE_ACCEPTED.into() } };
                        step(&mut ledger, &mut orders[o], &Actor::Timer, &change, now + WINDOW);
                    }
                    Event::Recount(kg) => {
                        let input = StockInput { items: vec![
                            StockCountInput { tag: "rice".into(), amount: Decimal::from(kg), unit: "kg".into() },
                            StockCountInput { tag: "oil".into(), amount: Decimal::from(3), unit: "l".into() },
                        ] };
                        if let Ok(next) = ledger.recounted(&input, now) {
                            ledger = next;
                        }
                    }
                }
                invariant_holds(&ledger)?;
                // Only orders a store holds for are accepted and unpacked.
                for order in &orders {
                    if ledger.holds.contains_key(order.id().as_str()) {
                        prop_assert!(matches!(order.status(), OrderStatus::Accepted | OrderStatus::Preparing));
                    }
                }
            }
        }
    }
}
