//! The metrics consumer-svc exports, in one place: names, help texts, label values.
//!
//! Names follow Prometheus conventions (`_total` counters, base units). Labels are bounded:
//! outcomes, error kinds and rebalance kinds are fixed sets; partitions are the topic's.

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

pub fn record_rebalance(kind: &'static str) {
    metrics::counter!(REBALANCES, "kind" => kind).increment(1);
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
