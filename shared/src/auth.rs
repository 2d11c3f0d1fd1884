//! Signed identity tokens (JWT, ES256) and their verification.
//!
//! The service issues its own tokens: a guest customer gets one from
//! `POST /auth/guest`; store tokens come from operators (and, locally, from
//! the development route of the local stack). The public keys are published
//! as a JWKS at `/.well-known/jwks.json` with an OpenID discovery document,
//! which is what API Gateway's JWT authorizer reads. The same
//! [`TokenVerifier`] backs the WebSocket Lambda authorizer and the local
//! gateway, so every path verifies a token the same way.

use std::collections::HashMap;
use std::fmt;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair};
use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::domain::clock::Millis;
use crate::domain::ids::Caller;

/// The only signing algorithm accepted: `none`, HMAC and RSA tokens are
/// refused whatever their signature.
pub const ALGORITHM: Algorithm = Algorithm::ES256;
/// The audience every token names.
pub const AUDIENCE: &str = "neighbourhood-orders";
/// How long a token lives.
pub const TOKEN_LIFETIME_S: i64 = 30 * 24 * 3600;

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

/// Signs tokens with one P-256 key.
pub struct TokenIssuer {
    key: EncodingKey,
    kid: String,
    issuer: String,
    public: Jwk,
}

impl fmt::Debug for TokenIssuer {
    // Never print key material.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenIssuer")
            .field("kid", &self.kid)
            .field("issuer", &self.issuer)
            .finish_non_exhaustive()
    }
}

impl TokenIssuer {
    /// A fresh key (local stack and tests).
    pub fn generate(issuer: impl Into<String>) -> Result<Self, KeyError> {
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
            .map_err(|_| KeyError("could not generate a P-256 key".into()))?;
        Self::from_pkcs8_der(pkcs8.as_ref(), issuer)
    }

    /// A key from PKCS#8 PEM (`JWT_SIGNING_KEY` on AWS, from a secret).
    pub fn from_pem(pem: &str, issuer: impl Into<String>) -> Result<Self, KeyError> {
        let key = EncodingKey::from_ec_pem(pem.as_bytes()).map_err(|e| KeyError(e.to_string()))?;
        Self::from_key(key, issuer)
    }

    fn from_pkcs8_der(der: &[u8], issuer: impl Into<String>) -> Result<Self, KeyError> {
        Self::from_key(EncodingKey::from_ec_der(der), issuer)
    }

    fn from_key(key: EncodingKey, issuer: impl Into<String>) -> Result<Self, KeyError> {
        let mut public = Jwk::from_encoding_key(&key, ALGORITHM).map_err(|e| KeyError(e.to_string()))?;
        // The key id is a digest of the public key, so it changes with the key.
        let thumbprint = public
            .thumbprint(jsonwebtoken::jwk::ThumbprintHash::SHA256)
            .map_err(|e| KeyError(e.to_string()))?;
        let kid: String = thumbprint.chars().take(16).collect();
        public.common.key_id = Some(kid.clone());
        Ok(TokenIssuer {
            key,
            kid,
            issuer: issuer.into(),
            public,
        })
    }

    /// A token for `caller`, valid from `now` for [`TOKEN_LIFETIME_S`].
    pub fn issue(&self, caller: &Caller, now: Millis) -> Result<String, KeyError> {
        self.issue_with_lifetime(caller, now, TOKEN_LIFETIME_S)
    }

    /// A token with a chosen lifetime (tests make expired ones with this).
    pub fn issue_with_lifetime(&self, caller: &Caller, now: Millis, lifetime_s: i64) -> Result<String, KeyError> {
        let now_s = now / 1000;
        let claims = Claims {
            sub: caller.key(),
            iss: self.issuer.clone(),
            aud: AUDIENCE.to_string(),
            iat: now_s,
            nbf: now_s,
            exp: now_s + lifetime_s,
        };
        let mut header = Header::new(ALGORITHM);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, &claims, &self.key).map_err(|e| KeyError(e.to_string()))
    }

    #[must_use]
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The public keys, as `/.well-known/jwks.json` serves them.
    #[must_use]
    pub fn jwks(&self) -> JwkSet {
        JwkSet {
            keys: vec![self.public.clone()],
        }
    }

    /// A verifier for the tokens this issuer signs.
    pub fn verifier(&self) -> Result<TokenVerifier, KeyError> {
        TokenVerifier::from_jwks(&self.jwks(), &self.issuer)
    }
}

