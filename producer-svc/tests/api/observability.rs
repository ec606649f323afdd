use std::time::Duration;

use serde_json::Value;

use crate::helpers::{assert_problem, order, spawn_app, spawn_app_with, test_settings};

#[tokio::test]
async fn healthz_is_200_and_readyz_turns_200_once_the_broker_answers() {
    let app = spawn_app().await;
    assert_eq!(app.get("/healthz").await.status().as_u16(), 200);
    app.wait_ready_status(200, Duration::from_secs(10)).await;
}

#[tokio::test]
async fn metrics_expose_request_durations_outcomes_and_producer_queue() {
    let app = spawn_app().await;
    assert_eq!(
        app.post_order(&order("FLASH-1", 1, "c"), None)
            .await
            .status(),
        202
    );
    assert_eq!(
        app.post_order(&order("FLASH-1", 0, "c"), None)
            .await
            .status(),
        422
    );
    let response = app.get("/metrics").await;
    assert_eq!(response.status().as_u16(), 200);
    let text = response.text().await.unwrap();
    for needle in [
        "http_server_request_duration_seconds_bucket{method=\"POST\",route=\"/v1/orders\",status=\"202\"",
        "http_server_request_duration_seconds_bucket{method=\"POST\",route=\"/v1/orders\",status=\"422\"",
        "surge_orders_accepted_total ",
        "surge_orders_rejected_total{reason=\"invalid_order\"}",
        "surge_producer_delivery_seconds_bucket",
        "surge_producer_queue_messages ",
        "surge_producer_in_flight_orders ",
    ] {
        assert!(text.contains(needle), "missing {needle} in:\n{text}");
    }
}

#[tokio::test]
async fn metrics_carry_the_process_cpu_time_and_resident_memory_the_recommender_reads() {
    let app = spawn_app().await;
    let text = app.get("/metrics").await.text().await.unwrap();
    for series in ["process_cpu_seconds_total", "process_resident_memory_bytes"] {
        let value = text
            .lines()
            .find(|l| l.starts_with(&format!("{series} ")))
            .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
            .unwrap_or_else(|| panic!("no {series} in:\n{text}"));
        assert!(value > 0.0, "{series} {value}");
    }
}

#[tokio::test]
async fn unknown_paths_do_not_create_new_metric_series() {
    let app = spawn_app().await;
    for i in 0..5 {
        app.get(&format!("/probe-{i}")).await;
    }
    let text = app.get("/metrics").await.text().await.unwrap();
    assert!(!text.contains("probe-"), "raw paths leaked into labels");
    assert!(text.contains("route=\"unmatched\""));
}

#[tokio::test]
async fn openapi_documents_the_order_endpoint_and_its_answers() {
    let app = spawn_app().await;
    let spec: Value = app.get("/openapi.json").await.json().await.unwrap();
    assert!(spec["openapi"].as_str().unwrap().starts_with("3."));
    let responses = &spec["paths"]["/v1/orders"]["post"]["responses"];
    for status in ["202", "400", "413", "415", "422", "429", "503"] {
        assert!(
            responses.get(status).is_some(),
            "no {status} in {responses}"
        );
    }
    let schema = &spec["components"]["schemas"]["OrderRequest"];
    assert_eq!(
        schema["required"],
        serde_json::json!(["sku", "quantity", "customer_id"])
    );
    assert!(spec["paths"]["/readyz"]["get"].is_object());
}

#[tokio::test]
async fn an_order_for_a_missing_topic_is_503_with_retry_after_never_2xx() {
    let mut settings = test_settings(1).await;
    settings.kafka.topic = testkit::unique_name("absent");
    settings.kafka.delivery_timeout_ms = 2000;
    let app = spawn_app_with(settings).await;
    app.wait_ready_status(503, Duration::from_secs(5)).await;
    let response = app.post_order(&order("FLASH-1", 1, "c"), None).await;
    assert!(response.headers().contains_key("retry-after"));
    assert_problem(response, 503).await;
}
