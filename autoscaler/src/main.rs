use std::path::PathBuf;
use std::time::Duration;

use autoscaler::algorithm::Mode;
use autoscaler::pods::PodTemplate;
use autoscaler::{hpa_spec, run};
use clap::{Parser, ValueEnum};

/// Local stand-in for the HPA controller: scales consumer-svc processes on Kafka lag.
#[derive(Parser)]
struct Args {
    /// HPA manifest (one object, or a rendered multi-document stream).
    #[arg(long, default_value = "k8s/base/consumer-svc/hpa.yaml")]
    hpa: String,
    /// Name of the HPA in the manifest, when it holds several.
    #[arg(long)]
    hpa_name: Option<String>,
    /// The consumer-svc binary each "pod" runs.
    #[arg(long)]
    consumer_bin: PathBuf,
    /// Sync period in seconds, before time scaling (upstream default 15).
    #[arg(long, default_value_t = 15.0)]
    sync_period: f64,
    /// Divides the sync period, stabilization windows and policy periods (demo: 10).
    #[arg(long, default_value_t = 1.0)]
    time_scale: f64,
    #[arg(long, value_enum, default_value_t = ModeArg::Upstream)]
    mode: ModeArg,
    /// Partition cap; default: the topic's partition count.
    #[arg(long)]
    partitions: Option<u32>,
    /// Replicas at start; default minReplicas.
    #[arg(long)]
    initial_replicas: Option<u32>,
    /// Pod i listens on base-port + i.
    #[arg(long, default_value_t = 8081)]
    base_port: u16,
    /// Address of the autoscaler's own /metrics.
    #[arg(long, default_value = "127.0.0.1:9102")]
    metrics_addr: std::net::SocketAddr,
    /// Folder for each pod's output.
    #[arg(long, default_value = ".run/autoscaler")]
    log_dir: PathBuf,
    /// Seconds between SIGTERM and SIGKILL on scale-in.
    #[arg(long, default_value_t = 60)]
    grace_period: u64,
    /// CSV of every sync, for the report.
    #[arg(long)]
    timeline: Option<PathBuf>,
}

#[derive(Clone, Copy, ValueEnum)]
enum ModeArg {
    Upstream,
    PartitionAware,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    anyhow::ensure!(args.time_scale > 0.0, "--time-scale must be positive");
    anyhow::ensure!(args.sync_period > 0.0, "--sync-period must be positive");
    let settings: autoscaler::Settings = common::settings::load()?;
    let config = run::Config {
        spec: hpa_spec::load(&args.hpa, args.hpa_name.as_deref())?,
        mode: match args.mode {
            ModeArg::Upstream => Mode::Upstream,
            ModeArg::PartitionAware => Mode::PartitionAware,
        },
        kafka: settings.kafka,
        sync_period: Duration::from_secs_f64(args.sync_period),
        time_scale: args.time_scale,
        partitions: args.partitions,
        initial_replicas: args.initial_replicas,
        pods: PodTemplate {
            name_prefix: "consumer-svc".into(),
            program: args.consumer_bin,
            args: vec![],
            base_port: args.base_port,
            env: vec![],
            log_dir: Some(args.log_dir),
            grace_period: Duration::from_secs(args.grace_period),
        },
        metrics_addr: args.metrics_addr,
        timeline: args.timeline,
    };
    run::run(config, common::shutdown::signal()).await
}
