//! One container's life on this node: start its process, run its probes, restart it by the
//! restart policy with a back-off, and stop it when its pod stops. Everything it learns goes
//! out as a [`ContainerReport`] on a watch channel, which the pod turns into its status.

use std::ops::ControlFlow;
use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::chrono::{DateTime, Utc};
use tokio::sync::watch;

use crate::probe::{self, ProbeSpec};
use crate::process::{Exit, Launch, Process};

/// `restartPolicy`, for a container (init containers use [`RestartPolicy::for_init`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestartPolicy {
    Always,
    OnFailure,
    Never,
}

impl RestartPolicy {
    pub fn parse(policy: Option<&str>) -> RestartPolicy {
        match policy {
            Some("Never") => RestartPolicy::Never,
            Some("OnFailure") => RestartPolicy::OnFailure,
            _ => RestartPolicy::Always,
        }
    }

    /// An init container must succeed once: it is retried on failure unless the pod's
    /// policy is Never.
    pub fn for_init(self) -> RestartPolicy {
        match self {
            RestartPolicy::Never => RestartPolicy::Never,
            _ => RestartPolicy::OnFailure,
        }
    }

    fn restarts_after(self, exit: &Exit) -> bool {
        match self {
            RestartPolicy::Always => true,
            RestartPolicy::OnFailure => exit.code != 0,
            RestartPolicy::Never => false,
        }
    }
}

/// A finished run of the container.
#[derive(Debug, Clone, PartialEq)]
pub struct Terminated {
    pub exit: Exit,
    pub reason: String,
    pub message: Option<String>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum State {
    Waiting {
        reason: String,
        message: Option<String>,
    },
    Running {
        started_at: DateTime<Utc>,
        pid: i32,
    },
    Terminated(Terminated),
}

/// What the pod status says about one container.
#[derive(Debug, Clone, PartialEq)]
pub struct ContainerReport {
    pub state: State,
    pub last_termination: Option<Terminated>,
    pub restart_count: i32,
    pub started: bool,
    pub ready: bool,
    /// No further run will follow (the restart policy says so, or the pod is stopping).
    pub done: bool,
}

impl ContainerReport {
    pub fn waiting(reason: &str, message: Option<String>) -> Self {
        ContainerReport {
            state: State::Waiting {
                reason: reason.to_owned(),
                message,
            },
            last_termination: None,
            restart_count: 0,
            started: false,
            ready: false,
            done: false,
        }
    }

    pub fn succeeded(&self) -> bool {
        matches!(&self.state, State::Terminated(t) if t.exit.code == 0)
    }
}

/// What to do before SIGTERM when the container is stopped.
#[derive(Debug, Clone, PartialEq)]
pub enum PreStop {
    Sleep(Duration),
    Http { url: String },
    Exec { argv: Vec<String> },
}

/// Everything a container needs to run, resolved from the pod spec.
#[derive(Debug, Clone)]
pub struct ContainerPlan {
    pub name: String,
    pub launch: Launch,
    pub startup: Option<ProbeSpec>,
    pub readiness: Option<ProbeSpec>,
    pub liveness: Option<ProbeSpec>,
    pub pre_stop: Option<PreStop>,
    pub policy: RestartPolicy,
    /// The pod's `terminationGracePeriodSeconds`, for a stop after a failed probe.
    pub termination_grace: Duration,
}

/// Restart back-off: doubles from `initial` up to `max`, and starts over after a run that
/// lasted longer than `reset_after` (the kubelet: 10 s doubling to 5 min, reset after 10 min).
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    pub initial: Duration,
    pub max: Duration,
    pub reset_after: Duration,
}

/// The request to stop a container, with the time it is given.
pub type StopRequest = Option<Duration>;

/// Why a run ended.
enum RunEnd {
    Exited(Exit),
    ProbeFailed { exit: Exit, message: String },
    Stopped(Exit),
}

