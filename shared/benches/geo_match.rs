//! How much a store match reads: queries per match and items read against
//! the stores that truly qualify (within the radius, of the category), on a
//! synthetic dense city like Dhaka. Prints figures; asserts nothing about
//! speed. Run: `cargo bench -p shared --bench geo_match`.
//!
//! The embedded adapter executes the same search plan as the DynamoDB
//! adapter (one `Query` per cell range), so its counts are the DynamoDB
//! counts.
//!
//! A second table is peak Dhaka (issue 12, goal 6): 100,000 stores over
//! 300 km², 500 orders a second, near-first matching. Every range's reads
//! are tallied under the partition it queries, and turned into read
//! units at DynamoDB's rules (a `Query` costs its items' total size in
//! 4 KB steps, halved for an eventually consistent read), so the busiest
//! partition's load can be set against DynamoDB's 3,000 RCU per partition.
//! Its rows read a fixed radius, or as matching does now (the first read
//! sized from a remembered crowd map and the stores remembered from
//! crowded reads, else a 32nd with the stored crowd map, and bounded
//! at `ITEMS_PER_RANGE` items of each range; then `next_radius`, read
//! whole, until 12 shops qualify; "cold, map": every match as in a place
//! not known), with the crowd map's units and the geo round trips (p50 /
//! max, mean in brackets). "clustered" puts 70 % of the shops in 40
//! markets whose density grows without bound towards each hub; "markets"
//! puts them in markets of even spread (a normal law in the plane, sigma
//! 400 m or 100 m), densest at the hub and finite there. "cut": matches
//! whose first read was cut short.
//! "same 4": matches that offered the four stores, in order, that a whole
//! read of their last radius ranks best (the stores carry spread ratings
//! and acceptance speeds, which rank before distance); "missed": of those
//! four, how many a match did not offer, on average. "ranked": the fewest
//! items a read of the same last radius would take if the index kept each
//! crowd cell's stores ranked by rating and speed, to be sure of a whole
//! read's best 12 (one `Query` per crowd cell holding a store within the
//! radius, "cells": a lower bound, as a reader knows only which cells may).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use h3o::CellIndex;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use shared::domain::geo::{
    GeoPoint, PARTITION_RESOLUTION, cells_covering, fine_crowd_items_near, search_plan, store_crowd_cell,
};
use shared::domain::ids::StoreId;
use shared::domain::matching::{
    CrowdMap, CrowdMemory, ITEMS_PER_RANGE, ReadFound, StoresRead, cold_first_radius, enough_nearby,
    fine_counts_worth_reading, first_radius, first_radius_before_fine_counts, next_radius, rank_candidates, rank_read,
    search_plan_by_crowd,
};
use shared::domain::order::delivery::default_delivery_options;
use shared::domain::store::Store;
use shared::embedded::MemoryStorage;
use shared::ports::StoreRepo;

const CITY_CENTRE: (f64, f64) = (23.7806, 90.4070);
const CITY_HALF_SIDE_M: f64 = 7_500.0;
const RADIUS_M: f64 = 2_000.0;
const CUSTOMERS: usize = 1_000;
const MAX_RANGES: usize = 8;

fn point_in_city(rng: &mut StdRng, centre: GeoPoint, half_side: f64) -> GeoPoint {
    let north = rng.random_range(-half_side..half_side);
    let east = rng.random_range(-half_side..half_side);
    centre.offset(0.0, north).offset(90.0, east)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

/// "p50/p99/max" of sorted samples.
fn p50_p99_max(sorted: &[f64]) -> String {
    format!(
        "{:.0}/{:.0}/{:.0}",
        percentile(sorted, 0.5),
        percentile(sorted, 0.99),
        percentile(sorted, 1.0)
    )
}

struct Figures {
    queries: Vec<f64>,
    ratio: Vec<f64>,
    read_total: usize,
    qualifying_total: usize,
}

/// Where a city's shops stand.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Layout {
    /// Spread evenly.
    Uniform,
    /// 70 % of them in 40 markets, each at a distance from its market's
    /// hub drawn from a normal law (sigma 400 m), in any direction: the
    /// density grows without bound towards the hub (a shop within r of it
    /// is about as likely at any r), finer than any map's cell can see.
    Hubs,
    /// 70 % of them in 40 markets spread as a normal law in the plane
    /// around each hub, sigma in metres: densest at the hub, and finite
    /// there (a market of 1,225 grocery shops: about 1,200 per km2 at its
    /// hub with sigma 400 m, about 19,500 with 100 m).
    Markets(f64),
}

