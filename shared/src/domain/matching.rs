//! Choosing which stores get an offer.

use std::cmp::Ordering;
use std::sync::Arc;

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

/// The radii a match reads, nearest first: a quarter of the radius, then
/// all of it. At city density the near read alone has enough candidates,
/// so a match reads tens of stores instead of every store within the
/// radius (about 870 within 2 km at 70 shops per km2).
#[must_use]
pub fn search_radii(radius_m: f64) -> [f64; 2] {
    [radius_m / 4.0, radius_m]
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
