//! Stock under contention: several replicas, one hot SKU, more orders than units.

use std::time::Duration;

use crate::helpers::{order, orders, wait_for_assignment, Sale};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_consumers_confirm_exactly_the_stock_and_reject_the_rest_as_sold_out() {
    const PARTITIONS: i32 = 6;
    const ORDERS: usize = 600;
    const STOCK: i64 = 250;
    const UNKNOWN: usize = 20;
    let sale = Sale::new(PARTITIONS).await;
    sale.seed("FLASH-1", STOCK).await;
    // Plenty of a second SKU, ordered in the same batches: its stock must come out exact too.
    sale.seed("SIDE-1", 1_000).await;

    let consumers = [
        sale.spawn_consumer().await,
        sale.spawn_consumer().await,
        sale.spawn_consumer().await,
    ];
    wait_for_assignment(&consumers.iter().collect::<Vec<_>>(), PARTITIONS as usize).await;

    let mut events = orders("FLASH-1", ORDERS);
    events.extend(orders("NOPE-1", UNKNOWN));
    let side: Vec<_> = (0..100).map(|_| order("SIDE-1", 3)).collect();
    events.extend(side);
    let total = events.len() as i64;
    sale.publish(&events).await;

    let processed = sale.wait_for_orders(total, Duration::from_secs(60)).await;
    assert_eq!(processed, total, "every order gets its row");

    let outcomes = sale.outcomes().await;
    let count = |status: &str, reason: Option<&str>| {
        outcomes
            .get(&(status.to_owned(), reason.map(str::to_owned)))
            .copied()
            .unwrap_or(0)
    };
    assert_eq!(count("confirmed", None), STOCK + 100, "{outcomes:?}");
    assert_eq!(
        count("rejected", Some("sold_out")),
        ORDERS as i64 - STOCK,
        "{outcomes:?}"
    );
    assert_eq!(
        count("rejected", Some("unknown_sku")),
        UNKNOWN as i64,
        "{outcomes:?}"
    );
    assert_eq!(sale.remaining("FLASH-1").await, 0);
    assert_eq!(sale.remaining("SIDE-1").await, 1_000 - 300);

    let confirmed_units: i64 = sqlx::query_scalar(
        "SELECT coalesce(sum(quantity), 0)::bigint FROM orders WHERE sku = 'FLASH-1' AND status = 'confirmed'",
    )
    .fetch_one(&sale.pool)
    .await
    .unwrap();
    assert_eq!(
        confirmed_units, STOCK,
        "never more units confirmed than stocked"
    );

    for consumer in consumers {
        consumer.stop().await.expect("clean stop");
    }
}

#[tokio::test]
async fn the_classic_cooperative_sticky_protocol_processes_every_order_too() {
    let sale = Sale::new(4).await;
    sale.seed("FLASH-1", 30).await;
    let mut settings = sale.settings();
    settings.kafka.group_protocol = common::settings::GroupProtocol::Classic;
    let a = crate::helpers::TestConsumer::spawn(settings.clone()).await;
    let b = crate::helpers::TestConsumer::spawn(settings).await;
    wait_for_assignment(&[&a, &b], 4).await;

    sale.publish(&orders("FLASH-1", 50)).await;
    assert_eq!(sale.wait_for_orders(50, Duration::from_secs(30)).await, 50);
    assert_eq!(sale.remaining("FLASH-1").await, 0);
    a.stop().await.expect("clean stop");
    b.stop().await.expect("clean stop");
}