/// Runs the container until its restart policy says it is done or a stop is requested.
pub async fn supervise(
    plan: ContainerPlan,
    backoff: Backoff,
    http: reqwest::Client,
    mut stop: watch::Receiver<StopRequest>,
    report: Arc<watch::Sender<ContainerReport>>,
) {
    let plan = Arc::new(plan);
    let mut delay = backoff.initial;
    let mut restart_count = 0;
    loop {
        if stop.borrow().is_some() {
            report.send_modify(|r| r.done = true);
            return;
        }
        let mut process = match Process::spawn(&plan.launch) {
            Ok(process) => process,
            Err(error) => {
                tracing::warn!(container = %plan.name, program = %plan.launch.program.display(), %error, "cannot start container");
                let exit = Exit {
                    code: 128,
                    signal: None,
                };
                let terminated = Terminated {
                    exit,
                    reason: "StartError".into(),
                    message: Some(format!(
                        "cannot run {}: {error}",
                        plan.launch.program.display()
                    )),
                    started_at: None,
                    finished_at: Utc::now(),
                };
                if !after_run(
                    &plan,
                    &report,
                    terminated,
                    &exit,
                    &mut stop,
                    &mut delay,
                    restart_count,
                )
                .await
                {
                    return;
                }
                restart_count += 1;
                continue;
            }
        };
        let started_at = Utc::now();
        let began = Instant::now();
        tracing::info!(container = %plan.name, pid = process.pid(), restart_count, "container started");
        report.send_modify(|r| {
            r.state = State::Running {
                started_at,
                pid: process.pid(),
            };
            r.restart_count = restart_count;
            r.started = plan.startup.is_none();
            r.ready = plan.startup.is_none() && plan.readiness.is_none();
        });
        let end = tokio::select! {
            exit = process.wait() => RunEnd::Exited(exit.unwrap_or(Exit { code: 1, signal: None })),
            message = watch_probes(&plan, &http, &report) => {
                let exit = process.stop(plan.termination_grace).await.unwrap_or(Exit { code: 137, signal: Some(9) });
                RunEnd::ProbeFailed { exit, message }
            }
            grace = wait_for_stop(&mut stop) => {
                report.send_modify(|r| r.ready = false);
                let exit = stop_gracefully(&plan, &mut process, &http, grace).await;
                RunEnd::Stopped(exit)
            }
        };
        if began.elapsed() > backoff.reset_after {
            delay = backoff.initial;
        }
        let finished_at = Utc::now();
        let (exit, reason, message) = match end {
            RunEnd::Exited(exit) => {
                let reason = if exit.code == 0 { "Completed" } else { "Error" };
                tracing::info!(container = %plan.name, code = exit.code, "container exited");
                (exit, reason.to_owned(), None)
            }
            RunEnd::ProbeFailed { exit, message } => {
                tracing::info!(container = %plan.name, %message, "probe failed, container stopped");
                (exit, "Error".to_owned(), Some(message))
            }
            RunEnd::Stopped(exit) => {
                let terminated = Terminated {
                    exit,
                    reason: if exit.code == 0 { "Completed" } else { "Error" }.to_owned(),
                    message: None,
                    started_at: Some(started_at),
                    finished_at,
                };
                report.send_modify(|r| {
                    r.state = State::Terminated(terminated);
                    r.started = false;
                    r.ready = false;
                    r.done = true;
                });
                return;
            }
        };
        let terminated = Terminated {
            exit,
            reason,
            message,
            started_at: Some(started_at),
            finished_at,
        };
        if !after_run(
            &plan,
            &report,
            terminated,
            &exit,
            &mut stop,
            &mut delay,
            restart_count,
        )
        .await
        {
            return;
        }
        restart_count += 1;
        delay = (delay * 2).min(backoff.max);
    }
}

