//! W3C trace context (`traceparent`/`tracestate`) carried in Kafka record headers, so one
//! trace runs from the HTTP request through the broker into the consumer. (The HTTP side,
//! reading it from request headers, is in `http_observe`.)
//!
//! What a client sent reaches the record only through the propagator: a malformed
//! `traceparent` is ignored (W3C: start a new trace), a `tracestate` keeps at most the 32
//! valid list-members OpenTelemetry parses, and on the way into the record it is cut to
//! [`TRACESTATE_MAX_BYTES`] the way W3C Trace Context asks, so a client cannot make every
//! record carry kilobytes of someone else's vendor data.

use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry::Context;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use rdkafka::message::{Header, Headers, OwnedHeaders};

/// Writes the trace context of `cx` into `headers`.
pub fn inject(cx: &Context, headers: OwnedHeaders) -> OwnedHeaders {
    let mut writer = HeaderWriter(Some(headers));
    TraceContextPropagator::new().inject_context(cx, &mut writer);
    writer.0.unwrap_or_default()
}

/// Reads a trace context from record headers; an absent or malformed `traceparent`
/// yields an empty context (the consumer then starts a new trace).
pub fn extract<H: Headers>(headers: Option<&H>) -> Context {
    match headers {
        Some(headers) => TraceContextPropagator::new().extract(&HeaderReader(headers)),
        None => Context::new(),
    }
}

/// The `tracestate` a record carries at most: the 512 characters W3C Trace Context asks
/// every platform to propagate.
pub const TRACESTATE_MAX_BYTES: usize = 512;

/// Largest list-member removed first when a `tracestate` is over the limit (W3C).
const TRACESTATE_LONG_MEMBER_BYTES: usize = 128;

/// `tracestate` cut to [`TRACESTATE_MAX_BYTES`] as W3C Trace Context § "tracestate
/// limits" says: first members longer than 128 characters go, then members from the
/// right (the oldest). `None` when nothing is left.
pub fn bounded_tracestate(value: &str) -> Option<String> {
    if value.len() <= TRACESTATE_MAX_BYTES {
        return (!value.is_empty()).then(|| value.to_owned());
    }
    let mut members: Vec<&str> = value
        .split(',')
        .map(str::trim)
        .filter(|m| !m.is_empty() && m.len() <= TRACESTATE_LONG_MEMBER_BYTES)
        .collect();
    let joined_len = |members: &[&str]| {
        members.iter().map(|m| m.len()).sum::<usize>() + members.len().saturating_sub(1)
    };
    while joined_len(&members) > TRACESTATE_MAX_BYTES {
        members.pop();
    }
    (!members.is_empty()).then(|| members.join(","))
}

struct HeaderWriter(Option<OwnedHeaders>);

impl Injector for HeaderWriter {
    fn set(&mut self, key: &str, value: String) {
        let value = if key.eq_ignore_ascii_case("tracestate") {
            match bounded_tracestate(&value) {
                Some(value) => value,
                None => return,
            }
        } else {
            value
        };
        if let Some(headers) = self.0.take() {
            self.0 = Some(headers.insert(Header {
                key,
                value: Some(value.as_bytes()),
            }));
        }
    }
}

struct HeaderReader<'a, H>(&'a H);

impl<H: Headers> Extractor for HeaderReader<'_, H> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|h| h.key.eq_ignore_ascii_case(key))
            .and_then(|h| h.value)
            .and_then(|v| std::str::from_utf8(v).ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.iter().map(|h| h.key).collect()
    }
}

/// The value of one header as text, if present and UTF-8.
pub fn header_str<'a, H: Headers>(headers: &'a H, key: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|h| h.key == key)
        .and_then(|h| h.value)
        .and_then(|v| std::str::from_utf8(v).ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::trace::{
        SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState,
    };

    #[test]
    fn trace_context_survives_a_round_trip_through_record_headers() {
        let span_context = SpanContext::new(
            TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").unwrap(),
            SpanId::from_hex("00f067aa0ba902b7").unwrap(),
            TraceFlags::SAMPLED,
            true,
            TraceState::default(),
        );
        let cx = Context::new().with_remote_span_context(span_context.clone());
        let headers = inject(&cx, OwnedHeaders::new());
        assert_eq!(
            header_str(&headers, "traceparent"),
            Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
        );
        let back = extract(Some(&headers));
        assert_eq!(
            back.span().span_context().trace_id(),
            span_context.trace_id()
        );
        assert_eq!(back.span().span_context().span_id(), span_context.span_id());
    }

    #[test]
    fn a_long_tracestate_loses_its_long_members_first_then_members_from_the_right() {
        let short: Vec<String> = (0..40).map(|i| format!("k{i}=v{i:0>10}")).collect();
        let long = format!("big={}", "x".repeat(200));
        let value = format!("{long},{}", short.join(","));
        let bounded = bounded_tracestate(&value).expect("members left");
        assert!(bounded.len() <= TRACESTATE_MAX_BYTES, "{}", bounded.len());
        assert!(!bounded.contains("big="), "the long member goes first");
        assert!(
            bounded.starts_with("k0="),
            "the leftmost (newest) members stay"
        );
        assert_eq!(bounded_tracestate("a=1,b=2").as_deref(), Some("a=1,b=2"));
        assert_eq!(bounded_tracestate(""), None);
    }

    #[test]
    fn a_malformed_traceparent_yields_an_empty_context() {
        let headers = OwnedHeaders::new().insert(Header {
            key: "traceparent",
            value: Some("garbage".as_bytes()),
        });
        let cx = extract(Some(&headers));
        assert!(!cx.span().span_context().is_valid());
    }
}
