//! The HPA algorithm against the numbers of the Kubernetes documentation
//! ("Horizontal Pod Autoscaling": algorithm details, scaling policies, stabilization
//! window, default behavior, and the behavior examples), against the comments of the
//! shipped manifest, and under random inputs.

use std::time::Duration;

use autoscaler::algorithm::{
    replicas_for_average_value, Autoscaler, HpaSpec, Policy, PolicyType, Reason, ScalingRules,
    SelectPolicy,
};
use proptest::prelude::*;

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn policy(kind: PolicyType, value: u32, period: u64) -> Policy {
    Policy {
        kind,
        value,
        period: secs(period),
    }
}

fn spec(min: u32, max: u32, target: f64) -> HpaSpec {
    HpaSpec {
        name: "test".into(),
        reference: "Deployment/test".into(),
        min_replicas: min,
        max_replicas: max,
        target_average_value: target,
        scale_up: ScalingRules::default_scale_up(),
        scale_down: ScalingRules::default_scale_down(),
    }
}

/// Runs syncs every `period` seconds from t=0, applying each decision, with a metric
/// total given per step; returns the replica count after each sync.
fn replay(hpa: &mut Autoscaler, start: u32, period: u64, totals: &[f64]) -> Vec<u32> {
    let mut current = start;
    totals
        .iter()
        .enumerate()
        .map(|(i, &total)| {
            current = hpa
                .sync(secs(i as u64 * period), current, Some(total))
                .desired;
            current
        })
        .collect()
}

// --- Algorithm details ----------------------------------------------------------------

#[test]
fn doubles_when_the_metric_is_twice_the_target() {
    // "if the current metric value is 200m, and the desired value is 100m, the number of
    // replicas will be doubled"; one replica reporting 200m against 100m gives 2.
    assert_eq!(replicas_for_average_value(1, 0.2, 0.1), 2);
    assert_eq!(replicas_for_average_value(3, 3.0 * 0.2, 0.1), 6);
}

#[test]
fn halves_when_the_metric_is_half_the_target() {
    // "if the current value is instead 50m, you'll halve the number of replicas".
    assert_eq!(replicas_for_average_value(4, 4.0 * 0.05, 0.1), 2);
}

#[test]
fn skips_scaling_within_the_ten_percent_tolerance() {
    // "If the ratio is sufficiently close to 1.0 (within a globally-configurable
    // tolerance, 0.1 by default), the control plane skips any scaling action."
    assert_eq!(replicas_for_average_value(10, 10.0 * 109.0, 100.0), 10);
    assert_eq!(replicas_for_average_value(10, 10.0 * 91.0, 100.0), 10);
    assert_eq!(replicas_for_average_value(10, 10.0 * 111.0, 100.0), 12);
    assert_eq!(replicas_for_average_value(10, 10.0 * 89.0, 100.0), 9);
}

#[test]
fn average_value_target_divides_the_total_by_the_target() {
    // The shipped manifest's comment: 30000 records behind, target 1000 → 30 pods.
    assert_eq!(replicas_for_average_value(2, 30_000.0, 1000.0), 30);
    assert_eq!(replicas_for_average_value(2, 0.0, 1000.0), 0);
}

#[test]
fn current_replicas_outside_min_max_are_brought_back_first() {
    let mut hpa = Autoscaler::new(spec(2, 5, 100.0));
    let above = hpa.sync(secs(0), 9, Some(0.0));
    assert_eq!((above.desired, above.reason), (5, Reason::OutsideRange));
    let below = hpa.sync(secs(15), 1, Some(1e9));
    assert_eq!((below.desired, below.reason), (2, Reason::OutsideRange));
}

#[test]
fn a_missing_metric_changes_nothing() {
    let mut hpa = Autoscaler::new(spec(1, 5, 100.0));
    let decision = hpa.sync(secs(0), 3, None);
    assert_eq!((decision.desired, decision.reason), (3, Reason::NoMetric));
}

#[test]
fn zero_replicas_with_a_non_zero_minimum_disables_scaling() {
    let mut hpa = Autoscaler::new(spec(1, 5, 100.0));
    assert_eq!(
        hpa.sync(secs(0), 0, Some(1e6)).reason,
        Reason::ScalingDisabled
    );
}

// --- Scaling policies -----------------------------------------------------------------

#[test]
fn default_scale_up_adds_four_pods_or_doubles_per_15_seconds_whichever_is_more() {
    // Default behavior: "scaleUp: policies: Percent 100 / 15 s, Pods 4 / 15 s,
    // selectPolicy: Max".
    let mut hpa = Autoscaler::new(spec(1, 100, 1.0));
    let steps = replay(&mut hpa, 1, 15, &[1e6; 5]);
    // 1 → 1+4=5 (more than 2) → 5+4=9 < 10 → 20 → 40 → 80.
    assert_eq!(steps, vec![5, 10, 20, 40, 80]);
}

