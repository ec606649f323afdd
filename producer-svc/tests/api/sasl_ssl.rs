//! SASL_SSL with SCRAM-SHA-512 on the three-node cluster, through the real binary with its
//! credentials in the environment, the way a Deployment passes them from a Secret.

use std::time::{Duration, Instant};

use rdkafka::Message;
use serde_json::Value;
use testkit::sasl::SaslCluster;

use crate::binary::{launch, start, Running};

async fn get(running: &Running, path: &str) -> reqwest::Response {
    reqwest::get(format!("http://127.0.0.1:{}{path}", running.port))
        .await
        .expect("request")
}

/// `/readyz` once it reports `status`, within `timeout`.
async fn readyz_when(running: &Running, status: u16, timeout: Duration) -> Value {
    let deadline = Instant::now() + timeout;
    loop {
        let response = get(running, "/readyz").await;
        if response.status() == status {
            return response.json().await.expect("readyz body");
        }
        assert!(
            Instant::now() < deadline,
            "/readyz still {} after {timeout:?}: {}",
            response.status(),
            response.text().await.unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Neither the log nor `/metrics` may contain `secret`.
async fn assert_never_shown(running: &Running, secret: &str) {
    let metrics = get(running, "/metrics").await.text().await.unwrap();
    assert!(!metrics.contains(secret), "a secret is in /metrics");
    let logs = running.logs();
    assert!(!logs.is_empty(), "the process logged nothing");
    let leaks: Vec<&String> = logs.iter().filter(|l| l.contains(secret)).collect();
    assert!(leaks.is_empty(), "a secret is in the log: {leaks:?}");
}

fn env_refs(env: &[(String, String)]) -> Vec<(&str, &str)> {
    env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}

#[tokio::test]
async fn publishes_over_sasl_ssl_with_scram_credentials_and_never_shows_the_password() {
    let cluster = SaslCluster::from_env();
    let topic = testkit::unique_name("sasl-orders");
    cluster.create_topic(&topic, 3).await;
    let env = cluster.service_env(&cluster.password);
    let running = start(&topic, &env_refs(&env)).await;
    readyz_when(&running, 200, Duration::from_secs(30)).await;

    let response = reqwest::Client::new()
        .post(format!("http://127.0.0.1:{}/v1/orders", running.port))
        .json(&serde_json::json!({"sku": "FLASH-1", "quantity": 1, "customer_id": "c-sasl"}))
        .send()
        .await
        .expect("POST");
    assert_eq!(response.status(), 202);
    let accepted: Value = response.json().await.unwrap();
    let records = cluster.read_all(&topic, 1, Duration::from_secs(20));
    assert_eq!(records.len(), 1, "the accepted order is on the topic");
    let value: Value = serde_json::from_slice(records[0].payload().unwrap()).unwrap();
    assert_eq!(value["order_id"], accepted["order_id"]);

    assert_never_shown(&running, &cluster.password).await;
}

#[tokio::test]
async fn a_wrong_password_is_a_clear_error_at_start_and_readyz_503_naming_it() {
    let cluster = SaslCluster::from_env();
    let topic = testkit::unique_name("sasl-orders");
    cluster.create_topic(&topic, 1).await;
    let wrong = format!("not-{}", uuid::Uuid::new_v4().simple());
    let env = cluster.service_env(&wrong);
    let running = launch(&topic, &env_refs(&env)).await;

    let body = readyz_when(&running, 503, Duration::from_secs(10)).await;
    // Wait for the reason to name the cause, not only "broker transport failure".
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut reason = body["reason"].as_str().unwrap_or_default().to_owned();
    while !reason.contains("credentials") && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
        reason = readyz_when(&running, 503, Duration::from_secs(5)).await["reason"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
    }
    assert!(
        reason.contains("credentials") && reason.contains("SCRAM-SHA-512"),
        "{reason}"
    );

    let refused = reqwest::Client::new()
        .post(format!("http://127.0.0.1:{}/v1/orders", running.port))
        .json(&serde_json::json!({"sku": "FLASH-1", "quantity": 1, "customer_id": "c-sasl"}))
        .send()
        .await
        .expect("POST");
    assert_eq!(refused.status(), 503, "no 202 without the broker's ack");

    let logs = running.logs();
    let errors: Vec<&String> = logs
        .iter()
        .filter(|l| l.contains("\"ERROR\"") && l.contains("refused this client's credentials"))
        .collect();
    assert_eq!(
        errors.len(),
        1,
        "one clear error, not one per retry: {logs:#?}"
    );
    assert!(errors[0].contains("sasl.password"), "says what to check");
    assert_never_shown(&running, &wrong).await;
    assert_eq!(
        cluster.read_all(&topic, 1, Duration::from_secs(2)).len(),
        0,
        "nothing was published"
    );
}
