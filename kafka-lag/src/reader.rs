//! Reading watermarks and committed offsets from the broker.
//!
//! One metadata client, plus one client per group carrying that group's `group.id`:
//! `committed_offsets` is an OffsetFetch for the client's own group and never subscribes,
//! so reading neither joins nor rebalances the real consumers. Every call blocks (a few
//! round trips); call it from a blocking thread in async code.

use std::collections::BTreeMap;
use std::time::Duration;

use common::settings::KafkaSettings;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::TopicPartitionList;

use crate::lag::{committed_position, lag, Watermarks};

#[derive(Debug, thiserror::Error)]
pub enum LagError {
    #[error("Kafka: {0}")]
    Kafka(#[from] KafkaError),
    /// The broker does not know the topic (or it has no partitions). Not a lag of zero:
    /// the caller decides, e.g. lag-exporter leaves its series out, the autoscaler skips
    /// the sync.
    #[error("topic {0} not found or has no partitions")]
    TopicNotFound(String),
    #[error("metadata of topic {topic}: {code}")]
    TopicMetadata {
        topic: String,
        code: RDKafkaErrorCode,
    },
    #[error("the broker reported no watermarks for {topic}/{partition}")]
    UnknownWatermarks { topic: String, partition: i32 },
    #[error("group {0} is not one this reader was built for")]
    GroupNotConfigured(String),
}

/// A topic's partitions and their retained logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicOffsets {
    pub topic: String,
    pub partitions: BTreeMap<i32, Watermarks>,
}

/// A group's position on one partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartitionLag {
    pub watermarks: Watermarks,
    /// `None` when the group has no committed offset on the partition.
    pub committed: Option<i64>,
    pub lag: i64,
}

/// A group's lag on every partition of a topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicLag {
    pub group: String,
    pub topic: String,
    pub partitions: BTreeMap<i32, PartitionLag>,
}

impl TopicLag {
    pub fn total(&self) -> i64 {
        self.partitions.values().map(|p| p.lag).sum()
    }
}

pub struct LagReader {
    metadata: BaseConsumer,
    groups: BTreeMap<String, BaseConsumer>,
    timeout: Duration,
}

impl LagReader {
    /// A reader for `groups`, with every client property from `kafka` (TLS/SASL) applied.
    /// `client_id` names the process in the broker's logs and quotas.
    pub fn new(
        kafka: &KafkaSettings,
        client_id: &str,
        groups: &[String],
        timeout: Duration,
    ) -> Result<Self, LagError> {
        let metadata: BaseConsumer = common::kafka::admin_config(kafka)
            .set("client.id", client_id)
            .create()?;
        let groups = groups
            .iter()
            .map(|group| {
                let consumer: BaseConsumer = common::kafka::admin_config(kafka)
                    .set("client.id", client_id)
                    .set("group.id", group)
                    .set("enable.auto.commit", "false")
                    .create()?;
                Ok((group.clone(), consumer))
            })
            .collect::<Result<_, LagError>>()?;
        Ok(Self {
            metadata,
            groups,
            timeout,
        })
    }

    /// The topic's partitions and watermarks.
    pub fn topic_offsets(&self, topic: &str) -> Result<TopicOffsets, LagError> {
        let metadata = self.metadata.fetch_metadata(Some(topic), self.timeout)?;
        let Some(meta) = metadata.topics().iter().find(|t| t.name() == topic) else {
            return Err(LagError::TopicNotFound(topic.to_owned()));
        };
        match meta.error().map(RDKafkaErrorCode::from) {
            None => {}
            Some(RDKafkaErrorCode::UnknownTopicOrPartition) => {
                return Err(LagError::TopicNotFound(topic.to_owned()))
            }
            Some(code) => {
                return Err(LagError::TopicMetadata {
                    topic: topic.to_owned(),
                    code,
                })
            }
        }
        if meta.partitions().is_empty() {
            return Err(LagError::TopicNotFound(topic.to_owned()));
        }
        let mut partitions = BTreeMap::new();
        for partition in meta.partitions() {
            let id = partition.id();
            let (low, high) = self.metadata.fetch_watermarks(topic, id, self.timeout)?;
            let watermarks =
                Watermarks::known(low, high).ok_or_else(|| LagError::UnknownWatermarks {
                    topic: topic.to_owned(),
                    partition: id,
                })?;
            partitions.insert(id, watermarks);
        }
        Ok(TopicOffsets {
            topic: topic.to_owned(),
            partitions,
        })
    }

    /// `group`'s lag on the partitions of `offsets` (read once, shared by every group).
    pub fn group_lag(&self, group: &str, offsets: &TopicOffsets) -> Result<TopicLag, LagError> {
        let consumer = self
            .groups
            .get(group)
            .ok_or_else(|| LagError::GroupNotConfigured(group.to_owned()))?;
        let mut request = TopicPartitionList::new();
        for &id in offsets.partitions.keys() {
            request.add_partition(&offsets.topic, id);
        }
        let committed = consumer.committed_offsets(request, self.timeout)?;
        let partitions = offsets
            .partitions
            .iter()
            .map(|(&id, &watermarks)| {
                let committed = committed
                    .find_partition(&offsets.topic, id)
                    .and_then(|element| committed_position(element.offset()));
                let position = PartitionLag {
                    watermarks,
                    committed,
                    lag: lag(committed, watermarks),
                };
                (id, position)
            })
            .collect();
        Ok(TopicLag {
            group: group.to_owned(),
            topic: offsets.topic.clone(),
            partitions,
        })
    }

    /// `group`'s lag on `topic`, read now.
    pub fn read(&self, group: &str, topic: &str) -> Result<TopicLag, LagError> {
        self.group_lag(group, &self.topic_offsets(topic)?)
    }
}
