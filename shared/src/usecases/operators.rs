//! Store onboarding and the operators who run the service: a store applies
//! (pending, never matched), an operator lists the applications, approves
//! one (the store trades, and its phone number may sign in as the store),
//! suspends a store (never matched, its sockets closed) and reinstates it.
//! Appointing an operator is a free function over the account port alone,
//! so a deploy-time command needs nothing else.

use futures_util::future::join_all;
use tracing::{info, warn};

use super::{MAX_WRITE_ATTEMPTS, Unavailable, count_in_window, kept_changing, unavailable_from_ports};
use crate::domain::clock::Millis;
use crate::domain::customer::PhoneNumber;
use crate::domain::ids::{Caller, CustomerId, OperatorId, StoreId};
use crate::domain::limits::{APPLICATIONS_PER_CUSTOMER, LimitReached};
use crate::domain::store::{
    InvalidStore, StatusChange, StatusRefusal, Store, StoreApplication, StoreProfileInput, StoreStatus,
};
use crate::ports::{AccountRepo, ApplicationRepo, ConnectionRepo, LimitRepo, PushError, Pusher, StoreRepo};

/// A customer applies for a store.
pub struct Onboarding<'a, R> {
    pub(super) repo: &'a R,
    pub(super) now: Millis,
}

/// What operators do to stores.
pub struct Operators<'a, R, P> {
    pub(super) repo: &'a R,
    pub(super) pusher: &'a P,
    pub(super) now: Millis,
}

#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// Only customers apply (a store or an operator token cannot).
    #[error("only customers may apply for a store")]
    Forbidden,
    /// A guest has proven nothing about who they are.
    #[error("sign in with your phone number to apply for a store")]
    SignInRequired,
    #[error(transparent)]
    Invalid(InvalidStore),
    #[error(transparent)]
    Limited(LimitReached),
    #[error(transparent)]
    Unavailable(#[from] Unavailable),
}

/// Listing applications.
#[derive(Debug, thiserror::Error)]
pub enum ListApplicationsError {
    #[error("only operators may do this")]
    Forbidden,
    #[error(transparent)]
    Unavailable(#[from] Unavailable),
}

/// Approving, suspending or reinstating a store.
#[derive(Debug, thiserror::Error)]
pub enum StoreStatusError {
    #[error("only operators may do this")]
    Forbidden,
    #[error("store not found")]
    NotFound,
    #[error(transparent)]
    Refused(StatusRefusal),
    /// The application's phone number already signs in as another store.
    #[error("this phone number already belongs to another store")]
    PhoneHasStore,
    #[error(transparent)]
    Unavailable(#[from] Unavailable),
}

unavailable_from_ports!(ApplyError, ListApplicationsError, StoreStatusError);

/// A store after an operator's change, and how many of its sockets were
/// closed (suspension only).
#[derive(Debug, Clone, PartialEq)]
pub struct StatusChanged {
    pub store: Store,
    pub sockets_closed: usize,
}

impl<R: ApplicationRepo + LimitRepo> Onboarding<'_, R> {
    /// Records a store's application: a new store id, the store written
    /// pending (so it is never matched) with its listing among pending
    /// applications, within [`APPLICATIONS_PER_CUSTOMER`].
    pub async fn apply(
        &self,
        caller: &Caller,
        phone: PhoneNumber,
        profile: StoreProfileInput,
    ) -> Result<StoreApplication, ApplyError> {
        let Caller::Customer(applicant) = caller else {
            return Err(ApplyError::Forbidden);
        };
        if applicant.is_guest() {
            return Err(ApplyError::SignInRequired);
        }
        let mut store = Store::from_profile(StoreId::generate(), profile, self.now).map_err(ApplyError::Invalid)?;
        store.status = StoreStatus::Pending;
        self.count_application(applicant).await?;
        let application = StoreApplication {
            store,
            phone,
            applicant: applicant.clone(),
            applied_at_ms: self.now,
        };
        for _ in 0..MAX_WRITE_ATTEMPTS {
            if self.repo.insert_application(&application).await? {
                info!(store_id = %application.store.id, "store applied");
                return Ok(application);
            }
            // A generated id is never taken; should it be, take another.
        }
        Err(kept_changing().into())
    }

