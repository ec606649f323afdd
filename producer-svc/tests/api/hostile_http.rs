//! Hostile HTTP, byte for byte over TCP: malformed heads, smuggling-shaped framing,
//! oversized and slow heads, bodies that never end, pipelining, HTTP/1.0. Each gets a
//! 4xx or a closed connection within a bound derived from the configured timeouts,
//! nothing of it is published, and valid orders sent during and after still get 202.

use std::time::Duration;

use crate::helpers::{order, spawn_app_with, test_settings, TestApp};
use crate::raw_http::{post_order, Ending, RawConnection};

/// Short timeouts, so the liveness bounds below stay short too.
const HEAD_TIMEOUT_MS: u64 = 1_000;
const BODY_TIMEOUT_MS: u64 = 1_000;
const KEEP_ALIVE_SECS: u64 = 1;

async fn hostile_app() -> TestApp {
    let mut settings = test_settings(1).await;
    settings.http.request_head_timeout_ms = HEAD_TIMEOUT_MS;
    settings.http.keep_alive_secs = KEEP_ALIVE_SECS;
    settings.ingest.body_read_timeout_ms = BODY_TIMEOUT_MS;
    let app = spawn_app_with(settings).await;
    app.wait_ready_status(200, Duration::from_secs(15)).await;
    app
}

fn host(app: &TestApp) -> String {
    app.address.trim_start_matches("http://").to_owned()
}

/// Liveness bound for an answer that depends on a timeout: twice the timeout plus a
/// second of slack for a loaded machine. Not a speed assertion.
fn bound(timeout_ms: u64) -> Duration {
    Duration::from_millis(2 * timeout_ms + 1_000)
}

/// An answer that needs no timer: generous, it only proves the server did not hang.
const PROMPT: Duration = Duration::from_secs(10);

async fn assert_valid_order_accepted(app: &TestApp, customer: &str) {
    let response = app.post_order(&order("FLASH-1", 1, customer), None).await;
    assert_eq!(response.status().as_u16(), 202, "valid order refused");
}

struct Case {
    name: &'static str,
    bytes: Vec<u8>,
    /// Statuses that are right for it; `closed_ok` also allows a close without answer.
    statuses: &'static [u16],
    closed_ok: bool,
}

