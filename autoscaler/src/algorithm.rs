//! The HorizontalPodAutoscaler algorithm, as kube-controller-manager runs it, as a
//! deterministic function of its inputs and a small history.
//!
//! One call of [`Autoscaler::sync`] is one reconcile of the upstream controller
//! (`pkg/controller/podautoscaler/horizontal.go`):
//!
//! 1. current replicas outside `[min, max]` are brought back inside, nothing else;
//! 2. otherwise the metric gives a recommendation: for an `AverageValue` target,
//!    `ceil(total / target)`, unless `total / (target × current)` is within the 10 %
//!    tolerance of 1, in which case the recommendation is the current count;
//! 3. stabilization: the result may not go above the *lowest* recommendation of the
//!    scale-up window nor below the *highest* recommendation of the scale-down window;
//! 4. rate limits: the `behavior` policies bound the change against the replica count
//!    at the start of each policy's period (current minus the changes made within it),
//!    `selectPolicy` picks the most (`Max`) or least (`Min`) permissive one, or
//!    `Disabled` freezes that direction; then `min`/`max` apply;
//! 5. a change is remembered as a scale event for later rate limits.
//!
//! Time is a [`Duration`] since an arbitrary origin passed by the caller, so tests
//! replay the documentation's timelines exactly. Upstream compares with
//! `timestamp.After(now - window)`: an event exactly one period old no longer counts.

use std::time::Duration;

/// Upstream `--horizontal-pod-autoscaler-tolerance` default.
pub const TOLERANCE: f64 = 0.1;

/// `type` of an HPA scaling policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyType {
    /// Change by at most `value` pods per period.
    Pods,
    /// Change by at most `value` % of the replicas at the period's start.
    Percent,
}

/// One entry of `behavior.scaleUp.policies` / `behavior.scaleDown.policies`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    pub kind: PolicyType,
    pub value: u32,
    pub period: Duration,
}

/// `selectPolicy` of a scaling direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SelectPolicy {
    /// The policy allowing the largest change (upstream default).
    #[default]
    Max,
    /// The policy allowing the smallest change.
    Min,
    /// No scaling in this direction.
    Disabled,
}

/// `behavior.scaleUp` or `behavior.scaleDown`, with upstream defaults filled in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScalingRules {
    pub stabilization_window: Duration,
    pub select_policy: SelectPolicy,
    pub policies: Vec<Policy>,
}

impl ScalingRules {
    /// Upstream default for scale-up: no stabilization, +100 % or +4 pods per 15 s,
    /// whichever is larger.
    pub fn default_scale_up() -> Self {
        Self {
            stabilization_window: Duration::ZERO,
            select_policy: SelectPolicy::Max,
            policies: vec![
                Policy {
                    kind: PolicyType::Pods,
                    value: 4,
                    period: Duration::from_secs(15),
                },
                Policy {
                    kind: PolicyType::Percent,
                    value: 100,
                    period: Duration::from_secs(15),
                },
            ],
        }
    }

    /// Upstream default for scale-down: 300 s stabilization, then down to the
    /// recommendation at once (−100 % per 15 s).
    pub fn default_scale_down() -> Self {
        Self {
            stabilization_window: Duration::from_secs(300),
            select_policy: SelectPolicy::Max,
            policies: vec![Policy {
                kind: PolicyType::Percent,
                value: 100,
                period: Duration::from_secs(15),
            }],
        }
    }

    fn longest_period(&self) -> Duration {
        self.policies
            .iter()
            .map(|p| p.period)
            .max()
            .unwrap_or(Duration::ZERO)
    }
}

