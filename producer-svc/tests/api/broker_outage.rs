//! The broker becomes unreachable for one client: a TCP proxy in front of the real
//! broker's fault listener (see `scripts/infra/`) is cut and restored. Tests here share
//! that fixed address, so they take turns.

use std::time::{Duration, Instant};

use tokio::sync::Mutex;

use testkit::kafka::{FAULT_ADVERTISED, FAULT_LISTENER};
use testkit::proxy::TcpProxy;

use crate::helpers::{assert_problem, order, spawn_app_with, test_settings};

pub(crate) static FAULT_PROXY: Mutex<()> = Mutex::const_new(());

const DELIVERY_TIMEOUT_MS: u64 = 3000;

async fn settings_through_proxy() -> producer_svc::Settings {
    let mut settings = test_settings(3).await;
    settings.kafka.bootstrap_servers = FAULT_ADVERTISED.to_owned();
    settings.kafka.delivery_timeout_ms = DELIVERY_TIMEOUT_MS;
    settings
}

#[tokio::test]
async fn with_the_broker_unreachable_orders_get_503_within_the_delivery_timeout_and_readyz_turns_503_then_both_recover(
) {
    let _turn = FAULT_PROXY.lock().await;
    let mut proxy = TcpProxy::start(FAULT_ADVERTISED, FAULT_LISTENER)
        .await
        .expect("proxy");
    let app = spawn_app_with(settings_through_proxy().await).await;
    app.wait_ready_status(200, Duration::from_secs(15)).await;
    assert_eq!(
        app.post_order(&order("FLASH-1", 1, "before"), None)
            .await
            .status(),
        202
    );

    proxy.cut();
    app.wait_ready_status(503, Duration::from_secs(10)).await;
    let started = Instant::now();
    let response = app.post_order(&order("FLASH-1", 1, "during"), None).await;
    let waited = started.elapsed();
    assert!(response.headers().contains_key("retry-after"));
    let problem = assert_problem(response, 503).await;
    // The record may have reached the broker: the answer must not claim it did not.
    assert!(
        problem["type"]
            .as_str()
            .unwrap()
            .ends_with("outcome-unknown"),
        "{problem}"
    );
    let detail = problem["detail"].as_str().unwrap();
    assert!(detail.contains("outcome unknown"), "{problem}");
    assert!(detail.contains("same Idempotency-Key"), "{problem}");
    assert!(!detail.contains("not accepted"), "{problem}");
    // librdkafka scans for expired messages once a second, and a loaded 2-core machine
    // adds scheduling delay: the bound proves "answered after the timeout, never a hang"
    // without timing the scan itself.
    assert!(
        waited < Duration::from_millis(DELIVERY_TIMEOUT_MS + 5000),
        "answer took {waited:?}, delivery timeout is {DELIVERY_TIMEOUT_MS} ms"
    );

    proxy.restore().await.expect("proxy restored");
    app.wait_ready_status(200, Duration::from_secs(30)).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let status = app
            .post_order(&order("FLASH-1", 1, "after"), None)
            .await
            .status();
        if status == 202 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "orders not accepted again after recovery: {status}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let customers: Vec<Vec<u8>> = app
        .records(2)
        .iter()
        .filter_map(|r| rdkafka::Message::key(r).map(<[u8]>::to_vec))
        .collect();
    assert!(customers.contains(&b"before".to_vec()));
    assert!(customers.contains(&b"after".to_vec()));
}

#[tokio::test]
async fn past_the_in_flight_budget_orders_get_429_with_retry_after_at_once() {
    let _turn = FAULT_PROXY.lock().await;
    let mut proxy = TcpProxy::start(FAULT_ADVERTISED, FAULT_LISTENER)
        .await
        .expect("proxy");
    let mut settings = settings_through_proxy().await;
    settings.ingest.max_in_flight = 1;
    let retry_after = settings.ingest.retry_after_secs.to_string();
    let app = spawn_app_with(settings).await;
    app.wait_ready_status(200, Duration::from_secs(15)).await;

    proxy.cut();
    let waiting = order_in_background(&app, "waits").await;
    let response = app.post_order(&order("FLASH-1", 1, "refused"), None).await;
    // The order holding the budget waits for the cut broker until its delivery timeout:
    // the 429 came while it still waits, so it did not wait for the broker.
    assert!(
        !waiting.is_finished(),
        "the 429 came only after the waiting order was answered"
    );
    assert_eq!(response.headers()["retry-after"], retry_after.as_str());
    assert_problem(response, 429).await;
    let first = waiting.await.unwrap().unwrap();
    assert_eq!(first, 503, "the waiting order was never acknowledged");
    proxy.restore().await.unwrap();
}

#[tokio::test]
async fn a_full_producer_queue_answers_503_at_once() {
    let _turn = FAULT_PROXY.lock().await;
    let mut proxy = TcpProxy::start(FAULT_ADVERTISED, FAULT_LISTENER)
        .await
        .expect("proxy");
    let mut settings = settings_through_proxy().await;
    settings
        .kafka
        .properties
        .insert("queue.buffering.max.messages".to_owned(), "1".to_owned());
    let app = spawn_app_with(settings).await;
    app.wait_ready_status(200, Duration::from_secs(15)).await;

    proxy.cut();
    let waiting = order_in_background(&app, "queued").await;
    let response = app.post_order(&order("FLASH-1", 1, "overflow"), None).await;
    // As above: answered while the queued order still waits for the cut broker.
    assert!(
        !waiting.is_finished(),
        "the queue-full 503 came only after the queued order was answered"
    );
    let problem = assert_problem(response, 503).await;
    assert!(
        problem["detail"].as_str().unwrap().contains("queue"),
        "{problem}"
    );
    assert_eq!(waiting.await.unwrap().unwrap(), 503);
    proxy.restore().await.unwrap();
}

/// Posts an order from a background task (it waits for the cut broker) and gives it
/// 300 ms to take its in-flight slot or queue place; the task yields its status.
async fn order_in_background(
    app: &crate::helpers::TestApp,
    customer: &str,
) -> tokio::task::JoinHandle<Result<u16, reqwest::Error>> {
    let client = app.client.clone();
    let url = format!("{}/v1/orders", app.address);
    let body = order("FLASH-1", 1, customer).to_string();
    let task = tokio::spawn(async move {
        client
            .post(url)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .map(|r| r.status().as_u16())
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    task
}
