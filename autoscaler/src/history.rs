//! The HPA status history: the consumer HorizontalPodAutoscaler as the real controller
//! wrote it, one JSON object per line (`hpa-history.jsonl` in the run folder), each
//! stamped with the time the recorder's watch delivered it.
//!
//! Each status the controller writes is the input and output of one of its syncs:
//! `currentReplicas` is the scale it read, `currentMetrics` the metric it read and
//! `desiredReplicas` what it decided from them. A watch also delivers writes that leave
//! the status as it was (another field of the object changed), so consecutive identical
//! records are one sync seen several times.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::hpa_spec::parse_quantity;

/// One reading of the HPA object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatusRecord {
    /// When the object was read, milliseconds since the Unix epoch.
    pub unix_ms: u64,
    /// The first metric's current value per replica (`current.averageValue`, what
    /// `kubectl get hpa` shows left of the target); `None` while the controller has none.
    pub metric_average: Option<f64>,
    pub current_replicas: u32,
    pub desired_replicas: u32,
    /// `spec.minReplicas` and `spec.maxReplicas` at the time of the reading.
    pub min_replicas: u32,
    pub max_replicas: u32,
    /// `status.lastScaleTime`, as the API server wrote it.
    pub last_scale_time: Option<String>,
    pub conditions: Vec<Condition>,
}

/// One of `status.conditions` (`AbleToScale`, `ScalingActive`, `ScalingLimited`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Condition {
    #[serde(rename = "type")]
    pub kind: String,
    pub status: String,
    #[serde(default)]
    pub reason: String,
    #[serde(default)]
    pub message: String,
}

#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    #[error("not JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("not a HorizontalPodAutoscaler (kind {0:?})")]
    NotAnHpa(String),
    #[error("line {line}: {source}")]
    Line {
        line: usize,
        source: serde_json::Error,
    },
    #[error("{field}: {value} is not a replica count")]
    Replicas { field: &'static str, value: Value },
    #[error("status.currentMetrics: quantity {0:?} does not parse")]
    Quantity(String),
}

impl StatusRecord {
    /// The record for an HPA object as `kubectl get hpa NAME -o json` prints it.
    pub fn from_hpa_json(unix_ms: u64, json: &str) -> Result<Self, HistoryError> {
        Self::from_hpa_object(unix_ms, &serde_json::from_str(json)?)
    }

    /// The record for an HPA object already parsed (one object of a watch stream).
    pub fn from_hpa_object(unix_ms: u64, object: &Value) -> Result<Self, HistoryError> {
        let kind = object["kind"].as_str().unwrap_or_default();
        if kind != "HorizontalPodAutoscaler" {
            return Err(HistoryError::NotAnHpa(kind.to_owned()));
        }
        let status = &object["status"];
        let spec = &object["spec"];
        let replicas =
            |of: &Value, field: &'static str, absent: u32| -> Result<u32, HistoryError> {
                match &of[field] {
                    // The API server omits a zero count (and minReplicas defaults to 1).
                    Value::Null => Ok(absent),
                    value => value
                        .as_u64()
                        .and_then(|n| u32::try_from(n).ok())
                        .ok_or_else(|| HistoryError::Replicas {
                            field,
                            value: value.clone(),
                        }),
                }
            };
        let metric_average = match status["currentMetrics"]
            .get(0)
            .and_then(current_value_of_metric)
        {
            None => None,
            Some(text) => {
                Some(parse_quantity(text).ok_or_else(|| HistoryError::Quantity(text.to_owned()))?)
            }
        };
        let conditions = match status.get("conditions") {
            Some(list) => serde_json::from_value(list.clone())?,
            None => Vec::new(),
        };
        Ok(Self {
            unix_ms,
            metric_average,
            current_replicas: replicas(status, "currentReplicas", 0)?,
            desired_replicas: replicas(status, "desiredReplicas", 0)?,
            min_replicas: replicas(spec, "minReplicas", 1)?,
            max_replicas: replicas(spec, "maxReplicas", 0)?,
            last_scale_time: status["lastScaleTime"].as_str().map(str::to_owned),
            conditions,
        })
    }

    /// The metric summed over the replicas, as the controller read it from the
    /// metrics API. For an `AverageValue` target the status shows it per replica,
    /// rounded *up* to a milli-unit (`ceil(total / replicas)`), so the product can exceed
    /// the total by up to `replicas - 1` milli-units; the lag is a whole number of
    /// records, so the whole number below the product is the total exactly (for fewer
    /// than 1000 replicas). Without that, a lag of exactly 4000 over 3 replicas would
    /// replay as 4000.002 and ask for one replica more than the controller did.
    pub fn metric_total(&self) -> Option<f64> {
        self.metric_average.map(|average| {
            let replicas = f64::from(self.current_replicas.max(1));
            let milli = (average * 1000.0).round() * replicas;
            (milli / 1000.0).floor()
        })
    }

    /// The same sync as `other`: the fields the controller writes at a sync are equal.
    pub fn same_sync_as(&self, other: &Self) -> bool {
        self.metric_average == other.metric_average
            && self.current_replicas == other.current_replicas
            && self.desired_replicas == other.desired_replicas
            && self.last_scale_time == other.last_scale_time
    }
}

