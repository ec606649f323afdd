//! The numbers and series of one run, as pure functions of what the run left behind.
//!
//! Time is seconds since the run's start (`started_unix_ms`). Per-second series put a
//! second's value at its start (second 30 covers 30.0–31.0 s).
//!
//! Lag and replicas come from the HPA status history when there is one (it keeps
//! recording after the load stops, so the drain is visible), else from the lag and
//! replicas the run scraped each second. The lag Prometheus recorded (`lag.json`) comes
//! first when the run has it: an HPA that scales on something else (time to drain)
//! shows no lag in its status, and the same source for every run keeps them comparable.
//! The sample in force when the run started is kept, moved to t = 0.
//!
//! Two definitions the summary depends on:
//! - *drain time*: from the end of the spike until the lag is back to its pre-spike
//!   level (the largest lag seen before the spike, 0 without samples there). Offsets are
//!   committed periodically, so under baseline traffic the lag seldom reads exactly 0;
//!   "back to where it was before the sale" is the comparable moment.
//! - *scale-in time*: from the end of the spike until the replicas were last back at the
//!   lowest count seen, for good (the recording ends there or they stay).
//!
//! How early the scaling reacted is measured from the *start* of the spike (negative:
//! before it, as a sale calendar does): the first time the HPA asked for more than the
//! minimum, the first time the running replicas reached their peak ("enough
//! consumers"), and the lag's peak. Scale events count each rise and each fall of the
//! replica count the HPA asked for: more than one of each is flapping.

use crate::audit_file::LatencySummary;
use crate::profile::{self, Phase};
use crate::results::PhaseStats;

use super::run_dir::Run;

/// `(seconds since start, value)`, in time order.
pub type Points = Vec<(f64, f64)>;

/// Everything the plots draw for one run.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Series {
    /// Requests scheduled per second (open loop: the schedule is the send rate).
    pub sent: Points,
    pub accepted: Points,
    /// POST → 202 latency per second, ms; seconds without a 202 are left out.
    pub p50_ms: Points,
    pub p99_ms: Points,
    pub lag: Points,
    pub replicas_current: Points,
    pub replicas_desired: Points,
    pub processed: Points,
    /// Start of each phase, by name, and the end of the last one (`"end"`).
    pub boundaries: Vec<(f64, String)>,
}

impl Series {
    /// The latest time any series reaches, at least the end of the load.
    pub fn x_max(&self) -> f64 {
        [
            &self.sent,
            &self.accepted,
            &self.lag,
            &self.replicas_current,
            &self.replicas_desired,
            &self.processed,
        ]
        .iter()
        .filter_map(|s| s.last().map(|p| p.0 + 1.0))
        .chain(self.boundaries.last().map(|b| b.0))
        .fold(1.0, f64::max)
    }
}

/// When something happened, relative to the spike's end or start (each field says which).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Moment {
    /// This many seconds after the reference moment (negative: before it).
    After(f64),
    /// The recording ends before it happened.
    NotWithinRecording,
    /// Replicas never rose above their minimum.
    NoScaleOut,
    /// No samples to tell.
    NoData,
}

impl std::fmt::Display for Moment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Moment::After(s) => write!(f, "{s:.0} s"),
            Moment::NotWithinRecording => f.write_str("not within the recording"),
            Moment::NoScaleOut => f.write_str("never scaled out"),
            Moment::NoData => f.write_str("no data"),
        }
    }
}

/// Replicas integrated over time (a step function between samples).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ReplicaSeconds {
    pub total: f64,
    /// Only what was above the lowest replica count seen: the cost of the sale.
    pub above_min: f64,
    /// From t = 0 to the last sample.
    pub window_s: f64,
}

