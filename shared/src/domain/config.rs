//! The knobs of order routing, read once at start-up.

/// The highest `MAX_ORDERS_PER_MINUTE` an operator may set: a customer's
/// window of recent orders holds at most this many.
pub const MOST_ORDERS_PER_MINUTE: u32 = 1000;

/// Rounds, window, radius: all configuration, with the product's defaults.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OrderingConfig {
    /// How long stores of one round may accept.
    pub offer_window_ms: i64,
    /// Stores alerted per round.
    pub stores_per_round: usize,
    /// Rounds before an order is given up as unfulfilled.
    pub max_rounds: u32,
    /// Search radius around the customer.
    pub radius_m: f64,
    /// Most geo-index queries one category's store search may take; fewer
    /// queries read more stores that turn out too far (docs/dynamodb.md).
    pub max_geo_queries: usize,
    /// Orders one customer may have searching at once.
    pub max_open_orders: usize,
    /// Orders one customer may place per clock minute.
    pub max_orders_per_minute: u32,
    /// Whether an open store whose app is not connected, but whose device
    /// is registered for mobile push, is matched (and alerted by push).
    pub push_offline_stores: bool,
    /// How long a round lasts when it alerted a store by push (its app
    /// must open first); every store of that round has the same countdown.
    /// `None`: the offer window.
    pub push_offer_window_ms: Option<i64>,
    /// Sparse supply: the wider radii a next round searches, in turn, after
    /// a round found fewer stores than wanted (empty: never wider).
    pub sparse_radii_m: RadiusSteps,
}

/// Up to four radii, in metres, in ascending order (a `Copy` list, so the
/// configuration stays a plain value).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RadiusSteps {
    steps: [u32; RadiusSteps::MAX],
    len: usize,
}

impl RadiusSteps {
    pub const MAX: usize = 4;

    /// # Errors
    /// More than [`Self::MAX`] steps, or not ascending.
    pub fn new(steps: &[u32]) -> Result<Self, &'static str> {
        if steps.len() > Self::MAX {
            return Err("at most four radii");
        }
        if steps.windows(2).any(|w| w[0] >= w[1]) {
            return Err("radii in ascending order");
        }
        let mut out = RadiusSteps::default();
        out.steps[..steps.len()].copy_from_slice(steps);
        out.len = steps.len();
        Ok(out)
    }

    #[must_use]
    pub fn as_slice(&self) -> &[u32] {
        &self.steps[..self.len]
    }
}

impl Default for OrderingConfig {
    fn default() -> Self {
        Self {
            offer_window_ms: 60_000,
            stores_per_round: 4,
            max_rounds: 3,
            radius_m: 2_000.0,
            max_geo_queries: crate::domain::geo::DEFAULT_MAX_RANGES,
            max_open_orders: 3,
            max_orders_per_minute: 5,
            push_offline_stores: false,
            push_offer_window_ms: None,
            sparse_radii_m: RadiusSteps::default(),
        }
    }
}

/// A variable that is set but unusable.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("environment variable {name} has an unusable value {value:?}: {expected}")]
pub struct ConfigError {
    pub name: &'static str,
    pub value: String,
    pub expected: &'static str,
}

impl OrderingConfig {
    /// Reads `OFFER_WINDOW_MS` (or `OFFER_WINDOW_SECONDS`),
    /// `STORES_PER_ROUND`, `MAX_ROUNDS`, `MATCH_RADIUS_M`,
    /// `PUSH_OFFLINE_STORES`, `PUSH_OFFER_WINDOW_MS` (or `_SECONDS`) and
    /// `SPARSE_RADII_M` (e.g. `3000,5000`) through `lookup`;
    /// a missing variable keeps its default.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let mut config = Self::default();
        if let Some(v) = lookup("OFFER_WINDOW_SECONDS") {
            config.offer_window_ms = parse::<i64>("OFFER_WINDOW_SECONDS", &v, 1, 900)? * 1000;
        }
        if let Some(v) = lookup("OFFER_WINDOW_MS") {
            config.offer_window_ms = parse("OFFER_WINDOW_MS", &v, 100, 900_000)?;
        }
        if let Some(v) = lookup("STORES_PER_ROUND") {
            config.stores_per_round = parse("STORES_PER_ROUND", &v, 1, 20)?;
        }
        if let Some(v) = lookup("MAX_ROUNDS") {
            config.max_rounds = parse("MAX_ROUNDS", &v, 1, 20)?;
        }
        if let Some(v) = lookup("MAX_GEO_QUERIES") {
            config.max_geo_queries = parse("MAX_GEO_QUERIES", &v, 1, 64)?;
        }
        if let Some(v) = lookup("MAX_OPEN_ORDERS") {
            config.max_open_orders = parse("MAX_OPEN_ORDERS", &v, 1, 100)?;
        }
        if let Some(v) = lookup("MAX_ORDERS_PER_MINUTE") {
            config.max_orders_per_minute = parse("MAX_ORDERS_PER_MINUTE", &v, 1, MOST_ORDERS_PER_MINUTE)?;
        }
        if let Some(v) = lookup("MATCH_RADIUS_M") {
            config.radius_m = parse::<u32>("MATCH_RADIUS_M", &v, 100, 20_000)?.into();
        }
        if let Some(v) = lookup("PUSH_OFFLINE_STORES") {
            config.push_offline_stores = match v.trim() {
                "true" | "1" => true,
                "false" | "0" | "" => false,
                _ => {
                    return Err(ConfigError {
                        name: "PUSH_OFFLINE_STORES",
                        value: v,
                        expected: "true or false",
                    });
                }
            };
        }
        if let Some(v) = lookup("PUSH_OFFER_WINDOW_SECONDS") {
            config.push_offer_window_ms = Some(parse::<i64>("PUSH_OFFER_WINDOW_SECONDS", &v, 1, 900)? * 1000);
        }
        if let Some(v) = lookup("PUSH_OFFER_WINDOW_MS") {
            config.push_offer_window_ms = Some(parse("PUSH_OFFER_WINDOW_MS", &v, 100, 900_000)?);
        }
        if let Some(v) = lookup("SPARSE_RADII_M") {
            let unusable = |expected| ConfigError {
                name: "SPARSE_RADII_M",
                value: v.clone(),
                expected,
            };
            let steps = v
                .split(',')
                .map(str::trim)
                .filter(|step| !step.is_empty())
                .map(|step| parse::<u32>("SPARSE_RADII_M", step, 100, 20_000))
                .collect::<Result<Vec<u32>, _>>()?;
            config.sparse_radii_m = RadiusSteps::new(&steps).map_err(unusable)?;
            if steps.first().is_some_and(|&first| f64::from(first) <= config.radius_m) {
                return Err(unusable("radii wider than MATCH_RADIUS_M"));
            }
        }
        Ok(config)
    }

    /// How long a round lasts: the offer window, or the push window when
    /// the round alerted a store by mobile push (whichever is longer), the
    /// same for every store of the round.
    #[must_use]
    pub fn round_window_ms(&self, alerted_by_push: bool) -> i64 {
        match self.push_offer_window_ms {
            Some(push) if alerted_by_push => push.max(self.offer_window_ms),
            _ => self.offer_window_ms,
        }
    }

    /// How long an order may search at the latest: every round at the
    /// longest window, plus one window of slack.
    #[must_use]
    pub fn longest_search_ms(&self) -> i64 {
        self.round_window_ms(true) * (i64::from(self.max_rounds) + 1)
    }

    /// [`Self::from_lookup`] over the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }
}

