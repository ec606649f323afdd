#!/usr/bin/env python3
"""Offline, strict validation of everything under k8s/ and docker/.

Renders every overlay, the base, and every component (each through a small test
kustomization on top of the base), then runs each rule over each render; checks the
repository files the renders do not cover (the consumer HPA file, Dockerfiles,
compose file, dashboard copies); and finally proves that every rule still bites, by
running it against its negative fixture in scripts/k8s/fixtures/broken-<rule>/.

Run through scripts/k8s-check.sh, which installs the pinned tools and passes their
locations. Exit status 0 only when every check passed; the last line is
`k8s-check: N passed, M failed`.

With --render NAME=FILE (scripts/helm-check.sh) it validates renders made elsewhere
(`helm template` output) instead: the same rules, as for an overlay, plus the
`chart-files` check; --broken CHECK[:NAME]=FILE names a render that CHECK must refuse (and
every other rule pass), which proves the rules bite on that path too.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import os
import subprocess
import sys
import time
from typing import Callable

import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import files  # noqa: E402
import promql  # noqa: E402
import rules  # noqa: E402
import schemas  # noqa: E402
from common import Render, Result, glob_match, load_all  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))

# Components that reference objects of another component (the Kafka Exporter's
# PodMonitor needs the Kafka resource, the KEDA trigger the KafkaTopic): their test
# render includes those too, exactly as every overlay that uses them must.
COMPONENT_REQUIRES = {
    "monitoring": ["strimzi-kafka"],
    "keda": ["strimzi-kafka"],
}


class Context:
    def __init__(self, args):
        self.root = os.path.abspath(args.root)
        self.kustomize = args.kustomize
        self.work = os.path.abspath(args.work)
        self.crds = schemas.CrdStore(dict(c.split("=", 1) for c in args.crd),
                                     cache_dir=os.path.join(self.work, "crd-json"))
        self.compose_schema = args.compose_schema
        self.dockerfile_lint = args.dockerfile_lint
        self.known_metrics = promql.load_known_metrics(os.path.join(HERE, "known-metrics.txt")) | \
            promql.recorded_in_rule_files(os.path.join(self.root, "observability/prometheus/rules"))
        with open(os.path.join(HERE, "expected-external.yaml"), encoding="utf-8") as fh:
            self.external_spec = yaml.safe_load(fh) or {}
        self.topics_file = os.path.join(self.root, "k8s/components/strimzi-kafka/topics.yaml")
        self.kinds_core: dict[str, int] = {}
        self.kinds_crd: dict[str, int] = {}

    def external_for(self, target: str) -> list[dict[str, str]]:
        out = []
        for pattern, items in self.external_spec.items():
            if glob_match(target, [pattern]):
                out.extend(items or [])
        return out

    def cluster_scoped(self, doc) -> bool:
        return schemas.crd_is_cluster_scoped(self.crds, doc)

    def render_checks(self) -> list[tuple[str, Callable[[Render], Result]]]:
        return [
            ("core-schema", lambda r: schemas.check_core_schema(r, self.kinds_core)),
            ("crd-schema", lambda r: schemas.check_crd_schema(r, self.crds, self.kinds_crd)),
            ("metadata", lambda r: rules.check_metadata(r, self.cluster_scoped)),
            ("labels", rules.check_labels),
            ("selectors", rules.check_selectors),
            ("scale-targets", rules.check_scale_targets),
            ("config-refs", rules.check_config_refs),
            ("ports", rules.check_ports),
            ("partitions", lambda r: rules.check_partitions(r, self.topics_file)),
            ("images", rules.check_images),
            ("pod-security", rules.check_pod_security),
            ("probes-and-drain", rules.check_probes_and_drain),
            ("promql", lambda r: promql.check_promql(r, self.known_metrics)),
        ]


# ------------------------------------------------------------------ rendering


def kustomize_build(ctx: Context, path: str) -> tuple[list[dict] | None, str]:
    proc = subprocess.run([ctx.kustomize, "build", path], capture_output=True, text=True)
    if proc.returncode != 0:
        return None, proc.stderr.strip() or f"kustomize exited {proc.returncode}"
    return load_all(proc.stdout), ""


def targets(ctx: Context) -> list[tuple[str, str, str]]:
    """(name, kind, path) of every render: the base, each component on top of the base,
    each overlay."""
    out = [("base", "base", os.path.join(ctx.root, "k8s/base"))]
    comp_root = os.path.join(ctx.root, "k8s/components")
    for name in sorted(os.listdir(comp_root)):
        comp = os.path.join(comp_root, name)
        if not os.path.exists(os.path.join(comp, "kustomization.yaml")):
            continue
        test_dir = os.path.join(ctx.work, "components", name)
        os.makedirs(test_dir, exist_ok=True)
        body = (
            "# Generated by scripts/k8s/check.py: the component (and those it needs) on the base.\n"
            "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
            f"resources:\n  - {os.path.relpath(os.path.join(ctx.root, 'k8s/base'), test_dir)}\n"
            "components:\n"
            + "".join(f"  - {os.path.relpath(os.path.join(comp_root, c), test_dir)}\n"
                      for c in COMPONENT_REQUIRES.get(name, []) + [name])
        )
        kfile = os.path.join(test_dir, "kustomization.yaml")
        if not os.path.exists(kfile) or open(kfile, encoding="utf-8").read() != body:
            with open(kfile, "w", encoding="utf-8") as fh:
                fh.write(body)
        out.append((f"components/{name}", "component", test_dir))
    ov_root = os.path.join(ctx.root, "k8s/overlays")
    for name in sorted(os.listdir(ov_root)):
        if os.path.exists(os.path.join(ov_root, name, "kustomization.yaml")):
            out.append((f"overlays/{name}", "overlay", os.path.join(ov_root, name)))
    return out


def render_all(ctx: Context, items: list[tuple[str, str, str]]):
    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
        built = list(pool.map(lambda t: kustomize_build(ctx, t[2]), items))
    results, renders = [], []
    for (name, kind, _), (docs, err) in zip(items, built):
        res = Result("render", name)
        if docs is None:
            res.fail(err)
        else:
            res.examined = len(docs)
            renders.append(Render(name, kind, docs, ctx.external_for(name)))
        results.append(res)
    return results, renders


# ------------------------------------------------------------------- file checks


def file_checks(ctx: Context) -> list[Result]:
    out = [files.check_hpa_contract(os.path.join(ctx.root, "k8s/base/consumer-svc/hpa.yaml"))]
    docker = os.path.join(ctx.root, "docker")
    for f in sorted(os.listdir(docker)):
        if f.endswith(".Dockerfile"):
            out.append(files.check_dockerfile(os.path.join(docker, f), ctx.dockerfile_lint))
    compose = os.path.join(docker, "compose.yaml")
    if os.path.exists(compose):
        out.append(files.check_compose_schema(compose, ctx.compose_schema))
        out.append(files.check_compose_refs(compose))
        out.append(files.check_compose_versions(compose, os.path.join(ctx.root, "scripts/infra/versions.env")))
    else:
        r = Result("compose-schema", "docker/compose.yaml")
        r.fail("docker/compose.yaml is missing")
        out.append(r)
    comp = os.path.join(ctx.root, "k8s/components/grafana-dashboards")
    out.append(files.check_prometheusrule_sync(os.path.join(ctx.root, "observability/prometheus/rules"),
                                               os.path.join(ctx.root, "k8s/components/monitoring/prometheusrule.yaml")))
    out.append(files.check_dashboards(os.path.join(ctx.root, "observability/grafana/dashboards"),
                                      os.path.join(comp, "dashboards"),
                                      os.path.join(comp, "kustomization.yaml")))
    out.append(files.check_chart_files(ctx.root))
    return out


# ---------------------------------------------------------------------- self-test


def self_test(ctx: Context) -> list[Result]:
    """Each scripts/k8s/fixtures/broken-<check>/ breaks exactly one rule. The check
    named by the folder must report it; for render fixtures every other rule must
    still pass (so the fixture proves that one rule, not a side effect)."""
    fixtures_root = os.path.join(HERE, "fixtures")
    checks = dict(ctx.render_checks())
    file_fixture = {
        "hpa-contract": lambda d: files.check_hpa_contract(os.path.join(d, "hpa.yaml")),
        "dockerfiles": lambda d: files.check_dockerfile(os.path.join(d, "service.Dockerfile"), ctx.dockerfile_lint),
        "compose-schema": lambda d: files.check_compose_schema(os.path.join(d, "compose.yaml"), ctx.compose_schema),
        "compose-refs": lambda d: files.check_compose_refs(os.path.join(d, "compose.yaml")),
        "compose-versions": lambda d: files.check_compose_versions(
            os.path.join(d, "compose.yaml"), os.path.join(ctx.root, "scripts/infra/versions.env")),
        "prometheusrule-sync": lambda d: files.check_prometheusrule_sync(
            os.path.join(d, "observability/prometheus/rules"), os.path.join(d, "prometheusrule.yaml")),
        "dashboards": lambda d: files.check_dashboards(os.path.join(d, "source"), os.path.join(d, "dashboards"),
                                                       os.path.join(d, "kustomization.yaml")),
        "chart-files": lambda d: files.check_chart_files(d, [("source", "copy", (".json", ".yml"))]),
    }
    names = sorted(n for n in os.listdir(fixtures_root) if n.startswith("broken-"))

    def check_of(fixture: str) -> str:  # broken-<check>[--<variant>]
        return fixture[len("broken-"):].split("--", 1)[0]

    covered = {check_of(n) for n in names}
    results = []
    for missing in sorted((set(checks) | set(file_fixture) | {"render"}) - covered):
        r = Result("self-test", f"fixtures/broken-{missing}")
        r.fail(f"no negative fixture for check {missing!r}")
        results.append(r)

    render_items = [(f"fixtures/{n}", "fixture", os.path.join(fixtures_root, n))
                    for n in names if check_of(n) in checks or check_of(n) == "render"]
    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
        built = dict(zip([i[0] for i in render_items], pool.map(lambda t: kustomize_build(ctx, t[2]), render_items)))

    for n in names:
        check = check_of(n)
        path = os.path.join(fixtures_root, n)
        res = Result("self-test", f"fixtures/{n}")
        res.examined = 1
        if check == "render":
            docs, err = built[f"fixtures/{n}"]
            if docs is not None:
                res.fail("kustomize built the broken fixture; the render check would not catch it")
            else:
                res.note = err.splitlines()[0][:120]
        elif check in file_fixture:
            got = file_fixture[check](path)
            if got.ok:
                res.fail(f"check {check} passed its broken fixture")
            else:
                res.note = got.problems[0][:140]
        elif check in checks:
            docs, err = built[f"fixtures/{n}"]
            if docs is None:
                res.fail(f"fixture does not render: {err.splitlines()[0]}")
            else:
                render = Render(f"fixtures/{n}", "fixture", docs, ctx.external_for(f"fixtures/{n}"))
                prove_broken(ctx, render, check, res)
        else:
            res.fail(f"fixture names no known check ({check!r})")
        results.append(res)
    return results


def prove_broken(ctx: Context, render: Render, check: str, res: Result) -> None:
    """`check` must refuse the broken render and every other rule accept it, so the
    render proves that one rule, not a side effect."""
    # Fixture runs do not count towards the summary of the real renders.
    scratch_core, scratch_crd = dict(ctx.kinds_core), dict(ctx.kinds_crd)
    scratch_cel = dict(schemas.CEL_STATS)
    for other, fn in ctx.render_checks():
        got = fn(render)
        if other == check and got.ok:
            res.fail(f"check {check} passed its broken fixture")
        elif other == check:
            res.note = got.problems[0][:140]
        elif not got.ok:
            res.fail(f"fixture also breaks {other}: {got.problems[0]}")
    ctx.kinds_core, ctx.kinds_crd = scratch_core, scratch_crd
    schemas.CEL_STATS.update(scratch_cel)


def check_given_renders(ctx: Context, renders: list[str], broken: list[str]) -> list[Result]:
    """--render / --broken mode: YAML rendered by another tool (helm template)."""
    results = []
    for item in renders:
        name, _, path = item.partition("=")
        res = Result("render", name)
        try:
            with open(path, encoding="utf-8") as fh:
                docs = load_all(fh)
        except (OSError, Exception) as e:  # noqa: BLE001 (a YAML error is a failed render)
            res.fail(f"cannot load {path}: {e}")
            results.append(res)
            continue
        res.examined = len(docs)
        results.append(res)
        render = Render(name, "overlay", docs, ctx.external_for(name))
        for _, fn in ctx.render_checks():
            results.append(fn(render))
    results.append(files.check_chart_files(ctx.root))
    known = dict(ctx.render_checks())
    for item in broken:
        spec, _, path = item.partition("=")
        check, _, name = spec.partition(":")
        name = name or f"broken/{check}"
        res = Result("self-test", f"{name} ({check})")
        res.examined = 1
        if check not in known:
            res.fail(f"--broken names no known check ({check!r})")
        else:
            with open(path, encoding="utf-8") as fh:
                render = Render(name, "fixture", load_all(fh), ctx.external_for(name))
            prove_broken(ctx, render, check, res)
        results.append(res)
    return results


# ------------------------------------------------------------------------ output


def report(results: list[Result], ctx: Context, started: float, label: str = "k8s-check") -> int:
    by_check: dict[str, list[Result]] = {}
    for r in results:
        by_check.setdefault(r.check, []).append(r)
    print()
    print(f"{'check':<20} {'runs':>4} {'failed':>6} {'objects':>8}  scope")
    for check, rs in by_check.items():
        failed = sum(not r.ok for r in rs)
        examined = sum(r.examined for r in rs)
        note = next((r.note for r in rs if r.note and check != "self-test"), "")
        scope = ", ".join(sorted({r.target for r in rs})) if len(rs) <= 3 else f"{len(rs)} targets"
        print(f"{check:<20} {len(rs):>4} {failed:>6} {examined:>8}  {scope}{'  (' + note + ')' if note else ''}")

    print("\nObjects checked per kind (summed over the renders):")
    print("  core (kubernetes-validate): " + ", ".join(f"{k} {v}" for k, v in sorted(ctx.kinds_core.items())))
    print("  custom (CRD schemas):       " + ", ".join(f"{k} {v}" for k, v in sorted(ctx.kinds_crd.items())))
    st = ctx.crds.stats
    print(f"  CRD kinds loaded: {len(ctx.crds.kinds())}; CEL rules in them: {st.get('cel_rules', 0)}, "
          f"evaluated {schemas.CEL_STATS['evaluated']} times; transition rules (oldSelf, "
          f"update-only, not evaluated offline): {st.get('cel_transition_rules', 0)}")

    tests = [r for r in results if r.check == "self-test" and r.ok]
    if tests:
        print("\nSelf-test: each negative fixture is caught by its check (first message):")
        for r in tests:
            print(f"  {r.target:<40} {r.note}")

    failures = [r for r in results if not r.ok]
    if failures:
        print("\nFailures:")
        for r in failures:
            for p in r.problems:
                print(f"  FAIL [{r.check}] {r.target}: {p}")
    print(f"\nChecks took {time.monotonic() - started:.1f} s.")
    print(f"{label}: {len(results) - len(failures)} passed, {len(failures)} failed")
    return 1 if failures else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", required=True)
    parser.add_argument("--kustomize")
    parser.add_argument("--work", required=True, help="scratch folder (generated test kustomizations)")
    parser.add_argument("--crd", action="append", default=[], help="LABEL=PATH of CRD YAML (file or folder)")
    parser.add_argument("--compose-schema")
    parser.add_argument("--dockerfile-lint", help="the scripts/k8s/dockerfile-lint binary")
    parser.add_argument("--render", action="append", default=[],
                        help="NAME=FILE: validate this rendered YAML instead of the kustomize targets")
    parser.add_argument("--broken", action="append", default=[],
                        help="CHECK[:NAME]=FILE (with --render): a render that CHECK must refuse")
    args = parser.parse_args()
    started = time.monotonic()
    ctx = Context(args)
    if args.render:
        return report(check_given_renders(ctx, args.render, args.broken), ctx, started, "renders")
    for required in ("kustomize", "compose_schema", "dockerfile_lint"):
        if not getattr(args, required):
            parser.error(f"--{required.replace('_', '-')} is required (unless --render is given)")

    items = targets(ctx)
    results, renders = render_all(ctx, items)
    for render in renders:
        for _, fn in ctx.render_checks():
            results.append(fn(render))
    results.extend(file_checks(ctx))
    results.extend(self_test(ctx))
    return report(results, ctx, started)


if __name__ == "__main__":
    sys.exit(main())