/// Rises and falls of a replica series.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ScaleEvents {
    pub up: u32,
    pub down: u32,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    /// The spike phase's numbers (the first `hot` phase, else the one named `spike`,
    /// else the fastest one).
    pub spike: Option<PhaseStats>,
    pub spike_start_s: f64,
    pub spike_end_s: f64,
    pub peak_accepted_per_s: u64,
    pub max_lag: Option<i64>,
    /// The lag the drain time waits for (see the module docs).
    pub lag_floor: i64,
    pub drain: Moment,
    pub peak_replicas: Option<u32>,
    pub peak_desired: Option<u32>,
    pub min_replicas: Option<u32>,
    pub scale_in: Moment,
    /// From the spike start: the HPA first asks for more than the minimum.
    pub first_scale_out: Moment,
    /// From the spike start: the running replicas first reach their peak.
    pub enough_replicas: Moment,
    /// From the spike start: the lag first reaches its maximum.
    pub lag_peak: Moment,
    /// Of the replicas the HPA asked for (the running ones without a desired series).
    pub scale_events: ScaleEvents,
    pub replica_seconds: Option<ReplicaSeconds>,
    /// Rows the audit read, and the second (since start) the last one was processed in.
    pub orders_processed: Option<u64>,
    pub last_processed_s: Option<f64>,
    pub end_to_end: Option<LatencySummary>,
    pub audit_passed: Option<bool>,
}

pub fn series(run: &Run) -> Series {
    let results = &run.results;
    let start_ms = results.started_unix_ms as f64;
    let at = |unix_ms: u128| (unix_ms as f64 - start_ms) / 1000.0;

    let mut sent = Vec::new();
    for (when, _) in profile::schedule(&results.phases) {
        let second = when.as_secs() as usize;
        if sent.len() <= second {
            sent.resize(second + 1, 0u64);
        }
        sent[second] += 1;
    }
    let per_second = |counts: &[u64]| -> Points {
        counts
            .iter()
            .enumerate()
            .map(|(t, &n)| (t as f64, n as f64))
            .collect()
    };
    let timeline = &results.timeline;
    let answered = || timeline.iter().filter(|s| s.accepted > 0);

    let (mut lag, replicas_current, replicas_desired) = if run.syncs.is_empty() {
        (
            timeline
                .iter()
                .filter_map(|s| Some((s.t as f64, s.lag? as f64)))
                .collect(),
            timeline
                .iter()
                .filter_map(|s| Some((s.t as f64, f64::from(s.replicas?))))
                .collect(),
            Vec::new(),
        )
    } else {
        let from_start = |value: &dyn Fn(&super::run_dir::Sync) -> Option<f64>| {
            from_run_start(
                run.syncs
                    .iter()
                    .filter_map(|s| Some((at(s.unix_ms), value(s)?))),
            )
        };
        (
            from_start(&|s| s.lag.map(|l| l as f64)),
            from_start(&|s| Some(f64::from(s.current))),
            from_start(&|s| Some(f64::from(s.desired))),
        )
    };

    if !run.lag.is_empty() {
        lag = from_run_start(run.lag.iter().map(|&(ms, v)| (at(ms), v as f64)));
    }

    Series {
        sent: per_second(&sent),
        accepted: timeline
            .iter()
            .map(|s| (s.t as f64, s.accepted as f64))
            .collect(),
        p50_ms: answered().map(|s| (s.t as f64, s.p50_ms)).collect(),
        p99_ms: answered().map(|s| (s.t as f64, s.p99_ms)).collect(),
        lag,
        replicas_current,
        replicas_desired,
        processed: run
            .audit
            .as_ref()
            .map(|a| per_second(&a.processed_per_second))
            .unwrap_or_default(),
        boundaries: boundaries(&results.phases),
    }
}

/// Drops samples before t = 0, except the last one, which moves to t = 0: the value in
/// force when the run started.
fn from_run_start(points: impl Iterator<Item = (f64, f64)>) -> Points {
    let mut out: Points = Vec::new();
    let mut before = None;
    for (t, v) in points {
        if t < 0.0 {
            before = Some(v);
        } else {
            if out.is_empty() && t > 0.0 {
                if let Some(v0) = before.take() {
                    out.push((0.0, v0));
                }
            }
            out.push((t, v));
        }
    }
    if out.is_empty() {
        if let Some(v0) = before {
            out.push((0.0, v0));
        }
    }
    out
}

/// Start of every phase, then the end of the last.
pub fn boundaries(phases: &[Phase]) -> Vec<(f64, String)> {
    let mut t = 0.0;
    let mut out = Vec::new();
    for phase in phases {
        out.push((t, phase.name.clone()));
        t += phase.duration.as_secs_f64();
    }
    if !phases.is_empty() {
        out.push((t, "end".to_owned()));
    }
    out
}

