//! The open-loop run.
//!
//! Each request is spawned at its scheduled time, whether or not earlier ones have
//! finished, and its latency runs from that *scheduled* time to the end of the
//! response: a slow service shows up as latency instead of silently lowering the rate
//! (coordinated omission). Connections come from one HTTP/1.1 keep-alive pool; at most
//! `concurrency` requests are in flight, the rest wait for a slot (their wait counts
//! as latency), and past `max_pending` waiting requests new ones are dropped and
//! counted, so an unresponsive service cannot make the generator grow without bound.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use hdrhistogram::Histogram;
use serde::Deserialize;
use tokio::sync::Semaphore;
use uuid::Uuid;

use crate::live_metrics;
use crate::profile::{self, Invalid, Mix, Phase, Planned, Planner};
use crate::results::{Accepted, PhaseStats, RunResults, Second, Uncertain};

#[derive(Debug, Clone)]
pub struct RunConfig {
    /// Base URL of producer-svc, e.g. `http://127.0.0.1:8080`.
    pub target: String,
    pub phases: Vec<Phase>,
    pub mix: Mix,
    /// Most requests in flight (and so connections open) at once.
    pub concurrency: usize,
    /// Most requests waiting for a slot before new ones are dropped.
    pub max_pending: usize,
    pub timeout: Duration,
    pub seed: u64,
    /// Tags customer ids and idempotency keys of this run.
    pub run_tag: String,
    /// The autoscaler's `/metrics`, scraped each second for lag and replicas.
    /// Prometheus pages read each second for lag and replicas ([`progress_readings`]).
    pub progress_metrics: Vec<String>,
    /// Print a progress line each second.
    pub progress: bool,
}

#[derive(Debug, Deserialize)]
struct AcceptedBody {
    order_id: Uuid,
    partition: Option<i32>,
    offset: Option<i64>,
}

fn histogram() -> Histogram<u64> {
    // 1 µs .. 10 min, 3 significant digits.
    Histogram::new_with_bounds(1, 600_000_000, 3).expect("valid histogram bounds")
}

fn ms(h: &Histogram<u64>, q: f64) -> f64 {
    if h.is_empty() {
        0.0
    } else {
        h.value_at_quantile(q) as f64 / 1000.0
    }
}

struct PhaseAcc {
    hist: Histogram<u64>,
    sent: u64,
    accepted: u64,
    statuses: BTreeMap<String, u64>,
    unexpected_invalid: u64,
    refused_without_retry_after: u64,
}

struct SecondAcc {
    hist: Histogram<u64>,
    completed: u64,
    accepted: u64,
    errors: u64,
    in_flight: u64,
    lag: Option<i64>,
    replicas: Option<u32>,
}

impl SecondAcc {
    fn new() -> Self {
        Self {
            hist: histogram(),
            completed: 0,
            accepted: 0,
            errors: 0,
            in_flight: 0,
            lag: None,
            replicas: None,
        }
    }
}

struct Shared {
    phase_names: Vec<String>,
    phases: Vec<PhaseAcc>,
    seconds: Vec<SecondAcc>,
    accepted: Vec<Accepted>,
    uncertain: Vec<Uncertain>,
    refused_keyed: Vec<Uuid>,
    key_sends: HashMap<String, u32>,
    key_orders: HashMap<String, Vec<Uuid>>,
    pending: usize,
}

/// What one request produced.
#[derive(Debug)]
struct Outcome {
    phase: usize,
    planned: Planned,
    /// 0: transport error or timeout; `None`: dropped, never sent.
    status: Option<u16>,
    body: Option<AcceptedBody>,
    /// The answer carried a `Retry-After` header.
    retry_after: bool,
    latency: Duration,
    finished: Duration,
}

