//! Publishing an order event and waiting for the broker's acknowledgement.
//!
//! Two producers serve every request, both idempotent with `acks=all`:
//! - the **batching** lane (the configured linger, 5 ms by default): librdkafka batches
//!   the records of all requests into few produce requests, which keeps the broker's CPU
//!   per order low at a peak;
//! - the **quick** lane (no linger): an order that arrives while hardly any record is
//!   outstanding in either lane goes here and is sent at once, so at rest nobody waits
//!   for the linger. Under load the count stays above the bound and a peak is batched as
//!   a whole.
//!
//! Two orders of one customer sent concurrently may take different lanes and land in
//! either order; orders a client sends one after the other (the next after the 202 of
//! the last) keep their order, since a record is acknowledged before the next exists.
//! A request is answered 202 only once its record's delivery report says the broker
//! wrote it with `acks=all`.

use std::time::{Duration, Instant};

use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use rdkafka::util::Timeout;
use tracing::Instrument;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use common::kafka_auth::AuthFailures;
use common::kafka_stats::StatsContext;
use common::settings::KafkaSettings;
use order::OrderEvent;

pub const DELIVERY_LATENCY: &str = "surge_producer_delivery_seconds";
pub const QUEUE_DEPTH: &str = "surge_producer_queue_messages";
pub const LANE_ORDERS: &str = "surge_producer_lane_orders_total";

/// Records outstanding (both lanes) below which an order takes the quick lane. Each quick
/// record is a produce request of its own, so the quick lane must stay out of a peak:
/// at rest fewer than one record is outstanding on average; at 10 000 orders/s, batched,
/// about fifty are.
const QUICK_LANE_BELOW: i32 = 4;

/// Which producer carried a record (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lane {
    Quick,
    Batching,
}

impl Lane {
    pub fn as_str(self) -> &'static str {
        match self {
            Lane::Quick => "quick",
            Lane::Batching => "batching",
        }
    }
}

/// Where the broker put an acknowledged record, and which lane took it there.
#[derive(Debug, Clone, Copy)]
pub struct Acknowledged {
    pub partition: i32,
    pub offset: i64,
    pub lane: Lane,
}

/// Why an order was not acknowledged. None of these means the order was accepted.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error("the producer queue is full")]
    QueueFull,
    #[error("the broker did not acknowledge the order within the delivery timeout")]
    Timeout,
    #[error("the broker rejected the order: {0}")]
    Rejected(KafkaError),
    #[error("the producer stopped before the order was acknowledged")]
    Stopped,
}

#[derive(Clone)]
pub struct Publisher {
    /// The batching lane; also the client for metadata and statistics.
    producer: FutureProducer<StatsContext>,
    /// The quick lane, unless it is switched off (`ingest.quick_lane`).
    quick: Option<FutureProducer<StatsContext>>,
    auth: AuthFailures,
    topic: String,
}

impl Publisher {
    pub fn new(settings: &KafkaSettings, quick_lane: bool) -> Result<Self, KafkaError> {
        let auth = AuthFailures::default();
        let producer = common::kafka::producer_config(settings)
            .create_with_context(StatsContext::new("producer", auth.clone()))?;
        let quick = quick_lane
            .then(|| {
                common::kafka::quick_producer_config(settings)
                    .create_with_context(StatsContext::new("producer", auth.clone()))
            })
            .transpose()?;
        Ok(Self {
            producer,
            quick,
            auth,
            topic: settings.topic.clone(),
        })
    }

    /// The lane for the next record: the quick one while fewer than
    /// [`QUICK_LANE_BELOW`] records of both lanes are outstanding.
    fn lane(&self) -> (&FutureProducer<StatsContext>, Lane) {
        match &self.quick {
            Some(quick) if self.queue_depth() < QUICK_LANE_BELOW => (quick, Lane::Quick),
            _ => (&self.producer, Lane::Batching),
        }
    }

    fn lanes(&self) -> impl Iterator<Item = &FutureProducer<StatsContext>> {
        std::iter::once(&self.producer).chain(&self.quick)
    }

    /// Runs `f` on every lane, also on those after one that failed; the first error.
    fn on_every_lane<E>(
        &self,
        f: impl FnMut(&FutureProducer<StatsContext>) -> Result<(), E>,
    ) -> Result<(), E> {
        let outcomes: Vec<_> = self.lanes().map(f).collect();
        outcomes.into_iter().collect()
    }

    /// Where the producer records refused credentials.
    pub fn auth_failures(&self) -> &AuthFailures {
        &self.auth
    }

    /// Records waiting in librdkafka (queued or in flight to the broker), both lanes.
    pub fn queue_depth(&self) -> i32 {
        self.lanes().map(|p| p.in_flight_count()).sum()
    }

