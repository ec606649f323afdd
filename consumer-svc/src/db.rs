//! The connection pool and the embedded migrations.
//!
//! Migrations live in `consumer-svc/migrations/` and are compiled into the binary, so an
//! image carries the schema it expects. `Migrator::run` takes a PostgreSQL advisory lock
//! (`pg_advisory_lock`, keyed on the database name) for the whole run, so replicas that
//! start together, or a `consumer-svc migrate` Job next to them, apply each migration
//! exactly once: the others wait, then find nothing left to do.

use std::str::FromStr;
use std::time::Duration;

use anyhow::Context;
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::PgPool;

use crate::settings::DatabaseSettings;

pub static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

/// The worker's pool (batches, readiness check, stock gauge), connecting on first use:
/// the service starts (and reports not ready) even while the database is still coming up.
pub fn pool(settings: &DatabaseSettings) -> anyhow::Result<PgPool> {
    build(
        settings,
        "consumer-svc",
        settings.max_connections,
        settings.acquire_timeout_ms,
    )
}

/// The pool order look-ups read from, apart from the worker's: however many clients poll
/// `GET /v1/orders/{id}`, they wait for these connections only, and a batch never waits
/// behind them (which pushed the worker into its backoff during a sale).
pub fn lookup_pool(settings: &DatabaseSettings) -> anyhow::Result<PgPool> {
    build(
        settings,
        "consumer-svc-lookup",
        settings.lookup_max_connections,
        settings.lookup_acquire_timeout_ms,
    )
}

fn build(
    settings: &DatabaseSettings,
    application_name: &str,
    max_connections: u32,
    acquire_timeout_ms: u64,
) -> anyhow::Result<PgPool> {
    let options = PgConnectOptions::from_str(&settings.url)
        .context("database.url is not a valid PostgreSQL URL")?
        .application_name(application_name)
        .options([(
            "statement_timeout",
            settings.statement_timeout_ms.to_string(),
        )]);
    // sqlx's own statement logging stays at its defaults: every statement at DEBUG under
    // the `sqlx::query` target (off unless `RUST_LOG` asks for it), statements slower than
    // 1 s at WARN. Its per-statement `log_enabled!` check used to make the next span
    // vanish (tokio-rs/tracing#2519); `common::telemetry` now guards against that.
    Ok(PgPoolOptions::new()
        .max_connections(max_connections.max(1))
        .acquire_timeout(Duration::from_millis(acquire_timeout_ms.max(100)))
        // A connection that sat idle through a database restart is replaced instead of
        // failing the next batch.
        .test_before_acquire(true)
        .idle_timeout(Duration::from_secs(60))
        .connect_lazy_with(options))
}

/// Applies every migration not yet applied.
pub async fn migrate(pool: &PgPool) -> anyhow::Result<()> {
    MIGRATOR
        .run(pool)
        .await
        .context("applying the database migrations")?;
    tracing::info!(
        migrations = MIGRATOR.iter().count(),
        "database schema is up to date"
    );
    Ok(())
}
