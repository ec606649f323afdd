//! The lag reader against the real broker (`scripts/infra.sh up`).

use std::time::Duration;

use autoscaler::lag::LagReader;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

async fn produce(topic: &str, count: usize) {
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", testkit::kafka::bootstrap())
        .create()
        .expect("producer");
    for i in 0..count {
        let key = format!("c-{i}");
        producer
            .send(
                FutureRecord::to(topic).key(&key).payload("x"),
                Duration::from_secs(10),
            )
            .await
            .expect("delivered");
    }
}

#[tokio::test]
async fn lag_of_a_group_that_never_committed_is_everything_produced() {
    let topic = testkit::unique_name("lag");
    testkit::kafka::create_topic(&topic, 3).await;
    produce(&topic, 25).await;
    let settings = testkit::kafka::settings(&topic);
    let reader = LagReader::new(&settings).unwrap();
    assert_eq!(reader.partition_count().unwrap(), 3);
    let sample = reader.read().unwrap();
    assert_eq!(sample.total, 25);
    assert_eq!(sample.partitions.len(), 3);
    assert!(sample.partitions.iter().all(|p| p.committed.is_none()));
}

#[tokio::test]
async fn committed_offsets_reduce_the_lag() {
    let topic = testkit::unique_name("lag");
    testkit::kafka::create_topic(&topic, 2).await;
    produce(&topic, 20).await;
    let settings = testkit::kafka::settings(&topic);
    let reader = LagReader::new(&settings).unwrap();
    let before = reader.read().unwrap();
    assert_eq!(before.total, 20);

    // The group commits 3 records on partition 0 (without joining, like a manual commit).
    let committer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", testkit::kafka::bootstrap())
        .set("group.id", &settings.group_id)
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    let p0 = before.partitions.iter().find(|p| p.partition == 0).unwrap();
    let committed = 3.min(p0.high_watermark);
    let mut offsets = TopicPartitionList::new();
    offsets
        .add_partition_offset(&topic, 0, Offset::Offset(committed))
        .unwrap();
    committer.commit(&offsets, CommitMode::Sync).unwrap();

    let after = reader.read().unwrap();
    assert_eq!(after.total, 20 - committed);
    let p0 = after.partitions.iter().find(|p| p.partition == 0).unwrap();
    assert_eq!(p0.committed, Some(committed));
}

#[test]
fn a_missing_topic_is_an_error_not_zero_lag() {
    testkit::kafka::require_broker();
    let settings = testkit::kafka::settings(&testkit::unique_name("absent"));
    let reader = LagReader::new(&settings).unwrap();
    assert!(reader.read().is_err());
}
