//! The agent's flags (clap), each with its environment variable.

use std::path::PathBuf;
use std::time::Duration;

use ipnet::Ipv4Net;
use k8s_openapi::api::core::v1::Taint;

use crate::container::Backoff;

#[derive(Debug, Clone, clap::Parser)]
#[command(
    name = "node-agent",
    version,
    about = "Runs the pods bound to a Node as local processes and reports their status to the API server."
)]
pub struct Settings {
    /// Name of the Node to register and run pods for.
    #[arg(long, env = "NODE_AGENT_NODE_NAME", default_value = "local")]
    pub node_name: String,

    /// Folder of binaries: image `<anything>/<name>:<tag>` runs `<bin-dir>/<name>`.
    #[arg(long, env = "NODE_AGENT_BIN_DIR")]
    pub bin_dir: PathBuf,

    /// Folder for the pods' working folders (`pods/<uid>/<container>`).
    #[arg(
        long,
        env = "NODE_AGENT_ROOT_DIR",
        default_value = "/var/tmp/surge-node-agent"
    )]
    pub root_dir: PathBuf,

    /// Folder for container logs (`<namespace>_<pod>_<uid>/<container>.log`); default `<root-dir>/logs`.
    #[arg(long, env = "NODE_AGENT_LOG_DIR")]
    pub log_dir: Option<PathBuf>,

    /// Loopback range the pod IPs come from (inside 127.0.0.0/8, which routes to `lo`).
    #[arg(long, env = "NODE_AGENT_POD_CIDR", default_value = "127.1.0.0/16", value_parser = loopback_cidr)]
    pub pod_cidr: Ipv4Net,

    /// The Node's allocatable pod count.
    #[arg(long, env = "NODE_AGENT_MAX_PODS", default_value_t = 110)]
    pub max_pods: u32,

    /// Seconds between Node heartbeats.
    #[arg(long, env = "NODE_AGENT_HEARTBEAT_SECONDS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..))]
    pub heartbeat_seconds: u64,

    /// First restart back-off of a failed container, in milliseconds (doubles per restart).
    #[arg(long, env = "NODE_AGENT_RESTART_BACKOFF_MS", default_value_t = 10_000)]
    pub restart_backoff_ms: u64,

    /// Longest restart back-off, in milliseconds.
    #[arg(
        long,
        env = "NODE_AGENT_RESTART_BACKOFF_MAX_MS",
        default_value_t = 300_000
    )]
    pub restart_backoff_max_ms: u64,

    /// Taints the Node is registered with, `key=value:Effect` (repeatable), as the kubelet's
    /// flag of the same name; none by default.
    #[arg(long = "register-with-taints", env = "NODE_AGENT_REGISTER_WITH_TAINTS", value_delimiter = ',', value_parser = taint)]
    pub taints: Vec<Taint>,

    /// Kubeconfig to use; default: `KUBECONFIG`, `~/.kube/config`, or the in-cluster config.
    #[arg(long, env = "NODE_AGENT_KUBECONFIG")]
    pub kubeconfig: Option<PathBuf>,
}

fn loopback_cidr(text: &str) -> Result<Ipv4Net, String> {
    let cidr: Ipv4Net = text.parse().map_err(|e| format!("{text:?}: {e}"))?;
    let loopback: Ipv4Net = "127.0.0.0/8".parse().map_err(|e| format!("{e}"))?;
    if !loopback.contains(&cidr) {
        return Err(format!("{cidr} is not inside 127.0.0.0/8"));
    }
    if cidr.hosts().next().is_none() {
        return Err(format!("{cidr} has no host addresses"));
    }
    Ok(cidr.trunc())
}

fn taint(text: &str) -> Result<Taint, String> {
    let (key_value, effect) = text
        .rsplit_once(':')
        .ok_or_else(|| format!("{text:?}: expected key=value:Effect"))?;
    if !matches!(effect, "NoSchedule" | "PreferNoSchedule" | "NoExecute") {
        return Err(format!(
            "{text:?}: effect must be NoSchedule, PreferNoSchedule or NoExecute"
        ));
    }
    let (key, value) = match key_value.split_once('=') {
        Some((key, value)) => (key, Some(value.to_owned())),
        None => (key_value, None),
    };
    if key.is_empty() {
        return Err(format!("{text:?}: the taint needs a key"));
    }
    Ok(Taint {
        key: key.to_owned(),
        value,
        effect: effect.to_owned(),
        time_added: None,
    })
}

impl Settings {
    pub fn log_dir(&self) -> PathBuf {
        self.log_dir
            .clone()
            .unwrap_or_else(|| self.root_dir.join("logs"))
    }

    pub fn heartbeat(&self) -> Duration {
        Duration::from_secs(self.heartbeat_seconds)
    }

    pub fn backoff(&self) -> Backoff {
        let initial = Duration::from_millis(self.restart_backoff_ms);
        Backoff {
            initial,
            max: Duration::from_millis(self.restart_backoff_max_ms).max(initial),
            reset_after: Duration::from_secs(600),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[test]
    fn defaults_register_node_local_with_a_loopback_pod_range() {
        let settings = Settings::try_parse_from(["node-agent", "--bin-dir", "/opt/bin"]).unwrap();
        assert_eq!(settings.node_name, "local");
        assert_eq!(settings.pod_cidr.to_string(), "127.1.0.0/16");
        assert_eq!(
            settings.log_dir(),
            PathBuf::from("/var/tmp/surge-node-agent/logs")
        );
        assert!(settings.taints.is_empty(), "no taints unless asked for");
    }

    #[test]
    fn taints_parse_like_the_kubelet_flag() {
        let settings = Settings::try_parse_from([
            "node-agent",
            "--bin-dir",
            "/b",
            "--register-with-taints",
            "dedicated=test:NoSchedule,gpu:NoExecute",
        ])
        .unwrap();
        assert_eq!(settings.taints.len(), 2);
        assert_eq!(settings.taints[0].key, "dedicated");
        assert_eq!(settings.taints[0].value.as_deref(), Some("test"));
        assert_eq!(settings.taints[1].effect, "NoExecute");
        assert!(Settings::try_parse_from([
            "node-agent",
            "--bin-dir",
            "/b",
            "--register-with-taints",
            "k=v:Sometimes"
        ])
        .is_err());
    }

    #[test]
    fn a_pod_range_outside_loopback_is_refused() {
        let error = Settings::try_parse_from([
            "node-agent",
            "--bin-dir",
            "/b",
            "--pod-cidr",
            "10.0.0.0/24",
        ])
        .unwrap_err()
        .to_string();
        assert!(error.contains("not inside 127.0.0.0/8"), "{error}");
    }
}
