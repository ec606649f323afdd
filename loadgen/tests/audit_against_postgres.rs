//! The audit's database side against the real PostgreSQL (`scripts/infra.sh up`):
//! a fresh database migrated by consumer-svc's own migrations, rows inserted, the audit
//! run on what it reads.

use loadgen::audit::{audit, Sale};
use loadgen::audit_file::AuditFile;
use loadgen::results::{Accepted, RunResults};
use testkit::postgres::TestDatabase;
use uuid::Uuid;

/// A fresh database with the schema consumer-svc's own migrations create.
async fn migrated_database() -> TestDatabase {
    let db = TestDatabase::create().await;
    consumer_svc::db::migrate(&db.pool().await)
        .await
        .expect("migrations apply to a fresh database");
    db
}

#[tokio::test]
async fn audit_passes_on_a_sound_sale_and_fails_on_an_oversold_one() {
    let db = migrated_database().await;
    let pool = loadgen::db::connect(db.url()).await.unwrap();
    let prefix = "c-dbtest-";
    let mut results = RunResults {
        customer_prefix: prefix.into(),
        ..RunResults::default()
    };
    // 4 accepted orders for FLASH-1 with stock 2, plus another run's row that must be ignored.
    for i in 0..4u32 {
        let id = Uuid::now_v7();
        let customer = format!("{prefix}{i}");
        results.accepted.push(Accepted {
            order_id: id,
            customer_id: customer.clone(),
            sku: "FLASH-1".into(),
            quantity: 1,
            idempotency_key: None,
            partition: Some(0),
            offset: Some(i64::from(i)),
        });
        let (status, reason) = if i < 2 {
            ("confirmed", None)
        } else {
            ("rejected", Some("sold_out"))
        };
        sqlx::query(
            "INSERT INTO orders (order_id, customer_id, sku, quantity, status, reason, kafka_partition, kafka_offset, accepted_at)
             VALUES ($1, $2, 'FLASH-1', 1, $3, $4, 0, $5, now())",
        )
        .bind(id)
        .bind(&customer)
        .bind(status)
        .bind(reason)
        .bind(i64::from(i))
        .execute(&pool)
        .await
        .unwrap();
    }
    sqlx::query(
        "INSERT INTO orders (order_id, customer_id, sku, quantity, status, reason, kafka_partition, kafka_offset, accepted_at)
         VALUES ($1, 'c-other-1', 'FLASH-1', 1, 'rejected', 'sold_out', 0, 99, now())",
    )
    .bind(Uuid::now_v7())
    .execute(&pool)
    .await
    .unwrap();
    consumer_svc::store::Store::new(pool.clone())
        .seed_stock("FLASH-1", 0)
        .await
        .unwrap();

    let rows = loadgen::db::run_rows(&pool, prefix).await.unwrap();
    assert_eq!(rows.len(), 4);
    let sale = Sale {
        sku: "FLASH-1".into(),
        stock: 2,
        remaining: loadgen::db::remaining(&pool, "FLASH-1").await.unwrap(),
    };
    let report = audit(&results, &rows, &sale);
    assert!(report.passed(), "{}", report.table());
    // Timing read from the same rows: accepted_at and processed_at are both now()
    // here, so every order was processed in the run's first second, end to end in ~0 ms.
    results.started_unix_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis()
        - 500;
    let file = AuditFile::new(&report, &rows, &sale, results.started_unix_ms);
    assert_eq!(file.processed_per_second.iter().sum::<u64>(), 4);
    assert!(file.processed_per_second.len() <= 2, "{file:?}");
    let e2e = file.end_to_end.expect("rows have timestamps");
    assert_eq!(e2e.count, 4);
    assert!(e2e.max_ms >= 0.0 && e2e.max_ms < 1000.0, "{e2e:?}");
    assert_eq!((file.sale.confirmed, file.sale.rejected), (2, 2));

    // Oversold: a third confirmation.
    sqlx::query("UPDATE orders SET status = 'confirmed', reason = NULL WHERE customer_id = $1")
        .bind(format!("{prefix}2"))
        .execute(&pool)
        .await
        .unwrap();
    let rows = loadgen::db::run_rows(&pool, prefix).await.unwrap();
    let report = audit(&results, &rows, &sale);
    assert!(!report.passed());
    assert!(report.table().contains("FAIL"));
}
