//! Abuse limits, decided here on a record read from storage and written
//! back only over the version it was read at, so concurrent requests cannot
//! both pass a limit: a customer's orders (searching at once, placed in the
//! last minute) and guest tokens per source address and per device.

use serde::{Deserialize, Serialize};

use super::clock::Millis;
use super::ids::OrderId;

/// A record and the storage version it was read at (0: never written).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Versioned<T> {
    pub value: T,
    pub version: u64,
}

/// A sliding window of event times: at most `max` within any `window_ms`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlidingWindow {
    times: Vec<Millis>,
}

/// A window's limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    pub max: u32,
    pub window_ms: Millis,
}

impl SlidingWindow {
    /// The window with an event at `now`, if fewer than `rate.max` happened
    /// in the `rate.window_ms` before; else how long until one lapses.
    pub fn take(&self, now: Millis, rate: Rate) -> Result<SlidingWindow, Millis> {
        let since = now - rate.window_ms;
        let mut times: Vec<Millis> = self.times.iter().copied().filter(|t| *t > since).collect();
        times.sort_unstable();
        if times.len() >= rate.max as usize {
            // The oldest that must lapse before one more fits.
            let blocking = times[times.len() - rate.max as usize];
            return Err((blocking + rate.window_ms - now).max(1));
        }
        times.push(now);
        Ok(SlidingWindow { times })
    }
}

/// An order that may still be searching, and when it surely stops (its last
/// round's deadline at the latest).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenOrder {
    pub order_id: OrderId,
    pub until_ms: Millis,
}

/// What one customer may still do: the orders that may be searching and
/// the orders placed recently.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderAllowance {
    #[serde(default)]
    open: Vec<OpenOrder>,
    #[serde(default)]
    placed: SlidingWindow,
}

/// A customer's order limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OrderLimits {
    pub max_open: usize,
    pub per_minute: u32,
}

/// Why an order was not admitted, and when to try again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LimitReached {
    #[error("too many open orders: wait for one to be accepted, or cancel one")]
    OpenOrders { retry_after_ms: Millis },
    #[error("too many orders this minute")]
    OrdersPerMinute { retry_after_ms: Millis },
    #[error("too many new guests from this network or device; try again later")]
    Guests { retry_after_ms: Millis },
    #[error("too many sign-in codes for this number or network; try again later")]
    SignInCodes { retry_after_ms: Millis },
    #[error("too many sign-in attempts from this network; try again later")]
    SignInChecks { retry_after_ms: Millis },
    #[error("too many store applications from this account; try again later")]
    Applications { retry_after_ms: Millis },
    #[error("this store has sent its offers for today")]
    Promotions { retry_after_ms: Millis },
}

impl LimitReached {
    /// Whole seconds to wait, at least 1 (for `Retry-After`).
    #[must_use]
    pub fn retry_after_s(self) -> u64 {
        let ms = match self {
            LimitReached::OpenOrders { retry_after_ms }
            | LimitReached::OrdersPerMinute { retry_after_ms }
            | LimitReached::Guests { retry_after_ms }
            | LimitReached::SignInCodes { retry_after_ms }
            | LimitReached::SignInChecks { retry_after_ms }
            | LimitReached::Applications { retry_after_ms }
            | LimitReached::Promotions { retry_after_ms } => retry_after_ms,
        };
        whole_seconds(ms)
    }
}

/// `ms` as whole seconds to wait, at least 1 (for `Retry-After`).
#[must_use]
pub fn whole_seconds(ms: Millis) -> u64 {
    u64::try_from(ms.max(0)).unwrap_or(0).div_ceil(1000).max(1)
}

impl OrderAllowance {
    /// The orders that may still be searching at `now`: only these need
    /// their status read, and only when the customer is at the limit.
    #[must_use]
    pub fn possibly_open(&self, now: Millis) -> Vec<OrderId> {
        self.open
            .iter()
            .filter(|o| o.until_ms > now)
            .map(|o| o.order_id.clone())
            .collect()
    }

    /// Whether `order` was admitted (and so written: the allowance is
    /// written with its order), as long as this record remembers it.
    #[must_use]
    pub fn admitted(&self, order: &OrderId) -> bool {
        self.open.iter().any(|o| &o.order_id == order)
    }

    /// Whether the customer is at the open-order limit by this record alone
    /// (then the caller reads which of [`Self::possibly_open`] still search).
    #[must_use]
    pub fn at_open_limit(&self, now: Millis, limits: OrderLimits) -> bool {
        self.possibly_open(now).len() >= limits.max_open
    }

