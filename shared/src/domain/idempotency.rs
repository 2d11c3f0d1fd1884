//! Idempotency keys: a client sends one key per user action, and a retry
//! with the same key and the same request gets the first answer without
//! the action running again (the approach of Stripe's API and AWS Lambda
//! Powertools). The record is decided here and stored by version.

use serde::{Deserialize, Serialize};

use super::clock::Millis;

/// How long a key is remembered.
pub const KEY_LIFETIME_MS: Millis = 24 * 3_600_000;
/// How long a first attempt may hold its key before a retry may take over
/// (it crashed or timed out without an answer).
pub const IN_PROGRESS_LEASE_MS: Millis = 30_000;

/// A key, as the client sent it: 8 to 64 of `A-Z a-z 0-9 - _` (a UUID fits).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey(String);

/// Why a key was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("an Idempotency-Key is 8 to 64 of A-Z a-z 0-9 - _")]
pub struct InvalidKey;

impl IdempotencyKey {
    pub fn new(raw: &str) -> Result<IdempotencyKey, InvalidKey> {
        let ok =
            (8..=64).contains(&raw.len()) && raw.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if ok {
            Ok(IdempotencyKey(raw.to_string()))
        } else {
            Err(InvalidKey)
        }
    }

    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The answer a first attempt gave, kept to answer its retries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredAnswer {
    pub status: u16,
    pub body: String,
}

/// What is remembered under a key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdempotencyRecord {
    /// A digest of the request (route, path, body): the same key with
    /// another request is refused.
    pub fingerprint: String,
    /// Since when the first attempt has been running, until it answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_ms: Option<Millis>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answer: Option<StoredAnswer>,
    pub expires_ms: Millis,
    /// An id reserved by the first attempt for what the request creates
    /// (a placement's order id), kept when a retry takes the key over, so
    /// that a retry after an unsettled outcome finds what the first wrote.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reserved_id: Option<String>,
}

/// What a request with a key should do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// Run it: this record (in progress) is to be written first.
    Run(IdempotencyRecord),
    /// Answer as the first attempt did.
    Replay(StoredAnswer),
    /// The first attempt is still running: try again shortly.
    InProgress { retry_after_ms: Millis },
    /// The key was used for another request.
    Reused,
}

impl IdempotencyRecord {
    /// What a request with `fingerprint` at `now` should do, given the
    /// record stored under its key (if any).
    #[must_use]
    pub fn claim(stored: Option<&IdempotencyRecord>, fingerprint: &str, now: Millis) -> Claim {
        let run = |reserved_id: Option<String>| {
            Claim::Run(IdempotencyRecord {
                fingerprint: fingerprint.to_string(),
                started_ms: Some(now),
                answer: None,
                expires_ms: now + KEY_LIFETIME_MS,
                reserved_id,
            })
        };
        let Some(stored) = stored.filter(|r| r.expires_ms > now) else {
            return run(None);
        };
        if stored.fingerprint != fingerprint {
            return Claim::Reused;
        }
        match (&stored.answer, stored.started_ms) {
            (Some(answer), _) => Claim::Replay(answer.clone()),
            (None, Some(started)) if now < started + IN_PROGRESS_LEASE_MS => Claim::InProgress {
                retry_after_ms: started + IN_PROGRESS_LEASE_MS - now,
            },
            // The first attempt never answered: this one takes over, with
            // the id the first reserved.
            (None, _) => run(stored.reserved_id.clone()),
        }
    }

    /// The record once the attempt answered `answer`.
    #[must_use]
    pub fn answered(mut self, answer: StoredAnswer) -> IdempotencyRecord {
        self.started_ms = None;
        self.answer = Some(answer);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_retry_replays_a_reuse_is_refused_and_a_stuck_attempt_is_taken_over() {
        let Claim::Run(first) = IdempotencyRecord::claim(None, "f1", 1_000) else {
            panic!("a new key runs");
        };
        assert_eq!(
            IdempotencyRecord::claim(Some(&first), "f1", 2_000),
            Claim::InProgress { retry_after_ms: 29_000 }
        );
        assert_eq!(IdempotencyRecord::claim(Some(&first), "f2", 2_000), Claim::Reused);
        assert!(matches!(
            IdempotencyRecord::claim(Some(&first), "f1", 31_000),
            Claim::Run(_)
        ));
        // A released attempt's reservation passes to the retry.
        let released = IdempotencyRecord {
            started_ms: None,
            reserved_id: Some("01J0RESERVED".into()),
            ..first.clone()
        };
        let Claim::Run(retry) = IdempotencyRecord::claim(Some(&released), "f1", 2_000) else {
            panic!("a released key runs again");
        };
        assert_eq!(retry.reserved_id.as_deref(), Some("01J0RESERVED"));
        let answer = StoredAnswer {
            status: 201,
            body: "{}".into(),
        };
        let done = first.answered(answer.clone());
        assert_eq!(
            IdempotencyRecord::claim(Some(&done), "f1", 40_000),
            Claim::Replay(answer)
        );
        assert!(
            matches!(
                IdempotencyRecord::claim(Some(&done), "f2", 1_000 + KEY_LIFETIME_MS),
                Claim::Run(_)
            ),
            "an expired key is new again"
        );
        assert!(IdempotencyKey::new("short").is_err());
        assert!(IdempotencyKey::new("8b1f1c2e-0f0e-4c55-9f3e-2a6d7f2b9c11").is_ok());
    }
}
