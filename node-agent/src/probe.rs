//! Probes with the kubelet's semantics: after `initialDelaySeconds`, one check every
//! `periodSeconds`, each bounded by `timeoutSeconds`; the result flips to success after
//! `successThreshold` consecutive successes and to failure after `failureThreshold`
//! consecutive failures. httpGet (2xx and 3xx succeed, redirects are not followed), tcpSocket
//! and exec are supported; a named port is looked up in the container's ports.

use std::ops::ControlFlow;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Container, HTTPGetAction, Probe};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use crate::process::{run_to_completion, Launch};

/// One check, with its target resolved.
#[derive(Debug, Clone, PartialEq)]
pub enum Check {
    Http {
        url: String,
        headers: Vec<(String, String)>,
    },
    Tcp {
        host: String,
        port: u16,
    },
    Exec {
        argv: Vec<String>,
    },
}

/// A probe ready to run.
#[derive(Debug, Clone, PartialEq)]
pub struct ProbeSpec {
    pub check: Check,
    pub initial_delay: Duration,
    pub period: Duration,
    pub timeout: Duration,
    pub success_threshold: u32,
    pub failure_threshold: u32,
}

fn seconds(value: Option<i32>, default: i32) -> Duration {
    Duration::from_secs(value.unwrap_or(default).max(0) as u64)
}

fn threshold(value: Option<i32>, default: i32) -> u32 {
    value.unwrap_or(default).max(1) as u32
}

/// The port number `port` names, resolving a name through the container's ports.
pub fn resolve_port(port: &IntOrString, container: &Container) -> Result<u16, String> {
    let number = match port {
        IntOrString::Int(n) => *n,
        IntOrString::String(name) => match name.parse::<i32>() {
            Ok(n) => n,
            Err(_) => container
                .ports
                .iter()
                .flatten()
                .find(|p| p.name.as_deref() == Some(name.as_str()))
                .map(|p| p.container_port)
                .ok_or_else(|| {
                    format!("container {} has no port named {name:?}", container.name)
                })?,
        },
    };
    u16::try_from(number)
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| format!("port {number} is out of range"))
}

/// The URL an httpGet action targets on a pod at `pod_ip`.
pub fn http_url(
    action: &HTTPGetAction,
    container: &Container,
    pod_ip: &str,
) -> Result<String, String> {
    let scheme = action.scheme.as_deref().unwrap_or("HTTP");
    if !scheme.eq_ignore_ascii_case("http") {
        return Err(format!(
            "httpGet scheme {scheme} is not supported (only HTTP)"
        ));
    }
    let host = action.host.as_deref().unwrap_or(pod_ip);
    let port = resolve_port(&action.port, container)?;
    let path = action.path.as_deref().unwrap_or("/");
    let slash = if path.starts_with('/') { "" } else { "/" };
    Ok(format!("http://{host}:{port}{slash}{path}"))
}

impl ProbeSpec {
    pub fn from_probe(probe: &Probe, container: &Container, pod_ip: &str) -> Result<Self, String> {
        let check = if let Some(http) = &probe.http_get {
            Check::Http {
                url: http_url(http, container, pod_ip)?,
                headers: http
                    .http_headers
                    .iter()
                    .flatten()
                    .map(|h| (h.name.clone(), h.value.clone()))
                    .collect(),
            }
        } else if let Some(tcp) = &probe.tcp_socket {
            Check::Tcp {
                host: tcp.host.clone().unwrap_or_else(|| pod_ip.to_owned()),
                port: resolve_port(&tcp.port, container)?,
            }
        } else if let Some(exec) = &probe.exec {
            Check::Exec {
                argv: exec.command.clone().unwrap_or_default(),
            }
        } else {
            return Err(format!(
                "container {}: a probe needs httpGet, tcpSocket or exec (grpc is not supported)",
                container.name
            ));
        };
        Ok(ProbeSpec {
            check,
            initial_delay: seconds(probe.initial_delay_seconds, 0),
            period: seconds(probe.period_seconds, 10).max(Duration::from_secs(1)),
            timeout: seconds(probe.timeout_seconds, 1).max(Duration::from_secs(1)),
            success_threshold: threshold(probe.success_threshold, 1),
            failure_threshold: threshold(probe.failure_threshold, 3),
        })
    }
}

