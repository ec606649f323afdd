//! The set-based batch transaction decides every order exactly as applying the orders one
//! by one did. The one-by-one version is kept here as the oracle: lock the batch's stock
//! rows, then per order `INSERT … ON CONFLICT DO NOTHING` and, for a new confirmed order,
//! a conditional `UPDATE` of its SKU.

use std::collections::HashMap;
use std::time::Duration;

use sqlx::{PgPool, Row};
use time::OffsetDateTime;
use uuid::Uuid;

use consumer_svc::store::{decision_order, Outcome, PendingOrder, Store};
use order::OrderEvent;
use testkit::postgres::TestDatabase;

async fn migrated_database() -> (TestDatabase, PgPool) {
    let db = TestDatabase::create().await;
    let pool = db.pool().await;
    consumer_svc::db::migrate(&pool)
        .await
        .expect("migrations apply to a fresh database");
    (db, pool)
}

/// An order of `customer` for `quantity` of `sku`, accepted `ms` milliseconds after a
/// fixed start, at (`partition`, `offset`).
fn pending(
    order_id: Uuid,
    sku: &str,
    quantity: u32,
    ms: i64,
    partition: i32,
    offset: i64,
) -> PendingOrder {
    PendingOrder {
        event: OrderEvent {
            schema: order::SCHEMA_V1.to_owned(),
            order_id,
            sku: sku.to_owned(),
            quantity,
            customer_id: format!("c-{partition}"),
            accepted_at: OffsetDateTime::UNIX_EPOCH
                + Duration::from_secs(1_800_000_000)
                + Duration::from_millis(ms as u64),
        },
        partition,
        offset,
        span: tracing::Span::none(),
    }
}

/// The one-by-one transaction, in decision order.
async fn apply_one_by_one(pool: &PgPool, orders: &[PendingOrder]) -> Vec<Outcome> {
    let mut tx = pool.begin().await.expect("begin");
    let mut skus: Vec<String> = orders.iter().map(|o| o.event.sku.clone()).collect();
    skus.sort_unstable();
    skus.dedup();
    let mut stock: HashMap<String, i64> = sqlx::query(
        "SELECT sku, remaining FROM inventory WHERE sku = ANY($1) ORDER BY sku FOR UPDATE",
    )
    .bind(&skus)
    .fetch_all(&mut *tx)
    .await
    .expect("lock stock")
    .into_iter()
    .map(|r| (r.get(0), r.get(1)))
    .collect();
    let mut outcomes = vec![Outcome::Duplicate; orders.len()];
    for i in decision_order(orders) {
        let (event, quantity) = (&orders[i].event, i64::from(orders[i].event.quantity));
        let outcome = match stock.get(&event.sku) {
            None => Outcome::RejectedUnknownSku,
            Some(&left) if left >= quantity => Outcome::Confirmed,
            Some(_) => Outcome::RejectedSoldOut,
        };
        let (status, reason) = match outcome {
            Outcome::Confirmed => ("confirmed", None),
            Outcome::RejectedSoldOut => ("rejected", Some("sold_out")),
            _ => ("rejected", Some("unknown_sku")),
        };
        let inserted = sqlx::query(
            "INSERT INTO orders (order_id, customer_id, sku, quantity, status, reason, \
             kafka_partition, kafka_offset, accepted_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
             ON CONFLICT (order_id) DO NOTHING",
        )
        .bind(event.order_id)
        .bind(&event.customer_id)
        .bind(&event.sku)
        .bind(event.quantity as i32)
        .bind(status)
        .bind(reason)
        .bind(orders[i].partition)
        .bind(orders[i].offset)
        .bind(event.accepted_at)
        .execute(&mut *tx)
        .await
        .expect("insert")
        .rows_affected()
            == 1;
        if !inserted {
            continue;
        }
        if outcome == Outcome::Confirmed {
            let left: i64 = sqlx::query_scalar(
                "UPDATE inventory SET remaining = remaining - $2 WHERE sku = $1 \
                 AND remaining >= $2 RETURNING remaining",
            )
            .bind(&event.sku)
            .bind(quantity)
            .fetch_one(&mut *tx)
            .await
            .expect("the locked stock covers a confirmed order");
            stock.insert(event.sku.clone(), left);
        }
        outcomes[i] = outcome;
    }
    tx.commit().await.expect("commit");
    outcomes
}

