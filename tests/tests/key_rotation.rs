//! Key rotation end to end, against Secrets Manager on an AWS-compatible
//! server (moto, started by tests/run-all.sh): the local stack reads its
//! signing keys from the secret as the HTTP function does on AWS; the
//! operators' rotation (the `ops` crate's own function) moves the current
//! key to `previous`; tokens signed with it keep working on HTTP and on the
//! WebSocket `$connect` during the overlap, new tokens carry the new key
//! id, and after the overlap the old tokens are refused. The exact rule
//! (the second the overlap ends) is the unit test's
//! (shared/src/auth.rs); here a short real overlap is waited out.
//!
//! Runs with `--features endpoint-tests` and `AWS_ENDPOINT_URL` set. The
//! first test below runs on every backend: the WebSocket authorizer's way
//! of getting keys (the published JWKS over HTTP) against the local stack.

use std::sync::Arc;
use std::time::Duration;

use shared::auth::{AuthError, TokenIssuer, TokenVerifier};
use shared::domain::clock::{Clock, SystemClock};
use shared::domain::config::OrderingConfig;
use shared::domain::ids::{Caller, StoreId};
use shared::jwks_url::JwksUrl;

use crate::common;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_authorizer_verifies_with_the_published_jwks_only() {
    let stack = common::stack(OrderingConfig::default()).await;
    let verifier = TokenVerifier::from_source(
        Arc::new(JwksUrl::new(format!("{}/.well-known/jwks.json", stack.http_url())).expect("client")),
        &stack.http_url(),
        Arc::new(SystemClock),
        Duration::from_secs(300),
        Duration::from_secs(10),
    )
    .await
    .expect("JWKS fetched");
    let store = Caller::Store(StoreId::new("s1").expect("id"));
    let token = stack.issue_token(&store).expect("signed");
    assert_eq!(verifier.verify_fresh(&token).await, Ok(store.clone()));
    // An unknown key id: one fetch, still refused; a refusal, not a fault.
    let forged = TokenIssuer::generate(stack.http_url())
        .expect("key")
        .issue(&store, SystemClock.now_ms())
        .expect("signed");
    assert_eq!(verifier.verify_fresh(&forged).await, Err(AuthError::Invalid));

    // Nothing listening: init fails (a real fault), within the timeout.
    let started = std::time::Instant::now();
    let unreachable = TokenVerifier::from_source(
        Arc::new(JwksUrl::new("http://127.0.0.1:9/.well-known/jwks.json").expect("client")),
        &stack.http_url(),
        Arc::new(SystemClock),
        Duration::from_secs(300),
        Duration::from_secs(10),
    )
    .await;
    assert!(unreachable.is_err());
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[cfg(feature = "endpoint-tests")]
mod against_secrets_manager {
    use std::collections::BTreeSet;
    use std::time::{SystemTime, UNIX_EPOCH};

    use base64::Engine as _;
    use local_stack::{LocalOptions, RunningStack};
    use serde_json::{Value, json};
    use shared::domain::ids::CustomerId;
    use tokio_tungstenite::connect_async;

    use super::*;

    /// How often the stack re-reads the secret in this test.
    const REFRESH: Duration = Duration::from_millis(500);
    /// Long enough for the stack to have re-read the secret.
    const PICK_UP: Duration = Duration::from_millis(700);

    fn now_s() -> i64 {
        let secs = SystemTime::now().duration_since(UNIX_EPOCH).expect("time").as_secs();
        i64::try_from(secs).expect("seconds")
    }

    fn kid(token: &str) -> String {
        let header = token.split('.').next().expect("header");
        let header = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(header)
            .expect("base64");
        let header: Value = serde_json::from_slice(&header).expect("json");
        assert_eq!(header["alg"], "RS256");
        header["kid"].as_str().expect("kid").to_string()
    }

    async fn dev_token(stack: &RunningStack, caller: &str) -> String {
        let reply: Value = reqwest::Client::new()
            .post(format!("{}/dev/tokens", stack.http_url()))
            .json(&json!({ "caller": caller }))
            .send()
            .await
            .expect("sent")
            .json()
            .await
            .expect("json");
        reply["token"].as_str().expect("token").to_string()
    }

    async fn http_status(stack: &RunningStack, token: &str) -> u16 {
        reqwest::Client::new()
            .post(format!("{}/demand/parse", stack.http_url()))
            .bearer_auth(token)
            .header("content-type", "application/json")
            .body(r#"{"text":"rice"}"#)
            .send()
            .await
            .expect("sent")
            .status()
            .as_u16()
    }

    /// 101 when the socket opened, else the refusal's status.
    async fn ws_status(stack: &RunningStack, token: &str) -> u16 {
        match connect_async(format!("{}?token={token}", stack.ws_url())).await {
            Ok(_) => 101,
            Err(tokio_tungstenite::tungstenite::Error::Http(response)) => response.status().as_u16(),
            Err(other) => panic!("expected a handshake answer, got {other}"),
        }
    }

    async fn published_kids(stack: &RunningStack) -> BTreeSet<String> {
        let jwks: Value = reqwest::get(format!("{}/.well-known/jwks.json", stack.http_url()))
            .await
            .expect("sent")
            .json()
            .await
            .expect("json");
        jwks["keys"]
            .as_array()
            .expect("keys")
            .iter()
            .map(|k| {
                assert_eq!(k["kty"], "RSA");
                assert_eq!(k["alg"], "RS256");
                k["kid"].as_str().expect("kid").to_string()
            })
            .collect()
    }

    fn set(kids: &[&str]) -> BTreeSet<String> {
        kids.iter().map(|k| (*k).to_string()).collect()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn tokens_of_the_previous_key_verify_during_the_overlap_and_fail_after_it() {
        assert!(
            std::env::var_os("AWS_ENDPOINT_URL").is_some(),
            "the rotation test needs AWS_ENDPOINT_URL: run tests/run-all.sh, which starts moto"
        );
        let sdk = shared::aws::sdk_config().await;
        let secrets = aws_sdk_secretsmanager::Client::new(&sdk);
        let secret_id = format!("jwt-signing-{}", ulid::Ulid::new().to_string().to_lowercase());
        let first = ops::signing_key::init_signing_key(&secrets, &secret_id)
            .await
            .expect("secret created");
        assert!(
            matches!(
                ops::signing_key::init_signing_key(&secrets, &secret_id).await,
                Err(ops::signing_key::SigningKeyError::Exists(_))
            ),
            "init never overwrites a secret"
        );

        let stack = common::stack_with(LocalOptions {
            signing_secret_id: Some(secret_id.clone()),
            key_refresh: REFRESH,
            ..LocalOptions::default()
        })
        .await;
        // The WebSocket authorizer's way: only the published JWKS.
        let authorizer = TokenVerifier::from_source(
            Arc::new(JwksUrl::new(format!("{}/.well-known/jwks.json", stack.http_url())).expect("client")),
            &stack.http_url(),
            Arc::new(SystemClock),
            REFRESH,
            Duration::ZERO,
        )
        .await
        .expect("JWKS fetched");
        let customer = Caller::Customer(CustomerId::new("c1").expect("id"));

        let old = dev_token(&stack, "customer:c1").await;
        assert_eq!(kid(&old), first.current_kid, "signed with the secret's key");
        assert_eq!(http_status(&stack, &old).await, 200);
        assert_eq!(published_kids(&stack).await, set(&[&first.current_kid]));

        // Rotation with a long overlap.
        let second = ops::signing_key::rotate_signing_key(&secrets, &secret_id, 600, now_s())
            .await
            .expect("rotated");
        assert_ne!(second.current_kid, first.current_kid);
        assert_eq!(second.previous_kid.as_deref(), Some(first.current_kid.as_str()));
        tokio::time::sleep(PICK_UP).await;

        let new = dev_token(&stack, "customer:c1").await;
        assert_eq!(kid(&new), second.current_kid, "new tokens carry the new key id");
        assert_eq!(
            published_kids(&stack).await,
            set(&[&first.current_kid, &second.current_kid]),
            "the JWKS lists both keys during the overlap"
        );
        for (name, token) in [("old", &old), ("new", &new)] {
            assert_eq!(http_status(&stack, token).await, 200, "{name} token over HTTP");
            assert_eq!(ws_status(&stack, token).await, 101, "{name} token on $connect");
            assert_eq!(
                authorizer.verify_fresh(token).await,
                Ok(customer.clone()),
                "{name} token, JWKS verifier"
            );
        }

        // Another rotation, with a 6-second overlap (whole seconds, and three
        // calls through a busy moto must fit in it): the first key is gone
        // at once, the second one lasts until the overlap ends.
        let third = ops::signing_key::rotate_signing_key(&secrets, &secret_id, 6, now_s())
            .await
            .expect("rotated");
        let until = third.previous_valid_until.expect("an end");
        tokio::time::sleep(PICK_UP).await;
        assert!(now_s() < until, "the machine was too slow to see the overlap");
        assert_eq!(
            http_status(&stack, &old).await,
            401,
            "a key dropped from the secret is refused"
        );
        assert_eq!(ws_status(&stack, &old).await, 403);
        assert_eq!(http_status(&stack, &new).await, 200, "previous key, in the overlap");
        assert_eq!(ws_status(&stack, &new).await, 101);
        assert_eq!(authorizer.verify_fresh(&new).await, Ok(customer.clone()));

        // Past the overlap.
        while now_s() < until {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        tokio::time::sleep(PICK_UP).await;
        assert_eq!(
            http_status(&stack, &new).await,
            401,
            "previous key after the overlap, HTTP"
        );
        assert_eq!(
            ws_status(&stack, &new).await,
            403,
            "previous key after the overlap, $connect"
        );
        assert_eq!(authorizer.verify_fresh(&new).await, Err(AuthError::Invalid));
        assert_eq!(published_kids(&stack).await, set(&[&third.current_kid]));
        let newest = dev_token(&stack, "customer:c1").await;
        assert_eq!(kid(&newest), third.current_kid);
        assert_eq!(http_status(&stack, &newest).await, 200);
        assert_eq!(ws_status(&stack, &newest).await, 101);
    }
}
