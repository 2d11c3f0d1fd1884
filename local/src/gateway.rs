//! The local API Gateway: HTTP routes to the HTTP handler, a WebSocket
//! endpoint to the WebSocket handler, and the timer queue to the SQS handler.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use aws_lambda_events::encodings::Body as LambdaBody;
use axum::Router;
use axum::body::{Body, to_bytes};
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use futures_util::SinkExt as _;
use http::{HeaderMap, StatusCode};
use serde_json::{Map, Value, json};
use shared::api::authorizer::{authorize_connect, connect_token, is_allowed};
use shared::api::http::answer_http_request;
use shared::api::routes::HttpRoute;
use shared::api::timer::handle_timer_batch;
use shared::api::ws::{ACTION_FIELD, WS_ROUTES, WS_ROUTES_WITH_RESPONSE, answer_ws_event, handle_ws_event};
use shared::auth::{TokenIssuer, TokenVerifier};
use shared::domain::customer::PhoneNumber;
use shared::domain::ids::Caller;
use shared::domain::ids::ConnectionId;
use shared::embedded::{
    ConnectionHub, EmbeddedNotifications, EmbeddedQueue, EmbeddedTexts, MAX_PUSH_BYTES, OutboxReceiver, OutboxSender,
    SocketCommand, SocketInfo,
};
use shared::ports::{OfferTimers, Pusher, Storage};
use shared::usecases::App;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, oneshot};
use tokio::time::{Instant, Sleep, sleep_until};
use tracing::{error, warn};

use crate::SocketLimits;
use crate::events::{HttpParts, STAGE, WsKind, authorizer_event, http_event, request_id, ws_event};
use crate::management_auth::ManagementAuth;

/// Where WebSocket clients connect.
pub const WS_PATH: &str = "/ws";
/// API Gateway's HTTP API payload limit; the handler enforces its own,
/// smaller one.
const MAX_HTTP_PAYLOAD: usize = 10 * 1024 * 1024;
/// Close code for a frame or message over the limit (RFC 6455 7.4.1).
const CLOSE_TOO_BIG: u16 = 1009;
/// Close code for a frame that breaks the protocol: reserved bits or
/// opcodes, an unmasked client frame, a control frame over 125 bytes or
/// fragmented.
const CLOSE_PROTOCOL_ERROR: u16 = 1002;
/// Close code for a text message (or close reason) that is not UTF-8.
const CLOSE_INVALID_PAYLOAD: u16 = 1007;
/// Close code when the idle timeout or the lifetime ends a socket.
const CLOSE_GOING_AWAY: u16 = 1001;
/// Close code for a client that breaks the gateway's rules: it does not
/// read what it is sent (its outbox is full) or sends frames faster than
/// the rate allows (RFC 6455 1008, policy violation).
const CLOSE_POLICY: u16 = 1008;
const NOT_READING: &str = "Client not reading";
const TOO_FAST: &str = "Rate limit exceeded";
/// How long a close frame may take to leave before the socket is dropped.
const CLOSE_WAIT: Duration = Duration::from_secs(1);
/// How much a socket reads at a time: a frame of the API (a few hundred
/// bytes) in one read.
pub const SOCKET_READ_CHUNK_BYTES: usize = 4 * 1024;

struct Gateway<S, Q, P> {
    app: Arc<App<S, Q, P>>,
    hub: ConnectionHub,
    limits: SocketLimits,
    domain: String,
    issuer: Arc<TokenIssuer>,
    verifier: Arc<TokenVerifier>,
    management_auth: Arc<ManagementAuth>,
    texts: Option<Arc<EmbeddedTexts>>,
    notifications: Option<Arc<EmbeddedNotifications>>,
}

impl<S, Q, P> Clone for Gateway<S, Q, P> {
    fn clone(&self) -> Self {
        Gateway {
            app: Arc::clone(&self.app),
            hub: self.hub.clone(),
            limits: self.limits,
            domain: self.domain.clone(),
            issuer: Arc::clone(&self.issuer),
            verifier: Arc::clone(&self.verifier),
            management_auth: Arc::clone(&self.management_auth),
            texts: self.texts.clone(),
            notifications: self.notifications.clone(),
        }
    }
}

/// Where the development token route listens (local stack only; it is not
/// a route of the deployed API).
pub const DEV_TOKENS_PATH: &str = "/dev/tokens";
/// Where the last text sent to a number is read, on the embedded backend
/// only (`GET /dev/sms/{phone}`): never a route of the deployed API.
pub const DEV_SMS_PATH: &str = "/dev/sms/";
/// Every SMS and mobile push notification sent so far, on the embedded
/// backend only (`GET /dev/notifications`): never a route of the deployed
/// API. Answers as tests/moto_server.py's `/test-api/notifications`.
pub const DEV_NOTIFICATIONS_PATH: &str = "/dev/notifications";

