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
    /// The ordering customer: 1–128 bytes of UTF-8 in Unicode NFC, with at least one
    /// visible character, no control or bidirectional-control characters. Also the Kafka key.
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
    let detail = if customer_id.is_empty() || customer_id.len() > CUSTOMER_ID_MAX_LEN {
        Some(format!("must be 1-{CUSTOMER_ID_MAX_LEN} bytes of UTF-8"))
    } else if customer_id.chars().any(char::is_control) {
        Some("must not contain control characters".to_owned())
    } else if customer_id.chars().any(is_bidi_control) {
        Some("must not contain bidirectional control characters".to_owned())
    } else if customer_id.chars().all(is_invisible) {
        Some(
            "must contain a visible character, not only spaces or zero-width characters".to_owned(),
        )
    } else if !unicode_normalization::is_nfc(customer_id) {
        Some("must be in Unicode Normalization Form C (NFC)".to_owned())
    } else {
        None
    };
    if let Some(detail) = detail {
        errors.push(FieldError {
            field: "customer_id",
            detail,
        });
    }
}

/// The explicit directional formatting characters (Unicode Bidi_Control): they reorder
/// how an id is displayed, so two different ids could look alike.
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// White space or a Default_Ignorable_Code_Point (Unicode DerivedCoreProperties): what
/// renders as nothing, or as blank.
fn is_invisible(c: char) -> bool {
    c.is_whitespace()
        || matches!(
            c,
            '\u{00AD}'
                | '\u{034F}'
                | '\u{061C}'
                | '\u{115F}'..='\u{1160}'
                | '\u{17B4}'..='\u{17B5}'
                | '\u{180B}'..='\u{180F}'
                | '\u{200B}'..='\u{200F}'
                | '\u{202A}'..='\u{202E}'
                | '\u{2060}'..='\u{206F}'
                | '\u{3164}'
                | '\u{FE00}'..='\u{FE0F}'
                | '\u{FEFF}'
                | '\u{FFA0}'
                | '\u{FFF0}'..='\u{FFF8}'
                | '\u{1BCA0}'..='\u{1BCA3}'
                | '\u{1D173}'..='\u{1D17A}'
                | '\u{E0000}'..='\u{E0FFF}'
        )
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
    fn customer_id_needs_a_visible_character_and_no_bidi_controls() {
        for id in [
            "\u{200B}",
            "\u{200B}\u{200C}\u{200D}",
            "\u{FEFF}",
            "\u{202E}\u{2066}",
            " \u{3164} ",
            "c-42\u{202E}",
            "\u{2067}c-42",
        ] {
            assert!(request("A", 1, id).validate().is_err(), "{id:?}");
        }
        // A joiner inside a visible id is part of how some scripts and emoji are written.
        assert!(request("A", 1, "c-\u{1F469}\u{200D}\u{1F4BB}")
            .validate()
            .is_ok());
    }

    #[test]
    fn customer_id_must_be_nfc_so_one_id_has_one_spelling() {
        let nfc = "Zo\u{EB}";
        let nfd = "Zoe\u{308}";
        assert!(request("A", 1, nfc).validate().is_ok());
        let errors = request("A", 1, nfd).validate().unwrap_err();
        assert!(errors[0].detail.contains("NFC"), "{errors:?}");
    }

    #[test]
    fn customer_id_limit_counts_bytes_and_a_character_across_it_is_refused_whole() {
        let fits = format!("{}é", "a".repeat(CUSTOMER_ID_MAX_LEN - 2));
        assert_eq!(fits.len(), CUSTOMER_ID_MAX_LEN);
        assert!(request("A", 1, &fits).validate().is_ok());
        let across = format!("{}é", "a".repeat(CUSTOMER_ID_MAX_LEN - 1));
        assert_eq!(across.len(), CUSTOMER_ID_MAX_LEN + 1);
        assert!(request("A", 1, &across).validate().is_err());
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