impl Shared {
    fn record(&mut self, o: Outcome) {
        let second = o.finished.as_secs() as usize;
        while self.seconds.len() <= second {
            self.seconds.push(SecondAcc::new());
        }
        let status_key = o
            .status
            .map_or_else(|| "dropped".to_owned(), |s| s.to_string());
        live_metrics::record_request(
            &self.phase_names[o.phase],
            &status_key,
            o.status.map(|_| o.latency),
        );
        let phase = &mut self.phases[o.phase];
        *phase.statuses.entry(status_key).or_default() += 1;
        if matches!(o.status, Some(429 | 503)) && !o.retry_after {
            phase.refused_without_retry_after += 1;
        }
        let sec = &mut self.seconds[second];
        sec.completed += 1;
        let latency_us = (o.latency.as_micros() as u64).clamp(1, 600_000_000);
        let expected_failure = match (o.planned.invalid, o.status) {
            (Some(invalid), Some(status)) => {
                if status != invalid.expected_status() {
                    phase.unexpected_invalid += 1;
                }
                status == invalid.expected_status()
            }
            _ => false,
        };
        let keyed_id = o.planned.idempotency_key.as_deref().map(|k| {
            let order = order::ValidOrder {
                sku: o.planned.sku.clone(),
                quantity: o.planned.quantity,
                customer_id: o.planned.customer_id.clone(),
            };
            order::order_id(&order, Some(k))
        });
        match (o.status, o.body) {
            (Some(202), Some(body)) => {
                phase.accepted += 1;
                let _ = phase.hist.record(latency_us);
                sec.accepted += 1;
                let _ = sec.hist.record(latency_us);
                if let Some(key) = &o.planned.idempotency_key {
                    self.key_orders
                        .entry(key.clone())
                        .or_default()
                        .push(body.order_id);
                }
                self.accepted.push(Accepted {
                    order_id: body.order_id,
                    customer_id: o.planned.customer_id,
                    sku: o.planned.sku,
                    quantity: o.planned.quantity,
                    idempotency_key: o.planned.idempotency_key,
                    partition: body.partition,
                    offset: body.offset,
                });
            }
            (None, _) => sec.errors += 1,
            (Some(status), _) => {
                if !expected_failure {
                    sec.errors += 1;
                }
                // 4xx (429 included) is a refusal: nothing was published. 5xx, a 202
                // without a readable body and transport errors leave the outcome open.
                if (400..500).contains(&status) {
                    if let Some(id) = keyed_id {
                        if o.planned.invalid.is_none() {
                            self.refused_keyed.push(id);
                        }
                    }
                } else if o.planned.invalid.is_none() {
                    self.uncertain.push(Uncertain {
                        customer_id: o.planned.customer_id,
                        sku: o.planned.sku,
                        status,
                        order_id: keyed_id,
                    });
                }
            }
        }
    }
}

/// One answer: status (0 for a transport error or timeout), the 202's body, and whether
/// a `Retry-After` header came with it.
async fn send(
    client: &reqwest::Client,
    url: &str,
    p: &Planned,
) -> (u16, Option<AcceptedBody>, bool) {
    let valid = serde_json::json!({
        "sku": p.sku, "quantity": p.quantity, "customer_id": p.customer_id,
    });
    let (content_type, body) = match p.invalid {
        None => ("application/json", valid.to_string()),
        Some(Invalid::ZeroQuantity) => (
            "application/json",
            serde_json::json!({"sku": p.sku, "quantity": 0, "customer_id": p.customer_id})
                .to_string(),
        ),
        Some(Invalid::MalformedJson) => ("application/json", "{\"sku\": ".to_owned()),
        Some(Invalid::WrongContentType) => ("text/plain", valid.to_string()),
    };
    let mut request = client
        .post(url)
        .header("content-type", content_type)
        .body(body);
    if let Some(key) = &p.idempotency_key {
        request = request.header("Idempotency-Key", key);
    }
    match request.send().await {
        Ok(response) => {
            let status = response.status().as_u16();
            let retry_after = response.headers().contains_key("retry-after");
            if status == 202 {
                // Read the body fully so the connection goes back to the pool.
                let body = response.json::<AcceptedBody>().await.ok();
                (status, body, retry_after)
            } else {
                let _ = response.bytes().await;
                (status, None, retry_after)
            }
        }
        Err(_) => (0, None, false),
    }
}

