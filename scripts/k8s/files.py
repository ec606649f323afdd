"""Checks over repository files rather than renders: the consumer HPA file that the
HPA algorithm crate (autoscaler/) reads, the Dockerfiles, the compose file, and the dashboard copies."""

from __future__ import annotations

import filecmp
import json
import os
import re
import subprocess
from typing import Any

import jsonschema
import yaml

from common import Result, quantity


# ------------------------------------------------------------------ HPA contract


def check_hpa_contract(path: str) -> Result:
    """k8s/base/consumer-svc/hpa.yaml is read by the HPA algorithm's tests as plain YAML:
    exactly one autoscaling/v2 HPA, min/max, one External metric with
    target.averageValue, and a complete behavior (windows, Pods/Percent policies with
    periods, selectPolicy), tuned fast-up / slow-down."""
    r = Result("hpa-contract", os.path.relpath(path))
    try:
        with open(path, encoding="utf-8") as fh:
            docs = [d for d in yaml.safe_load_all(fh) if d is not None]
    except (OSError, yaml.YAMLError) as e:
        r.fail(f"cannot read: {e}")
        return r
    r.examined = len(docs)
    if len(docs) != 1:
        r.fail(f"holds {len(docs)} objects; autoscaler/ expects exactly one")
        return r
    hpa = docs[0]
    if hpa.get("apiVersion") != "autoscaling/v2" or hpa.get("kind") != "HorizontalPodAutoscaler":
        r.fail(f"is {hpa.get('apiVersion')} {hpa.get('kind')}, want autoscaling/v2 HorizontalPodAutoscaler")
        return r
    spec = hpa.get("spec") or {}
    lo, hi = spec.get("minReplicas"), spec.get("maxReplicas")
    if not isinstance(lo, int) or not isinstance(hi, int) or not 1 <= lo <= hi:
        r.fail(f"minReplicas/maxReplicas must be integers with 1 <= min <= max (are {lo!r}/{hi!r})")
    metrics = spec.get("metrics") or []
    external = [m for m in metrics if m.get("type") == "External"]
    if len(metrics) != 1 or len(external) != 1:
        r.fail(f"needs exactly one metric, of type External (has {[m.get('type') for m in metrics]})")
    else:
        target = (external[0].get("external") or {}).get("target") or {}
        if target.get("type") != "AverageValue" or "averageValue" not in target:
            r.fail("the External metric's target must be type AverageValue with averageValue")
        elif (quantity(target["averageValue"]) or 0) <= 0:
            r.fail(f"averageValue {target['averageValue']!r} is not a positive quantity")
    behavior = spec.get("behavior") or {}
    for direction in ("scaleUp", "scaleDown"):
        rules = behavior.get(direction)
        if not isinstance(rules, dict):
            r.fail(f"behavior.{direction} is missing")
            continue
        window = rules.get("stabilizationWindowSeconds")
        if not isinstance(window, int) or not 0 <= window <= 3600:
            r.fail(f"behavior.{direction}.stabilizationWindowSeconds must be set (0..3600), is {window!r}")
        if rules.get("selectPolicy") not in ("Max", "Min", "Disabled"):
            r.fail(f"behavior.{direction}.selectPolicy must be Max, Min or Disabled")
        policies = rules.get("policies") or []
        if not policies:
            r.fail(f"behavior.{direction}.policies is empty")
        for i, p in enumerate(policies):
            if p.get("type") not in ("Pods", "Percent"):
                r.fail(f"behavior.{direction}.policies[{i}].type must be Pods or Percent")
            if not isinstance(p.get("value"), int) or p["value"] <= 0:
                r.fail(f"behavior.{direction}.policies[{i}].value must be a positive integer")
            if not isinstance(p.get("periodSeconds"), int) or not 0 < p["periodSeconds"] <= 1800:
                r.fail(f"behavior.{direction}.policies[{i}].periodSeconds must be in 1..1800")
    up, down = behavior.get("scaleUp") or {}, behavior.get("scaleDown") or {}
    if up.get("stabilizationWindowSeconds") not in (0, None) and isinstance(up, dict):
        r.fail("flash sale: scaleUp.stabilizationWindowSeconds should be 0 (react to the first sample)")
    if isinstance(down.get("stabilizationWindowSeconds"), int) and down["stabilizationWindowSeconds"] < 120:
        r.fail("flash sale: scaleDown.stabilizationWindowSeconds should be >= 120 (sales come in waves)")
    return r


