//! The consume loop: fetch → batch → dead-letter poison → transaction → store offsets.
//!
//! Delivery guarantees, and where each one comes from:
//! - **No loss.** An offset is stored only after every record below it was committed to
//!   PostgreSQL or acknowledged by the dead-letter topic (`enable.auto.offset.store=false`;
//!   librdkafka's auto commit then commits what was stored). A crash replays from the last
//!   committed offset.
//! - **No double effect.** A replayed record finds its order row and changes nothing
//!   (see [`crate::store`]).
//! - **Order.** One loop per replica: records of a partition are applied in offset order,
//!   and a batch is applied completely before the next is taken. Rebalance callbacks run
//!   inside this loop's `recv()`, so they never see a half-applied batch.
//! - **Database outage ≠ poison.** A failed transaction is retried with capped exponential
//!   backoff, forever; meanwhile the assigned partitions are paused and the loop keeps
//!   polling, so the replica stays in its group (`max.poll.interval.ms`) and hands
//!   partitions over cleanly if a rebalance happens. Nothing is dead-lettered for it.
//! - **Shutdown.** Stop fetching, apply what was already fetched, commit synchronously,
//!   leave the group. A batch that cannot be applied during shutdown is abandoned
//!   un-stored (replayed by the next owner), and nothing after it is applied.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::error::KafkaError;
use rdkafka::message::OwnedMessage;
use rdkafka::Message;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::Instrument;

use crate::backoff::Backoff;
use crate::batch::{Batch, Pending};
use crate::dlq::DeadLetters;
use crate::group::{commit_stored, GroupContext, GroupState};
use crate::health::Health;
use crate::lag::{LagReporter, Progress};
use crate::metrics;
use crate::settings::Settings;
use crate::store::{Committed, Outcome, Store, StoreError};

pub type GroupConsumer = StreamConsumer<GroupContext>;

/// Longest wait for each of the final offset commit and the group leave on shutdown.
const CLOSE_STEP_TIMEOUT: Duration = Duration::from_secs(5);

/// Whether a batch reached the database (and its offsets were stored).
enum Applied {
    Done,
    /// Shutdown arrived while the batch could not be applied; it was not stored.
    Abandoned,
}

pub struct Worker {
    consumer: Arc<GroupConsumer>,
    state: Arc<GroupState>,
    store: Store,
    dead_letters: DeadLetters,
    health: Health,
    progress: Arc<Progress>,
    pending: Pending,
    topic: String,
    group: String,
    max_records: usize,
    max_wait: Duration,
    simulated_latency: Duration,
    retry_initial: Duration,
    retry_max: Duration,
    transaction_timeout: Duration,
    lag_interval: Duration,
    lag_request_timeout: Duration,
}

impl Worker {
    /// Creates the group consumer (not yet subscribed) and the worker around it.
    pub fn new(
        settings: &Settings,
        store: Store,
        dead_letters: DeadLetters,
        health: Health,
    ) -> anyhow::Result<Self> {
        let state = Arc::new(GroupState::default());
        let consumer: GroupConsumer = common::kafka::consumer_config(&settings.kafka)
            .create_with_context(GroupContext::new(
                &settings.kafka.topic,
                Arc::clone(&state),
                health.kafka_auth().clone(),
            ))
            .context("creating the Kafka consumer")?;
        Ok(Self {
            consumer: Arc::new(consumer),
            state,
            store,
            dead_letters,
            health,
            progress: Arc::default(),
            pending: Pending::default(),
            topic: settings.kafka.topic.clone(),
            group: settings.kafka.group_id.clone(),
            max_records: settings.consumer.batch_max_records.max(1),
            max_wait: settings.consumer.batch_max_wait(),
            simulated_latency: Duration::from_millis(settings.processing.simulated_latency_ms),
            retry_initial: Duration::from_millis(settings.database.retry_initial_ms),
            retry_max: Duration::from_millis(settings.database.retry_max_ms),
            transaction_timeout: settings.database.transaction_timeout(),
            lag_interval: settings.consumer.lag_interval(),
            lag_request_timeout: Duration::from_millis(
                settings.consumer.lag_request_timeout_ms.max(100),
            ),
        })
    }

    /// The state shared with the rebalance callbacks: assignment, pause.
    pub fn group_state(&self) -> Arc<GroupState> {
        Arc::clone(&self.state)
    }

