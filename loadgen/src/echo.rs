//! The floor: a bare WebSocket round trip over loopback (an echo server and
//! a client in this process, no gateway, no handler).

use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::Message;

use crate::stats::Samples;

/// `rounds` round trips of a frame about the size of an offer.
pub async fn loopback_round_trip(rounds: usize) -> anyhow::Result<Samples> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let server = tokio::spawn(async move {
        let Ok((tcp, _)) = listener.accept().await else { return };
        let _ = tcp.set_nodelay(true);
        let Ok(mut ws) = tokio_tungstenite::accept_async_with_config(tcp, Some(crate::socket_config())).await else {
            return;
        };
        while let Some(Ok(msg)) = ws.next().await {
            if msg.is_text() && ws.send(msg).await.is_err() {
                return;
            }
        }
    });
    let (mut client, _) =
        tokio_tungstenite::connect_async_with_config(format!("ws://{addr}/"), Some(crate::socket_config()), true)
            .await?;
    let frame = format!(r#"{{"type":"offer","payload":"{}"}}"#, "x".repeat(400));
    let mut samples = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let start = Instant::now();
        client.send(Message::Text(frame.clone().into())).await?;
        loop {
            match tokio::time::timeout(Duration::from_secs(5), client.next()).await {
                Ok(Some(Ok(Message::Text(_)))) => break,
                Ok(Some(Ok(_))) => {}
                _ => anyhow::bail!("the loopback echo stopped answering"),
            }
        }
        samples.push(start.elapsed());
    }
    let _ = client.close(None).await;
    server.abort();
    Ok(Samples::from_vec(samples))
}
