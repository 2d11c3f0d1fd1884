//! The local gateway behaves like API Gateway's WebSocket API.

use crate::common;

use std::time::Duration;

use common::{LONG, SHORT, Socket, stack};
use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use shared::domain::config::OrderingConfig;
use tokio_tungstenite::connect_async;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_without_identity_is_refused_with_401_and_a_bad_token_with_403() {
    let stack = stack(OrderingConfig::default()).await;
    let refused = connect_async(stack.ws_url()).await.expect_err("handshake refused");
    match refused {
        tokio_tungstenite::tungstenite::Error::Http(response) => assert_eq!(response.status(), 401),
        other => panic!("expected an HTTP refusal, got {other}"),
    }
    // A token API Gateway passes to the authorizer, which denies it: 403.
    let bad = connect_async(format!("{}?token=forged", stack.ws_url()))
        .await
        .expect_err("refused");
    assert!(matches!(bad, tokio_tungstenite::tungstenite::Error::Http(r) if r.status() == 403));
    // A good token in a header is not where API Gateway's identity source
    // looks (the `token` parameter): 401, as there.
    let mut request = stack.ws_url().into_client_request().expect("request");
    let header = format!("Bearer {}", common::token_for(&stack.issuer(), "customer:c1"));
    request
        .headers_mut()
        .insert("authorization", header.parse().expect("header value"));
    let in_header = connect_async(request).await.expect_err("refused");
    assert!(matches!(in_header, tokio_tungstenite::tungstenite::Error::Http(r) if r.status() == 401));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn actions_route_by_their_action_field_and_errors_keep_the_socket_open() {
    let stack = stack(OrderingConfig::default()).await;
    let mut socket = Socket::connect(&stack, "customer:c1").await;
    socket.send(json!({"action": "ping"})).await;
    assert_eq!(socket.expect("pong", LONG).await["type"], "pong");
    socket.send(json!({"action": "dance"})).await;
    let error = socket.expect("error", LONG).await;
    assert_eq!(error["code"], "unknown_action");
    socket
        .stream
        .send(Message::Text("not json".into()))
        .await
        .expect("sent");
    assert_eq!(socket.expect("error", LONG).await["code"], "invalid_json");
    // A customer may not accept.
    socket.send(json!({"action": "accept", "order_id": "x"})).await;
    assert_eq!(socket.expect("error", LONG).await["code"], "forbidden");
    socket.send(json!({"action": "ping"})).await;
    socket.expect("pong", LONG).await;
    // A store's accept frame is read as the HTTP route reads it: an id no
    // order can have, or a field of the wrong type, is named.
    let mut store = Socket::connect(&stack, "store:s1").await;
    store
        .send(json!({"action": "accept", "order_id": "x".repeat(65)}))
        .await;
    let error = store.expect("error", LONG).await;
    assert_eq!(
        (&error["code"], &error["field"], &error["order_id"]),
        (&json!("invalid_id"), &json!("order_id"), &json!("x".repeat(65))),
        "the refusal names the order the frame named: {error}"
    );
    // An order that exists nowhere: refused, and said which.
    let unknown = "01KAW000000000000000000000";
    store.send(json!({"action": "accept", "order_id": unknown})).await;
    let error = store.expect("error", LONG).await;
    assert_eq!(error["order_id"], unknown, "{error}");
    // A bad key is the frame's field, not a header.
    store
        .send(json!({"action": "accept", "order_id": unknown, "idempotency_key": "x"}))
        .await;
    let error = store.expect("error", LONG).await;
    assert_eq!(
        (&error["code"], &error["field"]),
        (&json!("invalid_idempotency_key"), &json!("idempotency_key")),
        "{error}"
    );
    store.send(json!({"action": "accept", "order_id": 7})).await;
    let error = store.expect("error", LONG).await;
    assert_eq!(
        (&error["code"], &error["field"]),
        (&json!("invalid_body"), &json!("order_id")),
        "{error}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_frame_closes_only_that_socket() {
    let stack = stack(OrderingConfig::default()).await;
    let mut big = Socket::connect(&stack, "customer:big").await;
    let mut other = Socket::connect(&stack, "customer:other").await;
    let frame = json!({"action": "ping", "pad": "x".repeat(40 * 1024)}).to_string();
    let _ = big.stream.send(Message::Text(frame.into())).await;
    let closed = tokio::time::timeout(LONG, async {
        while let Some(message) = big.stream.next().await {
            match message {
                Ok(Message::Close(frame)) => return frame.map(|f| f.code),
                Ok(_) => {}
                Err(_) => return None,
            }
        }
        None
    })
    .await
    .expect("closed in time");
    assert_eq!(closed, Some(CloseCode::Size));
    other.send(json!({"action": "ping"})).await;
    other.expect("pong", LONG).await;
    other.expect_silence(SHORT).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_sockets_are_closed_after_the_idle_timeout() {
    let stack = common::stack_with(local_stack::LocalOptions {
        sockets: local_stack::SocketLimits {
            idle_timeout: Duration::from_millis(400),
            ..local_stack::SocketLimits::default()
        },
        ..local_stack::LocalOptions::default()
    })
    .await;
    let mut socket = Socket::connect(&stack, "customer:c1").await;
    let closed = tokio::time::timeout(LONG, socket.stream.next())
        .await
        .expect("closed in time");
    match closed {
        Some(Ok(Message::Close(Some(frame)))) => assert_eq!(frame.code, CloseCode::Away),
        other => panic!("expected a close frame, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_socket_is_closed_when_its_lifetime_ends_and_told_why() {
    let lifetime = Duration::from_millis(800);
    let stack = common::stack_with(local_stack::LocalOptions {
        sockets: local_stack::SocketLimits {
            max_connection_age: lifetime,
            ..local_stack::SocketLimits::default()
        },
        ..local_stack::LocalOptions::default()
    })
    .await;
    // Before the upgrade, so the socket's lifetime starts after it.
    let opened = std::time::Instant::now();
    let mut socket = Socket::connect(&stack, "customer:c1").await;
    // Traffic keeps the idle timeout away; only the lifetime can end it.
    let closed = tokio::time::timeout(LONG, async {
        loop {
            let ping = json!({ "action": "ping" }).to_string();
            if socket.stream.send(Message::Text(ping.into())).await.is_err() {
                return None;
            }
            // A frame each 100 ms, well within the frame rate.
            let next_ping = tokio::time::Instant::now() + Duration::from_millis(100);
            while let Ok(frame) = tokio::time::timeout_at(next_ping, socket.stream.next()).await {
                match frame {
                    Some(Ok(Message::Close(frame))) => return frame,
                    Some(Ok(_)) => {}
                    other => panic!("expected a close frame, got {other:?}"),
                }
            }
        }
    })
    .await
    .expect("closed in time")
    .expect("a close frame");
    assert!(opened.elapsed() >= lifetime, "closed after {:?}", opened.elapsed());
    assert_eq!(closed.code, CloseCode::Away);
    assert_eq!(closed.reason.as_str(), "Connection lifetime exceeded");
}
