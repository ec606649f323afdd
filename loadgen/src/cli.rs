//! The command line: `flash-sale`, `run`, `audit` and `report`, each a thin layer over
//! the library modules. `flash-sale` and `run` differ only in where the profile comes
//! from (flags or a file); the run itself is [`RunOptions`], shared by both.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Parser, Subcommand};

use crate::audit::{audit, Sale};
use crate::audit_file::AuditFile;
use crate::db;
use crate::live_metrics::MetricsServer;
use crate::profile::{flash_sale, Mix};
use crate::profile_file::Profile;
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
    /// Run a profile from a YAML file: phases (name, rate, duration_s, optional hot)
    /// and an optional request mix; loadgen/profiles/ has examples.
    Run(RunProfile),
    /// Check the database against a results file; exits 1 if any check fails.
    Audit(Audit),
    /// Markdown report with SVG plots from one or more run folders (results.json,
    /// optional hpa-history.jsonl and audit.json); the folder's name is the run's name.
    Report(Report),
    /// Resource requests and the memory limit per container from the CPU and memory
    /// usage Prometheus recorded over a run (lower bound, target, upper bound), and the
    /// patch that applies them.
    Recommend(Recommend),
}

/// How a profile is run, whichever way it was given.
#[derive(clap::Args)]
#[command(next_help_heading = "Run options")]
pub struct RunOptions {
    /// Base URL of producer-svc.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    target: String,
    /// Multiplies every phase duration (0.25 for a quick run).
    #[arg(long, default_value_t = 1.0, value_parser = positive)]
    duration_scale: f64,
    /// Most requests in flight (connections) at once.
    #[arg(long, default_value_t = 256)]
    concurrency: usize,
    /// Most requests waiting for a connection before new ones are dropped.
    #[arg(long, default_value_t = 20_000)]
    max_pending: usize,
    /// Per-request timeout, seconds.
    #[arg(long, default_value_t = 10.0, value_parser = positive)]
    timeout: f64,
    /// Seeds the request mix: the same profile and seed plan the same requests.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Tags this run's customer ids (default: derived from the clock).
    #[arg(long)]
    run_tag: Option<String>,
    /// Prometheus pages to read each second for the progress lines: the consumer group's
    /// lag (`kafka_consumergroup_lag_sum`, as lag-exporter serves it) and the consumers'
    /// replicas (`kube_horizontalpodautoscaler_status_current_replicas`, as
    /// kube-state-metrics or `autoscaler record --metrics-addr` serves it). Repeatable.
    #[arg(long = "progress-metrics")]
    progress_metrics: Vec<String>,
    /// Where to write the results (for `loadgen audit` and `loadgen report`).
    #[arg(long, default_value = "loadgen-results.json")]
    results: PathBuf,
    /// Serve Prometheus metrics of the run on http://ADDR/metrics while it lasts.
    #[arg(long)]
    metrics_addr: Option<SocketAddr>,
    /// Print the plan, durations scaled, for scripts (`hot_sku NAME`, then one
    /// `phase NAME START_S END_S RATE [hot] [reconnect]` line per phase) and send nothing.
    #[arg(long)]
    dry_run: bool,
}

/// A finite number above zero, for rates, durations and scales (and so never a value
/// `Duration::from_secs_f64` panics on).
fn positive(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v > 0.0 && Duration::try_from_secs_f64(v).is_ok() => Ok(v),
        Ok(v) => Err(format!("must be a finite number > 0, got {v}")),
        Err(e) => Err(e.to_string()),
    }
}

#[derive(clap::Args)]
pub struct FlashSale {
    /// Baseline requests per second.
    #[arg(long, default_value_t = 50.0, value_parser = positive)]
    base_rate: f64,
    /// Spike rate = base rate × this (10–50 for a flash sale).
    #[arg(long, default_value_t = 20.0, value_parser = positive)]
    spike_multiplier: f64,
    /// Seconds of baseline before the spike.
    #[arg(long, default_value_t = 30.0, value_parser = positive)]
    warmup: f64,
    /// Seconds of spike (every valid order is for the hot SKU).
    #[arg(long, default_value_t = 60.0, value_parser = positive)]
    spike: f64,
    /// Seconds of baseline after the spike.
    #[arg(long, default_value_t = 60.0, value_parser = positive)]
    cooldown: f64,
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
    #[command(flatten)]
    run: RunOptions,
}

