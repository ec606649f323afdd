//! node-agent: a kubelet for processes.
//!
//! It registers a `Node` with a real API server and runs every pod the scheduler binds to
//! that Node as local processes, reporting their status back, so the real Deployment,
//! ReplicaSet and HorizontalPodAutoscaler controllers drive them as they would drive a
//! kubelet's containers.
//!
//! - [`agent`]: the watch loop over `spec.nodeName=<node>`, one worker per pod, shutdown.
//! - [`node`]: the Node object, its capacity and heartbeats, NotReady on stop.
//! - [`pod`]: one pod from binding to the final DELETE (init containers, containers, status).
//! - [`container`]: one container's process, probes, restarts and back-off.
//! - [`plan`]: a container spec → what to run ([`image`], [`env`], `command`/`args`).
//! - [`probe`], [`process`], [`status`], [`pod_ip`], [`settings`]: the parts those use.
//!
//! # What it does
//! - Pod IPs from a loopback range (default 127.1.0.0/16; all of 127.0.0.0/8 routes to
//!   `lo`), one per live pod, reported as `status.podIP`/`podIPs`; `hostIP` is 127.0.0.1.
//!   Each pod listens on its containerPort at its own address.
//! - Image → binary: `<anything>/<name>:<tag>` runs `<bin-dir>/<name>`; an image without
//!   such a binary leaves the container waiting with reason `ErrImagePull` and a Warning event.
//! - `command`/`args` with Kubernetes semantics and `$(VAR)` expansion; env from `value`,
//!   `fieldRef`, `configMapKeyRef`, `secretKeyRef`, `envFrom` (prefix, `optional`).
//! - Each container is its own process group, with stdout and stderr appended to
//!   `<log-dir>/<namespace>_<pod>_<uid>/<container>.log`.
//! - httpGet/tcpSocket/exec probes (startup, readiness, liveness) with the kubelet's timing
//!   fields; restarts by `restartPolicy` with a doubling back-off; liveness failure restarts.
//! - Deletion: preStop (`sleep`, `httpGet`, `exec`), SIGTERM to the group, the grace period,
//!   SIGKILL, then DELETE with `gracePeriodSeconds=0` and the pod's UID as precondition.
//! - On its own shutdown it stops its pods' processes gracefully and marks the Node NotReady.
//!
//! # What it does not do (a kubelet does)
//! - No isolation: no cgroups, so `resources.requests/limits` are not enforced (the
//!   scheduler still counts requests against the Node's allocatable); no namespaces, no
//!   `securityContext` (user, read-only root, capabilities) — processes run as the agent's user.
//! - No images: nothing is pulled or unpacked; `imagePullPolicy` and pull secrets are ignored.
//! - No volumes: `volumeMounts` are not mounted (no emptyDir, ConfigMap, Secret, projected
//!   or persistent volumes); a container's working folder is its own folder under
//!   `<root-dir>/pods/<uid>/` unless `workingDir` names one.
//! - No Services inside pods: no `KUBERNETES_SERVICE_*` or service-link variables, no DNS,
//!   no kube-proxy; Endpoints reject loopback pod IPs, so Services do not route to these pods.
//! - No exec/attach/port-forward/logs API (read the log files), no metrics or stats API,
//!   no static pods, no sidecar init containers (`restartPolicy: Always` on an init
//!   container), no grpc probes, no https probes, no `postStart` hook, no `resourceFieldRef`,
//!   no Lease heartbeat, no eviction, no pod resize, no node-pressure signals.
//! - Processes of a pod that outlive a crash of the agent itself (SIGKILL) are not adopted
//!   when it starts again; a pod still bound and not finished is started afresh.

pub mod agent;
pub mod container;
pub mod env;
pub mod image;
pub mod node;
pub mod plan;
pub mod pod;
pub mod pod_ip;
pub mod probe;
pub mod process;
pub mod settings;
pub mod status;

pub use settings::Settings;

/// Every pod's host IP: the node is this machine's loopback.
pub const HOST_IP: &str = "127.0.0.1";

/// A client from `--kubeconfig`, or from the usual places when it is not given.
pub async fn client(settings: &Settings) -> anyhow::Result<kube::Client> {
    let config = match &settings.kubeconfig {
        Some(path) => {
            let kubeconfig = kube::config::Kubeconfig::read_from(path)
                .map_err(|e| anyhow::anyhow!("cannot read kubeconfig {}: {e}", path.display()))?;
            kube::Config::from_custom_kubeconfig(
                kubeconfig,
                &kube::config::KubeConfigOptions::default(),
            )
            .await?
        }
        None => kube::Config::infer().await?,
    };
    Ok(kube::Client::try_from(config)?)
}