fn parse<T>(name: &'static str, value: &str, min: T, max: T) -> Result<T, ConfigError>
where
    T: std::str::FromStr + PartialOrd,
{
    match value.trim().parse::<T>() {
        Ok(v) if v >= min && v <= max => Ok(v),
        _ => Err(ConfigError {
            name,
            value: value.to_string(),
            expected: "a whole number within the documented range",
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_overrides() {
        let config = OrderingConfig::from_lookup(|_| None).expect("defaults");
        assert_eq!(config, OrderingConfig::default());
        let config = OrderingConfig::from_lookup(|n| match n {
            "OFFER_WINDOW_MS" => Some("1500".into()),
            "MAX_ROUNDS" => Some("2".into()),
            _ => None,
        })
        .expect("valid");
        assert_eq!(config.offer_window_ms, 1500);
        assert_eq!(config.max_rounds, 2);
        assert!(OrderingConfig::from_lookup(|n| (n == "STORES_PER_ROUND").then(|| "0".into())).is_err());
    }

    #[test]
    fn push_and_sparse_supply_are_off_by_default_and_read_when_set() {
        let config = OrderingConfig::default();
        assert!(!config.push_offline_stores);
        assert!(config.sparse_radii_m.as_slice().is_empty());
        assert_eq!(config.round_window_ms(true), config.offer_window_ms);
        let config = OrderingConfig::from_lookup(|n| match n {
            "PUSH_OFFLINE_STORES" => Some("true".into()),
            "PUSH_OFFER_WINDOW_MS" => Some("90000".into()),
            "SPARSE_RADII_M" => Some("3000, 5000".into()),
            _ => None,
        })
        .expect("valid");
        assert!(config.push_offline_stores);
        assert_eq!(config.round_window_ms(true), 90_000);
        assert_eq!(config.round_window_ms(false), 60_000);
        assert_eq!(config.sparse_radii_m.as_slice(), [3000, 5000]);
        for bad in ["5000,3000", "1500", "3000,x", "1,2,3,4,5"] {
            let lookup = |n: &str| (n == "SPARSE_RADII_M").then(|| bad.to_string());
            assert!(OrderingConfig::from_lookup(lookup).is_err(), "{bad}");
        }
        assert!(OrderingConfig::from_lookup(|n| (n == "PUSH_OFFLINE_STORES").then(|| "yes".into())).is_err());
    }
}

/// Where notifications link to, read once at start-up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotificationConfig {
    /// Where the apps are served: receipts link to `{base}/app/customer/?order={id}`.
    pub tracking_base_url: String,
}

impl Default for NotificationConfig {
    fn default() -> Self {
        NotificationConfig {
            tracking_base_url: "https://app.example.com".to_string(),
        }
    }
}

impl NotificationConfig {
    /// Reads `TRACKING_BASE_URL` (an `https://` or `http://` address).
    ///
    /// # Errors
    /// The variable is set but is no web address.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let mut config = Self::default();
        if let Some(v) = lookup("TRACKING_BASE_URL") {
            if !(v.starts_with("https://") || v.starts_with("http://")) || v.contains(char::is_whitespace) {
                return Err(ConfigError {
                    name: "TRACKING_BASE_URL",
                    value: v,
                    expected: "an https:// address",
                });
            }
            config.tracking_base_url = v;
        }
        Ok(config)
    }
}
