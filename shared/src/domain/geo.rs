//! Locations, distances and the H3 cells that cover a search radius.

use std::collections::{HashSet, VecDeque};

use h3o::{CellIndex, CoordIJ, LatLng, LocalIJ, Resolution};
use serde::{Deserialize, Serialize};

/// The resolution at which a store's position is indexed: about 1 m², so a
/// store's cell is a descendant of every coarser cell that contains it and a
/// radius query can ask for any mix of coarser cells.
pub const STORE_CELL_RESOLUTION: Resolution = Resolution::Fifteen;
/// How far, in circumradii, a resolution-15 descendant's point may lie from
/// its resolution-9 ancestor's centre: H3 nests cells only approximately
/// (measured over 2 million random points: at most 1.056).
const MARGIN: f64 = 1.1;
/// h3o's mean earth radius, in metres.
const EARTH_RADIUS_M: f64 = 6_371_007.180_918_475;

/// A checked WGS84 position. It keeps the degrees it was given: h3o holds
/// radians, and degrees read back from them differ in the last digits
/// (23.78 came back as 23.780000000000005), so a client saw its own
/// position changed.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "ObjectOnly<RawPoint>", into = "RawPoint")]
pub struct GeoPoint {
    lat: f64,
    lng: f64,
    at: LatLng,
}

/// `T` read only from a JSON object. serde would also read a struct from an
/// array of its fields in order, and a position sent as GeoJSON's `[lng,
/// lat]` would then pass with the two swapped.
pub struct ObjectOnly<T>(pub T);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for ObjectOnly<T> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct AnObject<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de>> serde::de::Visitor<'de> for AnObject<T> {
            type Value = ObjectOnly<T>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                T::deserialize(serde::de::value::MapAccessDeserializer::new(map)).map(ObjectOnly)
            }
        }
        deserializer.deserialize_map(AnObject(std::marker::PhantomData))
    }
}

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
        let at = LatLng::new(lat, lng).map_err(|_| InvalidPoint::Latitude)?;
        Ok(GeoPoint { lat, lng, at })
    }

    /// A point h3o worked out (a cell's centre): its degrees are read back.
    fn from_latlng(at: LatLng) -> Self {
        GeoPoint {
            lat: at.lat(),
            lng: at.lng(),
            at,
        }
    }

    #[must_use]
    pub fn lat(self) -> f64 {
        self.lat
    }

    #[must_use]
    pub fn lng(self) -> f64 {
        self.lng
    }

    fn to_latlng(self) -> LatLng {
        self.at
    }

    /// Great-circle distance in metres.
    #[must_use]
    pub fn distance_m(self, other: GeoPoint) -> f64 {
        self.to_latlng().distance_m(other.to_latlng())
    }

    /// The centre of an H3 cell (tests place points relative to partitions).
    #[must_use]
    pub fn from_cell_centre(cell: CellIndex) -> GeoPoint {
        GeoPoint::from_latlng(LatLng::from(cell))
    }

    /// The cell a store at this point is indexed under.
    #[must_use]
    pub fn store_cell(self) -> CellIndex {
        self.cell(STORE_CELL_RESOLUTION)
    }

    /// The H3 cell holding this point at `resolution`.
    #[must_use]
    pub fn cell(self, resolution: Resolution) -> CellIndex {
        self.to_latlng().to_cell(resolution)
    }

    /// The geo index sort key of a store here: its resolution-15 cell in
    /// ring order (see [`ring_key`]).
    #[must_use]
    pub fn geo_key(self) -> u64 {
        ring_key(self.store_cell(), 0)
    }

    /// How many degrees of latitude and of longitude (the shorter way
    /// round) lie between this point and `other`.
    #[must_use]
    pub fn degrees_apart(self, other: GeoPoint) -> (f64, f64) {
        let lng_apart = (self.lng() - other.lng()).abs();
        ((self.lat() - other.lat()).abs(), lng_apart.min(360.0 - lng_apart))
    }

    /// How many degrees of latitude and of longitude a point may lie from
    /// this one ([`Self::degrees_apart`]) and still be within `reach_m` of
    /// it: a box around the disk (the longitude's at the disk's edge nearer
    /// a pole, where a degree is shortest; any longitude near a pole).
    #[must_use]
    pub fn degrees_within(self, reach_m: f64) -> (f64, f64) {
        const METRES_PER_DEGREE: f64 = EARTH_RADIUS_M * std::f64::consts::PI / 180.0;
        let lat_reach = reach_m / METRES_PER_DEGREE;
        let poleward = (self.lat().abs() + lat_reach).min(90.0);
        let lng_metres = METRES_PER_DEGREE * poleward.to_radians().cos();
        let lng_reach = if lng_metres > reach_m / 180.0 {
            reach_m / lng_metres
        } else {
            180.0
        };
        (lat_reach, lng_reach)
    }

    /// A point `distance_m` away along `bearing_deg` (0 = north), on a sphere.
    /// Used by tests and benchmarks to place stores at known distances.
    #[must_use]
    pub fn offset(self, bearing_deg: f64, distance_m: f64) -> GeoPoint {
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

    /// Distances from this point measured on the plane that touches the
    /// sphere here ([`LocalPlane`]).
    #[must_use]
    pub fn local_plane(self) -> LocalPlane {
        LocalPlane {
            at: self,
            lng_scale: (self.lat().abs() <= PLANE_LATITUDE_LIMIT_DEG).then(|| self.lat().to_radians().cos()),
        }
    }
}

/// Beyond this latitude a [`LocalPlane`] measures on the sphere.
const PLANE_LATITUDE_LIMIT_DEG: f64 = 60.0;

/// Distances from one point to points a few km from it, on the plane that
/// touches the sphere there: within half a per cent of the great-circle
/// distance out to 20 km below 60 degrees of latitude (a tenth of that at
/// Dhaka's), without trigonometry per point. Nearer a pole, where the
/// plane bends away from the sphere, it measures on the sphere.
/// For estimates (a crowd map's cells around a customer), never for which
/// store lies within a radius.
#[derive(Debug, Clone, Copy)]
pub struct LocalPlane {
    at: GeoPoint,
    /// A degree of longitude's length here over a degree of latitude's;
    /// `None` nearer a pole than [`PLANE_LATITUDE_LIMIT_DEG`].
    lng_scale: Option<f64>,
}

