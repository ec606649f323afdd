//! The schema, applied by replicas that start at the same time.

use futures::future::join_all;
use sqlx::postgres::PgPoolOptions;

use testkit::postgres::TestDatabase;

#[tokio::test]
async fn replicas_starting_together_apply_each_migration_exactly_once() {
    let db = TestDatabase::create().await;
    let mut pools = Vec::new();
    for _ in 0..4 {
        pools.push(
            PgPoolOptions::new()
                .max_connections(1)
                .connect(db.url())
                .await
                .expect("connects"),
        );
    }
    let results = join_all(pools.iter().map(consumer_svc::db::migrate)).await;
    for result in results {
        result.expect("every replica's migration run succeeds");
    }
    let applied: i64 = sqlx::query_scalar("SELECT count(*) FROM _sqlx_migrations WHERE success")
        .fetch_one(&pools[0])
        .await
        .unwrap();
    assert_eq!(applied, consumer_svc::db::MIGRATOR.iter().count() as i64);
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT tablename::text FROM pg_tables WHERE schemaname = 'public' \
         AND tablename IN ('orders', 'inventory') ORDER BY 1",
    )
    .fetch_all(&pools[0])
    .await
    .unwrap();
    assert_eq!(tables, ["inventory", "orders"]);
}
