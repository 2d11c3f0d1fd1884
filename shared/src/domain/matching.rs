//! Choosing which stores get an offer.

use std::cmp::Ordering;
use std::collections::HashMap;
use std::sync::Arc;

use h3o::CellIndex;

use super::clock::Millis;
use super::demand::{DemandItem, demand_categories};
use super::geo::{
    CROWD_RESOLUTION, CellRange, FINE_CROWD_ITEM_RESOLUTION, FINE_CROWD_RESOLUTION, GeoPoint, PARTITION_RESOLUTION,
    cells_covering, read_whole_within, search_plan_weighed, store_crowd_cell,
};
use super::ids::StoreId;
use super::order::delivery::DeliveryKind;
use super::store::Store;

/// A store that may receive the offer, with what ranks it.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    /// Shared with the read it came from: a match ranks tens to hundreds
    /// of stores to offer four.
    pub store: Arc<Store>,
    pub distance_m: f64,
    /// Demand lines whose tag the store lists.
    pub covered: usize,
}

/// The stores one read returned, each with its distance from the customer
/// measured once: a match counts them, remembers them where they were
/// crowded and ranks them (a great-circle distance is trigonometry, and a
/// read holds tens to hundreds of stores).
#[derive(Debug, Clone)]
pub struct StoresRead {
    at: GeoPoint,
    stores: Vec<(Arc<Store>, f64)>,
}

impl StoresRead {
    /// `stores`, read around `at`, with their distances from it.
    #[must_use]
    pub fn measure(at: GeoPoint, stores: Vec<Arc<Store>>) -> Self {
        let stores = stores
            .into_iter()
            .map(|store| {
                let distance_m = at.distance_m(store.location);
                (store, distance_m)
            })
            .collect();
        StoresRead { at, stores }
    }

    /// How many of the stores lie within `radius_m`.
    #[must_use]
    pub fn within(&self, radius_m: f64) -> usize {
        self.stores.iter().filter(|(_, m)| *m <= radius_m).count()
    }

    /// The stores within `radius_m`, with their distances.
    pub fn stores_within(&self, radius_m: f64) -> impl Iterator<Item = (&Arc<Store>, f64)> {
        self.stores
            .iter()
            .filter(move |(_, m)| *m <= radius_m)
            .map(|(store, m)| (store, *m))
    }
}

/// Open, active stores ([`Store::is_matchable`]: a pending or suspended
/// store is never matched, whatever storage returned) of a category the
/// demand needs, within `radius_m`, that cover at least one demand line and
/// are not in `exclude`, best first: most lines
/// covered, then rating, then acceptance speed, then nearest, then by id so
/// the order is stable.
#[must_use]
pub fn rank_candidates(
    items: &[DemandItem],
    customer: GeoPoint,
    radius_m: f64,
    stores: Vec<Arc<Store>>,
    exclude: &[StoreId],
) -> Vec<Candidate> {
    rank_measured(items, radius_m, StoresRead::measure(customer, stores), exclude)
}

/// [`rank_candidates`] of stores whose distances are measured.
fn rank_measured(items: &[DemandItem], radius_m: f64, read: StoresRead, exclude: &[StoreId]) -> Vec<Candidate> {
    let categories = demand_categories(items);
    let mut candidates: Vec<Candidate> = read
        .stores
        .into_iter()
        .filter(|(s, distance_m)| {
            *distance_m <= radius_m && s.is_matchable() && !exclude.contains(&s.id) && categories.contains(&s.category)
        })
        .filter_map(|(store, distance_m)| {
            let covered = items.iter().filter(|i| store.tags.contains(&i.tag)).count();
            (covered > 0).then_some(Candidate {
                store,
                distance_m,
                covered,
            })
        })
        .collect();
    candidates.sort_by(compare);
    candidates
}

/// The most geo items a match's first read (sized by the [`CrowdMap`] to
/// about [`FIRST_READ_ITEMS`]) takes of one cell range, of the at most
/// eight it reads: only a crowd far denser than the map says (a market
/// hall, a mall) holds more. It keeps that read to one page of a few dozen
/// KB at any density. Where it cuts the read short, the match ranks the
/// stores within what it read whole
/// ([`crate::domain::geo::read_whole_within`]), or the stores as read where
/// too few lie there; a wider read, for a demand too few of them serve, is
/// read whole.
pub const ITEMS_PER_RANGE: usize = 100;

/// A read's stores ranked for a round ([`rank_read`]).
#[derive(Debug)]
pub struct RankedRead {
    /// Best first, offering the wanted kind of delivery.
    pub candidates: Vec<Candidate>,
    /// The geo items within the distance they were ranked within.
    pub items: usize,
    /// Whether the read left stores within its radius unread.
    pub cut_short: bool,
}

/// The candidates among `read`, a read of `read_m` that left `unread`
/// unread ([`ITEMS_PER_RANGE`]), that offer `delivery`: ranked within the
/// distance the read read whole where enough for `wanted` stores lie there
/// ([`enough_nearby`]), else within `read_m` as read.
#[must_use]
pub fn rank_read(
    items: &[DemandItem],
    read_m: f64,
    unread: &[CellRange],
    read: StoresRead,
    exclude: &[StoreId],
    delivery: Option<DeliveryKind>,
    wanted: usize,
) -> RankedRead {
    let whole_m = read_whole_within(read.at, read_m, unread);
    let cut_short = whole_m < read_m;
    let (items_read, items_whole) = (read.within(read_m), read.within(whole_m));
    // Ranked once: the best within the distance read whole are the best of
    // all, in the same order, kept by their distance.
    let mut candidates: Vec<Candidate> = rank_measured(items, read_m, read, exclude)
        .into_iter()
        .filter(|c| c.store.delivers(delivery))
        .collect();
    let read_whole = |c: &Candidate| c.distance_m <= whole_m;
    if cut_short && enough_nearby(candidates.iter().filter(|c| read_whole(c)).count(), wanted) {
        candidates.retain(read_whole);
        return RankedRead {
            candidates,
            items: items_whole,
            cut_short,
        };
    }
    RankedRead {
        candidates,
        items: items_read,
        cut_short,
    }
}

/// The geo items a match's first read aims to stay within.
pub const FIRST_READ_ITEMS: f64 = 100.0;

/// Geo items the queries covering a disk read per item within it: their
/// cells reach past the rim and read through the gaps between ranges
/// (about 1.5 at every radius the geo bench measures, docs/dynamodb.md).
const READ_PER_ITEM_WITHIN: f64 = 1.5;

/// The items within its radius that keep a first read to about
/// [`FIRST_READ_ITEMS`] read: about 67.
pub const FIRST_READ_WITHIN: f64 = FIRST_READ_ITEMS / READ_PER_ITEM_WITHIN;

/// The first radius is never less than this share of the whole: 15.6 m
/// of 2 km, about four of the finest cells a search plan uses (resolution
/// 13, 3.5 m across an edge) across its radius; even a market of 30,000
/// shops per km2 holds about 23 within it.
const SMALLEST_FIRST_SHARE: f64 = 1.0 / 128.0;

/// The first read's share of the radius where the place is not known, read
/// blind in the same round trip as the [`CrowdMap`] that sizes the next
/// read: a 64th (31.25 m of 2 km). A covered bazaar of 19,500 shops per
/// km2 holds about 60 within it, where a 32nd (62.5 m) held about 240 and
/// read up to 348 items; a market's hub or a mall, 10,000 per km2 and
/// more. Anywhere less crowded a 64th seldom holds enough, so a match
/// there reads twice: a second geo round trip, only in a process's first
/// match near a place, and in a city a 32nd needed it too (in a market of
/// 1,200 per km2 it held enough about a quarter of the time;
/// docs/performance.md).
const COLD_FIRST_SHARE: f64 = 1.0 / 64.0;

/// The items within its radius a first read short of the whole radius
/// aims at, over radii [`FIRST_STEPS_PER_DOUBLING`] to a doubling apart
/// (each step about 41 % more area): the map expects 32-45 within the
/// radius it chooses (16-22 for a step narrower than a fine cell,
/// [`step_aim`]), about 50-70 items read, so that where shops stand
/// thicker than the map's even spread says, the read still seldom passes
/// [`FIRST_READ_ITEMS`]. Over doublings to 67, the map expected 17-67
/// (geo bench, a city of even density: up to 109 items read, against up
/// to 85; docs/performance.md).
pub const FIRST_READ_STEP_WITHIN: f64 = 45.0;

/// Steps between the radii [`first_radius`] weighs short of the whole
/// radius: four per doubling, each about 16 % narrower.
const FIRST_STEPS_PER_DOUBLING: i32 = 4;

/// `base` times 2^(k / `steps_per_doubling`), `k` of either sign; a whole
/// doubling is an exact power of two.
fn stepped(base: f64, k: i32, steps_per_doubling: i32) -> f64 {
    let (doublings, fraction) = (k.div_euclid(steps_per_doubling), k.rem_euclid(steps_per_doubling));
    let part = if fraction == 0 {
        1.0
    } else {
        2f64.powf(f64::from(fraction) / f64::from(steps_per_doubling))
    };
    base * 2f64.powi(doublings) * part
}

/// The first radius a match reads where this process remembers the place's
/// [`CrowdMap`] ([`CrowdMemory`]), worked out at the customer's own point:
/// the whole radius where the map expects it to hold at most
/// [`FIRST_READ_WITHIN`] (a sparse town: one read); else the widest of a
/// quarter of the radius and the radii down from it
/// [`FIRST_STEPS_PER_DOUBLING`] to a doubling, down to
/// [`SMALLEST_FIRST_SHARE`], that holds at most [`FIRST_READ_STEP_WITHIN`],
/// or half that where the step is narrower than a fine cell ([`step_aim`])
/// (a market of 1,500 shops per km2: about 88 m of 2 km). Later reads are
/// chosen by [`next_radius`], as where the place is not known. Without
/// counts (a table from before them): a quarter, then (by [`next_radius`])
/// all of it. `near` is the map around the customer's point
/// ([`CrowdMap::near`] out to `radius_m`), `None` without counts.
#[must_use]
pub fn first_radius(radius_m: f64, near: Option<&CrowdNear>) -> f64 {
    let Some(near) = near else {
        return radius_m / 4.0;
    };
    // Down to the smallest itself, whatever the rounding of the steps.
    let smallest = radius_m * SMALLEST_FIRST_SHARE;
    let steps = (0..)
        .map(|k| stepped(radius_m / 4.0, -k, FIRST_STEPS_PER_DOUBLING))
        .take_while(|r| *r >= smallest * (1.0 - 1e-9));
    cheap_radius(radius_m, near, steps).unwrap_or(smallest)
}

