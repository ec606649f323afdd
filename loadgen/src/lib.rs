//! surge's load generator: the flash sale (or any profile from a file) as load, and
//! the audit that checks the database afterwards.
//!
//! - [`profile`]: phases (baseline → spike → baseline, or any other shape; a `hot`
//!   phase sends every valid order to the hot SKU), the open-loop schedule, the request
//!   mix (hot SKU, many customers, retried keys, invalid requests).
//! - [`profile_file`]: profiles as YAML files (`loadgen/profiles/`), checked before a
//!   run starts.
//! - [`runner`]: the open-loop run over an HTTP/1.1 keep-alive pool, HDR latency per
//!   phase measured from each request's scheduled start, progress lines.
//! - [`results`]: the JSON results file (every accepted order id, retried keys,
//!   per-phase and per-second numbers).
//! - [`audit`]: the checks, as a pure function of results and rows; [`db`] reads rows;
//!   [`audit_file`]: the audit as JSON, with orders processed per second and end-to-end
//!   latency from the same rows.
//! - [`json_file`]: reading and writing those JSON files.
//! - [`report`]: Markdown and SVG plots from one or more runs' folders.
//! - [`live_metrics`]: the run's numbers on a Prometheus `/metrics` while it lasts.
//! - [`recommend`]: resource requests from the usage Prometheus saw during a run (the
//!   VPA recommender's method, the rule in its docs); [`prometheus_range`] reads it.
//! - [`cli`]: the command line (`main.rs` only parses and calls it).

pub mod audit;
pub mod audit_file;
pub mod cli;
pub mod db;
pub mod json_file;
pub mod live_metrics;
pub mod profile;
pub mod profile_file;
pub mod prometheus_range;
pub mod recommend;
pub mod report;
pub mod results;
pub mod runner;
