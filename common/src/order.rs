//! The order: what a client sends, how it is validated, and the event published to Kafka.
//!
//! The same field rules apply at the door (producer-svc answers 422) and when a record is
//! read back (consumer-svc dead-letters it), so a record that got past one check cannot
//! slip past the other.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

/// Version tag carried in every event; consumers reject what they do not know.
pub const SCHEMA_V1: &str = "order.v1";

pub const SKU_MAX_LEN: usize = 64;
pub const CUSTOMER_ID_MAX_LEN: usize = 128;
pub const IDEMPOTENCY_KEY_MAX_LEN: usize = 255;
pub const QUANTITY_MIN: i64 = 1;
pub const QUANTITY_MAX: i64 = 100;

/// Namespace of the UUIDv5 order ids derived from `Idempotency-Key`.
pub const ORDER_ID_NAMESPACE: Uuid = Uuid::from_u128(0x6a0f_5b1e_3c2d_4e8f_9a1b_7c6d_5e4f_3a2b);

/// Body of `POST /v1/orders`, as parsed; not yet validated.
#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OrderRequest {
    /// Stock keeping unit: 1–64 characters of `A-Z a-z 0-9 . _ -`, starting with a letter or digit.
    #[schema(
        example = "FLASH-1",
        min_length = 1,
        max_length = 64,
        pattern = "^[A-Za-z0-9][A-Za-z0-9._-]*$"
    )]
    pub sku: String,
    /// Units ordered, 1–100.
    #[schema(example = 1, minimum = 1, maximum = 100)]
    pub quantity: i64,
    /// The ordering customer: 1–128 characters, no control characters. Also the Kafka key.
    #[schema(example = "c-42", min_length = 1, max_length = 128)]
    pub customer_id: String,
}

/// One rule a field broke.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct FieldError {
    /// JSON name of the field (`sku`, `quantity`, `customer_id`, or a header name).
    pub field: &'static str,
    pub detail: String,
}

/// An order whose fields passed every rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidOrder {
    pub sku: String,
    pub quantity: u32,
    pub customer_id: String,
}

impl OrderRequest {
    /// Checks every field and reports all violations at once.
    pub fn validate(self) -> Result<ValidOrder, Vec<FieldError>> {
        let mut errors = Vec::new();
        check_sku(&self.sku, &mut errors);
        check_customer_id(&self.customer_id, &mut errors);
        let quantity = check_quantity(self.quantity, &mut errors);
        match quantity {
            Some(quantity) if errors.is_empty() => Ok(ValidOrder {
                sku: self.sku,
                quantity,
                customer_id: self.customer_id,
            }),
            _ => Err(errors),
        }
    }
}

fn check_sku(sku: &str, errors: &mut Vec<FieldError>) {
    let ok_chars = sku
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    let starts_ok = sku
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_alphanumeric());
    if sku.is_empty() || sku.len() > SKU_MAX_LEN || !ok_chars || !starts_ok {
        errors.push(FieldError {
            field: "sku",
            detail: format!(
                "must be 1-{SKU_MAX_LEN} characters of A-Z, a-z, 0-9, '.', '_', '-', starting with a letter or digit"
            ),
        });
    }
}

fn check_customer_id(customer_id: &str, errors: &mut Vec<FieldError>) {
    if customer_id.trim().is_empty()
        || customer_id.len() > CUSTOMER_ID_MAX_LEN
        || customer_id.chars().any(char::is_control)
    {
        errors.push(FieldError {
            field: "customer_id",
            detail: format!(
                "must be 1-{CUSTOMER_ID_MAX_LEN} bytes, not blank, without control characters"
            ),
        });
    }
}

fn check_quantity(quantity: i64, errors: &mut Vec<FieldError>) -> Option<u32> {
    if (QUANTITY_MIN..=QUANTITY_MAX).contains(&quantity) {
        u32::try_from(quantity).ok()
    } else {
        errors.push(FieldError {
            field: "quantity",
            detail: format!("must be an integer from {QUANTITY_MIN} to {QUANTITY_MAX}"),
        });
        None
    }
}

/// Checks an `Idempotency-Key` header value: 1–255 visible ASCII characters.
pub fn validate_idempotency_key(key: &[u8]) -> Result<&str, FieldError> {
    let visible = key.iter().all(|b| (0x21..=0x7e).contains(b));
    match std::str::from_utf8(key) {
        Ok(text) if visible && !key.is_empty() && key.len() <= IDEMPOTENCY_KEY_MAX_LEN => Ok(text),
        _ => Err(FieldError {
            field: "Idempotency-Key",
            detail: format!(
                "must be 1-{IDEMPOTENCY_KEY_MAX_LEN} visible ASCII characters (no spaces)"
            ),
        }),
    }
}