/// Lag and current replicas from the `progress_metrics` pages; a page that cannot be
/// read adds nothing.
async fn scrape(client: &reqwest::Client, urls: &[String]) -> (Option<i64>, Option<u32>) {
    let (mut lag, mut replicas) = (None, None);
    for url in urls {
        let Ok(response) = client.get(url).send().await else {
            continue;
        };
        let Ok(text) = response.text().await else {
            continue;
        };
        let (page_lag, page_replicas) = progress_readings(&text);
        lag = lag.or(page_lag);
        replicas = replicas.or(page_replicas);
    }
    (lag, replicas)
}

/// From a Prometheus text page: the lag summed over its `kafka_consumergroup_lag_sum`
/// samples, and the first `kube_horizontalpodautoscaler_status_current_replicas`.
pub fn progress_readings(text: &str) -> (Option<i64>, Option<u32>) {
    let values = |name: &'static str| {
        text.lines()
            .filter(move |l| l.starts_with(name) && l[name.len()..].starts_with(['{', ' ']))
            .filter_map(|l| l.rsplit(' ').next())
            .filter_map(|v| v.trim().parse::<f64>().ok())
    };
    let lag = values("kafka_consumergroup_lag_sum")
        .map(|v| v as i64)
        .reduce(|a, b| a + b);
    let replicas = values("kube_horizontalpodautoscaler_status_current_replicas")
        .next()
        .map(|v| v as u32);
    (lag, replicas)
}

/// What the schedule needs to send the planned requests (see `run`).
struct Schedule {
    phases: Vec<Phase>,
    start: Instant,
    max_pending: usize,
    client: reqwest::Client,
    reconnecting: reqwest::Client,
    url: String,
    shared: Arc<Mutex<Shared>>,
    slots: Arc<Semaphore>,
}

impl Schedule {
    /// Sends each planned request at its time, spawned on the current runtime whether or
    /// not earlier ones have finished; blocks until the last is sent and returns the
    /// tasks still running.
    fn run(self, planner: Planner) -> tokio::task::JoinSet<()> {
        let Schedule {
            phases,
            start,
            max_pending,
            client,
            reconnecting,
            url,
            shared,
            slots,
        } = self;
        let mut tasks = tokio::task::JoinSet::new();
        let mut current_phase = None;
        for (at, phase, planned) in profile::plan(&phases, planner) {
            if let Some(wait) = at.checked_sub(start.elapsed()) {
                std::thread::sleep(wait);
            }
            if current_phase != Some(phase) {
                current_phase = Some(phase);
                live_metrics::set_target_rate(phases[phase].rate);
            }
            {
                let mut s = shared.lock().expect("stats lock");
                s.phases[phase].sent += 1;
                if let Some(key) = &planned.idempotency_key {
                    *s.key_sends.entry(key.clone()).or_default() += 1;
                }
                if s.pending >= max_pending {
                    s.record(Outcome {
                        phase,
                        planned,
                        status: None,
                        body: None,
                        retry_after: false,
                        latency: start.elapsed().saturating_sub(at),
                        finished: start.elapsed(),
                    });
                    continue;
                }
                s.pending += 1;
                live_metrics::set_in_flight(s.pending);
            }
            let client = if phases[phase].reconnect {
                reconnecting.clone()
            } else {
                client.clone()
            };
            let (url, slots, shared) = (url.clone(), slots.clone(), shared.clone());
            tasks.spawn(async move {
                let permit = slots.acquire_owned().await;
                let (status, body, retry_after) = send(&client, &url, &planned).await;
                drop(permit);
                let finished = start.elapsed();
                let mut s = shared.lock().expect("stats lock");
                s.pending -= 1;
                live_metrics::set_in_flight(s.pending);
                s.record(Outcome {
                    phase,
                    planned,
                    status: Some(status),
                    body,
                    retry_after,
                    latency: finished.saturating_sub(at),
                    finished,
                });
            });
            // Reap finished tasks as we go, so the set stays small.
            while tasks.try_join_next().is_some() {}
        }
        tasks
    }
}

