//! What operators watch: figures per area and hour (time to accept,
//! acceptance and unfulfilled rates, fulfilment time) and the city's live
//! activity, both read from the orders' audit trails (the events recorded as
//! each journey happens). Places are H3 cells, never points: an area is a
//! resolution-7 cell (about 5 km²), the live map draws resolution-8 cells
//! (about 0.7 km²).

use std::collections::BTreeMap;

use h3o::{CellIndex, LatLng, Resolution};
use serde::Serialize;

use crate::domain::clock::Millis;
use crate::domain::ids::OrderId;
use crate::domain::order::{Happened, Order, OrderStatus};

/// The cells figures are grouped by.
pub const AREA_RESOLUTION: Resolution = Resolution::Seven;
/// The cells the live map draws.
pub const MAP_RESOLUTION: Resolution = Resolution::Eight;
pub const HOUR_MS: Millis = 3_600_000;
/// The product promises an order in about half an hour.
pub const PROMISED_FULFILMENT_MS: Millis = 30 * 60_000;

/// The start of the hour `at_ms` falls in.
#[must_use]
pub fn hour_of(at_ms: Millis) -> Millis {
    at_ms.div_euclid(HOUR_MS) * HOUR_MS
}

/// A cell to draw: its id, centre and corners as `[lat, lng]` in degrees
/// (so a page needs no H3 library).
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct CellShape {
    pub cell: String,
    pub center: [f64; 2],
    pub boundary: Vec<[f64; 2]>,
}

impl CellShape {
    #[must_use]
    pub fn of(cell: CellIndex) -> Self {
        let center = LatLng::from(cell);
        CellShape {
            cell: cell.to_string(),
            center: [round6(center.lat()), round6(center.lng())],
            boundary: cell
                .boundary()
                .iter()
                .map(|p| [round6(p.lat()), round6(p.lng())])
                .collect(),
        }
    }
}

/// Micro-degrees (about 10 cm) are plenty to draw a cell.
fn round6(degrees: f64) -> f64 {
    (degrees * 1e6).round() / 1e6
}

/// The shapes of `cells`, each once, in cell order.
#[must_use]
pub fn shapes<'a>(cells: impl IntoIterator<Item = &'a String>) -> Vec<CellShape> {
    let mut unique: Vec<&String> = cells.into_iter().collect();
    unique.sort();
    unique.dedup();
    unique
        .into_iter()
        .filter_map(|c| c.parse::<CellIndex>().ok())
        .map(CellShape::of)
        .collect()
}

/// The `p`-th percentile (0 to 100) of `values` by the nearest-rank method:
/// the smallest value at least `p` % of the values are at or below. `None`
/// when there are no values.
#[must_use]
pub fn percentile(values: &[Millis], p: u32) -> Option<Millis> {
    if values.is_empty() {
        return None;
    }
    let mut sorted = values.to_vec();
    sorted.sort_unstable();
    let n = sorted.len();
    // ceil(p/100 * n), at least 1.
    let rank = (usize::try_from(p.min(100)).unwrap_or(100) * n).div_ceil(100).max(1);
    sorted.get(rank - 1).copied()
}

/// `part` of `whole` as a fraction (0 to 1), `None` of nothing.
#[must_use]
pub fn rate(part: u32, whole: u32) -> Option<f64> {
    (whole > 0).then(|| f64::from(part) / f64::from(whole))
}

/// What one order's trail says about its journey.
#[derive(Debug, Clone, PartialEq)]
pub struct Journey {
    pub area: CellIndex,
    pub placed_at_ms: Millis,
    /// From placing to the first acceptance.
    pub time_to_accept_ms: Option<Millis>,
    pub unfulfilled: bool,
    pub cancelled: bool,
    /// From placing to completion.
    pub fulfilment_ms: Option<Millis>,
}

impl Journey {
    #[must_use]
    pub fn of(order: &Order) -> Self {
        let placed = order.created_at_ms();
        let first_accept = order
            .audit()
            .iter()
            .find(|e| e.happened == Happened::Accepted)
            .map(|e| e.at_ms);
        Journey {
            area: order.location().cell(AREA_RESOLUTION),
            placed_at_ms: placed,
            time_to_accept_ms: first_accept.map(|at| at - placed),
            unfulfilled: order.status() == OrderStatus::Unfulfilled,
            cancelled: order.status() == OrderStatus::Cancelled,
            fulfilment_ms: order.completed_at_ms().map(|at| at - placed),
        }
    }
}

