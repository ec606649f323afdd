//! Layered settings, the way production services load them.
//!
//! Order of precedence, lowest first:
//! 1. defaults compiled into each service (`Default` impls),
//! 2. `config/base.yaml`,
//! 3. `config/{environment}.yaml`, where the environment comes from `SURGE_ENVIRONMENT`
//!    (default `local`),
//! 4. environment variables `SURGE__SECTION__KEY` (double underscore between levels).
//!
//! The config folder is `SURGE_CONFIG_DIR` or `./config`; missing files are skipped, so a
//! container configured only through environment variables works unchanged.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// Why settings could not be loaded. The message names the offending key.
#[derive(Debug, thiserror::Error)]
#[error("invalid settings: {0}")]
pub struct SettingsError(#[from] config::ConfigError);

/// A process's settings type, and the sections of a shared configuration it leaves to
/// the other surge processes.
///
/// One environment (a shell, a ConfigMap, `config/base.yaml`) is often shared by several
/// processes, so each names the top-level sections that belong to the others, and ignores
/// them; its own sections are the fields of its defaults. Any other unknown section, or an
/// unknown key inside a section, is still an error naming it (a typo must not be silently
/// ignored).
pub trait ProcessSettings: DeserializeOwned + Serialize + Default {
    /// Sections other surge processes read and this one does not.
    const OTHER_PROCESSES_SECTIONS: &'static [&'static str];
}

/// Loads a process's settings type `T` from the layers described in the module docs.
///
/// `T` supplies its own defaults through `Default` + `Serialize`, so every key has a value
/// before any file or variable is read.
pub fn load<T: ProcessSettings>() -> Result<T, SettingsError> {
    let dir = std::env::var_os("SURGE_CONFIG_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("config"));
    let environment = std::env::var("SURGE_ENVIRONMENT").unwrap_or_else(|_| "local".to_owned());
    load_from(&dir, &environment, std::env::vars())
}

/// [`load`] with explicit inputs, so tests do not depend on the process environment.
pub fn load_from<T: ProcessSettings>(
    dir: &std::path::Path,
    environment: &str,
    vars: impl IntoIterator<Item = (String, String)>,
) -> Result<T, SettingsError> {
    let defaults = config::Config::try_from(&T::default())?;
    // The sections `T` has: the top-level keys of its defaults.
    let own: config::Map<String, config::Value> = defaults.clone().try_deserialize()?;
    let vars: config::Map<String, String> = vars
        .into_iter()
        .filter(|(k, _)| k.starts_with("SURGE__"))
        .collect();
    let built = config::Config::builder()
        .add_source(defaults)
        .add_source(config::File::from(dir.join("base")).required(false))
        .add_source(config::File::from(dir.join(environment)).required(false))
        // No `try_parsing`: it turns every value that looks like a number or a boolean into
        // one before the field's type is known, so a password, group id or topic `0123`
        // would arrive as `123`. Values stay strings here, and numeric and boolean fields
        // parse them when they are deserialized.
        .add_source(
            config::Environment::with_prefix("SURGE")
                .prefix_separator("__")
                .separator("__")
                .source(Some(vars)),
        )
        .build()?;
    let mut table: config::Map<String, config::Value> = built.try_deserialize()?;
    table.retain(|section, _| {
        own.contains_key(section) || !T::OTHER_PROCESSES_SECTIONS.contains(&section.as_str())
    });
    Ok(config::Value::new(None, config::ValueKind::Table(table)).try_deserialize()?)
}

/// Where a service listens for HTTP.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct HttpSettings {
    pub host: String,
    pub port: u16,
    /// actix worker threads; 0 means one per CPU core.
    pub workers: usize,
    /// How long a graceful shutdown waits for in-flight requests, in seconds.
    pub shutdown_timeout_secs: u64,
    /// An idle keep-alive connection is closed after this many seconds without a new
    /// request; 0 turns keep-alive off.
    pub keep_alive_secs: u64,
    /// A new connection's first request head must arrive within this many milliseconds,
    /// else 408 and the connection is closed (slow-header clients).
    pub request_head_timeout_ms: u64,
    /// Open connections per worker thread; beyond it, new connections wait in the backlog.
    pub max_connections_per_worker: usize,
}

impl HttpSettings {
    pub fn keep_alive(&self) -> actix_web::http::KeepAlive {
        match self.keep_alive_secs {
            0 => actix_web::http::KeepAlive::Disabled,
            secs => actix_web::http::KeepAlive::Timeout(std::time::Duration::from_secs(secs)),
        }
    }

    pub fn request_head_timeout(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.request_head_timeout_ms.max(1))
    }

    pub fn with_port(port: u16) -> Self {
        Self {
            port,
            ..Self::default()
        }
    }
}

impl Default for HttpSettings {
    fn default() -> Self {
        Self {
            host: "0.0.0.0".to_owned(),
            port: 8080,
            workers: 0,
            shutdown_timeout_secs: 30,
            keep_alive_secs: 5,
            request_head_timeout_ms: 5000,
            max_connections_per_worker: 25_000,
        }
    }
}