impl Layout {
    fn clustered(self) -> bool {
        self != Layout::Uniform
    }

    fn label(self) -> String {
        match self {
            Layout::Uniform => "uniform".to_string(),
            Layout::Hubs => "clustered".to_string(),
            Layout::Markets(sigma_m) => format!("markets {sigma_m:.0} m"),
        }
    }
}

/// Shops of each category (per km²) placed in a square city of
/// `half_side` around the centre, as `layout` says. Returns the stores and
/// the markets' hubs.
async fn build_city(
    rng: &mut StdRng,
    half_side: f64,
    categories: &[(&str, f64)],
    layout: Layout,
) -> (MemoryStorage, Vec<Store>, Vec<GeoPoint>) {
    let centre = GeoPoint::new(CITY_CENTRE.0, CITY_CENTRE.1).expect("valid");
    let area_km2 = (2.0 * half_side / 1_000.0).powi(2);
    let storage = MemoryStorage::default();
    let mut stores = Vec::new();
    let hubs: Vec<GeoPoint> = (0..40).map(|_| point_in_city(rng, centre, half_side)).collect();
    for &(category, density) in categories {
        let count = (density * area_km2) as usize;
        for i in 0..count {
            let location = if layout.clustered() && rng.random_bool(0.7) {
                near_market(rng, &hubs, layout)
            } else {
                point_in_city(rng, centre, half_side)
            };
            let store = Store {
                id: StoreId::new(format!("{category}-{i}")).expect("id"),
                name: format!("{category} {i}"),
                location,
                category: category.to_string(),
                tags: ["rice".to_string()].into_iter().collect(),
                open: true,
                delivery_options: default_delivery_options(),
                language: shared::domain::demand::Language::En,
                // Ratings and acceptance speeds spread over the stores, so
                // ranking weighs more than distance (as it does in service).
                stats: shared::domain::store::StoreStats {
                    rating_sum: 10 * (2 + (i as u64 * 2_654_435_761) % 4),
                    rating_count: 10,
                    accept_ms_sum: 10 * 1_000 * (5 + (i as u64 * 40_503) % 50),
                    accept_count: 10,
                },
                status: shared::domain::store::StoreStatus::Active,
                suspended_reason: None,
                updated_at_ms: 0,
            };
            storage.put_store(&store).await.expect("put");
            stores.push(store);
        }
    }
    (storage, stores, hubs)
}

