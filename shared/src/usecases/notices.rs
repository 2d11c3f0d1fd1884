//! Notifications outside the app: SMS receipts to customers, mobile pushes
//! of offers to stores whose app is closed, and the routes that set them
//! up (a device's push token, a customer's opt-out). Each notice is claimed
//! (one conditional write per order, event and party) before it is sent,
//! so a retried request or a timer delivered twice never sends it again;
//! a send that fails after its claim is not retried (at most once: a
//! receipt or an alert twice is worse than once missed, and the app shows
//! the state anyway). Failures are logged, never returned: the order's
//! change is already written.

use tracing::{info, warn};

use super::Unavailable;
use super::connections::Presence;
use crate::domain::clock::Millis;
use crate::domain::config::{NotificationConfig, OrderingConfig};
use crate::domain::ids::{Caller, CustomerId, StoreId};
use crate::domain::notification::{
    DeviceToken, InvalidDeviceToken, Notice, NoticeKind, offer_push, receipt_text, tracking_link,
};
use crate::domain::order::Order;
use crate::ports::{ConnectionRepo, NotificationRepo, Notifications, RepoError};

/// How long a claimed notice is remembered: far longer than any order
/// takes, after which its item lapses (TTL).
const NOTICE_KEPT_MS: Millis = 30 * 24 * 3600 * 1000;

/// Sends receipts and offer pushes.
pub struct Notices<'a, R> {
    pub(super) repo: &'a R,
    pub(super) notifications: &'a dyn Notifications,
    pub(super) config: &'a NotificationConfig,
    pub(super) ordering: &'a OrderingConfig,
    pub(super) now: Millis,
}