fn malformed_cases(host: &str) -> Vec<Case> {
    let valid = order("FLASH-1", 1, "c-smuggled").to_string();
    let mut cases = vec![
        Case {
            name: "not HTTP at all",
            bytes: b"HELLO THERE\r\n\r\n".to_vec(),
            statuses: &[400],
            closed_ok: false,
        },
        Case {
            name: "NUL byte in the request line",
            bytes: format!("POST /v1/orders\0 HTTP/1.1\r\nHost: {host}\r\n\r\n").into_bytes(),
            statuses: &[400],
            closed_ok: false,
        },
        Case {
            name: "NUL byte in a header value",
            bytes: post_order(host, &valid, "X-Evil: a\0b\r\n"),
            statuses: &[400],
            closed_ok: false,
        },
        Case {
            name: "invalid UTF-8 in a header name",
            bytes: [
                format!("POST /v1/orders HTTP/1.1\r\nHost: {host}\r\nX-").into_bytes(),
                b"\xff\xfe: v\r\n\r\n".to_vec(),
            ]
            .concat(),
            statuses: &[400],
            closed_ok: false,
        },
        Case {
            name: "header line without a colon",
            bytes: post_order(host, &valid, "NoColonHere\r\n"),
            statuses: &[400],
            closed_ok: false,
        },
        Case {
            name: "obsolete line folding",
            bytes: post_order(host, &valid, "X-Folded: a\r\n b\r\n"),
            statuses: &[400],
            closed_ok: false,
        },
        Case {
            name: "HTTP/2 preface on an HTTP/1 port",
            bytes: b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec(),
            statuses: &[400],
            closed_ok: false,
        },
        Case {
            name: "unknown HTTP version",
            bytes: format!("POST /v1/orders HTTP/7.3\r\nHost: {host}\r\n\r\n").into_bytes(),
            statuses: &[400],
            closed_ok: false,
        },
        Case {
            name: "Content-Length beyond u64",
            bytes: format!(
                "POST /v1/orders HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n\
                 Content-Length: 99999999999999999999999999\r\n\r\n{valid}"
            )
            .into_bytes(),
            statuses: &[400],
            closed_ok: false,
        },
        Case {
            name: "Content-Length of a terabyte",
            bytes: format!(
                "POST /v1/orders HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n\
                 Content-Length: 1000000000000\r\n\r\n{valid}"
            )
            .into_bytes(),
            statuses: &[413],
            closed_ok: false,
        },
        Case {
            name: "negative Content-Length",
            bytes: format!(
                "POST /v1/orders HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n\
                 Content-Length: -1\r\n\r\n{valid}"
            )
            .into_bytes(),
            statuses: &[400],
            closed_ok: false,
        },
        Case {
            name: "two different Content-Length headers",
            bytes: format!(
                "POST /v1/orders HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n\
                 Content-Length: 3\r\nContent-Length: {}\r\n\r\n{valid}",
                valid.len()
            )
            .into_bytes(),
            statuses: &[400],
            closed_ok: false,
        },
        Case {
            name: "Content-Length together with Transfer-Encoding: chunked",
            bytes: format!(
                "POST /v1/orders HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n\
                 Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n{valid}\r\n0\r\n\r\n",
                valid.len()
            )
            .into_bytes(),
            statuses: &[400],
            closed_ok: false,
        },
        Case {
            name: "Transfer-Encoding other than chunked",
            bytes: format!(
                "POST /v1/orders HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n\
                 Transfer-Encoding: gzip\r\n\r\n{valid}"
            )
            .into_bytes(),
            statuses: &[400],
            closed_ok: false,
        },
        Case {
            name: "chunk size that is not hex",
            bytes: format!(
                "POST /v1/orders HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n\
                 Transfer-Encoding: chunked\r\n\r\nzz\r\n{valid}\r\n0\r\n\r\n"
            )
            .into_bytes(),
            statuses: &[400],
            closed_ok: false,
        },
        Case {
            name: "chunk size beyond u64",
            bytes: format!(
                "POST /v1/orders HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n\
                 Transfer-Encoding: chunked\r\n\r\nffffffffffffffffffffffff\r\n{valid}\r\n0\r\n\r\n"
            )
            .into_bytes(),
            statuses: &[400],
            closed_ok: false,
        },
    ];
    // A single header of 200 KiB: past actix's 128 KiB head buffer.
    cases.push(Case {
        name: "one overlong header",
        bytes: post_order(
            host,
            &valid,
            &format!("X-Long: {}\r\n", "a".repeat(200 * 1024)),
        ),
        statuses: &[431],
        closed_ok: false,
    });
    // Under the parser's 96 slots, over the service's 16 KiB head limit.
    let wide: String = (0..80)
        .map(|i| format!("X-W{i}: {}\r\n", "w".repeat(250)))
        .collect();
    cases.push(Case {
        name: "eighty headers of 250 bytes",
        bytes: post_order(host, &valid, &wide),
        statuses: &[431],
        closed_ok: false,
    });
    // More header lines than the parser has slots for (96).
    let many: String = (0..200).map(|i| format!("X-H{i}: v\r\n")).collect();
    cases.push(Case {
        name: "two hundred headers",
        bytes: post_order(host, &valid, &many),
        statuses: &[431],
        closed_ok: false,
    });
    cases
}

