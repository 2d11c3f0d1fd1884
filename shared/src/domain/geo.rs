//! Locations, distances and the H3 cells that cover a search radius.

use std::collections::{HashSet, VecDeque};

use h3o::{CellIndex, LatLng, Resolution};
use serde::{Deserialize, Serialize};

/// The resolution at which a store's position is indexed: about 1 m², so a
/// store's cell is a descendant of every coarser cell that contains it and a
/// radius query can ask for any mix of coarser cells.
pub const STORE_CELL_RESOLUTION: Resolution = Resolution::Fifteen;

/// A checked WGS84 position.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RawPoint", into = "RawPoint")]
pub struct GeoPoint(LatLng);

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
struct RawPoint {
    lat: f64,
    lng: f64,
}

/// Why a position was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum InvalidPoint {
    #[error("latitude must be a number from -90 to 90")]
    Latitude,
    #[error("longitude must be a number from -180 to 180")]
    Longitude,
}

impl GeoPoint {
    /// Checks both ranges; NaN and infinities are refused.
    pub fn new(lat: f64, lng: f64) -> Result<Self, InvalidPoint> {
        if !lat.is_finite() || !(-90.0..=90.0).contains(&lat) {
            return Err(InvalidPoint::Latitude);
        }
        if !lng.is_finite() || !(-180.0..=180.0).contains(&lng) {
            return Err(InvalidPoint::Longitude);
        }
        LatLng::new(lat, lng).map(Self).map_err(|_| InvalidPoint::Latitude)
    }

    #[must_use]
    pub fn lat(self) -> f64 {
        self.0.lat()
    }

    #[must_use]
    pub fn lng(self) -> f64 {
        self.0.lng()
    }

    fn to_latlng(self) -> LatLng {
        self.0
    }

    /// Great-circle distance in metres.
    #[must_use]
    pub fn distance_m(self, other: GeoPoint) -> f64 {
        self.to_latlng().distance_m(other.to_latlng())
    }

    /// The cell a store at this point is indexed under.
    #[must_use]
    pub fn store_cell(self) -> CellIndex {
        self.to_latlng().to_cell(STORE_CELL_RESOLUTION)
    }

    /// A point `distance_m` away along `bearing_deg` (0 = north), on a sphere.
    /// Used by tests and benchmarks to place stores at known distances.
    #[must_use]
    pub fn offset(self, bearing_deg: f64, distance_m: f64) -> GeoPoint {
        const EARTH_RADIUS_M: f64 = 6_371_007.180_918_475; // h3o's mean radius
        let d = distance_m / EARTH_RADIUS_M;
        let brg = bearing_deg.to_radians();
        let lat1 = self.lat().to_radians();
        let lng1 = self.lng().to_radians();
        let lat2 = (lat1.sin() * d.cos() + lat1.cos() * d.sin() * brg.cos()).asin();
        let lng2 = lng1 + (brg.sin() * d.sin() * lat1.cos()).atan2(d.cos() - lat1.sin() * lat2.sin());
        let lng2 = (lng2.to_degrees() + 540.0).rem_euclid(360.0) - 180.0;
        let lat2 = lat2.to_degrees().clamp(-90.0, 90.0);
        GeoPoint::new(lat2, lng2.clamp(-180.0, 180.0)).unwrap_or(self)
    }
}

impl TryFrom<RawPoint> for GeoPoint {
    type Error = InvalidPoint;
    fn try_from(raw: RawPoint) -> Result<Self, Self::Error> {
        GeoPoint::new(raw.lat, raw.lng)
    }
}

impl From<GeoPoint> for RawPoint {
    fn from(p: GeoPoint) -> Self {
        RawPoint {
            lat: p.lat(),
            lng: p.lng(),
        }
    }
}

/// The resolution of the cells that partition the geo index: a store lives
/// in the partition of its ancestor at this resolution.
pub const PARTITION_RESOLUTION: Resolution = Resolution::Five;
/// The resolution at which a search radius is covered before ranges are
/// formed.
pub const SEARCH_RESOLUTION: Resolution = Resolution::Eight;

/// A contiguous run of resolution-15 cell indexes inside one partition: all
/// descendants of one or more coarser cells. One range is one storage query.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CellRange {
    pub partition: CellIndex,
    pub first: u64,
    pub last: u64,
}

impl CellRange {
    /// Whether a resolution-15 index falls in the range.
    #[must_use]
    pub fn contains(&self, cell: u64) -> bool {
        (self.first..=self.last).contains(&cell)
    }

    /// The range of every resolution-15 descendant of `cell`.
    #[must_use]
    pub fn of_cell(cell: CellIndex) -> Option<CellRange> {
        let partition = cell.parent(PARTITION_RESOLUTION)?;
        let count = cell.children_count(STORE_CELL_RESOLUTION);
        let first = cell.child_at(0, STORE_CELL_RESOLUTION)?;
        let last = cell.child_at(count.checked_sub(1)?, STORE_CELL_RESOLUTION)?;
        Some(CellRange {
            partition,
            first: u64::from(first),
            last: u64::from(last),
        })
    }
}

