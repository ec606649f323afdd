//! The cross-check: the [`algorithm`](crate::algorithm) replayed on what the real
//! HPA controller saw, compared with what it chose.
//!
//! Each distinct status in the history is one controller sync: the metric and the
//! replica count it read, and the count it decided. The algorithm is fed the same
//! inputs at the same times and its decision is compared with the controller's. Its
//! stabilization windows hold its own recommendations (the same as the controller's:
//! they depend only on the inputs); its scale-event history holds the controller's
//! rescales, because those are what happened, so one differing sync does not set the
//! two apart for the syncs after it.
//!
//! The recorder watches the HPA, so a visible sync's time is when the controller wrote
//! its status, shortly after the controller's own clock reading. Two things still make
//! the comparison approximate:
//! - a sync whose inputs and result equal the previous one leaves no trace in the
//!   status, yet the controller records its recommendation for the stabilization
//!   window. While the status stays steady, the replay adds such a sync every
//!   period after the last visible one (the controller's real interval is the period
//!   plus the sync's own work, so the replay's unseen syncs run a little early, never
//!   across a window's edge: a window of n periods still just misses a sync n syncs back);
//! - the gap between the controller's clock reading and the watch's delivery varies (by
//!   about a tenth of a second on a loaded machine), so a stabilization window or a
//!   policy period whose edge falls within it ends at this sync for one and at the
//!   next for the other. The replay decides such a sync again [`CLOCK_GAP`] earlier and
//!   later from the same state; if either gives the controller's count, the sync agrees
//!   "at a window's edge".
//!
//! A decision that agrees neither way still counts as agreeing when the algorithm
//! reached the same count at a sync within one sync period of it (an unseen sync the
//! replay placed a little early). At an unseen sync the controller changed nothing, so
//! the algorithm's decision there is compared but never carried out.

use std::fmt;
use std::time::Duration;

use crate::algorithm::{Autoscaler, HpaSpec};
use crate::history::StatusRecord;

/// How far a record's time may be from the controller's own clock reading at that sync:
/// the controller reads its clock when it decides, then calls the API server (the scale
/// subresource, the status), and the watch delivers the status after that. On the
/// 2-core machine the recorded gaps between syncs vary by about a tenth of a second.
pub const CLOCK_GAP: Duration = Duration::from_millis(250);

/// How the algorithm's decision relates to the controller's at one sync.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Agreement {
    /// The same count at the same sync.
    Exact,
    /// The same count at the same sync, decided [`CLOCK_GAP`] earlier or later: a
    /// window's or policy period's edge fell between the controller's clock reading
    /// and the time the watch delivered its status.
    AtAnEdge,
    /// The same count at a sync within one period of this one.
    WithinOneSync,
    /// No sync within one period reached the controller's count.
    Differs,
}

/// One sync of the controller (every visible one, and an unseen one where the
/// algorithm would have changed the count), side by side with the algorithm.
#[derive(Debug, Clone, PartialEq)]
pub struct ComparedSync {
    /// Since the first record.
    pub at: Duration,
    pub metric_average: Option<f64>,
    pub current: u32,
    pub controller: u32,
    pub algorithm: u32,
    pub agreement: Agreement,
}

/// The whole comparison.
#[derive(Debug, Clone, PartialEq)]
pub struct Replay {
    pub hpa: String,
    pub sync_period: Duration,
    pub syncs: Vec<ComparedSync>,
}

impl Replay {
    pub fn count(&self, agreement: Agreement) -> usize {
        self.syncs
            .iter()
            .filter(|s| s.agreement == agreement)
            .count()
    }

    /// True when every decision of the controller was matched within one sync period.
    pub fn agrees(&self) -> bool {
        self.count(Agreement::Differs) == 0
    }

    /// How many syncs changed the replica count, per direction (up, down).
    pub fn rescales(&self) -> (usize, usize) {
        let up = self.syncs.iter().filter(|s| s.controller > s.current);
        let down = self.syncs.iter().filter(|s| s.controller < s.current);
        (up.count(), down.count())
    }
}

#[derive(Debug, Clone)]
struct Sync {
    at: Duration,
    record: StatusRecord,
    visible: bool,
}

