//! API Gateway events as AWS sends them, built from local requests. They are
//! assembled as JSON and deserialised into the `aws_lambda_events` types, so
//! the handlers see exactly what they would see on Lambda.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use aws_lambda_events::event::apigw::{
    ApiGatewayCustomAuthorizerRequestTypeRequest, ApiGatewayV2httpRequest, ApiGatewayWebsocketProxyRequest,
};
use http::HeaderMap;
use serde_json::{Map, Value, json};

/// The stage name the local gateway reports.
pub const STAGE: &str = "local";
/// The API id the local gateway reports.
pub const API_ID: &str = "local";

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(0))
}

pub fn request_id() -> String {
    ulid::Ulid::new().to_string()
}

/// Headers lower-cased with repeated values comma-joined (HTTP API 2.0).
fn joined_headers(headers: &HeaderMap) -> Map<String, Value> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (name, value) in headers {
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        out.entry(name.as_str().to_lowercase()).or_default().push(value);
    }
    out.into_iter().map(|(k, v)| (k, Value::String(v.join(",")))).collect()
}

/// API Gateway tells the function how the client connected; the local
/// gateway speaks plain HTTP.
fn forwarded(mut headers: Map<String, Value>) -> Map<String, Value> {
    headers.insert("x-forwarded-proto".into(), Value::String("http".into()));
    headers
}

fn query_map(raw: &str) -> Option<Map<String, Value>> {
    if raw.is_empty() {
        return None;
    }
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for pair in raw.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        out.entry(percent_decode(k)).or_default().push(percent_decode(v));
    }
    Some(out.into_iter().map(|(k, v)| (k, Value::String(v.join(",")))).collect())
}

