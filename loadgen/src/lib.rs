//! surge's load generator: the flash sale as load, and the audit that checks the
//! database afterwards.
//!
//! - [`profile`]: phases (baseline → spike → baseline), the open-loop schedule, the
//!   request mix (hot SKU, many customers, retried keys, invalid requests).
//! - [`runner`]: the open-loop run over an HTTP/1.1 keep-alive pool, HDR latency per
//!   phase measured from each request's scheduled start, progress lines.
//! - [`results`]: the JSON results file (every accepted order id, retried keys,
//!   per-phase and per-second numbers).
//! - [`audit`]: the checks, as a pure function of results and rows; [`db`] reads rows.

pub mod audit;
pub mod db;
pub mod profile;
pub mod results;
pub mod runner;
