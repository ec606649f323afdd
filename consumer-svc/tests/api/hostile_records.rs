//! Records written straight to the topic by someone other than producer-svc: nil and
//! max UUIDs, another customer's order id, accepted_at at and past the edges of time,
//! duplicate JSON keys, a value near 1 MB, thousands of headers. Each is processed or
//! dead-lettered with a reason, the partition never stalls, and a valid record after
//! them is confirmed.

use std::collections::HashMap;
use std::time::Duration;

use rdkafka::message::{Header, Headers, OwnedHeaders};
use rdkafka::Message;
use uuid::Uuid;

use crate::helpers::{order, Sale};

fn event_json(order_id: &str, customer: &str, quantity: u32, accepted_at: &str) -> Vec<u8> {
    format!(
        r#"{{"schema":"order.v1","order_id":"{order_id}","sku":"FLASH-1","quantity":{quantity},"customer_id":"{customer}","accepted_at":"{accepted_at}"}}"#
    )
    .into_bytes()
}

fn many_headers(n: usize) -> OwnedHeaders {
    let values: Vec<String> = (0..n).map(|i| format!("v{i}")).collect();
    let mut headers = OwnedHeaders::new_with_capacity(n);
    for (i, value) in values.iter().enumerate() {
        headers = headers.insert(Header {
            key: if i % 2 == 0 { "x-even" } else { "x-odd" },
            value: Some(value.as_bytes()),
        });
    }
    headers
}

/// What the record is, its value and headers, and what must become of it: `Ok(())` an
/// order row (or, for a reused id, nothing), `Err(kind)` a dead letter of that kind.
type Hostile<'a> = (&'a str, Vec<u8>, Option<OwnedHeaders>, Result<(), &'a str>);

