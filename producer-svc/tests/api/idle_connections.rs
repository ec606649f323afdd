//! Ten thousand connections that never send a byte, against the real binary (its own
//! process, so each side has its own file-descriptor budget): a valid order is accepted
//! while they are open, and every one of them is closed after the request-head timeout.

use std::time::Duration;

use futures::stream::{self, StreamExt};
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;
use tokio::time::Instant;

use crate::binary;

const IDLE_CONNECTIONS: usize = 10_000;
// Long enough that opening them all fits inside it on a loaded machine (14.5 s seen in CI
// with the other tests running), so the order is answered while every one is still open.
const HEAD_TIMEOUT_MS: u64 = 25_000;

/// Soft `RLIMIT_NOFILE` raised to the hard limit, and the number left for this test.
fn file_descriptors() -> u64 {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit with a valid pointer to a rlimit struct.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit), 0);
        limit.rlim_cur = limit.rlim_max;
        assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &limit), 0);
    }
    limit.rlim_cur
}

/// Sockets the process `pid` holds open (listener and broker connections included).
fn sockets_of(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .expect("the server's fd table")
        .filter_map(Result::ok)
        .filter(|fd| {
            std::fs::read_link(fd.path())
                .is_ok_and(|target| target.to_string_lossy().starts_with("socket:"))
        })
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_idle_connections_neither_block_orders_nor_stay_open() {
    let fds = file_descriptors();
    assert!(
        fds >= IDLE_CONNECTIONS as u64 + 2_000,
        "RLIMIT_NOFILE hard limit {fds} is too low for {IDLE_CONNECTIONS} connections; raise it (ulimit -Hn)"
    );
    let topic = testkit::unique_name("orders");
    testkit::kafka::create_topic(&topic, 1).await;
    let head_timeout = HEAD_TIMEOUT_MS.to_string();
    let running = binary::start(
        &topic,
        &[
            ("SURGE__HTTP__WORKERS", "2"),
            (
                "SURGE__HTTP__REQUEST_HEAD_TIMEOUT_MS",
                head_timeout.as_str(),
            ),
        ],
    )
    .await;
    let address = format!("127.0.0.1:{}", running.port);
    let baseline = sockets_of(running.pid);

    let opening = Instant::now();
    let idle: Vec<TcpStream> = stream::iter(0..IDLE_CONNECTIONS)
        .map(|_| {
            let address = address.clone();
            async move { TcpStream::connect(&address).await }
        })
        .buffer_unordered(64)
        .filter_map(|r| async move { r.ok() })
        .collect()
        .await;
    let opened = Instant::now();
    assert_eq!(
        idle.len(),
        IDLE_CONNECTIONS,
        "every connection was accepted"
    );

    let client = reqwest::Client::new();
    let response = client
        .post(format!("http://{address}/v1/orders"))
        .header("content-type", "application/json")
        .body(r#"{"sku":"FLASH-1","quantity":1,"customer_id":"c-among-idle"}"#)
        .send()
        .await
        .expect("order sent while 10 000 connections idle");
    assert_eq!(response.status().as_u16(), 202);
    let answered = Instant::now();
    let held = sockets_of(running.pid);
    assert!(
        held >= baseline + IDLE_CONNECTIONS / 2,
        "the server held only {held} sockets (baseline {baseline}) while {IDLE_CONNECTIONS} were open"
    );
    assert!(
        answered < opening + Duration::from_millis(HEAD_TIMEOUT_MS),
        "the order was not answered while the idle connections were still open \
         (opening took {:?}, the order {:?}); the test proves nothing",
        opened - opening,
        answered - opened
    );

    // Each idle connection must be closed (after at most a 408) by the server within
    // twice the head timeout from when it was opened. Counted on the server's side: a
    // connection the kernel completed but dropped from a full accept queue looks open to
    // the client forever, though the server never had it.
    let deadline = opened + Duration::from_millis(2 * HEAD_TIMEOUT_MS + 5_000);
    let still_open: usize = stream::iter(idle)
        .map(|mut connection| async move {
            let mut buffer = [0u8; 1024];
            loop {
                match tokio::time::timeout_at(deadline, connection.read(&mut buffer)).await {
                    Err(_) => return 1,
                    Ok(Ok(0)) | Ok(Err(_)) => return 0,
                    Ok(Ok(_)) => continue,
                }
            }
        })
        .buffer_unordered(IDLE_CONNECTIONS)
        .fold(0, |sum, open| async move { sum + open })
        .await;
    assert_eq!(
        still_open,
        0,
        "idle connections still open {:?} after they were opened",
        deadline - opened
    );
    assert_eq!(testkit::kafka::total_end_offset(&topic), 1);
    drop(running); // kill_on_drop
}
