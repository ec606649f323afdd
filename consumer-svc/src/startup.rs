//! Building and running a consumer replica: the worker in its group and the HTTP port.

use std::future::Future;
use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::{Server, ServerHandle};
use actix_web::middleware::from_fn;
use actix_web::{web, App, HttpServer};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use common::http_observe::observe;
use common::problem::unknown_route;
use common::routing::get_only;

use crate::dlq::DeadLetters;
use crate::group::GroupState;
use crate::health::{spawn_database_check, Health};
use crate::routes::{health, metrics, orders};
use crate::settings::Settings;
use crate::stock::spawn_stock_reporter;
use crate::store::Store;
use crate::worker::Worker;
use crate::{db, metrics as service_metrics};
use common::kafka_auth::AuthFailures;

/// A running replica: its worker has joined the group and its HTTP port serves.
pub struct Application {
    port: u16,
    server: JoinHandle<std::io::Result<()>>,
    server_handle: ServerHandle,
    worker: JoinHandle<anyhow::Result<()>>,
    stop: watch::Sender<bool>,
    database_check: JoinHandle<()>,
    stock_reporter: JoinHandle<()>,
    health: Health,
    group: Arc<GroupState>,
}

impl Application {
    /// Applies the migrations (unless `database.migrate_on_start` is off), starts the
    /// worker and binds the HTTP listener (port 0 picks a free one).
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        // Recorder first, so nothing recorded at start is lost.
        common::telemetry::metrics_handle();
        service_metrics::describe();
        service_metrics::register_known_series();

        let pool = db::pool(&settings.database)?;
        if settings.database.migrate_on_start {
            db::migrate(&pool).await?;
        }
        let store = Store::new(pool);
        let lookups = Store::new(db::lookup_pool(&settings.database)?);
        let health = Health::new(AuthFailures::default());
        let dead_letters = DeadLetters::new(&settings.kafka, health.kafka_auth().clone())?;
        let check = dead_letters.clone();
        tokio::task::spawn_blocking(move || check.check_topic(Duration::from_secs(10))).await??;
        let worker = Worker::new(&settings, store.clone(), dead_letters, health.clone())?;
        let group = worker.group_state();

        let listener = TcpListener::bind((settings.http.host.as_str(), settings.http.port))?;
        let port = listener.local_addr()?.port();
        let server = http_server(listener, &settings, lookups, health.clone())?;
        let server_handle = server.handle();

        let (stop, stopped) = watch::channel(false);
        let worker = tokio::spawn(worker.run(stopped));
        let stock_reporter =
            spawn_stock_reporter(store.clone(), settings.consumer.stock_interval());
        let database_check = spawn_database_check(
            store,
            health.clone(),
            Duration::from_millis(settings.database.health_interval_ms.max(50)),
        );
        Ok(Self {
            port,
            server: tokio::spawn(server),
            server_handle,
            worker,
            stop,
            database_check,
            stock_reporter,
            health,
            group,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The replica's view of its group membership (its assignment, whether it is paused),
    /// still readable after `run_until_stopped` took the application.
    pub fn group(&self) -> Arc<GroupState> {
        Arc::clone(&self.group)
    }

    /// Runs until `shutdown` resolves, then stops fetching, applies and commits what was
    /// fetched, leaves the group and stops serving. Returns an error if the worker stopped
    /// on its own (a fatal Kafka error), so the process exits non-zero and is restarted.
    pub async fn run_until_stopped(self, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
        let Self {
            server,
            server_handle,
            mut worker,
            stop,
            database_check,
            stock_reporter,
            health,
            ..
        } = self;
        let result = tokio::select! {
            () = shutdown => {
                tracing::info!("shutting down: finishing the current batch");
                health.set_stopping();
                let _ = stop.send(true);
                flatten(worker.await)
            }
            finished = &mut worker => {
                let error = flatten(finished)
                    .err()
                    .unwrap_or_else(|| anyhow::anyhow!("the worker stopped by itself"));
                tracing::error!(%error, "the consumer stopped");
                Err(error)
            }
        };
        database_check.abort();
        stock_reporter.abort();
        server_handle.stop(true).await;
        let _ = server.await;
        tracing::info!("consumer-svc stopped");
        result
    }
}

fn flatten(joined: Result<anyhow::Result<()>, tokio::task::JoinError>) -> anyhow::Result<()> {
    joined.map_err(|e| anyhow::anyhow!("the worker task failed: {e}"))?
}

fn http_server(
    listener: TcpListener,
    settings: &Settings,
    store: Store,
    health: Health,
) -> anyhow::Result<Server> {
    let store = web::Data::new(store);
    let health = web::Data::new(health);
    let mut server = HttpServer::new(move || {
        App::new()
            .wrap(from_fn(observe))
            .app_data(store.clone())
            .app_data(health.clone())
            .service(get_only("/v1/orders/{id}", orders::get_order))
            .service(get_only("/healthz", health::healthz))
            .service(get_only("/readyz", health::readyz))
            .service(get_only("/metrics", metrics::metrics))
            .default_service(web::to(unknown_route))
    })
    .listen(listener)?
    .keep_alive(settings.http.keep_alive())
    .client_request_timeout(settings.http.request_head_timeout())
    .max_connections(settings.http.max_connections_per_worker)
    .shutdown_timeout(settings.http.shutdown_timeout_secs)
    .disable_signals();
    if settings.http.workers > 0 {
        server = server.workers(settings.http.workers);
    }
    Ok(server.run())
}
