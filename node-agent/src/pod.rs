//! One pod on this node, from binding to the final DELETE: prepare its containers (image →
//! binary, environment), run the init containers one by one to success, then the
//! containers, patch `pods/status` whenever what the containers report changes, and on
//! deletion stop every container within the grace period and finish the deletion with
//! `gracePeriodSeconds=0` and the pod's UID as precondition (so a new pod of the same name is
//! never deleted by mistake).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::{ConfigMap, Pod, Secret};
use k8s_openapi::chrono::{DateTime, Utc};
use kube::api::{DeleteParams, Patch, PatchParams, Preconditions};
use kube::runtime::events::{Event, EventType, Recorder};
use kube::{Api, Resource};
use tokio::sync::watch;

use crate::container::{self, Backoff, ContainerPlan, ContainerReport, RestartPolicy, StopRequest};
use crate::env::{self, Sources};
use crate::plan::{self, PlanContext, PlanError, PodPaths};
use crate::pod_ip::PodIpPool;
use crate::status::{self, Conditions, Observed};

/// What every pod worker shares.
pub struct Shared {
    pub client: kube::Client,
    pub settings: crate::Settings,
    pub pool: PodIpPool,
    pub http: reqwest::Client,
    pub recorder: Recorder,
}

/// The latest view of the pod object; `gone` once the API server no longer has it.
#[derive(Debug, Clone)]
pub struct PodUpdate {
    pub pod: Pod,
    pub gone: bool,
}

/// Why the worker stops its containers.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Stop {
    /// The pod is being deleted: stop, report, then finish the deletion.
    Deleted { grace: Duration },
    /// The pod object is gone already: stop and forget it.
    Gone { grace: Duration },
    /// The agent itself stops: stop the processes, leave the pod object as it is.
    AgentStopping { grace: Duration },
}

fn pod_grace(pod: &Pod) -> Duration {
    let seconds = pod
        .metadata
        .deletion_grace_period_seconds
        .or_else(|| {
            pod.spec
                .as_ref()
                .and_then(|s| s.termination_grace_period_seconds)
        })
        .unwrap_or(30);
    Duration::from_secs(seconds.max(0) as u64)
}

/// A container slot: its report channel and, once started, its stop switch.
struct Slot {
    report: Arc<watch::Sender<ContainerReport>>,
    stop: Option<watch::Sender<StopRequest>>,
}

impl Slot {
    fn new(initial: ContainerReport) -> Slot {
        Slot {
            report: Arc::new(watch::channel(initial).0),
            stop: None,
        }
    }

    fn report(&self) -> ContainerReport {
        self.report.borrow().clone()
    }

    fn start(&mut self, plan: ContainerPlan, backoff: Backoff, http: reqwest::Client) {
        let (stop_tx, stop_rx) = watch::channel(None);
        let report = self.report.clone();
        tokio::spawn(
            async move { container::supervise(plan, backoff, http, stop_rx, report).await },
        );
        self.stop = Some(stop_tx);
    }

    fn request_stop(&mut self, grace: Duration) {
        match &self.stop {
            Some(stop) => {
                let _ = stop.send(Some(grace));
            }
            None => self.report.send_modify(|r| r.done = true),
        }
    }
}

struct Worker {
    shared: Arc<Shared>,
    api: Api<Pod>,
    pod: Pod,
    pod_ip: String,
    start_time: DateTime<Utc>,
    conditions: Conditions,
    init: Vec<Slot>,
    containers: Vec<Slot>,
    failed_reason: Option<(String, String)>,
    agent_stopping: bool,
    last_patched: Option<serde_json::Value>,
    last_warning: Option<String>,
}

