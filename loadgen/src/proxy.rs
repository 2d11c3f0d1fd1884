//! An HTTP proxy between the AWS SDK and an AWS-compatible server (moto)
//! that counts, delays and breaks calls.
//!
//! - Latency mode (`loadgen --delay-ms`): every call waits `delay` before
//!   it is forwarded, as a cloud round trip would, and is counted by
//!   operation (`X-Amz-Target`: `DynamoDB_20120810.Query` is
//!   `dynamodb.Query`, `AmazonSQS.SendMessage` is `sqs.SendMessage`). The
//!   management API's `@connections` calls (`execute-api.PostToConnection`)
//!   go to the gateway named by [`Proxy::set_gateway`], delayed alike: on
//!   AWS a push is a cloud round trip too. With
//!   [`Proxy::set_capacity`] it also sums the DynamoDB request units each
//!   call consumed ([`crate::capacity`]).
//! - Fault injection (the `faults` end-to-end suite, docs/faults.md): a
//!   [`Faults`] plan answers chosen calls with throttling, a 500, a slow
//!   answer, a connection reset, or forwards the call and then resets the
//!   connection instead of answering ("acted, answer lost"). Calls are
//!   chosen by a script ("the 2nd `dynamodb.TransactWriteItems`") or at
//!   random from a seed: the decision for the n-th call of an operation
//!   depends only on the seed, the operation and n, so a seed replays the
//!   same faults for the same sequence of calls.
//!
//! It is an HTTP/1.1 server of its own on hyper (not axum) because a reset
//! must be a real one: the socket is closed with `SO_LINGER` 0, so the SDK
//! sees `ECONNRESET` with no answer, as from a dying load balancer.

use std::collections::{BTreeMap, HashMap};
use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, to_bytes};
use http::{HeaderValue, Request, Response, StatusCode};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

use crate::capacity::{self, Consumed, Written};

/// Calls counted so far, by operation.
pub type Counts = BTreeMap<String, u64>;
/// DynamoDB request units consumed so far, by operation.
pub type Capacity = BTreeMap<String, Consumed>;

/// One kind of fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Fault {
    /// HTTP 400 with the service's throttling error: DynamoDB's
    /// `ProvisionedThroughputExceededException` or `ThrottlingException`
    /// (alternately), SQS's `RequestThrottled` (AWS JSON protocol with the
    /// `x-amzn-query-error` header). Not forwarded.
    Throttle,
    /// HTTP 500 `InternalServerError` (SQS: `InternalError`). Not forwarded.
    ServerError,
    /// Forwarded only after [`Faults::slow`], past the SDK's attempt
    /// timeout: the client gives up and retries while the late call still
    /// lands.
    Slow,
    /// The connection is reset without an answer. Not forwarded.
    Reset,
    /// Forwarded, moto's answer awaited, then the connection is reset: the
    /// call acted but its answer was lost.
    LostAnswer,
}

impl Fault {
    pub const ALL: [Fault; 5] = [
        Fault::Throttle,
        Fault::ServerError,
        Fault::Slow,
        Fault::Reset,
        Fault::LostAnswer,
    ];

    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Fault::Throttle => "throttle",
            Fault::ServerError => "server_error",
            Fault::Slow => "slow",
            Fault::Reset => "reset",
            Fault::LostAnswer => "lost_answer",
        }
    }
}

/// A fault on the `nth` call (1-based, counted from when the plan was set)
/// of `operation` (`dynamodb.TransactWriteItems`, `sqs.SendMessage`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scripted {
    pub operation: String,
    pub nth: u64,
    pub fault: Fault,
}

/// What to break. Scripted faults come first; other calls of an operation
/// that [`Faults::operations`] admits get each fault with its rate.
#[derive(Debug, Clone, PartialEq)]
pub struct Faults {
    pub seed: u64,
    /// Probability per call of each fault (their sum at most 1).
    pub rates: Vec<(Fault, f64)>,
    pub scripted: Vec<Scripted>,
    /// How long a [`Fault::Slow`] call is held before it is forwarded.
    pub slow: Duration,
    /// Operations random faults may hit (prefixes such as `dynamodb.`);
    /// empty: every operation.
    pub operations: Vec<String>,
}

