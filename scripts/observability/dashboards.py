#!/usr/bin/env python3
"""Checks the Grafana dashboards in observability/grafana/dashboards/.

  dashboards.py structure [FILE...]
      Offline: valid JSON, a unique uid, a `datasource` template variable of type
      prometheus used by every panel and every query, unique panel ids (rows and
      panels nested in collapsed rows included), a unit on every panel, at least one
      query per panel, a grid position inside the 24 columns.

  dashboards.py live --prometheus URL [--pending FILE] [--strict] [FILE...]
      Evaluates every query of every panel against a running Prometheus
      (/api/v1/query, instant, now) and fails on a query error or an empty result.
      Grafana's interval variables are replaced by fixed windows first. Metrics named
      in the pending file (one `metric  reason` a line) are known not to be exported
      yet: their queries are reported as PENDING and not counted, unless --strict.

Prints one line per check and a closing `dashboards: N passed, M failed` line; the exit
status is 1 when something failed. Only the Python standard library is used.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DASHBOARDS = ROOT / "observability" / "grafana" / "dashboards"
DATASOURCE_UID = "${datasource}"
# Grafana's built-in variables, replaced by what they resolve to on a 30-minute view
# with a 2-15 s scrape interval.
GRAFANA_VARIABLES = {
    "$__rate_interval": "1m",
    "$__interval": "15s",
    "$__range": "5m",
}


class Report:
    def __init__(self) -> None:
        self.passed = 0
        self.failed = 0
        self.pending = 0

    def ok(self, what: str) -> None:
        self.passed += 1
        print(f"  ok       {what}")

    def fail(self, what: str, why: str) -> None:
        self.failed += 1
        print(f"  FAIL     {what}: {why}")

    def wait(self, what: str, why: str) -> None:
        self.pending += 1
        print(f"  PENDING  {what}: {why}")


def all_panels(panels: list[dict]) -> list[dict]:
    """Panels in document order, including those nested in (collapsed) rows."""
    out = []
    for panel in panels:
        out.append(panel)
        out.extend(all_panels(panel.get("panels", [])))
    return out


def queries(dashboard: dict) -> list[tuple[dict, dict]]:
    return [
        (panel, target)
        for panel in all_panels(dashboard.get("panels", []))
        if panel.get("type") != "row"
        for target in panel.get("targets", [])
    ]


def load(path: Path, report: Report) -> dict | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        report.fail(path.name, f"not readable JSON: {error}")
        return None


def check_structure(path: Path, dashboard: dict, report: Report, uids: dict[str, str]) -> None:
    name = path.name
    problems: list[str] = []

    uid = dashboard.get("uid")
    if not uid or not dashboard.get("title"):
        problems.append("uid and title are required")
    elif uid in uids:
        problems.append(f"uid {uid!r} also used by {uids[uid]}")
    else:
        uids[uid] = name
    report.fail(name, "; ".join(problems)) if problems else report.ok(f"{name}: uid {uid}")

    variables = dashboard.get("templating", {}).get("list", [])
    ds_vars = [v for v in variables if v.get("name") == "datasource"]
    if len(ds_vars) == 1 and ds_vars[0].get("type") == "datasource" and ds_vars[0].get("query") == "prometheus":
        report.ok(f"{name}: datasource variable of type prometheus")
    else:
        report.fail(name, "needs exactly one template variable `datasource` (type datasource, query prometheus)")

    seen: dict[int, str] = {}
    for panel in all_panels(dashboard.get("panels", [])):
        pid = panel.get("id")
        title = panel.get("title", "?")
        what = f"{name}: panel {pid} {title!r}"
        issues = []
        if not isinstance(pid, int):
            issues.append("no integer id")
        elif pid in seen:
            issues.append(f"id {pid} also used by {seen[pid]!r}")
        else:
            seen[pid] = title
        grid = panel.get("gridPos", {})
        if not all(isinstance(grid.get(k), int) for k in "hwxy") or grid["x"] + grid["w"] > 24:
            issues.append(f"gridPos {grid} is not inside the 24 columns")
        if panel.get("type") != "row":
            if (panel.get("datasource") or {}).get("uid") != DATASOURCE_UID:
                issues.append(f"panel datasource is not {DATASOURCE_UID}")
            unit = panel.get("fieldConfig", {}).get("defaults", {}).get("unit")
            if not unit:
                issues.append("no unit (fieldConfig.defaults.unit)")
            targets = panel.get("targets", [])
            if not targets:
                issues.append("no query")
            for target in targets:
                if not (target.get("expr") or "").strip():
                    issues.append(f"query {target.get('refId')} is empty")
                if (target.get("datasource") or {}).get("uid") != DATASOURCE_UID:
                    issues.append(f"query {target.get('refId')} datasource is not {DATASOURCE_UID}")
            refs = [t.get("refId") for t in targets]
            if len(set(refs)) != len(refs):
                issues.append(f"duplicate refIds {refs}")
        report.fail(what, "; ".join(issues)) if issues else report.ok(what)


def expand(expr: str) -> str:
    for name, value in GRAFANA_VARIABLES.items():
        expr = expr.replace("${" + name[1:] + "}", value).replace(name, value)
    return expr


def instant_query(prometheus: str, expr: str) -> tuple[list | None, str]:
    url = prometheus.rstrip("/") + "/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    try:
        with urllib.request.urlopen(url, timeout=15) as response:
            body = json.load(response)
    except urllib.error.HTTPError as error:
        try:
            body = json.load(error)
        except ValueError:
            return None, f"HTTP {error.code}"
    except (urllib.error.URLError, OSError, ValueError) as error:
        return None, f"Prometheus unreachable: {error}"
    if body.get("status") != "success":
        return None, f"{body.get('errorType')}: {body.get('error')}"
    return body["data"]["result"], ""


def read_pending(path: Path | None) -> dict[str, str]:
    pending: dict[str, str] = {}
    if path and path.exists():
        for line in path.read_text(encoding="utf-8").splitlines():
            line = line.split("#", 1)[0].strip()
            if line:
                metric, _, reason = line.partition(" ")
                pending[metric] = reason.strip() or "not exported yet"
    return pending


def check_live(path: Path, dashboard: dict, report: Report, prometheus: str,
               pending: dict[str, str], strict: bool) -> None:
    for panel, target in queries(dashboard):
        expr = expand(target.get("expr", ""))
        what = f"{path.name}: panel {panel.get('id')} {panel.get('title')!r} query {target.get('refId')}"
        result, error = instant_query(prometheus, expr)
        if result:
            report.ok(f"{what} ({len(result)} series)")
            continue
        why = error or "no series"
        waiting = [m for m in pending if re.search(rf"\b{re.escape(m)}\b", expr)]
        if waiting and not error and not strict:
            report.wait(what, f"{why}; {', '.join(f'{m} ({pending[m]})' for m in waiting)}")
        else:
            report.fail(what, f"{why}\n             {expr}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    structure = sub.add_parser("structure")
    structure.add_argument("files", nargs="*", type=Path)
    live = sub.add_parser("live")
    live.add_argument("--prometheus", required=True)
    live.add_argument("--pending", type=Path, default=ROOT / "observability" / "grafana" / "live-pending.txt")
    live.add_argument("--strict", action="store_true", help="count pending metrics as failures")
    live.add_argument("files", nargs="*", type=Path)
    args = parser.parse_args()

    files = args.files or sorted(DASHBOARDS.glob("*.json"))
    report = Report()
    if not files:
        report.fail(str(DASHBOARDS), "no dashboards found")
    uids: dict[str, str] = {}
    pending = read_pending(args.pending) if args.command == "live" else {}
    for path in files:
        dashboard = load(path, report)
        if dashboard is None:
            continue
        if args.command == "structure":
            check_structure(path, dashboard, report, uids)
        else:
            check_live(path, dashboard, report, args.prometheus, pending, args.strict)
    extra = f", {report.pending} pending" if report.pending else ""
    print(f"dashboards {args.command}: {report.passed} passed, {report.failed} failed{extra}")
    return 1 if report.failed else 0


if __name__ == "__main__":
    sys.exit(main())
