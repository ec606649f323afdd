//! The `order.v1` event: the record value on the `orders` topic, and how a record read
//! back is decoded and re-validated.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::request::{OrderRequest, ValidOrder};

/// Version tag carried in every event; consumers reject what they do not know.
pub const SCHEMA_V1: &str = "order.v1";

/// The record value published to the `orders` topic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrderEvent {
    pub schema: String,
    pub order_id: Uuid,
    pub sku: String,
    pub quantity: u32,
    pub customer_id: String,
    #[serde(with = "time::serde::rfc3339")]
    pub accepted_at: OffsetDateTime,
}

impl OrderEvent {
    pub fn new(order: ValidOrder, order_id: Uuid, accepted_at: OffsetDateTime) -> Self {
        Self {
            schema: SCHEMA_V1.to_owned(),
            order_id,
            sku: order.sku,
            quantity: order.quantity,
            customer_id: order.customer_id,
            accepted_at,
        }
    }

    pub fn to_json(&self) -> Vec<u8> {
        // Serializing a struct of strings, integers and a formatted date cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }
}

/// Why a record can never become an order. Such records go to the dead-letter topic.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventError {
    #[error("record has no value")]
    Empty,
    #[error("undecodable record: {0}")]
    Undecodable(String),
    #[error("unknown schema {0:?}")]
    UnknownSchema(String),
    #[error("invalid field {field}: {detail}")]
    InvalidField { field: &'static str, detail: String },
}

impl EventError {
    /// Short stable name for metrics labels and DLQ headers.
    pub fn kind(&self) -> &'static str {
        match self {
            EventError::Empty => "empty",
            EventError::Undecodable(_) => "undecodable",
            EventError::UnknownSchema(_) => "unknown_schema",
            EventError::InvalidField { .. } => "invalid_field",
        }
    }
}

