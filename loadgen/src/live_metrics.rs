//! The run's own numbers as Prometheus metrics while it lasts (`--metrics-addr`), so a
//! dashboard shows the offered load next to the services' view of it.
//!
//! Recording goes through the `metrics` facade: without `--metrics-addr` no recorder is
//! installed and every call below is a no-op. With it, the process-wide recorder of
//! `common::telemetry` collects them (its `_seconds` buckets apply to the histogram) and
//! a minimal HTTP/1.1 responder serves `GET /metrics`; nothing else is worth a web
//! framework here.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

pub const REQUESTS_TOTAL: &str = "surge_loadgen_requests_total";
pub const REQUEST_DURATION: &str = "surge_loadgen_request_duration_seconds";
pub const TARGET_RATE: &str = "surge_loadgen_target_rate";
pub const IN_FLIGHT: &str = "surge_loadgen_in_flight_requests";

/// One finished (or dropped) request. `status`: the HTTP status, `"0"` for a transport
/// error or timeout, `"dropped"` when never sent. `latency`: from the scheduled start
/// to the response; `None` for a dropped request.
pub fn record_request(phase: &str, status: &str, latency: Option<Duration>) {
    metrics::counter!(REQUESTS_TOTAL, "phase" => phase.to_owned(), "status" => status.to_owned())
        .increment(1);
    if let Some(latency) = latency {
        metrics::histogram!(REQUEST_DURATION).record(latency.as_secs_f64());
    }
}

/// Requests per second of the phase now running (0 once the schedule is done).
pub fn set_target_rate(rate: f64) {
    metrics::gauge!(TARGET_RATE).set(rate);
}

/// Requests started and not yet answered (waiting for a connection included).
pub fn set_in_flight(n: usize) {
    metrics::gauge!(IN_FLIGHT).set(n as f64);
}

/// HELP lines; they reach the recorder installed at the time of the call.
fn describe() {
    metrics::describe_counter!(
        REQUESTS_TOTAL,
        "Requests the load generator finished, by phase and HTTP status (0: transport error or timeout, dropped: never sent)."
    );
    metrics::describe_histogram!(
        REQUEST_DURATION,
        metrics::Unit::Seconds,
        "POST /v1/orders to its response, from the request's scheduled start (open loop)."
    );
    metrics::describe_gauge!(TARGET_RATE, "Requests per second of the phase now running.");
    metrics::describe_gauge!(
        IN_FLIGHT,
        "Requests started and not yet answered, waiting for a connection included."
    );
}

/// The `/metrics` endpoint; stops when dropped.
pub struct MetricsServer {
    addr: SocketAddr,
    task: JoinHandle<()>,
}

impl MetricsServer {
    /// Installs the recorder and listens on `addr` (port 0: any free port).
    pub async fn start(addr: SocketAddr) -> std::io::Result<Self> {
        let handle = common::telemetry::metrics_handle();
        describe();
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                tokio::spawn(async move {
                    let _ = respond(stream, || handle.render()).await;
                });
            }
        });
        Ok(Self { addr, task })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Reads one request head and answers it; the connection closes after the answer.
async fn respond(mut stream: TcpStream, render: impl Fn() -> String) -> std::io::Result<()> {
    let mut head = Vec::with_capacity(512);
    let mut buf = [0u8; 512];
    let read = async {
        while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 8192 {
            let n = stream.read(&mut buf).await?;
            if n == 0 {
                break;
            }
            head.extend_from_slice(&buf[..n]);
        }
        Ok::<_, std::io::Error>(())
    };
    tokio::time::timeout(Duration::from_secs(5), read)
        .await
        .map_err(|_| std::io::Error::from(std::io::ErrorKind::TimedOut))??;
    let line = head.split(|&b| b == b'\n').next().unwrap_or_default();
    let line = String::from_utf8_lossy(line);
    let mut parts = line.split_whitespace();
    let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let (status, content_type, body) = match (method, path.split('?').next().unwrap_or("")) {
        ("GET", "/metrics") => ("200 OK", "text/plain; version=0.0.4", render()),
        ("GET", _) => ("404 Not Found", "text/plain", "not found\n".to_owned()),
        _ => (
            "405 Method Not Allowed",
            "text/plain",
            "method not allowed\n".to_owned(),
        ),
    };
    let response = format!(
        "HTTP/1.1 {status}\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(response.as_bytes()).await?;
    stream.shutdown().await
}
