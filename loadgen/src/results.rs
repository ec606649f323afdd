//! The results file a run writes and the audit reads.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::profile::{Mix, Phase};

/// Everything the audit and the report need from a run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RunResults {
    pub target: String,
    /// Unix time of the run's start, milliseconds.
    pub started_unix_ms: u128,
    /// Every customer id of the run starts with this (`c-<run tag>-`).
    pub customer_prefix: String,
    pub phases: Vec<Phase>,
    pub mix: Option<Mix>,
    pub phase_stats: Vec<PhaseStats>,
    /// Every request answered 202, one entry per response (a retried key may appear
    /// more than once, with the same order id).
    pub accepted: Vec<Accepted>,
    /// Requests whose outcome is unknown (5xx, timeout, connection error): the order
    /// may or may not exist. `order_id` is known when the request carried a key.
    pub uncertain: Vec<Uncertain>,
    /// Order ids of refused requests that carried a key (4xx/429): must have no row.
    pub refused_keyed: Vec<Uuid>,
    /// Idempotency keys sent more than once, with every order id a 202 returned for them.
    pub retried_keys: BTreeMap<String, Vec<Uuid>>,
    /// One entry per second of the run.
    pub timeline: Vec<Second>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Accepted {
    pub order_id: Uuid,
    pub customer_id: String,
    pub sku: String,
    pub quantity: u32,
    pub idempotency_key: Option<String>,
    pub partition: Option<i32>,
    pub offset: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Uncertain {
    pub customer_id: String,
    pub sku: String,
    /// HTTP status, or 0 for a transport error / timeout.
    pub status: u16,
    pub order_id: Option<Uuid>,
}

/// Latency and status counts of one phase. Latency is POST → 202, from each request's
/// *scheduled* start, in milliseconds.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PhaseStats {
    pub name: String,
    pub target_rate: f64,
    pub sent: u64,
    pub achieved_rate: f64,
    pub accepted: u64,
    /// Status code → count (`"0"`: transport error or timeout; `"dropped"`: never sent
    /// because the in-flight cap was exhausted for too long).
    pub statuses: BTreeMap<String, u64>,
    /// Invalid-on-purpose requests answered with a different status than expected.
    pub unexpected_invalid: u64,
    /// 429 and 503 answers without a `Retry-After` header (the API promises one).
    #[serde(default)]
    pub refused_without_retry_after: u64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
}

/// One second of the run, for progress lines and plots.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Second {
    pub t: u64,
    pub phase: String,
    pub completed: u64,
    pub accepted: u64,
    /// Responses other than 202 that were not expected (invalid requests answered with
    /// their expected 4xx are not errors).
    pub errors: u64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub in_flight: u64,
    pub lag: Option<i64>,
    pub replicas: Option<u32>,
}

impl RunResults {
    pub fn write(&self, path: &std::path::Path) -> anyhow::Result<()> {
        crate::json_file::write(path, self)
    }

    pub fn read(path: &std::path::Path) -> anyhow::Result<Self> {
        crate::json_file::read(path)
    }
}

/// Per-phase table printed at the end of a run.
pub fn summary(results: &RunResults) -> String {
    use std::fmt::Write as _;
    let mut out = format!(
        "{:<10} {:>9} {:>9} {:>8} {:>8} {:>9} {:>9} {:>9} {:>9}  statuses\n",
        "PHASE", "TARGET/s", "SENT/s", "SENT", "202", "p50 ms", "p90 ms", "p99 ms", "max ms"
    );
    for p in &results.phase_stats {
        let statuses: Vec<String> = p.statuses.iter().map(|(k, v)| format!("{k}:{v}")).collect();
        let _ = writeln!(
            out,
            "{:<10} {:>9.0} {:>9.1} {:>8} {:>8} {:>9.2} {:>9.2} {:>9.2} {:>9.2}  {}",
            p.name,
            p.target_rate,
            p.achieved_rate,
            p.sent,
            p.accepted,
            p.p50_ms,
            p.p90_ms,
            p.p99_ms,
            p.max_ms,
            statuses.join(" ")
        );
    }
    let peak = results
        .timeline
        .iter()
        .map(|s| s.accepted)
        .max()
        .unwrap_or(0);
    let _ = write!(
        out,
        "peak 202/s {peak}; {} accepted responses, {} retried keys, {} unknown outcomes",
        results.accepted.len(),
        results.retried_keys.len(),
        results.uncertain.len()
    );
    out
}
