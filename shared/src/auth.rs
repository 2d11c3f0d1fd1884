//! Signed identity tokens (JWT, RS256) and their verification.
//!
//! The service issues its own tokens: a guest customer gets one from
//! `POST /auth/guest`; store tokens come from operators (and, locally, from
//! the development route of the local stack). The public keys are published
//! as a JWKS at `/.well-known/jwks.json` with an OpenID discovery document,
//! which is what API Gateway's JWT authorizer reads: it verifies RSA
//! signatures only, hence RS256 with 2048-bit keys.
//!
//! Keys rotate with an overlap. The signing secret ([`SigningSecret`], JSON
//! in Secrets Manager) holds the `current` key and, for a while after a
//! rotation, the `previous` one with the time it stops being valid. The
//! issuer signs with `current`; the JWKS lists both while the previous one
//! is valid; the verifier accepts both in that window and refuses
//! previous-key tokens after it. Running processes re-read the secret at
//! most every refresh interval ([`TokenIssuer::refresh_if_due`]), and a
//! verifier that meets an unknown key id fetches its keys again (rate
//! limited), so a rotation reaches every process without a redeploy.
//!
//! The same [`TokenVerifier`] backs the WebSocket Lambda authorizer and the
//! local gateway, so every path verifies a token the same way.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use aws_lc_rs::encoding::AsDer as _;
use aws_lc_rs::rsa::{KeyPair, KeySize};
use base64::Engine as _;
use jsonwebtoken::jwk::{Jwk, JwkSet, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::domain::clock::{Clock, Millis, SystemClock};
use crate::domain::ids::Caller;

/// The only signing algorithm accepted: `none`, HMAC, ECDSA and RSA-PSS
/// tokens are refused whatever their signature. API Gateway's JWT
/// authorizer supports RSA-based algorithms only.
pub const ALGORITHM: Algorithm = Algorithm::RS256;
/// The audience every token names.
pub const AUDIENCE: &str = "neighbourhood-orders";
/// How long an access token lives: 15 minutes.
pub const ACCESS_TOKEN_LIFETIME_S: i64 = 15 * 60;
/// The older name of [`ACCESS_TOKEN_LIFETIME_S`].
pub const TOKEN_LIFETIME_S: i64 = ACCESS_TOKEN_LIFETIME_S;
/// How often a running process re-reads the signing secret (and a verifier
/// its JWKS) unless told otherwise (`JWT_KEY_REFRESH_SECONDS`).
pub const DEFAULT_KEY_REFRESH: Duration = Duration::from_secs(300);
/// The least time between two fetches caused by unknown key ids, so a
/// stream of forged tokens cannot turn into a stream of fetches.
pub const DEFAULT_MIN_REFETCH: Duration = Duration::from_secs(10);
/// How long the previous key stays valid after a rotation unless told
/// otherwise: a token signed with it just before the rotation, or by a
/// process that has not re-read the secret yet (up to one refresh interval
/// later), has expired by then.
pub const DEFAULT_ROTATION_OVERLAP_S: i64 = ACCESS_TOKEN_LIFETIME_S + 300;
/// Leeway on `exp` and `nbf` for clock skew between processes.
const LEEWAY_S: i64 = 30;

/// The claims of an identity token; `sub` is the caller (`customer:c1`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub iss: String,
    pub aud: String,
    pub iat: i64,
    pub nbf: i64,
    pub exp: i64,
}

/// Why a token was refused. Deliberately coarse towards clients.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("no token")]
    Missing,
    #[error("the token is not valid")]
    Invalid,
    #[error("the token has expired")]
    Expired,
    /// Not the token's fault: the verifier needed its keys again and could
    /// not fetch them. A fault to report, not a refusal.
    #[error("the verification keys could not be fetched")]
    KeysUnavailable,
}

/// Why a key could not be loaded or made.
#[derive(Debug, thiserror::Error)]
#[error("signing key: {0}")]
pub struct KeyError(String);

impl KeyError {
    #[must_use]
    pub fn from_message(message: String) -> Self {
        KeyError(message)
    }
}

/// A future a key source returns (boxed, so sources can be trait objects).
pub type KeyFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, KeyError>> + Send + 'a>>;

// ---- The signing secret -----------------------------------------------------

/// The signing secret as stored (Secrets Manager `SecretString`):
/// `{"current": PEM, "previous": PEM, "previous_valid_until": unix seconds}`,
/// the last two only during a rotation's overlap. Keys are PKCS#8 PEM.
/// `sign_in_pepper` keys the digests of sign-in codes: one value for every
/// instance, kept across rotations (a code outlives no rotation's overlap,
/// but must verify on whichever instance the check reaches).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SigningSecret {
    pub current: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_valid_until: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sign_in_pepper: Option<String>,
}

impl fmt::Debug for SigningSecret {
    // Never print key material.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningSecret")
            .field("previous", &self.previous.as_ref().map(|_| "<redacted>"))
            .field("previous_valid_until", &self.previous_valid_until)
            .field("sign_in_pepper", &self.sign_in_pepper.as_ref().map(|_| "<redacted>"))
            .finish_non_exhaustive()
    }
}

impl SigningSecret {
    /// A secret with one fresh key and no previous one.
    pub fn generate() -> Result<Self, KeyError> {
        Ok(SigningSecret {
            current: generate_pem()?,
            previous: None,
            previous_valid_until: None,
            sign_in_pepper: Some(generate_pepper()?),
        })
    }

    /// Parses the stored JSON.
    pub fn parse(json: &str) -> Result<Self, KeyError> {
        // The parser's message could quote the input: keep it out.
        serde_json::from_str(json).map_err(|_| KeyError("the signing secret is not the expected JSON".into()))
    }

    /// The JSON to store.
    #[must_use]
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// The secret after a rotation at `now_s`: `new_current` signs from now
    /// on, the old current key stays valid for `overlap_s` more seconds, and
    /// an older previous key is dropped.
    #[must_use]
    pub fn rotated(self, new_current: String, now_s: i64, overlap_s: i64) -> Self {
        SigningSecret {
            current: new_current,
            previous: Some(self.current),
            previous_valid_until: Some(now_s + overlap_s),
            sign_in_pepper: self.sign_in_pepper,
        }
    }