# ------------------------------------------------------------------ Dockerfiles


def _instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with line continuations joined and comments dropped."""
    out, buf = [], ""
    for line in text.splitlines():
        stripped = line.strip()
        if not buf and (not stripped or stripped.startswith("#")):
            continue
        if buf and stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            buf += stripped[:-1] + " "
            continue
        buf += stripped
        word, _, rest = buf.partition(" ")
        out.append((word.upper(), rest.strip()))
        buf = ""
    return out


def check_dockerfile(path: str, lint: str) -> Result:
    """Parses and lints with BuildKit's front end (`lint`, scripts/k8s/dockerfile-lint),
    then the project's rules: multi-stage with a dependency-caching layer, registry base
    images as build arguments (distroless nonroot runtime, rust bookworm builder), a
    final stage that runs as 65532 with an exec-form ENTRYPOINT and OCI labels, no
    HEALTHCHECK (the orchestrator probes /healthz and /readyz), no :latest."""
    r = Result("dockerfiles", os.path.relpath(path), note="BuildKit parser + project rules")
    proc = subprocess.run([lint, path], capture_output=True, text=True)
    for line in (proc.stdout + proc.stderr).splitlines():
        r.fail("BuildKit: " + line.replace(path + ": ", "", 1))
    if proc.returncode != 0 and not r.problems:
        r.fail(f"dockerfile-lint exited {proc.returncode}")
    with open(path, encoding="utf-8") as fh:
        text = fh.read()
    ins = _instructions(text)
    r.examined = len(ins)
    args = {m.group(1): m.group(2) for k, v in ins if k == "ARG"
            for m in [re.match(r"^([A-Za-z_][A-Za-z0-9_]*)(?:=(.*))?$", v)] if m}
    runtime = (args.get("RUNTIME_IMAGE") or "").strip("\"'")
    builder = (args.get("BUILDER_IMAGE") or "").strip("\"'")
    if not re.match(r"^gcr\.io/distroless/cc-debian12:nonroot(@sha256:[0-9a-f]{64})?$", runtime):
        r.fail(f"ARG RUNTIME_IMAGE default must be gcr.io/distroless/cc-debian12:nonroot (is {runtime!r})")
    if not re.match(r"^rust:1\.\d+(\.\d+)?-bookworm(@sha256:[0-9a-f]{64})?$", builder):
        r.fail(f"ARG BUILDER_IMAGE default must be a pinned rust:1.x-bookworm (is {builder!r})")
    froms = [i for i, (k, _) in enumerate(ins) if k == "FROM"]
    if len(froms) < 2:
        r.fail("not multi-stage (fewer than two FROM)")
    else:
        final = ins[froms[-1]:]
        if not re.match(r"^(--platform=\S+\s+)?\$\{?RUNTIME_IMAGE\}?(\s|$)", ins[froms[-1]][1]):
            r.fail(f"final stage must start FROM ${{RUNTIME_IMAGE}} (is {ins[froms[-1]][1]!r})")
        if not any(re.match(r"^(--platform=\S+\s+)?\$\{?BUILDER_IMAGE\}?(\s|$)", ins[i][1]) for i in froms[:-1]):
            r.fail("no build stage FROM ${BUILDER_IMAGE}")
        users = [v for k, v in final if k == "USER"]
        if not users or users[-1] not in ("65532", "65532:65532", "nonroot", "nonroot:nonroot"):
            r.fail(f"final stage must run as USER 65532 (has {users or 'none'})")
        entry = [v for k, v in final if k == "ENTRYPOINT"]
        if not entry or not entry[-1].startswith("["):
            r.fail("final stage needs an exec-form ENTRYPOINT [\"/path\"] (distroless has no shell)")
        labels = " ".join(v for k, v in final if k == "LABEL")
        for key in ("title", "description", "source", "licenses", "version", "revision"):
            if f"org.opencontainers.image.{key}" not in labels:
                r.fail(f"final stage lacks LABEL org.opencontainers.image.{key}")
    if any(k == "HEALTHCHECK" for k, _ in ins):
        r.fail("has a HEALTHCHECK; Kubernetes ignores it and distroless has no shell/curl to run it")
    if re.search(r":latest\b", text):
        r.fail("mentions an image :latest")
    if "cargo chef cook" not in text and "--mount=type=cache" not in text:
        r.fail("no dependency-caching layer (cargo-chef or a cache mount)")
    return r


# ---------------------------------------------------------------------- compose


def check_compose_schema(path: str, schema_path: str) -> Result:
    """docker/compose.yaml against the compose-spec JSON schema (compose-go's copy)."""
    r = Result("compose-schema", os.path.relpath(path))
    with open(schema_path, encoding="utf-8") as fh:
        schema = json.load(fh)
    try:
        with open(path, encoding="utf-8") as fh:
            doc = yaml.safe_load(fh)
    except (OSError, yaml.YAMLError) as e:
        r.fail(f"cannot read: {e}")
        return r
    r.examined = len((doc or {}).get("services") or {})
    validator_cls = jsonschema.validators.validator_for(schema)
    for e in sorted(validator_cls(schema).iter_errors(doc), key=lambda e: list(e.absolute_path)):
        best = jsonschema.exceptions.best_match([e])
        where = ".".join(str(p) for p in best.absolute_path) or "(top level)"
        r.fail(f"{where}: {best.message}")
    return r


def _short_volumes(service: dict[str, Any]):
    for v in service.get("volumes") or []:
        if isinstance(v, str):
            source = v.split(":", 1)[0]
            yield source, v
        elif isinstance(v, dict):
            yield v.get("source", ""), v.get("type", "")


def check_compose_refs(path: str) -> Result:
    """What the schema cannot see: depends_on names real services (and waits for
    one-shot jobs with service_completed_successfully), named volumes and networks are
    declared, bind-mounted files and build contexts exist, images are pinned."""
    r = Result("compose-refs", os.path.relpath(path))
    base = os.path.dirname(os.path.abspath(path))
    with open(path, encoding="utf-8") as fh:
        doc = yaml.safe_load(fh) or {}
    services = doc.get("services") or {}
    volumes = set((doc.get("volumes") or {}).keys())
    networks = set((doc.get("networks") or {}).keys()) | {"default"}
    for name, svc in services.items():
        r.examined += 1
        deps = svc.get("depends_on") or {}
        deps = {d: {} for d in deps} if isinstance(deps, list) else deps
        for dep, cond in deps.items():
            if dep not in services:
                r.fail(f"service {name}: depends_on unknown service {dep!r}")
        for source, spec in _short_volumes(svc):
            if source.startswith((".", "/")):
                if source.startswith(".") and not os.path.exists(os.path.normpath(os.path.join(base, source))):
                    r.fail(f"service {name}: bind mount source {source!r} does not exist")
            elif source and source not in volumes:
                r.fail(f"service {name}: volume {source!r} is not declared under top-level volumes")
        nets = svc.get("networks") or []
        for net in (nets if isinstance(nets, list) else nets.keys()):
            if net not in networks:
                r.fail(f"service {name}: network {net!r} is not declared")
        build = svc.get("build")
        if build:
            ctx = build if isinstance(build, str) else build.get("context", ".")
            ctx_path = os.path.normpath(os.path.join(base, ctx))
            if not os.path.isdir(ctx_path):
                r.fail(f"service {name}: build context {ctx!r} does not exist")
            elif isinstance(build, dict) and build.get("dockerfile"):
                if not os.path.exists(os.path.join(ctx_path, build["dockerfile"])):
                    r.fail(f"service {name}: dockerfile {build['dockerfile']!r} not found in {ctx!r}")
        image = svc.get("image")
        if image and not build:
            img = image.split("@")[0]
            tag = img.rsplit("/", 1)[-1].partition(":")[2]
            if "@" not in image and (not tag or tag == "latest"):
                r.fail(f"service {name}: image {image!r} is not pinned to a tag or digest")
    return r


# Which versions.env entry pins each image that docker/compose.yaml pulls, and how the
# image tag spells it. Images built from this repository (with `build:`) are not here.
COMPOSE_IMAGE_VERSIONS = {
    "apache/kafka": ("KAFKA_VERSION", lambda v: v),
    "postgres": ("POSTGRES_MAJOR", lambda v: v),
    "prom/prometheus": ("PROMETHEUS_VERSION", lambda v: f"v{v}"),
    "jaegertracing/jaeger": ("JAEGER_RELEASE", lambda v: v.removeprefix("v")),
    "grafana/grafana": ("GRAFANA_VERSION", lambda v: v),
    "danielqsj/kafka_exporter": ("KAFKA_EXPORTER_VERSION", lambda v: v),
}


def read_versions_env(path: str) -> dict[str, str]:
    """scripts/infra/versions.env: NAME=value lines, # comments."""
    out = {}
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            line = line.strip()
            if line and not line.startswith("#"):
                name, _, value = line.partition("=")
                out[name.strip()] = value.strip()
    return out


def check_compose_versions(path: str, versions_path: str) -> Result:
    """Every image docker/compose.yaml pulls runs the version scripts/infra/versions.env
    pins for the local infrastructure (PostgreSQL: the major, as `postgres:<major>...`),
    so Docker users and the scripts test the same servers. An image with no entry in
    COMPOSE_IMAGE_VERSIONS fails too: a new image needs its pin first."""
    r = Result("compose-versions", os.path.relpath(path))
    try:
        versions = read_versions_env(versions_path)
        with open(path, encoding="utf-8") as fh:
            doc = yaml.safe_load(fh) or {}
    except (OSError, yaml.YAMLError) as e:
        r.fail(f"cannot read: {e}")
        return r
    for name, svc in (doc.get("services") or {}).items():
        image = svc.get("image")
        if not image or svc.get("build"):
            continue
        r.examined += 1
        repo, sep, tag = image.split("@")[0].rpartition(":")
        if not sep or "/" in tag:  # no tag; the colon belongs to a registry port
            repo, tag = image.split("@")[0], ""
        if repo not in COMPOSE_IMAGE_VERSIONS:
            r.fail(f"service {name}: image {repo!r} has no pinned version in scripts/infra/versions.env "
                   f"(add one and map it in COMPOSE_IMAGE_VERSIONS, scripts/k8s/files.py)")
            continue
        key, spell = COMPOSE_IMAGE_VERSIONS[repo]
        if key not in versions:
            r.fail(f"service {name}: scripts/infra/versions.env has no {key} (for image {repo})")
            continue
        want = spell(versions[key])
        ok = tag == want or (key == "POSTGRES_MAJOR" and re.match(rf"{re.escape(want)}(\.|-|$)", tag))
        if not ok:
            r.fail(f"service {name}: image {image} but scripts/infra/versions.env has {key}={versions[key]} "
                   f"(want tag {want}{'[.minor][-variant]' if key == 'POSTGRES_MAJOR' else ''})")
    return r


# ------------------------------------------------------------------- dashboards


def check_dashboards(source_dir: str, copy_dir: str, kustomization: str) -> Result:
    """The shipped dashboard JSON parses, has a uid and title, is listed in the
    component's configMapGenerator, and matches its source in observability/grafana
    when that folder has it."""
    r = Result("dashboards", os.path.relpath(copy_dir))
    with open(kustomization, encoding="utf-8") as fh:
        listed = {os.path.basename(f) for g in (yaml.safe_load(fh).get("configMapGenerator") or [])
                  for f in g.get("files") or []}
    copies = sorted(f for f in os.listdir(copy_dir) if f.endswith(".json"))
    for f in copies:
        r.examined += 1
        try:
            with open(os.path.join(copy_dir, f), encoding="utf-8") as fh:
                dash = json.load(fh)
        except (OSError, json.JSONDecodeError) as e:
            r.fail(f"{f}: not valid JSON: {e}")
            continue
        if not dash.get("uid") or not dash.get("title"):
            r.fail(f"{f}: needs a uid and a title")
        if f not in listed:
            r.fail(f"{f}: not listed in {os.path.relpath(kustomization)}")
    if os.path.isdir(source_dir):
        for f in sorted(x for x in os.listdir(source_dir) if x.endswith(".json")):
            copy = os.path.join(copy_dir, f)
            if not os.path.exists(copy):
                r.fail(f"{f}: in {os.path.relpath(source_dir)} but not copied; run scripts/k8s/sync-observability.sh")
            elif not filecmp.cmp(os.path.join(source_dir, f), copy, shallow=False):
                r.fail(f"{f}: differs from {os.path.relpath(source_dir)}/{f}; run scripts/k8s/sync-observability.sh")
    return r


def check_prometheusrule_sync(rules_dir: str, generated: str) -> Result:
    """k8s/components/monitoring/prometheusrule.yaml is generated from the promtool-tested
    rule files in observability/prometheus/rules and must match them exactly."""
    import sync_observability  # noqa: PLC0415 (only this check needs it)

    r = Result("prometheusrule-sync", os.path.relpath(generated))
    files = sorted(os.path.join(rules_dir, f) for f in os.listdir(rules_dir)
                   if f.endswith((".yml", ".yaml"))) if os.path.isdir(rules_dir) else []
    r.examined = len(files)
    if not files:
        r.note = f"no rule files in {os.path.relpath(rules_dir)}; nothing to compare"
        return r
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(rules_dir))))
    expected = sync_observability.render_prometheusrules(files, root)
    with open(generated, encoding="utf-8") as fh:
        actual = fh.read()
    if actual != expected:
        r.fail(f"stale: does not match {os.path.relpath(rules_dir)}; run scripts/k8s/sync-observability.sh")
    return r


