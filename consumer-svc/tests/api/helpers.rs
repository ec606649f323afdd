//! The test harness: a sale (topic + group + database), consumers in-process or as real
//! processes, publishing, and reading the results back.

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::future::join_all;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use sqlx::{PgPool, Row};
use time::OffsetDateTime;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use uuid::Uuid;

use common::settings::KafkaSettings;
use consumer_svc::group::GroupState;
use consumer_svc::store::Store;
use consumer_svc::{Application, Settings};
use order::OrderEvent;
use testkit::postgres::TestDatabase;

/// Tests that put a proxy on the broker's fault listener (a fixed address) take turns.
pub static FAULT_PROXY: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A record as published: key, value, headers.
pub type RawRecord<'a> = (Option<&'a str>, Option<&'a [u8]>, Option<OwnedHeaders>);

/// One flash sale under test: its own topic (and dead-letter topic), group and database.
pub struct Sale {
    pub kafka: KafkaSettings,
    pub db: TestDatabase,
    pub pool: PgPool,
    producer: FutureProducer,
}

impl Sale {
    /// A topic with `partitions` partitions, its dead-letter topic, and a migrated database.
    pub async fn new(partitions: i32) -> Self {
        let topic = testkit::unique_name("orders");
        let kafka = testkit::kafka::settings(&topic);
        testkit::kafka::create_topic(&kafka.topic, partitions).await;
        testkit::kafka::create_topic(&kafka.dlq_topic, 1).await;
        Self::with_topics(kafka).await
    }

    /// The same on the three-node cluster, every client logging in over SASL_SSL.
    pub async fn on_sasl_cluster(cluster: &testkit::sasl::SaslCluster, partitions: i32) -> Self {
        let topic = testkit::unique_name("orders");
        let mut kafka = testkit::kafka::settings(&topic);
        kafka.bootstrap_servers = cluster.bootstrap.clone();
        for (name, value) in cluster.client_properties() {
            kafka.properties.insert(name.to_owned(), value);
        }
        cluster.create_topic(&kafka.topic, partitions).await;
        cluster.create_topic(&kafka.dlq_topic, 1).await;
        Self::with_topics(kafka).await
    }

    async fn with_topics(mut kafka: KafkaSettings) -> Self {
        kafka.delivery_timeout_ms = 10_000;
        // Commit stored offsets often, so tests that read the group's offsets wait less.
        kafka
            .properties
            .insert("auto.commit.interval.ms".to_owned(), "200".to_owned());
        kafka
            .properties
            .insert("statistics.interval.ms".to_owned(), "0".to_owned());
        let db = TestDatabase::create().await;
        let pool = db.pool().await;
        consumer_svc::db::migrate(&pool)
            .await
            .expect("migrations apply to a fresh database");
        let producer = common::kafka::producer_config(&kafka)
            .create()
            .expect("producer config is valid");
        Self {
            kafka,
            db,
            pool,
            producer,
        }
    }

    pub fn topic(&self) -> &str {
        &self.kafka.topic
    }

    /// Settings for an in-process consumer: ephemeral port, small batches, fast retries.
    pub fn settings(&self) -> Settings {
        let mut settings = Settings::default();
        settings.http.host = "127.0.0.1".to_owned();
        settings.http.port = 0;
        settings.http.workers = 1;
        settings.http.shutdown_timeout_secs = 1;
        settings.kafka = self.kafka.clone();
        settings.database.url = self.db.url().to_owned();
        settings.database.acquire_timeout_ms = 1_000;
        settings.database.retry_initial_ms = 50;
        settings.database.retry_max_ms = 400;
        settings.database.health_interval_ms = 200;
        settings.consumer.batch_max_records = 50;
        settings.consumer.batch_max_wait_ms = 20;
        settings.consumer.lag_interval_ms = 300;
        settings
    }

