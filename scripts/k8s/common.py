"""Shared model for the manifest checks: a render (the objects one kustomize build
produced), a check result, and helpers for the parts of the Kubernetes object model
that several rules need (pod templates, label selectors, quantities)."""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, Callable, Iterable, Iterator

import yaml

# Images built from this repository; stricter rules apply to them (user 65532,
# a port named `http`, /healthz + /readyz probes, a preStop drain).
SURGE_IMAGE_PREFIX = "ghcr.io/surge-dev/"

# Kinds whose objects carry a pod template, and where it sits.
WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob")

CLUSTER_SCOPED_KINDS = {
    "Namespace", "PriorityClass", "ClusterRole", "ClusterRoleBinding", "StorageClass",
    "CustomResourceDefinition", "PersistentVolume", "APIService", "IngressClass",
    "ValidatingWebhookConfiguration", "MutatingWebhookConfiguration", "RuntimeClass",
    "ClusterTriggerAuthentication", "ClusterCloudEventSource",
}


class YamlLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):
    """Safe loader (libyaml when available) without YAML 1.1's `=` "value" tag, which
    makes PyYAML choke on a plain `=` (as in Prometheus Operator's enums)."""


YamlLoader.yaml_implicit_resolvers = {
    ch: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:value"]
    for ch, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def load_all(stream) -> list[Any]:
    return [d for d in yaml.load_all(stream, Loader=YamlLoader) if d is not None]


@dataclass
class Render:
    """One kustomize build (or a fixture) and what the rules need to know about it."""

    name: str  # e.g. "overlays/prod", "components/keda", "fixtures/broken-ports"
    kind: str  # "base" | "component" | "overlay" | "fixture"
    docs: list[dict[str, Any]]
    # Objects referenced but deliberately not rendered: [{"kind": ..., "name": ...}].
    expected_external: list[dict[str, str]] = field(default_factory=list)

    @property
    def is_overlay(self) -> bool:
        return self.kind in ("overlay", "fixture")

    def of_kind(self, *kinds: str) -> Iterator[dict[str, Any]]:
        return (d for d in self.docs if d.get("kind") in kinds)

    def find(self, kind: str, name: str, namespace: str | None) -> dict[str, Any] | None:
        for d in self.of_kind(kind):
            if d["metadata"].get("name") == name and ns(d) == namespace:
                return d
        return None

    def is_external(self, kind: str, name: str) -> bool:
        return any(e["kind"] == kind and e["name"] == name for e in self.expected_external)


@dataclass
class Result:
    """What one check found in one render: problems (empty = pass) and how many
    objects it looked at, for the summary."""

    check: str
    target: str
    problems: list[str] = field(default_factory=list)
    examined: int = 0
    note: str = ""

    @property
    def ok(self) -> bool:
        return not self.problems

    def fail(self, message: str) -> None:
        self.problems.append(message)


def ns(doc: dict[str, Any]) -> str | None:
    return doc.get("metadata", {}).get("namespace")


def ref(doc: dict[str, Any]) -> str:
    """Human name of an object: Kind namespace/name."""
    n = ns(doc)
    name = doc.get("metadata", {}).get("name", "?")
    return f"{doc.get('kind', '?')} {n + '/' if n else ''}{name}"


def pod_template(doc: dict[str, Any]) -> dict[str, Any] | None:
    spec = doc.get("spec") or {}
    if doc.get("kind") == "CronJob":
        return ((spec.get("jobTemplate") or {}).get("spec") or {}).get("template")
    if doc.get("kind") in WORKLOAD_KINDS:
        return spec.get("template")
    return None


def workloads(render: Render) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    """(workload, pod template) for every object that creates pods."""
    for d in render.docs:
        t = pod_template(d)
        if t is not None:
            yield d, t


def containers(template: dict[str, Any], include_init: bool = True) -> list[dict[str, Any]]:
    spec = template.get("spec") or {}
    out = list(spec.get("containers") or [])
    if include_init:
        out = list(spec.get("initContainers") or []) + out
    return out


def is_surge_image(image: str | None) -> bool:
    return bool(image) and image.startswith(SURGE_IMAGE_PREFIX)


def selector_matches(selector: dict[str, Any] | None, labels: dict[str, str] | None) -> bool:
    """A metav1.LabelSelector (matchLabels + matchExpressions) against a label set.
    An empty selector matches everything, as in the API."""
    labels = labels or {}
    selector = selector or {}
    for k, v in (selector.get("matchLabels") or {}).items():
        if labels.get(k) != v:
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr.get("key"), expr.get("operator"), expr.get("values") or []
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and key in labels and labels[key] in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True


def map_selector_matches(selector: dict[str, str] | None, labels: dict[str, str] | None) -> bool:
    """A plain map selector (Service.spec.selector)."""
    return selector_matches({"matchLabels": selector or {}}, labels)


def pods_selected(render: Render, namespace: str | None, match: Callable[[dict], bool]):
    """Pod templates in `namespace` whose labels satisfy `match`."""
    for wl, tpl in workloads(render):
        if ns(wl) == namespace and match((tpl.get("metadata") or {}).get("labels") or {}):
            yield wl, tpl


_QUANTITY = re.compile(r"^([+-]?[0-9.]+)(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei|e[0-9]+|E[0-9]+)?$")
_SUFFIX = {
    None: Decimal(1), "m": Decimal("0.001"), "k": Decimal(10) ** 3, "M": Decimal(10) ** 6,
    "G": Decimal(10) ** 9, "T": Decimal(10) ** 12, "P": Decimal(10) ** 15, "E": Decimal(10) ** 18,
    "Ki": Decimal(2) ** 10, "Mi": Decimal(2) ** 20, "Gi": Decimal(2) ** 30, "Ti": Decimal(2) ** 40,
    "Pi": Decimal(2) ** 50, "Ei": Decimal(2) ** 60,
}


def quantity(value: Any) -> Decimal | None:
    """A resource.Quantity as a number, or None when it is not a valid quantity."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return Decimal(str(value))
    m = _QUANTITY.match(str(value).strip())
    if not m:
        return None
    try:
        number = Decimal(m.group(1))
    except InvalidOperation:
        return None
    suffix = m.group(2)
    if suffix and suffix[0] in "eE" and len(suffix) > 1:
        return number * (Decimal(10) ** int(suffix[1:]))
    return number * _SUFFIX[suffix]


def glob_match(name: str, patterns: Iterable[str]) -> bool:
    return any(fnmatch.fnmatchcase(name, p) for p in patterns)
