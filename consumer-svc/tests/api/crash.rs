//! Processes that die: SIGKILL in the middle of a batch, SIGTERM for a clean exit.

use std::collections::HashSet;
use std::time::Duration;

use crate::helpers::{orders, ConsumerProcess, Sale};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_killed_mid_batch_leaves_exactly_one_row_per_order_after_restart() {
    const ORDERS: usize = 800;
    const STOCK: i64 = 500;
    let sale = Sale::new(4).await;
    sale.seed("FLASH-1", STOCK).await;
    let events = orders("FLASH-1", ORDERS);
    sale.publish(&events).await;

    // A killed member keeps its partitions until the group coordinator gives up on it.
    // With KIP-848 that is the broker's `group.consumer.session.timeout.ms` (45 s, not
    // settable by a client), so this test uses the classic protocol with a 6 s session to
    // restart twice in reasonable time; the offset handling under test is the same.
    let classic = [
        ("SURGE__KAFKA__GROUP_PROTOCOL", "classic"),
        ("SURGE__KAFKA__PROPERTIES__SESSION_TIMEOUT_MS", "6000"),
        // 10 ms of simulated work per order: a batch of 50 sleeps 500 ms before its
        // transaction, so a kill lands inside a batch.
        ("SURGE__PROCESSING__SIMULATED_LATENCY_MS", "10"),
    ];

    // Kill 1: 250 ms into a batch, after an auto-commit (every 200 ms here) had the chance
    // to commit whatever was stored. An offset stored before its transaction committed
    // would be lost here.
    let mut first = ConsumerProcess::start(&sale, &classic).await;
    assert!(sale.wait_for_orders(100, Duration::from_secs(60)).await >= 100);
    tokio::time::sleep(Duration::from_millis(250)).await;
    first.sigkill();

    // Kill 2: right after a transaction, with the default 5 s auto-commit: the batches
    // applied since the last commit are replayed by the next process.
    let mut env = classic.to_vec();
    env.push(("SURGE__KAFKA__PROPERTIES__AUTO_COMMIT_INTERVAL_MS", "5000"));
    let mut second = ConsumerProcess::start(&sale, &env).await;
    let before = sale.order_count().await;
    assert!(
        sale.wait_for_orders(before + 150, Duration::from_secs(60))
            .await
            >= before + 150
    );
    second.sigkill();
    let at_kill = sale.order_count().await;
    assert!(
        at_kill < ORDERS as i64,
        "killed before the end ({at_kill} rows)"
    );

    let third = ConsumerProcess::start(&sale, &classic[..2]).await;
    assert_eq!(
        sale.wait_for_orders(ORDERS as i64, Duration::from_secs(60))
            .await,
        ORDERS as i64
    );
    // Let a replay of anything not yet committed finish before reading the rows.
    let group = sale.kafka.group_id.clone();
    sale.wait_for_committed(&group, ORDERS as i64, Duration::from_secs(20))
        .await;
    let replayed = third
        .metric("surge_orders_processed_total{outcome=\"duplicate\"}")
        .await;
    eprintln!("records replayed after the kills: {replayed}");

    let rows = sale.rows_per_order().await;
    let published: HashSet<_> = events.iter().map(|e| e.order_id).collect();
    let stored: HashSet<_> = rows.keys().copied().collect();
    assert_eq!(stored.len(), published.len(), "one row per published order");
    assert_eq!(
        stored, published,
        "every published order has a row, and only those"
    );
    assert!(rows.values().all(|&n| n == 1), "one row per order");
    let outcomes = sale.outcomes().await;
    assert_eq!(
        outcomes.get(&("confirmed".to_owned(), None)),
        Some(&STOCK),
        "replayed records did not take stock twice: {outcomes:?}"
    );
    assert_eq!(sale.remaining("FLASH-1").await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_commits_what_was_processed_leaves_the_group_and_exits_zero() {
    const ORDERS: usize = 600;
    let sale = Sale::new(3).await;
    sale.seed("FLASH-1", ORDERS as i64).await;
    sale.publish(&orders("FLASH-1", ORDERS)).await;

    // The default auto-commit interval (5 s), so only the shutdown commit can make the
    // committed offsets match the rows right after exit.
    let slow = [
        ("SURGE__PROCESSING__SIMULATED_LATENCY_MS", "2"),
        ("SURGE__KAFKA__PROPERTIES__AUTO_COMMIT_INTERVAL_MS", "5000"),
    ];
    let mut first = ConsumerProcess::start(&sale, &slow).await;
    sale.wait_for_orders(150, Duration::from_secs(60)).await;
    first.sigterm();
    let status = first.wait_exit(Duration::from_secs(20)).await;
    assert_eq!(status.code(), Some(0), "logs:\n{}", first.logs().join("\n"));

    let rows = sale.rows_per_partition().await;
    let committed = sale.committed(&sale.kafka.group_id);
    assert!(
        rows.values().sum::<i64>() < ORDERS as i64,
        "stopped before the end"
    );
    for (partition, count) in &rows {
        // Partitions start at offset 0 and every record is a valid order, so the offset
        // after the last processed record equals the partition's row count.
        assert_eq!(
            committed.get(partition),
            Some(count),
            "partition {partition}: committed offset is right after the last applied record \
             (rows {rows:?}, committed {committed:?})"
        );
    }

    // The group was left, not abandoned: a new member gets every partition at once,
    // without waiting out the session timeout (45 s).
    let _second = ConsumerProcess::start(&sale, &[]).await;
    assert_eq!(
        sale.wait_for_orders(ORDERS as i64, Duration::from_secs(20))
            .await,
        ORDERS as i64,
        "the next member took over all partitions promptly"
    );
}
