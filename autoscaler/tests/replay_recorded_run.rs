//! The algorithm against the real kube-controller-manager: a history recorded by
//! `scripts/demo.sh --quick` (`sale/hpa-history.jsonl` and the applied HPA,
//! `sale/hpa.yaml`, copied to `tests/fixtures/quick-demo/`), replayed with the
//! control plane's 5 s sync period.

use std::time::Duration;

use autoscaler::history;
use autoscaler::hpa_spec;
use autoscaler::replay::{replay, Agreement};

const HPA: &str = include_str!("fixtures/quick-demo/hpa.yaml");
const HISTORY: &str = include_str!("fixtures/quick-demo/hpa-history.jsonl");
/// `--horizontal-pod-autoscaler-sync-period` of the control plane that recorded it.
const SYNC_PERIOD: Duration = Duration::from_secs(5);

#[test]
fn the_algorithm_decides_what_the_real_controller_decided_within_one_sync() {
    let spec = hpa_spec::parse(HPA, None).expect("the recorded HPA parses");
    let records = history::parse_lines(HISTORY).expect("the recorded history parses");
    let result = replay(&spec, &records, SYNC_PERIOD);
    println!("{result}");
    // The recording is worth comparing only if the controller scaled both ways.
    let (up, down) = result.rescales();
    assert!(
        up >= 1 && down >= 1,
        "the fixture shows no scale-out and scale-in:\n{result}"
    );
    assert!(result.agrees(), "{result}");
    assert!(result.count(Agreement::Exact) > 0, "{result}");
}
