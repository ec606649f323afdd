//! Keeps `/readyz` truthful: a background task asks the broker for the topic's metadata
//! and flips readiness when the answer changes.
//!
//! The probe runs at once on start, so the service turns ready as soon as the broker
//! answers, and more often while not ready, so recovery shows quickly.
//!
//! It also watches for librdkafka's fatal error, after which the producer fails every
//! record while the broker may well answer metadata requests. That is no outage to wait
//! out: the probe logs the error, fails liveness (`/healthz` 503, so the kubelet restarts
//! the container) and readiness, for good.

use std::time::Duration;

use tokio::task::JoinHandle;

use common::health::{Liveness, Readiness};

use crate::publisher::Publisher;

pub fn spawn(
    publisher: Publisher,
    readiness: Readiness,
    liveness: Liveness,
    interval: Duration,
) -> JoinHandle<()> {
    let timeout = interval.clamp(Duration::from_millis(500), Duration::from_secs(2));
    tokio::spawn(async move {
        loop {
            if let Some((code, reason)) = publisher.fatal_error() {
                let reason = format!("fatal Kafka producer error {code:?}: {reason}");
                tracing::error!(
                    %reason,
                    "the producer failed for good; failing liveness so the process is restarted"
                );
                liveness.set_failed(reason.clone());
                readiness.set_not_ready(reason);
                return;
            }
            let probe = publisher.clone();
            let outcome = tokio::task::spawn_blocking(move || probe.check_metadata(timeout))
                .await
                .unwrap_or_else(|e| Err(format!("probe failed: {e}")));
            let pause = match outcome {
                Ok(()) => {
                    publisher.auth_failures().clear();
                    if !readiness.is_ready() {
                        tracing::info!("broker reachable, ready");
                    }
                    readiness.set_ready();
                    interval
                }
                Err(reason) => {
                    // "Broker transport failure" hides a refused credential: name it.
                    let reason = publisher.auth_failures().current().unwrap_or(reason);
                    if readiness.is_ready() {
                        tracing::warn!(%reason, "broker unreachable, not ready");
                    }
                    readiness.set_not_ready(reason);
                    interval.min(Duration::from_millis(250))
                }
            };
            tokio::time::sleep(pause).await;
        }
    })
}
