//! The real Kafka broker the tests use.

use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::OwnedMessage;
use rdkafka::{ClientConfig, Message, TopicPartitionList};

use common::settings::KafkaSettings;

/// Bootstrap address of the shared test broker (`SURGE_TEST_KAFKA_BOOTSTRAP`, default
/// the services' own default).
pub fn bootstrap() -> String {
    std::env::var("SURGE_TEST_KAFKA_BOOTSTRAP")
        .unwrap_or_else(|_| KafkaSettings::default().bootstrap_servers)
}

/// The broker's fault-injection listener (plain address, no proxy) and the address it
/// advertises, where a test's [`crate::proxy::TcpProxy`] must listen. See
/// `scripts/infra/kafka/server.properties.in`.
pub const FAULT_LISTENER: &str = "127.0.0.1:9094";
pub const FAULT_ADVERTISED: &str = "127.0.0.1:19094";

/// Kafka settings pointing at the test broker and a topic of the caller's.
pub fn settings(topic: &str) -> KafkaSettings {
    KafkaSettings {
        bootstrap_servers: bootstrap(),
        topic: topic.to_owned(),
        dlq_topic: format!("{topic}.dlq"),
        group_id: crate::unique_name("group"),
        ..KafkaSettings::default()
    }
}

fn admin(bootstrap: &str) -> AdminClient<DefaultClientContext> {
    ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .expect("admin client config is valid")
}

/// Fails the test with instructions when the broker does not answer.
pub fn require_broker() {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap())
        .create()
        .expect("consumer config is valid");
    if let Err(error) = consumer.fetch_metadata(None, Duration::from_secs(10)) {
        panic!(
            "no Kafka broker answers at {} ({error}). Start the local infrastructure with \
             `scripts/infra.sh up` (or set SURGE_TEST_KAFKA_BOOTSTRAP).",
            bootstrap()
        );
    }
}

/// Creates a fresh topic and waits until its metadata is visible.
pub async fn create_topic(name: &str, partitions: i32) {
    require_broker();
    create_topic_at(&bootstrap(), name, partitions, 1).await;
}

/// Creates a fresh topic with `replication` replicas on the cluster at `bootstrap`.
pub async fn create_topic_at(bootstrap: &str, name: &str, partitions: i32, replication: i32) {
    for result in request_topic(bootstrap, name, partitions, replication).await {
        if let Err((topic, code)) = result {
            panic!("could not create topic {topic} at {bootstrap}: {code}");
        }
    }
    wait_for_topic(bootstrap, name, partitions);
}

async fn request_topic(
    bootstrap: &str,
    name: &str,
    partitions: i32,
    replication: i32,
) -> Vec<rdkafka::admin::TopicResult> {
    let topic = NewTopic::new(name, partitions, TopicReplication::Fixed(replication));
    admin(bootstrap)
        .create_topics(
            [&topic],
            &AdminOptions::new().operation_timeout(Some(Duration::from_secs(10))),
        )
        .await
        .expect("create_topics request")
}

/// Deletes a topic (the broker finishes the deletion in the background).
pub async fn delete_topic(name: &str) {
    let results = admin(&bootstrap())
        .delete_topics(
            &[name],
            &AdminOptions::new().operation_timeout(Some(Duration::from_secs(10))),
        )
        .await
        .expect("delete_topics request");
    for result in results {
        if let Err((topic, code)) = result {
            panic!("could not delete topic {topic}: {code}");
        }
    }
}

/// Creates a topic again after [`delete_topic`], retrying while the broker still finishes
/// the deletion.
pub async fn recreate_topic(name: &str, partitions: i32) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let results = request_topic(&bootstrap(), name, partitions, 1).await;
        if results.iter().all(Result::is_ok) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "topic {name} could not be created again: {results:?}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    wait_for_topic(&bootstrap(), name, partitions);
}

fn wait_for_topic(bootstrap: &str, name: &str, partitions: i32) {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .expect("consumer config is valid");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(md) = consumer.fetch_metadata(Some(name), Duration::from_secs(5)) {
            let ready = md.topics().iter().any(|t| {
                t.name() == name
                    && t.error().is_none()
                    && t.partitions().len() == partitions as usize
                    && t.partitions().iter().all(|p| p.leader() >= 0)
            });
            if ready {
                return;
            }
        }
        assert!(Instant::now() < deadline, "topic {name} never became ready");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Sum of the high watermarks of all partitions of `topic`: how many records it holds.
pub fn total_end_offset(topic: &str) -> i64 {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap())
        .create()
        .expect("consumer config is valid");
    let md = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .expect("topic metadata");
    md.topics()[0]
        .partitions()
        .iter()
        .map(|p| {
            consumer
                .fetch_watermarks(topic, p.id(), Duration::from_secs(10))
                .expect("watermarks")
                .1
        })
        .sum()
}

/// Reads every record of `topic` from the beginning until `expected` were seen or
/// `timeout` passed. Read-committed, like a production consumer.
pub fn read_all(topic: &str, expected: usize, timeout: Duration) -> Vec<OwnedMessage> {
    read_all_at(&bootstrap(), topic, expected, timeout)
}

/// [`read_all`] from the cluster at `bootstrap`.
pub fn read_all_at(
    bootstrap: &str,
    topic: &str,
    expected: usize,
    timeout: Duration,
) -> Vec<OwnedMessage> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", crate::unique_name("reader"))
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .set("isolation.level", "read_committed")
        .create()
        .expect("consumer config is valid");
    let md = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .expect("topic metadata");
    let mut assignment = TopicPartitionList::new();
    for p in md.topics()[0].partitions() {
        assignment
            .add_partition_offset(topic, p.id(), rdkafka::Offset::Beginning)
            .expect("partition offset");
    }
    consumer.assign(&assignment).expect("assign");
    let deadline = Instant::now() + timeout;
    let mut records = Vec::new();
    while records.len() < expected && Instant::now() < deadline {
        if let Some(result) = consumer.poll(Duration::from_millis(200)) {
            let message = result.expect("consume");
            records.push(message.detach());
        }
    }
    records.sort_by_key(|m| (m.partition(), m.offset()));
    records
}