#[tokio::test]
async fn malformed_http_gets_a_4xx_or_a_closed_connection_and_nothing_is_published() {
    let app = hostile_app().await;
    let host = host(&app);
    let mut failures = Vec::new();
    for case in malformed_cases(&host) {
        let mut connection = RawConnection::open(&app.address).await;
        connection.send(&case.bytes).await;
        let ending = connection.ending(PROMPT).await;
        let fine = match ending {
            Ending::Status(status) => case.statuses.contains(&status),
            Ending::Closed => case.closed_ok,
            Ending::StillOpen => false,
        };
        if !fine {
            failures.push(format!(
                "{}: got {ending:?}, expected one of {:?}{}",
                case.name,
                case.statuses,
                if case.closed_ok { " or a close" } else { "" }
            ));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
    assert_valid_order_accepted(&app, "c-after-malformed").await;
    let records = app.records(1);
    assert_eq!(records.len(), 1, "only the valid order reached the topic");
    assert_eq!(app.end_offset(), 1);
}

#[tokio::test]
async fn a_chunked_body_that_never_ends_gets_408_or_413_within_its_bound() {
    let app = hostile_app().await;
    let host = host(&app);
    let head = format!(
        "POST /v1/orders HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n\
         Transfer-Encoding: chunked\r\n\r\n"
    );

    // Trickling: one small chunk every 200 ms, never the last chunk.
    let mut trickle = RawConnection::open(&app.address).await;
    trickle.send(head.as_bytes()).await;
    let trickling = tokio::spawn(async move {
        let started = tokio::time::Instant::now();
        loop {
            if !trickle.send(b"1\r\n \r\n").await {
                break;
            }
            if let Ok(response) = trickle.response(Duration::from_millis(200)).await {
                return (Some(response.status), started.elapsed());
            }
            if started.elapsed() > Duration::from_secs(30) {
                break;
            }
        }
        (
            trickle.response(PROMPT).await.ok().map(|r| r.status),
            started.elapsed(),
        )
    });
    // Meanwhile the service serves others.
    assert_valid_order_accepted(&app, "c-during-trickle").await;
    let (status, took) = trickling.await.expect("trickle task");
    assert_eq!(status, Some(408), "trickled chunked body");
    assert!(took <= bound(BODY_TIMEOUT_MS), "408 after {took:?}");

    // Flooding: chunks as fast as the socket takes them, never the last one.
    let mut flood = RawConnection::open(&app.address).await;
    flood.send(head.as_bytes()).await;
    let chunk = format!("400\r\n{}\r\n", " ".repeat(1024));
    let mut sent = 0usize;
    while sent < 64 * 1024 && flood.send(chunk.as_bytes()).await {
        sent += 1024;
    }
    assert_eq!(
        flood.ending(PROMPT).await,
        Ending::Status(413),
        "flooded chunked body"
    );

    assert_valid_order_accepted(&app, "c-after-chunks").await;
    assert_eq!(app.records(2).len(), 2);
    assert_eq!(
        app.end_offset(),
        2,
        "only the two valid orders were published"
    );
}

#[tokio::test]
async fn slowloris_headers_are_cut_off_after_the_head_timeout_while_others_are_served() {
    let app = hostile_app().await;
    let host = host(&app);
    let head = format!(
        "POST /v1/orders HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n\
         X-Slow: {}\r\n\r\n",
        "s".repeat(60)
    );
    let mut slow = RawConnection::open(&app.address).await;
    let slowloris = tokio::spawn(async move {
        let started = tokio::time::Instant::now();
        for byte in head.as_bytes() {
            if !slow.send(std::slice::from_ref(byte)).await {
                break;
            }
            // One byte a second, reading in between: the answer or the close ends it.
            match slow.response(Duration::from_secs(1)).await {
                Ok(response) => return (Ending::Status(response.status), started.elapsed()),
                Err(Ending::Closed) => return (Ending::Closed, started.elapsed()),
                Err(_) => {}
            }
        }
        (Ending::StillOpen, started.elapsed())
    });
    for i in 0..3 {
        assert_valid_order_accepted(&app, &format!("c-during-slowloris-{i}")).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let (ending, took) = slowloris.await.expect("slowloris task");
    assert!(
        matches!(ending, Ending::Status(408) | Ending::Closed),
        "slowloris ended with {ending:?}"
    );
    assert!(
        took <= bound(HEAD_TIMEOUT_MS) + Duration::from_secs(1),
        "slowloris held its connection for {took:?}"
    );
    assert_eq!(app.records(3).len(), 3);
    assert_eq!(app.end_offset(), 3);
}

#[tokio::test]
async fn pipelined_requests_are_answered_in_order_and_only_the_valid_ones_published() {
    let app = hostile_app().await;
    let host = host(&app);
    let mut pipeline = Vec::new();
    pipeline.extend(post_order(
        &host,
        &order("FLASH-1", 1, "c-pipe-1").to_string(),
        "",
    ));
    pipeline.extend(post_order(&host, r#"{"sku":"FLASH-1","#, ""));
    pipeline.extend(post_order(
        &host,
        &order("FLASH-1", 0, "c-pipe-2").to_string(),
        "",
    ));
    pipeline.extend(post_order(
        &host,
        &order("FLASH-1", 2, "c-pipe-3").to_string(),
        "",
    ));
    let mut connection = RawConnection::open(&app.address).await;
    connection.send(&pipeline).await;
    let mut statuses = Vec::new();
    for _ in 0..4 {
        statuses.push(connection.ending(PROMPT).await);
    }
    assert_eq!(
        statuses,
        [
            Ending::Status(202),
            Ending::Status(400),
            Ending::Status(422),
            Ending::Status(202)
        ]
    );
    let records = app.records(2);
    let customers: Vec<_> = records
        .iter()
        .map(|r| String::from_utf8_lossy(rdkafka::Message::key(r).unwrap_or_default()).into_owned())
        .collect();
    assert_eq!(customers, ["c-pipe-1", "c-pipe-3"]);
    assert_eq!(app.end_offset(), 2);
}

#[tokio::test]
async fn http_1_0_gets_its_answer_and_the_connection_closes() {
    let app = hostile_app().await;
    let host = host(&app);
    let body = order("FLASH-1", 1, "c-http10").to_string();
    let request = format!(
        "POST /v1/orders HTTP/1.0\r\nHost: {host}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let mut connection = RawConnection::open(&app.address).await;
    connection.send(request.as_bytes()).await;
    let response = connection.response(PROMPT).await.expect("an answer");
    assert_eq!(response.status, 202, "{}", response.head);
    assert!(response.head.starts_with("HTTP/1.0 "), "{}", response.head);
    assert_eq!(response.header("content-type"), Some("application/json"));
    let accepted: serde_json::Value =
        serde_json::from_slice(&response.body).expect("the 202 body is JSON");
    assert!(accepted["order_id"].is_string(), "{accepted}");
    assert!(
        connection.closed_within(PROMPT).await,
        "an HTTP/1.0 request without keep-alive leaves the connection open"
    );
    assert_eq!(app.records(1).len(), 1);
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_after_the_keep_alive_timeout() {
    let app = hostile_app().await;
    let host = host(&app);
    let mut connection = RawConnection::open(&app.address).await;
    connection
        .send(&post_order(
            &host,
            &order("FLASH-1", 1, "c-ka").to_string(),
            "",
        ))
        .await;
    assert_eq!(connection.ending(PROMPT).await, Ending::Status(202));
    assert!(
        connection
            .closed_within(bound(KEEP_ALIVE_SECS * 1000))
            .await,
        "idle keep-alive connection still open after {:?}",
        bound(KEEP_ALIVE_SECS * 1000)
    );
}

/// Known gap, see docs/decisions.md "A slow head on a kept-alive connection is not cut
/// off": actix-http arms its head timer only for a connection's first request, so this
/// fails today (the head trickles in for as long as the client likes).
#[tokio::test]
#[ignore = "known gap in actix-http: no head timeout after the first request (docs/decisions.md)"]
async fn slowloris_on_a_kept_alive_connection_is_cut_off_too() {
    let app = hostile_app().await;
    let host = host(&app);
    let mut connection = RawConnection::open(&app.address).await;
    connection
        .send(&post_order(
            &host,
            &order("FLASH-1", 1, "c-first").to_string(),
            "",
        ))
        .await;
    assert_eq!(connection.ending(PROMPT).await, Ending::Status(202));
    let head = format!(
        "POST /v1/orders HTTP/1.1\r\nHost: {host}\r\nX-Slow: {}\r\n\r\n",
        "s".repeat(60)
    );
    let started = tokio::time::Instant::now();
    let mut ending = Ending::StillOpen;
    for byte in head.as_bytes() {
        if !connection.send(std::slice::from_ref(byte)).await {
            ending = Ending::Closed;
            break;
        }
        match connection.response(Duration::from_millis(500)).await {
            Ok(response) => {
                ending = Ending::Status(response.status);
                break;
            }
            Err(Ending::Closed) => {
                ending = Ending::Closed;
                break;
            }
            Err(_) => {}
        }
    }
    let took = started.elapsed();
    assert!(
        matches!(ending, Ending::Status(408) | Ending::Closed)
            && took <= bound(HEAD_TIMEOUT_MS) + Duration::from_secs(1),
        "{ending:?} after {took:?}"
    );
}

/// A refused request whose body the service did not read: the connection is closed
/// after the answer, so a client cannot keep it busy by sending the body anyway (the
/// HTTP server would otherwise read and discard it for as long as it comes).
#[tokio::test]
async fn a_request_refused_before_its_body_was_read_has_its_connection_closed() {
    let app = hostile_app().await;
    let host = host(&app);
    let heads = [
        (
            "a declared terabyte",
            "Content-Type: application/json\r\nContent-Length: 1000000000000\r\n",
            413,
        ),
        (
            "an endless chunked body",
            "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n",
            413,
        ),
        (
            "a terabyte of text/plain",
            "Content-Type: text/plain\r\nContent-Length: 1000000000000\r\n",
            415,
        ),
    ];
    for (name, head, status) in heads {
        let mut connection = RawConnection::open(&app.address).await;
        connection
            .send(format!("POST /v1/orders HTTP/1.1\r\nHost: {host}\r\n{head}\r\n").as_bytes())
            .await;
        let chunked = head.contains("chunked");
        let filler = if chunked {
            format!("1000\r\n{}\r\n", " ".repeat(4096))
        } else {
            " ".repeat(4096)
        };
        let started = tokio::time::Instant::now();
        let mut answer = None;
        let mut closed = false;
        // Keep sending body bytes for as long as the connection lets us (bounded).
        while started.elapsed() < Duration::from_secs(15) {
            if !connection.send(filler.as_bytes()).await {
                closed = true;
                break;
            }
            match connection.response(Duration::from_millis(20)).await {
                Ok(response) => answer = Some(response.status),
                Err(Ending::Closed) => {
                    closed = true;
                    break;
                }
                Err(_) => {}
            }
        }
        assert_eq!(answer, Some(status), "{name}: answer");
        assert!(
            closed && started.elapsed() <= bound(BODY_TIMEOUT_MS),
            "{name}: connection still taking body bytes after {:?}",
            started.elapsed()
        );
    }
    assert_valid_order_accepted(&app, "c-after-unread-bodies").await;
    assert_eq!(app.end_offset(), 1);
}