impl LocalPlane {
    #[must_use]
    pub fn distance_m(&self, to: GeoPoint) -> f64 {
        let Some(lng_scale) = self.lng_scale else {
            return self.at.distance_m(to);
        };
        let (lat_apart, lng_apart) = self.at.degrees_apart(to);
        EARTH_RADIUS_M * lat_apart.to_radians().hypot(lng_apart.to_radians() * lng_scale)
    }
}

impl TryFrom<ObjectOnly<RawPoint>> for GeoPoint {
    type Error = InvalidPoint;
    fn try_from(ObjectOnly(raw): ObjectOnly<RawPoint>) -> Result<Self, Self::Error> {
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
/// in the partition of its ancestor at this resolution. Resolution 6 cells
/// (about 36 km²) spread a city over several partitions, so one category's
/// peak load stays within a partition's limits (Dhaka at 100,000 stores and
/// 500 orders a second: docs/dynamodb.md); a 2 km search touches two to
/// four of them, a 500 m one usually one, and each split costs one of the
/// search's queries.
pub const PARTITION_RESOLUTION: Resolution = Resolution::Six;
/// The resolution at which a 2 km search radius is covered before ranges
/// are formed (about 0.1 km² cells).
pub const SEARCH_RESOLUTION: Resolution = Resolution::Nine;
/// Cell edges per radius a covering aims for: a 2 km radius is covered at
/// [`SEARCH_RESOLUTION`], a 500 m one a resolution finer, so the rim read
/// beyond the radius stays the same share of it.
const EDGES_PER_RADIUS: f64 = 6.0;

/// The resolution a `radius_m` search is covered at: the coarsest whose
/// average edge is at most a sixth of the radius, never finer than
/// resolution 13 (about 3.5 m across an edge; finer cells only cost
/// planning time). Covered at resolution 12 (9 m), the disk of a first read
/// in a crowded market (30-60 m) was read out to its cells' rim, 12 m
/// beyond it: about 1.7 times its area (docs/performance.md).
#[must_use]
pub fn search_resolution(radius_m: f64) -> Resolution {
    Resolution::range(Resolution::Zero, Resolution::Thirteen)
        .find(|r| r.edge_length_m() <= radius_m / EDGES_PER_RADIUS)
        .unwrap_or(Resolution::Thirteen)
}
/// Queries (cell ranges) one category's radius search may take by default.
pub const DEFAULT_MAX_RANGES: usize = 8;

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

    /// The keys of every resolution-15 descendant of `cell` (contiguous: a
    /// cell's key is a prefix of its descendants' keys), in the partition of
    /// `cell`, which must be at least as fine as [`PARTITION_RESOLUTION`].
    #[must_use]
    pub fn of_cell(cell: CellIndex) -> Option<CellRange> {
        let partition = cell.parent(PARTITION_RESOLUTION)?;
        Some(CellRange {
            partition,
            first: ring_key(cell, 0),
            last: ring_key(cell, 6),
        })
    }
}

/// The resolution of the cells whose geo entries storage counts (a
/// `CrowdMap`) and whose crowding a process remembers: about 0.1 km2 (a
/// disk of 180 m), 343 to a partition. Coarser cells (resolution 8, 0.7
/// km2) spread a market's shops over the streets around it, so a first
/// read sized by them at the market read three to six times what it
/// expected (docs/performance.md).
pub const CROWD_RESOLUTION: Resolution = Resolution::Nine;

/// The cell a store at `point` is counted in: the ancestor of its indexed
/// cell, so it lies in the store's partition.
#[must_use]
pub fn store_crowd_cell(point: GeoPoint) -> CellIndex {
    let cell = point.store_cell();
    cell.parent(CROWD_RESOLUTION).unwrap_or(cell)
}

/// The resolution of the finer counts kept beside the crowd map's for
/// the small first reads of crowded places: about 0.015 km2 (a disk of 69
/// m). At a covered bazaar's hub a crowd cell (0.1 km2, a disk of 180 m)
/// spreads its shops evenly over streets far thinner than the hub, and a
/// first read sized by it held twice what it expected and more
/// (docs/performance.md).
pub const FINE_CROWD_RESOLUTION: Resolution = Resolution::Ten;

/// The cells whose fine crowd counts are kept together (one item each in
/// DynamoDB): about 0.7 km2, 49 fine cells, at most about 1.2 KB, half a
/// read unit. Small, so a match reads only those around the customer.
pub const FINE_CROWD_ITEM_RESOLUTION: Resolution = Resolution::Eight;

/// How far from the customer a match reads the fine crowd counts: a
/// market's width (a first read there reaches about 110 m at 1,200 shops
/// per km2), so the matches after it nearby find them remembered.
pub const FINE_CROWD_REACH_M: f64 = 500.0;

/// The fine cell a store at `point` is counted in, and the fine crowd item
/// ([`FINE_CROWD_ITEM_RESOLUTION`]) it is counted under.
#[must_use]
pub fn store_fine_crowd_cell(point: GeoPoint) -> (CellIndex, CellIndex) {
    let cell = point.store_cell();
    (
        cell.parent(FINE_CROWD_ITEM_RESOLUTION).unwrap_or(cell),
        cell.parent(FINE_CROWD_RESOLUTION).unwrap_or(cell),
    )
}

/// Where a store at `point` is counted, as (the counting item's cell, the
/// cell counted in): its crowd cell in its partition's crowd item, and its
/// fine cell in its fine crowd item.
#[must_use]
pub fn store_crowd_slots(point: GeoPoint) -> [(CellIndex, CellIndex); 2] {
    let (fine_item, fine_cell) = store_fine_crowd_cell(point);
    [
        (store_partition(point), store_crowd_cell(point)),
        (fine_item, fine_cell),
    ]
}

/// The fine crowd items ([`FINE_CROWD_ITEM_RESOLUTION`]) holding every fine
/// cell that reaches within [`FINE_CROWD_REACH_M`] of `at`: three to six.
#[must_use]
pub fn fine_crowd_items_near(at: GeoPoint) -> Vec<CellIndex> {
    let mut items: Vec<CellIndex> = cells_covering(at, FINE_CROWD_REACH_M, FINE_CROWD_RESOLUTION)
        .into_iter()
        .filter_map(|cell| cell.parent(FINE_CROWD_ITEM_RESOLUTION))
        .collect();
    items.sort_unstable();
    items.dedup();
    items
}

/// The partition a store at `point` is indexed in.
#[must_use]
pub fn store_partition(point: GeoPoint) -> CellIndex {
    let cell = point.store_cell();
    cell.parent(PARTITION_RESOLUTION).unwrap_or(cell)
}

/// H3 numbers a cell's seven children 0 (centre) to 6 in axis order, so
/// consecutive numbers are often not neighbours. Ring order renumbers them
/// centre first, then around the ring (I, IJ, J, JK, K, IK), so every two
/// consecutive children touch and a range of keys is a compact area.
/// Indexed by H3 digit; the value is the digit's place in ring order.
const RING_ORDER: [u64; 7] = [0, 5, 3, 4, 1, 6, 2];

/// A cell as a sort key: base cell, then its digits in ring order, with the
/// digits below its resolution set to `fill` (0 for the first descendant's
/// key, 6 for the last). Keys keep H3's hierarchy: a cell's descendants are
/// exactly the keys between its fill-0 and fill-6 keys.
#[must_use]
pub fn ring_key(cell: CellIndex, fill: u64) -> u64 {
    let index = u64::from(cell);
    let resolution = u8::from(cell.resolution());
    let mut key = (index >> 45) & 0x7f;
    for level in 1..=15u8 {
        let digit = (index >> (3 * u64::from(15 - level))) & 7;
        let place = if level <= resolution {
            RING_ORDER
                .get(usize::try_from(digit).unwrap_or(0))
                .copied()
                .unwrap_or(0)
        } else {
            fill
        };
        key = (key << 3) | place;
    }
    key
}

/// A dense rank of a key (base cell, then 15 base-7 places): the
/// difference of two ranks, less one, is how many resolution-15 cells
/// (about 1 m² each) lie strictly between them.
fn rank15(key: u64) -> u64 {
    let mut rank = (key >> 45) & 0x7f;
    for i in 0..15 {
        rank = rank * 7 + ((key >> (3 * (14 - i))) & 7);
    }
    rank
}

/// The ranges to read to find every store within `radius_m` of `center`,
/// at most `max_ranges` of them (unless the radius spans more partitions).
///
/// The radius is covered with cells of [`search_resolution`] (resolution 9
/// for 2 km), compacted, one range per
/// cell; touching ranges merge; then, to stay within `max_ranges`, the
/// smallest gaps between ranges of a partition are read through (gap cost =
/// area, counted in resolution-15 cells), which is optimal for a cost that
/// adds up per gap. A store inside the radius always lies in a range; stores
/// read from a gap or the rim are dropped by the exact distance check.
#[must_use]
pub fn search_plan(center: GeoPoint, radius_m: f64, max_ranges: usize) -> Vec<CellRange> {
    search_plan_weighed(center, radius_m, max_ranges, None)
}

/// As [`search_plan`], but where it must read through gaps between ranges
/// it reads through those expected to hold the fewest items (then the
/// smallest), by `items_in`: the items a cell holds, and the items per
/// resolution-15 key added everywhere (so a gap where nothing is counted
/// still costs its area). Beside a market, a gap of little area can hold
/// hundreds of its shops (docs/performance.md).
#[must_use]
pub fn search_plan_weighed(
    center: GeoPoint,
    radius_m: f64,
    max_ranges: usize,
    items_in: Option<(&dyn Fn(CellIndex) -> f64, f64)>,
) -> Vec<CellRange> {
    let resolution = search_resolution(radius_m);
    let mut cells = cells_covering(center, radius_m, resolution);
    if CellIndex::compact(&mut cells).is_err() {
        cells = cells_covering(center, radius_m, resolution);
    }
    let mut ranges: Vec<CellRange> = Vec::with_capacity(cells.len());
    for cell in cells {
        if cell.resolution() < PARTITION_RESOLUTION {
            ranges.extend(cell.children(PARTITION_RESOLUTION).filter_map(CellRange::of_cell));
        } else {
            ranges.extend(CellRange::of_cell(cell));
        }
    }
    ranges.sort_unstable_by_key(|r| (r.partition, r.first));
    // 1) Merge ranges with no resolution-15 cell between them.
    let mut merged: Vec<CellRange> = Vec::with_capacity(ranges.len());
    for range in ranges {
        match merged.last_mut() {
            Some(prev) if prev.partition == range.partition && rank15(range.first) <= rank15(prev.last) + 1 => {
                prev.last = prev.last.max(range.last);
            }
            _ => merged.push(range),
        }
    }
    // 2) Keep the largest gaps open, read through the rest.
    let partitions = 1 + merged.windows(2).filter(|w| w[0].partition != w[1].partition).count();
    let mut gaps: Vec<(f64, u64, usize)> = merged
        .windows(2)
        .enumerate()
        .filter(|(_, w)| w[0].partition == w[1].partition)
        .map(|(i, w)| {
            let (lo, hi) = (rank15(w[0].last) + 1, rank15(w[1].first) - 1);
            #[allow(clippy::cast_precision_loss)]
            let items = items_in.map_or(0.0, |(f, per_key)| {
                cells_of_ranks(lo, hi).into_iter().map(f).sum::<f64>() + (hi + 1 - lo) as f64 * per_key
            });
            (items, hi + 1 - lo, i)
        })
        .collect();
    gaps.sort_unstable_by(|a, b| b.0.total_cmp(&a.0).then(b.1.cmp(&a.1)).then(a.2.cmp(&b.2)));
    let mut close = vec![false; merged.len()];
    for &(_, _, i) in gaps.iter().skip(max_ranges.saturating_sub(partitions)) {
        close[i] = true;
    }
    let mut plan: Vec<CellRange> = Vec::with_capacity(max_ranges);
    for (i, range) in merged.iter().enumerate() {
        match plan.last_mut() {
            Some(prev) if i > 0 && close[i - 1] => prev.last = range.last,
            _ => plan.push(*range),
        }
    }
    plan
}

/// Every cell at `resolution` that has any point within `radius_m` of
/// `center`, and every cell whose descendants may: H3 nests cells only
/// approximately, so a point's resolution-15 cell can descend from a
/// neighbour of the cell that holds the point. A cell is kept when its
/// centre lies within `radius_m` plus [`MARGIN`] circumradii (a thin rim of
/// extra cells, which the exact distance filter drops).
///
/// The kept cells form a connected patch around the centre cell, so they
/// are walked ring by ring and the first ring with none kept ends the walk.
/// Cells within a covering differ in size by a few percent at most (H3's
/// distortion changes over thousands of kilometres), so the centre cell's
/// circumradius settles all but a thin band at the rim, and rings that lie
/// wholly inside are kept without converting a cell: a 2 km covering
/// measures a few dozen cells, not hundreds of centres and boundaries.
/// Sorted, each cell once.
#[must_use]
pub fn cells_covering(center: GeoPoint, radius_m: f64, resolution: Resolution) -> Vec<CellIndex> {
    let origin = center.to_latlng();
    let start = origin.to_cell(resolution);
    let local = circumradius_m(start);
    // Kept by the centre cell's circumradius where a cell's own may differ
    // from it by `smaller` and `larger` at most, else by its own.
    let keep_within = |smaller: f64, larger: f64| {
        let bounds = SettledWithin {
            surely_in: radius_m + MARGIN * local * (1.0 - smaller),
            surely_out: radius_m + MARGIN * local * (1.0 + larger),
        };
        let keep = move |cell: CellIndex| {
            let from_origin = origin.distance_m(LatLng::from(cell));
            bounds
                .settle(from_origin, from_origin)
                .unwrap_or_else(|| from_origin <= radius_m + MARGIN * circumradius_m(cell))
        };
        (keep, bounds)
    };
    // Within a covering that meets no pentagon, a cell's circumradius
    // differs from the centre cell's by at most 2.7 % (measured over 80,000
    // coverings worldwide at the radii matching read then, 62.5 m to 2 km,
    // and the partitions') and 3.1 % at 20 km, the widest sparse radius; a
    // twentieth leaves few cells for their own boundary. Near a pentagon
    // cells distort more (up to 15 %).
    let (keep, bounds) = keep_within(0.05, 0.05);
    // A ring's farthest centre from `center`: k centre spacings (the
    // square root of 3 circumradii each, with room for the sizes to differ)
    // beyond the centre cell's own centre.
    let off_centre = origin.distance_m(LatLng::from(start));
    let ring_reach = |k: u32| off_centre + f64::from(k) * 3.0_f64.sqrt() * local * 1.25;
    let lattice = Lattice::around(origin, start, bounds.surely_out);
    let mut covering = vec![start];
    for k in 1.. {
        // A pentagon nearby: its rings are not whole hexagons.
        let Some(ring) = start.grid_ring_fast(k).collect::<Option<Vec<_>>>() else {
            return covering_by_walk(start, keep_within(0.2, 0.25).0);
        };
        let before = covering.len();
        if ring_reach(k) <= bounds.surely_in {
            covering.extend(ring);
        } else {
            // Settled from the estimated centre where the lattice was
            // measured this far out, and converted exactly where it was not
            // or the estimate cannot settle it (a thin band at the rim).
            let lattice = lattice.as_ref().filter(|l| k <= l.rings);
            covering.extend(ring.into_iter().filter(|cell| {
                lattice
                    .and_then(|l| l.settle(*cell, bounds))
                    .unwrap_or_else(|| keep(*cell))
            }));
        }
        if covering.len() == before {
            break;
        }
    }
    covering.sort_unstable();
    covering
}

/// The distances from a covering's centre within which a cell is surely
/// kept, and beyond which it is surely not, whatever its own circumradius.
#[derive(Debug, Clone, Copy)]
struct SettledWithin {
    surely_in: f64,
    surely_out: f64,
}

impl SettledWithin {
    /// Whether a cell whose centre lies between `nearest` and `farthest`
    /// from the covering's centre is kept, where that settles it.
    fn settle(self, nearest: f64, farthest: f64) -> Option<bool> {
        if farthest <= self.surely_in {
            Some(true)
        } else if nearest > self.surely_out {
            Some(false)
        } else {
            None
        }
    }
}

/// What a cell centre estimated on the [`Lattice`] may be off by beyond the
/// error measured at the corners of the last ring measured: the plane's own
/// error against the great-circle distance (under 0.1 % within 20 km below
/// 80 degrees of latitude) and the lattice's curvature between the
/// corners.
const LATTICE_SLACK_SHARE: f64 = 0.005;
/// The same, in metres: rounding.
const LATTICE_SLACK_M: f64 = 0.5;

/// Cell centres near a start cell, estimated from their H3 local IJ
/// coordinates (integer work) instead of converted to a position one by one
/// (trigonometry: most of a covering's time). Within the few tens of km a
/// covering spans, H3's cells of one resolution form nearly an affine image
/// of the hexagonal lattice on a plane tangent at the customer, so two
/// neighbours of the start cell give the lattice's axes in metres. The
/// estimate drifts with distance (more where an icosahedron face's edge
/// bends the lattice), so the corners of the farthest ring that may hold a
/// kept cell are converted exactly to measure how far; a cell is converted
/// exactly where its estimate is too close to a bound to settle it. That
/// the corners bound the drift follows where one edge bends the lattice;
/// where two do (near a vertex of the icosahedron, without a pentagon in
/// the covering), it rests on the tests that compare coverings with the
/// covering measured cell by cell.
struct Lattice {
    start: CellIndex,
    origin: LatLng,
    cos_lat: f64,
    start_ij: CoordIJ,
    start_m: (f64, f64),
    axis_i: (f64, f64),
    axis_j: (f64, f64),
    /// The rings out to which the error was measured.
    rings: u32,
    /// The farthest an estimated centre lay from the exact one there.
    error_m: f64,
}

/// The six neighbours' steps in H3's local IJ coordinates, in order around
/// the start cell.
const IJ_STEPS: [(i32, i32); 6] = [(1, 0), (1, 1), (0, 1), (-1, 0), (-1, -1), (0, -1)];

impl Lattice {
    /// The lattice around `start`, measured out to the rings that may hold
    /// a centre within `reach_m` of `origin`. `None` near the poles, where
    /// the tangent plane's longitudes crowd, or where H3 gives no local
    /// coordinates.
    fn around(origin: LatLng, start: CellIndex, reach_m: f64) -> Option<Lattice> {
        if origin.lat().abs() > 80.0 {
            return None;
        }
        let start_ij = start.to_local_ij(start).ok()?.coord;
        let mut lattice = Lattice {
            start,
            origin,
            cos_lat: origin.lat_radians().cos(),
            start_ij,
            start_m: (0.0, 0.0),
            axis_i: (0.0, 0.0),
            axis_j: (0.0, 0.0),
            rings: 0,
            error_m: 0.0,
        };
        lattice.start_m = lattice.plane(LatLng::from(start));
        let step_i = lattice.plane(LatLng::from(lattice.cell_at(1, 0, 1)?));
        let step_j = lattice.plane(LatLng::from(lattice.cell_at(0, 1, 1)?));
        lattice.axis_i = (step_i.0 - lattice.start_m.0, step_i.1 - lattice.start_m.1);
        lattice.axis_j = (step_j.0 - lattice.start_m.0, step_j.1 - lattice.start_m.1);
        // Ring k's centres lie on a hexagon k times the first ring's, so at
        // least k times its inradius from the start cell's centre.
        let corners = IJ_STEPS.map(|(di, dj)| lattice.offset(f64::from(di), f64::from(dj)));
        let inradius = (0..6)
            .map(|m| {
                let (a, b) = (corners[m], corners[(m + 1) % 6]);
                (a.0 * b.1 - a.1 * b.0).abs() / length(b.0 - a.0, b.1 - a.1)
            })
            .fold(f64::INFINITY, f64::min);
        let off_centre = length(lattice.start_m.0, lattice.start_m.1);
        let rings = ((reach_m + off_centre) * 1.05 / inradius).floor() + 1.0;
        lattice.rings = if rings.is_finite() && rings < 10_000.0 {
            rings as u32
        } else {
            return None;
        };
        lattice.error_m = lattice.corner_error_m()?;
        Some(lattice)
    }

