//! producer-svc from the outside, against the real Kafka broker that
//! `scripts/infra.sh up` starts. Each test gets its own topic.

mod binary;
mod broker_outage;
mod collector_down;
mod fatal_error;
mod generated_requests;
mod helpers;
mod hostile_bodies;
mod hostile_http;
mod hostile_requests;
mod idle_connections;
mod lanes;
mod observability;
mod orders;
mod raw_http;
mod sasl_ssl;
mod shutdown;
mod slow_bodies;
mod validation;
