//! Load benchmark of the order path (issue 12).
//!
//! Starts a local stack (or uses one at `--url`), registers `--stores`
//! stores over a square city with a live WebSocket each, and lets
//! `--customers` customers order concurrently, each waiting for its order's
//! race to end before the next; every offered store accepts at once. Prints
//! latencies beside a bare loopback WebSocket round trip, orders per second
//! and the exactly-one-winner count. With `--delay-ms` (endpoint backend) it
//! counts cloud calls by operation through a delaying proxy and turns the
//! extra latency into sequential round trips. See docs/performance.md.

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::panic, clippy::todo, clippy::dbg_macro))]

mod city;
mod echo;
mod stats;
mod tracker;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use futures_util::{SinkExt, StreamExt};
use local_stack::{Backend, LocalOptions, RunningStack};
use serde_json::{Value, json};
use shared::domain::config::{MOST_ORDERS_PER_MINUTE, OrderingConfig};
use tokio_tungstenite::tungstenite::Message;

use city::{City, Rng};
use loadgen::proxy;
use stats::{Samples, ms};
use tracker::Tracker;

const USAGE: &str = "\
usage: loadgen [options]
  --stores N            stores with a live socket (default 2000)
  --customers N[,N..]   concurrent customers, one order in flight each (default 8);
                        a list runs each level in turn over the same stores
  --orders N            measured orders (default: run for --duration)
  --duration S          measured seconds (default 10)
  --warmup N            orders before measuring (default 5 per customer)
  --seed N              places stores and customers (default 1)
  --city-km K           side of the square city around 23.78,90.40 (default 12)
  --accept http|ws      how stores race to accept (default http; over ws the local
                        gateway's answer waits ~40 ms for a delayed ACK, see
                        docs/performance.md)
  --backend embedded|endpoint
                        stack started here: embedded storage, or DynamoDB/SQS at
                        AWS_ENDPOINT_URL (default embedded)
  --url http://host:port
                        use a running stack instead (its rate limits must be lifted)
  --delay-ms D          latency mode (endpoint backend): serve a proxy at
                        AWS_ENDPOINT_URL that delays each call by D ms and
                        forwards to --upstream; 1 customer, --latency-orders
                        orders with no delay then as many with D
  --upstream URL        the real endpoint (moto) behind the proxy
  --latency-orders N    orders per phase in latency mode (default 10)
  --order-timeout S     an order not settled by then is an error (default 10)
  --pause-ms P          each customer waits P ms after its order settles before the
                        next (default 0: back to back); with 1 customer, an alert
                        measured on an idle stack, as the loopback echo is
  --stack-process       run the started stack in a child process (automatic when
                        its sockets and ours would pass the open-file limit)";

#[derive(Debug, Clone, Copy, PartialEq)]
enum AcceptMode {
    Ws,
    Http,
}

#[derive(Debug, Clone)]
struct Args {
    stack_process: bool,
    stores: usize,
    /// Concurrency levels, run one after another over the same stores.
    customers: Vec<usize>,
    orders: Option<usize>,
    duration: Duration,
    warmup: Option<usize>,
    seed: u64,
    city_km: f64,
    accept: AcceptMode,
    endpoint: bool,
    url: Option<String>,
    delay: Option<Duration>,
    upstream: Option<String>,
    latency_orders: usize,
    order_timeout: Duration,
    /// A customer's pause between one order settling and the next.
    pause: Duration,
}

impl Default for Args {
    fn default() -> Self {
        Args {
            stack_process: false,
            stores: 2000,
            customers: vec![8],
            orders: None,
            duration: Duration::from_secs(10),
            warmup: None,
            seed: 1,
            city_km: 12.0,
            accept: AcceptMode::Http,
            endpoint: false,
            url: None,
            delay: None,
            upstream: None,
            latency_orders: 10,
            order_timeout: Duration::from_secs(10),
            pause: Duration::ZERO,
        }
    }
}

fn parse_args() -> anyhow::Result<Args> {
    let mut args = Args::default();
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "-h" || flag == "--help" {
            println!("{USAGE}");
            std::process::exit(0);
        }
        if flag == "--stack-process" {
            args.stack_process = true;
            continue;
        }
        let value = it.next().with_context(|| format!("{flag} needs a value\n{USAGE}"))?;
        let bad = || format!("bad value {value:?} for {flag}");
        match flag.as_str() {
            "--stores" => args.stores = value.parse().with_context(bad)?,
            "--customers" => {
                args.customers = value
                    .split(',')
                    .map(|n| n.trim().parse::<usize>())
                    .collect::<Result<_, _>>()
                    .with_context(bad)?
            }
            "--orders" => args.orders = Some(value.parse().with_context(bad)?),
            "--duration" => args.duration = Duration::from_secs_f64(value.parse().with_context(bad)?),
            "--warmup" => args.warmup = Some(value.parse().with_context(bad)?),
            "--seed" => args.seed = value.parse().with_context(bad)?,
            "--city-km" => args.city_km = value.parse().with_context(bad)?,
            "--accept" => {
                args.accept = match value.as_str() {
                    "ws" => AcceptMode::Ws,
                    "http" => AcceptMode::Http,
                    _ => bail!(bad()),
                }
            }
            "--backend" => {
                args.endpoint = match value.as_str() {
                    "embedded" => false,
                    "endpoint" => true,
                    _ => bail!(bad()),
                }
            }
            "--url" => args.url = Some(value.trim_end_matches('/').to_string()),
            "--delay-ms" => {
                args.delay = Some(Duration::from_secs_f64(
                    value.parse::<f64>().with_context(bad)? / 1000.0,
                ))
            }
            "--upstream" => args.upstream = Some(value),
            "--latency-orders" => args.latency_orders = value.parse().with_context(bad)?,
            "--order-timeout" => args.order_timeout = Duration::from_secs_f64(value.parse().with_context(bad)?),
            "--pause-ms" => args.pause = Duration::from_secs_f64(value.parse::<f64>().with_context(bad)? / 1000.0),
            _ => bail!("unknown flag {flag}\n{USAGE}"),
        }
    }
    if args.customers.contains(&0) || args.customers.is_empty() || args.stores == 0 {
        bail!("--stores and --customers must be at least 1");
    }
    if args.delay.is_some() && (!args.endpoint || args.upstream.is_none() || args.url.is_some()) {
        bail!("--delay-ms needs --backend endpoint and --upstream (and no --url)");
    }
    Ok(args)
}

