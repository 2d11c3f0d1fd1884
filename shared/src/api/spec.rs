//! The API described by its types: OpenAPI 3.1 for HTTP, AsyncAPI 3 for
//! the WebSocket API.
//!
//! Every schema is derived (`schemars`) from the type a handler reads or
//! answers with; which types each route uses is stated once, in code, by
//! [`super::requests::operation`]. Requests are described as they are read
//! (fields with a default are optional), answers as they are written
//! (fields left out when empty are optional); a type that reads differently
//! from how it is written appears twice, the request side named `…Input`.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use schemars::generate::SchemaSettings;
use schemars::transform::{RemoveRefSiblings, Transform};
use schemars::{JsonSchema, Schema};
use serde_json::{Map, Value, json};

use super::bodies::{ErrorBody, GatewayMessage, WsReply};
use super::call::PAGE_MOST;
use super::requests::operation;
use super::routes::HttpRoute;
use super::ws::ClientFrame;
use crate::domain::events::{PushEvent, StorePushEvent};
use crate::domain::ids::{OrderId, StoreId};
use crate::domain::promotion::PromotionEvent;

/// Where the schemas live in both documents.
const SCHEMAS: &str = "#/components/schemas/";

fn settings(serialize: bool) -> SchemaSettings {
    let settings = SchemaSettings::draft2020_12().with(|s| {
        s.definitions_path = "/components/schemas".into();
        s.meta_schema = None;
    });
    if serialize {
        settings.for_serialize()
    } else {
        settings.for_deserialize()
    }
}

