//! Prometheus text exposition of a [`Snapshot`], in Strimzi Kafka Exporter's names.

use std::fmt::Write as _;

use crate::offsets::Snapshot;

pub fn render(snapshot: &Snapshot) -> String {
    let mut out = String::new();
    family(
        &mut out,
        "kafka_topic_partitions",
        "Number of partitions for this topic.",
    );
    for (topic, partitions) in &snapshot.topics {
        let _ = writeln!(
            out,
            "kafka_topic_partitions{{topic=\"{}\"}} {}",
            escape(topic),
            partitions.len()
        );
    }
    family(
        &mut out,
        "kafka_topic_partition_current_offset",
        "Current offset (high watermark) of a partition.",
    );
    for (topic, partitions) in &snapshot.topics {
        for (partition, offsets) in partitions {
            let _ = writeln!(
                out,
                "kafka_topic_partition_current_offset{{partition=\"{partition}\",topic=\"{}\"}} {}",
                escape(topic),
                offsets.high()
            );
        }
    }
    family(
        &mut out,
        "kafka_topic_partition_oldest_offset",
        "Oldest retained offset (log start) of a partition.",
    );
    for (topic, partitions) in &snapshot.topics {
        for (partition, offsets) in partitions {
            let _ = writeln!(
                out,
                "kafka_topic_partition_oldest_offset{{partition=\"{partition}\",topic=\"{}\"}} {}",
                escape(topic),
                offsets.low()
            );
        }
    }
    family(
        &mut out,
        "kafka_consumergroup_current_offset",
        "Committed offset of a consumer group on a partition (absent when never committed).",
    );
    for ((group, topic), partitions) in &snapshot.groups {
        for (partition, position) in partitions {
            if let Some(committed) = position.committed {
                let _ = writeln!(
                    out,
                    "kafka_consumergroup_current_offset{{consumergroup=\"{}\",partition=\"{partition}\",topic=\"{}\"}} {committed}",
                    escape(group),
                    escape(topic)
                );
            }
        }
    }
    family(
        &mut out,
        "kafka_consumergroup_lag",
        "Records of a partition the consumer group has not committed yet.",
    );
    for ((group, topic), partitions) in &snapshot.groups {
        for (partition, position) in partitions {
            let _ = writeln!(
                out,
                "kafka_consumergroup_lag{{consumergroup=\"{}\",partition=\"{partition}\",topic=\"{}\"}} {}",
                escape(group),
                escape(topic),
                position.lag
            );
        }
    }
    family(
        &mut out,
        "kafka_consumergroup_lag_sum",
        "Lag of a consumer group summed over a topic's partitions.",
    );
    for ((group, topic), partitions) in &snapshot.groups {
        let sum: i64 = partitions.values().map(|p| p.lag).sum();
        let _ = writeln!(
            out,
            "kafka_consumergroup_lag_sum{{consumergroup=\"{}\",topic=\"{}\"}} {sum}",
            escape(group),
            escape(topic)
        );
    }
    out
}

fn family(out: &mut String, name: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
}

/// Label values are escaped as the exposition format requires.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_lag::{PartitionLag, Watermarks};

    #[test]
    fn renders_strimzi_names_and_labels() {
        let watermarks = Watermarks::known(0, 7).expect("valid watermarks");
        let mut snapshot = Snapshot::default();
        snapshot
            .topics
            .entry("orders".into())
            .or_default()
            .insert(0, watermarks);
        snapshot
            .groups
            .entry(("g".into(), "orders".into()))
            .or_default()
            .insert(
                0,
                PartitionLag {
                    watermarks,
                    committed: Some(5),
                    lag: kafka_lag::lag(Some(5), watermarks),
                },
            );
        let text = render(&snapshot);
        for line in [
            "kafka_topic_partitions{topic=\"orders\"} 1",
            "kafka_topic_partition_current_offset{partition=\"0\",topic=\"orders\"} 7",
            "kafka_topic_partition_oldest_offset{partition=\"0\",topic=\"orders\"} 0",
            "kafka_consumergroup_current_offset{consumergroup=\"g\",partition=\"0\",topic=\"orders\"} 5",
            "kafka_consumergroup_lag{consumergroup=\"g\",partition=\"0\",topic=\"orders\"} 2",
            "kafka_consumergroup_lag_sum{consumergroup=\"g\",topic=\"orders\"} 2",
            "# TYPE kafka_consumergroup_lag gauge",
        ] {
            assert!(text.lines().any(|l| l == line), "missing {line:?} in\n{text}");
        }
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
