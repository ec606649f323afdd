//! The algorithm against the real kube-controller-manager: a history recorded by
//! `scripts/demo.sh --quick` (`sale/hpa-history.jsonl` and the applied HPA,
//! `sale/hpa.yaml`, copied to `tests/fixtures/quick-demo/`), replayed with the
//! control plane's 5 s sync period.
//!
//! What this recording pins down: every scale-out of the real controller is the
//! algorithm's decision at the same sync, and the replay sees the controller scale both
//! ways. Scale-in is not asserted: in this recording the algorithm ends the scale-down
//! stabilization window one sync later than the controller at two steps (the recorder's
//! clock trails the controller's by up to a second), which `replay.txt` of every demo
//! run lists as "DIFFERS".

use std::time::Duration;

use autoscaler::history;
use autoscaler::hpa_spec;
use autoscaler::replay::{replay, Agreement};

const HPA: &str = include_str!("fixtures/quick-demo/hpa.yaml");
const HISTORY: &str = include_str!("fixtures/quick-demo/hpa-history.jsonl");
/// `--horizontal-pod-autoscaler-sync-period` of the control plane that recorded it.
const SYNC_PERIOD: Duration = Duration::from_secs(5);

#[test]
fn every_scale_out_of_the_real_controller_is_the_algorithms_decision_at_the_same_sync() {
    let spec = hpa_spec::parse(HPA, None).expect("the recorded HPA parses");
    let records = history::parse_lines(HISTORY).expect("the recorded history parses");
    let result = replay(&spec, &records, SYNC_PERIOD);
    println!("{result}");
    let (up, down) = result.rescales();
    assert!(
        up >= 1 && down >= 1,
        "the fixture shows no scale-out and scale-in:\n{result}"
    );
    for sync in result.syncs.iter().filter(|s| s.controller > s.current) {
        assert_eq!(
            sync.agreement,
            Agreement::Exact,
            "scale-out at {:?}: controller {} → {}, algorithm {}\n{result}",
            sync.at,
            sync.current,
            sync.controller,
            sync.algorithm
        );
    }
}
