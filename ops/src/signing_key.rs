//! The token signing secret in Secrets Manager: `init-signing-key` creates
//! it with one fresh RSA key; `rotate-signing-key` puts a new key in
//! `current` and keeps the old one as `previous` until the overlap ends, so
//! tokens already out keep verifying until they expire. Running functions
//! pick the new key up within their refresh interval (5 minutes by default);
//! the default overlap covers that plus a token's lifetime.
//!
//! Key material is never printed: the commands report key ids only.

use aws_sdk_secretsmanager::Client;
use aws_sdk_secretsmanager::error::{DisplayErrorContext, ProvideErrorMetadata as _};
use shared::auth::{KeyError, SigningSecret, TokenIssuer, generate_pem};

pub use shared::auth::DEFAULT_ROTATION_OVERLAP_S;

/// Why a command failed.
#[derive(Debug, thiserror::Error)]
pub enum SigningKeyError {
    #[error("secret {0} already exists; rotate it with rotate-signing-key")]
    Exists(String),
    #[error("secret {id}: {message}")]
    SecretsManager { id: String, message: String },
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error("the overlap must be at least 0 seconds")]
    NegativeOverlap,
}

/// What the secret holds after a command, by key id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeySummary {
    pub current_kid: String,
    pub previous_kid: Option<String>,
    pub previous_valid_until: Option<i64>,
}

impl KeySummary {
    fn of(secret: &SigningSecret) -> Result<Self, KeyError> {
        let previous_kid = match &secret.previous {
            Some(pem) => Some(TokenIssuer::from_pem(pem, "")?.kid()),
            None => None,
        };
        Ok(KeySummary {
            current_kid: TokenIssuer::from_pem(&secret.current, "")?.kid(),
            previous_kid,
            previous_valid_until: secret.previous_valid_until,
        })
    }
}

fn sm_error<E: std::error::Error + 'static>(id: &str, e: E) -> SigningKeyError {
    SigningKeyError::SecretsManager {
        id: id.to_string(),
        message: DisplayErrorContext(e).to_string(),
    }
}

/// Creates the secret `secret_id` with one fresh key. Refuses to overwrite
/// an existing secret.
///
/// # Errors
/// The secret exists, or Secrets Manager refused.
pub async fn init_signing_key(client: &Client, secret_id: &str) -> Result<KeySummary, SigningKeyError> {
    let secret = SigningSecret::generate()?;
    let created = client
        .create_secret()
        .name(secret_id)
        .description("Token signing keys (RS256): {current, previous, previous_valid_until}; rotate with `cargo run -p ops -- rotate-signing-key`.")
        .secret_string(secret.to_json())
        .send()
        .await;
    match created {
        Ok(_) => Ok(KeySummary::of(&secret)?),
        Err(e) if e.code() == Some("ResourceExistsException") => Err(SigningKeyError::Exists(secret_id.to_string())),
        Err(e) => Err(sm_error(secret_id, e)),
    }
}

/// Rotates the secret at `now_s` (unix seconds): a fresh key becomes
/// `current`, the old current becomes `previous`, valid until
/// `now_s + overlap_s`; an older previous key is dropped.
///
/// # Errors
/// The secret could not be read or written, or holds no valid key.
pub async fn rotate_signing_key(
    client: &Client,
    secret_id: &str,
    overlap_s: i64,
    now_s: i64,
) -> Result<KeySummary, SigningKeyError> {
    if overlap_s < 0 {
        return Err(SigningKeyError::NegativeOverlap);
    }
    let out = client
        .get_secret_value()
        .secret_id(secret_id)
        .send()
        .await
        .map_err(|e| sm_error(secret_id, e))?;
    let text = out.secret_string().ok_or_else(|| SigningKeyError::SecretsManager {
        id: secret_id.to_string(),
        message: "no SecretString".into(),
    })?;
    let old = SigningSecret::parse(text)?;
    // The stored key must still load: never rotate a broken secret into
    // `previous`.
    KeySummary::of(&old)?;
    let rotated = old.rotated(generate_pem()?, now_s, overlap_s);
    client
        .put_secret_value()
        .secret_id(secret_id)
        .secret_string(rotated.to_json())
        .send()
        .await
        .map_err(|e| sm_error(secret_id, e))?;
    Ok(KeySummary::of(&rotated)?)
}
