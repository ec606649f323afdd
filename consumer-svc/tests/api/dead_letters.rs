//! Records that can never become orders go to the dead-letter topic; the partition moves on.

use std::collections::HashMap;
use std::time::Duration;

use rdkafka::message::Headers;
use rdkafka::Message;

use crate::helpers::{header, order, Sale};

#[tokio::test]
async fn a_poison_record_is_dead_lettered_with_its_origin_and_the_records_after_it_are_processed() {
    let sale = Sale::new(1).await;
    sale.seed("FLASH-1", 100).await;
    let valid: Vec<_> = (0..5).map(|_| order("FLASH-1", 1)).collect();
    let first = valid[0].to_json();
    let unknown_schema =
        br#"{"schema":"order.v2","order_id":"0190b2a4-0000-7000-8000-000000000000"}"#;
    let mut bad_field = valid[1].clone();
    bad_field.sku = "has spaces".to_owned();
    let bad_field = bad_field.to_json();
    let rest: Vec<Vec<u8>> = valid[1..].iter().map(|e| e.to_json()).collect();

    let mut records = vec![
        (Some("c-1"), Some(first.as_slice()), None),
        (
            Some("c-poison"),
            Some(b"{not json".as_slice()),
            Some(header("x-origin", "test")),
        ),
        (Some("c-2"), Some(unknown_schema.as_slice()), None),
        (Some("c-3"), Some(bad_field.as_slice()), None),
        (Some("c-4"), None, None),
    ];
    records.extend(rest.iter().map(|v| (Some("c-5"), Some(v.as_slice()), None)));
    let positions = sale.publish_raw(records).await;

    let consumer = sale.spawn_consumer().await;
    assert_eq!(
        sale.wait_for_orders(5, Duration::from_secs(30)).await,
        5,
        "the valid records before and after the poison ones are processed"
    );
    let letters = testkit::kafka::read_all(&sale.kafka.dlq_topic, 4, Duration::from_secs(20));
    assert_eq!(letters.len(), 4, "one dead letter per poison record");

    let expected = [
        (positions[1].1, "undecodable"),
        (positions[2].1, "unknown_schema"),
        (positions[3].1, "invalid_field"),
        (positions[4].1, "empty"),
    ];
    let by_offset: HashMap<String, _> = letters
        .iter()
        .map(|m| {
            let h = m.headers().expect("dead letters carry headers");
            let get = |k| common::trace_context::header_str(h, k).map(str::to_owned);
            (get("surge.original.offset").unwrap_or_default(), m)
        })
        .collect();
    for (offset, kind) in expected {
        let letter = by_offset
            .get(&offset.to_string())
            .unwrap_or_else(|| panic!("no dead letter for offset {offset}"));
        let h = letter.headers().unwrap();
        let get = |k| common::trace_context::header_str(h, k);
        assert_eq!(get("surge.original.topic"), Some(sale.topic()));
        assert_eq!(get("surge.original.partition"), Some("0"));
        assert_eq!(get("surge.error.kind"), Some(kind));
        assert!(get("surge.error.message").is_some_and(|m| !m.is_empty()));
    }
    let undecodable = by_offset[&positions[1].1.to_string()];
    assert_eq!(
        undecodable.key(),
        Some(b"c-poison".as_slice()),
        "original key kept"
    );
    assert_eq!(
        undecodable.payload(),
        Some(b"{not json".as_slice()),
        "original value kept"
    );
    assert_eq!(
        common::trace_context::header_str(undecodable.headers().unwrap(), "x-origin"),
        Some("test"),
        "original headers kept"
    );
    let empty = by_offset[&positions[4].1.to_string()];
    assert_eq!(empty.payload(), None);
    assert!(empty.headers().unwrap().count() >= 5);

    let group = sale.kafka.group_id.clone();
    assert_eq!(
        sale.wait_for_committed(&group, 9, Duration::from_secs(20))
            .await,
        9,
        "the partition's committed offset moved past every record"
    );
    let metrics = consumer.get("/metrics").await.text().await.unwrap();
    assert!(
        crate::helpers::metric_value(&metrics, "surge_dlq_records_total{kind=\"undecodable\"}")
            >= 1.0,
        "{metrics}"
    );
    consumer.stop().await.expect("clean stop");
}
