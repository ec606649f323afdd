//! The audit as a JSON file (`loadgen audit --out`), read back by the report.
//!
//! Besides every check, it keeps what only the database knows about the run's timing,
//! computed from the rows the audit already read: orders processed per second of the
//! run (by `processed_at`) and the end-to-end latency `processed_at − accepted_at`
//! (HTTP 202 → committed in PostgreSQL). Both timestamps come from different clocks
//! (producer host, database server); on one machine that difference is noise, across
//! machines it is part of the number.

use serde::{Deserialize, Serialize};

use crate::audit::{AuditReport, OrderRow, Sale};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditFile {
    pub passed: bool,
    pub checks: Vec<CheckResult>,
    pub sale: SaleCounts,
    /// Rows of the run read from `orders`.
    pub rows: u64,
    /// The run's start (from the results file): second 0 of `processed_per_second`.
    pub started_unix_ms: u128,
    /// Orders processed in each second since the run's start (index = second).
    pub processed_per_second: Vec<u64>,
    /// `None` when the run has no rows.
    pub end_to_end: Option<LatencySummary>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckResult {
    pub name: String,
    pub ok: bool,
    pub detail: String,
}

/// The audited SKU after the run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SaleCounts {
    pub sku: String,
    pub stock: i64,
    /// `inventory.remaining`; `None` without an inventory row.
    pub remaining: Option<i64>,
    /// Rows of the run for the SKU, by status.
    pub confirmed: u64,
    pub rejected: u64,
}

/// Quantiles of a latency, milliseconds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LatencySummary {
    pub count: u64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

impl AuditFile {
    pub fn new(
        report: &AuditReport,
        rows: &[OrderRow],
        sale: &Sale,
        started_unix_ms: u128,
    ) -> Self {
        let count = |status: &str| {
            rows.iter()
                .filter(|r| r.sku == sale.sku && r.status == status)
                .count() as u64
        };
        Self {
            passed: report.passed(),
            checks: report
                .checks
                .iter()
                .map(|c| CheckResult {
                    name: c.name.to_owned(),
                    ok: c.ok,
                    detail: c.detail.clone(),
                })
                .collect(),
            sale: SaleCounts {
                sku: sale.sku.clone(),
                stock: sale.stock,
                remaining: sale.remaining,
                confirmed: count("confirmed"),
                rejected: count("rejected"),
            },
            rows: rows.len() as u64,
            started_unix_ms,
            processed_per_second: processed_per_second(rows, started_unix_ms),
            end_to_end: end_to_end_latency(rows),
        }
    }

    pub fn write(&self, path: &std::path::Path) -> anyhow::Result<()> {
        crate::json_file::write(path, self)
    }

    pub fn read(path: &std::path::Path) -> anyhow::Result<Self> {
        crate::json_file::read(path)
    }
}

/// Rows counted by the second of `processed_at` since the run's start; a row stamped
/// before the start (clock skew) counts in second 0.
pub fn processed_per_second(rows: &[OrderRow], started_unix_ms: u128) -> Vec<u64> {
    let start_us = i64::try_from(started_unix_ms.saturating_mul(1000)).unwrap_or(i64::MAX);
    let mut out: Vec<u64> = Vec::new();
    for row in rows {
        let second = (row.processed_at_us.saturating_sub(start_us).max(0) / 1_000_000) as usize;
        if out.len() <= second {
            out.resize(second + 1, 0);
        }
        out[second] += 1;
    }
    out
}

/// p50/p99/max of `processed_at − accepted_at` (nearest rank, exact).
pub fn end_to_end_latency(rows: &[OrderRow]) -> Option<LatencySummary> {
    let mut us: Vec<i64> = rows
        .iter()
        .map(|r| r.processed_at_us - r.accepted_at_us)
        .collect();
    if us.is_empty() {
        return None;
    }
    us.sort_unstable();
    let ms = |v: i64| v as f64 / 1000.0;
    Some(LatencySummary {
        count: us.len() as u64,
        p50_ms: ms(nearest_rank(&us, 0.50)),
        p99_ms: ms(nearest_rank(&us, 0.99)),
        max_ms: ms(us[us.len() - 1]),
    })
}

