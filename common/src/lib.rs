//! Runtime plumbing shared by the surge processes. The order domain itself (schema,
//! validation, ids) is the `order` crate; this one is about running a process.
//!
//! - [`settings`]: layered configuration (defaults → `config/*.yaml` → `SURGE__…` variables).
//! - [`telemetry`]: JSON logs with trace ids, OpenTelemetry spans, the Prometheus recorder.
//! - [`kafka`]: the one Kafka client configuration builder; [`kafka_stats`] exports its
//!   statistics; [`kafka_auth`] notices refused credentials; [`trace_context`]: W3C trace
//!   context through Kafka record headers. These four need the `kafka` feature.
//! - [`http_observe`], [`problem`], [`routing`], [`health`], [`shutdown`]: HTTP plumbing both
//!   services use.

pub mod health;
pub mod http_observe;
#[cfg(feature = "kafka")]
pub mod kafka;
#[cfg(feature = "kafka")]
pub mod kafka_auth;
#[cfg(feature = "kafka")]
pub mod kafka_stats;
pub mod problem;
pub mod publish_span;
pub mod routing;
pub mod settings;
pub mod shutdown;
pub mod telemetry;
#[cfg(feature = "kafka")]
pub mod trace_context;
