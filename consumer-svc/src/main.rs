//! consumer-svc: `consumer-svc [run | migrate | seed-stock --sku SKU --units N]`.

use clap::Parser as _;
use consumer_svc::cli::{self, Cli};
use consumer_svc::Settings;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let command = Cli::parse().command();
    let settings = Settings::load()?;
    let log = command.log_settings(&settings.log);
    let telemetry = common::telemetry::init("consumer-svc", &log, &settings.otlp)?;
    let shutdown = common::shutdown::signal_with_budget(settings.shutdown.budget());
    let result = cli::execute(command, settings, shutdown).await;
    if let Err(error) = &result {
        tracing::error!(error = format!("{error:#}"), "consumer-svc failed");
    }
    telemetry.shutdown();
    // Exit here rather than by returning: a shutdown step left behind on a blocking thread
    // (a group leave with the brokers gone) would otherwise hold the runtime's drop, and
    // the process, until the shutdown budget ran out.
    std::process::exit(i32::from(result.is_err()))
}
