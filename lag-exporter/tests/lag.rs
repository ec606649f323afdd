//! lag-exporter against the real broker: a fresh topic, records produced to chosen
//! partitions, offsets committed for a group that has no running consumer. The lag's
//! edge cases are pinned down once, in kafka-lag's tests; this is about the endpoint.

use std::net::TcpListener;
use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use lag_exporter::server::Exporter;
use lag_exporter::OffsetReader;

const TIMEOUT: Duration = Duration::from_secs(10);

/// Records produced per partition, and the offset the group commits on each
/// (`None`: the group never committed there).
const PRODUCED: [i64; 3] = [5, 3, 4];
const COMMITTED: [Option<i64>; 3] = [Some(2), Some(3), None];

struct Fixture {
    topic: String,
    group: String,
    /// A topic the broker does not have, configured next to the real one.
    missing_topic: String,
    kafka: common::settings::KafkaSettings,
}

async fn fixture() -> Fixture {
    let topic = testkit::unique_name("lag");
    testkit::kafka::create_topic(&topic, PRODUCED.len() as i32).await;
    let kafka = testkit::kafka::settings(&topic);
    let producer: FutureProducer = common::kafka::producer_config(&kafka)
        .create()
        .expect("producer config is valid");
    for (partition, count) in PRODUCED.iter().enumerate() {
        for i in 0..*count {
            let payload = format!("record {i}");
            producer
                .send(
                    FutureRecord::<(), _>::to(&topic)
                        .partition(partition as i32)
                        .payload(&payload),
                    TIMEOUT,
                )
                .await
                .expect("record acknowledged");
        }
    }
    // Commit as a client outside the group's membership: nothing consumes, as when
    // every consumer replica is down.
    let committer: BaseConsumer = common::kafka::admin_config(&kafka)
        .set("group.id", &kafka.group_id)
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer config is valid");
    let mut offsets = TopicPartitionList::new();
    for (partition, committed) in COMMITTED.iter().enumerate() {
        if let Some(offset) = committed {
            offsets
                .add_partition_offset(&topic, partition as i32, Offset::Offset(*offset))
                .expect("valid offset");
        }
    }
    committer
        .commit(&offsets, CommitMode::Sync)
        .expect("offsets committed");
    Fixture {
        group: kafka.group_id.clone(),
        topic,
        missing_topic: testkit::unique_name("missing-topic"),
        kafka,
    }
}

fn reader(f: &Fixture) -> OffsetReader {
    OffsetReader::new(
        &f.kafka,
        std::slice::from_ref(&f.group),
        &[f.topic.clone(), f.missing_topic.clone()],
        TIMEOUT,
    )
    .expect("reader")
}

#[tokio::test]
async fn metrics_endpoint_serves_kafka_exporter_series() {
    let f = fixture().await;
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let exporter = Exporter::build(listener, reader(&f)).expect("exporter");
    let port = exporter.port();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(exporter.run_until_stopped(async {
        let _ = stopped.await;
    }));

    let body = get(port, "/metrics").await;
    let (g, t) = (&f.group, &f.topic);
    for line in [
        format!("kafka_consumergroup_lag{{consumergroup=\"{g}\",partition=\"0\",topic=\"{t}\"}} 3"),
        format!("kafka_consumergroup_lag{{consumergroup=\"{g}\",partition=\"1\",topic=\"{t}\"}} 0"),
        format!("kafka_consumergroup_lag{{consumergroup=\"{g}\",partition=\"2\",topic=\"{t}\"}} 4"),
        format!("kafka_consumergroup_lag_sum{{consumergroup=\"{g}\",topic=\"{t}\"}} 7"),
        format!("kafka_consumergroup_current_offset{{consumergroup=\"{g}\",partition=\"0\",topic=\"{t}\"}} 2"),
        format!("kafka_topic_partition_current_offset{{partition=\"2\",topic=\"{t}\"}} 4"),
        format!("kafka_topic_partitions{{topic=\"{t}\"}} 3"),
    ] {
        assert!(body.lines().any(|l| l == line), "missing {line:?} in\n{body}");
    }
    assert!(
        !body.contains(&format!(
            "consumergroup=\"{g}\",partition=\"2\",topic=\"{t}\"}} -"
        )),
        "no negative offsets"
    );
    assert!(
        !body.contains(&f.missing_topic),
        "a topic the broker does not have is left out:\n{body}"
    );

    let _ = stop.send(());
    server.await.expect("join").expect("server stopped cleanly");
}

async fn get(port: u16, path: &str) -> String {
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect");
    stream
        .write_all(format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").as_bytes())
        .await
        .expect("write");
    let mut response = String::new();
    stream.read_to_string(&mut response).await.expect("read");
    let (head, body) = response.split_once("\r\n\r\n").expect("HTTP response");
    assert!(
        head.starts_with("HTTP/1.") && head[8..].starts_with(" 200 "),
        "{head}"
    );
    body.to_owned()
}