    async fn count_application(&self, applicant: &CustomerId) -> Result<(), ApplyError> {
        count_in_window(
            self.repo,
            &format!("APPLY#{applicant}"),
            APPLICATIONS_PER_CUSTOMER,
            self.now,
        )
        .await?
        .map_err(|retry_after_ms| ApplyError::Limited(LimitReached::Applications { retry_after_ms }))
    }
}

fn is_operator(caller: &Caller) -> bool {
    matches!(caller, Caller::Operator(_))
}

impl<R, P> Operators<'_, R, P>
where
    R: StoreRepo + ApplicationRepo + AccountRepo + ConnectionRepo,
    P: Pusher,
{
    /// Applications awaiting approval, oldest first: `limit` (1 to 100),
    /// after the store id `after` when given.
    pub async fn pending(
        &self,
        caller: &Caller,
        limit: usize,
        after: Option<&StoreId>,
    ) -> Result<Vec<StoreApplication>, ListApplicationsError> {
        if !is_operator(caller) {
            return Err(ListApplicationsError::Forbidden);
        }
        Ok(self.repo.pending_applications(limit.clamp(1, 100), after).await?)
    }

    /// Approves a pending store: its phone number's account gains the store
    /// first (so a retry after a failure finds the application still
    /// listed), then the store becomes active and leaves the pending list.
    pub async fn approve(&self, caller: &Caller, id: &StoreId) -> Result<StatusChanged, StoreStatusError> {
        if !is_operator(caller) {
            return Err(StoreStatusError::Forbidden);
        }
        let (store, application) = futures_util::join!(self.repo.get_store(id), self.repo.application(id));
        let store = store?.ok_or(StoreStatusError::NotFound)?;
        // Decided once up front, so a store that is not pending changes no account.
        store
            .with_status(&StatusChange::Approve, self.now)
            .map_err(StoreStatusError::Refused)?;
        let application = application?.ok_or(StoreStatusError::Refused(StatusRefusal::NotPending))?;
        self.grant_store(&application.phone, id).await?;
        let store = self.change(store, &StatusChange::Approve).await?;
        info!(store_id = %id, "store approved");
        Ok(StatusChanged {
            store,
            sockets_closed: 0,
        })
    }

    /// Suspends a store: it is never matched again, cannot go online or
    /// accept, and its open sockets are closed.
    pub async fn suspend(
        &self,
        caller: &Caller,
        id: &StoreId,
        reason: &str,
    ) -> Result<StatusChanged, StoreStatusError> {
        if !is_operator(caller) {
            return Err(StoreStatusError::Forbidden);
        }
        let store = self.repo.get_store(id).await?.ok_or(StoreStatusError::NotFound)?;
        let change = StatusChange::Suspend {
            reason: reason.to_string(),
        };
        let store = self.change(store, &change).await?;
        let sockets_closed = self.close_sockets(id).await;
        info!(store_id = %id, sockets_closed, "store suspended");
        Ok(StatusChanged { store, sockets_closed })
    }

    /// Lets a suspended store trade again.
    pub async fn reinstate(&self, caller: &Caller, id: &StoreId) -> Result<StatusChanged, StoreStatusError> {
        if !is_operator(caller) {
            return Err(StoreStatusError::Forbidden);
        }
        let store = self.repo.get_store(id).await?.ok_or(StoreStatusError::NotFound)?;
        let store = self.change(store, &StatusChange::Reinstate).await?;
        info!(store_id = %id, "store reinstated");
        Ok(StatusChanged {
            store,
            sockets_closed: 0,
        })
    }

    /// Decides `change` on the store as read and writes it over that
    /// version; a lost race reads again and decides again.
    async fn change(&self, mut current: Store, change: &StatusChange) -> Result<Store, StoreStatusError> {
        for _ in 0..MAX_WRITE_ATTEMPTS {
            let next = current
                .with_status(change, self.now)
                .map_err(StoreStatusError::Refused)?;
            if self.repo.replace_store(Some(&current), &next).await? {
                return Ok(next);
            }
            current = self
                .repo
                .get_store(&current.id)
                .await?
                .ok_or(StoreStatusError::NotFound)?;
        }
        Err(kept_changing().into())
    }

    /// Sets `account.store` for `phone`, over the version read.
    async fn grant_store(&self, phone: &PhoneNumber, id: &StoreId) -> Result<(), StoreStatusError> {
        for _ in 0..MAX_WRITE_ATTEMPTS {
            let account = self.repo.account(phone).await?;
            match &account.value.store {
                Some(own) if own == id => return Ok(()),
                Some(_) => return Err(StoreStatusError::PhoneHasStore),
                None => {}
            }
            let mut next = account.value.clone();
            next.store = Some(id.clone());
            if self.repo.replace_account(phone, account.version, &next).await? {
                return Ok(());
            }
        }
        Err(kept_changing().into())
    }

    /// Closes every socket of the store (`DeleteConnection`) and forgets
    /// them. Failures are logged: the suspension is already written, and a
    /// suspended store is neither matched nor allowed to accept, so a
    /// socket that stays open can do nothing.
    async fn close_sockets(&self, id: &StoreId) -> usize {
        let owner = Caller::Store(id.clone());
        let sockets = match self.repo.connections_of_many(std::slice::from_ref(&owner)).await {
            Ok(mut found) => found.pop().unwrap_or_default(),
            Err(e) => {
                warn!(error = %e, "could not look up a suspended store's sockets");
                return 0;
            }
        };
        let closes = sockets.iter().map(|socket| async move {
            let closed = match self.pusher.close(socket).await {
                Ok(()) => true,
                Err(PushError::Gone) => false,
                Err(e) => {
                    warn!(error = %e, connection = %socket, "could not close a socket");
                    return false;
                }
            };
            if let Err(e) = self.repo.delete_connection(socket).await {
                warn!(error = %e, "could not forget a closed socket");
            }
            closed
        });
        join_all(closes).await.into_iter().filter(|closed| *closed).count()
    }
}

/// An operator appointed for a phone number, and whether it was new.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Appointed {
    pub operator: OperatorId,
    /// False when the number was an operator already (nothing changed).
    pub new: bool,
}

/// Makes the holder of `phone` an operator: a new [`OperatorId`] in the
/// number's account, over the version read (idempotent: a number that is
/// an operator keeps its id). Signing in with that number and role
/// `operator` then grants an operator token. Used at deploy time (the
/// `ops add-operator` command) and by the local stack's `--operator-phone`.
pub async fn appoint_operator<R: AccountRepo>(repo: &R, phone: &PhoneNumber) -> Result<Appointed, Unavailable> {
    for _ in 0..MAX_WRITE_ATTEMPTS {
        let account = repo.account(phone).await?;
        if let Some(operator) = &account.value.operator {
            return Ok(Appointed {
                operator: operator.clone(),
                new: false,
            });
        }
        let operator = OperatorId::generate();
        let mut next = account.value.clone();
        next.operator = Some(operator.clone());
        if repo.replace_account(phone, account.version, &next).await? {
            info!(operator = %operator, "operator appointed");
            return Ok(Appointed { operator, new: true });
        }
    }
    Err(kept_changing().into())
}
