//! Dead letters: records that can never become orders (no value, not JSON, an unknown
//! schema version, a field breaking the order rules) are copied to the dead-letter topic
//! so their partition keeps moving and someone can inspect them later.
//!
//! The copy keeps the original key, value and headers and adds:
//! `surge.original.topic`, `surge.original.partition`, `surge.original.offset`,
//! `surge.error.kind` (`empty`, `undecodable`, `unknown_schema`, `invalid_field`) and
//! `surge.error.message`. It is produced with the idempotent `acks=all` producer and the
//! worker waits for the acknowledgement before it stores an offset past the record, so a
//! crash in between dead-letters it again rather than losing it (at least once).
//!
//! A poison record close to the maximum message size cannot be copied with the headers
//! added to it (`MessageSizeTooLarge`, which no retry cures): its dead letter then keeps
//! the key and the `surge.*` headers and names the omitted value's size in
//! `surge.dead_letter.value_omitted_bytes`; the value itself stays in the original topic
//! at the offset the headers name, until retention removes it.
//!
//! The topic is checked at start ([`DeadLetters::check_topic`]): a replica that could
//! never write a dead letter would stall at its first poison record.

use std::time::Duration;

use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, Headers, OwnedHeaders, OwnedMessage};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use rdkafka::util::Timeout;
use rdkafka::Message;
use tracing::Instrument;

use common::kafka_auth::AuthFailures;
use common::kafka_stats::StatsContext;
use common::settings::KafkaSettings;
use order::EventError;

pub const ORIGINAL_TOPIC: &str = "surge.original.topic";
pub const ORIGINAL_PARTITION: &str = "surge.original.partition";
pub const ORIGINAL_OFFSET: &str = "surge.original.offset";
pub const ERROR_KIND: &str = "surge.error.kind";
pub const ERROR_MESSAGE: &str = "surge.error.message";
/// Set (to the original value's size in bytes) on a dead letter whose value and original
/// headers were left out because the full copy exceeded the producer's message size.
pub const VALUE_OMITTED: &str = "surge.dead_letter.value_omitted_bytes";

/// Error messages can quote the record; keep the header small.
const ERROR_MESSAGE_MAX_BYTES: usize = 1024;

#[derive(Clone)]
pub struct DeadLetters {
    producer: FutureProducer<StatsContext>,
    topic: String,
    timeout: Duration,
}

impl DeadLetters {
    /// A producer for the dead-letter topic; refused credentials are recorded in `auth`.
    pub fn new(settings: &KafkaSettings, auth: AuthFailures) -> anyhow::Result<Self> {
        let producer = common::kafka::producer_config(settings)
            .create_with_context(StatsContext::new("dlq_producer", auth))?;
        Ok(Self {
            producer,
            topic: settings.dlq_topic.clone(),
            timeout: Duration::from_millis(settings.delivery_timeout_ms.max(1)),
        })
    }

    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// Produces the dead letter for `record` and waits for the broker's acknowledgement,
    /// in a producer span (`publish {dlq topic}`) below the current one, the poison
    /// record's `process` span.
    pub async fn send(&self, record: &OwnedMessage, error: &EventError) -> Result<(), KafkaError> {
        let span = common::publish_span::publish_span(&self.topic);
        let result = self.produce(record, error).instrument(span.clone()).await;
        common::publish_span::record_delivery(&span, result.as_ref().ok().copied());
        result.map(|_| ())
    }

    async fn produce(
        &self,
        record: &OwnedMessage,
        error: &EventError,
    ) -> Result<(i32, i64), KafkaError> {
        let headers = dead_letter_headers(record, error);
        match self.produce_with(record, headers, true).await {
            Err(KafkaError::MessageProduction(RDKafkaErrorCode::MessageSizeTooLarge)) => {
                let size = record.payload().map_or(0, <[u8]>::len);
                tracing::warn!(
                    partition = record.partition(),
                    offset = record.offset(),
                    bytes = size,
                    "poison record too large to copy; dead-lettering it without its value"
                );
                let headers = origin_headers(OwnedHeaders::new_with_capacity(6), record, error)
                    .insert(Header {
                        key: VALUE_OMITTED,
                        value: Some(size.to_string().as_bytes()),
                    });
                self.produce_with(record, headers, false).await
            }
            other => other,
        }
    }