/// Runs the pod until it is deleted (or the agent stops).
pub async fn run(
    shared: Arc<Shared>,
    mut updates: watch::Receiver<PodUpdate>,
    mut agent_stop: watch::Receiver<bool>,
) {
    let pod = updates.borrow().pod.clone();
    let uid = pod.metadata.uid.clone().unwrap_or_default();
    let namespace = pod.metadata.namespace.clone().unwrap_or_default();
    let api: Api<Pod> = Api::namespaced(shared.client.clone(), &namespace);
    let terminal = matches!(
        pod.status.as_ref().and_then(|s| s.phase.as_deref()),
        Some("Succeeded" | "Failed")
    );
    let pod_ip = match shared.pool.allocate(&uid) {
        Ok(ip) => ip.to_string(),
        Err(error) => {
            tracing::error!(%error, pod = ?pod.metadata.name, "pod cannot get an IP");
            String::new()
        }
    };
    let specs = pod.spec.clone().unwrap_or_default();
    let mut worker = Worker {
        shared: shared.clone(),
        api,
        start_time: pod
            .status
            .as_ref()
            .and_then(|s| s.start_time.as_ref())
            .map(|t| t.0)
            .unwrap_or_else(Utc::now),
        pod,
        pod_ip: pod_ip.clone(),
        conditions: Conditions::default(),
        init: specs
            .init_containers
            .iter()
            .flatten()
            .map(|_| Slot::new(ContainerReport::waiting("PodInitializing", None)))
            .collect(),
        containers: specs
            .containers
            .iter()
            .map(|_| Slot::new(ContainerReport::waiting("ContainerCreating", None)))
            .collect(),
        failed_reason: pod_ip.is_empty().then(|| {
            (
                "OutOfPodIPs".to_owned(),
                "no free pod IP on this node".to_owned(),
            )
        }),
        agent_stopping: false,
        last_patched: None,
        last_warning: None,
    };
    let stop = if terminal {
        // Already finished (before an agent restart): nothing runs; wait for the deletion.
        worker.wait_for_stop(&mut updates, &mut agent_stop).await
    } else {
        worker.live(&mut updates, &mut agent_stop).await
    };
    worker.finish(stop, terminal).await;
    shared.pool.release(&uid);
}

impl Worker {
    fn name(&self) -> String {
        self.pod.metadata.name.clone().unwrap_or_default()
    }

    fn subscribe_reports(&self) -> Vec<watch::Receiver<ContainerReport>> {
        self.init
            .iter()
            .chain(&self.containers)
            .map(|s| s.report.subscribe())
            .collect()
    }

    fn backoff(&self) -> Backoff {
        self.shared.settings.backoff()
    }

    fn stop_of(update: &PodUpdate) -> Option<Stop> {
        let grace = pod_grace(&update.pod);
        if update.gone {
            Some(Stop::Gone { grace })
        } else if update.pod.metadata.deletion_timestamp.is_some() {
            Some(Stop::Deleted { grace })
        } else {
            None
        }
    }

    /// Prepares, initialises and runs the pod; returns when it must stop.
    async fn live(
        &mut self,
        updates: &mut watch::Receiver<PodUpdate>,
        agent_stop: &mut watch::Receiver<bool>,
    ) -> Stop {
        let mut retry = self.backoff().initial;
        let mut resync = tokio::time::interval(Duration::from_secs(5));
        let mut plans: Option<(Vec<ContainerPlan>, Vec<ContainerPlan>)> = None;
        let mut next_init = 0;
        let mut main_started = false;
        loop {
            if let Some(stop) = Self::stop_of(&updates.borrow()) {
                return stop;
            }
            if *agent_stop.borrow() {
                return Stop::AgentStopping {
                    grace: pod_grace(&self.pod),
                };
            }
            if self.failed_reason.is_none() {
                if plans.is_none() {
                    match self.prepare().await {
                        Ok(ready) => plans = Some(ready),
                        Err((slot, error)) => {
                            self.report_plan_error(slot, &error).await;
                        }
                    }
                }
                if let Some((init_plans, main_plans)) = &plans {
                    let (backoff, http) = (self.backoff(), self.shared.http.clone());
                    // Init containers one at a time, each to success; then all containers.
                    while next_init < init_plans.len() {
                        let slot = &mut self.init[next_init];
                        if slot.stop.is_none() {
                            slot.start(init_plans[next_init].clone(), backoff, http.clone());
                        }
                        let report = slot.report();
                        if report.succeeded() {
                            next_init += 1;
                        } else {
                            break;
                        }
                    }
                    if next_init == init_plans.len() && !main_started {
                        for (slot, plan) in self.containers.iter_mut().zip(main_plans) {
                            slot.start(plan.clone(), backoff, http.clone());
                        }
                        main_started = true;
                    }
                }
            }
            // Subscribed before the patch, so a change while it is sent is not missed.
            let mut reports = self.subscribe_reports();
            self.patch_status().await;
            tokio::select! {
                _ = any_changed(&mut reports) => {}
                _ = updates.changed() => {
                    let update = updates.borrow().clone();
                    self.pod = update.pod;
                }
                _ = agent_stop.changed() => {}
                _ = tokio::time::sleep(retry), if plans.is_none() => {
                    retry = (retry * 2).min(self.backoff().max);
                }
                _ = resync.tick() => {}
            }
        }
    }

