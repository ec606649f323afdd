//! consumer-svc settings: the common sections plus batching, database and processing knobs.
//!
//! Every key has a default, so `SURGE__DATABASE__URL` and `SURGE__KAFKA__BOOTSTRAP_SERVERS`
//! are usually all an operator sets.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use common::settings::{HttpSettings, KafkaSettings, LogSettings, OtlpSettings, ShutdownSettings};

/// The port consumer-svc listens on unless told otherwise (producer-svc has 8080).
pub const DEFAULT_HTTP_PORT: u16 = 8081;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    pub http: HttpSettings,
    pub kafka: KafkaSettings,
    pub consumer: ConsumerSettings,
    pub database: DatabaseSettings,
    pub processing: ProcessingSettings,
    pub otlp: OtlpSettings,
    pub log: LogSettings,
    pub shutdown: ShutdownSettings,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            http: HttpSettings::with_port(DEFAULT_HTTP_PORT),
            kafka: KafkaSettings::default(),
            consumer: ConsumerSettings::default(),
            database: DatabaseSettings::default(),
            processing: ProcessingSettings::default(),
            otlp: OtlpSettings::default(),
            log: LogSettings::default(),
            shutdown: ShutdownSettings::default(),
        }
    }
}

impl common::settings::ProcessSettings for Settings {
    const OTHER_PROCESSES_SECTIONS: &'static [&'static str] = &["ingest", "lag_exporter"];
}

impl Settings {
    /// Loads from the layers described in `common::settings`.
    pub fn load() -> Result<Self, common::settings::SettingsError> {
        common::settings::load()
    }
}

/// How records are grouped into transactions.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ConsumerSettings {
    /// Most records applied in one transaction. Larger batches amortize the commit; smaller
    /// ones hand partitions over faster during a rebalance.
    pub batch_max_records: usize,
    /// Longest the first record of a batch waits for more to arrive before the batch is
    /// applied anyway, in milliseconds. Bounds the latency a quiet topic adds.
    pub batch_max_wait_ms: u64,
    /// How often the lag of this replica's partitions is measured, in milliseconds.
    pub lag_interval_ms: u64,
    /// Timeout of the broker requests behind the lag measurement, in milliseconds.
    pub lag_request_timeout_ms: u64,
    /// How often `surge_stock_remaining` is refreshed from the whole `inventory` table, in
    /// milliseconds (batches also report their SKUs as they commit).
    pub stock_interval_ms: u64,
}

impl Default for ConsumerSettings {
    fn default() -> Self {
        Self {
            batch_max_records: 500,
            batch_max_wait_ms: 50,
            lag_interval_ms: 5_000,
            lag_request_timeout_ms: 2_000,
            stock_interval_ms: 5_000,
        }
    }
}

impl ConsumerSettings {
    pub fn batch_max_wait(&self) -> Duration {
        Duration::from_millis(self.batch_max_wait_ms)
    }

    pub fn lag_interval(&self) -> Duration {
        Duration::from_millis(self.lag_interval_ms.max(100))
    }

    pub fn stock_interval(&self) -> Duration {
        Duration::from_millis(self.stock_interval_ms.max(100))
    }
}

