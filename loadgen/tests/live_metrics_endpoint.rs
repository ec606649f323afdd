//! `--metrics-addr`: the run's counters, histogram and gauges on `/metrics` while the
//! run lasts. The target is a stub that answers every order 202, so this needs no
//! broker.

use std::time::Duration;

use loadgen::live_metrics::MetricsServer;
use loadgen::profile::{flash_sale, Mix};
use loadgen::runner::{run, RunConfig};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};

/// Answers every request with a 202 and an order body, one request per connection.
async fn stub_producer() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            tokio::spawn(answer_202(stream));
        }
    });
    format!("http://{addr}")
}

async fn answer_202(mut stream: TcpStream) {
    let mut request = Vec::new();
    let mut buf = [0u8; 2048];
    // Head, then as many body bytes as content-length says.
    loop {
        let Ok(n) = stream.read(&mut buf).await else {
            return;
        };
        if n == 0 {
            return;
        }
        request.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&request).to_lowercase();
        if let Some(end) = text.find("\r\n\r\n") {
            let length = text
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok())
                .unwrap_or(0);
            if request.len() >= end + 4 + length {
                break;
            }
        }
    }
    let body = format!(
        r#"{{"order_id":"{}","status":"accepted","partition":0,"offset":0}}"#,
        uuid::Uuid::now_v7()
    );
    let response = format!(
        "HTTP/1.1 202 Accepted\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(response.as_bytes()).await;
}

async fn scrape(url: &str) -> String {
    reqwest::get(url)
        .await
        .expect("metrics endpoint answers")
        .text()
        .await
        .unwrap()
}

/// The value of the first sample line that starts with `prefix`.
fn sample(page: &str, prefix: &str) -> Option<f64> {
    page.lines()
        .find(|l| l.starts_with(prefix))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_show_requests_by_phase_and_status_latency_and_the_current_target_rate() {
    let target = stub_producer().await;
    let server = MetricsServer::start("127.0.0.1:0".parse().unwrap())
        .await
        .expect("metrics listener");
    let url = format!("http://{}/metrics", server.local_addr());
    let config = RunConfig {
        target,
        // 1 s at 20/s, 1.5 s at 100/s, 1 s at 20/s.
        phases: flash_sale(
            20.0,
            5.0,
            Duration::from_secs(1),
            Duration::from_millis(1500),
            Duration::from_secs(1),
            1.0,
        ),
        mix: Mix {
            invalid_share: 0.0,
            retry_share: 0.0,
            ..Mix::default()
        },
        concurrency: 16,
        max_pending: 10_000,
        timeout: Duration::from_secs(5),
        seed: 7,
        run_tag: "metrics-test".into(),
        autoscaler_metrics: None,
        progress: false,
    };
    let running = tokio::spawn(run(config));

    // Midway through the spike.
    tokio::time::sleep(Duration::from_millis(1700)).await;
    let page = scrape(&url).await;
    assert_eq!(
        sample(&page, "surge_loadgen_target_rate"),
        Some(100.0),
        "{page}"
    );
    let baseline_202 = sample(
        &page,
        r#"surge_loadgen_requests_total{phase="baseline",status="202"}"#,
    );
    assert_eq!(baseline_202, Some(20.0), "{page}");
    assert!(
        page.contains("# TYPE surge_loadgen_request_duration_seconds histogram"),
        "{page}"
    );
    assert!(
        sample(&page, "surge_loadgen_in_flight_requests").is_some(),
        "{page}"
    );

    let results = running.await.unwrap().expect("run");
    let page = scrape(&url).await;
    let spike_202 = sample(
        &page,
        r#"surge_loadgen_requests_total{phase="spike",status="202"}"#,
    );
    assert_eq!(spike_202, Some(results.phase_stats[1].accepted as f64));
    assert_eq!(results.phase_stats[1].accepted, 150);
    let observed = sample(&page, "surge_loadgen_request_duration_seconds_count");
    assert_eq!(observed, Some(20.0 + 150.0 + 20.0), "{page}");
    assert_eq!(sample(&page, "surge_loadgen_target_rate"), Some(0.0));
    assert_eq!(sample(&page, "surge_loadgen_in_flight_requests"), Some(0.0));

    let not_found = reqwest::get(format!("http://{}/other", server.local_addr()))
        .await
        .unwrap();
    assert_eq!(not_found.status(), 404);
    drop(server);
}
