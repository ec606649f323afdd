//! The command line: `flash-sale`, `audit` and `report`, each a thin layer over the
//! library modules.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};

use crate::audit::{audit, Sale};
use crate::audit_file::AuditFile;
use crate::db;
use crate::live_metrics::MetricsServer;
use crate::profile::{flash_sale, Mix};
use crate::results::RunResults;
use crate::runner::{run, RunConfig};

/// Open-loop load generator for surge, and the post-run audit.
#[derive(Parser)]
#[command(name = "loadgen")]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Run the built-in flash-sale profile: baseline → spike → baseline.
    FlashSale(FlashSale),
    /// Check the database against a results file; exits 1 if any check fails.
    Audit(Audit),
    /// Markdown report with SVG plots from one or more run folders (results.json,
    /// optional autoscaler.csv and audit.json); the folder's name is the run's name.
    Report(Report),
}

#[derive(clap::Args)]
pub struct FlashSale {
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    target: String,
    /// Baseline requests per second.
    #[arg(long, default_value_t = 50.0)]
    base_rate: f64,
    /// Spike rate = base rate × this (10–50 for a flash sale).
    #[arg(long, default_value_t = 20.0)]
    spike_multiplier: f64,
    /// Seconds of baseline before the spike.
    #[arg(long, default_value_t = 30.0)]
    warmup: f64,
    /// Seconds of spike.
    #[arg(long, default_value_t = 60.0)]
    spike: f64,
    /// Seconds of baseline after the spike.
    #[arg(long, default_value_t = 60.0)]
    cooldown: f64,
    /// Multiplies every phase duration (0.25 for a quick run).
    #[arg(long, default_value_t = 1.0)]
    duration_scale: f64,
    #[arg(long, default_value = "FLASH-1")]
    hot_sku: String,
    /// Other SKUs ordered during the baseline, comma-separated.
    #[arg(long, default_value = "SKU-A,SKU-B", value_delimiter = ',')]
    other_skus: Vec<String>,
    #[arg(long, default_value_t = 100_000)]
    customers: u64,
    #[arg(long, default_value_t = 0.5)]
    keyed_share: f64,
    #[arg(long, default_value_t = 0.05)]
    retry_share: f64,
    #[arg(long, default_value_t = 0.02)]
    invalid_share: f64,
    /// Most requests in flight (connections) at once.
    #[arg(long, default_value_t = 256)]
    concurrency: usize,
    /// Most requests waiting for a connection before new ones are dropped.
    #[arg(long, default_value_t = 20_000)]
    max_pending: usize,
    /// Per-request timeout, seconds.
    #[arg(long, default_value_t = 10.0)]
    timeout: f64,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Tags this run's customer ids (default: derived from the clock).
    #[arg(long)]
    run_tag: Option<String>,
    /// The autoscaler's /metrics, for lag and replicas in the progress lines.
    #[arg(long)]
    autoscaler_metrics: Option<String>,
    #[arg(long, default_value = "loadgen-results.json")]
    results: PathBuf,
    /// Serve Prometheus metrics of the run on http://ADDR/metrics while it lasts.
    #[arg(long)]
    metrics_addr: Option<SocketAddr>,
}

#[derive(clap::Args)]
pub struct Audit {
    #[arg(long)]
    results: PathBuf,
    #[arg(long, env = "SURGE__DATABASE__URL")]
    database_url: String,
    #[arg(long, default_value = "FLASH-1")]
    sku: String,
    /// Stock of the SKU at the start of the run.
    #[arg(long)]
    stock: i64,
    /// Seconds to wait for the consumers to write every accepted order.
    #[arg(long, default_value_t = 120.0)]
    wait: f64,
    /// Also write the audit as JSON (checks, sale counts, orders processed per second,
    /// end-to-end latency), for `loadgen report`.
    #[arg(long)]
    out: Option<PathBuf>,
}

#[derive(clap::Args)]
pub struct Report {
    /// Folder for report.md and the SVGs (created if missing).
    #[arg(long)]
    out: PathBuf,
    /// Run folders, in the order the comparison shows them.
    #[arg(required = true)]
    runs: Vec<PathBuf>,
}

impl Cli {
    pub async fn run(self) -> anyhow::Result<ExitCode> {
        match self.command {
            Command::FlashSale(a) => a.run().await,
            Command::Audit(a) => a.run().await,
            Command::Report(a) => {
                let path = crate::report::write(&a.out, &a.runs)?;
                println!("report: {}", path.display());
                Ok(ExitCode::SUCCESS)
            }
        }
    }
}

impl FlashSale {
    async fn run(self) -> anyhow::Result<ExitCode> {
        let a = self;
        let run_tag = a.run_tag.unwrap_or_else(|| {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default();
            format!("{:x}", now.as_millis())
        });
        let metrics = match a.metrics_addr {
            Some(addr) => {
                let server = MetricsServer::start(addr).await?;
                println!("metrics: http://{}/metrics", server.local_addr());
                Some(server)
            }
            None => None,
        };
        let secs = Duration::from_secs_f64;
        let config = RunConfig {
            target: a.target,
            phases: flash_sale(
                a.base_rate,
                a.spike_multiplier,
                secs(a.warmup),
                secs(a.spike),
                secs(a.cooldown),
                a.duration_scale,
            ),
            mix: Mix {
                hot_sku: a.hot_sku,
                other_skus: a.other_skus.into_iter().filter(|s| !s.is_empty()).collect(),
                customers: a.customers,
                keyed_share: a.keyed_share,
                retry_share: a.retry_share,
                invalid_share: a.invalid_share,
                ..Mix::default()
            },
            concurrency: a.concurrency,
            max_pending: a.max_pending,
            timeout: secs(a.timeout),
            seed: a.seed,
            run_tag,
            autoscaler_metrics: a.autoscaler_metrics,
            progress: true,
        };
        let results = run(config).await?;
        drop(metrics);
        println!("{}", crate::results::summary(&results));
        results.write(&a.results)?;
        println!("results: {}", a.results.display());
        Ok(ExitCode::SUCCESS)
    }
}

impl Audit {
    async fn run(self) -> anyhow::Result<ExitCode> {
        let a = self;
        let results = RunResults::read(&a.results)?;
        let client = db::connect(&a.database_url).await?;
        let expected = results
            .accepted
            .iter()
            .map(|x| x.order_id)
            .collect::<std::collections::HashSet<_>>()
            .len();
        let rows = db::wait_for_rows(
            &client,
            &results.customer_prefix,
            expected,
            Duration::from_secs_f64(a.wait),
        )
        .await?;
        let sale = Sale {
            remaining: db::remaining(&client, &a.sku).await?,
            sku: a.sku,
            stock: a.stock,
        };
        let report = audit(&results, &rows, &sale);
        print!("{}", report.table());
        if let Some(out) = &a.out {
            AuditFile::new(&report, &rows, &sale, results.started_unix_ms).write(out)?;
            println!("audit file: {}", out.display());
        }
        Ok(if report.passed() {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        })
    }
}