    /// Joins the group and processes until `stop` turns true (or a fatal error), then
    /// commits and leaves the group.
    pub async fn run(mut self, stop: watch::Receiver<bool>) -> anyhow::Result<()> {
        self.consumer
            .subscribe(&[&self.topic])
            .with_context(|| format!("subscribing to {}", self.topic))?;
        let (lag_stop, lag_stopped) = watch::channel(false);
        let lag = LagReporter {
            consumer: Arc::clone(&self.consumer),
            state: Arc::clone(&self.state),
            progress: Arc::clone(&self.progress),
            topic: self.topic.clone(),
            interval: self.lag_interval,
            request_timeout: self.lag_request_timeout,
        }
        .spawn(lag_stopped);
        self.health.set_worker_running(true);
        tracing::info!(topic = %self.topic, group = %self.group, "subscribed, waiting for partitions");
        let mut stop = stop;
        let result = self.consume(&mut stop).await;
        self.health.set_worker_running(false);
        let _ = lag_stop.send(true);
        self.close(lag).await;
        result
    }

    async fn consume(&mut self, stop: &mut watch::Receiver<bool>) -> anyhow::Result<()> {
        loop {
            let stopping = self.fill(stop).await?;
            if stopping {
                self.stop_fetching();
            }
            // A revocation can arrive inside a `recv()` that then lost the race against the
            // batch deadline; the records of partitions given away must not be applied here
            // (their next owner is about to apply them).
            self.apply_revocations();
            // On shutdown, everything already fetched is applied before leaving.
            while !self.pending.is_empty() {
                let records = self.pending.take(self.max_records);
                if let Applied::Abandoned = self.process(records, stop).await {
                    return Ok(());
                }
                if !stopping {
                    break;
                }
            }
            if stopping {
                return Ok(());
            }
        }
    }

    /// Stops the fetcher on shutdown: nothing more is read while the held records are
    /// applied and the consumer closes.
    fn stop_fetching(&self) {
        if let Ok(assignment) = self.consumer.assignment() {
            let _ = self.consumer.pause(&assignment);
        }
    }

    /// Receives records until a batch is full, its oldest record waited `max_wait`, or
    /// `stop` turns true (then returns `true`).
    async fn fill(&mut self, stop: &mut watch::Receiver<bool>) -> anyhow::Result<bool> {
        let consumer = Arc::clone(&self.consumer);
        loop {
            if self.pending.len() >= self.max_records {
                return Ok(false);
            }
            let deadline = self.pending.deadline(self.max_wait);
            tokio::select! {
                biased;
                _ = stop.wait_for(|stopping| *stopping) => return Ok(true),
                () = sleep_until(deadline) => return Ok(false),
                received = consumer.recv() => {
                    self.apply_revocations();
                    match received {
                        Ok(message) => self.pending.push(message.detach()),
                        Err(error) => self.consumer_error(error)?,
                    }
                }
            }
        }
    }

    /// Applies one batch: dead letters, simulated work, transaction, offsets, metrics.
    async fn process(
        &mut self,
        records: Vec<OwnedMessage>,
        stop: &mut watch::Receiver<bool>,
    ) -> Applied {
        let started = Instant::now();
        let mut batch = Batch::classify(records, &self.topic, &self.group);
        if let Applied::Abandoned = self.dead_letter(&mut batch, stop).await {
            return Applied::Abandoned;
        }
        if !self.simulated_latency.is_zero() && !batch.orders.is_empty() {
            let count = u32::try_from(batch.orders.len()).unwrap_or(u32::MAX);
            tokio::time::sleep(self.simulated_latency.saturating_mul(count)).await;
        }
        let span = batch.span.clone();
        let committed = match self.apply(&mut batch, stop).instrument(span).await {
            Some(committed) => committed,
            None => return Applied::Abandoned,
        };
        if batch.is_empty() {
            return Applied::Done;
        }
        let offsets = batch.offsets_to_store(&self.topic);
        if let Err(error) = self.consumer.store_offsets(&offsets) {
            // Only possible if the partitions were lost meanwhile; the next owner replays
            // these records and finds their rows.
            tracing::warn!(%error, "could not store offsets after commit");
        }
        self.progress.advance(batch.next_offsets());
        for (sku, &remaining) in &committed.stock {
            metrics::set_stock(sku, remaining);
        }
        let now = time::OffsetDateTime::now_utc();
        for (order, outcome) in batch.orders.iter().zip(&committed.outcomes) {
            metrics::record_outcome(*outcome);
            if *outcome != Outcome::Duplicate {
                if let Ok(latency) = Duration::try_from(now - order.event.accepted_at) {
                    metrics::record_end_to_end(latency);
                }
            }
            order.span.in_scope(|| {
                tracing::debug!(
                    order_id = %order.event.order_id,
                    outcome = outcome.label(),
                    partition = order.partition,
                    offset = order.offset,
                    "order processed"
                );
            });
        }
        metrics::record_batch(batch.len(), started.elapsed());
        Applied::Done
    }

