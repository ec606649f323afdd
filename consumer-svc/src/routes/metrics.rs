//! Prometheus exposition of everything the service recorded.

use actix_web::HttpResponse;

pub async fn metrics() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(common::telemetry::render_metrics())
}
