//! Helpers for end-to-end tests: a local stack on a free port, a real HTTP
//! client and real WebSocket clients.

#![allow(dead_code)] // each test binary uses a different subset

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
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

/// The AWS-compatible server the tests run against (without a trailing
/// `/`), when they run on the endpoint backend.
pub fn moto_endpoint() -> Option<String> {
    match std::env::var("AWS_ENDPOINT_URL") {
        Ok(endpoint) if std::env::var("E2E_BACKEND").as_deref() == Ok("endpoint") => {
            Some(endpoint.trim_end_matches('/').to_string())
        }
        _ => None,
    }
}

/// How many times a race is run: fewer on the DynamoDB backend, whose
/// server (moto) serialises every request, so that its races check the
/// adapters' conditions without holding the suite for minutes; the
/// embedded backend runs the full count.
pub fn trials(embedded: usize, endpoint: usize) -> usize {
    if std::env::var("E2E_BACKEND").as_deref() == Ok("endpoint") {
        endpoint
    } else {
        embedded
    }
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

/// The six digits of a sign-in text.
pub fn code_in(text: &str) -> String {
    text.split(|c: char| !c.is_ascii_digit())
        .find(|run| run.len() == 6)
        .unwrap_or_else(|| panic!("no code in {text:?}"))
        .to_string()
}

/// A Bangladeshi mobile number no other test uses (moto keeps every test's
/// texts in one place).
pub fn fresh_phone() -> String {
    let random = ulid::Ulid::new().random();
    format!("+88017{:08}", random % 100_000_000)
}

/// A response as a test sees it.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub body: Value,
    pub text: String,
}

impl Reply {
    /// The `order_id` the answer carries (a placement's).
    pub fn order_id(&self) -> String {
        self.body["order_id"]
            .as_str()
            .unwrap_or_else(|| panic!("an order id: {}", self.text))
            .to_string()
    }
}

impl Api {
    pub fn new(stack: &RunningStack) -> Self {
        Api {
            base: stack.http_url(),
            http: reqwest::Client::new(),
            issuer: stack.issuer(),
        }
    }

    /// Sends one request; the answer is checked against the OpenAPI
    /// document's schema for its route and status (see [`spec`]).
    /// The issuer whose tokens the stack accepts.
    pub fn issuer(&self) -> Arc<TokenIssuer> {
        Arc::clone(&self.issuer)
    }

    /// `POST /orders/{order}/{action}` as `who`, with `body` if any.
    pub async fn step(&self, who: &str, order: &str, action: &str, body: Option<Value>) -> Reply {
        self.call(
            "POST",
            &format!("/orders/{order}/{action}"),
            Some(who),
            body.map(|b| b.to_string()),
        )
        .await
    }

    /// [`Api::step`] that must answer 200.
    pub async fn step_ok(&self, who: &str, order: &str, action: &str, body: Option<Value>) -> Reply {
        let reply = self.step(who, order, action, body).await;
        assert_eq!(reply.status, 200, "{action}: {}", reply.text);
        reply
    }

    pub async fn call(&self, method: &str, path: &str, caller: Option<&str>, body: Option<String>) -> Reply {
        let method_name = method;
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
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let text = response.text().await.expect("body read");
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        self.check(method_name, path, status, &content_type, &text).await;
        Reply { status, body, text }
    }

    /// Checks one HTTP answer against the served OpenAPI document.
    pub async fn check(&self, method: &str, path: &str, status: u16, content_type: &str, text: &str) {
        let spec = spec::load(self).await;
        spec.check_http(method, path, status, content_type, text);
    }

