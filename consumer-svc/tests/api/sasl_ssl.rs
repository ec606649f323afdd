//! SASL_SSL with SCRAM-SHA-512 on the three-node cluster, through the real binary with its
//! Kafka and database credentials in the environment, the way a Deployment passes them
//! from a Secret.

use std::time::{Duration, Instant};

use serde_json::Value;
use testkit::sasl::SaslCluster;

use crate::helpers::{orders, ConsumerProcess, Sale};

async fn readyz(process: &ConsumerProcess) -> (u16, Value) {
    let response = reqwest::get(format!("http://127.0.0.1:{}/readyz", process.port))
        .await
        .expect("readyz request");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Neither the log nor `/metrics` may contain `secret`.
async fn assert_never_shown(process: &ConsumerProcess, secret: &str) {
    assert!(
        !process.metrics().await.contains(secret),
        "a secret is in /metrics"
    );
    let logs = process.logs();
    assert!(!logs.is_empty(), "the process logged nothing");
    let leaks: Vec<&String> = logs.iter().filter(|l| l.contains(secret)).collect();
    assert!(leaks.is_empty(), "a secret is in the log: {leaks:?}");
}

#[tokio::test]
async fn consumes_over_sasl_ssl_and_never_shows_the_kafka_or_database_password() {
    let cluster = SaslCluster::from_env();
    let sale = Sale::on_sasl_cluster(&cluster, 3).await;
    sale.seed("FLASH-1", 10).await;
    let (database_url, database_password) = sale.db.url_with_new_role().await;
    let process = ConsumerProcess::start(
        &sale,
        &[
            ("SURGE__DATABASE__URL", database_url.as_str()),
            ("SURGE__DATABASE__MIGRATE_ON_START", "false"),
        ],
    )
    .await;

    sale.publish(&orders("FLASH-1", 5)).await;
    assert_eq!(sale.wait_for_orders(5, Duration::from_secs(60)).await, 5);
    assert_eq!(sale.remaining("FLASH-1").await, 5);
    let (status, body) = readyz(&process).await;
    assert_eq!(status, 200, "{body}");

    assert_never_shown(&process, &cluster.password).await;
    assert_never_shown(&process, &database_password).await;
}

#[tokio::test]
async fn a_wrong_password_is_a_clear_error_at_start_and_readyz_503_naming_it() {
    let cluster = SaslCluster::from_env();
    let sale = Sale::on_sasl_cluster(&cluster, 1).await;
    sale.seed("FLASH-1", 10).await;
    sale.publish(&orders("FLASH-1", 2)).await;
    let wrong = format!("not-{}", uuid::Uuid::new_v4().simple());
    let process = ConsumerProcess::start(
        &sale,
        &[("SURGE__KAFKA__PROPERTIES__SASL_PASSWORD", wrong.as_str())],
    )
    .await;

    let deadline = Instant::now() + Duration::from_secs(30);
    let body = loop {
        let (status, body) = readyz(&process).await;
        let reason = body["reason"].as_str().unwrap_or_default();
        if status == 503 && reason.contains("credentials") {
            break body;
        }
        assert!(
            Instant::now() < deadline,
            "readyz {status} {body} 30 s after a start with a wrong password"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(
        body["reason"].as_str().unwrap().contains("SCRAM-SHA-512"),
        "{body}"
    );

    let logs = process.logs();
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
    assert_eq!(sale.order_count().await, 0, "nothing was processed");
    assert_never_shown(&process, &wrong).await;
}
