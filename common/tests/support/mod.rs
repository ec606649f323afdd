//! What the telemetry tests capture: ended spans and log lines.
// Each test binary compiles this module and uses only part of it.
#![allow(dead_code)]

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry::Context;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{SdkTracerProvider, Span, SpanData, SpanProcessor};
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::EnvFilter;

use common::settings::LogFormat;

/// The spans that ended, as the exporter would have received them.
#[derive(Debug, Clone, Default)]
pub struct Ended(Arc<Mutex<Vec<SpanData>>>);

impl SpanProcessor for Ended {
    fn on_start(&self, _: &mut Span, _: &Context) {}
    fn on_end(&self, span: SpanData) {
        self.0.lock().unwrap().push(span);
    }
    fn force_flush(&self) -> OTelSdkResult {
        Ok(())
    }
    fn shutdown_with_timeout(&self, _: Duration) -> OTelSdkResult {
        Ok(())
    }
}

/// The log output, as written to stdout in production.
#[derive(Clone, Default)]
pub struct Output(Arc<Mutex<Vec<u8>>>);

impl Write for Output {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Output {
    pub fn lines(&self) -> Vec<serde_json::Value> {
        String::from_utf8(self.0.lock().unwrap().clone())
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).expect("every log line is JSON"))
            .collect()
    }
}

impl Ended {
    pub fn names(&self) -> Vec<String> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .map(|s| s.name.to_string())
            .collect()
    }

    /// The ended spans themselves.
    pub fn spans(&self) -> Vec<SpanData> {
        self.0.lock().unwrap().clone()
    }
}

/// Installs the production subscriber (and the `log` bridge) as the process's global one,
/// with `log_filter` and JSON lines, recording into the returned span list and output.
/// Once per test binary.
pub fn install(log_filter: &str) -> (Ended, Output, SdkTracerProvider) {
    let ended = Ended::default();
    let provider = SdkTracerProvider::builder()
        .with_span_processor(ended.clone())
        .build();
    let output = Output::default();
    let writer = output.clone();
    common::telemetry::subscriber(
        provider.tracer("test"),
        EnvFilter::new(log_filter),
        LogFormat::Json,
        move || writer.clone(),
    )
    .try_init()
    .expect("the first subscriber of this test binary");
    (ended, output, provider)
}