/// Merges the request side's definitions into the answer side's: a name
/// both sides define differently is renamed `…Input` on the request side,
/// repeatedly, since renaming one changes the definitions that name it.
/// Returns the merged definitions and the renaming to apply to request-side
/// schemas.
fn merge(
    answers: &Map<String, Value>,
    requests: &Map<String, Value>,
) -> (Map<String, Value>, BTreeMap<String, String>) {
    let mut renamed: BTreeMap<String, String> = BTreeMap::new();
    loop {
        let mut changed = false;
        for (name, schema) in requests {
            if renamed.contains_key(name) {
                continue;
            }
            let mut rewritten = schema.clone();
            rename_refs(&mut rewritten, &renamed);
            if answers.get(name).is_some_and(|theirs| *theirs != rewritten) {
                let mut new_name = format!("{name}Input");
                while answers.contains_key(&new_name) || requests.contains_key(&new_name) {
                    new_name.push('_');
                }
                renamed.insert(name.clone(), new_name);
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    let mut merged = answers.clone();
    for (name, schema) in requests {
        let mut schema = schema.clone();
        rename_refs(&mut schema, &renamed);
        let name = renamed.get(name).unwrap_or(name);
        merged.entry(name.clone()).or_insert(schema);
    }
    (merged, renamed)
}

/// Rewrites `$ref`s to renamed definitions.
fn rename_refs(value: &mut Value, renamed: &BTreeMap<String, String>) {
    match value {
        Value::Object(map) => {
            for (key, v) in map.iter_mut() {
                if key == "$ref"
                    && let Value::String(reference) = v
                    && let Some(new) = reference.strip_prefix(SCHEMAS).and_then(|name| renamed.get(name))
                {
                    *reference = format!("{SCHEMAS}{new}");
                } else {
                    rename_refs(v, renamed);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| rename_refs(v, renamed)),
        _ => {}
    }
}

fn json_content(schema: Value) -> Value {
    json!({ "application/json": { "schema": schema } })
}

fn error_response(description: &str, schema: Value) -> Value {
    json!({ "description": description, "content": json_content(schema) })
}

/// The `{param}` names of a path template.
fn path_params(path: &str) -> impl Iterator<Item = &str> {
    path.split('/')
        .filter_map(|segment| segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
}

/// `placeOrder` from `PlaceOrder`.
fn operation_id(route: HttpRoute) -> String {
    let name = format!("{route:?}");
    let mut chars = name.chars();
    chars
        .next()
        .map(|first| first.to_lowercase().chain(chars).collect())
        .unwrap_or_default()
}

fn build_openapi() -> Value {
    let mut answers = settings(true).into_generator();
    let mut requests = settings(false).into_generator();
    let error = answers.subschema_for::<ErrorBody>().to_value();
    let gateway = answers.subschema_for::<GatewayMessage>().to_value();
    let order_id = answers.subschema_for::<OrderId>().to_value();
    let store_id = answers.subschema_for::<StoreId>().to_value();
    let mut paths: Map<String, Value> = Map::new();
    let mut request_bodies: Vec<(HttpRoute, Value)> = Vec::new();
    for &route in HttpRoute::ALL {
        let op = operation(route);
        let mut parameters: Vec<Value> = path_params(route.path())
            .map(|name| {
                let (schema, description) = match name {
                    "order_id" => (order_id.clone(), "The order's id."),
                    "store_id" => (store_id.clone(), "The store's id."),
                    "share_id" => (json!({ "type": "string" }), "The share link's id."),
                    "path+" => (
                        json!({ "type": "string", "minLength": 1 }),
                        "The file's path under `web/` (greedy: it may hold `/`), e.g. `customer/` or `store/app.js`.",
                    ),
                    _ => (
                        json!({ "type": "string", "minLength": 1, "maxLength": 100 }),
                        "The home item's key.",
                    ),
                };
                json!({ "name": name, "in": "path", "required": true, "description": description, "schema": schema })
            })
            .collect();
        if op.paged {
            parameters.push(json!({
                "name": "limit", "in": "query", "required": false,
                "description": format!("Orders per page, 1 to {PAGE_MOST} (else 400 `invalid_limit`)."),
                "schema": { "type": "integer", "minimum": 1, "maximum": PAGE_MOST, "default": 20 }
            }));
            parameters.push(json!({
                "name": "before", "in": "query", "required": false,
                "description": "The previous page's `next_before`.",
                "schema": order_id.clone()
            }));
        }
        // Every change a signed-in caller asks for is kept under its key.
        if !route.is_public() && route.method() != "GET" {
            parameters.push(json!({
                "name": "Idempotency-Key", "in": "header", "required": false,
                "description": "One key per user action, the same on its retries, kept 24 hours: a retry gets the first answer and does not act again. While the first request runs: 409 `in_progress` with `Retry-After`; the same key with another request: 422 `idempotency_key_reused`.",
                "schema": { "type": "string", "pattern": "^[A-Za-z0-9_-]{8,64}$" }
            }));
        }
        if route == HttpRoute::GuestToken {
            parameters.push(json!({
                "name": "X-Device-Id", "in": "header", "required": false,
                "description": "The app's install id: guest tokens are limited per device as well as per network (else 400 `invalid_device_id`).",
                "schema": { "type": "string", "pattern": "^[A-Za-z0-9_-]{8,64}$" }
            }));
        }
        for param in op.query {
            parameters.push(json!({
                "name": param.name, "in": "query", "required": false,
                "description": param.description,
                "schema": (param.schema)()
            }));
        }
        let mut content = if op.asset {
            let text = json!({ "schema": { "type": "string" } });
            json!({
                "text/html": text.clone(),
                "text/javascript": text.clone(),
                "text/css": text,
            })
        } else {
            json_content((op.response)(&mut answers).to_value())
        };
        if op.html
            && let Some(content) = content.as_object_mut()
        {
            content.insert("text/html".into(), json!({ "schema": { "type": "string" } }));
        }
        let mut responses = Map::new();
        responses.insert(
            op.status.to_string(),
            json!({ "description": op.summary, "content": content }),
        );
        if !route.is_public() {
            responses.insert(
                "401".into(),
                error_response(
                    "No valid token: refused by the gateway's JWT authorizer, or by the handler.",
                    json!({ "anyOf": [error.clone(), gateway.clone()] }),
                ),
            );
        }
        responses.insert(
            "413".into(),
            error_response(
                "The body is too large (the handler's or the gateway's limit).",
                json!({ "anyOf": [error.clone(), gateway.clone()] }),
            ),
        );
        if op.rate_limited {
            responses.insert(
                "429".into(),
                json!({
                    "description": "Too many requests: try again after `Retry-After` seconds.",
                    "headers": { "Retry-After": {
                        "description": "Seconds to wait before trying again.",
                        "schema": { "type": "integer", "minimum": 0 }
                    } },
                    "content": json_content(error.clone()),
                }),
            );
        }
        responses.insert(
            "4XX".into(),
            error_response("Refused: the error says why.", error.clone()),
        );
        responses.insert(
            "5XX".into(),
            error_response("Failed: try again shortly.", error.clone()),
        );
        let security = if route.is_public() {
            json!([])
        } else {
            json!([{ "bearer": [] }])
        };
        let mut operation = json!({
            "operationId": operation_id(route),
            "summary": op.summary,
            "security": security,
            "responses": responses,
        });
        if !parameters.is_empty() {
            operation["parameters"] = Value::Array(parameters);
        }
        if let Some(request) = op.request {
            request_bodies.push((route, request(&mut requests).to_value()));
        }
        if let Some(methods) = paths
            .entry(route.path().to_string())
            .or_insert_with(|| json!({}))
            .as_object_mut()
        {
            methods.insert(route.method().to_lowercase(), operation);
        }
    }
    let (schemas, renamed) = merge(answers.definitions(), requests.definitions());
    for (route, mut schema) in request_bodies {
        rename_refs(&mut schema, &renamed);
        paths[route.path()][route.method().to_lowercase()]["requestBody"] = json!({
            "required": true,
            "content": json_content(schema),
        });
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Neighbourhood shops API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Customers order from the shops near them; shops accept, pack and deliver. \
                Errors are `{\"error\": {\"code\", \"message\", \"field\"?}}`. The WebSocket API \
                (offers, order updates) is described at `/asyncapi.json`."
        },
        "jsonSchemaDialect": "https://spec.openapis.org/oas/3.1/dialect/base",
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "JWT",
                    "description": "A token from `POST /auth/guest` (customers) or the identity provider."
                }
            }
        }
    })
}

/// The OpenAPI 3.1 document, with `server` (this API's base URL as the
/// client reached it) as its one server.
#[must_use]
pub fn openapi(server: &str) -> Value {
    static DOCUMENT: OnceLock<Value> = OnceLock::new();
    let mut document = DOCUMENT.get_or_init(build_openapi).clone();
    let url = if server.is_empty() { "/" } else { server };
    document["servers"] = json!([{ "url": url }]);
    document
}

/// The schema `generate` makes, split into one schema per variant of its
/// internally tagged `oneOf` (named by the tag's value); the other
/// properties (a flattened enum's siblings) stay beside each variant.
fn split_by_tag(mut whole: Value, tag: &str) -> Vec<(String, Value)> {
    let branches = whole
        .as_object_mut()
        .and_then(|m| m.remove("oneOf"))
        .and_then(|b| b.as_array().cloned())
        .unwrap_or_default();
    branches
        .into_iter()
        .filter_map(|branch| {
            let name = branch["properties"][tag]["const"].as_str()?.to_string();
            let mut one = whole.clone();
            if let Some(map) = one.as_object_mut() {
                map.remove("description");
                if let Some(description) = branch.get("description") {
                    map.insert("description".into(), description.clone());
                }
                map.insert("oneOf".into(), json!([branch]));
            }
            Some((name, one))
        })
        .collect()
}

fn build_asyncapi() -> Value {
    let mut generator = SchemaSettings::draft07()
        .with(|s| {
            s.definitions_path = "/components/schemas".into();
            s.meta_schema = None;
        })
        .for_serialize()
        .into_generator();
    // Draft 7 ignores a `$ref`'s siblings: move them into an `allOf`, as the
    // generator does for the schemas it names.
    let inline = |mut schema: Schema| {
        RemoveRefSiblings::default().transform(&mut schema);
        schema.to_value()
    };
    let actions = split_by_tag(inline(ClientFrame::json_schema(&mut generator)), "action");
    let replies = split_by_tag(inline(WsReply::json_schema(&mut generator)), "type");
    let mut events = split_by_tag(inline(PushEvent::json_schema(&mut generator)), "type");
    events.extend(split_by_tag(
        inline(StorePushEvent::json_schema(&mut generator)),
        "type",
    ));
    events.extend(split_by_tag(
        inline(PromotionEvent::json_schema(&mut generator)),
        "type",
    ));
    let mut messages = Map::new();
    let mut channel_messages = Map::new();
    let mut operations = Map::new();
    let message_ref = |name: &str| json!({ "$ref": format!("#/channels/socket/messages/{name}") });
    let socket = json!({ "$ref": "#/channels/socket" });
    for (kind, list) in [("action", &actions), ("reply", &replies), ("event", &events)] {
        for (name, payload) in list {
            // A reply and an event may share a name (`accepted` is not an
            // event today); keep message names unique all the same.
            let key = if messages.contains_key(name) {
                format!("{name}_{kind}")
            } else {
                name.clone()
            };
            let summary = payload["description"].as_str().unwrap_or_default().to_string();
            messages.insert(
                key.clone(),
                json!({ "name": name, "title": name, "summary": summary, "payload": payload }),
            );
            channel_messages.insert(key.clone(), json!({ "$ref": format!("#/components/messages/{key}") }));
            if kind == "event" {
                operations.insert(
                    format!("receive_{key}"),
                    json!({
                        "action": "receive",
                        "channel": socket,
                        "summary": summary,
                        "messages": [message_ref(&key)],
                    }),
                );
            }
        }
    }
    for (name, _) in &actions {
        let reply = match name.as_str() {
            "ping" => "pong",
            "whoami" => "whoami",
            "sync" => "synced",
            _ => "accepted",
        };
        let reply_key = if channel_messages.contains_key(&format!("{reply}_reply")) {
            format!("{reply}_reply")
        } else {
            reply.to_string()
        };
        operations.insert(
            format!("send_{name}"),
            json!({
                "action": "send",
                "channel": socket,
                "summary": messages[name.as_str()]["summary"],
                "messages": [message_ref(name)],
                "reply": {
                    "channel": socket,
                    "messages": [message_ref(&reply_key), message_ref("error")],
                },
            }),
        );
    }
    json!({
        "asyncapi": "3.0.0",
        "info": {
            "title": "Neighbourhood shops WebSocket API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Offers to stores and order updates to customers, pushed as they happen; \
                a store may also accept an offer over the socket. Every pushed event carries \
                `event_id` and the order's `version` (`stock_changed`: the stock's, in `stock`): \
                drop duplicates and anything older than what you have. The HTTP API is described at `/openapi.json`."
        },
        "defaultContentType": "application/json",
        "servers": {
            "aws": {
                "host": "{api_id}.execute-api.{region}.amazonaws.com",
                "pathname": "/{stage}",
                "protocol": "wss",
                "description": "API Gateway WebSocket API.",
                "variables": {
                    "api_id": { "description": "The WebSocket API's id." },
                    "region": { "default": "ap-southeast-1" },
                    "stage": { "default": "prod" }
                },
                "security": [{ "$ref": "#/components/securitySchemes/token" }]
            },
            "local": {
                "host": "127.0.0.1:8080",
                "pathname": "/ws",
                "protocol": "ws",
                "description": "The local stack (`cargo run -p local-stack`).",
                "security": [{ "$ref": "#/components/securitySchemes/token" }]
            }
        },
        "channels": {
            "socket": {
                "address": null,
                "title": "The socket",
                "description": "One connection per device, opened with `?token=<JWT>`; every frame is a JSON text frame.",
                "messages": channel_messages,
                "bindings": {
                    "ws": {
                        "query": {
                            "type": "object",
                            "properties": { "token": { "type": "string", "description": "The caller's JWT." } },
                            "required": ["token"]
                        }
                    }
                }
            }
        },
        "operations": operations,
        "components": {
            "schemas": generator.definitions(),
            "messages": messages,
            "securitySchemes": {
                "token": {
                    "type": "httpApiKey",
                    "name": "token",
                    "in": "query",
                    "description": "The same JWT as the HTTP API's bearer token; a bad or missing token refuses the handshake with 401, and a store that is pending approval or suspended is refused with 403."
                }
            }
        }
    })
}

/// The AsyncAPI 3.0 document of the WebSocket API.
#[must_use]
pub fn asyncapi() -> Value {
    static DOCUMENT: OnceLock<Value> = OnceLock::new();
    DOCUMENT.get_or_init(build_asyncapi).clone()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    /// Every `$ref` in `value`.
    fn refs<'a>(value: &'a Value, out: &mut Vec<&'a str>) {
        match value {
            Value::Object(map) => {
                for (key, v) in map {
                    match (key.as_str(), v) {
                        ("$ref", Value::String(reference)) => out.push(reference),
                        _ => refs(v, out),
                    }
                }
            }
            Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
            _ => {}
        }
    }

    /// Every `$ref` is a JSON pointer into the document that names something.
    fn assert_refs_resolve(document: &Value) {
        let mut found = Vec::new();
        refs(document, &mut found);
        assert!(!found.is_empty());
        for reference in found {
            let pointer = reference
                .strip_prefix('#')
                .unwrap_or_else(|| panic!("{reference} is not local"));
            assert!(document.pointer(pointer).is_some(), "{reference} does not resolve");
        }
    }

    #[test]
    fn the_openapi_paths_are_exactly_the_route_table() {
        let document = openapi("https://api.example/prod");
        assert!(document["openapi"].as_str().is_some_and(|v| v.starts_with("3.1.")));
        assert_eq!(document["servers"][0]["url"], "https://api.example/prod");
        let mut described = BTreeSet::new();
        for (path, methods) in document["paths"].as_object().expect("paths") {
            for (method, operation) in methods.as_object().expect("methods") {
                described.insert(format!("{} {path}", method.to_uppercase()));
                assert!(operation["responses"].as_object().is_some_and(|r| !r.is_empty()));
            }
        }
        let routed: BTreeSet<String> = HttpRoute::ALL.iter().map(|r| r.key().to_string()).collect();
        assert_eq!(described, routed);
        for route in HttpRoute::ALL {
            let operation = &document["paths"][route.path()][route.method().to_lowercase()];
            let security = operation["security"].as_array().expect("security");
            assert_eq!(security.is_empty(), route.is_public(), "{}", route.key());
            let op = super::operation(*route);
            let media = if op.asset { "text/html" } else { "application/json" };
            let status = op.status.to_string();
            assert!(operation["responses"][&status]["content"][media]["schema"].is_object());
            for name in path_params(route.path()) {
                let declared = operation["parameters"]
                    .as_array()
                    .is_some_and(|p| p.iter().any(|p| p["name"] == name && p["in"] == "path"));
                assert!(declared, "{} declares {name}", route.key());
            }
        }
        assert_refs_resolve(&document);
    }

    #[test]
    fn every_change_declares_the_retry_header_the_server_reads() {
        let document = openapi("https://api.example/prod");
        let header = |route: &HttpRoute, name: &str| {
            document["paths"][route.path()][route.method().to_lowercase()]["parameters"]
                .as_array()
                .and_then(|p| p.iter().find(|p| p["name"] == name && p["in"] == "header"))
                .cloned()
        };
        for route in HttpRoute::ALL {
            let changes = !route.is_public() && route.method() != "GET";
            assert_eq!(header(route, "Idempotency-Key").is_some(), changes, "{}", route.key());
        }
        // The pattern says what the server takes as a key.
        let key = header(&HttpRoute::PlaceOrder, "Idempotency-Key").expect("declared");
        let pattern = jsonschema::validator_for(&key["schema"]).expect("a schema");
        for raw in [
            "0b6f6a3e-9d1c-4d55-8f0a-3c1d2e4f5a6b",
            "abcdefgh",
            "short",
            "has space 1",
            &"k".repeat(65),
        ] {
            assert_eq!(
                pattern.is_valid(&json!(raw)),
                crate::domain::idempotency::IdempotencyKey::new(raw).is_ok(),
                "{raw}"
            );
        }
        let guest = &document["paths"][HttpRoute::GuestToken.path()]["post"];
        assert!(header(&HttpRoute::GuestToken, "X-Device-Id").is_some());
        assert!(
            guest["responses"]["429"].is_object(),
            "guests are limited per network and device"
        );
    }

    #[test]
    fn the_asyncapi_document_has_every_action_reply_and_event() {
        let document = asyncapi();
        assert_eq!(document["asyncapi"], "3.0.0");
        assert_refs_resolve(&document);
        let channel_messages = document["channels"]["socket"]["messages"]
            .as_object()
            .expect("messages");
        let operations = document["operations"].as_object().expect("operations");
        // Every operation names the channel, and only that channel's messages.
        for (name, operation) in operations {
            assert_eq!(operation["channel"]["$ref"], "#/channels/socket", "{name}");
            let mut named = operation["messages"].as_array().cloned().unwrap_or_default();
            named.extend(operation["reply"]["messages"].as_array().cloned().unwrap_or_default());
            assert!(!named.is_empty(), "{name}");
            for message in named {
                let reference = message["$ref"].as_str().unwrap_or_default();
                let key = reference
                    .strip_prefix("#/channels/socket/messages/")
                    .unwrap_or_default();
                assert!(channel_messages.contains_key(key), "{name}: {reference}");
            }
        }
        // Every action with an answer is a send operation.
        for action in super::super::ws::WS_ROUTES_WITH_RESPONSE
            .iter()
            .filter(|r| !r.starts_with('$'))
        {
            assert_eq!(operations[&format!("send_{action}")]["action"], "send", "{action}");
        }
        let events = [
            "offer",
            "offer_taken",
            "offer_expired",
            "offer_withdrawn",
            "offer_won",
            "order_searching",
            "order_accepted",
            "order_unfulfilled",
            "order_cancelled",
            "order_updated",
            "review_requested",
            "store_order_updated",
            "stock_changed",
            "promotion_received",
        ];
        for event in events {
            assert_eq!(operations[&format!("receive_{event}")]["action"], "receive", "{event}");
        }
        assert_eq!(operations.len(), events.len() + 4);
        for reply in ["pong", "whoami_reply", "synced", "accepted", "error"] {
            assert!(channel_messages.contains_key(reply), "{reply}");
        }
        let meta = jsonschema::draft7::meta::validator();
        for (name, message) in document["components"]["messages"].as_object().expect("messages") {
            assert!(meta.is_valid(&message["payload"]), "{name}");
        }
    }

    #[test]
    fn every_schema_is_a_valid_2020_12_schema() {
        let document = openapi("");
        let meta = jsonschema::draft202012::meta::validator();
        for (name, schema) in document["components"]["schemas"].as_object().expect("schemas") {
            assert!(meta.is_valid(schema), "{name}: {schema}");
        }
    }

    #[test]
    fn a_structured_line_s_amount_is_documented_as_the_server_reads_it() {
        let document = openapi("");
        let schema = &document["components"]["schemas"]["DemandLineInput"];
        let validator = jsonschema::validator_for(schema).expect("a schema");
        for amount in [json!("2"), json!("১.৫"), json!(" 0.5 "), json!(2), json!(null)] {
            assert!(
                validator.is_valid(&json!({"name": "rice", "amount": amount})),
                "{amount}"
            );
        }
        for amount in [json!("two"), json!("2 kg"), json!(true)] {
            assert!(
                !validator.is_valid(&json!({"name": "rice", "amount": amount})),
                "{amount}"
            );
        }
    }
}
