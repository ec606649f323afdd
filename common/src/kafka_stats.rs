//! librdkafka's statistics, the useful part, as Prometheus gauges.
//!
//! librdkafka emits a JSON document every `statistics.interval.ms`; this context turns
//! the numbers an operator looks at during a sale (local queue, throughput counters,
//! per-broker round-trip time, errors) into `surge_kafka_client_*` metrics labelled by the
//! client role. It also records refused credentials in [`AuthFailures`].

use rdkafka::client::ClientContext;
use rdkafka::consumer::ConsumerContext;
use rdkafka::error::KafkaError;
use rdkafka::producer::ProducerContext;
use rdkafka::statistics::Statistics;
use rdkafka::types::RDKafkaErrorCode;

use crate::kafka_auth::{is_auth_failure, AuthFailures, AUTH_FAILURE_HINT};

/// How often librdkafka reports; short enough for a live dashboard.
pub const STATISTICS_INTERVAL_MS: &str = "5000";

/// A client context that records statistics, tagged with `role` (`producer`, `consumer`),
/// and authentication failures into `auth`.
#[derive(Clone, Debug)]
pub struct StatsContext {
    role: &'static str,
    auth: AuthFailures,
}

impl StatsContext {
    pub fn new(role: &'static str, auth: AuthFailures) -> Self {
        Self { role, auth }
    }

    pub fn auth_failures(&self) -> &AuthFailures {
        &self.auth
    }
}

impl ClientContext for StatsContext {
    fn stats(&self, stats: Statistics) {
        record(self.role, &stats);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        match error.rdkafka_error_code() {
            Some(code) if is_auth_failure(code) => {
                if self.auth.record(reason) {
                    tracing::error!(role = self.role, %reason, "{AUTH_FAILURE_HINT}");
                }
            }
            // What a refused credential looks like after librdkafka's first report of it.
            Some(RDKafkaErrorCode::AllBrokersDown) if self.auth.current().is_some() => {
                tracing::debug!(role = self.role, %error, %reason, "Kafka client error")
            }
            _ => tracing::error!(role = self.role, %error, %reason, "Kafka client error"),
        }
    }
}

impl ProducerContext for StatsContext {
    type DeliveryOpaque = ();
    fn delivery(&self, _: &rdkafka::message::DeliveryResult<'_>, _: Self::DeliveryOpaque) {}
}

impl ConsumerContext for StatsContext {}

fn record(role: &'static str, stats: &Statistics) {
    metrics::gauge!("surge_kafka_client_queue_messages", "role" => role).set(stats.msg_cnt as f64);
    metrics::gauge!("surge_kafka_client_queue_bytes", "role" => role).set(stats.msg_size as f64);
    metrics::gauge!("surge_kafka_client_tx_messages", "role" => role).set(stats.txmsgs as f64);
    metrics::gauge!("surge_kafka_client_tx_bytes", "role" => role).set(stats.tx_bytes as f64);
    metrics::gauge!("surge_kafka_client_rx_messages", "role" => role).set(stats.rxmsgs as f64);
    for broker in stats.brokers.values().filter(|b| b.nodeid >= 0) {
        let id = broker.nodeid.to_string();
        let up = if broker.state == "UP" { 1.0 } else { 0.0 };
        metrics::gauge!("surge_kafka_broker_up", "role" => role, "broker" => id.clone()).set(up);
        if let Some(rtt) = &broker.rtt {
            metrics::gauge!("surge_kafka_broker_rtt_seconds", "role" => role, "broker" => id.clone(), "quantile" => "0.5")
                .set(rtt.p50 as f64 / 1e6);
            metrics::gauge!("surge_kafka_broker_rtt_seconds", "role" => role, "broker" => id.clone(), "quantile" => "0.99")
                .set(rtt.p99 as f64 / 1e6);
        }
        metrics::gauge!("surge_kafka_broker_waiting_requests", "role" => role, "broker" => id.clone())
            .set(broker.waitresp_cnt as f64);
        metrics::gauge!("surge_kafka_broker_tx_errors", "role" => role, "broker" => id.clone())
            .set(broker.txerrs as f64);
        metrics::gauge!("surge_kafka_broker_request_timeouts", "role" => role, "broker" => id)
            .set(broker.req_timeouts as f64);
    }
}
