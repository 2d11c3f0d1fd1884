//! Percentiles of latency samples.

use std::time::Duration;

/// Sorted samples of one measured quantity.
#[derive(Debug, Clone, Default)]
pub struct Samples(Vec<Duration>);

impl Samples {
    pub fn from_vec(mut samples: Vec<Duration>) -> Self {
        samples.sort_unstable();
        Samples(samples)
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Nearest-rank percentile (`p` in 0..=100); None without samples.
    pub fn percentile(&self, p: f64) -> Option<Duration> {
        if self.0.is_empty() {
            return None;
        }
        let n = self.0.len();
        // Nearest rank: ceil(p/100 * n), 1-based.
        let rank = ((p / 100.0) * n as f64).ceil().clamp(1.0, n as f64) as usize;
        self.0.get(rank - 1).copied()
    }

    pub fn p50(&self) -> Option<Duration> {
        self.percentile(50.0)
    }

    pub fn p99(&self) -> Option<Duration> {
        self.percentile(99.0)
    }
}

/// Milliseconds with three decimals, or "-".
pub fn ms(d: Option<Duration>) -> String {
    d.map_or_else(|| "-".to_string(), |d| format!("{:.3}", d.as_secs_f64() * 1000.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank() {
        let s = Samples::from_vec((1..=100).rev().map(Duration::from_millis).collect());
        assert_eq!(s.p50(), Some(Duration::from_millis(50)));
        assert_eq!(s.p99(), Some(Duration::from_millis(99)));
        assert_eq!(Samples::default().p50(), None);
        let one = Samples::from_vec(vec![Duration::from_millis(7)]);
        assert_eq!(one.p99(), Some(Duration::from_millis(7)));
    }
}
