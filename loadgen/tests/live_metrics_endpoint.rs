//! `--metrics-addr`: the run's counters, histogram and gauges on `/metrics` while the
//! run lasts. The target is a stub that answers every order 202, so this needs no
//! broker.

use std::time::Duration;

use loadgen::live_metrics::MetricsServer;
use loadgen::profile::{flash_sale, Mix};
use loadgen::runner::{run, RunConfig};
use support::stub_producer;

mod support;

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
        progress_metrics: Vec::new(),
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
