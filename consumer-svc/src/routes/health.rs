//! Liveness and readiness for Kubernetes probes.

use actix_web::{web, HttpResponse};

use crate::health::Health;

/// The process is alive and serving HTTP.
pub async fn healthz() -> HttpResponse {
    common::health::alive_response()
}

/// Ready while the worker is in its group (assigned, or waiting for an assignment) and
/// the database answers.
pub async fn readyz(health: web::Data<Health>) -> HttpResponse {
    common::health::readiness_response(health.readiness())
}
