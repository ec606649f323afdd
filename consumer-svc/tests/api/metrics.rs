//! What `/metrics` shows for the dashboards: stock per SKU, and every labelled counter
//! from the start. Real processes, so the exposition holds this sale's series only.

use std::time::Duration;

use crate::helpers::{eventually, metric_series, order, ConsumerProcess, Sale};

fn stock_series(sku: &str) -> String {
    format!("surge_stock_remaining{{sku=\"{sku}\"}}")
}

/// Waits until `series` is exposed with `value`; returns what was last seen.
async fn wait_for_series(consumer: &ConsumerProcess, series: &str, value: f64) -> Option<f64> {
    eventually(Duration::from_secs(15), || async {
        metric_series(&consumer.metrics().await, series) == Some(value)
    })
    .await;
    metric_series(&consumer.metrics().await, series)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stock_remaining_follows_each_batch_and_counters_start_at_zero() {
    // One partition: the orders are applied in the order published.
    let sale = Sale::new(1).await;
    sale.seed("STOCK-1", 10).await;
    // Refreshes of the whole table are an hour apart here: after the read at start, the
    // gauge can only move through the batches' own reports.
    let consumer =
        ConsumerProcess::start(&sale, &[("SURGE__CONSUMER__STOCK_INTERVAL_MS", "3600000")]).await;

    assert_eq!(
        wait_for_series(&consumer, &stock_series("STOCK-1"), 10.0).await,
        Some(10.0),
        "the stock is read at start"
    );
    let before = consumer.metrics().await;
    let mut zeroes = vec![
        "surge_orders_processed_total{outcome=\"confirmed\"}".to_owned(),
        "surge_orders_processed_total{outcome=\"rejected_sold_out\"}".to_owned(),
        "surge_orders_processed_total{outcome=\"rejected_unknown_sku\"}".to_owned(),
        "surge_orders_processed_total{outcome=\"duplicate\"}".to_owned(),
        "surge_consumer_rebalances_total{kind=\"revoke\"}".to_owned(),
        "surge_db_retries_total".to_owned(),
        "surge_consumer_paused".to_owned(),
    ];
    for kind in ["empty", "undecodable", "unknown_schema", "invalid_field"] {
        zeroes.push(format!("surge_dlq_records_total{{kind=\"{kind}\"}}"));
    }
    for series in &zeroes {
        assert_eq!(
            metric_series(&before, series),
            Some(0.0),
            "{series} is exposed at 0 before anything happened:\n{before}"
        );
    }
    assert!(
        metric_series(&before, "surge_consumer_rebalances_total{kind=\"assign\"}").is_some(),
        "{before}"
    );

    // 3 × 1 + 1 × 2 units confirmed, then 6 asked for with 5 left: sold out.
    let mut events = vec![
        order("STOCK-1", 1),
        order("STOCK-1", 1),
        order("STOCK-1", 1),
    ];
    events.push(order("STOCK-1", 2));
    events.push(order("STOCK-1", 6));
    events.push(order("NOT-ON-SALE", 1));
    sale.publish(&events).await;
    assert_eq!(sale.wait_for_orders(6, Duration::from_secs(30)).await, 6);
    assert_eq!(sale.remaining("STOCK-1").await, 5);

    assert_eq!(
        wait_for_series(&consumer, &stock_series("STOCK-1"), 5.0).await,
        Some(5.0),
        "the gauge follows the committed batches"
    );
    let after = consumer.metrics().await;
    for (series, expected) in [
        ("surge_orders_processed_total{outcome=\"confirmed\"}", 4.0),
        (
            "surge_orders_processed_total{outcome=\"rejected_sold_out\"}",
            1.0,
        ),
        (
            "surge_orders_processed_total{outcome=\"rejected_unknown_sku\"}",
            1.0,
        ),
        ("surge_orders_processed_total{outcome=\"duplicate\"}", 0.0),
    ] {
        assert_eq!(
            metric_series(&after, series),
            Some(expected),
            "{series}:\n{after}"
        );
    }
    assert_eq!(
        metric_series(&after, &stock_series("NOT-ON-SALE")),
        None,
        "only SKUs on sale have a stock series"
    );
    consumer.sigterm();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stock_seeded_while_the_consumer_runs_shows_up_at_the_next_refresh() {
    let sale = Sale::new(1).await;
    let consumer =
        ConsumerProcess::start(&sale, &[("SURGE__CONSUMER__STOCK_INTERVAL_MS", "200")]).await;
    // No order for it ever arrives: only the periodic read of the table can report it.
    sale.seed("LATE-1", 42).await;
    assert_eq!(
        wait_for_series(&consumer, &stock_series("LATE-1"), 42.0).await,
        Some(42.0)
    );
    sale.seed("LATE-1", 7).await;
    assert_eq!(
        wait_for_series(&consumer, &stock_series("LATE-1"), 7.0).await,
        Some(7.0),
        "re-seeding is seen too"
    );
    consumer.sigterm();
}