    /// The record with `order` admitted at `now`, searching until
    /// `until_ms` at the latest; `searching` are the open orders that are
    /// really still searching, with their current deadlines (read when at
    /// the limit; else `None`, and every possibly open order counts).
    pub fn admit(
        &self,
        order: &OrderId,
        until_ms: Millis,
        now: Millis,
        limits: OrderLimits,
        searching: Option<&[(OrderId, Millis)]>,
    ) -> Result<OrderAllowance, LimitReached> {
        let mut open: Vec<OpenOrder> = self.open.iter().filter(|o| o.until_ms > now).cloned().collect();
        if let Some(searching) = searching {
            open.retain(|o| searching.iter().any(|(id, _)| id == &o.order_id));
        }
        if open.len() >= limits.max_open {
            let soonest = searching
                .and_then(|s| s.iter().map(|(_, deadline)| *deadline).min())
                .or_else(|| open.iter().map(|o| o.until_ms).min())
                .unwrap_or(now);
            return Err(LimitReached::OpenOrders {
                retry_after_ms: soonest - now,
            });
        }
        let rate = Rate {
            max: limits.per_minute,
            window_ms: 60_000,
        };
        let placed = self
            .placed
            .take(now, rate)
            .map_err(|retry_after_ms| LimitReached::OrdersPerMinute { retry_after_ms })?;
        open.push(OpenOrder {
            order_id: order.clone(),
            until_ms,
        });
        Ok(OrderAllowance { open, placed })
    }
}

/// Store applications one customer may send: a few a day (a shop owner
/// who made a mistake applies again; more is abuse of the operators' time).
pub const APPLICATIONS_PER_CUSTOMER: Rate = Rate {
    max: 3,
    window_ms: 24 * 3_600_000,
};

/// How many guest tokens one source address and one device may be issued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GuestLimits {
    /// Per source address. Generous: mobile carriers put many phones behind
    /// one address.
    pub per_address: Rate,
    pub per_device: Rate,
}

impl Default for GuestLimits {
    fn default() -> Self {
        GuestLimits {
            per_address: Rate {
                max: 30,
                window_ms: 10 * 60_000,
            },
            per_device: Rate {
                max: 3,
                window_ms: 24 * 3_600_000,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: OrderLimits = OrderLimits {
        max_open: 3,
        per_minute: 5,
    };

    fn id(n: u8) -> OrderId {
        OrderId::new(format!("01KAW00000000000000000000{n}")).expect("id")
    }

    #[test]
    fn a_sliding_window_counts_the_last_minute_not_the_calendar_minute() {
        let rate = Rate {
            max: 5,
            window_ms: 60_000,
        };
        let mut window = SlidingWindow::default();
        // Five at 59.9 s past a minute boundary...
        for i in 0..5 {
            window = window.take(59_900 + i, rate).expect("within the limit");
        }
        // ...and none more just after the boundary, until the first lapses.
        assert_eq!(window.take(60_100, rate), Err(59_800));
        assert!(window.take(119_901, rate).is_ok());
    }

    #[test]
    fn open_orders_are_capped_and_freed_when_they_stop_searching() {
        let mut allowance = OrderAllowance::default();
        for n in 0..3 {
            allowance = allowance.admit(&id(n), 200_000, 1_000, LIMITS, None).expect("admitted");
        }
        assert!(allowance.at_open_limit(1_000, LIMITS));
        assert_eq!(
            allowance.admit(&id(3), 200_000, 1_000, LIMITS, None),
            Err(LimitReached::OpenOrders {
                retry_after_ms: 199_000
            })
        );
        // One was accepted meanwhile: its status frees the slot.
        let searching = [(id(0), 61_000), (id(2), 61_000)];
        let next = allowance
            .admit(&id(3), 200_000, 1_000, LIMITS, Some(&searching))
            .expect("admitted");
        assert_eq!(next.possibly_open(1_000), vec![id(0), id(2), id(3)]);
        // And every order surely stops by its last deadline.
        assert!(next.possibly_open(200_000).is_empty());
    }

    #[test]
    fn the_per_minute_limit_holds_across_admissions() {
        let limits = OrderLimits {
            max_open: 100,
            per_minute: 2,
        };
        let once = OrderAllowance::default()
            .admit(&id(0), 9_000, 1_000, limits, None)
            .expect("first");
        let twice = once.admit(&id(1), 9_000, 2_000, limits, None).expect("second");
        assert_eq!(
            twice.admit(&id(2), 9_000, 3_000, limits, None),
            Err(LimitReached::OrdersPerMinute { retry_after_ms: 58_000 })
        );
        assert_eq!(
            LimitReached::OrdersPerMinute { retry_after_ms: 58_000 }.retry_after_s(),
            58
        );
    }
}
