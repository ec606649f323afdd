//! One run's folder: `results.json` (required), `hpa-history.jsonl` (the consumer
//! HPA's status once a second, written by `autoscaler record`) and `audit.json`
//! (optional). The folder's name is the run's name in the report.

use std::path::Path;

use anyhow::Context as _;
use autoscaler::history::{self, StatusRecord};

use crate::audit_file::AuditFile;
use crate::results::RunResults;

/// What the report knows about one run.
#[derive(Debug, Clone)]
pub struct Run {
    pub name: String,
    pub results: RunResults,
    /// The HPA's status readings, oldest first; empty without `hpa-history.jsonl`.
    pub syncs: Vec<Sync>,
    pub audit: Option<AuditFile>,
}

/// One reading of the HPA's status: the lag the controller last read, the replicas it
/// found and the count it chose.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sync {
    pub unix_ms: u128,
    /// The group's total lag; `None` while the controller had no metric.
    pub lag: Option<i64>,
    pub current: u32,
    pub desired: u32,
}

impl From<&StatusRecord> for Sync {
    fn from(record: &StatusRecord) -> Self {
        Self {
            unix_ms: u128::from(record.unix_ms),
            lag: record.metric_total().map(|total| total.round() as i64),
            current: record.current_replicas,
            desired: record.desired_replicas,
        }
    }
}

impl Run {
    pub fn load(dir: &Path) -> anyhow::Result<Self> {
        let name = dir
            .canonicalize()
            .unwrap_or_else(|_| dir.to_path_buf())
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "run".to_owned());
        let results_path = dir.join("results.json");
        let results = RunResults::read(&results_path)
            .with_context(|| format!("reading {}", results_path.display()))?;
        let history_path = dir.join("hpa-history.jsonl");
        let syncs = match std::fs::read_to_string(&history_path) {
            Ok(text) => history::parse_lines(&text)
                .with_context(|| format!("reading {}", history_path.display()))?
                .iter()
                .map(Sync::from)
                .collect(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(e).with_context(|| format!("reading {}", history_path.display())),
        };
        let audit_path = dir.join("audit.json");
        let audit = if audit_path.exists() {
            Some(
                AuditFile::read(&audit_path)
                    .with_context(|| format!("reading {}", audit_path.display()))?,
            )
        } else {
            None
        };
        Ok(Self {
            name,
            results,
            syncs,
            audit,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_hpa_status_becomes_the_total_lag_and_both_replica_counts() {
        let record = StatusRecord {
            unix_ms: 3000,
            metric_average: Some(2500.5),
            current_replicas: 2,
            desired_replicas: 6,
            min_replicas: 2,
            max_replicas: 12,
            last_scale_time: None,
            conditions: Vec::new(),
        };
        assert_eq!(
            Sync::from(&record),
            Sync {
                unix_ms: 3000,
                lag: Some(5001),
                current: 2,
                desired: 6
            }
        );
        let unknown = StatusRecord {
            metric_average: None,
            ..record
        };
        assert_eq!(Sync::from(&unknown).lag, None);
    }
}