fn runtime(name: &str, workers: usize) -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .thread_name(name)
        .enable_all()
        .build()?)
}

/// The stack allocates and frees small buffers on every request and push;
/// glibc's allocator spent about a tenth of the stack's time doing so
/// under load (docs/performance.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> anyhow::Result<()> {
    if std::env::args().nth(1).as_deref() == Some("stack") {
        return stack_process();
    }
    let mut args = parse_args()?;
    println!(
        "build: opt-level {}{} (docs/performance.md, \"How to run\")",
        env!("LOADGEN_OPT_LEVEL"),
        if cfg!(debug_assertions) {
            ", debug assertions on"
        } else {
            ""
        }
    );
    let limit = raise_fd_limit(args.stores + LOAD_IDENTITIES);
    // Two descriptors per socket (stores and customers) if the stack shares this process:
    // beyond the limit, the stack runs in a child process (this binary).
    let fds_needed = u64::try_from(args.stores + LOAD_IDENTITIES)
        .unwrap_or(u64::MAX)
        .saturating_mul(2)
        + 1024;
    let mut child = None;
    // Where the stack runs, an echo too: the floor the order path is
    // measured against (`echo`).
    let mut stack_echo = None;
    if args.url.is_none() && (args.stack_process || fds_needed > limit) {
        if args.delay.is_some() {
            bail!("latency mode runs the stack in this process: use fewer stores");
        }
        let (process, url, echo) = spawn_stack_process(&args)?;
        stack_echo = Some(echo);
        println!("stack: in a child process (asked, or {fds_needed} open files here would pass the limit {limit})");
        child = Some(process);
        args.url = Some(url);
    }
    // The stack, the cloud stand-in and the load each get their own runtime,
    // as if they were separate processes on this machine.
    let cloud_rt = runtime("cloud", 1)?;
    let stack_rt = runtime("stack", 2)?;
    let load_rt = runtime("load", 2)?;

    let proxy = match (&args.delay, &args.upstream) {
        (Some(_), Some(upstream)) => {
            let listen = endpoint_addr()?;
            let proxy = cloud_rt.block_on(proxy::start(listen, upstream))?;
            println!("latency proxy on {listen} -> {upstream}");
            Some(proxy)
        }
        _ => None,
    };

    let mut stack: Option<RunningStack> = None;
    let base = match &args.url {
        Some(url) => {
            if child.is_none() {
                println!("stack: {url} (rate limits are that stack's: lift MAX_OPEN_ORDERS / MAX_ORDERS_PER_MINUTE)");
            }
            url.clone()
        }
        None => {
            // Latency mode: pushes go through the proxy too, delayed as
            // every other cloud call.
            let management = proxy.as_ref().map(|p| format!("{}/{}", p.url(), local_stack::STAGE));
            let running = stack_rt.block_on(start_stack(&args, management))?;
            stack_echo = Some(stack_rt.block_on(echo::serve())?);
            let base = running.http_url();
            if let Some(proxy) = &proxy {
                proxy.set_gateway(&base);
            }
            stack = Some(running);
            base
        }
    };
    let result = load_rt.block_on(run(args, base, proxy, stack_echo));
    drop(stack);
    if let Some(mut child) = child {
        let _ = child.kill();
        let _ = child.wait();
    }
    load_rt.shutdown_background();
    stack_rt.shutdown_background();
    cloud_rt.shutdown_background();
    result
}

/// The address in `AWS_ENDPOINT_URL`, where the proxy listens.
fn endpoint_addr() -> anyhow::Result<SocketAddr> {
    let url =
        std::env::var("AWS_ENDPOINT_URL").context("latency mode needs AWS_ENDPOINT_URL (where the proxy listens)")?;
    let hostport = url
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .replace("localhost", "127.0.0.1");
    hostport
        .parse()
        .with_context(|| format!("AWS_ENDPOINT_URL {url:?} is not http://<ip>:<port>"))
}

/// Raises the open-file limit towards two descriptors per store socket and
/// some spare (past the hard limit only with the privilege to); returns the
/// limit in force.
fn raise_fd_limit(stores: usize) -> u64 {
    let want = u64::try_from(stores)
        .unwrap_or(u64::MAX)
        .saturating_mul(2)
        .saturating_add(4096);
    let Ok((soft, hard)) = rlimit::Resource::NOFILE.get() else {
        return 1024;
    };
    if soft >= want {
        return soft;
    }
    if rlimit::Resource::NOFILE.set(want, want.max(hard)).is_err() {
        let _ = rlimit::Resource::NOFILE.set(hard.min(want), hard);
    }
    let now = rlimit::Resource::NOFILE.get().map_or(soft, |(soft, _)| soft);
    if now > soft {
        println!("open-file limit raised from {soft} to {now}");
    }
    now
}

