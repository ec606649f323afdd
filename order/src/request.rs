//! What a client sends (`POST /v1/orders` and its `Idempotency-Key`) and the rules every
//! field must pass.

use serde::{Deserialize, Serialize};

pub const SKU_MAX_LEN: usize = 64;
pub const CUSTOMER_ID_MAX_LEN: usize = 128;
pub const IDEMPOTENCY_KEY_MAX_LEN: usize = 255;
pub const QUANTITY_MIN: i64 = 1;
pub const QUANTITY_MAX: i64 = 100;

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

#[cfg(test)]
mod tests {
    use super::*;

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
    fn idempotency_key_must_be_visible_ascii() {
        assert!(validate_idempotency_key(b"retry-1").is_ok());
        assert!(validate_idempotency_key(b"").is_err());
        assert!(validate_idempotency_key(b"has space").is_err());
        assert!(validate_idempotency_key("é".as_bytes()).is_err());
        assert!(validate_idempotency_key(&[b'k'; IDEMPOTENCY_KEY_MAX_LEN + 1]).is_err());
    }
}
