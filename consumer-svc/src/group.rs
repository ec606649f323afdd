//! Group membership: what the rebalance callbacks do, and the state they share with the
//! worker.
//!
//! librdkafka runs these callbacks inside the worker's own `recv()`, never while a batch
//! is being applied, so a revocation always finds the worker between batches:
//! - revoke: commit the offsets stored so far, synchronously, so the next owner starts
//!   right after the last committed transaction instead of replaying up to one
//!   auto-commit interval; then tell the worker to drop the records it holds for those
//!   partitions (they were never stored, so the next owner reads them again). librdkafka
//!   also commits a removed partition's stored offset itself when auto commit is on; the
//!   explicit commit keeps the hand-over exact even if an operator turns auto commit off
//!   through the property passthrough, and makes the guarantee visible here;
//! - assign: remember the partitions, and pause them at once while the database is down,
//!   so an outage does not fill memory with records that cannot be applied.
//!
//! Both protocols deliver incremental assignments (KIP-848 `consumer` always,
//! `classic` with cooperative-sticky), which rdkafka's default `rebalance` applies with
//! `incremental_assign`/`incremental_unassign`.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use rdkafka::client::ClientContext;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance};
use rdkafka::error::{KafkaError, KafkaResult, RDKafkaErrorCode};
use rdkafka::statistics::Statistics;
use rdkafka::TopicPartitionList;

use common::kafka_auth::AuthFailures;
use common::kafka_stats::StatsContext;

use crate::metrics::{self, RebalanceKind};

/// What the rebalance callbacks and the worker both need to see.
#[derive(Debug, Default)]
pub struct GroupState {
    assignment: Mutex<BTreeSet<i32>>,
    /// Partitions revoked since the worker last looked.
    revoked: Mutex<Vec<i32>>,
    paused: AtomicBool,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // The data stays consistent even if a holder panicked: every update is one insert or
    // remove.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl GroupState {
    /// The partitions this replica owns now.
    pub fn assignment(&self) -> Vec<i32> {
        lock(&self.assignment).iter().copied().collect()
    }

    /// Revocations since the last call.
    pub fn take_revoked(&self) -> Vec<i32> {
        std::mem::take(&mut *lock(&self.revoked))
    }

    pub fn is_paused(&self) -> bool {
        self.paused.load(Ordering::Acquire)
    }

    pub fn set_paused(&self, paused: bool) {
        self.paused.store(paused, Ordering::Release);
        metrics::set_paused(paused);
    }

    fn assign(&self, partitions: &[i32]) {
        lock(&self.assignment).extend(partitions.iter().copied());
    }

    fn revoke(&self, partitions: &[i32]) {
        let mut assignment = lock(&self.assignment);
        for p in partitions {
            assignment.remove(p);
        }
        lock(&self.revoked).extend_from_slice(partitions);
    }
}

/// The consumer's librdkafka context.
pub struct GroupContext {
    topic: String,
    state: Arc<GroupState>,
    stats: StatsContext,
}

impl GroupContext {
    pub fn new(topic: &str, state: Arc<GroupState>, auth: AuthFailures) -> Self {
        Self {
            topic: topic.to_owned(),
            state,
            stats: StatsContext::new("consumer", auth),
        }
    }

    fn partitions(&self, tpl: &TopicPartitionList) -> Vec<i32> {
        tpl.elements_for_topic(&self.topic)
            .iter()
            .map(|e| e.partition())
            .collect()
    }
}

impl ClientContext for GroupContext {
    fn stats(&self, statistics: Statistics) {
        self.stats.stats(statistics);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        self.stats.error(error, reason);
    }
}

impl ConsumerContext for GroupContext {
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Revoke(tpl) => {
                let partitions = self.partitions(tpl);
                if partitions.is_empty() {
                    return;
                }
                metrics::record_rebalance(RebalanceKind::Revoke);
                let lost = consumer.assignment_lost();
                match commit_stored(consumer) {
                    Ok(()) => {}
                    // Fenced or timed out: the group already gave the partitions away; the
                    // next owner starts from the last auto-commit and replays (harmlessly).
                    Err(error) => {
                        tracing::warn!(%error, lost, "could not commit offsets on revoke")
                    }
                }
                self.state.revoke(&partitions);
                tracing::info!(?partitions, lost, "partitions revoked");
            }
            Rebalance::Assign(_) => {}
            Rebalance::Error(error) => tracing::warn!(%error, "rebalance error"),
        }
    }

    fn post_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Assign(tpl) = rebalance {
            // The group accepted this member, so the cluster accepts its credentials.
            self.stats.auth_failures().clear();
            let partitions = self.partitions(tpl);
            if partitions.is_empty() {
                return;
            }
            metrics::record_rebalance(RebalanceKind::Assign);
            self.state.assign(&partitions);
            if self.state.is_paused() {
                if let Err(error) = consumer.pause(tpl) {
                    tracing::warn!(%error, "could not pause newly assigned partitions");
                }
            }
            tracing::info!(
                ?partitions,
                paused = self.state.is_paused(),
                "partitions assigned"
            );
        }
    }

    fn commit_callback(&self, result: KafkaResult<()>, _offsets: &TopicPartitionList) {
        match result {
            Ok(()) | Err(KafkaError::ConsumerCommit(RDKafkaErrorCode::NoOffset)) => {}
            Err(error) => tracing::warn!(%error, "offset commit failed"),
        }
    }
}

/// Commits the stored offsets and waits for the broker. Nothing stored is not an error.
pub fn commit_stored<C: Consumer<X>, X: ConsumerContext>(consumer: &C) -> KafkaResult<()> {
    match consumer.commit_consumer_state(CommitMode::Sync) {
        Err(KafkaError::ConsumerCommit(RDKafkaErrorCode::NoOffset)) => Ok(()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn revoked_partitions_leave_the_assignment_and_are_reported_once() {
        let state = GroupState::default();
        state.assign(&[0, 1, 2]);
        state.revoke(&[1]);
        assert_eq!(state.assignment(), [0, 2]);
        assert_eq!(state.take_revoked(), [1]);
        assert!(state.take_revoked().is_empty());
    }
}