    /// The pepper for sign-in code digests: the stored one, or (a secret
    /// made before peppers were stored) one derived from the current key.
    #[must_use]
    pub fn sign_in_pepper(&self) -> Vec<u8> {
        match &self.sign_in_pepper {
            Some(pepper) => pepper.as_bytes().to_vec(),
            None => {
                let mut context = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
                context.update(b"sign-in code pepper\n");
                context.update(self.current.as_bytes());
                context.finish().as_ref().to_vec()
            }
        }
    }
}

/// 32 random bytes, base64: a fresh sign-in pepper.
fn generate_pepper() -> Result<String, KeyError> {
    use aws_lc_rs::rand::SecureRandom as _;
    let mut bytes = [0u8; 32];
    aws_lc_rs::rand::SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| KeyError("could not make a pepper".into()))?;
    Ok(base64::engine::general_purpose::STANDARD.encode(bytes))
}

/// A fresh 2048-bit RSA key as PKCS#8 PEM.
pub fn generate_pem() -> Result<String, KeyError> {
    let pair = KeyPair::generate(KeySize::Rsa2048).map_err(|_| KeyError("could not generate an RSA key".into()))?;
    let der = pair
        .as_der()
        .map_err(|_| KeyError("could not serialize the RSA key".into()))?;
    let encoded = base64::engine::general_purpose::STANDARD.encode(der.as_ref());
    let mut pem = String::from("-----BEGIN PRIVATE KEY-----\n");
    for line in encoded.as_bytes().chunks(64) {
        pem.push_str(&String::from_utf8_lossy(line));
        pem.push('\n');
    }
    pem.push_str("-----END PRIVATE KEY-----\n");
    Ok(pem)
}

/// Where an issuer reads its signing secret (Secrets Manager on AWS).
pub trait SecretSource: Send + Sync {
    /// The secret as stored now.
    ///
    /// # Errors
    /// The store could not be read or the secret is malformed.
    fn load(&self) -> KeyFuture<'_, SigningSecret>;
}

/// A secret held in memory (tests, and a local stack with a fixed key).
#[derive(Default)]
pub struct MemorySecret(RwLock<Option<SigningSecret>>);

impl MemorySecret {
    #[must_use]
    pub fn new(secret: SigningSecret) -> Self {
        MemorySecret(RwLock::new(Some(secret)))
    }

    /// Replaces the secret, as a rotation does.
    pub fn put(&self, secret: SigningSecret) {
        if let Ok(mut held) = self.0.write() {
            *held = Some(secret);
        }
    }
}

impl SecretSource for MemorySecret {
    fn load(&self) -> KeyFuture<'_, SigningSecret> {
        let secret = self.0.read().ok().and_then(|held| held.clone());
        Box::pin(async move { secret.ok_or_else(|| KeyError("no signing secret".into())) })
    }
}

// ---- Keys ----------------------------------------------------------------

/// One RSA private key with its public JWK.
struct SigningKey {
    key: EncodingKey,
    kid: String,
    public: Jwk,
}

impl SigningKey {
    fn from_pem(pem: &str) -> Result<Self, KeyError> {
        let key = EncodingKey::from_rsa_pem(pem.as_bytes())
            .map_err(|_| KeyError("the key is not an RSA private key in PEM".into()))?;
        let mut public = Jwk::from_encoding_key(&key, ALGORITHM).map_err(|e| KeyError(e.to_string()))?;
        // The key id is a digest of the public key, so it changes with the key.
        let thumbprint = public
            .thumbprint(jsonwebtoken::jwk::ThumbprintHash::SHA256)
            .map_err(|e| KeyError(e.to_string()))?;
        let kid: String = thumbprint.chars().take(16).collect();
        public.common.key_id = Some(kid.clone());
        public.common.public_key_use = Some(PublicKeyUse::Signature);
        Ok(SigningKey { key, kid, public })
    }
}

/// The keys of one version of the signing secret.
struct KeyRing {
    current: SigningKey,
    /// The previous key and the second it stops being valid.
    previous: Option<(SigningKey, i64)>,
    /// The secret's pepper for sign-in code digests.
    sign_in_pepper: Vec<u8>,
}

impl KeyRing {
    fn from_secret(secret: &SigningSecret) -> Result<Self, KeyError> {
        let current = SigningKey::from_pem(&secret.current)?;
        let previous = match (&secret.previous, secret.previous_valid_until) {
            (Some(pem), Some(until)) => Some((SigningKey::from_pem(pem)?, until)),
            // A previous key with no end is not trusted: rotation always
            // sets one.
            _ => None,
        };
        Ok(KeyRing {
            current,
            previous,
            sign_in_pepper: secret.sign_in_pepper(),
        })
    }

    /// The public keys valid at `now_s`, with when each stops being valid.
    fn public_keys(&self, now_s: i64) -> Vec<VerificationKey> {
        let mut keys = vec![VerificationKey {
            jwk: self.current.public.clone(),
            not_after_s: None,
        }];
        if let Some((previous, until)) = &self.previous
            && now_s < *until
            && previous.kid != self.current.kid
        {
            keys.push(VerificationKey {
                jwk: previous.public.clone(),
                not_after_s: Some(*until),
            });
        }
        keys
    }
}

/// A public key a verifier trusts, until `not_after_s` if set (unix
/// seconds; tokens are refused from that second on).
#[derive(Debug, Clone)]
pub struct VerificationKey {
    pub jwk: Jwk,
    pub not_after_s: Option<i64>,
}

fn millis_to_s(ms: Millis) -> i64 {
    ms.div_euclid(1000)
}

fn duration_ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

// ---- The issuer ------------------------------------------------------------