    /// Produces the batch's poison records to the dead-letter topic and waits for the
    /// acknowledgements, retrying (with backoff) those that failed.
    async fn dead_letter(
        &mut self,
        batch: &mut Batch,
        stop: &mut watch::Receiver<bool>,
    ) -> Applied {
        let mut backoff = Backoff::new(self.retry_initial, self.retry_max);
        loop {
            let sends = batch
                .poison
                .iter()
                .enumerate()
                .filter(|(_, p)| !p.delivered)
                .map(|(i, p)| {
                    let dead_letters = &self.dead_letters;
                    async move {
                        let result = tracing::Instrument::instrument(
                            dead_letters.send(&p.record, &p.error),
                            p.span.clone(),
                        )
                        .await;
                        (i, result)
                    }
                })
                .collect::<Vec<_>>();
            if sends.is_empty() {
                return Applied::Done;
            }
            let mut failed = false;
            for (i, result) in futures::future::join_all(sends).await {
                let poison = &mut batch.poison[i];
                match result {
                    Ok(()) => {
                        poison.delivered = true;
                        metrics::record_dead_letter(poison.error.kind());
                        poison.span.in_scope(|| {
                            tracing::warn!(
                                partition = poison.record.partition(),
                                offset = poison.record.offset(),
                                kind = poison.error.kind(),
                                error = %poison.error,
                                dlq = %self.dead_letters.topic(),
                                "record dead-lettered"
                            );
                        });
                    }
                    Err(error) => {
                        failed = true;
                        tracing::error!(%error, "dead letter not acknowledged; retrying");
                    }
                }
            }
            if !failed {
                if backoff.attempts() > 0 {
                    self.health.set_dead_letters_failing(false);
                    tracing::info!(
                        retries = backoff.attempts(),
                        dlq = %self.dead_letters.topic(),
                        "dead letters written again"
                    );
                }
                return Applied::Done;
            }
            if backoff.attempts() == 0 {
                // Like a database outage: stop fetching (librdkafka drops what it had
                // prefetched for paused partitions, so memory stays bounded while this
                // waits) and say so on /readyz. `apply` resumes after the batch commits.
                tracing::error!(
                    dlq = %self.dead_letters.topic(),
                    "the dead-letter topic cannot be written; pausing partitions and retrying"
                );
                self.health.set_dead_letters_failing(true);
                self.pause();
            }
            if *stop.borrow() {
                return Applied::Abandoned;
            }
            match self.wait_serving(backoff.next_delay(), stop).await {
                Some(revoked) => batch.drop_partitions(&revoked),
                None => return Applied::Abandoned,
            }
        }
    }

    /// Runs the batch's transaction until it commits. `None` when shutdown arrived while
    /// it kept failing.
    async fn apply(
        &mut self,
        batch: &mut Batch,
        stop: &mut watch::Receiver<bool>,
    ) -> Option<Committed> {
        let mut backoff = Backoff::new(self.retry_initial, self.retry_max);
        loop {
            if batch.orders.is_empty() {
                self.recovered(&backoff);
                return Some(Committed::default());
            }
            // The client-side bound: `statement_timeout` is the server's and cannot fire
            // when the server never sees the statement (a black-holed connection), where
            // the kernel would otherwise keep the batch waiting for its TCP retries, long
            // past `max.poll.interval.ms`. A transaction cut off here is rolled back, or,
            // if its COMMIT got through, replayed as duplicates that change nothing.
            let attempt = tokio::time::timeout(
                self.transaction_timeout,
                self.store.apply_batch(&batch.orders),
            )
            .await
            .unwrap_or_else(|_| Err(StoreError::TimedOut(self.transaction_timeout)));
            match attempt {
                Ok(committed) => {
                    self.recovered(&backoff);
                    return Some(committed);
                }
                Err(error) => {
                    metrics::record_db_retry();
                    if backoff.attempts() == 0 {
                        tracing::error!(%error, records = batch.len(), "batch failed; pausing partitions and retrying");
                        self.health.set_batches_failing(true);
                        self.pause();
                    } else {
                        tracing::warn!(%error, attempt = backoff.attempts(), "batch failed again; retrying");
                    }
                }
            }
            if *stop.borrow() {
                return None;
            }
            match self.wait_serving(backoff.next_delay(), stop).await {
                Some(revoked) => batch.drop_partitions(&revoked),
                None => return None,
            }
        }
    }

    /// After a success: resume fetching if an outage had paused it.
    fn recovered(&mut self, backoff: &Backoff) {
        if backoff.attempts() > 0 || self.state.is_paused() {
            self.resume();
            self.health.set_batches_failing(false);
            tracing::info!(
                retries = backoff.attempts(),
                "database is back; partitions resumed"
            );
        }
    }

