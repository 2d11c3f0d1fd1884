//! Stores: who they are, where, what they sell, how they deliver.

use std::collections::BTreeSet;
use std::sync::LazyLock;

use serde::{Deserialize, Serialize};

use super::clock::Millis;
use super::customer::PhoneNumber;
use super::demand::Language;
use super::demand::catalogue::Catalogue;
use super::demand::item::catalogue_tag;
use super::geo::GeoPoint;
use super::ids::{CustomerId, StoreId};
use super::order::Offer;
use super::order::delivery::{DeliveryKind, DeliveryOption, default_delivery_options};

/// Most inventory tags a store may declare.
pub const MAX_TAGS: usize = 100;
/// Most characters in a store name, category or tag.
pub const MAX_LABEL_CHARS: usize = 80;

/// A registered store.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Store {
    pub id: StoreId,
    pub name: String,
    pub location: GeoPoint,
    pub category: String,
    pub tags: BTreeSet<String>,
    pub open: bool,
    pub delivery_options: Vec<DeliveryOption>,
    /// The language the store's device speaks offers in.
    #[serde(default = "default_store_language")]
    pub language: Language,
    /// Reviews and acceptance speed, which rank the store in later matches.
    #[serde(default)]
    pub stats: StoreStats,
    /// Whether the store may trade: only an active store is matched, goes
    /// online and accepts. Stores registered before onboarding existed (and
    /// `PUT /stores/{id}` by a store's own token) are active.
    #[serde(default)]
    pub status: StoreStatus,
    /// Why an operator suspended the store (while suspended).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suspended_reason: Option<String>,
    pub updated_at_ms: Millis,
}

/// Where a store stands with the operators.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum StoreStatus {
    /// Applied (`POST /store-applications`), awaiting an operator.
    Pending,
    /// Trading. The default, so every store written before statuses
    /// existed stays active.
    #[default]
    Active,
    /// Stopped by an operator: never matched, cannot go online or accept.
    Suspended,
}

/// What an operator does to a store's status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StatusChange {
    Approve,
    Suspend { reason: String },
    Reinstate,
}

/// Why a status change does not apply to the store as it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum StatusRefusal {
    #[error("only a pending store can be approved")]
    NotPending,
    #[error("the store is already suspended")]
    AlreadySuspended,
    #[error("only a suspended store can be reinstated")]
    NotSuspended,
    #[error("a reason of 1 to 500 characters is required")]
    InvalidReason,
}

impl StatusRefusal {
    /// The stable code clients see.
    #[must_use]
    pub fn code(self) -> &'static str {
        match self {
            StatusRefusal::NotPending => "not_pending",
            StatusRefusal::AlreadySuspended => "already_suspended",
            StatusRefusal::NotSuspended => "not_suspended",
            StatusRefusal::InvalidReason => "invalid_reason",
        }
    }
}

/// Most characters in a suspension reason.
pub const MAX_REASON_CHARS: usize = 500;

/// What customers thought and how fast the store answers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct StoreStats {
    pub rating_sum: u64,
    pub rating_count: u64,
    pub accept_ms_sum: u64,
    pub accept_count: u64,
}

impl StoreStats {
    /// Stars, pulled towards 3.5 while there are few reviews (two
    /// imaginary 3.5-star reviews), in half stars: 7 = 3.5 stars.
    #[must_use]
    pub fn rating_half_stars(&self) -> u64 {
        let (sum, count) = (self.rating_sum * 2 + 14, self.rating_count + 2);
        (sum + count / 2) / count
    }

    /// Average seconds to accept, in 10-second steps (30 s when unknown).
    #[must_use]
    pub fn accept_speed_step(&self) -> u64 {
        match self.accept_count {
            0 => 3,
            n => self.accept_ms_sum / n / 10_000,
        }
    }
}

/// Offers are spoken in English unless the store chooses Bangla.
#[must_use]
pub fn default_store_language() -> Language {
    Language::En
}

/// A store's application to join, as an operator reviews it: the store as
/// it will trade (status pending), the phone number its staff will sign in
/// with once approved, and the customer who sent it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoreApplication {
    pub store: Store,
    pub phone: PhoneNumber,
    pub applicant: CustomerId,
    pub applied_at_ms: Millis,
}

