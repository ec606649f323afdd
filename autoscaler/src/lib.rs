//! The HorizontalPodAutoscaler algorithm as a pure function, kept as a cross-check of
//! the real controller (kube-controller-manager) that scales the consumers.
//!
//! - [`algorithm`]: the upstream HPA algorithm as a deterministic function of its
//!   inputs and a small history.
//! - [`hpa_spec`]: an `autoscaling/v2` manifest (or `kubectl get hpa -o yaml`) → the
//!   algorithm's inputs.
//! - [`history`]: the HPA status history the demo records, one sync per change.
//! - [`record`]: the recorder that writes that history while the demo runs, and
//!   [`hpa_gauges`]: what it read, served under kube-state-metrics' names.
//! - [`replay`]: the algorithm fed the controller's inputs, compared with its choices.
//! - [`sale_calendar`]: a calendar of sales whose start is known → the Prometheus rules
//!   behind the External metric that pre-scales the consumers.
//!
//! `main.rs` only parses flags for `record`, `replay` and `sale-calendar`.

pub mod algorithm;
pub mod history;
pub mod hpa_gauges;
pub mod hpa_spec;
pub mod record;
pub mod replay;
pub mod sale_calendar;
