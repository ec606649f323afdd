//! Clients that send their headers and then trickle (or never finish) the body: the body
//! read is bounded in time, and such connections count against the in-flight budget.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::{assert_problem, order, spawn_app_with, test_settings};

/// Sends the headers of a 60-byte order and only the first bytes of its body.
async fn start_slow_body(address: &str) -> TcpStream {
    let host = address.trim_start_matches("http://");
    let mut stream = TcpStream::connect(host).await.expect("connect");
    let head = format!(
        "POST /v1/orders HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n\
         Content-Length: 60\r\n\r\n{{\"sku\":"
    );
    stream.write_all(head.as_bytes()).await.expect("send head");
    stream
}

#[tokio::test]
async fn a_body_that_never_finishes_gets_408_within_the_body_read_timeout() {
    let mut settings = test_settings(1).await;
    settings.ingest.body_read_timeout_ms = 500;
    let app = spawn_app_with(settings).await;
    let mut stream = start_slow_body(&app.address).await;
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), async {
        let mut buffer = [0u8; 4096];
        loop {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    answer.extend_from_slice(&buffer[..n]);
                    if answer.windows(4).any(|w| w == b"\r\n\r\n") {
                        break;
                    }
                }
            }
        }
    })
    .await;
    assert!(read.is_ok(), "no answer within 10 s to a stalled body");
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
}

#[tokio::test]
async fn connections_still_reading_a_body_count_against_the_in_flight_budget() {
    let mut settings = test_settings(1).await;
    settings.ingest.max_in_flight = 1;
    settings.ingest.body_read_timeout_ms = 10_000;
    let app = spawn_app_with(settings).await;
    app.wait_ready_status(200, Duration::from_secs(15)).await;
    let _slow = start_slow_body(&app.address).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let refused = app.post_order(&order("FLASH-1", 1, "c-fast"), None).await;
    assert_problem(refused, 429).await;
}
