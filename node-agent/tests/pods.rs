//! The node agent against a real API server and controller manager: pods bound to its Node
//! run as processes, report their status, restart, and stop gracefully on deletion.

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::api::{DeleteParams, PostParams};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use serde_json::json;
use support::*;

fn pod_manifest(node: &TestNode, name: &str, spec: serde_json::Value) -> serde_json::Value {
    let mut spec = spec;
    spec["nodeName"] = json!(node.node_name);
    spec["terminationGracePeriodSeconds"] = json!(5);
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": spec})
}

#[tokio::test]
async fn a_pod_bound_to_the_node_becomes_running_and_ready_on_its_own_pod_ip() {
    let node = TestNode::start().await;
    let container = node.serving_container(json!([]));
    node.create_pod(pod_manifest(
        &node,
        "web",
        json!({"containers": [container]}),
    ))
    .await;

    let pod = node
        .wait_for_pod("web", pod_ready, "Running and Ready")
        .await;

    let status = pod.status.clone().unwrap();
    let ip: std::net::Ipv4Addr = status.pod_ip.clone().unwrap().parse().unwrap();
    assert!(
        node.pod_cidr.contains(&ip),
        "pod IP {ip} outside the node's range {}",
        node.pod_cidr
    );
    assert_eq!(status.pod_ips.unwrap()[0].ip, ip.to_string());
    assert_eq!(status.host_ip.as_deref(), Some("127.0.0.1"));
    assert!(status.start_time.is_some());
    for kind in ["PodScheduled", "Initialized", "ContainersReady", "Ready"] {
        assert_eq!(condition(&pod, kind).as_deref(), Some("True"), "{kind}");
    }
    let container = &status.container_statuses.unwrap()[0];
    assert!(container.ready && container.started == Some(true));
    assert!(container.state.as_ref().unwrap().running.is_some());
    // The readiness probe is what made it Ready: the process counted the probe's requests,
    // on its own pod IP.
    let stats = get_json(&pod, "/stats").await;
    assert!(stats["ready_checks"].as_u64().unwrap() >= 1, "{stats}");
    node.stop().await;
}

#[tokio::test]
async fn the_environment_resolves_value_from_sources_and_expands_references() {
    let node = TestNode::start().await;
    let config_map: ConfigMap = serde_json::from_value(json!({
        "metadata": {"name": "settings"}, "data": {"LEVEL": "debug", "PORT_HINT": "8000"}}))
    .unwrap();
    node.api::<ConfigMap>()
        .create(&PostParams::default(), &config_map)
        .await
        .unwrap();
    let secret: Secret = serde_json::from_value(json!({
        "metadata": {"name": "db"}, "stringData": {"password": "s3cret"}}))
    .unwrap();
    node.api::<Secret>()
        .create(&PostParams::default(), &secret)
        .await
        .unwrap();
    let container = node.serving_container(json!([
        {"name": "POD_NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
        {"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
        {"name": "HOST_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.hostIP"}}},
        {"name": "LEVEL", "valueFrom": {"configMapKeyRef": {"name": "settings", "key": "LEVEL"}}},
        {"name": "PASSWORD", "valueFrom": {"secretKeyRef": {"name": "db", "key": "password"}}},
        {"name": "MISSING", "valueFrom": {"secretKeyRef": {"name": "nope", "key": "k", "optional": true}}},
        {"name": "URL", "value": "http://$(POD_IP):$(CFG_PORT_HINT)/$(POD_NAMESPACE)/$$(LEVEL)"},
    ]));
    let mut container = container;
    container["envFrom"] = json!([
        {"configMapRef": {"name": "settings"}, "prefix": "CFG_"},
        {"secretRef": {"name": "absent", "optional": true}},
    ]);
    node.create_pod(pod_manifest(
        &node,
        "env",
        json!({"containers": [container]}),
    ))
    .await;
    let pod = node
        .wait_for_pod("env", pod_ready, "Running and Ready")
        .await;

    let env: BTreeMap<String, String> =
        serde_json::from_value(get_json(&pod, "/env").await).unwrap();
    let ip = pod_ip(&pod);
    assert_eq!(env["POD_NAME"], "env");
    assert_eq!(env["POD_NAMESPACE"], node.namespace);
    assert_eq!(env["NODE"], node.node_name);
    assert_eq!(env["POD_IP"], ip);
    assert_eq!(env["HOST_IP"], "127.0.0.1");
    assert_eq!(env["LEVEL"], "debug");
    assert_eq!(env["CFG_LEVEL"], "debug");
    assert_eq!(env["PASSWORD"], "s3cret");
    assert!(!env.contains_key("MISSING"));
    assert_eq!(
        env["URL"],
        format!("http://{ip}:8000/{}/$(LEVEL)", node.namespace)
    );
    node.stop().await;
}

