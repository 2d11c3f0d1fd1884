//! Four stores accept the same order at the same instant, 100 times over
//! (25 on moto): exactly one wins each time.

use crate::common;

use std::sync::Arc;

use common::{Api, Socket, stack, trials};
use futures_util::StreamExt;
use shared::domain::config::OrderingConfig;
use tokio::sync::Barrier;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn simultaneous_accepts_have_exactly_one_winner() {
    let stack = stack(OrderingConfig::default()).await;
    let api = Arc::new(Api::new(&stack));
    let ids: [&'static str; 4] = ["r1", "r2", "r3", "r4"];
    for (i, id) in ids.iter().enumerate() {
        api.put_store(id, &format!("Racer {id}"), 90.0 * i as f64, 400.0, "grocery", &["rice"])
            .await;
    }
    // Keep the stores connected (so they are matched) and drain their alerts.
    let mut drains = Vec::new();
    for id in ids {
        let socket = Socket::connect(&stack, &format!("store:{id}")).await;
        drains.push(tokio::spawn(async move {
            let mut stream = socket.stream;
            while let Some(Ok(_)) = stream.next().await {}
        }));
    }
    let mut wins_per_store = [0usize; 4];
    let runs = trials(100, 25);
    for round in 0..runs {
        let created = api.order(&format!("racer-customer-{round}"), "5 kg rice").await;
        assert_eq!(created.body["stores_notified"], 4, "{}", created.text);
        let order_id = created.body["order_id"].as_str().expect("id").to_string();
        let barrier = Arc::new(Barrier::new(ids.len()));
        let attempts: Vec<_> = ids
            .iter()
            .map(|&id| {
                let (api, barrier, order_id) = (Arc::clone(&api), Arc::clone(&barrier), order_id.clone());
                tokio::spawn(async move {
                    barrier.wait().await;
                    api.accept(id, &order_id).await
                })
            })
            .collect();
        let mut winners = Vec::new();
        for (i, attempt) in attempts.into_iter().enumerate() {
            let reply = attempt.await.expect("attempt ran");
            match reply.status {
                200 => winners.push(i),
                409 => assert_eq!(reply.body["error"]["code"], "offer_taken", "{}", reply.text),
                other => panic!("unexpected status {other}: {}", reply.text),
            }
        }
        assert_eq!(winners.len(), 1, "round {round}: winners {winners:?}");
        wins_per_store[winners[0]] += 1;
        let order = api.get_order(&format!("racer-customer-{round}"), &order_id).await;
        assert_eq!(order.body["store"]["store_id"], ids[winners[0]]);
    }
    println!("wins per store over {runs} races: {wins_per_store:?}");
    for drain in drains {
        drain.abort();
    }
}