fn near_market(rng: &mut StdRng, hubs: &[GeoPoint], layout: Layout) -> GeoPoint {
    let hub = hubs[rng.random_range(0..hubs.len())];
    let (u, v): (f64, f64) = (rng.random_range(f64::EPSILON..1.0), rng.random_range(0.0..1.0));
    let distance_m = match layout {
        // The distance of a point drawn from a normal law in the plane
        // (Rayleigh).
        Layout::Markets(sigma_m) => sigma_m * (-2.0 * u.ln()).sqrt(),
        // A hub's market (a uniform city has none): one normal variate
        // (Box-Muller), its size the distance.
        Layout::Hubs | Layout::Uniform => {
            let gaussian = (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos();
            (400.0 * gaussian).abs()
        }
    };
    hub.offset(rng.random_range(0.0..360.0), distance_m)
}

async fn run(density_per_km2: f64, clustered: bool, max_ranges: usize, seed: u64) -> Figures {
    let mut rng = StdRng::seed_from_u64(seed);
    let centre = GeoPoint::new(CITY_CENTRE.0, CITY_CENTRE.1).expect("valid");
    let categories = [
        ("grocery", density_per_km2),
        ("meat", density_per_km2 / 4.0),
        ("pharmacy", density_per_km2 / 6.0),
    ];
    let layout = if clustered { Layout::Hubs } else { Layout::Uniform };
    let (storage, stores, _) = build_city(&mut rng, CITY_HALF_SIDE_M, &categories, layout).await;
    let mut figures = Figures {
        queries: Vec::new(),
        ratio: Vec::new(),
        read_total: 0,
        qualifying_total: 0,
    };
    for _ in 0..CUSTOMERS {
        // Customers stand inside the city, away from its edge.
        let customer = point_in_city(&mut rng, centre, CITY_HALF_SIDE_M - RADIUS_M);
        let plan = search_plan(customer, RADIUS_M, max_ranges);
        let read = storage
            .stores_in_ranges("grocery", &plan, usize::MAX)
            .await
            .expect("read");
        let qualifying = stores
            .iter()
            .filter(|s| s.category == "grocery" && s.location.distance_m(customer) <= RADIUS_M)
            .count();
        figures.queries.push(read.queries as f64);
        figures.read_total += read.stores.len();
        figures.qualifying_total += qualifying;
        if qualifying > 0 {
            figures.ratio.push(read.stores.len() as f64 / qualifying as f64);
        }
    }
    figures.queries.sort_by(f64::total_cmp);
    figures.ratio.sort_by(f64::total_cmp);
    figures
}

/// Peak Dhaka: 100,000 stores over about 300 km² (a 17.3 km square), split
/// by category as the catalogue's items are (30 of its 38 items are
/// grocery): grocery 70 %, meat 15 %, pharmacy 10 %, fish 5 %.
const DHAKA_HALF_SIDE_M: f64 = 8_660.0;
const DHAKA_STORES: f64 = 100_000.0;
const DHAKA_CATEGORY_SHARES: [(&str, f64); 4] = [("grocery", 0.70), ("meat", 0.15), ("pharmacy", 0.10), ("fish", 0.05)];
/// Orders a second at peak, and the share of them that need a grocery
/// store (a demand naming rice and meat runs one match per category).
const PEAK_ORDERS_PER_S: f64 = 500.0;
const GROCERY_SHARE_OF_ORDERS: f64 = 0.8;
/// A geo index item's size for DynamoDB (attribute names plus values).
/// The latency mode's proxy measured 385 B for stores with four tags; 600 B
/// leaves room for longer names and stock lines.
const GEO_ITEM_BYTES: f64 = 600.0;
/// Read units of one crowd item (a count per resolution-9 cell, at most 343
/// of about 25 B: 8.6 KB, three 4 KB units), eventually consistent.
const CROWD_ITEM_RCU: f64 = 1.5;
/// Read units of one fine crowd item (at most 49 counts, about 1.2 KB),
/// eventually consistent.
const FINE_CROWD_ITEM_RCU: f64 = 0.5;
/// One partition's read limit.
const PARTITION_RCU: f64 = 3_000.0;

/// Read units of one `Query`, eventually consistent: the items' total size
/// in 4 KB steps (at least one), halved.
fn query_rcu(items: usize) -> f64 {
    let bytes = items as f64 * GEO_ITEM_BYTES;
    (bytes / 4_096.0).ceil().max(1.0) / 2.0
}

struct PeakFigures {
    queries: Vec<f64>,
    partitions: Vec<f64>,
    ratio_total: (usize, usize),
    rcu_per_match: Vec<f64>,
    /// Items each match's reads returned.
    items_per_match: Vec<f64>,
    /// Sequential geo reads each match took.
    round_trips: Vec<f64>,
    by_partition: HashMap<CellIndex, (usize, f64)>,
    matches: usize,
    /// Matches whose read a crowd denser than `ITEMS_PER_RANGE` cut short.
    cut: usize,
    /// Matches that offered the same four stores, in the same order, as a
    /// whole read of their last radius ranked best.
    same_four: usize,
    /// Of the four a whole read of the last radius ranked best, how many
    /// each match did not offer.
    missed: usize,
    /// The fewest items a read of the last radius ranked per crowd cell
    /// (rating, then speed, in key order) would take to be sure of a whole
    /// read's best 12: every store ranked at or above the 12th (ties too:
    /// distance breaks them) of each cell holding a store within it.
    ranked_items: Vec<f64>,
    /// Those crowd cells (one `Query` each).
    ranked_cells: Vec<f64>,
}

/// Rating in half stars and acceptance speed step: what a ranked key could
/// sort by (lines covered depend on the demand).
type RankKey = (u64, u64);

fn rank_key(store: &Store) -> RankKey {
    (store.stats.rating_half_stars(), store.stats.accept_speed_step())
}

/// Whether `key` ranks at or above `floor`: more half stars, or as many and
/// no slower.
fn at_or_above(key: RankKey, floor: RankKey) -> bool {
    key.0 > floor.0 || (key.0 == floor.0 && key.1 <= floor.1)
}

/// How a match chooses what to read.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Reading {
    /// Every match reads this radius, once.
    Fixed(f64),
    /// As matching does now: where the place's crowd map is remembered,
    /// the first read sized from it at the customer's point; where not, a
    /// 32nd of the radius with the stored crowd map (then
    /// remembered); then wider as the map says; every read until 12 shops
    /// qualify.
    RememberedOrMap,
    /// Every match as in a place not known (a new process each time).
    AlwaysMap,
}

