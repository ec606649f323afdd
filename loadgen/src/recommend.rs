//! Resource requests from observed usage, the way the Vertical Pod Autoscaler's
//! recommender derives them, with the rule written down:
//!
//! - The samples are every pod of one container, every step of the run (CPU: the rate of
//!   `process_cpu_seconds_total` in cores; memory: `process_resident_memory_bytes`), pooled,
//!   as the VPA pools a container's usage across the pods of a workload.
//! - **lower bound** = the median; **target** = the larger of the 90th percentile and
//!   mean + 1σ; **upper bound** = the larger of the 95th percentile and mean + 2σ. The
//!   percentiles are the VPA's (its target is the 90th percentile of usage); the σ terms
//!   keep a bursty series (a flash sale: long quiet, short spike) from being sized by its
//!   quiet majority.
//! - Each is raised by a **safety margin** of 15 % (the VPA's default
//!   `recommendation-margin-fraction`) and floored at 10 millicores / 16 MiB so that no
//!   request is zero; CPU rounds up to 5 m, memory to whole MiB.
//! - The patch sets `requests` to the target and `limits.memory` to the upper bound: a
//!   process above its upper bound is the out-of-memory kill one wants to hear about. CPU
//!   limits are left alone (producer-svc runs without one on purpose: CFS throttling shows
//!   up as tail latency).

use std::fmt::Write as _;

/// The VPA recommender's default margin.
pub const SAFETY_MARGIN: f64 = 0.15;
pub const MIN_CPU_CORES: f64 = 0.010;
pub const MIN_MEMORY_BYTES: f64 = 16.0 * MIB;
const MIB: f64 = 1024.0 * 1024.0;

/// Lower bound, target and upper bound of one resource, in its base unit (cores or
/// bytes), margin and floor applied.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bounds {
    pub lower: f64,
    pub target: f64,
    pub upper: f64,
}

/// The rule above, on one resource's pooled samples; `None` without samples.
pub fn bounds(samples: &[f64], floor: f64) -> Option<Bounds> {
    let mut sorted: Vec<f64> = samples.iter().copied().filter(|v| v.is_finite()).collect();
    if sorted.is_empty() {
        return None;
    }
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len() as f64;
    let mean = sorted.iter().sum::<f64>() / n;
    let sigma = (sorted.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n).sqrt();
    let with_margin = |v: f64| (v * (1.0 + SAFETY_MARGIN)).max(floor);
    Some(Bounds {
        lower: with_margin(percentile(&sorted, 0.50)),
        target: with_margin(percentile(&sorted, 0.90).max(mean + sigma)),
        upper: with_margin(percentile(&sorted, 0.95).max(mean + 2.0 * sigma)),
    })
}

/// Nearest-rank percentile of sorted values.
fn percentile(sorted: &[f64], q: f64) -> f64 {
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// One container's recommendation.
#[derive(Debug, Clone, PartialEq)]
pub struct Recommendation {
    pub container: String,
    pub cpu: Bounds,
    pub memory: Bounds,
    pub cpu_samples: usize,
    pub memory_samples: usize,
}

/// Cores as Kubernetes millicores, rounded up to 5 m.
pub fn cpu_quantity(cores: f64) -> String {
    let millis = (cores * 1000.0 / 5.0).ceil() as u64 * 5;
    format!("{millis}m")
}

/// Bytes as Kubernetes Mi, rounded up.
pub fn memory_quantity(bytes: f64) -> String {
    format!("{}Mi", (bytes / MIB).ceil() as u64)
}

/// The table an operator reads.
pub fn table(recommendations: &[Recommendation]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<14} {:>8} {:>8} {:>8} {:>9} {:>9} {:>9}  samples (cpu/memory)",
        "CONTAINER", "cpu low", "cpu req", "cpu up", "mem low", "mem req", "mem limit"
    );
    for r in recommendations {
        let _ = writeln!(
            out,
            "{:<14} {:>8} {:>8} {:>8} {:>9} {:>9} {:>9}  {}/{}",
            r.container,
            cpu_quantity(r.cpu.lower),
            cpu_quantity(r.cpu.target),
            cpu_quantity(r.cpu.upper),
            memory_quantity(r.memory.lower),
            memory_quantity(r.memory.target),
            memory_quantity(r.memory.upper),
            r.cpu_samples,
            r.memory_samples
        );
    }
    out
}