/// Records a finished run and waits out the back-off; `false` when no run follows.
async fn after_run(
    plan: &ContainerPlan,
    report: &watch::Sender<ContainerReport>,
    terminated: Terminated,
    exit: &Exit,
    stop: &mut watch::Receiver<StopRequest>,
    delay: &mut Duration,
    restart_count: i32,
) -> bool {
    if !plan.policy.restarts_after(exit) || stop.borrow().is_some() {
        report.send_modify(|r| {
            r.state = State::Terminated(terminated);
            r.started = false;
            r.ready = false;
            r.done = true;
        });
        return false;
    }
    let message = format!(
        "back-off {}s restarting failed container={}",
        delay.as_secs(),
        plan.name
    );
    report.send_modify(|r| {
        r.last_termination = Some(terminated);
        r.state = State::Waiting {
            reason: "CrashLoopBackOff".into(),
            message: Some(message),
        };
        r.restart_count = restart_count;
        r.started = false;
        r.ready = false;
    });
    tokio::select! {
        _ = tokio::time::sleep(*delay) => true,
        _ = wait_for_stop(stop) => {
            report.send_modify(|r| r.done = true);
            false
        }
    }
}

async fn wait_for_stop(stop: &mut watch::Receiver<StopRequest>) -> Duration {
    match stop.wait_for(|s| s.is_some()).await {
        Ok(grace) => grace.unwrap_or_default(),
        // The pod dropped its sender: it is gone, so stop at once.
        Err(_) => Duration::ZERO,
    }
}

/// preStop, then SIGTERM, within the grace period; then SIGKILL.
async fn stop_gracefully(
    plan: &ContainerPlan,
    process: &mut Process,
    http: &reqwest::Client,
    grace: Duration,
) -> Exit {
    let deadline = Instant::now() + grace;
    if let Some(hook) = &plan.pre_stop {
        let run_hook = async {
            match hook {
                PreStop::Sleep(d) => tokio::time::sleep(*d).await,
                PreStop::Http { url } => {
                    if let Err(error) = http.get(url).send().await {
                        tracing::warn!(container = %plan.name, %url, %error, "preStop httpGet failed");
                    }
                }
                PreStop::Exec { argv } => {
                    if let Err(error) =
                        crate::process::run_to_completion(argv, &plan.launch, grace).await
                    {
                        tracing::warn!(container = %plan.name, %error, "preStop exec failed");
                    }
                }
            }
        };
        tokio::select! {
            _ = run_hook => {}
            _ = tokio::time::sleep(grace) => {}
            // The process may exit by itself while its hook runs.
            _ = process.wait() => {}
        }
    }
    // Like the kubelet, give SIGTERM at least 2 s even when preStop used the whole period.
    let remaining = deadline
        .saturating_duration_since(Instant::now())
        .max(if grace.is_zero() {
            Duration::ZERO
        } else {
            Duration::from_secs(2)
        });
    process.stop(remaining).await.unwrap_or(Exit {
        code: 137,
        signal: Some(9),
    })
}

/// Runs the startup probe, then readiness and liveness; resolves with a message when the
/// startup or liveness probe fails (the container must be restarted), never otherwise.
async fn watch_probes(
    plan: &ContainerPlan,
    http: &reqwest::Client,
    report: &watch::Sender<ContainerReport>,
) -> String {
    if let Some(startup) = &plan.startup {
        let mut failure = None;
        probe::run(startup, http, &plan.launch, |ok, message| {
            if !ok {
                failure = Some(format!("startup probe failed: {}", message.unwrap_or("")));
            }
            ControlFlow::Break(())
        })
        .await;
        if let Some(message) = failure {
            return message;
        }
        report.send_modify(|r| {
            r.started = true;
            r.ready = plan.readiness.is_none();
        });
    }
    let readiness = async {
        match &plan.readiness {
            Some(spec) => {
                probe::run(spec, http, &plan.launch, |ok, _| {
                    report.send_modify(|r| r.ready = ok);
                    ControlFlow::Continue(())
                })
                .await
            }
            None => std::future::pending().await,
        }
    };
    let liveness = async {
        match &plan.liveness {
            Some(spec) => {
                let mut failure = String::new();
                probe::run(spec, http, &plan.launch, |ok, message| {
                    if ok {
                        ControlFlow::Continue(())
                    } else {
                        failure = format!("liveness probe failed: {}", message.unwrap_or(""));
                        ControlFlow::Break(())
                    }
                })
                .await;
                failure
            }
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = readiness => std::future::pending().await,
        message = liveness => message,
    }
}
