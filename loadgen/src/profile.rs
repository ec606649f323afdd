//! What to send and when: phases of constant rate, and the mix of requests.
//!
//! The built-in `flash-sale` profile is baseline → spike → baseline; any other shape
//! comes from a file ([`crate::profile_file`]). Requests are planned by a seeded
//! generator, so a run is reproducible from its profile and seed.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// A stretch of constant request rate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Phase {
    pub name: String,
    /// Requests per second.
    pub rate: f64,
    #[serde(with = "secs_f64")]
    pub duration: Duration,
    /// Every valid order of this phase is for the hot SKU (the sale is on). Results
    /// files written before the flag existed read as `false`.
    #[serde(default)]
    pub hot: bool,
    /// Every request of this phase opens a connection of its own and closes it after the
    /// answer: clients reconnecting all at once (devices after a network outage), where
    /// the server pays a TCP handshake per request. Older results files read as `false`.
    #[serde(default)]
    pub reconnect: bool,
}

/// The mix of requests, shared by every phase. In a profile file every field is
/// optional (missing ones take the [`Default`]) and unknown ones are refused.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Mix {
    /// The SKU on sale, with limited stock.
    pub hot_sku: String,
    /// Other SKUs ordered now and then (catalog noise).
    pub other_skus: Vec<String>,
    /// Share of valid orders for the hot SKU in phases not marked `hot` (hot phases:
    /// all of them).
    pub hot_share_baseline: f64,
    /// Distinct customers to draw from.
    pub customers: u64,
    /// Share of valid orders that carry an `Idempotency-Key`.
    pub keyed_share: f64,
    /// Share of requests that re-send an earlier keyed request unchanged (a client retry).
    pub retry_share: f64,
    /// Share of requests that are invalid on purpose (expected 4xx).
    pub invalid_share: f64,
}

impl Default for Mix {
    fn default() -> Self {
        Self {
            hot_sku: "FLASH-1".into(),
            other_skus: vec!["SKU-A".into(), "SKU-B".into()],
            hot_share_baseline: 0.5,
            customers: 100_000,
            keyed_share: 0.5,
            retry_share: 0.05,
            invalid_share: 0.02,
        }
    }
}

/// Baseline `base_rate` for `warmup`, `base_rate × multiplier` for `spike` (the hot
/// phase), baseline again for `cooldown`; every duration multiplied by `scale`.
pub fn flash_sale(
    base_rate: f64,
    multiplier: f64,
    warmup: Duration,
    spike: Duration,
    cooldown: Duration,
    scale: f64,
) -> Vec<Phase> {
    let scaled = |d: Duration| d.mul_f64(scale.max(0.0));
    vec![
        Phase {
            name: "baseline".into(),
            rate: base_rate,
            duration: scaled(warmup),
            hot: false,
            reconnect: false,
        },
        Phase {
            name: "spike".into(),
            rate: base_rate * multiplier,
            duration: scaled(spike),
            hot: true,
            reconnect: false,
        },
        Phase {
            name: "recovery".into(),
            rate: base_rate,
            duration: scaled(cooldown),
            hot: false,
            reconnect: false,
        },
    ]
}

/// When each request starts, relative to the run's start, with its phase index.
/// Open loop: the schedule never depends on responses.
pub fn schedule(phases: &[Phase]) -> Vec<(Duration, usize)> {
    let mut out = Vec::new();
    let mut phase_start = Duration::ZERO;
    for (index, phase) in phases.iter().enumerate() {
        if phase.rate > 0.0 {
            let count = (phase.rate * phase.duration.as_secs_f64()).round() as u64;
            let gap = 1.0 / phase.rate;
            for k in 0..count {
                out.push((phase_start + Duration::from_secs_f64(k as f64 * gap), index));
            }
        }
        phase_start += phase.duration;
    }
    out
}

/// Every request of a run in order: when it starts, its phase index, and what it
/// sends. A phase's `hot` flag (not its name) decides whether the planner sends every
/// valid order to the hot SKU.
pub fn plan(
    phases: &[Phase],
    mut planner: Planner,
) -> impl Iterator<Item = (Duration, usize, Planned)> + '_ {
    schedule(phases)
        .into_iter()
        .map(move |(at, index)| (at, index, planner.next(phases[index].hot)))
}

