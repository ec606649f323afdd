//! Liveness and readiness for Kubernetes probes.

use actix_web::{web, HttpResponse};

use common::health::{HealthStatus, Readiness};

/// The process is alive and serving HTTP.
#[utoipa::path(get, path = "/healthz", responses((status = 200, body = HealthStatus)))]
pub async fn healthz() -> HttpResponse {
    common::health::alive_response()
}

/// Ready while broker metadata for the orders topic can be fetched.
#[utoipa::path(get, path = "/readyz", responses(
    (status = 200, body = HealthStatus),
    (status = 503, body = HealthStatus, description = "broker unreachable or shutting down"),
))]
pub async fn readyz(readiness: web::Data<Readiness>) -> HttpResponse {
    common::health::readiness_response(&readiness)
}
