//! The consumer group's lag, read straight from Kafka: for each partition, the high
//! watermark minus the group's committed offset, summed over the topic.
//!
//! This is what Kafka Exporter's `kafka_consumergroup_lag` reports and what the
//! cluster's HPA reads through prometheus-adapter. A partition the group never
//! committed counts from its low watermark: the group's `auto.offset.reset=earliest`
//! makes a new member start there, so all of it is still to do.
//!
//! The reader is a consumer configured with the group's id that never subscribes:
//! `committed_offsets` is an OffsetFetch request, it neither joins nor disturbs the group.

use std::time::Duration;

use common::settings::KafkaSettings;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{Offset, TopicPartitionList};

/// Lag of one partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartitionLag {
    pub partition: i32,
    pub high_watermark: i64,
    /// `None` when the group has no committed offset for the partition.
    pub committed: Option<i64>,
    pub lag: i64,
}

/// One reading of the group's lag on the topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LagSample {
    pub total: i64,
    pub partitions: Vec<PartitionLag>,
}

#[derive(Debug, thiserror::Error)]
pub enum LagError {
    #[error("Kafka: {0}")]
    Kafka(#[from] rdkafka::error::KafkaError),
    #[error("topic {0} not found or has no partitions")]
    NoTopic(String),
}

pub struct LagReader {
    consumer: BaseConsumer,
    topic: String,
    timeout: Duration,
}

impl LagReader {
    /// A reader for `settings.group_id` on `settings.topic`, with every client property
    /// from the settings (TLS/SASL) applied.
    pub fn new(settings: &KafkaSettings) -> Result<Self, LagError> {
        let consumer = common::kafka::admin_config(settings)
            .set("group.id", &settings.group_id)
            .set("client.id", "surge-autoscaler")
            .set("enable.auto.commit", "false")
            .create()?;
        Ok(Self {
            consumer,
            topic: settings.topic.clone(),
            timeout: Duration::from_secs(5),
        })
    }

    /// Number of partitions of the topic (the autoscaler's replica cap).
    pub fn partition_count(&self) -> Result<u32, LagError> {
        Ok(self.partition_ids()?.len() as u32)
    }

    fn partition_ids(&self) -> Result<Vec<i32>, LagError> {
        let metadata = self
            .consumer
            .fetch_metadata(Some(&self.topic), self.timeout)?;
        let ids: Vec<i32> = metadata
            .topics()
            .iter()
            .filter(|t| t.name() == self.topic && t.error().is_none())
            .flat_map(|t| t.partitions().iter().map(|p| p.id()))
            .collect();
        if ids.is_empty() {
            return Err(LagError::NoTopic(self.topic.clone()));
        }
        Ok(ids)
    }

    /// Reads the lag now. Blocking (several round trips): call it from a blocking
    /// thread in async code.
    pub fn read(&self) -> Result<LagSample, LagError> {
        let ids = self.partition_ids()?;
        let mut list = TopicPartitionList::new();
        for &id in &ids {
            list.add_partition(&self.topic, id);
        }
        let committed = self.consumer.committed_offsets(list, self.timeout)?;
        let mut partitions = Vec::with_capacity(ids.len());
        for id in ids {
            let (low, high) = self
                .consumer
                .fetch_watermarks(&self.topic, id, self.timeout)?;
            let committed =
                committed
                    .find_partition(&self.topic, id)
                    .and_then(|p| match p.offset() {
                        Offset::Offset(o) if o >= 0 => Some(o),
                        _ => None,
                    });
            // A committed offset below the low watermark (retention deleted records)
            // counts from the low watermark, like the consumer's reset would.
            let from = committed.map_or(low, |c| c.max(low));
            partitions.push(PartitionLag {
                partition: id,
                high_watermark: high,
                committed,
                lag: (high - from).max(0),
            });
        }
        Ok(LagSample {
            total: partitions.iter().map(|p| p.lag).sum(),
            partitions,
        })
    }
}
