//! One place sets up logs, traces and metrics for a service.
//!
//! - Logs: one JSON object per line on stdout, each carrying the `trace_id`/`span_id` of
//!   the span it was written in, so a log line leads to its trace.
//! - Traces: `tracing` spans become OpenTelemetry spans. A tracer provider always exists,
//!   so spans get real ids and the trace context flows through Kafka even when nothing is
//!   exported; with an OTLP endpoint, finished spans are exported in batches from a
//!   background thread, so a slow or absent collector never delays a request.
//! - Metrics: the `metrics` facade recorded into a Prometheus registry rendered on
//!   `/metrics`.

use std::sync::OnceLock;
use std::time::Duration;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use opentelemetry::trace::{SpanId, TraceContextExt, TraceId, TracerProvider as _};
use opentelemetry_sdk::trace::{SdkTracer, SdkTracerProvider};
use opentelemetry_sdk::Resource;
use tracing::level_filters::LevelFilter;
use tracing::subscriber::Interest;
use tracing::{span, Event, Metadata, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, MakeWriter};
use tracing_subscriber::layer::{Context, Filter, Layer as _, SubscriberExt};
use tracing_subscriber::registry::{LookupSpan, Registry};
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::EnvFilter;

use crate::settings::{LogFormat, LogSettings, OtlpSettings};

/// Histogram buckets for latencies in seconds: 0.5 ms to 30 s, dense where a healthy
/// ingest path lives (1–20 ms).
pub const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.03, 0.05, 0.075, 0.1, 0.25,
    0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// Keeps the tracer provider alive; [`Telemetry::shutdown`] flushes pending spans.
pub struct Telemetry {
    provider: SdkTracerProvider,
}

impl Telemetry {
    /// Flushes and stops span export. Call once, at the end of `main`.
    pub fn shutdown(&self) {
        if let Err(error) = self.provider.shutdown() {
            tracing::warn!(%error, "span export did not shut down cleanly");
        }
    }
}

/// Installs the global subscriber and tracer provider. Call once per process.
pub fn init(
    service_name: &'static str,
    log: &LogSettings,
    otlp: &OtlpSettings,
) -> anyhow::Result<Telemetry> {
    let provider = tracer_provider(service_name, otlp)?;
    opentelemetry::global::set_tracer_provider(provider.clone());
    opentelemetry::global::set_text_map_propagator(
        opentelemetry_sdk::propagation::TraceContextPropagator::new(),
    );
    let log_filter =
        EnvFilter::try_from_default_env().or_else(|_| EnvFilter::try_new(&log.level))?;
    // `try_init` also installs the `log` → `tracing` bridge, so dependencies that log with
    // `log` (sqlx, librdkafka's callbacks) end up in the same JSON lines.
    subscriber(
        provider.tracer(service_name),
        log_filter,
        log.format,
        std::io::stdout,
    )
    .try_init()?;
    Ok(Telemetry { provider })
}

/// The subscriber [`init`] installs, built but not installed, so a test can install it
/// with its own tracer and writer. Spans at `info` and above go to `tracer` whatever
/// `log_filter` says, so a quiet log never breaks trace propagation; log lines are what
/// `log_filter` lets through, written to `writer`. Install it globally: the JSON lines
/// look their trace up through the global dispatcher.
pub fn subscriber<W>(
    tracer: SdkTracer,
    log_filter: EnvFilter,
    format: LogFormat,
    writer: W,
) -> impl Subscriber + for<'a> LookupSpan<'a> + Send + Sync + 'static
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let otel_layer = tracing_opentelemetry::layer()
        .with_tracer(tracer)
        .with_filter(Uncached(EnvFilter::new("info")));
    let fmt_layer = match format {
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .event_format(JsonWithTrace)
            .with_writer(writer)
            .boxed(),
        LogFormat::Pretty => tracing_subscriber::fmt::layer().with_writer(writer).boxed(),
    };
    tracing_subscriber::registry()
        .with(otel_layer)
        .with(fmt_layer.with_filter(Uncached(log_filter)))
}

