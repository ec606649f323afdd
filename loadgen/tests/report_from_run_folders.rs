//! `loadgen report --out DIR RUN_DIR...` from two run folders made up here: one with
//! every file, one with `results.json` alone.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use autoscaler::history::StatusRecord;
use loadgen::audit_file::{AuditFile, CheckResult, LatencySummary, SaleCounts};
use loadgen::profile::flash_sale;
use loadgen::results::{PhaseStats, RunResults, Second};

const START: u128 = 1_800_000_000_000;

fn results() -> RunResults {
    let phases = flash_sale(
        10.0,
        10.0,
        Duration::from_secs(5),
        Duration::from_secs(10),
        Duration::from_secs(5),
        1.0,
    );
    let timeline = (0..20u64)
        .map(|t| {
            let spike = (5..15).contains(&t);
            Second {
                t,
                phase: if spike { "spike" } else { "baseline" }.into(),
                completed: if spike { 100 } else { 10 },
                accepted: if spike { 98 } else { 10 },
                p50_ms: 3.0,
                p99_ms: if spike { 40.0 } else { 8.0 },
                ..Second::default()
            }
        })
        .collect();
    RunResults {
        target: "http://127.0.0.1:8080".into(),
        started_unix_ms: START,
        phase_stats: phases
            .iter()
            .map(|p| PhaseStats {
                name: p.name.clone(),
                target_rate: p.rate,
                achieved_rate: p.rate,
                sent: (p.rate * p.duration.as_secs_f64()) as u64,
                ..PhaseStats::default()
            })
            .collect(),
        phases,
        timeline,
        ..RunResults::default()
    }
}

fn write_full_run(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    results().write(&dir.join("results.json")).unwrap();
    // The HPA's status once a second, as `autoscaler record` writes it.
    let mut history = String::new();
    for t in 0..40u64 {
        let lag: u32 = match t {
            0..=4 => 3,
            5..=14 => (t as u32 - 4) * 80,
            15..=24 => 800 - (t as u32 - 14) * 80,
            _ => 0,
        };
        let replicas = if (7..30).contains(&t) { 4 } else { 1 };
        let record = StatusRecord {
            unix_ms: START as u64 + t * 1000,
            metric_average: Some(f64::from(lag) / f64::from(replicas)),
            current_replicas: replicas,
            desired_replicas: replicas,
            min_replicas: 1,
            max_replicas: 4,
            last_scale_time: None,
            conditions: Vec::new(),
        };
        history.push_str(&serde_json::to_string(&record).unwrap());
        history.push('\n');
    }
    std::fs::write(dir.join("hpa-history.jsonl"), history).unwrap();
    AuditFile {
        passed: true,
        checks: vec![CheckResult {
            name: "every 202 order has exactly one row".into(),
            ok: true,
            detail: "1080 accepted order ids, 0 missing, 0 duplicated".into(),
        }],
        sale: SaleCounts {
            sku: "FLASH-1".into(),
            stock: 500,
            remaining: Some(0),
            confirmed: 500,
            rejected: 580,
        },
        rows: 1080,
        started_unix_ms: START,
        processed_per_second: vec![10; 26],
        end_to_end: Some(LatencySummary {
            count: 1080,
            p50_ms: 900.0,
            p99_ms: 4000.0,
            max_ms: 4500.0,
        }),
    }
    .write(&dir.join("audit.json"))
    .unwrap();
}

#[test]
fn report_writes_markdown_with_tables_plots_and_a_comparison() {
    let root = std::env::temp_dir().join(format!("loadgen-report-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let upstream = root.join("runs/upstream");
    let bare = root.join("runs/results-only");
    write_full_run(&upstream);
    std::fs::create_dir_all(&bare).unwrap();
    results().write(&bare.join("results.json")).unwrap();
    let out = root.join("report");

    let output = Command::new(env!("CARGO_BIN_EXE_loadgen"))
        .arg("report")
        .arg("--out")
        .arg(&out)
        .arg(&upstream)
        .arg(&bare)
        .output()
        .expect("loadgen runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains("report.md"),
        "prints the report's path: {stdout}"
    );

    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    for kind in ["rate", "latency", "lag", "replicas", "processed"] {
        let file = format!("upstream-{kind}.svg");
        assert!(out.join(&file).exists(), "{file}");
        assert!(md.contains(&format!("({file})")), "{file} linked");
    }
    assert!(out.join("results-only-rate.svg").exists());
    assert!(!out.join("results-only-lag.svg").exists());
    assert!(md.contains("| | `upstream` | `results-only` |"), "{md}");
    // Spike ends at 15 s; the lag is back at its pre-spike level (3) at 24 s.
    assert!(md.contains("| drain time | 9 s | no data |"), "{md}");
    assert!(md.contains("| peak replicas | 4 | – |"), "{md}");
    assert!(md.contains("| audit | PASS | – |"), "{md}");
    assert!(md.contains("| every 202 order has exactly one row | PASS |"));
    assert!(md.contains("| spike | 100 | 100.0 | 1000 |"), "{md}");
    let _ = std::fs::remove_dir_all(&root);
}
