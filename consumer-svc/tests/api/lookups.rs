//! `GET /v1/orders/{id}`.

use std::time::Duration;

use serde_json::Value;

use crate::helpers::{order, ConsumerProcess, Sale};

#[tokio::test]
async fn bad_look_ups_get_problem_json_400_and_404() {
    let sale = Sale::new(1).await;
    let consumer = sale.spawn_consumer().await;

    let response = consumer.get("/v1/orders/not-a-uuid").await;
    assert_eq!(response.status().as_u16(), 400);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["type"], "urn:surge:problem:invalid-order-id");
    assert_eq!(body["status"], 400);

    let unknown = uuid::Uuid::now_v7();
    let response = consumer.get(&format!("/v1/orders/{unknown}")).await;
    assert_eq!(response.status().as_u16(), 404);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["type"], "urn:surge:problem:not-found");
    assert!(body["detail"]
        .as_str()
        .unwrap()
        .contains(&unknown.to_string()));

    let response = consumer
        .client
        .delete(format!("{}/v1/orders/{unknown}", consumer.address))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 405);
    assert_eq!(response.headers()["allow"], "GET");

    let response = consumer.get("/v2/nothing").await;
    assert_eq!(response.status().as_u16(), 404);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    consumer.stop().await.expect("clean stop");
}

#[tokio::test]
async fn a_processed_order_is_served_with_its_status_reason_and_origin() {
    let sale = Sale::new(1).await;
    sale.seed("FLASH-1", 1).await;
    let consumer = sale.spawn_consumer().await;
    let first = order("FLASH-1", 1);
    let second = order("FLASH-1", 1);
    let positions = sale.publish(&[first.clone(), second.clone()]).await;
    assert_eq!(sale.wait_for_orders(2, Duration::from_secs(30)).await, 2);

    let body: Value = consumer
        .get(&format!("/v1/orders/{}", first.order_id))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["order_id"], first.order_id.to_string());
    assert_eq!(body["status"], "confirmed");
    assert_eq!(body["reason"], Value::Null);
    assert_eq!(body["sku"], "FLASH-1");
    assert_eq!(body["quantity"], 1);
    assert_eq!(body["customer_id"], first.customer_id);
    assert_eq!(body["partition"], positions[0].0);
    assert_eq!(body["offset"], positions[0].1);
    assert!(body["accepted_at"].is_string() && body["processed_at"].is_string());

    let response = consumer
        .get(&format!("/v1/orders/{}", second.order_id))
        .await;
    assert_eq!(response.status().as_u16(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], "rejected");
    assert_eq!(body["reason"], "sold_out");
    consumer.stop().await.expect("clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn order_look_ups_under_load_never_starve_the_batch_transactions() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    let sale = Sale::new(3).await;
    sale.seed("FLASH-1", 1000).await;
    // 50 ms per round trip to the database, so that every look-up holds its connection
    // (about 100 ms: the pool's ping, then the query) long enough for a crowd of pollers
    // to queue for the pool far longer than the 1 s a batch waits for a connection.
    let mut proxy = testkit::proxy::TcpProxy::start("127.0.0.1:0", &sale.db.server_address())
        .await
        .expect("proxy starts");
    proxy.set_latency(Duration::from_millis(25));
    // A process of its own: the metrics recorder is per process, and the other tests of
    // this binary (a database outage among them) count their retries in it too.
    let database_url = sale.db.url_via(&proxy.addr().to_string());
    let mut consumer =
        ConsumerProcess::start(&sale, &[("SURGE__DATABASE__URL", &database_url)]).await;
    let address = format!("http://127.0.0.1:{}", consumer.port);

    let stop = Arc::new(AtomicBool::new(false));
    let client = reqwest::Client::new();
    let pollers: Vec<_> = (0..128)
        .map(|_| {
            let (client, stop) = (client.clone(), Arc::clone(&stop));
            let url = format!("{address}/v1/orders/{}", uuid::Uuid::now_v7());
            tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    let _ = client.get(&url).send().await;
                }
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_secs(1)).await;

    sale.publish(&crate::helpers::orders("FLASH-1", 200)).await;
    let applied = sale.wait_for_orders(200, Duration::from_secs(120)).await;
    let retries = consumer.metric("surge_db_retries_total").await;
    stop.store(true, Ordering::Relaxed);
    for poller in pollers {
        let _ = poller.await;
    }
    assert_eq!(applied, 200);
    assert_eq!(
        retries,
        0.0,
        "a batch waited behind the look-ups for a connection and went into backoff:\n{}",
        consumer
            .logs()
            .into_iter()
            .filter(|line| line.contains("batch failed"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    proxy.set_latency(Duration::ZERO);
    consumer.sigterm();
    assert!(consumer.wait_exit(Duration::from_secs(30)).await.success());
}
