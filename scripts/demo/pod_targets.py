#!/usr/bin/env python3
"""Prometheus file_sd targets from the pods the API server knows, rewritten every few
seconds until stopped: one file per app (`<targets-dir>/<app>.json`, job = the pod's
app.kubernetes.io/name), one target group per pod at <podIP>:<port named http>, with
the labels a cluster's PodMonitor would give it (namespace, pod).

The local Prometheus scrapes file_sd targets; pods get their addresses from the node
agent, so the list follows the API server rather than a fixed set of ports.

    pod_targets.py --kubectl BIN --namespace NS --targets-dir DIR --app producer-svc --app consumer-svc
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time


def targets(pods: dict, app: str) -> list[dict]:
    groups = []
    for pod in pods.get("items", []):
        meta, status = pod.get("metadata", {}), pod.get("status", {})
        if (meta.get("labels") or {}).get("app.kubernetes.io/name") != app:
            continue
        ip = status.get("podIP")
        if not ip or status.get("phase") != "Running":
            continue
        ports = [p for c in pod.get("spec", {}).get("containers", []) for p in c.get("ports") or []]
        port = next((p["containerPort"] for p in ports if p.get("name") == "http"), None)
        if port is None:
            continue
        groups.append({
            "targets": [f"{ip}:{port}"],
            "labels": {"job": app, "namespace": meta.get("namespace", ""), "pod": meta.get("name", "")},
        })
    return sorted(groups, key=lambda g: g["labels"]["pod"])


def write(path: str, groups: list[dict]) -> None:
    # Prometheus re-reads the folder while we write: rename a complete file into place.
    tmp = os.path.join(os.path.dirname(path), "." + os.path.basename(path) + ".tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(groups, fh, indent=2)
    os.replace(tmp, path)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kubectl", required=True)
    ap.add_argument("--namespace", required=True)
    ap.add_argument("--targets-dir", required=True)
    ap.add_argument("--app", action="append", required=True)
    ap.add_argument("--interval", type=float, default=2.0)
    args = ap.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    last: dict[str, list] = {}
    while True:
        proc = subprocess.run([args.kubectl, "get", "pods", "-n", args.namespace, "-o", "json"],
                              capture_output=True, text=True)
        if proc.returncode != 0:
            print(f"pod_targets: kubectl get pods: {proc.stderr.strip()}", file=sys.stderr)
        else:
            pods = json.loads(proc.stdout)
            for app in args.app:
                groups = targets(pods, app)
                if groups != last.get(app):
                    write(os.path.join(args.targets_dir, f"{app}.json"), groups)
                    last[app] = groups
        time.sleep(args.interval)


if __name__ == "__main__":
    sys.exit(main())
