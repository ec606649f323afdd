//! The agent's main loop: register the Node, watch the pods bound to it
//! (`spec.nodeName=<node>`), give each pod its own worker task ([`crate::pod`]), keep the
//! Node's heartbeat, and on shutdown stop every pod's processes, then mark the Node NotReady.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use kube::runtime::events::{Recorder, Reporter};
use kube::runtime::{watcher, WatchStreamExt};
use kube::Api;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::node::NodeRegistration;
use crate::pod::{self, PodUpdate, Shared};
use crate::pod_ip::PodIpPool;
use crate::Settings;

struct PodWorker {
    updates: watch::Sender<PodUpdate>,
    task: JoinHandle<()>,
}

/// The component name on the events the agent records.
pub const REPORTER: &str = "surge-node-agent";

/// Runs the agent until `shutdown` resolves; then stops the pods' processes and returns.
pub async fn run(
    settings: Settings,
    client: kube::Client,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let node = NodeRegistration::register(client.clone(), &settings).await?;
    let shared = Arc::new(Shared {
        client: client.clone(),
        pool: PodIpPool::new(settings.pod_cidr),
        http: reqwest::Client::builder()
            // A kubelet does not follow a probe's redirect to another host; a 3xx already
            // counts as success, so none is followed.
            .redirect(reqwest::redirect::Policy::none())
            .build()?,
        recorder: Recorder::new(
            client.clone(),
            Reporter {
                controller: REPORTER.to_owned(),
                instance: Some(settings.node_name.clone()),
            },
        ),
        settings: settings.clone(),
    });
    let (agent_stop, agent_stop_rx) = watch::channel(false);
    let (finished_tx, mut finished) = mpsc::unbounded_channel::<String>();
    let mut workers: HashMap<String, PodWorker> = HashMap::new();
    let mut listed: Option<HashSet<String>> = None;

    let pods: Api<Pod> = Api::all(client.clone());
    let selector = format!("spec.nodeName={}", settings.node_name);
    let events = watcher(pods, watcher::Config::default().fields(&selector)).default_backoff();
    tokio::pin!(events);
    tokio::pin!(shutdown);
    let mut heartbeat = tokio::time::interval(settings.heartbeat());
    tracing::info!(node = %node.name(), bin_dir = %settings.bin_dir.display(), pod_cidr = %settings.pod_cidr, "node agent running");

    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            _ = heartbeat.tick() => {
                if let Err(error) = node.report(true).await {
                    tracing::warn!(error = format!("{error:#}"), "node heartbeat failed");
                }
            }
            Some(uid) = finished.recv() => {
                workers.remove(&uid);
            }
            event = events.next() => match event {
                Some(Ok(event)) => {
                    let seen = |workers: &mut HashMap<String, PodWorker>, pod: Pod, gone: bool| {
                        apply(workers, &shared, &agent_stop_rx, &finished_tx, pod, gone)
                    };
                    match event {
                        watcher::Event::Init => listed = Some(HashSet::new()),
                        watcher::Event::InitApply(pod) => {
                            if let (Some(set), Some(uid)) = (listed.as_mut(), pod.metadata.uid.clone()) {
                                set.insert(uid);
                            }
                            seen(&mut workers, pod, false);
                        }
                        watcher::Event::InitDone => {
                            // Pods that vanished while the watch was down.
                            let present = listed.take().unwrap_or_default();
                            for (uid, worker) in &workers {
                                if !present.contains(uid) {
                                    let pod = worker.updates.borrow().pod.clone();
                                    let _ = worker.updates.send(PodUpdate { pod, gone: true });
                                }
                            }
                        }
                        watcher::Event::Apply(pod) => seen(&mut workers, pod, false),
                        watcher::Event::Delete(pod) => seen(&mut workers, pod, true),
                    }
                }
                Some(Err(error)) => tracing::warn!(%error, "pod watch failed; retrying"),
                None => anyhow::bail!("the pod watch ended"),
            },
        }
    }

    tracing::info!(pods = workers.len(), "stopping the pods' processes");
    let _ = agent_stop.send(true);
    for (_, worker) in workers.drain() {
        if let Err(error) = worker.task.await {
            tracing::warn!(%error, "pod worker failed");
        }
    }
    if let Err(error) = tokio::time::timeout(Duration::from_secs(10), node.report(false)).await {
        tracing::warn!(%error, "node not marked NotReady in time");
    }
    tracing::info!("node agent stopped");
    Ok(())
}

fn apply(
    workers: &mut HashMap<String, PodWorker>,
    shared: &Arc<Shared>,
    agent_stop: &watch::Receiver<bool>,
    finished: &mpsc::UnboundedSender<String>,
    pod: Pod,
    gone: bool,
) {
    let Some(uid) = pod.metadata.uid.clone() else {
        return;
    };
    if let Some(worker) = workers.get(&uid) {
        let _ = worker.updates.send(PodUpdate { pod, gone });
        return;
    }
    if gone {
        return;
    }
    tracing::info!(pod = ?pod.metadata.name, namespace = ?pod.metadata.namespace, %uid, "pod bound to this node");
    let (updates, updates_rx) = watch::channel(PodUpdate { pod, gone });
    let shared = shared.clone();
    let agent_stop = agent_stop.clone();
    let finished = finished.clone();
    let worker_uid = uid.clone();
    let task = tokio::spawn(async move {
        pod::run(shared, updates_rx, agent_stop).await;
        let _ = finished.send(worker_uid);
    });
    workers.insert(uid, PodWorker { updates, task });
}
