//! The one place Kafka clients are configured.
//!
//! Defaults encode the delivery guarantees of `docs/architecture.md`; `kafka.properties`
//! from the settings are applied last, so operators can add TLS/SASL or tune anything
//! without a code change.

use rdkafka::ClientConfig;

use crate::kafka_stats::STATISTICS_INTERVAL_MS;
use crate::settings::{GroupProtocol, KafkaSettings};

/// Bounds of the producer's local queue. librdkafka's default of 1 GiB would let an
/// overloaded ingest pod grow until the kernel kills it; past these bounds `send` fails
/// at once with `QueueFull`, which the service turns into 503 + `Retry-After`.
pub const PRODUCER_QUEUE_MAX_MESSAGES: &str = "100000";
pub const PRODUCER_QUEUE_MAX_KBYTES: &str = "65536";

/// Producer for order events: idempotent, `acks=all`, bounded queue, a short linger.
pub fn producer_config(settings: &KafkaSettings) -> ClientConfig {
    let mut config = base_config(settings);
    let delivery_timeout = settings.delivery_timeout_ms.max(1).to_string();
    // A request (one produce round trip) must fit in the delivery timeout, or librdkafka
    // refuses the configuration.
    let request_timeout = settings.delivery_timeout_ms.clamp(1, 30_000).to_string();
    config
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("delivery.timeout.ms", &delivery_timeout)
        .set("request.timeout.ms", &request_timeout)
        // Under a peak the linger decides how many produce requests the broker handles;
        // a lone order would wait it out, which is what producer-svc's quick lane
        // (`quick_producer_config`) is for. Decision and figures: docs/decisions.md.
        .set("linger.ms", "5")
        .set("batch.num.messages", "10000")
        .set("compression.type", "lz4")
        .set("queue.buffering.max.messages", PRODUCER_QUEUE_MAX_MESSAGES)
        .set("queue.buffering.max.kbytes", PRODUCER_QUEUE_MAX_KBYTES)
        // Murmur2 like the Java client, so a customer's orders land on the same partition
        // whichever client published them.
        .set("partitioner", "murmur2_random")
        .set("statistics.interval.ms", STATISTICS_INTERVAL_MS);
    apply_properties(&mut config, settings);
    config
}

/// The same producer without a linger and without statistics, for records that should
/// leave at once (producer-svc's quick lane, used while it has nothing in flight). The
/// linger is forced after the pass-through properties: a configured `linger.ms` is
/// meant for the batching producer.
pub fn quick_producer_config(settings: &KafkaSettings) -> ClientConfig {
    let mut config = producer_config(settings);
    config
        .set("linger.ms", "0")
        .set("statistics.interval.ms", "0");
    config
}

/// Consumer for the processing group. Offsets are stored by the application only after
/// the database transaction commits; librdkafka's auto commit then commits what was
/// stored.
pub fn consumer_config(settings: &KafkaSettings) -> ClientConfig {
    let mut config = base_config(settings);
    config
        .set("group.id", &settings.group_id)
        .set("enable.auto.commit", "true")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        .set("enable.partition.eof", "false")
        .set("statistics.interval.ms", STATISTICS_INTERVAL_MS);
    match settings.group_protocol {
        // KIP-848: the broker assigns partitions and every rebalance is incremental.
        // librdkafka rejects `partition.assignment.strategy`, `session.timeout.ms` and
        // `heartbeat.interval.ms` with this protocol (the broker owns them), so none is set.
        GroupProtocol::Consumer => config.set("group.protocol", "consumer"),
        // Cooperative-sticky keeps the classic protocol incremental too: only the
        // partitions that change owner are revoked, the rest keep flowing.
        GroupProtocol::Classic => config
            .set("group.protocol", "classic")
            .set("partition.assignment.strategy", "cooperative-sticky"),
    };
    apply_properties(&mut config, settings);
    config
}

/// Admin and metadata-only clients (topic creation, lag export). No statistics: their
/// default context would only log them.
pub fn admin_config(settings: &KafkaSettings) -> ClientConfig {
    let mut config = base_config(settings);
    apply_properties(&mut config, settings);
    config
}

fn base_config(settings: &KafkaSettings) -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", &settings.bootstrap_servers)
        .set("client.id", "surge")
        // Fail fast on a wrong address instead of retrying DNS forever.
        .set("socket.connection.setup.timeout.ms", "5000")
        .set("log_level", "4");
    config
}

