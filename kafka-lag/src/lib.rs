//! Consumer-group lag: how many retained records of a partition a group has still to
//! process.
//!
//! Three processes measure it: lag-exporter (every group, for Prometheus and the HPA),
//! the autoscaler's cross-check (one group's total) and consumer-svc (the partitions a
//! replica owns, from its own next offsets). They share one definition:
//!
//! - [`lag`]: the formula and every edge case (no committed offset, an offset outside the
//!   retained log, unknown watermarks), in one function.
//! - [`reader`]: [`LagReader`] reads watermarks and committed offsets from the broker
//!   without joining the group; a topic the broker does not know is
//!   [`LagError::TopicNotFound`], never a lag of zero.

pub mod lag;
pub mod reader;

pub use lag::{committed_position, lag, Watermarks};
pub use reader::{LagError, LagReader, PartitionLag, TopicLag, TopicOffsets};
