//! Trace export is batched and off the request path: a collector that accepts
//! connections and never answers changes no answer and delays none.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::net::TcpListener;

use crate::helpers::order;

#[tokio::test]
async fn a_hung_collector_neither_fails_nor_delays_orders() {
    // The worst collector: it accepts, reads nothing, never answers (a network black
    // hole behind a load balancer). The exporter's own timeout is 5 s.
    let collector = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", collector.local_addr().unwrap());
    let connections = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&connections);
    let hold = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = collector.accept().await {
            counted.fetch_add(1, Ordering::SeqCst);
            held.push(socket);
        }
    });

    let topic = testkit::unique_name("orders");
    testkit::kafka::create_topic(&topic, 3).await;
    let running =
        crate::binary::start(&topic, &[("SURGE__OTLP__ENDPOINT", endpoint.as_str())]).await;
    let url = format!("http://127.0.0.1:{}/v1/orders", running.port);
    let client = reqwest::Client::new();

    // Long enough for several batch exports to be attempted and hang (the batch
    // processor exports every 5 s or every 512 spans).
    let mut slowest = Duration::ZERO;
    let mut sent = 0;
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(7) || sent < 600 {
        let mut batch = Vec::new();
        for i in 0..20 {
            let body = order("FLASH-1", 1, &format!("c-{sent}-{i}")).to_string();
            let (client, url) = (client.clone(), url.clone());
            batch.push(tokio::spawn(async move {
                let t = Instant::now();
                let response = client
                    .post(&url)
                    .header("content-type", "application/json")
                    .body(body)
                    .send()
                    .await
                    .expect("an answer");
                (response.status().as_u16(), t.elapsed())
            }));
        }
        for request in batch {
            let (status, took) = request.await.unwrap();
            assert_eq!(status, 202, "an order failed while the collector hangs");
            slowest = slowest.max(took);
        }
        sent += 20;
    }
    assert!(
        connections.load(Ordering::SeqCst) > 0,
        "the exporter never tried the collector, so this test showed nothing"
    );
    // A request waiting on the export would take the exporter's 5 s timeout; 2 s leaves
    // room for a slow shared machine without hiding that.
    assert!(
        slowest < Duration::from_secs(2),
        "the slowest order took {slowest:?} while the collector hung"
    );
    assert_eq!(
        testkit::kafka::read_all(&topic, sent, Duration::from_secs(20)).len(),
        sent,
        "every accepted order is on the topic"
    );
    hold.abort();
}
