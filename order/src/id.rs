//! The order id a request maps to.

use uuid::Uuid;

use crate::request::ValidOrder;

/// Namespace of the UUIDv5 order ids derived from `Idempotency-Key`.
pub const ORDER_ID_NAMESPACE: Uuid = Uuid::from_u128(0x6a0f_5b1e_3c2d_4e8f_9a1b_7c6d_5e4f_3a2b);

/// The order id: random and time-ordered (UUIDv7) for a plain request, or derived (UUIDv5)
/// from the customer, the `Idempotency-Key` and the order itself (SKU and quantity), so
/// that a retried request maps to the same order and a key reused for a *different* order
/// maps to a different one.
///
/// The order's fields are part of the name because the ingest tier keeps no state: it
/// cannot remember which payload a key was first used with, and the consumer keeps the
/// first record of an `order_id` and drops later ones. With the key alone, a reused key
/// with another body would be answered 202 with the first order's id and then silently
/// never exist. With the payload in the name, every 202 names an order that is applied.
pub fn order_id(order: &ValidOrder, idempotency_key: Option<&str>) -> Uuid {
    match idempotency_key {
        None => Uuid::now_v7(),
        Some(key) => {
            // Length-prefixing the customer id keeps ("ab", "c") and ("a", "bc") apart;
            // neither a key (visible ASCII) nor a SKU can hold a newline, so the fields
            // after the key cannot run into each other either.
            let name = format!(
                "{}:{}{key}\n{}\n{}",
                order.customer_id.len(),
                order.customer_id,
                order.sku,
                order.quantity
            );
            Uuid::new_v5(&ORDER_ID_NAMESPACE, name.as_bytes())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn valid(sku: &str, quantity: u32, customer_id: &str) -> ValidOrder {
        ValidOrder {
            sku: sku.to_owned(),
            quantity,
            customer_id: customer_id.to_owned(),
        }
    }

    #[test]
    fn the_same_idempotency_key_gives_the_same_order_id_per_customer() {
        let order = valid("FLASH-1", 1, "c-1");
        let a = order_id(&order, Some("k-1"));
        assert_eq!(a, order_id(&order, Some("k-1")));
        assert_ne!(a, order_id(&valid("FLASH-1", 1, "c-2"), Some("k-1")));
        assert_ne!(
            order_id(&valid("FLASH-1", 1, "ab"), Some("c")),
            order_id(&valid("FLASH-1", 1, "a"), Some("bc"))
        );
        assert_eq!(a.get_version_num(), 5);
    }

    #[test]
    fn a_reused_idempotency_key_with_a_different_order_gives_a_different_order_id() {
        let first = order_id(&valid("FLASH-1", 1, "c-1"), Some("k-1"));
        assert_ne!(first, order_id(&valid("FLASH-1", 2, "c-1"), Some("k-1")));
        assert_ne!(first, order_id(&valid("FLASH-2", 1, "c-1"), Some("k-1")));
        assert_ne!(
            order_id(&valid("A", 11, "c-1"), Some("k")),
            order_id(&valid("A1", 1, "c-1"), Some("k"))
        );
    }

    #[test]
    fn orders_without_a_key_get_distinct_time_ordered_ids() {
        let order = valid("FLASH-1", 1, "c-1");
        let a = order_id(&order, None);
        let b = order_id(&order, None);
        assert_ne!(a, b);
        assert_eq!(a.get_version_num(), 7);
    }
}
