"""Cross-reference and policy rules over one render. Schema validation says each
object is well formed; these say the objects fit together and follow the project's
rules (k8s/README.md). Each function returns a Result; an empty
`problems` list is a pass."""

from __future__ import annotations

import os
import re
from typing import Any

from common import (
    Render, Result, containers, load_all, is_surge_image, map_selector_matches, ns,
    pod_template, pods_selected, quantity, ref, selector_matches, workloads,
)

_DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_LABEL_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")

# Kinds whose names must be DNS-1123 labels (they become DNS names or label values).
_LABEL_NAMED_KINDS = {"Service", "Namespace"}

RECOMMENDED_LABELS = ("app.kubernetes.io/name", "app.kubernetes.io/part-of")


# ------------------------------------------------------------------ metadata


def check_metadata(render: Render, cluster_scoped) -> Result:
    """Names and labels the API server would reject, duplicate objects, and (in an
    overlay) namespaced objects that would land in whatever namespace kubectl uses."""
    r = Result("metadata", render.name)
    seen: set[tuple] = set()
    for doc in render.docs:
        r.examined += 1
        meta = doc.get("metadata") or {}
        name = meta.get("name", "")
        pattern = _DNS1123_LABEL if doc.get("kind") in _LABEL_NAMED_KINDS else _DNS1123_SUBDOMAIN
        if not name or not pattern.match(name) or len(name) > (63 if pattern is _DNS1123_LABEL else 253):
            r.fail(f"{ref(doc)}: invalid name {name!r}")
        key = (doc.get("apiVersion", "").split("/")[0], doc.get("kind"), ns(doc), name)
        if key in seen:
            r.fail(f"{ref(doc)}: rendered twice")
        seen.add(key)
        label_sets = [("metadata.labels", meta.get("labels") or {})]
        tpl = pod_template(doc)
        if tpl is not None:
            label_sets.append(("pod template labels", (tpl.get("metadata") or {}).get("labels") or {}))
        for where, labels in label_sets:
            for k, v in labels.items():
                prefix, _, short = k.rpartition("/")
                if (prefix and not _DNS1123_SUBDOMAIN.match(prefix)) or not _LABEL_NAME.match(short) or len(short) > 63:
                    r.fail(f"{ref(doc)}: {where}: invalid label key {k!r}")
                if not isinstance(v, str) or not _LABEL_VALUE.match(v) or len(v) > 63:
                    r.fail(f"{ref(doc)}: {where}: invalid value {v!r} for label {k}")
        if render.is_overlay:
            if cluster_scoped(doc):
                if ns(doc):
                    r.fail(f"{ref(doc)}: cluster-scoped kind with a namespace")
            elif not ns(doc):
                r.fail(f"{ref(doc)}: no namespace (the overlay's namespace transformer missed it)")
    return r


def check_labels(render: Render) -> Result:
    """Recommended labels (app.kubernetes.io/*) on workloads, their pods and Services;
    in an overlay also app.kubernetes.io/instance on everything it renders."""
    r = Result("labels", render.name)
    for doc in render.docs:
        meta_labels = (doc.get("metadata") or {}).get("labels") or {}
        places = []
        if doc.get("kind") in ("Service", "HorizontalPodAutoscaler", "PodDisruptionBudget", "ServiceAccount") \
                or pod_template(doc) is not None:
            places.append(("metadata", meta_labels))
        tpl = pod_template(doc)
        if tpl is not None:
            places.append(("pod template", (tpl.get("metadata") or {}).get("labels") or {}))
        for where, labels in places:
            r.examined += 1
            for key in RECOMMENDED_LABELS:
                if key not in labels:
                    r.fail(f"{ref(doc)}: {where} lacks label {key}")
        if render.is_overlay and doc.get("kind") != "Namespace":
            r.examined += 1
            if "app.kubernetes.io/instance" not in meta_labels:
                r.fail(f"{ref(doc)}: lacks label app.kubernetes.io/instance")
    return r


# ----------------------------------------------------------- cross-references