/// Everything of the HPA object the algorithm reads.
#[derive(Debug, Clone, PartialEq)]
pub struct HpaSpec {
    pub name: String,
    /// `Kind/name` of `scaleTargetRef`, for display.
    pub reference: String,
    pub min_replicas: u32,
    pub max_replicas: u32,
    /// `target.averageValue` of the lag metric: records of lag per replica.
    pub target_average_value: f64,
    pub scale_up: ScalingRules,
    pub scale_down: ScalingRules,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Recommendation {
    at: Duration,
    replicas: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct ScaleEvent {
    at: Duration,
    change: u32,
}

/// Why the result is what it is, in the words of the HPA's conditions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// Current replicas were outside `[min, max]` and were brought back.
    OutsideRange,
    /// No metric sample: nothing changes.
    NoMetric,
    /// Current replicas are zero with a non-zero minimum: upstream leaves it alone.
    ScalingDisabled,
    /// The recommendation passed through unchanged.
    DesiredWithinRange,
    /// Held back by a stabilization window.
    Stabilized,
    /// Bounded by a scale-up or scale-down policy.
    PolicyLimited,
    /// Bounded by `minReplicas`.
    TooFewReplicas,
    /// Bounded by `maxReplicas`.
    TooManyReplicas,
}

/// Outcome of one sync.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Decision {
    /// Recommendation from the metric alone (after tolerance), before stabilization.
    pub recommended: u32,
    /// The replica count to run now.
    pub desired: u32,
    /// Average metric per current replica (what `kubectl get hpa` shows as the value).
    pub average: Option<f64>,
    pub reason: Reason,
}

/// One HPA's controller state: its spec and the history the algorithm needs.
#[derive(Debug, Clone)]
pub struct Autoscaler {
    spec: HpaSpec,
    recommendations: Vec<Recommendation>,
    scale_up_events: Vec<ScaleEvent>,
    scale_down_events: Vec<ScaleEvent>,
}

impl Autoscaler {
    pub fn new(spec: HpaSpec) -> Self {
        Self {
            spec,
            recommendations: Vec::new(),
            scale_up_events: Vec::new(),
            scale_down_events: Vec::new(),
        }
    }

    pub fn spec(&self) -> &HpaSpec {
        &self.spec
    }

    /// One reconcile at time `now` with `current` replicas running and the summed
    /// metric `total` (e.g. the group's lag), `None` when it could not be read.
    pub fn sync(&mut self, now: Duration, current: u32, total: Option<f64>) -> Decision {
        let decision = self.decide(now, current, total);
        if decision.desired != current {
            self.store_scale_event(now, current, decision.desired);
        }
        decision
    }

    /// A sync of another controller, replayed: the algorithm decides from the same
    /// inputs, and what that controller carried out (`carried_out` replicas) enters the
    /// scale-event history, whatever the algorithm decided. So a decision that differs
    /// (a policy period that ends a few milliseconds apart) stays one difference, instead
    /// of leaving the two with different histories for every sync after it.
    pub fn sync_carried_out_as(
        &mut self,
        now: Duration,
        current: u32,
        total: Option<f64>,
        carried_out: u32,
    ) -> Decision {
        let decision = self.decide(now, current, total);
        if carried_out != current {
            self.store_scale_event(now, current, carried_out);
        }
        decision
    }

    /// A sync whose decision was not carried out: its recommendation enters the
    /// stabilization windows like any other, but no scale event is stored. The replay
    /// uses it for syncs the controller made without changing anything.
    pub fn sync_without_rescale(
        &mut self,
        now: Duration,
        current: u32,
        total: Option<f64>,
    ) -> Decision {
        self.decide(now, current, total)
    }

    fn decide(&mut self, now: Duration, current: u32, total: Option<f64>) -> Decision {
        let min = self.spec.min_replicas;
        let max = self.spec.max_replicas;
        let average = total.map(|t| if current > 0 { t / current as f64 } else { t });
        if current == 0 && min != 0 {
            Decision {
                recommended: 0,
                desired: 0,
                average,
                reason: Reason::ScalingDisabled,
            }
        } else if current > max || current < min {
            let desired = current.clamp(min, max);
            Decision {
                recommended: desired,
                desired,
                average,
                reason: Reason::OutsideRange,
            }
        } else if let Some(total) = total {
            let recommended =
                replicas_for_average_value(current, total, self.spec.target_average_value);
            let (desired, reason) = self.normalize(now, current, recommended);
            Decision {
                recommended,
                desired,
                average,
                reason,
            }
        } else {
            Decision {
                recommended: current,
                desired: current,
                average,
                reason: Reason::NoMetric,
            }
        }
    }

