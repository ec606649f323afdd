//! Local processes standing in for the Deployment's pods.
//!
//! Like a ReplicaSet, [`PodSet::scale_to`] starts or stops processes until the count
//! matches, and replaces a process that exited on its own. Pod `i` listens on
//! `base_port + i` (`SURGE__HTTP__PORT`), inherits the rest of the environment, and writes
//! its output to `<log_dir>/<name>.log`. Scale-in removes the newest pods first: each
//! gets SIGTERM (the service drains, commits and leaves the group, as under a
//! `terminationGracePeriodSeconds`), and only after the grace period SIGKILL.

use std::fs::File;
use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use tokio::process::{Child, Command};

/// What to run for each pod.
#[derive(Debug, Clone)]
pub struct PodTemplate {
    /// Pod names are `<name_prefix>-<index>`.
    pub name_prefix: String,
    pub program: PathBuf,
    pub args: Vec<String>,
    /// Pod `i` gets `SURGE__HTTP__PORT = base_port + i`.
    pub base_port: u16,
    /// Extra environment for every pod, over the inherited one.
    pub env: Vec<(String, String)>,
    /// Where each pod's stdout/stderr go; `None` discards them.
    pub log_dir: Option<PathBuf>,
    /// Time between SIGTERM and SIGKILL.
    pub grace_period: Duration,
}

/// One running process.
#[derive(Debug)]
pub struct Pod {
    pub index: u16,
    pub name: String,
    pub pid: u32,
    pub port: u16,
    pub started: Instant,
    pub restarts: u32,
    child: Child,
}

/// A pod that left the set, and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stopped {
    pub name: String,
    pub pid: u32,
    /// `None` if it had to be killed after the grace period.
    pub status: Option<ExitStatus>,
    pub killed: bool,
}

#[derive(Debug)]
pub struct PodSet {
    template: PodTemplate,
    pods: Vec<Pod>,
    /// Restart counts of indices whose process exited by itself.
    restarts: std::collections::HashMap<u16, u32>,
}

impl PodSet {
    pub fn new(template: PodTemplate) -> Self {
        Self {
            template,
            pods: Vec::new(),
            restarts: Default::default(),
        }
    }

    /// Running pods, oldest first.
    pub fn pods(&self) -> &[Pod] {
        &self.pods
    }

    pub fn len(&self) -> usize {
        self.pods.len()
    }

    pub fn is_empty(&self) -> bool {
        self.pods.is_empty()
    }

    /// Drops pods whose process has exited on its own; returns them. The next
    /// [`Self::scale_to`] replaces them (and counts a restart).
    pub fn reap(&mut self) -> Vec<Stopped> {
        let mut gone = Vec::new();
        let mut i = 0;
        while i < self.pods.len() {
            match self.pods[i].child.try_wait() {
                Ok(Some(status)) => {
                    let pod = self.pods.remove(i);
                    *self.restarts.entry(pod.index).or_default() += 1;
                    gone.push(Stopped {
                        name: pod.name,
                        pid: pod.pid,
                        status: Some(status),
                        killed: false,
                    });
                }
                _ => i += 1,
            }
        }
        gone
    }

    /// Starts or stops pods until `replicas` run.
    pub async fn scale_to(&mut self, replicas: usize) -> std::io::Result<Vec<Stopped>> {
        while self.pods.len() < replicas {
            self.start_one()?;
        }
        let surplus = self.pods.len().saturating_sub(replicas);
        Ok(self.stop_newest(surplus).await)
    }

    /// Stops every pod (newest first signalled together) and waits for them.
    pub async fn stop_all(&mut self) -> Vec<Stopped> {
        self.stop_newest(self.pods.len()).await
    }

    fn start_one(&mut self) -> std::io::Result<()> {
        let index = (0u16..)
            .find(|i| self.pods.iter().all(|p| p.index != *i))
            .unwrap_or_default();
        let t = &self.template;
        let name = format!("{}-{index}", t.name_prefix);
        let port = t.base_port.saturating_add(index);
        let mut command = Command::new(&t.program);
        command
            .args(&t.args)
            .envs(t.env.iter().map(|(k, v)| (k, v)))
            .env("SURGE__HTTP__PORT", port.to_string())
            .stdin(Stdio::null())
            // The set's owner stops pods explicitly; if the owner dies, the pods
            // should go too rather than linger as orphans holding ports.
            .kill_on_drop(true);
        match &t.log_dir {
            Some(dir) => {
                std::fs::create_dir_all(dir)?;
                let log = File::options()
                    .create(true)
                    .append(true)
                    .open(dir.join(format!("{name}.log")))?;
                command.stdout(log.try_clone()?).stderr(log);
            }
            None => {
                command.stdout(Stdio::null()).stderr(Stdio::null());
            }
        }
        let child = command.spawn()?;
        let pid = child.id().unwrap_or_default();
        self.pods.push(Pod {
            index,
            name,
            pid,
            port,
            started: Instant::now(),
            restarts: self.restarts.get(&index).copied().unwrap_or_default(),
            child,
        });
        Ok(())
    }

