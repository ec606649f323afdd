//! The order id a request maps to.

use uuid::Uuid;

/// Namespace of the UUIDv5 order ids derived from `Idempotency-Key`.
pub const ORDER_ID_NAMESPACE: Uuid = Uuid::from_u128(0x6a0f_5b1e_3c2d_4e8f_9a1b_7c6d_5e4f_3a2b);

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

#[cfg(test)]
mod tests {
    use super::*;

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
}