impl Faults {
    /// No random faults, only `scripted`.
    #[must_use]
    pub fn scripted(scripted: Vec<Scripted>, slow: Duration) -> Self {
        Faults {
            seed: 0,
            rates: Vec::new(),
            scripted,
            slow,
            operations: Vec::new(),
        }
    }
}

/// A fault the proxy injected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Injected {
    pub operation: String,
    /// Which call of the operation (1-based) since the plan was set.
    pub nth: u64,
    pub fault: Fault,
}

#[derive(Default)]
struct Plan {
    faults: Option<Faults>,
    calls: HashMap<String, u64>,
    injected: Vec<Injected>,
}

pub struct Proxy {
    addr: SocketAddr,
    upstream: String,
    /// Where `@connections` calls go (the local gateway), once known.
    gateway: Mutex<Option<String>>,
    client: reqwest::Client,
    delay_us: AtomicU64,
    counts: Mutex<Counts>,
    /// Time really slept before forwarding, and how many calls slept.
    slept_us: AtomicU64,
    sleeps: AtomicU64,
    plan: Mutex<Plan>,
    capacity_on: AtomicBool,
    capacity: Mutex<Capacity>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    match mutex.lock() {
        Ok(guard) => guard,
        Err(poisoned) => poisoned.into_inner(),
    }
}

impl Proxy {
    /// Where the proxy listens.
    #[must_use]
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://{addr}`, for an SDK's endpoint.
    #[must_use]
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Sends `@connections` calls (`/{stage}/@connections/{id}`) to
    /// `gateway` (`http://host:port`) instead of the upstream, keeping the
    /// `Host` they were signed for.
    pub fn set_gateway(&self, gateway: &str) {
        *lock(&self.gateway) = Some(gateway.trim_end_matches('/').to_string());
    }

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
        std::mem::take(&mut *lock(&self.counts))
    }

    /// Sums the request units of every DynamoDB call from now on (each
    /// write costs the proxy two uncounted reads of the items it touches,
    /// before and after).
    pub fn set_capacity(&self, on: bool) {
        self.capacity_on.store(on, Ordering::SeqCst);
    }

    /// The request units so far, and zero from now on.
    pub fn take_capacity(&self) -> Capacity {
        std::mem::take(&mut *lock(&self.capacity))
    }

    /// Breaks calls from now on as `faults` says; call numbers start again.
    pub fn set_faults(&self, faults: Faults) {
        let mut plan = lock(&self.plan);
        plan.faults = Some(faults);
        plan.calls.clear();
    }

    /// Forwards every call unharmed from now on.
    pub fn clear_faults(&self) {
        lock(&self.plan).faults = None;
    }

    /// The faults injected so far, and none from now on.
    pub fn take_injected(&self) -> Vec<Injected> {
        std::mem::take(&mut lock(&self.plan).injected)
    }

    fn count(&self, operation: &str) {
        *lock(&self.counts).entry(operation.to_string()).or_default() += 1;
    }

    /// The fault for this call of `operation`, if any, and a random word
    /// for the fault's details.
    fn decide(&self, operation: &str) -> Option<(Fault, u64)> {
        let mut plan = lock(&self.plan);
        let faults = plan.faults.clone()?;
        let nth = {
            let n = plan.calls.entry(operation.to_string()).or_default();
            *n += 1;
            *n
        };
        let word = mix(faults.seed ^ fnv(operation) ^ nth.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let scripted = faults
            .scripted
            .iter()
            .find(|s| s.operation == operation && s.nth == nth)
            .map(|s| s.fault);
        let admitted = faults.operations.is_empty() || faults.operations.iter().any(|p| operation.starts_with(p));
        let random = || {
            if !admitted {
                return None;
            }
            // 53 random bits as a number in [0, 1).
            #[expect(clippy::cast_precision_loss, reason = "53 bits fit an f64 exactly")]
            let unit = (word >> 11) as f64 / (1u64 << 53) as f64;
            let mut bound = 0.0;
            faults.rates.iter().find_map(|(fault, rate)| {
                bound += rate;
                (unit < bound).then_some(*fault)
            })
        };
        let fault = scripted.or_else(random)?;
        plan.injected.push(Injected {
            operation: operation.to_string(),
            nth,
            fault,
        });
        Some((fault, mix(word)))
    }

    fn slow(&self) -> Duration {
        lock(&self.plan).faults.as_ref().map_or(Duration::ZERO, |f| f.slow)
    }
}