/// Every order row (id, status, reason, partition, offset) and every stock level, as text.
async fn rows(pool: &PgPool) -> Vec<String> {
    let mut rows: Vec<String> = sqlx::query_scalar(
        "SELECT concat_ws(' ', order_id, status, reason, sku, quantity, kafka_partition, kafka_offset) \
         FROM orders ORDER BY order_id",
    )
    .fetch_all(pool)
    .await
    .expect("orders");
    let stock: Vec<String> =
        sqlx::query_scalar("SELECT sku || ' ' || remaining FROM inventory ORDER BY sku")
            .fetch_all(pool)
            .await
            .expect("inventory");
    rows.extend(stock);
    rows
}

async fn seed(pool: &PgPool, stock: &[(&str, i64)]) {
    let store = Store::new(pool.clone());
    for (sku, units) in stock {
        store.seed_stock(sku, *units).await.expect("seed");
    }
}

#[tokio::test]
async fn a_batch_decides_every_order_as_applying_the_orders_one_by_one_did() {
    let (_set_db, set_pool) = migrated_database().await;
    let (_oracle_db, oracle_pool) = migrated_database().await;
    // HOT sells out inside the second batch; SIDE is plentiful; TINY cannot cover a
    // quantity of 3 but still covers a later quantity of 1; NOPE is not on sale.
    let stock = [("HOT-1", 7), ("SIDE-1", 100), ("TINY-1", 2)];
    seed(&set_pool, &stock).await;
    seed(&oracle_pool, &stock).await;
    let ids: Vec<Uuid> = (0..40).map(|_| Uuid::now_v7()).collect();

    let batches: Vec<Vec<PendingOrder>> = vec![
        vec![
            pending(ids[0], "HOT-1", 2, 0, 0, 0),
            pending(ids[1], "SIDE-1", 5, 1, 1, 0),
            pending(ids[2], "HOT-1", 1, 2, 1, 1),
            pending(ids[3], "NOPE-1", 1, 3, 2, 0),
            pending(ids[4], "TINY-1", 3, 4, 2, 1),
        ],
        vec![
            // Redeliveries of the first batch, which must not take stock again.
            pending(ids[0], "HOT-1", 2, 0, 0, 0),
            pending(ids[2], "HOT-1", 1, 2, 1, 1),
            // Partition 0 is ahead in the fetch, but partition 1's head was accepted
            // earlier: it is decided first.
            pending(ids[5], "HOT-1", 2, 30, 0, 1),
            pending(ids[6], "HOT-1", 1, 31, 0, 2),
            pending(ids[7], "HOT-1", 3, 10, 1, 2),
            // A retried request: the same order twice in one batch.
            pending(ids[8], "HOT-1", 1, 11, 1, 3),
            pending(ids[8], "HOT-1", 1, 11, 1, 4),
            pending(ids[9], "HOT-1", 1, 12, 2, 2),
            pending(ids[10], "TINY-1", 1, 13, 2, 3),
            pending(ids[11], "TINY-1", 3, 14, 2, 4),
            pending(ids[12], "NOPE-1", 2, 15, 2, 5),
            pending(ids[13], "SIDE-1", 100, 16, 3, 0),
            pending(ids[14], "SIDE-1", 95, 17, 3, 1),
            pending(ids[15], "HOT-1", 1, 32, 0, 3),
        ],
        vec![
            // Only duplicates: nothing may change.
            pending(ids[7], "HOT-1", 3, 10, 1, 2),
            pending(ids[13], "SIDE-1", 100, 16, 3, 0),
        ],
        vec![
            // After the sell-out: a retried request of a processed order, and new orders.
            pending(ids[16], "HOT-1", 1, 40, 0, 4),
            pending(ids[5], "HOT-1", 2, 43, 0, 5),
            pending(ids[17], "SIDE-1", 1, 41, 3, 2),
            pending(ids[18], "TINY-1", 1, 42, 2, 6),
        ],
    ];

    let store = Store::new(set_pool.clone());
    let mut confirmed = 0;
    for (n, batch) in batches.iter().enumerate() {
        let expected = apply_one_by_one(&oracle_pool, batch).await;
        let committed = store.apply_batch(batch).await.expect("batch commits");
        assert_eq!(
            committed.outcomes, expected,
            "batch {n}: the set-based outcomes differ from the one-by-one ones"
        );
        assert_eq!(
            rows(&set_pool).await,
            rows(&oracle_pool).await,
            "batch {n}: the rows differ from the one-by-one ones"
        );
        confirmed += expected
            .iter()
            .filter(|o| **o == Outcome::Confirmed)
            .count();
    }
    // Delivered all over again, every batch changes nothing.
    let before = rows(&set_pool).await;
    for batch in &batches {
        let committed = store.apply_batch(batch).await.expect("batch commits");
        assert!(committed.outcomes.iter().all(|o| *o == Outcome::Duplicate));
    }
    assert_eq!(rows(&set_pool).await, before, "a redelivery changed a row");
    // The batches exercise what they claim to: confirmations, sell-outs, unknown SKUs.
    assert_eq!(confirmed, 8, "{before:?}");
    let outcomes: Vec<(String, Option<String>, i64)> = sqlx::query(
        "SELECT status, reason, count(*) FROM orders GROUP BY 1, 2 ORDER BY 1, 2 NULLS FIRST",
    )
    .fetch_all(&set_pool)
    .await
    .expect("outcomes")
    .into_iter()
    .map(|r| (r.get(0), r.get(1), r.get(2)))
    .collect();
    assert_eq!(
        outcomes,
        [
            ("confirmed".to_owned(), None, 8),
            ("rejected".to_owned(), Some("sold_out".to_owned()), 9),
            ("rejected".to_owned(), Some("unknown_sku".to_owned()), 2),
        ]
    );
}

