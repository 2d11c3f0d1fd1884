//! A counting, delaying HTTP proxy between the local stack's AWS SDK and an
//! AWS-compatible server (moto): every call waits `delay` before it is
//! forwarded, as a cloud round trip would, and is counted by operation
//! (`X-Amz-Target`: `DynamoDB_20120810.Query`, `AmazonSQS.SendMessage`).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use tokio::net::TcpListener;

/// Calls counted so far, by operation.
pub type Counts = BTreeMap<String, u64>;

pub struct Proxy {
    upstream: String,
    client: reqwest::Client,
    delay_us: AtomicU64,
    counts: Mutex<Counts>,
    /// Time really slept before forwarding, and how many calls slept.
    slept_us: AtomicU64,
    sleeps: AtomicU64,
}

impl Proxy {
    pub fn set_delay(&self, delay: Duration) {
        let us = u64::try_from(delay.as_micros()).unwrap_or(u64::MAX);
        self.delay_us.store(us, Ordering::SeqCst);
    }

    /// Time slept and calls delayed so far, and zero from now on.
    pub fn take_slept(&self) -> (Duration, u64) {
        let us = self.slept_us.swap(0, Ordering::SeqCst);
        (Duration::from_micros(us), self.sleeps.swap(0, Ordering::SeqCst))
    }

    /// The counts so far, and zero from now on.
    pub fn take_counts(&self) -> Counts {
        match self.counts.lock() {
            Ok(mut counts) => std::mem::take(&mut *counts),
            Err(poisoned) => std::mem::take(&mut *poisoned.into_inner()),
        }
    }

    fn count(&self, operation: String) {
        let mut counts = match self.counts.lock() {
            Ok(counts) => counts,
            Err(poisoned) => poisoned.into_inner(),
        };
        *counts.entry(operation).or_default() += 1;
    }
}

/// Listens on `listen` and forwards to `upstream` (`http://host:port`).
pub async fn start(listen: SocketAddr, upstream: &str) -> anyhow::Result<Arc<Proxy>> {
    let proxy = Arc::new(Proxy {
        upstream: upstream.trim_end_matches('/').to_string(),
        client: reqwest::Client::builder()
            .pool_max_idle_per_host(256)
            .timeout(Duration::from_secs(60))
            .build()?,
        delay_us: AtomicU64::new(0),
        counts: Mutex::new(Counts::new()),
        slept_us: AtomicU64::new(0),
        sleeps: AtomicU64::new(0),
    });
    let listener = TcpListener::bind(listen).await?;
    let app = Router::new().fallback(forward).with_state(Arc::clone(&proxy));
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            eprintln!("latency proxy stopped: {e}");
        }
    });
    Ok(proxy)
}

/// `DynamoDB_20120810.Query` -> `dynamodb.Query`; `AmazonSQS.SendMessage`
/// -> `sqs.SendMessage`; no target (SQS query protocol, anything else):
/// the method and path.
fn operation(request: &Request) -> String {
    match request.headers().get("x-amz-target").and_then(|v| v.to_str().ok()) {
        Some(target) => match target.split_once('.') {
            Some((service, op)) if service.starts_with("DynamoDB") => format!("dynamodb.{op}"),
            Some((service, op)) if service.starts_with("AmazonSQS") => format!("sqs.{op}"),
            _ => target.to_string(),
        },
        None => format!("{} {}", request.method(), request.uri().path()),
    }
}

async fn forward(State(proxy): State<Arc<Proxy>>, request: Request) -> Response {
    proxy.count(operation(&request));
    let delay = proxy.delay_us.load(Ordering::SeqCst);
    if delay > 0 {
        let start = std::time::Instant::now();
        tokio::time::sleep(Duration::from_micros(delay)).await;
        let slept = u64::try_from(start.elapsed().as_micros()).unwrap_or(u64::MAX);
        proxy.slept_us.fetch_add(slept, Ordering::SeqCst);
        proxy.sleeps.fetch_add(1, Ordering::SeqCst);
    }
    let (parts, body) = request.into_parts();
    let Ok(body) = to_bytes(body, 64 * 1024 * 1024).await else {
        return (StatusCode::BAD_GATEWAY, "request body unreadable").into_response();
    };
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let mut headers = parts.headers;
    for hop in ["host", "content-length", "connection", "transfer-encoding"] {
        headers.remove(hop);
    }
    let sent = proxy
        .client
        .request(parts.method, format!("{}{path}", proxy.upstream))
        .headers(headers)
        .body(body)
        .send()
        .await;
    let answer = match sent {
        Ok(answer) => answer,
        Err(e) => return (StatusCode::BAD_GATEWAY, format!("upstream: {e}")).into_response(),
    };
    let status = answer.status();
    let mut headers = answer.headers().clone();
    for hop in ["content-length", "connection", "transfer-encoding"] {
        headers.remove(hop);
    }
    let bytes = match answer.bytes().await {
        Ok(bytes) => bytes,
        Err(e) => return (StatusCode::BAD_GATEWAY, format!("upstream body: {e}")).into_response(),
    };
    let mut response = Response::new(Body::from(bytes));
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    response
}
