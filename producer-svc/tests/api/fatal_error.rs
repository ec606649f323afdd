//! librdkafka's fatal error: the idempotent producer refuses every record from then on
//! (in production, e.g. the cluster denying the producer id), and only a new process
//! recovers. The error is raised through librdkafka's own test API on the app's real
//! client, which takes the same path as one the broker caused.

use std::ffi::CString;
use std::time::{Duration, Instant};

use rdkafka::bindings::{rd_kafka_resp_err_t, rd_kafka_test_fatal_error};

use crate::helpers::{assert_problem, order, spawn_app};

#[tokio::test]
async fn a_fatal_producer_error_fails_healthz_and_readyz_with_the_reason_so_the_process_is_restarted(
) {
    let app = spawn_app().await;
    app.wait_ready_status(200, Duration::from_secs(15)).await;
    assert_eq!(app.get("/healthz").await.status(), 200);

    let reason = CString::new("cluster authorization failed (test)").unwrap();
    // SAFETY: the handle belongs to the app's producer, alive as long as `app` is, and
    // `reason` outlives the call (librdkafka copies it).
    let raised = unsafe {
        rd_kafka_test_fatal_error(
            app.publisher.native_client(),
            rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED,
            reason.as_ptr(),
        )
    };
    assert_eq!(raised, rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR);

    let refused = app.post_order(&order("FLASH-1", 1, "c-fatal"), None).await;
    assert_problem(refused, 503).await;

    let deadline = Instant::now() + Duration::from_secs(10);
    let body = loop {
        let response = app.get("/healthz").await;
        if response.status() == 503 {
            break response.json::<serde_json::Value>().await.unwrap();
        }
        assert!(
            Instant::now() < deadline,
            "/healthz still {} after a fatal producer error",
            response.status()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(body["status"], "failed", "{body}");
    assert!(body["reason"].as_str().unwrap().contains("fatal"), "{body}");
    app.wait_ready_status(503, Duration::from_secs(5)).await;
}