/// How a request is malformed on purpose, and the status the service must answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Invalid {
    /// Quantity 0: 422.
    ZeroQuantity,
    /// Not JSON: 400.
    MalformedJson,
    /// `text/plain` body: 415.
    WrongContentType,
}

impl Invalid {
    pub fn expected_status(self) -> u16 {
        match self {
            Invalid::ZeroQuantity => 422,
            Invalid::MalformedJson => 400,
            Invalid::WrongContentType => 415,
        }
    }
}

/// One planned request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Planned {
    pub customer_id: String,
    pub sku: String,
    pub quantity: u32,
    pub idempotency_key: Option<String>,
    /// `Some` for a deliberately invalid request.
    pub invalid: Option<Invalid>,
    /// This request repeats an earlier one (same body, same key).
    pub retry: bool,
}

/// SplitMix64: small, seedable, good enough to draw a request mix.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next_u64() % n
        }
    }
}

/// Draws requests according to a [`Mix`]. Customer ids are `c-<run tag>-<n>`, so the
/// audit can find this run's rows among others.
#[derive(Debug)]
pub struct Planner {
    mix: Mix,
    run_tag: String,
    rng: Rng,
    keyed_sent: u64,
    recent_keyed: Vec<Planned>,
}

const RECENT_KEYED: usize = 1024;

impl Planner {
    pub fn new(mix: Mix, run_tag: &str, seed: u64) -> Self {
        Self {
            mix,
            run_tag: run_tag.to_owned(),
            rng: Rng::new(seed),
            keyed_sent: 0,
            recent_keyed: Vec::new(),
        }
    }

    /// Prefix of every customer id of this run.
    pub fn customer_prefix(&self) -> String {
        customer_prefix(&self.run_tag)
    }

    /// The next request for a phase; `hot` sends every valid order to the hot SKU.
    pub fn next(&mut self, hot: bool) -> Planned {
        let draw = self.rng.unit();
        if draw < self.mix.retry_share && !self.recent_keyed.is_empty() {
            let i = self.rng.below(self.recent_keyed.len() as u64) as usize;
            let mut again = self.recent_keyed[i].clone();
            again.retry = true;
            return again;
        }
        let customer_id = format!(
            "{}{}",
            self.customer_prefix(),
            self.rng.below(self.mix.customers.max(1))
        );
        let hot =
            hot || self.mix.other_skus.is_empty() || self.rng.unit() < self.mix.hot_share_baseline;
        let sku = if hot {
            self.mix.hot_sku.clone()
        } else {
            let i = self.rng.below(self.mix.other_skus.len() as u64) as usize;
            self.mix.other_skus[i].clone()
        };
        if draw < self.mix.retry_share + self.mix.invalid_share {
            let invalid = match self.rng.below(3) {
                0 => Invalid::ZeroQuantity,
                1 => Invalid::MalformedJson,
                _ => Invalid::WrongContentType,
            };
            return Planned {
                customer_id,
                sku,
                quantity: 1,
                idempotency_key: None,
                invalid: Some(invalid),
                retry: false,
            };
        }
        let idempotency_key = (self.rng.unit() < self.mix.keyed_share).then(|| {
            self.keyed_sent += 1;
            format!("k-{}-{}", self.run_tag, self.keyed_sent)
        });
        let planned = Planned {
            customer_id,
            sku,
            quantity: 1,
            idempotency_key,
            invalid: None,
            retry: false,
        };
        if planned.idempotency_key.is_some() {
            if self.recent_keyed.len() == RECENT_KEYED {
                let i = self.rng.below(RECENT_KEYED as u64) as usize;
                self.recent_keyed[i] = planned.clone();
            } else {
                self.recent_keyed.push(planned.clone());
            }
        }
        planned
    }
}

/// `c-<run tag>-`: the prefix shared by every customer id of a run.
pub fn customer_prefix(run_tag: &str) -> String {
    format!("c-{run_tag}-")
}

mod secs_f64 {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let secs = f64::deserialize(d)?;
        Duration::try_from_secs_f64(secs).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flash_sale_is_baseline_spike_baseline_with_scaled_durations() {
        let phases = flash_sale(
            50.0,
            20.0,
            Duration::from_secs(20),
            Duration::from_secs(30),
            Duration::from_secs(40),
            0.5,
        );
        let rates: Vec<f64> = phases.iter().map(|p| p.rate).collect();
        assert_eq!(rates, vec![50.0, 1000.0, 50.0]);
        let secs: Vec<u64> = phases.iter().map(|p| p.duration.as_secs()).collect();
        assert_eq!(secs, vec![10, 15, 20]);
        let hot: Vec<bool> = phases.iter().map(|p| p.hot).collect();
        assert_eq!(hot, vec![false, true, false]);
    }

