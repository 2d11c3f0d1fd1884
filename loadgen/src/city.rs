//! Where stores and customers are: a seeded square city.

/// A small deterministic generator (splitmix64): the same seed places the
/// same stores and customers.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in [-half, half).
    pub fn centred(&mut self, half: f64) -> f64 {
        (self.unit() * 2.0 - 1.0) * half
    }
}

/// A square city `size_km` on a side around `centre`.
#[derive(Debug, Clone, Copy)]
pub struct City {
    pub lat: f64,
    pub lng: f64,
    pub size_km: f64,
}

const M_PER_DEG_LAT: f64 = 111_320.0;

impl City {
    /// The point `east_m`, `north_m` from the centre.
    pub fn point(&self, east_m: f64, north_m: f64) -> (f64, f64) {
        let lat = self.lat + north_m / M_PER_DEG_LAT;
        let lng = self.lng + east_m / (M_PER_DEG_LAT * self.lat.to_radians().cos());
        (lat, lng)
    }

    /// Anywhere in the city.
    pub fn anywhere(&self, rng: &mut Rng) -> (f64, f64) {
        let half = self.size_km * 500.0;
        self.point(rng.centred(half), rng.centred(half))
    }

    /// A point whose `radius_m` circle lies inside the city when the city
    /// is big enough (else the centre region).
    pub fn inner(&self, rng: &mut Rng, radius_m: f64) -> (f64, f64) {
        let half = (self.size_km * 500.0 - radius_m).max(self.size_km * 100.0);
        self.point(rng.centred(half), rng.centred(half))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeded_and_bounded() {
        let mut a = Rng::new(7);
        let mut b = Rng::new(7);
        assert_eq!(a.next_u64(), b.next_u64());
        let city = City {
            lat: 23.78,
            lng: 90.40,
            size_km: 12.0,
        };
        for _ in 0..1000 {
            let (lat, lng) = city.anywhere(&mut a);
            assert!((lat - 23.78).abs() < 6_001.0 / M_PER_DEG_LAT);
            assert!((lng - 90.40).abs() < 0.06);
        }
    }
}
