#!/usr/bin/env bash
# Copy the observability sources into the kustomize components and the Helm chart that
# ship them to Kubernetes (neither tool reads files outside its own folder):
#
#   observability/grafana/dashboards/*.json  ->  k8s/components/grafana-dashboards/dashboards/
#       mirrored, and listed in that component's configMapGenerator;
#   observability/prometheus/rules/*.yml     ->  k8s/components/monitoring/prometheusrule.yaml
#       one PrometheusRule per rules file, its groups under spec.groups, comments kept;
#   both folders, file for file    ->  charts/surge/files/{dashboards,prometheus-rules}/
#       mirrored for the Helm chart (.Files.Get reads only files inside the chart).
#
# scripts/k8s-check.sh fails while the copies are stale (checks `dashboards`,
# `prometheusrule-sync`, `chart-files`).
#
#   bash scripts/k8s/sync-observability.sh
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
exec python3 "$ROOT/scripts/k8s/sync_observability.py" "$ROOT"
