//! The publish span both services use, as an exporter receives it.
//! A test binary of its own: the subscriber is installed globally, as `init` does.

mod support;

use std::collections::BTreeMap;

use common::publish_span::{publish_span, record_delivery};
use opentelemetry::trace::{SpanKind, Status};

#[test]
fn a_publish_span_carries_the_messaging_attributes_and_where_the_record_landed() {
    let (ended, _output, _provider) = support::install("info");
    let delivered = publish_span("orders");
    delivered.record("messaging.message.id", "0190-id");
    delivered.record("messaging.kafka.message.key", "c-42");
    record_delivery(&delivered, Some((7, 1234)));
    drop(delivered);
    let failed = publish_span("orders.dlq");
    record_delivery(&failed, None);
    drop(failed);

    let spans = ended.spans();
    assert_eq!(spans.len(), 2, "{spans:?}");
    let attributes = |i: usize| -> BTreeMap<String, String> {
        spans[i]
            .attributes
            .iter()
            .map(|kv| (kv.key.to_string(), kv.value.to_string()))
            .collect()
    };
    let a = attributes(0);
    assert_eq!(spans[0].name, "publish orders");
    assert_eq!(spans[0].span_kind, SpanKind::Producer);
    for (key, value) in [
        ("messaging.system", "kafka"),
        ("messaging.operation.type", "send"),
        ("messaging.operation.name", "publish"),
        ("messaging.destination.name", "orders"),
        ("messaging.message.id", "0190-id"),
        ("messaging.kafka.message.key", "c-42"),
        ("messaging.destination.partition.id", "7"),
        ("messaging.kafka.offset", "1234"),
    ] {
        assert_eq!(
            a.get(key).map(String::as_str),
            Some(value),
            "{key} in {a:?}"
        );
    }
    assert_eq!(spans[1].name, "publish orders.dlq");
    assert!(
        matches!(spans[1].status, Status::Error { .. }),
        "{:?}",
        spans[1].status
    );
    assert!(!attributes(1).contains_key("messaging.kafka.offset"));
}
