//! Idempotent writes: the first request under a key runs and its answer is
//! kept; a retry with the same key and request gets that answer without
//! running again, also while the first is still running (it is told to try
//! again shortly); the same key with another request is refused.

use super::{MAX_WRITE_ATTEMPTS, Unavailable, kept_changing};
use crate::domain::clock::Millis;
use crate::domain::idempotency::{Claim, IdempotencyRecord, StoredAnswer};
use crate::domain::ids::OrderId;
use crate::ports::IdempotencyRepo;

/// Keys and the answers kept under them.
pub struct Idempotency<'a, R> {
    pub(super) repo: &'a R,
    pub(super) now: Millis,
}

/// What to do with a request that carries a key.
#[derive(Debug)]
pub enum Begun {
    /// Run it, then [`Idempotency::finish`] (or [`Idempotency::release`]).
    Run(Running),
    /// Answer as the first attempt did.
    Replay(StoredAnswer),
    /// The first attempt is still running.
    InProgress { retry_after_ms: Millis },
    /// The key was used for another request.
    Reused,
}

/// A claimed key, held while its request runs.
#[derive(Debug)]
pub struct Running {
    scope: String,
    record: IdempotencyRecord,
    version: u64,
}

impl Running {
    /// The id reserved under this key for an order the request places: the
    /// same on every retry of the request.
    #[must_use]
    pub fn reserved_order_id(&self) -> OrderId {
        self.record
            .reserved_id
            .as_deref()
            .and_then(|id| OrderId::new(id).ok())
            .unwrap_or_else(OrderId::generate)
    }
}

impl<R: IdempotencyRepo> Idempotency<'_, R> {
    /// Claims `scope` (the caller and the key) for a request whose digest is
    /// `fingerprint`, or says why not.
    pub async fn begin(&self, scope: &str, fingerprint: &str) -> Result<Begun, Unavailable> {
        for _ in 0..MAX_WRITE_ATTEMPTS {
            let stored = self.repo.idempotency_record(scope).await?;
            match IdempotencyRecord::claim(stored.value.as_ref(), fingerprint, self.now) {
                Claim::Run(mut record) => {
                    // Reserved with the claim, so that it is stored before
                    // anything is created under it.
                    record
                        .reserved_id
                        .get_or_insert_with(|| OrderId::generate().to_string());
                    if self
                        .repo
                        .replace_idempotency_record(scope, stored.version, &record)
                        .await?
                    {
                        return Ok(Begun::Run(Running {
                            scope: scope.to_string(),
                            record,
                            version: stored.version + 1,
                        }));
                    }
                }
                Claim::Replay(answer) => return Ok(Begun::Replay(answer)),
                Claim::InProgress { retry_after_ms } => return Ok(Begun::InProgress { retry_after_ms }),
                Claim::Reused => return Ok(Begun::Reused),
            }
        }
        Err(kept_changing().into())
    }

    /// Keeps `answer` for the retries. If another attempt took the key over
    /// meanwhile (this one outran its lease), that one's answer stands.
    pub async fn finish(&self, running: Running, answer: StoredAnswer) -> Result<(), Unavailable> {
        let record = running.record.answered(answer);
        self.repo
            .replace_idempotency_record(&running.scope, running.version, &record)
            .await?;
        Ok(())
    }

    /// Lets a retry run again at once: the attempt failed without an answer
    /// worth keeping (the service was unavailable).
    pub async fn release(&self, running: Running) -> Result<(), Unavailable> {
        let record = IdempotencyRecord {
            started_ms: None,
            ..running.record
        };
        self.repo
            .replace_idempotency_record(&running.scope, running.version, &record)
            .await?;
        Ok(())
    }
}
