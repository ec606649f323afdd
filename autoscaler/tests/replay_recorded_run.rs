//! The algorithm against the real kube-controller-manager: histories recorded by
//! `scripts/demo.sh` (`sale/hpa-history.jsonl`, each status as the recorder's watch
//! delivered it, and the applied HPA, `sale/hpa.yaml`), copied to `tests/fixtures/`,
//! replayed with the control plane's 5 s sync period.
//!
//! What they pin down: every decision of the real controller, scale-outs, scale-ins and
//! the syncs that changed nothing, is the algorithm's decision at the same sync. In the
//! quick demo's recording every one is the same; in the full demo's, one scale-in (7 → 5
//! at 89.8 s) came 9.94 s of recorded time after the previous one, against a 10 s policy
//! period: the algorithm decides it 0.25 s later the way the controller did, and no
//! other sync differs.

use std::time::Duration;

use autoscaler::history;
use autoscaler::hpa_spec;
use autoscaler::replay::{replay, Agreement, Replay};

/// `--horizontal-pod-autoscaler-sync-period` of the control plane that recorded them.
const SYNC_PERIOD: Duration = Duration::from_secs(5);

fn replayed(hpa: &str, history: &str) -> Replay {
    let spec = hpa_spec::parse(hpa, None).expect("the recorded HPA parses");
    let records = history::parse_lines(history).expect("the recorded history parses");
    replay(&spec, &records, SYNC_PERIOD)
}

fn quick_demo() -> Replay {
    replayed(
        include_str!("fixtures/quick-demo/hpa.yaml"),
        include_str!("fixtures/quick-demo/hpa-history.jsonl"),
    )
}

fn full_demo() -> Replay {
    replayed(
        include_str!("fixtures/full-demo/hpa.yaml"),
        include_str!("fixtures/full-demo/hpa-history.jsonl"),
    )
}

fn assert_every_sync(result: &Replay, allowed: &[Agreement]) {
    println!("{result}");
    let (up, down) = result.rescales();
    assert!(
        up >= 1 && down >= 1,
        "the recording shows no scale-out and scale-in:\n{result}"
    );
    for sync in &result.syncs {
        assert!(
            allowed.contains(&sync.agreement),
            "at {:?}: controller {} → {}, algorithm {} ({:?})\n{result}",
            sync.at,
            sync.current,
            sync.controller,
            sync.algorithm,
            sync.agreement
        );
    }
}

#[test]
fn every_decision_of_the_real_controller_in_the_quick_demo_is_the_algorithms_at_the_same_sync() {
    assert_every_sync(&quick_demo(), &[Agreement::Exact]);
}

#[test]
fn every_decision_of_the_real_controller_in_the_full_demo_is_the_algorithms_at_the_same_sync() {
    let result = full_demo();
    assert_every_sync(&result, &[Agreement::Exact, Agreement::AtAnEdge]);
    assert_eq!(result.count(Agreement::AtAnEdge), 1, "{result}");
    assert!(result.agrees(), "{result}");
}