def check_selectors(render: Render) -> Result:
    """Every Service, PodDisruptionBudget, NetworkPolicy and PodMonitor selects at
    least one pod template of the same render and namespace; every workload's own
    selector matches its template (the API server refuses it otherwise)."""
    r = Result("selectors", render.name)
    kafka_clusters = {(ns(d), d["metadata"]["name"]) for d in render.of_kind("Kafka")}
    for doc in render.docs:
        kind, spec = doc.get("kind"), doc.get("spec") or {}
        if kind == "Service":
            if spec.get("type") == "ExternalName" or not spec.get("selector"):
                continue
            r.examined += 1
            sel = spec["selector"]
            if not any(pods_selected(render, ns(doc), lambda l: map_selector_matches(sel, l))):
                r.fail(f"{ref(doc)}: selector {sel} matches no pod template in the render")
        elif kind == "PodDisruptionBudget":
            r.examined += 1
            sel = spec.get("selector")
            if not any(pods_selected(render, ns(doc), lambda l: selector_matches(sel, l))):
                r.fail(f"{ref(doc)}: selector matches no pod template in the render")
        elif kind == "NetworkPolicy":
            r.examined += 1
            sel = spec.get("podSelector")
            if sel and not any(pods_selected(render, ns(doc), lambda l: selector_matches(sel, l))):
                r.fail(f"{ref(doc)}: podSelector matches no pod template in the render")
        elif kind == "PodMonitor":
            r.examined += 1
            sel = spec.get("selector") or {}
            wanted = ns(doc)
            if (spec.get("namespaceSelector") or {}).get("any") or (spec.get("namespaceSelector") or {}).get("matchNames"):
                wanted = None
            labels = sel.get("matchLabels") or {}
            if "strimzi.io/cluster" in labels:
                # Pods created by the Strimzi operator: the Kafka resource must be here.
                if (ns(doc), labels["strimzi.io/cluster"]) not in kafka_clusters:
                    r.fail(f"{ref(doc)}: selects pods of Kafka cluster {labels['strimzi.io/cluster']!r}, "
                           "which this render does not define")
            elif not any(pods_selected(render, wanted, lambda l: selector_matches(sel, l))):
                r.fail(f"{ref(doc)}: selector matches no pod template in the render")
        tpl = pod_template(doc)
        if tpl is not None and doc.get("kind") != "CronJob" and "selector" in spec:
            r.examined += 1
            if not selector_matches(spec["selector"], (tpl.get("metadata") or {}).get("labels")):
                r.fail(f"{ref(doc)}: spec.selector does not match its own pod template")
    return r


def _target(render: Render, doc: dict[str, Any], target: dict[str, Any] | None, field: str, r: Result):
    target = target or {}
    kind = target.get("kind", "Deployment")
    name = target.get("name")
    found = render.find(kind, name, ns(doc))
    if found is None:
        r.fail(f"{ref(doc)}: {field} names {kind} {name!r}, which is not in the render "
               f"(namespace {ns(doc) or '-'})")
    return found


def check_scale_targets(render: Render) -> Result:
    """HPA/ScaledObject scaleTargetRef and VPA targetRef name a workload of the same
    render; VPA container policies name containers it has; no workload is driven by
    two horizontal autoscalers (an HPA plus a KEDA ScaledObject fight each other)."""
    r = Result("scale-targets", render.name)
    owners: dict[tuple, list[str]] = {}
    for doc in render.of_kind("HorizontalPodAutoscaler", "ScaledObject", "VerticalPodAutoscaler"):
        r.examined += 1
        spec = doc.get("spec") or {}
        field = "targetRef" if doc["kind"] == "VerticalPodAutoscaler" else "scaleTargetRef"
        target = spec.get(field) or {}
        wl = _target(render, doc, target, f"spec.{field}", r)
        if doc["kind"] != "VerticalPodAutoscaler":
            owners.setdefault((ns(doc), target.get("kind", "Deployment"), target.get("name")), []).append(ref(doc))
        if wl is not None and target.get("apiVersion") not in (None, wl.get("apiVersion")):
            r.fail(f"{ref(doc)}: {field}.apiVersion {target.get('apiVersion')} != {wl.get('apiVersion')}")
        if wl is not None and doc["kind"] == "VerticalPodAutoscaler":
            names = {c["name"] for c in containers(pod_template(wl) or {})}
            for pol in ((spec.get("resourcePolicy") or {}).get("containerPolicies") or []):
                if pol.get("containerName") not in names | {"*"}:
                    r.fail(f"{ref(doc)}: containerPolicies names {pol.get('containerName')!r}, "
                           f"not a container of {ref(wl)}")
        if wl is not None and doc["kind"] == "HorizontalPodAutoscaler":
            if spec.get("minReplicas", 1) > spec.get("maxReplicas", 0):
                r.fail(f"{ref(doc)}: minReplicas > maxReplicas")
            if (wl.get("spec") or {}).get("replicas") is not None:
                r.fail(f"{ref(wl)}: sets spec.replicas although {ref(doc)} owns the count "
                       "(every apply would reset the scale)")
    for (_, kind, name), who in owners.items():
        if len(who) > 1:
            r.fail(f"{kind} {name} is scaled by {len(who)} autoscalers at once: {', '.join(who)}")
    return r


