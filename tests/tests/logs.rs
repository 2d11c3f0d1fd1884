//! No token, key or phone number reaches the logs, at any level, through a
//! whole journey that uses all of them.

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};

use common::{Api, LONG, Socket, stack};
use serde_json::json;
use shared::domain::config::OrderingConfig;

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("lock").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_carry_no_tokens_keys_or_phone_numbers() {
    let captured = Captured::default();
    let writer = captured.clone();
    // Everything the service side logs, down to TRACE; the test's own
    // clients (which log what they send) are left out.
    tracing_subscriber::fmt()
        // The functions' own filter (`wiring::log_filter`), asked for TRACE.
        .with_env_filter(shared::wiring::log_filter(
            "trace,tungstenite::handshake::client=off,tokio_tungstenite=off,reqwest=off,hyper_util::client=off",
        ))
        .with_writer(move || writer.clone())
        .init();

    let stack = stack(OrderingConfig::default()).await;
    let api = Api::new(&stack);
    api.put_store("s1", "One", 0.0, 300.0, "grocery", &["rice"]).await;
    let mut store = Socket::connect(&stack, "store:s1").await;
    let phone = "01812345679";
    let attach = api.attach_phone("c1", phone).await;
    // Signing in with the number and refreshing logs no number either.
    let session = api.sign_in(phone, "customer").await;
    let refresh_token = session["refresh_token"].as_str().expect("refresh token");
    let refreshed = api
        .call_with_token(
            "POST",
            "/auth/refresh",
            None,
            Some(json!({ "refresh_token": refresh_token })),
        )
        .await;
    assert_eq!(refreshed.status, 200, "{}", refreshed.text);
    assert_eq!(attach.status, 200);
    assert_eq!(attach.body["phone"], "+88018*****679", "answers show the number masked");
    let bad_phone = api
        .call(
            "PUT",
            "/customers/me/phone",
            Some("customer:c1"),
            Some(json!({"phone": "+49151999888", "code": "123456"}).to_string()),
        )
        .await;
    assert_eq!(bad_phone.status, 422);
    let created = api.order("c1", "rice").await;
    let id = created.body["order_id"].as_str().expect("id").to_string();
    store.expect("offer", LONG).await;
    assert_eq!(api.accept("s1", &id).await.status, 200);
    // A refused token is logged as refused, not printed.
    let forged = "eyJhbGciOiJub25lIn0.eyJzdWIiOiJzdG9yZTpzMSJ9.";
    let refused = api
        .http
        .get(format!("{}/orders/{id}", api.base))
        .bearer_auth(forged)
        .send()
        .await
        .expect("sent");
    assert_eq!(refused.status(), 401);

    let logs = String::from_utf8_lossy(&captured.0.lock().expect("lock")).into_owned();
    assert!(logs.contains("order opened"), "the journey was logged at all");
    let token = common::token_for(&stack.issuer(), "customer:c1");
    let token_signature = token.rsplit('.').next().expect("signature").to_string();
    for secret in [
        "1812345679",
        "49151999888",
        "eyJ",
        forged,
        token_signature.as_str(),
        refresh_token,
        "PRIVATE KEY",
        "authorization: Bearer",
    ] {
        let line = logs.lines().find(|line| line.contains(secret));
        assert!(line.is_none(), "{secret:?} appeared in the logs: {line:?}");
    }
}