/// Signs tokens with the current key of its secret, and publishes the keys.
pub struct TokenIssuer {
    issuer: String,
    clock: Arc<dyn Clock>,
    ring: RwLock<Arc<KeyRing>>,
    source: Option<Arc<dyn SecretSource>>,
    refresh_every_ms: i64,
    min_reload_ms: i64,
    loaded_at_ms: AtomicI64,
    reloading: tokio::sync::Mutex<()>,
    /// Counts the key rings installed (each re-read of the secret installs
    /// one), so a verifier that follows the issuer rebuilds its keys only
    /// after one, not on every request.
    generation: AtomicU64,
}

impl fmt::Debug for TokenIssuer {
    // Never print key material.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenIssuer")
            .field("kid", &self.current_kid())
            .field("issuer", &self.issuer)
            .finish_non_exhaustive()
    }
}

impl TokenIssuer {
    fn with_ring(ring: KeyRing, issuer: impl Into<String>) -> Self {
        TokenIssuer {
            issuer: issuer.into(),
            clock: Arc::new(SystemClock),
            ring: RwLock::new(Arc::new(ring)),
            source: None,
            refresh_every_ms: duration_ms(DEFAULT_KEY_REFRESH),
            min_reload_ms: duration_ms(DEFAULT_MIN_REFETCH),
            loaded_at_ms: AtomicI64::new(0),
            reloading: tokio::sync::Mutex::new(()),
            generation: AtomicU64::new(0),
        }
    }

    /// A fresh key (local stack and tests).
    pub fn generate(issuer: impl Into<String>) -> Result<Self, KeyError> {
        Self::from_secret(&SigningSecret::generate()?, issuer)
    }

    /// One fixed key from PKCS#8 PEM.
    pub fn from_pem(pem: &str, issuer: impl Into<String>) -> Result<Self, KeyError> {
        Self::from_secret(
            &SigningSecret {
                current: pem.to_string(),
                previous: None,
                previous_valid_until: None,
                sign_in_pepper: None,
            },
            issuer,
        )
    }

    /// The keys of a secret, fixed (no source to re-read).
    pub fn from_secret(secret: &SigningSecret, issuer: impl Into<String>) -> Result<Self, KeyError> {
        Ok(Self::with_ring(KeyRing::from_secret(secret)?, issuer))
    }

    /// Reads the secret from `source` now (at init) and re-reads it at most
    /// every `refresh` afterwards ([`TokenIssuer::refresh_if_due`]).
    pub async fn from_source(
        source: Arc<dyn SecretSource>,
        issuer: impl Into<String>,
        clock: Arc<dyn Clock>,
        refresh: Duration,
    ) -> Result<Self, KeyError> {
        let secret = source.load().await?;
        let mut this = Self::from_secret(&secret, issuer)?;
        this.loaded_at_ms = AtomicI64::new(clock.now_ms());
        this.clock = clock;
        this.source = Some(source);
        this.refresh_every_ms = duration_ms(refresh);
        this.min_reload_ms = this.min_reload_ms.min(this.refresh_every_ms);
        Ok(this)
    }

    /// The clock that decides whether the previous key is still valid.
    #[must_use]
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    fn ring(&self) -> Arc<KeyRing> {
        match self.ring.read() {
            Ok(ring) => Arc::clone(&ring),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    fn current_kid(&self) -> String {
        self.ring().current.kid.clone()
    }

    /// The pepper for sign-in code digests, from the secret the keys came
    /// from ([`SigningSecret::sign_in_pepper`]), so no second read is needed.
    #[must_use]
    pub fn sign_in_pepper(&self) -> Vec<u8> {
        self.ring().sign_in_pepper.clone()
    }

    /// Re-reads the secret if the refresh interval has passed since the
    /// last read. A failed read is logged and the keys held are kept.
    pub async fn refresh_if_due(&self) {
        let due = self.clock.now_ms() - self.loaded_at_ms.load(Ordering::Acquire) >= self.refresh_every_ms;
        if self.source.is_some()
            && due
            && let Err(e) = self.reload_unless_within(self.refresh_every_ms).await
        {
            tracing::warn!(error = %e, "could not re-read the signing secret; keeping the keys held");
        }
    }

    /// Re-reads the secret now, unless it was read within the minimum
    /// interval (a verifier met an unknown key id).
    pub async fn reload_soon(&self) -> Result<(), KeyError> {
        self.reload_unless_within(self.min_reload_ms).await
    }

    async fn reload_unless_within(&self, gap_ms: i64) -> Result<(), KeyError> {
        let Some(source) = &self.source else {
            return Ok(());
        };
        let _one_at_a_time = self.reloading.lock().await;
        let now = self.clock.now_ms();
        if now - self.loaded_at_ms.load(Ordering::Acquire) < gap_ms {
            return Ok(());
        }
        // Counted as a read even if it fails: a broken store is not asked
        // again on every event.
        self.loaded_at_ms.store(now, Ordering::Release);
        let ring = KeyRing::from_secret(&source.load().await?)?;
        let changed = ring.current.kid != self.current_kid();
        if let Ok(mut held) = self.ring.write() {
            *held = Arc::new(ring);
        }
        self.generation.fetch_add(1, Ordering::AcqRel);
        if changed {
            tracing::info!(kid = %self.current_kid(), "signing key changed");
        }
        Ok(())
    }

    /// A token for `caller`, valid from `now` for [`ACCESS_TOKEN_LIFETIME_S`].
    pub fn issue(&self, caller: &Caller, now: Millis) -> Result<String, KeyError> {
        self.issue_with_lifetime(caller, now, ACCESS_TOKEN_LIFETIME_S)
    }

    /// A token with a chosen lifetime (tests make expired ones with this).
    pub fn issue_with_lifetime(&self, caller: &Caller, now: Millis, lifetime_s: i64) -> Result<String, KeyError> {
        let now_s = millis_to_s(now);
        let claims = Claims {
            sub: caller.key(),
            iss: self.issuer.clone(),
            aud: AUDIENCE.to_string(),
            iat: now_s,
            nbf: now_s,
            exp: now_s + lifetime_s,
        };
        let ring = self.ring();
        let mut header = Header::new(ALGORITHM);
        header.kid = Some(ring.current.kid.clone());
        jsonwebtoken::encode(&header, &claims, &ring.current.key).map_err(|e| KeyError(e.to_string()))
    }

    #[must_use]
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The key id new tokens are signed with.
    #[must_use]
    pub fn kid(&self) -> String {
        self.current_kid()
    }

    /// The public keys valid now, with when each stops being valid.
    #[must_use]
    pub fn verification_keys(&self) -> Vec<VerificationKey> {
        self.ring().public_keys(millis_to_s(self.clock.now_ms()))
    }

    /// The public keys, as `/.well-known/jwks.json` serves them: the
    /// current key, and the previous one while its overlap lasts.
    #[must_use]
    pub fn jwks(&self) -> JwkSet {
        JwkSet {
            keys: self.verification_keys().into_iter().map(|k| k.jwk).collect(),
        }
    }

    /// A verifier of the keys held now (it does not follow rotations; see
    /// [`TokenVerifier::following`]).
    pub fn verifier(&self) -> Result<TokenVerifier, KeyError> {
        Ok(TokenVerifier::from_keys(&self.verification_keys(), &self.issuer)?.with_clock(Arc::clone(&self.clock)))
    }
}

/// An issuer is a key source for verifiers in the same process (the local
/// gateway): an unknown key id makes it re-read its secret.
struct IssuerKeys(Arc<TokenIssuer>);

impl KeySource for IssuerKeys {
    fn fetch(&self, reason: FetchReason) -> KeyFuture<'_, Vec<VerificationKey>> {
        Box::pin(async move {
            if reason == FetchReason::UnknownKid {
                self.0.reload_soon().await?;
            }
            Ok(self.0.verification_keys())
        })
    }

    fn generation(&self) -> Option<u64> {
        Some(self.0.generation.load(Ordering::Acquire))
    }
}

// ---- The verifier ------------------------------------------------------------

/// Where a verifier gets its public keys again (the issuer's JWKS URL in
/// the WebSocket authorizer).
pub trait KeySource: Send + Sync {
    /// The keys to trust now.
    ///
    /// # Errors
    /// The keys could not be fetched or parsed.
    fn fetch(&self, reason: FetchReason) -> KeyFuture<'_, Vec<VerificationKey>>;