    /// The cell `k` steps of (`di`, `dj`) from the start cell.
    fn cell_at(&self, di: i32, dj: i32, k: i32) -> Option<CellIndex> {
        let coord = CoordIJ::new(
            self.start_ij.i.checked_add(di.checked_mul(k)?)?,
            self.start_ij.j.checked_add(dj.checked_mul(k)?)?,
        );
        CellIndex::try_from(LocalIJ::new(self.start, coord)).ok()
    }

    /// A position on the plane tangent at the origin, in metres east and
    /// north of it.
    fn plane(&self, at: LatLng) -> (f64, f64) {
        let mut d_lng = at.lng_radians() - self.origin.lng_radians();
        if d_lng > std::f64::consts::PI {
            d_lng -= std::f64::consts::TAU;
        } else if d_lng < -std::f64::consts::PI {
            d_lng += std::f64::consts::TAU;
        }
        let d_lat = at.lat_radians() - self.origin.lat_radians();
        (d_lng * self.cos_lat * EARTH_RADIUS_M, d_lat * EARTH_RADIUS_M)
    }

    /// The estimated offset of the cell `di`, `dj` steps from the start
    /// cell, from the start cell's centre.
    fn offset(&self, di: f64, dj: f64) -> (f64, f64) {
        (
            di * self.axis_i.0 + dj * self.axis_j.0,
            di * self.axis_i.1 + dj * self.axis_j.1,
        )
    }

