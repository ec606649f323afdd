//! The signal that starts a graceful shutdown: SIGTERM (Kubernetes) or SIGINT (Ctrl-C),
//! and the budget that bounds it.
//!
//! A graceful shutdown waits for others: in-flight requests for their broker's
//! acknowledgement, a batch for PostgreSQL, an offset commit and the leave request for the
//! group coordinator, librdkafka's close. When those are gone (a broker outage, a
//! black-holed database) some of these waits have no end of their own, and the kubelet's
//! SIGKILL after `terminationGracePeriodSeconds` would be the only way out — or, outside
//! Kubernetes, nothing. So the moment the signal arrives a watchdog thread starts: past
//! the budget it logs why and ends the process. That loses nothing: an order is answered
//! 202 only after its ack, and an offset is stored only after its transaction committed,
//! so whatever the shutdown did not finish is simply redelivered to the next owner.

use std::time::Duration;

/// Exit code of a process whose graceful shutdown ran out of budget.
pub const BUDGET_EXCEEDED_EXIT_CODE: i32 = 70;

/// Resolves when the process is asked to stop.
pub async fn signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(error) => {
            tracing::error!(%error, "cannot listen for SIGTERM; stopping on SIGINT only");
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM received, shutting down"),
        _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT received, shutting down"),
    }
}

/// [`signal`], and from that moment a watchdog that ends the process `budget` later if
/// the graceful shutdown has not finished by then (see the module docs).
pub async fn signal_with_budget(budget: Duration) {
    signal().await;
    arm_watchdog(budget);
}

/// Starts the watchdog now. It is an OS thread, not a task, so a runtime whose workers
/// are all blocked (or that waits for blocking threads as it drops) cannot hold it up.
pub fn arm_watchdog(budget: Duration) {
    let spawned = std::thread::Builder::new()
        .name("shutdown-watchdog".to_owned())
        .spawn(move || {
            std::thread::sleep(budget);
            tracing::error!(
                budget_secs = budget.as_secs_f64(),
                "graceful shutdown did not finish within its budget; exiting now \
                 (nothing acknowledged is lost: what was not committed is redelivered)"
            );
            std::process::exit(BUDGET_EXCEEDED_EXIT_CODE);
        });
    if let Err(error) = spawned {
        tracing::error!(%error, "cannot start the shutdown watchdog");
    }
}