/// Verifies tokens: ES256 only, a known key id, issuer, audience, `exp`
/// and `nbf`.
#[derive(Clone)]
pub struct TokenVerifier {
    keys: HashMap<String, DecodingKey>,
    issuer: String,
}

impl fmt::Debug for TokenVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenVerifier")
            .field("kids", &self.keys.keys().collect::<Vec<_>>())
            .field("issuer", &self.issuer)
            .finish()
    }
}

impl TokenVerifier {
    /// From a JWKS (e.g. `JWT_JWKS` on AWS).
    pub fn from_jwks(jwks: &JwkSet, issuer: &str) -> Result<Self, KeyError> {
        let mut keys = HashMap::new();
        for jwk in &jwks.keys {
            let kid = jwk
                .common
                .key_id
                .clone()
                .ok_or_else(|| KeyError("a key has no kid".into()))?;
            keys.insert(kid, DecodingKey::from_jwk(jwk).map_err(|e| KeyError(e.to_string()))?);
        }
        Ok(TokenVerifier {
            keys,
            issuer: issuer.to_string(),
        })
    }

    /// The caller a token names, if the token is genuine and current.
    /// `Authorization` values may carry a `Bearer ` prefix.
    pub fn verify(&self, token: &str) -> Result<Caller, AuthError> {
        let token = token.trim();
        let token = token
            .strip_prefix("Bearer ")
            .or_else(|| token.strip_prefix("bearer "))
            .unwrap_or(token)
            .trim();
        if token.is_empty() {
            return Err(AuthError::Missing);
        }
        let header = jsonwebtoken::decode_header(token).map_err(|_| AuthError::Invalid)?;
        if header.alg != ALGORITHM {
            return Err(AuthError::Invalid);
        }
        let key = header
            .kid
            .as_ref()
            .and_then(|kid| self.keys.get(kid))
            .ok_or(AuthError::Invalid)?;
        let mut validation = Validation::new(ALGORITHM);
        validation.set_audience(&[AUDIENCE]);
        validation.set_issuer(&[self.issuer.as_str()]);
        validation.set_required_spec_claims(&["exp", "nbf", "iss", "aud", "sub"]);
        validation.validate_nbf = true;
        validation.leeway = 30;
        let data = jsonwebtoken::decode::<Claims>(token, key, &validation).map_err(|e| match e.kind() {
            jsonwebtoken::errors::ErrorKind::ExpiredSignature => AuthError::Expired,
            _ => AuthError::Invalid,
        })?;
        Caller::parse(&data.claims.sub).map_err(|_| AuthError::Invalid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ids::{CustomerId, StoreId};

    fn now_ms() -> Millis {
        crate::domain::clock::Clock::now_ms(&crate::domain::clock::SystemClock)
    }

    #[test]
    fn a_token_round_trips_to_its_caller() {
        let issuer = TokenIssuer::generate("https://auth.test").expect("key");
        let store = Caller::Store(StoreId::new("s1").expect("id"));
        let token = issuer.issue(&store, now_ms()).expect("signed");
        let verifier = issuer.verifier().expect("verifier");
        assert_eq!(verifier.verify(&token), Ok(store.clone()));
        assert_eq!(verifier.verify(&format!("Bearer {token}")), Ok(store));
    }

    #[test]
    fn forged_expired_and_unsigned_tokens_are_refused() {
        let issuer = TokenIssuer::generate("https://auth.test").expect("key");
        let verifier = issuer.verifier().expect("verifier");
        let customer = Caller::Customer(CustomerId::new("c1").expect("id"));

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
        // A tampered body breaks the signature.
        let mut parts: Vec<String> = genuine.split('.').map(str::to_string).collect();
        parts[1] = base64_url(&format!(
            r#"{{"sub":"store:s1","iss":"https://auth.test","aud":"{AUDIENCE}","iat":0,"nbf":0,"exp":9999999999}}"#
        ));
        assert_eq!(verifier.verify(&parts.join(".")), Err(AuthError::Invalid));
        assert_eq!(verifier.verify(""), Err(AuthError::Missing));
        assert_eq!(verifier.verify("not a token"), Err(AuthError::Invalid));
    }

    fn base64_url(text: &str) -> String {
        use base64::Engine as _;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text)
    }
}