/// Replays `history` (oldest first) through the algorithm with `spec`, the HPA as it
/// was applied, assuming the controller synced every `sync_period`.
pub fn replay(spec: &HpaSpec, history: &[StatusRecord], sync_period: Duration) -> Replay {
    let syncs = syncs_of(history, sync_period);
    let mut autoscaler = Autoscaler::new(spec.clone());
    let decided: Vec<(u32, bool)> = syncs
        .iter()
        .map(|sync| {
            let (at, current, total) = (
                sync.at,
                sync.record.current_replicas,
                sync.record.metric_total(),
            );
            let before = autoscaler.clone();
            let decision = if sync.visible {
                // What the controller did is what happened: its rescale, not the
                // algorithm's, enters the policies' history.
                autoscaler.sync_carried_out_as(at, current, total, sync.record.desired_replicas)
            } else {
                // The controller left the scale as it was at this sync.
                autoscaler.sync_without_rescale(at, current, total)
            };
            let controller = sync.record.desired_replicas;
            // Decided at the same sync a moment earlier or later, from the same state.
            let at_an_edge = decision.desired != controller
                && [at + CLOCK_GAP, at.saturating_sub(CLOCK_GAP)]
                    .into_iter()
                    .any(|shifted| {
                        before
                            .clone()
                            .sync_without_rescale(shifted, current, total)
                            .desired
                            == controller
                    });
            (decision.desired, at_an_edge)
        })
        .collect();
    let compared = syncs
        .iter()
        .zip(&decided)
        .filter_map(|(sync, &(algorithm, at_an_edge))| {
            let controller = sync.record.desired_replicas;
            let agreement = if algorithm == controller {
                Agreement::Exact
            } else if at_an_edge {
                Agreement::AtAnEdge
            } else if syncs.iter().zip(&decided).any(|(other, &(d, _))| {
                d == controller && other.at.abs_diff(sync.at) <= sync_period
            }) {
                Agreement::WithinOneSync
            } else {
                Agreement::Differs
            };
            // An unseen sync is listed only when the algorithm would have acted there.
            (sync.visible || agreement != Agreement::Exact).then_some(ComparedSync {
                at: sync.at,
                metric_average: sync.record.metric_average,
                current: sync.record.current_replicas,
                controller,
                algorithm,
                agreement,
            })
        })
        .collect();
    Replay {
        hpa: spec.name.clone(),
        sync_period,
        syncs: compared,
    }
}

/// The controller's syncs: each change of status, plus, while a steady status
/// (desired = current) lasts, one unseen sync per period after it.
fn syncs_of(history: &[StatusRecord], period: Duration) -> Vec<Sync> {
    let Some(first) = history.first() else {
        return Vec::new();
    };
    let since_first =
        |r: &StatusRecord| Duration::from_millis(r.unix_ms.saturating_sub(first.unix_ms));
    let mut visible: Vec<(Duration, &StatusRecord)> = Vec::new();
    for record in history {
        if visible
            .last()
            .is_none_or(|(_, last)| !record.same_sync_as(last))
        {
            visible.push((since_first(record), record));
        }
    }
    let end = history.last().map(since_first).unwrap_or_default();
    let mut out = Vec::new();
    for (index, &(at, record)) in visible.iter().enumerate() {
        out.push(Sync {
            at,
            record: record.clone(),
            visible: true,
        });
        // A sync that rescaled is followed by a visible one (currentReplicas changes).
        if record.desired_replicas != record.current_replicas || period.is_zero() {
            continue;
        }
        let next = visible.get(index + 1).map_or(end, |(t, _)| *t);
        let mut unseen = at + period;
        while unseen + period / 2 < next {
            out.push(Sync {
                at: unseen,
                record: record.clone(),
                visible: false,
            });
            unseen += period;
        }
    }
    out
}

