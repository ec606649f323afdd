//! Liveness and readiness for Kubernetes probes.

use actix_web::{web, HttpResponse};

use common::health::{HealthStatus, Liveness, Readiness};

/// The process is alive and its Kafka producer usable; 503 after a fatal producer error,
/// which only a restart repairs.
#[utoipa::path(get, path = "/healthz", responses(
    (status = 200, body = HealthStatus),
    (status = 503, body = HealthStatus, description = "fatal Kafka producer error; restart the process"),
))]
pub async fn healthz(liveness: web::Data<Liveness>) -> HttpResponse {
    common::health::liveness_response(&liveness)
}

/// Ready while broker metadata for the orders topic can be fetched.
#[utoipa::path(get, path = "/readyz", responses(
    (status = 200, body = HealthStatus),
    (status = 503, body = HealthStatus, description = "broker unreachable or shutting down"),
))]
pub async fn readyz(readiness: web::Data<Readiness>) -> HttpResponse {
    common::health::readiness_response(&readiness)
}
