//! Reading back what the consumers wrote, for the audit.

use std::time::{Duration, Instant};

use sqlx::postgres::PgPoolOptions;
use sqlx::PgPool;

use crate::audit::OrderRow;

/// Connects to PostgreSQL (`postgres://user:pass@host:port/db`): one connection, the
/// audit's queries run one after the other.
pub async fn connect(url: &str) -> anyhow::Result<PgPool> {
    Ok(PgPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(Duration::from_secs(10))
        .connect(url)
        .await?)
}

/// Every `orders` row whose customer id starts with `prefix` (one run's rows).
pub async fn run_rows(pool: &PgPool, prefix: &str) -> anyhow::Result<Vec<OrderRow>> {
    let rows = sqlx::query_as::<
        _,
        (
            uuid::Uuid,
            String,
            String,
            i64,
            String,
            Option<String>,
            i64,
            i64,
        ),
    >(
        "SELECT order_id, customer_id, sku, quantity::bigint, status, reason, \
                (extract(epoch FROM accepted_at) * 1000000)::bigint, \
                (extract(epoch FROM processed_at) * 1000000)::bigint \
         FROM orders WHERE left(customer_id, length($1)) = $1",
    )
    .bind(prefix)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(
            |(order_id, customer_id, sku, quantity, status, reason, accepted, processed)| {
                OrderRow {
                    order_id,
                    customer_id,
                    sku,
                    quantity,
                    status,
                    reason,
                    accepted_at_us: accepted,
                    processed_at_us: processed,
                }
            },
        )
        .collect())
}

/// `inventory.remaining` of `sku`, `None` without a row.
pub async fn remaining(pool: &PgPool, sku: &str) -> anyhow::Result<Option<i64>> {
    Ok(
        sqlx::query_scalar("SELECT remaining FROM inventory WHERE sku = $1")
            .bind(sku)
            .fetch_optional(pool)
            .await?,
    )
}

/// Waits until at least `expected` rows of the run exist (the consumers drained the
/// backlog) or `timeout` passes; returns the rows read last.
pub async fn wait_for_rows(
    pool: &PgPool,
    prefix: &str,
    expected: usize,
    timeout: Duration,
) -> anyhow::Result<Vec<OrderRow>> {
    let deadline = Instant::now() + timeout;
    loop {
        let rows = run_rows(pool, prefix).await?;
        if rows.len() >= expected || Instant::now() >= deadline {
            return Ok(rows);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}