/// Runs one check; `Err` says why it failed.
pub async fn check_once(
    check: &Check,
    timeout: Duration,
    http: &reqwest::Client,
    launch: &Launch,
) -> Result<(), String> {
    match check {
        Check::Http { url, headers } => {
            let mut request = http.get(url).timeout(timeout);
            for (name, value) in headers {
                request = request.header(name, value);
            }
            let response = request
                .send()
                .await
                .map_err(|e| format!("GET {url}: {e}"))?;
            let status = response.status();
            if status.is_success() || status.is_redirection() {
                Ok(())
            } else {
                Err(format!("GET {url}: HTTP {status}"))
            }
        }
        Check::Tcp { host, port } => {
            match tokio::time::timeout(
                timeout,
                tokio::net::TcpStream::connect((host.as_str(), *port)),
            )
            .await
            {
                Ok(Ok(_)) => Ok(()),
                Ok(Err(e)) => Err(format!("connect {host}:{port}: {e}")),
                Err(_) => Err(format!(
                    "connect {host}:{port}: timed out after {timeout:?}"
                )),
            }
        }
        Check::Exec { argv } => match run_to_completion(argv, launch, timeout).await? {
            exit if exit.code == 0 => Ok(()),
            exit => Err(format!("{argv:?} exited with {}", exit.code)),
        },
    }
}

/// Consecutive results → a verdict, by the thresholds.
#[derive(Debug, Clone)]
pub struct Verdict {
    success_threshold: u32,
    failure_threshold: u32,
    successes: u32,
    failures: u32,
    current: Option<bool>,
}

impl Verdict {
    pub fn new(spec: &ProbeSpec) -> Self {
        Verdict {
            success_threshold: spec.success_threshold,
            failure_threshold: spec.failure_threshold,
            successes: 0,
            failures: 0,
            current: None,
        }
    }

    /// Records one result; returns the new verdict when it changes.
    pub fn record(&mut self, ok: bool) -> Option<bool> {
        if ok {
            self.successes += 1;
            self.failures = 0;
        } else {
            self.failures += 1;
            self.successes = 0;
        }
        let verdict = if self.successes >= self.success_threshold {
            Some(true)
        } else if self.failures >= self.failure_threshold {
            Some(false)
        } else {
            None
        };
        match verdict {
            Some(v) if self.current != Some(v) => {
                self.current = Some(v);
                Some(v)
            }
            _ => None,
        }
    }
}

/// Runs `spec` until `on_change` breaks; `on_change` gets each change of verdict and the
/// message of the last failure.
pub async fn run<F>(spec: &ProbeSpec, http: &reqwest::Client, launch: &Launch, mut on_change: F)
where
    F: FnMut(bool, Option<&str>) -> ControlFlow<()>,
{
    tokio::time::sleep(spec.initial_delay).await;
    let mut verdict = Verdict::new(spec);
    let mut ticks = tokio::time::interval(spec.period);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let result = check_once(&spec.check, spec.timeout, http, launch).await;
        if let Some(changed) = verdict.record(result.is_ok()) {
            if on_change(changed, result.err().as_deref()).is_break() {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn container() -> Container {
        serde_json::from_value(
            json!({"name": "web", "ports": [{"name": "http", "containerPort": 8080}]}),
        )
        .unwrap()
    }

    #[test]
    fn named_ports_resolve_through_the_container_ports() {
        let c = container();
        assert_eq!(
            resolve_port(&IntOrString::String("http".into()), &c),
            Ok(8080)
        );
        assert_eq!(resolve_port(&IntOrString::Int(9000), &c), Ok(9000));
        assert!(resolve_port(&IntOrString::String("metrics".into()), &c).is_err());
        assert!(resolve_port(&IntOrString::Int(70000), &c).is_err());
    }

    #[test]
    fn probe_defaults_are_the_kubelet_defaults() {
        let probe: Probe =
            serde_json::from_value(json!({"httpGet": {"path": "readyz", "port": "http"}})).unwrap();
        let spec = ProbeSpec::from_probe(&probe, &container(), "127.1.0.3").unwrap();
        assert_eq!(
            spec.check,
            Check::Http {
                url: "http://127.1.0.3:8080/readyz".into(),
                headers: vec![]
            }
        );
        assert_eq!(spec.period, Duration::from_secs(10));
        assert_eq!(spec.timeout, Duration::from_secs(1));
        assert_eq!((spec.success_threshold, spec.failure_threshold), (1, 3));
    }

    #[test]
    fn the_verdict_changes_only_at_the_thresholds() {
        let probe: Probe = serde_json::from_value(
            json!({"tcpSocket": {"port": 1}, "successThreshold": 2, "failureThreshold": 2}),
        )
        .unwrap();
        let spec = ProbeSpec::from_probe(&probe, &container(), "127.1.0.3").unwrap();
        let mut verdict = Verdict::new(&spec);
        assert_eq!(verdict.record(true), None);
        assert_eq!(verdict.record(true), Some(true));
        assert_eq!(verdict.record(true), None);
        assert_eq!(verdict.record(false), None);
        assert_eq!(
            verdict.record(true),
            None,
            "a success resets the failure count"
        );
        assert_eq!(verdict.record(false), None);
        assert_eq!(verdict.record(false), Some(false));
    }
}
