use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand};
use loadgen::audit::{audit, Sale};
use loadgen::db;
use loadgen::profile::{flash_sale, Mix};
use loadgen::results::RunResults;
use loadgen::runner::{run, RunConfig};

/// Open-loop load generator for surge, and the post-run audit.
#[derive(Parser)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the built-in flash-sale profile: baseline → spike → baseline.
    FlashSale(FlashSale),
    /// Check the database against a results file; exits 1 if any check fails.
    Audit(Audit),
}

#[derive(clap::Args)]
struct FlashSale {
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
}

#[derive(clap::Args)]
struct Audit {
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
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::FlashSale(a) => {
            let run_tag = a.run_tag.unwrap_or_else(|| {
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap_or_default();
                format!("{:x}", now.as_millis())
            });
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
            println!("{}", loadgen::results::summary(&results));
            results.write(&a.results)?;
            println!("results: {}", a.results.display());
            Ok(())
        }
        Command::Audit(a) => {
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
            if !report.passed() {
                std::process::exit(1);
            }
            Ok(())
        }
    }
}
