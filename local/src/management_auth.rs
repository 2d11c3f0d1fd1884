//! The IAM check in front of `@connections`: every call must carry a SigV4
//! signature (`AWS4-HMAC-SHA256`, service `execute-api`) made with the
//! credentials the local stack is configured with, as API Gateway requires
//! `execute-api:ManageConnections`. The signature is recomputed with
//! `aws-sigv4`, the signer the AWS SDK itself uses, over the headers the
//! caller says it signed, and compared in constant time.

use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use http::request::Parts;
use subtle::ConstantTimeEq;

/// The only algorithm accepted (no SigV4a, no presigned query strings).
const ALGORITHM: &str = "AWS4-HMAC-SHA256";
/// The signing name of API Gateway's management API.
const SERVICE: &str = "execute-api";
/// How far the signing time may be from now, as AWS allows.
const MAX_SKEW: Duration = Duration::from_secs(15 * 60);

/// Why a call was refused; each maps to API Gateway's 403 answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// No `Authorization` header.
    Missing,
    /// An `Authorization` header that is not a complete SigV4 one.
    Incomplete,
    /// Signed with an access key this stack does not know.
    UnknownKey,
    /// The signing time is more than 15 minutes away from now.
    Expired,
    /// The signature does not match the request.
    Mismatch,
}

impl Refusal {
    /// `x-amzn-ErrorType` and message, as AWS answers them.
    #[must_use]
    pub fn error(self) -> (&'static str, &'static str) {
        match self {
            Refusal::Missing => ("MissingAuthenticationTokenException", "Missing Authentication Token"),
            Refusal::Incomplete => (
                "IncompleteSignatureException",
                "Authorization header requires Credential, SignedHeaders and Signature with AWS4-HMAC-SHA256.",
            ),
            Refusal::UnknownKey => (
                "UnrecognizedClientException",
                "The security token included in the request is invalid.",
            ),
            Refusal::Expired => ("InvalidSignatureException", "Signature expired."),
            Refusal::Mismatch => (
                "InvalidSignatureException",
                "The request signature we calculated does not match the signature you provided.",
            ),
        }
    }
}

/// The parts of an `Authorization: AWS4-HMAC-SHA256 ...` header.
struct Authorization<'a> {
    access_key: &'a str,
    date: &'a str,
    region: &'a str,
    service: &'a str,
    signed_headers: Vec<&'a str>,
    signature: &'a str,
}

fn parse_authorization(header: &str) -> Option<Authorization<'_>> {
    let rest = header.strip_prefix(ALGORITHM)?.trim_start();
    let (mut credential, mut signed, mut signature) = (None, None, None);
    for part in rest.split(',') {
        let (name, value) = part.trim().split_once('=')?;
        match name {
            "Credential" => credential = Some(value),
            "SignedHeaders" => signed = Some(value),
            "Signature" => signature = Some(value),
            _ => return None,
        }
    }
    let mut scope = credential?.split('/');
    let (access_key, date, region, service, terminator) = (
        scope.next()?,
        scope.next()?,
        scope.next()?,
        scope.next()?,
        scope.next()?,
    );
    if terminator != "aws4_request" || scope.next().is_some() {
        return None;
    }
    let signed_headers: Vec<&str> = signed?.split(';').filter(|h| !h.is_empty()).collect();
    let signature = signature.filter(|s| !s.is_empty())?;
    if signed_headers.is_empty() || access_key.is_empty() || region.is_empty() {
        return None;
    }
    Some(Authorization {
        access_key,
        date,
        region,
        service,
        signed_headers,
        signature,
    })
}

/// `20240102T030405Z` as a time.
fn parse_amz_date(value: &str) -> Option<SystemTime> {
    let b = value.as_bytes();
    if b.len() != 16 || b.get(8) != Some(&b'T') || b.get(15) != Some(&b'Z') {
        return None;
    }
    let (d, t) = (value.get(..8)?, value.get(9..15)?);
    let rfc3339 = format!(
        "{}-{}-{}T{}:{}:{}Z",
        d.get(..4)?,
        d.get(4..6)?,
        d.get(6..)?,
        t.get(..2)?,
        t.get(2..4)?,
        t.get(4..)?
    );
    humantime::parse_rfc3339(&rfc3339).ok()
}

/// Verifies `@connections` calls against one set of credentials.
#[derive(Debug, Clone)]
pub struct ManagementAuth {
    credentials: Credentials,
}

impl ManagementAuth {
    #[must_use]
    pub fn new(credentials: Credentials) -> Self {
        ManagementAuth { credentials }
    }