def _refs_in_pod(tpl: dict[str, Any]):
    """(kind, name, where, optional) for every ConfigMap/Secret a pod template uses."""
    spec = tpl.get("spec") or {}
    for c in containers(tpl):
        for src in c.get("envFrom") or []:
            for key, kind in (("configMapRef", "ConfigMap"), ("secretRef", "Secret")):
                if key in src:
                    yield kind, src[key].get("name"), f"container {c['name']} envFrom", src[key].get("optional", False)
        for env in c.get("env") or []:
            vf = env.get("valueFrom") or {}
            for key, kind in (("configMapKeyRef", "ConfigMap"), ("secretKeyRef", "Secret")):
                if key in vf:
                    yield kind, vf[key].get("name"), f"container {c['name']} env {env.get('name')}", vf[key].get("optional", False)
    for vol in spec.get("volumes") or []:
        if "configMap" in vol:
            yield "ConfigMap", vol["configMap"].get("name"), f"volume {vol['name']}", vol["configMap"].get("optional", False)
        if "secret" in vol:
            yield "Secret", vol["secret"].get("secretName"), f"volume {vol['name']}", vol["secret"].get("optional", False)
        for source in ((vol.get("projected") or {}).get("sources") or []):
            for key, kind in (("configMap", "ConfigMap"), ("secret", "Secret")):
                if key in source:
                    yield kind, source[key].get("name"), f"projected volume {vol['name']}", source[key].get("optional", False)
    for ips in spec.get("imagePullSecrets") or []:
        yield "Secret", ips.get("name"), "imagePullSecrets", False


def check_config_refs(render: Render) -> Result:
    """Every ConfigMap and Secret a pod uses (env, envFrom, volumes, pull secrets)
    exists in the render, or is declared expected-external for this target in
    scripts/k8s/expected-external.yaml. Optional references are exempt."""
    r = Result("config-refs", render.name)
    for wl, tpl in workloads(render):
        for kind, name, where, optional in _refs_in_pod(tpl):
            r.examined += 1
            if optional or render.find(kind, name, ns(wl)) is not None:
                continue
            if render.is_external(kind, name):
                continue
            r.fail(f"{ref(wl)}: {where} references {kind} {name!r}, which is neither in the render "
                   "nor listed as expected-external for this target")
    return r


# ---------------------------------------------------------------------- ports


def check_ports(render: Render) -> Result:
    """Container ports are named; surge's containers expose their HTTP port as `http`;
    probes use a named port of their own container; Service targetPorts and PodMonitor
    ports name a port that the selected pods have."""
    r = Result("ports", render.name)
    for wl, tpl in workloads(render):
        for c in containers(tpl, include_init=False):
            r.examined += 1
            ports = c.get("ports") or []
            names = {p.get("name") for p in ports}
            for p in ports:
                if not p.get("name"):
                    r.fail(f"{ref(wl)}: container {c['name']} port {p.get('containerPort')} has no name")
            if is_surge_image(c.get("image")) and [p.get("name") for p in ports] != ["http"]:
                r.fail(f"{ref(wl)}: container {c['name']} must expose exactly one port, named `http` "
                       f"(has {sorted(n or '?' for n in names)})")
            for probe_name in ("startupProbe", "livenessProbe", "readinessProbe"):
                probe = c.get(probe_name) or {}
                for handler in ("httpGet", "tcpSocket", "grpc"):
                    if handler in probe:
                        port = probe[handler].get("port")
                        if not isinstance(port, str):
                            r.fail(f"{ref(wl)}: container {c['name']} {probe_name} uses port {port!r}; "
                                   "use the port's name")
                        elif port not in names:
                            r.fail(f"{ref(wl)}: container {c['name']} {probe_name} uses port {port!r}, "
                                   f"not a port of the container ({sorted(n for n in names if n)})")
    for svc in render.of_kind("Service"):
        sel = (svc.get("spec") or {}).get("selector")
        if not sel:
            continue
        pods = list(pods_selected(render, ns(svc), lambda l: map_selector_matches(sel, l)))
        for p in (svc.get("spec") or {}).get("ports") or []:
            r.examined += 1
            tp = p.get("targetPort", p.get("port"))
            if not isinstance(tp, str):
                r.fail(f"{ref(svc)}: port {p.get('name')} targets {tp!r}; target the container port's name")
                continue
            for wl, tpl in pods:
                if not any(tp == cp.get("name") for c in containers(tpl, False) for cp in c.get("ports") or []):
                    r.fail(f"{ref(svc)}: targetPort {tp!r} is not a port of {ref(wl)}")
    for pm in render.of_kind("PodMonitor"):
        spec = pm.get("spec") or {}
        sel = spec.get("selector") or {}
        if "strimzi.io/cluster" in (sel.get("matchLabels") or {}):
            continue  # operator-made pods: their port names are Strimzi's contract
        pods = list(pods_selected(render, ns(pm), lambda l: selector_matches(sel, l)))
        for ep in spec.get("podMetricsEndpoints") or []:
            r.examined += 1
            for wl, tpl in pods:
                if not any(ep.get("port") == cp.get("name") for c in containers(tpl, False) for cp in c.get("ports") or []):
                    r.fail(f"{ref(pm)}: port {ep.get('port')!r} is not a port of {ref(wl)}")
    return r