/// A per-layer filter whose callsites are never cached as "always enabled".
///
/// The trap (tokio-rs/tracing#2519): per-layer filters pass their verdict from
/// `enabled` to `on_new_span`/`on_event` through a thread-local, which the span or event
/// that follows consumes. A question that no span or event follows leaves its verdict
/// behind: `log_enabled!` through the `log` bridge, which sqlx asks after every statement.
/// When every layer said no to it, the next callsite whose interest is cached as
/// `always` skips `enabled`, reads that leftover "disabled everywhere", and its span
/// silently vanishes from the log lines and the trace (a record's `process` span, say).
///
/// Capping the interest at `sometimes` makes every span and event ask `enabled` first,
/// so the verdict it reads is its own. Callsites every filter rejects stay `never`, and
/// the level hint still cuts off disabled levels before any filter runs; the cost is
/// one filter evaluation per span or event that is recorded.
struct Uncached<F>(F);

impl<S, F: Filter<S>> Filter<S> for Uncached<F> {
    fn enabled(&self, meta: &Metadata<'_>, cx: &Context<'_, S>) -> bool {
        self.0.enabled(meta, cx)
    }

    fn callsite_enabled(&self, meta: &'static Metadata<'static>) -> Interest {
        let interest = self.0.callsite_enabled(meta);
        if interest.is_always() {
            Interest::sometimes()
        } else {
            interest
        }
    }

    fn event_enabled(&self, event: &Event<'_>, cx: &Context<'_, S>) -> bool {
        self.0.event_enabled(event, cx)
    }

    fn max_level_hint(&self) -> Option<LevelFilter> {
        self.0.max_level_hint()
    }

    // `EnvFilter` tracks span scopes for its span-based directives.
    fn on_new_span(&self, attrs: &span::Attributes<'_>, id: &span::Id, cx: Context<'_, S>) {
        self.0.on_new_span(attrs, id, cx);
    }

    fn on_record(&self, id: &span::Id, values: &span::Record<'_>, cx: Context<'_, S>) {
        self.0.on_record(id, values, cx);
    }

    fn on_enter(&self, id: &span::Id, cx: Context<'_, S>) {
        self.0.on_enter(id, cx);
    }

    fn on_exit(&self, id: &span::Id, cx: Context<'_, S>) {
        self.0.on_exit(id, cx);
    }

    fn on_close(&self, id: span::Id, cx: Context<'_, S>) {
        self.0.on_close(id, cx);
    }
}

fn tracer_provider(
    service_name: &'static str,
    otlp: &OtlpSettings,
) -> anyhow::Result<SdkTracerProvider> {
    let resource = Resource::builder().with_service_name(service_name).build();
    let builder = SdkTracerProvider::builder().with_resource(resource);
    let Some(endpoint) = otlp.endpoint.as_deref().filter(|e| !e.is_empty()) else {
        return Ok(builder.build());
    };
    use opentelemetry_otlp::{WithExportConfig, WithHttpConfig};
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_endpoint(traces_url(endpoint))
        .with_timeout(Duration::from_secs(5))
        .with_headers(Default::default())
        .build()?;
    Ok(builder.with_batch_exporter(exporter).build())
}

/// OTLP/HTTP takes the signal path; accept the collector's base URL as operators write it.
fn traces_url(endpoint: &str) -> String {
    let trimmed = endpoint.trim_end_matches('/');
    if trimmed.ends_with("/v1/traces") {
        trimmed.to_owned()
    } else {
        format!("{trimmed}/v1/traces")
    }
}

/// The process-wide Prometheus recorder, installed on first use.
pub fn metrics_handle() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let builder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("_seconds".to_owned()), LATENCY_BUCKETS)
            .and_then(|b| {
                b.set_buckets_for_metric(
                    Matcher::Suffix("_batch_size".to_owned()),
                    &[1.0, 2.0, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0],
                )
            })
            .unwrap_or_default();
        let recorder = builder.build_recorder();
        let handle = recorder.handle();
        // Another recorder may already be installed (a test binary hosting several
        // services); the handle still renders what this recorder saw.
        let _ = metrics::set_global_recorder(recorder);
        let upkeep = handle.clone();
        std::thread::Builder::new()
            .name("metrics-upkeep".to_owned())
            .spawn(move || loop {
                std::thread::sleep(Duration::from_secs(5));
                upkeep.run_upkeep();
            })
            .ok();
        handle
    })
}