#[derive(clap::Args)]
pub struct RunProfile {
    /// The profile, YAML: `phases` (each `name`, `rate` per second, `duration_s`,
    /// optional `hot: true` to send every valid order to the hot SKU) and an optional
    /// `mix` (hot_sku, other_skus, hot_share_baseline, customers, keyed_share,
    /// retry_share, invalid_share).
    #[arg(long)]
    profile: PathBuf,
    #[command(flatten)]
    run: RunOptions,
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

#[derive(clap::Args)]
pub struct Recommend {
    /// Prometheus that scraped the services.
    #[arg(
        long,
        env = "SURGE_PROMETHEUS_URL",
        default_value = "http://127.0.0.1:9090"
    )]
    prometheus: String,
    /// The run's results file: the window is the run's start to its last phase's end.
    #[arg(long, required_unless_present_all = ["start", "end"])]
    results: Option<PathBuf>,
    /// Start of the window, Unix seconds (instead of --results).
    #[arg(long, requires = "end")]
    start: Option<f64>,
    /// End of the window, Unix seconds.
    #[arg(long, requires = "start")]
    end: Option<f64>,
    /// Resolution of the samples, seconds.
    #[arg(long, default_value_t = 5.0)]
    step: f64,
    /// The services, as Prometheus's `job` label names them; the container and the
    /// Deployment carry the same name.
    #[arg(long = "job", default_values_t = ["producer-svc".to_owned(), "consumer-svc".to_owned()])]
    jobs: Vec<String>,
    /// Also write the patch (a strategic merge patch per Deployment) to this file.
    #[arg(long)]
    patch: Option<PathBuf>,
}

