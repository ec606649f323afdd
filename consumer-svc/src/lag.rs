//! Lag of this replica's partitions: records on the broker it has not processed yet.
//!
//! The formula and its edge cases are `kafka_lag::lag`'s, the one lag-exporter and the
//! autoscaler use; what differs is the offset it starts from: the next offset the worker
//! stored after its last batch, or the group's committed offset for a partition it has not
//! finished a batch on yet. Watermarks come from the broker (a ListOffsets request per
//! partition), not from the fetcher's cache, which goes stale exactly when lag matters:
//! while the local queue is full or fetching is paused.
//!
//! Partitions that leave the assignment are reported as 0, so summing the gauge over
//! replicas never counts a partition twice.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kafka_lag::{committed_position, Watermarks};
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::TopicPartitionList;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::group::{GroupContext, GroupState};
use crate::metrics;

/// Per partition, the next offset to process, as of the last stored batch.
#[derive(Debug, Default)]
pub struct Progress {
    next: Mutex<HashMap<i32, i64>>,
}

impl Progress {
    pub fn advance(&self, next_offsets: &BTreeMap<i32, i64>) {
        let mut next = self.next.lock().unwrap_or_else(|p| p.into_inner());
        for (&partition, &offset) in next_offsets {
            next.insert(partition, offset);
        }
    }

    pub fn forget(&self, partitions: &[i32]) {
        let mut next = self.next.lock().unwrap_or_else(|p| p.into_inner());
        for p in partitions {
            next.remove(p);
        }
    }

    fn get(&self, partition: i32) -> Option<i64> {
        let next = self.next.lock().unwrap_or_else(|p| p.into_inner());
        next.get(&partition).copied()
    }
}

pub struct LagReporter {
    pub consumer: Arc<StreamConsumer<GroupContext>>,
    pub state: Arc<GroupState>,
    pub progress: Arc<Progress>,
    pub topic: String,
    pub interval: Duration,
    pub request_timeout: Duration,
}

impl LagReporter {
    /// Measures every `interval` until `stop` turns true.
    pub fn spawn(self, mut stop: watch::Receiver<bool>) -> JoinHandle<()> {
        let reporter = Arc::new(self);
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(reporter.interval);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut reported = BTreeSet::new();
            loop {
                tokio::select! {
                    biased;
                    _ = stop.wait_for(|stopping| *stopping) => break,
                    _ = ticker.tick() => {}
                }
                let measuring = Arc::clone(&reporter);
                let Ok(lags) = tokio::task::spawn_blocking(move || measuring.measure()).await
                else {
                    continue;
                };
                // A partition measured without an answer keeps its last value: 0 would
                // read as "caught up".
                for (&partition, &lag) in &lags {
                    if let Some(lag) = lag {
                        metrics::set_lag(&reporter.topic, partition, lag);
                    }
                }
                for &gone in reported.iter().filter(|p| !lags.contains_key(p)) {
                    metrics::set_lag(&reporter.topic, gone, 0);
                }
                reported = lags.keys().copied().collect();
            }
        })
    }

    /// Lag per assigned partition, `None` where the broker gave no watermarks. Blocking:
    /// talks to the broker.
    fn measure(&self) -> BTreeMap<i32, Option<i64>> {
        let assigned = self.state.assignment();
        let mut next = BTreeMap::new();
        let mut unknown = TopicPartitionList::new();
        for &partition in &assigned {
            match self.progress.get(partition) {
                Some(offset) => {
                    next.insert(partition, offset);
                }
                None => {
                    unknown.add_partition(&self.topic, partition);
                }
            }
        }
        if unknown.count() > 0 {
            match self
                .consumer
                .committed_offsets(unknown, self.request_timeout)
            {
                Ok(committed) => {
                    for element in committed.elements() {
                        if let Some(offset) = committed_position(element.offset()) {
                            next.insert(element.partition(), offset);
                        }
                    }
                }
                Err(error) => tracing::debug!(%error, "committed offsets unavailable for lag"),
            }
        }
        let mut lags = BTreeMap::new();
        for partition in assigned {
            let watermarks =
                match self
                    .consumer
                    .fetch_watermarks(&self.topic, partition, self.request_timeout)
                {
                    Ok((low, high)) => Watermarks::known(low, high).or_else(|| {
                        tracing::debug!(partition, low, high, "watermarks unknown for lag");
                        None
                    }),
                    Err(error) => {
                        tracing::debug!(%error, partition, "watermarks unavailable for lag");
                        None
                    }
                };
            let lag = watermarks.map(|w| kafka_lag::lag(next.get(&partition).copied(), w));
            lags.insert(partition, lag);
        }
        lags
    }
}
