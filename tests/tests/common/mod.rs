//! Helpers for end-to-end tests: a local stack on a free port, a real HTTP
//! client and real WebSocket clients.

#![allow(dead_code)] // each test binary uses a different subset

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use local_stack::{Backend, LocalOptions, RunningStack, start};
use serde_json::{Value, json};
use shared::auth::TokenIssuer;
use shared::domain::clock::{Clock, SystemClock};
use shared::domain::config::OrderingConfig;
use shared::domain::geo::GeoPoint;
use shared::domain::ids::Caller;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream, connect_async};

/// Dhaka, Gulshan: where the tests' customers stand.
pub const CUSTOMER_LAT: f64 = 23.7925;
pub const CUSTOMER_LNG: f64 = 90.4078;

pub fn customer_point() -> GeoPoint {
    GeoPoint::new(CUSTOMER_LAT, CUSTOMER_LNG).expect("valid point")
}

/// The backend the end-to-end tests run on: `E2E_BACKEND=endpoint` runs
/// them on the DynamoDB and SQS adapters at `AWS_ENDPOINT_URL` (the test
/// command points it at a moto server), each test on its own table and
/// queue; anything else, the embedded adapters.
pub fn backend() -> Backend {
    match std::env::var("E2E_BACKEND").as_deref() {
        Ok("endpoint") => {
            assert!(
                std::env::var_os("AWS_ENDPOINT_URL").is_some(),
                "E2E_BACKEND=endpoint needs AWS_ENDPOINT_URL (run tests/run-all.sh, which starts moto)"
            );
            let unique = ulid::Ulid::new().to_string().to_lowercase();
            Backend::Endpoint {
                table: format!("orders-{unique}"),
                queue: format!("timers-{unique}"),
            }
        }
        _ => Backend::Embedded,
    }
}

/// A local stack on a free loopback port with the given routing knobs.
pub async fn stack(ordering: OrderingConfig) -> RunningStack {
    stack_with(LocalOptions {
        ordering,
        ..LocalOptions::default()
    })
    .await
}

/// A local stack on a free loopback port on the chosen backend.
pub async fn stack_with(options: LocalOptions) -> RunningStack {
    let options = LocalOptions {
        addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        backend: backend(),
        poll_wait: Duration::from_secs(1),
        ..options
    };
    start(options).await.expect("local stack starts")
}

pub struct Api {
    pub base: String,
    pub http: reqwest::Client,
    issuer: Arc<TokenIssuer>,
}

/// A signed token for `caller` (`store:s1`); for anything that is not a
/// valid caller, a token-shaped string no verifier accepts.
pub fn token_for(issuer: &TokenIssuer, caller: &str) -> String {
    match Caller::parse(caller) {
        Ok(caller) => issuer.issue(&caller, SystemClock.now_ms()).expect("signed"),
        Err(_) => format!("not-a-token-for-{caller}"),
    }
}

/// A response as a test sees it.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub body: Value,
    pub text: String,
}

impl Api {
    pub fn new(stack: &RunningStack) -> Self {
        Api {
            base: stack.http_url(),
            http: reqwest::Client::new(),
            issuer: stack.issuer(),
        }
    }

    pub async fn call(&self, method: &str, path: &str, caller: Option<&str>, body: Option<String>) -> Reply {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(caller) = caller {
            request = request.bearer_auth(token_for(&self.issuer, caller));
        }
        if let Some(body) = body {
            request = request.header("content-type", "application/json").body(body);
        }
        let response = request.send().await.expect("request sent");
        let status = response.status().as_u16();
        let text = response.text().await.expect("body read");
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Reply { status, body, text }
    }

    /// Registers an open store at `distance_m` from the customer.
    pub async fn put_store(
        &self,
        id: &str,
        name: &str,
        bearing: f64,
        distance_m: f64,
        category: &str,
        tags: &[&str],
    ) -> Reply {
        let at = customer_point().offset(bearing, distance_m);
        let body = json!({
            "name": name,
            "location": { "lat": at.lat(), "lng": at.lng() },
            "category": category,
            "tags": tags,
        });
        let reply = self
            .call(
                "PUT",
                &format!("/stores/{id}"),
                Some(&format!("store:{id}")),
                Some(body.to_string()),
            )
            .await;
        assert_eq!(reply.status, 200, "store {id} registers: {}", reply.text);
        reply
    }

    pub async fn order(&self, customer: &str, text: &str) -> Reply {
        let body = json!({
            "text": text,
            "location": { "lat": CUSTOMER_LAT, "lng": CUSTOMER_LNG },
        });
        self.call(
            "POST",
            "/orders",
            Some(&format!("customer:{customer}")),
            Some(body.to_string()),
        )
        .await
    }

    pub async fn accept(&self, store: &str, order_id: &str) -> Reply {
        self.call(
            "POST",
            &format!("/orders/{order_id}/accept"),
            Some(&format!("store:{store}")),
            None,
        )
        .await
    }

    pub async fn get_order(&self, customer: &str, order_id: &str) -> Reply {
        self.call(
            "GET",
            &format!("/orders/{order_id}"),
            Some(&format!("customer:{customer}")),
            None,
        )
        .await
    }
}

/// A real WebSocket client.
pub struct Socket {
    pub stream: WebSocketStream<MaybeTlsStream<TcpStream>>,
    /// Every text frame received so far, in order.
    pub seen: Vec<Value>,
}

impl Socket {
    /// Connects as `caller` (`store:s1`, `customer:c1`); returns once the
    /// gateway has run `$connect` and accepted the handshake.
    pub async fn connect(stack: &RunningStack, caller: &str) -> Socket {
        let url = format!("{}?token={}", stack.ws_url(), token_for(&stack.issuer(), caller));
        let (stream, _) = connect_async(url).await.expect("socket connects");
        Socket {
            stream,
            seen: Vec::new(),
        }
    }

    pub async fn send(&mut self, frame: Value) {
        self.stream
            .send(Message::Text(frame.to_string().into()))
            .await
            .expect("frame sent");
    }

    /// The next text frame, or None if nothing arrives within `wait`.
    pub async fn next(&mut self, wait: Duration) -> Option<Value> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let frame = tokio::time::timeout_at(deadline, self.stream.next()).await.ok()??;
            match frame.ok()? {
                Message::Text(text) => {
                    let value: Value = serde_json::from_str(text.as_str()).expect("frames are JSON");
                    self.seen.push(value.clone());
                    return Some(value);
                }
                Message::Close(_) => return None,
                _ => {}
            }
        }
    }

    /// Waits for a frame of `kind` (its `type`), skipping others.
    pub async fn expect(&mut self, kind: &str, wait: Duration) -> Value {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.next(left).await {
                Some(frame) if frame["type"] == kind => return frame,
                Some(_) => {}
                None => panic!("no {kind} frame within {wait:?}; saw {:?}", self.seen),
            }
        }
    }

    /// Asserts that nothing arrives for `wait`.
    pub async fn expect_silence(&mut self, wait: Duration) {
        if let Some(frame) = self.next(wait).await {
            panic!("expected no frame, got {frame}");
        }
    }
}

pub const SHORT: Duration = Duration::from_millis(300);
pub const LONG: Duration = Duration::from_secs(5);
