//! SIGTERM when everything the shutdown waits for is gone: the brokers unreachable (the
//! fault listener's proxy cut) and PostgreSQL silent (its proxy drops every packet, with
//! a batch in the middle of its transaction). The real binary must still end within the
//! pod's grace period, and nothing may be lost: the next owner applies what it left.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use common::settings::GroupProtocol;
use testkit::kafka::{FAULT_ADVERTISED, FAULT_LISTENER};
use testkit::proxy::TcpProxy;

use crate::helpers::{orders, ConsumerProcess, Sale, TestConsumer, FAULT_PROXY};

/// `terminationGracePeriodSeconds` of the consumer Deployment, minus its 5 s preStop.
const GRACE_AFTER_SIGTERM: Duration = Duration::from_secs(40);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_with_the_brokers_and_the_database_gone_exits_within_the_grace_period_and_loses_nothing(
) {
    let _turn = FAULT_PROXY.lock().await;
    let sale = Sale::new(3).await;
    sale.seed("FLASH-1", 1000).await;
    let mut kafka = TcpProxy::start(FAULT_ADVERTISED, FAULT_LISTENER)
        .await
        .expect("kafka proxy");
    let mut database = TcpProxy::start("127.0.0.1:0", &sale.db.server_address())
        .await
        .expect("database proxy");
    let database_url = sale.db.url_via(&database.addr().to_string());
    // The classic protocol with a short session, so that the replacement below gets the
    // partitions soon after this member vanished without leaving (see crash.rs).
    let mut process = ConsumerProcess::start(
        &sale,
        &[
            ("SURGE__KAFKA__BOOTSTRAP_SERVERS", FAULT_ADVERTISED),
            ("SURGE__DATABASE__URL", &database_url),
            ("SURGE__KAFKA__GROUP_PROTOCOL", "classic"),
            ("SURGE__KAFKA__PROPERTIES__SESSION_TIMEOUT_MS", "6000"),
        ],
    )
    .await;
    let first = orders("FLASH-1", 30);
    sale.publish(&first).await;
    assert_eq!(sale.wait_for_orders(30, Duration::from_secs(60)).await, 30);

    // The next batch is fetched and its transaction starts on a slow connection (200 ms
    // per round trip, so the batch's statements take seconds), which then goes silent in
    // the middle of the transaction; then the brokers go away too.
    database.set_latency(Duration::from_millis(100));
    let second = orders("FLASH-1", 30);
    sale.publish(&second).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    database.black_hole();
    kafka.cut();
    tokio::time::sleep(Duration::from_secs(1)).await;

    let signalled = Instant::now();
    process.sigterm();
    let status = process.wait_exit(GRACE_AFTER_SIGTERM).await;
    let took = signalled.elapsed();
    let logs = process.logs().join("\n");
    assert!(
        took < GRACE_AFTER_SIGTERM,
        "exited after {took:?} ({status}); output:\n{logs}"
    );
    eprintln!("consumer-svc exited {took:?} after SIGTERM ({status})");

    // Nothing lost: a replacement applies what the stopped replica had not committed.
    database.set_latency(Duration::ZERO);
    database.restore().await.expect("database proxy restored");
    kafka.restore().await.expect("kafka proxy restored");
    let mut settings = sale.settings();
    settings.kafka.group_protocol = GroupProtocol::Classic;
    settings
        .kafka
        .properties
        .insert("session.timeout.ms".to_owned(), "6000".to_owned());
    let replacement = TestConsumer::spawn(settings).await;
    assert_eq!(
        sale.wait_for_orders(60, Duration::from_secs(90)).await,
        60,
        "every order is applied by the next owner"
    );
    let rows = sale.rows_per_order().await;
    let published: HashSet<_> = first.iter().chain(&second).map(|o| o.order_id).collect();
    assert_eq!(rows.len(), 60);
    assert!(rows.iter().all(|(id, n)| *n == 1 && published.contains(id)));
    replacement.stop().await.expect("clean stop");
}