/// The radius cheap enough to read whatever it holds, of `steps` (radii
/// short of `radius_m`, in any order): the whole radius where the map
/// expects it to hold at most [`FIRST_READ_WITHIN`], else the widest step
/// it expects to hold at most [`step_aim`]; `None` if none.
fn cheap_radius(radius_m: f64, near: &CrowdNear, steps: impl Iterator<Item = f64>) -> Option<f64> {
    if near.items_within(radius_m) <= FIRST_READ_WITHIN {
        return Some(radius_m);
    }
    steps.filter(|r| near.items_within(*r) <= step_aim(*r)).reduce(f64::max)
}

/// The items within a step of `radius_m` short of the whole radius
/// [`cheap_radius`] aims at: [`FIRST_READ_STEP_WITHIN`], or
/// [`NARROWER_THAN_FINE_CELL_SHARE`] of it for a step narrower than the
/// finest counted cell.
fn step_aim(radius_m: f64) -> f64 {
    if radius_m < disk_radius_m(FINE_CROWD_RESOLUTION.area_km2()) {
        FIRST_READ_STEP_WITHIN * NARROWER_THAN_FINE_CELL_SHARE
    } else {
        FIRST_READ_STEP_WITHIN
    }
}

/// The share of [`FIRST_READ_STEP_WITHIN`] a step narrower than the finest
/// counted cell ([`FINE_CROWD_RESOLUTION`], a disk of about 69 m) aims at.
/// The counts cannot say where in the cell its shops stand, and at a
/// market's hub they stand 1.5-3 times thicker than the cell's mean (geo
/// bench: reads of 31-53 m that held 56-115 shops where 32-45 were
/// expected, read as 101-141 items; docs/performance.md).
const NARROWER_THAN_FINE_CELL_SHARE: f64 = 0.5;

/// A first read sized from a remembered map at most this wide is in a place
/// crowded enough (about 230 shops per km2 and more) for the fine counts
/// around the customer to size it; wider, they would size nothing a match
/// reads (a sparse town, a city of the load benchmark's density).
const FINE_COUNTS_SIZE_WITHIN_M: f64 = 250.0;

/// A first read sized from the crowd cells alone at most this wide is in
/// a market (about 900 shops per km2 and more), where a crowd cell may
/// spread a hub's shops several times too thin.
const CROWD_CELLS_TOO_COARSE_WITHIN_M: f64 = 125.0;

/// Whether a match whose first read is `first_m` wide, sized from a
/// remembered map without the fine counts around the customer, reads them
/// beside it, for the reads after it and the matches after it: where that
/// read is at most [`FINE_COUNTS_SIZE_WITHIN_M`].
#[must_use]
pub fn fine_counts_worth_reading(first_m: f64) -> bool {
    first_m <= FINE_COUNTS_SIZE_WITHIN_M
}

/// The first read of `radius_m` where a remembered map without the fine
/// counts around the customer sizes it at `first_m`: no wider than a cold
/// match's blind read ([`cold_first_radius`]) in a market
/// ([`CROWD_CELLS_TOO_COARSE_WITHIN_M`]), where the crowd cells can spread a
/// hub's shops several times too thin (the fine counts read beside it size
/// the next); else `first_m`. Once a process has read them, a match near
/// there is sized by them.
#[must_use]
pub fn first_radius_before_fine_counts(radius_m: f64, first_m: f64) -> f64 {
    if first_m <= CROWD_CELLS_TOO_COARSE_WITHIN_M {
        first_m.min(cold_first_radius(radius_m))
    } else {
        first_m
    }
}

/// What a match's read found within its radius: the geo items (of the
/// demand's categories; the rim its queries read beyond the radius left
/// out) and the candidates among them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadFound {
    pub items: usize,
    pub candidates: usize,
}

/// Steps between the radii [`next_radius`] weighs where a read found too
/// few candidates: four per doubling (each about 19 % wider), so that a
/// read a few candidates short does not go on to four times the area (at
/// a market's rim, into the market).
const NEXT_STEPS_PER_DOUBLING: i32 = 4;

/// The candidates [`next_radius`] aims to find where a read found too
/// few, over the number that are enough: half as many again, so that the
/// map's error and the spread of shops around its estimate seldom leave
/// the next read short too.
const NEXT_READ_MARGIN: f64 = 1.5;

/// The radius a match reads after its read within `read_m` found too few
/// candidates for `wanted` stores ([`enough_nearby`]), or too few of them
/// online or in stock, from the place's crowd map: remembered
/// ([`first_radius`] chose the first read), or read in the same round
/// trip as the first read, [`cold_first_radius`].
///
/// The wider of
/// - the whole radius if the map expects it to hold at most
///   [`FIRST_READ_WITHIN`], else the widest of the radii
///   [`FIRST_STEPS_PER_DOUBLING`] to a doubling wider than `read_m` that it
///   expects to hold at most [`step_aim`] (the thresholds of
///   [`first_radius`]: cheap enough to read whatever it holds), and
/// - where `found` had fewer candidates than enough: the nearest of
///   `read_m` times 2^(k/[`NEXT_STEPS_PER_DOUBLING`]) where the candidates
///   found, and those the map's items beyond `read_m` are expected to
///   add, make [`NEXT_READ_MARGIN`] times enough, else the whole radius
///   (where a rare line's sellers may be too few, all of them are
///   weighed in one more read, not two). The map's items are
///   weighed at the geometric mean of the candidates `found` had per item
///   it held and per item the map expected within `read_m`;
/// - where `found` had enough candidates (too few of them online or in
///   stock): the nearest doubling where the map's items, at the share of
///   `found`'s items that were candidates, make enough.
///
/// So after the first read a sparse town reads the whole radius, a city
/// 250-500 m, and the rim of a market only as far into it as enough
/// candidates need. Without a map (counts not kept yet): a quarter of the
/// radius, then all of it, as before there were counts. Always wider than
/// `read_m` where `read_m` is within the radius (else the whole radius).
#[must_use]
pub fn next_radius(radius_m: f64, near: Option<&CrowdNear>, read_m: f64, found: ReadFound, wanted: usize) -> f64 {
    if !(read_m > 0.0 && read_m < radius_m) {
        return radius_m;
    }
    let Some(near) = near else {
        return if read_m < radius_m / 4.0 {
            radius_m / 4.0
        } else {
            radius_m
        };
    };
    // Counted from `read_m` itself (a whole doubling exactly twice it).
    let wider = |steps_per_doubling: i32| {
        (1..)
            .map(move |k| stepped(read_m, k, steps_per_doubling))
            .take_while(move |r| *r < radius_m)
            .chain([radius_m])
    };
    // The map's count within a radius (it may fall a little as the radius
    // grows past where stores this process saw are counted: `items_within`).
    let items = |r: f64| near.items_within(r);
    // As `first_radius` sizes a first read, over the radii wider than this.
    let cheap = cheap_radius(
        radius_m,
        near,
        wider(FIRST_STEPS_PER_DOUBLING).take_while(|r| *r < radius_m),
    );
    #[allow(clippy::cast_precision_loss)] // counts are far below 2^52
    let (candidates, found_items) = (found.candidates as f64, found.items as f64);
    #[allow(clippy::cast_precision_loss)]
    let needed = wanted.saturating_mul(NEARBY_CANDIDATES_PER_STORE).max(1) as f64;
    let enough = if candidates < needed {
        // Where the map expected more than the read held (a market's rim,
        // which its cells spread the market over), the rate per item
        // expected alone would read on through the market, and the rate
        // per item held alone would step out a little at a time, a round
        // trip each (docs/performance.md).
        let expected_here = items(read_m);
        let per_item_held = (candidates + 1.0) / (found_items + 1.0);
        let per_item_expected = (candidates + 1.0) / (expected_here.max(found_items) + 1.0);
        let per_map_item = (per_item_held * per_item_expected).sqrt();
        let expected_at = |r: f64| candidates + (items(r) - expected_here).max(0.0) * per_map_item;
        let aim = needed * NEXT_READ_MARGIN;
        wider(NEXT_STEPS_PER_DOUBLING)
            .find(|r| expected_at(*r) >= aim)
            .unwrap_or(radius_m)
    } else {
        let share = (candidates + 1.0) / (found_items + 1.0);
        wider(1).find(|r| items(*r) * share >= needed).unwrap_or(radius_m)
    };
    cheap.map_or(enough, |cheap| cheap.max(enough))
}

/// The first radius a match reads where the place is not known.
#[must_use]
pub fn cold_first_radius(radius_m: f64) -> f64 {
    radius_m * COLD_FIRST_SHARE
}

/// How far from the customer the gaps of a plan for `radius_m` can run
/// (a range merged through a gap reads keys of cells outside the disk, and
/// H3's key order keeps them near it).
fn gaps_reach_m(radius_m: f64) -> f64 {
    radius_m * 1.3 + 100.0
}

/// How many times denser than a read's disk on the whole a counted cell
/// within its gaps' reach must be before the read is planned by the crowd
/// map rather than by area: a city's cells scatter well within this, a
/// market's core beside a read lies far beyond it.
const CROWD_CONTRAST: f64 = 4.0;

/// The radius in metres of a disk of `area_km2`.
fn disk_radius_m(area_km2: f64) -> f64 {
    (area_km2 / std::f64::consts::PI).sqrt() * 1000.0
}

/// The area of a disk of `radius_m`, in km2.
fn disk_km2(radius_m: f64) -> f64 {
    std::f64::consts::PI * (radius_m / 1000.0).powi(2)
}

/// The share of a disk of radius `small_m` whose centre lies `apart_m` from
/// the centre of a disk of radius `large_m` that is inside that disk (the
/// circles' lens over the first disk's area).
fn disk_share_inside(apart_m: f64, small_m: f64, large_m: f64) -> f64 {
    use std::f64::consts::PI;
    if small_m <= 0.0 {
        return if apart_m <= large_m { 1.0 } else { 0.0 };
    }
    if apart_m >= small_m + large_m {
        return 0.0;
    }
    if apart_m <= (large_m - small_m).abs() {
        // One inside the other: all of the small one, or the large one's
        // share of it.
        return if small_m <= large_m {
            1.0
        } else {
            (large_m / small_m).powi(2)
        };
    }
    let (d, r, a) = (apart_m, large_m, small_m);
    let clamp = |x: f64| x.clamp(-1.0, 1.0);
    let lens = r * r * clamp((d * d + r * r - a * a) / (2.0 * d * r)).acos()
        + a * a * clamp((d * d + a * a - r * r) / (2.0 * d * a)).acos()
        - 0.5 * ((-d + r + a) * (d + r - a) * (d - r + a) * (d + r + a)).max(0.0).sqrt();
    (lens / (PI * a * a)).clamp(0.0, 1.0)
}

