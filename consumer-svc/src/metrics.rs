//! The metrics consumer-svc exports, in one place: names, help texts, label values.
//!
//! Names follow Prometheus conventions (`_total` counters, base units). Labels are bounded:
//! outcomes, error kinds and rebalance kinds are fixed sets; partitions are the topic's;
//! SKUs are the rows of `inventory`.
//!
//! Every labelled counter exists from the start, at 0, for each of its label values:
//! `rate()` over a series that appears only with its first increment misses that
//! increment, and a dashboard panel stays "no data" instead of showing a flat zero.

use std::time::Duration;

use crate::store::Outcome;

pub const ORDERS_PROCESSED: &str = "surge_orders_processed_total";
pub const BATCH_SIZE: &str = "surge_consumer_batch_size";
pub const BATCH_DURATION: &str = "surge_consumer_batch_duration_seconds";
pub const LAG: &str = "surge_consumer_lag";
pub const END_TO_END: &str = "surge_order_end_to_end_seconds";
pub const DLQ_RECORDS: &str = "surge_dlq_records_total";
pub const REBALANCES: &str = "surge_consumer_rebalances_total";
pub const DB_RETRIES: &str = "surge_db_retries_total";
pub const PAUSED: &str = "surge_consumer_paused";
pub const STOCK_REMAINING: &str = "surge_stock_remaining";

/// The `kind` label of [`DLQ_RECORDS`]: every `EventError::kind()`.
pub const DLQ_KINDS: [&str; 4] = ["empty", "undecodable", "unknown_schema", "invalid_field"];

/// The `kind` label of [`REBALANCES`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RebalanceKind {
    Assign,
    Revoke,
}

impl RebalanceKind {
    pub const ALL: [RebalanceKind; 2] = [RebalanceKind::Assign, RebalanceKind::Revoke];

    pub fn label(self) -> &'static str {
        match self {
            RebalanceKind::Assign => "assign",
            RebalanceKind::Revoke => "revoke",
        }
    }
}

/// Registers help texts and units; call once at start (repeating is harmless).
pub fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};
    describe_counter!(
        ORDERS_PROCESSED,
        "Order events applied to the database, by outcome (confirmed, rejected_sold_out, rejected_unknown_sku, duplicate)."
    );
    describe_histogram!(BATCH_SIZE, "Records per applied batch.");
    describe_histogram!(
        BATCH_DURATION,
        Unit::Seconds,
        "Time from a batch being taken to its offsets being stored, retries included."
    );
    describe_gauge!(
        LAG,
        "Records in this replica's assigned partitions not yet processed (high watermark minus next offset to process)."
    );
    describe_histogram!(
        END_TO_END,
        Unit::Seconds,
        "Time from the order's acceptance by producer-svc (accepted_at) to its transaction commit."
    );
    describe_counter!(
        DLQ_RECORDS,
        "Records dead-lettered because they can never become orders, by error kind."
    );
    describe_counter!(
        REBALANCES,
        "Partition assignment changes seen by this replica, by kind (assign, revoke)."
    );
    describe_counter!(
        DB_RETRIES,
        "Batches retried because the database was unreachable or failed."
    );
    describe_gauge!(
        PAUSED,
        "1 while fetching is paused because the database is failing."
    );
    describe_gauge!(
        STOCK_REMAINING,
        "Units left on sale per SKU, from the inventory table: set after every committed batch for its SKUs and refreshed for all SKUs periodically. Every replica reports the same table, so aggregate across replicas with max, not sum."
    );
}

/// Creates every labelled counter at 0 and the pause gauge at 0 (not paused). Adding 0
/// leaves a counter that already counted as it was, so a second replica in the same
/// process (tests) changes nothing.
pub fn register_known_series() {
    for outcome in Outcome::ALL {
        metrics::counter!(ORDERS_PROCESSED, "outcome" => outcome.label()).increment(0);
    }
    for kind in DLQ_KINDS {
        metrics::counter!(DLQ_RECORDS, "kind" => kind).increment(0);
    }
    for kind in RebalanceKind::ALL {
        metrics::counter!(REBALANCES, "kind" => kind.label()).increment(0);
    }
    metrics::counter!(DB_RETRIES).increment(0);
    metrics::gauge!(PAUSED).increment(0.0);
}

pub fn record_outcome(outcome: Outcome) {
    metrics::counter!(ORDERS_PROCESSED, "outcome" => outcome.label()).increment(1);
}

pub fn record_end_to_end(latency: Duration) {
    metrics::histogram!(END_TO_END).record(latency.as_secs_f64());
}

pub fn record_batch(records: usize, duration: Duration) {
    metrics::histogram!(BATCH_SIZE).record(records as f64);
    metrics::histogram!(BATCH_DURATION).record(duration.as_secs_f64());
}

pub fn record_dead_letter(kind: &'static str) {
    metrics::counter!(DLQ_RECORDS, "kind" => kind).increment(1);
}

pub fn record_rebalance(kind: RebalanceKind) {
    metrics::counter!(REBALANCES, "kind" => kind.label()).increment(1);
}

pub fn record_db_retry() {
    metrics::counter!(DB_RETRIES).increment(1);
}

pub fn set_paused(paused: bool) {
    metrics::gauge!(PAUSED).set(if paused { 1.0 } else { 0.0 });
}

pub fn set_lag(topic: &str, partition: i32, lag: i64) {
    metrics::gauge!(LAG, "topic" => topic.to_owned(), "partition" => partition.to_string())
        .set(lag.max(0) as f64);
}

pub fn set_stock(sku: &str, remaining: i64) {
    metrics::gauge!(STOCK_REMAINING, "sku" => sku.to_owned()).set(remaining as f64);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_dead_letter_kinds_are_every_kind_a_record_can_fail_with() {
        let samples: [Option<&[u8]>; 4] = [
            None,
            Some(b"not json"),
            Some(br#"{"schema":"order.v2"}"#),
            Some(
                br#"{"schema":"order.v1","order_id":"0190b2a4-0000-7000-8000-000000000000","sku":"no spaces","quantity":1,"customer_id":"c","accepted_at":"2026-01-01T00:00:00Z"}"#,
            ),
        ];
        let kinds: Vec<&str> = samples
            .into_iter()
            .map(|value| order::decode_event(value).unwrap_err().kind())
            .collect();
        assert_eq!(kinds, DLQ_KINDS);
    }
}