/// The order id: random and time-ordered (UUIDv7) for a plain request, or derived from
/// (customer_id, Idempotency-Key) (UUIDv5) so that a retried request maps to the same order.
pub fn order_id(customer_id: &str, idempotency_key: Option<&str>) -> Uuid {
    match idempotency_key {
        None => Uuid::now_v7(),
        Some(key) => {
            // Length-prefixing the customer id keeps ("ab", "c") and ("a", "bc") apart.
            let name = format!("{}:{customer_id}{key}", customer_id.len());
            Uuid::new_v5(&ORDER_ID_NAMESPACE, name.as_bytes())
        }
    }
}

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
    use proptest::prelude::*;

    fn request(sku: &str, quantity: i64, customer_id: &str) -> OrderRequest {
        OrderRequest {
            sku: sku.to_owned(),
            quantity,
            customer_id: customer_id.to_owned(),
        }
    }

    #[test]
    fn a_well_formed_order_is_valid() {
        let order = request("FLASH-1", 2, "c-42").validate().expect("valid");
        assert_eq!(order.quantity, 2);
    }

    #[test]
    fn every_broken_field_is_reported_at_once() {
        let errors = request("", 0, "").validate().unwrap_err();
        let fields: Vec<_> = errors.iter().map(|e| e.field).collect();
        assert_eq!(fields, ["sku", "customer_id", "quantity"]);
    }

    #[test]
    fn quantity_bounds_are_inclusive() {
        assert!(request("A", QUANTITY_MIN, "c").validate().is_ok());
        assert!(request("A", QUANTITY_MAX, "c").validate().is_ok());
        assert!(request("A", QUANTITY_MAX + 1, "c").validate().is_err());
        assert!(request("A", -1, "c").validate().is_err());
    }

    #[test]
    fn sku_rejects_spaces_unicode_and_leading_punctuation() {
        for sku in [
            "A B",
            "SKÜ",
            "-A",
            ".A",
            "A/B",
            &"A".repeat(SKU_MAX_LEN + 1),
        ] {
            assert!(request(sku, 1, "c").validate().is_err(), "{sku:?}");
        }
    }

    #[test]
    fn customer_id_rejects_control_characters_and_blank() {
        for id in [
            "  ",
            "a\nb",
            "a\u{0}b",
            &"x".repeat(CUSTOMER_ID_MAX_LEN + 1),
        ] {
            assert!(request("A", 1, id).validate().is_err(), "{id:?}");
        }
        assert!(request("A", 1, "Zoë 42").validate().is_ok());
    }

    #[test]
    fn the_same_idempotency_key_gives_the_same_order_id_per_customer() {
        let a = order_id("c-1", Some("k-1"));
        assert_eq!(a, order_id("c-1", Some("k-1")));
        assert_ne!(a, order_id("c-2", Some("k-1")));
        assert_ne!(order_id("ab", Some("c")), order_id("a", Some("bc")));
        assert_eq!(a.get_version_num(), 5);
    }

    #[test]
    fn orders_without_a_key_get_distinct_time_ordered_ids() {
        let a = order_id("c-1", None);
        let b = order_id("c-1", None);
        assert_ne!(a, b);
        assert_eq!(a.get_version_num(), 7);
    }

    #[test]
    fn idempotency_key_must_be_visible_ascii() {
        assert!(validate_idempotency_key(b"retry-1").is_ok());
        assert!(validate_idempotency_key(b"").is_err());
        assert!(validate_idempotency_key(b"has space").is_err());
        assert!(validate_idempotency_key("é".as_bytes()).is_err());
        assert!(validate_idempotency_key(&[b'k'; IDEMPOTENCY_KEY_MAX_LEN + 1]).is_err());
    }

    #[test]
    fn an_event_round_trips_through_json() {
        let order = request("FLASH-1", 3, "c-7").validate().unwrap();
        let event = OrderEvent::new(order, order_id("c-7", None), OffsetDateTime::now_utc());
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

    proptest! {
        #[test]
        fn decode_never_panics_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = decode_event(Some(&bytes));
        }

        #[test]
        fn valid_orders_survive_publication(sku in "[A-Za-z0-9][A-Za-z0-9._-]{0,63}", qty in 1i64..=100, cust in "[a-z0-9-]{1,40}") {
            let order = request(&sku, qty, &cust).validate().unwrap();
            let event = OrderEvent::new(order, order_id(&cust, None), OffsetDateTime::now_utc());
            prop_assert_eq!(decode_event(Some(&event.to_json())).unwrap(), event);
        }
    }
}