/// How many geo entries lie in each crowd cell
/// ([`CROWD_RESOLUTION`](super::geo::CROWD_RESOLUTION)) of the partitions read, as storage keeps them with
/// the entries ([`crate::ports::StoreRepo::crowd_map`]). A hint for sizing
/// a match's reads (remembered by each process, [`CrowdMemory`]); it never
/// decides which stores are offered.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CrowdMap {
    /// The cells counted, with their centres worked out once when read: a
    /// match only measures distances. Sorted by their centres' latitude, so
    /// a match looks only at the band of latitudes its disk spans. The maps
    /// of a demand's categories are added up by merging their cells into
    /// one list, so a cell may appear once per map; every question asked of
    /// them adds up.
    cells: Vec<CountedCell>,
    /// The widest counted cell's radius ([`CountedCell::radius_m`]).
    reach_m: f64,
    /// Whether storage had counts for any partition read: a deployment
    /// whose table predates them has none (`ops reindex-geo` builds them).
    known: bool,
    /// The fine crowd items ([`FINE_CROWD_ITEM_RESOLUTION`]) read into the
    /// map, whether storage held them or not, sorted: under each one that
    /// holds counts, its fine cells ([`FINE_CROWD_RESOLUTION`]) stand in
    /// for the crowd cells.
    fine_items: Vec<CellIndex>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
struct CountedCell {
    cell: CellIndex,
    centre: GeoPoint,
    count: u64,
    /// The radius of a disk of the cell's area (neighbouring cells' areas
    /// differ by a fraction of a per cent: one per resolution serves all).
    radius_m: f64,
}

impl CountedCell {
    /// South to north, then by cell and count, so the same counts give the
    /// same map in whatever order they were read or merged.
    fn by_latitude(a: &CountedCell, b: &CountedCell) -> std::cmp::Ordering {
        a.centre
            .lat()
            .total_cmp(&b.centre.lat())
            .then(a.cell.cmp(&b.cell))
            .then(a.count.cmp(&b.count))
    }
}

/// The fine crowd item a cell at least as fine as it lies in.
fn fine_item_of(cell: CellIndex) -> Option<CellIndex> {
    cell.parent(FINE_CROWD_ITEM_RESOLUTION)
}

/// The geo items a [`CrowdMap`] expects in any cell near a point
/// ([`CrowdMap::cell_items`]): counted cells, and their sums in each
/// coarser cell.
struct CellItems {
    counted: HashMap<CellIndex, f64>,
    sums: HashMap<CellIndex, f64>,
}

impl CellItems {
    /// The counts of the counted cells inside `cell`, and of a counted cell
    /// it lies inside, by its share of that cell's area.
    fn items_in(&self, cell: CellIndex) -> f64 {
        let resolution = cell.resolution();
        let mut total = if resolution <= FINE_CROWD_RESOLUTION {
            self.sums.get(&cell).copied().unwrap_or(0.0)
        } else {
            0.0
        };
        for counted in [CROWD_RESOLUTION, FINE_CROWD_RESOLUTION] {
            if counted < resolution
                && let Some(parent) = cell.parent(counted)
                && let Some(count) = self.counted.get(&parent)
            {
                total += count * cell.area_km2() / parent.area_km2();
            }
        }
        total
    }
}

/// The search plan for a read of `radius_m` around `at` that reads through
/// the gaps `crowd` expects to hold the fewest items, each gap weighed by
/// the counts in it plus its area at the disk's mean density (a gap of
/// nothing counted still costs its area): beside a market, the plan by
/// area alone read through the market's core in a gap and read up to 364
/// items for a disk holding 31 (docs/performance.md).
#[must_use]
pub fn search_plan_by_crowd(at: GeoPoint, radius_m: f64, max_ranges: usize, crowd: &CrowdMap) -> Vec<CellRange> {
    let cells = crowd.cell_items(at, gaps_reach_m(radius_m));
    let items_in = |cell: CellIndex| cells.items_in(cell);
    let per_key = crowd.items_per_km2(at, radius_m).unwrap_or(0.0) * h3o::Resolution::Fifteen.area_km2();
    search_plan_weighed(at, radius_m, max_ranges, Some((&items_in, per_key)))
}

impl CrowdMap {
    /// The cells whose centres lie in the band of latitudes within
    /// `reach_m` of `at` (with a per cent to spare): a partition holds
    /// hundreds of cells, most outside it, which the sorted cells skip
    /// whole.
    fn band(&self, at: GeoPoint, reach_m: f64) -> &[CountedCell] {
        let (lat_reach, _) = at.degrees_within(reach_m * 1.01);
        let (south, north) = (at.lat() - lat_reach, at.lat() + lat_reach);
        let from = self.cells.partition_point(|c| c.centre.lat() < south);
        let to = from + self.cells[from..].partition_point(|c| c.centre.lat() <= north);
        &self.cells[from..to]
    }

    /// The counted cells within `reach_m` of `at`, and their sums in each
    /// coarser cell down to a partition.
    fn cell_items(&self, at: GeoPoint, reach_m: f64) -> CellItems {
        let plane = at.local_plane();
        let mut counted: HashMap<CellIndex, f64> = HashMap::new();
        let mut sums: HashMap<CellIndex, f64> = HashMap::new();
        for c in self
            .band(at, reach_m + self.reach_m)
            .iter()
            .filter(|c| plane.distance_m(c.centre) <= reach_m + c.radius_m)
        {
            #[allow(clippy::cast_precision_loss)] // counts are far below 2^52
            let count = c.count as f64;
            *counted.entry(c.cell).or_default() += count;
            for resolution in h3o::Resolution::range(PARTITION_RESOLUTION, c.cell.resolution()) {
                if let Some(parent) = c.cell.parent(resolution) {
                    *sums.entry(parent).or_default() += count;
                }
            }
        }
        CellItems { counted, sums }
    }

    /// Counts of one category as storage holds them (negative ones, a count
    /// that was decremented before it was first built, read as none): per
    /// crowd cell ([`CROWD_RESOLUTION`]) of the partitions read, and per fine
    /// cell ([`FINE_CROWD_RESOLUTION`]) of `fine_items`, the fine crowd items
    /// asked for. Under a fine item that holds counts, its fine cells stand
    /// in for the crowd cells (both count the same entries, finer); under
    /// one storage does not hold (a table from before fine counts, until
    /// `ops reindex-geo`), the crowd cells stay.
    #[must_use]
    pub fn from_counts(counts: impl IntoIterator<Item = (CellIndex, i64)>, fine_items: &[CellIndex]) -> Self {
        let mut summed: HashMap<CellIndex, u64> = HashMap::new();
        for (cell, count) in counts {
            *summed.entry(cell).or_default() += u64::try_from(count).unwrap_or(0);
        }
        summed.retain(|_, count| *count > 0);
        let mut map = CrowdMap {
            cells: Vec::new(),
            reach_m: 0.0,
            known: true,
            fine_items: Vec::new(),
        };
        map.refine(summed.into_iter().collect(), fine_items);
        map
    }

    /// Adds `counts` (cell, count: crowd cells, or fine cells of
    /// `fine_items`) to the map's, the fine cells standing in for the crowd
    /// cells under each fine item that holds counts (of one category).
    fn refine(&mut self, counts: Vec<(CellIndex, u64)>, fine_items: &[CellIndex]) {
        let refined: std::collections::HashSet<CellIndex> = counts
            .iter()
            .filter(|(cell, _)| cell.resolution() == FINE_CROWD_RESOLUTION)
            .filter_map(|(cell, _)| fine_item_of(*cell))
            .filter(|item| self.fine_items.binary_search(item).is_err())
            .collect();
        // The widest of each resolution's radii is its lowest cell's, so the
        // same counts always give the same map.
        let mut radii: HashMap<h3o::Resolution, f64> = HashMap::new();
        // A crowd cell under a fine item refined now gives way to its fine
        // cells; every other cell stays.
        let stays = |cell: &CellIndex| {
            cell.resolution() != CROWD_RESOLUTION || fine_item_of(*cell).is_none_or(|item| !refined.contains(&item))
        };
        let mut cells: Vec<(CellIndex, u64)> = self
            .cells
            .iter()
            .map(|c| (c.cell, c.count))
            .chain(counts)
            .filter(|(cell, _)| stays(cell))
            .collect();
        cells.sort_unstable();
        for (cell, _) in &cells {
            radii
                .entry(cell.resolution())
                .or_insert_with(|| disk_radius_m(cell.area_km2()));
        }
        self.cells = cells
            .into_iter()
            .map(|(cell, count)| CountedCell {
                cell,
                centre: GeoPoint::from_cell_centre(cell),
                count,
                radius_m: radii.get(&cell.resolution()).copied().unwrap_or(0.0),
            })
            .collect();
        self.cells.sort_by(CountedCell::by_latitude);
        self.reach_m = self.cells.iter().map(|c| c.radius_m).fold(0.0, f64::max);
        self.fine_items.extend_from_slice(fine_items);
        self.fine_items.sort_unstable();
        self.fine_items.dedup();
    }

    /// Both maps' counts added up (the categories of one demand: each
    /// refined on its own).
    pub fn merge(&mut self, other: &CrowdMap) {
        self.known |= other.known;
        self.reach_m = self.reach_m.max(other.reach_m);
        self.cells.extend_from_slice(&other.cells);
        self.cells.sort_by(CountedCell::by_latitude);
        self.fine_items.extend_from_slice(&other.fine_items);
        self.fine_items.sort_unstable();
        self.fine_items.dedup();
    }

    /// The fine crowd items read into the map (held by storage or not).
    #[must_use]
    pub fn fine_items(&self) -> &[CellIndex] {
        &self.fine_items
    }

    /// Whether storage had counts for this place at all.
    #[must_use]
    pub fn is_known(&self) -> bool {
        self.known
    }

    /// The entries counted in `cell` (a crowd cell, or a fine cell of a
    /// fine item read).
    #[must_use]
    pub fn count(&self, cell: CellIndex) -> u64 {
        self.cells.iter().filter(|c| c.cell == cell).map(|c| c.count).sum()
    }