#[tokio::test]
async fn init_containers_run_in_order_to_success_before_the_containers() {
    let node = TestNode::start().await;
    let log = node.marker_dir().join("init.log");
    let log_path = log.display().to_string();
    let init = |name: &str| json!({"name": name, "image": WORKLOAD_IMAGE, "args": ["append", log_path, name]});
    let spec = json!({
        "initContainers": [init("first"), init("second")],
        "containers": [node.serving_container(json!([]))],
    });
    node.create_pod(pod_manifest(&node, "init", spec)).await;
    let pod = node
        .wait_for_pod("init", pod_ready, "Running and Ready")
        .await;

    assert_eq!(read(&log), "first\nsecond\n");
    let statuses = pod.status.unwrap().init_container_statuses.unwrap();
    for status in statuses {
        let terminated = status.state.unwrap().terminated.unwrap();
        assert_eq!(
            (terminated.exit_code, terminated.reason.as_deref()),
            (0, Some("Completed"))
        );
    }
    node.stop().await;
}

#[tokio::test]
async fn a_container_exiting_non_zero_under_restart_policy_never_fails_the_pod() {
    let node = TestNode::start().await;
    let spec = json!({
        "restartPolicy": "Never",
        "containers": [{"name": "job", "image": WORKLOAD_IMAGE, "args": ["exit", "3"]}],
    });
    node.create_pod(pod_manifest(&node, "job", spec)).await;
    let pod = node
        .wait_for_pod("job", |p| phase(p) == Some("Failed"), "Failed")
        .await;

    let status = &pod.status.unwrap().container_statuses.unwrap()[0];
    let terminated = status.state.clone().unwrap().terminated.unwrap();
    assert_eq!(terminated.exit_code, 3);
    assert_eq!(terminated.reason.as_deref(), Some("Error"));
    assert_eq!(status.restart_count, 0, "Never means no restart");
    node.stop().await;
}

#[tokio::test]
async fn an_image_without_a_local_binary_waits_with_err_image_pull() {
    let node = TestNode::start().await;
    let spec = json!({"containers": [{"name": "c", "image": "example.local/surge/not-built:1"}]});
    node.create_pod(pod_manifest(&node, "noimage", spec)).await;
    let waiting_reason = |p: &k8s_openapi::api::core::v1::Pod| {
        p.status
            .as_ref()
            .and_then(|s| s.container_statuses.as_ref())
            .and_then(|c| c.first())
            .and_then(|c| c.state.as_ref()?.waiting.as_ref()?.reason.clone())
    };
    let pod = node
        .wait_for_pod(
            "noimage",
            |p| waiting_reason(p).as_deref() == Some("ErrImagePull"),
            "waiting on ErrImagePull",
        )
        .await;
    let message = pod
        .status
        .as_ref()
        .unwrap()
        .container_statuses
        .as_ref()
        .unwrap()[0]
        .state
        .as_ref()
        .unwrap()
        .waiting
        .as_ref()
        .unwrap()
        .message
        .clone()
        .unwrap();
    assert!(message.contains("not-built"), "{message}");
    assert_eq!(phase(&pod), Some("Pending"));
    node.stop().await;
}

#[tokio::test]
async fn a_failing_liveness_probe_restarts_the_container() {
    let node = TestNode::start().await;
    let mut container = node.serving_container(json!([{"name": "LIVENESS", "value": "fail"}]));
    container["livenessProbe"] = json!({"httpGet": {"path": "/live", "port": 8000}, "periodSeconds": 1, "failureThreshold": 2});
    node.create_pod(pod_manifest(
        &node,
        "unwell",
        json!({"containers": [container]}),
    ))
    .await;
    let pod = node
        .wait_for_pod("unwell", |p| restart_count(p) >= 1, "restarted")
        .await;
    let last = pod.status.unwrap().container_statuses.unwrap()[0]
        .last_state
        .clone()
        .unwrap();
    let terminated = last.terminated.unwrap();
    assert!(terminated.message.unwrap_or_default().contains("liveness"));
    // SIGTERM first: the workload exits 0 on it, within the grace period.
    assert_eq!(terminated.exit_code, 0);
    node.stop().await;
}

