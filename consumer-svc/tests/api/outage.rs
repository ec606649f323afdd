//! PostgreSQL going away is an outage to wait out, not a reason to drop or dead-letter.

use std::time::Duration;

use testkit::proxy::TcpProxy;

use crate::helpers::{eventually, metric_value, orders, Sale, TestConsumer};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_outage_pauses_processing_without_dead_letters_and_loses_nothing() {
    let sale = Sale::new(3).await;
    sale.seed("FLASH-1", 250).await;
    let mut proxy = TcpProxy::start("127.0.0.1:0", &sale.db.server_address())
        .await
        .expect("proxy starts");
    let mut settings = sale.settings();
    settings.database.url = sale.db.url_via(&proxy.addr().to_string());
    let consumer = TestConsumer::spawn(settings).await;

    sale.publish(&orders("FLASH-1", 100)).await;
    assert_eq!(
        sale.wait_for_orders(100, Duration::from_secs(30)).await,
        100
    );
    assert!(
        eventually(Duration::from_secs(5), || async {
            consumer.ready_status().await == 200
        })
        .await,
        "ready while the database answers"
    );

    proxy.cut();
    sale.publish(&orders("FLASH-1", 100)).await;
    assert!(
        eventually(Duration::from_secs(10), || async {
            consumer.ready_status().await == 503
        })
        .await,
        "/readyz turns 503 while the database is unreachable"
    );
    let body: serde_json::Value = consumer.get("/readyz").await.json().await.unwrap();
    assert!(
        body["reason"].as_str().unwrap().contains("database"),
        "{body}"
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        sale.order_count().await,
        100,
        "nothing is applied during the outage"
    );
    assert_eq!(
        testkit::kafka::total_end_offset(&sale.kafka.dlq_topic),
        0,
        "a database outage dead-letters nothing"
    );
    assert!(
        consumer.group.is_paused(),
        "fetching is paused during the outage"
    );

    proxy.restore().await.expect("proxy restores");
    assert_eq!(
        sale.wait_for_orders(200, Duration::from_secs(30)).await,
        200,
        "the records published during the outage are processed after it"
    );
    assert!(
        eventually(Duration::from_secs(10), || async {
            consumer.ready_status().await == 200
        })
        .await,
        "ready again after the outage"
    );
    assert!(!consumer.group.is_paused(), "fetching resumed");

    sale.publish(&orders("FLASH-1", 100)).await;
    assert_eq!(
        sale.wait_for_orders(300, Duration::from_secs(30)).await,
        300
    );
    let outcomes = sale.outcomes().await;
    assert_eq!(outcomes.get(&("confirmed".to_owned(), None)), Some(&250));
    assert_eq!(
        outcomes.get(&("rejected".to_owned(), Some("sold_out".to_owned()))),
        Some(&50)
    );
    assert_eq!(testkit::kafka::total_end_offset(&sale.kafka.dlq_topic), 0);
    let metrics = consumer.get("/metrics").await.text().await.unwrap();
    assert!(
        metric_value(&metrics, "surge_db_retries_total") >= 1.0,
        "{metrics}"
    );
    consumer.stop().await.expect("clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transaction_on_a_black_holed_connection_fails_within_the_transaction_timeout_and_loses_nothing(
) {
    let sale = Sale::new(3).await;
    sale.seed("FLASH-1", 1000).await;
    let mut proxy = TcpProxy::start("127.0.0.1:0", &sale.db.server_address())
        .await
        .expect("proxy starts");
    let mut settings = sale.settings();
    settings.database.url = sale.db.url_via(&proxy.addr().to_string());
    settings.database.transaction_timeout_ms = 2_000;
    let consumer = TestConsumer::spawn(settings).await;
    let first = orders("FLASH-1", 20);
    sale.publish(&first).await;
    assert_eq!(sale.wait_for_orders(20, Duration::from_secs(30)).await, 20);

    // A slow link (200 ms per round trip) so that the next batch's statements take
    // seconds, then every packet dropped in the middle of its transaction: no reset, no
    // close, nothing reaches the server, so `statement_timeout` cannot fire.
    proxy.set_latency(Duration::from_millis(100));
    let second = orders("FLASH-1", 30);
    sale.publish(&second).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    proxy.black_hole();
    assert!(
        eventually(Duration::from_secs(15), || async {
            let metrics = consumer.get("/metrics").await.text().await.unwrap();
            metric_value(&metrics, "surge_db_retries_total") >= 1.0
        })
        .await,
        "the stuck transaction is given up and retried instead of hanging"
    );
    assert!(
        eventually(Duration::from_secs(10), || async {
            consumer.ready_status().await == 503
        })
        .await,
        "not ready while the database does not answer"
    );

    proxy.set_latency(Duration::ZERO);
    proxy.restore().await.expect("proxy restores");
    assert_eq!(
        sale.wait_for_orders(50, Duration::from_secs(60)).await,
        50,
        "the batch is applied once the connection answers again"
    );
    let rows = sale.rows_per_order().await;
    assert!(rows.values().all(|&n| n == 1), "{rows:?}");
    assert_eq!(testkit::kafka::total_end_offset(&sale.kafka.dlq_topic), 0);
    consumer.stop().await.expect("clean stop");
}
