//! Well-formed requests with hostile content: JSON edge cases, numbers that are almost
//! integers, invisible and unnormalized customer ids, a limit inside a multibyte
//! character, and trace headers that are huge or malformed. Each gets its specific 4xx;
//! what is accepted is published once, with bounded trace headers.

use rdkafka::message::Headers;
use rdkafka::Message;

use crate::helpers::{assert_problem, order, spawn_app, TestApp};

async fn post(
    app: &TestApp,
    body: impl Into<reqwest::Body>,
    headers: &[(&str, &str)],
) -> reqwest::Response {
    let mut request = app
        .client
        .post(format!("{}/v1/orders", app.address))
        .header("content-type", "application/json")
        .body(body);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.expect("request sent")
}

fn body_with_quantity(token: &str) -> String {
    format!(r#"{{"sku":"FLASH-1","quantity":{token},"customer_id":"c-q"}}"#)
}

fn body_with_customer(json_string: &str) -> String {
    format!(r#"{{"sku":"FLASH-1","quantity":1,"customer_id":{json_string}}}"#)
}

#[tokio::test]
async fn hostile_json_gets_its_specific_4xx_and_nothing_is_published() {
    let app = spawn_app().await;
    let valid = order("FLASH-1", 1, "c-1").to_string();
    let deep_array = format!("{}{}", "[".repeat(1500), "]".repeat(1500));
    let deep_field = format!(
        r#"{{"sku":"FLASH-1","quantity":{}1{},"customer_id":"c"}}"#,
        "[".repeat(1000),
        "]".repeat(1000)
    );
    let zero_width_only = serde_json::to_string("\u{200B}\u{200C}\u{200D}\u{2060}").unwrap();
    let bidi_only = serde_json::to_string("\u{202E}\u{2066}\u{2069}").unwrap();
    let bidi_spoof = serde_json::to_string("c-42\u{202E}24-c").unwrap();
    let nfd = serde_json::to_string("Zoe\u{0308}").unwrap();
    let across_limit = serde_json::to_string(&format!("{}é", "a".repeat(127))).unwrap();
    let cases: Vec<(&str, Vec<u8>, u16)> = vec![
        (
            "UTF-8 BOM before the body",
            [b"\xEF\xBB\xBF".as_slice(), valid.as_bytes()].concat(),
            400,
        ),
        (
            "invalid UTF-8 in a string",
            b"{\"sku\":\"FLASH-1\",\"quantity\":1,\"customer_id\":\"\xc3\x28\"}".to_vec(),
            400,
        ),
        (
            "overlong UTF-8 encoding of '/'",
            b"{\"sku\":\"FLASH-1\",\"quantity\":1,\"customer_id\":\"\xc0\xaf\"}".to_vec(),
            400,
        ),
        (
            "raw NUL byte in a string",
            b"{\"sku\":\"FLASH-1\",\"quantity\":1,\"customer_id\":\"a\x00b\"}".to_vec(),
            400,
        ),
        (
            "raw NUL byte between tokens",
            b"{\"sku\":\"FLASH-1\",\x00\"quantity\":1,\"customer_id\":\"c\"}".to_vec(),
            400,
        ),
        (
            r#"escaped \u0000 in customer_id"#,
            body_with_customer(r#""a\u0000b""#).into_bytes(),
            422,
        ),
        (
            r#"escaped \u0000 in sku"#,
            br#"{"sku":"A\u0000","quantity":1,"customer_id":"c"}"#.to_vec(),
            422,
        ),
        (
            "lone high surrogate",
            body_with_customer(r#""\ud800""#).into_bytes(),
            400,
        ),
        (
            "lone low surrogate",
            body_with_customer(r#""x\udc00y""#).into_bytes(),
            400,
        ),
        (
            "reversed surrogate pair",
            body_with_customer(r#""\udc00\ud800""#).into_bytes(),
            400,
        ),
        ("quantity 1e0", body_with_quantity("1e0").into_bytes(), 422),
        ("quantity 1E0", body_with_quantity("1E0").into_bytes(), 422),
        ("quantity -0", body_with_quantity("-0").into_bytes(), 422),
        (
            "quantity 100.0",
            body_with_quantity("100.0").into_bytes(),
            422,
        ),
        (
            "quantity 1.0e2",
            body_with_quantity("1.0e2").into_bytes(),
            422,
        ),
        (
            "quantity 1e400",
            body_with_quantity("1e400").into_bytes(),
            400,
        ),
        (
            "quantity beyond u64",
            body_with_quantity("184467440737095516160").into_bytes(),
            422,
        ),
        (
            "quantity most negative i64",
            body_with_quantity("-9223372036854775808").into_bytes(),
            422,
        ),
        (
            "quantity with leading zero",
            body_with_quantity("01").into_bytes(),
            400,
        ),
        (
            "quantity with plus sign",
            body_with_quantity("+1").into_bytes(),
            400,
        ),
        ("quantity NaN", body_with_quantity("NaN").into_bytes(), 400),
        ("quantity hex", body_with_quantity("0x1").into_bytes(), 400),
        ("nesting 1500 deep", deep_array.into_bytes(), 422),
        ("quantity nested 1000 deep", deep_field.into_bytes(), 422),
        (
            "duplicate quantity key",
            br#"{"sku":"FLASH-1","quantity":1,"quantity":100,"customer_id":"c"}"#.to_vec(),
            422,
        ),
        (
            "duplicate customer_id key",
            br#"{"sku":"FLASH-1","quantity":1,"customer_id":"a","customer_id":"b"}"#.to_vec(),
            422,
        ),
        (
            "customer_id of zero-width characters only",
            body_with_customer(&zero_width_only).into_bytes(),
            422,
        ),
        (
            "customer_id of bidi controls only",
            body_with_customer(&bidi_only).into_bytes(),
            422,
        ),
        (
            "customer_id with a right-to-left override",
            body_with_customer(&bidi_spoof).into_bytes(),
            422,
        ),
        (
            "customer_id in NFD",
            body_with_customer(&nfd).into_bytes(),
            422,
        ),
        (
            "customer_id whose 128-byte limit falls inside 'é'",
            body_with_customer(&across_limit).into_bytes(),
            422,
        ),
        (
            "customer_id as an object",
            body_with_customer(r#"{"id":"c"}"#).into_bytes(),
            422,
        ),
        ("top-level string", br#""FLASH-1""#.to_vec(), 422),
        ("top-level null", b"null".to_vec(), 422),
    ];
    let mut failures = Vec::new();
    for (name, body, status) in cases {
        let response = post(&app, body, &[]).await;
        let got = response.status().as_u16();
        if got != status {
            let text = response.text().await.unwrap_or_default();
            failures.push(format!("{name}: expected {status}, got {got}: {text}"));
            continue;
        }
        let problem = assert_problem(response, status).await;
        assert!(
            problem["detail"].as_str().is_some_and(|d| d.len() < 2048),
            "{name}: problem detail should be short: {problem}"
        );
    }
    assert!(failures.is_empty(), "{failures:#?}");
    assert_eq!(app.end_offset(), 0, "no hostile body reached the topic");
    let response = app.post_order(&order("FLASH-1", 1, "c-after"), None).await;
    assert_eq!(response.status().as_u16(), 202);
    assert_eq!(app.records(1).len(), 1);
}

#[tokio::test]
async fn a_customer_id_limit_counts_bytes_and_a_multibyte_character_at_the_limit_is_kept_whole() {
    let app = spawn_app().await;
    let fits = format!("{}é", "a".repeat(126));
    assert_eq!(fits.len(), 128);
    let response = app.post_order(&order("FLASH-1", 1, &fits), None).await;
    assert_eq!(response.status().as_u16(), 202);
    let emoji = "😀".repeat(32);
    assert_eq!(emoji.len(), 128);
    let response = app.post_order(&order("FLASH-1", 1, &emoji), None).await;
    assert_eq!(response.status().as_u16(), 202);
    let one_more = format!("a{emoji}");
    assert_problem(
        app.post_order(&order("FLASH-1", 1, &one_more), None).await,
        422,
    )
    .await;
    let records = app.records(2);
    let keys: Vec<&[u8]> = records.iter().filter_map(|r| r.key()).collect();
    assert!(keys.contains(&fits.as_bytes()), "key cut or changed");
    assert!(keys.contains(&emoji.as_bytes()), "key cut or changed");
    assert_eq!(app.end_offset(), 2);
}

#[tokio::test]
async fn one_customer_id_has_one_spelling_so_an_idempotency_key_cannot_be_split() {
    let app = spawn_app().await;
    let nfc = "Zo\u{EB}-7";
    let nfd = "Zoe\u{0308}-7";
    let first = app.post_order(&order("FLASH-1", 1, nfc), Some("k-1")).await;
    assert_eq!(first.status().as_u16(), 202);
    let first: serde_json::Value = first.json().await.unwrap();
    let again = app.post_order(&order("FLASH-1", 1, nfc), Some("k-1")).await;
    let again: serde_json::Value = again.json().await.unwrap();
    assert_eq!(
        first["order_id"], again["order_id"],
        "a retry maps to the same order"
    );
    let problem = assert_problem(
        app.post_order(&order("FLASH-1", 1, nfd), Some("k-1")).await,
        422,
    )
    .await;
    assert!(
        problem["errors"][0]["detail"]
            .as_str()
            .is_some_and(|d| d.contains("NFC")),
        "{problem}"
    );
    assert_eq!(app.end_offset(), 2, "the two NFC copies only");
}

/// The headers a published record may carry, and nothing else.
const RECORD_HEADERS: [&str; 4] = ["traceparent", "tracestate", "content-type", "schema"];

fn is_w3c_traceparent(value: &str) -> bool {
    let parts: Vec<&str> = value.split('-').collect();
    let hex = |s: &str, n: usize| {
        s.len() == n
            && s.bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
    };
    parts.len() == 4
        && parts[0] == "00"
        && hex(parts[1], 32)
        && parts[1] != "0".repeat(32)
        && hex(parts[2], 16)
        && parts[2] != "0".repeat(16)
        && hex(parts[3], 2)
}

#[tokio::test]
async fn malformed_or_huge_trace_headers_never_fail_an_order_nor_reach_the_record_unbounded() {
    let app = spawn_app().await;
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let valid_parent = format!("00-{trace_id}-00f067aa0ba902b7-01");
    let big_members: Vec<String> = (0..32)
        .map(|i| format!("v{i}={}", "x".repeat(250)))
        .collect();
    let big_state = big_members.join(",");
    let many_members: Vec<String> = (0..1500).map(|i| format!("k{i}=v")).collect();
    let many_state = many_members.join(",");
    // (what, request headers, whether the client's trace is continued)
    type TraceCase<'a> = (&'a str, Vec<(&'a str, String)>, bool);
    let cases: Vec<TraceCase> = vec![
        (
            "garbage traceparent",
            vec![("traceparent", "garbage".to_owned())],
            false,
        ),
        (
            "8 KiB traceparent",
            vec![("traceparent", "0".repeat(8192))],
            false,
        ),
        (
            "all-zero trace id",
            vec![(
                "traceparent",
                format!("00-{}-00f067aa0ba902b7-01", "0".repeat(32)),
            )],
            false,
        ),
        (
            "version ff",
            vec![("traceparent", format!("ff-{trace_id}-00f067aa0ba902b7-01"))],
            false,
        ),
        (
            "uppercase hex",
            vec![(
                "traceparent",
                format!("00-{}-00F067AA0BA902B7-01", trace_id.to_uppercase()),
            )],
            false,
        ),
        (
            // The first one counts, like any repeated single-valued header here.
            "two traceparents",
            vec![
                ("traceparent", valid_parent.clone()),
                (
                    "traceparent",
                    format!("00-{}-00f067aa0ba902b7-01", "a".repeat(32)),
                ),
            ],
            true,
        ),
        (
            "valid parent, 8 KiB tracestate of 32 members",
            vec![
                ("traceparent", valid_parent.clone()),
                ("tracestate", big_state),
            ],
            true,
        ),
        (
            "valid parent, tracestate of 1500 members",
            vec![
                ("traceparent", valid_parent.clone()),
                ("tracestate", many_state),
            ],
            true,
        ),
        (
            "valid parent, malformed tracestate",
            vec![
                ("traceparent", valid_parent.clone()),
                ("tracestate", "=,==,a=b=c, ,k\tv,UPPER=1".to_owned()),
            ],
            true,
        ),
        (
            "tracestate without traceparent",
            vec![("tracestate", "a=b".to_owned())],
            false,
        ),
    ];
    let mut expected_keys = Vec::new();
    for (i, (name, headers, keeps_trace)) in cases.iter().enumerate() {
        let customer = format!("c-trace-{i}");
        let mut request = app
            .client
            .post(format!("{}/v1/orders", app.address))
            .header("content-type", "application/json")
            .body(order("FLASH-1", 1, &customer).to_string());
        for (key, value) in headers {
            request = request.header(*key, value.as_str());
        }
        let response = request.send().await.expect("sent");
        assert_eq!(
            response.status().as_u16(),
            202,
            "{name}: a trace header failed the order"
        );
        expected_keys.push((customer, *name, *keeps_trace));
    }
    // Trace headers past the 16 KiB head limit: the request is refused, not the trace
    // dropped, whether actix-http's own 128 KiB check or the service's limit catches it.
    for size in [20 * 1024, 140 * 1024] {
        let response = app
            .client
            .post(format!("{}/v1/orders", app.address))
            .header("content-type", "application/json")
            .header("tracestate", format!("a={}", "x".repeat(size)))
            .body(order("FLASH-1", 1, "c-trace-huge").to_string())
            .send()
            .await
            .expect("sent");
        assert_eq!(
            response.status().as_u16(),
            431,
            "tracestate of {size} bytes"
        );
    }

    let records = app.records(cases.len());
    assert_eq!(records.len(), cases.len());
    assert_eq!(
        app.end_offset(),
        cases.len() as i64,
        "the 431 was not published"
    );
    for (customer, name, keeps_trace) in expected_keys {
        let record = records
            .iter()
            .find(|r| r.key() == Some(customer.as_bytes()))
            .unwrap_or_else(|| panic!("{name}: no record"));
        let headers = record.headers().expect("record headers");
        let keys: Vec<&str> = headers.iter().map(|h| h.key).collect();
        assert!(
            keys.iter().all(|k| RECORD_HEADERS.contains(k)),
            "{name}: {keys:?}"
        );
        assert!(keys.len() <= RECORD_HEADERS.len(), "{name}: {keys:?}");
        let total: usize = headers
            .iter()
            .map(|h| h.key.len() + h.value.map_or(0, <[u8]>::len))
            .sum();
        assert!(total <= 1024, "{name}: {total} bytes of headers");
        let traceparent =
            common::trace_context::header_str(headers, "traceparent").expect("traceparent");
        assert!(is_w3c_traceparent(traceparent), "{name}: {traceparent}");
        assert_eq!(
            traceparent.contains(trace_id),
            keeps_trace,
            "{name}: trace continued = {}, expected {keeps_trace}: {traceparent}",
            traceparent.contains(trace_id)
        );
        if let Some(state) = common::trace_context::header_str(headers, "tracestate") {
            assert!(
                state.len() <= common::trace_context::TRACESTATE_MAX_BYTES,
                "{name}: {}",
                state.len()
            );
        }
    }
}
