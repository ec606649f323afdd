//! How many orders per second consumers apply to PostgreSQL, batched. Measurements, not
//! checks, so they only run when asked:
//!
//! ```sh
//! SURGE_BENCH_ORDERS=100000 cargo test --release -p consumer-svc --test api -- \
//!     --ignored --nocapture one_consumer_throughput
//! SURGE_BENCH_CONSUMERS=1,2,4 SURGE_BENCH_SIMULATED_MS=1 SURGE_BENCH_ORDERS=20000 \
//!     cargo test --release -p consumer-svc --test api -- --ignored --nocapture \
//!     group_throughput_on_one_hot_sku
//! ```
//!
//! Each prints one `bench:` line per figure (`key=value` pairs) for `scripts/bench.sh`.

use std::time::{Duration, Instant};

use sqlx::PgPool;

use crate::helpers::{orders, wait_for_assignment, Sale, TestConsumer};

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement; run explicitly"]
async fn one_consumer_throughput() {
    let total: usize = env_or("SURGE_BENCH_ORDERS", 100_000);
    let batch: usize = env_or("SURGE_BENCH_BATCH", 500);
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
    println!(
        "bench: what=topic topic={} records={total} database={}",
        sale.topic(),
        sale.db.url()
    );

    let mut settings = sale.settings();
    settings.consumer.batch_max_records = batch;
    settings.consumer.batch_max_wait_ms = 50;
    let started = Instant::now();
    let consumer = TestConsumer::spawn(settings).await;
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
    println!(
        "bench: what=consumer consumers=1 batch={batch} orders={total} orders_per_s={:.0}",
        total as f64 / elapsed
    );
    consumer.stop().await.expect("clean stop");

    let ceiling = plain_insert_rate(&sale.pool, batch).await;
    println!(
        "database ceiling: the same {total} rows INSERTed again into a copy of the table, \
         {batch} per statement and transaction, one connection: {ceiling:.0} rows/s"
    );
    println!("bench: what=db_ceiling batch={batch} rows_per_s={ceiling:.0}");
}

/// Rows per second of a plain batched `INSERT` of the rows the consumer wrote (read back
/// into memory first) into an empty copy of the table, `batch` rows per statement sent as
/// arrays like the consumer sends them, one transaction each: what the database takes
/// when nothing is decided, locked or checked for duplicates.
async fn plain_insert_rate(pool: &PgPool, batch: usize) -> f64 {
    sqlx::query("CREATE TABLE orders_ceiling (LIKE orders INCLUDING ALL)")
        .execute(pool)
        .await
        .expect("copy of the orders table");
    type Row = (
        uuid::Uuid,
        String,
        String,
        i32,
        String,
        Option<String>,
        i32,
        i64,
        time::OffsetDateTime,
    );
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT order_id, customer_id, sku, quantity, status, reason, kafka_partition, \
         kafka_offset, accepted_at FROM orders ORDER BY kafka_partition, kafka_offset",
    )
    .fetch_all(pool)
    .await
    .expect("the consumer's rows");
    let started = Instant::now();
    for chunk in rows.chunks(batch) {
        let mut tx = pool.begin().await.expect("begin");
        sqlx::query(
            "INSERT INTO orders_ceiling (order_id, customer_id, sku, quantity, status, reason, \
             kafka_partition, kafka_offset, accepted_at, processed_at) \
             SELECT o.*, now() FROM unnest($1::uuid[], $2::text[], $3::text[], $4::integer[], \
             $5::text[], $6::text[], $7::integer[], $8::bigint[], $9::timestamptz[]) AS o",
        )
        .bind(chunk.iter().map(|r| r.0).collect::<Vec<_>>())
        .bind(chunk.iter().map(|r| r.1.as_str()).collect::<Vec<_>>())
        .bind(chunk.iter().map(|r| r.2.as_str()).collect::<Vec<_>>())
        .bind(chunk.iter().map(|r| r.3).collect::<Vec<_>>())
        .bind(chunk.iter().map(|r| r.4.as_str()).collect::<Vec<_>>())
        .bind(chunk.iter().map(|r| r.5.as_deref()).collect::<Vec<_>>())
        .bind(chunk.iter().map(|r| r.6).collect::<Vec<_>>())
        .bind(chunk.iter().map(|r| r.7).collect::<Vec<_>>())
        .bind(chunk.iter().map(|r| r.8).collect::<Vec<_>>())
        .execute(&mut *tx)
        .await
        .expect("plain insert");
        tx.commit().await.expect("commit");
    }
    rows.len() as f64 / started.elapsed().as_secs_f64()
}

