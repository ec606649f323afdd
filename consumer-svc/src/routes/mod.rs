//! HTTP handlers, one file per resource.

pub mod health;
pub mod metrics;
pub mod orders;
