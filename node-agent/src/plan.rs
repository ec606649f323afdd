//! From a container in the pod spec to a [`ContainerPlan`]: the binary its image maps to,
//! `command`/`args` with Kubernetes semantics (`command` replaces the image's entrypoint,
//! `args` its arguments; `$(VAR)` expanded in both), the resolved environment, probes,
//! preStop hook, working folder and log file.

use std::path::{Path, PathBuf};
use std::time::Duration;

use k8s_openapi::api::core::v1::{Container, Pod};

use crate::container::{ContainerPlan, PreStop, RestartPolicy};
use crate::env::{self, PodFields, Sources};
use crate::image;
use crate::probe::{self, ProbeSpec};
use crate::process::Launch;

/// Why a container cannot start; `reason` is the kubelet's word for it.
#[derive(Debug, Clone, PartialEq)]
pub struct PlanError {
    pub reason: &'static str,
    pub message: String,
}

/// Where a pod's files live on this node.
#[derive(Debug, Clone)]
pub struct PodPaths {
    /// The pod's own folder: each container's default working folder is under it.
    pub pod_dir: PathBuf,
    /// `<ns>_<name>_<uid>` under the log folder, as the kubelet names `/var/log/pods/…`.
    pub log_dir: PathBuf,
}

impl PodPaths {
    pub fn new(root_dir: &Path, log_root: &Path, pod: &Pod) -> PodPaths {
        let meta = &pod.metadata;
        let uid = meta.uid.clone().unwrap_or_default();
        PodPaths {
            pod_dir: root_dir.join("pods").join(&uid),
            log_dir: log_root.join(format!(
                "{}_{}_{}",
                meta.namespace.as_deref().unwrap_or("default"),
                meta.name.as_deref().unwrap_or_default(),
                uid
            )),
        }
    }
}

/// The program and arguments: `command` replaces the binary the image maps to, `args`
/// replace its default arguments (none here). A bare command name is looked up in the bin
/// folder first (the "image filesystem" here), then on PATH.
pub fn argv(
    container: &Container,
    image_binary: &Path,
    bin_dir: &Path,
    env: &[(String, String)],
) -> (PathBuf, Vec<String>) {
    let lookup = |name: &str| {
        env.iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
    };
    let expand = |items: &Option<Vec<String>>| -> Vec<String> {
        items
            .iter()
            .flatten()
            .map(|item| env::expand(item, lookup))
            .collect()
    };
    let args = expand(&container.args);
    match expand(&container.command).split_first() {
        Some((program, command_args)) => {
            let in_bin_dir = bin_dir.join(program);
            let program = if !program.contains('/') && in_bin_dir.is_file() {
                in_bin_dir
            } else {
                PathBuf::from(program)
            };
            (program, command_args.iter().cloned().chain(args).collect())
        }
        None => (image_binary.to_owned(), args),
    }
}

/// Everything an agent needs to plan containers.
#[derive(Debug, Clone)]
pub struct PlanContext<'a> {
    pub pod: &'a Pod,
    pub pod_ip: String,
    pub host_ip: String,
    pub bin_dir: &'a Path,
    pub paths: &'a PodPaths,
    pub sources: &'a Sources,
    pub policy: RestartPolicy,
    pub termination_grace: Duration,
}

pub fn plan(container: &Container, cx: &PlanContext<'_>) -> Result<ContainerPlan, PlanError> {
    let image_name = container.image.as_deref().unwrap_or_default();
    let binary = image::resolve(cx.bin_dir, image_name).map_err(|e| PlanError {
        reason: "ErrImagePull",
        message: e.to_string(),
    })?;
    let fields = PodFields {
        pod: cx.pod,
        pod_ip: cx.pod_ip.clone(),
        host_ip: cx.host_ip.clone(),
    };
    let config_error = |message: String| PlanError {
        reason: "CreateContainerConfigError",
        message,
    };
    let mut env = vec![(
        "HOSTNAME".to_owned(),
        cx.pod.metadata.name.clone().unwrap_or_default(),
    )];
    env.extend(
        env::resolve(container, &fields, cx.sources).map_err(|e| config_error(e.to_string()))?,
    );
    let (program, args) = argv(container, &binary, cx.bin_dir, &env);
    let working_dir = match &container.working_dir {
        Some(dir) => PathBuf::from(dir),
        None => cx.paths.pod_dir.join(&container.name),
    };
    let launch = Launch {
        program,
        args,
        env,
        working_dir,
        log_file: cx.paths.log_dir.join(format!("{}.log", container.name)),
    };
    let probe =
        |p: &Option<k8s_openapi::api::core::v1::Probe>| -> Result<Option<ProbeSpec>, PlanError> {
            p.as_ref()
                .map(|p| ProbeSpec::from_probe(p, container, &cx.pod_ip))
                .transpose()
                .map_err(config_error)
        };
    let pre_stop = container
        .lifecycle
        .as_ref()
        .and_then(|l| l.pre_stop.as_ref())
        .map(|hook| {
            if let Some(sleep) = &hook.sleep {
                Ok(PreStop::Sleep(Duration::from_secs(
                    sleep.seconds.max(0) as u64
                )))
            } else if let Some(http) = &hook.http_get {
                probe::http_url(http, container, &cx.pod_ip).map(|url| PreStop::Http { url })
            } else if let Some(exec) = &hook.exec {
                Ok(PreStop::Exec {
                    argv: exec.command.clone().unwrap_or_default(),
                })
            } else {
                Err("preStop needs sleep, httpGet or exec".to_owned())
            }
        })
        .transpose()
        .map_err(config_error)?;
    Ok(ContainerPlan {
        name: container.name.clone(),
        launch,
        startup: probe(&container.startup_probe)?,
        readiness: probe(&container.readiness_probe)?,
        liveness: probe(&container.liveness_probe)?,
        pre_stop,
        policy: cx.policy,
        termination_grace: cx.termination_grace,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn container(spec: serde_json::Value) -> Container {
        serde_json::from_value(spec).unwrap()
    }

    #[test]
    fn args_alone_go_to_the_image_binary_and_are_expanded() {
        let c = container(json!({"name": "c", "args": ["--bind", "$(POD_IP)", "$$(POD_IP)"]}));
        let env = vec![("POD_IP".to_owned(), "127.1.0.9".to_owned())];
        let (program, args) = argv(&c, Path::new("/bin/srv"), Path::new("/nonexistent"), &env);
        assert_eq!(program, PathBuf::from("/bin/srv"));
        assert_eq!(args, ["--bind", "127.1.0.9", "$(POD_IP)"]);
    }

    #[test]
    fn command_replaces_the_entrypoint_and_args_follow_it() {
        let c = container(json!({"name": "c", "command": ["sh", "-c"], "args": ["echo $(X)"]}));
        let env = vec![("X".to_owned(), "hi".to_owned())];
        let (program, args) = argv(&c, Path::new("/bin/srv"), Path::new("/nonexistent"), &env);
        assert_eq!(program, PathBuf::from("sh"));
        assert_eq!(args, ["-c", "echo hi"]);
    }
}
