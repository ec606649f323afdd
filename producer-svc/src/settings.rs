//! producer-svc settings: the common sections plus the ingest limits.

use serde::{Deserialize, Serialize};

use common::settings::{HttpSettings, KafkaSettings, LogSettings, OtlpSettings, ShutdownSettings};

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    pub http: HttpSettings,
    pub kafka: KafkaSettings,
    pub ingest: IngestSettings,
    pub otlp: OtlpSettings,
    pub log: LogSettings,
    pub shutdown: ShutdownSettings,
}

/// Bounds that keep the ingest tier answering under a flash sale instead of queueing
/// without limit.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IngestSettings {
    /// Largest accepted request body; a valid order is about 100 bytes.
    pub max_body_bytes: usize,
    /// Largest request head accepted on `POST /v1/orders` (names and values of every
    /// header line); beyond it, 431. actix-http's own limit (128 KiB, checked only while
    /// a head is incomplete) lets larger heads through when they arrive in one read.
    pub max_header_bytes: usize,
    /// Requests being read or waiting for a broker acknowledgement at once; beyond it,
    /// 429. A request takes its slot before its body is read, so slow bodies count.
    pub max_in_flight: usize,
    /// Longest time to receive a request body once the headers arrived, in milliseconds;
    /// past it, 408 and the connection is closed.
    pub body_read_timeout_ms: u64,
    /// How often `/readyz` re-checks that broker metadata can be fetched.
    pub readiness_interval_ms: u64,
    /// `Retry-After` seconds sent with 429 and 503.
    pub retry_after_secs: u32,
    /// Send an order at once, without the linger, while nothing else is in flight (a
    /// second producer, see `publisher`); off, every order waits for the linger.
    pub quick_lane: bool,
}

impl Default for IngestSettings {
    fn default() -> Self {
        Self {
            max_body_bytes: 4096,
            max_header_bytes: 16 * 1024,
            max_in_flight: 2_048,
            body_read_timeout_ms: 5_000,
            readiness_interval_ms: 1000,
            retry_after_secs: 1,
            quick_lane: true,
        }
    }
}

impl IngestSettings {
    pub fn body_read_timeout(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.body_read_timeout_ms.max(1))
    }
}

impl common::settings::ProcessSettings for Settings {
    const OTHER_PROCESSES_SECTIONS: &'static [&'static str] =
        &["database", "consumer", "processing", "lag_exporter"];
}

impl Settings {
    /// Loads from the layers described in `common::settings`.
    pub fn load() -> Result<Self, common::settings::SettingsError> {
        common::settings::load()
    }
}
