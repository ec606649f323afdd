//! Liveness and readiness for Kubernetes probes.

use actix_web::{web, HttpResponse};
use serde::Serialize;

use crate::health::Health;

#[derive(Serialize)]
pub struct HealthStatus {
    pub status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// The process is alive and serving HTTP.
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(HealthStatus {
        status: "ok",
        reason: None,
    })
}

/// Ready while the worker is in its group (assigned, or waiting for an assignment) and
/// the database answers.
pub async fn readyz(health: web::Data<Health>) -> HttpResponse {
    let readiness = health.readiness();
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