#[tokio::test]
async fn deployment_pods_run_restart_after_sigkill_and_are_replaced_after_a_graceful_delete() {
    let node = TestNode::start().await;
    let mut container = node.serving_container(json!([]));
    container["lifecycle"] = json!({"preStop": {"sleep": {"seconds": 1}}});
    let deployment: Deployment = serde_json::from_value(json!({
        "metadata": {"name": "web"},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {
                    "nodeName": node.node_name,
                    "terminationGracePeriodSeconds": 10,
                    "containers": [container],
                },
            },
        },
    }))
    .unwrap();
    node.api::<Deployment>()
        .create(&PostParams::default(), &deployment)
        .await
        .unwrap();

    let mut ready = Vec::new();
    for _ in 0..450 {
        ready = node.ready_pods("app=web").await;
        if ready.len() == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(
        ready.len(),
        2,
        "the ReplicaSet controller's two pods never became Ready"
    );
    assert_ne!(
        pod_ip(&ready[0]),
        pod_ip(&ready[1]),
        "each pod has its own IP"
    );

    // SIGKILL one process: the agent restarts it in place.
    let victim = ready[0].metadata.name.clone().unwrap();
    let pid = get_json(&ready[0], "/stats").await["pid"].as_i64().unwrap();
    kill(Pid::from_raw(pid as i32), Signal::SIGKILL).unwrap();
    let restarted = node
        .wait_for_pod(
            &victim,
            |p| restart_count(p) == 1 && pod_ready(p),
            "restarted once and Ready",
        )
        .await;
    let last = restarted.status.unwrap().container_statuses.unwrap()[0]
        .last_state
        .clone()
        .unwrap();
    assert_eq!(last.terminated.unwrap().exit_code, 137, "128 + SIGKILL");

    // Delete the other pod: SIGTERM reaches the process, the object goes, and the
    // ReplicaSet makes a new pod.
    let deleted = ready[1].clone();
    let deleted_name = deleted.metadata.name.clone().unwrap();
    node.pods()
        .delete(&deleted_name, &DeleteParams::default())
        .await
        .unwrap();
    node.wait_for_pod_gone(&deleted_name).await;
    let marker = node.marker_dir().join(format!("{deleted_name}.term"));
    assert_eq!(read(&marker), "SIGTERM\n", "the process saw SIGTERM");

    let mut replaced = Vec::new();
    for _ in 0..450 {
        replaced = node.ready_pods("app=web").await;
        if replaced.len() == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let uids: Vec<_> = replaced.iter().map(|p| p.metadata.uid.clone()).collect();
    assert_eq!(
        replaced.len(),
        2,
        "the ReplicaSet's replacement never became Ready"
    );
    assert!(
        !uids.contains(&deleted.metadata.uid),
        "the deleted pod is not among them"
    );
    node.stop().await;
}

#[tokio::test]
async fn the_node_is_ready_while_the_agent_runs_and_not_ready_after_it_stops() {
    let mut node = TestNode::start().await;
    let nodes: kube::Api<k8s_openapi::api::core::v1::Node> = kube::Api::all(node.client.clone());
    let registered = nodes.get(&node.node_name).await.unwrap();
    let allocatable = registered.status.clone().unwrap().allocatable.unwrap();
    for resource in ["cpu", "memory", "pods"] {
        assert!(allocatable.contains_key(resource), "allocatable {resource}");
    }
    assert_eq!(node_ready(&registered), Some(true));

    // A running pod's process is stopped with the agent.
    node.create_pod(pod_manifest(
        &node,
        "web",
        json!({"containers": [node.serving_container(json!([]))]}),
    ))
    .await;
    let pod = node
        .wait_for_pod("web", pod_ready, "Running and Ready")
        .await;
    let pid = get_json(&pod, "/stats").await["pid"].as_i64().unwrap() as i32;
    let marker = node.marker_dir().join("web.term");

    let stopped = node.stop_agent_only().await;
    assert_eq!(node_ready(&stopped), Some(false));
    assert_eq!(
        std::fs::read_to_string(&marker).unwrap_or_default(),
        "SIGTERM\n"
    );
    assert!(
        kill(Pid::from_raw(pid), None).is_err(),
        "the pod's process is gone"
    );
    // No agent finishes this pod's deletion any more: remove it at once.
    let force = DeleteParams {
        grace_period_seconds: Some(0),
        ..DeleteParams::default()
    };
    let _ = node.pods().delete("web", &force).await;
    let _ = std::fs::remove_dir_all(&node.dir);
    let namespaces: kube::Api<k8s_openapi::api::core::v1::Namespace> =
        kube::Api::all(node.client.clone());
    let _ = namespaces
        .delete(&node.namespace, &DeleteParams::default())
        .await;
}