fn apply_properties(config: &mut ClientConfig, settings: &KafkaSettings) {
    for (key, value) in &settings.properties {
        config.set(property_name(key), value);
    }
}

/// librdkafka property names are lower case and dotted and never contain `_`; names
/// that arrive through environment variables (`SECURITY_PROTOCOL`) are mapped back.
pub fn property_name(key: &str) -> String {
    if key.contains('.') {
        key.to_owned()
    } else {
        key.to_ascii_lowercase().replace('_', ".")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings_with(props: &[(&str, &str)]) -> KafkaSettings {
        KafkaSettings {
            properties: props
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            ..KafkaSettings::default()
        }
    }

    #[test]
    fn producer_is_idempotent_with_acks_all_and_a_bounded_queue() {
        let config = producer_config(&KafkaSettings::default());
        assert_eq!(config.get("enable.idempotence"), Some("true"));
        assert_eq!(config.get("acks"), Some("all"));
        assert_eq!(config.get("delivery.timeout.ms"), Some("10000"));
        assert_eq!(
            config.get("queue.buffering.max.messages"),
            Some(PRODUCER_QUEUE_MAX_MESSAGES)
        );
        assert_eq!(
            config.get("queue.buffering.max.kbytes"),
            Some(PRODUCER_QUEUE_MAX_KBYTES)
        );
    }

    #[test]
    fn consumer_stores_offsets_only_when_told() {
        let config = consumer_config(&KafkaSettings::default());
        assert_eq!(config.get("enable.auto.offset.store"), Some("false"));
        assert_eq!(config.get("auto.offset.reset"), Some("earliest"));
        assert_eq!(config.get("group.id"), Some("orders-processor"));
    }

    #[test]
    fn consumer_uses_kip_848_by_default_without_client_side_group_timers() {
        let config = consumer_config(&KafkaSettings::default());
        assert_eq!(config.get("group.protocol"), Some("consumer"));
        for forbidden in [
            "partition.assignment.strategy",
            "session.timeout.ms",
            "heartbeat.interval.ms",
        ] {
            assert_eq!(config.get(forbidden), None, "{forbidden} must not be set");
        }
    }

    #[test]
    fn classic_protocol_falls_back_to_cooperative_sticky() {
        let settings = KafkaSettings {
            group_protocol: GroupProtocol::Classic,
            ..KafkaSettings::default()
        };
        let config = consumer_config(&settings);
        assert_eq!(config.get("group.protocol"), Some("classic"));
        assert_eq!(
            config.get("partition.assignment.strategy"),
            Some("cooperative-sticky")
        );
    }

    #[test]
    fn passthrough_properties_from_environment_names_become_librdkafka_names() {
        let settings = settings_with(&[
            ("security_protocol", "SASL_SSL"),
            ("SASL_MECHANISMS", "SCRAM-SHA-512"),
            ("ssl.ca.location", "/etc/ca.pem"),
            ("linger_ms", "50"),
        ]);
        let config = producer_config(&settings);
        assert_eq!(config.get("security.protocol"), Some("SASL_SSL"));
        assert_eq!(config.get("sasl.mechanisms"), Some("SCRAM-SHA-512"));
        assert_eq!(config.get("ssl.ca.location"), Some("/etc/ca.pem"));
        assert_eq!(
            config.get("linger.ms"),
            Some("50"),
            "passthrough wins over defaults"
        );
    }

    #[test]
    fn the_quick_producer_sends_at_once_whatever_linger_is_configured() {
        let settings = settings_with(&[("linger_ms", "50"), ("acks", "1")]);
        let quick = quick_producer_config(&settings);
        assert_eq!(quick.get("linger.ms"), Some("0"));
        assert_eq!(quick.get("statistics.interval.ms"), Some("0"));
        assert_eq!(
            quick.get("acks"),
            Some("1"),
            "other pass-through properties still apply"
        );
        assert_eq!(producer_config(&settings).get("linger.ms"), Some("50"));
    }

    #[test]
    fn request_timeout_never_exceeds_delivery_timeout() {
        let settings = KafkaSettings {
            delivery_timeout_ms: 2_000,
            ..KafkaSettings::default()
        };
        let config = producer_config(&settings);
        assert_eq!(config.get("request.timeout.ms"), Some("2000"));
    }
}
