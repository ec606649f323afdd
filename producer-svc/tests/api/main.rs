//! producer-svc from the outside, against the real Kafka broker that
//! `scripts/infra.sh up` starts. Each test gets its own topic.

mod broker_outage;
mod generated_requests;
mod helpers;
mod observability;
mod orders;
mod shutdown;
mod validation;