/// The figures of the orders placed in one area in one hour.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct AreaHour {
    /// The area: an H3 cell at resolution 7.
    pub area: String,
    /// The hour the orders were placed in (its start, ms since the epoch).
    pub hour_start_ms: Millis,
    pub orders: u32,
    /// Orders some store accepted (even if given back later).
    pub accepted: u32,
    pub unfulfilled: u32,
    pub cancelled: u32,
    pub completed: u32,
    /// Time from placing to the first acceptance, 50th and 90th percentile
    /// (nearest rank) of the accepted orders.
    pub accept_p50_ms: Option<Millis>,
    pub accept_p90_ms: Option<Millis>,
    /// accepted / orders.
    pub acceptance_rate: Option<f64>,
    /// unfulfilled / orders.
    pub unfulfilled_rate: Option<f64>,
    /// Mean time from placing to completion, of the completed orders.
    pub average_fulfilment_ms: Option<Millis>,
}

/// Figures per area and hour of placing, ordered by hour then area.
#[must_use]
pub fn figures(journeys: &[Journey]) -> Vec<AreaHour> {
    let mut groups: BTreeMap<(Millis, String), Vec<&Journey>> = BTreeMap::new();
    for journey in journeys {
        groups
            .entry((hour_of(journey.placed_at_ms), journey.area.to_string()))
            .or_default()
            .push(journey);
    }
    groups
        .into_iter()
        .map(|((hour_start_ms, area), group)| {
            let count =
                |f: fn(&Journey) -> bool| u32::try_from(group.iter().filter(|j| f(j)).count()).unwrap_or(u32::MAX);
            let accept_times: Vec<Millis> = group.iter().filter_map(|j| j.time_to_accept_ms).collect();
            let fulfilment: Vec<Millis> = group.iter().filter_map(|j| j.fulfilment_ms).collect();
            let orders = count(|_| true);
            let accepted = count(|j| j.time_to_accept_ms.is_some());
            let unfulfilled = count(|j| j.unfulfilled);
            AreaHour {
                area,
                hour_start_ms,
                orders,
                accepted,
                unfulfilled,
                cancelled: count(|j| j.cancelled),
                completed: count(|j| j.fulfilment_ms.is_some()),
                accept_p50_ms: percentile(&accept_times, 50),
                accept_p90_ms: percentile(&accept_times, 90),
                acceptance_rate: rate(accepted, orders),
                unfulfilled_rate: rate(unfulfilled, orders),
                average_fulfilment_ms: (!fulfilment.is_empty())
                    .then(|| fulfilment.iter().sum::<Millis>() / i64::try_from(fulfilment.len()).unwrap_or(1)),
            }
        })
        .collect()
}

/// What the live map shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum CityEventKind {
    /// A customer stated a demand.
    Demand,
    /// A round of offers went out.
    Offer,
    /// A store accepted.
    Accepted,
    /// The order ended with no store.
    Unfulfilled,
}

/// One thing that happened in the city: a cell and a time, never a point
/// or a person.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct CityEvent {
    pub kind: CityEventKind,
    /// An H3 cell at resolution 8.
    pub cell: String,
    pub at_ms: Millis,
    /// Stores offered (offers only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stores: Option<usize>,
    /// The order, for its audit trail.
    pub order_id: OrderId,
}

/// The map's events in `order`'s trail after `since_ms`.
#[must_use]
pub fn city_events(order: &Order, since_ms: Millis) -> Vec<CityEvent> {
    let cell = order.location().cell(MAP_RESOLUTION).to_string();
    let event = |kind, at_ms, stores| CityEvent {
        kind,
        cell: cell.clone(),
        at_ms,
        stores,
        order_id: order.id().clone(),
    };
    let routed = |at_ms, offered_to: usize| {
        if offered_to == 0 {
            event(CityEventKind::Unfulfilled, at_ms, None)
        } else {
            event(CityEventKind::Offer, at_ms, Some(offered_to))
        }
    };
    let mut events = Vec::new();
    for entry in order.audit().iter().filter(|e| e.at_ms > since_ms) {
        match entry.happened {
            Happened::Placed { offered_to } => {
                events.push(event(CityEventKind::Demand, entry.at_ms, None));
                events.push(routed(entry.at_ms, offered_to));
            }
            Happened::RoundClosed { offered_to, .. } | Happened::GivenBack { offered_to } => {
                events.push(routed(entry.at_ms, offered_to));
            }
            Happened::Accepted => events.push(event(CityEventKind::Accepted, entry.at_ms, None)),
            _ => {}
        }
    }
    events
}

