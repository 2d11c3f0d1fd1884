//! Building the application for a Lambda process.
//!
//! The DynamoDB, SQS and API Gateway management adapters are not written
//! yet (they are the next piece of work), so a deployed function refuses to
//! start with a clear error instead of running on per-instance memory,
//! which would lose orders between invocations. `Unwired` has no values:
//! the type checks the handlers' wiring while nothing can run on it.

use crate::app::App;
use crate::domain::clock::Millis;
use crate::domain::ids::{Caller, ConnectionId, OrderId, StoreId};
use crate::domain::order::{Order, Transition};
use crate::domain::store::Store;
use crate::ports::{
    Connection, ConnectionRepo, OfferTimers, OrderRepo, PushError, Pusher, QueueError, RepoError, RoundTimer,
    StoreRepo, TransitionError,
};

/// Why a function could not start.
#[derive(Debug, thiserror::Error)]
pub enum WiringError {
    #[error("the AWS adapters (DynamoDB, SQS, API Gateway management) are not built yet; run the local stack instead")]
    AwsAdaptersMissing,
}

/// Stands in for the AWS adapters until they exist; it has no values.
#[derive(Debug)]
pub enum Unwired {}

/// The application as a Lambda function runs it.
pub type LambdaApp = App<Unwired, Unwired, Unwired>;

/// Builds the Lambda application from the environment.
pub async fn lambda_app() -> Result<LambdaApp, WiringError> {
    Err(WiringError::AwsAdaptersMissing)
}

impl StoreRepo for Unwired {
    async fn put_store(&self, _: &Store) -> Result<(), RepoError> {
        match *self {}
    }
    async fn get_store(&self, _: &StoreId) -> Result<Option<Store>, RepoError> {
        match *self {}
    }
    async fn stores_in_cells(&self, _: &[h3o::CellIndex]) -> Result<Vec<Store>, RepoError> {
        match *self {}
    }
}

impl OrderRepo for Unwired {
    async fn insert_order(&self, _: &Order) -> Result<(), RepoError> {
        match *self {}
    }
    async fn get_order(&self, _: &OrderId) -> Result<Option<Order>, RepoError> {
        match *self {}
    }
    async fn apply_transition(&self, _: &OrderId, _: &Transition) -> Result<Order, TransitionError> {
        match *self {}
    }
    async fn open_offers_for_store(&self, _: &StoreId, _: Millis) -> Result<Vec<Order>, RepoError> {
        match *self {}
    }
}

impl ConnectionRepo for Unwired {
    async fn put_connection(&self, _: &Connection) -> Result<(), RepoError> {
        match *self {}
    }
    async fn get_connection(&self, _: &ConnectionId) -> Result<Option<Connection>, RepoError> {
        match *self {}
    }
    async fn delete_connection(&self, _: &ConnectionId) -> Result<Option<Connection>, RepoError> {
        match *self {}
    }
    async fn connections_of(&self, _: &Caller) -> Result<Vec<ConnectionId>, RepoError> {
        match *self {}
    }
}

impl OfferTimers for Unwired {
    async fn schedule_round_close(&self, _: &RoundTimer, _: Millis) -> Result<(), QueueError> {
        match *self {}
    }
}

impl Pusher for Unwired {
    async fn push(&self, _: &ConnectionId, _: &str) -> Result<(), PushError> {
        match *self {}
    }
}
