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

#[tokio::test]
async fn a_missing_dead_letter_topic_fails_the_start_naming_it() {
    let sale = Sale::new(1).await;
    let mut settings = sale.settings();
    settings.kafka.dlq_topic = testkit::unique_name("missing-dlq");
    let error = match consumer_svc::Application::build(settings.clone()).await {
        Ok(_) => panic!("a replica that can never dead-letter must not start"),
        Err(error) => format!("{error:#}"),
    };
    assert!(error.contains(&settings.kafka.dlq_topic), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_letter_topic_that_cannot_be_written_pauses_the_partitions_and_turns_not_ready_then_recovers(
) {
    let sale = Sale::new(1).await;
    sale.seed("FLASH-1", 100).await;
    let mut settings = sale.settings();
    settings.kafka.delivery_timeout_ms = 2_000;
    let consumer = crate::helpers::TestConsumer::spawn(settings).await;
    let before: Vec<_> = (0..3).map(|_| order("FLASH-1", 1)).collect();
    sale.publish(&before).await;
    assert_eq!(sale.wait_for_orders(3, Duration::from_secs(30)).await, 3);
    assert_eq!(consumer.ready_status().await, 200);

    testkit::kafka::delete_topic(&sale.kafka.dlq_topic).await;
    let after: Vec<_> = (0..50).map(|_| order("FLASH-1", 1)).collect();
    let mut records = vec![(Some("c-poison"), Some(b"{not json".as_slice()), None)];
    let payloads: Vec<Vec<u8>> = after.iter().map(|e| e.to_json()).collect();
    records.extend(
        payloads
            .iter()
            .map(|p| (Some("c-after"), Some(p.as_slice()), None)),
    );
    sale.publish_raw(records).await;

    assert!(
        crate::helpers::eventually(Duration::from_secs(20), || async {
            consumer.ready_status().await == 503
        })
        .await,
        "/readyz must turn 503 while dead letters cannot be written"
    );
    let body: serde_json::Value = consumer.get("/readyz").await.json().await.unwrap();
    assert!(
        body["reason"].as_str().unwrap().contains("dead-letter"),
        "{body}"
    );
    assert!(consumer.group.is_paused(), "fetching is paused meanwhile");

    testkit::kafka::recreate_topic(&sale.kafka.dlq_topic, 1).await;
    assert_eq!(
        sale.wait_for_orders(53, Duration::from_secs(60)).await,
        53,
        "the records behind the poison are applied once it is dead-lettered"
    );
    assert_eq!(testkit::kafka::total_end_offset(&sale.kafka.dlq_topic), 1);
    assert!(
        crate::helpers::eventually(Duration::from_secs(10), || async {
            consumer.ready_status().await == 200
        })
        .await,
        "ready again"
    );
    assert!(!consumer.group.is_paused(), "fetching resumed");
    consumer.stop().await.expect("clean stop");
}

#[tokio::test]
async fn a_poison_record_too_large_to_copy_with_its_headers_is_dead_lettered_without_its_value() {
    let sale = Sale::new(1).await;
    sale.seed("FLASH-1", 100).await;
    // Over the dead-letter producer's 1 000 000-byte message limit, under the broker's
    // 1 MiB: the broker took the record (from a producer allowed larger messages), and its
    // copy, headers added, can never be produced.
    let huge = vec![b'x'; 1_000_100];
    let next = order("FLASH-1", 1);
    let big_producer: rdkafka::producer::FutureProducer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", &sale.kafka.bootstrap_servers)
        .set("message.max.bytes", "1040000")
        .create()
        .expect("producer config is valid");
    big_producer
        .send(
            rdkafka::producer::FutureRecord::to(sale.topic())
                .key("c-huge")
                .payload(huge.as_slice()),
            Duration::from_secs(10),
        )
        .await
        .map_err(|(e, _)| e)
        .expect("the broker takes the large record");
    sale.publish(std::slice::from_ref(&next)).await;
    let consumer = sale.spawn_consumer().await;
    assert_eq!(
        sale.wait_for_orders(1, Duration::from_secs(40)).await,
        1,
        "the record after the oversized poison is applied"
    );
    let letters = testkit::kafka::read_all(&sale.kafka.dlq_topic, 1, Duration::from_secs(20));
    assert_eq!(letters.len(), 1);
    let letter = &letters[0];
    assert!(
        letter.payload().is_none(),
        "value of {} bytes kept",
        letter.payload().map_or(0, <[u8]>::len)
    );
    let headers = letter.headers().expect("dead letter headers");
    assert_eq!(
        common::trace_context::header_str(headers, consumer_svc::dlq::VALUE_OMITTED),
        Some("1000100")
    );
    assert_eq!(
        common::trace_context::header_str(headers, consumer_svc::dlq::ORIGINAL_OFFSET),
        Some("0")
    );
    consumer.stop().await.expect("clean stop");
}