/// `loadgen stack [--backend ...]`: only the stack, rate limits lifted; prints
/// `url <base>` and runs until its stdin closes (the parent benchmark holds
/// it, and kills this process when done).
fn stack_process() -> anyhow::Result<()> {
    let mut args = Args::default();
    let mut it = std::env::args().skip(2);
    while let Some(flag) = it.next() {
        if flag == "--backend" {
            args.endpoint = it.next().as_deref() == Some("endpoint");
        }
    }
    raise_fd_limit(20_000);
    let rt = runtime("stack", 2)?;
    let stack = rt.block_on(start_stack(&args, None))?;
    println!("echo {}", rt.block_on(echo::serve())?);
    println!("url {}", stack.http_url());
    std::io::Write::flush(&mut std::io::stdout())?;
    // Until the parent closes our stdin (it ends, or dies).
    rt.block_on(async {
        tokio::task::spawn_blocking(|| {
            let mut line = String::new();
            while std::io::stdin().read_line(&mut line).is_ok_and(|n| n > 0) {
                line.clear();
            }
        })
        .await
    })?;
    drop(stack);
    rt.shutdown_background();
    Ok(())
}

/// The child, the stack's base URL and its echo's address.
fn spawn_stack_process(args: &Args) -> anyhow::Result<(std::process::Child, String, SocketAddr)> {
    use std::io::BufRead as _;
    let mut child = std::process::Command::new(std::env::current_exe()?)
        .arg("stack")
        .arg("--backend")
        .arg(if args.endpoint { "endpoint" } else { "embedded" })
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()?;
    let stdout = child.stdout.take().context("no stdout from the stack process")?;
    let mut lines = std::io::BufReader::new(stdout).lines();
    let mut echo = None;
    for line in lines.by_ref() {
        let line = line?;
        if let Some(addr) = line.strip_prefix("echo ") {
            echo = Some(addr.parse().context("the stack process's echo address")?);
        } else if let Some(url) = line.strip_prefix("url ") {
            let url = url.to_string();
            // Keep draining its output so it never blocks on a full pipe.
            std::thread::spawn(move || lines.for_each(drop));
            let echo = echo.context("the stack process named no echo")?;
            return Ok((child, url, echo));
        } else {
            println!("{line}");
        }
    }
    let _ = child.kill();
    bail!("the stack process stopped before it was ready")
}

/// `management`: where pushes go instead of the gateway's own
/// `@connections` (the latency proxy).
async fn start_stack(args: &Args, management: Option<String>) -> anyhow::Result<RunningStack> {
    let mut ordering = OrderingConfig::from_env()?;
    // Each benchmark customer has one order searching at a time; five keeps
    // the read of recent orders the default size (20). The per-minute limit
    // (5) would stop a customer after 5 orders: it is lifted to the most an
    // operator may set, and the load's orders are spread over
    // [`LOAD_IDENTITIES`] customers, so no customer's window of recent
    // orders is larger than a real one can be.
    ordering.max_open_orders = ordering.max_open_orders.max(5);
    ordering.max_orders_per_minute = MOST_ORDERS_PER_MINUTE;
    let backend = if args.endpoint {
        if std::env::var_os("AWS_ENDPOINT_URL").is_none() {
            bail!("--backend endpoint needs AWS_ENDPOINT_URL");
        }
        let unique = ulid::Ulid::new().to_string().to_lowercase();
        Backend::Endpoint {
            table: format!("loadgen-{unique}"),
            queue: format!("loadgen-timers-{unique}"),
        }
    } else {
        Backend::Embedded
    };
    let stack = local_stack::start(LocalOptions {
        addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        backend,
        ordering,
        poll_wait: Duration::from_secs(1),
        management_endpoint: management,
        ..LocalOptions::default()
    })
    .await?;
    println!(
        "stack: started here, {} backend, {}; rate limits lifted for the benchmark: \
         MAX_OPEN_ORDERS={} MAX_ORDERS_PER_MINUTE={}; {} stores per round, radius {} m, offer window {} ms",
        stack.backend_name(),
        stack.http_url(),
        ordering.max_open_orders,
        ordering.max_orders_per_minute,
        ordering.stores_per_round,
        ordering.radius_m,
        ordering.offer_window_ms
    );
    Ok(stack)
}

struct Ctx {
    http: reqwest::Client,
    base: String,
    ws: String,
    tracker: Tracker,
    accept: AcceptMode,
    city: City,
    order_timeout: Duration,
    pause: Duration,
}

type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn dev_token(ctx: &Ctx, caller: &str) -> anyhow::Result<String> {
    let reply: Value = ctx
        .http
        .post(format!("{}/dev/tokens", ctx.base))
        .header("content-type", "application/json")
        .body(json!({ "caller": caller }).to_string())
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    reply["token"]
        .as_str()
        .map(str::to_string)
        .context("no token in /dev/tokens answer")
}

/// The benchmark's sockets (its stores, customers and the loopback echo)
/// read in chunks of an API frame's size, as the gateway's do:
/// tungstenite's default zeroes 128 KiB before every read, which took a
/// sixth of this client's CPU, on the cores the stack runs on, and padded
/// both the order path and the loopback round trip it is compared with.
fn socket_config() -> tokio_tungstenite::tungstenite::protocol::WebSocketConfig {
    tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default()
        .read_buffer_size(local_stack::SOCKET_READ_CHUNK_BYTES)
}

async fn connect(ctx: &Ctx, token: &str) -> anyhow::Result<Ws> {
    // No Nagle on the client side: an accept frame goes out at once.
    let (ws, _) =
        tokio_tungstenite::connect_async_with_config(format!("{}?token={token}", ctx.ws), Some(socket_config()), true)
            .await?;
    Ok(ws)
}

