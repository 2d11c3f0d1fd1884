//! How much a store match reads: queries per match and items read against
//! the stores that truly qualify (within the radius, of the category), on a
//! synthetic dense city like Dhaka. Prints figures; asserts nothing about
//! speed. Run: `cargo bench -p shared --bench geo_match`.
//!
//! The embedded adapter executes the same search plan as the DynamoDB
//! adapter (one `Query` per cell range), so its counts are the DynamoDB
//! counts.

use std::time::Instant;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use shared::domain::geo::{GeoPoint, search_plan};
use shared::domain::ids::StoreId;
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

struct Figures {
    queries: Vec<f64>,
    ratio: Vec<f64>,
    read_total: usize,
    qualifying_total: usize,
}

async fn run(density_per_km2: f64, clustered: bool, max_ranges: usize, seed: u64) -> Figures {
    let mut rng = StdRng::seed_from_u64(seed);
    let centre = GeoPoint::new(CITY_CENTRE.0, CITY_CENTRE.1).expect("valid");
    let area_km2 = (2.0 * CITY_HALF_SIDE_M / 1_000.0).powi(2);
    let storage = MemoryStorage::default();
    let mut stores = Vec::new();
    let hubs: Vec<GeoPoint> = (0..40)
        .map(|_| point_in_city(&mut rng, centre, CITY_HALF_SIDE_M))
        .collect();
    let categories = [
        ("grocery", density_per_km2),
        ("meat", density_per_km2 / 4.0),
        ("pharmacy", density_per_km2 / 6.0),
    ];
    for (category, density) in categories {
        let count = (density * area_km2) as usize;
        for i in 0..count {
            let location = if clustered && rng.random_bool(0.7) {
                // 70% of shops bunch in 40 markets (Gaussian, sigma 400 m).
                let hub = hubs[rng.random_range(0..hubs.len())];
                let (u, v): (f64, f64) = (rng.random_range(f64::EPSILON..1.0), rng.random_range(0.0..1.0));
                let gaussian = (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos();
                hub.offset(rng.random_range(0.0..360.0), (400.0 * gaussian).abs())
            } else {
                point_in_city(&mut rng, centre, CITY_HALF_SIDE_M)
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
                stats: Default::default(),
                status: shared::domain::store::StoreStatus::Active,
                suspended_reason: None,
                updated_at_ms: 0,
            };
            storage.put_store(&store).await.expect("put");
            stores.push(store);
        }
    }
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
        let read = storage.stores_in_ranges("grocery", &plan).await.expect("read");
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
    for max_ranges in [MAX_RANGES, 12, 16] {
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
