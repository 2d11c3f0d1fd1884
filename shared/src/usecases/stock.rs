//! Live stock: a store's own counts, and writing an order change together
//! with what it does to the winning store's counts (`domain::stock` decides
//! both; storage writes them in one atomic write).

use super::connections::Notifier;
use super::{MAX_WRITE_ATTEMPTS, Unavailable, kept_changing, unavailable_from_ports};
use crate::domain::clock::Millis;
use crate::domain::events::StoreEventBody;
use crate::domain::ids::{Caller, StoreId};
use crate::domain::limits::Versioned;
use crate::domain::order::Order;
use crate::domain::stock::{InvalidStock, OutOfStock, StockInput, StockLedger, StockView};
use crate::ports::{ConnectionRepo, OrderRepo, Pusher, RepoError, StockRepo};

/// A store's own counts.
pub struct Stock<'a, R, P> {
    pub(super) repo: &'a R,
    pub(super) notifier: Notifier<'a, R, P>,
    pub(super) now: Millis,
}

#[derive(Debug, thiserror::Error)]
pub enum StockError {
    /// Only the store itself may read or count its stock.
    #[error("not allowed for this caller")]
    Forbidden,
    #[error(transparent)]
    Invalid(InvalidStock),
    #[error(transparent)]
    Unavailable(#[from] Unavailable),
}

unavailable_from_ports!(StockError);

impl<R: StockRepo + ConnectionRepo, P: Pusher> Stock<'_, R, P> {
    /// The store's counts (none: it keeps no counts).
    pub async fn counts(&self, caller: &Caller, store: &StoreId) -> Result<StockView, StockError> {
        if !caller.is_store(store) {
            return Err(StockError::Forbidden);
        }
        let read = self.repo.stock(store).await?;
        Ok(StockView::of(store, &read.value, read.version))
    }

    /// The store counts again (`StockLedger::recounted`); its devices are
    /// told.
    pub async fn recount(&self, caller: &Caller, store: &StoreId, input: &StockInput) -> Result<StockView, StockError> {
        if !caller.is_store(store) {
            return Err(StockError::Forbidden);
        }
        for _ in 0..MAX_WRITE_ATTEMPTS {
            let read = self.repo.stock(store).await?;
            let next = read.value.recounted(input, self.now).map_err(StockError::Invalid)?;
            if self.repo.replace_stock(store, read.version, &next).await? {
                let view = StockView::of(store, &next, read.version + 1);
                tell_stock(&self.notifier, Some(view.clone())).await;
                return Ok(view);
            }
        }
        Err(kept_changing().into())
    }
}

/// How writing an order change went.
#[derive(Debug)]
pub(super) enum ChangeWritten {
    /// Written; with the store's counts when they moved with it.
    Written(Option<StockView>),
    /// Another write came first: read again and decide again.
    Lost,
    /// The winning store's counts cannot cover the order (nothing written).
    OutOfStock(OutOfStock),
}

/// Writes `next` over `current` and, when the change moves the counts of
/// the store it concerns, those counts in the same atomic write. `known` is
/// that store's ledger when the caller has just read it. A store without
/// counts costs one read more than a plain write, and only for changes that
/// could move counts (a winner, packing, an end).
pub(super) async fn write_change<R: OrderRepo + StockRepo>(
    repo: &R,
    current: &Order,
    next: &Order,
    known: Option<Versioned<StockLedger>>,
) -> Result<ChangeWritten, RepoError> {
    let Some(store) = StockLedger::store_concerned(current, next) else {
        return plain(repo, current, next).await;
    };
    let read = match known {
        Some(read) => read,
        None => repo.stock(store).await?,
    };
    if !read.value.is_counted() {
        return plain(repo, current, next).await;
    }
    let mut ledger = read.value;
    match ledger.follow(store, current, next) {
        Err(short) => Ok(ChangeWritten::OutOfStock(short)),
        Ok(false) => plain(repo, current, next).await,
        Ok(true) => Ok(
            if repo
                .replace_order_and_stock(current, next, store, read.version, &ledger)
                .await?
            {
                ChangeWritten::Written(Some(StockView::of(store, &ledger, read.version + 1)))
            } else {
                ChangeWritten::Lost
            },
        ),
    }
}

async fn plain<R: OrderRepo>(repo: &R, current: &Order, next: &Order) -> Result<ChangeWritten, RepoError> {
    Ok(if repo.replace_order(current, next).await? {
        ChangeWritten::Written(None)
    } else {
        ChangeWritten::Lost
    })
}

/// Tells the store's devices its counts moved, when they did.
pub(super) async fn tell_stock<C: ConnectionRepo, P: Pusher>(notifier: &Notifier<'_, C, P>, moved: Option<StockView>) {
    if let Some(view) = moved {
        let store = view.store_id.clone();
        notifier
            .tell_store(&store, StoreEventBody::StockChanged { stock: view })
            .await;
    }
}