    /// Sends one request with a raw bearer token (tokens the API issued);
    /// checked against the OpenAPI document like [`Api::call`].
    pub async fn call_with_token(&self, method: &str, path: &str, token: Option<&str>, body: Option<Value>) -> Reply {
        let method_name = method;
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(body.to_string());
        }
        let response = request.send().await.expect("request sent");
        let status = response.status().as_u16();
        let retry_after = response.headers().get("retry-after").cloned();
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let text = response.text().await.expect("body read");
        let mut body = serde_json::from_str(&text).unwrap_or(Value::Null);
        if let (Some(seconds), Some(map)) = (retry_after, body.as_object_mut()) {
            // Tests read the header beside the body.
            map.insert(
                "retry_after_header".into(),
                Value::String(seconds.to_str().unwrap_or_default().to_string()),
            );
        }
        self.check(method_name, path, status, &content_type, &text).await;
        Reply { status, body, text }
    }

    /// The last text message sent to `phone`: on the embedded backend from
    /// the local stack's development route, on the endpoint backend from
    /// the SMS moto recorded (read through tests/moto_server.py's
    /// `/test-api/sms`).
    pub async fn last_text(&self, phone: &str) -> Option<String> {
        let e164 = shared::domain::customer::PhoneNumber::new(phone).expect("a valid number");
        let phone = e164.as_e164();
        match moto_endpoint() {
            Some(endpoint) => {
                let texts: Value = self
                    .http
                    .get(format!("{endpoint}/test-api/sms"))
                    .send()
                    .await
                    .expect("moto answers")
                    .json()
                    .await
                    .expect("moto's texts are JSON");
                texts
                    .as_array()?
                    .iter()
                    .rev()
                    .filter(|sms| sms["phone_number"] == phone)
                    .find_map(|sms| sms["message"].as_str())
                    .map(str::to_string)
            }
            _ => {
                let response = self
                    .http
                    .get(format!("{}/dev/sms/{}", self.base, phone.replace('+', "%2B")))
                    .send()
                    .await
                    .expect("dev route answers");
                if response.status() != 200 {
                    return None;
                }
                let body: Value = response.json().await.expect("JSON");
                body["text"].as_str().map(str::to_string)
            }
        }
    }

    /// Every SMS and mobile push sent so far, oldest first, as
    /// `{"sms": [{"phone_number", "message"}], "push": [{"endpoint",
    /// "message"}]}`: on the embedded backend from the local stack's
    /// development route, on the endpoint backend from what moto's SNS
    /// recorded (tests/moto_server.py's `/test-api/notifications`; moto
    /// keeps every test's, so tests filter by their own numbers and orders).
    pub async fn notifications(&self) -> Value {
        let url = match moto_endpoint() {
            Some(endpoint) => format!("{endpoint}/test-api/notifications"),
            None => format!("{}/dev/notifications", self.base),
        };
        let response = self.http.get(url).send().await.expect("notifications answer");
        assert_eq!(response.status(), 200, "notifications are readable");
        response.json().await.expect("notifications are JSON")
    }

    /// The SMS sent to `phone` that mention `needle`, oldest first.
    pub async fn texts_mentioning(&self, phone: &str, needle: &str) -> Vec<String> {
        let e164 = shared::domain::customer::PhoneNumber::new(phone).expect("a valid number");
        self.notifications().await["sms"]
            .as_array()
            .expect("a list of SMS")
            .iter()
            .filter(|sms| {
                sms["phone_number"] == e164.as_e164() && sms["message"].as_str().is_some_and(|m| m.contains(needle))
            })
            .filter_map(|sms| sms["message"].as_str().map(str::to_string))
            .collect()
    }

    /// As [`Self::texts_mentioning`], once at least `count` are there (or
    /// after 15 s): an accept answers before its receipt is sent.
    pub async fn texts_mentioning_at_least(&self, phone: &str, needle: &str, count: usize) -> Vec<String> {
        at_least(count, || self.texts_mentioning(phone, needle)).await
    }

    /// As [`Self::pushes_mentioning`], once at least `count` are there (or
    /// after 15 s): a placement answers before its stores are alerted.
    pub async fn pushes_mentioning_at_least(&self, needle: &str, count: usize) -> Vec<Value> {
        at_least(count, || self.pushes_mentioning(needle)).await
    }

    /// The mobile pushes whose message mentions `needle`, oldest first.
    pub async fn pushes_mentioning(&self, needle: &str) -> Vec<Value> {
        self.notifications().await["push"]
            .as_array()
            .expect("a list of pushes")
            .iter()
            .filter(|push| push["message"].as_str().is_some_and(|m| m.contains(needle)))
            .cloned()
            .collect()
    }

    /// Asks for a sign-in code for `phone` and reads it from the text.
    pub async fn sign_in_code(&self, phone: &str) -> String {
        let sent = self
            .call_with_token("POST", "/auth/sign-in", None, Some(json!({ "phone": phone })))
            .await;
        assert_eq!(sent.status, 202, "a code is sent: {}", sent.text);
        let text = self.last_text(phone).await.expect("a text was sent");
        code_in(&text)
    }

    /// Signs `phone` in as `role` with a fresh code: the session's body.
    pub async fn sign_in(&self, phone: &str, role: &str) -> Value {
        let code = self.sign_in_code(phone).await;
        let reply = self
            .call_with_token(
                "POST",
                "/auth/sign-in/verify",
                None,
                Some(json!({ "phone": phone, "code": code, "role": role })),
            )
            .await;
        assert_eq!(reply.status, 200, "signed in: {}", reply.text);
        reply.body
    }

    /// Attaches `phone` to `customer` with the code it was sent (the only
    /// way a number gets on a customer's profile).
    pub async fn attach_phone(&self, customer: &str, phone: &str) -> Reply {
        let code = self.sign_in_code(phone).await;
        self.call(
            "PUT",
            "/customers/me/phone",
            Some(&format!("customer:{customer}")),
            Some(json!({ "phone": phone, "code": code }).to_string()),
        )
        .await
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
    /// The stack's HTTP base, where the AsyncAPI document is.
    base: String,
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
            base: stack.http_url(),
        }
    }

    /// Connects with a token the stack issued (e.g. from signing in).
    pub async fn connect_token(stack: &RunningStack, token: &str) -> Socket {
        let url = format!("{}?token={token}", stack.ws_url());
        let (stream, _) = connect_async(url).await.expect("socket connects");
        Socket {
            stream,
            seen: Vec::new(),
            base: stack.http_url(),
        }
    }

    pub async fn send(&mut self, frame: Value) {
        self.stream
            .send(Message::Text(frame.to_string().into()))
            .await
            .expect("frame sent");
    }

    /// The next text frame, or None if nothing arrives within `wait`; the
    /// frame is checked against the AsyncAPI document.
    pub async fn next(&mut self, wait: Duration) -> Option<Value> {
        let frame = self.next_raw(wait).await?;
        spec::load_from(&self.base).await.check_frame(&frame);
        Some(frame)
    }

    /// The next text frame, unchecked: for the push port's contract test,
    /// which pushes frames of its own that the API never sends.
    pub async fn next_raw(&mut self, wait: Duration) -> Option<Value> {
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
/// For a frame that should come at once. Generous, because the whole suite
/// shares one moto that serialises every request: beside the concurrent
/// races, one order took 3.7 s there, and moto has paused for 3-6 s. A frame
/// that comes sooner ends the wait sooner.
pub const LONG: Duration = Duration::from_secs(15);
/// For a frame that waits on a round's real timer message: SQS delays in
/// whole seconds, an early duplicate is put back for the rest of the
/// window, and closing the round takes several more requests of that moto.
pub const ROUND_CLOSE: Duration = Duration::from_secs(30);

/// Every answer and frame the tests see, checked against the API documents
/// the stack serves: HTTP answers against `/openapi.json` (the response
/// schema of the route matched by method and path template, and of the
/// status, or its `4XX`/`5XX` range), WebSocket frames against
/// `/asyncapi.json` (the message of the frame's `type`). A mismatch fails
/// the test. The documents are fetched once per process.
pub mod spec {
    use super::*;

    /// How many answers and frames were checked in this process.
    pub static HTTP_CHECKED: AtomicUsize = AtomicUsize::new(0);
    pub static HTTP_SKIPPED: AtomicUsize = AtomicUsize::new(0);
    pub static FRAMES_CHECKED: AtomicUsize = AtomicUsize::new(0);

    pub struct Spec {
        pub openapi: Value,
        pub asyncapi: Value,
        /// Compiled schemas, by JSON pointer into their document.
        validators: Mutex<HashMap<String, Arc<jsonschema::Validator>>>,
    }

    static SPEC: OnceLock<Spec> = OnceLock::new();

    /// The documents, fetched from the stack `api` talks to on first use.
    pub async fn load(api: &Api) -> &'static Spec {
        load_from(&api.base).await
    }

    /// The documents, fetched from the stack at `base` on first use.
    pub async fn load_from(base: &str) -> &'static Spec {
        if let Some(spec) = SPEC.get() {
            return spec;
        }
        let http = reqwest::Client::new();
        let fetch = |path: &'static str| {
            let request = http.get(format!("{base}{path}"));
            async move {
                let response = request.send().await.expect("document fetched");
                assert_eq!(response.status().as_u16(), 200, "GET {path}");
                response.json::<Value>().await.expect("document is JSON")
            }
        };
        let openapi = fetch("/openapi.json").await;
        let asyncapi = fetch("/asyncapi.json").await;
        SPEC.get_or_init(|| Spec {
            openapi,
            asyncapi,
            validators: Mutex::new(HashMap::new()),
        })
    }

    /// Answers may carry no field their schema does not name: every object
    /// schema that names its properties and says nothing of others gets
    /// `unevaluatedProperties: false` (which sees through `allOf`/`oneOf`).
    /// The branches of an `allOf`/`oneOf`/`anyOf` are left open: the
    /// object around them decides.
    fn strict(schema: &mut Value) {
        strict_within(schema, true);
    }

    fn strict_within(schema: &mut Value, whole: bool) {
        match schema {
            Value::Object(map) => {
                let named = map.contains_key("properties") || map.contains_key("oneOf") || map.contains_key("allOf");
                if whole && named && !map.contains_key("additionalProperties") && !map.contains_key("$ref") {
                    map.entry("unevaluatedProperties").or_insert(Value::Bool(false));
                }
                for (key, value) in map.iter_mut() {
                    let branches = matches!(key.as_str(), "allOf" | "oneOf" | "anyOf");
                    match value {
                        Value::Array(items) => items.iter_mut().for_each(|v| strict_within(v, !branches)),
                        // `properties` and `components.schemas` hold named schemas.
                        Value::Object(_) if matches!(key.as_str(), "properties" | "schemas") => {
                            if let Value::Object(named) = value {
                                named.values_mut().for_each(|v| strict_within(v, true));
                            }
                        }
                        v => strict_within(v, true),
                    }
                }
            }
            Value::Array(items) => items.iter_mut().for_each(|v| strict_within(v, whole)),
            _ => {}
        }
    }

    /// `/` → `~1`, as a JSON pointer token.
    fn token(raw: &str) -> String {
        raw.replace('~', "~0").replace('/', "~1")
    }

    /// The path template of the document that matches `path`.
    fn template<'a>(document: &'a Value, method: &str, path: &str) -> Option<&'a str> {
        let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
        document["paths"].as_object()?.iter().find_map(|(template, methods)| {
            methods.get(method.to_lowercase())?;
            let parts: Vec<&str> = template.trim_matches('/').split('/').collect();
            let fits = parts.len() == segments.len()
                && parts
                    .iter()
                    .zip(&segments)
                    .all(|(t, s)| (t.starts_with('{') && !s.is_empty()) || t == s);
            fits.then_some(template.as_str())
        })
    }

    impl Spec {
        /// The validator of the schema at `pointer` in `document` (`openapi`
        /// or `asyncapi`): that schema with the document's `components`
        /// beside it, so `#/components/...` references resolve.
        fn validator(&self, document: &str, pointer: &str) -> Arc<jsonschema::Validator> {
            let key = format!("{document}{pointer}");
            let mut cache = self.validators.lock().expect("cache");
            if let Some(validator) = cache.get(&key) {
                return validator.clone();
            }
            let root = if document == "openapi" {
                &self.openapi
            } else {
                &self.asyncapi
            };
            let schema = root
                .pointer(pointer)
                .unwrap_or_else(|| panic!("{document} has {pointer}"));
            let mut components = root["components"].clone();
            if document == "openapi" {
                strict(&mut components);
            }
            let mut wrapped = json!({ "allOf": [schema], "components": components });
            if document == "asyncapi" {
                // AsyncAPI's default schema format is a superset of draft 7.
                wrapped["$schema"] = json!("http://json-schema.org/draft-07/schema#");
            }
            let validator = Arc::new(
                jsonschema::validator_for(&wrapped).unwrap_or_else(|e| panic!("{document}{pointer} compiles: {e}")),
            );
            cache.insert(key, validator.clone());
            validator
        }

        fn failures(&self, document: &str, pointer: &str, instance: &Value) -> Vec<String> {
            let validator = self.validator(document, pointer);
            validator
                .iter_errors(instance)
                .map(|e| format!("{} at {}", e, e.instance_path()))
                .collect()
        }

        /// Checks one frame a socket received (a reply or a pushed event)
        /// against the AsyncAPI message its `type` names; panics on a
        /// mismatch with the frame and the schema's complaints.
        pub fn check_frame(&self, frame: &Value) {
            let kind = frame["type"]
                .as_str()
                .unwrap_or_else(|| panic!("a frame without a type: {frame}"));
            let messages = self.asyncapi["components"]["messages"].as_object().expect("messages");
            let candidates: Vec<&String> = messages
                .iter()
                .filter(|(_, m)| m["name"] == kind)
                .map(|(k, _)| k)
                .collect();
            assert!(
                !candidates.is_empty(),
                "frame type {kind:?} is in no message of the document: {frame}"
            );
            let mut failures = Vec::new();
            for key in candidates {
                let found = self.failures(
                    "asyncapi",
                    &format!("/components/messages/{}/payload", token(key)),
                    frame,
                );
                if found.is_empty() {
                    FRAMES_CHECKED.fetch_add(1, Ordering::Relaxed);
                    report();
                    return;
                }
                failures.push(format!("as {key}: {}", found.join("; ")));
            }
            panic!("a {kind} frame its message refuses:\n{frame}\n{}", failures.join("\n"));
        }

        /// Why `body` is not what the document says `method template`
        /// answers with `status` (empty: it is).
        pub fn response_failures(&self, method: &str, template: &str, status: u16, body: &Value) -> Vec<String> {
            let operation = format!("/paths/{}/{}", token(template), method.to_lowercase());
            let responses = &self.openapi.pointer(&operation).expect("operation")["responses"];
            let key = [status.to_string(), format!("{}XX", status / 100), "default".to_string()]
                .into_iter()
                .find(|k| responses.get(k).is_some())
                .unwrap_or_else(|| panic!("{method} {template}: status {status} is not in the document: {body}"));
            let pointer = format!("{operation}/responses/{key}/content/application~1json/schema");
            self.failures("openapi", &pointer, body)
        }

        /// Checks one HTTP answer; panics with the route, status, body and
        /// errors on a mismatch.
        pub fn check_http(&self, method: &str, path: &str, status: u16, content_type: &str, text: &str) {
            let path = path.split('?').next().unwrap_or_default();
            let Some(template) = template(&self.openapi, method, path) else {
                // A route miss: the gateway's 404, described by no route.
                assert_eq!(
                    status, 404,
                    "{method} {path} is in no route of the document but answered {status}: {text}"
                );
                HTTP_SKIPPED.fetch_add(1, Ordering::Relaxed);
                return;
            };
            let media = content_type.split(';').next().unwrap_or_default().trim();
            if media == "text/html" {
                // The share page: HTML, not JSON; only its media type is described.
                HTTP_SKIPPED.fetch_add(1, Ordering::Relaxed);
                return;
            }
            assert_eq!(
                media, "application/json",
                "{method} {path} answered {status} as {content_type:?}: {text}"
            );
            let body: Value = serde_json::from_str(text)
                .unwrap_or_else(|e| panic!("{method} {template} {status}: body is not JSON ({e}): {text}"));
            let failures = self.response_failures(method, template, status, &body);
            assert!(
                failures.is_empty(),
                "{method} {path} ({template}) answered {status} with a body its schema refuses:\n{text}\n{}",
                failures.join("\n")
            );
            HTTP_CHECKED.fetch_add(1, Ordering::Relaxed);
            report();
        }
    }

    /// Writes the counts so far where a run can read them:
    /// `<target tmp>/spec-checked-<binary>.txt`.
    pub fn report() {
        let line = format!(
            "http responses checked: {}, skipped (route miss or HTML): {}, WebSocket frames checked: {}\n",
            HTTP_CHECKED.load(Ordering::Relaxed),
            HTTP_SKIPPED.load(Ordering::Relaxed),
            FRAMES_CHECKED.load(Ordering::Relaxed),
        );
        let file = format!(
            "{}/spec-checked-{}.txt",
            env!("CARGO_TARGET_TMPDIR"),
            env!("CARGO_CRATE_NAME")
        );
        let _ = std::fs::write(file, line);
    }
}

/// What `read` finds once it finds at least `count`, or after 15 s:
/// notices follow the answer of the step that sends them.
async fn at_least<T, F, Fut>(count: usize, read: F) -> Vec<T>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Vec<T>>,
{
    let deadline = tokio::time::Instant::now() + ROUND_CLOSE;
    loop {
        let found = read().await;
        if found.len() >= count || tokio::time::Instant::now() >= deadline {
            return found;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