    #[test]
    fn schedule_is_evenly_spaced_and_ignores_responses() {
        let phases = flash_sale(
            10.0,
            10.0,
            Duration::from_secs(1),
            Duration::from_secs(1),
            Duration::from_secs(1),
            1.0,
        );
        let plan = schedule(&phases);
        assert_eq!(plan.len(), 10 + 100 + 10);
        assert_eq!(plan[1].0, Duration::from_millis(100));
        assert_eq!(plan[10], (Duration::from_secs(1), 1));
        assert_eq!(plan[11].0, Duration::from_millis(1010));
        assert_eq!(plan[110], (Duration::from_secs(2), 2));
        assert!(plan.windows(2).all(|w| w[0].0 <= w[1].0));
    }

    #[test]
    fn planner_mixes_retries_invalid_and_keyed_orders_in_the_asked_shares() {
        let mix = Mix {
            retry_share: 0.1,
            invalid_share: 0.05,
            keyed_share: 0.5,
            ..Mix::default()
        };
        let mut planner = Planner::new(mix, "t1", 7);
        let plans: Vec<Planned> = (0..20_000).map(|i| planner.next(i % 2 == 0)).collect();
        let share = |f: &dyn Fn(&Planned) -> bool| {
            plans.iter().filter(|p| f(p)).count() as f64 / plans.len() as f64
        };
        assert!((share(&|p| p.retry) - 0.1).abs() < 0.02);
        assert!((share(&|p| p.invalid.is_some()) - 0.05).abs() < 0.01);
        assert!(plans.iter().all(|p| p.customer_id.starts_with("c-t1-")));
        // A retry repeats an earlier keyed request exactly.
        for (i, p) in plans.iter().enumerate().filter(|(_, p)| p.retry) {
            assert!(p.idempotency_key.is_some());
            assert!(plans[..i].iter().any(|q| !q.retry
                && q.idempotency_key == p.idempotency_key
                && q.customer_id == p.customer_id
                && q.sku == p.sku));
        }
        // Hot requests (even indices) all go to the hot SKU.
        assert!(plans
            .iter()
            .step_by(2)
            .filter(|p| !p.retry)
            .all(|p| p.sku == "FLASH-1"));
    }

    #[test]
    fn the_same_seed_plans_the_same_run() {
        let mut a = Planner::new(Mix::default(), "x", 42);
        let mut b = Planner::new(Mix::default(), "x", 42);
        for _ in 0..500 {
            assert_eq!(a.next(false), b.next(false));
        }
    }

    #[test]
    fn the_hot_flag_not_the_phase_name_sends_valid_orders_to_the_hot_sku() {
        let phase = |name: &str, hot| Phase {
            name: name.into(),
            rate: 500.0,
            duration: Duration::from_secs(2),
            hot,
            reconnect: false,
        };
        // Named "spike" but not hot, then hot under another name.
        let phases = vec![phase("spike", false), phase("rush", true)];
        let mix = Mix {
            hot_share_baseline: 0.0,
            retry_share: 0.0,
            ..Mix::default()
        };
        let plans: Vec<(usize, Planned)> = plan(&phases, Planner::new(mix, "hot", 5))
            .map(|(_, index, planned)| (index, planned))
            .collect();
        let valid_skus = |index: usize| -> Vec<&str> {
            plans
                .iter()
                .filter(|(i, p)| *i == index && p.invalid.is_none())
                .map(|(_, p)| p.sku.as_str())
                .collect()
        };
        let (cold, hot) = (valid_skus(0), valid_skus(1));
        assert!(cold.len() > 900 && hot.len() > 900, "{cold:?} {hot:?}");
        assert!(hot.iter().all(|&sku| sku == "FLASH-1"), "{hot:?}");
        assert!(!cold.contains(&"FLASH-1"), "{cold:?}");
    }

    #[test]
    fn a_phase_without_the_hot_field_reads_as_not_hot() {
        let phase: Phase =
            serde_json::from_str(r#"{"name":"spike","rate":1000.0,"duration":60.0}"#).unwrap();
        assert!(!phase.hot);
    }
}
