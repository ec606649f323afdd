//! node-agent: runs the pods bound to a Node as local processes. Flags: `node-agent --help`.

use clap::Parser;
use common::settings::{LogSettings, OtlpSettings};
use node_agent::Settings;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let settings = Settings::parse();
    let telemetry = common::telemetry::init(
        "node-agent",
        &LogSettings::default(),
        &OtlpSettings::default(),
    )?;
    let client = node_agent::client(&settings).await?;
    let result = node_agent::agent::run(settings, client, common::shutdown::signal()).await;
    if let Err(error) = &result {
        tracing::error!(error = format!("{error:#}"), "node agent failed");
    }
    telemetry.shutdown();
    result
}