/// The smallest value with at least `q` of the (sorted, non-empty) values at or below it.
fn nearest_rank(sorted: &[i64], q: f64) -> i64 {
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

#[cfg(test)]
mod tests {
    use uuid::Uuid;

    use super::*;
    use crate::audit::Check;

    const START_MS: u128 = 1_700_000_000_000;
    const START_US: i64 = 1_700_000_000_000_000;

    fn row(n: u128, status: &str, accepted_ms: i64, processed_ms: i64) -> OrderRow {
        OrderRow {
            order_id: Uuid::from_u128(n),
            customer_id: format!("c-t-{n}"),
            sku: "FLASH-1".into(),
            quantity: 1,
            status: status.into(),
            reason: (status == "rejected").then(|| "sold_out".to_owned()),
            accepted_at_us: START_US + accepted_ms * 1000,
            processed_at_us: START_US + processed_ms * 1000,
        }
    }

    #[test]
    fn orders_are_counted_by_the_second_they_were_processed_in() {
        let rows = [
            row(1, "confirmed", 0, 100),
            row(2, "confirmed", 0, 999),
            row(3, "confirmed", 0, 1000),
            row(4, "rejected", 0, 3500),
        ];
        assert_eq!(processed_per_second(&rows, START_MS), vec![2, 1, 0, 1]);
        assert!(processed_per_second(&[], START_MS).is_empty());
    }

    #[test]
    fn a_row_stamped_before_the_start_counts_in_second_zero() {
        let rows = [row(1, "confirmed", -20, -10)];
        assert_eq!(processed_per_second(&rows, START_MS), vec![1]);
    }

    #[test]
    fn end_to_end_quantiles_are_exact_nearest_rank() {
        // Latencies 1..=100 ms.
        let rows: Vec<OrderRow> = (1..=100)
            .map(|n| row(n as u128, "confirmed", 0, n))
            .collect();
        let summary = end_to_end_latency(&rows).expect("rows");
        assert_eq!(summary.count, 100);
        assert_eq!(summary.p50_ms, 50.0);
        assert_eq!(summary.p99_ms, 99.0);
        assert_eq!(summary.max_ms, 100.0);
        let one = end_to_end_latency(&[row(1, "confirmed", 10, 12)]).expect("row");
        assert_eq!((one.p50_ms, one.p99_ms, one.max_ms), (2.0, 2.0, 2.0));
        assert_eq!(end_to_end_latency(&[]), None);
    }

    #[test]
    fn the_file_carries_every_check_and_the_sale_counts_and_reads_back() {
        let report = AuditReport {
            checks: vec![
                Check {
                    name: "a",
                    ok: true,
                    detail: "fine".into(),
                },
                Check {
                    name: "b",
                    ok: false,
                    detail: "broken".into(),
                },
            ],
        };
        let mut other = row(9, "confirmed", 0, 5);
        other.sku = "SKU-A".into();
        let rows = [
            row(1, "confirmed", 0, 5),
            row(2, "rejected", 0, 6),
            row(3, "rejected", 0, 7),
            other,
        ];
        let sale = Sale {
            sku: "FLASH-1".into(),
            stock: 1,
            remaining: Some(0),
        };
        let file = AuditFile::new(&report, &rows, &sale, START_MS);
        assert!(!file.passed);
        assert_eq!(file.checks.len(), 2);
        assert_eq!(
            (file.checks[1].name.as_str(), file.checks[1].ok),
            ("b", false)
        );
        assert_eq!((file.sale.confirmed, file.sale.rejected), (1, 2));
        assert_eq!(file.rows, 4);
        assert_eq!(file.processed_per_second, vec![4]);

        let dir = std::env::temp_dir().join(format!("loadgen-audit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("audit.json");
        file.write(&path).unwrap();
        assert_eq!(AuditFile::read(&path).unwrap(), file);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
