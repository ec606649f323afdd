//! `GET /metrics` (a fresh snapshot per scrape) and `GET /healthz`.

use std::future::Future;
use std::net::TcpListener;
use std::sync::Arc;

use actix_web::{web, App, HttpResponse, HttpServer};

use crate::exposition;
use crate::offsets::OffsetReader;

/// The exporter, bound to its port; [`Exporter::run_until_stopped`] serves it.
pub struct Exporter {
    server: actix_web::dev::Server,
    port: u16,
}

impl Exporter {
    /// Binds `listener` (port 0 in tests) and prepares the server.
    pub fn build(listener: TcpListener, reader: OffsetReader) -> anyhow::Result<Self> {
        let port = listener.local_addr()?.port();
        // One scrape at a time: the reads block a thread each, and two overlapping scrapes
        // would only double the load on the broker for the same numbers.
        let reader = web::Data::new(Arc::new(std::sync::Mutex::new(reader)));
        let server = HttpServer::new(move || {
            App::new()
                .app_data(reader.clone())
                .route("/metrics", web::get().to(metrics))
                .route("/healthz", web::get().to(HttpResponse::Ok))
        })
        .workers(1)
        .disable_signals()
        .listen(listener)?
        .run();
        Ok(Self { server, port })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serves until `shutdown` completes, then stops accepting and drains.
    pub async fn run_until_stopped(self, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
        let handle = self.server.handle();
        let server = tokio::spawn(self.server);
        shutdown.await;
        handle.stop(true).await;
        server.await??;
        Ok(())
    }
}

async fn metrics(reader: web::Data<Arc<std::sync::Mutex<OffsetReader>>>) -> HttpResponse {
    let reader = Arc::clone(&reader);
    let snapshot = tokio::task::spawn_blocking(move || {
        let reader = reader
            .lock()
            .map_err(|_| anyhow::anyhow!("a scrape panicked"))?;
        reader.snapshot().map_err(anyhow::Error::from)
    })
    .await;
    match snapshot {
        Ok(Ok(snapshot)) => HttpResponse::Ok()
            .content_type("text/plain; version=0.0.4; charset=utf-8")
            .body(exposition::render(&snapshot)),
        Ok(Err(error)) => {
            tracing::warn!(%error, "could not read offsets from the broker");
            HttpResponse::ServiceUnavailable().body(format!("broker unavailable: {error}\n"))
        }
        Err(error) => {
            tracing::error!(%error, "offset reader task failed");
            HttpResponse::InternalServerError().finish()
        }
    }
}
