//! Signing in with a phone number: one-time codes sent by SMS and the
//! refresh tokens of a signed-in session, decided here on records read from
//! storage and written back only over the version they were read at.
//!
//! A code is 6 random digits, lives 5 minutes, is good once, and dies after
//! 5 wrong attempts. Only a keyed digest of it is stored (HMAC-SHA256 over a
//! per-code salt, the number and the code, keyed by the deployment's
//! pepper), so a copy of the table does not give the codes away. A refresh
//! token is opaque (`<family>.<secret>`, both random), stored as a SHA-256
//! digest; each refresh replaces it, and a replaced one used again revokes
//! its whole family (it was copied).

use std::fmt;

use aws_lc_rs::{digest, hmac, rand};
use serde::{Deserialize, Serialize};

use super::account::Role;
use super::clock::Millis;
use super::customer::PhoneNumber;
use super::ids::Caller;
use super::limits::{LimitReached, Rate, SlidingWindow};

/// How long a code may be used after it was sent.
pub const CODE_LIFETIME_MS: Millis = 5 * 60_000;
/// Wrong attempts after which a code is dead.
pub const MAX_WRONG_ATTEMPTS: u32 = 5;
/// How long a refresh token lives after it was issued.
pub const REFRESH_LIFETIME_MS: Millis = 30 * 24 * 3_600_000;

/// How many codes one number and one source address may be sent, and how
/// many codes one source address may try.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignInLimits {
    pub per_number: Rate,
    pub per_number_daily: Rate,
    /// Generous: mobile carriers put many phones behind one address.
    pub sends_per_address: Rate,
    pub checks_per_address: Rate,
}

impl Default for SignInLimits {
    fn default() -> Self {
        SignInLimits {
            per_number: Rate {
                max: 3,
                window_ms: 15 * 60_000,
            },
            per_number_daily: Rate {
                max: 10,
                window_ms: 24 * 3_600_000,
            },
            sends_per_address: Rate {
                max: 30,
                window_ms: 3_600_000,
            },
            checks_per_address: Rate {
                max: 60,
                window_ms: 3_600_000,
            },
        }
    }
}

/// Six digits, as sent and as typed. `Debug` hides them.
#[derive(Clone, PartialEq, Eq)]
pub struct OneTimeCode(String);

impl fmt::Debug for OneTimeCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("OneTimeCode(******)")
    }
}

/// Why a typed code was refused before it was compared.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a code is 6 digits")]
pub struct MalformedCode;

impl OneTimeCode {
    /// A fresh random code (uniform over 000000-999999).
    pub fn generate() -> Result<Self, RandomUnavailable> {
        loop {
            let bytes: [u8; 4] = random_bytes()?;
            let n = u32::from_be_bytes(bytes);
            // Rejection sampling: no digit is likelier than another.
            if n < 4_294_000_000 {
                return Ok(OneTimeCode(format!("{:06}", n % 1_000_000)));
            }
        }
    }

    /// A code as the person typed it (spaces allowed between digits).
    pub fn parse(raw: &str) -> Result<Self, MalformedCode> {
        // As typed on a Latin or a Bangla keyboard.
        let digits: String = raw
            .chars()
            .filter(|c| !c.is_whitespace())
            .map(super::demand::words::latin_digit)
            .collect();
        if digits.len() == 6 && digits.bytes().all(|b| b.is_ascii_digit()) {
            Ok(OneTimeCode(digits))
        } else {
            Err(MalformedCode)
        }
    }

    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The system's random source failed (never expected).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("no random bytes available")]
pub struct RandomUnavailable;

fn random_bytes<const N: usize>() -> Result<[u8; N], RandomUnavailable> {
    let mut bytes = [0u8; N];
    rand::fill(&mut bytes).map_err(|_| RandomUnavailable)?;
    Ok(bytes)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

/// Digests codes with the deployment's pepper (a secret kept outside the
/// table), so stored digests cannot be tried offline.
#[derive(Clone)]
pub struct CodeHasher {
    key: hmac::Key,
}

impl fmt::Debug for CodeHasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CodeHasher(..)")
    }
}

impl CodeHasher {
    #[must_use]
    pub fn new(pepper: &[u8]) -> Self {
        CodeHasher {
            key: hmac::Key::new(hmac::HMAC_SHA256, pepper),
        }
    }

    /// A hasher with a random pepper: codes survive only in this process
    /// (the local stack and tests).
    pub fn random() -> Result<Self, RandomUnavailable> {
        Ok(Self::new(&random_bytes::<32>()?))
    }