    /// The counts of the cells in `partition` (whether counts are kept
    /// goes with them).
    #[must_use]
    pub fn of_partition(&self, partition: CellIndex) -> CrowdMap {
        CrowdMap {
            cells: self
                .cells
                .iter()
                .filter(|c| c.cell.parent(PARTITION_RESOLUTION) == Some(partition))
                .copied()
                .collect(),
            reach_m: self.reach_m,
            known: self.known,
            fine_items: self
                .fine_items
                .iter()
                .filter(|item| item.parent(PARTITION_RESOLUTION) == Some(partition))
                .copied()
                .collect(),
        }
    }

    /// Geo items expected within `radius_m` of `at`: each crowd
    /// cell's count times the share of the cell inside the disk (taken as
    /// spread evenly over the cell). `None` without counts.
    #[must_use]
    pub fn items_within(&self, at: GeoPoint, radius_m: f64) -> Option<f64> {
        self.near(at, radius_m).map(|near| near.items_within(radius_m))
    }

    /// The counted cells that a disk of up to `radius_m` around `at` can
    /// reach, with their distances from it, worked out once: a match asks
    /// how many items lie within several radii while it sizes its reads.
    /// `None` without counts.
    #[must_use]
    pub fn near(&self, at: GeoPoint, radius_m: f64) -> Option<CrowdNear> {
        Self::near_of(&[self], at, radius_m)
    }

    /// [`Self::near`] of `maps` added up ([`Self::merge`]).
    fn near_of(maps: &[&CrowdMap], at: GeoPoint, radius_m: f64) -> Option<CrowdNear> {
        if !maps.iter().any(|m| m.known) {
            return None;
        }
        let reach = radius_m.max(0.0) + maps.iter().map(|m| m.reach_m).fold(0.0, f64::max);
        // An estimate: the plane's distances are as good as the map's
        // evenly spread counts.
        let plane = at.local_plane();
        let cells = maps
            .iter()
            .flat_map(|m| m.band(at, reach))
            .filter_map(|c| {
                let apart_m = plane.distance_m(c.centre);
                #[allow(clippy::cast_precision_loss)] // counts are far below 2^52
                (apart_m < reach).then_some(NearCell {
                    cell: c.cell,
                    apart_m,
                    count: c.count as f64,
                    radius_m: c.radius_m,
                })
            })
            .collect();
        Some(CrowdNear {
            cells,
            seen_m: Vec::new(),
            seen_reach_m: 0.0,
        })
    }

    /// Geo items per km2 within `radius_m` of `at` ([`Self::items_within`]
    /// over the disk's area).
    #[must_use]
    pub fn items_per_km2(&self, at: GeoPoint, radius_m: f64) -> Option<f64> {
        let area = disk_km2(radius_m);
        self.items_within(at, radius_m)
            .map(|items| if area > 0.0 { items / area } else { 0.0 })
    }
}

/// The counted cells around one point ([`CrowdMap::near`]): each cell
/// taken as the disk of its area around its centre, so its share inside a
/// disk around the point is the lens where the two overlap, in closed form.
#[derive(Debug, Clone)]
pub struct CrowdNear {
    /// One entry per map that counts a cell: a demand of several
    /// categories holds a cell once per category.
    cells: Vec<NearCell>,
    /// Distances from the point of the stores this process saw near it
    /// ([`CrowdMemory::remember_seen`]), ascending, out to `seen_reach_m`.
    seen_m: Vec<f64>,
    seen_reach_m: f64,
}

/// A counted cell as seen from one point ([`CrowdNear`]).
#[derive(Debug, Clone, Copy)]
struct NearCell {
    cell: CellIndex,
    /// Distance from the point in metres.
    apart_m: f64,
    count: f64,
    /// [`CountedCell::radius_m`] (each map works it out from its own
    /// cells, so one cell's differs by a fraction of a per cent between
    /// categories).
    radius_m: f64,
}

impl CrowdNear {
    /// Whether a match's read of `radius_m` is planned by the crowd map
    /// ([`search_plan_by_crowd`]) rather than by area: every read after
    /// the first (the map is at hand by then), and a first read only where
    /// a crowd lies beside it (`crowded_beside`), so that elsewhere
    /// a match pays no map lookup.
    #[must_use]
    pub fn plans_by_map(&self, first_read: bool, radius_m: f64) -> bool {
        !first_read || self.crowded_beside(radius_m)
    }

    /// Whether a read of `radius_m` should be planned by the crowd map
    /// ([`search_plan_by_crowd`]): a counted cell within its gaps' reach is
    /// more than [`CROWD_CONTRAST`] times as dense as the disk (where the
    /// map expects none within the disk, any counted cell). Elsewhere a
    /// plan by area reads as little, and the match pays no map lookup.
    /// Only the cells this was worked out with are weighed: out to the
    /// match's whole radius and a cell beyond it ([`CrowdMap::near`]).
    #[must_use]
    fn crowded_beside(&self, radius_m: f64) -> bool {
        let reach_m = gaps_reach_m(radius_m);
        let mean_per_km2 = self.items_within(radius_m) / disk_km2(radius_m).max(f64::MIN_POSITIVE);
        // A demand of several categories holds each cell once per
        // category: its counts are added up first, as the mean adds up
        // theirs.
        let mut within: Vec<NearCell> = self
            .cells
            .iter()
            .filter(|c| c.apart_m <= reach_m + c.radius_m)
            .copied()
            .collect();
        within.sort_unstable_by_key(|c| c.cell);
        within.chunk_by(|a, b| a.cell == b.cell).any(|same| {
            same.iter().map(|c| c.count).sum::<f64>() > CROWD_CONTRAST * mean_per_km2 * disk_km2(same[0].radius_m)
        })
    }

    /// Geo items expected within `radius_m` of the point: as the map
    /// spreads its counts, or, where this process saw more stores there
    /// than that, as many as it saw.
    #[must_use]
    pub fn items_within(&self, radius_m: f64) -> f64 {
        let radius_m = radius_m.max(0.0);
        let spread: f64 = self
            .cells
            .iter()
            .map(|c| c.count * disk_share_inside(c.apart_m, c.radius_m, radius_m))
            .sum();
        if radius_m > self.seen_reach_m {
            return spread;
        }
        #[allow(clippy::cast_precision_loss)] // counts are far below 2^52
        let seen = self.seen_m.partition_point(|m| *m <= radius_m) as f64;
        spread.max(seen)
    }
}

/// How long a crowd map read stays a guide for the matches after it.
pub const CROWD_MEMORY_MS: Millis = 10 * 60 * 1000;

/// Partitions (per category) remembered before the oldest are forgotten:
/// a city of 300 km2 is about 10 resolution-6 partitions, each map at most
/// 343 counts of 48 B, and where fine counts were read (a crowded place),
/// up to 49 more per fine item in place of 7 of those: a few megabytes at
/// most per category.
const CROWD_MEMORY_PARTITIONS: usize = 10_000;

/// The crowd maps this process has read, per category and partition
/// ([`PARTITION_RESOLUTION`]), for [`CROWD_MEMORY_MS`]. A match where every
/// partition its whole radius touches is remembered sizes its first read
/// at the customer's own point from them ([`first_radius`]) with no read
/// of the map; it only changes how far reads go, never which rule chooses.
/// Held by each running process: a Lambda learns a place on its first
/// match there.
///
/// Where a read the map expected to hold at most what keeps a read near
/// [`FIRST_READ_ITEMS`] ([`FIRST_READ_WITHIN`]) held more, the map spread its cells' counts too
/// thinly there (a market's hub): the stores it read are remembered too,
/// per crowd cell, each cell for [`CROWD_MEMORY_MS`] from when it was
/// first seen, and size the first reads near them by what was truly there
/// ([`CrowdMemory::recall_near`]).
#[derive(Debug, Default)]
pub struct CrowdMemory {
    partitions: HashMap<(String, CellIndex), (Millis, CrowdMap)>,
    seen: HashMap<String, HashMap<CellIndex, SeenCell>>,
    seen_cells: usize,
}

/// The stores of one category a process saw in one crowd cell, and when
/// it first saw the cell.
#[derive(Debug)]
struct SeenCell {
    since: Millis,
    stores: HashMap<StoreId, GeoPoint>,
}

/// How many times what the map expected a read must hold before it is
/// remembered as crowded ([`CrowdMemory::remember_seen`]).
const CROWDED_BEYOND_EXPECTED: f64 = 1.5;

/// Crowd cells whose seen stores a process keeps (per process, all
/// categories): about a hundred markets' worth of hubs.
const SEEN_CELLS: usize = 5_000;

/// The share of the whole radius out to which seen stores size a first
/// read: [`first_radius`] weighs them only where it narrows the read.
const SEEN_REACH_SHARE: f64 = 1.0 / 4.0;

impl CrowdMemory {
    /// The crowd map of `categories` over `partitions`, if every one of them
    /// was read within [`CROWD_MEMORY_MS`].
    #[must_use]
    pub fn recall(&self, categories: &[String], partitions: &[CellIndex], now: Millis) -> Option<CrowdMap> {
        let mut crowd = CrowdMap::default();
        for map in self.recalled(categories, partitions, now)? {
            crowd.merge(map);
        }
        Some(crowd)
    }

    /// [`Self::recall`]'s maps as remembered, one per category and
    /// partition.
    fn recalled(&self, categories: &[String], partitions: &[CellIndex], now: Millis) -> Option<Vec<&CrowdMap>> {
        let mut maps = Vec::with_capacity(categories.len() * partitions.len());
        for category in categories {
            for partition in partitions {
                let (seen, map) = self.partitions.get(&(category.clone(), *partition))?;
                if now - seen >= CROWD_MEMORY_MS {
                    return None;
                }
                maps.push(map);
            }
        }
        Some(maps)
    }

    /// [`Self::recall`] worked out around `at` out to `radius_m`
    /// ([`CrowdMap::near`]), with the stores seen near `at`: `None` where
    /// the place is not remembered, `Some(None)` where storage keeps no
    /// counts.
    #[must_use]
    pub fn recall_near(
        &self,
        categories: &[String],
        partitions: &[CellIndex],
        now: Millis,
        at: GeoPoint,
        radius_m: f64,
    ) -> Option<Option<CrowdNear>> {
        // Worked out from the maps where they are kept: a match's maps hold
        // hundreds of cells, of which it weighs a few dozen.
        let mut near = CrowdMap::near_of(&self.recalled(categories, partitions, now)?, at, radius_m);
        if let Some(near) = near.as_mut() {
            let reach_m = radius_m * SEEN_REACH_SHARE;
            let mut seen_m = Vec::new();
            let seen: Vec<_> = categories.iter().filter_map(|c| self.seen.get(c)).collect();
            let cells = if seen.is_empty() {
                Vec::new()
            } else {
                cells_covering(at, reach_m, CROWD_RESOLUTION)
            };
            for by_cell in seen {
                for &cell in &cells {
                    let Some(seen) = by_cell.get(&cell).filter(|s| now - s.since < CROWD_MEMORY_MS) else {
                        continue;
                    };
                    seen_m.extend(
                        seen.stores
                            .values()
                            .map(|p| at.distance_m(*p))
                            .filter(|m| *m <= reach_m),
                    );
                }
            }
            seen_m.sort_by(f64::total_cmp);
            near.seen_m = seen_m;
            near.seen_reach_m = reach_m;
        }
        Some(near)
    }

