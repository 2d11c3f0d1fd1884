//! The floor: a bare WebSocket round trip over loopback (an echo server and
//! a client, no gateway, no handler).
//!
//! Two are measured. One with both ends on the benchmark's own runtime,
//! where a round trip may never leave the thread that sent it. The other
//! with the echo served where the stack runs (its runtime, or its process
//! when the stack runs in a child process), so that the round trip crosses
//! the same boundary as every request and push of the order path.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use futures_util::{SinkExt, StreamExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::Message;

use crate::Ws;
use crate::stats::Samples;

/// Serves an echo on a free loopback port, on the runtime this is called
/// from, until that runtime ends; returns its address.
pub async fn serve() -> anyhow::Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            tokio::spawn(echo(tcp));
        }
    });
    Ok(addr)
}

async fn echo(tcp: TcpStream) {
    let _ = tcp.set_nodelay(true);
    let Ok(mut ws) = tokio_tungstenite::accept_async_with_config(tcp, Some(crate::socket_config())).await else {
        return;
    };
    while let Some(Ok(msg)) = ws.next().await {
        if msg.is_text() && ws.send(msg).await.is_err() {
            return;
        }
    }
}

/// `rounds` round trips of a frame about the size of an offer, to the echo
/// at `addr`, `pause` apart (zero: back to back).
pub async fn round_trips(addr: SocketAddr, rounds: usize, pause: Duration) -> anyhow::Result<Samples> {
    let (mut client, _) =
        tokio_tungstenite::connect_async_with_config(format!("ws://{addr}/"), Some(crate::socket_config()), true)
            .await?;
    let frame = format!(r#"{{"type":"offer","payload":"{}"}}"#, "x".repeat(400));
    let samples = timed(&mut client, &frame, |_| true, rounds, pause)
        .await
        .context("the loopback echo stopped answering")?;
    let _ = client.close(None).await;
    Ok(samples)
}

/// `rounds` round trips on `ws`, `pause` apart: `frame` sent, then
/// frames read until a text one that `answers` (within 5 s each).
pub async fn timed(
    ws: &mut Ws,
    frame: &str,
    answers: impl Fn(&str) -> bool,
    rounds: usize,
    pause: Duration,
) -> anyhow::Result<Samples> {
    let mut samples = Vec::with_capacity(rounds);
    for round in 0..rounds {
        if round > 0 && !pause.is_zero() {
            tokio::time::sleep(pause).await;
        }
        let start = Instant::now();
        ws.send(Message::Text(frame.into())).await?;
        loop {
            match tokio::time::timeout(Duration::from_secs(5), ws.next()).await {
                Ok(Some(Ok(Message::Text(t)))) if answers(t.as_str()) => break,
                Ok(Some(Ok(_))) => {}
                _ => anyhow::bail!("no answer"),
            }
        }
        samples.push(start.elapsed());
    }
    Ok(Samples::from_vec(samples))
}