#[test]
fn scale_up_within_a_period_counts_the_changes_already_made() {
    let mut hpa = Autoscaler::new(spec(1, 100, 1.0));
    assert_eq!(hpa.sync(secs(0), 1, Some(1e6)).desired, 5);
    // 5 s later the period began at 1 replica: the limit is still 5.
    let held = hpa.sync(secs(5), 5, Some(1e6));
    assert_eq!((held.desired, held.reason), (5, Reason::PolicyLimited));
    // An event exactly one period old no longer counts (upstream `After(cutoff)`).
    assert_eq!(hpa.sync(secs(15), 5, Some(1e6)).desired, 10);
}

#[test]
fn documented_scale_down_by_four_pods_or_ten_percent_per_minute() {
    // "For instance if there are 80 replicas and the target has to be scaled down to 10
    // replicas then during the first step 8 replicas will be reduced. In the next
    // iteration when the number of replicas is 72, 10% of the pods is 7.2 but the number
    // is rounded up to 8. [...] When the number of replicas falls below 40 the first
    // policy (Pods) is applied and 4 replicas will be reduced at a time."
    let mut s = spec(1, 100, 1.0);
    s.scale_down = ScalingRules {
        stabilization_window: Duration::ZERO,
        select_policy: SelectPolicy::Max,
        policies: vec![
            policy(PolicyType::Pods, 4, 60),
            policy(PolicyType::Percent, 10, 60),
        ],
    };
    let mut hpa = Autoscaler::new(s);
    let steps = replay(&mut hpa, 80, 60, &[10.0; 16]);
    assert_eq!(&steps[..2], &[72, 64]);
    let below_40: Vec<_> = steps
        .windows(2)
        .filter(|w| w[0] <= 40 && w[1] > 10)
        .map(|w| w[0] - w[1])
        .collect();
    assert!(!below_40.is_empty());
    assert!(below_40.iter().all(|&d| d == 4), "steps {steps:?}");
    assert_eq!(*steps.last().unwrap(), 10);
}

#[test]
fn scale_down_waits_for_the_policy_period_before_the_next_step() {
    let mut s = spec(1, 100, 1.0);
    s.scale_down = ScalingRules {
        stabilization_window: Duration::ZERO,
        select_policy: SelectPolicy::Max,
        policies: vec![policy(PolicyType::Percent, 10, 60)],
    };
    let mut hpa = Autoscaler::new(s);
    // "scale down 10% per 60 s": 100 → 90, held for the rest of the minute, → 81.
    assert_eq!(hpa.sync(secs(0), 100, Some(1.0)).desired, 90);
    assert_eq!(hpa.sync(secs(15), 90, Some(1.0)).desired, 90);
    assert_eq!(hpa.sync(secs(45), 90, Some(1.0)).desired, 90);
    assert_eq!(hpa.sync(secs(60), 90, Some(1.0)).desired, 81);
}

#[test]
fn select_policy_min_takes_the_smallest_change() {
    // Docs: "no more than 5 Pods are removed per minute": Percent 10 + Pods 5 with
    // selectPolicy Min.
    let mut s = spec(1, 100, 1.0);
    s.scale_down = ScalingRules {
        stabilization_window: Duration::ZERO,
        select_policy: SelectPolicy::Min,
        policies: vec![
            policy(PolicyType::Percent, 10, 60),
            policy(PolicyType::Pods, 5, 60),
        ],
    };
    let mut hpa = Autoscaler::new(s.clone());
    assert_eq!(hpa.sync(secs(0), 100, Some(1.0)).desired, 95);
    let mut hpa = Autoscaler::new(s);
    assert_eq!(hpa.sync(secs(0), 20, Some(1.0)).desired, 18);
}

#[test]
fn select_policy_disabled_freezes_that_direction() {
    // Docs: "Example: disable scale down".
    let mut s = spec(1, 100, 1.0);
    s.scale_down.select_policy = SelectPolicy::Disabled;
    s.scale_down.stabilization_window = Duration::ZERO;
    let mut hpa = Autoscaler::new(s);
    assert_eq!(replay(&mut hpa, 10, 15, &[1.0; 4]), vec![10; 4]);
    // Scale-up still works.
    assert_eq!(hpa.sync(secs(60), 10, Some(20.0)).desired, 20);
}

// --- Stabilization --------------------------------------------------------------------

#[test]
fn default_scale_down_waits_300_seconds_then_goes_all_the_way() {
    // Default behavior: 300 s scale-down stabilization window, then 100 % per 15 s.
    let mut hpa = Autoscaler::new(spec(1, 20, 100.0));
    assert_eq!(hpa.sync(secs(0), 10, Some(1000.0)).desired, 10);
    // Load gone: every later recommendation is 1, but 10 was recommended at t=0.
    for t in (15..300).step_by(15) {
        let decision = hpa.sync(secs(t), 10, Some(0.0));
        assert_eq!(decision.recommended, 0);
        assert_eq!(
            (decision.desired, decision.reason),
            (10, Reason::Stabilized),
            "t={t}"
        );
    }
    assert_eq!(hpa.sync(secs(300), 10, Some(0.0)).desired, 1);
}

