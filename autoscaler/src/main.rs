use std::path::PathBuf;
use std::time::Duration;

use autoscaler::{history, hpa_spec, record, replay, sale_calendar};
use clap::{Parser, Subcommand};

/// The HPA algorithm as a cross-check of the real controller.
#[derive(Parser)]
struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Watch the HPA and append each status the API server delivers to a history file,
    /// until SIGTERM/SIGINT.
    Record {
        #[arg(long, default_value = "kubectl")]
        kubectl: PathBuf,
        #[arg(long, default_value = "default")]
        namespace: String,
        #[arg(long, default_value = "consumer-svc")]
        hpa: String,
        #[arg(long)]
        out: PathBuf,
        /// Serve the last reading as kube-state-metrics-named gauges on this address.
        #[arg(long)]
        metrics_addr: Option<std::net::SocketAddr>,
    },
    /// Replay a recorded history through the algorithm and compare with the controller;
    /// exits 1 when a decision was not matched within one sync period.
    Replay {
        /// The HPA as applied: a manifest, a rendered overlay, or `kubectl get hpa -o yaml`.
        #[arg(long)]
        hpa: String,
        /// Name of the HPA, when the manifest holds several.
        #[arg(long)]
        hpa_name: Option<String>,
        /// The history file written by `record`.
        #[arg(long)]
        history: PathBuf,
        /// The controller's --horizontal-pod-autoscaler-sync-period, in seconds.
        #[arg(long, default_value_t = 15.0)]
        sync_period: f64,
    },
    /// Turn a sale calendar (YAML: sales with a start, replicas, lead_s, hold_s) into
    /// the Prometheus recording rules that pre-scale the consumers (the External metric
    /// surge_sale_calendar_replicas).
    SaleCalendar {
        /// The calendar; `-` reads standard input.
        #[arg(long)]
        file: PathBuf,
        /// Write a Prometheus Operator PrometheusRule of this name instead of a rule file.
        #[arg(long)]
        prometheus_rule: Option<String>,
        /// Write here (a temporary file renamed into place, so Prometheus never reads
        /// half a file) instead of standard output.
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Args::parse().command {
        Command::Record {
            kubectl,
            namespace,
            hpa,
            out,
            metrics_addr,
        } => {
            let metrics_listener = match metrics_addr {
                Some(addr) => Some(
                    std::net::TcpListener::bind(addr)
                        .map_err(|e| anyhow::anyhow!("cannot listen on {addr}: {e}"))?,
                ),
                None => None,
            };
            let config = record::Config {
                kubectl,
                namespace,
                hpa,
                out,
                metrics_listener,
            };
            record::run(config, stop_requested()).await?;
        }
        Command::Replay {
            hpa,
            hpa_name,
            history: path,
            sync_period,
        } => {
            anyhow::ensure!(sync_period > 0.0, "--sync-period must be positive");
            let spec = hpa_spec::load(&hpa, hpa_name.as_deref())?;
            let text = std::fs::read_to_string(&path)
                .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
            let records = history::parse_lines(&text)
                .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
            anyhow::ensure!(!records.is_empty(), "{}: no records", path.display());
            let result = replay::replay(&spec, &records, Duration::from_secs_f64(sync_period));
            println!("{result}");
            if !result.agrees() {
                std::process::exit(1);
            }
        }
        Command::SaleCalendar {
            file,
            prometheus_rule,
            out,
        } => sale_calendar::run(&file, prometheus_rule.as_deref(), out.as_deref())?,
    }
    Ok(())
}

/// SIGTERM (the demo stopping the recorder) or SIGINT (Ctrl-C).
///
/// Not `common::shutdown`: this tool runs beside the services and does not need their
/// library, which brings Kafka and telemetry clients along.
async fn stop_requested() {
    use tokio::signal::unix::{signal, SignalKind};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
        }
        Err(error) => {
            eprintln!("autoscaler: cannot listen for SIGTERM ({error}); stopping on SIGINT only");
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
