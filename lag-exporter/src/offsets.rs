//! One scrape's numbers: every configured topic's watermarks and every configured group's
//! lag on them, read through [`kafka_lag::LagReader`] (which owns the formula and its
//! edge cases).

use std::collections::BTreeMap;
use std::time::Duration;

use common::settings::KafkaSettings;
use kafka_lag::{LagError, LagReader, PartitionLag, Watermarks};

/// Everything one scrape reports.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// topic → partition → watermarks; topics that do not exist are absent.
    pub topics: BTreeMap<String, BTreeMap<i32, Watermarks>>,
    /// (group, topic) → partition → position.
    pub groups: BTreeMap<(String, String), BTreeMap<i32, PartitionLag>>,
}

pub struct OffsetReader {
    reader: LagReader,
    groups: Vec<String>,
    topics: Vec<String>,
}

impl OffsetReader {
    pub fn new(
        kafka: &KafkaSettings,
        groups: &[String],
        topics: &[String],
        timeout: Duration,
    ) -> Result<Self, LagError> {
        Ok(Self {
            reader: LagReader::new(kafka, "surge-lag-exporter", groups, timeout)?,
            groups: groups.to_vec(),
            topics: topics.to_vec(),
        })
    }

    /// Reads every configured topic and group. A topic missing on the broker is left
    /// out, as Kafka Exporter does; a broker that does not answer is an error (the scrape
    /// fails, and Prometheus records `up == 0` instead of a lag of zero).
    pub fn snapshot(&self) -> Result<Snapshot, LagError> {
        let mut snapshot = Snapshot::default();
        for topic in &self.topics {
            let offsets = match self.reader.topic_offsets(topic) {
                Ok(offsets) => offsets,
                Err(LagError::TopicNotFound(_)) => continue,
                Err(error) => return Err(error),
            };
            for group in &self.groups {
                let lag = self.reader.group_lag(group, &offsets)?;
                snapshot
                    .groups
                    .insert((group.clone(), topic.clone()), lag.partitions);
            }
            snapshot.topics.insert(topic.clone(), offsets.partitions);
        }
        Ok(snapshot)
    }
}