    fn message(salt: &[u8], phone: &PhoneNumber, code: &OneTimeCode) -> Vec<u8> {
        let mut message = salt.to_vec();
        message.extend_from_slice(phone.as_e164().as_bytes());
        message.push(b'#');
        message.extend_from_slice(code.as_str().as_bytes());
        message
    }

    /// The stored form of `code` sent to `phone`, with a fresh salt.
    pub fn pending(
        &self,
        phone: &PhoneNumber,
        code: &OneTimeCode,
        now: Millis,
    ) -> Result<PendingCode, RandomUnavailable> {
        let salt: [u8; 16] = random_bytes()?;
        let tag = hmac::sign(&self.key, &Self::message(&salt, phone, code));
        Ok(PendingCode {
            salt: hex(&salt),
            digest: hex(tag.as_ref()),
            expires_ms: now + CODE_LIFETIME_MS,
            wrong: 0,
        })
    }

    /// Whether `code` is the one `pending` was made from (in constant time).
    fn matches(&self, pending: &PendingCode, phone: &PhoneNumber, code: &OneTimeCode) -> bool {
        match (unhex(&pending.salt), unhex(&pending.digest)) {
            (Some(salt), Some(tag)) => hmac::verify(&self.key, &Self::message(&salt, phone, code), &tag).is_ok(),
            _ => false,
        }
    }
}

/// A code waiting to be typed: its digest, when it expires and how many
/// wrong attempts it has had.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingCode {
    salt: String,
    digest: String,
    pub expires_ms: Millis,
    wrong: u32,
}

/// One number's sign-in record: the code it may use (at most one: a new
/// code replaces the last) and the codes it was sent lately.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CodeRecord {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    code: Option<PendingCode>,
    #[serde(default)]
    sent: SlidingWindow,
    #[serde(default)]
    sent_today: SlidingWindow,
}

/// A typed code was refused: wrong, expired, used, or never sent. Callers
/// are not told which.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the code is not valid")]
pub struct CodeRefused;

impl CodeRecord {
    /// The record with `code` pending (replacing any earlier one), if the
    /// number may be sent another code now; else how long to wait.
    pub fn send(&self, code: PendingCode, now: Millis, limits: SignInLimits) -> Result<CodeRecord, LimitReached> {
        let refused = |retry_after_ms| LimitReached::SignInCodes { retry_after_ms };
        let sent = self.sent.take(now, limits.per_number).map_err(refused)?;
        let sent_today = self.sent_today.take(now, limits.per_number_daily).map_err(refused)?;
        Ok(CodeRecord {
            code: Some(code),
            sent,
            sent_today,
        })
    }

    /// Checks a typed code at `now`. Returns the record to write either
    /// way (the code used up, a wrong attempt counted, a dead code gone)
    /// and whether it was right.
    pub fn check(
        &self,
        hasher: &CodeHasher,
        phone: &PhoneNumber,
        typed: &OneTimeCode,
        now: Millis,
    ) -> (CodeRecord, Result<(), CodeRefused>) {
        let mut next = self.clone();
        let Some(mut pending) = next.code.take() else {
            return (next, Err(CodeRefused));
        };
        if now >= pending.expires_ms || pending.wrong >= MAX_WRONG_ATTEMPTS {
            return (next, Err(CodeRefused));
        }
        if hasher.matches(&pending, phone, typed) {
            // Used: gone from the record, so it cannot be used again.
            return (next, Ok(()));
        }
        pending.wrong += 1;
        if pending.wrong < MAX_WRONG_ATTEMPTS {
            next.code = Some(pending);
        }
        (next, Err(CodeRefused))
    }

    /// When storage may forget the record: once its code is dead and its
    /// send windows are empty.
    #[must_use]
    pub fn forget_after_ms(&self, now: Millis, limits: SignInLimits) -> Millis {
        let code = self.code.as_ref().map_or(now, |c| c.expires_ms);
        code.max(now + limits.per_number_daily.window_ms)
    }
}

/// A refresh token as a client holds it: the family it belongs to and its
/// secret. `Debug` hides the secret.
#[derive(Clone, PartialEq, Eq)]
pub struct RefreshToken {
    family: String,
    secret: String,
}

impl fmt::Debug for RefreshToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RefreshToken")
            .field("family", &self.family)
            .finish_non_exhaustive()
    }
}

/// A refresh token that is not one this service issued, by its shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("not a refresh token")]
pub struct MalformedRefreshToken;