    /// Waits, with nothing running, until the pod is deleted or the agent stops.
    async fn wait_for_stop(
        &mut self,
        updates: &mut watch::Receiver<PodUpdate>,
        agent_stop: &mut watch::Receiver<bool>,
    ) -> Stop {
        loop {
            if let Some(stop) = Self::stop_of(&updates.borrow()) {
                return stop;
            }
            if *agent_stop.borrow() {
                return Stop::AgentStopping {
                    grace: Duration::ZERO,
                };
            }
            tokio::select! {
                _ = updates.changed() => {
                    let update = updates.borrow().clone();
                    self.pod = update.pod;
                }
                _ = agent_stop.changed() => {}
            }
        }
    }

    /// Stops every container, reports, and for a deleted pod finishes the deletion.
    async fn finish(&mut self, stop: Stop, was_terminal: bool) {
        let (grace, report, delete) = match stop {
            Stop::Deleted { grace } => (grace, !was_terminal, true),
            Stop::Gone { grace } => (grace, false, false),
            Stop::AgentStopping { grace } => (grace, !was_terminal, false),
        };
        self.agent_stopping = matches!(stop, Stop::AgentStopping { .. });
        let running = self
            .init
            .iter()
            .chain(&self.containers)
            .any(|s| s.stop.is_some());
        if running {
            tracing::info!(pod = %self.name(), ?grace, "stopping pod");
            self.event(
                EventType::Normal,
                "Killing",
                "Stopping",
                format!(
                    "Stopping the pod's containers (grace period {}s)",
                    grace.as_secs()
                ),
            )
            .await;
        }
        for slot in self.init.iter_mut().chain(self.containers.iter_mut()) {
            slot.request_stop(grace);
        }
        // The supervisors bound their own stop by the grace period; this only guards
        // against one that never reports back.
        let all_done = async {
            loop {
                let mut reports = self.subscribe_reports();
                if self
                    .init
                    .iter()
                    .chain(&self.containers)
                    .all(|s| s.report().done)
                {
                    return;
                }
                any_changed(&mut reports).await;
            }
        };
        if tokio::time::timeout(grace + Duration::from_secs(10), all_done)
            .await
            .is_err()
        {
            tracing::warn!(pod = %self.name(), "containers did not report their stop in time");
        }
        if report {
            self.patch_status().await;
        }
        if delete {
            let uid = self.pod.metadata.uid.clone();
            let params = DeleteParams {
                grace_period_seconds: Some(0),
                preconditions: Some(Preconditions {
                    uid,
                    resource_version: None,
                }),
                ..DeleteParams::default()
            };
            match self.api.delete(&self.name(), &params).await {
                Ok(_) => tracing::info!(pod = %self.name(), "pod deleted"),
                // Gone already, or the name now belongs to another pod (UID precondition).
                Err(kube::Error::Api(e)) if e.code == 404 || e.code == 409 => {}
                Err(error) => tracing::warn!(pod = %self.name(), %error, "final delete failed"),
            }
        }
    }

    /// Fetches what the environments refer to and plans every container; on failure says
    /// which slot (init containers first) cannot start.
    async fn prepare(
        &self,
    ) -> Result<(Vec<ContainerPlan>, Vec<ContainerPlan>), (usize, PlanError)> {
        let spec = self.pod.spec.clone().unwrap_or_default();
        let init_specs = spec.init_containers.clone().unwrap_or_default();
        let all = init_specs.iter().chain(&spec.containers);
        let sources = self.fetch_sources(all).await.map_err(|message| {
            (
                0,
                PlanError {
                    reason: "CreateContainerConfigError",
                    message,
                },
            )
        })?;
        let settings = &self.shared.settings;
        let paths = PodPaths::new(&settings.root_dir, &settings.log_dir(), &self.pod);
        if let Err(error) = std::fs::create_dir_all(&paths.log_dir) {
            let message = format!("cannot create {}: {error}", paths.log_dir.display());
            return Err((
                0,
                PlanError {
                    reason: "CreateContainerError",
                    message,
                },
            ));
        }
        let policy = RestartPolicy::parse(spec.restart_policy.as_deref());
        let cx = |policy: RestartPolicy| PlanContext {
            pod: &self.pod,
            pod_ip: self.pod_ip.clone(),
            host_ip: crate::HOST_IP.to_owned(),
            bin_dir: &settings.bin_dir,
            paths: &paths,
            sources: &sources,
            policy,
            termination_grace: pod_grace(&self.pod),
        };
        let mut init = Vec::new();
        for (i, c) in init_specs.iter().enumerate() {
            init.push(plan::plan(c, &cx(policy.for_init())).map_err(|e| (i, e))?);
        }
        let mut main = Vec::new();
        for (i, c) in spec.containers.iter().enumerate() {
            let planned = plan::plan(c, &cx(policy)).map_err(|e| (init_specs.len() + i, e))?;
            if let Err(error) = std::fs::create_dir_all(&planned.launch.working_dir) {
                let message = format!(
                    "cannot create {}: {error}",
                    planned.launch.working_dir.display()
                );
                return Err((
                    init_specs.len() + i,
                    PlanError {
                        reason: "CreateContainerError",
                        message,
                    },
                ));
            }
            main.push(planned);
        }
        for planned in &init {
            if let Err(error) = std::fs::create_dir_all(&planned.launch.working_dir) {
                let message = format!(
                    "cannot create {}: {error}",
                    planned.launch.working_dir.display()
                );
                return Err((
                    0,
                    PlanError {
                        reason: "CreateContainerError",
                        message,
                    },
                ));
            }
        }
        Ok((init, main))
    }

