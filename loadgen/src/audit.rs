//! The post-run audit: does the database hold exactly what the HTTP answers promised?
//!
//! A pure function over the run's results and the rows read back, so every rule is
//! unit-tested without a database; [`crate::db`] does the reading.
//!
//! Ambiguity is handled honestly: a request answered 5xx, or lost to a timeout, may or
//! may not have been published (the broker can ack after the client gave up). Rows for
//! such requests are "unexplained but possible"; the audit fails only if there are more
//! of them than uncertain requests, or if a row belongs to a request that was
//! certainly refused (a 4xx carrying an `Idempotency-Key`, whose order id is known).
//! The stock check assumes the SKU's stock was set for this run alone.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::fmt::Write as _;

use uuid::Uuid;

use crate::results::RunResults;

/// One row of `orders`, as the audit needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderRow {
    pub order_id: Uuid,
    pub customer_id: String,
    pub sku: String,
    pub quantity: i64,
    pub status: String,
    pub reason: Option<String>,
    /// `accepted_at` (the producer's 202), Unix time in microseconds.
    pub accepted_at_us: i64,
    /// `processed_at` (the consumer's commit), Unix time in microseconds.
    pub processed_at_us: i64,
}

/// The audited sale: one SKU with `stock` units at the start of the run.
#[derive(Debug, Clone)]
pub struct Sale {
    pub sku: String,
    pub stock: i64,
    /// `inventory.remaining` of the SKU after the run; `None` if it has no row.
    pub remaining: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    pub name: &'static str,
    pub ok: bool,
    pub detail: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditReport {
    pub checks: Vec<Check>,
}

impl AuditReport {
    pub fn passed(&self) -> bool {
        self.checks.iter().all(|c| c.ok)
    }

