//! A real API server (from `SURGE_TEST_KUBECONFIG`), a fresh namespace per test, and a node
//! agent of the test's own (its own Node name, pod range, folders), run in-process.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use ipnet::Ipv4Net;
use k8s_openapi::api::core::v1::{Namespace, Node, Pod};
use kube::api::{DeleteParams, ListParams, PostParams};
use kube::{Api, Client};
use node_agent::Settings;
use serde_json::json;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// The image the test workload answers to under the agent's bin folder.
pub const WORKLOAD_IMAGE: &str = "example.local/surge/workload:test";

const HOW_TO_START: &str = "SURGE_TEST_KUBECONFIG must name an admin kubeconfig of a running \
kube-apiserver (with kube-controller-manager running at least the deployment, replicaset and \
garbage-collector controllers). Start the local control plane with the repository's \
infrastructure scripts, then export SURGE_TEST_KUBECONFIG=<its admin kubeconfig>";

pub async fn client() -> Client {
    let path = std::env::var_os("SURGE_TEST_KUBECONFIG")
        .unwrap_or_else(|| panic!("SURGE_TEST_KUBECONFIG is not set. {HOW_TO_START}"));
    let kubeconfig = kube::config::Kubeconfig::read_from(&path)
        .unwrap_or_else(|e| panic!("cannot read {path:?}: {e}. {HOW_TO_START}"));
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
        .await
        .unwrap_or_else(|e| panic!("kubeconfig {path:?} is not usable: {e}"));
    let client = Client::try_from(config).expect("client from kubeconfig");
    client.apiserver_version().await.unwrap_or_else(|e| {
        panic!("the API server in {path:?} does not answer: {e}. {HOW_TO_START}")
    });
    client
}

fn short_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..10].to_owned()
}

/// A python3 interpreter's real path (a shim may need variables the agent does not pass).
fn python() -> PathBuf {
    let output = std::process::Command::new("python3")
        .args(["-c", "import sys; print(sys.executable)"])
        .output()
        .expect("python3 is needed for the test workload; install it (apt-get install python3)");
    assert!(output.status.success(), "python3 does not run");
    PathBuf::from(String::from_utf8_lossy(&output.stdout).trim())
}

/// A node agent running in this test, with its own Node and a namespace for the test's objects.
pub struct TestNode {
    pub client: Client,
    pub node_name: String,
    pub namespace: String,
    pub pod_cidr: Ipv4Net,
    pub dir: PathBuf,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<anyhow::Result<()>>>,
}

impl TestNode {
    pub async fn start() -> TestNode {
        let client = client().await;
        let id = short_id();
        let dir = std::env::temp_dir().join(format!("node-agent-test-{id}"));
        let bin_dir = dir.join("bin");
        std::fs::create_dir_all(&bin_dir).expect("test folder");
        let workload = bin_dir.join("workload");
        let script = format!("#!{}\n{}", python().display(), include_str!("workload.py"));
        std::fs::write(&workload, script).expect("write workload");
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&workload, std::fs::Permissions::from_mode(0o755)).expect("chmod");

        // A /24 of its own per test agent, so agents of concurrent tests never share an IP.
        let bytes = uuid::Uuid::new_v4().into_bytes();
        let pod_cidr: Ipv4Net = format!("127.{}.{}.0/24", 2 + bytes[0] % 250, bytes[1])
            .parse()
            .expect("cidr");
        let node_name = format!("test-{id}");
        let namespace = format!("na-{id}");
        let namespaces: Api<Namespace> = Api::all(client.clone());
        let ns: Namespace =
            serde_json::from_value(json!({"metadata": {"name": namespace}})).unwrap();
        namespaces
            .create(&PostParams::default(), &ns)
            .await
            .expect("create namespace");

