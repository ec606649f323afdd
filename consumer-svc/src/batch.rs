//! Records between the broker and the database: the pending buffer the worker fills, and
//! the batch it applies.
//!
//! Invariant: within one partition, records are held in strictly increasing offset order
//! with no gaps other than the broker's own (compaction, transaction markers). The offset
//! stored after a batch is therefore "last offset of the partition in the batch + 1", and
//! every record below it has been applied or dead-lettered.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use opentelemetry::trace::{SpanContext, TraceContextExt};
use rdkafka::message::OwnedMessage;
use rdkafka::{Message, Offset, TopicPartitionList};
use tracing::field::Empty;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use order::{decode_event, EventError};

use crate::store::PendingOrder;

/// Records received and not yet taken into a batch, in arrival order.
#[derive(Debug, Default)]
pub struct Pending {
    records: Vec<OwnedMessage>,
    last_offset: HashMap<i32, i64>,
    oldest_at: Option<Instant>,
}

impl Pending {
    pub fn len(&self) -> usize {
        self.records.len()
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// When the oldest held record has waited `max_wait`.
    pub fn deadline(&self, max_wait: Duration) -> Option<Instant> {
        self.oldest_at.map(|at| at + max_wait)
    }

    pub fn push(&mut self, record: OwnedMessage) {
        let (partition, offset) = (record.partition(), record.offset());
        if self
            .last_offset
            .get(&partition)
            .is_some_and(|&last| offset <= last)
        {
            // The partition is being read again from an earlier position (it was
            // re-assigned, or fetching restarted): drop the held copies from there on,
            // they are arriving again in order.
            self.records
                .retain(|r| r.partition() != partition || r.offset() < offset);
        }
        self.last_offset.insert(partition, offset);
        if self.records.is_empty() {
            self.oldest_at = Some(Instant::now());
        }
        self.records.push(record);
    }

    /// Forgets the records of partitions this replica no longer owns. Their offsets were
    /// never stored, so the next owner reads them again.
    pub fn drop_partitions(&mut self, partitions: &[i32]) {
        if partitions.is_empty() {
            return;
        }
        self.records
            .retain(|r| !partitions.contains(&r.partition()));
        for p in partitions {
            self.last_offset.remove(p);
        }
        if self.records.is_empty() {
            self.oldest_at = None;
        }
    }

    /// Takes up to `max` of the oldest records.
    pub fn take(&mut self, max: usize) -> Vec<OwnedMessage> {
        let max = max.max(1);
        if self.records.len() <= max {
            self.oldest_at = None;
            return std::mem::take(&mut self.records);
        }
        let rest = self.records.split_off(max);
        self.oldest_at = Some(Instant::now());
        std::mem::replace(&mut self.records, rest)
    }
}

/// A record that can never become an order, on its way to the dead-letter topic.
#[derive(Debug)]
pub struct Poison {
    pub record: OwnedMessage,
    pub error: EventError,
    pub span: tracing::Span,
    pub delivered: bool,
}

/// The records of one transaction, classified.
#[derive(Debug)]
pub struct Batch {
    pub orders: Vec<PendingOrder>,
    pub poison: Vec<Poison>,
    /// The batch's own `process` span: the transaction's statements run in it; it links
    /// to every record's producer span, and every record's span links to it.
    pub span: tracing::Span,
    /// Per partition, the offset to store once the batch is done (last offset + 1).
    next_offsets: BTreeMap<i32, i64>,
}

impl Batch {
    /// Decodes `records` (kept in their order) and opens each one's `process` span as a
    /// child of the producer's trace context carried in the record headers, and the
    /// batch's span linked to all of them.
    pub fn classify(records: Vec<OwnedMessage>, topic: &str, group: &str) -> Self {
        let mut batch = Batch {
            orders: Vec::with_capacity(records.len()),
            poison: Vec::new(),
            span: batch_span(topic, group, records.len()),
            next_offsets: BTreeMap::new(),
        };
        // Each record's span links back to the batch's, where the transaction's statements
        // are: one set-based statement serves every record, so it cannot be each one's child.
        let batch_context = batch.span.context().span().span_context().clone();
        for record in records {
            let (partition, offset) = (record.partition(), record.offset());
            let next = batch.next_offsets.entry(partition).or_insert(offset + 1);
            *next = (*next).max(offset + 1);
            let (span, creation) = process_span(&record, topic, group);
            batch.span.add_link(creation);
            span.add_link(batch_context.clone());
            match decode_event(record.payload()) {
                Ok(event) => {
                    span.record("messaging.message.id", event.order_id.to_string());
                    batch.orders.push(PendingOrder {
                        event,
                        partition,
                        offset,
                        span,
                    });
                }
                Err(error) => {
                    span.record("error.type", error.kind());
                    span.record("otel.status_code", "ERROR");
                    batch.poison.push(Poison {
                        record,
                        error,
                        span,
                        delivered: false,
                    });
                }
            }
        }
        batch
    }

    pub fn len(&self) -> usize {
        self.orders.len() + self.poison.len()
    }

    pub fn is_empty(&self) -> bool {
        self.next_offsets.is_empty()
    }

    /// Removes the records of partitions this replica no longer owns.
    pub fn drop_partitions(&mut self, partitions: &[i32]) {
        if partitions.is_empty() {
            return;
        }
        self.orders.retain(|o| !partitions.contains(&o.partition));
        self.poison
            .retain(|p| !partitions.contains(&p.record.partition()));
        self.next_offsets.retain(|p, _| !partitions.contains(p));
    }