/// Registers store `i` at a random point of the city and connects it.
async fn register_store(ctx: &Ctx, i: usize, at: (f64, f64)) -> anyhow::Result<(usize, String, Ws)> {
    let id = format!("lg-{i:05}");
    let token = dev_token(ctx, &format!("store:{id}")).await?;
    let body = json!({
        "name": format!("Load store {i}"),
        "location": { "lat": at.0, "lng": at.1 },
        "category": "grocery",
        "tags": ["rice", "meat", "spices", "oil"],
        "open": true,
    });
    let reply = ctx
        .http
        .put(format!("{}/stores/{id}", ctx.base))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await?;
    if !reply.status().is_success() {
        bail!(
            "store {id} did not register: {} {}",
            reply.status(),
            reply.text().await.unwrap_or_default()
        );
    }
    let ws = connect(ctx, &token).await?;
    Ok((i, token, ws))
}

/// A store's socket: accepts every offer at once and records what arrives.
async fn store_socket(ctx: Arc<Ctx>, index: usize, token: String, ws: Ws) {
    let (mut sink, mut stream) = ws.split();
    // Orders this store accepted over the socket and has no reply for: a
    // refusal names its order (replies may come in another order).
    let mut unanswered = std::collections::VecDeque::new();
    while let Some(Ok(message)) = stream.next().await {
        let Message::Text(text) = message else { continue };
        let at = Instant::now();
        let Ok(frame) = serde_json::from_str::<Value>(text.as_str()) else {
            continue;
        };
        let kind = frame["type"].as_str().unwrap_or("?").to_string();
        let order_id = frame["order_id"]
            .as_str()
            .or_else(|| frame["offer"]["order_id"].as_str())
            .unwrap_or("")
            .to_string();
        let pushed = frame.get("event_id").is_some();
        ctx.tracker.frame(if pushed {
            format!("push:{kind}")
        } else if kind == "error" {
            format!("reply:error:{}", frame["code"].as_str().unwrap_or("?"))
        } else {
            format!("reply:{kind}")
        });
        match kind.as_str() {
            "offer" => {
                ctx.tracker.offer(&order_id, at);
                match ctx.accept {
                    AcceptMode::Ws => {
                        let sent = Instant::now();
                        ctx.tracker.accept_sent(&order_id, index, sent);
                        let accept = json!({ "action": "accept", "order_id": order_id }).to_string();
                        if sink.send(Message::Text(accept.into())).await.is_err() {
                            return;
                        }
                        unanswered.push_back(order_id);
                    }
                    AcceptMode::Http => {
                        tokio::spawn(http_accept(Arc::clone(&ctx), index, token.clone(), order_id));
                    }
                }
            }
            "accepted" => {
                unanswered.retain(|id| *id != order_id);
                ctx.tracker.won(&order_id, index, None, at);
                ctx.tracker.accept_answered(&order_id);
            }
            "error" if !pushed => {
                if let Some(at) = unanswered.iter().position(|id| *id == order_id) {
                    unanswered.remove(at);
                    ctx.tracker.accept_answered(&order_id);
                }
            }
            "offer_taken" if pushed => ctx.tracker.taken(&order_id, at),
            _ => {}
        }
    }
}

async fn http_accept(ctx: Arc<Ctx>, index: usize, token: String, order_id: String) {
    // Spawned from a store's socket, this task would run next on its
    // thread (tokio's LIFO slot), and the offers already in the other
    // stores' sockets would be read only after it has built and sent the
    // request (about 0.1 ms of this client's CPU each). Each store is a
    // phone of its own: the offers it got are read first, so that their
    // times are the stack's, not this benchmark's queue.
    tokio::task::yield_now().await;
    let sent = Instant::now();
    let reply = ctx
        .http
        .post(format!("{}/orders/{order_id}/accept", ctx.base))
        .bearer_auth(&token)
        .send()
        .await;
    let at = Instant::now();
    match reply {
        Ok(r) if r.status().is_success() => {
            ctx.tracker.frame("http:accept:200".into());
            ctx.tracker.won(&order_id, index, Some(sent), at);
        }
        Ok(r) => {
            let status = r.status().as_u16();
            let body: Value = r.json().await.unwrap_or(Value::Null);
            let code = body["error"]["code"].as_str().unwrap_or("?").to_string();
            ctx.tracker.frame(format!("http:accept:{status}:{code}"));
        }
        Err(_) => ctx.tracker.frame("http:accept:failed".into()),
    }
    ctx.tracker.accept_answered(&order_id);
}

/// A customer's socket: only counted (pushes to customers are
/// `PostToConnection` calls too).
async fn customer_socket(ctx: Arc<Ctx>, ws: Ws) {
    let (_sink, mut stream) = ws.split();
    while let Some(Ok(message)) = stream.next().await {
        let Message::Text(text) = message else { continue };
        let Ok(frame) = serde_json::from_str::<Value>(text.as_str()) else {
            continue;
        };
        let kind = frame["type"].as_str().unwrap_or("?");
        if frame.get("event_id").is_some() {
            ctx.tracker.frame(format!("push:{kind}"));
        }
    }
}

#[derive(Default)]
struct PhaseCounts {
    placed: AtomicU64,
    settled: AtomicU64,
    unfulfilled: AtomicU64,
    timeouts: AtomicU64,
    rate_limited: AtomicU64,
    errors: AtomicU64,
}

struct Phase {
    counts: PhaseCounts,
    ids: std::sync::Mutex<Vec<String>>,
    remaining: AtomicI64,
    until: Option<Instant>,
}

/// The customers the load orders as, each order the next one's: people
/// ordering one after another, not one person ordering a thousand times a
/// second (whose window of recent orders would be copied, checked and
/// written back with every order: a cost no real customer has).
struct Identities {
    tokens: Vec<String>,
    next: AtomicUsize,
}

impl Identities {
    fn next(&self) -> &str {
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.tokens.len();
        &self.tokens[i]
    }
}

/// Customers the load mode orders as: at 2,500 orders/s, each places 150 a
/// minute, within [`MOST_ORDERS_PER_MINUTE`].
const LOAD_IDENTITIES: usize = 1_000;