    /// A number that changes whenever the keys [`KeySource::fetch`] gives
    /// may have changed, where the source can tell cheaply; `None` where it
    /// cannot (a JWKS URL), and the keys are fetched whenever due.
    fn generation(&self) -> Option<u64> {
        None
    }
}

/// Why a verifier fetches its keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FetchReason {
    /// At start, or the refresh interval has passed.
    Refresh,
    /// A token names a key id the verifier does not hold.
    UnknownKid,
}

struct DecodeKey {
    key: DecodingKey,
    not_after_s: Option<i64>,
}

type KeyMap = HashMap<String, DecodeKey>;

fn key_map(keys: &[VerificationKey]) -> Result<KeyMap, KeyError> {
    let mut map = HashMap::new();
    for key in keys {
        let kid = key
            .jwk
            .common
            .key_id
            .clone()
            .ok_or_else(|| KeyError("a key has no kid".into()))?;
        // Only RSA keys meant for RS256: a JWKS cannot smuggle in an HMAC
        // secret or an EC key.
        if !matches!(key.jwk.algorithm, jsonwebtoken::jwk::AlgorithmParameters::RSA(_)) {
            return Err(KeyError(format!("key {kid} is not an RSA key")));
        }
        if key
            .jwk
            .common
            .key_algorithm
            .is_some_and(|alg| alg != jsonwebtoken::jwk::KeyAlgorithm::RS256)
        {
            return Err(KeyError(format!("key {kid} is not for RS256")));
        }
        let decoding = DecodingKey::from_jwk(&key.jwk).map_err(|e| KeyError(e.to_string()))?;
        map.insert(
            kid,
            DecodeKey {
                key: decoding,
                not_after_s: key.not_after_s,
            },
        );
    }
    Ok(map)
}

enum Refusal {
    UnknownKid,
    Auth(AuthError),
}

/// Verifies tokens: RS256 only, a known key id still in its validity,
/// issuer, audience, `exp` and `nbf` (against the injected clock).
pub struct TokenVerifier {
    keys: RwLock<Arc<KeyMap>>,
    issuer: String,
    clock: Arc<dyn Clock>,
    source: Option<Arc<dyn KeySource>>,
    fetched_at_ms: AtomicI64,
    /// The source's [`KeySource::generation`] when the keys held were
    /// fetched (`u64::MAX`: none known).
    fetched_generation: AtomicU64,
    refresh_every_ms: i64,
    min_refetch_ms: i64,
    fetching: tokio::sync::Mutex<()>,
    /// Tokens whose signature has been checked, so a caller's every request
    /// does not pay for an RSA verification (the public key is rebuilt for
    /// each one). The same string carries the same signature, so the check
    /// cannot come out differently; time and the key's validity are still
    /// checked on every use.
    verified: Mutex<HashMap<String, VerifiedToken>>,
}

/// What a genuine token said, as far as later checks need it.
#[derive(Debug, Clone)]
struct VerifiedToken {
    kid: String,
    nbf: i64,
    exp: i64,
    caller: Caller,
}

/// Tokens remembered as verified before the memory is cleared and refilled.
const VERIFIED_TOKENS_HELD: usize = 20_000;

impl fmt::Debug for TokenVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let keys = self.keys();
        f.debug_struct("TokenVerifier")
            .field("kids", &keys.keys().collect::<Vec<_>>())
            .field("issuer", &self.issuer)
            .finish_non_exhaustive()
    }
}

impl TokenVerifier {
    fn new(keys: KeyMap, issuer: &str) -> Self {
        TokenVerifier {
            keys: RwLock::new(Arc::new(keys)),
            issuer: issuer.to_string(),
            clock: Arc::new(SystemClock),
            source: None,
            fetched_at_ms: AtomicI64::new(0),
            fetched_generation: AtomicU64::new(u64::MAX),
            refresh_every_ms: duration_ms(DEFAULT_KEY_REFRESH),
            min_refetch_ms: duration_ms(DEFAULT_MIN_REFETCH),
            fetching: tokio::sync::Mutex::new(()),
            verified: Mutex::default(),
        }
    }