/// What a store sends to register or replace its profile.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StoreProfileInput {
    pub name: String,
    pub location: GeoPoint,
    pub category: String,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default = "default_open")]
    pub open: bool,
    #[serde(default)]
    pub delivery_options: Option<Vec<DeliveryOption>>,
    #[serde(default)]
    pub language: Option<Language>,
}

fn default_open() -> bool {
    true
}

/// What a store sends to change part of its profile.
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StorePatchInput {
    pub name: Option<String>,
    pub location: Option<GeoPoint>,
    pub category: Option<String>,
    pub tags: Option<Vec<String>>,
    pub open: Option<bool>,
    pub delivery_options: Option<Vec<DeliveryOption>>,
    pub language: Option<Language>,
}

/// Why a profile was refused; `field` names the offending field.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{field}: {problem}")]
pub struct InvalidStore {
    pub field: &'static str,
    pub problem: &'static str,
}

/// The categories a store may sell: those of the catalogue's items, so a
/// mistyped one ("grocey") is refused at once rather than never matched.
/// Worked out once, as the catalogue is.
static KNOWN_CATEGORIES: LazyLock<Vec<&'static str>> =
    LazyLock::new(|| Catalogue::builtin().map(Catalogue::categories).unwrap_or_default());

static CATEGORY_RULE: LazyLock<String> = LazyLock::new(|| format!("must be one of: {}", KNOWN_CATEGORIES.join(", ")));

fn category(raw: &str) -> Result<String, InvalidStore> {
    let value = label("category", raw)?.to_lowercase();
    let known = &*KNOWN_CATEGORIES;
    if known.is_empty() || known.contains(&value.as_str()) {
        Ok(value)
    } else {
        Err(InvalidStore {
            field: "category",
            problem: CATEGORY_RULE.as_str(),
        })
    }
}

fn label(field: &'static str, raw: &str) -> Result<String, InvalidStore> {
    let value = raw.trim();
    if value.is_empty() {
        return Err(InvalidStore {
            field,
            problem: "must not be empty",
        });
    }
    if value.chars().count() > MAX_LABEL_CHARS {
        return Err(InvalidStore {
            field,
            problem: "is longer than 80 characters",
        });
    }
    if value.chars().any(char::is_control) {
        return Err(InvalidStore {
            field,
            problem: "has control characters",
        });
    }
    Ok(value.to_string())
}

fn tags(raw: &[String]) -> Result<BTreeSet<String>, InvalidStore> {
    if raw.len() > MAX_TAGS {
        return Err(InvalidStore {
            field: "tags",
            problem: "at most 100 tags",
        });
    }
    raw.iter()
        .map(|t| {
            let tag = inventory_tag(&label("tags", t)?);
            if tag.is_empty() {
                return Err(InvalidStore {
                    field: "tags",
                    problem: "each tag names an item, with letters",
                });
            }
            Ok(tag)
        })
        .collect()
}

/// The tag a demand line for `name` carries: a catalogue item's own tag for
/// any of its names ("egg", "dim", "ডিম" are all `eggs`; "dal" is
/// `lentils`), else the name folded as an unknown line's is. A store that
/// lists what it sells in its own words still matches what customers ask.
#[must_use]
pub fn inventory_tag(name: &str) -> String {
    catalogue_tag(name).0
}

fn delivery(options: Vec<DeliveryOption>) -> Result<Vec<DeliveryOption>, InvalidStore> {
    if options.is_empty() || options.len() > 5 {
        return Err(InvalidStore {
            field: "delivery_options",
            problem: "between 1 and 5 options",
        });
    }
    for option in &options {
        let sane = match option {
            DeliveryOption::Pickup { ready_in_minutes } => *ready_in_minutes <= 24 * 60,
            DeliveryOption::HelperDelivery {
                within_minutes,
                fee_paisa,
            } => *within_minutes <= 24 * 60 && *fee_paisa <= 100_000,
        };
        if !sane {
            return Err(InvalidStore {
                field: "delivery_options",
                problem: "minutes at most 1440, fee at most 1000 Taka",
            });
        }
    }
    Ok(options)
}