/// Runs the load and returns the results (also the per-second timeline).
pub async fn run(config: RunConfig) -> anyhow::Result<RunResults> {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(config.concurrency)
        .pool_idle_timeout(Duration::from_secs(30))
        .tcp_nodelay(true)
        .timeout(config.timeout)
        .build()?;
    // No idle connection is kept, so each request of a `reconnect` phase opens its own.
    let reconnecting = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .tcp_nodelay(true)
        .timeout(config.timeout)
        .build()?;
    let url = format!("{}/v1/orders", config.target.trim_end_matches('/'));
    let planner = Planner::new(config.mix.clone(), &config.run_tag, config.seed);
    let shared = Arc::new(Mutex::new(Shared {
        phase_names: config.phases.iter().map(|p| p.name.clone()).collect(),
        phases: config
            .phases
            .iter()
            .map(|_| PhaseAcc {
                hist: histogram(),
                sent: 0,
                accepted: 0,
                statuses: BTreeMap::new(),
                unexpected_invalid: 0,
                refused_without_retry_after: 0,
            })
            .collect(),
        seconds: Vec::new(),
        accepted: Vec::new(),
        uncertain: Vec::new(),
        refused_keyed: Vec::new(),
        key_sends: HashMap::new(),
        key_orders: HashMap::new(),
        pending: 0,
    }));
    let slots = Arc::new(Semaphore::new(config.concurrency.max(1)));
    let started_unix_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or_default();
    let start = Instant::now();

    let progress = tokio::spawn(progress_loop(
        shared.clone(),
        start,
        config.phases.clone(),
        config.progress_metrics.clone(),
        client.clone(),
        config.progress,
    ));

    // The schedule runs on a thread of its own, sleeping on the OS timer: tokio's timer
    // fires on whole milliseconds, up to one late, and that lateness would count in
    // every latency, since latencies run from the scheduled start.
    let schedule = Schedule {
        phases: config.phases.clone(),
        start,
        max_pending: config.max_pending,
        client: client.clone(),
        reconnecting,
        url,
        shared: shared.clone(),
        slots,
    };
    let runtime = tokio::runtime::Handle::current();
    let mut tasks = tokio::task::spawn_blocking(move || {
        let _runtime = runtime.enter();
        schedule.run(planner)
    })
    .await?;
    live_metrics::set_target_rate(0.0);
    while tasks.join_next().await.is_some() {}
    // One more progress tick covers the last partial second.
    tokio::time::sleep(Duration::from_millis(50)).await;
    let timeline = {
        progress.abort();
        let _ = progress.await;
        let s = shared.lock().expect("stats lock");
        build_timeline(&s, &config.phases)
    };

    let s = shared.lock().expect("stats lock");
    let phase_stats = config
        .phases
        .iter()
        .zip(&s.phases)
        .map(|(phase, acc)| PhaseStats {
            name: phase.name.clone(),
            target_rate: phase.rate,
            sent: acc.sent,
            achieved_rate: if phase.duration.is_zero() {
                0.0
            } else {
                acc.sent as f64 / phase.duration.as_secs_f64()
            },
            accepted: acc.accepted,
            statuses: acc.statuses.clone(),
            unexpected_invalid: acc.unexpected_invalid,
            refused_without_retry_after: acc.refused_without_retry_after,
            p50_ms: ms(&acc.hist, 0.5),
            p90_ms: ms(&acc.hist, 0.9),
            p99_ms: ms(&acc.hist, 0.99),
            p999_ms: ms(&acc.hist, 0.999),
            max_ms: if acc.hist.is_empty() {
                0.0
            } else {
                acc.hist.max() as f64 / 1000.0
            },
        })
        .collect();
    let retried_keys = s
        .key_sends
        .iter()
        .filter(|(_, &n)| n > 1)
        .map(|(k, _)| (k.clone(), s.key_orders.get(k).cloned().unwrap_or_default()))
        .collect();
    Ok(RunResults {
        target: config.target.clone(),
        started_unix_ms,
        customer_prefix: profile::customer_prefix(&config.run_tag),
        phases: config.phases.clone(),
        mix: Some(config.mix.clone()),
        phase_stats,
        accepted: s.accepted.clone(),
        uncertain: s.uncertain.clone(),
        refused_keyed: s.refused_keyed.clone(),
        retried_keys,
        timeline,
    })
}

