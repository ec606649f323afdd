//! surge ingest: `POST /v1/orders` → Kafka, answered 202 only after the broker's ack.
//!
//! - [`startup`]: `Application::build(settings)` and the graceful drain.
//! - [`routes`]: the HTTP handlers (orders, health, metrics, OpenAPI).
//! - [`publisher`]: the shared Kafka producer and its delivery outcomes.
//! - [`error`]: why an order was not accepted, and the problem+json answer for it.
//! - [`in_flight`]: the budget of orders awaiting acknowledgement (429 past it).
//! - [`broker_probe`]: the metadata probe behind `/readyz`.
//! - [`ingest_state`]: what the order handler shares across requests and workers.

pub mod broker_probe;
pub mod error;
pub mod in_flight;
pub mod ingest_state;
pub mod publisher;
pub mod routes;
pub mod settings;
pub mod startup;

pub use settings::Settings;
pub use startup::Application;