/// `current.averageValue` (or `current.value`) of one `status.currentMetrics` entry,
/// whatever its source type (External, Object, Pods).
fn current_value_of_metric(metric: &Value) -> Option<&str> {
    let source = [
        "external",
        "object",
        "pods",
        "resource",
        "containerResource",
    ]
    .iter()
    .find_map(|key| metric.get(*key))?;
    let current = source.get("current")?;
    current
        .get("averageValue")
        .or_else(|| current.get("value"))
        .and_then(Value::as_str)
}

/// Reads a history file's text. A last line without its newline is ignored (the
/// recorder was stopped while writing it); any other bad line is an error.
pub fn parse_lines(text: &str) -> Result<Vec<StatusRecord>, HistoryError> {
    let complete = match text.rfind('\n') {
        Some(end) => &text[..end],
        None => "",
    };
    complete
        .lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(index, line)| {
            serde_json::from_str(line).map_err(|source| HistoryError::Line {
                line: index + 1,
                source,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const HPA: &str = r#"{
      "apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
      "metadata": {"name": "consumer-svc", "namespace": "surge-local"},
      "spec": {"maxReplicas": 12, "minReplicas": 2},
      "status": {
        "currentMetrics": [{"type": "External", "external": {
          "metric": {"name": "kafka_consumergroup_lag"},
          "current": {"averageValue": "2500500m"}}}],
        "currentReplicas": 2, "desiredReplicas": 6,
        "lastScaleTime": "2026-12-02T05:00:00Z",
        "conditions": [{"type": "AbleToScale", "status": "True", "reason": "SucceededRescale",
                        "message": "the HPA controller was able to update the target scale to 6",
                        "lastTransitionTime": "2026-12-02T05:00:00Z"}]
      }
    }"#;

    #[test]
    fn reads_replicas_metric_and_conditions_from_kubectl_json() {
        let record = StatusRecord::from_hpa_json(1_000, HPA).unwrap();
        assert_eq!(record.current_replicas, 2);
        assert_eq!(record.desired_replicas, 6);
        assert_eq!((record.min_replicas, record.max_replicas), (2, 12));
        assert_eq!(record.metric_average, Some(2500.5));
        assert_eq!(record.metric_total(), Some(5001.0));
    }

    #[test]
    fn the_total_undoes_the_controllers_rounding_up_per_replica() {
        // 4000 records over 3 replicas: the status shows ceil(4000000m / 3) = 1333334m.
        let json = HPA
            .replace("2500500m", "1333334m")
            .replace("\"currentReplicas\": 2", "\"currentReplicas\": 3");
        let record = StatusRecord::from_hpa_json(0, &json).unwrap();
        assert_eq!(record.current_replicas, 3);
        assert_eq!(record.metric_total(), Some(4000.0));
        assert_eq!(record.conditions[0].reason, "SucceededRescale");
    }

    #[test]
    fn an_hpa_without_metrics_yet_has_no_metric_value() {
        let json = r#"{"kind": "HorizontalPodAutoscaler", "status": {"desiredReplicas": 2}}"#;
        let record = StatusRecord::from_hpa_json(0, json).unwrap();
        assert_eq!(record.metric_average, None);
        assert_eq!(record.current_replicas, 0);
        assert_eq!(record.desired_replicas, 2);
    }

    #[test]
    fn another_kind_is_refused() {
        let error = StatusRecord::from_hpa_json(0, r#"{"kind": "Deployment"}"#).unwrap_err();
        assert!(matches!(error, HistoryError::NotAnHpa(kind) if kind == "Deployment"));
    }

    #[test]
    fn a_cut_last_line_is_ignored_and_a_bad_line_named() {
        let record = StatusRecord::from_hpa_json(1_000, HPA).unwrap();
        let line = serde_json::to_string(&record).unwrap();
        let text = format!("{line}\n{line}\n{}", &line[..10]);
        assert_eq!(parse_lines(&text).unwrap(), vec![record.clone(), record]);
        let error = parse_lines(&format!("{line}\nnope\n")).unwrap_err();
        assert!(error.to_string().starts_with("line 2:"), "{error}");
    }
}
