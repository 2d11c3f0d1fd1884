//! Notifications that reach a party whose app is closed: receipts by SMS to
//! customers, and offers by mobile push to stores. Each is sent at most once
//! per order, event and party (its [`Notice::key`] is claimed before it is
//! sent), respects the customer's opt-out, and never carries the
//! customer's phone number or position to a store.

use serde::{Deserialize, Serialize};

use super::events::{EventBody, PushEvent};
use super::ids::{Caller, OrderId};
use super::order::Order;
use super::order::views::OfferView;

/// The events that are notified outside the app.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoticeKind {
    /// To the customer: a store accepted (SMS receipt).
    Accepted,
    /// To the customer: the order is completed (SMS receipt).
    Completed,
    /// To a store without a live socket: an offer of one round (mobile push).
    Offer,
}

impl NoticeKind {
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            NoticeKind::Accepted => "accepted",
            NoticeKind::Completed => "completed",
            NoticeKind::Offer => "offer",
        }
    }
}

/// One notification of one order's event to one party.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub order_id: OrderId,
    pub kind: NoticeKind,
    /// The round an offer belongs to (0 for receipts: one per order).
    pub round: u32,
    pub recipient: Caller,
}

impl Notice {
    /// What makes it unique: claimed once before it is sent, so a retried
    /// request or a timer delivered twice never sends it again.
    #[must_use]
    pub fn key(&self) -> String {
        format!(
            "{}#{}#{}#{}",
            self.order_id,
            self.kind.as_str(),
            self.round,
            self.recipient.key()
        )
    }
}

/// The receipt a customer gets by SMS when a store accepts and when the
/// order completes: the order, the store's name, and the link that tracks
/// it. Nothing else (no phone numbers, no address).
#[must_use]
pub fn receipt_text(kind: NoticeKind, order: &Order, tracking_link: &str) -> Option<String> {
    let store = order.winner().map(|w| w.store_name.as_str())?;
    let id = order.id();
    match kind {
        NoticeKind::Accepted => Some(format!("{store} accepted your order {id}. Track it: {tracking_link}")),
        NoticeKind::Completed => Some(format!(
            "Your order {id} from {store} is complete. Receipt: {tracking_link}"
        )),
        NoticeKind::Offer => None,
    }
}

/// The link that tracks `order` in the app: `{base}/app/customer/?order={id}`.
#[must_use]
pub fn tracking_link(base_url: &str, order: &OrderId) -> String {
    // The customer app's page for the order (it opens it after sign-in),
    // not the JSON route: a text's link is opened in a browser.
    format!("{}/app/customer/?order={order}", base_url.trim_end_matches('/'))
}

/// The mobile push that alerts a store of its offer: the same event a
/// socket gets (the [`OfferView`], which carries neither the customer's
/// phone nor position), with the notice's key as its event id so the app
/// drops a duplicate.
#[must_use]
pub fn offer_push(order: &Order, notice: &Notice) -> Option<PushEvent> {
    let Caller::Store(store) = &notice.recipient else {
        return None;
    };
    let offer = OfferView::of(order, store)?;
    let mut event = PushEvent::new(order.id(), order.version(), EventBody::Offer { offer });
    event.event_id = notice.key();
    Some(event)
}

/// A device's push token as its app registered it (an FCM or APNs token):
/// printable ASCII without spaces, 8 to 4096 characters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceToken(String);

/// A push token that cannot be one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a device token is 8 to 4096 printable characters without spaces")]
pub struct InvalidDeviceToken;

impl DeviceToken {
    /// # Errors
    /// Too short, too long, or with spaces or control characters.
    pub fn new(raw: &str) -> Result<Self, InvalidDeviceToken> {
        let fits = (8..=4096).contains(&raw.len()) && raw.bytes().all(|b| b.is_ascii_graphic());
        if fits {
            Ok(DeviceToken(raw.to_string()))
        } else {
            Err(InvalidDeviceToken)
        }
    }

    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Where pushes to one party's device go (an SNS platform endpoint ARN on
/// AWS).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Device {
    pub endpoint: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_name_order_event_round_and_party() {
        let order_id = OrderId::new("01JORDER").expect("valid");
        let notice = Notice {
            order_id: order_id.clone(),
            kind: NoticeKind::Offer,
            round: 2,
            recipient: Caller::parse("store:s1").expect("valid"),
        };
        assert_eq!(notice.key(), "01JORDER#offer#2#store:s1");
        let next_round = Notice {
            round: 3,
            ..notice.clone()
        };
        assert_ne!(notice.key(), next_round.key());
        assert_eq!(
            tracking_link("https://app.example/", &order_id),
            "https://app.example/app/customer/?order=01JORDER"
        );
    }

    #[test]
    fn device_tokens_are_checked() {
        assert!(DeviceToken::new("fcm-token-0123").is_ok());
        assert!(DeviceToken::new("short").is_err());
        assert!(DeviceToken::new("has a space in it").is_err());
    }
}