    /// Remembers the stores a read held (`read`, of `read_m`) where the map
    /// expected it to hold at most what keeps a read near
    /// [`FIRST_READ_ITEMS`] (`expected`, [`FIRST_READ_WITHIN`]) and it held more than that and half as much
    /// again as expected: the map spread its counts too thinly there. A
    /// wider read, or a read that held about what it expected (counts a
    /// little above the map's at random), is not remembered.
    pub fn remember_seen(&mut self, read: &StoresRead, read_m: f64, expected: f64, now: Millis) {
        if expected > FIRST_READ_WITHIN {
            return;
        }
        #[allow(clippy::cast_precision_loss)] // counts are far below 2^52
        if (read.within(read_m) as f64) <= FIRST_READ_WITHIN.max(expected * CROWDED_BEYOND_EXPECTED) {
            return;
        }
        if self.seen_cells >= SEEN_CELLS {
            for by_cell in self.seen.values_mut() {
                by_cell.retain(|_, seen| now - seen.since < CROWD_MEMORY_MS);
            }
            self.seen_cells = self.seen.values().map(HashMap::len).sum();
            if self.seen_cells >= SEEN_CELLS {
                self.seen.clear();
                self.seen_cells = 0;
            }
        }
        for (store, _) in read.stores_within(read_m) {
            let by_cell = self.seen.entry(store.category.clone()).or_default();
            let cell = store_crowd_cell(store.location);
            let seen = by_cell.entry(cell).or_insert_with(|| SeenCell {
                since: now,
                stores: HashMap::new(),
            });
            if seen.stores.is_empty() {
                self.seen_cells += 1;
            }
            if now - seen.since >= CROWD_MEMORY_MS {
                // Seen too long ago: what this read holds replaces it.
                seen.since = now;
                seen.stores.clear();
            }
            seen.stores.insert(store.id.clone(), store.location);
        }
    }

    /// Remembers `crowd`, the map of `category` storage returned for
    /// `partitions`.
    pub fn remember(&mut self, category: &str, partitions: &[CellIndex], crowd: &CrowdMap, now: Millis) {
        if self.partitions.len() + partitions.len() > CROWD_MEMORY_PARTITIONS {
            self.partitions.retain(|_, (seen, _)| now - *seen < CROWD_MEMORY_MS);
            if self.partitions.len() + partitions.len() > CROWD_MEMORY_PARTITIONS {
                self.partitions.clear();
            }
        }
        for partition in partitions {
            self.partitions.insert(
                (category.to_string(), *partition),
                (now, crowd.of_partition(*partition)),
            );
        }
    }

    /// Adds the fine counts of `crowd` (the map of `category` storage
    /// returned for fine items alone) to the remembered maps of their
    /// partitions, for as long as those are remembered.
    pub fn remember_fine(&mut self, category: &str, crowd: &CrowdMap) {
        for item in &crowd.fine_items {
            let Some(partition) = item.parent(PARTITION_RESOLUTION) else {
                continue;
            };
            let Some((_, remembered)) = self.partitions.get_mut(&(category.to_string(), partition)) else {
                continue;
            };
            if remembered.fine_items.binary_search(item).is_ok() {
                continue;
            }
            let fine = crowd
                .cells
                .iter()
                .filter(|c| c.cell.resolution() == FINE_CROWD_RESOLUTION && fine_item_of(c.cell) == Some(*item))
                .map(|c| (c.cell, c.count))
                .collect();
            remembered.refine(fine, std::slice::from_ref(item));
        }
    }

    /// Of `fine_items`, those that a remembered map of one of `categories`
    /// has not read yet (a fine item whose partition's map is not
    /// remembered would refine nothing: [`Self::remember_fine`]).
    #[must_use]
    pub fn fine_items_missing(&self, categories: &[String], fine_items: &[CellIndex], now: Millis) -> Vec<CellIndex> {
        fine_items
            .iter()
            .filter(|item| {
                categories.iter().any(|category| {
                    item.parent(PARTITION_RESOLUTION)
                        .and_then(|partition| self.partitions.get(&(category.clone(), partition)))
                        .filter(|(seen, _)| now - seen < CROWD_MEMORY_MS)
                        .is_some_and(|(_, map)| map.fine_items.binary_search(item).is_err())
                })
            })
            .copied()
            .collect()
    }
}

/// Sparse supply: the radius the next round searches. When the round that
/// ends offered fewer stores than `wanted`, the next wider of `steps` (in
/// ascending order) beyond the radius it searched (`current`, `None`: the
/// configured `base`); else that same radius. With no steps (the default)
/// it is always `base`. A first round that finds nobody at all widens at
/// once, step by step, until one finds a store (the use case asks again).
#[must_use]
pub fn search_radius_after(
    base: f64,
    steps: &[u32],
    current: Option<u32>,
    offered: usize,
    wanted: usize,
) -> Option<u32> {
    if offered >= wanted {
        return current;
    }
    let searched = current.map_or(base, f64::from);
    steps
        .iter()
        .copied()
        .find(|&step| f64::from(step) > searched)
        .or(current)
}

/// Candidates per wanted store that make a near read enough: some of them
/// may be offline, so a few more than the stores of one round.
pub const NEARBY_CANDIDATES_PER_STORE: usize = 3;

/// Whether `found` candidates (ranked within a near radius) are enough to
/// choose `wanted` stores from without reading farther. A store farther out
/// can then not be offered even if it covers more lines or rates higher:
/// near enough, with enough choice, comes first (docs/performance.md).
#[must_use]
pub fn enough_nearby(found: usize, wanted: usize) -> bool {
    found >= wanted.saturating_mul(NEARBY_CANDIDATES_PER_STORE).max(1)
}

