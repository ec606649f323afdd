//! The trace started by the HTTP request continues in the consumer.

use std::time::Duration;

use crate::helpers::{eventually, header, order, ConsumerProcess, Sale};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn processing_continues_the_trace_from_the_traceparent_header() {
    let sale = Sale::new(1).await;
    sale.seed("FLASH-1", 10).await;
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let event = order("FLASH-1", 1);
    let value = event.to_json();
    sale.publish_raw(vec![(
        Some(event.customer_id.as_str()),
        Some(value.as_slice()),
        Some(header(
            "traceparent",
            &format!("00-{trace_id}-00f067aa0ba902b7-01"),
        )),
    )])
    .await;

    let consumer =
        ConsumerProcess::start(&sale, &[("RUST_LOG", "info,consumer_svc::worker=debug")]).await;
    assert_eq!(sale.wait_for_orders(1, Duration::from_secs(30)).await, 1);
    let order_id = event.order_id.to_string();
    let found = eventually(Duration::from_secs(5), || {
        let logs = consumer.logs();
        let order_id = order_id.clone();
        async move {
            logs.iter().any(|line| {
                let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
                    return false;
                };
                v["message"] == "order processed" && v["order_id"] == order_id.as_str()
            })
        }
    })
    .await;
    let logs = consumer.logs();
    assert!(
        found,
        "no processing log line; output:\n{}",
        logs.join("\n")
    );
    let line = logs
        .iter()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v["message"] == "order processed")
        .unwrap();
    assert_eq!(line["span"], "process", "{line}");
    assert_eq!(line["trace_id"], trace_id, "{line}");
}
