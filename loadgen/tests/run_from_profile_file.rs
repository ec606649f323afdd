//! `loadgen run --profile FILE`: the binary, a profile written here, and a stub target
//! that answers every order 202 (no broker needed). The hot phase is deliberately not
//! named "spike": the file's `hot` flag alone must send its orders to the hot SKU.

use std::time::Duration;

use loadgen::results::RunResults;
use support::{counting_producer, stub_producer};

mod support;

const PROFILE: &str = "\
phases:
  - { name: calm, rate: 40, duration_s: 2 }
  - { name: rush, rate: 40, duration_s: 2, hot: true }
mix:
  hot_sku: HOT-9
  other_skus: [COLD-1, COLD-2]
  hot_share_baseline: 0
  retry_share: 0
  invalid_share: 0
";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hot_phase_from_the_file_sends_every_order_for_the_hot_sku() {
    let target = stub_producer().await;
    let dir = std::env::temp_dir().join(testkit::unique_name("loadgen-run"));
    std::fs::create_dir_all(&dir).unwrap();
    let (profile, results) = (dir.join("profile.yaml"), dir.join("results.json"));
    std::fs::write(&profile, PROFILE).unwrap();

    let output = tokio::time::timeout(
        Duration::from_secs(60),
        tokio::process::Command::new(env!("CARGO_BIN_EXE_loadgen"))
            .arg("run")
            .arg("--profile")
            .arg(&profile)
            .args(["--target", &target, "--duration-scale", "0.5"])
            .arg("--results")
            .arg(&results)
            .output(),
    )
    .await
    .expect("the run ends")
    .expect("loadgen starts");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("rush 40/s × 1s (hot)"), "{stdout}");

    let results = RunResults::read(&results).expect("results file");
    let _ = std::fs::remove_dir_all(&dir);
    let shape: Vec<(&str, bool, f64)> = results
        .phases
        .iter()
        .map(|p| (p.name.as_str(), p.hot, p.duration.as_secs_f64()))
        .collect();
    assert_eq!(shape, [("calm", false, 1.0), ("rush", true, 1.0)]);
    let sent: Vec<u64> = results.phase_stats.iter().map(|p| p.sent).collect();
    assert_eq!(sent, [40, 40]);
    assert_eq!(results.accepted.len(), 80);
    let hot = results.accepted.iter().filter(|a| a.sku == "HOT-9").count();
    assert_eq!(hot, 40, "every rush order and no calm order is for HOT-9");
}

#[tokio::test]
async fn an_invalid_profile_fails_before_sending_and_names_the_field() {
    let dir = std::env::temp_dir().join(testkit::unique_name("loadgen-run"));
    std::fs::create_dir_all(&dir).unwrap();
    let profile = dir.join("profile.yaml");
    std::fs::write(
        &profile,
        "phases:\n  - { name: a, rate: 10, duration_s: 1 }\nmix: { keyed_share: 2 }\n",
    )
    .unwrap();
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_loadgen"))
        .arg("run")
        .arg("--profile")
        .arg(&profile)
        // Nothing listens here; a request would fail, not hang.
        .args(["--target", "http://127.0.0.1:9"])
        .arg("--results")
        .arg(dir.join("results.json"))
        .env("RUST_BACKTRACE", "0")
        .output()
        .await
        .expect("loadgen starts");
    let results_written = dir.join("results.json").exists();
    let _ = std::fs::remove_dir_all(&dir);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(
        stderr.contains("mix.keyed_share: must be within [0, 1], got 2"),
        "{stderr}"
    );
    assert!(!results_written);
}

/// Runs `phases` (YAML) with the binary against a stub that counts connections.
async fn connections_opened_by(phases: &str) -> usize {
    let (target, connections) = counting_producer().await;
    let dir = std::env::temp_dir().join(testkit::unique_name("loadgen-run"));
    std::fs::create_dir_all(&dir).unwrap();
    let profile = dir.join("profile.yaml");
    std::fs::write(
        &profile,
        format!("{phases}mix: {{ invalid_share: 0, retry_share: 0 }}\n"),
    )
    .unwrap();
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_loadgen"))
        .arg("run")
        .arg("--profile")
        .arg(&profile)
        .args(["--target", &target])
        .arg("--results")
        .arg(dir.join("results.json"))
        .output()
        .await
        .expect("loadgen starts");
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        output.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    connections.load(std::sync::atomic::Ordering::SeqCst)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reconnect_phase_opens_a_connection_per_request_and_an_ordinary_phase_reuses_them() {
    let storm = connections_opened_by(
        "phases:\n  - { name: storm, rate: 40, duration_s: 1, reconnect: true }\n",
    )
    .await;
    let steady =
        connections_opened_by("phases:\n  - { name: steady, rate: 40, duration_s: 1 }\n").await;
    assert_eq!(
        storm, 40,
        "one connection per request of the reconnect phase"
    );
    assert!(
        steady < 20,
        "{steady} connections for the 40 requests of an ordinary phase"
    );
}
