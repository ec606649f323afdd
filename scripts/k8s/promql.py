"""PromQL in the manifests: alert and recording rules (PrometheusRule),
prometheus-adapter queries and Grafana dashboard targets must parse (PyPI
`promql-parser`, the Rust parser of Prometheus' grammar). Rules and adapter queries
may only name metrics the project documents (scripts/k8s/known-metrics.txt) or that
a recording rule in the same render defines, so a typo cannot make an alert silent."""

from __future__ import annotations

import json
import os
import re
from typing import Any, Iterator

import promql_parser
import yaml

from common import Render, Result, ref

_GRAFANA_VARS = [
    (re.compile(r"\$__(rate_interval|interval|range)\b"), "5m"),
    (re.compile(r"\$\{__(rate_interval|interval|range)(:[a-z]+)?\}"), "5m"),
    (re.compile(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)(:[a-z]+)?\}?"), "x"),
]
_HISTOGRAM_SUFFIXES = ("_bucket", "_count", "_sum")


def load_known_metrics(path: str) -> set[str]:
    with open(path, encoding="utf-8") as fh:
        return {ln.split("#", 1)[0].strip() for ln in fh if ln.split("#", 1)[0].strip()}


def recorded_in_rule_files(rules_dir: str) -> set[str]:
    """Names the project's own recording rules define (observability/prometheus/rules):
    an adapter query may read them in a render that carries no PrometheusRule (the local
    overlay, whose Prometheus loads those files directly)."""
    names: set[str] = set()
    for name in sorted(os.listdir(rules_dir)) if os.path.isdir(rules_dir) else []:
        if name.endswith((".yml", ".yaml")):
            with open(os.path.join(rules_dir, name), encoding="utf-8") as fh:
                doc = yaml.safe_load(fh) or {}
            names |= {r["record"] for g in doc.get("groups") or [] for r in g.get("rules") or [] if r.get("record")}
    return names


def _metric_names(expr) -> set[str]:
    names: set[str] = set()

    def visit(node):
        if isinstance(node, promql_parser.VectorSelector):
            if node.name:
                names.add(node.name)
            else:
                m = re.search(r'__name__="([^"]+)"', str(node.matchers))
                if m:
                    names.add(m.group(1))
    promql_parser.walk(expr, visit)
    return names


def _rule_exprs(doc: dict[str, Any]) -> Iterator[tuple[str, str]]:
    for group in ((doc.get("spec") or {}).get("groups") or []):
        for rule in group.get("rules") or []:
            label = rule.get("alert") or rule.get("record") or "?"
            yield f"group {group.get('name')} rule {label}", str(rule.get("expr", ""))


def _adapter_exprs(doc: dict[str, Any]) -> Iterator[tuple[str, str]]:
    config = yaml.safe_load((doc.get("data") or {}).get("config.yaml") or "{}") or {}
    for section in ("rules", "externalRules", "resourceRules"):
        rules = config.get(section) or []
        if isinstance(rules, dict):  # resourceRules: {cpu: {...}, memory: {...}}
            rules = list(rules.values())
        for i, rule in enumerate(rules):
            series = re.match(r"\s*([A-Za-z_:][A-Za-z0-9_:]*)", rule.get("seriesQuery", "") or "")
            metric = series.group(1) if series else "up"
            yield f"{section}[{i}] seriesQuery", rule.get("seriesQuery", "")
            query = (rule.get("metricsQuery") or "")
            query = query.replace("<<.Series>>", metric)
            query = query.replace("<<.LabelMatchers>>", 'namespace="x"').replace("<<.GroupBy>>", "namespace")
            yield f"{section}[{i}] metricsQuery", query


def _dashboard_exprs(doc: dict[str, Any]) -> Iterator[tuple[str, str]]:
    for key, text in (doc.get("data") or {}).items():
        try:
            dashboard = json.loads(text)
        except json.JSONDecodeError as e:
            yield f"{key}", f"<<invalid JSON: {e}>>"
            continue
        stack = list(dashboard.get("panels") or [])
        while stack:
            panel = stack.pop()
            stack.extend(panel.get("panels") or [])
            for t in panel.get("targets") or []:
                if t.get("expr"):
                    expr = t["expr"]
                    for pattern, repl in _GRAFANA_VARS:
                        expr = pattern.sub(repl, expr)
                    yield f"{key} panel {panel.get('title')!r} target {t.get('refId')}", expr


def check_promql(render: Render, known: set[str]) -> Result:
    r = Result("promql", render.name)
    recorded = {rule.get("record") for d in render.of_kind("PrometheusRule")
                for g in ((d.get("spec") or {}).get("groups") or []) for rule in g.get("rules") or []}
    allowed = known | {n for n in recorded if n}
    for doc in render.docs:
        kind = doc.get("kind")
        labels = (doc.get("metadata") or {}).get("labels") or {}
        if kind == "PrometheusRule":
            exprs, strict = _rule_exprs(doc), True
        elif kind == "ConfigMap" and labels.get("app.kubernetes.io/name") == "prometheus-adapter":
            exprs, strict = _adapter_exprs(doc), True
        elif kind == "ConfigMap" and labels.get("grafana_dashboard") == "1":
            exprs, strict = _dashboard_exprs(doc), False
        else:
            continue
        for where, expr in exprs:
            r.examined += 1
            if expr.startswith("<<invalid JSON"):
                r.fail(f"{ref(doc)}: {where}: {expr[2:-2]}")
                continue
            try:
                parsed = promql_parser.parse(expr)
            except ValueError as e:
                r.fail(f"{ref(doc)}: {where}: PromQL does not parse: {e}: {expr.strip()!r}")
                continue
            if not strict:
                continue
            for name in sorted(_metric_names(parsed)):
                base = name
                for suffix in _HISTOGRAM_SUFFIXES:
                    if name.endswith(suffix) and name[: -len(suffix)] in allowed:
                        base = name[: -len(suffix)]
                if base not in allowed:
                    r.fail(f"{ref(doc)}: {where}: unknown metric {name!r} (not in "
                           "scripts/k8s/known-metrics.txt nor recorded by a rule here or in observability/prometheus/rules)")
    return r