#[test]
fn scale_down_follows_the_highest_recommendation_in_the_window() {
    let mut hpa = Autoscaler::new(spec(1, 20, 100.0));
    // 10 at t=0, 6 at t=100, then nothing: 6 holds until t=400, not only until t=300.
    hpa.sync(secs(0), 10, Some(1000.0));
    assert_eq!(hpa.sync(secs(100), 10, Some(600.0)).desired, 10);
    assert_eq!(hpa.sync(secs(300), 10, Some(0.0)).desired, 6);
    assert_eq!(hpa.sync(secs(385), 6, Some(0.0)).desired, 6);
    assert_eq!(hpa.sync(secs(400), 6, Some(0.0)).desired, 1);
}

#[test]
fn scale_up_stabilization_takes_the_lowest_recommendation_in_the_window() {
    let mut s = spec(1, 20, 100.0);
    s.scale_up.stabilization_window = secs(60);
    let mut hpa = Autoscaler::new(s);
    assert_eq!(hpa.sync(secs(0), 2, Some(200.0)).desired, 2);
    // A spike: 8 recommended, but 2 was recommended within the last 60 s.
    assert_eq!(hpa.sync(secs(30), 2, Some(800.0)).desired, 2);
    assert_eq!(hpa.sync(secs(45), 2, Some(800.0)).desired, 2);
    // t=60: the 2 from t=0 left the window; the lowest left is 8 (capped by +4 pods).
    assert_eq!(hpa.sync(secs(60), 2, Some(800.0)).desired, 6);
}

// --- The shipped manifest and our additions ----------------------------------------------

fn shipped() -> HpaSpec {
    autoscaler::hpa_spec::parse(
        include_str!("../../k8s/base/consumer-svc/hpa.yaml"),
        Some("consumer-svc"),
    )
    .expect("shipped HPA parses")
}

#[test]
fn shipped_manifest_goes_from_2_to_6_to_12_within_30_seconds() {
    // As its comment promises: "From 2 pods: 2 -> 6 -> 12 within 30 s".
    let mut hpa = Autoscaler::new(shipped());
    assert_eq!(replay(&mut hpa, 2, 15, &[30_000.0; 3]), vec![6, 12, 12]);
}

#[test]
fn shipped_manifest_scales_in_gently_after_five_minutes() {
    let mut hpa = Autoscaler::new(shipped());
    assert_eq!(hpa.sync(secs(0), 12, Some(30_000.0)).desired, 12);
    assert_eq!(hpa.sync(secs(285), 12, Some(0.0)).desired, 12);
    // Pods 2 or Percent 25 per 60 s, selectPolicy Min: −2 per minute from 12.
    let mut current = 12;
    let mut seen = vec![];
    for minute in 0..6 {
        current = hpa
            .sync(secs(300 + 60 * minute), current, Some(0.0))
            .desired;
        seen.push(current);
    }
    assert_eq!(seen, vec![10, 8, 6, 4, 3, 2]);
}

#[test]
fn replicas_never_exceed_max_replicas() {
    let mut hpa = Autoscaler::new(spec(1, 4, 1.0));
    let d = hpa.sync(secs(0), 1, Some(1e9));
    assert_eq!((d.desired, d.reason), (4, Reason::TooManyReplicas));
}

// --- Properties -----------------------------------------------------------------------

fn arb_rules() -> impl Strategy<Value = ScalingRules> {
    let policy = (prop::bool::ANY, 1u32..200, 1u64..120).prop_map(|(pods, value, period)| Policy {
        kind: if pods {
            PolicyType::Pods
        } else {
            PolicyType::Percent
        },
        value,
        period: secs(period),
    });
    (
        0u64..400,
        prop_oneof![
            Just(SelectPolicy::Max),
            Just(SelectPolicy::Min),
            Just(SelectPolicy::Disabled)
        ],
        prop::collection::vec(policy, 0..4),
    )
        .prop_map(|(window, select_policy, policies)| ScalingRules {
            stabilization_window: secs(window),
            select_policy,
            policies,
        })
}

fn arb_case() -> impl Strategy<Value = (HpaSpec, u32, Vec<(u64, Option<f64>)>)> {
    (1u32..6, 0u32..20, arb_rules(), arb_rules()).prop_flat_map(|(min, extra, up, down)| {
        let spec = HpaSpec {
            name: "p".into(),
            reference: "Deployment/p".into(),
            min_replicas: min,
            max_replicas: min + extra,
            target_average_value: 100.0,
            scale_up: up,
            scale_down: down,
        };
        (
            Just(spec),
            1u32..40,
            prop::collection::vec((1u64..90, prop::option::weighted(0.9, 0.0f64..1e6)), 1..40),
        )
    })
}

proptest! {
    #[test]
    fn stays_within_min_and_max(case in arb_case()) {
        let (spec, start, steps) = case;
        let min = spec.min_replicas;
        let max = spec.max_replicas;
        let mut hpa = Autoscaler::new(spec);
        let mut now = Duration::ZERO;
        let mut current = start;
        for (dt, total) in steps {
            now += secs(dt);
            current = hpa.sync(now, current, total).desired;
            prop_assert!(current >= min, "{} below min {}", current, min);
            prop_assert!(current <= max, "{} above max {}", current, max);
        }
    }
}
