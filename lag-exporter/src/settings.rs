//! lag-exporter settings: the shared `kafka` and `log` sections plus its own `lag_exporter`.
//!
//! The sections of the other surge processes (`config/base.yaml` and a demo's environment
//! are shared) are ignored; any other unknown section or key is an error naming it.

use serde::{Deserialize, Serialize};

use common::settings::{KafkaSettings, LogSettings, OtlpSettings};

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    pub kafka: KafkaSettings,
    pub log: LogSettings,
    pub otlp: OtlpSettings,
    pub lag_exporter: ExporterSettings,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ExporterSettings {
    pub host: String,
    /// 9308 is the Kafka Exporter's port, so scrape configs look the same everywhere.
    pub port: u16,
    /// Groups to report; empty means `kafka.group_id`.
    pub groups: Vec<String>,
    /// Topics to report; empty means `kafka.topic` and `kafka.dlq_topic`.
    pub topics: Vec<String>,
    /// Longest wait for the broker during one scrape, per request.
    pub timeout_ms: u64,
}

impl Default for ExporterSettings {
    fn default() -> Self {
        Self {
            host: "127.0.0.1".to_owned(),
            port: 9308,
            groups: Vec::new(),
            topics: Vec::new(),
            timeout_ms: 5000,
        }
    }
}

impl common::settings::ProcessSettings for Settings {
    const OTHER_PROCESSES_SECTIONS: &'static [&'static str] = &[
        "http",
        "ingest",
        "database",
        "consumer",
        "processing",
        "shutdown",
    ];
}

impl Settings {
    /// Loads from the layers described in `common::settings`.
    pub fn load() -> Result<Self, common::settings::SettingsError> {
        common::settings::load()
    }

    pub fn groups(&self) -> Vec<String> {
        if self.lag_exporter.groups.is_empty() {
            vec![self.kafka.group_id.clone()]
        } else {
            self.lag_exporter.groups.clone()
        }
    }

    pub fn topics(&self) -> Vec<String> {
        if self.lag_exporter.topics.is_empty() {
            vec![self.kafka.topic.clone(), self.kafka.dlq_topic.clone()]
        } else {
            self.lag_exporter.topics.clone()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_follow_the_shared_kafka_section() {
        let vars = [
            ("SURGE__KAFKA__GROUP_ID".to_owned(), "g1".to_owned()),
            ("SURGE__LAG_EXPORTER__PORT".to_owned(), "9400".to_owned()),
        ];
        let s: Settings =
            common::settings::load_from(std::path::Path::new("/nonexistent"), "local", vars)
                .expect("settings load");
        assert_eq!(s.groups(), vec!["g1".to_owned()]);
        assert_eq!(
            s.topics(),
            vec!["orders".to_owned(), "orders.dlq".to_owned()]
        );
        assert_eq!(s.lag_exporter.port, 9400);
    }

    #[test]
    fn loads_the_repository_config_files() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../config");
        for environment in ["local", "production"] {
            let s: Result<Settings, _> =
                common::settings::load_from(&dir, environment, std::iter::empty());
            assert!(s.is_ok(), "{environment}: {:?}", s.err());
        }
    }
}
