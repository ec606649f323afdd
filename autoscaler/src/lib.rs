//! The local stand-in for Kubernetes' HorizontalPodAutoscaler controller.
//!
//! - [`algorithm`]: the upstream HPA algorithm as a deterministic function (plus our
//!   partition cap and the `partition-aware` mode); everything else feeds it.
//! - [`hpa_spec`]: the shipped `autoscaling/v2` manifest → the algorithm's inputs.
//! - the consumer group's total lag comes from `kafka_lag`, the reader lag-exporter uses.
//! - [`pods`]: real `consumer-svc` processes standing in for pods.
//! - [`display`]: `kubectl get hpa -w` / `kubectl get pods` style lines.
//! - [`metrics`]: the autoscaler's own Prometheus endpoint.
//! - [`run`]: the sync loop tying them together; `main.rs` only parses flags.

pub mod algorithm;
pub mod display;
pub mod hpa_spec;
pub mod metrics;
pub mod pods;
pub mod run;

/// The part of the shared settings the autoscaler reads (`SURGE__KAFKA__…`); other
/// sections are left to the services.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct Settings {
    #[serde(default)]
    pub kafka: common::settings::KafkaSettings,
}

impl common::settings::ProcessSettings for Settings {
    /// Everything but `kafka` belongs to the processes it scales or sits next to.
    const OTHER_PROCESSES_SECTIONS: &'static [&'static str] = &[
        "http",
        "ingest",
        "otlp",
        "log",
        "database",
        "consumer",
        "processing",
        "lag_exporter",
    ];
}
