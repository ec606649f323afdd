//! Building and running the ingest service.

use std::future::Future;
use std::net::TcpListener;
use std::time::Duration;

use actix_web::dev::Server;
use actix_web::middleware::from_fn;
use actix_web::{web, App, HttpServer};
use tokio::task::JoinHandle;

use common::health::{Liveness, Readiness};
use common::http_observe::observe;
use common::problem::{method_not_allowed, unknown_route};
use common::routing::get_only;

use crate::broker_probe;
use crate::in_flight::InFlight;
use crate::ingest_state::IngestState;
use crate::publisher::Publisher;
use crate::routes::{health, metrics, openapi, orders};
use crate::settings::Settings;

/// A running ingest service: HTTP server, shared producer, readiness probe.
pub struct Application {
    port: u16,
    server: Server,
    publisher: Publisher,
    readiness: Readiness,
    probe: JoinHandle<()>,
    flush_timeout: Duration,
    shutdown_budget: Duration,
}

/// Kept free at the end of the shutdown budget for the last log lines and the exporters.
const SHUTDOWN_MARGIN: Duration = Duration::from_secs(1);

impl Application {
    /// Binds the listener (port 0 picks a free one), creates the producer and starts
    /// serving. The broker need not be reachable yet: `/readyz` says when it is.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        // Recorder first, so the first request's metrics are kept.
        common::telemetry::metrics_handle();
        let publisher = Publisher::new(&settings.kafka, settings.ingest.quick_lane)?;
        let readiness = Readiness::default();
        readiness.set_not_ready("broker not checked yet");
        let liveness = Liveness::default();
        let probe = broker_probe::spawn(
            publisher.clone(),
            readiness.clone(),
            liveness.clone(),
            Duration::from_millis(settings.ingest.readiness_interval_ms.max(50)),
        );

        let listener = TcpListener::bind((settings.http.host.as_str(), settings.http.port))?;
        let port = listener.local_addr()?.port();
        let state = web::Data::new(IngestState {
            publisher: publisher.clone(),
            in_flight: InFlight::new(settings.ingest.max_in_flight),
            limits: settings.ingest.clone(),
        });
        let ready = web::Data::new(readiness.clone());
        let alive = web::Data::new(liveness);
        let mut server = HttpServer::new(move || {
            App::new()
                .wrap(from_fn(observe))
                .app_data(state.clone())
                .app_data(ready.clone())
                .app_data(alive.clone())
                .service(
                    web::resource("/v1/orders")
                        .route(web::post().to(orders::create_order))
                        .default_service(web::to(method_not_allowed("POST"))),
                )
                .service(get_only("/healthz", health::healthz))
                .service(get_only("/readyz", health::readyz))
                .service(get_only("/metrics", metrics::metrics))
                .service(get_only("/openapi.json", openapi::openapi_json))
                .default_service(web::to(unknown_route))
        })
        .listen(listener)?
        .backlog(4096)
        .keep_alive(settings.http.keep_alive())
        .client_request_timeout(settings.http.request_head_timeout())
        .max_connections(settings.http.max_connections_per_worker)
        .shutdown_timeout(settings.http.shutdown_timeout_secs)
        .disable_signals();
        if settings.http.workers > 0 {
            server = server.workers(settings.http.workers);
        }
        Ok(Self {
            port,
            server: server.run(),
            publisher,
            readiness,
            probe,
            // Every queued record has at most the delivery timeout left.
            flush_timeout: Duration::from_millis(settings.kafka.delivery_timeout_ms + 1000),
            shutdown_budget: settings.shutdown.budget(),
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The shared producer (its librdkafka client), still usable after
    /// `run_until_stopped` took the application.
    pub fn publisher(&self) -> Publisher {
        self.publisher.clone()
    }

    /// Serves until `shutdown` resolves, then drains: readiness turns 503, the listener
    /// closes, in-flight requests finish (each waits for its ack), the producer flushes.
    /// Draining and flushing share `shutdown.budget_secs` from the moment `shutdown`
    /// resolved: requests still waiting when it runs out are dropped unanswered (their
    /// clients see a closed connection, never a 202), and the flush gets what is left.
    pub async fn run_until_stopped(self, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
        let Self {
            server,
            publisher,
            readiness,
            probe,
            flush_timeout,
            shutdown_budget,
            ..
        } = self;
        let handle = server.handle();
        let mut server = std::pin::pin!(server);
        tokio::select! {
            result = &mut server => {
                probe.abort();
                return result.map_err(Into::into);
            }
            () = shutdown => {}
        }
        let deadline =
            tokio::time::Instant::now() + shutdown_budget.saturating_sub(SHUTDOWN_MARGIN);
        probe.abort();
        readiness.set_not_ready("shutting down");
        tracing::info!("draining in-flight requests");
        let graceful = handle.stop(true);
        let drained = tokio::time::timeout_at(deadline, async {
            let (_, served) = tokio::join!(graceful, &mut server);
            served
        })
        .await;
        match drained {
            Ok(served) => served?,
            Err(_) => {
                tracing::error!(
                    budget_secs = shutdown_budget.as_secs(),
                    "in-flight requests did not finish within the shutdown budget; closing them"
                );
                handle.stop(false).await;
            }
        }
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let flush_for = flush_timeout.min(left);
        let flushed = tokio::task::spawn_blocking(move || publisher.flush(flush_for)).await?;
        match flushed {
            Ok(()) => tracing::info!("producer flushed, stopped"),
            Err(error) => tracing::error!(%error, "producer flush incomplete at shutdown"),
        }
        Ok(())
    }
}