def check_chart_files(root: str, copies=None) -> Result:
    """The Helm chart's copies (charts/surge/files/) of the dashboards and rule files are
    exactly their sources: the same file names, byte for byte (sync-observability.sh
    writes them). `copies`: (source folder, copy folder, suffixes), relative to root."""
    import sync_observability  # noqa: PLC0415 (only this check needs it)

    pairs = copies if copies is not None else sync_observability.CHART_COPIES
    r = Result("chart-files", "charts/surge/files")
    for src_rel, dst_rel, suffixes in pairs:
        src, dst = os.path.join(root, src_rel), os.path.join(root, dst_rel)
        sources = sorted(f for f in os.listdir(src) if f.endswith(tuple(suffixes))) if os.path.isdir(src) else []
        copied = sorted(os.listdir(dst)) if os.path.isdir(dst) else []
        if not sources:
            r.fail(f"{src_rel}: no source files")
        for f in sources:
            r.examined += 1
            if f not in copied:
                r.fail(f"{dst_rel}/{f}: missing (source {src_rel}/{f}); run scripts/k8s/sync-observability.sh")
            elif not filecmp.cmp(os.path.join(src, f), os.path.join(dst, f), shallow=False):
                r.fail(f"{dst_rel}/{f}: differs from {src_rel}/{f}; run scripts/k8s/sync-observability.sh")
        for f in copied:
            if f not in sources:
                r.fail(f"{dst_rel}/{f}: has no source in {src_rel}; run scripts/k8s/sync-observability.sh")
    return r