/// How long a process may take to stop after SIGTERM, whatever is down.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ShutdownSettings {
    /// Seconds from SIGTERM to the end of the process. The graceful steps (draining
    /// requests, the last batch, the offset commit, leaving the group, flushing) share
    /// it; past it the process exits anyway (`common::shutdown`). Keep it below the pod's
    /// `terminationGracePeriodSeconds` minus the `preStop` sleep.
    pub budget_secs: u64,
}

impl Default for ShutdownSettings {
    fn default() -> Self {
        Self { budget_secs: 20 }
    }
}

impl ShutdownSettings {
    pub fn budget(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.budget_secs.max(1))
    }
}

/// Connection to the Kafka cluster and the topics surge uses.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct KafkaSettings {
    pub bootstrap_servers: String,
    pub topic: String,
    pub dlq_topic: String,
    pub group_id: String,
    /// Consumer group protocol: `consumer` (KIP-848, brokers 4.0 and later, the default)
    /// or `classic` (the join/sync protocol, with the `cooperative-sticky` assignor).
    pub group_protocol: GroupProtocol,
    /// Upper bound between `send` and the broker's acknowledgement (`delivery.timeout.ms`).
    pub delivery_timeout_ms: u64,
    /// Any librdkafka property, applied last. Keys may be written with dots
    /// (`security.protocol`) or, from environment variables, with underscores
    /// (`SURGE__KAFKA__PROPERTIES__SECURITY_PROTOCOL`).
    pub properties: BTreeMap<String, String>,
}

impl Default for KafkaSettings {
    fn default() -> Self {
        Self {
            bootstrap_servers: "127.0.0.1:9092".to_owned(),
            topic: "orders".to_owned(),
            dlq_topic: "orders.dlq".to_owned(),
            group_id: "orders-processor".to_owned(),
            group_protocol: GroupProtocol::Consumer,
            delivery_timeout_ms: 10_000,
            properties: BTreeMap::new(),
        }
    }
}

/// How a consumer joins its group.
///
/// With `consumer` the broker computes assignments and rebalances are incremental
/// (KIP-848); `classic` is the fallback for brokers older than 4.0 and uses the
/// cooperative-sticky assignor, so a rebalance still only moves the partitions that change
/// owner.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum GroupProtocol {
    #[default]
    Consumer,
    Classic,
}

/// OpenTelemetry export. No endpoint means spans are created (so trace context still
/// propagates through Kafka) but never exported.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct OtlpSettings {
    pub endpoint: Option<String>,
}

/// Logging: `RUST_LOG` wins over `level` when set.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct LogSettings {
    pub level: String,
    /// `json` (default, one object per line) or `pretty` for a terminal.
    pub format: LogFormat,
}