# ------------------------------------------------------------------ partitions


def _topic_partitions(render: Render, default_topics_file: str) -> dict[str, int]:
    topics = list(render.of_kind("KafkaTopic"))
    if not topics and os.path.exists(default_topics_file):
        with open(default_topics_file, encoding="utf-8") as fh:
            topics = [d for d in load_all(fh) if d.get("kind") == "KafkaTopic"]
    out = {}
    for t in topics:
        spec = t.get("spec") or {}
        out[spec.get("topicName") or t["metadata"]["name"]] = spec.get("partitions")
    return out


def check_partitions(render: Render, default_topics_file: str) -> Result:
    """A consumer autoscaler never allows more pods than the topic has partitions
    (extra group members get no partition and idle). The topic comes from the HPA's
    lag-metric selector or the KEDA trigger; the partition count from the render's
    KafkaTopic, or the strimzi-kafka component when the render has none."""
    r = Result("partitions", render.name)
    partitions = _topic_partitions(render, default_topics_file)
    for hpa in render.of_kind("HorizontalPodAutoscaler"):
        spec = hpa.get("spec") or {}
        for m in spec.get("metrics") or []:
            ext = m.get("external") or {}
            if (ext.get("metric") or {}).get("name") != "kafka_consumergroup_lag":
                continue
            r.examined += 1
            topic = (((ext.get("metric") or {}).get("selector") or {}).get("matchLabels") or {}).get("topic")
            if topic is None:
                r.fail(f"{ref(hpa)}: lag metric has no `topic` label selector; the sum would mix topics")
            elif topic not in partitions:
                r.fail(f"{ref(hpa)}: scales on topic {topic!r}, which has no KafkaTopic")
            elif spec.get("maxReplicas", 0) > partitions[topic]:
                r.fail(f"{ref(hpa)}: maxReplicas {spec.get('maxReplicas')} > {partitions[topic]} "
                       f"partitions of topic {topic!r}")
            if (m.get("external") or {}).get("target", {}).get("type") != "AverageValue":
                r.fail(f"{ref(hpa)}: lag target must be AverageValue (lag per pod)")
    for so in render.of_kind("ScaledObject"):
        spec = so.get("spec") or {}
        for trig in spec.get("triggers") or []:
            if trig.get("type") != "kafka":
                continue
            r.examined += 1
            topic = (trig.get("metadata") or {}).get("topic")
            if topic not in partitions:
                r.fail(f"{ref(so)}: kafka trigger topic {topic!r} has no KafkaTopic")
            elif spec.get("maxReplicaCount", 100) > partitions[topic]:
                r.fail(f"{ref(so)}: maxReplicaCount {spec.get('maxReplicaCount', 100)} > "
                       f"{partitions[topic]} partitions of topic {topic!r}")
    return r


# ---------------------------------------------------------------------- images


def check_images(render: Render) -> Result:
    """Every container image is pinned: a tag other than `latest`, or a digest."""
    r = Result("images", render.name)
    for wl, tpl in workloads(render):
        for c in containers(tpl):
            r.examined += 1
            image = c.get("image") or ""
            name, _, digest = image.partition("@")
            last = name.rsplit("/", 1)[-1]
            tag = last.partition(":")[2]
            if digest:
                if not _DIGEST.match(digest):
                    r.fail(f"{ref(wl)}: container {c['name']} image {image!r} has a malformed digest")
            elif not tag:
                r.fail(f"{ref(wl)}: container {c['name']} image {image!r} has no tag (means :latest)")
            elif tag == "latest":
                r.fail(f"{ref(wl)}: container {c['name']} image {image!r} uses :latest")
            if c.get("imagePullPolicy") == "Always" and not digest:
                r.fail(f"{ref(wl)}: container {c['name']} pulls Always without a digest")
    return r


# ---------------------------------------------------------------- pod security


