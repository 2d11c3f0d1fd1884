//! Connections and pushes: who holds which socket, and telling the parties
//! of an order what changed.

use std::collections::HashMap;

use futures_util::future::join_all;
use serde::Serialize;
use tracing::warn;

use super::Unavailable;
use crate::domain::clock::Millis;
use crate::domain::events::{EventBody, PushEvent, StoreEventBody, StorePushEvent};
use crate::domain::ids::{Caller, ConnectionId, StoreId};
use crate::domain::order::Order;
use crate::domain::order::views::OfferView;
use crate::ports::{Connection, ConnectionRepo, OrderRepo, PushError, Pusher, StoreRepo};

/// Sockets: connect, disconnect, whose, and catching a store up.
pub struct Connections<'a, R, P> {
    pub(super) repo: &'a R,
    pub(super) notifier: Notifier<'a, R, P>,
    pub(super) now: Millis,
}

/// Why a socket was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// A pending or suspended store cannot go online.
    #[error("this store is not active")]
    StoreNotActive,
    #[error(transparent)]
    Unavailable(#[from] Unavailable),
}

impl From<crate::ports::RepoError> for ConnectError {
    fn from(e: crate::ports::RepoError) -> Self {
        Self::Unavailable(e.into())
    }
}

impl<R: ConnectionRepo + OrderRepo + StoreRepo, P: Pusher> Connections<'_, R, P> {
    /// Records a new socket for its owner. A store whose profile says it is
    /// pending or suspended cannot go online (a store with no profile yet
    /// may: it registers after connecting).
    pub async fn connect(&self, id: ConnectionId, owner: Caller) -> Result<(), ConnectError> {
        if let Caller::Store(store) = &owner
            && let Some(profile) = self.repo.get_store(store).await?
            && !profile.is_active()
        {
            return Err(ConnectError::StoreNotActive);
        }
        let connection = Connection {
            id,
            owner,
            connected_at_ms: self.now,
        };
        Ok(self.repo.put_connection(&connection).await?)
    }

    /// Forgets a closed socket.
    pub async fn disconnect(&self, id: &ConnectionId) -> Result<(), Unavailable> {
        self.repo.delete_connection(id).await?;
        Ok(())
    }

    /// Who owns a live socket.
    pub async fn owner(&self, id: &ConnectionId) -> Result<Option<Caller>, Unavailable> {
        Ok(self.repo.get_connection(id).await?.map(|c| c.owner))
    }

    /// Pushes a store's open offers again to one of its sockets (after a
    /// reconnect). Returns how many were sent.
    pub async fn resend_offers(&self, connection: &ConnectionId, store_id: &StoreId) -> Result<usize, Unavailable> {
        let orders = self.repo.open_offers_for_store(store_id, self.now).await?;
        let mut sent = 0;
        for order in &orders {
            let Some(view) = OfferView::of(order, store_id) else {
                continue;
            };
            let event = PushEvent::new(order.id(), order.version(), EventBody::Offer { offer: view });
            if self.notifier.push_to_connection(connection, &event).await {
                sent += 1;
            }
        }
        Ok(sent)
    }
}

/// The live sockets of some parties, as read.
pub type Presence = HashMap<Caller, Vec<ConnectionId>>;

/// Sends an order's events to every socket of each party. Failures are
/// logged, not returned: the state is already written, and apps read it
/// again on reconnect.
pub struct Notifier<'a, C, P> {
    pub(super) connections: &'a C,
    pub(super) pusher: &'a P,
}

// By hand: a derive would ask the ports to be `Clone`; only references are copied.
impl<C, P> Clone for Notifier<'_, C, P> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<C, P> Copy for Notifier<'_, C, P> {}

impl<C: ConnectionRepo, P: Pusher> Notifier<'_, C, P> {
    /// Pushes each `(party, event)` of `order`, all at once: every party's
    /// sockets are found in one read.
    pub async fn tell(&self, order: &Order, pushes: Vec<(Caller, EventBody)>) {
        self.tell_knowing(order, pushes, &Presence::new()).await;
    }

    /// As [`Self::tell`], reading sockets only for parties `known` does not
    /// list (matching has just read the offered stores').
    pub async fn tell_knowing(&self, order: &Order, pushes: Vec<(Caller, EventBody)>, known: &Presence) {
        let unknown = pushes
            .iter()
            .map(|(owner, _)| owner)
            .filter(|owner| !known.contains_key(owner));
        let mut presence = self.presence_of(unknown).await;
        presence.extend(known.iter().map(|(owner, sockets)| (owner.clone(), sockets.clone())));
        let sends = pushes.into_iter().flat_map(|(owner, body)| {
            let event = PushEvent::new(order.id(), order.version(), body);
            let sockets = presence.get(&owner).cloned().unwrap_or_default();
            sockets.into_iter().map(move |socket| {
                let event = event.clone();
                async move { self.push_to_connection(&socket, &event).await }
            })
        });
        join_all(sends).await;
    }

    /// The live sockets of `owners`, in one read (none read for none). A
    /// failed read is logged and gives no sockets: pushes are best effort,
    /// and apps read the state again on reconnect.
    pub async fn presence_of<'c>(&self, owners: impl IntoIterator<Item = &'c Caller>) -> Presence {
        let mut unique: Vec<Caller> = Vec::new();
        for owner in owners {
            if !unique.contains(owner) {
                unique.push(owner.clone());
            }
        }
        if unique.is_empty() {
            return Presence::new();
        }
        match self.connections.connections_of_many(&unique).await {
            Ok(found) => unique.into_iter().zip(found).collect(),
            Err(e) => {
                warn!(error = %e, "could not look up connections for a push");
                Presence::new()
            }
        }
    }

    /// Pushes `body` to every socket of `store`.
    pub async fn tell_store(&self, store: &StoreId, body: StoreEventBody) {
        self.tell_each(&[(Caller::Store(store.clone()), StorePushEvent::new(body))])
            .await;
    }

    /// Pushes events that belong to no order (promotions), each to every
    /// socket of its owner, reading every owner's sockets in one batch.
    pub async fn tell_each<E: Serialize + Sync>(&self, pushes: &[(Caller, E)]) {
        if pushes.is_empty() {
            return;
        }
        let owners: Vec<Caller> = pushes.iter().map(|(owner, _)| owner.clone()).collect();
        let found = match self.connections.connections_of_many(&owners).await {
            Ok(found) => found,
            Err(e) => {
                warn!(error = %e, "could not look up connections for a push");
                return;
            }
        };
        let sends = pushes.iter().zip(found).flat_map(|((_, event), sockets)| {
            sockets
                .into_iter()
                .map(move |socket| async move { self.push_to_connection(&socket, event).await })
        });
        join_all(sends).await;
    }

    async fn push_to_connection<E: Serialize>(&self, connection: &ConnectionId, event: &E) -> bool {
        let payload = match serde_json::to_string(event) {
            Ok(p) => p,
            Err(e) => {
                warn!(error = %e, "could not serialise a push");
                return false;
            }
        };
        match self.pusher.push(connection, &payload).await {
            Ok(()) => true,
            Err(PushError::Gone) => {
                // Stale: forget this connection only, and carry on.
                if let Err(e) = self.connections.delete_connection(connection).await {
                    warn!(error = %e, "could not delete a gone connection");
                }
                false
            }
            Err(PushError::Failed(e)) => {
                warn!(error = %e, connection = %connection, "push failed");
                false
            }
        }
    }
}