fn random_text<const N: usize>() -> Result<String, RandomUnavailable> {
    Ok(hex(&random_bytes::<N>()?))
}

fn is_token_text(text: &str, len: usize) -> bool {
    text.len() == len && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

impl RefreshToken {
    /// A new token in a new family.
    pub fn new_family() -> Result<Self, RandomUnavailable> {
        Ok(RefreshToken {
            family: random_text::<16>()?,
            secret: random_text::<32>()?,
        })
    }

    /// The next token of the same family.
    pub fn next(&self) -> Result<Self, RandomUnavailable> {
        Ok(RefreshToken {
            family: self.family.clone(),
            secret: random_text::<32>()?,
        })
    }

    pub fn parse(raw: &str) -> Result<Self, MalformedRefreshToken> {
        let (family, secret) = raw.trim().split_once('.').ok_or(MalformedRefreshToken)?;
        if is_token_text(family, 32) && is_token_text(secret, 64) {
            Ok(RefreshToken {
                family: family.to_string(),
                secret: secret.to_string(),
            })
        } else {
            Err(MalformedRefreshToken)
        }
    }

    /// The family's id: the key its record is stored under.
    #[must_use]
    pub fn family(&self) -> &str {
        &self.family
    }

    /// What the client is given.
    #[must_use]
    pub fn expose(&self) -> String {
        format!("{}.{}", self.family, self.secret)
    }

    fn digest(&self) -> String {
        hex(digest::digest(&digest::SHA256, self.secret.as_bytes()).as_ref())
    }
}

/// One sign-in's chain of refresh tokens: who it signs in as, the digest of
/// the one live token, and whether the family was revoked. It keeps no
/// phone number: a refresh reads none, so none can reach a log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefreshFamily {
    pub caller: Caller,
    /// The role the number signed in as (none for guests).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<Role>,
    current: String,
    pub created_ms: Millis,
    pub expires_ms: Millis,
    #[serde(default)]
    pub revoked: bool,
}

/// Why a refresh token was refused. Clients get one answer for all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RefreshRefused {
    #[error("the refresh token has expired or was revoked")]
    Dead,
    /// A replaced token came back: someone holds a copy. The family is
    /// revoked (write the record returned with it).
    #[error("the refresh token was already used")]
    Reused,
}

impl RefreshFamily {
    /// A new family whose live token is `token`.
    #[must_use]
    pub fn start(token: &RefreshToken, caller: Caller, role: Option<Role>, now: Millis) -> Self {
        RefreshFamily {
            caller,
            role,
            current: token.digest(),
            created_ms: now,
            expires_ms: now + REFRESH_LIFETIME_MS,
            revoked: false,
        }
    }

    /// Whether `token` is this family's live token at `now`, the family
    /// signed in after `signed_out_before_ms` (sign-out everywhere).
    fn live(&self, token: &RefreshToken, now: Millis, signed_out_before_ms: Millis) -> Result<(), RefreshRefused> {
        if self.revoked || now >= self.expires_ms || self.created_ms < signed_out_before_ms {
            return Err(RefreshRefused::Dead);
        }
        let presented = token.digest();
        let same = aws_lc_rs::constant_time::verify_slices_are_equal(presented.as_bytes(), self.current.as_bytes());
        if same.is_err() {
            return Err(RefreshRefused::Reused);
        }
        Ok(())
    }

    /// The family after `presented` is exchanged for `next` at `now`: the
    /// new token lives [`REFRESH_LIFETIME_MS`] from now. On
    /// [`RefreshRefused::Reused`] the revoked family comes with it, to be
    /// written.
    pub fn rotate(
        &self,
        presented: &RefreshToken,
        next: &RefreshToken,
        now: Millis,
        signed_out_before_ms: Millis,
    ) -> Result<RefreshFamily, (RefreshRefused, Option<RefreshFamily>)> {
        match self.live(presented, now, signed_out_before_ms) {
            Ok(()) => Ok(RefreshFamily {
                current: next.digest(),
                expires_ms: now + REFRESH_LIFETIME_MS,
                ..self.clone()
            }),
            Err(RefreshRefused::Reused) => Err((RefreshRefused::Reused, Some(self.revoke()))),
            Err(dead) => Err((dead, None)),
        }
    }

    /// Whether `presented` is the live token (sign-out proves possession
    /// with it).
    pub fn holds(
        &self,
        presented: &RefreshToken,
        now: Millis,
        signed_out_before_ms: Millis,
    ) -> Result<(), RefreshRefused> {
        self.live(presented, now, signed_out_before_ms)
    }