/// The read units of `fine_items` (fine crowd items), added to the match's
/// and to their partitions' (counted with the geo reads there, as the
/// crowd items are).
fn fine_units(figures: &mut PeakFigures, rcu: &mut f64, fine_items: &[CellIndex]) {
    for item in fine_items {
        *rcu += FINE_CROWD_ITEM_RCU;
        if let Some(partition) = item.parent(PARTITION_RESOLUTION) {
            figures.by_partition.entry(partition).or_default().1 += FINE_CROWD_ITEM_RCU;
        }
    }
}

/// Grocery matches from customers placed like the shops (people live
/// where the shops are); `first` says what each match reads.
async fn peak_dhaka(layout: Layout, first: Reading, seed: u64) -> PeakFigures {
    let mut memory = CrowdMemory::default();
    let near = RADIUS_M / 4.0;
    // Customers away from the city's edge by the first read (the same
    // customers for every way of reading but the whole radius).
    let edge = match first {
        Reading::Fixed(r) => r,
        _ => near,
    };
    let mut rng = StdRng::seed_from_u64(seed);
    let centre = GeoPoint::new(CITY_CENTRE.0, CITY_CENTRE.1).expect("valid");
    let area_km2 = (2.0 * DHAKA_HALF_SIDE_M / 1_000.0).powi(2);
    let categories: Vec<(&str, f64)> = DHAKA_CATEGORY_SHARES
        .iter()
        .map(|&(c, share)| (c, DHAKA_STORES * share / area_km2))
        .collect();
    let (storage, stores, hubs) = build_city(&mut rng, DHAKA_HALF_SIDE_M, &categories, layout).await;
    let grocery: Vec<Arc<Store>> = stores
        .iter()
        .filter(|s| s.category == "grocery")
        .map(|s| Arc::new(s.clone()))
        .collect();
    let grocery_only = ["grocery".to_string()];
    let rice = shared::domain::demand::parse_demand_text("rice").expect("parses");
    let mut figures = PeakFigures {
        queries: Vec::new(),
        partitions: Vec::new(),
        ratio_total: (0, 0),
        rcu_per_match: Vec::new(),
        items_per_match: Vec::new(),
        round_trips: Vec::new(),
        by_partition: HashMap::new(),
        matches: CUSTOMERS,
        cut: 0,
        same_four: 0,
        missed: 0,
        ranked_items: Vec::new(),
        ranked_cells: Vec::new(),
    };
    let mut by_crowd_cell: HashMap<CellIndex, Vec<RankKey>> = HashMap::new();
    for store in &grocery {
        by_crowd_cell
            .entry(store_crowd_cell(store.location))
            .or_default()
            .push(rank_key(store));
    }
    for _ in 0..CUSTOMERS {
        let customer = loop {
            let p = if layout.clustered() && rng.random_bool(0.7) {
                near_market(&mut rng, &hubs, layout)
            } else {
                point_in_city(&mut rng, centre, DHAKA_HALF_SIDE_M)
            };
            // Away from the city's edge, as in the first table.
            let north_m = (p.lat() - centre.lat()).abs() * 111_195.0;
            let east_m = (p.lng() - centre.lng()).abs() * 111_195.0 * centre.lat().to_radians().cos();
            if north_m.max(east_m) < DHAKA_HALF_SIDE_M - edge {
                break p;
            }
        };
        // The partitions a match reads the crowd map of.
        let partitions = cells_covering(customer, RADIUS_M, PARTITION_RESOLUTION);
        // The crowd around the customer, as matching works it out: a
        // remembered place with the stores seen near the customer.
        let mut near_here = match first {
            Reading::RememberedOrMap => memory.recall_near(&grocery_only, &partitions, 0, customer, RADIUS_M),
            _ => None,
        };
        let mut radii = match (first, &near_here) {
            (Reading::Fixed(r), _) => vec![r],
            (_, Some(near)) => vec![first_radius(RADIUS_M, near.as_ref())],
            (_, None) => vec![cold_first_radius(RADIUS_M)],
        };
        // The fine counts around the customer: read with the map where it
        // is read, else beside the first read where the map is remembered
        // without them and the place is crowded, as matching does.
        let fine_items = fine_crowd_items_near(customer);
        let mut fine_missing = match &near_here {
            Some(Some(_)) if fine_counts_worth_reading(radii[0]) => {
                memory.fine_items_missing(&grocery_only, &fine_items, 0)
            }
            _ => Vec::new(),
        };
        if !fine_missing.is_empty() {
            radii[0] = first_radius_before_fine_counts(RADIUS_M, radii[0]);
        }
        let (mut read, mut rcu, mut step) = (0, 0.0, 0);
        // The map itself, for planning reads through its gaps, as matching
        // does.
        let mut crowd_map: Option<CrowdMap> = None;
        // The last read's radius and the four it ranked best.
        let mut last: Option<(f64, Vec<StoreId>)> = None;
        while let Some(&radius_m) = radii.get(step) {
            step += 1;
            if crowd_map.is_none()
                && let Some(Some(near)) = &near_here
                && near.plans_by_map(step == 1, radius_m)
            {
                crowd_map = memory.recall(&grocery_only, &partitions, 0);
            }
            let plan = match &crowd_map {
                Some(map) => search_plan_by_crowd(customer, radius_m, MAX_RANGES, map),
                None => search_plan(customer, radius_m, MAX_RANGES),
            };
            if near_here.is_none() && matches!(first, Reading::RememberedOrMap | Reading::AlwaysMap) {
                // The crowd map, in the same round trip: one small item per
                // partition the whole radius touches (half a unit each).
                let map = storage
                    .crowd_map("grocery", &partitions, &fine_items)
                    .await
                    .expect("crowd map");
                memory.remember("grocery", &partitions, &map, 0);
                near_here = Some(map.near(customer, RADIUS_M));
                crowd_map = map.is_known().then_some(map);
                for partition in &partitions {
                    rcu += CROWD_ITEM_RCU;
                    figures.by_partition.entry(*partition).or_default().1 += CROWD_ITEM_RCU;
                }
                fine_units(&mut figures, &mut rcu, &fine_items);
            }
            let mut this_read = 0;
            // As matching reads: the first read bounded, a wider one whole
            // (a fixed radius is read whole, as before reads were bounded).
            let per_range = match first {
                Reading::Fixed(_) => usize::MAX,
                _ if step == 1 => ITEMS_PER_RANGE,
                _ => usize::MAX,
            };
            let mut unread = Vec::new();
            let mut read_stores = Vec::new();
            for range in &plan {
                let got = storage
                    .stores_in_ranges("grocery", std::slice::from_ref(range), per_range)
                    .await
                    .expect("read");
                let items = got.stores.len();
                unread.extend(got.unread);
                read_stores.extend(got.stores);
                this_read += items;
                rcu += query_rcu(items);
                let tally = figures.by_partition.entry(range.partition).or_default();
                tally.0 += items;
                tally.1 += query_rcu(items);
            }
            read += this_read;
            if !fine_missing.is_empty() {
                let fine = storage
                    .crowd_map("grocery", &[], &fine_missing)
                    .await
                    .expect("fine counts");
                memory.remember_fine("grocery", &fine);
                fine_units(&mut figures, &mut rcu, &fine_missing);
                fine_missing.clear();
                crowd_map = None;
                if let Some(refined) = memory.recall_near(&grocery_only, &partitions, 0, customer, RADIUS_M) {
                    near_here = Some(refined);
                }
            }
            let measured = StoresRead::measure(customer, read_stores);
            // A read crowded beyond what the map expected is remembered, as
            // matching does.
            if first == Reading::RememberedOrMap
                && let Some(Some(near)) = &near_here
            {
                memory.remember_seen(&measured, radius_m, near.items_within(radius_m), 0);
            }
            // Ranked as matching ranks a read (every shop sells rice here).
            let ranked = rank_read(&rice, radius_m, &unread, measured, &[], None, 4);
            let qualifying = ranked.candidates.len();
            last = Some((
                radius_m,
                ranked.candidates.iter().take(4).map(|c| c.store.id.clone()).collect(),
            ));
            let cut_short = ranked.cut_short;
            if cut_short {
                figures.cut += 1;
            }
            if step == 1 {
                figures.queries.push(plan.len() as f64);
                let partitions: std::collections::HashSet<_> = plan.iter().map(|r| r.partition).collect();
                figures.partitions.push(partitions.len() as f64);
            }
            figures.ratio_total.0 += this_read;
            figures.ratio_total.1 += grocery
                .iter()
                .filter(|s| s.location.distance_m(customer) <= radius_m)
                .count();
            if let Some(near) = &near_here
                && radius_m < RADIUS_M
                && !enough_nearby(qualifying, 4)
            {
                let found = ReadFound {
                    items: qualifying,
                    candidates: qualifying,
                };
                radii.push(next_radius(RADIUS_M, near.as_ref(), radius_m, found, 4));
            }
            // Every shop qualifies here: enough once 12 are within.
            if matches!(first, Reading::Fixed(_)) || enough_nearby(qualifying, 4) {
                break;
            }
        }
        figures.round_trips.push(step as f64);
        // What the match offered against what a whole read of its last
        // radius would have: ranking weighs rating and speed before
        // distance, so a read cut short can miss a better store it did
        // not read.
        if let Some((radius_m, offered)) = last {
            let within: Vec<Arc<Store>> = grocery
                .iter()
                .filter(|s| s.location.distance_m(customer) <= radius_m)
                .cloned()
                .collect();
            let whole = rank_candidates(&rice, customer, radius_m, within, &[]);
            let best: Vec<&StoreId> = whole.iter().take(4).map(|c| &c.store.id).collect();
            if best.iter().copied().eq(offered.iter()) {
                figures.same_four += 1;
            }
            figures.missed += best.iter().filter(|id| !offered.contains(id)).count();
            if let Some(twelfth) = whole.get(11).or(whole.last()) {
                let floor = rank_key(&twelfth.store);
                // The cells that hold a store within the radius: the fewest
                // any ranked read must query (one that knows only the crowd
                // map queries those that may hold one too).
                let cells: std::collections::HashSet<CellIndex> =
                    whole.iter().map(|c| store_crowd_cell(c.store.location)).collect();
                let items: usize = cells
                    .iter()
                    .filter_map(|cell| by_crowd_cell.get(cell))
                    .map(|keys| keys.iter().filter(|k| at_or_above(**k, floor)).count())
                    .sum();
                figures.ranked_items.push(items as f64);
                figures.ranked_cells.push(cells.len() as f64);
            }
        }
        figures.rcu_per_match.push(rcu);
        figures.items_per_match.push(read as f64);
    }
    figures.queries.sort_by(f64::total_cmp);
    figures.partitions.sort_by(f64::total_cmp);
    figures.rcu_per_match.sort_by(f64::total_cmp);
    figures.items_per_match.sort_by(f64::total_cmp);
    figures.round_trips.sort_by(f64::total_cmp);
    figures.ranked_items.sort_by(f64::total_cmp);
    figures.ranked_cells.sort_by(f64::total_cmp);
    figures
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    println!(
        "geo match cost: {CUSTOMERS} customers, radius {RADIUS_M} m, category grocery, city {} km square",
        2.0 * CITY_HALF_SIDE_M / 1000.0
    );
    println!(
        "{:<28} {:>8} {:>8} {:>8} {:>10} {:>10} {:>10} {:>10}",
        "city", "q p50", "q p95", "q max", "read p50", "read p95", "read max", "read/qual"
    );
    let only = std::env::var("ONLY").ok();
    for max_ranges in if only.is_some() {
        vec![]
    } else {
        vec![MAX_RANGES, 12, 16]
    } {
        for (density, clustered) in [(30.0, false), (60.0, false), (30.0, true), (60.0, true)] {
            let figures = run(density, clustered, max_ranges, 7).await;
            let label = format!(
                "{density}/km2 {} <={max_ranges}",
                if clustered { "clustered" } else { "uniform" }
            );
            println!(
                "{label:<28} {:>8.0} {:>8.0} {:>8.0} {:>10.2} {:>10.2} {:>10.2} {:>10.2}",
                percentile(&figures.queries, 0.5),
                percentile(&figures.queries, 0.95),
                percentile(&figures.queries, 1.0),
                percentile(&figures.ratio, 0.5),
                percentile(&figures.ratio, 0.95),
                percentile(&figures.ratio, 1.0),
                figures.read_total as f64 / figures.qualifying_total.max(1) as f64,
            );
        }
    }
    let grocery_matches_per_s = PEAK_ORDERS_PER_S * GROCERY_SHARE_OF_ORDERS;
    println!(
        "\npeak Dhaka: {DHAKA_STORES} stores over {:.0} km2, {grocery_matches_per_s} grocery matches/s, \
         partitions at H3 resolution {}, <= {MAX_RANGES} queries, geo item {GEO_ITEM_BYTES} B",
        (2.0 * DHAKA_HALF_SIDE_M / 1_000.0).powi(2),
        u8::from(PARTITION_RESOLUTION),
    );
    println!(
        "{:<28} {:>6} {:>6} {:>7} {:>7} {:>9} {:>15} {:>12} {:>9} {:>10} {:>9} {:>12} {:>10} {:>5} {:>6} {:>6} {:>16} {:>10}",
        "city",
        "q p50",
        "q max",
        "part50",
        "partmx",
        "read/qual",
        "items p50/99/mx",
        "trips (mean)",
        "RCU p50",
        "RCU/match",
        "parts",
        "top share",
        "top RCU/s",
        "cut",
        "same 4",
        "missed",
        "ranked p50/99/mx",
        "cells p50/mx"
    );
    let near = RADIUS_M / 4.0;
    for (layout, first) in [
        (Layout::Uniform, Reading::Fixed(near)),
        (Layout::Hubs, Reading::Fixed(near)),
        (Layout::Uniform, Reading::RememberedOrMap),
        (Layout::Hubs, Reading::RememberedOrMap),
        (Layout::Uniform, Reading::AlwaysMap),
        (Layout::Hubs, Reading::AlwaysMap),
        (Layout::Uniform, Reading::Fixed(RADIUS_M)),
        (Layout::Hubs, Reading::Fixed(RADIUS_M)),
        (Layout::Markets(400.0), Reading::RememberedOrMap),
        (Layout::Markets(400.0), Reading::AlwaysMap),
        (Layout::Markets(100.0), Reading::RememberedOrMap),
        (Layout::Markets(100.0), Reading::AlwaysMap),
    ] {
        let reach0 = match first {
            Reading::Fixed(r) => format!("{r} m"),
            Reading::RememberedOrMap => "remembered/map".to_string(),
            Reading::AlwaysMap => "cold, map".to_string(),
        };
        if let Some(only) = &only
            && !only
                .split(';')
                .any(|o| format!("{} {reach0}", layout.label()).contains(o))
        {
            continue;
        }
        let f = peak_dhaka(layout, first, 11).await;
        let total_rcu: f64 = f.by_partition.values().map(|(_, rcu)| rcu).sum();
        let top_rcu = f.by_partition.values().map(|(_, rcu)| *rcu).fold(0.0, f64::max);
        let rcu_per_match = total_rcu / f.matches as f64;
        let share = top_rcu / total_rcu.max(f64::MIN_POSITIVE);
        let reach = match first {
            Reading::Fixed(r) => format!("{r} m"),
            Reading::RememberedOrMap => "remembered/map".to_string(),
            Reading::AlwaysMap => "cold, map".to_string(),
        };
        let label = format!("{} {reach}", layout.label());
        println!(
            "{label:<28} {:>6.0} {:>6.0} {:>7.0} {:>7.0} {:>9.2} {:>15} {:>12} {:>9.1} {:>10.1} {:>9} {:>11.1}% {:>10.0} {:>5} {:>6} {:>6.2} {:>16} {:>10}{}",
            percentile(&f.queries, 0.5),
            percentile(&f.queries, 1.0),
            percentile(&f.partitions, 0.5),
            percentile(&f.partitions, 1.0),
            f.ratio_total.0 as f64 / f.ratio_total.1.max(1) as f64,
            p50_p99_max(&f.items_per_match),
            format!(
                "{:.0}/{:.0} ({:.2})",
                percentile(&f.round_trips, 0.5),
                percentile(&f.round_trips, 1.0),
                f.round_trips.iter().sum::<f64>() / f.round_trips.len().max(1) as f64
            ),
            percentile(&f.rcu_per_match, 0.5),
            rcu_per_match,
            f.by_partition.len(),
            share * 100.0,
            share * rcu_per_match * grocery_matches_per_s,
            f.cut,
            f.same_four,
            f.missed as f64 / f.matches as f64,
            p50_p99_max(&f.ranked_items),
            format!(
                "{:.0}/{:.0}",
                percentile(&f.ranked_cells, 0.5),
                percentile(&f.ranked_cells, 1.0)
            ),
            if share * rcu_per_match * grocery_matches_per_s > PARTITION_RCU {
                "  over 3,000"
            } else {
                ""
            },
        );
    }

    let centre = GeoPoint::new(CITY_CENTRE.0, CITY_CENTRE.1).expect("valid");
    let started = Instant::now();
    let mut ranges = 0;
    for i in 0..1_000 {
        ranges += search_plan(centre.offset(f64::from(i) * 0.36, f64::from(i)), RADIUS_M, MAX_RANGES).len();
    }
    println!(
        "planning: {:.1} µs per match ({ranges} ranges in total)",
        started.elapsed().as_secs_f64() * 1e6 / 1_000.0
    );
}