fn phase_at(phases: &[Phase], t: Duration) -> String {
    let mut end = Duration::ZERO;
    for phase in phases {
        end += phase.duration;
        if t < end {
            return phase.name.clone();
        }
    }
    "drain".into()
}

fn build_timeline(s: &Shared, phases: &[Phase]) -> Vec<Second> {
    s.seconds
        .iter()
        .enumerate()
        .map(|(t, acc)| Second {
            t: t as u64,
            phase: phase_at(phases, Duration::from_secs(t as u64)),
            completed: acc.completed,
            accepted: acc.accepted,
            errors: acc.errors,
            p50_ms: ms(&acc.hist, 0.5),
            p99_ms: ms(&acc.hist, 0.99),
            in_flight: acc.in_flight,
            lag: acc.lag,
            replicas: acc.replicas,
        })
        .collect()
}

/// Each second: print the previous second and remember lag/replicas for the timeline.
async fn progress_loop(
    shared: Arc<Mutex<Shared>>,
    start: Instant,
    phases: Vec<Phase>,
    progress_metrics: Vec<String>,
    client: reqwest::Client,
    print: bool,
) {
    let mut ticker = tokio::time::interval_at(
        (start + Duration::from_secs(1)).into(),
        Duration::from_secs(1),
    );
    let mut second = 0usize;
    loop {
        ticker.tick().await;
        let (lag, replicas) = if progress_metrics.is_empty() {
            (None, None)
        } else {
            scrape(&client, &progress_metrics).await
        };
        let line = {
            let mut s = shared.lock().expect("stats lock");
            while s.seconds.len() <= second {
                s.seconds.push(SecondAcc::new());
            }
            let pending = s.pending as u64;
            let acc = &s.seconds[second];
            let line = format!(
                "[{:>4}s] {:<9} {:>6} req/s  202 {:>6}  p50 {:>8.2}ms  p99 {:>8.2}ms  errors {:>4}  in-flight {:>5}{}{}",
                second + 1,
                phase_at(&phases, Duration::from_secs(second as u64)),
                acc.completed,
                acc.accepted,
                ms(&acc.hist, 0.5),
                ms(&acc.hist, 0.99),
                acc.errors,
                pending,
                lag.map(|l| format!("  lag {l:>7}")).unwrap_or_default(),
                replicas.map(|r| format!("  replicas {r:>2}")).unwrap_or_default(),
            );
            let acc = &mut s.seconds[second];
            acc.lag = lag;
            acc.replicas = replicas;
            acc.in_flight = pending;
            line
        };
        if print {
            println!("{line}");
        }
        second += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_groups_lag_and_the_hpas_replicas_from_prometheus_pages() {
        let lag_exporter = "# HELP kafka_consumergroup_lag_sum x\n\
                    kafka_consumergroup_lag{consumergroup=\"g\",partition=\"0\",topic=\"orders\"} 4000\n\
                    kafka_consumergroup_lag_sum{consumergroup=\"g\",topic=\"orders\"} 4321\n\
                    kafka_consumergroup_lag_sum{consumergroup=\"g\",topic=\"orders.dlq\"} 1\n";
        assert_eq!(progress_readings(lag_exporter), (Some(4322), None));
        let recorder = "kube_horizontalpodautoscaler_status_current_replicas{namespace=\"n\",horizontalpodautoscaler=\"consumer-svc\"} 6\n";
        assert_eq!(progress_readings(recorder), (None, Some(6)));
        assert_eq!(progress_readings(""), (None, None));
    }

    #[test]
    fn phases_are_named_by_elapsed_time() {
        let phases = profile::flash_sale(
            1.0,
            10.0,
            Duration::from_secs(2),
            Duration::from_secs(3),
            Duration::from_secs(2),
            1.0,
        );
        assert_eq!(phase_at(&phases, Duration::from_secs(1)), "baseline");
        assert_eq!(phase_at(&phases, Duration::from_secs(2)), "spike");
        assert_eq!(phase_at(&phases, Duration::from_secs(6)), "recovery");
        assert_eq!(phase_at(&phases, Duration::from_secs(7)), "drain");
    }
}
