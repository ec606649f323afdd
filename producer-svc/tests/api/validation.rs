//! Bad input gets a clear 4xx problem and changes nothing: the topic's end offsets do
//! not move.

use serde_json::json;

use crate::helpers::{assert_problem, order, spawn_app, TestApp};

async fn post_raw(
    app: &TestApp,
    content_type: Option<&str>,
    body: impl Into<reqwest::Body>,
) -> reqwest::Response {
    let mut request = app
        .client
        .post(format!("{}/v1/orders", app.address))
        .body(body);
    if let Some(ct) = content_type {
        request = request.header("content-type", ct);
    }
    request.send().await.unwrap()
}

#[tokio::test]
async fn every_bad_input_gets_its_4xx_problem_and_nothing_is_published() {
    let app = spawn_app().await;
    let valid = order("FLASH-1", 1, "c-1").to_string();

    let cases: Vec<(&str, Option<&str>, Vec<u8>, u16)> = vec![
        (
            "truncated JSON",
            Some("application/json"),
            br#"{"sku":"A","#.to_vec(),
            400,
        ),
        (
            "not JSON at all",
            Some("application/json"),
            b"sku=A&quantity=1".to_vec(),
            400,
        ),
        ("empty body", Some("application/json"), Vec::new(), 400),
        (
            "trailing garbage",
            Some("application/json"),
            format!("{valid} x").into_bytes(),
            400,
        ),
        (
            "invalid UTF-8",
            Some("application/json"),
            b"{\"sku\":\"\xff\",\"quantity\":1,\"customer_id\":\"c\"}".to_vec(),
            400,
        ),
        (
            "form content type",
            Some("application/x-www-form-urlencoded"),
            valid.clone().into_bytes(),
            415,
        ),
        (
            "text content type",
            Some("text/plain"),
            valid.clone().into_bytes(),
            415,
        ),
        ("no content type", None, valid.clone().into_bytes(), 415),
        (
            "body over the limit",
            Some("application/json"),
            format!("{{\"sku\":\"{}\"}}", "A".repeat(10_000)).into_bytes(),
            413,
        ),
        (
            "quantity zero",
            Some("application/json"),
            order("FLASH-1", 0, "c").to_string().into_bytes(),
            422,
        ),
        (
            "quantity too large",
            Some("application/json"),
            order("FLASH-1", 101, "c").to_string().into_bytes(),
            422,
        ),
        (
            "quantity negative",
            Some("application/json"),
            order("FLASH-1", -3, "c").to_string().into_bytes(),
            422,
        ),
        (
            "quantity fractional",
            Some("application/json"),
            br#"{"sku":"A","quantity":1.5,"customer_id":"c"}"#.to_vec(),
            422,
        ),
        (
            "quantity as string",
            Some("application/json"),
            br#"{"sku":"A","quantity":"1","customer_id":"c"}"#.to_vec(),
            422,
        ),
        (
            "quantity beyond i64",
            Some("application/json"),
            br#"{"sku":"A","quantity":99999999999999999999,"customer_id":"c"}"#.to_vec(),
            422,
        ),
        (
            "missing sku",
            Some("application/json"),
            br#"{"quantity":1,"customer_id":"c"}"#.to_vec(),
            422,
        ),
        (
            "null sku",
            Some("application/json"),
            br#"{"sku":null,"quantity":1,"customer_id":"c"}"#.to_vec(),
            422,
        ),
        (
            "unknown field",
            Some("application/json"),
            br#"{"sku":"A","quantity":1,"customer_id":"c","price":0}"#.to_vec(),
            422,
        ),
        (
            "duplicate field",
            Some("application/json"),
            br#"{"sku":"A","sku":"B","quantity":1,"customer_id":"c"}"#.to_vec(),
            422,
        ),
        (
            "array instead of object",
            Some("application/json"),
            b"[1,2,3]".to_vec(),
            422,
        ),
        (
            "sku with spaces",
            Some("application/json"),
            order("FLASH 1", 1, "c").to_string().into_bytes(),
            422,
        ),
        (
            "sku too long",
            Some("application/json"),
            order(&"A".repeat(65), 1, "c").to_string().into_bytes(),
            422,
        ),
        (
            "blank customer",
            Some("application/json"),
            order("A", 1, "   ").to_string().into_bytes(),
            422,
        ),
        (
            "customer with newline",
            Some("application/json"),
            order("A", 1, "a\nb").to_string().into_bytes(),
            422,
        ),
    ];
    for (name, content_type, body, status) in cases {
        let response = post_raw(&app, content_type, body).await;
        let got = response.status().as_u16();
        assert_eq!(got, status, "case {name:?}: expected {status}, got {got}");
        assert_problem(response, status).await;
    }
    assert_eq!(app.end_offset(), 0, "no bad input reached the topic");
}

#[tokio::test]
async fn a_chunked_body_over_the_limit_is_413_without_content_length() {
    let app = spawn_app().await;
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        (0..100).map(|_| Ok(vec![b' '; 1024])).collect();
    let body = reqwest::Body::wrap_stream(futures::stream::iter(chunks));
    let response = post_raw(&app, Some("application/json"), body).await;
    assert_problem(response, 413).await;
    assert_eq!(app.end_offset(), 0);
}

#[tokio::test]
async fn invalid_idempotency_keys_are_400_and_nothing_is_published() {
    let app = spawn_app().await;
    let body = order("FLASH-1", 1, "c-1").to_string();
    for key in ["has space", &"k".repeat(256), ""] {
        let response = app
            .client
            .post(format!("{}/v1/orders", app.address))
            .header("content-type", "application/json")
            .header("Idempotency-Key", key)
            .body(body.clone())
            .send()
            .await
            .unwrap();
        let problem = assert_problem(response, 400).await;
        assert_eq!(
            problem["errors"][0]["field"], "Idempotency-Key",
            "{problem}"
        );
    }
    let twice = app
        .client
        .post(format!("{}/v1/orders", app.address))
        .header("content-type", "application/json")
        .header("Idempotency-Key", "a")
        .header("Idempotency-Key", "b")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_problem(twice, 400).await;
    assert_eq!(app.end_offset(), 0);
}

#[tokio::test]
async fn a_validation_problem_names_every_broken_field() {
    let app = spawn_app().await;
    let response = app
        .post_order(&json!({"sku": "", "quantity": 0, "customer_id": ""}), None)
        .await;
    let problem = assert_problem(response, 422).await;
    let fields: Vec<&str> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["sku", "customer_id", "quantity"]);
}

#[tokio::test]
async fn unknown_routes_are_404_and_wrong_methods_are_405_with_allow() {
    let app = spawn_app().await;
    assert_problem(app.get("/v2/orders").await, 404).await;
    assert_problem(app.get("/v1/orders/../../etc/passwd").await, 404).await;

    let get_orders = app.get("/v1/orders").await;
    assert_eq!(get_orders.headers()["allow"], "POST");
    assert_problem(get_orders, 405).await;

    for method in [
        reqwest::Method::PUT,
        reqwest::Method::DELETE,
        reqwest::Method::PATCH,
    ] {
        let response = app
            .client
            .request(method, format!("{}/v1/orders", app.address))
            .send()
            .await
            .unwrap();
        assert_problem(response, 405).await;
    }
    let post_health = app
        .client
        .post(format!("{}/healthz", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(post_health.headers()["allow"], "GET");
    assert_problem(post_health, 405).await;
    assert_eq!(app.end_offset(), 0);
}
