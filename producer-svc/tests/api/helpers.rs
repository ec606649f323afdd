use std::sync::OnceLock;
use std::time::{Duration, Instant};

use rdkafka::message::OwnedMessage;
use serde_json::Value;
use tokio::sync::oneshot;

use producer_svc::publisher::Publisher;
use producer_svc::{Application, Settings};

pub struct TestApp {
    pub address: String,
    pub topic: String,
    pub client: reqwest::Client,
    /// The app's producer, for tests that need its librdkafka handle.
    pub publisher: Publisher,
    stop: Option<oneshot::Sender<()>>,
}

/// Telemetry once per test binary: spans are needed for trace propagation; log lines
/// only when `TEST_LOG` is set.
fn init_telemetry() {
    static INIT: OnceLock<()> = OnceLock::new();
    INIT.get_or_init(|| {
        let log = common::settings::LogSettings {
            level: std::env::var("TEST_LOG").unwrap_or_else(|_| "off".to_owned()),
            ..Default::default()
        };
        let telemetry = common::telemetry::init("producer-svc-test", &log, &Default::default())
            .expect("telemetry init");
        std::mem::forget(telemetry);
    });
}

/// Settings for a test app: port 0, a fresh topic with `partitions` partitions.
pub async fn test_settings(partitions: i32) -> Settings {
    let topic = testkit::unique_name("orders");
    testkit::kafka::create_topic(&topic, partitions).await;
    let mut settings = Settings::default();
    settings.http = common::settings::HttpSettings {
        host: "127.0.0.1".to_owned(),
        port: 0,
        workers: 2,
        shutdown_timeout_secs: 15,
        ..Default::default()
    };
    settings.kafka = testkit::kafka::settings(&topic);
    settings.ingest.readiness_interval_ms = 200;
    settings
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(test_settings(3).await).await
}

pub async fn spawn_app_with(settings: Settings) -> TestApp {
    init_telemetry();
    let topic = settings.kafka.topic.clone();
    let application = Application::build(settings).await.expect("app builds");
    let address = format!("http://127.0.0.1:{}", application.port());
    let publisher = application.publisher();
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(application.run_until_stopped(async move {
        let _ = stopped.await;
    }));
    TestApp {
        address,
        topic,
        client: reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .expect("http client"),
        publisher,
        stop: Some(stop),
    }
}

impl TestApp {
    pub async fn post_order(
        &self,
        body: &Value,
        idempotency_key: Option<&str>,
    ) -> reqwest::Response {
        let mut request = self
            .client
            .post(format!("{}/v1/orders", self.address))
            .header("content-type", "application/json")
            .body(body.to_string());
        if let Some(key) = idempotency_key {
            request = request.header("Idempotency-Key", key);
        }
        request.send().await.expect("request sent")
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(format!("{}{path}", self.address))
            .send()
            .await
            .expect("request sent")
    }

    /// Waits until `/readyz` answers `want` (200 or 503), failing after `timeout`.
    pub async fn wait_ready_status(&self, want: u16, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            let status = self.get("/readyz").await.status().as_u16();
            if status == want {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "/readyz stayed {status}, expected {want} within {timeout:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Records on this app's topic, read back from the broker.
    pub fn records(&self, expected: usize) -> Vec<OwnedMessage> {
        testkit::kafka::read_all(&self.topic, expected, Duration::from_secs(20))
    }

    pub fn end_offset(&self) -> i64 {
        testkit::kafka::total_end_offset(&self.topic)
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

pub fn order(sku: &str, quantity: i64, customer: &str) -> Value {
    serde_json::json!({ "sku": sku, "quantity": quantity, "customer_id": customer })
}

/// Asserts an RFC 9457 body with the given status and returns it.
pub async fn assert_problem(response: reqwest::Response, status: u16) -> Value {
    assert_eq!(response.status().as_u16(), status, "status");
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert_eq!(content_type, "application/problem+json");
    let body: Value = response.json().await.expect("problem body is JSON");
    assert_eq!(body["status"], status, "{body}");
    assert!(
        body["type"].as_str().is_some_and(|t| !t.is_empty()),
        "{body}"
    );
    assert!(
        body["title"].as_str().is_some_and(|t| !t.is_empty()),
        "{body}"
    );
    assert!(
        body["detail"].as_str().is_some_and(|t| !t.is_empty()),
        "{body}"
    );
    body
}
