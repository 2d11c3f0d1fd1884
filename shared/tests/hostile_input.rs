//! Hostile input: 10,000 random and malformed requests and frames straight
//! into the HTTP and WebSocket handlers. Never a 5xx, never a panic, and
//! afterwards the stored state is whole: every created order exists, is
//! indexed under its customer, and nothing else was written.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use aws_lambda_events::event::apigw::{
    ApiGatewayRequestAuthorizer, ApiGatewayRequestAuthorizerJwtDescription, ApiGatewayV2httpRequest,
    ApiGatewayWebsocketProxyRequest,
};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{Value, json};
use shared::api::http::handle_http_request;
use shared::api::routes::HttpRoute;
use shared::api::ws::{WS_ROUTES, handle_ws_event};
use shared::domain::clock::SystemClock;
use shared::domain::config::OrderingConfig;
use shared::domain::ids::{CustomerId, OrderId};
use shared::embedded::{ConnectionHub, EmbeddedQueue, MemoryStorage};
use shared::ports::OrderRepo;
use shared::usecases::App;

type FuzzApp = App<MemoryStorage, Arc<EmbeddedQueue>, ConnectionHub>;

fn app() -> FuzzApp {
    App::new(
        MemoryStorage::default(),
        Arc::new(EmbeddedQueue::new("fuzz", Duration::from_secs(30))),
        ConnectionHub::default(),
        Arc::new(SystemClock),
        OrderingConfig {
            max_orders_per_minute: 1_000,
            max_open_orders: 1_000,
            ..OrderingConfig::default()
        },
    )
}

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        ".{0,40}",
        "[a-z0-9 ,.\n-]{0,60}",
        "\\PC{0,80}",
        Just("২ কেজি চাল".to_string()),
        (1usize..3_000).prop_map(|n| "x".repeat(n * 10)),
    ]
}

