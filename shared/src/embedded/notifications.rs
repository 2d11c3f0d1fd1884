//! Notifications on the local stack: nothing leaves the machine. Every SMS
//! and mobile push is recorded in order (and each SMS also lands in the
//! local outbox of texts), for the local stack's development route and
//! tests only.

use std::sync::{Arc, Mutex, PoisonError};

use serde::Serialize;

use super::texts::EmbeddedTexts;
use crate::domain::customer::PhoneNumber;
use crate::domain::notification::{Device, DeviceToken};
use crate::ports::{Notifications, NotifyFuture, TextMessages};

/// One SMS as sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SentSms {
    pub phone_number: String,
    pub message: String,
}

/// One mobile push as sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SentPush {
    pub endpoint: String,
    pub message: String,
}

/// Everything sent so far, oldest first.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Sent {
    pub sms: Vec<SentSms>,
    pub push: Vec<SentPush>,
}

/// The local record of notifications.
#[derive(Debug, Default)]
pub struct EmbeddedNotifications {
    texts: Arc<EmbeddedTexts>,
    sent: Mutex<Sent>,
}

impl EmbeddedNotifications {
    /// SMS also go to `texts`, the outbox `GET /dev/sms/{phone}` reads.
    #[must_use]
    pub fn new(texts: Arc<EmbeddedTexts>) -> Self {
        EmbeddedNotifications {
            texts,
            sent: Mutex::default(),
        }
    }

    #[must_use]
    pub fn sent(&self) -> Sent {
        self.sent.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }
}

impl Notifications for EmbeddedNotifications {
    fn send_sms<'a>(&'a self, to: &'a PhoneNumber, text: &'a str) -> NotifyFuture<'a, ()> {
        Box::pin(async move {
            // The outbox logs it (number masked) as for a sign-in text.
            let _ = self.texts.send_text(to, text).await;
            self.sent
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .sms
                .push(SentSms {
                    phone_number: to.as_e164().to_string(),
                    message: text.to_string(),
                });
            Ok(())
        })
    }

    fn register_device<'a>(&'a self, token: &'a DeviceToken) -> NotifyFuture<'a, Device> {
        Box::pin(async move {
            Ok(Device {
                endpoint: format!("local:endpoint/{}", token.as_str()),
            })
        })
    }

    fn push_to_device<'a>(&'a self, device: &'a Device, payload: &'a str) -> NotifyFuture<'a, ()> {
        Box::pin(async move {
            tracing::info!(endpoint = %device.endpoint, "mobile push (local stack: not sent)");
            self.sent
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push
                .push(SentPush {
                    endpoint: device.endpoint.clone(),
                    message: payload.to_string(),
                });
            Ok(())
        })
    }
}