    /// From a JWKS, fixed. Every key must be an RSA key with a `kid`.
    pub fn from_jwks(jwks: &JwkSet, issuer: &str) -> Result<Self, KeyError> {
        let keys: Vec<VerificationKey> = jwks
            .keys
            .iter()
            .map(|jwk| VerificationKey {
                jwk: jwk.clone(),
                not_after_s: None,
            })
            .collect();
        Self::from_keys(&keys, issuer)
    }

    /// From keys with their validity, fixed.
    pub fn from_keys(keys: &[VerificationKey], issuer: &str) -> Result<Self, KeyError> {
        Ok(Self::new(key_map(keys)?, issuer))
    }

    /// Fetches the keys from `source` now, again at most every `refresh`,
    /// and again when a token names an unknown key id (at most every
    /// `min_refetch`).
    pub async fn from_source(
        source: Arc<dyn KeySource>,
        issuer: &str,
        clock: Arc<dyn Clock>,
        refresh: Duration,
        min_refetch: Duration,
    ) -> Result<Self, KeyError> {
        let keys = source.fetch(FetchReason::Refresh).await?;
        let mut this = Self::from_keys(&keys, issuer)?;
        this.fetched_at_ms = AtomicI64::new(clock.now_ms());
        this.clock = clock;
        this.source = Some(source);
        this.refresh_every_ms = duration_ms(refresh);
        this.min_refetch_ms = duration_ms(min_refetch);
        Ok(this)
    }

    /// A verifier in the issuer's own process (the local gateway): it reads
    /// the issuer's keys, which follow rotations of its secret.
    #[must_use]
    pub fn following(issuer: Arc<TokenIssuer>) -> Self {
        let generation = issuer.generation.load(Ordering::Acquire);
        let keys = key_map(&issuer.verification_keys()).unwrap_or_default();
        let mut this = Self::new(keys, &issuer.issuer);
        this.fetched_generation = AtomicU64::new(generation);
        this.clock = Arc::clone(&issuer.clock);
        this.fetched_at_ms = AtomicI64::new(this.clock.now_ms());
        // The issuer's keys are in memory: take them on every check where
        // the issuer installed others since (so a key the issuer dropped
        // is dropped here at once); an unknown kid makes the issuer re-read
        // its secret (rate limited by the issuer).
        this.refresh_every_ms = 0;
        this.min_refetch_ms = 0;
        this.source = Some(Arc::new(IssuerKeys(issuer)));
        this
    }

