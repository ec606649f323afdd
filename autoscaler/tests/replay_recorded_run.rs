//! The algorithm against the real kube-controller-manager: a history recorded by
//! `scripts/demo.sh --quick` (`sale/hpa-history.jsonl`, each status as the recorder's
//! watch delivered it, and the applied HPA, `sale/hpa.yaml`, copied to
//! `tests/fixtures/quick-demo/`), replayed with the control plane's 5 s sync period.
//!
//! What this recording pins down: every decision of the real controller, scale-outs,
//! scale-ins and the syncs that changed nothing, is the algorithm's decision at the same
//! sync, and the controller scaled both ways (2 → 6 → 10 → 12, then back to 2 in steps
//! that the scale-down policy and stabilization window set).

use std::time::Duration;

use autoscaler::history;
use autoscaler::hpa_spec;
use autoscaler::replay::{replay, Agreement, Replay};

const HPA: &str = include_str!("fixtures/quick-demo/hpa.yaml");
const HISTORY: &str = include_str!("fixtures/quick-demo/hpa-history.jsonl");
/// `--horizontal-pod-autoscaler-sync-period` of the control plane that recorded it.
const SYNC_PERIOD: Duration = Duration::from_secs(5);

fn replayed() -> Replay {
    let spec = hpa_spec::parse(HPA, None).expect("the recorded HPA parses");
    let records = history::parse_lines(HISTORY).expect("the recorded history parses");
    replay(&spec, &records, SYNC_PERIOD)
}

#[test]
fn the_recording_shows_the_controller_scaling_out_and_back_in() {
    let result = replayed();
    let (up, down) = result.rescales();
    assert!(
        up >= 1 && down >= 1,
        "the fixture shows no scale-out and scale-in:\n{result}"
    );
}

#[test]
fn every_decision_of_the_real_controller_is_the_algorithms_at_the_same_sync() {
    let result = replayed();
    println!("{result}");
    for sync in &result.syncs {
        assert_eq!(
            sync.agreement,
            Agreement::Exact,
            "at {:?}: controller {} → {}, algorithm {}\n{result}",
            sync.at,
            sync.current,
            sync.controller,
            sync.algorithm
        );
    }
    assert!(result.agrees(), "{result}");
}