    /// The same settings as environment variables, for the real binary.
    pub fn env(&self) -> Vec<(String, String)> {
        let s = self.settings();
        let mut env = vec![
            ("SURGE__HTTP__HOST", s.http.host),
            ("SURGE__HTTP__PORT", s.http.port.to_string()),
            ("SURGE__HTTP__WORKERS", s.http.workers.to_string()),
            (
                "SURGE__HTTP__SHUTDOWN_TIMEOUT_SECS",
                s.http.shutdown_timeout_secs.to_string(),
            ),
            ("SURGE__KAFKA__BOOTSTRAP_SERVERS", s.kafka.bootstrap_servers),
            ("SURGE__KAFKA__TOPIC", s.kafka.topic),
            ("SURGE__KAFKA__DLQ_TOPIC", s.kafka.dlq_topic),
            ("SURGE__KAFKA__GROUP_ID", s.kafka.group_id),
            (
                "SURGE__KAFKA__DELIVERY_TIMEOUT_MS",
                s.kafka.delivery_timeout_ms.to_string(),
            ),
            ("SURGE__DATABASE__URL", s.database.url),
            (
                "SURGE__DATABASE__ACQUIRE_TIMEOUT_MS",
                s.database.acquire_timeout_ms.to_string(),
            ),
            (
                "SURGE__DATABASE__RETRY_INITIAL_MS",
                s.database.retry_initial_ms.to_string(),
            ),
            (
                "SURGE__DATABASE__RETRY_MAX_MS",
                s.database.retry_max_ms.to_string(),
            ),
            (
                "SURGE__DATABASE__HEALTH_INTERVAL_MS",
                s.database.health_interval_ms.to_string(),
            ),
            (
                "SURGE__CONSUMER__BATCH_MAX_RECORDS",
                s.consumer.batch_max_records.to_string(),
            ),
            (
                "SURGE__CONSUMER__BATCH_MAX_WAIT_MS",
                s.consumer.batch_max_wait_ms.to_string(),
            ),
            (
                "SURGE__CONSUMER__LAG_INTERVAL_MS",
                s.consumer.lag_interval_ms.to_string(),
            ),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect::<Vec<_>>();
        // Client properties keep their librdkafka names (`auto.commit.interval.ms`);
        // the settings layer accepts them with underscores from the environment.
        env.extend(s.kafka.properties.into_iter().map(|(name, value)| {
            let name = name.replace('.', "_").to_uppercase();
            (format!("SURGE__KAFKA__PROPERTIES__{name}"), value)
        }));
        env
    }

    /// Puts `units` of `sku` on sale, the way `consumer-svc seed-stock` does.
    pub async fn seed(&self, sku: &str, units: i64) {
        Store::new(self.pool.clone())
            .seed_stock(sku, units)
            .await
            .expect("seed stock");
    }

    /// Starts a consumer in this process.
    pub async fn spawn_consumer(&self) -> TestConsumer {
        TestConsumer::spawn(self.settings()).await
    }

    /// Publishes `events` (key = customer id, like producer-svc) and waits for every ack.
    /// Returns (partition, offset) per event.
    pub async fn publish(&self, events: &[OrderEvent]) -> Vec<(i32, i64)> {
        let payloads: Vec<Vec<u8>> = events.iter().map(OrderEvent::to_json).collect();
        self.publish_raw(
            events
                .iter()
                .zip(&payloads)
                .map(|(e, p)| (Some(e.customer_id.as_str()), Some(p.as_slice()), None))
                .collect(),
        )
        .await
    }

    /// Publishes records as given: key, value, headers.
    pub async fn publish_raw(&self, records: Vec<RawRecord<'_>>) -> Vec<(i32, i64)> {
        let sends = records.into_iter().map(|(key, value, headers)| {
            let mut record: FutureRecord<'_, str, [u8]> = FutureRecord::to(&self.kafka.topic);
            if let Some(key) = key {
                record = record.key(key);
            }
            if let Some(value) = value {
                record = record.payload(value);
            }
            if let Some(headers) = headers {
                record = record.headers(headers);
            }
            self.producer.send(record, Duration::from_secs(10))
        });
        join_all(sends)
            .await
            .into_iter()
            .map(|r| {
                let delivery = r.map_err(|(e, _)| e).expect("record acknowledged");
                (delivery.partition, delivery.offset)
            })
            .collect()
    }

    pub async fn order_count(&self) -> i64 {
        sqlx::query_scalar("SELECT count(*) FROM orders")
            .fetch_one(&self.pool)
            .await
            .expect("count orders")
    }

    /// Waits until `orders` holds at least `n` rows; returns the count.
    pub async fn wait_for_orders(&self, n: i64, timeout: Duration) -> i64 {
        let deadline = Instant::now() + timeout;
        loop {
            let count = self.order_count().await;
            if count >= n || Instant::now() > deadline {
                return count;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Rows per (status, reason).
    pub async fn outcomes(&self) -> BTreeMap<(String, Option<String>), i64> {
        sqlx::query("SELECT status, reason, count(*) FROM orders GROUP BY status, reason")
            .fetch_all(&self.pool)
            .await
            .expect("outcomes")
            .into_iter()
            .map(|r| ((r.get(0), r.get(1)), r.get(2)))
            .collect()
    }

    pub async fn remaining(&self, sku: &str) -> i64 {
        sqlx::query_scalar("SELECT remaining FROM inventory WHERE sku = $1")
            .bind(sku)
            .fetch_one(&self.pool)
            .await
            .expect("inventory row")
    }

    /// Every row, every column, as text: for "nothing changed" comparisons.
    pub async fn snapshot(&self) -> Vec<String> {
        let mut rows = Vec::new();
        for query in [
            "SELECT o::text FROM orders o ORDER BY order_id",
            "SELECT i::text FROM inventory i ORDER BY sku",
        ] {
            let texts: Vec<String> = sqlx::query_scalar(query)
                .fetch_all(&self.pool)
                .await
                .expect("snapshot");
            rows.extend(texts);
        }
        rows
    }

    /// How many rows each order id has.
    pub async fn rows_per_order(&self) -> HashMap<Uuid, i64> {
        sqlx::query("SELECT order_id, count(*) FROM orders GROUP BY order_id")
            .fetch_all(&self.pool)
            .await
            .expect("rows per order")
            .into_iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect()
    }

    /// Rows per Kafka partition.
    pub async fn rows_per_partition(&self) -> BTreeMap<i32, i64> {
        sqlx::query("SELECT kafka_partition, count(*) FROM orders GROUP BY kafka_partition")
            .fetch_all(&self.pool)
            .await
            .expect("rows per partition")
            .into_iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect()
    }

    /// The offsets the group committed, per partition (absent: nothing committed).
    pub fn committed(&self, group: &str) -> BTreeMap<i32, i64> {
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", &self.kafka.bootstrap_servers)
            .set("group.id", group)
            .create()
            .expect("consumer config is valid");
        let metadata = consumer
            .fetch_metadata(Some(&self.kafka.topic), Duration::from_secs(10))
            .expect("metadata");
        let mut tpl = TopicPartitionList::new();
        for p in metadata.topics()[0].partitions() {
            tpl.add_partition(&self.kafka.topic, p.id());
        }
        consumer
            .committed_offsets(tpl, Duration::from_secs(10))
            .expect("committed offsets")
            .elements()
            .iter()
            .filter_map(|e| match e.offset() {
                Offset::Offset(o) => Some((e.partition(), o)),
                _ => None,
            })
            .collect()
    }

    /// Waits until `group` committed offsets summing to `total`.
    pub async fn wait_for_committed(&self, group: &str, total: i64, timeout: Duration) -> i64 {
        let deadline = Instant::now() + timeout;
        loop {
            let sum: i64 = self.committed(group).values().sum();
            if sum >= total || Instant::now() > deadline {
                return sum;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

/// An order for `sku` from a customer of its own (so orders spread over partitions).
pub fn order(sku: &str, quantity: u32) -> OrderEvent {
    OrderEvent {
        schema: order::SCHEMA_V1.to_owned(),
        order_id: Uuid::now_v7(),
        sku: sku.to_owned(),
        quantity,
        customer_id: format!("c-{}", Uuid::new_v4().simple()),
        accepted_at: OffsetDateTime::now_utc(),
    }
}

pub fn orders(sku: &str, n: usize) -> Vec<OrderEvent> {
    (0..n).map(|_| order(sku, 1)).collect()
}

pub fn header(key: &str, value: &str) -> OwnedHeaders {
    OwnedHeaders::new().insert(Header {
        key,
        value: Some(value.as_bytes()),
    })
}

/// Polls `check` until it returns true or `timeout` passes; returns the last result.
pub async fn eventually<F, Fut>(timeout: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if check().await {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A consumer replica running in this process.
pub struct TestConsumer {
    pub address: String,
    pub group: Arc<GroupState>,
    pub client: reqwest::Client,
    shutdown: Option<oneshot::Sender<()>>,
    handle: Option<JoinHandle<anyhow::Result<()>>>,
}

impl TestConsumer {
    pub async fn spawn(settings: Settings) -> Self {
        let application = Application::build(settings)
            .await
            .expect("application builds");
        let address = format!("http://127.0.0.1:{}", application.port());
        let group = application.group();
        let (shutdown, stopped) = oneshot::channel::<()>();
        let handle = tokio::spawn(application.run_until_stopped(async move {
            let _ = stopped.await;
        }));
        Self {
            address,
            group,
            client: reqwest::Client::new(),
            shutdown: Some(shutdown),
            handle: Some(handle),
        }
    }

    pub fn assignment(&self) -> Vec<i32> {
        self.group.assignment()
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(format!("{}{path}", self.address))
            .send()
            .await
            .expect("request sent")
    }

    pub async fn ready_status(&self) -> u16 {
        self.get("/readyz").await.status().as_u16()
    }

    /// Graceful stop, as on SIGTERM; returns what `run_until_stopped` returned.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        match self.handle.take() {
            Some(handle) => handle.await.expect("application task"),
            None => Ok(()),
        }
    }
}

impl Drop for TestConsumer {
    fn drop(&mut self) {
        // A test that failed half-way still stops its consumer.
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }
}

/// Waits until `consumers` together own all `partitions` partitions, each at least one.
pub async fn wait_for_assignment(consumers: &[&TestConsumer], partitions: usize) {
    let balanced = eventually(Duration::from_secs(30), || async {
        let sizes: Vec<usize> = consumers.iter().map(|c| c.assignment().len()).collect();
        sizes.iter().all(|&n| n > 0) && sizes.iter().sum::<usize>() == partitions
    })
    .await;
    let sizes: Vec<usize> = consumers.iter().map(|c| c.assignment().len()).collect();
    assert!(
        balanced,
        "partitions never spread over all consumers: {sizes:?}"
    );
}

/// The real `consumer-svc` binary, for tests where a process must die.
pub struct ConsumerProcess {
    child: Child,
    pub port: u16,
    logs: Arc<Mutex<Vec<String>>>,
    client: reqwest::Client,
}

impl ConsumerProcess {
    /// Starts the binary with the sale's settings plus `extra` variables and waits until
    /// it listens.
    pub async fn start(sale: &Sale, extra: &[(&str, &str)]) -> Self {
        let mut command = Command::new(env!("CARGO_BIN_EXE_consumer-svc"));
        for (key, _) in std::env::vars() {
            if key.starts_with("SURGE") || key == "RUST_LOG" {
                command.env_remove(key);
            }
        }
        command
            .env("SURGE_CONFIG_DIR", "/nonexistent-surge-config")
            .env("RUST_LOG", "info")
            .envs(sale.env())
            .envs(extra.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command.spawn().expect("consumer-svc starts");
        let logs = Arc::new(Mutex::new(Vec::new()));
        let (port_tx, port_rx) = std::sync::mpsc::channel();
        let stdout = child.stdout.take().expect("stdout piped");
        let stderr = child.stderr.take().expect("stderr piped");
        {
            let logs = Arc::clone(&logs);
            std::thread::spawn(move || {
                for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                    if line.contains("consumer-svc listening") {
                        let port = serde_json::from_str::<serde_json::Value>(&line)
                            .ok()
                            .and_then(|v| v["port"].as_u64());
                        let _ = port_tx.send(port);
                    }
                    logs.lock().unwrap().push(line);
                }
            });
        }
        {
            let logs = Arc::clone(&logs);
            std::thread::spawn(move || {
                for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                    logs.lock().unwrap().push(line);
                }
            });
        }
        let port =
            tokio::task::spawn_blocking(move || port_rx.recv_timeout(Duration::from_secs(30)))
                .await
                .expect("waiting for the port");
        let port = match port {
            Ok(Some(port)) => port as u16,
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "consumer-svc did not report its port; output:\n{}",
                    logs.lock().unwrap().join("\n")
                );
            }
        };
        Self {
            child,
            port,
            logs,
            client: reqwest::Client::new(),
        }
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    pub fn logs(&self) -> Vec<String> {
        self.logs.lock().unwrap().clone()
    }

    pub async fn metrics(&self) -> String {
        self.client
            .get(format!("http://127.0.0.1:{}/metrics", self.port))
            .send()
            .await
            .expect("metrics request")
            .text()
            .await
            .expect("metrics body")
    }

    /// The value of one series in this process's `/metrics` (0 when absent).
    pub async fn metric(&self, series: &str) -> f64 {
        metric_value(&self.metrics().await, series)
    }

    pub fn sigterm(&self) {
        // SAFETY: kill(2) with a pid this test started and still owns.
        let rc = unsafe { libc::kill(self.pid(), libc::SIGTERM) };
        assert_eq!(rc, 0, "SIGTERM delivered");
    }

    pub fn sigkill(&mut self) {
        self.child.kill().expect("SIGKILL delivered");
        let _ = self.child.wait();
    }

    /// Waits for the process to exit.
    pub async fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!(
                    "consumer-svc did not exit within {timeout:?}; output:\n{}",
                    self.logs().join("\n")
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for ConsumerProcess {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Reads one series (`name{labels}` exactly as rendered, or a bare name) from a
/// Prometheus exposition.
pub fn metric_value(exposition: &str, series: &str) -> f64 {
    metric_series(exposition, series).unwrap_or(0.0)
}

/// Like [`metric_value`], but `None` when the series is not exposed at all.
pub fn metric_series(exposition: &str, series: &str) -> Option<f64> {
    exposition
        .lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|l| {
            let (name, value) = l.rsplit_once(' ')?;
            (name == series).then(|| value.parse().ok()).flatten()
        })
}