    /// The clock `exp`, `nbf` and key validity are checked against.
    #[must_use]
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    fn keys(&self) -> Arc<KeyMap> {
        match self.keys.read() {
            Ok(keys) => Arc::clone(&keys),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    /// The caller a token names, if the token is genuine and current, with
    /// the keys held now (no fetch). `Authorization` values may carry a
    /// `Bearer ` prefix.
    pub fn verify(&self, token: &str) -> Result<Caller, AuthError> {
        match self.check(token) {
            Ok(caller) => Ok(caller),
            Err(Refusal::UnknownKid) => Err(AuthError::Invalid),
            Err(Refusal::Auth(e)) => Err(e),
        }
    }

    /// As [`TokenVerifier::verify`], first re-fetching the keys if the
    /// refresh interval has passed, and again if the token names a key id
    /// not held (rate limited). [`AuthError::KeysUnavailable`] means the
    /// keys were needed and could not be fetched: a fault, not a refusal.
    pub async fn verify_fresh(&self, token: &str) -> Result<Caller, AuthError> {
        if self.source.is_some() && self.since_fetch_ms() >= self.refresh_every_ms && !self.holds_latest() {
            // A failed periodic refresh keeps the keys held.
            if let Err(e) = self
                .fetch_unless_within(self.refresh_every_ms, FetchReason::Refresh)
                .await
            {
                tracing::warn!(error = %e, "could not refresh the verification keys; keeping the keys held");
            }
        }
        match self.check(token) {
            Ok(caller) => Ok(caller),
            Err(Refusal::Auth(e)) => Err(e),
            Err(Refusal::UnknownKid) => {
                if self.source.is_none() || self.since_fetch_ms() < self.min_refetch_ms {
                    return Err(AuthError::Invalid);
                }
                if let Err(e) = self
                    .fetch_unless_within(self.min_refetch_ms, FetchReason::UnknownKid)
                    .await
                {
                    tracing::error!(error = %e, "could not fetch the verification keys");
                    return Err(AuthError::KeysUnavailable);
                }
                self.verify(token)
            }
        }
    }

    /// Whether the source says its keys are those held.
    fn holds_latest(&self) -> bool {
        self.source
            .as_ref()
            .and_then(|source| source.generation())
            .is_some_and(|generation| generation == self.fetched_generation.load(Ordering::Acquire))
    }

    fn since_fetch_ms(&self) -> i64 {
        self.clock.now_ms() - self.fetched_at_ms.load(Ordering::Acquire)
    }

    async fn fetch_unless_within(&self, gap_ms: i64, reason: FetchReason) -> Result<(), KeyError> {
        let Some(source) = &self.source else {
            return Ok(());
        };
        let _one_at_a_time = self.fetching.lock().await;
        let now = self.clock.now_ms();
        if gap_ms > 0 && now - self.fetched_at_ms.load(Ordering::Acquire) < gap_ms {
            return Ok(());
        }
        self.fetched_at_ms.store(now, Ordering::Release);
        // Read before the fetch: a change during it is fetched next time.
        let generation = source.generation().unwrap_or(u64::MAX);
        let keys = key_map(&source.fetch(reason).await?)?;
        if let Ok(mut held) = self.keys.write() {
            *held = Arc::new(keys);
        }
        self.fetched_generation.store(generation, Ordering::Release);
        Ok(())
    }

    fn check(&self, token: &str) -> Result<Caller, Refusal> {
        let invalid = || Refusal::Auth(AuthError::Invalid);
        let token = token.trim();
        let token = token
            .strip_prefix("Bearer ")
            .or_else(|| token.strip_prefix("bearer "))
            .unwrap_or(token)
            .trim();
        if token.is_empty() {
            return Err(Refusal::Auth(AuthError::Missing));
        }
        let known = self.verified_memory().get(token).cloned();
        let token_said = match known {
            Some(said) => said,
            None => {
                let said = self.verify_signature(token)?;
                let mut memory = self.verified_memory();
                if memory.len() >= VERIFIED_TOKENS_HELD {
                    memory.clear();
                }
                memory.insert(token.to_string(), said.clone());
                said
            }
        };
        let keys = self.keys();
        let key = keys.get(&token_said.kid).ok_or(Refusal::UnknownKid)?;
        let now_s = millis_to_s(self.clock.now_ms());
        if key.not_after_s.is_some_and(|until| now_s >= until) {
            // The previous key after its overlap.
            return Err(invalid());
        }
        if token_said.exp + LEEWAY_S <= now_s {
            return Err(Refusal::Auth(AuthError::Expired));
        }
        if token_said.nbf - LEEWAY_S > now_s {
            return Err(invalid());
        }
        Ok(token_said.caller)
    }

    fn verified_memory(&self) -> std::sync::MutexGuard<'_, HashMap<String, VerifiedToken>> {
        self.verified.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The signature, algorithm, audience, issuer and subject of a token,
    /// checked with the keys held now; time is left to the caller.
    fn verify_signature(&self, token: &str) -> Result<VerifiedToken, Refusal> {
        let invalid = || Refusal::Auth(AuthError::Invalid);
        let header = jsonwebtoken::decode_header(token).map_err(|_| invalid())?;
        if header.alg != ALGORITHM {
            return Err(invalid());
        }
        let kid = header.kid.ok_or_else(invalid)?;
        let keys = self.keys();
        let key = keys.get(&kid).ok_or(Refusal::UnknownKid)?;
        let mut validation = Validation::new(ALGORITHM);
        validation.set_audience(&[AUDIENCE]);
        validation.set_issuer(&[self.issuer.as_str()]);
        validation.set_required_spec_claims(&["exp", "nbf", "iss", "aud", "sub"]);
        // Time is checked by `check` against the injected clock.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        let data = jsonwebtoken::decode::<Claims>(token, &key.key, &validation).map_err(|_| invalid())?;
        let caller = Caller::parse(&data.claims.sub).map_err(|_| invalid())?;
        Ok(VerifiedToken {
            kid,
            nbf: data.claims.nbf,
            exp: data.claims.exp,
            caller,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::clock::ManualClock;
    use crate::domain::ids::{CustomerId, StoreId};

    fn now_ms() -> Millis {
        SystemClock.now_ms()
    }

    fn customer() -> Caller {
        Caller::Customer(CustomerId::new("c1").expect("id"))
    }

    #[test]
    fn a_token_round_trips_to_its_caller() {
        let issuer = TokenIssuer::generate("https://auth.test").expect("key");
        let store = Caller::Store(StoreId::new("s1").expect("id"));
        let token = issuer.issue(&store, now_ms()).expect("signed");
        let header = jsonwebtoken::decode_header(&token).expect("header");
        assert_eq!(header.alg, Algorithm::RS256);
        assert_eq!(header.kid.as_deref(), Some(issuer.kid().as_str()));
        let verifier = issuer.verifier().expect("verifier");
        assert_eq!(verifier.verify(&token), Ok(store.clone()));
        assert_eq!(verifier.verify(&format!("Bearer {token}")), Ok(store));
    }

    #[test]
    fn the_jwks_is_what_api_gateway_accepts() {
        let issuer = TokenIssuer::generate("https://auth.test").expect("key");
        let jwks = serde_json::to_value(issuer.jwks()).expect("json");
        let keys = jwks["keys"].as_array().expect("keys");
        assert_eq!(keys.len(), 1);
        let key = &keys[0];
        assert_eq!(key["kty"], "RSA");
        assert_eq!(key["alg"], "RS256");
        assert_eq!(key["use"], "sig");
        assert_eq!(key["kid"], issuer.kid().as_str());
        assert!(
            key["n"].as_str().is_some_and(|n| n.len() >= 340),
            "2048-bit modulus: {key}"
        );
        assert_eq!(key["e"], "AQAB");
        assert!(key.get("d").is_none(), "no private part");
    }

    #[test]
    fn forged_expired_and_unsigned_tokens_are_refused() {
        let issuer = TokenIssuer::generate("https://auth.test").expect("key");
        let verifier = issuer.verifier().expect("verifier");
        let customer = customer();

        let expired = issuer
            .issue_with_lifetime(&customer, now_ms() - 3_600_000, 60)
            .expect("signed");
        assert_eq!(verifier.verify(&expired), Err(AuthError::Expired));

        let other = TokenIssuer::generate("https://auth.test").expect("key");
        let forged = other.issue(&customer, now_ms()).expect("signed");
        assert_eq!(verifier.verify(&forged), Err(AuthError::Invalid), "unknown key");

        let foreign = TokenIssuer::generate("https://elsewhere.test").expect("key");
        let wrong_issuer = TokenVerifier::from_jwks(&foreign.jwks(), "https://auth.test").expect("verifier");
        let token = foreign.issue(&customer, now_ms()).expect("signed");
        assert_eq!(wrong_issuer.verify(&token), Err(AuthError::Invalid), "wrong issuer");

        // alg: none, with a valid-looking body and no signature.
        let genuine = issuer.issue(&customer, now_ms()).expect("signed");
        let body = genuine.split('.').nth(1).expect("body");
        let none_header = base64_url(r#"{"alg":"none","typ":"JWT"}"#);
        assert_eq!(
            verifier.verify(&format!("{none_header}.{body}.")),
            Err(AuthError::Invalid)
        );
        // HS256 signed with the public modulus as the secret (the classic
        // algorithm confusion), and ES256 headers: refused before any key
        // is tried.
        let kid = issuer.kid();
        for alg in ["HS256", "ES256", "PS256"] {
            let header = base64_url(&format!(r#"{{"alg":"{alg}","typ":"JWT","kid":"{kid}"}}"#));
            let signature = genuine.split('.').nth(2).expect("signature");
            assert_eq!(
                verifier.verify(&format!("{header}.{body}.{signature}")),
                Err(AuthError::Invalid),
                "{alg}"
            );
        }
        // A tampered body breaks the signature.
        let mut parts: Vec<String> = genuine.split('.').map(str::to_string).collect();
        parts[1] = base64_url(&format!(
            r#"{{"sub":"store:s1","iss":"https://auth.test","aud":"{AUDIENCE}","iat":0,"nbf":0,"exp":9999999999}}"#
        ));
        assert_eq!(verifier.verify(&parts.join(".")), Err(AuthError::Invalid));
        assert_eq!(verifier.verify(""), Err(AuthError::Missing));
        assert_eq!(verifier.verify("not a token"), Err(AuthError::Invalid));
    }

    #[test]
    fn a_token_verified_once_is_still_checked_against_the_clock() {
        let clock = Arc::new(ManualClock::at(T0_MS));
        let issuer = TokenIssuer::generate("https://auth.test").expect("key");
        let verifier = issuer
            .verifier()
            .expect("verifier")
            .with_clock(Arc::clone(&clock) as Arc<dyn Clock>);
        let token = issuer.issue_with_lifetime(&customer(), T0_MS, 60).expect("signed");
        assert_eq!(verifier.verify(&token), Ok(customer()));
        assert_eq!(verifier.verify(&token), Ok(customer()), "remembered");
        clock.advance_ms((60 + LEEWAY_S) * 1000);
        assert_eq!(verifier.verify(&token), Err(AuthError::Expired));
        let early = issuer
            .issue_with_lifetime(&customer(), T0_MS + 3_600_000, 60)
            .expect("signed");
        assert_eq!(verifier.verify(&early), Err(AuthError::Invalid), "not yet valid");
        let mut tampered = token.clone();
        tampered.pop();
        assert_eq!(verifier.verify(&tampered), Err(AuthError::Invalid));
    }

    #[test]
    fn a_jwks_of_other_key_types_is_refused() {
        let ec = serde_json::json!({"keys": [{
            "kty": "EC", "crv": "P-256", "kid": "k1", "alg": "ES256", "use": "sig",
            "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
            "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"
        }]});
        let jwks: JwkSet = serde_json::from_value(ec).expect("jwks");
        assert!(TokenVerifier::from_jwks(&jwks, "https://auth.test").is_err());
    }

    #[test]
    fn debug_never_prints_key_material() {
        let secret = SigningSecret::generate().expect("key");
        let rotated = secret.clone().rotated(generate_pem().expect("key"), 1000, 60);
        let issuer = TokenIssuer::from_secret(&rotated, "https://auth.test").expect("issuer");
        for printed in [format!("{rotated:?}"), format!("{issuer:?}")] {
            assert!(!printed.contains("PRIVATE KEY"), "{printed}");
            assert!(!printed.contains(&secret.current[40..80]), "{printed}");
        }
    }

    const T0_MS: Millis = 1_800_000_000_000;

    /// An issuer that re-reads `store`'s secret every `refresh`.
    async fn issuer_reading(
        store: &Arc<MemorySecret>,
        clock: &Arc<ManualClock>,
        refresh: Duration,
    ) -> Arc<TokenIssuer> {
        Arc::new(
            TokenIssuer::from_source(
                Arc::clone(store) as Arc<dyn SecretSource>,
                "https://auth.test",
                Arc::clone(clock) as Arc<dyn Clock>,
                refresh,
            )
            .await
            .expect("issuer"),
        )
    }

    /// The overlap rule, with time injected: the previous key verifies
    /// until `previous_valid_until` and not from that second on; the JWKS
    /// lists both keys, then one.
    #[tokio::test]
    async fn the_previous_key_verifies_during_the_overlap_and_not_after() {
        let clock = Arc::new(ManualClock::at(T0_MS));
        let first = SigningSecret::generate().expect("key");
        let store = Arc::new(MemorySecret::new(first.clone()));
        let issuer = issuer_reading(&store, &clock, Duration::from_secs(300)).await;
        let verifier = TokenVerifier::following(Arc::clone(&issuer));
        let old_kid = issuer.kid();
        // Long-lived, so only the key's validity can refuse it below.
        let old = issuer
            .issue_with_lifetime(&customer(), clock.now_ms(), 86_400)
            .expect("signed");

        // Rotate with a 20-minute overlap, at T0 + 60 s.
        clock.advance_ms(60_000);
        let overlap_s = 1200;
        store.put(first.rotated(generate_pem().expect("key"), millis_to_s(clock.now_ms()), overlap_s));
        // Not picked up before the refresh interval...
        issuer.refresh_if_due().await;
        assert_eq!(issuer.kid(), old_kid);
        // ...and picked up once it has passed.
        clock.advance_ms(240_000);
        issuer.refresh_if_due().await;
        let new_kid = issuer.kid();
        assert_ne!(new_kid, old_kid, "signs with the new key after the refresh");
        let kids = |issuer: &TokenIssuer| -> Vec<String> {
            issuer
                .jwks()
                .keys
                .iter()
                .filter_map(|k| k.common.key_id.clone())
                .collect()
        };
        assert_eq!(kids(&issuer), vec![new_kid.clone(), old_kid.clone()]);

        let new = issuer.issue(&customer(), clock.now_ms()).expect("signed");
        assert_eq!(verifier.verify_fresh(&new).await, Ok(customer()), "new key");
        assert_eq!(
            verifier.verify_fresh(&old).await,
            Ok(customer()),
            "previous key, in the overlap"
        );

        // One second before the end of the overlap: still valid.
        let end_ms = (millis_to_s(T0_MS) + 60 + overlap_s) * 1000;
        clock.advance_ms(end_ms - 1000 - clock.now_ms());
        assert_eq!(verifier.verify_fresh(&old).await, Ok(customer()));
        assert_eq!(kids(&issuer).len(), 2);
        // From the end on: refused, and no longer published.
        clock.advance_ms(1000);
        assert_eq!(verifier.verify_fresh(&old).await, Err(AuthError::Invalid));
        assert_eq!(verifier.verify(&old), Err(AuthError::Invalid));
        assert_eq!(kids(&issuer), vec![new_kid]);
        let fresh = issuer.issue(&customer(), clock.now_ms()).expect("signed");
        assert_eq!(verifier.verify_fresh(&fresh).await, Ok(customer()));
    }

    /// The local gateway's verifier rebuilds its keys only when the issuer
    /// installs others, and then at once: a key replaced with no overlap
    /// (a leaked one) is refused on the next check.
    #[tokio::test]
    async fn a_following_verifier_takes_the_issuers_new_keys_at_once_and_only_then() {
        let clock = Arc::new(ManualClock::at(T0_MS));
        let store = Arc::new(MemorySecret::new(SigningSecret::generate().expect("key")));
        let issuer = issuer_reading(&store, &clock, Duration::from_secs(60)).await;
        let verifier = TokenVerifier::following(Arc::clone(&issuer));
        let old = issuer.issue(&customer(), clock.now_ms()).expect("signed");
        let held = verifier.keys();
        for _ in 0..3 {
            assert_eq!(verifier.verify_fresh(&old).await, Ok(customer()));
        }
        assert!(Arc::ptr_eq(&held, &verifier.keys()), "the same keys, not rebuilt");

        store.put(SigningSecret::generate().expect("key"));
        clock.advance_ms(61_000);
        issuer.refresh_if_due().await;
        assert_eq!(verifier.verify_fresh(&old).await, Err(AuthError::Invalid));
        let new = issuer.issue(&customer(), clock.now_ms()).expect("signed");
        assert_eq!(verifier.verify_fresh(&new).await, Ok(customer()));
    }

    /// A verifier fed by a JWKS source fetches again on an unknown key id,
    /// at most once per minimum interval, and a failed fetch is a fault.
    #[tokio::test]
    async fn an_unknown_kid_fetches_the_keys_again_rate_limited() {
        struct Counting {
            issuer: Arc<TokenIssuer>,
            fetches: AtomicI64,
            broken: std::sync::atomic::AtomicBool,
        }
        impl KeySource for Counting {
            fn fetch(&self, _reason: FetchReason) -> KeyFuture<'_, Vec<VerificationKey>> {
                self.fetches.fetch_add(1, Ordering::SeqCst);
                let broken = self.broken.load(Ordering::SeqCst);
                let keys = self.issuer.verification_keys();
                Box::pin(async move { if broken { Err(KeyError("down".into())) } else { Ok(keys) } })
            }
        }
        let clock = Arc::new(ManualClock::at(T0_MS));
        let first = SigningSecret::generate().expect("key");
        let store = Arc::new(MemorySecret::new(first.clone()));
        let issuer = issuer_reading(&store, &clock, Duration::from_secs(1)).await;
        let source = Arc::new(Counting {
            issuer: Arc::clone(&issuer),
            fetches: AtomicI64::new(0),
            broken: false.into(),
        });
        let verifier = TokenVerifier::from_source(
            Arc::clone(&source) as Arc<dyn KeySource>,
            "https://auth.test",
            Arc::clone(&clock) as Arc<dyn Clock>,
            Duration::from_secs(300),
            Duration::from_secs(10),
        )
        .await
        .expect("verifier");
        assert_eq!(source.fetches.load(Ordering::SeqCst), 1, "fetched at init");

        // A forged token's unknown kid: one fetch, then none within 10 s.
        clock.advance_ms(11_000);
        let forged = TokenIssuer::generate("https://auth.test")
            .expect("key")
            .issue(&customer(), clock.now_ms())
            .expect("signed");
        for _ in 0..5 {
            assert_eq!(verifier.verify_fresh(&forged).await, Err(AuthError::Invalid));
        }
        assert_eq!(source.fetches.load(Ordering::SeqCst), 2);

        // A rotation: the new kid is fetched once the interval allows.
        store.put(first.rotated(generate_pem().expect("key"), millis_to_s(clock.now_ms()), 600));
        clock.advance_ms(10_000);
        issuer.refresh_if_due().await;
        let new = issuer.issue(&customer(), clock.now_ms()).expect("signed");
        assert_eq!(verifier.verify_fresh(&new).await, Ok(customer()));
        assert_eq!(source.fetches.load(Ordering::SeqCst), 3);

        // Keys needed and the source down: a fault, not a refusal.
        store.put(SigningSecret::generate().expect("key"));
        clock.advance_ms(10_000);
        issuer.refresh_if_due().await;
        source.broken.store(true, Ordering::SeqCst);
        let newer = issuer.issue(&customer(), clock.now_ms()).expect("signed");
        assert_eq!(verifier.verify_fresh(&newer).await, Err(AuthError::KeysUnavailable));
    }

    #[test]
    fn the_secret_rotates_current_into_previous() {
        let secret = SigningSecret::generate().expect("key");
        let json = secret.to_json();
        assert_eq!(SigningSecret::parse(&json).expect("parsed"), secret);
        assert!(!json.contains("previous"), "{json}");
        let next = generate_pem().expect("key");
        let rotated = secret.clone().rotated(next.clone(), 100, 1200);
        assert_eq!(rotated.current, next);
        assert_eq!(rotated.previous.as_deref(), Some(secret.current.as_str()));
        assert_eq!(rotated.previous_valid_until, Some(1300));
        assert!(SigningSecret::parse("{\"current\": 1}").is_err());
        // The parse error never quotes the secret.
        let err = SigningSecret::parse("{\"current\": \"-----BEGIN PRIVATE KEY-----\", }").expect_err("bad");
        assert!(!err.to_string().contains("BEGIN"), "{err}");
    }

    fn base64_url(text: &str) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text)
    }
}
