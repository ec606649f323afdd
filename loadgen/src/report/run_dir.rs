//! One run's folder: `results.json` (required), `hpa-history.jsonl` (the consumer
//! HPA's status once a second, written by `autoscaler record`), `lag.json` (the group's
//! lag as Prometheus recorded it: the answer of a `/api/v1/query_range` for one
//! series, as scripts/demo.sh saves it) and `audit.json` (each optional). The folder's
//! name is the run's name in the report.

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
    /// `(unix ms, lag)` from `lag.json`, oldest first; empty without it.
    pub lag: Vec<(u128, i64)>,
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
        let lag_path = dir.join("lag.json");
        let lag = match std::fs::read_to_string(&lag_path) {
            Ok(text) => prometheus_series(&text)
                .with_context(|| format!("reading {}", lag_path.display()))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(e).with_context(|| format!("reading {}", lag_path.display())),
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
            lag,
            audit,
        })
    }
}

/// The one series of a Prometheus range-query answer, as `(unix ms, value)`. No series
/// (nothing was scraped) is an empty list; several are refused, since summing them here
/// would hide a query that matched more than the group.
pub fn prometheus_series(json: &str) -> anyhow::Result<Vec<(u128, i64)>> {
    #[derive(serde::Deserialize)]
    struct Answer {
        status: String,
        data: Data,
    }
    #[derive(serde::Deserialize)]
    struct Data {
        #[serde(rename = "resultType")]
        result_type: String,
        result: Vec<Series>,
    }
    #[derive(serde::Deserialize)]
    struct Series {
        values: Vec<(f64, String)>,
    }
    let answer: Answer = serde_json::from_str(json).context("not a Prometheus query answer")?;
    anyhow::ensure!(
        answer.status == "success" && answer.data.result_type == "matrix",
        "expected a successful range query (status {:?}, resultType {:?})",
        answer.status,
        answer.data.result_type
    );
    match answer.data.result.as_slice() {
        [] => Ok(Vec::new()),
        [series] => series
            .values
            .iter()
            .map(|(t, v)| {
                let value: f64 = v
                    .parse()
                    .with_context(|| format!("value {v:?} at {t} is not a number"))?;
                Ok(((t * 1000.0).round() as u128, value.round() as i64))
            })
            .collect(),
        several => anyhow::bail!(
            "{} series; expected one (the group's summed lag)",
            several.len()
        ),
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

    #[test]
    fn a_prometheus_range_answer_becomes_the_lag_series() {
        let one = r#"{"status":"success","data":{"resultType":"matrix","result":[
            {"metric":{},"values":[[1700000000.5,"12"],[1700000001.5,"40.4"]]}]}}"#;
        assert_eq!(
            prometheus_series(one).unwrap(),
            vec![(1_700_000_000_500, 12), (1_700_000_001_500, 40)]
        );
        let none = r#"{"status":"success","data":{"resultType":"matrix","result":[]}}"#;
        assert!(prometheus_series(none).unwrap().is_empty());
        let two = r#"{"status":"success","data":{"resultType":"matrix","result":[
            {"metric":{"topic":"a"},"values":[]},{"metric":{"topic":"b"},"values":[]}]}}"#;
        let error = prometheus_series(two).unwrap_err().to_string();
        assert!(error.contains("2 series"), "{error}");
        let instant = r#"{"status":"success","data":{"resultType":"vector","result":[]}}"#;
        assert!(prometheus_series(instant).is_err());
        assert!(prometheus_series("not json").is_err());
    }
}
