//! Scaling the group out and in while orders keep coming.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use crate::helpers::{eventually, orders, ConsumerProcess, Sale};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scaling_one_to_three_to_one_during_a_steady_stream_loses_and_duplicates_nothing() {
    const STOCK: i64 = 10_000;
    let sale = Arc::new(Sale::new(6).await);
    sale.seed("FLASH-1", STOCK).await;

    // A steady stream: 25 orders every 50 ms (500/s) until told to stop.
    let (stop_stream, mut stream_stopped) = tokio::sync::watch::channel(false);
    let publisher = {
        let sale = Arc::clone(&sale);
        tokio::spawn(async move {
            let mut published = Vec::new();
            while !*stream_stopped.borrow_and_update() {
                let batch = orders("FLASH-1", 25);
                sale.publish(&batch).await;
                published.extend(batch.into_iter().map(|e| e.order_id));
                let _ =
                    tokio::time::timeout(Duration::from_millis(50), stream_stopped.changed()).await;
            }
            published
        })
    };

    let first = ConsumerProcess::start(&sale, &[]).await;
    assert!(
        eventually(Duration::from_secs(30), || async {
            first
                .metric("surge_consumer_rebalances_total{kind=\"assign\"}")
                .await
                >= 1.0
        })
        .await,
        "the first consumer got partitions"
    );
    tokio::time::sleep(Duration::from_secs(2)).await;

    let mut second = ConsumerProcess::start(&sale, &[]).await;
    let mut third = ConsumerProcess::start(&sale, &[]).await;
    for (name, consumer) in [("second", &second), ("third", &third)] {
        assert!(
            eventually(Duration::from_secs(30), || async {
                consumer
                    .metric("surge_consumer_rebalances_total{kind=\"assign\"}")
                    .await
                    >= 1.0
            })
            .await,
            "the {name} consumer got partitions"
        );
    }
    assert!(
        eventually(Duration::from_secs(30), || async {
            first
                .metric("surge_consumer_rebalances_total{kind=\"revoke\"}")
                .await
                >= 1.0
        })
        .await,
        "the first consumer gave partitions away when the group grew"
    );
    let before_scale_in = sale.order_count().await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        sale.order_count().await > before_scale_in,
        "orders keep flowing with three consumers"
    );
    // A partition's new owner starts right after its old owner's last commit (commit on
    // revoke, commit on shutdown), so no replica ever meets an order twice.
    const DUPLICATES: &str = "surge_orders_processed_total{outcome=\"duplicate\"}";
    let mut duplicates = second.metric(DUPLICATES).await + third.metric(DUPLICATES).await;

    second.sigterm();
    third.sigterm();
    assert_eq!(
        second.wait_exit(Duration::from_secs(20)).await.code(),
        Some(0)
    );
    assert_eq!(
        third.wait_exit(Duration::from_secs(20)).await.code(),
        Some(0)
    );
    assert!(
        eventually(Duration::from_secs(30), || async {
            first
                .metric("surge_consumer_rebalances_total{kind=\"assign\"}")
                .await
                >= 2.0
        })
        .await,
        "the first consumer took the partitions back"
    );
    tokio::time::sleep(Duration::from_secs(2)).await;

    let _ = stop_stream.send(true);
    let published = publisher.await.expect("publisher");
    let total = published.len() as i64;
    assert_eq!(
        sale.wait_for_orders(total, Duration::from_secs(60)).await,
        total,
        "every order published during the scaling has a row"
    );

    let rows = sale.rows_per_order().await;
    let expected: HashSet<_> = published.iter().copied().collect();
    let stored: HashSet<_> = rows.keys().copied().collect();
    assert_eq!(stored, expected, "no order lost, none invented");
    assert!(rows.values().all(|&n| n == 1), "one row per order");
    assert_eq!(
        sale.remaining("FLASH-1").await,
        STOCK - total,
        "each order took its unit exactly once"
    );
    let metrics = first.metrics().await;
    assert!(
        metrics.contains("surge_consumer_lag{"),
        "lag is exported per partition"
    );
    assert!(
        first
            .metric("surge_orders_processed_total{outcome=\"confirmed\"}")
            .await
            > 0.0,
        "outcomes are counted (and the series names read right)"
    );
    duplicates += first.metric(DUPLICATES).await;
    assert_eq!(
        duplicates, 0.0,
        "no partition was replayed after a hand-over"
    );
}