    /// The offsets to store once every record is applied or dead-lettered.
    pub fn next_offsets(&self) -> &BTreeMap<i32, i64> {
        &self.next_offsets
    }

    pub fn offsets_to_store(&self, topic: &str) -> TopicPartitionList {
        let mut tpl = TopicPartitionList::with_capacity(self.next_offsets.len());
        for (&partition, &offset) in &self.next_offsets {
            // Cannot fail: the offset is a plain number and the partition is new to `tpl`.
            let _ = tpl.add_partition_offset(topic, partition, Offset::Offset(offset));
        }
        tpl
    }
}

/// The consumer-side span of one record, named and attributed after the OpenTelemetry
/// messaging conventions, continuing the trace in the record's `traceparent` header.
/// Returns it with the producer's span context it continues (invalid when the record
/// carried none).
fn process_span(record: &OwnedMessage, topic: &str, group: &str) -> (tracing::Span, SpanContext) {
    let key = record.key().and_then(|k| std::str::from_utf8(k).ok());
    let span = tracing::info_span!(
        "process",
        otel.name = %format!("process {topic}"),
        otel.kind = "consumer",
        otel.status_code = Empty,
        messaging.system = "kafka",
        messaging.operation.type = "process",
        messaging.operation.name = "process",
        messaging.destination.name = %topic,
        messaging.consumer.group.name = %group,
        messaging.destination.partition.id = %record.partition(),
        messaging.kafka.offset = record.offset(),
        messaging.kafka.message.key = key,
        messaging.message.id = Empty,
        error.type = Empty,
    );
    let parent = common::trace_context::extract(record.headers());
    let creation = parent.span().span_context().clone();
    // Fails only when the span is disabled (no subscriber), where there is nothing to link.
    let _ = span.set_parent(parent);
    (span, creation)
}

/// The span of one batch: one consumer `process` span for the records applied together,
/// linked to each record's producer span (the conventions' shape for batch processing).
/// It starts a trace of its own; each record's trace reaches it through the link. The SDK
/// keeps 128 links per span (its default limit): a larger batch links its first 128
/// records.
fn batch_span(topic: &str, group: &str, records: usize) -> tracing::Span {
    tracing::info_span!(
        "batch",
        otel.name = %format!("process {topic}"),
        otel.kind = "consumer",
        messaging.system = "kafka",
        messaging.operation.type = "process",
        messaging.operation.name = "process",
        messaging.destination.name = %topic,
        messaging.consumer.group.name = %group,
        messaging.batch.message_count = records,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use rdkafka::message::Timestamp;

    fn record(partition: i32, offset: i64, value: &[u8]) -> OwnedMessage {
        OwnedMessage::new(
            Some(value.to_vec()),
            None,
            "orders".to_owned(),
            Timestamp::NotAvailable,
            partition,
            offset,
            None,
        )
    }

    fn offsets(pending: &mut Pending) -> Vec<(i32, i64)> {
        pending
            .take(usize::MAX)
            .iter()
            .map(|r| (r.partition(), r.offset()))
            .collect()
    }

    #[test]
    fn a_partition_read_again_from_an_earlier_offset_replaces_the_held_copies() {
        let mut pending = Pending::default();
        for (p, o) in [(0, 10), (1, 5), (0, 11), (0, 12), (0, 11), (0, 12)] {
            pending.push(record(p, o, b"x"));
        }
        assert_eq!(offsets(&mut pending), [(0, 10), (1, 5), (0, 11), (0, 12)]);
    }

    #[test]
    fn revoked_partitions_are_dropped_from_pending_records() {
        let mut pending = Pending::default();
        for (p, o) in [(0, 1), (1, 1), (0, 2)] {
            pending.push(record(p, o, b"x"));
        }
        pending.drop_partitions(&[0]);
        assert_eq!(offsets(&mut pending), [(1, 1)]);
    }

    #[test]
    fn take_keeps_the_rest_in_order() {
        let mut pending = Pending::default();
        for o in 0..5 {
            pending.push(record(0, o, b"x"));
        }
        let first: Vec<i64> = pending.take(3).iter().map(|r| r.offset()).collect();
        assert_eq!(first, [0, 1, 2]);
        assert_eq!(offsets(&mut pending), [(0, 3), (0, 4)]);
        assert!(pending.deadline(Duration::ZERO).is_none());
    }

    #[test]
    fn a_batch_stores_one_past_the_last_offset_of_each_partition_poison_included() {
        let event = br#"{"schema":"order.v1","order_id":"0190b2a4-0000-7000-8000-000000000001","sku":"A","quantity":1,"customer_id":"c","accepted_at":"2026-01-01T00:00:00Z"}"#;
        let batch = Batch::classify(
            vec![
                record(0, 4, event),
                record(0, 5, b"garbage"),
                record(2, 9, event),
            ],
            "orders",
            "g",
        );
        assert_eq!(batch.orders.len(), 2);
        assert_eq!(batch.poison.len(), 1);
        assert_eq!(batch.poison[0].error.kind(), "undecodable");
        let next: Vec<_> = batch.next_offsets().iter().map(|(p, o)| (*p, *o)).collect();
        assert_eq!(next, [(0, 6), (2, 10)]);
    }

    #[test]
    fn dropping_a_partition_removes_its_records_and_its_offset() {
        let mut batch =
            Batch::classify(vec![record(0, 1, b"x"), record(1, 1, b"y")], "orders", "g");
        batch.drop_partitions(&[0]);
        assert_eq!(batch.len(), 1);
        assert_eq!(
            batch.next_offsets().keys().copied().collect::<Vec<_>>(),
            [1]
        );
    }
}