/// A figure for CloudWatch: a name, a value and its unit.
#[derive(Debug, Clone, PartialEq)]
pub struct Metric {
    pub name: &'static str,
    pub value: f64,
    pub unit: MetricUnit,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricUnit {
    Count,
    Milliseconds,
}

impl MetricUnit {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            MetricUnit::Count => "Count",
            MetricUnit::Milliseconds => "Milliseconds",
        }
    }
}

/// The metrics the latest change of `order` makes, with its area: the
/// journey's figures as they happen, for dashboards and alarms.
#[must_use]
pub fn metrics_of_latest_change(order: &Order) -> Option<(String, Vec<Metric>)> {
    let latest = order.audit().last()?;
    let count = |name| Metric {
        name,
        value: 1.0,
        unit: MetricUnit::Count,
    };
    #[allow(clippy::cast_precision_loss)] // milliseconds of a journey fit an f64 exactly
    let millis = |name, ms: Millis| Metric {
        name,
        value: ms as f64,
        unit: MetricUnit::Milliseconds,
    };
    let placed = order.created_at_ms();
    let metrics = match latest.happened {
        Happened::Placed { offered_to } => {
            let mut m = vec![count("OrdersPlaced")];
            if offered_to == 0 {
                m.push(count("OrdersUnfulfilled"));
            }
            m
        }
        // The first acceptance only: a later winner after a give-back does
        // not count the order twice.
        Happened::Accepted
            if !order.audit()[..order.audit().len() - 1]
                .iter()
                .any(|e| e.happened == Happened::Accepted) =>
        {
            vec![count("OrdersAccepted"), millis("TimeToAccept", latest.at_ms - placed)]
        }
        Happened::RoundClosed { offered_to: 0, .. } | Happened::GivenBack { offered_to: 0 } => {
            vec![count("OrdersUnfulfilled")]
        }
        Happened::Completed => vec![
            count("OrdersCompleted"),
            millis("FulfilmentTime", latest.at_ms - placed),
        ],
        _ => return None,
    };
    Some((order.location().cell(AREA_RESOLUTION).to_string(), metrics))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::geo::GeoPoint;

    #[test]
    fn percentiles_are_nearest_rank() {
        assert_eq!(percentile(&[], 50), None);
        assert_eq!(percentile(&[7], 50), Some(7));
        assert_eq!(percentile(&[7], 90), Some(7));
        let ten: Vec<Millis> = (1..=10).rev().map(|v| v * 1_000).collect();
        assert_eq!(percentile(&ten, 50), Some(5_000));
        assert_eq!(percentile(&ten, 90), Some(9_000));
        assert_eq!(percentile(&ten, 100), Some(10_000));
        assert_eq!(percentile(&[3, 1, 2], 50), Some(2));
        assert_eq!(percentile(&[3, 1, 2, 4], 50), Some(2));
        assert_eq!(percentile(&[3, 1, 2, 4], 90), Some(4));
    }

    #[test]
    fn rates_are_fractions_of_a_whole_and_none_of_nothing() {
        assert_eq!(rate(0, 0), None);
        assert_eq!(rate(1, 4), Some(0.25));
        assert_eq!(rate(3, 3), Some(1.0));
    }

    fn journey(area: CellIndex, placed_at_ms: Millis) -> Journey {
        Journey {
            area,
            placed_at_ms,
            time_to_accept_ms: None,
            unfulfilled: false,
            cancelled: false,
            fulfilment_ms: None,
        }
    }

    #[test]
    fn figures_group_by_area_and_hour_of_placing() {
        let dhaka = GeoPoint::new(23.8103, 90.4125).expect("valid").cell(AREA_RESOLUTION);
        let chittagong = GeoPoint::new(22.3569, 91.7832).expect("valid").cell(AREA_RESOLUTION);
        let hour = 10 * HOUR_MS;
        let journeys = vec![
            Journey {
                time_to_accept_ms: Some(4_000),
                fulfilment_ms: Some(20 * 60_000),
                ..journey(dhaka, hour + 1)
            },
            Journey {
                time_to_accept_ms: Some(10_000),
                fulfilment_ms: Some(40 * 60_000),
                ..journey(dhaka, hour + 2)
            },
            Journey {
                unfulfilled: true,
                ..journey(dhaka, hour + 3)
            },
            Journey {
                cancelled: true,
                ..journey(dhaka, hour + 4)
            },
            journey(dhaka, hour + HOUR_MS),
            journey(chittagong, hour + 5),
        ];
        let rows = figures(&journeys);
        assert_eq!(rows.len(), 3, "two areas in the first hour, one in the next");
        let first = rows
            .iter()
            .find(|r| r.area == dhaka.to_string() && r.hour_start_ms == hour)
            .expect("Dhaka's first hour");
        assert_eq!(
            (
                first.orders,
                first.accepted,
                first.unfulfilled,
                first.cancelled,
                first.completed
            ),
            (4, 2, 1, 1, 2)
        );
        assert_eq!((first.accept_p50_ms, first.accept_p90_ms), (Some(4_000), Some(10_000)));
        assert_eq!((first.acceptance_rate, first.unfulfilled_rate), (Some(0.5), Some(0.25)));
        assert_eq!(first.average_fulfilment_ms, Some(30 * 60_000));
        let later = rows
            .iter()
            .find(|r| r.hour_start_ms == hour + HOUR_MS)
            .expect("next hour");
        assert_eq!(
            (later.orders, later.accept_p50_ms, later.acceptance_rate),
            (1, None, Some(0.0))
        );
        assert!(rows.windows(2).all(|w| w[0].hour_start_ms <= w[1].hour_start_ms));
    }

    #[test]
    fn a_cell_shape_has_six_corners_around_its_centre() {
        let cell = GeoPoint::new(23.8103, 90.4125).expect("valid").cell(MAP_RESOLUTION);
        let shape = CellShape::of(cell);
        assert_eq!(shape.boundary.len(), 6);
        assert!((shape.center[0] - 23.81).abs() < 0.01 && (shape.center[1] - 90.41).abs() < 0.01);
        assert_eq!(shapes([&shape.cell, &shape.cell]).len(), 1);
    }

    fn placed_then_accepted() -> (Order, Order) {
        use crate::domain::demand::Language;
        use crate::domain::ids::{CustomerId, StoreId};
        use crate::domain::order::money::PaymentMethod;
        use crate::domain::order::{Actor, Change, NewOrder, Offer};
        let offer = |id: &str| Offer {
            store_id: StoreId::new(id).expect("id"),
            distance_m: 300,
            language: Language::En,
            delivery_options: Vec::new(),
        };
        let placed = Order::open(
            NewOrder {
                id: OrderId::generate(),
                customer_id: CustomerId::new("c1").expect("id"),
                items: vec![],
                location: GeoPoint::new(23.8103, 90.4125).expect("valid"),
                delivery: None,
                payment: PaymentMethod::default(),
                address: None,
            },
            vec![offer("s1"), offer("s2")],
            1_000,
            60_000,
        );
        let accepted = placed
            .decide(
                &Actor::Store(StoreId::new("s2").expect("id")),
                &Change::Accept {
                    store_name: "Two".into(),
                    store_location: None,
                },
                8_000,
            )
            .map(|decision| decision.answer(&placed))
            .expect("accepts");
        (placed, accepted)
    }

    #[test]
    fn the_map_sees_cells_and_kinds_from_the_trail() {
        let (_, accepted) = placed_then_accepted();
        let events = city_events(&accepted, 0);
        let kinds: Vec<CityEventKind> = events.iter().map(|e| e.kind).collect();
        assert_eq!(
            kinds,
            [CityEventKind::Demand, CityEventKind::Offer, CityEventKind::Accepted]
        );
        assert_eq!(events[1].stores, Some(2));
        let cell = accepted.location().cell(MAP_RESOLUTION).to_string();
        assert!(events.iter().all(|e| e.cell == cell));
        assert_eq!(city_events(&accepted, 1_000).len(), 1, "only what came after");
    }

    #[test]
    fn metrics_name_the_latest_change_and_its_area() {
        let (placed, accepted) = placed_then_accepted();
        let (area, metrics) = metrics_of_latest_change(&placed).expect("placing counts");
        assert_eq!(area, placed.location().cell(AREA_RESOLUTION).to_string());
        assert_eq!(metrics.iter().map(|m| m.name).collect::<Vec<_>>(), ["OrdersPlaced"]);
        let (_, metrics) = metrics_of_latest_change(&accepted).expect("accepting counts");
        assert_eq!(metrics[1].name, "TimeToAccept");
        assert_eq!(metrics[1].value, 7_000.0);
        assert_eq!(Journey::of(&accepted).time_to_accept_ms, Some(7_000));
    }
}
