//! Readiness shared between the part of a service that knows (a Kafka metadata probe, a
//! database check) and the `/readyz` handler that tells Kubernetes.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

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