    /// Whether `presented` is the family's latest token, revoked or not:
    /// signing out twice with it is still signing out.
    #[must_use]
    pub fn is_latest(&self, presented: &RefreshToken) -> bool {
        aws_lc_rs::constant_time::verify_slices_are_equal(presented.digest().as_bytes(), self.current.as_bytes())
            .is_ok()
    }

    /// The family revoked: none of its tokens refreshes again.
    #[must_use]
    pub fn revoke(&self) -> RefreshFamily {
        RefreshFamily {
            revoked: true,
            ..self.clone()
        }
    }
}

/// Sign-out everywhere for one caller: every family signed in before
/// `before_ms` is dead.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionCutoff {
    #[serde(default)]
    pub before_ms: Millis,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::clock::{Clock, ManualClock};
    use crate::domain::ids::CustomerId;

    fn phone() -> PhoneNumber {
        PhoneNumber::new("01712345678").expect("phone")
    }

    fn sent(hasher: &CodeHasher, code: &OneTimeCode, clock: &ManualClock) -> CodeRecord {
        let pending = hasher.pending(&phone(), code, clock.now_ms()).expect("random");
        CodeRecord::default()
            .send(pending, clock.now_ms(), SignInLimits::default())
            .expect("within limits")
    }

    #[test]
    fn codes_are_six_random_digits_and_typed_ones_are_checked() {
        let a = OneTimeCode::generate().expect("random");
        assert_eq!(a.as_str().len(), 6);
        assert!(a.as_str().bytes().all(|b| b.is_ascii_digit()));
        let many: std::collections::HashSet<String> = (0..50)
            .map(|_| OneTimeCode::generate().expect("random").as_str().to_string())
            .collect();
        assert!(many.len() > 45, "codes repeat too often");
        assert_eq!(OneTimeCode::parse(" 123 456 ").map(|c| c.0), Ok("123456".into()));
        assert_eq!(OneTimeCode::parse("১২৩ ৪৫৬").map(|c| c.0), Ok("123456".into()));
        assert_eq!(OneTimeCode::parse("12345"), Err(MalformedCode));
        assert_eq!(OneTimeCode::parse("12345a"), Err(MalformedCode));
        assert_eq!(format!("{a:?}"), "OneTimeCode(******)");
    }

    #[test]
    fn a_code_is_stored_only_as_a_digest_and_works_once() {
        let hasher = CodeHasher::random().expect("random");
        let clock = ManualClock::at(1_000_000);
        let code = OneTimeCode::parse("424242").expect("code");
        let record = sent(&hasher, &code, &clock);
        let stored = serde_json::to_string(&record).expect("json");
        assert!(!stored.contains("424242"), "{stored}");

        let (used, ok) = record.check(&hasher, &phone(), &code, clock.now_ms());
        assert_eq!(ok, Ok(()));
        let (_, again) = used.check(&hasher, &phone(), &code, clock.now_ms());
        assert_eq!(again, Err(CodeRefused), "single use");

        // The same code for another number is another digest.
        let other = PhoneNumber::new("01812345678").expect("phone");
        assert_eq!(record.check(&hasher, &other, &code, clock.now_ms()).1, Err(CodeRefused));
        // And another pepper (another deployment) does not match.
        let elsewhere = CodeHasher::random().expect("random");
        assert_eq!(
            record.check(&elsewhere, &phone(), &code, clock.now_ms()).1,
            Err(CodeRefused)
        );
    }

    #[test]
    fn a_code_expires_after_five_minutes() {
        let hasher = CodeHasher::random().expect("random");
        let clock = ManualClock::at(1_000_000);
        let code = OneTimeCode::parse("111111").expect("code");
        let record = sent(&hasher, &code, &clock);
        clock.advance_ms(CODE_LIFETIME_MS - 1);
        assert_eq!(record.check(&hasher, &phone(), &code, clock.now_ms()).1, Ok(()));
        clock.advance_ms(1);
        assert_eq!(
            record.check(&hasher, &phone(), &code, clock.now_ms()).1,
            Err(CodeRefused)
        );
    }

    #[test]
    fn five_wrong_attempts_kill_the_code() {
        let hasher = CodeHasher::random().expect("random");
        let clock = ManualClock::at(1_000_000);
        let code = OneTimeCode::parse("123456").expect("code");
        let wrong = OneTimeCode::parse("654321").expect("code");
        let mut record = sent(&hasher, &code, &clock);
        for _ in 0..MAX_WRONG_ATTEMPTS - 1 {
            let (next, result) = record.check(&hasher, &phone(), &wrong, clock.now_ms());
            assert_eq!(result, Err(CodeRefused));
            record = next;
        }
        // The fourth wrong attempt left it alive: the right code still works...
        assert_eq!(record.check(&hasher, &phone(), &code, clock.now_ms()).1, Ok(()));
        // ...but the fifth kills it, right code or not.
        let (dead, _) = record.check(&hasher, &phone(), &wrong, clock.now_ms());
        assert_eq!(dead.check(&hasher, &phone(), &code, clock.now_ms()).1, Err(CodeRefused));
    }

    #[test]
    fn a_new_code_replaces_the_last_and_sends_are_limited_per_number() {
        let hasher = CodeHasher::random().expect("random");
        let clock = ManualClock::at(1_000_000);
        let limits = SignInLimits::default();
        let first = OneTimeCode::parse("000001").expect("code");
        let second = OneTimeCode::parse("000002").expect("code");
        let record = sent(&hasher, &first, &clock);
        let pending = hasher.pending(&phone(), &second, clock.now_ms()).expect("random");
        let record = record.send(pending, clock.now_ms(), limits).expect("second send");
        assert_eq!(
            record.check(&hasher, &phone(), &first, clock.now_ms()).1,
            Err(CodeRefused)
        );
        assert_eq!(record.check(&hasher, &phone(), &second, clock.now_ms()).1, Ok(()));

        let pending = hasher.pending(&phone(), &second, clock.now_ms()).expect("random");
        let record = record
            .send(pending.clone(), clock.now_ms(), limits)
            .expect("third send");
        let refused = record.send(pending.clone(), clock.now_ms(), limits);
        assert_eq!(
            refused,
            Err(LimitReached::SignInCodes {
                retry_after_ms: 15 * 60_000
            })
        );
        // After 15 minutes three more; the tenth of the day is the last.
        let mut record = record;
        let mut sends = 3;
        while sends < 10 {
            clock.advance_ms(15 * 60_000);
            for _ in 0..3 {
                if sends == 10 {
                    break;
                }
                record = record
                    .send(pending.clone(), clock.now_ms(), limits)
                    .expect("within the day");
                sends += 1;
            }
        }
        clock.advance_ms(15 * 60_000);
        assert!(matches!(
            record.send(pending, clock.now_ms(), limits),
            Err(LimitReached::SignInCodes { .. })
        ));
    }

    #[test]
    fn refresh_tokens_rotate_and_a_reused_one_revokes_the_family() {
        let clock = ManualClock::at(1_000_000);
        let caller = Caller::Customer(CustomerId::new("c-1").expect("id"));
        let first = RefreshToken::new_family().expect("random");
        assert_eq!(RefreshToken::parse(&first.expose()), Ok(first.clone()));
        assert_eq!(RefreshToken::parse("abc.def"), Err(MalformedRefreshToken));
        assert!(!format!("{first:?}").contains(&first.secret));

        let family = RefreshFamily::start(&first, caller, Some(Role::Customer), clock.now_ms());
        assert!(!serde_json::to_string(&family).expect("json").contains(&first.secret));
        let second = first.next().expect("random");
        let family = family.rotate(&first, &second, clock.now_ms(), 0).expect("rotated");

        // The first token again: a copy exists, so the family dies.
        let third = second.next().expect("random");
        let (why, revoked) = family.rotate(&first, &third, clock.now_ms(), 0).expect_err("reuse");
        assert_eq!(why, RefreshRefused::Reused);
        let revoked = revoked.expect("revoked family");
        assert!(matches!(
            revoked.rotate(&second, &third, clock.now_ms(), 0),
            Err((RefreshRefused::Dead, None))
        ));
    }

    #[test]
    fn refresh_tokens_expire_after_thirty_days_and_sign_out_everywhere_ends_older_families() {
        let clock = ManualClock::at(1_000_000);
        let caller = Caller::Customer(CustomerId::new("c-1").expect("id"));
        let token = RefreshToken::new_family().expect("random");
        let family = RefreshFamily::start(&token, caller, None, clock.now_ms());
        assert!(family.holds(&token, clock.now_ms(), 0).is_ok());
        assert_eq!(
            family.holds(&token, clock.now_ms(), clock.now_ms() + 1),
            Err(RefreshRefused::Dead),
            "signed out everywhere after it began"
        );
        clock.advance_ms(REFRESH_LIFETIME_MS);
        assert_eq!(family.holds(&token, clock.now_ms(), 0), Err(RefreshRefused::Dead));
    }
}
