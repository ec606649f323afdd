//! Prometheus exposition of everything the service recorded.

use actix_web::{web, HttpResponse};

use crate::ingest_state::IngestState;
use crate::publisher::QUEUE_DEPTH;

pub const IN_FLIGHT: &str = "surge_producer_in_flight_orders";

pub async fn metrics(state: web::Data<IngestState>) -> HttpResponse {
    metrics::gauge!(QUEUE_DEPTH).set(f64::from(state.publisher.queue_depth()));
    metrics::gauge!(IN_FLIGHT).set(state.in_flight.current() as f64);
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(common::telemetry::render_metrics())
}
