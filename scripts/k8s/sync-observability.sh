#!/usr/bin/env bash
# Copy the observability sources into the kustomize components that ship them to
# Kubernetes (kustomize cannot read files outside a kustomization's folder):
#
#   observability/grafana/dashboards/*.json  ->  k8s/components/grafana-dashboards/dashboards/
#       mirrored, and listed in that component's configMapGenerator;
#   observability/prometheus/rules/*.yml     ->  k8s/components/monitoring/prometheusrule.yaml
#       one PrometheusRule per rules file, its groups under spec.groups, comments kept.
#
# scripts/k8s-check.sh fails while the copies are stale (checks `dashboards`,
# `prometheusrule-sync`).
#
#   bash scripts/k8s/sync-observability.sh
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
exec python3 "$ROOT/scripts/k8s/sync_observability.py" "$ROOT"