    /// Checks the request's signature over its method, path, query, signed
    /// headers and `body`, at `now`.
    pub fn verify(&self, parts: &Parts, body: &[u8], now: SystemTime) -> Result<(), Refusal> {
        let Some(header) = parts.headers.get(http::header::AUTHORIZATION) else {
            return Err(Refusal::Missing);
        };
        let auth = header
            .to_str()
            .ok()
            .and_then(parse_authorization)
            .ok_or(Refusal::Incomplete)?;
        if auth.service != SERVICE {
            return Err(Refusal::Mismatch);
        }
        if !bool::from(
            auth.access_key
                .as_bytes()
                .ct_eq(self.credentials.access_key_id().as_bytes()),
        ) {
            return Err(Refusal::UnknownKey);
        }
        let amz_date = parts
            .headers
            .get("x-amz-date")
            .and_then(|v| v.to_str().ok())
            .ok_or(Refusal::Incomplete)?;
        let signed_at = parse_amz_date(amz_date).ok_or(Refusal::Incomplete)?;
        if !amz_date.starts_with(auth.date) || auth.date.len() != 8 {
            return Err(Refusal::Mismatch);
        }
        let skew = now
            .duration_since(signed_at)
            .or_else(|_| signed_at.duration_since(now))
            .unwrap_or(Duration::MAX);
        if skew > MAX_SKEW {
            return Err(Refusal::Expired);
        }
        // Only the headers the caller signed, each exactly as received.
        let mut headers = Vec::with_capacity(auth.signed_headers.len());
        for name in &auth.signed_headers {
            let mut values = parts.headers.get_all(*name).iter();
            let value = values.next().and_then(|v| v.to_str().ok()).ok_or(Refusal::Mismatch)?;
            if values.next().is_some() {
                return Err(Refusal::Mismatch);
            }
            headers.push((*name, value));
        }
        if !auth.signed_headers.contains(&"host") {
            return Err(Refusal::Mismatch);
        }
        let host = parts
            .headers
            .get(http::header::HOST)
            .and_then(|v| v.to_str().ok())
            .ok_or(Refusal::Mismatch)?;
        let path = parts.uri.path_and_query().map_or("/", http::uri::PathAndQuery::as_str);
        let uri = format!("http://{host}{path}");
        let request = SignableRequest::new(
            parts.method.as_str(),
            uri,
            headers.into_iter(),
            SignableBody::Bytes(body),
        )
        .map_err(|_| Refusal::Mismatch)?;
        let identity = self.credentials.clone().into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(auth.region)
            .name(SERVICE)
            .time(signed_at)
            .settings(SigningSettings::default())
            .build()
            .map_err(|_| Refusal::Mismatch)?
            .into();
        let expected = sign(request, &params).map_err(|_| Refusal::Mismatch)?;
        if bool::from(expected.signature().as_bytes().ct_eq(auth.signature.as_bytes())) {
            Ok(())
        } else {
            Err(Refusal::Mismatch)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn credentials() -> Credentials {
        Credentials::new("AKIDLOCAL", "local-secret", None, None, "test")
    }

    /// Signs a request the way the SDK does.
    fn signed(method: &str, path: &str, body: &[u8], creds: &Credentials, at: SystemTime) -> Parts {
        let mut request = http::Request::builder()
            .method(method)
            .uri(path)
            .header("host", "127.0.0.1:9")
            .header("content-type", "application/json")
            .body(())
            .expect("request");
        let headers: Vec<(&str, &str)> = vec![("host", "127.0.0.1:9"), ("content-type", "application/json")];
        let signable = SignableRequest::new(
            method,
            format!("http://127.0.0.1:9{path}"),
            headers.into_iter(),
            SignableBody::Bytes(body),
        )
        .expect("signable");
        let identity = creds.clone().into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region("us-east-1")
            .name(SERVICE)
            .time(at)
            .settings(SigningSettings::default())
            .build()
            .expect("params")
            .into();
        let (instructions, _) = sign(signable, &params).expect("signed").into_parts();
        instructions.apply_to_request_http1x(&mut request);
        request.into_parts().0
    }

    #[test]
    fn accepts_a_request_signed_with_the_configured_credentials() {
        let now = SystemTime::now();
        let parts = signed("POST", "/local/@connections/abc", b"hi", &credentials(), now);
        assert_eq!(ManagementAuth::new(credentials()).verify(&parts, b"hi", now), Ok(()));
    }

    #[test]
    fn refuses_unsigned_forged_tampered_and_stale_requests() {
        let auth = ManagementAuth::new(credentials());
        let now = SystemTime::now();
        let unsigned = http::Request::builder()
            .uri("/local/@connections/abc")
            .body(())
            .expect("request")
            .into_parts()
            .0;
        assert_eq!(auth.verify(&unsigned, b"", now), Err(Refusal::Missing));

        let other_key = Credentials::new("AKIDOTHER", "local-secret", None, None, "test");
        let parts = signed("POST", "/local/@connections/abc", b"hi", &other_key, now);
        assert_eq!(auth.verify(&parts, b"hi", now), Err(Refusal::UnknownKey));

        let wrong_secret = Credentials::new("AKIDLOCAL", "guessed", None, None, "test");
        let parts = signed("POST", "/local/@connections/abc", b"hi", &wrong_secret, now);
        assert_eq!(auth.verify(&parts, b"hi", now), Err(Refusal::Mismatch));

        let parts = signed("POST", "/local/@connections/abc", b"hi", &credentials(), now);
        assert_eq!(auth.verify(&parts, b"forged offer", now), Err(Refusal::Mismatch));
        let mut moved = parts.clone();
        moved.uri = "/local/@connections/other".parse().expect("uri");
        assert_eq!(auth.verify(&moved, b"hi", now), Err(Refusal::Mismatch));
        let mut as_delete = parts.clone();
        as_delete.method = http::Method::DELETE;
        assert_eq!(auth.verify(&as_delete, b"hi", now), Err(Refusal::Mismatch));

        let later = now + Duration::from_secs(16 * 60);
        assert_eq!(auth.verify(&parts, b"hi", later), Err(Refusal::Expired));

        let mut garbled = parts;
        garbled.headers.insert(
            http::header::AUTHORIZATION,
            http::HeaderValue::from_static("AWS4-HMAC-SHA256 Credential=AKIDLOCAL"),
        );
        assert_eq!(auth.verify(&garbled, b"hi", now), Err(Refusal::Incomplete));
    }

    #[test]
    fn reads_the_amz_date() {
        let at = parse_amz_date("20240102T030405Z").expect("date");
        assert_eq!(humantime::format_rfc3339(at).to_string(), "2024-01-02T03:04:05Z");
        assert!(parse_amz_date("2024-01-02T03:04:05Z").is_none());
        assert!(parse_amz_date("20240102T030405").is_none());
    }
}