/// The partition a store at `point` is indexed in.
#[must_use]
pub fn store_partition(point: GeoPoint) -> CellIndex {
    let cell = point.store_cell();
    cell.parent(PARTITION_RESOLUTION).unwrap_or(cell)
}

/// The ranges to read to find every store within `radius_m` of `center`:
/// the covering cells, compacted, one range each, with ranges that touch
/// merged. A store inside the radius always lies in one of them; stores in
/// them but outside the radius are dropped by the exact distance check.
#[must_use]
pub fn search_plan(center: GeoPoint, radius_m: f64) -> Vec<CellRange> {
    let mut cells = cells_covering(center, radius_m, SEARCH_RESOLUTION);
    if CellIndex::compact(&mut cells).is_err() {
        cells = cells_covering(center, radius_m, SEARCH_RESOLUTION);
    }
    let mut ranges: Vec<CellRange> = cells.into_iter().filter_map(CellRange::of_cell).collect();
    ranges.sort_unstable_by_key(|r| (r.partition, r.first));
    let mut merged: Vec<CellRange> = Vec::with_capacity(ranges.len());
    for range in ranges {
        match merged.last_mut() {
            Some(prev) if prev.partition == range.partition && range.first <= prev.last.saturating_add(1) => {
                prev.last = prev.last.max(range.last);
            }
            _ => merged.push(range),
        }
    }
    merged
}

/// Every cell at `resolution` that has any point within `radius_m` of
/// `center`. The cells touching a disk form a connected patch, so a breadth
/// first walk from the centre cell that keeps a cell when its centre lies
/// within `radius_m` plus the cell's own circumradius finds all of them
/// (and a thin rim of extra cells, which the exact distance filter drops).
#[must_use]
pub fn cells_covering(center: GeoPoint, radius_m: f64, resolution: Resolution) -> Vec<CellIndex> {
    let origin = center.to_latlng();
    let start = origin.to_cell(resolution);
    let mut seen: HashSet<CellIndex> = HashSet::from([start]);
    let mut queue = VecDeque::from([start]);
    let mut covering = Vec::new();
    while let Some(cell) = queue.pop_front() {
        let cell_center = LatLng::from(cell);
        let circumradius = cell
            .boundary()
            .iter()
            .map(|v| cell_center.distance_m(*v))
            .fold(0.0_f64, f64::max);
        if cell != start && origin.distance_m(cell_center) > radius_m + circumradius {
            continue;
        }
        covering.push(cell);
        for neighbour in cell.grid_disk::<Vec<_>>(1) {
            if seen.insert(neighbour) {
                queue.push_back(neighbour);
            }
        }
    }
    covering.sort_unstable();
    covering
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn refuses_impossible_coordinates() {
        assert_eq!(GeoPoint::new(91.0, 0.0), Err(InvalidPoint::Latitude));
        assert_eq!(GeoPoint::new(0.0, -181.0), Err(InvalidPoint::Longitude));
        assert_eq!(GeoPoint::new(f64::NAN, 0.0), Err(InvalidPoint::Latitude));
        assert!(GeoPoint::new(23.8, 90.4).is_ok());
    }

    #[test]
    fn offset_lands_at_the_requested_distance() {
        let dhaka = GeoPoint::new(23.8103, 90.4125).expect("valid");
        for bearing in [0.0, 45.0, 133.0, 270.0] {
            let p = dhaka.offset(bearing, 1_900.0);
            assert!((dhaka.distance_m(p) - 1_900.0).abs() < 0.5);
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]
        /// Any point inside the radius lies in one of the covering cells.
        #[test]
        fn covering_contains_every_point_inside_the_radius(
            lat in -70.0f64..70.0,
            lng in -179.0f64..179.0,
            bearing in 0.0f64..360.0,
            fraction in 0.0f64..1.0,
            res in 6u8..=9,
        ) {
            let res = Resolution::try_from(res).expect("valid resolution");
            let center = GeoPoint::new(lat, lng).expect("valid");
            let covering = cells_covering(center, 2_000.0, res);
            let p = center.offset(bearing, 2_000.0 * fraction);
            let cell = p.to_latlng().to_cell(res);
            prop_assert!(covering.contains(&cell));
        }

        /// Any store inside the radius falls in one of the planned ranges.
        #[test]
        fn search_plan_reaches_every_store_inside_the_radius(
            lat in -70.0f64..70.0,
            lng in -179.0f64..179.0,
            bearing in 0.0f64..360.0,
            fraction in 0.0f64..1.0,
        ) {
            let center = GeoPoint::new(lat, lng).expect("valid");
            let plan = search_plan(center, 2_000.0);
            let store = center.offset(bearing, 2_000.0 * fraction);
            let cell = u64::from(store.store_cell());
            let partition = store_partition(store);
            prop_assert!(plan.iter().any(|r| r.partition == partition && r.contains(cell)));
        }
    }
}