/// Most lines covered, then better rated, then faster to accept, then
/// nearest, then id.
fn compare(a: &Candidate, b: &Candidate) -> Ordering {
    b.covered
        .cmp(&a.covered)
        .then(
            b.store
                .stats
                .rating_half_stars()
                .cmp(&a.store.stats.rating_half_stars()),
        )
        .then(
            a.store
                .stats
                .accept_speed_step()
                .cmp(&b.store.stats.accept_speed_step()),
        )
        .then(a.distance_m.total_cmp(&b.distance_m))
        .then_with(|| a.store.id.cmp(&b.store.id))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::demand::parse_demand_text;
    use crate::domain::geo::{CROWD_RESOLUTION, search_plan, store_fine_crowd_cell, store_partition};
    use crate::domain::order::delivery::default_delivery_options;

    fn store(id: &str, at: GeoPoint, category: &str, tags: &[&str], open: bool) -> Store {
        Store {
            id: StoreId::new(id).expect("valid"),
            name: format!("Store {id}"),
            location: at,
            category: category.into(),
            tags: tags.iter().map(|t| (*t).to_string()).collect(),
            open,
            delivery_options: default_delivery_options(),
            language: crate::domain::demand::Language::En,
            stats: Default::default(),
            status: crate::domain::store::StoreStatus::Active,
            suspended_reason: None,
            updated_at_ms: 0,
        }
    }

    /// Counts of `per_km2` in every crowd cell within about 4 km of `at`,
    /// and `market_per_km2` more in the cells whose centres lie within
    /// `market_m` of `at` (0: `at`'s own cell).
    fn crowd_around(at: GeoPoint, per_km2: f64, market_per_km2: f64, market_m: f64) -> CrowdMap {
        let own = at.cell(CROWD_RESOLUTION);
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)] // small and positive
        let rings = (4_000.0 / (CROWD_RESOLUTION.edge_length_m() * 1.5)).ceil() as u32;
        #[allow(clippy::cast_possible_truncation)]
        CrowdMap::from_counts(
            own.grid_disk::<Vec<_>>(rings).into_iter().map(|cell| {
                let in_market = cell == own || at.distance_m(GeoPoint::from_cell_centre(cell)) <= market_m;
                let density = per_km2 + if in_market { market_per_km2 } else { 0.0 };
                (cell, (density * cell.area_km2()).round() as i64)
            }),
            &[],
        )
    }

    #[test]
    fn the_first_read_is_as_wide_as_the_crowd_map_expects_about_a_hundred_items_at_this_point() {
        let r = 2_000.0;
        let somewhere = GeoPoint::new(23.7925, 90.4078).expect("valid");
        let here = GeoPoint::from_cell_centre(somewhere.cell(CROWD_RESOLUTION));
        let at = |density: f64, market: f64| {
            first_radius(r, crowd_around(here, density, market, 0.0).near(here, r).as_ref())
        };
        assert_eq!(
            first_radius(r, CrowdMap::default().near(here, r).as_ref()),
            500.0,
            "no counts: a quarter"
        );
        // The steps down from a quarter: 500 m times 2^(-k/4).
        let step = |k: i32| 500.0 * 2f64.powf(-f64::from(k) / 4.0);
        let assert_near = |got: f64, want: f64, what: &str| assert!((got - want).abs() < 1e-6, "{what}: {got} {want}");
        assert_near(
            at(70.0, 0.0),
            step(1),
            "city density: about 420 m, 39 within, about 60 read",
        );
        assert_near(at(105.0, 0.0), step(2), "a denser city: about 350 m, 41 within");
        assert_eq!(at(4.0, 0.0), 2_000.0, "a sparse town: one read");
        assert_near(
            at(0.0, 1_500.0),
            step(10),
            "inside a market of 1,500 per km2: about 88 m",
        );
        assert_near(
            at(0.0, 5_000.0),
            step(15),
            "a bazaar of 5,000 per km2: about 37 m, 22 within, narrower than a fine cell (at 45 within, 53 m)",
        );
        assert_eq!(at(0.0, 54_000.0), 15.625, "a market of 54,000 per km2");
        assert_eq!(at(0.0, 10_000_000.0), 15.625, "never narrower than a 128th");
        for density in [0.0, 4.0, 30.0, 105.0, 400.0, 1_900.0, 5_000.0, 30_000.0, 1_000_000.0] {
            let crowd = crowd_around(here, density, 0.0, 0.0);
            let first = first_radius(r, crowd.near(here, r).as_ref());
            let items = crowd.items_within(here, first).expect("known");
            assert!(
                items <= step_aim(first) || (first == r && items <= FIRST_READ_WITHIN) || first == r / 128.0,
                "{density}/km2 reads {items} first"
            );
            let wider = first * 2f64.powf(0.25);
            assert!(
                first == r
                    || first == r / 4.0
                    || first == r / 128.0
                    || crowd.items_within(here, wider).expect("known") > step_aim(wider),
                "{density}/km2: {first} is the widest step that holds at most the aim"
            );
        }
        // At a market's rim (the next cell), the same memory of the place
        // reads wider than at its centre: sized at the customer's point.
        let market = crowd_around(here, 105.0, 1_500.0, 0.0);
        let next_door = GeoPoint::from_cell_centre(here.cell(CROWD_RESOLUTION).grid_disk::<Vec<_>>(1)[1]);
        assert!(first_radius(r, market.near(next_door, r).as_ref()) > first_radius(r, market.near(here, r).as_ref()));
    }

    #[test]
    fn the_crowd_map_expects_each_cells_count_by_its_share_of_the_disk() {
        let somewhere = GeoPoint::new(23.7925, 90.4078).expect("valid");
        let own = somewhere.cell(CROWD_RESOLUTION);
        let centre = GeoPoint::from_cell_centre(own);
        assert_eq!(
            CrowdMap::default().items_within(centre, 2_000.0),
            None,
            "no counts: unknown"
        );
        let empty = CrowdMap::from_counts([], &[]);
        assert_eq!(empty.items_within(centre, 2_000.0), Some(0.0), "counts kept, none here");

        // Cells taken as disks of their area: within a tenth.
        let city = crowd_around(centre, 105.0, 0.0, 0.0);
        for (at, radius) in [(centre, 50.0), (centre, 500.0), (centre, 2_000.0), (somewhere, 2_000.0)] {
            let density = city.items_per_km2(at, radius).expect("known");
            assert!((density - 105.0).abs() < 10.5, "{radius} m: {density}");
        }

        // 1,500 more in one cell: a disk inside it takes its density; a
        // disk over several cells takes the cell by the share inside.
        let mut market = city.clone();
        market.merge(&CrowdMap::from_counts([(own, 1_500)], &[]));
        let inside = market.items_per_km2(centre, 100.0).expect("known");
        // (The map takes one cell's area for all: within a per cent.)
        let expected = 105.0 + 1_500.0 / own.area_km2();
        assert!((inside - expected).abs() < 0.01 * expected, "{inside} vs {expected}");
        let items = market.items_within(centre, 2_000.0).expect("known");
        let expected = 105.0 * disk_km2(2_000.0) + 1_500.0;
        assert!((items - expected).abs() < 0.05 * expected, "{items} vs {expected}");
        // From a neighbouring cell's centre, a disk to the market cell's
        // centre reaches part of it: more than the city alone, less than
        // the market.
        let next_door = GeoPoint::from_cell_centre(own.grid_disk::<Vec<_>>(1)[1]);
        let reach = next_door.distance_m(centre);
        let edge = market.items_within(next_door, reach).expect("known");
        let city_only = city.items_within(next_door, reach).expect("known");
        assert!(
            edge > city_only + 150.0 && edge < city_only + 1_350.0,
            "{edge} vs {city_only}"
        );

        // Counts below zero (decremented before they were built) are none;
        // categories add up.
        let mut both = CrowdMap::from_counts([(own, -3)], &[]);
        assert_eq!(both.count(own), 0);
        both.merge(&CrowdMap::from_counts([(own, 7)], &[]));
        both.merge(&CrowdMap::default());
        assert_eq!(both.count(own), 7);
        assert!(both.is_known());
    }

    /// A market's hub at the centre of a fine cell, 300 shops in it: its
    /// crowd cell, fine item and fine cell, and its partition.
    fn hub_cells() -> (GeoPoint, CellIndex, CellIndex, CellIndex, CellIndex) {
        let somewhere = GeoPoint::new(23.7925, 90.4078).expect("valid");
        let hub = GeoPoint::from_cell_centre(somewhere.cell(FINE_CROWD_RESOLUTION));
        let (item, fine) = store_fine_crowd_cell(hub);
        (hub, store_crowd_cell(hub), item, fine, store_partition(hub))
    }

    #[test]
    fn a_read_is_planned_by_the_crowd_map_only_where_a_crowd_lies_beside_it() {
        let here = GeoPoint::new(23.7925, 90.4078).expect("valid");
        // A city of 70 shops per km2, its cells' counts scattered from half
        // to half again as many: planned by area at every radius.
        let own = here.cell(CROWD_RESOLUTION);
        #[allow(clippy::cast_possible_truncation, clippy::cast_precision_loss)]
        let city = CrowdMap::from_counts(
            own.grid_disk::<Vec<_>>(20).into_iter().map(|cell| {
                let scatter = 0.5 + (u64::from(cell) % 11) as f64 / 10.0;
                (cell, (70.0 * scatter * cell.area_km2()).round() as i64)
            }),
            &[],
        );
        let near = city.near(here, 2_000.0).expect("counted");
        for radius in [31.25, 100.0, 420.0, 2_000.0] {
            assert!(!near.crowded_beside(radius), "{radius} m");
        }
        // The same city with a market of 3,000 shops within 150 m of a hub
        // 700 m away: a read whose gaps reach it is planned by the map, a
        // small one far from it is not.
        let hub = here.offset(90.0, 700.0);
        let mut beside = city.clone();
        beside.merge(&CrowdMap::from_counts(
            (0..3_000).map(|i| {
                let i = f64::from(i);
                (
                    store_crowd_cell(hub.offset((i * 137.508) % 360.0, 150.0 * (i / 3_000.0).sqrt())),
                    1,
                )
            }),
            &[],
        ));
        let near = beside.near(here, 2_000.0).expect("counted");
        assert!(!near.crowded_beside(100.0));
        assert!(near.crowded_beside(420.0));
        assert!(near.crowded_beside(2_000.0));
        // A milder crowd, 40 shops more in one cell 600 m away (about 6
        // times the city's density there): seen for one category, and for
        // two alike, whose counts add up cell by cell as their mean does.
        let mut mild = city.clone();
        mild.merge(&CrowdMap::from_counts(
            [(here.offset(90.0, 600.0).cell(CROWD_RESOLUTION), 40)],
            &[],
        ));
        assert!(mild.near(here, 2_000.0).expect("counted").crowded_beside(420.0));
        let mut two = mild.clone();
        two.merge(&mild);
        assert!(two.near(here, 2_000.0).expect("counted").crowded_beside(420.0));
        // Two categories' maps built apart, as storage and memory keep
        // them: each works its cells' radius out from its lowest cell, so
        // where they count different cells, a cell's radius differs a
        // little between them; its counts still add up.
        let crowd = here.offset(90.0, 600.0).cell(CROWD_RESOLUTION);
        let cells: Vec<CellIndex> = own.grid_disk(20);
        let lowest = cells.iter().min().copied();
        #[allow(clippy::cast_possible_truncation, clippy::cast_precision_loss)]
        let category = |without: Option<CellIndex>| {
            CrowdMap::from_counts(
                cells.iter().filter(|cell| Some(**cell) != without).map(|&cell| {
                    let scatter = 0.5 + (u64::from(cell) % 11) as f64 / 10.0;
                    let count = (70.0 * scatter * cell.area_km2()).round() as i64;
                    (cell, if cell == crowd { count + 40 } else { count })
                }),
                &[],
            )
        };
        let mut apart = category(None);
        apart.merge(&category(lowest));
        assert!(apart.near(here, 2_000.0).expect("counted").crowded_beside(420.0));
    }

    #[test]
    fn a_plan_by_the_crowd_map_reads_through_the_gaps_holding_the_fewest_shops() {
        use crate::domain::geo::search_plan;
        let here = GeoPoint::new(23.7925, 90.4078).expect("valid");
        // A market of 3,000 shops within 150 m of its hub, 600-900 m away
        // in turn, on a golden-angle spiral (even over its disk): a third
        // fewer of its shops read at least (measured: 1,773 against 3,183).
        let (mut plain_total, mut weighed_total) = (0, 0);
        for (bearing, apart) in [(90.0, 700.0), (200.0, 600.0), (320.0, 900.0), (30.0, 800.0)] {
            let hub = here.offset(bearing, apart);
            let shops: Vec<GeoPoint> = (0..3_000)
                .map(|i| {
                    let i = f64::from(i);
                    hub.offset((i * 137.508) % 360.0, 150.0 * (i / 3_000.0).sqrt())
                })
                .collect();
            let map = CrowdMap::from_counts(shops.iter().map(|p| (store_crowd_cell(*p), 1)), &[]);
            let keys: Vec<(CellIndex, u64)> = shops.iter().map(|p| (store_partition(*p), p.geo_key())).collect();
            for radius in [300.0, 420.0, 500.0] {
                let read = |plan: &[CellRange]| {
                    keys.iter()
                        .filter(|(partition, key)| plan.iter().any(|r| r.partition == *partition && r.contains(*key)))
                        .count()
                };
                let plain = read(&search_plan(here, radius, 8));
                let weighed = read(&search_plan_by_crowd(here, radius, 8, &map));
                plain_total += plain;
                weighed_total += weighed;
            }
        }
        assert!(
            weighed_total * 3 < plain_total * 2,
            "read {weighed_total} of the market's shops, {plain_total} by area alone"
        );
    }

    #[test]
    fn fine_counts_stand_in_for_the_crowd_cells_under_the_fine_items_read() {
        let (hub, own, item, fine, _) = hub_cells();
        assert_eq!(
            fine.parent(CROWD_RESOLUTION),
            Some(own),
            "a fine cell lies in its crowd cell"
        );
        let coarse = CrowdMap::from_counts([(own, 300)], &[]);
        let refined = CrowdMap::from_counts([(own, 300), (fine, 300)], &[item]);
        assert_eq!((refined.count(own), refined.count(fine)), (0, 300));
        assert_eq!(refined.fine_items(), [item]);
        // The same shops over the whole radius, far more of them near the
        // hub than the crowd cell spread evenly says.
        assert_eq!(refined.items_within(hub, 2_000.0), coarse.items_within(hub, 2_000.0));
        let near = |map: &CrowdMap| map.items_within(hub, 40.0).expect("known");
        assert!(
            near(&refined) > 4.0 * near(&coarse),
            "{} {}",
            near(&refined),
            near(&coarse)
        );
        // A fine item asked for that storage does not hold (a table from
        // before fine counts): the crowd cells stay.
        let unrefined = CrowdMap::from_counts([(own, 300)], &[item]);
        assert_eq!((unrefined.count(own), unrefined.fine_items()), (300, &[item][..]));
        // Maps of two categories add up, each refined on its own.
        let mut both = refined.clone();
        both.merge(&CrowdMap::from_counts([(own, 20)], &[]));
        assert_eq!((both.count(own), both.count(fine)), (20, 300));
    }

    #[test]
    fn a_remembered_map_takes_the_fine_counts_read_after_it_for_its_own_category() {
        let (hub, own, item, fine, partition) = hub_cells();
        let r = 2_000.0;
        let (grocery, pharmacy) = (vec!["grocery".to_string()], vec!["pharmacy".to_string()]);
        let both = vec!["grocery".to_string(), "pharmacy".to_string()];
        let mut memory = CrowdMemory::default();
        memory.remember("grocery", &[partition], &CrowdMap::from_counts([(own, 300)], &[]), 0);
        memory.remember("pharmacy", &[partition], &CrowdMap::from_counts([(own, 20)], &[]), 0);
        assert_eq!(memory.fine_items_missing(&grocery, &[item], 0), [item]);
        let first = |memory: &CrowdMemory| {
            let near = memory
                .recall_near(&grocery, &[partition], 0, hub, r)
                .expect("remembered");
            first_radius(r, near.as_ref())
        };
        let by_crowd_cell = first(&memory);
        let fine_read = CrowdMap::from_counts([(fine, 300)], &[item]);
        memory.remember_fine("grocery", &fine_read);
        assert!(memory.fine_items_missing(&grocery, &[item], 0).is_empty());
        assert_eq!(
            memory.fine_items_missing(&both, &[item], 0),
            [item],
            "pharmacy's not read"
        );
        assert!(
            first(&memory) < by_crowd_cell,
            "the hub's shops counted where they are: {} m, not {by_crowd_cell} m",
            first(&memory)
        );
        let recalled = |memory: &CrowdMemory, categories: &[String]| {
            memory.recall(categories, &[partition], 0).expect("remembered")
        };
        let (g, p) = (recalled(&memory, &grocery), recalled(&memory, &pharmacy));
        assert_eq!((g.count(own), g.count(fine)), (0, 300));
        assert_eq!((p.count(own), p.count(fine)), (20, 0));
        // Read again, the same counts are not added twice; a map not
        // remembered takes none.
        memory.remember_fine("grocery", &fine_read);
        memory.remember_fine("meat", &fine_read);
        assert_eq!(recalled(&memory, &grocery).count(fine), 300);
        assert!(memory.recall(&["meat".to_string()], &[partition], 0).is_none());
        // A fine item whose partition's map is not remembered (or no
        // longer) refines nothing: not asked for.
        assert!(memory.fine_items_missing(&grocery, &[item], CROWD_MEMORY_MS).is_empty());
        assert!(memory.fine_items_missing(&["meat".to_string()], &[item], 0).is_empty());
    }

    #[test]
    fn a_cold_match_reads_next_as_far_as_the_crowd_map_says_enough_lies() {
        let r = 2_000.0;
        let somewhere = GeoPoint::new(23.7925, 90.4078).expect("valid");
        let here = GeoPoint::from_cell_centre(somewhere.cell(CROWD_RESOLUTION));
        let found = |items, candidates| ReadFound { items, candidates };
        assert_eq!(cold_first_radius(r), 31.25);
        // After a read of 125 m. The steps from it: four to a doubling (125
        // m times 2^(k/4)).
        let near = 125.0;
        let step = |k: i32| near * 2f64.powf(f64::from(k) / 4.0);
        let assert_near = |got: f64, want: f64, what: &str| assert!((got - want).abs() < 1e-6, "{what}: {got} {want}");
        let town = crowd_around(here, 4.0, 0.0, 0.0);
        assert_eq!(
            next_radius(r, town.near(here, r).as_ref(), near, found(0, 0), 4),
            2_000.0,
            "a sparse town: then all of it (cheap)"
        );
        let city = crowd_around(here, 105.0, 0.0, 0.0);
        assert_near(
            next_radius(r, city.near(here, r).as_ref(), near, found(5, 2), 4),
            step(6),
            "city density, two of five found: about 350 m, where the map expects 41 items, 16 candidates at that \
             share (500 m before: four times the area)",
        );
        assert_near(
            next_radius(
                r,
                crowd_around(here, 70.0, 0.0, 0.0).near(here, r).as_ref(),
                near,
                found(5, 5),
                4,
            ),
            step(7),
            "the load benchmark's city, five of five found: the cheap read, about 420 m where the map expects 39 \
             within (enough would be about 300 m; 500 m over doublings to 67)",
        );
        assert_near(
            next_radius(r, city.near(here, r).as_ref(), near, found(8, 0), 4),
            step(11),
            "city density, a demand few shops serve: as far as enough are expected",
        );
        assert_eq!(
            next_radius(r, city.near(here, r).as_ref(), 1_000.0, found(330, 5), 4),
            2_000.0
        );
        // A market of 1,750 per km2 over 500 m.
        let market = crowd_around(here, 0.0, 1_750.0, 500.0);
        assert_near(
            next_radius(r, market.near(here, r).as_ref(), near, found(94, 10), 4),
            step(2),
            "inside a market, ten of twelve found: half as wide again (250 m before: about 500 items read)",
        );
        assert_eq!(
            next_radius(r, market.near(here, r).as_ref(), near, found(94, 0), 4),
            2_000.0,
            "inside a market, none of 94 found: the market is expected to hold too few, so all of it (500 m before; \
             the map counts nothing beyond the market here, so that reads what the market holds)"
        );
        // Beside a market (300 m beyond its edge): 500 m reaches into it
        // (240 items expected), so it is not cheap; the map expects enough
        // within about 350 m, and when 250 m falls one short, a step
        // further, not into the market.
        let next_door = here.offset(90.0, 800.0);
        let beside = crowd_around(here, 105.0, 1_750.0, 500.0);
        assert_near(
            next_radius(r, beside.near(next_door, r).as_ref(), near, found(5, 2), 4),
            step(6),
            "beside a market",
        );
        assert_near(
            next_radius(r, beside.near(next_door, r).as_ref(), 250.0, found(11, 11), 4),
            step(5),
            "beside a market, one short",
        );
        let into_market = beside.items_within(next_door, 500.0).expect("counted");
        let one_step = beside.items_within(next_door, step(5)).expect("counted");
        assert!(into_market > 200.0 && one_step < 40.0, "{into_market} {one_step}");
        assert_eq!(
            next_radius(
                r,
                CrowdMap::from_counts([], &[]).near(here, r).as_ref(),
                near,
                found(0, 0),
                4
            ),
            2_000.0,
            "no store counted near: all at once (it reads nothing)"
        );
        let unknown = CrowdMap::default();
        assert_eq!(
            (
                next_radius(r, unknown.near(here, r).as_ref(), near, found(5, 2), 4),
                next_radius(r, unknown.near(here, r).as_ref(), 500.0, found(5, 2), 4)
            ),
            (500.0, 2_000.0),
            "no counts kept: a quarter, then all, as before"
        );
        // Over even densities, from a sparse town to a market: the next
        // radius is wider than the read and within the radius, on the steps
        // from the read (or the whole radius); where the read found too few,
        // the candidates found and those the map adds beyond the read, at
        // the share found, make enough unless it is cheap or the whole
        // radius; and finding more (short of enough) never reads wider.
        for density in [0.0, 4.0, 30.0, 105.0, 400.0, 1_900.0] {
            let crowd = crowd_around(here, density, 0.0, 0.0);
            let near_here = crowd.near(here, r);
            let items = |x: f64| crowd.items_within(here, x).unwrap_or(0.0);
            for (read_m, within) in [(125.0, 5), (250.0, 20), (500.0, 90), (250.0, 60)] {
                let mut wider_before = f64::INFINITY;
                // Too few candidates found (enough found but too few online
                // is the doublings' rule, checked above).
                for candidates in 0..=within.min(11) {
                    let next = next_radius(r, near_here.as_ref(), read_m, found(within, candidates), 4);
                    let what = format!("{density}/km2, {candidates} of {within} within {read_m} m: {next}");
                    assert!(next > read_m && next <= r, "{what}");
                    let quarters = (next / read_m).log2() * 4.0;
                    assert!(next == r || (quarters - quarters.round()).abs() < 1e-9, "{what}");
                    if next < r && items(next) > step_aim(next) {
                        // The share found, one more of each (none found is
                        // not a share of none).
                        let share = (candidates as f64 + 1.0) / (within as f64 + 1.0);
                        let beyond = (items(next) - items(read_m)).max(0.0);
                        assert!(candidates as f64 + beyond * share >= 12.0, "{what}");
                    }
                    assert!(next <= wider_before, "{what}: more found, read wider");
                    wider_before = next;
                }
            }
        }
    }

    /// A hub denser than its cell's count spread evenly: once a read
    /// there held more than a first read aims at, the stores it read size
    /// the next first read near them, for as long as the map is
    /// remembered, and only for their category.
    #[test]
    fn stores_a_crowded_read_held_narrow_the_next_first_read_near_them() {
        let r = 2_000.0;
        let here = GeoPoint::from_cell_centre(GeoPoint::new(23.7925, 90.4078).expect("valid").cell(CROWD_RESOLUTION));
        // 300 stalls within 40 m; the map counts them over the whole cell.
        let hub: Vec<Arc<Store>> = (0..300)
            .map(|i| {
                let at = here.offset(f64::from(i) * 1.2, 40.0 * f64::from(i % 10 + 1) / 10.0);
                Arc::new(store(&format!("s{i}"), at, "grocery", &["rice"], true))
            })
            .collect();
        let hub = StoresRead::measure(here, hub);
        let map = CrowdMap::from_counts([(here.cell(CROWD_RESOLUTION), 300)], &[]);
        let partitions = [store_partition(here)];
        let grocery = vec!["grocery".to_string()];
        let mut memory = CrowdMemory::default();
        memory.remember("grocery", &partitions, &map, 0);
        let first = |memory: &CrowdMemory, categories: &[String], now: Millis| {
            let near = memory
                .recall_near(categories, &partitions, now, here, r)
                .expect("remembered");
            first_radius(r, near.as_ref())
        };
        let by_map = first(&memory, &grocery, 0);
        assert!(
            (by_map - 500.0 * 2f64.powf(-14.0 / 4.0)).abs() < 1e-9,
            "the map spreads the hub over its cell: about 44 m, 18 within ({by_map})"
        );
        // A read of the 60 nearest (fewer than a first read aims at) is
        // not remembered.
        memory.remember_seen(&hub, 10.0, 20.0, 0);
        assert_eq!(first(&memory, &grocery, 0), by_map);
        // Nor one that held about what the map expected (90 of 62).
        memory.remember_seen(&hub, 12.0, 62.0, 0);
        assert_eq!(first(&memory, &grocery, 0), by_map);
        // Nor a read the map expected to be crowded.
        memory.remember_seen(&hub, 125.0, 300.0, 0);
        assert_eq!(first(&memory, &grocery, 0), by_map);
        memory.remember_seen(&hub, 62.5, 35.0, 0);
        assert_eq!(first(&memory, &grocery, 1_000), 15.625, "as narrow as reads go");
        memory.remember("pharmacy", &partitions, &map, 0);
        assert_eq!(
            first(&memory, &["pharmacy".to_string()], 1_000),
            by_map,
            "another category's stores count nothing"
        );
        memory.remember("grocery", &partitions, &map, CROWD_MEMORY_MS);
        assert_eq!(
            first(&memory, &grocery, CROWD_MEMORY_MS),
            by_map,
            "forgotten after as long as a map"
        );
    }

    #[test]
    fn crowd_maps_are_remembered_per_category_and_partition_and_forgotten_after_a_while() {
        let here = GeoPoint::new(23.7925, 90.4078).expect("valid");
        let across_town = here.offset(0.0, 30_000.0);
        let partition = store_partition(here);
        let elsewhere = store_partition(across_town);
        assert_ne!(partition, elsewhere);
        let grocery = vec!["grocery".to_string()];
        let both = vec!["grocery".to_string(), "pharmacy".to_string()];
        let mut memory = CrowdMemory::default();
        assert_eq!(memory.recall(&grocery, &[partition], 0), None);
        // Storage returned two partitions' counts in one map: each is kept
        // on its own.
        let own = here.cell(CROWD_RESOLUTION);
        let far = across_town.cell(CROWD_RESOLUTION);
        let read = CrowdMap::from_counts([(own, 150), (far, 9)], &[]);
        memory.remember("grocery", &[partition, elsewhere], &read, 0);
        let recalled = memory.recall(&grocery, &[partition], 1_000).expect("known");
        assert_eq!((recalled.count(own), recalled.count(far)), (150, 0));
        assert!(recalled.is_known());
        let recalled = memory.recall(&grocery, &[elsewhere, partition], 1_000).expect("known");
        assert_eq!((recalled.count(own), recalled.count(far)), (150, 9));
        assert_eq!(
            memory.recall(&both, &[partition], 1_000),
            None,
            "pharmacy not read here"
        );
        memory.remember("pharmacy", &[partition], &CrowdMap::from_counts([(own, 10)], &[]), 0);
        let together = memory.recall(&both, &[partition], 1_000).expect("both known");
        assert_eq!(together.count(own), 160, "categories add up");
        // A table without counts is remembered as such (no read of the map
        // every match); it stays unknown.
        memory.remember("grocery", &[elsewhere], &CrowdMap::default(), 0);
        let unknown = memory.recall(&grocery, &[elsewhere], 1_000).expect("remembered");
        assert!(!unknown.is_known());
        assert_eq!(
            memory.recall(&grocery, &[partition], CROWD_MEMORY_MS),
            None,
            "forgotten"
        );
    }

    #[test]
    fn a_recalled_place_is_weighed_as_its_remembered_maps_added_up() {
        let here = GeoPoint::new(23.7925, 90.4078).expect("valid");
        let across_town = here.offset(0.0, 30_000.0);
        let (partition, elsewhere) = (store_partition(here), store_partition(across_town));
        let both = vec!["grocery".to_string(), "pharmacy".to_string()];
        let counts = |at: GeoPoint, per_cell: &[(f64, f64, i64)]| {
            CrowdMap::from_counts(
                per_cell
                    .iter()
                    .map(|(bearing, m, count)| (at.offset(*bearing, *m).cell(CROWD_RESOLUTION), *count)),
                &[],
            )
        };
        let mut memory = CrowdMemory::default();
        let grocery = counts(here, &[(0.0, 0.0, 40), (90.0, 300.0, 25), (200.0, 1_900.0, 7)]);
        memory.remember("grocery", &[partition], &grocery, 0);
        let pharmacy = counts(here, &[(0.0, 0.0, 3), (45.0, 700.0, 11)]);
        let pharmacy_far = counts(across_town, &[(0.0, 0.0, 5)]);
        memory.remember("pharmacy", &[partition], &pharmacy, 0);
        memory.remember("pharmacy", &[elsewhere], &pharmacy_far, 0);
        // A partition whose table keeps no counts, among known ones.
        memory.remember("grocery", &[elsewhere], &CrowdMap::default(), 0);
        let partitions = [partition, elsewhere];
        for radius_m in [125.0, 2_000.0, 40_000.0] {
            let merged = memory
                .recall(&both, &partitions, 1_000)
                .expect("known")
                .near(here, radius_m)
                .expect("counts kept");
            let recalled = memory
                .recall_near(&both, &partitions, 1_000, here, radius_m)
                .expect("remembered")
                .expect("counts kept");
            // The same cells and counts, summed in another order (the
            // merged map's cells are sorted as one list): equal but for
            // rounding.
            for r in [31.25, 62.5, 500.0, 2_000.0, radius_m] {
                let (recalled, merged) = (recalled.items_within(r), merged.items_within(r));
                assert!(
                    (recalled - merged).abs() <= 1e-9 * merged.abs().max(1.0),
                    "{radius_m} m, within {r} m: {recalled} against {merged}"
                );
            }
        }
        // Every map without counts: none, as the merged map says.
        let grocery_only = vec!["grocery".to_string()];
        assert!(
            memory
                .recall(&grocery_only, &[elsewhere], 1_000)
                .expect("remembered")
                .near(here, 2_000.0)
                .is_none()
        );
        assert!(
            memory
                .recall_near(&grocery_only, &[elsewhere], 1_000, here, 2_000.0)
                .expect("remembered")
                .is_none()
        );
    }

    #[test]
    fn sparse_supply_widens_step_by_step_only_when_too_few_were_offered() {
        let steps = [3_000, 5_000];
        assert_eq!(search_radius_after(2_000.0, &[], None, 0, 4), None, "off by default");
        assert_eq!(
            search_radius_after(2_000.0, &steps, None, 4, 4),
            None,
            "enough: unchanged"
        );
        assert_eq!(search_radius_after(2_000.0, &steps, None, 1, 4), Some(3_000));
        assert_eq!(search_radius_after(2_000.0, &steps, Some(3_000), 2, 4), Some(5_000));
        assert_eq!(
            search_radius_after(2_000.0, &steps, Some(5_000), 0, 4),
            Some(5_000),
            "the widest stays"
        );
        assert_eq!(search_radius_after(2_000.0, &steps, Some(3_000), 4, 4), Some(3_000));
    }

    #[test]
    fn ranks_by_coverage_then_category_then_distance() {
        let here = GeoPoint::new(23.81, 90.41).expect("valid");
        let items = parse_demand_text("2 kg rice, 600 g meat").expect("parses");
        let stores = vec![
            store("near-rice", here.offset(0.0, 100.0), "grocery", &["rice"], true),
            store(
                "far-both",
                here.offset(90.0, 1_500.0),
                "grocery",
                &["rice", "meat"],
                true,
            ),
            store(
                "mid-both",
                here.offset(180.0, 800.0),
                "grocery",
                &["rice", "meat"],
                true,
            ),
            store("pharmacy", here.offset(0.0, 50.0), "pharmacy", &["medicine"], true),
            store("closed", here.offset(0.0, 10.0), "grocery", &["rice", "meat"], false),
            store("too-far", here.offset(0.0, 2_100.0), "grocery", &["rice", "meat"], true),
        ];
        let mut not_trading = Vec::new();
        for (id, status) in [
            ("pending", crate::domain::store::StoreStatus::Pending),
            ("suspended", crate::domain::store::StoreStatus::Suspended),
        ] {
            let mut s = store(id, here.offset(0.0, 20.0), "grocery", &["rice", "meat"], true);
            s.status = status;
            not_trading.push(s);
        }
        let stores: Vec<Arc<Store>> = stores.into_iter().chain(not_trading).map(Arc::new).collect();
        let ranked = rank_candidates(&items, here, 2_000.0, stores, &[]);
        let ids: Vec<&str> = ranked.iter().map(|c| c.store.id.as_str()).collect();
        assert_eq!(ids, ["mid-both", "far-both", "near-rice"]);
        let excluded = rank_candidates(
            &items,
            here,
            2_000.0,
            ranked.iter().map(|c| c.store.clone()).collect(),
            &[StoreId::new("mid-both").expect("valid")],
        );
        assert_eq!(excluded.len(), 2);
    }

    /// A store at 1.9 km is found through the H3 covering and one at 2.1 km
    /// is not, at several latitudes and bearings.
    #[test]
    fn radius_query_through_h3_cells_at_several_latitudes() {
        let items = parse_demand_text("rice").expect("parses");
        for lat in [0.0, 23.81, 45.0, 60.0, -33.9] {
            for bearing in [0.0, 60.0, 135.0, 250.0] {
                let here = GeoPoint::new(lat, 90.41).expect("valid");
                let inside = store("inside", here.offset(bearing, 1_900.0), "grocery", &["rice"], true);
                let outside = store("outside", here.offset(bearing, 2_100.0), "grocery", &["rice"], true);
                let plan = search_plan(here, 2_000.0, 8);
                let in_cells: Vec<Arc<Store>> = [inside, outside]
                    .into_iter()
                    .filter(|s| {
                        let cell = s.location.geo_key();
                        let partition = store_partition(s.location);
                        plan.iter().any(|r| r.partition == partition && r.contains(cell))
                    })
                    .map(Arc::new)
                    .collect();
                assert!(
                    in_cells.iter().any(|s| s.id.as_str() == "inside"),
                    "1.9 km store not in covering at lat {lat} bearing {bearing}"
                );
                let ranked = rank_candidates(&items, here, 2_000.0, in_cells, &[]);
                let ids: Vec<&str> = ranked.iter().map(|c| c.store.id.as_str()).collect();
                assert_eq!(ids, ["inside"], "lat {lat} bearing {bearing}");
            }
        }
    }
}
