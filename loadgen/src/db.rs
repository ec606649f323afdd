//! Reading back what the consumers wrote, for the audit.

use std::time::{Duration, Instant};

use tokio_postgres::{Client, NoTls};

use crate::audit::OrderRow;

/// Connects to PostgreSQL (`postgres://user:pass@host:port/db`).
pub async fn connect(url: &str) -> anyhow::Result<Client> {
    let (client, connection) = tokio_postgres::connect(url, NoTls).await?;
    tokio::spawn(async move {
        if let Err(error) = connection.await {
            eprintln!("loadgen: database connection ended: {error}");
        }
    });
    Ok(client)
}

/// Every `orders` row whose customer id starts with `prefix` (one run's rows).
pub async fn run_rows(client: &Client, prefix: &str) -> anyhow::Result<Vec<OrderRow>> {
    let rows = client
        .query(
            "SELECT order_id, customer_id, sku, quantity::bigint, status, reason, \
                    (extract(epoch FROM accepted_at) * 1000000)::bigint, \
                    (extract(epoch FROM processed_at) * 1000000)::bigint \
             FROM orders WHERE left(customer_id, length($1)) = $1",
            &[&prefix],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| OrderRow {
            order_id: r.get(0),
            customer_id: r.get(1),
            sku: r.get(2),
            quantity: r.get(3),
            status: r.get(4),
            reason: r.get(5),
            accepted_at_us: r.get(6),
            processed_at_us: r.get(7),
        })
        .collect())
}

/// `inventory.remaining` of `sku`, `None` without a row.
pub async fn remaining(client: &Client, sku: &str) -> anyhow::Result<Option<i64>> {
    let row = client
        .query_opt("SELECT remaining FROM inventory WHERE sku = $1", &[&sku])
        .await?;
    Ok(row.map(|r| r.get(0)))
}

/// Waits until at least `expected` rows of the run exist (the consumers drained the
/// backlog) or `timeout` passes; returns the rows read last.
pub async fn wait_for_rows(
    client: &Client,
    prefix: &str,
    expected: usize,
    timeout: Duration,
) -> anyhow::Result<Vec<OrderRow>> {
    let deadline = Instant::now() + timeout;
    loop {
        let rows = run_rows(client, prefix).await?;
        if rows.len() >= expected || Instant::now() >= deadline {
            return Ok(rows);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}
