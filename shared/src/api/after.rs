//! What answered requests leave to do: the edge sends the answer, then runs
//! the rest (pushes, receipts, statistics after an accept), so a caller
//! never waits for work its answer does not need.

use std::sync::{Mutex, PoisonError};

use crate::usecases::Followup;

/// The followups of one request, collected while it is answered.
#[derive(Debug, Default)]
pub struct AfterAnswer<'a>(Mutex<Vec<Followup<'a>>>);

impl<'a> AfterAnswer<'a> {
    pub(super) fn add(&self, followup: Followup<'a>) {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).push(followup);
    }

    /// Whether there is nothing left to do.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).is_empty()
    }

    /// Runs every followup, all at once.
    pub async fn run(self) {
        let followups = self.0.into_inner().unwrap_or_else(PoisonError::into_inner);
        futures_util::future::join_all(followups.into_iter().map(Followup::run)).await;
    }
}