#[derive(Debug, thiserror::Error)]
pub enum DeviceError {
    #[error(transparent)]
    Invalid(#[from] InvalidDeviceToken),
    /// The push service refused or could not be reached (or this
    /// deployment has no push platform application).
    #[error("push registration unavailable: {0}")]
    PushUnavailable(String),
    #[error(transparent)]
    Unavailable(#[from] Unavailable),
}

impl From<RepoError> for DeviceError {
    fn from(e: RepoError) -> Self {
        Self::Unavailable(e.into())
    }
}

// By hand: a derive would ask the repository to be `Clone`.
impl<R> Clone for Notices<'_, R> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<R> Copy for Notices<'_, R> {}

impl<R: NotificationRepo + ConnectionRepo> Notices<'_, R> {
    /// Registers `caller`'s device for mobile pushes (its app's push
    /// token); a new token replaces the old one.
    pub async fn register_device(&self, caller: &Caller, token: &str) -> Result<(), DeviceError> {
        let token = DeviceToken::new(token)?;
        let device = self
            .notifications
            .register_device(&token)
            .await
            .map_err(|e| DeviceError::PushUnavailable(e.to_string()))?;
        self.repo.put_device(caller, &device).await?;
        info!(caller = %caller.key(), "device registered for pushes");
        Ok(())
    }

    /// Whether the customer gets SMS receipts (they do unless they say no).
    pub async fn set_receipts_opt_out(&self, customer: &CustomerId, opted_out: bool) -> Result<(), Unavailable> {
        self.repo.set_receipts_opt_out(customer, opted_out).await?;
        Ok(())
    }

    /// The customer's SMS receipt for `kind` (acceptance, completion) of
    /// `order`, with its tracking link: only to a verified number, not
    /// after an opt-out, once.
    pub async fn receipt(&self, order: &Order, kind: NoticeKind) {
        if let Err(e) = self.try_receipt(order, kind).await {
            warn!(error = %e, order_id = %order.id(), kind = kind.as_str(), "receipt not sent");
        }
    }

    async fn try_receipt(
        &self,
        order: &Order,
        kind: NoticeKind,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        let Some(phone) = self.repo.receipt_phone(order.customer_id()).await? else {
            return Ok(());
        };
        let link = tracking_link(&self.config.tracking_base_url, order.id());
        let Some(text) = receipt_text(kind, order, &link) else {
            return Ok(());
        };
        let notice = Notice {
            order_id: order.id().clone(),
            kind,
            round: 0,
            recipient: crate::domain::ids::Caller::Customer(order.customer_id().clone()),
        };
        if !self.repo.claim_notice(&notice.key(), self.now, NOTICE_KEPT_MS).await? {
            return Ok(());
        }
        self.notifications.send_sms(&phone, &text).await?;
        info!(order_id = %order.id(), kind = kind.as_str(), "receipt sent");
        Ok(())
    }

    /// Alerts by mobile push the stores of `order`'s current round that
    /// have no live socket (`known` lists sockets already read; others are
    /// read) and a registered device: once per order, round and store.
    /// Nothing when pushing to closed apps is off.
    pub async fn alert_offline_stores(&self, order: &Order, known: &Presence) {
        if !self.ordering.push_offline_stores || order.offers().is_empty() {
            return;
        }
        if let Err(e) = self.try_alert(order, known).await {
            warn!(error = %e, order_id = %order.id(), "offer pushes not sent");
        }
    }

    async fn try_alert(&self, order: &Order, known: &Presence) -> Result<(), RepoError> {
        let owners: Vec<Caller> = order
            .offers()
            .iter()
            .map(|o| Caller::Store(o.store_id.clone()))
            .collect();
        let unknown: Vec<Caller> = owners.iter().filter(|o| !known.contains_key(*o)).cloned().collect();
        let mut presence = known.clone();
        if !unknown.is_empty() {
            let found = self.repo.connections_of_many(&unknown).await?;
            presence.extend(unknown.into_iter().zip(found));
        }
        let offline: Vec<Caller> = owners
            .into_iter()
            .filter(|o| presence.get(o).is_none_or(Vec::is_empty))
            .collect();
        if offline.is_empty() {
            return Ok(());
        }
        let devices = self.repo.devices_of_many(&offline).await?;
        let sends = offline.into_iter().zip(devices).filter_map(|(owner, device)| {
            let device = device?;
            let notice = Notice {
                order_id: order.id().clone(),
                kind: NoticeKind::Offer,
                round: order.round(),
                recipient: owner,
            };
            Some(async move {
                match self.repo.claim_notice(&notice.key(), self.now, NOTICE_KEPT_MS).await {
                    Ok(true) => {}
                    Ok(false) => return,
                    Err(e) => {
                        warn!(error = %e, "could not claim an offer push");
                        return;
                    }
                }
                let Some(event) = offer_push(order, &notice) else {
                    return;
                };
                let payload = match serde_json::to_string(&event) {
                    Ok(payload) => payload,
                    Err(e) => {
                        warn!(error = %e, "could not serialise an offer push");
                        return;
                    }
                };
                match self.notifications.push_to_device(&device, &payload).await {
                    Ok(()) => info!(order_id = %order.id(), round = order.round(), "offer pushed to a closed app"),
                    Err(e) => warn!(error = %e, order_id = %order.id(), "offer push failed"),
                }
            })
        });
        futures_util::future::join_all(sends).await;
        Ok(())
    }

    /// Of `stores` (offline candidates), those with a registered device,
    /// when pushing to closed apps is on (nothing otherwise).
    pub async fn reachable_by_push(&self, stores: &[StoreId]) -> Result<Vec<StoreId>, RepoError> {
        if !self.ordering.push_offline_stores || stores.is_empty() {
            return Ok(Vec::new());
        }
        let owners: Vec<Caller> = stores.iter().map(|s| Caller::Store(s.clone())).collect();
        let devices = self.repo.devices_of_many(&owners).await?;
        Ok(stores
            .iter()
            .zip(devices)
            .filter_map(|(store, device)| device.map(|_| store.clone()))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::domain::demand::{Language, parse_demand_text};
    use crate::domain::geo::GeoPoint;
    use crate::domain::ids::OrderId;
    use crate::domain::notification::Device;
    use crate::domain::order::money::PaymentMethod;
    use crate::domain::order::{NewOrder, Offer};
    use crate::embedded::{EmbeddedNotifications, EmbeddedTexts, MemoryStorage};

    /// An offer alert runs twice (a retried request, a timer delivered
    /// twice): the claim lets one push out; a store with a socket or
    /// without a device gets none.
    #[tokio::test]
    async fn an_offer_is_pushed_once_and_only_to_a_closed_app_with_a_device() {
        let storage = MemoryStorage::default();
        let notifications = EmbeddedNotifications::new(Arc::new(EmbeddedTexts::default()));
        let ordering = OrderingConfig {
            push_offline_stores: true,
            ..OrderingConfig::default()
        };
        let config = NotificationConfig::default();
        let notices = Notices {
            repo: &storage,
            notifications: &notifications,
            config: &config,
            ordering: &ordering,
            now: 1_000,
        };
        let store = |id: &str| StoreId::new(id).expect("id");
        for id in ["closed", "online"] {
            let device = Device {
                endpoint: format!("local:endpoint/{id}"),
            };
            storage
                .put_device(&Caller::Store(store(id)), &device)
                .await
                .expect("stored");
        }
        let offers = ["closed", "online", "no-device"]
            .iter()
            .map(|id| Offer {
                store_id: store(id),
                distance_m: 400,
                language: Language::En,
                delivery_options: Vec::new(),
            })
            .collect();
        let new = NewOrder {
            id: OrderId::generate(),
            customer_id: CustomerId::new("c1").expect("id"),
            items: parse_demand_text("2 kg rice").expect("parses"),
            location: GeoPoint::new(23.8, 90.4).expect("valid"),
            delivery: None,
            payment: PaymentMethod::default(),
            address: None,
        };
        let order = Order::open(new, offers, 1_000, 60_000);
        let known = Presence::from([(
            Caller::Store(store("online")),
            vec![crate::domain::ids::ConnectionId::new("conn-1").expect("id")],
        )]);
        notices.alert_offline_stores(&order, &known).await;
        notices.alert_offline_stores(&order, &known).await;
        let pushes = notifications.sent().push;
        assert_eq!(pushes.len(), 1, "{pushes:?}");
        assert_eq!(pushes[0].endpoint, "local:endpoint/closed");
        assert!(
            pushes[0]
                .message
                .contains(&format!("{}#offer#1#store:closed", order.id()))
        );
    }
}
