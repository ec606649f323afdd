//! How many orders per second one consumer applies to PostgreSQL, batched. A measurement,
//! not a check, so it only runs when asked:
//!
//! ```sh
//! SURGE_BENCH_ORDERS=100000 cargo test --release -p consumer-svc --test api -- \
//!     --ignored --nocapture one_consumer_throughput
//! ```

use std::time::{Duration, Instant};

use crate::helpers::{orders, Sale};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement; run explicitly"]
async fn one_consumer_throughput() {
    let total: usize = std::env::var("SURGE_BENCH_ORDERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let batch: usize = std::env::var("SURGE_BENCH_BATCH")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(500);
    let sale = Sale::new(12).await;
    sale.seed("FLASH-1", (total / 2) as i64).await;
    let publish_started = Instant::now();
    for chunk in orders("FLASH-1", total).chunks(10_000) {
        sale.publish(chunk).await;
    }
    println!(
        "published {total} orders in {:.1} s",
        publish_started.elapsed().as_secs_f64()
    );

    let mut settings = sale.settings();
    settings.consumer.batch_max_records = batch;
    settings.consumer.batch_max_wait_ms = 50;
    let started = Instant::now();
    let consumer = crate::helpers::TestConsumer::spawn(settings).await;
    let done = sale
        .wait_for_orders(total as i64, Duration::from_secs(1800))
        .await;
    let elapsed = started.elapsed().as_secs_f64();
    assert_eq!(done, total as i64);
    println!(
        "one consumer, batches of {batch}: {total} orders in {elapsed:.1} s = {:.0} orders/s \
         (half confirmed, half sold out)",
        total as f64 / elapsed
    );
    consumer.stop().await.expect("clean stop");
}
