//! lag-exporter: consumer-group lag read from the broker, for when no consumer runs.
//!
//! consumer-svc reports the lag of the partitions it owns (`surge_consumer_lag`), which
//! disappears exactly when it matters most: no replica running, or all of them stuck.
//! Autoscaling and the lag alerts therefore read the group's lag from the broker, the
//! way Strimzi's Kafka Exporter does in Kubernetes. This crate is the local equivalent,
//! with the same metric names and labels, so one set of dashboards and rules serves both:
//!
//! - `kafka_consumergroup_lag{consumergroup,topic,partition}`: high watermark minus the
//!   group's committed offset,
//! - `kafka_consumergroup_lag_sum{consumergroup,topic}`,
//! - `kafka_consumergroup_current_offset{consumergroup,topic,partition}`,
//! - `kafka_topic_partition_current_offset{topic,partition}` (high watermark),
//! - `kafka_topic_partition_oldest_offset{topic,partition}` (log start),
//! - `kafka_topic_partitions{topic}`.
//!
//! Layout: [`offsets`] reads the numbers from the broker through `kafka_lag` (the
//! reader and lag formula the autoscaler shares), [`exposition`] renders them,
//! [`server`] answers `GET /metrics` by doing both on every scrape (nothing is cached,
//! so a deleted group or topic simply stops being reported), [`settings`] loads the
//! configuration through `common::settings`.

pub mod exposition;
pub mod offsets;
pub mod server;
pub mod settings;

pub use offsets::{OffsetReader, Snapshot};
pub use settings::Settings;