/// The PostgreSQL database orders and stock live in.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseSettings {
    /// `postgres://user:password@host:port/database?sslmode=…`
    pub url: String,
    /// Size of the worker's pool: its batch transactions (one at a time), the readiness
    /// check and the stock gauge. Order look-ups have a pool of their own, so GET
    /// polling during a sale cannot take these connections.
    pub max_connections: u32,
    /// How long a query waits for a free (or new) connection before it fails.
    pub acquire_timeout_ms: u64,
    /// Size of the pool `GET /v1/orders/{id}` reads from.
    pub lookup_max_connections: u32,
    /// How long a look-up waits for a connection before it answers 503 (+ Retry-After).
    pub lookup_acquire_timeout_ms: u64,
    /// Server-side `statement_timeout`, so a stuck statement fails instead of hanging the
    /// partition forever.
    pub statement_timeout_ms: u64,
    /// Client-side bound on one batch's transaction, from BEGIN to COMMIT, in
    /// milliseconds. Past it the attempt is abandoned (rolled back) and retried like any
    /// database error. It covers what `statement_timeout` cannot: a connection whose
    /// packets are dropped never reaches the server. Keep it above
    /// `statement_timeout_ms` and far below the consumer's `max.poll.interval.ms`.
    pub transaction_timeout_ms: u64,
    /// Apply the embedded migrations when the service starts (under PostgreSQL's advisory
    /// lock, so replicas starting together are safe). Turn off when a Kubernetes Job runs
    /// `consumer-svc migrate` instead.
    pub migrate_on_start: bool,
    /// First delay before retrying a batch the database refused, in milliseconds.
    pub retry_initial_ms: u64,
    /// Largest delay between retries, in milliseconds.
    pub retry_max_ms: u64,
    /// How often `/readyz`'s database check runs, in milliseconds.
    pub health_interval_ms: u64,
}

impl Default for DatabaseSettings {
    fn default() -> Self {
        Self {
            url: "postgres://surge:surge@127.0.0.1:5432/surge".to_owned(),
            max_connections: 2,
            acquire_timeout_ms: 3_000,
            lookup_max_connections: 4,
            lookup_acquire_timeout_ms: 1_000,
            statement_timeout_ms: 10_000,
            transaction_timeout_ms: 30_000,
            migrate_on_start: true,
            retry_initial_ms: 100,
            retry_max_ms: 5_000,
            health_interval_ms: 2_000,
        }
    }
}

impl DatabaseSettings {
    pub fn transaction_timeout(&self) -> Duration {
        Duration::from_millis(self.transaction_timeout_ms.max(100))
    }
}

/// What happens to each order besides the database work.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ProcessingSettings {
    /// Demo knob, 0 (off) in production: pretend every order needs this many milliseconds
    /// of downstream work (a payment call, say). A batch of n orders sleeps n × this before
    /// its transaction, outside it, so one replica's throughput is capped near
    /// 1000 / simulated_latency_ms orders per second and scaling out pays off even on a
    /// small machine.
    pub simulated_latency_ms: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn defaults_listen_on_8081_and_join_orders_processor() {
        let dir = std::env::temp_dir().join("surge-consumer-settings-none");
        let s: Settings = common::settings::load_from(&dir, "local", vars(&[])).unwrap();
        assert_eq!(s.http.port, 8081);
        assert_eq!(s.kafka.group_id, "orders-processor");
        assert_eq!(s.kafka.topic, "orders");
        assert_eq!(s.kafka.dlq_topic, "orders.dlq");
        assert!(s.database.migrate_on_start);
        assert_eq!(s.processing.simulated_latency_ms, 0);
    }

    #[test]
    fn the_documented_environment_variables_apply() {
        let dir = std::env::temp_dir().join("surge-consumer-settings-env");
        let s: Settings = common::settings::load_from(
            &dir,
            "local",
            vars(&[
                ("SURGE__DATABASE__URL", "postgres://u:p@db:5432/orders"),
                ("SURGE__HTTP__PORT", "9091"),
                ("SURGE__KAFKA__GROUP_ID", "g"),
                ("SURGE__CONSUMER__BATCH_MAX_RECORDS", "7"),
                ("SURGE__PROCESSING__SIMULATED_LATENCY_MS", "3"),
            ]),
        )
        .unwrap();
        assert_eq!(s.database.url, "postgres://u:p@db:5432/orders");
        assert_eq!(s.http.port, 9091);
        assert_eq!(s.kafka.group_id, "g");
        assert_eq!(s.consumer.batch_max_records, 7);
        assert_eq!(s.processing.simulated_latency_ms, 3);
    }
}
