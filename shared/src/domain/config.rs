//! The knobs of order routing, read once at start-up.

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
    /// `STORES_PER_ROUND`, `MAX_ROUNDS` and `MATCH_RADIUS_M` through `lookup`;
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
            config.max_orders_per_minute = parse("MAX_ORDERS_PER_MINUTE", &v, 1, 1000)?;
        }
        if let Some(v) = lookup("MATCH_RADIUS_M") {
            config.radius_m = parse::<u32>("MATCH_RADIUS_M", &v, 100, 20_000)?.into();
        }
        Ok(config)
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
}