/// One customer ordering at a time (a level of concurrency is that many).
struct Customer {
    identities: Arc<Identities>,
    rng: Rng,
}

async fn customer_loop(ctx: Arc<Ctx>, phase: Arc<Phase>, mut me: Customer) -> Customer {
    loop {
        if phase.remaining.fetch_sub(1, Ordering::SeqCst) <= 0 || phase.until.is_some_and(|u| Instant::now() >= u) {
            return me;
        }
        let (lat, lng) = ctx.city.inner(&mut me.rng, 2_000.0);
        let body = json!({ "text": "1 kg rice, 500 g meat", "location": { "lat": lat, "lng": lng } });
        phase.counts.placed.fetch_add(1, Ordering::Relaxed);
        let token = me.identities.next();
        let posted = Instant::now();
        let reply = ctx
            .http
            .post(format!("{}/orders", ctx.base))
            .bearer_auth(token)
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await;
        let reply = match reply {
            Ok(reply) => reply,
            Err(e) => {
                count_error(&phase, &format!("POST /orders failed: {e}"));
                continue;
            }
        };
        let status = reply.status().as_u16();
        let text = reply.text().await.unwrap_or_default();
        let answered = Instant::now();
        if status == 429 {
            phase.counts.rate_limited.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        }
        let view: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        let (Some(order_id), 201) = (view["order_id"].as_str(), status) else {
            count_error(&phase, &format!("POST /orders answered {status}: {text}"));
            continue;
        };
        if view["status"] != "searching" {
            phase.counts.unfulfilled.fetch_add(1, Ordering::Relaxed);
            continue;
        }
        let expected = view["stores_notified"]
            .as_u64()
            .and_then(|n| usize::try_from(n).ok())
            .unwrap_or(0);
        let done = ctx.tracker.posted(order_id, posted, answered, expected);
        if let Ok(mut ids) = phase.ids.lock() {
            ids.push(order_id.to_string());
        }
        match tokio::time::timeout(ctx.order_timeout, done).await {
            Ok(Ok(())) => {
                phase.counts.settled.fetch_add(1, Ordering::Relaxed);
            }
            _ => {
                phase.counts.timeouts.fetch_add(1, Ordering::Relaxed);
            }
        }
        if !ctx.pause.is_zero() {
            tokio::time::sleep(ctx.pause).await;
        }
    }
}

fn count_error(phase: &Phase, what: &str) {
    if phase.counts.errors.fetch_add(1, Ordering::Relaxed) < 5 {
        eprintln!("error: {what}");
    }
}

fn new_phase(orders: Option<usize>, until: Option<Instant>) -> Arc<Phase> {
    Arc::new(Phase {
        counts: PhaseCounts::default(),
        ids: std::sync::Mutex::new(Vec::new()),
        remaining: AtomicI64::new(orders.map_or(i64::MAX, |n| i64::try_from(n).unwrap_or(i64::MAX))),
        until,
    })
}

/// Runs `orders` orders (or until `until`) with all `customers` at once.
async fn run_phase(
    ctx: &Arc<Ctx>,
    customers: Vec<Customer>,
    orders: Option<usize>,
    until: Option<Duration>,
) -> (Arc<Phase>, Vec<Customer>, Duration) {
    let phase = new_phase(orders, until.map(|d| Instant::now() + d));
    let (back, elapsed) = run_in(ctx, customers, &phase).await;
    (phase, back, elapsed)
}

/// Lets the customers order until `phase` says stop.
async fn run_in(ctx: &Arc<Ctx>, customers: Vec<Customer>, phase: &Arc<Phase>) -> (Vec<Customer>, Duration) {
    let start = Instant::now();
    let tasks: Vec<_> = customers
        .into_iter()
        .map(|c| tokio::spawn(customer_loop(Arc::clone(ctx), Arc::clone(phase), c)))
        .collect();
    let mut back = Vec::new();
    for task in tasks {
        if let Ok(customer) = task.await {
            back.push(customer);
        }
    }
    (back, start.elapsed())
}

fn merge(into: &mut BTreeMap<String, u64>, from: BTreeMap<String, u64>) {
    for (k, n) in from {
        *into.entry(k).or_default() += n;
    }
}

/// What one phase measured.
struct Report {
    post: Samples,
    offer_each: Samples,
    offer_last: Samples,
    accept_won: Samples,
    taken_last: Samples,
    orders: usize,
    one_winner: usize,
    no_winner: usize,
    many_winners: usize,
    offers_per_order: f64,
}

fn summarise(ctx: &Ctx, phase: &Phase) -> Report {
    let ids = phase.ids.lock().map(|ids| ids.clone()).unwrap_or_default();
    ctx.tracker.with_tracks(&ids, |tracks| {
        let mut post = Vec::new();
        let mut offer_each = Vec::new();
        let mut offer_last = Vec::new();
        let mut accept_won = Vec::new();
        let mut taken_last = Vec::new();
        let (mut one, mut none, mut many, mut offers) = (0, 0, 0, 0usize);
        for t in &tracks {
            let (Some(posted), Some(answered)) = (t.posted, t.answered) else {
                continue;
            };
            post.push(answered - posted);
            offers += t.offers.len();
            offer_each.extend(t.offers.iter().map(|o| o.saturating_duration_since(posted)));
            if let Some(last) = t.offers.iter().max() {
                offer_last.push(last.saturating_duration_since(posted));
            }
            match t.winners.len() {
                0 => none += 1,
                1 => one += 1,
                _ => many += 1,
            }
            if let Some((_, sent, replied)) = t.winners.first() {
                accept_won.push(replied.saturating_duration_since(*sent));
                if let Some(last) = t.taken.iter().max() {
                    taken_last.push(last.saturating_duration_since(*sent));
                }
            }
        }
        Report {
            post: Samples::from_vec(post),
            offer_each: Samples::from_vec(offer_each),
            offer_last: Samples::from_vec(offer_last),
            accept_won: Samples::from_vec(accept_won),
            taken_last: Samples::from_vec(taken_last),
            orders: tracks.len(),
            one_winner: one,
            no_winner: none,
            many_winners: many,
            offers_per_order: if tracks.is_empty() {
                0.0
            } else {
                offers as f64 / tracks.len() as f64
            },
        }
    })
}

