//! Test support shared by the surge crates' integration tests.
//!
//! Tests run against the real broker and database that `scripts/infra.sh up` starts.
//! Nothing here replaces them: when they are missing, helpers fail with a message
//! saying how to start them, so no test can pass without the real service.
//!
//! - [`kafka`]: addresses, unique topics, reading records back, end offsets.
//! - [`proxy`]: a TCP proxy that can cut a client off from a real server, for fault tests.
//! - [`postgres`]: a fresh, randomly named PostgreSQL database per test.
//! - [`sasl`]: the three-node cluster's SASL_SSL listener and its credentials.

pub mod kafka;
pub mod postgres;
pub mod proxy;
pub mod sasl;

/// A name no other test (or earlier run) uses.
pub fn unique_name(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4().simple())
}
