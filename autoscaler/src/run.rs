//! The sync loop: read the lag, run the algorithm, make the processes match, print.

use std::future::Future;
use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::settings::KafkaSettings;
use kafka_lag::LagReader;

use crate::algorithm::{Autoscaler, HpaSpec, Mode};
use crate::display;
use crate::metrics::{self, Gauges, SharedGauges};
use crate::pods::{PodSet, PodTemplate};

/// Everything a run needs; `main.rs` fills it from flags.
#[derive(Debug, Clone)]
pub struct Config {
    /// The HPA as read from the manifest, *before* time scaling.
    pub spec: HpaSpec,
    pub mode: Mode,
    pub kafka: KafkaSettings,
    /// Upstream `--horizontal-pod-autoscaler-sync-period`, before time scaling.
    pub sync_period: Duration,
    /// Divides the sync period, stabilization windows and policy periods (1 = real time).
    pub time_scale: f64,
    /// Overrides the partition count read from the topic's metadata.
    pub partitions: Option<u32>,
    /// Replicas at start (a Deployment's `replicas`); default `minReplicas`.
    pub initial_replicas: Option<u32>,
    pub pods: PodTemplate,
    pub metrics_addr: SocketAddr,
    /// CSV of every sync (`unix_ms,lag,current,recommended,desired`), for the report.
    pub timeline: Option<PathBuf>,
}

/// Runs until `shutdown` resolves, then stops every pod gracefully.
pub async fn run(config: Config, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
    let reader = Arc::new(LagReader::new(
        &config.kafka,
        "surge-autoscaler",
        std::slice::from_ref(&config.kafka.group_id),
        Duration::from_secs(5),
    )?);
    let (group, topic) = (config.kafka.group_id.clone(), config.kafka.topic.clone());
    let partitions = match config.partitions {
        Some(p) => p,
        None => {
            let (reader, topic) = (reader.clone(), topic.clone());
            let offsets =
                tokio::task::spawn_blocking(move || reader.topic_offsets(&topic)).await??;
            offsets.partitions.len() as u32
        }
    };
    let spec = config.spec.time_scaled(config.time_scale);
    let period = config
        .sync_period
        .div_f64(config.time_scale.max(f64::MIN_POSITIVE));
    let mut hpa = Autoscaler::new(spec.clone(), config.mode, partitions);
    let gauges: SharedGauges = Arc::new(Mutex::new(Gauges {
        hpa: spec.name.clone(),
        group: config.kafka.group_id.clone(),
        topic: config.kafka.topic.clone(),
        min_replicas: spec.min_replicas,
        max_replicas: hpa.effective_max(),
        partitions,
        ..Gauges::default()
    }));
    let (metrics_addr, metrics_task) = metrics::serve(config.metrics_addr, gauges.clone()).await?;
    let mut timeline = match &config.timeline {
        Some(path) => {
            let mut file = std::fs::File::create(path)?;
            writeln!(file, "unix_ms,lag,current,recommended,desired")?;
            Some(file)
        }
        None => None,
    };
    println!(
        "autoscaler: {} on group {} topic {} ({partitions} partitions), mode {:?}, sync every {:?} \
         (time scale {}), metrics on http://{metrics_addr}/metrics",
        spec.reference, config.kafka.group_id, config.kafka.topic, config.mode, period, config.time_scale
    );

    let mut pods = PodSet::new(config.pods.clone());
    let initial = config
        .initial_replicas
        .unwrap_or(spec.min_replicas)
        .clamp(spec.min_replicas, hpa.effective_max());
    pods.scale_to(initial as usize).await?;
    println!("{}", display::pods_table(pods.pods(), &[], Instant::now()));
    println!("{}", display::hpa_header());

    let started = Instant::now();
    let mut last_status: Option<String> = None;
    let mut ticker = tokio::time::interval(period);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            _ = ticker.tick() => {}
        }
        for gone in pods.reap() {
            let status = gone
                .status
                .map_or_else(|| "unknown".to_owned(), |s| s.to_string());
            println!(
                "pod {} (pid {}) exited ({status}); replacing it",
                gone.name, gone.pid
            );
        }
        let lag = {
            let (reader, group, topic) = (reader.clone(), group.clone(), topic.clone());
            match tokio::task::spawn_blocking(move || reader.read(&group, &topic)).await {
                Ok(Ok(sample)) => Some(sample.total()),
                Ok(Err(error)) => {
                    eprintln!("autoscaler: lag read failed: {error}");
                    None
                }
                Err(error) => {
                    eprintln!("autoscaler: lag reader panicked: {error}");
                    None
                }
            }
        };
        let current = pods.len() as u32;
        let decision = hpa.sync(started.elapsed(), current, lag.map(|l| l as f64));
        let changed = decision.desired != current;
        // Like `kubectl get hpa -w`: a line when the status shown changes, not every sync.
        let status = display::hpa_line(&spec, decision.average, current, Duration::ZERO);
        if last_status.as_ref() != Some(&status) {
            println!(
                "{}",
                display::hpa_line(&spec, decision.average, current, started.elapsed())
            );
            last_status = Some(status);
        }
        if changed {
            println!(
                "scaling {} from {current} to {} ({:?}; recommendation {})",
                spec.reference, decision.desired, decision.reason, decision.recommended
            );
        }
        let stopped = pods.scale_to(decision.desired as usize).await?;
        if changed {
            let names: Vec<String> = stopped
                .iter()
                .map(|s| {
                    if s.killed {
                        format!("{} (killed after grace period)", s.name)
                    } else {
                        s.name.clone()
                    }
                })
                .collect();
            println!(
                "{}",
                display::pods_table(pods.pods(), &names, Instant::now())
            );
        }
        if let Ok(mut g) = gauges.lock() {
            g.syncs_total += 1;
            g.desired_replicas = decision.desired;
            g.current_replicas = pods.len() as u32;
            g.recommended_replicas = decision.recommended;
            if lag.is_some() {
                g.total_lag = lag;
            } else {
                g.lag_read_errors_total += 1;
            }
            if changed {
                g.scale_events_total += 1;
            }
        }
        if let Some(file) = timeline.as_mut() {
            let unix_ms = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_millis())
                .unwrap_or_default();
            let lag = lag.map(|l| l.to_string()).unwrap_or_default();
            writeln!(
                file,
                "{unix_ms},{lag},{current},{},{}",
                decision.recommended, decision.desired
            )?;
            file.flush()?;
        }
    }

    println!("autoscaler: stopping {} pods", pods.len());
    for s in pods.stop_all().await {
        println!(
            "pod {} (pid {}) stopped: {}",
            s.name,
            s.pid,
            match (s.killed, s.status) {
                (false, Some(status)) => status.to_string(),
                _ => "killed after the grace period".to_owned(),
            }
        );
    }
    metrics_task.abort();
    Ok(())
}
