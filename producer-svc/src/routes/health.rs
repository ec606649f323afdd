//! Liveness and readiness for Kubernetes probes.

use actix_web::{web, HttpResponse};
use serde::Serialize;

use common::health::Readiness;

#[derive(Serialize, utoipa::ToSchema)]
pub struct HealthStatus {
    #[schema(example = "ok")]
    pub status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// The process is alive and serving HTTP.
#[utoipa::path(get, path = "/healthz", responses((status = 200, body = HealthStatus)))]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(HealthStatus {
        status: "ok",
        reason: None,
    })
}

/// Ready while broker metadata for the orders topic can be fetched.
#[utoipa::path(get, path = "/readyz", responses(
    (status = 200, body = HealthStatus),
    (status = 503, body = HealthStatus, description = "broker unreachable or shutting down"),
))]
pub async fn readyz(readiness: web::Data<Readiness>) -> HttpResponse {
    if readiness.is_ready() {
        HttpResponse::Ok().json(HealthStatus {
            status: "ready",
            reason: None,
        })
    } else {
        HttpResponse::ServiceUnavailable().json(HealthStatus {
            status: "not_ready",
            reason: Some(readiness.reason()),
        })
    }
}
