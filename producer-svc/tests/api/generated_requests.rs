//! Many generated request bodies, valid and not: the service never answers 5xx, answers
//! 202 exactly for the bodies an independent oracle deems valid, and publishes exactly
//! those.

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{Map, Value};

use crate::helpers::{spawn_app, TestApp};

/// The order rules, written again from the API description rather than reusing the
/// service's validator, so a bug there cannot hide here.
fn oracle_accepts(body: &[u8]) -> bool {
    let Ok(Value::Object(map)) = serde_json::from_slice::<Value>(body) else {
        return false;
    };
    if map.len() != 3 {
        return false;
    }
    let sku_ok = map.get("sku").and_then(Value::as_str).is_some_and(|s| {
        !s.is_empty()
            && s.len() <= 64
            && s.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
    });
    let quantity_ok = map
        .get("quantity")
        .filter(|q| q.is_i64() || q.is_u64())
        .and_then(Value::as_i64)
        .is_some_and(|q| (1..=100).contains(&q));
    let customer_ok = map
        .get("customer_id")
        .and_then(Value::as_str)
        .is_some_and(|c| {
            !c.is_empty()
                && c.len() <= 128
                && !c.chars().any(char::is_control)
                && !c.chars().any(is_bidi_control)
                && c.chars()
                    .any(|ch| !ch.is_whitespace() && !is_default_ignorable(ch))
                && unicode_normalization::is_nfc(c)
        });
    sku_ok && quantity_ok && customer_ok
}

/// Unicode's Bidi_Control property.
fn is_bidi_control(c: char) -> bool {
    matches!(c as u32, 0x061C | 0x200E | 0x200F | 0x202A..=0x202E | 0x2066..=0x2069)
}

/// Unicode's Default_Ignorable_Code_Point property (DerivedCoreProperties.txt).
fn is_default_ignorable(c: char) -> bool {
    matches!(
        c as u32,
        0x00AD
            | 0x034F
            | 0x061C
            | 0x115F..=0x1160
            | 0x17B4..=0x17B5
            | 0x180B..=0x180F
            | 0x200B..=0x200F
            | 0x202A..=0x202E
            | 0x2060..=0x206F
            | 0x3164
            | 0xFE00..=0xFE0F
            | 0xFEFF
            | 0xFFA0
            | 0xFFF0..=0xFFF8
            | 0x1BCA0..=0x1BCA3
            | 0x1D173..=0x1D17A
            | 0xE0000..=0xE0FFF
    )
}

fn field_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        4 => "[A-Za-z0-9][A-Za-z0-9._-]{0,10}".prop_map(Value::from),
        2 => any::<String>().prop_map(Value::from),
        1 => "[ -~]{0,80}".prop_map(Value::from),
        3 => (-5i64..120).prop_map(Value::from),
        1 => any::<i64>().prop_map(Value::from),
        1 => any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(Value::from),
        1 => Just(Value::Null),
        1 => any::<bool>().prop_map(Value::from),
        1 => Just(Value::Array(vec![Value::from(1)])),
    ]
}

fn body() -> impl Strategy<Value = Vec<u8>> {
    let valid = (
        "[A-Za-z0-9][A-Za-z0-9._-]{0,20}",
        1i64..=100,
        "[a-zA-Z0-9 ._@-]{1,40}",
    )
        .prop_map(|(sku, quantity, customer)| {
            serde_json::json!({ "sku": sku, "quantity": quantity, "customer_id": customer })
                .to_string()
                .into_bytes()
        });
    let field_names = prop_oneof![
        Just("sku".to_owned()),
        Just("quantity".to_owned()),
        Just("customer_id".to_owned()),
        "[a-z_]{1,8}",
    ];
    let shaped = proptest::collection::btree_map(field_names, field_value(), 0..5).prop_map(|m| {
        Value::Object(m.into_iter().collect::<Map<String, Value>>())
            .to_string()
            .into_bytes()
    });
    let mutated = (
        "[A-Za-z0-9][A-Za-z0-9._-]{0,10}",
        field_value(),
        field_value(),
    )
        .prop_map(|(sku, quantity, customer)| {
            serde_json::json!({ "sku": sku, "quantity": quantity, "customer_id": customer })
                .to_string()
                .into_bytes()
        });
    let bytes = proptest::collection::vec(any::<u8>(), 0..200);
    prop_oneof![3 => valid, 3 => shaped, 3 => mutated, 1 => bytes]
}

async fn post(app: &TestApp, body: Vec<u8>) -> u16 {
    app.client
        .post(format!("{}/v1/orders", app.address))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .expect("request sent")
        .status()
        .as_u16()
}

#[test]
fn generated_bodies_never_get_5xx_and_only_valid_ones_are_published() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let app = runtime.block_on(spawn_app());
    let accepted = std::cell::Cell::new(0i64);
    let valid_seen = std::cell::Cell::new(0);
    let mut runner = TestRunner::new(Config {
        cases: 400,
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(&body(), |body| {
            let expected_valid = oracle_accepts(&body);
            let shown = String::from_utf8_lossy(&body).into_owned();
            let status = runtime.block_on(post(&app, body));
            prop_assert!(status < 500, "{status} for {shown}");
            if expected_valid {
                valid_seen.set(valid_seen.get() + 1);
                prop_assert_eq!(status, 202, "valid body refused: {}", shown);
                accepted.set(accepted.get() + 1);
            } else {
                prop_assert!(
                    (400..500).contains(&status),
                    "{} for invalid body {}",
                    status,
                    shown
                );
            }
            Ok(())
        })
        .expect("every generated body handled correctly");
    let valid_seen = valid_seen.get();
    assert!(
        valid_seen > 50,
        "the generator produced too few valid bodies ({valid_seen})"
    );
    assert_eq!(
        app.end_offset(),
        accepted.get(),
        "published exactly the accepted orders"
    );
}
