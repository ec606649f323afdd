//! A short flash sale against the real producer-svc and the real broker
//! (`scripts/infra.sh up`).

use std::collections::HashSet;
use std::time::Duration;

use loadgen::profile::{flash_sale, Mix};
use loadgen::runner::{run, RunConfig};
use tokio::sync::oneshot;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_202_is_on_the_topic_invalid_requests_get_4xx_and_retries_share_an_order() {
    let topic = testkit::unique_name("loadgen");
    testkit::kafka::create_topic(&topic, 3).await;
    let mut settings = producer_svc::Settings::default();
    settings.http = common::settings::HttpSettings {
        host: "127.0.0.1".into(),
        port: 0,
        workers: 2,
        shutdown_timeout_secs: 5,
        ..Default::default()
    };
    settings.kafka = testkit::kafka::settings(&topic);
    let app = producer_svc::Application::build(settings)
        .await
        .expect("producer builds");
    let target = format!("http://127.0.0.1:{}", app.port());
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until_stopped(async move {
        let _ = stopped.await;
    }));

    let results = run(RunConfig {
        target,
        phases: flash_sale(
            40.0,
            10.0,
            Duration::from_secs(1),
            Duration::from_secs(1),
            Duration::from_secs(1),
            1.0,
        ),
        mix: Mix {
            retry_share: 0.1,
            invalid_share: 0.1,
            customers: 50,
            ..Mix::default()
        },
        concurrency: 32,
        max_pending: 10_000,
        timeout: Duration::from_secs(10),
        seed: 3,
        run_tag: testkit::unique_name("t").replace('_', "-"),
        progress_metrics: Vec::new(),
        progress: false,
    })
    .await
    .expect("run");
    let _ = stop.send(());
    let _ = server.await;

    let sent: u64 = results.phase_stats.iter().map(|p| p.sent).sum();
    assert_eq!(sent, 40 + 400 + 40, "open loop sends the scheduled count");
    let spike = &results.phase_stats[1];
    assert!(spike.accepted > 300, "{spike:?}");
    assert!(spike.p99_ms > 0.0);
    for phase in &results.phase_stats {
        assert_eq!(phase.unexpected_invalid, 0, "{phase:?}");
        let refused: u64 = ["400", "415", "422"]
            .iter()
            .filter_map(|s| phase.statuses.get(*s))
            .sum();
        assert_eq!(phase.accepted + refused, phase.sent, "{phase:?}");
    }
    assert!(results.uncertain.is_empty());

    // Every 202 was acknowledged by the broker, so each is a record on the topic.
    assert_eq!(
        testkit::kafka::total_end_offset(&topic),
        results.accepted.len() as i64
    );
    // Retried keys: sent more than once, one order id however often accepted.
    assert!(!results.retried_keys.is_empty());
    for (key, ids) in &results.retried_keys {
        assert_eq!(
            ids.iter().collect::<HashSet<_>>().len(),
            1,
            "{key}: {ids:?}"
        );
    }
    let seconds: u64 = results.timeline.iter().map(|s| s.completed).sum();
    assert_eq!(seconds, sent);
}
