//! Shared pieces of the surge services.
//!
//! - [`settings`]: layered configuration (defaults → `config/*.yaml` → `SURGE__…` variables).
//! - [`telemetry`]: JSON logs with trace ids, OpenTelemetry spans, the Prometheus recorder.
//! - [`order`]: the order request, its validation, and the `order.v1` event on the topic.
//! - [`kafka`]: the one Kafka client configuration builder; [`kafka_stats`] exports its statistics.
//! - [`trace_context`]: W3C trace context through Kafka record headers.
//! - [`http_observe`], [`problem`], [`routing`], [`health`], [`shutdown`]: HTTP plumbing both
//!   services use.

pub mod health;
pub mod http_observe;
pub mod kafka;
pub mod kafka_stats;
pub mod order;
pub mod problem;
pub mod publish_span;
pub mod routing;
pub mod settings;
pub mod shutdown;
pub mod telemetry;
pub mod trace_context;