    /// The estimated position of the cell at `coord`, in floating point
    /// (local IJ coordinates are far from `i32`'s ends, but need not be).
    fn estimate(&self, coord: CoordIJ) -> (f64, f64) {
        let (x, y) = self.offset(
            f64::from(coord.i) - f64::from(self.start_ij.i),
            f64::from(coord.j) - f64::from(self.start_ij.j),
        );
        (self.start_m.0 + x, self.start_m.1 + y)
    }

    /// Whether `cell` is kept, where its estimated centre is clear of
    /// `bounds` by more than the estimate can be wrong.
    fn settle(&self, cell: CellIndex, bounds: SettledWithin) -> Option<bool> {
        let (x, y) = self.estimate(cell.to_local_ij(self.start).ok()?.coord);
        let estimate = length(x, y);
        let slack = self.error_m + LATTICE_SLACK_M + LATTICE_SLACK_SHARE * estimate;
        bounds.settle(estimate - slack, estimate + slack)
    }

    /// The farthest an estimated centre lies from the exact one, plus the
    /// plane's own error against the great-circle distance, at the six
    /// corners of the last ring measured: the drift grows with distance
    /// from the start cell, and a ring's centres lie within the hexagon of
    /// its corners.
    fn corner_error_m(&self) -> Option<f64> {
        let k = i32::try_from(self.rings).ok()?;
        let mut worst: f64 = 0.0;
        for (di, dj) in IJ_STEPS {
            let centre = LatLng::from(self.cell_at(di, dj, k)?);
            let (dx, dy) = self.offset(f64::from(di * k), f64::from(dj * k));
            let placed = self.plane(centre);
            let drift = length(self.start_m.0 + dx - placed.0, self.start_m.1 + dy - placed.1);
            let flat = (length(placed.0, placed.1) - self.origin.distance_m(centre)).abs();
            worst = worst.max(drift + flat);
        }
        Some(worst)
    }
}

/// A plane vector's length (`f64::hypot` guards against overflow at a
/// cost these few km never need).
fn length(x: f64, y: f64) -> f64 {
    (x * x + y * y).sqrt()
}

/// The farthest a cell's boundary lies from its centre, in metres.
fn circumradius_m(cell: CellIndex) -> f64 {
    let centre = LatLng::from(cell);
    cell.boundary()
        .iter()
        .map(|v| centre.distance_m(*v))
        .fold(0.0_f64, f64::max)
}

/// [`cells_covering`] near a pentagon: a breadth first walk from the
/// centre cell through the neighbours of every cell kept.
fn covering_by_walk(start: CellIndex, keep: impl Fn(CellIndex) -> bool) -> Vec<CellIndex> {
    let mut seen: HashSet<CellIndex> = HashSet::from([start]);
    let mut queue = VecDeque::from([start]);
    let mut covering = Vec::new();
    while let Some(cell) = queue.pop_front() {
        if cell != start && !keep(cell) {
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

/// The H3 digit at each place of ring order (the inverse of [`RING_ORDER`]).
const RING_DIGIT: [u64; 7] = [0, 4, 6, 2, 3, 1, 5];

/// Resolution-15 cells under one cell at resolution `15 - k`: 7^k.
fn keys_under(k: u32) -> u64 {
    7_u64.pow(k)
}

/// The cell at `resolution` whose first descendant has dense rank `rank`
/// ([`rank15`]); `None` where H3 has no such cell (a pentagon's missing
/// sub-cells, which hold no store).
fn cell_of_rank(rank: u64, resolution: u8) -> Option<CellIndex> {
    let base = rank / keys_under(15);
    let mut index = (1_u64 << 59) | (u64::from(resolution) << 52) | (base << 45);
    for level in 1..=15_u8 {
        let digit = if level <= resolution {
            let place = (rank / keys_under(u32::from(15 - level))) % 7;
            RING_DIGIT[usize::try_from(place).unwrap_or(0)]
        } else {
            7
        };
        index |= digit << (3 * u64::from(15 - level));
    }
    CellIndex::try_from(index).ok()
}

/// The fewest cells whose resolution-15 descendants are exactly the keys
/// from `first` to `last` ([`ring_key`]s of one base cell or more).
fn cells_of_keys(first: u64, last: u64) -> Vec<CellIndex> {
    cells_of_ranks(rank15(first), rank15(last))
}

/// [`cells_of_keys`] of dense ranks ([`rank15`]).
fn cells_of_ranks(mut lo: u64, hi: u64) -> Vec<CellIndex> {
    let mut cells = Vec::new();
    while lo <= hi {
        // The coarsest cell that starts at `lo` and ends by `hi`.
        let mut k = 0;
        while k < 15 && lo.is_multiple_of(keys_under(k + 1)) && lo + keys_under(k + 1) - 1 <= hi {
            k += 1;
        }
        cells.extend(cell_of_rank(lo, u8::try_from(15 - k).unwrap_or(15)));
        lo += keys_under(k);
    }
    cells
}

/// How far from `center`, up to `radius_m`, every store lies in a range
/// read whole: the distance to the nearest store `unread` may hold (parts
/// of ranges a read stopped short of, [`crate::ports::GeoRead::unread`]).
/// A read that left nothing unread is whole out to `radius_m`.
#[must_use]
pub fn read_whole_within(center: GeoPoint, radius_m: f64, unread: &[CellRange]) -> f64 {
    let origin = center.to_latlng();
    unread
        .iter()
        .flat_map(|range| cells_of_keys(range.first, range.last))
        .map(|cell| origin.distance_m(LatLng::from(cell)) - MARGIN * circumradius_m(cell))
        .fold(radius_m, f64::min)
        .max(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_position_comes_back_as_it_was_given() {
        for (lat, lng) in [(23.78, 90.4), (23.7952, 90.4078), (-33.868_82, 151.209_29)] {
            let point = GeoPoint::new(lat, lng).expect("valid");
            assert_eq!((point.lat(), point.lng()), (lat, lng));
            let json = serde_json::to_string(&point).expect("serialises");
            assert_eq!(json, format!("{{\"lat\":{lat},\"lng\":{lng}}}"));
        }
    }

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

    /// Every cell the rule of [`cells_covering`] keeps, each converted
    /// exactly, found by walking out from the centre cell.
    fn covering_converted_cell_by_cell(center: GeoPoint, radius_m: f64, resolution: Resolution) -> Vec<CellIndex> {
        let origin = center.to_latlng();
        covering_by_walk(origin.to_cell(resolution), |cell| {
            origin.distance_m(LatLng::from(cell)) <= radius_m + MARGIN * circumradius_m(cell)
        })
    }

    /// The radii matching reads and the widest sparse radius, each at its
    /// search resolution, and the partitions of a 2 km match.
    fn assert_covering_as_converted_cell_by_cell(center: GeoPoint) {
        for radius_m in [15.625, 31.25, 62.5, 125.0, 250.0, 700.0, 2_000.0, 20_000.0] {
            let resolution = search_resolution(radius_m);
            assert_eq!(
                cells_covering(center, radius_m, resolution),
                covering_converted_cell_by_cell(center, radius_m, resolution),
                "{center:?}, {radius_m} m"
            );
        }
        assert_eq!(
            cells_covering(center, 2_000.0, PARTITION_RESOLUTION),
            covering_converted_cell_by_cell(center, 2_000.0, PARTITION_RESOLUTION),
            "{center:?}, partitions"
        );
    }

    /// The point `share` of the way from `a` to `b` on the great circle.
    fn along_great_circle(a: GeoPoint, b: GeoPoint, share: f64) -> GeoPoint {
        let unit = |p: GeoPoint| {
            let (lat, lng) = (p.lat().to_radians(), p.lng().to_radians());
            [lat.cos() * lng.cos(), lat.cos() * lng.sin(), lat.sin()]
        };
        let (u, v) = (unit(a), unit(b));
        let angle = (u[0] * v[0] + u[1] * v[1] + u[2] * v[2]).clamp(-1.0, 1.0).acos();
        let (wa, wb) = (
            ((1.0 - share) * angle).sin() / angle.sin(),
            (share * angle).sin() / angle.sin(),
        );
        let w = [0, 1, 2].map(|i| wa * u[i] + wb * v[i]);
        let lat = w[2].atan2(w[0].hypot(w[1])).to_degrees();
        let lng = w[1].atan2(w[0]).to_degrees();
        GeoPoint::new(lat, lng).expect("valid")
    }

    /// Where an icosahedron face's edge crosses a covering, H3's cells
    /// change size and shape the most; the covering must still be the one
    /// measured cell by cell. The edges join the 12 pentagons of
    /// resolution 0 (the icosahedron's vertices).
    #[test]
    fn a_covering_across_a_face_edge_is_the_covering_converted_cell_by_cell() {
        let vertices: Vec<GeoPoint> = Resolution::Zero.pentagons().map(GeoPoint::from_cell_centre).collect();
        for (n, a) in vertices.iter().enumerate() {
            for b in &vertices[n + 1..] {
                let length_m = a.distance_m(*b);
                // Neighbours on the icosahedron: about 7,050 km apart.
                if length_m > 7_500_000.0 {
                    continue;
                }
                for share in [0.1, 0.3, 0.5, 0.7, 0.9] {
                    let on_edge = along_great_circle(*a, *b, share);
                    for (bearing, off_m) in [(0.0, 0.0), (90.0, 700.0), (200.0, 1_500.0), (300.0, 3_000.0)] {
                        assert_covering_as_converted_cell_by_cell(on_edge.offset(bearing, off_m));
                    }
                }
            }
        }
    }

    #[test]
    fn a_covering_around_a_pentagon_holds_every_point_inside_the_radius() {
        for pentagon in Resolution::Nine.pentagons() {
            let center = GeoPoint::from_cell_centre(pentagon);
            let covering = cells_covering(center, 2_000.0, Resolution::Nine);
            for bearing in (0..360).step_by(15) {
                for distance in [0.0, 500.0, 1_000.0, 1_500.0, 1_999.0] {
                    let cell = center.offset(f64::from(bearing), distance).cell(Resolution::Nine);
                    assert!(covering.contains(&cell), "{pentagon} at {bearing} deg, {distance} m");
                }
            }
        }
    }

    #[test]
    fn a_2_km_search_is_covered_at_resolution_9_a_500_m_one_finer_and_a_market_s_first_read_at_13() {
        assert_eq!(search_resolution(2_000.0), SEARCH_RESOLUTION);
        assert_eq!(search_resolution(500.0), Resolution::Ten);
        assert_eq!(search_resolution(50.0), Resolution::Thirteen);
        assert_eq!(search_resolution(0.0), Resolution::Thirteen);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1_000))]
        /// The plane's distances stay within half a per cent of the sphere's
        /// as far as matching reaches, at any latitude (the sphere's own
        /// beyond 60 degrees).
        #[test]
        fn a_local_plane_measures_nearby_points_as_the_sphere_does(
            lat in -90.0f64..90.0,
            lng in -180.0f64..180.0,
            bearing in 0.0f64..360.0,
            distance_m in 1.0f64..20_000.0,
        ) {
            let at = GeoPoint::new(lat, lng).expect("a point within the ranges");
            let to = at.offset(bearing, distance_m);
            let sphere = at.distance_m(to);
            let plane = at.local_plane().distance_m(to);
            prop_assert!((plane - sphere).abs() <= sphere * 0.005, "{plane} m on the plane, {sphere} m on the sphere");
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1_000))]
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

        /// The cells of a run of keys hold exactly the points whose key
        /// lies in the run.
        #[test]
        fn the_cells_of_a_run_of_keys_hold_exactly_its_keys(
            lat in -70.0f64..70.0,
            lng in -179.0f64..179.0,
            ends in proptest::array::uniform2((0.0f64..360.0, 0.0f64..400.0)),
            probes in proptest::collection::vec((0.0f64..360.0, 0.0f64..400.0), 20),
        ) {
            let at = GeoPoint::new(lat, lng).expect("valid");
            let key = |p: GeoPoint| ring_key(p.store_cell(), 0);
            let mut run = ends.map(|(bearing, m)| key(at.offset(bearing, m)));
            run.sort_unstable();
            let cells = cells_of_keys(run[0], run[1]);
            for (bearing, m) in probes.into_iter().chain(ends) {
                let cell = at.offset(bearing, m).store_cell();
                let in_run = (run[0]..=run[1]).contains(&key(at.offset(bearing, m)));
                let in_cells = cells.iter().any(|c| cell.parent(c.resolution()) == Some(*c));
                prop_assert_eq!(in_run, in_cells);
            }
        }

        /// Within the radius a cut read is whole to, no point's key lies in
        /// what it left unread.
        #[test]
        fn no_unread_key_lies_within_what_a_read_read_whole(
            lat in -70.0f64..70.0,
            lng in -179.0f64..179.0,
            radius_m in 10.0f64..2_000.0,
            unread_at in (0.0f64..360.0, 0.0f64..2_000.0),
            probes in proptest::collection::vec((0.0f64..360.0, 0.0f64..1.0), 20),
        ) {
            let at = GeoPoint::new(lat, lng).expect("valid");
            let plan = search_plan(at, radius_m, DEFAULT_MAX_RANGES);
            let cut = at.offset(unread_at.0, unread_at.1);
            let cut_key = ring_key(cut.store_cell(), 0);
            // The plan's range holding the cut point (if any) is left
            // unread from it on.
            let unread: Vec<CellRange> = plan
                .iter()
                .filter(|r| r.contains(cut_key))
                .map(|r| CellRange { first: cut_key, ..*r })
                .collect();
            let whole_m = read_whole_within(at, radius_m, &unread);
            prop_assert!(whole_m <= radius_m);
            // Strictly within: a read whole to 0 m holds nothing whole.
            for (bearing, share) in probes.into_iter().filter(|_| whole_m > 0.0) {
                let p = at.offset(bearing, whole_m * share);
                let key = ring_key(p.store_cell(), 0);
                prop_assert!(!unread.iter().any(|r| r.contains(key)), "{} m in", whole_m * share);
            }
            if unread.is_empty() {
                prop_assert_eq!(whole_m, radius_m);
            }
        }

        /// The box a crowd map passes cells over by holds every point
        /// within reach, at any latitude and across the antimeridian.
        #[test]
        fn the_box_around_a_disk_holds_every_point_within_it(
            lat in -89.0f64..89.0,
            lng in -180.0f64..180.0,
            bearing in 0.0f64..360.0,
            reach_m in 10.0f64..5_000.0,
            fraction in 0.0f64..1.0,
        ) {
            let at = GeoPoint::new(lat, lng).expect("valid");
            let p = at.offset(bearing, reach_m * fraction);
            let (lat_reach, lng_reach) = at.degrees_within(reach_m * 1.01);
            let (lat_apart, lng_apart) = p.degrees_apart(at);
            prop_assert!(lat_apart <= lat_reach);
            prop_assert!(lng_apart <= lng_reach);
        }

        /// Walked ring by ring, the covering keeps exactly the cells a
        /// walk through every kept cell's neighbours keeps, measuring each
        /// cell's own circumradius.
        #[test]
        fn the_ring_walk_keeps_what_a_walk_measuring_every_cell_keeps(
            lat in -85.0f64..85.0,
            lng in -180.0f64..180.0,
            edges in 0.2f64..12.0,
            res in 6u8..=13,
        ) {
            let res = Resolution::try_from(res).expect("valid resolution");
            // Radii as plans use them: a few to a dozen edges.
            let radius_m = edges * res.edge_length_m();
            let center = GeoPoint::new(lat, lng).expect("valid");
            prop_assert_eq!(
                cells_covering(center, radius_m, res),
                covering_converted_cell_by_cell(center, radius_m, res)
            );
        }

        /// A cell's key range holds exactly its own descendants.
        #[test]
        fn a_cells_key_range_holds_its_descendants_and_nothing_else(
            lat in -60.0f64..60.0,
            lng in -179.0f64..179.0,
            res in 6u8..=14,
            bearing in 0.0f64..360.0,
            distance in 0.0f64..3_000.0,
        ) {
            let res = Resolution::try_from(res).expect("valid resolution");
            let here = GeoPoint::new(lat, lng).expect("valid");
            let other = here.offset(bearing, distance);
            // H3 nests cells only approximately: a point's resolution-15
            // cell can descend from a neighbour of the coarse cell holding
            // the point. Ranges are about descent.
            let cell = here.store_cell().parent(res).expect("coarser");
            let range = CellRange::of_cell(cell).expect("range");
            prop_assert!(range.contains(here.geo_key()));
            let same_cell = other.store_cell().parent(res) == Some(cell);
            prop_assert_eq!(range.contains(other.geo_key()), same_cell);
        }

        /// A search centred on a partition edge reads both sides: every
        /// store within the radius, on either side, lies in a range of its
        /// own partition, and the plan stays within its query budget.
        #[test]
        fn a_search_on_a_partition_edge_reaches_stores_on_both_sides(
            lat in -60.0f64..60.0,
            lng in -179.0f64..179.0,
            side in 0usize..6,
            radius in prop_oneof![Just(500.0f64), Just(2_000.0f64)],
            max_ranges in 2usize..=8,
        ) {
            // The edge as stores are indexed (a res-15 cell's ancestor, which
            // is near but not on the hexagon's edge): bisect the line from
            // the partition's centre to a neighbour's centre.
            let partition = store_partition(GeoPoint::new(lat, lng).expect("valid"));
            let neighbours: Vec<CellIndex> = partition.grid_disk::<Vec<_>>(1).into_iter().filter(|c| *c != partition).collect();
            let (from, to) = (LatLng::from(partition), LatLng::from(neighbours[side % neighbours.len()]));
            let at = |t: f64| {
                GeoPoint::new(from.lat() + (to.lat() - from.lat()) * t, from.lng() + (to.lng() - from.lng()) * t).expect("valid")
            };
            let (mut inside, mut outside) = (0.0, 1.0);
            for _ in 0..40 {
                let mid = (inside + outside) / 2.0;
                if store_partition(at(mid)) == partition { inside = mid } else { outside = mid }
            }
            let center = at(inside);
            let step = 1.0 / from.distance_m(to);
            let mut stores: Vec<GeoPoint> = [0.5, 5.0, radius * 0.3, radius * 0.9]
                .iter()
                .flat_map(|d| [at(inside - d * step), at(outside + d * step)])
                .collect();
            stores.extend((0..12).map(|i| center.offset(f64::from(i) * 30.0, radius * 0.6)));
            let sides: HashSet<CellIndex> = stores.iter().map(|s| store_partition(*s)).collect();
            prop_assert!(sides.len() >= 2, "stores on both sides of the edge");
            let plan = search_plan(center, radius, max_ranges);
            for store in stores {
                prop_assert!(center.distance_m(store) <= radius);
                let partition = store_partition(store);
                prop_assert!(plan.iter().any(|r| r.partition == partition && r.contains(store.geo_key())));
            }
            let partitions: HashSet<CellIndex> = plan.iter().map(|r| r.partition).collect();
            prop_assert!(plan.len() <= max_ranges.max(partitions.len()));
        }

        /// The fine crowd items a match reads hold the fine cell of every
        /// store within their reach, and are few.
        #[test]
        fn the_fine_items_near_a_point_count_every_store_within_their_reach(
            lat in -70.0f64..70.0,
            lng in -179.0f64..179.0,
            bearing in 0.0f64..360.0,
            fraction in prop_oneof![0.0f64..1.0, 0.97f64..1.0],
        ) {
            let at = GeoPoint::new(lat, lng).expect("valid");
            let items = fine_crowd_items_near(at);
            let store = at.offset(bearing, FINE_CROWD_REACH_M * fraction);
            let (item, cell) = store_fine_crowd_cell(store);
            prop_assert!(items.contains(&item), "{items:?}");
            prop_assert_eq!(cell.parent(FINE_CROWD_ITEM_RESOLUTION), Some(item));
            prop_assert!(!items.is_empty() && items.len() <= 7, "{}", items.len());
        }

        /// Any store inside the radius falls in one of the planned ranges;
        /// weighed by any counts, a plan still holds it, in as many ranges.
        #[test]
        fn search_plan_reaches_every_store_inside_the_radius(
            lat in -70.0f64..70.0,
            lng in -179.0f64..179.0,
            bearing in 0.0f64..360.0,
            fraction in prop_oneof![0.0f64..1.0, 0.97f64..1.0],
            max_ranges in 1usize..=16,
            // Down to a first read's floor, covered at resolution 13.
            radius in prop_oneof![Just(2_000.0f64), Just(500.0f64), 100.0f64..3_000.0, 15.0f64..100.0],
            salt in 0u64..1_000,
            per_key in prop_oneof![Just(0.0f64), 0.0f64..0.01],
        ) {
            let center = GeoPoint::new(lat, lng).expect("valid");
            let plan = search_plan(center, radius, max_ranges);
            let store = center.offset(bearing, radius * fraction);
            let cell = store.geo_key();
            let partition = store_partition(store);
            prop_assert!(plan.iter().any(|r| r.partition == partition && r.contains(cell)));
            prop_assert!(plan.len() <= max_ranges.max(plan.iter().map(|r| r.partition).collect::<std::collections::HashSet<_>>().len()));
            let items_in = |cell: CellIndex| ((u64::from(cell) ^ salt) % 97) as f64;
            let weighed = search_plan_weighed(center, radius, max_ranges, Some((&items_in, per_key)));
            prop_assert!(weighed.iter().any(|r| r.partition == partition && r.contains(cell)));
            prop_assert_eq!(weighed.len(), plan.len());
        }
    }

    #[test]
    fn a_position_is_read_from_an_object_only_never_from_a_pair() {
        let point: GeoPoint = serde_json::from_str(r#"{"lat": 23.78, "lng": 90.41}"#).expect("an object");
        assert!((point.lat() - 23.78).abs() < 1e-9 && (point.lng() - 90.41).abs() < 1e-9);
        // GeoJSON's [lng, lat] would otherwise be read as lat 90.41, lng 23.78.
        assert!(serde_json::from_str::<GeoPoint>("[90.41, 23.78]").is_err());
        assert!(serde_json::from_str::<GeoPoint>(r#"{"lat": 91, "lng": 90.41}"#).is_err());
    }
}