fn ratio(d: Option<Duration>, floor: Option<Duration>) -> String {
    match (d, floor) {
        (Some(d), Some(f)) if !f.is_zero() => format!("p99 = {:.1}x loopback p50", d.as_secs_f64() / f.as_secs_f64()),
        _ => String::new(),
    }
}

fn print_report(title: &str, r: &Report, phase: &Phase, elapsed: Duration, loopback: &Samples) {
    let c = &phase.counts;
    println!("\n== {title}");
    let line = |name: &str, s: &Samples| {
        println!(
            "  {name:<40} p50 {:>9} ms  p99 {:>9} ms  n={:<6} {}",
            ms(s.p50()),
            ms(s.p99()),
            s.len(),
            ratio(s.p99(), loopback.p50())
        );
    };
    line("POST /orders -> 201", &r.post);
    line("POST /orders -> offer, each store", &r.offer_each);
    line("POST /orders -> offer, last store", &r.offer_last);
    line("winner's accept -> its answer", &r.accept_won);
    line("winner's accept -> last loser offer_taken", &r.taken_last);
    let settled = c.settled.load(Ordering::Relaxed);
    println!(
        "  orders: {} placed, {} settled, {} unfulfilled (no store), {} timed out, {} rate-limited, {} errors; {:.2} offers per order",
        c.placed.load(Ordering::Relaxed),
        settled,
        c.unfulfilled.load(Ordering::Relaxed),
        c.timeouts.load(Ordering::Relaxed),
        c.rate_limited.load(Ordering::Relaxed),
        c.errors.load(Ordering::Relaxed),
        r.offers_per_order
    );
    println!(
        "  throughput: {:.1} orders/s settled over {:.2} s",
        settled as f64 / elapsed.as_secs_f64().max(1e-9),
        elapsed.as_secs_f64()
    );
    println!(
        "  exactly one winner: {} of {} orders; violations: {} with no winner, {} with more than one",
        r.one_winner, r.orders, r.no_winner, r.many_winners
    );
}

fn failed(r: &Report, phase: &Phase) -> bool {
    r.no_winner > 0
        || r.many_winners > 0
        || phase.counts.timeouts.load(Ordering::Relaxed) > 0
        || phase.counts.errors.load(Ordering::Relaxed) > 0
}

fn print_counts(title: &str, counts: &BTreeMap<String, u64>, orders: usize) {
    let per = |n: u64| if orders == 0 { 0.0 } else { n as f64 / orders as f64 };
    println!("  {title} (total, per order):");
    let mut total = 0;
    for (op, n) in counts {
        total += n;
        println!("    {op:<40} {n:>7} {:>8.2}", per(*n));
    }
    println!("    {:<40} {total:>7} {:>8.2}", "all", per(total));
    let pushes: u64 = counts
        .iter()
        .filter(|(k, _)| k.starts_with("push:"))
        .map(|(_, n)| n)
        .sum();
    if pushes > 0 {
        println!(
            "    {:<40} {pushes:>7} {:>8.2}",
            "pushed frames (all push:)",
            per(pushes)
        );
    }
}

/// DynamoDB request units per order by operation, as the proxy sized them
/// (loadgen/src/capacity.rs: DynamoDB's rules applied to the items read
/// and written; moto's own `ConsumedCapacity` is a constant).
fn print_capacity(units: &proxy::Capacity, orders: usize) {
    let per = |n: f64| if orders == 0 { 0.0 } else { n / orders as f64 };
    println!("  DynamoDB request units (per order: read units, write units; items read, mean item size):");
    let mut total = loadgen::capacity::Consumed::default();
    for (op, used) in units {
        total.add(*used);
        let mean = used.bytes_read.checked_div(used.items_read).unwrap_or(0);
        println!(
            "    {op:<40} RCU {:>8.2}  WCU {:>8.2}  items {:>8.1}  {mean:>5} B",
            per(used.read_units),
            per(used.write_units),
            per(used.items_read as f64),
        );
    }
    println!(
        "    {:<40} RCU {:>8.2}  WCU {:>8.2}",
        "all",
        per(total.read_units),
        per(total.write_units)
    );
}