impl Store {
    /// A checked profile for `id`.
    pub fn from_profile(id: StoreId, input: StoreProfileInput, now: Millis) -> Result<Self, InvalidStore> {
        Ok(Store {
            id,
            name: label("name", &input.name)?,
            location: input.location,
            category: category(&input.category)?,
            tags: tags(&input.tags)?,
            open: input.open,
            delivery_options: delivery(input.delivery_options.unwrap_or_else(default_delivery_options))?,
            language: input.language.unwrap_or_else(default_store_language),
            stats: StoreStats::default(),
            status: StoreStatus::Active,
            suspended_reason: None,
            updated_at_ms: now,
        })
    }

    /// Whether the store may trade: approved and not suspended. The one
    /// place a store's standing is read: to be matched, to accept, to be
    /// listed offers, to connect, to sign in, to send promotions.
    #[must_use]
    pub fn is_active(&self) -> bool {
        self.status == StoreStatus::Active
    }

    /// Whether the store may be offered orders: open and active.
    #[must_use]
    pub fn is_matchable(&self) -> bool {
        self.open && self.is_active()
    }

    /// Whether the store offers `wanted` (none asked: any store does).
    #[must_use]
    pub fn delivers(&self, wanted: Option<DeliveryKind>) -> bool {
        wanted.is_none_or(|kind| kind.among(&self.delivery_options).is_some())
    }

    /// The offer of an order `distance_m` away, on this store's terms and
    /// in its language.
    #[must_use]
    pub fn offer(&self, distance_m: f64) -> Offer {
        Offer {
            language: self.language,
            delivery_options: self.delivery_options.clone(),
            store_id: self.id.clone(),
            // Whole metres are plenty; the cast cannot overflow within 20 km.
            distance_m: distance_m.round() as u32,
        }
    }

    /// This store after an operator's `change` at `now`, or why it does not
    /// apply. `updated_at_ms` always moves forward, since storage writes a
    /// profile only over the `updated_at_ms` it was decided on.
    pub fn with_status(&self, change: &StatusChange, now: Millis) -> Result<Store, StatusRefusal> {
        let mut next = self.clone();
        match (change, self.status) {
            (StatusChange::Approve, StoreStatus::Pending) | (StatusChange::Reinstate, StoreStatus::Suspended) => {
                next.status = StoreStatus::Active;
                next.suspended_reason = None;
            }
            (StatusChange::Approve, _) => return Err(StatusRefusal::NotPending),
            (StatusChange::Reinstate, _) => return Err(StatusRefusal::NotSuspended),
            (StatusChange::Suspend { .. }, StoreStatus::Suspended) => return Err(StatusRefusal::AlreadySuspended),
            (StatusChange::Suspend { reason }, _) => {
                let reason = reason.trim();
                if reason.is_empty()
                    || reason.chars().count() > MAX_REASON_CHARS
                    || reason.chars().any(|c| c.is_control() && c != '\n')
                {
                    return Err(StatusRefusal::InvalidReason);
                }
                next.status = StoreStatus::Suspended;
                next.suspended_reason = Some(reason.to_string());
            }
        }
        next.updated_at_ms = now.max(self.updated_at_ms + 1);
        Ok(next)
    }

