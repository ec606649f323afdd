//! Lines in the shape of `kubectl get hpa -w` and `kubectl get pods`, so the demo reads
//! like a cluster session.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use crate::algorithm::HpaSpec;
use crate::pods::Pod;

/// Header of the `kubectl get hpa -w` table.
pub fn hpa_header() -> String {
    format!(
        "{:<16} {:<26} {:<20} {:<8} {:<8} {:<9} {}",
        "NAME", "REFERENCE", "TARGETS", "MINPODS", "MAXPODS", "REPLICAS", "AGE"
    )
}

/// One `kubectl get hpa -w` row. `average` is the metric per current replica, `None`
/// when it could not be read (`<unknown>`, as kubectl shows it).
pub fn hpa_line(spec: &HpaSpec, average: Option<f64>, replicas: u32, age: Duration) -> String {
    let value = average.map_or_else(|| "<unknown>".to_owned(), quantity);
    let targets = format!("{value}/{} (avg)", quantity(spec.target_average_value));
    format!(
        "{:<16} {:<26} {:<20} {:<8} {:<8} {:<9} {}",
        spec.name,
        spec.reference,
        targets,
        spec.min_replicas,
        spec.max_replicas,
        replicas,
        age_string(age)
    )
}

/// `kubectl get pods`-like table of the running pods, plus the ones terminating.
pub fn pods_table(pods: &[Pod], terminating: &[String], now: Instant) -> String {
    let mut out = format!(
        "{:<18} {:<6} {:<12} {:<9} {:<7} {:<8} {}\n",
        "NAME", "READY", "STATUS", "RESTARTS", "AGE", "PID", "PORT"
    );
    for pod in pods {
        let _ = writeln!(
            out,
            "{:<18} {:<6} {:<12} {:<9} {:<7} {:<8} {}",
            pod.name,
            "1/1",
            "Running",
            pod.restarts,
            age_string(now.saturating_duration_since(pod.started)),
            pod.pid,
            pod.port
        );
    }
    for name in terminating {
        let _ = writeln!(
            out,
            "{name:<18} 0/1    Terminated   -         -       -        -"
        );
    }
    out
}

/// A Kubernetes-style quantity: integers as is, fractions in milli-units (`200m`).
pub fn quantity(value: f64) -> String {
    if value.fract().abs() < 1e-9 || value.abs() >= 1000.0 {
        format!("{}", value.round() as i64)
    } else {
        format!("{}m", (value * 1000.0).round() as i64)
    }
}

/// kubectl's short ages: `45s`, `3m12s`, `42m`, `5h3m`.
pub fn age_string(age: Duration) -> String {
    let s = age.as_secs();
    match s {
        0..=119 => format!("{s}s"),
        120..=599 => format!("{}m{}s", s / 60, s % 60),
        600..=10_799 => format!("{}m", s / 60),
        _ => format!("{}h{}m", s / 3600, (s % 3600) / 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::algorithm::ScalingRules;

    #[test]
    fn hpa_line_reads_like_kubectl() {
        let spec = HpaSpec {
            name: "consumer-svc".into(),
            reference: "Deployment/consumer-svc".into(),
            min_replicas: 2,
            max_replicas: 12,
            target_average_value: 500.0,
            scale_up: ScalingRules::default_scale_up(),
            scale_down: ScalingRules::default_scale_down(),
        };
        let line = hpa_line(&spec, Some(1234.0), 6, Duration::from_secs(75));
        let cols: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(
            cols,
            vec![
                "consumer-svc",
                "Deployment/consumer-svc",
                "1234/500",
                "(avg)",
                "2",
                "12",
                "6",
                "75s"
            ]
        );
        assert!(hpa_line(&spec, None, 2, Duration::ZERO).contains("<unknown>/500 (avg)"));
    }

    #[test]
    fn quantities_and_ages_use_kubernetes_shorthand() {
        assert_eq!(quantity(200.0), "200");
        assert_eq!(quantity(0.2), "200m");
        assert_eq!(quantity(1234.4), "1234");
        assert_eq!(age_string(Duration::from_secs(192)), "3m12s");
        assert_eq!(age_string(Duration::from_secs(2520)), "42m");
    }
}