async fn run(
    args: Args,
    base: String,
    proxy: Option<Arc<proxy::Proxy>>,
    stack_echo: Option<SocketAddr>,
) -> anyhow::Result<()> {
    let ws = format!("{}/ws", base.replacen("http://", "ws://", 1));
    let ctx = Arc::new(Ctx {
        http: reqwest::Client::builder()
            .pool_max_idle_per_host(1024)
            .timeout(Duration::from_secs(30))
            .build()?,
        base,
        ws,
        tracker: Tracker::default(),
        accept: args.accept,
        city: City {
            lat: 23.78,
            lng: 90.40,
            size_km: args.city_km,
        },
        order_timeout: args.order_timeout,
        pause: args.pause,
    });
    let floor = |echo: &str, s: &Samples| {
        println!(
            "loopback WebSocket round trip (bare echo {echo}): p50 {} ms p99 {} ms",
            ms(s.p50()),
            ms(s.p99())
        );
    };
    let here_echo = echo::serve().await?;
    let here = echo::round_trips(here_echo, 2000, Duration::ZERO).await?;
    // The floor is where the stack runs, when it is known.
    let (floor_echo, back_to_back, whose) = match stack_echo {
        Some(addr) => {
            let there = echo::round_trips(addr, 2000, Duration::ZERO).await?;
            floor("on this benchmark's runtime", &here);
            (addr, there, "where the stack runs")
        }
        None => (here_echo, here, "on this benchmark's runtime"),
    };
    // Orders paused apart are compared with round trips paused alike: an
    // idle thread takes longer to wake than a busy one.
    let loopback = if args.pause.is_zero() {
        floor(&format!("{whose}; the ratios below are to its p50"), &back_to_back);
        back_to_back
    } else {
        floor(&format!("{whose}, back to back"), &back_to_back);
        let rounds = usize::try_from(Duration::from_secs(2).as_micros() / args.pause.as_micros().max(1))
            .unwrap_or(1)
            .clamp(50, 2000);
        let paused = echo::round_trips(floor_echo, rounds, args.pause).await?;
        floor(
            &format!(
                "{whose}, {} ms apart as the orders are; the ratios below are to its p50",
                args.pause.as_millis()
            ),
            &paused,
        );
        paused
    };

    // Stores, in parallel batches.
    let setup = Instant::now();
    let mut rng = Rng::new(args.seed);
    let places: Vec<(f64, f64)> = (0..args.stores).map(|_| ctx.city.anywhere(&mut rng)).collect();
    let mut connected: Vec<(usize, String, Ws)> = futures_util::stream::iter(places.into_iter().enumerate())
        .map(|(i, at)| {
            let ctx = Arc::clone(&ctx);
            async move { register_store(&ctx, i, at).await }
        })
        .buffer_unordered(32)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<anyhow::Result<_>>()?;
    let density = args.stores as f64 / (args.city_km * args.city_km);
    println!(
        "stores: {} registered and connected in {:.1} s over {} x {} km ({:.0} per km2, about {:.0} within 2 km of a customer)",
        connected.len(),
        setup.elapsed().as_secs_f64(),
        args.city_km,
        args.city_km,
        density,
        density * std::f64::consts::PI * 4.0
    );
    if let Some((_, _, first)) = connected.first_mut() {
        // Within the gateway's burst of frames per socket (it closes a
        // socket that sends faster, as a flood).
        let ping = echo::timed(
            first,
            r#"{"action":"ping"}"#,
            |t| t.contains("pong"),
            80,
            Duration::ZERO,
        )
        .await
        .context("no pong from the stack")?;
        println!(
            "gateway ping -> pong through the stack (unloaded): p50 {} ms p99 {} ms",
            ms(ping.p50()),
            ms(ping.p99())
        );
    }
    for (i, token, ws) in connected {
        tokio::spawn(store_socket(Arc::clone(&ctx), i, token, ws));
    }

    // Customers: registered (local dev tokens; guests are limited per
    // address and to one searching order, which a benchmark would hit), a
    // socket each. The latency mode's few orders come from one.
    let (customers_wanted, identities) = if args.delay.is_some() {
        (1, 1)
    } else {
        (args.customers.iter().copied().max().unwrap_or(1), LOAD_IDENTITIES)
    };
    let mut tokens = Vec::with_capacity(identities);
    for c in 0..identities {
        let token = dev_token(&ctx, &format!("customer:bench-{c}")).await?;
        let ws = connect(&ctx, &token).await?;
        tokio::spawn(customer_socket(Arc::clone(&ctx), ws));
        tokens.push(token);
    }
    let identities = Arc::new(Identities {
        tokens,
        next: AtomicUsize::new(0),
    });
    let customers = (0..customers_wanted)
        .map(|c| Customer {
            identities: Arc::clone(&identities),
            rng: Rng::new(args.seed.wrapping_mul(1_000_003).wrapping_add(c as u64 + 1)),
        })
        .collect();

    match (proxy, args.delay) {
        (Some(proxy), Some(delay)) => latency_mode(&ctx, &args, customers, &proxy, delay, &loopback).await,
        _ => load_mode(&ctx, &args, customers, &loopback).await,
    }
}

async fn load_mode(ctx: &Arc<Ctx>, args: &Args, customers: Vec<Customer>, loopback: &Samples) -> anyhow::Result<()> {
    let mut pool = customers;
    let mut any_failed = false;
    let mut summary = Vec::new();
    for &level in &args.customers {
        let rest = pool.split_off(level.min(pool.len()));
        let warmup = args.warmup.unwrap_or(5 * level);
        let (_, customers, _) = run_phase(ctx, pool, Some(warmup), None).await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        ctx.tracker.take_frames();
        let until = if args.orders.is_some() {
            None
        } else {
            Some(args.duration)
        };
        let (phase, customers, elapsed) = run_phase(ctx, customers, args.orders, until).await;
        // Late duplicate winners would show up now.
        tokio::time::sleep(Duration::from_millis(500)).await;
        let report = summarise(ctx, &phase);
        print_report(
            &format!(
                "{} stores, {level} concurrent customers{}, accept over {} ({warmup} warm-up orders not counted)",
                args.stores,
                if args.pause.is_zero() {
                    String::new()
                } else {
                    format!(" pausing {} ms after each order", args.pause.as_millis())
                },
                if args.accept == AcceptMode::Ws {
                    "WebSocket"
                } else {
                    "HTTP"
                }
            ),
            &report,
            &phase,
            elapsed,
            loopback,
        );
        print_counts(
            "frames at the benchmark's sockets",
            &ctx.tracker.take_frames(),
            report.orders,
        );
        any_failed |= failed(&report, &phase);
        let settled = phase.counts.settled.load(Ordering::Relaxed) as f64 / elapsed.as_secs_f64().max(1e-9);
        summary.push((level, settled, report));
        pool = customers;
        pool.extend(rest);
    }
    println!(
        "\n== summary: {} stores; loopback WebSocket round trip p50 {} ms",
        args.stores,
        ms(loopback.p50())
    );
    println!(
        "  customers  orders/s  last-store offer p50 / p99 ms   x loopback p50 (p99)  winner accept p99 ms  last offer_taken p99 ms  one winner"
    );
    for (level, rate, r) in &summary {
        println!(
            "  {level:>9}  {rate:>8.1}  {:>9} / {:>9}          {:>18}  {:>20}  {:>23}  {}/{}",
            ms(r.offer_last.p50()),
            ms(r.offer_last.p99()),
            ratio(r.offer_last.p99(), loopback.p50()).trim_start_matches("p99 = "),
            ms(r.accept_won.p99()),
            ms(r.taken_last.p99()),
            r.one_winner,
            r.orders
        );
    }
    if let Some((level, _, _)) = summary
        .iter()
        .find(|(_, _, r)| r.offer_last.p99().is_some_and(|p| p > Duration::from_millis(10)))
    {
        println!("  knee: last-store offer p99 passes 10 ms at {level} concurrent customers (of those run)");
    } else {
        println!("  knee: last-store offer p99 stayed within 10 ms at every level run");
    }
    if any_failed {
        bail!("the run had errors, timeouts or races without exactly one winner");
    }
    Ok(())
}

