//! The promotion port on the table (keys in docs/dynamodb.md): a customer's
//! consent beside their other records, buyers under one partition per
//! (item, cell), received promotions under the customer.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{AttributeValue, ConditionCheck, Delete, TransactWriteItem};

use super::{DynamoStorage, Item, from_item, key, n, now_s, repo_err, s, time_to_live, to_item};
use crate::domain::clock::Millis;
use crate::domain::geo::GeoPoint;
use crate::domain::ids::{CustomerId, PromotionId};
use crate::domain::limits::Versioned;
use crate::domain::promotion::{BuyerEntry, BuyerKey, PromotionConsent, ReceivedPromotion};
use crate::ports::{PromotionRepo, RepoError};

/// A buyer entry lapses a year after the purchase that wrote it last.
const BUYER_TTL_S: i64 = 365 * 24 * 3_600;
/// A received promotion stays a day after it lapsed, then TTL removes it.
const RECEIVED_TTL_S: i64 = 24 * 3_600;

fn consent_key(customer: &CustomerId) -> Item {
    key(format!("CUSTOMER#{customer}"), "PROMOTION_CONSENT")
}

/// One partition per item tag and buyer cell, one item per customer.
fn buyer_key(buyers: &BuyerKey, customer: &CustomerId) -> Item {
    key(buyer_partition(buyers), &format!("CUSTOMER#{customer}"))
}

fn buyer_partition(buyers: &BuyerKey) -> String {
    format!("BUYERS#{}#{:016x}", buyers.tag, buyers.cell)
}

fn received_key(customer: &CustomerId, id: &PromotionId) -> Item {
    key(format!("CUSTOMER#{customer}"), &format!("PROMOTION#{id}"))
}

fn buyer_from_item(item: &Item) -> Option<BuyerEntry> {
    let text = |name: &str| item.get(name).and_then(|v| v.as_s().ok());
    let number = |name: &str| {
        item.get(name)
            .and_then(|v| v.as_n().ok())
            .and_then(|v| v.parse::<f64>().ok())
    };
    Some(BuyerEntry {
        key: BuyerKey {
            tag: text("tag")?.clone(),
            cell: u64::from_str_radix(text("cell")?, 16).ok()?,
        },
        customer: CustomerId::new(text("customer")?.as_str()).ok()?,
        location: GeoPoint::new(number("lat")?, number("lng")?).ok()?,
    })
}

fn received_from_item(mut item: Item) -> Result<ReceivedPromotion, RepoError> {
    match item.remove("received") {
        Some(AttributeValue::M(map)) => from_item(map),
        _ => Err(RepoError::msg("a received promotion item without its promotion")),
    }
}

impl PromotionRepo for DynamoStorage {
    async fn promotion_consent(&self, customer: &CustomerId) -> Result<Versioned<PromotionConsent>, RepoError> {
        self.versioned_get(consent_key(customer), "consent").await
    }

    async fn replace_promotion_consent(
        &self,
        customer: &CustomerId,
        version: u64,
        next: &PromotionConsent,
        add: &[BuyerEntry],
        remove: &[BuyerKey],
    ) -> Result<bool, RepoError> {
        // At most 1 + 2 × MAX_INDEXED_PER_CUSTOMER writes: one transaction.
        let mut writes = vec![self.versioned_put(consent_key(customer), "consent", next, version, None)?];
        for entry in add {
            let mut item = buyer_key(&entry.key, customer);
            item.insert("customer".into(), s(customer.as_str()));
            item.insert("tag".into(), s(entry.key.tag.clone()));
            item.insert("cell".into(), s(format!("{:016x}", entry.key.cell)));
            item.insert("lat".into(), n(entry.location.lat()));
            item.insert("lng".into(), n(entry.location.lng()));
            item.insert("ttl".into(), n(now_s() + BUYER_TTL_S));
            writes.push(self.put(item, None)?);
        }
        for buyers in remove.iter().filter(|k| !add.iter().any(|a| &a.key == *k)) {
            let delete = Delete::builder()
                .table_name(&self.table)
                .set_key(Some(buyer_key(buyers, customer)))
                .build()
                .map_err(repo_err)?;
            writes.push(TransactWriteItem::builder().delete(delete).build());
        }
        self.write_if_conditions_hold(writes).await
    }

    async fn buyers(&self, keys: &[BuyerKey]) -> Result<Vec<BuyerEntry>, RepoError> {
        let reads = keys.iter().map(|buyers| {
            self.query_all(
                "pk = :pk",
                HashMap::new(),
                Item::from([(":pk".to_string(), s(buyer_partition(buyers)))]),
                None,
            )
        });
        let mut entries = Vec::new();
        for read in futures_util::future::join_all(reads).await {
            entries.extend(read?.0.iter().filter_map(buyer_from_item));
        }
        Ok(entries)
    }

    async fn deliver_promotion(&self, customer: &CustomerId, received: &ReceivedPromotion) -> Result<bool, RepoError> {
        let check = ConditionCheck::builder()
            .table_name(&self.table)
            .set_key(Some(consent_key(customer)))
            .condition_expression("consent.opted_in = :yes")
            .expression_attribute_values(":yes", AttributeValue::Bool(true))
            .build()
            .map_err(repo_err)?;
        let mut item = received_key(customer, &received.promotion.id);
        item.insert("received".into(), AttributeValue::M(to_item(received)?));
        item.insert(
            "ttl".into(),
            time_to_live(RECEIVED_TTL_S, received.promotion.valid_until_ms),
        );
        let writes = vec![
            TransactWriteItem::builder().condition_check(check).build(),
            self.put(item, None)?,
        ];
        self.write_if_conditions_hold(writes).await
    }

    async fn received_promotions(
        &self,
        customer: &CustomerId,
        now: Millis,
    ) -> Result<Vec<ReceivedPromotion>, RepoError> {
        let (items, _) = self
            .query_all(
                "pk = :pk AND begins_with(sk, :prefix)",
                HashMap::new(),
                Item::from([
                    (":pk".to_string(), s(format!("CUSTOMER#{customer}"))),
                    (":prefix".to_string(), s("PROMOTION#")),
                ]),
                None,
            )
            .await?;
        let mut received = Vec::with_capacity(items.len());
        for item in items {
            let one = received_from_item(item)?;
            if one.promotion.valid_until_ms > now {
                received.push(one);
            }
        }
        // Ids are ULIDs: the newest sorts last.
        received.reverse();
        Ok(received)
    }

    async fn received_promotion(
        &self,
        customer: &CustomerId,
        id: &PromotionId,
    ) -> Result<Option<ReceivedPromotion>, RepoError> {
        self.get(received_key(customer, id))
            .await?
            .map(received_from_item)
            .transpose()
    }
}