/// Decodes and re-validates a record value read from the `orders` topic.
pub fn decode_event(value: Option<&[u8]>) -> Result<OrderEvent, EventError> {
    #[derive(Deserialize)]
    struct Envelope {
        schema: Option<String>,
    }
    let bytes = value.ok_or(EventError::Empty)?;
    let envelope: Envelope =
        serde_json::from_slice(bytes).map_err(|e| EventError::Undecodable(e.to_string()))?;
    match envelope.schema.as_deref() {
        Some(SCHEMA_V1) => {}
        other => return Err(EventError::UnknownSchema(other.unwrap_or("").to_owned())),
    }
    let event: OrderEvent =
        serde_json::from_slice(bytes).map_err(|e| EventError::Undecodable(e.to_string()))?;
    // producer-svc mints UUIDv7 or UUIDv5; the nil and max UUIDs are what a broken or
    // hostile writer sends, and as a primary key one of them would collect every such
    // record into one order.
    if event.order_id.is_nil() || event.order_id.is_max() {
        return Err(EventError::InvalidField {
            field: "order_id",
            detail: format!("{} is not an order id", event.order_id),
        });
    }
    // An offset can put the instant past year 9999 in UTC ("9999-12-31T23:59:59-01:00"),
    // outside what `time` represents: converting it (as the database driver does) would
    // panic the worker.
    if event
        .accepted_at
        .checked_to_offset(time::UtcOffset::UTC)
        .is_none()
    {
        return Err(EventError::InvalidField {
            field: "accepted_at",
            detail: "lies outside the years 0000-9999 in UTC".to_owned(),
        });
    }
    let request = OrderRequest {
        sku: event.sku.clone(),
        quantity: i64::from(event.quantity),
        customer_id: event.customer_id.clone(),
    };
    match request.validate() {
        Ok(_) => Ok(event),
        Err(mut errors) => {
            let first = errors.remove(0);
            Err(EventError::InvalidField {
                field: first.field,
                detail: first.detail,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::id::order_id;
    use proptest::prelude::*;

    fn request(sku: &str, quantity: i64, customer_id: &str) -> OrderRequest {
        OrderRequest {
            sku: sku.to_owned(),
            quantity,
            customer_id: customer_id.to_owned(),
        }
    }

    #[test]
    fn an_event_round_trips_through_json() {
        let order = request("FLASH-1", 3, "c-7").validate().unwrap();
        let id = order_id(&order, None);
        let event = OrderEvent::new(order, id, OffsetDateTime::now_utc());
        let decoded = decode_event(Some(&event.to_json())).expect("decodes");
        assert_eq!(decoded, event);
        assert_eq!(decoded.schema, SCHEMA_V1);
    }

    #[test]
    fn poison_records_are_classified() {
        assert_eq!(decode_event(None).unwrap_err().kind(), "empty");
        assert_eq!(
            decode_event(Some(b"\xff not json")).unwrap_err().kind(),
            "undecodable"
        );
        let v2 = br#"{"schema":"order.v2","order_id":"0190b2a4-0000-7000-8000-000000000000"}"#;
        assert_eq!(decode_event(Some(v2)).unwrap_err().kind(), "unknown_schema");
        let bad_sku = br#"{"schema":"order.v1","order_id":"0190b2a4-0000-7000-8000-000000000000","sku":"no spaces","quantity":1,"customer_id":"c","accepted_at":"2026-01-01T00:00:00Z"}"#;
        assert_eq!(
            decode_event(Some(bad_sku)).unwrap_err().kind(),
            "invalid_field"
        );
    }

    fn event_json(order_id: &str, accepted_at: &str) -> String {
        format!(
            r#"{{"schema":"order.v1","order_id":"{order_id}","sku":"A","quantity":1,"customer_id":"c","accepted_at":"{accepted_at}"}}"#
        )
    }

    #[test]
    fn the_nil_and_max_uuids_are_not_order_ids() {
        for id in [Uuid::nil(), Uuid::max()] {
            let error = decode_event(Some(
                event_json(&id.to_string(), "2026-01-01T00:00:00Z").as_bytes(),
            ))
            .unwrap_err();
            assert_eq!(error.kind(), "invalid_field", "{error}");
        }
    }

    #[test]
    fn accepted_at_must_be_rfc3339_within_years_0000_to_9999() {
        let id = "0190b2a4-0000-7000-8000-000000000000";
        for ok in [
            "9999-12-31T23:59:59Z",
            "0000-01-01T00:00:00Z",
            "0000-01-01T00:00:00+23:59",
        ] {
            let event = decode_event(Some(event_json(id, ok).as_bytes()));
            assert!(event.is_ok(), "{ok}: {event:?}");
        }
        let past_9999_in_utc =
            decode_event(Some(event_json(id, "9999-12-31T23:59:59-23:59").as_bytes())).unwrap_err();
        assert_eq!(past_9999_in_utc.kind(), "invalid_field");
        for bad in [
            "-0001-01-01T00:00:00Z",
            "10000-01-01T00:00:00Z",
            "2026-01-01",
            "1767225600",
            "2026-13-01T00:00:00Z",
            "",
        ] {
            let error = decode_event(Some(event_json(id, bad).as_bytes())).unwrap_err();
            assert_eq!(error.kind(), "undecodable", "{bad}");
        }
    }

    #[test]
    fn duplicate_keys_in_a_record_are_undecodable() {
        let twice = br#"{"schema":"order.v1","order_id":"0190b2a4-0000-7000-8000-000000000000","sku":"A","sku":"B","quantity":1,"customer_id":"c","accepted_at":"2026-01-01T00:00:00Z"}"#;
        assert_eq!(decode_event(Some(twice)).unwrap_err().kind(), "undecodable");
    }

    proptest! {
        #[test]
        fn decode_never_panics_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = decode_event(Some(&bytes));
        }

        #[test]
        fn valid_orders_survive_publication(sku in "[A-Za-z0-9][A-Za-z0-9._-]{0,63}", qty in 1i64..=100, cust in "[a-z0-9-]{1,40}") {
            let order = request(&sku, qty, &cust).validate().unwrap();
            let id = order_id(&order, None);
            let event = OrderEvent::new(order, id, OffsetDateTime::now_utc());
            prop_assert_eq!(decode_event(Some(&event.to_json())).unwrap(), event);
        }
    }
}
