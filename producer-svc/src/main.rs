use producer_svc::{Application, Settings};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let settings = Settings::load()?;
    let telemetry = common::telemetry::init("producer-svc", &settings.log, &settings.otlp)?;
    let application = Application::build(settings).await?;
    tracing::info!(port = application.port(), "producer-svc listening");
    let result = application
        .run_until_stopped(common::shutdown::signal())
        .await;
    if let Err(error) = &result {
        tracing::error!(%error, "producer-svc stopped with an error");
    }
    telemetry.shutdown();
    result
}
