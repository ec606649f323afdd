//! The pod status the agent reports: phase, conditions with their transition times, and a
//! status for each (init) container, composed from the containers' reports. Pure, so the
//! rules (when a pod is Running, Failed, Ready) are unit-tested.

use std::collections::HashMap;

use k8s_openapi::api::core::v1::{
    ContainerState, ContainerStateRunning, ContainerStateTerminated, ContainerStateWaiting,
    ContainerStatus, HostIP, Pod, PodCondition, PodIP, PodStatus,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::chrono::{DateTime, Utc};

use crate::container::{ContainerReport, State, Terminated};

/// Remembers when each condition last changed, so `lastTransitionTime` moves only on a change.
#[derive(Debug, Default, Clone)]
pub struct Conditions {
    seen: HashMap<&'static str, (bool, DateTime<Utc>)>,
}

impl Conditions {
    fn condition(
        &mut self,
        kind: &'static str,
        status: bool,
        reason: Option<&str>,
        now: DateTime<Utc>,
    ) -> PodCondition {
        let entry = self.seen.entry(kind).or_insert((status, now));
        if entry.0 != status {
            *entry = (status, now);
        }
        PodCondition {
            type_: kind.to_owned(),
            status: if status { "True" } else { "False" }.to_owned(),
            last_transition_time: Some(Time(entry.1)),
            reason: if status {
                None
            } else {
                reason.map(str::to_owned)
            },
            ..Default::default()
        }
    }
}

/// Where the pod stands, as the pod worker knows it.
#[derive(Debug, Clone)]
pub struct Observed<'a> {
    pub pod: &'a Pod,
    pub pod_ip: String,
    pub host_ip: String,
    pub start_time: DateTime<Utc>,
    /// One report per init container, in spec order.
    pub init: &'a [ContainerReport],
    /// One report per container, in spec order.
    pub containers: &'a [ContainerReport],
    /// The pod will run no container (again): it failed to start, or it is being stopped.
    pub failed_reason: Option<(String, String)>,
    /// The agent stops: the containers are stopped, but the pod has not finished, so its
    /// phase stays what it was (as for a pod on a node that went away).
    pub agent_stopping: bool,
}

