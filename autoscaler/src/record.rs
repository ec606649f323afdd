//! The recorder: reads the HPA object once a period with `kubectl get hpa -o json` and
//! appends a [`StatusRecord`] line to the history file, until asked to stop.
//!
//! kubectl rather than an API client of our own: it is the tool the demo already
//! uses against the API server, with the same kubeconfig, so the recorder sees exactly
//! what `kubectl get hpa -w` shows next to it. A failed read is reported and skipped;
//! a one-second gap does not spoil the history. With `metrics_listener` it also
//! serves the last reading as gauges ([`hpa_gauges`](crate::hpa_gauges)).

use std::future::Future;
use std::io::Write as _;
use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use tokio::process::Command;

use crate::history::StatusRecord;
use crate::hpa_gauges::{self, LastRecord};

/// What to read, how often, and where to write it.
#[derive(Debug)]
pub struct Config {
    /// The kubectl binary (the kubeconfig comes from its usual environment).
    pub kubectl: PathBuf,
    pub namespace: String,
    pub hpa: String,
    pub interval: Duration,
    pub out: PathBuf,
    /// Where to serve the gauges, if anywhere.
    pub metrics_listener: Option<std::net::TcpListener>,
}

/// Records until `shutdown` resolves; returns the number of records written.
pub async fn run(mut config: Config, shutdown: impl Future<Output = ()>) -> anyhow::Result<u64> {
    let last = LastRecord::default();
    let (stop_gauges, gauges_stopped) = tokio::sync::oneshot::channel::<()>();
    let gauges = config.metrics_listener.take().map(|listener| {
        tokio::spawn(hpa_gauges::serve(
            listener,
            config.namespace.clone(),
            config.hpa.clone(),
            last.clone(),
            async {
                let _ = gauges_stopped.await;
            },
        ))
    });
    // A line a second: plain blocking writes are cheaper than a file task for it. A
    // recording is one run: a history left by an earlier run in the same folder would
    // be replayed as if the controller had seen it now, so the file starts empty.
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .open(&config.out)
        .with_context(|| format!("opening {}", config.out.display()))?;
    let mut ticker = tokio::time::interval(config.interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tokio::pin!(shutdown);
    let mut written = 0;
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            _ = ticker.tick() => {}
        }
        match read_once(&config).await {
            Ok(record) => {
                let mut line = serde_json::to_string(&record)?;
                line.push('\n');
                file.write_all(line.as_bytes())
                    .with_context(|| format!("writing {}", config.out.display()))?;
                written += 1;
                if let Ok(mut slot) = last.lock() {
                    *slot = Some(record);
                }
            }
            Err(error) => eprintln!("hpa-recorder: {error:#}"),
        }
    }
    file.flush()?;
    let _ = stop_gauges.send(());
    if let Some(task) = gauges {
        task.await??;
    }
    Ok(written)
}

async fn read_once(config: &Config) -> anyhow::Result<StatusRecord> {
    let unix_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or_default();
    let output = Command::new(&config.kubectl)
        .args([
            "get",
            "hpa",
            &config.hpa,
            "-n",
            &config.namespace,
            "-o",
            "json",
        ])
        .kill_on_drop(true)
        .output()
        .await
        .with_context(|| format!("running {}", config.kubectl.display()))?;
    anyhow::ensure!(
        output.status.success(),
        "kubectl get hpa {}: {}",
        config.hpa,
        String::from_utf8_lossy(&output.stderr).trim()
    );
    let json = String::from_utf8_lossy(&output.stdout);
    Ok(StatusRecord::from_hpa_json(unix_ms, &json)?)
}