#[tokio::test]
async fn hostile_records_are_processed_or_dead_lettered_with_a_reason_and_never_stall_the_partition(
) {
    let sale = Sale::new(1).await;
    sale.seed("FLASH-1", 100).await;
    let first = order("FLASH-1", 1);
    let stolen_id = first.order_id.to_string();
    let now = "2026-12-01T00:00:00Z";
    let fresh = || Uuid::now_v7().to_string();

    let near_1_mb_invalid = event_json(&fresh(), &"x".repeat(990_000), 1, now);
    let mut near_1_mb_valid = event_json(&fresh(), "c-padded", 1, now);
    near_1_mb_valid.pop();
    near_1_mb_valid.extend(std::iter::repeat_n(b' ', 990_000));
    near_1_mb_valid.push(b'}');
    let last = order("FLASH-1", 1);

    let records: Vec<Hostile> = vec![
        ("a valid order", first.to_json(), None, Ok(())),
        ("nil order_id", event_json(&Uuid::nil().to_string(), "c-nil", 1, now), None, Err("invalid_field")),
        ("max order_id", event_json(&Uuid::max().to_string(), "c-max", 1, now), None, Err("invalid_field")),
        // Same order id, another customer, more units: not an order of its own.
        ("another customer's order_id", event_json(&stolen_id, "c-thief", 5, now), None, Ok(())),
        ("accepted_at in year 9999", event_json(&fresh(), "c-9999", 1, "9999-12-31T23:59:59Z"), None, Ok(())),
        ("accepted_at in year 0000", event_json(&fresh(), "c-0000", 1, "0000-01-01T00:00:00Z"), None, Ok(())),
        ("accepted_at past 9999 in UTC", event_json(&fresh(), "c-10000", 1, "9999-12-31T23:59:59-23:59"), None, Err("invalid_field")),
        ("negative year", event_json(&fresh(), "c-neg", 1, "-0001-01-01T00:00:00Z"), None, Err("undecodable")),
        ("accepted_at not RFC 3339", event_json(&fresh(), "c-date", 1, "2026-12-01 00:00:00"), None, Err("undecodable")),
        ("accepted_at as epoch seconds", format!(r#"{{"schema":"order.v1","order_id":"{}","sku":"FLASH-1","quantity":1,"customer_id":"c-epoch","accepted_at":1767225600}}"#, fresh()).into_bytes(), None, Err("undecodable")),
        ("duplicate JSON keys", format!(r#"{{"schema":"order.v1","order_id":"{}","sku":"FLASH-1","quantity":1,"quantity":100,"customer_id":"c-dup","accepted_at":"{now}"}}"#, fresh()).into_bytes(), None, Err("undecodable")),
        ("duplicate schema key", format!(r#"{{"schema":"order.v1","schema":"order.v2","order_id":"{}","sku":"FLASH-1","quantity":1,"customer_id":"c-dup2","accepted_at":"{now}"}}"#, fresh()).into_bytes(), None, Err("undecodable")),
        ("value near 1 MB, invalid", near_1_mb_invalid, None, Err("invalid_field")),
        ("value near 1 MB, a valid order", near_1_mb_valid, None, Ok(())),
        ("valid order with 5000 headers", event_json(&fresh(), "c-headers", 1, now), Some(many_headers(5000)), Ok(())),
        ("poison with 5000 headers", b"{not json".to_vec(), Some(many_headers(5000)), Err("undecodable")),
        ("a valid order after all of them", last.to_json(), None, Ok(())),
    ];
    let published = sale
        .publish_raw(
            records
                .iter()
                .map(|(_, value, headers, _)| {
                    (Some("c-hostile"), Some(value.as_slice()), headers.clone())
                })
                .collect(),
        )
        .await;
    let total = records.len() as i64;
    let rows_expected = records.iter().filter(|r| r.3.is_ok()).count() as i64 - 1; // the stolen id adds none
    let letters_expected = records.iter().filter(|r| r.3.is_err()).count();

    let consumer = sale.spawn_consumer().await;
    let group = sale.kafka.group_id.clone();
    assert_eq!(
        sale.wait_for_committed(&group, total, Duration::from_secs(60))
            .await,
        total,
        "the partition's committed offset moved past every hostile record"
    );
    assert_eq!(
        sale.order_count().await,
        rows_expected,
        "one row per valid order"
    );
    let row = sqlx::query_as::<_, (String, i32, String)>(
        "SELECT customer_id, quantity, status FROM orders WHERE order_id = $1",
    )
    .bind(first.order_id)
    .fetch_one(&sale.pool)
    .await
    .expect("the first order's row");
    assert_eq!(
        row,
        (first.customer_id.clone(), 1, "confirmed".to_owned()),
        "the first record with an order id wins; a second customer's copy changes nothing"
    );
    assert_eq!(
        sale.remaining("FLASH-1").await,
        100 - rows_expected,
        "stock taken once per row, never for the copy with the stolen id"
    );
    let last_row: (String,) = sqlx::query_as("SELECT status FROM orders WHERE order_id = $1")
        .bind(last.order_id)
        .fetch_one(&sale.pool)
        .await
        .expect("the last order's row");
    assert_eq!(last_row.0, "confirmed");

    let letters = testkit::kafka::read_all(
        &sale.kafka.dlq_topic,
        letters_expected,
        Duration::from_secs(20),
    );
    assert_eq!(
        letters.len(),
        letters_expected,
        "one dead letter per hostile record that is no order"
    );
    let by_offset: HashMap<i64, _> = letters
        .iter()
        .map(|m| {
            let h = m.headers().expect("dead letters carry headers");
            let offset = common::trace_context::header_str(h, consumer_svc::dlq::ORIGINAL_OFFSET)
                .and_then(|o| o.parse().ok())
                .expect("original offset");
            (offset, m)
        })
        .collect();
    for ((what, value, headers, expected), (_, offset)) in records.iter().zip(&published) {
        let Err(kind) = expected else { continue };
        let letter = by_offset
            .get(offset)
            .unwrap_or_else(|| panic!("{what}: no dead letter for offset {offset}"));
        let h = letter.headers().unwrap();
        assert_eq!(
            common::trace_context::header_str(h, consumer_svc::dlq::ERROR_KIND),
            Some(*kind),
            "{what}"
        );
        assert!(
            common::trace_context::header_str(h, consumer_svc::dlq::ERROR_MESSAGE)
                .is_some_and(|m| !m.is_empty() && m.len() <= 1024),
            "{what}: a short reason"
        );
        assert_eq!(
            letter.payload(),
            Some(value.as_slice()),
            "{what}: value kept"
        );
        let original_headers = headers.as_ref().map_or(0, |h| h.count());
        assert_eq!(
            h.count(),
            original_headers + 5,
            "{what}: original headers kept, five added"
        );
    }
    assert_eq!(consumer.ready_status().await, 200, "still ready");
    consumer.stop().await.expect("clean stop");
}
