//! The order domain: what a client sends, how it is validated, the id it maps to, and the
//! event published to Kafka. No I/O here (no Kafka, HTTP or database client), so anything
//! that needs an order id or the event schema (the load generator, a test) gets it
//! without building librdkafka.
//!
//! The same field rules apply at the door (producer-svc answers 422) and when a record is
//! read back (consumer-svc dead-letters it), so a record that got past one check cannot
//! slip past the other.
//!
//! - [`request`]: `OrderRequest`, its field rules, the `Idempotency-Key` rule.
//! - [`id`]: `order_id`: UUIDv7, or UUIDv5 of (customer_id, Idempotency-Key, SKU, quantity).
//! - [`event`]: `OrderEvent` (`order.v1`), `decode_event` and the poison-record kinds.

pub mod event;
pub mod id;
pub mod request;

pub use event::{decode_event, EventError, OrderEvent, SCHEMA_V1};
pub use id::{order_id, ORDER_ID_NAMESPACE};
pub use request::{
    validate_idempotency_key, FieldError, OrderRequest, ValidOrder, CUSTOMER_ID_MAX_LEN,
    IDEMPOTENCY_KEY_MAX_LEN, QUANTITY_MAX, QUANTITY_MIN, SKU_MAX_LEN,
};