fn number() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<f64>().prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        any::<i64>().prop_map(Value::from),
        (-100.0f64..100.0).prop_map(Value::from),
        text().prop_map(Value::from),
        Just(Value::Null),
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        number(),
        text().prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::from),
            prop::collection::hash_map("[a-z_]{1,10}", inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Bodies shaped like real ones with hostile values, and pure noise.
fn body() -> impl Strategy<Value = Option<String>> {
    let order = (text(), number(), number())
        .prop_map(|(t, lat, lng)| json!({"text": t, "location": {"lat": lat, "lng": lng}}).to_string());
    let items = (
        prop::collection::vec((text(), number(), text()), 0..60),
        number(),
        number(),
    )
        .prop_map(|(lines, lat, lng)| {
            let items: Vec<Value> = lines
                .into_iter()
                .map(|(name, amount, unit)| json!({"name": name, "amount": amount, "unit": unit}))
                .collect();
            json!({"items": items, "location": {"lat": lat, "lng": lng}}).to_string()
        });
    let store = (
        text(),
        number(),
        number(),
        text(),
        prop::collection::vec(text(), 0..5),
        json_value(),
    )
        .prop_map(|(name, lat, lng, category, tags, options)| {
            json!({"name": name, "location": {"lat": lat, "lng": lng}, "category": category,
                   "tags": tags, "delivery_options": options})
            .to_string()
        });
    let valid_order = (-90.0f64..90.0, -180.0f64..180.0).prop_map(|(lat, lng)| {
        json!({"text": "2 kg rice, 600 g meat", "location": {"lat": lat, "lng": lng}}).to_string()
    });
    prop::option::of(prop_oneof![
        1 => order,
        1 => items,
        1 => store,
        4 => valid_order,
        1 => json_value().prop_map(|v| v.to_string()),
        1 => text(),
        1 => text().prop_map(|p| json!({ "phone": p }).to_string()),
    ])
}

fn caller() -> impl Strategy<Value = Option<String>> {
    prop::option::of(prop_oneof![
        3 => "customer:c[0-3]",
        1 => "store:s[0-3]",
        1 => ".{0,20}",
        1 => Just("customer:".to_string()),
        1 => Just("store:../../etc".to_string()),
    ])
}

fn path_id() -> impl Strategy<Value = String> {
    prop_oneof![
        "s[0-3]",
        "[A-Za-z0-9_-]{1,30}",
        ".{0,70}",
        Just("01JUNKJUNKJUNKJUNKJUNKJUNK".to_string())
    ]
}

/// Mostly JSON, as apps send; sometimes another type or none.
fn content_type() -> impl Strategy<Value = Option<String>> {
    prop_oneof![
        6 => Just(Some("application/json".to_string())),
        1 => Just(Some("application/json; charset=utf-8".to_string())),
        1 => prop::sample::select(vec!["text/plain", "application/xml", "multipart/form-data", "image/png"])
            .prop_map(|t| Some(t.to_string())),
        1 => Just(None),
    ]
}

/// A Rust type name or a parser position: what an answer must never carry.
fn leaks_internals(body: &str) -> bool {
    let value: Value = serde_json::from_str(body).unwrap_or(Value::Null);
    let said = format!("{} {}", value["error"]["message"], value["error"]["field"]);
    [
        " u8",
        " u16",
        " u32",
        " u64",
        " usize",
        " i32",
        " i64",
        " f64",
        "struct ",
        "enum ",
        "::",
        "Option<",
        "Vec<",
        "Decimal type",
        " at line ",
        " column ",
    ]
    .iter()
    .any(|t| said.contains(t))
}

fn http_request(
    route: String,
    id: String,
    caller: Option<String>,
    body: Option<String>,
    content_type: Option<String>,
    b64: bool,
) -> ApiGatewayV2httpRequest {
    let mut request = ApiGatewayV2httpRequest::default();
    request.route_key = Some(route);
    if let Some(content_type) = content_type.and_then(|t| http::HeaderValue::from_str(&t).ok()) {
        request.headers.insert(http::header::CONTENT_TYPE, content_type);
    }
    request.path_parameters = HashMap::from([("order_id".to_string(), id.clone()), ("store_id".to_string(), id)]);
    request.body = body;
    request.is_base64_encoded = b64;
    if let Some(sub) = caller {
        let mut jwt = ApiGatewayRequestAuthorizerJwtDescription::default();
        jwt.claims = HashMap::from([("sub".to_string(), sub)]);
        let mut authorizer = ApiGatewayRequestAuthorizer::default();
        authorizer.jwt = Some(jwt);
        request.request_context.authorizer = Some(authorizer);
    }
    request
}

fn ws_request(
    route: &str,
    connection: &str,
    caller: Option<String>,
    body: Option<String>,
) -> ApiGatewayWebsocketProxyRequest {
    let mut request = ApiGatewayWebsocketProxyRequest::default();
    request.request_context.route_key = Some(route.to_string());
    request.request_context.connection_id = Some(connection.to_string());
    if let Some(principal) = caller {
        request
            .request_context
            .authorizer
            .fields
            .insert("principalId".into(), Value::from(principal));
    }
    request.body = body;
    request
}

#[test]
fn ten_thousand_hostile_requests_and_frames_never_break_the_service() {
    // The generator of nested JSON recurses deeply; give it room.
    std::thread::Builder::new()
        .stack_size(64 * 1024 * 1024)
        .spawn(hostile_requests_and_frames)
        .expect("thread")
        .join()
        .expect("the fuzz held");
}

fn hostile_requests_and_frames() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let app = app();
    let created: RefCell<Vec<(CustomerId, OrderId)>> = RefCell::new(Vec::new());
    let http_cases = Cell::new(0usize);
    let error_bodies = Cell::new(0usize);
    let ws_cases = Cell::new(0usize);

    let routes: Vec<String> = HttpRoute::ALL.iter().map(|r| r.key().to_string()).collect();
    let route = prop_oneof![
        4 => prop::sample::select(routes),
        1 => Just("POST /orders".to_string()),
        1 => ".{0,30}",
    ];
    let mut runner = TestRunner::new(Config {
        cases: 6_000,
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(
            &(route, path_id(), caller(), body(), content_type(), any::<bool>()),
            |(route, id, caller, body, content_type, b64)| {
                http_cases.set(http_cases.get() + 1);
                let is_create = route == "POST /orders";
                let customer = caller.clone();
                let request = http_request(route, id, caller, body, content_type, b64);
                let response = runtime.block_on(handle_http_request(&app, request));
                prop_assert!(response.status_code < 500, "5xx: {response:?}");
                if let Some(aws_lambda_events::encodings::Body::Text(text)) = &response.body {
                    prop_assert!(!leaks_internals(text), "internals in an answer: {text}");
                    if response.status_code >= 400 {
                        error_bodies.set(error_bodies.get() + 1);
                    }
                }
                if is_create && response.status_code == 201 {
                    let body = match &response.body {
                        Some(aws_lambda_events::encodings::Body::Text(t)) => t.clone(),
                        _ => String::new(),
                    };
                    let value: Value = serde_json::from_str(&body).expect("JSON body");
                    let order = OrderId::new(value["order_id"].as_str().unwrap_or_default()).expect("order id");
                    let customer = customer
                        .and_then(|c| c.strip_prefix("customer:").map(str::to_string))
                        .and_then(|c| CustomerId::new(c).ok())
                        .expect("a creating customer");
                    created.borrow_mut().push((customer, order));
                }
                Ok(())
            },
        )
        .expect("HTTP handler held");

    let actions: Vec<String> = WS_ROUTES.iter().map(|r| (*r).to_string()).collect();
    let route = prop_oneof![prop::sample::select(actions), ".{0,20}"];
    let frame = prop_oneof![
        (route.clone(), json_value()).prop_map(|(a, v)| Some(json!({"action": a, "order_id": v}).to_string())),
        text().prop_map(Some),
        Just(None),
    ];
    let mut runner = TestRunner::new(Config {
        cases: 4_000,
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(
            &(route, "[A-Za-z0-9=+/_-]{0,20}", caller(), frame),
            |(route, connection, caller, frame)| {
                ws_cases.set(ws_cases.get() + 1);
                let response = runtime.block_on(handle_ws_event(&app, ws_request(&route, &connection, caller, frame)));
                prop_assert!(response.status_code < 500, "5xx: {response:?}");
                if let Some(aws_lambda_events::encodings::Body::Text(text)) = &response.body {
                    prop_assert!(!leaks_internals(text), "internals in an answer: {text}");
                    if response.status_code >= 400 {
                        error_bodies.set(error_bodies.get() + 1);
                    }
                }
                Ok(())
            },
        )
        .expect("WebSocket handler held");

    assert!(http_cases.get() + ws_cases.get() >= 10_000);
    // Nothing lost or half-written: exactly the created orders exist, each
    // readable and indexed under its customer.
    let created = created.into_inner();
    assert_eq!(app.storage().order_count(), created.len());
    runtime.block_on(async {
        for (customer, id) in &created {
            let order = app.storage().get_order(id).await.expect("read").expect("exists");
            assert_eq!(order.customer_id(), customer);
            let indexed = app
                .storage()
                .recent_orders_of_customer(customer, 10_000, None)
                .await
                .expect("read");
            assert!(indexed.iter().any(|o| o.id() == id), "order indexed under its customer");
        }
    });
    println!(
        "hostile input: {} HTTP requests ({} error answers scanned for internals), {} WebSocket frames, {} orders created",
        http_cases.get(),
        error_bodies.get(),
        ws_cases.get(),
        created.len()
    );
}
