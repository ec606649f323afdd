//! The recorder: watches the HPA object with `kubectl get hpa NAME --watch -o json` and
//! appends a [`StatusRecord`] line to the history file for every version of it the API
//! server delivers, until asked to stop.
//!
//! A watch rather than a poll: the controller writes the status at the end of a sync,
//! and the watch delivers that write within milliseconds, so a record's time is the
//! sync's time. A poll once a second stamped it up to a second late, and the replay's
//! stabilization windows then closed a sync later than the controller's.
//!
//! kubectl rather than an API client of our own: it is the tool the demo already
//! uses against the API server, with the same kubeconfig, so the recorder sees exactly
//! what `kubectl get hpa -w` shows next to it. A watch that ends (the API server closes
//! watches after a while, or restarts) is opened again a second later; the first object
//! of the new watch is the current state, which the replay folds into the last sync
//! when nothing changed. With `metrics_listener` it also serves the last reading as
//! gauges ([`hpa_gauges`](crate::hpa_gauges)).

use std::future::Future;
use std::io::Write as _;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use serde_json::Value;
use tokio::sync::mpsc;

use crate::history::StatusRecord;
use crate::hpa_gauges::{self, LastRecord};

/// What to watch and where to write it.
#[derive(Debug)]
pub struct Config {
    /// The kubectl binary (the kubeconfig comes from its usual environment).
    pub kubectl: PathBuf,
    pub namespace: String,
    pub hpa: String,
    pub out: PathBuf,
    /// Where to serve the gauges, if anywhere.
    pub metrics_listener: Option<std::net::TcpListener>,
}

/// How long to wait before opening a watch again after it ended.
const REWATCH_AFTER: Duration = Duration::from_secs(1);

/// Records until `shutdown` resolves; returns the number of records written.
pub async fn run(mut config: Config, shutdown: impl Future<Output = ()>) -> anyhow::Result<u64> {
    let last = LastRecord::default();
    let (stop_gauges, gauges_stopped) = tokio::sync::oneshot::channel::<()>();
    let gauges = config.metrics_listener.take().map(|listener| {
        tokio::spawn(hpa_gauges::serve(
            listener,
            config.namespace.clone(),
            config.hpa.clone(),
            last.clone(),
            async {
                let _ = gauges_stopped.await;
            },
        ))
    });
    // A line every few seconds: plain blocking writes are cheaper than a file task. A
    // recording is one run: a history left by an earlier run in the same folder would
    // be replayed as if the controller had seen it now, so the file starts empty.
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .open(&config.out)
        .with_context(|| format!("opening {}", config.out.display()))?;

    let (objects, mut received) = mpsc::channel::<(u64, Value)>(64);
    let watch = Watch::default();
    let watcher = {
        let watch = watch.clone();
        let args = kubectl_args(&config);
        let kubectl = config.kubectl.clone();
        std::thread::spawn(move || watch.run(&kubectl, &args, &objects))
    };

    tokio::pin!(shutdown);
    let mut written = 0;
    loop {
        let (unix_ms, object) = tokio::select! {
            _ = &mut shutdown => break,
            next = received.recv() => match next {
                Some(next) => next,
                None => break,
            },
        };
        match StatusRecord::from_hpa_object(unix_ms, &object) {
            Ok(record) => {
                let mut line = serde_json::to_string(&record)?;
                line.push('\n');
                file.write_all(line.as_bytes())
                    .with_context(|| format!("writing {}", config.out.display()))?;
                written += 1;
                if let Ok(mut slot) = last.lock() {
                    *slot = Some(record);
                }
            }
            Err(error) => eprintln!("hpa-recorder: {error}"),
        }
    }
    watch.stop();
    drop(received);
    let _ = watcher.join();
    file.flush()?;
    let _ = stop_gauges.send(());
    if let Some(task) = gauges {
        task.await??;
    }
    Ok(written)
}

fn kubectl_args(config: &Config) -> Vec<String> {
    [
        "get",
        "hpa",
        &config.hpa,
        "-n",
        &config.namespace,
        "--watch",
        "-o",
        "json",
    ]
    .map(str::to_owned)
    .to_vec()
}

/// The kubectl watch process, restarted when it ends, on a thread of its own: the
/// stream of JSON objects is read with serde_json's blocking stream reader, which
/// hands over each object as soon as its last byte arrives.
#[derive(Clone, Default)]
struct Watch {
    stopped: Arc<AtomicBool>,
    child: Arc<Mutex<Option<Child>>>,
}

impl Watch {
    fn run(&self, kubectl: &PathBuf, args: &[String], objects: &mpsc::Sender<(u64, Value)>) {
        while !self.stopped.load(Ordering::SeqCst) {
            let spawned = Command::new(kubectl)
                .args(args)
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .spawn();
            let stdout = match spawned {
                Ok(mut child) => {
                    let stdout = child.stdout.take();
                    if let Ok(mut slot) = self.child.lock() {
                        // A stop between the spawn and here found no child to end.
                        if self.stopped.load(Ordering::SeqCst) {
                            let _ = child.kill();
                        }
                        *slot = Some(child);
                    }
                    stdout
                }
                Err(error) => {
                    eprintln!("hpa-recorder: running {}: {error}", kubectl.display());
                    None
                }
            };
            if let Some(stdout) = stdout {
                let stream = serde_json::Deserializer::from_reader(std::io::BufReader::new(stdout))
                    .into_iter::<Value>();
                for object in stream {
                    match object {
                        Ok(object) => {
                            if objects.blocking_send((now_unix_ms(), object)).is_err() {
                                break;
                            }
                        }
                        Err(error) => {
                            eprintln!(
                                "hpa-recorder: kubectl printed something else than JSON: {error}"
                            );
                            break;
                        }
                    }
                }
            }
            self.reap();
            if self.stopped.load(Ordering::SeqCst) {
                break;
            }
            eprintln!(
                "hpa-recorder: the watch of hpa {} ended; watching again in {:?}",
                args[2], REWATCH_AFTER
            );
            std::thread::sleep(REWATCH_AFTER);
        }
    }

    /// Ends the watch: the reading thread sees the end of the stream and returns.
    fn stop(&self) {
        self.stopped.store(true, Ordering::SeqCst);
        if let Ok(mut slot) = self.child.lock() {
            if let Some(child) = slot.as_mut() {
                let _ = child.kill();
            }
        }
    }

    fn reap(&self) {
        if let Ok(mut slot) = self.child.lock() {
            if let Some(mut child) = slot.take() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
}

fn now_unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or_default()
}