impl Default for LogSettings {
    fn default() -> Self {
        Self {
            level: "info".to_owned(),
            format: LogFormat::Json,
        }
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Json,
    Pretty,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Default, Serialize, Deserialize)]
    #[serde(default, deny_unknown_fields)]
    struct Sample {
        http: HttpSettings,
        kafka: KafkaSettings,
        otlp: OtlpSettings,
    }

    impl ProcessSettings for Sample {
        const OTHER_PROCESSES_SECTIONS: &'static [&'static str] = &["database", "processing"];
    }

    fn vars(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn defaults_apply_when_nothing_is_configured() {
        let dir = std::env::temp_dir().join("surge-settings-none");
        let s: Sample = load_from(&dir, "local", vars(&[])).expect("defaults load");
        assert_eq!(s.http.port, 8080);
        assert_eq!(s.kafka.topic, "orders");
        assert_eq!(s.kafka.group_id, "orders-processor");
        assert_eq!(s.kafka.group_protocol, GroupProtocol::Consumer);
        assert_eq!(s.otlp.endpoint, None);
    }

    #[test]
    fn environment_variables_override_files_and_defaults() {
        let dir = tempdir("env-over-files");
        std::fs::write(
            dir.join("base.yaml"),
            "http:\n  port: 9000\nkafka:\n  topic: from-base\n",
        )
        .unwrap();
        std::fs::write(dir.join("staging.yaml"), "kafka:\n  topic: from-staging\n").unwrap();
        let s: Sample = load_from(
            &dir,
            "staging",
            vars(&[
                ("SURGE__HTTP__PORT", "9100"),
                (
                    "SURGE__KAFKA__BOOTSTRAP_SERVERS",
                    "broker-1:9092,broker-2:9092",
                ),
                ("SURGE__OTLP__ENDPOINT", "http://collector:4317"),
                ("SURGE__KAFKA__GROUP_PROTOCOL", "classic"),
                ("OTHER__HTTP__PORT", "1"),
            ]),
        )
        .expect("layers load");
        assert_eq!(s.http.port, 9100);
        assert_eq!(s.kafka.topic, "from-staging");
        assert_eq!(s.kafka.bootstrap_servers, "broker-1:9092,broker-2:9092");
        assert_eq!(s.otlp.endpoint.as_deref(), Some("http://collector:4317"));
        assert_eq!(s.kafka.group_protocol, GroupProtocol::Classic);
    }

    #[test]
    fn kafka_properties_pass_through_from_environment_and_files() {
        let dir = tempdir("props");
        std::fs::write(
            dir.join("base.yaml"),
            "kafka:\n  properties:\n    ssl.ca.location: /etc/ca.pem\n",
        )
        .unwrap();
        let s: Sample = load_from(
            &dir,
            "local",
            vars(&[
                ("SURGE__KAFKA__PROPERTIES__SECURITY_PROTOCOL", "SASL_SSL"),
                ("SURGE__KAFKA__PROPERTIES__LINGER_MS", "20"),
            ]),
        )
        .expect("properties load");
        assert_eq!(
            s.kafka
                .properties
                .get("ssl.ca.location")
                .map(String::as_str),
            Some("/etc/ca.pem")
        );
        assert_eq!(
            s.kafka
                .properties
                .get("security_protocol")
                .map(String::as_str),
            Some("SASL_SSL")
        );
        assert_eq!(
            s.kafka.properties.get("linger_ms").map(String::as_str),
            Some("20")
        );
    }

    #[test]
    fn a_misspelled_key_is_an_error_naming_it() {
        let dir = tempdir("typo");
        std::fs::write(dir.join("base.yaml"), "http:\n  prot: 1\n").unwrap();
        let err = load_from::<Sample>(&dir, "local", vars(&[])).unwrap_err();
        assert!(err.to_string().contains("prot"), "{err}");
    }

    #[test]
    fn sections_of_other_surge_processes_are_ignored_but_unknown_ones_are_errors() {
        let dir = tempdir("shared");
        let shared = vars(&[
            ("SURGE__DATABASE__URL", "postgres://x"),
            ("SURGE__PROCESSING__SIMULATED_LATENCY_MS", "4"),
            ("SURGE__HTTP__PORT", "9000"),
        ]);
        let s = load_from::<Sample>(&dir, "local", shared).unwrap();
        assert_eq!(s.http.port, 9000);
        let err =
            load_from::<Sample>(&dir, "local", vars(&[("SURGE__DATABSE__URL", "x")])).unwrap_err();
        assert!(err.to_string().contains("databse"), "{err}");
        let err = load_from::<Sample>(&dir, "local", vars(&[("SURGE__DATABASE__URL", "x")]));
        assert!(err.is_ok(), "{err:?}");
        let err =
            load_from::<Sample>(&dir, "local", vars(&[("SURGE__HTTP__PROT", "1")])).unwrap_err();
        assert!(err.to_string().contains("prot"), "{err}");
    }

    #[test]
    fn values_that_look_like_numbers_stay_strings_where_the_field_is_a_string() {
        let dir = tempdir("numeric-strings");
        let s: Sample = load_from(
            &dir,
            "local",
            vars(&[
                ("SURGE__KAFKA__GROUP_ID", "0123"),
                ("SURGE__KAFKA__TOPIC", "1e3"),
                ("SURGE__KAFKA__DLQ_TOPIC", "007.50"),
                ("SURGE__KAFKA__BOOTSTRAP_SERVERS", "true"),
                ("SURGE__KAFKA__PROPERTIES__SASL_PASSWORD", "000123"),
                ("SURGE__OTLP__ENDPOINT", "0x10"),
                ("SURGE__HTTP__PORT", "09100"),
                ("SURGE__HTTP__WORKERS", "3"),
                ("SURGE__KAFKA__DELIVERY_TIMEOUT_MS", "2500"),
            ]),
        )
        .expect("settings load");
        assert_eq!(s.kafka.group_id, "0123");
        assert_eq!(s.kafka.topic, "1e3");
        assert_eq!(s.kafka.dlq_topic, "007.50");
        assert_eq!(s.kafka.bootstrap_servers, "true");
        assert_eq!(
            s.kafka.properties.get("sasl_password").map(String::as_str),
            Some("000123")
        );
        assert_eq!(s.otlp.endpoint.as_deref(), Some("0x10"));
        assert_eq!(s.http.port, 9100, "numeric fields still parse");
        assert_eq!(s.http.workers, 3);
        assert_eq!(s.kafka.delivery_timeout_ms, 2500);
    }

    #[test]
    fn a_non_numeric_port_is_an_error() {
        let dir = tempdir("bad-port");
        let err = load_from::<Sample>(&dir, "local", vars(&[("SURGE__HTTP__PORT", "eighty")]))
            .unwrap_err();
        assert!(err.to_string().contains("port"), "{err}");
    }

    fn tempdir(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "surge-settings-{name}-{}",
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }
}
