#!/usr/bin/env python3
"""The Helm chart (charts/surge) and the kustomize overlay it mirrors render the same
objects, field for field.

    agreement.py --chart CHART.yaml --kustomize KUSTOMIZE.yaml

CHART.yaml is `helm template surge-prod charts/surge --namespace surge` (default values),
KUSTOMIZE.yaml is `kustomize build k8s/overlays/prod`. Every object of either render must
have its counterpart (same kind, namespace and name) in the other, except the few that
only kustomize ships (NOT_IN_CHART, each with its reason), and the two must be equal
after removing what necessarily differs between the tools:

- the labels app.kubernetes.io/managed-by (Helm / kustomize) and helm.sh/chart;
- annotations checksum/* (Helm's way to roll pods on a settings change);
- kustomize's content-hash suffix on generated ConfigMap names (the same job), in the
  names and in every reference to them;
- metadata the API server owns or that neither tool sets on purpose.

Everything else is compared: images, ports, probes, resources, securityContext, env and
the ConfigMaps' data, HPA bounds, metrics and behavior, PDBs, NetworkPolicies,
PodMonitors, the PrometheusRule, dashboards, Strimzi resources. Exit status 1 lists each
difference as `Kind namespace/name: path: chart X, kustomize Y`.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from common import load_all  # noqa: E402

IGNORED_LABELS = {"app.kubernetes.io/managed-by", "helm.sh/chart"}
IGNORED_ANNOTATION_PREFIXES = ("checksum/",)

# (kind, name) that overlays/prod renders and the chart deliberately does not (see
# charts/surge/README.md, "Not in the chart").
NOT_IN_CHART = {
    # Helm installs into the release namespace (--namespace/--create-namespace); its
    # Pod Security labels belong to whoever owns the namespace.
    ("Namespace", "surge"): "the release namespace is Helm's",
    # Node headroom is a cluster concern (one per cluster, not per release).
    ("PriorityClass", "surge-overprovisioning"): "cluster-scoped, one per cluster",
    ("Deployment", "overprovisioning"): "node headroom is sized per cluster",
    # The adapter rule lives in the adapter's namespace and belongs to its Helm release.
    ("ConfigMap", "surge-prometheus-adapter"): "set in prometheus-adapter's own chart values",
    # VPA in recommendation mode: an add-on of the kustomize tree only.
    ("VerticalPodAutoscaler", "producer-svc"): "recommendations only; kustomize component vpa",
    ("VerticalPodAutoscaler", "consumer-svc"): "recommendations only; kustomize component vpa",
}

_HASHED = re.compile(r"^(?P<base>.+)-[a-z0-9]{10}$")


def key(doc: dict[str, Any]) -> tuple[str, str, str]:
    meta = doc.get("metadata") or {}
    return doc.get("kind", "?"), meta.get("namespace") or "", meta.get("name", "?")


def show(k: tuple[str, str, str]) -> str:
    return f"{k[0]} {k[1] + '/' if k[1] else ''}{k[2]}"


def _clean_meta(meta: dict[str, Any], top: bool) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if top:
        for f in ("name", "namespace"):
            if f in meta:
                out[f] = meta[f]
    labels = {k: v for k, v in (meta.get("labels") or {}).items() if k not in IGNORED_LABELS}
    annotations = {k: v for k, v in (meta.get("annotations") or {}).items()
                   if not k.startswith(IGNORED_ANNOTATION_PREFIXES)}
    if labels:
        out["labels"] = labels
    if annotations:
        out["annotations"] = annotations
    return out


def _rename(node: Any, renames: dict[str, str]) -> Any:
    if isinstance(node, dict):
        return {k: _rename(v, renames) for k, v in node.items()}
    if isinstance(node, list):
        return [_rename(v, renames) for v in node]
    if isinstance(node, str):
        return renames.get(node, node)
    return node


def normalize(docs: list[dict[str, Any]], renames: dict[str, str]) -> dict[tuple, dict[str, Any]]:
    out = {}
    for doc in docs:
        doc = _rename(doc, renames)
        doc["metadata"] = _clean_meta(doc.get("metadata") or {}, top=True)
        tpl = (doc.get("spec") or {}).get("template")
        if isinstance(tpl, dict) and isinstance(tpl.get("metadata"), dict):
            tpl["metadata"] = _clean_meta(tpl["metadata"], top=False)
        out[key(doc)] = doc
    return out


def hashed_configmaps(kustomize_docs, chart_names: set[str]) -> dict[str, str]:
    """kustomize's generated names (`producer-svc-config-7f9c2b8k5d`) -> the chart's."""
    renames = {}
    for d in kustomize_docs:
        if d.get("kind") != "ConfigMap":
            continue
        name = d["metadata"]["name"]
        m = _HASHED.match(name)
        if m and name not in chart_names and m.group("base") in chart_names:
            renames[name] = m.group("base")
    return renames


def diff(a: Any, b: Any, path: str, out: list[str]) -> None:
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b), key=str):
            p = f"{path}.{k}" if path else str(k)
            if k not in a:
                out.append(f"{p}: missing in the chart, kustomize {_short(b[k])}")
            elif k not in b:
                out.append(f"{p}: chart {_short(a[k])}, missing in kustomize")
            else:
                diff(a[k], b[k], p, out)
    elif isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            out.append(f"{path}: chart has {len(a)} items, kustomize {len(b)}: chart {_short(a)}, kustomize {_short(b)}")
            return
        for i, (x, y) in enumerate(zip(a, b)):
            diff(x, y, f"{path}[{i}]", out)
    elif a != b or type(a) is not type(b):
        out.append(f"{path}: chart {_short(a)}, kustomize {_short(b)}")


def _short(v: Any, limit: int = 100) -> str:
    s = repr(v)
    return s if len(s) <= limit else s[:limit] + "…"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--chart", required=True, help="helm template output")
    ap.add_argument("--kustomize", required=True, help="kustomize build output")
    args = ap.parse_args()
    with open(args.chart, encoding="utf-8") as fh:
        chart_docs = load_all(fh)
    with open(args.kustomize, encoding="utf-8") as fh:
        kust_docs = load_all(fh)

    chart_names = {d["metadata"]["name"] for d in chart_docs if d.get("kind") == "ConfigMap"}
    chart = normalize(chart_docs, {})
    kust = normalize(kust_docs, hashed_configmaps(kust_docs, chart_names))

    problems = []
    for k in sorted(set(kust) - set(chart)):
        if (k[0], k[2]) not in NOT_IN_CHART:
            problems.append(f"{show(k)}: rendered by kustomize, missing in the chart")
    for k in sorted(set(chart) - set(kust)):
        problems.append(f"{show(k)}: rendered by the chart, not by kustomize")
    compared = sorted(set(chart) & set(kust))
    for k in compared:
        found: list[str] = []
        diff(chart[k], kust[k], "", found)
        problems.extend(f"{show(k)}: {p}" for p in found)

    skipped = sorted(k for k in set(kust) - set(chart) if (k[0], k[2]) in NOT_IN_CHART)
    print(f"agreement: {len(compared)} objects compared field by field; "
          f"{len(skipped)} only in kustomize by design ({', '.join(show(k) for k in skipped)})")
    for p in problems:
        print(f"  DIFFERS {p}")
    print(f"agreement: {'OK' if not problems else f'{len(problems)} differences'}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