    /// `normalizeDesiredReplicasWithBehaviors`: stabilize, then rate-limit.
    fn normalize(&mut self, now: Duration, current: u32, recommended: u32) -> (u32, Reason) {
        let stabilized = self.stabilize(now, current, recommended);
        let (desired, mut reason) = self.limit_rate(now, current, stabilized);
        if reason == Reason::DesiredWithinRange && stabilized != recommended {
            reason = Reason::Stabilized;
        }
        (desired, reason)
    }

    /// `stabilizeRecommendationWithBehaviors`.
    fn stabilize(&mut self, now: Duration, current: u32, recommended: u32) -> u32 {
        let up_cutoff = now.checked_sub(self.spec.scale_up.stabilization_window);
        let down_cutoff = now.checked_sub(self.spec.scale_down.stabilization_window);
        let mut up = recommended;
        let mut down = recommended;
        for rec in &self.recommendations {
            if after(rec.at, up_cutoff) {
                up = up.min(rec.replicas);
            }
            if after(rec.at, down_cutoff) {
                down = down.max(rec.replicas);
            }
        }
        let stabilized = current.max(up).min(down);
        // Keep only what a window can still see, then record this (unstabilized) one.
        self.recommendations
            .retain(|r| after(r.at, up_cutoff) || after(r.at, down_cutoff));
        self.recommendations.push(Recommendation {
            at: now,
            replicas: recommended,
        });
        stabilized
    }

    /// `convertDesiredReplicasWithBehaviorRate`.
    fn limit_rate(&self, now: Duration, current: u32, desired: u32) -> (u32, Reason) {
        let min = self.spec.min_replicas;
        let max = self.spec.max_replicas;
        if desired > current {
            let limit = scale_up_limit(
                current,
                &self.scale_up_events,
                &self.scale_down_events,
                &self.spec.scale_up,
                now,
            )
            .max(current);
            let (allowed, reason) = if max > limit {
                (limit, Reason::PolicyLimited)
            } else {
                (max, Reason::TooManyReplicas)
            };
            if desired > allowed {
                return (allowed, reason);
            }
        } else if desired < current {
            let limit = scale_down_limit(
                current,
                &self.scale_up_events,
                &self.scale_down_events,
                &self.spec.scale_down,
                now,
            )
            .min(current);
            let (allowed, reason) = if min < limit {
                (limit, Reason::PolicyLimited)
            } else {
                (min, Reason::TooFewReplicas)
            };
            if desired < allowed {
                return (allowed, reason);
            }
        }
        (desired, Reason::DesiredWithinRange)
    }

    /// `storeScaleEvent`: remember the change; forget events no policy can see.
    fn store_scale_event(&mut self, now: Duration, previous: u32, new: u32) {
        let (events, rules) = if new > previous {
            (&mut self.scale_up_events, &self.spec.scale_up)
        } else {
            (&mut self.scale_down_events, &self.spec.scale_down)
        };
        let cutoff = now.checked_sub(rules.longest_period());
        events.retain(|e| after(e.at, cutoff));
        events.push(ScaleEvent {
            at: now,
            change: new.abs_diff(previous),
        });
    }
}

/// `timestamp.After(cutoff)`; no cutoff means the window reaches before time zero.
fn after(at: Duration, cutoff: Option<Duration>) -> bool {
    cutoff.is_none_or(|c| at > c)
}

