//! A container as a local process: its own process group (so a signal reaches everything it
//! forked, and the agent's terminal signals do not), stdout and stderr appended to its log
//! file, and the stop sequence SIGTERM → grace period → SIGKILL.

use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use tokio::process::{Child, Command};

/// What to run: everything already resolved from the pod spec.
#[derive(Debug, Clone, PartialEq)]
pub struct Launch {
    pub program: PathBuf,
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    pub working_dir: PathBuf,
    pub log_file: PathBuf,
}

/// A running container process.
#[derive(Debug)]
pub struct Process {
    child: Child,
    group: Pid,
}

/// How a process ended, in the terms a container status uses.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Exit {
    /// The exit code, or 128 + the signal number for a process a signal ended (as a shell
    /// and the kubelet report it).
    pub code: i32,
    pub signal: Option<i32>,
}

impl From<ExitStatus> for Exit {
    fn from(status: ExitStatus) -> Self {
        use std::os::unix::process::ExitStatusExt;
        match (status.code(), status.signal()) {
            (Some(code), _) => Exit { code, signal: None },
            (None, Some(signal)) => Exit {
                code: 128 + signal,
                signal: Some(signal),
            },
            (None, None) => Exit {
                code: 1,
                signal: None,
            },
        }
    }
}

impl Process {
    pub fn spawn(launch: &Launch) -> std::io::Result<Process> {
        if let Some(parent) = launch.log_file.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let log = open_log(&launch.log_file)?;
        let mut command = Command::new(&launch.program);
        command
            .args(&launch.args)
            // The container sees only its own environment, as it would in an image; PATH
            // is kept so that a `command` naming a program on this machine is found.
            .env_clear()
            .envs(std::env::var_os("PATH").map(|path| ("PATH", path)))
            .envs(launch.env.iter().cloned())
            .current_dir(&launch.working_dir)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .process_group(0)
            // Dropping the handle must not leave a process behind (the agent stops its
            // processes explicitly; this covers a panic on the way there).
            .kill_on_drop(true);
        let child = command.spawn()?;
        let pid = child
            .id()
            .ok_or_else(|| std::io::Error::other("process exited before its id was read"))?;
        Ok(Process {
            child,
            group: Pid::from_raw(pid as i32),
        })
    }

    pub fn pid(&self) -> i32 {
        self.group.as_raw()
    }

    pub async fn wait(&mut self) -> std::io::Result<Exit> {
        self.child.wait().await.map(Exit::from)
    }

    /// SIGTERM to the group, up to `grace` for the process to exit, then SIGKILL.
    pub async fn stop(&mut self, grace: Duration) -> std::io::Result<Exit> {
        self.signal(Signal::SIGTERM);
        let exit = match tokio::time::timeout(grace, self.child.wait()).await {
            Ok(status) => Exit::from(status?),
            Err(_) => {
                self.signal(Signal::SIGKILL);
                Exit::from(self.child.wait().await?)
            }
        };
        // The group leader is gone; anything it forked that ignored SIGTERM goes too.
        self.signal(Signal::SIGKILL);
        Ok(exit)
    }

    fn signal(&self, signal: Signal) {
        // ESRCH (the group is already gone) is the expected race, not an error.
        if let Err(error) = killpg(self.group, signal) {
            if error != nix::errno::Errno::ESRCH {
                tracing::warn!(pgid = self.group.as_raw(), signal = signal.as_str(), %error, "cannot signal process group");
            }
        }
    }
}

fn open_log(path: &Path) -> std::io::Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
}

/// Runs `argv` to completion inside the container's environment, for exec probes and
/// preStop exec hooks; the whole group is killed when `timeout` passes.
pub async fn run_to_completion(
    argv: &[String],
    launch: &Launch,
    timeout: Duration,
) -> Result<Exit, String> {
    let (program, args) = argv
        .split_first()
        .ok_or_else(|| "exec action has an empty command".to_owned())?;
    let exec = Launch {
        program: program.into(),
        args: args.to_vec(),
        ..launch.clone()
    };
    let mut process = Process::spawn(&exec).map_err(|e| format!("cannot run {program}: {e}"))?;
    match tokio::time::timeout(timeout, process.wait()).await {
        Ok(exit) => exit.map_err(|e| e.to_string()),
        Err(_) => {
            let _ = process.stop(Duration::ZERO).await;
            Err(format!("{program} timed out after {timeout:?}"))
        }
    }
}