/// What the embedded backend sent, for the development routes.
pub struct LocalOutbox {
    pub texts: Arc<EmbeddedTexts>,
    pub notifications: Arc<EmbeddedNotifications>,
}

pub fn router<S: Storage, Q: OfferTimers, P: Pusher>(
    app: Arc<App<S, Q, P>>,
    hub: ConnectionHub,
    limits: SocketLimits,
    addr: SocketAddr,
    issuer: Arc<TokenIssuer>,
    management_auth: ManagementAuth,
    outbox: Option<LocalOutbox>,
) -> Result<Router, shared::auth::KeyError> {
    let (texts, notifications) = outbox.map(|o| (o.texts, o.notifications)).unzip();
    // Follows the issuer's keys, so a rotation of its secret reaches the
    // gateway's checks as it reaches the JWKS.
    let verifier = Arc::new(TokenVerifier::following(Arc::clone(&issuer)));
    let gateway = Gateway {
        app,
        hub,
        limits,
        domain: addr.to_string(),
        issuer,
        verifier,
        management_auth: Arc::new(management_auth),
        texts,
        notifications,
    };
    Ok(Router::new().fallback(serve::<S, Q, P>).with_state(gateway))
}

async fn serve<S: Storage, Q: OfferTimers, P: Pusher>(
    State(gateway): State<Gateway<S, Q, P>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request,
) -> Response {
    if let Some(rest) = management_path(request.uri().path()).map(str::to_string) {
        return management_api(&gateway.hub, &gateway.management_auth, &rest, request).await;
    }
    // As a Lambda does before each event (shared::wiring::serve): re-read
    // the signing secret once the refresh interval has passed.
    gateway.issuer.refresh_if_due().await;
    if request.uri().path() == DEV_TOKENS_PATH && request.method() == http::Method::POST {
        return dev_token(&gateway.issuer, request).await;
    }
    if let (Some(phone), Some(texts)) = (request.uri().path().strip_prefix(DEV_SMS_PATH), &gateway.texts)
        && request.method() == http::Method::GET
    {
        return dev_sms(texts, phone);
    }
    if let (DEV_NOTIFICATIONS_PATH, Some(notifications)) = (request.uri().path(), &gateway.notifications)
        && request.method() == http::Method::GET
    {
        return (
            StatusCode::OK,
            [(http::header::CONTENT_TYPE, "application/json")],
            json!(notifications.sent()).to_string(),
        )
            .into_response();
    }
    if request.uri().path() == WS_PATH {
        let (mut parts, _body) = request.into_parts();
        return match WebSocketUpgrade::from_request_parts(&mut parts, &()).await {
            Ok(upgrade) => {
                connect_socket(gateway, peer, &parts.headers, parts.uri.query().unwrap_or(""), upgrade).await
            }
            Err(rejection) => rejection.into_response(),
        };
    }
    serve_http(gateway, peer, request).await
}

// ---- HTTP -----------------------------------------------------------------

/// A route's path split once, for every request to be matched against.
struct RouteTemplate {
    route: HttpRoute,
    path: PathTemplate,
}