fn terminated_state(t: &Terminated) -> ContainerState {
    ContainerState {
        terminated: Some(ContainerStateTerminated {
            exit_code: t.exit.code,
            signal: t.exit.signal,
            reason: Some(t.reason.clone()),
            message: t.message.clone(),
            started_at: t.started_at.map(Time),
            finished_at: Some(Time(t.finished_at)),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn container_status(name: &str, image: &str, report: &ContainerReport) -> ContainerStatus {
    let (state, container_id) = match &report.state {
        State::Waiting { reason, message } => (
            ContainerState {
                waiting: Some(ContainerStateWaiting {
                    reason: Some(reason.clone()),
                    message: message.clone(),
                }),
                ..Default::default()
            },
            None,
        ),
        State::Running { started_at, pid } => (
            ContainerState {
                running: Some(ContainerStateRunning {
                    started_at: Some(Time(*started_at)),
                }),
                ..Default::default()
            },
            Some(format!("process://{pid}")),
        ),
        State::Terminated(t) => (terminated_state(t), None),
    };
    ContainerStatus {
        name: name.to_owned(),
        image: image.to_owned(),
        image_id: String::new(),
        container_id,
        ready: report.ready,
        started: Some(report.started),
        restart_count: report.restart_count,
        state: Some(state),
        last_state: report.last_termination.as_ref().map(terminated_state),
        ..Default::default()
    }
}

fn phase(observed: &Observed<'_>) -> &'static str {
    if observed.failed_reason.is_some() {
        return "Failed";
    }
    let init_failed = observed.init.iter().any(|r| r.done && !r.succeeded());
    if init_failed {
        return "Failed";
    }
    let initialized = observed.init.iter().all(ContainerReport::succeeded);
    if !initialized {
        return "Pending";
    }
    let containers = observed.containers;
    if !observed.agent_stopping && !containers.is_empty() && containers.iter().all(|r| r.done) {
        return if containers.iter().all(ContainerReport::succeeded) {
            "Succeeded"
        } else {
            "Failed"
        };
    }
    let under_way = containers.iter().any(|r| {
        matches!(r.state, State::Running { .. } | State::Terminated(_))
            || r.last_termination.is_some()
    });
    if under_way {
        "Running"
    } else {
        "Pending"
    }
}

/// The status to patch.
pub fn compose(
    observed: &Observed<'_>,
    conditions: &mut Conditions,
    now: DateTime<Utc>,
) -> PodStatus {
    let spec = observed.pod.spec.as_ref();
    let init_specs = spec
        .and_then(|s| s.init_containers.as_deref())
        .unwrap_or_default();
    let specs = spec.map(|s| s.containers.as_slice()).unwrap_or_default();
    let phase = phase(observed);
    let initialized = observed.init.iter().all(ContainerReport::succeeded);
    let running = phase == "Running";
    let containers_ready = running && observed.containers.iter().all(|r| r.ready);
    let statuses = |specs: &[k8s_openapi::api::core::v1::Container],
                    reports: &[ContainerReport]| {
        specs
            .iter()
            .zip(reports)
            .map(|(c, r)| container_status(&c.name, c.image.as_deref().unwrap_or_default(), r))
            .collect::<Vec<_>>()
    };
    let not_ready = if initialized {
        "ContainersNotReady"
    } else {
        "PodNotInitialized"
    };
    PodStatus {
        phase: Some(phase.to_owned()),
        host_ip: Some(observed.host_ip.clone()),
        host_ips: Some(vec![HostIP {
            ip: observed.host_ip.clone(),
        }]),
        pod_ip: Some(observed.pod_ip.clone()),
        pod_ips: Some(vec![PodIP {
            ip: observed.pod_ip.clone(),
        }]),
        start_time: Some(Time(observed.start_time)),
        reason: observed
            .failed_reason
            .as_ref()
            .map(|(reason, _)| reason.clone()),
        message: observed
            .failed_reason
            .as_ref()
            .map(|(_, message)| message.clone()),
        conditions: Some(vec![
            conditions.condition("PodScheduled", true, None, now),
            conditions.condition(
                "Initialized",
                initialized,
                Some("ContainersNotInitialized"),
                now,
            ),
            conditions.condition(
                "ContainersReady",
                containers_ready,
                Some("ContainersNotReady"),
                now,
            ),
            conditions.condition("Ready", containers_ready, Some(not_ready), now),
        ]),
        init_container_statuses: (!init_specs.is_empty())
            .then(|| statuses(init_specs, observed.init)),
        container_statuses: Some(statuses(specs, observed.containers)),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::process::Exit;
    use serde_json::json;

    fn pod() -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": "p", "namespace": "n"},
            "spec": {"initContainers": [{"name": "migrate", "image": "x/migrate:1"}],
                     "containers": [{"name": "app", "image": "x/app:1"}]}
        }))
        .unwrap()
    }

    fn running(ready: bool) -> ContainerReport {
        ContainerReport {
            state: State::Running {
                started_at: Utc::now(),
                pid: 42,
            },
            last_termination: None,
            restart_count: 0,
            started: true,
            ready,
            done: false,
        }
    }

    fn terminated(code: i32) -> ContainerReport {
        ContainerReport {
            state: State::Terminated(Terminated {
                exit: Exit { code, signal: None },
                reason: if code == 0 { "Completed" } else { "Error" }.into(),
                message: None,
                started_at: None,
                finished_at: Utc::now(),
            }),
            last_termination: None,
            restart_count: 0,
            started: false,
            ready: false,
            done: true,
        }
    }

    fn status(
        init: &[ContainerReport],
        containers: &[ContainerReport],
        conditions: &mut Conditions,
    ) -> PodStatus {
        let pod = pod();
        let observed = Observed {
            pod: &pod,
            pod_ip: "127.1.0.1".into(),
            host_ip: "127.0.0.1".into(),
            start_time: Utc::now(),
            init,
            containers,
            failed_reason: None,
            agent_stopping: false,
        };
        compose(&observed, conditions, Utc::now())
    }

    fn condition(status: &PodStatus, kind: &str) -> PodCondition {
        status
            .conditions
            .iter()
            .flatten()
            .find(|c| c.type_ == kind)
            .cloned()
            .unwrap()
    }

    #[test]
    fn a_pod_is_pending_until_its_init_containers_succeed() {
        let mut c = Conditions::default();
        let s = status(
            &[running(false)],
            &[ContainerReport::waiting("PodInitializing", None)],
            &mut c,
        );
        assert_eq!(s.phase.as_deref(), Some("Pending"));
        assert_eq!(condition(&s, "Initialized").status, "False");
        assert_eq!(
            condition(&s, "Ready").reason.as_deref(),
            Some("PodNotInitialized")
        );
    }

    #[test]
    fn a_running_pod_is_ready_when_every_container_is() {
        let mut c = Conditions::default();
        let s = status(&[terminated(0)], &[running(false)], &mut c);
        assert_eq!(s.phase.as_deref(), Some("Running"));
        assert_eq!(condition(&s, "Ready").status, "False");
        let before = condition(&s, "Initialized").last_transition_time;
        std::thread::sleep(std::time::Duration::from_millis(5));
        let s = status(&[terminated(0)], &[running(true)], &mut c);
        assert_eq!(condition(&s, "Ready").status, "True");
        assert_eq!(condition(&s, "ContainersReady").status, "True");
        assert_eq!(
            condition(&s, "Initialized").last_transition_time,
            before,
            "unchanged condition keeps its time"
        );
        assert_eq!(s.pod_ip.as_deref(), Some("127.1.0.1"));
        let statuses = s.container_statuses.unwrap();
        assert!(statuses[0].ready);
        assert!(statuses[0].state.as_ref().unwrap().running.is_some());
    }

    #[test]
    fn finished_containers_decide_succeeded_or_failed() {
        let mut c = Conditions::default();
        assert_eq!(
            status(&[terminated(0)], &[terminated(0)], &mut c)
                .phase
                .as_deref(),
            Some("Succeeded")
        );
        let failed = status(&[terminated(0)], &[terminated(3)], &mut c);
        assert_eq!(failed.phase.as_deref(), Some("Failed"));
        let state = failed.container_statuses.unwrap()[0].state.clone().unwrap();
        assert_eq!(state.terminated.unwrap().exit_code, 3);
        assert_eq!(
            status(
                &[terminated(1)],
                &[ContainerReport::waiting("PodInitializing", None)],
                &mut c
            )
            .phase
            .as_deref(),
            Some("Failed")
        );
    }
}
