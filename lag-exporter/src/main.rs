//! lag-exporter: serves consumer-group lag on `/metrics` (127.0.0.1:9308 by default).
//! Settings: `SURGE__LAG_EXPORTER__{HOST,PORT,GROUPS,TOPICS,TIMEOUT_MS}` and the shared
//! `kafka` section; see `lag_exporter::settings`.

use std::net::TcpListener;
use std::time::Duration;

use clap::Parser;
use lag_exporter::server::Exporter;
use lag_exporter::{OffsetReader, Settings};

/// Consumer-group lag from the broker's committed offsets, in Kafka Exporter's metric shape.
#[derive(Parser)]
#[command(
    version,
    after_help = "Settings come from config/base.yaml, config/$SURGE_ENVIRONMENT.yaml and \
                  SURGE__* variables, e.g. SURGE__LAG_EXPORTER__PORT=9308."
)]
struct Cli {}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    Cli::parse();
    let settings = Settings::load()?;
    let telemetry = common::telemetry::init("lag-exporter", &settings.log, &settings.otlp)?;
    let reader = OffsetReader::new(
        &settings.kafka,
        &settings.groups(),
        &settings.topics(),
        Duration::from_millis(settings.lag_exporter.timeout_ms),
    )?;
    let listener = TcpListener::bind((
        settings.lag_exporter.host.as_str(),
        settings.lag_exporter.port,
    ))?;
    let exporter = Exporter::build(listener, reader)?;
    tracing::info!(
        port = exporter.port(),
        groups = ?settings.groups(),
        topics = ?settings.topics(),
        "lag-exporter listening"
    );
    let result = exporter.run_until_stopped(common::shutdown::signal()).await;
    telemetry.shutdown();
    result
}
