//! `surge_stock_remaining`: units left per SKU, as the `inventory` table holds them.
//!
//! Two sources keep the gauge current. After every committed batch the worker reports the
//! stock of the batch's SKUs, as its transaction locked and left them, so the gauge
//! follows a sale batch by batch. This reporter reads the whole table when the replica
//! starts and then every `consumer.stock_interval_ms`, with one statement: SKUs no batch
//! has touched yet (stock seeded later by `consumer-svc seed-stock`, or sold only by other
//! replicas) show up too, and a SKU removed from the table drops to 0.
//!
//! A refresh that read the table just before a batch committed can report the older,
//! higher level after the batch did; the next batch or refresh corrects it. The gauge is
//! a dashboard's view, never an input to deciding an order.

use std::collections::BTreeSet;
use std::time::Duration;

use tokio::task::JoinHandle;

use crate::metrics;
use crate::store::Store;

/// Reads the whole `inventory` table at once and then every `interval`, until aborted.
pub fn spawn_stock_reporter(store: Store, interval: Duration) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut reported = BTreeSet::new();
        let mut was_failing = false;
        loop {
            ticker.tick().await;
            match store.stock_levels().await {
                Ok(levels) => {
                    was_failing = false;
                    let seen: BTreeSet<String> =
                        levels.iter().map(|(sku, _)| sku.clone()).collect();
                    for gone in reported.difference(&seen) {
                        metrics::set_stock(gone, 0);
                    }
                    for (sku, remaining) in &levels {
                        metrics::set_stock(sku, *remaining);
                    }
                    reported = seen;
                }
                // The readiness check already reports an outage; say it once here.
                Err(error) if !was_failing => {
                    was_failing = true;
                    tracing::warn!(%error, "could not read the stock levels");
                }
                Err(_) => {}
            }
        }
    })
}
