//! The generated calendar rules, evaluated by Prometheus' own rule engine (`promtool test
//! rules`) together with the floor rule of observability/prometheus/rules/scaling.yml,
//! and read through the very query prometheus-adapter runs for the HPA
//! (k8s/components/prometheus-adapter/adapter-rules.yaml).

use std::path::{Path, PathBuf};
use std::process::Command;

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(path)
}

/// The adapter's metricsQuery for surge_sale_calendar_replicas, with the labels the
/// predictive HPA selects on filled in.
fn adapter_query() -> String {
    let text =
        std::fs::read_to_string(repo("k8s/components/prometheus-adapter/adapter-rules.yaml"))
            .unwrap();
    let configmap: serde_json::Value = serde_norway::from_str(&text).unwrap();
    let config: serde_json::Value =
        serde_norway::from_str(configmap["data"]["config.yaml"].as_str().unwrap()).unwrap();
    let rule = config["externalRules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"]["as"] == "surge_sale_calendar_replicas")
        .expect("the adapter serves surge_sale_calendar_replicas");
    assert_eq!(rule["resources"]["namespaced"], false);
    rule["metricsQuery"]
        .as_str()
        .unwrap()
        .replace("<<.Series>>", "surge:sale_calendar:replicas")
        .replace(
            "<<.LabelMatchers>>",
            r#"consumergroup="orders-processor",topic="orders""#,
        )
}

#[test]
fn a_sale_asks_for_its_replicas_from_its_lead_time_to_its_hold_and_the_largest_due_wins() {
    // promtool's clock starts at the Unix epoch: "A" opens at 00:10:00, "B" at 00:10:30.
    let calendar = "
sales:
  - {name: A, start: 1970-01-01T00:10:00Z, replicas: 12, lead_s: 120, hold_s: 60}
  - {name: B, start: 1970-01-01T00:10:30Z, replicas: 6, lead_s: 30, hold_s: 600}
";
    let other_group = "
consumergroup: someone-else
sales:
  - {name: C, start: 1970-01-01T00:10:00Z, replicas: 50}
";
    let dir = std::env::temp_dir().join(format!("sale-calendar-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut rule_files = vec![repo("observability/prometheus/rules/scaling.yml")];
    for (name, text) in [("ours", calendar), ("theirs", other_group)] {
        let parsed = autoscaler::sale_calendar::parse(text).unwrap();
        let path = dir.join(format!("{name}.yml"));
        std::fs::write(
            &path,
            autoscaler::sale_calendar::render(&parsed, name, None),
        )
        .unwrap();
        rule_files.push(path);
    }
    let query = adapter_query();
    let expect = |at: &str, value: u32| {
        format!("      - expr: '{query}'\n        eval_time: {at}\n        exp_samples:\n          - labels: '{{}}'\n            value: {value}\n")
    };
    let mut test = String::from("evaluation_interval: 5s\nrule_files:\n");
    for f in &rule_files {
        test.push_str(&format!("  - {}\n", f.display()));
    }
    test.push_str("tests:\n  - interval: 5s\n    input_series: []\n    promql_expr_test:\n");
    for (at, value) in [
        ("7m50s", 0),   // before A's lead time: the floor
        ("8m10s", 12),  // A's lead time (2 min before it opens)
        ("10m20s", 12), // A and B due: the larger
        ("11m10s", 6),  // A's hold is over, B's is not
        ("20m20s", 6),
        ("20m40s", 0), // both over: the HPA's ordinary rules again
    ] {
        test.push_str(&expect(at, value));
    }
    let test_file = dir.join("calendar_test.yml");
    std::fs::write(&test_file, test).unwrap();

    let output = Command::new("promtool")
        .args(["test", "rules"])
        .arg(&test_file)
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "promtool is needed (Debian package prometheus: apt-get install prometheus): {e}"
            )
        });
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        output.status.success(),
        "promtool test rules failed:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}