impl Recommend {
    async fn run(self) -> anyhow::Result<ExitCode> {
        use crate::prometheus_range::{query_range, Window};
        use crate::recommend::{bounds, Recommendation, MIN_CPU_CORES, MIN_MEMORY_BYTES};
        let (start, end) = match (&self.results, self.start, self.end) {
            (_, Some(start), Some(end)) => (start, end),
            (Some(path), _, _) => {
                let results = RunResults::read(path)?;
                let start = results.started_unix_ms as f64 / 1000.0;
                let length: f64 = results
                    .phases
                    .iter()
                    .map(|p| p.duration.as_secs_f64())
                    .sum();
                (start, start + length)
            }
            _ => anyhow::bail!("give --results, or --start and --end"),
        };
        anyhow::ensure!(end > start, "the window is empty ({start} to {end})");
        anyhow::ensure!(self.step > 0.0, "--step must be positive");
        let window = Window {
            start,
            end,
            step: self.step,
        };
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()?;
        // The rate's range covers several scrapes at any scrape interval up to 10 s.
        let rate_range = (4.0 * self.step).max(30.0) as u64;
        let mut recommendations = Vec::new();
        let mut missing = Vec::new();
        for job in &self.jobs {
            let cpu_query =
                format!(r#"rate(process_cpu_seconds_total{{job="{job}"}}[{rate_range}s])"#);
            let memory_query = format!(r#"process_resident_memory_bytes{{job="{job}"}}"#);
            let cpu: Vec<f64> = query_range(&client, &self.prometheus, &cpu_query, window)
                .await?
                .into_iter()
                .flat_map(|s| s.values)
                .collect();
            let memory: Vec<f64> = query_range(&client, &self.prometheus, &memory_query, window)
                .await?
                .into_iter()
                .flat_map(|s| s.values)
                .collect();
            match (
                bounds(&cpu, MIN_CPU_CORES),
                bounds(&memory, MIN_MEMORY_BYTES),
            ) {
                (Some(cpu_bounds), Some(memory_bounds)) => recommendations.push(Recommendation {
                    container: job.clone(),
                    cpu: cpu_bounds,
                    memory: memory_bounds,
                    cpu_samples: cpu.len(),
                    memory_samples: memory.len(),
                }),
                _ => missing.push(job.clone()),
            }
        }
        print!("{}", crate::recommend::table(&recommendations));
        let source = format!(
            "{} (Prometheus {}, {:.0} s from {:.0}, step {} s)",
            self.jobs.join(", "),
            self.prometheus,
            end - start,
            start,
            self.step
        );
        if let Some(path) = &self.patch {
            std::fs::write(path, crate::recommend::patch(&recommendations, &source))
                .with_context(|| format!("writing {}", path.display()))?;
            println!("patch: {}", path.display());
        }
        if !missing.is_empty() {
            eprintln!(
                "no CPU or memory samples in Prometheus for {} in the window: is it scraped \
                 (job label) and does it export process_cpu_seconds_total?",
                missing.join(", ")
            );
            return Ok(ExitCode::FAILURE);
        }
        Ok(ExitCode::SUCCESS)
    }
}

impl Cli {
    pub async fn run(self) -> anyhow::Result<ExitCode> {
        match self.command {
            Command::FlashSale(a) => {
                let profile = a.profile();
                a.run.execute(profile).await
            }
            Command::Run(a) => {
                let profile = Profile::read(&a.profile)
                    .with_context(|| format!("profile {}", a.profile.display()))?;
                a.run.execute(profile).await
            }
            Command::Audit(a) => a.run().await,
            Command::Report(a) => {
                let path = crate::report::write(&a.out, &a.runs)?;
                println!("report: {}", path.display());
                Ok(ExitCode::SUCCESS)
            }
            Command::Recommend(a) => a.run().await,
        }
    }
}

impl FlashSale {
    /// The profile the flags describe, at its unscaled durations.
    fn profile(&self) -> Profile {
        let secs = Duration::from_secs_f64;
        Profile {
            phases: flash_sale(
                self.base_rate,
                self.spike_multiplier,
                secs(self.warmup),
                secs(self.spike),
                secs(self.cooldown),
                1.0,
            ),
            mix: Mix {
                hot_sku: self.hot_sku.clone(),
                other_skus: self
                    .other_skus
                    .iter()
                    .filter(|s| !s.is_empty())
                    .cloned()
                    .collect(),
                customers: self.customers,
                keyed_share: self.keyed_share,
                retry_share: self.retry_share,
                invalid_share: self.invalid_share,
                ..Mix::default()
            },
        }
    }
}

impl RunOptions {
    /// The one place a run is configured: checks the profile, scales its durations,
    /// and settles the run tag.
    fn config(&self, profile: Profile) -> anyhow::Result<RunConfig> {
        profile.validate()?;
        let Profile { phases, mix } = profile.scaled(self.duration_scale);
        let run_tag = self.run_tag.clone().unwrap_or_else(|| {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default();
            format!("{:x}", now.as_millis())
        });
        Ok(RunConfig {
            target: self.target.clone(),
            phases,
            mix,
            concurrency: self.concurrency,
            max_pending: self.max_pending,
            timeout: Duration::from_secs_f64(self.timeout),
            seed: self.seed,
            run_tag,
            progress_metrics: self.progress_metrics.clone(),
            progress: true,
        })
    }

    /// Runs `profile`, prints the summary and writes the results file.
    async fn execute(self, profile: Profile) -> anyhow::Result<ExitCode> {
        let config = self.config(profile)?;
        if self.dry_run {
            print!("{}", plan_lines(&config));
            return Ok(ExitCode::SUCCESS);
        }
        println!("{}", describe(&config));
        let metrics = match self.metrics_addr {
            Some(addr) => {
                let server = MetricsServer::start(addr).await?;
                println!("metrics: http://{}/metrics", server.local_addr());
                Some(server)
            }
            None => None,
        };
        let results = run(config).await?;
        drop(metrics);
        println!("{}", crate::results::summary(&results));
        results.write(&self.results)?;
        println!("results: {}", self.results.display());
        Ok(ExitCode::SUCCESS)
    }
}

/// What `--dry-run` prints.
fn plan_lines(config: &RunConfig) -> String {
    let mut out = format!("hot_sku {}\n", config.mix.hot_sku);
    let mut start = 0.0;
    for p in &config.phases {
        let end = start + p.duration.as_secs_f64();
        let flags = [(p.hot, " hot"), (p.reconnect, " reconnect")]
            .iter()
            .filter(|(on, _)| *on)
            .map(|(_, flag)| *flag)
            .collect::<String>();
        out.push_str(&format!(
            "phase {} {start} {end} {}{flags}\n",
            p.name, p.rate
        ));
        start = end;
    }
    out
}

/// `plan: baseline 50/s × 30s, spike 1000/s × 60s (hot), …; run tag …`
fn describe(config: &RunConfig) -> String {
    let phases: Vec<String> = config
        .phases
        .iter()
        .map(|p| {
            format!(
                "{} {}/s × {}s{}",
                p.name,
                p.rate,
                p.duration.as_secs_f64(),
                match (p.hot, p.reconnect) {
                    (true, true) => " (hot, reconnecting)",
                    (true, false) => " (hot)",
                    (false, true) => " (reconnecting)",
                    (false, false) => "",
                }
            )
        })
        .collect();
    format!(
        "plan: {}; hot SKU {}; run tag {}",
        phases.join(", "),
        config.mix.hot_sku,
        config.run_tag
    )
}

impl Audit {
    async fn run(self) -> anyhow::Result<ExitCode> {
        let a = self;
        let results = RunResults::read(&a.results)?;
        let pool = db::connect(&a.database_url).await?;
        let expected = results
            .accepted
            .iter()
            .map(|x| x.order_id)
            .collect::<std::collections::HashSet<_>>()
            .len();
        let rows = db::wait_for_rows(
            &pool,
            &results.customer_prefix,
            expected,
            Duration::from_secs_f64(a.wait),
        )
        .await?;
        let sale = Sale {
            remaining: db::remaining(&pool, &a.sku).await?,
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

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Command {
        let args = std::iter::once("loadgen").chain(args.iter().copied());
        match Cli::try_parse_from(args) {
            Ok(cli) => cli.command,
            Err(e) => panic!("{e}"),
        }
    }

    fn shipped(name: &str) -> PathBuf {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("profiles")
            .join(name)
    }

    #[test]
    fn the_shipped_flash_sale_file_runs_what_the_flash_sale_defaults_run() {
        let Command::FlashSale(flags) = parse(&["flash-sale", "--run-tag", "t"]) else {
            panic!("flash-sale")
        };
        let path = shipped("flash-sale.yaml");
        let Command::Run(file) =
            parse(&["run", "--profile", path.to_str().unwrap(), "--run-tag", "t"])
        else {
            panic!("run")
        };
        assert_eq!(
            Profile::read(&file.profile).expect("flash-sale.yaml"),
            flags.profile()
        );
        let from_flags = flags.run.config(flags.profile()).expect("valid");
        let from_file = file
            .run
            .config(Profile::read(&file.profile).expect("flash-sale.yaml"))
            .expect("valid");
        assert_eq!(format!("{from_flags:?}"), format!("{from_file:?}"));
    }

    #[test]
    fn the_workload_profiles_parse_and_the_dry_run_prints_their_plan() {
        let plan = |name: &str| {
            let path = shipped(name);
            let Command::Run(file) = parse(&["run", "--profile", path.to_str().unwrap()]) else {
                panic!("run")
            };
            let profile = Profile::read(&file.profile).expect(name);
            plan_lines(&file.run.config(profile).expect("valid"))
        };
        assert_eq!(
            plan("log-burst.yaml"),
            "hot_sku LOGS\n\
             phase trickle 0 20 50\n\
             phase burst-1 20 35 1000 hot\n\
             phase trickle-2 35 55 50\n\
             phase burst-2 55 70 1000 hot\n\
             phase trickle-3 70 110 50\n"
        );
        assert_eq!(
            plan("iot-fanin.yaml"),
            "hot_sku READINGS\n\
             phase steady 0 40 600\n\
             phase reconnect-storm 40 50 1500 reconnect\n\
             phase steady-2 50 80 600\n\
             phase quiet 80 120 50\n"
        );
    }

    #[test]
    fn the_duration_scale_applies_to_a_profile_file() {
        let path = shipped("double-spike.yaml");
        let Command::Run(file) = parse(&[
            "run",
            "--profile",
            path.to_str().unwrap(),
            "--duration-scale",
            "0.5",
        ]) else {
            panic!("run")
        };
        let config = file
            .run
            .config(Profile::read(&file.profile).expect("double-spike.yaml"))
            .expect("valid");
        let secs: Vec<f64> = config
            .phases
            .iter()
            .map(|p| p.duration.as_secs_f64())
            .collect();
        assert_eq!(secs, [15.0, 15.0, 30.0, 15.0, 30.0]);
    }

    #[test]
    fn run_needs_a_profile_and_refuses_a_scale_of_zero() {
        let no_profile = Cli::try_parse_from(["loadgen", "run"])
            .err()
            .expect("refused");
        assert!(no_profile.to_string().contains("--profile"), "{no_profile}");
        let zero = Cli::try_parse_from([
            "loadgen",
            "run",
            "--profile",
            "p.yaml",
            "--duration-scale",
            "0",
        ])
        .err()
        .expect("refused");
        assert!(zero.to_string().contains("--duration-scale"), "{zero}");
    }

    #[test]
    fn flash_sale_flags_get_the_same_checks_as_a_file() {
        let Command::FlashSale(flags) = parse(&["flash-sale", "--retry-share", "1.5"]) else {
            panic!("flash-sale")
        };
        let message = flags.run.config(flags.profile()).unwrap_err().to_string();
        assert!(message.contains("mix.retry_share"), "{message}");
    }
}