/// Index of the spike phase: the first phase marked `hot`, else the one named `spike`
/// (results written before phases had the flag), else the fastest.
fn spike_index(phases: &[Phase]) -> Option<usize> {
    let first_hot = phases.iter().position(|p| p.hot);
    let named = || phases.iter().position(|p| p.name == "spike");
    first_hot.or_else(named).or_else(|| {
        phases
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.rate.total_cmp(&b.1.rate))
            .map(|(i, _)| i)
    })
}

pub fn summarize(run: &Run, series: &Series) -> Summary {
    let results = &run.results;
    let phases = &results.phases;
    let spike = spike_index(phases);
    let starts: Vec<f64> = boundaries(phases).iter().map(|b| b.0).collect();
    let (spike_start_s, spike_end_s) = match spike {
        Some(i) => (starts[i], starts[i + 1]),
        None => (0.0, 0.0),
    };

    let lag_floor = series
        .lag
        .iter()
        .filter(|p| p.0 < spike_start_s)
        .map(|p| p.1 as i64)
        .max()
        .unwrap_or(0);
    let drain = if series.lag.is_empty() {
        Moment::NoData
    } else {
        series
            .lag
            .iter()
            .find(|p| p.0 >= spike_end_s && p.1 as i64 <= lag_floor)
            .map_or(Moment::NotWithinRecording, |p| {
                Moment::After(p.0 - spike_end_s)
            })
    };

    let max_of = |points: &Points| points.iter().map(|p| p.1).reduce(f64::max);
    let min_replicas = series.replicas_current.iter().map(|p| p.1).reduce(f64::min);

    let processed = run.audit.as_ref().map(|a| &a.processed_per_second);
    let asked = if series.replicas_desired.is_empty() {
        &series.replicas_current
    } else {
        &series.replicas_desired
    };
    let since_spike_start = |t: f64| Moment::After(t - spike_start_s);
    let replicas_peak = max_of(&series.replicas_current);
    let scaled_out = min_replicas
        .zip(replicas_peak)
        .is_some_and(|(lo, hi)| hi > lo);
    let when_scaled = |found: Option<f64>| match (min_replicas, scaled_out, found) {
        (None, _, _) => Moment::NoData,
        (Some(_), false, _) => Moment::NoScaleOut,
        (Some(_), true, Some(t)) => since_spike_start(t),
        (Some(_), true, None) => Moment::NotWithinRecording,
    };
    let first_scale_out =
        when_scaled(min_replicas.and_then(|lo| asked.iter().find(|p| p.1 > lo).map(|p| p.0)));
    let enough_replicas = when_scaled(replicas_peak.and_then(|hi| {
        series
            .replicas_current
            .iter()
            .find(|p| p.1 >= hi)
            .map(|p| p.0)
    }));
    let lag_peak = max_of(&series.lag)
        .and_then(|hi| series.lag.iter().find(|p| p.1 >= hi))
        .map_or(Moment::NoData, |p| since_spike_start(p.0));
    Summary {
        spike: spike.and_then(|i| results.phase_stats.get(i).cloned()),
        spike_start_s,
        spike_end_s,
        peak_accepted_per_s: results
            .timeline
            .iter()
            .map(|s| s.accepted)
            .max()
            .unwrap_or(0),
        max_lag: max_of(&series.lag).map(|v| v as i64),
        lag_floor,
        drain,
        peak_replicas: max_of(&series.replicas_current).map(|v| v as u32),
        peak_desired: max_of(&series.replicas_desired).map(|v| v as u32),
        min_replicas: min_replicas.map(|v| v as u32),
        scale_in: scale_in(&series.replicas_current, spike_end_s),
        first_scale_out,
        enough_replicas,
        lag_peak,
        scale_events: scale_events(asked),
        replica_seconds: replica_seconds(&series.replicas_current),
        orders_processed: run.audit.as_ref().map(|a| a.rows),
        last_processed_s: processed
            .and_then(|p| p.iter().rposition(|&n| n > 0))
            .map(|i| i as f64),
        end_to_end: run.audit.as_ref().and_then(|a| a.end_to_end.clone()),
        audit_passed: run.audit.as_ref().map(|a| a.passed),
    }
}

