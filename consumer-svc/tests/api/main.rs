//! consumer-svc from the outside, against the real broker and the real PostgreSQL that
//! `scripts/infra.sh up` starts. Every test has its own topic, consumer group and
//! database, so they run in parallel. Tests that need a process to die (SIGKILL, SIGTERM)
//! run the real binary; the others run the application in-process.

mod helpers;

mod batch_sql;
mod crash;
mod dead_letters;
mod hostile_records;
mod lookups;
mod metrics;
mod migrations;
mod outage;
mod redelivery;
mod sasl_ssl;
mod scaling;
mod shutdown;
mod stock;
mod throughput;
mod tracing_context;