impl fmt::Display for Replay {
    /// A table of the controller's syncs beside the algorithm's decisions, and a verdict.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{:>7}  {:>10}  {:>7}  {:>10}  {:>9}  agreement",
            "t (s)", "metric/pod", "current", "controller", "algorithm"
        )?;
        for s in &self.syncs {
            let metric = s
                .metric_average
                .map_or_else(|| "<unknown>".to_owned(), |m| format!("{m:.0}"));
            let agreement = match s.agreement {
                Agreement::Exact => "same",
                Agreement::AtAnEdge => "same 0.25 s apart (a window's edge)",
                Agreement::WithinOneSync => "same within one sync",
                Agreement::Differs => "DIFFERS",
            };
            writeln!(
                f,
                "{:>7.1}  {:>10}  {:>7}  {:>10}  {:>9}  {agreement}",
                s.at.as_secs_f64(),
                metric,
                s.current,
                s.controller,
                s.algorithm
            )?;
        }
        let (up, down) = self.rescales();
        write!(
            f,
            "HPA {}: {} controller syncs ({up} scale-ups, {down} scale-downs): {} same, {} same at a window's edge, {} same within one sync period ({} s), {} differ",
            self.hpa,
            self.syncs.len(),
            self.count(Agreement::Exact),
            self.count(Agreement::AtAnEdge),
            self.count(Agreement::WithinOneSync),
            self.sync_period.as_secs_f64(),
            self.count(Agreement::Differs),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hpa_spec;

    const SHIPPED: &str = include_str!("../../k8s/base/consumer-svc/hpa.yaml");

    fn record(unix_ms: u64, lag: f64, current: u32, desired: u32) -> StatusRecord {
        StatusRecord {
            unix_ms,
            metric_average: Some(lag / f64::from(current.max(1))),
            current_replicas: current,
            desired_replicas: desired,
            min_replicas: 2,
            max_replicas: 12,
            last_scale_time: None,
            conditions: Vec::new(),
        }
    }

    /// A controller that is the algorithm itself on a lag series, syncing every 15 s plus
    /// 30 ms of its own work, and writing its status only when it changed; the
    /// recorder's watch delivers each write 4 ms after the sync.
    fn recorded_by_the_algorithm(spec: &HpaSpec, lag: impl Fn(u64) -> f64) -> Vec<StatusRecord> {
        let mut controller = Autoscaler::new(spec.clone());
        let mut current = 2;
        let mut history: Vec<StatusRecord> = Vec::new();
        for sync in 0..60u64 {
            let at_ms = sync * 15_030;
            let total = lag(at_ms / 1000);
            let desired = controller
                .sync(Duration::from_millis(at_ms), current, Some(total))
                .desired;
            let status = record(at_ms + 4, total, current, desired);
            if history.last().is_none_or(|last| !status.same_sync_as(last)) {
                history.push(status);
            }
            current = desired;
        }
        history
    }

    fn sale(second: u64) -> f64 {
        match second {
            0..=59 => 0.0,
            60..=119 => 9_000.0,
            120..=179 => 3_000.0,
            _ => 0.0,
        }
    }

    #[test]
    fn the_algorithm_agrees_with_a_controller_that_runs_it() {
        let spec = hpa_spec::parse(SHIPPED, None).unwrap();
        let history = recorded_by_the_algorithm(&spec, sale);
        let result = replay(&spec, &history, Duration::from_secs(15));
        assert!(result.agrees(), "{result}");
        let (up, down) = result.rescales();
        assert!(up >= 1 && down >= 1, "{result}");
    }

    #[test]
    fn a_count_the_algorithm_never_reaches_differs() {
        let spec = hpa_spec::parse(SHIPPED, None).unwrap();
        let mut history = recorded_by_the_algorithm(&spec, sale);
        // The controller "chose" 11 at the sale's first sync: 9000 lag asks for 9, and
        // from 2 the policies allow 6.
        for r in history
            .iter_mut()
            .filter(|r| (60_000..75_000).contains(&r.unix_ms) && r.current_replicas == 2)
        {
            r.desired_replicas = 11;
        }
        let result = replay(&spec, &history, Duration::from_secs(15));
        assert!(!result.agrees(), "{result}");
        let differing: Vec<_> = result
            .syncs
            .iter()
            .filter(|s| s.agreement == Agreement::Differs)
            .collect();
        assert_eq!(differing.len(), 1, "{result}");
        assert_eq!((differing[0].controller, differing[0].algorithm), (11, 6));
        assert!(result.to_string().ends_with("1 differ"), "{result}");
    }

    #[test]
    fn syncs_hidden_by_a_steady_status_still_hold_the_scale_down_window() {
        // A controller syncing every 15 s: lag for 6 pods until its sync at 60 s, which
        // changed nothing and so left no trace; zero lag seen at 75 s; a record of lag
        // at 330 s; the 300 s window lets go of the 60 s sync at 360 s (6 -> 4).
        // Without the hidden syncs at 15-60 s, the replay's window would hold only the
        // 0 s sync and scale in already at 330 s.
        let spec = hpa_spec::parse(SHIPPED, None).unwrap();
        let status = |from: u64, to: u64, lag: f64, desired: u32| {
            (from..to).map(move |s| record(s * 1000, lag, 6, desired))
        };
        let history: Vec<StatusRecord> = status(0, 75, 6_000.0, 6)
            .chain(status(75, 330, 0.0, 6))
            .chain(status(330, 360, 1.0, 6))
            .chain(status(360, 370, 1.0, 4))
            .collect();
        let result = replay(&spec, &history, Duration::from_secs(15));
        assert!(result.agrees(), "{result}");
        assert_eq!(result.count(Agreement::WithinOneSync), 0, "{result}");
        assert_eq!(result.rescales(), (0, 1), "{result}");
    }
}