/// When the replicas were last back at their minimum, relative to `spike_end_s`.
pub fn scale_in(current: &Points, spike_end_s: f64) -> Moment {
    let Some(min) = current.iter().map(|p| p.1).reduce(f64::min) else {
        return Moment::NoData;
    };
    match current.iter().rposition(|p| p.1 > min) {
        None => Moment::NoScaleOut,
        Some(last_above) => current
            .get(last_above + 1)
            .map_or(Moment::NotWithinRecording, |p| {
                Moment::After(p.0 - spike_end_s)
            }),
    }
}

/// Each rise and each fall between consecutive samples.
pub fn scale_events(replicas: &Points) -> ScaleEvents {
    let mut events = ScaleEvents::default();
    for pair in replicas.windows(2) {
        if pair[1].1 > pair[0].1 {
            events.up += 1;
        } else if pair[1].1 < pair[0].1 {
            events.down += 1;
        }
    }
    events
}

/// Replicas × seconds from t = 0 to the last sample, each sample holding until the next.
pub fn replica_seconds(current: &Points) -> Option<ReplicaSeconds> {
    let min = current.iter().map(|p| p.1).reduce(f64::min)?;
    let (mut total, mut above_min) = (0.0, 0.0);
    for pair in current.windows(2) {
        let dt = pair[1].0 - pair[0].0.max(0.0);
        if dt > 0.0 {
            total += pair[0].1 * dt;
            above_min += (pair[0].1 - min) * dt;
        }
    }
    Some(ReplicaSeconds {
        total,
        above_min,
        window_s: current.last().map_or(0.0, |p| p.0.max(0.0)),
    })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::audit_file::{AuditFile, SaleCounts};
    use crate::report::run_dir::Sync;
    use crate::results::{RunResults, Second};

    const START: u128 = 1_700_000_000_000;

    /// baseline 2 s at 2/s, spike 3 s at 10/s, recovery 2 s at 2/s.
    fn run(syncs: Vec<Sync>) -> Run {
        let phases = profile::flash_sale(
            2.0,
            5.0,
            Duration::from_secs(2),
            Duration::from_secs(3),
            Duration::from_secs(2),
            1.0,
        );
        let timeline = (0..8u64)
            .map(|t| Second {
                t,
                accepted: if t == 7 { 0 } else { t + 1 },
                p50_ms: 2.0,
                p99_ms: 9.0,
                ..Second::default()
            })
            .collect();
        Run {
            name: "r".into(),
            results: RunResults {
                started_unix_ms: START,
                phase_stats: phases
                    .iter()
                    .map(|p| PhaseStats {
                        name: p.name.clone(),
                        target_rate: p.rate,
                        ..PhaseStats::default()
                    })
                    .collect(),
                phases,
                timeline,
                ..RunResults::default()
            },
            syncs,
            lag: Vec::new(),
            audit: None,
        }
    }

    fn sync(t_ms: i64, lag: Option<i64>, current: u32, desired: u32) -> Sync {
        Sync {
            unix_ms: (START as i64 + t_ms) as u128,
            lag,
            current,
            desired,
        }
    }

    #[test]
    fn sent_per_second_follows_the_schedule_and_phases_are_marked() {
        let s = series(&run(Vec::new()));
        let sent: Vec<f64> = s.sent.iter().map(|p| p.1).collect();
        assert_eq!(sent, vec![2.0, 2.0, 10.0, 10.0, 10.0, 2.0, 2.0]);
        assert_eq!(
            s.boundaries,
            vec![
                (0.0, "baseline".to_owned()),
                (2.0, "spike".to_owned()),
                (5.0, "recovery".to_owned()),
                (7.0, "end".to_owned())
            ]
        );
        // Second 7 had no 202: no latency point for it.
        assert_eq!(s.p99_ms.len(), 7);
        assert_eq!(s.accepted.len(), 8);
    }

    #[test]
    fn hpa_status_samples_are_placed_relative_to_the_start_and_the_one_in_force_kept() {
        let r = run(vec![
            sync(-3000, Some(9), 1, 1),
            sync(-1000, Some(7), 1, 1),
            sync(1000, Some(10), 1, 3),
            sync(2500, None, 3, 3),
        ]);
        let s = series(&r);
        assert_eq!(s.lag, vec![(0.0, 7.0), (1.0, 10.0)]);
        assert_eq!(s.replicas_current, vec![(0.0, 1.0), (1.0, 1.0), (2.5, 3.0)]);
        assert_eq!(s.replicas_desired, vec![(0.0, 1.0), (1.0, 3.0), (2.5, 3.0)]);
    }

    #[test]
    fn the_lag_prometheus_recorded_comes_before_the_hpa_status() {
        let mut r = run(vec![sync(-1000, Some(7), 1, 1), sync(1000, Some(10), 1, 3)]);
        r.lag = vec![(START - 2000, 3), (START + 500, 30), (START + 2500, 60)];
        let s = series(&r);
        assert_eq!(s.lag, vec![(0.0, 3.0), (0.5, 30.0), (2.5, 60.0)]);
        assert_eq!(s.replicas_desired, vec![(0.0, 1.0), (1.0, 3.0)]);
    }

    #[test]
    fn without_an_hpa_history_the_scraped_seconds_are_used() {
        let mut r = run(Vec::new());
        r.results.timeline[1].lag = Some(40);
        r.results.timeline[1].replicas = Some(2);
        let s = series(&r);
        assert_eq!(s.lag, vec![(1.0, 40.0)]);
        assert_eq!(s.replicas_current, vec![(1.0, 2.0)]);
        assert!(s.replicas_desired.is_empty());
    }

    #[test]
    fn drain_time_runs_from_the_spike_end_to_the_pre_spike_lag() {
        // Spike ends at 5 s. Pre-spike lag peaks at 20.
        let r = run(vec![
            sync(0, Some(5), 1, 1),
            sync(1000, Some(20), 1, 1),
            sync(3000, Some(900), 1, 4),
            sync(5000, Some(1500), 4, 4),
            sync(8000, Some(300), 4, 4),
            sync(11000, Some(15), 4, 1),
            sync(14000, Some(0), 1, 1),
        ]);
        let s = series(&r);
        let summary = summarize(&r, &s);
        assert_eq!(summary.lag_floor, 20);
        assert_eq!(summary.drain, Moment::After(6.0));
        assert_eq!(summary.max_lag, Some(1500));
        assert_eq!(summary.peak_replicas, Some(4));
        assert_eq!(summary.min_replicas, Some(1));
        assert_eq!(summary.scale_in, Moment::After(9.0));
        // Spike starts at 2 s; desired rose to 4 at 3 s, current reached 4 at 5 s, and
        // the lag peaked at 5 s.
        assert_eq!(summary.first_scale_out, Moment::After(1.0));
        assert_eq!(summary.enough_replicas, Moment::After(3.0));
        assert_eq!(summary.lag_peak, Moment::After(3.0));
        assert_eq!(summary.scale_events, ScaleEvents { up: 1, down: 1 });
        assert_eq!((summary.spike_start_s, summary.spike_end_s), (2.0, 5.0));
        assert_eq!(summary.peak_accepted_per_s, 7);
        assert_eq!(
            summary.spike.as_ref().map(|p| p.name.as_str()),
            Some("spike")
        );
    }

    #[test]
    fn a_lag_that_never_comes_back_is_not_drained_and_no_samples_is_no_data() {
        let r = run(vec![sync(0, Some(0), 1, 1), sync(6000, Some(50), 2, 2)]);
        let summary = summarize(&r, &series(&r));
        assert_eq!(summary.drain, Moment::NotWithinRecording);
        assert_eq!(summary.scale_in, Moment::NotWithinRecording);
        let r = run(Vec::new());
        let summary = summarize(&r, &series(&r));
        assert_eq!(summary.drain, Moment::NoData);
        assert_eq!(summary.scale_in, Moment::NoData);
        assert_eq!(summary.replica_seconds, None);
    }

    #[test]
    fn replicas_that_never_rose_did_not_scale_out() {
        let points = vec![(0.0, 2.0), (5.0, 2.0)];
        assert_eq!(scale_in(&points, 3.0), Moment::NoScaleOut);
        let r = run(vec![sync(0, Some(0), 2, 2), sync(6000, Some(50), 2, 2)]);
        let summary = summarize(&r, &series(&r));
        assert_eq!(summary.first_scale_out, Moment::NoScaleOut);
        assert_eq!(summary.enough_replicas, Moment::NoScaleOut);
        assert_eq!(summary.scale_events, ScaleEvents::default());
    }

    #[test]
    fn a_scale_out_before_the_spike_reads_as_negative_and_flapping_is_counted() {
        // A sale calendar asks for 4 a second before the spike (at 2 s); the HPA then
        // drops to 2, rises to 4 again and comes back to 1.
        let r = run(vec![
            sync(0, Some(0), 1, 1),
            sync(1000, Some(0), 1, 4),
            sync(1500, Some(0), 4, 4),
            sync(3000, Some(400), 4, 2),
            sync(4000, Some(900), 2, 4),
            sync(6000, Some(10), 4, 1),
            sync(8000, Some(0), 1, 1),
        ]);
        let summary = summarize(&r, &series(&r));
        assert_eq!(summary.first_scale_out, Moment::After(-1.0));
        assert_eq!(summary.enough_replicas, Moment::After(-0.5));
        assert_eq!(summary.lag_peak, Moment::After(2.0));
        assert_eq!(summary.scale_events, ScaleEvents { up: 2, down: 2 });
        assert_eq!(Moment::After(-1.0).to_string(), "-1 s");
    }

    #[test]
    fn scale_in_counts_the_last_return_to_the_minimum() {
        let points = vec![(0.0, 1.0), (2.0, 3.0), (6.0, 1.0), (8.0, 2.0), (10.0, 1.0)];
        assert_eq!(scale_in(&points, 5.0), Moment::After(5.0));
    }

    #[test]
    fn replica_seconds_integrate_the_step_function() {
        // 1 replica for 2 s, 3 for 4 s, 1 for 2 s: 2 + 12 + 2 = 16; above 1: 8.
        let points = vec![(0.0, 1.0), (2.0, 3.0), (6.0, 1.0), (8.0, 1.0)];
        assert_eq!(
            replica_seconds(&points),
            Some(ReplicaSeconds {
                total: 16.0,
                above_min: 8.0,
                window_s: 8.0
            })
        );
        assert_eq!(replica_seconds(&Vec::new()), None);
    }

    #[test]
    fn audit_numbers_and_processed_orders_come_from_the_audit_file() {
        let mut r = run(Vec::new());
        r.audit = Some(AuditFile {
            passed: true,
            checks: Vec::new(),
            sale: SaleCounts {
                sku: "FLASH-1".into(),
                stock: 1,
                remaining: Some(0),
                confirmed: 1,
                rejected: 0,
            },
            rows: 6,
            started_unix_ms: START,
            processed_per_second: vec![1, 0, 4, 1, 0],
            end_to_end: None,
        });
        let s = series(&r);
        assert_eq!(s.processed[2], (2.0, 4.0));
        let summary = summarize(&r, &s);
        assert_eq!(summary.orders_processed, Some(6));
        assert_eq!(summary.last_processed_s, Some(3.0));
        assert_eq!(summary.audit_passed, Some(true));
    }

    #[test]
    fn moments_read_as_words() {
        assert_eq!(Moment::After(12.4).to_string(), "12 s");
        assert_eq!(
            Moment::NotWithinRecording.to_string(),
            "not within the recording"
        );
    }

    #[test]
    fn the_spike_is_the_first_hot_phase_else_the_one_named_spike_else_the_fastest() {
        let phase = |name: &str, rate: f64, hot: bool| Phase {
            name: name.into(),
            rate,
            duration: Duration::from_secs(1),
            hot,
            reconnect: false,
        };
        let two_spikes = [
            phase("baseline", 50.0, false),
            phase("spike", 2000.0, false),
            phase("rush-1", 1000.0, true),
            phase("rush-2", 1000.0, true),
        ];
        assert_eq!(spike_index(&two_spikes), Some(2));
        let before_the_flag = [phase("baseline", 50.0, false), phase("spike", 10.0, false)];
        assert_eq!(spike_index(&before_the_flag), Some(1));
        let unnamed = [phase("a", 50.0, false), phase("b", 900.0, false)];
        assert_eq!(spike_index(&unnamed), Some(1));
    }
}
