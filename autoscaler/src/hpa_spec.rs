//! Reading an `autoscaling/v2` HorizontalPodAutoscaler manifest into [`HpaSpec`].
//!
//! Accepts one object or a multi-document stream (e.g. a rendered overlay) and takes the
//! HPA named as asked, or the only one. Unset `behavior` fields get the upstream
//! defaults (`SetDefaults_HorizontalPodAutoscalerBehavior`), so a manifest without
//! `behavior` scales exactly as a cluster would. Only an `AverageValue` target is
//! understood: the lag metric is a total to be shared between pods.

use std::time::Duration;

use serde::Deserialize;

use crate::algorithm::{HpaSpec, Policy, PolicyType, ScalingRules, SelectPolicy};

#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("invalid YAML: {0}")]
    Yaml(#[from] serde_norway::Error),
    #[error("no HorizontalPodAutoscaler{0} in the manifest")]
    NotFound(String),
    #[error("several HorizontalPodAutoscalers in the manifest; name one of {0:?}")]
    Ambiguous(Vec<String>),
    #[error("unsupported HPA: {0}")]
    Unsupported(String),
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Object {
    #[serde(default)]
    api_version: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    metadata: Metadata,
    #[serde(default)]
    spec: Option<Spec>,
}

#[derive(Debug, Default, Deserialize)]
struct Metadata {
    #[serde(default)]
    name: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Spec {
    scale_target_ref: TargetRef,
    min_replicas: Option<u32>,
    max_replicas: u32,
    #[serde(default)]
    metrics: Vec<Metric>,
    behavior: Option<Behavior>,
}

#[derive(Debug, Deserialize)]
struct TargetRef {
    kind: String,
    name: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Metric {
    #[serde(rename = "type")]
    kind: String,
    external: Option<MetricSource>,
    object: Option<MetricSource>,
    pods: Option<MetricSource>,
}

#[derive(Debug, Deserialize)]
struct MetricSource {
    target: Target,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Target {
    #[serde(rename = "type")]
    kind: String,
    average_value: Option<Quantity>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Quantity {
    Number(f64),
    Text(String),
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Behavior {
    scale_up: Option<Rules>,
    scale_down: Option<Rules>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Rules {
    stabilization_window_seconds: Option<u64>,
    select_policy: Option<String>,
    policies: Option<Vec<RawPolicy>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawPolicy {
    #[serde(rename = "type")]
    kind: String,
    value: u32,
    period_seconds: u64,
}

/// Reads the HPA named `name` (or the only HPA) from the file at `path`.
pub fn load(path: &str, name: Option<&str>) -> Result<HpaSpec, SpecError> {
    let text = std::fs::read_to_string(path).map_err(|source| SpecError::Io {
        path: path.to_owned(),
        source,
    })?;
    parse(&text, name)
}

/// Parses the HPA named `name` (or the only HPA) out of a YAML stream.
pub fn parse(yaml: &str, name: Option<&str>) -> Result<HpaSpec, SpecError> {
    let mut found = Vec::new();
    for document in serde_norway::Deserializer::from_str(yaml) {
        let value = serde_norway::Value::deserialize(document)?;
        if value.is_null() {
            continue;
        }
        let object: Object = serde_norway::from_value(value)?;
        if object.kind == "HorizontalPodAutoscaler" {
            found.push(object);
        }
    }
    let names: Vec<String> = found.iter().map(|o| o.metadata.name.clone()).collect();
    let object = match name {
        Some(wanted) => found
            .into_iter()
            .find(|o| o.metadata.name == wanted)
            .ok_or_else(|| SpecError::NotFound(format!(" named {wanted}")))?,
        None if found.len() > 1 => return Err(SpecError::Ambiguous(names)),
        None => found
            .into_iter()
            .next()
            .ok_or_else(|| SpecError::NotFound(String::new()))?,
    };
    convert(object)
}

fn convert(object: Object) -> Result<HpaSpec, SpecError> {
    if object.api_version != "autoscaling/v2" {
        return Err(SpecError::Unsupported(format!(
            "apiVersion {:?}, expected autoscaling/v2",
            object.api_version
        )));
    }
    let spec = object
        .spec
        .ok_or_else(|| SpecError::Unsupported("no spec".into()))?;
    let [metric] = spec.metrics.as_slice() else {
        return Err(SpecError::Unsupported(format!(
            "{} metrics; exactly one (the lag) is supported",
            spec.metrics.len()
        )));
    };
    let source = metric
        .external
        .as_ref()
        .or(metric.object.as_ref())
        .or(metric.pods.as_ref())
        .ok_or_else(|| SpecError::Unsupported(format!("metric type {}", metric.kind)))?;
    if source.target.kind != "AverageValue" {
        return Err(SpecError::Unsupported(format!(
            "target type {}, expected AverageValue",
            source.target.kind
        )));
    }
    let target = match &source.target.average_value {
        Some(Quantity::Number(n)) => *n,
        Some(Quantity::Text(text)) => parse_quantity(text)
            .ok_or_else(|| SpecError::Unsupported(format!("quantity {text:?}")))?,
        None => return Err(SpecError::Unsupported("no averageValue".into())),
    };
    if target <= 0.0 {
        return Err(SpecError::Unsupported(
            "averageValue must be positive".into(),
        ));
    }
    let min_replicas = spec.min_replicas.unwrap_or(1);
    if spec.max_replicas < min_replicas {
        return Err(SpecError::Unsupported(format!(
            "maxReplicas {} < minReplicas {min_replicas}",
            spec.max_replicas
        )));
    }
    let behavior = spec.behavior.unwrap_or_default();
    Ok(HpaSpec {
        name: object.metadata.name,
        reference: format!(
            "{}/{}",
            spec.scale_target_ref.kind, spec.scale_target_ref.name
        ),
        min_replicas,
        max_replicas: spec.max_replicas,
        target_average_value: target,
        scale_up: rules(behavior.scale_up, ScalingRules::default_scale_up())?,
        scale_down: rules(behavior.scale_down, ScalingRules::default_scale_down())?,
    })
}

/// Fills unset fields from the upstream defaults, field by field like the API server.
fn rules(raw: Option<Rules>, default: ScalingRules) -> Result<ScalingRules, SpecError> {
    let Some(raw) = raw else {
        return Ok(default);
    };
    let select_policy = match raw.select_policy.as_deref() {
        None | Some("Max") => SelectPolicy::Max,
        Some("Min") => SelectPolicy::Min,
        Some("Disabled") => SelectPolicy::Disabled,
        Some(other) => return Err(SpecError::Unsupported(format!("selectPolicy {other}"))),
    };
    let policies = match raw.policies {
        None => default.policies,
        Some(list) => list
            .into_iter()
            .map(|p| {
                let kind = match p.kind.as_str() {
                    "Pods" => PolicyType::Pods,
                    "Percent" => PolicyType::Percent,
                    other => {
                        return Err(SpecError::Unsupported(format!("policy type {other}")));
                    }
                };
                if p.period_seconds == 0 || p.period_seconds > 1800 {
                    return Err(SpecError::Unsupported(format!(
                        "periodSeconds {} outside 1..=1800",
                        p.period_seconds
                    )));
                }
                Ok(Policy {
                    kind,
                    value: p.value,
                    period: Duration::from_secs(p.period_seconds),
                })
            })
            .collect::<Result<_, _>>()?,
    };
    Ok(ScalingRules {
        stabilization_window: raw
            .stabilization_window_seconds
            .map(Duration::from_secs)
            .unwrap_or(default.stabilization_window),
        select_policy,
        policies,
    })
}

/// A Kubernetes resource quantity (`1000`, `200m`, `1.5k`, `2Ki`, `1e3`) as a number.
pub fn parse_quantity(text: &str) -> Option<f64> {
    let text = text.trim();
    let suffixes: [(&str, f64); 13] = [
        ("Ki", 1024.0),
        ("Mi", 1024.0 * 1024.0),
        ("Gi", 1024.0 * 1024.0 * 1024.0),
        ("Ti", 1024f64.powi(4)),
        ("Pi", 1024f64.powi(5)),
        ("Ei", 1024f64.powi(6)),
        ("n", 1e-9),
        ("u", 1e-6),
        ("m", 1e-3),
        ("k", 1e3),
        ("M", 1e6),
        ("G", 1e9),
        ("T", 1e12),
    ];
    for (suffix, factor) in suffixes {
        if let Some(number) = text.strip_suffix(suffix) {
            return number.parse::<f64>().ok().map(|n| n * factor);
        }
    }
    text.parse::<f64>().ok().filter(|n| n.is_finite())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHIPPED: &str = include_str!("../../k8s/base/consumer-svc/hpa.yaml");

    #[test]
    fn reads_the_shipped_consumer_hpa() {
        let spec = parse(SHIPPED, None).expect("shipped HPA parses");
        assert_eq!(spec.name, "consumer-svc");
        assert_eq!(spec.reference, "Deployment/consumer-svc");
        assert!(spec.min_replicas >= 1);
        assert!(spec.max_replicas >= spec.min_replicas);
        assert!(spec.target_average_value > 0.0);
        assert!(!spec.scale_up.policies.is_empty());
        assert!(!spec.scale_down.policies.is_empty());
    }

    #[test]
    fn fills_upstream_defaults_when_behavior_is_absent() {
        let yaml = r#"
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: x}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: x}
  maxReplicas: 5
  metrics:
    - type: External
      external:
        metric: {name: lag}
        target: {type: AverageValue, averageValue: 200m}
"#;
        let spec = parse(yaml, None).unwrap();
        assert_eq!(spec.min_replicas, 1);
        assert!((spec.target_average_value - 0.2).abs() < 1e-12);
        assert_eq!(spec.scale_up, ScalingRules::default_scale_up());
        assert_eq!(spec.scale_down, ScalingRules::default_scale_down());
    }

    #[test]
    fn partial_behavior_keeps_defaults_for_unset_fields() {
        let yaml = r#"
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: x}
spec:
  scaleTargetRef: {kind: Deployment, name: x}
  minReplicas: 2
  maxReplicas: 5
  metrics:
    - type: External
      external:
        metric: {name: lag}
        target: {type: AverageValue, averageValue: 1k}
  behavior:
    scaleDown:
      selectPolicy: Disabled
"#;
        let spec = parse(yaml, None).unwrap();
        assert_eq!(spec.target_average_value, 1000.0);
        assert_eq!(spec.scale_down.select_policy, SelectPolicy::Disabled);
        assert_eq!(
            spec.scale_down.stabilization_window,
            Duration::from_secs(300)
        );
        assert_eq!(spec.scale_up, ScalingRules::default_scale_up());
    }

    #[test]
    fn picks_the_named_hpa_from_a_rendered_stream() {
        let stream = format!(
            "apiVersion: v1\nkind: Service\nmetadata: {{name: s}}\n---\n{SHIPPED}\n---\n{}",
            SHIPPED.replace("name: consumer-svc\n  labels", "name: other\n  labels")
        );
        assert!(matches!(parse(&stream, None), Err(SpecError::Ambiguous(_))));
        assert_eq!(
            parse(&stream, Some("consumer-svc")).unwrap().name,
            "consumer-svc"
        );
        assert_eq!(parse(&stream, Some("other")).unwrap().name, "other");
    }

    #[test]
    fn rejects_utilization_targets() {
        let yaml = SHIPPED.replace("type: AverageValue", "type: Utilization");
        assert!(matches!(parse(&yaml, None), Err(SpecError::Unsupported(_))));
    }

    #[test]
    fn quantities_follow_kubernetes_suffixes() {
        assert_eq!(parse_quantity("1000"), Some(1000.0));
        assert_eq!(parse_quantity("200m"), Some(0.2));
        assert_eq!(parse_quantity("1.5k"), Some(1500.0));
        assert_eq!(parse_quantity("2Ki"), Some(2048.0));
        assert_eq!(parse_quantity("1e3"), Some(1000.0));
        assert_eq!(parse_quantity("abc"), None);
    }
}
