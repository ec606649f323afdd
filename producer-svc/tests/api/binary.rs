//! The real producer-svc binary as a child process, for tests about the process itself
//! (signals, the global telemetry pipeline) that an in-process app cannot show.

use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

pub struct Running {
    pub child: Child,
    pub pid: u32,
    pub port: u64,
    /// Every line the process wrote to stdout and stderr so far.
    pub logs: Arc<Mutex<Vec<String>>>,
}

impl Running {
    pub fn logs(&self) -> Vec<String> {
        self.logs.lock().unwrap().clone()
    }
}

/// Starts the binary on a free port, publishing to `topic`, with `env` on top of a clean
/// environment; returns once `/readyz` answers 200.
pub async fn start(topic: &str, env: &[(&str, &str)]) -> Running {
    let running = launch(topic, env).await;
    let client = reqwest::Client::new();
    let ready_url = format!("http://127.0.0.1:{}/readyz", running.port);
    for _ in 0..100 {
        if client
            .get(&ready_url)
            .send()
            .await
            .map(|r| r.status() == 200)
            .unwrap_or(false)
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    running
}

/// [`start`] without waiting to be ready: returns once the process listens.
pub async fn launch(topic: &str, env: &[(&str, &str)]) -> Running {
    let mut command = Command::new(env!("CARGO_BIN_EXE_producer-svc"));
    command
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("SURGE_CONFIG_DIR", "/nonexistent")
        .env("SURGE__HTTP__HOST", "127.0.0.1")
        .env("SURGE__HTTP__PORT", "0")
        .env(
            "SURGE__KAFKA__BOOTSTRAP_SERVERS",
            testkit::kafka::bootstrap(),
        )
        .env("SURGE__KAFKA__TOPIC", topic)
        .env("SURGE__LOG__LEVEL", "info");
    for (key, value) in env {
        command.env(key, value);
    }
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("producer-svc starts");
    let pid = child.id().expect("pid");
    let logs = Arc::new(Mutex::new(Vec::new()));
    let mut errors = BufReader::new(child.stderr.take().unwrap()).lines();
    let kept = Arc::clone(&logs);
    tokio::spawn(async move {
        while let Ok(Some(line)) = errors.next_line().await {
            kept.lock().unwrap().push(line);
        }
    });
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let port = tokio::time::timeout(Duration::from_secs(20), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            logs.lock().unwrap().push(line.clone());
            let Ok(entry) = serde_json::from_str::<Value>(&line) else {
                continue;
            };
            if entry["message"] == "producer-svc listening" {
                return entry["port"].as_u64().unwrap();
            }
        }
        panic!("producer-svc exited before listening");
    })
    .await
    .expect("listening line within 20 s");
    // Keep reading stdout so the child never blocks on a full pipe.
    let kept = Arc::clone(&logs);
    tokio::spawn(async move {
        while let Ok(Some(line)) = lines.next_line().await {
            kept.lock().unwrap().push(line);
        }
    });
    Running {
        child,
        pid,
        port,
        logs,
    }
}