/// Orders per second of a group of 1, 2, 4 … consumers (`SURGE_BENCH_CONSUMERS`) on a
/// sale of one hot SKU, half of the orders confirmed, half sold out, every replica
/// locking the same stock row. `SURGE_BENCH_SIMULATED_MS` adds the demo's simulated
/// downstream work per order. The group joins before the orders are published, and the
/// rate is taken between 10 % and 90 % of the rows, so the last stragglers do not count.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement; run explicitly"]
async fn group_throughput_on_one_hot_sku() {
    let total: usize = env_or("SURGE_BENCH_ORDERS", 50_000);
    let batch: usize = env_or("SURGE_BENCH_BATCH", 500);
    let simulated_ms: u64 = env_or("SURGE_BENCH_SIMULATED_MS", 0);
    let groups: Vec<usize> = std::env::var("SURGE_BENCH_CONSUMERS")
        .unwrap_or_else(|_| "1,2,4".to_owned())
        .split(',')
        .filter_map(|n| n.trim().parse().ok())
        .collect();
    let mut first_rate = None;
    for n in groups {
        let sale = Sale::new(12).await;
        sale.seed("FLASH-1", (total / 2) as i64).await;
        let mut settings = sale.settings();
        settings.consumer.batch_max_records = batch;
        settings.consumer.batch_max_wait_ms = 50;
        settings.processing.simulated_latency_ms = simulated_ms;
        let mut consumers = Vec::with_capacity(n);
        for _ in 0..n {
            consumers.push(TestConsumer::spawn(settings.clone()).await);
        }
        // The group settles before the sale: a group that joins while it drains measures
        // its rebalances (a member applying a batch hands partitions over only after it).
        wait_for_assignment(&consumers.iter().collect::<Vec<_>>(), 12).await;
        for chunk in orders("FLASH-1", total).chunks(10_000) {
            sale.publish(chunk).await;
        }
        let (low, high) = ((total / 10) as i64, (total * 9 / 10) as i64);
        let (mut low_at, mut high_at) = (None, None);
        let deadline = Instant::now() + Duration::from_secs(1800);
        while high_at.is_none() && Instant::now() < deadline {
            let count = sale.order_count().await;
            if low_at.is_none() && count >= low {
                low_at = Some((Instant::now(), count));
            }
            if count >= high {
                high_at = Some((Instant::now(), count));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let done = sale
            .wait_for_orders(total as i64, Duration::from_secs(600))
            .await;
        assert_eq!(done, total as i64);
        let ((t0, c0), (t1, c1)) = (low_at.expect("10 %"), high_at.expect("90 %"));
        let rate = (c1 - c0) as f64 / (t1 - t0).as_secs_f64();
        let ratio = rate / *first_rate.get_or_insert(rate);
        assert_eq!(sale.remaining("FLASH-1").await, 0);
        println!(
            "{n} consumer(s), one hot SKU, batches of {batch}, simulated {simulated_ms} ms/order: \
             {rate:.0} orders/s ({ratio:.2}x the first group)"
        );
        println!(
            "bench: what=hot_sku consumers={n} batch={batch} simulated_ms={simulated_ms} \
             orders={total} orders_per_s={rate:.0} ratio={ratio:.2}"
        );
        for consumer in consumers {
            consumer.stop().await.expect("clean stop");
        }
    }
}
