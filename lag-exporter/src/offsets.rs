//! Reading watermarks and committed offsets from the broker.
//!
//! One metadata-only consumer per group: `committed_offsets` sends an OffsetFetch for the
//! client's own `group.id` without joining the group, so reading never triggers a
//! rebalance of the real consumers. The calls block; run them off the async runtime.

use std::collections::BTreeMap;
use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{Offset, TopicPartitionList};

use common::settings::KafkaSettings;

/// Offsets of one partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartitionOffsets {
    /// Log start offset (oldest retained record).
    pub low: i64,
    /// High watermark (offset of the next record to be written).
    pub high: i64,
}

/// A group's position on one partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GroupOffset {
    /// Committed offset, `None` when the group never committed on this partition.
    pub committed: Option<i64>,
    pub lag: i64,
}

/// Everything one scrape reports.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// topic → partition → offsets; topics that do not exist are absent.
    pub topics: BTreeMap<String, BTreeMap<i32, PartitionOffsets>>,
    /// (group, topic) → partition → position.
    pub groups: BTreeMap<(String, String), BTreeMap<i32, GroupOffset>>,
}

/// The lag of a group on a partition.
///
/// Without a committed offset the group will start from the log start (`auto.offset.reset
/// = earliest` in `common::kafka::consumer_config`), so everything retained is lag. A
/// committed offset beyond the watermark (a truncated log) counts as no lag, and one
/// before the log start counts from the log start, which is where the consumer resumes.
pub fn lag(committed: Option<i64>, offsets: PartitionOffsets) -> i64 {
    let from = committed.unwrap_or(offsets.low).max(offsets.low);
    (offsets.high - from).max(0)
}

pub struct OffsetReader {
    metadata: BaseConsumer,
    groups: Vec<(String, BaseConsumer)>,
    topics: Vec<String>,
    timeout: Duration,
}

impl OffsetReader {
    pub fn new(
        kafka: &KafkaSettings,
        groups: &[String],
        topics: &[String],
        timeout: Duration,
    ) -> anyhow::Result<Self> {
        let metadata: BaseConsumer = common::kafka::admin_config(kafka).create()?;
        let groups = groups
            .iter()
            .map(|group| {
                let consumer: BaseConsumer = common::kafka::admin_config(kafka)
                    .set("group.id", group)
                    .set("enable.auto.commit", "false")
                    .create()?;
                Ok((group.clone(), consumer))
            })
            .collect::<anyhow::Result<_>>()?;
        Ok(Self {
            metadata,
            groups,
            topics: topics.to_vec(),
            timeout,
        })
    }

    /// Reads every configured topic and group. A topic missing on the broker is skipped;
    /// a broker that does not answer is an error (the scrape fails, and Prometheus
    /// records `up == 0` instead of a lag of zero).
    pub fn snapshot(&self) -> anyhow::Result<Snapshot> {
        let mut snapshot = Snapshot::default();
        let mut assignment = TopicPartitionList::new();
        for topic in &self.topics {
            let metadata = self.metadata.fetch_metadata(Some(topic), self.timeout)?;
            let Some(meta) = metadata.topics().iter().find(|t| t.name() == topic) else {
                continue;
            };
            if meta.error().is_some() || meta.partitions().is_empty() {
                continue;
            }
            let mut partitions = BTreeMap::new();
            for partition in meta.partitions() {
                let id = partition.id();
                let (low, high) = self.metadata.fetch_watermarks(topic, id, self.timeout)?;
                partitions.insert(id, PartitionOffsets { low, high });
                assignment.add_partition(topic, id);
            }
            snapshot.topics.insert(topic.clone(), partitions);
        }
        if assignment.count() == 0 {
            return Ok(snapshot);
        }
        for (group, consumer) in &self.groups {
            let committed = consumer.committed_offsets(assignment.clone(), self.timeout)?;
            for element in committed.elements() {
                let topic = element.topic();
                let Some(offsets) = snapshot
                    .topics
                    .get(topic)
                    .and_then(|p| p.get(&element.partition()))
                else {
                    continue;
                };
                let committed = match element.offset() {
                    Offset::Offset(offset) => Some(offset),
                    _ => None,
                };
                snapshot
                    .groups
                    .entry((group.clone(), topic.to_owned()))
                    .or_default()
                    .insert(
                        element.partition(),
                        GroupOffset {
                            committed,
                            lag: lag(committed, *offsets),
                        },
                    );
            }
        }
        Ok(snapshot)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OFFSETS: PartitionOffsets = PartitionOffsets { low: 10, high: 100 };

    #[test]
    fn lag_is_the_distance_from_the_committed_offset_to_the_watermark() {
        assert_eq!(lag(Some(40), OFFSETS), 60);
        assert_eq!(lag(Some(100), OFFSETS), 0);
    }

    #[test]
    fn a_group_without_a_commit_has_everything_retained_as_lag() {
        assert_eq!(lag(None, OFFSETS), 90);
    }

    #[test]
    fn offsets_outside_the_log_are_clamped_to_it() {
        assert_eq!(lag(Some(3), OFFSETS), 90, "resumes from the log start");
        assert_eq!(lag(Some(150), OFFSETS), 0, "never negative");
    }
}