/// The Prometheus page: everything recorded, plus the process's own CPU time, resident
/// memory, open files and threads (`process_*`, the names every Prometheus client library
/// uses), read at the moment of the scrape. `loadgen recommend` sizes requests from them.
pub fn render_metrics() -> String {
    static PROCESS: OnceLock<metrics_process::Collector> = OnceLock::new();
    let handle = metrics_handle();
    let process = PROCESS.get_or_init(|| {
        let collector = metrics_process::Collector::default();
        collector.describe();
        collector
    });
    process.collect();
    handle.render()
}

/// JSON lines with the OpenTelemetry trace and span ids of the current span.
struct JsonWithTrace;

impl<S, N> FormatEvent<S, N> for JsonWithTrace
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> std::fmt::Result {
        let mut fields = serde_json::Map::new();
        let now = time::OffsetDateTime::now_utc();
        let timestamp = now
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default();
        fields.insert("timestamp".into(), timestamp.into());
        fields.insert("level".into(), event.metadata().level().as_str().into());
        fields.insert("target".into(), event.metadata().target().into());
        event.record(&mut JsonVisitor(&mut fields));
        let current = current_span();
        let name = current
            .as_ref()
            .map(|c| c.name)
            .or_else(|| ctx.lookup_current().map(|span| span.name()));
        if let Some(name) = name {
            fields.insert("span".into(), name.into());
        }
        if let Some(CurrentSpan {
            ids: Some((trace_id, span_id)),
            ..
        }) = current
        {
            fields.insert("trace_id".into(), trace_id.to_string().into());
            fields.insert("span_id".into(), span_id.to_string().into());
        }
        let line = serde_json::Value::Object(fields).to_string();
        writeln!(writer, "{line}")
    }
}

/// The span a log line was written in, as the whole subscriber sees it.
struct CurrentSpan {
    name: &'static str,
    /// Trace and span id of the nearest span, itself or an ancestor, that OpenTelemetry
    /// records.
    ids: Option<(TraceId, SpanId)>,
}

/// Looked up in the registry rather than through the log layer's own context: that one
/// hides the spans the log filter rejects, and a `warn` line inside an `info` span must
/// still name its trace. A `debug` span that only the log layer records takes the ids of
/// its nearest exported ancestor. Under a scoped (`with_default`) subscriber the lookup,
/// made from inside an event, finds no dispatcher and the line goes without ids.
fn current_span() -> Option<CurrentSpan> {
    tracing::dispatcher::get_default(|dispatch| {
        let registry = dispatch.downcast_ref::<Registry>()?;
        let id = registry.current_span().id()?.clone();
        let span = registry.span(&id)?;
        let ids = span.scope().find_map(|ancestor| {
            let cx = tracing_opentelemetry::get_otel_context(&ancestor.id(), dispatch)?;
            let sc = cx.span().span_context().clone();
            sc.is_valid().then(|| (sc.trace_id(), sc.span_id()))
        });
        Some(CurrentSpan {
            name: span.name(),
            ids,
        })
    })
}

struct JsonVisitor<'a>(&'a mut serde_json::Map<String, serde_json::Value>);

impl tracing::field::Visit for JsonVisitor<'_> {
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_i64(&mut self, field: &tracing::field::Field, value: i64) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_u64(&mut self, field: &tracing::field::Field, value: u64) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_bool(&mut self, field: &tracing::field::Field, value: bool) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_f64(&mut self, field: &tracing::field::Field, value: f64) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        self.0
            .insert(field.name().into(), format!("{value:?}").into());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collector_base_urls_get_the_traces_path() {
        assert_eq!(
            traces_url("http://127.0.0.1:4318"),
            "http://127.0.0.1:4318/v1/traces"
        );
        assert_eq!(
            traces_url("http://c:4318/v1/traces"),
            "http://c:4318/v1/traces"
        );
    }
}
