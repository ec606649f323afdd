//! consumer-svc: `consumer-svc [run | migrate | seed-stock --sku SKU --units N]`.

use clap::Parser as _;
use consumer_svc::cli::{self, Cli};
use consumer_svc::Settings;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let command = Cli::parse().command();
    let settings = Settings::load()?;
    let log = command.log_settings(&settings.log);
    let telemetry = common::telemetry::init("consumer-svc", &log, &settings.otlp)?;
    let result = cli::execute(command, settings, common::shutdown::signal()).await;
    if let Err(error) = &result {
        tracing::error!(error = format!("{error:#}"), "consumer-svc failed");
    }
    telemetry.shutdown();
    result
}