def _effective(container: dict[str, Any], pod_sc: dict[str, Any], key: str):
    csc = container.get("securityContext") or {}
    return csc[key] if key in csc else pod_sc.get(key)


def check_pod_security(render: Render) -> Result:
    """Every container (init containers too) of every workload: non-root (surge's
    images as 65532), no privilege escalation, read-only root filesystem, all
    capabilities dropped, seccomp RuntimeDefault; CPU and memory requests and a memory
    limit that parse and are consistent."""
    r = Result("pod-security", render.name)
    for wl, tpl in workloads(render):
        spec = tpl.get("spec") or {}
        pod_sc = spec.get("securityContext") or {}
        for host in ("hostNetwork", "hostPID", "hostIPC"):
            if spec.get(host):
                r.fail(f"{ref(wl)}: {host} is set")
        for c in containers(tpl):
            r.examined += 1
            who = f"{ref(wl)}: container {c['name']}"
            csc = c.get("securityContext") or {}
            if _effective(c, pod_sc, "runAsNonRoot") is not True:
                r.fail(f"{who}: runAsNonRoot is not true")
            uid = _effective(c, pod_sc, "runAsUser")
            if uid is None or uid == 0:
                r.fail(f"{who}: runAsUser must be set to a non-zero uid")
            elif is_surge_image(c.get("image")) and uid != 65532:
                r.fail(f"{who}: runAsUser {uid}; surge images run as 65532 (distroless nonroot)")
            if csc.get("allowPrivilegeEscalation") is not False:
                r.fail(f"{who}: allowPrivilegeEscalation is not false")
            if csc.get("privileged"):
                r.fail(f"{who}: privileged")
            if csc.get("readOnlyRootFilesystem") is not True:
                r.fail(f"{who}: readOnlyRootFilesystem is not true")
            caps = csc.get("capabilities") or {}
            if "ALL" not in (caps.get("drop") or []):
                r.fail(f"{who}: capabilities.drop lacks ALL")
            if caps.get("add"):
                r.fail(f"{who}: adds capabilities {caps['add']}")
            seccomp = (_effective(c, pod_sc, "seccompProfile") or {}).get("type")
            if seccomp not in ("RuntimeDefault", "Localhost"):
                r.fail(f"{who}: seccompProfile is {seccomp or 'unset'}, want RuntimeDefault")
            res = c.get("resources") or {}
            req, lim = res.get("requests") or {}, res.get("limits") or {}
            for section, key in (("requests", "cpu"), ("requests", "memory"), ("limits", "memory")):
                value = (req if section == "requests" else lim).get(key)
                if value is None:
                    r.fail(f"{who}: resources.{section}.{key} is not set")
                elif quantity(value) is None:
                    r.fail(f"{who}: resources.{section}.{key} {value!r} is not a quantity")
            for key in ("cpu", "memory"):
                rq, lm = quantity(req.get(key)), quantity(lim.get(key))
                if rq is not None and lm is not None and rq > lm:
                    r.fail(f"{who}: {key} request {req[key]} exceeds its limit {lim[key]}")
    return r


def check_probes_and_drain(render: Render) -> Result:
    """surge's containers: liveness on /healthz, readiness on /readyz, a preStop drain;
    every pod: terminationGracePeriodSeconds longer than its preStop sleep."""
    r = Result("probes-and-drain", render.name)
    for wl, tpl in workloads(render):
        spec = tpl.get("spec") or {}
        grace = spec.get("terminationGracePeriodSeconds", 30)
        for c in containers(tpl, include_init=False):
            r.examined += 1
            who = f"{ref(wl)}: container {c['name']}"
            pre = ((c.get("lifecycle") or {}).get("preStop") or {})
            sleep = (pre.get("sleep") or {}).get("seconds")
            if sleep is not None and grace <= sleep:
                r.fail(f"{who}: terminationGracePeriodSeconds {grace} does not exceed the preStop "
                       f"sleep of {sleep} s; SIGKILL would come before the drain")
            if not is_surge_image(c.get("image")):
                continue
            for probe_name, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
                got = ((c.get(probe_name) or {}).get("httpGet") or {}).get("path")
                if got != path:
                    r.fail(f"{who}: {probe_name} must be httpGet {path} (is {got!r})")
            if not pre:
                r.fail(f"{who}: no lifecycle.preStop; in-flight requests would be cut while "
                       "endpoints still route to the pod")
            elif sleep is None:
                r.fail(f"{who}: preStop must be the kubelet's sleep action (the image has no shell)")
            elif grace < sleep + 15:
                r.fail(f"{who}: terminationGracePeriodSeconds {grace} leaves under 15 s after the "
                       f"{sleep} s preStop for the application's own drain")
    return r
