//! The operators' console: an order's audit trail, the figures per area and
//! hour, and the city's live activity. All are read from the orders as
//! stored (their trails are written with them), so nothing here writes.

use super::{Unavailable, unavailable_from_ports};
use crate::domain::clock::Millis;
use crate::domain::figures::{self, AreaHour, CellShape, CityEvent, HOUR_MS, Journey};
use crate::domain::ids::{Caller, OrderId};
use crate::domain::order::Order;
use crate::ports::OrderRepo;

/// The longest span of figures one request reads (each hour is one query).
pub const MAX_FIGURES_HOURS: i64 = 48;
/// The most orders one request reads; an answer that stopped here says so.
pub const MAX_ORDERS_READ: usize = 5_000;
/// How far back live activity may start.
pub const MAX_ACTIVITY_LOOKBACK_MS: Millis = 3 * HOUR_MS;
/// Orders placed this long before `since` are read for activity too: their
/// later rounds, acceptances and endings may fall after `since` (a whole
/// search takes minutes; a give-back can come later, and is shown if within
/// this hour).
pub const ACTIVITY_ORDER_AGE_MS: Millis = HOUR_MS;

/// What operators read.
pub struct Console<'a, R> {
    pub(super) repo: &'a R,
    pub(super) now: Millis,
}

#[derive(Debug, thiserror::Error)]
pub enum ConsoleError {
    #[error("only operators may do this")]
    Forbidden,
    #[error("order not found")]
    NotFound,
    /// A time range the console does not read; names the field.
    #[error("{message}")]
    InvalidRange { field: &'static str, message: &'static str },
    #[error(transparent)]
    Unavailable(#[from] Unavailable),
}

unavailable_from_ports!(ConsoleError);

/// Figures per area and hour, and the areas' shapes.
#[derive(Debug, Clone, PartialEq)]
pub struct FiguresRead {
    pub from_ms: Millis,
    pub to_ms: Millis,
    pub rows: Vec<AreaHour>,
    pub areas: Vec<CellShape>,
    /// The read stopped at [`MAX_ORDERS_READ`] orders.
    pub truncated: bool,
}

/// The city's events after `since`, and the cells they name.
#[derive(Debug, Clone, PartialEq)]
pub struct ActivityRead {
    pub events: Vec<CityEvent>,
    pub cells: Vec<CellShape>,
    /// Ask next with `since` = this.
    pub now_ms: Millis,
}

impl<R: OrderRepo> Console<'_, R> {
    fn operator(caller: &Caller) -> Result<(), ConsoleError> {
        match caller {
            Caller::Operator(_) => Ok(()),
            _ => Err(ConsoleError::Forbidden),
        }
    }

    /// The order with its audit trail.
    pub async fn audit(&self, caller: &Caller, id: &OrderId) -> Result<Order, ConsoleError> {
        Self::operator(caller)?;
        self.repo.get_order(id).await?.ok_or(ConsoleError::NotFound)
    }

    /// Figures of the orders placed in the hours from `from_ms` (rounded
    /// down to its hour) to `to_ms` (rounded up); by default the last 24
    /// hours.
    pub async fn figures(
        &self,
        caller: &Caller,
        from_ms: Option<Millis>,
        to_ms: Option<Millis>,
    ) -> Result<FiguresRead, ConsoleError> {
        Self::operator(caller)?;
        let to_ms = figures::hour_of(to_ms.unwrap_or(self.now) + HOUR_MS - 1);
        let from_ms = figures::hour_of(from_ms.unwrap_or(to_ms - 24 * HOUR_MS));
        if from_ms >= to_ms {
            return Err(ConsoleError::InvalidRange {
                field: "from",
                message: "from must be before to",
            });
        }
        if to_ms - from_ms > MAX_FIGURES_HOURS * HOUR_MS {
            return Err(ConsoleError::InvalidRange {
                field: "to",
                message: "figures span at most 48 hours per request",
            });
        }
        let orders = self.repo.orders_placed_between(from_ms, to_ms, MAX_ORDERS_READ).await?;
        let journeys: Vec<Journey> = orders.iter().map(Journey::of).collect();
        let rows = figures::figures(&journeys);
        let areas = figures::shapes(rows.iter().map(|r| &r.area));
        Ok(FiguresRead {
            from_ms,
            to_ms,
            rows,
            areas,
            truncated: orders.len() == MAX_ORDERS_READ,
        })
    }

    /// Demands, offers, acceptances and unfulfilled orders after `since_ms`
    /// (by default the last 15 minutes; at most 3 hours back), oldest first.
    pub async fn activity(&self, caller: &Caller, since_ms: Option<Millis>) -> Result<ActivityRead, ConsoleError> {
        Self::operator(caller)?;
        let since_ms = since_ms.unwrap_or(self.now - 15 * 60_000);
        if since_ms < self.now - MAX_ACTIVITY_LOOKBACK_MS {
            return Err(ConsoleError::InvalidRange {
                field: "since",
                message: "activity reaches back at most 3 hours",
            });
        }
        let orders = self
            .repo
            .orders_placed_between(since_ms - ACTIVITY_ORDER_AGE_MS, self.now + 1, MAX_ORDERS_READ)
            .await?;
        let mut events: Vec<CityEvent> = orders.iter().flat_map(|o| figures::city_events(o, since_ms)).collect();
        events.sort_by_key(|e| e.at_ms);
        let cells = figures::shapes(events.iter().map(|e| &e.cell));
        Ok(ActivityRead {
            events,
            cells,
            now_ms: self.now,
        })
    }
}