#[tokio::test]
async fn an_order_is_decided_by_the_stock_it_locked_not_by_the_level_read_before_the_lock() {
    let (db, pool) = migrated_database().await;
    seed(&pool, &[("HOT-1", 10)]).await;
    let batch: Vec<PendingOrder> = (0..8)
        .map(|i| pending(Uuid::now_v7(), "HOT-1", 1, i, 0, i))
        .collect();

    // Another replica holds the row and sells 5 units; it commits only once this batch
    // waits for the row lock, i.e. after the batch read the stock as 10.
    let mut other = pool.begin().await.expect("begin");
    sqlx::query("UPDATE inventory SET remaining = remaining - 5 WHERE sku = 'HOT-1'")
        .execute(&mut *other)
        .await
        .expect("the other replica takes 5 units");
    let store = Store::new(db.pool().await);
    let applying = tokio::spawn(async move { store.apply_batch(&batch).await });
    let waiting = crate::helpers::eventually(Duration::from_secs(20), || {
        let pool = pool.clone();
        async move {
            sqlx::query_scalar::<_, i64>(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() \
                 AND wait_event_type = 'Lock' AND query LIKE '%FOR UPDATE'",
            )
            .fetch_one(&pool)
            .await
            .expect("pg_stat_activity")
                == 1
        }
    })
    .await;
    assert!(waiting, "the batch never waited for the stock row");
    other.commit().await.expect("the other replica commits");

    let committed = applying
        .await
        .expect("task")
        .expect("the batch commits on the locked level");
    let confirmed = committed
        .outcomes
        .iter()
        .filter(|o| **o == Outcome::Confirmed)
        .count();
    assert_eq!(confirmed, 5, "{:?}", committed.outcomes);
    assert!(committed.outcomes[5..]
        .iter()
        .all(|o| *o == Outcome::RejectedSoldOut));
    assert_eq!(committed.stock.get("HOT-1"), Some(&0));
    let rows: Vec<(String, i64)> =
        sqlx::query("SELECT status, count(*) FROM orders GROUP BY 1 ORDER BY 1")
            .fetch_all(&pool)
            .await
            .expect("orders")
            .into_iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect();
    assert_eq!(
        rows,
        [("confirmed".to_owned(), 5), ("rejected".to_owned(), 3)]
    );
}