        let settings = Settings {
            node_name: node_name.clone(),
            bin_dir,
            root_dir: dir.join("root"),
            log_dir: None,
            pod_cidr,
            max_pods: 110,
            heartbeat_seconds: 2,
            restart_backoff_ms: 500,
            restart_backoff_max_ms: 2_000,
            // Test nodes must not attract other workloads' pods: the tests bind by nodeName.
            taints: vec![k8s_openapi::api::core::v1::Taint {
                key: "node-agent.surge/test".into(),
                value: Some(node_name.clone()),
                effect: "NoSchedule".into(),
                time_added: None,
            }],
            kubeconfig: None,
        };
        let (stop, stopped) = oneshot::channel();
        let agent_client = client.clone();
        let task = tokio::spawn(async move {
            node_agent::agent::run(settings, agent_client, async {
                let _ = stopped.await;
            })
            .await
        });
        let node = TestNode {
            client,
            node_name,
            namespace,
            pod_cidr,
            dir,
            stop: Some(stop),
            task: Some(task),
        };
        node.wait_for_node(|n| node_ready(n) == Some(true), "Ready=True")
            .await;
        node
    }

    pub fn pods(&self) -> Api<Pod> {
        Api::namespaced(self.client.clone(), &self.namespace)
    }

    pub fn api<K>(&self) -> Api<K>
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>
            + Clone
            + serde::de::DeserializeOwned
            + std::fmt::Debug,
        K::DynamicType: Default,
    {
        Api::namespaced(self.client.clone(), &self.namespace)
    }

    pub fn marker_dir(&self) -> PathBuf {
        let dir = self.dir.join("markers");
        std::fs::create_dir_all(&dir).expect("marker folder");
        dir
    }

    /// A container running the workload's HTTP server on its pod IP, port 8000.
    pub fn serving_container(&self, extra_env: serde_json::Value) -> serde_json::Value {
        let mut env = vec![
            json!({"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}),
            json!({"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}}),
            json!({"name": "PORT", "value": "8000"}),
            json!({"name": "TERM_MARKER", "value": format!("{}/$(POD_NAME).term", self.marker_dir().display())}),
        ];
        env.extend(extra_env.as_array().cloned().unwrap_or_default());
        json!({
            "name": "web",
            "image": WORKLOAD_IMAGE,
            "args": ["serve"],
            "ports": [{"name": "http", "containerPort": 8000}],
            "env": env,
            "readinessProbe": {"httpGet": {"path": "/ready", "port": "http"}, "periodSeconds": 1},
        })
    }

    pub async fn create_pod(&self, spec: serde_json::Value) -> Pod {
        let pod: Pod = serde_json::from_value(spec).expect("pod manifest");
        self.pods()
            .create(&PostParams::default(), &pod)
            .await
            .expect("create pod")
    }

    pub async fn wait_for_node(&self, done: impl Fn(&Node) -> bool, what: &str) -> Node {
        let nodes: Api<Node> = Api::all(self.client.clone());
        let mut last = None;
        for _ in 0..300 {
            if let Some(node) = nodes.get_opt(&self.node_name).await.expect("get node") {
                if done(&node) {
                    return node;
                }
                last = Some(node);
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        panic!(
            "node {} never became {what}; last seen: {:?}",
            self.node_name,
            last.map(|n| n.status)
        );
    }

    /// Polls the pod until `done` holds (bounded, so a broken agent fails the test).
    pub async fn wait_for_pod(&self, name: &str, done: impl Fn(&Pod) -> bool, what: &str) -> Pod {
        let mut last = None;
        for _ in 0..450 {
            if let Some(pod) = self.pods().get_opt(name).await.expect("get pod") {
                if done(&pod) {
                    return pod;
                }
                last = Some(pod);
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        panic!(
            "pod {name} never became {what}; last status: {:#?}",
            last.map(|p| p.status)
        );
    }

    pub async fn wait_for_pod_gone(&self, name: &str) {
        for _ in 0..450 {
            if self.pods().get_opt(name).await.expect("get pod").is_none() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        panic!("pod {name} was never deleted");
    }

    /// Pods matching `selector` that are Running and Ready.
    pub async fn ready_pods(&self, selector: &str) -> Vec<Pod> {
        self.pods()
            .list(&ListParams::default().labels(selector))
            .await
            .expect("list pods")
            .items
            .into_iter()
            .filter(|p| p.metadata.deletion_timestamp.is_none() && pod_ready(p))
            .collect()
    }

    /// Stops the agent (as its SIGTERM would), after the test's objects are gone, and
    /// removes the Node.
    pub async fn stop(mut self) -> Node {
        let namespaces: Api<Namespace> = Api::all(self.client.clone());
        let _ = namespaces
            .delete(&self.namespace, &DeleteParams::default())
            .await;
        // Let the agent finish the namespace's pods, so none stays Terminating on a dead node.
        for _ in 0..150 {
            let left = self
                .pods()
                .list(&ListParams::default())
                .await
                .map(|l| l.items.len())
                .unwrap_or(0);
            if left == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let node = self.stop_agent_only().await;
        let _ = std::fs::remove_dir_all(&self.dir);
        node
    }

    /// Stops the agent with whatever still runs on it; returns the Node as it was left.
    pub async fn stop_agent_only(&mut self) -> Node {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await
                .expect("agent task")
                .expect("agent stopped cleanly");
        }
        let nodes: Api<Node> = Api::all(self.client.clone());
        let node = nodes.get(&self.node_name).await.expect("node after stop");
        let _ = nodes
            .delete(&self.node_name, &DeleteParams::default())
            .await;
        node
    }
}

pub fn node_ready(node: &Node) -> Option<bool> {
    node.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == "Ready")
        .map(|c| c.status == "True")
}

pub fn condition(pod: &Pod, kind: &str) -> Option<String> {
    pod.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == kind)
        .map(|c| c.status.clone())
}

pub fn pod_ready(pod: &Pod) -> bool {
    phase(pod) == Some("Running") && condition(pod, "Ready").as_deref() == Some("True")
}

pub fn phase(pod: &Pod) -> Option<&str> {
    pod.status.as_ref()?.phase.as_deref()
}

pub fn restart_count(pod: &Pod) -> i32 {
    pod.status
        .as_ref()
        .and_then(|s| s.container_statuses.as_ref())
        .and_then(|c| c.first())
        .map(|c| c.restart_count)
        .unwrap_or(0)
}

pub fn pod_ip(pod: &Pod) -> String {
    pod.status
        .as_ref()
        .and_then(|s| s.pod_ip.clone())
        .expect("pod IP")
}

/// GET http://<pod IP>:8000<path> from the test, as JSON.
pub async fn get_json(pod: &Pod, path: &str) -> serde_json::Value {
    let url = format!("http://{}:8000{path}", pod_ip(pod));
    reqwest::get(&url)
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"))
        .json()
        .await
        .unwrap_or_else(|e| panic!("GET {url}: not JSON: {e}"))
}

pub fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}
