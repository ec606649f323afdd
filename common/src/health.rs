//! Readiness shared between the part of a service that knows (a Kafka metadata probe, a
//! database check) and the `/readyz` handler that tells Kubernetes.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use actix_web::HttpResponse;
use serde::Serialize;

/// Body of `/healthz` and `/readyz`.
#[derive(Serialize, utoipa::ToSchema)]
pub struct HealthStatus {
    #[schema(example = "ok")]
    pub status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// `/healthz`: the process is alive and serving HTTP.
pub fn alive_response() -> HttpResponse {
    HttpResponse::Ok().json(HealthStatus {
        status: "ok",
        reason: None,
    })
}

/// `/healthz` of a process that can break beyond repair while still serving HTTP: 200
/// while `liveness` holds, 503 with the reason once it failed (the kubelet then restarts
/// the container).
pub fn liveness_response(liveness: &Liveness) -> HttpResponse {
    match liveness.failure() {
        None => alive_response(),
        Some(reason) => HttpResponse::ServiceUnavailable().json(HealthStatus {
            status: "failed",
            reason: Some(reason),
        }),
    }
}

/// Alive until something the process cannot recover from happened (a fatal librdkafka
/// error: the client refuses every request from then on); only a restart helps. Once
/// failed it stays failed.
#[derive(Clone, Default)]
pub struct Liveness {
    failure: Arc<Mutex<Option<String>>>,
}

impl Liveness {
    /// Marks the process as beyond repair; the first reason is kept.
    pub fn set_failed(&self, reason: impl Into<String>) {
        if let Ok(mut slot) = self.failure.lock() {
            slot.get_or_insert_with(|| reason.into());
        }
    }

    pub fn failure(&self) -> Option<String> {
        self.failure.lock().ok().and_then(|f| f.clone())
    }
}

/// `/readyz`: 200 while `readiness` is up, 503 with the reason otherwise.
pub fn readiness_response(readiness: &Readiness) -> HttpResponse {
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

/// A cheap, cloneable readiness flag with the reason it is down.
#[derive(Clone, Default)]
pub struct Readiness {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    ready: AtomicBool,
    reason: Mutex<String>,
}

impl Readiness {
    pub fn set_ready(&self) {
        self.inner.ready.store(true, Ordering::Release);
    }

    pub fn set_not_ready(&self, reason: impl Into<String>) {
        if let Ok(mut slot) = self.inner.reason.lock() {
            *slot = reason.into();
        }
        self.inner.ready.store(false, Ordering::Release);
    }

    pub fn is_ready(&self) -> bool {
        self.inner.ready.load(Ordering::Acquire)
    }

    /// Why the service is not ready (empty when it is, or before the first check).
    pub fn reason(&self) -> String {
        self.inner
            .reason
            .lock()
            .map(|r| r.clone())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn liveness_fails_once_and_keeps_its_first_reason() {
        let liveness = Liveness::default();
        assert_eq!(liveness.failure(), None);
        liveness.set_failed("fatal producer error");
        liveness.clone().set_failed("later");
        assert_eq!(liveness.failure().as_deref(), Some("fatal producer error"));
    }

    #[test]
    fn readiness_starts_down_and_follows_the_latest_check() {
        let readiness = Readiness::default();
        assert!(!readiness.is_ready());
        readiness.set_ready();
        assert!(readiness.clone().is_ready());
        readiness.set_not_ready("broker unreachable");
        assert!(!readiness.is_ready());
        assert_eq!(readiness.reason(), "broker unreachable");
    }
}