async fn latency_mode(
    ctx: &Arc<Ctx>,
    args: &Args,
    customers: Vec<Customer>,
    proxy: &proxy::Proxy,
    delay: Duration,
    loopback: &Samples,
) -> anyhow::Result<()> {
    let warmup = args.warmup.unwrap_or(3);
    let (_, customers, _) = run_phase(ctx, customers, Some(warmup), None).await;
    tokio::time::sleep(Duration::from_millis(300)).await;

    // Orders alternate between no delay and the delay, one at a time, so a
    // drift of the endpoint (moto slows as its table grows) hits both alike.
    let phases = [new_phase(Some(0), None), new_phase(Some(0), None)];
    let mut elapsed = [Duration::ZERO; 2];
    let mut calls = [BTreeMap::new(), BTreeMap::new()];
    let mut frames = [BTreeMap::new(), BTreeMap::new()];
    let mut units = [proxy::Capacity::new(), proxy::Capacity::new()];
    proxy.set_capacity(true);
    proxy.take_counts();
    proxy.take_slept();
    proxy.take_capacity();
    ctx.tracker.take_frames();
    let mut customers = customers;
    for k in 0..2 * args.latency_orders {
        let which = k % 2;
        let d = if which == 0 { Duration::ZERO } else { delay };
        proxy.set_delay(d);
        phases[which].remaining.store(1, Ordering::SeqCst);
        let (back, took) = run_in(ctx, customers, &phases[which]).await;
        customers = back;
        elapsed[which] += took;
        // The losers' answers and anything else the order still does.
        tokio::time::sleep(Duration::from_millis(50) + d * 5).await;
        merge(&mut calls[which], proxy.take_counts());
        merge(&mut frames[which], ctx.tracker.take_frames());
        for (op, used) in proxy.take_capacity() {
            units[which].entry(op).or_default().add(used);
        }
    }
    proxy.set_capacity(false);
    let (slept, sleeps) = proxy.take_slept();
    let effective = if sleeps > 0 {
        slept / u32::try_from(sleeps).unwrap_or(u32::MAX)
    } else {
        delay
    };
    let mut reports = Vec::new();
    let mut any_failed = false;
    for which in 0..2 {
        let d = if which == 0 { Duration::ZERO } else { delay };
        let report = summarise(ctx, &phases[which]);
        print_report(
            &format!(
                "latency mode: {} ms added to each cloud call, 1 customer (orders alternate with the other delay)",
                d.as_secs_f64() * 1000.0
            ),
            &report,
            &phases[which],
            elapsed[which],
            loopback,
        );
        print_counts(
            "cloud calls through the proxy (sqs.ReceiveMessage: the timer poller's long polls, by time not by order)",
            &calls[which],
            report.orders,
        );
        print_counts(
            "frames at the sockets (pushes and replies)",
            &frames[which],
            report.orders,
        );
        print_capacity(&units[which], report.orders);
        any_failed |= failed(&report, &phases[which]);
        reports.push(report);
    }
    println!(
        "\n  delay asked {} ms, slept on average {:.2} ms per delayed call ({sleeps} calls): the round trips divide by the latter",
        delay.as_secs_f64() * 1000.0,
        effective.as_secs_f64() * 1000.0
    );
    let delay = effective;
    if let [base, slow] = &reports[..] {
        let d = delay.as_secs_f64();
        let trips = |a: &Samples, b: &Samples| {
            let at = |p: f64| match (a.percentile(p), b.percentile(p)) {
                (Some(a), Some(b)) => format!("{:5.1}", (b.as_secs_f64() - a.as_secs_f64()) / d),
                _ => "    -".into(),
            };
            format!("{} (from the minima: {})", at(50.0), at(0.0))
        };
        println!(
            "\n== sequential cloud round trips on the critical path ((p50 with {:.1} ms added - p50 without) / {:.1} ms)",
            d * 1000.0,
            d * 1000.0
        );
        println!(
            "  POST /orders -> 201                       {}",
            trips(&base.post, &slow.post)
        );
        println!(
            "  POST /orders -> last store's offer        {}",
            trips(&base.offer_last, &slow.offer_last)
        );
        println!(
            "  winner's accept -> its answer             {}",
            trips(&base.accept_won, &slow.accept_won)
        );
        println!(
            "  winner's accept -> last loser offer_taken {}",
            trips(&base.taken_last, &slow.taken_last)
        );
        println!(
            "  (pushes are cloud calls here too: execute-api.PostToConnection goes through the proxy, delayed alike)"
        );
    }
    if any_failed {
        bail!("the run had errors, timeouts or races without exactly one winner");
    }
    Ok(())
}
