//! producer-svc: no arguments; everything comes from the settings layers.

use clap::Parser;
use producer_svc::{Application, Settings};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// surge ingest: accepts orders over HTTP and publishes them to Kafka.
#[derive(Parser)]
#[command(
    version,
    after_help = "Settings come from config/base.yaml, config/$SURGE_ENVIRONMENT.yaml and \
                  SURGE__* variables, e.g. SURGE__KAFKA__BOOTSTRAP_SERVERS=127.0.0.1:9092."
)]
struct Cli {}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    Cli::parse();
    let settings = Settings::load()?;
    let telemetry = common::telemetry::init("producer-svc", &settings.log, &settings.otlp)?;
    let budget = settings.shutdown.budget();
    let application = Application::build(settings).await?;
    tracing::info!(port = application.port(), "producer-svc listening");
    let result = application
        .run_until_stopped(common::shutdown::signal_with_budget(budget))
        .await;
    if let Err(error) = &result {
        tracing::error!(%error, "producer-svc stopped with an error");
    }
    telemetry.shutdown();
    result
}
