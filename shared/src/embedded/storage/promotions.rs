//! The promotion port in memory, under the same lock as every table.

use std::collections::{BTreeMap, HashMap};

use super::{MemoryStorage, replace_at};
use crate::domain::clock::Millis;
use crate::domain::ids::{CustomerId, PromotionId};
use crate::domain::limits::Versioned;
use crate::domain::promotion::{BuyerEntry, BuyerKey, PromotionConsent, ReceivedPromotion};
use crate::ports::{PromotionRepo, RepoError};

#[derive(Debug, Default)]
pub(super) struct PromotionTables {
    consents: HashMap<CustomerId, Versioned<PromotionConsent>>,
    /// Buyers by key, then customer: one entry per customer and key.
    buyers: HashMap<BuyerKey, BTreeMap<CustomerId, BuyerEntry>>,
    received: HashMap<CustomerId, BTreeMap<PromotionId, ReceivedPromotion>>,
}

impl PromotionRepo for MemoryStorage {
    async fn promotion_consent(&self, customer: &CustomerId) -> Result<Versioned<PromotionConsent>, RepoError> {
        Ok(self
            .tables()
            .promotions
            .consents
            .get(customer)
            .cloned()
            .unwrap_or_default())
    }

    async fn replace_promotion_consent(
        &self,
        customer: &CustomerId,
        version: u64,
        next: &PromotionConsent,
        add: &[BuyerEntry],
        remove: &[BuyerKey],
    ) -> Result<bool, RepoError> {
        let mut t = self.tables();
        let tables = &mut t.promotions;
        if !replace_at(&mut tables.consents, customer.clone(), version, next.clone()) {
            return Ok(false);
        }
        for key in remove {
            if let Some(under) = tables.buyers.get_mut(key) {
                under.remove(customer);
            }
        }
        for entry in add {
            tables
                .buyers
                .entry(entry.key.clone())
                .or_default()
                .insert(entry.customer.clone(), entry.clone());
        }
        Ok(true)
    }

    async fn buyers(&self, keys: &[BuyerKey]) -> Result<Vec<BuyerEntry>, RepoError> {
        let t = self.tables();
        Ok(keys
            .iter()
            .filter_map(|key| t.promotions.buyers.get(key))
            .flat_map(|under| under.values().cloned())
            .collect())
    }

    async fn deliver_promotion(&self, customer: &CustomerId, received: &ReceivedPromotion) -> Result<bool, RepoError> {
        let mut t = self.tables();
        let tables = &mut t.promotions;
        let opted_in = tables.consents.get(customer).is_some_and(|c| c.value.opted_in);
        if opted_in {
            tables
                .received
                .entry(customer.clone())
                .or_default()
                .insert(received.promotion.id.clone(), received.clone());
        }
        Ok(opted_in)
    }

    async fn received_promotions(
        &self,
        customer: &CustomerId,
        now: Millis,
    ) -> Result<Vec<ReceivedPromotion>, RepoError> {
        let t = self.tables();
        Ok(t.promotions
            .received
            .get(customer)
            .map(|all| {
                all.values()
                    .rev()
                    .filter(|r| r.promotion.valid_until_ms > now)
                    .cloned()
                    .collect()
            })
            .unwrap_or_default())
    }

    async fn received_promotion(
        &self,
        customer: &CustomerId,
        id: &PromotionId,
    ) -> Result<Option<ReceivedPromotion>, RepoError> {
        let t = self.tables();
        Ok(t.promotions.received.get(customer).and_then(|all| all.get(id)).cloned())
    }
}
