//! The Node object: registered at start (labels, capacity from this machine, no taints),
//! kept Ready by heartbeats, and marked NotReady when the agent stops. A Lease in
//! `kube-node-lease` is not kept: nothing here runs the node lifecycle controller that reads it.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Node, NodeAddress, NodeCondition, NodeStatus, NodeSystemInfo};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use k8s_openapi::chrono::{DateTime, Utc};
use kube::api::{Patch, PatchParams, PostParams};
use kube::Api;

use crate::Settings;

/// The Node this agent registered.
pub struct NodeRegistration {
    api: Api<Node>,
    name: String,
    status_base: NodeStatus,
    ready_since: DateTime<Utc>,
}

fn read_trimmed(path: &str) -> String {
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_owned())
        .unwrap_or_default()
}

/// Memory of this machine as a Kubernetes quantity (`MemTotal` is in KiB).
fn memory() -> Quantity {
    let kib = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|text| {
            text.lines()
                .find_map(|line| line.strip_prefix("MemTotal:"))
                .and_then(|rest| {
                    rest.trim()
                        .trim_end_matches("kB")
                        .trim()
                        .parse::<u64>()
                        .ok()
                })
        })
        .unwrap_or(0);
    Quantity(format!("{kib}Ki"))
}

fn os_image() -> String {
    std::fs::read_to_string("/etc/os-release")
        .ok()
        .and_then(|text| {
            text.lines()
                .find_map(|l| l.strip_prefix("PRETTY_NAME="))
                .map(|v| v.trim_matches('"').to_owned())
        })
        .unwrap_or_else(|| "Linux".to_owned())
}

/// `GOARCH` naming, which `kubernetes.io/arch` and `nodeInfo.architecture` use.
fn architecture() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

fn base_status(settings: &Settings) -> NodeStatus {
    let cpus = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let resources = BTreeMap::from([
        ("cpu".to_owned(), Quantity(cpus.to_string())),
        ("memory".to_owned(), memory()),
        ("pods".to_owned(), Quantity(settings.max_pods.to_string())),
    ]);
    let agent_version = format!("node-agent/{}", env!("CARGO_PKG_VERSION"));
    NodeStatus {
        capacity: Some(resources.clone()),
        allocatable: Some(resources),
        addresses: Some(vec![
            NodeAddress {
                type_: "InternalIP".into(),
                address: crate::HOST_IP.into(),
            },
            NodeAddress {
                type_: "Hostname".into(),
                address: settings.node_name.clone(),
            },
        ]),
        node_info: Some(NodeSystemInfo {
            architecture: architecture().into(),
            boot_id: read_trimmed("/proc/sys/kernel/random/boot_id"),
            machine_id: read_trimmed("/etc/machine-id"),
            system_uuid: read_trimmed("/etc/machine-id"),
            kernel_version: read_trimmed("/proc/sys/kernel/osrelease"),
            os_image: os_image(),
            operating_system: "linux".into(),
            container_runtime_version: "process://local".into(),
            kubelet_version: agent_version.clone(),
            kube_proxy_version: String::new(),
            ..Default::default()
        }),
        ..Default::default()
    }
}

impl NodeRegistration {
    /// Creates the Node if it does not exist, then reports it Ready.
    pub async fn register(client: kube::Client, settings: &Settings) -> anyhow::Result<Self> {
        let api: Api<Node> = Api::all(client);
        let name = settings.node_name.clone();
        let labels = BTreeMap::from([
            ("kubernetes.io/hostname".to_owned(), name.clone()),
            ("kubernetes.io/os".to_owned(), "linux".to_owned()),
            ("kubernetes.io/arch".to_owned(), architecture().to_owned()),
        ]);
        let node = Node {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                labels: Some(labels),
                ..Default::default()
            },
            spec: Some(k8s_openapi::api::core::v1::NodeSpec {
                taints: (!settings.taints.is_empty()).then(|| settings.taints.clone()),
                ..Default::default()
            }),
            ..Default::default()
        };
        match api.create(&PostParams::default(), &node).await {
            Ok(_) => tracing::info!(node = %name, "node registered"),
            Err(kube::Error::Api(e)) if e.code == 409 => {
                tracing::info!(node = %name, "node already registered")
            }
            Err(error) => {
                return Err(
                    anyhow::Error::new(error).context(format!("cannot register node {name}"))
                )
            }
        }
        let registration = NodeRegistration {
            api,
            name,
            status_base: base_status(settings),
            ready_since: Utc::now(),
        };
        registration.report(true).await?;
        Ok(registration)
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Patches the Node's status with a fresh heartbeat.
    pub async fn report(&self, ready: bool) -> anyhow::Result<()> {
        let now = Time(Utc::now());
        let transition = if ready {
            Time(self.ready_since)
        } else {
            now.clone()
        };
        let condition = |kind: &str, status: bool, reason: &str, message: &str| NodeCondition {
            type_: kind.to_owned(),
            status: if status { "True" } else { "False" }.to_owned(),
            reason: Some(reason.to_owned()),
            message: Some(message.to_owned()),
            last_heartbeat_time: Some(now.clone()),
            last_transition_time: Some(transition.clone()),
        };
        let mut status = self.status_base.clone();
        status.conditions = Some(vec![
            if ready {
                condition(
                    "Ready",
                    true,
                    "NodeAgentReady",
                    "node agent is running pods as processes",
                )
            } else {
                condition("Ready", false, "NodeAgentStopped", "node agent stopped")
            },
            condition(
                "MemoryPressure",
                false,
                "NodeAgentNoPressure",
                "not measured",
            ),
            condition("DiskPressure", false, "NodeAgentNoPressure", "not measured"),
            condition("PIDPressure", false, "NodeAgentNoPressure", "not measured"),
        ]);
        let body = serde_json::json!({ "status": status });
        self.api
            .patch_status(&self.name, &PatchParams::default(), &Patch::Merge(&body))
            .await
            .map_err(|e| {
                anyhow::Error::new(e).context(format!("cannot patch status of node {}", self.name))
            })?;
        Ok(())
    }
}