/// A strategic-merge patch per Deployment (named like its container), for a kustomize
/// overlay's `patches:`.
pub fn patch(recommendations: &[Recommendation], source: &str) -> String {
    let mut out = String::new();
    for (i, r) in recommendations.iter().enumerate() {
        if i > 0 {
            out.push_str("---\n");
        }
        let _ = write!(
            out,
            "# loadgen recommend: {source}\n\
             apiVersion: apps/v1\n\
             kind: Deployment\n\
             metadata:\n  name: {name}\n\
             spec:\n  template:\n    spec:\n      containers:\n        - name: {name}\n\
             \x20         resources:\n\
             \x20           requests:\n              cpu: {cpu}\n              memory: {memory}\n\
             \x20           limits:\n              memory: {limit}\n",
            name = r.container,
            cpu = cpu_quantity(r.cpu.target),
            memory = memory_quantity(r.memory.target),
            limit = memory_quantity(r.memory.upper),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn a_steady_series_is_sized_by_its_percentiles_plus_the_margin() {
        // 1..=100 millicores: p50 = 50 m, p90 = 90 m, p95 = 95 m; mean 50.5 m,
        // σ ≈ 28.87 m, so mean + σ ≈ 79.4 m < p90 and mean + 2σ ≈ 108.2 m > p95.
        let samples: Vec<f64> = (1..=100).map(|m| m as f64 / 1000.0).collect();
        let b = bounds(&samples, 0.0).unwrap();
        assert!(close(b.lower, 0.050 * 1.15), "{b:?}");
        assert!(close(b.target, 0.090 * 1.15), "{b:?}");
        let sigma = (samples.iter().map(|v| (v - 0.0505).powi(2)).sum::<f64>() / 100.0).sqrt();
        assert!(close(b.upper, (0.0505 + 2.0 * sigma) * 1.15), "{b:?}");
    }

    #[test]
    fn a_short_spike_raises_the_target_through_the_standard_deviation() {
        // 94 quiet samples at 10 m and 6 spike samples at 1000 m: p90 is still 10 m, but
        // a request of 11.5 m would starve the spike. mean + σ sizes it instead.
        let mut samples = vec![0.010; 94];
        samples.extend([1.0; 6]);
        let b = bounds(&samples, 0.0).unwrap();
        let mean = (94.0 * 0.010 + 6.0) / 100.0;
        let sigma =
            ((94.0 * (0.010f64 - mean).powi(2) + 6.0 * (1.0f64 - mean).powi(2)) / 100.0).sqrt();
        assert!(close(b.lower, 0.010 * 1.15));
        assert!(close(b.target, (mean + sigma) * 1.15), "{b:?}");
        assert!(close(b.upper, 1.0 * 1.15), "p95 is the spike: {b:?}");
    }

    #[test]
    fn floors_keep_an_idle_container_from_a_zero_request() {
        let b = bounds(&[0.0, 0.0, 0.0], MIN_CPU_CORES).unwrap();
        assert_eq!((b.lower, b.target, b.upper), (0.010, 0.010, 0.010));
        assert_eq!(bounds(&[], MIN_CPU_CORES), None);
        assert_eq!(bounds(&[f64::NAN], MIN_CPU_CORES), None);
    }

    #[test]
    fn quantities_round_up_to_what_kubernetes_reads() {
        assert_eq!(cpu_quantity(0.0101), "15m");
        assert_eq!(cpu_quantity(0.250), "250m");
        assert_eq!(memory_quantity(40.2 * MIB), "41Mi");
        assert_eq!(memory_quantity(64.0 * MIB), "64Mi");
    }

    #[test]
    fn the_patch_sets_requests_and_the_memory_limit_of_each_deployment() {
        let r = Recommendation {
            container: "producer-svc".to_owned(),
            cpu: Bounds {
                lower: 0.02,
                target: 0.1,
                upper: 0.3,
            },
            memory: Bounds {
                lower: 30.0 * MIB,
                target: 40.0 * MIB,
                upper: 70.5 * MIB,
            },
            cpu_samples: 10,
            memory_samples: 10,
        };
        let patch = patch(
            &[
                r.clone(),
                Recommendation {
                    container: "consumer-svc".to_owned(),
                    ..r
                },
            ],
            "test",
        );
        let docs: Vec<serde_json::Value> = patch
            .split("---\n")
            .map(|d| serde_norway::from_str(d).expect("valid YAML"))
            .collect();
        assert_eq!(docs.len(), 2);
        let container = &docs[0]["spec"]["template"]["spec"]["containers"][0];
        assert_eq!(docs[0]["metadata"]["name"], "producer-svc");
        assert_eq!(container["name"], "producer-svc");
        assert_eq!(container["resources"]["requests"]["cpu"], "100m");
        assert_eq!(container["resources"]["requests"]["memory"], "40Mi");
        assert_eq!(container["resources"]["limits"]["memory"], "71Mi");
        assert!(container["resources"]["limits"].get("cpu").is_none());
        assert_eq!(docs[1]["metadata"]["name"], "consumer-svc");
    }
}
