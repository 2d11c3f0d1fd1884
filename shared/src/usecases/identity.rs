//! Identity: guest customers and their tokens, and the phone number a
//! customer attaches.

use super::Unavailable;
use crate::auth::TokenIssuer;
use crate::domain::clock::Millis;
use crate::domain::customer::PhoneNumber;
use crate::domain::ids::{Caller, CustomerId};
use crate::ports::CustomerRepo;

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
}

impl<R: CustomerRepo> Identity<'_, R> {
    /// The issuer of this process's tokens, if it signs any.
    #[must_use]
    pub fn issuer(&self) -> Option<&TokenIssuer> {
        self.issuer
    }

    /// A new guest customer and their token.
    pub fn new_guest(&self) -> Result<(CustomerId, String), GuestError> {
        let issuer = self.issuer.ok_or(GuestError::NoIssuer)?;
        let customer = CustomerId::new(format!("g-{}", ulid::Ulid::new().to_string().to_lowercase()))
            .map_err(|_| GuestError::Signing("a guest id was refused".into()))?;
        let token = issuer
            .issue(&Caller::Customer(customer.clone()), self.now)
            .map_err(|e| GuestError::Signing(e.to_string()))?;
        Ok((customer, token))
    }

    /// Attaches a phone number to the customer (a guest becomes known).
    pub async fn attach_phone(&self, customer: &CustomerId, phone: &PhoneNumber) -> Result<(), Unavailable> {
        Ok(self.repo.set_phone(customer, phone).await?)
    }
}