    /// This profile with the given fields changed.
    pub fn patched(&self, patch: StorePatchInput, now: Millis) -> Result<Self, InvalidStore> {
        let mut store = self.clone();
        if let Some(name) = patch.name {
            store.name = label("name", &name)?;
        }
        if let Some(location) = patch.location {
            store.location = location;
        }
        if let Some(category) = patch.category {
            store.category = self::category(&category)?;
        }
        if let Some(raw) = patch.tags {
            store.tags = tags(&raw)?;
        }
        if let Some(open) = patch.open {
            store.open = open;
        }
        if let Some(options) = patch.delivery_options {
            store.delivery_options = delivery(options)?;
        }
        if let Some(language) = patch.language {
            store.language = language;
        }
        store.updated_at_ms = now.max(self.updated_at_ms + 1);
        Ok(store)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store(status: StoreStatus) -> Store {
        let input: StoreProfileInput = serde_json::from_value(serde_json::json!({
            "name": "Karim Store",
            "location": {"lat": 23.79, "lng": 90.40},
            "category": "Grocery",
        }))
        .expect("profile");
        let mut store = Store::from_profile(StoreId::new("s1").expect("id"), input, 100).expect("valid");
        store.status = status;
        store
    }

    #[test]
    fn tags_in_a_shopkeepers_own_words_are_the_tags_orders_carry() {
        let patch = |tags: &[&str]| StorePatchInput {
            tags: Some(tags.iter().map(|t| (*t).to_string()).collect()),
            ..StorePatchInput::default()
        };
        let store = store(StoreStatus::Active)
            .patched(patch(&["Egg", "dal", "ডিম", "Green  Tea"]), 200)
            .expect("valid");
        let tags: Vec<&str> = store.tags.iter().map(String::as_str).collect();
        assert_eq!(tags, ["eggs", "green tea", "lentils"]);
        let order = crate::domain::demand::parse_demand_text("6 eggs, 1 kg dal").expect("parses");
        assert!(order.iter().all(|item| store.tags.contains(&item.tag)), "{order:?}");
        let refused = store.patched(patch(&["!!!"]), 300).expect_err("no letters");
        assert_eq!(refused.field, "tags");
    }

    #[test]
    fn a_category_the_catalogue_does_not_sell_is_refused_by_name() {
        let grocery = store(StoreStatus::Active);
        assert_eq!(grocery.category, "grocery");
        let patch = |category: &str| StorePatchInput {
            category: Some(category.into()),
            ..StorePatchInput::default()
        };
        let refused = grocery.patched(patch("grocey"), 200).expect_err("a typo");
        assert_eq!(refused.field, "category");
        assert!(
            refused.problem.contains("grocery") && refused.problem.contains("pharmacy"),
            "{refused}"
        );
        assert_eq!(
            grocery.patched(patch(" Pharmacy "), 200).map(|s| s.category),
            Ok("pharmacy".into())
        );
    }

    #[test]
    fn each_status_change_applies_only_from_its_status_and_moves_the_version_on() {
        use StatusChange::{Approve, Reinstate, Suspend};
        let suspend = Suspend {
            reason: " short weights ".into(),
        };
        let cases = [
            (StoreStatus::Pending, Approve, Ok(StoreStatus::Active)),
            (StoreStatus::Active, Approve, Err(StatusRefusal::NotPending)),
            (StoreStatus::Suspended, Approve, Err(StatusRefusal::NotPending)),
            (StoreStatus::Pending, suspend.clone(), Ok(StoreStatus::Suspended)),
            (StoreStatus::Active, suspend.clone(), Ok(StoreStatus::Suspended)),
            (StoreStatus::Suspended, suspend, Err(StatusRefusal::AlreadySuspended)),
            (StoreStatus::Suspended, Reinstate, Ok(StoreStatus::Active)),
            (StoreStatus::Active, Reinstate, Err(StatusRefusal::NotSuspended)),
            (StoreStatus::Pending, Reinstate, Err(StatusRefusal::NotSuspended)),
        ];
        for (from, change, expected) in cases {
            let before = store(from);
            // The same millisecond as the last write still moves it on.
            let after = before.with_status(&change, 100);
            assert_eq!(
                after.as_ref().map(|s| s.status).map_err(|e| *e),
                expected,
                "{from:?} {change:?}"
            );
            if let Ok(after) = after {
                assert!(after.updated_at_ms > before.updated_at_ms);
                assert_eq!(after.is_matchable(), after.status == StoreStatus::Active);
                match after.status {
                    StoreStatus::Suspended => assert_eq!(after.suspended_reason.as_deref(), Some("short weights")),
                    _ => assert_eq!(after.suspended_reason, None),
                }
            }
        }
        for reason in ["", "   ", &"x".repeat(501), "bad\u{0}"] {
            let refused = store(StoreStatus::Active).with_status(&Suspend { reason: reason.into() }, 200);
            assert_eq!(refused, Err(StatusRefusal::InvalidReason), "{reason:?}");
        }
    }

    #[test]
    fn stores_written_before_statuses_existed_are_active() {
        let mut json = serde_json::to_value(store(StoreStatus::Active)).expect("json");
        json.as_object_mut().expect("object").remove("status");
        let read: Store = serde_json::from_value(json).expect("reads");
        assert_eq!(read.status, StoreStatus::Active);
        assert!(read.is_matchable());
    }
}
