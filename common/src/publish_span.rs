//! The producer span around one Kafka publish, after the OpenTelemetry messaging
//! conventions; the same for orders (producer-svc) and dead letters (consumer-svc).

use tracing::field::Empty;
use tracing::Span;

/// An INFO span `publish {topic}` of kind producer. Its `traceparent` goes into the
/// record's headers (see [`crate::trace_context::inject`]); callers may record
/// `messaging.message.id` and `messaging.kafka.message.key`, and record the outcome
/// with [`record_delivery`].
pub fn publish_span(topic: &str) -> Span {
    tracing::info_span!(
        "publish",
        otel.name = %format!("publish {topic}"),
        otel.kind = "producer",
        otel.status_code = Empty,
        messaging.system = "kafka",
        messaging.operation.type = "send",
        messaging.operation.name = "publish",
        messaging.destination.name = %topic,
        messaging.message.id = Empty,
        messaging.kafka.message.key = Empty,
        messaging.destination.partition.id = Empty,
        messaging.kafka.offset = Empty,
    )
}

/// Where the broker put the record (`Some((partition, offset))`), or `None`: failed.
pub fn record_delivery(span: &Span, delivered: Option<(i32, i64)>) {
    match delivered {
        Some((partition, offset)) => {
            span.record("messaging.destination.partition.id", partition.to_string());
            span.record("messaging.kafka.offset", offset);
        }
        None => {
            span.record("otel.status_code", "ERROR");
        }
    }
}
