//! Choosing which stores get an offer.

use std::cmp::Ordering;
use std::collections::HashMap;
use std::sync::Arc;

use h3o::{CellIndex, Resolution};

use super::clock::Millis;
use super::demand::{DemandItem, demand_categories};
use super::geo::GeoPoint;
use super::ids::StoreId;
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
    let categories = demand_categories(items);
    let mut candidates: Vec<Candidate> = stores
        .into_iter()
        .filter(|s| s.is_matchable() && !exclude.contains(&s.id) && categories.contains(&s.category))
        .filter_map(|store| {
            let distance_m = customer.distance_m(store.location);
            if distance_m > radius_m {
                return None;
            }
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

/// The geo items a match's first read aims to stay within.
pub const FIRST_READ_ITEMS: f64 = 100.0;

/// The first radius is never less than this share of the whole: in the
/// densest market known (about 1,500 items per km2) a sixteenth of 2 km
/// reads about 75.
const SMALLEST_FIRST_SHARE: f64 = 1.0 / 32.0;

/// The radii a match reads, nearest first, widening while too few qualify.
///
/// `items_per_km2` is how crowded the place is (geo items read per km2 by
/// the last match here, [`CrowdMemory`]). Unknown: a quarter of the
/// radius, then all of it; at city density the near read alone has enough
/// candidates (about 55 stores within 500 m at 70 shops per km2, instead
/// of 870 within 2 km). Known: the whole radius at once where even that
/// reads at most [`FIRST_READ_ITEMS`] (a sparse town: one read, not two);
/// else the largest of a quarter, an eighth, ... (down to
/// [`SMALLEST_FIRST_SHARE`]) that reads at most that many, then four times
/// wider each step up to the whole (a market of 1,200 shops: 125 m, 500
/// m, 2 km).
#[must_use]
pub fn search_radii(radius_m: f64, items_per_km2: Option<f64>) -> Vec<f64> {
    let Some(density) = items_per_km2.filter(|d| d.is_finite() && *d >= 0.0) else {
        return vec![radius_m / 4.0, radius_m];
    };
    let items = |r: f64| density * std::f64::consts::PI * (r / 1000.0).powi(2);
    if items(radius_m) <= FIRST_READ_ITEMS {
        return vec![radius_m];
    }
    let mut first = radius_m / 4.0;
    while items(first) > FIRST_READ_ITEMS && first / 2.0 >= radius_m * SMALLEST_FIRST_SHARE {
        first /= 2.0;
    }
    let mut radii = vec![first];
    let mut next = first * 4.0;
    while next < radius_m {
        radii.push(next);
        next *= 4.0;
    }
    radii.push(radius_m);
    radii
}

/// How long what a match read stays a guide for the next one there.
pub const CROWD_MEMORY_MS: Millis = 10 * 60 * 1000;

/// Places remembered before the oldest are forgotten (a city's
/// resolution-8 cells times its categories, with room to spare).
const CROWD_MEMORY_PLACES: usize = 50_000;

/// How crowded places were when matches last read there: geo items read
/// per km2, by category and the customer's resolution-8 cell (about 0.7
/// km2), from the first read of each match. Held by each running process
/// (a Lambda learns a place on its first match there), so a match inside a
/// market of a thousand shops reads about [`FIRST_READ_ITEMS`] instead of
/// all of them; it only changes how far the first read goes, never which
/// rule chooses.
#[derive(Debug, Default)]
pub struct CrowdMemory {
    places: HashMap<(String, CellIndex), (Millis, f64)>,
}

impl CrowdMemory {
    /// Items per km2 the demand's categories had here, if every one of them
    /// was read here within [`CROWD_MEMORY_MS`].
    #[must_use]
    pub fn recall(&self, categories: &[String], at: GeoPoint, now: Millis) -> Option<f64> {
        let cell = at.cell(Resolution::Eight);
        categories
            .iter()
            .map(|c| {
                self.places
                    .get(&(c.clone(), cell))
                    .filter(|(seen, _)| now - seen < CROWD_MEMORY_MS)
                    .map(|(_, density)| *density)
            })
            .sum()
    }

    /// Remembers that a read of `category` within `radius_m` of `at` returned
    /// `items`.
    pub fn learn(&mut self, category: &str, at: GeoPoint, radius_m: f64, items: usize, now: Millis) {
        if radius_m <= 0.0 {
            return;
        }
        if self.places.len() >= CROWD_MEMORY_PLACES {
            self.places.retain(|_, (seen, _)| now - *seen < CROWD_MEMORY_MS);
            if self.places.len() >= CROWD_MEMORY_PLACES {
                self.places.clear();
            }
        }
        #[allow(clippy::cast_precision_loss)] // item counts are far below 2^52
        let density = items as f64 / (std::f64::consts::PI * (radius_m / 1000.0).powi(2));
        self.places
            .insert((category.to_string(), at.cell(Resolution::Eight)), (now, density));
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
    use crate::domain::geo::{search_plan, store_partition};
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

    #[test]
    fn the_first_read_is_as_wide_as_about_a_hundred_items_allow() {
        let r = 2_000.0;
        assert_eq!(search_radii(r, None), [500.0, 2_000.0], "unknown: a quarter, then all");
        assert_eq!(search_radii(r, Some(105.0)), [500.0, 2_000.0], "city density");
        assert_eq!(search_radii(r, Some(4.0)), [2_000.0], "a sparse town: one read");
        assert_eq!(
            search_radii(r, Some(1_900.0)),
            [125.0, 500.0, 2_000.0],
            "inside a market"
        );
        assert_eq!(
            search_radii(r, Some(1.0e7)),
            [62.5, 250.0, 1_000.0, 2_000.0],
            "never narrower than a 32nd"
        );
        for density in [0.0, 4.0, 30.0, 105.0, 400.0, 1_900.0, 5_000.0] {
            let radii = search_radii(r, Some(density));
            let first = radii[0];
            let items = density * std::f64::consts::PI * (first / 1000.0).powi(2);
            assert!(items <= FIRST_READ_ITEMS, "{density}/km2 reads {items} first");
            assert_eq!(radii.last(), Some(&r), "ends at the whole radius");
            assert!(radii.windows(2).all(|w| w[0] < w[1]), "{radii:?}");
        }
    }

    #[test]
    fn a_place_is_remembered_per_category_and_forgotten_after_a_while() {
        let here = GeoPoint::new(23.7925, 90.4078).expect("valid");
        let across_town = here.offset(0.0, 3_000.0);
        let grocery = vec!["grocery".to_string()];
        let both = vec!["grocery".to_string(), "pharmacy".to_string()];
        let mut memory = CrowdMemory::default();
        assert_eq!(memory.recall(&grocery, here, 0), None);
        // 150 items within 500 m: about 191 per km2.
        memory.learn("grocery", here, 500.0, 150, 0);
        let density = memory.recall(&grocery, here, 1_000).expect("known");
        assert!((density - 191.0).abs() < 1.0, "{density}");
        assert_eq!(memory.recall(&both, here, 1_000), None, "pharmacy not read here");
        assert_eq!(memory.recall(&grocery, across_town, 1_000), None, "another place");
        memory.learn("pharmacy", here, 500.0, 10, 0);
        let together = memory.recall(&both, here, 1_000).expect("both known");
        assert!(together > density, "categories add up");
        assert_eq!(memory.recall(&grocery, here, CROWD_MEMORY_MS), None, "forgotten");
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