/// Decodes `%XX` and `+` in a query component; invalid escapes stay as typed.
pub fn percent_decode(raw: &str) -> String {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = raw.get(i + 1..i + 3).and_then(|h| u8::from_str_radix(h, 16).ok());
                match hex {
                    Some(b) => {
                        out.push(b);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The parts of an HTTP request the event needs.
pub struct HttpParts<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub raw_query: &'a str,
    pub headers: &'a HeaderMap,
    pub body: Option<String>,
    pub base64_body: bool,
    pub route_key: &'a str,
    pub path_parameters: Map<String, Value>,
    pub source_ip: SocketAddr,
    pub domain: &'a str,
    /// The JWT authorizer's verified claims, on protected routes.
    pub claims: Option<Map<String, Value>>,
}

/// An HTTP API payload format 2.0 event.
pub fn http_event(parts: HttpParts<'_>) -> Result<ApiGatewayV2httpRequest, serde_json::Error> {
    let user_agent = parts
        .headers
        .get(http::header::USER_AGENT)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .unwrap_or_default();
    let cookies: Vec<String> = parts
        .headers
        .get_all(http::header::COOKIE)
        .iter()
        .flat_map(|v| {
            String::from_utf8_lossy(v.as_bytes())
                .split("; ")
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .collect();
    let now = now_ms();
    let mut event = json!({
        "version": "2.0",
        "routeKey": parts.route_key,
        "rawPath": parts.path,
        "rawQueryString": parts.raw_query,
        "headers": forwarded(joined_headers(parts.headers)),
        "isBase64Encoded": parts.base64_body,
        "requestContext": {
            "accountId": "000000000000",
            "apiId": API_ID,
            "domainName": parts.domain,
            "domainPrefix": parts.domain.split('.').next().unwrap_or_default(),
            "http": {
                "method": parts.method,
                "path": parts.path,
                "protocol": "HTTP/1.1",
                "sourceIp": parts.source_ip.ip().to_string(),
                "userAgent": user_agent,
            },
            "requestId": request_id(),
            "routeKey": parts.route_key,
            "stage": "$default",
            "time": "",
            "timeEpoch": now,
        },
    });
    if let Some(obj) = event.as_object_mut() {
        if !cookies.is_empty() {
            obj.insert("cookies".into(), json!(cookies));
        }
        if let Some(q) = query_map(parts.raw_query) {
            obj.insert("queryStringParameters".into(), Value::Object(q));
        }
        if !parts.path_parameters.is_empty() {
            obj.insert("pathParameters".into(), Value::Object(parts.path_parameters));
        }
        if let Some(body) = parts.body {
            obj.insert("body".into(), Value::String(body));
        }
        if let (Some(claims), Some(context)) = (
            parts.claims,
            obj.get_mut("requestContext").and_then(Value::as_object_mut),
        ) {
            context.insert(
                "authorizer".into(),
                json!({ "jwt": { "claims": claims, "scopes": null } }),
            );
        }
    }
    serde_json::from_value(event)
}

/// What a WebSocket event is about.
pub enum WsKind<'a> {
    Connect { headers: &'a HeaderMap, raw_query: &'a str },
    Message { route_key: &'a str, body: String },
    Disconnect { status_code: u16, reason: &'a str },
}

/// A WebSocket API event for `$connect`, a message route or `$disconnect`.
pub fn ws_event(
    kind: WsKind<'_>,
    connection_id: &str,
    connected_at: i64,
    source_ip: SocketAddr,
    domain: &str,
    authorizer: Option<&Value>,
) -> Result<ApiGatewayWebsocketProxyRequest, serde_json::Error> {
    let (route_key, event_type) = match &kind {
        WsKind::Connect { .. } => ("$connect", "CONNECT"),
        WsKind::Message { route_key, .. } => (*route_key, "MESSAGE"),
        WsKind::Disconnect { .. } => ("$disconnect", "DISCONNECT"),
    };
    let mut context = json!({
        "routeKey": route_key,
        "eventType": event_type,
        "extendedRequestId": request_id(),
        "requestTime": "",
        "messageDirection": "IN",
        "stage": STAGE,
        "connectedAt": connected_at,
        "requestTimeEpoch": now_ms(),
        "identity": { "sourceIp": source_ip.ip().to_string() },
        "requestId": request_id(),
        "domainName": domain,
        "connectionId": connection_id,
        "apiId": API_ID,
    });
    let mut event = Map::new();
    match kind {
        WsKind::Connect { headers, raw_query } => {
            let mut multi: BTreeMap<String, Vec<String>> = BTreeMap::new();
            let mut single = Map::new();
            for (name, value) in headers {
                let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
                multi.entry(name.as_str().to_string()).or_default().push(value.clone());
                single.insert(name.as_str().to_string(), Value::String(value));
            }
            event.insert("headers".into(), Value::Object(single));
            event.insert("multiValueHeaders".into(), json!(multi));
            if let Some(q) = query_map(raw_query) {
                event.insert("queryStringParameters".into(), Value::Object(q));
            }
            event.insert("isBase64Encoded".into(), Value::Bool(false));
        }
        WsKind::Message { body, .. } => {
            if let Some(ctx) = context.as_object_mut() {
                ctx.insert("messageId".into(), Value::String(request_id()));
            }
            event.insert("body".into(), Value::String(body));
            event.insert("isBase64Encoded".into(), Value::Bool(false));
        }
        WsKind::Disconnect { status_code, reason } => {
            if let Some(ctx) = context.as_object_mut() {
                ctx.insert("disconnectStatusCode".into(), json!(status_code));
                ctx.insert("disconnectReason".into(), json!(reason));
            }
            event.insert("isBase64Encoded".into(), Value::Bool(false));
        }
    }
    if let (Some(authorizer), Some(ctx)) = (authorizer, context.as_object_mut()) {
        ctx.insert("authorizer".into(), authorizer.clone());
    }
    event.insert("requestContext".into(), context);
    serde_json::from_value(Value::Object(event))
}

/// The REQUEST authorizer event for a `$connect`.
pub fn authorizer_event(
    headers: &HeaderMap,
    raw_query: &str,
    connection_id: &str,
    domain: &str,
) -> Result<ApiGatewayCustomAuthorizerRequestTypeRequest, serde_json::Error> {
    let mut single = Map::new();
    for (name, value) in headers {
        single.insert(
            name.as_str().to_string(),
            Value::String(String::from_utf8_lossy(value.as_bytes()).into_owned()),
        );
    }
    let mut event = json!({
        "type": "REQUEST",
        "methodArn": format!("arn:aws:execute-api:local:000000000000:{API_ID}/{STAGE}/$connect"),
        "headers": single,
        "requestContext": {
            "routeKey": "$connect",
            "eventType": "CONNECT",
            "stage": STAGE,
            "connectionId": connection_id,
            "domainName": domain,
            "apiId": API_ID,
            "requestId": request_id(),
        },
    });
    if let (Some(q), Some(obj)) = (query_map(raw_query), event.as_object_mut()) {
        obj.insert("queryStringParameters".into(), Value::Object(q));
    }
    serde_json::from_value(event)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_query_components() {
        assert_eq!(percent_decode("store%3As1"), "store:s1");
        assert_eq!(percent_decode("a+b"), "a b");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz"), "%zz");
    }
}