    async fn fetch_sources<'a>(
        &self,
        containers: impl IntoIterator<Item = &'a k8s_openapi::api::core::v1::Container>,
    ) -> Result<Sources, String> {
        let (config_maps, secrets) = env::referenced_names(containers);
        let namespace = self.pod.metadata.namespace.clone().unwrap_or_default();
        let client = &self.shared.client;
        let mut sources = Sources::default();
        let config_map_api: Api<ConfigMap> = Api::namespaced(client.clone(), &namespace);
        for name in config_maps {
            let found = config_map_api
                .get_opt(&name)
                .await
                .map_err(|e| format!("cannot read configmap {name}: {e}"))?;
            sources
                .config_maps
                .insert(name, found.map(|c| c.data.unwrap_or_default()));
        }
        let secret_api: Api<Secret> = Api::namespaced(client.clone(), &namespace);
        for name in secrets {
            let found = secret_api
                .get_opt(&name)
                .await
                .map_err(|e| format!("cannot read secret {name}: {e}"))?;
            let data = found.map(|s| {
                s.data
                    .unwrap_or_default()
                    .into_iter()
                    .map(|(k, v)| (k, v.0))
                    .collect::<BTreeMap<_, _>>()
            });
            sources.secrets.insert(name, data);
        }
        Ok(sources)
    }

    async fn report_plan_error(&mut self, slot: usize, error: &PlanError) {
        let target = if slot < self.init.len() {
            &self.init[slot]
        } else {
            &self.containers[slot - self.init.len()]
        };
        target.report.send_modify(|r| {
            *r = ContainerReport::waiting(error.reason, Some(error.message.clone()))
        });
        if self.last_warning.as_deref() != Some(error.message.as_str()) {
            tracing::warn!(pod = %self.name(), reason = error.reason, message = %error.message, "container cannot start");
            self.last_warning = Some(error.message.clone());
            self.event(
                EventType::Warning,
                error.reason,
                "Starting",
                error.message.clone(),
            )
            .await;
        }
    }

    async fn event(&self, type_: EventType, reason: &str, action: &str, note: String) {
        let event = Event {
            type_,
            reason: reason.to_owned(),
            note: Some(note),
            action: action.to_owned(),
            secondary: None,
        };
        let reference = self.pod.object_ref(&());
        if let Err(error) = self.shared.recorder.publish(&event, &reference).await {
            tracing::debug!(%error, "event not recorded");
        }
    }

    /// Patches `pods/status` when the composed status differs from the last one sent.
    async fn patch_status(&mut self) {
        let init: Vec<_> = self.init.iter().map(Slot::report).collect();
        let containers: Vec<_> = self.containers.iter().map(Slot::report).collect();
        let observed = Observed {
            pod: &self.pod,
            pod_ip: self.pod_ip.clone(),
            host_ip: crate::HOST_IP.to_owned(),
            start_time: self.start_time,
            init: &init,
            containers: &containers,
            failed_reason: self.failed_reason.clone(),
            agent_stopping: self.agent_stopping,
        };
        let status = status::compose(&observed, &mut self.conditions, Utc::now());
        let body = serde_json::json!({ "status": status });
        if self.last_patched.as_ref() == Some(&body) {
            return;
        }
        match self
            .api
            .patch_status(&self.name(), &PatchParams::default(), &Patch::Merge(&body))
            .await
        {
            Ok(_) => self.last_patched = Some(body),
            Err(error) => {
                tracing::warn!(pod = %self.name(), %error, "status patch failed; retrying")
            }
        }
    }
}

/// Resolves when any of the reports changes after it was subscribed.
async fn any_changed(receivers: &mut [watch::Receiver<ContainerReport>]) {
    if receivers.is_empty() {
        return std::future::pending().await;
    }
    let changes = receivers.iter_mut().map(|rx| Box::pin(rx.changed()));
    let _ = futures::future::select_all(changes).await;
}
