//! The lag reader against the real broker: a fresh topic, records produced to chosen
//! partitions, offsets committed for a group that has no running consumer (as when every
//! replica is down).

use std::time::Duration;

use common::settings::KafkaSettings;
use kafka_lag::{LagError, LagReader, TopicLag, Watermarks};
use rdkafka::admin::{AdminClient, AdminOptions};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};

const TIMEOUT: Duration = Duration::from_secs(10);

/// Records produced per partition.
const PRODUCED: [i64; 3] = [5, 3, 4];

/// A fresh topic holding `PRODUCED` records and the settings naming it and a fresh group.
async fn topic_with_records() -> KafkaSettings {
    let kafka = testkit::kafka::settings(&testkit::unique_name("lag"));
    testkit::kafka::create_topic(&kafka.topic, PRODUCED.len() as i32).await;
    let producer: FutureProducer = common::kafka::producer_config(&kafka)
        .create()
        .expect("producer config is valid");
    for (partition, count) in PRODUCED.iter().enumerate() {
        for i in 0..*count {
            let payload = format!("record {i}");
            producer
                .send(
                    FutureRecord::<(), _>::to(&kafka.topic)
                        .partition(partition as i32)
                        .payload(&payload),
                    TIMEOUT,
                )
                .await
                .expect("record acknowledged");
        }
    }
    kafka
}

/// Commits `offsets` (partition, offset) for the settings' group, as a client outside
/// the group's membership.
fn commit(kafka: &KafkaSettings, offsets: &[(i32, i64)]) {
    let committer: BaseConsumer = common::kafka::admin_config(kafka)
        .set("group.id", &kafka.group_id)
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer config is valid");
    let mut list = TopicPartitionList::new();
    for &(partition, offset) in offsets {
        list.add_partition_offset(&kafka.topic, partition, Offset::Offset(offset))
            .expect("valid offset");
    }
    committer
        .commit(&list, CommitMode::Sync)
        .expect("offsets committed");
}

fn read(kafka: &KafkaSettings) -> Result<TopicLag, LagError> {
    let reader = LagReader::new(
        kafka,
        "surge-lag-test",
        std::slice::from_ref(&kafka.group_id),
        TIMEOUT,
    )?;
    reader.read(&kafka.group_id, &kafka.topic)
}

fn lags(sample: &TopicLag) -> Vec<(i32, Option<i64>, i64)> {
    sample
        .partitions
        .iter()
        .map(|(&id, p)| (id, p.committed, p.lag))
        .collect()
}

#[tokio::test]
async fn a_group_that_never_committed_has_everything_retained_as_lag() {
    let kafka = topic_with_records().await;
    let sample = read(&kafka).expect("lag read");
    assert_eq!(lags(&sample), [(0, None, 5), (1, None, 3), (2, None, 4)]);
    assert_eq!(sample.total(), 12);
    assert_eq!(
        sample.partitions[&0].watermarks,
        Watermarks::known(0, 5).unwrap()
    );
}

#[tokio::test]
async fn committed_offsets_reduce_the_lag_of_their_partition_only() {
    let kafka = topic_with_records().await;
    commit(&kafka, &[(0, 2), (1, 3)]);
    let sample = read(&kafka).expect("lag read");
    assert_eq!(
        lags(&sample),
        [(0, Some(2), 3), (1, Some(3), 0), (2, None, 4)]
    );
    assert_eq!(sample.total(), 7);
}

#[tokio::test]
async fn a_commit_beyond_the_high_watermark_is_no_lag_not_a_negative_one() {
    let kafka = topic_with_records().await;
    commit(&kafka, &[(0, 100)]);
    let sample = read(&kafka).expect("lag read");
    assert_eq!(sample.partitions[&0].committed, Some(100));
    assert_eq!(sample.partitions[&0].lag, 0);
    assert_eq!(sample.total(), 7);
}

#[tokio::test]
async fn a_commit_before_the_log_start_counts_from_the_log_start() {
    let kafka = topic_with_records().await;
    commit(&kafka, &[(0, 1)]);
    // Retention in fast motion: the first 3 records of partition 0 are deleted.
    let admin: AdminClient<DefaultClientContext> = common::kafka::admin_config(&kafka)
        .create()
        .expect("admin config is valid");
    let mut before = TopicPartitionList::new();
    before
        .add_partition_offset(&kafka.topic, 0, Offset::Offset(3))
        .expect("valid offset");
    admin
        .delete_records(&before, &AdminOptions::new().request_timeout(Some(TIMEOUT)))
        .await
        .expect("records deleted");
    let sample = read(&kafka).expect("lag read");
    let p0 = sample.partitions[&0];
    assert_eq!(p0.watermarks, Watermarks::known(3, 5).unwrap());
    assert_eq!((p0.committed, p0.lag), (Some(1), 2));
}

#[test]
fn a_missing_topic_is_topic_not_found_not_zero_lag() {
    testkit::kafka::require_broker();
    let kafka = testkit::kafka::settings(&testkit::unique_name("absent"));
    match read(&kafka) {
        Err(LagError::TopicNotFound(topic)) => assert_eq!(topic, kafka.topic),
        other => panic!("expected TopicNotFound, got {other:?}"),
    }
}