/// Recommendation for an `AverageValue` target (External or Object metric): with
/// `total` summed over the pods and `current` pods, `ceil(total / target)`, unless
/// the usage ratio `total / (target × current)` is within [`TOLERANCE`] of 1.
pub fn replicas_for_average_value(current: u32, total: f64, target: f64) -> u32 {
    // Like upstream, in integer milli-units (`Quantity.MilliValue()`), so that 3 × 200m
    // over 100m is exactly 6, not ceil(6.000000000000001) = 7.
    let usage = (total.max(0.0) * 1000.0).round();
    let target = (target * 1000.0).round();
    if target <= 0.0 || !usage.is_finite() {
        return current;
    }
    let ratio = usage / (target * f64::from(current.max(1)));
    if (1.0 - ratio).abs() <= TOLERANCE {
        return current;
    }
    let wanted = (usage / target).ceil();
    if wanted >= f64::from(u32::MAX) {
        u32::MAX
    } else {
        wanted as u32
    }
}

/// Sum of the replica changes of `events` within `period` before `now`.
fn changes_in_period(events: &[ScaleEvent], period: Duration, now: Duration) -> i64 {
    let cutoff = now.checked_sub(period);
    events
        .iter()
        .filter(|e| after(e.at, cutoff))
        .map(|e| i64::from(e.change))
        .sum()
}

fn period_start_replicas(
    current: u32,
    up_events: &[ScaleEvent],
    down_events: &[ScaleEvent],
    period: Duration,
    now: Duration,
) -> i64 {
    i64::from(current) - changes_in_period(up_events, period, now)
        + changes_in_period(down_events, period, now)
}

/// `calculateScaleUpLimitWithScalingRules`.
fn scale_up_limit(
    current: u32,
    up_events: &[ScaleEvent],
    down_events: &[ScaleEvent],
    rules: &ScalingRules,
    now: Duration,
) -> u32 {
    let pick: fn(i64, i64) -> i64 = match rules.select_policy {
        SelectPolicy::Disabled => return current,
        SelectPolicy::Min => i64::min,
        SelectPolicy::Max => i64::max,
    };
    let mut result: Option<i64> = None;
    for policy in &rules.policies {
        let start = period_start_replicas(current, up_events, down_events, policy.period, now);
        let proposed = match policy.kind {
            PolicyType::Pods => start + i64::from(policy.value),
            // Rounded up, or a small percentage of few pods would never add one.
            PolicyType::Percent => {
                (start as f64 * (1.0 + f64::from(policy.value) / 100.0)).ceil() as i64
            }
        };
        result = Some(result.map_or(proposed, |r| pick(r, proposed)));
    }
    // No policy at all: upstream's fold starts from the identity and returns it, i.e.
    // no limit for Max and none for Min either.
    clamp_u32(result.unwrap_or(i64::from(u32::MAX)))
}

/// `calculateScaleDownLimitWithBehaviors`.
fn scale_down_limit(
    current: u32,
    up_events: &[ScaleEvent],
    down_events: &[ScaleEvent],
    rules: &ScalingRules,
    now: Duration,
) -> u32 {
    // For scale-down the largest change is the lowest count.
    let pick: fn(i64, i64) -> i64 = match rules.select_policy {
        SelectPolicy::Disabled => return current,
        SelectPolicy::Min => i64::max,
        SelectPolicy::Max => i64::min,
    };
    let mut result: Option<i64> = None;
    for policy in &rules.policies {
        let start = period_start_replicas(current, up_events, down_events, policy.period, now);
        let proposed = match policy.kind {
            PolicyType::Pods => start - i64::from(policy.value),
            // Truncated like upstream's int32 conversion: removes at least the percentage.
            PolicyType::Percent => (start as f64 * (1.0 - f64::from(policy.value) / 100.0)) as i64,
        };
        result = Some(result.map_or(proposed, |r| pick(r, proposed)));
    }
    clamp_u32(result.unwrap_or(0))
}

fn clamp_u32(value: i64) -> u32 {
    value.clamp(0, i64::from(u32::MAX)) as u32
}