    async fn produce_with(
        &self,
        record: &OwnedMessage,
        headers: OwnedHeaders,
        with_value: bool,
    ) -> Result<(i32, i64), KafkaError> {
        let mut letter: FutureRecord<'_, [u8], [u8]> =
            FutureRecord::to(&self.topic).headers(headers);
        if let Some(key) = record.key() {
            letter = letter.key(key);
        }
        if let Some(value) = record.payload().filter(|_| with_value) {
            letter = letter.payload(value);
        }
        self.producer
            .send(letter, self.timeout)
            .await
            .map(|delivery| (delivery.partition, delivery.offset))
            .map_err(|(error, _)| error)
    }

    /// Fails when the broker answers and the dead-letter topic is unknown or refused
    /// (authorization); a broker that does not answer yet is only logged, since the
    /// replica can do nothing before it answers anyway. Blocking.
    pub fn check_topic(&self, timeout: Duration) -> anyhow::Result<()> {
        let metadata = match self
            .producer
            .client()
            .fetch_metadata(Some(&self.topic), Timeout::After(timeout))
        {
            Ok(metadata) => metadata,
            Err(error) => {
                tracing::warn!(%error, topic = %self.topic, "could not check the dead-letter topic at start");
                return Ok(());
            }
        };
        let topic = metadata
            .topics()
            .iter()
            .find(|t| t.name() == self.topic)
            .ok_or_else(|| anyhow::anyhow!("dead-letter topic {} not in metadata", self.topic))?;
        if let Some(error) = topic.error() {
            anyhow::bail!(
                "dead-letter topic {} cannot be used: {:?} (kafka.dlq_topic; create it, or grant this client write access)",
                self.topic,
                RDKafkaErrorCode::from(error)
            );
        }
        if topic.partitions().is_empty() {
            anyhow::bail!("dead-letter topic {} has no partitions", self.topic);
        }
        Ok(())
    }
}

/// The original headers followed by the `surge.*` headers naming the origin and error.
pub fn dead_letter_headers(record: &OwnedMessage, error: &EventError) -> OwnedHeaders {
    let original = record.headers();
    let count = original.map_or(0, |h| h.count());
    let mut headers = OwnedHeaders::new_with_capacity(count + 5);
    if let Some(original) = original {
        for header in original.iter() {
            headers = headers.insert(header);
        }
    }
    origin_headers(headers, record, error)
}

/// `headers` followed by the `surge.*` headers naming the origin and error.
fn origin_headers(
    mut headers: OwnedHeaders,
    record: &OwnedMessage,
    error: &EventError,
) -> OwnedHeaders {
    let mut message = error.to_string();
    truncate_at_char_boundary(&mut message, ERROR_MESSAGE_MAX_BYTES);
    for (key, value) in [
        (ORIGINAL_TOPIC, record.topic().to_owned()),
        (ORIGINAL_PARTITION, record.partition().to_string()),
        (ORIGINAL_OFFSET, record.offset().to_string()),
        (ERROR_KIND, error.kind().to_owned()),
        (ERROR_MESSAGE, message),
    ] {
        headers = headers.insert(Header {
            key,
            value: Some(value.as_bytes()),
        });
    }
    headers
}

fn truncate_at_char_boundary(text: &mut String, max: usize) {
    if text.len() > max {
        let mut end = max;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rdkafka::message::Timestamp;

    #[test]
    fn dead_letters_keep_the_original_headers_and_name_their_origin() {
        let original = OwnedHeaders::new().insert(Header {
            key: "traceparent",
            value: Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".as_bytes()),
        });
        let record = OwnedMessage::new(
            Some(b"not json".to_vec()),
            Some(b"c-1".to_vec()),
            "orders".to_owned(),
            Timestamp::NotAvailable,
            7,
            42,
            Some(original),
        );
        let error = order::decode_event(record.payload()).unwrap_err();
        let headers = dead_letter_headers(&record, &error);
        let get = |key| common::trace_context::header_str(&headers, key);
        assert!(get("traceparent").is_some());
        assert_eq!(get(ORIGINAL_TOPIC), Some("orders"));
        assert_eq!(get(ORIGINAL_PARTITION), Some("7"));
        assert_eq!(get(ORIGINAL_OFFSET), Some("42"));
        assert_eq!(get(ERROR_KIND), Some("undecodable"));
        assert!(get(ERROR_MESSAGE).is_some_and(|m| m.starts_with("undecodable record")));
    }

    #[test]
    fn long_error_messages_are_cut_on_a_character_boundary() {
        let mut text = "é".repeat(1000);
        truncate_at_char_boundary(&mut text, 1001);
        assert_eq!(text.len(), 1000);
    }
}
