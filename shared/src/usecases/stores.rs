//! Stores: their own profile, their open offers and their order history.

use super::{MAX_WRITE_ATTEMPTS, Unavailable, kept_changing, unavailable_from_ports};
use crate::domain::clock::Millis;
use crate::domain::ids::{Caller, OrderId, StoreId};
use crate::domain::order::Order;
use crate::domain::order::views::OfferView;
use crate::domain::store::{InvalidStore, Store, StorePatchInput, StoreProfileInput};
use crate::ports::{OrderRepo, StoreRepo};

/// What a store does with its own records.
pub struct Stores<'a, R> {
    pub(super) repo: &'a R,
    pub(super) now: Millis,
}

#[derive(Debug, thiserror::Error)]
pub enum RegisterStoreError {
    /// Only the store itself may write its profile.
    #[error("not allowed for this caller")]
    Forbidden,
    #[error(transparent)]
    Invalid(InvalidStore),
    #[error(transparent)]
    Unavailable(#[from] Unavailable),
}

#[derive(Debug, thiserror::Error)]
pub enum UpdateStoreError {
    #[error("not allowed for this caller")]
    Forbidden,
    #[error("store not found")]
    NotFound,
    #[error(transparent)]
    Invalid(InvalidStore),
    #[error(transparent)]
    Unavailable(#[from] Unavailable),
}

#[derive(Debug, thiserror::Error)]
pub enum ReadStoreError {
    #[error("not allowed for this caller")]
    Forbidden,
    #[error("store not found")]
    NotFound,
    #[error(transparent)]
    Unavailable(#[from] Unavailable),
}

/// Listing a store's offers or history.
#[derive(Debug, thiserror::Error)]
pub enum StoreListError {
    #[error("not allowed for this caller")]
    Forbidden,
    /// Pending or suspended: it may accept nothing, so it is offered nothing.
    #[error("this store is not active")]
    NotActive,
    #[error(transparent)]
    Unavailable(#[from] Unavailable),
}

unavailable_from_ports!(RegisterStoreError, UpdateStoreError, ReadStoreError, StoreListError);

impl<R: StoreRepo + OrderRepo> Stores<'_, R> {
    /// Creates or replaces the caller's own store profile. A new store is
    /// active (a store token exists only for an approved store, or locally);
    /// a replaced one keeps its status, so a suspended store cannot
    /// reinstate itself by registering again.
    pub async fn register(
        &self,
        caller: &Caller,
        id: StoreId,
        input: StoreProfileInput,
    ) -> Result<Store, RegisterStoreError> {
        if !caller.is_store(&id) {
            return Err(RegisterStoreError::Forbidden);
        }
        let fresh = Store::from_profile(id, input, self.now).map_err(RegisterStoreError::Invalid)?;
        for _ in 0..MAX_WRITE_ATTEMPTS {
            let current = self.repo.get_store(&fresh.id).await?;
            let mut store = fresh.clone();
            if let Some(current) = &current {
                store.status = current.status;
                store.suspended_reason.clone_from(&current.suspended_reason);
                store.updated_at_ms = self.now.max(current.updated_at_ms + 1);
            }
            if self.repo.replace_store(current.as_ref(), &store).await? {
                return Ok(store);
            }
        }
        Err(kept_changing().into())
    }

    /// Changes part of the caller's own profile (e.g. open/closed).
    pub async fn update(
        &self,
        caller: &Caller,
        id: &StoreId,
        patch: StorePatchInput,
    ) -> Result<Store, UpdateStoreError> {
        for _ in 0..MAX_WRITE_ATTEMPTS {
            let current = match self.profile(caller, id).await {
                Ok(store) => store,
                Err(ReadStoreError::Forbidden) => return Err(UpdateStoreError::Forbidden),
                Err(ReadStoreError::NotFound) => return Err(UpdateStoreError::NotFound),
                Err(ReadStoreError::Unavailable(e)) => return Err(e.into()),
            };
            let store = current
                .patched(patch.clone(), self.now)
                .map_err(UpdateStoreError::Invalid)?;
            if self.repo.replace_store(Some(&current), &store).await? {
                return Ok(store);
            }
        }
        Err(kept_changing().into())
    }

    /// The caller's own profile.
    pub async fn profile(&self, caller: &Caller, id: &StoreId) -> Result<Store, ReadStoreError> {
        if !caller.is_store(id) {
            return Err(ReadStoreError::Forbidden);
        }
        self.repo.get_store(id).await?.ok_or(ReadStoreError::NotFound)
    }

    /// Offers the store may still accept, e.g. after a reconnect; none to a
    /// store that may accept none (pending or suspended).
    pub async fn open_offers(&self, caller: &Caller, id: &StoreId) -> Result<Vec<OfferView>, StoreListError> {
        if !caller.is_store(id) {
            return Err(StoreListError::Forbidden);
        }
        let (store, orders) =
            futures_util::join!(self.repo.get_store(id), self.repo.open_offers_for_store(id, self.now));
        // A store with no profile yet has been offered nothing.
        if store?.is_some_and(|store| !store.is_active()) {
            return Err(StoreListError::NotActive);
        }
        Ok(orders?.iter().filter_map(|o| OfferView::of(o, id)).collect())
    }

    /// Orders the store won, newest first: `limit` of them (1 to 50), older
    /// than `before` when given.
    pub async fn history(
        &self,
        caller: &Caller,
        store: &StoreId,
        limit: usize,
        before: Option<&OrderId>,
    ) -> Result<Vec<Order>, StoreListError> {
        if !caller.is_store(store) {
            return Err(StoreListError::Forbidden);
        }
        Ok(self.repo.orders_won_by(store, limit.clamp(1, 50), before).await?)
    }
}