enum PathTemplate {
    /// Fixed and `{name}` segments, matched one for one.
    Segments(Vec<Segment>),
    /// A last `{name+}`: its name, and the fixed path before it.
    Greedy { name: &'static str, prefix: String },
}

enum Segment {
    Fixed(&'static str),
    Param(&'static str),
}

impl PathTemplate {
    /// The path parameters of `path` (split into `segments`), where it
    /// matches.
    fn params(&self, path: &str, segments: &[&str]) -> Option<Map<String, Value>> {
        let decoded = |s: &str| Value::String(crate::events::percent_decode(s));
        let mut params = Map::new();
        match self {
            PathTemplate::Greedy { name, prefix } => {
                let rest = path.strip_prefix(prefix.as_str()).filter(|rest| !rest.is_empty())?;
                params.insert((*name).to_string(), decoded(rest));
            }
            PathTemplate::Segments(parts) => {
                if parts.len() != segments.len() {
                    return None;
                }
                for (part, segment) in parts.iter().zip(segments) {
                    match part {
                        Segment::Param(_) if segment.is_empty() => return None,
                        Segment::Param(name) => {
                            params.insert((*name).to_string(), decoded(segment));
                        }
                        Segment::Fixed(fixed) if fixed != segment => return None,
                        Segment::Fixed(_) => {}
                    }
                }
            }
        }
        Some(params)
    }
}

/// The route table, split at first use.
static ROUTES: std::sync::LazyLock<Vec<RouteTemplate>> = std::sync::LazyLock::new(|| {
    HttpRoute::ALL
        .iter()
        .map(|&route| {
            let mut parts: Vec<&'static str> = route.path().trim_matches('/').split('/').collect();
            // A last `{name+}` takes the rest of the path, slashes and all
            // (at least one character), as API Gateway's greedy variable does.
            let greedy = parts
                .last()
                .and_then(|t| t.strip_prefix('{'))
                .and_then(|t| t.strip_suffix("+}"));
            let path = match greedy {
                Some(name) => {
                    parts.pop();
                    PathTemplate::Greedy {
                        name,
                        prefix: format!("/{}/", parts.join("/")),
                    }
                }
                None => PathTemplate::Segments(
                    parts
                        .into_iter()
                        .map(|t| match t.strip_prefix('{').and_then(|t| t.strip_suffix('}')) {
                            Some(name) => Segment::Param(name),
                            None => Segment::Fixed(t),
                        })
                        .collect(),
                ),
            };
            RouteTemplate { route, path }
        })
        .collect()
});

/// Matches a path against the route table: exact routes with `{param}`
/// segments, as API Gateway does.
fn match_route(method: &str, path: &str) -> Option<(HttpRoute, Map<String, Value>)> {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    ROUTES
        .iter()
        .filter(|t| t.route.method() == method)
        .find_map(|t| Some((t.route, t.path.params(path, &segments)?)))
}

fn gateway_json(status: StatusCode, message: &str) -> Response {
    (
        status,
        [(http::header::CONTENT_TYPE, "application/json")],
        json!({ "message": message }).to_string(),
    )
        .into_response()
}

async fn serve_http<S: Storage, Q: OfferTimers, P: Pusher>(
    gateway: Gateway<S, Q, P>,
    peer: SocketAddr,
    request: Request,
) -> Response {
    let (parts, body) = request.into_parts();
    let method = parts.method.as_str().to_string();
    let path = parts.uri.path().to_string();
    let Some((route, path_parameters)) = match_route(&method, &path) else {
        return gateway_json(StatusCode::NOT_FOUND, "Not Found");
    };
    // The JWT authorizer in front of every protected route.
    let claims = if route.is_public() {
        None
    } else {
        let token = parts
            .headers
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        // API Gateway answers 401 whatever the reason, even when it cannot
        // fetch the JWKS.
        match gateway.verifier.verify_fresh(token).await {
            Ok(caller) => Some(Map::from_iter([("sub".to_string(), Value::String(caller.key()))])),
            Err(_) => return unauthorized(),
        }
    };
    let Ok(bytes) = to_bytes(body, MAX_HTTP_PAYLOAD).await else {
        return gateway_json(StatusCode::PAYLOAD_TOO_LARGE, "Request Entity Too Large");
    };
    // Text bodies pass as text; anything else is base64, as API Gateway does.
    let (body, base64_body) = if bytes.is_empty() {
        (None, false)
    } else {
        match String::from_utf8(bytes.to_vec()) {
            Ok(text) => (Some(text), false),
            Err(_) => (Some(BASE64.encode(&bytes)), true),
        }
    };
    let event = http_event(HttpParts {
        method: &method,
        path: &path,
        raw_query: parts.uri.query().unwrap_or(""),
        headers: &parts.headers,
        body,
        base64_body,
        route_key: route.key(),
        path_parameters,
        source_ip: peer,
        domain: &gateway.domain,
        claims,
    });
    let event = match event {
        Ok(event) => event,
        Err(e) => {
            error!(error = %e, "could not build the HTTP event");
            return gateway_json(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error");
        }
    };
    let app = Arc::clone(&gateway.app);
    // A panicking handler becomes a 500, as a failed Lambda invocation does.
    // As on Lambda (`wiring::serve_answering_first`), the answer goes back
    // as soon as it is known and what follows it (an accept's pushes) runs on.
    let (answer, answered) = oneshot::channel();
    tokio::spawn(async move {
        let (response, after) = answer_http_request(&app, event).await;
        let _ = answer.send(response);
        after.run().await;
    });
    let Ok(response) = answered.await else {
        return gateway_json(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error");
    };
    let mut out = Response::builder().status(u16::try_from(response.status_code).unwrap_or(500));
    for (name, value) in &response.headers {
        out = out.header(name, value);
    }
    let body = match response.body {
        Some(LambdaBody::Text(text)) => Body::from(text),
        Some(LambdaBody::Binary(bytes)) => Body::from(bytes),
        _ => Body::empty(),
    };
    out.body(body)
        .unwrap_or_else(|_| gateway_json(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error"))
}

// ---- WebSocket ------------------------------------------------------------

fn connection_id() -> String {
    // API Gateway's ids are 16 base64 characters; a ULID's 26 are as unique.
    ulid::Ulid::new().to_string()
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(0))
}

/// `$connect` decides the handshake: a non-2xx answer refuses it with that
/// status, a failed handler gives 502.
async fn connect_socket<S: Storage, Q: OfferTimers, P: Pusher>(
    gateway: Gateway<S, Q, P>,
    peer: SocketAddr,
    headers: &HeaderMap,
    raw_query: &str,
    upgrade: WebSocketUpgrade,
) -> Response {
    let id = connection_id();
    let connected_at = now_ms();
    // The Lambda REQUEST authorizer on $connect: no identity source means
    // 401 without calling it; a Deny policy is 403; a failed authorizer is
    // 500 (API-GATEWAY.md, "WebSocket authorizer").
    let Ok(auth_event) = authorizer_event(headers, raw_query, &id, &gateway.domain) else {
        return StatusCode::BAD_GATEWAY.into_response();
    };
    if connect_token(&auth_event).is_none() {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    let authorizer = match authorize_connect(&gateway.verifier, &auth_event).await {
        Ok(denied) if !is_allowed(&denied) => return StatusCode::FORBIDDEN.into_response(),
        Ok(allowed) => {
            let mut context = allowed.context.as_object().cloned().unwrap_or_default();
            context.insert("principalId".into(), json!(allowed.principal_id));
            Value::Object(context)
        }
        Err(e) => {
            error!(error = %e, "the $connect authorizer failed");
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        }
    };
    let event = match ws_event(
        WsKind::Connect { headers, raw_query },
        &id,
        connected_at,
        peer,
        &gateway.domain,
        Some(&authorizer),
    ) {
        Ok(event) => event,
        Err(_) => return StatusCode::BAD_GATEWAY.into_response(),
    };
    let app = Arc::clone(&gateway.app);
    let Ok(response) = tokio::spawn(async move { handle_ws_event(&app, event).await }).await else {
        return StatusCode::BAD_GATEWAY.into_response();
    };
    if !(200..300).contains(&response.status_code) {
        let status = u16::try_from(response.status_code)
            .ok()
            .and_then(|s| StatusCode::from_u16(s).ok())
            .unwrap_or(StatusCode::BAD_GATEWAY);
        return status.into_response();
    }
    // The connection exists once $connect has answered: register it now so
    // pushes made from here on are queued for the socket.
    let (sender, outbox) = shared::embedded::outbox(gateway.limits.max_queued_frames, gateway.limits.max_queued_bytes);
    let Ok(connection) = ConnectionId::new(id.clone()) else {
        return StatusCode::BAD_GATEWAY.into_response();
    };
    let user_agent = headers
        .get(http::header::USER_AGENT)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .unwrap_or_default();
    let info = SocketInfo {
        connected_at_ms: connected_at,
        last_active_ms: connected_at,
        source_ip: peer.ip().to_string(),
        user_agent,
    };
    gateway.hub.register(connection.clone(), sender.clone(), info);
    let limits = gateway.limits;
    upgrade
        .max_frame_size(limits.max_frame_bytes)
        .max_message_size(limits.max_message_bytes)
        // Frames are written one at a time and flushed: the write buffer
        // never needs more than one message.
        .max_write_buffer_size(limits.max_message_bytes * 2)
        // Each read zeroes this much of the socket's buffer before reading
        // into it (tungstenite's default is 128 KiB: most of a busy
        // gateway's time, and the memory of thousands of idle sockets). A
        // larger message is read in several reads.
        .read_buffer_size(SOCKET_READ_CHUNK_BYTES)
        .on_failed_upgrade({
            let gateway = gateway.clone();
            let connection = connection.clone();
            move |_| gateway.hub.unregister(&connection)
        })
        .on_upgrade(move |socket| async move {
            let socket_info = SocketMeta {
                id: connection.clone(),
                connected_at,
                peer,
                authorizer,
            };
            let (code, reason) = run_socket(&gateway, &socket_info, socket, sender, outbox).await;
            gateway.hub.unregister(&connection);
            // $disconnect is best effort, after the close.
            if let Ok(event) = ws_event(
                WsKind::Disconnect {
                    status_code: code,
                    reason: &reason,
                },
                &id,
                connected_at,
                peer,
                &gateway.domain,
                Some(&socket_info.authorizer),
            ) {
                handle_ws_event(&gateway.app, event).await;
            }
        })
}

struct SocketMeta {
    id: ConnectionId,
    connected_at: i64,
    peer: SocketAddr,
    /// What the authorizer returned; every event of the socket carries it.
    authorizer: Value,
}

/// The route a frame selects: its `action` if that is a route, else
/// `$default` (also for frames that are not JSON objects).
fn select_route(frame: &str) -> &'static str {
    let action = serde_json::from_str::<Value>(frame)
        .ok()
        .and_then(|v| v.get(ACTION_FIELD).and_then(Value::as_str).map(str::to_string));
    action
        .and_then(|a| WS_ROUTES.iter().find(|r| !r.starts_with('$') && **r == a).copied())
        .unwrap_or("$default")
}

/// A token bucket over a socket's incoming frames: `burst` at once, then
/// `per_second`.
struct FrameRate {
    tokens: f64,
    last: Instant,
    per_second: f64,
    burst: f64,
}

impl FrameRate {
    fn new(limits: &SocketLimits) -> Self {
        let burst = f64::from(limits.frame_burst.max(1));
        FrameRate {
            tokens: burst,
            last: Instant::now(),
            per_second: f64::from(limits.frames_per_second),
            burst,
        }
    }

    /// Takes one token; false when the client sends faster than allowed.
    fn allow(&mut self) -> bool {
        let now = Instant::now();
        let refill = now.duration_since(self.last).as_secs_f64() * self.per_second;
        self.tokens = (self.tokens + refill).min(self.burst);
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// Waits for a free handler slot, then for the socket's next message: while
/// the socket's handlers are all busy the gateway does not read it, so TCP
/// pushes back on the client instead of work piling up here.
async fn next_message(
    socket: &mut WebSocket,
    in_flight: &Arc<Semaphore>,
) -> (Option<OwnedSemaphorePermit>, Option<Result<Message, axum::Error>>) {
    let permit = Arc::clone(in_flight).acquire_owned().await.ok();
    (permit, socket.recv().await)
}

/// Pumps one socket until it closes; returns the close code and reason for
/// `$disconnect`. Memory per socket is bounded: at most `max_in_flight`
/// frames being handled, an outbox of `max_queued_frames` and
/// `max_queued_bytes`, one message being read and one being written.
async fn run_socket<S: Storage, Q: OfferTimers, P: Pusher>(
    gateway: &Gateway<S, Q, P>,
    info: &SocketMeta,
    mut socket: WebSocket,
    sender: OutboxSender,
    mut outbox: OutboxReceiver,
) -> (u16, String) {
    let limits = gateway.limits;
    // Two timers for the socket's life, moved rather than made anew for
    // every frame in or out (a store's socket carries tens a minute).
    let lifetime = sleep_until(Instant::now() + limits.max_connection_age);
    let idle = sleep_until(Instant::now() + limits.idle_timeout);
    tokio::pin!(lifetime, idle);
    let overflow = outbox.overflow_signal();
    let in_flight = Arc::new(Semaphore::new(limits.max_in_flight.max(1)));
    let mut rate = FrameRate::new(&limits);
    loop {
        tokio::select! {
            () = overflow.notified() => {
                return close_within(&mut socket, CLOSE_POLICY, NOT_READING).await;
            }
            (permit, incoming) = next_message(&mut socket, &in_flight) => {
                idle.as_mut().reset(Instant::now() + limits.idle_timeout);
                gateway.hub.touch(&info.id, now_ms());
                if matches!(incoming, Some(Ok(Message::Text(_) | Message::Binary(_) | Message::Ping(_) | Message::Pong(_))))
                    && !rate.allow()
                {
                    return close_within(&mut socket, CLOSE_POLICY, TOO_FAST).await;
                }
                match incoming {
                    Some(Ok(Message::Text(text))) => {
                        dispatch_frame(gateway, info, text.as_str().to_string(), sender.clone(), permit);
                    }
                    Some(Ok(Message::Binary(bytes))) => {
                        dispatch_frame(gateway, info, String::from_utf8_lossy(&bytes).into_owned(), sender.clone(), permit);
                    }
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                    Some(Ok(Message::Close(frame))) => {
                        let (code, reason) = frame.map_or((1005, String::new()), |f| (f.code, f.reason.as_str().to_string()));
                        // Send the echo the protocol queued (RFC 6455 5.5.1).
                        let _ = tokio::time::timeout(CLOSE_WAIT, socket.flush()).await;
                        return (code, reason);
                    }
                    Some(Err(e)) => {
                        warn!(error = %e, "socket error");
                        let Some((code, reason)) = close_code_for(e) else {
                            return (1006, "Connection lost".into());
                        };
                        return close_within(&mut socket, code, reason).await;
                    }
                    None => return (1006, "Connection lost".into()),
                }
            }
            Some(command) = outbox.recv() => match command {
                SocketCommand::Send(frame) => {
                    // A client that stops reading blocks this write; its
                    // outbox then fills, and the overflow ends the wait.
                    tokio::select! {
                        sent = socket.send(Message::Text(frame.into())) => {
                            if sent.is_err() {
                                return (1006, "Connection lost".into());
                            }
                        }
                        () = overflow.notified() => {
                            return close_within(&mut socket, CLOSE_POLICY, NOT_READING).await;
                        }
                        reason = expiry(idle.as_mut(), lifetime.as_mut()) => {
                            return close_within(&mut socket, CLOSE_GOING_AWAY, reason).await;
                        }
                    }
                }
                SocketCommand::Close => {
                    return close_within(&mut socket, 1000, "Connection deleted").await;
                }
            },
            reason = expiry(idle.as_mut(), lifetime.as_mut()) => {
                return close_within(&mut socket, CLOSE_GOING_AWAY, reason).await;
            }
        }
    }
}

/// Waits for the first of a socket's two limits to end it, and says which
/// (the reason its close frame gives).
async fn expiry(idle: Pin<&mut Sleep>, lifetime: Pin<&mut Sleep>) -> &'static str {
    tokio::select! {
        () = idle => "Idle timeout",
        () = lifetime => "Connection lifetime exceeded",
    }
}

/// Sends a close frame, giving up after [`CLOSE_WAIT`] (a client that does
/// not read may never take it); the socket is dropped either way.
async fn close_within(socket: &mut WebSocket, code: u16, reason: &str) -> (u16, String) {
    let _ = tokio::time::timeout(CLOSE_WAIT, close(socket, code, reason)).await;
    (code, reason.to_string())
}

/// The close code RFC 6455 assigns to a read error: 1009 over the frame or
/// message limit (as API Gateway), 1007 for text that is not UTF-8, 1002
/// for any other protocol violation; None when the connection itself broke
/// (nothing can be sent; `$disconnect` sees 1006).
fn close_code_for(error: axum::Error) -> Option<(u16, &'static str)> {
    use tokio_tungstenite::tungstenite::Error as WsError;
    let error = error.into_inner();
    match error.downcast_ref::<WsError>() {
        Some(WsError::Capacity(_)) => Some((CLOSE_TOO_BIG, "Message too big")),
        Some(WsError::Utf8(_)) => Some((CLOSE_INVALID_PAYLOAD, "Invalid frame payload data")),
        Some(WsError::Protocol(_) | WsError::AttackAttempt) => Some((CLOSE_PROTOCOL_ERROR, "Protocol error")),
        Some(_) => None,
        // Axum checks text frames' UTF-8 itself in some paths.
        None if error.downcast_ref::<std::str::Utf8Error>().is_some() => {
            Some((CLOSE_INVALID_PAYLOAD, "Invalid frame payload data"))
        }
        None => None,
    }
}

async fn close(socket: &mut WebSocket, code: u16, reason: &str) {
    let frame = CloseFrame {
        code,
        reason: reason.into(),
    };
    let _ = socket.send(Message::Close(Some(frame))).await;
}

/// Runs the route's handler concurrently (API Gateway does not serialise a
/// socket's messages); its answer, if the route has a route response, comes
/// back as a frame.
fn dispatch_frame<S: Storage, Q: OfferTimers, P: Pusher>(
    gateway: &Gateway<S, Q, P>,
    info: &SocketMeta,
    frame: String,
    reply: OutboxSender,
    permit: Option<OwnedSemaphorePermit>,
) {
    let route_key = select_route(&frame);
    let event = ws_event(
        WsKind::Message { route_key, body: frame },
        info.id.as_str(),
        info.connected_at,
        info.peer,
        &gateway.domain,
        Some(&info.authorizer),
    );
    let app = Arc::clone(&gateway.app);
    let connection_id = info.id.to_string();
    tokio::spawn(async move {
        let outcome = match event {
            Ok(event) => {
                let app = Arc::clone(&app);
                // Answered first, followed up after, as the HTTP routes.
                let (answer, answered) = oneshot::channel();
                tokio::spawn(async move {
                    let (response, after) = answer_ws_event(&app, event).await;
                    let _ = answer.send(response);
                    after.run().await;
                });
                answered.await.ok()
            }
            Err(_) => None,
        };
        let frame = match outcome {
            Some(response) if WS_ROUTES_WITH_RESPONSE.contains(&route_key) => match response.body {
                Some(LambdaBody::Text(text)) => Some(text),
                _ => None,
            },
            Some(_) => None,
            None => Some(
                json!({
                    "message": "Internal server error",
                    "connectionId": connection_id,
                    "requestId": request_id(),
                })
                .to_string(),
            ),
        };
        // A full outbox closes the socket (the client is not reading).
        if let Some(frame) = frame {
            let _ = reply.send(SocketCommand::Send(frame));
        }
        drop(permit);
    });
}

/// API Gateway's JWT authorizer refusal.
fn unauthorized() -> Response {
    Response::builder()
        .status(StatusCode::UNAUTHORIZED)
        .header(http::header::CONTENT_TYPE, "application/json")
        .header(http::header::WWW_AUTHENTICATE, "Bearer")
        .body(Body::from(json!({ "message": "Unauthorized" }).to_string()))
        .unwrap_or_else(|_| StatusCode::UNAUTHORIZED.into_response())
}

/// `POST /dev/tokens {"caller": "store:s1"}`: a token for local use. Only
/// the local stack serves it; the deployed API has no such route.
async fn dev_token(issuer: &TokenIssuer, request: Request) -> Response {
    let Ok(body) = to_bytes(request.into_body(), 1024).await else {
        return gateway_json(StatusCode::PAYLOAD_TOO_LARGE, "Request Entity Too Large");
    };
    let caller = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|v| v.get("caller").and_then(Value::as_str).map(str::to_string))
        .and_then(|raw| Caller::parse(&raw).ok());
    let Some(caller) = caller else {
        return dev_error(
            StatusCode::BAD_REQUEST,
            "invalid_body",
            "give {\"caller\": \"customer:<id>\"}, \"store:<id>\" or \"operator:<id>\"",
            Some("caller"),
        );
    };
    match issuer.issue(&caller, now_ms()) {
        Ok(token) => (
            StatusCode::OK,
            [(http::header::CONTENT_TYPE, "application/json")],
            json!({ "caller": caller.key(), "token": token }).to_string(),
        )
            .into_response(),
        Err(_) => gateway_json(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error"),
    }
}

/// `GET /dev/sms/{phone}`: the last text sent to the number (its sign-in
/// code), for local clients and tests. Only the local stack on the
/// embedded backend serves it.
fn dev_sms(texts: &EmbeddedTexts, raw: &str) -> Response {
    let decoded = raw.replace("%2B", "+").replace("%2b", "+");
    let Ok(phone) = PhoneNumber::new(&decoded) else {
        return dev_error(
            StatusCode::BAD_REQUEST,
            "invalid_phone",
            "give a Bangladeshi mobile number, like 01712345678",
            Some("phone"),
        );
    };
    match texts.last_text_to(&phone) {
        Some(text) => (
            StatusCode::OK,
            [(http::header::CONTENT_TYPE, "application/json")],
            json!({ "phone": phone.masked(), "text": text }).to_string(),
        )
            .into_response(),
        None => dev_error(
            StatusCode::NOT_FOUND,
            "not_found",
            "no text has been sent to this number since the stack started",
            None,
        ),
    }
}

/// A local-only route's error, in the API's own shape
/// (`{"error": {"code", "message", "field"?}}`), not the gateway's.
fn dev_error(status: StatusCode, code: &str, message: &str, field: Option<&str>) -> Response {
    let mut error = json!({ "code": code, "message": message });
    if let Some(field) = field {
        error["field"] = json!(field);
    }
    (
        status,
        [(http::header::CONTENT_TYPE, "application/json")],
        json!({ "error": error }).to_string(),
    )
        .into_response()
}

// ---- @connections management API ------------------------------------------

/// `/{stage}/@connections/{id}` (the `@` may arrive as `%40`): the rest
/// after the stage, or None for other paths.
fn management_path(path: &str) -> Option<&str> {
    let rest = path.strip_prefix('/')?;
    let (stage, rest) = rest.split_once('/')?;
    let rest = rest
        .strip_prefix("@connections")
        .or_else(|| rest.strip_prefix("%40connections"))?;
    // A wrong stage leaves nothing to match, which answers 403.
    Some(if stage == STAGE { rest } else { "" })
}

fn gone() -> Response {
    Response::builder()
        .status(StatusCode::GONE)
        .header("x-amzn-ErrorType", "GoneException")
        .body(Body::empty())
        .unwrap_or_else(|_| StatusCode::GONE.into_response())
}

fn too_large() -> Response {
    management_error(
        StatusCode::PAYLOAD_TOO_LARGE,
        "PayloadTooLargeException",
        "Payload too large",
    )
}

fn management_error(status: StatusCode, error_type: &str, message: &str) -> Response {
    Response::builder()
        .status(status)
        .header("x-amzn-ErrorType", error_type)
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(Body::from(json!({ "message": message }).to_string()))
        .unwrap_or_else(|_| status.into_response())
}

/// POST (push), GET (info), DELETE (close) on one connection, with API
/// Gateway's status codes: 403 unless SigV4-signed with the stack's
/// credentials (`x-amzn-ErrorType` says why), 410 + `x-amzn-ErrorType:
/// GoneException` for an unknown or closed connection, 413 over 128 KiB,
/// 403 for a wrong path.
async fn management_api(hub: &ConnectionHub, auth: &ManagementAuth, rest: &str, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    // The body is part of the signature: read it (bounded) before checking.
    let Ok(data) = to_bytes(body, MAX_PUSH_BYTES + 1).await else {
        return too_large();
    };
    if data.len() > MAX_PUSH_BYTES {
        return too_large();
    }
    if let Err(refusal) = auth.verify(&parts, &data, std::time::SystemTime::now()) {
        let (error_type, message) = refusal.error();
        return management_error(StatusCode::FORBIDDEN, error_type, message);
    }
    let forbidden = || gateway_json(StatusCode::FORBIDDEN, "Forbidden");
    let Some(raw_id) = rest.strip_prefix('/').filter(|id| !id.is_empty() && !id.contains('/')) else {
        return forbidden();
    };
    let Ok(id) = ConnectionId::new(crate::events::percent_decode(raw_id)) else {
        return gone();
    };
    match parts.method {
        http::Method::POST => {
            let frame = String::from_utf8_lossy(&data).into_owned();
            if hub.command(&id, SocketCommand::Send(frame)) {
                StatusCode::OK.into_response()
            } else {
                gone()
            }
        }
        http::Method::GET => match hub.info(&id) {
            Some(info) => (
                StatusCode::OK,
                [(http::header::CONTENT_TYPE, "application/json")],
                json!({
                    "connectedAt": iso8601(info.connected_at_ms),
                    "identity": { "sourceIp": info.source_ip, "userAgent": info.user_agent },
                    "lastActiveAt": iso8601(info.last_active_ms),
                })
                .to_string(),
            )
                .into_response(),
            None => gone(),
        },
        http::Method::DELETE => {
            if hub.command(&id, SocketCommand::Close) {
                StatusCode::NO_CONTENT.into_response()
            } else {
                gone()
            }
        }
        _ => forbidden(),
    }
}

/// RFC 3339 UTC time from epoch milliseconds, as the management API
/// reports it.
fn iso8601(ms: i64) -> String {
    let at = std::time::UNIX_EPOCH + Duration::from_millis(u64::try_from(ms).unwrap_or(0));
    humantime::format_rfc3339_millis(at).to_string()
}

// ---- SQS event source mapping -----------------------------------------------

/// Polls the timer queue like a Lambda event source mapping: batches of up
/// to 10, `ReportBatchItemFailures`, a failed invocation leaves the whole
/// batch for redelivery.
pub async fn poll_embedded_queue<S: Storage, Q: OfferTimers, P: Pusher>(
    app: Arc<App<S, Q, P>>,
    queue: Arc<EmbeddedQueue>,
) {
    loop {
        let batch = queue.receive(10, Duration::from_secs(20)).await;
        if batch.is_empty() {
            continue;
        }
        let event = queue.to_event(&batch);
        let invoke_app = Arc::clone(&app);
        match tokio::spawn(async move { handle_timer_batch(&invoke_app, event).await }).await {
            Ok(response) => queue.settle(&batch, &response),
            Err(e) => error!(error = %e, "timer handler failed; batch will be redelivered"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_like_api_gateway() {
        let (route, params) = match_route("GET", "/orders/01ABC").expect("matches");
        assert_eq!(route.key(), "GET /orders/{order_id}");
        assert_eq!(params.get("order_id"), Some(&Value::String("01ABC".into())));
        assert!(match_route("DELETE", "/orders/1").is_none());
        assert!(match_route("GET", "/nothing").is_none());
        assert_eq!(
            match_route("POST", "/orders/x/accept").map(|r| r.0.key()),
            Some("POST /orders/{order_id}/accept")
        );
    }

    #[test]
    fn a_greedy_variable_takes_the_rest_of_the_path() {
        let (route, params) = match_route("GET", "/app/customer/app.js").expect("matches");
        assert_eq!(route.key(), "GET /app/{path+}");
        assert_eq!(params.get("path"), Some(&Value::String("customer/app.js".into())));
        let (_, params) = match_route("GET", "/app/customer/").expect("matches");
        assert_eq!(params.get("path"), Some(&Value::String("customer/".into())));
        assert!(
            match_route("GET", "/app/").is_none(),
            "a greedy variable is never empty"
        );
        assert!(match_route("GET", "/app").is_none());
        assert!(match_route("GET", "/apps/customer/").is_none());
        assert!(match_route("POST", "/app/customer/").is_none());
    }

    #[test]
    fn selects_ws_routes_by_action() {
        assert_eq!(select_route(r#"{"action":"ping"}"#), "ping");
        assert_eq!(select_route(r#"{"action":"nope"}"#), "$default");
        assert_eq!(select_route(r#"{"action":"$connect"}"#), "$default");
        assert_eq!(select_route("not json"), "$default");
    }
}
