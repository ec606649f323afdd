//! SIGTERM to the real binary during a burst: every order answered 202 is on the topic,
//! in-flight requests get their answer, and the process exits 0.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use crate::helpers::order;

#[tokio::test]
async fn sigterm_during_a_burst_loses_no_acknowledged_order_and_exits_zero() {
    let topic = testkit::unique_name("orders");
    testkit::kafka::create_topic(&topic, 3).await;
    let crate::binary::Running {
        mut child,
        pid,
        port,
        ..
    } = crate::binary::start(&topic, &[]).await;
    let url = format!("http://127.0.0.1:{port}/v1/orders");
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();

    let stop = Arc::new(AtomicBool::new(false));
    let mut senders = Vec::new();
    for worker in 0..16 {
        let (client, url, stop) = (client.clone(), url.clone(), Arc::clone(&stop));
        senders.push(tokio::spawn(async move {
            let mut acknowledged = Vec::new();
            let mut other_statuses = Vec::new();
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                n += 1;
                let body = order("FLASH-1", 1, &format!("c-{worker}-{n}")).to_string();
                match client
                    .post(&url)
                    .header("content-type", "application/json")
                    .body(body)
                    .send()
                    .await
                {
                    Ok(response) => {
                        let status = response.status().as_u16();
                        if status == 202 {
                            let body: Value = response.json().await.expect("202 body");
                            acknowledged.push(body["order_id"].as_str().unwrap().to_owned());
                        } else {
                            other_statuses.push(status);
                        }
                    }
                    // After the listener closes, new connections are refused.
                    Err(_) => break,
                }
            }
            (acknowledged, other_statuses)
        }));
    }
    tokio::time::sleep(Duration::from_millis(700)).await;
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .expect("exits within 30 s of SIGTERM")
        .unwrap();
    stop.store(true, Ordering::Relaxed);

    let mut acknowledged = HashSet::new();
    for sender in senders {
        let (ids, others) = sender.await.unwrap();
        assert!(
            others.iter().all(|s| *s == 503),
            "unexpected statuses during drain: {others:?}"
        );
        acknowledged.extend(ids);
    }
    assert!(status.success(), "exit status {status:?}");
    assert!(
        acknowledged.len() > 10,
        "the burst got going ({} acknowledged)",
        acknowledged.len()
    );

    let on_topic: HashSet<String> =
        testkit::kafka::read_all(&topic, acknowledged.len(), Duration::from_secs(20))
            .iter()
            .map(|r| {
                let event: Value =
                    serde_json::from_slice(rdkafka::Message::payload(r).unwrap()).unwrap();
                event["order_id"].as_str().unwrap().to_owned()
            })
            .collect();
    let missing: Vec<_> = acknowledged.difference(&on_topic).collect();
    assert!(
        missing.is_empty(),
        "{} acknowledged orders missing: {missing:?}",
        missing.len()
    );
}

/// The Deployment's `terminationGracePeriodSeconds` (30 s) minus its preStop sleep (5 s).
const GRACE_AFTER_SIGTERM: Duration = Duration::from_secs(25);

#[tokio::test]
async fn sigterm_with_the_broker_unreachable_and_orders_waiting_exits_within_the_grace_period() {
    use testkit::kafka::{FAULT_ADVERTISED, FAULT_LISTENER};

    let _turn = crate::broker_outage::FAULT_PROXY.lock().await;
    let topic = testkit::unique_name("orders");
    testkit::kafka::create_topic(&topic, 3).await;
    let mut proxy = testkit::proxy::TcpProxy::start(FAULT_ADVERTISED, FAULT_LISTENER)
        .await
        .expect("proxy");
    let crate::binary::Running {
        mut child,
        pid,
        port,
        ..
    } = crate::binary::start(
        &topic,
        &[
            ("SURGE__KAFKA__BOOTSTRAP_SERVERS", FAULT_ADVERTISED),
            ("SURGE__HTTP__SHUTDOWN_TIMEOUT_SECS", "15"),
        ],
    )
    .await;
    let url = format!("http://127.0.0.1:{port}/v1/orders");
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    let accepted = client
        .post(&url)
        .header("content-type", "application/json")
        .body(order("FLASH-1", 1, "c-before").to_string())
        .send()
        .await
        .expect("first order");
    assert_eq!(accepted.status(), 202);

    proxy.cut();
    let waiting: Vec<_> = (0..8)
        .map(|i| {
            let (client, url) = (client.clone(), url.clone());
            tokio::spawn(async move {
                client
                    .post(url)
                    .header("content-type", "application/json")
                    .body(order("FLASH-1", 1, &format!("c-waiting-{i}")).to_string())
                    .send()
                    .await
                    .map(|r| r.status().as_u16())
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let signalled = std::time::Instant::now();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = tokio::time::timeout(GRACE_AFTER_SIGTERM, child.wait())
        .await
        .expect("producer-svc exits within the grace period with the broker unreachable")
        .unwrap();
    eprintln!(
        "producer-svc exited {:?} after SIGTERM ({status})",
        signalled.elapsed()
    );
    for answer in waiting {
        // Never a 202 without an ack: a waiting order gets its 503 or a closed connection.
        if let Ok(Ok(code)) = answer.await {
            assert_ne!(code, 202);
        }
    }
    proxy.restore().await.expect("proxy restored");
}
