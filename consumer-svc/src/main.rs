//! consumer-svc: `consumer-svc [run | migrate | seed-stock --sku SKU --units N | help]`.

use consumer_svc::cli::{self, Command};
use consumer_svc::Settings;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let command = match Command::parse(std::env::args().skip(1)) {
        Ok(command) => command,
        Err(message) => {
            eprintln!("{message}\n\n{}", cli::USAGE);
            std::process::exit(2);
        }
    };
    let settings = Settings::load()?;
    let telemetry = common::telemetry::init("consumer-svc", &settings.log, &settings.otlp)?;
    let result = cli::execute(command, settings, common::shutdown::signal()).await;
    if let Err(error) = &result {
        tracing::error!(error = format!("{error:#}"), "consumer-svc failed");
    }
    telemetry.shutdown();
    result
}