    /// SIGTERM to the `count` newest pods at once, then waits for each up to the
    /// grace period, SIGKILL after it.
    async fn stop_newest(&mut self, count: usize) -> Vec<Stopped> {
        let keep = self.pods.len().saturating_sub(count);
        let leaving: Vec<Pod> = self.pods.drain(keep..).rev().collect();
        for pod in &leaving {
            if pod.pid != 0 {
                // Already exited is fine: `wait` below collects it.
                let _ = kill(Pid::from_raw(pod.pid as i32), Signal::SIGTERM);
            }
        }
        let deadline = tokio::time::Instant::now() + self.template.grace_period;
        let mut stopped = Vec::with_capacity(leaving.len());
        for mut pod in leaving {
            let (status, killed) = match tokio::time::timeout_at(deadline, pod.child.wait()).await {
                Ok(Ok(status)) => (Some(status), false),
                _ => {
                    let _ = pod.child.kill().await;
                    (None, true)
                }
            };
            self.restarts.remove(&pod.index);
            stopped.push(Stopped {
                name: pod.name,
                pid: pod.pid,
                status,
                killed,
            });
        }
        stopped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `sh -c 'trap "exit 0" TERM; while :; do sleep 0.1; done'`: a child that exits 0
    /// on SIGTERM, like a service draining, and records its port to prove the env.
    fn template(dir: &std::path::Path, grace: Duration, script: &str) -> PodTemplate {
        PodTemplate {
            name_prefix: "consumer-svc".into(),
            program: "sh".into(),
            args: vec!["-c".into(), script.into()],
            base_port: 18081,
            env: vec![("POD_TEST".into(), "yes".into())],
            log_dir: Some(dir.to_path_buf()),
            grace_period: grace,
        }
    }

    const GRACEFUL: &str = r#"echo "port=$SURGE__HTTP__PORT env=$POD_TEST"; trap 'echo term; exit 0' TERM; while :; do sleep 0.05; done"#;

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("autoscaler-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    #[tokio::test]
    async fn scales_out_with_one_port_per_pod_and_in_newest_first_with_sigterm() {
        let dir = temp_dir("scale");
        let mut set = PodSet::new(template(&dir, Duration::from_secs(10), GRACEFUL));
        set.scale_to(3).await.unwrap();
        let ports: Vec<u16> = set.pods().iter().map(|p| p.port).collect();
        assert_eq!(ports, vec![18081, 18082, 18083]);
        tokio::time::sleep(Duration::from_millis(300)).await;

        let stopped = set.scale_to(1).await.unwrap();
        let names: Vec<&str> = stopped.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, vec!["consumer-svc-2", "consumer-svc-1"]);
        assert!(stopped
            .iter()
            .all(|s| !s.killed && s.status.unwrap().success()));
        assert_eq!(set.len(), 1);

        let log = std::fs::read_to_string(dir.join("consumer-svc-2.log")).unwrap();
        assert!(log.contains("port=18083 env=yes"), "{log}");
        assert!(log.contains("term"), "{log}");

        // The freed index is reused: the next pod is -1 on 18082 again.
        set.scale_to(2).await.unwrap();
        assert_eq!(set.pods()[1].name, "consumer-svc-1");
        assert_eq!(set.pods()[1].port, 18082);
        let all = set.stop_all().await;
        assert_eq!(all.len(), 2);
        assert!(set.is_empty());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test]
    async fn kills_a_pod_that_ignores_sigterm_after_the_grace_period() {
        let dir = temp_dir("stubborn");
        let stubborn = r#"trap '' TERM; while :; do sleep 0.05; done"#;
        let mut set = PodSet::new(template(&dir, Duration::from_millis(500), stubborn));
        set.scale_to(1).await.unwrap();
        tokio::time::sleep(Duration::from_millis(200)).await;
        let started = Instant::now();
        let stopped = set.stop_all().await;
        assert!(stopped[0].killed);
        assert!(started.elapsed() >= Duration::from_millis(450));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test]
    async fn replaces_a_pod_that_exited_and_counts_a_restart() {
        let dir = temp_dir("crash");
        let mut set = PodSet::new(template(&dir, Duration::from_secs(5), "exit 3"));
        set.scale_to(1).await.unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
        let gone = set.reap();
        assert_eq!(gone.len(), 1);
        assert_eq!(gone[0].status.unwrap().code(), Some(3));
        assert!(set.is_empty());
        set.scale_to(1).await.unwrap();
        assert_eq!(set.pods()[0].restarts, 1);
        set.stop_all().await;
        let _ = std::fs::remove_dir_all(&dir);
    }
}
