//! Sharing a completed order: a public link whose secret only its
//! customer's share request made.

use super::fulfilment::{Fulfilment, StepError};
use super::{Unavailable, unavailable_from_ports};
use crate::domain::ids::{Caller, CustomerId, OrderId};
use crate::domain::order::views::{ShareCard, ShareId};
use crate::domain::order::{Refusal, Step};
use crate::ports::{
    ConnectionRepo, CustomerRepo, NotificationRepo, OrderRepo, PromotionRepo, Pusher, RepoError, StockRepo, StoreRepo,
};

/// Share links and what they show.
pub struct Sharing<'a, R, P> {
    pub(super) repo: &'a R,
    pub(super) fulfilment: Fulfilment<'a, R, P>,
}

#[derive(Debug, thiserror::Error)]
pub enum ShareError {
    #[error("order not found")]
    NotFound,
    /// Only a completed order can be shared.
    #[error(transparent)]
    Refused(Refusal),
    #[error(transparent)]
    Unavailable(#[from] Unavailable),
}

#[derive(Debug, thiserror::Error)]
pub enum SharedOrderError {
    /// No such link (a wrong secret is the same answer).
    #[error("share not found")]
    NotFound,
    #[error(transparent)]
    Unavailable(#[from] Unavailable),
}

unavailable_from_ports!(ShareError, SharedOrderError);

impl<R, P> Sharing<'_, R, P>
where
    R: OrderRepo + CustomerRepo + StoreRepo + ConnectionRepo + StockRepo + NotificationRepo + PromotionRepo,
    P: Pusher,
{
    /// The customer's share link for a completed order, made on the first
    /// request and the same one after.
    pub async fn share(&self, customer: &CustomerId, id: &OrderId) -> Result<(ShareId, ShareCard), ShareError> {
        let mut order = match self.repo.get_order(id).await? {
            Some(order) if order.customer_id() == customer => order,
            _ => return Err(ShareError::NotFound),
        };
        let card = ShareCard::of(&order).map_err(ShareError::Refused)?;
        if order.share_secret().is_none() {
            let mut bytes = [0u8; 16];
            aws_lc_rs::rand::fill(&mut bytes).map_err(|_| RepoError::msg("no randomness for a share link"))?;
            let secret = format!("{:032x}", u128::from_be_bytes(bytes));
            let step = Step::Share { secret };
            order = match self
                .fulfilment
                .take(&Caller::Customer(customer.clone()), id, &step)
                .await
            {
                Ok(order) => order,
                Err(StepError::NotFound) => return Err(ShareError::NotFound),
                Err(StepError::Refused(refusal)) => return Err(ShareError::Refused(refusal)),
                Err(StepError::Unavailable(e)) => return Err(e.into()),
                Err(StepError::Payment(_)) => return Err(RepoError::msg("sharing took a payment").into()),
            };
        }
        let secret = order
            .share_secret()
            .ok_or_else(|| RepoError::msg("a shared order lost its secret"))?;
        let share = ShareId {
            order_id: order.id().clone(),
            secret: secret.to_string(),
        };
        Ok((share, card))
    }

    /// What a share link shows, to anyone who has it.
    pub async fn shared_order(&self, share: &ShareId) -> Result<ShareCard, SharedOrderError> {
        let Some(order) = self.repo.get_order(&share.order_id).await? else {
            return Err(SharedOrderError::NotFound);
        };
        let matches = order.share_secret().is_some_and(|secret| {
            aws_lc_rs::constant_time::verify_slices_are_equal(secret.as_bytes(), share.secret.as_bytes()).is_ok()
        });
        if !matches {
            return Err(SharedOrderError::NotFound);
        }
        ShareCard::of(&order).map_err(|_| SharedOrderError::NotFound)
    }
}