    /// A plain table, one line per check.
    pub fn table(&self) -> String {
        let mut out = format!("{:<44} {:<6} {}\n", "CHECK", "RESULT", "DETAIL");
        for c in &self.checks {
            let _ = writeln!(
                out,
                "{:<44} {:<6} {}",
                c.name,
                if c.ok { "PASS" } else { "FAIL" },
                c.detail
            );
        }
        let _ = writeln!(
            out,
            "audit: {}",
            if self.passed() { "PASSED" } else { "FAILED" }
        );
        out
    }
}

/// Audits the rows of this run (`rows`: every `orders` row whose customer id starts with
/// the run's prefix) against its results.
pub fn audit(results: &RunResults, rows: &[OrderRow], sale: &Sale) -> AuditReport {
    let mut checks = Vec::new();
    let accepted: HashSet<Uuid> = results.accepted.iter().map(|a| a.order_id).collect();
    let mut row_count: HashMap<Uuid, usize> = HashMap::new();
    for row in rows {
        *row_count.entry(row.order_id).or_default() += 1;
    }
    let by_id: HashMap<Uuid, &OrderRow> = rows.iter().map(|r| (r.order_id, r)).collect();

    // 1. Every 202 has exactly one row.
    let missing: Vec<Uuid> = accepted
        .iter()
        .filter(|id| !row_count.contains_key(id))
        .copied()
        .collect();
    let duplicated = row_count.values().filter(|&&n| n > 1).count();
    checks.push(Check {
        name: "every 202 order has exactly one row",
        ok: missing.is_empty() && duplicated == 0,
        detail: format!(
            "{} accepted order ids, {} missing{}, {} duplicated",
            accepted.len(),
            missing.len(),
            sample(&missing),
            duplicated
        ),
    });

    // 2. No row for a refused request.
    let extras: Vec<Uuid> = row_count
        .keys()
        .filter(|id| !accepted.contains(id))
        .copied()
        .collect();
    let refused: HashSet<Uuid> = results.refused_keyed.iter().copied().collect();
    let refused_with_row: Vec<Uuid> = extras
        .iter()
        .filter(|id| refused.contains(id))
        .copied()
        .collect();
    checks.push(Check {
        name: "no row for a refused request",
        ok: refused_with_row.is_empty(),
        detail: format!(
            "{} rows in all = {} accepted + {} without a 202; {} of them for refused keys{}",
            row_count.len(),
            row_count.len() - extras.len(),
            extras.len(),
            refused_with_row.len(),
            sample(&refused_with_row),
        ),
    });

    // 2b. The other rows without a 202 belong to requests whose outcome is unknown: a 503
    // after the delivery timeout (the record may be on the broker), another 5xx, no answer.
    // They are counted apart: such a request was not refused, and may have become an order.
    let uncertain = results.uncertain.len();
    let uncertain_ids: HashSet<Uuid> = results
        .uncertain
        .iter()
        .filter_map(|u| u.order_id)
        .collect();
    let became_orders = extras
        .iter()
        .filter(|id| uncertain_ids.contains(id))
        .count();
    let unexplained = extras.len() - refused_with_row.len();
    checks.push(Check {
        name: "rows without a 202 only for requests with an unknown outcome",
        ok: unexplained <= uncertain,
        detail: format!(
            "{unexplained} rows without a 202 and no refusal, for {uncertain} requests with an \
             unknown outcome (5xx or no answer); {became_orders} of those, matched by \
             Idempotency-Key, became orders"
        ),
    });

    // 3. Stock: confirmed = min(stock, orders for the SKU); the rest rejected sold out.
    let sku_orders: BTreeSet<Uuid> = rows
        .iter()
        .filter(|r| r.sku == sale.sku)
        .map(|r| r.order_id)
        .chain(
            results
                .accepted
                .iter()
                .filter(|a| a.sku == sale.sku)
                .map(|a| a.order_id),
        )
        .collect();
    let accepted_for_sku = results
        .accepted
        .iter()
        .filter(|a| a.sku == sale.sku)
        .map(|a| a.order_id)
        .collect::<HashSet<_>>()
        .len();
    let unit_orders = rows
        .iter()
        .filter(|r| r.sku == sale.sku)
        .all(|r| r.quantity == 1);
    let confirmed: Vec<&OrderRow> = by_id
        .values()
        .filter(|r| r.sku == sale.sku && r.status == "confirmed")
        .copied()
        .collect();
    let sold_out = by_id
        .values()
        .filter(|r| {
            r.sku == sale.sku && r.status == "rejected" && r.reason.as_deref() == Some("sold_out")
        })
        .count();
    let expected_confirmed = (sale.stock.max(0) as usize).min(sku_orders.len());
    checks.push(Check {
        name: "confirmed = min(stock, orders for the SKU)",
        ok: unit_orders && confirmed.len() == expected_confirmed,
        detail: format!(
            "{}: stock {}, {} accepted orders ({} with a row), {} confirmed (expected {}), {} rejected sold_out{}",
            sale.sku,
            sale.stock,
            accepted_for_sku,
            sku_orders.iter().filter(|id| row_count.contains_key(id)).count(),
            confirmed.len(),
            expected_confirmed,
            sold_out,
            if unit_orders { "" } else { "; orders of quantity > 1 present" }
        ),
    });

    // 4. Stock never negative, and it adds up.
    let confirmed_quantity: i64 = confirmed.iter().map(|r| r.quantity).sum();
    checks.push(Check {
        name: "stock never negative and accounted for",
        ok: matches!(sale.remaining, Some(r) if r >= 0 && r == sale.stock - confirmed_quantity),
        detail: match sale.remaining {
            Some(r) => format!(
                "remaining {r} = stock {} - confirmed {}{}",
                sale.stock,
                confirmed_quantity,
                if r == sale.stock - confirmed_quantity {
                    ""
                } else {
                    " does NOT hold"
                }
            ),
            None => format!("no inventory row for {}", sale.sku),
        },
    });

    // 5. Retried keys produced one order each.
    let mut bad_keys = Vec::new();
    for (key, ids) in &results.retried_keys {
        let distinct: HashSet<&Uuid> = ids.iter().collect();
        let one_row = ids.first().is_none_or(|id| row_count.get(id) == Some(&1));
        if distinct.len() > 1 || !one_row {
            bad_keys.push(key.clone());
        }
    }
    let answered = results
        .retried_keys
        .values()
        .filter(|ids| ids.len() > 1)
        .count();
    checks.push(Check {
        name: "a retried Idempotency-Key makes one order",
        ok: bad_keys.is_empty(),
        detail: format!(
            "{} keys sent more than once ({} answered 202 more than once), {} with several orders or rows{}",
            results.retried_keys.len(),
            answered,
            bad_keys.len(),
            if bad_keys.is_empty() { String::new() } else { format!(" e.g. {}", bad_keys[0]) }
        ),
    });

    AuditReport { checks }
}

fn sample(ids: &[Uuid]) -> String {
    match ids.first() {
        Some(id) => format!(" (e.g. {id})"),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::results::{Accepted, Uncertain};

    fn accepted(id: u128, sku: &str, key: Option<&str>) -> Accepted {
        Accepted {
            order_id: Uuid::from_u128(id),
            customer_id: format!("c-t-{id}"),
            sku: sku.into(),
            quantity: 1,
            idempotency_key: key.map(str::to_owned),
            partition: Some(0),
            offset: Some(id as i64),
        }
    }

    fn row(id: u128, sku: &str, status: &str) -> OrderRow {
        OrderRow {
            order_id: Uuid::from_u128(id),
            customer_id: format!("c-t-{id}"),
            sku: sku.into(),
            quantity: 1,
            status: status.into(),
            reason: (status == "rejected").then(|| "sold_out".to_owned()),
            accepted_at_us: 0,
            processed_at_us: 0,
        }
    }

    /// 5 accepted FLASH-1 orders, stock 3: 3 confirmed, 2 sold out; one key retried.
    fn good_run() -> (RunResults, Vec<OrderRow>, Sale) {
        let mut results = RunResults {
            customer_prefix: "c-t-".into(),
            ..RunResults::default()
        };
        for id in 1..=5 {
            results
                .accepted
                .push(accepted(id, "FLASH-1", (id == 2).then_some("k2")));
        }
        // The retry of k2 got the same order id.
        results.accepted.push(accepted(2, "FLASH-1", Some("k2")));
        results.retried_keys = BTreeMap::from([("k2".to_owned(), vec![Uuid::from_u128(2); 2])]);
        let rows = vec![
            row(1, "FLASH-1", "confirmed"),
            row(2, "FLASH-1", "confirmed"),
            row(3, "FLASH-1", "confirmed"),
            row(4, "FLASH-1", "rejected"),
            row(5, "FLASH-1", "rejected"),
        ];
        let sale = Sale {
            sku: "FLASH-1".into(),
            stock: 3,
            remaining: Some(0),
        };
        (results, rows, sale)
    }

    fn failed(report: &AuditReport) -> Vec<&'static str> {
        report
            .checks
            .iter()
            .filter(|c| !c.ok)
            .map(|c| c.name)
            .collect()
    }

    #[test]
    fn a_clean_sale_passes_every_check() {
        let (results, rows, sale) = good_run();
        let report = audit(&results, &rows, &sale);
        assert!(report.passed(), "{}", report.table());
        assert!(report.table().contains("audit: PASSED"));
    }

    #[test]
    fn a_202_without_a_row_fails() {
        let (results, mut rows, sale) = good_run();
        rows.retain(|r| r.order_id != Uuid::from_u128(5));
        let report = audit(&results, &rows, &sale);
        assert!(failed(&report).contains(&"every 202 order has exactly one row"));
    }

    #[test]
    fn a_row_for_a_refused_keyed_request_fails() {
        let (mut results, mut rows, sale) = good_run();
        results.refused_keyed.push(Uuid::from_u128(99));
        rows.push(row(99, "SKU-A", "rejected"));
        let report = audit(&results, &rows, &sale);
        assert_eq!(failed(&report), vec!["no row for a refused request"]);
    }

    #[test]
    fn rows_of_requests_with_an_unknown_outcome_are_tolerated_up_to_their_number() {
        let (mut results, mut rows, sale) = good_run();
        rows.push(row(98, "SKU-A", "rejected"));
        assert_eq!(
            failed(&audit(&results, &rows, &sale)),
            vec!["rows without a 202 only for requests with an unknown outcome"]
        );
        results.uncertain.push(Uncertain {
            customer_id: "c-t-98".into(),
            sku: "SKU-A".into(),
            status: 503,
            order_id: None,
        });
        assert!(audit(&results, &rows, &sale).passed());
    }

    #[test]
    fn a_503_after_the_delivery_timeout_that_became_an_order_is_counted_apart_not_as_refused() {
        let (mut results, mut rows, sale) = good_run();
        results.uncertain.push(Uncertain {
            customer_id: "c-t-97".into(),
            sku: "SKU-A".into(),
            status: 503,
            order_id: Some(Uuid::from_u128(97)),
        });
        rows.push(row(97, "SKU-A", "rejected"));
        let report = audit(&results, &rows, &sale);
        assert!(report.passed(), "{:?}", report.checks);
        let refused = report
            .checks
            .iter()
            .find(|c| c.name == "no row for a refused request")
            .unwrap();
        assert!(
            refused.detail.contains("0 of them for refused keys"),
            "{}",
            refused.detail
        );
        let unknown = report
            .checks
            .iter()
            .find(|c| c.name == "rows without a 202 only for requests with an unknown outcome")
            .expect("unknown outcomes have a check of their own");
        assert!(unknown.detail.contains("1 of those"), "{}", unknown.detail);
    }

    #[test]
    fn overselling_fails_both_stock_checks() {
        let (results, mut rows, mut sale) = good_run();
        rows[3] = row(4, "FLASH-1", "confirmed");
        sale.remaining = Some(0);
        let report = audit(&results, &rows, &sale);
        assert_eq!(
            failed(&report),
            vec![
                "confirmed = min(stock, orders for the SKU)",
                "stock never negative and accounted for"
            ]
        );
    }

    #[test]
    fn underselling_fails_the_confirmed_count() {
        let (results, mut rows, mut sale) = good_run();
        rows[2] = row(3, "FLASH-1", "rejected");
        sale.remaining = Some(1);
        let report = audit(&results, &rows, &sale);
        assert_eq!(
            failed(&report),
            vec!["confirmed = min(stock, orders for the SKU)"]
        );
    }

    #[test]
    fn stock_larger_than_demand_confirms_every_order() {
        let (results, mut rows, mut sale) = good_run();
        for r in &mut rows {
            r.status = "confirmed".into();
            r.reason = None;
        }
        sale.stock = 100;
        sale.remaining = Some(95);
        assert!(audit(&results, &rows, &sale).passed());
    }

    #[test]
    fn a_missing_inventory_row_fails() {
        let (results, rows, mut sale) = good_run();
        sale.remaining = None;
        assert_eq!(
            failed(&audit(&results, &rows, &sale)),
            vec!["stock never negative and accounted for"]
        );
    }

    #[test]
    fn a_retried_key_answered_with_two_order_ids_fails() {
        let (mut results, rows, sale) = good_run();
        results
            .retried_keys
            .insert("k2".into(), vec![Uuid::from_u128(2), Uuid::from_u128(3)]);
        assert_eq!(
            failed(&audit(&results, &rows, &sale)),
            vec!["a retried Idempotency-Key makes one order"]
        );
    }
}
