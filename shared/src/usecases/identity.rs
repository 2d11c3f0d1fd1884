//! Identity: guest customers and their tokens (verified numbers are
//! `sign_in`'s).

use super::{Unavailable, count_in_window, unavailable_from_ports};
use crate::auth::TokenIssuer;
use crate::domain::clock::Millis;
use crate::domain::ids::{Caller, CustomerId};
use crate::domain::limits::{GuestLimits, LimitReached, Rate};
use crate::ports::{CustomerRepo, LimitRepo};

/// Who customers are.
pub struct Identity<'a, R> {
    pub(super) repo: &'a R,
    pub(super) issuer: Option<&'a TokenIssuer>,
    pub(super) now: Millis,
}

#[derive(Debug, thiserror::Error)]
pub enum GuestError {
    /// This process signs no tokens (a deployment without a signing key).
    #[error("this deployment issues no tokens")]
    NoIssuer,
    #[error("could not sign a token: {0}")]
    Signing(String),
    /// Too many new guests from this source address or device.
    #[error(transparent)]
    Limited(LimitReached),
    #[error(transparent)]
    Unavailable(#[from] Unavailable),
}

unavailable_from_ports!(GuestError);

/// Where a request for a guest token came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuestSource {
    /// The client's address as the gateway saw it.
    pub address: String,
    /// The app's own install id, when it sends one.
    pub device: Option<String>,
}

impl<R: CustomerRepo + LimitRepo> Identity<'_, R> {
    /// The issuer of this process's tokens, if it signs any.
    #[must_use]
    pub fn issuer(&self) -> Option<&TokenIssuer> {
        self.issuer
    }

    /// A new guest customer and their token, within the limits per source
    /// address and per device (kept in storage, so they hold across every
    /// instance of the function).
    pub async fn new_guest(&self, source: &GuestSource) -> Result<(CustomerId, String), GuestError> {
        let issuer = self.issuer.ok_or(GuestError::NoIssuer)?;
        let limits = GuestLimits::default();
        self.count_guest(&format!("ADDRESS#{}", source.address), limits.per_address)
            .await?;
        if let Some(device) = &source.device {
            self.count_guest(&format!("DEVICE#{device}"), limits.per_device).await?;
        }
        let customer = CustomerId::new_guest();
        let token = issuer
            .issue(&Caller::Customer(customer.clone()), self.now)
            .map_err(|e| GuestError::Signing(e.to_string()))?;
        Ok((customer, token))
    }

    /// Counts one new guest under `key`, or refuses when `rate` is spent.
    async fn count_guest(&self, key: &str, rate: Rate) -> Result<(), GuestError> {
        count_in_window(self.repo, &format!("GUESTS#{key}"), rate, self.now)
            .await?
            .map_err(|retry_after_ms| GuestError::Limited(LimitReached::Guests { retry_after_ms }))
    }
}
