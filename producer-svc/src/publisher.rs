//! Publishing an order event and waiting for the broker's acknowledgement.
//!
//! One `FutureProducer` serves every request: librdkafka batches records from all of
//! them into few produce requests. A request is answered 202 only once its record's
//! delivery report says the broker wrote it with `acks=all`.

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

/// Where the broker put an acknowledged record.
#[derive(Debug, Clone, Copy)]
pub struct Acknowledged {
    pub partition: i32,
    pub offset: i64,
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
    producer: FutureProducer<StatsContext>,
    auth: AuthFailures,
    topic: String,
}

impl Publisher {
    pub fn new(settings: &KafkaSettings) -> Result<Self, KafkaError> {
        let auth = AuthFailures::default();
        let producer = common::kafka::producer_config(settings)
            .create_with_context(StatsContext::new("producer", auth.clone()))?;
        Ok(Self {
            producer,
            auth,
            topic: settings.topic.clone(),
        })
    }

    /// Where the producer records refused credentials.
    pub fn auth_failures(&self) -> &AuthFailures {
        &self.auth
    }

    /// Records waiting in librdkafka (queued or in flight to the broker).
    pub fn queue_depth(&self) -> i32 {
        self.producer.in_flight_count()
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
        let started = Instant::now();
        let delivery = match self.producer.send_result(record) {
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
            }),
            Ok(Err((KafkaError::MessageProduction(RDKafkaErrorCode::MessageTimedOut), _))) => {
                Err(PublishError::Timeout)
            }
            Ok(Err((error, _))) => Err(PublishError::Rejected(error)),
            Err(_canceled) => Err(PublishError::Stopped),
        }
    }

    /// Whether the broker answers a metadata request for the topic within `timeout`,
    /// with a leader for every partition. Blocking: call from a blocking thread.
    pub fn check_metadata(&self, timeout: Duration) -> Result<(), String> {
        let metadata = self
            .producer
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
        self.producer.client().fatal_error()
    }

    /// The librdkafka handle, for librdkafka calls this type does not wrap.
    pub fn native_client(&self) -> *mut rdkafka::bindings::rd_kafka_t {
        self.producer.client().native_ptr()
    }

    /// Waits until every queued record is acknowledged or `timeout` passes. Blocking.
    pub fn flush(&self, timeout: Duration) -> Result<(), KafkaError> {
        self.producer.flush(Timeout::After(timeout))
    }
}
