//! Readiness of a consumer replica: ready while its worker runs (assigned or waiting for
//! an assignment), the cluster accepts its credentials, the database answers and dead
//! letters can be written. `/healthz` only says the process is alive.
//!
//! A Kafka outage alone does not make a replica not ready (it still serves look-ups and
//! resumes by itself); refused credentials do, because they are a configuration error
//! that no wait fixes. The group's join clears them (`kafka_auth`), and the periodic
//! database check re-evaluates readiness, so a fixed credential shows within one check.
//!
//! Two sources report on the database: a periodic `SELECT 1`, which notices an outage
//! even while no records flow, and the worker, whose batches notice it first under load.
//! Either one failing makes the replica not ready; both must agree it is back.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::health::Readiness;
use common::kafka_auth::AuthFailures;
use tokio::task::JoinHandle;

use crate::store::Store;

#[derive(Clone, Default)]
pub struct Health {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    readiness: Readiness,
    kafka_auth: AuthFailures,
    ping_failing: AtomicBool,
    batches_failing: AtomicBool,
    dead_letters_failing: AtomicBool,
    worker_running: AtomicBool,
    stopping: AtomicBool,
}

impl Health {
    /// Readiness that also reads `kafka_auth`, where the replica's Kafka clients record
    /// refused credentials.
    pub fn new(kafka_auth: AuthFailures) -> Self {
        Self {
            inner: Arc::new(Inner {
                kafka_auth,
                ..Inner::default()
            }),
        }
    }

    pub fn readiness(&self) -> &Readiness {
        &self.inner.readiness
    }

    pub fn kafka_auth(&self) -> &AuthFailures {
        &self.inner.kafka_auth
    }

    pub fn set_ping_failing(&self, failing: bool) {
        self.inner.ping_failing.store(failing, Ordering::Release);
        self.update();
    }

    pub fn set_batches_failing(&self, failing: bool) {
        self.inner.batches_failing.store(failing, Ordering::Release);
        self.update();
    }

    pub fn set_dead_letters_failing(&self, failing: bool) {
        self.inner
            .dead_letters_failing
            .store(failing, Ordering::Release);
        self.update();
    }

    pub fn set_worker_running(&self, running: bool) {
        self.inner.worker_running.store(running, Ordering::Release);
        self.update();
    }

    pub fn set_stopping(&self) {
        self.inner.stopping.store(true, Ordering::Release);
        self.update();
    }

    fn update(&self) {
        let i = &self.inner;
        let reason = if i.stopping.load(Ordering::Acquire) {
            Some("shutting down".to_owned())
        } else if !i.worker_running.load(Ordering::Acquire) {
            Some("the consumer is not running".to_owned())
        } else if let Some(refused) = i.kafka_auth.current() {
            Some(refused)
        } else if i.dead_letters_failing.load(Ordering::Acquire) {
            Some("the dead-letter topic cannot be written; partitions paused, retrying".to_owned())
        } else if i.batches_failing.load(Ordering::Acquire) {
            Some("the database is failing; partitions paused, retrying".to_owned())
        } else if i.ping_failing.load(Ordering::Acquire) {
            Some("the database does not answer".to_owned())
        } else {
            None
        };
        match reason {
            Some(reason) => i.readiness.set_not_ready(reason),
            None => i.readiness.set_ready(),
        }
    }
}

/// Pings the database every `interval` and reports the result to `health`.
pub fn spawn_database_check(store: Store, health: Health, interval: Duration) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut was_failing = false;
        loop {
            ticker.tick().await;
            let result = tokio::time::timeout(interval.max(Duration::from_secs(1)), store.ping())
                .await
                .map_err(|_| "timed out".to_owned())
                .and_then(|r| r.map_err(|e| e.to_string()));
            let failing = result.is_err();
            if failing != was_failing {
                match &result {
                    Err(error) => tracing::warn!(%error, "database check failed"),
                    Ok(()) => tracing::info!("database check passes again"),
                }
            }
            was_failing = failing;
            health.set_ping_failing(failing);
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_only_while_the_worker_runs_and_the_database_answers() {
        let health = Health::default();
        assert!(!health.readiness().is_ready());
        health.set_worker_running(true);
        assert!(health.readiness().is_ready());
        health.set_batches_failing(true);
        assert!(!health.readiness().is_ready());
        health.set_ping_failing(true);
        health.set_batches_failing(false);
        assert!(!health.readiness().is_ready(), "the ping still fails");
        health.set_ping_failing(false);
        assert!(health.readiness().is_ready());
        health.set_stopping();
        assert_eq!(health.readiness().reason(), "shutting down");
    }

    #[test]
    fn refused_kafka_credentials_make_the_replica_not_ready_and_say_so() {
        let auth = AuthFailures::default();
        let health = Health::new(auth.clone());
        health.set_worker_running(true);
        assert!(health.readiness().is_ready());
        auth.record("SASL authentication error: invalid credentials");
        health.set_ping_failing(false);
        assert!(!health.readiness().is_ready());
        assert!(
            health.readiness().reason().contains("credentials"),
            "{}",
            health.readiness().reason()
        );
        auth.clear();
        health.set_ping_failing(false);
        assert!(health.readiness().is_ready());
    }
}