/// splitmix64's finaliser: a well-mixed word from any word.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// FNV-1a of a name: stable across runs and platforms, unlike `Hash`.
fn fnv(name: &str) -> u64 {
    name.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Listens on `listen` and forwards to `upstream` (`http://host:port`).
pub async fn start(listen: SocketAddr, upstream: &str) -> Result<Arc<Proxy>, StartError> {
    let listener = TcpListener::bind(listen).await?;
    let proxy = Arc::new(Proxy {
        addr: listener.local_addr()?,
        upstream: upstream.trim_end_matches('/').to_string(),
        gateway: Mutex::new(None),
        client: reqwest::Client::builder()
            .pool_max_idle_per_host(256)
            .timeout(Duration::from_secs(60))
            .build()?,
        delay_us: AtomicU64::new(0),
        counts: Mutex::new(Counts::new()),
        slept_us: AtomicU64::new(0),
        sleeps: AtomicU64::new(0),
        plan: Mutex::new(Plan::default()),
        capacity_on: AtomicBool::new(false),
        capacity: Mutex::new(Capacity::new()),
    });
    let serving = Arc::clone(&proxy);
    tokio::spawn(async move {
        loop {
            let (stream, _) = match listener.accept().await {
                Ok(accepted) => accepted,
                Err(e) => {
                    eprintln!("proxy: accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            let proxy = Arc::clone(&serving);
            tokio::spawn(serve_connection(proxy, stream));
        }
    });
    Ok(proxy)
}

/// Why the proxy did not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("could not listen: {0}")]
    Listen(#[from] io::Error),
    #[error("could not build the upstream client: {0}")]
    Client(#[from] reqwest::Error),
}

async fn serve_connection(proxy: Arc<Proxy>, stream: TcpStream) {
    let reset = Arc::new(AtomicBool::new(false));
    let io = TokioIo::new(Resettable {
        stream,
        reset: Arc::clone(&reset),
    });
    let service = hyper::service::service_fn(move |request| {
        let proxy = Arc::clone(&proxy);
        let reset = Arc::clone(&reset);
        async move { Ok::<_, Infallible>(handle(&proxy, request, &reset).await) }
    });
    // An error here is the client going away or a reset we made.
    let _ = hyper::server::conn::http1::Builder::new()
        .serve_connection(io, service)
        .await;
}

/// A socket that, once `reset` is set, fails every read and write and is
/// closed with `SO_LINGER` 0 when dropped: the peer gets a TCP RST.
struct Resettable {
    stream: TcpStream,
    reset: Arc<AtomicBool>,
}

impl Resettable {
    fn broken(&self) -> Option<io::Error> {
        if !self.reset.load(Ordering::SeqCst) {
            return None;
        }
        // Best effort: without it the close is an orderly FIN, which the
        // SDK also sees as a connection closed without an answer.
        let _ = socket2::SockRef::from(&self.stream).set_linger(Some(Duration::ZERO));
        Some(io::Error::from(io::ErrorKind::ConnectionReset))
    }
}

impl AsyncRead for Resettable {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if let Some(e) = this.broken() {
            return Poll::Ready(Err(e));
        }
        Pin::new(&mut this.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for Resettable {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if let Some(e) = this.broken() {
            return Poll::Ready(Err(e));
        }
        Pin::new(&mut this.stream).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if let Some(e) = this.broken() {
            return Poll::Ready(Err(e));
        }
        Pin::new(&mut this.stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if let Some(e) = this.broken() {
            return Poll::Ready(Err(e));
        }
        Pin::new(&mut this.stream).poll_shutdown(cx)
    }
}

/// `DynamoDB_20120810.Query` -> `dynamodb.Query`; `AmazonSQS.SendMessage`
/// -> `sqs.SendMessage`; `secretsmanager.GetSecretValue`; a management
/// API call: `execute-api.PostToConnection` (`GetConnection`,
/// `DeleteConnection`); no target (SQS query protocol, anything else): the
/// method and path.
fn operation<B>(request: &Request<B>) -> String {
    if is_management(request.uri().path()) {
        let call = match *request.method() {
            http::Method::POST => "PostToConnection",
            http::Method::GET => "GetConnection",
            http::Method::DELETE => "DeleteConnection",
            _ => "Other",
        };
        return format!("execute-api.{call}");
    }
    match request.headers().get("x-amz-target").and_then(|v| v.to_str().ok()) {
        Some(target) => match target.split_once('.') {
            Some((service, op)) if service.starts_with("DynamoDB") => format!("dynamodb.{op}"),
            Some((service, op)) if service.starts_with("AmazonSQS") => format!("sqs.{op}"),
            Some((service, op)) if service.starts_with("secretsmanager") => format!("secretsmanager.{op}"),
            _ => target.to_string(),
        },
        None => format!("{} {}", request.method(), request.uri().path()),
    }
}

/// A management API path: `/{stage}/@connections/{id}` (the `@` may be
/// percent-encoded).
fn is_management(path: &str) -> bool {
    path.contains("/@connections/") || path.contains("/%40connections/")
}

fn plain(status: StatusCode, text: String) -> Response<Body> {
    let mut response = Response::new(Body::from(text));
    *response.status_mut() = status;
    response
}

/// An AWS JSON protocol error as the service sends it.
fn aws_error(status: StatusCode, service_type: &str, query_error: Option<&str>, message: &str) -> Response<Body> {
    let body = serde_json::json!({ "__type": service_type, "message": message }).to_string();
    let mut response = plain(status, body);
    let headers = response.headers_mut();
    headers.insert("content-type", HeaderValue::from_static("application/x-amz-json-1.0"));
    headers.insert("x-amzn-requestid", HeaderValue::from_static("fault-injected"));
    if let Some(query) = query_error.and_then(|q| HeaderValue::from_str(q).ok()) {
        headers.insert("x-amzn-query-error", query);
    }
    response
}

fn throttled(operation: &str, word: u64) -> Response<Body> {
    let message = "injected by the fault proxy";
    if operation.starts_with("sqs.") {
        return aws_error(
            StatusCode::BAD_REQUEST,
            "com.amazonaws.sqs#RequestThrottled",
            Some("RequestThrottled;Sender"),
            message,
        );
    }
    if operation.starts_with("dynamodb.") && word & 1 == 0 {
        return aws_error(
            StatusCode::BAD_REQUEST,
            "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",
            None,
            message,
        );
    }
    let shape = if operation.starts_with("dynamodb.") {
        "com.amazonaws.dynamodb.v20120810#ThrottlingException"
    } else {
        "ThrottlingException"
    };
    aws_error(StatusCode::BAD_REQUEST, shape, None, message)
}

fn server_error(operation: &str) -> Response<Body> {
    let message = "injected by the fault proxy";
    if operation.starts_with("sqs.") {
        return aws_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "com.amazonaws.sqs#InternalError",
            Some("InternalError;Receiver"),
            message,
        );
    }
    aws_error(
        StatusCode::INTERNAL_SERVER_ERROR,
        "com.amazonaws.dynamodb.v20120810#InternalServerError",
        None,
        message,
    )
}

async fn handle(proxy: &Proxy, request: Request<Incoming>, reset: &AtomicBool) -> Response<Body> {
    let operation = operation(&request);
    proxy.count(&operation);
    let fault = proxy.decide(&operation);
    match fault {
        Some((Fault::Throttle, word)) => return throttled(&operation, word),
        Some((Fault::ServerError, _)) => return server_error(&operation),
        Some((Fault::Reset, _)) => {
            reset.store(true, Ordering::SeqCst);
            return plain(StatusCode::BAD_GATEWAY, String::new());
        }
        Some((Fault::Slow, _)) => tokio::time::sleep(proxy.slow()).await,
        Some((Fault::LostAnswer, _)) | None => {}
    }
    let delay = proxy.delay_us.load(Ordering::SeqCst);
    if delay > 0 {
        let start = std::time::Instant::now();
        tokio::time::sleep(Duration::from_micros(delay)).await;
        let slept = u64::try_from(start.elapsed().as_micros()).unwrap_or(u64::MAX);
        proxy.slept_us.fetch_add(slept, Ordering::SeqCst);
        proxy.sleeps.fetch_add(1, Ordering::SeqCst);
    }
    let (parts, body) = request.into_parts();
    let Ok(body) = to_bytes(Body::new(body), 64 * 1024 * 1024).await else {
        return plain(StatusCode::BAD_GATEWAY, "request body unreadable".into());
    };
    let response = if proxy.capacity_on.load(Ordering::SeqCst) && operation.starts_with("dynamodb.") {
        forward_counting_units(proxy, &operation, parts, body).await
    } else {
        forward(proxy, parts, body).await
    };
    if matches!(fault, Some((Fault::LostAnswer, _))) {
        // Moto has acted and answered; the client never hears it.
        reset.store(true, Ordering::SeqCst);
    }
    response
}

/// Forwards a DynamoDB call and adds what it consumed to the proxy's sums:
/// a write's items are sized (read from upstream) before and after it.
async fn forward_counting_units(
    proxy: &Proxy,
    operation: &str,
    parts: http::request::Parts,
    body: axum::body::Bytes,
) -> Response<Body> {
    let request: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    let written = capacity::items_written(operation, &request);
    let before = sizes(proxy, &parts.headers, &written).await;
    let response = forward(proxy, parts.clone(), body).await;
    let after = sizes(proxy, &parts.headers, &written).await;
    let (head, answer) = response.into_parts();
    let Ok(answer) = to_bytes(answer, 64 * 1024 * 1024).await else {
        return plain(StatusCode::BAD_GATEWAY, "upstream body unreadable".into());
    };
    let answered: serde_json::Value = serde_json::from_slice(&answer).unwrap_or_default();
    let used = capacity::consumed(operation, &request, &answered, &before, &after);
    lock(&proxy.capacity)
        .entry(operation.to_string())
        .or_default()
        .add(used);
    Response::from_parts(head, Body::from(answer))
}

/// The sizes of `items` as they stand upstream (`None`: absent), read in
/// one consistent `BatchGetItem` that is not counted, with the caller's
/// credentials.
async fn sizes(proxy: &Proxy, headers: &http::HeaderMap, items: &[Written]) -> Vec<Option<u64>> {
    let mut found = vec![None; items.len()];
    if items.is_empty() {
        return found;
    }
    let mut request_items = serde_json::Map::new();
    for item in items {
        let entry = request_items
            .entry(item.table.clone())
            .or_insert_with(|| serde_json::json!({"Keys": [], "ConsistentRead": true}));
        if let Some(keys) = entry.get_mut("Keys").and_then(serde_json::Value::as_array_mut)
            && !keys.iter().any(|k| k.as_object() == Some(&item.key))
        {
            keys.push(serde_json::Value::Object(item.key.clone()));
        }
    }
    let mut call = proxy
        .client
        .post(format!("{}/", proxy.upstream))
        .header("x-amz-target", "DynamoDB_20120810.BatchGetItem")
        .header("content-type", "application/x-amz-json-1.0")
        .body(serde_json::json!({ "RequestItems": request_items }).to_string());
    if let Some(auth) = headers.get("authorization") {
        call = call.header("authorization", auth);
    }
    let Ok(answer) = call.send().await else {
        return found;
    };
    let Ok(answer) = answer.json::<serde_json::Value>().await else {
        return found;
    };
    for (i, item) in items.iter().enumerate() {
        let stored = answer
            .get("Responses")
            .and_then(|r| r.get(&item.table))
            .and_then(serde_json::Value::as_array)
            .and_then(|rows| {
                rows.iter()
                    .filter_map(serde_json::Value::as_object)
                    .find(|row| item.key.iter().all(|(name, value)| row.get(name) == Some(value)))
            });
        found[i] = stored.map(capacity::item_size);
    }
    found
}

async fn forward(proxy: &Proxy, parts: http::request::Parts, body: axum::body::Bytes) -> Response<Body> {
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let mut headers = parts.headers;
    // A management call goes to the gateway with the `Host` it was signed
    // for (SigV4 covers it); the rest to the upstream with its own.
    let gateway = if is_management(parts.uri.path()) {
        lock(&proxy.gateway).clone()
    } else {
        None
    };
    if gateway.is_none() {
        headers.remove("host");
    }
    for hop in ["content-length", "connection", "transfer-encoding"] {
        headers.remove(hop);
    }
    let target = gateway.as_deref().unwrap_or(&proxy.upstream);
    let sent = proxy
        .client
        .request(parts.method, format!("{target}{path}"))
        .headers(headers)
        .body(body)
        .send()
        .await;
    let answer = match sent {
        Ok(answer) => answer,
        Err(e) => return plain(StatusCode::BAD_GATEWAY, format!("upstream: {e}")),
    };
    let status = answer.status();
    let mut headers = answer.headers().clone();
    for hop in ["content-length", "connection", "transfer-encoding"] {
        headers.remove(hop);
    }
    let bytes = match answer.bytes().await {
        Ok(bytes) => bytes,
        Err(e) => return plain(StatusCode::BAD_GATEWAY, format!("upstream body: {e}")),
    };
    let mut response = Response::new(Body::from(bytes));
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seed_decides_the_same_faults_for_the_same_calls() {
        let plan = || Faults {
            seed: 7,
            rates: vec![(Fault::Throttle, 0.2), (Fault::LostAnswer, 0.2)],
            scripted: vec![Scripted {
                operation: "dynamodb.PutItem".into(),
                nth: 2,
                fault: Fault::Reset,
            }],
            slow: Duration::ZERO,
            operations: vec!["dynamodb.".into()],
        };
        let run = || {
            let proxy = Proxy {
                addr: SocketAddr::from(([127, 0, 0, 1], 0)),
                upstream: String::new(),
                gateway: Mutex::new(None),
                client: reqwest::Client::new(),
                delay_us: AtomicU64::new(0),
                counts: Mutex::new(Counts::new()),
                slept_us: AtomicU64::new(0),
                sleeps: AtomicU64::new(0),
                plan: Mutex::new(Plan::default()),
                capacity_on: AtomicBool::new(false),
                capacity: Mutex::new(Capacity::new()),
            };
            proxy.set_faults(plan());
            for op in ["dynamodb.PutItem", "dynamodb.GetItem", "sqs.SendMessage"] {
                for _ in 0..200 {
                    proxy.decide(op);
                }
            }
            proxy.take_injected()
        };
        let first = run();
        assert_eq!(first, run());
        assert!(first.iter().all(|f| f.operation.starts_with("dynamodb.")));
        assert!(first.contains(&Injected {
            operation: "dynamodb.PutItem".into(),
            nth: 2,
            fault: Fault::Reset
        }));
        let throttles = first.iter().filter(|f| f.fault == Fault::Throttle).count();
        assert!((40..120).contains(&throttles), "about 20% of 400 calls: {throttles}");
    }
}