    /// Publishes `event` keyed by its customer and waits for the acknowledgement.
    pub async fn publish(&self, event: &OrderEvent) -> Result<Acknowledged, PublishError> {
        let order_id = event.order_id.to_string();
        let span = common::publish_span::publish_span(&self.topic);
        span.record("messaging.message.id", order_id.as_str());
        span.record("messaging.kafka.message.key", event.customer_id.as_str());
        let result = self.send(event, &span).instrument(span.clone()).await;
        common::publish_span::record_delivery(
            &span,
            result.as_ref().ok().map(|ack| (ack.partition, ack.offset)),
        );
        result
    }

    async fn send(
        &self,
        event: &OrderEvent,
        span: &tracing::Span,
    ) -> Result<Acknowledged, PublishError> {
        // A fatal error on either lane refuses every order, as it would with one client.
        if self.fatal_error().is_some() {
            return Err(PublishError::Rejected(KafkaError::MessageProduction(
                RDKafkaErrorCode::Fatal,
            )));
        }
        let payload = event.to_json();
        let headers =
            common::trace_context::inject(&span.context(), OwnedHeaders::new_with_capacity(4))
                .insert(Header {
                    key: "content-type",
                    value: Some("application/json"),
                })
                .insert(Header {
                    key: "schema",
                    value: Some(event.schema.as_str()),
                });
        let record = FutureRecord::to(&self.topic)
            .key(event.customer_id.as_bytes())
            .payload(&payload)
            .headers(headers);
        let (producer, lane) = self.lane();
        metrics::counter!(LANE_ORDERS, "lane" => lane.as_str()).increment(1);
        let started = Instant::now();
        let delivery = match producer.send_result(record) {
            Ok(delivery) => delivery,
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                return Err(PublishError::QueueFull)
            }
            Err((error, _)) => return Err(PublishError::Rejected(error)),
        };
        let outcome = delivery.await;
        metrics::histogram!(DELIVERY_LATENCY).record(started.elapsed().as_secs_f64());
        match outcome {
            Ok(Ok(delivery)) => Ok(Acknowledged {
                partition: delivery.partition,
                offset: delivery.offset,
                lane,
            }),
            Ok(Err((KafkaError::MessageProduction(RDKafkaErrorCode::MessageTimedOut), _))) => {
                Err(PublishError::Timeout)
            }
            Ok(Err((error, _))) => Err(PublishError::Rejected(error)),
            Err(_canceled) => Err(PublishError::Stopped),
        }
    }

    /// Whether the broker answers a metadata request for the topic within `timeout`,
    /// with a leader for every partition, on both lanes. Blocking: call from a blocking
    /// thread. Asking each lane also keeps its broker connection tried: a client that
    /// sends nothing reconnects only after its backoff (up to 10 s), and only then
    /// times out the records it holds, past their delivery timeout.
    pub fn check_metadata(&self, timeout: Duration) -> Result<(), String> {
        // Also after one failed: the point of asking during an outage.
        self.on_every_lane(|producer| self.check_lane_metadata(producer, timeout))
    }

    fn check_lane_metadata(
        &self,
        producer: &FutureProducer<StatsContext>,
        timeout: Duration,
    ) -> Result<(), String> {
        let metadata = producer
            .client()
            .fetch_metadata(Some(&self.topic), Timeout::After(timeout))
            .map_err(|e| format!("broker metadata unavailable: {e}"))?;
        let topic = metadata
            .topics()
            .iter()
            .find(|t| t.name() == self.topic)
            .ok_or_else(|| format!("topic {} not in metadata", self.topic))?;
        if let Some(error) = topic.error() {
            return Err(format!(
                "topic {}: {:?}",
                self.topic,
                RDKafkaErrorCode::from(error)
            ));
        }
        if topic.partitions().is_empty() || topic.partitions().iter().any(|p| p.leader() < 0) {
            return Err(format!(
                "topic {} has partitions without a leader",
                self.topic
            ));
        }
        Ok(())
    }

    /// librdkafka's fatal error, if one happened: the idempotent producer then fails every
    /// record (e.g. the cluster refused the producer id: `ClusterAuthorizationFailed`), and
    /// only a new client, that is a restart, recovers.
    pub fn fatal_error(&self) -> Option<(RDKafkaErrorCode, String)> {
        self.lanes().find_map(|p| p.client().fatal_error())
    }

    /// The batching lane's librdkafka handle, for librdkafka calls this type does not wrap.
    pub fn native_client(&self) -> *mut rdkafka::bindings::rd_kafka_t {
        self.producer.client().native_ptr()
    }

    /// Waits until every queued record of both lanes is acknowledged or `timeout`
    /// passes (the lanes flush one after the other within it; the second also when the
    /// first did not finish). Blocking.
    pub fn flush(&self, timeout: Duration) -> Result<(), KafkaError> {
        let deadline = Instant::now() + timeout;
        self.on_every_lane(|p| {
            p.flush(Timeout::After(
                deadline.saturating_duration_since(Instant::now()),
            ))
        })
    }
}