    /// Waits `delay` while serving the consumer: rebalance callbacks run, the group keeps
    /// this member (`max.poll.interval.ms`), and the rare record that was already on its
    /// way when fetching paused is kept for the next batch. Returns the partitions revoked
    /// meanwhile, or `None` if `stop` turned true.
    async fn wait_serving(
        &mut self,
        delay: Duration,
        stop: &mut watch::Receiver<bool>,
    ) -> Option<Vec<i32>> {
        let consumer = Arc::clone(&self.consumer);
        let deadline = Instant::now() + delay;
        let mut revoked = Vec::new();
        loop {
            tokio::select! {
                biased;
                _ = stop.wait_for(|stopping| *stopping) => return None,
                () = sleep_until(Some(deadline)) => {
                    revoked.extend(self.apply_revocations());
                    return Some(revoked);
                }
                received = consumer.recv() => {
                    revoked.extend(self.apply_revocations());
                    match received {
                        Ok(message) => self.pending.push(message.detach()),
                        Err(error) => {
                            if let Err(fatal) = self.consumer_error(error) {
                                tracing::error!(error = %fatal, "fatal consumer error while waiting");
                                return None;
                            }
                        }
                    }
                }
            }
        }
    }

    /// Drops what this replica holds for partitions revoked since the last look.
    fn apply_revocations(&mut self) -> Vec<i32> {
        let revoked = self.state.take_revoked();
        if !revoked.is_empty() {
            self.pending.drop_partitions(&revoked);
            self.progress.forget(&revoked);
        }
        revoked
    }

    fn pause(&self) {
        self.state.set_paused(true);
        match self.consumer.assignment() {
            Ok(assignment) => {
                if let Err(error) = self.consumer.pause(&assignment) {
                    tracing::warn!(%error, "could not pause partitions");
                }
            }
            Err(error) => tracing::warn!(%error, "could not read the assignment to pause it"),
        }
    }

    fn resume(&self) {
        self.state.set_paused(false);
        match self.consumer.assignment() {
            Ok(assignment) => {
                if let Err(error) = self.consumer.resume(&assignment) {
                    tracing::warn!(%error, "could not resume partitions");
                }
            }
            Err(error) => tracing::warn!(%error, "could not read the assignment to resume it"),
        }
    }

    /// Consumer errors are reported and survived (librdkafka reconnects by itself), except
    /// a fatal one, which ends the worker.
    fn consumer_error(&self, error: KafkaError) -> anyhow::Result<()> {
        if let Some((code, reason)) = self.consumer.client().fatal_error() {
            anyhow::bail!("fatal Kafka consumer error {code:?}: {reason}");
        }
        match error.rdkafka_error_code() {
            // Logged once by the client context and named by `/readyz`; librdkafka repeats
            // it on every reconnect.
            Some(code) if common::kafka_auth::is_auth_failure(code) => {
                tracing::debug!(%error, "consumer error")
            }
            _ => tracing::warn!(%error, "consumer error"),
        }
        Ok(())
    }

    /// Commits what was stored and leaves the group (closing the consumer runs the final
    /// revoke callback, which commits again, then sends the leave request).
    ///
    /// Both steps wait for the group coordinator, without an end of their own when the
    /// brokers are gone, so each runs on a blocking thread under [`CLOSE_STEP_TIMEOUT`]:
    /// a step that does not finish is reported and left behind (the process's shutdown
    /// budget ends it, see `common::shutdown`). Nothing is lost by that: what was not
    /// committed is redelivered to the partitions' next owner.
    async fn close(self, lag: JoinHandle<()>) {
        let _ = lag.await;
        let consumer = Arc::clone(&self.consumer);
        let committed = tokio::time::timeout(
            CLOSE_STEP_TIMEOUT,
            tokio::task::spawn_blocking(move || commit_stored(&*consumer)),
        )
        .await;
        match committed {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(error))) => tracing::warn!(%error, "final offset commit failed"),
            Ok(Err(_)) => tracing::warn!("the final offset commit panicked"),
            Err(_) => {
                tracing::warn!(
                    timeout_secs = CLOSE_STEP_TIMEOUT.as_secs(),
                    "final offset commit timed out; the uncommitted records will be redelivered"
                );
                return;
            }
        }
        let consumer = self.consumer;
        let closed = tokio::time::timeout(
            CLOSE_STEP_TIMEOUT,
            tokio::task::spawn_blocking(move || drop(consumer)),
        )
        .await;
        match closed {
            Ok(Ok(())) => tracing::info!("offsets committed, left the group"),
            Ok(Err(_)) => tracing::warn!("closing the consumer panicked"),
            Err(_) => tracing::warn!(
                timeout_secs = CLOSE_STEP_TIMEOUT.as_secs(),
                "leaving the group timed out; the broker will expire this member"
            ),
        }
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline.into()).await,
        None => std::future::pending().await,
    }
}
