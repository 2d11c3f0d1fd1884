//! Hostile clients against the local gateway itself: malformed WebSocket
//! frames get the close code RFC 6455 assigns, and `@connections` refuses
//! calls not signed with the stack's credentials.

use crate::common;

use aws_sdk_apigatewaymanagement::error::SdkError;
use common::{Api, LONG, Socket, stack, token_for};
use local_stack::{Credentials, LocalOptions, RunningStack, SocketLimits};
use serde_json::json;
use shared::domain::config::OrderingConfig;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

// ---- raw WebSocket frames ---------------------------------------------------

/// A socket opened by hand, so that frames no client library would send can
/// be written.
async fn raw_socket(stack: &RunningStack, caller: &str) -> TcpStream {
    let mut tcp = TcpStream::connect(stack.addr).await.expect("tcp connects");
    let request = format!(
        "GET /ws?token={} HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
        token_for(&stack.issuer(), caller),
        stack.addr
    );
    tcp.write_all(request.as_bytes()).await.expect("handshake sent");
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0_u8; 1];
        let read = tcp.read(&mut byte).await.expect("handshake read");
        assert_eq!(read, 1, "the gateway closed during the handshake");
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head);
    assert!(head.starts_with("HTTP/1.1 101"), "upgraded: {head}");
    tcp
}

/// A client frame: `first` is FIN/RSV/opcode, the payload masked with a
/// fixed key unless `masked` is false.
fn frame(first: u8, payload: &[u8], masked: bool) -> Vec<u8> {
    let mask_bit = if masked { 0x80 } else { 0 };
    let mut out = vec![first];
    match payload.len() {
        n if n < 126 => out.push(mask_bit | u8::try_from(n).expect("small")),
        n => {
            out.push(mask_bit | 126);
            out.extend_from_slice(&u16::try_from(n).expect("under 64 KiB").to_be_bytes());
        }
    }
    let key = [0x12, 0x34, 0x56, 0x78];
    if masked {
        out.extend_from_slice(&key);
        out.extend(payload.iter().zip(key.iter().cycle()).map(|(b, k)| b ^ k));
    } else {
        out.extend_from_slice(payload);
    }
    out
}

/// One server frame: its opcode and payload; None once the connection
/// ends (EOF or reset).
async fn read_frame(tcp: &mut TcpStream) -> Option<(u8, Vec<u8>)> {
    let mut head = [0_u8; 2];
    tcp.read_exact(&mut head).await.ok()?;
    let len = match head[1] & 0x7f {
        126 => {
            let mut n = [0_u8; 2];
            tcp.read_exact(&mut n).await.ok()?;
            usize::from(u16::from_be_bytes(n))
        }
        127 => {
            let mut n = [0_u8; 8];
            tcp.read_exact(&mut n).await.ok()?;
            usize::try_from(u64::from_be_bytes(n)).ok()?
        }
        n => usize::from(n),
    };
    let mut payload = vec![0_u8; len];
    tcp.read_exact(&mut payload).await.ok()?;
    Some((head[0] & 0x0f, payload))
}

