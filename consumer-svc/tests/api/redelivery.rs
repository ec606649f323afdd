//! Records delivered again change nothing.

use std::time::Duration;

use crate::helpers::{orders, Sale, TestConsumer};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_delivered_twice_change_no_row() {
    let sale = Sale::new(3).await;
    sale.seed("FLASH-1", 120).await;
    let mut events = orders("FLASH-1", 200);
    // A retried request with the same Idempotency-Key publishes the same order again.
    let retried: Vec<_> = events[..20].to_vec();
    events.extend(retried);
    sale.publish(&events).await;

    let first = sale.spawn_consumer().await;
    assert_eq!(
        sale.wait_for_orders(200, Duration::from_secs(30)).await,
        200
    );
    let first_group = sale.kafka.group_id.clone();
    assert_eq!(
        sale.wait_for_committed(&first_group, 220, Duration::from_secs(20))
            .await,
        220,
        "the first run committed every record"
    );
    first.stop().await.expect("clean stop");
    let before = sale.snapshot().await;
    assert_eq!(sale.remaining("FLASH-1").await, 0);

    // The same records from the earliest offset again: a group with no committed offsets
    // starts at the beginning of every partition (auto.offset.reset=earliest).
    let mut settings = sale.settings();
    settings.kafka.group_id = testkit::unique_name("replay");
    let replay_group = settings.kafka.group_id.clone();
    let second = TestConsumer::spawn(settings).await;
    assert_eq!(
        sale.wait_for_committed(&replay_group, 220, Duration::from_secs(30))
            .await,
        220,
        "the replay went through every record"
    );
    second.stop().await.expect("clean stop");

    assert_eq!(sale.snapshot().await, before, "a replay changed a row");
    let outcomes = sale.outcomes().await;
    assert_eq!(
        outcomes.get(&("confirmed".to_owned(), None)).copied(),
        Some(120),
        "{outcomes:?}"
    );
}