/// Reads server frames until a close frame; its code, or None if the
/// connection ended without one.
async fn close_code(tcp: &mut TcpStream) -> Option<u16> {
    tokio::time::timeout(LONG, async {
        loop {
            let (opcode, payload) = read_frame(tcp).await?;
            if opcode == 0x8 {
                return Some(u16::from_be_bytes([*payload.first()?, *payload.get(1)?]));
            }
        }
    })
    .await
    .expect("the gateway answers within the wait")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn protocol_errors_close_with_the_rfc_6455_codes() {
    let stack = stack(OrderingConfig::default()).await;
    let cases: Vec<(&str, Vec<u8>, u16)> = vec![
        (
            "text that is not UTF-8",
            frame(0x81, &[0x7b, 0xff, 0xfe, 0x7d], true),
            1007,
        ),
        ("an unknown data opcode", frame(0x83, b"{}", true), 1002),
        ("an unknown control opcode", frame(0x8b, b"", true), 1002),
        ("RSV1 set without an extension", frame(0xc1, b"{}", true), 1002),
        (
            "an unmasked client frame",
            frame(0x81, br#"{"action":"ping"}"#, false),
            1002,
        ),
        ("a ping over 125 bytes", frame(0x89, &[b'p'; 200], true), 1002),
        ("a fragmented ping", frame(0x09, b"p", true), 1002),
        (
            "a frame over 32 KB",
            frame(0x81, "x".repeat(40 * 1024).as_bytes(), true),
            1009,
        ),
    ];
    for (what, bytes, expected) in cases {
        let mut tcp = raw_socket(&stack, "customer:raw").await;
        tcp.write_all(&bytes).await.expect("frame written");
        assert_eq!(close_code(&mut tcp).await, Some(expected), "{what}");
    }
    // A well-formed frame over the same raw path is answered, not closed.
    let mut tcp = raw_socket(&stack, "customer:raw").await;
    tcp.write_all(&frame(0x81, br#"{"action":"ping"}"#, true))
        .await
        .expect("frame written");
    tcp.write_all(&frame(0x88, &1000_u16.to_be_bytes(), true))
        .await
        .expect("close written");
    assert_eq!(close_code(&mut tcp).await, Some(1000), "a clean close is echoed");
}

// ---- @connections needs a signature -----------------------------------------

fn management_client(stack: &RunningStack, credentials: Credentials) -> aws_sdk_apigatewaymanagement::Client {
    let config = aws_sdk_apigatewaymanagement::Config::builder()
        .behavior_version(aws_sdk_apigatewaymanagement::config::BehaviorVersion::latest())
        .region(aws_sdk_apigatewaymanagement::config::Region::new("us-east-1"))
        .credentials_provider(credentials)
        .endpoint_url(stack.management_url())
        .build();
    aws_sdk_apigatewaymanagement::Client::from_conf(config)
}

/// Status and `x-amzn-ErrorType` of a refused SDK call.
fn refusal<E>(error: &SdkError<E, aws_sdk_apigatewaymanagement::config::http::HttpResponse>) -> (u16, String) {
    let response = error.raw_response().expect("the gateway answered");
    let error_type = response
        .headers()
        .get("x-amzn-ErrorType")
        .unwrap_or_default()
        .to_string();
    (response.status().as_u16(), error_type)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_calls_must_be_signed_with_the_stack_credentials() {
    let stack = stack(OrderingConfig::default()).await;
    let api = Api::new(&stack);
    api.put_store("s1", "One", 0.0, 500.0, "grocery", &["rice"]).await;
    let mut store = Socket::connect(&stack, "store:s1").await;
    store.send(json!({"action": "whoami"})).await;
    let me = store.expect("whoami", LONG).await;
    let id = me["connection_id"].as_str().expect("id").to_string();
    let url = format!("{}/@connections/{id}", stack.management_url());

    // No signature at all: push, read and close are all refused.
    let http = reqwest::Client::new();
    let forged_offer = json!({"type": "offer", "offer": {"order_id": "forged"}}).to_string();
    for (method, body) in [
        ("POST", forged_offer.clone()),
        ("GET", String::new()),
        ("DELETE", String::new()),
    ] {
        let response = http
            .request(reqwest::Method::from_bytes(method.as_bytes()).expect("method"), &url)
            .body(body)
            .send()
            .await
            .expect("answered");
        assert_eq!(response.status().as_u16(), 403, "unsigned {method}");
        assert_eq!(
            response.headers().get("x-amzn-ErrorType").and_then(|v| v.to_str().ok()),
            Some("MissingAuthenticationTokenException"),
            "unsigned {method}"
        );
        let text = response.text().await.expect("body");
        assert!(!text.contains("127.0.0.1"), "no source address leaks: {text}");
    }
    // A made-up header is not a signature either.
    let response = http
        .post(&url)
        .header(
            "authorization",
            "AWS4-HMAC-SHA256 Credential=test/20240101/us-east-1/execute-api/aws4_request, \
             SignedHeaders=host, Signature=00",
        )
        .header("x-amz-date", "20240101T000000Z")
        .body(forged_offer.clone())
        .send()
        .await
        .expect("answered");
    assert_eq!(response.status().as_u16(), 403);

    // Signed, but with a guessed secret or an unknown key.
    let real = stack.management_credentials();
    let guessed = Credentials::new(real.access_key_id(), "guessed-secret", None, None, "test");
    let stranger = Credentials::new("AKIDSTRANGER", "whatever", None, None, "test");
    for (who, credentials, error_type) in [
        ("a guessed secret", guessed, "InvalidSignatureException"),
        ("an unknown key", stranger, "UnrecognizedClientException"),
    ] {
        let client = management_client(&stack, credentials);
        let push = client
            .post_to_connection()
            .connection_id(&id)
            .data(forged_offer.as_bytes().to_vec().into())
            .send()
            .await
            .expect_err("refused");
        assert_eq!(refusal(&push), (403, error_type.to_string()), "push with {who}");
        let read = client
            .get_connection()
            .connection_id(&id)
            .send()
            .await
            .expect_err("refused");
        assert_eq!(refusal(&read).0, 403, "read with {who}");
        let delete = client
            .delete_connection()
            .connection_id(&id)
            .send()
            .await
            .expect_err("refused");
        assert_eq!(refusal(&delete).0, 403, "close with {who}");
    }

    // The stack's own pusher passes (on the endpoint backend the offer
    // comes through @connections), and nothing forged came before it.
    let created = api.order("c1", "2 kg rice").await;
    assert_eq!(created.status, 201, "{}", created.text);
    let offer = store.expect("offer", LONG).await;
    assert_eq!(offer["offer"]["order_id"], created.body["order_id"]);
    assert_eq!(store.seen.len(), 2, "only whoami and the real offer: {:?}", store.seen);

    // A client signing with the stack's credentials reads, pushes, closes.
    let client = management_client(&stack, real);
    let info = client
        .get_connection()
        .connection_id(&id)
        .send()
        .await
        .expect("signed read");
    assert_eq!(
        info.identity().and_then(|i| i.source_ip()),
        Some("127.0.0.1"),
        "signed reads see the source address"
    );
    client
        .post_to_connection()
        .connection_id(&id)
        .data(br#"{"type":"signed"}"#.to_vec().into())
        .send()
        .await
        .expect("signed push");
    // A test frame no API message describes: read without the spec check.
    let pushed = store.next_raw(LONG).await.expect("the signed push arrives");
    assert_eq!(pushed["type"], "signed");
    client
        .delete_connection()
        .connection_id(&id)
        .send()
        .await
        .expect("signed close");
    assert!(store.next(LONG).await.is_none(), "closed by the signed DELETE");
}

// ---- bounded memory under floods --------------------------------------------

/// Waits until the gateway holds no socket (a closed one leaves nothing in
/// its registry); the wait is for the close to be processed, not a speed
/// bound.
async fn until_no_socket_is_held(stack: &RunningStack) {
    let deadline = tokio::time::Instant::now() + LONG;
    while stack.open_sockets() > 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{} sockets still held",
            stack.open_sockets()
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_socket_flooding_frames_without_reading_is_closed_and_forgotten() {
    let stack = stack(OrderingConfig::default()).await;
    let limits = SocketLimits::default();
    let mut flood = raw_socket(&stack, "customer:flood").await;
    let whoami = frame(0x81, br#"{"action":"whoami"}"#, true);
    // The issue's flood: whoami frames as fast as the socket takes them,
    // nothing read. 1,000 frames a write, up to a million frames.
    let batch = whoami.repeat(1000);
    let mut sent = 0_usize;
    while sent < 1_000_000 {
        if flood.write_all(&batch).await.is_err() {
            break;
        }
        sent += 1000;
    }
    assert!(sent < 1_000_000, "the gateway stopped the flood (sent {sent} frames)");
    // What the client can still read: route responses, then 1008 if the
    // close frame got through before the reset.
    let mut code = None;
    while let Ok(Some((opcode, payload))) = tokio::time::timeout(LONG, read_frame(&mut flood)).await {
        if opcode == 0x8 {
            code = payload.get(..2).map(|c| u16::from_be_bytes([c[0], c[1]]));
            break;
        }
    }
    eprintln!("flood: {sent} frames written before the gateway closed; close code read: {code:?}");
    assert!(matches!(code, None | Some(1008)), "closed for policy: {code:?}");
    until_no_socket_is_held(&stack).await;

    // A client within the rate keeps its socket, and others are unharmed.
    let mut calm = Socket::connect(&stack, "customer:calm").await;
    for _ in 0..limits.frame_burst / 2 {
        calm.send(json!({"action": "ping"})).await;
    }
    for _ in 0..limits.frame_burst / 2 {
        calm.expect("pong", LONG).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_socket_over_the_frame_rate_gets_close_code_1008() {
    // One frame a second after a burst of 20: 100 frames written at once
    // are over it unless the gateway took 80 s to read them.
    let stack = common::stack_with(LocalOptions {
        sockets: SocketLimits {
            frames_per_second: 1,
            frame_burst: 20,
            ..SocketLimits::default()
        },
        ..LocalOptions::default()
    })
    .await;
    let mut fast = raw_socket(&stack, "customer:fast").await;
    fast.write_all(&frame(0x81, br#"{"action":"ping"}"#, true).repeat(100))
        .await
        .expect("sent");
    assert_eq!(close_code(&mut fast).await, Some(1008));
    until_no_socket_is_held(&stack).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pushes_to_a_socket_that_never_reads_are_bounded_then_gone() {
    let limits = SocketLimits {
        max_queued_bytes: 256 * 1024,
        ..SocketLimits::default()
    };
    let stack = common::stack_with(LocalOptions {
        sockets: limits,
        ..LocalOptions::default()
    })
    .await;
    let mut sleeper = raw_socket(&stack, "customer:sleeper").await;
    sleeper
        .write_all(&frame(0x81, br#"{"action":"whoami"}"#, true))
        .await
        .expect("sent");
    let (_, me) = read_frame(&mut sleeper).await.expect("whoami answer");
    let me: serde_json::Value = serde_json::from_slice(&me).expect("json");
    let id = me["connection_id"].as_str().expect("id").to_string();

    // Signed 64 KiB pushes, the socket read by nobody. The stack keeps at
    // most the outbox (256 KiB) and one frame being written; the kernel's
    // socket buffers take a few MiB more. 16 MiB is far beyond both: the
    // socket must be closed, and the push answered 410, before that.
    let client = management_client(&stack, stack.management_credentials());
    let chunk = format!(r#"{{"type":"bulk","pad":"{}"}}"#, "x".repeat(64 * 1024 - 30));
    let mut accepted = 0_usize;
    let gone = loop {
        assert!(accepted < 256, "16 MiB were accepted for a socket that never reads");
        let pushed = client
            .post_to_connection()
            .connection_id(&id)
            .data(chunk.as_bytes().to_vec().into())
            .send()
            .await;
        match pushed {
            Ok(_) => accepted += 1,
            Err(e) => break refusal(&e),
        }
    };
    eprintln!("push to a non-reader: {accepted} pushes of 64 KiB accepted, then {gone:?}");
    assert_eq!(gone, (410, "GoneException".to_string()), "after {accepted} pushes");
    // Gone for good: later pushes are 410 too, and nothing is held.
    let again = client
        .post_to_connection()
        .connection_id(&id)
        .data(b"{}".to_vec().into())
        .send()
        .await
        .expect_err("gone");
    assert_eq!(refusal(&again).0, 410);
    until_no_socket_is_held(&stack).await;
    // The client, reading at last, finds its stream ended.
    let ended = tokio::time::timeout(LONG, async {
        loop {
            match read_frame(&mut sleeper).await {
                Some((0x8, payload)) => return payload.get(..2).map(|c| u16::from_be_bytes([c[0], c[1]])),
                Some(_) => {}
                None => return None,
            }
        }
    })
    .await
    .expect("the stream ends");
    eprintln!("push to a non-reader: close code read: {ended:?}");
    assert!(matches!(ended, None | Some(1008)), "closed for policy: {ended:?}");
}
